//! Content switching (`use_backend … if|unless COND`): the same configuration and requests
//! through HAProxy 2.6 and ringlb pick the same backends.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::backend::Backend;
use crate::haproxy::through_both;
use crate::harness::defaults;

/// The body of `GET path` with `Host: host` (the backend's name), or the status line.
fn ask(port: u16, path: &str, host: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    match out.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => body.trim().to_string(),
        _ => out.lines().next().unwrap_or("").to_string(),
    }
}

#[test]
fn use_backend_rules_route_as_haproxy_does() {
    let backends: Vec<Backend> = ["api", "static", "hostb", "web", "admin"]
        .iter()
        .map(|n| Backend::start(n))
        .collect();
    // Each proxy on a port of its own: the first may still be letting go of its port.
    let config = |port: u16| -> String {
        let mut cfg = defaults("");
        cfg.push_str(&format!(
            "frontend f\n bind 127.0.0.1:{port}\n\
         acl is_api path_beg /api/ /v2/api\n\
         acl is_static path_end -i .css .js\n\
         acl host_b hdr(host) -i b.example.com\n\
         acl admin_net src 127.0.0.0/8\n\
         acl has_debug url_param(debug) -m found\n\
         use_backend api if is_api !has_debug\n\
         use_backend static if is_static || {{ path_reg ^/img/[a-z]+\\.png$ }}\n\
         use_backend hostb if host_b\n\
         use_backend admin if {{ path /admin }} admin_net METH_GET\n\
         use_backend web unless {{ hdr_cnt(x-never) gt 0 }}\n\
         default_backend api\n"
        ));
        for (name, b) in ["api", "static", "hostb", "web", "admin"]
            .iter()
            .zip(&backends)
        {
            cfg.push_str(&format!("backend {name}\n server s 127.0.0.1:{}\n", b.port));
        }
        cfg
    };
    let requests = [
        ("/api/users", "a.example.com"),
        ("/api/users?debug=1", "a.example.com"),
        ("/v2/api/x", "b.example.com"),
        ("/style/site.CSS", "a.example.com"),
        ("/img/logo.png", "a.example.com"),
        ("/img/Logo.png", "a.example.com"),
        ("/index.html", "B.Example.COM"),
        // HAProxy 2.6 keeps `:80` in an origin-form request's Host (seen in this test).
        ("/index.html", "b.example.com:80"),
        ("/index.html", "b.example.com:8080"),
        ("/admin", "a.example.com"),
        ("/admin/", "a.example.com"),
        ("/", "a.example.com"),
    ];
    let run =
        |port: u16| -> Vec<String> { requests.iter().map(|(p, h)| ask(port, p, h)).collect() };
    let (ours, theirs) = through_both(config, run);
    assert_eq!(ours, theirs, "ringlb vs HAProxy for {requests:?}");
    // And what that is, so the test cannot pass on two identical mistakes.
    assert_eq!(
        ours,
        [
            "api", "web", "api", "static", "static", "web", "hostb", "web", "web", "admin", "web",
            "web"
        ]
    );
}

#[test]
fn dynamic_backend_names_route_as_haproxy_does() {
    let backends: Vec<Backend> = ["api", "web", "fallback"]
        .iter()
        .map(|n| Backend::start(n))
        .collect();
    let config = |port: u16| -> String {
        let mut cfg = defaults("");
        cfg.push_str(&format!(
            "frontend f\n bind 127.0.0.1:{port}\n\
             use_backend %[req.hdr(host),lower,field(1,.)] if {{ hdr(host) -m found }}\n\
             use_backend web\n\
             default_backend fallback\n"
        ));
        for (name, b) in ["api", "web", "fallback"].iter().zip(&backends) {
            cfg.push_str(&format!("backend {name}\n server s 127.0.0.1:{}\n", b.port));
        }
        cfg
    };
    let hosts = [
        "api.example.com",
        "WEB.example.com",
        "nosuch.example.com",
        "",
    ];
    let run = |port: u16| -> Vec<String> {
        hosts
            .iter()
            .map(|h| {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).ok();
                // Without a Host line, HTTP/1.0 (ringlb refuses an HTTP/1.1 request without one).
                let request = if h.is_empty() {
                    "GET / HTTP/1.0\r\n\r\n".to_string()
                } else {
                    format!("GET / HTTP/1.1\r\nHost: {h}\r\nConnection: close\r\n\r\n")
                };
                s.write_all(request.as_bytes()).unwrap();
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                match out.split_once("\r\n\r\n") {
                    Some((head, body)) if head.contains(" 200 ") => body.trim().to_string(),
                    _ => out.lines().next().unwrap_or("").to_string(),
                }
            })
            .collect()
    };
    let (ours, theirs) = through_both(config, run);
    assert_eq!(ours, theirs, "ringlb vs HAProxy for {hosts:?}");
    assert_eq!(ours, ["api", "web", "fallback", "web"]);
}
