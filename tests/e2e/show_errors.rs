//! `show errors` against HAProxy 2.6: the same malformed requests and the same malformed
//! response sent through both, then their captures compared line by line, with masks only
//! where the two processes legitimately differ.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use regex::Regex;

use crate::haproxy::{cli, Haproxy};
use crate::harness::{connect, defaults, free_port, read_to_close, temp_dir, Ringlb};
use crate::raw::RawBackend;
use crate::runtime::rss_kib;

const BAD_HEADER: &[u8] = b"GET / HTTP/1.1\r\nBad Header\r\n\r\n";
const BAD_URI: &[u8] = b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n";
// `close`: after a 502 HAProxy keeps the client connection open.
const GOOD: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
const BAD_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nBad Header\r\nContent-Length: 0\r\n\r\n";

fn config(socket: &Path, port: u16, server: u16) -> String {
    format!(
        "global\n stats socket {} level admin\n{}frontend fe\n bind 127.0.0.1:{port}\n \
         default_backend be\nbackend be\n server s1 127.0.0.1:{server}\n",
        socket.display(),
        defaults("")
    )
}

/// A server that answers every request with an invalid head.
fn bad_server() -> RawBackend {
    RawBackend::start(|peer| {
        while peer.read_head().is_some() {
            peer.write(BAD_RESPONSE);
        }
    })
}

/// Sends `request` on its own connection and returns the status line of the answer.
fn send(port: u16, request: &[u8]) -> String {
    let mut stream = connect(port);
    stream.write_all(request).unwrap();
    let reply = read_to_close(&mut stream, Duration::from_secs(5));
    String::from_utf8_lossy(&reply)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// What legitimately differs between the two replies:
/// - dates (`[24/Nov/2026:15:28:21.697]`): each process stamps its own events and replies;
/// - the client's port (`src 127.0.0.1:36006`): each connection has its own;
/// - `wraps at`: HAProxy reserves room for its HTX header at the head of its input buffer
///   (bufsize - 48), ringlb reads into a linear buffer that wraps only at its end;
/// - the `H1 connection flags` and `H1 msg state` lines: bit fields and parser states of
///   HAProxy's H1 multiplexer, which ringlb has no equivalent of (so does not print).
fn mask(text: &str) -> String {
    let date = Regex::new(r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\]").unwrap();
    let src = Regex::new(r"src 127\.0\.0\.1:\d+").unwrap();
    let wraps = Regex::new(r"wraps at \d+").unwrap();
    text.lines()
        .filter(|l| !l.starts_with("  H1 connection flags") && !l.starts_with("  H1 msg state"))
        .map(|l| {
            let l = date.replace_all(l, "[DATE]");
            let l = src.replace_all(&l, "src 127.0.0.1:PORT");
            wraps.replace_all(&l, "wraps at W").into_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

struct Pair {
    _haproxy: Haproxy,
    ringlb: Ringlb,
    _server: RawBackend,
    sockets: [PathBuf; 2],
    ports: [u16; 2],
}

impl Pair {
    fn start() -> Pair {
        let server = bad_server();
        let dir = temp_dir("errors");
        let sockets = [dir.join("haproxy.sock"), dir.join("ringlb.sock")];
        let ports = [free_port(), free_port()];
        let haproxy = Haproxy::start(&config(&sockets[0], ports[0], server.port), &sockets[0]);
        let ringlb = Ringlb::start(&config(&sockets[1], ports[1], server.port));
        Pair {
            _haproxy: haproxy,
            ringlb,
            _server: server,
            sockets,
            ports,
        }
    }

    /// `request` sent to both: they must answer with the same status line.
    fn send(&self, request: &[u8]) {
        let h = send(self.ports[0], request);
        let r = send(self.ports[1], request);
        assert_eq!(
            r, h,
            "status for {request:?}: ringlb (left) vs HAProxy (right)"
        );
    }

    /// `command` on both sockets: the masked replies must match line by line.
    fn same(&self, command: &str) -> String {
        let h = cli(&self.sockets[0], command);
        let r = cli(&self.sockets[1], command);
        let (hm, rm) = (mask(&h), mask(&r));
        for (i, (rl, hl)) in rm.lines().zip(hm.lines()).enumerate() {
            assert_eq!(
                rl, hl,
                "{command:?} line {i}: ringlb (left) vs HAProxy (right)\nringlb:\n{r}\nhaproxy:\n{h}"
            );
        }
        assert_eq!(
            rm.lines().count(),
            hm.lines().count(),
            "{command:?}: line counts\nringlb:\n{r}\nhaproxy:\n{h}"
        );
        r
    }
}

#[test]
fn captures_match_haproxy() {
    let pair = Pair::start();
    let empty = pair.same("show errors");
    assert!(empty.starts_with("Total events captured on ["), "{empty}");
    assert!(empty.contains("] : 0\n"), "{empty}");

    // Two bad requests (the second replaces the first), then a bad response.
    pair.send(BAD_HEADER);
    let first = pair.same("show errors");
    assert!(first.contains("error at position 19"), "{first}");
    pair.send(BAD_URI);
    pair.send(GOOD);
    let all = pair.same("show errors");
    assert!(all.contains("] : 3\n"), "{all}");
    assert!(all.contains("frontend fe (#2): invalid request"), "{all}");
    assert!(
        all.contains("  00000  GET /\\x01 HTTP/1.1\\r\\n\n"),
        "{all}"
    );
    assert!(all.contains("backend be (#3): invalid response"), "{all}");
    assert!(
        all.contains("frontend fe (#2), server s1 (#1), event #2"),
        "{all}"
    );

    // Filters: by side, by name or number, and unknown proxies.
    for command in [
        "show errors fe",
        "show errors be",
        "show errors 2",
        "show errors 3",
        "show errors 7",
        "show errors -1 request",
        "show errors -1 response",
        "show errors fe request",
        "show errors fe response",
        "show errors be request",
        "show errors be response",
        "show errors nope",
        "show errors nope request",
    ] {
        pair.same(command);
    }
    let unknown = pair.same("show errors nope");
    assert_eq!(unknown, "No such proxy.\n\n");
    let requests = pair.same("show errors -1 request");
    assert!(!requests.contains("invalid response"), "{requests}");
    let responses = pair.same("show errors be response");
    assert!(!responses.contains("invalid request"), "{responses}");

    // A reload keeps the captures (by proxy name).
    pair.ringlb.signal(libc::SIGHUP);
    crate::harness::wait_for("the reload", || {
        pair.ringlb.stderr().contains("Reload complete")
    });
    let after = cli(&pair.sockets[1], "show errors");
    assert_eq!(mask(&after), mask(&all), "captures survive a reload");
}

#[test]
fn a_flood_of_bad_requests_neither_blocks_nor_grows() {
    let server = bad_server();
    let socket = temp_dir("errflood").join("ringlb.sock");
    let port = free_port();
    let lb = Ringlb::start(&config(&socket, port, server.port));
    let flood = |n: usize| {
        let threads: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..n / 4 {
                        let mut request = BAD_URI.to_vec();
                        // Each capture distinct, so the one shown is known to be recent.
                        request.extend_from_slice(format!("{t}-{i}").as_bytes());
                        let status = send(port, &request);
                        assert!(status.starts_with("HTTP/1.1 400"), "{status}");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    };
    // Warm up the allocator and the buffer pools first.
    flood(200);
    let before = rss_kib(lb.pid());
    let started = Instant::now();
    flood(2000);
    let took = started.elapsed();
    let after = rss_kib(lb.pid());
    eprintln!("flood: {took:?}, RSS {before} KiB -> {after} KiB");
    let reply = cli(&socket, "show errors");
    assert!(reply.contains("] : 2200\n"), "every event counted: {reply}");
    assert_eq!(reply.matches("invalid request").count(), 1, "{reply}");
    assert!(
        after < before + 2048,
        "RSS grew from {before} KiB to {after} KiB over 2,000 captures"
    );
    // The answers never waited on the control thread: 2,000 in well under a minute.
    assert!(took < Duration::from_secs(60), "{took:?}");
}
