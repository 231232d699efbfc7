//! Fetches over a connection's buffered request bytes (`tcp-request content` and `mode tcp`
//! switching): `req.payload`, `req.payload_lv`, `req_ssl_hello_type`, `req_ssl_sni` and
//! `req.rdp_cookie`, as
//! HAProxy 2.6 reads them (`src/payload.c`). Every read is bounds-checked: hostile bytes
//! give "nothing found", never a panic.

/// What a payload fetch found in the bytes buffered so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peek<T> {
    /// The value.
    Found(T),
    /// Not there, and more bytes could still change that (HAProxy's `SMP_F_MAY_CHANGE`).
    Short,
    /// Not there, whatever follows.
    Absent,
}

/// HAProxy's `tune.bufsize`: payload fetches reaching past it can never match.
pub const BUFSIZE: usize = 16384;

fn be(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
}

/// `req.payload(offset,len)`; `len` 0 reads to the end of what is buffered.
pub fn payload(buf: &[u8], offset: usize, len: usize) -> Peek<&[u8]> {
    if len == 0 {
        return match buf.get(offset..) {
            Some(rest) => Peek::Found(rest),
            None => Peek::Short,
        };
    }
    let Some(end) = offset.checked_add(len).filter(|&e| e <= BUFSIZE) else {
        return Peek::Absent;
    };
    match buf.get(offset..end) {
        Some(bytes) => Peek::Found(bytes),
        None => Peek::Short,
    }
}

/// Where `req.payload_lv`'s block starts: right after the length field, at an absolute
/// offset, or relative to the length field's end (`+N`/`-N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LvStart {
    /// Right after the length field.
    AfterLength,
    /// From the start of the buffer.
    Absolute(i64),
    /// From the end of the length field.
    Relative(i64),
}

/// `req.payload_lv(offset1,len1[,offset2])`: a block whose length is the `len1`-byte
/// big-endian integer at `offset1`.
pub fn payload_lv(buf: &[u8], len_offset: usize, len_size: usize, start: LvStart) -> Peek<&[u8]> {
    let Some(len_end) = len_offset.checked_add(len_size) else {
        return Peek::Absent;
    };
    let Some(field) = buf.get(len_offset..len_end) else {
        return Peek::Short;
    };
    let size = be(field);
    let offset = match start {
        LvStart::AfterLength => Some(len_end as i64),
        LvStart::Absolute(o) => Some(o),
        LvStart::Relative(o) => (len_end as i64).checked_add(o),
    };
    let Some(offset) = offset.and_then(|o| usize::try_from(o).ok()) else {
        return Peek::Absent;
    };
    match offset.checked_add(size) {
        Some(end) if size > 0 && end <= BUFSIZE => match buf.get(offset..end) {
            Some(bytes) => Peek::Found(bytes),
            None => Peek::Short,
        },
        _ => Peek::Absent,
    }
}

/// `req_ssl_hello_type`: the handshake type of the first TLS record, once the whole
/// handshake message is buffered.
pub fn ssl_hello_type(buf: &[u8]) -> Peek<u8> {
    let Some(&first) = buf.first() else {
        return Peek::Short;
    };
    if !((0x14..=0x17).contains(&first) || first == 0xff) {
        return Peek::Absent;
    }
    let Some(h) = buf.get(..9) else {
        return Peek::Short;
    };
    if (usize::from(h[1]) << 16) + usize::from(h[2]) < 0x0003_0000 {
        return Peek::Absent;
    }
    if be(&h[3..5]) < 4 {
        return Peek::Absent;
    }
    let hs_len = be(&h[6..9]);
    if buf.len() < hs_len + 9 {
        return if hs_len + 9 > BUFSIZE {
            Peek::Absent
        } else {
            Peek::Short
        };
    }
    Peek::Found(h[5])
}

/// `req_ssl_sni`: the host name of a TLS ClientHello's server_name extension.
pub fn ssl_sni(buf: &[u8]) -> Peek<&[u8]> {
    let Some(&first) = buf.first() else {
        return Peek::Short;
    };
    // A handshake record of SSLv3 or later.
    if first != 0x16 {
        return Peek::Absent;
    }
    match buf.get(1) {
        None => return Peek::Short,
        Some(&major) if major < 0x03 => return Peek::Absent,
        Some(_) => {}
    }
    let Some(record) = buf.get(..5) else {
        return Peek::Short;
    };
    // Too short to hold an extension.
    if be(&record[3..5]) < 1 + 3 + 2 + 32 + 1 + 2 + 2 + 1 + 1 + 2 + 2 {
        return Peek::Absent;
    }
    let hs = &buf[5..];
    match hs.first() {
        None => return Peek::Short,
        Some(&1) => {}
        Some(_) => return Peek::Absent,
    }
    let Some(hs_head) = hs.get(..4) else {
        return Peek::Short;
    };
    let hs_len = be(&hs_head[1..4]);
    if hs_len < 2 + 32 + 1 + 2 + 2 + 1 + 1 + 2 + 2 {
        return Peek::Absent;
    }
    let Some(hello) = hs.get(4..4 + hs_len) else {
        // The whole ClientHello is wanted; one larger than the buffer never completes.
        return if hs_len + 9 > BUFSIZE {
            Peek::Absent
        } else {
            Peek::Short
        };
    };
    match sni_in_hello(hello) {
        Some(name) => Peek::Found(name),
        None => Peek::Absent,
    }
}

/// The host name in a complete ClientHello body (after its 4-byte handshake header).
fn sni_in_hello(hello: &[u8]) -> Option<&[u8]> {
    // TLS 1.0 at least.
    if *hello.first()? < 0x03 || *hello.get(1)? < 0x01 {
        return None;
    }
    let session_len = usize::from(*hello.get(34)?);
    if session_len > 32 {
        return None;
    }
    let rest = hello.get(35 + session_len..)?;
    let ciphers = be(rest.get(..2)?);
    if ciphers < 2 {
        return None;
    }
    let rest = rest.get(2 + ciphers..)?;
    let methods = usize::from(*rest.first()?);
    if methods < 1 {
        return None;
    }
    let rest = rest.get(1 + methods..)?;
    let ext_total = be(rest.get(..2)?);
    let mut exts = rest.get(2..2 + ext_total)?;
    while exts.len() >= 4 {
        let ext_type = be(&exts[..2]);
        let ext_len = be(&exts[2..4]);
        let body = exts.get(4..4 + ext_len)?;
        if ext_type == 0 {
            // server_name_list: its length, then (type, length, name) entries.
            let list_len = be(body.get(..2)?);
            if list_len < 4 {
                return None;
            }
            let entry = body.get(2..)?;
            if *entry.first()? == 0 {
                let name_len = be(entry.get(1..3)?);
                return entry.get(3..3 + name_len);
            }
        }
        exts = &exts[4 + ext_len..];
    }
    None
}

/// `req.rdp_cookie(NAME)`: in an RDP connection request (an 11-byte TPKT and X.224 header,
/// then `Cookie: NAME=VALUE` and CRLF), the value of cookie `name` (any name when empty),
/// as HAProxy's `fetch_rdp_cookie_name` reads it.
pub fn rdp_cookie<'a>(buf: &'a [u8], name: &[u8]) -> Peek<&'a [u8]> {
    let Some(rest) = buf.get(11..).filter(|r| r.len() > 7) else {
        return Peek::Short;
    };
    if !rest[..7].eq_ignore_ascii_case(b"Cookie:") {
        return Peek::Absent;
    }
    let rest = &rest[7..];
    let rest = &rest[rest.iter().take_while(|&&b| b == b' ').count()..];
    let value = if name.is_empty() {
        match rest.iter().position(|&b| matches!(b, b'=' | b'\r' | b'\n')) {
            None => return Peek::Short,
            Some(at) if rest[at] != b'=' => return Peek::Absent,
            Some(at) => &rest[at + 1..],
        }
    } else {
        if rest.len() <= name.len() {
            return Peek::Short;
        }
        if rest[name.len()] != b'=' || !rest[..name.len()].eq_ignore_ascii_case(name) {
            return Peek::Absent;
        }
        &rest[name.len() + 1..]
    };
    let end = value
        .iter()
        .position(|&b| b == b'\r')
        .unwrap_or(value.len());
    match value.get(end..end + 2) {
        None => Peek::Short,
        Some(b"\r\n") => Peek::Found(&value[..end]),
        Some(_) => Peek::Absent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RDP connection request as mstsc sends it: TPKT and X.224 headers, then `cookie`.
    fn rdp(cookie: &[u8]) -> Vec<u8> {
        let mut out = vec![3, 0, 0, 0, 0x1e, 0xe0, 0, 0, 0, 0, 0];
        out.extend_from_slice(cookie);
        out.extend_from_slice(&[1, 0, 8, 0, 3, 0, 0, 0]);
        out
    }

    #[test]
    fn rdp_cookies_as_haproxy_reads_them() {
        let full = rdp(b"Cookie: mstshash=alice\r\n");
        assert_eq!(rdp_cookie(&full, b"mstshash"), Peek::Found(&b"alice"[..]));
        assert_eq!(rdp_cookie(&full, b"MSTSHASH"), Peek::Found(&b"alice"[..]));
        assert_eq!(rdp_cookie(&full, b""), Peek::Found(&b"alice"[..]));
        assert_eq!(rdp_cookie(&full, b"msts"), Peek::Absent);
        let spaced = rdp(b"cookie:   msts=3640205228.15629.0000\r\n");
        assert_eq!(
            rdp_cookie(&spaced, b"msts"),
            Peek::Found(&b"3640205228.15629.0000"[..])
        );
        assert_eq!(rdp_cookie(&rdp(b"Other: x=1\r\n"), b""), Peek::Absent);
        assert_eq!(rdp_cookie(&rdp(b"Cookie: a=1\rX"), b"a"), Peek::Absent);
        assert_eq!(rdp_cookie(&rdp(b"Cookie: novalue\r\n"), b""), Peek::Absent);
        // Every cut of a request before its CRLF may still become one.
        let end = 11 + b"Cookie: mstshash=alice\r\n".len();
        for cut in 0..end {
            assert_eq!(rdp_cookie(&full[..cut], b"mstshash"), Peek::Short, "{cut}");
        }
        assert_eq!(
            rdp_cookie(&full[..end], b"mstshash"),
            Peek::Found(&b"alice"[..])
        );
    }

    /// A ClientHello for `name` as a TLS 1.2 client sends it (one cipher, one extension
    /// before the server name, one after).
    pub(crate) fn client_hello(name: &str) -> Vec<u8> {
        let mut sni = vec![0u8];
        sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
        sni.extend_from_slice(name.as_bytes());
        let mut sni_ext = (sni.len() as u16).to_be_bytes().to_vec();
        sni_ext.extend(sni);
        let mut exts = vec![0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]; // ec_point_formats
        exts.extend_from_slice(&[0x00, 0x00]);
        exts.extend_from_slice(&(sni_ext.len() as u16).to_be_bytes());
        exts.extend(sni_ext);
        exts.extend_from_slice(&[0x00, 0x17, 0x00, 0x00]); // extended_master_secret
        let mut hello = vec![0x03, 0x03];
        hello.extend_from_slice(&[7u8; 32]);
        hello.push(0); // session id
        hello.extend_from_slice(&[0x00, 0x02, 0xc0, 0x2f]);
        hello.extend_from_slice(&[0x01, 0x00]);
        hello.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        hello.extend(exts);
        let mut hs = vec![0x01];
        hs.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
        hs.extend(hello);
        let mut rec = vec![0x16, 0x03, 0x01];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend(hs);
        rec
    }

    #[test]
    fn sni_found_and_every_prefix_is_short() {
        let hello = client_hello("foo.example.com");
        assert_eq!(ssl_sni(&hello), Peek::Found(&b"foo.example.com"[..]));
        assert_eq!(ssl_hello_type(&hello), Peek::Found(1));
        for cut in 0..hello.len() {
            assert_eq!(ssl_sni(&hello[..cut]), Peek::Short, "prefix {cut}");
        }
    }

    #[test]
    fn not_tls_is_absent_at_once() {
        assert_eq!(ssl_sni(b"GET / HTTP/1.1\r\n"), Peek::Absent);
        assert_eq!(ssl_hello_type(b"GET / HTTP/1.1\r\n"), Peek::Absent);
        assert_eq!(ssl_sni(b""), Peek::Short);
    }

    #[test]
    fn corrupted_lengths_never_panic() {
        let hello = client_hello("a.b");
        for i in 0..hello.len() {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut h = hello.clone();
                h[i] = v;
                let _ = ssl_sni(&h);
                let _ = ssl_hello_type(&h);
            }
        }
    }

    #[test]
    fn payload_bounds() {
        assert_eq!(payload(b"abcdef", 1, 3), Peek::Found(&b"bcd"[..]));
        assert_eq!(payload(b"ab", 1, 3), Peek::Short);
        assert_eq!(payload(b"ab", 1, BUFSIZE), Peek::Absent);
        assert_eq!(payload(b"abc", 1, 0), Peek::Found(&b"bc"[..]));
        assert_eq!(
            payload_lv(b"\x03abcd", 0, 1, LvStart::AfterLength),
            Peek::Found(&b"abc"[..])
        );
        assert_eq!(
            payload_lv(b"\x05abcd", 0, 1, LvStart::AfterLength),
            Peek::Short
        );
        assert_eq!(
            payload_lv(b"\x02xabcd", 0, 1, LvStart::Relative(1)),
            Peek::Found(&b"ab"[..])
        );
        assert_eq!(
            payload_lv(b"\x02xabcd", 0, 1, LvStart::Absolute(3)),
            Peek::Found(&b"bc"[..])
        );
        assert_eq!(
            payload_lv(b"\x00", 0, 1, LvStart::AfterLength),
            Peek::Absent
        );
    }
}
