//! `http-request`, `http-response` and `redirect` rules: parsed here with HAProxy 2.6's
//! syntax, compiled against the proxy's ACLs at the end of the configuration, and run on the
//! shards in order until one stops the list (`allow`, `deny`, `return`, `redirect`, `auth`).

use std::sync::Arc;

use bytes::Bytes;

use super::acl::{self, CompiledCondition, SampleExpr, VarName};
use super::logformat::FormatString;
use super::model::{Condition, Location};
use super::units::is_token_byte;

/// Which list a rule belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSide {
    /// `http-request`.
    Request,
    /// `http-response`.
    Response,
}

impl RuleSide {
    /// The keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            RuleSide::Request => "http-request",
            RuleSide::Response => "http-response",
        }
    }
}

/// How `del-header -m` compares names.
#[derive(Debug, Clone)]
pub enum NameMatch {
    /// `str` (the default): the whole name, case-insensitively.
    Exact,
    /// `beg`.
    Prefix,
    /// `end`.
    Suffix,
    /// `sub`.
    Substring,
    /// `reg`.
    Regex(regex::bytes::Regex),
}

/// A header name and how to compare it with a message's names.
#[derive(Debug, Clone)]
pub struct HeaderName {
    /// As written, lower-cased for comparisons (regexes keep theirs).
    pub name: String,
    /// The comparison.
    pub method: NameMatch,
}

impl HeaderName {
    /// A plain name.
    pub fn exact(name: &str) -> Self {
        Self {
            name: name.to_ascii_lowercase(),
            method: NameMatch::Exact,
        }
    }

    /// Whether `candidate` (a message's header name) is this one.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let want = self.name.as_bytes();
        let lower_contains = |hay: &[u8]| {
            hay.windows(want.len().max(1))
                .any(|w| w.eq_ignore_ascii_case(want))
        };
        match &self.method {
            NameMatch::Exact => candidate.eq_ignore_ascii_case(want),
            NameMatch::Prefix => candidate
                .get(..want.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(want)),
            NameMatch::Suffix => candidate
                .len()
                .checked_sub(want.len())
                .and_then(|start| candidate.get(start..))
                .is_some_and(|s| s.eq_ignore_ascii_case(want)),
            NameMatch::Substring => want.is_empty() || lower_contains(candidate),
            NameMatch::Regex(re) => re.is_match(candidate),
        }
    }
}

/// The body of a `return` or `deny` answer.
#[derive(Debug, Clone)]
pub enum ReplyBody {
    /// No body (`return` without content).
    Empty,
    /// The proxy's error page for the status (`deny` without content, `default-errorfiles`).
    ErrorPage,
    /// A complete HTTP response read from a file (`errorfile`), sent as written.
    Raw(Bytes),
    /// `string S` or `file F`.
    Fixed(Bytes),
    /// `lf-string FMT`.
    Format(FormatString),
}

/// What `return` and `deny` answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// `status`/`deny_status`.
    pub status: u16,
    /// `content-type`.
    pub content_type: Option<String>,
    /// The body.
    pub body: ReplyBody,
    /// `hdr NAME FMT` lines.
    pub headers: Vec<(String, FormatString)>,
}

/// The three forms of `redirect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectKind {
    /// `location L`: L as it is.
    Location,
    /// `prefix P`: P before the request's path.
    Prefix,
    /// `scheme S`: S, `://`, the Host header, the path.
    Scheme,
}

/// A `redirect` rule's answer.
#[derive(Debug, Clone)]
pub struct Redirect {
    /// Which form.
    pub kind: RedirectKind,
    /// Its argument, a log-format string.
    pub value: FormatString,
    /// `code` (301, 302, 303, 307, 308); 302 by default.
    pub code: u16,
    /// `drop-query`.
    pub drop_query: bool,
    /// `append-slash`.
    pub append_slash: bool,
    /// `set-cookie NAME[=VALUE]`.
    pub set_cookie: Option<String>,
    /// `clear-cookie NAME[=]`.
    pub clear_cookie: Option<String>,
    /// `ignore-empty`: an empty Location skips the rule.
    pub ignore_empty: bool,
}

/// Which part of the request line a `set-*` action writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinePart {
    /// `set-method`.
    Method,
    /// `set-uri`: the whole target.
    Uri,
    /// `set-path`: the path, the query kept.
    Path,
    /// `set-pathq`: the path and the query.
    PathQuery,
    /// `set-query`: the query (after a `?`, even when empty).
    Query,
}

/// What a rule does.
#[derive(Debug, Clone)]
pub enum HttpAction {
    /// `allow`: stop the list, go on.
    Allow,
    /// `deny`: answer (403 by default) and stop.
    Deny(Reply),
    /// `return`: answer and stop.
    Return(Reply),
    /// `redirect`: answer with a Location and stop.
    Redirect(Redirect),
    /// `auth [realm R]`: answer 401 and stop.
    Auth {
        /// The realm, else the proxy's name.
        realm: Option<String>,
    },
    /// `set-header NAME FMT`: remove every NAME line, add one.
    SetHeader(HeaderName, FormatString),
    /// `add-header NAME FMT`.
    AddHeader(HeaderName, FormatString),
    /// `del-header NAME [-m METH]`.
    DelHeader(HeaderName),
    /// `replace-header NAME REGEX FMT`: a matching line's whole value is replaced.
    ReplaceHeader(HeaderName, regex::bytes::Regex, FormatString),
    /// `replace-value NAME REGEX FMT`: each matching comma-separated value is replaced.
    ReplaceValue(HeaderName, regex::bytes::Regex, FormatString),
    /// `set-method|set-uri|set-path|set-pathq|set-query FMT`.
    SetLine(LinePart, FormatString),
    /// `replace-path|replace-uri REGEX FMT`.
    ReplaceLine(LinePart, regex::bytes::Regex, FormatString),
    /// `set-status CODE [reason R]` (responses).
    SetStatus {
        /// The new code.
        code: u16,
        /// The reason phrase; HAProxy's for the code otherwise.
        reason: Option<String>,
    },
    /// `set-var(NAME) EXPR`.
    SetVar(VarName, SampleExpr),
    /// `unset-var(NAME)`.
    UnsetVar(VarName),
    /// `http-request capture SAMPLE len N`: the sample's value in request capture `slot`.
    Capture {
        /// What is captured.
        expr: SampleExpr,
        /// The most bytes kept.
        len: usize,
        /// Its index among the frontend's request captures (set when the line is applied).
        slot: usize,
    },
}

impl HttpAction {
    /// Whether the action ends the rule list when it runs.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            HttpAction::Allow
                | HttpAction::Deny(_)
                | HttpAction::Return(_)
                | HttpAction::Redirect(_)
                | HttpAction::Auth { .. }
        )
    }
}

/// A rule as written, its condition not yet resolved.
#[derive(Debug, Clone)]
pub struct HttpRuleDraft {
    /// What it does.
    pub action: HttpAction,
    /// When.
    pub condition: Option<Condition>,
    /// Where it was written.
    pub location: Location,
}

/// A rule ready for the shards.
#[derive(Debug, Clone)]
pub struct HttpRule {
    /// What it does.
    pub action: HttpAction,
    /// When it applies; always without one.
    pub condition: Option<Arc<CompiledCondition>>,
    /// Where it was written.
    pub location: Location,
}

/// Headers whose lines frame the message or belong to one hop: ringlb writes them itself, so
/// a rule that changes them could make the server read a different message than ringlb sent
/// (request smuggling) and is refused at load.
const MANAGED_HEADERS: [&str; 5] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
];

/// Whether `name` is one of the headers rules may not touch (a `-m reg` name could reach
/// one; the shards skip them).
pub fn is_managed(name: &[u8]) -> bool {
    MANAGED_HEADERS
        .iter()
        .any(|m| m.as_bytes().eq_ignore_ascii_case(name))
}

/// The actions HAProxy 2.6 has that ringlb does not implement, for a message that says so.
const UNSUPPORTED: [&str; 23] = [
    "tarpit",
    "track-sc0",
    "track-sc1",
    "track-sc2",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-set-gpt0",
    "set-src",
    "set-src-port",
    "set-dst",
    "set-dst-port",
    "set-log-level",
    "set-tos",
    "set-mark",
    "set-nice",
    "set-priority-class",
    "set-priority-offset",
    "set-timeout",
    "cache-use",
    "cache-store",
    "early-hint",
    "normalize-uri",
    "do-resolve",
];

/// Parses the words after `http-request`/`http-response`: an action, its arguments, and an
/// optional `if|unless` condition. `read_file` reads `file`/`errorfile` contents.
pub fn parse_rule(
    side: RuleSide,
    words: &[String],
    read_file: &dyn Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<(HttpAction, Option<Condition>), String> {
    let cond_at = words
        .iter()
        .position(|w| w == "if" || w == "unless")
        .unwrap_or(words.len());
    let (action_words, cond_words) = words.split_at(cond_at);
    let condition = acl::parse_condition(cond_words).map_err(|e| e.to_string())?;
    let Some((name, args)) = action_words.split_first() else {
        return Err(format!("'{}' expects an action", side.keyword()));
    };
    let action = parse_action(side, name, args, read_file)?;
    Ok((action, condition))
}

/// Parses the words after the `redirect` keyword (HAProxy's older form of
/// `http-request redirect`, still current in 2.6).
pub fn parse_redirect_rule(words: &[String]) -> Result<(HttpAction, Option<Condition>), String> {
    let cond_at = words
        .iter()
        .position(|w| w == "if" || w == "unless")
        .unwrap_or(words.len());
    let (args, cond_words) = words.split_at(cond_at);
    let condition = acl::parse_condition(cond_words).map_err(|e| e.to_string())?;
    Ok((HttpAction::Redirect(parse_redirect(args)?), condition))
}

fn parse_action(
    side: RuleSide,
    name: &str,
    args: &[String],
    read_file: &dyn Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<HttpAction, String> {
    let request = side == RuleSide::Request;
    let no_args = |action: HttpAction| {
        if args.is_empty() {
            Ok(action)
        } else {
            Err(format!(
                "'{name}' takes no argument (got '{}')",
                args.join(" ")
            ))
        }
    };
    let fmt = |text: &str| FormatString::parse(text).map_err(|e| format!("'{name}': {e}"));
    let header = |text: &str| -> Result<HeaderName, String> {
        let lower = text.to_ascii_lowercase();
        if MANAGED_HEADERS.contains(&lower.as_str()) {
            return Err(format!(
                "'{name} {text}': ringlb writes the '{text}' header itself (it frames the message or \
                 belongs to one hop), so rules may not change it"
            ));
        }
        if text.is_empty() || !text.bytes().all(is_token_byte) {
            return Err(format!("'{name}': '{text}' is not a valid header name"));
        }
        Ok(HeaderName::exact(text))
    };
    Ok(match (name, args) {
        ("allow", _) => no_args(HttpAction::Allow)?,
        // A denied response is the server's fault as far as the client can tell: 502.
        ("deny", _) => {
            let status = if request { 403 } else { 502 };
            HttpAction::Deny(parse_reply(name, args, status, true, read_file)?)
        }
        ("return", _) if request => {
            HttpAction::Return(parse_reply(name, args, 200, false, read_file)?)
        }
        ("redirect", _) if request => HttpAction::Redirect(parse_redirect(args)?),
        ("auth", []) if request => HttpAction::Auth { realm: None },
        ("auth", [realm_kw, realm]) if request && realm_kw == "realm" => HttpAction::Auth {
            realm: Some(realm.clone()),
        },
        ("auth", _) if request => return Err("'auth' expects nothing or 'realm <realm>'".into()),
        ("set-header" | "add-header", [h, value]) => {
            let h = header(h)?;
            let value = fmt(value)?;
            if name == "set-header" {
                HttpAction::SetHeader(h, value)
            } else {
                HttpAction::AddHeader(h, value)
            }
        }
        ("set-header" | "add-header", _) => {
            return Err(format!(
                "'{name}' expects exactly 2 arguments (a name and a value)"
            ))
        }
        ("del-header", [h]) => HttpAction::DelHeader(header(h)?),
        ("del-header", [h, m, method]) if m == "-m" => {
            let mut h = header(h)?;
            h.method = match method.as_str() {
                "str" => NameMatch::Exact,
                "beg" => NameMatch::Prefix,
                "end" => NameMatch::Suffix,
                "sub" => NameMatch::Substring,
                "reg" => NameMatch::Regex(regex(name, &h.name, true)?),
                other => {
                    return Err(format!(
                        "'del-header': unknown matching method '{other}' (expects str, beg, end, sub or reg)"
                    ))
                }
            };
            if !matches!(h.method, NameMatch::Exact | NameMatch::Regex(_)) {
                // A prefix or substring could reach a managed header: refuse those too.
                if let Some(m) = MANAGED_HEADERS.iter().find(|m| h.matches(m.as_bytes())) {
                    return Err(format!(
                        "'del-header {} -m {method}' would remove '{m}', which ringlb writes itself",
                        h.name
                    ));
                }
            }
            HttpAction::DelHeader(h)
        }
        ("del-header", _) => {
            return Err("'del-header' expects a name and optionally '-m <method>'".into())
        }
        ("replace-header" | "replace-value", [h, re, value]) => {
            let h = header(h)?;
            let re = regex(name, re, false)?;
            let value = fmt(value)?;
            if name == "replace-header" {
                HttpAction::ReplaceHeader(h, re, value)
            } else {
                HttpAction::ReplaceValue(h, re, value)
            }
        }
        ("replace-header" | "replace-value", _) => {
            return Err(format!(
                "'{name}' expects exactly 3 arguments (a name, a regex and a format)"
            ))
        }
        ("set-method" | "set-uri" | "set-path" | "set-pathq" | "set-query", [value]) if request => {
            let part = match name {
                "set-method" => LinePart::Method,
                "set-uri" => LinePart::Uri,
                "set-path" => LinePart::Path,
                "set-pathq" => LinePart::PathQuery,
                _ => LinePart::Query,
            };
            HttpAction::SetLine(part, fmt(value)?)
        }
        ("set-method" | "set-uri" | "set-path" | "set-pathq" | "set-query", _) if request => {
            return Err(format!("'{name}' expects exactly 1 argument"))
        }
        ("replace-path" | "replace-pathq" | "replace-uri", [re, value]) if request => {
            let part = match name {
                "replace-path" => LinePart::Path,
                "replace-pathq" => LinePart::PathQuery,
                _ => LinePart::Uri,
            };
            HttpAction::ReplaceLine(part, regex(name, re, false)?, fmt(value)?)
        }
        ("replace-path" | "replace-pathq" | "replace-uri", _) if request => {
            return Err(format!(
                "'{name}' expects exactly 2 arguments (a regex and a format)"
            ))
        }
        ("set-status", [code, rest @ ..]) if !request => {
            // An interim (1xx) status would make the client wait for another head.
            let code = status_code(name, code, 200, 999)?;
            let reason = match rest {
                [] => None,
                [kw, r] if kw == "reason" => Some(r.clone()),
                _ => {
                    return Err("'set-status' expects a code and optionally 'reason <text>'".into())
                }
            };
            if let Some(r) = &reason {
                if r.bytes().any(|b| b == b'\r' || b == b'\n') {
                    return Err("'set-status': the reason may not hold a line break".into());
                }
            }
            HttpAction::SetStatus { code, reason }
        }
        ("capture", [expr, len_kw, len]) if request && len_kw == "len" => {
            let len = len
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=65_535).contains(n))
                .ok_or_else(|| format!("'capture': 'len' expects a length between 1 and 65535 (got '{len}')"))?;
            HttpAction::Capture {
                expr: SampleExpr::parse(expr).map_err(|e| format!("'capture': {e}"))?,
                len,
                slot: 0,
            }
        }
        ("capture", [_, id_kw, _]) if request && id_kw == "id" => {
            return Err(
                "'capture … id N' needs 'declare capture', which ringlb does not support yet; use 'capture <sample> len <length>'".into(),
            )
        }
        ("capture", _) if request => {
            return Err("'capture' expects '<sample> len <length>'".into())
        }
        ("use-service", _) => {
            return Err(
                "'use-service' is only supported as 'http-request use-service prometheus-exporter'"
                    .into(),
            )
        }
        (other, _) if other.starts_with("set-var(") || other.starts_with("unset-var(") => {
            let unset = other.starts_with("unset-var(");
            let inner = other
                .split_once('(')
                .and_then(|(_, rest)| rest.strip_suffix(')'))
                .ok_or_else(|| format!("'{other}': missing ')' after the variable name"))?;
            let var = VarName::parse(inner).map_err(|e| format!("'{other}': {e}"))?;
            if unset {
                no_args(HttpAction::UnsetVar(var))?
            } else {
                match args {
                    [expr] => HttpAction::SetVar(
                        var,
                        SampleExpr::parse(expr).map_err(|e| format!("'{other}': {e}"))?,
                    ),
                    _ => return Err(format!("'{other}' expects exactly 1 sample expression")),
                }
            }
        }
        (other, _) if UNSUPPORTED.iter().any(|u| other.starts_with(u)) => {
            return Err(format!(
                "'{} {other}' is a HAProxy action that ringlb does not support yet",
                side.keyword()
            ))
        }
        (other, _) => {
            let known: &[&str] = if request {
                &[
                    "allow",
                    "deny",
                    "return",
                    "redirect",
                    "auth",
                    "set-header",
                    "add-header",
                    "del-header",
                    "replace-header",
                    "replace-value",
                    "set-method",
                    "set-uri",
                    "set-path",
                    "set-pathq",
                    "set-query",
                    "replace-path",
                    "replace-pathq",
                    "replace-uri",
                    "set-var(<name>)",
                    "unset-var(<name>)",
                ]
            } else {
                &[
                    "allow",
                    "deny",
                    "set-header",
                    "add-header",
                    "del-header",
                    "replace-header",
                    "replace-value",
                    "set-status",
                    "set-var(<name>)",
                    "unset-var(<name>)",
                ]
            };
            return Err(format!(
                "unknown action '{other}' for '{}' (supported: {})",
                side.keyword(),
                known.join(", ")
            ));
        }
    })
}

/// RFC 9110's token characters, what a header name may hold.
fn regex(action: &str, pattern: &str, icase: bool) -> Result<regex::bytes::Regex, String> {
    regex::bytes::RegexBuilder::new(pattern)
        .unicode(false)
        .case_insensitive(icase)
        .build()
        .map_err(|e| {
            let reason = e.to_string();
            let reason = reason
                .lines()
                .last()
                .unwrap_or("invalid")
                .trim()
                .to_string();
            format!("'{action}': regex '{pattern}' is invalid ({reason})")
        })
}

fn status_code(action: &str, text: &str, min: u16, max: u16) -> Result<u16, String> {
    text.parse::<u16>()
        .ok()
        .filter(|c| (min..=max).contains(c))
        .ok_or_else(|| {
            format!("'{action}': expects a status code between {min} and {max} (got '{text}')")
        })
}

/// `[status|deny_status N] [content-type T] [string S|lf-string F|file P|errorfile P|
/// default-errorfiles] [hdr NAME FMT]…`.
fn parse_reply(
    action: &str,
    args: &[String],
    default_status: u16,
    deny: bool,
    read_file: &dyn Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<Reply, String> {
    let mut reply = Reply {
        status: default_status,
        content_type: None,
        body: if deny {
            ReplyBody::ErrorPage
        } else {
            ReplyBody::Empty
        },
        headers: Vec::new(),
    };
    let mut i = 0;
    let arg = |i: usize, kw: &str| {
        args.get(i + 1)
            .ok_or_else(|| format!("'{action} {kw}' expects an argument"))
    };
    let mut body_set = false;
    while let Some(kw) = args.get(i) {
        match kw.as_str() {
            "status" | "deny_status" => {
                reply.status = status_code(action, arg(i, kw)?, 200, 599)?;
                i += 2;
            }
            "content-type" => {
                reply.content_type = Some(arg(i, kw)?.clone());
                i += 2;
            }
            "string" | "lf-string" | "file" | "lf-file" | "errorfile" => {
                if body_set {
                    return Err(format!("'{action}': only one payload may be given"));
                }
                body_set = true;
                let value = arg(i, kw)?;
                reply.body = match kw.as_str() {
                    "string" => ReplyBody::Fixed(Bytes::from(value.clone().into_bytes())),
                    "lf-string" => ReplyBody::Format(
                        FormatString::parse(value).map_err(|e| format!("'{action}': {e}"))?,
                    ),
                    "file" => ReplyBody::Fixed(Bytes::from(
                        read_file(value).map_err(|e| format!("'{action} file {value}': {e}"))?,
                    )),
                    "lf-file" => {
                        let text = read_file(value)
                            .map_err(|e| format!("'{action} lf-file {value}': {e}"))?;
                        ReplyBody::Format(
                            FormatString::parse(&String::from_utf8_lossy(&text))
                                .map_err(|e| format!("'{action}': {e}"))?,
                        )
                    }
                    _ => {
                        let content = read_file(value)
                            .map_err(|e| format!("'{action} errorfile {value}': {e}"))?;
                        super::errorpage::validate_errorfile(&content, usize::MAX)
                            .map_err(|e| format!("'{action} errorfile {value}': the file {e}"))?;
                        ReplyBody::Raw(Bytes::from(content))
                    }
                };
                i += 2;
            }
            "default-errorfiles" => {
                if body_set {
                    return Err(format!("'{action}': only one payload may be given"));
                }
                body_set = true;
                reply.body = ReplyBody::ErrorPage;
                i += 1;
            }
            "hdr" => {
                let (Some(name), Some(value)) = (args.get(i + 1), args.get(i + 2)) else {
                    return Err(format!("'{action} hdr' expects a name and a value"));
                };
                let lower = name.to_ascii_lowercase();
                if MANAGED_HEADERS.contains(&lower.as_str()) || lower == "content-type" {
                    return Err(format!(
                        "'{action} hdr {name}': this header is written by ringlb (use content-type for the type)"
                    ));
                }
                if !name.bytes().all(is_token_byte) {
                    return Err(format!("'{action} hdr': '{name}' is not a valid header name"));
                }
                let value =
                    FormatString::parse(value).map_err(|e| format!("'{action}': {e}"))?;
                reply.headers.push((name.clone(), value));
                i += 3;
            }
            other => {
                return Err(format!(
                    "'{action}': unexpected '{other}' (expects status, content-type, string, lf-string, \
                     file, lf-file, errorfile, default-errorfiles or hdr)"
                ))
            }
        }
    }
    let has_payload = matches!(reply.body, ReplyBody::Fixed(_) | ReplyBody::Format(_));
    if has_payload && reply.content_type.is_none() {
        return Err(format!("'{action}': a payload needs a 'content-type'"));
    }
    if !has_payload && reply.content_type.is_some() {
        return Err(format!(
            "'{action}': 'content-type' given without a payload"
        ));
    }
    if matches!(reply.body, ReplyBody::Raw(_)) && !reply.headers.is_empty() {
        return Err(format!(
            "'{action}': 'hdr' cannot be combined with 'errorfile'"
        ));
    }
    Ok(reply)
}

/// `location|prefix|scheme VALUE [code N] [drop-query] [append-slash] [set-cookie C]
/// [clear-cookie C]`.
fn parse_redirect(args: &[String]) -> Result<Redirect, String> {
    let (Some(kind), Some(value)) = (args.first(), args.get(1)) else {
        return Err("'redirect' expects 'location', 'prefix' or 'scheme' and a value".into());
    };
    let kind = match kind.as_str() {
        "location" => RedirectKind::Location,
        "prefix" => RedirectKind::Prefix,
        "scheme" => RedirectKind::Scheme,
        other => {
            return Err(format!(
                "'redirect': expects 'location', 'prefix' or 'scheme' (got '{other}')"
            ))
        }
    };
    let mut redirect = Redirect {
        kind,
        value: FormatString::parse(value).map_err(|e| format!("'redirect': {e}"))?,
        code: 302,
        drop_query: false,
        append_slash: false,
        set_cookie: None,
        clear_cookie: None,
        ignore_empty: false,
    };
    let mut i = 2;
    while let Some(kw) = args.get(i) {
        let arg = || {
            args.get(i + 1)
                .ok_or_else(|| format!("'redirect {kw}' expects an argument"))
        };
        match kw.as_str() {
            "code" => {
                let code = arg()?;
                redirect.code = code
                    .parse()
                    .ok()
                    .filter(|c| [301, 302, 303, 307, 308].contains(c))
                    .ok_or_else(|| {
                        format!("'redirect': unsupported HTTP code '{code}' (expects 301, 302, 303, 307 or 308)")
                    })?;
                i += 2;
            }
            "drop-query" => {
                redirect.drop_query = true;
                i += 1;
            }
            "append-slash" => {
                redirect.append_slash = true;
                i += 1;
            }
            "set-cookie" | "clear-cookie" => {
                let cookie = arg()?;
                if cookie.bytes().any(|b| b.is_ascii_control() || b == b';') {
                    return Err(format!("'redirect {kw}': invalid cookie '{cookie}'"));
                }
                if kw == "set-cookie" {
                    redirect.set_cookie = Some(cookie.clone());
                } else {
                    redirect.clear_cookie = Some(cookie.clone());
                }
                i += 2;
            }
            "ignore-empty" => {
                redirect.ignore_empty = true;
                i += 1;
            }
            other => {
                return Err(format!(
                    "'redirect': unexpected '{other}' (expects code, drop-query, append-slash, set-cookie or clear-cookie)"
                ))
            }
        }
    }
    Ok(redirect)
}

/// Compiles each rule's condition against `acls`; errors name the rule's line.
pub fn compile(
    rules: &[HttpRuleDraft],
    acls: &[super::model::Acl],
    what: &str,
    diag: &mut super::error::Diagnostics,
) -> Vec<HttpRule> {
    rules
        .iter()
        .filter_map(|rule| {
            if what == "http-response" {
                if let Some(c) = &rule.condition {
                    warn_request_only(c, acls, &rule.location, diag);
                }
            }
            let condition =
                acl::compile_reported(rule.condition.as_ref(), acls, &rule.location, what, diag)?;
            Some(HttpRule {
                action: rule.action.clone(),
                condition,
                location: rule.location.clone(),
            })
        })
        .collect()
}

/// HAProxy's warning for an ACL of a response rule that reads the request, which is gone by
/// then: it never matches.
fn warn_request_only(
    condition: &Condition,
    acls: &[super::model::Acl],
    at: &Location,
    diag: &mut super::error::Diagnostics,
) {
    use super::acl::{Fetch, HdrSide};
    use super::model::{AclRef, AclTest};
    let request_only = |fetch: &Fetch| match fetch {
        Fetch::Path
        | Fetch::Url
        | Fetch::Query
        | Fetch::Base
        | Fetch::UrlParam { .. }
        | Fetch::Cook { .. }
        | Fetch::CookCnt { .. }
        | Fetch::ReqLen => true,
        Fetch::Hdr { side, .. } | Fetch::HdrCnt { side, .. } | Fetch::HdrVal { side, .. } => {
            *side == HdrSide::Request
        }
        _ => false,
    };
    for term in condition.any_of.iter().flatten() {
        let (label, exprs): (String, Vec<&super::acl::AclExpr>) = match &term.acl {
            AclRef::Anonymous(expr) => ("anonymous acl".into(), vec![expr]),
            AclRef::Named(name) => (
                format!("acl '{name}'"),
                acls.iter()
                    .filter(|a| &a.name == name)
                    .filter_map(|a| match &a.test {
                        AclTest::Expr(expr) => Some(&**expr),
                        _ => None,
                    })
                    .collect(),
            ),
        };
        if let Some(expr) = exprs.into_iter().find(|e| request_only(&e.fetch)) {
            let keyword = expr.source.split_whitespace().next().unwrap_or("");
            diag.warn(
                at,
                format!(
                    "{label} will never match because it uses keyword '{keyword}' which is incompatible with an 'http-response' rule (the request is gone by then; keep what you need with 'http-request set-var')"
                ),
            );
        }
    }
}

/// Applies an `http-request`, `http-response` or `redirect` line to `draft`; the names its
/// condition uses are checked once every `acl` line is known.
pub fn parse_line(
    draft: &mut super::draft::ProxyDraft,
    line: &super::lexer::Line,
    diag: &mut super::error::Diagnostics,
) {
    let at = &line.location;
    let Some((keyword, words)) = line.words.split_first() else {
        return;
    };
    let read_file = |path: &str| std::fs::read(path).map_err(|e| e.to_string());
    let parsed = match keyword.as_str() {
        "redirect" => parse_redirect_rule(words),
        "http-response" => parse_rule(RuleSide::Response, words, &read_file),
        _ => parse_rule(RuleSide::Request, words, &read_file),
    };
    let (mut action, condition) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => {
            diag.error(at, format!("'{keyword}': {message}"));
            return;
        }
    };
    if let HttpAction::Capture { len, slot, .. } = &mut action {
        if draft.proxy.kind == super::model::ProxyKind::Backend {
            diag.error(at, "'http-request capture <sample> len <length>' is only allowed in a frontend or listen section");
            return;
        }
        *slot = draft.proxy.captures.iter().filter(|c| !c.response).count();
        draft.proxy.captures.push(super::logfields::HeaderCapture {
            response: false,
            name: String::new(),
            len: *len,
            from_rule: true,
        });
    }
    if let Some(c) = &condition {
        for term in c.any_of.iter().flatten() {
            if let super::model::AclRef::Named(name) = &term.acl {
                draft.acl_uses.push((name.clone(), at.clone()));
            }
        }
    }
    let rule = HttpRuleDraft {
        action,
        condition,
        location: at.clone(),
    };
    match keyword.as_str() {
        "redirect" => draft.redirects.push(rule),
        "http-response" => draft.http_response.push(rule),
        _ => draft.http_request.push(rule),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_sources;

    fn with_rules(rules: &str) -> String {
        format!(
            "defaults\n mode http\nfrontend f\n bind 127.0.0.1:8080\n{rules}\n default_backend b\nbackend b\n server s 127.0.0.1:8081\n"
        )
    }

    fn error_of(rules: &str) -> String {
        match load_sources(&[("t.cfg".to_string(), with_rules(rules))]) {
            Ok(_) => panic!("accepted: {rules}"),
            Err(e) => {
                e.0.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
    }

    #[test]
    fn rules_compile_in_order_with_their_conditions() {
        let text = with_rules(
            " acl api path_beg /api\n http-request set-header X-A %[src] if api\n http-request deny unless { src 10.0.0.0/8 }\n redirect scheme https code 301 if !api\n http-response set-status 203 reason Fine",
        );
        let loaded = load_sources(&[("t.cfg".to_string(), text)]).unwrap();
        let fe = &loaded.config.proxies[0];
        assert_eq!(fe.http_request.len(), 2);
        assert!(matches!(
            fe.http_request[0].action,
            HttpAction::SetHeader(..)
        ));
        assert!(fe.http_request[0].condition.is_some());
        assert!(matches!(&fe.http_request[1].action, HttpAction::Deny(r) if r.status == 403));
        assert!(matches!(&fe.redirects[0].action, HttpAction::Redirect(r) if r.code == 301));
        assert!(matches!(
            &fe.http_response[0].action,
            HttpAction::SetStatus { code: 203, reason: Some(r) } if r == "Fine"
        ));
    }

    #[test]
    fn mistakes_name_the_line_and_what_is_wrong() {
        for (rule, wanted) in [
            (
                " http-request replace-header X ([a- y",
                "regex '([a-' is invalid",
            ),
            (
                " http-request set-header Content-Length 5",
                "writes the 'Content-Length' header itself",
            ),
            (
                " http-response del-header Transfer-Encoding",
                "rules may not change it",
            ),
            (
                " http-request del-header con -m beg",
                "would remove 'content-length'",
            ),
            (" http-request frobnicate", "unknown action 'frobnicate'"),
            (" http-request track-sc0 src", "does not support yet"),
            (
                " http-request set-status 200",
                "unknown action 'set-status'",
            ),
            (
                " http-request redirect location /x code 305",
                "unsupported HTTP code '305'",
            ),
            (
                " http-request return string hi",
                "a payload needs a 'content-type'",
            ),
            (
                " http-request set-var(proc.x) src",
                "'proc' scope is not supported",
            ),
            (" http-request set-header X %[nosuch]", "nosuch"),
            (" http-request set-header X %[path", "missing ']'"),
            (
                " http-request set-header X a b",
                "expects exactly 2 arguments",
            ),
            (" http-request deny if nosuchacl", "no such ACL"),
            (
                " http-request set-header X\\ Y v",
                "not a valid header name",
            ),
        ] {
            let e = error_of(rule);
            assert!(e.contains("t.cfg:5"), "{rule}: no location in {e}");
            assert!(e.contains(wanted), "{rule}: expected '{wanted}' in {e}");
        }
    }

    #[test]
    fn response_rules_reading_the_request_warn_as_haproxy() {
        let text = with_rules(
            " acl is_api path_beg /api\n http-response set-header X-A 1 if { path_beg /x }\n http-response set-header X-B 1 if is_api\n http-response set-header X-C 1 if { status 200 } { res.hdr(x) -m found }",
        );
        let loaded = load_sources(&[("t.cfg".to_string(), text)]).unwrap();
        let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
        let never = |what: &str| {
            warnings
                .iter()
                .any(|w| w.contains(what) && w.contains("will never match"))
        };
        assert!(never("anonymous acl"), "{warnings:?}");
        assert!(never("acl 'is_api'"), "{warnings:?}");
        assert_eq!(
            warnings
                .iter()
                .filter(|w| w.contains("will never match"))
                .count(),
            2,
            "{warnings:?}"
        );
    }

    #[test]
    fn header_names_match_as_del_header_m_says() {
        let name = |n: &str, m: NameMatch| HeaderName {
            name: n.to_string(),
            method: m,
        };
        assert!(HeaderName::exact("X-A").matches(b"x-a"));
        assert!(!HeaderName::exact("X-A").matches(b"x-ab"));
        assert!(name("x-", NameMatch::Prefix).matches(b"X-Anything"));
        assert!(name("-id", NameMatch::Suffix).matches(b"Request-ID"));
        assert!(name("forw", NameMatch::Substring).matches(b"X-Forwarded-For"));
        let re = regex::bytes::RegexBuilder::new("^x-[0-9]+$")
            .case_insensitive(true)
            .build()
            .unwrap();
        assert!(name("", NameMatch::Regex(re)).matches(b"X-42"));
    }
}
