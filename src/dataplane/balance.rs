//! Picks a server for a request from the shard's current snapshot.
//!
//! Round-robin walks a precomputed smooth weighted schedule with one cursor shared by all
//! shards (a single relaxed `fetch_add`), so consecutive requests alternate servers whichever
//! shard serves them. The other algorithms read per-server in-flight counts that every shard
//! maintains; those are only kept for backends that need them.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::config::{Balance, Proxy, ServerId};
use crate::state::{BackendShared, BackendView};

/// A server picked for one request; holds its in-flight slot until dropped.
#[derive(Debug)]
pub struct Slot {
    /// The server.
    pub server: ServerId,
    tracked: Option<Arc<BackendShared>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(shared) = &self.tracked {
            shared.inflight[self.server].fetch_sub(1, Ordering::Relaxed);
        }
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
pub fn pick(
    proxy: &Proxy,
    view: &BackendView,
    rng: &mut fastrand::Rng,
    avoid: Option<ServerId>,
) -> Result<Slot, NoPick> {
    if view.candidates.is_empty() {
        return Err(NoPick::NoServer);
    }
    let alternatives = view.candidates.len() > 1;
    let allowed = |s: ServerId| !(alternatives && Some(s) == avoid);
    let order: Vec<ServerId> = match proxy.balance {
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
            for _ in 0..draws.max(1) {
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

/// A slot on `server` itself, if it is usable now and below its `maxconn`.
pub fn acquire_server(proxy: &Proxy, view: &BackendView, server: ServerId) -> Option<Slot> {
    if !view.candidates.iter().any(|&s| usize::from(s) == server) {
        return None;
    }
    acquire(proxy, view, server)
}

/// In-flight requests relative to weight, HAProxy's leastconn measure.
fn load(view: &BackendView, server: ServerId) -> u64 {
    let inflight = u64::from(view.shared.inflight[server].load(Ordering::Relaxed));
    let weight = u64::from(view.servers[server].weight.max(1));
    (inflight + 1) * 256 / weight
}

fn acquire(proxy: &Proxy, view: &BackendView, server: ServerId) -> Option<Slot> {
    if !view.tracks_inflight {
        return Some(Slot {
            server,
            tracked: None,
        });
    }
    let counter = &view.shared.inflight[server];
    let maxconn = proxy.servers[server].maxconn;
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_sources;
    use crate::state::Snapshot;

    fn snapshot(body: &str) -> Snapshot {
        let text = format!("backend b\n{body}");
        let config = load_sources(&[("t".into(), text)]).unwrap().config;
        Snapshot::initial(Arc::new(config))
    }

    fn picks(snap: &Snapshot, n: usize, keep: bool) -> Vec<usize> {
        let proxy = &snap.config.proxies[0];
        let view = snap.backend(0).unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut held = Vec::new();
        (0..n)
            .map(|_| {
                let slot = pick(proxy, view, &mut rng, None).unwrap();
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
        let err = pick(&s.config.proxies[0], view, &mut fastrand::Rng::new(), None).unwrap_err();
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
            .map(|_| pick(proxy, view, &mut rng, None).unwrap())
            .collect();
        assert_eq!(
            held.iter().map(|s| s.server).collect::<Vec<_>>(),
            vec![0, 0, 1]
        );
        assert_eq!(pick(proxy, view, &mut rng, None).unwrap_err(), NoPick::Full);
        drop(held);
        assert_eq!(pick(proxy, view, &mut rng, None).unwrap().server, 0);
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
            assert_eq!(pick(proxy, view, &mut rng, Some(0)).unwrap().server, 1);
        }
    }
}
