//! A small HTTP/1.1 client for tests: raw bytes out, framed responses in.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// One response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// The head as received.
    pub head: String,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value (first match, case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A connection that reads responses in order.
pub struct Conn {
    /// The buffered reading side.
    pub reader: BufReader<TcpStream>,
    /// The writing side.
    pub writer: TcpStream,
}

impl Conn {
    /// Connects to `port` on loopback.
    pub fn open(port: u16) -> Conn {
        let stream = super::harness::connect(port);
        Conn {
            reader: BufReader::with_capacity(1 << 20, stream.try_clone().expect("clone")),
            writer: stream,
        }
    }

    /// Connects to `port` on loopback, or says why not.
    pub fn try_open(port: u16) -> io::Result<Conn> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true).ok();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .ok();
        Ok(Conn {
            reader: BufReader::with_capacity(1 << 20, stream.try_clone()?),
            writer: stream,
        })
    }

    /// Sends raw bytes, or says why not.
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("send");
    }

    /// Sends a GET for `path` (HTTP/1.1, keep-alive).
    pub fn get(&mut self, path: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.response(false).expect("response")
    }

    /// Reads one response (`head_request`: the request was HEAD, so no body).
    pub fn response(&mut self, head_request: bool) -> io::Result<Response> {
        read_response(&mut self.reader, head_request)
    }

    /// Whether the server closed the connection (reads EOF or a reset within a second).
    pub fn is_closed(&mut self) -> bool {
        self.writer
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .ok();
        let mut byte = [0u8; 1];
        matches!(self.reader.read(&mut byte), Ok(0) | Err(_))
    }
}

/// GET `path` on a new connection.
pub fn get(port: u16, path: &str) -> Response {
    Conn::open(port).get(path)
}

/// Reads one response from `reader`.
pub fn read_response(
    reader: &mut BufReader<TcpStream>,
    head_request: bool,
) -> io::Result<Response> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(io::ErrorKind::InvalidData)?;
    let mut response = Response {
        status,
        head,
        body: Vec::new(),
    };
    if head_request || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(response);
    }
    if response
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n =
                usize::from_str_radix(size.trim(), 16).map_err(|_| io::ErrorKind::InvalidData)?;
            if n == 0 {
                let mut end = String::new();
                reader.read_line(&mut end)?;
                if end != "\r\n" {
                    return Err(io::ErrorKind::InvalidData.into());
                }
                break;
            }
            let start = response.body.len();
            response.body.resize(start + n, 0);
            reader.read_exact(&mut response.body[start..])?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else if let Some(len) = response.header("content-length") {
        let n: usize = len.parse().map_err(|_| io::ErrorKind::InvalidData)?;
        response.body.resize(n, 0);
        reader.read_exact(&mut response.body)?;
    } else {
        reader.read_to_end(&mut response.body)?;
    }
    Ok(response)
}
