//! Byte relays: `mode tcp` sessions and upgraded (101) HTTP connections.
//!
//! Each direction is a loop over one buffer (or, with `option splice-*`, a pipe); a direction
//! that hits end-of-stream half-closes the other side and the opposite direction carries on.
//! Inactivity is judged over both directions, so a long one-way download is not cut by the
//! idle upload side.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};

use monoio::buf::IoBuf;
use monoio::io::as_fd::{AsReadFd, AsWriteFd};
use monoio::io::splice::{SpliceDestination, SpliceSource};
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt, CancelableAsyncReadRent, Splitable};
use monoio::net::TcpStream;

use crate::config::tcp_rules::TcpAction;
use crate::config::{LogFormat, Mode, Proxy, SpliceMode};
use crate::state::{LogEvent, LogRecord, Timers};

use super::error::{count_abort, Phase, ProxyError};
use super::inspect::{inspect, PayloadView, Take};
use super::io::{read_with_timeout, set_reset_on_close, unless_idle, within, ReadOutcome};
use super::session::{serve_upgraded, Upgrade};
use super::shard::{Connection, Shard};
use super::switching::choose_backend;
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
    frontend: &Proxy,
    backend: &Proxy,
) -> TunnelEnd {
    // `timeout tunnel` overrides each side's own timeout; either side may ask for splice.
    let client_timeout = frontend.timeouts.tunnel.or(frontend.timeouts.client);
    let server_timeout = backend.timeouts.tunnel.or(backend.timeouts.server);
    let splice = SpliceMode {
        request: frontend.splice.request || backend.splice.request,
        response: frontend.splice.response || backend.splice.response,
    };
    let activity = Cell::new(Instant::now());
    let (mut client_r, mut client_w) = client.into_split();
    let (mut server_r, mut server_w) = server.into_split();
    let mut up_out = shard.buffers.take();
    // Server-to-client data goes through a response-sized buffer, as in HTTP.
    let mut down_out = shard.buffers.take_response();
    let (up_done, down_done) = {
        let up = Direction {
            timeouts: (client_timeout, server_timeout),
            reading: Side::Client,
            splice: splice.request,
        };
        let down = Direction {
            timeouts: (server_timeout, client_timeout),
            reading: Side::Server,
            splice: splice.response,
        };
        let up_buf = std::mem::take(up_out.buf_mut());
        let down_buf = std::mem::take(down_out.buf_mut());
        let mut up = pin!(pump(&mut client_r, &mut server_w, up_buf, up, &activity));
        let mut down = pin!(pump(
            &mut server_r,
            &mut client_w,
            down_buf,
            down,
            &activity
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

/// One direction of a relay.
#[derive(Clone, Copy)]
struct Direction {
    /// (read, write) timeouts.
    timeouts: (Option<Duration>, Option<Duration>),
    /// The side it reads from.
    reading: Side,
    /// Whether it moves bytes with splice(2).
    splice: bool,
}

struct PumpEnd {
    bytes: u64,
    error: Option<ProxyError>,
    buf: Option<Vec<u8>>,
}

/// The errors a pump reports, named from the side it reads.
struct PumpErrors {
    read_aborted: ProxyError,
    read_idle: ProxyError,
    write_aborted: ProxyError,
    write_idle: ProxyError,
}

impl PumpErrors {
    fn new(reading: Side) -> Self {
        let client = (
            ProxyError::ClientAborted(Phase::Data),
            ProxyError::ClientTimeout(Phase::Data),
        );
        let server = (
            ProxyError::ServerAborted(Phase::Data),
            ProxyError::ServerTimeout(Phase::Data),
        );
        let (read, write) = match reading {
            Side::Client => (client, server),
            Side::Server => (server, client),
        };
        Self {
            read_aborted: read.0,
            read_idle: read.1,
            write_aborted: write.0,
            write_idle: write.1,
        }
    }
}

impl PumpEnd {
    fn failed(bytes: u64, error: &ProxyError, buf: Option<Vec<u8>>) -> Self {
        Self {
            bytes,
            error: Some(error.clone()),
            buf,
        }
    }
}

/// Copies `from` → `to` until end of stream, then half-closes `to`.
async fn pump<R, W>(
    from: &mut R,
    to: &mut W,
    mut buf: Vec<u8>,
    direction: Direction,
    activity: &Cell<Instant>,
) -> PumpEnd
where
    R: CancelableAsyncReadRent + AsReadFd,
    W: AsyncWriteRent + AsWriteFd,
{
    let errors = PumpErrors::new(direction.reading);
    let (read_timeout, write_timeout) = direction.timeouts;
    if direction.splice {
        let mut end = pump_splice(from, to, direction.timeouts, activity, &errors).await;
        end.buf = Some(buf);
        return end;
    }
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
                return PumpEnd::failed(bytes, &errors.read_idle, Some(buf));
            }
            ReadOutcome::Failed(_) => {
                return PumpEnd::failed(bytes, &errors.read_aborted, Some(buf))
            }
        };
        activity.set(Instant::now());
        match within(write_timeout, to.write_all(buf.slice(0..n))).await {
            Some((Ok(_), slice)) => buf = slice.into_inner(),
            None => return PumpEnd::failed(bytes, &errors.write_idle, None),
            Some((Err(_), _)) => return PumpEnd::failed(bytes, &errors.write_aborted, None),
        }
        bytes += n as u64;
        activity.set(Instant::now());
    }
}

/// Bytes moved per splice call (the default pipe capacity).
const SPLICE_CHUNK: u32 = 65536;

/// Copies with splice(2): socket → pipe → socket, the bytes never entering user space.
/// io_uring runs splices in kernel worker threads, so this pays off only for bulk transfers;
/// `option splice-*` turns it on and bench/ measures it.
async fn pump_splice<R, W>(
    from: &mut R,
    to: &mut W,
    (read_timeout, write_timeout): (Option<Duration>, Option<Duration>),
    activity: &Cell<Instant>,
    errors: &PumpErrors,
) -> PumpEnd
where
    R: AsReadFd,
    W: AsyncWriteRent + AsWriteFd,
{
    let Ok((mut pipe_out, mut pipe_in)) = monoio::net::unix::new_pipe() else {
        return PumpEnd::failed(0, &errors.read_aborted, None);
    };
    let mut bytes = 0u64;
    loop {
        let moved = {
            let fill = pin!(from.splice_to_pipe(&mut pipe_in, SPLICE_CHUNK));
            // Never dropped while pending, so bytes it moves into the pipe are not lost.
            match unless_idle(fill, read_timeout, activity).await {
                Some(Ok(n)) => n,
                Some(Err(_)) => return PumpEnd::failed(bytes, &errors.read_aborted, None),
                None => return PumpEnd::failed(bytes, &errors.read_idle, None),
            }
        };
        if moved == 0 {
            let _ = to.shutdown().await;
            return PumpEnd {
                bytes,
                error: None,
                buf: None,
            };
        }
        activity.set(Instant::now());
        let mut left = moved;
        while left > 0 {
            let drain = pin!(to.splice_from_pipe(&mut pipe_out, left));
            match unless_idle(drain, write_timeout, activity).await {
                Some(Ok(n)) if n > 0 => left -= n,
                Some(_) => return PumpEnd::failed(bytes, &errors.write_aborted, None),
                None => return PumpEnd::failed(bytes, &errors.write_idle, None),
            }
            activity.set(Instant::now());
        }
        bytes += u64::from(moved);
    }
}

/// Serves one `mode tcp` client: balance, connect (with retries), relay, log.
pub async fn serve_tcp(conn: Connection, client: TcpStream) {
    let Connection {
        ref shard,
        ref snap,
        frontend,
        peer,
        local,
        ..
    } = conn;
    let fe = &snap.config.proxies[frontend];
    let started = Instant::now();
    // `tcp-request content` rules read (and keep) the client's first bytes; switching then
    // sees them too, as HAProxy's does after its inspection.
    let inspected = if fe.tcp_request.content.is_empty() {
        None
    } else {
        let rules = &fe.tcp_request.content;
        let delay = fe.tcp_request.inspect_delay;
        Some(inspect(&client, rules, delay, Take::Consume, (peer, local)).await)
    };
    let head: &[u8] = inspected.as_ref().map_or(b"", |i| i.bytes.as_slice());
    let rejected = inspected
        .as_ref()
        .is_some_and(|i| i.action == TcpAction::Reject);
    let chosen = if rejected {
        None
    } else {
        choose_backend(&snap.config, fe, &PayloadView::new(head, true, peer, local))
    };
    let mut record = LogRecord {
        extras: None,
        event: LogEvent::Tcp,
        frontend,
        backend: chosen,
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
        config: std::sync::Arc::clone(&snap.config),
        counters: snap.counters.clone(),
    };
    let logs = shard.logs(fe);
    if logs && fe.log_format == LogFormat::Default {
        shard.log(LogRecord {
            extras: None,
            event: LogEvent::Connect,
            ..record.clone()
        });
    }
    if rejected {
        // HAProxy's `tcp-request content reject`: a denied request, closed without a word.
        snap.shard_counters(shard.id).proxies[frontend]
            .denied_requests
            .incr();
        record.termination = *b"PR";
        finish(shard, fe.log_format, logs, record, started);
        return;
    }
    let Some(be) = chosen.and_then(|id| snap.config.proxies.get(id)) else {
        record.termination = *b"PC";
        finish(shard, fe.log_format, logs, record, started);
        return;
    };
    if be.mode == Mode::Http {
        // HAProxy 2.x upgrades the connection to HTTP: its requests go through the HTTP
        // path, each transaction logged as the frontend logs.
        let upgrade = Upgrade {
            backend: be.id,
            early: inspected.map_or(Vec::new(), |i| i.bytes),
        };
        Box::pin(serve_upgraded(conn, client, upgrade)).await;
        return;
    }
    // Its connection is never pooled either: only HTTP exchanges put connections back.
    // `balance rdp-cookie` hashes what inspection read (without it, nothing: round robin).
    let hash = super::hashkey::request_hash(be, &PayloadView::new(head, true, peer, local));
    let mut dispatch = Dispatch::fresh().hashed(hash).client(peer, local);
    let upstream = dispatch
        .connect(shard, snap, be, local.port(), &mut record.timers)
        .await;
    record.retries = dispatch.retries;
    let mut upstream = match upstream {
        Ok(u) => u,
        Err(e) => {
            record.termination = e.termination();
            finish(shard, fe.log_format, logs, record, started);
            return;
        }
    };
    // The bytes inspection read go first.
    let early = inspected.map_or(Vec::new(), |i| i.bytes);
    let early_len = early.len() as u64;
    if !early.is_empty() {
        let limit = be.timeouts.server;
        if !matches!(
            within(limit, upstream.stream.write_all(early)).await,
            Some((Ok(_), _))
        ) {
            record.termination = ProxyError::ServerAborted(Phase::Data).termination();
            finish(shard, fe.log_format, logs, record, started);
            return;
        }
    }
    record.server = Some(upstream.slot.server);
    let mine = snap.shard_counters(shard.id);
    let (counters, backend) = (
        &mine.servers[be.id][upstream.slot.server],
        &mine.proxies[be.id],
    );
    counters.sessions_total.incr();
    counters.sessions_current.rise(&counters.sessions_max);
    backend.sessions_total.incr();
    let mut end = relay(shard, client, upstream.stream, fe, be).await;
    end.bytes_in += early_len;
    counters.sessions_current.add(-1);
    counters.bytes_in.add(end.bytes_in);
    counters.bytes_out.add(end.bytes_out);
    mine.proxies[frontend].bytes_in.add(end.bytes_in);
    mine.proxies[frontend].bytes_out.add(end.bytes_out);
    record.bytes_out = end.bytes_out;
    if let Some(e) = end.error {
        record.termination = e.termination();
    }
    count_abort(record.termination, counters, backend);
    let ms = |t: i64| u64::try_from(t).unwrap_or(0) * 1000;
    let total = started.elapsed().as_micros() as u64;
    let (queue, connect) = (ms(record.timers.queue), ms(record.timers.connect));
    counters.times.record(queue, connect, None, total);
    backend.times.record(queue, connect, None, total);
    drop(upstream.slot);
    finish(shard, fe.log_format, logs, record, started);
}

fn finish(shard: &Shard, format: LogFormat, logs: bool, mut record: LogRecord, started: Instant) {
    if logs && format != LogFormat::Default {
        record.timers.total = started.elapsed().as_millis() as i64;
        shard.log(record);
    }
}
