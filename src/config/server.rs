//! `server` and `default-server` lines.

use std::net::IpAddr;

use super::draft::{ProxyDraft, ServerDefaults};
use super::error::Diagnostics;
use super::keywords::{arity, SERVER_OPTIONS};
use super::lexer::Line;
use super::model::{Observe, OnError, SendProxy, Server, ServerAddr};
use super::suggest;
use super::template::{parse_init_addr, resolve_server_addr};
use super::units::{parse_time, parse_uint};

/// Applies `server NAME ADDR [options]`.
pub fn parse_server(draft: &mut ProxyDraft, line: &Line, diag: &mut Diagnostics) {
    let at = &line.location;
    let (Some(name), Some(addr_text)) = (line.words.get(1), line.words.get(2)) else {
        diag.error(at, "'server' expects <name> and <addr> as arguments");
        return;
    };
    // `cookie VALUE` is the server's own (a string, unlike the copied defaults).
    let mut words = line.words[3..].to_vec();
    let mut cookie = None;
    if let Some(i) = words.iter().position(|w| w == "cookie") {
        match words.get(i + 1) {
            Some(value)
                if !value.is_empty()
                    && value.bytes().all(|b| b.is_ascii_graphic() && b != b';') =>
            {
                cookie = Some(value.clone());
                words.drain(i..i + 2);
            }
            _ => {
                diag.error(
                    &line.location,
                    format!("'server {name}': 'cookie' expects a cookie value"),
                );
                return;
            }
        }
    }
    let Some(settings) = server_settings(draft, &format!("server {name}"), &words, line, diag)
    else {
        return;
    };
    let before = draft.proxy.servers.len();
    let resolve = || resolve_server_addr(addr_text, &settings.init_addr);
    add_server(draft, name, addr_text, resolve, &settings, line, diag);
    if draft.proxy.servers.len() > before {
        if let Some(server) = draft.proxy.servers.last_mut() {
            server.cookie = cookie;
        }
    }
}

/// `default-server` settings amended by `words`, or `None` (reported) when one is wrong.
pub fn server_settings(
    draft: &ProxyDraft,
    label: &str,
    words: &[String],
    line: &Line,
    diag: &mut Diagnostics,
) -> Option<ServerDefaults> {
    let mut settings = draft.server_defaults;
    let mut notes = Vec::new();
    let errors = apply_options(&mut settings, words, &mut notes);
    for note in notes {
        diag.warn(&line.location, format!("'{label}': {note}"));
    }
    for message in &errors {
        diag.error(&line.location, format!("'{label}': {message}"));
    }
    errors.is_empty().then_some(settings)
}

/// Adds server `name` at `addr_text`, which `resolve` turns into an address (as its
/// `init-addr` says) once the name is known to be free.
pub fn add_server(
    draft: &mut ProxyDraft,
    name: &str,
    addr_text: &str,
    resolve: impl FnOnce() -> Result<(ServerAddr, bool), String>,
    settings: &ServerDefaults,
    line: &Line,
    diag: &mut Diagnostics,
) {
    let at = &line.location;
    if let Some(first) = draft.proxy.servers.iter().find(|s| s.name == name) {
        diag.error(
            at,
            format!(
                "server '{name}' in {} '{}' is already declared at {}",
                draft.proxy.kind.keyword(),
                draft.proxy.name,
                first.location
            ),
        );
        return;
    }
    let (addr, no_address) = match resolve() {
        Ok(resolved) => resolved,
        Err(message) => {
            diag.error(at, format!("'server {name}': {message}"));
            return;
        }
    };
    if no_address {
        diag.warn(at, format!("'server {name}': no address for '{addr_text}' ('init-addr' ends with 'none'): the server starts in maintenance"));
    }
    if let Some(id) = settings.id {
        if let Err(message) = super::balance::check_server_id(&draft.proxy, id) {
            diag.error(at, format!("'server {name}': {message}"));
            return;
        }
    }
    // Servers without an `id` are numbered once the section is complete.
    let puid = settings.id.unwrap_or(draft.proxy.servers.len() as u32 + 1);
    draft.proxy.servers.push(Server {
        name: name.to_string(),
        puid,
        explicit_id: settings.id.is_some(),
        addr_text: addr_text.to_string(),
        addr,
        weight: settings.weight,
        backup: settings.backup,
        disabled: settings.disabled,
        no_address,
        maxconn: settings.maxconn,
        send_proxy: settings.send_proxy,
        check: settings.check,
        location: at.clone(),
        cookie: None,
    });
}

/// Applies `default-server [options]`.
pub fn parse_default_server(draft: &mut ProxyDraft, line: &Line, diag: &mut Diagnostics) {
    if let Some(settings) = server_settings(draft, "default-server", &line.words[1..], line, diag) {
        if settings.id.is_some() {
            diag.error(
                &line.location,
                "'default-server': 'id' is a server's own, it cannot be a default",
            );
            return;
        }
        draft.server_defaults = settings;
    }
}

/// Options that take a value, for the "expects a value" message.
const VALUED: &[&str] = &[
    "id",
    "weight",
    "maxconn",
    "inter",
    "fastinter",
    "downinter",
    "rise",
    "fall",
    "port",
    "addr",
    "observe",
    "error-limit",
    "on-error",
    "on-marked-down",
    "init-addr",
];

/// What a server option without a value does to the settings.
type Flag = fn(&mut ServerDefaults);

/// Options that take no value, and what each does.
const FLAGS: &[(&str, Flag)] = &[
    ("check", |s| s.check.enabled = true),
    ("no-check", |s| s.check.enabled = false),
    ("backup", |s| s.backup = true),
    ("no-backup", |s| s.backup = false),
    ("disabled", |s| s.disabled = true),
    ("enabled", |s| s.disabled = false),
    ("send-proxy", |s| s.send_proxy = SendProxy::V1),
    ("send-proxy-v2", |s| s.send_proxy = SendProxy::V2),
    ("no-send-proxy", |s| s.send_proxy = SendProxy::Off),
    ("no-send-proxy-v2", |s| s.send_proxy = SendProxy::Off),
    ("check-send-proxy", |s| s.check.send_proxy = true),
];

/// Applies server options to `settings`; things accepted without effect go to `notes`. Every
/// wrong option is reported (not only the first), up to a word whose arity is unknown.
fn apply_options(
    settings: &mut ServerDefaults,
    mut words: &[String],
    notes: &mut Vec<String>,
) -> Vec<String> {
    let mut errors = Vec::new();
    while let Some(option) = words.first() {
        let flag = FLAGS.iter().find(|(name, _)| name == option);
        if let Some((_, apply)) = flag {
            apply(settings);
            words = &words[1..];
            continue;
        }
        if !VALUED.contains(&option.as_str()) {
            errors.push(unknown(option));
            match arity(SERVER_OPTIONS, option) {
                Some(takes_value) => {
                    words = words.get(1 + usize::from(takes_value)..).unwrap_or(&[]);
                    continue;
                }
                // Without knowing its arity, the words after it cannot be read as options.
                None => break,
            }
        }
        let Some(value) = words.get(1) else {
            errors.push(format!("'{option}' expects a value"));
            break;
        };
        if let Err(message) = apply_valued(settings, option, value, notes) {
            errors.push(message);
        }
        words = &words[2..];
    }
    errors
}

/// Applies `option value`.
fn apply_valued(
    settings: &mut ServerDefaults,
    option: &str,
    value: &str,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    {
        let named = |e: String| format!("'{option}': {e}");
        match option {
            "weight" => settings.weight = parse_uint(value, 256).map_err(named)? as u32,
            "id" => {
                let id = parse_uint(value, i32::MAX as u64).map_err(named)? as u32;
                if id == 0 {
                    return Err("'id' : custom id has to be > 0".into());
                }
                settings.id = Some(id);
            }
            "maxconn" => {
                settings.maxconn = parse_uint(value, u64::from(u32::MAX)).map_err(named)? as u32
            }
            "rise" | "fall" | "error-limit" => {
                let n = parse_uint(value, 1_000_000).map_err(named)? as u32;
                if n == 0 {
                    return Err(format!("'{option}' must be at least 1"));
                }
                match option {
                    "rise" => settings.check.rise = n,
                    "fall" => settings.check.fall = n,
                    _ => settings.check.error_limit = n,
                }
            }
            "inter" | "fastinter" | "downinter" => {
                let t = parse_time(value).map_err(named)?;
                if t.is_zero() {
                    return Err(format!("'{option}' must be greater than 0"));
                }
                match option {
                    "inter" => settings.check.inter = t,
                    "fastinter" => settings.check.fastinter = Some(t),
                    _ => settings.check.downinter = Some(t),
                }
            }
            "port" => {
                let port = parse_uint(value, 65535).map_err(named)? as u16;
                if port == 0 {
                    return Err("'port' expects a port between 1 and 65535 (got '0')".into());
                }
                settings.check.port = Some(port);
            }
            "addr" => settings.check.addr = Some(parse_check_addr(value)?),
            "observe" => {
                settings.check.observe = match value {
                    "none" => None,
                    "layer4" => Some(Observe::Layer4),
                    "layer7" => Some(Observe::Layer7),
                    other => {
                        return Err(format!(
                            "'observe' expects one of 'none', 'layer4', 'layer7' (got '{other}')"
                        ))
                    }
                }
            }
            "on-error" => {
                settings.check.on_error = match value {
                    "fastinter" => OnError::FastInter,
                    "fail-check" => OnError::FailCheck,
                    "sudden-death" => OnError::SuddenDeath,
                    "mark-down" => OnError::MarkDown,
                    other => return Err(format!(
                        "'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' (got '{other}')"
                    )),
                }
            }
            "init-addr" => settings.init_addr = parse_init_addr(value)?,
            _ => match value {
                // Accepted so HAProxy configurations load, but said out loud: ringlb keeps
                // established connections to a server that goes down.
                "shutdown-sessions" => notes.push(
                    "'on-marked-down shutdown-sessions' is accepted and has no effect: connections to a server marked down are not cut".to_string(),
                ),
                other => {
                    return Err(format!(
                        "'on-marked-down' expects 'shutdown-sessions' (got '{other}')"
                    ))
                }
            },
        }
    }
    Ok(())
}

/// Parses the `addr` of health checks: an IPv4 or IPv6 address, IPv6 optionally in brackets.
fn parse_check_addr(text: &str) -> Result<IpAddr, String> {
    let parsed = match text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().map(IpAddr::V6).ok(),
        None => text.parse::<IpAddr>().ok(),
    };
    if let Some(ip) = parsed {
        return Ok(ip);
    }
    if text.parse::<std::net::SocketAddr>().is_ok() {
        return Err(format!(
            "'addr' expects an address without a port (got '{text}'); give the check port with 'port'"
        ));
    }
    Err(format!(
        "'addr' expects an IPv4 or IPv6 address (got '{text}')"
    ))
}

fn unknown(option: &str) -> String {
    // `cookie` is read before the other options (its value is the server's own).
    let supported: Vec<&str> = FLAGS
        .iter()
        .map(|(name, _)| *name)
        .chain(VALUED.iter().copied())
        .chain(["cookie"])
        .collect();
    let list = supported.join(", ");
    if arity(SERVER_OPTIONS, option).is_some() {
        return format!("{} (supported: {list})", suggest::not_yet(option));
    }
    let known = SERVER_OPTIONS.iter().map(|(n, _)| *n);
    let hint = suggest::did_you_mean(option, known);
    if hint.is_empty() {
        format!("unknown option '{option}' (supported: {list})")
    } else {
        format!("unknown option '{option}'{hint}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn apply_noting(s: &str) -> Result<(ServerDefaults, Vec<String>), String> {
        let mut d = ServerDefaults::default();
        let mut notes = Vec::new();
        let words: Vec<String> = s.split_whitespace().map(String::from).collect();
        let errors = apply_options(&mut d, &words, &mut notes);
        if errors.is_empty() {
            Ok((d, notes))
        } else {
            Err(errors.join("\n"))
        }
    }

    fn apply(s: &str) -> Result<ServerDefaults, String> {
        apply_noting(s).map(|(d, _)| d)
    }

    #[test]
    fn options_apply() {
        let d = apply("weight 3 check inter 500 rise 1 fall 2 backup maxconn 10").unwrap();
        assert_eq!(d.weight, 3);
        assert!(d.check.enabled && d.backup);
        assert_eq!(d.check.inter, Duration::from_millis(500));
        assert_eq!((d.check.rise, d.check.fall, d.maxconn), (1, 2, 10));
        assert_eq!(apply("").unwrap(), ServerDefaults::default());
    }

    #[test]
    fn bad_options() {
        assert!(apply("weight 300").unwrap_err().contains("weight"));
        assert!(apply("weight").unwrap_err().contains("expects a value"));
        assert!(apply("ssl").unwrap_err().contains("'ssl'"));
        assert!(apply("rise 0").is_err());
        assert!(apply("inter 0").is_err());
    }

    #[test]
    fn check_defaults_are_haproxy_defaults() {
        let c = ServerDefaults::default().check;
        assert_eq!((c.port, c.addr, c.observe), (None, None, None));
        assert_eq!(c.error_limit, 10);
        assert_eq!(c.on_error, OnError::FailCheck);
    }

    #[test]
    fn check_port_and_addr() {
        let d = apply("check port 8008 addr 10.0.0.9").unwrap();
        assert_eq!(d.check.port, Some(8008));
        assert_eq!(d.check.addr, Some("10.0.0.9".parse().unwrap()));
        let d = apply("addr ::1 port 65535").unwrap();
        assert_eq!(d.check.addr, Some("::1".parse().unwrap()));
        assert_eq!(d.check.port, Some(65535));
        assert_eq!(
            apply("addr [2001:db8::1]").unwrap().check.addr,
            Some("2001:db8::1".parse().unwrap())
        );
    }

    #[test]
    fn bad_check_port_and_addr() {
        for bad in ["port 0", "port 65536", "port http", "port -1"] {
            let e = apply(bad).unwrap_err();
            assert!(e.contains("'port'"), "{bad}: {e}");
        }
        assert!(apply("port")
            .unwrap_err()
            .contains("'port' expects a value"));
        let e = apply("addr 10.0.0.1:80").unwrap_err();
        assert!(e.contains("'addr'") && e.contains("without a port"), "{e}");
        for bad in ["addr www.example.com", "addr 10.0.0", "addr [10.0.0.1]"] {
            let e = apply(bad).unwrap_err();
            assert!(
                e.contains("'addr' expects an IPv4 or IPv6 address"),
                "{bad}: {e}"
            );
        }
        assert!(apply("addr")
            .unwrap_err()
            .contains("'addr' expects a value"));
    }

    #[test]
    fn observe_and_on_error() {
        let d = apply("observe layer7 error-limit 3 on-error mark-down").unwrap();
        assert_eq!(d.check.observe, Some(Observe::Layer7));
        assert_eq!(d.check.error_limit, 3);
        assert_eq!(d.check.on_error, OnError::MarkDown);
        assert_eq!(
            apply("observe layer4").unwrap().check.observe,
            Some(Observe::Layer4)
        );
        assert_eq!(
            apply("observe layer4 observe none").unwrap().check.observe,
            None
        );
        for (word, mode) in [
            ("fastinter", OnError::FastInter),
            ("fail-check", OnError::FailCheck),
            ("sudden-death", OnError::SuddenDeath),
            ("mark-down", OnError::MarkDown),
        ] {
            assert_eq!(
                apply(&format!("on-error {word}")).unwrap().check.on_error,
                mode
            );
        }
    }

    #[test]
    fn bad_observe_and_on_error() {
        let e = apply("observe layer3").unwrap_err();
        assert!(e.contains("'observe'") && e.contains("layer3"), "{e}");
        assert!(apply("error-limit 0")
            .unwrap_err()
            .contains("'error-limit'"));
        assert!(apply("error-limit x")
            .unwrap_err()
            .contains("'error-limit'"));
        let e = apply("on-error ignore").unwrap_err();
        assert!(e.contains("'on-error'") && e.contains("ignore"), "{e}");
        assert!(apply("on-error")
            .unwrap_err()
            .contains("'on-error' expects a value"));
    }

    #[test]
    fn on_marked_down_is_accepted_with_a_note() {
        let (d, notes) = apply_noting("on-marked-down shutdown-sessions check").unwrap();
        assert!(d.check.enabled);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("'on-marked-down shutdown-sessions'"));
        let e = apply("on-marked-down shutdown-backup-sessions").unwrap_err();
        assert!(e.contains("'on-marked-down'"), "{e}");
    }

    #[test]
    fn unknown_option_lists_the_new_ones() {
        let e = apply("agent-check").unwrap_err();
        for word in [
            "port",
            "addr",
            "observe",
            "error-limit",
            "on-error",
            "on-marked-down",
        ] {
            assert!(e.contains(word), "{e}");
        }
    }
}
