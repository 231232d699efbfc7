//! The virtual IPs on an interface: IPv4 addresses added, removed and listed through
//! rtnetlink (RTM_NEWADDR, RTM_DELADDR, an RTM_GETADDR dump) with hand-built messages, so no
//! netlink crate (they pull in tokio) and no `ip` child process.
//!
//! The netlink socket is blocking with a one-second receive timeout: the kernel handles an
//! address request inside `sendmsg` and queues its answer before returning, so the `recv`
//! that follows finds it at once; the timeout only bounds a kernel that never answers.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};

use thiserror::Error;

/// What went wrong adding, removing or listing an address.
#[derive(Debug, Error)]
pub enum AddressError {
    /// The interface does not exist (in this network namespace).
    #[error("interface {0}: no such interface")]
    NoInterface(String),
    /// A prefix length above 32.
    #[error("prefix length {0} is out of range (0..=32)")]
    BadPrefix(u8),
    /// The netlink socket failed.
    #[error("netlink {what}: {source}")]
    Socket {
        /// The step that failed.
        what: &'static str,
        /// The system's error.
        source: io::Error,
    },
    /// The kernel refused the request.
    #[error("{what} {address}/{prefix} on {interface}: {source}")]
    Refused {
        /// The request (`add` or `remove`).
        what: &'static str,
        /// The address.
        address: Ipv4Addr,
        /// Its prefix length.
        prefix: u8,
        /// The interface.
        interface: String,
        /// The kernel's error.
        source: io::Error,
    },
    /// The kernel's answer could not be read.
    #[error("malformed netlink answer: {0}")]
    Malformed(&'static str),
}

/// Whether a request changed the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The address was added or removed.
    Changed,
    /// The address was already there (add) or already gone (remove).
    Unchanged,
}

/// One IPv4 address of an interface, as the kernel lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterfaceAddress {
    /// The local address.
    pub address: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// Whether the kernel marks it secondary (another address of the same subnet came first).
    pub secondary: bool,
}

/// The index of interface `name` in the calling thread's network namespace.
pub fn interface_index(name: &str) -> Result<u32, AddressError> {
    let c_name =
        std::ffi::CString::new(name).map_err(|_| AddressError::NoInterface(name.to_string()))?;
    // SAFETY: `c_name` is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    if index == 0 {
        return Err(AddressError::NoInterface(name.to_string()));
    }
    Ok(index)
}

/// Adds `address/prefix` to `interface`; an address already there is success (`Unchanged`).
pub fn add_address(
    interface: &str,
    address: Ipv4Addr,
    prefix: u8,
) -> Result<Outcome, AddressError> {
    change(interface, address, prefix, true)
}

/// Removes `address/prefix` from `interface`; an address already gone is `Unchanged`.
pub fn remove_address(
    interface: &str,
    address: Ipv4Addr,
    prefix: u8,
) -> Result<Outcome, AddressError> {
    change(interface, address, prefix, false)
}

/// Whether `interface` holds `address` (with any prefix length).
pub fn has_address(interface: &str, address: Ipv4Addr) -> Result<bool, AddressError> {
    Ok(addresses(interface)?.iter().any(|a| a.address == address))
}

/// Every IPv4 address of `interface`, in the kernel's order (the primary address first).
pub fn addresses(interface: &str) -> Result<Vec<InterfaceAddress>, AddressError> {
    let index = interface_index(interface)?;
    let socket = Netlink::open()?;
    let seq = next_seq();
    let body = ifaddrmsg(0, index);
    socket.send(&message(
        libc::RTM_GETADDR,
        (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16,
        seq,
        &body,
    ))?;
    let mut found = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = socket.recv(&mut buf)?;
        for msg in Messages::new(&buf[..n]) {
            let (kind, msg_seq, payload) = msg?;
            if msg_seq != seq {
                continue;
            }
            match kind {
                NLMSG_DONE => return Ok(found),
                NLMSG_ERROR => {
                    let errno = error_code(payload)?;
                    if errno != 0 {
                        return Err(AddressError::Socket {
                            what: "address dump",
                            source: io::Error::from_raw_os_error(errno),
                        });
                    }
                }
                libc::RTM_NEWADDR => {
                    if let Some(a) = parse_address(payload, index)? {
                        found.push(a);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Sends RTM_NEWADDR or RTM_DELADDR and reads the kernel's acknowledgement.
fn change(
    interface: &str,
    address: Ipv4Addr,
    prefix: u8,
    add: bool,
) -> Result<Outcome, AddressError> {
    if prefix > 32 {
        return Err(AddressError::BadPrefix(prefix));
    }
    let index = interface_index(interface)?;
    let socket = Netlink::open()?;
    let seq = next_seq();
    let (kind, flags) = if add {
        (
            libc::RTM_NEWADDR,
            libc::NLM_F_REQUEST | libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL,
        )
    } else {
        (libc::RTM_DELADDR, libc::NLM_F_REQUEST | libc::NLM_F_ACK)
    };
    let mut body = ifaddrmsg(prefix, index);
    push_attr(&mut body, libc::IFA_LOCAL, &address.octets());
    push_attr(&mut body, libc::IFA_ADDRESS, &address.octets());
    socket.send(&message(kind, flags as u16, seq, &body))?;
    let mut buf = vec![0u8; 8192];
    loop {
        let n = socket.recv(&mut buf)?;
        for msg in Messages::new(&buf[..n]) {
            let (kind, msg_seq, payload) = msg?;
            if msg_seq != seq || kind != NLMSG_ERROR {
                continue;
            }
            return match error_code(payload)? {
                0 => Ok(Outcome::Changed),
                libc::EEXIST if add => Ok(Outcome::Unchanged),
                libc::EADDRNOTAVAIL if !add => Ok(Outcome::Unchanged),
                errno => Err(AddressError::Refused {
                    what: if add { "add" } else { "remove" },
                    address,
                    prefix,
                    interface: interface.to_string(),
                    source: io::Error::from_raw_os_error(errno),
                }),
            };
        }
    }
}

/// A sequence number per request, so an answer is matched to its question.
fn next_seq() -> u32 {
    static SEQ: AtomicU32 = AtomicU32::new(1);
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// Length of `struct nlmsghdr`.
const NLMSG_HDRLEN: usize = 16;
/// The kernel's answer to a request (an errno, 0 for an acknowledgement); libc types it
/// `c_int`, the header field is `u16`.
const NLMSG_ERROR: u16 = 2;
/// The end of a dump.
const NLMSG_DONE: u16 = 3;

/// Rounds up to netlink's 4-byte alignment.
fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// A `struct ifaddrmsg` for IPv4, universe scope.
fn ifaddrmsg(prefix: u8, index: u32) -> Vec<u8> {
    let mut body = vec![libc::AF_INET as u8, prefix, 0, libc::RT_SCOPE_UNIVERSE];
    body.extend_from_slice(&index.to_ne_bytes());
    body
}

/// Appends one `struct rtattr` with its payload, padded.
fn push_attr(body: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    body.extend_from_slice(&(len as u16).to_ne_bytes());
    body.extend_from_slice(&kind.to_ne_bytes());
    body.extend_from_slice(payload);
    body.resize(align(body.len()), 0);
}

/// A whole netlink message: header then body.
fn message(kind: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + body.len();
    let mut msg = Vec::with_capacity(align(len));
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&kind.to_ne_bytes());
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(body);
    msg.resize(align(len), 0);
    msg
}

/// The errno of an NLMSG_ERROR payload (0 for an acknowledgement), made positive.
fn error_code(payload: &[u8]) -> Result<i32, AddressError> {
    let bytes = payload
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .ok_or(AddressError::Malformed("short error message"))?;
    Ok(i32::from_ne_bytes(bytes).saturating_neg())
}

/// The IPv4 address an RTM_NEWADDR payload describes, if it is on interface `index`.
fn parse_address(payload: &[u8], index: u32) -> Result<Option<InterfaceAddress>, AddressError> {
    let head = payload
        .get(..8)
        .ok_or(AddressError::Malformed("short ifaddrmsg"))?;
    let family = head[0];
    let prefix = head[1];
    let flags = head[2];
    let if_index = u32::from_ne_bytes([head[4], head[5], head[6], head[7]]);
    if i32::from(family) != libc::AF_INET || if_index != index {
        return Ok(None);
    }
    let mut local = None;
    let mut addr = None;
    let mut rest = &payload[8..];
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let kind = u16::from_ne_bytes([rest[2], rest[3]]);
        if len < 4 || len > rest.len() {
            return Err(AddressError::Malformed("attribute length"));
        }
        let value = <[u8; 4]>::try_from(&rest[4..len]).ok().map(Ipv4Addr::from);
        match kind {
            libc::IFA_LOCAL => local = value,
            libc::IFA_ADDRESS => addr = value,
            _ => {}
        }
        rest = rest.get(align(len)..).unwrap_or(&[]);
    }
    // On point-to-point links IFA_ADDRESS is the peer's; IFA_LOCAL is ours.
    Ok(local.or(addr).map(|address| InterfaceAddress {
        address,
        prefix,
        secondary: u32::from(flags) & libc::IFA_F_SECONDARY != 0,
    }))
}

/// The messages of one netlink datagram: (type, sequence, payload).
struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Messages<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Messages { rest: buf }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<(u16, u32, &'a [u8]), AddressError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.len() < NLMSG_HDRLEN {
            return None;
        }
        let h = self.rest;
        let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
        if len < NLMSG_HDRLEN || len > h.len() {
            self.rest = &[];
            return Some(Err(AddressError::Malformed("message length")));
        }
        let kind = u16::from_ne_bytes([h[4], h[5]]);
        let seq = u32::from_ne_bytes([h[8], h[9], h[10], h[11]]);
        let payload = &h[NLMSG_HDRLEN..len];
        self.rest = h.get(align(len)..).unwrap_or(&[]);
        Some(Ok((kind, seq, payload)))
    }
}

/// A NETLINK_ROUTE socket, closed on drop.
struct Netlink {
    fd: OwnedFd,
}

impl Netlink {
    fn open() -> Result<Netlink, AddressError> {
        let fail = |what| move |source| AddressError::Socket { what, source };
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(fail("socket")(io::Error::last_os_error()));
        }
        // SAFETY: `fd` is a freshly opened descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let timeout = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        // SAFETY: the option value points to a live timeval of the stated size.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(fail("SO_RCVTIMEO")(io::Error::last_os_error()));
        }
        Ok(Netlink { fd })
    }

    fn send(&self, msg: &[u8]) -> Result<(), AddressError> {
        // SAFETY: all-zero is a valid sockaddr_nl; nl_pid 0 addresses the kernel.
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `msg` and `kernel` are valid for the stated lengths during the call.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&kernel as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(AddressError::Socket {
                what: "send",
                source: io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    fn recv(&self, buf: &mut [u8]) -> Result<usize, AddressError> {
        loop {
            // SAFETY: `buf` is writable for its whole length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(AddressError::Socket {
                    what: "receive",
                    source: e,
                });
            }
            let n = n as usize;
            if n > buf.len() {
                return Err(AddressError::Malformed("answer larger than the buffer"));
            }
            return Ok(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_address_message_is_laid_out_as_the_kernel_expects() {
        let mut body = ifaddrmsg(24, 7);
        push_attr(&mut body, libc::IFA_LOCAL, &[10, 99, 0, 100]);
        let msg = message(libc::RTM_NEWADDR, 0x0605, 42, &body);
        assert_eq!(msg.len(), 16 + 8 + 8);
        assert_eq!(u32::from_ne_bytes([msg[0], msg[1], msg[2], msg[3]]), 32);
        assert_eq!(u16::from_ne_bytes([msg[4], msg[5]]), libc::RTM_NEWADDR);
        assert_eq!(u32::from_ne_bytes([msg[8], msg[9], msg[10], msg[11]]), 42);
        assert_eq!(&msg[16..20], &[libc::AF_INET as u8, 24, 0, 0]);
        assert_eq!(u32::from_ne_bytes([msg[20], msg[21], msg[22], msg[23]]), 7);
        assert_eq!(u16::from_ne_bytes([msg[24], msg[25]]), 8);
        assert_eq!(&msg[28..32], &[10, 99, 0, 100]);
    }

    #[test]
    fn attributes_are_padded_to_four_bytes() {
        let mut body = Vec::new();
        push_attr(&mut body, libc::IFA_LABEL, b"eth0\0");
        assert_eq!(body.len(), 12);
        assert_eq!(u16::from_ne_bytes([body[0], body[1]]), 9);
    }

    #[test]
    fn error_codes_come_back_positive() {
        assert_eq!(error_code(&(-17i32).to_ne_bytes()).ok(), Some(libc::EEXIST));
        assert_eq!(error_code(&0i32.to_ne_bytes()).ok(), Some(0));
        assert!(error_code(&[0, 0]).is_err());
    }

    #[test]
    fn address_dump_entries_parse_and_filter_by_interface() {
        let mut body = ifaddrmsg(24, 3);
        body[2] = libc::IFA_F_SECONDARY as u8;
        push_attr(&mut body, libc::IFA_ADDRESS, &[10, 0, 0, 9]);
        push_attr(&mut body, libc::IFA_LOCAL, &[10, 0, 0, 1]);
        push_attr(&mut body, libc::IFA_LABEL, b"veth0\0");
        let parsed = parse_address(&body, 3).ok().flatten();
        assert_eq!(
            parsed,
            Some(InterfaceAddress {
                address: Ipv4Addr::new(10, 0, 0, 1),
                prefix: 24,
                secondary: true
            })
        );
        assert_eq!(parse_address(&body, 4).ok().flatten(), None);
        let mut broken = ifaddrmsg(24, 3);
        broken.extend_from_slice(&[200, 0, 1, 0]);
        assert!(parse_address(&broken, 3).is_err());
    }

    #[test]
    fn messages_split_a_datagram_and_reject_bad_lengths() {
        let mut buf = message(NLMSG_ERROR, 0, 5, &0i32.to_ne_bytes());
        buf.extend(message(NLMSG_DONE, 0, 5, &[]));
        let kinds: Vec<u16> = Messages::new(&buf)
            .filter_map(Result::ok)
            .map(|(k, _, _)| k)
            .collect();
        assert_eq!(kinds, vec![NLMSG_ERROR, NLMSG_DONE]);
        let mut bad = message(NLMSG_DONE, 0, 5, &[]);
        bad[0] = 200;
        assert!(matches!(Messages::new(&bad).next(), Some(Err(_))));
    }

    #[test]
    fn out_of_range_prefix_is_refused_before_any_syscall() {
        assert!(matches!(
            add_address("lo", Ipv4Addr::LOCALHOST, 33),
            Err(AddressError::BadPrefix(33))
        ));
    }
}
