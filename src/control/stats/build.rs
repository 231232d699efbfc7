//! Builds the stats page model from the control plane: the rows, the process block and the
//! response-time percentiles and buckets.

use std::time::Instant;

use crate::state::latency::LatencyHistogram;

use crate::control::plane::ControlPlane;

use super::page::{
    ActionStatus, Buckets, Latency, PageOptions, Percentiles, ProcessInfo, StatsPage,
};
use super::rows::stat_rows;

/// Upper bounds of the Prometheus buckets, seconds (`+Inf` comes last on its own).
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process block: version, pid, uptime, shards, connections, generation.
pub fn process_info(plane: &ControlPlane, now: Instant) -> ProcessInfo {
    ProcessInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        pid: std::process::id(),
        node: crate::observe::httplog::hostname().to_string(),
        uptime: now.saturating_duration_since(plane.started()),
        shards: plane.drivers().to_vec(),
        current_connections: plane.open_connections(),
        max_connections: plane.maxconn(),
        generation: plane.snapshot().generation,
        reloads: plane.reloads(),
        vrrp: (!plane.vrrp.is_empty()).then(|| {
            plane
                .vrrp
                .iter()
                .map(|v| {
                    format!(
                        "{} {} (priority {})",
                        v.name,
                        v.state.keyword(),
                        v.effective_priority
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        }),
    }
}

fn percentiles(h: &LatencyHistogram) -> Percentiles {
    let count = h.len();
    let at = |q: f64| {
        if count == 0 {
            0
        } else {
            h.value_at_quantile(q)
        }
    };
    Percentiles {
        count,
        p50: at(0.5),
        p99: at(0.99),
        p999: at(0.999),
    }
}

fn buckets(h: &LatencyHistogram) -> Buckets {
    let count = h.len();
    let mut le: Vec<(f64, u64)> = BUCKETS
        .iter()
        .map(|&s| {
            let micros = (s * 1e6) as u64;
            (
                s,
                if count == 0 {
                    0
                } else {
                    h.count_between(0, micros)
                },
            )
        })
        .collect();
    le.push((f64::INFINITY, count));
    Buckets {
        le,
        sum: h.mean() * count as f64 / 1e6,
        count,
    }
}

/// Response times of every backend and its servers in the configuration in force.
pub fn latencies(plane: &ControlPlane) -> Vec<Latency> {
    let totals = plane.latencies();
    let empty = crate::state::latency::new_histogram();
    let mut out = Vec::new();
    for proxy in plane.config().backends() {
        for server in &proxy.servers {
            let h = totals.server(&proxy.name, &server.name).unwrap_or(&empty);
            out.push(Latency {
                backend: proxy.name.clone(),
                server: Some(server.name.clone()),
                percentiles: percentiles(h),
                buckets: buckets(h),
            });
        }
        let h = totals.backend(&proxy.name);
        out.push(Latency {
            backend: proxy.name.clone(),
            server: None,
            percentiles: percentiles(&h),
            buckets: buckets(&h),
        });
    }
    out
}

/// What the stats page of `proxy` shows now.
pub fn page(
    plane: &ControlPlane,
    proxy: &crate::config::Proxy,
    admin: bool,
    user: Option<String>,
    options: PageOptions,
    action_status: Option<ActionStatus>,
) -> StatsPage {
    let now = Instant::now();
    StatsPage {
        rows: stat_rows(plane, now),
        process: process_info(plane, now),
        latencies: latencies(plane),
        uri: proxy.stats.uri.clone(),
        refresh: proxy.stats.refresh.filter(|_| !options.norefresh),
        admin,
        show_legends: proxy.stats.show_legends,
        hide_version: proxy.stats.hide_version,
        options,
        action_status,
        user,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::vrrp::machine::{Counters, State};
    use crate::control::vrrp::runner::VrrpStatus;

    #[test]
    fn the_process_block_shows_each_vrrp_instance() {
        let (mut plane, _rx) =
            crate::control::plane::test_plane("backend b\n server a 127.0.0.1:1\n");
        assert_eq!(
            process_info(&plane, Instant::now()).vrrp,
            None,
            "no VRRP, no line"
        );
        plane.vrrp = vec![VrrpStatus {
            name: "VI_1".into(),
            interface: "eth0".into(),
            vrid: 51,
            version: 2,
            state: State::Master,
            priority: 150,
            effective_priority: 90,
            master: None,
            counters: Counters::default(),
            fault: None,
        }];
        let info = process_info(&plane, Instant::now());
        assert_eq!(info.vrrp.as_deref(), Some("VI_1 MASTER (priority 90)"));
        let page = super::super::html::page(&StatsPage {
            rows: Vec::new(),
            process: info,
            latencies: Vec::new(),
            uri: "/haproxy".into(),
            refresh: None,
            admin: false,
            show_legends: false,
            hide_version: false,
            options: PageOptions::default(),
            action_status: None,
            user: None,
        });
        assert!(page.contains("VI_1 MASTER (priority 90)"), "{page}");
    }
}
