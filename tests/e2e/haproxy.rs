//! The real HAProxy, for differential tests: started on a config, ready once its admin socket
//! answers, killed on drop. A missing `haproxy` fails the test with a clear message.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::temp_dir;

/// A running `haproxy -db`.
pub struct Haproxy {
    child: Child,
    /// Its directory (config, stderr).
    pub dir: PathBuf,
}

impl Haproxy {
    /// Starts HAProxy on `config` and waits until the UNIX socket at `socket` answers.
    pub fn start(config: &str, socket: &Path) -> Haproxy {
        Self::start_until(config, "its socket", || {
            cli(socket, "show info").starts_with("Name: HAProxy")
        })
    }

    /// Starts HAProxy on `config` and waits until loopback `port` accepts a connection
    /// (which HAProxy counts, like any other).
    pub fn start_on_port(config: &str, port: u16) -> Haproxy {
        Self::start_until(config, "its port", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
    }

    fn start_until(config: &str, what: &str, ready: impl Fn() -> bool) -> Haproxy {
        let dir = temp_dir("haproxy");
        let cfg = dir.join("haproxy.cfg");
        std::fs::write(&cfg, config).expect("write haproxy config");
        let stderr = std::fs::File::create(dir.join("stderr")).expect("stderr file");
        let stdout = std::fs::File::create(dir.join("stdout")).expect("stdout file");
        let child = match Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
        {
            Ok(child) => child,
            Err(e) => panic!(
                "cannot run haproxy ({e}); the differential tests need HAProxy 2.6 \
                 (scripts/install-deps.sh haproxy)"
            ),
        };
        let mut haproxy = Haproxy { child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = haproxy.child.try_wait() {
                panic!("haproxy exited early ({status}):\n{}", haproxy.stderr());
            }
            if ready() {
                return haproxy;
            }
            assert!(
                Instant::now() < deadline,
                "haproxy: {what} did not answer:\n{}",
                haproxy.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }

    /// What it printed on stdout so far (`log stdout` lines).
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout")).unwrap_or_default()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `exchange` against ringlb, then against HAProxy, each started on `config` with a
/// free port of its own (the first may still be letting go of its port): (ringlb's, HAProxy's).
pub fn through_both<T>(config: impl Fn(u16) -> String, exchange: impl Fn(u16) -> T) -> (T, T) {
    let ours = {
        let port = crate::harness::free_port();
        let _lb = crate::harness::Ringlb::start(&config(port));
        exchange(port)
    };
    let theirs = {
        let port = crate::harness::free_port();
        let _hx = Haproxy::start_on_port(&config(port), port);
        exchange(port)
    };
    (ours, theirs)
}

/// Sends `input` on a new connection to the UNIX socket at `path` and reads until the peer
/// closes (at most 5 s); empty if nothing listens there. `echo input | socat - path`.
pub fn raw(path: &Path, input: &[u8]) -> Vec<u8> {
    let Ok(mut stream) = UnixStream::connect(path) else {
        return Vec::new();
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // A server that stops reading (an overlong line) may refuse the rest: read what it said.
    let _ = stream.write_all(input);
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    out
}

/// One command on its own connection, as `echo cmd | socat - path`: the whole reply.
pub fn cli(path: &Path, command: &str) -> String {
    String::from_utf8_lossy(&raw(path, format!("{command}\n").as_bytes())).into_owned()
}

/// A `show stat` CSV (HAProxy's or ringlb's) split into its column names and rows.
pub struct StatTable {
    /// The column names, in order.
    pub columns: Vec<String>,
    /// Each row's fields (a row ends with a comma, so the last field is empty).
    pub rows: Vec<Vec<String>>,
}

impl StatTable {
    /// Splits `csv`; a text that is not a CSV gives a table with no rows.
    pub fn parse(csv: &str) -> StatTable {
        let mut lines = csv.lines();
        let header = lines.next().unwrap_or_default().trim_start_matches("# ");
        StatTable {
            columns: header.split(',').map(str::to_string).collect(),
            rows: lines
                .filter(|l| !l.is_empty())
                .map(|l| l.split(',').map(str::to_string).collect())
                .collect(),
        }
    }

    /// The index of column `name` (the test fails if there is none).
    pub fn column(&self, name: &str) -> usize {
        self.columns
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", self.columns))
    }

    /// Field `name` of `row` ("" when the row is short).
    pub fn field<'t>(&self, row: &'t [String], name: &str) -> &'t str {
        row.get(self.column(name)).map_or("", String::as_str)
    }

    /// The row of `pxname`/`svname`.
    pub fn row(&self, pxname: &str, svname: &str) -> Option<&[String]> {
        self.rows
            .iter()
            .find(|r| {
                r.first().is_some_and(|p| p == pxname) && r.get(1).is_some_and(|s| s == svname)
            })
            .map(Vec::as_slice)
    }
}
