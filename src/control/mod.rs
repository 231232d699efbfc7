//! The control thread: it owns the truth about servers and publishes every change as a new
//! `Snapshot` to each shard. Health checks, VRRP, the stats page and the admin socket grow
//! here; the shards never see this module, only the snapshots it sends.

use std::sync::Arc;

use crossbeam_channel::Sender;

use crate::state::Snapshot;

/// Publishes snapshots to the shards.
pub struct Publisher {
    current: Arc<Snapshot>,
    shards: Vec<Sender<Arc<Snapshot>>>,
}

impl Publisher {
    /// A publisher whose shards start from `initial`.
    pub fn new(initial: Arc<Snapshot>, shards: Vec<Sender<Arc<Snapshot>>>) -> Self {
        Self {
            current: initial,
            shards,
        }
    }

    /// The snapshot in force.
    pub fn current(&self) -> &Arc<Snapshot> {
        &self.current
    }

    /// Sends `next` to every shard; its generation must be newer.
    pub fn publish(&mut self, next: Snapshot) {
        let next = Arc::new(next);
        for shard in &self.shards {
            // A shard that is gone (process shutting down) simply misses it.
            let _ = shard.send(Arc::clone(&next));
        }
        self.current = next;
    }
}
