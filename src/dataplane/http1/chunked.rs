//! Tracks where a chunked body ends while its bytes pass through unchanged.
//!
//! The proxy forwards chunked bodies as they are (no de-chunking, no copies); it only needs
//! to know where the message ends, so the next message on the connection starts in the
//! right place. Framing is strict (CRLF everywhere, bounded sizes): a lenient reading is how
//! request smuggling starts.

/// Why a chunked body is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed chunked encoding")]
pub struct ChunkError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size; `digits` seen so far.
    Size { digits: u8 },
    /// Skipping a chunk extension up to CR.
    Extension,
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
    /// Inside a trailer field line.
    Trailer { len: usize },
    /// Expecting LF of a trailer line.
    TrailerLf,
    /// Expecting LF of the final empty line.
    EndLf,
    /// The body is complete.
    Done,
}

/// Longest trailer line accepted.
const MAX_TRAILER_LINE: usize = 8192;

/// Incremental scanner for one chunked body.
#[derive(Debug, Clone)]
pub struct ChunkedTracker {
    state: State,
    size: u64,
    remaining: u64,
    /// Whether the current chunk is the terminating zero-size one.
    last: bool,
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
            last: false,
        }
    }

    /// Whether the whole body has been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Scans `data`; returns how many bytes belong to this body (all of them unless it ends
    /// inside `data`).
    pub fn feed(&mut self, data: &[u8]) -> Result<usize, ChunkError> {
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
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
                        match b {
                            b'\r' => self.state = State::SizeLf,
                            b';' | b' ' | b'\t' => self.state = State::Extension,
                            _ => return Err(ChunkError),
                        }
                    }
                }
                State::Extension => match b {
                    b'\r' => self.state = State::SizeLf,
                    b'\n' => return Err(ChunkError),
                    _ => {}
                },
                State::SizeLf => {
                    if b != b'\n' {
                        return Err(ChunkError);
                    }
                    self.last = self.size == 0;
                    self.remaining = self.size;
                    self.size = 0;
                    self.state = if self.last {
                        State::TrailerStart
                    } else {
                        State::Data
                    };
                }
                State::Data => {
                    let take = (self.remaining).min((data.len() - i) as u64) as usize;
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
                State::TrailerStart => match b {
                    b'\r' => self.state = State::EndLf,
                    b'\n' => return Err(ChunkError),
                    _ => self.state = State::Trailer { len: 1 },
                },
                State::Trailer { len } => match b {
                    b'\r' => self.state = State::TrailerLf,
                    b'\n' => return Err(ChunkError),
                    _ if len >= MAX_TRAILER_LINE => return Err(ChunkError),
                    _ => self.state = State::Trailer { len: len + 1 },
                },
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
    fn large_sizes_are_fine() {
        let mut t = ChunkedTracker::new();
        assert_eq!(t.feed(b"ffffffff\r\n").unwrap(), 10);
        assert_eq!(t.feed(&[0u8; 100]).unwrap(), 100);
        assert!(!t.is_done());
    }
}
