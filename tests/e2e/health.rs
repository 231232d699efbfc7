//! Health checks on the control thread: real backends that stop, start, or fail their
//! check; the transitions ringlb logs (compared with HAProxy's own); where traffic goes.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::client::Conn;
use crate::harness::{defaults, free_port, temp_dir, Ringlb};
use crate::raw::RawBackend;

/// An HTTP backend on a fixed port that can be stopped (listener and connections closed)
/// and started again, and whose `/health` answer can be flipped between 200 and 503.
pub struct FlipBackend {
    /// Its port.
    pub port: u16,
    name: String,
    state: Arc<FlipState>,
}

#[derive(Default)]
struct FlipState {
    healthy: AtomicBool,
    running: AtomicBool,
    /// Requests other than `/health`.
    requests: AtomicUsize,
    /// When the last one arrived.
    last_request: Mutex<Option<Instant>>,
    open: Mutex<Vec<TcpStream>>,
    generation: AtomicUsize,
}

impl FlipBackend {
    pub fn start(name: &str) -> FlipBackend {
        let port = free_port();
        let backend = FlipBackend {
            port,
            name: name.into(),
            state: Arc::default(),
        };
        backend.state.healthy.store(true, Ordering::SeqCst);
        backend.resume();
        backend
    }

    /// Listens again on the same port.
    pub fn resume(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("rebind");
        listener.set_nonblocking(true).unwrap();
        self.state.running.store(true, Ordering::SeqCst);
        let generation = self.state.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let (state, name) = (self.state.clone(), self.name.clone());
        std::thread::spawn(move || {
            while state.generation.load(Ordering::SeqCst) == generation {
                match listener.accept() {
                    Ok((conn, _)) => {
                        conn.set_nonblocking(false).ok();
                        conn.set_nodelay(true).ok();
                        if let Ok(clone) = conn.try_clone() {
                            state.open.lock().unwrap().push(clone);
                        }
                        let (state, name) = (state.clone(), name.clone());
                        std::thread::spawn(move || serve(conn, &name, &state));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
    }

    /// Closes the listener and every connection: the server is gone.
    pub fn stop(&self) {
        self.state.running.store(false, Ordering::SeqCst);
        self.state.generation.fetch_add(1, Ordering::SeqCst);
        for conn in self.state.open.lock().unwrap().drain(..) {
            let _ = conn.shutdown(Shutdown::Both);
        }
        // Let the accept thread see the new generation and drop the listener.
        std::thread::sleep(Duration::from_millis(20));
    }

    pub fn set_healthy(&self, healthy: bool) {
        self.state.healthy.store(healthy, Ordering::SeqCst);
    }

    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    pub fn last_request(&self) -> Option<Instant> {
        *self.state.last_request.lock().unwrap()
    }

    /// Connections still open (that ringlb has not closed).
    pub fn open_connections(&self) -> usize {
        let mut open = self.state.open.lock().unwrap();
        open.retain(|c| {
            let mut byte = [0u8; 1];
            c.set_nonblocking(true).ok();
            let alive = match c.peek(&mut byte) {
                Ok(0) => false,
                Ok(_) => true,
                Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
            };
            c.set_nonblocking(false).ok();
            alive
        });
        open.len()
    }
}

impl Drop for FlipBackend {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(conn: TcpStream, name: &str, state: &FlipState) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut close = request_line.ends_with("HTTP/1.0\r\n");
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line.to_ascii_lowercase().starts_with("connection: close") {
                close = true;
            }
            if line == "\r\n" {
                break;
            }
        }
        if let Some(n) = request_line
            .split(' ')
            .nth(1)
            .and_then(|p| p.strip_prefix("/big/"))
            .and_then(|n| n.parse::<usize>().ok())
        {
            // A body in slices, so that a stop can land in the middle of it.
            state.requests.fetch_add(1, Ordering::SeqCst);
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n");
            if writer.write_all(head.as_bytes()).is_err() {
                return;
            }
            let body: Vec<u8> = (0..n).map(crate::backend::pattern).collect();
            for slice in body.chunks(16 * 1024) {
                if writer.write_all(slice).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            if close {
                return;
            }
            continue;
        }
        let answer = if request_line.contains(" /health ") {
            if state.healthy.load(Ordering::SeqCst) {
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_string()
            } else {
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nsick".to_string()
            }
        } else {
            state.requests.fetch_add(1, Ordering::SeqCst);
            *state.last_request.lock().unwrap() = Some(Instant::now());
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{name}",
                name.len()
            )
        };
        if writer.write_all(answer.as_bytes()).is_err() || close {
            return;
        }
    }
}

/// Waits until ringlb's stderr contains `text`; the time it was first seen.
fn wait_log(lb: &Ringlb, text: &str, limit: Duration) -> Instant {
    let deadline = Instant::now() + limit;
    loop {
        if lb.stderr().contains(text) {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "no {text:?} within {limit:?}:\n{}",
            lb.stderr()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A frontend on a free port in front of `backend` (its text).
fn config(backend: &str, extra_defaults: &str) -> (String, u16) {
    let port = free_port();
    (
        format!(
            "{}frontend f\n bind 127.0.0.1:{port}\n default_backend b\nbackend b\n{backend}",
            defaults(extra_defaults)
        ),
        port,
    )
}

/// Requests `/` on new connections until `stop`, counting answers by body and failures.
struct Traffic {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<(usize, Vec<String>)>>,
}

impl Traffic {
    fn start(port: u16) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut ok, mut failures) = (0, Vec::new());
            while !flag.load(Ordering::SeqCst) {
                let mut conn = Conn::open(port);
                conn.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
                match conn.response(false) {
                    Ok(r) if r.status == 200 => ok += 1,
                    Ok(r) => failures.push(format!("{} {}", r.status, r.text())),
                    Err(e) => failures.push(e.to_string()),
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            (ok, failures)
        });
        Traffic {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap()
    }
}

#[test]
fn a_stopped_backend_leaves_the_rotation_and_comes_back() {
    let (a, b) = (FlipBackend::start("a"), FlipBackend::start("b"));
    let (inter, fall, rise) = (200u64, 2u64, 2u64);
    let (cfg, port) = config(
        &format!(
            " option httpchk GET /health\n retries 3\n option redispatch\n server a 127.0.0.1:{} check inter {inter} fall {fall} rise {rise}\n server b 127.0.0.1:{} check inter {inter} fall {fall} rise {rise}\n",
            a.port, b.port
        ),
        "",
    );
    let lb = Ringlb::start(&cfg);
    let traffic = Traffic::start(port);
    std::thread::sleep(Duration::from_millis(500));
    assert!(a.requests() > 0 && b.requests() > 0, "both serve at first");

    let stopped = Instant::now();
    a.stop();
    let bound = Duration::from_millis((fall + 1) * inter + 300);
    let down = wait_log(
        &lb,
        "Server b/a is DOWN, reason: Layer4 connection problem, info: \"Connection refused\"",
        bound,
    );
    assert!(down - stopped <= bound, "DOWN after {:?}", down - stopped);
    assert!(lb.stderr().contains(
        "1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
    ), "{}", lb.stderr());
    // A request refused by a just before its DOWN waits out HAProxy's one-second
    // turn-around, then goes to b: give the loop that long to move on.
    let served_by_b = b.requests();
    let deadline = Instant::now() + Duration::from_millis(1500);
    while b.requests() < served_by_b + 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(b.requests() >= served_by_b + 5, "b takes the traffic");

    let started = Instant::now();
    let before = a.requests();
    a.resume();
    let bound = Duration::from_millis((rise + 1) * inter + 300);
    let up = wait_log(
        &lb,
        "Server b/a is UP, reason: Layer7 check passed, code: 200",
        bound,
    );
    assert!(up - started <= bound, "UP after {:?}", up - started);
    assert!(
        lb.stderr()
            .contains("2 active and 0 backup servers online."),
        "{}",
        lb.stderr()
    );
    std::thread::sleep(Duration::from_millis(300));
    let (ok, failures) = traffic.finish();
    assert!(a.requests() > before, "a serves again");
    // Connect failures to the stopped server were retried on the other one: the only
    // failure a client may see is the one request in flight on a when it was stopped.
    assert!(failures.len() <= 1, "{ok} ok, failures: {failures:?}");
    assert!(lb.stderr().contains("Server b/a is DOWN"));
}

#[test]
fn a_server_failing_its_check_gets_no_new_request_100ms_after_going_down() {
    let (a, b) = (FlipBackend::start("a"), FlipBackend::start("b"));
    let (cfg, port) = config(
        &format!(
            " option httpchk GET /health\n http-check expect status 200\n server a 127.0.0.1:{} check inter 100 fall 1 rise 1\n server b 127.0.0.1:{} check inter 100 fall 1 rise 1\n",
            a.port, b.port
        ),
        "",
    );
    let lb = Ringlb::start(&cfg);
    // Keep-alive clients, so ringlb pools its connections to a.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut conn = Conn::open(port);
                while !stop.load(Ordering::SeqCst) {
                    assert_eq!(conn.get("/").status, 200);
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert!(a.requests() > 0);
    a.set_healthy(false);
    let seen = wait_log(
        &lb,
        "Server b/a is DOWN, reason: Layer7 wrong status, code: 503, info: \"Service Unavailable\"",
        Duration::from_secs(2),
    );
    std::thread::sleep(Duration::from_millis(400));
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let last = a.last_request().unwrap();
    assert!(
        last <= seen + Duration::from_millis(100),
        "a got a request {:?} after its DOWN line was seen",
        last - seen
    );
    // Its idle pooled connections were closed (only check connections come and go).
    let deadline = Instant::now() + Duration::from_secs(1);
    while a.open_connections() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(a.open_connections(), 0, "pooled connections to a closed");
}

#[test]
fn backups_take_over_only_while_no_active_server_is_up_and_nothing_up_is_503() {
    let (a, bk) = (FlipBackend::start("a"), FlipBackend::start("bk"));
    let (cfg, port) = config(
        &format!(
            " option httpchk GET /health\n server a 127.0.0.1:{} check inter 100 fall 1 rise 1\n server bk 127.0.0.1:{} check inter 100 fall 1 rise 1 backup\n",
            a.port, bk.port
        ),
        "",
    );
    let lb = Ringlb::start(&cfg);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(Conn::open(port).get("/").text(), "a");
    a.set_healthy(false);
    wait_log(&lb, "Server b/a is DOWN", Duration::from_secs(2));
    assert!(
        lb.stderr()
            .contains("0 active and 1 backup servers left. Running on backup."),
        "{}",
        lb.stderr()
    );
    for _ in 0..3 {
        assert_eq!(Conn::open(port).get("/").text(), "bk");
    }
    bk.set_healthy(false);
    wait_log(&lb, "Backup Server b/bk is DOWN", Duration::from_secs(2));
    wait_log(&lb, "[ALERT]    (", Duration::from_secs(1));
    assert!(
        lb.stderr().contains("backend 'b' has no server available!"),
        "{}",
        lb.stderr()
    );
    let started = Instant::now();
    let r = Conn::open(port).get("/");
    assert_eq!(r.status, 503);
    assert!(started.elapsed() < Duration::from_millis(500), "at once");
    a.set_healthy(true);
    wait_log(&lb, "Server b/a is UP", Duration::from_secs(2));
    assert_eq!(
        Conn::open(port).get("/").text(),
        "a",
        "the active server is back"
    );
}

/// Runs HAProxy (`haproxy -db`) on `config` for `run`, returning its stderr.
pub(crate) fn haproxy_stderr(config: &str, run: Duration) -> Option<String> {
    let dir = temp_dir("haproxy");
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(&cfg, config).unwrap();
    let child = std::process::Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    std::thread::sleep(run);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
    let out = child.wait_with_output().ok()?;
    Some(String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The transition lines of a log, with the pid and durations masked, sorted.
pub(crate) fn transitions(log: &str) -> Vec<String> {
    let mut lines: Vec<String> = log
        .lines()
        .filter(|l| l.contains(" is DOWN") || l.contains(" is UP") || l.contains("has no server"))
        .map(|l| {
            let l = l.split_once(") : ").map_or(l, |(_, rest)| rest);
            match l.find("check duration: ") {
                Some(at) => {
                    let rest = &l[at + 16..];
                    let ms = rest.find("ms").unwrap_or(0);
                    format!("{}check duration: Nms{}", &l[..at], &rest[ms + 2..])
                }
                None => l.to_string(),
            }
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn check_results_and_log_lines_match_haproxy() {
    if std::process::Command::new("haproxy")
        .arg("-v")
        .output()
        .is_err()
    {
        panic!("haproxy is not installed (scripts/install-deps.sh haproxy)");
    }
    let sick = RawBackend::start(|peer| {
        if peer.read_head().is_some() {
            peer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let silent = RawBackend::start(|peer| {
        let _ = peer.read_head();
        std::thread::sleep(Duration::from_secs(3));
    });
    let garbage = RawBackend::start(|peer| {
        if peer.read_head().is_some() {
            peer.write(b"hello\r\n\r\n");
        }
    });
    let closing = RawBackend::start(|peer| {
        let _ = peer.read_head();
    });
    let refused = free_port();
    let body = |port: u16| {
        format!(
            "defaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 5s\nfrontend f\n bind 127.0.0.1:{port}\n default_backend b\nbackend b\n option httpchk GET /\n http-check expect status 200\n server sick 127.0.0.1:{} check inter 300 fall 1\n server silent 127.0.0.1:{} check inter 300 fall 1\n server garbage 127.0.0.1:{} check inter 300 fall 1\n server closing 127.0.0.1:{} check inter 300 fall 1\n server refused 127.0.0.1:{refused} check inter 300 fall 1\n server bk 127.0.0.1:{refused} check inter 300 fall 1 backup\n",
            sick.port, silent.port, garbage.port, closing.port
        )
    };
    let theirs =
        haproxy_stderr(&body(free_port()), Duration::from_millis(1200)).expect("run haproxy");
    let lb = Ringlb::start(&body(free_port()));
    std::thread::sleep(Duration::from_millis(1200));
    let ours = lb.stderr();
    let (theirs, ours) = (transitions(&theirs), transitions(&ours));
    assert_eq!(theirs.len(), 7, "HAProxy's lines: {theirs:#?}");
    // The order of the transitions (and so the server counts in them) depends on timing:
    // compare the lines with the counts masked, then the statuses as a set.
    let masked = |lines: &[String]| -> Vec<String> {
        let mut out: Vec<String> = lines
            .iter()
            .map(|l| match l.find(". ") {
                Some(at) if l.contains(" is ") => l[..at].to_string(),
                _ => l.clone(),
            })
            .collect();
        out.sort();
        out
    };
    assert_eq!(
        masked(&ours),
        masked(&theirs),
        "ours: {ours:#?}\ntheirs: {theirs:#?}"
    );
}

#[test]
fn checks_send_the_configured_request_to_the_check_port() {
    let data = FlipBackend::start("data");
    let checks = RawBackend::start(|peer| {
        if peer.read_head().is_some() {
            peer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let (cfg, port) = config(
        &format!(
            " option httpchk\n http-check send meth GET uri /health ver HTTP/1.1 hdr Host check.example\n server s 127.0.0.1:{} check port {} inter 100 fall 1\n",
            data.port, checks.port
        ),
        "",
    );
    let lb = Ringlb::start(&cfg);
    wait_log(
        &lb,
        "Server b/s is DOWN, reason: Layer7 wrong status, code: 500, info: \"Internal Server Error\"",
        Duration::from_secs(2),
    );
    let request = checks.received(0);
    assert!(
        request.starts_with("GET /health HTTP/1.1\r\nHost: check.example\r\n"),
        "{request:?}"
    );
    assert!(request.contains("\r\nConnection: close\r\n"), "{request:?}");
    assert!(request.ends_with("\r\n\r\n"), "{request:?}");
    assert_eq!(data.requests(), 0, "the check went to the check port");
    assert_eq!(
        Conn::open(port).get("/").status,
        503,
        "the data port is not used while down"
    );
}

#[test]
fn a_flapping_backend_never_passes_a_truncated_body_off_as_complete() {
    let (a, b) = (FlipBackend::start("a"), FlipBackend::start("b"));
    let (cfg, port) = config(
        &format!(
            " option httpchk GET /health\n retries 3\n option redispatch\n server a 127.0.0.1:{} check inter 100 fall 1 rise 1\n server b 127.0.0.1:{} check inter 100 fall 1 rise 1\n",
            a.port, b.port
        ),
        "",
    );
    let lb = Ringlb::start(&cfg);
    const SIZE: usize = 200_000;
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|k| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut complete, mut failures) = (0usize, Vec::new());
                let mut next = Instant::now();
                while !stop.load(Ordering::SeqCst) {
                    next += Duration::from_millis(10);
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let Ok(mut conn) = Conn::try_open(port) else {
                        failures.push("connect".to_string());
                        continue;
                    };
                    let close = if k % 2 == 0 {
                        "Connection: close\r\n"
                    } else {
                        ""
                    };
                    let request = format!("GET /big/{SIZE} HTTP/1.1\r\nHost: t\r\n{close}\r\n");
                    if conn.try_send(request.as_bytes()).is_err() {
                        failures.push("send".to_string());
                        continue;
                    }
                    match conn.response(false) {
                        Ok(r) if r.status == 200 => {
                            let intact = r.body.len() == SIZE
                                && r.body
                                    .iter()
                                    .enumerate()
                                    .all(|(i, &b)| b == crate::backend::pattern(i));
                            assert!(intact, "a 200 with a damaged body ({} bytes)", r.body.len());
                            complete += 1;
                        }
                        Ok(r) => failures.push(format!("status {}", r.status)),
                        Err(e) => failures.push(e.to_string()),
                    }
                }
                (complete, failures)
            })
        })
        .collect();
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(300));
        a.stop();
        std::thread::sleep(Duration::from_millis(300));
        a.resume();
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let mut complete = 0;
    let mut failures = Vec::new();
    for c in clients {
        let (n, f) = c.join().unwrap();
        complete += n;
        failures.extend(f);
    }
    // Only requests in flight on `a` when it was stopped may fail: at most one per client
    // per stop. Connect failures were retried on `b`.
    assert!(
        failures.len() <= 4 * 5,
        "{complete} complete, failures: {failures:?}"
    );
    assert!(
        failures
            .iter()
            .all(|f| f.contains("end of file") || f.contains("reset") || f == "status 502"),
        "{failures:?}"
    );
    assert!(complete > 100, "{complete} complete");
    assert_eq!(
        lb.stderr().matches("Server b/a is DOWN").count(),
        5,
        "{}",
        lb.stderr()
    );
}

#[test]
fn passive_health_takes_a_server_failing_in_the_traffic_down() {
    // Both servers pass their checks (GET / answers 200); only real traffic sees `bad`
    // failing. `bad` observes layer 7 and goes down after 5 errors in a row.
    let (bad, good) = (
        crate::backend::Backend::start("bad"),
        crate::backend::Backend::start("good"),
    );
    let port = free_port();
    let lb = Ringlb::start(&format!(
        "{}frontend f\n bind 127.0.0.1:{port}\n default_backend b\nbackend b\n option httpchk GET /\n \
         server bad 127.0.0.1:{} check inter 10s observe layer7 error-limit 5 on-error mark-down\n \
         server good 127.0.0.1:{} check inter 10s\n",
        defaults(""),
        bad.port,
        good.port
    ));
    std::thread::sleep(Duration::from_millis(100));
    // Round robin: 10 requests give `bad` its 5 errors, invalid responses (`good` sends
    // its garbage too, but nothing observes it).
    for _ in 0..10 {
        assert_eq!(crate::client::get(port, "/garbage").status, 502);
    }
    wait_log(
        &lb,
        "Server b/bad is DOWN, reason: Health analyze, info: \"Detected 5 consecutive errors\"",
        Duration::from_secs(2),
    );
    std::thread::sleep(Duration::from_millis(50));
    let before = bad.requests();
    for _ in 0..10 {
        assert_eq!(crate::client::get(port, "/").status, 200);
    }
    assert_eq!(
        bad.requests(),
        before,
        "no request reached the server taken down"
    );
}
