//! `tcp-request inspect-delay`, `tcp-request connection` and `tcp-request content` lines,
//! parsed with HAProxy 2.6's placement rules and messages, compiled once every `acl` is known.

use std::sync::Arc;
use std::time::Duration;

use super::acl::{self, CompiledCondition};
use super::draft::{ProxyDraft, SectionKind};
use super::error::Diagnostics;
use super::lexer::Line;
use super::model::{Acl, AclRef, AclTest, Condition, Location, ProxyKind};
use super::units::parse_time;

/// What a matching `tcp-request` rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpAction {
    /// `accept`: stop evaluating this rule set and go on.
    Accept,
    /// `reject`: close the connection without a word.
    Reject,
}

/// A `tcp-request connection|content` line as read, compiled at the end.
#[derive(Debug, Clone)]
pub struct TcpRuleDraft {
    /// The action.
    pub action: TcpAction,
    /// `if|unless …`.
    pub condition: Option<Condition>,
    /// Where it was written.
    pub location: Location,
}

/// A compiled `tcp-request` rule.
#[derive(Debug, Clone)]
pub struct TcpRule {
    /// The action.
    pub action: TcpAction,
    /// When it applies (always without one).
    pub condition: Option<Arc<CompiledCondition>>,
}

/// A proxy's `tcp-request` settings.
#[derive(Debug, Clone, Default)]
pub struct TcpRequest {
    /// `tcp-request inspect-delay`: how long content rules may wait for data.
    pub inspect_delay: Option<Duration>,
    /// `tcp-request connection` rules, run at accept.
    pub connection: Vec<TcpRule>,
    /// `tcp-request content` rules, run on the buffered request bytes.
    pub content: Vec<TcpRule>,
}

/// The `tcp-request` lines of a section being read.
#[derive(Debug, Clone, Default)]
pub struct TcpRequestDraft {
    /// `tcp-request connection` lines.
    pub connection: Vec<TcpRuleDraft>,
    /// `tcp-request content` lines.
    pub content: Vec<TcpRuleDraft>,
}

const CONTENT_ACTIONS: &str = "'accept', 'reject', 'capture', 'expect-proxy', 'expect-netscaler-cip', 'track-sc0' ... 'track-sc2', 'ot-group', 'set-log-level', 'set-nice', 'switch-mode', 'use-service', 'sc-inc-gpc(*)', 'sc-inc-gpc0(*)', 'sc-inc-gpc1(*)', 'sc-set-gpt(*)', 'sc-set-gpt0(*)', 'send-spoe-group', 'do-resolve(*)', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)', 'set-src', 'set-src-port', 'set-dst', 'set-dst-port', 'set-mark', 'set-tos', 'silent-drop', 'set-priority-class', 'set-priority-offset'";

/// HAProxy's actions ringlb does not run yet: named as such rather than as unknown.
const KNOWN_ACTIONS: &[&str] = &[
    "capture",
    "expect-proxy",
    "expect-netscaler-cip",
    "track-sc0",
    "track-sc1",
    "track-sc2",
    "set-log-level",
    "set-nice",
    "switch-mode",
    "use-service",
    "send-spoe-group",
    "set-src",
    "set-src-port",
    "set-dst",
    "set-dst-port",
    "set-mark",
    "set-tos",
    "silent-drop",
    "set-priority-class",
    "set-priority-offset",
];

/// Applies one `tcp-request …` line of `section`.
pub fn parse_line(
    draft: &mut ProxyDraft,
    section: SectionKind,
    line: &Line,
    diag: &mut Diagnostics,
) {
    let at = &line.location;
    let sub = line.word(1);
    let known = matches!(sub, "inspect-delay" | "connection" | "content" | "session");
    let where_ = format!("{} '{}'", section.keyword(), draft.proxy.name);
    if !known {
        diag.error(
            at,
            format!("'tcp-request' expects 'inspect-delay', 'connection', or 'content' in {where_} (got '{sub}')"),
        );
        return;
    }
    if section == SectionKind::Defaults {
        diag.error(
            at,
            format!("tcp-request {sub} is not allowed in anonymous 'defaults' sections"),
        );
        return;
    }
    let kind = draft.proxy.kind;
    match sub {
        "session" => diag.error(
            at,
            "'tcp-request session' is not supported by ringlb yet".to_string(),
        ),
        "inspect-delay" => {
            if kind == ProxyKind::Backend {
                diag.error(
                    at,
                    "'tcp-request inspect-delay' in a backend is not supported by ringlb yet",
                );
                return;
            }
            let message = format!(
                "'tcp-request inspect-delay' expects a positive delay in milliseconds, in {where_}"
            );
            match line.words.get(2..) {
                Some([value]) => match parse_time(value) {
                    Ok(d) => draft.proxy.tcp_request.inspect_delay = Some(d),
                    Err(e) => diag.error(at, format!("{message} ({e})")),
                },
                _ => diag.error(at, message),
            }
        }
        _ => {
            if kind == ProxyKind::Backend {
                let message = if sub == "connection" {
                    format!(
                        "tcp-request connection is not allowed because backend {} is not a frontend",
                        draft.proxy.name
                    )
                } else {
                    "'tcp-request content' in a backend is not supported by ringlb yet".into()
                };
                diag.error(at, message);
                return;
            }
            let action = line.word(2);
            let action = match action {
                "accept" => TcpAction::Accept,
                "reject" => TcpAction::Reject,
                other if KNOWN_ACTIONS.contains(&other) || other.contains('(') => {
                    diag.error(
                        at,
                        format!("'tcp-request {sub} {other}' is a HAProxy action ringlb does not support yet"),
                    );
                    return;
                }
                other => {
                    diag.error(
                        at,
                        format!("'tcp-request {sub}' expects {CONTENT_ACTIONS} in {where_} (got '{other}')."),
                    );
                    return;
                }
            };
            let rest = line.words.get(3..).unwrap_or_default();
            let condition = match acl::parse_condition(rest) {
                Ok(Some(c)) => Some(c),
                Ok(None) if rest.is_empty() => None,
                Ok(None) => {
                    diag.error(
                        at,
                        format!(
                            "'tcp-request {sub} {}' only accepts 'if' or 'unless', in {where_} (got '{}')",
                            line.word(2),
                            rest.join(" ")
                        ),
                    );
                    return;
                }
                Err(e) => {
                    diag.error(at, format!("'tcp-request {sub} {}': {e}", line.word(2)));
                    return;
                }
            };
            if let Some(c) = &condition {
                for term in c.any_of.iter().flatten() {
                    if let AclRef::Named(name) = &term.acl {
                        draft.acl_uses.push((name.clone(), at.clone()));
                    }
                }
            }
            let rule = TcpRuleDraft {
                action,
                condition,
                location: at.clone(),
            };
            if sub == "connection" {
                if !draft.tcp_request.content.is_empty() {
                    diag.warn(
                        at,
                        "a 'tcp-request' rule placed after a 'tcp-request content' rule will still be processed before.",
                    );
                }
                draft.tcp_request.connection.push(rule);
            } else {
                draft.tcp_request.content.push(rule);
            }
        }
    }
}

/// Compiles `draft`'s rules against its `acl` lines into `into`; a connection rule whose
/// ACL reads more than the connection gets HAProxy's "will never match" warning.
pub fn compile(
    draft: &TcpRequestDraft,
    acls: &[Acl],
    into: &mut TcpRequest,
    diag: &mut Diagnostics,
) {
    let one = |rule: &TcpRuleDraft, sub: &str, diag: &mut Diagnostics| -> Option<TcpRule> {
        let label = format!("tcp-request {sub}");
        let condition = super::acl::compile_reported(
            rule.condition.as_ref(),
            acls,
            &rule.location,
            &label,
            diag,
        )?;
        if sub == "connection" {
            if let Some(c) = &rule.condition {
                warn_never_matching(c, acls, &rule.location, diag);
            }
        }
        Some(TcpRule {
            action: rule.action,
            condition,
        })
    };
    into.connection = draft
        .connection
        .iter()
        .filter_map(|r| one(r, "connection", diag))
        .collect();
    into.content = draft
        .content
        .iter()
        .filter_map(|r| one(r, "content", diag))
        .collect();
}

/// HAProxy's warning for each ACL of a connection rule that reads only what a connection
/// does not have yet.
fn warn_never_matching(c: &Condition, acls: &[Acl], at: &Location, diag: &mut Diagnostics) {
    for term in c.any_of.iter().flatten() {
        match &term.acl {
            AclRef::Named(name) => {
                let lines: Vec<_> = acls.iter().filter(|a| &a.name == name).collect();
                let beyond = if lines.is_empty() {
                    acl::predefined(name).is_some_and(|e| !e.fetch.is_connection_level())
                } else {
                    lines.iter().all(|a| match &a.test {
                        AclTest::Expr(e) => !e.fetch.is_connection_level(),
                        _ => true,
                    })
                };
                if beyond {
                    diag.warn(at, format!("acl '{name}' will never match in 'tcp-request connection' because it only involves keywords that are incompatible with 'frontend tcp-request connection rule'"));
                }
            }
            AclRef::Anonymous(e) => {
                if !e.fetch.is_connection_level() {
                    let word = e.source.split_whitespace().next().unwrap_or_default();
                    let fetch = word.split(['(', ',']).next().unwrap_or_default();
                    diag.warn(at, format!("anonymous acl will never match in 'tcp-request connection' because it uses keyword '{fetch}' which is incompatible with 'frontend tcp-request connection rule'"));
                }
            }
        }
    }
}

/// Runs `rules` in order: the first whose condition holds decides; none holding accepts.
/// `None` while a condition cannot be decided yet (it waits for more bytes).
pub fn verdict<V: acl::RequestView + ?Sized>(rules: &[TcpRule], view: &V) -> Option<TcpAction> {
    for rule in rules {
        let holds = match &rule.condition {
            None => true,
            Some(c) => c.decide(view)?,
        };
        if holds {
            return Some(rule.action);
        }
    }
    Some(TcpAction::Accept)
}
