//! The `ringlb` command: load HAProxy-syntax configuration files, check them, or serve them.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

/// A thread-per-core io_uring load balancer that reads HAProxy configuration files.
#[derive(Parser, Debug)]
#[command(
    version,
    about,
    after_help = "Exit codes: 0 success (or a clean stop on SIGTERM/SIGINT/SIGUSR1); 1 invalid configuration or failure to start; 2 invalid command line."
)]
struct Cli {
    /// Configuration file; repeat to load several files in order, as one configuration.
    #[arg(short = 'f', value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// Only check the configuration: print every error, or "Configuration file is valid".
    #[arg(short = 'c')]
    check: bool,
    /// Debug: stay in the foreground and log debug messages to stderr.
    #[arg(short = 'd')]
    debug: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.debug);
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            alert(&chain(&e));
            ExitCode::from(1)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let loaded = match ringlb::config::load_files(&cli.files) {
        Ok(loaded) => loaded,
        Err(errors) => {
            for e in &errors.0 {
                alert(&format!("config : {e}"));
            }
            alert("config : Fatal errors found in configuration.");
            return Ok(ExitCode::from(1));
        }
    };
    for w in &loaded.warnings {
        eprintln!("[WARNING]  ({}) : config : {w}", std::process::id());
    }
    if cli.check {
        println!("Configuration file is valid");
        return Ok(ExitCode::SUCCESS);
    }
    let config = Arc::new(loaded.config);
    let signals = Signals::new([SIGTERM, SIGINT, SIGUSR1, SIGHUP, SIGUSR2])
        .context("cannot install signal handlers")?;
    // The control thread's listeners are bound first: a port taken or a socket path in the
    // way stops ringlb before any shard starts, as a frontend's bind does.
    let listeners = ringlb::control::run::Listeners {
        stats: ringlb::control::stats::server::bind_all(&config)?,
        sockets: config
            .global
            .stats_sockets
            .iter()
            .map(|s| ringlb::control::socket::server::bind(s).map(|b| (b, s.level)))
            .collect::<Result<_, _>>()?,
    };
    let running = ringlb::runtime::start(Arc::clone(&config))?;
    log::info!(
        "ringlb {} started: {} shard(s), maxconn {}",
        env!("CARGO_PKG_VERSION"),
        running.shards,
        running.maxconn
    );
    let mut plane = ringlb::control::plane::ControlPlane::new(
        running.publisher,
        running.latencies,
        running.captures,
    );
    plane.set_process(running.drivers, running.maxconn);
    // This thread becomes the control thread: health checks and signals, until a stop.
    match ringlb::control::run::run(plane, signals, &cli.files, listeners)
        .context("control thread")?
    {
        ringlb::control::run::Exit::Drained | ringlb::control::run::Exit::Cut { .. } => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// The error and its causes, `: `-separated, leaving out a cause the message already quotes
/// (ringlb's errors name their cause in HAProxy's words, e.g. `cannot bind socket (…)`).
fn chain(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

fn alert(message: &str) {
    eprintln!("[ALERT]    ({}) : {message}", std::process::id());
}

/// Messages of ringlb itself go to stderr: notices and warnings always, debug with `-d`.
struct StderrLogger {
    level: log::LevelFilter,
}

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let tag = match record.level() {
                log::Level::Error => "[ALERT]   ",
                log::Level::Warn => "[WARNING] ",
                log::Level::Info => "[NOTICE]  ",
                log::Level::Debug | log::Level::Trace => "[DEBUG]   ",
            };
            eprintln!("{tag} ({}) : {}", std::process::id(), record.args());
        }
    }

    fn flush(&self) {}
}

fn init_logging(debug: bool) {
    let level = if debug {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Info
    };
    let logger = Box::leak(Box::new(StderrLogger { level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
