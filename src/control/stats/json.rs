//! HAProxy's typed stats: `show stat typed` and the JSON of `show stat json` / the page's
//! `;json`. Both tag every field with its type and HAProxy's origin/nature/scope, which come
//! from one table indexed like `COLUMNS` so the two outputs cannot disagree.

use std::fmt::Write as _;

use super::rows::{RowKind, StatRow, Value, COLUMNS};

/// Where a field's value comes from (HAProxy's `FO_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A measured value.
    Metric,
    /// A state.
    Status,
    /// An identifier.
    Key,
    /// A configured value.
    Config,
    /// A product property.
    Product,
}

/// What kind of quantity a field is (HAProxy's `FN_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nature {
    /// A level that goes up and down.
    Gauge,
    /// A limit.
    Limit,
    /// A minimum.
    Min,
    /// A maximum.
    Max,
    /// A per-second rate.
    Rate,
    /// A count that only grows.
    Counter,
    /// A duration.
    Duration,
    /// Time since an event.
    Age,
    /// A point in time.
    Time,
    /// A name.
    Name,
    /// Output text of a check or agent.
    Output,
    /// An average.
    Avg,
}

/// How widely a field's value holds (HAProxy's `FS_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// This process.
    Process,
    /// The service across processes.
    Service,
    /// The whole system.
    System,
    /// The cluster.
    Cluster,
}

/// The value type HAProxy gives a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Unsigned 32-bit.
    U32,
    /// Unsigned 64-bit.
    U64,
    /// Signed 32-bit.
    S32,
    /// Signed 64-bit.
    S64,
    /// Text.
    Str,
}

impl Format {
    /// HAProxy's name for the type.
    pub fn name(self) -> &'static str {
        match self {
            Format::U32 => "u32",
            Format::U64 => "u64",
            Format::S32 => "s32",
            Format::S64 => "s64",
            Format::Str => "str",
        }
    }
}

/// A field's origin, nature and scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tags {
    /// Where the value comes from.
    pub origin: Origin,
    /// What kind of quantity it is.
    pub nature: Nature,
    /// How widely it holds.
    pub scope: Scope,
}

impl Tags {
    /// The three letters of `show stat typed` (`MCP`, `KNS`…).
    pub fn letters(self) -> [char; 3] {
        let origin = match self.origin {
            Origin::Metric => 'M',
            Origin::Status => 'S',
            Origin::Key => 'K',
            Origin::Config => 'C',
            Origin::Product => 'P',
        };
        let nature = match self.nature {
            Nature::Gauge => 'G',
            Nature::Limit => 'L',
            Nature::Min => 'm',
            Nature::Max => 'M',
            Nature::Rate => 'R',
            Nature::Counter => 'C',
            Nature::Duration => 'D',
            Nature::Age => 'A',
            Nature::Time => 'T',
            Nature::Name => 'N',
            Nature::Output => 'O',
            Nature::Avg => 'a',
        };
        let scope = match self.scope {
            Scope::Process => 'P',
            Scope::Service => 'S',
            Scope::System => 's',
            Scope::Cluster => 'C',
        };
        [origin, nature, scope]
    }

    /// The words of the JSON `tags` object.
    pub fn words(self) -> [&'static str; 3] {
        [
            match self.origin {
                Origin::Metric => "Metric",
                Origin::Status => "Status",
                Origin::Key => "Key",
                Origin::Config => "Config",
                Origin::Product => "Product",
            },
            match self.nature {
                Nature::Gauge => "Gauge",
                Nature::Limit => "Limit",
                Nature::Min => "Min",
                Nature::Max => "Max",
                Nature::Rate => "Rate",
                Nature::Counter => "Counter",
                Nature::Duration => "Duration",
                Nature::Age => "Age",
                Nature::Time => "Time",
                Nature::Name => "Name",
                Nature::Output => "Output",
                Nature::Avg => "Avg",
            },
            match self.scope {
                Scope::Process => "Process",
                Scope::Service => "Service",
                Scope::System => "System",
                Scope::Cluster => "Cluster",
            },
        ]
    }
}

/// One column's type and tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldMeta {
    /// The value type.
    pub format: Format,
    /// Tags on frontend and server rows.
    pub tags: Tags,
    /// Tags on backend rows where HAProxy fills the field differently there
    /// (`act`, `bck`, `rate`, `rate_max` are plain gauges in `stats_fill_be_stats`).
    pub backend: Option<Tags>,
}

impl FieldMeta {
    /// The tags for a row of `kind`.
    pub fn tags_for(&self, kind: RowKind) -> Tags {
        match (kind, self.backend) {
            (RowKind::Backend, Some(tags)) => tags,
            _ => self.tags,
        }
    }

    const fn backend(self, code: &[u8; 3]) -> Self {
        FieldMeta {
            backend: Some(tags(code)),
            ..self
        }
    }
}

/// Decodes the letters of `show stat typed`, so the table below reads like HAProxy's
/// output it was checked against.
const fn tags(code: &[u8; 3]) -> Tags {
    Tags {
        origin: match code[0] {
            b'S' => Origin::Status,
            b'K' => Origin::Key,
            b'C' => Origin::Config,
            b'P' => Origin::Product,
            _ => Origin::Metric,
        },
        nature: match code[1] {
            b'L' => Nature::Limit,
            b'm' => Nature::Min,
            b'M' => Nature::Max,
            b'R' => Nature::Rate,
            b'C' => Nature::Counter,
            b'D' => Nature::Duration,
            b'A' => Nature::Age,
            b'T' => Nature::Time,
            b'N' => Nature::Name,
            b'O' => Nature::Output,
            b'a' => Nature::Avg,
            _ => Nature::Gauge,
        },
        scope: match code[2] {
            b'S' => Scope::Service,
            b's' => Scope::System,
            b'C' => Scope::Cluster,
            _ => Scope::Process,
        },
    }
}

const fn f(format: Format, code: &[u8; 3]) -> FieldMeta {
    FieldMeta {
        format,
        tags: tags(code),
        backend: None,
    }
}

use Format::{Str, S32, U32, U64};

/// Type and tags of every column, indexed like `COLUMNS` (from HAProxy 2.6's `stats.c`
/// fill functions, checked against its `show stat typed`).
pub const FIELD_META: [FieldMeta; COLUMNS.len()] = [
    f(Str, b"KNS"),                 // pxname
    f(Str, b"KNS"),                 // svname
    f(U32, b"MGP"),                 // qcur
    f(U32, b"MMP"),                 // qmax
    f(U32, b"MGP"),                 // scur
    f(U32, b"MMP"),                 // smax
    f(U32, b"CLP"),                 // slim
    f(U64, b"MCP"),                 // stot
    f(U64, b"MCP"),                 // bin
    f(U64, b"MCP"),                 // bout
    f(U64, b"MCP"),                 // dreq
    f(U64, b"MCP"),                 // dresp
    f(U64, b"MCP"),                 // ereq
    f(U64, b"MCP"),                 // econ
    f(U64, b"MCP"),                 // eresp
    f(U64, b"MCP"),                 // wretr
    f(U64, b"MCP"),                 // wredis
    f(Str, b"SGP"),                 // status
    f(U32, b"MaP"),                 // weight
    f(U32, b"SGP").backend(b"MGP"), // act
    f(U32, b"SGP").backend(b"MGP"), // bck
    f(U64, b"MCP"),                 // chkfail
    f(U64, b"MCP"),                 // chkdown
    f(U32, b"MAP"),                 // lastchg
    f(U32, b"MCP"),                 // downtime
    f(U32, b"CGS"),                 // qlimit
    f(U32, b"KGP"),                 // pid
    f(U32, b"KGS"),                 // iid
    f(U32, b"KGS"),                 // sid
    f(U32, b"MaP"),                 // throttle
    f(U64, b"MCP"),                 // lbtot
    f(Str, b"CNS"),                 // tracked
    f(U32, b"CGS"),                 // type
    f(U32, b"MRP").backend(b"MGP"), // rate
    f(U32, b"CLP"),                 // rate_lim
    f(U32, b"MMP").backend(b"MGP"), // rate_max
    f(Str, b"MOP"),                 // check_status
    f(U32, b"MOP"),                 // check_code
    f(U64, b"MDP"),                 // check_duration
    f(U64, b"MCP"),                 // hrsp_1xx
    f(U64, b"MCP"),                 // hrsp_2xx
    f(U64, b"MCP"),                 // hrsp_3xx
    f(U64, b"MCP"),                 // hrsp_4xx
    f(U64, b"MCP"),                 // hrsp_5xx
    f(U64, b"MCP"),                 // hrsp_other
    f(U64, b"MCP"),                 // hanafail
    f(U32, b"MRP"),                 // req_rate
    f(U32, b"MMP"),                 // req_rate_max
    f(U64, b"MCP"),                 // req_tot
    f(U64, b"MCP"),                 // cli_abrt
    f(U64, b"MCP"),                 // srv_abrt
    f(U64, b"MCP"),                 // comp_in
    f(U64, b"MCP"),                 // comp_out
    f(U64, b"MCP"),                 // comp_byp
    f(U64, b"MCP"),                 // comp_rsp
    f(S32, b"MAP"),                 // lastsess
    f(Str, b"MOP"),                 // last_chk
    f(Str, b"MOP"),                 // last_agt
    f(U32, b"MaP"),                 // qtime
    f(U32, b"MaP"),                 // ctime
    f(U32, b"MaP"),                 // rtime
    f(U32, b"MaP"),                 // ttime
    f(Str, b"MOP"),                 // agent_status
    f(U32, b"MOP"),                 // agent_code
    f(U64, b"MDP"),                 // agent_duration
    f(Str, b"MOP"),                 // check_desc
    f(Str, b"MOP"),                 // agent_desc
    f(U32, b"CGS"),                 // check_rise
    f(U32, b"CGS"),                 // check_fall
    f(U32, b"CGS"),                 // check_health
    f(U32, b"CGS"),                 // agent_rise
    f(U32, b"CGS"),                 // agent_fall
    f(U32, b"CGS"),                 // agent_health
    f(Str, b"CGS"),                 // addr
    f(Str, b"CNS"),                 // cookie
    f(Str, b"CGS"),                 // mode
    f(Str, b"CGS"),                 // algo
    f(U32, b"MRP"),                 // conn_rate
    f(U32, b"MMP"),                 // conn_rate_max
    f(U64, b"MCP"),                 // conn_tot
    f(U64, b"MCP"),                 // intercepted
    f(U64, b"MCP"),                 // dcon
    f(U64, b"MCP"),                 // dses
    f(U64, b"MCP"),                 // wrew
    f(U64, b"MCP"),                 // connect
    f(U64, b"MCP"),                 // reuse
    f(U64, b"MCP"),                 // cache_lookups
    f(U64, b"MCP"),                 // cache_hits
    f(U32, b"MGP"),                 // srv_icur
    f(U32, b"CLP"),                 // src_ilim
    f(U32, b"MMP"),                 // qtime_max
    f(U32, b"MMP"),                 // ctime_max
    f(U32, b"MMP"),                 // rtime_max
    f(U32, b"MMP"),                 // ttime_max
    f(U64, b"MCP"),                 // eint
    f(U32, b"MGP"),                 // idle_conn_cur
    f(U32, b"MGP"),                 // safe_conn_cur
    f(U32, b"MGP"),                 // used_conn_cur
    f(U32, b"MGP"),                 // need_conn_est
    f(U32, b"MaP"),                 // uweight
    f(U32, b"MGP"),                 // agg_server_status
    f(U32, b"MGP"),                 // agg_server_check_status
    f(U32, b"MGP"),                 // agg_check_status
    f(Str, b"MGP"),                 // -
    f(U64, b"MCP"),                 // ssl_sess
    f(U64, b"MCP"),                 // ssl_reused_sess
    f(U64, b"MCP"),                 // ssl_failed_handshake
    f(U64, b"MCP"),                 // h2_headers_rcvd
    f(U64, b"MCP"),                 // h2_data_rcvd
    f(U64, b"MCP"),                 // h2_settings_rcvd
    f(U64, b"MCP"),                 // h2_rst_stream_rcvd
    f(U64, b"MCP"),                 // h2_goaway_rcvd
    f(U64, b"MCP"),                 // h2_detected_conn_protocol_errors
    f(U64, b"MCP"),                 // h2_detected_strm_protocol_errors
    f(U64, b"MCP"),                 // h2_rst_stream_resp
    f(U64, b"MCP"),                 // h2_goaway_resp
    f(U64, b"MGP"),                 // h2_open_connections
    f(U64, b"MGP"),                 // h2_backend_open_streams
    f(U64, b"MCP"),                 // h2_total_connections
    f(U64, b"MCP"),                 // h2_backend_total_streams
    f(U64, b"MGP"),                 // h1_open_connections
    f(U64, b"MGP"),                 // h1_open_streams
    f(U64, b"MCP"),                 // h1_total_connections
    f(U64, b"MCP"),                 // h1_total_streams
    f(U64, b"MCP"),                 // h1_bytes_in
    f(U64, b"MCP"),                 // h1_bytes_out
    f(U64, b"MCP"),                 // h1_spliced_bytes_in
    f(U64, b"MCP"),                 // h1_spliced_bytes_out
];

/// The column that separates the general fields from the module ones in CSV only: typed
/// and JSON output skip it and number the module fields as if it were absent.
const SEPARATOR: &str = "-";

/// The fields of a row that HAProxy's typed formats show: (position, name, meta, value),
/// skipping empty ones and the CSV separator.
fn typed_fields(row: &StatRow) -> impl Iterator<Item = (usize, &'static str, &FieldMeta, &Value)> {
    let separator = COLUMNS.iter().position(|c| *c == SEPARATOR);
    COLUMNS
        .iter()
        .zip(FIELD_META.iter())
        .zip(row.fields.iter())
        .enumerate()
        .filter(|(_, ((name, _), value))| **name != SEPARATOR && **value != Value::Empty)
        .map(move |(i, ((name, meta), value))| {
            let pos = match separator {
                Some(s) if i > s => i - 1,
                _ => i,
            };
            (pos, *name, meta, value)
        })
}

/// The type a value is shown with: the column's number type, or `str` for text.
fn format_of(meta: &FieldMeta, value: &Value) -> Format {
    match (value, meta.format) {
        (Value::Text(_), _) => Format::Str,
        // A number in a text column (none today) is better typed than mislabelled.
        (Value::Num(_), Format::Str) => Format::S64,
        (_, format) => format,
    }
}

fn kind_letter(kind: RowKind) -> char {
    match kind {
        RowKind::Frontend => 'F',
        RowKind::Backend => 'B',
        RowKind::Server => 'S',
    }
}

fn kind_name(kind: RowKind) -> &'static str {
    match kind {
        RowKind::Frontend => "Frontend",
        RowKind::Backend => "Backend",
        RowKind::Server => "Server",
    }
}

/// ringlb runs one process; HAProxy numbers it 1.
const PROCESS_NUM: u32 = 1;

/// `show stat typed`: one `F.iid.sid.pos.name.1:MCP:u64:value` line per non-empty field.
pub fn stat_typed(rows: &[StatRow]) -> String {
    let mut out = String::new();
    for row in rows {
        for (pos, name, meta, value) in typed_fields(row) {
            let [o, n, s] = meta.tags_for(row.kind).letters();
            let _ = write!(
                out,
                "{}.{}.{}.{pos}.{name}.{PROCESS_NUM}:{o}{n}{s}:{}:",
                kind_letter(row.kind),
                row.iid,
                row.sid,
                format_of(meta, value).name()
            );
            match value {
                Value::Num(v) => {
                    let _ = write!(out, "{v}");
                }
                // Each field is one line: a newline in the text would forge another.
                Value::Text(t) => out.push_str(&t.replace(['\n', '\r'], " ")),
                Value::Empty => {}
            }
            out.push('\n');
        }
    }
    out
}

/// `show stat json`: an array of rows, each an array of field objects, ending in a newline
/// as HAProxy 2.6's does.
pub fn stat_json(rows: &[StatRow]) -> String {
    let mut out = String::from("[");
    for (r, row) in rows.iter().enumerate() {
        if r > 0 {
            out.push(',');
        }
        out.push('[');
        for (i, (pos, name, meta, value)) in typed_fields(row).enumerate() {
            if i > 0 {
                out.push(',');
            }
            let [origin, nature, scope] = meta.tags_for(row.kind).words();
            let _ = write!(
                out,
                "{{\"objType\":\"{}\",\"proxyId\":{},\"id\":{},\"field\":{{\"pos\":{pos},\"name\":{}}},\
                 \"processNum\":{PROCESS_NUM},\"tags\":{{\"origin\":\"{origin}\",\"nature\":\"{nature}\",\
                 \"scope\":\"{scope}\"}},\"value\":{{\"type\":\"{}\",\"value\":",
                kind_name(row.kind),
                row.iid,
                row.sid,
                json_string(name),
                format_of(meta, value).name()
            );
            match value {
                Value::Num(v) => {
                    let _ = write!(out, "{v}");
                }
                Value::Text(t) => out.push_str(&json_string(t)),
                Value::Empty => {}
            }
            out.push_str("}}");
        }
        out.push(']');
    }
    out.push_str("]\n");
    out
}

/// A JSON string literal; HAProxy 2.6 prints text unescaped, which breaks on a quote in a
/// server name or check output, so ours is escaped.
fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// Rows built by hand for the renderers' tests.
#[cfg(test)]
pub(crate) mod test_rows {
    use super::super::rows::{RowKind, StatRow, Value, COLUMNS};

    /// A row with the given fields set (numbers where they parse, text otherwise).
    pub(crate) fn row(kind: RowKind, iid: u32, sid: u32, fields: &[(&str, &str)]) -> StatRow {
        let mut row = StatRow {
            kind,
            iid,
            sid,
            fields: vec![Value::Empty; COLUMNS.len()],
        };
        for (name, v) in fields {
            let i = COLUMNS.iter().position(|c| c == name).unwrap();
            row.fields[i] = match v.parse::<i64>() {
                Ok(n) => Value::Num(n),
                Err(_) => Value::Text(v.to_string()),
            };
        }
        row
    }

    /// Rows parsed from HAProxy CSV (header line first).
    pub(crate) fn from_csv(csv: &str) -> Vec<StatRow> {
        csv.lines()
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(|line| {
                let cells: Vec<&str> = line.split(',').collect();
                let kind = match cells[32] {
                    "0" => RowKind::Frontend,
                    "1" => RowKind::Backend,
                    _ => RowKind::Server,
                };
                let fields: Vec<(&str, &str)> = COLUMNS
                    .iter()
                    .zip(&cells)
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(c, v)| (*c, *v))
                    .collect();
                row(
                    kind,
                    cells[27].parse().unwrap(),
                    cells[28].parse().unwrap(),
                    &fields,
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_rows::{from_csv, row};
    use super::*;

    /// Three rows of HAProxy 2.6's `show stat` for a small config (frontend `fe`, server
    /// `s1` down, backend `servers`), and the start of what HAProxy printed for them.
    const CSV: &str = "# header\n\
fe,FRONTEND,,,0,0,9984,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,0,,,,0,0,0,0,0,0,,0,0,0,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,http,,0,0,0,0,0,0,0,,,0,0,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,\n\
servers,s1,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,7,7,,1,3,1,,0,,2,0,,0,L4CON,,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,2,3,0,,,,127.0.0.1:19081,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n\
servers,BACKEND,0,0,0,0,999,0,0,0,0,0,,0,0,0,0,DOWN,0,0,0,,1,6,6,,1,3,0,,0,,1,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,http,roundrobin,,,,,,,0,0,0,0,0,,,0,0,0,0,0,,,,,0,0,0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,14,14,0,0,0,0,\n";

    #[test]
    fn typed_lines_match_haproxy() {
        let typed = stat_typed(&from_csv(CSV));
        let lines: Vec<&str> = typed.lines().collect();
        for expected in [
            "F.2.0.0.pxname.1:KNS:str:fe",
            "F.2.0.6.slim.1:CLP:u32:9984",
            "F.2.0.17.status.1:SGP:str:OPEN",
            "F.2.0.33.rate.1:MRP:u32:0",
            "F.2.0.126.h1_spliced_bytes_out.1:MCP:u64:0",
            "S.3.1.18.weight.1:MaP:u32:1",
            "S.3.1.19.act.1:SGP:u32:1",
            "S.3.1.24.downtime.1:MCP:u32:7",
            "S.3.1.55.lastsess.1:MAP:s32:-1",
            "S.3.1.56.last_chk.1:MOP:str:Connection refused",
            "S.3.1.73.addr.1:CGS:str:127.0.0.1:19081",
            "S.3.1.103.ssl_sess.1:MCP:u64:0",
            "B.3.0.19.act.1:MGP:u32:0",
            "B.3.0.33.rate.1:MGP:u32:0",
            "B.3.0.35.rate_max.1:MGP:u32:0",
            "B.3.0.102.agg_check_status.1:MGP:u32:0",
            "B.3.0.121.h1_total_connections.1:MCP:u64:14",
        ] {
            assert!(lines.contains(&expected), "{expected} missing");
        }
        // Empty fields and the CSV separator are not shown.
        assert!(!typed.contains(".-."));
        assert!(!lines.iter().any(|l| l.starts_with("S.3.1.12.")));
        assert_eq!(lines.len(), 67 + 69 + 88);
    }

    #[test]
    fn json_matches_haproxy_bytes() {
        let json = stat_json(&from_csv(CSV));
        assert!(json.starts_with(
            "[[{\"objType\":\"Frontend\",\"proxyId\":2,\"id\":0,\"field\":{\"pos\":0,\"name\":\"pxname\"},\
             \"processNum\":1,\"tags\":{\"origin\":\"Key\",\"nature\":\"Name\",\"scope\":\"Service\"},\
             \"value\":{\"type\":\"str\",\"value\":\"fe\"}},{\"objType\":\"Frontend\",\"proxyId\":2,\"id\":0,\
             \"field\":{\"pos\":1,\"name\":\"svname\"}"
        ));
        assert!(json.contains(
            "{\"objType\":\"Server\",\"proxyId\":3,\"id\":1,\"field\":{\"pos\":55,\"name\":\"lastsess\"},\
             \"processNum\":1,\"tags\":{\"origin\":\"Metric\",\"nature\":\"Age\",\"scope\":\"Process\"},\
             \"value\":{\"type\":\"s32\",\"value\":-1}}"
        ));
        assert!(json.ends_with("}}]]\n"));
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        let rows = parsed.as_array().unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].as_array().unwrap().len(), 69);
        assert_eq!(rows[2][0]["objType"], "Backend");
    }

    #[test]
    fn json_escapes_text() {
        let rows = [row(
            RowKind::Server,
            3,
            1,
            &[("pxname", "b\"x"), ("svname", "a\\b\nc"), ("scur", "2")],
        )];
        let parsed: serde_json::Value = serde_json::from_str(&stat_json(&rows)).unwrap();
        assert_eq!(parsed[0][0]["value"]["value"], "b\"x");
        assert_eq!(parsed[0][1]["value"]["value"], "a\\b\nc");
        assert_eq!(parsed[0][2]["value"]["value"], 2);
        // A newline in text must not start a forged line in the typed output.
        assert_eq!(stat_typed(&rows).lines().count(), 3);
    }

    #[test]
    fn empty_rows() {
        assert_eq!(stat_json(&[]), "[]\n");
        assert_eq!(stat_typed(&[]), "");
    }

    #[test]
    fn table_covers_every_column() {
        assert_eq!(FIELD_META.len(), COLUMNS.len());
        let at = |name: &str| FIELD_META[COLUMNS.iter().position(|c| *c == name).unwrap()];
        assert_eq!(at("pxname").format, Format::Str);
        assert_eq!(at("lastsess").format, Format::S32);
        assert_eq!(
            at("act").tags_for(RowKind::Server).letters(),
            ['S', 'G', 'P']
        );
        assert_eq!(
            at("act").tags_for(RowKind::Backend).letters(),
            ['M', 'G', 'P']
        );
    }
}
