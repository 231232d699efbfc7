//! The stats as Prometheus text, with the metric names, labels and help texts of HAProxy
//! 2.6's exporter (`addons/promex`), so HAProxy dashboards and alerts keep working; plus
//! ringlb's own metrics (shards, configuration generation, response-time histograms) under
//! `ringlb_`.

use std::fmt::Write as _;

use super::page::{Buckets, StatsPage};
use super::rows::{RowKind, StatRow};

/// On which rows a metric exists.
const FE: u8 = 1;
const BE: u8 = 2;
const SV: u8 = 4;

/// How a metric's value is taken from its column.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Render {
    /// The number as it is.
    Plain,
    /// Milliseconds in the CSV, seconds in Prometheus.
    Millis,
    /// Only for HTTP proxies (promex skips TCP ones).
    Http,
}

/// One of promex's per-proxy metrics.
struct Metric {
    column: &'static str,
    name: &'static str,
    help: &'static str,
    counter: bool,
    on: u8,
    render: Render,
}

const fn m(
    column: &'static str,
    name: &'static str,
    on: u8,
    counter: bool,
    render: Render,
    help: &'static str,
) -> Metric {
    Metric {
        column,
        name,
        help,
        counter,
        on,
        render,
    }
}

use Render::{Http, Millis, Plain};

/// Stands for the status metrics, which promex writes one sample per state.
const STATUS: &str = "status";
/// Stands for the response-class metric, one sample per class.
const HRSP: &str = "hrsp_1xx";
/// Stands for the check-status metric, one sample per check result.
const CHECK_STATUS: &str = "check_status";
/// Stands for the backends' aggregates of their servers' states.
const AGG_SERVER: &str = "agg_server_status";
const AGG_SERVER_CHECK: &str = "agg_server_check_status";
const AGG_CHECK: &str = "agg_check_status";

/// promex's per-proxy metrics in its order (the CSV's), with its help texts.
#[rustfmt::skip]
const METRICS: &[Metric] = &[
    m("qcur", "current_queue", BE | SV, false, Plain, "Number of current queued connections"),
    m("qmax", "max_queue", BE | SV, false, Plain, "Highest value of queued connections encountered since process started"),
    m("scur", "current_sessions", FE | BE | SV, false, Plain, "Number of current sessions on the frontend, backend or server"),
    m("smax", "max_sessions", FE | BE | SV, false, Plain, "Highest value of current sessions encountered since process started"),
    m("slim", "limit_sessions", FE | BE | SV, false, Plain, "Frontend/listener/server's maxconn, backend's fullconn"),
    m("stot", "sessions_total", FE | BE | SV, true, Plain, "Total number of sessions since process started"),
    m("bin", "bytes_in_total", FE | BE | SV, true, Plain, "Total number of request bytes since process started"),
    m("bout", "bytes_out_total", FE | BE | SV, true, Plain, "Total number of response bytes since process started"),
    m("dreq", "requests_denied_total", FE | BE, true, Plain, "Total number of denied requests since process started"),
    m("dresp", "responses_denied_total", FE | BE | SV, true, Plain, "Total number of denied responses since process started"),
    m("ereq", "request_errors_total", FE, true, Plain, "Total number of invalid requests since process started"),
    m("econ", "connection_errors_total", BE | SV, true, Plain, "Total number of failed connections to server since the worker process started"),
    m("eresp", "response_errors_total", BE | SV, true, Plain, "Total number of invalid responses since the worker process started"),
    m("wretr", "retry_warnings_total", BE | SV, true, Plain, "Total number of server connection retries since the worker process started"),
    m("wredis", "redispatch_warnings_total", BE | SV, true, Plain, "Total number of server redispatches due to connection failures since the worker process started"),
    m(STATUS, "status", FE | BE | SV, false, Plain, "Current status of the service, per state label value."),
    m("weight", "weight", BE | SV, false, Plain, "Server's effective weight, or sum of active servers' effective weights for a backend"),
    m("act", "active_servers", BE, false, Plain, "Total number of active UP servers with a non-zero weight"),
    m("bck", "backup_servers", BE, false, Plain, "Total number of backup UP servers with a non-zero weight"),
    m("chkfail", "check_failures_total", SV, true, Plain, "Total number of failed individual health checks per server/backend, since the worker process started"),
    m("chkdown", "check_up_down_total", BE | SV, true, Plain, "Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started"),
    m("lastchg", "check_last_change_seconds", BE | SV, false, Plain, "How long ago the last server state changed, in seconds"),
    m("downtime", "downtime_seconds_total", BE | SV, true, Plain, "Total time spent in DOWN state, for server or backend"),
    m("qlimit", "queue_limit", SV, false, Plain, "Limit on the number of connections in queue, for servers only (maxqueue argument)"),
    m("throttle", "current_throttle", SV, false, Plain, "Throttling ratio applied to a server's maxconn and weight during the slowstart period (0 to 100%)"),
    m("lbtot", "loadbalanced_total", BE | SV, true, Plain, "Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)"),
    m("rate_lim", "limit_session_rate", FE, false, Plain, "Limit on the number of sessions accepted in a second (frontend only, 'rate-limit sessions' setting)"),
    m("rate_max", "max_session_rate", FE | BE | SV, false, Plain, "Highest value of sessions per second observed since the worker process started"),
    m(CHECK_STATUS, "check_status", SV, false, Plain, "Status of last health check, per state label value."),
    m("check_code", "check_code", SV, false, Plain, "layer5-7 code, if available of the last health check."),
    m("check_duration", "check_duration_seconds", SV, false, Millis, "Total duration of the latest server health check, in seconds."),
    m(HRSP, "http_responses_total", FE | BE | SV, true, Http, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m("req_rate_max", "http_requests_rate_max", FE, false, Http, "Highest value of http requests observed since the worker process started"),
    m("req_tot", "http_requests_total", FE | BE, true, Http, "Total number of HTTP requests processed by this object since the worker process started"),
    m("cli_abrt", "client_aborts_total", BE | SV, true, Plain, "Total number of requests or connections aborted by the client since the worker process started"),
    m("srv_abrt", "server_aborts_total", BE | SV, true, Plain, "Total number of requests or connections aborted by the server since the worker process started"),
    m("comp_in", "http_comp_bytes_in_total", FE | BE, true, Http, "Total number of bytes submitted to the HTTP compressor for this object since the worker process started"),
    m("comp_out", "http_comp_bytes_out_total", FE | BE, true, Http, "Total number of bytes emitted by the HTTP compressor for this object since the worker process started"),
    m("comp_byp", "http_comp_bytes_bypassed_total", FE | BE, true, Http, "Total number of bytes that bypassed HTTP compression for this object since the worker process started (CPU/memory/bandwidth limitation)"),
    m("comp_rsp", "http_comp_responses_total", FE | BE, true, Http, "Total number of HTTP responses that were compressed for this object since the worker process started"),
    m("lastsess", "last_session_seconds", BE | SV, false, Plain, "How long ago some traffic was seen on this object on this worker process, in seconds"),
    m("qtime", "queue_time_average_seconds", BE | SV, false, Millis, "Avg. queue time for last 1024 successful connections."),
    m("ctime", "connect_time_average_seconds", BE | SV, false, Millis, "Avg. connect time for last 1024 successful connections."),
    m("rtime", "response_time_average_seconds", BE | SV, false, Millis, "Avg. response time for last 1024 successful connections."),
    m("ttime", "total_time_average_seconds", BE | SV, false, Millis, "Avg. total time for last 1024 successful connections."),
    m("conn_rate_max", "connections_rate_max", FE, false, Plain, "Highest value of connections per second observed since the worker process started"),
    m("conn_tot", "connections_total", FE, true, Plain, "Total number of new connections accepted on this frontend since the worker process started"),
    m("intercepted", "intercepted_requests_total", FE, true, Http, "Total number of HTTP requests intercepted on the frontend (redirects/stats/services) since the worker process started"),
    m("dcon", "denied_connections_total", FE, true, Plain, "Total number of incoming connections blocked on a listener/frontend by a tcp-request connection rule since the worker process started"),
    m("dses", "denied_sessions_total", FE, true, Plain, "Total number of incoming sessions blocked on a listener/frontend by a tcp-request connection rule since the worker process started"),
    m("wrew", "failed_header_rewriting_total", FE | BE | SV, true, Plain, "Total number of failed HTTP header rewrites since the worker process started"),
    m("connect", "connection_attempts_total", BE | SV, true, Plain, "Total number of outgoing connection attempts on this backend/server since the worker process started"),
    m("reuse", "connection_reuses_total", BE | SV, true, Plain, "Total number of reused connection on this backend/server since the worker process started"),
    m("cache_lookups", "http_cache_lookups_total", FE | BE, true, Http, "Total number of HTTP requests looked up in the cache on this frontend/backend since the worker process started"),
    m("cache_hits", "http_cache_hits_total", FE | BE, true, Http, "Total number of HTTP requests not found in the cache on this frontend/backend since the worker process started"),
    m("srv_icur", "idle_connections_current", SV, false, Plain, "Current number of idle connections available for reuse on this server"),
    m("src_ilim", "idle_connections_limit", SV, false, Plain, "Limit on the number of available idle connections on this server (server 'pool_max_conn' directive)"),
    m("qtime_max", "max_queue_time_seconds", BE | SV, false, Millis, "Maximum observed time spent in the queue"),
    m("ctime_max", "max_connect_time_seconds", BE | SV, false, Millis, "Maximum observed time spent waiting for a connection to complete"),
    m("rtime_max", "max_response_time_seconds", BE | SV, false, Millis, "Maximum observed time spent waiting for a server response"),
    m("ttime_max", "max_total_time_seconds", BE | SV, false, Millis, "Maximum observed total request+response time (request+queue+connect+response+processing)"),
    m("eint", "internal_errors_total", FE | BE | SV, true, Plain, "Total number of internal errors since process started"),
    m("idle_conn_cur", "unsafe_idle_connections_current", SV, false, Plain, "Current number of unsafe idle connections"),
    m("safe_conn_cur", "safe_idle_connections_current", SV, false, Plain, "Current number of safe idle connections"),
    m("used_conn_cur", "used_connections_current", SV, false, Plain, "Current number of connections in use"),
    m("need_conn_est", "need_connections_current", SV, false, Plain, "Estimated needed number of connections"),
    m("uweight", "uweight", BE | SV, false, Plain, "Server's user weight, or sum of active servers' user weights for a backend"),
    m(AGG_SERVER, "agg_server_status", BE, false, Plain, "Backend's aggregated gauge of servers' status"),
    m(AGG_SERVER_CHECK, "agg_server_check_status", BE, false, Plain, "Backend's aggregated gauge of servers' state check status"),
    m(AGG_CHECK, "agg_check_status", BE, false, Plain, "Backend's aggregated gauge of servers' state check status"),
];

/// promex's response classes, in the order of the `hrsp_*` columns.
const CODES: [(&str, &str); 6] = [
    ("hrsp_1xx", "1xx"),
    ("hrsp_2xx", "2xx"),
    ("hrsp_3xx", "3xx"),
    ("hrsp_4xx", "4xx"),
    ("hrsp_5xx", "5xx"),
    ("hrsp_other", "other"),
];

/// promex's server states.
const SERVER_STATES: [&str; 5] = ["DOWN", "UP", "MAINT", "DRAIN", "NOLB"];

/// The check results promex lists (those at or after "failed" in HAProxy's order).
const CHECK_STATES: [&str; 16] = [
    "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP",
    "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK",
];

/// The whole exposition: process metrics, then per-proxy metrics, then ringlb's own.
pub fn metrics(page: &StatsPage) -> String {
    let mut out = Out::default();
    process(&mut out, page);
    for (prefix, kind, bit) in [
        ("haproxy_frontend_", RowKind::Frontend, FE),
        ("haproxy_backend_", RowKind::Backend, BE),
        ("haproxy_server_", RowKind::Server, SV),
    ] {
        let rows: Vec<&StatRow> = page.rows.iter().filter(|r| r.kind == kind).collect();
        for metric in METRICS.iter().filter(|m| m.on & bit != 0) {
            proxy_metric(&mut out, prefix, metric, &rows, &page.rows);
        }
    }
    histograms(&mut out, page);
    out.text
}

/// The text being built, and whether the current metric's header is written yet (promex
/// writes HELP/TYPE only once it has a sample, so a metric no row has is left out).
#[derive(Default)]
struct Out {
    text: String,
    header_done: bool,
}

impl Out {
    fn start(&mut self) {
        self.header_done = false;
    }

    fn sample(&mut self, name: &str, help: &str, kind: &str, labels: &[(&str, &str)], value: &str) {
        if !self.header_done {
            let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
            self.header_done = true;
        }
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{key}=\"{}\"", escape_label(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }
}

/// A label value as the text format needs it: backslash, quote and newline escaped, since
/// proxy and server names come from the configuration.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn process(out: &mut Out, page: &StatsPage) {
    let p = &page.process;
    let gauge = |out: &mut Out, name: &str, help: &str, value: String| {
        out.start();
        out.sample(
            &format!("haproxy_process_{name}"),
            help,
            "gauge",
            &[],
            &value,
        );
    };
    gauge(
        out,
        "nbthread",
        "Number of started threads (global.nbthread)",
        p.shards.len().to_string(),
    );
    gauge(
        out,
        "nbproc",
        "Number of started worker processes (historical, always 1)",
        "1".into(),
    );
    gauge(
        out,
        "relative_process_id",
        "Relative worker process number (1)",
        "1".into(),
    );
    gauge(
        out,
        "uptime_seconds",
        "How long ago this worker process was started (seconds)",
        p.uptime.as_secs().to_string(),
    );
    if let Some(max) = p.max_connections {
        gauge(
            out,
            "max_connections",
            "Hard limit on the number of per-process connections (configured or imposed by Ulimit-n)",
            max.to_string(),
        );
    }
    gauge(
        out,
        "current_connections",
        "Current number of connections on this worker process",
        p.current_connections.to_string(),
    );
    if !page.hide_version {
        out.start();
        out.sample(
            "haproxy_process_build_info",
            "Build info",
            "gauge",
            &[("version", &p.version)],
            "1",
        );
    }
    out.start();
    for (i, driver) in p.shards.iter().enumerate() {
        out.sample(
            "ringlb_shard_info",
            "One per shard (thread), with the I/O driver it runs",
            "gauge",
            &[("shard", &i.to_string()), ("driver", driver)],
            "1",
        );
    }
    out.start();
    out.sample(
        "ringlb_config_generation",
        "The configuration generation in force (1 at start, +1 per change)",
        "gauge",
        &[],
        &p.generation.to_string(),
    );
    out.start();
    out.sample(
        "ringlb_reloads_total",
        "Reloads done since start",
        "counter",
        &[],
        &p.reloads.to_string(),
    );
    if let Some(state) = &p.vrrp {
        out.start();
        out.sample(
            "ringlb_vrrp_state",
            "The VRRP state, as a label",
            "gauge",
            &[("state", state)],
            "1",
        );
    }
}

/// The labels that name a row: `proxy`, and `server` for servers.
fn names(row: &StatRow) -> Vec<(&'static str, &str)> {
    let mut labels = vec![("proxy", row.text_of("pxname"))];
    if row.kind == RowKind::Server {
        labels.push(("server", row.text_of("svname")));
    }
    labels
}

/// A server's state as promex names it, from our status words (`UP 1/3` is still up,
/// `DOWN 1/2` still down, `no check` is up).
fn server_state(row: &StatRow) -> &'static str {
    let status = row.text_of("status");
    if status.starts_with("MAINT") {
        "MAINT"
    } else if status.starts_with("DRAIN") {
        "DRAIN"
    } else if status.starts_with("NOLB") {
        "NOLB"
    } else if status.starts_with("DOWN") {
        "DOWN"
    } else {
        "UP"
    }
}

/// Whether a row's proxy is HTTP (promex skips HTTP-only metrics on TCP proxies).
fn is_http(row: &StatRow) -> bool {
    row.text_of("mode") == "http"
}

/// A value as promex prints it: the integer, seconds with 6 decimals for milliseconds, NaN
/// for an empty field.
fn value(row: &StatRow, column: &str, render: Render) -> String {
    match (row.num_of(column), render) {
        (Some(ms), Render::Millis) => format!("{:.6}", ms as f64 / 1000.0),
        (Some(n), _) => n.to_string(),
        (None, _) => "NaN".into(),
    }
}

fn proxy_metric(out: &mut Out, prefix: &str, metric: &Metric, rows: &[&StatRow], all: &[StatRow]) {
    let name = format!("{prefix}{}", metric.name);
    let kind = if metric.counter { "counter" } else { "gauge" };
    let sample = |out: &mut Out, labels: &[(&str, &str)], v: &str| {
        out.sample(&name, metric.help, kind, labels, v);
    };
    out.start();
    match metric.column {
        STATUS => {
            for row in rows {
                let (states, now): (&[&str], &str) = match row.kind {
                    RowKind::Frontend => (
                        &["DOWN", "UP"],
                        if row.text_of("status") == "STOP" {
                            "DOWN"
                        } else {
                            "UP"
                        },
                    ),
                    RowKind::Backend => (
                        &["DOWN", "UP"],
                        if row.text_of("status") == "DOWN" {
                            "DOWN"
                        } else {
                            "UP"
                        },
                    ),
                    RowKind::Server => (&SERVER_STATES, server_state(row)),
                };
                for state in states {
                    let mut labels = names(row);
                    labels.push(("state", state));
                    sample(out, &labels, if *state == now { "1" } else { "0" });
                }
            }
        }
        HRSP => {
            // promex writes the classes as one metric: all proxies' 1xx, then 2xx, …
            for (column, code) in CODES {
                for row in rows.iter().filter(|r| is_http(r)) {
                    let mut labels = names(row);
                    labels.push(("code", code));
                    sample(out, &labels, &value(row, column, Plain));
                }
            }
        }
        CHECK_STATUS => {
            for row in rows {
                let current = row.text_of("check_status");
                if current.is_empty() {
                    continue;
                }
                for state in CHECK_STATES {
                    let mut labels = names(row);
                    labels.push(("state", state));
                    sample(out, &labels, if current == state { "1" } else { "0" });
                }
            }
        }
        AGG_SERVER | AGG_SERVER_CHECK | AGG_CHECK => {
            for row in rows {
                let proxy = row.text_of("pxname");
                let servers: Vec<&StatRow> = all
                    .iter()
                    .filter(|s| s.kind == RowKind::Server && s.text_of("pxname") == proxy)
                    .collect();
                if servers.is_empty() {
                    continue;
                }
                let (states, of): (&[&str], fn(&StatRow) -> &str) = if metric.column == AGG_CHECK {
                    (&CHECK_STATES, |s| s.text_of("check_status"))
                } else {
                    (&SERVER_STATES, server_state)
                };
                for state in states {
                    let count = servers.iter().filter(|s| of(s) == *state).count();
                    sample(
                        out,
                        &[("proxy", proxy), ("state", state)],
                        &count.to_string(),
                    );
                }
            }
        }
        column => {
            for row in rows {
                if metric.render == Render::Http && !is_http(row) {
                    continue;
                }
                // promex leaves out servers without a running check for these two.
                if matches!(column, "check_code" | "check_duration")
                    && row.text_of("check_status").is_empty()
                {
                    continue;
                }
                let v = if column == "check_code" {
                    // promex prints 0 where the check had no layer-7 code.
                    row.num_of(column).unwrap_or(0).to_string()
                } else {
                    value(row, column, metric.render)
                };
                sample(out, &names(row), &v);
            }
        }
    }
}

/// `ringlb_{backend,server}_response_time_seconds` as native histograms.
fn histograms(out: &mut Out, page: &StatsPage) {
    for (server_level, name, help) in [
        (
            false,
            "ringlb_backend_response_time_seconds",
            "Time from sending the request to the server to receiving its response head, per backend",
        ),
        (
            true,
            "ringlb_server_response_time_seconds",
            "Time from sending the request to the server to receiving its response head, per server",
        ),
    ] {
        out.start();
        for latency in page
            .latencies
            .iter()
            .filter(|l| l.server.is_some() == server_level)
        {
            let mut labels = vec![("proxy", latency.backend.as_str())];
            if let Some(server) = &latency.server {
                labels.push(("server", server.as_str()));
            }
            histogram(out, name, help, &labels, &latency.buckets);
        }
    }
}

fn histogram(out: &mut Out, name: &str, help: &str, labels: &[(&str, &str)], buckets: &Buckets) {
    let bucket_name = format!("{name}_bucket");
    let mut saw_inf = false;
    for (le, count) in &buckets.le {
        let bound = if le.is_infinite() {
            saw_inf = true;
            "+Inf".to_string()
        } else {
            le.to_string()
        };
        let mut with_le = labels.to_vec();
        with_le.push(("le", &bound));
        out.sample_named(name, &bucket_name, help, &with_le, &count.to_string());
    }
    // The format requires a +Inf bucket; it holds every response.
    if !saw_inf {
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        out.sample_named(
            name,
            &bucket_name,
            help,
            &with_le,
            &buckets.count.to_string(),
        );
    }
    out.sample_named(
        name,
        &format!("{name}_sum"),
        help,
        labels,
        &buckets.sum.to_string(),
    );
    out.sample_named(
        name,
        &format!("{name}_count"),
        help,
        labels,
        &buckets.count.to_string(),
    );
}

impl Out {
    /// A sample of a histogram family: the header names the family, the sample its series.
    fn sample_named(
        &mut self,
        family: &str,
        series: &str,
        help: &str,
        labels: &[(&str, &str)],
        value: &str,
    ) {
        if !self.header_done {
            let _ = writeln!(
                self.text,
                "# HELP {family} {help}\n# TYPE {family} histogram"
            );
            self.header_done = true;
        }
        let header_done = self.header_done;
        self.sample(series, help, "histogram", labels, value);
        self.header_done = header_done;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use prometheus_parse::{Scrape, Value as PValue};

    use super::super::json::test_rows::row;
    use super::super::page::{Latency, PageOptions, Percentiles, ProcessInfo};
    use super::*;

    /// A page with an HTTP frontend, a backend with an UP server, a MAINT one and a
    /// hostile name, and a TCP proxy.
    pub(crate) fn sample_page() -> StatsPage {
        let rows = vec![
            row(
                RowKind::Frontend,
                2,
                0,
                &[
                    ("pxname", "fe"),
                    ("svname", "FRONTEND"),
                    ("scur", "3"),
                    ("smax", "9"),
                    ("slim", "100"),
                    ("stot", "42"),
                    ("bin", "1000"),
                    ("bout", "2000"),
                    ("dreq", "0"),
                    ("dresp", "0"),
                    ("ereq", "1"),
                    ("status", "OPEN"),
                    ("rate", "2"),
                    ("rate_lim", "0"),
                    ("rate_max", "5"),
                    ("hrsp_1xx", "0"),
                    ("hrsp_2xx", "40"),
                    ("hrsp_3xx", "0"),
                    ("hrsp_4xx", "1"),
                    ("hrsp_5xx", "1"),
                    ("hrsp_other", "0"),
                    ("req_rate", "2"),
                    ("req_rate_max", "7"),
                    ("req_tot", "42"),
                    ("mode", "http"),
                    ("conn_tot", "42"),
                ],
            ),
            row(
                RowKind::Server,
                3,
                1,
                &[
                    ("pxname", "b"),
                    ("svname", "s1"),
                    ("qcur", "0"),
                    ("scur", "2"),
                    ("stot", "30"),
                    ("status", "UP"),
                    ("weight", "1"),
                    ("act", "1"),
                    ("bck", "0"),
                    ("chkfail", "0"),
                    ("chkdown", "0"),
                    ("lastchg", "3723"),
                    ("downtime", "0"),
                    ("check_status", "L7OK"),
                    ("check_code", "200"),
                    ("check_duration", "1"),
                    ("hrsp_2xx", "30"),
                    ("hrsp_5xx", "1"),
                    ("rtime", "12"),
                    ("rtime_max", "250"),
                    ("mode", "http"),
                    ("lastsess", "0"),
                    ("rate", "1"),
                    ("rate_max", "4"),
                ],
            ),
            row(
                RowKind::Server,
                3,
                2,
                &[
                    ("pxname", "b"),
                    ("svname", "we\"ird\\"),
                    ("scur", "0"),
                    ("stot", "5"),
                    ("status", "MAINT"),
                    ("weight", "2"),
                    ("act", "1"),
                    ("bck", "0"),
                    ("check_status", "L4CON"),
                    ("check_duration", "0"),
                    ("hrsp_2xx", "5"),
                    ("mode", "http"),
                    ("lastsess", "-1"),
                ],
            ),
            row(
                RowKind::Backend,
                3,
                0,
                &[
                    ("pxname", "b"),
                    ("svname", "BACKEND"),
                    ("scur", "2"),
                    ("stot", "35"),
                    ("status", "UP"),
                    ("weight", "1"),
                    ("act", "1"),
                    ("bck", "0"),
                    ("hrsp_2xx", "35"),
                    ("hrsp_5xx", "1"),
                    ("req_tot", "36"),
                    ("rtime", "10"),
                    ("mode", "http"),
                    ("algo", "roundrobin"),
                ],
            ),
            row(
                RowKind::Frontend,
                4,
                0,
                &[
                    ("pxname", "db"),
                    ("svname", "FRONTEND"),
                    ("scur", "1"),
                    ("status", "OPEN"),
                    ("req_tot", "0"),
                    ("mode", "tcp"),
                ],
            ),
            row(
                RowKind::Backend,
                4,
                0,
                &[
                    ("pxname", "db"),
                    ("svname", "BACKEND"),
                    ("scur", "1"),
                    ("status", "DOWN"),
                    ("mode", "tcp"),
                ],
            ),
        ];
        let latency = |server: Option<&str>, count: u64| Latency {
            backend: "b".into(),
            server: server.map(String::from),
            percentiles: Percentiles {
                count,
                p50: 1500,
                p99: 12000,
                p999: 250_000,
            },
            buckets: Buckets {
                le: vec![
                    (0.001, count / 4),
                    (0.01, count / 2),
                    (0.1, count.saturating_sub(1)),
                    (f64::INFINITY, count),
                ],
                sum: count as f64 * 0.004,
                count,
            },
        };
        StatsPage {
            rows,
            process: ProcessInfo {
                version: "0.1.0".into(),
                pid: 4242,
                node: "lb1".into(),
                uptime: Duration::from_secs(3 * 86400 + 3723),
                shards: vec!["io_uring", "epoll"],
                current_connections: 4,
                max_connections: Some(1000),
                generation: 3,
                reloads: 2,
                vrrp: Some("MASTER".into()),
            },
            latencies: vec![
                latency(None, 36),
                latency(Some("s1"), 30),
                latency(Some("we\"ird\\"), 0),
            ],
            uri: "/stats".into(),
            refresh: Some(Duration::from_secs(10)),
            admin: false,
            show_legends: false,
            hide_version: false,
            options: PageOptions::default(),
            action_status: None,
            user: None,
        }
    }

    fn scrape(text: &str) -> Scrape {
        Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
    }

    fn find(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> PValue {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .unwrap_or_else(|| panic!("{metric} {labels:?} missing"))
            .value
            .clone()
    }

    #[test]
    fn values_match_the_model() {
        let page = sample_page();
        let text = metrics(&page);
        let s = scrape(&text);
        assert_eq!(
            find(&s, "haproxy_process_nbthread", &[]),
            PValue::Gauge(2.0)
        );
        assert_eq!(
            find(&s, "haproxy_process_uptime_seconds", &[]),
            PValue::Gauge(262_923.0)
        );
        assert_eq!(
            find(&s, "haproxy_process_max_connections", &[]),
            PValue::Gauge(1000.0)
        );
        assert_eq!(
            find(&s, "haproxy_process_build_info", &[("version", "0.1.0")]),
            PValue::Gauge(1.0)
        );
        assert_eq!(
            find(&s, "ringlb_config_generation", &[]),
            PValue::Gauge(3.0)
        );
        assert_eq!(find(&s, "ringlb_reloads_total", &[]), PValue::Counter(2.0));
        assert_eq!(
            find(
                &s,
                "ringlb_shard_info",
                &[("shard", "1"), ("driver", "epoll")]
            ),
            PValue::Gauge(1.0)
        );
        assert_eq!(
            find(&s, "ringlb_vrrp_state", &[("state", "MASTER")]),
            PValue::Gauge(1.0)
        );
        assert_eq!(
            find(&s, "haproxy_frontend_current_sessions", &[("proxy", "fe")]),
            PValue::Gauge(3.0)
        );
        assert_eq!(
            find(&s, "haproxy_frontend_sessions_total", &[("proxy", "fe")]),
            PValue::Counter(42.0)
        );
        assert_eq!(
            find(
                &s,
                "haproxy_frontend_request_errors_total",
                &[("proxy", "fe")]
            ),
            PValue::Counter(1.0)
        );
        assert_eq!(
            find(
                &s,
                "haproxy_frontend_http_responses_total",
                &[("proxy", "fe"), ("code", "2xx")]
            ),
            PValue::Counter(40.0)
        );
        assert_eq!(
            find(
                &s,
                "haproxy_frontend_status",
                &[("proxy", "fe"), ("state", "UP")]
            ),
            PValue::Gauge(1.0)
        );
        assert_eq!(
            find(
                &s,
                "haproxy_backend_status",
                &[("proxy", "db"), ("state", "DOWN")]
            ),
            PValue::Gauge(1.0)
        );
        assert_eq!(
            find(
                &s,
                "haproxy_backend_status",
                &[("proxy", "db"), ("state", "UP")]
            ),
            PValue::Gauge(0.0)
        );
        assert_eq!(
            find(&s, "haproxy_backend_http_requests_total", &[("proxy", "b")]),
            PValue::Counter(36.0)
        );
        assert_eq!(
            find(
                &s,
                "haproxy_server_status",
                &[("proxy", "b"), ("server", "s1"), ("state", "UP")]
            ),
            PValue::Gauge(1.0)
        );
        assert_eq!(
            find(
                &s,
                "haproxy_server_status",
                &[("proxy", "b"), ("server", "s1"), ("state", "MAINT")]
            ),
            PValue::Gauge(0.0)
        );
        assert_eq!(
            find(
                &s,
                "haproxy_server_check_status",
                &[("server", "s1"), ("state", "L7OK")]
            ),
            PValue::Gauge(1.0)
        );
        assert_eq!(
            find(&s, "haproxy_server_check_code", &[("server", "s1")]),
            PValue::Gauge(200.0)
        );
        assert_eq!(
            find(
                &s,
                "haproxy_server_check_duration_seconds",
                &[("server", "s1")]
            ),
            PValue::Gauge(0.001)
        );
        assert_eq!(
            find(
                &s,
                "haproxy_server_max_response_time_seconds",
                &[("server", "s1")]
            ),
            PValue::Gauge(0.25)
        );
        assert_eq!(
            find(
                &s,
                "haproxy_server_check_last_change_seconds",
                &[("server", "s1")]
            ),
            PValue::Gauge(3723.0)
        );
        assert_eq!(
            find(
                &s,
                "haproxy_backend_agg_server_status",
                &[("proxy", "b"), ("state", "MAINT")]
            ),
            PValue::Gauge(1.0)
        );
        assert_eq!(
            find(
                &s,
                "haproxy_backend_agg_check_status",
                &[("proxy", "b"), ("state", "L4CON")]
            ),
            PValue::Gauge(1.0)
        );
        // HTTP-only metrics are left out for the TCP proxy, as promex does.
        assert!(!text.contains("haproxy_frontend_http_requests_total{proxy=\"db\"}"));
        assert!(!text.contains("haproxy_frontend_http_responses_total{proxy=\"db\""));
        // An empty field is NaN (promex prints NaN too).
        assert!(text.contains("haproxy_server_queue_limit{proxy=\"b\",server=\"s1\"} NaN\n"));
    }

    #[test]
    fn histograms_match_the_model() {
        let page = sample_page();
        let s = scrape(&metrics(&page));
        let PValue::Histogram(buckets) = find(
            &s,
            "ringlb_server_response_time_seconds",
            &[("server", "s1")],
        ) else {
            panic!("not a histogram");
        };
        let model = &page.latencies[1].buckets;
        assert_eq!(buckets.len(), model.le.len());
        for (parsed, (le, count)) in buckets.iter().zip(&model.le) {
            assert_eq!(parsed.less_than, *le);
            assert_eq!(parsed.count, *count as f64);
        }
        let PValue::Histogram(backend) = find(
            &s,
            "ringlb_backend_response_time_seconds",
            &[("proxy", "b")],
        ) else {
            panic!("not a histogram");
        };
        assert_eq!(backend.last().map(|b| b.count), Some(36.0));
        let text = metrics(&page);
        assert!(text.contains("# TYPE ringlb_backend_response_time_seconds histogram\n"));
        assert!(text.contains("ringlb_backend_response_time_seconds_sum{proxy=\"b\"} 0.144"));
        assert!(text.contains("ringlb_backend_response_time_seconds_count{proxy=\"b\"} 36\n"));
        assert!(text.contains("ringlb_server_response_time_seconds_bucket{proxy=\"b\",server=\"s1\",le=\"0.001\"} 7\n"));
        assert_eq!(
            text.matches("# TYPE ringlb_server_response_time_seconds histogram")
                .count(),
            1
        );
    }

    #[test]
    fn headers_once_per_metric_and_labels_escaped() {
        let text = metrics(&sample_page());
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            assert_eq!(text.matches(&format!("{line}\n")).count(), 1, "{line}");
        }
        assert!(text
            .contains("haproxy_server_current_sessions{proxy=\"b\",server=\"we\\\"ird\\\\\"} 0\n"));
        // Every sample line is `name{labels} value`, the value a number or NaN.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value == "NaN" || value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn hide_version_hides_build_info() {
        let mut page = sample_page();
        page.hide_version = true;
        assert!(!metrics(&page).contains("haproxy_process_build_info"));
    }
}
