//! The control plane's record of every server (health, last check, admin state) and the
//! one place that turns a change into a new `Snapshot` for the shards.

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use crate::config::{Config, ProxyId, ProxyKind, ServerId};
use crate::state::counters::{ProxyCounters, ServerCounters};
use crossbeam_channel::Receiver;

use crate::state::{
    BackendShared, CaptureReceiver, CounterSet, ErrorCaptures, LatencyDelta, LatencyTotals,
    ServerState, ServerStatus, Snapshot,
};

use super::health::{Change, CheckResult, ServerCheck};
use super::history::StateHistory;
use super::traffic::Traffic;
use super::Publisher;

/// What an operator set on a server (stats page, admin socket); it survives reloads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdminState {
    /// Maintenance set (`Some(true)`) or lifted (`Some(false)`) by an operator; None: as
    /// the configuration says (`disabled`).
    pub maint: Option<bool>,
    /// Draining: up, but no new traffic.
    pub drain: bool,
    /// A weight set at run time, in place of the configured one.
    pub weight: Option<u32>,
    /// Health checks turned off: their results no longer count; the state stays.
    pub checks_off: bool,
    /// Put in maintenance at some point: HAProxy then zeroes the health of a server without
    /// checks for good (`show servers state`'s `srv_check_health`).
    pub was_maint: bool,
}

/// What the control plane knows about one server.
#[derive(Debug, Clone)]
pub struct ServerRecord {
    /// Its health checks, if it has any.
    pub check: Option<ServerCheck>,
    /// In maintenance (`disabled`, an operator's action, or no address).
    pub maint: bool,
    /// No address to reach it at (`init-addr none`) until an operator gives it one:
    /// HAProxy's `MAINT (resolution)`, which `enable server` does not end.
    pub unresolved: bool,
    /// Its weight: the configured one, or what an operator set.
    pub weight: u32,
    /// What operators set.
    pub admin: AdminState,
    /// When it last changed state, and its downtime.
    pub history: StateHistory,
}

impl ServerRecord {
    /// Whether the server counts as up: no checks, or checks that say so (turning checks
    /// off freezes the state they reached, as in HAProxy).
    pub fn is_up(&self) -> bool {
        !self.maint && self.check.as_ref().is_none_or(|c| c.health.is_up())
    }

    /// Up but drained by an operator. A weight of 0 also takes no new traffic, but HAProxy
    /// 2.6 reports such a server `UP` (or `no check`), not `DRAIN`.
    pub fn is_draining(&self) -> bool {
        self.is_up() && self.admin.drain
    }

    fn status(&self) -> ServerStatus {
        ServerStatus {
            state: if self.maint {
                ServerState::Maint
            } else if self.is_up() {
                ServerState::Up
            } else {
                ServerState::Down
            },
            weight: if self.admin.drain { 0 } else { self.weight },
        }
    }
}

/// Every server's record, and the publisher that tells the shards.
pub struct ControlPlane {
    publisher: Publisher,
    /// By `ProxyId`, then `ServerId`.
    pub(super) servers: Vec<Vec<ServerRecord>>,
    /// By `ProxyId`: whether each backend had a server up, and since when.
    backends: Vec<StateHistory>,
    /// A soft stop was asked for.
    stopping: bool,
    /// Counter sets of configurations replaced by reloads, with their configuration (to
    /// find counters by name), newest last.
    retired: Vec<(Arc<Config>, CounterSet)>,
    /// Totals of retired sets folded away, by name.
    carried: Carried,
    /// Response-time histograms as the shards ship them.
    latency_in: Receiver<LatencyDelta>,
    /// Their totals, by backend and server name.
    latencies: LatencyTotals,
    /// The last rejected request and response per proxy name (`show errors`).
    errors: ErrorCaptures,
    /// Sampled maxima and rates.
    traffic: Traffic,
    /// Passive health's last readings.
    pub(super) passive: super::passive::Passive,
    /// When the control plane started.
    started: Instant,
    /// Each shard's I/O driver.
    drivers: Vec<&'static str>,
    /// The process-wide connection limit.
    maxconn: Option<u64>,
    /// Reloads applied.
    reloads: u64,
    /// The VRRP instances as last seen (the control loop copies them every tick).
    pub vrrp: Vec<super::vrrp::runner::VrrpStatus>,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// The generation of the snapshot that carries the new configuration.
    pub generation: u64,
    /// Settings that only a restart applies (`nbthread`, …), in words.
    pub needs_restart: Vec<String>,
}

impl ControlPlane {
    /// Takes over from the snapshot the shards started with; the shards' response-time
    /// histograms arrive on `latency_in`, their captures of rejected messages on `captures`.
    pub fn new(
        publisher: Publisher,
        latency_in: Receiver<LatencyDelta>,
        captures: CaptureReceiver,
    ) -> Self {
        let servers = records(&publisher.current().config);
        let backends = backend_histories(&servers, Instant::now());
        Self {
            publisher,
            servers,
            backends,
            stopping: false,
            retired: Vec::new(),
            carried: Carried::default(),
            latency_in,
            latencies: LatencyTotals::default(),
            errors: ErrorCaptures::new(captures),
            traffic: Traffic::default(),
            passive: super::passive::Passive::default(),
            started: Instant::now(),
            drivers: Vec::new(),
            maxconn: None,
            reloads: 0,
            vrrp: Vec::new(),
        }
    }

    /// Adds the histograms the shards shipped since the last call.
    pub fn collect_latencies(&mut self) {
        for delta in self.latency_in.try_iter() {
            self.latencies.merge(&delta);
        }
    }

    /// Keeps the captures of rejected messages the shards sent since the last call.
    pub fn collect_errors(&mut self) {
        self.errors.collect();
    }

    /// The last rejected request and response per proxy.
    pub fn errors(&self) -> &ErrorCaptures {
        &self.errors
    }

    /// Notes what the runtime started: each shard's I/O driver and the connection limit.
    pub fn set_process(&mut self, drivers: Vec<&'static str>, maxconn: u64) {
        self.drivers = drivers;
        self.maxconn = Some(maxconn);
    }

    /// When the control plane started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Each shard's I/O driver (`io_uring` or `epoll`).
    pub fn drivers(&self) -> &[&'static str] {
        &self.drivers
    }

    /// The process-wide connection limit, once known.
    pub fn maxconn(&self) -> Option<u64> {
        self.maxconn
    }

    /// Reloads applied since start.
    pub fn reloads(&self) -> u64 {
        self.reloads
    }

    /// Samples the counters' maxima and rates (every control tick).
    pub fn sample_traffic(&mut self, now: Instant) {
        let mut traffic = std::mem::take(&mut self.traffic);
        traffic.sample(self, now);
        self.traffic = traffic;
    }

    /// Sampled maxima and rates, by name.
    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    /// Response-time totals by backend and server name.
    pub fn latencies(&self) -> &LatencyTotals {
        &self.latencies
    }

    /// Puts `config` in force (a reload): servers that kept their backend and name keep
    /// their health, last check and failure count; new servers start as at startup; the
    /// shards get one snapshot with the new configuration and fresh counters.
    pub fn reload(&mut self, config: Arc<Config>) -> Reloaded {
        let old = Arc::clone(self.config());
        let needs_restart = restart_only_changes(&old, &config);
        let mut servers = records(&config);
        for (proxy, list) in config.proxies.iter().zip(servers.iter_mut()) {
            let Some(old_proxy) = old.backend(&proxy.name) else {
                continue;
            };
            for (id, (server, record)) in proxy.servers.iter().zip(list.iter_mut()).enumerate() {
                let Some(old_id) = old_proxy.servers.iter().position(|s| s.name == server.name)
                else {
                    continue;
                };
                let previous = &self.servers[old_proxy.id][old_id];
                record.history = previous.history.clone();
                record.admin = previous.admin;
                record.maint = previous.admin.maint.unwrap_or(server.disabled) || server.no_address;
                record.weight = previous.admin.weight.unwrap_or(server.weight);
                // Only a server still checked at the same place keeps what its checks found.
                let same_target = super::health::probe_spec(&old, old_proxy.id, old_id)
                    .map(|s| s.target)
                    == super::health::probe_spec(&config, proxy.id, id).map(|s| s.target);
                if let (Some(check), Some(before), true) =
                    (record.check.as_mut(), &previous.check, same_target)
                {
                    check.health = before.health.rescaled(server.check.rise, server.check.fall);
                    check.last = before.last.clone();
                    check.failures = before.failures;
                }
            }
        }
        let current = self.publisher.current();
        // Balancing state (the round-robin cursor, in-flight counts) carries over where the
        // backend's servers are the same, in the same order.
        let shared = config
            .proxies
            .iter()
            .map(|proxy| {
                let same = old.backend(&proxy.name).filter(|p| {
                    p.servers.len() == proxy.servers.len()
                        && p.servers
                            .iter()
                            .zip(&proxy.servers)
                            .all(|(a, b)| a.name == b.name)
                });
                match same.and_then(|p| current.backend(p.id)) {
                    Some(view) => Arc::clone(&view.shared),
                    None => Arc::new(BackendShared::new(proxy.servers.len())),
                }
            })
            .collect();
        let counters = CounterSet::new(&config, current.counters.shards.len());
        self.retired
            .push((Arc::clone(&current.config), current.counters.clone()));
        // Sets nobody counts in any more (no connection of theirs is open, so no shard
        // writes there) are folded into totals by name at once: every read of the totals
        // walks the sets, so few of them keep the stats page cheap. A long-lived connection
        // keeps its set (a soft stop must still wait for it).
        let (idle, busy): (Vec<_>, Vec<_>) = std::mem::take(&mut self.retired)
            .into_iter()
            .partition(|(_, set)| open_in(set) == 0);
        for (config, set) in idle {
            self.carried.fold(&config, &set);
        }
        self.retired = busy;
        let mut backends = backend_histories(&servers, Instant::now());
        for (proxy, history) in config.proxies.iter().zip(backends.iter_mut()) {
            if let Some(old_proxy) = old.backend(&proxy.name) {
                *history = self.backends[old_proxy.id].clone();
            }
        }
        self.servers = servers;
        self.backends = backends;
        self.reloads += 1;
        self.publish_with(config, shared, counters);
        Reloaded {
            generation: self.publisher.current().generation,
            needs_restart,
        }
    }

    /// Starts a soft stop: the shards close their listeners and idle connections.
    pub fn stop(&mut self) {
        if !self.stopping {
            self.stopping = true;
            self.publish();
        }
    }

    /// Client connections open over every shard and frontend (those accepted under an
    /// earlier configuration too).
    pub fn open_connections(&self) -> u64 {
        self.sets().map(|(_, set)| open_in(set)).sum()
    }

    /// One counter of the proxy of `kind` named `name`, summed over every shard and every
    /// configuration since startup: counters follow names across reloads.
    pub fn proxy_total(
        &self,
        kind: ProxyKind,
        name: &str,
        pick: impl Fn(&ProxyCounters) -> u64,
    ) -> u64 {
        pick(&self.proxy_totals(kind, name))
    }

    /// One counter of server `server` of backend `backend`, summed over every shard and
    /// every configuration since startup.
    pub fn server_total(
        &self,
        backend: &str,
        server: &str,
        pick: impl Fn(&ServerCounters) -> u64,
    ) -> u64 {
        pick(&self.server_totals(backend, server))
    }

    /// The highest `conn_max` any shard reached for frontend `name`, in any configuration
    /// still counted (a lower bound of the process-wide maximum, exact with one shard).
    pub fn frontend_peak(&self, kind: ProxyKind, name: &str) -> u64 {
        self.proxy_blocks(kind, name)
            .map(|c| c.conn_max.get())
            .max()
            .unwrap_or(0)
    }

    /// The highest `sessions_max` any shard reached for a server (as `frontend_peak`).
    pub fn server_peak(&self, backend: &str, server: &str) -> u64 {
        self.server_blocks(backend, server)
            .map(|c| c.sessions_max.get())
            .max()
            .unwrap_or(0)
    }

    /// Every counter of the proxy of `kind` named `name`, summed over every shard and every
    /// configuration since startup (gauges, averages and peaks are read elsewhere).
    pub fn proxy_totals(&self, kind: ProxyKind, name: &str) -> ProxyCounters {
        let total = ProxyCounters::default();
        for c in self.proxy_blocks(kind, name) {
            total.absorb(c);
        }
        if let Some(c) = self
            .carried
            .proxies
            .get(&(kind.keyword(), name.to_string()))
        {
            total.absorb(c);
        }
        total
    }

    /// Every counter of server `server` of backend `backend`, summed as `proxy_totals`.
    pub fn server_totals(&self, backend: &str, server: &str) -> ServerCounters {
        let total = ServerCounters::default();
        for c in self.server_blocks(backend, server) {
            total.absorb(c);
        }
        let key = (backend.to_string(), server.to_string());
        if let Some(c) = self.carried.servers.get(&key) {
            total.absorb(c);
        }
        total
    }

    /// Each shard's counters of the proxy of `kind` named `name`, in every set still kept
    /// (the name found once per set).
    fn proxy_blocks<'a>(
        &'a self,
        kind: ProxyKind,
        name: &'a str,
    ) -> impl Iterator<Item = &'a ProxyCounters> + 'a {
        self.sets().flat_map(move |(config, set)| {
            let id = config
                .proxies
                .iter()
                .find(|p| p.kind == kind && p.name == name)
                .map(|p| p.id);
            set.shards.iter().filter_map(move |s| s.proxies.get(id?))
        })
    }

    /// Each shard's counters of a server, in every set still kept (as `proxy_blocks`).
    fn server_blocks<'a>(
        &'a self,
        backend: &'a str,
        server: &'a str,
    ) -> impl Iterator<Item = &'a ServerCounters> + 'a {
        self.sets().flat_map(move |(config, set)| {
            let at = config.backend(backend).and_then(|p| {
                let i = p.servers.iter().position(|s| s.name == server)?;
                Some((p.id, i))
            });
            set.shards
                .iter()
                .filter_map(move |s| s.servers.get(at?.0)?.get(at?.1))
        })
    }

    /// The counter set in force and the retired ones, each with its configuration.
    fn sets(&self) -> impl Iterator<Item = (&Arc<Config>, &CounterSet)> {
        let current = self.publisher.current();
        std::iter::once((&current.config, &current.counters))
            .chain(self.retired.iter().map(|(config, set)| (config, set)))
    }

    /// The configuration in force.
    pub fn config(&self) -> &Arc<Config> {
        &self.publisher.current().config
    }

    /// The snapshot in force.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        self.publisher.current()
    }

    /// The shards' counters for the configuration in force.
    pub fn counters(&self) -> &CounterSet {
        &self.publisher.current().counters
    }

    /// One backend's up/down history (by `ProxyId`; only meaningful for backends).
    pub fn backend_history(&self, proxy: ProxyId) -> Option<&StateHistory> {
        self.backends.get(proxy)
    }

    /// One server's record.
    pub fn server(&self, proxy: ProxyId, server: ServerId) -> Option<&ServerRecord> {
        self.servers.get(proxy)?.get(server)
    }

    /// Applies a check result to a server; logs and publishes any change of state. Returns
    /// how long until that server's next check.
    pub fn record_check(
        &mut self,
        proxy: ProxyId,
        server: ServerId,
        result: CheckResult,
    ) -> Option<Duration> {
        let record = self.servers.get_mut(proxy)?.get_mut(server)?;
        let counts = !record.maint && !record.admin.checks_off;
        let check = record.check.as_mut()?;
        if !counts {
            // As HAProxy: a server in maintenance or with checks off is not judged by them.
            return Some(check.interval());
        }
        let change = check.record(result);
        let interval = check.interval();
        match change {
            Change::WentDown | Change::WentUp => {
                self.publish();
                self.log_transition(proxy, server, change == Change::WentUp);
            }
            Change::Moved | Change::None => {}
        }
        Some(interval)
    }

    /// Sends the shards a snapshot built from the current records.
    pub(super) fn publish(&mut self) {
        let current = self.publisher.current();
        let config = Arc::clone(&current.config);
        let counters = current.counters.clone();
        let shared = current
            .backends
            .iter()
            .zip(&current.config.proxies)
            .map(|(view, proxy)| match view {
                Some(view) => Arc::clone(&view.shared),
                None => Arc::new(BackendShared::new(proxy.servers.len())),
            })
            .collect();
        self.publish_with(config, shared, counters);
    }

    /// Sends the shards a snapshot of `config` built from the current records.
    fn publish_with(
        &mut self,
        config: Arc<Config>,
        shared: Vec<Arc<BackendShared>>,
        counters: CounterSet,
    ) {
        let now = Instant::now();
        for (list, backend) in self.servers.iter_mut().zip(self.backends.iter_mut()) {
            for record in list.iter_mut() {
                record.history.set(record.is_up(), now);
            }
            backend.set(list.iter().any(ServerRecord::is_up), now);
        }
        let statuses = self
            .servers
            .iter()
            .map(|list| list.iter().map(ServerRecord::status).collect())
            .collect();
        let mut next = Snapshot::build(
            self.publisher.current().generation + 1,
            config,
            statuses,
            shared,
            counters,
        );
        next.stopping = self.stopping;
        self.publisher.publish(next);
    }

    /// Logs a server going up or down in HAProxy's words.
    pub(super) fn log_transition(&self, proxy: ProxyId, server: ServerId, up: bool) {
        let config = Arc::clone(self.config());
        let (Some(p), Some(record)) = (config.proxies.get(proxy), self.server(proxy, server))
        else {
            return;
        };
        let Some(s) = p.servers.get(server) else {
            return;
        };
        let reason = record
            .check
            .as_ref()
            .map(|c| c.last.describe())
            .unwrap_or_default();
        let (active, backup) = self.usable_counts(proxy);
        let who = server_label(p, s);
        if up {
            log::warn!(
                "{who} is UP, {reason}. {active} active and {backup} backup servers online. 0 sessions requeued, 0 total in queue."
            );
        } else {
            let sessions = self
                .counters()
                .server_sum(proxy, server, |c| c.sessions_current.get().max(0) as u64);
            let on_backup = if active == 0 && backup > 0 {
                " Running on backup."
            } else {
                ""
            };
            log::warn!(
                "{who} is DOWN, {reason}. {active} active and {backup} backup servers left.{on_backup} {sessions} sessions active, 0 requeued, 0 remaining in queue."
            );
            if active == 0 && backup == 0 {
                log::error!("backend '{}' has no server available!", p.name);
            }
        }
    }

    /// Logs a server an operator took down or brought back, in HAProxy's words.
    pub(super) fn log_admin_transition(&self, proxy: ProxyId, server: ServerId, up: bool) {
        let (Some(p), Some(record)) =
            (self.config().proxies.get(proxy), self.server(proxy, server))
        else {
            return;
        };
        let Some(s) = p.servers.get(server) else {
            return;
        };
        let (active, backup) = self.usable_counts(proxy);
        let who = server_label(p, s);
        if up {
            log::warn!("{who} is UP/READY (leaving forced maintenance).");
        } else {
            let why = if record.maint {
                "going DOWN for maintenance"
            } else {
                "DOWN (forced by an operator)"
            };
            let sessions = self
                .counters()
                .server_sum(proxy, server, |c| c.sessions_current.get().max(0) as u64);
            log::warn!(
                "{who} is {why}. {active} active and {backup} backup servers left. {sessions} sessions active, 0 requeued, 0 remaining in queue."
            );
            if active == 0 && backup == 0 {
                log::error!("backend '{}' has no server available!", p.name);
            }
        }
    }

    /// Servers of `proxy` that are up, (active, backup).
    pub(crate) fn usable_counts(&self, proxy: ProxyId) -> (usize, usize) {
        let Some(p) = self.config().proxies.get(proxy) else {
            return (0, 0);
        };
        let records = &self.servers[proxy];
        let count = |backup: bool| {
            p.servers
                .iter()
                .zip(records)
                .filter(|(s, r)| s.backup == backup && r.is_up())
                .count()
        };
        (count(false), count(true))
    }
}

/// Totals of retired counter sets, by name.
#[derive(Debug, Default)]
struct Carried {
    /// By (section keyword, proxy name).
    proxies: HashMap<(&'static str, String), ProxyCounters>,
    /// By (backend name, server name).
    servers: HashMap<(String, String), ServerCounters>,
}

impl Carried {
    fn fold(&mut self, config: &Config, set: &CounterSet) {
        for p in &config.proxies {
            let total = self
                .proxies
                .entry((p.kind.keyword(), p.name.clone()))
                .or_default();
            for shard in set.shards.iter() {
                if let Some(c) = shard.proxies.get(p.id) {
                    total.absorb(c);
                }
            }
            if !p.is_backend() {
                continue;
            }
            for (i, s) in p.servers.iter().enumerate() {
                let total = self
                    .servers
                    .entry((p.name.clone(), s.name.clone()))
                    .or_default();
                for shard in set.shards.iter() {
                    if let Some(c) = shard.servers.get(p.id).and_then(|list| list.get(i)) {
                        total.absorb(c);
                    }
                }
            }
        }
    }
}

/// Client connections counted open in `set`.
fn open_in(set: &CounterSet) -> u64 {
    set.shards
        .iter()
        .flat_map(|s| s.proxies.iter())
        .map(|p| p.conn_current.get().max(0) as u64)
        .sum()
}

/// Global settings a reload cannot apply, described for the log.
fn restart_only_changes(old: &Config, new: &Config) -> Vec<String> {
    let (a, b) = (&old.global, &new.global);
    let mut changes = Vec::new();
    if a.nbthread != b.nbthread {
        changes.push(format!(
            "nbthread ({} -> {})",
            a.nbthread.map_or("auto".into(), |n| n.to_string()),
            b.nbthread.map_or("auto".into(), |n| n.to_string())
        ));
    }
    if a.maxconn != b.maxconn {
        changes.push("maxconn".into());
    }
    if a.bufsize != b.bufsize {
        changes.push("tune.bufsize".into());
    }
    // The admin sockets are bound at start (their files, modes and owners).
    let sockets = |g: &crate::config::Global| -> Vec<String> {
        g.stats_sockets
            .iter()
            .map(|s| {
                format!(
                    "{} {:?} {:?} {:?} {:?}",
                    s.path, s.mode, s.user, s.group, s.level
                )
            })
            .collect()
    };
    if sockets(a) != sockets(b) {
        changes.push("stats socket".into());
    }
    // VRRP instances hold their sockets and addresses from the start.
    if format!("{:?}", old.vrrp) != format!("{:?}", new.vrrp) {
        changes.push("vrrp".into());
    }
    changes
}

/// Backend histories that begin at `now`, up where a server is.
fn backend_histories(servers: &[Vec<ServerRecord>], now: Instant) -> Vec<StateHistory> {
    servers
        .iter()
        .map(|list| StateHistory::new(list.iter().any(ServerRecord::is_up), now))
        .collect()
}

/// Fresh records for every server of `config`.
fn records(config: &Config) -> Vec<Vec<ServerRecord>> {
    config
        .proxies
        .iter()
        .map(|p| {
            p.servers
                .iter()
                .map(|s| {
                    let check = s.check.enabled.then(|| ServerCheck::new(s.check));
                    let up =
                        !s.starts_in_maint() && check.as_ref().is_none_or(|c| c.health.is_up());
                    ServerRecord {
                        check,
                        maint: s.starts_in_maint(),
                        unresolved: s.no_address,
                        weight: s.weight,
                        admin: AdminState::default(),
                        history: StateHistory::new(up, Instant::now()),
                    }
                })
                .collect()
        })
        .collect()
}

/// "Server be/s1" or "Backup Server be/s2", as HAProxy names a server in its messages.
fn server_label(proxy: &crate::config::Proxy, server: &crate::config::Server) -> String {
    let kind = if server.backup { "Backup " } else { "" };
    format!("{kind}Server {}/{}", proxy.name, server.name)
}

/// A control plane over `text` with one shard, and the shard's end of the snapshots.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn test_plane(text: &str) -> (ControlPlane, crossbeam_channel::Receiver<Arc<Snapshot>>) {
    let config = Arc::new(
        crate::config::load_sources(&[("t".into(), text.into())])
            .unwrap()
            .config,
    );
    let first = Arc::new(Snapshot::initial(Arc::clone(&config), 1));
    let (tx, rx) = crossbeam_channel::unbounded();
    let latencies = crossbeam_channel::bounded(1).1;
    let captures = crate::state::capture::channel(1).1;
    (
        ControlPlane::new(Publisher::new(first, vec![tx]), latencies, captures),
        rx,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::health::CheckStatus;

    fn plane(text: &str) -> (ControlPlane, crossbeam_channel::Receiver<Arc<Snapshot>>) {
        test_plane(text)
    }

    fn result(status: CheckStatus) -> CheckResult {
        CheckResult {
            status,
            code: None,
            info: None,
            duration: Duration::ZERO,
        }
    }

    #[test]
    fn a_transition_publishes_one_snapshot_and_the_balancer_follows() {
        let (mut plane, rx) = plane(
            "backend b\n server a 127.0.0.1:1 check fall 1 rise 1\n server c 127.0.0.1:2 check backup\n",
        );
        assert!(plane
            .record_check(0, 0, result(CheckStatus::L4Ok))
            .is_some());
        assert!(rx.try_recv().is_err(), "no change, no snapshot");
        plane.record_check(0, 0, result(CheckStatus::L4Con));
        let snap = rx.try_recv().unwrap();
        assert_eq!(snap.generation, 2);
        let view = snap.backend(0).unwrap();
        assert_eq!(view.servers[0].state, ServerState::Down);
        assert_eq!(&*view.candidates, &[1], "the backup takes over");
        plane.record_check(0, 0, result(CheckStatus::L4Ok));
        let snap = rx.try_recv().unwrap();
        assert_eq!(snap.generation, 3);
        assert_eq!(&*snap.backend(0).unwrap().candidates, &[0]);
        assert!(
            plane
                .record_check(0, 5, result(CheckStatus::L4Ok))
                .is_none(),
            "unknown server"
        );
    }

    #[test]
    fn counters_follow_names_across_reloads_even_once_folded() {
        let (mut plane, _rx) = plane("backend b\n server a 127.0.0.1:1\n server c 127.0.0.1:2\n");
        let bump = |plane: &ControlPlane| {
            let snap = Arc::clone(plane.snapshot());
            let config = &snap.config;
            let be = config.proxies.iter().find(|p| p.name == "b").unwrap();
            let c = be.servers.iter().position(|s| s.name == "c").unwrap();
            snap.counters.shards[0].servers[be.id][c]
                .sessions_total
                .incr();
            snap.counters.shards[0].proxies[be.id].sessions_total.incr();
        };
        bump(&plane);
        let swapped = |i: usize| {
            let text = if i.is_multiple_of(2) {
                "backend x\n server y 127.0.0.1:3\nbackend b\n server c 127.0.0.1:2\n server a 127.0.0.1:1\n"
            } else {
                "backend b\n server a 127.0.0.1:1\n server c 127.0.0.1:2\n"
            };
            Arc::new(
                crate::config::load_sources(&[("t".into(), text.into())])
                    .unwrap()
                    .config,
            )
        };
        const RELOADS: usize = 70;
        for i in 0..RELOADS {
            plane.reload(swapped(i));
            bump(&plane);
        }
        let expected = (RELOADS + 1) as u64;
        assert_eq!(
            plane.server_total("b", "c", |c| c.sessions_total.get()),
            expected
        );
        assert_eq!(plane.server_total("b", "a", |c| c.sessions_total.get()), 0);
        assert_eq!(
            plane.proxy_total(ProxyKind::Backend, "b", |c| c.sessions_total.get()),
            expected
        );
        assert!(
            plane.retired.is_empty(),
            "idle sets are folded away at once"
        );
    }

    #[test]
    fn what_operators_set_survives_a_reload_and_goes_out_as_one_snapshot() {
        use crate::control::admin::ServerAction;
        let text = "backend b\n server a 127.0.0.1:1 check\n server c 127.0.0.1:2\n server d 127.0.0.1:3\n";
        let (mut plane, rx) = plane(text);
        let out = plane.apply(&[
            (0, 0, ServerAction::ChecksOff),
            (0, 1, ServerAction::Drain),
            (0, 2, ServerAction::Weight(7)),
        ]);
        assert!(out.iter().all(Result::is_ok), "{out:?}");
        let snap = rx.try_recv().unwrap();
        assert!(rx.try_recv().is_err(), "one snapshot for the batch");
        let view = snap.backend(0).unwrap();
        assert_eq!(view.servers[1].weight, 0, "drained: no new traffic");
        assert_eq!(view.servers[2].weight, 7);
        // The same servers in another order, one more: state follows the names.
        let config = Arc::new(
            crate::config::load_sources(&[(
                "t".into(),
                "backend b\n server d 127.0.0.1:3\n server n 127.0.0.1:4\n server c 127.0.0.1:2\n server a 127.0.0.1:1 check\n".into(),
            )])
            .unwrap()
            .config,
        );
        plane.reload(config);
        let by = |name: &str| {
            let id = plane.config().proxies[0]
                .servers
                .iter()
                .position(|s| s.name == name)
                .unwrap();
            plane.server(0, id).unwrap().clone()
        };
        assert!(by("a").admin.checks_off);
        assert!(by("c").admin.drain && by("c").is_draining());
        assert_eq!(by("d").weight, 7);
        assert_eq!(by("n").admin, AdminState::default());
        let snap = rx.try_iter().last().unwrap();
        let c = plane.config().proxies[0]
            .servers
            .iter()
            .position(|s| s.name == "c")
            .unwrap();
        assert_eq!(snap.backend(0).unwrap().servers[c].weight, 0);
    }

    #[test]
    fn servers_without_checks_have_no_check_record() {
        let (plane, _rx) =
            plane("backend b\n server a 127.0.0.1:1\n server c 127.0.0.1:2 check disabled\n");
        assert!(plane.server(0, 0).unwrap().check.is_none());
        // A disabled server keeps its checks for when it leaves maintenance.
        let disabled = plane.server(0, 1).unwrap();
        assert!(disabled.maint && disabled.check.is_some() && !disabled.is_up());
    }
}
