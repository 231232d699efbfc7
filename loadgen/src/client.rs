//! The HTTP/1.1 client: request encoding, connections and one request/response exchange.

use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use crate::args::Header;
use crate::parser::{Progress, ResponseParser, MAX_HEAD};
use crate::stats::ErrorKind;

/// Initial capacity of a connection's read buffer.
const READ_BUF: usize = 16 * 1024;

/// Encodes a complete request (head and optional body) once, to be sent as is for every request.
pub fn encode_request(
    method: &str,
    path: &str,
    authority: &str,
    headers: &[Header],
    body: Option<&[u8]>,
    keepalive: bool,
) -> Bytes {
    let has = |name: &str| headers.iter().any(|h| h.name.eq_ignore_ascii_case(name));
    let mut out = Vec::with_capacity(128 + body.map_or(0, <[u8]>::len));
    out.extend_from_slice(format!("{method} {path} HTTP/1.1\r\n").as_bytes());
    if !has("host") {
        out.extend_from_slice(format!("Host: {authority}\r\n").as_bytes());
    }
    for h in headers {
        out.extend_from_slice(format!("{}: {}\r\n", h.name, h.value).as_bytes());
    }
    if let Some(b) = body {
        if !has("content-length") {
            out.extend_from_slice(format!("Content-Length: {}\r\n", b.len()).as_bytes());
        }
    }
    if !keepalive && !has("connection") {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if let Some(b) = body {
        out.extend_from_slice(b);
    }
    Bytes::from(out)
}

/// Classifies a read error.
fn read_error(e: &io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => ErrorKind::Reset,
        _ => ErrorKind::Read,
    }
}

/// Classifies a write error.
fn write_error(e: &io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => ErrorKind::Reset,
        _ => ErrorKind::Write,
    }
}

/// A completed response.
#[derive(Debug, Clone, Copy)]
pub struct Response {
    /// Final status code.
    pub status: u16,
    /// The server asked to close (or the body was close-delimited): do not reuse the connection.
    pub close: bool,
}

/// One keep-alive connection with its reusable read buffer.
pub struct Conn {
    /// The socket.
    stream: TcpStream,
    /// Received bytes; `buf[pos..]` are not consumed yet.
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    pos: usize,
}

impl Conn {
    /// Connects to `addr` with TCP_NODELAY set.
    pub async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect_addr(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(READ_BUF),
            pos: 0,
        })
    }

    /// Sends `req` and reads the complete response; `rx` counts the bytes received.
    ///
    /// After an error (or if this future is dropped, e.g. on timeout) the connection must be closed.
    pub async fn exchange(
        &mut self,
        req: &Bytes,
        head: bool,
        rx: &mut u64,
    ) -> Result<Response, ErrorKind> {
        let (res, _) = self.stream.write_all(req.clone()).await;
        if let Err(e) = res {
            return Err(write_error(&e));
        }
        let mut parser = ResponseParser::new(head);
        loop {
            if self.pos < self.buf.len() {
                match parser.feed(&self.buf[self.pos..]) {
                    Ok(Progress::Done(n)) => {
                        self.pos += n;
                        return Ok(Response {
                            status: parser.status(),
                            close: parser.must_close(),
                        });
                    }
                    Ok(Progress::NeedMore(n)) => self.pos += n,
                    Err(_) => return Err(ErrorKind::Parse),
                }
            }
            self.make_room()?;
            let buf = std::mem::take(&mut self.buf);
            let len = buf.len();
            let (res, slice) = self.stream.read(buf.slice_mut(len..)).await;
            self.buf = slice.into_inner();
            match res {
                Ok(0) => {
                    return match parser.eof() {
                        Ok(()) => Ok(Response {
                            status: parser.status(),
                            close: true,
                        }),
                        Err(_) => Err(ErrorKind::Read),
                    }
                }
                Ok(n) => *rx += n as u64,
                Err(e) => return Err(read_error(&e)),
            }
        }
    }

    /// Drops consumed bytes and makes sure there is spare capacity to read into.
    fn make_room(&mut self) -> Result<(), ErrorKind> {
        if self.pos >= self.buf.len() {
            self.buf.clear();
        } else if self.pos > 0 {
            self.buf.copy_within(self.pos.., 0);
            self.buf.truncate(self.buf.len() - self.pos);
        }
        self.pos = 0;
        if self.buf.capacity() == 0 {
            self.buf.reserve(READ_BUF);
        } else if self.buf.len() == self.buf.capacity() {
            if self.buf.len() > MAX_HEAD {
                return Err(ErrorKind::Parse);
            }
            self.buf.reserve(self.buf.capacity());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_request_once() {
        let hs = vec![Header {
            name: "X-A".into(),
            value: "1".into(),
        }];
        let r = encode_request("POST", "/p", "h:8", &hs, Some(b"abc"), true);
        assert_eq!(
            &r[..],
            b"POST /p HTTP/1.1\r\nHost: h:8\r\nX-A: 1\r\nContent-Length: 3\r\n\r\nabc"
        );
        let r = encode_request("GET", "/", "h", &[], None, false);
        assert_eq!(
            &r[..],
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        );
        let host = vec![Header {
            name: "host".into(),
            value: "other".into(),
        }];
        let r = encode_request("GET", "/", "h", &host, None, true);
        assert_eq!(&r[..], b"GET / HTTP/1.1\r\nhost: other\r\n\r\n");
    }
}
