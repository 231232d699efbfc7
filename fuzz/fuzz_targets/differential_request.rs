//! Differential: whatever request ringlb accepts, llhttp (Node.js's parser) must frame the same.
//!
//! Why llhttp: it is the HTTP/1 parser of Node.js (and undici, aiohttp, libgit2), maintained
//! by the Node.js project, fuzzed and hardened against request smuggling, shares no code or
//! lineage with httparse (which ringlb uses), and in its default strict mode implements
//! RFC 9112 framing itself (Content-Length / Transfer-Encoding rules, chunk-size lines,
//! chunk extensions, trailers), so it can say *where a message ends* on its own. A backend or
//! a second proxy that frames a request differently from ringlb is exactly how requests get
//! smuggled. llhttp 9.2.1 comes from libgit2-sys's bundled build (see fuzz/Cargo.toml and
//! src/llhttp.rs); no llhttp binding is published on crates.io.
//!
//! For every input that `parse_request` accepts (`Ok(Some(head))`), llhttp (strict, default
//! settings) must:
//! - accept the head, ending it at the same byte (`head.len`), with the same method and HTTP
//!   version, and the same body framing: none / Content-Length N / chunked;
//! - for a chunked body, agree with `ChunkedTracker` fed the bytes after the head (in one
//!   piece) on where the message ends: both end it at the same byte, or both still wait for more
//!   bytes. llhttp refusing chunk bytes that ringlb accepted, or ending the message where ringlb
//!   does not (or vice versa), is a finding.
//! Inputs ringlb refuses are not compared (ringlb stricter than llhttp is fine), nor is a
//! chunked body that ringlb refuses.
//!
//! Known benign differences, tolerated: each is rewritten away and the input parsed again by
//! llhttp, so it cannot hide a framing difference elsewhere in the same input.
//! 1. Method names: llhttp refuses any method outside its fixed list (HPE_INVALID_METHOD);
//!    httparse accepts any token, which RFC 9110 §9.1 allows and which does not change how a
//!    request is framed. Re-parsed with the method replaced by `POST` (offsets adjusted; a
//!    request body's framing does not depend on its method in either parser).
//! 2. Duplicate Content-Length lines with one value: RFC 9110 §8.6 lets a recipient accept
//!    them; ringlb does, and forwards a single one (the duplicates are in `facts.drop`).
//!    llhttp refuses any duplicate (HPE_UNEXPECTED_CONTENT_LENGTH). The head as ringlb forwards
//!    it (the `facts.drop` lines removed, its own Host and Transfer-Encoding lines added) is
//!    re-parsed and must then frame the same: that is what a backend sees.
//! 3. Request-target syntax: llhttp only takes the RFC 9112 §3.2 forms (origin-form `/…`,
//!    absolute-form `scheme://…`, `*`) and refuses e.g. `GET ./a` or `GET a/b`
//!    (HPE_INVALID_URL); httparse takes any run of URI characters. Both end the target at the
//!    same SP, so it does not move any message boundary: re-parsed with the target replaced by
//!    `/`. (ringlb forwards such targets unchanged: a leniency outside framing.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::dataplane::http1::{parse_request, BodyKind, ChunkedTracker, Method, RequestHead};
use ringlb_fuzz::escape;
use ringlb_fuzz::llhttp::{self, method, Framing, Stop};

/// llhttp's view of an input: the head (offsets relative to the original input), then where
/// the message ends (relative to the end of the head).
struct View {
    head: llhttp::Head,
    end: Stop,
}

/// Parses `bytes` with llhttp; `shift` maps offsets in `bytes` back to the original input.
fn llhttp_view(bytes: &[u8], shift: isize) -> Result<Option<View>, Stop> {
    let mut parser = llhttp::Request::new();
    let Some(mut head) = parser.head(bytes)? else {
        return Ok(None);
    };
    let end = parser.finish(&bytes[head.len..]);
    head.len = (head.len as isize + shift) as usize;
    Ok(Some(View { head, end }))
}

fn expected_method(m: Method) -> Option<u8> {
    Some(match m {
        Method::Get => method::GET,
        Method::Head => method::HEAD,
        Method::Post => method::POST,
        Method::Put => method::PUT,
        Method::Delete => method::DELETE,
        Method::Options => method::OPTIONS,
        Method::Trace => method::TRACE,
        Method::Connect => method::CONNECT,
        Method::Other => return None,
    })
}

/// The input with its request line simplified (differences 1 and 3): the method token
/// replaced by `POST`, the request-target by `/`; and the offset shift.
fn simplify_request_line(data: &[u8], method: bool, target: bool) -> (Vec<u8>, isize) {
    // httparse skips empty lines before the request line, as llhttp does.
    let start = data
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(data.len());
    let token_end = |from: usize| {
        data[from..]
            .iter()
            .position(|&b| b == b' ')
            .map_or(data.len(), |p| from + p)
    };
    let method_end = token_end(start);
    let target_end = token_end((method_end + 1).min(data.len()));
    let mut out = Vec::with_capacity(data.len() + 4);
    out.extend_from_slice(&data[..start]);
    if method {
        out.extend_from_slice(b"POST");
    } else {
        out.extend_from_slice(&data[start..method_end]);
    }
    if target && target_end > method_end {
        out.extend_from_slice(b" /");
        out.extend_from_slice(&data[target_end..]);
    } else {
        out.extend_from_slice(&data[method_end..]);
    }
    let shift = data.len() as isize - out.len() as isize;
    (out, shift)
}

/// The head as ringlb forwards it (difference 2): its dropped lines removed and the lines it
/// writes itself for framing and Host added; then the rest of the input. And the offset shift.
fn as_forwarded(data: &[u8], head: &RequestHead) -> (Vec<u8>, isize) {
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut cursor = 0;
    for &(start, end) in head.facts.drop.as_slice() {
        out.extend_from_slice(&data[cursor..start as usize]);
        cursor = end as usize;
    }
    // Everything up to the head's final empty line, then ringlb's own lines before it.
    out.extend_from_slice(&data[cursor..head.len - 2]);
    if let Some((start, end)) = head.authority {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(&data[start as usize..end as usize]);
        out.extend_from_slice(b"\r\n");
    }
    if head.body == BodyKind::Chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    out.extend_from_slice(&data[head.len - 2..]);
    let shift = data.len() as isize - out.len() as isize;
    (out, shift)
}

/// The input as llhttp gets it, with the tolerated differences rewritten away.
fn rewrite(data: &[u8], head: &RequestHead, tolerate: Tolerate) -> (Vec<u8>, isize) {
    let (mut bytes, mut shift) = if tolerate.forwarded {
        as_forwarded(data, head)
    } else {
        (data.to_vec(), 0)
    };
    if tolerate.method || tolerate.target {
        // The request line comes before any dropped line, so this works on either form.
        let (simpler, delta) = simplify_request_line(&bytes, tolerate.method, tolerate.target);
        bytes = simpler;
        shift += delta;
    }
    (bytes, shift)
}

/// Which known differences were met (and rewritten away) for the current input.
#[derive(Debug, Default, Clone, Copy)]
struct Tolerate {
    method: bool,
    forwarded: bool,
    target: bool,
}

fn fail(data: &[u8], head: &RequestHead, what: String) -> ! {
    panic!(
        "{what}\n  ringlb: len {} method {:?} HTTP/1.{} body {:?}\n  input: b\"{}\"",
        head.len,
        head.method,
        head.minor,
        head.body,
        escape(data)
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(Some(head)) = parse_request(data) else {
        return;
    };
    let mut tolerate = Tolerate::default();
    let view = loop {
        let (bytes, shift) = rewrite(data, &head, tolerate);
        match llhttp_view(&bytes, shift) {
            Ok(Some(view)) => break view,
            Ok(None) => fail(
                data,
                &head,
                format!(
                    "llhttp: the head does not end within the {} input bytes",
                    data.len()
                ),
            ),
            Err(Stop::Error { errno, .. })
                if errno == llhttp::HPE_INVALID_METHOD
                    && head.method == Method::Other
                    && !tolerate.method =>
            {
                tolerate.method = true;
            }
            Err(Stop::Error { errno, .. })
                if errno == llhttp::HPE_UNEXPECTED_CONTENT_LENGTH
                    && head.facts.content_length.is_some()
                    && !head.facts.drop.as_slice().is_empty()
                    && !tolerate.forwarded =>
            {
                tolerate.forwarded = true;
            }
            Err(Stop::Error { errno, .. })
                if errno == llhttp::HPE_INVALID_URL && !tolerate.target =>
            {
                tolerate.target = true;
            }
            Err(Stop::Error {
                name, reason, at, ..
            }) => fail(
                data,
                &head,
                format!(
                    "llhttp refuses a head ringlb accepts: {name} ({reason}) at byte {at}{}",
                    if tolerate.method || tolerate.target || tolerate.forwarded {
                        format!(" of the rewritten input ({tolerate:?})")
                    } else {
                        String::new()
                    }
                ),
            ),
            Err(other) => unreachable!("{other:?}"),
        }
    };

    let ll = &view.head;
    if ll.len != head.len {
        fail(
            data,
            &head,
            format!("head length: ringlb {} llhttp {}", head.len, ll.len),
        );
    }
    if let Some(m) = expected_method(head.method) {
        if m != ll.method {
            fail(data, &head, format!("method: llhttp code {}", ll.method));
        }
    }
    if (ll.major, ll.minor) != (1, head.minor) {
        fail(
            data,
            &head,
            format!("version: llhttp HTTP/{}.{}", ll.major, ll.minor),
        );
    }
    let ringlb_framing = match head.body {
        BodyKind::None => Framing::None,
        BodyKind::Length(n) => Framing::Length(n),
        BodyKind::Chunked => Framing::Chunked,
        BodyKind::UntilClose => fail(data, &head, "request body until close".into()),
    };
    // llhttp refuses some framings only once it goes past the head (e.g. a Transfer-Encoding
    // without chunked last): an error right at the start of the body is a refused head.
    if let Stop::Error {
        name, reason, at: 0, ..
    } = &view.end
    {
        if ringlb_framing != Framing::Chunked {
            fail(
                data,
                &head,
                format!("llhttp refuses the head at its end: {name} ({reason})"),
            );
        }
    }
    if ll.framing != ringlb_framing {
        fail(
            data,
            &head,
            format!("body framing: llhttp {:?}", ll.framing),
        );
    }
    let available = (data.len() - head.len) as u64;
    let expected_end = match ringlb_framing {
        Framing::None => Some(Stop::Complete(0)),
        Framing::Length(n) if n <= available => Some(Stop::Complete(n as usize)),
        Framing::Length(_) => Some(Stop::NeedMore),
        Framing::Chunked => None,
    };
    if let Some(expected) = expected_end {
        if view.end != expected {
            fail(
                data,
                &head,
                format!("message end: llhttp {:?}, expected {expected:?}", view.end),
            );
        }
        return;
    }

    // Chunked: where does the message end? (Offsets relative to the end of the head; the
    // tolerated rewrites above only touch the head, so the body bytes are the same.)
    let body = &data[head.len..];
    let mut tracker = ChunkedTracker::new();
    let ringlb_end = match tracker.feed(body) {
        Err(_) => return, // ringlb refuses the body: nothing to compare.
        Ok(used) if tracker.is_done() => Some(used),
        Ok(_) => None,
    };
    match (&view.end, ringlb_end) {
        (Stop::Complete(a), Some(b)) if *a == b => {}
        (Stop::NeedMore, None) => {}
        (Stop::Error {
            name, reason, at, ..
        }, _) => fail(
            data,
            &head,
            format!(
                "llhttp refuses chunked body bytes ringlb accepts ({}): {name} ({reason}) at body byte {at}",
                match ringlb_end {
                    Some(end) => format!("ringlb: message ends at body byte {end}"),
                    None => "ringlb: waiting for more".to_string(),
                }
            ),
        ),
        (end, ringlb_end) => fail(
            data,
            &head,
            format!("chunked body end: ringlb {ringlb_end:?} (None = waiting for more), llhttp {end:?}"),
        ),
    }
});
