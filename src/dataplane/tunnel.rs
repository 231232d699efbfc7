//! Byte relays: `mode tcp` sessions and upgraded (101) HTTP connections.
//!
//! Each direction is a loop over one buffer; a direction that hits end-of-stream half-closes
//! the other side and the opposite direction carries on. Inactivity is judged over both
//! directions, so a long one-way download is not cut by the idle upload side.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};

use monoio::buf::IoBuf;
use monoio::io::{AsyncWriteRent, CancelableAsyncReadRent, Splitable};
use monoio::net::TcpStream;

use crate::config::{LogFormat, ProxyId};
use crate::state::{LogEvent, LogRecord, Timers};

use super::error::{Phase, ProxyError};
use super::io::{read_with_timeout, set_reset_on_close, write_all, ReadOutcome, WriteError};
use super::shard::Shard;
use super::upstream::Dispatch;

/// How a tunnel ended.
#[derive(Debug, Default)]
pub struct TunnelEnd {
    /// Bytes from client to server.
    pub bytes_in: u64,
    /// Bytes from server to client.
    pub bytes_out: u64,
    /// Why it ended abnormally, if it did.
    pub error: Option<ProxyError>,
}

/// Relays bytes both ways until both sides are done, one fails, or both stay idle for
/// longer than their timeouts.
pub async fn relay(
    shard: &Shard,
    client: TcpStream,
    server: TcpStream,
    client_timeout: Option<Duration>,
    server_timeout: Option<Duration>,
) -> TunnelEnd {
    let activity = Cell::new(Instant::now());
    let (mut client_r, mut client_w) = client.into_split();
    let (mut server_r, mut server_w) = server.into_split();
    let mut up_out = shard.buffers.take();
    let mut down_out = shard.buffers.take();
    let (up_done, down_done) = {
        let up_buf = std::mem::take(up_out.buf_mut());
        let down_buf = std::mem::take(down_out.buf_mut());
        let mut up = pin!(pump(
            &mut client_r,
            &mut server_w,
            up_buf,
            client_timeout,
            server_timeout,
            &activity,
            Side::Client
        ));
        let mut down = pin!(pump(
            &mut server_r,
            &mut client_w,
            down_buf,
            server_timeout,
            client_timeout,
            &activity,
            Side::Server
        ));
        let mut up_done: Option<PumpEnd> = None;
        let mut down_done: Option<PumpEnd> = None;
        poll_fn(|cx| {
            if up_done.is_none() {
                if let Poll::Ready(end) = up.as_mut().poll(cx) {
                    up_done = Some(end);
                }
            }
            if down_done.is_none() {
                if let Poll::Ready(end) = down.as_mut().poll(cx) {
                    down_done = Some(end);
                }
            }
            let failed = |d: &Option<PumpEnd>| d.as_ref().is_some_and(|e| e.error.is_some());
            if (up_done.is_some() && down_done.is_some()) || failed(&up_done) || failed(&down_done)
            {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        (up_done, down_done)
    };
    let mut end = TunnelEnd::default();
    for (done, mut out, is_up) in [(up_done, up_out, true), (down_done, down_out, false)] {
        let Some(done) = done else { continue };
        if is_up {
            end.bytes_in = done.bytes;
        } else {
            end.bytes_out = done.bytes;
        }
        if end.error.is_none() {
            end.error = done.error;
        }
        if let Some(buf) = done.buf {
            *out.buf_mut() = buf;
            shard.buffers.give(out);
        }
    }
    if end.error.is_some() {
        // Make the abort visible to both peers.
        if let Ok(client) = client_r.reunite(client_w) {
            set_reset_on_close(&client);
        }
        if let Ok(server) = server_r.reunite(server_w) {
            set_reset_on_close(&server);
        }
    }
    end
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

struct PumpEnd {
    bytes: u64,
    error: Option<ProxyError>,
    buf: Option<Vec<u8>>,
}

/// Copies `from` → `to` until end of stream, then half-closes `to`.
async fn pump<R, W>(
    from: &mut R,
    to: &mut W,
    mut buf: Vec<u8>,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    activity: &Cell<Instant>,
    reading: Side,
) -> PumpEnd
where
    R: CancelableAsyncReadRent,
    W: AsyncWriteRent,
{
    let (read_aborted, read_idle, write_aborted, write_idle) = match reading {
        Side::Client => (
            ProxyError::ClientAborted(Phase::Data),
            ProxyError::ClientTimeout(Phase::Data),
            ProxyError::ServerAborted(Phase::Data),
            ProxyError::ServerTimeout(Phase::Data),
        ),
        Side::Server => (
            ProxyError::ServerAborted(Phase::Data),
            ProxyError::ServerTimeout(Phase::Data),
            ProxyError::ClientAborted(Phase::Data),
            ProxyError::ClientTimeout(Phase::Data),
        ),
    };
    let mut bytes = 0u64;
    loop {
        buf.clear();
        let wait = read_timeout.map(|t| {
            t.saturating_sub(activity.get().elapsed())
                .max(Duration::from_millis(1))
        });
        let (outcome, back) = read_with_timeout(from, buf, wait).await;
        buf = back;
        let n = match outcome {
            ReadOutcome::Data(0) => {
                let _ = to.shutdown().await;
                return PumpEnd {
                    bytes,
                    error: None,
                    buf: Some(buf),
                };
            }
            ReadOutcome::Data(n) => n,
            ReadOutcome::TimedOut => {
                if read_timeout.is_some_and(|t| activity.get().elapsed() < t) {
                    // The other direction was active meanwhile: keep waiting.
                    continue;
                }
                return PumpEnd {
                    bytes,
                    error: Some(read_idle),
                    buf: Some(buf),
                };
            }
            ReadOutcome::Failed(_) => {
                return PumpEnd {
                    bytes,
                    error: Some(read_aborted),
                    buf: Some(buf),
                }
            }
        };
        activity.set(Instant::now());
        match write_all(to, buf.slice(0..n), write_timeout).await {
            Ok(slice) => buf = slice.into_inner(),
            Err(WriteError::TimedOut) => {
                return PumpEnd {
                    bytes,
                    error: Some(write_idle),
                    buf: None,
                }
            }
            Err(WriteError::Failed(_)) => {
                return PumpEnd {
                    bytes,
                    error: Some(write_aborted),
                    buf: None,
                }
            }
        }
        bytes += n as u64;
        activity.set(Instant::now());
    }
}

/// Serves one `mode tcp` client: balance, connect (with retries), relay, log.
pub async fn serve_tcp(
    shard: &Rc<Shard>,
    client: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    frontend: ProxyId,
) {
    let snap = shard.snapshot();
    let fe = &snap.config.proxies[frontend];
    let started = Instant::now();
    let mut record = LogRecord {
        event: LogEvent::Tcp,
        frontend,
        backend: fe.default_backend,
        server: None,
        client: peer,
        local,
        started: SystemTime::now(),
        timers: Timers::default(),
        status: None,
        bytes_out: 0,
        termination: *b"--",
        retries: 0,
        request_line: String::new(),
        shard: shard.id,
    };
    let logs = shard.logging() && !fe.log.is_empty();
    if logs && fe.log_format == LogFormat::Default {
        shard.log(LogRecord {
            event: LogEvent::Connect,
            ..record.clone()
        });
    }
    let Some(be) = fe.default_backend.map(|id| &snap.config.proxies[id]) else {
        record.termination = *b"PC";
        finish(shard, fe.log_format, logs, record, started);
        return;
    };
    let mut dispatch = Dispatch::default();
    let upstream = dispatch
        .connect(shard, &snap, be, local.port(), &mut record.timers)
        .await;
    record.retries = dispatch.retries;
    let upstream = match upstream {
        Ok(u) => u,
        Err(e) => {
            record.termination = e.termination();
            finish(shard, fe.log_format, logs, record, started);
            return;
        }
    };
    record.server = Some(upstream.slot.server);
    let counters = &shard.counters.servers[be.id][upstream.slot.server];
    counters.sessions_total.incr();
    counters.sessions_current.add(1);
    shard.counters.proxies[be.id].sessions_total.incr();
    let client_timeout = fe.timeouts.tunnel.or(fe.timeouts.client);
    let server_timeout = be.timeouts.tunnel.or(be.timeouts.server);
    let end = relay(
        shard,
        client,
        upstream.stream,
        client_timeout,
        server_timeout,
    )
    .await;
    counters.sessions_current.add(-1);
    counters.bytes_in.add(end.bytes_in);
    counters.bytes_out.add(end.bytes_out);
    shard.counters.proxies[frontend].bytes_in.add(end.bytes_in);
    shard.counters.proxies[frontend]
        .bytes_out
        .add(end.bytes_out);
    record.bytes_out = end.bytes_out;
    if let Some(e) = end.error {
        record.termination = e.termination();
    }
    drop(upstream.slot);
    finish(shard, fe.log_format, logs, record, started);
}

fn finish(shard: &Shard, format: LogFormat, logs: bool, mut record: LogRecord, started: Instant) {
    if logs && format != LogFormat::Default {
        record.timers.total = started.elapsed().as_millis() as i64;
        shard.log(record);
    }
}
