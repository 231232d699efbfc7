//! `bench`: ringlb side by side with HAProxy and nginx (and, with `--baseline`, another
//! ringlb binary) in front of the same two apache backends, and apache alone as the floor.
//! See bench/README.md.

mod cases;
mod chart;
mod cursor;
mod idle;
mod measure;
mod report;
mod targets;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

use cases::{Case, Measurement, Runner};
use report::{PlacementReport, Report};
use targets::{round_order, Apache, Env, Placement, Proxy, Target};

/// ringlb vs HAProxy vs nginx in front of two apache backends, on loopback.
#[derive(Parser, Debug)]
#[command(
    about,
    after_help = "Results go to bench/results/DATE-HOST.{json,md} and DATE-HOST-latency.svg."
)]
struct Cli {
    /// One short round (1.25 s per measurement, 2,000 idle connections): a smoke test.
    #[arg(long)]
    quick: bool,
    /// Only the pinned placement: the proxy alone on CPU 0, apache and loadgen on CPU 1.
    #[arg(long, group = "placement")]
    pin: bool,
    /// Only the unpinned placement: one shard/thread/worker per core, nothing pinned by us.
    #[arg(long, group = "placement")]
    unpinned: bool,
    /// Both placements (the default).
    #[arg(long, group = "placement")]
    both: bool,
    /// Rounds per case (default 3, 1 with --quick).
    #[arg(long)]
    rounds: Option<u32>,
    /// Seconds per measurement (default 4, 1.25 with --quick).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Idle connections in case 5 (default 10000, 2000 with --quick).
    #[arg(long, value_name = "N")]
    idle_conns: Option<usize>,
    /// Repository root (default: the current directory if it has bench/configs, else the
    /// checkout this binary was built from).
    #[arg(long)]
    root: Option<PathBuf>,
    /// Directory with the release builds of ringlb and loadgen (default ROOT/target/release).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Where results are written (default ROOT/bench/results).
    #[arg(long)]
    results: Option<PathBuf>,
    /// Only measure what ringlb's shared round-robin cursor costs per request, and exit.
    #[arg(long)]
    cursor_cost: bool,
    /// Also measure this other ringlb binary as "ringlb-baseline" (e.g. a build of the tree
    /// before a change; bench/baseline.sh REV builds one): the very same config, placement,
    /// cases and rounds as ringlb, in the same rounds. The report adds ringlb / baseline.
    #[arg(long, value_name = "PATH")]
    baseline: Option<PathBuf>,
    /// What the baseline binary is, for the report (default: its --version and path).
    #[arg(long, value_name = "TEXT", requires = "baseline")]
    baseline_label: Option<String>,
    /// Only these proxies, comma-separated: ringlb, ringlb-baseline, haproxy, nginx (default:
    /// ringlb, HAProxy and nginx, and ringlb-baseline with --baseline). apache alone is always
    /// measured: it sets the open-loop rates.
    #[arg(long, visible_alias = "only", value_name = "LIST")]
    proxies: Option<String>,
    /// Only these cases, comma-separated: keepalive, open-25, open-50, open-75, close, 1mib,
    /// tcp, acl20, idle (default: all). keepalive always runs: it sets the open-loop rates.
    #[arg(long, value_name = "LIST")]
    cases: Option<String>,
}

/// Every case id `--cases` knows, in run order.
const CASE_IDS: [&str; 9] = [
    "keepalive",
    "open-25",
    "open-50",
    "open-75",
    "close",
    "1mib",
    "tcp",
    "acl20",
    "idle",
];

/// The case ids to run, from `--cases`; keepalive is always in.
fn select_cases(list: Option<&str>) -> Result<Vec<&'static str>> {
    let Some(list) = list else {
        return Ok(CASE_IDS.to_vec());
    };
    let mut named = vec!["keepalive"];
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let Some(&id) = CASE_IDS.iter().find(|&&id| id == name) else {
            bail!(
                "--cases: unknown case '{name}': the choices are {}",
                CASE_IDS.join(", ")
            );
        };
        named.push(id);
    }
    Ok(CASE_IDS
        .into_iter()
        .filter(|id| named.contains(id))
        .collect())
}

/// The proxies to measure, in round order, from `--proxies` and whether `--baseline` was given.
fn select_proxies(list: Option<&str>, baseline: bool) -> Result<Vec<Target>> {
    let named: Vec<Target> = match list {
        None => Target::PROXIES
            .into_iter()
            .filter(|&t| baseline || t != Target::RinglbBaseline)
            .collect(),
        Some(list) => list
            .split(',')
            .filter(|name| !name.trim().is_empty())
            .map(|name| {
                Target::proxy_named(name).with_context(|| {
                    format!(
                        "--proxies: unknown proxy '{}': the choices are ringlb, ringlb-baseline, haproxy and nginx (apache alone is always measured)",
                        name.trim()
                    )
                })
            })
            .collect::<Result<_>>()?,
    };
    let chosen: Vec<Target> = Target::PROXIES
        .into_iter()
        .filter(|t| named.contains(t))
        .collect();
    let has = |t: Target| chosen.contains(&t);
    if chosen.is_empty() {
        bail!("--proxies: no proxy named");
    }
    if has(Target::RinglbBaseline) && !baseline {
        bail!("ringlb-baseline needs --baseline PATH (the other ringlb binary)");
    }
    if baseline && !has(Target::RinglbBaseline) {
        bail!("--baseline is given but --proxies leaves out ringlb-baseline");
    }
    if has(Target::RinglbBaseline) && !has(Target::Ringlb) {
        bail!("ringlb-baseline is compared with ringlb: add ringlb to --proxies");
    }
    Ok(chosen)
}

/// The resolved settings of a run.
struct Settings {
    quick: bool,
    rounds: u32,
    duration: Duration,
    warmup: Duration,
    idle_conns: usize,
    /// The case ids to run (`--cases`).
    cases: Vec<&'static str>,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Fails once SIGINT or SIGTERM arrived, so that every guard runs on the way out.
pub fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    if let Err(e) = run(cli) {
        eprintln!("bench: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    if cli.cursor_cost {
        return cursor::report();
    }
    let started = Instant::now();
    let proxies = select_proxies(cli.proxies.as_deref(), cli.baseline.is_some())?;
    if let Some(path) = cli.baseline.as_ref().filter(|p| !p.is_file()) {
        bail!("--baseline {}: no such file", path.display());
    }
    let targets: Vec<Target> = std::iter::once(Target::Direct)
        .chain(proxies.iter().copied())
        .collect();
    let root = match cli.root {
        Some(r) => r,
        None if Path::new("bench/configs").is_dir() => std::env::current_dir()?,
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
    };
    let root = root
        .canonicalize()
        .with_context(|| format!("bad root {}", root.display()))?;
    let mut settings = Settings {
        quick: cli.quick,
        rounds: cli.rounds.unwrap_or(if cli.quick { 1 } else { 3 }).max(1),
        duration: Duration::from_secs_f64(
            cli.duration
                .unwrap_or(if cli.quick { 1.25 } else { 4.0 })
                .max(0.5),
        ),
        warmup: Duration::from_millis(if cli.quick { 250 } else { 500 }),
        idle_conns: cli
            .idle_conns
            .unwrap_or(if cli.quick { 2000 } else { 10_000 })
            .max(1),
        cases: select_cases(cli.cases.as_deref())?,
    };
    let placements = match (cli.pin, cli.unpinned) {
        (true, _) => vec![Placement::Pin],
        (_, true) => vec![Placement::Unpinned],
        _ => vec![Placement::Pin, Placement::Unpinned],
    };
    // The proxies inherit the limit, and count two descriptors per connection (HAProxy
    // refuses to start with a maxconn the limit cannot hold). Raising the hard limit needs
    // CAP_SYS_RESOURCE; without it the idle case opens as many connections as fit.
    let nofile = idle::raise_nofile(131_072);
    let maxconn = (nofile.saturating_sub(256) / 2).min(30_000);
    let fit = maxconn.saturating_sub(500) as usize;
    let mut idle_note = None;
    if settings.idle_conns > fit {
        if cli.idle_conns.is_some() || fit < 1000 {
            bail!(
                "RLIMIT_NOFILE is {nofile}: room for {fit} idle connections through a proxy, not {} (raise the hard limit or lower --idle-conns)",
                settings.idle_conns
            );
        }
        let note = format!(
            "idle connections capped from {} to {fit}: RLIMIT_NOFILE is {nofile} and could not be raised (that needs CAP_SYS_RESOURCE)",
            settings.idle_conns
        );
        eprintln!("bench: {note}");
        settings.idle_conns = fit;
        idle_note = Some(note);
    }
    let original = affinity::get()?;
    let cpus = original.len();
    let bin_dir = cli.bin_dir.unwrap_or_else(|| root.join("target/release"));
    let work = std::env::temp_dir().join(format!("ringlb-bench-{}", std::process::id()));
    let mut env = Env::new(
        root.clone(),
        &bin_dir,
        cli.baseline.as_deref(),
        &proxies,
        work.clone(),
        cpus,
        maxconn,
    )?;
    if env.ringlb_baseline.as_ref() == Some(&env.ringlb.canonicalize()?) {
        eprintln!("bench: --baseline is ringlb's own binary: the ratios show this machine's noise (an A/A run)");
    }
    if proxies.contains(&Target::Nginx) && env.nginx_stream.is_none() {
        eprintln!("bench: nginx has no stream module (install libnginx-mod-stream): nginx is skipped in the tcp case");
    }

    let date = chrono::Local::now();
    let mut reports = Vec::new();
    let outcome = (|| -> Result<()> {
        for &placement in &placements {
            if placement == Placement::Pin && !(original.contains(&0) && original.contains(&1)) {
                bail!(
                    "--pin needs CPUs 0 and 1 (this process may use {original:?}); use --unpinned"
                );
            }
            reports.push(run_placement(
                &mut env, placement, &targets, &settings, &original,
            )?);
        }
        Ok(())
    })();
    affinity::set(&original)?;
    if let Err(e) = outcome {
        eprintln!("bench: logs and configs kept in {}", work.display());
        return Err(e);
    }
    let _ = fs::remove_dir_all(&work);

    let meta = report::Meta {
        date: date.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        host: hostname(),
        kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string(),
        cpus,
        quick: settings.quick,
        rounds: settings.rounds,
        duration_secs: settings.duration.as_secs_f64(),
        warmup_secs: settings.warmup.as_secs_f64(),
        idle_connections: settings.idle_conns,
        idle_note,
        versions: versions(&root, &env, cli.baseline_label.as_deref()),
        wall_secs: started.elapsed().as_secs_f64(),
    };
    let report = Report {
        meta,
        placements: reports,
    };
    write_results(
        &report,
        &cli.results.unwrap_or_else(|| root.join("bench/results")),
        &date,
    )
}

fn write_results(
    report: &Report,
    dir: &Path,
    date: &chrono::DateTime<chrono::Local>,
) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let base = format!("{}-{}", date.format("%Y-%m-%d-%H%M%S"), report.meta.host);
    let json = dir.join(format!("{base}.json"));
    fs::write(&json, serde_json::to_string_pretty(report)?)
        .with_context(|| format!("cannot write {}", json.display()))?;
    let md_text = report::markdown(report);
    let md = dir.join(format!("{base}.md"));
    fs::write(&md, &md_text)?;
    let svg = dir.join(format!("{base}-latency.svg"));
    chart::draw(report, &svg)?;
    // The project README shows latest-latency.svg: only a full comparison replaces it.
    let full = report.placements.iter().all(|p| {
        p.targets.contains(&Target::Haproxy)
            && p.targets.contains(&Target::Nginx)
            && !p.targets.contains(&Target::RinglbBaseline)
    });
    if full {
        fs::copy(&svg, dir.join("latest-latency.svg"))?;
    } else {
        eprintln!("bench: latest-latency.svg left as it was: this run is not ringlb, HAProxy and nginx alone");
    }
    println!("{md_text}");
    eprintln!(
        "bench: wrote {}, {} and {}",
        json.display(),
        md.display(),
        svg.display()
    );
    for p in &report.placements {
        for line in report::baseline_lines(p) {
            println!("{line}");
        }
    }
    Ok(())
}

/// One placement: apache, the proxies, every case in interleaved rounds. `targets` is
/// apache direct and the proxies, in the order of a round.
fn run_placement(
    env: &mut Env,
    placement: Placement,
    targets: &[Target],
    s: &Settings,
    original: &[usize],
) -> Result<PlacementReport> {
    let name = placement.name();
    // The bench itself (and the idle helper) runs where apache and loadgen run.
    match placement {
        Placement::Pin => affinity::set(&[1])?,
        Placement::Unpinned => affinity::set(original)?,
    }
    let shards = placement.shards(env.cpus);
    let threads = match placement {
        Placement::Pin => 1,
        Placement::Unpinned => env.cpus,
    };
    eprintln!("bench: placement {name}: starting apache and the proxies ({shards} shard(s) each)");
    let apache = Apache::start(env, placement.side_cpus())?;
    let wanted: Vec<Target> = targets
        .iter()
        .copied()
        .filter(|&t| t != Target::Direct)
        .collect();
    let proxies = wanted
        .iter()
        .map(|&t| Proxy::start(env, t, &apache, shards, placement.proxy_cpus(), name))
        .collect::<Result<Vec<_>>>()?;
    let proxy = |t: Target| proxies.iter().find(|p| p.target == t);
    let direct = apache.urls("");
    let warm = Runner {
        loadgen: env.loadgen.clone(),
        work: env.work.clone(),
        placement,
        threads,
        duration: s.warmup,
    };
    let runner = Runner {
        duration: s.duration,
        ..warm.clone()
    };
    for &t in targets {
        warm.measure(&Case::keepalive(), t, proxy(t), &direct, 0)?;
    }

    let mut all: Vec<Measurement> = Vec::new();
    let measure = |all: &mut Vec<Measurement>, case: &Case, t: Target, round: u32| -> Result<()> {
        check_interrupted()?;
        // A short unrecorded run of the same load first: the proxies' idle pooled connections
        // to apache expire (KeepAliveTimeout 5 s) while the other targets are measured.
        warm.measure(case, t, proxy(t), &direct, 0)?;
        let m = runner.measure(case, t, proxy(t), &direct, round)?;
        eprintln!(
            "bench: [{name} {round}/{}] {:<9} {:<15} {:>8.0} req/s  p99 {:>7.0} µs  cpu {:>6} µs/req  {}",
            s.rounds,
            case.id,
            t.label(),
            m.requests_per_sec,
            m.latency.p99,
            m.cpu_us_per_request.map_or("-".into(), |c| format!("{c:.1}")),
            if m.valid { "ok".to_string() } else { format!("INVALID: {}", m.invalid_reasons.join("; ")) },
        );
        all.push(m);
        Ok(())
    };

    // Case 1 first: its direct maximum sets the open-loop rates.
    let case1 = Case::keepalive();
    for round in 1..=s.rounds {
        for t in round_order(targets, round) {
            measure(&mut all, &case1, t, round)?;
        }
    }
    let direct_rps: Vec<f64> = all
        .iter()
        .filter(|m| m.target == Target::Direct && m.valid)
        .map(|m| m.requests_per_sec)
        .collect();
    let direct_max = report::median(direct_rps);
    if direct_max <= 0.0 {
        bail!("apache alone gave no valid result in case 1: cannot choose the open-loop rates");
    }
    let mut cases = vec![case1];
    cases.extend([25, 50, 75].map(|pct| Case::open(pct, direct_max)));
    cases.extend([Case::close(), Case::large(), Case::tcp(), Case::acl20()]);
    cases.retain(|c| s.cases.contains(&c.id.as_str()));
    let idle_wanted = s.cases.contains(&"idle");

    let mut skipped = Vec::new();
    if proxy(Target::Nginx).is_some_and(|p| p.tcp_port.is_none()) {
        skipped.push("tcp / nginx: no stream module (install libnginx-mod-stream)".to_string());
    }
    let mut idle = Vec::new();
    for round in 1..=s.rounds {
        for case in &cases[1..] {
            for t in round_order(targets, round) {
                let runs = match proxy(t) {
                    None => !case.tcp && !case.acl,
                    Some(p) => {
                        (!case.tcp || p.tcp_port.is_some()) && (!case.acl || p.acl_port.is_some())
                    }
                };
                if runs {
                    measure(&mut all, case, t, round)?;
                }
            }
        }
        for t in round_order(&wanted, round)
            .into_iter()
            .filter(|_| idle_wanted)
        {
            check_interrupted()?;
            // A fresh instance, so that memory freed by earlier cases does not hide the cost.
            let p = Proxy::start(
                env,
                t,
                &apache,
                shards,
                placement.proxy_cpus(),
                &format!("idle-{name}"),
            )?;
            let r = cases::measure_idle(&p, s.idle_conns, round)?;
            eprintln!(
                "bench: [{name} {round}/{}] idle      {:<15} {} conns, {:.0} bytes/conn RSS  {}",
                s.rounds,
                t.label(),
                r.connections,
                r.rss_bytes_per_conn,
                if r.valid {
                    "ok".to_string()
                } else {
                    format!("INVALID: {}", r.invalid_reasons.join("; "))
                },
            );
            idle.push(r);
        }
    }
    drop(proxies);
    drop(apache);

    let summary = report::summarize(&cases, &all);
    let idle_summary = report::summarize_idle(&idle);
    let ratios = report::ratios(&cases, &summary, &idle_summary);
    let baseline = report::baseline_rows(&cases, &summary, &all);
    Ok(PlacementReport {
        placement,
        shards,
        loadgen_threads: threads,
        direct_max_rps: direct_max,
        targets: targets.to_vec(),
        cases,
        measurements: all,
        idle,
        summary,
        idle_summary,
        ratios,
        baseline,
        skipped,
    })
}

fn hostname() -> String {
    let h = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let h: String = h
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .collect();
    if h.is_empty() {
        "host".into()
    } else {
        h
    }
}

fn versions(root: &Path, env: &Env, baseline_label: Option<&str>) -> Vec<(String, String)> {
    let first_line = |program: &str, args: &[&str]| -> String {
        Command::new(program)
            .args(args)
            .output()
            .map(|o| {
                let text = if o.stdout.is_empty() {
                    o.stderr
                } else {
                    o.stdout
                };
                String::from_utf8_lossy(&text)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
            .unwrap_or_else(|e| format!("unknown ({e})"))
    };
    let git = root.display().to_string();
    let mut v = vec![(
        "ringlb".into(),
        first_line("git", &["-C", &git, "describe", "--always", "--dirty"]),
    )];
    if let Some(path) = &env.ringlb_baseline {
        let what = baseline_label.map_or_else(
            || first_line(&path.display().to_string(), &["--version"]),
            str::to_string,
        );
        v.push((
            "ringlb-baseline".into(),
            format!("{what} ({})", path.display()),
        ));
    }
    v.extend([
        ("haproxy".into(), first_line("haproxy", &["-v"])),
        ("nginx".into(), first_line("nginx", &["-v"])),
        ("apache".into(), first_line("apache2", &["-v"])),
    ]);
    v
}

/// The CPU affinity of the calling thread (which children inherit).
mod affinity {
    use anyhow::{bail, Result};

    /// The CPUs this thread may run on.
    pub fn get() -> Result<Vec<usize>> {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity fills it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                bail!("sched_getaffinity: {}", std::io::Error::last_os_error());
            }
            Ok((0..libc::CPU_SETSIZE as usize)
                .filter(|&c| libc::CPU_ISSET(c, &set))
                .collect())
        }
    }

    /// Restricts this thread (and what it starts from now on) to `cpus`.
    pub fn set(cpus: &[usize]) -> Result<()> {
        // SAFETY: as above; CPU_SET with indexes below CPU_SETSIZE.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &c in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
                libc::CPU_SET(c, &mut set);
            }
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                bail!(
                    "sched_setaffinity({cpus:?}): {}",
                    std::io::Error::last_os_error()
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Result<Cli> {
        Ok(Cli::try_parse_from(
            std::iter::once("bench").chain(args.iter().copied()),
        )?)
    }

    fn selected(args: &[&str]) -> Result<Vec<Target>> {
        let c = cli(args)?;
        select_proxies(c.proxies.as_deref(), c.baseline.is_some())
    }

    #[test]
    fn baseline_and_proxies_flags() {
        use Target::*;
        assert_eq!(selected(&[]).unwrap(), [Ringlb, Haproxy, Nginx]);
        assert_eq!(
            selected(&["--baseline", "/x/ringlb"]).unwrap(),
            [Ringlb, RinglbBaseline, Haproxy, Nginx]
        );
        let c = cli(&["--baseline", "/x/ringlb", "--quick", "--pin"]).unwrap();
        assert_eq!(c.baseline, Some(PathBuf::from("/x/ringlb")));
        assert!(c.quick && c.pin);
        // Any order and case, duplicates and spaces; the round order stays ringlb first.
        assert_eq!(
            selected(&[
                "--baseline=/x",
                "--proxies",
                "ringlb-baseline, RINGLB,ringlb"
            ])
            .unwrap(),
            [Ringlb, RinglbBaseline]
        );
        assert_eq!(
            selected(&["--only", "nginx,ringlb"]).unwrap(),
            [Ringlb, Nginx]
        );
        assert_eq!(selected(&["--proxies", "haproxy"]).unwrap(), [Haproxy]);
        for bad in [
            &["--proxies", "ringlb-baseline,ringlb"][..], // no --baseline
            &["--baseline", "/x", "--proxies", "ringlb"], // baseline left out
            &["--baseline", "/x", "--proxies", "ringlb-baseline"], // nothing to compare with
            &["--proxies", "ringlb,direct"],
            &["--proxies", ","],
            &["--baseline-label", "v1"], // needs --baseline
        ] {
            assert!(selected(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn cases_flag() {
        assert_eq!(select_cases(None).unwrap(), CASE_IDS);
        // keepalive always runs (it sets the open-loop rates); run order, not flag order.
        assert_eq!(
            select_cases(Some("idle, tcp")).unwrap(),
            ["keepalive", "tcp", "idle"]
        );
        assert_eq!(select_cases(Some("keepalive")).unwrap(), ["keepalive"]);
        assert_eq!(select_cases(Some("")).unwrap(), ["keepalive"]);
        let e = select_cases(Some("keepalive,open-90")).unwrap_err();
        assert!(e.to_string().contains("'open-90'"), "{e}");
    }
}
