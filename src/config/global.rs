//! The `global` section.

use super::error::Diagnostics;
use super::lexer::Line;
use super::log::parse_log_target;
use super::model::{Global, StatsLevel, StatsSocket};
use super::units::{parse_time, parse_uint};
use super::{keywords, suggest};

/// Applies one line of the `global` section.
pub fn parse_line(global: &mut Global, line: &Line, diag: &mut Diagnostics) {
    let at = &line.location;
    let args = &line.words[1..];
    let keyword = line.word(0);
    let one_arg = |diag: &mut Diagnostics| -> Option<&str> {
        match args {
            [value] => Some(value.as_str()),
            _ => {
                diag.error(
                    at,
                    format!("'{keyword}' in section 'global' expects exactly one argument"),
                );
                None
            }
        }
    };
    match keyword {
        "log" => match args.first().map(String::as_str) {
            Some("global") => diag.error(at, "'log global' is only allowed in 'defaults', 'frontend', 'listen' and 'backend' sections"),
            _ => match parse_log_target(args) {
                Ok(target) => global.log.push(target),
                Err(message) => diag.error(at, format!("'log' in section 'global': {message}")),
            },
        },
        "maxconn" => {
            if let Some(v) = one_arg(diag) {
                match parse_uint(v, u64::from(u32::MAX)) {
                    Ok(0) => diag.error(at, "'maxconn' in section 'global' must be at least 1"),
                    Ok(n) => global.maxconn = Some(n as u32),
                    Err(e) => diag.error(at, format!("'maxconn' in section 'global': {e}")),
                }
            }
        }
        "nbthread" => {
            if let Some(v) = one_arg(diag) {
                match parse_uint(v, 4096) {
                    Ok(0) => diag.error(at, "'nbthread' must be at least 1"),
                    Ok(n) => global.nbthread = Some(n as usize),
                    Err(e) => diag.error(at, format!("'nbthread': {e}")),
                }
            }
        }
        "tune.bufsize" => {
            if let Some(v) = one_arg(diag) {
                match parse_uint(v, 1 << 20) {
                    Ok(n) if n >= 1024 => global.bufsize = n as usize,
                    Ok(_) => diag.error(at, "'tune.bufsize' must be at least 1024"),
                    Err(e) => diag.error(at, format!("'tune.bufsize': {e}")),
                }
            }
        }
        "hard-stop-after" => {
            if let Some(v) = one_arg(diag) {
                match parse_time(v) {
                    // 0 leaves soft stops unbounded, as in HAProxy.
                    Ok(t) => global.hard_stop_after = (!t.is_zero()).then_some(t),
                    Err(e) => diag.error(at, format!("'hard-stop-after' in section 'global': {e}")),
                }
            }
        }
        "pidfile" => {
            if let Some(v) = one_arg(diag) {
                global.pidfile = Some(v.to_string());
            }
        }
        "stats" => match args.first().map(String::as_str) {
            Some("socket") => match parse_stats_socket(&args[1..]) {
                Ok((mut socket, expose_fd)) => {
                    socket.location = at.clone();
                    global.stats_sockets.push(socket);
                    if expose_fd {
                        diag.warn(at, "'stats socket': 'expose-fd listeners' is accepted and has no effect: ringlb reloads in-process (SIGHUP), so no listening socket is handed over");
                    }
                }
                Err(message) => diag.error(at, format!("'stats socket' in section 'global': {message}")),
            },
            Some("timeout") => match args.get(1..) {
                Some([v]) => match parse_time(v) {
                    Ok(t) if !t.is_zero() => global.stats_timeout = Some(t),
                    Ok(_) => diag.error(at, "'stats timeout' in section 'global' expects a non-zero time"),
                    Err(e) => diag.error(at, format!("'stats timeout' in section 'global': {e}")),
                },
                _ => diag.error(at, "'stats timeout' in section 'global' expects one time"),
            },
            other => diag.error(
                at,
                format!("unknown keyword 'stats {}' in section 'global' (supported: 'stats socket', 'stats timeout')", other.unwrap_or("")),
            ),
        },
        "daemon" => diag.warn(
            at,
            "'daemon' is accepted for compatibility and has no effect: ringlb stays in the foreground, run it under a service manager",
        ),
        "chroot" | "user" | "group" | "uid" | "gid" => diag.warn(
            at,
            format!("'{keyword}' is accepted for compatibility and has no effect: ringlb keeps its privileges and filesystem view (VRRP needs CAP_NET_ADMIN and CAP_NET_RAW, reloads re-read files); restrict it from the service manager instead"),
        ),
        other => {
            if !super::compat::parse_global(global, line, diag) {
                diag.error(at, unknown_keyword(other));
            }
        }
    }
}

/// The keywords of `global` this parser dispatches (compatibility ones included).
pub const KEYWORDS: &[&str] = &[
    "log",
    "maxconn",
    "nbthread",
    "tune.bufsize",
    "hard-stop-after",
    "pidfile",
    "stats",
    "daemon",
    "chroot",
    "user",
    "group",
    "uid",
    "gid",
    "ca-base",
    "crt-base",
    "ssl-dh-param-file",
    "ssl-server-verify",
    "tune.ssl.default-dh-param",
    "description",
    "node",
    "spread-checks",
    "strict-limits",
    "server-state-file",
    "server-state-base",
    "ssl-default-bind-ciphers",
    "ssl-default-bind-ciphersuites",
    "ssl-default-bind-curves",
    "ssl-default-bind-options",
    "ssl-default-server-ciphers",
    "ssl-default-server-ciphersuites",
    "ssl-default-server-options",
];

fn unknown_keyword(keyword: &str) -> String {
    let unknown = format!("unknown keyword '{keyword}' in 'global' section");
    let message = suggest::unsupported(keyword, &unknown, KEYWORDS, keywords::GLOBAL, false);
    if keywords::GLOBAL.contains(&keyword) {
        format!("{message} (in 'global' section)")
    } else {
        message
    }
}

/// The socket, and whether `expose-fd listeners` was asked.
fn parse_stats_socket(args: &[String]) -> Result<(StatsSocket, bool), String> {
    let Some(path) = args.first() else {
        return Err("expects a path".into());
    };
    let mut socket = StatsSocket {
        path: path.clone(),
        mode: None,
        user: None,
        group: None,
        level: StatsLevel::Operator,
        location: super::model::Location {
            file: std::sync::Arc::from(""),
            line: 0,
        },
    };
    let mut expose_fd = false;
    let mut rest = &args[1..];
    while let Some(option) = rest.first() {
        let value = rest
            .get(1)
            .ok_or_else(|| format!("'{option}' expects a value"))?;
        match option.as_str() {
            "mode" => {
                socket.mode = Some(
                    u32::from_str_radix(value, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| {
                            format!("'mode' expects octal permissions (got '{value}')")
                        })?,
                )
            }
            "user" | "uid" => socket.user = Some(value.clone()),
            "group" | "gid" => socket.group = Some(value.clone()),
            "level" => {
                socket.level = match value.as_str() {
                    "user" => StatsLevel::User,
                    "operator" => StatsLevel::Operator,
                    "admin" => StatsLevel::Admin,
                    other => {
                        return Err(format!(
                            "'level' expects user, operator or admin (got '{other}')"
                        ))
                    }
                }
            }
            "expose-fd" if value == "listeners" => expose_fd = true,
            "expose-fd" => return Err(format!("'expose-fd' expects 'listeners' (got '{value}')")),
            other => {
                const SUPPORTED: &[&str] = &["mode", "user", "group", "level", "expose-fd"];
                let known: Vec<&str> = keywords::BIND_OPTIONS.iter().map(|(n, _)| *n).collect();
                let unknown = format!("unsupported option '{other}'");
                return Err(suggest::unsupported(
                    other, &unknown, SUPPORTED, &known, true,
                ));
            }
        }
        rest = &rest[2..];
    }
    Ok((socket, expose_fd))
}
