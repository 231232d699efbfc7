//! Runtime API commands: parsed from a line, with the level each needs.
//!
//! Replies to bad input are HAProxy 2.6's own texts, byte for byte (including whether they end
//! in a newline: some of HAProxy's do not), so scripts written against HAProxy keep working.

use std::net::IpAddr;

use crate::config::{Config, Proxy, ProxyId, ServerId, StatsLevel};

/// HAProxy's reply when the session's level is too low for a command.
pub const PERMISSION_DENIED: &str = "Permission denied\n";

/// HAProxy's `MAX_CLI_ARGS`: words past this many are ignored.
const MAX_ARGS: usize = 64;

/// HAProxy's `CLI_PREFIX_KW_NB`: how many words the keyword matcher looks at.
const PREFIX_WORDS: usize = 5;

/// HAProxy's `CLI_MAX_MATCHES`: how many fuzzy suggestions an unknown command gets.
const MAX_MATCHES: usize = 5;

/// A server named on the command line, resolved against the configuration in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerRef {
    /// The backend (or listen) holding the server.
    pub backend: ProxyId,
    /// Index of the server in that proxy's `servers`.
    pub server: ServerId,
}

/// A weight as given to `set weight` / `set server ... weight`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// `N`: 0..=256.
    Absolute(u32),
    /// `N%`: of the initial weight, already capped at 25600 as HAProxy does.
    Relative(u32),
}

impl Weight {
    /// The absolute weight this stands for, given the server's initial weight.
    pub fn resolve(self, initial: u32) -> u32 {
        match self {
            Weight::Absolute(w) => w,
            // HAProxy computes in `long` then caps at 256; u64 keeps it overflow-free.
            Weight::Relative(p) => (u64::from(initial) * u64::from(p) / 100).min(256) as u32,
        }
    }
}

/// The administrative state `set server ... state` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminState {
    /// `ready`: leave maintenance and drain.
    Ready,
    /// `drain`: no new sessions except persistent ones.
    Drain,
    /// `maint`: out of service.
    Maint,
}

/// The operational state `set server ... health` forces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    /// `up`.
    Up,
    /// `stopping`.
    Stopping,
    /// `down`.
    Down,
}

/// Output format of `show info` / `show stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The default: `key: value` lines for info, CSV for stat.
    #[default]
    Plain,
    /// `typed`.
    Typed,
    /// `json`.
    Json,
}

/// `show stat`'s optional `{<iid>|<proxy>} <type> <sid>` filter, with HAProxy's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFilter {
    /// Proxy uuid (a name is resolved to its uuid); never 0.
    pub iid: i32,
    /// Bit mask: 1 frontends, 2 backends, 4 servers; -1 everything.
    pub types: i32,
    /// Server puid, or -1 for all.
    pub sid: i32,
}

/// `show stat` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatOptions {
    /// `typed` / `json`.
    pub format: Format,
    /// `desc`: add field descriptions.
    pub desc: bool,
    /// `no-maint`: hide servers in maintenance.
    pub no_maint: bool,
    /// `up`: show only servers that are up.
    pub up: bool,
    /// The proxy/type/server filter, if given.
    pub filter: Option<StatFilter>,
}

/// Which half of captured errors `show errors` dumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSide {
    /// Both requests and responses.
    Both,
    /// `request`.
    Request,
    /// `response`.
    Response,
}

/// One runtime API command, names already resolved to ids where it acts on existing objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `help [<command>]`: the usage text, already filtered by the given words.
    Help(String),
    /// `prompt`: toggle interactive mode.
    Prompt,
    /// `quit`: close the session.
    Quit,
    /// `show info [typed|json] [desc]`.
    ShowInfo {
        /// Output format.
        format: Format,
        /// `desc`: add field descriptions.
        desc: bool,
    },
    /// `show stat ...`.
    ShowStat(StatOptions),
    /// `show servers state [<backend>]`.
    ShowServersState(Option<ProxyId>),
    /// `show backend`.
    ShowBackend,
    /// `show errors [<px>] [request|response]`.
    ShowErrors {
        /// Proxy uuid, or -1 for all (HAProxy's `iid`).
        iid: i32,
        /// Which side to dump.
        side: ErrorSide,
    },
    /// `disable server <b>/<s>`: maintenance.
    DisableServer(ServerRef),
    /// `enable server <b>/<s>`: leave maintenance.
    EnableServer(ServerRef),
    /// `disable health <b>/<s>`.
    DisableHealth(ServerRef),
    /// `enable health <b>/<s>`.
    EnableHealth(ServerRef),
    /// `set server <b>/<s> state ready|drain|maint`.
    SetServerState(ServerRef, AdminState),
    /// `set server <b>/<s> health up|stopping|down`.
    SetServerHealth(ServerRef, HealthState),
    /// `set weight <b>/<s> N[%]` and `set server <b>/<s> weight N[%]`.
    SetWeight(ServerRef, Weight),
    /// `get weight <b>/<s>`.
    GetWeight(ServerRef),
    /// `set server <b>/<s> addr <ip> [port <n>]`.
    SetServerAddr {
        /// The server.
        server: ServerRef,
        /// New address.
        addr: IpAddr,
        /// New port, if `port` was given.
        port: Option<u16>,
    },
    /// `add server <b>/<s> <addr> [options]`.
    AddServer {
        /// The backend receiving the server.
        backend: ProxyId,
        /// The new server's name (checked free).
        name: String,
        /// The address word as written.
        addr: String,
        /// The remaining `server` keywords, as written, for the executor to parse.
        options: Vec<String>,
    },
    /// `del server <b>/<s>`.
    DelServer(ServerRef),
    /// `reload`: re-read the configuration (ringlb's own; HAProxy has it on the master CLI).
    Reload,
    /// `show vrrp`: ringlb's own.
    ShowVrrp,
}

impl Command {
    /// The lowest socket level allowed to run this command.
    pub fn level(&self) -> StatsLevel {
        self.keyword().level
    }

    fn keyword(&self) -> &'static Keyword {
        let kw = match self {
            Command::Help(_) => Kw::Help,
            Command::Prompt => Kw::Prompt,
            Command::Quit => Kw::Quit,
            Command::ShowInfo { .. } => Kw::ShowInfo,
            Command::ShowStat(_) => Kw::ShowStat,
            Command::ShowServersState(_) => Kw::ShowServersState,
            Command::ShowBackend => Kw::ShowBackend,
            Command::ShowErrors { .. } => Kw::ShowErrors,
            Command::DisableServer(_) => Kw::DisableServer,
            Command::EnableServer(_) => Kw::EnableServer,
            Command::DisableHealth(_) => Kw::DisableHealth,
            Command::EnableHealth(_) => Kw::EnableHealth,
            Command::SetServerState(..)
            | Command::SetServerHealth(..)
            | Command::SetServerAddr { .. } => Kw::SetServer,
            // `set server ... weight` and `set weight` share both the variant and the level.
            Command::SetWeight(..) => Kw::SetWeight,
            Command::GetWeight(_) => Kw::GetWeight,
            Command::AddServer { .. } => Kw::AddServer,
            Command::DelServer(_) => Kw::DelServer,
            Command::Reload => Kw::Reload,
            Command::ShowVrrp => Kw::ShowVrrp,
        };
        KEYWORDS.iter().find(|k| k.kw == kw).unwrap_or(&KEYWORDS[0])
    }
}

/// Orders levels (the config enum has no `Ord`): user < operator < admin.
pub fn level_rank(level: StatsLevel) -> u8 {
    match level {
        StatsLevel::User => 1,
        StatsLevel::Operator => 2,
        StatsLevel::Admin => 3,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kw {
    Help,
    Prompt,
    Quit,
    ShowInfo,
    ShowStat,
    ShowServersState,
    ShowBackend,
    ShowErrors,
    DisableServer,
    EnableServer,
    DisableHealth,
    EnableHealth,
    SetServer,
    SetWeight,
    GetWeight,
    AddServer,
    DelServer,
    Reload,
    ShowVrrp,
}

struct Keyword {
    kw: Kw,
    words: &'static [&'static str],
    /// As HAProxy prints it in help; `None` for help/prompt/quit, which are always appended.
    usage: Option<&'static str>,
    level: StatsLevel,
}

use StatsLevel::{Admin, Operator, User};

/// Levels follow HAProxy 2.6's `cli_has_level` calls: every state change needs admin,
/// `show errors` needs operator, reads are open to user.
const KEYWORDS: &[Keyword] = &[
    Keyword { kw: Kw::Help, words: &["help"], usage: None, level: User },
    Keyword { kw: Kw::Prompt, words: &["prompt"], usage: None, level: User },
    Keyword { kw: Kw::Quit, words: &["quit"], usage: None, level: User },
    Keyword {
        kw: Kw::AddServer,
        words: &["add", "server"],
        usage: Some("add server <bk>/<srv>                   : create a new server"),
        level: Admin,
    },
    Keyword {
        kw: Kw::DelServer,
        words: &["del", "server"],
        usage: Some("del server <bk>/<srv>                   : remove a dynamically added server"),
        level: Admin,
    },
    Keyword {
        kw: Kw::DisableHealth,
        words: &["disable", "health"],
        usage: Some("disable health                          : disable health checks"),
        level: Admin,
    },
    Keyword {
        kw: Kw::DisableServer,
        words: &["disable", "server"],
        usage: Some("disable server (DEPRECATED)             : disable a server for maintenance (use 'set server' instead)"),
        level: Admin,
    },
    Keyword {
        kw: Kw::EnableHealth,
        words: &["enable", "health"],
        usage: Some("enable health                           : enable health checks"),
        level: Admin,
    },
    Keyword {
        kw: Kw::EnableServer,
        words: &["enable", "server"],
        usage: Some("enable server  (DEPRECATED)             : enable a disabled server (use 'set server' instead)"),
        level: Admin,
    },
    Keyword {
        kw: Kw::GetWeight,
        words: &["get", "weight"],
        usage: Some("get weight <bk>/<srv>                   : report a server's current weight"),
        level: User,
    },
    Keyword {
        kw: Kw::Reload,
        words: &["reload"],
        usage: Some("reload                                  : reload the configuration"),
        level: Admin,
    },
    Keyword {
        kw: Kw::SetServer,
        words: &["set", "server"],
        usage: Some("set server <bk>/<srv> [opts]            : change a server's state, weight, address or ssl"),
        level: Admin,
    },
    Keyword {
        kw: Kw::SetWeight,
        words: &["set", "weight"],
        usage: Some("set weight <bk>/<srv>  (DEPRECATED)     : change a server's weight (use 'set server' instead)"),
        level: Admin,
    },
    Keyword {
        kw: Kw::ShowBackend,
        words: &["show", "backend"],
        usage: Some("show backend                            : list backends in the current running config"),
        level: User,
    },
    Keyword {
        kw: Kw::ShowErrors,
        words: &["show", "errors"],
        usage: Some("show errors [<px>] [request|response]   : report last request and/or response errors for each proxy"),
        level: Operator,
    },
    Keyword {
        kw: Kw::ShowInfo,
        words: &["show", "info"],
        usage: Some("show info [desc|json|typed|float]*      : report information about the running process"),
        level: User,
    },
    Keyword {
        kw: Kw::ShowServersState,
        words: &["show", "servers", "state"],
        usage: Some("show servers state [<backend>]          : dump volatile server information (all or for a single backend)"),
        level: User,
    },
    Keyword {
        kw: Kw::ShowStat,
        words: &["show", "stat"],
        usage: Some("show stat [desc|json|no-maint|typed|up]*: report counters for each proxy and server"),
        level: User,
    },
    Keyword {
        kw: Kw::ShowVrrp,
        words: &["show", "vrrp"],
        usage: Some("show vrrp                               : report the state of each VRRP instance"),
        level: User,
    },
];

/// Parses one command as an admin session would (no level refusal).
pub fn parse(line: &str, config: &Config) -> Result<Command, String> {
    parse_at(line, config, StatsLevel::Admin)
}

/// Parses one command for a session at `level`; `Err` holds HAProxy's exact reply text.
///
/// The level is checked before any name is resolved, as HAProxy does, so a user session learns
/// nothing about which backends exist from a command it may not run.
pub fn parse_at(line: &str, config: &Config, level: StatsLevel) -> Result<Command, String> {
    let args = split_args(line);
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    let Some(keyword) = find_keyword(&args) else {
        return Err(usage(&args));
    };
    if level_rank(level) < level_rank(keyword.level) {
        return Err(PERMISSION_DENIED.into());
    }
    match keyword.kw {
        Kw::Help => Ok(Command::Help(usage(&args))),
        Kw::Prompt => Ok(Command::Prompt),
        Kw::Quit => Ok(Command::Quit),
        Kw::ShowInfo => {
            let mut format = Format::Plain;
            let mut desc = false;
            for word in args.iter().skip(2) {
                match word.as_str() {
                    "typed" => format = Format::Typed,
                    "json" => format = Format::Json,
                    "desc" => desc = true,
                    _ => {}
                }
            }
            Ok(Command::ShowInfo { format, desc })
        }
        Kw::ShowStat => parse_show_stat(&args, config),
        Kw::ShowServersState => match arg(3) {
            "" => Ok(Command::ShowServersState(None)),
            name => config
                .backend(name)
                .map(|p| Command::ShowServersState(Some(p.id)))
                .ok_or_else(|| "Can't find backend.\n".to_string()),
        },
        Kw::ShowBackend => Ok(Command::ShowBackend),
        Kw::ShowErrors => {
            let iid = match arg(2) {
                "" => -1,
                name => {
                    let iid = proxy_iid(config, name);
                    if iid == 0 {
                        return Err("No such proxy.\n".into());
                    }
                    iid
                }
            };
            let side = match arg(3) {
                "request" => ErrorSide::Request,
                "response" => ErrorSide::Response,
                _ => ErrorSide::Both,
            };
            Ok(Command::ShowErrors { iid, side })
        }
        Kw::DisableServer => find_server(config, arg(2)).map(Command::DisableServer),
        Kw::EnableServer => find_server(config, arg(2)).map(Command::EnableServer),
        Kw::DisableHealth => find_server(config, arg(2)).map(Command::DisableHealth),
        Kw::EnableHealth => find_server(config, arg(2)).map(Command::EnableHealth),
        Kw::SetWeight => {
            let server = find_server(config, arg(2))?;
            Ok(Command::SetWeight(server, parse_weight(arg(3))?))
        }
        Kw::GetWeight => get_weight_server(config, arg(2)).map(Command::GetWeight),
        Kw::SetServer => parse_set_server(&args, config),
        Kw::AddServer => parse_add_server(&args, config),
        Kw::DelServer => {
            let (backend, server) =
                split_dynamic(arg(2)).ok_or_else(|| "Require 'backend/server'.".to_string())?;
            let proxy =
                find_backend(config, backend).ok_or_else(|| "No such backend.".to_string())?;
            let server =
                server_index(proxy, server).ok_or_else(|| "No such server.".to_string())?;
            Ok(Command::DelServer(ServerRef {
                backend: proxy.id,
                server,
            }))
        }
        Kw::Reload => Ok(Command::Reload),
        Kw::ShowVrrp => Ok(Command::ShowVrrp),
    }
}

fn parse_show_stat(args: &[String], config: &Config) -> Result<Command, String> {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    let mut i = 2;
    if arg(i) == "domain" {
        i += 1;
        match arg(i) {
            "proxy" => i += 1,
            // ringlb has no resolvers; refusing beats printing an empty dump that looks valid.
            _ => return Err("Invalid statistics domain.\n".into()),
        }
    }
    let mut options = StatOptions::default();
    if !arg(i).is_empty() && !arg(i + 1).is_empty() && !arg(i + 2).is_empty() {
        let iid = proxy_iid(config, arg(i));
        if iid == 0 {
            return Err("No such proxy.\n".into());
        }
        options.filter = Some(StatFilter {
            iid,
            types: atoi(arg(i + 1)),
            sid: atoi(arg(i + 2)),
        });
        i += 3;
    }
    for word in args.iter().skip(i) {
        match word.as_str() {
            "typed" => options.format = Format::Typed,
            "json" => options.format = Format::Json,
            "desc" => options.desc = true,
            "no-maint" => options.no_maint = true,
            "up" => options.up = true,
            _ => {}
        }
    }
    Ok(Command::ShowStat(options))
}

fn parse_set_server(args: &[String], config: &Config) -> Result<Command, String> {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    let server = find_server(config, arg(2))?;
    match arg(3) {
        "weight" => Ok(Command::SetWeight(server, parse_weight(arg(4))?)),
        "state" => {
            let state = match arg(4) {
                "ready" => AdminState::Ready,
                "drain" => AdminState::Drain,
                "maint" => AdminState::Maint,
                _ => {
                    return Err(
                        "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n".into(),
                    )
                }
            };
            Ok(Command::SetServerState(server, state))
        }
        "health" => {
            let state = match arg(4) {
                "up" => HealthState::Up,
                "stopping" => HealthState::Stopping,
                "down" => HealthState::Down,
                _ => {
                    return Err(
                        "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n".into(),
                    )
                }
            };
            Ok(Command::SetServerHealth(server, state))
        }
        "addr" => {
            let text = arg(4);
            if text.is_empty() {
                return Err(
                    "set server <b>/<s> addr requires an address and optionally a port.\n".into(),
                );
            }
            let addr: IpAddr = text
                .parse()
                .map_err(|_| format!("Invalid addr '{text}' by 'stats socket command'\n"))?;
            // As HAProxy: a word other than `port` after the address is ignored.
            let port = if arg(5) == "port" {
                Some(parse_port(arg(6))?)
            } else {
                None
            };
            Ok(Command::SetServerAddr { server, addr, port })
        }
        sub @ ("agent" | "agent-addr" | "agent-port" | "agent-send" | "check-addr"
        | "check-port" | "fqdn" | "ssl") => {
            Err(format!("'set server <srv> {sub}' is not supported by ringlb.\n"))
        }
        _ => Err("usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n".into()),
    }
}

/// The port of `set server ... addr A port P`, read as HAProxy's `strtol` would.
///
/// HAProxy applies the address change before failing on the port and prefixes its reply with
/// the address outcome; ringlb refuses the whole command, so only the port part is reported.
fn parse_port(text: &str) -> Result<u16, String> {
    let bad = || format!("problem converting port '{text}' to an int by 'stats socket command'\n");
    if text.starts_with(['+', '-']) {
        return Err(format!(
            "port maps ('{text}') are not supported by 'stats socket command'\n"
        ));
    }
    let (value, _) = strtol(text).ok_or_else(bad)?;
    u16::try_from(value).map_err(|_| bad())
}

fn parse_add_server(args: &[String], config: &Config) -> Result<Command, String> {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    let (backend, name) =
        split_dynamic(arg(2)).ok_or_else(|| "Require 'backend/server'.".to_string())?;
    let proxy = find_backend(config, backend).ok_or_else(|| "No such backend.".to_string())?;
    if proxy.static_weights() {
        return Err("Backend must use a dynamic load balancing to support dynamic servers.".into());
    }
    let addr = arg(3);
    if addr.is_empty() {
        return Err("'server' expects <name> and <addr>[:<port>] as arguments.\n".into());
    }
    if proxy.servers.iter().any(|s| s.name == name) {
        return Err("Already exists a server with the same name in backend.\n".into());
    }
    Ok(Command::AddServer {
        backend: proxy.id,
        name: name.to_string(),
        addr: addr.to_string(),
        options: args.iter().skip(4).cloned().collect(),
    })
}

/// `set weight`'s argument, with HAProxy's checks in HAProxy's order.
pub fn parse_weight(text: &str) -> Result<Weight, String> {
    if text.is_empty() {
        return Err("Require <weight> or <weight%>.\n".into());
    }
    let Some((w, rest)) = strtol(text) else {
        return Err("Empty weight string empty or preceded by garbage".into());
    };
    if rest == "%" {
        if w < 0 {
            return Err("Relative weight must be positive.\n".into());
        }
        return Ok(Weight::Relative(w.min(25600) as u32));
    }
    if !(0..=256).contains(&w) {
        return Err("Absolute weight can only be between 0 and 256 inclusive.\n".into());
    }
    if !rest.is_empty() {
        return Err("Trailing garbage in weight string".into());
    }
    Ok(Weight::Absolute(w as u32))
}

/// C's `strtol(s, &end, 10)`: the value (saturated) and the rest, or `None` if no digit.
fn strtol(s: &str) -> Option<(i64, &str)> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let len = digits.bytes().take_while(u8::is_ascii_digit).count();
    if len == 0 {
        return None;
    }
    let magnitude = digits[..len].bytes().fold(0i64, |acc, d| {
        acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    Some((
        if negative { -magnitude } else { magnitude },
        &digits[len..],
    ))
}

/// C's `atoi`: 0 when there is no number.
fn atoi(s: &str) -> i32 {
    strtol(s).map_or(0, |(v, _)| {
        v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
    })
}

/// A proxy of any kind by name, else the number as written (HAProxy's `iid` lookup).
fn proxy_iid(config: &Config, name: &str) -> i32 {
    match config.proxies.iter().find(|p| p.name == name) {
        Some(p) => i32::try_from(p.uuid).unwrap_or(i32::MAX),
        None => atoi(name),
    }
}

/// A backend by name, or by `#<uuid>` as HAProxy's `get_backend_server` allows.
fn find_backend<'a>(config: &'a Config, name: &str) -> Option<&'a Proxy> {
    match name.strip_prefix('#') {
        Some(id) => {
            let id = atoi(id);
            config
                .backends()
                .find(|p| i64::from(p.uuid) == i64::from(id))
        }
        None => config.backend(name),
    }
}

/// A server by name, or by `#<puid>`.
fn server_index(proxy: &Proxy, name: &str) -> Option<ServerId> {
    match name.strip_prefix('#') {
        Some(id) => {
            let id = atoi(id);
            proxy
                .servers
                .iter()
                .position(|s| i64::from(s.puid) == i64::from(id))
        }
        None => proxy.servers.iter().position(|s| s.name == name),
    }
}

/// HAProxy's `cli_find_server`: both halves must be non-empty.
fn find_server(config: &Config, arg: &str) -> Result<ServerRef, String> {
    let (backend, server) = match arg.split_once('/') {
        Some((b, s)) if !b.is_empty() && !s.is_empty() => (b, s),
        _ => return Err("Require 'backend/server'.\n".into()),
    };
    resolve(config, backend, server)
}

/// `get weight` only requires a server half; an empty backend is then "No such backend".
fn get_weight_server(config: &Config, arg: &str) -> Result<ServerRef, String> {
    match arg.split_once('/') {
        Some((b, s)) if !s.is_empty() => resolve(config, b, s),
        _ => Err("Require 'backend/server'.\n".into()),
    }
}

fn resolve(config: &Config, backend: &str, server: &str) -> Result<ServerRef, String> {
    let proxy = find_backend(config, backend).ok_or_else(|| "No such backend.\n".to_string())?;
    let server = server_index(proxy, server).ok_or_else(|| "No such server.\n".to_string())?;
    Ok(ServerRef {
        backend: proxy.id,
        server,
    })
}

/// `add server` / `del server` split: the `/` is looked for from the second character on.
fn split_dynamic(arg: &str) -> Option<(&str, &str)> {
    let slash = arg.get(1..)?.find('/')? + 1;
    let server = &arg[slash + 1..];
    (!server.is_empty()).then(|| (&arg[..slash], server))
}

/// Splits a command into words as HAProxy's `cli_parse_request`: blanks separate words, a
/// backslash escapes the next character (a blank or `;` included) and `\\` is a backslash.
pub fn split_args(line: &str) -> Vec<String> {
    let bytes = line.as_bytes();
    let mut args = Vec::new();
    let mut i = 0;
    while args.len() < MAX_ARGS && i < bytes.len() {
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t') {
            // The escaped byte may be anything, a blank included.
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        let end = i.min(bytes.len());
        let mut word = Vec::with_capacity(end - start);
        let mut k = start;
        while k < end {
            if bytes[k] == b'\\' {
                if bytes.get(k + 1) == Some(&b'\\') {
                    k += 1;
                } else {
                    k += 1;
                    continue;
                }
            }
            if k < end {
                word.push(bytes[k]);
            }
            k += 1;
        }
        // Only ASCII bytes were removed, so the rest is still UTF-8.
        args.push(String::from_utf8_lossy(&word).into_owned());
        i = end + 1;
    }
    args
}

fn find_keyword(args: &[String]) -> Option<&'static Keyword> {
    KEYWORDS.iter().find(|k| {
        k.words
            .iter()
            .enumerate()
            .all(|(i, w)| args.get(i).is_some_and(|a| a == w))
    })
}

/// HAProxy's `cli_gen_usage_msg`, over ringlb's keywords: `help` text, or the reply to an
/// unknown command with fuzzy suggestions.
fn usage(args: &[String]) -> String {
    let (args, is_help) = match args.first() {
        Some(first) if first == "help" => (&args[1..], true),
        _ => (args, false),
    };
    let word = |i: usize| args.get(i).map(String::as_str).filter(|w| !w.is_empty());
    let visible = || KEYWORDS.iter().filter(|k| k.usage.is_some());
    // How many leading words exactly match some keyword.
    let mut length = 0;
    for kw in KEYWORDS {
        for (idx, w) in kw.words.iter().enumerate().take(PREFIX_WORDS) {
            match word(idx) {
                Some(a) if a == *w => length = length.max(idx + 1),
                _ => break,
            }
        }
    }
    let mut out = String::from(if is_help {
        "The following commands are valid at this level:\n"
    } else if length == 0 && word(0).is_none() {
        "Unknown command. Please enter one of the following commands only:\n"
    } else {
        "Unknown command, but maybe one of the following ones is a better match:\n"
    });
    let prefix_matches = |kw: &Keyword| {
        (0..length).all(|idx| match (kw.words.get(idx), word(idx)) {
            (Some(w), Some(a)) => *w == a,
            _ => false,
        })
    };
    let mut matches: Vec<(&Keyword, usize)> = Vec::new();
    if word(length).is_some() {
        for kw in visible() {
            // HAProxy requires the loop to reach `length` with every word equal.
            let reached = (0..length)
                .take_while(
                    |&idx| matches!((kw.words.get(idx), word(idx)), (Some(w), Some(a)) if *w == a),
                )
                .count();
            if reached != length {
                continue;
            }
            let mut word_sig = [0u8; 1024];
            let mut list_sig = [0u8; 1024];
            let mut total = 0;
            for a in (length..PREFIX_WORDS).map_while(word) {
                fingerprint(&mut word_sig, a);
                total += a.len();
            }
            for w in kw.words.iter().skip(length).take(PREFIX_WORDS - length) {
                fingerprint(&mut list_sig, w);
                total += w.len();
            }
            let dist = word_sig
                .iter()
                .zip(list_sig.iter())
                .map(|(a, b)| (i32::from(*a) - i32::from(*b)).unsigned_abs() as usize)
                .sum::<usize>();
            let worst = if matches.len() < MAX_MATCHES {
                usize::MAX
            } else {
                matches.last().map_or(usize::MAX, |m| m.1)
            };
            if dist < 5 * total / 2 && dist < worst {
                if matches.len() == MAX_MATCHES {
                    matches.pop();
                }
                // Stable insertion: a later keyword with an equal distance goes after.
                let at = matches
                    .iter()
                    .position(|m| m.1 > dist)
                    .unwrap_or(matches.len());
                matches.insert(at, (kw, dist));
            }
        }
    }
    let mut entries: Vec<&'static str> = if let Some(best) = matches.first().map(|m| m.1) {
        matches
            .iter()
            .take_while(|m| m.1 <= 5 * best / 2)
            .filter_map(|m| m.0.usage)
            .collect()
    } else {
        visible()
            .filter(|kw| prefix_matches(kw))
            .filter_map(|kw| kw.usage)
            .collect()
    };
    entries.sort_unstable();
    for usage in entries {
        out.push_str("  ");
        out.push_str(usage);
        out.push('\n');
    }
    out.push_str(concat!(
        "  help [<command>]                        : list matching or all commands\n",
        "  prompt                                  : toggle interactive mode with prompt\n",
        "  quit                                    : disconnect\n",
    ));
    out
}

/// HAProxy's `update_word_fingerprint`: letter-pair counts, for fuzzy command matching.
fn fingerprint(fp: &mut [u8; 1024], word: &str) {
    let class = |c: u8| match c.to_ascii_lowercase() {
        c @ b'a'..=b'z' => usize::from(c - b'a' + 1),
        b'0'..=b'9' => 27,
        _ => 28,
    };
    let mut from = 28;
    for c in word.bytes() {
        let to = class(c);
        fp[to] = 1;
        fp[32 * from + to] = fp[32 * from + to].wrapping_add(1);
        from = to;
    }
    fp[32 * from + 28] = fp[32 * from + 28].wrapping_add(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        crate::config::load_sources(&[(
            "t".into(),
            "backend servers\n server s1 127.0.0.1:1\n server s2 127.0.0.1:2\n\
             backend fixed\n balance static-rr\n server f1 127.0.0.1:3\n"
                .into(),
        )])
        .unwrap()
        .config
    }

    fn ok(line: &str) -> Command {
        parse(line, &config()).unwrap()
    }

    fn err(line: &str) -> String {
        parse(line, &config()).unwrap_err()
    }

    fn s(server: ServerId) -> ServerRef {
        ServerRef {
            backend: config().backend("servers").unwrap().id,
            server,
        }
    }

    #[test]
    fn simple_commands() {
        assert_eq!(ok("prompt"), Command::Prompt);
        assert_eq!(ok("quit"), Command::Quit);
        assert_eq!(ok("show backend"), Command::ShowBackend);
        assert_eq!(ok("reload"), Command::Reload);
        assert_eq!(ok("show vrrp"), Command::ShowVrrp);
        assert_eq!(
            ok("show info"),
            Command::ShowInfo {
                format: Format::Plain,
                desc: false
            }
        );
        assert_eq!(
            ok("show info typed desc"),
            Command::ShowInfo {
                format: Format::Typed,
                desc: true
            }
        );
        assert!(
            matches!(ok("help"), Command::Help(t) if t.starts_with("The following commands are valid at this level:\n"))
        );
    }

    #[test]
    fn show_stat_options_and_filter() {
        assert_eq!(ok("show stat"), Command::ShowStat(StatOptions::default()));
        let Command::ShowStat(o) = ok("show stat json up") else {
            panic!()
        };
        assert_eq!(o.format, Format::Json);
        assert!(o.up && !o.no_maint && !o.desc && o.filter.is_none());
        let Command::ShowStat(o) = ok("show stat servers -1 -1 no-maint desc") else {
            panic!()
        };
        assert!(o.no_maint && o.desc && o.filter.is_some());
        let uuid = config().backend("servers").unwrap().uuid as i32;
        let Command::ShowStat(o) = ok("show stat servers 4 -1 typed") else {
            panic!()
        };
        assert_eq!(
            o.filter,
            Some(StatFilter {
                iid: uuid,
                types: 4,
                sid: -1
            })
        );
        assert_eq!(o.format, Format::Typed);
        let Command::ShowStat(o) = ok("show stat 99 -1 -1") else {
            panic!()
        };
        assert_eq!(o.filter.map(|f| f.iid), Some(99));
        assert_eq!(err("show stat nob 4 -1"), "No such proxy.\n");
        // Three words make a filter, even option words (as in HAProxy).
        assert_eq!(err("show stat typed json up"), "No such proxy.\n");
        assert!(matches!(ok("show stat domain proxy"), Command::ShowStat(_)));
        assert_eq!(err("show stat domain dns"), "Invalid statistics domain.\n");
    }

    #[test]
    fn show_servers_state_and_errors() {
        let id = config().backend("servers").unwrap().id;
        assert_eq!(ok("show servers state"), Command::ShowServersState(None));
        assert_eq!(
            ok("show servers state servers"),
            Command::ShowServersState(Some(id))
        );
        assert_eq!(err("show servers state nob"), "Can't find backend.\n");
        assert_eq!(
            ok("show errors"),
            Command::ShowErrors {
                iid: -1,
                side: ErrorSide::Both
            }
        );
        assert_eq!(
            ok("show errors -1 request"),
            Command::ShowErrors {
                iid: -1,
                side: ErrorSide::Request
            }
        );
        assert!(matches!(
            ok("show errors servers response"),
            Command::ShowErrors {
                side: ErrorSide::Response,
                ..
            }
        ));
        assert_eq!(err("show errors nob"), "No such proxy.\n");
    }

    #[test]
    fn server_state_commands_and_name_errors() {
        assert_eq!(
            ok("disable server servers/s2"),
            Command::DisableServer(s(1))
        );
        assert_eq!(ok("enable server servers/s1"), Command::EnableServer(s(0)));
        assert_eq!(
            ok("disable health servers/s1"),
            Command::DisableHealth(s(0))
        );
        assert_eq!(ok("enable health servers/s1"), Command::EnableHealth(s(0)));
        assert_eq!(ok("get weight servers/s2"), Command::GetWeight(s(1)));
        // HAProxy's '#<id>' forms.
        let uuid = config().backend("servers").unwrap().uuid;
        assert_eq!(
            ok(&format!("get weight #{uuid}/#2")),
            Command::GetWeight(s(1))
        );
        for cmd in [
            "disable server",
            "enable server",
            "disable health",
            "enable health",
            "set weight",
            "set server",
        ] {
            assert_eq!(err(cmd), "Require 'backend/server'.\n", "{cmd}");
            assert_eq!(
                err(&format!("{cmd} servers")),
                "Require 'backend/server'.\n"
            );
            assert_eq!(err(&format!("{cmd} /s1")), "Require 'backend/server'.\n");
            assert_eq!(err(&format!("{cmd} nob/s1")), "No such backend.\n");
            assert_eq!(err(&format!("{cmd} servers/x")), "No such server.\n");
        }
        assert_eq!(err("get weight"), "Require 'backend/server'.\n");
        assert_eq!(err("get weight servers/"), "Require 'backend/server'.\n");
        assert_eq!(err("get weight /s1"), "No such backend.\n");
        assert_eq!(err("get weight servers/x"), "No such server.\n");
    }

    #[test]
    fn weights() {
        assert_eq!(
            ok("set weight servers/s1 10"),
            Command::SetWeight(s(0), Weight::Absolute(10))
        );
        assert_eq!(
            ok("set server servers/s1 weight 256"),
            Command::SetWeight(s(0), Weight::Absolute(256))
        );
        assert_eq!(
            ok("set weight servers/s1 50%"),
            Command::SetWeight(s(0), Weight::Relative(50))
        );
        assert_eq!(
            ok("set weight servers/s1 99999%"),
            Command::SetWeight(s(0), Weight::Relative(25600))
        );
        assert_eq!(Weight::Relative(50).resolve(10), 5);
        assert_eq!(Weight::Relative(25600).resolve(100), 256);
        assert_eq!(
            err("set weight servers/s1"),
            "Require <weight> or <weight%>.\n"
        );
        assert_eq!(
            err("set server servers/s1 weight"),
            "Require <weight> or <weight%>.\n"
        );
        for w in ["257", "300", "-1", "300x"] {
            assert_eq!(
                err(&format!("set weight servers/s1 {w}")),
                "Absolute weight can only be between 0 and 256 inclusive.\n"
            );
        }
        for w in ["abc", "%", "x5"] {
            assert_eq!(
                err(&format!("set weight servers/s1 {w}")),
                "Empty weight string empty or preceded by garbage"
            );
        }
        for w in ["12x", "5%x", "1 %"] {
            let line = format!("set weight servers/s1 {}", w.replace(' ', "\\ "));
            assert_eq!(err(&line), "Trailing garbage in weight string", "{w}");
        }
        assert_eq!(
            err("set weight servers/s1 -5%"),
            "Relative weight must be positive.\n"
        );
    }

    #[test]
    fn set_server() {
        assert_eq!(
            ok("set server servers/s1 state drain"),
            Command::SetServerState(s(0), AdminState::Drain)
        );
        assert_eq!(
            ok("set server servers/s1 state ready"),
            Command::SetServerState(s(0), AdminState::Ready)
        );
        assert_eq!(
            ok("set server servers/s1 state maint"),
            Command::SetServerState(s(0), AdminState::Maint)
        );
        assert_eq!(
            ok("set server servers/s1 health stopping"),
            Command::SetServerHealth(s(0), HealthState::Stopping)
        );
        for bad in ["state", "state foo"] {
            assert_eq!(
                err(&format!("set server servers/s1 {bad}")),
                "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n"
            );
        }
        assert_eq!(
            err("set server servers/s1 health x"),
            "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n"
        );
        let usage = "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n";
        assert_eq!(err("set server servers/s1"), usage);
        assert_eq!(err("set server servers/s1 foo"), usage);
        assert_eq!(
            ok("set server servers/s1 addr 1.2.3.4 port 99"),
            Command::SetServerAddr {
                server: s(0),
                addr: "1.2.3.4".parse().unwrap(),
                port: Some(99)
            }
        );
        assert_eq!(
            ok("set server servers/s1 addr ::1 foo 3"),
            Command::SetServerAddr {
                server: s(0),
                addr: "::1".parse().unwrap(),
                port: None
            }
        );
        assert_eq!(
            err("set server servers/s1 addr"),
            "set server <b>/<s> addr requires an address and optionally a port.\n"
        );
        assert_eq!(
            err("set server servers/s1 addr bad"),
            "Invalid addr 'bad' by 'stats socket command'\n"
        );
        assert_eq!(
            err("set server servers/s1 addr 1.2.3.4 port x"),
            "problem converting port 'x' to an int by 'stats socket command'\n"
        );
        assert_eq!(
            err("set server servers/s1 addr 1.2.3.4 port"),
            "problem converting port '' to an int by 'stats socket command'\n"
        );
        assert!(err("set server servers/s1 fqdn x").contains("not supported"));
    }

    #[test]
    fn add_and_del_server() {
        let id = config().backend("servers").unwrap().id;
        assert_eq!(
            ok("add server servers/s9 1.2.3.4:80 weight 5 check"),
            Command::AddServer {
                backend: id,
                name: "s9".into(),
                addr: "1.2.3.4:80".into(),
                options: vec!["weight".into(), "5".into(), "check".into()]
            }
        );
        for cmd in ["add server", "del server"] {
            assert_eq!(err(cmd), "Require 'backend/server'.");
            assert_eq!(err(&format!("{cmd} servers")), "Require 'backend/server'.");
            assert_eq!(err(&format!("{cmd} servers/")), "Require 'backend/server'.");
            assert_eq!(
                err(&format!("{cmd} /s1 1.2.3.4")),
                "Require 'backend/server'."
            );
            assert_eq!(err(&format!("{cmd} nob/x 1.2.3.4")), "No such backend.");
        }
        assert_eq!(
            err("add server servers/s1"),
            "'server' expects <name> and <addr>[:<port>] as arguments.\n"
        );
        assert_eq!(
            err("add server servers/s1 1.2.3.4:80"),
            "Already exists a server with the same name in backend.\n"
        );
        assert_eq!(
            err("add server fixed/x 1.2.3.4:80"),
            "Backend must use a dynamic load balancing to support dynamic servers."
        );
        assert_eq!(ok("del server servers/s2"), Command::DelServer(s(1)));
        assert_eq!(err("del server servers/x"), "No such server.");
    }

    #[test]
    fn levels_follow_haproxy_and_are_checked_before_names() {
        let c = config();
        assert_eq!(
            parse_at("disable server nob/x", &c, StatsLevel::User).unwrap_err(),
            PERMISSION_DENIED
        );
        assert_eq!(
            parse_at(
                "set server servers/s1 state drain",
                &c,
                StatsLevel::Operator
            )
            .unwrap_err(),
            PERMISSION_DENIED
        );
        assert_eq!(
            parse_at("set weight servers/s1 1", &c, StatsLevel::Operator).unwrap_err(),
            PERMISSION_DENIED
        );
        assert_eq!(
            parse_at("show errors", &c, StatsLevel::User).unwrap_err(),
            PERMISSION_DENIED
        );
        assert!(parse_at("show errors", &c, StatsLevel::Operator).is_ok());
        for line in [
            "show info",
            "show stat",
            "show servers state",
            "show backend",
            "get weight servers/s1",
            "help",
            "prompt",
            "quit",
            "show vrrp",
        ] {
            let cmd = parse_at(line, &c, StatsLevel::User).unwrap();
            assert_eq!(cmd.level(), StatsLevel::User, "{line}");
        }
        assert_eq!(ok("reload").level(), StatsLevel::Admin);
        assert_eq!(ok("del server servers/s1").level(), StatsLevel::Admin);
        assert_eq!(
            ok("set server servers/s1 addr ::1").level(),
            StatsLevel::Admin
        );
    }

    #[test]
    fn unknown_commands_get_haproxy_usage() {
        let full = err("");
        assert!(full.starts_with(
            "Unknown command. Please enter one of the following commands only:\n  add server"
        ));
        assert!(full.ends_with("  quit                                    : disconnect\n"));
        let get = err("get");
        assert_eq!(
            get,
            "Unknown command, but maybe one of the following ones is a better match:\n  \
             get weight <bk>/<srv>                   : report a server's current weight\n  \
             help [<command>]                        : list matching or all commands\n  \
             prompt                                  : toggle interactive mode with prompt\n  \
             quit                                    : disconnect\n"
        );
        // A near miss is suggested by HAProxy's letter-pair distance.
        assert!(err("show stats").contains("  show stat [desc"));
        assert!(err("foo").starts_with("Unknown command, but maybe"));
        let Command::Help(help) = ok("help show") else {
            panic!()
        };
        assert!(help.contains("show info") && !help.contains("get weight"));
    }

    #[test]
    fn words_split_like_haproxy() {
        assert_eq!(split_args("  a\tb  "), ["a", "b"]);
        assert_eq!(split_args(r"a\ b c\;d e\\f"), ["a b", "c;d", r"e\f"]);
        assert_eq!(split_args(r"x\"), ["x"]);
        assert_eq!(ok(r"get weight servers\/s1"), Command::GetWeight(s(0)));
    }
}
