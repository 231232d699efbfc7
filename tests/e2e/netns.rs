//! Network namespaces for tests: made with `ip netns`, joined by veth pairs, removed on
//! drop (even when the test panics), and code run inside one on a thread that `setns`es
//! into it. Sockets opened there stay in that namespace wherever they are used later.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A network namespace of this test run, deleted on drop.
pub struct Netns {
    name: String,
}

impl Netns {
    /// A fresh namespace with loopback up. A test that needs one fails when it cannot be
    /// made (not root, no `ip`): it must not pass without having run (CI runs as root).
    pub fn new(tag: &str) -> Netns {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        // SAFETY: geteuid has no preconditions.
        assert!(
            unsafe { libc::geteuid() } == 0,
            "network namespaces need root (run the VRRP tests as root, as CI does)"
        );
        let name = format!(
            "rlbt{}-{}-{tag}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let out = Command::new("ip").args(["netns", "add", &name]).output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "cannot create network namespace {name}: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => panic!("cannot run `ip netns add` (scripts/test.sh installs iproute2): {e}"),
        }
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Runs `ip -n NAME ARGS…`, panicking with ip's message when it fails.
    pub fn ip(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["-n", &self.name])
            .args(args)
            .output()
            .expect("run ip");
        assert!(
            out.status.success(),
            "ip -n {} {}: {}",
            self.name,
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Its name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts `f` on a thread of its own that has entered this namespace (for work that
    /// runs alongside the test, such as a client loop).
    pub fn spawn<T: Send + 'static, F: FnOnce() -> T + Send + 'static>(
        &self,
        f: F,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open the namespace");
            // SAFETY: a valid namespace descriptor; only this thread moves.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
    }

    /// Runs `f` on a thread that has entered this namespace, and returns its result.
    pub fn run<T: Send, F: FnOnce() -> T + Send>(&self, f: F) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).expect("open the namespace");
                // SAFETY: a valid namespace descriptor; only this short-lived thread moves.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace also destroys the veth ends inside it.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Two namespaces joined by a veth pair, `veth-a` (10.123.0.1/24) and `veth-b` (.2/24), up.
pub struct Pair {
    /// The first namespace.
    pub a: Netns,
    /// The second.
    pub b: Netns,
}

impl Pair {
    /// `veth-a`'s address.
    pub const A_ADDR: Ipv4Addr = Ipv4Addr::new(10, 123, 0, 1);
    /// `veth-b`'s address.
    pub const B_ADDR: Ipv4Addr = Ipv4Addr::new(10, 123, 0, 2);

    /// Makes the pair.
    pub fn new(tag: &str) -> Pair {
        let a = Netns::new(&format!("{tag}a"));
        let b = Netns::new(&format!("{tag}b"));
        a.ip(&[
            "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", "netns", &b.name,
        ]);
        a.ip(&["addr", "add", "10.123.0.1/24", "dev", "veth-a"]);
        b.ip(&["addr", "add", "10.123.0.2/24", "dev", "veth-b"]);
        a.ip(&["link", "set", "veth-a", "up"]);
        b.ip(&["link", "set", "veth-b", "up"]);
        Pair { a, b }
    }
}
