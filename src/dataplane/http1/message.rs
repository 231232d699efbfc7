//! Request and response heads: parsed with httparse, checked, and reduced to what the proxy
//! needs (framing, connection intent, and the header lines it must not forward).

use super::headers::{scan, Direction, HeaderError, HeaderFacts, Spans};
use super::scan::{leading_empty_lines, HeadEnd, HeadFault, HeadScanner};

/// Most header lines in one head (HAProxy's `tune.http.maxhdr` is 101).
pub const MAX_HEADERS: usize = 101;

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the sender closes (responses only).
    UntilClose,
}

/// Request methods the proxy treats specially.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// HEAD: the response has no body.
    Head,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
    /// OPTIONS.
    Options,
    /// TRACE.
    Trace,
    /// CONNECT (not proxied).
    Connect,
    /// Anything else.
    Other,
}

impl Method {
    /// The method of this name (`Other` for any unknown one).
    pub fn from_name(name: &str) -> Self {
        match name {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "TRACE" => Method::Trace,
            "CONNECT" => Method::Connect,
            _ => Method::Other,
        }
    }

    /// Whether replaying the request after a failed send is safe (RFC 9110 §9.2.2).
    pub fn idempotent(self) -> bool {
        matches!(
            self,
            Method::Get
                | Method::Head
                | Method::Put
                | Method::Delete
                | Method::Options
                | Method::Trace
        )
    }
}

/// Why a request head is refused (answered 400, or 501 for an unsupported coding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// httparse rejected it.
    #[error("malformed request")]
    Malformed,
    /// A line ends in a bare LF.
    #[error("line ending without CR")]
    BareLf,
    /// More than `MAX_HEADERS` headers.
    #[error("too many headers")]
    TooManyHeaders,
    /// Content-Length invalid or conflicting.
    #[error("invalid Content-Length")]
    BadContentLength,
    /// Transfer-Encoding that is not exactly one `chunked`, or with Content-Length, or in
    /// HTTP/1.0.
    #[error("invalid message framing")]
    BadFraming,
    /// A transfer coding other than `chunked` (answered 501).
    #[error("unsupported transfer coding")]
    UnsupportedCoding,
    /// Not exactly one Host header in HTTP/1.1, or more than one in HTTP/1.0.
    #[error("missing or repeated Host header")]
    BadHost,
    /// An absolute-form target whose authority is not the Host header's value: which one
    /// names the site would depend on who reads it (HAProxy answers 400 too).
    #[error("Host header differs from the target's authority")]
    HostMismatch,
    /// A request target that is neither origin-form, `*` for OPTIONS, nor an http(s) URI
    /// with an authority and no user info.
    #[error("invalid request target")]
    BadTarget,
    /// CONNECT is not proxied.
    #[error("CONNECT is not supported")]
    Connect,
    /// Too many hop-by-hop headers.
    #[error("too many hop-by-hop headers")]
    TooManyHopHeaders,
}

/// A parsed request head.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// Empty lines before the request line (skipped, never forwarded).
    pub start: usize,
    /// End of the head, final empty line included, from the start of the buffer.
    pub len: usize,
    /// Length of the request line without its CRLF.
    pub line_len: usize,
    /// The method.
    pub method: Method,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// How the body is delimited.
    pub body: BodyKind,
    /// Whether the client asked to keep the connection open.
    pub keep_alive: bool,
    /// The authority of an absolute-form target: it replaces the Host header upstream.
    pub authority: Option<(u32, u32)>,
    /// Header facts (hop-by-hop lines, Expect, Upgrade, …); `facts.drop` also holds the
    /// lines ringlb replaces (Transfer-Encoding, and Host under an absolute-form target).
    pub facts: HeaderFacts,
}

impl RequestHead {
    /// The request line, without its CRLF.
    pub fn line<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        &buf[self.start..self.start + self.line_len]
    }
}

/// Finds a request head as its bytes arrive: skips leading empty lines, then scans for the
/// end of the head where the previous call stopped.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFramer {
    skip: usize,
    started: bool,
    scanner: HeadScanner,
}

impl RequestFramer {
    /// Looks at every byte read so far; `Ok(Some(head))` once a whole head is there.
    pub fn frame(&mut self, buf: &[u8]) -> Result<Option<RequestHead>, RequestError> {
        if !self.started {
            self.skip += leading_empty_lines(&buf[self.skip..]);
            let rest = &buf[self.skip..];
            if rest.is_empty() || rest == b"\r" {
                return Ok(None);
            }
            self.started = true;
        }
        match self.scanner.scan(&buf[self.skip..]) {
            HeadEnd::Partial => Ok(None),
            HeadEnd::Fault(HeadFault::BareLf) => Err(RequestError::BareLf),
            HeadEnd::Fault(HeadFault::EmptyFirstLine) => Err(RequestError::Malformed),
            HeadEnd::Complete(len) => {
                parse_request_head(&buf[..self.skip + len], self.skip).map(Some)
            }
        }
    }
}

/// Parses a request head from the start of `buf`; `Ok(None)` when more bytes are needed.
pub fn parse_request(buf: &[u8]) -> Result<Option<RequestHead>, RequestError> {
    RequestFramer::default().frame(buf)
}

/// Parses the complete head `buf[start..]` (its CRLF line endings already checked).
fn parse_request_head(buf: &[u8], start: usize) -> Result<RequestHead, RequestError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&buf[start..]) {
        Ok(httparse::Status::Complete(len)) if start + len == buf.len() => {}
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::TooManyHeaders),
        _ => return Err(RequestError::Malformed),
    }
    let method = Method::from_name(req.method.unwrap_or(""));
    let minor = req.version.unwrap_or(1);
    if method == Method::Connect {
        return Err(RequestError::Connect);
    }
    let mut facts = scan(buf, req.headers, Direction::Request).map_err(|e| match e {
        HeaderError::BadContentLength => RequestError::BadContentLength,
        HeaderError::TooManyHopHeaders => RequestError::TooManyHopHeaders,
    })?;
    if (minor == 1 && facts.hosts != 1) || facts.hosts > 1 {
        return Err(RequestError::BadHost);
    }
    let target = req.path.unwrap_or("");
    let authority = authority(buf, target, method)?;
    let body = if facts.transfer_encoding {
        let c = facts.codings;
        if minor == 0 || facts.content_length.is_some() {
            return Err(RequestError::BadFraming);
        }
        if c.lines != 1 || c.malformed || c.chunked != 1 || !c.last_chunked {
            return Err(RequestError::BadFraming);
        }
        if c.others {
            return Err(RequestError::UnsupportedCoding);
        }
        BodyKind::Chunked
    } else {
        match facts.content_length {
            Some(0) | None => BodyKind::None,
            Some(n) => BodyKind::Length(n),
        }
    };
    // ringlb sends its own Transfer-Encoding line, and a Host for an absolute target that
    // came without one (HTTP/1.0). An absolute target whose authority differs from Host is
    // refused, as HAProxy does: rules and servers could otherwise read two different sites.
    let mut replaced = Spans::default();
    for &span in facts.te_lines.as_slice() {
        replaced.push(span.0 as usize, span.1 as usize);
    }
    if let (Some((a, b)), Some(h)) = (authority, facts.host) {
        let same = buf[a as usize..b as usize]
            .eq_ignore_ascii_case(&buf[h.value.0 as usize..h.value.1 as usize]);
        if !same {
            return Err(RequestError::HostMismatch);
        }
    }
    let authority = authority.filter(|_| facts.host.is_none());
    facts.drop = facts
        .drop
        .merged(replaced.as_slice())
        .ok_or(RequestError::TooManyHopHeaders)?;
    let keep_alive = if minor == 0 {
        facts.keep_alive && !facts.close
    } else {
        !facts.close
    };
    Ok(RequestHead {
        start,
        len: buf.len(),
        line_len: first_line_len(&buf[start..]),
        method,
        minor,
        body,
        keep_alive,
        authority,
        facts,
    })
}

/// The authority of an absolute-form `target` as a range of `buf`; `None` for origin-form.
fn authority(buf: &[u8], target: &str, method: Method) -> Result<Option<(u32, u32)>, RequestError> {
    if target.starts_with('/') {
        return Ok(None);
    }
    if target == "*" {
        return if method == Method::Options {
            Ok(None)
        } else {
            Err(RequestError::BadTarget)
        };
    }
    let bytes = target.as_bytes();
    let after_scheme = ["http://", "https://"]
        .iter()
        .find(|scheme| {
            bytes.len() >= scheme.len()
                && bytes[..scheme.len()].eq_ignore_ascii_case(scheme.as_bytes())
        })
        .map(|scheme| scheme.len())
        .ok_or(RequestError::BadTarget)?;
    let rest = &bytes[after_scheme..];
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let auth = &rest[..end];
    if auth.is_empty() || auth.contains(&b'@') {
        return Err(RequestError::BadTarget);
    }
    let offset = auth.as_ptr() as usize - buf.as_ptr() as usize;
    Ok(Some((offset as u32, (offset + auth.len()) as u32)))
}

/// Why a response head is refused (answered 502).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// httparse rejected it, it has too many headers, a bare LF, or a malformed or
    /// repeated chunked coding.
    #[error("malformed response")]
    Malformed,
    /// Content-Length invalid or conflicting.
    #[error("invalid Content-Length in response")]
    BadContentLength,
}

/// A parsed response head.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// Length of the head, final empty line included.
    pub len: usize,
    /// Status code.
    pub status: u16,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// How the body is delimited.
    pub body: BodyKind,
    /// Whether the server connection can carry another request after this response.
    pub keep_alive: bool,
    /// Header facts.
    pub facts: HeaderFacts,
}

impl ResponseHead {
    /// An interim (1xx) response other than 101: a final one follows.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

/// Parses a response head to a `method` request; `Ok(None)` when more bytes are needed.
pub fn parse_response(buf: &[u8], method: Method) -> Result<Option<ResponseHead>, ResponseError> {
    match HeadScanner::default().scan(buf) {
        HeadEnd::Partial => Ok(None),
        HeadEnd::Fault(_) => Err(ResponseError::Malformed),
        HeadEnd::Complete(len) => parse_response_head(&buf[..len], method).map(Some),
    }
}

/// Parses the complete response head `buf` (its CRLF line endings already checked).
pub fn parse_response_head(buf: &[u8], method: Method) -> Result<ResponseHead, ResponseError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len == buf.len() => {}
        _ => return Err(ResponseError::Malformed),
    }
    let status = resp.code.unwrap_or(0);
    // RFC 9110 §15: only 100–599 are status codes (httparse reads `020` as 20).
    if !(100..=599).contains(&status) {
        return Err(ResponseError::Malformed);
    }
    let minor = resp.version.unwrap_or(1);
    let facts = scan(buf, resp.headers, Direction::Response).map_err(|e| match e {
        HeaderError::BadContentLength => ResponseError::BadContentLength,
        HeaderError::TooManyHopHeaders => ResponseError::Malformed,
    })?;
    let codings = facts.codings;
    if facts.transfer_encoding && (codings.malformed || codings.chunked > 1) {
        return Err(ResponseError::Malformed);
    }
    let bodiless =
        method == Method::Head || (100..200).contains(&status) || status == 204 || status == 304;
    let body = if bodiless {
        BodyKind::None
    } else if facts.transfer_encoding {
        if codings.last_chunked {
            BodyKind::Chunked
        } else {
            BodyKind::UntilClose
        }
    } else {
        match facts.content_length {
            Some(0) => BodyKind::None,
            Some(n) => BodyKind::Length(n),
            None => BodyKind::UntilClose,
        }
    };
    // RFC 9112 §6.1 and §6.3: Transfer-Encoding in HTTP/1.0, or with Content-Length, is
    // faulty framing; the message is used, the connection is not.
    let faulty = facts.transfer_encoding && (minor == 0 || facts.content_length.is_some());
    let keep_alive = body != BodyKind::UntilClose
        && !faulty
        && if minor == 0 {
            facts.keep_alive && !facts.close
        } else {
            !facts.close
        };
    Ok(ResponseHead {
        len: buf.len(),
        status,
        minor,
        body,
        keep_alive,
        facts,
    })
}

fn first_line_len(buf: &[u8]) -> usize {
    buf.iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(buf.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str) -> Result<Option<RequestHead>, RequestError> {
        parse_request(s.as_bytes())
    }

    #[test]
    fn simple_get() {
        let r = req("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET")
            .unwrap()
            .unwrap();
        assert_eq!((r.start, r.len, r.line_len), (0, 28, 15));
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.body, BodyKind::None);
        assert!(r.keep_alive);
        assert!(req("GET /a HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
    }

    #[test]
    fn http10_keep_alive_is_opt_in() {
        assert!(!req("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap().keep_alive);
        assert!(
            req("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                .unwrap()
                .unwrap()
                .keep_alive
        );
        assert!(
            !req("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                .unwrap()
                .unwrap()
                .keep_alive
        );
    }

    #[test]
    fn bad_requests() {
        assert_eq!(
            req("GET / HTTP/1.1\r\n\r\n").unwrap_err(),
            RequestError::BadHost
        );
        assert_eq!(
            req("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").unwrap_err(),
            RequestError::BadHost
        );
        assert_eq!(
            req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap_err(),
            RequestError::BadFraming
        );
        assert_eq!(
            req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n").unwrap_err(),
            RequestError::BadFraming
        );
        assert_eq!(
            req("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap_err(),
            RequestError::BadFraming
        );
        assert_eq!(
            req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n")
                .unwrap_err(),
            RequestError::BadContentLength
        );
        assert_eq!(
            req("GET / HTTP/2.0\r\n\r\n").unwrap_err(),
            RequestError::Malformed
        );
        assert_eq!(req("GET /\r\n\r\n").unwrap_err(), RequestError::Malformed);
        assert_eq!(
            req("GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n").unwrap_err(),
            RequestError::Malformed
        );
        assert_eq!(
            req("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap_err(),
            RequestError::Connect
        );
        let many: String = (0..120).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            req(&format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n")).unwrap_err(),
            RequestError::TooManyHeaders
        );
    }

    #[test]
    fn transfer_encoding_is_exactly_one_chunked() {
        let te = |lines: &str| req(&format!("POST / HTTP/1.1\r\nHost: a\r\n{lines}\r\n"));
        for ok in [
            "Transfer-Encoding: chunked\r\n",
            "Transfer-Encoding: CHUNKED\r\n",
            "Transfer-Encoding:  chunked \r\n",
        ] {
            let r = te(ok).unwrap().unwrap();
            assert_eq!(r.body, BodyKind::Chunked, "{ok:?}");
            assert_eq!(r.facts.drop.as_slice().len(), 1, "the line is replaced");
        }
        for bad in [
            "Transfer-Encoding: chunked, chunked\r\n",
            "Transfer-Encoding: ,chunked\r\n",
            "Transfer-Encoding: chunked,\r\n",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked, gzip\r\n",
            "Transfer-Encoding: gzip\r\n",
            "Transfer-Encoding: \r\n",
            "Transfer-Encoding: chunked;x\r\n",
        ] {
            assert_eq!(te(bad).unwrap_err(), RequestError::BadFraming, "{bad:?}");
        }
        for unsupported in [
            "Transfer-Encoding: gzip, chunked\r\n",
            "Transfer-Encoding: identity, chunked\r\n",
        ] {
            assert_eq!(
                te(unsupported).unwrap_err(),
                RequestError::UnsupportedCoding,
                "{unsupported:?}"
            );
        }
    }

    #[test]
    fn bare_lf_is_refused_and_leading_empty_lines_skipped() {
        for bad in [
            "GET / HTTP/1.1\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\n\n",
            "GET / HTTP/1.1\r\nHost: a\r\n\n",
            "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            assert_eq!(req(bad).unwrap_err(), RequestError::BareLf, "{bad:?}");
        }
        let r = req("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((r.start, r.len, r.line_len), (4, 31, 14));
        assert!(req("\r\n\r").unwrap().is_none());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", Method::Get).is_err()
        );
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n", Method::Get).is_err()
        );
    }

    #[test]
    fn hosts_and_targets() {
        assert_eq!(
            req("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n").unwrap_err(),
            RequestError::BadHost
        );
        assert!(req("GET / HTTP/1.0\r\n\r\n").unwrap().is_some());
        // A Host that names another site than the target: refused, as HAProxy 2.6 does.
        let head = "GET http://Real.example:81/p?q HTTP/1.1\r\nHost: other\r\n\r\n";
        assert_eq!(req(head).unwrap_err(), RequestError::HostMismatch);
        let head = "GET http://Real.example:81/p?q HTTP/1.1\r\nHost: real.example\r\n\r\n";
        assert_eq!(
            req(head).unwrap_err(),
            RequestError::HostMismatch,
            "the port counts"
        );
        let head = "GET http://Real.example:81/p?q HTTP/1.0\r\n\r\n";
        let r = req(head).unwrap().unwrap();
        let (a, b) = r.authority.unwrap();
        assert_eq!(&head[a as usize..b as usize], "Real.example:81");
        let same = req("GET http://a/ HTTP/1.1\r\nHost: A\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(same.authority.is_none(), "a matching Host stays as it is");
        let r = req("GET HTTP://a/x HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(r.authority.is_some(), "HTTP/1.0 without Host gets one");
        for bad in [
            "GET http://user@a/ HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET http:/// HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET * HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            assert_eq!(req(bad).unwrap_err(), RequestError::BadTarget, "{bad:?}");
        }
        assert!(req("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap()
            .is_some());
    }

    #[test]
    fn the_framer_resumes_where_it_stopped() {
        let head = b"\r\nPOST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
        let mut framer = RequestFramer::default();
        for end in 0..head.len() - 3 {
            assert!(framer.frame(&head[..end]).unwrap().is_none(), "at {end}");
        }
        let r = framer.frame(head).unwrap().unwrap();
        assert_eq!((r.start, r.len), (2, head.len() - 3));
    }

    #[test]
    fn request_bodies() {
        let r = req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.body, BodyKind::Length(10));
        let r = req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.body, BodyKind::Chunked);
        let r = req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.body, BodyKind::None);
    }

    fn resp(s: &str, m: Method) -> ResponseHead {
        parse_response(s.as_bytes(), m).unwrap().unwrap()
    }

    #[test]
    fn response_framing() {
        assert_eq!(
            resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", Method::Get).body,
            BodyKind::Length(5)
        );
        assert_eq!(
            resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", Method::Head).body,
            BodyKind::None
        );
        assert_eq!(
            resp("HTTP/1.1 204 No\r\nContent-Length: 5\r\n\r\n", Method::Get).body,
            BodyKind::None
        );
        assert_eq!(
            resp("HTTP/1.1 304 NM\r\n\r\n", Method::Get).body,
            BodyKind::None
        );
        let r = resp("HTTP/1.1 200 OK\r\n\r\n", Method::Get);
        assert_eq!(r.body, BodyKind::UntilClose);
        assert!(!r.keep_alive);
        assert_eq!(
            resp(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                Method::Get
            )
            .body,
            BodyKind::Chunked
        );
        assert_eq!(
            resp(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                Method::Get
            )
            .body,
            BodyKind::UntilClose
        );
        assert!(resp("HTTP/1.1 100 Continue\r\n\r\n", Method::Post).is_interim());
        assert!(!resp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", Method::Get).keep_alive);
        assert!(
            resp(
                "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n",
                Method::Get
            )
            .keep_alive
        );
    }

    #[test]
    fn faulty_response_framing_closes_the_server_connection() {
        let r = resp(
            "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n",
            Method::Get,
        );
        assert_eq!(r.body, BodyKind::Chunked);
        assert!(!r.keep_alive, "HTTP/1.0 with Transfer-Encoding");
        let r = resp(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            Method::Get,
        );
        assert!(!r.keep_alive, "Transfer-Encoding with Content-Length");
        assert_eq!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
                Method::Get
            )
            .unwrap_err(),
            ResponseError::Malformed
        );
    }

    #[test]
    fn status_codes_are_100_to_599() {
        for bad in [
            &b"HTTP/1.1 020 OK\r\n\r\n"[..],
            b"HTTP/1.1 004 X\r\n\r\n",
            b"HTTP/1.1 600 X\r\n\r\n",
        ] {
            assert!(parse_response(bad, Method::Get).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bad_responses() {
        assert_eq!(
            parse_response(b"garbage\r\n\r\n", Method::Get).unwrap_err(),
            ResponseError::Malformed
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", Method::Get)
                .unwrap_err(),
            ResponseError::BadContentLength
        );
        assert_eq!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\t\r\n\r\n",
                Method::Get
            )
            .unwrap_err(),
            ResponseError::BadContentLength
        );
        assert!(parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding:\tchunked\r\n\r\n",
            Method::Get
        )
        .is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n", Method::Get)
            .unwrap()
            .is_none());
    }
}
