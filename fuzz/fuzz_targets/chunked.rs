//! `ChunkedTracker::feed` gives one verdict however the body is split into reads.
//!
//! Input: byte 0 = number of cut points (mod 8), then two bytes per cut point (offsets, taken
//! modulo the body length + 1), then the body. The body is fed three ways: in one piece, in the
//! pieces the cut points make (empty pieces included), and one byte at a time (bodies up to
//! 4 KiB). Asserted:
//! - the verdict is the same every way: refused, or complete after the same number of bytes,
//!   or still incomplete after all of them;
//! - each `feed` reports at most the bytes it was given, and all of them unless the body ended
//!   inside the piece;
//! - once complete, the tracker stays complete and takes nothing more.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::dataplane::http1::ChunkedTracker;

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Refused,
    Complete(usize),
    Incomplete,
}

fn run<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Verdict {
    let mut tracker = ChunkedTracker::new();
    let mut total = 0;
    for piece in pieces {
        let used = match tracker.feed(piece) {
            Ok(used) => used,
            Err(_) => return Verdict::Refused,
        };
        assert!(used <= piece.len(), "used {used} of a {}-byte piece", piece.len());
        total += used;
        if tracker.is_done() {
            assert_eq!(tracker.feed(b"0\r\n\r\n"), Ok(0), "a done tracker took more bytes");
            assert!(tracker.is_done());
            return Verdict::Complete(total);
        }
        assert_eq!(used, piece.len(), "not done, yet it left bytes of the piece unused");
    }
    Verdict::Incomplete
}

fuzz_target!(|input: &[u8]| {
    let Some((&count, rest)) = input.split_first() else {
        return;
    };
    let count = usize::from(count % 8);
    if rest.len() < 2 * count {
        return;
    }
    let (cuts, body) = rest.split_at(2 * count);
    let mut points: Vec<usize> = cuts
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (body.len() + 1))
        .collect();
    points.sort_unstable();

    let whole = run([body]);

    let mut pieces = Vec::with_capacity(points.len() + 1);
    let mut start = 0;
    for &p in &points {
        pieces.push(&body[start..p]);
        start = p;
    }
    pieces.push(&body[start..]);
    let split = run(pieces.iter().copied());
    assert_eq!(whole, split, "split at {points:?}");

    if body.len() <= 4096 {
        let bytewise = run(body.chunks(1));
        assert_eq!(whole, bytewise, "fed one byte at a time");
    }
});
