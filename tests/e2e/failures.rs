//! Bad input and broken servers: each gets its status code and a closed connection, and
//! nobody else is harmed.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::client::{get, Conn};
use crate::harness::{connect, free_port, read_to_close, repo, Ringlb};

/// A proxy with the test fixture's errorfiles, `timeouts` and `extra` backend lines.
fn proxy(servers: &str, timeouts: &str, extra: &str) -> (Ringlb, u16) {
    let port = free_port();
    let config = format!(
        "defaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n{timeouts}\
         \n errorfile 400 tests/fixtures/errors/400.http\n errorfile 408 tests/fixtures/errors/408.http\
         \n errorfile 502 tests/fixtures/errors/502.http\n errorfile 503 tests/fixtures/errors/503.http\
         \n errorfile 504 tests/fixtures/errors/504.http\
         \nfrontend web\n bind 127.0.0.1:{port}\n default_backend app\nbackend app\n{extra}{servers}"
    );
    (Ringlb::start(&config), port)
}

fn one(backend: &Backend) -> String {
    format!(" server s1 127.0.0.1:{}\n", backend.port)
}

fn errorfile(code: u16) -> Vec<u8> {
    std::fs::read(repo().join(format!("tests/fixtures/errors/{code}.http"))).unwrap()
}

/// Sends `request` raw and returns everything until the proxy closes.
fn raw(port: u16, request: &[u8]) -> Vec<u8> {
    let mut s = connect(port);
    s.write_all(request).unwrap();
    read_to_close(&mut s, Duration::from_secs(10))
}

fn assert_error_page(got: &[u8], code: u16) {
    assert_eq!(
        String::from_utf8_lossy(got),
        String::from_utf8_lossy(&errorfile(code)),
        "expected the {code} errorfile byte for byte, then a close"
    );
}

#[test]
fn malformed_requests_get_400_and_a_closed_connection() {
    let a = Backend::start("a");
    let (_lb, port) = proxy(&one(&a), "", "");
    for bad in [
        &b"THIS IS NOT HTTP\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ] {
        assert_error_page(&raw(port, bad), 400);
    }
    assert_eq!(a.requests(), 0, "nothing malformed reached the server");
    assert_eq!(get(port, "/").status, 200, "others are unharmed");
}

#[test]
fn an_oversized_request_head_gets_400() {
    let a = Backend::start("a");
    let (_lb, port) = proxy(&one(&a), "", "");
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "y".repeat(20_000)
    );
    let mut s = connect(port);
    // The proxy may answer and close before it has read everything: a reset is fine.
    let _ = s.write_all(big.as_bytes());
    let got = read_to_close(&mut s, Duration::from_secs(5));
    assert!(
        got.starts_with(&errorfile(400)[..20]),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

#[test]
fn an_incomplete_request_gets_408_after_timeout_http_request() {
    let a = Backend::start("a");
    let (_lb, port) = proxy(&one(&a), " timeout http-request 300ms\n", "");
    let started = Instant::now();
    let mut s = connect(port);
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let got = read_to_close(&mut s, Duration::from_secs(5));
    assert_error_page(&got, 408);
    assert!(started.elapsed() >= Duration::from_millis(250));
    // A connection that never sends a byte gets the same answer.
    let mut s = connect(port);
    assert_error_page(&read_to_close(&mut s, Duration::from_secs(5)), 408);
}

#[test]
fn a_refused_server_is_retried_then_503() {
    let dead = free_port();
    let (lb, port) = proxy(
        &format!(" server dead 127.0.0.1:{dead}\n"),
        "",
        " retries 2\n timeout connect 100ms\n",
    );
    let started = Instant::now();
    assert_error_page(&raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 503);
    // Two retries, each after HAProxy's turn-around of min(timeout connect, 1s).
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    drop(lb);
}

#[test]
fn redispatch_moves_a_failed_request_to_another_server() {
    let dead = free_port();
    let alive = Backend::start("alive");
    let servers = format!(
        " server dead 127.0.0.1:{dead}\n server alive 127.0.0.1:{}\n",
        alive.port
    );
    let (_lb, port) = proxy(&servers, "", " retries 1\n option redispatch\n");
    for _ in 0..4 {
        let r = get(port, "/");
        assert_eq!((r.status, r.text().as_str()), (200, "alive\n"));
    }
}

#[test]
fn no_usable_server_gets_503() {
    let a = Backend::start("a");
    let (_lb, port) = proxy(
        &format!(" server s1 127.0.0.1:{} disabled\n", a.port),
        "",
        "",
    );
    assert_error_page(&raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 503);
}

#[test]
fn a_silent_server_gets_504() {
    let a = Backend::start("a");
    let (_lb, port) = proxy(&one(&a), "", " timeout server 300ms\n");
    assert_error_page(
        &raw(port, b"GET /slow/2000 HTTP/1.1\r\nHost: x\r\n\r\n"),
        504,
    );
}

#[test]
fn a_malformed_response_gets_502() {
    let a = Backend::start("a");
    let (_lb, port) = proxy(&one(&a), "", "");
    assert_error_page(&raw(port, b"GET /garbage HTTP/1.1\r\nHost: x\r\n\r\n"), 502);
    // A response head larger than tune.bufsize (16 KiB) is refused like a malformed one.
    assert_error_page(&raw(port, b"GET /bighead HTTP/1.1\r\nHost: x\r\n\r\n"), 502);
    assert_eq!(get(port, "/").status, 200);
}

#[test]
fn a_truncated_response_is_never_passed_off_as_complete() {
    let a = Backend::start("a");
    let (_lb, port) = proxy(&one(&a), "", "");
    // Content-Length promised more than the server sent.
    let mut conn = Conn::open(port);
    conn.send(b"GET /truncate HTTP/1.1\r\nHost: x\r\n\r\n");
    let err = conn
        .response(false)
        .expect_err("a short body must not read as complete");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
        ),
        "{err:?}"
    );
    // A close-delimited body cut by a reset: the client must see an error, not a clean end.
    let mut s = connect(port);
    s.write_all(b"GET /reset-mid-body HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let end = s.read_to_end(&mut got);
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(
        end.is_err(),
        "the client saw a clean end after {} bytes",
        got.len()
    );
}

#[test]
fn errorfiles_are_served_byte_for_byte() {
    let (_lb, port) = proxy(
        &format!(" server dead 127.0.0.1:{}\n", free_port()),
        "",
        " retries 0\n",
    );
    let got = raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(got, errorfile(503));
    assert!(String::from_utf8_lossy(&got).contains("ringlb test fixture errorfile 503"));
}
