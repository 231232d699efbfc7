//! The rows of HAProxy's stats CSV (`show stat`, the page's `;csv`): one per frontend,
//! server and backend, in configuration order, each field where HAProxy 2.6 puts it and
//! empty where HAProxy leaves it empty, so HAProxy's CSV tools read ours.

use std::time::Instant;

use crate::config::{Balance, Config, Mode, Proxy};
use crate::state::counters::{
    ProxyCounters, RequestTimes, ServerCounters, StatusCounters, TimeAverage, AVERAGE_WINDOW,
};
use crate::state::CounterSet;

use crate::control::plane::ControlPlane;
use crate::control::traffic::Side;

/// HAProxy 2.6's CSV columns, in order (`-` separates the general fields from the
/// per-module ones: TLS, HTTP/2, HTTP/1).
pub const COLUMNS: [&str; 128] = [
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
    "agent_status",
    "agent_code",
    "agent_duration",
    "check_desc",
    "agent_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_rate",
    "conn_rate_max",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "connect",
    "reuse",
    "cache_lookups",
    "cache_hits",
    "srv_icur",
    "src_ilim",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
    "eint",
    "idle_conn_cur",
    "safe_conn_cur",
    "used_conn_cur",
    "need_conn_est",
    "uweight",
    "agg_server_status",
    "agg_server_check_status",
    "agg_check_status",
    "-",
    "ssl_sess",
    "ssl_reused_sess",
    "ssl_failed_handshake",
    "h2_headers_rcvd",
    "h2_data_rcvd",
    "h2_settings_rcvd",
    "h2_rst_stream_rcvd",
    "h2_goaway_rcvd",
    "h2_detected_conn_protocol_errors",
    "h2_detected_strm_protocol_errors",
    "h2_rst_stream_resp",
    "h2_goaway_resp",
    "h2_open_connections",
    "h2_backend_open_streams",
    "h2_total_connections",
    "h2_backend_total_streams",
    "h1_open_connections",
    "h1_open_streams",
    "h1_total_connections",
    "h1_total_streams",
    "h1_bytes_in",
    "h1_bytes_out",
    "h1_spliced_bytes_in",
    "h1_spliced_bytes_out",
];

/// One stats field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Not applicable to this row: an empty CSV field.
    Empty,
    /// A number.
    Num(i64),
    /// Text.
    Text(String),
}

/// What a row describes, as HAProxy's `type` field numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// 0: a frontend (or the frontend side of a listen).
    Frontend,
    /// 1: a backend (or the backend side of a listen).
    Backend,
    /// 2: a server.
    Server,
}

impl RowKind {
    /// HAProxy's `type` number.
    pub fn number(self) -> i64 {
        match self {
            RowKind::Frontend => 0,
            RowKind::Backend => 1,
            RowKind::Server => 2,
        }
    }
}

/// One row: a frontend, backend or server, its fields in `COLUMNS` order.
#[derive(Debug, Clone)]
pub struct StatRow {
    /// What the row describes.
    pub kind: RowKind,
    /// The proxy's numeric id (`iid`).
    pub iid: u32,
    /// The server's numeric id (`sid`), 0 for frontends and backends.
    pub sid: u32,
    /// Indexed like `COLUMNS`.
    pub fields: Vec<Value>,
}

impl StatRow {
    fn new(kind: RowKind, iid: u32, sid: u32) -> Self {
        Self {
            kind,
            iid,
            sid,
            fields: vec![Value::Empty; COLUMNS.len()],
        }
    }

    /// The field of column `name` (`Empty` for an unknown column).
    pub fn get(&self, name: &str) -> &Value {
        COLUMNS
            .iter()
            .position(|c| *c == name)
            .and_then(|i| self.fields.get(i))
            .unwrap_or(&Value::Empty)
    }

    /// The text of column `name` (`""` when it is not text).
    pub fn text_of(&self, name: &str) -> &str {
        match self.get(name) {
            Value::Text(t) => t,
            _ => "",
        }
    }

    /// The number in column `name`, if it holds one.
    pub fn num_of(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Value::Num(n) => Some(*n),
            _ => None,
        }
    }

    fn set(&mut self, name: &str, value: Value) {
        if let Some(i) = COLUMNS.iter().position(|c| *c == name) {
            self.fields[i] = value;
        }
    }

    fn num(&mut self, name: &str, v: impl TryInto<i64>) {
        self.set(name, Value::Num(v.try_into().unwrap_or(i64::MAX)));
    }

    fn text(&mut self, name: &str, v: impl Into<String>) {
        self.set(name, Value::Text(v.into()));
    }

    /// Sets each named column to 0.
    fn zeros(&mut self, names: &[&str]) {
        for name in names {
            self.num(name, 0);
        }
    }

    /// The module columns after `-`: TLS ones for every row, HTTP/2 and HTTP/1 for proxies.
    fn modules(&mut self) {
        let start = COLUMNS
            .iter()
            .position(|c| *c == "-")
            .unwrap_or(COLUMNS.len());
        self.text("-", "-");
        for (i, name) in COLUMNS.iter().enumerate().skip(start + 1) {
            if self.kind != RowKind::Server || name.starts_with("ssl_") {
                self.fields[i] = Value::Num(0);
            }
        }
    }
}

/// Every row, in HAProxy's order: per proxy, its frontend, its servers, its backend.
pub fn stat_rows(plane: &ControlPlane, now: Instant) -> Vec<StatRow> {
    let config = std::sync::Arc::clone(plane.config());
    let mut rows = Vec::new();
    for proxy in &config.proxies {
        if proxy.is_frontend() {
            rows.push(frontend_row(plane, &config, proxy));
        }
        if proxy.is_backend() {
            for sid in 0..proxy.servers.len() {
                rows.push(server_row(plane, proxy, sid, now));
            }
            rows.push(backend_row(plane, proxy, now));
        }
    }
    rows
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Http => "http",
        Mode::Tcp => "tcp",
    }
}

fn algo_name(balance: &Balance) -> &'static str {
    balance.name()
}

fn frontend_row(plane: &ControlPlane, config: &Config, proxy: &Proxy) -> StatRow {
    let mut row = StatRow::new(RowKind::Frontend, proxy.uuid, 0);
    // One pass over the shards and configurations, then every field from it.
    let totals = plane.proxy_totals(proxy.kind, &proxy.name);
    let total = |pick: &dyn Fn(&ProxyCounters) -> u64| pick(&totals);
    let traffic = plane.traffic().proxy(Side::Frontend, &proxy.name);
    let current = plane
        .counters()
        .proxy_sum(proxy.id, |c| c.conn_current.get().max(0) as u64);
    row.text("pxname", proxy.name.clone());
    row.text("svname", "FRONTEND");
    row.num("scur", current);
    // Sampled every control tick, and each shard's own peak: never more than was reached.
    let peak = plane.frontend_peak(proxy.kind, &proxy.name);
    row.num("smax", traffic.sessions_max.max(current).max(peak));
    if let Some(limit) = proxy.maxconn.or(config.global.maxconn) {
        row.num("slim", limit);
    }
    let connections = total(&|c| c.conn_total.get());
    // A connection refused by `tcp-request connection` never becomes a session (HAProxy's
    // `cum_sess` against `cum_conn`).
    let sessions = connections.saturating_sub(total(&|c| c.denied_connections.get()));
    row.num("stot", sessions);
    row.num("bin", total(&|c| c.bytes_in.get()));
    row.num("bout", total(&|c| c.bytes_out.get()));
    row.num("dreq", total(&|c| c.denied_requests.get()));
    row.num("dresp", total(&|c| c.denied_responses.get()));
    row.num("ereq", total(&|c| c.request_errors.get()));
    row.text(
        "status",
        if plane.snapshot().stopping {
            "STOP"
        } else {
            "OPEN"
        },
    );
    ids(&mut row);
    row.num("rate", traffic.session_rate.current);
    row.num("rate_lim", 0);
    row.num("rate_max", traffic.session_rate.max);
    statuses(&mut row, |class| total(&|c| c.status.classes[class].get()));
    row.num("req_rate", traffic.request_rate.current);
    row.num("req_rate_max", traffic.request_rate.max);
    row.num("req_tot", total(&|c| c.requests_total.get()));
    row.zeros(&["comp_in", "comp_out", "comp_byp", "comp_rsp"]);
    row.text("mode", mode_name(proxy.mode));
    row.num("conn_rate", traffic.session_rate.current);
    row.num("conn_rate_max", traffic.session_rate.max);
    row.num("conn_tot", connections);
    // The stats page's own requests are intercepted (answered by ringlb itself).
    row.num("intercepted", total(&|c| c.intercepted.get()));
    row.num("wrew", total(&|c| c.failed_rewrites.get()));
    row.num("dcon", total(&|c| c.denied_connections.get()));
    row.zeros(&["dses", "cache_lookups", "cache_hits", "eint"]);
    row.modules();
    row
}

/// `pid`, `iid`, `sid` and `type`.
fn ids(row: &mut StatRow) {
    row.num("pid", 1);
    row.num("iid", row.iid);
    row.num("sid", row.sid);
    row.num("type", row.kind.number());
}

/// `hrsp_1xx` … `hrsp_other`, from the count of each class (0 = 1xx … 5 = other).
fn statuses(row: &mut StatRow, class: impl Fn(usize) -> u64) {
    for (i, name) in [
        "hrsp_1xx",
        "hrsp_2xx",
        "hrsp_3xx",
        "hrsp_4xx",
        "hrsp_5xx",
        "hrsp_other",
    ]
    .iter()
    .enumerate()
    {
        row.num(name, class(i));
    }
}

/// A server's or backend's answers: `hrsp_*`, `req_tot` (HTTP only) and the aborts.
fn responses(row: &mut StatRow, status: &StatusCounters, mode: Mode, aborts: (u64, u64)) {
    statuses(row, |class| status.classes[class].get());
    if mode == Mode::Http {
        row.num(
            "req_tot",
            status.classes.iter().map(|n| n.get()).sum::<u64>(),
        );
    }
    row.num("cli_abrt", aborts.0);
    row.num("srv_abrt", aborts.1);
}

/// HAProxy's four time averages (ms) and maxima over the shards' current counters.
fn times<'a>(
    row: &mut StatRow,
    set: &'a CounterSet,
    of: impl Fn(usize) -> Option<&'a RequestTimes>,
) {
    let shards: Vec<&RequestTimes> = (0..set.shards.len()).filter_map(&of).collect();
    let window = |n: u64| n.min(AVERAGE_WINDOW);
    for (avg, max, pick, response) in [
        (
            "qtime",
            "qtime_max",
            (|t| &t.queue) as fn(&RequestTimes) -> &TimeAverage,
            false,
        ),
        ("ctime", "ctime_max", |t| &t.connect, false),
        ("rtime", "rtime_max", |t| &t.response, true),
        ("ttime", "ttime_max", |t| &t.total, false),
    ] {
        let (mut sum, mut samples, mut top) = (0u64, 0u64, 0u64);
        for t in &shards {
            let n = if response {
                t.response_samples.get()
            } else {
                t.samples.get()
            };
            sum += pick(t).sum();
            samples += window(n);
            top = top.max(pick(t).max());
        }
        row.num(avg, sum.checked_div(samples).unwrap_or(0) / 1000);
        row.num(max, top / 1000);
    }
}

fn server_row(plane: &ControlPlane, proxy: &Proxy, sid: usize, now: Instant) -> StatRow {
    let server = &proxy.servers[sid];
    let mut row = StatRow::new(RowKind::Server, proxy.uuid, server.puid);
    let totals = plane.server_totals(&proxy.name, &server.name);
    let total = |pick: &dyn Fn(&ServerCounters) -> u64| pick(&totals);
    let counters = plane.counters();
    let current = counters.server_sum(proxy.id, sid, |c| c.sessions_current.get().max(0) as u64);
    let traffic = plane.traffic().server(&proxy.name, &server.name);
    row.text("pxname", proxy.name.clone());
    row.text("svname", server.name.clone());
    row.zeros(&["qcur", "qmax"]);
    row.num("scur", current);
    let peak = plane.server_peak(&proxy.name, &server.name);
    row.num("smax", traffic.sessions_max.max(current).max(peak));
    if server.maxconn > 0 {
        row.num("slim", server.maxconn);
    }
    let sessions = total(&|c| c.sessions_total.get());
    row.num("stot", sessions);
    row.num("bin", total(&|c| c.bytes_in.get()));
    row.num("bout", total(&|c| c.bytes_out.get()));
    row.num("dresp", 0);
    row.num("econ", total(&|c| c.connect_errors.get()));
    row.num("eresp", total(&|c| c.response_errors.get()));
    row.num("wretr", total(&|c| c.retries.get()));
    row.num("wredis", total(&|c| c.redispatches.get()));
    let record = plane.server(proxy.id, sid);
    // HAProxy shows the server's effective weight even when drained: draining keeps the
    // balancer away without touching the weight (the backend's `act` and `weight` drop it).
    let (label, weight) = match record {
        Some(record) => (server_status(record), record.weight),
        None => ("no check".to_string(), server.weight),
    };
    row.text("status", label);
    row.num("weight", weight);
    row.num("act", u8::from(!server.backup));
    row.num("bck", u8::from(server.backup));
    let check = record.and_then(|r| r.check.as_ref());
    if let (Some(check), Some(record)) = (check, record) {
        row.num("chkfail", check.failures);
        row.num("chkdown", record.history.went_down());
        row.num("downtime", record.history.downtime(now).as_secs());
    }
    if let Some(record) = record {
        row.num("lastchg", record.history.since_change(now).as_secs());
    }
    ids(&mut row);
    row.num("lbtot", sessions);
    row.num("rate", traffic.session_rate.current);
    row.num("rate_max", traffic.session_rate.max);
    if let Some(check) = check {
        let last = &check.last;
        row.text("check_status", last.status.code());
        if let Some(code) = last.code {
            row.num("check_code", code);
        }
        row.num("check_duration", last.duration.as_millis());
        if let Some(info) = &last.info {
            row.text("last_chk", info.clone());
        }
        row.text("check_desc", last.status.description());
        row.num("check_rise", check.health.rise);
        row.num("check_fall", check.health.fall);
        row.num("check_health", check.health.value);
    }
    responses(
        &mut row,
        &totals.status,
        proxy.mode,
        (totals.client_aborts.get(), totals.server_aborts.get()),
    );
    row.num(
        "lastsess",
        traffic
            .last_session
            .map_or(-1, |t| now.saturating_duration_since(t).as_secs() as i64),
    );
    times(&mut row, counters, |shard| {
        Some(
            &counters
                .shards
                .get(shard)?
                .servers
                .get(proxy.id)?
                .get(sid)?
                .times,
        )
    });
    row.text("addr", server.addr.addr.to_string());
    row.text("mode", mode_name(proxy.mode));
    row.num("wrew", 0);
    row.num("connect", total(&|c| c.connects.get()));
    row.num("reuse", total(&|c| c.reuses.get()));
    row.zeros(&[
        "srv_icur",
        "eint",
        "idle_conn_cur",
        "safe_conn_cur",
        "used_conn_cur",
        "need_conn_est",
    ]);
    row.num("uweight", server.weight);
    row.modules();
    row
}

/// HAProxy's status words for a server: `UP`, `UP 1/3`, `DOWN`, `DOWN 1/2`, `MAINT`,
/// `MAINT (resolution)`, `DRAIN`, `no check`.
pub fn server_status(record: &crate::control::plane::ServerRecord) -> String {
    if record.unresolved {
        return "MAINT (resolution)".into();
    }
    if record.maint {
        return "MAINT".into();
    }
    let label = match &record.check {
        Some(check) => check.health.label(),
        None => "no check".into(),
    };
    if record.is_draining() {
        return "DRAIN".into();
    }
    label
}

fn backend_row(plane: &ControlPlane, proxy: &Proxy, now: Instant) -> StatRow {
    let mut row = StatRow::new(RowKind::Backend, proxy.uuid, 0);
    // One pass over the shards and configurations, then every field from it.
    let totals = plane.proxy_totals(proxy.kind, &proxy.name);
    let total = |pick: &dyn Fn(&ProxyCounters) -> u64| pick(&totals);
    let counters = plane.counters();
    let traffic = plane.traffic().proxy(Side::Backend, &proxy.name);
    let current: u64 = (0..proxy.servers.len())
        .map(|s| counters.server_sum(proxy.id, s, |c| c.sessions_current.get().max(0) as u64))
        .sum();
    let queued = counters.proxy_sum(proxy.id, |c| c.queued.get().max(0) as u64);
    row.text("pxname", proxy.name.clone());
    row.text("svname", "BACKEND");
    row.num("qcur", queued);
    row.num("qmax", traffic.queue_max.max(queued));
    row.num("scur", current);
    let peak = proxy
        .servers
        .iter()
        .map(|s| plane.server_peak(&proxy.name, &s.name))
        .max()
        .unwrap_or(0);
    row.num("smax", traffic.sessions_max.max(current).max(peak));
    let sessions = total(&|c| c.sessions_total.get());
    row.num("stot", sessions);
    // Bytes are counted per frontend and per server: a backend's are its servers'.
    let servers = servers_totals(plane, proxy);
    row.num("bin", servers.bytes_in.get());
    row.num("bout", servers.bytes_out.get());
    row.num("dreq", total(&|c| c.denied_requests.get()));
    row.num("dresp", total(&|c| c.denied_responses.get()));
    row.num("econ", total(&|c| c.connect_errors.get()));
    row.num("eresp", total(&|c| c.response_errors.get()));
    row.num("wretr", total(&|c| c.retries.get()));
    row.num("wredis", total(&|c| c.redispatches.get()));
    let view = plane.snapshot().backend(proxy.id);
    // HAProxy's `srv_act`/`srv_bck`: servers the balancer may pick, so a drained server or
    // one at weight 0 is not counted even though its own row says UP.
    let up = |backup: bool| {
        view.map_or(0, |v| {
            proxy
                .servers
                .iter()
                .zip(&v.servers)
                .filter(|(s, st)| s.backup == backup && st.usable())
                .count()
        })
    };
    let (active, backup) = (up(false), up(true));
    // A backend without servers (a stats section) is UP, as HAProxy shows it.
    let any_up = active + backup > 0 || proxy.servers.is_empty();
    row.text("status", if any_up { "UP" } else { "DOWN" });
    let weight: u64 = view.map_or(0, |v| {
        proxy
            .servers
            .iter()
            .zip(&v.servers)
            .filter(|(s, st)| !s.backup && st.usable())
            .map(|(_, st)| u64::from(st.weight))
            .sum()
    });
    row.num("weight", weight);
    row.num("act", active);
    row.num("bck", backup);
    if let Some(history) = plane.backend_history(proxy.id) {
        row.num("chkdown", history.went_down());
        row.num("lastchg", history.since_change(now).as_secs());
        if !proxy.servers.is_empty() {
            row.num("downtime", history.downtime(now).as_secs());
        }
    }
    ids(&mut row);
    row.num("lbtot", sessions);
    row.num("rate", traffic.session_rate.current);
    row.num("rate_max", traffic.session_rate.max);
    responses(
        &mut row,
        &totals.backend_status,
        proxy.mode,
        (totals.client_aborts.get(), totals.server_aborts.get()),
    );
    row.zeros(&["comp_in", "comp_out", "comp_byp", "comp_rsp"]);
    row.num(
        "lastsess",
        traffic
            .last_session
            .map_or(-1, |t| now.saturating_duration_since(t).as_secs() as i64),
    );
    times(&mut row, counters, |shard| {
        Some(&counters.shards.get(shard)?.proxies.get(proxy.id)?.times)
    });
    row.text("mode", mode_name(proxy.mode));
    row.text("algo", algo_name(&proxy.balance));
    row.num("wrew", total(&|c| c.failed_rewrites.get()));
    row.num("connect", servers.connects.get());
    row.num("reuse", servers.reuses.get());
    row.zeros(&["cache_lookups", "cache_hits", "eint"]);
    row.num(
        "uweight",
        proxy
            .servers
            .iter()
            .filter(|s| !s.backup)
            .map(|s| u64::from(s.weight))
            .sum::<u64>(),
    );
    row.zeros(&[
        "agg_server_status",
        "agg_server_check_status",
        "agg_check_status",
    ]);
    row.modules();
    row
}

/// Every counter of a backend's servers, summed.
fn servers_totals(plane: &ControlPlane, proxy: &Proxy) -> ServerCounters {
    let all = ServerCounters::default();
    for s in &proxy.servers {
        all.absorb(&plane.server_totals(&proxy.name, &s.name));
    }
    all
}

/// The rows as HAProxy's CSV: a `# ` header, then one line per row, every line ending with
/// a comma.
pub fn csv(rows: &[StatRow]) -> String {
    let mut out = String::from("# ");
    for c in COLUMNS {
        out.push_str(c);
        out.push(',');
    }
    out.push('\n');
    for row in rows {
        for field in &row.fields {
            match field {
                Value::Empty => {}
                Value::Num(n) => out.push_str(&n.to_string()),
                Value::Text(t) => out.push_str(&csv_text(t)),
            }
            out.push(',');
        }
        out.push('\n');
    }
    out
}

/// Text as HAProxy writes it in CSV: quoted only when it holds a comma, quote or newline.
fn csv_text(t: &str) -> String {
    if t.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", t.replace('"', "\"\"").replace(['\n', '\r'], " "))
    } else {
        t.to_string()
    }
}
