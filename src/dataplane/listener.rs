//! Listening sockets: one SO_REUSEPORT socket per frontend address and shard.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Binds a listening socket that other shards can bind too (SO_REUSEPORT): the kernel
/// spreads new connections over them, with no shared accept queue.
pub fn bind_shared(
    addr: SocketAddr,
    backlog: i32,
    v6only: bool,
) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        // `bind … v6only`; without it the kernel default (`net.ipv6.bindv6only`) applies,
        // as in HAProxy.
        if v6only {
            socket.set_only_v6(true)?;
        }
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    // Non-blocking for the epoll fallback; io_uring does not mind.
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    free_bind(&socket, addr)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// Lets `bind VIP:PORT` succeed while the virtual address is on the other node (a VRRP
/// backup): the listener serves it as soon as VRRP adds the address here.
pub fn free_bind(socket: &Socket, addr: SocketAddr) -> io::Result<()> {
    match addr {
        SocketAddr::V4(_) => socket.set_freebind_v4(true),
        SocketAddr::V6(_) => socket.set_freebind_v6(true),
    }
}

/// Fails if something already listens on `addr`. SO_REUSEPORT would otherwise let a stale
/// process silently take a share of the connections.
pub fn ensure_free(addr: SocketAddr) -> io::Result<()> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    free_bind(&socket, addr)?;
    socket.bind(&addr.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_this_host_does_not_have_yet_can_be_bound() {
        // TEST-NET-1: never configured here, as a VIP on the backup node is not.
        let vip: SocketAddr = "192.0.2.123:0".parse().unwrap();
        let listener = bind_shared(vip, 16, false).unwrap();
        let bound = listener.local_addr().unwrap();
        assert_eq!(bound.ip(), vip.ip());
        assert!(ensure_free(bound).is_err(), "and it is seen as taken");
    }

    #[test]
    fn shared_binds_coexist_but_a_foreign_listener_is_detected() {
        let first = bind_shared("127.0.0.1:0".parse().unwrap(), 16, false).unwrap();
        let addr = first.local_addr().unwrap();
        let _second = bind_shared(addr, 16, false).unwrap();
        assert!(ensure_free(addr).is_err());
        drop((first, _second));
        ensure_free(addr).unwrap();
    }
}
