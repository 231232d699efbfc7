//! Picks a server for a request from the shard's current snapshot, and queues requests
//! while every usable server is at its `maxconn`.
//!
//! Round-robin walks a precomputed smooth weighted schedule with one cursor shared by all
//! shards (a single relaxed `fetch_add`), so consecutive requests alternate servers whichever
//! shard serves them. The other algorithms read per-server in-flight counts that every shard
//! maintains; those are only kept for backends that need them.
//!
//! The queue is per shard and per backend, first in first out. A slot freed on the shard goes
//! straight to the oldest waiter without passing through the shared count, so a newcomer
//! cannot take it first; newcomers line up behind existing waiters. Slots freed on other
//! shards reach the shared counts, and the oldest waiter re-tries them on the shard's sweep
//! tick: nothing polls, and a waiting request costs no CPU between ticks.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::{Poll, Waker};
use std::time::Instant;

use crate::config::{Balance, Proxy, ServerId};
use crate::state::{BackendShared, BackendView};

/// A server picked for one request; holds its in-flight slot until dropped.
///
/// Dropped on a shard with requests queued for the backend, the slot passes to the oldest of
/// them instead of being released.
#[derive(Debug)]
pub struct Slot {
    /// The server.
    pub server: ServerId,
    tracked: Option<Arc<BackendShared>>,
    queue: Option<Rc<BackendQueue>>,
}

impl Slot {
    /// Passes the slot to the oldest waiter of `queue` when it is dropped. Only slots that
    /// count against a `maxconn` can be waited for.
    pub fn hand_over_to(&mut self, queue: &Rc<BackendQueue>) {
        if self.tracked.is_some() {
            self.queue = Some(Rc::clone(queue));
        }
    }

    /// Gives the slot back to the shared count, bypassing any waiter.
    pub fn release(mut self) {
        self.queue = None;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(shared) = self.tracked.take() else {
            return;
        };
        if let Some(queue) = self.queue.take() {
            if let Some(waiter) = queue.pop_oldest() {
                // The in-flight count stays as it is: the slot changes hands.
                waiter.grant(Slot {
                    server: self.server,
                    tracked: Some(shared),
                    queue: Some(queue),
                });
                return;
            }
        }
        shared.inflight[self.server].fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why no server was picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoPick {
    /// No server is usable.
    NoServer,
    /// Usable servers exist but all are at their `maxconn`.
    Full,
}

/// Picks a server of `proxy` and takes a slot on it; avoids `avoid` when another is usable.
/// `hash` is the request's balancing key under a hash-based `balance` (`None`: no key).
pub fn pick(
    proxy: &Proxy,
    view: &BackendView,
    rng: &mut fastrand::Rng,
    avoid: Option<ServerId>,
    hash: Option<u32>,
) -> Result<Slot, NoPick> {
    if view.candidates.is_empty() {
        return Err(NoPick::NoServer);
    }
    let alternatives = view.candidates.len() > 1;
    let allowed = |s: ServerId| !(alternatives && Some(s) == avoid);
    let order: Vec<ServerId> = match &proxy.balance {
        Balance::Hash(_) => {
            let table = view.hash.as_deref().ok_or(NoPick::NoServer)?;
            let server = match hash {
                Some(h) => table.lookup(h, avoid),
                // No key: HAProxy's round robin over the same map or ring.
                None => table.next(view.shared.cursor.fetch_add(1, Ordering::Relaxed), avoid),
            };
            let server = server.ok_or(NoPick::NoServer)?;
            // A key belongs to its server: when that one is full the request waits for it
            // rather than going elsewhere (HAProxy queues on the server).
            return acquire(proxy, view, server).ok_or(NoPick::Full);
        }
        Balance::RoundRobin | Balance::StaticRr => {
            let schedule = view.schedule();
            let start = view.shared.cursor.fetch_add(1, Ordering::Relaxed);
            // The common case: the scheduled server is free.
            let first = usize::from(schedule[start % schedule.len()]);
            if allowed(first) {
                if let Some(slot) = acquire(proxy, view, first) {
                    return Ok(slot);
                }
            }
            (1..schedule.len())
                .map(|k| usize::from(schedule[(start + k) % schedule.len()]))
                .collect()
        }
        Balance::LeastConn => {
            let start = view.shared.cursor.fetch_add(1, Ordering::Relaxed);
            let n = view.candidates.len();
            let mut ranked: Vec<ServerId> = (0..n)
                .map(|k| usize::from(view.candidates[(start + k) % n]))
                .collect();
            // Stable sort keeps the rotation among equally loaded servers.
            ranked.sort_by_key(|&s| load(view, s));
            ranked
        }
        Balance::Random { draws } => {
            let schedule = view.schedule();
            let mut best: Option<ServerId> = None;
            for _ in 0..(*draws).max(1) {
                let s = usize::from(schedule[rng.usize(..schedule.len())]);
                if best.is_none_or(|b| load(view, s) < load(view, b)) {
                    best = Some(s);
                }
            }
            let mut order: Vec<ServerId> = best.into_iter().collect();
            order.extend(view.candidates.iter().map(|&s| usize::from(s)));
            order
        }
        Balance::First => view.candidates.iter().map(|&s| usize::from(s)).collect(),
    };
    for s in order.iter().copied().filter(|&s| allowed(s)) {
        if let Some(slot) = acquire(proxy, view, s) {
            return Ok(slot);
        }
    }
    Err(NoPick::Full)
}

/// In-flight requests relative to weight, HAProxy's leastconn measure.
fn load(view: &BackendView, server: ServerId) -> u64 {
    let inflight = u64::from(view.shared.inflight[server].load(Ordering::Relaxed));
    let weight = u64::from(view.servers[server].weight.max(1));
    (inflight + 1) * 256 / weight
}

fn acquire(proxy: &Proxy, view: &BackendView, server: ServerId) -> Option<Slot> {
    // A server id from a cookie or a client's private connection may name none (a reload).
    let maxconn = proxy.servers.get(server)?.maxconn;
    let counter = view.shared.inflight.get(server)?;
    if !view.tracks_inflight {
        return Some(Slot {
            server,
            tracked: None,
            queue: None,
        });
    }
    if maxconn == 0 {
        counter.fetch_add(1, Ordering::Relaxed);
    } else {
        let mut current = counter.load(Ordering::Relaxed);
        loop {
            if current >= maxconn {
                return None;
            }
            match counter.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(seen) => current = seen,
            }
        }
    }
    Some(Slot {
        server,
        tracked: Some(Arc::clone(&view.shared)),
        queue: None,
    })
}

/// A slot on `server` itself, if it is usable now and below its `maxconn`: for a client
/// connection that must stay on the server it already talks to.
pub fn acquire_server(proxy: &Proxy, view: &BackendView, server: ServerId) -> Option<Slot> {
    let usable = u16::try_from(server).is_ok_and(|s| view.candidates.contains(&s));
    usable.then(|| acquire(proxy, view, server)).flatten()
}

/// A slot on the server a persistence cookie designates: an up server whatever its weight (a
/// drained server keeps its clients, as in HAProxy), a down one when `allow_down`
/// (`option persist`, `force-persist`), never one in maintenance; `None` when it is at its
/// `maxconn` too (the request is then balanced).
pub fn acquire_persistent(
    proxy: &Proxy,
    view: &BackendView,
    server: ServerId,
    allow_down: bool,
) -> Option<Slot> {
    let status = view.servers.get(server)?;
    let allowed = match status.state {
        crate::state::ServerState::Up => true,
        crate::state::ServerState::Down => allow_down,
        crate::state::ServerState::Maint => false,
    };
    allowed.then(|| acquire(proxy, view, server)).flatten()
}

/// A shard's wait queues, one per backend, created when first needed.
///
/// Keyed by the backend's `BackendShared` (the in-flight counts its slots count in), not by
/// its id: a reload may give an id to another backend, or change a backend's servers, and a
/// slot must only ever pass to a request waiting for the very servers it counts for.
#[derive(Debug, Default)]
pub struct Queues {
    /// By the address of the `BackendShared`, which the `Weak` proves is still that one.
    backends: RefCell<HashMap<usize, KeyedQueue>>,
}

/// A queue and the balancing state it is for.
type KeyedQueue = (Weak<BackendShared>, Rc<BackendQueue>);

impl Queues {
    /// The queue of the backend whose balancing state is `shared`, on this shard.
    pub fn of(&self, shared: &Arc<BackendShared>) -> Rc<BackendQueue> {
        let mut backends = self.backends.borrow_mut();
        let key = Arc::as_ptr(shared) as usize;
        let entry = backends
            .entry(key)
            .or_insert_with(|| (Arc::downgrade(shared), Rc::default()));
        if entry.0.strong_count() == 0 {
            // An earlier state freed at this address: that queue is not this backend's.
            *entry = (Arc::downgrade(shared), Rc::default());
        }
        Rc::clone(&entry.1)
    }

    /// Expires overdue waiters and lets the oldest of each queue re-try the shared counts
    /// (slots freed on other shards); called on the shard's sweep tick.
    pub fn tick(&self, now: Instant) {
        // Queues of balancing states no snapshot holds any more are empty: forget them.
        self.backends
            .borrow_mut()
            .retain(|_, (shared, queue)| shared.strong_count() > 0 || !queue.is_empty());
        // Cloned out first: waking tasks must not run into a held borrow.
        let queues: Vec<Rc<BackendQueue>> = self
            .backends
            .borrow()
            .values()
            .map(|(_, queue)| queue)
            .filter(|q| !q.is_empty())
            .cloned()
            .collect();
        for queue in queues {
            queue.tick(now);
        }
    }
}

/// Requests of one shard waiting for a server slot of one backend, oldest first.
#[derive(Default)]
pub struct BackendQueue {
    waiters: RefCell<VecDeque<Rc<Waiter>>>,
}

impl std::fmt::Debug for BackendQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendQueue")
            .field("waiters", &self.len())
            .finish()
    }
}

/// What woke a waiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// Nothing yet.
    Idle,
    /// Oldest on a tick: re-try the shared counts.
    Retry,
    /// Its time in the queue ran out.
    Expired,
}

struct Waiter {
    /// A slot handed over by a request that finished on this shard.
    granted: RefCell<Option<Slot>>,
    wake: Cell<Wake>,
    expires: Instant,
    waker: Cell<Option<Waker>>,
}

impl Waiter {
    fn grant(&self, slot: Slot) {
        let previous = self.granted.borrow_mut().replace(slot);
        // A waiter leaves the queue when granted, so it is never granted twice; should that
        // change, the extra slot is passed on (dropped outside the borrow) rather than leaked.
        drop(previous);
        self.wake();
    }

    fn wake(&self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// Why a queued request woke up.
#[derive(Debug)]
pub enum Turn {
    /// A finishing request on this shard handed its slot over.
    Granted(Slot),
    /// Oldest in the queue on a tick: try to pick a server again.
    Retry,
    /// The time allowed in the queue is over.
    Expired,
}

impl BackendQueue {
    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.waiters.borrow().is_empty()
    }

    /// Number of waiting requests.
    pub fn len(&self) -> usize {
        self.waiters.borrow().len()
    }

    /// Joins the end of the queue until `expires`.
    pub fn join(self: &Rc<Self>, expires: Instant) -> Queued {
        let waiter = Rc::new(Waiter {
            granted: RefCell::new(None),
            wake: Cell::new(Wake::Idle),
            expires,
            waker: Cell::new(None),
        });
        self.waiters.borrow_mut().push_back(Rc::clone(&waiter));
        Queued {
            queue: Rc::clone(self),
            waiter,
        }
    }

    /// Lets the oldest waiter re-try the shared counts (more slots may be free).
    pub fn nudge_oldest(&self) {
        let oldest = self.waiters.borrow().front().cloned();
        if let Some(waiter) = oldest {
            if waiter.wake.get() == Wake::Idle {
                waiter.wake.set(Wake::Retry);
            }
            waiter.wake();
        }
    }

    fn pop_oldest(&self) -> Option<Rc<Waiter>> {
        self.waiters.borrow_mut().pop_front()
    }

    fn tick(&self, now: Instant) {
        let mut expired = Vec::new();
        self.waiters.borrow_mut().retain(|w| {
            let keep = w.expires > now;
            if !keep {
                expired.push(Rc::clone(w));
            }
            keep
        });
        for waiter in expired {
            waiter.wake.set(Wake::Expired);
            waiter.wake();
        }
        self.nudge_oldest();
    }

    fn remove(&self, waiter: &Rc<Waiter>) {
        self.waiters.borrow_mut().retain(|w| !Rc::ptr_eq(w, waiter));
    }
}

/// A request's place in a backend queue. Dropping it leaves the queue, and passes on a slot
/// that was granted but not taken, so a cancelled or expired wait never leaks a slot.
pub struct Queued {
    queue: Rc<BackendQueue>,
    waiter: Rc<Waiter>,
}

impl Queued {
    /// Waits, without polling, for a slot handed over, a re-try on the tick, or expiry.
    pub async fn turn(&self) -> Turn {
        poll_fn(|cx| {
            let waiter = &self.waiter;
            let granted = waiter.granted.borrow_mut().take();
            if let Some(slot) = granted {
                if waiter.wake.replace(Wake::Idle) == Wake::Retry {
                    // The tick's re-try was meant for the oldest waiter: pass it on.
                    self.queue.nudge_oldest();
                }
                return Poll::Ready(Turn::Granted(slot));
            }
            match waiter.wake.replace(Wake::Idle) {
                Wake::Retry => Poll::Ready(Turn::Retry),
                Wake::Expired => {
                    waiter.wake.set(Wake::Expired);
                    Poll::Ready(Turn::Expired)
                }
                Wake::Idle => {
                    waiter.waker.set(Some(cx.waker().clone()));
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Back to the head of the queue, after a handed-over slot turned out to be unusable.
    pub fn rejoin_first(&self) {
        if self.waiter.wake.get() == Wake::Expired {
            return;
        }
        self.queue.remove(&self.waiter);
        self.queue
            .waiters
            .borrow_mut()
            .push_front(Rc::clone(&self.waiter));
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.queue.remove(&self.waiter);
        // Outside every borrow: dropping the slot may hand it to the next waiter.
        let granted = self.waiter.granted.borrow_mut().take();
        drop(granted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_sources;
    use crate::state::Snapshot;

    fn snapshot(body: &str) -> Snapshot {
        let text = format!("backend b\n{body}");
        let config = load_sources(&[("t".into(), text)]).unwrap().config;
        Snapshot::initial(Arc::new(config), 1)
    }

    fn picks(snap: &Snapshot, n: usize, keep: bool) -> Vec<usize> {
        let proxy = &snap.config.proxies[0];
        let view = snap.backend(0).unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut held = Vec::new();
        (0..n)
            .map(|_| {
                let slot = pick(proxy, view, &mut rng, None, None).unwrap();
                let s = slot.server;
                if keep {
                    held.push(slot);
                }
                s
            })
            .collect()
    }

    #[test]
    fn roundrobin_alternates_and_weights() {
        let s = snapshot(" server a 127.0.0.1:1\n server b 127.0.0.1:2\n");
        assert_eq!(picks(&s, 4, false), vec![0, 1, 0, 1]);
        let s = snapshot(" server a 127.0.0.1:1 weight 3\n server b 127.0.0.1:2\n");
        assert_eq!(picks(&s, 8, false), vec![0, 0, 1, 0, 0, 0, 1, 0]);
    }

    #[test]
    fn backups_and_disabled() {
        let s = snapshot(" server a 127.0.0.1:1 disabled\n server b 127.0.0.1:2 backup\n server c 127.0.0.1:3 backup\n");
        assert_eq!(
            picks(&s, 3, false),
            vec![1, 1, 1],
            "only the first backup without allbackups"
        );
        let s = snapshot(" option allbackups\n server a 127.0.0.1:1 disabled\n server b 127.0.0.1:2 backup\n server c 127.0.0.1:3 backup\n");
        assert_eq!(picks(&s, 4, false), vec![1, 2, 1, 2]);
        let s = snapshot(" server a 127.0.0.1:1 disabled\n");
        let view = s.backend(0).unwrap();
        let err = pick(
            &s.config.proxies[0],
            view,
            &mut fastrand::Rng::new(),
            None,
            None,
        )
        .unwrap_err();
        assert_eq!(err, NoPick::NoServer);
    }

    #[test]
    fn leastconn_spreads_held_requests() {
        let s = snapshot(" balance leastconn\n server a 127.0.0.1:1\n server b 127.0.0.1:2\n server c 127.0.0.1:3\n");
        let mut got = picks(&s, 6, true);
        got.sort();
        assert_eq!(got, vec![0, 0, 1, 1, 2, 2]);
    }

    #[test]
    fn maxconn_and_first() {
        let s = snapshot(
            " balance first\n server a 127.0.0.1:1 maxconn 2\n server b 127.0.0.1:2 maxconn 1\n",
        );
        let proxy = &s.config.proxies[0];
        let view = s.backend(0).unwrap();
        let mut rng = fastrand::Rng::new();
        let held: Vec<Slot> = (0..3)
            .map(|_| pick(proxy, view, &mut rng, None, None).unwrap())
            .collect();
        assert_eq!(
            held.iter().map(|s| s.server).collect::<Vec<_>>(),
            vec![0, 0, 1]
        );
        assert_eq!(
            pick(proxy, view, &mut rng, None, None).unwrap_err(),
            NoPick::Full
        );
        drop(held);
        assert_eq!(pick(proxy, view, &mut rng, None, None).unwrap().server, 0);
    }

    #[test]
    fn random_prefers_less_loaded() {
        let s = snapshot(" balance random(2)\n server a 127.0.0.1:1\n server b 127.0.0.1:2\n");
        let got = picks(&s, 100, true);
        let a = got.iter().filter(|&&x| x == 0).count();
        assert!(
            (40..=60).contains(&a),
            "power of two choices keeps load even: {a}"
        );
    }

    #[test]
    fn avoid_skips_the_failed_server() {
        let s = snapshot(" server a 127.0.0.1:1\n server b 127.0.0.1:2\n");
        let proxy = &s.config.proxies[0];
        let view = s.backend(0).unwrap();
        let mut rng = fastrand::Rng::new();
        for _ in 0..4 {
            assert_eq!(
                pick(proxy, view, &mut rng, Some(0), None).unwrap().server,
                1
            );
        }
    }

    #[test]
    fn hash_keys_stick_and_keyless_requests_go_round_robin() {
        let s = snapshot(" mode http\n balance uri\n server a 127.0.0.1:1 maxconn 1\n server b 127.0.0.1:2\n server c 127.0.0.1:3\n");
        let (proxy, view) = (&s.config.proxies[0], s.backend(0).unwrap());
        let mut rng = fastrand::Rng::new();
        // A map over three servers of weight 1: hash % 3.
        let on = |h: u32| pick(proxy, view, &mut fastrand::Rng::new(), None, Some(h));
        assert_eq!(on(4).unwrap().server, 1);
        assert_eq!(on(5).unwrap().server, 2);
        let held = on(3).unwrap();
        assert_eq!(held.server, 0);
        assert_eq!(
            on(3).unwrap_err(),
            NoPick::Full,
            "a full server's key waits for it"
        );
        assert_eq!(
            pick(proxy, view, &mut rng, Some(0), Some(3)).map(|s| s.server),
            Ok(1),
            "a failed server's key moves on"
        );
        drop(held);
        let keyless: Vec<usize> = (0..4)
            .map(|_| pick(proxy, view, &mut rng, None, None).unwrap().server)
            .collect();
        assert_eq!(keyless, vec![0, 1, 2, 0]);
    }

    fn poll_turn(place: &Queued) -> Option<Turn> {
        let mut turn = std::pin::pin!(place.turn());
        let mut cx = std::task::Context::from_waker(Waker::noop());
        match std::future::Future::poll(turn.as_mut(), &mut cx) {
            Poll::Ready(t) => Some(t),
            Poll::Pending => None,
        }
    }

    fn inflight(view: &BackendView, server: ServerId) -> u32 {
        view.shared.inflight[server].load(Ordering::Relaxed)
    }

    #[test]
    fn a_freed_slot_goes_to_the_oldest_waiter_not_to_a_newcomer() {
        let s = snapshot(" server a 127.0.0.1:1 maxconn 1\n");
        let (proxy, view) = (&s.config.proxies[0], s.backend(0).unwrap());
        let mut rng = fastrand::Rng::new();
        let queue = Rc::new(BackendQueue::default());
        let far = Instant::now() + std::time::Duration::from_secs(60);
        let mut held = pick(proxy, view, &mut rng, None, None).unwrap();
        held.hand_over_to(&queue);
        let first = queue.join(far);
        let second = queue.join(far);
        assert!(poll_turn(&first).is_none(), "nothing to hand over yet");
        drop(held);
        assert_eq!(
            inflight(view, 0),
            1,
            "the slot changed hands, it was not released"
        );
        assert!(
            pick(proxy, view, &mut rng, None, None).is_err(),
            "no barging"
        );
        let Some(Turn::Granted(slot)) = poll_turn(&first) else {
            panic!("the oldest waiter gets the slot");
        };
        assert!(poll_turn(&second).is_none());
        drop(first);
        drop(slot);
        let Some(Turn::Granted(slot)) = poll_turn(&second) else {
            panic!("then the next one");
        };
        drop(second);
        drop(slot);
        assert_eq!(inflight(view, 0), 0, "released once nobody waits");
        assert!(queue.is_empty());
    }

    #[test]
    fn a_waiter_leaving_with_a_granted_slot_passes_it_on() {
        let s = snapshot(" server a 127.0.0.1:1 maxconn 1\n");
        let (proxy, view) = (&s.config.proxies[0], s.backend(0).unwrap());
        let queue = Rc::new(BackendQueue::default());
        let far = Instant::now() + std::time::Duration::from_secs(60);
        let mut held = pick(proxy, view, &mut fastrand::Rng::new(), None, None).unwrap();
        held.hand_over_to(&queue);
        let (first, second) = (queue.join(far), queue.join(far));
        drop(held);
        // Cancelled (or timed out) after the grant, before taking the slot.
        drop(first);
        assert!(matches!(poll_turn(&second), Some(Turn::Granted(_))));
        drop(second);
        assert_eq!(inflight(view, 0), 0, "no slot leaked");
    }

    #[test]
    fn the_tick_expires_waiters_and_lets_the_oldest_retry() {
        let queues = Queues::default();
        let shared = Arc::new(BackendShared::new(1));
        let queue = queues.of(&shared);
        let now = Instant::now();
        let soon = queue.join(now + std::time::Duration::from_millis(10));
        let later = queue.join(now + std::time::Duration::from_secs(60));
        let last = queue.join(now + std::time::Duration::from_secs(60));
        queues.tick(now);
        assert!(matches!(poll_turn(&soon), Some(Turn::Retry)));
        assert!(poll_turn(&later).is_none(), "only the oldest re-tries");
        queues.tick(now + std::time::Duration::from_millis(20));
        assert!(matches!(poll_turn(&soon), Some(Turn::Expired)));
        assert!(matches!(poll_turn(&later), Some(Turn::Retry)));
        assert!(poll_turn(&last).is_none());
        assert_eq!(queue.len(), 2);
        drop((soon, later, last));
        assert!(queue.is_empty());
    }

    #[test]
    fn acquire_server_respects_usability_and_maxconn() {
        let s = snapshot(
            " server a 127.0.0.1:1 maxconn 1\n server b 127.0.0.1:2 disabled\n server c 127.0.0.1:3\n",
        );
        let (proxy, view) = (&s.config.proxies[0], s.backend(0).unwrap());
        let held = acquire_server(proxy, view, 0).unwrap();
        assert_eq!(held.server, 0);
        assert!(acquire_server(proxy, view, 0).is_none(), "at its maxconn");
        assert!(acquire_server(proxy, view, 1).is_none(), "not usable");
        assert!(acquire_server(proxy, view, 9).is_none(), "no such server");
        assert_eq!(acquire_server(proxy, view, 2).unwrap().server, 2);
        drop(held);
        assert!(acquire_server(proxy, view, 0).is_some());
    }
}
