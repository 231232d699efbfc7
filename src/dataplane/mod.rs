//! The request path, run by each shard on its own thread and io_uring: accept, HTTP/1.1
//! sessions, balancing, upstream connections and pools, and `mode tcp` relays.
//!
//! Nothing here locks or blocks, and nothing here knows about the control thread: shards meet
//! it only through `state` (snapshots in, counters and log records out).

pub mod accept;
pub mod balance;
pub mod body;
pub mod credentials;
pub mod deadline;
pub mod error;
pub mod exchange;
pub mod hashkey;
pub mod head;
pub mod http1;
pub mod inspect;
pub mod io;
pub mod listener;
pub mod persist;
pub mod pool;
pub mod private;
pub mod proxyhdr;
pub mod response;
pub mod rewrite;
pub mod rules;
pub mod session;
pub mod shard;
pub mod switching;
pub mod tunnel;
pub mod upstream;

pub use accept::{accept_loop, housekeeping, listen_addresses};
pub use shard::{Shard, ShardSetup};
