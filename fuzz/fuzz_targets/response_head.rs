//! `parse_response(data, method)` on arbitrary bytes, the request method picked by the first
//! byte: never panics, and an accepted head is self-consistent.
//!
//! Asserted for `Ok(Some(head))`:
//! - `0 < head.len <= data.len()`, the head ends with CRLF CRLF and holds no bare LF; the
//!   status is three digits;
//! - `facts.drop` spans are whole header lines inside the header fields, sorted, disjoint;
//! - framing follows RFC 9112 §6.3 from the facts: no body for HEAD, 1xx, 204 and 304;
//!   Chunked ⇒ Transfer-Encoding with chunked last; Length(n) ⇒ n > 0, Content-Length n and no
//!   Transfer-Encoding; a body read until close is never kept alive;
//! - incremental parsing agrees: the head alone parses the same, a proper prefix is `Ok(None)`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::dataplane::http1::{parse_response, BodyKind, Method, ResponseHead};

const METHODS: [Method; 9] = [
    Method::Get,
    Method::Head,
    Method::Post,
    Method::Put,
    Method::Delete,
    Method::Options,
    Method::Trace,
    Method::Connect,
    Method::Other,
];

fn check(data: &[u8], method: Method, head: &ResponseHead) {
    let len = head.len;
    assert!(len > 0 && len <= data.len(), "len {len} of {}", data.len());
    assert!(len >= 4 && &data[len - 4..len] == b"\r\n\r\n", "the head ends in CRLF CRLF");
    for (i, &b) in data[..len].iter().enumerate() {
        assert!(b != b'\n' || (i > 0 && data[i - 1] == b'\r'), "a bare LF at {i}");
    }
    assert!((100..=999).contains(&head.status), "status {}", head.status);
    assert!(head.minor <= 1);
    let fields_end = len - 2;
    let mut previous_end = 0;
    for &(start, end) in head.facts.drop.as_slice() {
        let (start, end) = (start as usize, end as usize);
        assert!(start > 0 && start < end, "drop span {start}..{end}");
        assert!(start >= previous_end, "drop spans overlap or are unsorted");
        assert!(end <= fields_end, "drop span {start}..{end} past the fields ({fields_end})");
        assert_eq!(data[start - 1], b'\n', "drop span {start}..{end} starts mid-line");
        assert_eq!(data[end - 1], b'\n', "drop span {start}..{end} ends mid-line");
        previous_end = end;
    }
    let facts = &head.facts;
    let bodiless = method == Method::Head
        || (100..200).contains(&head.status)
        || head.status == 204
        || head.status == 304;
    match head.body {
        BodyKind::None => assert!(
            bodiless || (!facts.transfer_encoding && facts.content_length == Some(0)),
            "no body for status {} with {facts:?}",
            head.status
        ),
        BodyKind::Chunked => assert!(
            !bodiless && facts.transfer_encoding && facts.codings.last_chunked
                && facts.codings.chunked == 1 && !facts.codings.malformed
        ),
        BodyKind::Length(n) => assert!(
            !bodiless && n > 0 && facts.content_length == Some(n) && !facts.transfer_encoding
        ),
        BodyKind::UntilClose => {
            assert!(!bodiless && !head.keep_alive);
            assert!(facts.transfer_encoding || facts.content_length.is_none());
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    let method = METHODS[usize::from(selector) % METHODS.len()];
    let Ok(Some(head)) = parse_response(data, method) else {
        return;
    };
    check(data, method, &head);
    let alone = parse_response(&data[..head.len], method);
    assert!(
        matches!(&alone, Ok(Some(h)) if (h.len, h.status, h.body, h.keep_alive)
            == (head.len, head.status, head.body, head.keep_alive)
            && h.facts.drop.as_slice() == head.facts.drop.as_slice()),
        "the head alone parses differently: {alone:?} vs {head:?}"
    );
    for cut in [head.len - 1, head.len / 2] {
        let prefix = parse_response(&data[..cut], method);
        assert!(
            matches!(prefix, Ok(None)),
            "prefix of {cut} bytes of a {}-byte head: {prefix:?}",
            head.len
        );
    }
});
