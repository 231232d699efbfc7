//! `log-format` lines: a parsed [`FormatString`] written from a finished transaction's
//! record, with HAProxy's rules for separators (a run of blanks is one space, never two in
//! a row, and none after a field that wrote nothing) and for missing values (`-`).

use std::fmt::Write as _;

use crate::config::logformat::{
    unmapped, FormatFlags, FormatPart, FormatString, FormatVar, Occupant, RequestPart, Timer,
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
                if line.len() > before {
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

fn number(line: &mut String, flags: FormatFlags, n: i64) {
    let _ = if flags.hex && n >= 0 {
        write!(line, "{n:X}")
    } else {
        write!(line, "{n}")
    };
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
    let request_part = |index: usize| record.request_line.split(' ').nth(index);
    match var {
        FormatVar::ClientIp => text(line, &unmapped(record.client.ip()).to_string()),
        FormatVar::ClientPort => number(line, flags, i64::from(record.client.port())),
        FormatVar::FrontendIp => text(line, &unmapped(record.local.ip()).to_string()),
        FormatVar::FrontendPort => number(line, flags, i64::from(record.local.port())),
        FormatVar::Frontend => text(line, &fe.name),
        FormatVar::Backend => text(line, backend.map_or(fe.name.as_str(), |b| b.name.as_str())),
        FormatVar::Server => text(line, server.map_or("<NOSRV>", |s| s.name.as_str())),
        FormatVar::ServerIp => match server {
            Some(s) => text(line, &unmapped(s.addr.addr.ip()).to_string()),
            None => text(line, "-"),
        },
        FormatVar::ServerPort => match server {
            Some(s) => number(line, flags, i64::from(s.addr.addr.port())),
            None => text(line, "-"),
        },
        FormatVar::Pid => number(line, flags, i64::from(std::process::id())),
        FormatVar::Seconds | FormatVar::Millis => {
            let since = record
                .started
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            if var == FormatVar::Seconds {
                number(line, flags, since.as_secs() as i64);
            } else {
                let _ = write!(line, "{:03}", since.subsec_millis());
            }
        }
        FormatVar::Date => text(line, &date(record.started)),
        FormatVar::UniqueId => write_value(line, flags, extras.and_then(|e| e.unique_id.as_deref())),
        FormatVar::RequestCounter => {
            number(line, flags, extras.map_or(0, |e| e.request_counter) as i64)
        }
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
            number(line, flags, v);
        }
        FormatVar::Status => number(line, flags, record.status.map_or(-1, i64::from)),
        FormatVar::BytesOut => number(line, flags, record.bytes_out as i64),
        FormatVar::BytesIn => number(line, flags, extras.map_or(0, |e| e.bytes_in) as i64),
        FormatVar::Termination => text(line, &String::from_utf8_lossy(&record.termination)),
        FormatVar::TerminationCookies => {
            text(line, &format!("{}--", String::from_utf8_lossy(&record.termination)))
        }
        FormatVar::Conns(who) => number(
            line,
            flags,
            match who {
                Occupant::Process => occupancy.process,
                Occupant::Frontend => occupancy.frontend,
                Occupant::Backend => occupancy.backend,
                Occupant::Server => occupancy.server,
            },
        ),
        FormatVar::Retries => number(line, flags, i64::from(record.retries)),
        FormatVar::Queue => number(line, flags, 0),
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
                line.push_str(&values.join(" "));
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
        FormatVar::Hostname => text(line, &hostname()),
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
