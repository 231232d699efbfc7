//! Running `http-request`, `redirect` and `http-response` rules over a head under rewriting
//! ([`HeadEdit`]): conditions read the head as it is after the rules before them, actions
//! change it, and the first final action (`allow`, `deny`, `return`, `redirect`, `auth`)
//! ends the list.

use std::net::SocketAddr;

use bytes::Bytes;

use crate::config::acl::eval::{path_of, query_of};
use crate::config::acl::RequestView;
use crate::config::errorpage::reason;
use crate::config::http_rules::{
    is_managed, HttpAction, HttpRule, LinePart, Redirect, RedirectKind, Reply, ReplyBody,
};
use crate::config::logformat::FormatContext;

use super::rewrite::{check_token, check_value, HeadEdit, RewriteError};

/// The transaction's variables (`set-var`) and what `http-request capture` took.
#[derive(Debug, Default)]
pub struct Vars {
    /// Values by `SCOPE.NAME`: a handful at most, so a list.
    values: Vec<(Box<str>, Vec<u8>)>,
    /// Captured values by capture slot.
    captures: Vec<(usize, String)>,
}

impl Vars {
    /// The `http-request capture` values, by slot.
    pub fn captures(&self) -> &[(usize, String)] {
        &self.captures
    }

    fn get(&self, name: &str) -> Option<&[u8]> {
        self.values
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v.as_slice())
    }

    fn set(&mut self, name: &str, value: &[u8]) {
        match self.values.iter_mut().find(|(n, _)| &**n == name) {
            Some((_, v)) => {
                v.clear();
                v.extend_from_slice(value);
            }
            None => self.values.push((name.into(), value.to_vec())),
        }
    }

    fn unset(&mut self, name: &str) {
        self.values.retain(|(n, _)| &**n != name);
    }
}

/// What rules know of the transaction besides the head.
pub struct RuleContext<'a> {
    /// The client.
    pub peer: SocketAddr,
    /// The address it connected to.
    pub local: SocketAddr,
    /// The request's HTTP minor version.
    pub minor: u8,
    /// Proxy names for `%f`/`%b`.
    pub names: FormatContext<'a>,
    /// `Some(method)` for response rules: the request's method (its other parts are gone).
    pub response_to: Option<&'a [u8]>,
    /// The proxy whose rules run, for `auth`'s default realm.
    pub proxy_name: &'a str,
    /// The proxy's error pages by status, for `deny` and `auth`.
    pub error_page: &'a dyn Fn(u16) -> Bytes,
    /// `http_auth(LIST[, GROUPS])` of an `Authorization` value.
    pub http_auth: &'a AuthCheck<'a>,
}

/// Checks an `Authorization` value against a userlist (and groups, when any are named).
pub type AuthCheck<'f> = dyn Fn(&str, &[String], &[u8]) -> bool + 'f;

/// A head under rewriting as ACLs and sample fetches read it.
pub struct MessageView<'a> {
    buf: &'a [u8],
    extra: &'a [u8],
    edit: &'a HeadEdit,
    ctx: &'a RuleContext<'a>,
    vars: &'a Vars,
}

impl<'a> MessageView<'a> {
    /// The head `edit` (pointing into `buf` and `extra`) as rules see it.
    pub fn new(
        buf: &'a [u8],
        extra: &'a [u8],
        edit: &'a HeadEdit,
        ctx: &'a RuleContext<'a>,
        vars: &'a Vars,
    ) -> Self {
        Self {
            buf,
            extra,
            edit,
            ctx,
            vars,
        }
    }

    /// The first line's space-separated parts.
    fn part(&self, index: usize) -> &'a [u8] {
        self.edit
            .line
            .bytes(self.buf, self.extra)
            .splitn(3, |&b| b == b' ')
            .nth(index)
            .unwrap_or_default()
    }

    fn fields<'s>(&'s self, visit: &mut dyn FnMut(&'s [u8], &'s [u8]) -> bool) -> bool {
        self.edit.fields.iter().any(|f| {
            let (name, value) = f.split(self.buf, self.extra);
            visit(name, value)
        })
    }
}

impl RequestView for MessageView<'_> {
    fn method(&self) -> &[u8] {
        match self.ctx.response_to {
            Some(method) => method,
            None => self.part(0),
        }
    }

    fn uri(&self) -> &[u8] {
        match self.ctx.response_to {
            // As in HAProxy, the request is gone once the response is analysed.
            Some(_) => b"",
            None => self.part(1),
        }
    }

    fn version_minor(&self) -> u8 {
        self.ctx.minor
    }

    fn for_each_header<'s>(&'s self, visit: &mut dyn FnMut(&'s [u8], &'s [u8]) -> bool) -> bool {
        self.ctx.response_to.is_none() && self.fields(visit)
    }

    fn src(&self) -> Option<SocketAddr> {
        Some(self.ctx.peer)
    }

    fn dst(&self) -> Option<SocketAddr> {
        Some(self.ctx.local)
    }

    fn request_len(&self) -> u64 {
        0
    }

    fn is_response(&self) -> bool {
        self.ctx.response_to.is_some()
    }

    fn status(&self) -> Option<u16> {
        self.ctx.response_to?;
        std::str::from_utf8(self.part(1)).ok()?.parse().ok()
    }

    fn for_each_response_header<'s>(
        &'s self,
        visit: &mut dyn FnMut(&'s [u8], &'s [u8]) -> bool,
    ) -> bool {
        self.ctx.response_to.is_some() && self.fields(visit)
    }

    fn var(&self, name: &str) -> Option<&[u8]> {
        self.vars.get(name)
    }

    fn http_auth(&self, userlist: &str, groups: &[String]) -> bool {
        let mut value = None;
        self.for_each_header(&mut |n, v| {
            let found = n.eq_ignore_ascii_case(b"authorization");
            if found {
                value = Some(v);
            }
            found
        });
        value.is_some_and(|v| (self.ctx.http_auth)(userlist, groups, v))
    }
}

/// How a rule list ended.
#[derive(Debug)]
pub enum Outcome {
    /// Every rule ran (or `allow` stopped them): go on.
    Continue,
    /// Answer the client with this instead of going on.
    Answer(Answer),
    /// A rewrite could not be made: HAProxy answers 500 (requests) or 502 (responses).
    Failed(RewriteError),
}

/// Why ringlb answers itself, which decides the counter it goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    /// `deny`: HAProxy's denied requests (`dreq`) or responses (`dresp`).
    Denied,
    /// `return`, `redirect`: HAProxy's intercepted requests.
    Intercepted,
    /// `auth`: a challenge.
    Challenge,
}

/// A response ringlb writes itself: its head without the Connection line and the blank
/// line, which depend on what becomes of the connection.
#[derive(Debug)]
pub struct Answer {
    /// Why.
    pub kind: AnswerKind,
    /// The status code.
    pub status: u16,
    /// The status line and header lines, each ending in CRLF.
    pub head: Vec<u8>,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// The whole response: `head`, a Connection line when `close` (or keep-alive for an
    /// HTTP/1.0 client that keeps it), the blank line, the body (none for a HEAD request,
    /// whose client reads none: its next response would start inside it).
    pub fn into_bytes(self, close: bool, minor: u8, head_request: bool) -> Vec<u8> {
        let mut out = self.head;
        if close {
            out.extend_from_slice(b"connection: close\r\n");
        } else if minor == 0 {
            out.extend_from_slice(b"connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !head_request {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// Runs `rules` in order over `edit` (whose lines point into `buf` and `extra`).
pub fn run(
    rules: &[HttpRule],
    buf: &[u8],
    extra: &mut Vec<u8>,
    edit: &mut HeadEdit,
    ctx: &RuleContext<'_>,
    vars: &mut Vars,
) -> Outcome {
    let mut scratch: Vec<u8> = Vec::new();
    for rule in rules {
        let view = MessageView {
            buf,
            extra,
            edit,
            ctx,
            vars,
        };
        if let Some(condition) = &rule.condition {
            if !condition.holds(&view) {
                continue;
            }
        }
        scratch.clear();
        let applied = match &rule.action {
            HttpAction::Allow => return Outcome::Continue,
            HttpAction::Deny(reply) | HttpAction::Return(reply) => {
                let kind = if matches!(rule.action, HttpAction::Deny(_)) {
                    AnswerKind::Denied
                } else {
                    AnswerKind::Intercepted
                };
                return Outcome::Answer(reply_answer(reply, kind, &view, ctx));
            }
            HttpAction::Redirect(redirect) => match redirect_answer(redirect, &view, ctx) {
                Ok(Some(answer)) => return Outcome::Answer(answer),
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            },
            HttpAction::Auth { realm } => {
                let realm = realm.as_deref().unwrap_or(ctx.proxy_name);
                let page = (ctx.error_page)(401);
                let extra_line = format!("www-authenticate: Basic realm=\"{realm}\"\r\n");
                let mut answer = page_answer(&page, AnswerKind::Challenge, 401);
                answer.head.extend_from_slice(extra_line.as_bytes());
                return Outcome::Answer(answer);
            }
            HttpAction::SetHeader(name, value) | HttpAction::AddHeader(name, value) => {
                value.render(&view, &ctx.names, &mut scratch);
                if matches!(rule.action, HttpAction::SetHeader(..)) {
                    edit.remove(buf, extra, |n| name.matches(n) && !is_managed(n));
                }
                edit.add(extra, name.name.as_bytes(), &scratch)
            }
            HttpAction::DelHeader(name) => {
                edit.remove(buf, extra, |n| name.matches(n) && !is_managed(n));
                Ok(())
            }
            HttpAction::ReplaceHeader(name, re, value)
            | HttpAction::ReplaceValue(name, re, value) => {
                value.render(&view, &ctx.names, &mut scratch);
                let per_value = matches!(rule.action, HttpAction::ReplaceValue(..));
                replace_values(edit, buf, extra, name, re, &scratch, per_value)
            }
            HttpAction::SetLine(part, value) => {
                value.render(&view, &ctx.names, &mut scratch);
                set_line_part(edit, buf, extra, *part, &scratch)
            }
            HttpAction::ReplaceLine(part, re, value) => {
                value.render(&view, &ctx.names, &mut scratch);
                let current = line_part(&view, *part);
                match re.captures(current) {
                    Some(caps) => {
                        let mut out = Vec::new();
                        expand(&caps, &scratch, &mut out);
                        set_line_part(edit, buf, extra, *part, &out)
                    }
                    None => Ok(()),
                }
            }
            HttpAction::SetStatus { code, reason: why } => {
                let version = view.part(0).to_vec();
                let code = code.to_string();
                let why = why
                    .as_deref()
                    .unwrap_or_else(|| reason(code.parse().unwrap_or(0)));
                edit.set_line(
                    extra,
                    &[&version, b" ", code.as_bytes(), b" ", why.as_bytes()],
                )
            }
            HttpAction::SetVar(var, expr) => {
                if expr.append_to(&view, &mut scratch) {
                    vars.set(var.as_str(), &scratch);
                }
                Ok(())
            }
            HttpAction::UnsetVar(var) => {
                vars.unset(var.as_str());
                Ok(())
            }
            HttpAction::Capture { expr, len, slot } => {
                if expr.append_to(&view, &mut scratch) {
                    let value = crate::config::logfields::captured(&scratch, *len);
                    vars.captures.retain(|(s, _)| s != slot);
                    vars.captures.push((*slot, value));
                }
                Ok(())
            }
        };
        if let Err(e) = applied {
            return Outcome::Failed(e);
        }
    }
    Outcome::Continue
}

/// `replace-header` (the whole value) or `replace-value` (each comma-separated value, blanks
/// around it trimmed before matching) on every visible line named `name`.
fn replace_values(
    edit: &mut HeadEdit,
    buf: &[u8],
    extra: &mut Vec<u8>,
    name: &crate::config::http_rules::HeaderName,
    re: &regex::bytes::Regex,
    replacement: &[u8],
    per_value: bool,
) -> Result<(), RewriteError> {
    for index in 0..edit.fields.len() {
        let field = edit.fields[index];
        if field.hidden {
            continue;
        }
        let (n, value) = field.split(buf, extra);
        if !name.matches(n) {
            continue;
        }
        let mut out = Vec::new();
        let mut changed = false;
        if per_value {
            for (i, piece) in value.split(|&b| b == b',').enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                match re.captures(piece.trim_ascii()) {
                    Some(caps) => {
                        expand(&caps, replacement, &mut out);
                        changed = true;
                    }
                    None => out.extend_from_slice(piece),
                }
            }
        } else if let Some(caps) = re.captures(value) {
            expand(&caps, replacement, &mut out);
            changed = true;
        }
        if changed {
            edit.replace_value(index, buf, extra, &out)?;
        }
    }
    Ok(())
}

/// HAProxy's `exp_replace`: `replacement` with `\N` replaced by capture N.
fn expand(caps: &regex::bytes::Captures<'_>, replacement: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&c) = replacement.get(i) {
        if c == b'\\' {
            if let Some(d) = replacement.get(i + 1).filter(|d| d.is_ascii_digit()) {
                if let Some(m) = caps.get(usize::from(d - b'0')) {
                    out.extend_from_slice(m.as_bytes());
                }
                i += 2;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
}

/// The scheme and authority of an absolute-form target (empty for origin form).
fn authority_prefix(uri: &[u8]) -> &[u8] {
    if uri.first() == Some(&b'/') {
        return b"";
    }
    let Some(scheme_end) = memchr::memmem::find(uri, b"://") else {
        return b"";
    };
    let after = scheme_end + 3;
    let slash = uri
        .get(after..)
        .and_then(|rest| rest.iter().position(|&c| c == b'/' || c == b'?'))
        .map_or(uri.len(), |i| after + i);
    uri.get(..slash).unwrap_or(uri)
}

/// What `replace-path`/`replace-uri` match against.
fn line_part<'a>(view: &MessageView<'a>, part: LinePart) -> &'a [u8] {
    let uri = view.part(1);
    match part {
        LinePart::Method => view.part(0),
        LinePart::Uri => uri,
        LinePart::Path => path_of(uri).unwrap_or_default(),
        LinePart::PathQuery => uri.get(authority_prefix(uri).len()..).unwrap_or(uri),
        LinePart::Query => query_of(uri).unwrap_or_default(),
    }
}

/// Writes an absolute-form request line in origin form (`/path?query`, `/` for an empty path).
pub fn origin_form(
    edit: &mut HeadEdit,
    buf: &[u8],
    extra: &mut Vec<u8>,
) -> Result<(), RewriteError> {
    let line = edit.line.bytes(buf, extra).to_vec();
    let uri = line.splitn(3, |&b| b == b' ').nth(1).unwrap_or_default();
    let rest = uri.get(authority_prefix(uri).len()..).unwrap_or_default();
    let target: Vec<u8> = if rest.first() == Some(&b'/') {
        rest.to_vec()
    } else {
        [b"/", rest].concat()
    };
    set_line_part(edit, buf, extra, LinePart::Uri, &target)
}

/// Rewrites one part of the request line to `value`.
fn set_line_part(
    edit: &mut HeadEdit,
    buf: &[u8],
    extra: &mut Vec<u8>,
    part: LinePart,
    value: &[u8],
) -> Result<(), RewriteError> {
    let line = edit.line.bytes(buf, extra).to_vec();
    let mut words = line.splitn(3, |&b| b == b' ');
    let (method, uri, version) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    let prefix = authority_prefix(uri);
    let query = query_of(uri);
    let path = path_of(uri).unwrap_or_default();
    let mut new_uri = Vec::with_capacity(uri.len() + value.len());
    let mut new_method = method;
    match part {
        LinePart::Method => {
            check_token(value)?;
            new_method = value;
            new_uri.extend_from_slice(uri);
        }
        LinePart::Uri => new_uri.extend_from_slice(value),
        LinePart::Path => {
            new_uri.extend_from_slice(prefix);
            new_uri.extend_from_slice(value);
            if let Some(q) = query {
                new_uri.push(b'?');
                new_uri.extend_from_slice(q);
            }
        }
        LinePart::PathQuery => {
            new_uri.extend_from_slice(prefix);
            new_uri.extend_from_slice(value);
        }
        LinePart::Query => {
            new_uri.extend_from_slice(prefix);
            new_uri.extend_from_slice(path);
            // An empty query still gets its `?`, as HAProxy writes it.
            new_uri.push(b'?');
            new_uri.extend_from_slice(value);
        }
    }
    check_token(&new_uri)?;
    edit.set_line(extra, &[new_method, b" ", &new_uri, b" ", version])
}

/// `deny`/`return`: an error page, a raw errorfile, or a built response.
fn reply_answer(
    reply: &Reply,
    kind: AnswerKind,
    view: &MessageView<'_>,
    ctx: &RuleContext<'_>,
) -> Answer {
    let mut headers = Vec::new();
    for (name, value) in &reply.headers {
        let mut rendered = Vec::new();
        value.render(view, &ctx.names, &mut rendered);
        if check_value(&rendered).is_ok() {
            headers.extend_from_slice(name.as_bytes());
            headers.extend_from_slice(b": ");
            headers.extend_from_slice(&rendered);
            headers.extend_from_slice(b"\r\n");
        }
    }
    let body: Option<Bytes> = match &reply.body {
        ReplyBody::ErrorPage => {
            let page = (ctx.error_page)(reply.status);
            let mut answer = page_answer(&page, kind, reply.status);
            answer.head.extend_from_slice(&headers);
            return answer;
        }
        ReplyBody::Raw(response) => return page_answer(response, kind, reply.status),
        ReplyBody::Empty => None,
        ReplyBody::Fixed(bytes) => Some(bytes.clone()),
        ReplyBody::Format(format) => {
            let mut rendered = Vec::new();
            format.render(view, &ctx.names, &mut rendered);
            Some(Bytes::from(rendered))
        }
    };
    // A 204 or 304 has neither a body nor a Content-Length (RFC 9110 §8.6), as HAProxy sends
    // them.
    let bodiless = matches!(reply.status, 204 | 304);
    let body = if bodiless {
        Bytes::new()
    } else {
        body.unwrap_or_default()
    };
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status)).into_bytes();
    head.extend_from_slice(&headers);
    if !bodiless {
        head.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    if let Some(t) = &reply.content_type {
        head.extend_from_slice(b"content-type: ");
        head.extend_from_slice(t.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    Answer {
        kind,
        status: reply.status,
        head,
        body,
    }
}

/// A complete response (an error page or errorfile) as an answer: its head without any
/// Connection line, which the caller writes.
pub fn page_answer(page: &[u8], kind: AnswerKind, fallback_status: u16) -> Answer {
    let head_end = memchr::memmem::find(page, b"\r\n\r\n").map_or(page.len(), |i| i + 2);
    let mut head = Vec::with_capacity(head_end);
    for line in page[..head_end].split_inclusive(|&b| b == b'\n') {
        let is_connection = line
            .get(..11)
            .is_some_and(|n| n.eq_ignore_ascii_case(b"connection:"));
        if !is_connection {
            head.extend_from_slice(line);
        }
    }
    let status = page
        .get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(fallback_status);
    Answer {
        kind,
        status,
        head,
        body: Bytes::copy_from_slice(page.get(head_end + 2..).unwrap_or_default()),
    }
}

/// `redirect`: the Location HAProxy would build, or `None` for an empty one under
/// `ignore-empty`.
fn redirect_answer(
    redirect: &Redirect,
    view: &MessageView<'_>,
    ctx: &RuleContext<'_>,
) -> Result<Option<Answer>, RewriteError> {
    let mut location = Vec::new();
    let uri = view.part(1);
    // HAProxy's path for prefix and scheme redirects: the target from its path on.
    let from_path = uri.get(authority_prefix(uri).len()..).unwrap_or(uri);
    let (path, query) = match memchr::memchr(b'?', from_path) {
        Some(q) => (&from_path[..q], Some(&from_path[q..])),
        None => (from_path, None),
    };
    // As HAProxy, `append-slash` looks at the end of what was written, query included.
    let rest = |location: &mut Vec<u8>| {
        location.extend_from_slice(path);
        if let (false, Some(q)) = (redirect.drop_query, query) {
            location.extend_from_slice(q);
        }
        if redirect.append_slash && location.last() != Some(&b'/') {
            location.push(b'/');
        }
    };
    match redirect.kind {
        RedirectKind::Location => redirect.value.render(view, &ctx.names, &mut location),
        RedirectKind::Prefix => {
            let mut prefix = Vec::new();
            redirect.value.render(view, &ctx.names, &mut prefix);
            if prefix != b"/" {
                location.extend_from_slice(&prefix);
            }
            rest(&mut location);
        }
        RedirectKind::Scheme => {
            redirect.value.render(view, &ctx.names, &mut location);
            location.extend_from_slice(b"://");
            let mut host: &[u8] = b"";
            view.fields(&mut |n, v| {
                if n.eq_ignore_ascii_case(b"host") {
                    host = v;
                    return true;
                }
                false
            });
            location.extend_from_slice(host);
            rest(&mut location);
        }
    }
    if location.is_empty() && redirect.ignore_empty {
        return Ok(None);
    }
    check_value(&location)?;
    let code = redirect.code;
    let mut head = format!(
        "HTTP/1.1 {code} {}\r\ncontent-length: 0\r\nlocation: ",
        reason(code)
    )
    .into_bytes();
    head.extend_from_slice(&location);
    head.extend_from_slice(b"\r\n");
    if matches!(code, 302 | 303 | 307) {
        head.extend_from_slice(b"cache-control: no-cache\r\n");
    }
    for (cookie, clear) in [
        (&redirect.set_cookie, false),
        (&redirect.clear_cookie, true),
    ] {
        if let Some(cookie) = cookie {
            head.extend_from_slice(b"set-cookie: ");
            head.extend_from_slice(cookie.as_bytes());
            if clear {
                head.extend_from_slice(b"; Max-Age=0; Expires=Thu, 01-Jan-1970 00:00:01 GMT");
            }
            head.extend_from_slice(b"; path=/\r\n");
        }
    }
    Ok(Some(Answer {
        kind: AnswerKind::Intercepted,
        status: code,
        head,
        body: Bytes::new(),
    }))
}
