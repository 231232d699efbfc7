//! A proxy section while it is being read, before cross references are resolved.

use std::sync::Arc;

use super::errorpage::ErrorPages;
use super::http_rules::HttpRuleDraft;
use super::model::{
    Balance, CheckSettings, Condition, HashType, HttpCheck, HttpConnMode, Location, LogFormat,
    Mode, Proxy, ProxyKind, SendProxy, SpliceMode, StatsSettings, Timeouts,
};

/// Which kind of section a line is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    /// `global`.
    Global,
    /// `defaults`.
    Defaults,
    /// `frontend`, `backend` or `listen`.
    Proxy(ProxyKind),
    /// `userlist`.
    Userlist,
}

impl SectionKind {
    /// The section keyword, for messages.
    pub fn keyword(self) -> &'static str {
        match self {
            SectionKind::Global => "global",
            SectionKind::Defaults => "defaults",
            SectionKind::Proxy(kind) => kind.keyword(),
            SectionKind::Userlist => "userlist",
        }
    }
}

/// Settings `default-server` gives to the `server` lines that follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerDefaults {
    /// `weight`.
    pub weight: u32,
    /// `maxconn`.
    pub maxconn: u32,
    /// `backup`.
    pub backup: bool,
    /// `disabled`.
    pub disabled: bool,
    /// Health-check settings.
    pub check: CheckSettings,
    /// `init-addr`: how the address is found at load.
    pub init_addr: super::template::InitAddr,
    /// `id` (a `server` line's own; never inherited from `default-server`).
    pub id: Option<u32>,
    /// `send-proxy` / `send-proxy-v2`.
    pub send_proxy: SendProxy,
}

impl Default for ServerDefaults {
    fn default() -> Self {
        Self {
            weight: 1,
            maxconn: 0,
            backup: false,
            disabled: false,
            check: CheckSettings::default(),
            init_addr: super::template::InitAddr::default(),
            id: None,
            send_proxy: SendProxy::Off,
        }
    }
}

/// `option httpchk` and the `http-check` lines of a section (or inherited from `defaults`),
/// merged as they are read; `Proxy::httpchk` is filled from it at the end.
#[derive(Debug, Clone, Default)]
pub struct HttpCheckDraft {
    /// `option httpchk` is in effect; without it the rules below are not used.
    pub enabled: bool,
    /// The request and the expectation so far.
    pub check: HttpCheck,
    /// An `http-check send` line shaped `check`: a later `option httpchk` only overrides
    /// what it writes out instead of replacing the whole request.
    pub explicit_send: bool,
    /// Where the first `http-check send|expect` line was, for the "rules are ignored" warning.
    pub first_rule: Option<Location>,
    /// The `http-check send` line of the current section, if any.
    pub send_in_section: Option<Location>,
    /// An `http-check expect` line was written in the current section.
    pub expect_in_section: bool,
}

impl HttpCheckDraft {
    /// Forgets which lines the previous section wrote; the merged settings stay inherited.
    pub fn start_section(&mut self) {
        self.send_in_section = None;
        self.expect_in_section = false;
    }

    /// The health check a proxy runs: `None` unless `option httpchk` is in effect.
    pub fn result(&self) -> Option<HttpCheck> {
        self.enabled.then(|| self.check.clone())
    }
}

/// A `defaults`, `frontend`, `backend` or `listen` section being read.
#[derive(Debug, Clone)]
pub struct ProxyDraft {
    /// The proxy so far; `default_backend` and `log` are filled at the end.
    pub proxy: Proxy,
    /// `default_backend NAME`, resolved once every section is known.
    pub default_backend: Option<(String, Location)>,
    /// `use_backend NAME [if|unless COND]` lines in order, resolved at the end.
    pub use_backends: Vec<(String, Option<Condition>, Location)>,
    /// `http-request` rules, compiled at the end.
    pub http_request: Vec<HttpRuleDraft>,
    /// `http-response` rules, compiled at the end.
    pub http_response: Vec<HttpRuleDraft>,
    /// `redirect` rules, compiled at the end.
    pub redirects: Vec<HttpRuleDraft>,
    /// `force-persist` conditions, compiled at the end.
    pub force_persist: Vec<(Condition, Location)>,
    /// `default-server` settings.
    pub server_defaults: ServerDefaults,
    /// `log global` was written.
    pub log_global: bool,
    /// ACL names used by conditions, checked against `acl` lines at the end.
    pub acl_uses: Vec<(String, Location)>,
    /// Error pages, copied into the proxy at the end.
    pub errorpages: ErrorPages,
    /// `option httpchk` and `http-check` lines, copied into the proxy at the end.
    pub http_check: HttpCheckDraft,
    /// `option tcp-check` and `tcp-check` lines, copied into the proxy at the end.
    pub tcp_check: super::tcpcheck::TcpCheckDraft,
    /// A `bind` line was written, even a refused one: no "has no bind" warning then.
    pub saw_bind: bool,
    /// `tcp-request connection|content` lines, compiled at the end.
    pub tcp_request: super::tcp_rules::TcpRequestDraft,
}

impl ProxyDraft {
    /// The implicit defaults HAProxy starts from.
    pub fn initial_defaults(location: Location) -> Self {
        Self {
            proxy: Proxy {
                id: 0,
                uuid: 0,
                name: String::new(),
                kind: ProxyKind::Listen,
                location,
                mode: Mode::Tcp,
                binds: Vec::new(),
                default_backend: None,
                balance: Balance::RoundRobin,
                hash_type: HashType::default(),
                servers: Vec::new(),
                timeouts: Timeouts::default(),
                retries: 3,
                redispatch: None,
                maxconn: None,
                log: Vec::new(),
                log_format: LogFormat::Default,
                dontlognull: false,
                forwardfor: None,
                http_conn_mode: HttpConnMode::KeepAlive,
                allbackups: false,
                persist: false,
                cookie: None,
                force_persist: Vec::new(),
                splice: SpliceMode::default(),
                httpchk: None,
                tcpchk: None,
                errorpages: Arc::new(ErrorPages::default()),
                stats: StatsSettings {
                    uri: "/haproxy?stats".to_string(),
                    ..StatsSettings::default()
                },
                acls: Vec::new(),
                switching: Vec::new(),
                log_format_string: None,
                captures: Vec::new(),
                unique_id_format: None,
                unique_id_header: None,
                http_request: Vec::new(),
                http_response: Vec::new(),
                redirects: Vec::new(),
                tcp_request: super::tcp_rules::TcpRequest::default(),
                extras: super::compat::ProxyExtras::default(),
            },
            default_backend: None,
            use_backends: Vec::new(),
            http_request: Vec::new(),
            http_response: Vec::new(),
            redirects: Vec::new(),
            force_persist: Vec::new(),
            server_defaults: ServerDefaults::default(),
            log_global: false,
            acl_uses: Vec::new(),
            errorpages: ErrorPages::default(),
            http_check: HttpCheckDraft::default(),
            tcp_check: super::tcpcheck::TcpCheckDraft::default(),
            saw_bind: false,
            tcp_request: super::tcp_rules::TcpRequestDraft::default(),
        }
    }

    /// A new proxy section starting from `defaults`, as HAProxy copies its defaults proxy.
    pub fn from_defaults(
        defaults: &ProxyDraft,
        name: &str,
        kind: ProxyKind,
        location: Location,
    ) -> Self {
        let mut draft = defaults.clone();
        draft.proxy.name = name.to_string();
        draft.proxy.kind = kind;
        draft.proxy.location = location;
        draft.acl_uses.clear();
        draft.use_backends.clear();
        draft.http_request.clear();
        draft.http_response.clear();
        draft.redirects.clear();
        draft.force_persist.clear();
        draft.proxy.acls.clear();
        draft.proxy.servers.clear();
        draft.proxy.binds.clear();
        draft.http_check.start_section();
        draft.tcp_check.start_section();
        if kind == ProxyKind::Backend {
            draft.default_backend = None;
        }
        draft
    }
}
