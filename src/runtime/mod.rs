//! The composition root: starts the logging thread and the pinned shards, then hands the
//! control plane its publisher. The only module that knows both planes.

pub mod limits;
pub mod logger;
pub mod shard_thread;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::Config;
use crate::control::Publisher;
use crate::dataplane::listener::ensure_free;
use crate::dataplane::ShardSetup;
use crate::state::Snapshot;

use shard_thread::{Ready, ShardThread};

/// Why ringlb could not start serving.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listening address is taken or invalid.
    #[error("Starting frontend {frontend}: cannot bind socket ({source}) [{addr}]")]
    Bind {
        /// The frontend's name.
        frontend: String,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A thread could not be created.
    #[error("cannot start thread: {0}")]
    Thread(#[from] std::io::Error),
    /// A shard failed while starting.
    #[error("{0}")]
    Shard(String),
    /// The pid file could not be written.
    #[error("cannot write pidfile '{path}': {source}")]
    Pidfile {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A started ringlb: shards serving, control plane ready to take over.
pub struct Running {
    /// Publishes snapshots to the shards.
    pub publisher: Publisher,
    /// Number of shards.
    pub shards: usize,
    /// Response-time histograms from the shards.
    pub latencies: crossbeam_channel::Receiver<crate::state::LatencyDelta>,
    /// Captures of rejected requests and responses from the shards.
    pub captures: crate::state::CaptureReceiver,
    /// Client connections allowed over the whole process.
    pub maxconn: u64,
    /// Each shard's I/O driver (`io_uring` or `epoll`), by shard id.
    pub drivers: Vec<&'static str>,
}

/// Starts everything `config` describes and returns once every shard is accepting.
pub fn start(config: Arc<Config>) -> Result<Running, StartError> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let shards = config.global.nbthread.unwrap_or(cores.len()).max(1);
    let binds = crate::dataplane::listen_addresses(&config);
    // Every shard binds every address itself.
    // Health checks hold one socket per checked server at most, on the control thread.
    let checks = crate::control::health::checked_servers(&config).len();
    let listeners = (binds.len() * shards + checks) as u64;
    let budget = limits::prepare(
        config.global.maxconn,
        limits::fds_per_conn(&config),
        listeners,
    );
    // SO_REUSEPORT would let a stale process share our ports silently: refuse instead.
    for &crate::dataplane::accept::ListenSpec { frontend, addr, .. } in &binds {
        ensure_free(addr).map_err(|source| StartError::Bind {
            frontend: config.proxies[frontend].name.clone(),
            addr,
            source,
        })?;
    }
    let initial = Arc::new(Snapshot::initial(Arc::clone(&config), shards));
    // Always started: a reload may turn logging on. Idle, it waits on its queue.
    let (logs, records) = crossbeam_channel::bounded(logger::queue_capacity(logger::QUEUE_BYTES));
    logger::spawn(records)?;
    let logs = Some(logs);
    // A few deltas per shard: a control thread that falls behind makes shards keep their
    // histograms (bounded) rather than queue copies of them.
    let (latency_tx, latency_rx) = crossbeam_channel::bounded(4 * shards);
    // Captures are rare and each holds up to a buffer: a few in flight suffice, since the
    // control thread keeps only the last per proxy and side anyway.
    let (capture_tx, capture_rx) = crate::state::capture::channel(4 * shards);
    let (ready_tx, ready_rx) = crossbeam_channel::unbounded::<Ready>();
    let mut senders = Vec::with_capacity(shards);
    for id in 0..shards {
        let (tx, rx) = crossbeam_channel::unbounded();
        senders.push(tx);
        let share = budget.share(id, shards);
        let thread = ShardThread {
            setup: ShardSetup {
                id,
                snapshot: Arc::clone(&initial),
                updates: rx,
                logs: logs.clone(),
                latencies: latency_tx.clone(),
                captures: capture_tx.clone(),
                max_conns: share.max_conns,
                fd_budget: share.fds,
                fds_per_conn: budget.fds_per_conn as usize,
                shards,
            },
            core: (!cores.is_empty()).then(|| cores[id % cores.len()]),
            binds: binds.clone(),
            ready: ready_tx.clone(),
        };
        std::thread::Builder::new()
            .name(format!("ringlb-shard-{id}"))
            .spawn(move || shard_thread::run(thread))?;
    }
    drop(ready_tx);
    let mut drivers = vec![""; shards];
    for _ in 0..shards {
        match ready_rx.recv() {
            Ok(Ok((id, driver))) => {
                if let Some(slot) = drivers.get_mut(id) {
                    *slot = driver;
                }
            }
            Ok(Err(message)) => return Err(StartError::Shard(message)),
            Err(_) => return Err(StartError::Shard("a shard stopped while starting".into())),
        }
    }
    if let Some(path) = &config.global.pidfile {
        std::fs::write(path, format!("{}\n", std::process::id())).map_err(|source| {
            StartError::Pidfile {
                path: path.clone(),
                source,
            }
        })?;
    }
    Ok(Running {
        publisher: Publisher::new(initial, senders),
        latencies: latency_rx,
        captures: capture_rx,
        shards,
        maxconn: budget.maxconn,
        drivers,
    })
}
