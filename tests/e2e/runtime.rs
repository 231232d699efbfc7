//! The process as the kernel sees it: io_uring in use, one pinned shard per core, small
//! idle connections.

use std::time::Duration;

use crate::backend::Backend;
use crate::client::Conn;
use crate::harness::{defaults, free_port, Ringlb};

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn start(extra_global: &str) -> (Ringlb, u16, Backend) {
    let a = Backend::start("a");
    let port = free_port();
    let config = format!(
        "global\n{extra_global}{}frontend web\n bind 127.0.0.1:{port}\n default_backend app\nbackend app\n server s1 127.0.0.1:{}\n",
        defaults(""),
        a.port
    );
    (Ringlb::start(&config), port, a)
}

#[test]
fn shards_run_on_io_uring_one_pinned_per_core() {
    let (lb, port, _a) = start("");
    assert_eq!(Conn::open(port).get("/").status, 200);
    let pid = lb.pid();
    let rings = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains("io_uring"))
        .count();
    assert!(
        rings >= cores(),
        "expected an io_uring per shard, found {rings}"
    );
    let mut pinned = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let name = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if name.starts_with("ringlb-shard-") {
            let status = std::fs::read_to_string(task.join("status")).unwrap();
            let cpus = status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .unwrap()
                .trim()
                .to_string();
            pinned.push(cpus);
        }
    }
    pinned.sort();
    let expected: Vec<String> = (0..cores()).map(|c| c.to_string()).collect();
    assert_eq!(
        pinned, expected,
        "one shard per core, each pinned to its own core"
    );
}

#[test]
fn nbthread_sets_the_number_of_shards() {
    let (lb, port, _a) = start(" nbthread 1\n");
    assert_eq!(Conn::open(port).get("/").status, 200);
    let shards = std::fs::read_dir(format!("/proc/{}/task", lb.pid()))
        .unwrap()
        .filter(|t| {
            let comm = t.as_ref().unwrap().path().join("comm");
            std::fs::read_to_string(comm)
                .unwrap_or_default()
                .starts_with("ringlb-shard-")
        })
        .count();
    assert_eq!(shards, 1);
}

pub(crate) fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn idle_keep_alive_connections_hold_no_buffer() {
    let (lb, port, _a) = start("");
    let warm: Vec<Conn> = (0..200).map(|_| Conn::open(port)).collect();
    drop(warm);
    std::thread::sleep(Duration::from_millis(200));
    let before = rss_kib(lb.pid());
    let n = 2000;
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = Conn::open(port);
        // One request each, so every connection has been through a full transaction.
        assert_eq!(c.get("/").status, 200);
        conns.push(c);
    }
    std::thread::sleep(Duration::from_millis(300));
    let per_conn = (rss_kib(lb.pid()).saturating_sub(before) * 1024) / n as u64;
    eprintln!("RSS per idle keep-alive connection: {per_conn} bytes");
    // A 16 KiB read buffer per idle connection would show as ~16 KiB here.
    assert!(
        per_conn < 4096,
        "{per_conn} bytes of RSS per idle connection"
    );
    drop(conns);
}

#[test]
fn frontend_maxconn_holds_extra_clients_in_the_backlog() {
    let a = Backend::start("a");
    let port = free_port();
    let config = format!(
        "global\n nbthread 1\n{}frontend web\n bind 127.0.0.1:{port}\n maxconn 2\n default_backend app\nbackend app\n server s1 127.0.0.1:{}\n",
        defaults(""),
        a.port
    );
    let _lb = Ringlb::start(&config);
    let mut first = Conn::open(port);
    let mut second = Conn::open(port);
    assert_eq!(first.get("/").status, 200);
    assert_eq!(second.get("/").status, 200);
    let mut third = Conn::open(port);
    third.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    third
        .writer
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    assert!(
        third.response(false).is_err(),
        "a third connection is not served at maxconn 2"
    );
    drop(first);
    third
        .writer
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        third.response(false).unwrap().status,
        200,
        "served once a slot frees"
    );
}

#[test]
fn sighup_reloads_instead_of_stopping_and_sigterm_stops() {
    let (mut lb, port, _a) = start("");
    let pid = lb.pid() as libc::pid_t;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    crate::harness::wait_for("the reload", || {
        lb.stderr()
            .contains("Reload complete: configuration generation 2")
    });
    assert_eq!(
        Conn::open(port).get("/").status,
        200,
        "still serving after SIGHUP"
    );
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = lb
        .wait_exit(Duration::from_secs(5))
        .expect("ringlb did not stop on SIGTERM");
    assert_eq!(status.code(), Some(0));
}

/// `bind [::]:PORT v6only` takes IPv6 clients only; without `v6only` the same listener also
/// takes IPv4 ones (the kernel's default, `net.ipv6.bindv6only = 0`, as on Debian).
#[test]
fn bind_v6only_keeps_ipv4_clients_out() {
    if std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only").map_or(true, |v| v.trim() != "0")
        || std::net::TcpListener::bind("[::1]:0").is_err()
    {
        panic!("this test needs IPv6 on loopback and net.ipv6.bindv6only = 0");
    }
    let backend = Backend::start("b");
    let (only, dual) = (free_port(), free_port());
    let config = format!(
        "{}frontend only\n bind [::]:{only} v6only\n default_backend b\n\
         frontend dual\n bind [::]:{dual}\n default_backend b\n\
         backend b\n server s 127.0.0.1:{}\n",
        defaults(""),
        backend.port
    );
    let _lb = Ringlb::start(&config);
    let reach = |addr: &str| std::net::TcpStream::connect(addr).is_ok();
    assert!(
        reach(&format!("[::1]:{only}")),
        "IPv6 client on the v6only bind"
    );
    assert!(
        !reach(&format!("127.0.0.1:{only}")),
        "IPv4 client kept out by v6only"
    );
    assert!(
        reach(&format!("127.0.0.1:{dual}")),
        "IPv4 client on the dual-stack bind"
    );
}
