//! Bounded resources: the server queue (`maxconn`, `timeout queue`), which connections the
//! pool hands out, file descriptors, and the size of log records.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::client::{get, Conn};
use crate::harness::{connect, free_port, read_to_close, Ringlb};

/// A config with one http frontend on `port` in front of one server with `maxconn 1`.
fn one_slot(port: u16, backend: u16, global: &str, timeouts: &str) -> String {
    format!(
        "global\n{global}defaults\n mode http\n{timeouts}\
         frontend web\n bind 127.0.0.1:{port}\n default_backend app\n\
         backend app\n server s1 127.0.0.1:{backend} maxconn 1\n"
    )
}

const TIMEOUTS: &str = " timeout connect 2s\n timeout client 10s\n timeout server 10s\n";

/// CPU time (user + system) the process has used, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn queued_requests_are_served_in_arrival_order() {
    let a = Backend::start("a");
    let port = free_port();
    // One shard: arrival order on one shard is what the queue promises.
    let _lb = Ringlb::start(&one_slot(port, a.port, " nbthread 1\n", TIMEOUTS));
    let done = Arc::new(Mutex::new(Vec::new()));
    // Sent from this thread, 30 ms apart, so the arrival order is this one whatever the
    // scheduler does; each answer is awaited on its own thread.
    let clients: Vec<_> = (0..8)
        .map(|i| {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(30));
            }
            let mut conn = Conn::open(port);
            conn.send(b"GET /slow/120 HTTP/1.1\r\nHost: t\r\n\r\n");
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let status = conn.response(false).map_or(0, |r| r.status);
                done.lock().unwrap().push((i, status));
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let done = done.lock().unwrap();
    assert!(done.iter().all(|&(_, status)| status == 200), "{done:?}");
    let order: Vec<usize> = done.iter().map(|&(i, _)| i).collect();
    assert_eq!(
        order,
        (0..8).collect::<Vec<_>>(),
        "first come, first served"
    );
}

#[test]
fn slots_freed_on_other_shards_reach_queued_requests() {
    let a = Backend::start("a");
    let port = free_port();
    let _lb = Ringlb::start(&one_slot(port, a.port, " nbthread 2\n", TIMEOUTS));
    let started = Instant::now();
    let clients: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || get(port, "/slow/100").status))
        .collect();
    let statuses: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert_eq!(statuses, vec![200; 8]);
    let took = started.elapsed();
    // maxconn 1: one at a time, whichever shard each request landed on.
    assert!(took >= Duration::from_millis(800), "{took:?}");
    assert_eq!(a.requests(), 8);
}

#[test]
fn queue_timeout_answers_503_with_sq() {
    let a = Backend::start("a");
    let port = free_port();
    let config = one_slot(
        port,
        a.port,
        " log stdout format raw local0\n",
        " log global\n option httplog\n timeout queue 300\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n",
    );
    let lb = Ringlb::start(&config);
    let holder = std::thread::spawn(move || get(port, "/slow/2000").status);
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let queued = get(port, "/");
    let waited = started.elapsed();
    assert_eq!(queued.status, 503);
    assert!(
        (Duration::from_millis(280)..Duration::from_millis(1000)).contains(&waited),
        "answered after {waited:?}"
    );
    let out = lb.wait_stdout_lines(1);
    let line = out
        .lines()
        .find(|l| l.contains(" 503 "))
        .unwrap_or_else(|| panic!("no 503 logged: {out}"));
    let fields: Vec<&str> = line.split_once("] ").unwrap().1.split(' ').collect();
    assert!(fields[7].starts_with("sQ"), "{line}");
    let queue_ms: i64 = fields[2].split('/').nth(1).unwrap().parse().unwrap();
    assert!((280..1000).contains(&queue_ms), "Tw in {line}");
    assert_eq!(holder.join().unwrap(), 200, "the slot holder is unaffected");
}

#[test]
fn queue_wait_is_bounded_without_queue_or_connect_timeouts() {
    let a = Backend::start("a");
    let port = free_port();
    // Neither `timeout queue` nor `timeout connect`: ringlb's own 5 s bound applies.
    let config = one_slot(
        port,
        a.port,
        "",
        " timeout client 20s\n timeout server 20s\n",
    );
    let _lb = Ringlb::start(&config);
    let holder = std::thread::spawn(move || get(port, "/slow/7000").status);
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(get(port, "/").status, 503);
    let waited = started.elapsed();
    assert!(
        (Duration::from_millis(4900)..Duration::from_millis(6000)).contains(&waited),
        "answered after {waited:?}"
    );
    assert_eq!(holder.join().unwrap(), 200);
}

#[test]
fn queued_requests_cost_no_cpu_while_they_wait() {
    let a = Backend::start("a");
    let port = free_port();
    let timeouts =
        " timeout queue 10s\n timeout connect 2s\n timeout client 20s\n timeout server 20s\n";
    let lb = Ringlb::start(&one_slot(port, a.port, "", timeouts));
    let holder = std::thread::spawn(move || get(port, "/slow/3000").status);
    std::thread::sleep(Duration::from_millis(200));
    let waiting: Vec<_> = (0..50)
        .map(|_| std::thread::spawn(move || get(port, "/").status))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_ticks(lb.pid());
    let measured = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(lb.pid()) - before;
    let elapsed = measured.elapsed();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let share = used as f64 / per_second / elapsed.as_secs_f64();
    eprintln!(
        "CPU while 50 requests wait: {:.2}% of a core",
        share * 100.0
    );
    assert!(share < 0.05, "{:.1}% of a core", share * 100.0);
    assert_eq!(holder.join().unwrap(), 200);
    for w in waiting {
        assert_eq!(w.join().unwrap(), 200, "every queued request is served");
    }
}

#[test]
fn tcp_sessions_never_take_pooled_http_connections() {
    let a = Backend::start("a");
    let (web, raw) = (free_port(), free_port());
    // One shard, so the TCP session would find the HTTP connection in the same pool.
    let config = format!(
        "global\n nbthread 1\ndefaults\n mode http\n{TIMEOUTS}\
         frontend web\n bind 127.0.0.1:{web}\n default_backend h\n\
         frontend raw\n mode tcp\n bind 127.0.0.1:{raw}\n default_backend t\n\
         backend h\n server s 127.0.0.1:{p}\n\
         backend t\n mode tcp\n server s 127.0.0.1:{p}\n",
        p = a.port
    );
    let _lb = Ringlb::start(&config);
    assert_eq!(get(web, "/").status, 200);
    assert_eq!(a.connections(), 1);
    let mut s = connect(raw);
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let answer = read_to_close(&mut s, Duration::from_secs(5));
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    assert_eq!(
        a.connections(),
        2,
        "the TCP session opened its own connection"
    );
    // And its connection was not pooled for HTTP either.
    assert_eq!(get(web, "/").status, 200);
    assert_eq!(a.connections(), 2, "HTTP reused its own pooled connection");
    let _ = s.shutdown(Shutdown::Both);
    let _ = s.read(&mut [0u8; 1]);
}

/// An echo server that greets each connection with `E:`, on a thread per connection.
fn greeting_echo_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let _ = conn.write_all(b"E:");
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = conn.read(&mut buf) {
                    if conn.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Whether ringlb relays for this client yet: its greeting arrived (`Some(true)`), nothing
/// yet (`Some(false)`: still in the backlog), or the connection ended (`None`).
fn greeted(s: &mut std::net::TcpStream) -> Option<bool> {
    s.set_nonblocking(true).unwrap();
    let mut greeting = [0u8; 2];
    let got = match s.read(&mut greeting) {
        Ok(2) => Some(&greeting == b"E:"),
        Ok(1) => {
            s.set_nonblocking(false).unwrap();
            s.read_exact(&mut greeting[1..]).ok()?;
            Some(&greeting == b"E:")
        }
        Ok(_) => None,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Some(false),
        Err(_) => None,
    };
    s.set_nonblocking(false).unwrap();
    got
}

fn echoes(s: &mut std::net::TcpStream) -> bool {
    let mut back = [0u8; 5];
    s.write_all(b"ping\n").is_ok() && s.read_exact(&mut back).is_ok() && &back == b"ping\n"
}

#[test]
fn maxconn_is_reached_before_descriptors_run_out() {
    let echo = greeting_echo_server();
    let port = free_port();
    // Spliced relays hold a pipe per direction: six descriptors per client.
    let config = format!(
        "global\n nbthread 2\ndefaults\n mode tcp\n timeout connect 2s\n timeout client 20s\n timeout server 20s\n\
         listen relay\n bind 127.0.0.1:{port}\n option splice-auto\n server e 127.0.0.1:{echo}\n"
    );
    let fd_limit = 512;
    let lb = Ringlb::start_with_fd_limit(&config, fd_limit);
    let stderr = lb.stderr();
    let maxconn: usize = stderr
        .split("maxconn ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no maxconn in: {stderr}"));
    assert_eq!(maxconn, (512 - 256 - 2) / 6, "{stderr}");
    let mut clients: Vec<std::net::TcpStream> = (0..100).map(|_| connect(port)).collect();
    std::thread::sleep(Duration::from_millis(1000));
    let mut served = Vec::new();
    let mut waiting = Vec::new();
    for (i, c) in clients.iter_mut().enumerate() {
        match greeted(c) {
            Some(true) => served.push(i),
            Some(false) => waiting.push(i),
            None => panic!("client {i} was cut off:\n{}", lb.stderr()),
        }
    }
    assert!(
        served.len() <= maxconn && served.len() >= maxconn * 3 / 4,
        "{} served of maxconn {maxconn}",
        served.len()
    );
    assert!(
        open_fds(lb.pid()) < fd_limit as usize,
        "descriptors stay below the limit"
    );
    for &i in &served {
        assert!(echoes(&mut clients[i]), "session {i} keeps working");
    }
    // Clients that leave make room for those in the backlog, and nothing else.
    for &i in &served[..10] {
        clients[i].shutdown(Shutdown::Both).unwrap();
    }
    std::thread::sleep(Duration::from_millis(1000));
    let admitted: Vec<usize> = waiting
        .iter()
        .copied()
        .filter(|&i| greeted(&mut clients[i]).unwrap_or_else(|| panic!("client {i} was cut off")))
        .collect();
    assert_eq!(admitted.len(), 10, "one in for each one out");
    for &i in admitted.iter().chain(&served[10..]) {
        assert!(echoes(&mut clients[i]), "session {i} works");
    }
    assert!(open_fds(lb.pid()) < fd_limit as usize);
    let stderr = lb.stderr();
    assert!(
        !stderr.contains("accept failed") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn logged_request_lines_are_capped_at_1024_bytes() {
    let a = Backend::start("a");
    let port = free_port();
    // A line length above the request line cap, so only the cap can shorten it.
    let config = format!(
        "global\n log stdout len 4096 format raw local0\ndefaults\n log global\n mode http\n option httplog\n{TIMEOUTS}\
         frontend web\n bind 127.0.0.1:{port}\n default_backend app\nbackend app\n server s1 127.0.0.1:{}\n",
        a.port
    );
    let lb = Ringlb::start(&config);
    let uri = format!("/{}", "u".repeat(10_000));
    assert_eq!(get(port, &uri).status, 200);
    let out = lb.wait_stdout_lines(1);
    let line = out.lines().next().unwrap_or_else(|| panic!("no log line"));
    let quoted = &line[line.find('"').unwrap()..];
    assert!(quoted.ends_with('"'), "{quoted}");
    assert_eq!(quoted.len(), 1024 + 2, "{quoted}");
    assert!(quoted.starts_with("\"GET /uuuu"), "{quoted}");
}
