//! Message bodies in transit: where they end, and the client-to-server upload loop.

use std::time::Duration;

use monoio::buf::IoBuf;
use monoio::io::{AsyncReadRent, AsyncWriteRent};

use super::deadline::Deadline;
use super::error::{Phase, ProxyError};
use super::http1::{BodyKind, ChunkError, ChunkedTracker};
use super::io::{read, write_all, ReadOutcome, WriteError};

/// How much of a body is still to come.
#[derive(Debug, Clone)]
pub enum BodyProgress {
    /// Complete (or there was none).
    Done,
    /// This many bytes left.
    Length(u64),
    /// Chunked: the tracker knows where it ends.
    Chunked(ChunkedTracker),
    /// Ends when the sender closes.
    UntilClose,
}

impl BodyProgress {
    /// The progress of a body that has not started.
    pub fn new(kind: BodyKind) -> Self {
        match kind {
            BodyKind::None => BodyProgress::Done,
            BodyKind::Length(n) => BodyProgress::Length(n),
            BodyKind::Chunked => BodyProgress::Chunked(ChunkedTracker::new()),
            BodyKind::UntilClose => BodyProgress::UntilClose,
        }
    }

    /// Accounts for `data`; returns how many of its bytes belong to this body.
    pub fn advance(&mut self, data: &[u8]) -> Result<usize, ChunkError> {
        let used = match self {
            BodyProgress::Done => 0,
            BodyProgress::Length(left) => {
                let used = (*left).min(data.len() as u64);
                *left -= used;
                used as usize
            }
            BodyProgress::Chunked(tracker) => tracker.feed(data)?,
            BodyProgress::UntilClose => data.len(),
        };
        let finished = match self {
            BodyProgress::Length(0) => true,
            BodyProgress::Chunked(tracker) => tracker.is_done(),
            _ => false,
        };
        if finished {
            *self = BodyProgress::Done;
        }
        Ok(used)
    }

    /// Whether the body is complete.
    pub fn is_done(&self) -> bool {
        matches!(self, BodyProgress::Done)
    }
}

/// Streams the rest of a request body from the client to the server through `buf` (one
/// buffer, no copies). Returns the buffer holding any bytes read past the body's end (a
/// pipelined request), from index 0. Each side comes with its socket deadline and timeout.
pub async fn upload<R, W>(
    client: &mut R,
    server: &mut W,
    mut buf: Vec<u8>,
    body: &mut BodyProgress,
    (client_deadline, client_timeout): (&Deadline, Option<Duration>),
    (server_deadline, server_timeout): (&Deadline, Option<Duration>),
) -> (Result<u64, ProxyError>, Vec<u8>)
where
    R: AsyncReadRent,
    W: AsyncWriteRent,
{
    let mut sent = 0u64;
    while !body.is_done() {
        buf.clear();
        let (outcome, back) = read(client, buf, client_deadline, client_timeout).await;
        buf = back;
        let n = match outcome {
            ReadOutcome::Data(0) | ReadOutcome::Failed(_) => {
                return (Err(ProxyError::ClientAborted(Phase::Data)), buf)
            }
            ReadOutcome::TimedOut => return (Err(ProxyError::ClientTimeout(Phase::Data)), buf),
            ReadOutcome::Data(n) => n,
        };
        let used = match body.advance(&buf[..n]) {
            Ok(used) => used,
            Err(_) => return (Err(ProxyError::BadRequestBody), buf),
        };
        let (written, slice) =
            write_all(server, buf.slice(0..used), server_deadline, server_timeout).await;
        buf = slice.into_inner();
        match written {
            Ok(()) => {}
            Err(WriteError::TimedOut) => return (Err(ProxyError::ServerTimeout(Phase::Data)), buf),
            Err(WriteError::Failed(_)) => {
                return (Err(ProxyError::ServerAborted(Phase::Data)), buf)
            }
        }
        sent += used as u64;
        if body.is_done() {
            buf.drain(..used);
        }
    }
    (Ok(sent), buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_progress() {
        let mut p = BodyProgress::new(BodyKind::Length(5));
        assert_eq!(p.advance(b"abc").unwrap(), 3);
        assert!(!p.is_done());
        assert_eq!(p.advance(b"defgh").unwrap(), 2);
        assert!(p.is_done());
        assert_eq!(p.advance(b"x").unwrap(), 0);
    }

    #[test]
    fn chunked_progress() {
        let mut p = BodyProgress::new(BodyKind::Chunked);
        assert_eq!(p.advance(b"3\r\nabc\r\n0\r\n\r\nNEXT").unwrap(), 13);
        assert!(p.is_done());
        assert!(BodyProgress::new(BodyKind::Chunked)
            .advance(b"zz\r\n")
            .is_err());
    }

    #[test]
    fn until_close_never_finishes_by_itself() {
        let mut p = BodyProgress::new(BodyKind::UntilClose);
        assert_eq!(p.advance(b"abc").unwrap(), 3);
        assert!(!p.is_done());
        assert!(BodyProgress::new(BodyKind::None).is_done());
    }
}
