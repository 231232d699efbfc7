//! The stats listeners: a small HTTP/1.1 server on the control thread for the sections that
//! only serve the stats page. One request per connection (`Connection: close`), bounded in
//! size, time and concurrency, so a hostile client can neither stall the control thread nor
//! make it hold memory.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};

use crate::config::{Config, Proxy};
use crate::control::admin::{ActionOutcome, ServerAction};
use crate::control::plane::ControlPlane;
use crate::control::socket::command::parse_weight;

use super::auth::{Access, StatsAccess};
use super::page::{ActionStatus, PageOptions};

/// Longest request head read.
const HEAD_LIMIT: usize = 16 * 1024;
/// Longest admin form accepted; a longer one is answered `st=EXCD`.
const BODY_LIMIT: usize = 64 * 1024;
/// Time a client gets to send its request, and to read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Stats connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 64;
/// How often an accept loop looks whether its listener is still wanted.
const LISTEN_CHECK: Duration = Duration::from_millis(200);

/// A bound stats listener, before the control thread's runtime takes it.
#[derive(Debug)]
pub struct StatsBind {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The socket.
    pub listener: StdListener,
}

/// Why a stats listener could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("Starting proxy {proxy}: cannot bind socket ({source}) [{addr}]")]
pub struct BindError {
    /// The section's name.
    pub proxy: String,
    /// The address.
    pub addr: SocketAddr,
    /// Why.
    pub source: std::io::Error,
}

/// The addresses of every stats-only section's `bind` lines, with their section.
pub fn stats_addresses(config: &Config) -> Vec<(String, SocketAddr)> {
    config
        .proxies
        .iter()
        .filter(|p| p.stats_only())
        .flat_map(|p| p.binds.iter().map(move |b| (p.name.clone(), b.addr)))
        .collect()
}

/// Binds one stats address (not shared with the shards: only the control thread serves it).
pub fn bind(addr: SocketAddr) -> std::io::Result<StdListener> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    // As the shards' listeners: a stats address may be a VIP this node does not hold yet.
    match addr {
        SocketAddr::V4(_) => socket.set_freebind_v4(true)?,
        SocketAddr::V6(_) => socket.set_freebind_v6(true)?,
    }
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    Ok(socket.into())
}

/// Binds every stats address of `config` (at start: a failure stops ringlb, as for a
/// frontend).
pub fn bind_all(config: &Config) -> Result<Vec<StatsBind>, BindError> {
    stats_addresses(config)
        .into_iter()
        .map(|(proxy, addr)| {
            bind(addr)
                .map(|listener| StatsBind { addr, listener })
                .map_err(|source| BindError {
                    proxy,
                    addr,
                    source,
                })
        })
        .collect()
}

/// What every stats connection shares.
struct Context {
    plane: Rc<RefCell<ControlPlane>>,
    /// Compiled access rules per section, with the configuration they were compiled from.
    access: RefCell<HashMap<String, (Arc<Config>, StatsAccess)>>,
    /// Connections being served.
    active: Cell<usize>,
}

/// The stats listeners running on the control thread.
pub struct StatsServer {
    context: Rc<Context>,
    /// Each listener's address and the flag that keeps its accept loop going.
    listening: HashMap<SocketAddr, Rc<Cell<bool>>>,
}

impl StatsServer {
    /// Serves `binds` (bound at start) on the current monoio runtime.
    pub fn start(plane: Rc<RefCell<ControlPlane>>, binds: Vec<StatsBind>) -> Self {
        let mut server = Self {
            context: Rc::new(Context {
                plane,
                access: RefCell::new(HashMap::new()),
                active: Cell::new(0),
            }),
            listening: HashMap::new(),
        };
        for b in binds {
            server.spawn(b.addr, b.listener);
        }
        server
    }

    fn spawn(&mut self, addr: SocketAddr, listener: StdListener) {
        match TcpListener::from_std(listener) {
            Ok(listener) => {
                let open = Rc::new(Cell::new(true));
                self.listening.insert(addr, Rc::clone(&open));
                monoio::spawn(accept_loop(Rc::clone(&self.context), listener, addr, open));
            }
            Err(e) => log::error!("stats listener {addr}: {e}"),
        }
    }

    /// Follows the configuration in force (after a reload): closes the listeners of
    /// addresses gone, binds the new ones (a failure is logged; the rest goes on).
    pub fn reconcile(&mut self) {
        let config = Arc::clone(self.context.plane.borrow().config());
        let wanted = stats_addresses(&config);
        self.listening.retain(|addr, open| {
            let keep = wanted.iter().any(|(_, a)| a == addr);
            if !keep {
                open.set(false);
            }
            keep
        });
        for (proxy, addr) in wanted {
            if self.listening.contains_key(&addr) {
                continue;
            }
            match bind(addr) {
                Ok(listener) => self.spawn(addr, listener),
                Err(e) => log::error!("Starting proxy {proxy}: cannot bind socket ({e}) [{addr}]"),
            }
        }
    }

    /// Closes every listener (a soft stop).
    pub fn stop(&mut self) {
        for open in self.listening.values() {
            open.set(false);
        }
        self.listening.clear();
    }
}

async fn accept_loop(
    context: Rc<Context>,
    listener: TcpListener,
    addr: SocketAddr,
    open: Rc<Cell<bool>>,
) {
    while open.get() {
        // The epoll driver's accept may be dropped at any time: the timeout only lets the
        // loop see that its listener is no longer wanted.
        match monoio::time::timeout(LISTEN_CHECK, listener.accept()).await {
            Err(_) => {}
            Ok(Ok((stream, peer))) => {
                if context.active.get() >= MAX_CONNECTIONS {
                    continue;
                }
                context.active.set(context.active.get() + 1);
                let context = Rc::clone(&context);
                monoio::spawn(async move {
                    serve(&context, stream, addr, peer).await;
                    context.active.set(context.active.get() - 1);
                });
            }
            Ok(Err(e)) => {
                log::debug!("stats listener {addr}: accept: {e}");
                // Out of descriptors or similar: give the system a moment.
                monoio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// A request as the stats page needs it.
#[derive(Debug, Default)]
struct Request {
    method: String,
    target: String,
    authorization: Option<Vec<u8>>,
    body: Vec<u8>,
    /// Bytes read from the client.
    bytes: usize,
    /// The body was longer than `BODY_LIMIT` (not read).
    body_too_large: bool,
}

/// Why no request could be read.
#[derive(Debug)]
enum ReadError {
    /// The client closed or failed before a whole request.
    Closed,
    /// The head is longer than `HEAD_LIMIT`, or not HTTP/1.x.
    Bad,
}

async fn serve(context: &Context, mut stream: TcpStream, local: SocketAddr, peer: SocketAddr) {
    // The section's counters in the snapshot in force: the control thread is their only
    // writer, as each shard is of its own.
    let snap = Arc::clone(context.plane.borrow().snapshot());
    let counters =
        section_for(&snap.config, local).and_then(|p| snap.control_counters()?.proxies.get(p.id));
    if let Some(c) = counters {
        c.conn_total.incr();
        c.conn_current.rise(&c.conn_max);
    }
    let read = monoio::time::timeout(IO_TIMEOUT, read_request(&mut stream)).await;
    // A request counts once read, as HAProxy counts it before answering: a CSV export
    // includes the request that asked for it.
    if let Some(c) = counters {
        c.requests_total.incr();
    }
    let (response, bytes_in) = match read {
        Ok(Ok(request)) => (respond(context, &request, local, peer), request.bytes),
        // As HAProxy counts a client that leaves without a request: a request error, 400.
        Ok(Err(ReadError::Closed)) => (Vec::new(), 0),
        Ok(Err(ReadError::Bad)) => (
            simple(400, "Bad Request", "Your browser sent an invalid request."),
            0,
        ),
        Err(_) => (
            simple(
                408,
                "Request Time-out",
                "Your browser didn't send a complete request in time.",
            ),
            0,
        ),
    };
    if let Some(c) = counters {
        let status = std::str::from_utf8(response.get(9..12).unwrap_or(b"400"))
            .ok()
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(400);
        c.status.record(status);
        if status == 400 || status == 408 {
            c.request_errors.incr();
        }
        c.bytes_in.add(bytes_in as u64);
        c.bytes_out.add(response.len() as u64);
    }
    if !response.is_empty() {
        let _ = monoio::time::timeout(IO_TIMEOUT, stream.write_all(response)).await;
    }
    let _ = stream.shutdown().await;
    if let Some(c) = counters {
        c.conn_current.add(-1);
    }
}

async fn read_request(stream: &mut TcpStream) -> Result<Request, ReadError> {
    let mut data: Vec<u8> = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(i) = memchr::memmem::find(&data, b"\r\n\r\n") {
            break i + 4;
        }
        if data.len() > HEAD_LIMIT {
            return Err(ReadError::Bad);
        }
        read_more(stream, &mut data).await?;
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(&data[..head_end]) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(ReadError::Bad),
    }
    let mut request = Request {
        method: parsed.method.unwrap_or("").to_string(),
        target: parsed.path.unwrap_or("").to_string(),
        ..Request::default()
    };
    let mut length = 0usize;
    for h in parsed.headers.iter() {
        if h.name.eq_ignore_ascii_case("authorization") {
            request.authorization = Some(h.value.to_vec());
        } else if h.name.eq_ignore_ascii_case("content-length") {
            length = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or(ReadError::Bad)?;
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // The admin form is small and sent with a length; nothing else is expected.
            return Err(ReadError::Bad);
        }
    }
    if length > BODY_LIMIT {
        request.body_too_large = true;
        request.bytes = data.len();
        return Ok(request);
    }
    while data.len() < head_end + length {
        read_more(stream, &mut data).await?;
    }
    request.body = data[head_end..head_end + length].to_vec();
    request.bytes = data.len();
    Ok(request)
}

async fn read_more(stream: &mut TcpStream, data: &mut Vec<u8>) -> Result<(), ReadError> {
    let (result, chunk) = stream.read(Vec::with_capacity(4096)).await;
    match result {
        Ok(0) | Err(_) => Err(ReadError::Closed),
        Ok(n) => {
            data.extend_from_slice(&chunk[..n]);
            Ok(())
        }
    }
}

/// The stats-only section listening on `local`.
fn section_for(config: &Config, local: SocketAddr) -> Option<&Proxy> {
    config.proxies.iter().filter(|p| p.stats_only()).find(|p| {
        p.binds.iter().any(|b| {
            b.addr.port() == local.port()
                && (b.addr.ip().is_unspecified() || b.addr.ip() == local.ip())
        })
    })
}

fn respond(context: &Context, request: &Request, local: SocketAddr, peer: SocketAddr) -> Vec<u8> {
    let config = Arc::clone(context.plane.borrow().config());
    let Some(proxy) = section_for(&config, local) else {
        return simple(
            503,
            "Service Unavailable",
            "No server is available to handle this request.",
        );
    };
    let path = request.target.as_str();
    let bare = path.split(['?', ';']).next().unwrap_or("");
    // `/metrics` on every stats listener, and where `http-request use-service
    // prometheus-exporter` says.
    let metrics = bare == "/metrics"
        || match &proxy.stats.prometheus {
            Some(None) => true,
            Some(Some(p)) => bare == p,
            None => false,
        };
    let Some(rest) = path
        .strip_prefix(proxy.stats.uri.as_str())
        .filter(|_| !metrics && proxy.stats.enabled)
        .or(metrics.then_some(""))
    else {
        return proxy.errorpages.get(503).to_vec();
    };
    if let Some(c) = context
        .plane
        .borrow()
        .snapshot()
        .control_counters()
        .and_then(|c| c.proxies.get(proxy.id))
    {
        c.intercepted.incr();
    }
    let head = request.method == "HEAD";
    if !matches!(request.method.as_str(), "GET" | "HEAD" | "POST") {
        return simple(
            405,
            "Method Not Allowed",
            "The stats page takes GET and POST.",
        );
    }
    let access = {
        let mut cache = context.access.borrow_mut();
        let entry = cache
            .entry(proxy.name.clone())
            .or_insert_with(|| (Arc::clone(&config), StatsAccess::new(&config, proxy.id)));
        if !Arc::ptr_eq(&entry.0, &config) {
            *entry = (Arc::clone(&config), StatsAccess::new(&config, proxy.id));
        }
        entry
            .1
            .check_from(request.authorization.as_deref(), Some(peer.ip()))
    };
    let (user, admin) = match access {
        Access::Challenge { realm } => return unauthorized(&realm),
        Access::Granted { user, admin } => (user, admin),
    };
    let options = page_options(rest);
    let uri = &proxy.stats.uri;
    if request.method == "POST" && !metrics {
        let status = if !admin {
            ActionStatus::Deny
        } else if request.body_too_large {
            ActionStatus::Excd
        } else {
            act(context, &config, &request.body)
        };
        return redirect(&format!("{uri};st={}", status.code()));
    }
    let plane = context.plane.borrow();
    // The exports that are only rows need neither the percentiles nor the process block.
    let rows_only = !metrics && options.2 != Format::Html;
    if rows_only {
        let rows = super::rows::stat_rows(&plane, std::time::Instant::now());
        let (content_type, body) = if options.2 == Format::Csv {
            ("text/plain", super::rows::csv(&rows))
        } else {
            ("application/json", super::json::stat_json(&rows))
        };
        return ok(content_type, &body, head);
    }
    let page = super::build::page(&plane, proxy, admin, user, options.0, options.1);
    let (content_type, body) = if metrics {
        (
            "text/plain; version=0.0.4; charset=utf-8",
            super::prometheus::metrics(&page),
        )
    } else {
        ("text/html; charset=utf-8", super::html::page(&page))
    };
    ok(content_type, &body, head)
}

/// A `200 OK` carrying `body` (only its length for HEAD).
fn ok(content_type: &str, body: &str, head: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// What the page was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Html,
    Csv,
    Json,
}

/// The `;`-suffixes after the stats URI: `;csv`, `;json`, `;norefresh`, `;up`,
/// `;no-maint`, `;st=CODE`.
fn page_options(rest: &str) -> (PageOptions, Option<ActionStatus>, Format) {
    let mut options = PageOptions::default();
    let mut status = None;
    let mut format = Format::Html;
    for token in rest.split(';').skip(1) {
        let token = token.split(['?', '&']).next().unwrap_or("");
        match token {
            "csv" => format = Format::Csv,
            "json" => format = Format::Json,
            "norefresh" => options.norefresh = true,
            "up" => options.up_only = true,
            "no-maint" => options.no_maint = true,
            t => {
                if let Some(code) = t.strip_prefix("st=") {
                    status = ActionStatus::from_code(code);
                }
            }
        }
    }
    (options, status, format)
}

/// Applies the admin form (`b=#IID|NAME&s=SERVER…&action=…`).
fn act(context: &Context, config: &Config, body: &[u8]) -> ActionStatus {
    let mut backend = None;
    let mut servers = Vec::new();
    let mut action = None;
    let mut weight = None;
    for (key, value) in form_urlencoded::parse(body) {
        match &*key {
            "b" => backend = Some(value.into_owned()),
            "s" => servers.push(value.into_owned()),
            "action" => action = Some(value.into_owned()),
            "weight" => weight = Some(value.trim().to_string()),
            _ => {}
        }
    }
    let Some(proxy) = backend.as_deref().and_then(|b| {
        match b.strip_prefix('#').and_then(|id| id.parse::<u32>().ok()) {
            Some(uuid) => config.proxies.iter().find(|p| p.uuid == uuid),
            None => config.backend(b),
        }
    }) else {
        return ActionStatus::Errp;
    };
    // `weight` (ringlb's, beside HAProxy's actions): N or N% of the configured weight, as
    // the runtime API's `set weight` takes it.
    let for_server: Box<dyn Fn(&crate::config::Server) -> ServerAction> = match action.as_deref() {
        Some("weight") => match weight.as_deref().map(parse_weight) {
            Some(Ok(w)) => Box::new(move |s| ServerAction::Weight(w.resolve(s.weight))),
            _ => return ActionStatus::Errp,
        },
        other => match other.and_then(server_action) {
            Some(a) => Box::new(move |_| a),
            None => return ActionStatus::Errp,
        },
    };
    let targets: Vec<_> = servers
        .iter()
        .filter_map(|name| proxy.servers.iter().position(|s| &s.name == name))
        .map(|sid| (proxy.id, sid, for_server(&proxy.servers[sid])))
        .collect();
    if servers.is_empty() {
        return ActionStatus::None;
    }
    let outcomes = context.plane.borrow_mut().apply(&targets);
    let done = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(ActionOutcome::Changed | ActionOutcome::Unchanged)))
        .count();
    if done == servers.len() {
        ActionStatus::Done
    } else if done == 0 {
        ActionStatus::Errp
    } else {
        ActionStatus::Part
    }
}

/// The stats page's `action=` values that ringlb carries out.
fn server_action(value: &str) -> Option<ServerAction> {
    Some(match value {
        "ready" => ServerAction::Ready,
        "drain" => ServerAction::Drain,
        "maint" => ServerAction::Maint,
        "dhlth" => ServerAction::ChecksOff,
        "ehlth" => ServerAction::ChecksOn,
        "hrunn" => ServerAction::ForceUp,
        "hdown" => ServerAction::ForceDown,
        _ => return None,
    })
}

fn simple(code: u16, reason: &str, text: &str) -> Vec<u8> {
    let body = format!("<html><body><h1>{code} {reason}</h1>\n{text}\n</body></html>\n");
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn unauthorized(realm: &str) -> Vec<u8> {
    let body = "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n";
    // A realm is a quoted string: quotes and backslashes in it are escaped.
    let realm = realm.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/html\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\nWWW-Authenticate: Basic realm=\"{realm}\"\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn redirect(location: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 303 See Other\r\nCache-Control: no-cache\r\nContent-Type: text/plain\r\nContent-Length: 0\r\nConnection: close\r\nLocation: {location}\r\n\r\n"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes() {
        let (o, st, f) = page_options(";up;norefresh;st=DONE");
        assert!(o.up_only && o.norefresh && !o.no_maint);
        assert_eq!(st, Some(ActionStatus::Done));
        assert_eq!(f, Format::Html);
        assert_eq!(page_options("?stats;csv").2, Format::Csv);
        assert_eq!(page_options(";json;no-maint").2, Format::Json);
        assert_eq!(page_options(";st=BOGUS").1, None);
        assert_eq!(page_options("").2, Format::Html);
    }
}
