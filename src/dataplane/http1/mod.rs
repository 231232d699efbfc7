//! HTTP/1.x on the wire: head parsing (httparse), body framing, and heads going out.

pub mod chunked;
pub mod errpos;
pub mod headers;
pub mod message;
pub mod outgoing;
pub mod scan;

pub use chunked::{ChunkError, ChunkedTracker};
pub use headers::Spans;
pub use message::{
    parse_request, parse_response, parse_response_head, BodyKind, Method, RequestError,
    RequestFramer, RequestHead, ResponseError, ResponseHead,
};
pub use outgoing::Outgoing;

#[cfg(test)]
mod robustness;
