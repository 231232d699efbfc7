//! The stats page of a `listen stats` section, served by the control thread: HAProxy's
//! access rules, admin actions that traffic follows, and the CSV export, compared with
//! HAProxy 2.6 on the same configuration.

use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::backend::Backend;
use crate::client::{self, Conn, Response};
use crate::haproxy::{Haproxy, StatTable};
use crate::harness::{free_port, Ringlb};

/// The seed's stats section and userlist, a frontend and a backend of `servers`.
fn seed_config(stats: u16, front: u16, servers: &[(&str, u16)]) -> String {
    let mut cfg = format!(
        "userlist stats-auth\n group admin users admin\n user admin insecure-password XJsXMFgsr2doAEUg0mCf0\n group readonly users guest\n user guest insecure-password guest\n\
         defaults\n mode http\n balance roundrobin\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         listen stats\n bind 127.0.0.1:{stats}\n mode http\n stats enable\n stats uri /haproxy\n acl AUTH http_auth(stats-auth)\n acl AUTH_ADMIN http_auth_group(stats-auth) admin\n stats http-request auth unless AUTH\n stats admin if AUTH_ADMIN\n\
         frontend servers\n bind 127.0.0.1:{front}\n default_backend servers\n\
         backend servers\n"
    );
    for (name, port) in servers {
        cfg.push_str(&format!(" server {name} 127.0.0.1:{port} weight 1\n"));
    }
    cfg
}

const ADMIN: &str = "admin:XJsXMFgsr2doAEUg0mCf0";

/// One request on its own connection, with Basic credentials if given.
fn request(port: u16, method: &str, target: &str, user: Option<&str>, body: &str) -> Response {
    let mut conn = Conn::open(port);
    let auth = user.map_or(String::new(), |u| {
        format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(u)
        )
    });
    let extra = if method == "POST" {
        format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        )
    } else {
        String::new()
    };
    conn.send(
        format!(
            "{method} {target} HTTP/1.1\r\nHost: t\r\n{auth}{extra}Connection: close\r\n\r\n{body}"
        )
        .as_bytes(),
    );
    conn.response(method == "HEAD").expect("response")
}

/// (status, realm) of a GET of the stats page with `user`.
fn access(port: u16, user: Option<&str>) -> (u16, Option<String>) {
    let r = request(port, "GET", "/haproxy", user, "");
    (r.status, r.header("www-authenticate"))
}

#[test]
fn the_seed_stats_page_asks_for_credentials_as_haproxy_does() {
    let a = Backend::start("server1");
    let (stats, front) = (free_port(), free_port());
    let cfg = seed_config(stats, front, &[("server1", a.port)]);
    let users = [
        None,
        Some("guest:guest"),
        Some(ADMIN),
        Some("guest:wrong"),
        Some("nobody:guest"),
    ];
    let ours: Vec<_> = {
        let _lb = Ringlb::start(&cfg);
        users.iter().map(|u| access(stats, *u)).collect()
    };
    let theirs: Vec<_> = {
        let _hx = Haproxy::start_on_port(&cfg, stats);
        users.iter().map(|u| access(stats, *u)).collect()
    };
    assert_eq!(ours, theirs, "ringlb against HAProxy for {users:?}");
    assert_eq!(
        ours[0],
        (401, Some("Basic realm=\"HAProxy Statistics\"".to_string()))
    );
    assert_eq!(ours[1].0, 200);
    assert_eq!(ours[2].0, 200);
}

#[test]
fn csv_header_and_counts_match_haproxy_for_the_same_requests() {
    let (a, b) = (Backend::start("server1"), Backend::start("server2"));
    let (stats, front) = (free_port(), free_port());
    let cfg = seed_config(stats, front, &[("server1", a.port), ("server2", b.port)]);
    let csv = |requests: usize| {
        for _ in 0..requests {
            assert_eq!(client::get(front, "/").status, 200);
        }
        // Each client closed its connection: let both proxies see it before counting `scur`.
        std::thread::sleep(Duration::from_millis(200));
        let r = request(stats, "GET", "/haproxy;csv", Some("guest:guest"), "");
        assert_eq!(r.status, 200);
        r.text()
    };
    let ours = {
        let _lb = Ringlb::start(&cfg);
        // The same probe connection `Haproxy::start_on_port` makes: both count it.
        drop(std::net::TcpStream::connect(("127.0.0.1", stats)).unwrap());
        std::thread::sleep(Duration::from_millis(50));
        csv(10)
    };
    let theirs = {
        let _hx = Haproxy::start_on_port(&cfg, stats);
        csv(10)
    };
    let table = |text: &str| -> (Vec<String>, Vec<Vec<String>>) {
        for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
            assert!(line.ends_with(','), "every line ends with a comma: {line}");
        }
        let table = StatTable::parse(text);
        (table.columns, table.rows)
    };
    let (our_header, our_rows) = table(&ours);
    let (their_header, their_rows) = table(&theirs);
    assert_eq!(our_header, their_header, "the CSV header");
    assert_eq!(our_rows.len(), their_rows.len(), "{ours}\n---\n{theirs}");
    let col = |name: &str| our_header.iter().position(|c| c == name).unwrap();
    let compared = [
        "pxname",
        "svname",
        "stot",
        "status",
        "weight",
        "act",
        "bck",
        "iid",
        "sid",
        "type",
        "lbtot",
        "hrsp_2xx",
        "hrsp_5xx",
        "req_tot",
        "econ",
        "eresp",
        "mode",
        "algo",
        "scur",
        "qcur",
        "cli_abrt",
        "srv_abrt",
        "wretr",
        "wredis",
        "ereq",
        "hrsp_4xx",
        "conn_tot",
        "intercepted",
    ];
    for (ours, theirs) in our_rows.iter().zip(&their_rows) {
        for name in compared {
            // HAProxy 2.6.12 leaves `algo` empty when `balance` is set in `defaults` and
            // names it when left to its default (seen in its own output): ringlb always
            // names it, checked below.
            if name == "algo" {
                continue;
            }
            let i = col(name);
            assert_eq!(
                ours.get(i),
                theirs.get(i),
                "column {name} of row {}/{}:\nringlb  {ours:?}\nhaproxy {theirs:?}",
                ours[0],
                ours[1]
            );
        }
    }
    assert!(
        ours.contains("servers,BACKEND,")
            && ours
                .lines()
                .any(|l| l.starts_with("servers,BACKEND,") && l.contains(",http,roundrobin,")),
        "{ours}"
    );
    // And the counts are the requests sent: 5 to each server, 10 through the frontend.
    let row = |svname: &str, pxname: &str| {
        our_rows
            .iter()
            .find(|r| r[0] == pxname && r[1] == svname)
            .unwrap()
            .clone()
    };
    assert_eq!(row("server1", "servers")[col("stot")], "5");
    assert_eq!(row("server2", "servers")[col("hrsp_2xx")], "5");
    assert_eq!(row("BACKEND", "servers")[col("req_tot")], "10");
    assert_eq!(row("FRONTEND", "servers")[col("req_tot")], "10");
}

/// Requests reaching each backend over `n` requests through the frontend.
fn spread(front: u16, n: usize, a: &Backend, b: &Backend) -> (usize, usize) {
    let (a0, b0) = (a.requests(), b.requests());
    for _ in 0..n {
        client::get(front, "/");
    }
    (a.requests() - a0, b.requests() - b0)
}

#[test]
fn only_admins_act_from_the_page_and_traffic_follows() {
    let (a, b) = (Backend::start("server1"), Backend::start("server2"));
    let (stats, front) = (free_port(), free_port());
    let _lb = Ringlb::start(&seed_config(
        stats,
        front,
        &[("server1", a.port), ("server2", b.port)],
    ));
    let post = |user: &str, form: &str| {
        let r = request(stats, "POST", "/haproxy", Some(user), form);
        assert_eq!(r.status, 303, "{}", r.head);
        r.header("location").unwrap()
    };
    // The guest sees no form, and a crafted post changes nothing.
    let page = request(stats, "GET", "/haproxy", Some("guest:guest"), "").text();
    assert!(!page.contains("method=\"post\""), "no form for the guest");
    assert_eq!(
        post("guest:guest", "s=server1&action=maint&b=servers"),
        "/haproxy;st=DENY"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(spread(front, 20, &a, &b), (10, 10), "still both servers");

    // The admin drains server1: new requests all go to server2 within 100 ms.
    assert_eq!(
        post(ADMIN, "s=server1&action=drain&b=servers"),
        "/haproxy;st=DONE"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(spread(front, 20, &a, &b), (0, 20), "server1 drained");
    let csv = request(stats, "GET", "/haproxy;csv", Some("guest:guest"), "").text();
    assert!(
        csv.lines()
            .any(|l| l.starts_with("servers,server1,") && l.contains(",DRAIN,")),
        "{csv}"
    );
    // Ready again (the form names the backend by its id, as HAProxy's page posts it).
    let iid = csv
        .lines()
        .find(|l| l.starts_with("servers,BACKEND,"))
        .and_then(|l| l.split(',').nth(27))
        .unwrap()
        .to_string();
    assert_eq!(
        post(ADMIN, &format!("s=server1&action=ready&b=%23{iid}")),
        "/haproxy;st=DONE"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(spread(front, 20, &a, &b), (10, 10), "server1 back");
    // A weight from the page: 3 against 1.
    assert_eq!(
        post(ADMIN, "s=server1&action=weight&weight=3&b=servers"),
        "/haproxy;st=DONE"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(spread(front, 40, &a, &b), (30, 10), "weights 3:1");
    assert_eq!(
        post(ADMIN, "s=server1&action=weight&weight=300&b=servers"),
        "/haproxy;st=ERRP",
        "out of range"
    );
    assert_eq!(
        post(ADMIN, "s=server1&action=weight&weight=100%25&b=servers"),
        "/haproxy;st=DONE"
    );
    // Nothing selected, an unknown action, an unknown backend.
    assert_eq!(post(ADMIN, "action=maint&b=servers"), "/haproxy;st=NONE");
    assert_eq!(
        post(ADMIN, "s=server1&action=explode&b=servers"),
        "/haproxy;st=ERRP"
    );
    assert_eq!(
        post(ADMIN, "s=server1&action=maint&b=nope"),
        "/haproxy;st=ERRP"
    );
}

#[test]
fn hostile_stats_clients_get_an_answer_and_harm_no_one() {
    let a = Backend::start("server1");
    let (stats, front) = (free_port(), free_port());
    let _lb = Ringlb::start(&seed_config(stats, front, &[("server1", a.port)]));
    // A client that connects and says nothing does not hold the page for others.
    let _silent = std::net::TcpStream::connect(("127.0.0.1", stats)).unwrap();
    // A head that never ends is refused with 400, not read forever.
    let mut conn = Conn::open(stats);
    let mut huge = b"GET /haproxy HTTP/1.1\r\nX: ".to_vec();
    huge.resize(40_000, b'a');
    let _ = conn.try_send(&huge);
    let answer = conn.response(false);
    assert!(
        answer.as_ref().map_or(true, |r| r.status == 400),
        "{answer:?}"
    );
    // Garbage, a bad Content-Length, a form too large for an admin.
    assert_eq!(request(stats, "BREW", "/haproxy", None, "").status, 405);
    let r = request(
        stats,
        "POST",
        "/haproxy",
        Some(ADMIN),
        &"s=x&".repeat(20_000),
    );
    assert_eq!(r.header("location").as_deref(), Some("/haproxy;st=EXCD"));
    // Meanwhile the page and the traffic are served at once.
    let started = Instant::now();
    assert_eq!(access(stats, Some("guest:guest")).0, 200);
    assert_eq!(client::get(front, "/").status, 200);
    assert!(started.elapsed() < Duration::from_secs(1));
    // Outside the stats URI: HAProxy's 503 (no server in a stats section).
    assert_eq!(request(stats, "GET", "/other", None, "").status, 503);
}

/// The value of `metric` whose labels include every pair of `labels`.
fn sample(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    use prometheus_parse::Value;
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no {metric} {labels:?}"));
    match &s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{metric} is {other:?}"),
    }
}

fn scrape(port: u16, path: &str, user: Option<&str>) -> prometheus_parse::Scrape {
    let r = request(port, "GET", path, user, "");
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let lines = r
        .text()
        .lines()
        .map(|l| Ok(l.to_string()))
        .collect::<Vec<_>>();
    prometheus_parse::Scrape::parse(lines.into_iter()).expect("prometheus text parses")
}

#[test]
fn prometheus_metrics_parse_and_count_the_requests() {
    let (a, b) = (Backend::start("server1"), Backend::start("server2"));
    let (stats, front, prom) = (free_port(), free_port(), free_port());
    let mut cfg = seed_config(stats, front, &[("server1", a.port), ("server2", b.port)]);
    // HAProxy's own form: a frontend that only exports the metrics.
    cfg.push_str(&format!(
        "frontend prometheus\n bind 127.0.0.1:{prom}\n mode http\n http-request use-service prometheus-exporter if {{ path /metrics }}\n no log\n"
    ));
    let _lb = Ringlb::start(&cfg);
    for _ in 0..6 {
        assert_eq!(client::get(front, "/").status, 200);
    }
    // The shards ship their response times once a second: wait (bounded) until the
    // backend's histogram holds every response, however busy the machine.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = scrape(stats, "/metrics", Some("guest:guest"));
        let counted = m.samples.iter().any(|s| {
            s.metric == "ringlb_backend_response_time_seconds"
                && s.labels.get("proxy") == Some("servers")
                && matches!(&s.value, prometheus_parse::Value::Histogram(b)
                    if b.last().is_some_and(|all| all.count >= 6.0))
        });
        if counted {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the histogram never held 6 responses"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for (port, user) in [(stats, Some("guest:guest")), (prom, None)] {
        let m = scrape(port, "/metrics", user);
        assert_eq!(
            sample(
                &m,
                "haproxy_frontend_http_requests_total",
                &[("proxy", "servers")]
            ),
            6.0
        );
        assert_eq!(
            sample(
                &m,
                "haproxy_backend_http_responses_total",
                &[("proxy", "servers"), ("code", "2xx")]
            ),
            6.0
        );
        assert_eq!(
            sample(
                &m,
                "haproxy_server_sessions_total",
                &[("proxy", "servers"), ("server", "server1")]
            ),
            3.0
        );
        assert_eq!(
            sample(
                &m,
                "haproxy_server_status",
                &[("proxy", "servers"), ("server", "server2"), ("state", "UP")]
            ),
            1.0
        );
        // Our response-time histogram, as native Prometheus buckets.
        let hist = m
            .samples
            .iter()
            .find(|s| {
                s.metric == "ringlb_backend_response_time_seconds"
                    && s.labels.get("proxy") == Some("servers")
            })
            .expect("backend histogram");
        match &hist.value {
            prometheus_parse::Value::Histogram(buckets) => {
                let all = buckets.last().unwrap();
                assert!(all.less_than.is_infinite());
                assert_eq!(all.count, 6.0);
            }
            other => panic!("not a histogram: {other:?}"),
        }
    }
    // The page still asks for credentials; the exporter frontend answers only its path.
    assert_eq!(request(stats, "GET", "/metrics", None, "").status, 401);
    assert_eq!(request(prom, "GET", "/other", None, "").status, 503);
}
