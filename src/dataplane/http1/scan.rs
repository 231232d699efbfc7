//! Finding where a message head ends, one read at a time.
//!
//! Every line of a head must end in CRLF. A bare LF is refused rather than forwarded: a
//! head that is two lines to one parser and one line to the next is how requests are
//! smuggled. The scan resumes where the previous read stopped, so a head that trickles in
//! one byte per segment costs one pass over its bytes, not one pass per segment.

/// Why a head is refused before it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadFault {
    /// A line ends in LF without CR.
    BareLf,
    /// The head starts with an empty line (a response, or a request after its leading
    /// empty lines were skipped).
    EmptyFirstLine,
}

/// What the bytes read so far hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadEnd {
    /// No end yet.
    Partial,
    /// The head is this many bytes long, final empty line included.
    Complete(usize),
    /// The head is malformed.
    Fault(HeadFault),
}

/// Incremental search for the empty line that ends a head.
#[derive(Debug, Clone, Copy, Default)]
pub struct HeadScanner {
    /// Bytes already scanned without finding the end.
    scanned: usize,
    /// Where the current line starts.
    line_start: usize,
}

impl HeadScanner {
    /// Scans `buf`, which holds every byte of the head read so far (the same bytes as in the
    /// previous call, plus new ones).
    pub fn scan(&mut self, buf: &[u8]) -> HeadEnd {
        let from = self.scanned.min(buf.len());
        for lf in memchr::memchr_iter(b'\n', &buf[from..]).map(|p| p + from) {
            if lf == 0 || buf[lf - 1] != b'\r' {
                return HeadEnd::Fault(HeadFault::BareLf);
            }
            if lf - 1 == self.line_start {
                if self.line_start == 0 {
                    return HeadEnd::Fault(HeadFault::EmptyFirstLine);
                }
                self.scanned = lf + 1;
                return HeadEnd::Complete(lf + 1);
            }
            self.line_start = lf + 1;
        }
        self.scanned = buf.len();
        HeadEnd::Partial
    }
}

/// How many bytes of empty lines (CRLF pairs) start `buf`: RFC 9112 §2.2 lets a server skip
/// them before a request line.
pub fn leading_empty_lines(buf: &[u8]) -> usize {
    buf.chunks_exact(2).take_while(|p| p == b"\r\n").count() * 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(buf: &[u8]) -> HeadEnd {
        HeadScanner::default().scan(buf)
    }

    #[test]
    fn finds_the_end_in_one_piece_or_many() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY";
        assert_eq!(whole(head), HeadEnd::Complete(head.len() - 4));
        let mut s = HeadScanner::default();
        for end in 1..head.len() - 4 {
            assert_eq!(s.scan(&head[..end]), HeadEnd::Partial, "at {end}");
        }
        assert_eq!(s.scan(head), HeadEnd::Complete(head.len() - 4));
    }

    #[test]
    fn bare_lf_is_a_fault_wherever_it_is() {
        for bad in [
            &b"GET / HTTP/1.1\nHost: a\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: a\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n\n",
            b"GET / HTTP/1.1\r\nHost: a\n\n",
            b"\nGET / HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(whole(bad), HeadEnd::Fault(HeadFault::BareLf), "{bad:?}");
        }
        // Split between the CR and the LF: still fine.
        let mut s = HeadScanner::default();
        assert_eq!(s.scan(b"GET / HTTP/1.1\r"), HeadEnd::Partial);
        assert_eq!(
            s.scan(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            HeadEnd::Complete(27)
        );
    }

    #[test]
    fn empty_first_line_and_leading_lines() {
        assert_eq!(
            whole(b"\r\nHTTP/1.1 200 OK\r\n\r\n"),
            HeadEnd::Fault(HeadFault::EmptyFirstLine)
        );
        assert_eq!(leading_empty_lines(b"\r\n\r\nGET"), 4);
        assert_eq!(leading_empty_lines(b"\r\n\nGET"), 2);
        assert_eq!(leading_empty_lines(b"GET"), 0);
    }
}
