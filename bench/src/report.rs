//! Medians over rounds, ringlb's ratios to HAProxy and nginx, and the JSON and markdown output.

use std::fmt::Write as _;

use serde::Serialize;

use crate::cases::{Case, IdleResult, Latency, Measurement};
use crate::targets::{Placement, Target};

/// Facts about the run and the machine.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    /// Local start time, RFC 3339.
    pub date: String,
    /// Host name.
    pub host: String,
    /// `uname -r`.
    pub kernel: String,
    /// CPUs available to the bench.
    pub cpus: usize,
    /// `--quick` was given.
    pub quick: bool,
    /// Rounds per case.
    pub rounds: u32,
    /// Seconds per measurement.
    pub duration_secs: f64,
    /// Seconds of the unrecorded warm-up run before each measurement.
    pub warmup_secs: f64,
    /// Idle connections opened in case 5.
    pub idle_connections: usize,
    /// Why fewer idle connections than asked were opened, if so.
    pub idle_note: Option<String>,
    /// Versions of ringlb (git describe), HAProxy, nginx and apache.
    pub versions: Vec<(String, String)>,
    /// Total wall time, seconds.
    pub wall_secs: f64,
}

/// The medians of one target in one case.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Case id.
    pub case: String,
    /// What was measured.
    pub target: Target,
    /// Rounds measured.
    pub rounds: usize,
    /// Every round was valid.
    pub valid: bool,
    /// Why not, per invalid round.
    pub invalid_reasons: Vec<String>,
    /// Notes from the rounds.
    pub notes: Vec<String>,
    /// Open-loop rate, if any.
    pub offered_rate: Option<f64>,
    /// Median requests/s.
    pub requests_per_sec: f64,
    /// Median of each percentile, µs.
    pub latency: Latency,
    /// Median proxy CPU µs per request.
    pub cpu_us_per_request: Option<f64>,
    /// Median proxy CPU use, in cores.
    pub proxy_cpu_cores: Option<f64>,
    /// Median of the peak proxy RSS, KiB.
    pub proxy_rss_kib: Option<f64>,
}

/// The medians of case 5 for one proxy.
#[derive(Debug, Clone, Serialize)]
pub struct IdleSummary {
    /// The proxy.
    pub target: Target,
    /// Connections per round.
    pub connections: usize,
    /// Every round was valid.
    pub valid: bool,
    /// Why not.
    pub invalid_reasons: Vec<String>,
    /// Median RSS before, KiB.
    pub rss_before_kib: f64,
    /// Median RSS after, KiB.
    pub rss_after_kib: f64,
    /// Median RSS bytes per idle connection.
    pub rss_bytes_per_conn: f64,
    /// Median PSS bytes per idle connection.
    pub pss_bytes_per_conn: f64,
    /// Median open descriptors with the connections open.
    pub fds_after: f64,
}

/// ringlb divided by another proxy for one metric of one case (None if either is invalid).
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// Case id (`idle` for case 5).
    pub case: String,
    /// `requests_per_sec`, `p99`, `cpu_us_per_request`, `rss_bytes_per_conn`.
    pub metric: String,
    /// ringlb / HAProxy.
    pub vs_haproxy: Option<f64>,
    /// ringlb / nginx.
    pub vs_nginx: Option<f64>,
}

/// Everything measured in one placement.
#[derive(Debug, Clone, Serialize)]
pub struct PlacementReport {
    /// pin or unpinned.
    pub placement: Placement,
    /// Shards / threads / workers of each proxy.
    pub shards: usize,
    /// loadgen `-t`.
    pub loadgen_threads: usize,
    /// Median requests/s of apache alone in case 1; the base of the open-loop rates.
    pub direct_max_rps: f64,
    /// The cases, in order.
    pub cases: Vec<Case>,
    /// Every measurement, every round.
    pub measurements: Vec<Measurement>,
    /// Every idle-connection measurement.
    pub idle: Vec<IdleResult>,
    /// Medians per case and target.
    pub summary: Vec<Summary>,
    /// Medians of case 5.
    pub idle_summary: Vec<IdleSummary>,
    /// ringlb's ratios.
    pub ratios: Vec<Ratio>,
    /// Things that could not be measured, and why.
    pub skipped: Vec<String>,
}

/// The whole run, as written to the JSON file.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// About the run.
    pub meta: Meta,
    /// One per placement.
    pub placements: Vec<PlacementReport>,
}

/// Median of the values (mean of the middle two for an even count); 0 when empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn median_opt(v: Vec<Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = v.into_iter().collect::<Option<_>>()?;
    (!v.is_empty()).then(|| median(v))
}

/// Medians per case and target, in case order then target order.
pub fn summarize(cases: &[Case], all: &[Measurement]) -> Vec<Summary> {
    let mut out = Vec::new();
    for case in cases {
        for target in Target::ALL {
            let ms: Vec<&Measurement> = all
                .iter()
                .filter(|m| m.case == case.id && m.target == target)
                .collect();
            if ms.is_empty() {
                continue;
            }
            let pick = |f: fn(&Latency) -> f64| median(ms.iter().map(|m| f(&m.latency)).collect());
            let mut notes: Vec<String> = ms
                .iter()
                .flat_map(|m| {
                    m.notes
                        .iter()
                        .map(move |n| format!("round {}: {n}", m.round))
                })
                .collect();
            notes.dedup();
            out.push(Summary {
                case: case.id.clone(),
                target,
                rounds: ms.len(),
                valid: ms.iter().all(|m| m.valid),
                invalid_reasons: ms
                    .iter()
                    .filter(|m| !m.valid)
                    .map(|m| format!("round {}: {}", m.round, m.invalid_reasons.join("; ")))
                    .collect(),
                notes,
                offered_rate: case.rate,
                requests_per_sec: median(ms.iter().map(|m| m.requests_per_sec).collect()),
                latency: Latency {
                    p50: pick(|l| l.p50),
                    p90: pick(|l| l.p90),
                    p99: pick(|l| l.p99),
                    p99_9: pick(|l| l.p99_9),
                    p99_99: pick(|l| l.p99_99),
                    max: pick(|l| l.max),
                },
                cpu_us_per_request: median_opt(ms.iter().map(|m| m.cpu_us_per_request).collect()),
                proxy_cpu_cores: median_opt(ms.iter().map(|m| m.proxy_cpu_cores).collect()),
                proxy_rss_kib: median_opt(
                    ms.iter()
                        .map(|m| m.proxy_memory.map(|x| x.rss_kib as f64))
                        .collect(),
                ),
            });
        }
    }
    out
}

/// Medians of case 5 per proxy.
pub fn summarize_idle(all: &[IdleResult]) -> Vec<IdleSummary> {
    Target::PROXIES
        .iter()
        .filter_map(|&target| {
            let rs: Vec<&IdleResult> = all.iter().filter(|r| r.target == target).collect();
            let first = rs.first()?;
            let m = |f: fn(&IdleResult) -> f64| median(rs.iter().map(|r| f(r)).collect());
            Some(IdleSummary {
                target,
                connections: first.connections,
                valid: rs.iter().all(|r| r.valid),
                invalid_reasons: rs
                    .iter()
                    .filter(|r| !r.valid)
                    .map(|r| format!("round {}: {}", r.round, r.invalid_reasons.join("; ")))
                    .collect(),
                rss_before_kib: m(|r| r.before.rss_kib as f64),
                rss_after_kib: m(|r| r.after.rss_kib as f64),
                rss_bytes_per_conn: m(|r| r.rss_bytes_per_conn),
                pss_bytes_per_conn: m(|r| r.pss_bytes_per_conn),
                fds_after: m(|r| r.after.fds as f64),
            })
        })
        .collect()
}

/// ringlb / HAProxy and ringlb / nginx for each case's throughput, p99 and CPU per request,
/// and for memory per idle connection. Only valid medians are compared.
pub fn ratios(cases: &[Case], summary: &[Summary], idle: &[IdleSummary]) -> Vec<Ratio> {
    let find = |case: &str, t: Target| {
        summary
            .iter()
            .find(|s| s.case == case && s.target == t && s.valid)
    };
    let div = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let mut out = Vec::new();
    type Metric = fn(&Summary) -> Option<f64>;
    let metrics: [(&str, Metric); 3] = [
        ("requests_per_sec", |s| Some(s.requests_per_sec)),
        ("p99", |s| Some(s.latency.p99)),
        ("cpu_us_per_request", |s| s.cpu_us_per_request),
    ];
    for case in cases {
        for (metric, f) in metrics {
            if case.rate.is_some() && metric == "requests_per_sec" {
                continue; // the open loop fixes the rate
            }
            let r = find(&case.id, Target::Ringlb).and_then(f);
            let h = find(&case.id, Target::Haproxy).and_then(f);
            let n = find(&case.id, Target::Nginx).and_then(f);
            out.push(Ratio {
                case: case.id.clone(),
                metric: metric.into(),
                vs_haproxy: div(r, h),
                vs_nginx: div(r, n),
            });
        }
    }
    let per_conn = |t: Target| {
        idle.iter()
            .find(|s| s.target == t && s.valid)
            .map(|s| s.rss_bytes_per_conn)
    };
    out.push(Ratio {
        case: "idle".into(),
        metric: "rss_bytes_per_conn".into(),
        vs_haproxy: div(per_conn(Target::Ringlb), per_conn(Target::Haproxy)),
        vs_nginx: div(per_conn(Target::Ringlb), per_conn(Target::Nginx)),
    });
    out
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.digits$}"))
}

fn placement_text(p: &PlacementReport) -> String {
    match p.placement {
        Placement::Pin => format!(
            "each proxy alone on CPU 0 with 1 thread/worker; apache and loadgen (-t{}) on CPU 1",
            p.loadgen_threads
        ),
        Placement::Unpinned => format!(
            "{} shards/threads/workers per proxy, loadgen -t{}, no taskset (ringlb and loadgen pin their own threads one per core)",
            p.shards, p.loadgen_threads
        ),
    }
}

/// The report as markdown: per placement, the medians, the ratios, the idle case and what
/// was invalid or skipped.
pub fn markdown(r: &Report) -> String {
    let m = &r.meta;
    let mut s = String::new();
    let _ = writeln!(s, "# ringlb bench: {} on {}\n", m.date, m.host);
    if m.quick {
        let _ = writeln!(
            s,
            "**Quick run** (`--quick`): one short round; numbers are indicative only.\n"
        );
    }
    let _ = writeln!(
        s,
        "{} CPUs, kernel {}; {} round(s), {:.2} s per measurement after {:.2} s of warm-up, medians over rounds; {:.0} s in all.\n",
        m.cpus, m.kernel, m.rounds, m.duration_secs, m.warmup_secs, m.wall_secs
    );
    for (name, v) in &m.versions {
        let _ = writeln!(s, "- {name}: {v}");
    }
    if let Some(note) = &m.idle_note {
        let _ = writeln!(s, "- note: {note}");
    }
    for p in &r.placements {
        let _ = writeln!(
            s,
            "\n## Placement `{}`\n\n{}. Direct (apache) maximum in case 1: {:.0} req/s.\n",
            p.placement.name(),
            placement_text(p),
            p.direct_max_rps
        );
        for case in &p.cases {
            let _ = writeln!(s, "- `{}`: {}", case.id, case.title);
        }
        let _ = writeln!(
            s,
            "- `idle`: {} idle keep-alive client connections, each after one request\n",
            m.idle_connections
        );
        let _ = writeln!(s, "| case | target | req/s | p50 µs | p99 µs | p99.9 µs | proxy CPU µs/req | proxy cores | proxy RSS MiB | valid |");
        let _ = writeln!(s, "|---|---|--:|--:|--:|--:|--:|--:|--:|---|");
        for sum in &p.summary {
            let _ = writeln!(
                s,
                "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} |",
                sum.case,
                sum.target.label(),
                sum.requests_per_sec,
                sum.latency.p50,
                sum.latency.p99,
                sum.latency.p99_9,
                opt(sum.cpu_us_per_request, 1),
                opt(sum.proxy_cpu_cores, 2),
                opt(sum.proxy_rss_kib.map(|k| k / 1024.0), 1),
                if sum.valid { "yes" } else { "**no**" },
            );
        }
        let _ = writeln!(s, "\nringlb / other (req/s: above 1 is better; p99 and CPU: below 1 is better; – = not comparable):\n");
        let _ = writeln!(s, "| case | metric | ringlb/HAProxy | ringlb/nginx |");
        let _ = writeln!(s, "|---|---|--:|--:|");
        for ratio in &p.ratios {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                ratio.case,
                ratio.metric,
                opt(ratio.vs_haproxy, 2),
                opt(ratio.vs_nginx, 2)
            );
        }
        if !p.idle_summary.is_empty() {
            let _ = writeln!(s, "\nIdle keep-alive client connections (case 5):\n");
            let _ = writeln!(s, "| target | conns | RSS before MiB | RSS after MiB | bytes/conn (RSS) | bytes/conn (PSS) | fds after | valid |");
            let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|--:|---|");
            for i in &p.idle_summary {
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.1} | {:.1} | {:.0} | {:.0} | {:.0} | {} |",
                    i.target.label(),
                    i.connections,
                    i.rss_before_kib / 1024.0,
                    i.rss_after_kib / 1024.0,
                    i.rss_bytes_per_conn,
                    i.pss_bytes_per_conn,
                    i.fds_after,
                    if i.valid { "yes" } else { "**no**" },
                );
            }
        }
        let invalid: Vec<String> = p
            .summary
            .iter()
            .flat_map(|x| {
                x.invalid_reasons
                    .iter()
                    .map(move |r| format!("{} / {}: {r}", x.case, x.target.label()))
            })
            .chain(p.idle_summary.iter().flat_map(|x| {
                x.invalid_reasons
                    .iter()
                    .map(move |r| format!("idle / {}: {r}", x.target.label()))
            }))
            .collect();
        let notes: Vec<String> = p
            .summary
            .iter()
            .flat_map(|x| {
                x.notes
                    .iter()
                    .map(move |r| format!("{} / {}: {r}", x.case, x.target.label()))
            })
            .collect();
        for (title, list) in [
            ("Invalid", &invalid),
            ("Notes", &notes),
            ("Skipped", &p.skipped),
        ] {
            if !list.is_empty() {
                let _ = writeln!(s, "\n{title}:\n");
                for line in list {
                    let _ = writeln!(s, "- {line}");
                }
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(median_opt(vec![Some(1.0), None]), None);
    }
}
