//! HAProxy's log lines: `option httplog`, `option tcplog` and the default connection line,
//! and the syslog framing around them.

use std::fmt::Write;
use std::net::SocketAddr;
use std::time::SystemTime;

use chrono::{DateTime, Local};

use crate::config::log::{LogLineFormat, LogTarget, LEVEL_INFO};
use crate::config::{Config, Mode};
use crate::state::{LogEvent, LogRecord};

/// Connection counts printed as `%ac/%fc/%bc/%sc/%rc`, read when the line is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Occupancy {
    /// Connections on the whole process.
    pub process: i64,
    /// Connections on the frontend.
    pub frontend: i64,
    /// Requests in flight on the backend.
    pub backend: i64,
    /// Requests in flight on the server.
    pub server: i64,
}

/// The message part of the log line for `record` (no syslog header).
pub fn message(record: &LogRecord, config: &Config, occupancy: Occupancy) -> String {
    let fe = &config.proxies[record.frontend];
    let mut line = String::with_capacity(160);
    if record.event == LogEvent::Connect {
        let mode = match fe.mode {
            Mode::Http => "HTTP",
            Mode::Tcp => "TCP",
        };
        let _ = write!(
            line,
            "Connect from {} to {} ({}/{})",
            show_addr(record.client),
            show_addr(record.local),
            fe.name,
            mode
        );
        return line;
    }
    if let Some(format) = &fe.log_format_string {
        return super::logformat::render(record, config, occupancy, format);
    }
    let backend = record.backend.map(|b| &config.proxies[b]);
    let backend_name = backend.map_or(fe.name.as_str(), |b| b.name.as_str());
    let server_name = match (backend, record.server) {
        (Some(b), Some(s)) => b.servers.get(s).map_or("<NOSRV>", |s| s.name.as_str()),
        _ => "<NOSRV>",
    };
    let t = record.timers;
    let status = record.status.map_or(-1, i64::from);
    let _ = write!(
        line,
        "{} [{}] {} {}/{} ",
        show_addr(record.client),
        date(record.started),
        fe.name,
        backend_name,
        server_name
    );
    let term = String::from_utf8_lossy(&record.termination);
    let counts = format!(
        "{}/{}/{}/{}/{} 0/0",
        occupancy.process, occupancy.frontend, occupancy.backend, occupancy.server, record.retries
    );
    match record.event {
        LogEvent::Http => {
            let _ = write!(
                line,
                "{}/{}/{}/{}/{} {} {} - - {}-- {} ",
                t.request,
                t.queue,
                t.connect,
                t.response,
                t.total,
                status,
                record.bytes_out,
                term,
                counts,
            );
            // `%hr %hs` of HAProxy's httplog format: only what is configured.
            for response in [false, true] {
                if !fe.captures.iter().any(|c| c.response == response) {
                    continue;
                }
                let values = record.extras.as_ref().map(|e| {
                    if response {
                        e.response_captures.as_slice()
                    } else {
                        e.request_captures.as_slice()
                    }
                });
                let values: Vec<String> = values
                    .unwrap_or_default()
                    .iter()
                    .map(|v| super::logformat::capture_escape(v))
                    .collect();
                let _ = write!(line, "{{{}}} ", values.join("|"));
            }
            let _ = write!(line, "\"{}\"", escape(&record.request_line));
        }
        _ => {
            let _ = write!(
                line,
                "{}/{}/{} {} {} {}",
                t.queue, t.connect, t.total, record.bytes_out, term, counts
            );
        }
    }
    line
}

/// Frames `message` for `target` (syslog header as the target's format asks), or `None`
/// when the target does not take lines of the traffic level (`info`).
pub fn frame(target: &LogTarget, message: &str, pid: u32, now: SystemTime) -> Option<String> {
    if target.max_level < LEVEL_INFO {
        return None;
    }
    let level = LEVEL_INFO.max(target.min_level);
    let pri = u32::from(target.facility) * 8 + u32::from(level);
    let mut out = match target.format {
        LogLineFormat::Raw => String::new(),
        LogLineFormat::Short => format!("<{pri}>"),
        LogLineFormat::Rfc3164 => {
            let local: DateTime<Local> = now.into();
            format!("<{pri}>{} ringlb[{pid}]: ", local.format("%b %e %H:%M:%S"))
        }
        LogLineFormat::Rfc5424 => {
            let local: DateTime<Local> = now.into();
            format!(
                "<{pri}>1 {} {} ringlb {pid} - - ",
                local.format("%Y-%m-%dT%H:%M:%S%.6f%:z"),
                hostname()
            )
        }
    };
    out.push_str(message);
    if out.len() > target.max_len {
        let mut cut = target.max_len;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    Some(out)
}

/// HAProxy's accept date, `dd/Mon/yyyy:HH:MM:SS.mmm` in local time.
pub fn date(at: SystemTime) -> String {
    let local: DateTime<Local> = at.into();
    local.format("%d/%b/%Y:%H:%M:%S%.3f").to_string()
}

fn show_addr(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => format!("{v4}:{}", v6.port()),
            None => format!("{}:{}", v6.ip(), v6.port()),
        },
        SocketAddr::V4(v4) => v4.to_string(),
    }
}

/// Escapes what would break the quoted request field, as HAProxy's `%{+Q}r` does.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#22"),
            c if c.is_control() => {
                let _ = write!(out, "#{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// This host's name (`-` when the system will not say), asked once: log lines that carry it
/// (`rfc5424`, `%H`) should not cost a system call each.
pub fn hostname() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is writable for its whole length.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc != 0 {
            return "-".into();
        }
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_sources;
    use crate::state::Timers;

    fn config() -> Config {
        load_sources(&[(
            "t".into(),
            "defaults\n mode http\nfrontend web\n bind :1\n default_backend app\nbackend app\n server s1 127.0.0.1:2\n".into(),
        )])
        .unwrap()
        .config
    }

    fn record(event: LogEvent) -> LogRecord {
        LogRecord {
            event,
            frontend: 0,
            backend: Some(1),
            server: Some(0),
            client: "127.0.0.1:4000".parse().unwrap(),
            local: "127.0.0.1:1".parse().unwrap(),
            started: SystemTime::UNIX_EPOCH,
            timers: Timers {
                request: 0,
                queue: 0,
                connect: 1,
                response: 2,
                total: 3,
            },
            status: Some(200),
            bytes_out: 123,
            termination: *b"--",
            retries: 0,
            request_line: "GET /a\"b HTTP/1.1".into(),
            shard: 0,
            config: std::sync::Arc::new(config()),
            counters: crate::state::CounterSet::new(&config(), 1),
            extras: None,
        }
    }

    #[test]
    fn httplog_layout_matches_haproxy() {
        let occ = Occupancy {
            process: 1,
            frontend: 1,
            backend: 0,
            server: 0,
        };
        let line = message(&record(LogEvent::Http), &config(), occ);
        let (head, rest) = line.split_once(" [").unwrap();
        assert_eq!(head, "127.0.0.1:4000");
        let rest = rest.split_once("] ").unwrap().1;
        assert_eq!(
            rest,
            "web app/s1 0/0/1/2/3 200 123 - - ---- 1/1/0/0/0 0/0 \"GET /a#22b HTTP/1.1\""
        );
    }

    #[test]
    fn tcplog_and_connect_lines() {
        let c = config();
        let line = message(&record(LogEvent::Tcp), &c, Occupancy::default());
        assert!(
            line.ends_with("web app/s1 0/1/3 123 -- 0/0/0/0/0 0/0"),
            "{line}"
        );
        let line = message(&record(LogEvent::Connect), &c, Occupancy::default());
        assert_eq!(
            line,
            "Connect from 127.0.0.1:4000 to 127.0.0.1:1 (web/HTTP)"
        );
    }

    #[test]
    fn syslog_framing_and_levels() {
        let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let t = crate::config::log::parse_log_target(&words("/dev/log local0")).unwrap();
        let framed = frame(&t, "hello", 42, SystemTime::now()).unwrap();
        assert!(framed.starts_with("<134>"), "{framed}");
        assert!(framed.ends_with(" ringlb[42]: hello"), "{framed}");
        let notice =
            crate::config::log::parse_log_target(&words("/dev/log local1 notice")).unwrap();
        assert!(frame(&notice, "hello", 42, SystemTime::now()).is_none());
        let raw = crate::config::log::parse_log_target(&words("stdout format raw local0")).unwrap();
        assert_eq!(frame(&raw, "hello", 1, SystemTime::now()).unwrap(), "hello");
    }
}
