//! Maxima and per-second rates of the shards' counters (`smax`, `qmax`, `rate`,
//! `rate_max`, `req_rate`, `conn_rate` …): the control thread samples the summed gauges and
//! totals, so the shards pay nothing for them. Kept by name, so they survive reloads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Its clients: `frontend` or `listen`.
    Frontend,
    /// Its servers: `backend` or `listen`.
    Backend,
}

/// Sampled maxima and rates of every proxy and server of the configuration in force; they
/// follow proxies and servers by name across reloads.
#[derive(Debug, Default)]
pub struct Traffic {
    /// The configuration the vectors are shaped like.
    config: Option<Arc<Config>>,
    /// By `ProxyId`: the client side of frontends and listens.
    frontends: Vec<ProxyTraffic>,
    /// By `ProxyId`: the server side of backends and listens.
    backends: Vec<ProxyTraffic>,
    /// By `ProxyId`, then `ServerId`.
    servers: Vec<Vec<ServerTraffic>>,
    last_rates: Option<Instant>,
}

impl Traffic {
    /// Samples the gauges (every control tick) and, once a second, the rates. Cheap enough
    /// for every tick: index walks over the shards' counters, no allocation.
    pub fn sample(&mut self, plane: &ControlPlane, now: Instant) {
        self.follow(plane.config());
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
        let Some(config) = self.config.clone() else {
            return;
        };
        // Rates come from the totals of the configuration in force: a reload restarts them
        // (see `follow`), where summing every older configuration each second would not pay.
        let counters = plane.counters();
        let gauge = |v: i64| v.max(0) as u64;
        for proxy in &config.proxies {
            let id = proxy.id;
            if let Some(entry) = self.frontends.get_mut(id).filter(|_| proxy.is_frontend()) {
                let current = counters.proxy_sum(id, |c| gauge(c.conn_current.get()));
                entry.sessions_max = entry.sessions_max.max(current);
                if let Some((elapsed, first)) = rates {
                    let conns = counters.proxy_sum(id, |c| c.conn_total.get());
                    entry.session_rate.update(conns, elapsed, first);
                    let requests = counters.proxy_sum(id, |c| c.requests_total.get());
                    entry.request_rate.update(requests, elapsed, first);
                }
            }
            if !proxy.is_backend() {
                continue;
            }
            let mut current = 0;
            if let Some(list) = self.servers.get_mut(id) {
                for (i, s) in list.iter_mut().enumerate() {
                    let cur = counters.server_sum(id, i, |c| gauge(c.sessions_current.get()));
                    current += cur;
                    s.sessions_max = s.sessions_max.max(cur);
                    if let Some((elapsed, first)) = rates {
                        let total = counters.server_sum(id, i, |c| c.sessions_total.get());
                        if s.session_rate.update(total, elapsed, first) {
                            s.last_session = Some(now);
                        }
                    }
                }
            }
            if let Some(entry) = self.backends.get_mut(id) {
                entry.sessions_max = entry.sessions_max.max(current);
                let queued = counters.proxy_sum(id, |c| gauge(c.queued.get()));
                entry.queue_max = entry.queue_max.max(queued);
                if let Some((elapsed, first)) = rates {
                    let total = counters.proxy_sum(id, |c| c.sessions_total.get());
                    if entry.session_rate.update(total, elapsed, first) {
                        entry.last_session = Some(now);
                    }
                }
            }
        }
    }

    /// Reshapes the figures for `config` when it changed, carrying them over by name.
    fn follow(&mut self, config: &Arc<Config>) {
        if self.config.as_ref().is_some_and(|c| Arc::ptr_eq(c, config)) {
            return;
        }
        let n = config.proxies.len();
        let mut frontends = vec![ProxyTraffic::default(); n];
        let mut backends = vec![ProxyTraffic::default(); n];
        let mut servers: Vec<Vec<ServerTraffic>> = config
            .proxies
            .iter()
            .map(|p| vec![ServerTraffic::default(); p.servers.len()])
            .collect();
        if let Some(old) = &self.config {
            for proxy in &config.proxies {
                if let Some(o) = old.frontend(&proxy.name).filter(|_| proxy.is_frontend()) {
                    frontends[proxy.id] = self.frontends.get(o.id).copied().unwrap_or_default();
                }
                let Some(o) = old.backend(&proxy.name).filter(|_| proxy.is_backend()) else {
                    continue;
                };
                backends[proxy.id] = self.backends.get(o.id).copied().unwrap_or_default();
                for (i, server) in proxy.servers.iter().enumerate() {
                    let kept = o
                        .servers
                        .iter()
                        .position(|s| s.name == server.name)
                        .and_then(|j| self.servers.get(o.id)?.get(j));
                    if let Some(kept) = kept {
                        servers[proxy.id][i] = *kept;
                    }
                }
            }
        }
        self.frontends = frontends;
        self.backends = backends;
        self.servers = servers;
        self.config = Some(Arc::clone(config));
        // The new configuration counts in a new set: its first totals are a new base.
        self.last_rates = None;
    }

    /// A frontend's or backend's sampled figures (zeros if never sampled).
    pub fn proxy(&self, side: Side, name: &str) -> ProxyTraffic {
        let Some(config) = &self.config else {
            return ProxyTraffic::default();
        };
        let (found, list) = match side {
            Side::Frontend => (config.frontend(name), &self.frontends),
            Side::Backend => (config.backend(name), &self.backends),
        };
        found
            .and_then(|p| list.get(p.id))
            .copied()
            .unwrap_or_default()
    }

    /// A server's sampled figures (zeros if never sampled).
    pub fn server(&self, backend: &str, server: &str) -> ServerTraffic {
        let Some(config) = &self.config else {
            return ServerTraffic::default();
        };
        config
            .backend(backend)
            .and_then(|p| {
                let i = p.servers.iter().position(|s| s.name == server)?;
                self.servers.get(p.id)?.get(i)
            })
            .copied()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Arc<Config> {
        Arc::new(
            crate::config::load_sources(&[("t".into(), text.into())])
                .unwrap()
                .config,
        )
    }

    #[test]
    fn maxima_and_rates_follow_names_across_a_reload() {
        let (mut plane, _rx) = crate::control::plane::test_plane(
            "backend b\n server a 127.0.0.1:1\n server c 127.0.0.1:2\n",
        );
        let t0 = Instant::now();
        let c = |plane: &ControlPlane| {
            let snap = Arc::clone(plane.snapshot());
            let id = snap.config.proxies[0]
                .servers
                .iter()
                .position(|s| s.name == "c")
                .unwrap();
            (snap, id)
        };
        let (snap, id) = c(&plane);
        snap.counters.shards[0].servers[0][id]
            .sessions_current
            .add(3);
        snap.counters.shards[0].servers[0][id]
            .sessions_total
            .add(10);
        plane.sample_traffic(t0);
        snap.counters.shards[0].servers[0][id]
            .sessions_current
            .add(-3);
        snap.counters.shards[0].servers[0][id]
            .sessions_total
            .add(20);
        plane.sample_traffic(t0 + Duration::from_secs(1));
        let seen = plane.traffic().server("b", "c");
        assert_eq!(seen.sessions_max, 3);
        assert_eq!(seen.session_rate.current, 20);
        // The servers swap places: what was measured stays with the name.
        plane.reload(load(
            "backend b\n server c 127.0.0.1:2\n server a 127.0.0.1:1\n",
        ));
        plane.sample_traffic(t0 + Duration::from_secs(2));
        let kept = plane.traffic().server("b", "c");
        assert_eq!((kept.sessions_max, kept.session_rate.max), (3, 20));
        assert_eq!(plane.traffic().server("b", "a").sessions_max, 0);
        assert_eq!(plane.traffic().server("b", "gone").sessions_max, 0);
    }

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
