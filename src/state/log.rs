//! One finished transaction or connection, as shards report it for logging.
//!
//! Shards fill a record and hand it over a channel; formatting and writing happen on the
//! logging thread, off the request path.

use std::net::SocketAddr;
use std::time::SystemTime;

use crate::config::{ProxyId, ServerId};

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
}
