//! `log-format`, `capture request|response header`, `unique-id-format` and
//! `unique-id-header`: the same configuration and requests through HAProxy 2.6 and ringlb
//! write the same log fields and send the server the same unique id.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::haproxy::Haproxy;
use crate::harness::{defaults, free_port, Ringlb};
use crate::rewrite::Echo;

fn config(port: u16, other: u16, echo: u16) -> String {
    let mut cfg = "global\n log stdout format raw local0\n".to_string();
    cfg.push_str(&defaults(" log global\n"));
    cfg.push_str(&format!(
        r#"frontend custom
 bind 127.0.0.1:{port}
 capture request header Host len 20
 capture request header X-Long len 5
 capture response header X-Server len 3
 http-request capture req.hdr(x-id),lower len 4
 unique-id-format %ci-fixed-%[req.hdr(x-id)]-%{{+X}}o%fi
 unique-id-header X-Unique-ID
 log-format "%ci %ft %b/%s %ST %HM %HU %HP %HQ %HV %hr %hs %hrl %{{+Q}}r %[var(txn.xa)] %{{+Q}}[var(txn.none)] %[var(txn.none)] %[src] %ID %ts %tsc %{{+X}}o %ST %rc %ci"
 http-request set-header X-A rewritten if {{ path /rw }}
 http-request set-var(txn.xa) req.hdr(x-a)
 http-request deny if {{ path /deny }}
 default_backend b
frontend classic
 bind 127.0.0.1:{other}
 option httplog
 capture request header Host len 20
 capture response header X-Server len 10
 default_backend b
backend b
 server s1 127.0.0.1:{echo}
"#
    ));
    cfg
}

const REQUESTS: [&str; 4] = [
    "GET /a?x=1 HTTP/1.1\r\nHost: www.example.com\r\nX-Long: 0123456789\r\nX-Id: 7\r\nConnection: close\r\n\r\n",
    "GET /rw HTTP/1.1\r\nHost: h\r\nX-A: original\r\nX-Id: a|b{c}\r\nConnection: close\r\n\r\n",
    "GET /deny HTTP/1.1\r\nHost: h\"q\r\nConnection: close\r\n\r\n",
    "GET /plain HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
];

/// Sends every request to each port; returns the echoed unique-id headers.
fn send(ports: [u16; 2]) -> Vec<String> {
    let mut ids = Vec::new();
    for port in ports {
        for request in REQUESTS {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            s.write_all(request.as_bytes()).unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            ids.extend(
                out.lines()
                    .filter(|l| l.to_ascii_lowercase().starts_with("x-unique-id:"))
                    .map(|l| l.to_ascii_lowercase()),
            );
        }
    }
    ids
}

/// The log lines once `n` arrived, with what differs by nature (ports, dates, timers, byte
/// counts, connection counts) blanked.
fn lines(read: impl Fn() -> String, n: usize, ports: [u16; 2]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = read();
    while out.lines().count() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        out = read();
    }
    out.lines()
        .map(|l| {
            let l = l
                .replace(&ports[0].to_string(), "PORT")
                .replace(&ports[1].to_string(), "PORT");
            // The classic line: blank the client port, the date, timers, bytes and counts.
            match l.split_once(" [") {
                Some((client, rest)) => {
                    let client = client.split(':').next().unwrap_or("");
                    let rest = rest.split_once("] ").map_or("", |r| r.1);
                    let f: Vec<&str> = rest.split(' ').collect();
                    let kept: Vec<&str> = f
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| ![2, 4, 8].contains(i))
                        .map(|(_, w)| *w)
                        .collect();
                    format!("{client} {}", kept.join(" "))
                }
                None => l,
            }
        })
        .collect()
}

#[test]
fn log_format_captures_and_unique_ids_as_haproxy() {
    let echo = Echo::start();
    let ours = {
        let ports = [free_port(), free_port()];
        let lb = Ringlb::start(&config(ports[0], ports[1], echo.port));
        let ids = send(ports);
        (ids, lines(|| lb.stdout(), 8, ports))
    };
    let theirs = {
        let ports = [free_port(), free_port()];
        let hx = Haproxy::start_on_port(&config(ports[0], ports[1], echo.port), ports[1]);
        // The readiness probe is a connection without a request: HAProxy logs it as a 400
        // line of the classic frontend; it is dropped below.
        let ids = send(ports);
        let all = lines(|| hx.stdout(), 9, ports);
        let requests: Vec<String> = all
            .into_iter()
            .filter(|l| !l.contains("<BADREQ>"))
            .collect();
        (ids, requests)
    };
    assert_eq!(ours.0, theirs.0, "unique ids sent to the server");
    assert_eq!(ours.1, theirs.1, "log lines");
    // What they agree on, so two identical mistakes cannot pass.
    assert_eq!(ours.0[0], "x-unique-id: 127.0.0.1-fixed-7-7f000001");
    let first = &ours.1[0];
    assert!(
        first.starts_with("127.0.0.1 custom b/s1 200 GET /a?x=1 /a ?x=1 HTTP/1.1 {www.example.com|01234|7} {ech} www.example.com 01234 7 \"GET /a?x=1 HTTP/1.1\" - \"\" - 127.0.0.1 127.0.0.1-fixed-7-7F000001 -- ---- 200 0 7F000001"),
        "{first}"
    );
}
