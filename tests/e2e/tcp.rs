//! `mode tcp`: a byte relay to the balanced server.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::time::Duration;

use crate::harness::{connect, free_port, Ringlb};

/// An echo server that prefixes its name and echoes until the client half-closes.
fn echo_server(name: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let _ = conn.write_all(name.as_bytes());
                let mut buf = [0u8; 65536];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = conn.shutdown(Shutdown::Write);
            });
        }
    });
    port
}

#[test]
fn tcp_mode_relays_both_ways_with_half_close_and_balances() {
    let (a, b) = (echo_server("A:"), echo_server("B:"));
    let port = free_port();
    let config = format!(
        "defaults\n mode tcp\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
         listen relay\n bind 127.0.0.1:{port}\n balance roundrobin\n server a 127.0.0.1:{a}\n server b 127.0.0.1:{b}\n"
    );
    let _lb = Ringlb::start(&config);
    let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let mut s = connect(port);
        let mut writer = s.try_clone().unwrap();
        let sent = payload.clone();
        let t = std::thread::spawn(move || {
            writer.write_all(&sent).unwrap();
            writer.shutdown(Shutdown::Write).unwrap();
        });
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        t.join().unwrap();
        seen.push(got[..2].to_vec());
        assert!(got[2..] == payload[..], "relayed bytes differ");
    }
    seen.sort();
    assert_eq!(seen, vec![b"A:".to_vec(), b"B:".to_vec()]);
}
