//! Medians over rounds, ringlb's ratios to HAProxy, nginx and the baseline ringlb, and the
//! JSON and markdown output.

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
    /// Versions of ringlb (git describe), the baseline ringlb if any, HAProxy, nginx and
    /// apache.
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

/// ringlb divided by another proxy for one metric of one case (None if either is invalid
/// or was not measured).
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
    /// ringlb / ringlb-baseline.
    pub vs_baseline: Option<f64>,
}

/// One metric of one case, ringlb against ringlb-baseline.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Pair {
    /// ringlb's median (None if ringlb was invalid in this case).
    pub ringlb: Option<f64>,
    /// The baseline's median (None if invalid).
    pub baseline: Option<f64>,
    /// `ringlb / baseline` of the medians.
    pub ratio: Option<f64>,
    /// `ringlb / baseline` in each round in which both were valid: the spread shows the noise.
    pub round_ratios: Vec<f64>,
    /// The median of `round_ratios`: the number to read, because each round's two
    /// measurements ran back to back, so a machine that drifts over the run (a noisy host,
    /// a warming backend) moves both of them.
    pub paired: Option<f64>,
}

/// The comparison with the baseline ringlb in one case: CPU per request and p99.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineRow {
    /// Case id.
    pub case: String,
    /// Proxy CPU µs per request.
    pub cpu_us_per_request: Pair,
    /// p99 latency, µs.
    pub p99: Pair,
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
    /// What was measured (apache direct and the proxies), in the order of a round.
    pub targets: Vec<Target>,
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
    /// ringlb against ringlb-baseline per case (empty without `--baseline`).
    pub baseline: Vec<BaselineRow>,
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

/// ringlb / HAProxy, ringlb / nginx and ringlb / ringlb-baseline for each case's throughput,
/// p99 and CPU per request, and for memory per idle connection. Only valid medians are
/// compared.
pub fn ratios(cases: &[Case], summary: &[Summary], idle: &[IdleSummary]) -> Vec<Ratio> {
    let find = |case: &str, t: Target| {
        summary
            .iter()
            .find(|s| s.case == case && s.target == t && s.valid)
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
            let b = find(&case.id, Target::RinglbBaseline).and_then(f);
            out.push(Ratio {
                case: case.id.clone(),
                metric: metric.into(),
                vs_haproxy: div(r, h),
                vs_nginx: div(r, n),
                vs_baseline: div(r, b),
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
        vs_baseline: div(per_conn(Target::Ringlb), per_conn(Target::RinglbBaseline)),
    });
    out
}

fn div(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// ringlb against ringlb-baseline, per case: CPU µs per request and p99, the ratio of the
/// medians and the ratio in each round. Empty if the baseline was not measured.
pub fn baseline_rows(cases: &[Case], summary: &[Summary], all: &[Measurement]) -> Vec<BaselineRow> {
    if !all.iter().any(|m| m.target == Target::RinglbBaseline) {
        return Vec::new();
    }
    let median_of = |case: &str, t: Target, f: fn(&Summary) -> Option<f64>| {
        summary
            .iter()
            .find(|s| s.case == case && s.target == t && s.valid)
            .and_then(f)
    };
    let pair = |case: &str,
                of_summary: fn(&Summary) -> Option<f64>,
                of_round: fn(&Measurement) -> Option<f64>| {
        let ringlb = median_of(case, Target::Ringlb, of_summary);
        let baseline = median_of(case, Target::RinglbBaseline, of_summary);
        let valid = |t: Target| {
            all.iter()
                .filter(move |m| m.case == case && m.target == t && m.valid)
        };
        let round_ratios = valid(Target::Ringlb)
            .filter_map(|r| {
                let b = valid(Target::RinglbBaseline).find(|b| b.round == r.round)?;
                div(of_round(r), of_round(b))
            })
            .collect::<Vec<f64>>();
        Pair {
            ringlb,
            baseline,
            ratio: div(ringlb, baseline),
            paired: (!round_ratios.is_empty()).then(|| median(round_ratios.clone())),
            round_ratios,
        }
    };
    cases
        .iter()
        .filter(|c| {
            summary
                .iter()
                .any(|s| s.case == c.id && s.target == Target::RinglbBaseline)
        })
        .map(|c| BaselineRow {
            case: c.id.clone(),
            cpu_us_per_request: pair(&c.id, |s| s.cpu_us_per_request, |m| m.cpu_us_per_request),
            p99: pair(&c.id, |s| Some(s.latency.p99), |m| Some(m.latency.p99)),
        })
        .collect()
}

/// `0.97 (12.1 / 12.5 µs, rounds 0.95-0.99)`, or a dash when not comparable.
fn pair_text(p: &Pair, digits: usize) -> String {
    let Some(ratio) = p.ratio else {
        return format!(
            "– ({} / {} µs)",
            opt(p.ringlb, digits),
            opt(p.baseline, digits)
        );
    };
    let mut s = format!(
        "{ratio:.3} ({} / {} µs",
        opt(p.ringlb, digits),
        opt(p.baseline, digits)
    );
    if let Some(range) = round_range(p) {
        let _ = write!(s, "; paired {}, rounds {range}", opt(p.paired, 3));
    }
    s.push(')');
    s
}

/// `lowest-highest` of the per-round ratios, if there are two or more.
fn round_range(p: &Pair) -> Option<String> {
    let r = &p.round_ratios;
    (r.len() > 1).then(|| {
        let lo = r.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{lo:.2}-{hi:.2}")
    })
}

/// One line per case: `ringlb / baseline [pin] keepalive  CPU/req 0.970 (...)  p99 1.020 (...)`,
/// for the end of the terminal output.
pub fn baseline_lines(p: &PlacementReport) -> Vec<String> {
    p.baseline
        .iter()
        .map(|row| {
            format!(
                "ringlb / baseline [{}] {:<9}  CPU/req {}  p99 {}",
                p.placement.name(),
                row.case,
                pair_text(&row.cpu_us_per_request, 2),
                pair_text(&row.p99, 0)
            )
        })
        .collect()
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
        type Column = fn(&Ratio) -> Option<f64>;
        let columns: Vec<(&str, Column)> = [
            (
                Target::Haproxy,
                "ringlb/HAProxy",
                (|r| r.vs_haproxy) as Column,
            ),
            (Target::Nginx, "ringlb/nginx", |r| r.vs_nginx),
            (Target::RinglbBaseline, "ringlb/baseline", |r| r.vs_baseline),
        ]
        .into_iter()
        .filter(|(t, _, _)| p.targets.contains(t) && p.targets.contains(&Target::Ringlb))
        .map(|(_, title, f)| (title, f))
        .collect();
        if !columns.is_empty() {
            let _ = writeln!(s, "\nringlb / other (req/s: above 1 is better; p99 and CPU: below 1 is better; – = not comparable):\n");
            let titles: Vec<&str> = columns.iter().map(|c| c.0).collect();
            let _ = writeln!(s, "| case | metric | {} |", titles.join(" | "));
            let _ = writeln!(s, "|---|---|{}", "--:|".repeat(columns.len()));
            for ratio in &p.ratios {
                let cells: Vec<String> = columns.iter().map(|c| opt(c.1(ratio), 2)).collect();
                let _ = writeln!(
                    s,
                    "| {} | {} | {} |",
                    ratio.case,
                    ratio.metric,
                    cells.join(" | ")
                );
            }
        }
        if !p.baseline.is_empty() {
            let _ = writeln!(s, "\nringlb / ringlb-baseline, same run, same config, same rounds (below 1: this tree is cheaper or faster). Each cell: the ratio of the medians; *paired*, the median of the per-round ratios (each round measures both back to back, so drift over the run cancels: the number to read); the lowest and highest round:\n");
            let _ = writeln!(s, "| case | CPU µs/req ringlb | CPU µs/req baseline | CPU ringlb / baseline | p99 µs ringlb | p99 µs baseline | p99 ringlb / baseline |");
            let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|--:|");
            let ratio = |x: &Pair| match (x.ratio, round_range(x)) {
                (Some(r), Some(range)) => {
                    format!("{r:.3} (paired {}, rounds {range})", opt(x.paired, 3))
                }
                (r, _) => opt(r, 3),
            };
            for row in &p.baseline {
                let (c, l) = (&row.cpu_us_per_request, &row.p99);
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | **{}** | {} | {} | **{}** |",
                    row.case,
                    opt(c.ringlb, 2),
                    opt(c.baseline, 2),
                    ratio(c),
                    opt(l.ringlb, 0),
                    opt(l.baseline, 0),
                    ratio(l),
                );
            }
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

    fn m(case: &Case, target: Target, round: u32, cpu: f64, p99: f64) -> Measurement {
        Measurement {
            case: case.id.clone(),
            target,
            round,
            offered_rate: case.rate,
            requests: 1000,
            requests_per_sec: 1000.0,
            achieved_rate: 1000.0,
            latency: Latency {
                p99,
                ..Latency::default()
            },
            status: Default::default(),
            errors: Default::default(),
            proxy_cpu_us: Some(cpu * 1000.0),
            cpu_us_per_request: Some(cpu),
            proxy_cpu_cores: Some(0.5),
            proxy_memory: None,
            valid: true,
            invalid_reasons: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn ratios_to_the_baseline() {
        let cases = [Case::keepalive(), Case::close()];
        let (ka, close) = (&cases[0], &cases[1]);
        let mut all = Vec::new();
        for (round, r_cpu, b_cpu) in [(1, 9.0, 10.0), (2, 10.0, 10.0), (3, 20.0, 20.0)] {
            all.push(m(ka, Target::Direct, round, 0.0, 50.0));
            all.push(m(ka, Target::Ringlb, round, r_cpu, 100.0));
            all.push(m(ka, Target::RinglbBaseline, round, b_cpu, 200.0));
            all.push(m(close, Target::Ringlb, round, 30.0, 100.0));
            all.push(m(close, Target::RinglbBaseline, round, 20.0, 100.0));
        }
        // One invalid round of the baseline makes the whole case not comparable.
        all.last_mut().unwrap().valid = false;
        let summary = summarize(&cases, &all);
        let ratios = ratios(&cases, &summary, &[]);
        let get = |case: &str, metric: &str| {
            ratios
                .iter()
                .find(|r| r.case == case && r.metric == metric)
                .unwrap()
        };
        assert_eq!(
            get("keepalive", "cpu_us_per_request").vs_baseline,
            Some(1.0)
        );
        assert_eq!(get("keepalive", "p99").vs_baseline, Some(0.5));
        assert_eq!(get("keepalive", "p99").vs_haproxy, None);
        assert_eq!(get("close", "p99").vs_baseline, None);

        let rows = baseline_rows(&cases, &summary, &all);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0].cpu_us_per_request,
            Pair {
                ringlb: Some(10.0),
                baseline: Some(10.0),
                ratio: Some(1.0),
                round_ratios: vec![0.9, 1.0, 1.0],
                paired: Some(1.0),
            }
        );
        assert_eq!(rows[0].p99.ratio, Some(0.5));
        assert_eq!(rows[1].cpu_us_per_request.ratio, None);
        // Rounds 1 and 2 were valid for both: their ratios still show.
        assert_eq!(rows[1].cpu_us_per_request.round_ratios, vec![1.5, 1.5]);
        assert_eq!(rows[1].cpu_us_per_request.paired, Some(1.5));

        let report = Report {
            meta: Meta {
                date: "d".into(),
                host: "h".into(),
                kernel: "k".into(),
                cpus: 2,
                quick: false,
                rounds: 3,
                duration_secs: 1.0,
                warmup_secs: 0.5,
                idle_connections: 1,
                idle_note: None,
                versions: Vec::new(),
                wall_secs: 1.0,
            },
            placements: vec![PlacementReport {
                placement: Placement::Pin,
                shards: 1,
                loadgen_threads: 1,
                direct_max_rps: 1000.0,
                targets: vec![Target::Direct, Target::Ringlb, Target::RinglbBaseline],
                cases: cases.to_vec(),
                measurements: all.clone(),
                idle: Vec::new(),
                summary: summary.clone(),
                idle_summary: Vec::new(),
                ratios: ratios.clone(),
                baseline: rows,
                skipped: Vec::new(),
            }],
        };
        let md = markdown(&report);
        assert!(md.contains("| case | metric | ringlb/baseline |"), "{md}");
        assert!(md.contains("| keepalive | 10.00 | 10.00 | **1.000 (paired 1.000, rounds 0.90-1.00)** | 100 | 200 | **0.500 (paired 0.500, rounds 0.50-0.50)** |"), "{md}");
        assert!(!md.contains("HAProxy"), "{md}");
        let lines = baseline_lines(&report.placements[0]);
        assert_eq!(
            lines[0],
            "ringlb / baseline [pin] keepalive  CPU/req 1.000 (10.00 / 10.00 µs; paired 1.000, rounds 0.90-1.00)  p99 0.500 (100 / 200 µs; paired 0.500, rounds 0.50-0.50)"
        );
        assert_eq!(
            lines[1],
            "ringlb / baseline [pin] close      CPU/req – (30.00 / – µs)  p99 – (100 / – µs)"
        );

        // Without the baseline: no baseline rows, no baseline column.
        let plain: Vec<Measurement> = all
            .into_iter()
            .filter(|m| m.target != Target::RinglbBaseline)
            .collect();
        assert!(baseline_rows(&cases, &summarize(&cases, &plain), &plain).is_empty());
    }
}
