//! The validated configuration: what the rest of ringlb reads, never the raw text.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::acl::AclExpr;
use super::errorpage::ErrorPages;
use super::log::LogTarget;

/// Where a keyword was written, for messages that point the user back at their file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The configuration file, as given on the command line.
    pub file: Arc<str>,
    /// One-based line number.
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A whole loaded configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `global` section.
    pub global: Global,
    /// Every `userlist` section, in file order.
    pub userlists: Vec<Userlist>,
    /// Every frontend, backend and listen section, in file order; `ProxyId` indexes this.
    pub proxies: Vec<Proxy>,
    /// Every `vrrp` section, in file order.
    pub vrrp: Vec<Vrrp>,
}

impl Config {
    /// The proxies that accept client connections (frontends and listens).
    pub fn frontends(&self) -> impl Iterator<Item = &Proxy> {
        self.proxies.iter().filter(|p| p.is_frontend())
    }

    /// The proxies that hold servers (backends and listens).
    pub fn backends(&self) -> impl Iterator<Item = &Proxy> {
        self.proxies.iter().filter(|p| p.is_backend())
    }

    /// The frontend (or listen) named `name`: names, unlike ids, survive a reload.
    pub fn frontend(&self, name: &str) -> Option<&Proxy> {
        self.frontends().find(|p| p.name == name)
    }

    /// The backend (or listen) named `name`.
    pub fn backend(&self, name: &str) -> Option<&Proxy> {
        self.backends().find(|p| p.name == name)
    }

    /// Looks a userlist up by name.
    pub fn userlist(&self, name: &str) -> Option<&Userlist> {
        self.userlists.iter().find(|u| u.name == name)
    }
}

/// The `global` section.
#[derive(Debug, Clone)]
pub struct Global {
    /// `log` targets; proxies with `log global` use these.
    pub log: Vec<LogTarget>,
    /// `maxconn`: concurrent client connections over the whole process.
    pub maxconn: Option<u32>,
    /// `nbthread`: the number of shards (default: one per available core).
    pub nbthread: Option<usize>,
    /// `tune.bufsize`: size of one I/O buffer, which bounds a request or response head.
    pub bufsize: usize,
    /// `stats socket` lines, for the admin socket.
    pub stats_sockets: Vec<StatsSocket>,
    /// `pidfile`: where to write the process id at start.
    pub pidfile: Option<String>,
    /// `hard-stop-after`: longest a soft stop may last before remaining connections are cut.
    pub hard_stop_after: Option<Duration>,
    /// `stats timeout`: how long an admin socket session may stay idle (default 10 s).
    pub stats_timeout: Option<Duration>,
    /// Compatibility keywords: accepted, recorded, announced.
    pub extras: super::compat::GlobalExtras,
}

impl Default for Global {
    fn default() -> Self {
        Self {
            log: Vec::new(),
            maxconn: None,
            nbthread: None,
            bufsize: DEFAULT_BUFSIZE,
            stats_sockets: Vec::new(),
            pidfile: None,
            hard_stop_after: None,
            stats_timeout: None,
            extras: super::compat::GlobalExtras::default(),
        }
    }
}

/// HAProxy's default `tune.bufsize`.
pub const DEFAULT_BUFSIZE: usize = 16384;

/// One `stats socket` line.
#[derive(Debug, Clone)]
pub struct StatsSocket {
    /// Filesystem path of the UNIX socket (or `ip:port`).
    pub path: String,
    /// `mode`: permission bits of the socket file.
    pub mode: Option<u32>,
    /// `user`: owner of the socket file.
    pub user: Option<String>,
    /// `group`: group of the socket file.
    pub group: Option<String>,
    /// `level`: what commands the socket allows.
    pub level: StatsLevel,
    /// Where the line was written.
    pub location: Location,
}

/// The `level` of a stats socket, as in HAProxy's management guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsLevel {
    /// Only non-sensitive read commands.
    User,
    /// Read commands (the default).
    Operator,
    /// Everything, including state changes.
    Admin,
}

/// A `userlist` section.
#[derive(Debug, Clone)]
pub struct Userlist {
    /// The section's name.
    pub name: String,
    /// Its users.
    pub users: Vec<User>,
    /// Its groups.
    pub groups: Vec<Group>,
}

impl Userlist {
    /// Whether `user` is a member of `group` (declared on either side).
    pub fn in_group(&self, user: &str, group: &str) -> bool {
        self.groups
            .iter()
            .any(|g| g.name == group && g.users.iter().any(|u| u == user))
            || self
                .users
                .iter()
                .any(|u| u.name == user && u.groups.iter().any(|g| g == group))
    }
}

/// A user of a `userlist`.
#[derive(Debug, Clone)]
pub struct User {
    /// Login name.
    pub name: String,
    /// How the password is stored.
    pub password: Password,
    /// Groups named on the `user` line.
    pub groups: Vec<String>,
}

/// A stored password.
#[derive(Debug, Clone)]
pub enum Password {
    /// `insecure-password`: compared as written.
    Insecure(String),
    /// `password`: a crypt(3) hash.
    Hashed(String),
}

/// A group of a `userlist`.
#[derive(Debug, Clone)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Users named on the `group` line.
    pub users: Vec<String>,
}

/// Index of a proxy in `Config::proxies`.
pub type ProxyId = usize;

/// What kind of section declared a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// `frontend`: accepts clients.
    Frontend,
    /// `backend`: holds servers.
    Backend,
    /// `listen`: both at once.
    Listen,
}

impl ProxyKind {
    /// The section keyword, for messages.
    pub fn keyword(self) -> &'static str {
        match self {
            ProxyKind::Frontend => "frontend",
            ProxyKind::Backend => "backend",
            ProxyKind::Listen => "listen",
        }
    }
}

/// `mode`: what a proxy speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// HTTP/1.x, parsed and balanced per request.
    Http,
    /// A byte relay, balanced per connection.
    Tcp,
}

impl Mode {
    /// The keyword, for messages.
    pub fn keyword(self) -> &'static str {
        match self {
            Mode::Http => "http",
            Mode::Tcp => "tcp",
        }
    }
}

/// `balance`: how a backend picks a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Balance {
    /// Weighted round-robin; weights may change at run time.
    RoundRobin,
    /// Weighted round-robin with weights fixed at start.
    StaticRr,
    /// The server with the fewest requests in flight.
    LeastConn,
    /// Random, keeping the least loaded of `draws` weighted picks (power of N choices).
    Random {
        /// How many servers to draw before keeping the least loaded.
        draws: u32,
    },
    /// The first server (in declaration order) with a free connection slot.
    First,
    /// A hash of part of the request picks the server (`hash-type` says how).
    Hash(HashKey),
}

impl Balance {
    /// HAProxy's name of the algorithm (stats `algo`).
    pub fn name(&self) -> &'static str {
        match self {
            Balance::RoundRobin => "roundrobin",
            Balance::StaticRr => "static-rr",
            Balance::LeastConn => "leastconn",
            Balance::Random { .. } => "random",
            Balance::First => "first",
            Balance::Hash(key) => key.name(),
        }
    }

    /// Whether the hashed input needs an HTTP request (HAProxy's `BE_LB_NEED_HTTP`).
    pub fn needs_http(&self) -> bool {
        matches!(
            self,
            Balance::Hash(HashKey::Uri(_) | HashKey::UrlParam { .. } | HashKey::Header { .. })
        )
    }
}

/// What a hash-based `balance` hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey {
    /// `balance source`: the client's address.
    Source,
    /// `balance uri [whole] [len N] [depth N] [path-only]`.
    Uri(UriHash),
    /// `balance url_param NAME [check_post]`: a query-string parameter's value.
    UrlParam {
        /// The parameter name, matched case-sensitively as HAProxy does.
        name: String,
    },
    /// `balance hdr(NAME) [use_domain_only]`: a request header's first value.
    Header {
        /// The header name (matched case-insensitively).
        name: String,
        /// Hash only the domain's main part (`www.example.com` hashes `example`).
        domain_only: bool,
    },
    /// `balance rdp-cookie[(NAME)]`: the value of the cookie a buffered RDP connection
    /// request carries (`mode tcp`, after `tcp-request content` inspection).
    RdpCookie {
        /// The cookie name (`mstshash` by default).
        name: String,
    },
}

impl HashKey {
    /// HAProxy's name of the algorithm (stats `algo`).
    pub fn name(&self) -> &'static str {
        match self {
            HashKey::Source => "source",
            HashKey::Uri(_) => "uri",
            HashKey::UrlParam { .. } => "url_param",
            HashKey::Header { .. } => "hdr",
            HashKey::RdpCookie { .. } => "rdp-cookie",
        }
    }
}

/// The options of `balance uri`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UriHash {
    /// `whole`: hash the query string too.
    pub whole: bool,
    /// `path-only`: leave out the scheme and authority of an absolute URI.
    pub path_only: bool,
    /// `len N`: hash at most N characters (0: no limit).
    pub len: usize,
    /// `depth N`: hash at most N directories (0: no limit).
    pub depth: usize,
}

/// `hash-type`: how a hash maps to a server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HashType {
    /// `consistent` (a ring of points per server) rather than `map-based` (hash modulo the
    /// total weight).
    pub consistent: bool,
    /// The hash function applied to strings.
    pub function: HashFunction,
    /// `avalanche`: the result goes through HAProxy's `full_hash` as well.
    pub avalanche: bool,
}

/// A `hash-type` function, HAProxy's `src/hash.c`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HashFunction {
    /// `sdbm`, HAProxy's default.
    #[default]
    Sdbm,
    /// `djb2`.
    Djb2,
    /// `wt6`.
    Wt6,
    /// `crc32` (IEEE).
    Crc32,
}

/// Which connection mode wins on a transaction (HAProxy's `option http-keep-alive` family).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HttpConnMode {
    /// Keep both sides alive (the default).
    KeepAlive,
    /// Keep the client alive, close the server side after each response.
    ServerClose,
    /// Close both sides after each response.
    Close,
}

/// The timeouts of a proxy; `None` means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeouts {
    /// `timeout connect`.
    pub connect: Option<Duration>,
    /// `timeout client`.
    pub client: Option<Duration>,
    /// `timeout server`.
    pub server: Option<Duration>,
    /// `timeout http-request`.
    pub http_request: Option<Duration>,
    /// `timeout http-keep-alive`.
    pub http_keep_alive: Option<Duration>,
    /// `timeout queue`.
    pub queue: Option<Duration>,
    /// `timeout check`.
    pub check: Option<Duration>,
    /// `timeout tunnel`.
    pub tunnel: Option<Duration>,
}

impl Timeouts {
    /// How long a complete request head may take: `http-request`, else `client`.
    pub fn request_head(&self) -> Option<Duration> {
        self.http_request.or(self.client)
    }

    /// How long to wait for the next request on a kept-alive connection.
    pub fn keep_alive(&self) -> Option<Duration> {
        self.http_keep_alive.or(self.request_head())
    }

    /// How long to wait for a free server slot: `queue`, else `connect`.
    pub fn queue_wait(&self) -> Option<Duration> {
        self.queue.or(self.connect)
    }
}

/// `option forwardfor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardFor {
    /// Header name (`header`), default `X-Forwarded-For`.
    pub header: String,
    /// `if-none`: only add when the request has none.
    pub if_none: bool,
    /// `except NETWORK`: clients from this network get no header.
    pub except: Option<IpNet>,
}

/// An address with a prefix length, as in `except 127.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length in bits.
    pub prefix: u8,
}

impl IpNet {
    /// Whether `ip` falls inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let bits = u32::from(self.prefix.min(32));
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let bits = u32::from(self.prefix.min(128));
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits)
                };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// `option httpchk`, `http-check send` and `http-check expect`: the HTTP health probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    /// Request method (default `OPTIONS`).
    pub method: String,
    /// Request URI (default `/`).
    pub uri: String,
    /// Request version (default `HTTP/1.0`).
    pub version: String,
    /// Extra request header fields (name, value), in order: `http-check send hdr`, the
    /// `<host>` of `option httpchk`, or lines hidden after its version string.
    pub headers: Vec<(String, String)>,
    /// What a healthy answer looks like; `None` means a 2xx or 3xx status (HAProxy's default).
    pub expect: Option<CheckExpect>,
}

impl Default for HttpCheck {
    fn default() -> Self {
        Self {
            method: "OPTIONS".to_string(),
            uri: "/".to_string(),
            version: "HTTP/1.0".to_string(),
            headers: Vec::new(),
            expect: None,
        }
    }
}

/// `http-check expect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckExpect {
    /// `!`: the match must fail for the server to be healthy.
    pub negate: bool,
    /// What is matched.
    pub rule: ExpectRule,
}

/// The kinds of `http-check expect` this project understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectRule {
    /// `status <codes>`: a list of codes or ranges such as `200,300-399`.
    Status(Vec<(u16, u16)>),
    /// `rstatus <regex>`: the status code as text matches a regex.
    RStatus(String),
    /// `string <text>`: the body contains the text.
    String(String),
}

/// `option tcp-check` with its `tcp-check` rules: the steps of a TCP health probe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpCheck {
    /// The rules in order, `tcp-check comment` lines folded into the rules they describe.
    pub rules: Vec<TcpCheckRule>,
    /// `option redis-check`, `smtpchk`, `pgsql-check`, `ldap-check` or `mysql-check`: HAProxy's
    /// built-in exchange replaces `rules`.
    pub protocol: Option<CheckProtocol>,
}

/// The protocol checks HAProxy builds from `tcp-check` rules of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckProtocol {
    /// `option redis-check`: `PING` as a RESP array, `+PONG` expected.
    Redis,
    /// `option smtpchk [HELO|EHLO <domain>]`: a 2xx greeting, then this command and a 2xx.
    Smtp {
        /// The command sent after the greeting (`HELO localhost` by default).
        command: String,
    },
    /// `option pgsql-check user <name>`: a startup message, an authentication request back.
    Pgsql {
        /// The user named in the startup message.
        user: String,
    },
    /// `option ldap-check`: an anonymous LDAPv3 bind, a successful bind response back.
    Ldap,
    /// `option mysql-check [user <name> [post-41|pre-41]]`: the server's handshake, and with a
    /// user an authentication packet then `COM_QUIT`, answered by an OK packet.
    Mysql {
        /// The user to log in as; without one only the handshake is judged.
        user: Option<String>,
        /// `pre-41`: the authentication packet of MySQL before 4.1.
        pre_41: bool,
    },
}

/// One `tcp-check connect|send|send-binary|expect` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpCheckRule {
    /// HAProxy's step number in messages: the line's rank among the ruleset's `tcp-check`
    /// lines, comments included.
    pub step: usize,
    /// Its comment (own, or from the `tcp-check comment` before it).
    pub comment: Option<String>,
    /// What it does.
    pub action: TcpCheckAction,
}

/// What one `tcp-check` rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpCheckAction {
    /// `connect [port N]`: a new connection, to the check port unless `port` is given.
    Connect {
        /// `port N`.
        port: Option<u16>,
    },
    /// `send` or `send-binary`: these bytes.
    Send(Vec<u8>),
    /// `expect`: what the answer so far must (or, negated, must not) contain.
    Expect(TcpExpect),
}

/// `tcp-check expect [!] string|rstring|binary|rbinary <pattern>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpExpect {
    /// `!`: the match must fail for the step to pass.
    pub negate: bool,
    /// How the pattern is matched.
    pub kind: TcpExpectKind,
    /// The pattern as written (hex digits for `binary`).
    pub pattern: String,
}

/// The kinds of `tcp-check expect` this project understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpExpectKind {
    /// `string`: the answer contains the text.
    String,
    /// `rstring`: the answer matches a regex.
    RString,
    /// `binary`: the answer contains the bytes the hex digits say.
    Binary,
    /// `rbinary`: the answer, as upper-case hex digits, matches a regex.
    RBinary,
}

/// Health-check settings of one server (resolved from `default-server` and `server`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckSettings {
    /// `check`: whether the server is probed at all.
    pub enabled: bool,
    /// `inter`: interval between probes while stable.
    pub inter: Duration,
    /// `fastinter`: interval while changing state (`inter` when unset).
    pub fastinter: Option<Duration>,
    /// `downinter`: interval while down (`inter` when unset).
    pub downinter: Option<Duration>,
    /// `rise`: consecutive successes to go up.
    pub rise: u32,
    /// `fall`: consecutive failures to go down.
    pub fall: u32,
    /// `port`: probes go to this port instead of the server's.
    pub port: Option<u16>,
    /// `addr`: probes go to this address instead of the server's.
    pub addr: Option<IpAddr>,
    /// `observe`: also judge the server by its live traffic; `None` when off.
    pub observe: Option<Observe>,
    /// `error-limit`: consecutive observed errors that trigger `on_error` (default 10).
    pub error_limit: u32,
    /// `on-error`: what `error_limit` observed errors do (default `fail-check`).
    pub on_error: OnError,
    /// `check-send-proxy`: checks start with a PROXY header even with `port` or `addr`.
    pub send_proxy: bool,
}

impl Default for CheckSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            inter: Duration::from_secs(2),
            fastinter: None,
            downinter: None,
            rise: 2,
            fall: 3,
            port: None,
            addr: None,
            observe: None,
            error_limit: DEFAULT_ERROR_LIMIT,
            on_error: OnError::default(),
            send_proxy: false,
        }
    }
}

/// HAProxy's default `error-limit`.
pub const DEFAULT_ERROR_LIMIT: u32 = 10;

/// `observe`: which live-traffic events count as server errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observe {
    /// `layer4`: failed connections.
    Layer4,
    /// `layer7`: failed connections and invalid HTTP responses (http proxies only).
    Layer7,
}

/// `on-error`: what happens once `error-limit` consecutive errors were observed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnError {
    /// `fastinter`: probe at `fastinter` pace.
    FastInter,
    /// `fail-check`: count one failed probe, then probe at `fastinter` pace (the default).
    #[default]
    FailCheck,
    /// `sudden-death`: leave one failed probe before down, then probe at `fastinter` pace.
    SuddenDeath,
    /// `mark-down`: mark the server down at once, then probe at `fastinter` pace.
    MarkDown,
}

/// Where a server lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerAddr {
    /// Resolved address; the port is 0 when `port_from_client` is set.
    pub addr: SocketAddr,
    /// No port was written: connect to the port the client connected to (HAProxy's rule).
    pub port_from_client: bool,
}

/// Index of a server in its backend's `servers`.
pub type ServerId = usize;

/// A `server` line.
#[derive(Debug, Clone)]
pub struct Server {
    /// Its name, unique in the backend.
    pub name: String,
    /// HAProxy's numeric id (`sv->puid`): the `id` option, else the next free one in
    /// declaration order; it places the server's points on a consistent-hash ring.
    pub puid: u32,
    /// Whether `puid` was set with `id` (others are numbered around it at the end).
    pub explicit_id: bool,
    /// Its address, as written.
    pub addr_text: String,
    /// Its resolved address.
    pub addr: ServerAddr,
    /// `weight` (0..=256).
    pub weight: u32,
    /// `backup`: only used when no active server is up.
    pub backup: bool,
    /// `disabled`: starts in maintenance.
    pub disabled: bool,
    /// `init-addr … none` and no address found: the server is in maintenance until an
    /// operator gives it one (HAProxy's `MAINT (resolution)`), its address unspecified with
    /// port 0 so that nothing can reach it by mistake.
    pub no_address: bool,
    /// `maxconn`: concurrent requests the server accepts (0 = unlimited).
    pub maxconn: u32,
    /// `send-proxy` / `send-proxy-v2`: each new connection starts with a PROXY header.
    pub send_proxy: SendProxy,
    /// Health-check settings.
    pub check: CheckSettings,
    /// Where the line was written.
    pub location: Location,
    /// `cookie VALUE`: the persistence cookie's value for this server.
    pub cookie: Option<String>,
}

impl Server {
    /// Whether it starts in maintenance: `disabled`, or no address to reach it at.
    pub fn starts_in_maint(&self) -> bool {
        self.disabled || self.no_address
    }
}

/// Which PROXY protocol header a server connection starts with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SendProxy {
    /// None.
    #[default]
    Off,
    /// `send-proxy`: version 1, text.
    V1,
    /// `send-proxy-v2`: version 2, binary.
    V2,
}

/// `stats` settings of a proxy (the stats page is served by the control thread).
#[derive(Debug, Clone, Default)]
pub struct StatsSettings {
    /// `stats enable`.
    pub enabled: bool,
    /// `stats uri` (default `/haproxy?stats`).
    pub uri: String,
    /// `stats realm`.
    pub realm: Option<String>,
    /// `stats refresh`.
    pub refresh: Option<Duration>,
    /// `stats auth USER:PASS` lines.
    pub auth: Vec<(String, String)>,
    /// `stats admin if|unless COND` lines; any one that holds grants admin rights.
    pub admin: Vec<Condition>,
    /// `stats http-request auth [realm R] [if|unless COND]`.
    pub http_request_auth: Vec<AuthRule>,
    /// `stats hide-version`.
    pub hide_version: bool,
    /// `stats show-legends`.
    pub show_legends: bool,
    /// `http-request use-service prometheus-exporter [if { path P }]`: the metrics are
    /// served at this path (`None`: at every path of the section).
    pub prometheus: Option<Option<String>>,
}

/// A `stats http-request auth` rule.
#[derive(Debug, Clone)]
pub struct AuthRule {
    /// `realm`.
    pub realm: Option<String>,
    /// When the rule applies; `None` means always.
    pub condition: Option<Condition>,
}

/// Where a `use_backend` rule sends requests.
#[derive(Debug, Clone)]
pub enum SwitchTarget {
    /// A backend named in the configuration.
    Backend(ProxyId),
    /// `use_backend %[…]`: the backend whose name the format renders for the request; when
    /// none has that name, switching stops and `default_backend` serves, as in HAProxy.
    Named(Arc<crate::config::logformat::FormatString>),
}

/// One `use_backend NAME [if|unless COND]` rule, resolved and compiled at load.
#[derive(Debug, Clone)]
pub struct SwitchRule {
    /// The backend it sends to.
    pub backend: SwitchTarget,
    /// When it applies (always without one).
    pub condition: Option<Arc<crate::config::acl::CompiledCondition>>,
    /// Where the line was written.
    pub location: Location,
}

/// An ACL condition: `if|unless a b || !c { fetch pattern }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `unless`: the whole condition is negated.
    pub unless: bool,
    /// OR of AND-groups.
    pub any_of: Vec<Vec<Term>>,
}

/// One ACL of a condition, possibly negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Written with `!`.
    pub negated: bool,
    /// Which ACL.
    pub acl: AclRef,
}

/// How a condition names an ACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclRef {
    /// By name: the proxy's `acl` lines of that name, else a predefined ACL.
    Named(String),
    /// An anonymous `{ … }` expression.
    Anonymous(Arc<AclExpr>),
}

/// What an `acl` line tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclTest {
    /// `http_auth(USERLIST)`: valid credentials of that list.
    HttpAuth {
        /// The userlist.
        userlist: String,
    },
    /// `http_auth_group(USERLIST) GROUP...`: valid credentials of a member of one group.
    HttpAuthGroup {
        /// The userlist.
        userlist: String,
        /// Accepted groups.
        groups: Vec<String>,
    },
    /// Any other criterion: a fetch, converters, a matching method and patterns.
    Expr(Arc<AclExpr>),
}

/// A named ACL of a proxy.
#[derive(Debug, Clone)]
pub struct Acl {
    /// Its name (several lines with one name OR together).
    pub name: String,
    /// What it tests.
    pub test: AclTest,
    /// Where the line was written.
    pub location: Location,
}

/// One listening address of a frontend.
#[derive(Debug, Clone)]
pub struct Bind {
    /// The address to listen on.
    pub addr: SocketAddr,
    /// `name NAME`: the listener's label in HAProxy's stats.
    pub name: Option<String>,
    /// `v6only`: an IPv6 listener that takes no IPv4 connection (not applied yet).
    pub v6only: bool,
    /// `accept-proxy`: every connection starts with a PROXY protocol header (v1 or v2)
    /// naming the original client.
    pub accept_proxy: bool,
    /// Where the line was written.
    pub location: Location,
}

/// A frontend, backend or listen section after `defaults` were applied.
#[derive(Debug, Clone)]
pub struct Proxy {
    /// Its index in `Config::proxies`.
    pub id: ProxyId,
    /// HAProxy's numeric id (`px->uuid`), one-based in declaration order.
    pub uuid: u32,
    /// Section name.
    pub name: String,
    /// Section kind.
    pub kind: ProxyKind,
    /// Where the section starts.
    pub location: Location,
    /// `mode`.
    pub mode: Mode,
    /// `bind` lines (frontends and listens).
    pub binds: Vec<Bind>,
    /// `default_backend`, resolved; a listen with servers defaults to itself.
    pub default_backend: Option<ProxyId>,
    /// `balance`.
    pub balance: Balance,
    /// `hash-type` (for the hash-based `balance` algorithms).
    pub hash_type: HashType,
    /// `server` lines.
    pub servers: Vec<Server>,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// `retries`.
    pub retries: u32,
    /// `option redispatch [interval]`: `None` when off.
    pub redispatch: Option<i32>,
    /// `maxconn` (frontends).
    pub maxconn: Option<u32>,
    /// Logging targets after `log global` was expanded.
    pub log: Vec<LogTarget>,
    /// `option httplog` / `option tcplog` / neither.
    pub log_format: LogFormat,
    /// `option dontlognull`.
    pub dontlognull: bool,
    /// `option forwardfor`.
    pub forwardfor: Option<ForwardFor>,
    /// `option http-keep-alive|http-server-close|httpclose`.
    pub http_conn_mode: HttpConnMode,
    /// `option allbackups`.
    pub allbackups: bool,
    /// `option persist`: a cookie may send a request to a server that is down.
    pub persist: bool,
    /// `cookie NAME …`: cookie persistence.
    pub cookie: Option<Arc<crate::config::cookie::CookieSettings>>,
    /// `force-persist if|unless COND` lines: when one holds, a cookie may send a request to a
    /// server that is down.
    pub force_persist: Vec<Arc<crate::config::acl::CompiledCondition>>,
    /// `option splice-*`.
    pub splice: SpliceMode,
    /// `option httpchk` with its `http-check send` and `http-check expect`; `None` when
    /// `option httpchk` is not in effect (then `http-check` lines are ignored, as in HAProxy).
    pub httpchk: Option<HttpCheck>,
    /// `option tcp-check` with its `tcp-check` rules; `None` when `option tcp-check` is not in
    /// effect.
    pub tcpchk: Option<TcpCheck>,
    /// Error responses, built in or from `errorfile`.
    pub errorpages: Arc<ErrorPages>,
    /// `stats` settings.
    pub stats: StatsSettings,
    /// `acl` lines.
    pub acls: Vec<Acl>,
    /// `use_backend` rules in order: the first whose condition holds picks the backend;
    /// `default_backend` when none does.
    pub switching: Vec<SwitchRule>,
    /// `log-format`: the line of this frontend's logs, instead of `option httplog`/`tcplog`.
    pub log_format_string: Option<Arc<crate::config::logformat::FormatString>>,
    /// `capture request|response header` lines (frontends).
    pub captures: Vec<crate::config::logfields::HeaderCapture>,
    /// `unique-id-format`.
    pub unique_id_format: Option<Arc<crate::config::logformat::FormatString>>,
    /// `unique-id-header`: the request header that carries the unique id to the server.
    pub unique_id_header: Option<String>,
    /// `http-request` rules in order.
    pub http_request: Vec<crate::config::http_rules::HttpRule>,
    /// `http-response` rules in order.
    pub http_response: Vec<crate::config::http_rules::HttpRule>,
    /// `redirect` rules, run after the `http-request` rules as in HAProxy.
    pub redirects: Vec<crate::config::http_rules::HttpRule>,
    /// `tcp-request inspect-delay`, `connection` and `content` rules.
    pub tcp_request: crate::config::tcp_rules::TcpRequest,
    /// Compatibility keywords (`monitor-uri`, `option tcpka`, …): recorded, announced.
    pub extras: super::compat::ProxyExtras,
}

impl Proxy {
    /// Whether this proxy accepts clients.
    pub fn is_frontend(&self) -> bool {
        matches!(self.kind, ProxyKind::Frontend | ProxyKind::Listen)
    }

    /// Whether this proxy holds servers.
    pub fn is_backend(&self) -> bool {
        matches!(self.kind, ProxyKind::Backend | ProxyKind::Listen)
    }

    /// Whether its weights are fixed at start (HAProxy's static algorithms: `static-rr` and
    /// map-based hashing): at run time a server's weight may only go to 0 or back.
    pub fn static_weights(&self) -> bool {
        match self.balance {
            Balance::StaticRr => true,
            Balance::Hash(_) => !self.hash_type.consistent,
            _ => false,
        }
    }

    /// Whether this proxy serves the stats page.
    pub fn serves_stats(&self) -> bool {
        self.stats.enabled
    }

    /// Whether this proxy does nothing but serve the stats page (a `listen stats` without
    /// servers or backend): the control thread serves it, the shards never see its clients.
    pub fn stats_only(&self) -> bool {
        (self.stats.enabled || self.stats.prometheus.is_some())
            && self.is_frontend()
            && self.servers.is_empty()
            && self.switching.is_empty()
            && self.default_backend.is_none_or(|b| b == self.id)
    }
}

/// Which per-request log line a proxy writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// HAProxy's default connection log.
    Default,
    /// `option tcplog`.
    Tcp,
    /// `option httplog`.
    Http,
}

/// `option splice-auto|splice-request|splice-response`: where splice(2) relays bodies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpliceMode {
    /// Client-to-server direction.
    pub request: bool,
    /// Server-to-client direction.
    pub response: bool,
}

/// Which VRRP version an instance speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VrrpVersion {
    /// RFC 3768: interval in whole seconds, checksum over the VRRP message, 8 bytes of
    /// (unused) authentication data; keepalived's default.
    V2,
    /// RFC 5798: interval in centiseconds, checksum with the IPv4 pseudo-header.
    V3,
}

impl VrrpVersion {
    /// The number in the packet's version field.
    pub fn number(self) -> u8 {
        match self {
            VrrpVersion::V2 => 2,
            VrrpVersion::V3 => 3,
        }
    }
}

/// `state MASTER|BACKUP`: keepalived's initial-state hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VrrpInitialState {
    /// `state MASTER`.
    Master,
    /// `state BACKUP` (the default unless the priority is 255).
    Backup,
}

/// One `virtual_ipaddress` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualAddress {
    /// The floating address.
    pub addr: Ipv4Addr,
    /// Prefix length given to the address on the interface (default 32, as keepalived).
    pub prefix: u8,
    /// `dev IF`: the interface to add it to when not the instance's.
    pub dev: Option<String>,
}

/// One `track_backend NAME weight -N` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackBackend {
    /// The backend (or listen) watched.
    pub backend: ProxyId,
    /// Its name, for messages and reloads.
    pub name: String,
    /// How much the priority drops while the backend has no server up.
    pub penalty: u8,
    /// Where the line was written.
    pub location: Location,
}

/// Priority of a VRRP instance that owns its addresses: it becomes master at once.
pub const VRRP_PRIORITY_OWNER: u8 = 255;

/// A `vrrp NAME` section: one VRRP instance, with keepalived's `vrrp_instance` words.
#[derive(Debug, Clone)]
pub struct Vrrp {
    /// The section name (keepalived's instance name, as in `(VI_1) Entering MASTER STATE`).
    pub name: String,
    /// Where the section starts.
    pub location: Location,
    /// `interface`: where adverts are sent and received and VIPs added.
    pub interface: String,
    /// `state`, or the one keepalived derives from the priority.
    pub initial_state: VrrpInitialState,
    /// `virtual_router_id` (1-255).
    pub virtual_router_id: u8,
    /// `priority` (1-255, default 100; 255 with `state MASTER` and no `priority`, as keepalived).
    pub priority: u8,
    /// `advert_int` (default 1 s; whole seconds in version 2, 10 ms steps in version 3).
    pub advert_int: std::time::Duration,
    /// `version` (default 2).
    pub version: VrrpVersion,
    /// Preemption: false with `nopreempt`.
    pub preempt: bool,
    /// `preempt_delay` (default 0).
    pub preempt_delay: std::time::Duration,
    /// `virtual_ipaddress` lines, in order (the order of the addresses in adverts).
    pub virtual_addresses: Vec<VirtualAddress>,
    /// `unicast_src_ip`: source of unicast adverts.
    pub unicast_src_ip: Option<Ipv4Addr>,
    /// `unicast_peer` addresses: adverts go to these instead of 224.0.0.18 when any.
    pub unicast_peers: Vec<Ipv4Addr>,
    /// `garp_master_repeat`: gratuitous ARPs per address in each burst (default 5).
    pub garp_master_repeat: u32,
    /// `garp_master_delay`: when the second burst follows becoming master (default 5 s).
    pub garp_master_delay: std::time::Duration,
    /// `track_backend` lines.
    pub track_backends: Vec<TrackBackend>,
    /// `notify_master`: command run on becoming master.
    pub notify_master: Option<String>,
    /// `notify_backup`: command run on becoming backup.
    pub notify_backup: Option<String>,
    /// `notify_fault`: command run on entering the fault state.
    pub notify_fault: Option<String>,
}
