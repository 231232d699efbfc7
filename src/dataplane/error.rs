//! The ways a transaction can fail, and what each one means: the status the client gets (if
//! a response has not started), the termination state logged, and the counter to bump.

use super::http1::RequestError;
use crate::state::counters::{ProxyCounters, ServerCounters};

/// What the transaction was doing (HAProxy's second termination-state letter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for or reading the request head.
    Request,
    /// Waiting for a free server slot.
    Queue,
    /// Connecting to the server.
    Connect,
    /// Waiting for the response head.
    Headers,
    /// Transferring a body.
    Data,
}

impl Phase {
    fn letter(self) -> u8 {
        match self {
            Phase::Request => b'R',
            Phase::Queue => b'Q',
            Phase::Connect => b'C',
            Phase::Headers => b'H',
            Phase::Data => b'D',
        }
    }
}

/// Why a transaction ended abnormally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The request head is invalid.
    #[error("bad request: {0}")]
    BadRequest(RequestError),
    /// The request head does not fit in a buffer.
    #[error("request head too large")]
    RequestTooLarge,
    /// The request head did not arrive in time.
    #[error("request timeout")]
    RequestTimeout,
    /// The request body is malformed (chunked framing).
    #[error("malformed request body")]
    BadRequestBody,
    /// The client closed or reset the connection.
    #[error("client aborted")]
    ClientAborted(Phase),
    /// The client stopped sending or reading for longer than `timeout client`.
    #[error("client timeout")]
    ClientTimeout(Phase),
    /// The frontend has no backend to send requests to.
    #[error("no backend")]
    NoBackend,
    /// No server is usable.
    #[error("no server available")]
    NoServer,
    /// Every usable server stayed at its `maxconn` for `timeout queue`.
    #[error("queue timeout")]
    QueueTimeout,
    /// The last connection attempt was refused or failed.
    #[error("connection to server failed")]
    ConnectFailed,
    /// The last connection attempt timed out.
    #[error("connection to server timed out")]
    ConnectTimeout,
    /// The server did not answer or send in time.
    #[error("server timeout")]
    ServerTimeout(Phase),
    /// The server closed or reset the connection.
    #[error("server aborted")]
    ServerAborted(Phase),
    /// The response head is invalid or too large.
    #[error("bad response")]
    BadResponse,
    /// The response body framing is invalid.
    #[error("bad response body")]
    BadResponseBody,
    /// An `Expect` other than 100-continue.
    #[error("unsupported expectation")]
    Expectation,
    /// An `http-request` (or, `response`, `http-response`) rewrite could not be made.
    #[error("header rewrite failed")]
    RewriteFailed {
        /// On the response.
        response: bool,
    },
}

impl ProxyError {
    /// The status to answer with, if no response has started yet; `None` = just close.
    pub fn status(&self) -> Option<u16> {
        match self {
            // RFC 9112 §6.1: a coding the recipient does not implement.
            ProxyError::BadRequest(RequestError::UnsupportedCoding) => Some(501),
            ProxyError::BadRequest(_)
            | ProxyError::RequestTooLarge
            | ProxyError::BadRequestBody => Some(400),
            ProxyError::RequestTimeout => Some(408),
            ProxyError::ClientAborted(_) | ProxyError::ClientTimeout(_) => None,
            ProxyError::NoBackend
            | ProxyError::NoServer
            | ProxyError::QueueTimeout
            | ProxyError::ConnectFailed
            | ProxyError::ConnectTimeout => Some(503),
            ProxyError::ServerTimeout(_) => Some(504),
            ProxyError::ServerAborted(_)
            | ProxyError::BadResponse
            | ProxyError::BadResponseBody => Some(502),
            ProxyError::Expectation => Some(417),
            // HAProxy's strict mode: a failed rewrite is the proxy's fault.
            ProxyError::RewriteFailed { response: false } => Some(500),
            ProxyError::RewriteFailed { response: true } => Some(502),
        }
    }

    /// HAProxy's two-letter termination state.
    pub fn termination(&self) -> [u8; 2] {
        let (who, phase) = match self {
            ProxyError::BadRequest(_) | ProxyError::RequestTooLarge | ProxyError::Expectation => {
                (b'P', Phase::Request)
            }
            ProxyError::RequestTimeout => (b'c', Phase::Request),
            ProxyError::BadRequestBody => (b'P', Phase::Data),
            ProxyError::ClientAborted(p) => (b'C', *p),
            ProxyError::ClientTimeout(p) => (b'c', *p),
            ProxyError::NoBackend => (b'P', Phase::Request),
            ProxyError::NoServer | ProxyError::ConnectFailed => (b'S', Phase::Connect),
            ProxyError::QueueTimeout => (b's', Phase::Queue),
            ProxyError::ConnectTimeout => (b's', Phase::Connect),
            ProxyError::ServerTimeout(p) => (b's', *p),
            ProxyError::ServerAborted(p) => (b'S', *p),
            ProxyError::BadResponse => (b'P', Phase::Headers),
            ProxyError::BadResponseBody => (b'P', Phase::Data),
            ProxyError::RewriteFailed { response: false } => (b'P', Phase::Request),
            ProxyError::RewriteFailed { response: true } => (b'P', Phase::Headers),
        };
        [who, phase.letter()]
    }

    /// Whether the client is at fault (counted as a request error, not a server error).
    pub fn is_request_error(&self) -> bool {
        matches!(
            self,
            ProxyError::BadRequest(_)
                | ProxyError::RequestTooLarge
                | ProxyError::RequestTimeout
                | ProxyError::BadRequestBody
                | ProxyError::Expectation
        )
    }
}

/// Counts a transfer cut short, as HAProxy's `cli_abrt` and `srv_abrt`, from the two-letter
/// termination state: the client during the response (`CH`, `cH`, `CD`, `cD`), the server
/// during the data phase (`SD`, `sD`).
pub fn count_abort(termination: [u8; 2], server: &ServerCounters, backend: &ProxyCounters) {
    match termination {
        [b'C' | b'c', b'H' | b'D'] => {
            server.client_aborts.incr();
            backend.client_aborts.incr();
        }
        [b'S' | b's', b'D'] => {
            server.server_aborts.incr();
            backend.server_aborts.incr();
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aborts_are_counted_by_who_cut_the_transfer() {
        for (term, client, server) in [
            (*b"CD", 1, 0),
            (*b"cH", 1, 0),
            (*b"SD", 0, 1),
            (*b"sD", 0, 1),
            (*b"CR", 0, 0),
            (*b"SH", 0, 0),
            (*b"--", 0, 0),
        ] {
            let (s, b) = (ServerCounters::default(), ProxyCounters::default());
            count_abort(term, &s, &b);
            assert_eq!(
                (s.client_aborts.get(), s.server_aborts.get()),
                (client, server),
                "{}",
                String::from_utf8_lossy(&term)
            );
            assert_eq!(b.client_aborts.get(), client);
            assert_eq!(b.server_aborts.get(), server);
        }
    }

    #[test]
    fn statuses_and_terminations() {
        assert_eq!(ProxyError::RequestTimeout.status(), Some(408));
        assert_eq!(&ProxyError::RequestTimeout.termination(), b"cR");
        assert_eq!(
            ProxyError::ServerTimeout(Phase::Headers).status(),
            Some(504)
        );
        assert_eq!(
            &ProxyError::ServerTimeout(Phase::Headers).termination(),
            b"sH"
        );
        assert_eq!(ProxyError::ConnectFailed.status(), Some(503));
        assert_eq!(&ProxyError::ConnectFailed.termination(), b"SC");
        assert_eq!(ProxyError::ClientAborted(Phase::Data).status(), None);
        assert_eq!(ProxyError::BadResponse.status(), Some(502));
        assert_eq!(
            ProxyError::BadRequest(RequestError::UnsupportedCoding).status(),
            Some(501)
        );
        assert_eq!(
            ProxyError::BadRequest(RequestError::BareLf).status(),
            Some(400)
        );
    }
}
