//! Reloads (SIGHUP, SIGUSR2): the same files read again; new servers, weights and binds
//! apply without dropping a request; a broken file changes nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::client::Conn;
use crate::harness::{defaults, free_port, wait_for, Ringlb};

/// Writes `config` over the running file, signals a reload and waits for its outcome line.
fn reload(lb: &Ringlb, config: &str, sig: libc::c_int, outcome: &str) {
    let before = lb.stderr().matches(outcome).count();
    std::fs::write(lb.dir.join("ringlb.cfg"), config).unwrap();
    lb.signal(sig);
    let deadline = Instant::now() + Duration::from_secs(5);
    while lb.stderr().matches(outcome).count() == before {
        assert!(
            Instant::now() < deadline,
            "no {outcome:?}:\n{}",
            lb.stderr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Every shard picks the snapshot up within a sweep (25 ms) and opens new binds.
    std::thread::sleep(Duration::from_millis(100));
}

/// A config with one frontend on `port` and servers (name, port, weight).
fn config(port: u16, servers: &[(&str, u16, u32)], extra_global: &str) -> String {
    let mut out = format!(
        "global\n{extra_global}{}frontend f\n bind 127.0.0.1:{port}\n default_backend b\nbackend b\n",
        defaults("")
    );
    for (name, p, weight) in servers {
        out.push_str(&format!(" server {name} 127.0.0.1:{p} weight {weight}\n"));
    }
    out
}

fn names(port: u16, n: usize) -> HashMap<String, usize> {
    let mut conn = Conn::open(port);
    let mut seen = HashMap::new();
    for _ in 0..n {
        *seen
            .entry(conn.get("/").text().trim().to_string())
            .or_insert(0) += 1;
    }
    seen
}

#[test]
fn a_reload_applies_servers_weights_and_binds_and_keeps_connections() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let port = free_port();
    let lb = Ringlb::start(&config(port, &[("a", a.port, 1)], ""));
    let mut kept = Conn::open(port);
    assert_eq!(kept.get("/").text().trim().to_string(), "a");

    reload(
        &lb,
        &config(port, &[("a", a.port, 1), ("b", b.port, 1)], ""),
        libc::SIGHUP,
        "Reload complete",
    );
    assert!(lb.stderr().contains("Reload complete: configuration generation 2 in force (1 frontend(s), 1 backend(s), 2 server(s))"), "{}", lb.stderr());
    let seen = names(port, 10);
    assert_eq!((seen["a"], seen["b"]), (5, 5), "{seen:?}");
    // The keep-alive connection opened before the reload goes on, under the new config.
    let after: Vec<String> = (0..4)
        .map(|_| kept.get("/").text().trim().to_string())
        .collect();
    assert!(after.contains(&"b".to_string()), "{after:?}");

    reload(
        &lb,
        &config(port, &[("a", a.port, 3), ("b", b.port, 1)], ""),
        libc::SIGUSR2,
        "Reload complete",
    );
    let seen = names(port, 40);
    assert_eq!((seen["a"], seen["b"]), (30, 10), "weights follow: {seen:?}");

    let moved = free_port();
    reload(
        &lb,
        &config(moved, &[("b", b.port, 1)], ""),
        libc::SIGHUP,
        "Reload complete",
    );
    // Each shard opens and closes binds on its own sweep: a loaded machine may take longer.
    wait_for("the new bind to open", || {
        std::net::TcpStream::connect(("127.0.0.1", moved)).is_ok()
    });
    assert_eq!(
        names(moved, 4)["b"],
        4,
        "the new bind serves, with the new servers"
    );
    wait_for("the removed bind to close", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
    });
    // The old connection's frontend still exists (by name): it keeps being served.
    assert_eq!(kept.get("/").text().trim().to_string(), "b");
}

#[test]
fn a_broken_reload_changes_nothing_and_logs_every_error() {
    let a = Backend::start("a");
    let port = free_port();
    let good = config(port, &[("a", a.port, 1)], "");
    let lb = Ringlb::start(&good);
    let broken = format!("{good} server x 127.0.0.1:notaport\n bogus-keyword 1\n");
    reload(&lb, &broken, libc::SIGHUP, "Reload failed");
    let log = lb.stderr();
    assert!(log.contains("ringlb.cfg:13] : 'server x': "), "{log}");
    assert!(
        log.contains("ringlb.cfg:14] : unknown keyword 'bogus-keyword'"),
        "{log}"
    );
    assert!(
        log.contains("Reload failed: 2 error(s); still running generation 1"),
        "{log}"
    );
    assert_eq!(names(port, 3)["a"], 3);
    // A later valid reload still works, and says what needs a restart.
    reload(
        &lb,
        &config(port, &[("a", a.port, 1)], " nbthread 1\n"),
        libc::SIGHUP,
        "Reload complete",
    );
    assert!(
        lb.stderr()
            .contains("Reload: nbthread (auto -> 1) changed; that takes a restart"),
        "{}",
        lb.stderr()
    );
}

#[test]
fn a_server_keeps_its_health_across_a_reload() {
    let a = Backend::start("a");
    let dead = free_port();
    let port = free_port();
    let checked = |extra: &str| {
        format!(
            "{}frontend f\n bind 127.0.0.1:{port}\n default_backend b\nbackend b\n server a 127.0.0.1:{} check inter 100\n server dead 127.0.0.1:{dead} check inter 100 downinter 10s rise 1\n{extra}",
            defaults(""),
            a.port
        )
    };
    let lb = Ringlb::start(&checked(""));
    let deadline = Instant::now() + Duration::from_secs(3);
    while !lb.stderr().contains("Server b/dead is DOWN") {
        assert!(Instant::now() < deadline, "{}", lb.stderr());
        std::thread::sleep(Duration::from_millis(10));
    }
    let other = Backend::start("c");
    reload(
        &lb,
        &checked(&format!(" server c 127.0.0.1:{}\n", other.port)),
        libc::SIGHUP,
        "Reload complete",
    );
    // `dead` kept its DOWN state (its next check is `downinter`, 10 s, away): no request goes to it, so
    // none fails.
    let seen = names(port, 20);
    assert_eq!(seen.values().sum::<usize>(), 20, "{seen:?}");
    assert!(!seen.contains_key("dead"));
    assert_eq!((seen["a"], seen["c"]), (10, 10), "{seen:?}");
}

#[test]
fn ten_reloads_under_load_fail_no_request_and_the_split_follows() {
    let (a, b, c) = (
        Backend::start("a"),
        Backend::start("b"),
        Backend::start("c"),
    );
    let port = free_port();
    let lb = Ringlb::start(&config(port, &[("a", a.port, 1), ("b", b.port, 1)], ""));
    let stop = Arc::new(AtomicBool::new(false));
    // Who answered, per phase: `Some(k)` once reload k is in force on every shard, `None`
    // while a reload is under way (those answers are not attributed).
    let phase = Arc::new(Mutex::new(Some(0usize)));
    let seen: Arc<Mutex<Vec<HashMap<String, usize>>>> =
        Arc::new(Mutex::new(vec![HashMap::new(); 11]));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..4)
        .map(|k| {
            let (stop, phase, seen, failures) =
                (stop.clone(), phase.clone(), seen.clone(), failures.clone());
            std::thread::spawn(move || {
                // A fixed rate per client, alternating keep-alive and new connections.
                let mut conn = Conn::open(port);
                let mut next = Instant::now();
                let mut i = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    next += Duration::from_millis(4);
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    if (i + k).is_multiple_of(5) {
                        conn = Conn::open(port);
                    }
                    i += 1;
                    let at = *phase.lock().unwrap();
                    let r = conn.get("/");
                    if r.status != 200 {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{} {}", r.status, r.text()));
                    } else if let Some(at) = at.filter(|&p| Some(p) == *phase.lock().unwrap()) {
                        *seen.lock().unwrap()[at]
                            .entry(r.text().trim().to_string())
                            .or_insert(0) += 1;
                    }
                }
            })
        })
        .collect();
    let plans: [&[(&str, u16, u32)]; 10] = [
        &[("a", a.port, 1), ("b", b.port, 1), ("c", c.port, 1)],
        &[("a", a.port, 1), ("b", b.port, 1), ("c", c.port, 1)],
        &[("a", a.port, 1), ("b", b.port, 1)],
        &[("a", a.port, 3), ("b", b.port, 1)],
        &[("a", a.port, 3), ("b", b.port, 1)],
        &[("a", a.port, 1), ("b", b.port, 1)],
        &[("b", b.port, 1), ("a", a.port, 1)],
        &[("a", a.port, 1), ("b", b.port, 1), ("c", c.port, 2)],
        &[("a", a.port, 1), ("b", b.port, 1)],
        &[("a", a.port, 1), ("b", b.port, 1)],
    ];
    std::thread::sleep(Duration::from_millis(300));
    for (n, plan) in plans.iter().enumerate() {
        *phase.lock().unwrap() = None;
        reload(
            &lb,
            &config(port, plan, ""),
            libc::SIGHUP,
            "Reload complete",
        );
        *phase.lock().unwrap() = Some(n + 1);
        std::thread::sleep(Duration::from_millis(300));
    }
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    assert!(
        failures.lock().unwrap().is_empty(),
        "{:?}",
        failures.lock().unwrap()
    );
    let seen = seen.lock().unwrap();
    let total: usize = seen.iter().flat_map(|m| m.values()).sum();
    assert!(total > 1000, "{total} requests");
    let share = |phase: usize, name: &str| {
        let all: usize = seen[phase].values().sum();
        seen[phase].get(name).copied().unwrap_or(0) as f64 / all.max(1) as f64
    };
    assert!((share(1, "c") - 1.0 / 3.0).abs() < 0.1, "{:?}", seen[1]);
    assert_eq!(share(3, "c"), 0.0, "c removed: {:?}", seen[3]);
    assert!(
        (share(4, "a") - 0.75).abs() < 0.1,
        "weight 3:1: {:?}",
        seen[4]
    );
    assert!(
        (share(8, "c") - 0.5).abs() < 0.1,
        "c weight 2 of 4: {:?}",
        seen[8]
    );
    assert!(
        lb.stderr().contains("configuration generation 11 in force"),
        "{}",
        lb.stderr()
    );
}
