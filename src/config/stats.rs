//! `stats …` keywords of proxies, `acl` lines and `if|unless` conditions.

use super::draft::{ProxyDraft, SectionKind};
use super::error::Diagnostics;
use super::lexer::Line;
use std::sync::Arc;

use super::acl;
use super::model::{Acl, AclRef, AclTest, AuthRule, Condition, Location};
use super::proxy::{check_place, Allowed, Side};
use super::units::parse_time;

// As HAProxy's manual allows them: a `frontend` may serve the page too.
const STATS: Allowed = Allowed {
    defaults: true,
    frontend: true,
    backend: true,
};
const STATS_RULES: Allowed = Allowed {
    defaults: false,
    frontend: true,
    backend: true,
};

/// Applies `stats enable|uri|realm|refresh|auth|admin|http-request|hide-version|show-legends`.
pub fn parse_stats(
    draft: &mut ProxyDraft,
    section: SectionKind,
    line: &Line,
    diag: &mut Diagnostics,
) {
    let at = &line.location;
    let sub = line.word(1);
    let keyword = format!("stats {sub}");
    let args = line.words.get(2..).unwrap_or(&[]);
    let allowed = match sub {
        "admin" | "http-request" => STATS_RULES,
        "enable" | "uri" | "realm" | "refresh" | "auth" | "hide-version" | "show-legends" => STATS,
        "socket" => {
            diag.error(at, "'stats socket' is only allowed in the 'global' section");
            return;
        }
        other => {
            diag.error(at, format!("unknown keyword 'stats {other}' (supported: enable, uri, realm, refresh, auth, admin, http-request auth, hide-version, show-legends)"));
            return;
        }
    };
    if !check_place(&keyword, allowed, Side::Both, section, draft, line, diag) {
        return;
    }
    let one = |diag: &mut Diagnostics| match args {
        [v] => Some(v.clone()),
        _ => {
            diag.error(at, format!("'{keyword}' expects exactly one argument"));
            None
        }
    };
    let stats = &mut draft.proxy.stats;
    // As in HAProxy, any `stats` keyword turns the stats page on.
    stats.enabled = true;
    match sub {
        "enable" | "hide-version" | "show-legends" => {
            if !args.is_empty() {
                diag.error(at, format!("'{keyword}' takes no argument"));
            }
            stats.hide_version |= sub == "hide-version";
            stats.show_legends |= sub == "show-legends";
        }
        "uri" => {
            if let Some(uri) = one(diag) {
                if uri.starts_with('/') {
                    stats.uri = uri;
                } else {
                    diag.error(
                        at,
                        format!("'stats uri' expects a path starting with '/' (got '{uri}')"),
                    );
                }
            }
        }
        "realm" => {
            if let Some(realm) = one(diag) {
                stats.realm = Some(realm);
            }
        }
        "refresh" => {
            if let Some(v) = one(diag) {
                match parse_time(&v) {
                    Ok(t) => stats.refresh = Some(t),
                    Err(e) => diag.error(at, format!("'stats refresh': {e}")),
                }
            }
        }
        "auth" => {
            if let Some(v) = one(diag) {
                match v.split_once(':') {
                    Some((user, pass)) if !user.is_empty() => {
                        stats.auth.push((user.to_string(), pass.to_string()))
                    }
                    _ => diag.error(at, "'stats auth' expects <user>:<password>"),
                }
            }
        }
        "admin" => match parse_condition(args, at, &mut draft.acl_uses) {
            Ok(Some(condition)) => draft.proxy.stats.admin.push(condition),
            Ok(None) => diag.error(
                at,
                "'stats admin' expects 'if' or 'unless' followed by a condition",
            ),
            Err(message) => diag.error(at, format!("'stats admin': {message}")),
        },
        _ => parse_http_request(draft, args, at, diag),
    }
}

fn parse_http_request(
    draft: &mut ProxyDraft,
    args: &[String],
    at: &Location,
    diag: &mut Diagnostics,
) {
    let Some(action) = args.first() else {
        diag.error(at, "'stats http-request' expects an action");
        return;
    };
    if action != "auth" {
        diag.error(
            at,
            format!("'stats http-request {action}' is not supported (supported: auth)"),
        );
        return;
    }
    let mut rest = &args[1..];
    let mut realm = None;
    if rest.first().is_some_and(|w| w == "realm") {
        let Some(name) = rest.get(1) else {
            diag.error(at, "'stats http-request auth realm' expects a realm");
            return;
        };
        realm = Some(name.clone());
        rest = &rest[2..];
    }
    match parse_condition(rest, at, &mut draft.acl_uses) {
        Ok(condition) if condition.is_some() || rest.is_empty() => draft
            .proxy
            .stats
            .http_request_auth
            .push(AuthRule { realm, condition }),
        Ok(_) => diag.error(
            at,
            format!("'stats http-request auth': unexpected '{}'", rest.join(" ")),
        ),
        Err(message) => diag.error(at, format!("'stats http-request auth': {message}")),
    }
}

/// Applies `http-request use-service prometheus-exporter [if { path P }]`, HAProxy's way to
/// publish the Prometheus metrics; other `http-request` actions come with content switching.
pub fn parse_use_service(draft: &mut ProxyDraft, line: &Line, diag: &mut Diagnostics) {
    let at = &line.location;
    let words: Vec<&str> = line.words[1..].iter().map(String::as_str).collect();
    match words.as_slice() {
        ["use-service", "prometheus-exporter"] => draft.proxy.stats.prometheus = Some(None),
        ["use-service", "prometheus-exporter", "if", "{", "path", path, "}"] => {
            draft.proxy.stats.prometheus = Some(Some(path.to_string()));
        }
        ["use-service", "prometheus-exporter", ..] => diag.error(
            at,
            "'http-request use-service prometheus-exporter' takes no condition or 'if { path <path> }'",
        ),
        [action, ..] => diag.error(
            at,
            format!("'http-request {action}' is not supported yet (supported: 'use-service prometheus-exporter')"),
        ),
        [] => diag.error(at, "'http-request' expects an action"),
    }
}

/// Applies `use_backend NAME [if|unless COND]`; the name and the condition are resolved once
/// every section and `acl` line is known.
pub fn parse_use_backend(draft: &mut ProxyDraft, line: &Line, diag: &mut Diagnostics) {
    let at = &line.location;
    let Some(name) = line.words.get(1) else {
        diag.error(at, "'use_backend' expects a backend name");
        return;
    };
    let rest = &line.words[2..];
    match parse_condition(rest, at, &mut draft.acl_uses) {
        Ok(condition) if condition.is_some() || rest.is_empty() => {
            draft
                .use_backends
                .push((name.clone(), condition, at.clone()));
        }
        Ok(_) => diag.error(
            at,
            format!(
                "'use_backend {name}': expects 'if' or 'unless' after the name (got '{}')",
                rest.join(" ")
            ),
        ),
        Err(message) => diag.error(at, format!("'use_backend {name}': {message}")),
    }
}

/// Parses `if|unless …` and records the names it uses, checked once every `acl` line is known.
fn parse_condition(
    words: &[String],
    at: &Location,
    uses: &mut Vec<(String, Location)>,
) -> Result<Option<Condition>, String> {
    let condition = acl::parse_condition(words).map_err(|e| e.to_string())?;
    if let Some(c) = &condition {
        for term in c.any_of.iter().flatten() {
            if let AclRef::Named(name) = &term.acl {
                uses.push((name.clone(), at.clone()));
            }
        }
    }
    Ok(condition)
}

/// Applies `acl NAME CRITERION [flags] [patterns]`: `http_auth(LIST)` and
/// `http_auth_group(LIST) GROUP...` for the stats page, any other criterion through the
/// ACL engine.
pub fn parse_acl(draft: &mut ProxyDraft, line: &Line, diag: &mut Diagnostics) {
    let at = &line.location;
    let (Some(name), Some(criterion)) = (line.words.get(1), line.words.get(2)) else {
        diag.error(at, "'acl' expects a name and a criterion");
        return;
    };
    if let Err(e) = acl::parse::check_name(name) {
        diag.error(
            at,
            format!("error detected while parsing ACL '{name}' : {e}"),
        );
        return;
    }
    let args = &line.words[3..];
    let list_of = |prefix: &str| {
        criterion
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(')'))
            .map(str::to_string)
    };
    let test = if let Some(userlist) = list_of("http_auth(") {
        if !args.is_empty() {
            diag.error(
                at,
                format!(
                    "acl '{name}': 'http_auth' takes no pattern (got '{}')",
                    args.join(" ")
                ),
            );
            return;
        }
        AclTest::HttpAuth { userlist }
    } else if let Some(userlist) = list_of("http_auth_group(") {
        if args.is_empty() {
            diag.error(
                at,
                format!("acl '{name}': 'http_auth_group' expects at least one group"),
            );
            return;
        }
        AclTest::HttpAuthGroup {
            userlist,
            groups: args.to_vec(),
        }
    } else {
        match acl::parse_acl_expr(&line.words[2..]) {
            Ok(parsed) => {
                if let Some(warning) = parsed.warning {
                    diag.warn(at, warning);
                }
                AclTest::Expr(Arc::new(parsed.expr))
            }
            Err(e) => {
                diag.error(
                    at,
                    format!("error detected while parsing ACL '{name}' : {e}"),
                );
                return;
            }
        }
    };
    draft.proxy.acls.push(Acl {
        name: name.clone(),
        test,
        location: at.clone(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(s: &str) -> Result<Option<Condition>, String> {
        let words: Vec<String> = s.split_whitespace().map(String::from).collect();
        let at = Location {
            file: Arc::from("t"),
            line: 1,
        };
        parse_condition(&words, &at, &mut Vec::new())
    }

    #[test]
    fn conditions() {
        let named = |negated, name: &str| crate::config::Term {
            negated,
            acl: AclRef::Named(name.to_string()),
        };
        let c = cond("unless AUTH").unwrap().unwrap();
        assert!(c.unless);
        assert_eq!(c.any_of, vec![vec![named(false, "AUTH")]]);
        let c = cond("if A !B || C").unwrap().unwrap();
        assert_eq!(c.any_of.len(), 2);
        assert_eq!(c.any_of[0][1], named(true, "B"));
        assert!(cond("realm x").unwrap().is_none());
        assert!(cond("if").is_err());
        assert!(cond("if A ||").is_err());
        let c = cond("if { src 1.2.3.4 }").unwrap().unwrap();
        assert!(matches!(c.any_of[0][0].acl, AclRef::Anonymous(_)));
    }
}
