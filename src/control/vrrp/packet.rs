//! VRRP: packet (to be written).
