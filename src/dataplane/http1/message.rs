//! Request and response heads: parsed with httparse, checked, and reduced to what the proxy
//! needs (framing, connection intent, and the header lines it must not forward).

use super::headers::{scan, Direction, HeaderError, HeaderFacts};

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
    fn from_name(name: &str) -> Self {
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

/// Why a request head is refused (all answered 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// httparse rejected it.
    #[error("malformed request")]
    Malformed,
    /// More than `MAX_HEADERS` headers.
    #[error("too many headers")]
    TooManyHeaders,
    /// Content-Length invalid or conflicting.
    #[error("invalid Content-Length")]
    BadContentLength,
    /// Both Transfer-Encoding and Content-Length, or a coding other than chunked last,
    /// or Transfer-Encoding in HTTP/1.0.
    #[error("invalid message framing")]
    BadFraming,
    /// HTTP/1.1 without exactly one Host header.
    #[error("missing or repeated Host header")]
    BadHost,
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
    /// Length of the head, final empty line included.
    pub len: usize,
    /// Length of the request line without its line ending.
    pub line_len: usize,
    /// Length of the final empty line (2 for CRLF, 1 for a bare LF).
    pub eol_len: usize,
    /// The method.
    pub method: Method,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// How the body is delimited.
    pub body: BodyKind,
    /// Whether the client asked to keep the connection open.
    pub keep_alive: bool,
    /// Header facts (hop-by-hop lines, Expect, Upgrade, …).
    pub facts: HeaderFacts,
}

/// Parses a request head from the start of `buf`; `Ok(None)` when more bytes are needed.
/// `named` is a header whose presence is reported (for `option forwardfor if-none`).
pub fn parse_request(buf: &[u8], named: Option<&str>) -> Result<Option<RequestHead>, RequestError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::TooManyHeaders),
        Err(_) => return Err(RequestError::Malformed),
    };
    let method = Method::from_name(req.method.unwrap_or(""));
    let minor = req.version.unwrap_or(1);
    if method == Method::Connect {
        return Err(RequestError::Connect);
    }
    let facts = scan(buf, req.headers, Direction::Request, named).map_err(|e| match e {
        HeaderError::BadContentLength => RequestError::BadContentLength,
        HeaderError::TooManyHopHeaders => RequestError::TooManyHopHeaders,
    })?;
    if minor == 1 && facts.hosts != 1 {
        return Err(RequestError::BadHost);
    }
    let body = if facts.transfer_encoding {
        if minor == 0 || !facts.chunked || facts.content_length.is_some() {
            return Err(RequestError::BadFraming);
        }
        BodyKind::Chunked
    } else {
        match facts.content_length {
            Some(0) | None => BodyKind::None,
            Some(n) => BodyKind::Length(n),
        }
    };
    let keep_alive = if minor == 0 {
        facts.keep_alive && !facts.close
    } else {
        !facts.close
    };
    Ok(Some(RequestHead {
        len,
        line_len: first_line_len(buf),
        eol_len: eol_len(buf, len),
        method,
        minor,
        body,
        keep_alive,
        facts,
    }))
}

/// Why a response head is refused (answered 502).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// httparse rejected it, or it has too many headers.
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
    /// Length of the final empty line.
    pub eol_len: usize,
    /// Status code.
    pub status: u16,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// How the body is delimited.
    pub body: BodyKind,
    /// Whether the server keeps the connection open after this response.
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
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(ResponseError::Malformed),
    };
    let status = resp.code.unwrap_or(0);
    let minor = resp.version.unwrap_or(1);
    let facts = scan(buf, resp.headers, Direction::Response, None).map_err(|e| match e {
        HeaderError::BadContentLength => ResponseError::BadContentLength,
        HeaderError::TooManyHopHeaders => ResponseError::Malformed,
    })?;
    let bodiless =
        method == Method::Head || (100..200).contains(&status) || status == 204 || status == 304;
    let body = if bodiless {
        BodyKind::None
    } else if facts.transfer_encoding {
        if facts.chunked {
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
    let keep_alive = body != BodyKind::UntilClose
        && if minor == 0 {
            facts.keep_alive && !facts.close
        } else {
            !facts.close
        };
    Ok(Some(ResponseHead {
        len,
        eol_len: eol_len(buf, len),
        status,
        minor,
        body,
        keep_alive,
        facts,
    }))
}

fn first_line_len(buf: &[u8]) -> usize {
    let end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    if end > 0 && buf[end - 1] == b'\r' {
        end - 1
    } else {
        end
    }
}

fn eol_len(buf: &[u8], len: usize) -> usize {
    if len >= 2 && &buf[len - 2..len] == b"\r\n" {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str) -> Result<Option<RequestHead>, RequestError> {
        parse_request(s.as_bytes(), Some("x-forwarded-for"))
    }

    #[test]
    fn simple_get() {
        let r = req("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET")
            .unwrap()
            .unwrap();
        assert_eq!((r.len, r.line_len, r.eol_len), (28, 15, 2));
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
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n", Method::Get)
            .unwrap()
            .is_none());
    }
}
