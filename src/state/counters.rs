//! Per-shard traffic counters: each shard writes only its own, the control thread sums them.
//!
//! A counter has a single writer, so an increment is a relaxed load and store (no locked
//! instruction); readers on other threads see a value that is at most a moment old.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use crate::config::Config;

/// A monotonically increasing count with one writer.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`; only the owning shard may call this.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// Adds one.
    #[inline]
    pub fn incr(&self) {
        self.add(1);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A level that goes up and down (current sessions) with one writer.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// Adds `n` (may be negative); only the owning shard may call this.
    #[inline]
    pub fn add(&self, n: i64) {
        self.0
            .store(self.0.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Adds one and raises `max` to the new level if it is higher (a compare, rarely a
    /// store); only the owning shard may call this.
    #[inline]
    pub fn rise(&self, max: &Counter) {
        let level = self.0.load(Ordering::Relaxed) + 1;
        self.0.store(level, Ordering::Relaxed);
        if level as u64 > max.get() {
            max.0.store(level as u64, Ordering::Relaxed);
        }
    }
}

/// Response status classes, as HAProxy's `hrsp_1xx` … `hrsp_other`.
#[derive(Debug, Default)]
pub struct StatusCounters {
    /// 1xx, 2xx, 3xx, 4xx, 5xx, other.
    pub classes: [Counter; 6],
}

impl StatusCounters {
    /// Counts one response with `status`.
    #[inline]
    pub fn record(&self, status: u16) {
        let class = match status {
            100..=599 => usize::from(status / 100 - 1),
            _ => 5,
        };
        self.classes[class].incr();
    }

    /// Adds `other`'s counts (folding a retired set; only its owner may call this).
    pub fn absorb(&self, other: &StatusCounters) {
        for (mine, theirs) in self.classes.iter().zip(&other.classes) {
            mine.add(theirs.get());
        }
    }
}

/// Requests a time average spans, as HAProxy's `qtime/ctime/rtime/ttime` (a sliding window
/// average: each new sample weighs 1/1024).
pub const AVERAGE_WINDOW: u64 = 1024;

/// A sliding-window average of one time in µs and its maximum, with one writer.
#[derive(Debug, Default)]
pub struct TimeAverage {
    /// HAProxy's `swrate` sum: about the average times the window once it is full.
    sum: Counter,
    /// Largest sample.
    max: Counter,
}

impl TimeAverage {
    /// Adds the `n`th sample (1-based), in µs; only the owning shard may call this.
    #[inline]
    pub fn record(&self, micros: u64, n: u64) {
        // Until the window is full the sum just grows, so the first samples average exactly;
        // then each sample replaces 1/1024 of it (HAProxy's `swrate`). A store, not an add.
        let sum = self.sum.get();
        let forget = if n > AVERAGE_WINDOW {
            sum.div_ceil(AVERAGE_WINDOW)
        } else {
            0
        };
        self.sum.0.store(sum - forget + micros, Ordering::Relaxed);
        if micros > self.max.get() {
            self.max.0.store(micros, Ordering::Relaxed);
        }
    }

    /// The window sum (read by the control thread): with `samples` recorded, the average is
    /// `sum / min(samples, AVERAGE_WINDOW)`.
    pub fn sum(&self) -> u64 {
        self.sum.get()
    }

    /// The largest sample, µs.
    pub fn max(&self) -> u64 {
        self.max.get()
    }
}

/// HAProxy's four per-request times: queue, connect, response (`Tr`) and total.
#[derive(Debug, Default)]
pub struct RequestTimes {
    /// Requests recorded.
    pub samples: Counter,
    /// Requests recorded with a response time.
    pub response_samples: Counter,
    /// `qtime`: waiting for a server slot.
    pub queue: TimeAverage,
    /// `ctime`: connecting to the server (0 on a reused connection).
    pub connect: TimeAverage,
    /// `rtime`: request sent to response head received (HTTP only).
    pub response: TimeAverage,
    /// `ttime`: the whole exchange.
    pub total: TimeAverage,
}

impl RequestTimes {
    /// Records one request's times in µs (`response` is None outside HTTP).
    #[inline]
    pub fn record(&self, queue: u64, connect: u64, response: Option<u64>, total: u64) {
        self.samples.incr();
        let n = self.samples.get();
        self.queue.record(queue, n);
        self.connect.record(connect, n);
        if let Some(r) = response {
            self.response_samples.incr();
            self.response.record(r, self.response_samples.get());
        }
        self.total.record(total, n);
    }
}

/// Alignment (and so size granularity) of the counter blocks in a shard's arrays. Each
/// shard's arrays are heap allocations of their own; aligned elements make each allocation
/// cover whole lines, so no line holds two shards' counters. 128 rather than 64 as
/// `CachePadded` does on x86_64: the adjacent-line prefetcher pulls lines in pairs.
pub const COUNTER_ALIGN: usize = 128;

/// Counters of one proxy, covering both its frontend and backend sides.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct ProxyCounters {
    /// Connections accepted (frontend).
    pub conn_total: Counter,
    /// Client connections open now (frontend).
    pub conn_current: Gauge,
    /// The most `conn_current` reached on this shard (frontend).
    pub conn_max: Counter,
    /// Sessions / requests sent to a server (backend).
    pub sessions_total: Counter,
    /// HTTP requests received (frontend).
    pub requests_total: Counter,
    /// Bytes from clients.
    pub bytes_in: Counter,
    /// Bytes to clients.
    pub bytes_out: Counter,
    /// Invalid requests (frontend).
    pub request_errors: Counter,
    /// Failed connections to servers (backend).
    pub connect_errors: Counter,
    /// Bad or missing server responses (backend).
    pub response_errors: Counter,
    /// Connection retries (backend).
    pub retries: Counter,
    /// Retries sent to another server (backend).
    pub redispatches: Counter,
    /// Responses to clients by status class (frontend).
    pub status: StatusCounters,
    /// Responses by status class (backend): a `listen` counts its two sides apart, as
    /// HAProxy's FRONTEND and BACKEND rows do.
    pub backend_status: StatusCounters,
    /// Requests waiting in the backend's queue now (backend).
    pub queued: Gauge,
    /// Transfers the client cut short (backend).
    pub client_aborts: Counter,
    /// Transfers the server cut short (backend).
    pub server_aborts: Counter,
    /// Times of requests that reached a server (backend).
    pub times: RequestTimes,
    /// Requests answered by ringlb itself: the stats page, `return`, `redirect` (frontend).
    pub intercepted: Counter,
    /// Requests refused by a `deny` rule of this proxy (HAProxy's `dreq`).
    pub denied_requests: Counter,
    /// Responses refused by an `http-response deny` rule of this proxy (`dresp`).
    pub denied_responses: Counter,
    /// Connections refused by a `tcp-request connection reject` rule (HAProxy's `dcon`).
    pub denied_connections: Counter,
    /// Header rewrites that could not be made (`wrew`).
    pub failed_rewrites: Counter,
}

impl ProxyCounters {
    /// Adds `other`'s totals (folding a retired set); gauges are not totals and stay.
    pub fn absorb(&self, other: &ProxyCounters) {
        for (mine, theirs) in [
            (&self.conn_total, &other.conn_total),
            (&self.sessions_total, &other.sessions_total),
            (&self.requests_total, &other.requests_total),
            (&self.bytes_in, &other.bytes_in),
            (&self.bytes_out, &other.bytes_out),
            (&self.request_errors, &other.request_errors),
            (&self.connect_errors, &other.connect_errors),
            (&self.response_errors, &other.response_errors),
            (&self.retries, &other.retries),
            (&self.redispatches, &other.redispatches),
            (&self.client_aborts, &other.client_aborts),
            (&self.server_aborts, &other.server_aborts),
            (&self.intercepted, &other.intercepted),
            (&self.denied_requests, &other.denied_requests),
            (&self.denied_responses, &other.denied_responses),
            (&self.denied_connections, &other.denied_connections),
            (&self.failed_rewrites, &other.failed_rewrites),
        ] {
            mine.add(theirs.get());
        }
        self.status.absorb(&other.status);
        self.backend_status.absorb(&other.backend_status);
    }
}

/// Counters of one server.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct ServerCounters {
    /// Requests or connections sent to it.
    pub sessions_total: Counter,
    /// In flight now.
    pub sessions_current: Gauge,
    /// The most `sessions_current` reached on this shard.
    pub sessions_max: Counter,
    /// Bytes sent to it (request side).
    pub bytes_in: Counter,
    /// Bytes received from it (response side).
    pub bytes_out: Counter,
    /// Failed connection attempts.
    pub connect_errors: Counter,
    /// Bad or missing responses.
    pub response_errors: Counter,
    /// Retries to it.
    pub retries: Counter,
    /// Redispatches away from it.
    pub redispatches: Counter,
    /// Responses by status class.
    pub status: StatusCounters,
    /// New connections opened to it.
    pub connects: Counter,
    /// Requests that reused an idle connection.
    pub reuses: Counter,
    /// Transfers the client cut short.
    pub client_aborts: Counter,
    /// Transfers the server cut short.
    pub server_aborts: Counter,
    /// Times of its requests.
    pub times: RequestTimes,
}

impl ServerCounters {
    /// Adds `other`'s totals (folding a retired set); gauges are not totals and stay.
    pub fn absorb(&self, other: &ServerCounters) {
        for (mine, theirs) in [
            (&self.sessions_total, &other.sessions_total),
            (&self.bytes_in, &other.bytes_in),
            (&self.bytes_out, &other.bytes_out),
            (&self.connect_errors, &other.connect_errors),
            (&self.response_errors, &other.response_errors),
            (&self.retries, &other.retries),
            (&self.redispatches, &other.redispatches),
            (&self.connects, &other.connects),
            (&self.reuses, &other.reuses),
            (&self.client_aborts, &other.client_aborts),
            (&self.server_aborts, &other.server_aborts),
        ] {
            mine.add(theirs.get());
        }
        self.status.absorb(&other.status);
    }
}

/// All counters of one shard.
#[derive(Debug)]
pub struct ShardCounters {
    /// Indexed by `ProxyId`.
    pub proxies: Box<[ProxyCounters]>,
    /// Indexed by `ProxyId`, then by server.
    pub servers: Box<[Box<[ServerCounters]>]>,
}

impl ShardCounters {
    /// Zeroed counters shaped like `config`.
    pub fn new(config: &Config) -> Self {
        Self {
            proxies: config
                .proxies
                .iter()
                .map(|_| ProxyCounters::default())
                .collect(),
            servers: config
                .proxies
                .iter()
                .map(|p| {
                    p.servers
                        .iter()
                        .map(|_| ServerCounters::default())
                        .collect()
                })
                .collect(),
        }
    }
}

const _: () = assert!(
    std::mem::align_of::<ProxyCounters>() == COUNTER_ALIGN
        && std::mem::align_of::<ServerCounters>() == COUNTER_ALIGN
);

/// Every shard's counters; shard `i` writes `shards[i]` only.
#[derive(Debug, Clone)]
pub struct CounterSet {
    /// One block per shard, padded so shards never share a cache line.
    pub shards: Arc<[Arc<CachePadded<ShardCounters>>]>,
}

impl CounterSet {
    /// Zeroed counters for `shards` shards.
    pub fn new(config: &Config, shards: usize) -> Self {
        Self {
            shards: (0..shards)
                .map(|_| Arc::new(CachePadded::new(ShardCounters::new(config))))
                .collect(),
        }
    }

    /// Sums one proxy counter over every shard.
    pub fn proxy_sum(&self, proxy: usize, pick: impl Fn(&ProxyCounters) -> u64) -> u64 {
        self.shards
            .iter()
            .filter_map(|s| s.proxies.get(proxy))
            .map(pick)
            .sum()
    }

    /// Sums one server counter over every shard.
    pub fn server_sum(
        &self,
        proxy: usize,
        server: usize,
        pick: impl Fn(&ServerCounters) -> u64,
    ) -> u64 {
        self.shards
            .iter()
            .filter_map(|s| s.servers.get(proxy).and_then(|list| list.get(server)))
            .map(pick)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_averages_slide_over_the_last_1024_samples() {
        let t = RequestTimes::default();
        let avg = |a: &TimeAverage, n: u64| a.sum() / n.min(AVERAGE_WINDOW);
        for _ in 0..10 {
            t.record(0, 2_000, Some(1_000), 5_000);
        }
        // Before the window fills, the sum over the samples is their average.
        assert_eq!(avg(&t.response, t.response_samples.get()), 1_000);
        for _ in 0..3_000 {
            t.record(0, 0, Some(1_000), 5_000);
        }
        assert_eq!(avg(&t.response, t.response_samples.get()), 1_000);
        // 1,024 slower samples move it most of the way (1 - e^-1 of the step).
        for _ in 0..1_024 {
            t.record(0, 0, Some(3_000), 5_000);
        }
        let moved = avg(&t.response, t.response_samples.get());
        assert!((2_200..2_300).contains(&moved), "{moved}");
        assert_eq!(t.response.max(), 3_000);
        assert_eq!(t.connect.max(), 2_000);
        t.record(0, 0, None, 1);
        assert_eq!(t.samples.get(), 10 + 3_000 + 1_024 + 1);
        assert_eq!(
            t.response_samples.get(),
            10 + 3_000 + 1_024,
            "no Tr outside HTTP"
        );
    }

    #[test]
    fn counters_sum_over_shards() {
        let config = crate::config::load_sources(&[(
            "t".into(),
            "backend b\n server a 127.0.0.1:1\n server c 127.0.0.1:2\n".into(),
        )])
        .unwrap()
        .config;
        let set = CounterSet::new(&config, 2);
        set.shards[0].servers[0][1].sessions_total.add(2);
        set.shards[1].servers[0][1].sessions_total.incr();
        set.shards[1].proxies[0].status.record(503);
        assert_eq!(set.server_sum(0, 1, |s| s.sessions_total.get()), 3);
        assert_eq!(set.proxy_sum(0, |p| p.status.classes[4].get()), 1);
    }

    #[test]
    fn each_shards_arrays_start_and_end_on_their_own_lines() {
        let config = crate::config::load_sources(&[(
            "t".into(),
            "backend b\n server a 127.0.0.1:1\n backend c\n server d 127.0.0.1:2\n server e 127.0.0.1:3\n".into(),
        )])
        .unwrap()
        .config;
        let set = CounterSet::new(&config, 3);
        let lines = |ptr: usize, bytes: usize| {
            assert_eq!(ptr % 64, 0, "starts on a line");
            assert_eq!(bytes % 64, 0, "ends on a line");
        };
        for shard in set.shards.iter() {
            lines(
                shard.proxies.as_ptr() as usize,
                std::mem::size_of_val(&*shard.proxies),
            );
            for servers in shard.servers.iter() {
                lines(servers.as_ptr() as usize, std::mem::size_of_val(&**servers));
            }
        }
    }
}
