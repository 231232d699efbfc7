//! Server connections private to one client (PROXY header sent, NTLM authenticated): which
//! requests take them, against HAProxy's choices for the same config and requests.

use std::collections::HashMap;

use crate::client::Conn;
use crate::haproxy::through_both;
use crate::harness::defaults;
use crate::raw::RawBackend;

/// A keep-alive server named `name` whose answers say which of its connections served them;
/// when `ntlm`, a request without `Authorization` gets a 401 asking for NTLM.
fn named_server(name: &'static str, ntlm: bool) -> RawBackend {
    RawBackend::start(move |peer| {
        while let Some(head) = peer.read_head() {
            let body = format!("{name}{}", peer.id);
            // HAProxy sends header names in lower case.
            let challenge = ntlm && !head.to_ascii_lowercase().contains("authorization: ntlm");
            let status = if challenge {
                "401 Unauthorized\r\nWWW-Authenticate: NTLM"
            } else {
                "200 OK"
            };
            peer.write(
                format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    })
}

/// The config: round-robin over `a` and `b` with `server_options`, and cookie persistence.
fn config(port: u16, a: &RawBackend, b: &RawBackend, server_options: &str) -> String {
    format!(
        "{}frontend f\n bind 127.0.0.1:{port}\n default_backend be\n\
         backend be\n balance roundrobin\n cookie SRV insert indirect\n\
         server a 127.0.0.1:{} cookie a {server_options}\n\
         server b 127.0.0.1:{} cookie b {server_options}\n",
        defaults(""),
        a.port,
        b.port
    )
}

/// Who answered each of `requests` sent one after another on one connection: the server's
/// name and the order in which this run first saw the connection (`a#0`, `b#1`, `a#0`, …).
fn answers(port: u16, requests: &[&str]) -> Vec<String> {
    let mut conn = Conn::open(port);
    let mut order: HashMap<String, usize> = HashMap::new();
    requests
        .iter()
        .map(|headers| {
            conn.send(format!("GET / HTTP/1.1\r\nHost: t\r\n{headers}\r\n").as_bytes());
            let response = conn.response(false).expect("response");
            let who = response.text();
            let next = order.len();
            let seen = *order.entry(who.clone()).or_insert(next);
            format!("{}#{seen} {}", &who[..1], response.status)
        })
        .collect()
}

#[test]
fn send_proxy_connections_serve_the_server_balancing_or_a_cookie_picks() {
    let (a, b) = (named_server("a", false), named_server("b", false));
    // Balanced four times (a b a b, one connection each), pinned to b by its cookie three
    // times, balanced again.
    let pinned = "Cookie: SRV=b\r\n";
    let requests = ["", "", "", "", pinned, pinned, pinned, ""];
    let (ours, theirs) = through_both(
        |port| config(port, &a, &b, "send-proxy"),
        |port| answers(port, &requests),
    );
    assert_eq!(ours, theirs, "ringlb vs HAProxy");
    assert_eq!(
        ours,
        ["a#0 200", "b#1 200", "a#0 200", "b#1 200", "b#1 200", "b#1 200", "b#1 200", "a#0 200"],
        "each server's connection serves it again, and no other"
    );
}

#[test]
fn an_ntlm_authenticated_connection_draws_its_client_back_unless_a_cookie_says_otherwise() {
    let (a, b) = (named_server("a", true), named_server("b", true));
    let login = "Authorization: NTLM TlRMTVNTUAAB\r\n";
    let to_b = "Cookie: SRV=b\r\n";
    // Challenged, then authenticated on the same connection, again, then sent to b by a
    // cookie (which wins), then back on the server b authenticated now.
    let requests = ["", login, login, to_b, login, login];
    let (ours, theirs) = through_both(
        |port| config(port, &a, &b, ""),
        |port| answers(port, &requests),
    );
    assert_eq!(ours, theirs, "ringlb vs HAProxy");
    assert_eq!(ours[..3], ["a#0 401", "a#0 200", "a#0 200"], "{ours:?}");
}
