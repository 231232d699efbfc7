//! `option tcp-check` against servers that answer right, answer wrong, close, stay silent or
//! refuse: the transitions ringlb logs are compared with HAProxy 2.6's on the same config.

use std::time::Duration;

use crate::harness::{free_port, Ringlb};
use crate::health::{haproxy_stderr, transitions};
use crate::raw::{Peer, RawBackend};

/// A redis-like server: `+PONG` to `PING`, or `-ERR` when `right` is false.
fn answer(peer: &mut Peer, right: bool) {
    if peer.read_exact(6).is_some() {
        peer.write(if right { b"+PONG\r\n" } else { b"-ERR no\r\n" });
        // Stay open a little: the checker, not the server, ends a passing check.
        let _ = peer.read_for(Duration::from_millis(100));
    }
}

/// The masked transition lines (counts after the first ". " dropped: they depend on timing).
fn masked(lines: &[String]) -> Vec<String> {
    let mut out: Vec<String> = lines
        .iter()
        .map(|l| match l.find(". ") {
            Some(at) if l.contains(" is ") => l[..at].to_string(),
            _ => l.clone(),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn tcp_check_results_and_log_lines_match_haproxy() {
    if std::process::Command::new("haproxy")
        .arg("-v")
        .output()
        .is_err()
    {
        panic!("haproxy is not installed (scripts/install-deps.sh haproxy)");
    }
    let right = RawBackend::start(|peer| answer(peer, true));
    let wrong = RawBackend::start(|peer| answer(peer, false));
    let closing = RawBackend::start(|peer| {
        let _ = peer.read_exact(6);
    });
    let silent = RawBackend::start(|peer| {
        let _ = peer.read_for(Duration::from_secs(2));
    });
    // Answers every PING of a connection.
    let pingpong = RawBackend::start(|peer| {
        while peer.read_exact(6).is_some() {
            peer.write(b"+PONG\r\n");
        }
    });
    let refused = free_port();
    // Fails its first check and passes the others: a DOWN, then an UP line.
    let flip = || {
        RawBackend::start(|peer| {
            let id = peer.id;
            answer(peer, id > 0)
        })
    };
    let body = |port: u16, flip: u16| {
        format!(
            "defaults\n mode tcp\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n timeout check 300ms\n\
             frontend f\n bind 127.0.0.1:{port}\n default_backend redis\n\
             backend redis\n option tcp-check\n tcp-check send PING\\r\\n\n tcp-check expect string +PONG\n\
             \x20server right 127.0.0.1:{right} check inter 300 fall 1 rise 1\n\
             \x20server wrong 127.0.0.1:{wrong} check inter 300 fall 1 rise 1\n\
             \x20server closing 127.0.0.1:{closing} check inter 300 fall 1 rise 1\n\
             \x20server silent 127.0.0.1:{silent} check inter 300 fall 1 rise 1\n\
             \x20server refused 127.0.0.1:{refused} check inter 300 fall 1 rise 1\n\
             \x20server flip 127.0.0.1:{flip} check inter 300 fall 1 rise 1\n\
             backend steps\n option tcp-check\n tcp-check comment ping-it\n tcp-check connect port {wrong}\n tcp-check send-binary 50494e470d0a\n tcp-check expect ! rstring ^-ERR\n\
             \x20server s1 127.0.0.1:{refused} check inter 300 fall 1 rise 1\n\
             backend binary\n option tcp-check\n tcp-check send PING\\r\\n comment hex\n tcp-check expect rbinary ^2B504F4E47 comment hex-pong\n tcp-check expect binary 2b504f4e47\n tcp-check send PING\\r\\n\n tcp-check expect binary 0000 comment no-zeros\n\
             \x20server s2 127.0.0.1:{pingpong} check inter 300 fall 1 rise 1\n\
             \x20server s3 127.0.0.1:{refused2} check inter 300 fall 1 rise 1\n\
             backend connect-only\n option tcp-check\n\
             \x20server s4 127.0.0.1:{refused} check inter 300 fall 1 rise 1\n",
            right = right.port,
            wrong = wrong.port,
            closing = closing.port,
            silent = silent.port,
            pingpong = pingpong.port,
            refused2 = refused,
        )
    };
    let theirs_flip = flip();
    let theirs = haproxy_stderr(
        &body(free_port(), theirs_flip.port),
        Duration::from_millis(1500),
    )
    .expect("run haproxy");
    let ours_flip = flip();
    let lb = Ringlb::start(&body(free_port(), ours_flip.port));
    std::thread::sleep(Duration::from_millis(1500));
    let ours = lb.stderr();
    let (theirs, ours) = (transitions(&theirs), transitions(&ours));
    assert!(theirs.len() >= 9, "HAProxy's lines: {theirs:#?}");
    assert_eq!(
        masked(&ours),
        masked(&theirs),
        "ours: {ours:#?}\ntheirs: {theirs:#?}"
    );
}
