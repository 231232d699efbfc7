//! The PROXY protocol: `bind … accept-proxy` reads a v1 or v2 header (the backend then
//! sees the original client in X-Forwarded-For, the log in `%ci`), refuses a malformed,
//! truncated, oversized or missing one by closing; `send-proxy`/`send-proxy-v2` write one
//! on each server connection; and HAProxy 2.6 on either side of ringlb agrees.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

use crate::backend::Backend;
use crate::haproxy::Haproxy;
use crate::harness::{defaults, free_port, Ringlb};

const SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// A v2 PROXY header for TCP over IPv4, with `tlvs` appended.
fn v2(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, tlvs: &[u8]) -> Vec<u8> {
    let mut h = SIG.to_vec();
    h.extend_from_slice(&[0x21, 0x11]);
    h.extend_from_slice(&(12 + tlvs.len() as u16).to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(tlvs);
    h
}

/// Sends `pieces` (a pause between them) on a new connection and reads until close.
fn exchange(port: u16, pieces: &[&[u8]]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = s.write_all(piece);
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// The `X-Forwarded-For` a `/headers` response shows, or what came back instead.
fn forwarded_for(response: &[u8]) -> String {
    let text = String::from_utf8_lossy(response);
    text.lines()
        // HAProxy writes header names in lower case.
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("x-forwarded-for: ")
                .then(|| &l[17..])
        })
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| format!("none in {text:?}"))
}

const GET_HEADERS: &[u8] = b"GET /headers HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

fn accept_proxy_lb(backend: &Backend) -> (Ringlb, u16) {
    let port = free_port();
    let cfg = format!(
        "global\n log stdout format raw local0\n{}frontend f\n bind 127.0.0.1:{port} accept-proxy\n \
         log global\n option httplog\n option forwardfor\n timeout http-request 1s\n default_backend b\n\
         backend b\n server s 127.0.0.1:{}\n",
        defaults(""),
        backend.port
    );
    (Ringlb::start(&cfg), port)
}

#[test]
fn accept_proxy_takes_the_client_from_the_header() {
    let backend = Backend::start("b");
    let (lb, port) = accept_proxy_lb(&backend);
    let v1 = [
        b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n".as_slice(),
        GET_HEADERS,
    ]
    .concat();
    // Header and request in one segment: the request right after the header is served.
    assert_eq!(forwarded_for(&exchange(port, &[&v1])), "192.0.2.1");
    let v6 = [
        b"PROXY TCP6 2001:db8::7 2001:db8::8 1000 80\r\n".as_slice(),
        GET_HEADERS,
    ]
    .concat();
    assert_eq!(forwarded_for(&exchange(port, &[&v6])), "2001:db8::7");
    // v2 with a TLV (skipped), the header split over two writes.
    let header = v2(
        [203, 0, 113, 9],
        4242,
        [10, 0, 0, 1],
        80,
        &[0x04, 0, 2, 1, 2],
    );
    let (a, b) = header.split_at(10);
    let rest = [b, GET_HEADERS].concat();
    assert_eq!(forwarded_for(&exchange(port, &[a, &rest])), "203.0.113.9");
    // v1 in three writes, the last starting between CR and LF, the request right behind.
    let pieces: [&[u8]; 3] = [
        b"PROXY TCP4 192.0.2.",
        b"3 198.51.100.2 56325 443\r",
        &[b"\n".as_slice(), GET_HEADERS].concat(),
    ];
    assert_eq!(forwarded_for(&exchange(port, &pieces)), "192.0.2.3");
    // v2 LOCAL (a health check through a proxy): the connection's own address stays.
    let local = [SIG.as_slice(), &[0x20, 0x00, 0, 0], GET_HEADERS].concat();
    assert_eq!(forwarded_for(&exchange(port, &[&local])), "127.0.0.1");
    // v1 UNKNOWN likewise.
    let unknown = [b"PROXY UNKNOWN\r\n".as_slice(), GET_HEADERS].concat();
    assert_eq!(forwarded_for(&exchange(port, &[&unknown])), "127.0.0.1");
    // The log line names the original client (%ci:%cp).
    let out = lb.wait_stdout_lines(6);
    assert!(out.contains("192.0.2.1:56324 ["), "{out}");
    assert!(out.contains("203.0.113.9:4242 ["), "{out}");
    assert_eq!(backend.requests(), 6);
}

#[test]
fn accept_proxy_closes_on_a_bad_or_missing_header() {
    let backend = Backend::start("b");
    let (_lb, port) = accept_proxy_lb(&backend);
    let oversized = [
        SIG.as_slice(),
        &[0x21, 0x11, 0xff, 0xff],
        &[0u8; 64],
        GET_HEADERS,
    ]
    .concat();
    let long_v1 = [
        b"PROXY UNKNOWN ".as_slice(),
        &[b'x'; 200],
        b"\r\n",
        GET_HEADERS,
    ]
    .concat();
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("no header", vec![GET_HEADERS.to_vec()]),
        (
            "malformed v1",
            vec![[b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n".as_slice(), GET_HEADERS].concat()],
        ),
        (
            "bad v2 version",
            vec![[SIG.as_slice(), &[0x11, 0x11, 0, 0], GET_HEADERS].concat()],
        ),
        ("oversized v2", vec![oversized]),
        ("v1 too long", vec![long_v1]),
        ("truncated v1", vec![b"PROXY TCP4 192.0.2.1 ".to_vec()]),
        (
            "truncated v2",
            vec![v2([1, 2, 3, 4], 1, [5, 6, 7, 8], 2, &[])[..20].to_vec()],
        ),
    ];
    for (what, pieces) in &cases {
        let pieces: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        let started = std::time::Instant::now();
        let answer = exchange(port, &pieces);
        assert!(
            answer.is_empty(),
            "{what}: closed without a word, got {answer:?}"
        );
        // Truncated headers wait for the rest until `timeout http-request` (1 s).
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{what}: bounded"
        );
    }
    assert_eq!(backend.requests(), 0, "nothing reached the server");
    // And the listener still serves good clients.
    let good = [
        b"PROXY TCP4 192.0.2.5 1.1.1.1 1 2\r\n".as_slice(),
        GET_HEADERS,
    ]
    .concat();
    assert_eq!(forwarded_for(&exchange(port, &[&good])), "192.0.2.5");
}

/// A server that records what each connection sent (up to the end of an HTTP head) and
/// answers `ok`.
struct Recorder {
    port: u16,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Recorder {
    fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&seen);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                // Until a request head ends (a v2 signature also holds CRLF CRLF).
                while !(got.ends_with(b"\r\n\r\n") && got.windows(4).any(|w| w == b"GET ")) {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                store.lock().unwrap().push(got);
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            }
        });
        Recorder { port, seen }
    }

    /// The connections recorded so far that carried a request (a readiness probe does not).
    fn take(&self) -> Vec<Vec<u8>> {
        let all = std::mem::take(&mut *self.seen.lock().unwrap());
        all.into_iter()
            .filter(|s| s.windows(4).any(|w| w == b"GET "))
            .collect()
    }
}

/// A GET from 127.0.0.`src` to `port`; the response.
fn get_from(src: u8, port: u16, path: &str) -> Vec<u8> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let from = SocketAddr::from((Ipv4Addr::new(127, 0, 0, src), 0));
    socket.bind(&from.into()).unwrap();
    let to = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    socket.connect(&to.into()).unwrap();
    let mut s: TcpStream = socket.into();
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// The PROXY header a recorded connection started with, its client port replaced by `P`
/// (ports differ run to run), and what followed it.
fn header_of(seen: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let get = seen
        .windows(4)
        .position(|w| w == b"GET ")
        .expect("a request");
    let mut header = seen[..get].to_vec();
    if header.starts_with(SIG) {
        if header.len() >= 28 {
            header[24] = b'P';
            header[25] = b'P';
        }
    } else if let Ok(text) = std::str::from_utf8(&header).map(str::trim_end) {
        if text.is_empty() {
            return (Vec::new(), seen[get..].to_vec());
        }
        let mut words: Vec<&str> = text.split(' ').collect();
        if words.len() == 6 {
            words[4] = "P";
        }
        header = format!("{}\r\n", words.join(" ")).into_bytes();
    }
    (header, seen[get..].to_vec())
}

fn send_proxy_config(port: u16, server_port: u16, option: &str, mode: &str) -> String {
    format!(
        "{}frontend f\n mode {mode}\n bind 127.0.0.1:{port}\n default_backend b\n\
         backend b\n mode {mode}\n server s 127.0.0.1:{server_port} {option}\n",
        defaults("")
    )
}

#[test]
fn send_proxy_headers_match_haproxy() {
    let recorder = Recorder::start();
    for mode in ["http", "tcp"] {
        for option in ["send-proxy", "send-proxy-v2"] {
            let (ours, theirs) = (free_port(), free_port());
            let _lb = Ringlb::start(&send_proxy_config(ours, recorder.port, option, mode));
            let _hx = Haproxy::start_on_port(
                &send_proxy_config(theirs, recorder.port, option, mode),
                theirs,
            );
            recorder.take();
            let answer = get_from(7, ours, "/a");
            assert!(answer.ends_with(b"ok"), "{mode} {option}: {answer:?}");
            let ring = recorder.take();
            get_from(7, theirs, "/a");
            let hap = recorder.take();
            assert_eq!(ring.len(), 1, "{mode} {option}: one connection");
            let (ring_header, ring_rest) = header_of(&ring[0]);
            let (hap_header, _) = header_of(&hap[0]);
            // Only the destination port differs: each proxy's own.
            let fix = |mut h: Vec<u8>, port: u16| -> Vec<u8> {
                if h.starts_with(SIG) {
                    h[26..28].copy_from_slice(b"DD");
                    h
                } else {
                    String::from_utf8_lossy(&h)
                        .replace(&format!(" {port}\r\n"), " D\r\n")
                        .into_bytes()
                }
            };
            assert_eq!(
                fix(ring_header.clone(), ours),
                fix(hap_header, theirs),
                "{mode} {option}: ringlb's header vs HAProxy's"
            );
            if option == "send-proxy" {
                assert_eq!(
                    String::from_utf8_lossy(&ring_header),
                    format!("PROXY TCP4 127.0.0.7 127.0.0.1 P {ours}\r\n")
                );
            } else {
                assert_eq!(&ring_header[12..16], &[0x21, 0x11, 0, 12]);
                assert_eq!(&ring_header[16..24], &[127, 0, 0, 7, 127, 0, 0, 1]);
                assert_eq!(&ring_header[26..28], &ours.to_be_bytes());
            }
            assert!(
                ring_rest.starts_with(b"GET /a HTTP/1.1\r\n"),
                "{mode} {option}"
            );
        }
    }
}

/// A config where a front proxy on `front` passes clients to a back proxy on `back`
/// (accept-proxy, forwardfor) that serves `backend`'s `/headers`.
fn chain(front: u16, back: u16, backend: u16, option: &str) -> (String, String) {
    let front_cfg = format!(
        "{}frontend f\n bind 127.0.0.1:{front}\n default_backend b\n\
         backend b\n server s 127.0.0.1:{back} {option}\n",
        defaults("")
    );
    let back_cfg = format!(
        "{}frontend f\n bind 127.0.0.1:{back} accept-proxy\n option forwardfor\n default_backend b\n\
         backend b\n server s 127.0.0.1:{backend}\n",
        defaults("")
    );
    (front_cfg, back_cfg)
}

#[test]
fn haproxy_and_ringlb_chain_either_way() {
    let backend = Backend::start("b");
    for option in ["send-proxy", "send-proxy-v2"] {
        let mut seen = Vec::new();
        // (front, back): which of the two runs each side.
        for (front_ours, back_ours) in [(false, true), (true, false), (false, false)] {
            let (front, back) = (free_port(), free_port());
            let (front_cfg, back_cfg) = chain(front, back, backend.port, option);
            let _back_lb = back_ours.then(|| Ringlb::start(&back_cfg));
            let _back_hx = (!back_ours).then(|| Haproxy::start_on_port(&back_cfg, back));
            let _front_lb = front_ours.then(|| Ringlb::start(&front_cfg));
            let _front_hx = (!front_ours).then(|| Haproxy::start_on_port(&front_cfg, front));
            let answer = get_from(9, front, "/headers");
            seen.push((front_ours, back_ours, forwarded_for(&answer)));
        }
        for (front_ours, back_ours, xff) in &seen {
            assert_eq!(
                xff, "127.0.0.9",
                "{option}: front ringlb {front_ours}, back ringlb {back_ours}"
            );
        }
    }
}

#[test]
fn a_tcp_relay_passes_the_original_client_on() {
    let recorder = Recorder::start();
    let port = free_port();
    let _lb = Ringlb::start(&format!(
        "{}frontend f\n mode tcp\n bind 127.0.0.1:{port} accept-proxy\n default_backend b\n\
         backend b\n mode tcp\n server s 127.0.0.1:{} send-proxy\n",
        defaults(""),
        recorder.port
    ));
    let sent = [
        b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n".as_slice(),
        GET_HEADERS,
    ]
    .concat();
    let answer = exchange(port, &[&sent]);
    assert!(answer.ends_with(b"ok"), "{answer:?}");
    let seen = recorder.take();
    assert_eq!(seen.len(), 1);
    // The relay's own header names the client of the incoming one; the bytes after the
    // incoming header arrive untouched.
    assert_eq!(
        String::from_utf8_lossy(&seen[0]),
        format!(
            "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n{}",
            String::from_utf8_lossy(GET_HEADERS)
        )
    );
}

/// The PROXY header (or nothing) the first recorded health check started with.
fn first_check_header(recorder: &Recorder) -> Vec<u8> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(first) = recorder.take().into_iter().next() {
            return header_of(&first).0;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no health check arrived"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn health_checks_send_the_header_haproxy_sends() {
    let recorder = Recorder::start();
    let cases = [
        ("send-proxy-v2", [SIG.as_slice(), &[0x20, 0, 0, 0]].concat()),
        // Version 1 names the check connection's own ends (the server's port last).
        (
            "send-proxy",
            b"PROXY TCP4 127.0.0.1 127.0.0.1 P {PORT}\r\n".to_vec(),
        ),
        (
            "check-send-proxy port {PORT}",
            b"PROXY TCP4 127.0.0.1 127.0.0.1 P {PORT}\r\n".to_vec(),
        ),
        (
            "send-proxy-v2 check-send-proxy",
            [SIG.as_slice(), &[0x20, 0, 0, 0]].concat(),
        ),
        // Checked on another port (`port`): no header unless `check-send-proxy` says so.
        ("send-proxy port {PORT}", Vec::new()),
    ];
    for (options, expected) in cases {
        let options = options.replace("{PORT}", &recorder.port.to_string());
        let config = |port: u16| {
            format!(
                "{}frontend f\n bind 127.0.0.1:{port}\n default_backend b\n\
                 backend b\n option httpchk GET /chk\n \
                 server s 127.0.0.1:{} check inter 300ms {options}\n",
                defaults(""),
                recorder.port
            )
        };
        recorder.take();
        let ours = {
            let _lb = Ringlb::start(&config(free_port()));
            first_check_header(&recorder)
        };
        recorder.take();
        let theirs = {
            let port = free_port();
            let _hx = Haproxy::start_on_port(&config(port), port);
            first_check_header(&recorder)
        };
        assert_eq!(ours, theirs, "{options}: ringlb vs HAProxy");
        let expected = if expected.starts_with(SIG) {
            expected
        } else {
            String::from_utf8_lossy(&expected)
                .replace("{PORT}", &recorder.port.to_string())
                .into_bytes()
        };
        assert_eq!(ours, expected, "{options}");
    }
}
