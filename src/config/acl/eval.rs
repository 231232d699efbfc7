//! Evaluating ACL conditions against a request, with HAProxy 2.6's semantics.
//!
//! The data plane implements [`RequestView`] over its parsed request head; conditions are
//! resolved once ([`CompiledCondition::compile`]) so evaluating one looks nothing up by name.
//! Fetches hand out slices of the view and most converters slice them further; only
//! converters that build new bytes (`lower`, `upper`, `host_only`, `url_dec`, `base`'s
//! concatenation) copy, into a 128-byte buffer on the stack, or onto the heap when longer;
//! `regsub` always allocates.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::{parse, AclError, AclExpr, Converter, Fetch, HdrSide, MatchMethod};
use crate::config::model::{Acl, AclRef, AclTest, Condition};

/// What ACLs may read of a request; the data plane implements it over its request head.
/// A view without an HTTP head (a connection's addresses, its raw bytes) keeps the defaults:
/// no method, target, headers or buffered bytes.
pub trait RequestView {
    /// The method as sent.
    fn method(&self) -> &[u8] {
        b""
    }
    /// The request target as sent (origin, absolute, authority or asterisk form).
    fn uri(&self) -> &[u8] {
        b""
    }
    /// The minor HTTP version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    fn version_minor(&self) -> u8;
    /// Calls `visit(name, value)` for each header line in order until it returns true;
    /// returns whether it did. Values come without surrounding blanks.
    fn for_each_header<'s>(&'s self, visit: &mut dyn FnMut(&'s [u8], &'s [u8]) -> bool) -> bool {
        let _ = visit;
        false
    }
    /// The client's address.
    fn src(&self) -> Option<SocketAddr>;
    /// The address the client connected to.
    fn dst(&self) -> Option<SocketAddr>;
    /// Bytes of the request in the buffer (`req.len`).
    fn request_len(&self) -> u64 {
        0
    }
    /// The client connection is TLS (`ssl_fc`).
    fn is_tls(&self) -> bool {
        false
    }
    /// Valid credentials of `userlist` (of one of `groups` when not empty).
    fn http_auth(&self, userlist: &str, groups: &[String]) -> bool {
        let _ = (userlist, groups);
        false
    }
    /// Whether the message under analysis is a response (what `hdr` reads).
    fn is_response(&self) -> bool {
        false
    }
    /// The response's status code, in response rules.
    fn status(&self) -> Option<u16> {
        None
    }
    /// As [`RequestView::for_each_header`], over the response's headers.
    fn for_each_response_header<'s>(
        &'s self,
        visit: &mut dyn FnMut(&'s [u8], &'s [u8]) -> bool,
    ) -> bool {
        let _ = visit;
        false
    }
    /// The value of variable `name` (`txn.x`), if set.
    fn var(&self, name: &str) -> Option<&[u8]> {
        let _ = name;
        None
    }
    /// The request bytes buffered so far, unparsed (`tcp-request content` inspection);
    /// `None` where there is no such buffer.
    fn payload(&self) -> Option<&[u8]> {
        None
    }
    /// No more bytes will be waited for (the inspect delay ended, the buffer is full or the
    /// client closed): a payload fetch that finds nothing now never will.
    fn payload_final(&self) -> bool {
        true
    }
    /// Only the connection exists (`tcp-request connection`): fetches that read anything
    /// else find nothing, as HAProxy's "will never match".
    fn connection_only(&self) -> bool {
        false
    }
}

/// One line of a resolved ACL.
#[derive(Debug, Clone)]
enum AclLine {
    Expr(Arc<AclExpr>),
    Auth {
        userlist: String,
        groups: Vec<String>,
    },
}

/// A named ACL resolved: its lines, which OR together, or one anonymous expression.
#[derive(Debug, Clone)]
pub struct CompiledAcl {
    lines: Vec<AclLine>,
}

impl CompiledAcl {
    /// Resolves `name` against a proxy's `acl` lines, then HAProxy's predefined ACLs.
    pub fn named(name: &str, acls: &[Acl]) -> Result<Self, AclError> {
        let lines: Vec<AclLine> = acls
            .iter()
            .filter(|a| a.name == name)
            .map(|a| match &a.test {
                AclTest::Expr(expr) => AclLine::Expr(Arc::clone(expr)),
                AclTest::HttpAuth { userlist } => AclLine::Auth {
                    userlist: userlist.clone(),
                    groups: Vec::new(),
                },
                AclTest::HttpAuthGroup { userlist, groups } => AclLine::Auth {
                    userlist: userlist.clone(),
                    groups: groups.clone(),
                },
            })
            .collect();
        if !lines.is_empty() {
            return Ok(Self { lines });
        }
        match parse::predefined(name) {
            Some(expr) => Ok(Self {
                lines: vec![AclLine::Expr(expr)],
            }),
            None => Err(AclError::NoSuchAcl(name.to_string())),
        }
    }

    /// An anonymous `{ … }` expression.
    pub fn anonymous(expr: Arc<AclExpr>) -> Self {
        Self {
            lines: vec![AclLine::Expr(expr)],
        }
    }

    /// Whether any line matches.
    pub fn holds<V: RequestView + ?Sized>(&self, view: &V) -> bool {
        self.lines.iter().any(|line| match line {
            AclLine::Expr(expr) => expr_holds(expr, view),
            AclLine::Auth { userlist, groups } => view.http_auth(userlist, groups),
        })
    }
}

/// A condition with every ACL resolved, ready for the request path.
#[derive(Debug, Clone)]
pub struct CompiledCondition {
    unless: bool,
    any_of: Vec<Vec<(bool, Arc<CompiledAcl>)>>,
}

impl CompiledCondition {
    /// Resolves `condition`'s names against `acls` (a proxy's `acl` lines).
    pub fn compile(condition: &Condition, acls: &[Acl]) -> Result<Self, AclError> {
        let mut resolved: Vec<(&str, Arc<CompiledAcl>)> = Vec::new();
        let mut any_of = Vec::with_capacity(condition.any_of.len());
        for group in &condition.any_of {
            let mut terms = Vec::with_capacity(group.len());
            for term in group {
                let acl = match &term.acl {
                    AclRef::Named(name) => match resolved.iter().find(|(n, _)| n == name) {
                        Some((_, acl)) => Arc::clone(acl),
                        None => {
                            let acl = Arc::new(CompiledAcl::named(name, acls)?);
                            resolved.push((name, Arc::clone(&acl)));
                            acl
                        }
                    },
                    AclRef::Anonymous(expr) => Arc::new(CompiledAcl::anonymous(Arc::clone(expr))),
                };
                terms.push((term.negated, acl));
            }
            any_of.push(terms);
        }
        Ok(Self {
            unless: condition.unless,
            any_of,
        })
    }

    /// Whether the condition holds for `view` (`unless` already applied).
    pub fn holds<V: RequestView + ?Sized>(&self, view: &V) -> bool {
        let any = self.any_of.iter().any(|group| {
            group
                .iter()
                .all(|(negated, acl)| acl.holds(view) != *negated)
        });
        any != self.unless
    }
}

/// HAProxy's three-valued ACL results: fail 0, miss 1 (undecided yet), pass 3; `&` is AND,
/// `|` is OR, and `3 >> r` negates.
const FAIL: u8 = 0;
const MISS: u8 = 1;
const PASS: u8 = 3;

impl CompiledAcl {
    /// As [`CompiledAcl::holds`], or `MISS` while more buffered bytes could change it.
    fn state<V: RequestView + ?Sized>(&self, view: &V) -> u8 {
        let mut res = FAIL;
        for line in &self.lines {
            res |= match line {
                AclLine::Expr(expr) => expr_state(expr, view),
                AclLine::Auth { userlist, groups } => {
                    if view.http_auth(userlist, groups) {
                        PASS
                    } else {
                        FAIL
                    }
                }
            };
            if res == PASS {
                break;
            }
        }
        res
    }
}

impl CompiledCondition {
    /// Whether the condition holds, or `None` while it cannot be decided yet: a payload
    /// fetch lacks bytes that may still arrive (HAProxy's `ACL_TEST_MISS`, which makes a
    /// `tcp-request content` rule wait).
    pub fn decide<V: RequestView + ?Sized>(&self, view: &V) -> Option<bool> {
        let mut cond = FAIL;
        for group in &self.any_of {
            let mut suite = PASS;
            for (negated, acl) in group {
                let r = acl.state(view);
                suite &= if *negated { 3 >> r } else { r };
                if suite == FAIL {
                    break;
                }
            }
            cond |= suite;
            if cond == PASS {
                break;
            }
        }
        if cond == MISS {
            return None;
        }
        Some((cond & 1 == 1) != self.unless)
    }

    /// Whether any of its expressions reads buffered request bytes.
    pub fn reads_payload(&self) -> bool {
        self.exprs().any(|e| e.fetch.reads_payload())
    }

    fn exprs(&self) -> impl Iterator<Item = &Arc<AclExpr>> {
        self.any_of
            .iter()
            .flatten()
            .flat_map(|(_, acl)| acl.lines.iter())
            .filter_map(|l| match l {
                AclLine::Expr(e) => Some(e),
                AclLine::Auth { .. } => None,
            })
    }
}

/// One expression's three-valued result: `MISS` when nothing matched yet and a payload
/// fetch may still see more bytes.
fn expr_state<V: RequestView + ?Sized>(expr: &AclExpr, view: &V) -> u8 {
    if expr_holds(expr, view) {
        PASS
    } else if may_change(&expr.fetch, view) {
        MISS
    } else {
        FAIL
    }
}

/// Whether more buffered bytes could change what `fetch` yields.
fn may_change<V: RequestView + ?Sized>(fetch: &Fetch, view: &V) -> bool {
    use super::payload::{self as p, Peek};
    if view.payload_final() || view.connection_only() {
        return false;
    }
    let Some(buf) = view.payload() else {
        return false;
    };
    match fetch {
        Fetch::ReqLen => true,
        Fetch::Payload { offset, len } => {
            *len == 0 || matches!(p::payload(buf, *offset, *len), Peek::Short)
        }
        Fetch::PayloadLv {
            len_offset,
            len_size,
            start,
        } => matches!(
            p::payload_lv(buf, *len_offset, *len_size, *start),
            Peek::Short
        ),
        Fetch::SslHelloType => matches!(p::ssl_hello_type(buf), Peek::Short),
        Fetch::SslSni => matches!(p::ssl_sni(buf), Peek::Short),
        Fetch::RdpCookie { name } | Fetch::RdpCookieCnt { name } => {
            matches!(p::rdp_cookie(buf, name), Peek::Short)
        }
        _ => false,
    }
}

/// Appends the first value `fetch` yields, through `converters`, as text to `out`; false when
/// there is none or a converter fails.
pub fn sample_bytes<V: RequestView + ?Sized>(
    fetch: &Fetch,
    converters: &[Converter],
    view: &V,
    out: &mut Vec<u8>,
) -> bool {
    let mut found = false;
    each_sample(fetch, view, &mut |sample| {
        let mut sample = sample;
        for conv in converters {
            match convert(conv, sample) {
                Some(next) => sample = next,
                None => return true,
            }
        }
        out.extend_from_slice(sample.into_bytes().as_slice());
        found = true;
        true
    });
    found
}

/// Whether one expression matches: any fetched value, once converted, matches any pattern.
pub fn expr_holds<V: RequestView + ?Sized>(expr: &AclExpr, view: &V) -> bool {
    each_sample(&expr.fetch, view, &mut |sample| {
        let mut sample = sample;
        for conv in &expr.converters {
            match convert(conv, sample) {
                Some(next) => sample = next,
                None => return false,
            }
        }
        matches(expr, sample)
    })
}

const INLINE: usize = 128;

/// Bytes borrowed from the request, or built by a converter.
enum Bytes<'a> {
    Borrowed(&'a [u8]),
    Inline([u8; INLINE], usize),
    Heap(Vec<u8>),
}

impl<'a> Bytes<'a> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Borrowed(s) => s,
            Bytes::Inline(buf, len) => buf.get(..*len).unwrap_or(&[]),
            Bytes::Heap(v) => v,
        }
    }

    /// New bytes of at most `max` long: `fill` writes them and says how many it wrote.
    fn build(max: usize, fill: impl FnOnce(&mut [u8]) -> usize) -> Self {
        if max <= INLINE {
            let mut buf = [0u8; INLINE];
            let len = buf.get_mut(..max).map_or(0, fill).min(max);
            Bytes::Inline(buf, len)
        } else {
            let mut v = vec![0u8; max];
            let len = fill(&mut v).min(max);
            v.truncate(len);
            Bytes::Heap(v)
        }
    }

    /// The sub-range `start..end` of these bytes, without copying borrowed ones.
    fn slice(self, start: usize, end: usize) -> Self {
        match self {
            Bytes::Borrowed(s) => Bytes::Borrowed(s.get(start..end).unwrap_or(&[])),
            Bytes::Inline(mut buf, len) => {
                let end = end.min(len);
                let start = start.min(end);
                buf.copy_within(start..end, 0);
                Bytes::Inline(buf, end - start)
            }
            Bytes::Heap(mut v) => {
                let end = end.min(v.len());
                v.truncate(end);
                v.drain(..start.min(end));
                Bytes::Heap(v)
            }
        }
    }
}

/// A fetched or converted value.
enum Sample<'a> {
    Bool(bool),
    Int(i64),
    Ip(IpAddr),
    Str(Bytes<'a>),
    Meth(&'a [u8]),
}

impl<'a> Sample<'a> {
    /// The sample as a string, as HAProxy's casts write it.
    fn into_bytes(self) -> Bytes<'a> {
        match self {
            Sample::Str(b) => b,
            Sample::Meth(m) => Bytes::Borrowed(m),
            Sample::Bool(b) => Bytes::Borrowed(if b { b"1" } else { b"0" }),
            Sample::Int(v) => Bytes::build(24, |buf| write_len(buf, format_args!("{v}"))),
            Sample::Ip(ip) => Bytes::build(48, |buf| write_len(buf, format_args!("{ip}"))),
        }
    }

    /// The sample as an integer, as HAProxy's casts read it.
    fn as_int(&self) -> Option<i64> {
        match self {
            Sample::Bool(b) => Some(i64::from(*b)),
            Sample::Int(v) => Some(*v),
            Sample::Str(b) => str_to_int(b.as_slice()),
            Sample::Ip(_) | Sample::Meth(_) => None,
        }
    }
}

fn write_len(buf: &mut [u8], args: std::fmt::Arguments<'_>) -> usize {
    let total = buf.len();
    let mut cursor: &mut [u8] = buf;
    match cursor.write_fmt(args) {
        Ok(()) => total - cursor.len(),
        Err(_) => 0,
    }
}

/// A leading optionally signed decimal, as HAProxy's string-to-integer cast.
fn str_to_int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, s),
    };
    let end = digits
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let digits = digits.get(..end).filter(|d| !d.is_empty())?;
    let mut v: i64 = 0;
    for d in digits {
        v = v.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some(if neg { -v } else { v })
}

fn matches(expr: &AclExpr, sample: Sample<'_>) -> bool {
    let p = &expr.patterns;
    match expr.method {
        MatchMethod::Found => true,
        MatchMethod::Bool => match sample {
            Sample::Bool(b) => b,
            other => other.as_int().is_some_and(|v| v != 0),
        },
        MatchMethod::Int => sample.as_int().is_some_and(|v| p.match_int(v)),
        MatchMethod::Len => {
            let len = sample.into_bytes().as_slice().len();
            p.match_int(i64::try_from(len).unwrap_or(i64::MAX))
        }
        MatchMethod::Ip => match sample {
            Sample::Ip(ip) => p.match_ip(ip),
            other => std::str::from_utf8(other.into_bytes().as_slice())
                .ok()
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
                .is_some_and(|ip| p.match_ip(ip)),
        },
        MatchMethod::Meth => match sample {
            Sample::Meth(m) => p.match_method(m),
            other => p.match_method(other.into_bytes().as_slice()),
        },
        MatchMethod::Str
        | MatchMethod::Beg
        | MatchMethod::End
        | MatchMethod::Sub
        | MatchMethod::Reg
        | MatchMethod::Dom
        | MatchMethod::Dir => p.match_str(sample.into_bytes().as_slice()),
    }
}

fn convert<'a>(conv: &Converter, sample: Sample<'a>) -> Option<Sample<'a>> {
    Some(match conv {
        Converter::Bool => Sample::Bool(sample.as_int()? != 0),
        Converter::Not => Sample::Bool(sample.as_int()? == 0),
        Converter::Length => Sample::Int(i64::try_from(sample.into_bytes().as_slice().len()).ok()?),
        Converter::Lower | Converter::Upper => {
            let upper = matches!(conv, Converter::Upper);
            let bytes = sample.into_bytes();
            let s = bytes.as_slice();
            Sample::Str(Bytes::build(s.len(), |buf| {
                for (d, c) in buf.iter_mut().zip(s) {
                    *d = if upper {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    };
                }
                s.len()
            }))
        }
        Converter::HostOnly => {
            let bytes = sample.into_bytes();
            let host = host_part(bytes.as_slice());
            Sample::Str(Bytes::build(host.len(), |buf| {
                for (d, c) in buf.iter_mut().zip(host) {
                    *d = c.to_ascii_lowercase();
                }
                host.len()
            }))
        }
        Converter::PortOnly => {
            let bytes = sample.into_bytes();
            Sample::Int(port_part(bytes.as_slice()))
        }
        Converter::Field {
            index,
            delims,
            count,
        } => {
            let bytes = sample.into_bytes();
            let (start, end) = field_range(bytes.as_slice(), *index, delims, *count, false);
            Sample::Str(bytes.slice(start, end))
        }
        Converter::Word {
            index,
            delims,
            count,
        } => {
            let bytes = sample.into_bytes();
            let (start, end) = field_range(bytes.as_slice(), *index, delims, *count, true);
            Sample::Str(bytes.slice(start, end))
        }
        Converter::Ltrim(chars) => {
            let bytes = sample.into_bytes();
            let s = bytes.as_slice();
            let start = s.iter().position(|c| !chars.contains(c)).unwrap_or(s.len());
            let end = s.len();
            Sample::Str(bytes.slice(start, end))
        }
        Converter::Rtrim(chars) => {
            let bytes = sample.into_bytes();
            let s = bytes.as_slice();
            let end = s
                .iter()
                .rposition(|c| !chars.contains(c))
                .map_or(0, |i| i + 1);
            Sample::Str(bytes.slice(0, end))
        }
        Converter::UrlDec { form } => {
            let bytes = sample.into_bytes();
            let s = bytes.as_slice();
            Sample::Str(Bytes::build(s.len(), |buf| url_decode(s, *form, buf)))
        }
        Converter::Regsub {
            regex,
            replacement,
            global,
        } => {
            let bytes = sample.into_bytes();
            let s = bytes.as_slice();
            let out = if *global {
                regex.replace_all(s, replacement.as_slice())
            } else {
                regex.replace(s, replacement.as_slice())
            };
            Sample::Str(Bytes::Heap(out.into_owned()))
        }
    })
}

/// HAProxy's `field`/`word` (1-based, negative from the end, `count` 0 = the rest).
/// `word` skips empty words. Returns the byte range; empty when out of range.
fn field_range(s: &[u8], index: i32, delims: &[u8], count: i32, words: bool) -> (usize, usize) {
    // Spans of every field, on the stack-free path of two passes over the input.
    let spans = || {
        let mut start = 0;
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            let rest = s.get(start..).unwrap_or(&[]);
            let span = match rest.iter().position(|c| delims.contains(c)) {
                Some(i) => (start, start + i),
                None => {
                    done = true;
                    (start, s.len())
                }
            };
            start = span.1 + 1;
            Some(span)
        })
        .filter(move |(a, b)| !words || a != b)
    };
    let total = spans().count();
    let Ok(n) = usize::try_from(index.unsigned_abs()) else {
        return (0, 0);
    };
    if n == 0 || n > total {
        return (0, 0);
    }
    let count = usize::try_from(count.max(0)).unwrap_or(0);
    // Both directions become a first and a last field, counted from the start.
    let (first, last) = if index > 0 {
        let last = if count == 0 {
            total
        } else {
            (n + count - 1).min(total)
        };
        (n, last)
    } else {
        let last = total + 1 - n;
        let first = if count == 0 {
            1
        } else {
            last.saturating_sub(count - 1).max(1)
        };
        (first, last)
    };
    let start = spans().nth(first - 1).map_or(0, |(a, _)| a);
    let end = spans().nth(last - 1).map_or(0, |(_, b)| b);
    (start, end.max(start))
}

/// A Host value without its port (`[v6]` keeps its brackets, as HAProxy's `host_only`).
fn host_part(s: &[u8]) -> &[u8] {
    if s.first() == Some(&b'[') {
        let end = s.iter().position(|c| *c == b']').map_or(s.len(), |i| i + 1);
        return s.get(..end).unwrap_or(s);
    }
    match s.iter().rposition(|c| *c == b':') {
        Some(i) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

fn port_part(s: &[u8]) -> i64 {
    let after = if s.first() == Some(&b'[') {
        let close = s.iter().position(|c| *c == b']').map_or(s.len(), |i| i + 1);
        s.get(close..).unwrap_or(&[])
    } else {
        match s.iter().rposition(|c| *c == b':') {
            Some(i) => s.get(i..).unwrap_or(&[]),
            None => &[],
        }
    };
    after.strip_prefix(b":").and_then(str_to_int).unwrap_or(0)
}

fn url_decode(s: &[u8], form: bool, out: &mut [u8]) -> usize {
    let mut in_query = form;
    let mut n = 0;
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        let (byte, used) = match c {
            b'%' => match (s.get(i + 1).and_then(hex), s.get(i + 2).and_then(hex)) {
                (Some(h), Some(l)) => (h * 16 + l, 3),
                _ => (c, 1),
            },
            b'+' if in_query => (b' ', 1),
            b'?' => {
                in_query = true;
                (c, 1)
            }
            _ => (c, 1),
        };
        if let Some(slot) = out.get_mut(n) {
            *slot = byte;
            n += 1;
        }
        i += used;
    }
    n
}

fn hex(c: &u8) -> Option<u8> {
    (*c as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// The path of a request target: origin form up to `?`; absolute form after the authority;
/// `None` for `*`, authority form, or an absolute URI without a path.
pub fn path_of(uri: &[u8]) -> Option<&[u8]> {
    let from = if uri.first() == Some(&b'/') {
        uri
    } else {
        let scheme_end = find(uri, b"://")?;
        let after = uri.get(scheme_end + 3..)?;
        let slash = after.iter().position(|c| *c == b'/')?;
        after.get(slash..)?
    };
    let end = from.iter().position(|c| *c == b'?').unwrap_or(from.len());
    from.get(..end)
}

/// The query string: after the first `?`, `None` without one.
pub fn query_of(uri: &[u8]) -> Option<&[u8]> {
    let q = uri.iter().position(|c| *c == b'?')?;
    uri.get(q + 1..)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Calls `f` with each comma-separated value of `value` (quoted strings kept whole),
/// trimmed of blanks, until it returns true.
fn each_value<'a>(value: &'a [u8], f: &mut dyn FnMut(&'a [u8]) -> bool) -> bool {
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in value.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                if f(trim(value.get(start..i).unwrap_or(&[]))) {
                    return true;
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    f(trim(value.get(start..).unwrap_or(&[])))
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Visits the values of header `name` (every header when `None`), split at commas unless
/// `full`, until `f` returns true.
fn header_values<'a, V: RequestView + ?Sized>(
    view: &'a V,
    side: HdrSide,
    name: Option<&[u8]>,
    full: bool,
    f: &mut dyn FnMut(&'a [u8]) -> bool,
) -> bool {
    let response = match side {
        HdrSide::Contextual => view.is_response(),
        HdrSide::Request => false,
        HdrSide::Response => true,
    };
    let mut visit = |n: &'a [u8], v: &'a [u8]| {
        if name.is_some_and(|want| !n.eq_ignore_ascii_case(want)) {
            return false;
        }
        if full {
            f(trim(v))
        } else {
            each_value(v, f)
        }
    };
    if response {
        view.for_each_response_header(&mut visit)
    } else {
        view.for_each_header(&mut visit)
    }
}

/// Visits the values `occ` selects (0: all; >0 from the first; <0 from the last).
fn header_occurrences<'a, V: RequestView + ?Sized>(
    view: &'a V,
    side: HdrSide,
    name: Option<&[u8]>,
    full: bool,
    occ: i32,
    f: &mut dyn FnMut(&'a [u8]) -> bool,
) -> bool {
    if occ == 0 {
        return header_values(view, side, name, full, f);
    }
    let wanted = if occ > 0 {
        usize::try_from(occ).unwrap_or(usize::MAX)
    } else {
        let mut total = 0usize;
        header_values(view, side, name, full, &mut |_| {
            total += 1;
            false
        });
        match total.checked_sub(usize::try_from(occ.unsigned_abs()).unwrap_or(usize::MAX)) {
            Some(before) => before + 1,
            None => return false,
        }
    };
    let mut seen = 0usize;
    let mut result = false;
    header_values(view, side, name, full, &mut |v| {
        seen += 1;
        if seen == wanted {
            result = f(v);
            return true;
        }
        false
    });
    result
}

/// The value of the first cookie `name` of the request's Cookie headers (`req.cook(NAME)`).
pub fn cookie_value<'a, V: RequestView + ?Sized>(view: &'a V, name: &[u8]) -> Option<&'a [u8]> {
    let mut found = None;
    cookies(view, &mut |n, v| {
        if n == name {
            found = Some(v);
        }
        found.is_some()
    });
    found
}

/// Visits `NAME=VALUE` pairs of the Cookie headers until `f` returns true.
fn cookies<'a, V: RequestView + ?Sized>(
    view: &'a V,
    f: &mut dyn FnMut(&'a [u8], &'a [u8]) -> bool,
) -> bool {
    view.for_each_header(&mut |n, v| {
        if !n.eq_ignore_ascii_case(b"cookie") {
            return false;
        }
        v.split(|c| *c == b';').any(|pair| {
            let Some(eq) = pair.iter().position(|c| *c == b'=') else {
                return false;
            };
            let name = trim(pair.get(..eq).unwrap_or(&[]));
            let value = trim(pair.get(eq + 1..).unwrap_or(&[]));
            f(name, value)
        })
    })
}

/// Visits `url_param` values: parameters start after `?` (or `delim`) and end at `&`,
/// `;` or `delim`; values are not decoded, names compare case-sensitively.
fn url_params<'a>(
    uri: &'a [u8],
    name: Option<&[u8]>,
    delim: Option<u8>,
    f: &mut dyn FnMut(&'a [u8]) -> bool,
) -> bool {
    let is_start = |c: &u8| *c == b'?' || Some(*c) == delim;
    let Some(start) = uri.iter().position(is_start) else {
        return false;
    };
    let params = uri.get(start + 1..).unwrap_or(&[]);
    params
        .split(|c| *c == b'&' || *c == b';' || Some(*c) == delim)
        .any(|param| {
            let Some(eq) = param.iter().position(|c| *c == b'=') else {
                return false;
            };
            let key = param.get(..eq).unwrap_or(&[]);
            if name.is_some_and(|n| n != key) {
                return false;
            }
            f(param.get(eq + 1..).unwrap_or(&[]))
        })
}

const VERSIONS: [&[u8]; 10] = [
    b"1.0", b"1.1", b"1.2", b"1.3", b"1.4", b"1.5", b"1.6", b"1.7", b"1.8", b"1.9",
];

/// Calls `f` with each value the fetch yields (ACLs iterate over every occurrence) until it
/// returns true; returns whether it did. A fetch with nothing to read yields nothing.
fn each_sample<'a, V: RequestView + ?Sized>(
    fetch: &'a Fetch,
    view: &'a V,
    f: &mut dyn FnMut(Sample<'a>) -> bool,
) -> bool {
    fn str_of<'a>(s: &'a [u8], f: &mut dyn FnMut(Sample<'a>) -> bool) -> bool {
        f(Sample::Str(Bytes::Borrowed(s)))
    }
    use super::payload::{self as p, Peek};
    if view.connection_only() && !fetch.is_connection_level() {
        return false;
    }
    match fetch {
        Fetch::Payload { offset, len } => {
            match view.payload().map(|b| p::payload(b, *offset, *len)) {
                Some(Peek::Found(bytes)) => str_of(bytes, f),
                _ => false,
            }
        }
        Fetch::PayloadLv {
            len_offset,
            len_size,
            start,
        } => match view
            .payload()
            .map(|b| p::payload_lv(b, *len_offset, *len_size, *start))
        {
            Some(Peek::Found(bytes)) => str_of(bytes, f),
            _ => false,
        },
        Fetch::SslHelloType => match view.payload().map(p::ssl_hello_type) {
            Some(Peek::Found(t)) => f(Sample::Int(i64::from(t))),
            _ => false,
        },
        Fetch::SslSni => match view.payload().map(p::ssl_sni) {
            Some(Peek::Found(name)) => str_of(name, f),
            _ => false,
        },
        Fetch::RdpCookie { name } => match view.payload().map(|b| p::rdp_cookie(b, name)) {
            Some(Peek::Found(value)) => str_of(value, f),
            _ => false,
        },
        // As HAProxy: no count while the request may still be incomplete.
        Fetch::RdpCookieCnt { name } => match view.payload().map(|b| p::rdp_cookie(b, name)) {
            Some(Peek::Found(_)) => f(Sample::Int(1)),
            Some(Peek::Absent) => f(Sample::Int(0)),
            _ => false,
        },
        Fetch::ReqLen if view.payload().is_some() => f(Sample::Int(
            i64::try_from(view.payload().map_or(0, <[u8]>::len)).unwrap_or(i64::MAX),
        )),
        Fetch::AlwaysTrue | Fetch::WaitEnd | Fetch::ProtoHttp => f(Sample::Bool(true)),
        Fetch::AlwaysFalse => f(Sample::Bool(false)),
        Fetch::SslFc => f(Sample::Bool(view.is_tls())),
        Fetch::Int(v) => f(Sample::Int(*v)),
        Fetch::Str(s) => str_of(s, f),
        Fetch::Path => match path_of(view.uri()) {
            Some(p) => str_of(p, f),
            None => false,
        },
        Fetch::Url => str_of(view.uri(), f),
        Fetch::Query => match query_of(view.uri()) {
            Some(q) => str_of(q, f),
            None => false,
        },
        Fetch::Base => {
            let path = path_of(view.uri()).unwrap_or(&[]);
            let mut host: &[u8] = &[];
            header_values(view, HdrSide::Request, Some(b"host"), false, &mut |v| {
                host = v;
                true
            });
            let bytes = Bytes::build(host.len() + path.len(), |buf| {
                for (d, c) in buf.iter_mut().zip(host.iter().chain(path)) {
                    *d = *c;
                }
                host.len() + path.len()
            });
            f(Sample::Str(bytes))
        }
        Fetch::UrlParam { name, delim } => {
            url_params(view.uri(), name.as_deref(), *delim, &mut |v| str_of(v, f))
        }
        Fetch::Hdr {
            name,
            occ,
            full,
            side,
        } => header_occurrences(view, *side, name.as_deref(), *full, *occ, &mut |v| {
            str_of(v, f)
        }),
        Fetch::HdrCnt { name, full, side } => {
            let mut n = 0i64;
            header_values(view, *side, name.as_deref(), *full, &mut |_| {
                n += 1;
                false
            });
            f(Sample::Int(n))
        }
        Fetch::HdrVal { name, occ, side } => {
            header_occurrences(view, *side, name.as_deref(), false, *occ, &mut |v| {
                str_to_int(v).is_some_and(|i| f(Sample::Int(i)))
            })
        }
        Fetch::Status => view.status().is_some_and(|s| f(Sample::Int(i64::from(s)))),
        Fetch::Var(name) => match view.var(name.as_str()) {
            Some(v) => str_of(v, f),
            None => false,
        },
        Fetch::Cook { name } => cookies(view, &mut |n, v| {
            name.as_deref().is_none_or(|want| want == n) && str_of(v, f)
        }),
        Fetch::CookCnt { name } => {
            let mut count = 0i64;
            cookies(view, &mut |n, _| {
                if name.as_deref().is_none_or(|want| want == n) {
                    count += 1;
                }
                false
            });
            f(Sample::Int(count))
        }
        Fetch::Method => f(Sample::Meth(view.method())),
        Fetch::ReqVer => {
            let v = VERSIONS
                .get(usize::from(view.version_minor()))
                .copied()
                .unwrap_or(b"1.1");
            str_of(v, f)
        }
        Fetch::ReqLen => f(Sample::Int(
            i64::try_from(view.request_len()).unwrap_or(i64::MAX),
        )),
        Fetch::Src => view.src().is_some_and(|a| f(Sample::Ip(a.ip()))),
        Fetch::Dst => view.dst().is_some_and(|a| f(Sample::Ip(a.ip()))),
        Fetch::SrcPort => view
            .src()
            .is_some_and(|a| f(Sample::Int(i64::from(a.port())))),
        Fetch::DstPort => view
            .dst()
            .is_some_and(|a| f(Sample::Int(i64::from(a.port())))),
    }
}
