//! Per-shard pools: idle keep-alive connections to servers, and I/O buffers.
//!
//! Both are owned by one shard and used from its tasks only, so a `RefCell` is enough: no
//! lock, and no borrow is ever held across an await.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;

use super::deadline::{coarse_now, Deadline};
use super::http1::Outgoing;
use super::io::{check_idle, IdleCheck};

/// How long an idle server connection is kept (HAProxy's `pool-purge-delay`).
pub const IDLE_LIFETIME: Duration = Duration::from_secs(5);

/// Idle connections kept per server address and shard.
const MAX_IDLE_PER_SERVER: usize = 256;

struct Idle {
    stream: TcpStream,
    deadline: Rc<Deadline>,
    since: Instant,
}

/// Idle keep-alive connections to servers, oldest first per address.
pub struct ConnPool {
    idle: RefCell<HashMap<SocketAddr, VecDeque<Idle>>>,
    /// Idle connections held, over every address.
    count: Cell<usize>,
    /// How many may be held now: what the shard's descriptor budget leaves over.
    limit: Cell<usize>,
}

impl Default for ConnPool {
    fn default() -> Self {
        Self {
            idle: RefCell::new(HashMap::new()),
            count: Cell::new(0),
            limit: Cell::new(usize::MAX),
        }
    }
}

impl ConnPool {
    /// Takes the most recently used idle connection to `addr` that is still open and silent.
    /// Every candidate is checked, however briefly it was idle: a server may have written
    /// (a late byte, a 408, a close) at any moment, and such a connection must never carry
    /// another client's request.
    pub fn take(&self, addr: SocketAddr) -> Option<(TcpStream, Rc<Deadline>)> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(&addr)?;
        let mut found = None;
        while let Some(conn) = list.pop_back() {
            self.count.set(self.count.get() - 1);
            let age = coarse_now().saturating_duration_since(conn.since);
            if age < IDLE_LIFETIME && check_idle(&conn.stream) == IdleCheck::Open {
                found = Some((conn.stream, conn.deadline));
                break;
            }
        }
        if list.is_empty() {
            idle.remove(&addr);
        }
        found
    }

    /// Keeps `stream` (with its deadline) for reuse; closes it if a deadline of it fired.
    /// When the pool for `addr` or the shard's budget is full, the oldest idle connection
    /// makes room.
    pub fn put(&self, addr: SocketAddr, stream: TcpStream, deadline: Rc<Deadline>) {
        if deadline.fired() || self.limit.get() == 0 {
            return;
        }
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(addr).or_default();
        if list.len() >= MAX_IDLE_PER_SERVER {
            list.pop_front();
            self.count.set(self.count.get() - 1);
        }
        list.push_back(Idle {
            stream,
            deadline,
            since: coarse_now(),
        });
        self.count.set(self.count.get() + 1);
        drop(idle);
        self.trim();
    }

    /// Sets how many idle connections the shard's descriptor budget leaves room for, and
    /// closes the oldest ones beyond it.
    pub fn set_limit(&self, limit: usize) {
        self.limit.set(limit);
        self.trim();
    }

    fn trim(&self) {
        if self.count.get() <= self.limit.get() {
            return;
        }
        let mut idle = self.idle.borrow_mut();
        while self.count.get() > self.limit.get() {
            // Few addresses per shard: a scan of their oldest entries is cheap.
            let oldest = idle
                .iter()
                .filter_map(|(addr, list)| list.front().map(|c| (c.since, *addr)))
                .min();
            let Some((_, addr)) = oldest else { break };
            if let Some(list) = idle.get_mut(&addr) {
                list.pop_front();
                if list.is_empty() {
                    idle.remove(&addr);
                }
            }
            self.count.set(self.count.get() - 1);
        }
    }

    /// Closes connections idle for too long or closed by their server.
    pub fn purge(&self) {
        let mut idle = self.idle.borrow_mut();
        for list in idle.values_mut() {
            list.retain(|c| {
                coarse_now().saturating_duration_since(c.since) < IDLE_LIFETIME
                    && check_idle(&c.stream) == IdleCheck::Open
            });
        }
        idle.retain(|_, list| !list.is_empty());
        self.count.set(idle.values().map(VecDeque::len).sum());
    }

    /// Closes every idle connection to an address `keep` refuses (a server that went down or
    /// left the configuration): it must not be handed out, and it holds a descriptor.
    pub fn retain_addrs(&self, keep: impl Fn(SocketAddr) -> bool) {
        let mut idle = self.idle.borrow_mut();
        idle.retain(|&addr, _| keep(addr));
        self.count.set(idle.values().map(VecDeque::len).sum());
    }

    /// Number of idle connections (all servers).
    pub fn len(&self) -> usize {
        self.count.get()
    }

    /// Whether no connection is idle.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Size of the buffers responses are read into. Larger than the 16 KiB of a request buffer:
/// measured in bench/, reading responses 64 KiB at a time gives about 20% more throughput on
/// 1 MiB responses for the same CPU. Only transactions in flight hold one; idle connections
/// hold no buffer at all.
pub const RESPONSE_BUFFER: usize = 64 * 1024;

/// Reusable I/O buffers: `tune.bufsize` bytes for requests, `RESPONSE_BUFFER` bytes for
/// responses. Handed out only while a transfer is under way.
pub struct BufferPool {
    requests: RefCell<Vec<Outgoing>>,
    responses: RefCell<Vec<Outgoing>>,
    size: usize,
    response_size: usize,
    max_free: usize,
}

impl BufferPool {
    /// A pool of `size`-byte request buffers (and response buffers at least as large),
    /// keeping at most `max_free` spares of each kind.
    pub fn new(size: usize, max_free: usize) -> Self {
        Self {
            requests: RefCell::new(Vec::new()),
            responses: RefCell::new(Vec::new()),
            size,
            response_size: RESPONSE_BUFFER.max(size),
            max_free,
        }
    }

    /// The request buffer size (`tune.bufsize`), which also bounds any message head.
    pub fn size(&self) -> usize {
        self.size
    }

    /// An empty request buffer set.
    pub fn take(&self) -> Outgoing {
        self.requests.borrow_mut().pop().unwrap_or_else(|| {
            Outgoing::new(Vec::with_capacity(self.size), Vec::with_capacity(256))
        })
    }

    /// An empty response buffer set.
    pub fn take_response(&self) -> Outgoing {
        self.responses.borrow_mut().pop().unwrap_or_else(|| {
            Outgoing::new(
                Vec::with_capacity(self.response_size),
                Vec::with_capacity(256),
            )
        })
    }

    /// Gives a buffer set back, to the spares of its kind.
    pub fn give(&self, mut out: Outgoing) {
        let capacity = out.buf().capacity();
        let spares = if capacity == self.size {
            &self.requests
        } else if capacity == self.response_size {
            &self.responses
        } else {
            return;
        };
        out.buf_mut().clear();
        out.clear_extra();
        let mut spares = spares.borrow_mut();
        if spares.len() < self.max_free {
            spares.push(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::deadline::Deadlines;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    fn run<F: std::future::Future>(f: F) -> F::Output {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// Pools a new connection to `listener` and returns the server's end of it.
    async fn pooled(
        pool: &ConnPool,
        deadlines: &Deadlines,
        listener: &std::net::TcpListener,
    ) -> std::net::TcpStream {
        let addr = listener.local_addr().unwrap();
        let stream = TcpStream::connect_addr(addr).await.unwrap();
        let deadline = deadlines.register(stream.as_raw_fd());
        pool.put(addr, stream, deadline);
        listener.accept().unwrap().0
    }

    #[test]
    fn take_checks_even_a_connection_pooled_a_moment_ago() {
        run(async {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let (pool, deadlines) = (ConnPool::default(), Deadlines::default());
            let mut talkative = pooled(&pool, &deadlines, &listener).await;
            talkative
                .write_all(b"HTTP/1.1 408 Request Time-out\r\n\r\n")
                .unwrap();
            std::thread::sleep(Duration::from_millis(20));
            assert!(
                pool.take(addr).is_none(),
                "a server that wrote is not reused"
            );
            assert!(pool.is_empty());
            let closed = pooled(&pool, &deadlines, &listener).await;
            drop(closed);
            std::thread::sleep(Duration::from_millis(20));
            assert!(
                pool.take(addr).is_none(),
                "a server that closed is not reused"
            );
            let _quiet = pooled(&pool, &deadlines, &listener).await;
            assert!(pool.take(addr).is_some(), "a silent one is");
            assert!(pool.is_empty());
        });
    }

    #[test]
    fn the_descriptor_budget_closes_the_oldest_idle_connections_first() {
        run(async {
            let one = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let two = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let (pool, deadlines) = (ConnPool::default(), Deadlines::default());
            let mut servers = Vec::new();
            for listener in [&one, &two, &one] {
                servers.push(pooled(&pool, &deadlines, listener).await);
                // Advances the coarse clock, so each connection has its own age.
                std::thread::sleep(Duration::from_millis(2));
                deadlines.sweep();
            }
            assert_eq!(pool.len(), 3);
            pool.set_limit(2);
            assert_eq!(pool.len(), 2);
            let (addr_one, addr_two) = (one.local_addr().unwrap(), two.local_addr().unwrap());
            assert!(pool.take(addr_two).is_some(), "the newer one stayed");
            assert!(pool.take(addr_one).is_some());
            assert!(pool.take(addr_one).is_none(), "the oldest went first");
            pool.set_limit(0);
            let _s = pooled(&pool, &deadlines, &one).await;
            assert!(pool.is_empty(), "no room: closed at once");
        });
    }
}
