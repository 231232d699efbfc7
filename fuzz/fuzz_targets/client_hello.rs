//! The ClientHello parsers (`req_ssl_sni`, `req_ssl_hello_type`) on any bytes never panic; a
//! name found lies inside the input, is found again with bytes appended (a decision never
//! changes once made), and no prefix of the input finds a different name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::config::acl::payload::{ssl_hello_type, ssl_sni, Peek};

fuzz_target!(|data: &[u8]| {
    let _ = ssl_hello_type(data);
    let found = ssl_sni(data);
    if let Peek::Found(name) = found {
        assert!(name.len() <= data.len());
        let mut longer = data.to_vec();
        longer.extend_from_slice(b"\x16\x03\x01trailing");
        assert_eq!(ssl_sni(&longer), found);
        for cut in 0..data.len() {
            match ssl_sni(&data[..cut]) {
                Peek::Found(other) => assert_eq!(other, name, "prefix {cut}"),
                Peek::Short | Peek::Absent => {}
            }
        }
    }
});
