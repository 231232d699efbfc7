//! A `tcp-check` probe: the rules run in order over one connection at a time, with the
//! results and messages of HAProxy 2.6's `tcpcheck_main` and `chk_report_conn_err`; and the
//! protocol checks HAProxy builds from such rules (`option redis-check`, `option smtpchk`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use crate::config::{CheckProtocol, TcpCheck, TcpCheckAction, TcpExpectKind};

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
    /// `option ldap-check`'s own judge of a bind response (`tcpcheck_ldap_expect_bindrsp`).
    LdapBind,
    /// `option mysql-check`'s judge of the handshake (`false`) or of the packet after it
    /// (`true`): `tcpcheck_mysql_expect_iniths` and `_ok`.
    MysqlPacket { after_handshake: bool },
}

/// The info of a protocol check's result, from HAProxy's `on-error`/`on-success` formats.
#[derive(Debug, Clone)]
enum Info {
    /// A fixed text.
    Fixed(&'static str),
    /// `res.payload(skip,0)`, optionally `ltrim(' ')`, then `cut_crlf`: the answer's line.
    Line { skip: usize, trim: bool },
    /// `res.payload(skip,0)` as is.
    Rest { skip: usize },
}

impl Info {
    fn render(&self, answer: &[u8]) -> String {
        match self {
            Self::Fixed(text) => (*text).to_string(),
            Self::Rest { skip } => shown(answer.get(*skip..).unwrap_or(&[])),
            Self::Line { skip, trim } => {
                let mut line = answer.get(*skip..).unwrap_or(&[]);
                if *trim {
                    while let [b' ', rest @ ..] = line {
                        line = rest;
                    }
                }
                let end = memchr::memchr2(b'\r', b'\n', line).unwrap_or(line.len());
                // HAProxy keeps the info as a C string: it also ends at a NUL.
                shown(line.get(..end).unwrap_or(line))
            }
        }
    }
}

/// One `expect` step.
#[derive(Debug, Clone)]
struct Expect {
    negate: bool,
    kind: TcpExpectKind,
    /// The expected bytes as HAProxy's messages show them.
    shown: String,
    matcher: Matcher,
    /// `min-recv`: judge once this many bytes came, without waiting for a match.
    min_recv: Option<usize>,
    /// `error-status`.
    err_status: CheckStatus,
    /// `on-error` and `on-success`.
    on_error: Option<Info>,
    on_success: Option<Info>,
    /// `status-code res.payload(0,3)`: the code is the answer's first three digits.
    status_code: bool,
}

impl Expect {
    fn plain(negate: bool, kind: TcpExpectKind, matcher: Matcher) -> Self {
        let shown = match &matcher {
            Matcher::Bytes(bytes) => shown(bytes),
            Matcher::Regex(_)
            | Matcher::HexRegex(_)
            | Matcher::LdapBind
            | Matcher::MysqlPacket { .. } => String::new(),
        };
        Self {
            negate,
            kind,
            shown,
            matcher,
            min_recv: None,
            err_status: CheckStatus::L7Rsp,
            on_error: None,
            on_success: None,
            status_code: false,
        }
    }

    /// The code HAProxy reports with this step's result.
    fn code(&self, answer: &[u8]) -> u16 {
        if !self.status_code {
            return 0;
        }
        let digits = answer.get(..3).unwrap_or(&[]);
        std::str::from_utf8(digits)
            .ok()
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse().ok())
            .unwrap_or(0)
    }
}

/// One step of a compiled ruleset.
#[derive(Debug, Clone)]
enum Action {
    /// A new connection; `implicit` when HAProxy adds it in front of rules without one.
    Connect { port: Option<u16>, implicit: bool },
    /// `send` or `send-binary`.
    Send(Vec<u8>),
    /// `expect`, or a protocol check's own judge.
    Expect(Box<Expect>),
}

/// A step with HAProxy's number and the rule's comment.
#[derive(Debug, Clone)]
pub struct Step {
    step: usize,
    comment: Option<String>,
    action: Action,
}

/// A compiled ruleset.
#[derive(Debug, Clone)]
pub struct Ruleset {
    steps: Vec<Step>,
    /// Written with `tcp-check` lines: HAProxy's generic messages ("TCPCHK did not match…",
    /// "at step N of tcp-check") apply; protocol checks have their own or none.
    generic: bool,
}

fn step(step: usize, action: Action) -> Step {
    Step {
        step,
        comment: None,
        action,
    }
}

fn regex(pattern: &str) -> Matcher {
    match regex::bytes::Regex::new(pattern) {
        Ok(re) => Matcher::Regex(re),
        // Never happens for the fixed patterns below; a missing byte never matches.
        Err(_) => Matcher::Bytes(vec![0; MAX_ANSWER + 1]),
    }
}

fn hex_regex(pattern: &str) -> Matcher {
    match regex::bytes::Regex::new(pattern) {
        Ok(re) => Matcher::HexRegex(re),
        // Never happens for the fixed patterns below; a missing byte never matches.
        Err(_) => Matcher::Bytes(vec![0; MAX_ANSWER + 1]),
    }
}

/// HAProxy 2.6's `*redis-check`, `*smtp-check`, `*pgsql-check` and `*ldap-check` rulesets
/// (`proxy_parse_*_opt`) as 2.6.12 has them: SMTP with the backported multi-line EHLO reply
/// and closing `QUIT` (HAProxy issue 1812), PostgreSQL with more authentication codes.
fn protocol_steps(protocol: &CheckProtocol) -> Vec<Step> {
    match protocol {
        CheckProtocol::Redis => {
            let mut expect = Expect::plain(
                false,
                TcpExpectKind::String,
                Matcher::Bytes(b"+PONG\r\n".to_vec()),
            );
            expect.err_status = CheckStatus::L7Sts;
            expect.on_error = Some(Info::Line {
                skip: 0,
                trim: false,
            });
            expect.on_success = Some(Info::Fixed("Redis server is ok"));
            vec![
                step(
                    0,
                    Action::Connect {
                        port: None,
                        implicit: true,
                    },
                ),
                step(1, Action::Send(b"*1\r\n$4\r\nPING\r\n".to_vec())),
                step(2, Action::Expect(Box::new(expect))),
            ]
        }
        CheckProtocol::Smtp { command } => {
            let reply = |pattern: &str, err_status, on_error, on_success, status_code| {
                let mut e = Expect::plain(false, TcpExpectKind::RString, regex(pattern));
                // Only the multi-line EHLO reply waits for a match instead.
                e.min_recv = (!pattern.starts_with("^(")).then_some(4);
                e.err_status = err_status;
                e.on_error = Some(on_error);
                e.on_success = on_success;
                e.status_code = status_code;
                Action::Expect(Box::new(e))
            };
            let text = Info::Line {
                skip: 4,
                trim: true,
            };
            vec![
                step(
                    1,
                    Action::Connect {
                        port: None,
                        implicit: false,
                    },
                ),
                step(
                    2,
                    reply(
                        "^[0-9]{3}[ \r]",
                        CheckStatus::L7Rsp,
                        Info::Line {
                            skip: 0,
                            trim: false,
                        },
                        None,
                        false,
                    ),
                ),
                step(
                    3,
                    reply(
                        "^2[0-9]{2}[ \r]",
                        CheckStatus::L7Sts,
                        text.clone(),
                        None,
                        true,
                    ),
                ),
                step(4, Action::Send(format!("{command}\r\n").into_bytes())),
                step(
                    5,
                    reply(
                        "^(2[0-9]{2}-[^\r]*\r\n)*2[0-9]{2}[ \r]",
                        CheckStatus::L7Sts,
                        text.clone(),
                        Some(text.clone()),
                        true,
                    ),
                ),
                step(6, Action::Send(b"QUIT\r\n".to_vec())),
                step(
                    7,
                    reply(
                        "^2[0-9]{2}[- \r]",
                        CheckStatus::L7Sts,
                        text.clone(),
                        Some(text),
                        true,
                    ),
                ),
            ]
        }
        CheckProtocol::Pgsql { user } => {
            // A startup message: length, protocol 3.0, "user", the name, the end.
            let mut startup = Vec::with_capacity(15 + user.len());
            startup.extend_from_slice(&u32::try_from(15 + user.len()).unwrap_or(0).to_be_bytes());
            startup.extend_from_slice(b"\x00\x03\x00\x00user\x00");
            startup.extend_from_slice(user.as_bytes());
            startup.extend_from_slice(b"\x00\x00");
            let mut not_error = Expect::plain(true, TcpExpectKind::RString, regex("^E"));
            not_error.min_recv = Some(5);
            not_error.on_error = Some(Info::Rest { skip: 6 });
            let mut auth = Expect::plain(
                false,
                TcpExpectKind::RBinary,
                // As 2.6.12, with the backported fix of the authentication codes.
                hex_regex("^52000000[A-Z0-9]{2}000000(00|02|03|04|05|06|07|09|0A)"),
            );
            auth.min_recv = Some(9);
            auth.err_status = CheckStatus::L7Sts;
            auth.on_success = Some(Info::Fixed("PostgreSQL server is ok"));
            auth.on_error = Some(Info::Fixed("PostgreSQL unknown error"));
            vec![
                step(
                    1,
                    Action::Connect {
                        port: None,
                        implicit: false,
                    },
                ),
                step(2, Action::Send(startup)),
                step(3, Action::Expect(Box::new(not_error))),
                step(4, Action::Expect(Box::new(auth))),
            ]
        }
        CheckProtocol::Ldap => {
            let mut ber = Expect::plain(false, TcpExpectKind::RBinary, hex_regex("^30"));
            ber.min_recv = Some(14);
            ber.on_error = Some(Info::Fixed("Not LDAPv3 protocol"));
            let bind = Expect::plain(false, TcpExpectKind::RBinary, Matcher::LdapBind);
            vec![
                step(
                    0,
                    Action::Connect {
                        port: None,
                        implicit: true,
                    },
                ),
                // An anonymous simple bind, LDAPv3, message id 1.
                step(
                    1,
                    Action::Send(
                        b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\x00".to_vec(),
                    ),
                ),
                step(2, Action::Expect(Box::new(ber))),
                step(3, Action::Expect(Box::new(bind))),
            ]
        }
        CheckProtocol::Mysql { user, pre_41 } => {
            let packet = |after_handshake| {
                Action::Expect(Box::new(Expect::plain(
                    false,
                    TcpExpectKind::RBinary,
                    Matcher::MysqlPacket { after_handshake },
                )))
            };
            let mut steps = vec![step(
                1,
                Action::Connect {
                    port: None,
                    implicit: false,
                },
            )];
            if let Some(user) = user {
                steps.push(step(2, Action::Send(mysql_login(user, *pre_41))));
                steps.push(step(3, packet(false)));
                steps.push(step(4, packet(true)));
            } else {
                steps.push(step(2, packet(false)));
            }
            steps
        }
    }
}

/// HAProxy's client authentication packet for `user` (no password, so MySQL answers with
/// an OK or an error), then `COM_QUIT`.
fn mysql_login(user: &str, pre_41: bool) -> Vec<u8> {
    let mut body = Vec::new();
    if pre_41 {
        // Capabilities, max packet.
        body.extend_from_slice(b"\x00\x80\x00\x00\x01");
    } else {
        // Capabilities, max packet, UTF-8, 23 reserved bytes.
        body.extend_from_slice(b"\x00\x82\x00\x00\x00\x80\x00\x01\x21");
        body.extend_from_slice(&[0; 23]);
    }
    body.extend_from_slice(user.as_bytes());
    body.extend_from_slice(b"\x00\x00");
    let len = body.len().to_le_bytes();
    let mut out = vec![len[0], len[1], len[2], 1];
    out.extend_from_slice(&body);
    out.extend_from_slice(b"\x01\x00\x00\x00\x01");
    out
}

/// Compiles a ruleset, with the implicit first connect HAProxy adds when the rules do not
/// start with one. Patterns were checked when the configuration was read; a rule whose
/// pattern still fails to compile is left out.
pub fn compile(check: &TcpCheck) -> Ruleset {
    if let Some(protocol) = &check.protocol {
        return Ruleset {
            steps: protocol_steps(protocol),
            generic: false,
        };
    }
    let mut steps = Vec::with_capacity(check.rules.len() + 1);
    if !matches!(
        check.rules.first().map(|r| &r.action),
        Some(TcpCheckAction::Connect { .. })
    ) {
        steps.push(step(
            0,
            Action::Connect {
                port: None,
                implicit: true,
            },
        ));
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
                Action::Expect(Box::new(Expect::plain(e.negate, e.kind, matcher)))
            }
        };
        steps.push(Step {
            step: rule.step,
            comment: rule.comment.as_deref().map(|c| ascii_encode(c.as_bytes())),
            action,
        });
    }
    Ruleset {
        steps,
        generic: true,
    }
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
/// words (`chk_report_conn_err`): " at step 2 of tcp-check (expect string '+PONG')"; protocol
/// checks say nothing more than the error.
fn where_it_failed(step: &Step, generic: bool) -> String {
    if !generic {
        return String::new();
    }
    if let Action::Connect { implicit: true, .. } = step.action {
        return " at initial connection step of tcp-check".into();
    }
    let mut out = format!(" at step {} of tcp-check", step.step);
    match &step.action {
        Action::Connect { port: Some(p), .. } => out.push_str(&format!(" (connect port {p})")),
        Action::Connect { port: None, .. } => out.push_str(" (connect)"),
        Action::Send(_) => out.push_str(" (send)"),
        Action::Expect(e) => out.push_str(&match e.kind {
            TcpExpectKind::String => format!(" (expect string '{}')", e.shown),
            TcpExpectKind::Binary => format!(" (expect binary '{}')", e.shown),
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
fn mismatch(step: &Step, expect: &Expect, matched: bool, answer: &[u8], generic: bool) -> String {
    let mut out = match &expect.on_error {
        Some(info) => info.render(answer),
        None if !generic => String::new(),
        None => {
            let what = if matched {
                "TCPCHK matched unwanted content"
            } else {
                "TCPCHK did not match content"
            };
            match expect.kind {
                TcpExpectKind::String => format!("{what} '{}' at step {}", expect.shown, step.step),
                TcpExpectKind::Binary => format!("{what} (binary) at step {}", step.step),
                TcpExpectKind::RString => format!("{what} (regex) at step {}", step.step),
                TcpExpectKind::RBinary => format!("{what} (binary regex) at step {}", step.step),
            }
        }
    };
    if let Some(c) = &step.comment {
        out.push_str(&format!(" comment: {c}"));
    }
    out
}

/// The verdict of `option ldap-check` or `option mysql-check` on an answer.
#[derive(Debug, PartialEq, Eq)]
enum LdapVerdict {
    /// Not enough bytes yet.
    Wait,
    /// The step passes.
    Ok,
    /// The check fails: status, code, info.
    Fail(CheckStatus, u16, String),
}

/// HAProxy's `tcpcheck_mysql_expect_packet`: a whole packet at the handshake's end (or at the
/// start); an error packet (0xff) fails with its code and message.
fn mysql_packet(answer: &[u8], after_handshake: bool, last_read: bool) -> LdapVerdict {
    let length = |at: usize| {
        answer
            .get(at..at + 3)
            .map(|b| usize::from(b[0]) | usize::from(b[1]) << 8 | usize::from(b[2]) << 16)
    };
    let offset = if after_handshake {
        length(0).map_or(0, |l| l + 4)
    } else {
        0
    };
    let truncated = if last_read {
        LdapVerdict::Fail(CheckStatus::L7Rsp, 0, String::new())
    } else {
        LdapVerdict::Wait
    };
    let Some(plen) = length(offset).filter(|_| answer.len() >= offset + 4) else {
        return truncated;
    };
    if answer.len() < offset + plen + 4 {
        return truncated;
    }
    if answer.get(offset + 4) == Some(&0xff) {
        let code = answer
            .get(offset + 5..offset + 7)
            .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
        let message = answer.get(offset + 7..).unwrap_or(&[]);
        return LdapVerdict::Fail(CheckStatus::L7Sts, code, shown(message));
    }
    LdapVerdict::Ok
}

/// HAProxy's `tcpcheck_ldap_expect_bindrsp`: an LDAPMessage (BER) with message id 1 holding a
/// bindResponse whose resultCode is 0. Lengths on 2 or 4 bytes only, as HAProxy.
fn ldap_bind(answer: &[u8], last_read: bool) -> LdapVerdict {
    let too_short = if last_read {
        LdapVerdict::Fail(CheckStatus::L7Rsp, 0, String::new())
    } else {
        LdapVerdict::Wait
    };
    let not_ldap = LdapVerdict::Fail(CheckStatus::L7Rsp, 0, "Not LDAPv3 protocol".into());
    let Some(&size) = answer.get(1) else {
        return too_short;
    };
    let (nbytes, msglen) = if size & 0x80 != 0 {
        let n = usize::from(size & 0x7f);
        let Some(bytes) = answer.get(2..2 + n) else {
            return too_short;
        };
        match *bytes {
            [a, b, c, d] => (n, u32::from_be_bytes([a, b, c, d]) as usize),
            [a, b] => (n, usize::from(u16::from_be_bytes([a, b]))),
            _ => return not_ldap,
        }
    } else {
        (0, usize::from(size))
    };
    if answer.len() < (2 + nbytes).saturating_add(msglen) {
        return too_short;
    }
    let mut at = 2 + nbytes;
    // messageID INTEGER 1, then protocolOp bindResponse.
    if answer.get(at..at + 4) != Some(b"\x02\x01\x01\x61".as_slice()) {
        return not_ldap;
    }
    at += 4;
    let Some(&size) = answer.get(at) else {
        return not_ldap;
    };
    at += 1 + if size & 0x80 != 0 {
        usize::from(size & 0x7f)
    } else {
        0
    };
    // ldapResult: ENUMERATED of one byte, the resultCode.
    if answer.get(at..at + 2) != Some(b"\x0a\x01".as_slice()) {
        return not_ldap;
    }
    match answer.get(at + 2) {
        Some(0) => LdapVerdict::Ok,
        Some(&code) => LdapVerdict::Fail(
            CheckStatus::L7Sts,
            u16::from(code),
            "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9".into(),
        ),
        None => not_ldap,
    }
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
        // Judged by `ldap_bind` or `mysql_packet`, before this is asked.
        Matcher::LdapBind | Matcher::MysqlPacket { .. } => Some(true),
        Matcher::HexRegex(re) => {
            let hex: String = answer.iter().map(|b| format!("{b:02X}")).collect();
            Some(re.is_match(hex.as_bytes()))
        }
    }
}

/// How a step ended when it did not let the next one run.
enum Stop {
    /// A verdict: status, code, info.
    Done(CheckStatus, u16, String),
    /// This process could not open a socket: no verdict on the server.
    Local,
}

/// Runs the ruleset against `spec.target` (its port replaced by a `connect port`).
pub async fn run(spec: &ProbeSpec, rules: &Ruleset) -> Option<CheckResult> {
    let started = Instant::now();
    // Every wait below is bounded: connects by `connect_timeout`, the rest by the deadline
    // the first connect sets.
    let (status, code, info) = match run_steps(spec, rules, started).await {
        Ok(answer) => success(rules, &answer),
        Err(Stop::Local) => return None,
        Err(Stop::Done(status, code, info)) => (status, code, info),
    };
    Some(CheckResult {
        status,
        // HAProxy shows a code only with the statuses that carry one.
        code: matches!(status, CheckStatus::L7Ok | CheckStatus::L7Sts).then_some(code),
        info: (!info.is_empty()).then_some(info),
        duration: started.elapsed(),
    })
}

/// The result of a ruleset that ran to its end: it depends on the last rule.
fn success(rules: &Ruleset, answer: &[u8]) -> (CheckStatus, u16, String) {
    let tcp_check = || {
        if rules.generic {
            "(tcp-check)".to_string()
        } else {
            String::new()
        }
    };
    match rules.steps.last().map(|s| &s.action) {
        Some(Action::Connect { implicit: true, .. }) | None => {
            (CheckStatus::L4Ok, 0, String::new())
        }
        Some(Action::Connect { .. }) => (CheckStatus::L4Ok, 0, "(tcp-check)".into()),
        Some(Action::Expect(e)) => {
            let info = match &e.on_success {
                Some(info) => info.render(answer),
                None => tcp_check(),
            };
            (CheckStatus::L7Ok, e.code(answer), info)
        }
        Some(Action::Send(_)) => (CheckStatus::L7Ok, 0, "(tcp-check)".into()),
    }
}

/// Runs the steps; the last answer read when all passed.
async fn run_steps(spec: &ProbeSpec, rules: &Ruleset, started: Instant) -> Result<Vec<u8>, Stop> {
    let generic = rules.generic;
    let mut deadline: Option<Instant> = None;
    let mut stream: Option<TcpStream> = None;
    let mut answer: Vec<u8> = Vec::new();
    let mut must_read = true;
    let mut closed = false;
    for step in &rules.steps {
        let failed = |status, e: &std::io::Error| {
            Stop::Done(
                status,
                0,
                format!("{}{}", os_error_text(e), where_it_failed(step, generic)),
            )
        };
        let timed_out = |status| Stop::Done(status, 0, where_it_failed(step, generic));
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
                    Err(_) => return Err(timed_out(CheckStatus::L4Timeout)),
                    Ok(Err(e)) if local_shortage(&e) => {
                        log::debug!("health check to {target}: {e}");
                        return Err(Stop::Local);
                    }
                    Ok(Err(e)) => return Err(failed(CheckStatus::L4Con, &e)),
                    Ok(Ok(s)) => s,
                });
                if let Some(s) = stream.as_mut() {
                    if let Err(e) = super::probe::send_proxy_header(s, spec).await {
                        return Err(failed(CheckStatus::L4Con, &e));
                    }
                }
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
                    Err(_) => return Err(timed_out(CheckStatus::L7Timeout)),
                    Ok((Err(e), _)) => return Err(failed(CheckStatus::SockErr, &e)),
                    Ok((Ok(_), _)) => {}
                }
            }
            Action::Expect(expect) => {
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
                            Err(_) => return Err(timed_out(CheckStatus::L7Timeout)),
                            Ok((Ok(0), _)) => closed = true,
                            Ok((Ok(n), chunk)) => {
                                answer.extend_from_slice(chunk.get(..n).unwrap_or(&chunk))
                            }
                            Ok((Err(e), _)) => {
                                closed = true;
                                // A reset right after the last bytes is common: judge those.
                                if answer.is_empty() {
                                    return Err(failed(CheckStatus::SockErr, &e));
                                }
                            }
                        }
                        if closed && answer.is_empty() {
                            let mut info =
                                format!("TCPCHK got an empty response at step {}", step.step);
                            if let Some(c) = &step.comment {
                                info.push_str(&format!(" comment: '{c}'"));
                            }
                            return Err(Stop::Done(expect.err_status, 0, info));
                        }
                    }
                    let last_read = closed || answer.len() >= MAX_ANSWER;
                    if !last_read && expect.min_recv.is_some_and(|n| answer.len() < n) {
                        must_read = true;
                        continue;
                    }
                    let custom = match expect.matcher {
                        Matcher::LdapBind => Some(ldap_bind(&answer, last_read)),
                        Matcher::MysqlPacket { after_handshake } => {
                            Some(mysql_packet(&answer, after_handshake, last_read))
                        }
                        _ => None,
                    };
                    if let Some(verdict) = custom {
                        match verdict {
                            LdapVerdict::Wait => {
                                must_read = true;
                                continue;
                            }
                            LdapVerdict::Ok => break,
                            LdapVerdict::Fail(status, code, info) => {
                                return Err(Stop::Done(status, code, info))
                            }
                        }
                    }
                    // As HAProxy: no match yet means wait for more, even for a `!` rule,
                    // unless `min-recv` makes the first look final; once all has come (or
                    // the buffer is full) the verdict is final.
                    match matches(&expect.matcher, &answer, last_read) {
                        None => must_read = true,
                        Some(false) if !last_read && expect.min_recv.is_none() => must_read = true,
                        Some(found) if found != expect.negate => break,
                        Some(found) => {
                            return Err(Stop::Done(
                                expect.err_status,
                                expect.code(&answer),
                                mismatch(step, expect, found, &answer, generic),
                            ))
                        }
                    }
                }
            }
        }
    }
    Ok(answer)
}

fn remaining(deadline: &Option<Instant>) -> Duration {
    deadline.map_or(Duration::ZERO, |d| {
        d.saturating_duration_since(Instant::now())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CheckProtocol, TcpCheckRule, TcpExpect};
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
            protocol: None,
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
            protocol: None,
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

    fn protocol(p: CheckProtocol) -> TcpCheck {
        TcpCheck {
            rules: Vec::new(),
            protocol: Some(p),
        }
    }

    #[test]
    fn redis_checks_ping_as_haproxy_does() {
        fn redis(mut c: std::net::TcpStream) {
            let mut request = [0u8; 14];
            if c.read_exact(&mut request).is_ok() && &request == b"*1\r\n$4\r\nPING\r\n" {
                let _ = c.write_all(b"+PONG\r\n");
            }
            std::thread::sleep(Duration::from_millis(400));
        }
        fn loading(mut c: std::net::TcpStream) {
            let _ = c.read(&mut [0u8; 64]);
            let _ = c.write_all(b"-LOADING Redis is loading\r\n");
        }
        let r = check(server(redis), &protocol(CheckProtocol::Redis));
        assert_eq!(
            (r.status, r.code, r.info.as_deref()),
            (CheckStatus::L7Ok, Some(0), Some("Redis server is ok"))
        );
        let r = check(server(loading), &protocol(CheckProtocol::Redis));
        assert_eq!(
            (r.status, r.code, r.info.as_deref()),
            (
                CheckStatus::L7Sts,
                Some(0),
                Some("-LOADING Redis is loading")
            )
        );
        let r = check(server(silent), &protocol(CheckProtocol::Redis));
        assert_eq!((r.status, r.info), (CheckStatus::L7Timeout, None));
    }

    #[test]
    fn smtp_checks_greet_and_say_helo() {
        fn smtp(mut c: std::net::TcpStream) {
            let _ = c.write_all(b"220 mx.example ESMTP\r\n");
            if read_line(&mut c) == b"EHLO me\r\n" {
                let _ = c.write_all(b"250-mx.example\r\n");
                std::thread::sleep(Duration::from_millis(20));
                let _ = c.write_all(b"250 SIZE 1000\r\n");
            }
            if read_line(&mut c) == b"QUIT\r\n" {
                let _ = c.write_all(b"221 2.0.0 Bye\r\n");
            }
            std::thread::sleep(Duration::from_millis(400));
        }
        fn busy(mut c: std::net::TcpStream) {
            let _ = c.write_all(b"421 too busy\r\n");
            std::thread::sleep(Duration::from_millis(400));
        }
        fn not_smtp(mut c: std::net::TcpStream) {
            let _ = c.write_all(b"hello there\r\n");
            std::thread::sleep(Duration::from_millis(400));
        }
        let ehlo = || {
            protocol(CheckProtocol::Smtp {
                command: "EHLO me".into(),
            })
        };
        let r = check(server(smtp), &ehlo());
        assert_eq!(
            (r.status, r.code, r.info.as_deref()),
            (CheckStatus::L7Ok, Some(221), Some("2.0.0 Bye"))
        );
        let r = check(server(busy), &ehlo());
        assert_eq!(
            (r.status, r.code, r.info.as_deref()),
            (CheckStatus::L7Sts, Some(421), Some("too busy"))
        );
        let r = check(server(not_smtp), &ehlo());
        assert_eq!(
            (r.status, r.code, r.info.as_deref()),
            (CheckStatus::L7Rsp, None, Some("hello there"))
        );
    }

    #[test]
    fn ldap_bind_responses_are_judged_as_haproxy_does() {
        let ok = b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x00\x04\x00\x04\x00";
        assert_eq!(ldap_bind(ok, false), LdapVerdict::Ok);
        let mut refused = *ok;
        refused[9] = 49;
        assert_eq!(
            ldap_bind(&refused, false),
            LdapVerdict::Fail(
                CheckStatus::L7Sts,
                49,
                "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9".into()
            )
        );
        let long = b"\x30\x84\x00\x00\x00\x0c\x02\x01\x01\x61\x84\x00\x00\x00\x07\x0a\x01\x00\x04\x00\x04\x00";
        assert_eq!(ldap_bind(long, false), LdapVerdict::Ok);
        assert_eq!(ldap_bind(&ok[..8], false), LdapVerdict::Wait);
        assert_eq!(
            ldap_bind(&ok[..8], true),
            LdapVerdict::Fail(CheckStatus::L7Rsp, 0, String::new())
        );
        let mut other_id = *ok;
        other_id[4] = 2;
        assert_eq!(
            ldap_bind(&other_id, false),
            LdapVerdict::Fail(CheckStatus::L7Rsp, 0, "Not LDAPv3 protocol".into())
        );
        assert_eq!(
            ldap_bind(b"\x30\x83\x00\x00\x00", false),
            LdapVerdict::Fail(CheckStatus::L7Rsp, 0, "Not LDAPv3 protocol".into())
        );
        let huge = b"\x30\x84\xff\xff\xff\xff\x02";
        assert_eq!(ldap_bind(huge, false), LdapVerdict::Wait, "no overflow");
    }

    #[test]
    fn mysql_packets_are_judged_as_haproxy_does() {
        assert_eq!(
            mysql_login("haproxy", false).len(),
            4 + 34 + 7 + 5,
            "header, post-41 body, user, COM_QUIT"
        );
        assert_eq!(
            mysql_login("ha", true),
            b"\x09\x00\x00\x01\x00\x80\x00\x00\x01ha\x00\x00\x01\x00\x00\x00\x01"
        );
        let handshake = b"\x0b\x00\x00\x00\x0a8.0.1\x00abc\x00";
        assert_eq!(mysql_packet(handshake, false, false), LdapVerdict::Ok);
        assert_eq!(
            mysql_packet(&handshake[..8], false, false),
            LdapVerdict::Wait
        );
        assert_eq!(
            mysql_packet(&handshake[..8], false, true),
            LdapVerdict::Fail(CheckStatus::L7Rsp, 0, String::new())
        );
        let mut both = handshake.to_vec();
        both.extend_from_slice(b"\x07\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00");
        assert_eq!(mysql_packet(&both, true, false), LdapVerdict::Ok);
        let mut denied = handshake.to_vec();
        denied.extend_from_slice(b"\x0d\x00\x00\x02\xff\x15\x04#28000no\x00x");
        assert_eq!(
            mysql_packet(&denied, true, false),
            LdapVerdict::Fail(CheckStatus::L7Sts, 1045, "#28000no".into())
        );
        assert_eq!(
            mysql_packet(&handshake[..10], true, false),
            LdapVerdict::Wait
        );
    }

    #[test]
    fn pgsql_checks_start_up_as_haproxy_does() {
        fn pg(mut c: std::net::TcpStream) {
            let mut startup = [0u8; 22];
            if c.read_exact(&mut startup).is_ok()
                && startup == *b"\x00\x00\x00\x16\x00\x03\x00\x00user\x00haproxy\x00\x00"
            {
                // AuthenticationMD5Password.
                let _ = c.write_all(b"R\x00\x00\x00\x0c\x00\x00\x00\x05salt");
            }
            std::thread::sleep(Duration::from_millis(400));
        }
        fn pg_error(mut c: std::net::TcpStream) {
            let _ = c.read(&mut [0u8; 64]);
            let _ =
                c.write_all(b"E\x00\x00\x00\x30SFATAL\x00C28000\x00Mno pg_hba.conf entry\x00\x00");
            std::thread::sleep(Duration::from_millis(400));
        }
        let pgsql = protocol(CheckProtocol::Pgsql {
            user: "haproxy".into(),
        });
        let r = check(server(pg), &pgsql);
        assert_eq!(
            (r.status, r.code, r.info.as_deref()),
            (CheckStatus::L7Ok, Some(0), Some("PostgreSQL server is ok"))
        );
        let r = check(server(pg_error), &pgsql);
        assert_eq!(
            (r.status, r.code, r.info.as_deref()),
            (CheckStatus::L7Rsp, None, Some("FATAL"))
        );
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
