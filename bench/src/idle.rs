//! The idle-connection helper: N keep-alive client connections, each of which did one request
//! and then stays open and silent. Plain std sockets, in batches: connect a batch, write its
//! requests, read its responses.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Connections opened, and requests in flight, at a time.
pub const BATCH: usize = 50;

/// Raises RLIMIT_NOFILE (soft, and hard when privileged) to at least `wanted`; returns the
/// soft limit in force afterwards. Children started later inherit it.
pub fn raise_nofile(wanted: u64) -> u64 {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) != 0 {
            return 0;
        }
        let raised = libc::rlimit {
            rlim_cur: wanted.max(l.rlim_cur),
            rlim_max: wanted.max(l.rlim_max),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
            let capped = libc::rlimit {
                rlim_cur: l.rlim_max,
                rlim_max: l.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &capped);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut l);
    }
    l.rlim_cur
}

/// Opens `n` connections to 127.0.0.1:`port`, sends `GET /` with keep-alive on each, and
/// checks that each got a complete 200 response. The connections stay open.
pub fn open(port: u16, n: usize) -> Result<Vec<TcpStream>> {
    let mut conns = Vec::with_capacity(n);
    let request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
    while conns.len() < n {
        let start = conns.len();
        for _ in 0..BATCH.min(n - start) {
            let s = TcpStream::connect(("127.0.0.1", port))
                .with_context(|| format!("connection {} of {n}", conns.len() + 1))?;
            s.set_nodelay(true)?;
            conns.push(s);
        }
        for s in &mut conns[start..] {
            s.write_all(request)?;
        }
        for (i, s) in conns[start..].iter_mut().enumerate() {
            read_response(s)
                .with_context(|| format!("response on connection {}", start + i + 1))?;
        }
    }
    Ok(conns)
}

/// Reads one response framed by Content-Length and checks it is a 200.
fn read_response(s: &mut TcpStream) -> Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            bail!("connection closed before the response was complete");
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        if !head.starts_with("http/1.1 200") {
            bail!("not a 200: {}", head.lines().next().unwrap_or(""));
        }
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .context("response without Content-Length")?;
        if buf.len() >= head_end + 4 + length {
            return Ok(());
        }
    }
}

/// How many of `conns` are still open (no EOF, no error, nothing unexpected to read).
pub fn count_open(conns: &[TcpStream]) -> usize {
    let mut byte = [0u8; 1];
    conns
        .iter()
        .filter(|s| {
            s.set_nonblocking(true).is_ok()
                && matches!(s.peek(&mut byte), Err(e) if e.kind() == ErrorKind::WouldBlock)
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn opens_and_counts_idle_connections() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut kept = Vec::new();
            for _ in 0..3 {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 256];
                let _ = s.read(&mut buf).unwrap();
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
                    .unwrap();
                kept.push(s);
            }
            kept.pop();
            kept
        });
        let conns = open(port, 3).unwrap();
        let kept = server.join().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(count_open(&conns), 2);
        drop(kept);
    }
}
