//! Coordinated omission: a server that stalls once for 200 ms must show in the
//! open-loop p99 (latency from the intended send time), but not in the closed-loop p99.

mod common;

use std::time::Duration;

use common::{loadgen, num, ok, serve};

/// A server whose 300th request is answered after a 200 ms stall.
fn stall_once_server() -> common::Server {
    serve(|w, req| {
        if req.index == 300 {
            std::thread::sleep(Duration::from_millis(200));
        }
        ok(w, "server1")
    })
}

#[test]
fn stall_shows_in_open_loop_p99_only() {
    let s = stall_once_server();
    let open = loadgen(&["-c", "2", "-R", "1000", "-d", "2s", &s.url("/")]);
    assert_eq!(open.code, 0, "{}{}", open.stdout, open.stderr);
    assert_eq!(num(&open.json["errors_total"]), 0);
    // The stalled connection's next ~100 scheduled requests (one every 2 ms) wait
    // behind the stall: ~2.5% of all requests are late by more than 100 ms.
    let open_p99 = num(&open.json["latency"]["p99"]);
    assert!(
        open_p99 >= 80_000,
        "open-loop p99 {open_p99}us should show the 200ms stall"
    );

    let s = stall_once_server();
    let closed = loadgen(&["-c", "2", "-d", "2s", &s.url("/")]);
    assert_eq!(closed.code, 0, "{}{}", closed.stdout, closed.stderr);
    let closed_p99 = num(&closed.json["latency"]["p99"]);
    let closed_max = num(&closed.json["latency"]["max"]);
    println!("open-loop p99 {open_p99}us; closed-loop p99 {closed_p99}us, max {closed_max}us");
    assert!(
        closed_max >= 150_000,
        "the stall happened (max {closed_max}us)"
    );
    assert!(
        closed_p99 < 30_000 && closed_p99 * 4 < open_p99,
        "closed-loop p99 {closed_p99}us should hide the stall (open {open_p99}us)"
    );
}
