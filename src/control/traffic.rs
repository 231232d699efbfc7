//! Maxima and per-second rates of the shards' counters (`smax`, `qmax`, `rate`,
//! `rate_max`, `req_rate`, `conn_rate` …): the control thread samples the summed gauges and
//! totals, so the shards pay nothing for them. Kept by name, so they survive reloads.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::plane::ControlPlane;

/// How often rates are computed: HAProxy's rates are events over the last second.
const RATE_PERIOD: Duration = Duration::from_secs(1);

/// Events per second of one total, and the highest seen.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rate {
    /// The total at the last computation.
    last_total: u64,
    /// Events per second over the last period.
    pub current: u64,
    /// The highest `current` so far.
    pub max: u64,
}

impl Rate {
    /// Takes the total at the end of a period; whether it moved.
    fn update(&mut self, total: u64, elapsed: Duration, first: bool) -> bool {
        let moved = total != self.last_total;
        if !first {
            let per_sec = total.saturating_sub(self.last_total) as f64 / elapsed.as_secs_f64();
            self.current = per_sec.round() as u64;
            self.max = self.max.max(self.current);
        }
        self.last_total = total;
        moved && !first
    }
}

/// What is sampled for one frontend or backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProxyTraffic {
    /// Highest `scur` seen.
    pub sessions_max: u64,
    /// Highest `qcur` seen (backend).
    pub queue_max: u64,
    /// Sessions per second: connections (frontend) or requests sent to a server (backend).
    pub session_rate: Rate,
    /// HTTP requests per second (frontend).
    pub request_rate: Rate,
    /// When a session last started, to the second (backend: `lastsess`).
    pub last_session: Option<Instant>,
}

/// What is sampled for one server.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerTraffic {
    /// Highest `scur` seen.
    pub sessions_max: u64,
    /// Requests sent to it per second.
    pub session_rate: Rate,
    /// When a request was last sent to it, to the second (`lastsess`).
    pub last_session: Option<Instant>,
}

/// The side of a proxy a figure is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Its clients: `frontend` or `listen`.
    Frontend,
    /// Its servers: `backend` or `listen`.
    Backend,
}

/// Sampled maxima and rates of every proxy and server, by name.
#[derive(Debug, Default)]
pub struct Traffic {
    /// By (side, name): a `listen` has a frontend side and a backend side, as in HAProxy's
    /// stats.
    proxies: HashMap<(Side, String), ProxyTraffic>,
    servers: HashMap<(String, String), ServerTraffic>,
    last_rates: Option<Instant>,
}

impl Traffic {
    /// Samples the gauges (every control tick) and, once a second, the rates.
    pub fn sample(&mut self, plane: &ControlPlane, now: Instant) {
        let rates = match self.last_rates {
            None => Some((Duration::ZERO, true)),
            Some(at) if now.saturating_duration_since(at) >= RATE_PERIOD => {
                Some((now.saturating_duration_since(at), false))
            }
            Some(_) => None,
        };
        if rates.is_some() {
            self.last_rates = Some(now);
        }
        let config = std::sync::Arc::clone(plane.config());
        let counters = plane.counters();
        let gauge = |v: i64| v.max(0) as u64;
        for proxy in &config.proxies {
            let total = |pick: fn(&crate::state::counters::ProxyCounters) -> u64| {
                plane.proxy_total(proxy.kind, &proxy.name, pick)
            };
            if proxy.is_frontend() {
                let entry = self
                    .proxies
                    .entry((Side::Frontend, proxy.name.clone()))
                    .or_default();
                let current = counters.proxy_sum(proxy.id, |c| gauge(c.conn_current.get()));
                entry.sessions_max = entry.sessions_max.max(current);
                if let Some((elapsed, first)) = rates {
                    entry
                        .session_rate
                        .update(total(|c| c.conn_total.get()), elapsed, first);
                    entry
                        .request_rate
                        .update(total(|c| c.requests_total.get()), elapsed, first);
                }
            }
            if !proxy.is_backend() {
                continue;
            }
            let mut current = 0;
            for (i, server) in proxy.servers.iter().enumerate() {
                let cur = counters.server_sum(proxy.id, i, |c| gauge(c.sessions_current.get()));
                current += cur;
                let s = self
                    .servers
                    .entry((proxy.name.clone(), server.name.clone()))
                    .or_default();
                s.sessions_max = s.sessions_max.max(cur);
                if let Some((elapsed, first)) = rates {
                    let total =
                        plane.server_total(&proxy.name, &server.name, |c| c.sessions_total.get());
                    if s.session_rate.update(total, elapsed, first) {
                        s.last_session = Some(now);
                    }
                }
            }
            let entry = self
                .proxies
                .entry((Side::Backend, proxy.name.clone()))
                .or_default();
            entry.sessions_max = entry.sessions_max.max(current);
            let queued = counters.proxy_sum(proxy.id, |c| gauge(c.queued.get()));
            entry.queue_max = entry.queue_max.max(queued);
            if let Some((elapsed, first)) = rates {
                if entry
                    .session_rate
                    .update(total(|c| c.sessions_total.get()), elapsed, first)
                {
                    entry.last_session = Some(now);
                }
            }
        }
    }

    /// A frontend's or backend's sampled figures (zeros if never sampled).
    pub fn proxy(&self, side: Side, name: &str) -> ProxyTraffic {
        self.proxies
            .get(&(side, name.to_string()))
            .copied()
            .unwrap_or_default()
    }

    /// A server's sampled figures (zeros if never sampled).
    pub fn server(&self, backend: &str, server: &str) -> ServerTraffic {
        self.servers
            .get(&(backend.to_string(), server.to_string()))
            .copied()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_events_over_the_elapsed_time_and_keep_their_maximum() {
        let mut r = Rate::default();
        r.update(100, Duration::ZERO, true);
        assert_eq!(r.current, 0, "the first sample only sets the base");
        r.update(300, Duration::from_secs(1), false);
        assert_eq!((r.current, r.max), (200, 200));
        r.update(350, Duration::from_millis(500), false);
        assert_eq!((r.current, r.max), (100, 200));
    }
}
