//! The transaction's side of `http-request`, `redirect` and `http-response` rules: running
//! a proxy's request rules over the head, choosing the backend on the rewritten head, and
//! writing the answers rules give (`deny`, `return`, `redirect`, `auth`).

use std::cell::RefCell;
use std::net::SocketAddr;

use monoio::net::TcpStream;

use crate::config::acl::eval::cookie_value;
use crate::config::acl::RequestView;
use crate::config::logfields::captured;
use crate::config::logformat::FormatContext;
use crate::config::{HttpConnMode, Proxy, ProxyId};
use crate::state::log::LogExtras;

use super::super::balance::{acquire_persistent, Slot};
use super::super::body::BodyProgress;
use super::super::error::{Phase, ProxyError};
use super::super::http1::{Method, Outgoing, RequestHead};
use super::super::persist::{designated, edit_request, request_needs_edit, ResponseCookie};
use super::super::response::{last_header, ResponseRules};
use super::super::rewrite::HeadEdit;
use super::super::rules::{self, Answer, AnswerKind, MessageView, Outcome, RuleContext, Vars};
use super::super::switching::{choose_backend, HeadView};
use super::{After, KeepAlive, Transaction};
use crate::config::cookie::CookieMode;
use crate::config::ServerId;

/// What rules call back into the shard for: error pages by status, `http_auth` checks.
pub(super) type Callbacks<'c> = (&'c dyn Fn(u16) -> bytes::Bytes, &'c rules::AuthCheck<'c>);

/// The response rules of a transaction of `fe` through `be`, if either has some: the
/// backend's, then the frontend's (once for a `listen`).
pub(super) fn response_rules<'p>(
    fe: &'p Proxy,
    be: &'p Proxy,
    (peer, local): (SocketAddr, SocketAddr),
    minor: u8,
    method: &'p [u8],
    (error_page, http_auth): Callbacks<'p>,
    vars: &'p RefCell<Vars>,
) -> Option<ResponseRules<'p>> {
    let fe_rules: &[_] = if be.id == fe.id {
        &[]
    } else {
        &fe.http_response
    };
    if be.http_response.is_empty() && fe_rules.is_empty() {
        return None;
    }
    Some(ResponseRules {
        lists: [&be.http_response, fe_rules],
        ctx: RuleContext {
            peer,
            local,
            minor,
            names: FormatContext {
                frontend: &fe.name,
                backend: Some(&be.name),
                unique_id: None,
                request_counter: 0,
            },
            response_to: Some(method),
            proxy_name: &be.name,
            error_page,
            http_auth,
        },
        vars,
    })
}

impl<'a> Transaction<'a> {
    /// Before any rule, as HAProxy: the unique id (`unique-id-format`) and, for the log, the
    /// `capture request header` values (the last line of each name, cut at its length).
    pub(super) fn identify(&mut self, cbuf: &Outgoing, req: &RequestHead) {
        let fe = self.fe;
        let extras = self.logged && (fe.log_format_string.is_some() || !fe.captures.is_empty());
        if fe.unique_id_format.is_none() && !extras {
            return;
        }
        if let Some(format) = &fe.unique_id_format {
            let view = HeadView::new(cbuf.buf(), req, self.peer, self.local);
            let context = FormatContext {
                frontend: &fe.name,
                backend: None,
                unique_id: None,
                request_counter: self.request_number,
            };
            let mut id = Vec::new();
            format.render(&view, &context, &mut id);
            self.unique_id = Some(String::from_utf8_lossy(&id).into_owned());
        }
        if extras {
            let head = cbuf.buf().get(req.start..req.len).unwrap_or_default();
            let request_captures = fe
                .captures
                .iter()
                .filter(|c| !c.response)
                .map(|c| match c.from_rule {
                    true => String::new(),
                    false => captured(
                        last_header(head, c.name.as_bytes()).unwrap_or_default(),
                        c.len,
                    ),
                })
                .collect();
            self.extras = Some(Box::new(LogExtras {
                request_captures,
                ..LogExtras::default()
            }));
        }
    }

    /// Evaluates the frontend's `log-format` samples over the head as the rules left it (the
    /// head is gone by the time the line is written, on the logger thread).
    pub(super) fn log_samples(&mut self, cbuf: &Outgoing, req: &RequestHead) {
        // `http-request capture` values, now that every request rule ran.
        if let Some(extras) = &mut self.extras {
            for (slot, value) in self.vars.borrow().captures() {
                if let Some(place) = extras.request_captures.get_mut(*slot) {
                    place.clone_from(value);
                }
            }
        }
        let Some(format) = self.fe.log_format_string.as_ref().filter(|_| self.logged) else {
            return;
        };
        let mut samples = Vec::new();
        let mut value = Vec::new();
        let mut eval = |view: &dyn RequestView| {
            for expr in format.samples() {
                value.clear();
                let found = expr.append_to(view, &mut value);
                samples.push(found.then(|| String::from_utf8_lossy(&value).into_owned()));
            }
        };
        self.with_view(cbuf, req, |view| eval(view));
        if let Some(extras) = &mut self.extras {
            extras.samples = samples;
        }
    }

    /// HAProxy's `monitor-uri`: the frontend's 200 page for a request of exactly that target.
    pub(super) fn monitor(&self, cbuf: &Outgoing, req: &RequestHead) -> Option<Answer> {
        let uri = self.fe.extras.monitor_uri.as_deref()?;
        let target = req.line(cbuf.buf()).split(|&b| b == b' ').nth(1)?;
        if target != uri.as_bytes() {
            return None;
        }
        let page = self.shard.error_page(&self.snap.config, self.fe.id, 200);
        Some(rules::page_answer(&page, AnswerKind::Intercepted, 200))
    }

    /// Whether `proxy` has request rules to run.
    pub(super) fn has_request_rules(proxy: &Proxy) -> bool {
        !proxy.http_request.is_empty() || !proxy.redirects.is_empty()
    }

    /// The rule context of `proxy` for this transaction.
    fn rule_context<'c>(
        &'c self,
        proxy: &'c Proxy,
        minor: u8,
        (error_page, http_auth): Callbacks<'c>,
        response_to: Option<&'c [u8]>,
    ) -> RuleContext<'c> {
        RuleContext {
            peer: self.peer,
            local: self.local,
            minor,
            names: FormatContext {
                frontend: &self.fe.name,
                backend: self.backend.map(|b| b.name.as_str()),
                unique_id: self.unique_id.as_deref(),
                request_counter: self.request_number,
            },
            response_to,
            proxy_name: &proxy.name,
            error_page,
            http_auth,
        }
    }

    /// The head under rewriting, built from the receive buffer on first use. A new one
    /// starts with an empty side buffer: what an earlier request of a pipelined batch wrote
    /// there is gone, and would count against this one's limit.
    fn take_edit(&mut self, cbuf: &mut Outgoing, req: &RequestHead) -> HeadEdit {
        if let Some(edit) = self.edit.take() {
            return edit;
        }
        cbuf.clear_extra();
        let limit = self.shard.buffers.size();
        let mut edit = HeadEdit::new(
            cbuf.buf(),
            req.start..req.len,
            req.line_len,
            &req.facts.drop,
            limit,
        );
        if let Some((start, end)) = req.authority {
            // An absolute-form target: rules see (and may change) the Host the server gets,
            // the authority, and the target goes out in origin form, so that a rewritten Host
            // cannot disagree with it. The client's own Host lines stay hidden.
            let (buf, extra) = cbuf.split_mut();
            let authority = buf.get(start as usize..end as usize).unwrap_or_default();
            // Only a full side buffer can fail here; the request then goes as the client sent it.
            let _ = edit
                .add(extra, b"Host", authority)
                .and_then(|()| rules::origin_form(&mut edit, buf, extra));
        }
        edit
    }

    /// `http_auth(LIST[, GROUPS])` against this shard's verdicts under this configuration.
    fn auth_check(&self) -> impl Fn(&str, &[String], &[u8]) -> bool + 'a {
        let (shard, config) = (self.shard, &self.snap.config);
        move |list, groups, value| {
            shard
                .credentials
                .borrow_mut()
                .check(config, list, groups, value)
        }
    }

    /// Runs `proxy`'s `http-request` rules, then its `redirect` rules, over the request head
    /// (building the editable head on first use). A rewritten method is read back into `req`.
    pub(super) fn request_rules(
        &mut self,
        proxy: &'a Proxy,
        cbuf: &mut Outgoing,
        req: &mut RequestHead,
    ) -> Outcome {
        let mut edit = self.take_edit(cbuf, req);
        let (buf, extra) = cbuf.split_mut();
        let (shard, config) = (self.shard, &self.snap.config);
        let error_page = |code| shard.error_page(config, proxy.id, code);
        let http_auth = self.auth_check();
        let mut vars = std::mem::take(&mut self.vars);
        let outcome = {
            let ctx = self.rule_context(proxy, req.minor, (&error_page, &http_auth), None);
            match rules::run(
                &proxy.http_request,
                buf,
                extra,
                &mut edit,
                &ctx,
                vars.get_mut(),
            ) {
                Outcome::Continue => rules::run(
                    &proxy.redirects,
                    buf,
                    extra,
                    &mut edit,
                    &ctx,
                    vars.get_mut(),
                ),
                other => other,
            }
        };
        self.vars = vars;
        let method = edit.line.bytes(buf, extra).split(|&b| b == b' ').next();
        let before = req.method;
        req.method =
            Method::from_name(std::str::from_utf8(method.unwrap_or_default()).unwrap_or(""));
        if (before == Method::Head) != (req.method == Method::Head) {
            // The server answers the new method, the client expects an answer to its own:
            // whether a body follows differs, so the connection ends after this response.
            self.close_after = true;
        }
        self.edit = Some(edit);
        outcome
    }

    /// The backend for the request: `use_backend` rules over the head as rules left it.
    pub(super) fn choose(&self, cbuf: &Outgoing, req: &RequestHead) -> Option<ProxyId> {
        if let Some(backend) = self.forced_backend {
            return Some(backend);
        }
        if self.fe.switching.is_empty() {
            return self.fe.default_backend;
        }
        self.with_view(cbuf, req, |view| {
            choose_backend(&self.snap.config, self.fe, view)
        })
    }

    /// Calls `f` with the request head as ACLs see it now: the receive buffer as read, or
    /// the head as rules rewrote it (with their variables and `http_auth`).
    pub(super) fn with_view<R>(
        &self,
        cbuf: &Outgoing,
        req: &RequestHead,
        f: impl FnOnce(&dyn RequestView) -> R,
    ) -> R {
        match &self.edit {
            None => f(&HeadView::new(cbuf.buf(), req, self.peer, self.local)),
            Some(edit) => {
                let (buf, extra) = cbuf.parts();
                let no_page = |_| bytes::Bytes::new();
                let http_auth = self.auth_check();
                let ctx = self.rule_context(self.fe, req.minor, (&no_page, &http_auth), None);
                let vars = self.vars.borrow();
                f(&MessageView::new(buf, extra, edit, &ctx, &vars))
            }
        }
    }

    /// Cookie persistence: the server the request's cookie designates, if it may take the
    /// request (its slot); the cookie as the server must see it (`indirect`, `prefix`).
    pub(super) fn persistence(
        &mut self,
        be: &Proxy,
        cbuf: &mut Outgoing,
        req: &RequestHead,
    ) -> Option<Slot> {
        let settings = be.cookie.as_ref()?;
        let server = self.with_view(cbuf, req, |view| {
            cookie_value(view, settings.name.as_bytes()).map(|v| designated(be, settings, v))
        })?;
        self.cookie_server = server;
        if request_needs_edit(settings) {
            let mut edit = self.take_edit(cbuf, req);
            let (buf, extra) = cbuf.split_mut();
            // A cookie that cannot be rewritten (the head is full) goes as it came.
            let _ = edit_request(settings, &mut edit, buf, extra);
            self.edit = Some(edit);
        }
        let server = server?;
        let view = self.snap.backend(be.id)?;
        let allow_down = be.persist
            || (!be.force_persist.is_empty()
                && self.with_view(cbuf, req, |v| be.force_persist.iter().any(|c| c.holds(v))));
        acquire_persistent(be, view, server, allow_down)
    }

    /// The balancing hash of the request for `be` (hash algorithms only), read from the head
    /// as rules left it.
    pub(super) fn hash_key(&self, be: &Proxy, cbuf: &Outgoing, req: &RequestHead) -> Option<u32> {
        self.with_view(cbuf, req, |view| {
            super::super::hashkey::request_hash(be, view)
        })
    }

    /// What cookie persistence does to the response `server` sends: in insert mode, a cookie
    /// for a client whose request did not name this server (only for a POST with
    /// `postonly`); in rewrite and prefix modes, the server's own cookie rewritten.
    pub(super) fn response_cookie<'p>(
        &self,
        be: &'p Proxy,
        server: ServerId,
        req: &RequestHead,
    ) -> Option<ResponseCookie<'p>> {
        let settings = be.cookie.as_deref()?;
        if settings.mode == CookieMode::Passive {
            return None;
        }
        let value = be.servers.get(server)?.cookie.as_deref();
        Some(ResponseCookie {
            settings,
            value,
            insert: self.cookie_server != Some(server)
                && (!settings.postonly || req.method == Method::Post),
            safe_method: matches!(
                req.method,
                Method::Get | Method::Head | Method::Options | Method::Trace
            ),
        })
    }

    /// Whether the response will go through rules (the backend's or the frontend's).
    pub(super) fn has_response_rules(&self, be: &Proxy) -> bool {
        !be.http_response.is_empty() || !self.fe.http_response.is_empty()
    }

    /// Writes `answer` for a rule of `proxy`; the connection stays open when the request
    /// (body included) is all here and the client and proxies allow keep-alive.
    pub(super) async fn answer(
        mut self,
        mut client: TcpStream,
        mut cbuf: Outgoing,
        req: &RequestHead,
        proxy: &Proxy,
        answer: Answer,
    ) -> After {
        self.log_samples(&cbuf, req);
        let counters = &self.counters.proxies;
        match answer.kind {
            AnswerKind::Denied => {
                counters[proxy.id].denied_requests.incr();
                self.termination = *b"PR";
            }
            AnswerKind::Intercepted => {
                counters[self.fe.id].intercepted.incr();
                self.termination = *b"LR";
            }
            AnswerKind::Challenge => self.termination = *b"PR",
        }
        let mut body = BodyProgress::new(req.body);
        let complete = body
            .advance(cbuf.buf().get(req.len..).unwrap_or_default())
            .ok()
            .filter(|_| body.is_done());
        let conn_mode = self.backend.map_or(self.fe.http_conn_mode, |b| {
            b.http_conn_mode.max(self.fe.http_conn_mode)
        });
        let keep_alive = complete.is_some()
            && !self.close_after
            && req.keep_alive
            && conn_mode != HttpConnMode::Close
            && !self.shard.stopping_flag().get();
        self.status = Some(answer.status);
        counters[self.fe.id].status.record(answer.status);
        let bytes = answer.into_bytes(!keep_alive, req.minor, req.method == Method::Head);
        let len = bytes.len() as u64;
        if !self.write_to_client(&mut client, bytes).await {
            self.shard.buffers.give(cbuf);
            return self.end(ProxyError::ClientAborted(Phase::Request));
        }
        self.bytes_out += len;
        let req_end = req.len + complete.unwrap_or(0);
        self.bytes_in += req_end as u64;
        self.log();
        let Some(_) = complete.filter(|_| keep_alive) else {
            let scratch = Vec::with_capacity(4096);
            self.shard.buffers.give(cbuf);
            let _ = super::super::io::lingering_close(&mut client, scratch).await;
            return After::Close;
        };
        cbuf.buf_mut().drain(..req_end);
        let pending = if cbuf.buf().is_empty() {
            self.shard.buffers.give(cbuf);
            None
        } else {
            Some(cbuf)
        };
        After::KeepAlive(KeepAlive {
            client,
            pending,
            private: self.private.take(),
        })
    }
}
