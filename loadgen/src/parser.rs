//! Incremental HTTP/1.1 response parser: head via `httparse`, body framing
//! (Content-Length, chunked with trailers, close-delimited, no-body responses).

/// Most headers accepted in one response head.
const MAX_HEADERS: usize = 100;
/// Longest response head (or chunk-size / trailer line) accepted, in bytes.
pub const MAX_HEAD: usize = 1 << 20;

/// The response is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub &'static str);

/// Result of feeding bytes to the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The response is complete after consuming this many bytes (the rest belongs to the next one).
    Done(usize),
    /// This many bytes were consumed; unconsumed bytes must be fed again with more data appended.
    NeedMore(usize),
}

/// Chunked-body decoder state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data with this many bytes left.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// Reading trailer lines until an empty line.
    Trailer,
}

/// Parser state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a complete response head.
    Head,
    /// Content-Length body with this many bytes left.
    Length(u64),
    /// Chunked body.
    Chunked(Chunk),
    /// Body runs until the server closes the connection.
    UntilClose,
    /// The response is complete.
    Done,
}

/// Parses one response of a request (create a new one per request).
#[derive(Debug, Clone)]
pub struct ResponseParser {
    /// The request was HEAD: the response has no body whatever its headers say.
    head_request: bool,
    /// Current state.
    state: State,
    /// Final status code (0 until the head is parsed).
    status: u16,
    /// The connection must be closed after this response.
    close: bool,
    /// Body bytes seen (excluding chunk framing).
    body_bytes: u64,
}

impl ResponseParser {
    /// A parser for the response to a request (`head_request` for HEAD).
    pub fn new(head_request: bool) -> Self {
        Self {
            head_request,
            state: State::Head,
            status: 0,
            close: false,
            body_bytes: 0,
        }
    }

    /// Final status code (valid once the response is complete).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the connection must be closed after this response.
    pub fn must_close(&self) -> bool {
        self.close
    }

    /// Number of body bytes received (without chunk framing).
    #[cfg(test)]
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// Feeds the unconsumed bytes received so far.
    pub fn feed(&mut self, data: &[u8]) -> Result<Progress, ParseError> {
        let mut off = 0;
        loop {
            let rest = &data[off..];
            match self.state {
                State::Done => return Ok(Progress::Done(off)),
                State::Head => match self.parse_head(rest)? {
                    Some(n) => off += n,
                    None => return Ok(Progress::NeedMore(off)),
                },
                State::Length(left) => {
                    let take = left.min(rest.len() as u64);
                    off += take as usize;
                    self.body_bytes += take;
                    if take == left {
                        self.state = State::Done;
                    } else {
                        self.state = State::Length(left - take);
                        return Ok(Progress::NeedMore(off));
                    }
                }
                State::UntilClose => {
                    self.body_bytes += rest.len() as u64;
                    return Ok(Progress::NeedMore(data.len()));
                }
                State::Chunked(c) => match self.chunk_step(c, rest)? {
                    Some(n) => off += n,
                    None => return Ok(Progress::NeedMore(off)),
                },
            }
        }
    }

    /// The server closed the connection: completes a close-delimited body, otherwise an error.
    pub fn eof(&mut self) -> Result<(), ParseError> {
        match self.state {
            State::UntilClose | State::Done => {
                self.state = State::Done;
                self.close = true;
                Ok(())
            }
            _ => Err(ParseError(
                "connection closed before the response was complete",
            )),
        }
    }

    /// Parses a head from `data`; returns the bytes consumed, or None if incomplete.
    fn parse_head(&mut self, data: &[u8]) -> Result<Option<usize>, ParseError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let n = match resp.parse(data) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if data.len() >= MAX_HEAD => {
                return Err(ParseError("response head too large"))
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(ParseError("malformed response head")),
        };
        let status = resp.code.unwrap_or(0);
        let http10 = resp.version == Some(0);
        let mut length: Option<u64> = None;
        let mut chunked = false;
        let mut other_te = false;
        let mut conn_close = false;
        let mut conn_keepalive = false;
        for h in resp.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let v = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .ok_or(ParseError("invalid Content-Length"))?;
                if length.is_some_and(|l| l != v) {
                    return Err(ParseError("conflicting Content-Length headers"));
                }
                length = Some(v);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                let last = h.value.rsplit(|&b| b == b',').next().unwrap_or(b"");
                chunked = trim(last).eq_ignore_ascii_case(b"chunked");
                other_te = !chunked;
            } else if h.name.eq_ignore_ascii_case("connection") {
                for tok in h.value.split(|&b| b == b',') {
                    let tok = trim(tok);
                    conn_close |= tok.eq_ignore_ascii_case(b"close");
                    conn_keepalive |= tok.eq_ignore_ascii_case(b"keep-alive");
                }
            }
        }
        if (100..200).contains(&status) && status != 101 {
            // Interim response: the final one follows.
            return Ok(Some(n));
        }
        self.status = status;
        self.close = conn_close || (http10 && !conn_keepalive);
        self.state = if status == 101 {
            self.close = true;
            State::Done
        } else if self.head_request || status == 204 || status == 304 {
            State::Done
        } else if chunked {
            State::Chunked(Chunk::Size)
        } else if other_te {
            self.close = true;
            State::UntilClose
        } else {
            match length {
                Some(0) => State::Done,
                Some(l) => State::Length(l),
                None => {
                    self.close = true;
                    State::UntilClose
                }
            }
        };
        Ok(Some(n))
    }

    /// One step of the chunked decoder; returns the bytes consumed, or None if it needs more.
    fn chunk_step(&mut self, c: Chunk, data: &[u8]) -> Result<Option<usize>, ParseError> {
        if let Chunk::Data(left) = c {
            if data.is_empty() {
                return Ok(None);
            }
            let take = left.min(data.len() as u64);
            self.body_bytes += take;
            self.state = State::Chunked(if take == left {
                Chunk::DataEnd
            } else {
                Chunk::Data(left - take)
            });
            return Ok(Some(take as usize));
        }
        let Some(nl) = data.iter().position(|&b| b == b'\n') else {
            let limit = if c == Chunk::DataEnd { 1 } else { MAX_HEAD };
            if data.len() > limit {
                return Err(ParseError("malformed chunked encoding"));
            }
            return Ok(None);
        };
        let line = data[..nl].strip_suffix(b"\r").unwrap_or(&data[..nl]);
        self.state = match c {
            Chunk::Size => match parse_chunk_size(line)? {
                0 => State::Chunked(Chunk::Trailer),
                size => State::Chunked(Chunk::Data(size)),
            },
            Chunk::DataEnd if line.is_empty() => State::Chunked(Chunk::Size),
            Chunk::DataEnd => return Err(ParseError("missing CRLF after chunk data")),
            Chunk::Trailer if line.is_empty() => State::Done,
            Chunk::Trailer => State::Chunked(Chunk::Trailer),
            Chunk::Data(_) => self.state,
        };
        Ok(Some(nl + 1))
    }
}

/// Parses a chunk-size line (hex digits, optional `;extensions`).
fn parse_chunk_size(line: &[u8]) -> Result<u64, ParseError> {
    let digits = trim(line.split(|&b| b == b';').next().unwrap_or(b""));
    if digits.is_empty() || digits.len() > 15 {
        return Err(ParseError("invalid chunk size"));
    }
    let mut size: u64 = 0;
    for &b in digits {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return Err(ParseError("invalid chunk size")),
        };
        size = (size << 4) | u64::from(d);
    }
    Ok(size)
}

/// Trims ASCII spaces and tabs on both sides.
fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `parts` as successive reads the way the client does (keeping unconsumed bytes);
    /// returns the parser, whether it completed, and the leftover bytes.
    fn run(
        head: bool,
        parts: &[&[u8]],
        eof: bool,
    ) -> (ResponseParser, Result<bool, ParseError>, Vec<u8>) {
        let mut p = ResponseParser::new(head);
        let mut buf: Vec<u8> = Vec::new();
        for part in parts {
            buf.extend_from_slice(part);
            match p.feed(&buf) {
                Ok(Progress::Done(n)) => {
                    buf.drain(..n);
                    return (p, Ok(true), buf);
                }
                Ok(Progress::NeedMore(n)) => {
                    buf.drain(..n);
                }
                Err(e) => return (p, Err(e), buf),
            }
        }
        if eof {
            let r = p.eof().map(|()| true);
            return (p, r, buf);
        }
        (p, Ok(false), buf)
    }

    #[test]
    fn content_length_in_one_read() {
        let (p, r, rest) = run(
            false,
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"],
            false,
        );
        assert_eq!(r, Ok(true));
        assert_eq!(
            (p.status(), p.must_close(), p.body_bytes()),
            (200, false, 5)
        );
        assert!(rest.is_empty());
    }

    #[test]
    fn content_length_split_everywhere() {
        let msg = b"HTTP/1.1 404 Not Found\r\ncontent-length: 10\r\nConnection: close\r\n\r\n0123456789NEXT";
        for cut in 1..msg.len() - 4 {
            let (p, r, rest) = run(false, &[&msg[..cut], &msg[cut..]], false);
            assert_eq!(r, Ok(true), "cut at {cut}");
            assert_eq!(
                (p.status(), p.must_close(), p.body_bytes()),
                (404, true, 10)
            );
            assert_eq!(rest, b"NEXT");
        }
    }

    #[test]
    fn chunked_split_across_reads() {
        let msg: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: yes\r\n\r\n";
        // Every single cut point, and byte-by-byte.
        for cut in 1..msg.len() {
            let (p, r, rest) = run(false, &[&msg[..cut], &msg[cut..]], false);
            assert_eq!(r, Ok(true), "cut at {cut}");
            assert_eq!(p.body_bytes(), 21);
            assert!(rest.is_empty());
        }
        let bytes: Vec<&[u8]> = msg.chunks(1).collect();
        let (p, r, _) = run(false, &bytes, false);
        assert_eq!((r, p.body_bytes(), p.must_close()), (Ok(true), 21, false));
    }

    #[test]
    fn chunked_incomplete_then_eof_is_error() {
        let (_, r, _) = run(
            false,
            &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"],
            true,
        );
        assert!(r.is_err());
    }

    #[test]
    fn bad_chunk_size_is_parse_error() {
        let (_, r, _) = run(
            false,
            &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"],
            false,
        );
        assert!(r.is_err());
        let (_, r, _) = run(
            false,
            &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY"],
            false,
        );
        assert!(r.is_err());
    }

    #[test]
    fn close_delimited() {
        let (p, r, _) = run(false, &[b"HTTP/1.1 200 OK\r\n\r\nsome", b" body"], false);
        assert_eq!(r, Ok(false));
        assert_eq!(p.body_bytes(), 9);
        let (p, r, _) = run(false, &[b"HTTP/1.0 200 OK\r\n\r\nsome", b" body"], true);
        assert_eq!(r, Ok(true));
        assert!(p.must_close());
        assert_eq!(p.body_bytes(), 9);
    }

    #[test]
    fn head_and_bodiless_statuses() {
        let (p, r, _) = run(
            true,
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"],
            false,
        );
        assert_eq!((r, p.body_bytes(), p.must_close()), (Ok(true), 0, false));
        for code in ["204 No Content", "304 Not Modified"] {
            let msg = format!("HTTP/1.1 {code}\r\nContent-Length: 7\r\n\r\n");
            let (p, r, _) = run(false, &[msg.as_bytes()], false);
            assert_eq!(r, Ok(true));
            assert_eq!(p.body_bytes(), 0);
        }
    }

    #[test]
    fn interim_1xx_is_skipped() {
        let (p, r, _) = run(
            false,
            &[b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"],
            false,
        );
        assert_eq!((r, p.status(), p.body_bytes()), (Ok(true), 201, 2));
    }

    #[test]
    fn http10_keepalive_and_close_rules() {
        let (p, r, _) = run(
            false,
            &[b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"],
            false,
        );
        assert_eq!((r, p.must_close()), (Ok(true), true));
        let (p, _, _) = run(
            false,
            &[b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"],
            false,
        );
        assert!(!p.must_close());
        let (p, _, _) = run(
            false,
            &[b"HTTP/1.1 200 OK\r\nConnection: foo, close\r\nContent-Length: 0\r\n\r\n"],
            false,
        );
        assert!(p.must_close());
    }

    #[test]
    fn garbage_is_parse_error() {
        let (_, r, _) = run(false, &[b"HELLO THERE this is not http\r\n\r\n"], false);
        assert!(r.is_err());
        let (_, r, _) = run(
            false,
            &[b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n"],
            false,
        );
        assert!(r.is_err());
        let (_, r, _) = run(
            false,
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"],
            false,
        );
        assert!(r.is_err());
    }

    #[test]
    fn eof_before_or_mid_response_is_error() {
        let (_, r, _) = run(false, &[], true);
        assert!(r.is_err());
        let (_, r, _) = run(
            false,
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"],
            true,
        );
        assert!(r.is_err());
    }
}
