//! The stats as Prometheus text.
