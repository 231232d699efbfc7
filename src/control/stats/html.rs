//! The stats page as HTML: self-contained (inline CSS, no JavaScript), one table per proxy,
//! HAProxy's status colours and admin form (same field names and action values, so scripts
//! that post to HAProxy's page work against ours), plus ringlb's process block and
//! response-time percentiles.

use std::fmt::Write as _;

use super::page::{ActionStatus, Latency, PageOptions, StatsPage};
use super::rows::{RowKind, StatRow};

/// The admin actions ringlb carries out, with HAProxy's posted values and labels, in the order
/// of its page (agent checks, NOLB and killing sessions are not offered).
pub const ACTIONS: [(&str, &str); 7] = [
    ("ready", "Set state to READY"),
    ("drain", "Set state to DRAIN"),
    ("maint", "Set state to MAINT"),
    ("dhlth", "Health: disable checks"),
    ("ehlth", "Health: enable checks"),
    ("hrunn", "Health: force UP"),
    ("hdown", "Health: force DOWN"),
];

const CSS: &str = r#"
:root{--bg:#f5f6f8;--card:#fff;--fg:#1d2330;--muted:#6b7280;--line:#e3e6eb;--head:#f0f2f5;
--up:#2f9e44;--up-bg:#d3f9d8;--backup:#1c7ed6;--backup-bg:#d0ebff;--down:#e03131;--down-bg:#ffe3e3;
--going-up:#e8590c;--going-up-bg:#ffe8cc;--going-down:#c99a06;--going-down-bg:#fff3bf;
--maint:#a35e10;--maint-bg:#f6e3c8;--drain:#1098ad;--drain-bg:#c5f6fa;--nocheck:#6b7280;--nocheck-bg:#e9ecef}
@media (prefers-color-scheme:dark){:root{--bg:#14171c;--card:#1c2027;--fg:#e6e8eb;--muted:#9aa3ae;
--line:#2c323b;--head:#232830;--up-bg:#1b3a24;--backup-bg:#16314d;--down-bg:#4a1c1c;--going-up-bg:#4a2c12;
--going-down-bg:#433a10;--maint-bg:#43301a;--drain-bg:#113c44;--nocheck-bg:#2c323b}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:.5rem 1.5rem;padding:1rem 1.5rem;background:var(--card);border-bottom:1px solid var(--line)}
header h1{margin:0;font-size:1.35rem;letter-spacing:.02em}
header h1 small{font-weight:400;color:var(--muted);font-size:.85rem;margin-left:.4rem}
nav{display:flex;flex-wrap:wrap;gap:.4rem;margin-left:auto}
nav a{padding:.2rem .6rem;border:1px solid var(--line);border-radius:999px;color:inherit;text-decoration:none;font-size:.85rem}
nav a:hover{background:var(--head)}
main{padding:1rem 1.5rem 2rem;display:flex;flex-direction:column;gap:1rem}
.process{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:.5rem}
.fact{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.5rem .75rem}
.fact b{display:block;font-size:.72rem;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);font-weight:600}
.fact span{font-size:1.05rem;font-variant-numeric:tabular-nums}
.banner{border-radius:8px;padding:.6rem 1rem;border:1px solid var(--line);display:flex;gap:1rem;align-items:flex-start}
.banner a{margin-left:auto;color:inherit;text-decoration:none}
.banner.ok{background:var(--up-bg)}.banner.warn{background:var(--going-down-bg)}.banner.err{background:var(--down-bg)}
.banner ul{margin:.3rem 0 0;padding-left:1.2rem}
section.proxy{background:var(--card);border:1px solid var(--line);border-radius:10px;overflow:hidden}
section.proxy h2{margin:0;padding:.6rem 1rem;font-size:1rem;display:flex;gap:.6rem;align-items:center;border-bottom:1px solid var(--line)}
section.proxy h2 a{color:inherit;text-decoration:none}
.tag{font-size:.72rem;font-weight:500;color:var(--muted);border:1px solid var(--line);border-radius:4px;padding:0 .35rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:.3rem .55rem;text-align:right;white-space:nowrap;border-bottom:1px solid var(--line)}
th{background:var(--head);font-size:.75rem;font-weight:600;color:var(--muted)}
thead tr:first-child th{text-transform:uppercase;letter-spacing:.05em;font-size:.68rem}
th.group{text-align:center;border-left:1px solid var(--line)}
td.first,th.first{border-left:1px solid var(--line)}
td.name,th.name{text-align:left}
td.name{font-weight:600}
tr.total td{background:var(--head);font-weight:600}
tr.srv td.name{border-left:4px solid var(--nocheck)}
tr.up td.name{border-left-color:var(--up)}tr.backup-up td.name{border-left-color:var(--backup)}
tr.down td.name{border-left-color:var(--down)}tr.going-up td.name{border-left-color:var(--going-up)}
tr.going-down td.name{border-left-color:var(--going-down)}tr.maint td.name{border-left-color:var(--maint)}
tr.drain td.name{border-left-color:var(--drain)}
.pill{display:inline-block;min-width:4.5rem;text-align:center;border-radius:999px;padding:.05rem .55rem;font-size:.78rem;font-weight:600}
.pill.up{background:var(--up-bg);color:var(--up)}.pill.backup-up{background:var(--backup-bg);color:var(--backup)}
.pill.down{background:var(--down-bg);color:var(--down)}.pill.going-up{background:var(--going-up-bg);color:var(--going-up)}
.pill.going-down{background:var(--going-down-bg);color:var(--going-down)}.pill.maint{background:var(--maint-bg);color:var(--maint)}
.pill.drain{background:var(--drain-bg);color:var(--drain)}.pill.no-check{background:var(--nocheck-bg);color:var(--nocheck)}
td.check{text-align:left;color:var(--muted)}
.muted{color:var(--muted)}
.admin{display:flex;gap:.5rem;align-items:center;padding:.6rem 1rem;border-top:1px solid var(--line)}
.admin select,.admin button{font:inherit;padding:.25rem .5rem;border-radius:6px;border:1px solid var(--line);background:var(--card);color:inherit}
.admin button{background:var(--fg);color:var(--card);border-color:var(--fg);cursor:pointer}
.legend{display:flex;flex-wrap:wrap;gap:.5rem 1rem;font-size:.85rem}
footer{color:var(--muted);font-size:.8rem;padding:0 1.5rem 1.5rem}
"#;

/// HTML-escapes text for element content and quoted attributes.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A count, or blank where the field does not apply to the row.
fn count(row: &StatRow, column: &str) -> String {
    row.num_of(column)
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// Bytes in binary units, the exact count kept for the tooltip.
fn bytes(row: &StatRow, column: &str) -> String {
    let Some(n) = row.num_of(column) else {
        return String::new();
    };
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < units.len() {
        v /= 1024.0;
        unit += 1;
    }
    let shown = if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[unit])
    };
    format!("<span title=\"{n} bytes\">{shown}</span>")
}

/// Seconds as HAProxy's page shows ages: `7s`, `1m3s`, `1h2m`, `3d4h`.
fn age(secs: i64) -> String {
    if secs < 0 {
        return String::new();
    }
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// A response time given in µs, in the unit that keeps 2–3 significant digits.
fn micros(us: u64) -> String {
    if us < 1000 {
        format!("{us}µs")
    } else if us < 100_000 {
        format!("{:.1}ms", us as f64 / 1000.0)
    } else if us < 1_000_000 {
        format!("{}ms", us / 1000)
    } else {
        format!("{:.2}s", us as f64 / 1_000_000.0)
    }
}

/// The CSS class for a status, after HAProxy's colours: green up, light yellow going down,
/// orange going up, red down, brown maintenance, blue draining, grey unchecked; backup
/// servers that are up in blue.
fn status_class(status: &str, backup: bool) -> &'static str {
    if status.starts_with("MAINT") {
        "maint"
    } else if status.starts_with("DRAIN") || status.starts_with("NOLB") {
        "drain"
    } else if status.starts_with("DOWN ") {
        "going-up"
    } else if status.starts_with("DOWN") || status == "STOP" {
        "down"
    } else if status.starts_with("UP ") {
        "going-down"
    } else if status == "no check" {
        "no-check"
    } else if backup {
        "backup-up"
    } else {
        "up"
    }
}

/// `;up` shows only servers that are not stopped, as HAProxy's "Hide 'DOWN' servers".
fn hidden(row: &StatRow, options: &PageOptions) -> bool {
    let status = row.text_of("status");
    (options.up_only && (status.starts_with("DOWN") || status.starts_with("MAINT")))
        || (options.no_maint && status.starts_with("MAINT"))
}

/// The page URI with the given `;` options, for links that keep the others.
fn link(uri: &str, up: bool, no_maint: bool, norefresh: bool) -> String {
    let mut out = uri.to_string();
    if up {
        out.push_str(";up");
    }
    if no_maint {
        out.push_str(";no-maint");
    }
    if norefresh {
        out.push_str(";norefresh");
    }
    out
}

/// The whole page.
pub fn page(page: &StatsPage) -> String {
    let mut out = String::with_capacity(16 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    if let Some(refresh) = page.refresh.filter(|_| !page.options.norefresh) {
        let _ = writeln!(
            out,
            "<meta http-equiv=\"refresh\" content=\"{}\">",
            refresh.as_secs().max(1)
        );
    }
    let _ = writeln!(
        out,
        "<title>Statistics Report for ringlb on {}</title>\n<style>{CSS}</style>\n</head>\n<body>",
        esc(&page.process.node)
    );
    header(&mut out, page);
    out.push_str("<main>\n");
    if let Some(status) = page.action_status {
        banner(&mut out, page, status);
    }
    process(&mut out, page);
    if page.show_legends {
        legend(&mut out);
    }
    for group in groups(&page.rows) {
        proxy(&mut out, page, &group);
    }
    out.push_str("</main>\n");
    if let Some(user) = &page.user {
        let _ = writeln!(out, "<footer>Signed in as {}</footer>", esc(user));
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn header(out: &mut String, page: &StatsPage) {
    let o = page.options;
    let uri = &page.uri;
    out.push_str("<header>\n<h1>ringlb");
    if !page.hide_version {
        let _ = write!(out, "<small>version {}</small>", esc(&page.process.version));
    }
    out.push_str("</h1>\n<nav>\n");
    let mut nav = |href: String, label: &str| {
        let _ = writeln!(out, "<a href=\"{}\">{label}</a>", esc(&href));
    };
    if o.up_only {
        nav(
            link(uri, false, o.no_maint, o.norefresh),
            "Show all servers",
        );
    } else {
        nav(
            link(uri, true, o.no_maint, o.norefresh),
            "Hide DOWN servers",
        );
    }
    if o.no_maint {
        nav(
            link(uri, o.up_only, false, o.norefresh),
            "Show MAINT servers",
        );
    } else {
        nav(
            link(uri, o.up_only, true, o.norefresh),
            "Hide MAINT servers",
        );
    }
    if page.refresh.is_some() && !o.norefresh {
        nav(link(uri, o.up_only, o.no_maint, true), "Disable refresh");
    } else {
        nav(link(uri, o.up_only, o.no_maint, o.norefresh), "Refresh now");
    }
    nav(format!("{uri};csv"), "CSV");
    nav(format!("{uri};json"), "JSON");
    out.push_str("</nav>\n</header>\n");
}

fn banner(out: &mut String, page: &StatsPage, status: ActionStatus) {
    let (class, message) = match status {
        ActionStatus::Done => ("ok", "Action processed successfully."),
        ActionStatus::None => ("warn", "Nothing has changed."),
        ActionStatus::Part => (
            "warn",
            "Action partially processed.<br>Some server names are probably unknown or ambiguous \
             (duplicated names in the backend).",
        ),
        ActionStatus::Errp => (
            "err",
            "Action not processed because of invalid parameters.<ul><li>The action is maybe \
             unknown.</li><li>Invalid key parameter (empty or too long).</li><li>The backend name \
             is probably unknown or ambiguous (duplicated names).</li><li>Some server names are \
             probably unknown or ambiguous (duplicated names in the backend).</li></ul>",
        ),
        ActionStatus::Excd => (
            "err",
            "<b>Action not processed : the buffer couldn't store all the data.<br>You should retry \
             with less servers at a time.</b>",
        ),
        ActionStatus::Deny => ("err", "<b>Action denied.</b>"),
    };
    let o = page.options;
    let _ = writeln!(
        out,
        "<div class=\"banner {class}\" role=\"status\"><div>{message}</div>\
         <a href=\"{}\" title=\"Remove this message\">✕</a></div>",
        esc(&link(&page.uri, o.up_only, o.no_maint, o.norefresh))
    );
}

fn process(out: &mut String, page: &StatsPage) {
    let p = &page.process;
    let mut facts: Vec<(&str, String)> = vec![
        ("pid", p.pid.to_string()),
        ("node", esc(&p.node)),
        ("uptime", p.uptime_text()),
    ];
    let mut drivers: Vec<(&str, usize)> = Vec::new();
    for d in &p.shards {
        match drivers.iter_mut().find(|(name, _)| name == d) {
            Some((_, n)) => *n += 1,
            None => drivers.push((d, 1)),
        }
    }
    let drivers: Vec<String> = drivers
        .iter()
        .map(|(d, n)| format!("{n}× {}", esc(d)))
        .collect();
    facts.push((
        "shards",
        format!(
            "{} <small class=\"muted\">{}</small>",
            p.shards.len(),
            drivers.join(", ")
        ),
    ));
    facts.push((
        "connections",
        match p.max_connections {
            Some(max) => format!(
                "{} <small class=\"muted\">/ {max}</small>",
                p.current_connections
            ),
            None => p.current_connections.to_string(),
        },
    ));
    facts.push(("config generation", p.generation.to_string()));
    facts.push(("reloads", p.reloads.to_string()));
    if let Some(vrrp) = &p.vrrp {
        facts.push(("VRRP", esc(vrrp)));
    }
    out.push_str("<div class=\"process\">\n");
    for (label, value) in facts {
        let _ = writeln!(
            out,
            "<div class=\"fact\"><b>{label}</b><span>{value}</span></div>"
        );
    }
    out.push_str("</div>\n");
}

fn legend(out: &mut String) {
    out.push_str("<div class=\"legend\">\n");
    for (class, label) in [
        ("up", "active UP"),
        ("backup-up", "backup UP"),
        ("going-down", "UP, going down"),
        ("going-up", "DOWN, going up"),
        ("down", "DOWN"),
        ("no-check", "not checked"),
        ("maint", "DOWN for maintenance (MAINT)"),
        ("drain", "soft stopped (DRAIN / NOLB)"),
    ] {
        let _ = writeln!(
            out,
            "<span><span class=\"pill {class}\">&nbsp;</span> {label}</span>"
        );
    }
    out.push_str("</div>\n");
}

/// The rows of one proxy: its frontend, servers and backend, in page order.
struct Group<'a> {
    name: &'a str,
    rows: Vec<&'a StatRow>,
}

fn groups(rows: &[StatRow]) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    for row in rows {
        let name = row.text_of("pxname");
        match groups.iter_mut().find(|g| g.name == name) {
            Some(g) => g.rows.push(row),
            None => groups.push(Group {
                name,
                rows: vec![row],
            }),
        }
    }
    groups
}

fn latency<'a>(page: &'a StatsPage, backend: &str, server: Option<&str>) -> Option<&'a Latency> {
    page.latencies
        .iter()
        .find(|l| l.backend == backend && l.server.as_deref() == server)
}

const HEAD: &str = "<thead>\n<tr><th class=\"name\" rowspan=\"2\">Name</th>\
<th class=\"group\" colspan=\"5\">Server</th>\
<th class=\"group\" colspan=\"4\">Sessions</th><th class=\"group\" colspan=\"2\">Session rate</th>\
<th class=\"group\" colspan=\"2\">Bytes</th><th class=\"group\" colspan=\"2\">Denied</th>\
<th class=\"group\" colspan=\"3\">Errors</th><th class=\"group\" colspan=\"2\">Warnings</th>\
<th class=\"group\" colspan=\"4\">Checks</th><th class=\"group\" colspan=\"3\">Response time</th></tr>\n\
<tr><th>Status</th><th class=\"name\">Last check</th><th>Wght</th><th>Act</th><th>Bck</th>\
<th class=\"first\">Cur</th><th>Max</th><th>Limit</th><th>Total</th>\
<th class=\"first\">Cur</th><th>Max</th><th class=\"first\">In</th><th>Out</th>\
<th class=\"first\">Req</th><th>Resp</th><th class=\"first\">Req</th><th>Conn</th><th>Resp</th>\
<th class=\"first\">Retr</th><th>Redis</th>\
<th class=\"first\" title=\"failed checks\">Fail</th><th title=\"UP to DOWN transitions\">Down</th>\
<th title=\"last status change\">Last chg</th><th>Downtime</th>\
<th class=\"first\">p50</th><th>p99</th><th>p99.9</th></tr>\n</thead>\n";

fn proxy(out: &mut String, page: &StatsPage, group: &Group<'_>) {
    let name = esc(group.name);
    let backend = group.rows.iter().find(|r| r.kind == RowKind::Backend);
    let servers: Vec<&&StatRow> = group
        .rows
        .iter()
        .filter(|r| r.kind == RowKind::Server && !hidden(r, &page.options))
        .collect();
    let form =
        page.admin && backend.is_some() && group.rows.iter().any(|r| r.kind == RowKind::Server);
    let _ = write!(
        out,
        "<section class=\"proxy\" id=\"{name}\">\n<h2><a href=\"#{name}\">{name}</a>"
    );
    let first = group.rows.first().map(|r| r.text_of("mode")).unwrap_or("");
    if !first.is_empty() {
        let _ = write!(out, "<span class=\"tag\">{}</span>", esc(first));
    }
    if let Some(b) = backend {
        let algo = b.text_of("algo");
        if !algo.is_empty() {
            let _ = write!(out, "<span class=\"tag\">{}</span>", esc(algo));
        }
    }
    out.push_str("</h2>\n");
    if form {
        let _ = writeln!(out, "<form method=\"post\" action=\"{}\">", esc(&page.uri));
    }
    out.push_str("<div class=\"scroll\"><table>\n");
    let head = if form {
        HEAD.replacen(
            "<th class=\"name\" rowspan=\"2\">",
            "<th rowspan=\"2\"></th><th class=\"name\" rowspan=\"2\">",
            1,
        )
    } else {
        HEAD.to_string()
    };
    out.push_str(&head);
    out.push_str("<tbody>\n");
    for row in group.rows.iter().filter(|r| r.kind == RowKind::Frontend) {
        table_row(out, page, row, form);
    }
    for row in &servers {
        table_row(out, page, row, form);
    }
    if let Some(row) = backend {
        table_row(out, page, row, form);
    }
    out.push_str("</tbody>\n</table></div>\n");
    if form {
        if let Some(b) = backend {
            // HAProxy posts the backend as `#` and its numeric id.
            let _ = write!(
                out,
                "<div class=\"admin\"><input type=\"hidden\" name=\"b\" value=\"#{}\">\
                 <label>Selected servers: <select name=\"action\"><option value=\"\"></option>",
                b.iid
            );
            for (value, label) in ACTIONS {
                let _ = write!(out, "<option value=\"{value}\">{label}</option>");
            }
            // ringlb's own action: a weight (0-256, or N% of the configured one).
            out.push_str(
                "<option value=\"weight\">Set weight to</option></select></label> \
                 <input name=\"weight\" size=\"4\" placeholder=\"weight\" \
                 aria-label=\"weight\"> <button type=\"submit\">Apply</button></div>\n</form>\n",
            );
        }
    }
    out.push_str("</section>\n");
}

fn table_row(out: &mut String, page: &StatsPage, row: &StatRow, form: bool) {
    let status = row.text_of("status");
    let backup = row.num_of("bck") == Some(1) && row.kind == RowKind::Server;
    let class = status_class(status, backup);
    let (tr_class, label) = match row.kind {
        RowKind::Frontend => ("total", "Frontend".to_string()),
        RowKind::Backend => ("total", "Backend".to_string()),
        RowKind::Server => ("srv", esc(row.text_of("svname"))),
    };
    let _ = write!(out, "<tr class=\"{tr_class} {class}\">");
    if form {
        if row.kind == RowKind::Server {
            let _ = write!(
                out,
                "<td><input type=\"checkbox\" name=\"s\" value=\"{}\" aria-label=\"select {}\"></td>",
                esc(row.text_of("svname")),
                esc(row.text_of("svname"))
            );
        } else {
            out.push_str("<td></td>");
        }
    }
    let addr = row.text_of("addr");
    if addr.is_empty() {
        let _ = write!(out, "<td class=\"name\">{label}</td>");
    } else {
        let _ = write!(
            out,
            "<td class=\"name\" title=\"{}\">{label}</td>",
            esc(addr)
        );
    }
    let shown_status = if row.kind == RowKind::Server && backup && status == "UP" {
        "UP".to_string()
    } else {
        esc(status)
    };
    let _ = write!(
        out,
        "<td><span class=\"pill {class}\">{shown_status}</span></td>"
    );
    // Last check: `L7OK/200 in 1ms`, its description as the tooltip.
    let check = row.text_of("check_status");
    if check.is_empty() {
        out.push_str("<td class=\"check\"></td>");
    } else {
        let mut s = esc(check);
        if let Some(code) = row.num_of("check_code") {
            let _ = write!(s, "/{code}");
        }
        if let Some(ms) = row.num_of("check_duration") {
            let _ = write!(s, " in {ms}ms");
        }
        let mut tip = row.text_of("check_desc").to_string();
        let info = row.text_of("last_chk");
        if !info.is_empty() {
            tip = format!("{tip}: {info}");
        }
        let _ = write!(out, "<td class=\"check\" title=\"{}\">{s}</td>", esc(&tip));
    }
    let (act, bck) = match row.kind {
        RowKind::Server => (
            if row.num_of("act") == Some(1) {
                "Y"
            } else {
                "-"
            }
            .to_string(),
            if row.num_of("bck") == Some(1) {
                "Y"
            } else {
                "-"
            }
            .to_string(),
        ),
        _ => (count(row, "act"), count(row, "bck")),
    };
    let (act, bck) = if row.kind == RowKind::Frontend {
        (String::new(), String::new())
    } else {
        (act, bck)
    };
    let cells = [
        (false, count(row, "weight")),
        (false, act),
        (false, bck),
        (true, count(row, "scur")),
        (false, count(row, "smax")),
        (false, count(row, "slim")),
        (false, count(row, "stot")),
        (true, count(row, "rate")),
        (false, count(row, "rate_max")),
        (true, bytes(row, "bin")),
        (false, bytes(row, "bout")),
        (true, count(row, "dreq")),
        (false, count(row, "dresp")),
        (true, count(row, "ereq")),
        (false, count(row, "econ")),
        (false, count(row, "eresp")),
        (true, count(row, "wretr")),
        (false, count(row, "wredis")),
        (true, count(row, "chkfail")),
        (false, count(row, "chkdown")),
        (false, row.num_of("lastchg").map(age).unwrap_or_default()),
        (
            false,
            row.num_of("downtime")
                .filter(|d| *d > 0)
                .map(age)
                .unwrap_or_default(),
        ),
    ];
    for (first, cell) in cells {
        if first {
            let _ = write!(out, "<td class=\"first\">{cell}</td>");
        } else {
            let _ = write!(out, "<td>{cell}</td>");
        }
    }
    let times = match row.kind {
        RowKind::Frontend => None,
        RowKind::Backend => Some(latency(page, row.text_of("pxname"), None)),
        RowKind::Server => Some(latency(
            page,
            row.text_of("pxname"),
            Some(row.text_of("svname")),
        )),
    };
    match times {
        None => out.push_str("<td class=\"first\"></td><td></td><td></td>"),
        Some(Some(l)) if l.percentiles.count > 0 => {
            let p = l.percentiles;
            let _ = write!(
                out,
                "<td class=\"first\" title=\"{} responses\">{}</td><td>{}</td><td>{}</td>",
                p.count,
                micros(p.p50),
                micros(p.p99),
                micros(p.p999)
            );
        }
        Some(_) => out.push_str(
            "<td class=\"first muted\">–</td><td class=\"muted\">–</td><td class=\"muted\">–</td>",
        ),
    }
    out.push_str("</tr>\n");
}

#[cfg(test)]
mod tests {
    use scraper::{Html, Selector};

    use super::super::json::test_rows::row;
    use super::super::prometheus::tests::sample_page;
    use super::*;

    fn parse(html: &str) -> Html {
        let doc = Html::parse_document(html);
        assert!(doc.errors.is_empty(), "parse errors: {:?}", doc.errors);
        doc
    }

    fn select<'a>(doc: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
        let selector = Selector::parse(css).unwrap();
        doc.select(&selector).collect()
    }

    fn texts(doc: &Html, css: &str) -> Vec<String> {
        select(doc, css)
            .iter()
            .map(|e| e.text().collect::<String>())
            .collect()
    }

    #[test]
    fn well_formed_with_the_model_content() {
        let page = sample_page();
        let html = page_html(&page);
        let doc = parse(&html);
        assert_eq!(texts(&doc, "h1"), ["ringlbversion 0.1.0"]);
        let facts = texts(&doc, ".fact");
        for expected in [
            "pid4242",
            "nodelb1",
            "uptime3d 1h02m03s",
            "config generation3",
            "reloads2",
            "VRRPMASTER",
        ] {
            assert!(
                facts.iter().any(|f| f == expected),
                "{expected} not in {facts:?}"
            );
        }
        assert!(facts
            .iter()
            .any(|f| f.starts_with("shards2") && f.contains("io_uring")));
        assert!(facts.iter().any(|f| f == "connections4 / 1000"));
        // One section per proxy, servers between the frontend and backend rows.
        assert_eq!(select(&doc, "section.proxy").len(), 3);
        let names = texts(&doc, "section#b td.name");
        assert_eq!(names, ["s1", "we\"ird\\", "Backend"]);
        let s1 = &select(&doc, "section#b tbody tr")[0];
        let cells: Vec<String> = s1
            .select(&Selector::parse("td").unwrap())
            .map(|c| c.text().collect())
            .collect();
        assert_eq!(cells[1], "UP");
        assert_eq!(cells[2], "L7OK/200 in 1ms");
        assert!(cells.contains(&"1h2m".to_string()));
        assert_eq!(&cells[cells.len() - 3..], ["1.5ms", "12.0ms", "250ms"]);
        // No responses measured: a dash, not a zero.
        let weird = &select(&doc, "section#b tbody tr")[1];
        let cells: Vec<String> = weird
            .select(&Selector::parse("td").unwrap())
            .map(|c| c.text().collect())
            .collect();
        assert_eq!(&cells[cells.len() - 3..], ["–", "–", "–"]);
        assert_eq!(select(&doc, "section#b tr.maint").len(), 1);
        assert_eq!(select(&doc, "section#b tr.up").len(), 2);
        assert_eq!(select(&doc, "section#db tr.down").len(), 1);
        let links: Vec<String> = select(&doc, "nav a")
            .iter()
            .filter_map(|a| a.value().attr("href"))
            .map(String::from)
            .collect();
        for expected in [
            "/stats;csv",
            "/stats;json",
            "/stats;norefresh",
            "/stats;up",
            "/stats;no-maint",
        ] {
            assert!(
                links.iter().any(|l| l == expected),
                "{expected} not in {links:?}"
            );
        }
        assert!(select(&doc, "script").is_empty());
        assert!(select(&doc, "link").is_empty());
    }

    fn page_html(p: &StatsPage) -> String {
        page(p)
    }

    #[test]
    fn admin_form_only_when_admin() {
        let mut p = sample_page();
        let doc = parse(&page_html(&p));
        assert!(select(&doc, "form").is_empty());
        assert!(select(&doc, "input").is_empty());
        p.admin = true;
        let doc = parse(&page_html(&p));
        let forms = select(&doc, "form");
        assert_eq!(forms.len(), 1, "only the backend with servers gets a form");
        assert_eq!(forms[0].value().attr("method"), Some("post"));
        assert_eq!(forms[0].value().attr("action"), Some("/stats"));
        let hidden = select(&doc, "form input[type=hidden][name=b]");
        assert_eq!(hidden[0].value().attr("value"), Some("#3"));
        let boxes: Vec<&str> = select(&doc, "form input[type=checkbox][name=s]")
            .iter()
            .filter_map(|i| i.value().attr("value"))
            .collect();
        assert_eq!(boxes, ["s1", "we\"ird\\"]);
        let options: Vec<&str> = select(&doc, "form select[name=action] option")
            .iter()
            .filter_map(|o| o.value().attr("value"))
            .collect();
        let mut expected = vec![""];
        expected.extend(ACTIONS.iter().map(|(v, _)| *v));
        expected.push("weight");
        assert_eq!(options, expected);
        assert_eq!(select(&doc, "form input[name=weight]").len(), 1);
        assert_eq!(select(&doc, "form button[type=submit]").len(), 1);
    }

    #[test]
    fn filters() {
        let mut p = sample_page();
        p.rows.insert(
            2,
            row(
                RowKind::Server,
                3,
                3,
                &[
                    ("pxname", "b"),
                    ("svname", "s3"),
                    ("status", "DOWN 1/2"),
                    ("bck", "0"),
                ],
            ),
        );
        p.rows.insert(
            2,
            row(
                RowKind::Server,
                3,
                4,
                &[
                    ("pxname", "b"),
                    ("svname", "s4"),
                    ("status", "UP 1/3"),
                    ("bck", "0"),
                ],
            ),
        );
        let all = texts(&parse(&page_html(&p)), "section#b td.name");
        assert_eq!(all, ["s1", "s4", "s3", "we\"ird\\", "Backend"]);
        p.options.up_only = true;
        let up = texts(&parse(&page_html(&p)), "section#b td.name");
        assert_eq!(up, ["s1", "s4", "Backend"]);
        p.options = PageOptions {
            no_maint: true,
            ..PageOptions::default()
        };
        let doc = parse(&page_html(&p));
        assert_eq!(
            texts(&doc, "section#b td.name"),
            ["s1", "s4", "s3", "Backend"]
        );
        assert_eq!(select(&doc, "tr.going-up").len(), 1);
        assert_eq!(select(&doc, "tr.going-down").len(), 1);
    }

    #[test]
    fn hostile_names_are_escaped() {
        let mut p = sample_page();
        p.rows.push(row(
            RowKind::Server,
            5,
            1,
            &[
                ("pxname", "<script>alert(1)</script>"),
                ("svname", "\"><img src=x onerror=alert(2)>"),
                ("status", "UP"),
            ],
        ));
        p.process.node = "<b>node</b>".into();
        p.uri = "/s\"><script>x</script>".into();
        p.admin = true;
        let html = page_html(&p);
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<img"));
        let doc = parse(&html);
        assert!(select(&doc, "script").is_empty());
        assert!(select(&doc, "img").is_empty());
        assert!(select(&doc, ".fact b b").is_empty());
        assert!(texts(&doc, "h2 a").contains(&"<script>alert(1)</script>".to_string()));
        assert!(texts(&doc, "td.name").contains(&"\"><img src=x onerror=alert(2)>".to_string()));
    }

    #[test]
    fn refresh_meta() {
        let mut p = sample_page();
        let doc = parse(&page_html(&p));
        let meta = select(&doc, "meta[http-equiv=refresh]");
        assert_eq!(meta.len(), 1);
        assert_eq!(meta[0].value().attr("content"), Some("10"));
        p.options.norefresh = true;
        assert!(select(&parse(&page_html(&p)), "meta[http-equiv=refresh]").is_empty());
        p.options.norefresh = false;
        p.refresh = None;
        assert!(select(&parse(&page_html(&p)), "meta[http-equiv=refresh]").is_empty());
    }

    #[test]
    fn banner_legend_and_hidden_version() {
        let mut p = sample_page();
        assert!(select(&parse(&page_html(&p)), ".banner").is_empty());
        assert!(select(&parse(&page_html(&p)), ".legend").is_empty());
        p.action_status = Some(ActionStatus::Done);
        p.show_legends = true;
        p.hide_version = true;
        let doc = parse(&page_html(&p));
        assert_eq!(
            texts(&doc, ".banner div"),
            ["Action processed successfully."]
        );
        assert_eq!(select(&doc, ".legend .pill").len(), 8);
        assert_eq!(texts(&doc, "h1"), ["ringlb"]);
        for (status, text) in [
            (ActionStatus::None, "Nothing has changed."),
            (ActionStatus::Deny, "Action denied."),
            (
                ActionStatus::Errp,
                "Action not processed because of invalid parameters.",
            ),
        ] {
            p.action_status = Some(status);
            assert!(texts(&parse(&page_html(&p)), ".banner div")[0].starts_with(text));
        }
    }

    #[test]
    fn the_parser_reports_malformed_html() {
        let bad = Html::parse_document("<!DOCTYPE html><p><b>x</p></i>");
        assert!(!bad.errors.is_empty());
    }

    #[test]
    fn formats() {
        assert_eq!(age(7), "7s");
        assert_eq!(age(63), "1m3s");
        assert_eq!(age(3723), "1h2m");
        assert_eq!(age(3 * 86400 + 4 * 3600), "3d4h");
        assert_eq!(micros(800), "800µs");
        assert_eq!(micros(1500), "1.5ms");
        assert_eq!(micros(2_500_000), "2.50s");
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
