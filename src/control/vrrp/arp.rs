//! Gratuitous ARP for a virtual IP, as keepalived sends it: an Ethernet broadcast ARP
//! request whose sender and target protocol addresses are both the VIP, the interface's MAC
//! as sender hardware address and ff:ff:ff:ff:ff:ff as target hardware address, written
//! whole through an AF_PACKET socket. Neighbours (and the switch) then map the VIP to the
//! new master's MAC without waiting for their ARP cache entries to expire.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use thiserror::Error;

use super::address::{self, AddressError};

/// The length of a gratuitous ARP frame: Ethernet header (14) and ARP for IPv4 (28).
pub const FRAME_LEN: usize = 42;

/// The broadcast hardware address.
const BROADCAST: [u8; 6] = [0xff; 6];

/// What went wrong sending a gratuitous ARP.
#[derive(Debug, Error)]
pub enum ArpError {
    /// The interface does not exist.
    #[error(transparent)]
    Interface(#[from] AddressError),
    /// A socket call failed.
    #[error("gratuitous ARP on {interface}: {what}: {source}")]
    Io {
        /// The interface.
        interface: String,
        /// The step that failed.
        what: &'static str,
        /// The system's error.
        source: io::Error,
    },
    /// The interface has no Ethernet address (loopback, a tunnel).
    #[error("gratuitous ARP on {0}: not an Ethernet interface")]
    NotEthernet(String),
}

/// The gratuitous ARP frame announcing that `address` is at `mac`.
pub fn frame(mac: [u8; 6], address: Ipv4Addr) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0..6].copy_from_slice(&BROADCAST);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&(libc::ETH_P_ARP as u16).to_be_bytes());
    f[14..16].copy_from_slice(&libc::ARPHRD_ETHER.to_be_bytes());
    f[16..18].copy_from_slice(&(libc::ETH_P_IP as u16).to_be_bytes());
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&libc::ARPOP_REQUEST.to_be_bytes());
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&address.octets());
    f[32..38].copy_from_slice(&BROADCAST);
    f[38..42].copy_from_slice(&address.octets());
    f
}

/// An AF_PACKET socket that sends gratuitous ARPs out of one interface.
#[derive(Debug)]
pub struct GarpSender {
    fd: OwnedFd,
    interface: String,
}

impl GarpSender {
    /// Opens the socket in the calling thread's network namespace (needs CAP_NET_RAW).
    pub fn open(interface: &str) -> Result<GarpSender, ArpError> {
        // Checked now so a typo fails at start rather than at the first transition.
        address::interface_index(interface)?;
        // Protocol 0: the socket only sends, so the kernel never queues frames on it.
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        if fd < 0 {
            return Err(ArpError::Io {
                interface: interface.to_string(),
                what: "socket",
                source: io::Error::last_os_error(),
            });
        }
        Ok(GarpSender {
            // SAFETY: `fd` is a freshly opened descriptor nobody else owns.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            interface: interface.to_string(),
        })
    }

    /// The interface's name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Sends one gratuitous ARP for `address` with the interface's current MAC.
    pub fn send(&self, address: Ipv4Addr) -> Result<(), ArpError> {
        // Index and MAC read again each time: a bond failing over or an interface
        // recreated changes them.
        let ifindex = address::interface_index(&self.interface)?;
        let mac = hardware_address(&self.interface)?;
        let frame = frame(mac, address);
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        to.sll_family = libc::AF_PACKET as u16;
        to.sll_protocol = (libc::ETH_P_ARP as u16).to_be();
        to.sll_ifindex = ifindex as libc::c_int;
        to.sll_halen = 6;
        to.sll_addr[..6].copy_from_slice(&BROADCAST);
        // SAFETY: `frame` and `to` are live locals of the stated sizes during the call.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&to as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(ArpError::Io {
                interface: self.interface.clone(),
                what: "send",
                source: io::Error::last_os_error(),
            });
        }
        Ok(())
    }
}

/// Sends one gratuitous ARP for `address` on `interface` through a socket of its own.
pub fn send_gratuitous_arp(interface: &str, address: Ipv4Addr) -> Result<(), ArpError> {
    GarpSender::open(interface)?.send(address)
}

/// The Ethernet address of `interface` (SIOCGIFHWADDR).
pub fn hardware_address(interface: &str) -> Result<[u8; 6], ArpError> {
    let io_error = |what, source| ArpError::Io {
        interface: interface.to_string(),
        what,
        source,
    };
    // SAFETY: all-zero is a valid ifreq.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let name = interface.as_bytes();
    if name.len() >= req.ifr_name.len() {
        return Err(AddressError::NoInterface(interface.to_string()).into());
    }
    for (dst, &src) in req.ifr_name.iter_mut().zip(name) {
        *dst = src as libc::c_char;
    }
    // Any socket answers the ioctl; a datagram one needs no privilege.
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io_error("socket", io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a freshly opened descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: SIOCGIFHWADDR reads ifr_name and writes ifr_hwaddr inside `req`, which lives
    // for the whole call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return Err(if e.raw_os_error() == Some(libc::ENODEV) {
            AddressError::NoInterface(interface.to_string()).into()
        } else {
            io_error("SIOCGIFHWADDR", e)
        });
    }
    // SAFETY: after a successful SIOCGIFHWADDR the union holds ifru_hwaddr.
    let hw = unsafe { req.ifr_ifru.ifru_hwaddr };
    if hw.sa_family != libc::ARPHRD_ETHER {
        return Err(ArpError::NotEthernet(interface.to_string()));
    }
    let mut mac = [0u8; 6];
    for (dst, &src) in mac.iter_mut().zip(hw.sa_data.iter()) {
        *dst = src as u8;
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_matches_keepalived_layout() {
        let mac = [0x02, 0, 0, 0, 0, 0x01];
        let f = frame(mac, Ipv4Addr::new(10, 99, 0, 100));
        let expected: [u8; FRAME_LEN] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // broadcast
            0x02, 0, 0, 0, 0, 0x01, // our MAC
            0x08, 0x06, // ARP
            0x00, 0x01, 0x08, 0x00, 6, 4, // Ethernet, IPv4, lengths
            0x00, 0x01, // request
            0x02, 0, 0, 0, 0, 0x01, 10, 99, 0, 100, // sender: our MAC, the VIP
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 10, 99, 0, 100, // target: broadcast, the VIP
        ];
        assert_eq!(f, expected);
    }

    #[test]
    fn loopback_is_not_ethernet_and_unknown_interfaces_are_named() {
        assert!(matches!(
            hardware_address("lo"),
            Err(ArpError::NotEthernet(_))
        ));
        assert!(matches!(
            hardware_address("rlb-nonexistent"),
            Err(ArpError::Interface(AddressError::NoInterface(_)))
        ));
        assert!(hardware_address("a-name-much-too-long-for-linux").is_err());
    }
}
