//! HAProxy's log-format strings, as the values of `http-request set-header` and friends take
//! them: literal text, `%[sample]` expressions and `%XX` variables, with `%{+Q}` quoting.
//! Parsed once at load; rendering appends to a caller's buffer.

use super::acl::{RequestView, SampleExpr};

/// A log-format variable (HAProxy's `%XX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatVar {
    /// `%ci`: the client's address.
    ClientIp,
    /// `%cp`: the client's port.
    ClientPort,
    /// `%fi`: the address the client connected to.
    FrontendIp,
    /// `%fp`: the port the client connected to.
    FrontendPort,
    /// `%f`, `%ft`: the frontend's name.
    Frontend,
    /// `%b`: the backend's name (the frontend's until one is chosen).
    Backend,
    /// `%pid`: the process id.
    Pid,
    /// `%Ts`: the Unix time in seconds.
    Seconds,
    /// `%ms`: the milliseconds of the second.
    Millis,
    /// `%ID`: the unique id (`unique-id-format`).
    UniqueId,
    /// `%rt`: the request counter.
    RequestCounter,
    /// `%s`: the server's name.
    Server,
    /// `%si`, `%sp`: the server's address and port.
    ServerIp,
    /// `%sp`.
    ServerPort,
    /// `%t`, `%tr`: the accept date, HAProxy's `dd/Mon/yyyy:HH:MM:SS.mmm`.
    Date,
    /// `%TR`, `%Tw`, `%Tc`, `%Tr`, `%Ta`, `%Tt`, `%Th`, `%Ti`, `%Tq`.
    Timer(Timer),
    /// `%ST`: the status.
    Status,
    /// `%B`: bytes to the client.
    BytesOut,
    /// `%U`: bytes from the client.
    BytesIn,
    /// `%ts`: the termination state, two letters.
    Termination,
    /// `%tsc`: the termination state with the cookie letters (`--`).
    TerminationCookies,
    /// `%ac`, `%fc`, `%bc`, `%sc`: connection counts.
    Conns(Occupant),
    /// `%rc`: retries.
    Retries,
    /// `%sq`, `%bq`: queue positions (always 0: ringlb's queues are per shard).
    Queue,
    /// `%hr`, `%hs`: captured headers in braces; `%hrl`, `%hsl` without.
    Captures {
        /// Response headers.
        response: bool,
        /// `%hrl`/`%hsl`: space separated, no braces.
        list: bool,
    },
    /// `%r`: the request line.
    RequestLine,
    /// `%HM`, `%HU`, `%HP`, `%HQ`, `%HV`: the method, URI, path, query, version.
    Request(RequestPart),
    /// `%CC`, `%CS`: captured cookies (none: `-`).
    Cookie,
    /// `%H`: the host name.
    Hostname,
    /// `%o`: sets the options of the variables after it (`%{+X}o`).
    Options,
}

/// The timers of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// `%TR`.
    Request,
    /// `%Tw`.
    Queue,
    /// `%Tc`.
    Connect,
    /// `%Tr`.
    Response,
    /// `%Ta`: active time (the total, for HTTP).
    Active,
    /// `%Tt`.
    Total,
    /// `%Th`, `%Ti`: handshake and idle times (0: not measured apart).
    Zero,
    /// `%Tq`: `%Th + %Ti + %TR`.
    Quiet,
}

/// Who a connection count counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occupant {
    /// `%ac`.
    Process,
    /// `%fc`.
    Frontend,
    /// `%bc`.
    Backend,
    /// `%sc`.
    Server,
}

/// A part of the request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestPart {
    /// `%HM`.
    Method,
    /// `%HU`.
    Uri,
    /// `%HP`.
    Path,
    /// `%HQ`: the query with its `?`.
    Query,
    /// `%HV`.
    Version,
}

/// How a variable is written: `%{+Q}` quoted, `%{+X}` numbers in hexadecimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FormatFlags {
    /// `+Q`.
    pub quote: bool,
    /// `+X`.
    pub hex: bool,
}

/// One piece of a format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatPart {
    /// Text as written.
    Literal(Vec<u8>),
    /// A run of blanks between fields of a log line: one space, and none twice in a row.
    Separator,
    /// `%[…]`.
    Sample {
        /// The expression.
        expr: SampleExpr,
        /// Its flags.
        flags: FormatFlags,
    },
    /// `%XX`.
    Var {
        /// The variable.
        var: FormatVar,
        /// Its flags.
        flags: FormatFlags,
    },
}

/// A parsed log-format string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FormatString {
    /// Its pieces in order.
    pub parts: Vec<FormatPart>,
}

/// What a format string may name besides the request.
#[derive(Debug, Clone, Copy)]
pub struct FormatContext<'a> {
    /// The frontend's name.
    pub frontend: &'a str,
    /// The backend's name, once chosen.
    pub backend: Option<&'a str>,
    /// The unique id, when the frontend has a `unique-id-format`.
    pub unique_id: Option<&'a str>,
    /// The request counter (`%rt`).
    pub request_counter: u64,
}

/// Where a format string is used, which decides the variables it may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatUse {
    /// A header value, a redirect, a `unique-id-format`: only what is known when the request
    /// arrives.
    Request,
    /// `log-format`: everything.
    Log,
}

/// HAProxy's variable names; `true` where the value is known when the request arrives.
const VARS: &[(&str, FormatVar, bool)] = &[
    ("ci", FormatVar::ClientIp, true),
    ("cp", FormatVar::ClientPort, true),
    ("fi", FormatVar::FrontendIp, true),
    ("fp", FormatVar::FrontendPort, true),
    ("ft", FormatVar::Frontend, true),
    ("f", FormatVar::Frontend, true),
    ("b", FormatVar::Backend, true),
    ("pid", FormatVar::Pid, true),
    ("Ts", FormatVar::Seconds, true),
    ("ms", FormatVar::Millis, true),
    ("ID", FormatVar::UniqueId, true),
    ("rt", FormatVar::RequestCounter, true),
    ("o", FormatVar::Options, true),
    ("s", FormatVar::Server, false),
    ("si", FormatVar::ServerIp, false),
    ("sp", FormatVar::ServerPort, false),
    ("t", FormatVar::Date, false),
    ("tr", FormatVar::Date, false),
    ("TR", FormatVar::Timer(Timer::Request), false),
    ("Tw", FormatVar::Timer(Timer::Queue), false),
    ("Tc", FormatVar::Timer(Timer::Connect), false),
    ("Tr", FormatVar::Timer(Timer::Response), false),
    ("Ta", FormatVar::Timer(Timer::Active), false),
    ("Tt", FormatVar::Timer(Timer::Total), false),
    ("Th", FormatVar::Timer(Timer::Zero), false),
    ("Ti", FormatVar::Timer(Timer::Zero), false),
    ("Tq", FormatVar::Timer(Timer::Quiet), false),
    ("ST", FormatVar::Status, false),
    ("B", FormatVar::BytesOut, false),
    ("U", FormatVar::BytesIn, false),
    ("ts", FormatVar::Termination, false),
    ("tsc", FormatVar::TerminationCookies, false),
    ("ac", FormatVar::Conns(Occupant::Process), false),
    ("fc", FormatVar::Conns(Occupant::Frontend), false),
    ("bc", FormatVar::Conns(Occupant::Backend), false),
    ("sc", FormatVar::Conns(Occupant::Server), false),
    ("rc", FormatVar::Retries, false),
    ("sq", FormatVar::Queue, false),
    ("bq", FormatVar::Queue, false),
    (
        "hr",
        FormatVar::Captures {
            response: false,
            list: false,
        },
        false,
    ),
    (
        "hs",
        FormatVar::Captures {
            response: true,
            list: false,
        },
        false,
    ),
    (
        "hrl",
        FormatVar::Captures {
            response: false,
            list: true,
        },
        false,
    ),
    (
        "hsl",
        FormatVar::Captures {
            response: true,
            list: true,
        },
        false,
    ),
    ("r", FormatVar::RequestLine, false),
    ("HM", FormatVar::Request(RequestPart::Method), false),
    ("HU", FormatVar::Request(RequestPart::Uri), false),
    ("HP", FormatVar::Request(RequestPart::Path), false),
    ("HQ", FormatVar::Request(RequestPart::Query), false),
    ("HV", FormatVar::Request(RequestPart::Version), false),
    ("CC", FormatVar::Cookie, false),
    ("CS", FormatVar::Cookie, false),
    ("H", FormatVar::Hostname, false),
];

impl FormatString {
    /// Parses `text` for a header value (request-time variables only).
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::parse_for(text, FormatUse::Request)
    }

    /// Parses `text` for `use`; errors name the offending piece.
    pub fn parse_for(text: &str, usage: FormatUse) -> Result<Self, String> {
        let mut parts: Vec<FormatPart> = Vec::new();
        let mut literal: Vec<u8> = Vec::new();
        // `%{+X}o` sets options for every variable after it.
        let mut defaults = FormatFlags::default();
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some(&c) = bytes.get(i) {
            if c == b' ' && usage == FormatUse::Log {
                if !literal.is_empty() {
                    parts.push(FormatPart::Literal(std::mem::take(&mut literal)));
                }
                if parts.last() != Some(&FormatPart::Separator) {
                    parts.push(FormatPart::Separator);
                }
                i += 1;
                continue;
            }
            if c != b'%' {
                literal.push(c);
                i += 1;
                continue;
            }
            i += 1;
            if bytes.get(i) == Some(&b'%') {
                literal.push(b'%');
                i += 1;
                continue;
            }
            let mut flags = defaults;
            if bytes.get(i) == Some(&b'{') {
                let close = text[i..]
                    .find('}')
                    .ok_or_else(|| format!("missing '}}' after '%{{' in '{text}'"))?;
                for flag in text[i + 1..i + close].split(',') {
                    match flag {
                        "+Q" => flags.quote = true,
                        "-Q" => flags.quote = false,
                        "+X" => flags.hex = true,
                        "-X" => flags.hex = false,
                        // Escaping and bare mode change nothing in what ringlb writes.
                        "+E" | "-E" | "+M" | "-M" | "" => {}
                        other => {
                            return Err(format!(
                                "log-format flag '{other}' is not supported by ringlb (supported: +Q, +X, +E)"
                            ))
                        }
                    }
                }
                i += close + 1;
            }
            if !literal.is_empty() {
                parts.push(FormatPart::Literal(std::mem::take(&mut literal)));
            }
            if bytes.get(i) == Some(&b'[') {
                let close = matching_bracket(&text[i..])
                    .ok_or_else(|| format!("missing ']' after '%[' in '{text}'"))?;
                let inner = &text[i + 1..i + close];
                let expr = SampleExpr::parse(inner)
                    .map_err(|e| format!("failed to parse sample expression <{inner}> : {e}"))?;
                parts.push(FormatPart::Sample { expr, flags });
                i += close + 1;
                continue;
            }
            let name_len = text[i..]
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(text.len() - i);
            let name = &text[i..i + name_len];
            if name.is_empty() {
                return Err(format!(
                    "unexpected character after '%' in '{text}' (use '%%' for a percent sign)"
                ));
            }
            let (var, early) = VARS
                .iter()
                .find(|(n, _, _)| *n == name)
                .map(|(_, v, early)| (*v, *early))
                .ok_or_else(|| {
                    format!("log-format variable '%{name}' is not supported by ringlb")
                })?;
            if usage == FormatUse::Request && !early {
                return Err(format!(
                    "log-format variable '%{name}' is not known when the request arrives \
                     (usable here: %ci %cp %fi %fp %f %ft %b %pid %Ts %ms %ID %rt and %[sample])"
                ));
            }
            if var == FormatVar::Options {
                defaults = flags;
            } else {
                parts.push(FormatPart::Var { var, flags });
            }
            i += name_len;
        }
        if !literal.is_empty() {
            parts.push(FormatPart::Literal(literal));
        }
        Ok(Self { parts })
    }

    /// The text when the string has no expression, which needs no request to render.
    pub fn as_literal(&self) -> Option<&[u8]> {
        match self.parts.as_slice() {
            [] => Some(b""),
            [FormatPart::Literal(text)] => Some(text),
            _ => None,
        }
    }

    /// The sample expressions, in order (a log line's are evaluated on the shard).
    pub fn samples(&self) -> impl Iterator<Item = &SampleExpr> {
        self.parts.iter().filter_map(|p| match p {
            FormatPart::Sample { expr, .. } => Some(expr),
            _ => None,
        })
    }

    /// Appends the rendered string to `out` (request-time variables; others write nothing).
    /// A sample that finds nothing renders as nothing, as in HAProxy's header values.
    pub fn render<V: RequestView + ?Sized>(
        &self,
        view: &V,
        context: &FormatContext<'_>,
        out: &mut Vec<u8>,
    ) {
        use std::io::Write as _;
        for part in &self.parts {
            match part {
                FormatPart::Literal(text) => out.extend_from_slice(text),
                FormatPart::Separator => out.push(b' '),
                // HAProxy 2.6 does not quote samples in header values (seen in the tests).
                FormatPart::Sample { expr, .. } => {
                    let start = out.len();
                    expr.append_to(view, out);
                    escape_controls(out, start);
                }
                FormatPart::Var { var, flags } => {
                    if flags.quote {
                        out.push(b'"');
                    }
                    let num = |out: &mut Vec<u8>, n: u64, width: usize| {
                        let mut text = String::new();
                        write_number(&mut text, n, flags.hex, width);
                        out.extend_from_slice(text.as_bytes());
                    };
                    let ip = |out: &mut Vec<u8>, addr: std::net::IpAddr| {
                        let mut text = String::new();
                        write_ip(&mut text, addr, flags.hex);
                        out.extend_from_slice(text.as_bytes());
                    };
                    let now = || {
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap_or_default()
                    };
                    match var {
                        FormatVar::ClientIp => {
                            if let Some(a) = view.src() {
                                ip(out, a.ip());
                            }
                        }
                        FormatVar::ClientPort => {
                            if let Some(a) = view.src() {
                                num(out, u64::from(a.port()), 4);
                            }
                        }
                        FormatVar::FrontendIp => {
                            if let Some(a) = view.dst() {
                                ip(out, a.ip());
                            }
                        }
                        FormatVar::FrontendPort => {
                            if let Some(a) = view.dst() {
                                num(out, u64::from(a.port()), 4);
                            }
                        }
                        FormatVar::Frontend => out.extend_from_slice(context.frontend.as_bytes()),
                        FormatVar::Backend => out.extend_from_slice(
                            context.backend.unwrap_or(context.frontend).as_bytes(),
                        ),
                        FormatVar::Pid => num(out, u64::from(std::process::id()), 4),
                        FormatVar::Seconds => num(out, now().as_secs(), 8),
                        FormatVar::Millis => {
                            let _ = write!(out, "{:03}", now().subsec_millis());
                        }
                        FormatVar::UniqueId => {
                            out.extend_from_slice(context.unique_id.unwrap_or("").as_bytes())
                        }
                        FormatVar::RequestCounter => num(out, context.request_counter, 4),
                        _ => {}
                    }
                    if flags.quote {
                        out.push(b'"');
                    }
                }
            }
        }
    }
}

/// Writes `ip` as HAProxy does: dotted, or with `%{+X}` its IPv4 bytes as 8 hex digits.
pub fn write_ip(out: &mut String, ip: std::net::IpAddr, hex: bool) {
    use std::fmt::Write as _;
    let _ = match (unmapped(ip), hex) {
        (std::net::IpAddr::V4(v4), true) => {
            let [a, b, c, d] = v4.octets();
            write!(out, "{a:02X}{b:02X}{c:02X}{d:02X}")
        }
        (ip, _) => write!(out, "{ip}"),
    };
}

/// Writes `n` as HAProxy writes the numbers `%{+X}` applies to (ports, `%Ts`, `%rt`, `%pid`):
/// upper-case hex, zero-padded to `width`.
pub fn write_number(out: &mut String, n: u64, hex: bool, width: usize) {
    use std::fmt::Write as _;
    let _ = if hex {
        write!(out, "{n:0width$X}")
    } else {
        write!(out, "{n}")
    };
}

/// Control bytes (tab aside) of a sample written from `start` on become `%XX`, as HAProxy
/// writes them: a value decoded from the request (`url_dec`) cannot end a header line.
fn escape_controls(out: &mut Vec<u8>, start: usize) {
    let Some(first) = out
        .get(start..)
        .and_then(|s| s.iter().position(|&b| needs_escape(b)))
    else {
        return;
    };
    let tail = out.split_off(start + first);
    for b in tail {
        if needs_escape(b) {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
}

fn needs_escape(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// An IPv4-mapped IPv6 address shown as IPv4, as HAProxy shows clients.
pub fn unmapped(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
        ip => ip,
    }
}

/// The index of the `]` closing the `[` at the start of `s`, nested brackets counted.
fn matching_bracket(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_samples_and_variables() {
        let f = FormatString::parse("ip=%[src] %ci:%cp 100%% %{+Q}[path]").unwrap();
        assert_eq!(f.parts.len(), 8, "{:?}", f.parts);
        assert!(matches!(&f.parts[0], FormatPart::Literal(t) if t == b"ip="));
        assert!(matches!(&f.parts[1], FormatPart::Sample { flags, .. } if !flags.quote));
        assert!(matches!(
            &f.parts[3],
            FormatPart::Var {
                var: FormatVar::ClientIp,
                ..
            }
        ));
        assert!(matches!(&f.parts[6], FormatPart::Literal(t) if t == b" 100% "));
        assert!(matches!(&f.parts[7], FormatPart::Sample { flags, .. } if flags.quote));
        assert_eq!(
            FormatString::parse("plain").unwrap().as_literal(),
            Some(&b"plain"[..])
        );
    }

    #[test]
    fn log_formats_collapse_blanks_and_carry_flags() {
        let f = FormatString::parse_for("%ci  %{+Q}r %{+X}o %Ts %ST", FormatUse::Log).unwrap();
        let seps = f
            .parts
            .iter()
            .filter(|p| **p == FormatPart::Separator)
            .count();
        assert_eq!(seps, 3, "{:?}", f.parts);
        assert!(matches!(
            f.parts.last(),
            Some(FormatPart::Var { var: FormatVar::Status, flags }) if flags.hex && !flags.quote
        ));
    }

    #[test]
    fn errors_name_what_is_wrong() {
        assert!(FormatString::parse("%[src")
            .unwrap_err()
            .contains("missing ']'"));
        assert!(FormatString::parse("%[nosuch]")
            .unwrap_err()
            .contains("nosuch"));
        assert!(FormatString::parse("%Zz").unwrap_err().contains("'%Zz'"));
        assert!(FormatString::parse("%ST")
            .unwrap_err()
            .contains("not known when the request arrives"));
        assert!(FormatString::parse("50% off").is_err());
        assert!(
            FormatString::parse("%[path_beg]").is_err(),
            "ACL-only forms"
        );
    }
}
