//! Tracks where a chunked body ends while its bytes pass through unchanged.
//!
//! The proxy forwards chunked bodies as they are (no copies); it only needs to know where
//! the message ends, so the next message on the connection starts in the right place. Only
//! for an HTTP/1.0 client, which knows no chunked coding, is a body decoded (in place). Framing is strict (CRLF everywhere, bounded sizes): a lenient reading is how
//! request smuggling starts.

use crate::config::units::is_token_byte;

/// Why a chunked body is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed chunked encoding")]
pub struct ChunkError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size; `digits` seen so far.
    Size { digits: u8 },
    /// Inside chunk extensions, up to CR; `len` bytes so far.
    Extension { part: Ext, len: usize },
    /// Expecting LF after the size line's CR.
    SizeLf,
    /// Inside chunk data.
    Data,
    /// Expecting CR after chunk data.
    DataCr,
    /// Expecting LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer field name.
    TrailerName { len: usize },
    /// Inside a trailer field value.
    TrailerValue { len: usize },
    /// Expecting LF of a trailer line.
    TrailerLf,
    /// Expecting LF of the final empty line.
    EndLf,
    /// The body is complete.
    Done,
}

/// Where a chunk extension scan is (RFC 9112 §7.1.1: `*( BWS ";" BWS name [ BWS "=" BWS
/// value ] )`, name a token, value a token or a quoted string), without any whitespace:
/// strict parsers (llhttp) refuse it around names and `=` and after values (where the RFC
/// only allows it before a further `;`), and a proxy must never accept framing that a
/// strict backend would refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ext {
    /// After `;`: whitespace, then the first name character.
    BeforeName,
    /// Inside the name.
    Name,
    /// After `=`: whitespace, then a token or a quoted string.
    BeforeValue,
    /// Inside a token value.
    Token,
    /// Inside a quoted string.
    Quoted,
    /// After a backslash in a quoted string.
    Escaped,
    /// After a quoted value: `;` or the end.
    AfterValue,
}

impl Ext {
    /// The next part after byte `b`; `None` if `b` cannot come here. CR is handled by the
    /// caller (it ends the extensions where the part allows).
    fn next(self, b: u8) -> Option<Ext> {
        Some(match self {
            Ext::BeforeName | Ext::Name if is_token_byte(b) => Ext::Name,
            Ext::Name | Ext::Token | Ext::AfterValue if b == b';' => Ext::BeforeName,
            Ext::Name if b == b'=' => Ext::BeforeValue,
            Ext::BeforeValue if b == b'"' => Ext::Quoted,
            Ext::BeforeValue | Ext::Token if is_token_byte(b) => Ext::Token,
            Ext::Quoted if b == b'"' => Ext::AfterValue,
            Ext::Quoted if b == b'\\' => Ext::Escaped,
            Ext::Quoted | Ext::Escaped if !is_forbidden(b) => Ext::Quoted,
            _ => return None,
        })
    }

    /// Whether the extensions may end (CR) here.
    fn may_end(self) -> bool {
        matches!(self, Ext::Name | Ext::Token | Ext::AfterValue)
    }
}

/// Fields a trailer may not carry (lower-case).
const FORBIDDEN_TRAILERS: [&[u8]; 3] = [b"transfer-encoding", b"content-length", b"host"];

/// Longest trailer line accepted.
const MAX_TRAILER_LINE: usize = 8192;

/// Most trailer bytes accepted in one body.
const MAX_TRAILERS: usize = 16384;

/// Longest run of chunk extensions on one size line.
pub const MAX_EXTENSION: usize = 4096;

/// The bytes a body scan reads, and where their chunk data goes.
trait Input {
    /// Number of bytes.
    fn len(&self) -> usize;
    /// The byte at `i`.
    fn at(&self, i: usize) -> u8;
    /// `[start, start + len)` is chunk data.
    fn data(&mut self, start: usize, len: usize);
}

/// Pass-through: payload positions are not needed.
impl Input for &[u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }
    fn at(&self, i: usize) -> u8 {
        self[i]
    }
    fn data(&mut self, _: usize, _: usize) {}
}

/// De-chunking: chunk data moves to the front of the buffer, in order. It only ever moves
/// backwards (behind the scan position), so no byte is overwritten before it is read.
struct Compact<'a> {
    buf: &'a mut [u8],
    written: usize,
}

impl Input for Compact<'_> {
    fn len(&self) -> usize {
        self.buf.len()
    }
    fn at(&self, i: usize) -> u8 {
        self.buf[i]
    }
    fn data(&mut self, start: usize, len: usize) {
        self.buf.copy_within(start..start + len, self.written);
        self.written += len;
    }
}

/// Incremental scanner for one chunked body.
#[derive(Debug, Clone)]
pub struct ChunkedTracker {
    state: State,
    size: u64,
    remaining: u64,
    trailer_bytes: usize,
    /// The start of the current trailer's name, lower-cased (long enough to recognise the
    /// fields a trailer may not carry).
    trailer_name: [u8; 17],
}

impl Default for ChunkedTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedTracker {
    /// A tracker at the start of a body.
    pub fn new() -> Self {
        Self {
            state: State::Size { digits: 0 },
            size: 0,
            remaining: 0,
            trailer_bytes: 0,
            trailer_name: [0; 17],
        }
    }

    /// Whether the whole body has been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Scans `data`; returns how many bytes belong to this body (all of them unless it ends
    /// inside `data`).
    pub fn feed(&mut self, mut data: &[u8]) -> Result<usize, ChunkError> {
        self.run(&mut data)
    }

    /// Scans `data` like `feed` and also decodes it: the chunk data among the bytes that
    /// belong to this body is moved to the front of `data`. Returns (bytes used, payload
    /// bytes now at the front).
    pub fn decode(&mut self, data: &mut [u8]) -> Result<(usize, usize), ChunkError> {
        let mut input = Compact {
            buf: data,
            written: 0,
        };
        let used = self.run(&mut input)?;
        Ok((used, input.written))
    }

    fn run(&mut self, data: &mut impl Input) -> Result<usize, ChunkError> {
        let mut i = 0;
        while i < data.len() {
            let b = data.at(i);
            match self.state {
                State::Done => return Ok(i),
                State::Size { digits } => {
                    if let Some(v) = hex_value(b) {
                        if digits >= 15 {
                            return Err(ChunkError);
                        }
                        self.size = self.size * 16 + u64::from(v);
                        self.state = State::Size { digits: digits + 1 };
                    } else if digits == 0 {
                        return Err(ChunkError);
                    } else {
                        self.state = match b {
                            b'\r' => State::SizeLf,
                            b';' => State::Extension {
                                part: Ext::BeforeName,
                                len: 0,
                            },

                            _ => return Err(ChunkError),
                        };
                    }
                }
                State::Extension { part, len } => {
                    self.state = match b {
                        b'\r' if part.may_end() => State::SizeLf,
                        _ if len >= MAX_EXTENSION => return Err(ChunkError),
                        _ => State::Extension {
                            part: part.next(b).ok_or(ChunkError)?,
                            len: len + 1,
                        },
                    };
                }
                State::SizeLf => {
                    if b != b'\n' {
                        return Err(ChunkError);
                    }
                    self.remaining = self.size;
                    self.size = 0;
                    self.state = if self.remaining == 0 {
                        State::TrailerStart
                    } else {
                        State::Data
                    };
                }
                State::Data => {
                    let take = self.remaining.min((data.len() - i) as u64) as usize;
                    data.data(i, take);
                    self.remaining -= take as u64;
                    i += take;
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                    continue;
                }
                State::DataCr => {
                    if b != b'\r' {
                        return Err(ChunkError);
                    }
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err(ChunkError);
                    }
                    self.state = State::Size { digits: 0 };
                }
                State::TrailerStart => {
                    self.state = match b {
                        b'\r' => State::EndLf,
                        // A trailer is a header line: a name of token characters first (no
                        // obs-fold continuation, no empty name).
                        _ if is_token_byte(b) => {
                            self.trailer_name[0] = b.to_ascii_lowercase();
                            State::TrailerName { len: 1 }
                        }
                        _ => return Err(ChunkError),
                    };
                    self.count_trailer_byte()?;
                }
                State::TrailerName { len } => {
                    self.state = match b {
                        // RFC 9110 §6.5.1: framing and routing fields never come as trailers
                        // (a recipient that merged them would re-frame the message).
                        b':' if len <= 17
                            && FORBIDDEN_TRAILERS.contains(&&self.trailer_name[..len]) =>
                        {
                            return Err(ChunkError)
                        }
                        b':' => State::TrailerValue { len: len + 1 },
                        _ if is_token_byte(b) && len < MAX_TRAILER_LINE => {
                            if let Some(slot) = self.trailer_name.get_mut(len) {
                                *slot = b.to_ascii_lowercase();
                            }
                            State::TrailerName { len: len + 1 }
                        }
                        _ => return Err(ChunkError),
                    };
                    self.count_trailer_byte()?;
                }
                State::TrailerValue { len } => {
                    self.state = match b {
                        b'\r' => State::TrailerLf,
                        _ if len >= MAX_TRAILER_LINE || is_forbidden(b) => return Err(ChunkError),
                        _ => State::TrailerValue { len: len + 1 },
                    };
                    self.count_trailer_byte()?;
                }
                State::TrailerLf => {
                    if b != b'\n' {
                        return Err(ChunkError);
                    }
                    self.state = State::TrailerStart;
                }
                State::EndLf => {
                    if b != b'\n' {
                        return Err(ChunkError);
                    }
                    self.state = State::Done;
                    return Ok(i + 1);
                }
            }
            i += 1;
        }
        Ok(i)
    }

    fn count_trailer_byte(&mut self) -> Result<(), ChunkError> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > MAX_TRAILERS {
            Err(ChunkError)
        } else {
            Ok(())
        }
    }
}

/// Control characters other than HTAB (NUL, a lone CR or LF, DEL …): never inside a field
/// value or an extension.
fn is_forbidden(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pieces: &[&[u8]]) -> Result<(usize, bool), ChunkError> {
        let mut t = ChunkedTracker::new();
        let mut total = 0;
        for p in pieces {
            total += t.feed(p)?;
            if t.is_done() {
                break;
            }
        }
        Ok((total, t.is_done()))
    }

    #[test]
    fn whole_body_in_one_piece() {
        let body = b"5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
        assert_eq!(run(&[body]).unwrap(), (15, true));
    }

    #[test]
    fn body_split_everywhere() {
        let body = b"a;ext=1\r\n0123456789\r\n3\r\nabc\r\n0\r\nX-T: y\r\n\r\n";
        for split in 0..body.len() {
            let (a, b) = body.split_at(split);
            assert_eq!(
                run(&[a, b]).unwrap(),
                (body.len(), true),
                "split at {split}"
            );
        }
        let mut t = ChunkedTracker::new();
        for byte in body.iter() {
            assert_eq!(t.feed(std::slice::from_ref(byte)).unwrap(), 1);
        }
        assert!(t.is_done());
    }

    #[test]
    fn incomplete_is_not_done() {
        assert_eq!(run(&[b"5\r\nhel"]).unwrap(), (6, false));
        assert_eq!(run(&[b"0\r\n"]).unwrap(), (3, false));
    }

    #[test]
    fn malformed_is_rejected() {
        for bad in [
            &b"g\r\n"[..],
            b"\r\n",
            b"5\nhello\r\n",
            b"5\r\nhelloX\r\n",
            b"1234567890123456\r\n",
            b"0\r\n\n",
            b"-1\r\n",
        ] {
            assert!(run(&[bad]).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn strict_size_lines_extensions_and_trailers() {
        for good in [
            &b"5;a=b\r\nhello\r\n0\r\n\r\n"[..],
            b"5;a=\"x y;\\\"z\";b;c=d\r\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\r\n0\r\nX-Sum: 1\r\nY:\r\n\r\n",
        ] {
            assert_eq!(run(&[good]).unwrap(), (good.len(), true), "{good:?}");
        }
        let long_ext = format!("5;{}\r\nhello\r\n0\r\n\r\n", "e".repeat(MAX_EXTENSION + 1));
        for bad in [
            &b"5 x\r\nhello\r\n"[..],
            b"5 \r\nhello\r\n",
            b"1 ;a=b\r\nx\r\n",
            b"5;a\x00\r\nhello\r\n",
            b"5;a\rb\r\nhello\r\n",
            b"6;name=value x-For: 1\r\nhello!\r\n",
            b"5;a=b:c\r\nhello\r\n",
            b"5;\r\nhello\r\n",
            b"5;a=\r\nhello\r\n",
            b"5;a=\"open\r\nhello\r\n",
            b"5;=b\r\nhello\r\n",
            b"6;name =value\r\nhello!\r\n",
            b"6;name= value\r\nhello!\r\n",
            b"6; name\r\nhello!\r\n",
            // The fuzzers' differential target's fourth finding: llhttp refuses it.
            b"6;me=vaEw \r\nluorld\r\n",
            b"6;a=b ;c\r\nhello!\r\n",
            b"6;a=\"b\" \r\nhello!\r\n",
            b"0\r\n folded\r\n\r\n",
            b"0\r\n: no-name\r\n\r\n",
            b"0\r\nNo colon\r\n\r\n",
            b"0\r\nX: a\x00b\r\n\r\n",
            b"0\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"0\r\ncontent-length: 5\r\n\r\n",
            b"0\r\nHOST: a\r\n\r\n",
            b"0\r\nX: a\rb\r\n\r\n",
            b"0\r\nX: a\n\r\n",
            long_ext.as_bytes(),
        ] {
            assert!(run(&[bad]).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let many = format!("0\r\n{}\r\n", "X: 0123456789\r\n".repeat(2000));
        assert!(run(&[many.as_bytes()]).is_err(), "trailers are bounded");
    }

    #[test]
    fn decode_moves_payload_to_the_front() {
        let body = b"3;x\r\nabc\r\na\r\n0123456789\r\n0\r\nT: v\r\n\r\nNEXT";
        for split in 0..body.len() {
            let mut t = ChunkedTracker::new();
            let mut payload = Vec::new();
            let mut used_total = 0;
            for piece in [&body[..split], &body[split..]] {
                let mut piece = piece.to_vec();
                let (used, n) = t.decode(&mut piece).unwrap();
                payload.extend_from_slice(&piece[..n]);
                used_total += used;
                if t.is_done() {
                    break;
                }
            }
            assert!(t.is_done());
            assert_eq!(used_total, body.len() - 4, "split {split}");
            assert_eq!(payload, b"abc0123456789", "split {split}");
        }
    }

    #[test]
    fn large_sizes_are_fine() {
        let mut t = ChunkedTracker::new();
        assert_eq!(t.feed(b"ffffffff\r\n").unwrap(), 10);
        assert_eq!(t.feed(&[0u8; 100]).unwrap(), 100);
        assert!(!t.is_done());
    }
}
