//! What the two planes share: the `Snapshot` (control writes, shards read) and the counters
//! (shards write, control reads), plus the log records shards hand to the logger and the captures of rejected messages.

pub mod capture;
pub mod counters;
pub mod hashing;
pub mod hashtable;
pub mod latency;
pub mod log;
pub mod proxyproto;
pub mod snapshot;

pub use capture::{CaptureReceiver, CaptureSender, CapturedError, ErrorCaptures, Side};
pub use counters::{CounterSet, ShardCounters};
pub use hashtable::HashTable;
pub use latency::{LatencyDelta, LatencyTotals, ShardLatencies};
pub use log::{LogEvent, LogRecord, Timers};
pub use snapshot::{BackendShared, BackendView, ServerState, ServerStatus, Snapshot};
