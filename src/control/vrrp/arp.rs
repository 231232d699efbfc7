//! VRRP: arp (to be written).
