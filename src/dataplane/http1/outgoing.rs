//! A message head on its way out: the bytes as they were read, minus the lines the proxy
//! drops, plus the lines it adds, written with one writev and no copy of the original bytes.

use std::ops::Range;

use monoio::buf::IoVecBuf;

use super::headers::Spans;

/// A read buffer and the pieces of it to send, ready for `writev`.
///
/// The iovecs point into `buf` and `extra`. Their heap storage does not move while this value
/// is owned by the runtime (moving the struct moves only the `Vec` headers), and every method
/// that could move or change it forgets the plan first, so a planned iovec never dangles.
pub struct Outgoing {
    buf: Vec<u8>,
    extra: Vec<u8>,
    iov: Vec<libc::iovec>,
    /// First iovec not yet fully written.
    next: usize,
}

impl Outgoing {
    /// An empty value holding two buffers and reusable iovec storage.
    pub fn new(buf: Vec<u8>, extra: Vec<u8>) -> Self {
        Self {
            buf,
            extra,
            iov: Vec::with_capacity(Spans::CAPACITY + 4),
            next: 0,
        }
    }

    /// The read buffer.
    pub fn buf(&self) -> &Vec<u8> {
        &self.buf
    }

    /// The read buffer, to read more into it. Forgets any planned write: the iovecs could
    /// point into storage this access moves or frees.
    pub fn buf_mut(&mut self) -> &mut Vec<u8> {
        self.unplan();
        &mut self.buf
    }

    /// The buffer for added header lines. Forgets any planned write, as `buf_mut` does.
    pub fn extra_mut(&mut self) -> &mut Vec<u8> {
        self.unplan();
        &mut self.extra
    }

    /// Bytes in the added-lines buffer.
    pub fn extra_len(&self) -> usize {
        self.extra.len()
    }

    /// Empties the added-lines buffer (and forgets any planned write).
    pub fn clear_extra(&mut self) {
        self.unplan();
        self.extra.clear();
    }

    /// Appends `buf[range]` to the added lines (a value taken from the head itself).
    pub fn extra_from_buf(&mut self, range: Range<usize>) {
        self.unplan();
        if range.start <= range.end && range.end <= self.buf.len() {
            self.extra.extend_from_slice(&self.buf[range]);
        }
    }

    fn unplan(&mut self) {
        self.iov.clear();
        self.next = 0;
    }

    /// Plans the head `buf[head]` (its lines end in CRLF) without the `drop` lines, followed
    /// by `extra` (which must end with the blank line), followed by `buf[body]`.
    pub fn plan_head(&mut self, head: Range<usize>, drop: &Spans, body: Range<usize>) {
        self.unplan();
        let fields_end = head.end.saturating_sub(2).max(head.start);
        let mut cursor = head.start;
        for &(start, end) in drop.as_slice() {
            let (start, end) = (start as usize, end as usize);
            self.push_buf(cursor..start);
            cursor = cursor.max(end);
        }
        self.push_buf(cursor..fields_end);
        let extra = (self.extra.as_ptr(), self.extra.len());
        self.push_raw(extra.0, extra.1);
        self.push_buf(body);
    }

    /// The read buffer and the added-lines buffer, to read a rewritten head.
    pub fn parts(&self) -> (&[u8], &[u8]) {
        (&self.buf, &self.extra)
    }

    /// The read buffer to read from and the added-lines buffer to write to, at once (rules
    /// read the head while they write new lines). Forgets any planned write.
    pub fn split_mut(&mut self) -> (&[u8], &mut Vec<u8>) {
        self.unplan();
        (&self.buf, &mut self.extra)
    }

    /// Plans a rewritten head: `pieces` of `buf` (`false`) or `extra` (`true`), then
    /// `extra[tail]` (added lines and the blank line), then `buf[body]`.
    pub fn plan_pieces(
        &mut self,
        pieces: impl Iterator<Item = (bool, Range<usize>)>,
        tail: Range<usize>,
        body: Range<usize>,
    ) {
        self.unplan();
        for (extra, range) in pieces {
            if extra {
                self.push_extra(range);
            } else {
                self.push_buf(range);
            }
        }
        self.push_extra(tail);
        self.push_buf(body);
    }

    fn push_extra(&mut self, range: Range<usize>) {
        if range.start < range.end && range.end <= self.extra.len() {
            // SAFETY: the range was checked against the buffer's length just above.
            let ptr = unsafe { self.extra.as_ptr().add(range.start) };
            self.push_raw(ptr, range.end - range.start);
        }
    }

    /// Plans `buf[range]` alone.
    pub fn plan_body(&mut self, range: Range<usize>) {
        self.unplan();
        self.push_buf(range);
    }

    /// Bytes still to write.
    pub fn remaining(&self) -> usize {
        self.iov[self.next..].iter().map(|v| v.iov_len).sum()
    }

    /// Marks `n` more bytes as written.
    pub fn advance(&mut self, mut n: usize) {
        while n > 0 && self.next < self.iov.len() {
            let v = &mut self.iov[self.next];
            if v.iov_len <= n {
                n -= v.iov_len;
                self.next += 1;
            } else {
                // SAFETY: `n < iov_len`, so the new base stays inside the same buffer.
                v.iov_base = unsafe { (v.iov_base as *mut u8).add(n) }.cast();
                v.iov_len -= n;
                n = 0;
            }
        }
    }

    fn push_buf(&mut self, range: Range<usize>) {
        if range.start < range.end && range.end <= self.buf.len() {
            // SAFETY: the range was checked against the buffer's length just above.
            let ptr = unsafe { self.buf.as_ptr().add(range.start) };
            self.push_raw(ptr, range.end - range.start);
        }
    }

    fn push_raw(&mut self, ptr: *const u8, len: usize) {
        if len > 0 {
            self.iov.push(libc::iovec {
                iov_base: ptr as *mut libc::c_void,
                iov_len: len,
            });
        }
    }

    /// The planned bytes gathered into one vector (tests and diagnostics).
    pub fn planned_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for v in &self.iov[self.next..] {
            // SAFETY: every iovec points into `buf` or `extra`, alive and unchanged.
            out.extend_from_slice(unsafe {
                std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len)
            });
        }
        out
    }
}

// SAFETY: the pointer and count describe `iov[next..]`, valid iovecs into heap storage owned
// by this value and not modified while the runtime holds it.
unsafe impl IoVecBuf for Outgoing {
    fn read_iovec_ptr(&self) -> *const libc::iovec {
        // SAFETY: `next <= iov.len()`.
        unsafe { self.iov.as_ptr().add(self.next) }
    }

    fn read_iovec_len(&self) -> usize {
        self.iov.len() - self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_without_dropped_lines_plus_extra_and_body() {
        let raw =
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nAccept: x\r\n\r\nBODY".to_vec();
        let mut drop = Spans::default();
        let start = 25;
        let end = start + "Connection: close\r\n".len();
        drop.push(start, end);
        let mut out = Outgoing::new(raw, b"X-Forwarded-For: 1.2.3.4\r\n\r\n".to_vec());
        let head_len = out.buf().len() - 4;
        out.plan_head(0..head_len, &drop, head_len..head_len + 4);
        assert_eq!(
            String::from_utf8(out.planned_bytes()).unwrap(),
            "GET / HTTP/1.1\r\nHost: a\r\nAccept: x\r\nX-Forwarded-For: 1.2.3.4\r\n\r\nBODY"
        );
        let total = out.remaining();
        out.advance(3);
        assert_eq!(out.remaining(), total - 3);
        assert!(out.planned_bytes().starts_with(b" / HTTP/1.1"));
        out.advance(total - 3);
        assert_eq!(out.remaining(), 0);
        assert_eq!(out.read_iovec_len(), 0);
    }

    #[test]
    fn mutable_access_forgets_the_plan() {
        let mut out = Outgoing::new(b"GET / HTTP/1.1\r\n\r\n".to_vec(), b"\r\n".to_vec());
        let len = out.buf().len();
        for touch in [
            (|o: &mut Outgoing| o.buf_mut().reserve(1 << 20)) as fn(&mut Outgoing),
            |o| o.extra_mut().reserve(1 << 20),
            |o| o.clear_extra(),
            |o| o.extra_from_buf(0..3),
        ] {
            out.plan_head(0..len, &Spans::default(), len..len);
            assert!(out.remaining() > 0);
            touch(&mut out);
            assert_eq!(out.remaining(), 0, "a stale plan survived");
            assert!(out.planned_bytes().is_empty());
            assert_eq!(out.read_iovec_len(), 0);
        }
    }

    #[test]
    fn leading_bytes_before_the_head_are_skipped() {
        let mut out = Outgoing::new(b"\r\nGET / HTTP/1.1\r\n\r\n".to_vec(), b"\r\n".to_vec());
        let len = out.buf().len();
        out.plan_head(2..len, &Spans::default(), len..len);
        assert_eq!(out.planned_bytes(), b"GET / HTTP/1.1\r\n\r\n");
    }
}
