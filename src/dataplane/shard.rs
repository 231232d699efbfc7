//! One shard's state: its snapshot, pools, listeners and limits, and each client
//! connection's place on it. Everything here is used from the shard's own thread only; the
//! accept loops that fill it are in `accept.rs`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use crossbeam_utils::CachePadded;

use crate::config::errorpage::ERROR_CODES;
use crate::config::{Config, Proxy, ProxyId, ServerId};
use crate::state::{
    CaptureSender, CapturedError, LatencyDelta, LogRecord, ShardCounters, ShardLatencies, Snapshot,
};

use super::balance::Queues;
use super::deadline::Deadlines;
use super::pool::{BufferPool, ConnPool};

/// What a shard is given when it starts.
pub struct ShardSetup {
    /// Shard number (0-based).
    pub id: usize,
    /// The snapshot in force at start.
    pub snapshot: Arc<Snapshot>,
    /// Newer snapshots from the control thread.
    pub updates: Receiver<Arc<Snapshot>>,
    /// Where log records go (none when no proxy logs).
    pub logs: Option<Sender<LogRecord>>,
    /// Where response-time histograms go, about once a second.
    pub latencies: Sender<LatencyDelta>,
    /// Where captures of rejected requests and responses go (`show errors`).
    pub captures: CaptureSender,
    /// Client connections this shard may hold at once.
    pub max_conns: usize,
    /// Descriptors this shard's connections and idle server connections may use together.
    pub fd_budget: usize,
    /// Descriptors one client connection may hold at once.
    pub fds_per_conn: usize,
    /// How many shards share the listeners (limits are split between them).
    pub shards: usize,
}

/// A shard's state, shared by its tasks through `Rc`.
pub struct Shard {
    /// Shard number.
    pub id: usize,
    // `Rc` around the `Arc` so that taking the snapshot per request is a local (non-atomic)
    // count, not a write to the cache line every shard shares.
    #[allow(clippy::redundant_allocation)]
    snapshot: RefCell<Rc<Arc<Snapshot>>>,
    updates: Receiver<Arc<Snapshot>>,
    /// Idle server connections.
    pub conns: ConnPool,
    /// I/O buffers.
    pub buffers: BufferPool,
    /// Socket deadlines (every timeout on the request path).
    pub deadlines: Deadlines,
    /// Randomness for `balance random`.
    pub rng: RefCell<fastrand::Rng>,
    /// Requests waiting for a server slot, per backend.
    pub queues: Queues,
    logs: Option<Sender<LogRecord>>,
    latencies: RefCell<ShardLatencies>,
    latency_out: Sender<LatencyDelta>,
    captures: CaptureSender,
    pages: RefCell<ErrorPages>,
    /// `http_auth` verdicts.
    pub credentials: RefCell<super::credentials::CredentialCache>,
    /// Client connections open on this shard.
    pub open_conns: Cell<usize>,
    /// Requests started on this shard, for `%rt`.
    requests_seen: Cell<u64>,
    /// A soft stop is under way.
    stopping: Cell<bool>,
    /// Client connections per frontend name on this shard, across reloads (a frontend's
    /// `maxconn` counts them all, whichever configuration accepted them).
    frontend_conns: RefCell<HashMap<String, Rc<Cell<i64>>>>,
    /// The listening sockets, to close at a soft stop or when their bind leaves the
    /// configuration.
    pub(super) listeners: RefCell<Vec<Listening>>,
    max_conns: usize,
    fd_budget: usize,
    fds_per_conn: usize,
    shards: usize,
}

impl Shard {
    /// Builds the shard state.
    pub fn new(setup: ShardSetup) -> Rc<Self> {
        let bufsize = setup.snapshot.config.global.bufsize;
        let pages = RefCell::new(ErrorPages::copy(&setup.snapshot.config));
        let latencies = RefCell::new(ShardLatencies::new(Arc::clone(&setup.snapshot.config)));
        let shard = Rc::new(Self {
            id: setup.id,
            snapshot: RefCell::new(Rc::new(setup.snapshot)),
            updates: setup.updates,
            conns: ConnPool::default(),
            buffers: BufferPool::new(bufsize, 1024),
            deadlines: Deadlines::default(),
            rng: RefCell::new(fastrand::Rng::new()),
            queues: Queues::default(),
            pages,
            credentials: RefCell::default(),
            logs: setup.logs,
            latencies,
            latency_out: setup.latencies,
            captures: setup.captures,
            open_conns: Cell::new(0),
            requests_seen: Cell::new(0),
            stopping: Cell::new(false),
            frontend_conns: RefCell::new(HashMap::new()),
            listeners: RefCell::new(Vec::new()),
            max_conns: setup.max_conns.max(1),
            fd_budget: setup.fd_budget,
            fds_per_conn: setup.fds_per_conn.max(1),
            shards: setup.shards.max(1),
        });
        shard.fit_pool();
        shard
    }

    /// Keeps the idle server pool within the descriptors that the open client connections
    /// leave over, each counted with everything it may hold at once. At `maxconn` only the
    /// spare part of the budget remains for idle connections, so accepting one more client
    /// can never run the process out of descriptors.
    fn fit_pool(&self) {
        let promised = self.open_conns.get() * self.fds_per_conn;
        self.conns
            .set_limit(self.fd_budget.saturating_sub(promised));
    }

    /// The newest snapshot (picks up any the control thread published).
    pub fn snapshot(&self) -> Rc<Arc<Snapshot>> {
        if let Some(newest) = self.updates.try_iter().last() {
            if !Arc::ptr_eq(&newest.config, &self.pages.borrow().config) {
                *self.pages.borrow_mut() = ErrorPages::copy(&newest.config);
            }
            self.conns
                .retain_addrs(|addr| usable_address(&newest, addr));
            if newest.stopping && !self.stopping.replace(true) {
                self.begin_stop();
            }
            *self.snapshot.borrow_mut() = Rc::new(newest);
        }
        Rc::clone(&self.snapshot.borrow())
    }

    /// Whether an idle connection to `server` of `backend` (at `addr`) may be pooled: the
    /// server is still one the balancer may pick (a snapshot that took it down may have come
    /// while the connection was in use).
    pub fn may_pool(
        &self,
        snap: &Snapshot,
        backend: &Proxy,
        server: ServerId,
        addr: SocketAddr,
    ) -> bool {
        if self.stopping() {
            return false;
        }
        match self.still_usable(snap, backend.id, server) {
            Some(usable) => usable,
            None => usable_address(&self.snapshot(), addr),
        }
    }

    /// Whether the newest snapshot still lets the balancer pick `server` of `backend` (ids
    /// of `snap`'s configuration); `None` when a reload brought another configuration.
    pub fn still_usable(
        &self,
        snap: &Snapshot,
        backend: ProxyId,
        server: ServerId,
    ) -> Option<bool> {
        let newest = self.snapshot();
        Arc::ptr_eq(&newest.config, &snap.config).then(|| {
            newest
                .backend(backend)
                .and_then(|view| view.servers.get(server))
                .is_some_and(|status| status.usable())
        })
    }

    /// Whether a soft stop is under way.
    pub fn stopping(&self) -> bool {
        self.stopping.get()
    }

    /// A number no other request of the process gets (HAProxy's `%rt`): this shard's count,
    /// interleaved with the other shards' so no counter is shared.
    pub fn next_request_number(&self) -> u64 {
        let n = self.requests_seen.get();
        self.requests_seen.set(n + 1);
        n * self.shards as u64 + self.id as u64
    }

    /// The soft-stop flag itself, for work that must see it change while it runs.
    pub fn stopping_flag(&self) -> &Cell<bool> {
        &self.stopping
    }

    /// A soft stop: no new connections (each accept loop ends and closes its listener),
    /// idle clients closed, requests in flight finished with `Connection: close`.
    fn begin_stop(&self) {
        for listening in self.listeners.borrow().iter() {
            listening.close();
        }
        self.deadlines.wake_idle();
        self.conns.retain_addrs(|_| false);
    }

    /// The error response `code` of `proxy` (an id of `config`), from this shard's own copy:
    /// the reference count it bumps is on a line no other shard writes, where the
    /// configuration's shared page would be bumped by every shard on every error.
    pub fn error_page(&self, config: &Arc<Config>, proxy: ProxyId, code: u16) -> Bytes {
        let pages = self.pages.borrow();
        if Arc::ptr_eq(&pages.config, config) {
            if let Some(page) = pages.get(proxy, code) {
                return page;
            }
        }
        // A code without a page of its own, or a transaction still under the configuration
        // before a reload: the shared page, rarely.
        match config.proxies.get(proxy) {
            Some(p) => p.errorpages.get(code),
            None => crate::config::errorpage::ErrorPages::default().get(code),
        }
    }

    /// Hands a record to the logger; dropped (never blocks) if the logger is behind.
    pub fn log(&self, record: LogRecord) {
        if let Some(logs) = &self.logs {
            if let Err(TrySendError::Full(_)) = logs.try_send(record) {
                // The logger thread is behind: losing a line beats stalling traffic.
            }
        }
    }

    /// The count of open client connections of the frontend named `name` on this shard.
    pub fn frontend_gauge(&self, name: &str) -> Rc<Cell<i64>> {
        Rc::clone(
            self.frontend_conns
                .borrow_mut()
                .entry(name.to_string())
                .or_default(),
        )
    }

    /// Client connections this shard may hold at once.
    pub fn max_conns(&self) -> usize {
        self.max_conns
    }

    /// How many shards share each listening address.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// Records a response of `server` of `backend` (ids of `config`) that came `micros`
    /// after its request went out.
    pub fn record_latency(
        &self,
        config: &Arc<Config>,
        backend: ProxyId,
        server: ServerId,
        micros: u64,
    ) {
        self.latencies
            .borrow_mut()
            .record(config, backend, server, micros);
    }

    /// Ships what the histograms recorded to the control thread. While its queue is full
    /// (it is behind) the shard keeps adding into its own histograms instead, so memory
    /// stays bounded and no sample is lost.
    pub fn ship_latencies(&self) {
        if self.latency_out.is_full() {
            return;
        }
        for delta in self.latencies.borrow_mut().take() {
            let _ = self.latency_out.try_send(delta);
        }
    }

    /// Hands a rejected message to the control thread for `show errors`; never waits.
    pub fn capture_error(&self, capture: CapturedError) {
        self.captures.send(capture);
    }

    /// Whether the control thread would take a capture now; if not, the event is counted
    /// and nothing is built.
    pub fn capture_wanted(&self) -> bool {
        if self.captures.is_full() {
            self.captures.count_dropped();
            return false;
        }
        true
    }

    /// Whether connections of `frontend` are logged (so records are worth building).
    pub fn logs(&self, frontend: &Proxy) -> bool {
        self.logs.is_some() && !frontend.log.is_empty()
    }
}

/// One listening socket of a shard: the bind it serves and whether it should still accept.
pub struct Listening {
    /// The frontend's name (ids change with a reload, names are what binds are kept by).
    pub frontend: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// The socket, owned by its accept loop.
    pub fd: RawFd,
    /// Cleared to end the accept loop.
    pub open: Rc<Cell<bool>>,
}

impl Listening {
    /// Ends its accept loop: no new connections; sessions already accepted go on.
    pub fn close(&self) {
        if self.open.replace(false) {
            // SAFETY: the accept loop that owns `fd` is still running (it removes its entry
            // before it drops the listener); shutting a listener down ends its pending accept.
            unsafe {
                libc::shutdown(self.fd, libc::SHUT_RD);
            }
        }
    }
}

/// Whether some server that `snapshot` lets the balancer pick lives at `addr` (a server
/// without a port of its own matches any port of its address).
fn usable_address(snapshot: &Snapshot, addr: SocketAddr) -> bool {
    snapshot.config.proxies.iter().any(|p| {
        snapshot.backend(p.id).is_some_and(|view| {
            p.servers.iter().zip(&view.servers).any(|(s, status)| {
                status.usable()
                    && if s.addr.port_from_client {
                        s.addr.addr.ip() == addr.ip()
                    } else {
                        s.addr.addr == addr
                    }
            })
        })
    })
}

/// A shard's deep copy of every proxy's error pages, for one configuration.
struct ErrorPages {
    /// The configuration copied (identity only).
    config: Arc<Config>,
    /// By `ProxyId`: (code, response) for every code `errorfile` accepts.
    pages: Vec<Vec<(u16, Bytes)>>,
}

impl ErrorPages {
    fn copy(config: &Arc<Config>) -> Self {
        let pages = config
            .proxies
            .iter()
            .map(|p| {
                ERROR_CODES
                    .iter()
                    .map(|&code| (code, Bytes::copy_from_slice(&p.errorpages.get(code))))
                    .collect()
            })
            .collect();
        Self {
            config: Arc::clone(config),
            pages,
        }
    }

    fn get(&self, proxy: ProxyId, code: u16) -> Option<Bytes> {
        let pages = self.pages.get(proxy)?;
        pages
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, page)| page.clone())
    }
}

/// A client connection's place on its shard, counted from accept until it is dropped.
pub struct Connection {
    /// The shard serving it.
    pub shard: Rc<Shard>,
    /// The snapshot it was accepted under (`frontend` is an id of its configuration).
    pub snap: Rc<Arc<Snapshot>>,
    /// The frontend it came in on.
    pub frontend: ProxyId,
    /// The client's address.
    pub peer: SocketAddr,
    /// The address the client connected to.
    pub local: SocketAddr,
    /// The counters its connection is counted in (those of the snapshot it was accepted
    /// under), so the count it adds is the count it takes back.
    counters: Arc<CachePadded<ShardCounters>>,
    /// Its frontend's connection count on this shard, across reloads.
    gauge: Rc<Cell<i64>>,
}

impl Connection {
    /// Counts a connection accepted under `snap` on `frontend`.
    pub fn open(
        shard: Rc<Shard>,
        snap: Rc<Arc<Snapshot>>,
        frontend: ProxyId,
        gauge: Rc<Cell<i64>>,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Self {
        gauge.set(gauge.get() + 1);
        // Counted before the task runs, so the accept loop's limit check sees it at once.
        let counters = Arc::clone(&snap.counters.shards[shard.id]);
        counters.proxies[frontend].conn_total.incr();
        let c = &counters.proxies[frontend];
        c.conn_current.rise(&c.conn_max);
        shard.open_conns.set(shard.open_conns.get() + 1);
        shard.fit_pool();
        Self {
            shard,
            snap,
            frontend,
            peer,
            local,
            counters,
            gauge,
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shard.open_conns.set(self.shard.open_conns.get() - 1);
        self.shard.fit_pool();
        self.counters.proxies[self.frontend].conn_current.add(-1);
        self.gauge.set(self.gauge.get() - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_sources;

    fn config(errorfile: &str) -> Arc<Config> {
        let text = format!(
            "defaults\n mode http\nbackend b\n{errorfile} server a 127.0.0.1:1\nfrontend f\n bind 127.0.0.1:1\n default_backend b\n"
        );
        Arc::new(load_sources(&[("t".into(), text)]).unwrap().config)
    }

    #[test]
    fn error_pages_are_the_shards_own_copies_and_follow_new_configs() {
        let first = config("");
        let (tx, rx) = crossbeam_channel::unbounded();
        let shard = Shard::new(ShardSetup {
            id: 0,
            snapshot: Arc::new(Snapshot::initial(Arc::clone(&first), 1)),
            updates: rx,
            logs: None,
            latencies: crossbeam_channel::bounded(1).0,
            captures: crate::state::capture::channel(1).0,
            max_conns: 1,
            fd_budget: 2,
            fds_per_conn: 2,
            shards: 1,
        });
        let shared = first.proxies[0].errorpages.get(503);
        let own = shard.error_page(&first, 0, 503);
        assert_eq!(own, shared);
        assert_ne!(
            own.as_ptr(),
            shared.as_ptr(),
            "a copy, not the shared bytes"
        );
        assert_eq!(
            own.as_ptr(),
            shard.error_page(&first, 0, 503).as_ptr(),
            "copied once"
        );
        // Codes without an errorfile slot still get a page.
        assert!(shard
            .error_page(&first, 0, 418)
            .starts_with(b"HTTP/1.1 418"));

        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/errors/503.http"
        );
        let second = config(&format!(" errorfile 503 {path}\n"));
        tx.send(Arc::new(Snapshot::initial(Arc::clone(&second), 1)))
            .unwrap();
        let _ = shard.snapshot();
        let page = shard.error_page(&second, 0, 503);
        assert_eq!(page, second.proxies[0].errorpages.get(503));
        assert_ne!(page, shared, "rebuilt for the new configuration");
        assert_ne!(
            page.as_ptr(),
            second.proxies[0].errorpages.get(503).as_ptr()
        );
        // A transaction still under the first configuration gets that configuration's page.
        assert_eq!(shard.error_page(&first, 0, 503), shared);
    }
}
