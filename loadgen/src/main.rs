//! loadgen: ringlb's coordinated-omission-correct HTTP/1.1 load generator.
//!
//! Closed loop by default; open loop (constant rate, latency measured from each
//! request's intended send time, as wrk2 does) with `-R`. See `loadgen --help`.

mod args;
mod client;
mod parser;
mod stats;
mod timer;
mod worker;

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::{CommandFactory, Parser};

use crate::args::Args;
use crate::stats::{Live, Report, RunInfo};
use crate::worker::{Endpoint, Plan};

/// Run length when neither `-d` nor `-n` is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let args = Args::parse();
    let plan = match build_plan(&args) {
        Ok(p) => p,
        Err(msg) => Args::command()
            .error(clap::error::ErrorKind::ValueValidation, msg)
            .exit(),
    };
    let urls: Vec<String> = args.urls.iter().map(|u| u.raw.clone()).collect();
    let what = match (plan.duration, plan.max_requests) {
        (Some(d), Some(n)) => format!("{:?} or {n} requests", d),
        (Some(d), None) => format!("{d:?}"),
        (None, Some(n)) => format!("{n} requests"),
        (None, None) => String::new(),
    };
    let rate = plan
        .rate
        .map_or_else(String::new, |r| format!(" at {r} req/s (open loop)"));
    println!("Running {what} test @ {}{rate}", urls.join(", "));
    let tty = std::io::stderr().is_terminal();
    let mut last = (0u64, Duration::ZERO);
    let progress = |live: &[Live], elapsed: Duration| {
        if !tty {
            return;
        }
        let done: u64 = live
            .iter()
            .map(|l| l.responses.load(Ordering::Relaxed))
            .sum();
        let errs: u64 = live.iter().map(|l| l.errors.load(Ordering::Relaxed)).sum();
        let dt = (elapsed - last.1).as_secs_f64().max(1e-9);
        let rps = (done - last.0.min(done)) as f64 / dt;
        last = (done, elapsed);
        eprint!(
            "\r\x1b[K  [{:5.1}s] {done} responses, {rps:.0} req/s, {errs} errors",
            elapsed.as_secs_f64()
        );
        let _ = std::io::stderr().flush();
    };
    let info = RunInfo {
        urls,
        threads: args.threads,
        connections: args.connections,
        driver: "",
        target_rate: plan.rate,
    };
    let outcome = worker::run(plan, progress);
    if tty {
        eprint!("\r\x1b[K");
    }
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            return ExitCode::from(1);
        }
    };
    let report = Report::build(
        &outcome.stats,
        outcome.elapsed,
        RunInfo {
            driver: outcome.driver,
            ..info
        },
    );
    print!("{}", report.to_text());
    if let Some(target) = report.target_rate {
        if report.achieved_rate < target * 0.99 {
            eprintln!(
                "loadgen: warning: achieved {:.1} req/s, more than 1% short of the target {target} req/s",
                report.achieved_rate
            );
        }
    }
    if let Some(path) = &args.json {
        let written = serde_json::to_vec_pretty(&report)
            .map_err(std::io::Error::other)
            .and_then(|json| std::fs::write(path, json));
        if let Err(e) = written {
            eprintln!("loadgen: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    if report.requests == 0 {
        eprintln!("loadgen: no response was received");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// Validates the flags and prepares the run: resolves hosts, reads the body, encodes requests.
fn build_plan(args: &Args) -> Result<Plan, String> {
    if args.threads > args.connections {
        return Err(format!(
            "-t {} exceeds -c {}: every thread needs at least one connection",
            args.threads, args.connections
        ));
    }
    let body = match &args.body {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| format!("cannot read --body {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let keepalive = !args.no_keepalive;
    let head = args.method.eq_ignore_ascii_case("HEAD");
    let mut targets: Vec<SocketAddr> = Vec::new();
    let mut endpoints = Vec::with_capacity(args.urls.len());
    for u in &args.urls {
        let addr = (u.host.as_str(), u.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| format!("cannot resolve host {:?} of {}", u.host, u.raw))?;
        let target = match targets.iter().position(|t| *t == addr) {
            Some(i) => i,
            None => {
                targets.push(addr);
                targets.len() - 1
            }
        };
        let request = client::encode_request(
            &args.method,
            &u.path,
            &u.authority,
            &args.headers,
            body.as_deref(),
            keepalive,
        );
        endpoints.push(Endpoint {
            target,
            request,
            head,
        });
    }
    let duration = match (args.duration, args.requests) {
        (None, None) => Some(DEFAULT_DURATION),
        (d, _) => d,
    };
    Ok(Plan {
        endpoints,
        targets,
        threads: args.threads as usize,
        connections: args.connections as usize,
        duration,
        max_requests: args.requests,
        rate: args.rate,
        timeout: args.timeout,
        keepalive,
        pin: !args.no_pin,
    })
}
