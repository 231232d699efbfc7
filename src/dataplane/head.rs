//! Reading one message head, request or response: read until the framer finds a whole head,
//! within a size cap and a time limit.

use std::time::Duration;

use monoio::buf::IoBufMut;
use monoio::io::AsyncReadRent;

use super::deadline::Deadline;
use super::http1::Outgoing;
use super::io::{read, ReadOutcome};

/// Why no head was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError<E> {
    /// The framer refused the bytes.
    Invalid(E),
    /// The head does not fit in `cap` bytes.
    TooLarge,
    /// The peer closed or reset; `empty` when it had sent nothing at all.
    Closed {
        /// No byte had been read.
        empty: bool,
    },
    /// The time limit passed.
    TimedOut,
}

/// Reads into `out`'s buffer (appending to what it holds) until `frame` returns a head. The
/// framer sees every byte read so far at each call and is expected to resume its own scan
/// (see `HeadScanner`), so a head arriving byte by byte costs one pass. `limit` gives the
/// time left for each read.
pub async fn read_head<R, T, E>(
    stream: &mut R,
    out: &mut Outgoing,
    deadline: &Deadline,
    cap: usize,
    limit: impl Fn() -> Option<Duration>,
    mut frame: impl FnMut(&[u8]) -> Result<Option<T>, E>,
) -> Result<T, HeadError<E>>
where
    R: AsyncReadRent,
{
    loop {
        if !out.buf().is_empty() {
            if let Some(head) = frame(out.buf()).map_err(HeadError::Invalid)? {
                return Ok(head);
            }
        }
        let buf = std::mem::take(out.buf_mut());
        let len = buf.len();
        if len >= cap.min(buf.capacity()) {
            *out.buf_mut() = buf;
            return Err(HeadError::TooLarge);
        }
        let (outcome, back) = read(stream, buf.slice_mut(len..), deadline, limit()).await;
        *out.buf_mut() = back.into_inner();
        match outcome {
            ReadOutcome::Data(n) if n > 0 => {}
            ReadOutcome::Data(_) | ReadOutcome::Failed(_) => {
                return Err(HeadError::Closed { empty: len == 0 })
            }
            ReadOutcome::TimedOut => return Err(HeadError::TimedOut),
        }
    }
}
