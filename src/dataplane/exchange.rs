//! One HTTP transaction: read the request head, pick a server, forward the request (and its
//! body), relay the response, and account for it.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Instant, SystemTime};

use monoio::io::Splitable;
use monoio::net::TcpStream;

use crate::config::{ForwardFor, HttpConnMode, LogFormat, Proxy, ProxyId, ServerId};
use crate::state::log::LogExtras;
use crate::state::{CapturedError, LogEvent, LogRecord, ShardCounters, Side, Snapshot, Timers};

use super::body::{upload, BodyProgress};
use super::deadline::{coarse_now, Deadline};
use super::error::{count_abort, Phase, ProxyError};
use super::head::{read_head, HeadError};
use super::http1::errpos::error_position;
use super::http1::{BodyKind, Outgoing, RequestFramer, RequestHead};
use super::io::{
    lingering_close, read, set_reset_on_close, write_all, write_planned, ReadOutcome, WriteError,
};
use super::private::{PrivateConn, PrivateConns};
use super::response::{relay_response, RelayEnd, ResponsePlan};
use super::rewrite::HeadEdit;
use super::rules::{Outcome, Vars};
use super::shard::Shard;
use super::tunnel;

mod intercept;
use super::upstream::{Dispatch, Upstream};

/// What the client connection does after a transaction.
// Returned once per request and destructured at once, never stored: boxing it would only
// add an allocation per request.
#[allow(clippy::large_enum_variant)]
pub enum After {
    /// Wait for the next request on the connection.
    KeepAlive(KeepAlive),
    /// Close the connection.
    Close,
}

/// A client connection between two requests.
pub struct KeepAlive {
    /// The client.
    pub client: TcpStream,
    /// Bytes of the next request already read.
    pub pending: Option<Outgoing>,
    /// Server connections that belong to this client alone (boxed: they are rare, and they
    /// would otherwise enlarge every idle connection's task).
    pub private: Option<Box<PrivateConns>>,
}

/// A relayed exchange on its way to being accounted for.
struct Done {
    relay: RelayEnd,
    leftover: Option<Outgoing>,
    upload_error: Option<ProxyError>,
    /// The request body was fully sent (false when the response ended first).
    upload_finished: bool,
    sent_at: Instant,
}

/// The state of one request on its way through.
pub struct Transaction<'a> {
    /// The client's private server connections, but while a request is being dispatched.
    private: Option<Box<PrivateConns>>,
    /// The server connection in use is one of the client's private ones: its place among
    /// them.
    private_in_use: Option<u64>,
    shard: &'a Shard,
    snap: &'a Snapshot,
    /// This shard's counters under `snap`.
    counters: &'a ShardCounters,
    fe: &'a Proxy,
    backend: Option<&'a Proxy>,
    server: Option<ServerId>,
    client_deadline: &'a Deadline,
    peer: SocketAddr,
    local: SocketAddr,
    started: Instant,
    started_wall: SystemTime,
    timers: Timers,
    retries: u32,
    status: Option<u16>,
    bytes_out: u64,
    /// Bytes of this request taken from the client (head and body).
    bytes_in: u64,
    /// `Tr` in µs, once the response head arrived.
    response_us: Option<u64>,
    request_line: Option<String>,
    termination: [u8; 2],
    /// Whether this transaction is logged: only then is a log record built.
    logged: bool,
    /// The request head as rules rewrote it; `None` when no rule ran.
    edit: Option<HeadEdit>,
    /// `set-var` variables, shared by request and response rules.
    vars: RefCell<Vars>,
    /// HAProxy's `%rt`.
    request_number: u64,
    /// The request's unique id (`unique-id-format`).
    unique_id: Option<String>,
    /// What `log-format` and captures add to the log line.
    extras: Option<Box<LogExtras>>,
    /// `capture response header` values, filled by the relay.
    response_captures: RefCell<Vec<String>>,
    /// The server the request's persistence cookie named, valid or not.
    cookie_server: Option<ServerId>,
    /// The backend chosen before the request (a `mode tcp` frontend's, on upgrade).
    forced_backend: Option<ProxyId>,
    /// A rule changed the request so that the client connection cannot be kept after it.
    close_after: bool,
}

impl<'a> Transaction<'a> {
    /// A transaction on a connection of `frontend` that has bytes to read.
    pub fn new(
        shard: &'a Shard,
        snap: &'a Snapshot,
        frontend: ProxyId,
        client_deadline: &'a Deadline,
        (peer, local): (SocketAddr, SocketAddr),
    ) -> Self {
        let fe = &snap.config.proxies[frontend];
        let logged = shard.logs(fe)
            && (fe.log_format != LogFormat::Default || fe.log_format_string.is_some());
        Self {
            private: None,
            private_in_use: None,
            shard,
            snap,
            counters: snap.shard_counters(shard.id),
            fe,
            backend: None,
            server: None,
            client_deadline,
            peer,
            local,
            started: Instant::now(),
            started_wall: if logged {
                SystemTime::now()
            } else {
                SystemTime::UNIX_EPOCH
            },
            timers: Timers::default(),
            retries: 0,
            status: None,
            bytes_out: 0,
            bytes_in: 0,
            response_us: None,
            request_line: None,
            termination: *b"--",
            logged,
            edit: None,
            vars: RefCell::default(),
            request_number: shard.next_request_number(),
            unique_id: None,
            extras: None,
            response_captures: RefCell::default(),
            cookie_server: None,
            forced_backend: None,
            close_after: false,
        }
    }

    /// Sends this request to `backend` whatever the frontend's switching rules say.
    pub fn to_backend(mut self, backend: ProxyId) -> Self {
        self.forced_backend = Some(backend);
        self
    }

    /// Answers 408 to a client that connected but never sent a request.
    pub async fn time_out_silent_client(self, client: &mut TcpStream) {
        self.counters.proxies[self.fe.id].requests_total.incr();
        let _ = self.fail(client, None, ProxyError::RequestTimeout).await;
    }

    /// Runs the transaction whose first bytes are (or are about to be) in `cbuf`; `private`
    /// is the client's own server connection, if it has one.
    pub async fn run(
        mut self,
        mut client: TcpStream,
        mut cbuf: Outgoing,
        private: Option<Box<PrivateConns>>,
    ) -> After {
        self.private = private;
        let mut req = match self.read_head(&mut client, &mut cbuf).await {
            Ok(Some(req)) => req,
            Ok(None) => {
                self.shard.buffers.give(cbuf);
                return After::Close;
            }
            Err(e) => {
                self.counters.proxies[self.fe.id].requests_total.incr();
                return self.fail(&mut client, Some(cbuf), e).await;
            }
        };
        if self.logged {
            self.timers.request = self.started.elapsed().as_millis() as i64;
        }
        self.counters.proxies[self.fe.id].requests_total.incr();
        if self.logged {
            self.request_line = Some(crate::state::log::request_line(req.line(cbuf.buf())));
        }
        let fe = self.fe;
        self.identify(&cbuf, &req);
        if let Some(answer) = self.monitor(&cbuf, &req) {
            return Box::pin(self.answer(client, cbuf, &req, fe, answer)).await;
        }
        if Self::has_request_rules(fe) {
            match self.request_rules(fe, &mut cbuf, &mut req) {
                Outcome::Continue => {}
                Outcome::Answer(answer) => {
                    return Box::pin(self.answer(client, cbuf, &req, fe, answer)).await
                }
                Outcome::Failed(_) => return self.rewrite_failed(client, cbuf, fe).await,
            }
        }
        let Some(backend_id) = self.choose(&cbuf, &req) else {
            return self
                .fail(&mut client, Some(cbuf), ProxyError::NoBackend)
                .await;
        };
        let be = &self.snap.config.proxies[backend_id];
        self.backend = Some(be);
        if be.id != fe.id && Self::has_request_rules(be) {
            match self.request_rules(be, &mut cbuf, &mut req) {
                Outcome::Continue => {}
                Outcome::Answer(answer) => {
                    return Box::pin(self.answer(client, cbuf, &req, be, answer)).await
                }
                Outcome::Failed(_) => return self.rewrite_failed(client, cbuf, be).await,
            }
        }
        self.log_samples(&cbuf, &req);
        if req.facts.expect_other {
            return self
                .fail(&mut client, Some(cbuf), ProxyError::Expectation)
                .await;
        }
        self.forward(client, cbuf, &req, be).await
    }

    async fn read_head(
        &mut self,
        client: &mut TcpStream,
        cbuf: &mut Outgoing,
    ) -> Result<Option<RequestHead>, ProxyError> {
        let deadline = self.fe.timeouts.request_head().map(|t| self.started + t);
        let mut framer = RequestFramer::default();
        let read = read_head(
            client,
            cbuf,
            self.client_deadline,
            usize::MAX,
            || deadline.map(|d| d.saturating_duration_since(coarse_now())),
            |buf| framer.frame(buf),
        )
        .await;
        match read {
            Ok(req) => Ok(Some(req)),
            Err(HeadError::Invalid(e)) => Err(ProxyError::BadRequest(e)),
            Err(HeadError::TooLarge) => Err(ProxyError::RequestTooLarge),
            Err(HeadError::Closed { empty: true }) => Ok(None),
            Err(HeadError::Closed { empty: false }) => {
                Err(ProxyError::ClientAborted(Phase::Request))
            }
            Err(HeadError::TimedOut) => Err(ProxyError::RequestTimeout),
        }
    }

    /// `option forwardfor` of the backend, else of the frontend.
    fn forwardfor(&self) -> Option<&'a ForwardFor> {
        // The chosen backend's (the default one's when none was chosen yet).
        let be = self.backend.or_else(|| {
            self.fe
                .default_backend
                .map(|id| &self.snap.config.proxies[id])
        });
        be.and_then(|b| b.forwardfor.as_ref())
            .or(self.fe.forwardfor.as_ref())
    }

    // Plain fns returning async blocks (here and in `finish`): an async fn keeps a second
    // copy of its arguments in its state, and this state is moved into a box per request.
    #[allow(clippy::manual_async_fn)]
    fn forward<'r>(
        mut self,
        mut client: TcpStream,
        mut cbuf: Outgoing,
        req: &'r RequestHead,
        be: &'a Proxy,
    ) -> impl Future<Output = After> + use<'a, 'r> {
        async move {
            let conn_mode = self.fe.http_conn_mode.max(be.http_conn_mode);
            let mut body = BodyProgress::new(req.body);
            let prefix = match body.advance(&cbuf.buf()[req.len..]) {
                Ok(n) => n,
                Err(_) => {
                    return self
                        .fail(&mut client, Some(cbuf), ProxyError::BadRequestBody)
                        .await
                }
            };
            let req_end = req.len + prefix;
            self.bytes_in += req_end as u64;
            let persisted = self.persistence(be, &mut cbuf, req);
            let tail_start = self.add_request_lines(&mut cbuf, req, conn_mode);
            let response_started = Cell::new(false);
            if req.facts.expect_continue && !body.is_done() && prefix == 0 && req.minor == 1 {
                // Answer 100 ourselves (the Expect line is not forwarded), as nginx does.
                let continue_line = &b"HTTP/1.1 100 Continue\r\n\r\n"[..];
                if !self.write_to_client(&mut client, continue_line).await {
                    self.shard.buffers.give(cbuf);
                    return self.end(ProxyError::ClientAborted(Phase::Request));
                }
            }
            let replayable = body.is_done() && req.method.idempotent();
            let mut sbuf = self.shard.buffers.take_response();
            let mut dispatch = Dispatch::default()
                .client(self.peer, self.local)
                .hashed(self.hash_key(be, &cbuf, req))
                .persisted(persisted)
                .private(self.private.take());
            // When the request head went out (the start of HAProxy's `Tr`); set per attempt.
            let mut sent_at: Instant;
            // Connect, send the head (and the body bytes already here), and for complete requests
            // wait for the first response bytes: a reused connection that fails before answering
            // is retried on a new one.
            let upstream = loop {
                let connected = dispatch
                    .connect(
                        self.shard,
                        self.snap,
                        be,
                        self.local.port(),
                        &mut self.timers,
                    )
                    .await;
                self.private_in_use = dispatch.private_reused;
                self.retries = dispatch.retries;
                let mut up = match connected {
                    Ok(up) => up,
                    Err(e) => {
                        self.shard.buffers.give(sbuf);
                        return self.fail(&mut client, Some(cbuf), e).await;
                    }
                };
                self.server = Some(up.slot.server);
                match &self.edit {
                    Some(edit) => {
                        let tail = tail_start..cbuf.extra_len();
                        cbuf.plan_pieces(edit.pieces(), tail, req.len..req_end);
                    }
                    None => cbuf.plan_head(req.start..req.len, &req.facts.drop, req.len..req_end),
                }
                let (sent, back) =
                    write_planned(&mut up.stream, cbuf, &up.deadline, be.timeouts.server).await;
                cbuf = back;
                sent_at = Instant::now();
                if sent.is_err() {
                    if up.reused {
                        dispatch.retry_fresh(up.slot);
                        continue;
                    }
                    self.shard.buffers.give(sbuf);
                    self.count_server_error(&up, false);
                    return self
                        .fail(
                            &mut client,
                            Some(cbuf),
                            ProxyError::ServerAborted(Phase::Connect),
                        )
                        .await;
                }
                if !body.is_done() {
                    break up;
                }
                let buf = std::mem::take(sbuf.buf_mut());
                let (outcome, back) =
                    read(&mut up.stream, buf, &up.deadline, be.timeouts.server).await;
                *sbuf.buf_mut() = back;
                match outcome {
                    ReadOutcome::Data(n) if n > 0 => break up,
                    ReadOutcome::Data(_) | ReadOutcome::Failed(_) if up.reused && replayable => {
                        sbuf.buf_mut().clear();
                        dispatch.retry_fresh(up.slot);
                    }
                    ReadOutcome::Data(_) | ReadOutcome::Failed(_) => {
                        self.shard.buffers.give(sbuf);
                        self.count_server_error(&up, true);
                        return self
                            .fail(
                                &mut client,
                                Some(cbuf),
                                ProxyError::ServerAborted(Phase::Headers),
                            )
                            .await;
                    }
                    ReadOutcome::TimedOut => {
                        self.shard.buffers.give(sbuf);
                        return self
                            .fail(
                                &mut client,
                                Some(cbuf),
                                ProxyError::ServerTimeout(Phase::Headers),
                            )
                            .await;
                    }
                }
            };
            self.private = dispatch.take_private();
            let server_counters = &self.counters.servers[be.id][upstream.slot.server];
            server_counters.sessions_total.incr();
            server_counters
                .sessions_current
                .rise(&server_counters.sessions_max);
            self.counters.proxies[be.id].sessions_total.incr();
            let request_done = Cell::new(body.is_done());
            let Upstream {
                stream: mut server,
                slot,
                addr,
                deadline: server_deadline,
                ..
            } = upstream;
            let shard = self.shard;
            let config = &self.snap.config;
            let error_page = |code| shard.error_page(config, be.id, code);
            // Response rules may read the method (and variables); nothing else of the request.
            let method: Vec<u8> = if self.has_response_rules(be) {
                let (buf, extra) = cbuf.parts();
                let line = match &self.edit {
                    Some(edit) => edit.line.bytes(buf, extra),
                    None => req.line(buf),
                };
                line.split(|&b| b == b' ')
                    .next()
                    .unwrap_or_default()
                    .to_vec()
            } else {
                Vec::new()
            };
            let vars = std::mem::take(&mut self.vars);
            let response_captures = std::mem::take(&mut self.response_captures);
            let response_rules = intercept::response_rules(
                self.fe,
                be,
                (self.peer, self.local),
                req.minor,
                &method,
                (&error_page, &|_: &str, _: &[String], _: &[u8]| false),
                &vars,
            );
            let plan = ResponsePlan {
                method: req.method,
                client_minor: req.minor,
                client_keep_alive: req.keep_alive
                    && conn_mode != HttpConnMode::Close
                    && !self.close_after,
                stopping: self.shard.stopping_flag(),
                request_done: &request_done,
                response_started: &response_started,
                upgrade: req.facts.upgrade,
                server_timeout: be.timeouts.server,
                client_timeout: self.fe.timeouts.client,
                head_limit: self.shard.buffers.size(),
                server_deadline: &server_deadline,
                client_deadline: self.client_deadline,
                rules: response_rules.as_ref(),
                captures: self
                    .extras
                    .as_ref()
                    .filter(|_| self.fe.captures.iter().any(|c| c.response))
                    .map(|_| (self.fe.captures.as_slice(), &response_captures)),
                cookie: self.response_cookie(be, slot.server, req),
            };
            // Pipelined bytes after this request stay in `cbuf` for the next one.
            let (relay, leftover, upload_error) = if body.is_done() {
                cbuf.buf_mut().drain(..req_end);
                let relay = relay_response(&mut server, &mut client, sbuf, &plan).await;
                (relay, Some(cbuf), None)
            } else {
                let (relay, leftover, upload_error, streams) =
                    Box::pin(self.duplex(client, server, cbuf, &mut body, &plan, be, sbuf)).await;
                let Some((c, s)) = streams else {
                    server_counters.sessions_current.add(-1);
                    return self.end(ProxyError::ClientAborted(Phase::Data));
                };
                client = c;
                server = s;
                (relay, leftover, upload_error)
            };
            server_counters.sessions_current.add(-1);
            self.response_captures = response_captures;
            self.bytes_out += relay.bytes_out;
            let done = Done {
                relay,
                leftover,
                upload_error,
                upload_finished: request_done.get(),
                sent_at,
            };
            let upstream = Upstream {
                stream: server,
                reused: false,
                slot,
                addr,
                deadline: server_deadline,
            };
            self.finish(client, upstream, done, req, be).await
        }
    }

    /// Streams a request body while the response may already be coming back (a server may
    /// answer early, or echo as it reads).
    #[allow(clippy::too_many_arguments)]
    async fn duplex(
        &mut self,
        client: TcpStream,
        server: TcpStream,
        mut cbuf: Outgoing,
        body: &mut BodyProgress,
        plan: &ResponsePlan<'_>,
        be: &Proxy,
        sbuf: Outgoing,
    ) -> (
        RelayEnd,
        Option<Outgoing>,
        Option<ProxyError>,
        Option<(TcpStream, TcpStream)>,
    ) {
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        let cvec = std::mem::take(cbuf.buf_mut());
        let (up_result, relay) = {
            let mut up = pin!(upload(
                &mut cr,
                &mut sw,
                cvec,
                body,
                (self.client_deadline, self.fe.timeouts.client),
                (plan.server_deadline, be.timeouts.server),
            ));
            let mut down = pin!(relay_response(&mut sr, &mut cw, sbuf, plan));
            let mut up_result: Option<(Result<u64, ProxyError>, Vec<u8>)> = None;
            let mut relay: Option<RelayEnd> = None;
            poll_fn(|cx| {
                if up_result.is_none() {
                    if let Poll::Ready(r) = up.as_mut().poll(cx) {
                        plan.request_done.set(r.0.is_ok());
                        up_result = Some(r);
                    }
                }
                if relay.is_none() {
                    if let Poll::Ready(r) = down.as_mut().poll(cx) {
                        relay = Some(r);
                    }
                }
                let client_failed = matches!(
                    &up_result,
                    Some((
                        Err(ProxyError::ClientAborted(_)
                            | ProxyError::ClientTimeout(_)
                            | ProxyError::BadRequestBody),
                        _
                    ))
                );
                if relay.is_some() || client_failed {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
            (up_result, relay)
        };
        let streams = match (cr.reunite(cw), sr.reunite(sw)) {
            (Ok(c), Ok(s)) => Some((c, s)),
            _ => None,
        };
        if let Some((Ok(sent), _)) = &up_result {
            self.bytes_in += sent;
        }
        let (upload_error, leftover) = match up_result {
            Some((Ok(_), vec)) => {
                *cbuf.buf_mut() = vec;
                (None, Some(cbuf))
            }
            Some((Err(e), vec)) => {
                *cbuf.buf_mut() = vec;
                self.shard.buffers.give(cbuf);
                (Some(e), None)
            }
            None => {
                // The response ended first: the rest of the request body was never read,
                // so the connection cannot carry another request. Not an error.
                self.shard.buffers.give(cbuf);
                (None, None)
            }
        };
        // The relay was stopped by a failed upload: whether part of the response already
        // went out decides between an error page and a reset.
        let relay = relay.unwrap_or(RelayEnd {
            result: Err(upload_error
                .clone()
                .unwrap_or(ProxyError::ClientAborted(Phase::Data))),
            started: plan.response_started.get(),
            bytes_out: 0,
            buf: None,
        });
        (relay, leftover, upload_error, streams)
    }

    #[allow(clippy::manual_async_fn)]
    fn finish<'r>(
        mut self,
        mut client: TcpStream,
        upstream: Upstream,
        done: Done,
        req: &'r RequestHead,
        be: &'r Proxy,
    ) -> impl Future<Output = After> + use<'a, 'r> {
        async move {
            let Done {
                relay,
                leftover,
                upload_error,
                upload_finished,
                sent_at,
            } = done;
            let Upstream {
                stream,
                slot,
                addr,
                deadline,
                ..
            } = upstream;
            let server = slot.server;
            let server_counters = &self.counters.servers[be.id][server];
            if let Some(buf) = relay.buf {
                if matches!(relay.result, Err(ProxyError::BadResponse)) {
                    self.capture(Side::Response, buf.buf(), Some(server));
                }
                self.shard.buffers.give(buf);
            }
            let relayed = match relay.result {
                Ok(relayed) => relayed,
                Err(e) => {
                    if !e.is_request_error()
                        && !matches!(
                            e,
                            ProxyError::ClientAborted(_) | ProxyError::ClientTimeout(_)
                        )
                    {
                        server_counters.response_errors.incr();
                        self.counters.proxies[be.id].response_errors.incr();
                    }
                    if let Some(buf) = leftover {
                        self.shard.buffers.give(buf);
                    }
                    if relay.started {
                        set_reset_on_close(&client);
                        return self.end(e);
                    }
                    return self.fail(&mut client, None, e).await;
                }
            };
            if relayed.denied {
                self.counters.proxies[be.id].denied_responses.incr();
                self.termination = *b"PH";
            }
            let took = relayed.head_at.duration_since(sent_at);
            self.timers.response = took.as_millis() as i64;
            self.response_us = Some(took.as_micros() as u64);
            self.shard
                .record_latency(&self.snap.config, be.id, server, took.as_micros() as u64);
            self.status = Some(relayed.status);
            server_counters.status.record(relayed.status);
            self.counters.proxies[be.id]
                .backend_status
                .record(relayed.status);
            self.counters.proxies[self.fe.id]
                .status
                .record(relayed.status);
            if relayed.upgraded {
                let mut stream = stream;
                if let Some(mut buf) = leftover {
                    // Bytes the client sent past the request (the first frames of the new
                    // protocol) belong to the tunnel.
                    let end = buf.buf().len();
                    buf.plan_body(0..end);
                    let (sent, back) =
                        write_planned(&mut stream, buf, &deadline, be.timeouts.server).await;
                    self.shard.buffers.give(back);
                    if let Err(e) = sent {
                        drop(slot);
                        return self.end(match e {
                            WriteError::TimedOut => ProxyError::ServerTimeout(Phase::Data),
                            WriteError::Failed(_) => ProxyError::ServerAborted(Phase::Data),
                        });
                    }
                }
                // The slot stays taken while the tunnel lasts: it is load on the server.
                let end = Box::pin(tunnel::relay(self.shard, client, stream, self.fe, be)).await;
                drop(slot);
                self.bytes_out += end.bytes_out;
                if let Some(e) = end.error {
                    self.termination = e.termination();
                }
                self.log();
                return After::Close;
            }
            let conn_mode = self.fe.http_conn_mode.max(be.http_conn_mode);
            let upload_ok = upload_error.is_none() && upload_finished;
            let keep_server = relayed.server_reusable
                && upload_ok
                && conn_mode == HttpConnMode::KeepAlive
                && req.minor == 1;
            let private = relayed.connection_auth
                || self.private_in_use.is_some()
                || be
                    .servers
                    .get(server)
                    .is_some_and(|s| s.send_proxy != crate::config::SendProxy::Off);
            let view = self.snap.backend(be.id);
            if let (true, Some(view)) = (keep_server && private && relayed.client_keep_alive, view)
            {
                let conns = self.private.get_or_insert_with(Box::default);
                if relayed.connection_auth {
                    conns.prefer_held();
                }
                let order = self.private_in_use.unwrap_or_else(|| conns.stamp());
                conns.keep(PrivateConn {
                    shared: Arc::clone(&view.shared),
                    server,
                    addr,
                    stream,
                    deadline,
                    order,
                });
            } else if keep_server && !private && self.shard.may_pool(self.snap, be, server, addr) {
                self.shard.conns.put(addr, stream, deadline);
            }
            drop(slot);
            if let Some(e) = &upload_error {
                self.termination = e.termination();
            }
            self.log();
            if !upload_ok || !relayed.client_keep_alive {
                if let Some(buf) = leftover {
                    self.shard.buffers.give(buf);
                }
                if upload_error.is_none() && !upload_finished {
                    // The response ended before the upload (an early 413 or 401): drain what
                    // the client is still sending so it reads the answer, not a reset.
                    let _ = lingering_close(&mut client, Vec::with_capacity(4096)).await;
                }
                return After::Close;
            }
            let pending = match leftover {
                Some(buf) if !buf.buf().is_empty() => Some(buf),
                Some(buf) => {
                    self.shard.buffers.give(buf);
                    None
                }
                None => None,
            };
            After::KeepAlive(KeepAlive {
                client,
                pending,
                private: self.private.take(),
            })
        }
    }

    /// Header lines the proxy adds to the request, ending with the blank line; they start at
    /// the returned offset of the added-lines buffer (after the lines rules wrote).
    fn add_request_lines(
        &self,
        cbuf: &mut Outgoing,
        req: &RequestHead,
        conn_mode: HttpConnMode,
    ) -> usize {
        use std::io::Write;
        if self.edit.is_none() {
            cbuf.clear_extra();
        }
        // As HAProxy, `if-none` looks at the head the rules left (they may add or remove it).
        let forwardfor = self.forwardfor().filter(|ff| {
            let ip = client_ip(self.peer);
            let excepted = ff.except.is_some_and(|net| net.contains(ip));
            let name = ff.header.as_bytes();
            let present = || {
                self.with_view(cbuf, req, |view| {
                    view.for_each_header(&mut |n, _| n.eq_ignore_ascii_case(name))
                })
            };
            !(excepted || (ff.if_none && present()))
        });
        let tail_start = cbuf.extra_len();
        if let (Some((start, end)), None) = (req.authority, &self.edit) {
            // An absolute-form target's authority replaces Host (RFC 9112 §3.2.2); a rewritten
            // head already carries it among its lines.
            cbuf.extra_mut().extend_from_slice(b"Host: ");
            cbuf.extra_from_buf(start as usize..end as usize);
            cbuf.extra_mut().extend_from_slice(b"\r\n");
        }
        let extra = cbuf.extra_mut();
        if let Some(ff) = forwardfor {
            let _ = write!(extra, "{}: {}\r\n", ff.header, client_ip(self.peer));
        }
        if req.body == BodyKind::Chunked {
            // The one coding a request may carry, in one normalised line.
            extra.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        }
        if let (Some(name), Some(id)) = (&self.fe.unique_id_header, &self.unique_id) {
            let _ = write!(extra, "{name}: {id}\r\n");
        }
        if req.facts.upgrade {
            extra.extend_from_slice(b"Connection: upgrade\r\n");
        } else if conn_mode != HttpConnMode::KeepAlive && req.minor == 1 {
            extra.extend_from_slice(b"Connection: close\r\n");
        }
        extra.extend_from_slice(b"\r\n");
        tail_start
    }

    /// Answers a rewrite that could not be made: 500, as HAProxy in strict mode.
    async fn rewrite_failed(self, mut client: TcpStream, cbuf: Outgoing, proxy: &Proxy) -> After {
        self.counters.proxies[proxy.id].failed_rewrites.incr();
        self.fail(
            &mut client,
            Some(cbuf),
            ProxyError::RewriteFailed { response: false },
        )
        .await
    }

    /// Writes all of `bytes` to the client within `timeout client`; whether it went out.
    async fn write_to_client<B: monoio::buf::IoBuf + 'static>(
        &self,
        client: &mut TcpStream,
        bytes: B,
    ) -> bool {
        let deadline = self.client_deadline;
        let (sent, _) = write_all(client, bytes, deadline, self.fe.timeouts.client).await;
        sent.is_ok()
    }

    fn count_server_error(&self, up: &Upstream, response: bool) {
        let Some(be) = self.backend else { return };
        let counters = &self.counters.servers[be.id][up.slot.server];
        if response {
            counters.response_errors.incr();
            self.counters.proxies[be.id].response_errors.incr();
        } else {
            counters.connect_errors.incr();
            self.counters.proxies[be.id].connect_errors.incr();
        }
    }

    /// Answers `error` with its error page if it has one, then closes the connection.
    async fn fail(
        self,
        client: &mut TcpStream,
        cbuf: Option<Outgoing>,
        error: ProxyError,
    ) -> After {
        // Boxed: error paths are rare, and keeping their state out of line keeps every
        // transaction's future small.
        Box::pin(self.answer_error(client, cbuf, error)).await
    }

    async fn answer_error(
        mut self,
        client: &mut TcpStream,
        cbuf: Option<Outgoing>,
        error: ProxyError,
    ) -> After {
        self.termination = error.termination();
        if error.is_request_error() {
            self.counters.proxies[self.fe.id].request_errors.incr();
        }
        if let (ProxyError::BadRequest(_) | ProxyError::RequestTooLarge, Some(buf)) =
            (&error, &cbuf)
        {
            // Before the answer goes out: whoever sees the 400 finds it in `show errors`.
            self.capture(Side::Request, buf.buf(), None);
        }
        if let Some(code) = error.status() {
            let owner = match self.backend {
                Some(be) if !error.is_request_error() => be.id,
                _ => self.fe.id,
            };
            let page = self.shard.error_page(&self.snap.config, owner, code);
            let len = page.len() as u64;
            self.status = Some(code);
            self.counters.proxies[self.fe.id].status.record(code);
            if let Some(be) = self.backend {
                if !error.is_request_error() {
                    self.counters.proxies[be.id].backend_status.record(code);
                }
            }
            if self.write_to_client(client, page).await {
                self.bytes_out += len;
                let scratch = cbuf
                    .as_ref()
                    .map(|b| Vec::with_capacity(b.buf().capacity().min(4096)))
                    .unwrap_or_else(|| Vec::with_capacity(4096));
                let _ = lingering_close(client, scratch).await;
            }
        }
        if let Some(buf) = cbuf {
            self.shard.buffers.give(buf);
        }
        self.log();
        After::Close
    }

    /// Copies the rejected head in `bytes` for `show errors`: the frontend keeps requests,
    /// the backend responses (of `server`).
    #[cold]
    fn capture(&self, side: Side, bytes: &[u8], server: Option<ServerId>) {
        let (proxy, other) = match (side, self.backend) {
            (Side::Request, backend) => (self.fe.id, backend.map(|b| b.id)),
            (Side::Response, Some(be)) => (be.id, Some(self.fe.id)),
            (Side::Response, None) => return,
        };
        if !self.shard.capture_wanted() {
            return;
        }
        let bytes = &bytes[..bytes.len().min(self.shard.buffers.size())];
        self.shard.capture_error(CapturedError {
            config: Arc::clone(&self.snap.config),
            proxy,
            side,
            other,
            server,
            when: SystemTime::now(),
            client: self.peer,
            event: 0,
            bytes: bytes.to_vec(),
            error_at: error_position(bytes, side == Side::Response),
        });
    }

    /// Ends without a response (the client is gone, or a response already started).
    fn end(mut self, error: ProxyError) -> After {
        self.termination = error.termination();
        self.log();
        After::Close
    }

    fn log(&mut self) {
        let total = self.started.elapsed();
        self.timers.total = total.as_millis() as i64;
        let frontend = &self.counters.proxies[self.fe.id];
        frontend.bytes_out.add(self.bytes_out);
        frontend.bytes_in.add(self.bytes_in);
        if let (Some(be), Some(server)) = (self.backend, self.server) {
            let server = &self.counters.servers[be.id][server];
            server.bytes_out.add(self.bytes_out);
            server.bytes_in.add(self.bytes_in);
            let backend = &self.counters.proxies[be.id];
            count_abort(self.termination, server, backend);
            // As HAProxy's time averages: only exchanges that got a response head.
            if let Some(response) = self.response_us {
                let ms = |t: i64| u64::try_from(t).unwrap_or(0) * 1000;
                let (queue, connect) = (ms(self.timers.queue), ms(self.timers.connect));
                let total = total.as_micros() as u64;
                server.times.record(queue, connect, Some(response), total);
                backend.times.record(queue, connect, Some(response), total);
            }
        }
        if !self.logged {
            return;
        }
        let event = match self.fe.log_format {
            LogFormat::Tcp => LogEvent::Tcp,
            _ => LogEvent::Http,
        };
        self.shard.log(LogRecord {
            event,
            frontend: self.fe.id,
            backend: self.backend.map(|b| b.id),
            server: self.server,
            client: self.peer,
            local: self.local,
            started: self.started_wall,
            timers: self.timers,
            status: self.status,
            bytes_out: self.bytes_out,
            termination: self.termination,
            retries: self.retries,
            request_line: self
                .request_line
                .take()
                .unwrap_or_else(|| "<BADREQ>".to_string()),
            shard: self.shard.id,
            config: Arc::clone(&self.snap.config),
            counters: self.snap.counters.clone(),
            extras: self.extras.take().map(|mut extras| {
                extras.bytes_in = self.bytes_in;
                extras.unique_id = self.unique_id.take();
                extras.request_counter = self.request_number;
                extras.response_captures = std::mem::take(self.response_captures.get_mut());
                extras
            }),
        });
    }
}

/// The client's address as users expect to see it (IPv4-mapped IPv6 shown as IPv4).
fn client_ip(peer: SocketAddr) -> IpAddr {
    match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        ip => ip,
    }
}
