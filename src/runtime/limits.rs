//! Process limits: file descriptors and the connection ceiling derived from them.

/// Descriptors kept for listeners, logs, pipes and the control thread.
const RESERVED_FDS: u64 = 256;

/// Raises the open-file limit as far as allowed and returns the global connection ceiling:
/// `maxconn` if configured (each proxied connection needs two descriptors), else what the
/// descriptor limit allows, as HAProxy does.
pub fn prepare(maxconn: Option<u32>) -> u64 {
    let wanted = maxconn.map_or(1 << 20, |m| u64::from(m) * 2 + RESERVED_FDS);
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
    let from_fds = limit.rlim_cur.saturating_sub(RESERVED_FDS) / 2;
    match maxconn {
        Some(m) => u64::from(m).min(from_fds.max(1)),
        None => from_fds.clamp(1, 1 << 20),
    }
}
