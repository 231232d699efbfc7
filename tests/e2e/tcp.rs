//! `mode tcp`: a byte relay to the balanced server.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use crate::backend::tcp_echo;
use crate::harness::{connect, free_port, Ringlb};

#[test]
fn tcp_mode_relays_both_ways_with_half_close_and_balances() {
    relay_scenario("", 0);
}

#[test]
fn tcp_mode_relays_with_splice() {
    // One pipe (two descriptors) per direction while a spliced session is open.
    relay_scenario(" option splice-auto\n", 4);
}

fn pipes(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|t| t.to_string_lossy().starts_with("pipe:"))
        .count()
}

fn relay_scenario(options: &str, pipes_per_session: usize) {
    let (a, b) = (tcp_echo("A:"), tcp_echo("B:"));
    let port = free_port();
    let config = format!(
        "defaults\n mode tcp\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n{options}\
         listen relay\n bind 127.0.0.1:{port}\n balance roundrobin\n server a 127.0.0.1:{a}\n server b 127.0.0.1:{b}\n"
    );
    let lb = Ringlb::start(&config);
    let idle_pipes = pipes(lb.pid());
    let mut open = connect(port);
    open.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut greeting = [0u8; 2];
    open.read_exact(&mut greeting).unwrap();
    assert_eq!(pipes(lb.pid()) - idle_pipes, pipes_per_session);
    drop(open);
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

/// The `timer:(…)` column `ss` shows for the established socket matching `filter`.
fn ss_timers(filter: &str) -> String {
    let out = std::process::Command::new("ss")
        .args(["-tnoH", "state", "established", filter])
        .output()
        .expect("ss (iproute2) is needed for this test");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tcpka_options_set_so_keepalive_on_each_side() {
    let (a, b) = (tcp_echo("A:"), tcp_echo("B:"));
    let (ka, plain) = (free_port(), free_port());
    let config = format!(
        "defaults\n mode tcp\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
         frontend ka\n bind 127.0.0.1:{ka}\n option clitcpka\n default_backend srvka\n\
         frontend plain\n bind 127.0.0.1:{plain}\n default_backend nothing\n\
         backend srvka\n option srvtcpka\n server a 127.0.0.1:{a}\n\
         backend nothing\n server b 127.0.0.1:{b}\n"
    );
    let _lb = Ringlb::start(&config);
    let mut one = connect(ka);
    let mut two = connect(plain);
    let mut buf = [0u8; 2];
    one.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"A:");
    two.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"B:");
    // ringlb's side of each client connection, and its connection to each server.
    let client_ka = ss_timers(&format!("( sport = :{ka} )"));
    let client_plain = ss_timers(&format!("( sport = :{plain} )"));
    let server_ka = ss_timers(&format!("( dport = :{a} )"));
    let server_plain = ss_timers(&format!("( dport = :{b} )"));
    assert!(client_ka.contains("timer:(keepalive"), "{client_ka}");
    assert!(server_ka.contains("timer:(keepalive"), "{server_ka}");
    assert!(
        !client_plain.is_empty() && !client_plain.contains("keepalive"),
        "{client_plain}"
    );
    assert!(
        !server_plain.is_empty() && !server_plain.contains("keepalive"),
        "{server_plain}"
    );
}
