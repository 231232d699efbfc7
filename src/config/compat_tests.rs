//! "Bring your haproxy.cfg": bytes, environment variables, the Debian stock configuration,
//! compatibility keywords, `server-template`, and the messages for what ringlb refuses.

use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "FRONT_PORT" => Some("8443".into()),
        "BACKEND_HOST" => Some("127.0.0.1".into()),
        _ => None,
    }
}

fn load_with_env(text: &[u8]) -> Result<Loaded, ConfigErrors> {
    load_bytes(&[("t.cfg".to_string(), text.to_vec())], &env)
}

fn load(text: &str) -> Result<Loaded, ConfigErrors> {
    load_with_env(text.as_bytes())
}

fn errors(text: &str) -> Vec<String> {
    match load(text) {
        Ok(_) => panic!("config unexpectedly valid:\n{text}"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

fn warnings(text: &str) -> Vec<String> {
    match load(text) {
        Ok(loaded) => loaded.warnings.iter().map(ToString::to_string).collect(),
        Err(e) => panic!("config refused: {e}"),
    }
}

const BASE: &str =
    "defaults\n mode http\n timeout client 1s\n timeout connect 1s\n timeout server 1s\n";

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn latin1_bytes_do_not_reject_a_file() {
    let text = b"# r\xe9glages de l'\xe9quipe\nglobal\n description caf\xe9 cr\xe8me\n";
    let loaded = load_with_env(text).unwrap();
    assert_eq!(
        loaded.config.global.extras.description.as_deref(),
        Some("café crème")
    );
    let loaded = load_files(&[fixture("latin1.cfg")]).unwrap();
    assert!(loaded.config.backend("app").is_some());
}

#[test]
fn environment_variables_expand_as_haproxy_does() {
    let text = format!(
        "{BASE}frontend f\n bind \"${{BACKEND_HOST}}:${{FRONT_PORT}}\"\n bind \"127.0.0.1:${{NOPE-9001}}\"\n default_backend b\nbackend b\n server s \"$BACKEND_HOST\":80\n server t '${{BACKEND_HOST}}':81 disabled\n"
    );
    // Single quotes keep `${BACKEND_HOST}` as a host name, which does not resolve.
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("'server t'") && errs[0].contains("${BACKEND_HOST}"));
    let text = text.replace(" server t '${BACKEND_HOST}':81 disabled\n", "");
    let c = load(&text).unwrap().config;
    let f = c.frontend("f").unwrap();
    assert_eq!(f.binds[0].addr, "127.0.0.1:8443".parse().unwrap());
    assert_eq!(f.binds[1].addr, "127.0.0.1:9001".parse().unwrap());
    assert_eq!(
        c.backend("b").unwrap().servers[0].addr.addr,
        "127.0.0.1:80".parse().unwrap()
    );
}

#[test]
fn an_unset_variable_is_named_and_empty() {
    let w = warnings(&format!(
        "global\n description \"a${{UNSET_ONE}}b\"\n{BASE}backend b\n server s 127.0.0.1:80\n"
    ));
    assert!(
        w.iter().any(|w| w.starts_with("parsing [t.cfg:2] : ")
            && w.contains("environment variable 'UNSET_ONE' is not set")),
        "{w:?}"
    );
    let errs = errors(&format!("{BASE}frontend f\n bind \"${{UNSET_ADDR}}\"\n"));
    assert!(
        errs[0].starts_with("parsing [t.cfg:7] : 'bind ")
            && errs[0].ends_with(
                "(environment variable 'UNSET_ADDR' is not set and expanded to an empty string)"
            ),
        "{errs:?}"
    );
}

#[test]
fn an_unexpanded_variable_in_an_error_hints_at_quotes() {
    let errs = errors(&format!("{BASE}frontend f\n bind :$FRONT_PORT\n"));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains("invalid port '$FRONT_PORT'")
            && errs[0].contains("environment variables expand only inside double quotes")
            && errs[0].contains("\"${FRONT_PORT}\""),
        "{errs:?}"
    );
    // A `$` that is no variable gets no hint.
    let errs = errors(&format!("{BASE}frontend f\n bind :80 $5\n"));
    assert!(!errs[0].contains("double quotes"), "{errs:?}");
}

#[test]
fn the_debian_stock_configuration_loads() {
    let loaded = load_files(&[fixture("debian-stock.cfg")]).unwrap();
    let c = &loaded.config;
    assert_eq!(
        c.global.stats_timeout,
        Some(std::time::Duration::from_secs(30))
    );
    assert_eq!(c.global.stats_sockets[0].path, "/run/haproxy/admin.sock");
    let tls: Vec<&str> = c
        .global
        .extras
        .tls
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        tls,
        [
            "ca-base",
            "crt-base",
            "ssl-default-bind-ciphers",
            "ssl-default-bind-ciphersuites",
            "ssl-default-bind-options"
        ]
    );
    let w: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    for line in [12, 13, 16, 17, 18] {
        assert!(
            w.iter()
                .any(|w| w.contains(&format!("debian-stock.cfg:{line}] : "))
                    && w.contains("TLS settings are accepted but not used yet")),
            "line {line}: {w:#?}"
        );
    }
}

#[test]
fn debian_errorfiles_are_served() {
    let text = "defaults\n errorfile 503 /etc/haproxy/errors/503.http\nbackend b\n server s 127.0.0.1:80\n";
    let c = load(text).unwrap().config;
    let page = c.backend("b").unwrap().errorpages.get(503);
    assert_eq!(page, std::fs::read("/etc/haproxy/errors/503.http").unwrap());
}

#[test]
fn compatibility_keywords_are_recorded_and_announced() {
    let text = format!(
        "global\n spread-checks 5\n strict-limits\n server-state-file /tmp/state\n node n1\n\
         {BASE} timeout client-fin 2s\n timeout server-fin 3s\n timeout tarpit 4s\n option clitcpka\n option srvtcpka\n\
         option abortonclose\n option log-health-checks\n option socket-stats\n load-server-state-from-file global\n monitor-uri /alive\n\
         listen l\n bind 127.0.0.1:8001\n fullconn 50\n description the lab\n http-check disable-on-404\n\
         stats show-node\n stats show-desc\n stats scope .\n ignore-persist if TRUE\n server s 127.0.0.1:80\n\
         frontend f\n bind 127.0.0.1:8002\n option tcpka\n no option clitcpka\n default_backend l\n"
    );
    let loaded = load(&text).unwrap();
    let c = &loaded.config;
    let g = &c.global.extras;
    assert_eq!(
        (g.spread_checks, g.strict_limits, g.node.as_deref()),
        (Some(5), true, Some("n1"))
    );
    let l = &c.frontend("l").unwrap().extras;
    let secs = |s| Some(std::time::Duration::from_secs(s));
    assert_eq!(
        (l.client_fin, l.server_fin, l.tarpit),
        (secs(2), secs(3), secs(4))
    );
    assert!(l.client_keepalive && l.server_keepalive && l.abortonclose);
    assert!(l.log_health_checks && l.socket_stats && l.disable_on_404);
    assert_eq!(l.monitor_uri.as_deref(), Some("/alive"));
    assert_eq!(l.fullconn, Some(50));
    assert_eq!(l.description.as_deref(), Some("the lab"));
    assert_eq!(l.load_server_state.as_deref(), Some("global"));
    assert_eq!(l.stats_scope, ["."]);
    assert_eq!(l.stats_show_node, Some(None));
    let f = &c.frontend("f").unwrap().extras;
    assert!(
        !f.client_keepalive && f.server_keepalive,
        "tcpka then no clitcpka"
    );
    let w: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    // Applied now (SO_KEEPALIVE, tests/e2e/tcp.rs): no warning.
    assert!(!w.iter().any(|w| w.contains("tcpka")), "{w:#?}");
    for (keyword, why) in [
        ("'spread-checks'", "spreads the first checks"),
        ("'strict-limits'", "lowers 'maxconn'"),
        ("'server-state-file'", "survive reloads in-process"),
        ("'timeout client-fin'", "half-closed"),
        ("'timeout tarpit'", "no tarpit"),
        ("'option abortonclose'", "has no effect"),
        ("'option log-health-checks'", "has no effect"),
        ("'option socket-stats'", "per-listener"),
        (
            "'load-server-state-from-file'",
            "survive reloads in-process",
        ),
        ("'fullconn'", "'minconn'"),
        ("'description'", "shown nowhere"),
        ("'http-check disable-on-404'", "draining"),
        ("'stats show-desc'", "no description"),
        ("'stats scope'", "every proxy"),
        ("'ignore-persist'", "no persistence"),
    ] {
        assert!(
            w.iter().any(|w| w.contains(keyword) && w.contains(why)),
            "{keyword}: {w:#?}"
        );
    }
    assert!(!w.iter().any(|w| w.contains("show-node")), "{w:#?}");
    assert!(
        !w.iter().any(|w| w.contains("monitor-uri")),
        "monitor-uri is served: {w:#?}"
    );
    let w = warnings(&format!(
        "{BASE}listen l\n bind :8007\n stats show-node lb1\n"
    ));
    assert!(
        w.iter()
            .any(|w| w.contains("'stats show-node lb1': the stats page shows the host name")),
        "{w:#?}"
    );
}

#[test]
fn compatibility_keywords_check_their_arguments() {
    let errs = errors(&format!(
        "global\n spread-checks 60\n strict-limits now\n ca-base\n{BASE}listen l\n bind :8003\n fullconn x\n monitor-uri health\n ignore-persist\n timeout tarpit x\n option tcpka now\n"
    ));
    for (line, keyword) in [
        (2, "'spread-checks'"),
        (3, "'strict-limits'"),
        (4, "'ca-base'"),
        (12, "'fullconn'"),
        (13, "'monitor-uri'"),
        (14, "'ignore-persist'"),
        (15, "'timeout tarpit'"),
        (16, "'option tcpka'"),
    ] {
        assert!(
            errs.iter().any(
                |e| e.starts_with(&format!("parsing [t.cfg:{line}] : ")) && e.contains(keyword)
            ),
            "line {line} {keyword}: {errs:#?}"
        );
    }
}

#[test]
fn stats_socket_expose_fd_listeners() {
    let w =
        warnings("global\n stats socket /tmp/x.sock mode 660 level admin expose-fd listeners\n");
    assert!(w
        .iter()
        .any(|w| w.contains("'expose-fd listeners'") && w.contains("in-process")));
    let errs = errors("global\n stats socket /tmp/x.sock expose-fd all\n");
    assert!(
        errs[0].contains("'expose-fd' expects 'listeners'"),
        "{errs:?}"
    );
    let errs = errors("global\n stats socket /tmp/x.sock severity-output number\n");
    assert!(
        errs[0].contains("'severity-output' is a HAProxy keyword that ringlb does not support yet"),
        "{errs:?}"
    );
}

#[test]
fn a_listen_or_frontend_without_bind_warns_as_haproxy() {
    let w = warnings(&format!("{BASE}listen l\n server s 127.0.0.1:80\n"));
    assert!(
        w.iter().any(|w| w.contains(
            "listen 'l' has no 'bind' directive. Please declare it as a backend if this was intended."
        )),
        "{w:?}"
    );
}

#[test]
fn a_refused_bind_does_not_cascade() {
    let errs = errors(&format!(
        "{BASE}frontend f\n bind :443 ssl crt /x.pem alpn h2\n default_backend b\nbackend b\n server s 127.0.0.1:80\n"
    ));
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(errs
        .iter()
        .all(|e| e.starts_with("parsing [t.cfg:7] : 'bind :443': ")));
    let errs = errors(&format!("{BASE}frontend f\n bind :99999\n"));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let loaded = load_bytes(
        &[(
            "t.cfg".into(),
            format!("{BASE}frontend f\n bind :99999\n").into_bytes(),
        )],
        &env,
    );
    assert!(loaded.is_err());
}

#[test]
fn every_unsupported_server_option_is_reported() {
    let errs = errors(&format!(
        "{BASE}backend b\n server s 127.0.0.1:443 ssl verify none sni str(x) check\n"
    ));
    assert_eq!(errs.len(), 3, "{errs:#?}");
    for (e, option) in errs.iter().zip(["ssl", "verify", "sni"]) {
        assert!(
            e.starts_with("parsing [t.cfg:7] : 'server s': ")
                && e.contains(&format!(
                    "'{option}' is a HAProxy keyword that ringlb does not support yet"
                )),
            "{e}"
        );
    }
    let errs = errors(&format!("{BASE}backend b\n default-server wieght 3\n"));
    assert!(
        errs[0].contains("unknown option 'wieght'; did you mean 'weight' maybe ?"),
        "{errs:?}"
    );
}

#[test]
fn haproxy_keywords_read_as_not_supported_yet() {
    let errs = errors(&format!(
        "global\n lua-load /x.lua\n{BASE}frontend f\n bind :8004\n http-after-response set-header X y\n option http-buffer-request\n timeout clinet 1s\n stick-table type ip size 1m\n"
    ));
    let expect = [
        (2, "'lua-load' is a HAProxy keyword that ringlb does not support yet (in 'global' section)"),
        (10, "'http-after-response' is a HAProxy keyword that ringlb does not support yet (in 'frontend' section)"),
        (11, "'option http-buffer-request' is a HAProxy keyword that ringlb does not support yet"),
        (12, "unknown keyword 'timeout clinet'; did you mean 'client' maybe ?"),
        (13, "'stick-table' is a HAProxy keyword that ringlb does not support yet"),
    ];
    for (line, message) in expect {
        assert!(
            errs.iter().any(
                |e| e.starts_with(&format!("parsing [t.cfg:{line}] : ")) && e.contains(message)
            ),
            "line {line}: {errs:#?}"
        );
    }
}

#[test]
fn typos_suggest_the_closest_keyword() {
    let errs = errors(&format!(
        "globl\ngloabl\n maxconn 1\n{BASE} timout client 1s\n optoin httplog\n option dontlognul\nbackend b\n defualt-server check\n"
    ));
    let expect = [
        (
            1,
            "unknown keyword 'globl' out of section; did you mean 'global' maybe ?",
        ),
        (
            9,
            "unknown keyword 'timout' in 'defaults' section; did you mean 'timeout' maybe ?",
        ),
        (
            10,
            "unknown keyword 'optoin' in 'defaults' section; did you mean 'option' maybe ?",
        ),
        (
            11,
            "unknown option 'dontlognul' in 'defaults' section; did you mean 'dontlognull' maybe ?",
        ),
        (13, "did you mean 'default-server' maybe ?"),
    ];
    for (line, message) in expect {
        assert!(
            errs.iter().any(
                |e| e.starts_with(&format!("parsing [t.cfg:{line}] : ")) && e.contains(message)
            ),
            "line {line}: {errs:#?}"
        );
    }
    // Nothing close: no guess.
    let errs = errors(&format!("{BASE}frontend f\n frobnicate on\n"));
    assert!(
        errs[0].ends_with("unknown keyword 'frobnicate' in 'frontend' section"),
        "{errs:?}"
    );
}

#[test]
fn removed_keywords_get_haproxys_message() {
    let removed = [
        ("reqadd", "Use 'http-request add-header' instead."),
        ("reqrep", "Use 'http-request replace-path', 'http-request replace-uri' or 'http-request replace-header' instead."),
        ("reqdel", "Use 'http-request del-header' instead."),
        ("reqidel", "Use 'http-request del-header' instead."),
        ("reqirep", "Use 'http-request replace-header' instead."),
        ("reqallow", "Use 'http-request allow' instead."),
        ("reqdeny", "Use 'http-request deny' instead."),
        ("reqtarpit", "Use 'http-request tarpit' instead."),
        ("rspadd", "Use 'http-response add-header' instead."),
        ("rsprep", "Use 'http-response replace-header' instead."),
        ("rspdel", "Use 'http-response del-header' instead."),
        ("rspidel", "Use 'http-response del-header' instead."),
        ("rspirep", "Use 'http-response replace-header' instead."),
        ("rspdeny", "Use 'http-response deny' instead."),
        ("block", "Use 'http-request deny' which uses the exact same syntax."),
        ("reqiallow", "Use 'http-request allow' instead."),
        ("reqideny", "Use 'http-request deny' instead."),
        ("reqitarpit", "Use 'http-request tarpit' instead."),
        ("rspideny", "Use 'http-response deny' instead."),
    ];
    for (keyword, hint) in removed {
        let errs = errors(&format!(
            "{BASE}frontend f\n bind :8005\n {keyword} ^X-A:\\ b if TRUE\n"
        ));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(
            errs[0],
            format!("parsing [t.cfg:8] : The '{keyword}' directive is not supported anymore since HAProxy 2.1. {hint}")
        );
    }
}

#[test]
fn server_template_declares_numbered_servers() {
    let c = load(&format!(
        "{BASE}backend web\n server-template app 3 localhost:8080 check inter 1s\n server-template api 5-6 127.0.0.2:81\n"
    ))
    .unwrap()
    .config;
    let b = c.backend("web").unwrap();
    let names: Vec<&str> = b.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["app1", "app2", "app3", "api5", "api6"]);
    assert!(b.servers[..3]
        .iter()
        .all(|s| s.addr.addr.ip().is_loopback() && s.addr.addr.port() == 8080 && s.check.enabled));
    assert_eq!(b.servers[4].addr.addr, "127.0.0.2:81".parse().unwrap());
    assert_eq!(b.servers[4].puid, 5);
    let errs = errors(&format!(
        "{BASE}backend web\n server-template app 0 localhost:80\n server-template app\n server app2 127.0.0.1:80\n server-template app 1-2 127.0.0.1:80\n"
    ));
    assert!(
        errs.iter()
            .any(|e| e.contains("t.cfg:7") && e.contains("invalid range '0'")),
        "{errs:#?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("t.cfg:8") && e.contains("expects <prefix>")),
        "{errs:#?}"
    );
    assert!(
        errs.iter().any(|e| e.contains("t.cfg:10")
            && e.contains("'app2'")
            && e.contains("already declared")),
        "{errs:#?}"
    );
}

#[test]
fn init_addr_none_starts_a_server_in_maintenance() {
    let loaded = load(&format!(
        "{BASE}backend b\n server-template db 2 no-such-host.invalid:5432 init-addr last,libc,none\n server lit 127.0.0.1:80 init-addr none\n"
    ))
    .unwrap();
    let b = loaded.config.backend("b").unwrap();
    assert!(b.servers[..2]
        .iter()
        .all(|s| s.no_address && s.starts_in_maint()));
    assert_eq!(b.servers[0].addr.addr, "0.0.0.0:0".parse().unwrap());
    assert!(!b.servers[2].no_address && !b.servers[2].starts_in_maint());
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.message.contains("'server db1': no address")));
    let errs = errors(&format!(
        "{BASE}backend b\n server s no-such-host.invalid:80\n"
    ));
    assert!(
        errs[0].contains("could not resolve address 'no-such-host.invalid'"),
        "{errs:?}"
    );
    let errs = errors(&format!(
        "{BASE}backend b\n server s 127.0.0.1:80 init-addr dns\n"
    ));
    assert!(errs[0].contains("'init-addr' expects"), "{errs:?}");
}

#[test]
fn unsupported_sections_are_reported_once() {
    let errs = errors("resolvers dns\n nameserver ns1 10.0.0.1:53\n hold valid 10s\npeers p\n peer a 10.0.0.1:1024\n");
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs[0].contains("'resolvers' is a HAProxy keyword that ringlb does not support yet"));
    assert!(errs[1].starts_with("parsing [t.cfg:4] : 'peers' is a HAProxy keyword"));
}

#[test]
fn every_listed_keyword_is_dispatched() {
    // The lists used for suggestions and "not supported yet" must match the parsers.
    for keyword in proxy::KEYWORDS {
        if let Err(e) = load(&format!("{BASE}listen l\n {keyword}\n")) {
            let e = e.to_string();
            assert!(
                !e.contains(&format!("unknown keyword '{keyword}' in")),
                "{e}"
            );
            assert!(
                !e.contains(&format!("'{keyword}' is a HAProxy keyword")),
                "{e}"
            );
        }
    }
    for keyword in global::KEYWORDS {
        if let Err(e) = load(&format!("global\n {keyword}\n")) {
            let e = e.to_string();
            assert!(
                !e.contains(&format!("unknown keyword '{keyword}' in")),
                "{e}"
            );
            assert!(
                !e.contains(&format!("'{keyword}' is a HAProxy keyword")),
                "{e}"
            );
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    // Addresses are literal: a random host name would go to the resolver.
    let pieces: [&[u8]; 22] = [
        b"global\n",
        b"defaults\n",
        b"listen l\n",
        b"backend b\n",
        b" bind :8006",
        b" server s 127.0.0.1:1",
        b" server-template x 1-3 127.0.0.1:1",
        b" init-addr none",
        b"\"${",
        b"\"$A",
        b"}\"",
        b"[*]",
        b"-d",
        b"'",
        b"\\x4",
        b"\\",
        b"\xe9\xff",
        b"\0",
        b"#",
        b" ",
        b"\n",
        b" ssl crt",
    ];
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..2_000 {
        let mut text = Vec::new();
        for _ in 0..rng.usize(1..40) {
            if rng.bool() {
                text.extend_from_slice(pieces[rng.usize(..pieces.len())]);
            } else {
                text.push(rng.u8(..));
            }
        }
        let _ = load_with_env(&text);
    }
}
