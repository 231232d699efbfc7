//! Passive health (`observe layer4|layer7`, `error-limit`, `on-error`): the control thread
//! reads each observed server's error and success counts every tick, and after
//! `error-limit` errors with no success among them acts as `on-error` says. The shards count
//! as they always do; nothing is added on the request path.

use std::sync::Arc;

use crate::config::{Config, Observe};
use crate::state::counters::ServerCounters;

use super::health::Change;
use super::plane::ControlPlane;

/// What was last read for one server.
#[derive(Debug, Clone, Copy, Default)]
struct Observed {
    errors: u64,
    successes: u64,
    /// Errors since the last success.
    consecutive: u64,
}

/// The observed servers' last readings, shaped like the configuration in force.
#[derive(Debug, Default)]
pub struct Passive {
    config: Option<Arc<Config>>,
    servers: Vec<Vec<Observed>>,
}

/// (errors, successes) of a server as `observe` counts them. Layer 4: failed connections
/// against connections made or reused. Layer 7 adds invalid responses and 5xx to the
/// errors, and counts responses below 500 as successes.
fn counts(how: Observe, c: &ServerCounters) -> (u64, u64) {
    match how {
        Observe::Layer4 => (c.connect_errors.get(), c.connects.get() + c.reuses.get()),
        Observe::Layer7 => (
            c.connect_errors.get() + c.response_errors.get() + c.status.classes[4].get(),
            c.status.classes[..4].iter().map(|n| n.get()).sum(),
        ),
    }
}

impl ControlPlane {
    /// Reads the observed servers' counts and acts on `error-limit` consecutive errors
    /// (every control tick).
    pub fn observe_traffic(&mut self) {
        let config = Arc::clone(self.config());
        let mut passive = std::mem::take(&mut self.passive);
        if !passive
            .config
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(c, &config))
        {
            // A new configuration counts in a new set: readings start over.
            passive.servers = config
                .proxies
                .iter()
                .map(|p| vec![Observed::default(); p.servers.len()])
                .collect();
            passive.config = Some(Arc::clone(&config));
            for (proxy, list) in config.proxies.iter().zip(passive.servers.iter_mut()) {
                for (id, seen) in list.iter_mut().enumerate() {
                    if let Some(how) = proxy.servers[id].check.observe {
                        (seen.errors, seen.successes) = self.read(how, proxy.id, id);
                    }
                }
            }
        }
        let mut acted = Vec::new();
        for proxy in &config.proxies {
            for (id, server) in proxy.servers.iter().enumerate() {
                let Some(how) = server.check.observe else {
                    continue;
                };
                let Some(seen) = passive
                    .servers
                    .get_mut(proxy.id)
                    .and_then(|l| l.get_mut(id))
                else {
                    continue;
                };
                let (errors, successes) = self.read(how, proxy.id, id);
                let new_errors = errors.saturating_sub(seen.errors);
                let new_successes = successes.saturating_sub(seen.successes);
                (seen.errors, seen.successes) = (errors, successes);
                // Within one tick the order is unknown: a success resets the run, so only
                // errors with no success between them add up (never a false alarm).
                seen.consecutive = if new_successes > 0 {
                    0
                } else {
                    seen.consecutive + new_errors
                };
                let limit = u64::from(server.check.error_limit.max(1));
                if seen.consecutive >= limit {
                    acted.push((proxy.id, id, seen.consecutive));
                    seen.consecutive = 0;
                }
            }
        }
        self.passive = passive;
        for (proxy, server, errors) in acted {
            self.observed_errors(proxy, server, errors);
        }
    }

    /// One server's counts as `observe` sees them, over every shard.
    fn read(&self, how: Observe, proxy: usize, server: usize) -> (u64, u64) {
        self.counters()
            .shards
            .iter()
            .filter_map(|s| s.servers.get(proxy)?.get(server))
            .map(|c| counts(how, c))
            .fold((0, 0), |(e, s), (de, ds)| (e + de, s + ds))
    }

    /// Applies `on-error` to a server passive health caught failing; logs and publishes a
    /// change of state as a check would.
    fn observed_errors(&mut self, proxy: usize, server: usize, errors: u64) {
        let Some(action) = self
            .config()
            .proxies
            .get(proxy)
            .and_then(|p| p.servers.get(server))
            .map(|s| s.check.on_error)
        else {
            return;
        };
        let Some(record) = self.servers.get_mut(proxy).and_then(|l| l.get_mut(server)) else {
            return;
        };
        if record.maint || record.admin.checks_off {
            return;
        }
        let Some(check) = record.check.as_mut() else {
            return;
        };
        match check.observed_errors(action, errors) {
            Change::WentDown => {
                self.publish();
                self.log_transition(proxy, server, false);
            }
            Change::WentUp | Change::Moved | Change::None => {}
        }
    }
}
