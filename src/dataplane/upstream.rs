//! Getting a connection to a server: balance, wait for a slot, reuse or connect, retry.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;

use crate::config::{Balance, Proxy, SendProxy, ServerId};
use crate::state::counters::Gauge;
use crate::state::{BackendView, Snapshot, Timers};

use super::balance::{acquire_server, pick, BackendQueue, NoPick, Slot, Turn};
use super::deadline::Deadline;
use super::error::ProxyError;
use super::io::within;
use super::private::PrivateConns;
use super::proxyhdr::send_header;
use super::shard::Shard;

/// A connection to a server, ready for a request.
pub struct Upstream {
    /// The connection.
    pub stream: TcpStream,
    /// Whether it came from the idle pool.
    pub reused: bool,
    /// The server and its in-flight slot.
    pub slot: Slot,
    /// The address connected to (the pool key).
    pub addr: SocketAddr,
    /// The connection's socket deadline.
    pub deadline: Rc<Deadline>,
}

/// The state of one request's attempts to reach a server.
#[derive(Default)]
pub struct Dispatch {
    /// Failed connection attempts so far (HAProxy's retries).
    pub retries: u32,
    /// A server to retry on (no redispatch).
    again: Option<Slot>,
    /// A server to steer away from (after a redispatch).
    avoid: Option<ServerId>,
    /// Do not take idle connections (a reused one just failed).
    fresh_only: bool,
    /// Whether a queue wait was already measured.
    queued: bool,
    /// The request's balancing key under a hash-based `balance`.
    hash: Option<u32>,
    /// The client and the address it connected to, for a `send-proxy` server.
    client: Option<(SocketAddr, SocketAddr)>,
    /// The client's own server connections (PROXY header sent, or authenticated).
    private: Option<Box<PrivateConns>>,
    /// The server of an authenticated private connection was considered already.
    preference_seen: bool,
    /// The connection returned last is one of the client's private ones: its place among
    /// them.
    pub private_reused: Option<u64>,
}

impl Dispatch {
    /// For `mode tcp`: new connections only. An idle pooled connection was opened for HTTP
    /// and may carry a server's late bytes; a byte relay must start on a clean one.
    pub fn fresh() -> Self {
        Self {
            fresh_only: true,
            ..Self::default()
        }
    }

    /// Sends the first attempt to `slot`'s server (cookie persistence); retries balance.
    pub fn persisted(mut self, slot: Option<Slot>) -> Self {
        if slot.is_some() {
            self.again = slot;
            self.preference_seen = true;
        }
        self
    }

    /// For a client at `peer` connected to `local` (what a PROXY header tells a server).
    pub fn client(mut self, peer: SocketAddr, local: SocketAddr) -> Self {
        self.client = Some((peer, local));
        self
    }

    /// Lends the client's own server connections: a request takes the one to the server it
    /// is sent to, if there is one.
    pub fn private(mut self, conns: Option<Box<PrivateConns>>) -> Self {
        self.private = conns;
        self
    }

    /// Gives the client's own server connections back (those no request took).
    pub fn take_private(&mut self) -> Option<Box<PrivateConns>> {
        self.private.take()
    }

    /// Balances on `hash`, the request's key under a hash-based `balance` (`None`: no key).
    pub fn hashed(mut self, hash: Option<u32>) -> Self {
        self.hash = hash;
        self
    }

    /// After a reused connection failed before any response: next try on a new connection to
    /// the same server (not counted as a retry, as HAProxy does for idle connections).
    pub fn retry_fresh(&mut self, slot: Slot) {
        self.fresh_only = true;
        self.again = Some(slot);
    }

    /// Returns a connection to a server of `backend`, retrying as `retries` and
    /// `option redispatch` say.
    pub async fn connect(
        &mut self,
        shard: &Shard,
        snap: &Snapshot,
        backend: &Proxy,
        client_port: u16,
        timers: &mut Timers,
    ) -> Result<Upstream, ProxyError> {
        loop {
            let slot = match self.again.take().or_else(|| self.preferred(snap, backend)) {
                Some(slot) => slot,
                None => self.pick(shard, snap, backend, timers).await?,
            };
            let server = &backend.servers[slot.server];
            let addr = if server.addr.port_from_client {
                SocketAddr::new(server.addr.addr.ip(), client_port)
            } else {
                server.addr.addr
            };
            let counters = &snap.shard_counters(shard.id).servers[backend.id][slot.server];
            self.private_reused = None;
            if let (false, Some(own), Some(view)) = (
                self.fresh_only,
                self.private.as_mut(),
                snap.backend(backend.id),
            ) {
                if let Some(conn) = own.take(&view.shared, slot.server, addr) {
                    counters.reuses.incr();
                    if timers.connect < 0 {
                        timers.connect = 0;
                    }
                    self.private_reused = Some(conn.order);
                    return Ok(Upstream {
                        stream: conn.stream,
                        reused: true,
                        slot,
                        addr,
                        deadline: conn.deadline,
                    });
                }
            }
            // A connection that began with a PROXY header speaks for one client only.
            let proxied = server.send_proxy != SendProxy::Off;
            if !self.fresh_only && !proxied {
                if let Some((stream, deadline)) = shard.conns.take(addr) {
                    counters.reuses.incr();
                    if timers.connect < 0 {
                        timers.connect = 0;
                    }
                    return Ok(Upstream {
                        stream,
                        reused: true,
                        slot,
                        addr,
                        deadline,
                    });
                }
            }
            let started = Instant::now();
            // Boxed (as the sleeps below): new connections are the slow path, and their timer
            // state should not weigh on every request's future.
            let connected = match Box::pin(within(
                backend.timeouts.connect,
                TcpStream::connect_addr(addr),
            ))
            .await
            {
                Some(Ok(mut stream)) => {
                    let header = if proxied {
                        send_header(
                            &mut stream,
                            server.send_proxy,
                            self.client,
                            backend.timeouts.connect,
                        )
                        .await
                    } else {
                        Ok(())
                    };
                    header.map(|()| stream)
                }
                Some(Err(e)) => Err(e),
                None => Err(io::ErrorKind::TimedOut.into()),
            };
            let failure = match connected {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    if backend.extras.server_keepalive {
                        super::io::set_keepalive(&stream);
                    }
                    counters.connects.incr();
                    timers.connect = started.elapsed().as_millis() as i64;
                    return Ok(Upstream {
                        deadline: shard.deadlines.register(stream.as_raw_fd()),
                        stream,
                        reused: false,
                        slot,
                        addr,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => ProxyError::ConnectTimeout,
                Err(_) => ProxyError::ConnectFailed,
            };
            counters.connect_errors.incr();
            snap.shard_counters(shard.id).proxies[backend.id]
                .connect_errors
                .incr();
            if self.retries >= backend.retries {
                return Err(failure);
            }
            self.retries += 1;
            counters.retries.incr();
            snap.shard_counters(shard.id).proxies[backend.id]
                .retries
                .incr();
            // As HAProxy: a server that went down meanwhile is left at once, whatever the
            // redispatch interval says.
            let leave = |shard: &Shard| {
                backend.redispatch.is_some()
                    && shard.still_usable(snap, backend.id, slot.server) == Some(false)
            };
            let mut redispatch = redispatch_now(backend, self.retries) || leave(shard);
            if !redispatch && failure != ProxyError::ConnectTimeout {
                // HAProxy's turn-around: give a restarting server a moment, except after a
                // timeout, which already waited.
                let pause = backend
                    .timeouts
                    .connect
                    .map_or(Duration::from_secs(1), |t| t.min(Duration::from_secs(1)));
                Box::pin(monoio::time::sleep(pause)).await;
                redispatch = leave(shard);
            }
            if redispatch {
                counters.redispatches.incr();
                snap.shard_counters(shard.id).proxies[backend.id]
                    .redispatches
                    .incr();
                self.avoid = Some(slot.server);
            } else {
                self.again = Some(slot);
            }
        }
    }

    /// On the first attempt of a request not sent by persistence: the first server the
    /// client prefers (`PrivateConns::preferred`) that can take the request now.
    fn preferred(&mut self, snap: &Snapshot, backend: &Proxy) -> Option<Slot> {
        if std::mem::replace(&mut self.preference_seen, true)
            || matches!(backend.balance, Balance::Hash(_))
        {
            return None;
        }
        let view = snap.backend(backend.id)?;
        let mut servers = self.private.as_ref()?.preferred(&view.shared);
        servers.find_map(|server| acquire_server(backend, view, server))
    }

    /// A slot on a server of `backend`: at once if one is free and nobody on this shard
    /// waits before us, else after a wait in the shard's queue for the backend.
    async fn pick(
        &mut self,
        shard: &Shard,
        snap: &Snapshot,
        backend: &Proxy,
        timers: &mut Timers,
    ) -> Result<Slot, ProxyError> {
        let Some(view) = snap.backend(backend.id) else {
            return Err(ProxyError::NoServer);
        };
        let queue = shard.queues.of(&view.shared);
        if queue.is_empty() {
            match pick(
                backend,
                view,
                &mut shard.rng.borrow_mut(),
                self.avoid,
                self.hash,
            ) {
                Ok(mut slot) => {
                    slot.hand_over_to(&queue);
                    self.measure_queue(timers, None);
                    return Ok(slot);
                }
                Err(NoPick::NoServer) => return Err(ProxyError::NoServer),
                Err(NoPick::Full) => {}
            }
        }
        // Boxed: queueing is the slow path, and its state should not weigh on every request.
        let _queued = InQueue::join(&snap.shard_counters(shard.id).proxies[backend.id].queued);
        Box::pin(self.wait_in_queue(shard, view, backend, queue, timers)).await
    }

    async fn wait_in_queue(
        &mut self,
        shard: &Shard,
        view: &BackendView,
        backend: &Proxy,
        queue: Rc<BackendQueue>,
        timers: &mut Timers,
    ) -> Result<Slot, ProxyError> {
        let since = Instant::now();
        let place = queue.join(since + queue_limit(backend));
        // Once queued, a server to avoid (after a redispatch) is only a preference: waiting
        // for the others while it is free would hold up everyone queued behind.
        let (avoid, hash) = (self.avoid, self.hash);
        let try_pick = || {
            let mut rng = shard.rng.borrow_mut();
            let picked = match pick(backend, view, &mut rng, avoid, hash) {
                Err(NoPick::Full) if avoid.is_some() => pick(backend, view, &mut rng, None, hash),
                picked => picked,
            };
            picked.map(|mut slot| {
                slot.hand_over_to(&queue);
                slot
            })
        };
        let outcome = loop {
            match place.turn().await {
                // A queued request takes whichever server frees first; the slot is kept only
                // if the server is still one to balance over.
                Turn::Granted(slot) => {
                    if view.candidates.contains(&(slot.server as u16)) {
                        break Ok(slot);
                    }
                    slot.release();
                    match try_pick() {
                        Ok(slot) => break Ok(slot),
                        Err(NoPick::NoServer) => break Err(ProxyError::NoServer),
                        Err(NoPick::Full) => place.rejoin_first(),
                    }
                }
                Turn::Retry => match try_pick() {
                    Ok(slot) => {
                        drop(place);
                        // Several slots may have freed on other shards: the next one tries too.
                        queue.nudge_oldest();
                        self.measure_queue(timers, Some(since));
                        return Ok(slot);
                    }
                    Err(NoPick::NoServer) => {
                        drop(place);
                        queue.nudge_oldest();
                        return Err(ProxyError::NoServer);
                    }
                    Err(NoPick::Full) => {}
                },
                Turn::Expired => {
                    timers.queue = since.elapsed().as_millis() as i64;
                    return Err(ProxyError::QueueTimeout);
                }
            }
        };
        drop(place);
        if outcome.is_ok() {
            self.measure_queue(timers, Some(since));
        }
        outcome
    }

    /// Records the first wait for a slot (`%Tw`); later picks (retries) do not count.
    fn measure_queue(&mut self, timers: &mut Timers, since: Option<Instant>) {
        if !self.queued {
            self.queued = true;
            timers.queue = since.map_or(0, |t| t.elapsed().as_millis() as i64);
        }
    }
}

/// Counts a request in its backend's queue gauge (`qcur`) until dropped, however the wait
/// ends (a slot, a timeout, or the client leaving, which drops the waiting future).
struct InQueue<'a>(&'a Gauge);

impl<'a> InQueue<'a> {
    fn join(gauge: &'a Gauge) -> Self {
        gauge.add(1);
        Self(gauge)
    }
}

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        self.0.add(-1);
    }
}

/// How long a request may wait for a server slot when neither `timeout queue` nor
/// `timeout connect` is set. HAProxy would wait forever; ringlb bounds it (our choice) so a
/// stuck server cannot pile up requests without end.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(5);

/// HAProxy's rule: `timeout queue`, else `timeout connect`; else `DEFAULT_QUEUE_TIMEOUT`.
fn queue_limit(backend: &Proxy) -> Duration {
    backend
        .timeouts
        .queue_wait()
        .unwrap_or(DEFAULT_QUEUE_TIMEOUT)
}

/// `option redispatch [interval]`: whether retry number `retry` (1-based) goes elsewhere.
fn redispatch_now(backend: &Proxy, retry: u32) -> bool {
    match backend.redispatch {
        None => false,
        Some(p) if p > 0 => retry.is_multiple_of(p as u32),
        Some(n) => i64::from(retry) == i64::from(backend.retries) + 1 + i64::from(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_sources;

    fn backend(extra: &str) -> Proxy {
        let text = format!("backend b\n retries 3\n{extra}\n server a 127.0.0.1:1\n");
        load_sources(&[("t".into(), text)]).unwrap().config.proxies[0].clone()
    }

    #[test]
    fn redispatch_intervals() {
        let none = backend("");
        assert!(!(1..=3).any(|r| redispatch_now(&none, r)));
        let last = backend(" option redispatch");
        assert_eq!(
            (1..=3)
                .map(|r| redispatch_now(&last, r))
                .collect::<Vec<_>>(),
            vec![false, false, true]
        );
        let every = backend(" option redispatch 1");
        assert!((1..=3).all(|r| redispatch_now(&every, r)));
        let second = backend(" option redispatch 2");
        assert_eq!(
            (1..=3)
                .map(|r| redispatch_now(&second, r))
                .collect::<Vec<_>>(),
            vec![false, true, false]
        );
    }
}
