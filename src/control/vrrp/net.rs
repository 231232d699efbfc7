//! The VRRP socket: a raw IPv4 socket for protocol 112 on one interface, sending adverts to
//! the group 224.0.0.18 (or to each unicast peer) with TTL 255 from the interface's primary
//! address, and receiving whole IPv4 packets (header included, as raw sockets deliver them).
//!
//! `VrrpSocket` is plain and non-blocking (`try_recv`), usable from any thread and from
//! tests. `AsyncVrrpSocket` adds an `async fn recv` for the control thread's monoio runtime:
//! monoio 0.2.4 has no public way to register a foreign descriptor, but its `UdpSocket` is a
//! thin owner of a datagram descriptor whose `readable(false)` is a pure readiness wait
//! (epoll plus a zero-timeout `poll` on the legacy driver, a PollAdd on io_uring) that never
//! reads. So a duplicate of the raw descriptor is handed to a monoio `UdpSocket` used only
//! for that wait, and every read and write goes through libc on the raw socket.

use std::io;
use std::mem::size_of;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
use thiserror::Error;

use super::address::{self, AddressError};

/// VRRP's IP protocol number.
pub const PROTO_VRRP: u8 = 112;

/// The VRRP multicast group for IPv4.
pub const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

/// The TTL every advert carries and every receiver demands (RFC 5798 §5.1.1.3).
pub const TTL: u8 = 255;

/// What went wrong opening or using the VRRP socket.
#[derive(Debug, Error)]
pub enum NetError {
    /// The interface or its addresses could not be read.
    #[error(transparent)]
    Interface(#[from] AddressError),
    /// The interface has no IPv4 address to send adverts from.
    #[error("interface {0} has no IPv4 address to send VRRP adverts from")]
    NoAddress(String),
    /// A socket call failed.
    #[error("VRRP socket on {interface}: {what}: {source}")]
    Io {
        /// The interface.
        interface: String,
        /// The step that failed.
        what: &'static str,
        /// The system's error.
        source: io::Error,
    },
    /// A received packet was longer than the buffer given to hold it.
    #[error("VRRP packet of {len} bytes does not fit a {capacity}-byte buffer")]
    Truncated {
        /// The packet's length.
        len: usize,
        /// The buffer's.
        capacity: usize,
    },
}

/// Where and how the socket sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketConfig {
    /// The interface (`interface` in the config).
    pub interface: String,
    /// The adverts' source (`unicast_src_ip`), else the interface's primary address.
    pub unicast_src: Option<Ipv4Addr>,
    /// The peers (`unicast_peer`): when any, adverts go to each instead of the group.
    pub unicast_peers: Vec<Ipv4Addr>,
}

/// A raw VRRP socket bound to one interface, non-blocking.
#[derive(Debug)]
pub struct VrrpSocket {
    socket: Socket,
    interface: String,
    ifindex: u32,
    source: Ipv4Addr,
    destinations: Vec<Ipv4Addr>,
    unicast: bool,
}

impl VrrpSocket {
    /// Opens the socket in the calling thread's network namespace (needs CAP_NET_RAW).
    pub fn open(config: &SocketConfig) -> Result<VrrpSocket, NetError> {
        let name = &config.interface;
        let ifindex = address::interface_index(name)?;
        let source = match config.unicast_src {
            Some(src) => src,
            None => primary_address(name)?,
        };
        let io = |what| {
            move |source| NetError::Io {
                interface: name.clone(),
                what,
                source,
            }
        };
        let socket = Socket::new(
            Domain::IPV4,
            Type::RAW.nonblocking().cloexec(),
            Some(Protocol::from(i32::from(PROTO_VRRP))),
        )
        .map_err(io("socket"))?;
        // Only this interface's adverts: another VRRP instance on another interface (or a
        // namespace sharing the host's loopback copies) is not ours to read.
        socket
            .bind_device(Some(name.as_bytes()))
            .map_err(io("SO_BINDTODEVICE"))?;
        socket.set_ttl_v4(u32::from(TTL)).map_err(io("IP_TTL"))?;
        socket
            .set_multicast_ttl_v4(u32::from(TTL))
            .map_err(io("IP_MULTICAST_TTL"))?;
        // Our own adverts looped back would look like a second master with our address.
        socket
            .set_multicast_loop_v4(false)
            .map_err(io("IP_MULTICAST_LOOP"))?;
        // Linux otherwise delivers every group any socket on the host joined.
        socket
            .set_multicast_all_v4(false)
            .map_err(io("IP_MULTICAST_ALL"))?;
        let destinations = if config.unicast_peers.is_empty() {
            socket
                .join_multicast_v4_n(&GROUP, &InterfaceIndexOrAddress::Index(ifindex))
                .map_err(io("IP_ADD_MEMBERSHIP 224.0.0.18"))?;
            vec![GROUP]
        } else {
            config.unicast_peers.clone()
        };
        Ok(VrrpSocket {
            socket,
            interface: name.clone(),
            ifindex,
            source,
            destinations,
            unicast: !config.unicast_peers.is_empty(),
        })
    }

    /// The interface's name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The interface's index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The source address of every advert (for VRRPv3's checksum and the tie-break too).
    pub fn source(&self) -> Ipv4Addr {
        self.source
    }

    /// Whether adverts go to unicast peers rather than the group.
    pub fn is_unicast(&self) -> bool {
        self.unicast
    }

    /// Where `send_advert` sends: the group, or every unicast peer.
    pub fn destinations(&self) -> &[Ipv4Addr] {
        &self.destinations
    }

    /// Sends one VRRP message (no IP header) to `dst`, from `source()` out of the interface.
    pub fn send(&self, payload: &[u8], dst: Ipv4Addr) -> Result<(), NetError> {
        send_from(
            self.socket.as_raw_fd(),
            payload,
            dst,
            self.source,
            self.ifindex,
        )
        .map_err(|source| NetError::Io {
            interface: self.interface.clone(),
            what: "send",
            source,
        })
    }

    /// Sends one advert to every destination; all are tried, the first error is returned.
    pub fn send_advert(&self, payload: &[u8]) -> Result<(), NetError> {
        let mut first_error = None;
        for &dst in &self.destinations {
            if let Err(e) = self.send(payload, dst) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Reads one packet (IPv4 header included) if one is waiting: `Ok(None)` when none is.
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<Option<usize>, NetError> {
        loop {
            // SAFETY: `buf` is writable for its whole length; MSG_TRUNC makes the kernel
            // return the packet's real length but still write at most `buf.len()` bytes.
            let n = unsafe {
                libc::recv(
                    self.socket.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            if n >= 0 {
                let len = n as usize;
                if len > buf.len() {
                    return Err(NetError::Truncated {
                        len,
                        capacity: buf.len(),
                    });
                }
                return Ok(Some(len));
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(None),
                _ => {
                    return Err(NetError::Io {
                        interface: self.interface.clone(),
                        what: "receive",
                        source: e,
                    })
                }
            }
        }
    }
}

impl AsRawFd for VrrpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// A `VrrpSocket` whose `recv` waits on the monoio runtime it was made on.
#[derive(Debug)]
pub struct AsyncVrrpSocket {
    socket: VrrpSocket,
    /// A duplicate of the raw descriptor, registered with the runtime, used only to wait
    /// for readability (see the module's comment).
    ready: monoio::net::udp::UdpSocket,
}

impl AsyncVrrpSocket {
    /// Registers `socket` with the current monoio runtime (panics outside one, as monoio does).
    pub fn new(socket: VrrpSocket) -> Result<AsyncVrrpSocket, NetError> {
        let interface = socket.interface.clone();
        let io = |what| {
            let interface = interface.clone();
            move |source| NetError::Io {
                interface,
                what,
                source,
            }
        };
        let dup = socket.socket.try_clone().map_err(io("dup"))?;
        let ready =
            monoio::net::udp::UdpSocket::from_std(std::net::UdpSocket::from(OwnedFd::from(dup)))
                .map_err(io("register with the runtime"))?;
        Ok(AsyncVrrpSocket { socket, ready })
    }

    /// The socket underneath (sending, addresses, `try_recv`).
    pub fn get_ref(&self) -> &VrrpSocket {
        &self.socket
    }

    /// Waits for the next packet and reads it (IPv4 header included).
    pub async fn recv(&self, buf: &mut [u8]) -> Result<usize, NetError> {
        loop {
            if let Some(n) = self.socket.try_recv(buf)? {
                return Ok(n);
            }
            // Not relaxed: the legacy driver then confirms with poll(2) before waking us,
            // so a stale readiness bit cannot spin this loop.
            self.ready
                .readable(false)
                .await
                .map_err(|source| NetError::Io {
                    interface: self.socket.interface.clone(),
                    what: "wait for readability",
                    source,
                })?;
        }
    }
}

/// The primary IPv4 address of `interface`: the first non-secondary one the kernel lists.
// A VIP of the same subnet is secondary; one of another subnet is listed after the original.
pub fn primary_address(interface: &str) -> Result<Ipv4Addr, NetError> {
    address::addresses(interface)?
        .into_iter()
        .find(|a| !a.secondary)
        .map(|a| a.address)
        .ok_or_else(|| NetError::NoAddress(interface.to_string()))
}

/// sendmsg(2) with an IP_PKTINFO control message: it sets the source address and the
/// outgoing interface per packet, where bind(2) would also filter what a raw socket
/// receives (the group's packets are not addressed to us).
fn send_from(
    fd: RawFd,
    payload: &[u8],
    dst: Ipv4Addr,
    source: Ipv4Addr,
    ifindex: u32,
) -> io::Result<()> {
    // SAFETY: all-zero is a valid sockaddr_in.
    let mut to: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    to.sin_family = libc::AF_INET as libc::sa_family_t;
    to.sin_addr.s_addr = u32::from_ne_bytes(dst.octets());
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    // u64s keep the buffer aligned for cmsghdr.
    let mut control = [0u64; 8];
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) } as usize;
    debug_assert!(space <= size_of::<[u64; 8]>());
    // SAFETY: all-zero is a valid msghdr.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut to as *mut libc::sockaddr_in).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    let info = libc::in_pktinfo {
        ipi_ifindex: ifindex as libc::c_int,
        ipi_spec_dst: libc::in_addr {
            s_addr: u32::from_ne_bytes(source.octets()),
        },
        ipi_addr: libc::in_addr { s_addr: 0 },
    };
    // SAFETY: msg_control points to `control`, large and aligned enough for one cmsghdr
    // with an in_pktinfo (checked above), so CMSG_FIRSTHDR is non-null and CMSG_DATA
    // points inside it; the data may be unaligned, hence write_unaligned.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() {
            return Err(io::Error::other("no room for IP_PKTINFO"));
        }
        (*cmsg).cmsg_level = libc::IPPROTO_IP;
        (*cmsg).cmsg_type = libc::IP_PKTINFO;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::in_pktinfo>(), info);
    }
    loop {
        // SAFETY: every pointer in `msg` refers to a live local for the call's duration.
        let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return if n as usize == payload.len() {
                Ok(())
            } else {
                Err(io::Error::other("short send"))
            };
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
