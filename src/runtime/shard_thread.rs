//! A shard's thread: pinned to its core, with its own monoio runtime (io_uring, or epoll when
//! io_uring is unavailable), its own listening sockets, and the shard's tasks.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::Sender;
use monoio::net::TcpListener;
use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};

use crate::dataplane::accept::ListenSpec;
use crate::dataplane::listener::bind_shared;
use crate::dataplane::{accept_loop, housekeeping, Shard, ShardSetup};

/// io_uring submission queue entries per shard.
const RING_ENTRIES: u32 = 4096;

/// Printed once per process, not once per shard.
static FALLBACK_LOGGED: AtomicBool = AtomicBool::new(false);

/// What a shard thread reports once it is serving, or why it could not start.
pub type Ready = Result<(usize, &'static str), String>;

/// Everything a shard thread needs.
pub struct ShardThread {
    /// The shard's state to build.
    pub setup: ShardSetup,
    /// The core to pin to, if any.
    pub core: Option<core_affinity::CoreId>,
    /// (frontend, address, listen backlog) of every listener to bind.
    pub binds: Vec<ListenSpec>,
    /// Where to report readiness.
    pub ready: Sender<Ready>,
}

/// Runs the shard until the process exits.
pub fn run(thread: ShardThread) {
    let ShardThread {
        setup,
        core,
        binds,
        ready,
    } = thread;
    let id = setup.id;
    if let Some(core) = core {
        if !core_affinity::set_for_current(core) {
            log::warn!("shard {id}: could not pin to core {}", core.id);
        }
    }
    // Completions are processed only when the shard waits (DEFER_TASKRUN), by the one thread
    // that owns the ring (SINGLE_ISSUER): no inter-processor interrupts to run task work.
    // Older kernels refuse these flags; then the plain ring.
    let mut tuned = io_uring::IoUring::builder();
    tuned
        .setup_coop_taskrun()
        .setup_single_issuer()
        .setup_defer_taskrun();
    let uring = RuntimeBuilder::<IoUringDriver>::new()
        .with_entries(RING_ENTRIES)
        .uring_builder(tuned)
        .enable_timer()
        .build()
        .or_else(|_| {
            RuntimeBuilder::<IoUringDriver>::new()
                .with_entries(RING_ENTRIES)
                .enable_timer()
                .build()
        });
    match uring {
        Ok(mut rt) => rt.block_on(serve(setup, binds, ready, "io_uring")),
        Err(e) => {
            if !FALLBACK_LOGGED.swap(true, Ordering::Relaxed) {
                log::warn!("io_uring unavailable ({e}): shards use the epoll driver instead");
            }
            match RuntimeBuilder::<LegacyDriver>::new().enable_timer().build() {
                Ok(mut rt) => rt.block_on(serve(setup, binds, ready, "epoll")),
                Err(e) => {
                    let _ = ready.send(Err(format!("shard {id}: cannot start a runtime: {e}")));
                }
            }
        }
    }
}

/// `driver` names the runtime's I/O driver, for the stats page.
async fn serve(
    setup: ShardSetup,
    binds: Vec<ListenSpec>,
    ready: Sender<Ready>,
    driver: &'static str,
) {
    let id = setup.id;
    let shard = Shard::new(setup);
    let mut listeners = Vec::with_capacity(binds.len());
    for ListenSpec {
        frontend,
        addr,
        backlog,
        v6only,
    } in binds
    {
        let bound = bind_shared(addr, backlog, v6only).and_then(TcpListener::from_std);
        match bound {
            Ok(listener) => listeners.push((frontend, listener)),
            Err(e) => {
                let name = &shard.snapshot().config.proxies[frontend].name;
                let _ = ready.send(Err(format!(
                    "Starting frontend {name}: cannot bind socket ({e}) [{addr}]"
                )));
                return;
            }
        }
    }
    for (frontend, listener) in listeners {
        let name = shard.snapshot().config.proxies[frontend].name.clone();
        monoio::spawn(accept_loop(Rc::clone(&shard), listener, name));
    }
    let _ = ready.send(Ok((id, driver)));
    housekeeping(shard).await;
}
