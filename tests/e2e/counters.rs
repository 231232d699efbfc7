//! Counters and response-time histograms, summed over every shard, equal what was sent.
//! The shards run in this process (`ringlb::runtime::start`, real sockets and threads): the
//! stats page and admin socket that show these numbers from outside are the next issue.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringlb::state::LatencyTotals;

use crate::harness::{defaults, free_port};
use crate::raw::{Peer, RawBackend};

/// Answers `/fail` with a complete 503 and anything else with a complete 200, after reading
/// any Content-Length body.
fn answer(peer: &mut Peer) {
    while let Some(head) = peer.read_head() {
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.trim().parse::<usize>().ok());
        if let Some(n) = length {
            if peer.read_exact(n).is_none() {
                return;
            }
        }
        if head.split_whitespace().nth(1) == Some("/fail") {
            peer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nfail");
        } else {
            peer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    }
}

#[test]
fn counters_and_histograms_sum_to_what_the_clients_sent() {
    let (a, b) = (RawBackend::start(answer), RawBackend::start(answer));
    let port = free_port();
    let text = format!(
        "global\n nbthread 2\n{}frontend f\n bind 127.0.0.1:{port}\n default_backend be\nbackend be\n server a 127.0.0.1:{}\n server b 127.0.0.1:{}\n",
        defaults(""),
        a.port,
        b.port
    );
    let config = Arc::new(
        ringlb::config::load_sources(&[("counters.cfg".into(), text)])
            .unwrap()
            .config,
    );
    let running = ringlb::runtime::start(Arc::clone(&config)).unwrap();
    assert_eq!(running.shards, 2);
    let (mut ok, mut errors, mut received, mut sent) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..60 {
        // A new connection each time, so both shards take some; every tenth request uploads
        // a body larger than a buffer.
        let path = if i % 6 == 5 { "/fail" } else { "/" };
        let request = if i % 10 == 3 {
            let mut r = format!(
                "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n"
            )
            .into_bytes();
            r.extend_from_slice(&[b'x'; 100_000]);
            r
        } else {
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").into_bytes()
        };
        sent += request.len() as u64;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(&request).unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).unwrap();
        received += answer.len() as u64;
        if answer.starts_with(b"HTTP/1.1 200") {
            ok += 1;
        } else if answer.starts_with(b"HTTP/1.1 503") {
            errors += 1;
        }
    }
    assert_eq!((ok, errors), (50, 10));
    let snap = running.publisher.current();
    let counters = &snap.counters;
    let (fe, be) = (0, 1);
    assert_eq!(config.proxies[fe].name, "f");
    let shards_used = counters
        .shards
        .iter()
        .filter(|s| s.proxies[fe].requests_total.get() > 0)
        .count();
    assert_eq!(shards_used, 2, "both shards served");
    assert_eq!(counters.proxy_sum(fe, |c| c.requests_total.get()), 60);
    assert_eq!(counters.proxy_sum(fe, |c| c.conn_total.get()), 60);
    assert_eq!(counters.proxy_sum(fe, |c| c.status.classes[1].get()), 50);
    assert_eq!(counters.proxy_sum(fe, |c| c.status.classes[4].get()), 10);
    assert_eq!(counters.proxy_sum(be, |c| c.sessions_total.get()), 60);
    assert_eq!(
        counters.proxy_sum(be, |c| c.backend_status.classes[4].get()),
        10
    );
    assert_eq!(counters.proxy_sum(fe, |c| c.bytes_out.get()), received);
    assert_eq!(counters.proxy_sum(fe, |c| c.bytes_in.get()), sent);
    assert_eq!(
        (0..2)
            .map(|s| counters.server_sum(be, s, |c| c.bytes_in.get()))
            .sum::<u64>(),
        sent
    );
    let per_server: Vec<u64> = (0..2)
        .map(|s| counters.server_sum(be, s, |c| c.sessions_total.get()))
        .collect();
    assert_eq!(per_server, vec![30, 30], "round robin over both shards");
    assert_eq!(
        (0..2)
            .map(|s| counters.server_sum(be, s, |c| c.bytes_out.get()))
            .sum::<u64>(),
        received
    );
    // Histograms are shipped about once a second.
    let mut totals = LatencyTotals::default();
    let deadline = Instant::now() + Duration::from_secs(5);
    while totals.backend("be").len() < 60 && Instant::now() < deadline {
        for delta in running.latencies.try_iter() {
            totals.merge(&delta);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(totals.server("be", "a").map(|h| h.len()), Some(30));
    assert_eq!(totals.server("be", "b").map(|h| h.len()), Some(30));
    let all = totals.backend("be");
    assert_eq!(all.len(), 60);
    assert!(
        all.value_at_quantile(0.99) < 1_000_000,
        "loopback answers within a second"
    );

    // A reload that swaps the servers' order: counters follow the names, not the ids.
    let mut plane = ringlb::control::plane::ControlPlane::new(
        running.publisher,
        running.latencies,
        running.captures,
    );
    let swapped = format!(
        "global\n nbthread 2\n{}frontend f\n bind 127.0.0.1:{port}\n default_backend be\nbackend be\n server b 127.0.0.1:{}\n server a 127.0.0.1:{}\n",
        defaults(""),
        b.port,
        a.port
    );
    plane.reload(Arc::new(
        ringlb::config::load_sources(&[("counters.cfg".into(), swapped)])
            .unwrap()
            .config,
    ));
    // Every shard takes the snapshot within a sweep.
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..10 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 200"));
    }
    let sessions = |server: &str| plane.server_total("be", server, |c| c.sessions_total.get());
    assert_eq!((sessions("a"), sessions("b")), (35, 35));
    assert_eq!(
        plane.proxy_total(ringlb::config::ProxyKind::Frontend, "f", |c| c
            .requests_total
            .get()),
        70
    );
}
