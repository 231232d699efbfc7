//! The admin socket (`stats socket`): HAProxy's runtime API on the control thread.

pub mod command;
pub mod errors;
pub mod execute;
pub mod server;
