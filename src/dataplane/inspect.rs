//! `tcp-request connection` and `tcp-request content` rules on the shard: the first runs at
//! accept on the addresses alone; the second waits (up to `tcp-request inspect-delay`) for
//! the request bytes its conditions need, as HAProxy 2.6 evaluates them as data arrives.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;

use crate::config::acl::payload::BUFSIZE;
use crate::config::acl::RequestView;
use crate::config::tcp_rules::{verdict, TcpAction, TcpRule};

/// A connection's buffered request bytes, as ACLs see them (no HTTP head: HTTP fetches
/// find nothing).
pub struct PayloadView<'a> {
    buf: &'a [u8],
    last: bool,
    peer: SocketAddr,
    local: SocketAddr,
    only_connection: bool,
}

impl<'a> PayloadView<'a> {
    /// The bytes `buf` of a client at `peer` connected to `local`; `last`: no more will
    /// be waited for.
    pub fn new(buf: &'a [u8], last: bool, peer: SocketAddr, local: SocketAddr) -> Self {
        Self {
            buf,
            last,
            peer,
            local,
            only_connection: false,
        }
    }

    /// A connection just accepted: its addresses and nothing else.
    pub fn connection(peer: SocketAddr, local: SocketAddr) -> Self {
        Self {
            buf: b"",
            last: true,
            peer,
            local,
            only_connection: true,
        }
    }
}

impl RequestView for PayloadView<'_> {
    fn version_minor(&self) -> u8 {
        0
    }
    fn src(&self) -> Option<SocketAddr> {
        Some(self.peer)
    }
    fn dst(&self) -> Option<SocketAddr> {
        Some(self.local)
    }
    fn request_len(&self) -> u64 {
        self.buf.len() as u64
    }
    fn payload(&self) -> Option<&[u8]> {
        (!self.only_connection).then_some(self.buf)
    }
    fn payload_final(&self) -> bool {
        self.last
    }
    fn connection_only(&self) -> bool {
        self.only_connection
    }
}

/// Whether the `tcp-request connection` rules let a client at `peer` in.
pub fn connection_accepted(rules: &[TcpRule], peer: SocketAddr, local: SocketAddr) -> bool {
    rules.is_empty()
        || verdict(rules, &PayloadView::connection(peer, local)) != Some(TcpAction::Reject)
}

/// How content inspection reads the client's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Read them off the socket (the caller relays them first).
    Consume,
    /// Leave them on the socket (`MSG_PEEK`) for the HTTP parser.
    Peek,
}

/// What content inspection decided, with the bytes it read (`Take::Consume`).
pub struct Inspected {
    /// The verdict.
    pub action: TcpAction,
    /// The client's bytes read so far (empty with `Take::Peek`).
    pub bytes: Vec<u8>,
}

/// Runs `rules` over the client's first bytes, waiting up to `delay` for those a condition
/// needs; at the delay's end (or when the client closes or the buffer is full) they are
/// decided with what is there. Without a delay they are decided at once.
pub async fn inspect(
    client: &TcpStream,
    rules: &[TcpRule],
    delay: Option<Duration>,
    take: Take,
    (peer, local): (SocketAddr, SocketAddr),
) -> Inspected {
    let until = delay.map(|d| Instant::now() + d);
    let mut buf = vec![0u8; BUFSIZE];
    let mut len = 0usize;
    let mut closed = false;
    // Whether the last wait was for readability: a wake with nothing to read (a driver's
    // stale readiness) must not spin.
    let mut woke = false;
    loop {
        let (got, eof) = fill(client, &mut buf, len, take);
        len = if take == Take::Peek { got } else { len + got };
        closed |= eof;
        let expired = until.is_none_or(|t| Instant::now() >= t);
        let last = closed || len >= BUFSIZE || expired;
        let view = PayloadView::new(buf.get(..len).unwrap_or_default(), last, peer, local);
        if let Some(action) = verdict(rules, &view) {
            buf.truncate(if take == Take::Consume { len } else { 0 });
            return Inspected { action, bytes: buf };
        }
        let left = until.map_or(Duration::ZERO, |t| {
            t.saturating_duration_since(Instant::now())
        });
        if (take == Take::Peek && got > 0) || (woke && got == 0) {
            // Peeked bytes keep the socket readable: poll again a little later instead.
            monoio::time::sleep(left.min(Duration::from_millis(10))).await;
            woke = false;
            continue;
        }
        woke = true;
        match monoio::time::timeout(left, client.readable(false)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => closed = true,
            Err(_) => {}
        }
    }
}

/// Reads and drops what the client sent so far, so that closing after a refusal sends a
/// plain FIN (unread bytes would make the kernel send a reset), as HAProxy's close does.
pub fn discard_pending(client: &TcpStream) {
    let mut scratch = vec![0u8; BUFSIZE];
    while let (n, false) = fill(client, &mut scratch, 0, Take::Consume) {
        if n < BUFSIZE {
            break;
        }
    }
}

/// Reads what the socket holds without waiting, into `buf` from `at` (from 0 when peeking):
/// (bytes, the client closed).
fn fill(client: &TcpStream, buf: &mut [u8], at: usize, take: Take) -> (usize, bool) {
    let fd = client.as_raw_fd();
    let (start, flags) = match take {
        Take::Consume => (at, libc::MSG_DONTWAIT),
        Take::Peek => (0, libc::MSG_DONTWAIT | libc::MSG_PEEK),
    };
    let mut got = 0usize;
    loop {
        let Some(spare) = buf.get_mut(start + got..).filter(|s| !s.is_empty()) else {
            return (got, false);
        };
        // SAFETY: `spare` is valid writable memory of the length passed.
        let n = unsafe { libc::recv(fd, spare.as_mut_ptr().cast(), spare.len(), flags) };
        match n {
            0 => return (got, true),
            n if n > 0 => {
                got += n as usize;
                if take == Take::Peek {
                    return (got, false);
                }
            }
            _ => {
                let err = std::io::Error::last_os_error();
                return match err.kind() {
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted => {
                        (got, false)
                    }
                    _ => (got, true),
                };
            }
        }
    }
}
