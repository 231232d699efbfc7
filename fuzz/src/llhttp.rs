//! The few parts of llhttp 9.2.1 (Node.js's HTTP/1 parser) that `differential_request` uses.
//!
//! The C code comes from libgit2-sys's bundled build (see fuzz/Cargo.toml); the declarations
//! below mirror `libgit2/deps/llhttp/llhttp.h` of libgit2-sys 0.18.8+1.9.7 (llhttp 9.2.1).
//! Every parser is created with llhttp's defaults: strict, no lenient flags.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_void, CStr};

// Make sure libgit2-sys (and with it the static library holding llhttp) is linked.
use libgit2_sys as _;

/// `struct llhttp__internal_s` of llhttp 9.2.1.
#[repr(C)]
struct llhttp_t {
    _index: i32,
    _span_pos0: *mut c_void,
    _span_cb0: *mut c_void,
    error: i32,
    reason: *const c_char,
    error_pos: *const c_char,
    data: *mut c_void,
    _current: *mut c_void,
    content_length: u64,
    kind: u8,
    method: u8,
    http_major: u8,
    http_minor: u8,
    header_state: u8,
    lenient_flags: u16,
    upgrade: u8,
    finish: u8,
    flags: u16,
    status_code: u16,
    initial_message_completed: u8,
    settings: *mut c_void,
}

type llhttp_data_cb = Option<unsafe extern "C" fn(*mut llhttp_t, *const c_char, usize) -> c_int>;
type llhttp_cb = Option<unsafe extern "C" fn(*mut llhttp_t) -> c_int>;

/// `struct llhttp_settings_s` of llhttp 9.2.1.
#[repr(C)]
#[derive(Default)]
struct llhttp_settings_t {
    on_message_begin: llhttp_cb,
    on_url: llhttp_data_cb,
    on_status: llhttp_data_cb,
    on_method: llhttp_data_cb,
    on_version: llhttp_data_cb,
    on_header_field: llhttp_data_cb,
    on_header_value: llhttp_data_cb,
    on_chunk_extension_name: llhttp_data_cb,
    on_chunk_extension_value: llhttp_data_cb,
    on_headers_complete: llhttp_cb,
    on_body: llhttp_data_cb,
    on_message_complete: llhttp_cb,
    on_url_complete: llhttp_cb,
    on_status_complete: llhttp_cb,
    on_method_complete: llhttp_cb,
    on_version_complete: llhttp_cb,
    on_header_field_complete: llhttp_cb,
    on_header_value_complete: llhttp_cb,
    on_chunk_extension_name_complete: llhttp_cb,
    on_chunk_extension_value_complete: llhttp_cb,
    on_chunk_header: llhttp_cb,
    on_chunk_complete: llhttp_cb,
    on_reset: llhttp_cb,
}

extern "C" {
    fn llhttp_init(parser: *mut llhttp_t, kind: c_int, settings: *const llhttp_settings_t);
    fn llhttp_execute(parser: *mut llhttp_t, data: *const c_char, len: usize) -> c_int;
    fn llhttp_resume(parser: *mut llhttp_t);
    fn llhttp_get_error_pos(parser: *const llhttp_t) -> *const c_char;
    fn llhttp_get_error_reason(parser: *const llhttp_t) -> *const c_char;
    fn llhttp_errno_name(err: c_int) -> *const c_char;
    fn llhttp_get_method(parser: *mut llhttp_t) -> u8;
    fn llhttp_get_http_major(parser: *mut llhttp_t) -> u8;
    fn llhttp_get_http_minor(parser: *mut llhttp_t) -> u8;
}

const HTTP_REQUEST: c_int = 1;
const HPE_OK: c_int = 0;
const HPE_PAUSED: c_int = 21;
const HPE_PAUSED_UPGRADE: c_int = 22;

/// `HPE_INVALID_METHOD`: llhttp only knows a fixed list of method names.
pub const HPE_INVALID_METHOD: i32 = 6;
/// `HPE_INVALID_URL`: the request-target is none of llhttp's URL forms.
pub const HPE_INVALID_URL: i32 = 7;
/// `HPE_UNEXPECTED_CONTENT_LENGTH`: also raised for duplicate (even identical) Content-Length.
pub const HPE_UNEXPECTED_CONTENT_LENGTH: i32 = 4;

const F_CHUNKED: u16 = 0x8;
const F_CONTENT_LENGTH: u16 = 0x20;

/// llhttp method codes for the methods ringlb names.
pub mod method {
    /// DELETE.
    pub const DELETE: u8 = 0;
    /// GET.
    pub const GET: u8 = 1;
    /// HEAD.
    pub const HEAD: u8 = 2;
    /// POST.
    pub const POST: u8 = 3;
    /// PUT.
    pub const PUT: u8 = 4;
    /// CONNECT.
    pub const CONNECT: u8 = 5;
    /// OPTIONS.
    pub const OPTIONS: u8 = 6;
    /// TRACE.
    pub const TRACE: u8 = 7;
}

/// Which callback paused the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    None,
    HeadersComplete,
    MessageComplete,
}

struct Shared {
    event: Event,
}

unsafe extern "C" fn on_headers_complete(p: *mut llhttp_t) -> c_int {
    // SAFETY: `data` points to the `Shared` owned by the `Request` driving this parser.
    unsafe { (*((*p).data as *mut Shared)).event = Event::HeadersComplete };
    HPE_PAUSED
}

unsafe extern "C" fn on_message_complete(p: *mut llhttp_t) -> c_int {
    // SAFETY: as above.
    unsafe { (*((*p).data as *mut Shared)).event = Event::MessageComplete };
    HPE_PAUSED
}

/// How llhttp frames a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (no Content-Length, or Content-Length: 0).
    None,
    /// Content-Length N, N > 0.
    Length(u64),
    /// Chunked.
    Chunked,
}

/// What llhttp made of a request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Bytes up to and including the blank line.
    pub len: usize,
    /// llhttp's method code.
    pub method: u8,
    /// HTTP major version.
    pub major: u8,
    /// HTTP minor version.
    pub minor: u8,
    /// Body framing.
    pub framing: Framing,
}

/// Where parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The message ended after this many bytes (of everything fed since the start).
    Complete(usize),
    /// All bytes were consumed and the message is not over.
    NeedMore,
    /// llhttp refused the input at this offset.
    Error {
        /// The `llhttp_errno` value.
        errno: i32,
        /// Its name, e.g. `HPE_CR_EXPECTED`.
        name: String,
        /// llhttp's reason text.
        reason: String,
        /// Offset of the offending byte.
        at: usize,
    },
}

/// A strict llhttp request parser, driven one message at a time.
pub struct Request {
    // Boxed: llhttp keeps pointers to the settings and (through `data`) to `shared`.
    parser: Box<llhttp_t>,
    _settings: Box<llhttp_settings_t>,
    shared: Box<Shared>,
}

impl Default for Request {
    fn default() -> Self {
        Self::new()
    }
}

impl Request {
    /// A parser at the start of a request, with llhttp's default (strict) settings.
    pub fn new() -> Self {
        let settings = Box::new(llhttp_settings_t {
            on_headers_complete: Some(on_headers_complete),
            on_message_complete: Some(on_message_complete),
            ..Default::default()
        });
        // SAFETY: an all-zero llhttp_t is a valid argument for llhttp_init, which sets every
        // field it uses.
        let mut parser: Box<llhttp_t> = Box::new(unsafe { std::mem::zeroed() });
        let mut shared = Box::new(Shared { event: Event::None });
        // SAFETY: both pointers stay valid (boxed) for the parser's lifetime.
        unsafe { llhttp_init(&mut *parser, HTTP_REQUEST, &*settings) };
        parser.data = (&mut *shared as *mut Shared).cast();
        Self {
            parser,
            _settings: settings,
            shared,
        }
    }

    /// Feeds `data`; returns the event that paused the parser (if any) and the offset in `data`
    /// where it did, or the error.
    fn run(&mut self, data: &[u8]) -> Result<Option<(Event, usize)>, Stop> {
        self.shared.event = Event::None;
        let p: *mut llhttp_t = &mut *self.parser;
        // SAFETY: `data` is valid for `len` bytes for the duration of the call; llhttp does not
        // keep the pointer past it (only error_pos, read right below).
        let err = unsafe { llhttp_execute(p, data.as_ptr().cast(), data.len()) };
        let offset = || {
            // SAFETY: after a pause or error, error_pos points into `data` (or one past it).
            let pos = unsafe { llhttp_get_error_pos(p) };
            let off = (pos as usize).wrapping_sub(data.as_ptr() as usize);
            assert!(off <= data.len(), "llhttp error_pos outside the input");
            off
        };
        match err {
            HPE_OK => Ok(None),
            HPE_PAUSED => {
                let at = offset();
                // SAFETY: the parser is paused; resuming only clears the error.
                unsafe { llhttp_resume(p) };
                Ok(Some((self.shared.event, at)))
            }
            HPE_PAUSED_UPGRADE => Ok(Some((Event::MessageComplete, offset()))),
            errno => {
                // SAFETY: llhttp returns static NUL-terminated strings for both.
                let name = unsafe { CStr::from_ptr(llhttp_errno_name(errno)) };
                let reason = unsafe { llhttp_get_error_reason(p) };
                let reason = if reason.is_null() {
                    String::new()
                } else {
                    unsafe { CStr::from_ptr(reason) }
                        .to_string_lossy()
                        .into_owned()
                };
                Err(Stop::Error {
                    errno,
                    name: name.to_string_lossy().into_owned(),
                    reason,
                    at: offset(),
                })
            }
        }
    }

    /// Parses the head at the start of `data`. `Ok(None)`: all of `data` was consumed and the
    /// head is not over. On success the parser is positioned right after the head: pass the
    /// rest of the bytes to `finish`.
    pub fn head(&mut self, data: &[u8]) -> Result<Option<Head>, Stop> {
        let len = match self.run(data)? {
            None => return Ok(None),
            Some((Event::HeadersComplete, at)) => at,
            Some((event, at)) => panic!("llhttp paused on {event:?} at {at} before the head ended"),
        };
        let parser = &mut *self.parser;
        let flags = parser.flags;
        let framing = if flags & F_CHUNKED != 0 {
            Framing::Chunked
        } else if flags & F_CONTENT_LENGTH != 0 && parser.content_length > 0 {
            Framing::Length(parser.content_length)
        } else {
            // A request Transfer-Encoding without chunked last is refused once parsing resumes
            // (HPE_INVALID_TRANSFER_ENCODING): `finish` reports it.
            Framing::None
        };
        let p: *mut llhttp_t = parser;
        // Cross-check the struct layout declared above against llhttp's own accessors.
        // SAFETY: `p` is a live, initialized parser.
        let (method, major, minor) = unsafe {
            (
                llhttp_get_method(p),
                llhttp_get_http_major(p),
                llhttp_get_http_minor(p),
            )
        };
        assert_eq!(
            (method, major, minor),
            (parser.method, parser.http_major, parser.http_minor),
            "llhttp_t layout mismatch: the declarations in src/llhttp.rs are stale"
        );
        Ok(Some(Head {
            len,
            method,
            major,
            minor,
            framing,
        }))
    }

    /// Continues after `head` with the bytes that follow it: where does the message end?
    /// Offsets in the result are relative to `rest`.
    pub fn finish(&mut self, rest: &[u8]) -> Stop {
        match self.run(rest) {
            Ok(None) => Stop::NeedMore,
            Ok(Some((Event::MessageComplete, at))) => Stop::Complete(at),
            Ok(Some((event, at))) => panic!("llhttp paused on {event:?} at {at} inside a body"),
            Err(stop) => stop,
        }
    }
}
