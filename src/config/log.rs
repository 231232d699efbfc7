//! The `log` keyword: where log lines go, in which syslog facility and format.

use std::net::{SocketAddr, ToSocketAddrs};

use super::units::parse_uint;

/// Where a log target sends its lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LogSink {
    /// A UNIX datagram socket such as `/dev/log`.
    Unix(String),
    /// A syslog server over UDP.
    Udp(SocketAddr),
    /// Standard output (`stdout`, `fd@1`).
    Stdout,
    /// Standard error (`stderr`, `fd@2`).
    Stderr,
}

/// How a line is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLineFormat {
    /// `<PRI>Mmm dd hh:mm:ss host tag[pid]: msg` (HAProxy's default for sockets).
    Rfc3164,
    /// `<PRI>1 ISO-TIME host tag pid - - msg`.
    Rfc5424,
    /// `<PRI>msg`.
    Short,
    /// `msg` alone.
    Raw,
}

/// One `log` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    /// Destination.
    pub sink: LogSink,
    /// Framing.
    pub format: LogLineFormat,
    /// Syslog facility number (local0 = 16).
    pub facility: u8,
    /// Most verbose level sent (lines above it are dropped); 7 = debug.
    pub max_level: u8,
    /// HAProxy's `minlevel`: lines more severe than it are sent at this level instead.
    pub min_level: u8,
    /// `len`: longest line sent.
    pub max_len: usize,
}

/// Syslog level of traffic logs (`info`).
pub const LEVEL_INFO: u8 = 6;

const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

const LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

fn level(name: &str) -> Option<u8> {
    LEVELS.iter().position(|l| *l == name).map(|p| p as u8)
}

/// Parses the words after `log` (not `log global`, handled by the caller).
pub fn parse_log_target(args: &[String]) -> Result<LogTarget, String> {
    let Some(target) = args.first() else {
        return Err(
            "'log' expects either <address[:port]> and <facility> or 'global' as arguments".into(),
        );
    };
    let sink = parse_sink(target)?;
    let mut format = match sink {
        LogSink::Stdout | LogSink::Stderr => LogLineFormat::Raw,
        _ => LogLineFormat::Rfc3164,
    };
    let mut max_len = 1024usize;
    let mut rest = &args[1..];
    loop {
        match rest.first().map(String::as_str) {
            Some("len") => {
                let value = rest.get(1).ok_or("'len' expects a length")?;
                max_len = parse_uint(value, 65535).map_err(|e| format!("'len': {e}"))? as usize;
                rest = &rest[2..];
            }
            Some("format") => {
                let value = rest.get(1).ok_or("'format' expects a format name")?;
                format = match value.as_str() {
                    "rfc3164" | "local" => LogLineFormat::Rfc3164,
                    "rfc5424" => LogLineFormat::Rfc5424,
                    "short" | "priority" => LogLineFormat::Short,
                    "raw" => LogLineFormat::Raw,
                    other => {
                        return Err(format!(
                        "unknown log format '{other}' (supported: rfc3164, rfc5424, short, raw)"
                    ))
                    }
                };
                rest = &rest[2..];
            }
            Some("sample") => return Err("'log ... sample' is not supported".into()),
            _ => break,
        }
    }
    let Some(facility_name) = rest.first() else {
        return Err(format!("'log {target}' expects a facility (e.g. local0)"));
    };
    let facility = FACILITIES
        .iter()
        .position(|f| f == facility_name)
        .ok_or_else(|| format!("unknown log facility '{facility_name}'"))? as u8;
    let max_level = match rest.get(1) {
        Some(name) => level(name).ok_or_else(|| format!("unknown optional log level '{name}'"))?,
        None => 7,
    };
    let min_level = match rest.get(2) {
        Some(name) => {
            level(name).ok_or_else(|| format!("unknown optional minimum log level '{name}'"))?
        }
        None => 0,
    };
    if rest.len() > 3 {
        return Err(format!(
            "unexpected word '{}' after the log levels",
            rest[3]
        ));
    }
    Ok(LogTarget {
        sink,
        format,
        facility,
        max_level,
        min_level,
        max_len,
    })
}

fn parse_sink(target: &str) -> Result<LogSink, String> {
    match target {
        "stdout" | "fd@1" => return Ok(LogSink::Stdout),
        "stderr" | "fd@2" => return Ok(LogSink::Stderr),
        _ => {}
    }
    if let Some(path) = target.strip_prefix("unix@") {
        return Ok(LogSink::Unix(path.to_string()));
    }
    if target.starts_with('/') {
        return Ok(LogSink::Unix(target.to_string()));
    }
    let host = target
        .strip_prefix("udp@")
        .or_else(|| target.strip_prefix("udp4@"))
        .or_else(|| target.strip_prefix("udp6@"))
        .or_else(|| target.strip_prefix("ipv4@"))
        .or_else(|| target.strip_prefix("ipv6@"))
        .unwrap_or(target);
    if host.contains('@') {
        return Err(format!("unsupported log target '{target}' (supported: /path, unix@/path, host[:port], udp@host[:port], stdout, stderr)"));
    }
    let with_port = if has_port(host) {
        host.to_string()
    } else if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:514")
    } else {
        format!("{host}:514")
    };
    with_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .map(LogSink::Udp)
        .ok_or_else(|| format!("cannot resolve log target '{target}'"))
}

fn has_port(host: &str) -> bool {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.contains("]:");
    }
    host.matches(':').count() == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<LogTarget, String> {
        let words: Vec<String> = s.split_whitespace().map(String::from).collect();
        parse_log_target(&words)
    }

    #[test]
    fn seed_targets() {
        let t = parse("/dev/log local0").unwrap();
        assert_eq!(t.sink, LogSink::Unix("/dev/log".into()));
        assert_eq!(t.facility, 16);
        assert_eq!(t.max_level, 7);
        let t = parse("/dev/log local1 notice").unwrap();
        assert_eq!(t.facility, 17);
        assert_eq!(t.max_level, 5);
    }

    #[test]
    fn stdout_and_udp() {
        let t = parse("stdout format raw local0").unwrap();
        assert_eq!(t.sink, LogSink::Stdout);
        assert_eq!(t.format, LogLineFormat::Raw);
        let t = parse("127.0.0.1 local2 info").unwrap();
        assert_eq!(t.sink, LogSink::Udp("127.0.0.1:514".parse().unwrap()));
        let t = parse("udp@127.0.0.1:1514 len 2048 daemon").unwrap();
        assert_eq!(t.sink, LogSink::Udp("127.0.0.1:1514".parse().unwrap()));
        assert_eq!(t.max_len, 2048);
        assert_eq!(t.facility, 3);
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(parse("/dev/log").unwrap_err().contains("facility"));
        assert!(parse("/dev/log local9").unwrap_err().contains("local9"));
        assert!(parse("/dev/log local0 loud").unwrap_err().contains("loud"));
        assert!(parse("ring@buf local0")
            .unwrap_err()
            .contains("unsupported"));
    }
}
