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
        }
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

/// Runs one check and returns its verdict.
pub async fn run(spec: &ProbeSpec) -> CheckResult {
    let started = Instant::now();
    let result = |status, code, info| CheckResult {
        status,
        code,
        info,
        duration: started.elapsed(),
    };
    let connect = monoio::time::timeout(spec.connect_timeout, TcpStream::connect(spec.target));
    let mut stream = match connect.await {
        Err(_) => return result(CheckStatus::L4Timeout, None, None),
        Ok(Err(e)) => return result(CheckStatus::L4Con, None, Some(os_error_text(&e))),
        Ok(Ok(stream)) => stream,
    };
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
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let closed = if buf.len() < MAX_ANSWER {
            let chunk = Vec::with_capacity(4096.min(MAX_ANSWER - buf.len()));
            let (read, chunk) = stream.read(chunk).await;
            let n = read.ok()?;
            buf.extend_from_slice(&chunk[..n]);
            n == 0
        } else {
            true
        };
        match parse_answer(&buf, matches!(expect, Expect::Body(_)), closed) {
            Parsed::Done(answer) => return Some(answer),
            Parsed::Invalid => return None,
            Parsed::Partial if closed => return None,
            Parsed::Partial => {}
        }
    }
}

/// Where reading an answer stands.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Done(Answer),
    Partial,
    Invalid,
}

fn parse_answer(buf: &[u8], want_body: bool, closed: bool) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Invalid,
    };
    let Some(code) = response.code.filter(|c| (100..=599).contains(c)) else {
        return Parsed::Invalid;
    };
    let reason = response.reason.unwrap_or_default().to_string();
    let body = &buf[head_len..];
    if want_body && !closed {
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
        // Without a length, the body ends at the close (or at the size bound).
        if length.is_none_or(|len| body.len() < len) && buf.len() < MAX_ANSWER {
            return Parsed::Partial;
        }
    }
    Parsed::Done(Answer {
        code,
        reason,
        body: body.to_vec(),
    })
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

/// The system's text for a socket error ("Connection refused"), without the "(os error N)".
fn os_error_text(e: &std::io::Error) -> String {
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
