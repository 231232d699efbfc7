//! `server` and `default-server` lines.

use super::address::parse_server_addr;
use super::draft::{ProxyDraft, ServerDefaults};
use super::error::Diagnostics;
use super::lexer::Line;
use super::model::Server;
use super::units::{parse_time, parse_uint};

/// Applies `server NAME ADDR [options]`.
pub fn parse_server(draft: &mut ProxyDraft, line: &Line, diag: &mut Diagnostics) {
    let at = &line.location;
    let (Some(name), Some(addr_text)) = (line.words.get(1), line.words.get(2)) else {
        diag.error(at, "'server' expects <name> and <addr> as arguments");
        return;
    };
    if let Some(first) = draft.proxy.servers.iter().find(|s| &s.name == name) {
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
    let addr = match parse_server_addr(addr_text) {
        Ok(addr) => addr,
        Err(message) => {
            diag.error(at, format!("'server {name}': {message}"));
            return;
        }
    };
    let mut settings = draft.server_defaults;
    if let Err(message) = apply_options(&mut settings, &line.words[3..]) {
        diag.error(at, format!("'server {name}': {message}"));
        return;
    }
    let puid = draft.proxy.servers.len() as u32 + 1;
    draft.proxy.servers.push(Server {
        name: name.clone(),
        puid,
        addr_text: addr_text.clone(),
        addr,
        weight: settings.weight,
        backup: settings.backup,
        disabled: settings.disabled,
        maxconn: settings.maxconn,
        check: settings.check,
        location: at.clone(),
    });
}

/// Applies `default-server [options]`.
pub fn parse_default_server(draft: &mut ProxyDraft, line: &Line, diag: &mut Diagnostics) {
    let mut settings = draft.server_defaults;
    match apply_options(&mut settings, &line.words[1..]) {
        Ok(()) => draft.server_defaults = settings,
        Err(message) => diag.error(&line.location, format!("'default-server': {message}")),
    }
}

fn apply_options(settings: &mut ServerDefaults, mut words: &[String]) -> Result<(), String> {
    while let Some(option) = words.first() {
        let flag: Option<fn(&mut ServerDefaults)> = match option.as_str() {
            "check" => Some(|s| s.check.enabled = true),
            "no-check" => Some(|s| s.check.enabled = false),
            "backup" => Some(|s| s.backup = true),
            "no-backup" => Some(|s| s.backup = false),
            "disabled" => Some(|s| s.disabled = true),
            "enabled" => Some(|s| s.disabled = false),
            _ => None,
        };
        if let Some(apply) = flag {
            apply(settings);
            words = &words[1..];
            continue;
        }
        let value = words.get(1).ok_or_else(|| match option.as_str() {
            "weight" | "inter" | "fastinter" | "downinter" | "rise" | "fall" | "maxconn" => {
                format!("'{option}' expects a value")
            }
            other => unknown(other),
        })?;
        let named = |e: String| format!("'{option}': {e}");
        match option.as_str() {
            "weight" => settings.weight = parse_uint(value, 256).map_err(named)? as u32,
            "maxconn" => {
                settings.maxconn = parse_uint(value, u64::from(u32::MAX)).map_err(named)? as u32
            }
            "rise" | "fall" => {
                let n = parse_uint(value, 1_000_000).map_err(named)? as u32;
                if n == 0 {
                    return Err(format!("'{option}' must be at least 1"));
                }
                if option == "rise" {
                    settings.check.rise = n;
                } else {
                    settings.check.fall = n;
                }
            }
            "inter" | "fastinter" | "downinter" => {
                let t = parse_time(value).map_err(named)?;
                if t.is_zero() {
                    return Err(format!("'{option}' must be greater than 0"));
                }
                match option.as_str() {
                    "inter" => settings.check.inter = t,
                    "fastinter" => settings.check.fastinter = Some(t),
                    _ => settings.check.downinter = Some(t),
                }
            }
            other => return Err(unknown(other)),
        }
        words = &words[2..];
    }
    Ok(())
}

fn unknown(option: &str) -> String {
    format!("unknown option '{option}' (supported: weight, check, no-check, inter, fastinter, downinter, rise, fall, backup, maxconn, disabled, enabled)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn apply(s: &str) -> Result<ServerDefaults, String> {
        let mut d = ServerDefaults::default();
        let words: Vec<String> = s.split_whitespace().map(String::from).collect();
        apply_options(&mut d, &words).map(|_| d)
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
}
