//! HAProxy-syntax configuration: lexer → sections with line spans → validated model.
//!
//! Every error reads `parsing [FILE:LINE] : message` and all of them are collected, not
//! only the first, so one run of `ringlb -c` shows everything to fix.

pub mod acl;
pub mod address;
pub mod balance;
pub mod bind;
pub mod compat;
pub mod cookie;
pub mod credentials;
pub mod draft;
pub mod error;
pub mod errorpage;
pub mod global;
pub mod http_rules;
pub mod httpcheck;
pub mod keywords;
pub mod lexer;
pub mod log;
pub mod logfields;
pub mod logformat;
pub mod model;
pub mod options;
pub mod parser;
pub mod proxy;
pub mod server;
pub mod stats;
pub mod suggest;
pub mod tcp_rules;
pub mod tcpcheck;
pub mod template;
pub mod units;
pub mod userlist;
pub mod validate;
pub mod vrrp;

pub use error::{ConfigError, ConfigErrors, Warning};
pub use model::*;
pub use parser::{load_bytes, load_files, load_sources, Loaded};

#[cfg(test)]
mod compat_tests;
#[cfg(test)]
mod tests;
