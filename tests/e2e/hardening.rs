//! Hostile peers: raw bytes through the real binary, checking both the answer the client got
//! and what the backend received. Each test here failed on the tree before the hardening
//! issue (run with `RINGLB_BIN=<old build>` to see it).

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::client::Conn;
use crate::harness::{connect, read_to_close, Ringlb};
use crate::raw::{proxy_config, Peer, RawBackend};

/// Answers every request `200` with the connection number as body, reading bodies by
/// Content-Length or chunked framing.
fn echo_id(peer: &mut Peer) {
    while let Some(head) = peer.read_head() {
        let lower = head.to_ascii_lowercase();
        if lower.contains("transfer-encoding: chunked") {
            if peer.read_chunked().is_none() {
                return;
            }
        } else if let Some(len) = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            if peer.read_exact(len).is_none() {
                return;
            }
        }
        let body = format!("conn{}", peer.id);
        peer.write(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    }
}

/// Sends `request` on a new connection and returns everything ringlb answered until close.
fn exchange(port: u16, request: &[u8]) -> String {
    let mut s = connect(port);
    s.write_all(request).unwrap();
    String::from_utf8_lossy(&read_to_close(&mut s, Duration::from_secs(5))).into_owned()
}

fn status_of(answer: &str) -> &str {
    answer.get(9..12).unwrap_or("")
}

#[test]
fn transfer_encoding_is_exactly_one_chunked_and_forwarded_normalised() {
    let be = RawBackend::start(echo_id);
    let (config, port) = proxy_config(be.port, "");
    let _lb = Ringlb::start(&config);
    let body = "5\r\nhello\r\n0\r\n\r\n";
    for (te_lines, status) in [
        ("Transfer-Encoding: chunked, chunked\r\n", "400"),
        ("Transfer-Encoding: ,chunked\r\n", "400"),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            "400",
        ),
        (
            "Transfer-Encoding: chunked\r\ntransfer-encoding: identity\r\n",
            "400",
        ),
        ("Transfer-Encoding: identity, chunked\r\n", "501"),
        ("Transfer-Encoding: gzip, chunked\r\n", "501"),
    ] {
        let answer = exchange(
            port,
            format!("POST / HTTP/1.1\r\nHost: a\r\n{te_lines}\r\n{body}").as_bytes(),
        );
        assert_eq!(status_of(&answer), status, "{te_lines:?} got {answer:?}");
    }
    assert_eq!(
        be.connections(),
        0,
        "nothing reached the server: {}",
        be.all_received()
    );
    let answer = exchange(
        port,
        format!("POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding:  CHUNKED \r\nConnection: close\r\n\r\n{body}").as_bytes(),
    );
    assert_eq!(status_of(&answer), "200", "{answer}");
    let got = be.received(0);
    assert_eq!(
        got.matches("Transfer-Encoding: chunked\r\n").count(),
        1,
        "{got}"
    );
    assert!(
        !got.contains("CHUNKED"),
        "the original line is replaced: {got}"
    );
    assert!(got.ends_with(&format!("\r\n\r\n{body}")), "{got}");
}

#[test]
fn tabs_around_framing_values_are_refused() {
    let be = RawBackend::start(echo_id);
    let (config, port) = proxy_config(be.port, "");
    let _lb = Ringlb::start(&config);
    for framing in [
        "Content-Length:\t5\r\n",
        "Content-Length: 5\t\r\n",
        // llhttp (Node.js) reads this as no body at all: the chunks would be a second request.
        "Transfer-Encoding:\tchunked\r\n",
        "Transfer-Encoding: chunked\t\r\n",
    ] {
        let body = if framing.starts_with("Content") {
            "hello"
        } else {
            "5\r\nhello\r\n0\r\n\r\n"
        };
        let answer = exchange(
            port,
            format!("POST / HTTP/1.1\r\nHost: a\r\n{framing}\r\n{body}").as_bytes(),
        );
        assert_eq!(status_of(&answer), "400", "{framing:?} got {answer:?}");
    }
    assert_eq!(be.connections(), 0, "{}", be.all_received());
}

#[test]
fn bare_lf_heads_are_refused_at_once() {
    let be = RawBackend::start(echo_id);
    let (config, port) = proxy_config(be.port, " timeout http-request 5s\n");
    let _lb = Ringlb::start(&config);
    for request in [
        &b"GET / HTTP/1.1\nHost: a\n\n"[..],
        b"GET / HTTP/1.1\r\nHost: a\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ] {
        let started = Instant::now();
        let answer = exchange(port, request);
        assert_eq!(status_of(&answer), "400", "{request:?}: {answer:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "answered at once, not at the timeout"
        );
    }
    assert_eq!(be.connections(), 0, "{}", be.all_received());
}

#[test]
fn bare_lf_in_a_response_head_is_a_bad_gateway() {
    let be = RawBackend::start(|peer| {
        if peer.read_head().is_some() {
            peer.write(b"HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nok");
        }
    });
    let (config, port) = proxy_config(be.port, "");
    let _lb = Ringlb::start(&config);
    let answer = exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(status_of(&answer), "502", "{answer}");
}

#[test]
fn host_rules_and_absolute_form() {
    let be = RawBackend::start(echo_id);
    let (config, port) = proxy_config(be.port, "");
    let _lb = Ringlb::start(&config);
    let answer = exchange(port, b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n");
    assert_eq!(status_of(&answer), "400", "{answer}");
    let answer = exchange(port, b"GET http://user@a/ HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(status_of(&answer), "400", "{answer}");
    assert_eq!(be.connections(), 0, "{}", be.all_received());
    // A Host naming another site than the target is refused, as HAProxy 2.6 refuses it.
    let answer = exchange(
        port,
        b"GET http://real.example/x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&answer), "400", "{answer}");
    assert_eq!(be.connections(), 0, "{}", be.all_received());
    // Without a Host (HTTP/1.0), the authority becomes the Host the server gets.
    let answer = exchange(port, b"GET http://real.example/x HTTP/1.0\r\n\r\n");
    assert_eq!(status_of(&answer), "200", "{answer}");
    let got = be.received(0);
    assert!(got.contains("\r\nHost: real.example\r\n"), "{got}");
}

#[test]
fn bad_chunk_lines_and_trailers_are_refused() {
    let be = RawBackend::start(echo_id);
    let (config, port) = proxy_config(be.port, "");
    let _lb = Ringlb::start(&config);
    for body in [
        "5 x\r\nhello\r\n0\r\n\r\n",
        "5\r\nhello\r\n0\r\n folded: trailer\r\n\r\n",
        "5\r\nhello\r\n0\r\nNo-Colon\r\n\r\n",
        "5\r\nhello\r\n0\r\nX: a\rb\r\n\r\n",
        "5\r\nhello\n0\r\n\r\n",
        "5;a=b \r\nhello\r\n0\r\n\r\n",
    ] {
        let answer = exchange(
            port,
            format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{body}")
                .as_bytes(),
        );
        assert_eq!(status_of(&answer), "400", "{body:?}: {answer:?}");
    }
    let long = format!("5;{}\r\nhello\r\n0\r\n\r\n", "x".repeat(5000));
    let answer = exchange(
        port,
        format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{long}")
            .as_bytes(),
    );
    assert_eq!(
        status_of(&answer),
        "400",
        "an overlong extension: {answer:?}"
    );
    assert!(
        !be.all_received().contains("0\r\n\r\n"),
        "no bad body was passed on whole"
    );
}

#[test]
fn faulty_response_framing_is_not_reused_and_http10_clients_get_no_chunks() {
    let be = RawBackend::start(|peer| {
        while peer.read_head().is_some() {
            peer.write(
                b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            );
        }
    });
    let (config, port) = proxy_config(be.port, "");
    let _lb = Ringlb::start(&config);
    let mut conn = Conn::open(port);
    for _ in 0..2 {
        let r = conn.get("/");
        assert_eq!(r.text(), "hello world");
    }
    assert_eq!(
        be.connections(),
        2,
        "an HTTP/1.0 response with Transfer-Encoding closes its server connection"
    );
    let answer = exchange(port, b"GET / HTTP/1.0\r\n\r\n");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(
        !head.to_ascii_lowercase().contains("transfer-encoding"),
        "{head}"
    );
    assert_eq!(body, "hello world", "de-chunked and close-delimited");
}

/// The backend answers a HEAD (or a 204) and then writes more: a body the status forbids, or
/// a whole second response. None of it may ever reach the next client.
#[test]
fn bytes_after_a_response_never_reach_another_client() {
    for trailing in [
        &b"LEAKD"[..],
        b"0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nLEAKD",
    ] {
        // How many stray writes the backend made: the test waits for each before going on.
        let strays = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let written = std::sync::Arc::clone(&strays);
        let be = RawBackend::start(move |peer| {
            while let Some(head) = peer.read_head() {
                if head.starts_with("HEAD") {
                    peer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
                    std::thread::sleep(Duration::from_millis(50));
                    peer.write(trailing);
                    written.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                } else if head.starts_with("GET /204") {
                    peer.write(b"HTTP/1.1 204 No Content\r\n\r\n");
                    std::thread::sleep(Duration::from_millis(50));
                    peer.write(trailing);
                    written.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                } else {
                    peer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nclean");
                }
            }
        });
        let (config, port) = proxy_config(be.port, "");
        let lb = Ringlb::start(&config);
        for (k, first) in ["HEAD / HTTP/1.1", "GET /204 HTTP/1.1"].iter().enumerate() {
            let mut a = Conn::open(port);
            a.send(format!("{first}\r\nHost: a\r\n\r\n").as_bytes());
            let r = a.response(first.starts_with("HEAD")).unwrap();
            assert!(r.status == 200 || r.status == 204);
            // Let the stray bytes land on the now idle pooled connection.
            crate::harness::wait_for("the stray bytes to be written", || {
                strays.load(std::sync::atomic::Ordering::SeqCst) > k
            });
            std::thread::sleep(Duration::from_millis(100));
            for _ in 0..4 {
                let r = crate::client::get(port, "/");
                assert_eq!(
                    r.text(),
                    "clean",
                    "after {first:?} + {trailing:?}\n{}",
                    lb.stderr()
                );
            }
        }
    }
}

#[test]
fn ntlm_authenticated_server_connections_stay_with_their_client() {
    let be = RawBackend::start(|peer| {
        while let Some(head) = peer.read_head() {
            let body = format!("conn{}", peer.id);
            if head.contains("Authorization: NTLM") {
                peer.write(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            } else {
                peer.write(
                    format!(
                        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            }
        }
    });
    let (config, port) = proxy_config(be.port, "");
    let _lb = Ringlb::start(&config);
    let mut alice = Conn::open(port);
    let first = alice.get("/");
    assert_eq!(first.status, 401);
    // Another client now: it must not be handed Alice's authenticating connection.
    let other = crate::client::get(port, "/");
    assert_ne!(
        other.text(),
        first.text(),
        "another client got the private connection"
    );
    alice.send(b"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: NTLM TlRMTVNTUAAB\r\n\r\n");
    let second = alice.response(false).unwrap();
    assert_eq!(second.status, 200);
    assert_eq!(
        second.text(),
        first.text(),
        "Alice keeps her server connection"
    );
}

#[test]
fn bytes_sent_after_an_upgrade_request_go_into_the_tunnel() {
    let be = RawBackend::start(|peer| {
        if peer.read_head().is_some() {
            peer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n",
            );
            let early = peer.read_for(Duration::from_millis(500));
            peer.write(&early);
        }
    });
    let (config, port) = proxy_config(be.port, "");
    let _lb = Ringlb::start(&config);
    let mut s = connect(port);
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nFIRST-FRAME",
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).ok();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("FIRST-FRAME") {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 101"), "{got}");
    assert!(
        got.ends_with("\r\n\r\nFIRST-FRAME"),
        "echoed through the tunnel: {got}"
    );
    assert!(be.received(0).ends_with("\r\n\r\nFIRST-FRAME"));
}

#[test]
fn an_early_response_is_read_by_the_client_not_reset() {
    let be = RawBackend::start(|peer| {
        if peer.read_head().is_some() {
            peer.write(
                b"HTTP/1.1 413 Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbig\n",
            );
        }
    });
    let (config, port) = proxy_config(be.port, "");
    let _lb = Ringlb::start(&config);
    let mut s = connect(port);
    let body = vec![b'x'; 8 << 20];
    s.write_all(
        format!(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // The whole upload goes out without a reset: ringlb drains it after answering.
    s.write_all(&body).expect("the upload was cut by a reset");
    s.shutdown(std::net::Shutdown::Write).ok();
    let answer =
        String::from_utf8_lossy(&read_to_close(&mut s, Duration::from_secs(5))).into_owned();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.ends_with("big\n"), "{answer}");
}

#[test]
fn no_error_page_after_part_of_a_response() {
    let be = RawBackend::start(|peer| {
        if peer.read_head().is_some() {
            // Answer at once, streaming, while the upload continues.
            peer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
            peer.write(&[b'r'; 1000]);
            let _ = peer.read_for(Duration::from_secs(2));
        }
    });
    let (config, port) = proxy_config(be.port, "");
    let _lb = Ringlb::start(&config);
    let mut s = connect(port);
    s.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while got.len() < 1000 {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
    assert!(got.starts_with(b"HTTP/1.1 200"), "the response started");
    s.write_all(b"zz\r\n").unwrap();
    got.extend(read_to_close(&mut s, Duration::from_secs(5)));
    let text = String::from_utf8_lossy(&got);
    assert!(
        !text.contains("HTTP/1.1 400"),
        "an error page inside a body: {text}"
    );
    assert!(
        got.len() < 1000 + 100,
        "the response was cut, not completed"
    );
}
