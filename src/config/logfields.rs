//! What a log line carries beyond the built-in formats, and the request's unique id:
//! `log-format`, `capture request|response header NAME len N`, `unique-id-format` and
//! `unique-id-header`.

use std::sync::Arc;

use super::draft::ProxyDraft;
use super::error::Diagnostics;
use super::lexer::Line;
use super::logformat::{FormatString, FormatUse};
use super::units::parse_uint;

/// One `capture request|response header NAME len N` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderCapture {
    /// The response's header rather than the request's.
    pub response: bool,
    /// The header name, lower-cased.
    pub name: String,
    /// The most bytes kept of its value.
    pub len: usize,
    /// A slot filled by `http-request capture SAMPLE len N` (`name` is empty).
    pub from_rule: bool,
}

/// HAProxy's cap on `capture … len` (`tune.http.cookielen`-like: a log line stays small).
pub const MAX_CAPTURE_LEN: u64 = 65_535;

/// Applies `log-format`, `capture`, `unique-id-format` or `unique-id-header`; false when
/// `line` is none of them. Placement is checked by the caller.
pub fn parse_line(draft: &mut ProxyDraft, line: &Line, diag: &mut Diagnostics) -> bool {
    let at = &line.location;
    let keyword = line.word(0);
    let args = &line.words[1..];
    match keyword {
        "log-format" | "unique-id-format" => {
            let usage = if keyword == "log-format" {
                FormatUse::Log
            } else {
                FormatUse::Request
            };
            // HAProxy joins the words of an unquoted format with single spaces.
            let text = args.join(" ");
            if text.is_empty() {
                diag.error(at, format!("'{keyword}' expects a format string"));
                return true;
            }
            match FormatString::parse_for(&text, usage) {
                Ok(format) if keyword == "log-format" => {
                    draft.proxy.log_format_string = Some(Arc::new(format))
                }
                Ok(format) => draft.proxy.unique_id_format = Some(Arc::new(format)),
                Err(message) => diag.error(at, format!("'{keyword}': {message}")),
            }
        }
        "unique-id-header" => match args {
            [name] if !name.is_empty() => draft.proxy.unique_id_header = Some(name.clone()),
            _ => diag.error(at, "'unique-id-header' expects a header name"),
        },
        "capture" => match args {
            [side, header, name, len_kw, len]
                if (side == "request" || side == "response")
                    && header == "header"
                    && len_kw == "len" =>
            {
                match parse_uint(len, MAX_CAPTURE_LEN) {
                    Ok(0) | Err(_) => diag.error(
                        at,
                        format!("'capture {side} header': 'len' expects a length between 1 and {MAX_CAPTURE_LEN} (got '{len}')"),
                    ),
                    Ok(n) => draft.proxy.captures.push(HeaderCapture {
                        response: side == "response",
                        name: name.to_ascii_lowercase(),
                        len: n as usize,
                        from_rule: false,
                    }),
                }
            }
            [kind, ..] if kind == "cookie" => diag.error(
                at,
                "'capture cookie' is a HAProxy keyword that ringlb does not support yet",
            ),
            _ => diag.error(
                at,
                "'capture' expects 'request header <name> len <length>' or 'response header <name> len <length>'",
            ),
        },
        _ => return false,
    }
    true
}

/// Keeps at most `len` bytes of a captured value, as text for the log.
pub fn captured(value: &[u8], len: usize) -> String {
    String::from_utf8_lossy(value.get(..len.min(value.len())).unwrap_or(value)).into_owned()
}
