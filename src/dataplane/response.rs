//! Relaying one response from a server to a client: head (hop-by-hop lines replaced), then
//! the body through the same buffer it was read into.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRent};

use super::body::BodyProgress;
use super::deadline::Deadline;
use super::error::{Phase, ProxyError};
use super::head::{self, HeadError};
use super::http1::scan::{HeadEnd, HeadScanner};
use super::http1::{
    parse_response_head, BodyKind, ChunkError, Method, Outgoing, ResponseHead, Spans,
};
use super::io::{read, write_planned, ReadOutcome, WriteError};
use super::persist::{self, ResponseCookie};
use super::rewrite::HeadEdit;
use super::rules::{self, Outcome, RuleContext, Vars};
use crate::config::http_rules::HttpRule;
use crate::config::logfields::{captured, HeaderCapture};

/// The `http-response` rules a response goes through: the backend's, then the frontend's.
pub struct ResponseRules<'a> {
    /// The lists in the order they run.
    pub lists: [&'a [HttpRule]; 2],
    /// What the rules know of the transaction.
    pub ctx: RuleContext<'a>,
    /// The transaction's variables.
    pub vars: &'a RefCell<Vars>,
}

/// What the relay needs to know about the request and the client.
pub struct ResponsePlan<'a> {
    /// The request method (HEAD responses have no body).
    pub method: Method,
    /// The client's HTTP minor version.
    pub client_minor: u8,
    /// The client wants, and the proxy allows, keep-alive.
    pub client_keep_alive: bool,
    /// Set when a soft stop begins: a response whose head is not written yet says
    /// `Connection: close` then.
    pub stopping: &'a Cell<bool>,
    /// Whether the request body has been fully sent (read when the head is written).
    pub request_done: &'a Cell<bool>,
    /// Set once any byte of the response went to the client (then no error page may follow,
    /// even when the relay is stopped from outside).
    pub response_started: &'a Cell<bool>,
    /// The request asked to upgrade the connection.
    pub upgrade: bool,
    /// `timeout server`.
    pub server_timeout: Option<Duration>,
    /// `timeout client`.
    pub client_timeout: Option<Duration>,
    /// Longest response head accepted (`tune.bufsize`, as for requests).
    pub head_limit: usize,
    /// The server socket's deadline.
    pub server_deadline: &'a Deadline,
    /// The client socket's deadline.
    pub client_deadline: &'a Deadline,
    /// `http-response` rules, when any proxy of the transaction has some.
    pub rules: Option<&'a ResponseRules<'a>>,
    /// `capture response header` lines and where their values go.
    pub captures: Option<(&'a [HeaderCapture], &'a RefCell<Vec<String>>)>,
    /// What cookie persistence does to the response's cookies.
    pub cookie: Option<ResponseCookie<'a>>,
}

/// A response relayed to its end.
#[derive(Debug)]
pub struct Relayed {
    /// Its status.
    pub status: u16,
    /// The server connection can carry another request.
    pub server_reusable: bool,
    /// The client connection can carry another request.
    pub client_keep_alive: bool,
    /// 101 Switching Protocols was relayed: the connection is now a tunnel.
    pub upgraded: bool,
    /// When the response head arrived.
    pub head_at: Instant,
    /// The server authenticates the connection (NTLM, Negotiate): it must stay private.
    pub connection_auth: bool,
    /// An `http-response deny` rule answered instead of the server.
    pub denied: bool,
}

/// The end of a relay.
pub struct RelayEnd {
    /// Success or the failure.
    pub result: Result<Relayed, ProxyError>,
    /// Whether any byte reached the client (then no error page can follow).
    pub started: bool,
    /// Bytes written to the client.
    pub bytes_out: u64,
    /// The buffer, unless a timed-out write kept it.
    pub buf: Option<Outgoing>,
}

/// Relays the response to the request described by `plan`. `sbuf` may already hold the first
/// bytes read from the server.
// A plain fn returning an async block: an async fn would keep a second copy of its
// arguments in its state.
#[allow(clippy::manual_async_fn)]
pub fn relay_response<'s, R, W>(
    server: &'s mut R,
    client: &'s mut W,
    mut sbuf: Outgoing,
    plan: &'s ResponsePlan<'s>,
) -> impl Future<Output = RelayEnd> + use<'s, R, W>
where
    R: AsyncReadRent,
    W: AsyncWriteRent,
{
    async move {
        let mut end = RelayEnd {
            result: Err(ProxyError::BadResponse),
            started: false,
            bytes_out: 0,
            buf: None,
        };
        // Read heads until a final one (interim 1xx answers are forwarded or dropped).
        let (head, head_at) = loop {
            let head = match read_head(server, &mut sbuf, plan).await {
                Ok(head) => head,
                Err(e) => {
                    end.result = Err(e);
                    end.buf = Some(sbuf);
                    return end;
                }
            };
            if !head.is_interim() {
                break (head, Instant::now());
            }
            // 100 Continue was already answered by the proxy; other 1xx go to 1.1 clients.
            if head.status != 100 && plan.client_minor == 1 {
                let no_drop = Spans::default();
                sbuf.clear_extra();
                sbuf.extra_mut().extend_from_slice(b"\r\n");
                sbuf.plan_head(0..head.len, &no_drop, 0..0);
                match send(client, sbuf, plan, &mut end).await {
                    Some(back) => sbuf = back,
                    None => return end,
                }
            }
            sbuf.buf_mut().drain(..head.len);
        };
        if let Some((list, out)) = plan.captures {
            capture_headers(&sbuf.buf()[..head.len], list, &mut out.borrow_mut());
        }
        let upgraded = head.status == 101;
        if upgraded && !plan.upgrade {
            end.result = Err(ProxyError::BadResponse);
            end.buf = Some(sbuf);
            return end;
        }
        let mut body = BodyProgress::new(if upgraded { BodyKind::None } else { head.body });
        // An HTTP/1.0 client knows no chunked coding (RFC 9112 §6.1): it gets the body
        // de-chunked and close-delimited, and no Transfer-Encoding line.
        let http10_client = plan.client_minor == 0;
        let dechunk = http10_client && head.body == BodyKind::Chunked;
        let client_keep_alive = plan.client_keep_alive
            && !plan.stopping.get()
            && plan.request_done.get()
            && !upgraded
            && !dechunk
            && head.body != BodyKind::UntilClose;
        let te_lines = if http10_client {
            head.facts.te_lines.as_slice()
        } else {
            &[]
        };
        let Some(drop) = head.facts.drop.merged(te_lines) else {
            end.result = Err(ProxyError::BadResponse);
            end.buf = Some(sbuf);
            return end;
        };
        sbuf.clear_extra();
        let mut status = head.status;
        let edit = match (plan.rules, &plan.cookie) {
            (None, None) => None,
            (rules, cookie) => match rewrite_head(
                rules,
                cookie.as_ref(),
                &mut sbuf,
                &head,
                &drop,
                plan.head_limit,
            ) {
                Ok(edit) => {
                    status = edit.status;
                    Some(edit.edit)
                }
                Err(Some(answer)) => {
                    // Denied: the client gets the answer, the server's response is dropped.
                    let status = answer.status;
                    let bytes =
                        answer.into_bytes(true, plan.client_minor, plan.method == Method::Head);
                    sbuf.clear_extra();
                    sbuf.extra_mut().extend_from_slice(&bytes);
                    sbuf.plan_pieces(std::iter::empty(), 0..bytes.len(), 0..0);
                    match send(client, sbuf, plan, &mut end).await {
                        Some(back) => sbuf = back,
                        None => return end,
                    }
                    end.result = Ok(Relayed {
                        status,
                        server_reusable: false,
                        client_keep_alive: false,
                        upgraded: false,
                        head_at,
                        connection_auth: false,
                        denied: true,
                    });
                    end.buf = Some(sbuf);
                    return end;
                }
                Err(None) => {
                    end.result = Err(ProxyError::RewriteFailed { response: true });
                    end.buf = Some(sbuf);
                    return end;
                }
            },
        };
        // `set-status` between a status that has a body and one that has none (204, 304):
        // the body goes on as the server framed it, so the client connection cannot carry
        // another response after it.
        let bodiless = |s: u16| matches!(s, 204 | 304);
        let client_keep_alive = client_keep_alive && bodiless(status) == bodiless(head.status);
        let tail_start = sbuf.extra_len();
        if upgraded {
            sbuf.extra_mut()
                .extend_from_slice(b"Connection: upgrade\r\n");
        } else if !client_keep_alive {
            sbuf.extra_mut().extend_from_slice(b"Connection: close\r\n");
        } else if plan.client_minor == 0 {
            sbuf.extra_mut()
                .extend_from_slice(b"Connection: keep-alive\r\n");
        }
        sbuf.extra_mut().extend_from_slice(b"\r\n");
        let available = sbuf.buf().len() - head.len;
        let (used, payload) = match advance(&mut body, &mut sbuf.buf_mut()[head.len..], dechunk) {
            Ok(progress) => progress,
            Err(_) => {
                end.result = Err(ProxyError::BadResponseBody);
                end.buf = Some(sbuf);
                return end;
            }
        };
        // Bytes past the response's end: the server broke the protocol, do not reuse it.
        let mut server_reusable = head.keep_alive && used == available;
        let body_end = if upgraded {
            head.len + available
        } else {
            head.len + payload
        };
        match &edit {
            Some(edit) => {
                let tail = tail_start..sbuf.extra_len();
                sbuf.plan_pieces(edit.pieces(), tail, head.len..body_end);
            }
            None => sbuf.plan_head(0..head.len, &drop, head.len..body_end),
        }
        match send(client, sbuf, plan, &mut end).await {
            Some(back) => sbuf = back,
            None => return end,
        }
        // The body, one buffer at a time.
        while !body.is_done() {
            let mut buf = std::mem::take(sbuf.buf_mut());
            buf.clear();
            let (outcome, back) =
                read(server, buf, plan.server_deadline, plan.server_timeout).await;
            *sbuf.buf_mut() = back;
            let n = match outcome {
                ReadOutcome::Data(0) if matches!(body, BodyProgress::UntilClose) => break,
                ReadOutcome::Data(0) | ReadOutcome::Failed(_) => {
                    end.result = Err(ProxyError::ServerAborted(Phase::Data));
                    end.buf = Some(sbuf);
                    return end;
                }
                ReadOutcome::TimedOut => {
                    end.result = Err(ProxyError::ServerTimeout(Phase::Data));
                    end.buf = Some(sbuf);
                    return end;
                }
                ReadOutcome::Data(n) => n,
            };
            let (used, payload) = match advance(&mut body, &mut sbuf.buf_mut()[..n], dechunk) {
                Ok(progress) => progress,
                Err(_) => {
                    end.result = Err(ProxyError::BadResponseBody);
                    end.buf = Some(sbuf);
                    return end;
                }
            };
            if used < n {
                server_reusable = false;
            }
            sbuf.plan_body(0..payload);
            match send(client, sbuf, plan, &mut end).await {
                Some(back) => sbuf = back,
                None => return end,
            }
        }
        if matches!(head.body, BodyKind::UntilClose) {
            server_reusable = false;
        }
        end.result = Ok(Relayed {
            status,
            server_reusable: server_reusable && !upgraded,
            client_keep_alive,
            upgraded,
            head_at,
            connection_auth: head.facts.connection_auth,
            denied: false,
        });
        end.buf = Some(sbuf);
        end
    }
}

/// The values of `list`'s response captures in the head `head` (the last line of each name),
/// in declaration order.
fn capture_headers(head: &[u8], list: &[HeaderCapture], out: &mut Vec<String>) {
    out.clear();
    for capture in list.iter().filter(|c| c.response) {
        let value = last_header(head, capture.name.as_bytes()).unwrap_or_default();
        out.push(captured(value, capture.len));
    }
}

/// The value of the last `name` line of `head` (status or request line first).
pub fn last_header<'h>(head: &'h [u8], name: &[u8]) -> Option<&'h [u8]> {
    head.split(|&b| b == b'\n')
        .skip(1)
        .filter_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = line.iter().position(|&b| b == b':')?;
            line[..colon]
                .eq_ignore_ascii_case(name)
                .then(|| line[colon + 1..].trim_ascii())
        })
        .last()
}

/// A response head after its rules ran.
struct Rewritten {
    edit: HeadEdit,
    /// The status the rules left (`set-status`).
    status: u16,
}

/// Runs the response rules, then cookie persistence, over the head at the start of `sbuf`.
/// `Err(Some(answer))`: a rule denied the response; `Err(None)`: a rewrite failed.
fn rewrite_head(
    rules: Option<&ResponseRules<'_>>,
    cookie: Option<&ResponseCookie<'_>>,
    sbuf: &mut Outgoing,
    head: &ResponseHead,
    hidden: &Spans,
    limit: usize,
) -> Result<Rewritten, Option<rules::Answer>> {
    let (buf, extra) = sbuf.split_mut();
    let line_len = memchr::memmem::find(&buf[..head.len], b"\r\n").unwrap_or(0);
    let mut edit = HeadEdit::new(buf, 0..head.len, line_len, hidden, limit);
    if let Some(rules) = rules {
        let mut vars = rules.vars.borrow_mut();
        for list in rules.lists {
            match rules::run(list, buf, extra, &mut edit, &rules.ctx, &mut vars) {
                Outcome::Continue => {}
                Outcome::Answer(answer) => return Err(Some(answer)),
                Outcome::Failed(_) => return Err(None),
            }
        }
    }
    if let Some(cookie) = cookie {
        persist::edit_response(cookie, head.status, &mut edit, buf, extra).map_err(|_| None)?;
    }
    let status = edit
        .line
        .bytes(buf, extra)
        .get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(head.status);
    Ok(Rewritten { edit, status })
}

/// Accounts for `data` in `body`; returns (bytes used, bytes to send from the start of
/// `data`): the same unless the body is being de-chunked in place.
fn advance(
    body: &mut BodyProgress,
    data: &mut [u8],
    dechunk: bool,
) -> Result<(usize, usize), ChunkError> {
    match body {
        BodyProgress::Chunked(tracker) if dechunk => {
            let progress = tracker.decode(data)?;
            if tracker.is_done() {
                *body = BodyProgress::Done;
            }
            Ok(progress)
        }
        _ => body.advance(data).map(|used| (used, used)),
    }
}

/// Reads until a complete response head is at the start of `sbuf`'s buffer.
async fn read_head<R: AsyncReadRent>(
    server: &mut R,
    sbuf: &mut Outgoing,
    plan: &ResponsePlan<'_>,
) -> Result<ResponseHead, ProxyError> {
    let mut scanner = HeadScanner::default();
    let read = head::read_head(
        server,
        sbuf,
        plan.server_deadline,
        plan.head_limit,
        || plan.server_timeout,
        |buf| match scanner.scan(buf) {
            HeadEnd::Partial => Ok(None),
            HeadEnd::Complete(len) if len > plan.head_limit => Err(()),
            HeadEnd::Complete(len) => parse_response_head(&buf[..len], plan.method)
                .map(Some)
                .map_err(drop),
            HeadEnd::Fault(_) => Err(()),
        },
    )
    .await;
    match read {
        Ok(head) => Ok(head),
        Err(HeadError::Invalid(()) | HeadError::TooLarge) => Err(ProxyError::BadResponse),
        Err(HeadError::Closed { .. }) => Err(ProxyError::ServerAborted(Phase::Headers)),
        Err(HeadError::TimedOut) => Err(ProxyError::ServerTimeout(Phase::Headers)),
    }
}

/// Writes what `sbuf` plans to the client; on failure records why in `end` and returns `None`.
async fn send<W: AsyncWriteRent>(
    client: &mut W,
    sbuf: Outgoing,
    plan: &ResponsePlan<'_>,
    end: &mut RelayEnd,
) -> Option<Outgoing> {
    let bytes = sbuf.remaining() as u64;
    end.started = true;
    plan.response_started.set(true);
    let (written, back) =
        write_planned(client, sbuf, plan.client_deadline, plan.client_timeout).await;
    match written {
        Ok(()) => {
            end.bytes_out += bytes;
            Some(back)
        }
        Err(e) => {
            end.result = Err(client_write_error(e));
            end.buf = Some(back);
            None
        }
    }
}

fn client_write_error(e: WriteError) -> ProxyError {
    match e {
        WriteError::TimedOut => ProxyError::ClientTimeout(Phase::Data),
        WriteError::Failed(_) => ProxyError::ClientAborted(Phase::Data),
    }
}
