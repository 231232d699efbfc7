//! The stats page as HTML.
