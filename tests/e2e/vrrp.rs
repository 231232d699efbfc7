//! VRRP end to end: the real `ringlb` binary (and Debian's keepalived) on two nodes in
//! network namespaces made here, joined by a bridge in a namespace of its own, with a
//! client namespace playing the laptop, as `scripts/lab.sh` builds the seed's lab:
//!
//!   lan      br0, one port per node
//!   n1       eth0 10.77.0.11/24, a backend answering "n1" on 127.0.0.1:8081, ringlb :8080
//!   n2       eth0 10.77.0.12/24, the same answering "n2"
//!   client   eth0 10.77.0.2/24
//!   VIP      10.77.0.100/24
//!
//! Every namespace name is unique (pid and counter), so the tests run in parallel; the
//! scenarios of one test run on threads of their own. Everything is removed on drop, also
//! when a test panics. Without root each test prints why and returns.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringlb::control::vrrp::packet::{self, Advert, Version};

use crate::harness::{ringlb_bin, temp_dir};
use crate::netns::Netns;

const VIP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 100);
const N1: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 11);
const N2: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 12);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
/// ringlb's frontend on each node.
const PORT: u16 = 8080;
/// Each node's backend, on its own loopback.
const BACKEND_PORT: u16 = 8081;
const VRID: u8 = 51;

// ---------------------------------------------------------------------------------------
// The lab

/// The bridge, two nodes and the client.
struct Lab {
    // Declared first so its ports go when the nodes do; all are deleted on drop.
    lan: Netns,
    n1: Netns,
    n2: Netns,
    client: Netns,
}

impl Lab {
    /// `None` (reason printed) when namespaces cannot be made.
    fn new(tag: &str) -> Lab {
        let lan = Netns::new(&format!("{tag}l"));
        let n1 = Netns::new(&format!("{tag}1"));
        let n2 = Netns::new(&format!("{tag}2"));
        let client = Netns::new(&format!("{tag}c"));
        lan.ip(&["link", "add", "br0", "type", "bridge"]);
        lan.ip(&["link", "set", "br0", "up"]);
        for (port, ns, addr) in [("v1", &n1, N1), ("v2", &n2, N2), ("vc", &client, CLIENT)] {
            // Made inside the LAN namespace, its peer moved straight into the node.
            lan.ip(&[
                "link",
                "add",
                port,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns.name(),
            ]);
            lan.ip(&["link", "set", port, "master", "br0", "up"]);
            ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", "eth0"]);
            ns.ip(&["link", "set", "eth0", "up"]);
        }
        Lab {
            lan,
            n1,
            n2,
            client,
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // A safety net: whatever still runs inside these namespaces was started by this
        // test (a keepalived child, say); the processes' own values kill them first.
        let me = std::process::id().to_string();
        for ns in [&self.n1, &self.n2, &self.client] {
            if let Ok(out) = Command::new("ip")
                .args(["netns", "pids", ns.name()])
                .output()
            {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    if pid != me {
                        if let Ok(pid) = pid.parse::<libc::pid_t>() {
                            // SAFETY: plain kill(2) of a process in our own namespace.
                            unsafe { libc::kill(pid, libc::SIGKILL) };
                        }
                    }
                }
            }
        }
    }
}

/// Whether `ns` has the VIP on its eth0.
fn holds(ns: &Netns) -> bool {
    ns.ip(&["-4", "-o", "addr", "show", "dev", "eth0"])
        .contains(&format!(" {VIP}/"))
}

/// Which nodes hold the VIP.
fn holders(lab: &Lab) -> (bool, bool) {
    (holds(&lab.n1), holds(&lab.n2))
}

/// Polls `cond` every 10 ms for up to `limit`; the time it took, or `None`.
fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Asserts that `want` (n1, n2) holds for all of `period`.
fn stays(lab: &Lab, want: (bool, bool), period: Duration, what: &str) {
    let end = Instant::now() + period;
    while Instant::now() < end {
        assert_eq!(holders(lab), want, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// RFC 5798's Skew_Time for `priority` (v2 counts it in seconds, v3 in intervals; both
/// come out as this with the interval in seconds for v2 = 1).
fn skew(priority: u8, advert: Duration) -> Duration {
    advert.mul_f64(f64::from(256 - u32::from(priority)) / 256.0)
}

fn master_down(priority: u8, advert: Duration) -> Duration {
    advert * 3 + skew(priority, advert)
}

// ---------------------------------------------------------------------------------------
// Processes inside a node

/// A process started inside a namespace with `ip netns exec` (which execs in place, so
/// the child is the process itself), stdout and stderr to files; killed on drop.
struct NsProcess {
    child: Child,
    dir: PathBuf,
    /// keepalived's VRRP child, written to this pid file.
    extra_pid_file: Option<PathBuf>,
}

impl NsProcess {
    fn spawn(ns: &Netns, dir: PathBuf, program: &str, args: &[&str]) -> NsProcess {
        let stdout = std::fs::File::create(dir.join("stdout")).expect("stdout file");
        let stderr = std::fs::File::create(dir.join("stderr")).expect("stderr file");
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name(), program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn in the namespace");
        NsProcess {
            child,
            dir,
            extra_pid_file: None,
        }
    }

    /// ringlb with `config`, where `@DIR@` stands for its own directory; returns once it
    /// says it started.
    fn ringlb(ns: &Netns, config: &str) -> NsProcess {
        let dir = temp_dir("vrrp");
        let cfg = dir.join("ringlb.cfg");
        std::fs::write(&cfg, config.replace("@DIR@", &dir.display().to_string()))
            .expect("write config");
        let mut p = Self::spawn(ns, dir, ringlb_bin(), &["-d", "-f", cfg.to_str().unwrap()]);
        let started = wait_for(Duration::from_secs(10), || {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("ringlb exited early ({status}):\n{}", p.stderr());
            }
            p.stderr().contains(" started: ")
        });
        assert!(started.is_some(), "ringlb did not start:\n{}", p.stderr());
        p
    }

    /// keepalived (VRRP only, in the foreground) with `config`.
    fn keepalived(ns: &Netns, config: &str) -> NsProcess {
        let dir = temp_dir("keepalived");
        let cfg = dir.join("keepalived.conf");
        std::fs::write(&cfg, config).expect("write config");
        let pid = dir.join("keepalived.pid");
        let vrrp_pid = dir.join("vrrp.pid");
        let mut p = Self::spawn(
            ns,
            dir.clone(),
            "keepalived",
            &[
                "-n",
                "-l",
                "-D",
                "-G",
                "-P",
                "-f",
                cfg.to_str().unwrap(),
                "-p",
                pid.to_str().unwrap(),
                "-r",
                vrrp_pid.to_str().unwrap(),
            ],
        );
        p.extra_pid_file = Some(vrrp_pid);
        let started = wait_for(Duration::from_secs(10), || {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("keepalived exited early ({status}):\n{}", p.stderr());
            }
            p.extra_pid().is_some()
        });
        assert!(
            started.is_some(),
            "keepalived did not start:\n{}",
            p.stderr()
        );
        p
    }

    fn extra_pid(&self) -> Option<libc::pid_t> {
        let text = std::fs::read_to_string(self.extra_pid_file.as_ref()?).ok()?;
        text.trim().parse().ok()
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
    }

    /// SIGKILL to the process (and keepalived's VRRP child): a crash.
    fn kill(&mut self) {
        if let Some(pid) = self.extra_pid() {
            // SAFETY: keepalived's child, started by this test.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn stderr(&self) -> String {
        let mut out = std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default();
        out.push_str(&std::fs::read_to_string(self.dir.join("stdout")).unwrap_or_default());
        out
    }

    fn admin_socket(&self) -> PathBuf {
        self.dir.join("admin.sock")
    }
}

impl Drop for NsProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `show vrrp` on a node's admin socket.
fn show_vrrp(socket: &Path) -> String {
    let mut s = UnixStream::connect(socket).expect("connect to the admin socket");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"show vrrp\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// `show vrrp` until its output contains every one of `texts` (it shows the status of at
/// most one control tick ago), or panics after 2 s.
fn show_vrrp_until(socket: &Path, texts: &[&str]) -> String {
    let mut show = String::new();
    let found = wait_for(Duration::from_secs(2), || {
        show = show_vrrp(socket);
        texts.iter().all(|t| show.contains(t))
    });
    assert!(found.is_some(), "show vrrp never said {texts:?}:\n{show}");
    show
}

/// The count of drop `reason` in `show vrrp`'s output.
fn dropped(show: &str, reason: &str) -> u64 {
    let line = show
        .lines()
        .find_map(|l| l.trim().strip_prefix("dropped: "))
        .unwrap_or_else(|| panic!("no drops line in:\n{show}"));
    line.split(", ")
        .find_map(|item| item.strip_prefix(&format!("{reason} ")))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {reason} count in:\n{show}"))
}

/// The number after `what ` in `show vrrp`'s output (first occurrence).
fn counter(show: &str, what: &str) -> u64 {
    let at = show
        .find(&format!("{what} "))
        .unwrap_or_else(|| panic!("no {what} in:\n{show}"));
    show[at + what.len() + 1..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {what} count in:\n{show}"))
}

// ---------------------------------------------------------------------------------------
// Backends and the client

/// A tiny HTTP server on a node's 127.0.0.1:8081 answering the node's name; stopped (its
/// port refused) on drop.
struct NodeBackend {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NodeBackend {
    fn start(ns: &Netns, name: &str) -> NodeBackend {
        let listener = ns
            .run(|| TcpListener::bind(("127.0.0.1", BACKEND_PORT)))
            .expect("bind the node's backend");
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, name) = (Arc::clone(&stop), name.to_string());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let name = name.clone();
                        std::thread::spawn(move || answer(conn, &name));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            // The listener closes here: health checks are refused from now on.
        });
        NodeBackend {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for NodeBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads a request head (a health check's connection may send none) and answers `name`.
fn answer(mut conn: TcpStream, name: &str) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let _ = conn.write_all(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
            name.len()
        )
        .as_bytes(),
    );
}

/// One request of the client loop: when it started and ended, and the body if answered.
struct Sample {
    start: Instant,
    end: Instant,
    body: Option<String>,
}

/// GET http://VIP:8080/ with short timeouts; the body of a 200 answer.
fn get_vip() -> Option<String> {
    let addr = SocketAddr::from((VIP, PORT));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(700))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n").ok()?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    if !text.starts_with("HTTP/1.1 200") && !text.starts_with("HTTP/1.0 200") {
        return None;
    }
    let body = text.split_once("\r\n\r\n")?.1.to_string();
    (!body.is_empty()).then_some(body)
}

/// The seed's experiment: a request to VIP:8080 every 50 ms from the client namespace,
/// until stopped.
struct ClientLoop {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<Sample>>>,
}

impl ClientLoop {
    fn start(client: &Netns) -> ClientLoop {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = client.spawn(move || {
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let start = Instant::now();
                let body = get_vip();
                samples.push(Sample {
                    start,
                    end: Instant::now(),
                    body,
                });
                std::thread::sleep(Duration::from_millis(50));
            }
            samples
        });
        ClientLoop {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for ClientLoop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The longest time between two answered requests, and the number that failed.
fn longest_gap(samples: &[Sample]) -> (Duration, usize) {
    let mut gap = Duration::ZERO;
    let mut last_ok: Option<Instant> = None;
    for s in samples.iter().filter(|s| s.body.is_some()) {
        if let Some(last) = last_ok {
            gap = gap.max(s.end.duration_since(last));
        }
        last_ok = Some(s.end);
    }
    let failed = samples.iter().filter(|s| s.body.is_none()).count();
    (gap, failed)
}

/// How long after `at` the first request started after it was answered by `by`.
fn answered_again(samples: &[Sample], at: Instant, by: &str) -> Option<Duration> {
    samples
        .iter()
        .find(|s| s.start >= at && s.body.as_deref() == Some(by))
        .map(|s| s.end.duration_since(at))
}

// ---------------------------------------------------------------------------------------
// Configurations

/// A node's VRRP settings.
#[derive(Clone, Copy)]
struct Vr {
    priority: u8,
    version: u8,
    /// `advert_int` as written.
    advert: &'static str,
    /// Extra lines for the `vrrp` section (e.g. " nopreempt\n").
    extra: &'static str,
}

impl Vr {
    fn v2(priority: u8) -> Vr {
        Vr {
            priority,
            version: 2,
            advert: "1",
            extra: "",
        }
    }

    fn v3(priority: u8, advert: &'static str) -> Vr {
        Vr {
            priority,
            version: 3,
            advert,
            extra: "",
        }
    }

    fn with(self, extra: &'static str) -> Vr {
        Vr { extra, ..self }
    }

    fn interval(&self) -> Duration {
        Duration::from_secs_f64(self.advert.parse().unwrap())
    }

    fn master_down(&self) -> Duration {
        master_down(self.priority, self.interval())
    }
}

/// A node's ringlb: its backend on loopback (checked every 100 ms), :8080, an admin
/// socket, and the `vrrp VI_1` section.
fn ringlb_config(vr: Vr) -> String {
    format!(
        "global
 stats socket @DIR@/admin.sock mode 600 level admin

defaults
 mode http
 timeout connect 1s
 timeout client 10s
 timeout server 10s

frontend web
 bind :{PORT}
 default_backend servers

backend servers
 server local 127.0.0.1:{BACKEND_PORT} check inter 100 fall 2 rise 1

vrrp VI_1
 interface eth0
 state BACKUP
 virtual_router_id {VRID}
 priority {priority}
 version {version}
 advert_int {advert}
 virtual_ipaddress {VIP}/24
{extra}",
        priority = vr.priority,
        version = vr.version,
        advert = vr.advert,
        extra = vr.extra,
    )
}

fn keepalived_config(vr: Vr, state: &str) -> String {
    format!(
        "global_defs {{
  vrrp_version {version}
}}

vrrp_instance VI_1 {{
  state {state}
  interface eth0
  virtual_router_id {VRID}
  priority {priority}
  advert_int {advert}
  virtual_ipaddress {{
    {VIP}/24 dev eth0
  }}
}}
",
        version = vr.version,
        priority = vr.priority,
        advert = vr.advert,
    )
}

/// A node running ringlb (and its backend).
struct RinglbNode {
    // The process first: it goes before its backend.
    lb: NsProcess,
    _backend: NodeBackend,
}

fn ringlb_node(ns: &Netns, name: &str, vr: Vr) -> RinglbNode {
    let backend = NodeBackend::start(ns, name);
    RinglbNode {
        lb: NsProcess::ringlb(ns, &ringlb_config(vr)),
        _backend: backend,
    }
}

/// A named scenario of a test.
type Scenario<'a> = (&'a str, Box<dyn FnOnce() + Send + 'a>);

/// Runs the scenarios on threads of their own and waits for all (a panic in one is
/// raised once the others are done).
fn in_parallel(scenarios: Vec<Scenario<'_>>) {
    std::thread::scope(|s| {
        let handles: Vec<_> = scenarios
            .into_iter()
            .map(|(name, f)| (name, s.spawn(f)))
            .collect();
        let mut failed = Vec::new();
        for (name, h) in handles {
            if let Err(p) = h.join() {
                let why = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failed.push(format!("{name}: {why}"));
            }
        }
        assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    });
}

// ---------------------------------------------------------------------------------------
// 1. Election

/// Two nodes with priorities 150 and 100 started together: the 150 holds the VIP alone
/// within 2 × its Master_Down_Interval.
fn election_by_priority() {
    let lab = Lab::new("ep");
    let (hi, lo) = (Vr::v2(150), Vr::v2(100));
    let start = Instant::now();
    let _n2 = ringlb_node(&lab.n2, "n2", lo);
    let _n1 = ringlb_node(&lab.n1, "n1", hi);
    let bound = hi.master_down() * 2;
    let took = wait_for(bound, || holders(&lab) == (true, false))
        .map(|_| start.elapsed())
        .unwrap_or_else(|| panic!("no single master within {bound:?}: {:?}", holders(&lab)));
    eprintln!(
        "vrrp election 150/100: n1 holds the VIP alone {took:.2?} after start (bound {bound:.2?})"
    );
    stays(
        &lab,
        (true, false),
        hi.interval() * 2,
        "the master stays alone",
    );
    assert!(_n1.lb.stderr().contains("(VI_1) Entering MASTER STATE"));
    assert!(_n2.lb.stderr().contains("(VI_1) Entering BACKUP STATE"));
    assert!(!_n2.lb.stderr().contains("(VI_1) Entering MASTER STATE"));
}

/// Equal priorities: two masters (the LAN split at start) meet, and the one with the
/// higher primary address keeps the VIP (§6.4.3). A backup never preempts on a tie, so
/// the split is what makes both masters.
fn election_tie_higher_address_wins() {
    let lab = Lab::new("et");
    let vr = Vr::v2(100);
    lab.lan.ip(&["link", "set", "v2", "nomaster"]);
    let start = Instant::now();
    let _n1 = ringlb_node(&lab.n1, "n1", vr);
    let _n2 = ringlb_node(&lab.n2, "n2", vr);
    let bound = vr.master_down() * 2;
    wait_for(bound, || holders(&lab) == (true, true)).unwrap_or_else(|| {
        panic!(
            "split: not both masters within {bound:?}: {:?}",
            holders(&lab)
        )
    });
    let both = start.elapsed();
    lab.lan.ip(&["link", "set", "v2", "master", "br0"]);
    let joined = Instant::now();
    wait_for(vr.interval() * 3, || holders(&lab) == (false, true))
        .unwrap_or_else(|| panic!("the tie was not broken: {:?}", holders(&lab)));
    eprintln!(
        "vrrp election tie: both masters {both:.2?} after start (split), n2 (higher address) alone {:.2?} after the join",
        joined.elapsed()
    );
    stays(
        &lab,
        (false, true),
        vr.interval() * 2,
        "the higher address stays master",
    );
}

#[test]
fn election() {
    in_parallel(vec![
        ("by priority", Box::new(election_by_priority)),
        ("tie", Box::new(election_tie_higher_address_wins)),
    ]);
}

// ---------------------------------------------------------------------------------------
// 2. Hard failure

/// SIGKILL to the master's ringlb: the backup holds the VIP and the client is answered by
/// it within `bound` of the kill.
fn hard_kill(tag: &str, hi: Vr, lo: Vr, bound: Duration) {
    let lab = Lab::new(tag);
    let mut n1 = ringlb_node(&lab.n1, "n1", hi);
    let _n2 = ringlb_node(&lab.n2, "n2", lo);
    wait_for(hi.master_down() * 3, || holders(&lab) == (true, false))
        .unwrap_or_else(|| panic!("n1 not master: {:?}", holders(&lab)));
    let client = ClientLoop::start(&lab.client);
    std::thread::sleep(Duration::from_millis(500));
    let killed = Instant::now();
    n1.lb.kill();
    let took = wait_for(bound + Duration::from_secs(2), || holds(&lab.n2));
    std::thread::sleep(Duration::from_millis(1000));
    let samples = client.finish();
    let took = took.unwrap_or_else(|| panic!("n2 never took the VIP"));
    let answered = answered_again(&samples, killed, "n2")
        .unwrap_or_else(|| panic!("the client was never answered by n2"));
    let (gap, failed) = longest_gap(&samples);
    eprintln!(
        "vrrp hard kill v{} advert_int {}: n2 holds the VIP {took:.2?} after SIGKILL, client answered by n2 after {answered:.2?} (bound {bound:.2?}); longest gap {gap:.2?}, {failed} of {} requests failed",
        hi.version,
        hi.advert,
        samples.len()
    );
    assert!(
        samples
            .iter()
            .any(|s| s.start < killed && s.body.as_deref() == Some("n1")),
        "n1 never answered before the kill"
    );
    assert!(
        answered <= bound,
        "answered again after {answered:?} > {bound:?}"
    );
}

#[test]
fn hard_failure() {
    in_parallel(vec![
        (
            "v2 advert_int 1",
            Box::new(|| {
                let (hi, lo) = (Vr::v2(150), Vr::v2(100));
                // 3 × advert + the backup's skew time + 0.5 s.
                let bound = lo.master_down() + Duration::from_millis(500);
                hard_kill("hk2", hi, lo, bound);
            }),
        ),
        (
            "v3 advert_int 0.1",
            Box::new(|| {
                let (hi, lo) = (Vr::v3(150, "0.1"), Vr::v3(100, "0.1"));
                hard_kill("hk3", hi, lo, Duration::from_millis(600));
            }),
        ),
    ]);
}

// ---------------------------------------------------------------------------------------
// 3. Graceful stop

#[test]
fn graceful_stop() {
    let lab = Lab::new("gs");
    let (hi, lo) = (Vr::v2(150), Vr::v2(100));
    let mut n1 = ringlb_node(&lab.n1, "n1", hi);
    let _n2 = ringlb_node(&lab.n2, "n2", lo);
    wait_for(hi.master_down() * 3, || holders(&lab) == (true, false))
        .unwrap_or_else(|| panic!("n1 not master: {:?}", holders(&lab)));
    let client = ClientLoop::start(&lab.client);
    std::thread::sleep(Duration::from_millis(1000));
    let stopped = Instant::now();
    n1.lb.signal(libc::SIGTERM);
    let took = wait_for(Duration::from_secs(3), || holds(&lab.n2));
    let exited = n1.lb.wait_exit(Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(1000));
    let samples = client.finish();
    let took = took.unwrap_or_else(|| panic!("n2 never took the VIP"));
    assert!(exited.is_some(), "n1's ringlb did not exit on SIGTERM");
    let (gap, failed) = longest_gap(&samples);
    let answered = answered_again(&samples, stopped, "n2").expect("never answered by n2");
    let bound = skew(lo.priority, lo.interval()) + Duration::from_millis(300);
    eprintln!(
        "vrrp graceful stop v2 advert_int 1: n2 holds the VIP {took:.2?} after SIGTERM, first answer by n2 after {answered:.2?}; longest gap {gap:.2?} (bound {bound:.2?}), {failed} of {} requests failed",
        samples.len()
    );
    assert!(gap <= bound, "gap {gap:?} > {bound:?}");
    assert_eq!(
        holders(&lab),
        (false, true),
        "n1 removed its VIP, n2 holds it"
    );
    let log = n1.lb.stderr();
    assert!(log.contains("(VI_1) Entering MASTER STATE"), "{log}");
}

// ---------------------------------------------------------------------------------------
// 4. Preemption

/// n1 (150) master, stopped (n2 takes over), started again: with preemption it takes the
/// VIP back, with `nopreempt` it leaves it to n2.
fn preemption(tag: &str, preempt: bool) {
    let lab = Lab::new(tag);
    let hi = if preempt {
        Vr::v3(150, "0.1")
    } else {
        Vr::v3(150, "0.1").with(" nopreempt\n")
    };
    let lo = Vr::v3(100, "0.1");
    let backend1 = NodeBackend::start(&lab.n1, "n1");
    let mut n1 = NsProcess::ringlb(&lab.n1, &ringlb_config(hi));
    let _n2 = ringlb_node(&lab.n2, "n2", lo);
    wait_for(Duration::from_secs(3), || holders(&lab) == (true, false))
        .unwrap_or_else(|| panic!("n1 not master: {:?}", holders(&lab)));
    n1.signal(libc::SIGTERM);
    assert!(n1.wait_exit(Duration::from_secs(10)).is_some(), "n1 exits");
    wait_for(Duration::from_secs(2), || holders(&lab) == (false, true))
        .unwrap_or_else(|| panic!("n2 did not take over: {:?}", holders(&lab)));
    drop(n1);
    let restarted = Instant::now();
    let _n1 = NsProcess::ringlb(&lab.n1, &ringlb_config(hi));
    if preempt {
        wait_for(Duration::from_secs(3), || holders(&lab) == (true, false))
            .unwrap_or_else(|| panic!("n1 did not preempt: {:?}", holders(&lab)));
        eprintln!(
            "vrrp preemption v3 advert_int 0.1: n1 holds the VIP alone again {:.2?} after its restart (its Master_Down_Interval {:.2?})",
            restarted.elapsed(),
            hi.master_down()
        );
        stays(
            &lab,
            (true, false),
            Duration::from_millis(500),
            "n1 stays master",
        );
    } else {
        stays(
            &lab,
            (false, true),
            Duration::from_millis(1500),
            "nopreempt: n2 keeps the VIP",
        );
        eprintln!(
            "vrrp nopreempt v3 advert_int 0.1: n2 kept the VIP for 1.5 s after n1 (150) restarted"
        );
    }
    drop(backend1);
}

#[test]
fn preemption_and_nopreempt() {
    in_parallel(vec![
        ("preempt", Box::new(|| preemption("pp", true))),
        ("nopreempt", Box::new(|| preemption("np", false))),
    ]);
}

// ---------------------------------------------------------------------------------------
// 5. Own-health tracking

#[test]
fn track_backend_lowers_priority() {
    let lab = Lab::new("tb");
    let hi = Vr::v3(150, "0.1").with(" track_backend servers weight -60\n");
    let lo = Vr::v3(100, "0.1");
    let mut backend1 = Some(NodeBackend::start(&lab.n1, "n1"));
    let n1 = NsProcess::ringlb(&lab.n1, &ringlb_config(hi));
    let _n2 = ringlb_node(&lab.n2, "n2", lo);
    wait_for(Duration::from_secs(3), || holders(&lab) == (true, false))
        .unwrap_or_else(|| panic!("n1 not master: {:?}", holders(&lab)));
    show_vrrp_until(
        &n1.admin_socket(),
        &["state MASTER", "priority 150 (effective 150)"],
    );
    let stopped = Instant::now();
    drop(backend1.take());
    let took = wait_for(Duration::from_secs(3), || holders(&lab) == (false, true))
        .unwrap_or_else(|| panic!("n2 did not take over: {:?}", holders(&lab)));
    show_vrrp_until(
        &n1.admin_socket(),
        &["state BACKUP", "priority 150 (effective 90)"],
    );
    // Its backend back, n1 preempts again.
    backend1 = Some(NodeBackend::start(&lab.n1, "n1"));
    let back = wait_for(Duration::from_secs(3), || holders(&lab) == (true, false))
        .unwrap_or_else(|| panic!("n1 did not take the VIP back: {:?}", holders(&lab)));
    eprintln!(
        "vrrp track_backend v3 advert_int 0.1: n2 holds the VIP alone {took:.2?} after n1's backend stopped (checks every 100 ms, fall 2), n1 again {back:.2?} after it came back ({:.2?} in all)",
        stopped.elapsed()
    );
    show_vrrp_until(
        &n1.admin_socket(),
        &["state MASTER", "priority 150 (effective 150)"],
    );
    drop(backend1);
}

// ---------------------------------------------------------------------------------------
// 6. Interop with keepalived

/// One of the two speakers of the interop test.
enum Speaker {
    Ringlb(RinglbNode),
    Keepalived(NsProcess),
}

impl Speaker {
    fn start(ns: &Netns, name: &str, vr: Vr, keepalived: bool, state: &str) -> Speaker {
        if keepalived {
            Speaker::Keepalived(NsProcess::keepalived(ns, &keepalived_config(vr, state)))
        } else {
            Speaker::Ringlb(ringlb_node(ns, name, vr))
        }
    }

    /// Starts the killed speaker again (a ringlb node keeps its backend).
    fn restart(&mut self, ns: &Netns, vr: Vr, state: &str) {
        match self {
            Speaker::Ringlb(n) => {
                n.lb.kill();
                n.lb = NsProcess::ringlb(ns, &ringlb_config(vr));
            }
            Speaker::Keepalived(p) => {
                p.kill();
                *p = NsProcess::keepalived(ns, &keepalived_config(vr, state));
            }
        }
    }

    fn process(&mut self) -> &mut NsProcess {
        match self {
            Speaker::Ringlb(n) => &mut n.lb,
            Speaker::Keepalived(p) => p,
        }
    }
}

/// n1 (150) and n2 (100), one ringlb and one keepalived: n1 is the only master; killed,
/// n2 takes the VIP; started again, n1 takes it back and n2 gives it up.
fn interop(tag: &str, version: u8, ringlb_master: bool) {
    let lab = Lab::new(tag);
    let (hi, lo) = if version == 2 {
        (Vr::v2(150), Vr::v2(100))
    } else {
        (Vr::v3(150, "0.5"), Vr::v3(100, "0.5"))
    };
    let who = if ringlb_master {
        "ringlb master + keepalived backup"
    } else {
        "keepalived master + ringlb backup"
    };
    let start = Instant::now();
    let mut n1 = Speaker::start(&lab.n1, "n1", hi, !ringlb_master, "MASTER");
    let mut n2 = Speaker::start(&lab.n2, "n2", lo, ringlb_master, "BACKUP");
    let logs = |n1: &mut Speaker, n2: &mut Speaker| {
        format!(
            "n1:\n{}\nn2:\n{}",
            n1.process().stderr(),
            n2.process().stderr()
        )
    };
    let bound = hi.master_down() * 2 + Duration::from_secs(1);
    if wait_for(bound, || holders(&lab) == (true, false)).is_none() {
        panic!(
            "{who} v{version}: n1 not the only master: {:?}\n{}",
            holders(&lab),
            logs(&mut n1, &mut n2)
        );
    }
    let elected = start.elapsed();
    stays(&lab, (true, false), hi.interval() * 3, "exactly one master");

    n1.process().kill();
    let Some(took) = wait_for(lo.master_down() + Duration::from_secs(2), || holds(&lab.n2)) else {
        panic!(
            "{who} v{version}: n2 did not take over\n{}",
            logs(&mut n1, &mut n2)
        );
    };

    n1.restart(&lab.n1, hi, "MASTER");
    let Some(back) = wait_for(hi.master_down() * 2 + Duration::from_secs(2), || {
        holders(&lab) == (true, false)
    }) else {
        panic!(
            "{who} v{version}: n1 did not take the VIP back: {:?}\n{}",
            holders(&lab),
            logs(&mut n1, &mut n2)
        );
    };
    stays(
        &lab,
        (true, false),
        hi.interval() * 3,
        "exactly one master after the return",
    );
    eprintln!(
        "vrrp interop v{version} advert_int {}, {who}: n1 alone {elected:.2?} after start; n1 SIGKILLed, n2 holds the VIP {took:.2?} later; n1 restarted, alone again {back:.2?} later",
        hi.advert
    );
}

#[test]
fn interop_with_keepalived() {
    // Like a missing HAProxy: a failure, not a silent pass (scripts/test.sh installs it).
    assert!(
        Command::new("keepalived").arg("--version").output().is_ok(),
        "keepalived is not installed (scripts/install-deps.sh keepalived)"
    );
    in_parallel(vec![
        ("v2 ringlb master", Box::new(|| interop("k2r", 2, true))),
        (
            "v2 keepalived master",
            Box::new(|| interop("k2k", 2, false)),
        ),
        ("v3 ringlb master", Box::new(|| interop("k3r", 3, true))),
        (
            "v3 keepalived master",
            Box::new(|| interop("k3k", 3, false)),
        ),
    ]);
}

// ---------------------------------------------------------------------------------------
// 7. Bad packets

/// A raw socket in `ns` that writes whole IPv4 packets.
fn raw_sender(ns: &Netns) -> OwnedFd {
    ns.run(|| {
        // SAFETY: plain socket(2); checked below.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        // SAFETY: a fresh descriptor nobody else owns.
        unsafe { OwnedFd::from_raw_fd(fd) }
    })
}

/// Sends `payload` as protocol 112 from the client to the VRRP group with `ttl` (the
/// kernel fills in the total length and the header checksum).
fn send_raw(fd: &OwnedFd, ttl: u8, payload: &[u8]) {
    let mut packet = vec![0x45, 0, 0, 0, 0, 0, 0, 0, ttl, packet::PROTOCOL, 0, 0];
    packet.extend_from_slice(&CLIENT.octets());
    packet.extend_from_slice(&packet::MULTICAST_GROUP.octets());
    let total = (packet.len() + payload.len()) as u16;
    packet[2..4].copy_from_slice(&total.to_be_bytes());
    packet.extend_from_slice(payload);
    // SAFETY: all-zero is a valid sockaddr_in.
    let mut to: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    to.sin_family = libc::AF_INET as libc::sa_family_t;
    to.sin_addr.s_addr = u32::from_ne_bytes(packet::MULTICAST_GROUP.octets());
    // SAFETY: `packet` and `to` are live for the call, with the stated sizes.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            packet.as_ptr().cast(),
            packet.len(),
            0,
            (&to as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(
        n,
        packet.len() as isize,
        "sendto: {}",
        std::io::Error::last_os_error()
    );
}

#[test]
fn bad_packets_are_dropped_and_counted() {
    let lab = Lab::new("bp");
    let vr = Vr::v3(150, "0.1");
    let n1 = ringlb_node(&lab.n1, "n1", vr);
    wait_for(Duration::from_secs(3), || holders(&lab) == (true, false))
        .unwrap_or_else(|| panic!("n1 not master: {:?}", holders(&lab)));
    lab.client
        .ip(&["route", "add", "224.0.0.0/4", "dev", "eth0"]);
    let socket = n1.lb.admin_socket();
    let before = show_vrrp_until(&socket, &["state MASTER"]);
    let reasons = ["ttl", "checksum", "other_vrid", "length"];
    for r in reasons {
        assert_eq!(dropped(&before, r), 0, "{before}");
    }
    // Each would win (priority 254) if it were accepted.
    let advert = |vrid: u8| Advert {
        version: Version::V3,
        vrid,
        priority: 254,
        interval: Duration::from_millis(100),
        addresses: vec![VIP],
    };
    let good = packet::encode(&advert(VRID), CLIENT, packet::MULTICAST_GROUP);
    let mut bad_sum = good.clone();
    bad_sum[6] ^= 0x5a;
    let other = packet::encode(&advert(VRID + 1), CLIENT, packet::MULTICAST_GROUP);
    let fd = raw_sender(&lab.client);
    for _ in 0..3 {
        send_raw(&fd, 64, &good); // wrong TTL
        send_raw(&fd, 255, &bad_sum); // bad checksum
        send_raw(&fd, 255, &other); // another VRID
        send_raw(&fd, 255, &good[..6]); // shorter than the VRRP header
        send_raw(&fd, 255, &good[..10]); // cut inside its address
    }
    let want = [
        ("ttl", 3),
        ("checksum", 3),
        ("other_vrid", 3),
        ("length", 6),
    ];
    let mut after = String::new();
    let counted = wait_for(Duration::from_secs(3), || {
        after = show_vrrp(&socket);
        want.iter().all(|(r, n)| dropped(&after, r) >= *n)
    });
    assert!(counted.is_some(), "drops not counted:\n{after}");
    for (r, n) in want {
        assert_eq!(dropped(&after, r), n, "{r}:\n{after}");
    }
    // Nothing else was counted, and nothing changed.
    for r in [
        "ip_header",
        "protocol",
        "version",
        "type",
        "auth_type",
        "interval",
    ] {
        assert_eq!(dropped(&after, r), 0, "{r}:\n{after}");
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = show_vrrp(&socket);
    assert!(after.contains("state MASTER"), "{after}");
    assert!(after.contains(&format!("master {N1}")), "{after}");
    assert_eq!(
        counter(&after, "became master"),
        counter(&before, "became master")
    );
    assert_eq!(counter(&after, "backup"), counter(&before, "backup"));
    assert_eq!(holders(&lab), (true, false));
    eprintln!(
        "vrrp bad packets: {}",
        after
            .lines()
            .find(|l| l.contains("dropped"))
            .unwrap()
            .trim()
    );
}
