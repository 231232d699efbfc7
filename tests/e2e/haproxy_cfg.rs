//! "Bring your haproxy.cfg": the same files through `ringlb -c -f` and the real
//! `haproxy -c -f` (HAProxy 2.6, the oracle). Both accept the fixtures; both refuse the
//! broken configurations, and ringlb's message names the file, the line and the keyword.

use std::process::{Command, Output};

use crate::harness::{repo, run_ringlb, temp_dir};

/// Environment for `tests/fixtures/env.cfg`.
const ENV: &[(&str, &str)] = &[
    ("LISTEN_ADDR", "127.0.0.1"),
    ("LISTEN_PORT", "18095"),
    ("BACKEND_HOST", "127.0.0.1"),
];

fn haproxy_check(file: &str, env: &[(&str, &str)]) -> Output {
    Command::new("haproxy")
        .args(["-c", "-f", file])
        .envs(env.iter().copied())
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run haproxy ({e}); install HAProxy 2.6 (scripts/install-deps.sh)")
        })
}

fn ringlb_check(file: &str, env: &[(&str, &str)]) -> Output {
    if env.is_empty() {
        return run_ringlb(&["-c", "-f", file]);
    }
    Command::new(crate::harness::ringlb_bin())
        .args(["-c", "-f", file])
        .envs(env.iter().copied())
        .current_dir(repo())
        .output()
        .expect("run ringlb")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn fixtures_haproxy_accepts_load() {
    for (fixture, env) in [
        ("tests/fixtures/debian-stock.cfg", &[][..]),
        ("tests/fixtures/latin1.cfg", &[][..]),
        ("tests/fixtures/compose-lab.cfg", &[][..]),
        ("tests/fixtures/env.cfg", ENV),
        ("tests/fixtures/seed.cfg", &[][..]),
    ] {
        let theirs = haproxy_check(fixture, env);
        assert!(
            theirs.status.success(),
            "haproxy refuses {fixture}:\n{}",
            text(&theirs)
        );
        let ours = ringlb_check(fixture, env);
        assert!(
            ours.status.success(),
            "ringlb refuses {fixture}:\n{}",
            text(&ours)
        );
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            "Configuration file is valid\n"
        );
    }
}

#[test]
fn the_debian_stock_file_warns_about_tls_once_per_line() {
    let out = ringlb_check("tests/fixtures/debian-stock.cfg", &[]);
    let stderr = text(&out);
    assert_eq!(
        stderr
            .matches("TLS settings are accepted but not used yet")
            .count(),
        5,
        "{stderr}"
    );
}

#[test]
fn env_fixture_needs_its_variables() {
    // Without LISTEN_PORT the bind address has no port: both refuse, and ringlb says which
    // variable was empty.
    let env = &ENV[..1];
    let theirs = haproxy_check("tests/fixtures/env.cfg", env);
    assert!(!theirs.status.success(), "{}", text(&theirs));
    let ours = ringlb_check("tests/fixtures/env.cfg", env);
    assert_eq!(ours.status.code(), Some(1));
    let stderr = text(&ours);
    assert!(
        stderr.contains("env.cfg:13] : 'bind 127.0.0.1:'"),
        "{stderr}"
    );
}

/// Broken lines (in a frontend, or in a backend when `backend` is set), the keyword ringlb's
/// message must name.
const BROKEN: &[(&str, bool, &str)] = &[
    (
        r"reqadd X-Foo:\ bar",
        false,
        "'reqadd' directive is not supported anymore since HAProxy 2.1",
    ),
    (
        "block if TRUE",
        false,
        "'block' directive is not supported anymore",
    ),
    ("timout client 1s", false, "unknown keyword 'timout'"),
    ("option tcpka_", false, "unknown option 'tcpka_'"),
    (
        "bind :18096 ssl crt /nonexistent.pem",
        false,
        "'ssl' is a HAProxy keyword",
    ),
    (
        "capture request header Host len 20 foo",
        false,
        "'capture' expects 'request header <name> len <length>'",
    ),
    ("description \"abc", false, "unmatched quote"),
    ("bind :$PORT", false, "invalid port '$PORT'"),
    (
        "bind \"${1BAD}:80\"",
        false,
        "forbidden first char in environment variable name",
    ),
    (
        "server s 127.0.0.1:80 bogus",
        true,
        "unknown option 'bogus'",
    ),
    (
        "server s no-such-host.invalid:80",
        true,
        "could not resolve address 'no-such-host.invalid'",
    ),
    (
        "server-template web 0 localhost:80",
        true,
        "'server-template web'",
    ),
    ("server s 127.0.0.1:80 init-addr dns", true, "'init-addr'"),
];

#[test]
fn broken_configurations_are_refused_by_both() {
    let dir = temp_dir("haproxy-cfg");
    for (i, (line, in_backend, wanted)) in BROKEN.iter().enumerate() {
        let cfg = dir.join(format!("broken{i}.cfg"));
        let (front, back) = if *in_backend {
            ("", *line)
        } else {
            (*line, "")
        };
        std::fs::write(
            &cfg,
            format!(
                "defaults\n mode http\n timeout client 1s\n timeout connect 1s\n timeout server 1s\n\
                 frontend f\n bind 127.0.0.1:18097\n default_backend b\n {front}\n\
                 backend b\n server ok 127.0.0.1:80\n {back}\n"
            ),
        )
        .unwrap();
        let file = cfg.to_str().unwrap();
        let theirs = haproxy_check(file, &[]);
        assert!(!theirs.status.success(), "haproxy accepts '{line}'");
        let ours = ringlb_check(file, &[]);
        assert_eq!(ours.status.code(), Some(1), "ringlb accepts '{line}'");
        let stderr = text(&ours);
        let at = format!("parsing [{file}:{}]", if *in_backend { 12 } else { 9 });
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(&at) && l.contains(wanted)),
            "'{line}': want {at} and {wanted}:\n{stderr}"
        );
    }
}
