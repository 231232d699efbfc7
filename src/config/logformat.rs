//! HAProxy's log-format strings, as the values of `http-request set-header` and friends take
//! them: literal text, `%[sample]` expressions and `%XX` variables, with `%{+Q}` quoting.
//! Parsed once at load; rendering appends to a caller's buffer.

use super::acl::{RequestView, SampleExpr};

/// A log-format variable usable where a request is at hand.
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
}

/// One piece of a format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatPart {
    /// Text as written.
    Literal(Vec<u8>),
    /// `%[…]`; `quoted` is `%{+Q}`.
    Sample {
        /// The expression.
        expr: SampleExpr,
        /// Wrap in double quotes.
        quoted: bool,
    },
    /// `%XX`.
    Var {
        /// The variable.
        var: FormatVar,
        /// Wrap in double quotes.
        quoted: bool,
    },
}

/// A parsed log-format string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FormatString {
    /// Its pieces in order.
    pub parts: Vec<FormatPart>,
}

/// What a format string may name besides the request: the proxies' names.
#[derive(Debug, Clone, Copy)]
pub struct FormatContext<'a> {
    /// The frontend's name.
    pub frontend: &'a str,
    /// The backend's name, once chosen.
    pub backend: Option<&'a str>,
}

const VARS: [(&str, FormatVar); 9] = [
    ("ci", FormatVar::ClientIp),
    ("cp", FormatVar::ClientPort),
    ("fi", FormatVar::FrontendIp),
    ("fp", FormatVar::FrontendPort),
    ("ft", FormatVar::Frontend),
    ("f", FormatVar::Frontend),
    ("b", FormatVar::Backend),
    ("pid", FormatVar::Pid),
    ("Ts", FormatVar::Seconds),
];

impl FormatString {
    /// Parses `text`; errors name the offending piece.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts: Vec<FormatPart> = Vec::new();
        let mut literal: Vec<u8> = Vec::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some(&c) = bytes.get(i) {
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
            let mut quoted = false;
            if bytes.get(i) == Some(&b'{') {
                let close = text[i..]
                    .find('}')
                    .ok_or_else(|| format!("missing '}}' after '%{{' in '{text}'"))?;
                for flag in text[i + 1..i + close].split(',') {
                    match flag {
                        "+Q" => quoted = true,
                        "-Q" | "" => quoted = false,
                        other => {
                            return Err(format!(
                            "log-format flag '{other}' is not supported by ringlb (supported: +Q)"
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
                parts.push(FormatPart::Sample { expr, quoted });
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
            let var = VARS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    format!(
                        "log-format variable '%{name}' is not supported here by ringlb \
                         (supported: %ci %cp %fi %fp %f %ft %b %pid %Ts and %[sample])"
                    )
                })?;
            parts.push(FormatPart::Var { var, quoted });
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

    /// Appends the rendered string to `out`. A sample that finds nothing renders as nothing
    /// (as `-` in HAProxy's logs, but empty in header values, as HAProxy does there).
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
                FormatPart::Sample { expr, quoted } => {
                    if *quoted {
                        out.push(b'"');
                    }
                    let start = out.len();
                    expr.append_to(view, out);
                    escape_controls(out, start);
                    if *quoted {
                        out.push(b'"');
                    }
                }
                FormatPart::Var { var, quoted } => {
                    if *quoted {
                        out.push(b'"');
                    }
                    let _ = match var {
                        FormatVar::ClientIp => match view.src() {
                            Some(a) => write!(out, "{}", unmapped(a.ip())),
                            None => Ok(()),
                        },
                        FormatVar::ClientPort => match view.src() {
                            Some(a) => write!(out, "{}", a.port()),
                            None => Ok(()),
                        },
                        FormatVar::FrontendIp => match view.dst() {
                            Some(a) => write!(out, "{}", unmapped(a.ip())),
                            None => Ok(()),
                        },
                        FormatVar::FrontendPort => match view.dst() {
                            Some(a) => write!(out, "{}", a.port()),
                            None => Ok(()),
                        },
                        FormatVar::Frontend => write!(out, "{}", context.frontend),
                        FormatVar::Backend => {
                            write!(out, "{}", context.backend.unwrap_or(context.frontend))
                        }
                        FormatVar::Pid => write!(out, "{}", std::process::id()),
                        FormatVar::Seconds => write!(
                            out,
                            "{}",
                            std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map_or(0, |d| d.as_secs())
                        ),
                    };
                    if *quoted {
                        out.push(b'"');
                    }
                }
            }
        }
    }
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
fn unmapped(ip: std::net::IpAddr) -> std::net::IpAddr {
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
        assert!(matches!(
            &f.parts[1],
            FormatPart::Sample { quoted: false, .. }
        ));
        assert!(matches!(
            &f.parts[3],
            FormatPart::Var {
                var: FormatVar::ClientIp,
                ..
            }
        ));
        assert!(matches!(&f.parts[6], FormatPart::Literal(t) if t == b" 100% "));
        assert!(matches!(
            &f.parts[7],
            FormatPart::Sample { quoted: true, .. }
        ));
        assert_eq!(
            FormatString::parse("plain").unwrap().as_literal(),
            Some(&b"plain"[..])
        );
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
        assert!(FormatString::parse("50% off").is_err());
        assert!(
            FormatString::parse("%[path_beg]").is_err(),
            "ACL-only forms"
        );
    }
}
