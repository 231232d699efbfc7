//! `proxyproto::parse` on any bytes never panics; a header it accepts is no longer than the
//! input and within the protocol's limits, parses the same with anything after it (the
//! request's bytes are never part of the header), and every prefix of it is incomplete or
//! refused, never a different header; what `build` writes parses back to the same addresses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::state::proxyproto::{build, parse, V1_MAX, V2_MAX};

fuzz_target!(|data: &[u8]| {
    let Ok(Some(header)) = parse(data) else {
        return;
    };
    assert!(header.len <= data.len());
    assert!(header.len <= V1_MAX.max(V2_MAX));
    let exact = &data[..header.len];
    assert_eq!(parse(exact), Ok(Some(header)));
    let mut longer = exact.to_vec();
    longer.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(parse(&longer), Ok(Some(header)));
    for cut in 0..header.len {
        assert!(!matches!(parse(&exact[..cut]), Ok(Some(_))), "prefix {cut} complete");
    }
    for v2 in [false, true] {
        let rebuilt = build(v2, header.addrs);
        let again = parse(&rebuilt).ok().flatten().map(|h| h.addrs);
        assert_eq!(again, Some(header.addrs));
    }
});
