//! Spawns the real `ringlb` binary on free loopback ports and kills it on drop.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The binary under test: this build's, or `RINGLB_BIN` (to show a new test fails on an
/// older build).
pub fn ringlb_bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("RINGLB_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_ringlb").to_string())
    })
}

/// The repository root (fixtures are relative to it).
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// A fresh temporary directory for one test.
pub fn temp_dir(tag: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ringlb-e2e-{}-{}-{tag}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs `ringlb` with `args` to completion.
pub fn run_ringlb(args: &[&str]) -> Output {
    Command::new(ringlb_bin())
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run ringlb")
}

/// A running ringlb process.
pub struct Ringlb {
    child: Child,
    /// Its directory (config, stdout, stderr).
    pub dir: PathBuf,
}

impl Ringlb {
    /// Starts ringlb with `config` and waits until every shard is accepting.
    pub fn start(config: &str) -> Ringlb {
        let dir = temp_dir("lb");
        let cfg = dir.join("ringlb.cfg");
        std::fs::write(&cfg, config).expect("write config");
        let stdout = std::fs::File::create(dir.join("stdout")).expect("stdout file");
        let stderr = std::fs::File::create(dir.join("stderr")).expect("stderr file");
        let child = Command::new(ringlb_bin())
            .arg("-d")
            .arg("-f")
            .arg(&cfg)
            .current_dir(repo())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn ringlb");
        let mut lb = Ringlb { child, dir };
        // Wait for the start notice rather than probing the ports: a probe connection would
        // be balanced like any other and shift round-robin sequences in `mode tcp`.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !lb.stderr().contains(" started: ") {
            if let Ok(Some(status)) = lb.child.try_wait() {
                panic!("ringlb exited early ({status}):\n{}", lb.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "ringlb did not start:\n{}",
                lb.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        lb
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for the process to exit on its own.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }

    /// What it printed on stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout")).unwrap_or_default()
    }

    /// Waits until stdout has at least `lines` lines (logs are written by another thread).
    pub fn wait_stdout_lines(&self, lines: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let out = self.stdout();
            if out.lines().count() >= lines || Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Ringlb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The standard test timeouts block, short enough for failure tests to run quickly.
pub fn defaults(extra: &str) -> String {
    format!(
        "defaults\n mode http\n balance roundrobin\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n{extra}"
    )
}

/// Reads everything until the peer closes (or `limit` passes).
pub fn read_to_close(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    stream.set_read_timeout(Some(limit)).ok();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    out
}

/// Connects to `port` on loopback.
pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_nodelay(true).ok();
    s.set_read_timeout(Some(Duration::from_secs(20))).ok();
    s
}
