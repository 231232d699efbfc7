//! What a proxy costs, read from /proc: CPU time and memory of a process and all its
//! descendants (nginx's master and workers; HAProxy's and ringlb's threads are inside one
//! process, and /proc/PID/stat already sums a process's threads).

use std::collections::HashMap;
use std::fs;

use serde::Serialize;

/// Memory of a process tree, summed over its processes.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Memory {
    /// Sum of VmRSS, KiB (pages shared between nginx's processes count once per process).
    pub rss_kib: u64,
    /// Sum of Pss from smaps_rollup, KiB (shared pages split between their processes).
    pub pss_kib: u64,
    /// Open file descriptors of all the processes.
    pub fds: u64,
}

/// The root process and every process below it, root first.
pub fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(ppid) = stat_fields(pid).and_then(|f| f.get(1)?.parse::<u32>().ok()) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(kids) = children.get(&out[i]) {
            out.extend(kids.iter().copied());
        }
        i += 1;
    }
    out
}

/// The fields of /proc/PID/stat after the command name: index 0 is the state, 1 the ppid,
/// 11 utime and 12 stime (fields 3, 4, 14 and 15 of proc(5)).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// User plus system CPU time of the tree under `root`, in microseconds.
pub fn cpu_us(root: u32) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let ticks: u64 = tree(root)
        .into_iter()
        .filter_map(stat_fields)
        .map(|f| {
            let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            field(11) + field(12)
        })
        .sum();
    ticks as f64 * 1e6 / ticks_per_sec
}

/// RSS, PSS and descriptors of the tree under `root`.
pub fn memory(root: u32) -> Memory {
    let mut m = Memory::default();
    for pid in tree(root) {
        m.rss_kib += kib_field(&format!("/proc/{pid}/status"), "VmRSS:");
        m.pss_kib += kib_field(&format!("/proc/{pid}/smaps_rollup"), "Pss:");
        m.fds += fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
    }
    m
}

/// The value of a `Name:   123 kB` line, or 0.
fn kib_field(path: &str, name: &str) -> u64 {
    fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_measured() {
        let me = std::process::id();
        assert_eq!(tree(me)[0], me);
        // Burn at least one clock tick (10 ms) of CPU.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
        assert!(cpu_us(me) > 0.0);
        let m = memory(me);
        assert!(m.rss_kib > 0 && m.pss_kib > 0 && m.fds > 0);
    }
}
