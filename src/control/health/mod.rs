//! Health checks: what one probe does (`probe`), what its result means (`status`), and each
//! checked server's running record (`ServerCheck`), with HAProxy's timing rules.

pub mod probe;
pub mod status;
pub mod tcpprobe;

use std::time::Duration;

use crate::config::{CheckSettings, Config, OnError, ProxyId, SendProxy, ServerId};

pub use probe::ProbeSpec;
pub use status::{Change, CheckResult, CheckStatus, Health};

/// One checked server's health counter, last result and timing.
#[derive(Debug, Clone)]
pub struct ServerCheck {
    /// The health counter.
    pub health: Health,
    /// The last completed check (`Init` before the first).
    pub last: CheckResult,
    /// The server's check settings.
    pub settings: CheckSettings,
    /// Checks that failed, in all.
    pub failures: u64,
    /// Passive health saw errors: probe at `fastinter` pace until a check passes.
    pub hurried: bool,
}

impl ServerCheck {
    /// A server about to be checked for the first time: up until its first failure.
    pub fn new(settings: CheckSettings) -> Self {
        Self {
            health: Health::starting(settings.rise, settings.fall),
            last: CheckResult {
                status: CheckStatus::Init,
                code: None,
                info: None,
                duration: Duration::ZERO,
            },
            settings,
            failures: 0,
            hurried: false,
        }
    }

    /// Applies a result.
    pub fn record(&mut self, result: CheckResult) -> Change {
        let passed = result.status.passed();
        // As HAProxy's `chkfail`: failures count while there is health to lose.
        if !passed && self.health.value > 0 {
            self.failures += 1;
        }
        self.last = result;
        if passed {
            self.hurried = false;
        }
        self.health.record(passed)
    }

    /// Acts on `errors` consecutive errors that passive health (`observe`) saw in the
    /// traffic, as HAProxy's `on-error` says; each action then probes at `fastinter` pace.
    pub fn observed_errors(&mut self, action: OnError, errors: u64) -> Change {
        let analysed = CheckResult {
            status: CheckStatus::Hana,
            code: None,
            info: Some(format!("Detected {errors} consecutive errors")),
            duration: Duration::ZERO,
        };
        let rise = self.health.rise;
        // HAProxy's three ways: a failed check; one that leaves a single failure before
        // down; one that takes the server down at once.
        let change = match action {
            OnError::FastInter => Change::None,
            OnError::FailCheck => self.record(analysed),
            OnError::SuddenDeath => {
                if self.health.value > rise {
                    self.health.value = rise + 1;
                }
                self.record(analysed)
            }
            OnError::MarkDown => {
                if self.health.value >= rise {
                    self.health.value = rise;
                }
                self.record(analysed)
            }
        };
        self.hurried = true;
        change
    }

    /// How long until the next check (HAProxy's `srv_getinter`): `inter` while fully up,
    /// `downinter` while fully down, `fastinter` while changing state, each falling back to
    /// `inter` when unset.
    pub fn interval(&self) -> Duration {
        let s = &self.settings;
        if self.hurried {
            s.fastinter.unwrap_or(s.inter)
        } else if self.health.is_up() && self.health.is_settled() {
            s.inter
        } else if self.health.value == 0 {
            s.downinter.unwrap_or(s.inter)
        } else {
            s.fastinter.unwrap_or(s.inter)
        }
    }
}

/// Every server of `config` that has checks enabled, as (proxy, server).
pub fn checked_servers(config: &Config) -> Vec<(ProxyId, ServerId)> {
    config
        .proxies
        .iter()
        .flat_map(|p| {
            p.servers
                .iter()
                .enumerate()
                // A server in maintenance is checked too: its results wait (they count once
                // an operator puts it back), as for a dynamic server added in maintenance.
                .filter(|(_, s)| s.check.enabled)
                .map(move |(i, _)| (p.id, i))
        })
        .collect()
}

/// The probe for `server` of `proxy`: its check address and port, the backend's HTTP check
/// and timeouts.
pub fn probe_spec(config: &Config, proxy: ProxyId, server: ServerId) -> Option<ProbeSpec> {
    let p = config.proxies.get(proxy)?;
    let s = p.servers.get(server)?;
    let mut target = s.addr.addr;
    if let Some(ip) = s.check.addr {
        target.set_ip(ip);
    }
    if let Some(port) = s.check.port {
        target.set_port(port);
    }
    if target.port() == 0 {
        // A server that takes the client's port has nothing to check without `port`.
        return None;
    }
    Some(
        ProbeSpec::new(
            target,
            p.httpchk.as_ref(),
            s.check.inter,
            p.timeouts.connect,
            p.timeouts.check,
        )
        .with_tcp_check(p.tcpchk.as_ref())
        .with_proxy_header(check_proxy_header(s)),
    )
}

/// HAProxy's rule: checks send a PROXY header with `check-send-proxy`, or when the server
/// has `send-proxy` and is checked on its own address (no `port`, no `addr`); version 2
/// with `send-proxy-v2`. `Some(v2)` when they do.
fn check_proxy_header(s: &crate::config::Server) -> Option<bool> {
    let own_address = s.check.port.is_none() && s.check.addr.is_none();
    let wanted = s.check.send_proxy || (s.send_proxy != SendProxy::Off && own_address);
    wanted.then_some(s.send_proxy == SendProxy::V2)
}

/// When the check of the `index`-th of `count` checked servers first runs: spread evenly
/// over the first interval, as HAProxy does, so checks do not all start together.
pub fn first_offset(inter: Duration, index: usize, count: usize) -> Duration {
    if count == 0 {
        return Duration::ZERO;
    }
    inter.mul_f64(index as f64 / count as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CheckSettings {
        CheckSettings {
            enabled: true,
            inter: Duration::from_millis(1000),
            fastinter: Some(Duration::from_millis(100)),
            downinter: Some(Duration::from_millis(5000)),
            rise: 2,
            fall: 2,
            ..CheckSettings::default()
        }
    }

    fn failed() -> CheckResult {
        CheckResult {
            status: CheckStatus::L4Con,
            code: None,
            info: None,
            duration: Duration::ZERO,
        }
    }

    fn passed() -> CheckResult {
        CheckResult {
            status: CheckStatus::L4Ok,
            ..failed()
        }
    }

    #[test]
    fn passive_health_acts_as_on_error_says() {
        let up = || {
            let mut c = ServerCheck::new(settings());
            c.health = Health::up(2, 3);
            c
        };
        // fail-check: one failed check, and fastinter until a check passes.
        let mut c = up();
        assert_eq!(c.observed_errors(OnError::FailCheck, 10), Change::Moved);
        assert_eq!(c.last.status, CheckStatus::Hana);
        assert_eq!(c.interval(), Duration::from_millis(100), "hurried");
        assert_eq!(c.failures, 1);
        // sudden-death: one failure left; the next one takes it down.
        let mut c = up();
        assert_eq!(c.observed_errors(OnError::SuddenDeath, 10), Change::Moved);
        assert!(c.health.is_up());
        assert_eq!(c.record(failed()), Change::WentDown);
        // mark-down: down at once.
        let mut c = up();
        assert_eq!(c.observed_errors(OnError::MarkDown, 10), Change::WentDown);
        assert_eq!(
            c.last.info.as_deref(),
            Some("Detected 10 consecutive errors")
        );
        // fastinter: only the pace changes; a passing check ends it.
        let mut c = up();
        assert_eq!(c.observed_errors(OnError::FastInter, 10), Change::None);
        assert_eq!(c.interval(), Duration::from_millis(100));
        c.record(passed());
        assert_eq!(c.interval(), Duration::from_millis(1000));
    }

    #[test]
    fn intervals_follow_the_state() {
        let mut c = ServerCheck::new(settings());
        assert_eq!(
            c.interval(),
            Duration::from_millis(100),
            "starting: not settled"
        );
        c.health = Health::up(2, 2);
        assert_eq!(c.interval(), Duration::from_millis(1000));
        c.record(failed());
        assert_eq!(c.interval(), Duration::from_millis(100), "going down");
        assert_eq!(c.record(failed()), Change::WentDown);
        assert_eq!(c.interval(), Duration::from_millis(5000), "down");
        assert_eq!(c.failures, 2);
        let mut plain = ServerCheck::new(CheckSettings {
            fastinter: None,
            downinter: None,
            ..settings()
        });
        plain.record(failed());
        assert_eq!(
            plain.interval(),
            Duration::from_millis(1000),
            "inter by default"
        );
    }

    #[test]
    fn first_checks_are_spread() {
        let inter = Duration::from_secs(2);
        assert_eq!(first_offset(inter, 0, 4), Duration::ZERO);
        assert_eq!(first_offset(inter, 2, 4), Duration::from_secs(1));
    }
}
