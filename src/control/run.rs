//! The control thread's loop: a small runtime of its own (epoll; it never shares a ring with
//! a shard) that runs every health check as a task and reacts to signals.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::{LegacyDriver, RuntimeBuilder};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

use crate::config::{ProxyId, ServerId};

use super::health::{self, probe, ProbeSpec};
use super::plane::ControlPlane;

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

/// A soft stop under way: when it must end.
struct Stopping {
    deadline: Option<Instant>,
}

/// Runs the control plane on the calling thread until a stop completes.
pub fn run(plane: ControlPlane, mut signals: Signals) -> std::io::Result<Exit> {
    let mut runtime = RuntimeBuilder::<LegacyDriver>::new()
        .enable_timer()
        .build()?;
    Ok(runtime.block_on(async move {
        let plane = Rc::new(RefCell::new(plane));
        let _checks = start_checks(&plane);
        let mut stopping: Option<Stopping> = None;
        loop {
            monoio::time::sleep(TICK).await;
            for signal in signals.pending() {
                match signal {
                    SIGHUP | SIGUSR2 => {
                        log::warn!("signal {signal} received: reloading is not implemented yet, the configuration is unchanged");
                    }
                    SIGINT if stopping.is_some() => {
                        let open = plane.borrow().open_connections();
                        log::warn!("second SIGINT: stopping now, {open} connection(s) cut");
                        return Exit::Cut { open };
                    }
                    SIGTERM | SIGINT | SIGUSR1 if stopping.is_none() => {
                        let mut plane = plane.borrow_mut();
                        let hard = plane.config().global.hard_stop_after;
                        let grace = if signal == SIGUSR1 {
                            hard
                        } else {
                            Some(hard.unwrap_or(DEFAULT_STOP_GRACE))
                        };
                        plane.stop();
                        log::warn!(
                            "signal {signal} received: soft stop, listeners closed, {} connection(s) to finish{}",
                            plane.open_connections(),
                            grace.map_or(String::new(), |g| format!(" within {} ms", g.as_millis()))
                        );
                        stopping = Some(Stopping {
                            deadline: grace.map(|g| Instant::now() + g),
                        });
                    }
                    _ => {}
                }
            }
            if let Some(stop) = &stopping {
                let open = plane.borrow().open_connections();
                if open == 0 {
                    log::warn!("soft stop complete: every connection finished");
                    return Exit::Drained;
                }
                if stop.deadline.is_some_and(|d| Instant::now() >= d) {
                    log::warn!("soft stop: time is up, {open} connection(s) cut");
                    return Exit::Cut { open };
                }
            }
        }
    }))
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
) {
    monoio::time::sleep(first).await;
    let mut started = Instant::now();
    while alive.get() {
        let result = probe::run(&spec).await;
        if !alive.get() {
            return;
        }
        let Some(interval) = plane.borrow_mut().record_check(proxy, server, result) else {
            return;
        };
        let now = Instant::now();
        // A check that overran its interval is followed at once, never by a burst.
        let next = (started + interval).max(now);
        monoio::time::sleep(next - now).await;
        started = next;
    }
}
