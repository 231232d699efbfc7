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

/// A loopback port nobody listens on right now, and none of this process's earlier answers.
///
/// Ports come from below the kernel's ephemeral range: a port the kernel handed out and we
/// released could be taken by any parallel test's outgoing connection before the proxy under
/// test binds it (CI saw exactly that). Below the range only explicit binds compete, and a
/// counter keeps this process's answers distinct.
pub fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let (low, span) = explicit_port_range();
    // Different test binaries start at different places (they run one after another, but a
    // leftover child of an earlier one may still hold a port).
    let start = std::process::id() as usize * 7919;
    for _ in 0..span {
        let port = low + ((start + NEXT.fetch_add(1, Ordering::Relaxed)) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below the ephemeral range")
}

/// The first port and size of the range `free_port` draws from: up to 16384 ports under
/// `net.ipv4.ip_local_port_range` (never privileged ones), or above it when too few are
/// free below.
fn explicit_port_range() -> (u16, usize) {
    let (low, high) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut words = s.split_whitespace().map(|w| w.parse::<u16>().ok());
            Some((words.next()??, words.next()??))
        })
        .unwrap_or((32768, 60999));
    let below = low.saturating_sub(16384).max(1024);
    if low.saturating_sub(below) >= 4096 {
        (below, usize::from(low - below))
    } else {
        let above = high.saturating_add(1).max(1024);
        (above, usize::from(u16::MAX - above).max(1))
    }
}

/// Waits up to 5 s for `done` (checked every 10 ms); fails the test naming `what` if it never
/// holds. For events whose timing a loaded machine stretches.
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
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
        Self::start_with(config, |_| {})
    }

    /// Starts ringlb limited to `fds` open files, a limit it cannot raise (even as root).
    pub fn start_with_fd_limit(config: &str, fds: u64) -> Ringlb {
        use std::os::unix::process::CommandExt;
        Self::start_with(config, |command| {
            // SAFETY: only async-signal-safe calls (prctl, setrlimit) between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    // Without CAP_SYS_RESOURCE root cannot raise a hard limit again. Failing
                    // (not root) is fine: the hard limit then binds anyway.
                    const CAP_SYS_RESOURCE: libc::c_ulong = 24;
                    libc::prctl(libc::PR_CAPBSET_DROP, CAP_SYS_RESOURCE, 0, 0, 0);
                    let limit = libc::rlimit {
                        rlim_cur: fds,
                        rlim_max: fds,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        })
    }

    fn start_with(config: &str, configure: impl FnOnce(&mut Command)) -> Ringlb {
        let dir = temp_dir("lb");
        let cfg = dir.join("ringlb.cfg");
        std::fs::write(&cfg, config).expect("write config");
        let stdout = std::fs::File::create(dir.join("stdout")).expect("stdout file");
        let stderr = std::fs::File::create(dir.join("stderr")).expect("stderr file");
        let mut command = Command::new(ringlb_bin());
        command
            .arg("-d")
            .arg("-f")
            .arg(&cfg)
            .current_dir(repo())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        configure(&mut command);
        let child = command.spawn().expect("spawn ringlb");
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

    /// Sends it `signal`.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
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
