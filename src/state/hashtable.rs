//! The server lookup of a hash-balanced backend, built once per snapshot from the servers
//! in use and their current weights: HAProxy 2.6's map (`src/lb_map.c`) or consistent-hash
//! ring (`src/lb_chash.c`), so a key picks the server HAProxy would pick.

use crate::config::{Proxy, ServerId};

use super::hashing::full_hash;
use super::snapshot::gcd;

/// Points per unit of weight on a consistent-hash ring (HAProxy's `BE_WEIGHT_SCALE`).
const WEIGHT_SCALE: u32 = 16;

/// The id stride between servers' points (HAProxy's `SRV_EWGHT_RANGE`: 256 × 16).
const ID_STRIDE: u32 = 256 * WEIGHT_SCALE;

/// Where hashes land for one backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashTable {
    /// `hash-type map-based`: slot `hash % len` holds the server, each server as many slots
    /// as its weight (divided by the weights' greatest common divisor), interleaved.
    Map(Box<[u16]>),
    /// `hash-type consistent`: points sorted by key; a hash goes to the nearest point.
    Ring(Box<[(u32, u16)]>),
}

impl HashTable {
    /// The table for `proxy` over `in_use`, the servers that may be picked now with their
    /// current weights, in declaration order.
    pub fn build(proxy: &Proxy, in_use: &[(u16, u32)]) -> Self {
        if proxy.hash_type.consistent {
            Self::Ring(ring(proxy, in_use))
        } else {
            Self::Map(map(proxy, in_use))
        }
    }

    /// The server for `hash`, stepping past `avoid` (a server that just failed) when
    /// another one is there; `None` when nothing is in use.
    pub fn lookup(&self, hash: u32, avoid: Option<ServerId>) -> Option<ServerId> {
        match self {
            Self::Map(slots) => {
                let n = slots.len();
                if n == 0 {
                    return None;
                }
                walk(n, hash as usize % n, avoid, |i| slots[i])
            }
            Self::Ring(points) => {
                let n = points.len();
                if n == 0 {
                    return None;
                }
                // HAProxy's `chash_get_server_hash`: the first point at or after the hash
                // (wrapping), the one before it, and the nearer of the two (ties go back).
                let next = points.partition_point(|&(key, _)| key < hash) % n;
                let prev = (next + n - 1) % n;
                let dp = hash.wrapping_sub(points[prev].0);
                let dn = points[next].0.wrapping_sub(hash);
                let start = if dp <= dn { prev } else { next };
                walk(n, start, avoid, |i| points[i].1)
            }
        }
    }

    /// Round robin over the table when the request has no key (HAProxy falls back to the
    /// map's or the ring's own round robin): position `cursor`, past `avoid`.
    pub fn next(&self, cursor: usize, avoid: Option<ServerId>) -> Option<ServerId> {
        match self {
            Self::Map(slots) if !slots.is_empty() => {
                walk(slots.len(), cursor % slots.len(), avoid, |i| slots[i])
            }
            Self::Ring(points) if !points.is_empty() => {
                walk(points.len(), cursor % points.len(), avoid, |i| points[i].1)
            }
            _ => None,
        }
    }
}

/// From `start` on (wrapping), the first entry that is not `avoid`; `avoid` itself when it
/// is all there is.
fn walk(
    n: usize,
    start: usize,
    avoid: Option<ServerId>,
    at: impl Fn(usize) -> u16,
) -> Option<ServerId> {
    let first = usize::from(at(start));
    if Some(first) != avoid {
        return Some(first);
    }
    (1..n)
        .map(|k| usize::from(at((start + k) % n)))
        .find(|&s| Some(s) != avoid)
        .or(Some(first))
}

/// HAProxy's `recalc_server_map`: effective weights are the weights divided by the GCD of
/// the configured ones (`init_server_map`); each slot goes to the server whose accumulated
/// score is highest, earlier servers winning ties.
fn map(proxy: &Proxy, in_use: &[(u16, u32)]) -> Box<[u16]> {
    let divisor = proxy
        .servers
        .iter()
        .fold(0u32, |g, s| gcd(g, s.weight))
        .max(1);
    let eweights: Vec<i64> = in_use
        .iter()
        .map(|&(_, w)| i64::from(w.div_ceil(divisor)))
        .collect();
    let total: i64 = eweights.iter().sum();
    if total <= 0 {
        return Box::default();
    }
    if total == 1 {
        return in_use.iter().take(1).map(|&(s, _)| s).collect();
    }
    let mut scores = vec![0i64; in_use.len()];
    let mut slots = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best: Option<usize> = None;
        let mut max = 0;
        for (i, score) in scores.iter_mut().enumerate() {
            if eweights[i] == 0 {
                continue;
            }
            *score += eweights[i];
            // C's truncating division, as in HAProxy (scores may be negative).
            let v = (*score + total) / total;
            if best.is_none() || v > max {
                max = v;
                best = Some(i);
            }
        }
        if let Some(b) = best {
            scores[b] -= total;
            slots.push(in_use[b].0);
        }
    }
    slots.into()
}

/// HAProxy's `chash_init_server_tree`: a server of weight W has W × 16 points, point `j`
/// at `full_hash(id × 4096 + j)`, so the points stay put when other servers come and go.
fn ring(proxy: &Proxy, in_use: &[(u16, u32)]) -> Box<[(u32, u16)]> {
    let mut points: Vec<(u32, u16)> = Vec::new();
    for &(server, weight) in in_use {
        let Some(s) = proxy.servers.get(usize::from(server)) else {
            continue;
        };
        let base = s.puid.wrapping_mul(ID_STRIDE);
        points.extend(
            (0..weight.saturating_mul(WEIGHT_SCALE))
                .map(|j| (full_hash(base.wrapping_add(j)), server)),
        );
    }
    // Stable: equal keys (rare) keep declaration order, as the tree keeps insertion order.
    points.sort_by_key(|&(key, _)| key);
    points.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_sources;

    fn proxy(body: &str) -> Proxy {
        let text = format!("backend b\n{body}");
        load_sources(&[("t".into(), text)]).unwrap().config.proxies[0].clone()
    }

    fn all(p: &Proxy) -> Vec<(u16, u32)> {
        p.servers
            .iter()
            .enumerate()
            .map(|(i, s)| (i as u16, s.weight))
            .collect()
    }

    #[test]
    fn map_interleaves_by_reduced_weight() {
        let p = proxy(" server a 127.0.0.1:1 weight 20\n server b 127.0.0.1:2 weight 10\n server c 127.0.0.1:3 weight 10\n");
        // Weights 2:1:1 after the GCD, first server first (HAProxy's order).
        assert_eq!(
            HashTable::build(&p, &all(&p)),
            HashTable::Map(vec![0, 0, 1, 2].into())
        );
        let p = proxy(" server a 127.0.0.1:1\n server b 127.0.0.1:2\n server c 127.0.0.1:3\n");
        let table = HashTable::build(&p, &all(&p));
        assert_eq!(table, HashTable::Map(vec![0, 1, 2].into()));
        assert_eq!(table.lookup(7, None), Some(1));
        assert_eq!(table.lookup(7, Some(1)), Some(2), "a failed server is left");
        assert_eq!(table.next(5, None), Some(2));
    }

    #[test]
    fn map_without_a_server_rehashes_over_the_rest() {
        let p = proxy(" server a 127.0.0.1:1\n server b 127.0.0.1:2\n server c 127.0.0.1:3\n");
        let table = HashTable::build(&p, &[(0, 1), (2, 1)]);
        assert_eq!(table, HashTable::Map(vec![0, 2].into()));
        assert_eq!(HashTable::build(&p, &[]).lookup(1, None), None);
    }

    #[test]
    fn map_based_is_the_default() {
        let p = proxy(" server a 127.0.0.1:1\n server b 127.0.0.1:2 weight 2\n");
        assert_eq!(
            HashTable::build(&p, &all(&p)),
            HashTable::Map(vec![0, 1, 1].into())
        );
    }

    #[test]
    fn nearest_point_ties_go_back() {
        let ring = HashTable::Ring(vec![(100, 0), (200, 1), (u32::MAX - 10, 2)].into());
        assert_eq!(
            ring.lookup(150, None),
            Some(0),
            "equally near: the point before"
        );
        assert_eq!(ring.lookup(151, None), Some(1));
        assert_eq!(ring.lookup(200, None), Some(1));
        assert_eq!(
            ring.lookup(5, None),
            Some(2),
            "wraps back to the last point"
        );
        assert_eq!(ring.lookup(u32::MAX, None), Some(2));
        assert_eq!(ring.lookup(60, None), Some(0));
        assert_eq!(ring.lookup(150, Some(0)), Some(1), "past a failed server");
        assert_eq!(ring.next(4, None), Some(1));
    }

    #[test]
    fn consistent_ring_and_nearest_point() {
        let p =
            proxy(" hash-type consistent\n server a 127.0.0.1:1\n server b 127.0.0.1:2 weight 2\n");
        let table = HashTable::build(&p, &all(&p));
        let HashTable::Ring(points) = &table else {
            panic!("consistent gives a ring")
        };
        assert_eq!(points.len(), 48, "16 points per unit of weight");
        // Server a (id 1) has its first point at full_hash(4096).
        assert!(points.contains(&(0x49c2_008b, 0)));
        assert!(points.windows(2).all(|w| w[0].0 <= w[1].0));
        // A hash on a point picks that point's server; just past it, still that server.
        for &(key, server) in points.iter() {
            assert_eq!(table.lookup(key, None), Some(usize::from(server)));
        }
        // Removing b moves only b's keys.
        let only_a = HashTable::build(&p, &[(0, 1)]);
        for h in (0..u32::MAX).step_by(1 << 20) {
            let before = table.lookup(h, None);
            if before == Some(0) {
                assert_eq!(only_a.lookup(h, None), Some(0));
            }
        }
    }
}
