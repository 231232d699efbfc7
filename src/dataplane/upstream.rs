//! Getting a connection to a server: balance, wait for a slot, reuse or connect, retry.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;

use crate::config::{Proxy, ServerId};
use crate::state::{Snapshot, Timers};

use super::balance::{pick, NoPick, Slot};
use super::deadline::Deadline;
use super::error::ProxyError;
use super::io::within;
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

/// How often the queue re-tries to find a free server slot.
const QUEUE_POLL: Duration = Duration::from_millis(1);

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
}

impl Dispatch {
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
            let slot = match self.again.take() {
                Some(slot) => slot,
                None => self.pick(shard, snap, backend, timers).await?,
            };
            let server = &backend.servers[slot.server];
            let addr = if server.addr.port_from_client {
                SocketAddr::new(server.addr.addr.ip(), client_port)
            } else {
                server.addr.addr
            };
            let counters = &shard.counters.servers[backend.id][slot.server];
            if !self.fresh_only {
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
            let failure = match Box::pin(within(
                backend.timeouts.connect,
                TcpStream::connect_addr(addr),
            ))
            .await
            {
                Some(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
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
                Some(Err(e)) if e.kind() == io::ErrorKind::TimedOut => ProxyError::ConnectTimeout,
                Some(Err(_)) => ProxyError::ConnectFailed,
                None => ProxyError::ConnectTimeout,
            };
            counters.connect_errors.incr();
            shard.counters.proxies[backend.id].connect_errors.incr();
            if self.retries >= backend.retries {
                return Err(failure);
            }
            self.retries += 1;
            counters.retries.incr();
            shard.counters.proxies[backend.id].retries.incr();
            if redispatch_now(backend, self.retries) {
                counters.redispatches.incr();
                shard.counters.proxies[backend.id].redispatches.incr();
                self.avoid = Some(slot.server);
            } else {
                // HAProxy's turn-around: give a restarting server a moment, except after a
                // timeout, which already waited.
                if failure != ProxyError::ConnectTimeout {
                    let pause = backend
                        .timeouts
                        .connect
                        .map_or(Duration::from_secs(1), |t| t.min(Duration::from_secs(1)));
                    Box::pin(monoio::time::sleep(pause)).await;
                }
                self.again = Some(slot);
            }
        }
    }

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
        let mut queued_since: Option<Instant> = None;
        loop {
            let picked = pick(backend, view, &mut shard.rng.borrow_mut(), self.avoid);
            match picked {
                Ok(slot) => {
                    if !self.queued {
                        self.queued = true;
                        timers.queue = queued_since.map_or(0, |t| t.elapsed().as_millis() as i64);
                    }
                    return Ok(slot);
                }
                Err(NoPick::NoServer) => return Err(ProxyError::NoServer),
                Err(NoPick::Full) => {
                    let since = *queued_since.get_or_insert_with(Instant::now);
                    if backend
                        .timeouts
                        .queue_wait()
                        .is_some_and(|limit| since.elapsed() >= limit)
                    {
                        timers.queue = since.elapsed().as_millis() as i64;
                        return Err(ProxyError::QueueTimeout);
                    }
                    Box::pin(monoio::time::sleep(QUEUE_POLL)).await;
                }
            }
        }
    }
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
