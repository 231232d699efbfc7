//! What ringlb's shared round-robin cursor costs: one relaxed `fetch_add` on a cache line
//! every shard writes, per request. Measured directly: the same loop of increments with the
//! line private to one thread, then shared by one thread per CPU (so it bounces between
//! cores, as it does between shards).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

/// Increments per thread.
const ROUNDS: usize = 5_000_000;

/// Nanoseconds per increment with `threads` threads (one per CPU in `cpus`) sharing a counter.
fn ns_per_increment(cpus: &[usize], threads: usize) -> Result<f64> {
    let counter = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let counter = Arc::clone(&counter);
            let cpu = cpus[i % cpus.len()];
            std::thread::spawn(move || -> Result<f64> {
                super::affinity::set(&[cpu])?;
                let started = Instant::now();
                for _ in 0..ROUNDS {
                    // Some work between requests, as a shard has: the line goes cold.
                    std::hint::black_box(counter.fetch_add(1, Ordering::Relaxed));
                    for _ in 0..64 {
                        std::hint::spin_loop();
                    }
                }
                Ok(started.elapsed().as_nanos() as f64 / ROUNDS as f64)
            })
        })
        .collect();
    let mut total = 0.0;
    for h in handles {
        total += h.join().ok().context("measuring thread panicked")??;
    }
    Ok(total / threads as f64)
}

/// Prints the cost of the shared cursor on this machine.
pub fn report() -> Result<()> {
    let cpus = super::affinity::get()?;
    let alone = ns_per_increment(&cpus, 1)?;
    let shared = ns_per_increment(&cpus, cpus.len().max(2))?;
    println!("shared round-robin cursor, per request:");
    println!("  private counter (1 thread):            {alone:.1} ns (increment + 64 spins)");
    println!(
        "  shared by {} threads on {} CPUs:          {shared:.1} ns",
        cpus.len().max(2),
        cpus.len()
    );
    println!(
        "  extra cost of sharing:                 {:.1} ns",
        shared - alone
    );
    Ok(())
}
