//! The control thread's loop: a small runtime of its own (epoll; it never shares a ring with
//! a shard) that runs every health check as a task and reacts to signals.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::{LegacyDriver, RuntimeBuilder};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

use crate::config::{ConfigErrors, Loaded, ProxyId, ServerId};

use super::health::{self, probe, ProbeSpec};
use super::plane::ControlPlane;
use super::socket::execute::PlaneExecutor;
use super::socket::server::{self as socket, Bound, Executor, Limits};
use super::stats::server::{StatsBind, StatsServer};
use super::vrrp::runner::{TrackedDown, VrrpRunner};

/// What the control thread serves besides checks, bound at start (a bind failure is fatal
/// there, as for a frontend).
pub struct Listeners {
    /// The stats pages' listeners.
    pub stats: Vec<StatsBind>,
    /// The admin sockets, each with its level.
    pub sockets: Vec<(Bound, crate::config::StatsLevel)>,
}

/// How often the loop looks at signals.
const TICK: Duration = Duration::from_millis(20);

/// How long SIGTERM and SIGINT wait for connections to finish without `hard-stop-after`.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(5);

/// How the control loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every connection finished after a soft stop.
    Drained,
    /// The soft stop's time ran out (`hard-stop-after`, or the grace of SIGTERM/SIGINT), or
    /// a second SIGINT came: connections still open are cut.
    Cut {
        /// Connections still open.
        open: u64,
    },
}

/// A soft stop under way: when it began and when it must end.
struct Stopping {
    began: Instant,
    deadline: Option<Instant>,
}

/// How long a soft stop lasts at least: every shard sees it and closes its listeners within
/// a sweep (25 ms), and a connection accepted meanwhile must be counted before ringlb can
/// say that every connection finished.
const MIN_STOP: Duration = Duration::from_millis(100);

/// The stop a signal asks for, bounded as `hard-stop-after` says.
fn grace(signal: i32, hard_stop_after: Option<Duration>) -> Option<Duration> {
    if signal == SIGUSR1 {
        hard_stop_after
    } else {
        Some(hard_stop_after.unwrap_or(DEFAULT_STOP_GRACE))
    }
}

/// Runs the control plane on the calling thread until a stop completes; `files` are the
/// configuration files a reload reads again.
pub fn run(
    plane: ControlPlane,
    mut signals: Signals,
    files: &[PathBuf],
    listeners: Listeners,
) -> std::io::Result<Exit> {
    let mut runtime = RuntimeBuilder::<LegacyDriver>::new()
        .enable_timer()
        .build()?;
    Ok(runtime.block_on(async move {
        let plane = Rc::new(RefCell::new(plane));
        let mut _checks = start_checks(&plane);
        let mut stats = StatsServer::start(Rc::clone(&plane), listeners.stats);
        let vrrp = {
            let sections = plane.borrow().config().vrrp.clone();
            let watched = Rc::clone(&plane);
            // A tracked backend is down when none of its servers is up, by name, so it
            // follows reloads.
            let tracked: TrackedDown = Rc::new(move |name: &str| {
                let plane = watched.borrow();
                plane
                    .config()
                    .backend(name)
                    .is_none_or(|backend| plane.usable_counts(backend.id) == (0, 0))
            });
            VrrpRunner::start(&sections, tracked)
        };
        // Raised by the admin socket when it changed the configuration (reload, a server
        // added, deleted or moved): checks restart and listeners follow, as after SIGHUP.
        let changed = Rc::new(Cell::new(false));
        let executor: Rc<RefCell<dyn Executor>> = Rc::new(RefCell::new(PlaneExecutor::new(
            Rc::clone(&plane),
            files.to_vec(),
            Rc::clone(&changed),
        )));
        let sockets_open = Rc::new(Cell::new(true));
        let limits = Limits {
            idle_timeout: plane
                .borrow()
                .config()
                .global
                .stats_timeout
                .unwrap_or(Limits::default().idle_timeout),
            ..Limits::default()
        };
        for (bound, level) in listeners.sockets {
            let executor = Rc::clone(&executor);
            let open = Rc::clone(&sockets_open);
            monoio::spawn(async move {
                if let Err(e) = socket::serve(bound, level, executor, open, limits).await {
                    log::error!("admin socket: {e}");
                }
            });
        }
        let exit = control_loop(
            &plane,
            &mut signals,
            files,
            &mut stats,
            &changed,
            _checks,
            &vrrp,
        )
        .await;
        // A master steps down (priority 0) and its addresses go before ringlb exits.
        vrrp.stop(Duration::from_millis(500)).await;
        // The sockets' tasks remove their files once they see this.
        sockets_open.set(false);
        stats.stop();
        monoio::time::sleep(limits.stop_poll + TICK).await;
        exit
    }))
}

/// Reacts to signals, reloads and the end of a soft stop until ringlb should exit.
async fn control_loop(
    plane: &Rc<RefCell<ControlPlane>>,
    signals: &mut Signals,
    files: &[PathBuf],
    stats: &mut StatsServer,
    changed: &Cell<bool>,
    checks: ChecksRunning,
    vrrp: &VrrpRunner,
) -> Exit {
    {
        let mut _checks = checks;
        let mut stopping: Option<Stopping> = None;
        // A soft stop waiting for VRRP to hand the addresses over: until when, and why.
        let mut handing_over: Option<(Instant, i32)> = None;
        let mut loading: Option<Loading> = None;
        loop {
            monoio::time::sleep(TICK).await;
            {
                let mut plane = plane.borrow_mut();
                plane.collect_latencies();
                plane.collect_errors();
                plane.sample_traffic(Instant::now());
                plane.observe_traffic();
                plane.vrrp = vrrp.statuses();
            }
            let done = loading.as_ref().map(crossbeam_channel::Receiver::try_recv);
            match done {
                Some(Ok(result)) => {
                    loading = None;
                    // The old check tasks end at their next wake-up; new ones check the new
                    // configuration's servers.
                    if stopping.is_none() && apply(plane, result).applied {
                        changed.set(true);
                    }
                }
                Some(Err(crossbeam_channel::TryRecvError::Disconnected)) => {
                    // The reading thread could not start, or died: nothing was applied.
                    loading = None;
                }
                Some(Err(crossbeam_channel::TryRecvError::Empty)) | None => {}
            }
            if changed.take() && stopping.is_none() {
                _checks = start_checks(plane);
                stats.reconcile();
            }
            for signal in signals.pending() {
                match signal {
                    SIGHUP | SIGUSR2 if stopping.is_none() => {
                        if loading.is_some() {
                            log::warn!("signal {signal} received: a reload is already under way");
                        } else {
                            loading = Some(load_in_background(files.to_vec()));
                        }
                    }
                    SIGTERM if stopping.is_some() => {
                        // HAProxy's SIGTERM stops without waiting: after a SIGUSR1 soft stop
                        // it cuts the wait down to its own bound.
                        let bound = grace(SIGTERM, plane.borrow().config().global.hard_stop_after);
                        if let (Some(stop), Some(bound)) = (stopping.as_mut(), bound) {
                            let by = Instant::now() + bound;
                            stop.deadline = Some(stop.deadline.map_or(by, |d| d.min(by)));
                        }
                    }
                    SIGINT if stopping.is_some() => {
                        let open = plane.borrow().open_connections();
                        log::warn!("second SIGINT: stopping now, {open} connection(s) cut");
                        return Exit::Cut { open };
                    }
                    SIGINT if handing_over.is_some() => {
                        let open = plane.borrow().open_connections();
                        log::warn!("second SIGINT: stopping now, {open} connection(s) cut");
                        return Exit::Cut { open };
                    }
                    SIGTERM | SIGINT | SIGUSR1 if stopping.is_none() && handing_over.is_none() => {
                        // A VRRP master first hands the addresses over (priority 0: the backup
                        // takes them after its skew time) and keeps serving meanwhile, so no
                        // client meets a closed listener; then the soft stop proper.
                        vrrp.begin_stop();
                        match vrrp.handover() {
                            Some(wait) => {
                                log::warn!(
                                    "signal {signal} received: VRRP master stepping down; listeners close in {} ms",
                                    wait.as_millis()
                                );
                                handing_over = Some((Instant::now() + wait, signal));
                            }
                            None => stopping = Some(soft_stop(plane, stats, signal)),
                        }
                    }
                    _ => {}
                }
            }
            if let Some((until, signal)) = handing_over {
                if Instant::now() >= until {
                    handing_over = None;
                    stopping = Some(soft_stop(plane, stats, signal));
                }
            }
            if let Some(stop) = &stopping {
                let open = plane.borrow().open_connections();
                if open == 0 && stop.began.elapsed() >= MIN_STOP {
                    log::warn!("soft stop complete: every connection finished");
                    return Exit::Drained;
                }
                if stop.deadline.is_some_and(|d| Instant::now() >= d) {
                    log::warn!("soft stop: time is up, {open} connection(s) cut");
                    return Exit::Cut { open };
                }
            }
        }
    }
}

/// Closes the listeners and asks the shards to drain: the soft stop `signal` asked for.
fn soft_stop(plane: &Rc<RefCell<ControlPlane>>, stats: &mut StatsServer, signal: i32) -> Stopping {
    stats.stop();
    let mut plane = plane.borrow_mut();
    let grace = grace(signal, plane.config().global.hard_stop_after);
    plane.stop();
    log::warn!(
        "signal {signal} received: soft stop, listeners closed, {} connection(s) to finish{}",
        plane.open_connections(),
        grace.map_or(String::new(), |g| format!(" within {} ms", g.as_millis()))
    );
    Stopping {
        began: Instant::now(),
        deadline: grace.map(|g| Instant::now() + g),
    }
}

/// A configuration being read on a thread of its own.
pub(crate) type Loading = crossbeam_channel::Receiver<Result<Loaded, ConfigErrors>>;

/// Reads `files` on a thread of its own: resolving server names may block (DNS), and the
/// control thread must go on checking servers and reading signals meanwhile.
pub(crate) fn load_in_background(files: Vec<PathBuf>) -> Loading {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let spawned = std::thread::Builder::new()
        .name("ringlb-reload".into())
        .spawn(move || {
            let _ = tx.send(crate::config::load_files(&files));
        });
    if let Err(e) = spawned {
        log::error!("Reload failed: cannot start a thread to read the configuration: {e}");
    }
    rx
}

/// The outcome of a reload, line by line as it is logged (and answered on the admin socket).
pub(crate) struct ReloadReport {
    /// The configuration changed.
    pub applied: bool,
    /// Warnings and errors with `file:line`, then the outcome.
    pub lines: Vec<String>,
}

/// Puts a configuration read for a reload in force if it is valid; logs the outcome either
/// way.
pub(crate) fn apply(
    plane: &Rc<RefCell<ControlPlane>>,
    result: Result<Loaded, ConfigErrors>,
) -> ReloadReport {
    let loaded = match result {
        Ok(loaded) => loaded,
        Err(errors) => {
            let mut lines: Vec<String> = errors.0.iter().map(|e| format!("config : {e}")).collect();
            lines.push(format!(
                "Reload failed: {} error(s); still running generation {} of the previous configuration",
                errors.0.len(),
                plane.borrow().snapshot().generation
            ));
            for line in &lines {
                log::error!("{line}");
            }
            return ReloadReport {
                applied: false,
                lines,
            };
        }
    };
    let mut lines: Vec<String> = loaded
        .warnings
        .iter()
        .map(|w| format!("config : {w}"))
        .collect();
    let config = std::sync::Arc::new(loaded.config);
    let counts = (
        config.frontends().count(),
        config.proxies.iter().filter(|p| p.is_backend()).count(),
        config
            .proxies
            .iter()
            .map(|p| p.servers.len())
            .sum::<usize>(),
    );
    let done = plane.borrow_mut().reload(config);
    lines.push(format!(
        "Reload complete: configuration generation {} in force ({} frontend(s), {} backend(s), {} server(s))",
        done.generation, counts.0, counts.1, counts.2
    ));
    if !done.needs_restart.is_empty() {
        lines.push(format!(
            "Reload: {} changed; that takes a restart, the running values stay",
            done.needs_restart.join(", ")
        ));
    }
    for line in &lines {
        log::warn!("{line}");
    }
    ReloadReport {
        applied: true,
        lines,
    }
}

/// Stops the check tasks it covers when dropped.
pub struct ChecksRunning {
    alive: Rc<Cell<bool>>,
}

impl Drop for ChecksRunning {
    fn drop(&mut self) {
        self.alive.set(false);
    }
}

/// Starts one task per checked server, their first checks spread over the interval.
fn start_checks(plane: &Rc<RefCell<ControlPlane>>) -> ChecksRunning {
    let alive = Rc::new(Cell::new(true));
    let config = std::sync::Arc::clone(plane.borrow().config());
    let servers = health::checked_servers(&config);
    let count = servers.len();
    for (index, (proxy, server)) in servers.into_iter().enumerate() {
        let Some(spec) = health::probe_spec(&config, proxy, server) else {
            continue;
        };
        let inter = config.proxies[proxy].servers[server].check.inter;
        let first = health::first_offset(inter, index, count);
        monoio::spawn(check_loop(
            Rc::clone(plane),
            (proxy, server),
            spec,
            first,
            Rc::clone(&alive),
            std::sync::Arc::clone(&config),
        ));
    }
    ChecksRunning { alive }
}

/// Checks one server forever: each check starts one interval after the previous one started
/// (the interval chosen by the server's state after the result), as HAProxy schedules them.
async fn check_loop(
    plane: Rc<RefCell<ControlPlane>>,
    (proxy, server): (ProxyId, ServerId),
    spec: ProbeSpec,
    first: Duration,
    alive: Rc<Cell<bool>>,
    config: std::sync::Arc<crate::config::Config>,
) {
    monoio::time::sleep(first).await;
    let mut started = Instant::now();
    while alive.get() {
        let result = probe::run(&spec).await;
        // The ids are this configuration's: once another is in force (a reload, a server
        // added or deleted), they may name another server, and new tasks check them.
        if !alive.get() || !std::sync::Arc::ptr_eq(&config, plane.borrow().config()) {
            return;
        }
        let interval = match result {
            Some(result) => match plane.borrow_mut().record_check(proxy, server, result) {
                Some(interval) => interval,
                None => return,
            },
            // No socket to check with: no verdict on the server; try again after the time a
            // check may take.
            None => spec.answer_timeout,
        };
        let now = Instant::now();
        // A check that overran its interval is followed at once, never by a burst.
        let next = (started + interval).max(now);
        monoio::time::sleep(next - now).await;
        started = next;
    }
}
