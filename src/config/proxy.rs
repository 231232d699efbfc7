//! Keywords of `defaults`, `frontend`, `backend` and `listen` sections.

use bytes::Bytes;

use super::draft::{ProxyDraft, SectionKind};
use super::error::Diagnostics;
use super::errorpage::{validate_errorfile, ERROR_CODES};
use super::lexer::Line;
use super::log::parse_log_target;
use super::model::{Global, Mode, ProxyKind};
use super::units::{parse_time, parse_uint};
use super::{balance, compat, httpcheck, keywords, options, server, stats, suggest};

/// The keywords of proxy sections this parser dispatches (compatibility ones included).
pub const KEYWORDS: &[&str] = &[
    "mode",
    "bind",
    "use_backend",
    "default_backend",
    "balance",
    "server",
    "server-template",
    "default-server",
    "timeout",
    "retries",
    "maxconn",
    "log",
    "no",
    "option",
    "http-check",
    "tcp-check",
    "errorfile",
    "stats",
    "http-request",
    "http-response",
    "redirect",
    "hash-type",
    "log-format",
    "unique-id-format",
    "unique-id-header",
    "capture",
    "cookie",
    "force-persist",
    "acl",
    "monitor-uri",
    "fullconn",
    "description",
    "load-server-state-from-file",
    "server-state-file-name",
    "ignore-persist",
    "tcp-request",
];

/// Why `keyword` is refused in `section`: removed from HAProxy, HAProxy's but not ringlb's
/// yet, or unknown (with the nearest keyword).
fn unknown_keyword(keyword: &str, section: SectionKind) -> String {
    if let Some(message) = suggest::removed(keyword) {
        return message;
    }
    let unknown = format!(
        "unknown keyword '{keyword}' in '{}' section",
        section.keyword()
    );
    let message = suggest::unsupported(keyword, &unknown, KEYWORDS, keywords::PROXY, false);
    if keywords::PROXY.contains(&keyword) {
        format!("{message} (in '{}' section)", section.keyword())
    } else {
        message
    }
}

/// Which side of a proxy a keyword configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Client-facing settings: ignored (with a warning) in a plain backend.
    Frontend,
    /// Server-facing settings: ignored (with a warning) in a plain frontend.
    Backend,
    /// Meaningful everywhere.
    Both,
}

/// The sections a keyword may appear in: defaults, frontend, listen, backend (HAProxy's table).
#[derive(Debug, Clone, Copy)]
pub struct Allowed {
    /// In `defaults`.
    pub defaults: bool,
    /// In `frontend`.
    pub frontend: bool,
    /// In `backend`.
    pub backend: bool,
}

/// Any section.
pub const ANY: Allowed = Allowed {
    defaults: true,
    frontend: true,
    backend: true,
};

/// Checks that `keyword` may be used in `section`; warns when it will be ignored there.
/// Returns false when the line must not be applied.
pub fn check_place(
    keyword: &str,
    allowed: Allowed,
    side: Side,
    section: SectionKind,
    draft: &ProxyDraft,
    line: &Line,
    diag: &mut Diagnostics,
) -> bool {
    let ok = match section {
        SectionKind::Defaults => allowed.defaults,
        SectionKind::Proxy(ProxyKind::Frontend) => allowed.frontend,
        SectionKind::Proxy(ProxyKind::Backend) => allowed.backend,
        SectionKind::Proxy(ProxyKind::Listen) => allowed.frontend || allowed.backend,
        _ => false,
    };
    if !ok {
        diag.error(
            &line.location,
            format!("'{keyword}' not allowed in '{}' section", section.keyword()),
        );
        return false;
    }
    let ignored = match (section, side) {
        (SectionKind::Proxy(ProxyKind::Frontend), Side::Backend) => Some("backend"),
        (SectionKind::Proxy(ProxyKind::Backend), Side::Frontend) => Some("frontend"),
        _ => None,
    };
    if let Some(capability) = ignored {
        diag.warn(
            &line.location,
            format!(
                "'{keyword}' ignored for {} '{}' as it requires {capability} capability",
                section.keyword(),
                draft.proxy.name
            ),
        );
    }
    true
}

/// Applies one line of a proxy or defaults section.
pub fn parse_line(
    draft: &mut ProxyDraft,
    section: SectionKind,
    line: &Line,
    global: &Global,
    diag: &mut Diagnostics,
) {
    let keyword = line.word(0);
    let args = &line.words[1..];
    let at = &line.location;
    let place =
        |kw: &str, allowed: Allowed, side: Side, draft: &ProxyDraft, diag: &mut Diagnostics| {
            check_place(kw, allowed, side, section, draft, line, diag)
        };
    const NOT_DEFAULTS: Allowed = Allowed {
        defaults: false,
        frontend: true,
        backend: true,
    };
    const FRONT: Allowed = Allowed {
        defaults: true,
        frontend: true,
        backend: false,
    };
    const BACK: Allowed = Allowed {
        defaults: true,
        frontend: false,
        backend: true,
    };
    match keyword {
        "mode" => {
            if place(keyword, ANY, Side::Both, draft, diag) {
                match args.first().map(String::as_str) {
                    Some("http") if args.len() == 1 => draft.proxy.mode = Mode::Http,
                    Some("tcp") if args.len() == 1 => draft.proxy.mode = Mode::Tcp,
                    _ => diag.error(
                        at,
                        format!("'mode' expects 'http' or 'tcp' (got '{}')", args.join(" ")),
                    ),
                }
            }
        }
        "bind" => {
            let allowed = Allowed {
                defaults: false,
                frontend: true,
                backend: false,
            };
            if place(keyword, allowed, Side::Frontend, draft, diag) {
                super::bind::parse_bind_line(draft, line, diag);
            }
        }
        "use_backend" => {
            const FRONT_ONLY: Allowed = Allowed {
                defaults: false,
                frontend: true,
                backend: false,
            };
            if place(keyword, FRONT_ONLY, Side::Frontend, draft, diag) {
                stats::parse_use_backend(draft, line, diag);
            }
        }
        "default_backend" => {
            if place(keyword, FRONT, Side::Frontend, draft, diag) {
                match args {
                    [name] => draft.default_backend = Some((name.clone(), at.clone())),
                    _ => diag.error(at, "'default_backend' expects a backend name"),
                }
            }
        }
        "balance" => {
            if place(keyword, BACK, Side::Backend, draft, diag) {
                match balance::parse_balance(args) {
                    Ok((algo, note)) => {
                        draft.proxy.balance = algo;
                        if let Some(note) = note {
                            diag.warn(at, note);
                        }
                    }
                    Err(message) => diag.error(at, format!("'balance': {message}")),
                }
            }
        }
        "hash-type" => {
            if place(keyword, BACK, Side::Backend, draft, diag) {
                match balance::parse_hash_type(args) {
                    Ok(hash_type) => draft.proxy.hash_type = hash_type,
                    Err(message) => diag.error(at, message),
                }
            }
        }
        "server" => {
            let allowed = Allowed {
                defaults: false,
                frontend: false,
                backend: true,
            };
            if place(keyword, allowed, Side::Backend, draft, diag) {
                server::parse_server(draft, line, diag);
            }
        }
        "server-template" => {
            let allowed = Allowed {
                defaults: false,
                frontend: false,
                backend: true,
            };
            if place(keyword, allowed, Side::Backend, draft, diag) {
                super::template::parse_server_template(draft, line, diag);
            }
        }
        "default-server" => {
            if place(keyword, BACK, Side::Backend, draft, diag) {
                server::parse_default_server(draft, line, diag);
            }
        }
        "timeout" => {
            if !compat::parse_timeout(draft, section, line, diag) {
                parse_timeout(draft, section, line, diag);
            }
        }
        "retries" => {
            if place(keyword, BACK, Side::Backend, draft, diag) {
                match args {
                    [v] => match parse_uint(v, 1000) {
                        Ok(n) => draft.proxy.retries = n as u32,
                        Err(e) => diag.error(at, format!("'retries': {e}")),
                    },
                    _ => diag.error(at, "'retries' expects an integer argument"),
                }
            }
        }
        "maxconn" => {
            if place(keyword, FRONT, Side::Frontend, draft, diag) {
                match args {
                    [v] => match parse_uint(v, u64::from(u32::MAX)) {
                        Ok(0) => diag.error(at, "'maxconn' must be at least 1"),
                        Ok(n) => draft.proxy.maxconn = Some(n as u32),
                        Err(e) => diag.error(at, format!("'maxconn': {e}")),
                    },
                    _ => diag.error(at, "'maxconn' expects an integer argument"),
                }
            }
        }
        "log" => {
            if place(keyword, ANY, Side::Both, draft, diag) {
                match args.first().map(String::as_str) {
                    Some("global") if args.len() == 1 => draft.log_global = true,
                    _ => match parse_log_target(args) {
                        Ok(target) => draft.proxy.log.push(target),
                        Err(message) => diag.error(at, format!("'log': {message}")),
                    },
                }
            }
        }
        "no" => match args.first().map(String::as_str) {
            Some("log") if args.len() == 1 => {
                draft.log_global = false;
                draft.proxy.log.clear();
            }
            Some("option") => options::parse_option(draft, section, line, true, diag),
            _ => diag.error(
                at,
                format!(
                    "unknown keyword 'no {}' in '{}' section",
                    args.join(" "),
                    section.keyword()
                ),
            ),
        },
        "option" => options::parse_option(draft, section, line, false, diag),
        "http-check" => {
            if place(keyword, BACK, Side::Backend, draft, diag)
                && !compat::parse_http_check(draft, line, diag)
            {
                httpcheck::parse_http_check(draft, line, diag);
            }
        }
        "tcp-check" => {
            if place(keyword, BACK, Side::Backend, draft, diag) {
                super::tcpcheck::parse_tcp_check(draft, line, diag);
            }
        }
        "errorfile" => {
            if place(keyword, ANY, Side::Both, draft, diag) {
                parse_errorfile(draft, line, global, diag);
            }
        }
        "stats" => {
            let sub = matches!(line.word(1), "scope" | "show-desc" | "show-node");
            let keyword = format!("stats {}", line.word(1));
            if !sub {
                stats::parse_stats(draft, section, line, diag);
            } else if check_place(&keyword, ANY, Side::Both, section, draft, line, diag) {
                compat::parse_stats(draft, line, diag);
            }
        }
        "http-request" | "http-response" | "redirect" => {
            if place(keyword, NOT_DEFAULTS, Side::Both, draft, diag) {
                if keyword == "http-request"
                    && args.first().map(String::as_str) == Some("use-service")
                {
                    stats::parse_use_service(draft, line, diag);
                } else {
                    super::http_rules::parse_line(draft, line, diag);
                }
            }
        }
        "log-format" | "unique-id-format" | "unique-id-header" => {
            if place(keyword, FRONT, Side::Frontend, draft, diag) {
                super::logfields::parse_line(draft, line, diag);
            }
        }
        "cookie" => {
            if place(keyword, BACK, Side::Backend, draft, diag) {
                super::cookie::parse_line(draft, line, diag);
            }
        }
        "force-persist" => {
            if place(keyword, NOT_DEFAULTS, Side::Backend, draft, diag) {
                match super::acl::parse_condition(args) {
                    Ok(Some(condition)) => {
                        for term in condition.any_of.iter().flatten() {
                            if let super::model::AclRef::Named(name) = &term.acl {
                                draft.acl_uses.push((name.clone(), at.clone()));
                            }
                        }
                        draft.force_persist.push((condition, at.clone()));
                    }
                    Ok(None) => diag.error(
                        at,
                        "'force-persist' expects 'if' or 'unless' followed by a condition",
                    ),
                    Err(e) => diag.error(at, format!("'force-persist': {e}")),
                }
            }
        }
        "capture" => {
            const FRONT_ONLY: Allowed = Allowed {
                defaults: false,
                frontend: true,
                backend: false,
            };
            if place(keyword, FRONT_ONLY, Side::Frontend, draft, diag) {
                super::logfields::parse_line(draft, line, diag);
            }
        }
        "tcp-request" => super::tcp_rules::parse_line(draft, section, line, diag),
        "acl" => {
            if place(keyword, NOT_DEFAULTS, Side::Both, draft, diag) {
                stats::parse_acl(draft, line, diag);
            }
        }
        other => {
            if !compat::parse_proxy(draft, section, line, diag) {
                diag.error(at, unknown_keyword(other, section));
            }
        }
    }
}

fn parse_timeout(
    draft: &mut ProxyDraft,
    section: SectionKind,
    line: &Line,
    diag: &mut Diagnostics,
) {
    let name = line.word(1);
    let keyword = format!("timeout {name}");
    let (allowed, side) = match name {
        "client" => (ANY, Side::Frontend),
        "http-request" | "http-keep-alive" => (ANY, Side::Both),
        "connect" | "server" | "queue" | "check" => (ANY, Side::Backend),
        "tunnel" => (ANY, Side::Both),
        "" => {
            diag.error(&line.location, "'timeout' expects a type and a value");
            return;
        }
        other => {
            const SUPPORTED: &[&str] = &[
                "connect",
                "client",
                "server",
                "http-request",
                "http-keep-alive",
                "queue",
                "check",
                "tunnel",
                "client-fin",
                "server-fin",
                "tarpit",
            ];
            let unknown = format!("unknown keyword 'timeout {other}'");
            let message =
                suggest::unsupported(other, &unknown, SUPPORTED, keywords::TIMEOUTS, true);
            diag.error(&line.location, message);
            return;
        }
    };
    if !check_place(&keyword, allowed, side, section, draft, line, diag) {
        return;
    }
    let value = match &line.words[2..] {
        [v] => match parse_time(v) {
            Ok(d) => d,
            Err(e) => {
                diag.error(&line.location, format!("'{keyword}': {e}"));
                return;
            }
        },
        _ => {
            diag.error(
                &line.location,
                format!("'{keyword}' expects exactly one time value"),
            );
            return;
        }
    };
    let slot = match name {
        "client" => &mut draft.proxy.timeouts.client,
        "http-request" => &mut draft.proxy.timeouts.http_request,
        "http-keep-alive" => &mut draft.proxy.timeouts.http_keep_alive,
        "connect" => &mut draft.proxy.timeouts.connect,
        "server" => &mut draft.proxy.timeouts.server,
        "queue" => &mut draft.proxy.timeouts.queue,
        "check" => &mut draft.proxy.timeouts.check,
        _ => &mut draft.proxy.timeouts.tunnel,
    };
    // HAProxy treats 0 as "no timeout".
    *slot = (!value.is_zero()).then_some(value);
}

fn parse_errorfile(draft: &mut ProxyDraft, line: &Line, global: &Global, diag: &mut Diagnostics) {
    let at = &line.location;
    let [code, path] = &line.words[1..] else {
        diag.error(
            at,
            "'errorfile' expects <status_code> and <file> as arguments",
        );
        return;
    };
    let code = match code.parse::<u16>() {
        Ok(c) if ERROR_CODES.contains(&c) => c,
        _ => {
            diag.error(
                at,
                format!(
                    "'errorfile': status code '{code}' cannot be customized (supported: {})",
                    ERROR_CODES.map(|c| c.to_string()).join(", ")
                ),
            );
            return;
        }
    };
    let content = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            diag.error(
                at,
                format!("'errorfile {code}': error opening file '{path}' : {e}"),
            );
            return;
        }
    };
    if let Err(problem) = validate_errorfile(&content, global.bufsize) {
        diag.error(at, format!("'errorfile {code}': file '{path}' {problem}"));
        return;
    }
    draft.errorpages.set(code, Bytes::from(content));
}

#[cfg(test)]
mod tests {
    use crate::config::{load_sources, SendProxy};

    fn load(text: &str) -> Result<crate::config::Config, String> {
        load_sources(&[("t.cfg".into(), text.into())])
            .map(|l| l.config)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn proxy_protocol_keywords() {
        let config = load(
            "frontend f\n bind 127.0.0.1:1 accept-proxy\n bind 127.0.0.1:2\n default_backend b\n\
             backend b\n default-server send-proxy-v2\n server a 127.0.0.1:3\n server c 127.0.0.1:4 send-proxy\n server d 127.0.0.1:5 no-send-proxy-v2\n",
        )
        .unwrap();
        let binds: Vec<bool> = config.proxies[0]
            .binds
            .iter()
            .map(|b| b.accept_proxy)
            .collect();
        assert_eq!(binds, vec![true, false]);
        let sends: Vec<SendProxy> = config.proxies[1]
            .servers
            .iter()
            .map(|s| s.send_proxy)
            .collect();
        assert_eq!(sends, vec![SendProxy::V2, SendProxy::V1, SendProxy::Off]);
        let err = load("frontend f\n bind :1 accept-proxy ssl\n").unwrap_err();
        assert!(err.contains("[t.cfg:2]") && err.contains("'ssl'"), "{err}");
        let config = load("backend b\n server a 127.0.0.1:1 check-send-proxy\n").unwrap();
        assert!(config.proxies[0].servers[0].check.send_proxy);
    }
}
