//! I/O with deadlines that never lose bytes, and the ways a connection ends.
//!
//! A timed-out io_uring read may still complete in the kernel; dropping it would lose the
//! bytes and the buffer. Reads here are cancelled instead and awaited to the end, so the
//! buffer (and anything that arrived at the last moment) always comes back.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::AsRawFd;
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::{Duration, Instant};

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{
    AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, CancelableAsyncReadRent, Canceller,
};

use super::deadline::Deadline;
use super::http1::Outgoing;

/// How a read ended.
#[derive(Debug)]
pub enum ReadOutcome {
    /// This many bytes arrived (0 = the peer closed its side).
    Data(usize),
    /// Nothing arrived before the deadline.
    TimedOut,
    /// The connection failed.
    Failed(io::Error),
}

/// ECANCELED, what a cancelled io_uring operation returns.
const CANCELED: i32 = 125;

/// Reads into `buf` (as monoio does: at its current init position for slices), giving up
/// after `limit` without losing the buffer.
pub async fn read_with_timeout<R, B>(
    reader: &mut R,
    buf: B,
    limit: Option<Duration>,
) -> (ReadOutcome, B)
where
    R: CancelableAsyncReadRent,
    B: IoBufMut + 'static,
{
    let canceller = Canceller::new();
    let mut read = pin!(reader.cancelable_read(buf, canceller.handle()));
    if let Some(limit) = limit {
        let mut sleep = pin!(monoio::time::sleep(limit));
        let early = poll_fn(|cx| {
            if let Poll::Ready(done) = read.as_mut().poll(cx) {
                return Poll::Ready(Some(done));
            }
            match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        if let Some((result, buf)) = early {
            return (outcome(result, false), buf);
        }
        let _ = canceller.cancel();
        let (result, buf) = read.await;
        return (outcome(result, true), buf);
    }
    let (result, buf) = read.await;
    (outcome(result, false), buf)
}

fn outcome(result: io::Result<usize>, cancelled: bool) -> ReadOutcome {
    match result {
        Ok(n) => ReadOutcome::Data(n),
        Err(e) if cancelled && e.raw_os_error() == Some(CANCELED) => ReadOutcome::TimedOut,
        Err(e) => ReadOutcome::Failed(e),
    }
}

/// Runs `fut` with an optional time limit; `None` when the limit struck first.
pub async fn within<F: Future>(limit: Option<Duration>, fut: F) -> Option<F::Output> {
    match limit {
        Some(limit) => monoio::time::timeout(limit, fut).await.ok(),
        None => Some(fut.await),
    }
}

/// Awaits `fut` while the connection shows activity: gives up (returns `None`) only once
/// nothing happened for `limit`, measured from `activity`, which other tasks may refresh.
/// The future is never dropped early, so an operation that cannot be cancelled cleanly
/// (a splice into a pipe) never loses bytes.
pub async fn unless_idle<F: Future>(
    mut fut: Pin<&mut F>,
    limit: Option<Duration>,
    activity: &Cell<Instant>,
) -> Option<F::Output> {
    let Some(limit) = limit else {
        return Some(fut.await);
    };
    loop {
        let left = limit.saturating_sub(activity.get().elapsed());
        if left.is_zero() {
            return None;
        }
        let mut sleep = pin!(monoio::time::sleep(left));
        let done = poll_fn(|cx| {
            if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            sleep.as_mut().poll(cx).map(|()| None)
        })
        .await;
        if done.is_some() {
            return done;
        }
    }
}

/// How a write ended.
#[derive(Debug)]
pub enum WriteError {
    /// The peer did not take the bytes in time.
    TimedOut,
    /// The connection failed.
    Failed(io::Error),
}

/// Reads into `buf` (as monoio does: at its current init position for slices), within
/// `limit` as enforced by the socket's `deadline`.
pub async fn read<R, B>(
    reader: &mut R,
    buf: B,
    deadline: &Deadline,
    limit: Option<Duration>,
) -> (ReadOutcome, B)
where
    R: AsyncReadRent,
    B: IoBufMut + 'static,
{
    let armed = deadline.reading(limit);
    let (result, buf) = reader.read(buf).await;
    drop(armed);
    let outcome = match result {
        // Bytes that made it before the deadline are still bytes.
        Ok(n) if n > 0 => ReadOutcome::Data(n),
        _ if deadline.fired() => ReadOutcome::TimedOut,
        Ok(_) => ReadOutcome::Data(0),
        Err(e) => ReadOutcome::Failed(e),
    };
    (outcome, buf)
}

/// Writes all of `buf` within `limit`, as enforced by the socket's `deadline`.
pub async fn write_all<W, B>(
    writer: &mut W,
    buf: B,
    deadline: &Deadline,
    limit: Option<Duration>,
) -> (Result<(), WriteError>, B)
where
    W: AsyncWriteRent,
    B: IoBuf + 'static,
{
    let armed = deadline.writing(limit);
    let (result, buf) = writer.write_all(buf).await;
    drop(armed);
    (result.map(drop).map_err(|e| write_error(e, deadline)), buf)
}

/// Writes everything `out` plans (one writev per round, no copies) within `limit`. monoio's
/// own vectored write-all mishandles partial writes inside one iovec, so partial writes are
/// tracked here.
pub async fn write_planned<W: AsyncWriteRent>(
    writer: &mut W,
    mut out: Outgoing,
    deadline: &Deadline,
    limit: Option<Duration>,
) -> (Result<(), WriteError>, Outgoing) {
    let armed = deadline.writing(limit);
    while out.remaining() > 0 {
        let (result, back) = writer.writev(out).await;
        out = back;
        match result {
            Ok(0) => {
                return (
                    Err(write_error(io::ErrorKind::WriteZero.into(), deadline)),
                    out,
                )
            }
            Ok(n) => out.advance(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(write_error(e, deadline)), out),
        }
    }
    drop(armed);
    (Ok(()), out)
}

fn write_error(e: io::Error, deadline: &Deadline) -> WriteError {
    if deadline.fired() {
        WriteError::TimedOut
    } else {
        WriteError::Failed(e)
    }
}

/// Turns on TCP keep-alive probes (`option clitcpka|srvtcpka|tcpka`), with the system's
/// timers as HAProxy leaves them, so a peer that vanished is noticed by the kernel.
pub fn set_keepalive<S: AsRawFd>(stream: &S) {
    let on: libc::c_int = 1;
    // SAFETY: valid fd, and a correctly sized int for SO_KEEPALIVE.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_KEEPALIVE,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Makes the next close of `stream` send a reset, so the peer sees an error rather than a
/// clean end (a truncated close-delimited body must never look complete).
pub fn set_reset_on_close<S: AsRawFd>(stream: &S) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid fd, and a correctly sized `linger` value for SO_LINGER.
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

/// What a non-blocking peek says about an idle connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleCheck {
    /// Nothing to read: still open.
    Open,
    /// The peer closed, reset, or sent bytes nobody asked for.
    Unusable,
}

/// Checks, without blocking, whether an idle connection can still carry a request.
pub fn check_idle<S: AsRawFd>(stream: &S) -> IdleCheck {
    let mut byte = 0u8;
    // SAFETY: one writable byte, non-blocking peek that consumes nothing.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock {
        IdleCheck::Open
    } else {
        IdleCheck::Unusable
    }
}

/// Shuts down the write side (a FIN after everything written).
pub fn shutdown_write<S: AsRawFd>(stream: &S) {
    // SAFETY: plain shutdown on a valid fd.
    unsafe {
        libc::shutdown(stream.as_raw_fd(), libc::SHUT_WR);
    }
}

/// How long a lingering close may last in all.
const LINGER_TOTAL: Duration = Duration::from_secs(5);

/// A lingering close ends once the client has been quiet this long.
const LINGER_QUIET: Duration = Duration::from_secs(1);

/// Most bytes a lingering close discards.
const LINGER_BUDGET: usize = 64 << 20;

/// After a response that leaves request bytes unread (an error page, an early 413): send
/// FIN, then discard what the client still sends until it goes quiet (bounded in time and
/// bytes), so that closing with unread bytes does not reset the connection before the
/// client has read the response (nginx's lingering close).
pub async fn lingering_close<R>(reader: &mut R, scratch: Vec<u8>) -> Vec<u8>
where
    R: CancelableAsyncReadRent + AsRawFd,
{
    shutdown_write(reader);
    let mut buf = scratch;
    let deadline = std::time::Instant::now() + LINGER_TOTAL;
    let mut budget = LINGER_BUDGET;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        buf.clear();
        let (outcome, back) = read_with_timeout(reader, buf, Some(left.min(LINGER_QUIET))).await;
        buf = back;
        match outcome {
            ReadOutcome::Data(n) if n > 0 && n < budget => budget -= n,
            _ => break,
        }
    }
    buf.clear();
    buf
}
