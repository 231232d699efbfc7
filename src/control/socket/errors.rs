//! `show errors`: the captures of rejected requests and responses, in HAProxy 2.6's words
//! (`cli_io_handler_show_errors` in its proxy.c, `dump_text_line` in its tools.c).

use std::fmt::Write as _;
use std::time::SystemTime;

use chrono::{DateTime, Local};

use crate::config::Config;
use crate::state::{CapturedError, ErrorCaptures, Side};

use super::command::ErrorSide;

/// HAProxy's date format for captures, local time to the millisecond.
fn date(when: SystemTime) -> String {
    DateTime::<Local>::from(when)
        .format("%d/%b/%Y:%H:%M:%S%.3f")
        .to_string()
}

/// The whole reply to `show errors [<iid>] [request|response]` (`iid` -1 for all proxies) at
/// `now`, proxies in `config`'s order, each its request capture first.
pub fn show_errors(
    captures: &ErrorCaptures,
    config: &Config,
    iid: i32,
    side: ErrorSide,
    now: SystemTime,
) -> String {
    let mut out = format!(
        "Total events captured on [{}] : {}\n",
        date(now),
        captures.total()
    );
    let sides: &[Side] = match side {
        ErrorSide::Both => &[Side::Request, Side::Response],
        ErrorSide::Request => &[Side::Request],
        ErrorSide::Response => &[Side::Response],
    };
    for proxy in &config.proxies {
        for &side in sides {
            let Some(capture) = captures.last(&proxy.name, side) else {
                continue;
            };
            let other = capture.other.and_then(|id| capture.config.proxies.get(id));
            // As HAProxy: a proxy's number picks its own captures and those it is the
            // other end of.
            if iid >= 0
                && i64::from(proxy.uuid) != i64::from(iid)
                && other.is_none_or(|o| i64::from(o.uuid) != i64::from(iid))
            {
                continue;
            }
            let (other_name, other_uuid) = match other {
                // A request's other end is named only once it is a backend.
                Some(o) if side == Side::Response || o.is_backend() => {
                    (o.name.as_str(), i64::from(o.uuid))
                }
                _ => ("<NONE>", -1),
            };
            let _ = write!(out, " \n[{}]", date(capture.when));
            let _ = match side {
                Side::Request => write!(
                    out,
                    " frontend {} (#{}): invalid request\n  backend {other_name} (#{other_uuid})",
                    proxy.name, proxy.uuid
                ),
                Side::Response => write!(
                    out,
                    " backend {} (#{}): invalid response\n  frontend {other_name} (#{other_uuid})",
                    proxy.name, proxy.uuid
                ),
            };
            describe(&mut out, capture);
            dump(&mut out, &capture.bytes);
        }
    }
    out
}

/// The lines between the title and the dump.
fn describe(out: &mut String, capture: &CapturedError) {
    let server = capture.server.and_then(|s| {
        capture
            .config
            .proxies
            .get(capture.proxy)
            .and_then(|p| p.servers.get(s))
    });
    let (server_name, server_id) =
        server.map_or(("<NONE>", -1), |s| (s.name.as_str(), i64::from(s.puid)));
    let bufsize = capture.config.global.bufsize;
    let len = capture.bytes.len();
    // The head is read into one linear buffer from its start: nothing was sent out of it
    // yet, and it "wraps" only at its end.
    let _ = write!(
        out,
        ", server {server_name} (#{server_id}), event #{}, src {}:{}\n  \
         buffer starts at 0 (including 0 out), {} free,\n  \
         len {len}, wraps at {bufsize}, error at position {}\n  \
         H1 chunk len 0 bytes, H1 body len 0 bytes :\n  \n",
        capture.event,
        capture.client.ip(),
        capture.client.port(),
        bufsize.saturating_sub(len),
        capture.error_at,
    );
}

/// Width of a dump line, newline included, as HAProxy's `dump_text_line`.
const LINE: usize = 80;

/// `bytes` as HAProxy dumps a capture: a line per input line (cut at 80 columns, the
/// continuation marked `+`), each led by its offset; printable ASCII as is, `\t \n \r \e \\`
/// escaped, any other byte as `\xHH`.
pub fn dump(out: &mut String, bytes: &[u8]) {
    let mut ptr = 0;
    let mut line_start = 0;
    while ptr < bytes.len() {
        let mut line = format!("  {ptr:05}{} ", if ptr == line_start { ' ' } else { '+' });
        while let Some(&c) = bytes.get(ptr) {
            let escaped = match c {
                b'\t' => Some('t'),
                b'\n' => Some('n'),
                b'\r' => Some('r'),
                0x1b => Some('e'),
                b'\\' => Some('\\'),
                _ => None,
            };
            // Each form is written only while it leaves room for the newline.
            if let Some(e) = escaped {
                if line.len() > LINE - 3 {
                    break;
                }
                line.push('\\');
                line.push(e);
            } else if (b' '..=b'~').contains(&c) {
                if line.len() > LINE - 2 {
                    break;
                }
                line.push(char::from(c));
            } else {
                if line.len() > LINE - 5 {
                    break;
                }
                let _ = write!(line, "\\x{c:02x}");
            }
            ptr += 1;
            if c == b'\n' {
                line_start = ptr;
                break;
            }
        }
        line.push('\n');
        out.push_str(&line);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::state::capture::channel;

    fn dumped(bytes: &[u8]) -> String {
        let mut out = String::new();
        dump(&mut out, bytes);
        out
    }

    #[test]
    fn dump_matches_haproxy() {
        // HAProxy 2.6.12's dump of the same bytes (`show errors`).
        assert_eq!(
            dumped(b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n"),
            "  00000  GET /\\x01 HTTP/1.1\\r\\n\n  00017  Host: x\\r\\n\n  00026  \\r\\n\n"
        );
        assert_eq!(
            dumped(b"HTTP/1.1 200 OK\r\nBad Header\r\nContent-Length: 0\r\n\r\n"),
            "  00000  HTTP/1.1 200 OK\\r\\n\n  00017  Bad Header\\r\\n\n  \
             00029  Content-Length: 0\\r\\n\n  00048  \\r\\n\n"
        );
    }

    #[test]
    fn dump_escapes_and_wraps_as_haproxy() {
        assert_eq!(
            dumped(b"a\\b\tc\x1b\x7f\xff\x00"),
            "  00000  a\\\\b\\tc\\e\\x7f\\xff\\x00\n"
        );
        // No newline at the end: the line is closed anyway.
        assert_eq!(dumped(b"GET"), "  00000  GET\n");
        // 80 columns: 9 for the offset, 70 bytes, the newline; then a continuation.
        let long = [b'a'; 100];
        let text = dumped(&long);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], format!("  00000  {}", "a".repeat(70)));
        assert_eq!(lines[1], format!("  00070+ {}", "a".repeat(30)));
        // A `\xHH` that does not fit moves whole to the next line.
        let mut mixed = vec![b'a'; 68];
        mixed.push(0x01);
        let text = dumped(&mixed);
        assert_eq!(
            text,
            format!("  00000  {}\n  00068+ \\x01\n", "a".repeat(68))
        );
        // Offsets count bytes, not printed characters.
        assert_eq!(dumped(b"\r\n\r\n"), "  00000  \\r\\n\n  00002  \\r\\n\n");
    }

    fn config() -> Arc<Config> {
        let text = "global\n stats socket /tmp/x.sock level admin\n\
                    frontend fe\n bind 127.0.0.1:8080\n default_backend be\n\
                    backend be\n server s1 127.0.0.1:80\n";
        Arc::new(
            crate::config::load_sources(&[("t".into(), text.into())])
                .unwrap()
                .config,
        )
    }

    #[test]
    fn show_errors_as_haproxy() {
        let config = config();
        let (tx, rx) = channel(8);
        let mut captures = ErrorCaptures::new(rx);
        let when = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_697);
        let request = b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        tx.send(CapturedError {
            config: Arc::clone(&config),
            proxy: 0,
            side: Side::Request,
            other: None,
            server: None,
            when,
            client: "127.0.0.1:36006".parse().unwrap(),
            event: 0,
            error_at: 5,
            bytes: request,
        });
        let response = b"HTTP/1.1 200 OK\r\nBad Header\r\nContent-Length: 0\r\n\r\n".to_vec();
        tx.send(CapturedError {
            config: Arc::clone(&config),
            proxy: 1,
            side: Side::Response,
            other: Some(0),
            server: Some(0),
            when,
            client: "127.0.0.1:36022".parse().unwrap(),
            event: 0,
            error_at: 20,
            bytes: response,
        });
        captures.collect();
        let d = date(when);
        // HAProxy 2.6.12's reply for the same events, with its two lines of H1 flags left
        // out and `wraps at` the whole buffer (see the README).
        let expected = format!(
            "Total events captured on [{d}] : 2\n \n\
             [{d}] frontend fe (#2): invalid request\n\
             \x20 backend <NONE> (#-1), server <NONE> (#-1), event #0, src 127.0.0.1:36006\n\
             \x20 buffer starts at 0 (including 0 out), 16356 free,\n\
             \x20 len 28, wraps at 16384, error at position 5\n\
             \x20 H1 chunk len 0 bytes, H1 body len 0 bytes :\n\
             \x20 \n\
             \x20 00000  GET /\\x01 HTTP/1.1\\r\\n\n\
             \x20 00017  Host: x\\r\\n\n\
             \x20 00026  \\r\\n\n \n\
             [{d}] backend be (#3): invalid response\n\
             \x20 frontend fe (#2), server s1 (#1), event #1, src 127.0.0.1:36022\n\
             \x20 buffer starts at 0 (including 0 out), 16334 free,\n\
             \x20 len 50, wraps at 16384, error at position 20\n\
             \x20 H1 chunk len 0 bytes, H1 body len 0 bytes :\n\
             \x20 \n\
             \x20 00000  HTTP/1.1 200 OK\\r\\n\n\
             \x20 00017  Bad Header\\r\\n\n\
             \x20 00029  Content-Length: 0\\r\\n\n\
             \x20 00048  \\r\\n\n"
        );
        assert_eq!(
            show_errors(&captures, &config, -1, ErrorSide::Both, when),
            expected
        );
        // Filters: by side, and by a proxy's number (its own and those it is the other end of).
        let requests = show_errors(&captures, &config, -1, ErrorSide::Request, when);
        assert!(requests.contains("invalid request") && !requests.contains("invalid response"));
        let responses = show_errors(&captures, &config, -1, ErrorSide::Response, when);
        assert!(!responses.contains("invalid request") && responses.contains("invalid response"));
        let fe = show_errors(&captures, &config, 2, ErrorSide::Both, when);
        assert!(fe.contains("invalid request") && fe.contains("invalid response"));
        let be = show_errors(&captures, &config, 3, ErrorSide::Both, when);
        assert!(!be.contains("invalid request") && be.contains("invalid response"));
        assert_eq!(
            show_errors(&captures, &config, 9, ErrorSide::Both, when),
            format!("Total events captured on [{d}] : 2\n")
        );
    }
}
