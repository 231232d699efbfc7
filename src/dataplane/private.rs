//! Server connections that belong to one client connection: HAProxy's private connections.
//!
//! A connection that began with a PROXY header speaks for one client, and one a server
//! authenticated with NTLM or Negotiate is that client's login: neither may serve anyone
//! else. As in HAProxy, they stay with the client's session, and a request takes one only
//! when balancing (or persistence) chose its server. Once a server has authenticated one,
//! the client prefers the servers it holds connections to, oldest first, over balancing
//! (HAProxy's `SESS_FL_PREFER_LAST`, except under a hash-based `balance`).

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use monoio::net::TcpStream;

use crate::config::ServerId;
use crate::state::BackendShared;

use super::deadline::Deadline;
use super::io::{check_idle, IdleCheck};

/// How many private connections one client keeps (HAProxy's `max-session-srv-conns`).
pub const MAX_PER_CLIENT: usize = 10;

/// One server connection private to a client.
pub struct PrivateConn {
    /// The backend's balancing state: after a reload that changed the backend (or gave its
    /// id to another), it is not the same state, and the connection is not reused.
    pub shared: Arc<BackendShared>,
    /// The server it goes to.
    pub server: ServerId,
    /// The address connected to.
    pub addr: SocketAddr,
    /// The connection.
    pub stream: TcpStream,
    /// The connection's socket deadline.
    pub deadline: Rc<Deadline>,
    /// Where the connection stands among the client's (`PrivateConns::stamp`).
    pub order: u64,
}

/// A client's private server connections, oldest first.
#[derive(Default)]
pub struct PrivateConns {
    conns: Vec<PrivateConn>,
    /// A server authenticated one of the client's connections.
    prefer_held: bool,
    next_order: u64,
}

impl PrivateConns {
    /// The connection to `server` at `addr` of the backend whose state is `shared`, if one
    /// is still open with nothing unexpected waiting on it (others found closed go too).
    pub fn take(
        &mut self,
        shared: &Arc<BackendShared>,
        server: ServerId,
        addr: SocketAddr,
    ) -> Option<PrivateConn> {
        let at = self.conns.iter().rposition(|c| {
            Arc::ptr_eq(&c.shared, shared) && c.server == server && c.addr == addr
        })?;
        let conn = self.conns.remove(at);
        (check_idle(&conn.stream) == IdleCheck::Open).then_some(conn)
    }

    /// From now on the client prefers the servers it holds connections to.
    pub fn prefer_held(&mut self) {
        self.prefer_held = true;
    }

    /// The servers to try before balancing, in order, for the backend whose state is
    /// `shared`: those the client holds connections to, once a server authenticated one.
    pub fn preferred<'s>(
        &'s self,
        shared: &'s Arc<BackendShared>,
    ) -> impl Iterator<Item = ServerId> + 's {
        self.conns
            .iter()
            .filter(move |c| self.prefer_held && Arc::ptr_eq(&c.shared, shared))
            .map(|c| c.server)
    }

    /// The place of a new connection: after every connection the client holds.
    pub fn stamp(&mut self) -> u64 {
        self.next_order += 1;
        self.next_order
    }

    /// Keeps `conn` for the client's next requests, in its place (a connection that served
    /// a request keeps the place it had); the oldest goes when there are too many.
    pub fn keep(&mut self, conn: PrivateConn) {
        if self.conns.len() >= MAX_PER_CLIENT {
            self.conns.remove(0);
        }
        let at = self.conns.partition_point(|c| c.order < conn.order);
        self.conns.insert(at, conn);
    }
}
