//! Which server each request lands on.

use crate::backend::Backend;
use crate::client::get;
use crate::harness::{defaults, free_port, Ringlb};

fn lb_for(servers: &str, port: u16) -> Ringlb {
    let config = format!(
        "{}frontend web\n bind 127.0.0.1:{port}\n default_backend app\nbackend app\n{servers}",
        defaults("")
    );
    Ringlb::start(&config)
}

fn names(port: u16, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| get(port, "/").text().trim().to_string())
        .collect()
}

#[test]
fn roundrobin_alternates_across_new_connections_like_the_seed_lab() {
    let (s1, s2) = (Backend::start("server1"), Backend::start("server2"));
    let port = free_port();
    let _lb = lb_for(
        &format!(
            " server server1 127.0.0.1:{} weight 1 check\n server server2 127.0.0.1:{} weight 1 check\n",
            s1.port, s2.port
        ),
        port,
    );
    // Each curl of the lab is a new connection; the kernel spreads them over the shards,
    // and the rotation must still alternate strictly.
    let got = names(port, 10);
    let expected: Vec<String> = (0..10).map(|i| format!("server{}", i % 2 + 1)).collect();
    assert_eq!(got, expected);
}

#[test]
fn weights_follow_smooth_weighted_round_robin() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let port = free_port();
    let _lb = lb_for(
        &format!(
            " server a 127.0.0.1:{} weight 3\n server b 127.0.0.1:{} weight 1\n",
            a.port, b.port
        ),
        port,
    );
    assert_eq!(names(port, 8), vec!["a", "a", "b", "a", "a", "a", "b", "a"]);
}

#[test]
fn backup_serves_only_when_no_active_server_is_up() {
    let (a, b, c) = (
        Backend::start("a"),
        Backend::start("b"),
        Backend::start("c"),
    );
    let port = free_port();
    let _lb = lb_for(
        &format!(
            " server a 127.0.0.1:{} disabled\n server b 127.0.0.1:{} backup\n server c 127.0.0.1:{}\n",
            a.port, b.port, c.port
        ),
        port,
    );
    assert_eq!(
        names(port, 3),
        vec!["c", "c", "c"],
        "active server c wins over the backup"
    );
    assert_eq!(a.requests(), 0, "disabled servers never get traffic");

    let port = free_port();
    let _lb = lb_for(
        &format!(
            " server a 127.0.0.1:{} disabled\n server b 127.0.0.1:{} backup\n",
            a.port, b.port
        ),
        port,
    );
    assert_eq!(names(port, 3), vec!["b", "b", "b"]);
}

#[test]
fn leastconn_and_first_pick_servers() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let port = free_port();
    let _lb = lb_for(
        &format!(" balance first\n server a 127.0.0.1:{} maxconn 10\n server b 127.0.0.1:{} maxconn 10\n", a.port, b.port),
        port,
    );
    assert_eq!(
        names(port, 3),
        vec!["a", "a", "a"],
        "first fills the first server"
    );

    let port = free_port();
    let _lb = lb_for(
        &format!(
            " balance leastconn\n server a 127.0.0.1:{}\n server b 127.0.0.1:{}\n",
            a.port, b.port
        ),
        port,
    );
    // Two slow requests at once land on different servers.
    let slow = std::thread::spawn(move || get(port, "/slow/400").text());
    std::thread::sleep(std::time::Duration::from_millis(100));
    let quick = get(port, "/slow/100").text();
    let slow = slow.join().unwrap();
    assert_ne!(
        slow, quick,
        "leastconn sends the second request to the idle server"
    );
}
