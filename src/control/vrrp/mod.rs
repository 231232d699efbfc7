//! VRRP (RFC 5798, v2 and v3) on the control thread: the floating virtual IP of a two-node
//! setup, interoperable with keepalived. `packet` and `machine` are pure (wire format and the
//! state machine of §6.4); `net`, `address` and `arp` talk to the kernel.

pub mod address;
pub mod arp;
pub mod machine;
pub mod net;
pub mod packet;
pub mod runner;
