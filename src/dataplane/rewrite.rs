//! A message head being rewritten by `http-request`/`http-response` rules, without copying
//! the lines it keeps: each line is a piece of the read buffer or of the side buffer where
//! new and changed lines are written, and the head goes out as one writev of those pieces.
//!
//! Every piece is followed by CRLF in its own buffer, so a line and its end leave together.
//! Lines the proxy manages itself (hop-by-hop headers) stay visible to rules but are hidden
//! from the output, as they are without rules.

use std::ops::Range;

use super::http1::Spans;

/// A line of the head: `buf[start..end]` or `extra[start..end]`, CRLF after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// In the side buffer rather than the read buffer.
    pub extra: bool,
    /// First byte.
    pub start: u32,
    /// One past the last byte, before the CRLF.
    pub end: u32,
}

impl Piece {
    /// The line's bytes.
    pub fn bytes<'a>(&self, buf: &'a [u8], extra: &'a [u8]) -> &'a [u8] {
        let from = if self.extra { extra } else { buf };
        from.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

/// One header line.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The line.
    pub piece: Piece,
    /// Length of the name (the colon's offset in the line).
    pub name_len: u32,
    /// Written by ringlb itself: visible to rules, never forwarded.
    pub hidden: bool,
}

impl Field {
    /// The name and the value without surrounding blanks.
    pub fn split<'a>(&self, buf: &'a [u8], extra: &'a [u8]) -> (&'a [u8], &'a [u8]) {
        let line = self.piece.bytes(buf, extra);
        let colon = (self.name_len as usize).min(line.len());
        let value = line.get(colon + 1..).unwrap_or_default().trim_ascii();
        (&line[..colon], value)
    }
}

/// Why a rewrite could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    /// A value held a byte a header line (or the request line) may not carry.
    #[error("rewritten value holds a forbidden byte")]
    Forbidden,
    /// The head grew past the buffer size.
    #[error("rewritten head exceeds the buffer size")]
    TooLarge,
}

/// A head under rewriting.
#[derive(Debug, Clone)]
pub struct HeadEdit {
    /// The request or status line.
    pub line: Piece,
    /// Header lines in order.
    pub fields: Vec<Field>,
    /// The largest head that may go out.
    limit: usize,
}

impl HeadEdit {
    /// The head `buf[start..end]` (final blank line included), its first line `line_len`
    /// long; lines starting at one of `hidden`'s spans are hidden from the output.
    pub fn new(
        buf: &[u8],
        head: Range<usize>,
        line_len: usize,
        hidden: &Spans,
        limit: usize,
    ) -> Self {
        let line = Piece {
            extra: false,
            start: head.start as u32,
            end: (head.start + line_len) as u32,
        };
        let mut fields = Vec::with_capacity(16);
        let mut at = head.start + line_len + 2;
        let end = head.end.saturating_sub(2);
        while at < end {
            let rest = buf.get(at..end).unwrap_or_default();
            let len = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i);
            let line = rest.get(..len).unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(colon) = memchr::memchr(b':', line) {
                fields.push(Field {
                    piece: Piece {
                        extra: false,
                        start: at as u32,
                        end: (at + line.len()) as u32,
                    },
                    name_len: colon as u32,
                    hidden: hidden.contains_start(at),
                });
            }
            at += len + 1;
        }
        Self {
            line,
            fields,
            limit,
        }
    }

    /// Writes `line` into `extra` as a new line and returns its piece.
    fn write_line(&self, extra: &mut Vec<u8>, parts: &[&[u8]]) -> Result<Piece, RewriteError> {
        let start = extra.len();
        for part in parts {
            extra.extend_from_slice(part);
        }
        let end = extra.len();
        extra.extend_from_slice(b"\r\n");
        if extra.len() > self.limit {
            return Err(RewriteError::TooLarge);
        }
        Ok(Piece {
            extra: true,
            start: start as u32,
            end: end as u32,
        })
    }

    /// Replaces the first line with `parts` joined.
    pub fn set_line(&mut self, extra: &mut Vec<u8>, parts: &[&[u8]]) -> Result<(), RewriteError> {
        self.line = self.write_line(extra, parts)?;
        Ok(())
    }

    /// Appends `name: value`; `value` may not hold CR, LF or NUL.
    pub fn add(
        &mut self,
        extra: &mut Vec<u8>,
        name: &[u8],
        value: &[u8],
    ) -> Result<(), RewriteError> {
        check_value(value)?;
        let piece = self.write_line(extra, &[name, b": ", value])?;
        self.fields.push(Field {
            piece,
            name_len: name.len() as u32,
            hidden: false,
        });
        Ok(())
    }

    /// Removes the visible lines whose name `matches`.
    pub fn remove(&mut self, buf: &[u8], extra: &[u8], matches: impl Fn(&[u8]) -> bool) {
        self.fields
            .retain(|f| f.hidden || !matches(f.split(buf, extra).0));
    }

    /// Replaces field `index`'s value with `value`.
    pub fn replace_value(
        &mut self,
        index: usize,
        buf: &[u8],
        extra: &mut Vec<u8>,
        value: &[u8],
    ) -> Result<(), RewriteError> {
        check_value(value)?;
        let Some(field) = self.fields.get(index).copied() else {
            return Ok(());
        };
        let name = field.split(buf, extra).0.to_vec();
        let piece = self.write_line(extra, &[&name, b": ", value])?;
        if let Some(f) = self.fields.get_mut(index) {
            f.piece = piece;
            f.name_len = name.len() as u32;
        }
        Ok(())
    }

    /// The pieces to send, in order, as ranges tagged with their buffer (`true`: extra),
    /// each with its CRLF; adjacent ranges of the read buffer are merged.
    pub fn pieces(&self) -> impl Iterator<Item = (bool, Range<usize>)> + '_ {
        let line = std::iter::once(self.line);
        let fields = self.fields.iter().filter(|f| !f.hidden).map(|f| f.piece);
        let mut pending: Option<(bool, Range<usize>)> = None;
        let mut all = line
            .chain(fields)
            .map(|p| (p.extra, p.start as usize..p.end as usize + 2));
        std::iter::from_fn(move || loop {
            match all.next() {
                Some((extra, range)) => match pending.take() {
                    Some((e, r)) if e == extra && !extra && r.end == range.start => {
                        pending = Some((e, r.start..range.end));
                    }
                    Some(done) => {
                        pending = Some((extra, range));
                        return Some(done);
                    }
                    None => pending = Some((extra, range)),
                },
                None => return pending.take(),
            }
        })
    }
}

/// A header value must not end its line early or carry NUL (CRLF injection).
pub fn check_value(value: &[u8]) -> Result<(), RewriteError> {
    if value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(RewriteError::Forbidden);
    }
    Ok(())
}

/// A request target or method must hold no blank or control byte.
pub fn check_token(value: &[u8]) -> Result<(), RewriteError> {
    if value.is_empty() || value.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err(RewriteError::Forbidden);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(edit: &HeadEdit, buf: &[u8], extra: &[u8]) -> String {
        let mut out = Vec::new();
        for (is_extra, range) in edit.pieces() {
            let from = if is_extra { extra } else { buf };
            out.extend_from_slice(&from[range]);
        }
        String::from_utf8(out).unwrap()
    }

    const HEAD: &[u8] = b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\nX-A: 1\r\n\r\n";

    #[test]
    fn untouched_head_goes_out_as_one_piece_without_hidden_lines() {
        let mut hidden = Spans::default();
        hidden.push(26, 45);
        let edit = HeadEdit::new(HEAD, 0..HEAD.len(), 15, &hidden, 16384);
        assert_eq!(edit.fields.len(), 3);
        assert!(edit.fields[1].hidden);
        assert_eq!(
            render(&edit, HEAD, b""),
            "GET /a HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n"
        );
        assert_eq!(edit.pieces().count(), 2, "kept lines merge into runs");
    }

    #[test]
    fn edits_keep_order_and_refuse_injection() {
        let mut edit = HeadEdit::new(HEAD, 0..HEAD.len(), 15, &Spans::default(), 16384);
        let mut extra = Vec::new();
        edit.remove(HEAD, &extra, |n| n.eq_ignore_ascii_case(b"host"));
        edit.add(&mut extra, b"X-B", b"2").unwrap();
        edit.replace_value(1, HEAD, &mut extra, b"one").unwrap();
        edit.set_line(&mut extra, &[b"GET /b HTTP/1.1"]).unwrap();
        assert_eq!(
            render(&edit, HEAD, &extra),
            "GET /b HTTP/1.1\r\nConnection: close\r\nX-A: one\r\nX-B: 2\r\n"
        );
        assert_eq!(
            edit.add(&mut extra, b"X-C", b"a\r\nEvil: 1"),
            Err(RewriteError::Forbidden)
        );
        let mut small = HeadEdit::new(HEAD, 0..HEAD.len(), 15, &Spans::default(), 8);
        assert_eq!(
            small.add(&mut Vec::new(), b"X-Long", b"0123456789"),
            Err(RewriteError::TooLarge)
        );
    }
}
