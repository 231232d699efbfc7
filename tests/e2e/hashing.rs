//! Hash-based balancing (`balance source|uri|url_param|hdr`, `hash-type`): the same
//! configuration and requests through HAProxy 2.6 and ringlb land on the same servers, for
//! map-based and consistent hashing and every hash function; and when a server leaves, a
//! consistent ring moves only that server's keys.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use socket2::{Domain, Socket, Type};

use crate::backend::Backend;
use crate::haproxy::{cli, Haproxy};
use crate::harness::{defaults, free_port, temp_dir, Ringlb};

/// One request: its source address (127.0.0.x), its target and extra header lines.
struct Ask {
    src: u8,
    target: String,
    headers: String,
}

/// The server (its body) that answered `ask` on `port`, or the status line.
fn send(port: u16, ask: &Ask) -> String {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let src = SocketAddr::from((Ipv4Addr::new(127, 0, 0, ask.src), 0));
    socket.bind(&src.into()).unwrap();
    let dst = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    socket
        .connect_timeout(&dst.into(), Duration::from_secs(5))
        .unwrap();
    let mut s: TcpStream = socket.into();
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(
        s,
        "GET {} HTTP/1.1\r\n{}Connection: close\r\n\r\n",
        ask.target, ask.headers
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    match out.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => body.trim().to_string(),
        _ => out.lines().next().unwrap_or("").to_string(),
    }
}

/// Varied keys; some requests lack the parameter or the header, and go round robin.
fn requests(n: usize) -> Vec<Ask> {
    (0..n)
        .map(|i| {
            let id = if i % 7 == 3 {
                String::new()
            } else {
                format!("&id=u{}", i * 37)
            };
            let key = if i % 6 == 5 {
                String::new()
            } else {
                format!("X-Key: k{i}, other\r\n")
            };
            Ask {
                src: (i % 40 + 1) as u8,
                target: format!("/d{}/p{i}/f{}.html?x={i}{id}&z=1", i % 3, i * i),
                headers: format!("Host: www.site{}.example{}.com\r\n{key}", i % 11, i % 5),
            }
        })
        .collect()
}

/// The last one is a `mode tcp` relay (balanced per connection, by the tunnel).
const ALGORITHMS: [&str; 8] = [
    "uri",
    "uri whole",
    "uri depth 2 len 14 path-only",
    "url_param id",
    "hdr(X-Key)",
    "hdr(Host) use_domain_only",
    "source",
    "source\n mode tcp",
];

const HASH_TYPES: [&str; 10] = [
    "map-based",
    "map-based sdbm avalanche",
    "map-based djb2",
    "map-based wt6",
    "map-based crc32",
    "consistent",
    "consistent sdbm",
    "consistent djb2",
    "consistent wt6 avalanche",
    "consistent crc32",
];

/// One `listen` section per (hash type, algorithm), each on its port, over the same servers
/// (unequal weights, explicit ids).
fn sections(ports: &[u16], servers: &[Backend]) -> String {
    let mut cfg = defaults("");
    let mut ports = ports.iter();
    for hash_type in HASH_TYPES {
        for algo in ALGORITHMS {
            let port = ports.next().unwrap();
            cfg.push_str(&format!(
                "listen l{port}\n bind 127.0.0.1:{port}\n balance {algo}\n hash-type {hash_type}\n\
                 server s1 127.0.0.1:{}\n server s2 127.0.0.1:{} weight 2\n\
                 server s3 127.0.0.1:{} id 7\n server s4 127.0.0.1:{} weight 3 id 2\n",
                servers[0].port, servers[1].port, servers[2].port, servers[3].port
            ));
        }
    }
    cfg
}

#[test]
fn every_hash_type_and_key_picks_the_server_haproxy_picks() {
    let servers: Vec<Backend> = ["s1", "s2", "s3", "s4"]
        .iter()
        .map(|n| Backend::start(n))
        .collect();
    let count = HASH_TYPES.len() * ALGORITHMS.len();
    let mut ports = (0..2 * count).map(|_| free_port()).collect::<Vec<u16>>();
    let theirs = ports.split_off(count);
    let ours = ports;
    let _lb = Ringlb::start(&sections(&ours, &servers));
    let _hx = Haproxy::start_on_port(&sections(&theirs, &servers), theirs[0]);
    let asks = requests(24);
    // Sections are independent (each has its own round-robin fallback): one thread each.
    let results: Vec<(Vec<String>, Vec<String>)> = std::thread::scope(|scope| {
        let runs: Vec<_> = ours
            .iter()
            .zip(&theirs)
            .map(|(&o, &t)| {
                let asks = &asks;
                scope.spawn(move || (land(o, asks), land(t, asks)))
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let mut spread = std::collections::BTreeSet::new();
    for (k, (got, want)) in results.into_iter().enumerate() {
        let what = format!(
            "balance {} / hash-type {}",
            ALGORITHMS[k % ALGORITHMS.len()],
            HASH_TYPES[k / ALGORITHMS.len()]
        );
        assert_eq!(got, want, "ringlb vs HAProxy, {what}");
        assert!(
            got.iter().all(|s| s.len() == 2 && s.starts_with('s')),
            "{what}: {got:?}"
        );
        spread.extend(got);
    }
    // Not one server for everything: the comparison above is between real choices.
    assert_eq!(spread.len(), 4, "{spread:?}");
}

/// Where each of `asks` lands on `port`.
fn land(port: u16, asks: &[Ask]) -> Vec<String> {
    asks.iter().map(|a| send(port, a)).collect()
}

fn down_config(port: u16, hash_type: &str, socket: &Path, servers: &[Backend]) -> String {
    let mut cfg = format!(
        "global\n stats socket {} level admin\n{}",
        socket.display(),
        defaults("")
    );
    cfg.push_str(&format!(
        "listen b\n bind 127.0.0.1:{port}\n balance uri\n hash-type {hash_type}\n"
    ));
    for (i, s) in servers.iter().enumerate() {
        cfg.push_str(&format!(" server s{} 127.0.0.1:{}\n", i + 1, s.port));
    }
    cfg
}

/// Runs `command` on both admin sockets; both must accept it.
fn both(sockets: (&Path, &Path), command: &str) {
    let (ours, theirs) = (cli(sockets.0, command), cli(sockets.1, command));
    assert_eq!(ours.trim(), theirs.trim(), "{command}");
    std::thread::sleep(Duration::from_millis(100));
}

/// `land`, eight requests at a time: every request here has its key, so order does not
/// matter.
fn land_keyed(port: u16, asks: &[Ask]) -> Vec<String> {
    std::thread::scope(|scope| {
        let runs: Vec<_> = asks
            .chunks(asks.len().div_ceil(8))
            .map(|chunk| scope.spawn(move || land(port, chunk)))
            .collect();
        runs.into_iter().flat_map(|r| r.join().unwrap()).collect()
    })
}

/// Keys that changed server between `before` and `after`.
fn moved(before: &[String], after: &[String]) -> usize {
    before.iter().zip(after).filter(|(b, a)| b != a).count()
}

#[test]
fn a_server_leaving_a_consistent_ring_moves_only_its_keys() {
    let servers: Vec<Backend> = (1..=5).map(|i| Backend::start(&format!("s{i}"))).collect();
    let asks: Vec<Ask> = (0..200)
        .map(|i| Ask {
            src: 1,
            target: format!("/object/{i}"),
            headers: "Host: h\r\n".to_string(),
        })
        .collect();
    for hash_type in ["consistent", "map-based"] {
        let dir = temp_dir("hash-down");
        let (our_sock, their_sock) = (dir.join("ours.sock"), dir.join("theirs.sock"));
        let (our_port, their_port) = (free_port(), free_port());
        let _lb = Ringlb::start(&down_config(our_port, hash_type, &our_sock, &servers));
        let _hx = Haproxy::start(
            &down_config(their_port, hash_type, &their_sock, &servers),
            &their_sock,
        );
        let sockets = (our_sock.as_path(), their_sock.as_path());
        let before = land_keyed(our_port, &asks);
        assert_eq!(before, land_keyed(their_port, &asks), "{hash_type}: all up");
        let on_s3 = before.iter().filter(|s| *s == "s3").count();
        assert!((10..=80).contains(&on_s3), "{hash_type}: s3 has {on_s3}");

        both(sockets, "disable server b/s3");
        let after = land_keyed(our_port, &asks);
        assert_eq!(after, land_keyed(their_port, &asks), "{hash_type}: s3 down");
        assert!(!after.iter().any(|s| s == "s3"));
        if hash_type == "consistent" {
            // Exactly the keys that were on s3 moved, nothing else.
            assert_eq!(moved(&before, &after), on_s3, "consistent: only s3's keys");
            for (b, a) in before.iter().zip(&after) {
                assert!(b == "s3" || a == b, "{b} -> {a}");
            }
            // A weight change reshapes the ring as HAProxy's does.
            both(sockets, "set weight b/s1 4");
            let weighted = land_keyed(our_port, &asks);
            assert_eq!(
                weighted,
                land_keyed(their_port, &asks),
                "consistent: s1 weight 4"
            );
            assert!(moved(&after, &weighted) > 0);
            both(sockets, "set weight b/s1 1");
        } else {
            // A map rehashes everything over the remaining weights.
            let n = moved(&before, &after);
            assert!(n > 2 * on_s3, "map-based moved {n}, s3 had {on_s3}");
        }
        both(sockets, "enable server b/s3");
        assert_eq!(land_keyed(our_port, &asks), before, "{hash_type}: s3 back");
    }
}

/// An RDP connection request (TPKT and X.224 headers) carrying `cookie`.
fn rdp_request(cookie: &str) -> Vec<u8> {
    let mut out = vec![3, 0, 0, 0, 0x1e, 0xe0, 0, 0, 0, 0, 0];
    out.extend_from_slice(cookie.as_bytes());
    out.extend_from_slice(&[1, 0, 8, 0, 3, 0, 0, 0]);
    out
}

/// Which server (`s1`…`s4`, each naming itself first) a `mode tcp` connection to `port`
/// that sends `bytes` reaches.
fn tcp_landing(port: u16, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(out.get(..2).unwrap_or(&out)).into_owned()
}

/// `balance rdp-cookie` (after `tcp-request content accept if RDP_COOKIE`) sends each RDP
/// user where HAProxy sends it, map-based and consistent, with the default cookie name and
/// a named one; a connection without the cookie waits for the inspect delay and is
/// balanced round robin.
#[test]
fn rdp_cookie_balancing_picks_the_server_haproxy_picks() {
    let servers = [
        super::backend::tcp_echo("s1"),
        super::backend::tcp_echo("s2"),
        super::backend::tcp_echo("s3"),
        super::backend::tcp_echo("s4"),
    ];
    // HAProxy is started on its admin socket: a probe of its port would be balanced too.
    let dir = temp_dir("rdp");
    let config = |port: u16| {
        let sock = dir.join(format!("{port}.sock"));
        let mut cfg = format!("global\n stats socket {}\n", sock.display());
        cfg.push_str(&defaults(""));
        for (offset, (algo, hash_type)) in [
            ("rdp-cookie", "map-based"),
            ("rdp-cookie(user)", "consistent"),
        ]
        .iter()
        .enumerate()
        {
            cfg.push_str(&format!(
                "listen rdp{offset}\n mode tcp\n bind 127.0.0.1:{}\n\
                 tcp-request inspect-delay 300ms\n tcp-request content accept if RDP_COOKIE\n\
                 balance {algo}\n hash-type {hash_type}\n\
                 server s1 127.0.0.1:{}\n server s2 127.0.0.1:{} weight 2\n\
                 server s3 127.0.0.1:{}\n server s4 127.0.0.1:{} weight 3\n",
                port + offset as u16,
                servers[0],
                servers[1],
                servers[2],
                servers[3]
            ));
        }
        cfg
    };
    let run = |port: u16| -> Vec<String> {
        let mut seen = Vec::new();
        for (offset, name) in [(0u16, "mstshash"), (1, "user")] {
            for user in 0..12 {
                let request = rdp_request(&format!("Cookie: {name}=user{user}\r\n"));
                seen.push(tcp_landing(port + offset, &request));
            }
            // No cookie: decided when the delay ends, balanced round robin.
            seen.push(tcp_landing(port + offset, &rdp_request("")));
            seen.push(tcp_landing(port + offset, &rdp_request("")));
        }
        seen
    };
    // Two consecutive ports each.
    let pair = || loop {
        let port = free_port();
        if std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            break port;
        }
    };
    let ours = {
        let port = pair();
        let _lb = Ringlb::start(&config(port));
        run(port)
    };
    let theirs = {
        let port = pair();
        let _hx = Haproxy::start(&config(port), &dir.join(format!("{port}.sock")));
        run(port)
    };
    assert_eq!(ours, theirs, "ringlb vs HAProxy");
    let spread: std::collections::BTreeSet<&String> = ours.iter().collect();
    assert!(spread.len() >= 3, "real choices: {ours:?}");
}
