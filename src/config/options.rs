//! `option …` / `no option …`.

use super::draft::{ProxyDraft, SectionKind};
use super::error::Diagnostics;
use super::lexer::Line;
use super::model::{ForwardFor, HttpConnMode, IpNet, LogFormat};
use super::proxy::{check_place, Allowed, Side, ANY};
use super::units::{is_token_byte, parse_uint};
use super::{compat, httpcheck, keywords, suggest};

/// Allowed everywhere, but meaningful only with frontend capability (HAProxy warns in a backend).
const FRONT_SIDE: Allowed = Allowed {
    defaults: true,
    frontend: true,
    backend: true,
};
const BACK: Allowed = Allowed {
    defaults: true,
    frontend: false,
    backend: true,
};

/// Applies `option NAME …`, or `no option NAME` when `negated`.
pub fn parse_option(
    draft: &mut ProxyDraft,
    section: SectionKind,
    line: &Line,
    negated: bool,
    diag: &mut Diagnostics,
) {
    let at = &line.location;
    // `no option x` has one more leading word than `option x`.
    let base = if negated { 2 } else { 1 };
    let name = line.word(base);
    let args = line.words.get(base + 1..).unwrap_or(&[]);
    let keyword = format!("option {name}");
    let (allowed, side, takes_args) = match name {
        "httplog" | "tcplog" | "dontlognull" => (FRONT_SIDE, Side::Frontend, false),
        "forwardfor" => (ANY, Side::Both, true),
        "redispatch" => (BACK, Side::Backend, true),
        "http-keep-alive" | "http-server-close" | "httpclose" => (ANY, Side::Both, false),
        "httpchk" => (BACK, Side::Backend, true),
        "tcp-check" | "redis-check" | "ldap-check" => (BACK, Side::Backend, false),
        "smtpchk" | "pgsql-check" | "mysql-check" => (BACK, Side::Backend, true),
        "allbackups" | "persist" => (BACK, Side::Backend, false),
        "splice-auto" | "splice-request" | "splice-response" => (ANY, Side::Both, false),
        "" => {
            diag.error(at, "'option' expects an option name");
            return;
        }
        other => {
            if !compat::parse_option(draft, section, line, other, negated, diag) {
                diag.error(at, unknown_option(other, section));
            }
            return;
        }
    };
    if !check_place(&keyword, allowed, side, section, draft, line, diag) {
        return;
    }
    if (negated || !takes_args) && !args.is_empty() {
        diag.error(
            at,
            format!(
                "'{keyword}' takes no argument here (got '{}')",
                args.join(" ")
            ),
        );
        return;
    }
    let p = &mut draft.proxy;
    match name {
        "httplog" => {
            p.log_format = if negated {
                LogFormat::Default
            } else {
                LogFormat::Http
            }
        }
        "tcplog" => {
            p.log_format = if negated {
                LogFormat::Default
            } else {
                LogFormat::Tcp
            }
        }
        "dontlognull" => p.dontlognull = !negated,
        "allbackups" => p.allbackups = !negated,
        "persist" => p.persist = !negated,
        "splice-auto" => {
            p.splice.request = !negated;
            p.splice.response = !negated;
        }
        "splice-request" => p.splice.request = !negated,
        "splice-response" => p.splice.response = !negated,
        "http-keep-alive" => p.http_conn_mode = HttpConnMode::KeepAlive,
        "http-server-close" => {
            p.http_conn_mode = if negated {
                HttpConnMode::KeepAlive
            } else {
                HttpConnMode::ServerClose
            }
        }
        "httpclose" => {
            p.http_conn_mode = if negated {
                HttpConnMode::KeepAlive
            } else {
                HttpConnMode::Close
            }
        }
        "forwardfor" if negated => p.forwardfor = None,
        "forwardfor" => match parse_forwardfor(args) {
            Ok(ff) => p.forwardfor = Some(ff),
            Err(message) => diag.error(at, format!("'{keyword}': {message}")),
        },
        "redispatch" if negated => p.redispatch = None,
        "redispatch" => match args {
            [] => p.redispatch = Some(-1),
            [n] => match n.parse::<i32>() {
                Ok(v) if v != 0 => p.redispatch = Some(v),
                Ok(_) => p.redispatch = None,
                Err(_) => diag.error(
                    at,
                    format!("'{keyword}' expects an integer interval (got '{n}')"),
                ),
            },
            _ => diag.error(at, format!("'{keyword}' takes at most one argument")),
        },
        "httpchk" => httpcheck::parse_option_httpchk(draft, line, args, negated, diag),
        "tcp-check" | "redis-check" | "smtpchk" | "pgsql-check" | "ldap-check" | "mysql-check" => {
            super::tcpcheck::parse_option_tcp_check(draft, line, name, args, negated, diag)
        }
        _ => {}
    }
}

/// Options this parser reads (compatibility ones included).
const SUPPORTED: &[&str] = &[
    "httplog",
    "tcplog",
    "dontlognull",
    "forwardfor",
    "redispatch",
    "http-keep-alive",
    "http-server-close",
    "httpclose",
    "httpchk",
    "tcp-check",
    "redis-check",
    "smtpchk",
    "pgsql-check",
    "ldap-check",
    "mysql-check",
    "allbackups",
    "splice-auto",
    "splice-request",
    "splice-response",
    "clitcpka",
    "srvtcpka",
    "tcpka",
    "abortonclose",
    "log-health-checks",
    "socket-stats",
];

fn unknown_option(name: &str, section: SectionKind) -> String {
    if keywords::OPTIONS.contains(&name) {
        return format!(
            "'option {name}' is a HAProxy keyword that ringlb does not support yet (in '{}' section)",
            section.keyword()
        );
    }
    let unknown = format!("unknown option '{name}' in '{}' section", section.keyword());
    suggest::unsupported(name, &unknown, SUPPORTED, keywords::OPTIONS, true)
}

fn parse_forwardfor(args: &[String]) -> Result<ForwardFor, String> {
    let mut ff = ForwardFor {
        header: "X-Forwarded-For".to_string(),
        if_none: false,
        except: None,
    };
    let mut rest = args;
    while let Some(word) = rest.first() {
        match word.as_str() {
            "if-none" => {
                ff.if_none = true;
                rest = &rest[1..];
            }
            "header" => {
                let name = rest.get(1).ok_or("'header' expects a header name")?;
                if name.is_empty() || !name.bytes().all(is_token_byte) {
                    return Err(format!("'{name}' is not a valid header name"));
                }
                ff.header = name.clone();
                rest = &rest[2..];
            }
            "except" => {
                let net = rest.get(1).ok_or("'except' expects a network")?;
                ff.except = Some(parse_net(net)?);
                rest = &rest[2..];
            }
            other => {
                return Err(format!(
                    "unexpected argument '{other}' (supported: except, header, if-none)"
                ))
            }
        }
    }
    Ok(ff)
}

/// Whether `b` may appear in an HTTP token (a header name, a method).
fn parse_net(text: &str) -> Result<IpNet, String> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: std::net::IpAddr = addr
        .parse()
        .map_err(|_| format!("'{text}' is not a network address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => parse_uint(p, max).map_err(|e| format!("prefix of '{text}': {e}"))? as u8,
        None => max as u8,
    };
    Ok(IpNet { addr, prefix })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwardfor_arguments() {
        let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let ff = parse_forwardfor(&words("except 127.0.0.0/8 header X-Client if-none")).unwrap();
        assert_eq!(ff.header, "X-Client");
        assert!(ff.if_none);
        assert!(ff.except.unwrap().contains("127.1.2.3".parse().unwrap()));
        assert!(!ff.except.unwrap().contains("10.0.0.1".parse().unwrap()));
        assert!(parse_forwardfor(&words("header")).is_err());
        assert!(parse_forwardfor(&words("bogus")).is_err());
    }
}
