//! Where a rejected head went wrong, for `show errors`. httparse says only that a head is
//! invalid, not where; this walk of the RFC 9112 grammar runs on the error path only and
//! finds the first byte the grammar refuses, as HAProxy's `error at position`.

use crate::config::units::is_token_byte;

/// Offset of the first byte of `head` that breaks the request (or response) grammar; for a
/// head that is well formed but refused as a whole (a conflicting Content-Length, a missing
/// Host) or cut short, where the walk stopped: its end.
pub fn error_position(head: &[u8], response: bool) -> usize {
    let mut walk = Walk { head, at: 0 };
    match walk.message(response) {
        Ok(()) | Err(()) => walk.at,
    }
}

struct Walk<'h> {
    head: &'h [u8],
    at: usize,
}

/// `Err` stops the walk at `at`.
type Step = Result<(), ()>;

impl Walk<'_> {
    fn peek(&self) -> Option<u8> {
        self.head.get(self.at).copied()
    }

    fn message(&mut self, response: bool) -> Step {
        if response {
            self.status_line()?;
        } else {
            // Empty lines before a request line are allowed (RFC 9112 §2.2).
            while self.head[self.at..].starts_with(b"\r\n") {
                self.at += 2;
            }
            self.request_line()?;
        }
        loop {
            if self.peek() == Some(b'\r') {
                return self.eol();
            }
            self.header_line()?;
        }
    }

    fn request_line(&mut self) -> Step {
        self.some(is_token_byte)?;
        self.byte(b' ')?;
        self.some(|b| b > b' ' && b != 0x7f)?;
        self.byte(b' ')?;
        self.version()?;
        self.eol()
    }

    fn status_line(&mut self) -> Step {
        self.version()?;
        self.byte(b' ')?;
        for _ in 0..3 {
            self.one(|b| b.is_ascii_digit())?;
        }
        if self.peek() == Some(b' ') {
            self.at += 1;
            self.any(|b| b == b'\t' || b == b' ' || (b > b' ' && b != 0x7f));
        }
        self.eol()
    }

    fn version(&mut self) -> Step {
        for &expected in b"HTTP/" {
            self.byte(expected)?;
        }
        self.one(|b| b.is_ascii_digit())?;
        self.byte(b'.')?;
        self.one(|b| b.is_ascii_digit())
    }

    fn header_line(&mut self) -> Step {
        self.some(is_token_byte)?;
        self.byte(b':')?;
        self.any(|b| b == b'\t' || b == b' ' || (b > b' ' && b != 0x7f));
        self.eol()
    }

    fn eol(&mut self) -> Step {
        self.byte(b'\r')?;
        self.byte(b'\n')
    }

    fn byte(&mut self, expected: u8) -> Step {
        self.one(|b| b == expected)
    }

    fn one(&mut self, ok: impl Fn(u8) -> bool) -> Step {
        match self.peek() {
            Some(b) if ok(b) => {
                self.at += 1;
                Ok(())
            }
            _ => Err(()),
        }
    }

    fn some(&mut self, ok: impl Fn(u8) -> bool) -> Step {
        self.one(&ok)?;
        self.any(ok);
        Ok(())
    }

    fn any(&mut self, ok: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&ok) {
            self.at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_match_haproxy() {
        // The positions HAProxy 2.6 reports for the same bytes.
        assert_eq!(
            error_position(b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", false),
            5
        );
        assert_eq!(
            error_position(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", false),
            19
        );
        assert_eq!(
            error_position(
                b"HTTP/1.1 200 OK\r\nBad Header\r\nContent-Length: 0\r\n\r\n",
                true
            ),
            20
        );
    }

    #[test]
    fn other_faults() {
        assert_eq!(error_position(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", false), 22);
        assert_eq!(error_position(b"GET / HTTP/1.1\nHost: a\n\n", false), 14);
        assert_eq!(error_position(b"GET / HTTQ/1.1\r\n\r\n", false), 9);
        assert_eq!(
            error_position(b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n", false),
            20
        );
        assert_eq!(
            error_position(b"GET / HTTP/1.1\r\n folded\r\n\r\n", false),
            16
        );
        assert_eq!(error_position(b"HTTP/1.1 2x0 OK\r\n\r\n", true), 10);
        assert_eq!(error_position(b"HTTP/1.1 200\r\n\r\n", true), 16);
        // Well formed, or cut short: the end.
        assert_eq!(error_position(b"GET / HTTP/1.1\r\nHost: a", false), 23);
    }
}
