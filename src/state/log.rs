//! One finished transaction or connection, as shards report it for logging.
//!
//! Shards fill a record and hand it over a channel; formatting and writing happen on the
//! logging thread, off the request path.

use std::net::SocketAddr;
use std::time::SystemTime;

use std::sync::Arc;

use crate::config::{Config, ProxyId, ServerId};

use super::counters::CounterSet;

/// The most bytes of a request line that are logged, as HAProxy (`tune.http.logurilen`):
/// a record, and the logger's queue, stay small however long the URI.
pub const MAX_LOGGED_LINE: usize = 1024;

/// The request line as logged: lossy UTF-8 of at most `MAX_LOGGED_LINE` bytes.
pub fn request_line(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(MAX_LOGGED_LINE)];
    let mut line = String::from_utf8_lossy(head).into_owned();
    if line.len() > MAX_LOGGED_LINE {
        // Replacement characters are longer than the bytes they stand for.
        let mut cut = MAX_LOGGED_LINE;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.shrink_to_fit();
    }
    line
}

/// Milliseconds, or -1 when the step never happened (HAProxy's convention).
pub type Millis = i64;

/// What is being logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEvent {
    /// A new connection, for proxies without `option httplog`/`tcplog` ("Connect from …").
    Connect,
    /// A finished HTTP transaction (`option httplog`).
    Http,
    /// A finished TCP session (`option tcplog`).
    Tcp,
}

/// Timers of one transaction, HAProxy's `%TR/%Tw/%Tc/%Tr/%Ta` (or `%Tw/%Tc/%Tt` for TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Time to receive the whole request head.
    pub request: Millis,
    /// Time waiting for a server slot.
    pub queue: Millis,
    /// Time to connect to the server.
    pub connect: Millis,
    /// Time for the server to send the response head.
    pub response: Millis,
    /// Total active time.
    pub total: Millis,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            request: -1,
            queue: -1,
            connect: -1,
            response: -1,
            total: -1,
        }
    }
}

/// One log line's worth of facts.
#[derive(Debug, Clone)]
pub struct LogRecord {
    /// Kind of line.
    pub event: LogEvent,
    /// The frontend that accepted the client.
    pub frontend: ProxyId,
    /// The backend used, if one was chosen.
    pub backend: Option<ProxyId>,
    /// The server used, if one was chosen.
    pub server: Option<ServerId>,
    /// The client's address.
    pub client: SocketAddr,
    /// The address the client connected to.
    pub local: SocketAddr,
    /// When the request (or connection) started.
    pub started: SystemTime,
    /// Step timers.
    pub timers: Timers,
    /// Status sent to the client, if any.
    pub status: Option<u16>,
    /// Bytes sent to the client.
    pub bytes_out: u64,
    /// Termination state (two letters, `--` when normal).
    pub termination: [u8; 2],
    /// Connection retries.
    pub retries: u32,
    /// The request line, or `<BADREQ>`.
    pub request_line: String,
    /// The shard that served it.
    pub shard: usize,
    /// The configuration the ids above belong to (a reload may have brought another).
    pub config: Arc<Config>,
    /// The counters of that configuration, for the occupancy fields of a line.
    pub counters: CounterSet,
    /// What `log-format`, captures and unique ids add (HTTP transactions that have them).
    pub extras: Option<Box<LogExtras>>,
}

/// The facts only some log lines need, evaluated on the shard while the request was there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogExtras {
    /// Bytes from the client (`%U`).
    pub bytes_in: u64,
    /// The unique id (`%ID`).
    pub unique_id: Option<String>,
    /// The request counter (`%rt`).
    pub request_counter: u64,
    /// The `log-format` samples in order; `None` where a fetch found nothing.
    pub samples: Vec<Option<String>>,
    /// `capture request header` values, in declaration order.
    pub request_captures: Vec<String>,
    /// `capture response header` values, in declaration order.
    pub response_captures: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_capped() {
        assert_eq!(request_line(b"GET / HTTP/1.1"), "GET / HTTP/1.1");
        let long = format!("GET /{} HTTP/1.1", "a".repeat(10_000));
        let logged = request_line(long.as_bytes());
        assert_eq!(logged.len(), MAX_LOGGED_LINE);
        assert!(long.starts_with(&logged));
        // Invalid bytes become U+FFFD (three bytes each): still within the cap.
        let logged = request_line(&[0xff; 2000]);
        assert!(logged.len() <= MAX_LOGGED_LINE && logged.capacity() <= MAX_LOGGED_LINE);
        assert!(logged.chars().all(|c| c == char::REPLACEMENT_CHARACTER));
        // A multi-byte character cut at the cap is not split.
        let accented = "é".repeat(1000);
        assert!(request_line(accented.as_bytes()).len() <= MAX_LOGGED_LINE);
    }
}
