//! Shared helpers for ringlb's fuzz targets.

pub mod llhttp;

/// `bytes` as a Rust byte-string literal body (printable ASCII kept, the rest escaped), for
/// panic messages that are readable in a crash report.
pub fn escape(bytes: &[u8]) -> String {
    bytes
        .iter()
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect()
}
