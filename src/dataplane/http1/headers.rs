//! What a message's header block says about framing and the connection, and which header
//! lines a proxy must not forward (hop-by-hop).

use crate::config::units::is_token_byte;

/// Byte ranges of header lines inside a head, kept inline (no allocation per message).
#[derive(Debug, Clone, Copy, Default)]
pub struct Spans {
    items: [(u32, u32); Spans::CAPACITY],
    len: usize,
}

impl Spans {
    /// Most header lines one message may ask to drop; more is treated as malformed.
    pub const CAPACITY: usize = 16;

    /// Adds `[start, end)`; false when full.
    pub fn push(&mut self, start: usize, end: usize) -> bool {
        if self.len == Self::CAPACITY {
            return false;
        }
        self.items[self.len] = (start as u32, end as u32);
        self.len += 1;
        true
    }

    /// The ranges, sorted by start.
    pub fn as_slice(&self) -> &[(u32, u32)] {
        &self.items[..self.len]
    }

    /// These ranges plus `more`, sorted; `None` when they do not fit.
    pub fn merged(&self, more: &[(u32, u32)]) -> Option<Spans> {
        let mut all = *self;
        for &(s, e) in more {
            if all.as_slice().contains(&(s, e)) {
                continue;
            }
            if !all.push(s as usize, e as usize) {
                return None;
            }
        }
        all.sort();
        Some(all)
    }

    fn sort(&mut self) {
        self.items[..self.len].sort_unstable();
    }

    /// Whether a range starts at `start`.
    pub fn contains_start(&self, start: usize) -> bool {
        self.as_slice().iter().any(|&(s, _)| s as usize == start)
    }
}

/// The framing and connection facts of one header block.
#[derive(Debug, Clone, Default)]
pub struct HeaderFacts {
    /// The Content-Length value, if any (duplicates with one value are accepted).
    pub content_length: Option<u64>,
    /// Transfer-Encoding was present.
    pub transfer_encoding: bool,
    /// What its codings say (over every Transfer-Encoding line).
    pub codings: Codings,
    /// The Transfer-Encoding lines (dropped where ringlb sends its own or de-chunks).
    pub te_lines: Spans,
    /// The first Host line, and its value, as byte ranges.
    pub host: Option<HostSpans>,
    /// `Connection: close`.
    pub close: bool,
    /// `Connection: keep-alive`.
    pub keep_alive: bool,
    /// `Connection: upgrade` with an `Upgrade` header.
    pub upgrade: bool,
    /// Number of Host headers.
    pub hosts: u32,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
    /// An `Expect` value other than 100-continue.
    pub expect_other: bool,
    /// `WWW-Authenticate: NTLM` or `Negotiate`: the server authenticates the connection, not
    /// the request, so the connection must stay with this client.
    pub connection_auth: bool,
    /// Header lines not to forward.
    pub drop: Spans,
}

/// The transfer codings of a message, as listed over all its Transfer-Encoding lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Codings {
    /// Number of Transfer-Encoding lines.
    pub lines: u32,
    /// How many times `chunked` is listed.
    pub chunked: u32,
    /// The last coding listed is `chunked`.
    pub last_chunked: bool,
    /// A coding other than `chunked` is listed.
    pub others: bool,
    /// An element is empty or not a token (`,chunked`, `chunked;q=1`).
    pub malformed: bool,
}

/// Where the Host header sits in a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostSpans {
    /// The whole line, name to LF.
    pub line: (u32, u32),
    /// The value, without surrounding whitespace.
    pub value: (u32, u32),
}

/// Why a header block cannot be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// Content-Length is not a number, or two disagree.
    BadContentLength,
    /// More hop-by-hop lines than `Spans::CAPACITY`.
    TooManyHopHeaders,
}

/// Which side a header block comes from, which decides what is hop-by-hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A request going to a server.
    Request,
    /// A response going to a client.
    Response,
}

/// Scans `headers` (parsed by httparse from `base`) once.
pub fn scan(
    base: &[u8],
    headers: &[httparse::Header<'_>],
    direction: Direction,
) -> Result<HeaderFacts, HeaderError> {
    let mut facts = HeaderFacts::default();
    let mut upgrade_header = false;
    let mut upgrade_line = None;
    let mut content_length_lines = Spans::default();
    // Extra hop-by-hop names listed in Connection, as offsets into `base`.
    let mut listed = Spans::default();
    for h in headers {
        let name = h.name.as_bytes();
        let line = line_span(base, h);
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                facts.hosts += 1;
                if facts.host.is_none() {
                    let value = trim(h.value);
                    let start = value.as_ptr() as usize - base.as_ptr() as usize;
                    facts.host = Some(HostSpans {
                        line: (line.0 as u32, line.1 as u32),
                        value: (start as u32, (start + value.len()) as u32),
                    });
                }
            }
            6 if direction == Direction::Request && name.eq_ignore_ascii_case(b"expect") => {
                if trim(h.value).eq_ignore_ascii_case(b"100-continue") {
                    facts.expect_continue = true;
                    push(&mut facts.drop, line)?;
                } else {
                    facts.expect_other = true;
                }
            }
            7 if name.eq_ignore_ascii_case(b"upgrade") => {
                upgrade_header = true;
                upgrade_line = Some(line);
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                push(&mut facts.drop, line)?;
                for token in h.value.split(|&b| b == b',').map(trim) {
                    if token.eq_ignore_ascii_case(b"close") {
                        facts.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        facts.keep_alive = true;
                    } else if token.eq_ignore_ascii_case(b"upgrade") {
                        facts.upgrade = true;
                    } else if !token.is_empty() {
                        let start = token.as_ptr() as usize - base.as_ptr() as usize;
                        if !listed.push(start, start + token.len()) {
                            return Err(HeaderError::TooManyHopHeaders);
                        }
                    }
                }
            }
            10 if name.eq_ignore_ascii_case(b"keep-alive") => push(&mut facts.drop, line)?,
            2 if direction == Direction::Request && name.eq_ignore_ascii_case(b"te") => {
                push(&mut facts.drop, line)?
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                if has_tab(base, line) {
                    return Err(HeaderError::BadContentLength);
                }
                let value = parse_length(h.value).ok_or(HeaderError::BadContentLength)?;
                if facts.content_length.is_some_and(|v| v != value) {
                    return Err(HeaderError::BadContentLength);
                }
                if facts.content_length.is_some() {
                    // Forward a single Content-Length: drop the duplicates.
                    push(&mut facts.drop, line)?;
                } else {
                    push(&mut content_length_lines, line)?;
                }
                facts.content_length = Some(value);
            }
            16 if name.eq_ignore_ascii_case(b"proxy-connection") => push(&mut facts.drop, line)?,
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                facts.transfer_encoding = true;
                push(&mut facts.te_lines, line)?;
                let codings = &mut facts.codings;
                codings.lines += 1;
                codings.malformed |= has_tab(base, line);
                for coding in h.value.split(|&b| b == b',').map(trim) {
                    let chunked = coding.eq_ignore_ascii_case(b"chunked");
                    if coding.is_empty() || !coding.iter().all(|&b| is_token_byte(b)) {
                        codings.malformed = true;
                    }
                    codings.chunked += u32::from(chunked);
                    codings.others |= !chunked;
                    codings.last_chunked = chunked;
                }
            }
            16 if direction == Direction::Response
                && name.eq_ignore_ascii_case(b"www-authenticate") =>
            {
                let scheme = trim(h.value)
                    .split(|&b| b == b' ' || b == b',')
                    .next()
                    .unwrap_or_default();
                if scheme.eq_ignore_ascii_case(b"ntlm") || scheme.eq_ignore_ascii_case(b"negotiate")
                {
                    facts.connection_auth = true;
                }
            }
            _ => {}
        }
    }
    facts.upgrade &= upgrade_header;
    if let Some(line) = upgrade_line {
        if !facts.upgrade {
            push(&mut facts.drop, line)?;
        }
    }
    if facts.transfer_encoding {
        // Transfer-Encoding overrides Content-Length, which must then not be forwarded.
        for &(s, e) in content_length_lines.as_slice() {
            push(&mut facts.drop, (s as usize, e as usize))?;
        }
    }
    if !listed.as_slice().is_empty() {
        for h in headers {
            let listed_here = listed.as_slice().iter().any(|&(s, e)| {
                base[s as usize..e as usize].eq_ignore_ascii_case(h.name.as_bytes())
            });
            let line = line_span(base, h);
            if listed_here && !is_end_to_end(h.name) && !facts.drop.contains_start(line.0) {
                push(&mut facts.drop, line)?;
            }
        }
    }
    facts.drop.sort();
    Ok(facts)
}

/// A tab in a framing header line. RFC 9110 allows it as whitespace around the value, but
/// parsers disagree on it: llhttp (Node.js) reads `Transfer-Encoding:<TAB>chunked` as no
/// body at all and refuses `Content-Length: 5<TAB>`, HAProxy reads both, nginx refuses the
/// first. A proxy must not accept framing its neighbours would read another way.
fn has_tab(base: &[u8], (start, end): (usize, usize)) -> bool {
    base[start..end].contains(&b'\t')
}

/// Headers a Connection header may not remove: they carry framing this proxy relies on.
fn is_end_to_end(name: &str) -> bool {
    name.eq_ignore_ascii_case("host")
        || name.eq_ignore_ascii_case("content-length")
        || name.eq_ignore_ascii_case("transfer-encoding")
}

fn push(spans: &mut Spans, (start, end): (usize, usize)) -> Result<(), HeaderError> {
    if spans.push(start, end) {
        Ok(())
    } else {
        Err(HeaderError::TooManyHopHeaders)
    }
}

/// The byte range of a header's whole line, from its name to just after its LF.
fn line_span(base: &[u8], h: &httparse::Header<'_>) -> (usize, usize) {
    let start = h.name.as_ptr() as usize - base.as_ptr() as usize;
    let value_end = h.value.as_ptr() as usize - base.as_ptr() as usize + h.value.len();
    let end = base[value_end..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(base.len(), |p| value_end + p + 1);
    (start, end)
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |p| p + 1);
    &bytes[start..end]
}

fn parse_length(value: &[u8]) -> Option<u64> {
    let digits = trim(value);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(head: &[u8], direction: Direction) -> Result<HeaderFacts, HeaderError> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        req.parse(head).unwrap();
        scan(head, req.headers, direction)
    }

    fn dropped(head: &[u8], f: &HeaderFacts) -> Vec<String> {
        f.drop
            .as_slice()
            .iter()
            .map(|&(s, e)| String::from_utf8_lossy(&head[s as usize..e as usize]).into_owned())
            .collect()
    }

    #[test]
    fn hop_by_hop_lines_are_dropped() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: 5\r\nX-Secret: 1\r\nX-Forwarded-For: 1.1.1.1\r\nAccept: */*\r\n\r\n";
        let f = facts(head, Direction::Request).unwrap();
        assert!(f.keep_alive && !f.close);
        assert_eq!(f.hosts, 1);
        assert_eq!(
            dropped(head, &f),
            vec![
                "Connection: keep-alive, X-Secret\r\n",
                "Keep-Alive: 5\r\n",
                "X-Secret: 1\r\n"
            ]
        );
    }

    #[test]
    fn content_length_rules() {
        let f = facts(
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
            Direction::Request,
        )
        .unwrap();
        assert_eq!(f.content_length, Some(5));
        assert_eq!(f.drop.as_slice().len(), 1, "the duplicate is dropped");
        for bad in [
            &b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length:\t5\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 5\t\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        ] {
            assert_eq!(
                facts(bad, Direction::Request).unwrap_err(),
                HeaderError::BadContentLength
            );
        }
    }

    #[test]
    fn transfer_encoding_rules() {
        let codings = |value: &str| {
            let head = format!("POST / HTTP/1.1\r\nTransfer-Encoding: {value}\r\n\r\n");
            facts(head.as_bytes(), Direction::Request).unwrap().codings
        };
        let c = codings("chunked");
        assert_eq!(
            (c.lines, c.chunked, c.last_chunked, c.others, c.malformed),
            (1, 1, true, false, false)
        );
        let c = codings(" CHUNKED ");
        assert_eq!((c.chunked, c.last_chunked, c.others), (1, true, false));
        let c = codings("gzip, chunked");
        assert!(c.last_chunked && c.others && !c.malformed);
        assert!(!codings("chunked, gzip").last_chunked);
        assert_eq!(codings("chunked, chunked").chunked, 2);
        assert!(codings(",chunked").malformed);
        assert!(codings("chunked;q=1").malformed);
        assert!(codings("\tchunked").malformed);
        assert!(codings("chunked\t").malformed);
        let f = facts(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n",
            Direction::Request,
        )
        .unwrap();
        assert_eq!((f.codings.lines, f.codings.chunked), (2, 2));
        assert_eq!(f.te_lines.as_slice().len(), 2);
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut resp = httparse::Response::new(&mut headers);
        resp.parse(head).unwrap();
        let f = scan(head, resp.headers, Direction::Response).unwrap();
        assert_eq!(dropped(head, &f), vec!["Content-Length: 3\r\n"]);
    }

    #[test]
    fn host_and_connection_auth() {
        let head = b"GET / HTTP/1.1\r\nHost:  example.com \r\n\r\n";
        let f = facts(head, Direction::Request).unwrap();
        let host = f.host.unwrap();
        assert_eq!(
            &head[host.value.0 as usize..host.value.1 as usize],
            b"example.com"
        );
        assert_eq!(
            &head[host.line.0 as usize..host.line.1 as usize],
            b"Host:  example.com \r\n"
        );
        for (value, private) in [
            ("NTLM", true),
            ("Negotiate abc==", true),
            ("Basic realm=x", false),
        ] {
            let head = format!("HTTP/1.1 401 No\r\nWWW-Authenticate: {value}\r\n\r\n");
            let mut headers = [httparse::EMPTY_HEADER; 8];
            let mut resp = httparse::Response::new(&mut headers);
            resp.parse(head.as_bytes()).unwrap();
            let f = scan(head.as_bytes(), resp.headers, Direction::Response).unwrap();
            assert_eq!(f.connection_auth, private, "{value}");
        }
    }

    #[test]
    fn upgrade_needs_both_headers() {
        let f = facts(
            b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            Direction::Request,
        )
        .unwrap();
        assert!(f.upgrade);
        assert_eq!(f.drop.as_slice().len(), 1, "only Connection is dropped");
        let f = facts(
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            Direction::Request,
        )
        .unwrap();
        assert!(!f.upgrade);
        assert_eq!(f.drop.as_slice().len(), 1, "a lone Upgrade is dropped");
    }

    #[test]
    fn connection_cannot_strip_framing() {
        let head = b"POST / HTTP/1.1\r\nConnection: content-length, host\r\nHost: a\r\nContent-Length: 1\r\n\r\n";
        let f = facts(head, Direction::Request).unwrap();
        assert_eq!(
            dropped(head, &f),
            vec!["Connection: content-length, host\r\n"]
        );
    }
}
