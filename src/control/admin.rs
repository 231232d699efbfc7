//! Operators' actions on servers (the stats page's admin form, the admin socket): each
//! batch of changes becomes one snapshot, and what it set survives reloads.

use crate::config::{ProxyId, ServerId};

use super::health::Health;
use super::plane::ControlPlane;

/// One action on one server, as the stats page's `action=` values and the runtime API's
/// `set server` / `enable` / `disable` commands name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerAction {
    /// `ready`: out of maintenance and drain.
    Ready,
    /// `drain`: up, but no new traffic.
    Drain,
    /// `maint`: no traffic at all; health checks stop counting.
    Maint,
    /// `ehlth`: health checks count again.
    ChecksOn,
    /// `dhlth`: health checks stop counting; the state they reached stays.
    ChecksOff,
    /// `hrunn`: the health counter set fully up.
    ForceUp,
    /// `hdown`: the health counter set fully down.
    ForceDown,
    /// `set weight`: a new weight (0..=256).
    Weight(u32),
}

/// Why an action was refused, in HAProxy's words where scripts read them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// No such server.
    #[error("No such server.")]
    NoServer,
    /// The server has no health checks to act on.
    #[error("Health checks are not configured on this server, cannot enable.")]
    NoChecks,
    /// Weights of static algorithms only go to 0% or 100%.
    #[error("Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.")]
    StaticWeight,
}

/// What an action did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionOutcome {
    /// The server's state changed.
    Changed,
    /// It was already so.
    Unchanged,
}

impl ControlPlane {
    /// Applies `actions` and publishes one snapshot if anything changed; one outcome per
    /// action, in order.
    pub fn apply(
        &mut self,
        actions: &[(ProxyId, ServerId, ServerAction)],
    ) -> Vec<Result<ActionOutcome, ActionError>> {
        let config = std::sync::Arc::clone(self.config());
        let mut changed = Vec::new();
        let outcomes = actions
            .iter()
            .map(|&(proxy, server, action)| {
                let p = config.proxies.get(proxy).ok_or(ActionError::NoServer)?;
                let s = p.servers.get(server).ok_or(ActionError::NoServer)?;
                let record = self
                    .servers
                    .get_mut(proxy)
                    .and_then(|l| l.get_mut(server))
                    .ok_or(ActionError::NoServer)?;
                let before = (record.maint, record.weight, record.admin, record.is_up());
                let was_up = record.is_up();
                match action {
                    ServerAction::Ready => {
                        record.admin.maint = Some(false);
                        record.admin.drain = false;
                        record.maint = record.unresolved;
                    }
                    ServerAction::Drain => {
                        record.admin.maint = Some(false);
                        record.admin.drain = true;
                        record.maint = record.unresolved;
                    }
                    ServerAction::Maint => {
                        record.admin.maint = Some(true);
                        record.admin.was_maint = true;
                        record.maint = true;
                    }
                    ServerAction::ChecksOn
                    | ServerAction::ChecksOff
                    | ServerAction::ForceUp
                    | ServerAction::ForceDown
                        if record.check.is_none() =>
                    {
                        return Err(ActionError::NoChecks);
                    }
                    ServerAction::ChecksOn => record.admin.checks_off = false,
                    ServerAction::ChecksOff => record.admin.checks_off = true,
                    ServerAction::ForceUp | ServerAction::ForceDown => {
                        if let Some(check) = record.check.as_mut() {
                            let (rise, fall) = (check.health.rise, check.health.fall);
                            check.health = if action == ServerAction::ForceUp {
                                Health::up(rise, fall)
                            } else {
                                Health::down(rise, fall)
                            };
                        }
                    }
                    ServerAction::Weight(w) => {
                        let fixed = p.static_weights();
                        if fixed && w != 0 && w != s.weight {
                            return Err(ActionError::StaticWeight);
                        }
                        record.admin.weight = Some(w);
                        record.weight = w;
                    }
                }
                let after = (record.maint, record.weight, record.admin, record.is_up());
                if before == after {
                    return Ok(ActionOutcome::Unchanged);
                }
                changed.push((proxy, server, was_up, record.is_up()));
                Ok(ActionOutcome::Changed)
            })
            .collect();
        if !changed.is_empty() {
            self.publish();
            for (proxy, server, was_up, is_up) in changed {
                if was_up != is_up {
                    self.log_admin_transition(proxy, server, is_up);
                }
            }
        }
        outcomes
    }
}
