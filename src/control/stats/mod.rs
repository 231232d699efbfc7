//! The stats page of `stats enable` proxies, served by the control thread: who may see it
//! (`auth`) and what it shows.

pub mod auth;
pub mod build;
pub mod html;
pub mod json;
pub mod page;
pub mod prometheus;
pub mod rows;
pub mod server;
