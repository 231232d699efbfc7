//! `http-request`, `redirect` and `http-response` rules: the same configuration and the same
//! requests through HAProxy 2.6 and ringlb give the same answers, the backend receives the
//! same request heads, and the client the same response headers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::haproxy::through_both;
use crate::harness::{defaults, free_port, Ringlb};

/// A server that answers every request with its head as the body, and response headers for
/// response rules to work on.
pub struct Echo {
    /// Its port.
    pub port: u16,
}

impl Echo {
    /// Starts one on a free port.
    pub fn start() -> Echo {
        Self::named("echo")
    }

    /// Starts one that says `name` in its `X-Server` header.
    pub fn named(name: &str) -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let name = name.to_string();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let name = name.clone();
                std::thread::spawn(move || serve(conn, &name));
            }
        });
        Echo { port }
    }
}

fn serve(conn: TcpStream, name: &str) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    loop {
        let mut head = String::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let path = head.split(' ').nth(1).unwrap_or("");
        let (status, extra) = asked(path);
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\
             X-Multi: ab, cd, aq\r\n{extra}X-Server: {name}\r\n\r\n{head}",
            head.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// The status line and extra header lines a request path asks the echo for: `/st/N` sets
/// the status (not one without a body), `/cc/VALUE` sends `Cache-Control: VALUE` instead of
/// `private` (`none`: no Cache-Control), `/pragma`, `/etag` and `/expires` add a `Pragma:
/// no-cache`, an `ETag` and an `Expires` line; they combine (`/st/404/pragma/cc/none`).
fn asked(path: &str) -> (String, String) {
    let mut status = "200 OK".to_string();
    let mut cache = "private";
    let mut extra = String::new();
    let mut parts = path.split('/').skip(1);
    while let Some(part) = parts.next() {
        match part {
            "st" => status = format!("{} Status", parts.next().unwrap_or("200")),
            "cc" => cache = parts.next().unwrap_or("private"),
            "pragma" => extra.push_str("Pragma: no-cache\r\n"),
            "etag" => extra.push_str("ETag: \"v1\"\r\n"),
            "expires" => extra.push_str("Expires: Thu, 01 Jan 2099 00:00:00 GMT\r\n"),
            _ => {}
        }
    }
    if cache != "none" {
        extra.push_str(&format!("Cache-Control: {cache}\r\n"));
    }
    (status, extra)
}

/// One answer, normalised for comparison: the status code, the response headers rules and
/// answers deal with (names lower-cased, in order), and the body. A body that is the echoed
/// request head is normalised too: header names lower-cased (HAProxy's are), hop-by-hop
/// `connection` lines left out (each proxy writes its own).
fn ask(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("none")
        .to_string();
    const SHOWN: [&str; 13] = [
        "location",
        "cache-control",
        "content-type",
        "content-length",
        "www-authenticate",
        "set-cookie",
        "x-multi",
        "x-resp",
        "x-host-var",
        "x-why",
        "x-server",
        "x-ident",
        "x-status-var",
    ];
    let mut out = format!("{status}\n");
    for line in lines {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let name = name.to_ascii_lowercase();
        if SHOWN.contains(&name.as_str()) {
            out.push_str(&format!("{name}: {}\n", value.trim()));
        }
    }
    out.push('\n');
    push_body(&mut out, body);
    out
}

/// Appends `body` to `out`; a body that is an echoed request head with its header names
/// lower-cased (HAProxy's are) and its `connection` lines left out (each proxy writes its own).
pub fn push_body(out: &mut String, body: &str) {
    if !body.contains(" HTTP/1.") {
        out.push_str(body);
        return;
    }
    for line in body.split("\r\n").filter(|l| !l.is_empty()) {
        match line.split_once(':') {
            Some((n, _)) if n.eq_ignore_ascii_case("connection") => {}
            Some((n, v)) if !line.contains(" HTTP/1.") => {
                out.push_str(&format!("{}:{v}\n", n.to_ascii_lowercase()))
            }
            _ => out.push_str(&format!("{line}\n")),
        }
    }
}

fn config(port: u16, b1: u16, b2: u16) -> String {
    let mut cfg = defaults("");
    cfg.push_str(&format!(
        r#"frontend f
 bind 127.0.0.1:{port}
 http-request deny if {{ path /deny }}
 http-request deny deny_status 429 if {{ path /deny429 }}
 http-request return status 200 content-type text/plain string "hello" if {{ path /ret }}
 http-request return status 404 if {{ path /ret404 }}
 http-request return status 503 content-type application/json lf-string "{{\"src\":\"%[src]\"}}" hdr X-Why maint if {{ path /maint }}
 http-request redirect location /new code 301 if {{ path /old }}
 http-request redirect location https://example.com%[path] code 308 if {{ path_beg /loc/ }}
 http-request redirect prefix /pfx drop-query if {{ path_beg /p/ }}
 http-request redirect prefix /slash append-slash if {{ path_beg /as }}
 http-request redirect scheme https code 303 if {{ path /s }}
 http-request redirect scheme https code 307 if {{ path /s307 }}
 http-request auth realm Foo if {{ path /auth }}
 http-request auth if {{ path /authdef }}
 http-request set-header X-Real-IP %[src]
 http-request add-header X-Added "a b"
 http-request add-header X-Dst %[dst]
 http-request replace-header User-Agent ^(.*)$ ua-\1
 http-request replace-value X-List ^a(.*) Z\1
 http-request del-header X-Secret
 http-request del-header X-Drop- -m beg
 http-request set-header X-Last %[req.hdr(x-m)]
 http-request set-header X-Count %[req.hdr_cnt(x-m)]
 http-request set-header X-Host %[req.hdr(host),lower,field(1,:)]
 http-request set-header X-Empty %[req.hdr(nonexistent)]
 http-request set-var(txn.host) req.hdr(host)
 http-request set-var(txn.path) path
 http-request set-path /rewritten%[path] if {{ path_beg /rw }}
 http-request set-query a=%[query] if {{ path_beg /q }}
 http-request set-uri /uri-set?x=1 if {{ path /seturi }}
 http-request set-query %[url_param(none)] if {{ path_beg /emptyq }}
 http-request redirect prefix / drop-query if {{ path_beg /rootpfx }}
 http-request del-header ^content- -m reg if {{ path /post-reg }}
 http-request set-method PUT if {{ path /put }}
 http-request replace-path ^/rp/(.*) /replaced/\1 if {{ path_beg /rp/ }}
 http-request allow if {{ path /allow }}
 http-request set-header X-After-Allow yes
 http-request set-header X-Seen-Path %[path] if {{ path_beg /rw }}
 use_backend b2 if {{ hdr(x-route) b2 }}
 use_backend b2 if {{ path /rewritten/rw/to-b2 }}
 default_backend b1
backend b1
 http-request set-header X-Backend b1
 http-request deny deny_status 403 if {{ hdr(x-backend-deny) yes }}
 http-response set-header X-Resp 1
 http-response replace-value X-Multi ^a(.*) Z\1
 http-response del-header Cache-Control
 http-response set-header X-Host-Var %[var(txn.host)]
 http-response set-status 299 if {{ var(txn.path) -m str /status }}
 http-response set-header X-Status-Var %[status] if {{ var(txn.path) -m str /status }}
 http-response deny if {{ var(txn.path) -m str /resp-deny }}
 http-response replace-header Set-Cookie (.*)=(.*) \2=\1 if {{ res.hdr(x-server) echo }}
 server s 127.0.0.1:{b1}
backend b2
 option forwardfor
 http-response add-header X-Ident b2
 server s 127.0.0.1:{b2}
"#
    ));
    cfg
}

#[test]
fn request_and_response_rules_act_as_haproxys() {
    let (b1, b2) = (Echo::start(), Echo::start());
    let get = |path: &str, extra: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: Www.Example.com:8080\r\n{extra}Connection: close\r\n\r\n"
        )
    };
    let requests = vec![
        get("/deny", ""),
        get("/deny429", ""),
        get("/ret", ""),
        get("/ret404", ""),
        get("/maint", ""),
        get("/old?x=1", ""),
        get("/loc/a/b?c=d", ""),
        get("/p/x?q=1", ""),
        get("/as/dir?q=1", ""),
        get("/as/dir/", ""),
        get("/s?k=v", ""),
        get("/s307", ""),
        get("/auth", ""),
        get("/authdef", ""),
        get(
            "/plain",
            "User-Agent: curl/8\r\nX-List: ab, cd, aq\r\nX-Secret: s\r\nX-Drop-A: 1\r\nx-drop-b: 2\r\nX-M: 1, 2\r\nX-M: 3\r\n",
        ),
        get("/rw/x?y=1", ""),
        get("/rw/to-b2", ""),
        get("/q/a?b=c", ""),
        get("/seturi", ""),
        get("/emptyq/a?x=1", ""),
        get("/rootpfx/a?b=c", ""),
        "POST /post-reg HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".to_string(),
        get("/put", ""),
        get("/rp/deep/er", ""),
        get("/allow", ""),
        get("/route", "X-Route: b2\r\n"),
        get("/backend", "X-Backend-Deny: yes\r\n"),
        get("/status", ""),
        get("/resp-deny", ""),
    ];
    let run = |port: u16| -> Vec<String> { requests.iter().map(|r| ask(port, r)).collect() };
    let (ours, theirs) = through_both(|port| config(port, b1.port, b2.port), run);
    let mut diffs = Vec::new();
    for ((req, o), t) in requests.iter().zip(&ours).zip(&theirs) {
        // Where the two differ by design: HAProxy lets `del-header -m reg` remove
        // Content-Length and re-frames the body as chunked; ringlb keeps the line. Both send
        // the server one well-framed request.
        if o != t && !req.starts_with("POST /post-reg") {
            diffs.push(format!(
                "--- {}\nringlb:\n{o}\nhaproxy:\n{t}",
                req.lines().next().unwrap_or("")
            ));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    // What they agree on, so two identical mistakes cannot pass.
    let by_path = |p: &str| {
        &ours[requests
            .iter()
            .position(|r| r.contains(&format!("GET {p} ")))
            .unwrap()]
    };
    assert!(
        by_path("/deny").starts_with("403\n"),
        "{}",
        by_path("/deny")
    );
    assert!(by_path("/old?x=1").contains("location: /new\n"));
    assert!(by_path("/p/x?q=1").contains("location: /pfx/p/x\n"));
    assert!(by_path("/auth").contains("www-authenticate: Basic realm=\"Foo\""));
    // `del-header ^content- -m reg` removes Content-Type but never the framing line.
    let post = &ours[requests
        .iter()
        .position(|r| r.starts_with("POST /post-reg"))
        .unwrap()];
    assert!(post.contains("content-length: 5"), "{post}");
    assert!(!post.contains("content-type"), "{post}");
    let plain = by_path("/plain");
    for want in [
        "user-agent: ua-curl/8",
        "x-list: Zb, cd,Zq",
        "x-last: 3",
        "x-count: 3",
        "x-host: www.example.com",
        "x-real-ip: 127.0.0.1",
        "set-cookie: 1=a",
        "x-multi: Zb, cd,Zq",
        "x-host-var: Www.Example.com:8080",
    ] {
        assert!(plain.contains(want), "{want} missing in:\n{plain}");
    }
    for gone in ["x-secret", "x-drop-a", "x-drop-b", "cache-control"] {
        assert!(!plain.contains(gone), "{gone} still in:\n{plain}");
    }
    assert!(by_path("/rw/x?y=1").contains("GET /rewritten/rw/x?y=1 HTTP/1.1"));
    assert!(by_path("/rw/to-b2").contains("x-ident: b2"));
    // `option forwardfor` of the backend a rule chose (not of the default one).
    assert!(by_path("/rw/to-b2").contains("x-forwarded-for: 127.0.0.1"));
    assert!(!by_path("/plain").contains("x-forwarded-for"));
    assert!(by_path("/emptyq/a?x=1").contains("GET /emptyq/a? HTTP/1.1"));
    assert!(by_path("/rootpfx/a?b=c").contains("location: /rootpfx/a\n"));
}

/// Status codes of every response in `raw`, in order.
fn statuses(raw: &str) -> Vec<String> {
    raw.split("HTTP/1.1 ")
        .skip(1)
        .filter_map(|r| r.get(..3).map(str::to_string))
        .collect()
}

#[test]
fn hostile_values_and_kept_connections_as_haproxy() {
    let b1 = Echo::start();
    let config = |port: u16| {
        let mut cfg = defaults("");
        cfg.push_str(&format!(
            "frontend f\n bind 127.0.0.1:{port}\n\
             monitor-uri /alive\n\
             http-request deny if {{ path /alive }} {{ query -m found }}\n\
             http-request set-header X-Dec %[url_param(x),url_dec] if {{ path /inj }}\n\
             http-request set-header X-Big1 %[req.hdr(x-big)] if {{ path /big }}\n\
             http-request add-header X-Big2 %[req.hdr(x-big)] if {{ path /big }}\n\
             http-request add-header X-Big3 %[req.hdr(x-big)] if {{ path /big }}\n\
             http-request return status 200 content-type text/plain string ok if {{ path /ret }}\n\
             http-request deny if {{ path /deny }}\n\
             http-request redirect location /x if {{ path /redir }}\n\
             default_backend b\n\
             backend b\n server s 127.0.0.1:{}\n",
            b1.port
        ));
        cfg
    };
    let big = "b".repeat(6000);
    let keep = |first: &str| {
        format!("GET {first} HTTP/1.1\r\nHost: h\r\n\r\nGET /plain HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    };
    let cases: Vec<(&str, String)> = vec![
        (
            "control bytes from url_dec are escaped",
            "GET /inj?x=q%22h%23d%7fe%c3%a9%09t%25%00z%0d%0aEvil:%201 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".to_string(),
        ),
        (
            "a rewrite past the buffer is a 500",
            format!("GET /big HTTP/1.1\r\nHost: h\r\nX-Big: {big}\r\nConnection: close\r\n\r\n"),
        ),
        ("return keeps the connection", keep("/ret")),
        ("deny keeps the connection", keep("/deny")),
        ("redirect keeps the connection", keep("/redir")),
        ("monitor-uri answers 200 and keeps the connection", keep("/alive")),
        (
            "an answer to HEAD has no body and keeps the connection",
            "HEAD /ret HTTP/1.1\r\nHost: h\r\n\r\nHEAD /deny HTTP/1.1\r\nHost: h\r\n\r\nGET /plain HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".to_string(),
        ),
        ("monitor-uri is the exact target", keep("/alive?x")),
        (
            "an answer before the body arrived closes",
            "POST /deny HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc".to_string(),
        ),
    ];
    let run = |port: u16| -> Vec<(Vec<String>, String, bool)> {
        cases
            .iter()
            .map(|(_, req)| {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(3))).ok();
                s.write_all(req.as_bytes()).unwrap();
                let mut raw = Vec::new();
                let _ = s.read_to_end(&mut raw);
                let raw = String::from_utf8_lossy(&raw).to_string();
                let dec = raw
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("x-dec:"))
                    .map(|l| l[6..].trim().to_string())
                    .unwrap_or_default();
                (statuses(&raw), dec, raw.contains("<html>"))
            })
            .collect()
    };
    let (ours, theirs) = through_both(config, run);
    for (((what, _), o), t) in cases.iter().zip(&ours).zip(&theirs) {
        assert_eq!(o, t, "{what}: ringlb {o:?}, haproxy {t:?}");
    }
    assert_eq!(ours[0].1, "q\"h#d%7Fe\u{e9}\tt%%00z%0D%0AEvil: 1");
    assert_eq!(ours[1].0, ["500"]);
    assert_eq!(ours[2].0, ["200", "200"]);
    assert_eq!(ours[3].0, ["403", "200"]);
    assert_eq!(ours[6].0, ["200", "403", "200"]);
    assert!(!ours[6].2, "no body in answers to HEAD");
    assert!(ours[3].2, "a body in answers to GET");
    assert_eq!(ours[8].0, ["403"]);
    assert_eq!(ours[5].0, ["200", "200"]);
    assert_eq!(ours[7].0, ["403", "200"]);
}

#[test]
fn http_auth_guards_requests_as_haproxy() {
    let b = Echo::start();
    // `openssl passwd -6 -salt saltsalt s3cret`.
    let sha512 = "$6$saltsalt$As4wrv0kZlfch1du9WeH7qhskyLriQWySXrZzynnvi46nFnNxjdpl6ksRegrrKexvhIa/Iny8S8uF3fVWTMuC1";
    let config = |port: u16| {
        let mut cfg = format!(
            "userlist people\n group admins users alice\n user alice password {sha512}\n user bob insecure-password hunter2\n"
        );
        cfg.push_str(&defaults(""));
        cfg.push_str(&format!(
            "frontend f\n bind 127.0.0.1:{port}\n\
             acl valid http_auth(people)\n\
             acl admin http_auth_group(people) admins\n\
             http-request auth realm Private unless valid\n\
             http-request deny if {{ path_beg /admin }} !admin\n\
             default_backend b\n\
             backend b\n server s 127.0.0.1:{}\n",
            b.port
        ));
        cfg
    };
    use base64::Engine as _;
    let basic = |creds: &str| base64::engine::general_purpose::STANDARD.encode(creds);
    let cases = [
        ("/", String::new()),
        (
            "/",
            format!("Authorization: Basic {}\r\n", basic("alice:wrong")),
        ),
        (
            "/",
            format!("Authorization: Basic {}\r\n", basic("alice:s3cret")),
        ),
        (
            "/",
            format!("Authorization: Basic {}\r\n", basic("bob:hunter2")),
        ),
        (
            "/admin",
            format!("Authorization: Basic {}\r\n", basic("bob:hunter2")),
        ),
        (
            "/admin",
            format!("Authorization: Basic {}\r\n", basic("alice:s3cret")),
        ),
        ("/", "Authorization: Bearer abc\r\n".to_string()),
        ("/", "Authorization: Basic !!!\r\n".to_string()),
    ];
    let run = |port: u16| -> Vec<String> {
        cases
            .iter()
            .map(|(path, auth)| {
                let answer = ask(
                    port,
                    &format!("GET {path} HTTP/1.1\r\nHost: h\r\n{auth}Connection: close\r\n\r\n"),
                );
                answer
                    .lines()
                    .take_while(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect()
    };
    // Twice: the second round answers from the shard's cache of verdicts.
    let twice = |port: u16| {
        let first = run(port);
        (first.clone(), run(port) == first)
    };
    let ((ours, cached_same), (theirs, _)) = through_both(config, twice);
    assert!(cached_same, "cached verdicts differ");
    assert_eq!(ours, theirs);
    let codes: Vec<&str> = ours.iter().map(|a| &a[..3]).collect();
    assert_eq!(
        codes,
        ["401", "401", "200", "200", "403", "200", "401", "401"]
    );
    assert!(ours[0].contains("www-authenticate: Basic realm=\"Private\""));
}

#[test]
fn rules_rewrite_every_request_of_a_kept_connection() {
    let b = Echo::start();
    let port = free_port();
    let mut cfg = defaults("");
    cfg.push_str(&format!(
        "frontend f\n bind 127.0.0.1:{port}\n\
         http-request set-header X-Pad %[req.hdr(x-pad)]%[req.hdr(x-pad)]\n\
         http-request set-path /n%[path]\n\
         default_backend b\n\
         backend b\n cookie S insert indirect\n server s 127.0.0.1:{} cookie s\n",
        b.port
    ));
    let _lb = Ringlb::start(&cfg);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    // 200 requests of 3 KB of rewrites each, pipelined eight at a time so they share a
    // buffer: far past its size if what one request wrote were kept for the next.
    let pad = "p".repeat(1500);
    for i in 0..200 {
        if i % 8 == 0 {
            let batch: String = (i..i + 8)
                .map(|j| {
                    format!("GET /r{j} HTTP/1.1\r\nHost: h\r\nCookie: S=s\r\nX-Pad: {pad}\r\n\r\n")
                })
                .collect();
            s.write_all(batch.as_bytes()).unwrap();
        }
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "request {i}: {status}");
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(body.starts_with(&format!("GET /n/r{i} HTTP/1.1")), "{body}");
        assert!(
            !body.to_ascii_lowercase().contains("cookie:"),
            "indirect: {body}"
        );
    }
}

/// An absolute-form target names the site: a Host line naming another is refused (as
/// HAProxy refuses it), and without one the authority is the Host rules and switching see,
/// and the only one the server gets, with the target in origin form.
#[test]
fn absolute_form_targets_are_judged_by_their_authority_as_haproxy() {
    let (b1, b2) = (Echo::named("one"), Echo::named("two"));
    let config = |port: u16| {
        let mut cfg = defaults("");
        cfg.push_str(&format!(
            "frontend f\n bind 127.0.0.1:{port}\n\
             http-request deny if {{ hdr(host) -i admin.example }}\n\
             http-request set-header Host internal.example if {{ path /rewrite }}\n\
             use_backend two if {{ hdr(host) -i two.example }}\n\
             default_backend one\n\
             backend one\n server s 127.0.0.1:{}\n\
             backend two\n server s 127.0.0.1:{}\n",
            b1.port, b2.port
        ));
        cfg
    };
    let cases = [
        "GET http://admin.example/x HTTP/1.1\r\nHost: www.example\r\nConnection: close\r\n\r\n",
        "GET http://two.example/y?z=1 HTTP/1.1\r\nHost: one.example\r\nConnection: close\r\n\r\n",
        "GET http://evil.example/rewrite HTTP/1.1\r\nHost: x.example\r\nConnection: close\r\n\r\n",
    ];
    let run = |port: u16| -> Vec<String> {
        cases
            .iter()
            .map(|c| {
                let answer = ask(port, c);
                // What matters: the status, who answered, the target and every Host line the
                // server got (the target's form may differ: HAProxy keeps absolute form).
                answer
                    .lines()
                    .filter(|l| l.len() == 3 || l.starts_with("x-server") || l.starts_with("host:"))
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect()
    };
    let (ours, theirs) = through_both(config, run);
    assert_eq!(ours, theirs);
    // A Host that names another site than the target is refused before any rule runs.
    assert_eq!(ours, ["400", "400", "400"]);
    // Without a Host (HTTP/1.0) the authority is the Host rules see and may rewrite, and
    // the only one the server gets.
    let port = free_port();
    let _lb = Ringlb::start(&config(port));
    let one_oh = |target: &str| ask(port, &format!("GET {target} HTTP/1.0\r\n\r\n"));
    assert!(one_oh("http://admin.example/x").starts_with("403\n"));
    let two = one_oh("http://two.example/y?z=1");
    assert!(
        two.contains("x-server: two") && two.contains("GET /y?z=1 HTTP/1.0"),
        "{two}"
    );
    let rewritten = one_oh("http://evil.example/rewrite");
    assert_eq!(rewritten.matches("host:").count(), 1, "{rewritten}");
    assert!(
        rewritten.contains("host: internal.example") && rewritten.contains("GET /rewrite "),
        "{rewritten}"
    );
}

/// Rules that change whether a response has a body (`set-status 204`, `set-method` to or
/// from HEAD) close the client connection after that response: the body goes on as the
/// server framed it, and no next response may be read from inside it.
#[test]
fn rules_that_change_body_framing_close_the_connection() {
    let b = Echo::start();
    let port = free_port();
    let mut cfg = defaults("");
    cfg.push_str(&format!(
        "frontend f\n bind 127.0.0.1:{port}\n\
         http-request set-method GET if {{ path /head-to-get }}\n\
         http-request set-var(txn.p) path\n\
         default_backend b\n\
         backend b\n http-response set-status 204 if {{ var(txn.p) -m str /no-content }}\n\
         server s 127.0.0.1:{}\n",
        b.port
    ));
    let _lb = Ringlb::start(&cfg);
    for first in ["GET /no-content", "HEAD /head-to-get"] {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        write!(
            s,
            "{first} HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n"
        )
        .unwrap();
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let raw = String::from_utf8_lossy(&raw);
        assert_eq!(statuses(&raw).len(), 1, "{first}: {raw}");
        assert!(
            raw.to_ascii_lowercase().contains("connection: close"),
            "{first}: {raw}"
        );
        assert!(
            !raw.contains("GET /next"),
            "{first}: the next request was not served: {raw}"
        );
    }
    // Without such a rule the connection stays open for the next request.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(
        s,
        "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    assert_eq!(statuses(&String::from_utf8_lossy(&raw)).len(), 2);
}

/// `option forwardfor if-none` looks at the head the rules left, in the backend switching
/// chose: a rule that removes the client's header gets the proxy's added, one that sets it
/// keeps the proxy's out, as HAProxy decides.
#[test]
fn forwardfor_if_none_sees_the_head_after_rules_and_switching_as_haproxy() {
    let (plain, guarded) = (Echo::named("plain"), Echo::named("guarded"));
    let config = |port: u16| {
        let mut cfg = defaults("");
        cfg.push_str(&format!(
            "frontend f\n bind 127.0.0.1:{port}\n\
             http-request del-header X-Forwarded-For if {{ path_beg /strip }}\n\
             http-request set-header X-Forwarded-For 192.0.2.7 if {{ path_beg /set }}\n\
             use_backend guarded if {{ path_end /g }}\n\
             default_backend plain\n\
             backend plain\n server s 127.0.0.1:{}\n\
             backend guarded\n option forwardfor if-none\n server s 127.0.0.1:{}\n",
            plain.port, guarded.port
        ));
        cfg
    };
    let cases: Vec<String> = ["/strip/g", "/set/g", "/keep/g", "/keep", "/strip/x"]
        .iter()
        .flat_map(|path| {
            ["X-Forwarded-For: 198.51.100.1\r\n", ""].map(|xff| {
                format!("GET {path} HTTP/1.1\r\nHost: h\r\n{xff}Connection: close\r\n\r\n")
            })
        })
        .collect();
    let run = |port: u16| -> Vec<String> {
        cases
            .iter()
            .map(|c| {
                ask(port, c)
                    .lines()
                    .filter(|l| l.starts_with("x-server") || l.starts_with("x-forwarded-for"))
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect()
    };
    let (ours, theirs) = through_both(config, run);
    assert_eq!(ours, theirs, "ringlb vs HAProxy");
    assert_eq!(
        ours[0], "x-server: guarded|x-forwarded-for: 127.0.0.1",
        "a removed header is added back: {ours:?}"
    );
}
