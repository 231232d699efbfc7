//! The VRRP advertisement on the wire: version 2 (RFC 3768) and version 3 (RFC 5798 §5),
//! IPv4 only.
//!
//! `encode` builds the VRRP message alone, since the kernel writes the IP header of a raw
//! socket without `IP_HDRINCL`; `decode` takes the whole IPv4 packet, since a raw socket
//! reads it with its header and the TTL and addresses are checked there (§7.1).

use std::net::Ipv4Addr;
use std::time::Duration;

pub use crate::config::VrrpVersion as Version;

/// IP protocol number of VRRP.
pub const PROTOCOL: u8 = 112;
/// The multicast group adverts are sent to.
pub const MULTICAST_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The TTL adverts are sent with and must arrive with.
pub const TTL: u8 = 255;
/// Fixed part of the VRRP message, before the addresses.
const HEADER_LEN: usize = 8;
/// Version 2's authentication data after the addresses: RFC 3768 keeps the field and
/// keepalived sends it (zeroes) and requires it in the length it expects.
const V2_AUTH_LEN: usize = 8;
/// The only VRRP message type.
const TYPE_ADVERTISEMENT: u8 = 1;
/// Version 3 carries the interval in the low 12 bits of a 16-bit field.
const V3_INTERVAL_MASK: u16 = 0x0fff;

/// One advertisement, as sent or received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// Protocol version.
    pub version: Version,
    /// Virtual router id.
    pub vrid: u8,
    /// Sender's priority (0: the master is stopping).
    pub priority: u8,
    /// Advertisement interval (whole seconds in v2, centiseconds in v3).
    pub interval: Duration,
    /// The virtual addresses.
    pub addresses: Vec<Ipv4Addr>,
}

/// What a receiver expects of the adverts of its virtual router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// Version configured.
    pub version: Version,
    /// Virtual router id configured.
    pub vrid: u8,
    /// Interval configured (v2 drops adverts with another one).
    pub interval: Duration,
    /// Virtual addresses configured (a different list is accepted but flagged).
    pub addresses: Vec<Ipv4Addr>,
    /// Whether the TTL must be 255; keepalived does not check it for unicast peers,
    /// which may be routed.
    pub check_ttl: bool,
}

/// An advert that passed the checks of RFC 5798 §7.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Source address of the IP header: the sender's primary address.
    pub src: Ipv4Addr,
    /// Destination address of the IP header.
    pub dst: Ipv4Addr,
    /// The advert.
    pub advert: Advert,
    /// Whether its addresses are the ones configured; RFC 5798 only asks to log a
    /// difference (and keepalived counts it), not to drop the advert.
    pub addresses_match: bool,
}

/// Why a received packet was dropped; each variant is a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Drop {
    /// Not a sane IPv4 header (version, header length, total length).
    #[error("malformed IPv4 header")]
    IpHeader,
    /// The IP protocol is not 112.
    #[error("IP protocol is not VRRP (112)")]
    Protocol,
    /// The TTL is not 255: the advert crossed a router.
    #[error("TTL is not 255")]
    Ttl,
    /// Another VRRP version than configured.
    #[error("VRRP version differs from the configured one")]
    Version,
    /// Not an advertisement.
    #[error("VRRP type is not advertisement (1)")]
    Type,
    /// The VRRP length does not match the address count, or the count is 0.
    #[error("VRRP length does not match the address count")]
    Length,
    /// The checksum is wrong.
    #[error("bad VRRP checksum")]
    Checksum,
    /// Another virtual router on the same LAN: normal, counted apart.
    #[error("advert for another virtual router id")]
    OtherVrid,
    /// Version 2 with authentication, which ringlb does not do (RFC 3768 removed it).
    #[error("VRRPv2 authentication type is not 0 (none)")]
    AuthType,
    /// Another interval than configured (v2), or an interval of 0 (v3).
    #[error("advert interval differs from the configured one")]
    Interval,
}

impl Drop {
    /// Every reason, in counter order.
    pub const ALL: [Drop; 10] = [
        Drop::IpHeader,
        Drop::Protocol,
        Drop::Ttl,
        Drop::Version,
        Drop::Type,
        Drop::Length,
        Drop::Checksum,
        Drop::OtherVrid,
        Drop::AuthType,
        Drop::Interval,
    ];

    /// The counter's name, for `show vrrp` and the stats page.
    pub fn name(self) -> &'static str {
        match self {
            Drop::IpHeader => "ip_header",
            Drop::Protocol => "protocol",
            Drop::Ttl => "ttl",
            Drop::Version => "version",
            Drop::Type => "type",
            Drop::Length => "length",
            Drop::Checksum => "checksum",
            Drop::OtherVrid => "other_vrid",
            Drop::AuthType => "auth_type",
            Drop::Interval => "interval",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One counter per drop reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts([u64; Drop::ALL.len()]);

impl DropCounts {
    /// Counts one drop.
    pub fn add(&mut self, reason: Drop) {
        if let Some(c) = self.0.get_mut(reason.index()) {
            *c += 1;
        }
    }

    /// The count of one reason.
    pub fn get(&self, reason: Drop) -> u64 {
        self.0.get(reason.index()).copied().unwrap_or(0)
    }

    /// Every reason with its count, in `Drop::ALL` order.
    pub fn iter(&self) -> impl Iterator<Item = (Drop, u64)> + '_ {
        Drop::ALL.iter().map(|d| (*d, self.get(*d)))
    }

    /// All drops except other virtual routers' adverts, which are normal on a shared LAN.
    pub fn errors(&self) -> u64 {
        self.iter()
            .filter(|(d, _)| *d != Drop::OtherVrid)
            .map(|(_, n)| n)
            .sum()
    }
}

/// The VRRP message of `advert` sent from `src` to `dst` (both needed by the v3 checksum).
///
/// What the format cannot carry is clamped, as configuration already refuses it: more
/// than 255 addresses are cut, v2 intervals are rounded to whole seconds in 1..=255 and v3
/// intervals to centiseconds in 1..=4095.
pub fn encode(advert: &Advert, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let addresses = &advert.addresses[..advert.addresses.len().min(255)];
    let count = addresses.len() as u8;
    let mut out = Vec::with_capacity(HEADER_LEN + 4 * addresses.len() + V2_AUTH_LEN);
    out.push((advert.version.number() << 4) | TYPE_ADVERTISEMENT);
    out.push(advert.vrid);
    out.push(advert.priority);
    out.push(count);
    match advert.version {
        Version::V2 => {
            let secs = (advert.interval.as_millis() + 500) / 1000;
            out.push(0); // auth type: none
            out.push(secs.clamp(1, 255) as u8);
        }
        Version::V3 => {
            let centis = (advert.interval.as_millis() + 5) / 10;
            let field = centis.clamp(1, u128::from(V3_INTERVAL_MASK)) as u16;
            out.extend_from_slice(&field.to_be_bytes());
        }
    }
    out.extend_from_slice(&[0, 0]); // checksum, filled below
    for a in addresses {
        out.extend_from_slice(&a.octets());
    }
    let sum = match advert.version {
        Version::V2 => {
            out.extend_from_slice(&[0; V2_AUTH_LEN]);
            checksum(&out, 0)
        }
        Version::V3 => checksum(&out, pseudo_header_sum(src, dst, out.len())),
    };
    out[6..8].copy_from_slice(&sum.to_be_bytes());
    out
}

/// The VRID of a packet (whole IPv4 packet) that looks like VRRP, to pick the instance
/// that should decode it when several share a socket.
pub fn peek_vrid(ip_packet: &[u8]) -> Option<u8> {
    let ihl = usize::from(ip_packet.first()? & 0x0f) * 4;
    ip_packet.get(ihl + 1).copied()
}

/// Checks a whole IPv4 packet as RFC 5798 §7.1 says and returns the advert in it.
///
/// Order of the checks: IP header, protocol, TTL, version, type, length against the
/// address count, checksum, VRID, then the v2 authentication type and interval. A VRID
/// check after the checksum keeps `OtherVrid` for genuine adverts of other routers.
pub fn decode(ip_packet: &[u8], expect: &Expect) -> Result<Received, Drop> {
    let b0 = *ip_packet.first().ok_or(Drop::IpHeader)?;
    let ihl = usize::from(b0 & 0x0f) * 4;
    if b0 >> 4 != 4 || ihl < 20 || ip_packet.len() < ihl {
        return Err(Drop::IpHeader);
    }
    let total = usize::from(u16::from_be_bytes([
        byte(ip_packet, 2, Drop::IpHeader)?,
        byte(ip_packet, 3, Drop::IpHeader)?,
    ]));
    // Bytes past the total length are link padding; fewer bytes are a cut packet.
    if total < ihl || total > ip_packet.len() {
        return Err(Drop::IpHeader);
    }
    let ttl = byte(ip_packet, 8, Drop::IpHeader)?;
    let protocol = byte(ip_packet, 9, Drop::IpHeader)?;
    let src = ipv4_at(ip_packet, 12).ok_or(Drop::IpHeader)?;
    let dst = ipv4_at(ip_packet, 16).ok_or(Drop::IpHeader)?;
    if protocol != PROTOCOL {
        return Err(Drop::Protocol);
    }
    if expect.check_ttl && ttl != TTL {
        return Err(Drop::Ttl);
    }
    let vrrp = ip_packet.get(ihl..total).ok_or(Drop::IpHeader)?;
    let head: [u8; HEADER_LEN] = vrrp
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(Drop::Length)?;
    let [version_type, vrid, priority, count, interval_hi, interval_lo, _, _] = head;
    let version = match version_type >> 4 {
        2 => Version::V2,
        3 => Version::V3,
        _ => return Err(Drop::Version),
    };
    if version != expect.version {
        return Err(Drop::Version);
    }
    if version_type & 0x0f != TYPE_ADVERTISEMENT {
        return Err(Drop::Type);
    }
    let auth_len = match version {
        Version::V2 => V2_AUTH_LEN,
        Version::V3 => 0,
    };
    let expected_len = HEADER_LEN + 4 * usize::from(count) + auth_len;
    // RFC 5798 §5.2.5: a count of 0 MUST be ignored.
    if count == 0 || vrrp.len() != expected_len {
        return Err(Drop::Length);
    }
    let sum = match version {
        Version::V2 => checksum(vrrp, 0),
        Version::V3 => checksum(vrrp, pseudo_header_sum(src, dst, vrrp.len())),
    };
    if sum != 0 {
        return Err(Drop::Checksum);
    }
    if vrid != expect.vrid {
        return Err(Drop::OtherVrid);
    }
    let interval = match version {
        Version::V2 => {
            // v2 names these bytes auth type and interval in seconds.
            if interval_hi != 0 {
                return Err(Drop::AuthType);
            }
            let interval = Duration::from_secs(u64::from(interval_lo));
            if interval != expect.interval {
                return Err(Drop::Interval);
            }
            interval
        }
        Version::V3 => {
            let centis = u16::from_be_bytes([interval_hi, interval_lo]) & V3_INTERVAL_MASK;
            // An interval of 0 would make Master_Down_Interval 0: a backup would take
            // over at once, so such an advert cannot be honoured.
            if centis == 0 {
                return Err(Drop::Interval);
            }
            Duration::from_millis(u64::from(centis) * 10)
        }
    };
    let addresses: Vec<Ipv4Addr> = (0..usize::from(count))
        .filter_map(|i| ipv4_at(vrrp, HEADER_LEN + 4 * i))
        .collect();
    let addresses_match = addresses == expect.addresses;
    Ok(Received {
        src,
        dst,
        advert: Advert {
            version,
            vrid,
            priority,
            interval,
            addresses,
        },
        addresses_match,
    })
}

fn byte(data: &[u8], at: usize, err: Drop) -> Result<u8, Drop> {
    data.get(at).copied().ok_or(err)
}

fn ipv4_at(data: &[u8], at: usize) -> Option<Ipv4Addr> {
    let b: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

/// Sum of the IPv4 pseudo-header of RFC 5798 §5.2.8 (as for UDP), not yet folded.
fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> u32 {
    let words = |a: Ipv4Addr| {
        let o = a.octets();
        u32::from(u16::from_be_bytes([o[0], o[1]])) + u32::from(u16::from_be_bytes([o[2], o[3]]))
    };
    words(src) + words(dst) + u32::from(PROTOCOL) + (len as u32 & 0xffff)
}

/// The Internet checksum (RFC 1071) of `data` with `initial` added: the value to write in
/// the checksum field, or 0 when verifying data that already holds its checksum.
fn checksum(data: &[u8], initial: u32) -> u16 {
    let mut sum = u64::from(initial);
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        sum += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // Captured with tcpdump from keepalived 2.2.7 (Debian) in a network namespace:
    // `vrrp_instance` on 10.77.0.1, vrid 52 (v2, advert_int 1) and 53 (v3, advert_int 0.5),
    // priority 150, virtual_ipaddress 10.77.0.100/24 and 10.77.0.101/24; the last advert of
    // each is the priority-0 one keepalived sends when it stops (SIGTERM).
    const KEEPALIVED_V2: &str =
        "45c0002c00010000ff70d0400a4d0001e000001221349602000133650a4d00640a4d00650000000000000000";
    const KEEPALIVED_V2_STOP: &str =
        "45c0002c00040000ff70d03d0a4d0001e0000012213400020001c9650a4d00640a4d00650000000000000000";
    const KEEPALIVED_V3: &str =
        "45c0002400010000ff70d0480a4d0001e000001231359602003238520a4d00640a4d0065";
    const KEEPALIVED_V3_STOP: &str =
        "45c00024000a0000ff70d03f0a4d0001e0000012313500020032ce520a4d00640a4d0065";

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
    const VIPS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 77, 0, 100), Ipv4Addr::new(10, 77, 0, 101)];

    fn expect(version: Version, vrid: u8, interval: Duration) -> Expect {
        Expect {
            version,
            vrid,
            interval,
            addresses: VIPS.to_vec(),
            check_ttl: true,
        }
    }

    fn v2() -> Expect {
        expect(Version::V2, 52, Duration::from_secs(1))
    }

    fn v3() -> Expect {
        expect(Version::V3, 53, Duration::from_millis(500))
    }

    /// Prepends the IPv4 header a kernel would write (checksum left 0: the kernel checks
    /// it before a raw socket sees the packet).
    fn ip(payload: &[u8], src: Ipv4Addr, dst: Ipv4Addr, ttl: u8) -> Vec<u8> {
        let mut p = vec![0x45, 0xc0];
        p.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 0, ttl, PROTOCOL, 0, 0]);
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn decodes_keepalived_v2() {
        let r = decode(&hex(KEEPALIVED_V2), &v2()).unwrap();
        assert_eq!((r.src, r.dst), (SRC, MULTICAST_GROUP));
        assert_eq!(
            r.advert,
            Advert {
                version: Version::V2,
                vrid: 52,
                priority: 150,
                interval: Duration::from_secs(1),
                addresses: VIPS.to_vec(),
            }
        );
        assert!(r.addresses_match);
        let stop = decode(&hex(KEEPALIVED_V2_STOP), &v2()).unwrap();
        assert_eq!(stop.advert.priority, 0);
    }

    #[test]
    fn decodes_keepalived_v3() {
        let r = decode(&hex(KEEPALIVED_V3), &v3()).unwrap();
        assert_eq!(r.advert.version, Version::V3);
        assert_eq!((r.advert.vrid, r.advert.priority), (53, 150));
        assert_eq!(r.advert.interval, Duration::from_millis(500));
        assert_eq!(r.advert.addresses, VIPS.to_vec());
        assert_eq!(
            decode(&hex(KEEPALIVED_V3_STOP), &v3())
                .unwrap()
                .advert
                .priority,
            0
        );
    }

    #[test]
    fn encodes_what_keepalived_sends() {
        // The VRRP message is everything after keepalived's 20-byte IP header.
        for (packet, version, vrid, priority, interval) in [
            (KEEPALIVED_V2, Version::V2, 52, 150, Duration::from_secs(1)),
            (
                KEEPALIVED_V2_STOP,
                Version::V2,
                52,
                0,
                Duration::from_secs(1),
            ),
            (
                KEEPALIVED_V3,
                Version::V3,
                53,
                150,
                Duration::from_millis(500),
            ),
            (
                KEEPALIVED_V3_STOP,
                Version::V3,
                53,
                0,
                Duration::from_millis(500),
            ),
        ] {
            let advert = Advert {
                version,
                vrid,
                priority,
                interval,
                addresses: VIPS.to_vec(),
            };
            let ours = encode(&advert, SRC, MULTICAST_GROUP);
            assert_eq!(ours, hex(packet)[20..], "{advert:?}");
        }
    }

    #[test]
    fn v3_checksum_covers_the_pseudo_header() {
        let advert = Advert {
            version: Version::V3,
            vrid: 53,
            priority: 150,
            interval: Duration::from_millis(500),
            addresses: VIPS.to_vec(),
        };
        let msg = encode(&advert, SRC, MULTICAST_GROUP);
        // Sent to a unicast peer, the same advert has another checksum ...
        let peer = Ipv4Addr::new(10, 77, 0, 2);
        assert_ne!(encode(&advert, SRC, peer), msg);
        // ... and one computed for the wrong destination is refused.
        let wrong = ip(&msg, SRC, peer, TTL);
        assert_eq!(decode(&wrong, &v3()), Err(Drop::Checksum));
        // Version 2 ignores the addresses.
        let v2 = Advert {
            version: Version::V2,
            interval: Duration::from_secs(1),
            vrid: 52,
            ..advert
        };
        assert_eq!(encode(&v2, SRC, peer), encode(&v2, SRC, MULTICAST_GROUP));
    }

    #[test]
    fn each_check_has_its_counter() {
        let good = hex(KEEPALIVED_V2);
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut p = good.clone();
            f(&mut p);
            decode(&p, &v2())
        };
        assert_eq!(with(&|p| p[8] = 254), Err(Drop::Ttl));
        assert_eq!(with(&|p| p[9] = 17), Err(Drop::Protocol));
        assert_eq!(with(&|p| p[0] = 0x55), Err(Drop::IpHeader));
        assert_eq!(with(&|p| p[0] = 0x44), Err(Drop::IpHeader));
        assert_eq!(with(&|p| p[3] = 0x2d), Err(Drop::IpHeader));
        assert_eq!(with(&|p| p[20] = 0x31), Err(Drop::Version));
        assert_eq!(with(&|p| p[20] = 0x22), Err(Drop::Type));
        assert_eq!(with(&|p| p[23] = 3), Err(Drop::Length));
        assert_eq!(with(&|p| p[22] = 151), Err(Drop::Checksum));
        assert_eq!(with(&|p| p.truncate(40)), Err(Drop::IpHeader));
        // A wrong VRID with a right checksum is another router's advert.
        let other = Advert {
            version: Version::V2,
            vrid: 9,
            priority: 100,
            interval: Duration::from_secs(1),
            addresses: VIPS.to_vec(),
        };
        let other = ip(
            &encode(&other, SRC, MULTICAST_GROUP),
            SRC,
            MULTICAST_GROUP,
            TTL,
        );
        assert_eq!(decode(&other, &v2()), Err(Drop::OtherVrid));
        assert_eq!(peek_vrid(&other), Some(9));
        // v2: another interval, or authentication, is refused.
        let mut e = v2();
        e.interval = Duration::from_secs(2);
        assert_eq!(decode(&good, &e), Err(Drop::Interval));
        let auth = Advert {
            version: Version::V2,
            vrid: 52,
            priority: 100,
            interval: Duration::from_secs(1),
            addresses: VIPS.to_vec(),
        };
        let mut msg = encode(&auth, SRC, MULTICAST_GROUP);
        msg[4] = 1;
        msg[6] = 0;
        msg[7] = 0;
        let sum = checksum(&msg, 0);
        msg[6..8].copy_from_slice(&sum.to_be_bytes());
        let p = ip(&msg, SRC, MULTICAST_GROUP, TTL);
        assert_eq!(decode(&p, &v2()), Err(Drop::AuthType));
        // The other version is refused.
        assert_eq!(decode(&hex(KEEPALIVED_V3), &v2()), Err(Drop::Version));
        // Without the TTL check (unicast peers), a routed advert passes.
        let mut e = v2();
        e.check_ttl = false;
        let mut routed = good.clone();
        routed[8] = 63;
        assert!(decode(&routed, &e).is_ok());
    }

    #[test]
    fn v3_takes_the_masters_interval_but_not_zero() {
        // v3 accepts another interval: the backup learns the master's (§6.4.2).
        let mut e = v3();
        e.interval = Duration::from_secs(1);
        assert_eq!(
            decode(&hex(KEEPALIVED_V3), &e).unwrap().advert.interval,
            Duration::from_millis(500)
        );
        let mut msg = hex(KEEPALIVED_V3)[20..].to_vec();
        msg[4] = 0xf0; // reserved bits are ignored
        msg[5] = 0;
        msg[6] = 0;
        msg[7] = 0;
        let sum = checksum(&msg, pseudo_header_sum(SRC, MULTICAST_GROUP, msg.len()));
        msg[6..8].copy_from_slice(&sum.to_be_bytes());
        let p = ip(&msg, SRC, MULTICAST_GROUP, TTL);
        assert_eq!(decode(&p, &v3()), Err(Drop::Interval));
    }

    #[test]
    fn other_addresses_are_flagged_not_dropped() {
        let mut e = v2();
        e.addresses = vec![Ipv4Addr::new(10, 77, 0, 100)];
        let r = decode(&hex(KEEPALIVED_V2), &e).unwrap();
        assert!(!r.addresses_match);
        // A count of 0 is refused (RFC 5798 §5.2.5).
        let none = Advert {
            version: Version::V3,
            vrid: 53,
            priority: 100,
            interval: Duration::from_secs(1),
            addresses: Vec::new(),
        };
        let p = ip(
            &encode(&none, SRC, MULTICAST_GROUP),
            SRC,
            MULTICAST_GROUP,
            TTL,
        );
        assert_eq!(decode(&p, &v3()), Err(Drop::Length));
    }

    #[test]
    fn link_padding_is_ignored() {
        let mut p = hex(KEEPALIVED_V3);
        p.extend_from_slice(&[0; 10]);
        assert!(decode(&p, &v3()).is_ok());
    }

    #[test]
    fn encode_clamps_what_the_format_cannot_carry() {
        let a = Advert {
            version: Version::V2,
            vrid: 1,
            priority: 1,
            interval: Duration::from_secs(1000),
            addresses: vec![Ipv4Addr::LOCALHOST; 300],
        };
        let m = encode(&a, SRC, MULTICAST_GROUP);
        assert_eq!((m[3], m[5]), (255, 255));
        assert_eq!(m.len(), 8 + 4 * 255 + 8);
        let a = Advert {
            version: Version::V3,
            interval: Duration::from_secs(100),
            ..a
        };
        let m = encode(&a, SRC, MULTICAST_GROUP);
        assert_eq!(u16::from_be_bytes([m[4], m[5]]), 4095);
    }

    fn random_advert(rng: &mut fastrand::Rng) -> Advert {
        let version = if rng.bool() { Version::V2 } else { Version::V3 };
        let interval = match version {
            Version::V2 => Duration::from_secs(rng.u64(1..=255)),
            Version::V3 => Duration::from_millis(10 * rng.u64(1..=4095)),
        };
        Advert {
            version,
            vrid: rng.u8(..),
            priority: rng.u8(..),
            interval,
            addresses: (0..rng.usize(1..=20))
                .map(|_| Ipv4Addr::from(rng.u32(..)))
                .collect(),
        }
    }

    fn expect_for(a: &Advert) -> Expect {
        Expect {
            version: a.version,
            vrid: a.vrid,
            interval: a.interval,
            addresses: a.addresses.clone(),
            check_ttl: true,
        }
    }

    #[test]
    fn decode_of_encode_is_the_advert() {
        let mut rng = fastrand::Rng::with_seed(5798);
        for _ in 0..5_000 {
            let a = random_advert(&mut rng);
            let src = Ipv4Addr::from(rng.u32(..));
            let dst = if rng.bool() {
                MULTICAST_GROUP
            } else {
                Ipv4Addr::from(rng.u32(..))
            };
            let p = ip(&encode(&a, src, dst), src, dst, TTL);
            let r = decode(&p, &expect_for(&a)).unwrap();
            assert_eq!((r.src, r.dst), (src, dst));
            assert_eq!(r.advert, a);
            assert!(r.addresses_match);
        }
    }

    #[test]
    fn truncated_or_mutated_packets_never_panic() {
        let mut rng = fastrand::Rng::with_seed(3768);
        let mut packets: Vec<(Vec<u8>, Expect)> = [
            (KEEPALIVED_V2, v2()),
            (KEEPALIVED_V2_STOP, v2()),
            (KEEPALIVED_V3, v3()),
            (KEEPALIVED_V3_STOP, v3()),
        ]
        .into_iter()
        .map(|(h, e)| (hex(h), e))
        .collect();
        for _ in 0..50 {
            let a = random_advert(&mut rng);
            let p = ip(&encode(&a, SRC, MULTICAST_GROUP), SRC, MULTICAST_GROUP, TTL);
            packets.push((p, expect_for(&a)));
        }
        for (good, e) in &packets {
            for len in 0..good.len() {
                // Only the total length's own truncation can still pass: none here.
                assert!(decode(&good[..len], e).is_err(), "len {len}");
                let _ = peek_vrid(&good[..len]);
            }
            for i in 0..good.len() {
                for bit in 0..8 {
                    let mut p = good.clone();
                    p[i] ^= 1 << bit;
                    // A single-bit flip in the VRRP message always breaks its checksum,
                    // so only header fields the checks skip may still pass.
                    if let Ok(r) = decode(&p, e) {
                        assert!(i < 20, "flip at {i} bit {bit} accepted: {r:?}");
                    }
                }
                for _ in 0..4 {
                    let mut p = good.clone();
                    p[i] = rng.u8(..);
                    let _ = decode(&p, e);
                }
            }
            for _ in 0..200 {
                let len = rng.usize(0..good.len() + 8);
                let p: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
                let _ = decode(&p, e);
                let _ = peek_vrid(&p);
            }
        }
    }

    #[test]
    fn drop_counters() {
        let mut c = DropCounts::default();
        c.add(Drop::Ttl);
        c.add(Drop::Ttl);
        c.add(Drop::OtherVrid);
        assert_eq!(c.get(Drop::Ttl), 2);
        assert_eq!(c.errors(), 2);
        let names: Vec<&str> = c.iter().map(|(d, _)| d.name()).collect();
        assert_eq!(names.len(), Drop::ALL.len());
        assert!(Drop::ALL.iter().enumerate().all(|(i, d)| d.index() == i));
    }
}
