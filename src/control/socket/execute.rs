//! Runs runtime API commands against the control plane, answering in HAProxy's words.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use crate::config::{Config, StatsLevel};
use crate::control::admin::{ActionError, ServerAction};
use crate::control::health::CheckStatus;
use crate::control::plane::{ControlPlane, ServerRecord};
use crate::control::stats::build::process_info;
use crate::control::stats::rows::{csv, stat_rows, RowKind, StatRow, Value};
use crate::control::stats::{json, rows};

use super::command::{AdminState, Command, Format, HealthState, ServerRef, StatOptions};
use super::server::{Executor, LaterReply};
use crate::control::run::{apply, load_in_background};

/// The control plane seen through the admin socket.
pub struct PlaneExecutor {
    plane: Rc<RefCell<ControlPlane>>,
    /// The files a `reload` reads.
    files: Vec<PathBuf>,
    /// Set when the configuration changed (a reload, a server added, deleted or moved): the
    /// control loop then restarts the checks and follows the listeners.
    changed: Rc<Cell<bool>>,
}

impl PlaneExecutor {
    /// An executor for `plane`; `changed` is raised when the configuration changes.
    pub fn new(
        plane: Rc<RefCell<ControlPlane>>,
        files: Vec<PathBuf>,
        changed: Rc<Cell<bool>>,
    ) -> Self {
        Self {
            plane,
            files,
            changed,
        }
    }

    fn act(&self, target: ServerRef, action: ServerAction) -> String {
        let outcome = self
            .plane
            .borrow_mut()
            .apply(&[(target.backend, target.server, action)]);
        match outcome.into_iter().next() {
            Some(Ok(_)) | None => String::new(),
            Some(Err(ActionError::NoChecks)) => {
                "Health check was not configured on this server, cannot enable.\n".into()
            }
            Some(Err(e)) => format!("{e}\n"),
        }
    }

    /// Puts `config` in force as a reload does, and tells the control loop.
    fn replace(&self, config: Config) {
        self.plane.borrow_mut().reload(Arc::new(config));
        self.changed.set(true);
    }

    fn show_stat(&self, options: &StatOptions, level: StatsLevel) -> String {
        let plane = self.plane.borrow();
        let rows: Vec<StatRow> = stat_rows(&plane, Instant::now())
            .into_iter()
            .filter(|row| keep(row, options))
            .map(|mut row| {
                // As HAProxy: a user-level socket does not see server addresses.
                if level == StatsLevel::User {
                    if let Some(i) = rows::COLUMNS.iter().position(|c| *c == "addr") {
                        row.fields[i] = Value::Empty;
                    }
                }
                row
            })
            .collect();
        match options.format {
            Format::Plain => csv(&rows),
            Format::Typed => json::stat_typed(&rows),
            Format::Json => json::stat_json(&rows),
        }
    }

    fn show_info(&self, format: Format) -> String {
        let plane = self.plane.borrow();
        let now = Instant::now();
        let info = process_info(&plane, now);
        let secs = info.uptime.as_secs();
        let uptime = info.uptime_text();
        let config = Arc::clone(plane.config());
        let total = |pick: fn(&crate::state::counters::ProxyCounters) -> u64| -> u64 {
            config
                .frontends()
                .map(|p| plane.proxy_total(p.kind, &p.name, pick))
                .sum()
        };
        let fields: Vec<(&str, String)> = vec![
            ("Name", "ringlb".into()),
            ("Version", info.version.clone()),
            ("Nbthread", info.shards.len().to_string()),
            ("Nbproc", "1".into()),
            ("Process_num", "1".into()),
            ("Pid", info.pid.to_string()),
            ("Uptime", uptime),
            ("Uptime_sec", secs.to_string()),
            (
                "Maxconn",
                info.max_connections
                    .map_or(String::new(), |m| m.to_string()),
            ),
            ("CurrConns", info.current_connections.to_string()),
            ("CumConns", total(|c| c.conn_total.get()).to_string()),
            ("CumReq", total(|c| c.requests_total.get()).to_string()),
            ("node", info.node.clone()),
            ("Stopping", u8::from(plane.snapshot().stopping).to_string()),
            ("Generation", info.generation.to_string()),
            ("Reloads", info.reloads.to_string()),
            ("Shards", info.shards.join(" ")),
        ];
        let mut out = String::new();
        match format {
            Format::Plain => {
                for (k, v) in &fields {
                    let _ = writeln!(out, "{k}: {v}");
                }
            }
            Format::Typed => {
                for (i, (k, v)) in fields.iter().enumerate() {
                    let kind = if v.parse::<u64>().is_ok() {
                        "u64"
                    } else {
                        "str"
                    };
                    let _ = writeln!(out, "{i}.{k}.1:POS:{kind}:{v}");
                }
            }
            Format::Json => {
                let items: Vec<serde_json::Value> = fields
                    .iter()
                    .enumerate()
                    .map(|(i, (k, v))| {
                        let value = match v.parse::<u64>() {
                            Ok(n) => serde_json::json!({"type": "u64", "value": n}),
                            Err(_) => serde_json::json!({"type": "str", "value": v}),
                        };
                        serde_json::json!({
                            "field": {"pos": i, "name": k},
                            "processNum": 1,
                            "tags": {"origin": "Process", "nature": "Output", "scope": "Service"},
                            "value": value,
                        })
                    })
                    .collect();
                out = serde_json::Value::Array(items).to_string();
                out.push('\n');
            }
        }
        out
    }

    fn show_servers_state(&self, only: Option<usize>) -> String {
        let plane = self.plane.borrow();
        let config = Arc::clone(plane.config());
        let now = Instant::now();
        let mut out = String::from("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n");
        for proxy in config
            .backends()
            .filter(|p| only.is_none_or(|id| id == p.id))
        {
            for (sid, server) in proxy.servers.iter().enumerate() {
                let Some(record) = plane.server(proxy.id, sid) else {
                    continue;
                };
                let (status, result, health, state) =
                    check_fields(record, server.check.rise, server.disabled);
                let _ = writeln!(
                    out,
                    "{} {} {} {} {} {} {} {} {} {} {status} {result} {health} {state} 0 0 0 - {} - 0 {} {} - 0",
                    proxy.uuid,
                    proxy.name,
                    server.puid,
                    server.name,
                    server.addr.addr.ip(),
                    op_state(record),
                    admin_bits(record, server.disabled),
                    record.weight,
                    server.weight,
                    record.history.since_change(now).as_secs(),
                    server.addr.addr.port(),
                    server.check.port.unwrap_or(0),
                    server.check.addr.map_or("-".to_string(), |a| a.to_string()),
                );
            }
        }
        out
    }

    fn add_server(&self, backend: usize, name: &str, addr: &str, options: &[String]) -> String {
        // The words go into a server line: none may carry a space or control character
        // (an escaped newline would start another config line), and the address must be an
        // IP (a name would be resolved here, on the control thread).
        let words = options.iter().map(String::as_str).chain([name, addr]);
        if words
            .clone()
            .any(|w| w.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return "add server: arguments may not contain spaces or control characters.".into();
        }
        let literal = addr.parse::<std::net::SocketAddr>().is_ok()
            || addr.parse::<std::net::IpAddr>().is_ok();
        if !literal {
            return format!(
                "add server: '{addr}' is not an IP address; names are resolved only when the configuration is read (a name would block the control thread)."
            );
        }
        let config = Arc::clone(self.plane.borrow().config());
        let Some(proxy) = config.proxies.get(backend) else {
            return "No such backend.".into();
        };
        if proxy.static_weights() {
            return "Backend must use a dynamic load balancing to support dynamic servers.".into();
        }
        // A dynamic server takes no `default-server` settings (as in HAProxy 2.6): its line
        // is read on its own, by the same parser as the configuration.
        let text = format!(
            "backend {}\n server {} {} {}\n",
            proxy.name,
            name,
            addr,
            options.join(" ")
        );
        let parsed = match crate::config::load_sources(&[("stats socket command".into(), text)]) {
            Ok(loaded) => loaded.config,
            Err(errors) => {
                return errors
                    .0
                    .iter()
                    .map(|e| format!("{e}\n"))
                    .collect::<String>();
            }
        };
        let Some(mut server) = parsed
            .proxies
            .first()
            .and_then(|p| p.servers.first())
            .cloned()
        else {
            return "'server' expects <name> and <addr>[:<port>] as arguments.".into();
        };
        let mut next = (*config).clone();
        let Some(target) = next.proxies.get_mut(backend) else {
            return "No such backend.".into();
        };
        // As HAProxy: a new server starts in maintenance; `enable server` puts it to work.
        server.disabled = true;
        // As HAProxy's `add server`: its own `id` if free, else the first free one.
        let taken = |id: u32| target.servers.iter().any(|s| s.puid == id);
        if server.explicit_id && taken(server.puid) {
            return format!("'id' : custom id {} already used", server.puid);
        }
        if !server.explicit_id {
            server.puid = (1..).find(|&id| !taken(id)).unwrap_or(u32::MAX);
        }
        target.servers.push(server);
        let added = target.servers.len() - 1;
        self.replace(next);
        // And in HAProxy's words that is a forced maintenance (admin state 0x01), not the
        // configuration's `disabled` (0x05): say so, as an operator's `disable server` would.
        let _ = self
            .plane
            .borrow_mut()
            .apply(&[(backend, added, ServerAction::Maint)]);
        // HAProxy's text ends in a newline (its notice), unlike "Server deleted.".
        "New server registered.\n".into()
    }

    fn del_server(&self, target: ServerRef) -> String {
        let config = Arc::clone(self.plane.borrow().config());
        let in_maint = self
            .plane
            .borrow()
            .server(target.backend, target.server)
            .is_some_and(|r| r.maint);
        if !in_maint {
            return "Only servers in maintenance mode can be deleted.".into();
        }
        let busy = self
            .plane
            .borrow()
            .counters()
            .server_sum(target.backend, target.server, |c| {
                c.sessions_current.get().max(0) as u64
            });
        if busy > 0 {
            return "Server still has connections attached to it, cannot remove it.".into();
        }
        let mut next = (*config).clone();
        let Some(proxy) = next.proxies.get_mut(target.backend) else {
            return "No such backend.".into();
        };
        if target.server >= proxy.servers.len() {
            return "No such server.".into();
        }
        proxy.servers.remove(target.server);
        self.replace(next);
        "Server deleted.".into()
    }

    fn set_addr(&self, target: ServerRef, ip: std::net::IpAddr, port: Option<u16>) -> String {
        let config = Arc::clone(self.plane.borrow().config());
        let mut next = (*config).clone();
        let Some(server) = next
            .proxies
            .get_mut(target.backend)
            .and_then(|p| p.servers.get_mut(target.server))
        else {
            return "No such server.\n".into();
        };
        let old = server.addr.addr;
        let mut reply = format!("IP changed from '{}' to '{ip}'", old.ip());
        server.addr.addr.set_ip(ip);
        if server.no_address {
            // The server leaves `MAINT (resolution)`, at the port its line named (kept at 0
            // while it had no address).
            server.no_address = false;
            let named = server
                .addr_text
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse().ok());
            if let (None, Some(named)) = (port, named) {
                server.addr.addr.set_port(named);
            }
        }
        if let Some(port) = port {
            let _ = write!(reply, ", port changed from '{}' to '{port}'", old.port());
            server.addr.addr.set_port(port);
            server.addr.port_from_client = false;
        }
        server.addr_text = server.addr.addr.to_string();
        reply.push_str(" by 'stats socket command'\n");
        self.replace(next);
        reply
    }
}

/// Whether a `show stat` row passes the command's filters.
fn keep(row: &StatRow, options: &StatOptions) -> bool {
    if let Some(f) = options.filter {
        if f.iid != -1 && i64::from(row.iid) != i64::from(f.iid) {
            return false;
        }
        let bit = match row.kind {
            RowKind::Frontend => 1,
            RowKind::Backend => 2,
            RowKind::Server => 4,
        };
        if f.types != -1 && f.types & bit == 0 {
            return false;
        }
        if row.kind == RowKind::Server && f.sid != -1 && i64::from(row.sid) != i64::from(f.sid) {
            return false;
        }
    }
    if row.kind == RowKind::Server {
        let status = match row.get("status") {
            Value::Text(t) => t.as_str(),
            _ => "",
        };
        if options.no_maint && status.starts_with("MAINT") {
            return false;
        }
        if options.up && !(status.starts_with("UP") || status == "no check") {
            return false;
        }
    }
    true
}

/// HAProxy's `srv_op_state`: 0 stopped, 2 running.
fn op_state(record: &ServerRecord) -> u8 {
    if record.is_up() {
        2
    } else {
        0
    }
}

/// HAProxy's `srv_admin_state` bits: 0x01 forced maintenance, 0x04 maintenance from the
/// configuration, 0x08 forced drain.
fn admin_bits(record: &ServerRecord, disabled: bool) -> u8 {
    let mut bits = 0;
    match record.admin.maint {
        Some(true) => bits |= 0x01,
        None if disabled => bits |= 0x01 | 0x04,
        _ => {}
    }
    if record.admin.drain {
        bits |= 0x08;
    }
    if record.unresolved {
        bits |= 0x20;
    }
    bits
}

/// HAProxy's `srv_check_status`, `srv_check_result`, `srv_check_health`, `srv_check_state`.
fn check_fields(record: &ServerRecord, rise: u32, disabled: bool) -> (u8, u8, u32, u8) {
    let Some(check) = &record.check else {
        // No check: initialising, neutral, at `rise` until the server is first put in
        // maintenance (HAProxy zeroes it then, and nothing raises it again). Only the
        // configuration's `disabled` marks the (absent) check paused (HAProxy's
        // `srv_parse_disabled`); `disable server` at run time does not.
        let paused = disabled && record.admin.maint.is_none();
        let zeroed = record.maint || disabled || record.admin.was_maint;
        return (
            1,
            0,
            if zeroed { 0 } else { rise },
            if paused { 8 } else { 0 },
        );
    };
    let status = match check.last.status {
        CheckStatus::Init => 1,
        CheckStatus::Hana => 4,
        CheckStatus::SockErr => 5,
        CheckStatus::L4Ok => 6,
        CheckStatus::L4Timeout => 7,
        CheckStatus::L4Con => 8,
        CheckStatus::L7Timeout => 12,
        CheckStatus::L7Rsp => 13,
        CheckStatus::L7Ok => 15,
        CheckStatus::L7Sts => 17,
    };
    let result = match check.last.status {
        CheckStatus::Init => 0,
        s if s.passed() => 3,
        _ => 2,
    };
    // Configured (0x02), enabled (0x04) unless turned off.
    let state = if record.admin.checks_off { 0x02 } else { 0x06 };
    (status, result, check.health.value, state)
}

impl Executor for PlaneExecutor {
    fn execute(&mut self, command: &Command, level: StatsLevel) -> String {
        let changes_config = matches!(
            command,
            Command::AddServer { .. } | Command::DelServer(_) | Command::SetServerAddr { .. }
        );
        if changes_config && self.plane.borrow().snapshot().stopping {
            return "Stopping: the configuration no longer changes.\n".into();
        }
        match command {
            Command::Help(text) => text.clone(),
            Command::Prompt | Command::Quit => String::new(),
            Command::ShowInfo { format, .. } => self.show_info(*format),
            Command::ShowStat(options) => self.show_stat(options, level),
            Command::ShowServersState(only) => self.show_servers_state(*only),
            Command::ShowBackend => {
                let config = self.config();
                let mut out = String::from("# name\n");
                for p in config.backends() {
                    let _ = writeln!(out, "{}", p.name);
                }
                out
            }
            Command::ShowErrors { iid, side } => {
                let mut plane = self.plane.borrow_mut();
                // Not only on the tick: a capture sent before its 400 went out is shown
                // to whoever saw the 400.
                plane.collect_errors();
                super::errors::show_errors(
                    plane.errors(),
                    plane.config(),
                    *iid,
                    *side,
                    std::time::SystemTime::now(),
                )
            }
            Command::DisableServer(s) => self.act(*s, ServerAction::Maint),
            Command::EnableServer(s) => self.act(*s, ServerAction::Ready),
            Command::DisableHealth(s) => self.act(*s, ServerAction::ChecksOff),
            Command::EnableHealth(s) => self.act(*s, ServerAction::ChecksOn),
            Command::SetServerState(s, state) => self.act(
                *s,
                match state {
                    AdminState::Ready => ServerAction::Ready,
                    AdminState::Drain => ServerAction::Drain,
                    AdminState::Maint => ServerAction::Maint,
                },
            ),
            Command::SetServerHealth(s, health) => match health {
                HealthState::Up => self.act(*s, ServerAction::ForceUp),
                HealthState::Down => self.act(*s, ServerAction::ForceDown),
                HealthState::Stopping => {
                    "'set server <srv> health stopping' is not supported by ringlb.\n".into()
                }
            },
            Command::SetWeight(s, weight) => {
                let initial = self
                    .config()
                    .proxies
                    .get(s.backend)
                    .and_then(|p| p.servers.get(s.server))
                    .map_or(0, |srv| srv.weight);
                self.act(*s, ServerAction::Weight(weight.resolve(initial)))
            }
            Command::GetWeight(s) => {
                let config = self.config();
                let initial = config
                    .proxies
                    .get(s.backend)
                    .and_then(|p| p.servers.get(s.server))
                    .map_or(0, |srv| srv.weight);
                let current = self
                    .plane
                    .borrow()
                    .server(s.backend, s.server)
                    .map_or(initial, |r| r.weight);
                format!("{current} (initial {initial})\n")
            }
            Command::SetServerAddr { server, addr, port } => self.set_addr(*server, *addr, *port),
            Command::AddServer {
                backend,
                name,
                addr,
                options,
            } => self.add_server(*backend, name, addr, options),
            Command::DelServer(s) => self.del_server(*s),
            // Answered by `execute_later`: the files are read off the control thread.
            Command::Reload => "Reload is already answered.\n".into(),
            Command::ShowVrrp => {
                let plane = self.plane.borrow();
                if plane.vrrp.is_empty() {
                    "VRRP is not configured.\n".into()
                } else {
                    plane.vrrp.iter().map(|v| v.describe()).collect()
                }
            }
        }
    }

    fn config(&self) -> Arc<Config> {
        Arc::clone(self.plane.borrow().config())
    }

    fn execute_later(&mut self, command: &Command) -> Option<LaterReply> {
        if *command != Command::Reload {
            return None;
        }
        if self.plane.borrow().snapshot().stopping {
            return Some(Box::pin(async {
                "Stopping: the configuration no longer changes.\n".to_string()
            }));
        }
        let (plane, changed) = (Rc::clone(&self.plane), Rc::clone(&self.changed));
        let loading = load_in_background(self.files.clone());
        Some(Box::pin(async move {
            // As SIGHUP: read (and resolve) on a thread of its own; the control thread goes
            // on meanwhile, and this session waits for the outcome.
            let result = loop {
                match loading.try_recv() {
                    Ok(result) => break result,
                    Err(crossbeam_channel::TryRecvError::Empty) => {
                        monoio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                    Err(crossbeam_channel::TryRecvError::Disconnected) => {
                        return "Reload failed: the configuration could not be read.\n".into();
                    }
                }
            };
            let report = apply(&plane, result);
            if report.applied {
                changed.set(true);
            }
            let mut out = report.lines.join("\n");
            out.push('\n');
            out
        }))
    }
}
