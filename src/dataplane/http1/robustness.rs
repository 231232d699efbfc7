//! Whatever bytes arrive, the parsers answer (complete, partial or an error) and never panic.

use super::{parse_request, parse_response, ChunkedTracker, Method};

/// Byte soup biased toward HTTP's own characters, so parsers get deep before failing.
fn soup(rng: &mut fastrand::Rng, len: usize) -> Vec<u8> {
    const PIECES: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\n",
        b"HTTP/1.1 200 OK\r\n",
        b"Host: a\r\n",
        b"Content-Length: ",
        b"Transfer-Encoding: chunked\r\n",
        b"Connection: close, x\r\n",
        b"\r\n",
        b"\n",
        b":",
        b" ",
        b"0",
        b"5",
        b"ffffffffffffffff",
        b";ext",
        b"\x00",
        b"\xff",
    ];
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        if rng.bool() {
            out.extend_from_slice(PIECES[rng.usize(..PIECES.len())]);
        } else {
            out.push(rng.u8(..));
        }
    }
    out
}

#[test]
fn parsers_survive_random_input() {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    for round in 0..20_000 {
        let len = rng.usize(0..600);
        let data = soup(&mut rng, len);
        let _ = parse_request(&data);
        let _ = parse_response(
            &data,
            if round % 2 == 0 {
                Method::Get
            } else {
                Method::Head
            },
        );
        let mut tracker = ChunkedTracker::new();
        let mut rest = &data[..];
        while !rest.is_empty() {
            let cut = rng.usize(1..=rest.len());
            match tracker.feed(&rest[..cut]) {
                Ok(used) => {
                    assert!(used <= cut);
                    if tracker.is_done() {
                        break;
                    }
                }
                Err(_) => break,
            }
            rest = &rest[cut..];
        }
    }
}

#[test]
fn valid_heads_parse_whatever_the_split() {
    let head = b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n";
    for cut in 0..head.len() {
        assert!(parse_request(&head[..cut]).unwrap().is_none(), "cut {cut}");
    }
    let full = parse_request(head).unwrap().unwrap();
    assert_eq!(full.len, head.len());
}
