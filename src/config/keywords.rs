//! HAProxy 2.6's keywords, from its `doc/configuration.txt` (sections 3, 4.1, 5.1 and 5.2),
//! so a keyword ringlb lacks reads as "not supported yet" rather than as a typo.

/// Section keywords of a configuration file.
pub const SECTIONS: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "userlist",
    "peers",
    "resolvers",
    "mailers",
    "program",
    "http-errors",
    "ring",
    "cache",
    "fcgi-app",
];

/// Keywords of the `global` section (section 3).
#[rustfmt::skip]
pub const GLOBAL: &[&str] = &[
    "ca-base", "chroot", "cluster-secret", "crt-base", "cpu-map", "daemon", "default-path",
    "description", "deviceatlas-json-file", "deviceatlas-log-level", "deviceatlas-separator",
    "deviceatlas-properties-cookie", "expose-experimental-directives", "external-check",
    "fd-hard-limit", "gid", "grace", "group", "hard-stop-after", "httpclient.resolvers.id",
    "httpclient.resolvers.prefer", "httpclient.ssl.ca-file", "httpclient.ssl.verify",
    "h1-accept-payload-with-any-method", "h1-case-adjust", "h1-case-adjust-file",
    "insecure-fork-wanted", "insecure-setuid-wanted", "issuers-chain-path",
    "h2-workaround-bogus-websocket-clients", "localpeer", "log", "log-tag",
    "log-send-hostname", "lua-load", "lua-load-per-thread", "lua-prepend-path",
    "mworker-max-reloads", "nbthread", "node", "numa-cpu-mapping", "pidfile",
    "pp2-never-send-local", "presetenv", "resetenv", "uid", "ulimit-n", "user", "set-dumpable",
    "set-var", "setenv", "stats", "ssl-default-bind-ciphers", "ssl-default-bind-ciphersuites",
    "ssl-default-bind-curves", "ssl-default-bind-options", "ssl-default-server-ciphers",
    "ssl-default-server-ciphersuites", "ssl-default-server-options", "ssl-dh-param-file",
    "ssl-propquery", "ssl-provider", "ssl-provider-path", "ssl-server-verify",
    "ssl-skip-self-issued-ca", "unix-bind", "unsetenv", "51degrees-data-file",
    "51degrees-property-name-list", "51degrees-property-separator", "51degrees-cache-size",
    "wurfl-data-file", "wurfl-information-list", "wurfl-information-list-separator",
    "wurfl-cache-size", "strict-limits", "busy-polling", "max-spread-checks", "maxconn",
    "maxconnrate", "maxcomprate", "maxcompcpuusage", "maxpipes", "maxsessrate", "maxsslconn",
    "maxsslrate", "maxzlibmem", "no-memory-trimming", "noepoll", "nokqueue", "noevports",
    "nopoll", "nosplice", "nogetaddrinfo", "noreuseport", "profiling.tasks", "spread-checks",
    "server-state-base", "server-state-file", "ssl-engine", "ssl-mode-async",
    "tune.buffers.limit", "tune.buffers.reserve", "tune.bufsize", "tune.comp.maxlevel",
    "tune.fd.edge-triggered", "tune.h2.header-table-size", "tune.h2.initial-window-size",
    "tune.h2.max-concurrent-streams", "tune.http.cookielen", "tune.http.logurilen",
    "tune.http.maxhdr", "tune.idle-pool.shared", "tune.idletimer", "tune.lua.forced-yield",
    "tune.lua.maxmem", "tune.lua.session-timeout", "tune.lua.task-timeout",
    "tune.lua.service-timeout", "tune.maxaccept", "tune.maxpollevents", "tune.maxrewrite",
    "tune.pattern.cache-size", "tune.pipesize", "tune.pool-high-fd-ratio",
    "tune.pool-low-fd-ratio", "tune.quic.frontend.conn-tx-buffers.limit",
    "tune.quic.frontend.max-idle-timeout", "tune.quic.frontend.max-streams-bidi",
    "tune.quic.retry-threshold", "tune.rcvbuf.client", "tune.rcvbuf.server",
    "tune.recv_enough", "tune.runqueue-depth", "tune.sched.low-latency", "tune.sndbuf.client",
    "tune.sndbuf.server", "tune.ssl.cachesize", "tune.ssl.force-private-cache",
    "tune.ssl.hard-maxrecord", "tune.ssl.keylog", "tune.ssl.lifetime", "tune.ssl.maxrecord",
    "tune.ssl.default-dh-param", "tune.ssl.ssl-ctx-cache-size", "tune.ssl.capture-buffer-size",
    "tune.ssl.capture-cipherlist-size", "tune.vars.global-max-size", "tune.vars.proc-max-size",
    "tune.vars.reqres-max-size", "tune.vars.sess-max-size", "tune.vars.txn-max-size",
    "tune.zlib.memlevel", "tune.zlib.windowsize", "quiet", "zero-warning",
];

/// First words of proxy keywords (section 4.1's matrix).
#[rustfmt::skip]
pub const PROXY: &[&str] = &[
    "acl", "backlog", "balance", "bind", "bind-process", "capture", "clitcpka-cnt",
    "clitcpka-idle", "clitcpka-intvl", "compression", "cookie", "declare", "default-server",
    "default_backend", "description", "disabled", "dispatch", "email-alert", "enabled",
    "errorfile", "errorfiles", "errorloc", "errorloc302", "errorloc303", "error-log-format",
    "force-persist", "filter", "fullconn", "hash-type", "http-after-response", "http-check",
    "http-error", "http-request", "http-response", "http-reuse", "http-send-name-header", "id",
    "ignore-persist", "load-server-state-from-file", "log", "log-format", "log-format-sd",
    "log-tag", "max-keep-alive-queue", "maxconn", "mode", "monitor", "monitor-uri", "option",
    "external-check", "persist", "rate-limit", "redirect", "retries", "retry-on", "server",
    "server-state-file-name", "server-template", "source", "srvtcpka-cnt", "srvtcpka-idle",
    "srvtcpka-intvl", "stats", "stick", "stick-table", "tcp-check", "tcp-request",
    "tcp-response", "timeout", "transparent", "unique-id-format", "unique-id-header",
    "use_backend", "use-fcgi-app", "use-server", "no", "default",
];

/// `option` names (section 4.1's matrix).
#[rustfmt::skip]
pub const OPTIONS: &[&str] = &[
    "abortonclose", "accept-invalid-http-request", "accept-invalid-http-response",
    "allbackups", "checkcache", "clitcpka", "contstats", "disable-h2-upgrade", "dontlog-normal",
    "dontlognull", "forwardfor", "h1-case-adjust-bogus-client", "h1-case-adjust-bogus-server",
    "http-buffer-request", "http-ignore-probes", "http-keep-alive", "http-no-delay",
    "http-pretend-keepalive", "http-restrict-req-hdr-names", "http-server-close",
    "http-use-proxy-header", "httpchk", "httpclose", "httplog", "httpslog",
    "independent-streams", "ldap-check", "external-check", "log-health-checks",
    "log-separate-errors", "logasap", "mysql-check", "nolinger", "originalto", "persist",
    "pgsql-check", "prefer-last-server", "redispatch", "redis-check", "smtpchk", "socket-stats",
    "splice-auto", "splice-request", "splice-response", "spop-check", "srvtcpka",
    "ssl-hello-chk", "tcp-check", "tcp-smart-accept", "tcp-smart-connect", "tcpka", "tcplog",
    "transparent", "idle-close-on-response",
];

/// `timeout` names (section 4.1's matrix).
#[rustfmt::skip]
pub const TIMEOUTS: &[&str] = &[
    "check", "client", "client-fin", "connect", "http-keep-alive", "http-request", "queue",
    "server", "server-fin", "tarpit", "tunnel",
];

/// `stats` keywords of proxies (section 4.1's matrix).
#[rustfmt::skip]
pub const STATS: &[&str] = &[
    "admin", "auth", "enable", "hide-version", "http-request", "realm", "refresh", "scope",
    "show-desc", "show-legends", "show-node", "uri",
];

/// Bind options (section 5.1), with whether each takes a value.
#[rustfmt::skip]
pub const BIND_OPTIONS: &[(&str, bool)] = &[
    ("accept-netscaler-cip", true), ("accept-proxy", false), ("allow-0rtt", false),
    ("alpn", true), ("backlog", true), ("curves", true), ("ecdhe", true), ("ca-file", true),
    ("ca-ignore-err", true), ("ca-sign-file", true), ("ca-sign-pass", true),
    ("ca-verify-file", true), ("ciphers", true), ("ciphersuites", true), ("crl-file", true),
    ("crt", true), ("crt-ignore-err", true), ("crt-list", true), ("defer-accept", false),
    ("expose-fd", true), ("force-sslv3", false), ("force-tlsv10", false),
    ("force-tlsv11", false), ("force-tlsv12", false), ("force-tlsv13", false),
    ("generate-certificates", false), ("gid", true), ("group", true), ("id", true),
    ("interface", true), ("level", true), ("severity-output", true), ("maxconn", true),
    ("mode", true), ("mss", true), ("name", true), ("namespace", true), ("nice", true),
    ("no-ca-names", false), ("no-sslv3", false), ("no-tls-tickets", false),
    ("no-tlsv10", false), ("no-tlsv11", false), ("no-tlsv12", false), ("no-tlsv13", false),
    ("npn", true), ("prefer-client-ciphers", false), ("process", true), ("proto", true),
    ("quic-force-retry", false), ("shards", true), ("ssl", false), ("ssl-max-ver", true),
    ("ssl-min-ver", true), ("strict-sni", false), ("tcp-ut", true), ("tfo", false),
    ("thread", true), ("tls-ticket-keys", true), ("transparent", false), ("v4v6", false),
    ("v6only", false), ("uid", true), ("user", true), ("verify", true),
];

/// Server and default-server options (section 5.2), with whether each takes a value.
#[rustfmt::skip]
pub const SERVER_OPTIONS: &[(&str, bool)] = &[
    ("addr", true), ("agent-check", false), ("agent-send", true), ("agent-inter", true),
    ("agent-addr", true), ("agent-port", true), ("allow-0rtt", false), ("alpn", true),
    ("backup", false), ("ca-file", true), ("check", false), ("check-send-proxy", false),
    ("check-alpn", true), ("check-proto", true), ("check-sni", true), ("check-ssl", false),
    ("check-via-socks4", false), ("ciphers", true), ("ciphersuites", true), ("cookie", true),
    ("crl-file", true), ("crt", true), ("disabled", false), ("enabled", false),
    ("error-limit", true), ("fall", true), ("force-sslv3", false), ("force-tlsv10", false),
    ("force-tlsv11", false), ("force-tlsv12", false), ("force-tlsv13", false), ("id", true),
    ("init-addr", true), ("inter", true), ("fastinter", true), ("downinter", true),
    ("log-proto", true), ("maxconn", true), ("maxqueue", true), ("max-reuse", true),
    ("minconn", true), ("namespace", true), ("no-agent-check", false), ("no-backup", false),
    ("no-check", false), ("no-check-ssl", false), ("no-send-proxy", false),
    ("no-send-proxy-v2", false), ("no-send-proxy-v2-ssl", false),
    ("no-send-proxy-v2-ssl-cn", false), ("no-ssl", false), ("no-ssl-reuse", false),
    ("no-sslv3", false), ("no-tls-tickets", false), ("no-tlsv10", false), ("no-tlsv11", false),
    ("no-tlsv12", false), ("no-tlsv13", false), ("no-verifyhost", false), ("no-tfo", false),
    ("non-stick", false), ("npn", true), ("observe", true), ("on-error", true),
    ("on-marked-down", true), ("on-marked-up", true), ("pool-low-conn", true),
    ("pool-max-conn", true), ("pool-purge-delay", true), ("port", true), ("proto", true),
    ("redir", true), ("rise", true), ("resolve-opts", true), ("resolve-prefer", true),
    ("resolve-net", true), ("resolvers", true), ("send-proxy", false), ("send-proxy-v2", false),
    ("proxy-v2-options", true), ("send-proxy-v2-ssl", false), ("send-proxy-v2-ssl-cn", false),
    ("slowstart", true), ("sni", true), ("source", true), ("ssl", false),
    ("ssl-max-ver", true), ("ssl-min-ver", true), ("ssl-reuse", false), ("stick", false),
    ("socks4", true), ("tcp-ut", true), ("tfo", false), ("track", true), ("tls-tickets", false),
    ("verify", true), ("verifyhost", true), ("weight", true), ("ws", true),
];

/// Proxy keywords HAProxy 2.1 removed, with the replacement its own message names.
#[rustfmt::skip]
pub const REMOVED: &[(&str, &str)] = &[
    ("reqadd", "Use 'http-request add-header' instead."),
    ("reqrep", "Use 'http-request replace-path', 'http-request replace-uri' or 'http-request replace-header' instead."),
    ("reqdel", "Use 'http-request del-header' instead."),
    ("reqidel", "Use 'http-request del-header' instead."),
    ("reqirep", "Use 'http-request replace-header' instead."),
    ("reqallow", "Use 'http-request allow' instead."),
    ("reqiallow", "Use 'http-request allow' instead."),
    ("reqdeny", "Use 'http-request deny' instead."),
    ("reqideny", "Use 'http-request deny' instead."),
    ("reqtarpit", "Use 'http-request tarpit' instead."),
    ("reqitarpit", "Use 'http-request tarpit' instead."),
    ("reqpass", ""),
    ("reqipass", ""),
    ("rspadd", "Use 'http-response add-header' instead."),
    ("rsprep", "Use 'http-response replace-header' instead."),
    ("rspirep", "Use 'http-response replace-header' instead."),
    ("rspdel", "Use 'http-response del-header' instead."),
    ("rspidel", "Use 'http-response del-header' instead."),
    ("rspdeny", "Use 'http-response deny' instead."),
    ("rspideny", "Use 'http-response deny' instead."),
    ("block", "Use 'http-request deny' which uses the exact same syntax."),
    ("redispatch", "Use 'option redispatch'."),
];

/// Whether `name` is in a (name, takes value) table, and whether it takes a value.
pub fn arity(table: &[(&str, bool)], name: &str) -> Option<bool> {
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}
