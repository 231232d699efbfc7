//! ringlb: a thread-per-core io_uring load balancer that reads HAProxy configurations.
//!
//! Floors, from the ground up: `config` (the validated model) and `state` (what the planes
//! share) at the bottom; `dataplane` (shards) and `control` (the control thread) beside each
//! other and never importing each other; `observe` renders what counters say; `runtime`
//! composes everything.

pub mod config;
pub mod control;
pub mod dataplane;
pub mod observe;
pub mod runtime;
pub mod state;
