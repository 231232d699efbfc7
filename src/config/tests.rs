//! Whole-configuration tests: sections, defaults inheritance and cross references.

use std::time::Duration;

use super::*;

fn load(text: &str) -> Result<Loaded, ConfigErrors> {
    load_sources(&[("t.cfg".to_string(), text.to_string())])
}

fn errors(text: &str) -> Vec<String> {
    match load(text) {
        Ok(_) => panic!("config unexpectedly valid"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn seed_fixture_loads_with_haproxy_defaults() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let loaded = load_files(&[format!("{dir}/tests/fixtures/seed.cfg")]).unwrap();
    let c = &loaded.config;
    assert_eq!(c.global.log.len(), 2);
    let fe = c
        .proxies
        .iter()
        .find(|p| p.name == "servers" && p.is_frontend())
        .unwrap();
    assert_eq!(fe.mode, Mode::Http);
    assert_eq!(fe.binds[0].addr, "0.0.0.0:8080".parse().unwrap());
    assert_eq!(fe.log_format, LogFormat::Http);
    assert!(fe.dontlognull);
    assert_eq!(fe.log.len(), 2, "log global copies both global targets");
    let be = &c.proxies[fe.default_backend.unwrap()];
    assert_eq!(be.kind, ProxyKind::Backend);
    assert_eq!(be.servers.len(), 2);
    let s = &be.servers[0];
    assert_eq!(
        (s.weight, s.check.enabled, s.check.rise, s.check.fall),
        (1, true, 2, 3)
    );
    assert_eq!(s.check.inter, Duration::from_secs(2));
    assert_eq!(be.retries, 3);
    assert_eq!(be.timeouts.connect, Some(Duration::from_millis(5000)));
    let chk = be.httpchk.as_ref().unwrap();
    assert_eq!((chk.method.as_str(), chk.uri.as_str()), ("GET", "/"));
    assert_eq!(
        chk.expect.as_ref().unwrap().rule,
        ExpectRule::Status(vec![(200, 200)])
    );
    assert!(be
        .errorpages
        .get(503)
        .ends_with(b"<!-- ringlb test fixture errorfile 503 -->\n</body></html>\n"));
    let stats = c.proxies.iter().find(|p| p.name == "stats").unwrap();
    assert_eq!(stats.kind, ProxyKind::Listen);
    assert!(stats.stats.enabled);
    assert_eq!(stats.stats.uri, "/haproxy");
    assert_eq!(stats.acls.len(), 2);
    let list = c.userlist("stats-auth").unwrap();
    assert!(list.in_group("admin", "admin"));
    assert!(!list.in_group("guest", "admin"));
    // Accepted-but-inert keywords are announced, not silently dropped.
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    for kw in ["'daemon'", "'chroot'", "'user'", "'group'"] {
        assert!(
            warnings.iter().any(|w| w.contains(kw)),
            "no warning for {kw}: {warnings:#?}"
        );
    }
    // The stats page and the admin socket are served: no warning about them.
    assert!(
        !warnings.iter().any(|w| w.contains("stats")),
        "{warnings:#?}"
    );
    assert!(
        stats.stats_only(),
        "the control thread serves the stats section"
    );
}

#[test]
fn all_errors_are_reported_with_lines() {
    let errs = errors(
        "global\n bogus 1\nfrontend f\n bind :80\n default_backend nowhere\n timeout client 5x\n",
    );
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(errs[0].starts_with("parsing [t.cfg:2] : unknown keyword 'bogus'"));
    assert!(errs
        .iter()
        .any(|e| e.starts_with("parsing [t.cfg:6] : 'timeout client'")));
    assert!(errs
        .iter()
        .any(|e| e.starts_with("parsing [t.cfg:5] :") && e.contains("'nowhere'")));
}

#[test]
fn defaults_apply_to_following_sections_only() {
    let c = load(
        "defaults\n mode http\n timeout connect 1s\n\
         backend a\n server s 127.0.0.1:1\n\
         defaults\n mode tcp\n\
         backend b\n server s 127.0.0.1:1\n",
    )
    .unwrap()
    .config;
    assert_eq!(c.proxies[0].mode, Mode::Http);
    assert_eq!(c.proxies[0].timeouts.connect, Some(Duration::from_secs(1)));
    assert_eq!(c.proxies[1].mode, Mode::Tcp);
    assert_eq!(
        c.proxies[1].timeouts.connect,
        Some(Duration::from_secs(1)),
        "defaults accumulate"
    );
}

#[test]
fn keywords_are_checked_against_their_section() {
    let errs = errors("frontend f\n bind :80\n server s 1.2.3.4:80\ndefaults\n bind :81\n");
    assert!(
        errs[0].contains("'server' not allowed in 'frontend' section"),
        "{errs:?}"
    );
    assert!(
        errs[1].contains("'bind' not allowed in 'defaults' section"),
        "{errs:?}"
    );
    let loaded = load("frontend f\n bind :80\n timeout server 5s\n").unwrap();
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.message.contains("'timeout server' ignored")));
}

#[test]
fn mode_mismatch_and_duplicates_are_errors() {
    let errs = errors(
        "frontend f\n mode http\n bind :80\n default_backend b\nbackend b\n mode tcp\n server s 1.2.3.4:1\n server s 1.2.3.4:2\nbackend b\n",
    );
    assert!(errs.iter().any(|e| e.contains("wrong mode")), "{errs:?}");
    assert!(
        errs.iter()
            .any(|e| e.contains("server 's'") && e.contains("already declared")),
        "{errs:?}"
    );
    assert!(errs.iter().any(|e| e.contains("same name")), "{errs:?}");
}

#[test]
fn unsupported_things_are_named() {
    let errs = errors("frontend f\n bind :443 ssl crt x.pem\n use_backend b if x\nresolvers dns\n");
    assert!(errs.iter().any(|e| e.contains("'ssl'")), "{errs:?}");
    // `use_backend` is read; its backend and ACL must exist.
    assert!(
        errs.iter()
            .any(|e| e.contains("unable to find required use_backend: 'b'")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.contains("no such ACL : 'x'")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.contains("'resolvers' sections")),
        "{errs:?}"
    );
}

#[test]
fn acl_references_are_checked() {
    let errs = errors(
        "userlist u\n user a insecure-password x\nlisten s\n bind :1\n stats enable\n acl A http_auth_group(u) nogroup\n acl B http_auth(missing)\n stats admin if C\n",
    );
    assert!(
        errs.iter().any(|e| e.contains("no group 'nogroup'")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("no such userlist 'missing'")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.contains("no such ACL : 'C'")),
        "{errs:?}"
    );
}

#[test]
fn listen_is_its_own_backend() {
    let c = load("listen l\n bind 127.0.0.1:1\n server s 127.0.0.1:2 weight 5\n")
        .unwrap()
        .config;
    assert_eq!(c.proxies[0].default_backend, Some(0));
    assert_eq!(c.proxies[0].servers[0].weight, 5);
}

#[test]
fn errorfile_problems_are_config_errors() {
    let dir = std::env::temp_dir().join(format!("ringlb-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.http");
    std::fs::write(&bad, "<html>not a response</html>").unwrap();
    let errs = errors(&format!(
        "defaults\n errorfile 503 {}\n errorfile 503 {}/missing.http\n errorfile 599 {}\n",
        bad.display(),
        dir.display(),
        bad.display()
    ));
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(errs[0].contains("not a valid HTTP response") || errs[0].contains("not a complete"));
    assert!(errs[1].contains("error opening file"));
    assert!(errs[2].contains("'599' cannot be customized"));
}

fn warnings(text: &str) -> Vec<String> {
    load(text)
        .unwrap()
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn backend(text: &str) -> Proxy {
    let c = load(text).unwrap().config;
    c.backends().last().unwrap().clone()
}

#[test]
fn hard_stop_after_takes_a_time() {
    let g = load("global\n hard-stop-after 30s\n")
        .unwrap()
        .config
        .global;
    assert_eq!(g.hard_stop_after, Some(Duration::from_secs(30)));
    let g = load("global\n hard-stop-after 1500\n")
        .unwrap()
        .config
        .global;
    assert_eq!(g.hard_stop_after, Some(Duration::from_millis(1500)));
    let g = load("global\n hard-stop-after 0\n").unwrap().config.global;
    assert_eq!(g.hard_stop_after, None, "0 means no limit");
    assert_eq!(Global::default().hard_stop_after, None);
    let errs = errors("global\n hard-stop-after 10x\n hard-stop-after\n hard-stop-after 1s 2s\n");
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(
        errs[0].starts_with("parsing [t.cfg:2] : 'hard-stop-after'"),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with("parsing [t.cfg:3] : 'hard-stop-after'"),
        "{errs:?}"
    );
    assert!(errs[2].contains("'hard-stop-after' in section 'global' expects exactly one argument"));
}

#[test]
fn timeout_check_is_inherited() {
    let be = backend("defaults\n timeout check 3s\nbackend b\n server s 127.0.0.1:1\n");
    assert_eq!(be.timeouts.check, Some(Duration::from_secs(3)));
    let be = backend("backend b\n timeout check 0\n");
    assert_eq!(be.timeouts.check, None);
    let errs = errors("backend b\n timeout check soon\n");
    assert!(errs[0].contains("'timeout check'"), "{errs:?}");
}

#[test]
fn server_check_options_resolve_from_default_server() {
    let be = backend(
        "backend b\n mode http\n default-server port 8008 addr 10.0.0.9 observe layer7 error-limit 5 on-error sudden-death\n\
         server a 127.0.0.1:80 check\n server c 127.0.0.1:81 check port 9000 addr ::1 observe none on-error fastinter\n",
    );
    let a = be.servers[0].check;
    assert_eq!(a.port, Some(8008));
    assert_eq!(a.addr, Some("10.0.0.9".parse().unwrap()));
    assert_eq!(a.observe, Some(Observe::Layer7));
    assert_eq!((a.error_limit, a.on_error), (5, OnError::SuddenDeath));
    let c = be.servers[1].check;
    assert_eq!(c.port, Some(9000));
    assert_eq!(c.addr, Some("::1".parse().unwrap()));
    assert_eq!(
        (c.observe, c.error_limit, c.on_error),
        (None, 5, OnError::FastInter)
    );
    let plain = backend("backend b\n server s 127.0.0.1:80 check\n").servers[0].check;
    assert_eq!((plain.port, plain.addr, plain.observe), (None, None, None));
    assert_eq!(
        (plain.error_limit, plain.on_error),
        (10, OnError::FailCheck)
    );
}

#[test]
fn server_check_option_errors_name_the_keyword() {
    let errs = errors(
        "backend b\n default-server port 70000\n server a 127.0.0.1:80 addr host.example\n server c 127.0.0.1:80 on-error retry\n",
    );
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(
        errs[0].starts_with("parsing [t.cfg:2] : 'default-server': 'port'"),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with("parsing [t.cfg:3] : 'server a': 'addr'"),
        "{errs:?}"
    );
    assert!(
        errs[2].starts_with("parsing [t.cfg:4] : 'server c': 'on-error'"),
        "{errs:?}"
    );
}

#[test]
fn layer7_observing_needs_http_mode() {
    let errs = errors("backend b\n mode tcp\n server a 127.0.0.1:80 check observe layer7\n");
    assert!(
        errs[0].starts_with("parsing [t.cfg:3] : server 'a' in backend 'b': 'observe layer7'"),
        "{errs:?}"
    );
    backend("backend b\n mode tcp\n server a 127.0.0.1:80 check observe layer4\n");
}

#[test]
fn a_checked_server_needs_a_port() {
    let errs = errors("backend b\n server a 127.0.0.1 check\n");
    assert!(
        errs[0].starts_with(
            "parsing [t.cfg:2] : server 'a' in backend 'b' has neither service port nor check port"
        ),
        "{errs:?}"
    );
    let be = backend("backend b\n server a 127.0.0.1 check port 8080\n server c 127.0.0.1\n");
    assert_eq!(be.servers[0].check.port, Some(8080));
}

#[test]
fn on_marked_down_is_announced() {
    let w = warnings(
        "backend b\n default-server on-marked-down shutdown-sessions\n server a 127.0.0.1:1\n",
    );
    assert!(
        w.iter().any(|w| w.starts_with(
            "parsing [t.cfg:2] : 'default-server': 'on-marked-down shutdown-sessions'"
        )),
        "{w:?}"
    );
}

#[test]
fn checks_warning_is_gone() {
    let w = warnings(
        "backend b\n timeout connect 1s\n timeout server 1s\n server a 127.0.0.1:1 check\n",
    );
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn http_check_send_and_option_merge_in_either_order() {
    let send_first = backend(
        "backend b\n http-check send meth GET uri /health ver HTTP/1.1 hdr Host www\n option httpchk\n http-check expect status 200\n",
    );
    let option_first = backend(
        "backend b\n option httpchk\n http-check send meth GET uri /health ver HTTP/1.1 hdr Host www\n http-check expect status 200\n",
    );
    for be in [&send_first, &option_first] {
        let chk = be.httpchk.as_ref().unwrap();
        assert_eq!(
            (chk.method.as_str(), chk.uri.as_str(), chk.version.as_str()),
            ("GET", "/health", "HTTP/1.1")
        );
        assert_eq!(chk.headers, vec![("Host".to_string(), "www".to_string())]);
        assert_eq!(
            chk.expect.as_ref().unwrap().rule,
            ExpectRule::Status(vec![(200, 200)])
        );
    }
    // Each line overrides only what it writes out.
    let chk =
        backend("backend b\n option httpchk HEAD /ping HTTP/1.1\n http-check send hdr Host www\n")
            .httpchk
            .unwrap();
    assert_eq!(
        (chk.method.as_str(), chk.uri.as_str(), chk.version.as_str()),
        ("HEAD", "/ping", "HTTP/1.1")
    );
    assert_eq!(chk.headers.len(), 1);
    let chk = backend("backend b\n http-check send uri /a hdr Host www\n option httpchk /b\n")
        .httpchk
        .unwrap();
    assert_eq!(
        (chk.method.as_str(), chk.uri.as_str()),
        ("OPTIONS", "/b"),
        "the later line wins"
    );
    assert_eq!(
        chk.headers,
        vec![("Host".to_string(), "www".to_string())],
        "option keeps send's headers"
    );
    // Without an explicit send, a second `option httpchk` replaces the request.
    let chk = backend("backend b\n option httpchk GET /a HTTP/1.1\n option httpchk /b\n")
        .httpchk
        .unwrap();
    assert_eq!(
        (chk.method.as_str(), chk.uri.as_str(), chk.version.as_str()),
        ("OPTIONS", "/b", "HTTP/1.0")
    );
}

#[test]
fn http_check_rules_need_option_httpchk() {
    let text = "backend b\n http-check send meth GET\n http-check expect status 200\n server a 127.0.0.1:1 check\n";
    let loaded = load(text).unwrap();
    assert!(loaded.config.proxies[0].httpchk.is_none());
    assert!(
        loaded.warnings.iter().any(|w| w.to_string().contains(
            "backend 'b' uses http-check rules without 'option httpchk', so the rules are ignored (first rule at t.cfg:2)"
        )),
        "{:?}",
        loaded.warnings
    );
    let be = backend("defaults\n http-check send meth GET uri /h\nbackend b\n option httpchk\n");
    assert_eq!(
        be.httpchk.unwrap().uri,
        "/h",
        "rules from defaults wait for the option"
    );
    let loaded =
        load("backend b\n option httpchk\n http-check send uri /h\n no option httpchk\n").unwrap();
    assert!(loaded.config.proxies[0].httpchk.is_none());
    assert!(loaded
        .warnings
        .iter()
        .all(|w| !w.message.contains("http-check rules")));
}

#[test]
fn http_check_is_inherited_and_amended() {
    let c = load(
        "defaults\n option httpchk GET /health HTTP/1.1\n http-check send hdr Host www\n http-check expect status 200-299\n\
         backend a\n server s 127.0.0.1:1 check\n\
         backend b\n http-check send uri /b\n\
         backend c\n option httpchk /c\n\
         backend d\n no option httpchk\n",
    )
    .unwrap()
    .config;
    let a = c.proxies[0].httpchk.as_ref().unwrap();
    assert_eq!(
        (a.method.as_str(), a.uri.as_str(), a.version.as_str()),
        ("GET", "/health", "HTTP/1.1")
    );
    assert_eq!(a.headers.len(), 1);
    assert!(a.expect.is_some());
    let b = c.proxies[1].httpchk.as_ref().unwrap();
    assert_eq!((b.method.as_str(), b.uri.as_str()), ("GET", "/b"));
    assert_eq!(b.headers, a.headers);
    let cc = c.proxies[2].httpchk.as_ref().unwrap();
    assert_eq!(
        (cc.method.as_str(), cc.uri.as_str(), cc.version.as_str()),
        ("GET", "/c", "HTTP/1.1")
    );
    assert!(cc.expect.is_some());
    assert!(c.proxies[3].httpchk.is_none());
}

#[test]
fn http_check_send_errors_name_the_keyword() {
    let errs = errors(
        "backend b\n option httpchk\n http-check send meth GET\n http-check send uri /x\n\
         backend c\n http-check expect status 200\n http-check send uri /x\n\
         backend d\n http-check send uri x\n http-check connect\n option httpchk GET / HTTP/3\n\
         frontend f\n bind :1\n http-check send\n",
    );
    assert_eq!(errs.len(), 6, "{errs:#?}");
    assert!(errs[0].starts_with("parsing [t.cfg:4] : 'http-check send': a section may have only one (the first is at t.cfg:3)"), "{errs:?}");
    assert!(
        errs[1].starts_with("parsing [t.cfg:7] : 'http-check send' must come before"),
        "{errs:?}"
    );
    assert!(
        errs[2].starts_with("parsing [t.cfg:9] : 'http-check send': uri 'x'"),
        "{errs:?}"
    );
    assert!(
        errs[3].starts_with("parsing [t.cfg:10] : unsupported 'http-check connect'"),
        "{errs:?}"
    );
    assert!(
        errs[4].starts_with("parsing [t.cfg:11] : 'option httpchk': version 'HTTP/3'"),
        "{errs:?}"
    );
    assert!(
        errs[5].contains("'http-check' not allowed in 'frontend' section"),
        "{errs:?}"
    );
}

#[test]
fn option_httpchk_hidden_headers() {
    let loaded =
        load("backend b\n option httpchk GET / \"HTTP/1.1\\r\\nHost:\\ www\\r\\nX-A: 1\"\n")
            .unwrap();
    let chk = loaded.config.proxies[0].httpchk.clone().unwrap();
    assert_eq!(chk.version, "HTTP/1.1");
    assert_eq!(
        chk.headers,
        vec![
            ("Host".to_string(), "www".to_string()),
            ("X-A".to_string(), "1".to_string())
        ]
    );
    assert!(loaded.warnings.iter().any(|w| w
        .to_string()
        .starts_with("parsing [t.cfg:2] : 'option httpchk': hiding headers")));
    // Unquoted, with escaped blanks, as HAProxy users write it.
    let chk =
        backend("backend b\n option httpchk HEAD /check HTTP/1.1\\r\\nHost:\\ www.example.com\n")
            .httpchk
            .unwrap();
    assert_eq!(
        chk.headers,
        vec![("Host".to_string(), "www.example.com".to_string())]
    );
    let errs = errors("backend b\n option httpchk GET / HTTP/1.1\\r\\nBad\\ Name:\\ x\n");
    assert!(
        errs[0].starts_with("parsing [t.cfg:2] : 'option httpchk': header name 'Bad Name'"),
        "{errs:?}"
    );
}

#[test]
fn random_configurations_never_panic() {
    // No `server`, `bind` or `log` here: their arguments could be resolved through DNS,
    // which would make this slow; their parsers have tests of their own.
    let words = [
        "global",
        "defaults",
        "frontend",
        "backend",
        "listen",
        "userlist",
        "mode",
        "http",
        "tcp",
        "balance",
        "random(3)",
        "timeout",
        "client",
        "10s",
        "option",
        "forwardfor",
        "except",
        "header",
        "stats",
        "acl",
        "http_auth(x)",
        "if",
        "unless",
        "!",
        "||",
        "user",
        "group",
        "insecure-password",
        "\"quoted word\"",
        "'",
        "\\",
        "#",
        ":80",
        "127.0.0.1:1",
        "[::]:0",
        "weight",
        "300",
        "errorfile",
        "503",
        "/nonexistent",
        "stdout",
        "local0",
        "http-check",
        "expect",
        "rstatus",
        "(",
        "default_backend",
        "x",
        "no",
        "default-server",
        "httpchk",
        "send",
        "meth",
        "uri",
        "ver",
        "hdr",
        "HTTP/1.1\\r\\nHost:\\ x",
        "port",
        "addr",
        "observe",
        "layer7",
        "on-error",
        "hard-stop-after",
        "vrrp",
        "interface",
        "virtual_router_id",
        "priority",
        "advert_int",
        "0.1",
        "virtual_ipaddress",
        "10.0.0.1/24",
        "dev",
        "unicast_peer",
        "track_backend",
        "-5",
        "version",
        "3",
        "nopreempt",
        "preempt_delay",
    ];
    let mut rng = fastrand::Rng::with_seed(42);
    for _ in 0..3_000 {
        let mut text = String::new();
        for _ in 0..rng.usize(1..30) {
            for _ in 0..rng.usize(1..6) {
                text.push_str(words[rng.usize(..words.len())]);
                text.push(' ');
            }
            text.push('\n');
        }
        let _ = load(&text);
    }
}

#[test]
fn stats_auth_and_http_request_auth_do_not_mix() {
    // HAProxy 2.6 refuses both mixes with this message.
    for line in [" stats auth a:b\n", " stats realm R\n"] {
        let e = errors(&format!(
            "listen stats\n bind 127.0.0.1:1\n stats enable\n{line} stats http-request auth\n"
        ));
        assert!(
            e.iter().any(|m| m.contains(
                "stats 'auth'/'realm' and 'http-request' can't be used at the same time"
            ) && m.contains(":1]")),
            "{e:?}"
        );
    }
}

/// After the section, so that its lines are numbered from 2: references are resolved at
/// the end.
const VRRP_BACKEND: &str =
    "backend web\n timeout connect 1s\n timeout server 1s\n server s 127.0.0.1:80\n";

fn vrrp(body: &str) -> Result<Loaded, ConfigErrors> {
    load(&format!("vrrp VI_1\n{body}{VRRP_BACKEND}"))
}

fn vrrp_errors(body: &str) -> Vec<String> {
    errors(&format!("vrrp VI_1\n{body}{VRRP_BACKEND}"))
}

#[test]
fn vrrp_section_with_every_keyword() {
    let loaded = vrrp(
        " interface eth0\n state BACKUP\n virtual_router_id 51\n priority 150\n advert_int 0.1\n version 3\n preempt_delay 2.5\n\
         virtual_ipaddress 192.168.1.10/24\n virtual_ipaddress 192.168.1.11/24 dev eth1 192.168.1.12\n\
         unicast_src_ip 192.168.1.2\n unicast_peer 192.168.1.3 192.168.1.4\n unicast_peer 192.168.1.5\n\
         garp_master_repeat 3\n garp_master_delay 10\n track_backend web weight -60\n\
         notify_master \"/usr/local/bin/notify master\"\n notify_backup /bin/true\n notify_fault '/bin/false x'\n",
    )
    .unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let v = &loaded.config.vrrp[0];
    assert_eq!(v.name, "VI_1");
    assert_eq!(v.location.line, 1);
    assert_eq!(v.interface, "eth0");
    assert_eq!(v.initial_state, VrrpInitialState::Backup);
    assert_eq!((v.virtual_router_id, v.priority), (51, 150));
    assert_eq!(v.advert_int, Duration::from_millis(100));
    assert_eq!(v.version, VrrpVersion::V3);
    assert!(v.preempt);
    assert_eq!(v.preempt_delay, Duration::from_millis(2500));
    let vips: Vec<(String, u8, Option<&str>)> = v
        .virtual_addresses
        .iter()
        .map(|a| (a.addr.to_string(), a.prefix, a.dev.as_deref()))
        .collect();
    assert_eq!(
        vips,
        vec![
            ("192.168.1.10".to_string(), 24, None),
            ("192.168.1.11".to_string(), 24, Some("eth1")),
            ("192.168.1.12".to_string(), 32, None),
        ]
    );
    assert_eq!(v.unicast_src_ip, Some("192.168.1.2".parse().unwrap()));
    assert_eq!(v.unicast_peers.len(), 3);
    assert_eq!(v.garp_master_repeat, 3);
    assert_eq!(v.garp_master_delay, Duration::from_secs(10));
    let t = &v.track_backends[0];
    assert_eq!((t.name.as_str(), t.backend, t.penalty), ("web", 0, 60));
    assert_eq!(
        v.notify_master.as_deref(),
        Some("/usr/local/bin/notify master")
    );
    assert_eq!(v.notify_backup.as_deref(), Some("/bin/true"));
    assert_eq!(v.notify_fault.as_deref(), Some("/bin/false x"));
}

#[test]
fn vrrp_defaults_are_keepalived_ones() {
    let c = vrrp(" interface eth0\n virtual_router_id 1\n virtual_ipaddress 10.0.0.1\n")
        .unwrap()
        .config;
    let v = &c.vrrp[0];
    assert_eq!(v.initial_state, VrrpInitialState::Backup);
    assert_eq!(v.priority, 100);
    assert_eq!(v.advert_int, Duration::from_secs(1));
    assert_eq!(v.version, VrrpVersion::V2);
    assert!(v.preempt);
    assert_eq!(v.preempt_delay, Duration::ZERO);
    assert_eq!(v.garp_master_repeat, 5);
    assert_eq!(v.garp_master_delay, Duration::from_secs(5));
    assert_eq!(v.virtual_addresses[0].prefix, 32);
    assert!(v.unicast_peers.is_empty() && v.track_backends.is_empty());
    assert!(v.notify_master.is_none());
    // Priority 255 makes the instance master at once, as keepalived's state derivation.
    let c =
        vrrp(" interface eth0\n virtual_router_id 1\n priority 255\n virtual_ipaddress 10.0.0.1\n")
            .unwrap()
            .config;
    assert_eq!(c.vrrp[0].initial_state, VrrpInitialState::Master);
}

#[test]
fn vrrp_state_master_as_keepalived() {
    // No priority: keepalived makes a `state MASTER` instance the address owner.
    let loaded =
        vrrp(" interface eth0\n state MASTER\n virtual_router_id 1\n virtual_ipaddress 10.0.0.1\n")
            .unwrap();
    assert_eq!(loaded.config.vrrp[0].priority, 255);
    assert!(loaded.warnings[0].message.contains("priority 255"));
    // nopreempt and preempt_delay do not work with state MASTER (keepalived clears them).
    let loaded = vrrp(
        " interface eth0\n state MASTER\n priority 101\n nopreempt\n virtual_router_id 1\n virtual_ipaddress 10.0.0.1\n",
    )
    .unwrap();
    assert!(loaded.config.vrrp[0].preempt);
    assert_eq!(loaded.warnings[0].location.as_ref().unwrap().line, 5);
    assert!(loaded.warnings[0].message.contains("'nopreempt'"));
    let loaded = vrrp(
        " interface eth0\n priority 101\n nopreempt\n preempt_delay 3\n virtual_router_id 1\n virtual_ipaddress 10.0.0.1\n",
    )
    .unwrap();
    let v = &loaded.config.vrrp[0];
    assert!(!v.preempt);
    assert_eq!(v.preempt_delay, Duration::ZERO);
    assert!(loaded.warnings[0].message.contains("'preempt_delay'"));
}

#[test]
fn vrrp_errors_name_the_keyword_and_line() {
    let errs = vrrp_errors(
        " interface eth0\n virtual_router_id 0\n priority 256\n advert_int x\n version 4\n state SLAVE\n\
         virtual_ipaddress 10.0.0.1/33\n virtual_ipaddress fe80::1\n unicast_peer 10.0.0.x\n\
         track_backend web weight 10\n garp_master_repeat 0\n bogus 1\n nopreempt now\n notify_master a b\n",
    );
    let expect = [
        (
            3,
            "'virtual_router_id' in vrrp 'VI_1': expects an integer between 1 and 255",
        ),
        (
            4,
            "'priority' in vrrp 'VI_1': expects an integer between 1 and 255",
        ),
        (5, "'advert_int' in vrrp 'VI_1'"),
        (6, "'version' in vrrp 'VI_1': expects 2 or 3"),
        (7, "'state' in vrrp 'VI_1': expects MASTER or BACKUP"),
        (8, "'virtual_ipaddress' in vrrp 'VI_1'"),
        (9, "IPv6 is not supported"),
        (10, "'unicast_peer' in vrrp 'VI_1'"),
        (11, "the weight must be negative"),
        (12, "'garp_master_repeat' in vrrp 'VI_1'"),
        (13, "unknown keyword 'bogus' in vrrp 'VI_1'"),
        (14, "'nopreempt' in vrrp 'VI_1': takes no argument"),
        (15, "quote a value that has blanks"),
    ];
    for (line, text) in expect {
        let prefix = format!("parsing [t.cfg:{line}] : ");
        assert!(
            errs.iter()
                .any(|e| e.starts_with(&prefix) && e.contains(text)),
            "no error '{text}' at line {line}: {errs:#?}"
        );
    }
}

#[test]
fn vrrp_required_words_and_references() {
    let errs = vrrp_errors(" priority 100\n");
    assert!(
        errs.iter().any(|e| e.contains("has no 'interface'")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("has no 'virtual_router_id'")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("has no 'virtual_ipaddress'")),
        "{errs:?}"
    );
    assert!(errs.iter().all(|e| e.starts_with("parsing [t.cfg:1] :")));
    let errs = vrrp_errors(
        " interface eth0\n virtual_router_id 1\n virtual_ipaddress 10.0.0.1\n track_backend nowhere weight -10\n",
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with(
        "parsing [t.cfg:5] : 'track_backend' in vrrp 'VI_1': no such backend 'nowhere'"
    ));
    // A frontend is not a backend.
    let errs = errors(
        "frontend f\n bind :80\nvrrp V\n interface eth0\n virtual_router_id 1\n virtual_ipaddress 10.0.0.1\n track_backend f weight -10\n",
    );
    assert!(
        errs.iter().any(|e| e.contains("no such backend 'f'")),
        "{errs:?}"
    );
}

#[test]
fn vrrp_advert_int_fits_the_version() {
    let base = " interface eth0\n virtual_router_id 1\n virtual_ipaddress 10.0.0.1\n";
    let errs = vrrp_errors(&format!("{base} advert_int 0.5\n"));
    assert!(
        errs[0].contains("version 2 carries whole seconds"),
        "{errs:?}"
    );
    let errs = vrrp_errors(&format!("{base} advert_int 256\n"));
    assert!(errs[0].contains("1 to 255"), "{errs:?}");
    let errs = vrrp_errors(&format!("{base} advert_int 0.015\n version 3\n"));
    assert!(errs[0].contains("hundredths"), "{errs:?}");
    let errs = vrrp_errors(&format!("{base} advert_int 41\n version 3\n"));
    assert!(errs[0].contains("0.01 to 40.95"), "{errs:?}");
    let errs = vrrp_errors(&format!("{base} advert_int 0\n"));
    assert!(errs[0].contains("more than 0"), "{errs:?}");
    // The version may come after the interval; HAProxy units are read too.
    let c = vrrp(&format!("{base} advert_int 250ms\n version 3\n"))
        .unwrap()
        .config;
    assert_eq!(c.vrrp[0].advert_int, Duration::from_millis(250));
    let c = vrrp(&format!("{base} advert_int 40.95\n version 3\n"))
        .unwrap()
        .config;
    assert_eq!(c.vrrp[0].advert_int, Duration::from_millis(40950));
    let c = vrrp(&format!("{base} advert_int 3\n")).unwrap().config;
    assert_eq!(c.vrrp[0].advert_int, Duration::from_secs(3));
}

#[test]
fn vrrp_duplicates_are_refused() {
    let one = " interface eth0\n virtual_router_id 7\n virtual_ipaddress 10.0.0.1\n";
    // Same name.
    let errs = errors(&format!(
        "vrrp A\n{one}vrrp A\n interface eth1\n virtual_router_id 8\n virtual_ipaddress 10.0.0.2\n"
    ));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("parsing [t.cfg:5] : vrrp 'A' has the same name"));
    assert!(errs[0].contains("declared at t.cfg:1"));
    // Same VRID on the same interface.
    let errs = errors(&format!("vrrp A\n{one}vrrp B\n{one}"));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("parsing [t.cfg:5] : vrrp 'B': virtual_router_id 7 on interface 'eth0' is already used by vrrp 'A'"));
    // Same VRID on another interface is another virtual router.
    let c = load(&format!(
        "vrrp A\n{one}vrrp B\n interface eth1\n virtual_router_id 7\n virtual_ipaddress 10.0.1.1\n"
    ))
    .unwrap()
    .config;
    assert_eq!(c.vrrp.len(), 2);
    // A keyword written twice, and an address listed twice.
    let errs = vrrp_errors(&format!(
        "{one} priority 10\n priority 20\n virtual_ipaddress 10.0.0.1\n"
    ));
    assert!(
        errs.iter().any(|e| e
            .starts_with("parsing [t.cfg:6] : 'priority' in vrrp 'VI_1': already set at t.cfg:5")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.starts_with("parsing [t.cfg:7] :") && e.contains("10.0.0.1 is listed twice")),
        "{errs:?}"
    );
}

#[test]
fn vrrp_name_and_section_boundaries() {
    let errs = errors("vrrp\n interface eth0\n");
    assert!(errs[0].contains("'vrrp' expects a name"), "{errs:?}");
    // A proxy keyword inside a vrrp section is not a vrrp keyword.
    let errs = vrrp_errors(
        " interface eth0\n virtual_router_id 1\n virtual_ipaddress 10.0.0.1\n bind :80\n",
    );
    assert!(
        errs[0].contains("unknown keyword 'bind' in vrrp 'VI_1'"),
        "{errs:?}"
    );
    // The next section closes it.
    let c = load(
        "vrrp V\n interface eth0\n virtual_router_id 1\n virtual_ipaddress 10.0.0.1\nbackend b\n server s 127.0.0.1:1\n",
    )
    .unwrap()
    .config;
    assert_eq!((c.vrrp.len(), c.proxies.len()), (1, 1));
    let cloned = c.clone();
    assert_eq!(cloned.vrrp[0].name, "V");
}

#[test]
fn vrrp_seconds() {
    use super::vrrp::parse_seconds;
    assert_eq!(parse_seconds("1").unwrap(), Duration::from_secs(1));
    assert_eq!(parse_seconds("0.1").unwrap(), Duration::from_millis(100));
    assert_eq!(parse_seconds("4.12").unwrap(), Duration::from_millis(4120));
    assert_eq!(parse_seconds("0.000001").unwrap(), Duration::from_micros(1));
    assert_eq!(parse_seconds("100ms").unwrap(), Duration::from_millis(100));
    for bad in [
        "",
        ".5",
        "1.",
        "1..2",
        "-1",
        "1e3",
        "0.0000001",
        "99999999999999999999",
        "1,5",
    ] {
        assert!(parse_seconds(bad).is_err(), "{bad}");
    }
}

#[test]
fn tcp_check_rules_are_kept_in_order_with_haproxys_step_numbers() {
    let be = backend(
        "backend b\n option tcp-check\n tcp-check comment redis\n tcp-check send PING\\r\\n\n tcp-check expect string +PONG\n tcp-check send-binary 0a0b comment bin\n tcp-check expect ! rbinary ^FF\n",
    );
    let rules = be.tcpchk.unwrap().rules;
    let steps: Vec<usize> = rules.iter().map(|r| r.step).collect();
    assert_eq!(steps, vec![2, 3, 4, 5], "the comment line counts");
    assert_eq!(rules[0].action, TcpCheckAction::Send(b"PING\r\n".to_vec()));
    assert_eq!(rules[0].comment.as_deref(), Some("redis"));
    assert_eq!(
        rules[1].comment, None,
        "a comment stops at the next kind of rule"
    );
    assert_eq!(rules[2].action, TcpCheckAction::Send(vec![0x0a, 0x0b]));
    assert_eq!(rules[2].comment.as_deref(), Some("bin"));
    assert_eq!(
        rules[3].action,
        TcpCheckAction::Expect(TcpExpect {
            negate: true,
            kind: TcpExpectKind::RBinary,
            pattern: "^FF".into()
        })
    );
}

#[test]
fn tcp_check_rules_are_inherited_or_replaced_not_amended() {
    let c = load(
        "defaults\n option tcp-check\n tcp-check send a\n tcp-check expect string b\n\
         backend inherits\n\
         backend own\n tcp-check connect port 2\n\
         backend http\n option httpchk\n\
         backend off\n no option tcp-check\n",
    )
    .unwrap()
    .config;
    let rules = |i: usize| c.proxies[i].tcpchk.as_ref().map(|t| t.rules.len());
    assert_eq!(rules(0), Some(2));
    let own = c.proxies[1].tcpchk.as_ref().unwrap();
    assert_eq!(own.rules.len(), 1);
    assert_eq!(own.rules[0].step, 1, "a new ruleset counts from 1");
    assert_eq!(rules(2), None, "option httpchk replaces option tcp-check");
    assert!(c.proxies[2].httpchk.is_some());
    assert_eq!(rules(3), None);
    let be = backend("backend b\n option httpchk\n option tcp-check\n");
    assert!(
        be.httpchk.is_none() && be.tcpchk.is_some(),
        "the later option wins"
    );
}

#[test]
fn tcp_check_errors_and_warnings() {
    let errs = errors(
        "backend b\n tcp-check send a\n tcp-check connect\n tcp-check expect status 200\n tcp-check send-binary xyz\n tcp-check sendx a\n tcp-check connect ssl\n\
         frontend f\n bind :1\n tcp-check send a\n option tcp-check\n",
    );
    assert!(
        errs[0].starts_with(
            "parsing [t.cfg:3] : 'tcp-check connect': first step MUST also be a 'connect'"
        ),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with("parsing [t.cfg:4] : 'tcp-check expect': 'status' is not supported"),
        "{errs:?}"
    );
    assert!(
        errs[2].starts_with("parsing [t.cfg:5] : 'tcp-check send-binary': 'xyz': an even number"),
        "{errs:?}"
    );
    assert!(
        errs[3].starts_with("parsing [t.cfg:6] : 'tcp-check' only supports"),
        "{errs:?}"
    );
    assert!(errs[4].contains("'ssl' is not supported"), "{errs:?}");
    assert!(
        errs[5].contains("'tcp-check' not allowed in 'frontend' section"),
        "{errs:?}"
    );
    assert!(
        errs[6].contains("'option tcp-check' not allowed in 'frontend' section"),
        "{errs:?}"
    );
    assert_eq!(errs.len(), 7, "{errs:?}");
    let w = warnings("backend b\n tcp-check send a\n server s 127.0.0.1:1 check\n");
    assert!(
        w.iter().any(|w| w.contains("uses tcp-check rules without 'option tcp-check', so the rules are ignored (first rule at t.cfg:2)")),
        "{w:?}"
    );
}

#[test]
fn redis_and_smtp_checks_replace_the_check_type() {
    let c = load(
        "defaults\n option smtpchk\n\
         backend smtp\n\
         backend ehlo\n option smtpchk EHLO mx.example\n\
         backend odd\n option smtpchk FOO bar\n\
         backend redis\n option redis-check\n\
         backend http\n option redis-check\n option httpchk\n",
    )
    .unwrap()
    .config;
    let protocol = |i: usize| {
        c.proxies[i]
            .tcpchk
            .as_ref()
            .and_then(|t| t.protocol.clone())
    };
    let smtp = |command: &str| {
        Some(CheckProtocol::Smtp {
            command: command.into(),
        })
    };
    assert_eq!(protocol(0), smtp("HELO localhost"));
    assert_eq!(protocol(1), smtp("EHLO mx.example"));
    assert_eq!(
        protocol(2),
        smtp("HELO localhost"),
        "as HAProxy: only HELO or EHLO"
    );
    assert_eq!(protocol(3), Some(CheckProtocol::Redis));
    assert!(c.proxies[4].tcpchk.is_none() && c.proxies[4].httpchk.is_some());
    assert!(errors("backend b\n option redis-check x\n")[0].contains("takes no argument"));
    let w = warnings("backend b\n option redis-check\n tcp-check send a\n");
    assert!(w.iter().any(|w| w.contains("tcp-check rules")), "{w:?}");
}

#[test]
fn pgsql_and_ldap_checks_need_what_haproxy_needs() {
    let c =
        load("backend pg\n option pgsql-check user haproxy\nbackend ldap\n option ldap-check\n")
            .unwrap()
            .config;
    let protocol = |i: usize| {
        c.proxies[i]
            .tcpchk
            .as_ref()
            .and_then(|t| t.protocol.clone())
    };
    assert_eq!(
        protocol(0),
        Some(CheckProtocol::Pgsql {
            user: "haproxy".into()
        })
    );
    assert_eq!(protocol(1), Some(CheckProtocol::Ldap));
    for text in [
        "backend b\n option pgsql-check\n",
        "backend b\n option pgsql-check name x\n",
    ] {
        let errs = errors(text);
        assert!(errs[0].contains("expects 'user <username>'"), "{errs:?}");
    }
}

#[test]
fn mysql_check_arguments() {
    let c = load(
        "backend a\n option mysql-check\nbackend b\n option mysql-check user haproxy\nbackend c\n option mysql-check user haproxy pre-41\n",
    )
    .unwrap()
    .config;
    let protocol = |i: usize| {
        c.proxies[i]
            .tcpchk
            .as_ref()
            .and_then(|t| t.protocol.clone())
    };
    assert_eq!(
        protocol(0),
        Some(CheckProtocol::Mysql {
            user: None,
            pre_41: false
        })
    );
    assert_eq!(
        protocol(1),
        Some(CheckProtocol::Mysql {
            user: Some("haproxy".into()),
            pre_41: false
        })
    );
    assert_eq!(
        protocol(2),
        Some(CheckProtocol::Mysql {
            user: Some("haproxy".into()),
            pre_41: true
        })
    );
    for text in [
        "backend b\n option mysql-check name x\n",
        "backend b\n option mysql-check user\n",
        "backend b\n option mysql-check user x post-80\n",
    ] {
        assert!(!errors(text).is_empty(), "{text}");
    }
}

#[test]
fn tcp_request_lines_are_placed_and_worded_as_haproxy() {
    let errs = errors(
        "defaults\n mode tcp\n tcp-request inspect-delay 2s\n\
         frontend f\n bind :8000\n tcp-request bogus\n tcp-request inspect-delay xx\n\
         tcp-request content foo\n tcp-request connection accept foo\n default_backend b\n\
         backend b\n tcp-request connection accept\n server s 127.0.0.1:1\n",
    );
    let want = [
        "[t.cfg:3] : tcp-request inspect-delay is not allowed in anonymous 'defaults' sections",
        "[t.cfg:6] : 'tcp-request' expects 'inspect-delay', 'connection', or 'content' in frontend 'f' (got 'bogus')",
        "[t.cfg:7] : 'tcp-request inspect-delay' expects a positive delay in milliseconds, in frontend 'f'",
        "[t.cfg:8] : 'tcp-request content' expects 'accept', 'reject',",
        "[t.cfg:9] : 'tcp-request connection accept' only accepts 'if' or 'unless', in frontend 'f' (got 'foo')",
        "[t.cfg:12] : tcp-request connection is not allowed because backend b is not a frontend",
    ];
    for w in want {
        assert!(errs.iter().any(|e| e.contains(w)), "missing {w}: {errs:#?}");
    }
    let loaded = load(
        "frontend f\n mode tcp\n bind :8000\n acl big req.len gt 0\n\
         tcp-request connection reject if big\n\
         tcp-request connection reject if { req_ssl_sni foo }\n\
         tcp-request connection accept if { src 10.0.0.0/8 }\n\
         tcp-request inspect-delay 3s\n\
         tcp-request content accept if { req_ssl_hello_type 1 }\n\
         default_backend b\nbackend b\n mode tcp\n server s 127.0.0.1:1\n",
    )
    .unwrap();
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w
                .contains("[t.cfg:5] : acl 'big' will never match in 'tcp-request connection'")),
        "{warnings:#?}"
    );
    assert!(warnings.iter().any(|w| w.contains("[t.cfg:6] : anonymous acl will never match in 'tcp-request connection' because it uses keyword 'req_ssl_sni'")), "{warnings:#?}");
    assert!(
        !warnings.iter().any(|w| w.contains("t.cfg:7")),
        "{warnings:#?}"
    );
    let fe = loaded.config.frontend("f").unwrap();
    assert_eq!(fe.tcp_request.connection.len(), 3);
    assert_eq!(fe.tcp_request.content.len(), 1);
    assert_eq!(fe.tcp_request.inspect_delay, Some(Duration::from_secs(3)));
}
