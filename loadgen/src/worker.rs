//! Worker threads: one pinned monoio runtime per thread running its share of the
//! connections in closed loop or open loop (constant rate, coordinated-omission corrected).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use bytes::Bytes;

use crate::client::Conn;
use crate::stats::{ErrorKind, Live, ThreadStats};
use crate::timer::PreciseTimer;

/// Pause after a failed connect so a refused port does not spin.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// How late an open-loop request due before the end may still go out: its wake-up can lag
/// by timer and scheduler jitter, and the schedule, not the wake-up, defines the load.
const LATE_GRACE: Duration = Duration::from_millis(50);

/// One URL, ready to send.
pub struct Endpoint {
    /// Index into [`Plan::targets`].
    pub target: usize,
    /// The pre-encoded request bytes.
    pub request: Bytes,
    /// The request is HEAD (its response has no body).
    pub head: bool,
}

/// Everything a run needs, fixed before the threads start.
pub struct Plan {
    /// URLs in round-robin order.
    pub endpoints: Vec<Endpoint>,
    /// Distinct socket addresses.
    pub targets: Vec<SocketAddr>,
    /// Worker threads.
    pub threads: usize,
    /// Connections in total.
    pub connections: usize,
    /// Run length, if bounded by time.
    pub duration: Option<Duration>,
    /// Total requests, if bounded by count.
    pub max_requests: Option<u64>,
    /// Open-loop total rate (requests/s).
    pub rate: Option<f64>,
    /// Per-request (and per-connect) timeout.
    pub timeout: Duration,
    /// Reuse connections.
    pub keepalive: bool,
    /// Pin worker threads to cores.
    pub pin: bool,
}

/// Merged result of all threads.
pub struct Outcome {
    /// Merged statistics.
    pub stats: ThreadStats,
    /// From the common start to the last thread's end.
    pub elapsed: Duration,
    /// I/O driver used ("io_uring", "legacy" or "mixed").
    pub driver: &'static str,
}

/// State shared by all threads.
struct Shared {
    /// The run plan.
    plan: Plan,
    /// Request tickets handed out (for `-n`).
    tickets: AtomicU64,
    /// All threads start together once their connections are up.
    barrier: Barrier,
    /// Common start instant.
    start: OnceLock<Instant>,
    /// Per-thread live counters.
    live: Vec<Live>,
}

/// State shared by the connection tasks of one thread.
struct Ctx {
    /// Global state.
    sh: Arc<Shared>,
    /// This thread's index.
    thread: usize,
    /// Common start.
    start: Instant,
    /// Time after which no new request starts.
    end: Option<Instant>,
    /// This thread's statistics.
    stats: RefCell<ThreadStats>,
    /// High-resolution timer for the open-loop schedule (io_uring only).
    timer: Option<PreciseTimer>,
}

impl Ctx {
    /// Takes a request ticket; false when `-n` is exhausted.
    fn claim(&self) -> bool {
        match self.sh.plan.max_requests {
            None => true,
            Some(max) => self.sh.tickets.fetch_add(1, Ordering::Relaxed) < max,
        }
    }

    /// True once the run's time is up by `grace` or more.
    fn expired_by(&self, now: Instant, grace: Duration) -> bool {
        self.end.is_some_and(|e| now >= e + grace)
    }
}

/// Runs the plan; `progress` is called about once a second with the live counters and elapsed time.
pub fn run(plan: Plan, mut progress: impl FnMut(&[Live], Duration)) -> anyhow::Result<Outcome> {
    raise_fd_limit();
    let threads = plan.threads;
    let cores = if plan.pin {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let sh = Arc::new(Shared {
        live: (0..threads).map(|_| Live::default()).collect(),
        plan,
        tickets: AtomicU64::new(0),
        barrier: Barrier::new(threads),
        start: OnceLock::new(),
    });
    let mut handles = Vec::with_capacity(threads);
    for i in 0..threads {
        let core = (!cores.is_empty()).then(|| cores[i % cores.len()]);
        let sh = sh.clone();
        let h = std::thread::Builder::new()
            .name(format!("loadgen-{i}"))
            .spawn(move || thread_main(&sh, i, core))?;
        handles.push(h);
    }
    let mut last = Instant::now();
    while !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(20));
        if last.elapsed() >= Duration::from_secs(1) {
            last = Instant::now();
            if let Some(start) = sh.start.get() {
                progress(&sh.live, start.elapsed());
            }
        }
    }
    let mut merged = ThreadStats::new()?;
    let mut finished = None::<Instant>;
    let mut drivers = Vec::new();
    for h in handles {
        let (stats, end, driver) = h
            .join()
            .map_err(|_| anyhow!("a worker thread panicked"))??;
        merged.merge(&stats)?;
        finished = Some(finished.map_or(end, |f| f.max(end)));
        drivers.push(driver);
    }
    let start = sh.start.get().copied().unwrap_or_else(Instant::now);
    let mut elapsed = finished.map_or(Duration::ZERO, |f| f.saturating_duration_since(start));
    // An open-loop run sends its last request shortly before the end: unless -n ran out
    // first, the run lasted the whole duration.
    let exhausted = sh
        .plan
        .max_requests
        .is_some_and(|m| sh.tickets.load(Ordering::Relaxed) >= m);
    if let (Some(d), false) = (sh.plan.duration, exhausted) {
        elapsed = elapsed.max(d);
    }
    let driver = if drivers.iter().all(|d| *d == drivers[0]) {
        drivers.first().copied().unwrap_or("none")
    } else {
        "mixed"
    };
    Ok(Outcome {
        stats: merged,
        elapsed,
        driver,
    })
}

/// Raises the soft open-file limit to the hard limit (many connections need many fds).
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit with a valid pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Result of one thread: statistics, end instant and driver name.
type ThreadResult = anyhow::Result<(ThreadStats, Instant, &'static str)>;

/// Body of a worker thread: pin, build the runtime (io_uring, else legacy), run the connections.
fn thread_main(sh: &Arc<Shared>, idx: usize, core: Option<core_affinity::CoreId>) -> ThreadResult {
    static FALLBACK_NOTED: AtomicBool = AtomicBool::new(false);
    if let Some(core) = core {
        core_affinity::set_for_current(core);
    }
    // Let the timerfd fire as precisely as the kernel can (default slack is 50us).
    // SAFETY: plain prctl on the current thread.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    let (first, count) = share(sh.plan.connections, sh.plan.threads, idx);
    let entries =
        u32::try_from((count * 2 + 64).next_power_of_two().clamp(256, 32768)).unwrap_or(32768);
    // Completions are reaped only by this thread, when it waits for them: deferring the
    // kernel's task work to that point (instead of interrupting the thread) saves CPU.
    let mut tuned = io_uring::IoUring::builder();
    tuned
        .setup_coop_taskrun()
        .setup_single_issuer()
        .setup_defer_taskrun();
    let uring = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(entries)
        .uring_builder(tuned)
        .enable_timer()
        .build()
        .or_else(|_| {
            monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                .with_entries(entries)
                .enable_timer()
                .build()
        });
    match uring {
        Ok(mut rt) => {
            let (stats, end) = rt.block_on(thread_body(sh.clone(), idx, first, count, true))?;
            Ok((stats, end, "io_uring"))
        }
        Err(e) => {
            if !FALLBACK_NOTED.swap(true, Ordering::Relaxed) {
                eprintln!("loadgen: io_uring unavailable ({e}); falling back to the legacy (epoll) driver");
            }
            match monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                .enable_timer()
                .build()
            {
                Ok(mut rt) => {
                    let (stats, end) =
                        rt.block_on(thread_body(sh.clone(), idx, first, count, false))?;
                    Ok((stats, end, "legacy"))
                }
                Err(e) => {
                    sh.barrier.wait();
                    Err(anyhow!("cannot build a runtime: {e}"))
                }
            }
        }
    }
}

/// The first global connection index and the number of connections of thread `idx`.
fn share(total: usize, threads: usize, idx: usize) -> (usize, usize) {
    let base = total / threads;
    let extra = total % threads;
    (idx * base + idx.min(extra), base + usize::from(idx < extra))
}

/// Connects this thread's connections, waits for the common start, runs them to the end.
async fn thread_body(
    sh: Arc<Shared>,
    thread: usize,
    first: usize,
    count: usize,
    uring: bool,
) -> anyhow::Result<(ThreadStats, Instant)> {
    let plan = &sh.plan;
    let timeout = plan.timeout;
    let pre: Vec<_> = (first..first + count)
        .map(|g| {
            let addr = plan.targets[plan.endpoints[g % plan.endpoints.len()].target];
            monoio::spawn(async move {
                match monoio::time::timeout(timeout, Conn::connect(addr)).await {
                    Ok(Ok(c)) => Some(c),
                    _ => None,
                }
            })
        })
        .collect();
    let mut conns = Vec::with_capacity(count);
    for h in pre {
        conns.push(h.await);
    }
    sh.barrier.wait();
    let start = *sh.start.get_or_init(Instant::now);
    let timer = if uring && plan.rate.is_some() {
        PreciseTimer::start(count).ok()
    } else {
        None
    };
    let ctx = Rc::new(Ctx {
        thread,
        start,
        end: plan.duration.map(|d| start + d),
        stats: RefCell::new(ThreadStats::new()?),
        timer: timer.as_ref().map(|(t, _)| t.clone()),
        sh: sh.clone(),
    });
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(slot, conn)| monoio::spawn(conn_loop(ctx.clone(), first + slot, slot, conn)))
        .collect();
    for t in tasks {
        t.await;
    }
    let end = Instant::now();
    if let Some((t, ticker)) = timer {
        t.stop();
        ticker.await;
    }
    let stats = ctx.stats.replace(ThreadStats::new()?);
    Ok((stats, end))
}

/// One connection's request loop (closed or open loop).
async fn conn_loop(ctx: Rc<Ctx>, g: usize, slot: usize, first: Option<Conn>) {
    let plan = &ctx.sh.plan;
    let n = plan.endpoints.len();
    let mut conns: Vec<Option<Conn>> = (0..plan.targets.len()).map(|_| None).collect();
    conns[plan.endpoints[g % n].target] = first;
    let mut rx = 0u64;
    let mut url = g % n;
    for k in 0u64.. {
        let intended = match plan.rate {
            Some(rate) => {
                let at = ctx.start
                    + Duration::from_secs_f64(
                        (g as f64 + k as f64 * plan.connections as f64) / rate,
                    );
                if ctx.expired_by(at, Duration::ZERO) {
                    break;
                }
                wait_until(&ctx, slot, at).await;
                Some(at)
            }
            None => None,
        };
        let grace = intended.map_or(Duration::ZERO, |_| LATE_GRACE);
        if ctx.expired_by(Instant::now(), grace) || !ctx.claim() {
            break;
        }
        let ep = &plan.endpoints[url];
        url = (url + 1) % n;
        let began = intended.unwrap_or_else(Instant::now);
        let res = request(plan, &mut conns[ep.target], ep, &mut rx).await;
        let done = Instant::now();
        {
            let mut st = ctx.stats.borrow_mut();
            st.bytes += std::mem::take(&mut rx);
            match res {
                Ok(status) => st.record(status, done.saturating_duration_since(began)),
                Err(kind) => st.error(kind),
            }
            st.publish(&ctx.sh.live[ctx.thread]);
        }
        if res == Err(ErrorKind::Connect) {
            monoio::time::sleep(CONNECT_BACKOFF).await;
        }
    }
}

/// Sleeps until `at` (sub-millisecond with the precise timer, else monoio's 1 ms timer).
async fn wait_until(ctx: &Ctx, slot: usize, at: Instant) {
    while Instant::now() < at {
        match &ctx.timer {
            Some(t) if t.usable() => t.sleep_until(slot, at).await,
            _ => monoio::time::sleep_until(monoio::time::Instant::from_std(at)).await,
        }
    }
}

/// One request: (re)connect if needed, send, read the response; closes the connection on error.
async fn request(
    plan: &Plan,
    slot: &mut Option<Conn>,
    ep: &Endpoint,
    rx: &mut u64,
) -> Result<u16, ErrorKind> {
    let conn = match slot {
        Some(c) => c,
        None => match monoio::time::timeout(plan.timeout, Conn::connect(plan.targets[ep.target]))
            .await
        {
            Ok(Ok(c)) => slot.insert(c),
            _ => return Err(ErrorKind::Connect),
        },
    };
    let res = monoio::time::timeout(plan.timeout, conn.exchange(&ep.request, ep.head, rx)).await;
    match res {
        Ok(Ok(resp)) => {
            if resp.close || !plan.keepalive {
                *slot = None;
            }
            Ok(resp.status)
        }
        Ok(Err(kind)) => {
            *slot = None;
            Err(kind)
        }
        Err(_) => {
            *slot = None;
            Err(ErrorKind::Timeout)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn connections_are_spread_like_wrk() {
        let parts: Vec<_> = (0..3).map(|i| share(10, 3, i)).collect();
        assert_eq!(parts, vec![(0, 4), (4, 3), (7, 3)]);
        assert_eq!(share(5, 1, 0), (0, 5));
    }
}
