//! Listening: one accept loop per bind of every frontend on each shard, the task each new
//! connection gets, and the shard's periodic upkeep, which also opens the binds a new
//! configuration adds and closes those it removes.

use std::cell::Cell;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use monoio::net::{TcpListener, TcpStream};

use crate::config::{Config, Mode, ProxyId};

use super::deadline::{coarse_now, SWEEP_INTERVAL};
use super::inspect::connection_accepted;
use super::io::{set_keepalive, set_reset_on_close};
use super::listener::bind_shared;
use super::proxyhdr::read_header;
use super::shard::{Connection, Listening, Shard};
use super::{session, tunnel};

/// A listening socket each shard opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenSpec {
    /// The frontend it serves.
    pub frontend: ProxyId,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its listen backlog.
    pub backlog: i32,
    /// `bind … v6only`: an IPv6 socket that takes no IPv4 client.
    pub v6only: bool,
}

/// The listening sockets of every `bind` of every frontend of `config`.
pub fn listen_addresses(config: &Config) -> Vec<ListenSpec> {
    config
        .frontends()
        .filter(|p| !p.stats_only())
        .flat_map(|p| {
            let backlog = p.maxconn.map_or(4096, |m| m.clamp(16, 65535) as i32);
            p.binds.iter().map(move |b| ListenSpec {
                frontend: p.id,
                addr: b.addr,
                backlog,
                v6only: b.v6only,
            })
        })
        .collect()
}

/// Accepts clients of the frontend named `frontend` on `listener` until the shard stops or
/// the bind leaves the configuration.
pub async fn accept_loop(shard: Rc<Shard>, listener: TcpListener, frontend: String) {
    let local = listener.local_addr().ok();
    let fd = listener.as_raw_fd();
    let open = Rc::new(Cell::new(!shard.stopping()));
    shard.listeners.borrow_mut().push(Listening {
        frontend: frontend.clone(),
        addr: local.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
        fd,
        open: Rc::clone(&open),
    });
    accept_while_open(&shard, &listener, &frontend, local, &open).await;
    shard.listeners.borrow_mut().retain(|l| l.fd != fd);
}

async fn accept_while_open(
    shard: &Rc<Shard>,
    listener: &TcpListener,
    frontend: &str,
    local: Option<SocketAddr>,
    open: &Cell<bool>,
) {
    // The frontend's connections on this shard, whatever configuration they came under.
    let gauge = shard.frontend_gauge(frontend);
    // Ids change with a reload; the bind is kept by its frontend's name, looked up again
    // only when the configuration changes (and with it whether the bind expects a PROXY
    // header, so a bind without `accept-proxy` pays nothing per connection).
    let mut resolved: Option<(Arc<Config>, ProxyId, bool)> = None;
    let mut resolve = |config: &Arc<Config>| -> Option<(ProxyId, bool)> {
        match &resolved {
            Some((known, id, proxied)) if Arc::ptr_eq(known, config) => Some((*id, *proxied)),
            _ => {
                let fe = config.frontend(frontend)?;
                let proxied = local.is_some_and(|at| {
                    fe.binds.iter().any(|b| {
                        b.accept_proxy
                            && (b.addr == at || (b.addr.port() == 0 && b.addr.ip() == at.ip()))
                    })
                });
                resolved = Some((Arc::clone(config), fe.id, proxied));
                Some((fe.id, proxied))
            }
        }
    };
    while open.get() {
        let snap = shard.snapshot();
        let Some((id, _)) = resolve(&snap.config) else {
            return;
        };
        // A frontend's `maxconn` is shared evenly by the shards, as each accepts on its own.
        let frontend_full = snap.config.proxies[id].maxconn.is_some_and(|m| {
            let limit = (m as usize).div_ceil(shard.shards()) as i64;
            gauge.get() >= limit
        });
        drop(snap);
        if shard.open_conns.get() >= shard.max_conns() || frontend_full {
            // At maxconn: leave new clients in the kernel's backlog, as HAProxy does.
            monoio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        match listener.accept().await {
            Ok((stream, peer)) => {
                let local = stream.local_addr().ok().or(local);
                let Some(local) = local else { continue };
                // The id is resolved again under the snapshot the connection is counted in.
                let snap = shard.snapshot();
                let Some((id, proxied)) = resolve(&snap.config) else {
                    continue;
                };
                let rules = &snap.config.proxies[id].tcp_request.connection;
                if !connection_accepted(rules, peer, local) {
                    // Counted as a connection, never as a session; closed with a reset, as
                    // HAProxy does.
                    let _conn = Connection::open(
                        Rc::clone(shard),
                        Rc::clone(&snap),
                        id,
                        Rc::clone(&gauge),
                        peer,
                        local,
                    );
                    snap.shard_counters(shard.id).proxies[id]
                        .denied_connections
                        .incr();
                    set_reset_on_close(&stream);
                    continue;
                }
                if snap.config.proxies[id].extras.client_keepalive {
                    set_keepalive(&stream);
                }
                serve(
                    Connection::open(Rc::clone(shard), snap, id, Rc::clone(&gauge), peer, local),
                    stream,
                    proxied,
                );
            }
            Err(_) if !open.get() => return,
            Err(e) => {
                let pause = match e.raw_os_error() {
                    // Out of descriptors or memory: back off instead of spinning.
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => 100,
                    _ => 1,
                };
                log::debug!("shard {}: accept failed: {e}", shard.id);
                monoio::time::sleep(Duration::from_millis(pause)).await;
            }
        }
    }
}

/// Starts the session task of a new connection; `proxied`: it starts with a PROXY header.
fn serve(conn: Connection, stream: TcpStream, proxied: bool) {
    if proxied {
        serve_proxied(conn, stream);
        return;
    }
    let _ = stream.set_nodelay(true);
    let (shard_id, peer) = (conn.shard.id, conn.peer);
    let mode = conn.snap.config.proxies[conn.frontend].mode;
    // No async wrapper here: each level of async fn would keep its own copy of the
    // arguments in the task, and an idle connection's task should stay small. A panic in
    // one session must not take the shard and its other clients down with it.
    let isolate = move |outcome: std::thread::Result<()>| {
        if outcome.is_err() {
            log::error!(
                "shard {shard_id}: a session from {peer} panicked; its connection was closed"
            );
        }
    };
    match mode {
        Mode::Http => {
            monoio::spawn(
                AssertUnwindSafe(session::serve_http(conn, stream))
                    .catch_unwind()
                    .map(isolate),
            );
        }
        Mode::Tcp => {
            // Boxed: a relay's state is large.
            let relay = Box::pin(tunnel::serve_tcp(conn, stream));
            monoio::spawn(AssertUnwindSafe(relay).catch_unwind().map(isolate));
        }
    }
}

/// Reads the PROXY header of a connection to an `accept-proxy` bind, then serves it as the
/// client the header names. A missing or malformed header closes the connection without a
/// word, as HAProxy does.
fn serve_proxied(mut conn: Connection, mut stream: TcpStream) {
    let fe = &conn.snap.config.proxies[conn.frontend];
    let limit = match fe.mode {
        Mode::Http => fe.timeouts.http_request.or(fe.timeouts.client),
        Mode::Tcp => fe.timeouts.client,
    };
    let (shard_id, peer) = (conn.shard.id, conn.peer);
    let task = async move {
        match read_header(&mut stream, limit).await {
            Ok(addrs) => {
                if let Some((client, local)) = addrs {
                    conn.peer = client;
                    conn.local = local;
                }
                serve(conn, stream, false);
            }
            Err(e) => {
                log::debug!("shard {shard_id}: connection from {peer} closed: {e}");
            }
        }
    };
    monoio::spawn(AssertUnwindSafe(task).catch_unwind().map(move |outcome| {
        if outcome.is_err() {
            log::error!("shard {shard_id}: reading the PROXY header from {peer} panicked");
        }
    }));
}

/// Opens the binds of the shard's configuration that have no listener yet and closes the
/// listeners whose bind is gone. Sessions already accepted on a closed one go on.
fn reconcile_listeners(shard: &Rc<Shard>) {
    if shard.stopping() {
        return;
    }
    let snap = shard.snapshot();
    let wanted = listen_addresses(&snap.config);
    let name = |id: ProxyId| snap.config.proxies[id].name.as_str();
    // New binds open before removed ones close, so a bind that moves to another frontend
    // is never without a listener.
    let missing: Vec<ListenSpec> =
        wanted
            .iter()
            .copied()
            .filter(|spec| {
                !shard.listeners.borrow().iter().any(|l| {
                    l.open.get() && l.frontend == name(spec.frontend) && l.addr == spec.addr
                })
            })
            .collect();
    for spec in missing {
        let (fe, addr) = (spec.frontend, spec.addr);
        match bind_shared(addr, spec.backlog, spec.v6only).and_then(TcpListener::from_std) {
            Ok(listener) => {
                monoio::spawn(accept_loop(
                    Rc::clone(shard),
                    listener,
                    name(fe).to_string(),
                ));
            }
            Err(e) => log::warn!(
                "shard {}: Starting frontend {}: cannot bind socket ({e}) [{addr}]",
                shard.id,
                name(fe)
            ),
        }
    }
    for listening in shard.listeners.borrow().iter() {
        let kept = wanted
            .iter()
            .any(|spec| name(spec.frontend) == listening.frontend && spec.addr == listening.addr);
        if !kept {
            listening.close();
        }
    }
}

/// Periodic shard upkeep: socket deadlines, newest snapshot (and the listeners a new
/// configuration asks for), stale idle server connections.
pub async fn housekeeping(shard: Rc<Shard>) {
    let sweeper = Rc::clone(&shard);
    monoio::spawn(async move {
        let mut config: Arc<Config> = Arc::clone(&sweeper.snapshot().config);
        loop {
            monoio::time::sleep(SWEEP_INTERVAL).await;
            sweeper.deadlines.sweep();
            // An idle shard learns of a new snapshot here (a busy one at its next request).
            let snap = sweeper.snapshot();
            if !Arc::ptr_eq(&snap.config, &config) {
                config = Arc::clone(&snap.config);
                drop(snap);
                reconcile_listeners(&sweeper);
            }
            // The same tick expires queued requests and lets them see slots freed elsewhere.
            sweeper.queues.tick(coarse_now());
        }
    });
    let mut ticks = 0u64;
    loop {
        monoio::time::sleep(Duration::from_millis(500)).await;
        shard.conns.purge();
        ticks += 1;
        if ticks.is_multiple_of(2) {
            shard.ship_latencies();
        }
    }
}
