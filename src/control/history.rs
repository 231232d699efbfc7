//! When a server or backend last changed state and how long it has been down, as HAProxy's
//! `lastchg`, `downtime` and `chkdown` report them.

use std::time::{Duration, Instant};

/// The up/down history of one server or backend.
#[derive(Debug, Clone)]
pub struct StateHistory {
    /// When the state last changed (or when the record began).
    changed_at: Instant,
    /// Since when it is down, if it is.
    down_since: Option<Instant>,
    /// Time spent down before `down_since`.
    down_before: Duration,
    /// Times it went from up to down (`chkdown`).
    went_down: u64,
}

impl StateHistory {
    /// A history that begins now, up or down.
    pub fn new(up: bool, now: Instant) -> Self {
        Self {
            changed_at: now,
            down_since: (!up).then_some(now),
            down_before: Duration::ZERO,
            went_down: 0,
        }
    }

    /// Notes the state at `now`; a change restarts `lastchg` and moves `downtime`.
    pub fn set(&mut self, up: bool, now: Instant) {
        match (up, self.down_since) {
            (true, Some(since)) => {
                self.down_before += now.saturating_duration_since(since);
                self.down_since = None;
                self.changed_at = now;
            }
            (false, None) => {
                self.down_since = Some(now);
                self.went_down += 1;
                self.changed_at = now;
            }
            _ => {}
        }
    }

    /// Time since the last change of state.
    pub fn since_change(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.changed_at)
    }

    /// Total time down, the current spell included.
    pub fn downtime(&self, now: Instant) -> Duration {
        self.down_before
            + self
                .down_since
                .map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
    }

    /// Times it went down.
    pub fn went_down(&self) -> u64 {
        self.went_down
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downtime_and_transitions_add_up() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let mut h = StateHistory::new(true, t0);
        h.set(true, s(1));
        assert_eq!(h.since_change(s(2)), Duration::from_secs(2), "no change");
        h.set(false, s(3));
        h.set(false, s(4));
        assert_eq!(h.downtime(s(5)), Duration::from_secs(2));
        h.set(true, s(6));
        h.set(false, s(10));
        assert_eq!(h.went_down(), 2);
        assert_eq!(h.downtime(s(11)), Duration::from_secs(4));
        assert_eq!(h.since_change(s(11)), Duration::from_secs(1));
        let down = StateHistory::new(false, t0);
        assert_eq!(down.downtime(s(7)), Duration::from_secs(7));
        assert_eq!(down.went_down(), 0, "starting down is not a transition");
    }
}
