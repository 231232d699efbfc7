//! One health check: a TCP connect, optionally followed by an HTTP request whose answer is
//! judged by `http-check expect`. Runs on the control thread's runtime and never blocks it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use crate::config::{ExpectRule, HttpCheck};

use super::status::{CheckResult, CheckStatus};

/// The most of an answer a check reads, as HAProxy's `tune.chksize` default.
pub const MAX_ANSWER: usize = 16 * 1024;

/// How to judge an HTTP check's answer, compiled once.
#[derive(Debug, Clone)]
pub enum Expect {
    /// No `http-check expect`: 2xx and 3xx pass.
    Default,
    /// `status` codes or ranges.
    Status(Vec<(u16, u16)>),
    /// `rstatus`: the status code as text matches.
    RStatus(regex::Regex),
    /// `string`: the body contains the text.
    Body(Vec<u8>),
}

/// Everything one server's probe needs, built from the configuration.
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    /// Where to connect.
    pub target: SocketAddr,
    /// The request to send (an HTTP check), or none (a TCP connect check).
    pub request: Option<Vec<u8>>,
    /// How to judge the answer.
    pub expect: Expect,
    /// `!`: the judgement is reversed.
    pub negate: bool,
    /// Bound on the connect.
    pub connect_timeout: Duration,
    /// Bound on the whole check when `timeout check` is unset (then `inter`), else on the
    /// answer once connected.
    pub answer_timeout: Duration,
    /// Whether `answer_timeout` runs from the connect (`timeout check` set) or the start.
    pub answer_after_connect: bool,
    /// `option tcp-check`, `redis-check` or `smtpchk`: the steps to run instead of the connect or HTTP check.
    pub tcp_steps: Option<super::tcpprobe::Ruleset>,
    /// Whether each check connection starts with a PROXY header (`send-proxy` servers
    /// checked on their own address, or `check-send-proxy`), and whether version 2.
    pub proxy_header: Option<bool>,
}

impl ProbeSpec {
    /// The spec for a server at `target` with `inter`, `timeout connect` and `timeout check`.
    pub fn new(
        target: SocketAddr,
        http: Option<&HttpCheck>,
        inter: Duration,
        timeout_connect: Option<Duration>,
        timeout_check: Option<Duration>,
    ) -> Self {
        // HAProxy: with `timeout check`, connect within min(timeout connect, inter) and
        // answer within `timeout check`; without it, `inter` bounds the whole check.
        let (connect_timeout, answer_timeout, answer_after_connect) = match timeout_check {
            Some(check) => (timeout_connect.map_or(inter, |c| c.min(inter)), check, true),
            None => (inter, inter, false),
        };
        let (request, expect, negate) = match http {
            Some(check) => {
                let (expect, negate) = match &check.expect {
                    None => (Expect::Default, false),
                    Some(e) => (compile(&e.rule), e.negate),
                };
                (Some(request_bytes(check)), expect, negate)
            }
            None => (None, Expect::Default, false),
        };
        Self {
            target,
            request,
            expect,
            negate,
            connect_timeout,
            answer_timeout,
            answer_after_connect,
            tcp_steps: None,
            proxy_header: None,
        }
    }

    /// The same spec with checks starting with a PROXY header (`Some(v2)`).
    pub fn with_proxy_header(mut self, header: Option<bool>) -> Self {
        self.proxy_header = header;
        self
    }

    /// The same spec running a proxy's `tcp-check` rules, when `option tcp-check` is on.
    pub fn with_tcp_check(mut self, check: Option<&crate::config::TcpCheck>) -> Self {
        self.tcp_steps = check.map(super::tcpprobe::compile);
        self
    }
}

fn compile(rule: &ExpectRule) -> Expect {
    match rule {
        ExpectRule::Status(ranges) => Expect::Status(ranges.clone()),
        // The configuration checked the pattern already; one that still fails never matches.
        ExpectRule::RStatus(pattern) => match regex::Regex::new(pattern) {
            Ok(re) => Expect::RStatus(re),
            Err(_) => Expect::Status(Vec::new()),
        },
        ExpectRule::String(text) => Expect::Body(text.as_bytes().to_vec()),
    }
}

/// The request line and headers of an HTTP check, as HAProxy sends them.
pub fn request_bytes(check: &HttpCheck) -> Vec<u8> {
    let mut out = format!("{} {} {}\r\n", check.method, check.uri, check.version).into_bytes();
    for (name, value) in &check.headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    if !check.version.eq_ignore_ascii_case("HTTP/1.0")
        && !check
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("connection"))
    {
        // One request per connection: say so, so an HTTP/1.1 server closes after answering.
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Runs one check and returns its verdict; `None` when this process could not even open a
/// socket (out of descriptors or memory), which says nothing about the server.
pub async fn run(spec: &ProbeSpec) -> Option<CheckResult> {
    if let Some(steps) = &spec.tcp_steps {
        return super::tcpprobe::run(spec, steps).await;
    }
    let started = Instant::now();
    let result = |status, code, info| {
        Some(CheckResult {
            status,
            code,
            info,
            duration: started.elapsed(),
        })
    };
    let connect = monoio::time::timeout(spec.connect_timeout, TcpStream::connect(spec.target));
    let mut stream = match connect.await {
        Err(_) => return result(CheckStatus::L4Timeout, None, None),
        Ok(Err(e)) if local_shortage(&e) => {
            log::debug!("health check to {}: {e}", spec.target);
            return None;
        }
        Ok(Err(e)) => return result(CheckStatus::L4Con, None, Some(os_error_text(&e))),
        Ok(Ok(stream)) => stream,
    };
    if let Err(e) = send_proxy_header(&mut stream, spec).await {
        return result(CheckStatus::L4Con, None, Some(os_error_text(&e)));
    }
    let Some(request) = &spec.request else {
        return result(CheckStatus::L4Ok, None, None);
    };
    let answer_deadline = if spec.answer_after_connect {
        Instant::now() + spec.answer_timeout
    } else {
        started + spec.answer_timeout
    };
    let remaining = answer_deadline.saturating_duration_since(Instant::now());
    let answer = monoio::time::timeout(remaining, exchange(&mut stream, request, &spec.expect));
    match answer.await {
        Err(_) => result(CheckStatus::L7Timeout, None, None),
        Ok(None) => result(CheckStatus::L7Rsp, None, None),
        Ok(Some(answer)) => {
            let (status, info) = judge(&answer, &spec.expect, spec.negate);
            result(status, Some(answer.code), info)
        }
    }
}

/// Writes the spec's PROXY header, if any, on a new check connection (within the connect
/// timeout: the header is part of establishing it, as in HAProxy). As HAProxy's: version 2
/// sends `LOCAL`; version 1 names the check connection's own two ends.
pub async fn send_proxy_header(stream: &mut TcpStream, spec: &ProbeSpec) -> std::io::Result<()> {
    let Some(v2) = spec.proxy_header else {
        return Ok(());
    };
    let ends = if v2 {
        None
    } else {
        stream.local_addr().ok().zip(stream.peer_addr().ok())
    };
    let header = crate::state::proxyproto::build(v2, ends);
    match monoio::time::timeout(spec.connect_timeout, stream.write_all(header)).await {
        Ok((result, _)) => result.map(|_| ()),
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// What came back from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub code: u16,
    /// The reason phrase.
    pub reason: String,
    /// The body bytes read (up to the end of the message, the close or `MAX_ANSWER`).
    pub body: Vec<u8>,
}

/// Sends the request and reads the answer: the head, plus the body when `expect` needs it.
/// `None` when the answer is not a valid HTTP response.
async fn exchange(stream: &mut TcpStream, request: &[u8], expect: &Expect) -> Option<Answer> {
    let (written, _) = stream.write_all(request.to_vec()).await;
    written.ok()?;
    let want_body = matches!(expect, Expect::Body(_));
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk: Vec<u8> = Vec::with_capacity(4096);
    let mut head: Option<HeadInfo> = None;
    // How far the search for the end of the head got: a server that trickles its answer
    // costs a scan of the new bytes, never of the whole answer again.
    let mut scanned = 0usize;
    loop {
        let closed = if buf.len() < MAX_ANSWER {
            chunk.clear();
            chunk.reserve(4096.min(MAX_ANSWER - buf.len()));
            let (read, back) = stream.read(std::mem::take(&mut chunk)).await;
            chunk = back;
            let n = read.ok()?;
            buf.extend_from_slice(&chunk[..n]);
            n == 0
        } else {
            true
        };
        if head.is_none() {
            let from = scanned.saturating_sub(3);
            let ended = memchr::memmem::find(&buf[from..], b"\r\n\r\n").is_some()
                || memchr::memmem::find(&buf[from..], b"\n\n").is_some();
            scanned = buf.len();
            if ended || closed || buf.len() >= MAX_ANSWER {
                head = Some(parse_head(&buf).ok()??);
            }
        }
        if let Some(info) = &head {
            if let Some(answer) = finished(&buf, info, want_body, closed) {
                return Some(answer);
            }
        }
        if closed {
            return None;
        }
    }
}

/// A response head as a check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HeadInfo {
    code: u16,
    reason: String,
    /// Its length in bytes.
    len: usize,
    /// Its Content-Length.
    length: Option<usize>,
}

/// The head at the start of `buf`: `Ok(None)` while incomplete, `Err` when invalid.
fn parse_head(buf: &[u8]) -> Result<Option<HeadInfo>, ()> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let code = response
        .code
        .filter(|c| (100..=599).contains(c))
        .ok_or(())?;
    let length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        });
    Ok(Some(HeadInfo {
        code,
        reason: printable(response.reason.unwrap_or_default()),
        len,
        length,
    }))
}

/// The answer, once as much of it as the check needs has come: the head, or with `want_body`
/// the body up to its Content-Length, the close, or `MAX_ANSWER`.
fn finished(buf: &[u8], head: &HeadInfo, want_body: bool, closed: bool) -> Option<Answer> {
    let body = &buf[head.len.min(buf.len())..];
    let complete = !want_body
        || closed
        || buf.len() >= MAX_ANSWER
        || head.length.is_some_and(|len| body.len() >= len);
    complete.then(|| Answer {
        code: head.code,
        reason: head.reason.clone(),
        body: body.to_vec(),
    })
}

/// The longest reason phrase kept (it is logged with every transition).
const MAX_REASON: usize = 64;

/// A server's reason phrase as it may be logged: printable ASCII, no quotes, bounded.
fn printable(reason: &str) -> String {
    reason
        .chars()
        .take(MAX_REASON)
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// Where reading an answer stands (for tests: the whole answer so far at once).
#[cfg(test)]
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Done(Answer),
    Partial,
    Invalid,
}

#[cfg(test)]
fn parse_answer(buf: &[u8], want_body: bool, closed: bool) -> Parsed {
    match parse_head(buf) {
        Err(()) => Parsed::Invalid,
        Ok(None) => Parsed::Partial,
        Ok(Some(head)) => match finished(buf, &head, want_body, closed) {
            Some(answer) => Parsed::Done(answer),
            None => Parsed::Partial,
        },
    }
}

/// The verdict on an answer, and the info HAProxy reports with it.
fn judge(answer: &Answer, expect: &Expect, negate: bool) -> (CheckStatus, Option<String>) {
    let matched = match expect {
        Expect::Default => (200..400).contains(&answer.code),
        Expect::Status(ranges) => ranges
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&answer.code)),
        Expect::RStatus(re) => re.is_match(&answer.code.to_string()),
        Expect::Body(text) => memchr::memmem::find(&answer.body, text).is_some(),
    };
    let reason = (!answer.reason.is_empty()).then(|| answer.reason.clone());
    match (matched != negate, expect) {
        (true, _) => (CheckStatus::L7Ok, None),
        (false, Expect::Body(_)) => (CheckStatus::L7Rsp, None),
        (false, _) => (CheckStatus::L7Sts, reason),
    }
}

/// An error that comes from this process's own limits, not from the server.
pub(super) fn local_shortage(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// The system's text for a socket error ("Connection refused"), without the "(os error N)".
pub(super) fn os_error_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: u16, body: &str) -> Answer {
        Answer {
            code,
            reason: "Reason".into(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn answers_are_judged_as_haproxy_does() {
        assert_eq!(
            judge(&answer(302, ""), &Expect::Default, false).0,
            CheckStatus::L7Ok
        );
        assert_eq!(
            judge(&answer(503, ""), &Expect::Default, false),
            (CheckStatus::L7Sts, Some("Reason".into()))
        );
        let status = Expect::Status(vec![(200, 200)]);
        assert_eq!(
            judge(&answer(302, ""), &status, false).0,
            CheckStatus::L7Sts
        );
        assert_eq!(judge(&answer(302, ""), &status, true).0, CheckStatus::L7Ok);
        let re = Expect::RStatus(regex::Regex::new("^2").unwrap());
        assert_eq!(judge(&answer(204, ""), &re, false).0, CheckStatus::L7Ok);
        let body = Expect::Body(b"alive".to_vec());
        assert_eq!(
            judge(&answer(200, "I am alive"), &body, false).0,
            CheckStatus::L7Ok
        );
        assert_eq!(
            judge(&answer(200, "dead"), &body, false).0,
            CheckStatus::L7Rsp
        );
    }

    #[test]
    fn answers_are_read_as_far_as_needed() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab";
        assert!(matches!(parse_answer(head, false, false), Parsed::Done(_)));
        assert_eq!(parse_answer(head, true, false), Parsed::Partial);
        assert!(matches!(parse_answer(head, true, true), Parsed::Done(_)));
        assert_eq!(parse_answer(b"HTTP/1.1 200", false, false), Parsed::Partial);
        assert_eq!(
            parse_answer(b"hello\r\n\r\n", false, false),
            Parsed::Invalid
        );
        assert_eq!(
            parse_answer(b"HTTP/1.1 999 X\r\n\r\n", false, false),
            Parsed::Invalid
        );
    }

    #[test]
    fn reason_phrases_are_bounded_and_printable() {
        assert_eq!(printable("Service Unavailable"), "Service Unavailable");
        assert_eq!(printable("a\"b\x1b[31m"), "a?b?[31m");
        assert_eq!(printable(&"x".repeat(1000)).len(), MAX_REASON);
    }

    #[test]
    fn requests_are_built_from_the_check() {
        let check = HttpCheck {
            method: "GET".into(),
            uri: "/health".into(),
            version: "HTTP/1.1".into(),
            headers: vec![("Host".into(), "www".into())],
            expect: None,
        };
        assert_eq!(
            request_bytes(&check),
            b"GET /health HTTP/1.1\r\nHost: www\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn timeouts_follow_haproxys_rule() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let inter = Duration::from_secs(2);
        let s = ProbeSpec::new(addr, None, inter, Some(Duration::from_secs(5)), None);
        assert_eq!((s.connect_timeout, s.answer_timeout), (inter, inter));
        assert!(!s.answer_after_connect);
        let s = ProbeSpec::new(
            addr,
            None,
            inter,
            Some(Duration::from_secs(1)),
            Some(Duration::from_secs(3)),
        );
        assert_eq!(s.connect_timeout, Duration::from_secs(1));
        assert_eq!(s.answer_timeout, Duration::from_secs(3));
        assert!(s.answer_after_connect);
    }
}
