//! The immutable picture of the configuration and server states that shards balance over.
//!
//! The control thread builds a new `Snapshot` for every change and sends it to each shard;
//! a shard reads its current one without locks. What must outlive a snapshot (the
//! round-robin cursor, in-flight counts) lives in `BackendShared`, carried from one
//! snapshot to the next.

use std::sync::atomic::{AtomicU32, AtomicUsize};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use crate::config::{Balance, Config, ProxyId};

use super::counters::{CounterSet, ShardCounters};
use super::hashtable::HashTable;

/// A server's operational state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// Takes traffic.
    Up,
    /// Failed its health checks.
    Down,
    /// Put in maintenance (`disabled`, or by an operator).
    Maint,
}

/// What a shard needs to know about one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerStatus {
    /// Current state.
    pub state: ServerState,
    /// Current effective weight (0 = takes no new traffic).
    pub weight: u32,
}

impl ServerStatus {
    /// Whether the balancer may pick this server.
    pub fn usable(&self) -> bool {
        self.state == ServerState::Up && self.weight > 0
    }
}

/// Balancing state shared by every shard for one backend, across snapshots.
#[derive(Debug)]
pub struct BackendShared {
    /// Position in the round-robin schedule, one shared counter so that consecutive requests
    /// alternate servers whichever shard serves them.
    pub cursor: CachePadded<AtomicUsize>,
    /// Requests in flight per server, over all shards (leastconn, random, first, maxconn).
    pub inflight: Box<[CachePadded<AtomicU32>]>,
}

impl BackendShared {
    /// Fresh state for a backend with `servers` servers.
    pub fn new(servers: usize) -> Self {
        Self {
            cursor: CachePadded::new(AtomicUsize::new(0)),
            inflight: (0..servers)
                .map(|_| CachePadded::new(AtomicU32::new(0)))
                .collect(),
        }
    }
}

/// One backend as the balancer sees it.
#[derive(Debug, Clone)]
pub struct BackendView {
    /// Per-server status, indexed like the backend's `servers`.
    pub servers: Vec<ServerStatus>,
    /// Smooth weighted round-robin order over usable active servers.
    pub active_schedule: Arc<[u16]>,
    /// The same over usable backup servers (only the first one unless `allbackups`).
    pub backup_schedule: Arc<[u16]>,
    /// The servers the balancer may pick now (active ones, else backups), in declaration order.
    pub candidates: Arc<[u16]>,
    /// Whether in-flight counts must be kept for this backend.
    pub tracks_inflight: bool,
    /// The map or ring of a hash-balanced backend over the servers in use, built here once
    /// per snapshot so that a request only looks it up.
    pub hash: Option<Arc<HashTable>>,
    /// Cross-shard balancing state.
    pub shared: Arc<BackendShared>,
}

impl BackendView {
    /// The schedule to balance over now: active servers, else backups.
    pub fn schedule(&self) -> &[u16] {
        if self.active_schedule.is_empty() {
            &self.backup_schedule
        } else {
            &self.active_schedule
        }
    }
}

/// Everything a shard balances over, immutable once built.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Increases with every snapshot the control thread publishes.
    pub generation: u64,
    /// The configuration in force.
    pub config: Arc<Config>,
    /// Indexed by `ProxyId`; `Some` for proxies that hold servers.
    pub backends: Vec<Option<BackendView>>,
    /// A soft stop is under way: close the listeners and idle connections, answer requests
    /// in flight with `Connection: close`.
    pub stopping: bool,
    /// The shards' counters, shaped like `config` (a reload brings a new set): work done
    /// under this snapshot is counted here, whatever snapshot comes next.
    pub counters: CounterSet,
}

impl Snapshot {
    /// The first snapshot of a configuration for `shards` shards: servers up unless
    /// `disabled`, counters at zero.
    pub fn initial(config: Arc<Config>, shards: usize) -> Self {
        let statuses = config
            .proxies
            .iter()
            .map(|p| {
                p.servers
                    .iter()
                    .map(|s| ServerStatus {
                        state: if s.starts_in_maint() {
                            ServerState::Maint
                        } else {
                            ServerState::Up
                        },
                        weight: s.weight,
                    })
                    .collect()
            })
            .collect();
        let shared = config
            .proxies
            .iter()
            .map(|p| Arc::new(BackendShared::new(p.servers.len())))
            .collect();
        // One block per shard, and one for the control thread's own listeners (the stats
        // page counts its clients as HAProxy does).
        let counters = CounterSet::new(&config, shards + 1);
        Self::build(1, config, statuses, shared, counters)
    }

    /// Builds a snapshot from per-proxy server statuses and shared state (both by `ProxyId`).
    pub fn build(
        generation: u64,
        config: Arc<Config>,
        statuses: Vec<Vec<ServerStatus>>,
        shared: Vec<Arc<BackendShared>>,
        counters: CounterSet,
    ) -> Self {
        let backends = config
            .proxies
            .iter()
            .zip(statuses)
            .zip(shared)
            .map(|((proxy, servers), shared)| {
                proxy.is_backend().then(|| {
                    let weights = |backup: bool| -> Vec<(u16, u32)> {
                        let mut picked: Vec<(u16, u32)> = proxy
                            .servers
                            .iter()
                            .zip(&servers)
                            .enumerate()
                            .filter(|(_, (s, st))| s.backup == backup && st.usable())
                            .map(|(i, (_, st))| (i as u16, st.weight))
                            .collect();
                        if backup && !proxy.allbackups {
                            picked.truncate(1);
                        }
                        picked
                    };
                    let tracks_inflight = !matches!(
                        proxy.balance,
                        Balance::RoundRobin | Balance::StaticRr | Balance::Hash(_)
                    ) || proxy.servers.iter().any(|s| s.maxconn > 0);
                    let active = weights(false);
                    let backup = weights(true);
                    let in_use = if active.is_empty() { &backup } else { &active };
                    let hash = matches!(proxy.balance, Balance::Hash(_))
                        .then(|| Arc::new(HashTable::build(proxy, in_use)));
                    BackendView {
                        hash,
                        candidates: in_use.iter().map(|&(i, _)| i).collect(),
                        active_schedule: smooth_wrr(&active).into(),
                        backup_schedule: smooth_wrr(&backup).into(),
                        servers,
                        tracks_inflight,
                        shared,
                    }
                })
            })
            .collect();
        Self {
            generation,
            config,
            backends,
            stopping: false,
            counters,
        }
    }

    /// The control thread's counters under this snapshot (the last block).
    pub fn control_counters(&self) -> Option<&ShardCounters> {
        self.counters.shards.last().map(|c| &***c)
    }

    /// Shard `shard`'s counters under this snapshot.
    pub fn shard_counters(&self, shard: usize) -> &ShardCounters {
        &self.counters.shards[shard]
    }

    /// The backend view of proxy `id`, if it holds servers.
    pub fn backend(&self, id: ProxyId) -> Option<&BackendView> {
        self.backends.get(id).and_then(Option::as_ref)
    }
}

/// The order smooth weighted round-robin (as in nginx) visits `(server, weight)` pairs over one
/// full cycle: interleaved, so a weight-3 server does not take three requests in a row.
pub fn smooth_wrr(servers: &[(u16, u32)]) -> Vec<u16> {
    let divisor = servers.iter().fold(0u32, |g, &(_, w)| gcd(g, w));
    if divisor == 0 {
        return Vec::new();
    }
    let weights: Vec<i64> = servers
        .iter()
        .map(|&(_, w)| i64::from(w / divisor))
        .collect();
    let total: i64 = weights.iter().sum();
    let mut current = vec![0i64; servers.len()];
    let mut order = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for i in 0..servers.len() {
            current[i] += weights[i];
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        order.push(servers[best].0);
    }
    order
}

/// The greatest common divisor, by which weights are divided (round robin, hash tables).
pub(super) fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_weights_alternate() {
        assert_eq!(smooth_wrr(&[(0, 1), (1, 1)]), vec![0, 1]);
        assert_eq!(smooth_wrr(&[(0, 5), (1, 5)]), vec![0, 1]);
    }

    #[test]
    fn unequal_weights_interleave() {
        assert_eq!(
            smooth_wrr(&[(0, 5), (1, 1), (2, 1)]),
            vec![0, 0, 1, 0, 2, 0, 0]
        );
        assert_eq!(smooth_wrr(&[(0, 2), (1, 1)]), vec![0, 1, 0]);
    }

    #[test]
    fn zero_weights_are_skipped() {
        assert_eq!(smooth_wrr(&[(0, 0), (1, 3)]), vec![1]);
        assert!(smooth_wrr(&[(0, 0)]).is_empty());
        assert!(smooth_wrr(&[]).is_empty());
    }
}
