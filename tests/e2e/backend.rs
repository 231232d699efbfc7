//! A real HTTP/1.1 server on a free loopback port, with routes that misbehave on purpose.
//!
//! Routes: `/` answers the server's name; `/echo` and `/echo-chunked` return the request body;
//! `/big/N` and `/bigchunked/N` send N bytes; `/slow/MS` waits; `/headers` returns the request
//! head as received; `/garbage`, `/truncate`, `/reset-mid-body`, `/close-delimited`,
//! `/status/CODE`, `/early-413`, `/bighead` break or bend the protocol.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The byte at `i` of every generated body (a pattern a truncation or shift would break).
pub fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

#[derive(Default)]
struct Stats {
    connections: AtomicUsize,
    requests: AtomicUsize,
}

/// A running test backend.
pub struct Backend {
    /// Its port.
    pub port: u16,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
}

impl Backend {
    /// Starts a backend that answers `name` at `/`.
    pub fn start(name: &str) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let port = listener.local_addr().expect("addr").port();
        let stats = Arc::new(Stats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st, name) = (stats.clone(), stop.clone(), name.to_string());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                s.connections.fetch_add(1, Ordering::Relaxed);
                let (s, name) = (s.clone(), name.clone());
                std::thread::spawn(move || serve(conn, &name, &s));
            }
        });
        Backend { port, stats, stop }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.stats.connections.load(Ordering::Relaxed)
    }

    /// Requests answered so far.
    pub fn requests(&self) -> usize {
        self.stats.requests.load(Ordering::Relaxed)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

struct Request {
    method: String,
    path: String,
    minor: u8,
    close: bool,
    head: String,
    body: Vec<u8>,
}

fn serve(conn: TcpStream, name: &str, stats: &Stats) {
    conn.set_nodelay(true).ok();
    let mut reader = BufReader::with_capacity(65536, conn.try_clone().expect("clone"));
    let mut writer = conn;
    while let Some(req) = read_request(&mut reader) {
        stats.requests.fetch_add(1, Ordering::Relaxed);
        if !respond(&mut writer, &req, name) || req.close {
            break;
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut parsed = httparse::Request::new(&mut headers);
    parsed.parse(head.as_bytes()).ok()?;
    let minor = parsed.version.unwrap_or(1);
    let header = |n: &str| {
        parsed
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(n))
            .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
    };
    let conn = header("connection").unwrap_or_default();
    let close = conn.contains("close") || (minor == 0 && !conn.contains("keep-alive"));
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            if n == 0 {
                let mut end = String::new();
                loop {
                    end.clear();
                    reader.read_line(&mut end).ok()?;
                    if end == "\r\n" {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + n, 0);
            reader.read_exact(&mut body[start..]).ok()?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf).ok()?;
        }
    } else if let Some(len) = header("content-length") {
        let n: usize = len.trim().parse().ok()?;
        if parsed.path != Some("/early-413") {
            body.resize(n, 0);
            reader.read_exact(&mut body).ok()?;
        }
    }
    Some(Request {
        method: parsed.method?.to_string(),
        path: parsed.path?.to_string(),
        minor,
        close,
        head,
        body,
    })
}

fn respond(w: &mut TcpStream, req: &Request, name: &str) -> bool {
    let conn = if req.close {
        "Connection: close\r\n"
    } else {
        ""
    };
    let head_only = req.method == "HEAD";
    let simple = |w: &mut TcpStream, status: &str, body: &[u8]| -> bool {
        let head = format!(
            "HTTP/1.{} {status}\r\nContent-Length: {}\r\nX-Server: {name}\r\n{conn}\r\n",
            req.minor,
            body.len()
        );
        let mut out = head.into_bytes();
        if !head_only {
            out.extend_from_slice(body);
        }
        w.write_all(&out).is_ok()
    };
    let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["echo"] => simple(w, "200 OK", &req.body),
        ["echo-chunked"] => chunked(w, req, &req.body, conn),
        ["big", n] => {
            let n: usize = n.parse().unwrap_or(0);
            let body: Vec<u8> = (0..n).map(pattern).collect();
            simple(w, "200 OK", &body)
        }
        ["bigchunked", n] => {
            let n: usize = n.parse().unwrap_or(0);
            let body: Vec<u8> = (0..n).map(pattern).collect();
            chunked(w, req, &body, conn)
        }
        ["slow", ms] => {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap_or(0)));
            simple(w, "200 OK", format!("{name}\n").as_bytes())
        }
        ["headers"] => simple(w, "200 OK", req.head.as_bytes()),
        ["bighead"] => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 0\r\n\r\n",
                "y".repeat(20_000)
            );
            w.write_all(head.as_bytes()).is_ok()
        }
        ["garbage"] => {
            let _ = w.write_all(b"THIS IS NOT HTTP\r\n\r\n");
            false
        }
        ["truncate"] => {
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
            let _ = w.write_all(&[b'x'; 1000]);
            let _ = w.shutdown(Shutdown::Both);
            false
        }
        ["reset-mid-body"] => {
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\n\r\n");
            let _ = w.write_all(&[b'y'; 5000]);
            std::thread::sleep(Duration::from_millis(50));
            reset(w);
            false
        }
        ["close-delimited"] => {
            let _ = w.write_all(format!("HTTP/1.1 200 OK\r\n\r\n{name} until close\n").as_bytes());
            false
        }
        ["status", code] => {
            let code: u16 = code.parse().unwrap_or(500);
            let head = format!("HTTP/1.1 {code} X\r\nContent-Length: 5\r\n{conn}\r\n");
            // 204 and 304 must not carry a body even though Content-Length says 5.
            w.write_all(head.as_bytes()).is_ok()
        }
        ["early-413"] => {
            let _ = w.write_all(
                b"HTTP/1.1 413 Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbig\n",
            );
            false
        }
        _ => simple(w, "200 OK", format!("{name}\n").as_bytes()),
    }
}

fn chunked(w: &mut TcpStream, req: &Request, body: &[u8], conn: &str) -> bool {
    let mut out =
        format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n{conn}\r\n").into_bytes();
    if req.method != "HEAD" {
        for piece in body.chunks(65536 + 7) {
            out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            out.extend_from_slice(piece);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
    }
    w.write_all(&out).is_ok()
}

/// Makes the coming close send a reset (the connection is dropped right after).
fn reset(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid fd and a correctly sized linger struct.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// A raw TCP server that sends `name` first, then echoes every byte until the client
/// half-closes.
pub fn tcp_echo(name: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let _ = conn.write_all(name.as_bytes());
                let mut buf = [0u8; 65536];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = conn.shutdown(Shutdown::Write);
            });
        }
    });
    port
}
