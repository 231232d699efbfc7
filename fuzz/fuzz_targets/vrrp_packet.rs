//! `packet::decode` on any bytes (as a raw socket hands them over, IP header included) never
//! panics, for either version; what it accepts encodes back to a packet it accepts again.
#![no_main]

use std::net::Ipv4Addr;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use ringlb::config::VrrpVersion;
use ringlb::control::vrrp::packet::{decode, encode, peek_vrid, Expect, PROTOCOL};

fuzz_target!(|data: &[u8]| {
    let _ = peek_vrid(data);
    for version in [VrrpVersion::V2, VrrpVersion::V3] {
        let expect = Expect {
            version,
            vrid: 51,
            interval: Duration::from_secs(1),
            addresses: vec![Ipv4Addr::new(10, 0, 0, 100)],
            check_ttl: true,
        };
        if let Ok(received) = decode(data, &expect) {
            // Sent again as a sender would (TTL 255, the same addresses), it reads the same.
            let payload = encode(&received.advert, received.src, received.dst);
            let mut packet = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 255, PROTOCOL, 0, 0];
            packet.extend_from_slice(&received.src.octets());
            packet.extend_from_slice(&received.dst.octets());
            let total = u16::try_from(packet.len() + payload.len()).expect("a short packet");
            packet[2..4].copy_from_slice(&total.to_be_bytes());
            packet.extend_from_slice(&payload);
            let again = decode(&packet, &expect).map(|r| r.advert);
            assert_eq!(again, Ok(received.advert));
        }
    }
});
