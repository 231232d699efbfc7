//! End-to-end tests: the real `ringlb` binary, real sockets on free loopback ports, real
//! backend servers. Everything a test starts is stopped when the test's values drop.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod backend;
mod client;
mod haproxy;
mod harness;
mod netns;
mod persistence;
mod raw;
mod reload;

mod admin_socket;
mod balancing;
mod cli;
mod counters;
mod failures;
mod fixtures;
mod haproxy_cfg;
mod hardening;
mod hashing;
mod health;
mod http;
mod logformat;
mod logging;
mod private_conns;
mod proxy_protocol;
mod resources;
mod rewrite;
mod runtime;
mod show_errors;
mod stats;
mod stop;
mod switching;
mod tcp;
mod tcp_request;
mod tcpcheck;
mod vrrp;
mod vrrp_net;
