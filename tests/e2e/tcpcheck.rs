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

/// The masked transition lines: counts after the first ". " dropped, and the "no server
/// available" lines of backends with a flapping server left out (both depend on timing).
fn masked(lines: &[String]) -> Vec<String> {
    let mut out: Vec<String> = lines
        .iter()
        .filter(|l| !l.contains("backend 'redis' has no server available"))
        .map(|l| match l.find(". ") {
            Some(at) if l.contains(" is ") => l[..at].to_string(),
            _ => l.clone(),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Runs the configuration `body` writes (for a free frontend port and the servers `fresh`
/// starts) under HAProxy, then under ringlb, 1.5 s each and each against servers of its own;
/// their transition lines, HAProxy's first.
fn both<S>(fresh: impl Fn() -> S, body: impl Fn(u16, &S) -> String) -> (Vec<String>, Vec<String>) {
    let servers = fresh();
    let theirs = haproxy_stderr(&body(free_port(), &servers), Duration::from_millis(1500))
        .expect("run haproxy");
    let servers = fresh();
    let lb = Ringlb::start(&body(free_port(), &servers));
    std::thread::sleep(Duration::from_millis(1500));
    (transitions(&theirs), transitions(&lb.stderr()))
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
    let (theirs, ours) = both(flip, |port, f| body(port, f.port));
    assert!(theirs.len() >= 9, "HAProxy's lines: {theirs:#?}");
    assert_eq!(
        masked(&ours),
        masked(&theirs),
        "ours: {ours:#?}\ntheirs: {theirs:#?}"
    );
}

/// Reads up to LF (or the end of the stream).
fn read_line(peer: &mut Peer) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    loop {
        let byte = peer.read_exact(1)?;
        line.extend_from_slice(&byte);
        if byte == b"\n" {
            return Some(line);
        }
    }
}

#[test]
fn redis_and_smtp_checks_match_haproxy() {
    let flip_redis = || {
        RawBackend::start(|peer| {
            if peer.read_exact(14).is_some() {
                peer.write(if peer.id == 0 {
                    b"-LOADING Redis is loading the dataset in memory\r\n".as_slice()
                } else {
                    b"+PONG\r\n"
                });
                let _ = peer.read_for(Duration::from_millis(100));
            }
        })
    };
    let flip_smtp = || {
        RawBackend::start(|peer| {
            if peer.id == 0 {
                peer.write(b"554 no service here\r\n");
            } else {
                peer.write(b"220 mx.example ESMTP\r\n");
                if read_line(peer).is_some() {
                    peer.write(b"250-mx.example greets you\r\n250 8BITMIME\r\n");
                }
                if read_line(peer).is_some_and(|l| l == b"QUIT\r\n") {
                    peer.write(b"221 2.0.0 Bye\r\n");
                }
            }
            let _ = peer.read_for(Duration::from_millis(100));
        })
    };
    let closing = RawBackend::start(|peer| {
        let _ = peer.read_exact(1);
    });
    let not_smtp = RawBackend::start(|peer| {
        peer.write(b"SSH-2.0-OpenSSH\r\n");
        let _ = peer.read_for(Duration::from_millis(500));
    });
    let bad_helo = RawBackend::start(|peer| {
        peer.write(b"220 ready\r\n");
        if read_line(peer).is_some() {
            peer.write(b"501 Syntax: HELO hostname\r\n");
        }
        let _ = peer.read_for(Duration::from_millis(100));
    });
    let silent = RawBackend::start(|peer| {
        let _ = peer.read_for(Duration::from_secs(2));
    });
    let refused = free_port();
    let body = |port: u16, redis: u16, smtp: u16| {
        format!(
            "defaults\n mode tcp\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n timeout check 300ms\n\
             frontend f\n bind 127.0.0.1:{port}\n default_backend redis\n\
             backend redis\n option redis-check\n\
             \x20server flip 127.0.0.1:{redis} check inter 300 fall 1 rise 1\n\
             \x20server closing 127.0.0.1:{closing} check inter 300 fall 1 rise 1\n\
             \x20server silent 127.0.0.1:{silent} check inter 300 fall 1 rise 1\n\
             \x20server refused 127.0.0.1:{refused} check inter 300 fall 1 rise 1\n\
             backend smtp\n option smtpchk EHLO checker.example\n\
             \x20server flip 127.0.0.1:{smtp} check inter 300 fall 1 rise 1\n\
             \x20server ssh 127.0.0.1:{not_smtp} check inter 300 fall 1 rise 1\n\
             \x20server helo 127.0.0.1:{bad_helo} check inter 300 fall 1 rise 1\n\
             \x20server closing 127.0.0.1:{closing} check inter 300 fall 1 rise 1\n\
             \x20server silent 127.0.0.1:{silent} check inter 300 fall 1 rise 1\n",
            closing = closing.port,
            silent = silent.port,
            not_smtp = not_smtp.port,
            bad_helo = bad_helo.port,
        )
    };
    let (theirs, ours) = both(
        || (flip_redis(), flip_smtp()),
        |port, (r, s)| body(port, r.port, s.port),
    );
    assert!(theirs.len() >= 10, "HAProxy's lines: {theirs:#?}");
    assert_eq!(
        masked(&ours),
        masked(&theirs),
        "ours: {ours:#?}\ntheirs: {theirs:#?}"
    );
}

#[test]
fn pgsql_and_ldap_checks_match_haproxy() {
    const BIND_OK: &[u8] = b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x00\x04\x00\x04\x00";
    const BIND_REFUSED: &[u8] = b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x31\x04\x00\x04\x00";
    let flip_pg = || {
        RawBackend::start(|peer| {
            if peer.read_exact(22).is_some() {
                peer.write(if peer.id == 0 {
                    b"E\x00\x00\x00\x30SFATAL\x00C28000\x00Mno pg_hba.conf entry\x00\x00".as_slice()
                } else {
                    b"R\x00\x00\x00\x0c\x00\x00\x00\x05salt"
                });
                let _ = peer.read_for(Duration::from_millis(100));
            }
        })
    };
    let flip_ldap = || {
        RawBackend::start(|peer| {
            if peer.read_exact(14).is_some() {
                peer.write(if peer.id == 0 { BIND_REFUSED } else { BIND_OK });
                let _ = peer.read_for(Duration::from_millis(100));
            }
        })
    };
    let http = RawBackend::start(|peer| {
        let _ = peer.read_exact(1);
        peer.write(b"HTTP/1.0 400 Bad Request\r\n\r\n");
    });
    let odd_auth = RawBackend::start(|peer| {
        let _ = peer.read_exact(22);
        // AuthenticationGSSContinue: not among the codes HAProxy accepts.
        peer.write(b"R\x00\x00\x00\x08\x00\x00\x00\x08");
        let _ = peer.read_for(Duration::from_millis(100));
    });
    let closing = RawBackend::start(|peer| {
        let _ = peer.read_exact(1);
    });
    let body = |port: u16, pg: u16, ldap: u16| {
        format!(
            "defaults\n mode tcp\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n timeout check 300ms\n\
             frontend f\n bind 127.0.0.1:{port}\n default_backend pg\n\
             backend pg\n option pgsql-check user haproxy\n\
             \x20server flip 127.0.0.1:{pg} check inter 300 fall 1 rise 1\n\
             \x20server http 127.0.0.1:{http} check inter 300 fall 1 rise 1\n\
             \x20server odd 127.0.0.1:{odd_auth} check inter 300 fall 1 rise 1\n\
             \x20server closing 127.0.0.1:{closing} check inter 300 fall 1 rise 1\n\
             backend ldap\n option ldap-check\n\
             \x20server flip 127.0.0.1:{ldap} check inter 300 fall 1 rise 1\n\
             \x20server http 127.0.0.1:{http} check inter 300 fall 1 rise 1\n\
             \x20server closing 127.0.0.1:{closing} check inter 300 fall 1 rise 1\n",
            http = http.port,
            odd_auth = odd_auth.port,
            closing = closing.port,
        )
    };
    let (theirs, ours) = both(
        || (flip_pg(), flip_ldap()),
        |port, (p, l)| body(port, p.port, l.port),
    );
    let servers = |lines: &[String]| -> Vec<String> {
        masked(lines)
            .into_iter()
            .filter(|l| l.starts_with("Server "))
            .collect()
    };
    assert!(servers(&theirs).len() >= 9, "HAProxy's lines: {theirs:#?}");
    assert_eq!(
        servers(&ours),
        servers(&theirs),
        "ours: {ours:#?}\ntheirs: {theirs:#?}"
    );
}

#[test]
fn mysql_checks_match_haproxy() {
    const HANDSHAKE: &[u8] = b"\x0b\x00\x00\x00\x0a8.0.1\x00abc\x00";
    const OK: &[u8] = b"\x07\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00";
    const DENIED: &[u8] = b"\x29\x00\x00\x02\xff\x15\x04#28000Access denied for user 'haproxy'";
    const BLOCKED: &[u8] = b"\x26\x00\x00\x00\xff\x6a\x04Host '127.0.0.1' is not allowed here";
    // Greets, then answers the login: denied on the first connection, OK after.
    let flip = || {
        RawBackend::start(|peer| {
            peer.write(HANDSHAKE);
            // Header and post-41 body for "haproxy", then COM_QUIT.
            if peer.read_exact(4 + 34 + 7 + 5).is_some() {
                peer.write(if peer.id == 0 { DENIED } else { OK });
                let _ = peer.read_for(Duration::from_millis(100));
            }
        })
    };
    let greeter = RawBackend::start(|peer| {
        peer.write(HANDSHAKE);
        let _ = peer.read_for(Duration::from_millis(100));
    });
    let blocked = RawBackend::start(|peer| {
        peer.write(BLOCKED);
    });
    let truncated = RawBackend::start(|peer| {
        peer.write(&HANDSHAKE[..8]);
    });
    let http = RawBackend::start(|peer| {
        let _ = peer.read_exact(1);
        peer.write(b"HTTP/1.0 400 Bad Request\r\n\r\n");
    });
    let body = |port: u16, flip: u16| {
        format!(
            "defaults\n mode tcp\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n timeout check 300ms\n\
             frontend f\n bind 127.0.0.1:{port}\n default_backend login\n\
             backend login\n option mysql-check user haproxy\n\
             \x20server flip 127.0.0.1:{flip} check inter 300 fall 1 rise 1\n\
             \x20server http 127.0.0.1:{http} check inter 300 fall 1 rise 1\n\
             backend greet\n option mysql-check\n\
             \x20server ok 127.0.0.1:{greeter} check inter 300 fall 1 rise 1\n\
             \x20server blocked 127.0.0.1:{blocked} check inter 300 fall 1 rise 1\n\
             \x20server truncated 127.0.0.1:{truncated} check inter 300 fall 1 rise 1\n",
            http = http.port,
            greeter = greeter.port,
            blocked = blocked.port,
            truncated = truncated.port,
        )
    };
    let (theirs, ours) = both(flip, |port, f| body(port, f.port));
    let servers = |lines: &[String]| -> Vec<String> {
        masked(lines)
            .into_iter()
            .filter(|l| l.starts_with("Server "))
            .collect()
    };
    assert!(servers(&theirs).len() >= 5, "HAProxy's lines: {theirs:#?}");
    assert_eq!(
        servers(&ours),
        servers(&theirs),
        "ours: {ours:#?}\ntheirs: {theirs:#?}"
    );
}
