//! What one health check found, and the health counter that turns results into UP and DOWN,
//! both as HAProxy defines them (src/check.c: `check_statuses`, `check_notify_*`).

use std::time::Duration;

/// The outcome of one check, with HAProxy's codes (`L4OK`, `L7STS`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// No check has completed yet.
    Init,
    /// The TCP connection was accepted (no layer-7 check configured).
    L4Ok,
    /// The TCP connection did not complete in time.
    L4Timeout,
    /// The TCP connection was refused or failed.
    L4Con,
    /// The server's answer was not a valid HTTP response, or did not match `expect string`.
    L7Rsp,
    /// No answer in time.
    L7Timeout,
    /// The HTTP status was accepted.
    L7Ok,
    /// The HTTP status was not accepted.
    L7Sts,
    /// Passive health (`observe`) saw `error-limit` consecutive errors in the traffic.
    Hana,
    /// A socket error on an established check connection (a `tcp-check` send or read).
    SockErr,
}

impl CheckStatus {
    /// HAProxy's short code, as in the stats page's "last check" column.
    pub fn code(self) -> &'static str {
        match self {
            Self::Init => "INI",
            Self::L4Ok => "L4OK",
            Self::L4Timeout => "L4TOUT",
            Self::L4Con => "L4CON",
            Self::L7Rsp => "L7RSP",
            Self::L7Timeout => "L7TOUT",
            Self::L7Ok => "L7OK",
            Self::L7Sts => "L7STS",
            Self::Hana => "HANA",
            Self::SockErr => "SOCKERR",
        }
    }

    /// HAProxy's description, used as the "reason" of a transition.
    pub fn description(self) -> &'static str {
        match self {
            Self::Init => "Initializing",
            Self::L4Ok => "Layer4 check passed",
            Self::L4Timeout => "Layer4 timeout",
            Self::L4Con => "Layer4 connection problem",
            Self::L7Rsp => "Layer7 invalid response",
            Self::L7Timeout => "Layer7 timeout",
            Self::L7Ok => "Layer7 check passed",
            Self::L7Sts => "Layer7 wrong status",
            Self::Hana => "Health analyze",
            Self::SockErr => "Socket error",
        }
    }

    /// Whether this result counts as a success.
    pub fn passed(self) -> bool {
        matches!(self, Self::L4Ok | Self::L7Ok)
    }
}

/// One completed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// What it found.
    pub status: CheckStatus,
    /// The HTTP status, for layer-7 results that got one.
    pub code: Option<u16>,
    /// A short explanation (the reason phrase, or the socket error).
    pub info: Option<String>,
    /// From the start of the connect to the verdict.
    pub duration: Duration,
}

impl CheckResult {
    /// `reason: …, code: …, info: "…", check duration: Nms`, as HAProxy writes it.
    pub fn describe(&self) -> String {
        let mut out = format!("reason: {}", self.status.description());
        if let Some(code) = self.code {
            out.push_str(&format!(", code: {code}"));
        }
        if let Some(info) = &self.info {
            out.push_str(&format!(", info: \"{info}\""));
        }
        out.push_str(&format!(
            ", check duration: {}ms",
            self.duration.as_millis()
        ));
        out
    }
}

/// HAProxy's health counter: 0 to `rise + fall - 1`; the server is up from `rise` on.
/// Failures while up count down, one step each, and below `rise` the server is down (the
/// counter drops to 0); successes while down count up and at `rise` it is fully up again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// The counter.
    pub value: u32,
    /// Consecutive successes needed to come up.
    pub rise: u32,
    /// Consecutive failures needed to go down.
    pub fall: u32,
}

/// What a check result did to a server's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing (already fully up and passed, or fully down and failed).
    None,
    /// The counter moved without crossing the line.
    Moved,
    /// The server just went down.
    WentDown,
    /// The server just came up.
    WentUp,
}

impl Health {
    /// A server starting up: up, but the first failure takes it down, as HAProxy starts
    /// its servers.
    pub fn starting(rise: u32, fall: u32) -> Self {
        let (rise, fall) = (rise.max(1), fall.max(1));
        Self {
            value: rise,
            rise,
            fall,
        }
    }

    /// Fully up.
    pub fn up(rise: u32, fall: u32) -> Self {
        let (rise, fall) = (rise.max(1), fall.max(1));
        Self {
            value: rise + fall - 1,
            rise,
            fall,
        }
    }

    /// Fully down.
    pub fn down(rise: u32, fall: u32) -> Self {
        Self {
            value: 0,
            rise: rise.max(1),
            fall: fall.max(1),
        }
    }

    /// The same state under new `rise` and `fall` (a reload): up or down as before, as far
    /// into a change of state as the new range allows.
    pub fn rescaled(&self, rise: u32, fall: u32) -> Self {
        let mut next = Self::down(rise, fall);
        let top = next.rise + next.fall - 1;
        next.value = if self.is_up() {
            // Steps taken towards down keep counting.
            let taken = (self.rise + self.fall - 1) - self.value;
            top.saturating_sub(taken).max(next.rise)
        } else {
            self.value.min(next.rise - 1)
        };
        next
    }

    /// Whether the server counts as up.
    pub fn is_up(&self) -> bool {
        self.value >= self.rise
    }

    /// At either end of the range (neither going up nor going down).
    pub fn is_settled(&self) -> bool {
        self.value == 0 || self.value == self.rise + self.fall - 1
    }

    /// Applies one check result.
    pub fn record(&mut self, passed: bool) -> Change {
        let top = self.rise + self.fall - 1;
        let was_up = self.is_up();
        if passed {
            if self.value >= top {
                return Change::None;
            }
            self.value += 1;
            if self.value >= self.rise {
                self.value = top;
            }
        } else {
            if self.value == 0 {
                return Change::None;
            }
            self.value -= 1;
            if self.value < self.rise {
                self.value = 0;
            }
        }
        match (was_up, self.is_up()) {
            (false, true) => Change::WentUp,
            (true, false) => Change::WentDown,
            _ => Change::Moved,
        }
    }

    /// HAProxy's `UP`, `UP 2/3` (going down), `DOWN`, `DOWN 1/2` (going up).
    pub fn label(&self) -> String {
        let top = self.rise + self.fall - 1;
        if self.is_up() {
            if self.value == top {
                "UP".into()
            } else {
                format!("UP {}/{}", self.value - self.rise + 1, self.fall)
            }
        } else if self.value == 0 {
            "DOWN".into()
        } else {
            format!("DOWN {}/{}", self.value, self.rise)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fall_failures_take_a_server_down_and_rise_successes_bring_it_back() {
        let mut h = Health::up(2, 3);
        assert_eq!(h.label(), "UP");
        assert_eq!(h.record(false), Change::Moved);
        assert_eq!(h.label(), "UP 2/3");
        assert_eq!(
            h.record(true),
            Change::Moved,
            "one success resets to fully up"
        );
        assert_eq!(h.label(), "UP");
        assert_eq!(h.record(false), Change::Moved);
        assert_eq!(h.record(false), Change::Moved);
        assert_eq!(h.label(), "UP 1/3");
        assert_eq!(h.record(false), Change::WentDown);
        assert_eq!(h.label(), "DOWN");
        assert_eq!(h.record(false), Change::None);
        assert_eq!(h.record(true), Change::Moved);
        assert_eq!(h.label(), "DOWN 1/2");
        assert_eq!(
            h.record(false),
            Change::Moved,
            "one failure resets to fully down"
        );
        assert_eq!(h.record(true), Change::Moved);
        assert_eq!(h.record(true), Change::WentUp);
        assert!(h.is_settled() && h.is_up());
        assert_eq!(h.record(true), Change::None);
    }

    #[test]
    fn a_starting_server_goes_down_at_its_first_failure() {
        let mut h = Health::starting(2, 3);
        assert!(h.is_up());
        assert_eq!(h.record(false), Change::WentDown);
        let mut h = Health::starting(2, 3);
        assert_eq!(h.record(true), Change::Moved);
        assert!(h.is_settled());
    }

    #[test]
    fn a_reload_keeps_the_state_under_new_bounds() {
        let mut h = Health::up(2, 3);
        h.record(false);
        let r = h.rescaled(3, 5);
        assert!(r.is_up());
        assert_eq!(r.label(), "UP 4/5", "one step towards down kept");
        let mut d = Health::down(3, 2);
        d.record(true);
        d.record(true);
        assert_eq!(
            d.rescaled(2, 2).label(),
            "DOWN 1/2",
            "clamped below the new rise"
        );
        assert_eq!(
            Health::starting(2, 3).rescaled(2, 3),
            Health::starting(2, 3)
        );
    }

    #[test]
    fn rise_and_fall_of_one() {
        let mut h = Health::up(1, 1);
        assert_eq!(h.record(false), Change::WentDown);
        assert_eq!(h.record(true), Change::WentUp);
    }

    #[test]
    fn results_are_described_as_haproxy_does() {
        let r = CheckResult {
            status: CheckStatus::L7Sts,
            code: Some(503),
            info: Some("Service Unavailable".into()),
            duration: Duration::from_millis(1),
        };
        assert_eq!(
            r.describe(),
            "reason: Layer7 wrong status, code: 503, info: \"Service Unavailable\", check duration: 1ms"
        );
        assert!(!r.status.passed());
        assert_eq!(r.status.code(), "L7STS");
    }
}
