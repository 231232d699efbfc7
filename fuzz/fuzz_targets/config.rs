//! `load_sources` on arbitrary text (bytes read as lossy UTF-8) never panics, and what it
//! returns can be displayed.
//!
//! Two side effects of loading are kept out of the fuzzer's reach so runs stay fast, hermetic
//! and deterministic (neither is a parsing concern):
//! - host names: `getaddrinfo` is replaced below by a stub that resolves nothing (literal IP
//!   addresses never reach it: ringlb and std parse those first), so `server`, `bind` and
//!   `log` lines with names fail with "could not resolve" instead of querying DNS;
//! - `errorfile` reads the named file: inputs naming a file outside tests/fixtures/errors/ are
//!   skipped (a fuzzer would otherwise find /dev/zero or /dev/stdin). The scripts run the
//!   targets from the repository root, where those fixtures exist.
#![no_main]

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use ringlb::config::{lexer::tokenize, load_sources};

/// `EAI_NONAME` in glibc.
const EAI_NONAME: c_int = -2;

/// Interposes libc's resolver for this binary: no name resolves.
///
/// # Safety
/// Never dereferences its arguments.
#[no_mangle]
pub unsafe extern "C" fn getaddrinfo(
    _node: *const c_char,
    _service: *const c_char,
    _hints: *const c_void,
    _res: *mut *mut c_void,
) -> c_int {
    EAI_NONAME
}

fn reads_only_fixtures(text: &str) -> bool {
    let file: Arc<str> = Arc::from("fuzz.cfg");
    let (lines, _) = tokenize(&file, text);
    lines.iter().all(|line| {
        line.word(0) != "errorfile" || {
            let path = line.word(2);
            path.starts_with("tests/fixtures/errors/") && !path.contains("..")
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    if !reads_only_fixtures(&text) {
        return;
    }
    match load_sources(&[("fuzz.cfg".to_string(), text)]) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                let _ = warning.to_string();
            }
            let _ = format!("{:?}", loaded.config);
        }
        Err(errors) => {
            assert!(!errors.0.is_empty(), "Err with no error");
            let _ = errors.to_string();
        }
    }
});
