//! Sub-millisecond sleeps for the open-loop schedule.
//!
//! monoio's timer wheel has a 1 ms tick and rounds deadlines up, which would add
//! up to ~2 ms of client-side delay to every open-loop latency (measured from the
//! intended send time). This timer keeps the per-thread deadlines in a heap and
//! arms one `timerfd` (nanosecond resolution) for the earliest, read through
//! io_uring by a ticker task that wakes the due sleepers.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::future::Future;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Shared state of one thread's precise timer.
struct Inner {
    /// The timerfd (owned by the ticker's file).
    fd: RawFd,
    /// Pending deadlines with the slot to wake.
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Waker per slot (one slot per connection).
    wakers: Vec<Option<Waker>>,
    /// Deadline the timerfd is armed for.
    armed: Option<Instant>,
    /// The timerfd failed: sleepers must fall back to monoio's timer.
    failed: bool,
    /// The ticker should exit.
    stopping: bool,
}

impl Inner {
    /// Arms the timerfd to fire at `deadline`.
    fn arm(&mut self, deadline: Instant) {
        let rel = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: libc::time_t::try_from(rel.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: rel.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: fd is a valid timerfd for the lifetime of Inner; spec is a valid pointer.
        let rc = unsafe { libc::timerfd_settime(self.fd, 0, &spec, std::ptr::null_mut()) };
        if rc == 0 {
            self.armed = Some(deadline);
        } else {
            self.fail();
        }
    }

    /// Marks the timer broken and wakes every sleeper.
    fn fail(&mut self) {
        self.failed = true;
        for w in self.wakers.iter_mut().filter_map(Option::take) {
            w.wake();
        }
    }
}

/// A per-thread high-resolution timer (io_uring runtimes only).
#[derive(Clone)]
pub struct PreciseTimer {
    /// Shared state.
    inner: Rc<RefCell<Inner>>,
}

impl PreciseTimer {
    /// Creates the timer with `slots` sleeper slots and spawns its ticker task on the current runtime.
    pub fn start(slots: usize) -> std::io::Result<(PreciseTimer, monoio::task::JoinHandle<()>)> {
        // SAFETY: plain syscall; the result is checked.
        let raw = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh, owned file descriptor.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        let file = monoio::fs::File::from_std(File::from(owned))?;
        let timer = PreciseTimer {
            inner: Rc::new(RefCell::new(Inner {
                fd: file.as_raw_fd(),
                heap: BinaryHeap::new(),
                wakers: vec![None; slots],
                armed: None,
                failed: false,
                stopping: false,
            })),
        };
        let ticker = monoio::spawn(tick(timer.inner.clone(), file));
        Ok((timer, ticker))
    }

    /// False once the timerfd failed (callers then use monoio's timer).
    pub fn usable(&self) -> bool {
        !self.inner.borrow().failed
    }

    /// Sleeps until `deadline` (may return early if the timer fails; callers re-check the time).
    pub fn sleep_until(&self, slot: usize, deadline: Instant) -> Sleep {
        Sleep {
            inner: self.inner.clone(),
            slot,
            deadline,
            registered: false,
        }
    }

    /// Stops the ticker task (it exits after its pending read completes).
    pub fn stop(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.stopping = true;
        if !inner.failed {
            let now = Instant::now();
            inner.arm(now);
        }
    }
}

/// Future returned by [`PreciseTimer::sleep_until`].
pub struct Sleep {
    /// Shared timer state.
    inner: Rc<RefCell<Inner>>,
    /// Sleeper slot.
    slot: usize,
    /// Wake-up time.
    deadline: Instant,
    /// Whether the deadline is in the heap already.
    registered: bool,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if Instant::now() >= this.deadline {
            return Poll::Ready(());
        }
        let mut inner = this.inner.borrow_mut();
        if inner.failed {
            return Poll::Ready(());
        }
        let Some(w) = inner.wakers.get_mut(this.slot) else {
            return Poll::Ready(());
        };
        match w {
            Some(w) if w.will_wake(cx.waker()) => {}
            w => *w = Some(cx.waker().clone()),
        }
        if !this.registered {
            this.registered = true;
            inner.heap.push(Reverse((this.deadline, this.slot)));
            if inner.armed.is_none_or(|a| this.deadline < a) {
                inner.arm(this.deadline);
            }
        }
        Poll::Pending
    }
}

/// The ticker task: waits on the timerfd and wakes the sleepers whose deadline passed.
async fn tick(inner: Rc<RefCell<Inner>>, file: monoio::fs::File) {
    let mut buf: Vec<u8> = Vec::with_capacity(8);
    let mut due: Vec<Waker> = Vec::new();
    loop {
        let (res, b) = file.read_at(buf, 0).await;
        buf = b;
        buf.clear();
        let mut st = inner.borrow_mut();
        if res.is_err() {
            st.fail();
            return;
        }
        if st.stopping {
            return;
        }
        st.armed = None;
        let now = Instant::now();
        while let Some(&Reverse((d, slot))) = st.heap.peek() {
            if d > now {
                st.arm(d);
                break;
            }
            st.heap.pop();
            if let Some(w) = st.wakers.get_mut(slot).and_then(Option::take) {
                due.push(w);
            }
        }
        drop(st);
        for w in due.drain(..) {
            w.wake();
        }
    }
}
