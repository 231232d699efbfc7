//! An HTTP client connection: waits for each request without holding a buffer, hands it to
//! a transaction, and keeps the connection alive while both sides allow.

use std::os::fd::AsRawFd;

use monoio::net::TcpStream;

use crate::config::ProxyId;

use super::exchange::{After, KeepAlive, PrivateConn, Transaction};
use super::http1::Outgoing;
use super::io::{check_idle, IdleCheck};
use super::shard::{Connection, Shard};

/// Serves HTTP requests on one client connection until it closes.
// A plain fn returning an async block: an async fn would keep a second copy of its
// arguments in the task, and this task is what an idle connection costs.
#[allow(clippy::manual_async_fn)]
pub fn serve_http(
    conn: Connection,
    mut client: TcpStream,
) -> impl std::future::Future<Output = ()> {
    async move {
        let Connection {
            ref shard,
            frontend,
            peer,
            local,
            ..
        } = conn;
        // The client socket's deadline, for every timeout on this connection.
        let deadline = shard.deadlines.register(client.as_raw_fd());
        // Bytes of a pipelined request read along with the previous one.
        let mut pending: Option<Outgoing> = None;
        // A server connection that only this client may use (NTLM, Negotiate).
        let mut private: Option<Box<PrivateConn>> = None;
        let mut served: u64 = 0;
        loop {
            let buffer = match pending.take() {
                Some(buffer) => buffer,
                None => {
                    // Wait for readability first: an idle connection holds no buffer, and its
                    // deadline is swept by the shard rather than held in a timer of its own.
                    let armed = deadline.idling(idle_limit(shard, frontend, served));
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
                            let snap = shard.snapshot();
                            let txn =
                                Transaction::new(shard, &snap, frontend, &deadline, (peer, local));
                            Box::pin(txn.time_out_silent_client(&mut client)).await;
                        }
                        return;
                    }
                    shard.buffers.take()
                }
            };
            let snap = shard.snapshot();
            let txn = Transaction::new(shard, &snap, frontend, &deadline, (peer, local));
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

/// How long a connection may wait for its next request.
fn idle_limit(shard: &Shard, frontend: ProxyId, served: u64) -> Option<std::time::Duration> {
    let snap = shard.snapshot();
    let timeouts = &snap.config.proxies[frontend].timeouts;
    if served == 0 {
        timeouts.request_head()
    } else {
        timeouts.keep_alive()
    }
}
