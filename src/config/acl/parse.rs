//! Parsing `acl NAME CRITERION [flags] [patterns]` and `if|unless` conditions as HAProxy 2.6
//! does: criteria are a fetch with optional arguments and converters
//! (`hdr(host,1),lower,field(1,:)`), or an ACL-only form that implies the matching method
//! (`path_beg`, `hdr_dom(host)`).

use std::sync::Arc;

use super::pattern::RawPattern;
use super::{
    AclError, AclExpr, Converter, Fetch, HdrSide, MatchMethod, Patterns, SampleType, VarName,
};
use crate::config::model::{AclRef, Condition, Term};

/// HAProxy 2.6's predefined ACLs and their definitions (section 7.4).
pub const PREDEFINED: &[(&str, &[&str])] = &[
    ("TRUE", &["always_true"]),
    ("FALSE", &["always_false"]),
    ("LOCALHOST", &["src", "127.0.0.1/8", "::1"]),
    ("HTTP", &["req.proto_http"]),
    ("HTTP_1.0", &["req.ver", "1.0"]),
    ("HTTP_1.1", &["req.ver", "1.1"]),
    ("HTTP_2.0", &["req.ver", "2.0"]),
    ("METH_CONNECT", &["method", "CONNECT"]),
    ("METH_DELETE", &["method", "DELETE"]),
    ("METH_GET", &["method", "GET", "HEAD"]),
    ("METH_HEAD", &["method", "HEAD"]),
    ("METH_OPTIONS", &["method", "OPTIONS"]),
    ("METH_POST", &["method", "POST"]),
    ("METH_PUT", &["method", "PUT"]),
    ("METH_TRACE", &["method", "TRACE"]),
    ("HTTP_URL_ABS", &["url_reg", "^[^/:]*://"]),
    ("HTTP_URL_SLASH", &["url_beg", "/"]),
    ("HTTP_URL_STAR", &["url", "*"]),
    ("HTTP_CONTENT", &["req.hdr_val(content-length)", "gt", "0"]),
    ("REQ_CONTENT", &["req.len", "gt", "0"]),
    ("RDP_COOKIE", &["req.rdp_cookie_cnt", "gt", "0"]),
    ("WAIT_END", &["wait_end"]),
];

/// The expression of predefined ACL `name`, if HAProxy defines one by that name.
pub fn predefined(name: &str) -> Option<Arc<AclExpr>> {
    let (_, words) = PREDEFINED.iter().find(|(n, _)| *n == name)?;
    let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    parse_acl_expr(&words)
        .ok()
        .map(|parsed| Arc::new(parsed.expr))
}

/// An expression parsed from a line, with the warning HAProxy would print about it.
#[derive(Debug, Clone)]
pub struct ParsedExpr {
    /// The expression.
    pub expr: AclExpr,
    /// HAProxy's "no pattern to match against" warning, when it applies.
    pub warning: Option<String>,
}

/// The ACL-only criteria that imply a matching method: `<fetch>_<method>`.
const DERIVED_BASES: [&str; 6] = ["base", "cook", "hdr", "path", "url", "urlp"];
const DERIVED_METHODS: [(&str, MatchMethod); 7] = [
    ("_beg", MatchMethod::Beg),
    ("_dir", MatchMethod::Dir),
    ("_dom", MatchMethod::Dom),
    ("_end", MatchMethod::End),
    ("_len", MatchMethod::Len),
    ("_reg", MatchMethod::Reg),
    ("_sub", MatchMethod::Sub),
];

/// Parses the words after an ACL's name (or inside `{ }`): criterion, flags, patterns.
/// `-f` files are read now, relative to the working directory as HAProxy does.
pub fn parse_acl_expr(words: &[String]) -> Result<ParsedExpr, AclError> {
    let Some((criterion, rest)) = words.split_first() else {
        return Err(AclError::Syntax("missing ACL criterion".into()));
    };
    let calls = split_calls(criterion)?;
    let Some((first, convs)) = calls.split_first() else {
        return Err(AclError::Syntax("missing ACL criterion".into()));
    };
    let (fetch, derived) = fetch_of(&first.name, first.args.as_deref(), criterion)?;
    let converters = convs
        .iter()
        .map(|c| converter_of(&first.name, c))
        .collect::<Result<Vec<_>, _>>()?;

    let mut icase = false;
    let mut explicit: Option<MatchMethod> = None;
    let mut raw: Vec<RawPattern> = Vec::new();
    let mut files = false;
    let mut ended_flags = false;
    let mut i = 0;
    while let Some(word) = rest.get(i) {
        if !word.starts_with('-') {
            break;
        }
        let arg = rest.get(i + 1);
        let need = |flag: &str| {
            arg.ok_or_else(|| AclError::Flag(format!("missing argument after '{flag}'")))
        };
        match word.as_str() {
            "-i" => icase = true,
            "-n" => {}
            "-u" => {
                need("-u")?;
                i += 1;
            }
            "-m" => {
                if files {
                    return Err(AclError::Flag(
                        "'-m' must only be specified before patterns and files in parsing ACL expression.".into(),
                    ));
                }
                let name = need("-m")?;
                explicit = Some(method_named(name)?);
                i += 1;
            }
            "-f" => {
                let path = need("-f")?;
                raw.extend(read_file(path, icase)?);
                files = true;
                i += 1;
            }
            "-M" => {
                return Err(AclError::Flag(
                    "'-M' (map files as ACL patterns) is not supported by ringlb".into(),
                ))
            }
            "--" => {
                i += 1;
                ended_flags = true;
                break;
            }
            other => {
                return Err(AclError::Flag(format!(
                    "'{other}' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'."
                )))
            }
        }
        i += 1;
    }
    for word in rest.get(i..).unwrap_or(&[]) {
        raw.push(RawPattern {
            text: word.as_bytes().to_vec(),
            icase,
            origin: None,
        });
    }

    let output = converters
        .last()
        .map_or_else(|| fetch.output(), Converter::output);
    // A converter makes the ACL-only method moot: the last output type decides (7.1).
    let implied = if converters.is_empty() { derived } else { None };
    let method = match explicit.or(implied) {
        Some(m) => {
            check_compatible(m, output, criterion)?;
            m
        }
        None => match output {
            SampleType::Bool => MatchMethod::Bool,
            SampleType::Int => MatchMethod::Int,
            SampleType::Ip => MatchMethod::Ip,
            SampleType::Str => MatchMethod::Str,
            SampleType::Meth => MatchMethod::Meth,
            SampleType::Any => {
                return Err(AclError::Syntax(format!(
                    "matching method must be specified first (using '-m') when using a sample fetch of this type ('{}').",
                    first.name
                )))
            }
        },
    };
    let patterns = Patterns::compile(method, &raw)?;
    let warning = (patterns.is_empty()
        && !files
        && !ended_flags
        && !matches!(method, MatchMethod::Found | MatchMethod::Bool))
    .then(|| {
        format!(
            "parsing acl keyword '{}' : no pattern to match against were provided, so this ACL will never match. \
             If this is what you intended, please add '--' to get rid of this warning. \
             If you intended to match only for existence, please use '-m found'.",
            first.name
        )
    });
    Ok(ParsedExpr {
        expr: AclExpr {
            source: words.join(" "),
            fetch,
            converters,
            method,
            patterns,
        },
        warning,
    })
}

fn check_compatible(m: MatchMethod, output: SampleType, criterion: &str) -> Result<(), AclError> {
    let ok = match m {
        MatchMethod::Bool => matches!(
            output,
            SampleType::Bool | SampleType::Int | SampleType::Str | SampleType::Any
        ),
        MatchMethod::Ip => matches!(output, SampleType::Ip | SampleType::Str | SampleType::Any),
        MatchMethod::Meth => output == SampleType::Meth,
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(AclError::IncompatibleMethod {
            method: m.name().to_string(),
            fetch: criterion.to_string(),
        })
    }
}

fn method_named(name: &str) -> Result<MatchMethod, AclError> {
    Ok(match name {
        "found" => MatchMethod::Found,
        "bool" => MatchMethod::Bool,
        "int" => MatchMethod::Int,
        "ip" => MatchMethod::Ip,
        "str" => MatchMethod::Str,
        "beg" => MatchMethod::Beg,
        "end" => MatchMethod::End,
        "sub" => MatchMethod::Sub,
        "reg" => MatchMethod::Reg,
        "dom" => MatchMethod::Dom,
        "dir" => MatchMethod::Dir,
        "len" => MatchMethod::Len,
        "bin" => {
            return Err(AclError::Flag(
                "matching method 'bin' is not supported by ringlb".into(),
            ))
        }
        other => return Err(AclError::UnknownMethod(other.to_string())),
    })
}

/// One patterns per line; lines starting with `#` (before any blank) and empty ones are
/// skipped, leading blanks stripped, as HAProxy's `pat_ref_read_from_file`.
fn read_file(path: &str, icase: bool) -> Result<Vec<RawPattern>, AclError> {
    let bytes = std::fs::read(path).map_err(|_| AclError::FileOpen {
        path: path.to_string(),
    })?;
    let mut out = Vec::new();
    for (index, line) in bytes.split(|c| *c == b'\n').enumerate() {
        if line.first() == Some(&b'#') {
            continue;
        }
        let start = line
            .iter()
            .position(|c| *c != b' ' && *c != b'\t')
            .unwrap_or(line.len());
        let body = line.get(start..).unwrap_or(&[]);
        let end = body.iter().position(|c| *c == b'\r').unwrap_or(body.len());
        let text = body.get(..end).unwrap_or(&[]);
        if text.is_empty() {
            continue;
        }
        out.push(RawPattern {
            text: text.to_vec(),
            icase,
            origin: Some((path.to_string(), index + 1)),
        });
    }
    Ok(out)
}

/// `name(arg,arg)` within a criterion.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Call {
    name: String,
    args: Option<Vec<String>>,
}

/// Splits `fetch(args),conv(args),conv` into calls; arguments may be quoted (`'…'`, `"…"`)
/// or escaped with `\` so they can hold commas and parentheses, as HAProxy's second level.
fn split_calls(word: &str) -> Result<Vec<Call>, AclError> {
    let mut calls = Vec::new();
    let mut chars = word.chars().peekable();
    loop {
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '(' || c == ',' {
                break;
            }
            name.push(c);
            chars.next();
        }
        if name.is_empty() {
            return Err(AclError::Syntax(format!(
                "missing fetch or converter name in '{word}'"
            )));
        }
        let mut args = None;
        if chars.peek() == Some(&'(') {
            chars.next();
            let mut list = Vec::new();
            let mut current = String::new();
            let mut quote: Option<char> = None;
            let mut closed = false;
            while let Some(c) = chars.next() {
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    // Only quotes, backslashes and argument punctuation are escaped: `\1`
                    // must reach `regsub` as a back-reference, as in HAProxy.
                    (_, '\\') => match chars.peek() {
                        Some(&e) if matches!(e, '\\' | '\'' | '"' | ',' | '(' | ')') => {
                            current.push(e);
                            chars.next();
                        }
                        _ => current.push('\\'),
                    },
                    (Some(_), c) => current.push(c),
                    (None, '\'' | '"') => quote = Some(c),
                    (None, ',') => list.push(std::mem::take(&mut current)),
                    (None, ')') => {
                        closed = true;
                        break;
                    }
                    (None, c) => current.push(c),
                }
            }
            if !closed {
                return Err(AclError::BadArgument {
                    keyword: name,
                    message: "missing closing ')' after arguments".into(),
                });
            }
            // `f()` has no argument, not one empty one.
            if !(list.is_empty() && current.is_empty()) {
                list.push(current);
            }
            args = Some(list);
        }
        calls.push(Call { name, args });
        match chars.next() {
            None => return Ok(calls),
            Some(',') => {}
            Some(c) => {
                return Err(AclError::Syntax(format!(
                    "unexpected '{c}' after the arguments in '{word}'"
                )))
            }
        }
    }
}

fn bad(keyword: &str, message: impl Into<String>) -> AclError {
    AclError::BadArgument {
        keyword: keyword.to_string(),
        message: message.into(),
    }
}

fn int_arg(keyword: &str, index: usize, s: &str) -> Result<i64, AclError> {
    s.trim().parse().map_err(|_| {
        bad(
            keyword,
            format!(
                "invalid arg {} : failed to parse '{s}' as type 'integer'",
                index + 1
            ),
        )
    })
}

fn usize_arg(keyword: &str, index: usize, s: &str) -> Result<usize, AclError> {
    let v = int_arg(keyword, index, s)?;
    usize::try_from(v).map_err(|_| {
        bad(
            keyword,
            format!("invalid arg {} : '{s}' must not be negative", index + 1),
        )
    })
}

fn i32_arg(keyword: &str, index: usize, s: &str) -> Result<i32, AclError> {
    let v = int_arg(keyword, index, s)?;
    i32::try_from(v).map_err(|_| {
        bad(
            keyword,
            format!("invalid arg {} : '{s}' is out of range", index + 1),
        )
    })
}

fn at_most<'a>(keyword: &str, args: &'a [String], max: usize) -> Result<&'a [String], AclError> {
    if args.len() > max {
        let what = match max {
            0 => "takes no argument".to_string(),
            1 => "expects at most 1 argument".to_string(),
            n => format!("expects at most {n} arguments"),
        };
        return Err(bad(keyword, what));
    }
    Ok(args)
}

fn optional_name(args: &[String], lower: bool) -> Option<Vec<u8>> {
    args.first().filter(|n| !n.is_empty()).map(|n| {
        if lower {
            n.to_ascii_lowercase().into_bytes()
        } else {
            n.as_bytes().to_vec()
        }
    })
}

/// The fetch a criterion names, and the method an ACL-only form implies.
fn fetch_of(
    name: &str,
    args: Option<&[String]>,
    criterion: &str,
) -> Result<(Fetch, Option<MatchMethod>), AclError> {
    let (base, implied) = DERIVED_METHODS
        .iter()
        .find_map(|(suffix, m)| {
            name.strip_suffix(suffix)
                .filter(|b| DERIVED_BASES.contains(b))
                .map(|b| (b, Some(*m)))
        })
        .unwrap_or((name, None));
    let a = args.unwrap_or(&[]);
    let none = |fetch: Fetch| at_most(name, a, 0).map(|_| fetch);
    let fetch = match base {
        "always_true" => none(Fetch::AlwaysTrue)?,
        "always_false" => none(Fetch::AlwaysFalse)?,
        "wait_end" => none(Fetch::WaitEnd)?,
        "req.proto_http" | "req_proto_http" => none(Fetch::ProtoHttp)?,
        "path" => none(Fetch::Path)?,
        "url" => none(Fetch::Url)?,
        "query" => none(Fetch::Query)?,
        "base" => none(Fetch::Base)?,
        "method" => none(Fetch::Method)?,
        "req.ver" | "req_ver" => none(Fetch::ReqVer)?,
        "req.len" | "req_len" => none(Fetch::ReqLen)?,
        "src" => none(Fetch::Src)?,
        "src_port" => none(Fetch::SrcPort)?,
        "dst" => none(Fetch::Dst)?,
        "dst_port" => none(Fetch::DstPort)?,
        "ssl_fc" => none(Fetch::SslFc)?,
        "req_ssl_hello_type" | "req.ssl_hello_type" => none(Fetch::SslHelloType)?,
        "req_ssl_sni" | "req.ssl_sni" => none(Fetch::SslSni)?,
        "req.rdp_cookie" | "rdp_cookie" | "req_rdp_cookie" => {
            at_most(name, a, 1)?;
            Fetch::RdpCookie {
                name: optional_name(a, false).unwrap_or_default(),
            }
        }
        "req.rdp_cookie_cnt" | "rdp_cookie_cnt" | "req_rdp_cookie_cnt" => {
            at_most(name, a, 1)?;
            Fetch::RdpCookieCnt {
                name: optional_name(a, false).unwrap_or_default(),
            }
        }
        "req.payload" | "payload" => match a {
            [off, len] => Fetch::Payload {
                offset: usize_arg(name, 0, off)?,
                len: usize_arg(name, 1, len)?,
            },
            _ => return Err(bad(name, "expects exactly 2 arguments")),
        },
        "req.payload_lv" | "payload_lv" => {
            let (off, len, start) = match a {
                [off, len] => (off, len, None),
                [off, len, start] => (off, len, Some(start)),
                _ => return Err(bad(name, "expects 2 or 3 arguments")),
            };
            let len_size = usize_arg(name, 1, len)?;
            if !(1..=4).contains(&len_size) {
                return Err(bad(name, "payload length must be between 1 and 4"));
            }
            let start = match start.map(|s| s.trim()) {
                None => super::payload::LvStart::AfterLength,
                Some(s) if s.starts_with('+') || s.starts_with('-') => {
                    super::payload::LvStart::Relative(int_arg(name, 2, s)?)
                }
                Some(s) => super::payload::LvStart::Absolute(int_arg(name, 2, s)?),
            };
            Fetch::PayloadLv {
                len_offset: usize_arg(name, 0, off)?,
                len_size,
                start,
            }
        }
        "int" => match a {
            [v] => Fetch::Int(int_arg(name, 0, v)?),
            _ => return Err(bad(name, "expects exactly 1 argument")),
        },
        "str" => match a {
            [v] => Fetch::Str(v.as_bytes().to_vec()),
            _ => return Err(bad(name, "expects exactly 1 argument")),
        },
        "url_param" | "urlp" => {
            let a = at_most(name, a, 2)?;
            let delim = match a.get(1).map(|d| d.as_bytes()) {
                None | Some([]) => None,
                Some([d]) => Some(*d),
                Some(_) => return Err(bad(name, "the delimiter must be one character")),
            };
            Fetch::UrlParam {
                name: optional_name(a, false),
                delim,
            }
        }
        "req.hdr" | "hdr" | "req.fhdr" | "res.hdr" | "res.fhdr" | "shdr" => {
            let a = at_most(name, a, 2)?;
            let occ = match a.get(1) {
                Some(o) => i32_arg(name, 1, o)?,
                None => 0,
            };
            Fetch::Hdr {
                name: optional_name(a, true),
                occ,
                full: base.ends_with("fhdr"),
                side: side_of(base),
            }
        }
        "req.hdr_cnt" | "hdr_cnt" | "req.fhdr_cnt" | "res.hdr_cnt" | "res.fhdr_cnt"
        | "shdr_cnt" => {
            let a = at_most(name, a, 1)?;
            Fetch::HdrCnt {
                name: optional_name(a, true),
                full: base.ends_with("fhdr_cnt"),
                side: side_of(base),
            }
        }
        "req.hdr_val" | "hdr_val" | "res.hdr_val" | "shdr_val" => {
            let a = at_most(name, a, 2)?;
            let occ = match a.get(1) {
                Some(o) => i32_arg(name, 1, o)?,
                None => 0,
            };
            Fetch::HdrVal {
                name: optional_name(a, true),
                occ,
                side: side_of(base),
            }
        }
        "status" => none(Fetch::Status)?,
        "var" => match a {
            [v] => Fetch::Var(VarName::parse(v).map_err(|m| bad(name, m))?),
            _ => return Err(bad(name, "expects exactly 1 argument")),
        },
        "req.cook" | "cook" => Fetch::Cook {
            name: optional_name(at_most(name, a, 1)?, false),
        },
        "req.cook_cnt" | "cook_cnt" => Fetch::CookCnt {
            name: optional_name(at_most(name, a, 1)?, false),
        },
        _ => {
            return Err(AclError::UnknownFetch {
                name: name.to_string(),
                expr: criterion.to_string(),
            })
        }
    };
    Ok((fetch, implied))
}

/// Whose headers a header fetch of this name reads.
fn side_of(fetch: &str) -> HdrSide {
    if fetch.starts_with("res.") || fetch.starts_with("shdr") {
        HdrSide::Response
    } else if fetch.starts_with("req.") {
        HdrSide::Request
    } else {
        HdrSide::Contextual
    }
}

/// A criterion's fetch and converters, the form `acl` lines and log-format `%[…]` share.
pub(super) fn parse_call_chain(word: &str) -> Result<(Fetch, Vec<Converter>), AclError> {
    let calls = split_calls(word)?;
    let Some((first, convs)) = calls.split_first() else {
        return Err(AclError::Syntax("missing sample fetch".into()));
    };
    let (fetch, derived) = fetch_of(&first.name, first.args.as_deref(), word)?;
    if derived.is_some() {
        // `path_beg` and friends exist only in ACLs: a sample has no matching method.
        return Err(AclError::UnknownFetch {
            name: first.name.clone(),
            expr: word.to_string(),
        });
    }
    let converters = convs
        .iter()
        .map(|c| converter_of(&first.name, c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((fetch, converters))
}

fn converter_of(fetch: &str, call: &Call) -> Result<Converter, AclError> {
    let name = call.name.as_str();
    let a = call.args.as_deref().unwrap_or(&[]);
    let keyword = format!("{fetch}' : converter '{name}");
    let none = |conv: Converter| at_most(&keyword, a, 0).map(|_| conv);
    let split = |words: bool| -> Result<Converter, AclError> {
        let (index, delims, count) = match a {
            [i, d] => (i, d, None),
            [i, d, c] => (i, d, Some(c)),
            _ => return Err(bad(&keyword, "expects 2 or 3 arguments")),
        };
        let index = i32_arg(&keyword, 0, index)?;
        if index == 0 {
            return Err(bad(&keyword, "the index must not be 0"));
        }
        let count = match count {
            Some(c) => i32_arg(&keyword, 2, c)?,
            None => 1,
        };
        let delims = delims.as_bytes().to_vec();
        Ok(if words {
            Converter::Word {
                index,
                delims,
                count,
            }
        } else {
            Converter::Field {
                index,
                delims,
                count,
            }
        })
    };
    match name {
        "lower" => none(Converter::Lower),
        "upper" => none(Converter::Upper),
        "host_only" => none(Converter::HostOnly),
        "port_only" => none(Converter::PortOnly),
        "length" => none(Converter::Length),
        "bool" => none(Converter::Bool),
        "not" => none(Converter::Not),
        "field" => split(false),
        "word" => split(true),
        "ltrim" | "rtrim" => match a {
            [chars] => {
                let chars = chars.as_bytes().to_vec();
                Ok(if name == "ltrim" {
                    Converter::Ltrim(chars)
                } else {
                    Converter::Rtrim(chars)
                })
            }
            _ => Err(bad(&keyword, "expects exactly 1 argument")),
        },
        "url_dec" => {
            let a = at_most(&keyword, a, 1)?;
            let form = match a.first() {
                Some(v) => int_arg(&keyword, 0, v)? != 0,
                None => false,
            };
            Ok(Converter::UrlDec { form })
        }
        "regsub" => {
            let (re, subst, flags) = match a {
                [r, s] => (r, s, ""),
                [r, s, f] => (r, s, f.as_str()),
                _ => return Err(bad(&keyword, "expects 2 or 3 arguments")),
            };
            let mut global = false;
            let mut icase = false;
            for f in flags.chars() {
                match f {
                    'g' => global = true,
                    'i' => icase = true,
                    other => return Err(bad(&keyword, format!("invalid regex flag '{other}'"))),
                }
            }
            let regex = regex::bytes::RegexBuilder::new(re)
                .unicode(false)
                .case_insensitive(icase)
                .build()
                .map_err(|e| AclError::BadRegex {
                    regex: re.clone(),
                    reason: e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or("invalid")
                        .trim()
                        .to_string(),
                })?;
            Ok(Converter::Regsub {
                regex,
                replacement: replacement_of(subst),
                global,
            })
        }
        _ => Err(AclError::UnknownConverter {
            fetch: fetch.to_string(),
            name: name.to_string(),
        }),
    }
}

/// HAProxy's `\N` back-references (and `\\` for a backslash) in `regex`'s `${N}` syntax.
fn replacement_of(subst: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(subst.len());
    let mut chars = subst.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(d) if d.is_ascii_digit() => {
                    out.extend_from_slice(format!("${{{d}}}").as_bytes());
                }
                Some(other) => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                }
                None => out.push(b'\\'),
            },
            '$' => out.extend_from_slice(b"$$"),
            other => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out
}

/// Parses `if|unless [!]a [!]b [||/or …] [!]{ expr }`; `Ok(None)` when the words do not
/// start with `if` or `unless`. Names are resolved later, once every `acl` line is known.
pub fn parse_condition(words: &[String]) -> Result<Option<Condition>, AclError> {
    let unless = match words.first().map(String::as_str) {
        Some("if") => false,
        Some("unless") => true,
        _ => return Ok(None),
    };
    let mut any_of: Vec<Vec<Term>> = vec![Vec::new()];
    let mut negated = false;
    let mut i = 1;
    while let Some(word) = words.get(i) {
        i += 1;
        let w = word.as_str();
        if w == "||" || w == "or" {
            if negated {
                return Err(AclError::Syntax("'!' must be followed by an ACL".into()));
            }
            any_of.push(Vec::new());
            continue;
        }
        // HAProxy takes `!` glued to the name or on its own (`! { … }`).
        let (neg, rest) = match w.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, w),
        };
        negated ^= neg;
        let acl = match rest {
            "" => continue,
            "{" => {
                let len = words
                    .get(i..)
                    .and_then(|tail| tail.iter().position(|w| w == "}"))
                    .ok_or_else(|| AclError::Syntax("missing closing '}' in condition.".into()))?;
                let inner = words.get(i..i + len).unwrap_or(&[]);
                i += len + 1;
                if inner.is_empty() {
                    return Err(AclError::Syntax(
                        "empty anonymous ACL ('{ }') in condition".into(),
                    ));
                }
                AclRef::Anonymous(Arc::new(parse_acl_expr(inner)?.expr))
            }
            "}" => return Err(AclError::Syntax("unexpected '}' in condition".into())),
            name => AclRef::Named(name.to_string()),
        };
        if let Some(group) = any_of.last_mut() {
            group.push(Term {
                negated: std::mem::take(&mut negated),
                acl,
            });
        }
    }
    if negated {
        return Err(AclError::Syntax("'!' must be followed by an ACL".into()));
    }
    if any_of.iter().any(Vec::is_empty) {
        return Err(AclError::Syntax("missing ACL name in condition".into()));
    }
    Ok(Some(Condition { unless, any_of }))
}

/// HAProxy's rule for ACL names: letters, digits, `-`, `_`, `.` and `:`.
pub fn check_name(name: &str) -> Result<(), AclError> {
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        Some(c) => Err(AclError::Syntax(format!(
            "ACL name '{name}' contains invalid character '{c}'"
        ))),
        None => Ok(()),
    }
}
