//! End-to-end tests of the loadgen binary against in-process servers.

mod common;

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{loadgen, num, ok, serve};

#[test]
fn closed_loop_exact_request_count() {
    let s = serve(|w, _| ok(w, "server1"));
    let r = loadgen(&["-t", "2", "-c", "3", "-n", "2000", &s.url("/")]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(num(&r.json["requests"]), 2000);
    assert_eq!(num(&r.json["status"]["200"]), 2000);
    assert_eq!(num(&r.json["errors_total"]), 0);
    assert!(r.json["target_rate"].is_null());
    assert!(r.json["requests_per_sec"].as_f64().unwrap() > 0.0);
    assert!(num(&r.json["bytes"]) >= 2000 * 45);
    assert_eq!(s.requests.load(Ordering::SeqCst), 2000);
    // Keep-alive: only the three connections were ever opened.
    assert_eq!(s.accepted.load(Ordering::SeqCst), 3);
    let lat = &r.json["latency"];
    for k in ["p50", "p90", "p99", "p99_9", "p99_99", "max", "mean"] {
        assert!(lat[k].is_number(), "latency.{k} missing");
    }
    assert!(r.json["percentiles"].as_array().unwrap().len() > 5);
    assert!(r.stdout.contains("Requests/sec"));
}

#[test]
fn open_loop_rate_and_round_robin() {
    let s = serve(|w, _| ok(w, "x"));
    let r = loadgen(&[
        "-c",
        "4",
        "-R",
        "400",
        "-d",
        "1s",
        &s.url("/a"),
        &s.url("/b"),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(num(&r.json["requests"]), 400);
    assert_eq!(r.json["target_rate"].as_f64(), Some(400.0));
    let achieved = r.json["achieved_rate"].as_f64().unwrap();
    assert!((achieved - 400.0).abs() < 4.0, "achieved {achieved}");
    assert_eq!(r.json["mode"], "open");
}

#[test]
fn chunked_responses_and_server_close() {
    // Chunked bodies with trailers; every third response closes the connection.
    let s = serve(|w, req| {
        let close = req.index % 3 == 2;
        let resp = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n{}\r\n4\r\nserv\r\n3;x=y\r\ner1\r\n0\r\nX-T: 1\r\n\r\n",
            if close { "Connection: close\r\n" } else { "" }
        );
        w.write_all(resp.as_bytes()).is_ok() && !close
    });
    let r = loadgen(&["-c", "2", "-n", "300", &s.url("/")]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(num(&r.json["status"]["200"]), 300);
    assert_eq!(num(&r.json["errors_total"]), 0, "{}", r.json["errors"]);
    assert!(s.accepted.load(Ordering::SeqCst) >= 100);
}

#[test]
fn close_delimited_head_and_no_keepalive() {
    // HTTP/1.0-style close-delimited body.
    let s = serve(|w, _| {
        let _ = w.write_all(b"HTTP/1.1 200 OK\r\n\r\nuntil close");
        false
    });
    let r = loadgen(&["-c", "2", "-n", "50", &s.url("/")]);
    assert_eq!(num(&r.json["status"]["200"]), 50, "{}", r.json["errors"]);
    assert_eq!(num(&r.json["errors_total"]), 0);

    // HEAD: Content-Length without a body must not be waited for.
    let s = serve(|w, req| {
        assert_eq!(req.method, "HEAD");
        w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            .is_ok()
    });
    let r = loadgen(&[
        "-m",
        "HEAD",
        "-c",
        "2",
        "-n",
        "100",
        "--timeout",
        "1s",
        &s.url("/"),
    ]);
    assert_eq!(num(&r.json["status"]["200"]), 100, "{}", r.json["errors"]);

    // --no-keepalive: one connection per request, Connection: close sent.
    let s = serve(|w, req| {
        let close = req
            .headers
            .iter()
            .any(|(n, v)| n == "connection" && v == "close");
        ok(w, if close { "closing" } else { "NO CLOSE HEADER" }) && !close
    });
    let r = loadgen(&["-c", "2", "-n", "50", "--no-keepalive", &s.url("/")]);
    assert_eq!(num(&r.json["status"]["200"]), 50, "{}", r.json["errors"]);
    assert_eq!(s.accepted.load(Ordering::SeqCst), 50);
}

#[test]
fn body_and_headers_are_sent() {
    let path = std::env::temp_dir().join(format!("loadgen-body-{}", std::process::id()));
    std::fs::write(&path, b"hello body").unwrap();
    let s = serve(|w, req| {
        let good = req.method == "POST"
            && req.body == b"hello body"
            && req.headers.iter().any(|(n, v)| n == "x-test" && v == "yes");
        if good {
            ok(w, "ok")
        } else {
            w.write_all(b"HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n")
                .is_ok()
        }
    });
    let r = loadgen(&[
        "-m",
        "POST",
        "-H",
        "X-Test: yes",
        "--body",
        path.to_str().unwrap(),
        "-n",
        "20",
        "-c",
        "1",
        &s.url("/post"),
    ]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(num(&r.json["status"]["200"]), 20, "{}", r.json["status"]);
}

#[test]
fn refused_port_counts_connect_errors_without_hanging() {
    // A socket bound but not listening holds the port for the whole test (no other test's
    // server can be given it) and answers every connection attempt with a reset.
    let held = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    held.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let port = held
        .local_addr()
        .unwrap()
        .as_socket()
        .map(|a| a.port())
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/");
    let r = loadgen(&["-c", "4", "-d", "1s", &url]);
    assert_eq!(r.code, 1, "nothing succeeded: {}{}", r.stdout, r.stderr);
    assert!(r.wall < Duration::from_secs(6), "took {:?}", r.wall);
    assert_eq!(num(&r.json["requests"]), 0);
    let connect = num(&r.json["errors"]["connect"]);
    // ~10 ms back-off per attempt: about 100 per connection per second, not a spin.
    assert!((4..=1500).contains(&connect), "connect errors {connect}");
    // Bounded by -n as well.
    let r = loadgen(&["-c", "2", "-n", "30", &url]);
    assert_eq!(num(&r.json["errors"]["connect"]), 30);
    // Open loop too.
    let r = loadgen(&["-c", "2", "-R", "100", "-d", "1s", &url]);
    assert_eq!(r.code, 1);
    assert!(num(&r.json["errors"]["connect"]) >= 50);
}

#[test]
fn garbage_server_counts_parse_errors() {
    let s = serve(|w, _| {
        let _ = w.write_all(b"SMTP ready, this is not HTTP at all\r\n\r\n");
        false
    });
    let r = loadgen(&["-c", "2", "-n", "40", &s.url("/")]);
    assert_eq!(r.code, 1);
    assert_eq!(num(&r.json["errors"]["parse"]), 40, "{}", r.json["errors"]);
}

#[test]
fn close_mid_body_counts_read_errors() {
    let s = serve(|w, _| {
        let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
        false
    });
    let r = loadgen(&["-c", "2", "-n", "40", &s.url("/")]);
    assert_eq!(r.code, 1);
    let e = &r.json["errors"];
    assert_eq!(num(&e["read"]) + num(&e["reset"]), 40, "{e}");
    assert!(num(&e["read"]) > 0, "{e}");
}

#[test]
fn silent_server_counts_timeouts() {
    let s = serve(|_, _| {
        std::thread::sleep(Duration::from_secs(3));
        false
    });
    let r = loadgen(&["-c", "2", "-d", "1s", "--timeout", "300ms", &s.url("/")]);
    assert_eq!(r.code, 1);
    assert!(
        num(&r.json["errors"]["timeout"]) >= 4,
        "{}",
        r.json["errors"]
    );
    assert!(r.wall < Duration::from_secs(5), "took {:?}", r.wall);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["https://127.0.0.1/"],
        vec!["127.0.0.1:80"],
        vec!["-d", "10parsecs", "http://127.0.0.1/"],
        vec!["-H", "no colon", "http://127.0.0.1/"],
        vec!["-t", "4", "-c", "2", "http://127.0.0.1/"],
        vec!["-R", "-5", "http://127.0.0.1/"],
        vec!["--body", "/nonexistent/file", "http://127.0.0.1/"],
        vec!["--bogus", "http://127.0.0.1/"],
        vec![],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("Exit codes"));
}
