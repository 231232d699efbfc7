//! HAProxy-syntax configuration: lexer → sections with line spans → validated model.
//!
//! Every error reads `parsing [FILE:LINE] : message` and all of them are collected, not
//! only the first, so one run of `ringlb -c` shows everything to fix.

pub mod acl;
pub mod address;
pub mod balance;
pub mod draft;
pub mod error;
pub mod errorpage;
pub mod global;
pub mod httpcheck;
pub mod lexer;
pub mod log;
pub mod model;
pub mod options;
pub mod parser;
pub mod proxy;
pub mod server;
pub mod stats;
pub mod tcpcheck;
pub mod units;
pub mod userlist;
pub mod validate;
pub mod vrrp;

pub use error::{ConfigError, ConfigErrors, Warning};
pub use model::*;
pub use parser::{load_files, load_sources, Loaded};

#[cfg(test)]
mod tests;
