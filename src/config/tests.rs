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
    for kw in ["'daemon'", "'chroot'", "'user'", "'group'", "stats socket"] {
        assert!(
            warnings.iter().any(|w| w.contains(kw)),
            "no warning for {kw}: {warnings:#?}"
        );
    }
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
    assert!(
        errs.iter()
            .any(|e| e.contains("unknown keyword 'use_backend'")),
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
