//! VRRP: machine (to be written).
