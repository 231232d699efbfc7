//! Socket timeouts without a timer per operation.
//!
//! A monoio timer entry costs several hundred bytes (it is cache-padded) and a wheel
//! insertion per use, and it sits in every future that awaits it. Instead each socket has a
//! small `Deadline` and one task per shard sweeps them every `SWEEP_INTERVAL`. When a
//! deadline has passed, the sweep shuts the socket down, which completes the pending
//! operation (a read sees end of stream, a write fails); the operation then finds its
//! deadline fired and reports a timeout. Timeouts are thus precise to two sweep intervals
//! (the coarse clock they start from may lag one).

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

/// How often deadlines are checked.
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(25);

thread_local! {
    /// The shard's coarse clock, advanced by each sweep: reading it costs no clock call.
    static COARSE_NOW: Cell<Instant> = Cell::new(Instant::now());
}

/// The time of the last sweep on this thread (at most `SWEEP_INTERVAL` old while the shard
/// runs). Good enough for timeouts and idle ages; never for log timers.
pub fn coarse_now() -> Instant {
    COARSE_NOW.with(Cell::get)
}

/// When a limit armed now runs out. The coarse clock may lag by one sweep interval, so one
/// interval is added: a timeout fires between `limit` and `limit` plus two intervals (50 ms).
fn due(limit: Option<Duration>) -> Option<Instant> {
    limit.map(|l| coarse_now() + l + SWEEP_INTERVAL)
}

/// One socket's read and write deadlines.
#[derive(Debug)]
pub struct Deadline {
    fd: RawFd,
    read_by: Cell<Option<Instant>>,
    write_by: Cell<Option<Instant>>,
    fired: Cell<bool>,
    /// Waiting for a client's next request: a soft stop may cut the wait short.
    idle: Cell<bool>,
}

impl Deadline {
    /// Limits the coming read (or readability wait) to `limit`; lifted when the guard drops.
    /// On expiry only the receive side is shut down, so an error answer can still be sent.
    pub fn reading(&self, limit: Option<Duration>) -> Armed<'_> {
        self.read_by.set(due(limit));
        Armed {
            deadline: self,
            write: false,
        }
    }

    /// Limits the coming write to `limit`; lifted when the guard drops. On expiry the whole
    /// connection is shut down.
    pub fn writing(&self, limit: Option<Duration>) -> Armed<'_> {
        self.write_by.set(due(limit));
        Armed {
            deadline: self,
            write: true,
        }
    }

    /// Limits the wait for a client's next request to `limit`, like `reading`; a soft stop
    /// ends the wait early (`Deadlines::wake_idle`).
    pub fn idling(&self, limit: Option<Duration>) -> Armed<'_> {
        self.idle.set(true);
        self.reading(limit)
    }

    /// Whether a deadline passed: the socket is shut down and must not be reused.
    pub fn fired(&self) -> bool {
        self.fired.get()
    }
}

/// An armed deadline; dropping it (the operation finished or was abandoned) disarms it, so a
/// forgotten deadline can never shut down a socket later.
#[must_use = "the deadline is lifted as soon as the guard drops"]
#[derive(Debug)]
pub struct Armed<'a> {
    deadline: &'a Deadline,
    write: bool,
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        if self.write {
            self.deadline.write_by.set(None);
        } else {
            self.deadline.read_by.set(None);
            self.deadline.idle.set(false);
        }
    }
}

/// Every socket deadline of a shard.
#[derive(Debug, Default)]
pub struct Deadlines {
    all: RefCell<Vec<Weak<Deadline>>>,
}

impl Deadlines {
    /// A deadline for the socket `fd`. Keep it with the socket and drop it no later than the
    /// socket, so a reused descriptor number is never touched.
    pub fn register(&self, fd: RawFd) -> Rc<Deadline> {
        let deadline = Rc::new(Deadline {
            fd,
            read_by: Cell::new(None),
            write_by: Cell::new(None),
            fired: Cell::new(false),
            idle: Cell::new(false),
        });
        self.all.borrow_mut().push(Rc::downgrade(&deadline));
        deadline
    }

    /// Shuts down every socket whose deadline passed and forgets sockets that are gone.
    pub fn sweep(&self) {
        let now = Instant::now();
        COARSE_NOW.with(|c| c.set(now));
        self.all.borrow_mut().retain(|weak| {
            let Some(d) = weak.upgrade() else {
                return false;
            };
            let write_due = d.write_by.get().is_some_and(|t| t <= now);
            let read_due = d.read_by.get().is_some_and(|t| t <= now);
            if write_due || read_due {
                d.read_by.set(None);
                d.write_by.set(None);
                d.fired.set(true);
                let how = if write_due {
                    libc::SHUT_RDWR
                } else {
                    libc::SHUT_RD
                };
                // SAFETY: `d` is alive, so its socket is too (they are dropped together, and
                // a deadline is only armed while an operation on the socket is pending).
                unsafe {
                    libc::shutdown(d.fd, how);
                }
            }
            true
        });
    }

    /// Ends every wait for a next request (a soft stop): the receive side is shut down, so the
    /// wait completes; bytes already received can still be read.
    pub fn wake_idle(&self) {
        for d in self.all.borrow().iter().filter_map(Weak::upgrade) {
            if d.idle.replace(false) {
                // SAFETY: `d` is alive, so its socket is too (see `sweep`).
                unsafe {
                    libc::shutdown(d.fd, libc::SHUT_RD);
                }
            }
        }
    }

    /// Number of sockets watched.
    pub fn len(&self) -> usize {
        self.all.borrow().len()
    }

    /// Whether no socket is watched.
    pub fn is_empty(&self) -> bool {
        self.all.borrow().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    fn pair() -> (std::net::TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn an_expired_read_deadline_ends_the_receive_side_only() {
        let (mut client, mut server) = pair();
        let deadlines = Deadlines::default();
        let d = deadlines.register(server.as_raw_fd());
        let armed = d.reading(Some(Duration::ZERO));
        // Due within two sweep intervals of the coarse clock.
        std::thread::sleep(2 * SWEEP_INTERVAL);
        deadlines.sweep();
        drop(armed);
        assert!(d.fired());
        let mut byte = [0u8; 1];
        assert_eq!(
            server.read(&mut byte).unwrap(),
            0,
            "reads now see end of stream"
        );
        server.write_all(b"408").unwrap();
        let mut got = [0u8; 3];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"408", "the socket can still answer");
        drop(d);
        deadlines.sweep();
        assert!(deadlines.is_empty(), "ended sockets are forgotten");
    }

    #[test]
    fn lifted_or_distant_deadlines_do_nothing() {
        let deadlines = Deadlines::default();
        let d = deadlines.register(-1);
        drop(d.writing(Some(Duration::ZERO)));
        std::thread::sleep(2 * SWEEP_INTERVAL);
        deadlines.sweep();
        assert!(!d.fired(), "a deadline lifted before the sweep never fires");
        let _armed = d.reading(Some(Duration::from_secs(60)));
        deadlines.sweep();
        assert!(!d.fired());
        assert_eq!(deadlines.len(), 1);
    }
}
