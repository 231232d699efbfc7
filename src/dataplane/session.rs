//! An HTTP client connection: waits for each request without holding a buffer, hands it to
//! a transaction, and keeps the connection alive while both sides allow.

use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;

use monoio::net::TcpStream;

use crate::config::tcp_rules::TcpAction;
use crate::config::Mode;
use crate::state::Snapshot;

use super::exchange::{After, KeepAlive, Transaction};
use super::http1::Outgoing;
use super::inspect::{discard_pending, inspect, Take};
use super::io::{check_idle, IdleCheck};
use super::private::PrivateConns;
use super::shard::Connection;

/// A `mode tcp` connection switched to a `mode http` backend: HAProxy 2.x upgrades it to
/// HTTP, and so does ringlb.
pub struct Upgrade {
    /// The backend the frontend's rules chose at connection time: every request of the
    /// connection goes there (HAProxy re-runs the rules per request, on a view where
    /// payload fetches no longer see the bytes; connection-level rules agree either way).
    pub backend: crate::config::ProxyId,
    /// Bytes `tcp-request content` inspection already read: the start of the first request.
    pub early: Vec<u8>,
}

/// Serves HTTP requests on one client connection until it closes.
pub fn serve_http(conn: Connection, client: TcpStream) -> impl std::future::Future<Output = ()> {
    serve(conn, client, None)
}

/// Serves HTTP requests on a `mode tcp` connection whose frontend chose an HTTP backend.
pub fn serve_upgraded(
    conn: Connection,
    client: TcpStream,
    upgrade: Upgrade,
) -> impl std::future::Future<Output = ()> {
    serve(conn, client, Some(upgrade))
}

// A plain fn returning an async block: an async fn would keep a second copy of its
// arguments in the task, and this task is what an idle connection costs.
#[allow(clippy::manual_async_fn)]
fn serve(
    conn: Connection,
    mut client: TcpStream,
    upgrade: Option<Upgrade>,
) -> impl std::future::Future<Output = ()> {
    async move {
        let mut conn = conn;
        let shard = Rc::clone(&conn.shard);
        let shard = &shard;
        let (peer, local) = (conn.peer, conn.local);
        // The client socket's deadline, for every timeout on this connection.
        let deadline = shard.deadlines.register(client.as_raw_fd());
        // Bytes of a pipelined request read along with the previous one.
        let mut pending: Option<Outgoing> = None;
        // Server connections that only this client may use (PROXY header, NTLM, Negotiate).
        let mut private: Option<Box<PrivateConns>> = None;
        let mut served: u64 = 0;
        let fe = &conn.snap.config.proxies[conn.frontend];
        let upgraded = upgrade.is_some();
        let mut forced = None;
        if let Some(Upgrade { backend, early }) = upgrade {
            forced = Some(backend);
            if !early.is_empty() {
                let mut buffer = shard.buffers.take();
                buffer.buf_mut().extend_from_slice(&early);
                pending = Some(buffer);
            }
        } else if !fe.tcp_request.content.is_empty() {
            // `tcp-request content` rules run before HTTP parsing, on bytes left on the socket.
            let (rules, delay) = (&fe.tcp_request.content, fe.tcp_request.inspect_delay);
            let seen = Box::pin(inspect(&client, rules, delay, Take::Peek, (peer, local))).await;
            if seen.action == TcpAction::Reject {
                conn.snap.shard_counters(shard.id).proxies[conn.frontend]
                    .denied_requests
                    .incr();
                discard_pending(&client);
                return;
            }
        }
        loop {
            let buffer = match pending.take() {
                Some(buffer) => buffer,
                None => {
                    if shard.stopping() && check_idle(&client) == IdleCheck::Open {
                        // A soft stop: no waiting for a request that has not even started.
                        return;
                    }
                    // Wait for readability first: an idle connection holds no buffer, and its
                    // deadline is swept by the shard rather than held in a timer of its own.
                    let armed = deadline.idling(idle_limit(&conn, served));
                    let ready = client.readable(false).await;
                    drop(armed);
                    if ready.is_err() {
                        return;
                    }
                    if shard.stopping() && check_idle(&client) == IdleCheck::Open {
                        // A soft stop closes idle connections; one whose request already
                        // arrived is served (with `Connection: close`).
                        return;
                    }
                    if deadline.fired() {
                        if served == 0 {
                            // A connection that never sent a request gets 408, as in HAProxy.
                            let snap = Rc::clone(&conn.snap);
                            let txn = Transaction::new(
                                shard,
                                &snap,
                                conn.frontend,
                                &deadline,
                                (peer, local),
                            );
                            Box::pin(txn.time_out_silent_client(&mut client)).await;
                        }
                        return;
                    }
                    shard.buffers.take()
                }
            };
            let snap = shard.snapshot();
            if !Arc::ptr_eq(&snap.config, &conn.snap.config) {
                // After a reload an upgraded connection's backend is found again by name.
                forced = match forced {
                    Some(backend) => backend_after(&conn, &snap, backend),
                    None => None,
                };
                if (upgraded && forced.is_none()) || !follow_reload(&mut conn, &snap, upgraded) {
                    // Its frontend (or backend) left the configuration: the connection ends.
                    shard.buffers.give(buffer);
                    return;
                }
            }
            let mut txn = Transaction::new(shard, &snap, conn.frontend, &deadline, (peer, local));
            if let Some(backend) = forced {
                txn = txn.to_backend(backend);
            }
            // Boxed so an idle connection's task stays small; the transaction's state lives on
            // the heap only while a request is in flight.
            match Box::pin(txn.run(client, buffer, private.take())).await {
                After::KeepAlive(KeepAlive {
                    client: stream,
                    pending: next,
                    private: kept,
                }) => {
                    client = stream;
                    pending = next;
                    private = kept;
                }
                After::Close => return,
            }
            served += 1;
        }
    }
}

/// Moves a connection to the configuration of `snap` (a reload): its frontend is found again
/// by name. `false` when the frontend is gone or no longer serves HTTP (for an upgraded
/// connection: is no longer `mode tcp`).
// `Rc` around the `Arc`, as the shard hands snapshots out: taking one is a local count.
#[allow(clippy::redundant_allocation)]
fn follow_reload(conn: &mut Connection, snap: &Rc<Arc<Snapshot>>, upgraded: bool) -> bool {
    let name = &conn.snap.config.proxies[conn.frontend].name;
    let mode = if upgraded { Mode::Tcp } else { Mode::Http };
    let Some(fe) = snap.config.frontend(name).filter(|p| p.mode == mode) else {
        return false;
    };
    conn.frontend = fe.id;
    conn.snap = Rc::clone(snap);
    true
}

/// The HTTP backend an upgraded connection was sent to, found by name in the configuration
/// of `snap` (a reload); `None` when it is gone or no longer HTTP.
#[allow(clippy::redundant_allocation)]
fn backend_after(
    conn: &Connection,
    snap: &Rc<Arc<Snapshot>>,
    backend: crate::config::ProxyId,
) -> Option<crate::config::ProxyId> {
    let name = &conn.snap.config.proxies.get(backend)?.name;
    snap.config
        .proxies
        .iter()
        .find(|p| p.is_backend() && &p.name == name && p.mode == Mode::Http)
        .map(|p| p.id)
}

/// How long a connection may wait for its next request.
fn idle_limit(conn: &Connection, served: u64) -> Option<std::time::Duration> {
    let timeouts = &conn.snap.config.proxies[conn.frontend].timeouts;
    if served == 0 {
        timeouts.request_head()
    } else {
        timeouts.keep_alive()
    }
}
