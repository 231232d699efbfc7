//! Test helpers: a tiny thread-per-connection HTTP server and a loadgen runner.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A request as seen by the test server.
pub struct Req {
    /// Request method.
    pub method: String,
    /// Header lines (lowercased names).
    pub headers: Vec<(String, String)>,
    /// Body (by Content-Length).
    pub body: Vec<u8>,
    /// Index of this request over the server's lifetime (0-based).
    pub index: usize,
}

/// A running test server.
pub struct Server {
    /// Its loopback port.
    pub port: u16,
    /// Connections accepted.
    pub accepted: Arc<AtomicUsize>,
    /// Requests read.
    pub requests: Arc<AtomicUsize>,
}

impl Server {
    /// `http://127.0.0.1:PORT/` + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }
}

/// Starts a server on a free loopback port; `handler` writes the response and returns
/// whether to keep the connection open.
pub fn serve<F>(handler: F) -> Server
where
    F: Fn(&mut TcpStream, &Req) -> bool + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let handler = Arc::new(handler);
    let (acc, reqs) = (accepted.clone(), requests.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            acc.fetch_add(1, Ordering::SeqCst);
            let handler = handler.clone();
            let reqs = reqs.clone();
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                while let Some(mut req) = read_request(&mut reader) {
                    req.index = reqs.fetch_add(1, Ordering::SeqCst);
                    if !handler(&mut writer, &req) {
                        let _ = writer.flush();
                        let _ = writer.shutdown(std::net::Shutdown::Write);
                        // Drain what the client still sends so closing does not RST.
                        let _ = writer.set_read_timeout(Some(Duration::from_millis(200)));
                        let mut sink = [0u8; 1024];
                        while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
                        return;
                    }
                }
            });
        }
    });
    Server {
        port,
        accepted,
        requests,
    }
}

/// Reads one request (head and Content-Length body); None on EOF or error.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<Req> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let method = line.split_whitespace().next()?.to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':')?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Req {
        method,
        headers,
        body,
        index: 0,
    })
}

/// Writes a 200 response with a Content-Length body.
pub fn ok(w: &mut TcpStream, body: &str) -> bool {
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    w.write_all(resp.as_bytes()).is_ok()
}

/// Result of one loadgen run.
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Parsed --json report (Null if none was written).
    pub json: serde_json::Value,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Wall time.
    pub wall: Duration,
}

/// Runs the loadgen binary with `args` plus `--json` into a temp file.
pub fn loadgen(args: &[&str]) -> Run {
    static N: AtomicUsize = AtomicUsize::new(0);
    // One run at a time: the tests check rates and timings, which runs competing for the
    // same two cores would blur.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let path = std::env::temp_dir().join(format!(
        "loadgen-test-{}-{}.json",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_file(&path);
    let t0 = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .arg("--json")
        .arg(&path)
        .output()
        .unwrap();
    let wall = t0.elapsed();
    let json = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null);
    let _ = std::fs::remove_file(&path);
    Run {
        code: out.status.code().unwrap_or(-1),
        json,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        wall,
    }
}

/// A JSON number as u64.
pub fn num(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}
