//! The PROXY protocol (HAProxy's `doc/proxy-protocol.txt`), versions 1 (text) and 2
//! (binary): parsing the header a `bind … accept-proxy` listener reads first, and building
//! the one a `send-proxy`/`send-proxy-v2` server connection starts with.
//!
//! Pure functions over bytes, shared by the shards (traffic) and the control thread (health
//! checks with `check-send-proxy`), and fuzzed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The longest version 1 header, CRLF included (the specification's limit).
pub const V1_MAX: usize = 107;

/// The longest version 2 header accepted, TLVs included: HAProxy reads it into one buffer of
/// `tune.bufsize` (16 KiB by default) and refuses anything longer.
pub const V2_MAX: usize = 16_384;

/// The version 2 signature.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// Why a header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyProtoError {
    /// Neither `PROXY ` nor the version 2 signature.
    #[error("not a PROXY protocol header")]
    NotProxy,
    /// A version 1 line without CRLF within 107 bytes.
    #[error("PROXY v1 header too long")]
    V1TooLong,
    /// A version 1 line that does not follow the grammar.
    #[error("malformed PROXY v1 header")]
    V1Malformed,
    /// A version 2 header of another version or command.
    #[error("unsupported PROXY v2 version or command")]
    V2Unsupported,
    /// A version 2 header whose length cannot hold its addresses or TLVs.
    #[error("malformed PROXY v2 header")]
    V2Malformed,
    /// A version 2 header longer than `V2_MAX`.
    #[error("PROXY v2 header too long")]
    V2TooLong,
}

/// A complete header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Its length: the request starts right after.
    pub len: usize,
    /// The original client and the address it connected to; `None` for version 1
    /// `UNKNOWN`, version 2 `LOCAL` (a health check) or an unsupported family, where the
    /// connection's own addresses stay.
    pub addrs: Option<(SocketAddr, SocketAddr)>,
}

/// Parses the start of a connection: `Ok(None)` while more bytes are needed.
pub fn parse(buf: &[u8]) -> Result<Option<Header>, ProxyProtoError> {
    if is_prefix(buf, b"PROXY ") {
        return parse_v1(buf);
    }
    if is_prefix(buf, &V2_SIGNATURE) {
        return parse_v2(buf);
    }
    Err(ProxyProtoError::NotProxy)
}

/// How many bytes a header starting with `buf` has at least; past the fixed part of version
/// 2, exactly. Lets a reader size its buffer.
pub fn wanted(buf: &[u8]) -> usize {
    if buf.len() >= 16 && buf.starts_with(&V2_SIGNATURE) {
        16 + usize::from(u16::from_be_bytes([buf[14], buf[15]]))
    } else if buf.starts_with(b"\r") {
        16
    } else {
        V1_MAX
    }
}

/// How many more bytes a header that starts with `buf` (and is not complete in it) has for
/// certain: a reader may take that many without taking a byte of what follows the header.
pub fn certain_more(buf: &[u8]) -> usize {
    /// The shortest version 1 header.
    const V1_MIN: usize = b"PROXY UNKNOWN\r\n".len();
    let need = if is_prefix(buf, &V2_SIGNATURE) {
        wanted(buf).max(16).saturating_sub(buf.len())
    } else if buf.len() < V1_MIN {
        V1_MIN - buf.len()
    } else if buf.ends_with(b"\r") {
        1
    } else {
        2
    };
    need.max(1)
}

/// Whether `buf` and `full` agree on their common length.
fn is_prefix(buf: &[u8], full: &[u8]) -> bool {
    let n = buf.len().min(full.len());
    buf[..n] == full[..n]
}

fn parse_v1(buf: &[u8]) -> Result<Option<Header>, ProxyProtoError> {
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(cr) = window.windows(2).position(|w| w == b"\r\n") else {
        if buf.len() >= V1_MAX {
            return Err(ProxyProtoError::V1TooLong);
        }
        // A bare LF can never become a valid header.
        if window.contains(&b'\n') {
            return Err(ProxyProtoError::V1Malformed);
        }
        return Ok(None);
    };
    let line = std::str::from_utf8(&buf[6..cr]).map_err(|_| ProxyProtoError::V1Malformed)?;
    let len = cr + 2;
    let mut words = line.split(' ');
    let addrs = match words.next() {
        Some("UNKNOWN") => None,
        Some(proto @ ("TCP4" | "TCP6")) => {
            let v6 = proto == "TCP6";
            let mut next = || words.next().ok_or(ProxyProtoError::V1Malformed);
            let (src, dst) = (ip(next()?, v6)?, ip(next()?, v6)?);
            let (sport, dport) = (port(next()?)?, port(next()?)?);
            if words.next().is_some() {
                return Err(ProxyProtoError::V1Malformed);
            }
            Some((SocketAddr::new(src, sport), SocketAddr::new(dst, dport)))
        }
        _ => return Err(ProxyProtoError::V1Malformed),
    };
    Ok(Some(Header { len, addrs }))
}

fn ip(text: &str, v6: bool) -> Result<IpAddr, ProxyProtoError> {
    let parsed = if v6 {
        text.parse::<Ipv6Addr>().map(IpAddr::V6)
    } else {
        text.parse::<Ipv4Addr>().map(IpAddr::V4)
    };
    parsed.map_err(|_| ProxyProtoError::V1Malformed)
}

fn port(text: &str) -> Result<u16, ProxyProtoError> {
    let digits = !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = text.len() > 1 && text.starts_with('0');
    match text.parse::<u16>() {
        Ok(p) if digits && !leading_zero => Ok(p),
        _ => Err(ProxyProtoError::V1Malformed),
    }
}

fn parse_v2(buf: &[u8]) -> Result<Option<Header>, ProxyProtoError> {
    if buf.len() < 16 {
        return Ok(None);
    }
    let (ver_cmd, family) = (buf[12], buf[13]);
    if ver_cmd >> 4 != 2 || ver_cmd & 0x0f > 1 {
        return Err(ProxyProtoError::V2Unsupported);
    }
    let total = wanted(buf);
    if total > V2_MAX {
        return Err(ProxyProtoError::V2TooLong);
    }
    if buf.len() < total {
        return Ok(None);
    }
    let body = &buf[16..total];
    let (addrs, used) = match (ver_cmd & 0x0f, family) {
        // LOCAL: the sender's own connection (a health check); addresses, if any, ignored.
        (0, _) => (None, body.len()),
        (_, 0x11) if body.len() >= 12 => {
            let src = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            let dst = Ipv4Addr::new(body[4], body[5], body[6], body[7]);
            let sport = u16::from_be_bytes([body[8], body[9]]);
            let dport = u16::from_be_bytes([body[10], body[11]]);
            let pair = (
                SocketAddr::from((src, sport)),
                SocketAddr::from((dst, dport)),
            );
            (Some(pair), 12)
        }
        (_, 0x21) if body.len() >= 36 => {
            let octets = |at: usize| {
                let mut a = [0u8; 16];
                a.copy_from_slice(&body[at..at + 16]);
                Ipv6Addr::from(a)
            };
            let sport = u16::from_be_bytes([body[32], body[33]]);
            let dport = u16::from_be_bytes([body[34], body[35]]);
            let pair = (
                SocketAddr::from((octets(0), sport)),
                SocketAddr::from((octets(16), dport)),
            );
            (Some(pair), 36)
        }
        (_, 0x11 | 0x21) => return Err(ProxyProtoError::V2Malformed),
        // UNSPEC, UDP, UNIX: HAProxy keeps the connection's own addresses.
        _ => (None, body.len()),
    };
    check_tlvs(&body[used..])?;
    Ok(Some(Header { len: total, addrs }))
}

/// TLVs are skipped, but must fit (HAProxy refuses a header whose TLVs overrun it).
fn check_tlvs(mut tlvs: &[u8]) -> Result<(), ProxyProtoError> {
    while !tlvs.is_empty() {
        if tlvs.len() < 3 {
            return Err(ProxyProtoError::V2Malformed);
        }
        let len = 3 + usize::from(u16::from_be_bytes([tlvs[1], tlvs[2]]));
        if len > tlvs.len() {
            return Err(ProxyProtoError::V2Malformed);
        }
        tlvs = &tlvs[len..];
    }
    Ok(())
}

/// The header a `send-proxy` (`v2` false) or `send-proxy-v2` server connection starts with,
/// for a client at `src` connected to `dst`; `None` addresses (a health check) give
/// `PROXY UNKNOWN` or a version 2 `LOCAL` header, as HAProxy sends. Mixed families go as
/// IPv6, the IPv4 side mapped (`::ffff:a.b.c.d`), as HAProxy's `make_proxy_line` does.
pub fn build(v2: bool, addrs: Option<(SocketAddr, SocketAddr)>) -> Vec<u8> {
    let addrs = addrs.map(|(s, d)| {
        if s.is_ipv4() == d.is_ipv4() {
            (s, d)
        } else {
            (mapped(s), mapped(d))
        }
    });
    if !v2 {
        return match addrs {
            Some((s, d)) => {
                let proto = if s.is_ipv4() { "TCP4" } else { "TCP6" };
                format!(
                    "PROXY {proto} {} {} {} {}\r\n",
                    s.ip(),
                    d.ip(),
                    s.port(),
                    d.port()
                )
                .into_bytes()
            }
            None => b"PROXY UNKNOWN\r\n".to_vec(),
        };
    }
    let mut out = V2_SIGNATURE.to_vec();
    match addrs {
        Some((SocketAddr::V4(s), SocketAddr::V4(d))) => {
            out.extend_from_slice(&[0x21, 0x11, 0, 12]);
            out.extend_from_slice(&s.ip().octets());
            out.extend_from_slice(&d.ip().octets());
            out.extend_from_slice(&s.port().to_be_bytes());
            out.extend_from_slice(&d.port().to_be_bytes());
        }
        Some((s, d)) => {
            let v6 = |a: SocketAddr| match a.ip() {
                IpAddr::V6(ip) => ip.octets(),
                IpAddr::V4(ip) => ip.to_ipv6_mapped().octets(),
            };
            out.extend_from_slice(&[0x21, 0x21, 0, 36]);
            out.extend_from_slice(&v6(s));
            out.extend_from_slice(&v6(d));
            out.extend_from_slice(&s.port().to_be_bytes());
            out.extend_from_slice(&d.port().to_be_bytes());
        }
        None => out.extend_from_slice(&[0x20, 0x00, 0, 0]),
    }
    out
}

/// `addr` as IPv6 (IPv4 mapped).
fn mapped(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), addr.port()),
        IpAddr::V6(_) => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn certain_more_never_reaches_past_the_header() {
        let headers = [
            b"PROXY UNKNOWN\r\n".to_vec(),
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n".to_vec(),
            build(true, None),
            build(true, Some((addr("1.2.3.4:1"), addr("5.6.7.8:2")))),
            build(true, Some((addr("[::1]:1"), addr("[::2]:2")))),
        ];
        for header in headers {
            // From every partial start, reading `certain_more` at a time lands exactly on
            // the header's end.
            for start in 1..header.len() {
                let mut at = start;
                while parse(&header[..at]).unwrap().is_none() {
                    at += certain_more(&header[..at]);
                    assert!(at <= header.len(), "{header:?} from {start}");
                }
                assert_eq!(at, header.len(), "{header:?} from {start}");
            }
        }
    }

    #[test]
    fn v1_headers() {
        let h = parse(b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /").unwrap();
        assert_eq!(
            h,
            Some(Header {
                len: 45,
                addrs: Some((addr("192.0.2.1:56324"), addr("198.51.100.2:443")))
            })
        );
        let h = parse(b"PROXY TCP6 2001:db8::1 ::1 1 65535\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            h.addrs,
            Some((addr("[2001:db8::1]:1"), addr("[::1]:65535")))
        );
        let h = parse(b"PROXY UNKNOWN ffff:f::1 whatever\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.addrs, None);
        assert_eq!(h.len, 34);
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4"), Ok(None), "incomplete");
        assert_eq!(parse(b"PRO"), Ok(None));
    }

    #[test]
    fn v1_refusals() {
        for bad in [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let long = [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 120]].concat();
        assert_eq!(parse(&long), Err(ProxyProtoError::V1TooLong));
    }

    #[test]
    fn v2_headers_round_trip() {
        let pair = (addr("10.1.2.3:4000"), addr("10.9.8.7:80"));
        let header = build(true, Some(pair));
        assert_eq!(header.len(), 28);
        let mut with_request = header.clone();
        with_request.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(
            parse(&with_request),
            Ok(Some(Header {
                len: 28,
                addrs: Some(pair)
            }))
        );
        let pair6 = (addr("[2001:db8::5]:1234"), addr("[2001:db8::6]:443"));
        let header = build(true, Some(pair6));
        assert_eq!(parse(&header).unwrap().unwrap().addrs, Some(pair6));
        for cut in 0..header.len() {
            assert_eq!(parse(&header[..cut]), Ok(None), "truncated at {cut}");
        }
        let local = build(true, None);
        assert_eq!(
            parse(&local),
            Ok(Some(Header {
                len: 16,
                addrs: None
            }))
        );
        let v1 = build(false, Some(pair));
        assert_eq!(v1, b"PROXY TCP4 10.1.2.3 10.9.8.7 4000 80\r\n");
        assert_eq!(parse(&v1).unwrap().unwrap().addrs, Some(pair));
        assert_eq!(build(false, None), b"PROXY UNKNOWN\r\n");
        let mixed = (addr("10.1.2.3:4000"), addr("[2001:db8::6]:443"));
        assert_eq!(
            build(false, Some(mixed)),
            b"PROXY TCP6 ::ffff:10.1.2.3 2001:db8::6 4000 443\r\n"
        );
        let h = parse(&build(true, Some(mixed))).unwrap().unwrap();
        assert_eq!(
            h.addrs,
            Some((addr("[::ffff:10.1.2.3]:4000"), addr("[2001:db8::6]:443")))
        );
    }

    #[test]
    fn v2_tlvs_are_skipped_and_checked() {
        let mut h = build(true, Some((addr("1.2.3.4:5"), addr("6.7.8.9:10"))));
        // One NOOP TLV of 2 bytes: total length 12 + 5.
        h[15] = 17;
        h.extend_from_slice(&[0x04, 0, 2, 0xaa, 0xbb]);
        assert_eq!(parse(&h).unwrap().unwrap().len, 33);
        h[15] = 16;
        h.pop();
        assert_eq!(parse(&h), Err(ProxyProtoError::V2Malformed), "TLV overruns");
    }

    #[test]
    fn v2_refusals() {
        let mut h = build(true, Some((addr("1.2.3.4:5"), addr("6.7.8.9:10"))));
        h[12] = 0x31;
        assert_eq!(parse(&h), Err(ProxyProtoError::V2Unsupported));
        h[12] = 0x22;
        assert_eq!(parse(&h), Err(ProxyProtoError::V2Unsupported));
        h[12] = 0x21;
        h[15] = 8;
        assert_eq!(parse(&h[..24]), Err(ProxyProtoError::V2Malformed));
        let mut big = V2_SIGNATURE.to_vec();
        big.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert_eq!(parse(&big), Err(ProxyProtoError::V2TooLong));
        assert_eq!(parse(b"\r\n\r\nX"), Err(ProxyProtoError::NotProxy));
    }
}
