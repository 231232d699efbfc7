//! An HTTP client connection: waits for each request without holding a buffer, hands it to
//! a transaction, and keeps the connection alive while both sides allow.

use std::net::SocketAddr;
use std::rc::Rc;

use monoio::net::TcpStream;

use crate::config::ProxyId;

use super::exchange::{After, Transaction};
use super::http1::Outgoing;
use super::io::within;
use super::shard::Shard;

/// Serves HTTP requests on one client connection until it closes.
pub async fn serve_http(
    shard: &Rc<Shard>,
    mut client: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    frontend: ProxyId,
) {
    // Bytes of a pipelined request read along with the previous one.
    let mut pending: Option<Outgoing> = None;
    let mut served: u64 = 0;
    loop {
        let snap = shard.snapshot();
        let timeouts = snap.config.proxies[frontend].timeouts;
        let buffer = match pending.take() {
            Some(buffer) => buffer,
            None => {
                // Wait for readability first: an idle connection holds no buffer.
                let wait = if served == 0 {
                    timeouts.request_head()
                } else {
                    timeouts.keep_alive()
                };
                match within(wait, client.readable(false)).await {
                    Some(Ok(())) => shard.buffers.take(),
                    Some(Err(_)) => return,
                    None if served == 0 => {
                        // A connection that never sent a request gets 408, as in HAProxy.
                        let txn = Transaction::new(shard, &snap, frontend, peer, local);
                        txn.time_out_silent_client(&mut client).await;
                        return;
                    }
                    None => return,
                }
            }
        };
        let txn = Transaction::new(shard, &snap, frontend, peer, local);
        // Boxed so an idle connection's task stays small; the transaction's state lives on
        // the heap only while a request is in flight.
        match Box::pin(txn.run(client, buffer)).await {
            After::KeepAlive(stream, next) => {
                client = stream;
                pending = next;
            }
            After::Close => return,
        }
        served += 1;
    }
}
