//! A `tcp-check` probe: the rules run in order over one connection at a time, with the
//! results and messages of HAProxy 2.6's `tcpcheck_main` and `chk_report_conn_err`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use crate::config::{TcpCheck, TcpCheckAction, TcpExpectKind};

use super::probe::{local_shortage, os_error_text, ProbeSpec, MAX_ANSWER};
use super::status::{CheckResult, CheckStatus};

/// How an expect step matches, compiled once.
#[derive(Debug, Clone)]
enum Matcher {
    /// `string` or `binary`: the bytes appear in the answer.
    Bytes(Vec<u8>),
    /// `rstring`: the answer matches.
    Regex(regex::bytes::Regex),
    /// `rbinary`: the answer as upper-case hex digits matches.
    HexRegex(regex::bytes::Regex),
}

/// One step of a compiled `tcp-check` ruleset.
#[derive(Debug, Clone)]
enum Action {
    /// A new connection; `implicit` when HAProxy adds it in front of rules without one.
    Connect {
        port: Option<u16>,
        implicit: bool,
    },
    Send(Vec<u8>),
    Expect {
        negate: bool,
        kind: TcpExpectKind,
        /// The expected bytes as HAProxy's messages show them.
        shown: String,
        matcher: Matcher,
    },
}

/// A step with HAProxy's number and the rule's comment.
#[derive(Debug, Clone)]
pub struct Step {
    step: usize,
    comment: Option<String>,
    action: Action,
}

/// Compiles a ruleset, with the implicit first connect HAProxy adds when the rules do not
/// start with one. Patterns were checked when the configuration was read; one that still
/// fails to compile never matches.
pub fn compile(check: &TcpCheck) -> Vec<Step> {
    let mut steps = Vec::with_capacity(check.rules.len() + 1);
    if !matches!(
        check.rules.first().map(|r| &r.action),
        Some(TcpCheckAction::Connect { .. })
    ) {
        steps.push(Step {
            step: 0,
            comment: None,
            action: Action::Connect {
                port: None,
                implicit: true,
            },
        });
    }
    for rule in &check.rules {
        let action = match &rule.action {
            TcpCheckAction::Connect { port } => Action::Connect {
                port: *port,
                implicit: false,
            },
            TcpCheckAction::Send(data) => Action::Send(data.clone()),
            TcpCheckAction::Expect(e) => {
                let matcher = match e.kind {
                    TcpExpectKind::String => Matcher::Bytes(e.pattern.as_bytes().to_vec()),
                    TcpExpectKind::Binary => match crate::config::tcpcheck::parse_hex(&e.pattern) {
                        Ok(bytes) => Matcher::Bytes(bytes),
                        Err(_) => continue,
                    },
                    TcpExpectKind::RString => match regex::bytes::Regex::new(&e.pattern) {
                        Ok(re) => Matcher::Regex(re),
                        Err(_) => continue,
                    },
                    TcpExpectKind::RBinary => match regex::bytes::Regex::new(&e.pattern) {
                        Ok(re) => Matcher::HexRegex(re),
                        Err(_) => continue,
                    },
                };
                let shown = match &matcher {
                    Matcher::Bytes(bytes) => shown(bytes),
                    Matcher::Regex(_) | Matcher::HexRegex(_) => String::new(),
                };
                Action::Expect {
                    negate: e.negate,
                    kind: e.kind,
                    shown,
                    matcher,
                }
            }
        };
        steps.push(Step {
            step: rule.step,
            comment: rule.comment.as_deref().map(|c| ascii_encode(c.as_bytes())),
            action,
        });
    }
    steps
}

/// Expected bytes as HAProxy prints them: with `%.*s`, so up to the first NUL, then escaped
/// for the log line.
fn shown(bytes: &[u8]) -> String {
    let end = memchr::memchr(0, bytes).unwrap_or(bytes.len());
    ascii_encode(bytes.get(..end).unwrap_or(bytes))
}

/// HAProxy's `chunk_asciiencode` with `"` as the quote: what the log line would otherwise
/// break on (controls, non-ASCII, `<`, `>`, `"`) becomes `<XX>`.
fn ascii_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"') || b == b' ' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("<{b:02X}>"));
        }
    }
    out
}

/// What the checker was doing when a connection error or a timeout ended it, in HAProxy's
/// words (`chk_report_conn_err`): " at step 2 of tcp-check (expect string '+PONG')".
fn where_it_failed(step: &Step) -> String {
    if let Action::Connect { implicit: true, .. } = step.action {
        return " at initial connection step of tcp-check".into();
    }
    let mut out = format!(" at step {} of tcp-check", step.step);
    match &step.action {
        Action::Connect { port: Some(p), .. } => out.push_str(&format!(" (connect port {p})")),
        Action::Connect { port: None, .. } => out.push_str(" (connect)"),
        Action::Send(_) => out.push_str(" (send)"),
        Action::Expect { kind, shown, .. } => out.push_str(&match kind {
            TcpExpectKind::String => format!(" (expect string '{shown}')"),
            TcpExpectKind::Binary => format!(" (expect binary '{shown}')"),
            TcpExpectKind::RString => " (expect regex)".into(),
            TcpExpectKind::RBinary => " (expect binary regex)".into(),
        }),
    }
    if let Some(c) = &step.comment {
        out.push_str(&format!(" comment: '{c}'"));
    }
    out
}

/// The message of a failed expect (`tcpcheck_expect_onerror_message`).
fn mismatch(step: &Step, matched: bool) -> String {
    let mut out = String::from(if matched {
        "TCPCHK matched unwanted content"
    } else {
        "TCPCHK did not match content"
    });
    if let Action::Expect { kind, shown, .. } = &step.action {
        out.push_str(&match kind {
            TcpExpectKind::String => format!(" '{shown}' at step {}", step.step),
            TcpExpectKind::Binary => format!(" (binary) at step {}", step.step),
            TcpExpectKind::RString => format!(" (regex) at step {}", step.step),
            TcpExpectKind::RBinary => format!(" (binary regex) at step {}", step.step),
        });
    }
    if let Some(c) = &step.comment {
        out.push_str(&format!(" comment: {c}"));
    }
    out
}

/// Whether the answer so far matches; `None` while a `string` or `binary` needs more bytes
/// than have come.
fn matches(matcher: &Matcher, answer: &[u8], last_read: bool) -> Option<bool> {
    match matcher {
        Matcher::Bytes(needle) => {
            if !last_read && answer.len() < needle.len() {
                return None;
            }
            Some(memchr::memmem::find(answer, needle).is_some())
        }
        Matcher::Regex(re) => Some(re.is_match(answer)),
        Matcher::HexRegex(re) => {
            let hex: String = answer.iter().map(|b| format!("{b:02X}")).collect();
            Some(re.is_match(hex.as_bytes()))
        }
    }
}

/// How a step ended when it did not let the next one run.
enum Stop {
    Done(CheckStatus, Option<String>),
    /// This process could not open a socket: no verdict on the server.
    Local,
}

/// Runs the steps against `spec.target` (its port replaced by a `connect port`).
pub async fn run(spec: &ProbeSpec, steps: &[Step]) -> Option<CheckResult> {
    let started = Instant::now();
    // Every wait below is bounded: connects by `connect_timeout`, the rest by the deadline
    // the first connect sets.
    let (status, code, info) = match run_steps(spec, steps, started).await {
        Ok(()) => success(steps),
        Err(Stop::Local) => return None,
        Err(Stop::Done(status, info)) => (status, None, info),
    };
    Some(CheckResult {
        status,
        code,
        info,
        duration: started.elapsed(),
    })
}

/// The result of a ruleset that ran to its end: it depends on the last rule.
fn success(steps: &[Step]) -> (CheckStatus, Option<u16>, Option<String>) {
    match steps.last().map(|s| &s.action) {
        Some(Action::Connect { implicit: true, .. }) | None => (CheckStatus::L4Ok, None, None),
        Some(Action::Connect { .. }) => (CheckStatus::L4Ok, None, Some("(tcp-check)".into())),
        Some(_) => (CheckStatus::L7Ok, Some(0), Some("(tcp-check)".into())),
    }
}

async fn run_steps(spec: &ProbeSpec, steps: &[Step], started: Instant) -> Result<(), Stop> {
    let mut deadline: Option<Instant> = None;
    let mut stream: Option<TcpStream> = None;
    let mut answer: Vec<u8> = Vec::new();
    let mut must_read = true;
    let mut closed = false;
    for step in steps {
        match &step.action {
            Action::Connect { port, .. } => {
                // HAProxy closes the previous connection before opening the next.
                drop(stream.take());
                answer.clear();
                closed = false;
                must_read = true;
                let mut target: SocketAddr = spec.target;
                if let Some(p) = port {
                    target.set_port(*p);
                }
                let mut limit = spec.connect_timeout;
                if let Some(d) = &deadline {
                    limit = limit.min(d.saturating_duration_since(Instant::now()));
                }
                let connect = monoio::time::timeout(limit, TcpStream::connect(target));
                stream = Some(match connect.await {
                    Err(_) => {
                        return Err(Stop::Done(
                            CheckStatus::L4Timeout,
                            Some(where_it_failed(step)),
                        ))
                    }
                    Ok(Err(e)) if local_shortage(&e) => {
                        log::debug!("health check to {target}: {e}");
                        return Err(Stop::Local);
                    }
                    Ok(Err(e)) => {
                        return Err(Stop::Done(
                            CheckStatus::L4Con,
                            Some(format!("{}{}", os_error_text(&e), where_it_failed(step))),
                        ))
                    }
                    Ok(Ok(s)) => s,
                });
                if deadline.is_none() {
                    deadline = Some(if spec.answer_after_connect {
                        Instant::now() + spec.answer_timeout
                    } else {
                        started + spec.answer_timeout
                    });
                }
            }
            Action::Send(data) => {
                let Some(s) = stream.as_mut() else {
                    continue;
                };
                // As HAProxy, each send starts a new answer.
                answer.clear();
                must_read = true;
                let remaining = remaining(&deadline);
                match monoio::time::timeout(remaining, s.write_all(data.clone())).await {
                    Err(_) => return Err(timed_out(step)),
                    Ok((Err(e), _)) => {
                        return Err(Stop::Done(
                            CheckStatus::SockErr,
                            Some(format!("{}{}", os_error_text(&e), where_it_failed(step))),
                        ))
                    }
                    Ok((Ok(_), _)) => {}
                }
            }
            Action::Expect {
                negate, matcher, ..
            } => {
                let Some(s) = stream.as_mut() else {
                    continue;
                };
                loop {
                    if must_read && !closed {
                        must_read = false;
                        let remaining = remaining(&deadline);
                        let room = MAX_ANSWER.saturating_sub(answer.len()).min(4096);
                        let read =
                            monoio::time::timeout(remaining, s.read(Vec::with_capacity(room)))
                                .await;
                        match read {
                            Err(_) => return Err(timed_out(step)),
                            Ok((Ok(0), _)) => closed = true,
                            Ok((Ok(n), chunk)) => {
                                answer.extend_from_slice(chunk.get(..n).unwrap_or(&chunk))
                            }
                            Ok((Err(e), _)) => {
                                closed = true;
                                // A reset right after the last bytes is common: judge those.
                                if answer.is_empty() {
                                    return Err(Stop::Done(
                                        CheckStatus::SockErr,
                                        Some(format!(
                                            "{}{}",
                                            os_error_text(&e),
                                            where_it_failed(step)
                                        )),
                                    ));
                                }
                            }
                        }
                        if closed && answer.is_empty() {
                            let mut info =
                                format!("TCPCHK got an empty response at step {}", step.step);
                            if let Some(c) = &step.comment {
                                info.push_str(&format!(" comment: '{c}'"));
                            }
                            return Err(Stop::Done(CheckStatus::L7Rsp, Some(info)));
                        }
                    }
                    let last_read = closed || answer.len() >= MAX_ANSWER;
                    // As HAProxy: no match yet means wait for more, even for a `!` rule;
                    // once all has come (or the buffer is full) the verdict is final.
                    match matches(matcher, &answer, last_read) {
                        None | Some(false) if !last_read => must_read = true,
                        Some(found) if found != *negate => break,
                        found => {
                            return Err(Stop::Done(
                                CheckStatus::L7Rsp,
                                Some(mismatch(step, found.unwrap_or(false))),
                            ))
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn remaining(deadline: &Option<Instant>) -> Duration {
    deadline.map_or(Duration::ZERO, |d| {
        d.saturating_duration_since(Instant::now())
    })
}

fn timed_out(step: &Step) -> Stop {
    Stop::Done(CheckStatus::L7Timeout, Some(where_it_failed(step)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{TcpCheckRule, TcpExpect};
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A server that answers each connection with `serve`, on a thread.
    fn server(serve: fn(std::net::TcpStream)) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                std::thread::spawn(move || serve(conn));
            }
        });
        addr
    }

    /// Reads one line (up to LF) or until the client closes.
    fn read_line(conn: &mut std::net::TcpStream) -> Vec<u8> {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while let Ok(1) = conn.read(&mut byte) {
            line.push(byte[0]);
            if byte[0] == b'\n' {
                break;
            }
        }
        line
    }

    fn redis_rules(expect: TcpExpect) -> TcpCheck {
        TcpCheck {
            rules: vec![
                TcpCheckRule {
                    step: 1,
                    comment: None,
                    action: TcpCheckAction::Send(b"PING\r\n".to_vec()),
                },
                TcpCheckRule {
                    step: 2,
                    comment: Some("pong".into()),
                    action: TcpCheckAction::Expect(expect),
                },
            ],
        }
    }

    fn expect(negate: bool, kind: TcpExpectKind, pattern: &str) -> TcpExpect {
        TcpExpect {
            negate,
            kind,
            pattern: pattern.into(),
        }
    }

    fn check(addr: SocketAddr, rules: &TcpCheck) -> CheckResult {
        let spec = ProbeSpec::new(
            addr,
            None,
            Duration::from_millis(500),
            Some(Duration::from_millis(500)),
            Some(Duration::from_millis(300)),
        )
        .with_tcp_check(Some(rules));
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        rt.block_on(super::super::probe::run(&spec)).unwrap()
    }

    fn pong(mut c: std::net::TcpStream) {
        if read_line(&mut c) == b"PING\r\n" {
            // In two pieces: the expect must wait for the rest.
            let _ = c.write_all(b"+PO");
            std::thread::sleep(Duration::from_millis(20));
            let _ = c.write_all(b"NG\r\n");
        }
        std::thread::sleep(Duration::from_millis(400));
    }

    fn wrong(mut c: std::net::TcpStream) {
        read_line(&mut c);
        let _ = c.write_all(b"-ERR no\r\n");
    }

    fn silent(mut c: std::net::TcpStream) {
        read_line(&mut c);
        std::thread::sleep(Duration::from_millis(600));
    }

    fn closing(mut c: std::net::TcpStream) {
        read_line(&mut c);
    }

    #[test]
    fn a_right_answer_passes_with_haproxys_result() {
        let r = check(
            server(pong),
            &redis_rules(expect(false, TcpExpectKind::String, "+PONG")),
        );
        assert_eq!(r.status, CheckStatus::L7Ok);
        assert_eq!((r.code, r.info.as_deref()), (Some(0), Some("(tcp-check)")));
        let hex = check(
            server(pong),
            &redis_rules(expect(false, TcpExpectKind::Binary, "2b504f4e47")),
        );
        assert_eq!(hex.status, CheckStatus::L7Ok);
        let re = check(
            server(pong),
            &redis_rules(expect(false, TcpExpectKind::RBinary, "^2B50")),
        );
        assert_eq!(re.status, CheckStatus::L7Ok);
    }

    #[test]
    fn wrong_answers_fail_with_haproxys_messages() {
        let r = check(
            server(wrong),
            &redis_rules(expect(false, TcpExpectKind::String, "+PONG")),
        );
        assert_eq!(r.status, CheckStatus::L7Rsp);
        assert_eq!(
            r.info.as_deref(),
            Some("TCPCHK did not match content '+PONG' at step 2 comment: pong")
        );
        let r = check(
            server(wrong),
            &redis_rules(expect(true, TcpExpectKind::RString, "^-ERR")),
        );
        assert_eq!(
            r.info.as_deref(),
            Some("TCPCHK matched unwanted content (regex) at step 2 comment: pong")
        );
        let r = check(
            server(wrong),
            &redis_rules(expect(true, TcpExpectKind::String, "+PONG")),
        );
        assert_eq!(
            r.status,
            CheckStatus::L7Ok,
            "closed without the unwanted text"
        );
    }

    #[test]
    fn silence_closes_and_refusals_are_reported_at_their_step() {
        let rules = redis_rules(expect(false, TcpExpectKind::String, "+PONG"));
        let r = check(server(silent), &rules);
        assert_eq!(r.status, CheckStatus::L7Timeout);
        assert_eq!(
            r.info.as_deref(),
            Some(" at step 2 of tcp-check (expect string '+PONG') comment: 'pong'")
        );
        let r = check(server(closing), &rules);
        assert_eq!(r.status, CheckStatus::L7Rsp);
        assert_eq!(
            r.info.as_deref(),
            Some("TCPCHK got an empty response at step 2 comment: 'pong'")
        );
        let refused = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let r = check(refused, &rules);
        assert_eq!(r.status, CheckStatus::L4Con);
        assert_eq!(
            r.info.as_deref(),
            Some("Connection refused at initial connection step of tcp-check")
        );
        let mut explicit = rules.clone();
        explicit.rules.insert(
            0,
            TcpCheckRule {
                step: 1,
                comment: None,
                action: TcpCheckAction::Connect {
                    port: Some(refused.port()),
                },
            },
        );
        let r = check(server(pong), &explicit);
        assert_eq!(
            r.info.as_deref(),
            Some(
                format!(
                    "Connection refused at step 1 of tcp-check (connect port {})",
                    refused.port()
                )
                .as_str()
            )
        );
    }

    #[test]
    fn rulesets_ending_in_a_connect_or_empty_pass_at_layer_4() {
        let r = check(server(pong), &TcpCheck::default());
        assert_eq!((r.status, r.info), (CheckStatus::L4Ok, None));
        let connect_only = TcpCheck {
            rules: vec![TcpCheckRule {
                step: 1,
                comment: None,
                action: TcpCheckAction::Connect { port: None },
            }],
        };
        let r = check(server(pong), &connect_only);
        assert_eq!(
            (r.status, r.info.as_deref()),
            (CheckStatus::L4Ok, Some("(tcp-check)"))
        );
    }

    #[test]
    fn patterns_and_comments_are_shown_as_haproxy_logs_them() {
        assert_eq!(shown(b"+PONG"), "+PONG");
        assert_eq!(shown(b"\x00\x00"), "", "printf stops at the NUL");
        assert_eq!(shown(b"a\"<b>\r\n\xff"), "a<22><3C>b<3E><0D><0A><FF>");
    }

    #[test]
    fn answers_are_read_up_to_the_cap() {
        fn flood(mut c: std::net::TcpStream) {
            read_line(&mut c);
            let junk = vec![b'x'; 64 * 1024];
            let _ = c.write_all(&junk);
            std::thread::sleep(Duration::from_millis(400));
        }
        let r = check(
            server(flood),
            &redis_rules(expect(false, TcpExpectKind::String, "+PONG")),
        );
        assert_eq!(r.status, CheckStatus::L7Rsp, "a full buffer is final");
    }
}
