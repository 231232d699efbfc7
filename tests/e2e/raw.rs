//! A scripted backend that records every byte it receives, per connection, for tests that
//! check what reached the server (not only what the client got back).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Log = Arc<Mutex<Vec<u8>>>;

/// One accepted connection as the script sees it.
pub struct Peer {
    /// 0 for the first connection accepted, 1 for the next, …
    pub id: usize,
    stream: TcpStream,
    log: Log,
    /// Bytes read but not yet consumed by the script.
    buf: Vec<u8>,
}

impl Peer {
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.log.lock().unwrap().extend_from_slice(&chunk[..n]);
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The next request head (through its empty line); `None` at end of stream.
    pub fn read_head(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                return Some(String::from_utf8_lossy(&head).into_owned());
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// Exactly `n` more bytes; `None` if the connection ends first.
    pub fn read_exact(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill() {
                return None;
            }
        }
        Some(self.buf.drain(..n).collect())
    }

    /// A chunked body, through its final empty line (raw bytes, for the log).
    pub fn read_chunked(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(end) = self.buf.windows(5).position(|w| w == b"0\r\n\r\n") {
                return Some(self.buf.drain(..end + 5).collect());
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// Whatever arrives within `limit` (stops at end of stream).
    pub fn read_for(&mut self, limit: Duration) -> Vec<u8> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .ok();
            if !self.fill() {
                break;
            }
        }
        self.stream.set_read_timeout(None).ok();
        std::mem::take(&mut self.buf)
    }

    /// Sends bytes (errors ignored: the script may be talking to a closed peer on purpose).
    pub fn write(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }
}

/// A running scripted backend.
pub struct RawBackend {
    /// Its port.
    pub port: u16,
    logs: Arc<Mutex<Vec<Log>>>,
    stop: Arc<AtomicBool>,
}

impl RawBackend {
    /// Starts a backend that runs `script` on every connection, each in its own thread.
    pub fn start(script: impl Fn(&mut Peer) + Send + Sync + 'static) -> RawBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind raw backend");
        let port = listener.local_addr().expect("addr").port();
        let logs: Arc<Mutex<Vec<Log>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let script = Arc::new(script);
        let (l, st) = (logs.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = conn else { continue };
                stream.set_nodelay(true).ok();
                let log = Log::default();
                let id = {
                    let mut logs = l.lock().unwrap();
                    logs.push(log.clone());
                    logs.len() - 1
                };
                let script = script.clone();
                std::thread::spawn(move || {
                    let mut peer = Peer {
                        id,
                        stream,
                        log,
                        buf: Vec::new(),
                    };
                    script(&mut peer);
                });
            }
        });
        RawBackend { port, logs, stop }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.logs.lock().unwrap().len()
    }

    /// Everything connection `id` received.
    pub fn received(&self, id: usize) -> String {
        let logs = self.logs.lock().unwrap();
        logs.get(id)
            .map(|l| String::from_utf8_lossy(&l.lock().unwrap()).into_owned())
            .unwrap_or_default()
    }

    /// Everything every connection received, in accept order.
    pub fn all_received(&self) -> String {
        (0..self.connections()).map(|i| self.received(i)).collect()
    }
}

impl Drop for RawBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A config with one HTTP frontend on a free port in front of `backend_port`.
pub fn proxy_config(backend_port: u16, extra_defaults: &str) -> (String, u16) {
    let port = super::harness::free_port();
    let config = format!(
        "{}frontend fe\n bind 127.0.0.1:{port}\n default_backend be\nbackend be\n server s1 127.0.0.1:{backend_port}\n",
        super::harness::defaults(extra_defaults)
    );
    (config, port)
}
