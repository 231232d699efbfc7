//! Process limits: file descriptors, and the connection ceiling derived from them.
//!
//! The accounting is meant to be honest: with `maxconn` client connections open, each using
//! every descriptor it may need at once, and the idle server pool at the size the rest of
//! the budget allows, the process stays below its descriptor limit. ringlb then reaches
//! `maxconn` (new clients wait in the kernel's backlog) before it could ever see EMFILE.

use crate::config::Config;

/// Descriptors kept for what is not a connection: standard streams, each shard's ring and
/// its eventfd, the logger's sockets, the control thread.
const RESERVED_FDS: u64 = 256;

/// How the descriptor limit is shared out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Client connections allowed over the whole process.
    pub maxconn: u64,
    /// Descriptors one client connection may hold at once (client, server, splice pipes).
    pub fds_per_conn: u64,
    /// Descriptors for connections and idle server connections over the whole process.
    pub conn_fds: u64,
}

/// What one shard may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardShare {
    /// Client connections open at once.
    pub max_conns: usize,
    /// Descriptors for its connections and its idle pool.
    pub fds: usize,
}

impl Budget {
    /// Shard `shard`'s part of the budget, out of `shards`. The parts add up to the whole
    /// (remainders go to the first shards), so the shards together never exceed it.
    pub fn share(&self, shard: usize, shards: usize) -> ShardShare {
        let split = |total: u64| -> u64 {
            let n = shards.max(1) as u64;
            total / n + u64::from((shard as u64) < total % n)
        };
        let max_conns = split(self.maxconn);
        let spare = split(
            self.conn_fds
                .saturating_sub(self.maxconn * self.fds_per_conn),
        );
        ShardShare {
            max_conns: max_conns as usize,
            fds: (max_conns * self.fds_per_conn + spare) as usize,
        }
    }
}

/// Descriptors one client connection of `config` may need at once: its own and its server's,
/// plus a pipe (two descriptors) per direction relayed with splice(2) when any proxy asks
/// for `option splice-*` (a `mode tcp` relay or an upgraded connection).
pub fn fds_per_conn(config: &Config) -> u64 {
    let request = config.proxies.iter().any(|p| p.splice.request);
    let response = config.proxies.iter().any(|p| p.splice.response);
    2 + 2 * u64::from(request) + 2 * u64::from(response)
}

/// Raises the open-file limit as far as allowed and returns how it is shared out. `fixed`
/// counts descriptors held for the whole run besides `RESERVED_FDS` (the listeners).
/// With `maxconn` set, the limit is raised to fit it with one idle server connection each.
pub fn prepare(maxconn: Option<u32>, fds_per_conn: u64, fixed: u64) -> Budget {
    let fixed = fixed + RESERVED_FDS;
    let wanted = maxconn.map_or(1 << 20, |m| u64::from(m) * (fds_per_conn + 1) + fixed);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            let raised = libc::rlimit {
                rlim_cur: wanted.max(limit.rlim_cur),
                rlim_max: wanted.max(limit.rlim_max),
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
                // Not privileged: go up to the hard limit.
                let capped = libc::rlimit {
                    rlim_cur: wanted.min(limit.rlim_max).max(limit.rlim_cur),
                    rlim_max: limit.rlim_max,
                };
                libc::setrlimit(libc::RLIMIT_NOFILE, &capped);
            }
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        }
    }
    plan(limit.rlim_cur, maxconn, fds_per_conn, fixed)
}

/// The budget for a descriptor limit of `fd_limit`, `fixed` of them held for the whole run.
fn plan(fd_limit: u64, maxconn: Option<u32>, fds_per_conn: u64, fixed: u64) -> Budget {
    let fds_per_conn = fds_per_conn.max(1);
    let conn_fds = fd_limit.saturating_sub(fixed);
    let from_fds = conn_fds / fds_per_conn;
    let maxconn = match maxconn {
        Some(m) => u64::from(m).min(from_fds),
        None => from_fds.min(1 << 20),
    };
    Budget {
        maxconn: maxconn.max(1),
        fds_per_conn,
        conn_fds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_and_the_pool_are_counted() {
        let b = plan(1024, None, 6, 258);
        assert_eq!(b.maxconn, 127, "(1024 - 258) / 6");
        let b = plan(1024, None, 2, 258);
        assert_eq!(b.maxconn, 383);
        let b = plan(100_000, Some(1000), 2, 258);
        assert_eq!(b.maxconn, 1000);
        assert_eq!(
            b.conn_fds - b.maxconn * 2,
            100_000 - 258 - 2000,
            "left to the pool"
        );
    }

    #[test]
    fn shares_add_up_to_the_budget() {
        let b = plan(1024, None, 6, 258);
        let shares: Vec<ShardShare> = (0..3).map(|i| b.share(i, 3)).collect();
        assert_eq!(
            shares.iter().map(|s| s.max_conns as u64).sum::<u64>(),
            b.maxconn
        );
        assert_eq!(shares.iter().map(|s| s.fds as u64).sum::<u64>(), b.conn_fds);
        for s in shares {
            assert!(s.fds >= s.max_conns * 6, "{s:?}");
        }
    }

    #[test]
    fn descriptors_per_connection_follow_splice() {
        let load = |text: &str| {
            crate::config::load_sources(&[("t".into(), text.into())])
                .unwrap()
                .config
        };
        let plain = load("listen l\n mode tcp\n bind :1\n server s 127.0.0.1:2\n");
        assert_eq!(fds_per_conn(&plain), 2);
        let spliced =
            load("listen l\n mode tcp\n option splice-auto\n bind :1\n server s 127.0.0.1:2\n");
        assert_eq!(fds_per_conn(&spliced), 6);
    }
}
