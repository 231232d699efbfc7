//! The admin socket (`stats socket`, HAProxy's runtime API) end to end: the real binary and
//! the real HAProxy 2.6 given the same configuration and the same commands, one connection per
//! command as `echo cmd | socat - /path` does.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::client::get;
use crate::haproxy::{cli, raw, Haproxy, StatTable};
use crate::harness::{defaults, free_port, ringlb_bin, temp_dir, Ringlb};

/// The shared configuration: backend `b` (round robin; `s1` checked, `s2` plain, `s3`
/// disabled), backend `st` (static-rr), a frontend on `port`, one `stats socket` per entry of
/// `sockets` (path, options).
fn diff_config(sockets: &[(PathBuf, &str)], port: u16, servers: &[u16; 3]) -> String {
    let mut global = String::from("global\n");
    for (path, options) in sockets {
        global.push_str(&format!(" stats socket {} {options}\n", path.display()));
    }
    format!(
        "{global}{}frontend f\n bind 127.0.0.1:{port}\n default_backend b\n\
         backend b\n balance roundrobin\n server s1 127.0.0.1:{} check inter 200ms\n \
         server s2 127.0.0.1:{}\n server s3 127.0.0.1:{} disabled\n\
         backend st\n balance static-rr\n server x 127.0.0.1:{}\n server y 127.0.0.1:{}\n",
        defaults(""),
        servers[0],
        servers[1],
        servers[2],
        servers[0],
        servers[1],
    )
}

/// HAProxy and ringlb on the same configuration, each with its own sockets and frontend port.
struct Pair {
    _haproxy: Haproxy,
    _ringlb: Ringlb,
    /// HAProxy's sockets, in the order given.
    h: Vec<PathBuf>,
    /// ringlb's sockets, in the order given.
    r: Vec<PathBuf>,
    backends: Vec<Backend>,
}

impl Pair {
    /// Both started with one socket per entry of `levels` (its options, e.g. `level admin`).
    fn start(levels: &[&'static str]) -> Pair {
        let backends: Vec<Backend> = ["s1", "s2", "s3"]
            .iter()
            .map(|n| Backend::start(n))
            .collect();
        let ports = [backends[0].port, backends[1].port, backends[2].port];
        let dir = temp_dir("sock");
        let socks = |who: &str| -> Vec<(PathBuf, &'static str)> {
            levels
                .iter()
                .enumerate()
                .map(|(i, l)| (dir.join(format!("{who}{i}.sock")), *l))
                .collect()
        };
        let (hs, rs) = (socks("haproxy"), socks("ringlb"));
        let haproxy = Haproxy::start(&diff_config(&hs, free_port(), &ports), &hs[0].0);
        let ringlb = Ringlb::start(&diff_config(&rs, free_port(), &ports));
        Pair {
            _haproxy: haproxy,
            _ringlb: ringlb,
            h: hs.into_iter().map(|(p, _)| p).collect(),
            r: rs.into_iter().map(|(p, _)| p).collect(),
            backends,
        }
    }

    /// `command` sent to both on socket `i`: (HAProxy's reply, ringlb's).
    fn both_on(&self, i: usize, command: &str) -> (String, String) {
        (cli(&self.h[i], command), cli(&self.r[i], command))
    }

    /// `command` sent to both on the first socket: the replies must be identical.
    fn same(&self, command: &str) -> String {
        let (h, r) = self.both_on(0, command);
        assert_eq!(
            r, h,
            "reply to {command:?}: ringlb (left) vs HAProxy (right)"
        );
        r
    }

    /// `command` sent to both; each reply through `mask` must be identical.
    fn same_masked(&self, command: &str, mask: fn(&str) -> String) {
        let (h, r) = self.both_on(0, command);
        assert_eq!(
            mask(&r),
            mask(&h),
            "reply to {command:?}: ringlb (left) vs HAProxy (right)\nraw ringlb: {r:?}\nraw haproxy: {h:?}"
        );
    }

    /// Waits until both have passed s1's checks (`srv_check_status` L4OK, result passed,
    /// health at its top, checks enabled: `6 3 4 6`) and agree on `show servers state`
    /// (masked): each process checks on its own schedule.
    fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (h, r) = self.both_on(0, "show servers state");
            let checked = |t: &str| {
                t.lines()
                    .any(|l| l.starts_with("3 b 1 s1 ") && l.contains(" 6 3 4 6 "))
            };
            if checked(&h) && checked(&r) && mask_servers_state(&h) == mask_servers_state(&r) {
                return;
            }
            assert!(Instant::now() < deadline, "never agreed:\n{h}\n{r}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `show servers state` with `srv_time_since_last_change` (column 10) replaced by `T`: it
/// counts seconds since each process started or the server last changed, and the two
/// processes do not start in the same second.
fn mask_servers_state(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.starts_with('#') || !l.contains(' ') {
                return l.to_string();
            }
            let mut words: Vec<&str> = l.split(' ').collect();
            if words.len() > 9 {
                words[9] = "T";
            }
            words.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `show stat` columns both must agree on, per row.
const STAT_FIELDS: &[&str] = &[
    "pxname", "svname", "status", "weight", "act", "bck", "type", "iid", "sid", "mode", "algo",
];

/// `show stat` reduced to its header line and, per row, [`STAT_FIELDS`]. The other columns
/// are counters, times and limits that legitimately differ (HAProxy's frontend `slim` is its
/// computed maxconn, `lastchg`/`downtime` are seconds since start, `check_*` of s1 follow each
/// process' own check schedule, `uweight` of a backend is HAProxy's sum of usable servers).
fn stat_fields(csv: &str) -> String {
    let table = StatTable::parse(csv);
    let mut out = vec![csv.lines().next().unwrap_or_default().to_string()];
    for row in &table.rows {
        let fields: Vec<&str> = STAT_FIELDS.iter().map(|f| table.field(row, f)).collect();
        out.push(fields.join(","));
    }
    out.join("\n")
}

/// Test 1: every reply of a session of commands, byte for byte (with the masking above).
#[test]
fn replies_match_haproxy() {
    let pair = Pair::start(&["level admin"]);
    pair.settle();
    // Errors in naming, weights and states: HAProxy's texts, including the ones without the
    // final newline (the weight parse error).
    for command in [
        "disable server b",
        "disable server nob/s1",
        "disable server b/nos",
        "set weight b/s1 300",
        "set weight b/s1 abc",
        "set weight b/s1 -1",
        "set server b/s1 state bogus",
        "enable health b/s2",
        "set weight st/x 2",
        "show servers state nob",
        "show backend",
        "get weight b/s1",
        "get weight b/s3",
    ] {
        pair.same(command);
    }
    assert_eq!(
        pair.same("disable server b"),
        "Require 'backend/server'.\n\n"
    );
    pair.same_masked("show servers state", mask_servers_state);
    let (h, r) = pair.both_on(0, "show stat");
    assert_eq!(r.lines().next(), h.lines().next(), "the CSV header");
    assert!(r.ends_with(",\n\n"), "{r:?}");
    pair.same_masked("show stat", stat_fields);

    // Drain: the admin bit 0x08, status DRAIN, and the backend's `act` drops s1.
    assert_eq!(pair.same("set server b/s1 state drain"), "\n");
    pair.same_masked("show servers state b", mask_servers_state);
    pair.same_masked("show stat", stat_fields);
    assert_eq!(pair.same("set server b/s1 state ready"), "\n");
    pair.same_masked("show servers state b", mask_servers_state);

    // 50% of 1 is 0: the server stays UP in its row but leaves the backend's `act`.
    assert_eq!(pair.same("set weight b/s1 50%"), "\n");
    assert_eq!(pair.same("get weight b/s1"), "0 (initial 1)\n\n");
    pair.same_masked("show stat", stat_fields);
    pair.same("set weight b/s1 100%");
    assert_eq!(pair.same("get weight b/s1"), "1 (initial 1)\n\n");

    // Maintenance set at run time, on a server without checks.
    assert_eq!(pair.same("disable server b/s2"), "\n");
    pair.same_masked("show servers state b", mask_servers_state);
    pair.same_masked("show stat", stat_fields);
    assert_eq!(pair.same("enable server b/s2"), "\n");
    pair.same_masked("show servers state b", mask_servers_state);

    // Dynamic servers: added in maintenance, deleted only from maintenance.
    let port = pair.backends[1].port;
    assert_eq!(
        pair.same(&format!("add server b/n1 127.0.0.1:{port}")),
        "New server registered.\n\n"
    );
    pair.same("get weight b/n1");
    pair.same_masked("show servers state b", mask_servers_state);
    pair.same_masked("show stat", stat_fields);
    // HAProxy's "Only servers..." and "Server deleted." have no newline of their own.
    assert_eq!(
        pair.same("del server b/s1"),
        "Only servers in maintenance mode can be deleted.\n"
    );
    pair.same("disable server b/n1");
    assert_eq!(pair.same("del server b/n1"), "Server deleted.\n");
    pair.same("get weight b/n1");
    pair.same_masked("show stat", stat_fields);

    // Last, since it sends s1's checks to a closed port (their columns would then race).
    let reply = pair.same("set server b/s1 addr 127.0.0.2 port 81");
    assert!(reply.starts_with("IP changed from '127.0.0.1' to '127.0.0.2', port changed from"));
    let (h, r) = pair.both_on(0, "show servers state b");
    let addr_port = |text: &str| -> Vec<(String, String)> {
        text.lines()
            .filter(|l| l.starts_with("3 b "))
            .map(|l| {
                let w: Vec<&str> = l.split(' ').collect();
                (w[4].to_string(), w[18].to_string())
            })
            .collect()
    };
    assert_eq!(addr_port(&r), addr_port(&h));
    assert_eq!(addr_port(&r)[0], ("127.0.0.2".into(), "81".into()));
}

/// Reads from `stream` until `text` ends what was read (or the peer closes or 5 s pass).
fn read_until(stream: &mut UnixStream, text: &str) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut out = Vec::new();
    let mut byte = [0u8; 4096];
    while !out.ends_with(text.as_bytes()) {
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&byte[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An interactive prompt session: each command written only after the previous prompt came
/// back; the transcript of replies, then whether the server closed after `quit`.
fn prompt_session(path: &Path, commands: &[&str]) -> (Vec<String>, bool) {
    let mut stream = UnixStream::connect(path).unwrap();
    stream.write_all(b"prompt\n").unwrap();
    let mut transcript = vec![read_until(&mut stream, "> ")];
    for command in commands {
        stream.write_all(format!("{command}\n").as_bytes()).unwrap();
        transcript.push(read_until(&mut stream, "> "));
    }
    stream.write_all(b"quit\n").unwrap();
    let rest = read_until(&mut stream, "\u{0}never");
    transcript.push(rest);
    // EOF came back (read_until returned without the impossible suffix, within 5 s).
    let mut byte = [0u8; 1];
    let closed = matches!(stream.read(&mut byte), Ok(0));
    (transcript, closed)
}

/// Test 2: `;` chaining, prompt mode, closing after the input without prompt.
#[test]
fn framing_matches_haproxy() {
    let pair = Pair::start(&["level admin"]);
    let both_raw = |input: &[u8]| {
        (
            String::from_utf8_lossy(&raw(&pair.h[0], input)).into_owned(),
            String::from_utf8_lossy(&raw(&pair.r[0], input)).into_owned(),
        )
    };
    // Two replies, each followed by its empty line.
    let (h, r) = both_raw(b"show backend;get weight b/s1\n");
    assert_eq!(r, h);
    assert_eq!(r, "# name\nb\nst\n\n1 (initial 1)\n\n");
    // An escaped ';' is part of the word, not a separator.
    let (h, r) = both_raw(b"get weight b/s1\\;x\n");
    assert_eq!(r, h);
    // Without prompt the session ends after the input: the client never shut its side down
    // (raw() does not), yet both closed, promptly.
    let start = Instant::now();
    let (h, r) = both_raw(b"get weight b/s2\n");
    assert_eq!(r, h);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    // Prompt mode: "> " after each reply, several commands, `quit` closes.
    let commands = [
        "show backend",
        "get weight b/s1",
        "set weight b/s1 abc",
        "bogus",
    ];
    let (ht, hclosed) = prompt_session(&pair.h[0], &commands);
    let (rt, rclosed) = prompt_session(&pair.r[0], &commands);
    assert!(
        hclosed && rclosed,
        "quit closes: haproxy {hclosed}, ringlb {rclosed}"
    );
    assert_eq!(rt[0], ht[0], "the first prompt");
    assert_eq!(rt[0], "\n> ");
    assert_eq!(rt[1..4], ht[1..4], "replies in prompt mode");
    assert_eq!(rt[2], "1 (initial 1)\n\n> ");
    // The unknown command: the suggestion list differs (ringlb has fewer commands); the
    // header line and the prompt after it do not.
    assert_eq!(rt[4].lines().next(), ht[4].lines().next());
    assert!(rt[4].ends_with("\n\n> ") && ht[4].ends_with("\n\n> "));
    assert_eq!(rt[5], ht[5], "nothing after quit");
    // Pipelined in one write without prompt: every command answered before the close.
    let (h, r) = both_raw(b"get weight b/s1\nget weight b/s2\n");
    assert_eq!(r, h);
}

/// Test 3: `level user` and the default `operator` refuse state changes; operator may `show
/// errors`, user may not.
#[test]
fn levels_match_haproxy() {
    let pair = Pair::start(&["level admin", "level user", ""]);
    let mask_date = |text: &str| -> String {
        match (text.find('['), text.find(']')) {
            (Some(a), Some(b)) if a < b => format!("{}[DATE{}", &text[..a], &text[b..]),
            _ => text.to_string(),
        }
    };
    for (socket, name) in [(1, "user"), (2, "operator")] {
        for command in [
            "disable server b/s1",
            "set weight b/s1 2",
            "set server b/s1 state drain",
            "enable health b/s1",
            "add server b/z 127.0.0.1:1",
            "del server b/s1",
            "disable server nob/zz",
        ] {
            let (h, r) = pair.both_on(socket, command);
            assert_eq!(r, h, "{name}: {command}");
            assert_eq!(r, "Permission denied\n\n", "{name}: {command}");
        }
        for command in ["get weight b/s1", "show backend"] {
            let (h, r) = pair.both_on(socket, command);
            assert_eq!(r, h, "{name}: {command}");
        }
    }
    let (h, r) = pair.both_on(1, "show errors");
    assert_eq!(r, h);
    assert_eq!(r, "Permission denied\n\n");
    let (h, r) = pair.both_on(2, "show errors");
    assert_eq!(mask_date(&r), mask_date(&h));
    assert!(r.starts_with("Total events captured on ["), "{r}");
    // Nothing was changed by the refused commands.
    assert_eq!(pair.same("get weight b/s1"), "1 (initial 1)\n\n");
}

/// Test 4a: unknown commands get HAProxy's first line; an overlong line is refused with a
/// reason (HAProxy closes silently) and the next client is served.
#[test]
fn bad_input() {
    let pair = Pair::start(&["level admin"]);
    for command in [
        "frobnicate",
        "show",
        "show nothing at all",
        "zzzzzzzzzzzzzzzzzz 1 2",
    ] {
        let (h, r) = pair.both_on(0, command);
        assert_eq!(
            r.lines().next(),
            h.lines().next(),
            "{command}:\nringlb {r}\nhaproxy {h}"
        );
        assert!(r.ends_with("\n\n"), "{r:?}");
    }
    let long = format!("show backend {}\n", "x".repeat(20 * 1024));
    // HAProxy 2.6 says nothing: depending on how much it had read when its buffer filled
    // without a delimiter, the session stalls until `stats timeout` or is closed (a reset,
    // since our bytes were left unread). Never a reply.
    let mut stream = UnixStream::connect(&pair.h[0]).unwrap();
    let _ = stream.write_all(long.as_bytes());
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => {}
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::ConnectionReset
            ) => {}
        other => panic!("HAProxy answered an overlong line: {other:?}"),
    }
    drop(stream);
    // ringlb explains and closes at once.
    let start = Instant::now();
    let r = String::from_utf8_lossy(&raw(&pair.r[0], long.as_bytes())).into_owned();
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(
        r.starts_with("Command line too long: at most ") && r.ends_with("\n\n"),
        "{r:?}"
    );
    assert_eq!(cli(&pair.r[0], "show backend"), "# name\nb\nst\n\n");
}

/// Test 4b: a client that asks for a large `show stat` and never reads does not hold up the
/// control thread: another client's `show info` and HTTP traffic go on at once.
#[test]
fn a_client_that_never_reads_blocks_nothing() {
    let web = Backend::start("web");
    let port = free_port();
    let dir = temp_dir("sock");
    let sock = dir.join("admin.sock");
    let mut config = format!(
        "global\n stats socket {} level admin\n{}frontend f\n bind 127.0.0.1:{port}\n \
         default_backend web\nbackend web\n server w 127.0.0.1:{}\nbackend big\n",
        sock.display(),
        defaults(""),
        web.port
    );
    for i in 0..2000 {
        config.push_str(&format!(" server s{i} 127.0.0.1:{}\n", 10000 + i));
    }
    let lb = Ringlb::start(&config);
    // The reply is far larger than the socket buffers: its writer must wait for this client.
    let mut stuck = UnixStream::connect(&sock).unwrap();
    stuck.write_all(b"show stat\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..3 {
        let start = Instant::now();
        let info = cli(&sock, "show info");
        let took = start.elapsed();
        assert!(info.starts_with("Name: ringlb\n"), "{info:?}");
        assert!(took < Duration::from_secs(1), "show info took {took:?}");
        let start = Instant::now();
        assert_eq!(get(port, "/").text(), "web\n");
        assert!(start.elapsed() < Duration::from_secs(1));
    }
    // The first client is still connected, its reply still pending: it gets the start.
    stuck
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut head = [0u8; 16];
    stuck.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"# pxname,svname,");
    drop(stuck);
    assert!(cli(&sock, "show info").starts_with("Name: ringlb\n"));
    drop(lb);
}

/// A frontend on a free port to backend `b` (`s1`, `s2`), an admin socket; (config, port).
fn traffic_config(sock: &Path, s1: u16, s2: u16) -> (String, u16) {
    let port = free_port();
    (
        format!(
            "global\n stats socket {} level admin\n{}frontend f\n bind 127.0.0.1:{port}\n \
             default_backend b\nbackend b\n server s1 127.0.0.1:{s1}\n server s2 127.0.0.1:{s2}\n",
            sock.display(),
            defaults("")
        ),
        port,
    )
}

/// Sends 40 requests after 100 ms; how many reached `a` and `b`.
fn split(port: u16, a: &Backend, b: &Backend) -> (usize, usize) {
    std::thread::sleep(Duration::from_millis(100));
    let (a0, b0) = (a.requests(), b.requests());
    for _ in 0..40 {
        assert_eq!(get(port, "/").status, 200);
    }
    (a.requests() - a0, b.requests() - b0)
}

/// Test 5: traffic follows the admin socket's commands, and the state survives reloads.
#[test]
fn traffic_follows_commands() {
    let (s1, s2) = (Backend::start("s1"), Backend::start("s2"));
    let dir = temp_dir("sock");
    let sock = dir.join("admin.sock");
    let (config, port) = traffic_config(&sock, s1.port, s2.port);
    let lb = Ringlb::start(&config);
    assert_eq!(split(port, &s1, &s2), (20, 20));
    for (off, on) in [
        ("disable server b/s1", "enable server b/s1"),
        ("set server b/s1 state drain", "set server b/s1 state ready"),
        ("set server b/s1 state maint", "set server b/s1 state ready"),
        ("set weight b/s1 0", "set weight b/s1 1"),
    ] {
        assert_eq!(cli(&sock, off), "\n", "{off}");
        assert_eq!(split(port, &s1, &s2), (0, 40), "after {off}");
        assert_eq!(cli(&sock, on), "\n", "{on}");
        let (a, b) = split(port, &s1, &s2);
        assert!(a >= 15 && b >= 15, "after {on}: {a}/{b}");
    }
    // Maintenance survives a SIGHUP reload and the socket's own `reload`.
    assert_eq!(cli(&sock, "disable server b/s1"), "\n");
    lb.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !lb.stderr().contains("Reload complete") {
        assert!(Instant::now() < deadline, "{}", lb.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(split(port, &s1, &s2), (0, 40), "after SIGHUP");
    let reply = cli(&sock, "reload");
    // Every admin action publishes a generation too, so only the wording is fixed.
    assert!(
        reply.lines().any(
            |l| l.starts_with("Reload complete: configuration generation ")
                && l.ends_with(" server(s))")
        ) && reply.ends_with("\n\n"),
        "{reply:?}"
    );
    assert_eq!(split(port, &s1, &s2), (0, 40), "after 'reload'");
    // A broken file: the reply names each error with file:line, and nothing changes.
    let cfg = lb.dir.join("ringlb.cfg");
    let good = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{good}\nbackend broken\n balance nonsense\n")).unwrap();
    let reply = cli(&sock, "reload");
    assert!(
        reply.contains("ringlb.cfg:")
            && reply.contains("nonsense")
            && reply.contains("Reload failed"),
        "{reply:?}"
    );
    std::fs::write(&cfg, good).unwrap();
    assert_eq!(split(port, &s1, &s2), (0, 40), "after a failed 'reload'");
    assert!(cli(&sock, "show stat").contains("\nb,s1,"));
    assert_eq!(cli(&sock, "enable server b/s1"), "\n");
    let (a, b) = split(port, &s1, &s2);
    assert!(a >= 15 && b >= 15, "after enable: {a}/{b}");
}

#[test]
fn drained_and_maintained_servers_finish_what_they_have() {
    let s1 = Backend::start("s1");
    let dir = temp_dir("sock");
    for off in ["set server b/s1 state drain", "disable server b/s1"] {
        let sock = dir.join("inflight.sock");
        let (config, port) = traffic_config(&sock, s1.port, s1.port);
        // One server only: once it is out, a new request has nowhere to go.
        let config = config.replace(&format!(" server s2 127.0.0.1:{}\n", s1.port), "");
        let lb = Ringlb::start(&config);
        let slow = std::thread::spawn(move || get(port, "/slow/800"));
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(cli(&sock, off), "\n", "{off}");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(get(port, "/").status, 503, "{off}: no new request");
        let done = slow.join().unwrap();
        assert_eq!(
            (done.status, done.text()),
            (200, "s1\n".to_string()),
            "{off}: in flight"
        );
        drop(lb);
    }
}

/// ringlb on `config`, expected to refuse it: its exit status and stderr.
fn refused(config: &str) -> (std::process::ExitStatus, String) {
    let dir = temp_dir("refused");
    let cfg = dir.join("ringlb.cfg");
    std::fs::write(&cfg, config).unwrap();
    let mut child = Command::new(ringlb_bin())
        .arg("-d")
        .arg("-f")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status, err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "ringlb started anyway:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Test 6: the socket file's mode, a stale socket replaced, a regular file refused and kept.
#[test]
fn socket_file() {
    let s1 = Backend::start("s1");
    let dir = temp_dir("sock");
    for (mode, expect) in [("600", 0o600), ("660", 0o660), ("0644", 0o644)] {
        let sock = dir.join(format!("m{mode}.sock"));
        let (config, _) = traffic_config(&sock, s1.port, s1.port);
        let config = config.replace(" level admin", &format!(" mode {mode} level admin"));
        let lb = Ringlb::start(&config);
        let meta = std::fs::metadata(&sock).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, expect, "mode {mode}");
        assert_eq!(cli(&sock, "get weight b/s1"), "1 (initial 1)\n\n");
        drop(lb);
    }

    // Owner and group by name (the tests run as root, so ringlb may give the file away).
    if unsafe { libc::geteuid() } == 0 {
        let sock = dir.join("owned.sock");
        let (config, _) = traffic_config(&sock, s1.port, s1.port);
        let config = config.replace(" level admin", " user nobody group nogroup level admin");
        let lb = Ringlb::start(&config);
        let meta = std::fs::metadata(&sock).unwrap();
        use std::os::unix::fs::MetadataExt;
        // SAFETY: getpwnam/getgrnam with NUL-terminated literals; only read here.
        let (uid, gid) = unsafe {
            let pw = libc::getpwnam(c"nobody".as_ptr());
            let gr = libc::getgrnam(c"nogroup".as_ptr());
            assert!(
                !pw.is_null() && !gr.is_null(),
                "nobody/nogroup exist on Debian"
            );
            ((*pw).pw_uid, (*gr).gr_gid)
        };
        assert_eq!((meta.uid(), meta.gid()), (uid, gid));
        drop(lb);
    } else {
        eprintln!("socket_file: not root, the owner/group case is skipped");
    }

    // `ipv4@ADDR:PORT`: the same API over TCP.
    let tcp = free_port();
    let (config, _) = traffic_config(
        Path::new(&format!("ipv4@127.0.0.1:{tcp}")),
        s1.port,
        s1.port,
    );
    let lb = Ringlb::start(&config);
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", tcp)).unwrap();
    conn.write_all(b"get weight b/s1\n").unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "1 (initial 1)\n\n");
    drop(lb);

    // A stale socket (nothing listens) is replaced.
    let stale = dir.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let (config, _) = traffic_config(&stale, s1.port, s1.port);
    let lb = Ringlb::start(&config);
    assert_eq!(cli(&stale, "get weight b/s1"), "1 (initial 1)\n\n");
    drop(lb);

    // A regular file is not ours to replace.
    let file = dir.join("file.sock");
    std::fs::write(&file, "keep me").unwrap();
    let (config, _) = traffic_config(&file, s1.port, s1.port);
    let (status, err) = refused(&config);
    assert!(!status.success());
    assert!(
        err.contains(&format!("stats socket '{}'", file.display())) && err.contains("not a socket"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
}

/// A server with `init-addr none` and a name that does not resolve is `MAINT (resolution)`
/// in both, and `enable server` does not end that (in HAProxy it clears forced maintenance,
/// not the missing address); `set server … addr` does, and traffic then reaches it.
#[test]
fn a_server_without_an_address_waits_for_one() {
    let (s1, s2) = (Backend::start("s1"), Backend::start("s2"));
    let dir = temp_dir("noaddr");
    let config = |sock: &Path, port: u16| {
        format!(
            "global\n stats socket {} level admin\n{}frontend f\n bind 127.0.0.1:{port}\n \
             default_backend b\nbackend b\n server s1 name-that-does-not-resolve.invalid:{} init-addr none\n \
             server s2 127.0.0.1:{}\n",
            sock.display(),
            defaults(""),
            s1.port,
            s2.port
        )
    };
    let status = |sock: &Path| -> String {
        let table = StatTable::parse(&cli(sock, "show stat"));
        let row = table.row("b", "s1").expect("b/s1's row");
        table.field(row, "status").to_string()
    };
    let steps = |sock: &Path, port: u16| -> Vec<String> {
        let mut seen = vec![status(sock)];
        seen.push(cli(sock, "enable server b/s1"));
        seen.push(status(sock));
        seen.push(cli(sock, "set server b/s1 state ready"));
        seen.push(status(sock));
        // Meanwhile everything goes to s2.
        let before = s1.requests();
        for _ in 0..6 {
            assert_eq!(get(port, "/").status, 200);
        }
        assert_eq!(
            s1.requests(),
            before,
            "a server without an address got traffic"
        );
        // HAProxy 2.6 answers this with a warning and keeps no address (it refuses a new
        // address family from the socket); both leave `MAINT (resolution)`.
        cli(sock, "set server b/s1 addr 127.0.0.1");
        seen.push(status(sock));
        seen
    };
    let ours = {
        let sock = dir.join("ours.sock");
        let port = free_port();
        let _lb = Ringlb::start(&config(&sock, port));
        let seen = steps(&sock, port);
        // ringlb takes the address, at the port the server line named.
        let before = s1.requests();
        for _ in 0..6 {
            assert_eq!(get(port, "/").status, 200);
        }
        assert_eq!(
            s1.requests() - before,
            3,
            "s1 has its share once it has an address"
        );
        seen
    };
    let theirs = {
        let sock = dir.join("theirs.sock");
        let port = free_port();
        let _hx = Haproxy::start(&config(&sock, port), &sock);
        steps(&sock, port)
    };
    assert_eq!(ours, theirs, "ringlb vs HAProxy");
    assert_eq!(
        ours[..3],
        ["MAINT (resolution)", "\n", "MAINT (resolution)"]
    );
    assert_eq!(ours[5], "no check");
}
