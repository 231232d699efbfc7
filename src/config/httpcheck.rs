//! `option httpchk` and `http-check send|expect`: the request of HTTP health checks and what a
//! healthy answer looks like.
//!
//! How the lines combine follows HAProxy 2.2 and later (`src/tcpcheck.c`), where
//! configuration.txt only says that `http-check` lines customize the checks `option httpchk`
//! enables:
//! - HTTP checks run only when `option httpchk` is in effect. `http-check` lines without it are
//!   kept, unused, and the proxy gets HAProxy's warning that the rules are ignored; an
//!   `option httpchk` written later (in the section or a section inheriting it) picks them up.
//! - `option httpchk` and `http-check send` fill one request whatever their order: each line
//!   overrides only what it writes out (method, uri, version, and the headers when it gives
//!   some), so the later line wins a field both write. An `option httpchk` that comes before
//!   any `http-check send` replaces the whole request of an earlier `option httpchk`.
//! - A section may have one `http-check send`, before its `http-check expect`: HAProxy needs an
//!   `http-check connect` between two sends, which ringlb does not support.
//! - Unlike HAProxy, where the first `http-check` line of a backend starts an empty rule set, a
//!   section inherits the check of its `defaults` and amends it, as ringlb always did.

use super::draft::{HttpCheckDraft, ProxyDraft};
use super::error::Diagnostics;
use super::lexer::Line;
use super::model::{CheckExpect, ExpectRule, HttpCheck};
use super::units::is_token_byte;
use super::units::parse_uint;

/// Request header fields (name, value), in order.
type Headers = Vec<(String, String)>;

/// The parts of the check request that one line writes out.
#[derive(Debug, Default, PartialEq, Eq)]
struct RequestParts {
    method: Option<String>,
    uri: Option<String>,
    version: Option<String>,
    headers: Headers,
}

impl RequestParts {
    /// Overrides what this line wrote out; headers replace the old ones only when given.
    fn merge_into(self, check: &mut HttpCheck) {
        if let Some(method) = self.method {
            check.method = method;
        }
        if let Some(uri) = self.uri {
            check.uri = uri;
        }
        if let Some(version) = self.version {
            check.version = version;
        }
        if !self.headers.is_empty() {
            check.headers = self.headers;
        }
    }
}

/// Applies `option httpchk [<method>] [<uri>] [<version>] [<host>]`, or `no option httpchk`.
pub fn parse_option_httpchk(
    draft: &mut ProxyDraft,
    line: &Line,
    args: &[String],
    negated: bool,
    diag: &mut Diagnostics,
) {
    let at = &line.location;
    let hc = &mut draft.http_check;
    if negated {
        // Back to plain TCP checks; `http-check` lines from here on wait for an `option httpchk`.
        *hc = HttpCheckDraft {
            send_in_section: hc.send_in_section.take(),
            expect_in_section: hc.expect_in_section,
            ..HttpCheckDraft::default()
        };
        return;
    }
    match parse_option_args(args) {
        Ok((parts, notes)) => {
            for note in notes {
                diag.warn(at, format!("'option httpchk': {note}"));
            }
            if !hc.explicit_send {
                let expect = hc.check.expect.take();
                hc.check = HttpCheck {
                    expect,
                    ..HttpCheck::default()
                };
            }
            parts.merge_into(&mut hc.check);
            hc.enabled = true;
            // One check type per proxy: the later option wins, as in HAProxy.
            draft.tcp_check.enabled = false;
        }
        Err(message) => diag.error(at, format!("'option httpchk': {message}")),
    }
}

fn parse_option_args(args: &[String]) -> Result<(RequestParts, Vec<String>), String> {
    let (method, uri, version, host) = match args {
        [] => (None, None, None, None),
        [uri] => (None, Some(uri), None, None),
        [method, uri] => (Some(method), Some(uri), None, None),
        [method, uri, version] => (Some(method), Some(uri), Some(version), None),
        [method, uri, version, host] => (Some(method), Some(uri), Some(version), Some(host)),
        _ => return Err("expects at most <method> <uri> <version> <host>".into()),
    };
    let mut parts = RequestParts::default();
    let mut notes = Vec::new();
    if let Some(method) = method {
        check_method(method)?;
        parts.method = Some(method.clone());
    }
    if let Some(uri) = uri {
        check_uri(uri)?;
        parts.uri = Some(uri.clone());
    }
    if let Some(version) = version {
        let (version, hidden) = split_hidden_headers(version)?;
        check_version(version)?;
        parts.version = Some(version.to_string());
        if !hidden.is_empty() {
            notes.push("hiding headers at the end of the version string is deprecated since HAProxy 2.2 and refused by recent versions; use 'http-check send hdr <name> <value>'".to_string());
        }
        for (name, value) in hidden {
            push_header(&mut parts.headers, &name, &value, false, &mut notes)?;
        }
    }
    if let Some(host) = host {
        if host.is_empty() {
            return Err("<host> must not be empty".into());
        }
        push_header(&mut parts.headers, "Host", host, true, &mut notes)?;
    }
    Ok((parts, notes))
}

/// Splits `HTTP/1.1\r\nHost: www\r\n...` (the old way of adding headers, after the lexer
/// turned `\r\n` into CR LF) into the version and its header lines, each split on the first `:`.
fn split_hidden_headers(text: &str) -> Result<(&str, Headers), String> {
    if !text.contains(['\r', '\n']) {
        return Ok((text, Vec::new()));
    }
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let version = lines.next().unwrap_or("");
    let mut headers = Vec::new();
    let mut blank_line = false;
    for line in lines {
        if blank_line {
            if !line.is_empty() {
                return Err(
                    "a body after the headers of the version string is not supported".into(),
                );
            }
            continue;
        }
        if line.is_empty() {
            blank_line = true;
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!(
                "header line '{}' in the version string has no ':'",
                line.escape_debug()
            ));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok((version, headers))
}

fn check_method(method: &str) -> Result<(), String> {
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(format!(
            "method '{}' is not an HTTP token",
            method.escape_debug()
        ));
    }
    Ok(())
}

fn check_uri(uri: &str) -> Result<(), String> {
    if uri == "*" {
        return Ok(());
    }
    if !uri.starts_with('/') {
        return Err(format!(
            "uri '{}' must start with '/' or be '*'",
            uri.escape_debug()
        ));
    }
    if uri.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "uri '{}' contains a blank or a control character (CR, LF...)",
            uri.escape_debug()
        ));
    }
    Ok(())
}

fn check_version(version: &str) -> Result<(), String> {
    match version {
        "HTTP/1.0" | "HTTP/1.1" => Ok(()),
        other => Err(format!(
            "version '{}' is not supported (expected HTTP/1.0 or HTTP/1.1)",
            other.escape_debug()
        )),
    }
}

/// Adds one request header after checking it. `log_format` values are HAProxy log-format
/// strings, which ringlb does not evaluate, so a `%` in them is refused rather than sent as is.
fn push_header(
    headers: &mut Headers,
    name: &str,
    value: &str,
    log_format: bool,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(format!(
            "header name '{}' is not an HTTP token",
            name.escape_debug()
        ));
    }
    if value.contains(['\r', '\n', '\0']) {
        return Err(format!(
            "value of header '{name}' contains CR, LF or NUL ('{}')",
            value.escape_debug()
        ));
    }
    if log_format && value.contains('%') {
        return Err(format!(
            "value of header '{name}' is a log-format string ('{value}'); ringlb only sends fixed values, without '%'"
        ));
    }
    if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("transfer-encoding")
    {
        notes.push(format!(
            "header '{name}' is ignored, as in HAProxy: the check request has no body"
        ));
        return Ok(());
    }
    if name.eq_ignore_ascii_case("host") {
        if let Some((_, previous)) = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("host")) {
            return Err(format!(
                "'{name}' header already defined (previous value is '{previous}')"
            ));
        }
    }
    headers.push((name.to_string(), value.to_string()));
    Ok(())
}

/// Applies `http-check send ...` or `http-check expect ...`.
pub fn parse_http_check(draft: &mut ProxyDraft, line: &Line, diag: &mut Diagnostics) {
    match line.word(1) {
        "send" => parse_send(&mut draft.http_check, line, diag),
        "expect" => parse_expect(&mut draft.http_check, line, diag),
        other => diag.error(
            &line.location,
            format!("unsupported 'http-check {other}' (supported: 'http-check send', 'http-check expect')"),
        ),
    }
}

/// Applies `http-check send [meth <method>] [uri <uri>] [ver <version>] [hdr <name> <value>]...`.
fn parse_send(hc: &mut HttpCheckDraft, line: &Line, diag: &mut Diagnostics) {
    let at = &line.location;
    if let Some(first) = &hc.send_in_section {
        diag.error(
            at,
            format!("'http-check send': a section may have only one (the first is at {first}); HAProxy needs an 'http-check connect' between two, which ringlb does not support"),
        );
        return;
    }
    if hc.expect_in_section {
        diag.error(
            at,
            "'http-check send' must come before the section's 'http-check expect': HAProxy runs the rules in order",
        );
        return;
    }
    match parse_send_args(&line.words[2..]) {
        Ok((parts, notes)) => {
            for note in notes {
                diag.warn(at, format!("'http-check send': {note}"));
            }
            parts.merge_into(&mut hc.check);
            hc.explicit_send = true;
            hc.send_in_section = Some(at.clone());
            hc.first_rule.get_or_insert_with(|| at.clone());
        }
        Err(message) => diag.error(at, format!("'http-check send': {message}")),
    }
}

fn parse_send_args(words: &[String]) -> Result<(RequestParts, Vec<String>), String> {
    const SUPPORTED: &str = "supported: meth, uri, ver, hdr";
    let mut parts = RequestParts::default();
    let mut notes = Vec::new();
    let mut rest = words;
    while let Some(word) = rest.first() {
        match word.as_str() {
            "meth" | "uri" | "ver" => {
                let value = rest
                    .get(1)
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| format!("'{word}' expects a value"))?;
                match word.as_str() {
                    "meth" => {
                        check_method(value)?;
                        parts.method = Some(value.clone());
                    }
                    "uri" => {
                        check_uri(value)?;
                        parts.uri = Some(value.clone());
                    }
                    _ => {
                        check_version(value)?;
                        parts.version = Some(value.clone());
                    }
                }
                rest = &rest[2..];
            }
            "hdr" => {
                let (Some(name), Some(value)) = (rest.get(1), rest.get(2)) else {
                    return Err("'hdr' expects <name> and <value>".into());
                };
                if value.is_empty() {
                    return Err(format!("'hdr {name}' expects a non-empty value"));
                }
                push_header(&mut parts.headers, name, value, true, &mut notes)?;
                rest = &rest[3..];
            }
            "uri-lf" | "body" | "body-lf" | "comment" => {
                return Err(format!("'{word}' is not supported ({SUPPORTED})"))
            }
            other => return Err(format!("unexpected argument '{other}' ({SUPPORTED})")),
        }
    }
    Ok((parts, notes))
}

/// Applies `http-check expect [!] status|rstatus|string <pattern>`.
fn parse_expect(hc: &mut HttpCheckDraft, line: &Line, diag: &mut Diagnostics) {
    let at = &line.location;
    let mut rest = &line.words[2..];
    let negate = rest.first().is_some_and(|w| w == "!");
    if negate {
        rest = &rest[1..];
    }
    let (kind, pattern) = match rest {
        [kind, pattern] => (kind.as_str(), pattern.as_str()),
        _ => {
            diag.error(
                at,
                "'http-check expect' expects [!] <match> <pattern>, e.g. 'status 200'",
            );
            return;
        }
    };
    let rule = match kind {
        "status" => match parse_status_list(pattern) {
            Ok(list) => ExpectRule::Status(list),
            Err(message) => {
                diag.error(at, format!("'http-check expect status': {message}"));
                return;
            }
        },
        "rstatus" => {
            if let Err(e) = regex::Regex::new(pattern) {
                diag.error(
                    at,
                    format!("'http-check expect rstatus': invalid regex '{pattern}': {e}"),
                );
                return;
            }
            ExpectRule::RStatus(pattern.to_string())
        }
        "string" => ExpectRule::String(pattern.to_string()),
        other => {
            diag.error(
                at,
                format!("'http-check expect {other}' is not supported (supported: status, rstatus, string)"),
            );
            return;
        }
    };
    hc.check.expect = Some(CheckExpect { negate, rule });
    hc.expect_in_section = true;
    hc.first_rule.get_or_insert_with(|| at.clone());
}

fn parse_status_list(text: &str) -> Result<Vec<(u16, u16)>, String> {
    text.split(',')
        .map(|item| {
            let (lo, hi) = item.split_once('-').unwrap_or((item, item));
            let lo = parse_uint(lo, 999).map_err(|e| format!("status '{item}': {e}"))? as u16;
            let hi = parse_uint(hi, 999).map_err(|e| format!("status '{item}': {e}"))? as u16;
            if lo < 100 || hi < lo {
                return Err(format!("invalid status '{item}'"));
            }
            Ok((lo, hi))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn header(name: &str, value: &str) -> (String, String) {
        (name.to_string(), value.to_string())
    }

    #[test]
    fn status_lists() {
        assert_eq!(parse_status_list("200").unwrap(), vec![(200, 200)]);
        assert_eq!(
            parse_status_list("200-399,404").unwrap(),
            vec![(200, 399), (404, 404)]
        );
        assert!(parse_status_list("20").is_err());
        assert!(parse_status_list("399-200").is_err());
    }

    #[test]
    fn option_arguments_fill_what_they_name() {
        let (p, notes) = parse_option_args(&words("")).unwrap();
        assert_eq!(p, RequestParts::default());
        assert!(notes.is_empty());
        let (p, _) = parse_option_args(&words("/health")).unwrap();
        assert_eq!((p.method, p.uri.as_deref()), (None, Some("/health")));
        let (p, _) = parse_option_args(&words("HEAD * HTTP/1.1 www.example.com")).unwrap();
        assert_eq!(p.method.as_deref(), Some("HEAD"));
        assert_eq!(p.uri.as_deref(), Some("*"));
        assert_eq!(p.version.as_deref(), Some("HTTP/1.1"));
        assert_eq!(p.headers, vec![header("Host", "www.example.com")]);
        assert!(parse_option_args(&words("GET / HTTP/1.1 h extra"))
            .unwrap_err()
            .contains("at most"));
    }

    #[test]
    fn hidden_headers_after_the_version_become_headers() {
        let args = vec![
            "GET".to_string(),
            "/".to_string(),
            "HTTP/1.1\r\nHost: www\r\nX-Probe:a:b \r\n".to_string(),
        ];
        let (p, notes) = parse_option_args(&args).unwrap();
        assert_eq!(p.version.as_deref(), Some("HTTP/1.1"));
        assert_eq!(
            p.headers,
            vec![header("Host", "www"), header("X-Probe", "a:b")]
        );
        assert!(notes[0].contains("deprecated"), "{notes:?}");
        let with_body = vec![
            "GET".into(),
            "/".into(),
            "HTTP/1.1\r\nHost: x\r\n\r\nbody".to_string(),
        ];
        assert!(parse_option_args(&with_body).unwrap_err().contains("body"));
        let no_colon = vec!["GET".into(), "/".into(), "HTTP/1.1\r\nHost".to_string()];
        assert!(parse_option_args(&no_colon).unwrap_err().contains("no ':'"));
        let bad_version = vec!["GET".into(), "/".into(), "HTTP/2\r\nHost: x".to_string()];
        assert!(parse_option_args(&bad_version)
            .unwrap_err()
            .contains("version"));
    }

    #[test]
    fn request_values_are_validated() {
        for (args, word) in [
            ("G(ET / HTTP/1.0", "method"),
            ("GET health HTTP/1.0", "uri"),
            ("GET http://x/ HTTP/1.0", "uri"),
            ("GET / HTTP/2.0", "version"),
            ("GET / http/1.1", "version"),
            ("GET / HTTP/1.1 %[req.hdr(host)]", "log-format"),
        ] {
            let e = parse_option_args(&words(args)).unwrap_err();
            assert!(e.contains(word), "{args}: {e}");
        }
        let crlf_uri = vec!["GET".into(), "/a\r\nX: y".to_string()];
        assert!(parse_option_args(&crlf_uri).unwrap_err().contains("uri"));
        let spaced_uri = vec!["GET".into(), "/a b".to_string()];
        assert!(parse_option_args(&spaced_uri).unwrap_err().contains("uri"));
    }

    #[test]
    fn send_arguments() {
        let (p, notes) = parse_send_args(&words(
            "meth GET uri /health?full=1 ver HTTP/1.1 hdr Host www hdr X-A 1",
        ))
        .unwrap();
        assert_eq!(p.method.as_deref(), Some("GET"));
        assert_eq!(p.uri.as_deref(), Some("/health?full=1"));
        assert_eq!(p.version.as_deref(), Some("HTTP/1.1"));
        assert_eq!(p.headers, vec![header("Host", "www"), header("X-A", "1")]);
        assert!(notes.is_empty());
        let (p, notes) = parse_send_args(&words("hdr Content-Length 5")).unwrap();
        assert!(p.headers.is_empty());
        assert!(notes[0].contains("'Content-Length' is ignored"));
        assert_eq!(parse_send_args(&[]).unwrap().0, RequestParts::default());
    }

    #[test]
    fn bad_send_arguments() {
        for (args, needle) in [
            ("meth", "'meth' expects a value"),
            ("uri", "'uri' expects a value"),
            ("ver", "'ver' expects a value"),
            ("hdr Host", "'hdr' expects <name> and <value>"),
            ("meth G/ET", "method"),
            ("uri health", "uri"),
            ("ver HTTP/3", "version"),
            ("hdr Bad:Name x", "header name"),
            ("hdr Host a hdr host b", "already defined"),
            ("hdr X-Id %[uuid]", "log-format"),
            ("body x", "'body' is not supported"),
            ("uri-lf /%[var(x)]", "'uri-lf' is not supported"),
            ("method GET", "unexpected argument 'method'"),
        ] {
            let e = parse_send_args(&words(args)).unwrap_err();
            assert!(e.contains(needle), "{args}: {e}");
        }
        let crlf = vec!["hdr".into(), "X".into(), "a\r\nY: b".to_string()];
        assert!(parse_send_args(&crlf).unwrap_err().contains("CR, LF"));
        let empty = vec!["hdr".into(), "X".into(), String::new()];
        assert!(parse_send_args(&empty).unwrap_err().contains("non-empty"));
    }
}
