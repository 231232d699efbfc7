//! `parse_request` on arbitrary bytes: never panics, and an accepted head is self-consistent.
//!
//! Asserted for `Ok(Some(head))`:
//! - `0 < head.len <= data.len()`, the head ends with CRLF CRLF, holds no bare LF, and starts
//!   at `head.start` after nothing but CRLF pairs;
//! - `data[start..start + line_len]` is the request line (what the access log prints): inside
//!   the head and ending with " HTTP/1.<minor>";
//! - every `facts.drop` span is a whole header line: non-empty, after the request line, before
//!   the final empty line, starting right after an LF and ending with one; the spans are sorted
//!   and do not overlap (the forwarding code writes the bytes between them);
//! - framing agrees with the facts it came from: Chunked ⇒ Transfer-Encoding with chunked last
//!   and no Content-Length; Length(n) ⇒ n > 0 and Content-Length n; never CONNECT, HTTP/1.0 or
//!   1.1 only, HTTP/1.1 ⇒ exactly one Host;
//! - incremental parsing agrees: the head alone parses to the same result, and a proper prefix
//!   of it is `Ok(None)` (ringlb parses as bytes arrive, so a prefix must never be refused or
//!   accepted differently).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::dataplane::http1::{parse_request, BodyKind, Method, RequestHead};

fn check(data: &[u8], head: &RequestHead) {
    let len = head.len;
    assert!(len > 0 && len <= data.len(), "len {len} of {}", data.len());
    assert!(len >= 4 && &data[len - 4..len] == b"\r\n\r\n", "the head ends in CRLF CRLF");
    for (i, &b) in data[..len].iter().enumerate() {
        assert!(b != b'\n' || (i > 0 && data[i - 1] == b'\r'), "a bare LF at {i}");
    }
    assert!(data[..head.start].chunks(2).all(|p| p == b"\r\n"), "only CRLF before the line");
    let line = head.line(data);
    assert!(head.start + head.line_len < len - 2, "line_len {}", head.line_len);
    // `line_len` is what the access log prints as the request line (%r): it must be the
    // request line, which httparse only accepts ending in " HTTP/1.0" or " HTTP/1.1".
    let version = format!(" HTTP/1.{}", head.minor);
    assert!(
        line.ends_with(version.as_bytes()),
        "not the request line: {:?}",
        String::from_utf8_lossy(line)
    );
    let fields_end = len - 2;
    let mut previous_end = head.start + head.line_len;
    for &(start, end) in head.facts.drop.as_slice() {
        let (start, end) = (start as usize, end as usize);
        assert!(start < end, "empty drop span {start}..{end}");
        assert!(
            start >= previous_end,
            "drop spans overlap or are unsorted: {start} < {previous_end}"
        );
        assert!(end <= fields_end, "drop span {start}..{end} past the header fields ({fields_end})");
        assert_eq!(data[start - 1], b'\n', "drop span {start}..{end} starts mid-line");
        assert_eq!(data[end - 1], b'\n', "drop span {start}..{end} ends mid-line");
        previous_end = end;
    }
    let facts = &head.facts;
    match head.body {
        BodyKind::Chunked => {
            let c = facts.codings;
            assert!(facts.transfer_encoding && facts.content_length.is_none());
            assert!(c.lines == 1 && c.chunked == 1 && c.last_chunked && !c.others && !c.malformed);
            assert!(head.minor == 1, "chunked in HTTP/1.0");
        }
        BodyKind::Length(n) => {
            assert!(n > 0 && facts.content_length == Some(n) && !facts.transfer_encoding)
        }
        BodyKind::None => assert!(!facts.transfer_encoding && facts.content_length.unwrap_or(0) == 0),
        BodyKind::UntilClose => panic!("a request body delimited by close"),
    }
    assert_ne!(head.method, Method::Connect);
    assert!(head.minor <= 1);
    if head.minor == 1 {
        assert_eq!(facts.hosts, 1);
    } else {
        assert!(facts.hosts <= 1);
    }
}

fn same(a: &RequestHead, b: &RequestHead) -> bool {
    (a.start, a.len, a.line_len, a.method, a.minor, a.body, a.keep_alive, a.authority)
        == (b.start, b.len, b.line_len, b.method, b.minor, b.body, b.keep_alive, b.authority)
        && a.facts.drop.as_slice() == b.facts.drop.as_slice()
}

fuzz_target!(|data: &[u8]| {
    let Ok(Some(head)) = parse_request(data) else {
        return;
    };
    check(data, &head);
    let alone = parse_request(&data[..head.len]);
    assert!(
        matches!(&alone, Ok(Some(h)) if same(h, &head)),
        "the head alone parses differently: {alone:?} vs {head:?}"
    );
    for cut in [head.len - 1, head.len / 2] {
        let prefix = parse_request(&data[..cut]);
        assert!(
            matches!(prefix, Ok(None)),
            "prefix of {cut} bytes of a {}-byte head: {prefix:?}",
            head.len
        );
    }
});
