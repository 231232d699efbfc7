//! Cookie persistence (`cookie NAME insert|rewrite|prefix …`, server `cookie VALUE`,
//! `option persist`): the same configuration and requests through HAProxy 2.6 and ringlb
//! reach the same servers, which see the same cookies, and the clients get the same
//! `Set-Cookie` and `Cache-Control` lines.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::haproxy::through_both;
use crate::harness::{defaults, free_port};
use crate::rewrite::Echo;

fn config(port: u16, one: u16, two: u16, dead: u16) -> String {
    let mut cfg = defaults("");
    cfg.push_str(&format!(
        "frontend f\n bind 127.0.0.1:{port}\n\
         use_backend plain if {{ path_beg /plain }}\n\
         use_backend rw if {{ path_beg /rw }}\n\
         use_backend pfx if {{ path_beg /pfx }}\n\
         use_backend post if {{ path_beg /post }}\n\
         use_backend pres if {{ path_beg /pres }}\n\
         use_backend maint if {{ path_beg /maint }}\n\
         use_backend down if {{ path_beg /down }}\n\
         use_backend persist if {{ path_beg /persist }}\n\
         default_backend ins\n"
    ));
    let pair = |name: &str, line: &str, extra: &str| {
        format!(
            "backend {name}\n {line}\n{extra} server s1 127.0.0.1:{one} cookie one\n server s2 127.0.0.1:{two} cookie two\n"
        )
    };
    cfg.push_str(&pair(
        "ins",
        "cookie SRV insert indirect nocache httponly secure domain .example.com",
        "",
    ));
    cfg.push_str(&pair("plain", "cookie SRV insert", ""));
    cfg.push_str(&pair("rw", "cookie a rewrite", ""));
    cfg.push_str(&pair("pfx", "cookie b prefix", ""));
    cfg.push_str(&pair("post", "cookie SRV insert postonly", ""));
    cfg.push_str(&pair("pres", "cookie a insert preserve", ""));
    cfg.push_str(&format!(
        "backend maint\n cookie SRV insert\n server s1 127.0.0.1:{one} cookie one\n server s2 127.0.0.1:{two} cookie two disabled\n"
    ));
    for (name, option) in [("down", ""), ("persist", " option persist\n")] {
        cfg.push_str(&format!(
            "backend {name}\n cookie SRV insert\n retries 0\n{option} server s1 127.0.0.1:{one} cookie one\n server dead 127.0.0.1:{dead} cookie dead check inter 100 fall 1\n"
        ));
    }
    cfg
}

/// The answering server, the response's cookie lines and the Cookie line the server saw.
fn ask(port: u16, method: &str, path: &str, cookie: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let body = if method == "POST" {
        "Content-Length: 0\r\n"
    } else {
        ""
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: h\r\n{cookie}{body}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw.split(' ').nth(1).unwrap_or("none").to_string();
    let mut out = vec![status];
    for line in raw.lines() {
        let lower = line.to_ascii_lowercase();
        if ["x-server:", "set-cookie:", "cache-control:", "cookie:"]
            .iter()
            .any(|p| lower.starts_with(p))
        {
            out.push(format!(
                "{}:{}",
                lower.split(':').next().unwrap_or(""),
                line.split_once(':').map_or("", |x| x.1)
            ));
        }
    }
    out.join(" | ")
}

#[test]
fn cookie_persistence_as_haproxy() {
    let (one, two) = (Echo::named("one"), Echo::named("two"));
    let dead = free_port();
    let cases: Vec<(&str, &str, &str)> = vec![
        ("GET", "/", ""),
        ("GET", "/", "Cookie: SRV=two\r\n"),
        ("GET", "/", "Cookie: x=1; SRV=one; y=2\r\n"),
        ("GET", "/", "Cookie: SRV=bogus\r\n"),
        ("GET", "/cc/max-age=60", ""),
        ("GET", "/cc/public", ""),
        ("GET", "/cc/max-age=60,%20private", ""),
        // What HAProxy counts as cacheable (and `nocache` marks private): the answer to a
        // safe method with a status cacheable by default, an expiry or a validator, unless
        // Pragma or Cache-Control say otherwise; a `public` overrides the method and status.
        ("GET", "/cc/none", ""),
        ("GET", "/cc/none/etag", ""),
        ("GET", "/cc/none/expires", ""),
        ("OPTIONS", "/cc/max-age=9", ""),
        ("POST", "/cc/max-age=9", ""),
        ("GET", "/st/404/cc/s-maxage=9", ""),
        ("GET", "/st/302/cc/max-age=9", ""),
        ("GET", "/st/302/cc/public/etag", ""),
        ("POST", "/cc/public,max-age=9", ""),
        ("GET", "/pragma/cc/public/etag", ""),
        ("GET", "/cc/max-age=0/etag", ""),
        ("GET", "/cc/MAX-AGE=0,public", ""),
        ("GET", "/cc/no-cache=x,max-age=9", ""),
        ("GET", "/cc/no-store,public,max-age=9", ""),
        ("GET", "/plain", "Cookie: SRV=one\r\n"),
        ("GET", "/plain", "Cookie: SRV=two; SRV=one\r\n"),
        ("GET", "/rw", ""),
        ("GET", "/rw", "Cookie: a=two\r\n"),
        ("GET", "/pfx", ""),
        ("GET", "/pfx", "Cookie: b=two~xyz; c=3\r\n"),
        ("GET", "/post", ""),
        ("POST", "/post", ""),
        ("GET", "/pres", ""),
        ("GET", "/maint", "Cookie: SRV=two\r\n"),
        ("GET", "/down", "Cookie: SRV=dead\r\n"),
        ("GET", "/persist", "Cookie: SRV=dead\r\n"),
        ("GET", "/persist", "Cookie: SRV=one\r\n"),
    ];
    let run = |port: u16| -> Vec<String> {
        // Both mark `dead` down after one failed check (100 ms apart).
        std::thread::sleep(Duration::from_millis(1500));
        cases.iter().map(|(m, p, c)| ask(port, m, p, c)).collect()
    };
    let (ours, theirs) = through_both(|port| config(port, one.port, two.port, dead), run);
    let mut diffs = Vec::new();
    for (((m, p, c), o), t) in cases.iter().zip(&ours).zip(&theirs) {
        if o != t {
            diffs.push(format!("{m} {p} {c:?}\n  ringlb:  {o}\n  haproxy: {t}"));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    assert!(
        ours[0].contains("x-server: one")
            && ours[0]
                .contains("set-cookie: SRV=one; path=/; domain=.example.com; HttpOnly; Secure"),
        "{}",
        ours[0]
    );
    assert!(
        ours[1].contains("x-server: two") && !ours[1].contains("set-cookie: SRV"),
        "{}",
        ours[1]
    );
    assert!(ours[2].contains("cookie: x=1; y=2"), "{}", ours[2]);
    let down = cases
        .iter()
        .position(|c| c.1 == "/persist" && c.2.contains("dead"))
        .expect("the case");
    assert!(
        ours[down].starts_with("503"),
        "option persist sends to the down server: {}",
        ours[down]
    );
    // `nocache` did act (and not only where HAProxy agrees it should not).
    let marked = |path: &str| {
        let at = cases.iter().position(|c| c.1 == path).expect("a case");
        ours[at].ends_with("cache-control: private")
    };
    assert!(marked("/cc/none/etag") && !marked("/cc/none"));
}
