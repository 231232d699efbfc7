//! Timeouts for idle client connections without a timer each.
//!
//! A monoio timer costs several hundred bytes (its entry is cache-padded), more than the rest
//! of an idle connection. Instead each connection has a small `IdleTimer` and one shard task
//! sweeps them: when a deadline passes it shuts down the socket's receive side, which wakes
//! the connection's pending readability wait; the connection then sees that its timer fired.

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

/// How often the sweep runs: the precision of idle timeouts.
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(25);

/// One connection's idle deadline.
#[derive(Debug)]
pub struct IdleTimer {
    fd: RawFd,
    deadline: Cell<Option<Instant>>,
    fired: Cell<bool>,
}

impl IdleTimer {
    /// Starts the countdown (`None`: wait forever).
    pub fn arm(&self, limit: Option<Duration>) {
        self.fired.set(false);
        self.deadline.set(limit.map(|l| Instant::now() + l));
    }

    /// Stops the countdown; returns whether it had fired.
    pub fn disarm(&self) -> bool {
        self.deadline.set(None);
        self.fired.replace(false)
    }
}

/// Every idle timer of a shard.
#[derive(Debug, Default)]
pub struct IdleTimers {
    timers: RefCell<Vec<Weak<IdleTimer>>>,
}

impl IdleTimers {
    /// A timer for the connection on `fd`, valid while the returned value lives (drop it no
    /// later than the connection, so a reused descriptor is never touched).
    pub fn register(&self, fd: RawFd) -> Rc<IdleTimer> {
        let timer = Rc::new(IdleTimer {
            fd,
            deadline: Cell::new(None),
            fired: Cell::new(false),
        });
        self.timers.borrow_mut().push(Rc::downgrade(&timer));
        timer
    }

    /// Fires every timer whose deadline passed and forgets the ones whose connection ended.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.timers.borrow_mut().retain(|weak| {
            let Some(timer) = weak.upgrade() else {
                return false;
            };
            if timer.deadline.get().is_some_and(|d| d <= now) {
                timer.deadline.set(None);
                timer.fired.set(true);
                // SAFETY: the connection owning `fd` is alive (its timer is), so the
                // descriptor is still its socket. SHUT_RD only ends the receive side; the
                // connection can still send its 408.
                unsafe {
                    libc::shutdown(timer.fd, libc::SHUT_RD);
                }
            }
            true
        });
    }

    /// Number of connections watched.
    pub fn len(&self) -> usize {
        self.timers.borrow().len()
    }

    /// Whether no connection is watched.
    pub fn is_empty(&self) -> bool {
        self.timers.borrow().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsRawFd;

    #[test]
    fn an_expired_timer_ends_the_receive_side_only() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let timers = IdleTimers::default();
        let timer = timers.register(server.as_raw_fd());
        timer.arm(Some(Duration::ZERO));
        timers.sweep();
        assert!(timer.disarm(), "the deadline passed, so the timer fired");
        assert!(!timer.disarm(), "firing is reported once");
        let mut byte = [0u8; 1];
        assert_eq!(
            server.read(&mut byte).unwrap(),
            0,
            "reads now see end of stream"
        );
        drop(timer);
        timers.sweep();
        assert!(timers.is_empty(), "ended connections are forgotten");
        drop(client);
    }

    #[test]
    fn an_unexpired_or_disarmed_timer_does_nothing() {
        let timers = IdleTimers::default();
        let timer = timers.register(-1);
        timer.arm(Some(Duration::from_secs(60)));
        timers.sweep();
        assert!(!timer.disarm());
        timer.arm(None);
        timers.sweep();
        assert!(!timer.disarm());
        assert_eq!(timers.len(), 1);
    }
}
