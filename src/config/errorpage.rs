//! Error responses: HAProxy-style built-ins, replaced per code by `errorfile CODE PATH`.
//!
//! An errorfile is a complete HTTP response (status line, headers, body) sent byte-for-byte.
//! It is read and checked at load time so a bad file stops the configuration, not a request.

use std::collections::BTreeMap;

use bytes::Bytes;

/// The status codes `errorfile` accepts (HAProxy's list).
pub const ERROR_CODES: [u16; 17] = [
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504,
];

/// The error responses of one proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPages {
    pages: BTreeMap<u16, Bytes>,
}

impl Default for ErrorPages {
    fn default() -> Self {
        let pages = ERROR_CODES
            .iter()
            .map(|&code| (code, builtin(code)))
            .collect();
        Self { pages }
    }
}

impl ErrorPages {
    /// The response for `code`: the errorfile's bytes when one was given, else a built-in page.
    pub fn get(&self, code: u16) -> Bytes {
        self.pages
            .get(&code)
            .cloned()
            .unwrap_or_else(|| builtin(code))
    }

    /// Replaces the response for `code` with an errorfile's bytes.
    pub fn set(&mut self, code: u16, response: Bytes) {
        self.pages.insert(code, response);
    }
}

/// Checks that `content` is a complete HTTP response fit to serve as an errorfile.
pub fn validate_errorfile(content: &[u8], bufsize: usize) -> Result<(), String> {
    if content.len() > bufsize {
        return Err(format!(
            "is {} bytes, more than the buffer size ({bufsize} bytes)",
            content.len()
        ));
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(content) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Err(
            "is not a complete HTTP response (the header block does not end with an empty line)"
                .into(),
        ),
        Err(e) => return Err(format!("is not a valid HTTP response ({e})")),
    };
    let body_len = content.len() - head_len;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let declared = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or("has an invalid Content-Length header")?;
            if declared != body_len {
                return Err(format!(
                    "declares Content-Length {declared} but its body is {body_len} bytes"
                ));
            }
        }
    }
    Ok(())
}

/// The reason phrase HAProxy writes for `code` (its `http_get_reason`).
pub fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested range unsatisfiable",
        417 => "Expectation failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Entity",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => match code / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            _ => "Server Error",
        },
    }
}

fn builtin(code: u16) -> Bytes {
    let (reason, text) = match code {
        200 => ("OK", "Service ready."),
        400 => ("Bad request", "Your browser sent an invalid request."),
        401 => ("Unauthorized", "You need a valid user and password to access this content."),
        403 => ("Forbidden", "Request forbidden by administrative rules."),
        404 => ("Not Found", "The resource could not be found."),
        405 => ("Method Not Allowed", "A request was made of a resource using a request method not supported by that resource"),
        407 => ("Unauthorized", "You need a valid user and password to access this content."),
        408 => ("Request Time-out", "Your browser didn't send a complete request in time."),
        410 => ("Gone", "The resource is no longer available and will not be available again."),
        413 => ("Payload Too Large", "The request entity exceeds the maximum allowed."),
        425 => ("Too Early", "Your browser sent early data."),
        429 => ("Too Many Requests", "You have sent too many requests in a given amount of time."),
        500 => ("Internal Server Error", "An internal server error occurred."),
        501 => ("Not Implemented", "The server does not support the functionality required to fulfill the request."),
        502 => ("Bad Gateway", "The server returned an invalid or incomplete response."),
        503 => ("Service Unavailable", "No server is available to handle this request."),
        504 => ("Gateway Time-out", "The server didn't respond in time."),
        _ => ("Error", "An error occurred."),
    };
    let body = format!("<html><body><h1>{code} {reason}</h1>\n{text}\n</body></html>\n");
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\ncontent-length: {}\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n",
        body.len()
    );
    Bytes::from(head + &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_valid_responses() {
        let pages = ErrorPages::default();
        for code in ERROR_CODES {
            let page = pages.get(code);
            validate_errorfile(&page, 16384).unwrap();
            assert!(page.starts_with(format!("HTTP/1.1 {code} ").as_bytes()));
        }
    }

    #[test]
    fn bad_errorfiles_are_rejected() {
        assert!(validate_errorfile(b"HTTP/1.0 503 x\r\n", 16384).is_err());
        assert!(validate_errorfile(b"<html>oops</html>", 16384).is_err());
        assert!(
            validate_errorfile(b"HTTP/1.0 503 x\r\nContent-Length: 9\r\n\r\nabc", 16384).is_err()
        );
        assert!(validate_errorfile(b"HTTP/1.0 503 x\r\n\r\nbody", 8).is_err());
        validate_errorfile(b"HTTP/1.0 503 x\r\nContent-Length: 3\r\n\r\nabc", 16384).unwrap();
    }
}
