//! `tcp-request connection|content` rules and payload switching (`req_ssl_sni`,
//! `req.payload`, `req.len`): the same configuration and traffic through HAProxy 2.6 and
//! ringlb give the same routing, the same refusals and the same `dcon`/`dreq`/`stot` counts.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::backend::tcp_echo;
use crate::haproxy::{cli, through_both, Haproxy, StatTable};
use crate::harness::{free_port, temp_dir, Ringlb};

/// A TLS 1.2 ClientHello naming `name` (a cipher, the server name between two other
/// extensions), in one record.
pub fn client_hello(name: &str) -> Vec<u8> {
    let mut entry = vec![0u8];
    entry.extend_from_slice(&(name.len() as u16).to_be_bytes());
    entry.extend_from_slice(name.as_bytes());
    let mut list = (entry.len() as u16).to_be_bytes().to_vec();
    list.extend(entry);
    let mut exts = vec![0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, 0x00, 0x00];
    exts.extend_from_slice(&(list.len() as u16).to_be_bytes());
    exts.extend(list);
    exts.extend_from_slice(&[0x00, 0x17, 0x00, 0x00]);
    let mut hello = vec![0x03, 0x03];
    hello.extend_from_slice(&[7u8; 32]);
    hello.extend_from_slice(&[0, 0x00, 0x02, 0xc0, 0x2f, 0x01, 0x00]);
    hello.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    hello.extend(exts);
    let mut hs = vec![0x01];
    hs.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    hs.extend(hello);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    record.extend(hs);
    record
}

/// Sends `parts` with `pause` between them, waits `linger`, half-closes, and returns what
/// came back (as text, non-printable bytes escaped) with "RESET" when the read failed.
fn exchange(port: u16, parts: &[&[u8]], pause: Duration, linger: Duration) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(pause);
        }
        if s.write_all(part).is_err() {
            return "WRITE FAILED".into();
        }
    }
    std::thread::sleep(linger);
    let _ = s.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let failed = s.read_to_end(&mut out).is_err();
    let mut text = String::from_utf8_lossy(&out)
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '.' })
        .collect::<String>();
    if text.len() > 12 {
        text.truncate(12);
    }
    if failed {
        text.push_str(" RESET");
    }
    text
}

fn config(ports: (u16, u16, u16), socket: &Path, servers: &[(&str, u16)]) -> String {
    let (front, open, closed) = ports;
    let mut cfg = format!(
        "global\n stats socket {} level admin\n\
         defaults\n mode tcp\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
         frontend f\n bind 127.0.0.1:{front}\n\
         tcp-request inspect-delay 600ms\n\
         tcp-request content reject if {{ req.payload(0,4) -m str QUIT }}\n\
         tcp-request content accept if {{ req_ssl_hello_type 1 }}\n\
         tcp-request content accept if {{ req.len ge 5 }}\n\
         use_backend sni_a if {{ req_ssl_sni -i a.example.com }}\n\
         use_backend sni_b if {{ req.ssl_sni -m end .b.example.com }}\n\
         use_backend pay if {{ req.payload(0,3) -m str PAY }}\n\
         use_backend pay if {{ req.payload_lv(0,1) -m str LV }}\n\
         default_backend other\n\
         frontend g\n bind 127.0.0.1:{open}\n bind 127.0.0.1:{closed}\n\
         tcp-request connection reject if {{ dst_port {closed} }}\n\
         tcp-request connection accept if {{ src 127.0.0.1 }}\n\
         tcp-request connection reject\n\
         default_backend other\n",
        socket.display()
    );
    for (name, port) in servers {
        cfg.push_str(&format!("backend {name}\n server s 127.0.0.1:{port}\n"));
    }
    cfg
}

/// The frontend rows' counters that tcp-request rules move.
fn counters(socket: &Path) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let text = cli(socket, "show stat");
        if text.starts_with("# ") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let table = StatTable::parse(&text);
    table
        .rows
        .iter()
        .filter(|f| f.get(1).is_some_and(|s| s == "FRONTEND"))
        .map(|f| {
            ["pxname", "stot", "conn_tot", "dcon", "dreq", "dses"]
                .iter()
                .map(|c| format!("{c}={}", table.field(f, c)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn tcp_request_rules_and_payload_switching_match_haproxy() {
    let servers = [
        ("sni_a", tcp_echo("A:")),
        ("sni_b", tcp_echo("B:")),
        ("pay", tcp_echo("P:")),
        ("other", tcp_echo("O:")),
    ];
    let hello_a = client_hello("A.example.com");
    let hello_b = client_hello("www.b.example.com");
    let hello_c = client_hello("c.example.com");
    let ms = Duration::from_millis;
    let run = |front: u16, open: u16, closed: u16| -> Vec<String> {
        let mut seen = vec![
            exchange(front, &[&hello_a], ms(0), ms(0)),
            // The hello in three segments: the rules wait for the whole of it.
            exchange(
                front,
                &[&hello_b[..3], &hello_b[3..40], &hello_b[40..]],
                ms(150),
                ms(0),
            ),
            exchange(front, &[&hello_c], ms(0), ms(0)),
            exchange(front, &[b"PAYLOAD"], ms(0), ms(0)),
            // Two bytes, then the rest: `req.len ge 5` waits for them.
            exchange(front, &[b"PA", b"Y..."], ms(250), ms(0)),
            exchange(front, &[b"\x02LVxx"], ms(0), ms(0)),
            exchange(front, &[b"QUIT\r\n"], ms(0), ms(0)),
            // Nothing decides before the delay ends: evaluated then with what is there.
            exchange(front, &[b"PAY"], ms(0), ms(900)),
            // A truncated TLS record never completes: the delay ends it too.
            exchange(front, &[&hello_a[..20]], ms(0), ms(900)),
            exchange(open, &[b"hello"], ms(0), ms(0)),
            // Refused at accept with a reset: whether the write or the read sees it is a race.
            match exchange(closed, &[b"hello"], ms(0), ms(0)).as_str() {
                "" | " RESET" | "WRITE FAILED" => "refused".to_string(),
                other => other.to_string(),
            },
        ];
        std::thread::sleep(ms(300));
        seen.push(String::new());
        seen
    };
    let ours = {
        let dir = temp_dir("tcpreq-ours");
        let socket = dir.join("admin.sock");
        let ports = (free_port(), free_port(), free_port());
        let _lb = Ringlb::start(&config(ports, &socket, &servers));
        let mut seen = run(ports.0, ports.1, ports.2);
        seen.extend(counters(&socket));
        seen
    };
    let theirs = {
        let dir = temp_dir("tcpreq-haproxy");
        let socket = dir.join("admin.sock");
        let ports = (free_port(), free_port(), free_port());
        let _hx = Haproxy::start(&config(ports, &socket, &servers), &socket);
        let mut seen = run(ports.0, ports.1, ports.2);
        seen.extend(counters(&socket));
        seen
    };
    assert_eq!(ours, theirs, "ringlb (left) and HAProxy 2.6 (right)");
    // What the comparison must have covered, so that it cannot pass on two broken proxies.
    assert!(ours[0].starts_with("A:"), "{ours:?}");
    assert!(ours[1].starts_with("B:"), "{ours:?}");
    assert!(ours[4].starts_with("P:PAY"), "{ours:?}");
    assert!(ours[6].is_empty() || ours[6] == " RESET", "{ours:?}");
    assert_eq!(ours[10], "refused", "{ours:?}");
    assert!(ours.iter().any(|l| l.contains("dcon=1")), "{ours:?}");
    assert!(ours.iter().any(|l| l.contains("dreq=1")), "{ours:?}");
}

#[test]
fn tcp_request_content_runs_before_http_as_haproxy_does() {
    let web = crate::backend::Backend::start("web");
    let config = |(port, denied): (u16, u16)| {
        format!(
            "defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
             frontend f\n bind 127.0.0.1:{port}\n bind 127.0.0.1:{denied}\n\
             tcp-request inspect-delay 500ms\n\
             tcp-request content reject if {{ dst_port {denied} }}\n\
             tcp-request content accept if {{ src 127.0.0.1 }}\n\
             default_backend b\n\
             backend b\n server s 127.0.0.1:{}\n",
            web.port
        )
    };
    let get = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let ms = Duration::from_millis;
    let run = |(port, denied): (u16, u16)| -> Vec<String> {
        vec![
            exchange(port, &[get], ms(0), ms(0)),
            exchange(port, &[&get[..2], &get[2..]], ms(200), ms(0)),
            exchange(denied, &[get], ms(0), ms(0)),
        ]
    };
    let ours = {
        let ports = (free_port(), free_port());
        let _lb = Ringlb::start(&config(ports));
        run(ports)
    };
    let theirs = {
        let ports = (free_port(), free_port());
        let _hx = Haproxy::start_on_port(&config(ports), ports.0);
        run(ports)
    };
    assert_eq!(ours, theirs, "ringlb (left) and HAProxy 2.6 (right)");
    assert!(ours[0].starts_with("HTTP/1.1.200"), "{ours:?}");
    assert!(ours[1].starts_with("HTTP/1.1.200"), "{ours:?}");
    assert!(!ours[2].starts_with("HTTP"), "{ours:?}");
}

/// A `mode tcp` frontend that switches to a `mode http` backend upgrades the connection to
/// HTTP, as HAProxy 2.x does: the backend's HTTP rules apply to every request of it.
#[test]
fn a_tcp_frontend_upgrades_to_an_http_backend_as_haproxy_does() {
    let echo = crate::rewrite::Echo::start();
    let config = |port: u16| {
        let mut cfg = crate::harness::defaults("");
        cfg.push_str(&format!(
            "frontend t\n mode tcp\n bind 127.0.0.1:{port}\n\
             tcp-request inspect-delay 2s\n\
             tcp-request content accept if {{ req.len gt 0 }}\n\
             use_backend raw if {{ req.payload(0,3) -m str PUT }}\n\
             default_backend web\n\
             backend web\n mode http\n option forwardfor\n\
             http-request set-header X-Upgraded yes\n\
             http-response set-header X-Via-Http 1\n\
             server s 127.0.0.1:{}\n\
             backend raw\n mode tcp\n server s 127.0.0.1:{}\n",
            echo.port, echo.port
        ));
        cfg
    };
    // Two requests on one connection, then a raw exchange the tcp backend relays as is.
    fn read_response(s: &mut std::net::TcpStream) -> String {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return String::from_utf8_lossy(&head).into_owned(),
            }
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let length: usize = text
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        let _ = s.read_exact(&mut body);
        text + &String::from_utf8_lossy(&body)
    }
    let exchange = |port: u16| -> Vec<String> {
        // One after the other: HAProxy 2.6 drops a request pipelined behind the first one of
        // an upgraded connection (ringlb serves it).
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .ok();
        let mut raw = String::new();
        for (path, last) in [("/one", false), ("/two", true)] {
            let close = if last { "Connection: close\r\n" } else { "" };
            write!(s, "GET {path} HTTP/1.1\r\nHost: h\r\n{close}\r\n").unwrap();
            raw.push_str(&read_response(&mut s));
        }
        let mut out: Vec<String> = raw
            .split("HTTP/1.1 ")
            .skip(1)
            .map(|r| {
                let lower = r.to_ascii_lowercase();
                let mut keep: Vec<String> = lower
                    .lines()
                    .filter(|l| {
                        l.starts_with("200")
                            || l.starts_with("x-via-http")
                            || l.starts_with("x-upgraded")
                            || l.starts_with("x-forwarded-for")
                            || l.starts_with("get /")
                    })
                    .map(str::to_string)
                    .collect();
                keep.sort();
                keep.join("|")
            })
            .collect();
        let mut raw_side = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        raw_side
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .ok();
        raw_side
            .write_all(
                b"PUT /raw HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
        // The echo server keeps its side open: one response is read, by its length.
        let relayed = read_response(&mut raw_side);
        // The tcp backend relays the bytes untouched: no header added on the way.
        out.push(format!(
            "raw upgraded={}",
            relayed.to_ascii_lowercase().contains("x-upgraded")
        ));
        out
    };
    let (ours, theirs) = through_both(config, exchange);
    assert_eq!(ours, theirs);
    assert_eq!(ours.len(), 3, "{ours:?}");
    assert!(
        ours[0].contains("get /one")
            && ours[0].contains("x-upgraded: yes")
            && ours[0].contains("x-via-http: 1"),
        "{ours:?}"
    );
    assert!(
        ours[1].contains("get /two") && ours[1].contains("x-upgraded: yes"),
        "{ours:?}"
    );
    assert!(
        ours[0].contains("x-forwarded-for: 127.0.0.1"),
        "the backend's forwardfor: {ours:?}"
    );
    assert_eq!(ours[2], "raw upgraded=false");
}
