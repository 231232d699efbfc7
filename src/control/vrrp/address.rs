//! VRRP: address (to be written).
