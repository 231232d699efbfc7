//! Command-line flags (clap derive) and the parsers for their values.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Text appended to `--help`: exit codes and the measurement model.
const AFTER_HELP: &str = "\
Exit codes:
  0  the run completed and at least one response was received (responses with
     any status count; errors are counted in the report, not in the exit code)
  1  the run completed but not a single response was received (every attempt
     failed: connect, timeout, read, write, parse or reset errors), or a fatal
     runtime error (no runtime could be built, the --json file cannot be written)
  2  usage error: a bad flag, duration, header, method or URL, an unresolvable
     host, or an unreadable --body file

Closed loop (default): each connection sends its next request as soon as the
previous response is complete; latency runs from the start of the request
(including a reconnect, if one was needed) to the end of the response.
Open loop (-R RATE): requests are scheduled at a constant total rate and latency
runs from each request's intended send time (coordinated omission corrected as
wrk2 does); a connection that falls behind sends immediately.";

/// Parsed command-line flags.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "loadgen",
    version,
    about = "ringlb's coordinated-omission-correct HTTP/1.1 load generator",
    after_help = AFTER_HELP
)]
pub struct Args {
    /// Target URLs (http://host[:port][/path]); several are used round-robin.
    #[arg(required = true, value_name = "URL", value_parser = parse_url)]
    pub urls: Vec<Url>,

    /// Number of threads (one io_uring runtime per thread, each pinned to a core).
    #[arg(short = 't', long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub threads: u32,

    /// Keep-alive connections in total, spread over the threads.
    #[arg(short = 'c', long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub connections: u32,

    /// Test duration (500ms, 10s, 2m, 1h; a bare number is seconds). Default 10s unless -n is given.
    #[arg(short = 'd', long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Total number of requests over all connections; stop when reached.
    #[arg(short = 'n', long = "requests", value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,

    /// Open loop: total request rate in requests/s over all connections.
    #[arg(short = 'R', long = "rate", value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// Extra request header "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER", value_parser = parse_header)]
    pub headers: Vec<Header>,

    /// Request method.
    #[arg(short = 'm', long, default_value = "GET", value_parser = parse_method)]
    pub method: String,

    /// File whose content is sent as the request body (with Content-Length).
    #[arg(long, value_name = "FILE")]
    pub body: Option<PathBuf>,

    /// Open a new connection for every request (sends Connection: close).
    #[arg(long)]
    pub no_keepalive: bool,

    /// Per-request timeout; an expired request is a timeout error and its connection is reopened.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Write the full report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Do not pin worker threads to cores.
    #[arg(long)]
    pub no_pin: bool,
}

/// A parsed `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// The URL as given on the command line.
    pub raw: String,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// TCP port (80 unless given).
    pub port: u16,
    /// Value of the Host header (host, plus :port when the port was given).
    pub authority: String,
    /// Request target: path plus query, `/` when empty.
    pub path: String,
}

/// One extra request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header name.
    pub name: String,
    /// Header value (surrounding whitespace trimmed).
    pub value: String,
}

/// Parses a wrk-style duration: `500ms`, `10s`, `2m`, `1h`, `1.5s`, `250us`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (examples: 500ms, 10s, 2m, 1h)"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" => 1e-6,
        "m" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "invalid duration unit {other:?} in {s:?} (use ms, s, m or h)"
            ))
        }
    };
    let secs = value * scale;
    if !secs.is_finite() || secs <= 0.0 || secs > 1e9 {
        return Err(format!("duration {s:?} must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a positive request rate (requests per second).
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("invalid rate {s:?}"))?;
    if !r.is_finite() || r <= 0.0 {
        return Err(format!("rate {s:?} must be a positive number"));
    }
    Ok(r)
}

/// Parses `Name: value` into a header, rejecting bad names and CR/LF.
pub fn parse_header(s: &str) -> Result<Header, String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| format!("header {s:?} must look like \"Name: value\""))?;
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(format!("invalid header name in {s:?}"));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!("header value in {s:?} contains CR, LF or NUL"));
    }
    Ok(Header {
        name: name.to_string(),
        value: value.trim().to_string(),
    })
}

/// Validates a request method (an HTTP token).
pub fn parse_method(s: &str) -> Result<String, String> {
    if s.is_empty() || !s.bytes().all(is_tchar) {
        return Err(format!("invalid method {s:?}"));
    }
    Ok(s.to_string())
}

/// Parses `http://host[:port][/path][?query]`.
pub fn parse_url(s: &str) -> Result<Url, String> {
    let rest = match s.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "unsupported scheme {scheme:?} in {s:?}: only http:// URLs are supported"
            ))
        }
        None => return Err(format!("URL {s:?} must start with http://")),
    };
    let rest = rest.split('#').next().unwrap_or("");
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(format!("URL {s:?}: user info is not supported"));
    }
    let (host, port_str) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("URL {s:?}: unterminated IPv6 address"))?;
        match after {
            "" => (h, None),
            p => match p.strip_prefix(':') {
                Some(port) => (h, Some(port)),
                None => return Err(format!("URL {s:?}: bad authority {authority:?}")),
            },
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty()
        || host
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(format!("URL {s:?} has no valid host"));
    }
    let port = match port_str {
        None => 80,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("URL {s:?} has an invalid port {p:?}")),
        },
    };
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "URL {s:?}: the path contains spaces or control characters"
        ));
    }
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else if path.is_empty() {
        "/".to_string()
    } else {
        path.to_string()
    };
    Ok(Url {
        raw: s.to_string(),
        host: host.to_string(),
        port,
        authority: authority.to_string(),
        path,
    })
}

/// True for bytes allowed in an HTTP token (RFC 9110 tchar).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn urls() {
        let u = parse_url("http://127.0.0.1:8080/a/b?x=1").unwrap();
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.port, 8080);
        assert_eq!(u.authority, "127.0.0.1:8080");
        assert_eq!(u.path, "/a/b?x=1");
        let u = parse_url("http://localhost").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/"));
        let u = parse_url("http://[::1]:81/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 81));
        assert!(parse_url("https://x/").is_err());
        assert!(parse_url("127.0.0.1:80").is_err());
        assert!(parse_url("http://:80/").is_err());
        assert!(parse_url("http://h:99999/").is_err());
        assert!(parse_url("http://h:0/").is_err());
        assert!(parse_url("http://h/a b").is_err());
    }

    #[test]
    fn headers_and_methods() {
        let h = parse_header("X-Test:  a b ").unwrap();
        assert_eq!((h.name.as_str(), h.value.as_str()), ("X-Test", "a b"));
        assert!(parse_header("NoColon").is_err());
        assert!(parse_header("Bad Name: x").is_err());
        assert!(parse_header(": x").is_err());
        assert!(parse_method("POST").is_ok());
        assert!(parse_method("GE T").is_err());
        assert!(parse_method("").is_err());
    }
}
