//! VRRP's kernel-facing pieces (`net`, `address`, `arp`) inside network namespaces made by
//! the tests: addresses added and removed, adverts between two namespaces, gratuitous ARP
//! seen on the wire.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use ringlb::control::vrrp::address::{self, AddressError, Outcome};
use ringlb::control::vrrp::arp;
use ringlb::control::vrrp::net::{self, AsyncVrrpSocket, SocketConfig, VrrpSocket, GROUP};

use crate::netns::Pair;

const VIP: Ipv4Addr = Ipv4Addr::new(10, 123, 0, 100);

fn config(interface: &str, peers: &[Ipv4Addr]) -> SocketConfig {
    SocketConfig {
        interface: interface.to_string(),
        unicast_src: None,
        unicast_peers: peers.to_vec(),
    }
}

/// Waits up to `within` for a packet on `socket`.
fn recv_within(socket: &VrrpSocket, within: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        if let Some(n) = socket.try_recv(&mut buf).expect("recv") {
            return Some(buf[..n].to_vec());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// Checks the IPv4 header of a received advert and returns its payload.
fn check_header(packet: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> &[u8] {
    assert_eq!(packet[0] >> 4, 4, "IPv4");
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    assert_eq!(packet[8], 255, "TTL");
    assert_eq!(packet[9], 112, "protocol");
    assert_eq!(
        Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]),
        src
    );
    assert_eq!(
        Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]),
        dst
    );
    &packet[ihl..]
}

#[test]
fn addresses_are_added_and_removed_idempotently() {
    let pair = Pair::new("ad");
    let shown = || pair.a.ip(&["-o", "-4", "addr", "show", "dev", "veth-a"]);
    pair.a.run(|| {
        assert_eq!(
            address::add_address("veth-a", VIP, 24).unwrap(),
            Outcome::Changed
        );
        assert_eq!(
            address::add_address("veth-a", VIP, 24).unwrap(),
            Outcome::Unchanged
        );
        assert!(address::has_address("veth-a", VIP).unwrap());
        let all = address::addresses("veth-a").unwrap();
        assert_eq!(all.len(), 2, "{all:?}");
        assert!(!all[0].secondary && all[1].secondary, "{all:?}");
        assert_eq!(net::primary_address("veth-a").unwrap(), Pair::A_ADDR);
    });
    assert!(shown().contains("10.123.0.100/24"), "{}", shown());
    pair.a.run(|| {
        assert_eq!(
            address::remove_address("veth-a", VIP, 24).unwrap(),
            Outcome::Changed
        );
        assert_eq!(
            address::remove_address("veth-a", VIP, 24).unwrap(),
            Outcome::Unchanged
        );
        assert!(!address::has_address("veth-a", VIP).unwrap());
        assert!(matches!(
            address::add_address("nope0", VIP, 24),
            Err(AddressError::NoInterface(_))
        ));
    });
    assert!(!shown().contains("10.123.0.100"), "{}", shown());
    assert!(shown().contains("10.123.0.1/24"), "{}", shown());
}

#[test]
fn multicast_advert_reaches_the_peer_and_not_the_sender() {
    let pair = Pair::new("mc");
    let a = pair
        .a
        .run(|| VrrpSocket::open(&config("veth-a", &[])))
        .unwrap();
    let b = pair
        .b
        .run(|| VrrpSocket::open(&config("veth-b", &[])))
        .unwrap();
    assert_eq!(a.source(), Pair::A_ADDR);
    assert!(!a.is_unicast());
    let advert = [0x21, 51, 100, 1, 0, 1, 0xaa, 0xbb, 10, 123, 0, 100];
    a.send_advert(&advert).unwrap();
    let packet = recv_within(&b, Duration::from_secs(2)).expect("b received the advert");
    assert_eq!(check_header(&packet, Pair::A_ADDR, GROUP), advert);
    assert!(
        recv_within(&a, Duration::from_millis(200)).is_none(),
        "the sender saw its own advert"
    );
}

#[test]
fn unicast_advert_wakes_an_async_receiver_on_monoio_legacy() {
    let pair = Pair::new("uc");
    let a = pair
        .a
        .run(|| VrrpSocket::open(&config("veth-a", &[Pair::B_ADDR])))
        .unwrap();
    let b = pair
        .b
        .run(|| VrrpSocket::open(&config("veth-b", &[Pair::A_ADDR])))
        .unwrap();
    assert!(a.is_unicast());
    assert_eq!(a.destinations(), [Pair::B_ADDR]);
    let mut runtime = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .unwrap();
    let packets = runtime.block_on(async move {
        let b = AsyncVrrpSocket::new(b).unwrap();
        // Sent only while the receiver waits, so each wake-up comes from epoll; three of
        // them, so the readiness left over from a drained read is seen to be stale.
        monoio::spawn(async move {
            for i in 0..3u8 {
                monoio::time::sleep(Duration::from_millis(50)).await;
                a.send_advert(&[0x31, 7, 200, 1, 0, 100, 0, i, 10, 123, 0, 100])
                    .unwrap();
            }
        });
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        for _ in 0..3 {
            let n = monoio::time::timeout(Duration::from_secs(2), b.recv(&mut buf))
                .await
                .expect("no advert within 2 s")
                .unwrap();
            got.push(buf[..n].to_vec());
        }
        got
    });
    for (i, packet) in packets.iter().enumerate() {
        let advert = check_header(packet, Pair::A_ADDR, Pair::B_ADDR);
        assert_eq!((advert[0], advert[1], advert[7]), (0x31, 7, i as u8));
    }
}

#[test]
fn gratuitous_arp_is_seen_by_the_peer() {
    let pair = Pair::new("ga");
    let capture = pair.b.run(|| capture_arp("veth-b"));
    let mac = pair.a.run(|| {
        let mac = arp::hardware_address("veth-a").unwrap();
        arp::send_gratuitous_arp("veth-a", VIP).unwrap();
        mac
    });
    let shown = pair.a.ip(&["-o", "link", "show", "veth-a"]);
    let hex: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    assert!(shown.contains(&hex.join(":")), "{shown}");
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 1514];
    loop {
        assert!(
            Instant::now() < deadline,
            "no gratuitous ARP for the VIP seen"
        );
        // SAFETY: `buf` is writable for its whole length.
        let n = unsafe { libc::recv(capture.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < arp::FRAME_LEN as isize {
            continue;
        }
        // The kernel's own ARP traffic (if any) is about the link addresses, not the VIP.
        if buf[28..32] == VIP.octets() {
            assert_eq!(buf[..arp::FRAME_LEN], arp::frame(mac, VIP));
            return;
        }
    }
}

/// An AF_PACKET socket receiving every ARP frame on `interface`, with a short timeout.
fn capture_arp(interface: &str) -> OwnedFd {
    let proto = (libc::ETH_P_ARP as u16).to_be();
    // SAFETY: plain socket(2); checked below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
    assert!(fd >= 0, "{}", std::io::Error::last_os_error());
    // SAFETY: a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: all-zero is a valid sockaddr_ll.
    let mut at: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    at.sll_family = libc::AF_PACKET as u16;
    at.sll_protocol = proto;
    at.sll_ifindex = address::interface_index(interface).unwrap() as i32;
    // SAFETY: `at` is a live sockaddr_ll of the stated size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&at as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    let timeout = libc::timeval {
        tv_sec: 0,
        tv_usec: 200_000,
    };
    // SAFETY: the option value is a live timeval of the stated size.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    fd
}
