//! The control thread: it owns the truth about servers and publishes every change as a new
//! `Snapshot` to each shard. Health checks, VRRP, the stats page and the admin socket grow
//! here; the shards never see this module, only the snapshots it sends.

pub mod admin;
pub mod health;
pub mod history;
pub mod passive;
pub mod plane;
pub mod run;
pub mod socket;
pub mod stats;
pub mod traffic;
pub mod vrrp;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shard_receives_each_published_snapshot() {
        let config = crate::config::load_sources(&[(
            "t".into(),
            "backend b\n server a 127.0.0.1:1\n".into(),
        )])
        .unwrap()
        .config;
        let first = Arc::new(Snapshot::initial(Arc::new(config), 1));
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..2).map(|_| crossbeam_channel::unbounded()).unzip();
        let mut publisher = Publisher::new(Arc::clone(&first), senders);
        let mut next = (*first).clone();
        next.generation = 2;
        publisher.publish(next);
        assert_eq!(publisher.current().generation, 2);
        for rx in &receivers {
            assert_eq!(rx.try_recv().unwrap().generation, 2);
        }
    }
}
