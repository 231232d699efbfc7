//! VRRP: net (to be written).
