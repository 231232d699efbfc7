//! Rendering what the counters and records say: log lines (and, later, the stats page).

pub mod httplog;
pub mod logformat;
