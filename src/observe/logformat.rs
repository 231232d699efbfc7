//! `log-format` lines: a parsed [`FormatString`] written from a finished transaction's
//! record, with HAProxy's rules for separators (a run of blanks is one space, never two in
//! a row, and none after a field that wrote nothing) and for missing values (`-`).

use std::fmt::Write as _;

use crate::config::logformat::{
    write_ip, write_number, FormatFlags, FormatPart, FormatString, FormatVar, Occupant,
    RequestPart, Timer,
};
use crate::config::Config;
use crate::state::LogRecord;

use super::httplog::{date, escape, hostname, Occupancy};

/// The line `format` describes for `record`.
pub fn render(
    record: &LogRecord,
    config: &Config,
    occupancy: Occupancy,
    format: &FormatString,
) -> String {
    let mut line = String::with_capacity(160);
    // HAProxy starts as if after a separator: a leading blank writes nothing.
    let mut after_space = true;
    let mut samples = record.extras.iter().flat_map(|e| e.samples.iter());
    for part in &format.parts {
        match part {
            FormatPart::Separator => {
                if !after_space {
                    line.push(' ');
                    after_space = true;
                }
            }
            FormatPart::Literal(text) => {
                line.push_str(&String::from_utf8_lossy(text));
                after_space = false;
            }
            FormatPart::Sample { flags, .. } => {
                let value = samples.next().and_then(Option::as_deref);
                write_value(&mut line, *flags, value.map(escape).as_deref());
                after_space = false;
            }
            FormatPart::Var { var, flags } => {
                let before = line.len();
                var_value(&mut line, record, config, occupancy, *var, *flags);
                // Every field counts as written, even empty, but for captures of a side
                // that has none configured (as HAProxy's `%hr` then writes nothing).
                if line.len() > before || !matches!(var, FormatVar::Captures { .. }) {
                    after_space = false;
                }
            }
        }
    }
    line
}

fn write_value(line: &mut String, flags: FormatFlags, value: Option<&str>) {
    match (value, flags.quote) {
        (Some(v), true) => {
            let _ = write!(line, "\"{v}\"");
        }
        (Some(v), false) => line.push_str(v),
        (None, true) => line.push_str("\"\""),
        (None, false) => line.push('-'),
    }
}

/// A number `%{+X}` does not apply to (HAProxy writes those in decimal whatever the flags).
fn number(line: &mut String, n: i64) {
    let _ = write!(line, "{n}");
}

fn var_value(
    line: &mut String,
    record: &LogRecord,
    config: &Config,
    occupancy: Occupancy,
    var: FormatVar,
    flags: FormatFlags,
) {
    let fe = &config.proxies[record.frontend];
    let backend = record.backend.and_then(|b| config.proxies.get(b));
    let server = backend.and_then(|b| record.server.and_then(|s| b.servers.get(s)));
    let extras = record.extras.as_deref();
    let t = record.timers;
    let text = |line: &mut String, v: &str| write_value(line, flags, Some(v));
    let ip = |line: &mut String, addr| write_ip(line, addr, flags.hex);
    let hexed = |line: &mut String, n, width| write_number(line, n, flags.hex, width);
    let request_part = |index: usize| record.request_line.split(' ').nth(index);
    match var {
        FormatVar::ClientIp => ip(line, record.client.ip()),
        FormatVar::ClientPort => hexed(line, u64::from(record.client.port()), 4),
        FormatVar::FrontendIp => ip(line, record.local.ip()),
        FormatVar::FrontendPort => hexed(line, u64::from(record.local.port()), 4),
        FormatVar::Frontend => text(line, &fe.name),
        FormatVar::Backend => text(line, backend.map_or(fe.name.as_str(), |b| b.name.as_str())),
        FormatVar::Server => text(line, server.map_or("<NOSRV>", |s| s.name.as_str())),
        FormatVar::ServerIp => match server {
            Some(s) => ip(line, s.addr.addr.ip()),
            None => text(line, "-"),
        },
        FormatVar::ServerPort => match server {
            Some(s) => hexed(line, u64::from(s.addr.addr.port()), 4),
            None => text(line, "-"),
        },
        FormatVar::Pid => hexed(line, u64::from(std::process::id()), 4),
        FormatVar::Seconds | FormatVar::Millis => {
            let since = record
                .started
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            if var == FormatVar::Seconds {
                hexed(line, since.as_secs(), 8);
            } else {
                let _ = write!(line, "{:03}", since.subsec_millis());
            }
        }
        FormatVar::Date => text(line, &date(record.started)),
        FormatVar::UniqueId => {
            write_value(line, flags, extras.and_then(|e| e.unique_id.as_deref()))
        }
        FormatVar::RequestCounter => hexed(line, extras.map_or(0, |e| e.request_counter), 4),
        FormatVar::Timer(timer) => {
            let v = match timer {
                Timer::Request => t.request,
                Timer::Queue => t.queue,
                Timer::Connect => t.connect,
                Timer::Response => t.response,
                Timer::Active | Timer::Total => t.total,
                Timer::Zero => 0,
                Timer::Quiet => t.request,
            };
            number(line, v);
        }
        FormatVar::Status => number(line, record.status.map_or(-1, i64::from)),
        FormatVar::BytesOut => number(line, record.bytes_out as i64),
        FormatVar::BytesIn => number(line, extras.map_or(0, |e| e.bytes_in) as i64),
        FormatVar::Termination => text(line, &String::from_utf8_lossy(&record.termination)),
        FormatVar::TerminationCookies => text(
            line,
            &format!("{}--", String::from_utf8_lossy(&record.termination)),
        ),
        FormatVar::Conns(who) => number(
            line,
            match who {
                Occupant::Process => occupancy.process,
                Occupant::Frontend => occupancy.frontend,
                Occupant::Backend => occupancy.backend,
                Occupant::Server => occupancy.server,
            },
        ),
        FormatVar::Retries => number(line, i64::from(record.retries)),
        FormatVar::Queue => number(line, 0),
        FormatVar::Captures { response, list } => {
            let Some(values) = extras.map(|e| {
                if response {
                    &e.response_captures
                } else {
                    &e.request_captures
                }
            }) else {
                return;
            };
            let configured = fe.captures.iter().any(|c| c.response == response);
            if !configured {
                return;
            }
            let values: Vec<String> = values.iter().map(|v| capture_escape(v)).collect();
            if list {
                let shown: Vec<&str> = values
                    .iter()
                    .map(|v| if v.is_empty() { "-" } else { v.as_str() })
                    .collect();
                line.push_str(&shown.join(" "));
            } else {
                let _ = write!(line, "{{{}}}", values.join("|"));
            }
        }
        FormatVar::RequestLine => write_value(line, flags, Some(&escape(&record.request_line))),
        FormatVar::Request(part) => {
            let uri = request_part(1).unwrap_or("");
            let value = match part {
                RequestPart::Method => request_part(0),
                RequestPart::Uri => request_part(1),
                RequestPart::Path => uri.split('?').next(),
                RequestPart::Query => Some(uri.find('?').map_or("", |q| &uri[q..])),
                RequestPart::Version => request_part(2),
            };
            write_value(line, flags, value.map(escape).as_deref());
        }
        FormatVar::Cookie => text(line, "-"),
        FormatVar::Hostname => text(line, hostname()),
        FormatVar::Options => {}
    }
}

/// What `%hr`/`%hs` escape: the braces and bar that frame them, `"`, `#` and controls.
pub fn capture_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '"' | '#' | '{' | '|' | '}') || c.is_control() {
            let _ = write!(out, "#{:02X}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}
