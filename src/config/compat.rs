//! Keywords public HAProxy configurations carry whose effect ringlb does not have, or does not
//! need: each is read with HAProxy's syntax, recorded, and announced with a warning that says
//! why, so a stock `haproxy.cfg` loads and nobody mistakes them for working.

use std::time::Duration;

use super::draft::{ProxyDraft, SectionKind};
use super::error::Diagnostics;
use super::lexer::Line;
use super::model::Global;
use super::proxy::{check_place, Allowed, Side, ANY};
use super::units::{parse_time, parse_uint};

/// What compatibility keywords of `global` said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobalExtras {
    /// `description TEXT`.
    pub description: Option<String>,
    /// `node NAME`.
    pub node: Option<String>,
    /// `spread-checks PERCENT`.
    pub spread_checks: Option<u32>,
    /// `strict-limits`.
    pub strict_limits: bool,
    /// `server-state-file PATH`.
    pub server_state_file: Option<String>,
    /// TLS keywords seen (`ca-base`, `ssl-default-bind-ciphers`, …), kept for when TLS comes.
    pub tls: Vec<(String, Vec<String>)>,
}

/// What compatibility keywords of a proxy said; the shards act on `monitor_uri` and the
/// keep-alive switches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyExtras {
    /// `monitor-uri URI`: HAProxy answers 200 there itself, without a backend.
    pub monitor_uri: Option<String>,
    /// `option clitcpka` (or `tcpka`): SO_KEEPALIVE on client connections.
    pub client_keepalive: bool,
    /// `option srvtcpka` (or `tcpka`): SO_KEEPALIVE on server connections.
    pub server_keepalive: bool,
    /// `option abortonclose`.
    pub abortonclose: bool,
    /// `option log-health-checks`.
    pub log_health_checks: bool,
    /// `option socket-stats`.
    pub socket_stats: bool,
    /// `fullconn N`.
    pub fullconn: Option<u32>,
    /// `description TEXT`.
    pub description: Option<String>,
    /// `http-check disable-on-404`.
    pub disable_on_404: bool,
    /// `load-server-state-from-file global|local|none`.
    pub load_server_state: Option<String>,
    /// `timeout client-fin`.
    pub client_fin: Option<Duration>,
    /// `timeout server-fin`.
    pub server_fin: Option<Duration>,
    /// `timeout tarpit`.
    pub tarpit: Option<Duration>,
    /// `stats scope NAME` lines.
    pub stats_scope: Vec<String>,
    /// `stats show-desc [TEXT]`.
    pub stats_show_desc: Option<Option<String>>,
    /// `stats show-node [NAME]`.
    pub stats_show_node: Option<Option<String>>,
}

const TLS_WHY: &str =
    "TLS settings are accepted but not used yet: ringlb neither terminates nor originates TLS";

/// Applies a compatibility keyword of `global`; false when `line` is not one.
pub fn parse_global(global: &mut Global, line: &Line, diag: &mut Diagnostics) -> bool {
    let at = &line.location;
    let keyword = line.word(0);
    let args = &line.words[1..];
    let extras = &mut global.extras;
    match keyword {
        "ca-base"
        | "crt-base"
        | "ssl-dh-param-file"
        | "ssl-server-verify"
        | "tune.ssl.default-dh-param" => {
            if args.len() != 1 {
                diag.error(at, format!("'{keyword}' expects exactly one argument"));
                return true;
            }
            extras.tls.push((keyword.to_string(), args.to_vec()));
            diag.warn(at, format!("'{keyword}': {TLS_WHY}"));
        }
        k if k.starts_with("ssl-default-") && super::keywords::GLOBAL.contains(&k) => {
            if args.is_empty() {
                diag.error(at, format!("'{keyword}' expects an argument"));
                return true;
            }
            extras.tls.push((keyword.to_string(), args.to_vec()));
            diag.warn(at, format!("'{keyword}': {TLS_WHY}"));
        }
        "description" => {
            extras.description = Some(args.join(" "));
            diag.warn(at, "'description' is accepted and shown nowhere yet: the stats page has no description line");
        }
        "node" => match args {
            [name] => {
                extras.node = Some(name.clone());
                diag.warn(at, "'node' is accepted and has no effect yet: the stats page and the logs show the host name");
            }
            _ => diag.error(at, "'node' expects exactly one argument"),
        },
        "spread-checks" => match args {
            [v] => match parse_uint(v, 50) {
                Ok(n) => {
                    extras.spread_checks = Some(n as u32);
                    diag.warn(at, "'spread-checks' is accepted and has no effect: ringlb spreads the first checks evenly over the interval, with no random jitter after that");
                }
                Err(_) => diag.error(
                    at,
                    format!("'spread-checks' expects a percentage between 0 and 50 (got '{v}')"),
                ),
            },
            _ => diag.error(at, "'spread-checks' expects an integer argument"),
        },
        "strict-limits" => {
            if !args.is_empty() {
                diag.error(at, "'strict-limits' takes no argument");
                return true;
            }
            extras.strict_limits = true;
            diag.warn(at, "'strict-limits' is accepted and has no effect: ringlb does not fail to start over file descriptors, it lowers 'maxconn' to what the descriptors it gets allow");
        }
        "server-state-file" | "server-state-base" => match args {
            [path] => {
                if keyword == "server-state-file" {
                    extras.server_state_file = Some(path.clone());
                }
                diag.warn(at, format!("'{keyword}' is accepted and has no effect: server states survive reloads in-process, no state file is read or written"));
            }
            _ => diag.error(at, format!("'{keyword}' expects exactly one argument")),
        },
        _ => return false,
    }
    true
}

// As HAProxy: a keyword on the wrong side of a proxy warns that it is ignored there.
const BACK: Allowed = ANY;
const FRONT: Allowed = ANY;
const NOT_DEFAULTS: Allowed = Allowed {
    defaults: false,
    frontend: true,
    backend: true,
};

/// Applies a compatibility keyword of a proxy section; false when `line` is not one.
pub fn parse_proxy(
    draft: &mut ProxyDraft,
    section: SectionKind,
    line: &Line,
    diag: &mut Diagnostics,
) -> bool {
    let at = &line.location;
    let keyword = line.word(0);
    let args = &line.words[1..];
    let place = |allowed, side, draft: &ProxyDraft, diag: &mut Diagnostics| {
        check_place(keyword, allowed, side, section, draft, line, diag)
    };
    match keyword {
        "monitor-uri" => {
            if place(FRONT, Side::Frontend, draft, diag) {
                match args {
                    [uri] if uri.starts_with('/') => {
                        draft.proxy.extras.monitor_uri = Some(uri.clone());
                    }
                    _ => diag.error(at, "'monitor-uri' expects a URI starting with '/'"),
                }
            }
        }
        "fullconn" => {
            if place(BACK, Side::Backend, draft, diag) {
                match args {
                    [v] => match parse_uint(v, u64::from(u32::MAX)) {
                        Ok(n) => {
                            draft.proxy.extras.fullconn = Some(n as u32);
                            diag.warn(at, "'fullconn' is accepted and has no effect: it only scales server 'minconn', which ringlb does not support yet");
                        }
                        Err(e) => diag.error(at, format!("'fullconn': {e}")),
                    },
                    _ => diag.error(at, "'fullconn' expects an integer argument"),
                }
            }
        }
        "description" => {
            if place(NOT_DEFAULTS, Side::Both, draft, diag) {
                draft.proxy.extras.description = Some(args.join(" "));
                diag.warn(at, "'description' is accepted and shown nowhere yet: the stats page has no description line");
            }
        }
        "load-server-state-from-file" | "server-state-file-name" => {
            if place(BACK, Side::Backend, draft, diag) {
                match args {
                    [v] => {
                        draft.proxy.extras.load_server_state = Some(v.clone());
                        diag.warn(at, format!("'{keyword}' is accepted and has no effect: server states survive reloads in-process, no state file is read"));
                    }
                    _ => diag.error(at, format!("'{keyword}' expects exactly one argument")),
                }
            }
        }
        "ignore-persist" => {
            if place(NOT_DEFAULTS, Side::Backend, draft, diag) {
                match super::acl::parse_condition(args) {
                    Ok(Some(_)) => diag.warn(at, "'ignore-persist' is accepted and has no effect: ringlb has no persistence to ignore yet"),
                    Ok(None) => diag.error(at, "'ignore-persist' expects 'if' or 'unless' followed by a condition"),
                    Err(e) => diag.error(at, format!("'ignore-persist': {e}")),
                }
            }
        }
        _ => return false,
    }
    true
}

/// Applies `option clitcpka|srvtcpka|tcpka|abortonclose|log-health-checks|socket-stats`;
/// false when `name` is not one of them.
pub fn parse_option(
    draft: &mut ProxyDraft,
    section: SectionKind,
    line: &Line,
    name: &str,
    negated: bool,
    diag: &mut Diagnostics,
) -> bool {
    let (allowed, side, why) = match name {
        "clitcpka" => (FRONT, Side::Frontend, "ringlb does not set SO_KEEPALIVE on client connections yet; 'timeout client' bounds an idle client"),
        "srvtcpka" => (BACK, Side::Backend, "ringlb does not set SO_KEEPALIVE on server connections yet; 'timeout server' bounds an idle server"),
        "tcpka" => (ANY, Side::Both, "ringlb does not set SO_KEEPALIVE on its connections yet; 'timeout client' and 'timeout server' bound idle peers"),
        "abortonclose" => (BACK, Side::Backend, "ringlb does not watch for a client that closes while its request waits for a server"),
        "log-health-checks" => (BACK, Side::Backend, "check results are not logged one by one"),
        "socket-stats" => (FRONT, Side::Frontend, "the stats page has no per-listener rows"),
        _ => return false,
    };
    let keyword = format!("option {name}");
    if !check_place(&keyword, allowed, side, section, draft, line, diag) {
        return true;
    }
    let base = if negated { 3 } else { 2 };
    if line.words.len() > base {
        diag.error(&line.location, format!("'{keyword}' takes no argument"));
        return true;
    }
    let e = &mut draft.proxy.extras;
    let on = !negated;
    match name {
        "clitcpka" => e.client_keepalive = on,
        "srvtcpka" => e.server_keepalive = on,
        "tcpka" => {
            e.client_keepalive = on;
            e.server_keepalive = on;
        }
        "abortonclose" => e.abortonclose = on,
        "log-health-checks" => e.log_health_checks = on,
        _ => e.socket_stats = on,
    }
    if on && !name.contains("tcpka") {
        diag.warn(
            &line.location,
            format!("'{keyword}' is accepted and has no effect yet: {why}"),
        );
    }
    true
}

/// Applies `timeout client-fin|server-fin|tarpit T`; false for other timeouts.
pub fn parse_timeout(
    draft: &mut ProxyDraft,
    section: SectionKind,
    line: &Line,
    diag: &mut Diagnostics,
) -> bool {
    let name = line.word(1);
    let (allowed, side, why) = match name {
        "client-fin" => (
            FRONT,
            Side::Frontend,
            "ringlb has no separate timeout for half-closed client connections",
        ),
        "server-fin" => (
            BACK,
            Side::Backend,
            "ringlb has no separate timeout for half-closed server connections",
        ),
        "tarpit" => (ANY, Side::Both, "ringlb has no tarpit action"),
        _ => return false,
    };
    let keyword = format!("timeout {name}");
    if !check_place(&keyword, allowed, side, section, draft, line, diag) {
        return true;
    }
    let value = match &line.words[2..] {
        [v] => match parse_time(v) {
            Ok(d) => d,
            Err(e) => {
                diag.error(&line.location, format!("'{keyword}': {e}"));
                return true;
            }
        },
        _ => {
            diag.error(
                &line.location,
                format!("'{keyword}' expects exactly one time value"),
            );
            return true;
        }
    };
    let value = (!value.is_zero()).then_some(value);
    match name {
        "client-fin" => draft.proxy.extras.client_fin = value,
        "server-fin" => draft.proxy.extras.server_fin = value,
        _ => draft.proxy.extras.tarpit = value,
    }
    diag.warn(
        &line.location,
        format!("'{keyword}' is accepted and has no effect: {why}"),
    );
    true
}

/// Applies `stats scope|show-desc|show-node`; false for other `stats` keywords.
pub fn parse_stats(draft: &mut ProxyDraft, line: &Line, diag: &mut Diagnostics) -> bool {
    let at = &line.location;
    let args = line.words.get(2..).unwrap_or(&[]);
    let e = &mut draft.proxy.extras;
    match line.word(1) {
        "scope" => {
            match args {
                [name] => {
                    e.stats_scope.push(name.clone());
                    diag.warn(at, "'stats scope' is accepted and has no effect: the stats page shows every proxy");
                }
                _ => diag.error(at, "'stats scope' expects a proxy name or '.'"),
            }
        }
        "show-desc" => {
            e.stats_show_desc = Some((!args.is_empty()).then(|| args.join(" ")));
            diag.warn(at, "'stats show-desc' is accepted and has no effect: the stats page has no description line");
        }
        "show-node" => match args {
            [] => e.stats_show_node = Some(None),
            [name] => {
                e.stats_show_node = Some(Some(name.clone()));
                diag.warn(at, format!("'stats show-node {name}': the stats page shows the host name, not '{name}'"));
            }
            _ => diag.error(at, "'stats show-node' takes at most one name"),
        },
        _ => return false,
    }
    true
}

/// Applies `http-check disable-on-404`; false for other `http-check` lines.
pub fn parse_http_check(draft: &mut ProxyDraft, line: &Line, diag: &mut Diagnostics) -> bool {
    if line.word(1) != "disable-on-404" {
        return false;
    }
    if line.words.len() > 2 {
        diag.error(
            &line.location,
            "'http-check disable-on-404' takes no argument",
        );
        return true;
    }
    draft.proxy.extras.disable_on_404 = true;
    diag.warn(&line.location, "'http-check disable-on-404' is accepted and has no effect yet: a 404 fails the check like any other status the expectation refuses, instead of draining the server");
    true
}
