//! The command line: checking configurations and refusing bad ones.

use crate::harness::{free_port, run_ringlb, temp_dir};

#[test]
fn check_mode_accepts_the_seed_config() {
    let out = run_ringlb(&["-c", "-f", "tests/fixtures/seed.cfg"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Configuration file is valid\n"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("'daemon' is accepted for compatibility"),
        "{stderr}"
    );
}

#[test]
fn check_mode_reports_every_error_with_its_line() {
    let dir = temp_dir("cli");
    let cfg = dir.join("bad.cfg");
    std::fs::write(
        &cfg,
        "global\n maxconn 100\n frobnicate on\n\ndefaults\n mode http\n timeout client 10 parsecs\n\nbackend app\n server s1 127.0.0.1:80 weight 9000\n",
    )
    .unwrap();
    let out = run_ringlb(&["-c", "-f", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = cfg.display().to_string();
    for (line, keyword) in [
        (3, "'frobnicate'"),
        (7, "'timeout client'"),
        (10, "'server s1'"),
    ] {
        let wanted = format!("parsing [{file}:{line}] : ");
        let found = stderr.lines().find(|l| l.contains(&wanted));
        assert!(
            found.is_some_and(|l| l.contains(keyword)),
            "no error for line {line} naming {keyword}:\n{stderr}"
        );
    }
    assert!(out.stdout.is_empty());
}

#[test]
fn a_missing_file_and_a_bad_flag_are_clear_errors() {
    let out = run_ringlb(&["-c", "-f", "/nonexistent/ringlb.cfg"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/ringlb.cfg"));
    let out = run_ringlb(&["--frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run_ringlb(&["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ringlb "));
}

#[test]
fn a_port_already_in_use_stops_startup() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = temp_dir("cli");
    let cfg = dir.join("busy.cfg");
    let other = free_port();
    std::fs::write(
        &cfg,
        format!("defaults\n mode http\n timeout client 1s\nfrontend f\n bind 127.0.0.1:{other}\n bind 127.0.0.1:{port}\n"),
    )
    .unwrap();
    let out = run_ringlb(&["-f", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot bind socket") && stderr.contains(&port.to_string()),
        "{stderr}"
    );
    // The cause is said once, in HAProxy's place: `cannot bind socket (…) [addr]`.
    assert_eq!(stderr.matches("in use").count(), 1, "{stderr}");
}
