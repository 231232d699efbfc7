//! The PROXY protocol on the shard: reading the header a `bind … accept-proxy` connection
//! starts with, and writing the one a `send-proxy` server connection starts with.
//!
//! The header is read with `MSG_PEEK` and then consumed to its exact length, so not one byte
//! of the request after it is taken: the session reads the request as if the header had
//! never been there. A header that arrives in pieces is taken as it comes, each read asking
//! only for bytes the header certainly still has, and waiting for them (no polling).

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use crate::config::SendProxy;
use crate::state::proxyproto::{self, ProxyProtoError, V2_MAX};

use super::io::within;

/// Why a connection was closed before its first request.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    /// The bytes are no valid PROXY header.
    #[error("{0}")]
    Invalid(#[from] ProxyProtoError),
    /// The client closed (or reset) before the header was complete.
    #[error("connection closed before the PROXY header was complete")]
    Closed,
    /// The header did not arrive in time.
    #[error("timeout waiting for the PROXY header")]
    Timeout,
}

/// How long to wait for a header when the frontend sets no timeout (HAProxy would wait
/// forever; a connection that never speaks must not be held for ever).
const DEFAULT_LIMIT: Duration = Duration::from_secs(10);

/// Reads and consumes the PROXY header at the start of `stream` within `limit`: the
/// original (client, destination) addresses, or `None` when the header says to keep the
/// connection's own (`UNKNOWN`, `LOCAL`).
pub async fn read_header(
    stream: &mut TcpStream,
    limit: Option<Duration>,
) -> Result<Option<(SocketAddr, SocketAddr)>, HeaderError> {
    match within(Some(limit.unwrap_or(DEFAULT_LIMIT)), read_complete(stream)).await {
        Some(result) => result,
        None => Err(HeaderError::Timeout),
    }
}

async fn read_complete(
    stream: &mut TcpStream,
) -> Result<Option<(SocketAddr, SocketAddr)>, HeaderError> {
    // Usually the whole header is in the first segment: peek, then take exactly it.
    let mut buf = vec![0u8; proxyproto::V1_MAX + 1];
    let n = loop {
        if stream.readable(false).await.is_err() {
            return Err(HeaderError::Closed);
        }
        let Some(n) = peek(stream, &mut buf)? else {
            continue;
        };
        let wanted = proxyproto::wanted(&buf[..n]).min(V2_MAX);
        match proxyproto::parse(&buf[..n])? {
            Some(header) => {
                consume(stream, header.len)?;
                return Ok(header.addrs);
            }
            // A v2 header longer than the first peek: look again with room for all of it.
            None if wanted > buf.len() => buf.resize(wanted, 0),
            None => break n,
        }
    };
    // A header in pieces: what is there is all header (it is not complete), so take it, then
    // read what it certainly still lacks until it is whole.
    consume(stream, n)?;
    buf.truncate(n);
    loop {
        let more = proxyproto::certain_more(&buf);
        let piece = Vec::with_capacity(more);
        let (read, piece) = stream.read(piece).await;
        match read {
            Ok(0) | Err(_) => return Err(HeaderError::Closed),
            Ok(_) => buf.extend_from_slice(&piece),
        }
        if let Some(header) = proxyproto::parse(&buf)? {
            return Ok(header.addrs);
        }
    }
}

/// What is waiting on the socket, left there; `None` when nothing is (yet).
fn peek(stream: &TcpStream, buf: &mut [u8]) -> Result<Option<usize>, HeaderError> {
    // SAFETY: `buf` is valid for `buf.len()` bytes of writes; the fd is the stream's own.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match usize::try_from(n) {
        Ok(0) => Err(HeaderError::Closed),
        Ok(n) => Ok(Some(n)),
        Err(_) => match io::Error::last_os_error().kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
            _ => Err(HeaderError::Closed),
        },
    }
}

/// Takes exactly `len` bytes, already seen by `peek`, off the socket.
fn consume(stream: &TcpStream, len: usize) -> Result<(), HeaderError> {
    let mut sink = vec![0u8; len];
    let mut taken = 0;
    while taken < len {
        // SAFETY: `sink[taken..]` is valid for `len - taken` bytes of writes.
        let n = unsafe {
            libc::recv(
                stream.as_raw_fd(),
                sink[taken..].as_mut_ptr().cast(),
                len - taken,
                libc::MSG_DONTWAIT,
            )
        };
        match usize::try_from(n) {
            Ok(0) | Err(_) => return Err(HeaderError::Closed),
            Ok(n) => taken += n,
        }
    }
    Ok(())
}

/// Writes the header `version` asks for at the start of a new server connection, for a
/// client at `client.0` connected to `client.1` (`None`: `UNKNOWN`/`LOCAL`), within `limit`.
pub async fn send_header(
    stream: &mut TcpStream,
    version: SendProxy,
    client: Option<(SocketAddr, SocketAddr)>,
    limit: Option<Duration>,
) -> io::Result<()> {
    let v2 = match version {
        SendProxy::Off => return Ok(()),
        SendProxy::V1 => false,
        SendProxy::V2 => true,
    };
    let header = proxyproto::build(v2, client);
    match within(limit, stream.write_all(header)).await {
        Some((result, _)) => result.map(|_| ()),
        None => Err(io::ErrorKind::TimedOut.into()),
    }
}
