//! What the stats page, its JSON and the Prometheus export show: the CSV rows plus the
//! process block and the response-time percentiles. Built by the control thread per request;
//! rendered by `html`, `json` and `prometheus`.

use std::time::Duration;

use super::rows::StatRow;

/// Facts about the running process for the page's process block and `show info`.
#[derive(Debug, Clone)]
pub struct ProcessInfo {
    /// ringlb's version.
    pub version: String,
    /// The process id.
    pub pid: u32,
    /// The host name.
    pub node: String,
    /// Time since start.
    pub uptime: Duration,
    /// One entry per shard: the I/O driver it runs (`io_uring` or `epoll`).
    pub shards: Vec<&'static str>,
    /// Client connections open now, over every shard.
    pub current_connections: u64,
    /// The process-wide connection limit (`maxconn`), if one is set.
    pub max_connections: Option<u64>,
    /// The configuration generation in force (1 at start, +1 per change).
    pub generation: u64,
    /// Reloads done since start.
    pub reloads: u64,
    /// The VRRP state, once VRRP runs.
    pub vrrp: Option<String>,
}

impl ProcessInfo {
    /// The uptime as HAProxy writes it: `0d 0h00m07s`.
    pub fn uptime_text(&self) -> String {
        let secs = self.uptime.as_secs();
        format!(
            "{}d {}h{:02}m{:02}s",
            secs / 86400,
            secs / 3600 % 24,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// Response-time percentiles of one backend or server, in µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    /// Responses measured.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
}

/// A response-time histogram in cumulative buckets, for Prometheus.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    /// (upper bound in seconds, responses at or below it), ascending; the last is `+Inf`.
    pub le: Vec<(f64, u64)>,
    /// Sum of all response times, seconds.
    pub sum: f64,
    /// Responses measured.
    pub count: u64,
}

/// Response times of one server or (with `server` None) a whole backend.
#[derive(Debug, Clone)]
pub struct Latency {
    /// Backend name.
    pub backend: String,
    /// Server name; None for the backend as a whole.
    pub server: Option<String>,
    /// p50/p99/p99.9.
    pub percentiles: Percentiles,
    /// The histogram as cumulative buckets.
    pub buckets: Buckets,
}

/// Page options from the URI's `;` suffixes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageOptions {
    /// `;norefresh`: no automatic refresh.
    pub norefresh: bool,
    /// `;up`: only servers that are up.
    pub up_only: bool,
    /// `;no-maint`: hide servers in maintenance.
    pub no_maint: bool,
}

/// The outcome of an admin action, shown after the `303` (`;st=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionStatus {
    /// `DONE`: every server changed.
    Done,
    /// `NONE`: nothing to do.
    None,
    /// `PART`: some servers changed.
    Part,
    /// `ERRP`: bad parameters.
    Errp,
    /// `EXCD`: the request was too large.
    Excd,
    /// `DENY`: the user may not act.
    Deny,
}

impl ActionStatus {
    /// The code in the URI.
    pub fn code(self) -> &'static str {
        match self {
            ActionStatus::Done => "DONE",
            ActionStatus::None => "NONE",
            ActionStatus::Part => "PART",
            ActionStatus::Errp => "ERRP",
            ActionStatus::Excd => "EXCD",
            ActionStatus::Deny => "DENY",
        }
    }

    /// Parses a `st=` code.
    pub fn from_code(code: &str) -> Option<Self> {
        [
            ActionStatus::Done,
            ActionStatus::None,
            ActionStatus::Part,
            ActionStatus::Errp,
            ActionStatus::Excd,
            ActionStatus::Deny,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

/// Everything one rendering of the page needs.
#[derive(Debug, Clone)]
pub struct StatsPage {
    /// The CSV rows, in order (frontend, servers, backend per proxy).
    pub rows: Vec<StatRow>,
    /// The process block.
    pub process: ProcessInfo,
    /// Response times per backend and server.
    pub latencies: Vec<Latency>,
    /// `stats uri`, for links and the admin form's action.
    pub uri: String,
    /// `stats refresh`, unless `;norefresh`.
    pub refresh: Option<Duration>,
    /// The viewer may act (`stats admin` matched): show the forms.
    pub admin: bool,
    /// `stats show-legends`.
    pub show_legends: bool,
    /// `stats hide-version`.
    pub hide_version: bool,
    /// The `;` suffixes.
    pub options: PageOptions,
    /// The outcome of the last admin action, from `;st=…`.
    pub action_status: Option<ActionStatus>,
    /// The authenticated user, if any.
    pub user: Option<String>,
}
