//! HTTP/1.1 behaviour through the proxy: keep-alive, pipelining, bodies, framing, headers.

use std::io::{Read, Write};
use std::time::Duration;

use crate::backend::{pattern, Backend};
use crate::client::{get, Conn};
use crate::harness::{defaults, free_port, read_to_close, Ringlb};

/// One frontend in front of `backends`, with `extra` lines in the backend section.
fn proxy(backends: &[&Backend], extra: &str) -> (Ringlb, u16) {
    let port = free_port();
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, b)| format!(" server s{i} 127.0.0.1:{}\n", b.port))
        .collect();
    let config = format!(
        "{}frontend web\n bind 127.0.0.1:{port}\n default_backend app\nbackend app\n{extra}{servers}",
        defaults("")
    );
    (Ringlb::start(&config), port)
}

#[test]
fn keep_alive_reuses_connections_on_both_sides() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let (_lb, port) = proxy(&[&a, &b], "");
    let mut conn = Conn::open(port);
    for i in 0..20 {
        let r = conn.get("/");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), if i % 2 == 0 { "a\n" } else { "b\n" });
    }
    assert_eq!(a.requests() + b.requests(), 20);
    // One client connection, served by one shard: each server sees one reused connection.
    assert_eq!((a.connections(), b.connections()), (1, 1));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let a = Backend::start("a");
    let (_lb, port) = proxy(&[&a], "");
    let mut conn = Conn::open(port);
    conn.send(b"GET /slow/150 HTTP/1.1\r\nHost: x\r\n\r\nGET /big/10 HTTP/1.1\r\nHost: x\r\n\r\nGET /big/20 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.response(false).unwrap().text(), "a\n");
    assert_eq!(conn.response(false).unwrap().body.len(), 10);
    assert_eq!(conn.response(false).unwrap().body.len(), 20);
    assert_eq!(conn.get("/").status, 200, "the connection stays usable");
}

const SIXTY_FOUR_MIB: usize = 64 << 20;

fn big_body() -> Vec<u8> {
    (0..SIXTY_FOUR_MIB).map(|i| pattern(i * 7)).collect()
}

/// Uploads 64 MiB to `path` (as `framing` writes it) and downloads 64 MiB from `download`,
/// checking every byte both ways.
fn round_trip_64_mib(
    path: &str,
    framing: fn(&mut std::net::TcpStream, &str, &[u8]),
    download: &str,
) -> String {
    let a = Backend::start("a");
    let (_lb, port) = proxy(&[&a], "");
    let body = big_body();
    let mut conn = Conn::open(port);
    let mut writer = conn.writer.try_clone().unwrap();
    let (sent, path_owned) = (body.clone(), path.to_string());
    // Written from another thread: the echo comes back while the upload is still going.
    let upload = std::thread::spawn(move || framing(&mut writer, &path_owned, &sent));
    let echoed = conn.response(false).unwrap();
    upload.join().unwrap();
    assert_eq!(echoed.status, 200);
    assert!(echoed.body == body, "echoed body differs");
    let r = conn.get(&format!("{download}/{SIXTY_FOUR_MIB}"));
    assert_eq!(r.body.len(), SIXTY_FOUR_MIB);
    assert!(
        r.body.iter().enumerate().all(|(i, &b)| b == pattern(i)),
        "download differs"
    );
    echoed.header("transfer-encoding").unwrap_or_default()
}

#[test]
fn content_length_bodies_of_64_mib_pass_byte_exact_both_ways() {
    let with_length = |w: &mut std::net::TcpStream, path: &str, body: &[u8]| {
        w.write_all(
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
        w.write_all(body).unwrap();
    };
    round_trip_64_mib("/echo", with_length, "/big");
}

#[test]
fn chunked_bodies_of_64_mib_pass_byte_exact_both_ways() {
    let chunked = |w: &mut std::net::TcpStream, path: &str, body: &[u8]| {
        w.write_all(
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        // Odd chunk sizes so chunk boundaries never line up with buffer boundaries.
        for piece in body.chunks(12345) {
            w.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                .unwrap();
            w.write_all(piece).unwrap();
            w.write_all(b"\r\n").unwrap();
        }
        w.write_all(b"0\r\nX-Trailer: yes\r\n\r\n").unwrap();
    };
    let te = round_trip_64_mib("/echo-chunked", chunked, "/bigchunked");
    assert_eq!(te, "chunked");
}

#[test]
fn bodiless_responses_keep_the_connection_in_sync() {
    let a = Backend::start("a");
    let (_lb, port) = proxy(&[&a], "");
    let mut conn = Conn::open(port);
    conn.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = conn.response(true).unwrap();
    assert_eq!(
        (r.status, r.header("content-length").as_deref()),
        (200, Some("2"))
    );
    for code in [204, 304] {
        let r = conn.get(&format!("/status/{code}"));
        assert_eq!(r.status, code);
        assert!(r.body.is_empty());
    }
    assert_eq!(
        conn.get("/").text(),
        "a\n",
        "no stray body bytes were left on the connection"
    );
}

#[test]
fn connection_close_is_honoured_on_either_side() {
    let a = Backend::start("a");
    let (_lb, port) = proxy(&[&a], "");
    let mut conn = Conn::open(port);
    conn.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let r = conn.response(false).unwrap();
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    assert!(conn.is_closed(), "client asked to close");

    let mut conn = Conn::open(port);
    conn.send(b"GET /close-delimited HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = conn.response(false).unwrap();
    assert_eq!(r.text(), "a until close\n");
    assert_eq!(r.header("connection").as_deref(), Some("close"));

    let mut conn = Conn::open(port);
    conn.send(b"GET / HTTP/1.0\r\n\r\n");
    let r = conn.response(false).unwrap();
    assert_eq!(r.text(), "a\n");
    assert!(conn.is_closed(), "HTTP/1.0 without keep-alive closes");
}

#[test]
fn forwardfor_is_added_and_other_headers_pass_unchanged() {
    let a = Backend::start("a");
    let (_lb, port) = proxy(&[&a], " option forwardfor\n");
    let mut conn = Conn::open(port);
    conn.send(b"GET /headers HTTP/1.1\r\nHost: example.test:8080\r\nX-Custom: keep me\r\nConnection: keep-alive, X-Hop\r\nX-Hop: drop me\r\n\r\n");
    let head = conn.response(false).unwrap().text();
    assert!(head.starts_with("GET /headers HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("\r\nHost: example.test:8080\r\n"), "{head}");
    assert!(head.contains("\r\nX-Custom: keep me\r\n"), "{head}");
    assert!(
        head.contains("\r\nX-Forwarded-For: 127.0.0.1\r\n"),
        "{head}"
    );
    assert!(
        !head.contains("X-Hop"),
        "hop-by-hop headers are not forwarded: {head}"
    );
    assert!(!head.to_ascii_lowercase().contains("connection:"), "{head}");
}

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    let a = Backend::start("a");
    let (_lb, port) = proxy(&[&a], "");
    let mut conn = Conn::open(port);
    conn.send(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    let interim = conn.response(false).unwrap();
    assert_eq!(interim.status, 100);
    conn.send(b"hello");
    let r = conn.response(false).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
}

#[test]
fn an_early_response_ends_an_unfinished_upload_cleanly() {
    let a = Backend::start("a");
    let (_lb, port) = proxy(&[&a], "");
    let mut conn = Conn::open(port);
    conn.send(b"POST /early-413 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n");
    conn.send(&[b'z'; 65536]);
    let r = conn.response(false).unwrap();
    assert_eq!((r.status, r.text().as_str()), (413, "big\n"));
    assert_eq!(r.header("connection").as_deref(), Some("close"));
}

#[test]
fn a_slow_client_does_not_stall_another() {
    let a = Backend::start("a");
    let (_lb, port) = proxy(&[&a], "");
    let mut slow = crate::harness::connect(port);
    slow.write_all(b"GET / HT").unwrap();
    let started = std::time::Instant::now();
    for _ in 0..20 {
        assert_eq!(get(port, "/").status, 200);
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    slow.write_all(b"TP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    slow.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let _ = read_to_close(&mut slow, Duration::from_millis(10));
}
