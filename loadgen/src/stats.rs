//! Latency histograms, counters, the merged report and its text / JSON output.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histograms track exactly (1 hour, in microseconds); larger values saturate.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Kinds of failed requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The TCP connection could not be established (refused, unreachable, connect timeout).
    Connect,
    /// The response did not complete within `--timeout`.
    Timeout,
    /// Reading failed, or the server closed before the response was complete.
    Read,
    /// Writing the request failed.
    Write,
    /// The response was not valid HTTP/1.x.
    Parse,
    /// The connection was reset by the peer.
    Reset,
}

impl ErrorKind {
    /// All kinds, in report order.
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Read,
        ErrorKind::Write,
        ErrorKind::Parse,
        ErrorKind::Reset,
    ];

    /// Name used in the report.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Read => "read",
            ErrorKind::Write => "write",
            ErrorKind::Parse => "parse",
            ErrorKind::Reset => "reset",
        }
    }
}

/// Live counters of one thread, read by the progress display (one cache line per thread).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Live {
    /// Responses completed so far.
    pub responses: AtomicU64,
    /// Errors so far.
    pub errors: AtomicU64,
}

/// Statistics gathered by one thread (merged at the end).
pub struct ThreadStats {
    /// Latencies in microseconds.
    pub hist: Histogram<u64>,
    /// Responses per status code (index = code, 0..=999).
    pub status: Vec<u64>,
    /// Errors per kind, indexed like [`ErrorKind::ALL`].
    pub errors: [u64; 6],
    /// Complete responses.
    pub responses: u64,
    /// Bytes received (heads, bodies and framing).
    pub bytes: u64,
}

impl ThreadStats {
    /// Empty statistics.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            hist: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)?,
            status: vec![0; 1000],
            errors: [0; 6],
            responses: 0,
            bytes: 0,
        })
    }

    /// Records a complete response and its latency.
    pub fn record(&mut self, status: u16, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.hist.saturating_record(us.min(MAX_LATENCY_US));
        if let Some(slot) = self.status.get_mut(usize::from(status)) {
            *slot += 1;
        }
        self.responses += 1;
    }

    /// Counts an error.
    pub fn error(&mut self, kind: ErrorKind) {
        self.errors[kind as usize] += 1;
    }

    /// Total errors.
    pub fn total_errors(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &ThreadStats) -> anyhow::Result<()> {
        self.hist.add(&other.hist)?;
        for (a, b) in self.status.iter_mut().zip(&other.status) {
            *a += b;
        }
        for (a, b) in self.errors.iter_mut().zip(other.errors) {
            *a += b;
        }
        self.responses += other.responses;
        self.bytes += other.bytes;
        Ok(())
    }

    /// Publishes this thread's totals for the progress display.
    pub fn publish(&self, live: &Live) {
        live.responses.store(self.responses, Ordering::Relaxed);
        live.errors.store(self.total_errors(), Ordering::Relaxed);
    }
}

/// Latency summary in microseconds.
#[derive(Debug, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
    /// 99.99th percentile.
    pub p99_99: u64,
    /// Maximum.
    pub max: u64,
    /// Minimum.
    pub min: u64,
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub stdev: f64,
}

/// One point of the percentile spectrum.
#[derive(Debug, Serialize)]
pub struct Percentile {
    /// Percentile (0..=100).
    pub percentile: f64,
    /// Latency at that percentile, in microseconds.
    pub latency_us: u64,
}

/// The final report (printed, and written with `--json`).
#[derive(Debug, Serialize)]
pub struct Report {
    /// Target URLs.
    pub urls: Vec<String>,
    /// "closed" or "open".
    pub mode: &'static str,
    /// Worker threads.
    pub threads: u32,
    /// Connections in total.
    pub connections: u32,
    /// I/O driver used ("io_uring" or "legacy").
    pub driver: &'static str,
    /// Wall-clock run time in seconds.
    pub duration_secs: f64,
    /// Complete responses (any status).
    pub requests: u64,
    /// Complete responses per second.
    pub requests_per_sec: f64,
    /// Bytes received.
    pub bytes: u64,
    /// Bytes received per second.
    pub bytes_per_sec: f64,
    /// Latency summary (microseconds).
    pub latency: Latency,
    /// Full latency spectrum.
    pub percentiles: Vec<Percentile>,
    /// Responses per status code.
    pub status: BTreeMap<u16, u64>,
    /// Errors per kind (all kinds present).
    pub errors: BTreeMap<&'static str, u64>,
    /// Total errors.
    pub errors_total: u64,
    /// Requested rate (-R), null in closed loop.
    pub target_rate: Option<f64>,
    /// Attempts finished per second (responses plus errors).
    pub achieved_rate: f64,
}

/// Run parameters echoed in the report.
pub struct RunInfo {
    /// Target URLs.
    pub urls: Vec<String>,
    /// Worker threads.
    pub threads: u32,
    /// Connections in total.
    pub connections: u32,
    /// I/O driver used.
    pub driver: &'static str,
    /// Requested rate, if open loop.
    pub target_rate: Option<f64>,
}

impl Report {
    /// Builds the report from merged statistics.
    pub fn build(s: &ThreadStats, elapsed: Duration, info: RunInfo) -> Report {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let h = &s.hist;
        let (q, has) = (|p: f64| h.value_at_quantile(p), !h.is_empty());
        let latency = Latency {
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p99_9: q(0.999),
            p99_99: q(0.9999),
            max: h.max(),
            min: if has { h.min() } else { 0 },
            mean: h.mean(),
            stdev: h.stdev(),
        };
        let percentiles = if has {
            h.iter_quantiles(5)
                .map(|v| Percentile {
                    percentile: v.quantile_iterated_to() * 100.0,
                    latency_us: h.highest_equivalent(v.value_iterated_to()),
                })
                .collect()
        } else {
            Vec::new()
        };
        let status = s
            .status
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .filter_map(|(code, &n)| u16::try_from(code).ok().map(|c| (c, n)))
            .collect();
        let errors = ErrorKind::ALL
            .iter()
            .map(|k| (k.name(), s.errors[*k as usize]))
            .collect();
        let errors_total = s.total_errors();
        Report {
            urls: info.urls,
            mode: if info.target_rate.is_some() {
                "open"
            } else {
                "closed"
            },
            threads: info.threads,
            connections: info.connections,
            driver: info.driver,
            duration_secs: secs,
            requests: s.responses,
            requests_per_sec: s.responses as f64 / secs,
            bytes: s.bytes,
            bytes_per_sec: s.bytes as f64 / secs,
            latency,
            percentiles,
            status,
            errors,
            errors_total,
            target_rate: info.target_rate,
            achieved_rate: (s.responses + errors_total) as f64 / secs,
        }
    }

    /// Human-readable report.
    pub fn to_text(&self) -> String {
        let l = &self.latency;
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line(format!(
            "  {} threads and {} connections, {} loop, {:.2}s, driver {}",
            self.threads, self.connections, self.mode, self.duration_secs, self.driver
        ));
        line(format!(
            "  Latency    p50 {}  p90 {}  p99 {}  p99.9 {}  p99.99 {}  max {}",
            fmt_us(l.p50),
            fmt_us(l.p90),
            fmt_us(l.p99),
            fmt_us(l.p99_9),
            fmt_us(l.p99_99),
            fmt_us(l.max)
        ));
        line(format!(
            "             mean {}  stdev {}  min {}",
            fmt_us(l.mean.round() as u64),
            fmt_us(l.stdev.round() as u64),
            fmt_us(l.min)
        ));
        let codes: Vec<String> = self
            .status
            .iter()
            .map(|(c, n)| format!("{c}: {n}"))
            .collect();
        line(format!(
            "  Status     {}",
            if codes.is_empty() {
                "none".into()
            } else {
                codes.join(", ")
            }
        ));
        let errs: Vec<String> = self
            .errors
            .iter()
            .filter(|(_, &n)| n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        line(format!(
            "  Errors     {}",
            if errs.is_empty() {
                "none".into()
            } else {
                errs.join(", ")
            }
        ));
        line(format!(
            "  {} requests in {:.2}s, {} read",
            self.requests,
            self.duration_secs,
            fmt_bytes(self.bytes as f64)
        ));
        line(format!("Requests/sec: {:.2}", self.requests_per_sec));
        line(format!("Transfer/sec: {}", fmt_bytes(self.bytes_per_sec)));
        if let Some(t) = self.target_rate {
            line(format!(
                "Target rate:  {t:.2} req/s, achieved {:.2} req/s",
                self.achieved_rate
            ));
        }
        out
    }
}

/// Formats microseconds with a readable unit.
fn fmt_us(us: u64) -> String {
    match us {
        0..=999 => format!("{us}us"),
        1_000..=999_999 => format!("{:.2}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// Formats a byte count with a binary unit.
fn fmt_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.2}{}", UNITS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_report() {
        let mut a = ThreadStats::new().unwrap();
        let mut b = ThreadStats::new().unwrap();
        for i in 1..=100u64 {
            a.record(200, Duration::from_micros(i * 10));
        }
        b.record(503, Duration::from_millis(500));
        b.error(ErrorKind::Timeout);
        b.bytes = 1000;
        a.merge(&b).unwrap();
        let r = Report::build(
            &a,
            Duration::from_secs(2),
            RunInfo {
                urls: vec!["http://x/".into()],
                threads: 2,
                connections: 4,
                driver: "io_uring",
                target_rate: None,
            },
        );
        assert_eq!(r.requests, 101);
        assert_eq!(r.status.get(&200), Some(&100));
        assert_eq!(r.status.get(&503), Some(&1));
        assert_eq!(r.errors.get("timeout"), Some(&1));
        assert_eq!(r.errors.len(), 6);
        assert!((r.requests_per_sec - 50.5).abs() < 1e-9);
        assert!((r.achieved_rate - 51.0).abs() < 1e-9);
        assert!(r.latency.max >= 499_000);
        assert!((490..=510).contains(&r.latency.p50));
        let last = r.percentiles.last().unwrap();
        assert!((last.percentile - 100.0).abs() < 1e-9);
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["target_rate"].is_null());
        assert_eq!(json["status"]["200"], 100);
        assert!(r.to_text().contains("Requests/sec"));
    }
}
