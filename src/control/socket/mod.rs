//! The admin socket (`stats socket`): HAProxy's runtime API on the control thread.

pub mod command;
pub mod execute;
pub mod server;
