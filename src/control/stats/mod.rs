//! The stats page of `stats enable` proxies, served by the control thread: who may see it
//! (`auth`) and what it shows.

pub mod auth;
pub mod build;
pub mod page;
pub mod rows;
pub mod server;
