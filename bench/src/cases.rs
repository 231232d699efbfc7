//! The cases, and one measurement of one target in one case: loadgen against it while the
//! proxy's CPU time and memory are read from /proc.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::idle;
use crate::measure::{self, Memory};
use crate::targets::{command, Placement, Proxy, Target};

/// What loadgen does in one case.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    /// Short id: `keepalive`, `open-25`, `close`, `1mib`, `tcp`.
    pub id: String,
    /// One-line description for the tables.
    pub title: String,
    /// Request path.
    pub path: &'static str,
    /// Connections in total.
    pub connections: u32,
    /// Open-loop rate (requests/s), or None for a closed loop.
    pub rate: Option<f64>,
    /// Share of the direct maximum that `rate` is, in percent.
    pub rate_pct: Option<u32>,
    /// Keep-alive (false: `--no-keepalive`, a new connection per request).
    pub keepalive: bool,
    /// Through the proxy's `mode tcp` listener instead of its HTTP frontend.
    pub tcp: bool,
    /// Through the proxy's frontend with 20 `use_backend` rules.
    pub acl: bool,
}

impl Case {
    fn closed(id: &str, title: &str, path: &'static str, connections: u32) -> Case {
        Case {
            id: id.into(),
            title: title.into(),
            path,
            connections,
            rate: None,
            rate_pct: None,
            keepalive: true,
            tcp: false,
            acl: false,
        }
    }

    /// Case 1: small responses, keep-alive, closed loop, 64 connections.
    pub fn keepalive() -> Case {
        Case::closed(
            "keepalive",
            "small `/`, keep-alive, closed loop, 64 conns",
            "/",
            64,
        )
    }

    /// Case 2: open loop at `pct`% of `direct_max` requests/s.
    pub fn open(pct: u32, direct_max: f64) -> Case {
        let rate = (direct_max * f64::from(pct) / 100.0).round().max(1.0);
        Case {
            rate: Some(rate),
            rate_pct: Some(pct),
            ..Case::closed(
                &format!("open-{pct}"),
                &format!("open loop at {pct}% of direct max ({rate:.0} req/s), 64 conns"),
                "/",
                64,
            )
        }
    }

    /// Case 3: a new connection per request.
    pub fn close() -> Case {
        Case {
            keepalive: false,
            ..Case::closed(
                "close",
                "small `/`, new connection per request, 64 conns",
                "/",
                64,
            )
        }
    }

    /// Case 4: 1 MiB responses.
    pub fn large() -> Case {
        Case::closed(
            "1mib",
            "1 MiB `/1mib.bin`, keep-alive, closed loop, 16 conns",
            "/1mib.bin",
            16,
        )
    }

    /// Case 7: case 1 through a frontend whose 20 `use_backend` rules are all evaluated.
    pub fn acl20() -> Case {
        Case {
            acl: true,
            ..Case::closed(
                "acl20",
                "small `/`, keep-alive, 20 `use_backend` rules, 64 conns",
                "/",
                64,
            )
        }
    }

    /// Case 6: small responses through a `mode tcp` relay.
    pub fn tcp() -> Case {
        Case {
            tcp: true,
            ..Case::closed(
                "tcp",
                "`mode tcp` relay, small `/`, keep-alive, 64 conns",
                "/",
                64,
            )
        }
    }
}

/// Latency percentiles in µs, as loadgen reports them.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
    /// 99.99th percentile.
    pub p99_99: f64,
    /// Maximum.
    pub max: f64,
}

/// The part of loadgen's `--json` report the bench uses.
#[derive(Debug, Deserialize)]
struct LoadgenReport {
    requests: u64,
    requests_per_sec: f64,
    duration_secs: f64,
    achieved_rate: f64,
    latency: Latency,
    status: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    errors_total: u64,
}

/// One measurement of one target in one case and round.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// The case id.
    pub case: String,
    /// What was measured.
    pub target: Target,
    /// Round number, from 1.
    pub round: u32,
    /// Open-loop rate asked for.
    pub offered_rate: Option<f64>,
    /// Complete responses.
    pub requests: u64,
    /// Complete responses per second.
    pub requests_per_sec: f64,
    /// Attempts per second (responses plus errors).
    pub achieved_rate: f64,
    /// Latency percentiles, µs.
    pub latency: Latency,
    /// Responses by status code.
    pub status: BTreeMap<String, u64>,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
    /// CPU time (user + system) of all the proxy's processes and threads, µs.
    pub proxy_cpu_us: Option<f64>,
    /// `proxy_cpu_us / requests`.
    pub cpu_us_per_request: Option<f64>,
    /// Proxy CPU time divided by wall time (1.0 = one core busy).
    pub proxy_cpu_cores: Option<f64>,
    /// Largest memory sample of the proxy during the run.
    pub proxy_memory: Option<Memory>,
    /// Zero non-2xx responses, zero errors, and loadgen finished.
    pub valid: bool,
    /// Why not, if not.
    pub invalid_reasons: Vec<String>,
    /// Remarks that do not invalidate (e.g. the open loop fell behind its rate).
    pub notes: Vec<String>,
}

/// Which loadgen to run and how.
#[derive(Debug, Clone)]
pub struct Runner {
    /// The loadgen binary.
    pub loadgen: PathBuf,
    /// Where its JSON reports and logs go.
    pub work: PathBuf,
    /// Placement of this part of the run.
    pub placement: Placement,
    /// loadgen `-t`.
    pub threads: usize,
    /// Length of each measurement.
    pub duration: Duration,
}

impl Runner {
    /// Runs `case` against `target` (its proxy given, or the apache URLs for Direct).
    pub fn measure(
        &self,
        case: &Case,
        target: Target,
        proxy: Option<&Proxy>,
        direct_urls: &[String],
        round: u32,
    ) -> Result<Measurement> {
        let urls = match proxy {
            Some(p) => {
                let port = if case.tcp {
                    p.tcp_port.context("this proxy has no tcp listener")?
                } else if case.acl {
                    p.acl_port
                        .context("this proxy has no use_backend frontend")?
                } else {
                    p.http_port
                };
                vec![format!("http://127.0.0.1:{port}{}", case.path)]
            }
            None => direct_urls
                .iter()
                .map(|u| format!("{u}{}", case.path))
                .collect(),
        };
        let json = self
            .work
            .join(format!("loadgen-{}-{:?}-{round}.json", case.id, target));
        let _ = fs::remove_file(&json);
        let pid = proxy.map(Proxy::pid);
        let cpu_before = pid.map(measure::cpu_us);
        let started = Instant::now();
        let (outcome, peak) = self.run_loadgen(case, &urls, &json, self.duration, pid)?;
        let wall = started.elapsed().as_secs_f64();
        let cpu = pid
            .zip(cpu_before)
            .map(|(p, before)| measure::cpu_us(p) - before);

        let mut m = Measurement {
            case: case.id.clone(),
            target,
            round,
            offered_rate: case.rate,
            requests: 0,
            requests_per_sec: 0.0,
            achieved_rate: 0.0,
            latency: Latency::default(),
            status: BTreeMap::new(),
            errors: BTreeMap::new(),
            proxy_cpu_us: cpu,
            cpu_us_per_request: None,
            proxy_cpu_cores: cpu.map(|c| c / 1e6 / wall),
            proxy_memory: peak,
            valid: false,
            invalid_reasons: Vec::new(),
            notes: Vec::new(),
        };
        if let Some(why) = outcome {
            m.invalid_reasons.push(why);
            return Ok(m);
        }
        let report: LoadgenReport = match fs::read(&json)
            .map_err(anyhow::Error::from)
            .and_then(|b| Ok(serde_json::from_slice(&b)?))
        {
            Ok(r) => r,
            Err(e) => {
                m.invalid_reasons.push(format!("no loadgen report: {e:#}"));
                return Ok(m);
            }
        };
        m.requests = report.requests;
        m.requests_per_sec = report.requests_per_sec;
        m.achieved_rate = report.achieved_rate;
        m.latency = report.latency;
        m.cpu_us_per_request = cpu
            .filter(|_| report.requests > 0)
            .map(|c| c / report.requests as f64);
        let non_2xx: u64 = report
            .status
            .iter()
            .filter(|(s, _)| !s.starts_with('2'))
            .map(|(_, n)| n)
            .sum();
        if non_2xx > 0 {
            m.invalid_reasons
                .push(format!("{non_2xx} non-2xx responses {:?}", report.status));
        }
        if report.errors_total > 0 {
            let kinds: Vec<String> = report
                .errors
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            m.invalid_reasons.push(format!(
                "{} errors ({})",
                report.errors_total,
                kinds.join(", ")
            ));
        }
        if report.requests == 0 {
            m.invalid_reasons.push("no responses".into());
        }
        if let Some(rate) = case.rate {
            if report.achieved_rate < rate * 0.97 {
                m.notes.push(format!(
                    "achieved {:.0} of {rate:.0} req/s: the target could not keep up",
                    report.achieved_rate
                ));
            }
        }
        if report.duration_secs > self.duration.as_secs_f64() * 1.5 + 1.0 {
            m.notes.push(format!(
                "ran {:.1} s for {:.1} s asked",
                report.duration_secs,
                self.duration.as_secs_f64()
            ));
        }
        m.status = report.status;
        m.errors = report.errors;
        m.valid = m.invalid_reasons.is_empty();
        Ok(m)
    }

    /// Runs loadgen; samples the proxy's memory every 200 ms meanwhile and returns the peak,
    /// and why loadgen failed if it did (which invalidates this measurement only; an `Err`
    /// stops the bench).
    fn run_loadgen(
        &self,
        case: &Case,
        urls: &[String],
        json: &Path,
        duration: Duration,
        pid: Option<u32>,
    ) -> Result<(Option<String>, Option<Memory>)> {
        let log = json.with_extension("log");
        let mut cmd = command(self.placement.side_cpus(), &self.loadgen);
        cmd.arg(format!("-t{}", self.threads))
            .arg(format!("-c{}", case.connections))
            .arg(format!("-d{}ms", duration.as_millis()));
        if let Some(rate) = case.rate {
            cmd.arg("-R").arg(format!("{rate:.0}"));
        }
        if !case.keepalive {
            cmd.arg("--no-keepalive");
        }
        cmd.arg("--json").arg(json).args(urls);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log)?)
            .spawn()
            .context("cannot start loadgen")?;
        let deadline = Instant::now() + duration + Duration::from_secs(20);
        let mut peak: Option<Memory> = None;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Ok((Some("loadgen did not finish in time, killed".into()), peak));
            }
            if let Some(pid) = pid {
                let m = measure::memory(pid);
                if peak.is_none_or(|p| m.rss_kib > p.rss_kib) {
                    peak = Some(m);
                }
            }
            if let Err(e) = crate::check_interrupted() {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
            sleep(Duration::from_millis(200));
        };
        if status.success() {
            Ok((None, peak))
        } else {
            let text = fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(3).collect();
            Ok((
                Some(format!(
                    "loadgen exited with {status}: {}",
                    tail.join(" | ")
                )),
                peak,
            ))
        }
    }
}

/// Case 5: memory per idle keep-alive client connection.
#[derive(Debug, Clone, Serialize)]
pub struct IdleResult {
    /// The proxy.
    pub target: Target,
    /// Round number, from 1.
    pub round: u32,
    /// Connections asked for.
    pub connections: usize,
    /// Connections still open when the "after" sample was taken.
    pub still_open: usize,
    /// Proxy memory after a warm-up, before the connections.
    pub before: Memory,
    /// Proxy memory with the connections open and idle.
    pub after: Memory,
    /// (after.rss - before.rss) / connections, bytes.
    pub rss_bytes_per_conn: f64,
    /// Same with PSS.
    pub pss_bytes_per_conn: f64,
    /// Every connection got its 200 and was still open at the end.
    pub valid: bool,
    /// Why not, if not.
    pub invalid_reasons: Vec<String>,
}

/// Measures idle connections against a fresh `proxy` (started for this purpose only).
pub fn measure_idle(proxy: &Proxy, n: usize, round: u32) -> Result<IdleResult> {
    // Warm up with the same concurrency as the helper's batches, so that pools and buffers
    // sized for that are there before the first sample.
    for _ in 0..2 {
        drop(idle::open(proxy.http_port, idle::BATCH)?);
    }
    sleep(Duration::from_millis(300));
    let before = measure::memory(proxy.pid());
    let mut reasons = Vec::new();
    let (after, still_open) = match idle::open(proxy.http_port, n) {
        Ok(conns) => {
            sleep(Duration::from_secs(1));
            let after = measure::memory(proxy.pid());
            (after, idle::count_open(&conns))
        }
        Err(e) => {
            reasons.push(format!("{e:#}"));
            (measure::memory(proxy.pid()), 0)
        }
    };
    if still_open < n && reasons.is_empty() {
        reasons.push(format!(
            "only {still_open} of {n} connections were still open"
        ));
    }
    let per = |a: u64, b: u64| (a as f64 - b as f64) * 1024.0 / n.max(1) as f64;
    Ok(IdleResult {
        target: proxy.target,
        round,
        connections: n,
        still_open,
        before,
        after,
        rss_bytes_per_conn: per(after.rss_kib, before.rss_kib),
        pss_bytes_per_conn: per(after.pss_kib, before.pss_kib),
        valid: reasons.is_empty(),
        invalid_reasons: reasons,
    })
}
