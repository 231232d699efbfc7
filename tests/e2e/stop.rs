//! Soft stop (SIGUSR1, SIGTERM, SIGINT) and `hard-stop-after`: requests in flight finish,
//! idle connections close, listeners close, the process exits 0.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::client::Conn;
use crate::harness::{defaults, free_port, wait_for, Ringlb};

fn start(extra_global: &str) -> (Ringlb, u16, Backend) {
    let backend = Backend::start("a");
    let port = free_port();
    let cfg = format!(
        "global\n{extra_global}{}frontend f\n bind 127.0.0.1:{port}\n default_backend b\nbackend b\n server a 127.0.0.1:{}\n",
        defaults(""),
        backend.port
    );
    (Ringlb::start(&cfg), port, backend)
}

fn refused(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
}

#[test]
fn sigusr1_finishes_requests_in_flight_and_closes_idle_connections() {
    let (mut lb, port, backend) = start("");
    let mut idle = Conn::open(port);
    assert_eq!(idle.get("/").status, 200);
    let mut busy = Conn::open(port);
    busy.send(b"GET /slow/600 HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for("the slow request to reach the server", || {
        backend.requests() == 2
    });
    let stopped = Instant::now();
    lb.signal(libc::SIGUSR1);
    wait_for("the listeners to close", || refused(port));
    assert!(idle.is_closed(), "idle keep-alive connection closed");
    let r = busy
        .response(false)
        .expect("the request in flight is answered");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("connection").as_deref(),
        Some("close"),
        "{}",
        r.head
    );
    assert!(busy.is_closed());
    let status = lb.wait_exit(Duration::from_secs(3)).expect("exits");
    assert_eq!(status.code(), Some(0));
    assert!(
        stopped.elapsed() >= Duration::from_millis(450),
        "waited for the slow request"
    );
    assert!(
        lb.stderr().contains("soft stop complete"),
        "{}",
        lb.stderr()
    );
}

#[test]
fn every_request_that_got_a_connection_gets_a_complete_response_under_load() {
    let (mut lb, port, _backend) = start("");
    let stop = Arc::new(AtomicBool::new(false));
    let complete = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let (stop, complete) = (stop.clone(), complete.clone());
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let Ok(mut conn) = Conn::try_open(port) else {
                        // Refused: the listener is closed, which is fine after the stop.
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    for _ in 0..20 {
                        let request = format!("GET /big/{} HTTP/1.1\r\nHost: t\r\n\r\n", 1000 + i);
                        if conn.try_send(request.as_bytes()).is_err() {
                            // Closed while idle, before this request: allowed.
                            break;
                        }
                        // Closed before any byte of an answer: the connection was idle when
                        // the stop came (the request crossed the close). Allowed; anything
                        // else must be a complete response.
                        use std::io::BufRead;
                        if conn.reader.fill_buf().map_or(true, |b| b.is_empty()) {
                            break;
                        }
                        match conn.response(false) {
                            Ok(r) => {
                                if r.status != 200 || r.body.len() != 1000 + i {
                                    failures.push(format!("{} {}", r.status, r.body.len()));
                                }
                                complete.fetch_add(1, Ordering::SeqCst);
                                if r.header("connection").as_deref() == Some("close") {
                                    break;
                                }
                            }
                            Err(e) => {
                                failures.push(e.to_string());
                                break;
                            }
                        }
                    }
                }
                failures
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    lb.signal(libc::SIGUSR1);
    let status = lb.wait_exit(Duration::from_secs(5)).expect("exits");
    stop.store(true, Ordering::SeqCst);
    let failures: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert_eq!(status.code(), Some(0));
    assert!(complete.load(Ordering::SeqCst) > 100);
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn hard_stop_after_bounds_the_soft_stop() {
    let (mut lb, port, backend) = start(" hard-stop-after 300ms\n");
    let mut busy = Conn::open(port);
    busy.send(b"GET /slow/3000 HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for("the slow request to reach the server", || {
        backend.requests() == 1
    });
    let stopped = Instant::now();
    lb.signal(libc::SIGUSR1);
    let status = lb
        .wait_exit(Duration::from_secs(2))
        .expect("exits at hard-stop-after");
    assert_eq!(status.code(), Some(0));
    assert!(stopped.elapsed() < Duration::from_millis(1000));
    assert!(
        lb.stderr().contains("1 connection(s) cut"),
        "{}",
        lb.stderr()
    );
}

#[test]
fn a_second_sigint_stops_at_once() {
    let (mut lb, port, backend) = start("");
    let mut busy = Conn::open(port);
    busy.send(b"GET /slow/3000 HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for("the slow request to reach the server", || {
        backend.requests() == 1
    });
    lb.signal(libc::SIGINT);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        lb.wait_exit(Duration::from_millis(100)).is_none(),
        "waits for the request"
    );
    let stopped = Instant::now();
    lb.signal(libc::SIGINT);
    let status = lb.wait_exit(Duration::from_secs(1)).expect("exits at once");
    assert_eq!(status.code(), Some(0));
    assert!(stopped.elapsed() < Duration::from_millis(500));
}
