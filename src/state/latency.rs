//! Response-time histograms. Each shard records into histograms of its own (no sharing on
//! the request path) and ships what it recorded to the control thread about once a second;
//! the control thread keeps the totals by backend and server name, so they survive reloads.

use std::sync::Arc;

use hdrhistogram::Histogram;

use crate::config::{Config, ProxyId, ServerId};

/// A histogram of response times in microseconds.
pub type LatencyHistogram = Histogram<u32>;

/// Longest response time recorded exactly (100 s); longer ones count as this.
const MAX_MICROS: u64 = 100_000_000;

/// An empty histogram: 1 µs to 100 s at two significant digits (1% precision), about 10 KB.
pub fn new_histogram() -> LatencyHistogram {
    // The bounds are constants that hdrhistogram accepts; fall back to an auto-resizing
    // histogram rather than panic should that ever change.
    Histogram::new_with_bounds(1, MAX_MICROS, 2)
        .or_else(|_| Histogram::new(2))
        .unwrap_or_else(|_| unreachable_histogram())
}

#[cold]
fn unreachable_histogram() -> LatencyHistogram {
    // `Histogram::new(2)` only fails for more than five significant digits.
    match Histogram::new(1) {
        Ok(h) => h,
        Err(_) => std::process::abort(),
    }
}

/// What one shard recorded since its last delta, for one configuration.
#[derive(Debug)]
pub struct LatencyDelta {
    /// The configuration the ids belong to.
    pub config: Arc<Config>,
    /// (backend, server, response times).
    pub servers: Vec<(ProxyId, ServerId, LatencyHistogram)>,
}

/// A shard's own histograms, by backend and server, for the few configurations whose
/// requests it served lately (a reload leaves requests of the old one in flight for a
/// while: each keeps recording into its own table, without churn).
#[derive(Debug)]
pub struct ShardLatencies {
    /// Newest last.
    tables: Vec<Table>,
    /// Tables pushed out by newer configurations, not yet shipped.
    stale: Vec<LatencyDelta>,
}

/// The histograms of one configuration.
#[derive(Debug)]
struct Table {
    config: Arc<Config>,
    by_server: Vec<Vec<Option<LatencyHistogram>>>,
}

/// Configurations a shard records for at once.
const TABLES: usize = 4;

impl ShardLatencies {
    /// Empty, for `config`.
    pub fn new(config: Arc<Config>) -> Self {
        Self {
            tables: vec![Table::new(config)],
            stale: Vec::new(),
        }
    }

    /// Records one response of `server` of `backend` (ids of `config`), `micros` after the
    /// request went out.
    pub fn record(
        &mut self,
        config: &Arc<Config>,
        backend: ProxyId,
        server: ServerId,
        micros: u64,
    ) {
        let index = match self
            .tables
            .iter()
            .rposition(|t| Arc::ptr_eq(&t.config, config))
        {
            Some(i) => i,
            None => {
                if self.tables.len() == TABLES {
                    let mut oldest = self.tables.remove(0);
                    self.stale.extend(oldest.take());
                }
                self.tables.push(Table::new(Arc::clone(config)));
                self.tables.len() - 1
            }
        };
        let Some(slot) = self.tables[index]
            .by_server
            .get_mut(backend)
            .and_then(|list| list.get_mut(server))
        else {
            return;
        };
        slot.get_or_insert_with(new_histogram)
            .saturating_record(micros.clamp(1, MAX_MICROS));
    }

    /// Everything recorded since the last call; the histograms start again from zero.
    pub fn take(&mut self) -> Vec<LatencyDelta> {
        let mut out = std::mem::take(&mut self.stale);
        out.extend(self.tables.iter_mut().filter_map(Table::take));
        out
    }
}

impl Table {
    fn new(config: Arc<Config>) -> Self {
        let by_server = shape(&config);
        Self { config, by_server }
    }

    fn take(&mut self) -> Option<LatencyDelta> {
        let servers: Vec<_> = self
            .by_server
            .iter_mut()
            .enumerate()
            .flat_map(|(b, list)| {
                list.iter_mut().enumerate().filter_map(move |(s, slot)| {
                    let h = slot.as_mut().filter(|h| !h.is_empty())?;
                    let sent = h.clone();
                    h.reset();
                    Some((b, s, sent))
                })
            })
            .collect();
        (!servers.is_empty()).then(|| LatencyDelta {
            config: Arc::clone(&self.config),
            servers,
        })
    }
}

fn shape(config: &Config) -> Vec<Vec<Option<LatencyHistogram>>> {
    config
        .proxies
        .iter()
        .map(|p| p.servers.iter().map(|_| None).collect())
        .collect()
}

/// The control thread's totals, by backend name and server name.
#[derive(Debug, Default)]
pub struct LatencyTotals {
    by_name: std::collections::HashMap<(String, String), LatencyHistogram>,
}

impl LatencyTotals {
    /// Adds a shard's delta.
    pub fn merge(&mut self, delta: &LatencyDelta) {
        for (b, s, h) in &delta.servers {
            let Some(backend) = delta.config.proxies.get(*b) else {
                continue;
            };
            let Some(server) = backend.servers.get(*s) else {
                continue;
            };
            let total = self
                .by_name
                .entry((backend.name.clone(), server.name.clone()))
                .or_insert_with(new_histogram);
            // Same bounds on both sides; a value out of range is dropped, never a panic.
            let _ = total.add(h);
        }
    }

    /// One server's histogram.
    pub fn server(&self, backend: &str, server: &str) -> Option<&LatencyHistogram> {
        self.by_name.get(&(backend.to_string(), server.to_string()))
    }

    /// A backend's histogram: all its servers together.
    pub fn backend(&self, backend: &str) -> LatencyHistogram {
        let mut all = new_histogram();
        for ((b, _), h) in &self.by_name {
            if b == backend {
                let _ = all.add(h);
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Arc<Config> {
        Arc::new(
            crate::config::load_sources(&[("t".into(), text.into())])
                .unwrap()
                .config,
        )
    }

    #[test]
    fn shards_record_and_the_totals_follow_names_across_reloads() {
        let first = config("backend b\n server a 127.0.0.1:1\n server c 127.0.0.1:2\n");
        let mut shard = ShardLatencies::new(Arc::clone(&first));
        for us in [100, 200, 300] {
            shard.record(&first, 0, 1, us);
        }
        // A reload that puts another server first: `c` is now server 1 of backend 1.
        let second = config("backend x\n server y 127.0.0.1:3\nbackend b\n server c 127.0.0.1:2\n");
        shard.record(&second, 1, 0, 10_000);
        // Requests of the first configuration still in flight record into its own table.
        shard.record(&first, 0, 1, 200);
        for _ in 0..TABLES {
            let other = config("backend b\n server c 127.0.0.1:2\n");
            shard.record(&other, 0, 0, 1);
        }
        let mut totals = LatencyTotals::default();
        for delta in shard.take() {
            totals.merge(&delta);
        }
        let c = totals.server("b", "c").unwrap();
        assert_eq!(
            c.len(),
            5 + TABLES as u64,
            "nothing lost when tables are pushed out"
        );
        assert_eq!((c.min(), c.value_at_quantile(0.5)), (1, 100));
        assert!(c.max() >= 9_900);
        assert!(totals.server("b", "a").is_none());
        assert_eq!(totals.backend("b").len(), 5 + TABLES as u64);
        assert!(shard.take().is_empty(), "taken once");
    }
}
