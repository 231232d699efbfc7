//! HAProxy's ACL engine: `acl` lines and anonymous `{ … }` expressions parsed at load
//! ([`parse`]), their patterns compiled once into lookup structures ([`pattern`]), and
//! conditions evaluated against any request that implements [`RequestView`] ([`eval`]).
//!
//! It lives under `config/` so that both planes may use it without importing each other:
//! the control thread's stats page and, later, the shards' content switching.

pub mod eval;
pub mod parse;
pub mod pattern;
pub mod payload;
pub mod sample;

#[cfg(test)]
mod tests;

pub use eval::{CompiledAcl, CompiledCondition, RequestView};
pub use parse::{parse_acl_expr, parse_condition, predefined, PREDEFINED};
pub use pattern::Patterns;
pub use sample::{SampleExpr, VarName};

/// A rule's optional condition compiled against `acls`: `Some(None)` for a rule without one,
/// `None` when it does not compile (reported at `at`, the rule named by `label`).
pub fn compile_reported(
    condition: Option<&crate::config::model::Condition>,
    acls: &[crate::config::model::Acl],
    at: &crate::config::model::Location,
    label: &str,
    diag: &mut crate::config::error::Diagnostics,
) -> Option<Option<std::sync::Arc<CompiledCondition>>> {
    match condition.map(|c| CompiledCondition::compile(c, acls)) {
        None => Some(None),
        Some(Ok(compiled)) => Some(Some(std::sync::Arc::new(compiled))),
        Some(Err(e)) => {
            diag.error(at, format!("'{label}': {e}"));
            None
        }
    }
}

/// Why an ACL expression or condition was refused, worded as HAProxy words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    /// The criterion names no fetch HAProxy knows (or ringlb supports).
    #[error("unknown fetch method '{name}' in ACL expression '{expr}'.")]
    UnknownFetch {
        /// The fetch name.
        name: String,
        /// The whole criterion word.
        expr: String,
    },
    /// A converter name is unknown.
    #[error("ACL keyword '{fetch}' : unknown converter '{name}'.")]
    UnknownConverter {
        /// The fetch it follows.
        fetch: String,
        /// The converter name.
        name: String,
    },
    /// A fetch or converter argument is wrong.
    #[error("ACL keyword '{keyword}' : {message}.")]
    BadArgument {
        /// The fetch or converter.
        keyword: String,
        /// What is wrong.
        message: String,
    },
    /// `-m` names no matching method.
    #[error("unknown matching method '{0}' when parsing ACL expression.")]
    UnknownMethod(String),
    /// The matching method cannot apply to the sample's type.
    #[error("matching method '{method}' cannot be used with fetch '{fetch}'.")]
    IncompatibleMethod {
        /// `-m` argument.
        method: String,
        /// The criterion.
        fetch: String,
    },
    /// A flag lacks its argument, or an unsupported flag was given.
    #[error("{0}")]
    Flag(String),
    /// A regular expression does not compile.
    #[error("regex '{regex}' is invalid ({reason}).")]
    BadRegex {
        /// The pattern.
        regex: String,
        /// The compiler's words.
        reason: String,
    },
    /// An address pattern is wrong.
    #[error("'{0}' is not a valid IPv4 or IPv6 address.")]
    BadAddress(String),
    /// An integer pattern is wrong.
    #[error("'{0}' is not a valid number range.")]
    BadInteger(String),
    /// A `-f` file could not be read.
    #[error("failed to open pattern file <{path}>.")]
    FileOpen {
        /// The path as given.
        path: String,
    },
    /// A pattern read from a `-f` file is wrong.
    #[error("{reason} (file '{path}' line {line})")]
    InFile {
        /// The path as given.
        path: String,
        /// One-based line of the file.
        line: usize,
        /// What is wrong with it.
        reason: Box<AclError>,
    },
    /// A condition names an ACL that is neither declared nor predefined.
    #[error("no such ACL : '{0}'.")]
    NoSuchAcl(String),
    /// A condition's words do not form one.
    #[error("{0}")]
    Syntax(String),
}

/// How samples are compared with patterns (`-m`, or implied by the criterion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchMethod {
    /// `found`: a sample exists.
    Found,
    /// `bool`: the sample is true or a non-zero integer.
    Bool,
    /// `int`: integer ranges.
    Int,
    /// `ip`: addresses and networks.
    Ip,
    /// `str`: exact string.
    Str,
    /// `beg`: prefix.
    Beg,
    /// `end`: suffix.
    End,
    /// `sub`: substring.
    Sub,
    /// `reg`: regular expression.
    Reg,
    /// `dom`: a `.`/`:`/`/`/`?`-delimited portion.
    Dom,
    /// `dir`: a `/`/`?`-delimited portion.
    Dir,
    /// `len`: the sample's length against integer ranges.
    Len,
    /// The `method` criterion's own matching (known methods by identity, others by string).
    Meth,
}

impl MatchMethod {
    /// The `-m` name.
    pub fn name(self) -> &'static str {
        match self {
            MatchMethod::Found => "found",
            MatchMethod::Bool => "bool",
            MatchMethod::Int => "int",
            MatchMethod::Ip => "ip",
            MatchMethod::Str => "str",
            MatchMethod::Beg => "beg",
            MatchMethod::End => "end",
            MatchMethod::Sub => "sub",
            MatchMethod::Reg => "reg",
            MatchMethod::Dom => "dom",
            MatchMethod::Dir => "dir",
            MatchMethod::Len => "len",
            MatchMethod::Meth => "meth",
        }
    }
}

/// The type a fetch or converter produces, which picks the default matching method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleType {
    /// `boolean`.
    Bool,
    /// `integer`.
    Int,
    /// `ip`.
    Ip,
    /// `string`.
    Str,
    /// `method`: integer + string.
    Meth,
    /// `any` (`var`): the type is only known at run time, so ACLs must name a method.
    Any,
}

/// A sample fetch of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// `always_true`.
    AlwaysTrue,
    /// `always_false`.
    AlwaysFalse,
    /// `wait_end`: true once the analysis may end, which is at once for HTTP rules.
    WaitEnd,
    /// `req.proto_http`: the request is valid HTTP.
    ProtoHttp,
    /// `int(N)`.
    Int(i64),
    /// `str(S)`.
    Str(Vec<u8>),
    /// `path`: from the first slash to before `?`.
    Path,
    /// `url`: the request target as sent.
    Url,
    /// `query`: after the first `?`; absent without one.
    Query,
    /// `base`: the first Host value followed by the path.
    Base,
    /// `url_param`/`urlp([NAME[,DELIM]])`.
    UrlParam {
        /// Parameter name (case-sensitive); `None` matches every parameter.
        name: Option<Vec<u8>>,
        /// An extra delimiter besides `?`, `&` and `;`.
        delim: Option<u8>,
    },
    /// `req.hdr`/`hdr`/`req.fhdr([NAME[,OCC]])` and their `res.` forms.
    Hdr {
        /// Lower-cased header name; `None` reads every header.
        name: Option<Vec<u8>>,
        /// 0: every occurrence; >0 from the first; <0 from the last.
        occ: i32,
        /// `req.fhdr`: whole lines, commas are not delimiters.
        full: bool,
        /// Which message's headers.
        side: HdrSide,
    },
    /// `req.hdr_cnt`/`hdr_cnt`/`req.fhdr_cnt([NAME])` and their `res.` forms.
    HdrCnt {
        /// Lower-cased header name; `None` counts every header.
        name: Option<Vec<u8>>,
        /// `req.fhdr_cnt`: lines, not comma-separated values.
        full: bool,
        /// Which message's headers.
        side: HdrSide,
    },
    /// `req.hdr_val`/`hdr_val([NAME[,OCC]])`: a header's value as an integer.
    HdrVal {
        /// Lower-cased header name.
        name: Option<Vec<u8>>,
        /// As in [`Fetch::Hdr`].
        occ: i32,
        /// Which message's headers.
        side: HdrSide,
    },
    /// `status`: the response's status code.
    Status,
    /// `var(SCOPE.NAME)`.
    Var(VarName),
    /// `req.cook`/`cook([NAME])`.
    Cook {
        /// Cookie name (case-sensitive); `None` reads every cookie.
        name: Option<Vec<u8>>,
    },
    /// `req.cook_cnt`/`cook_cnt([NAME])`.
    CookCnt {
        /// Cookie name; `None` counts every cookie.
        name: Option<Vec<u8>>,
    },
    /// `method`.
    Method,
    /// `req.ver`: "1.0", "1.1".
    ReqVer,
    /// `req.len`: bytes in the request buffer.
    ReqLen,
    /// `src`.
    Src,
    /// `src_port`.
    SrcPort,
    /// `dst`.
    Dst,
    /// `dst_port`.
    DstPort,
    /// `ssl_fc`.
    SslFc,
    /// `req.payload(OFFSET,LEN)`: buffered request bytes (`mode tcp` inspection).
    Payload {
        /// From the start of the buffer.
        offset: usize,
        /// Bytes wanted; 0 reads to the end of what is buffered.
        len: usize,
    },
    /// `req.payload_lv(OFFSET1,LEN1[,OFFSET2])`: a length-prefixed block of the buffer.
    PayloadLv {
        /// Where the length field starts.
        len_offset: usize,
        /// Its size in bytes (1 to 4, big-endian).
        len_size: usize,
        /// Where the block starts.
        start: payload::LvStart,
    },
    /// `req_ssl_hello_type`/`req.ssl_hello_type`: the TLS handshake type buffered.
    SslHelloType,
    /// `req_ssl_sni`/`req.ssl_sni`: the server name of a buffered TLS ClientHello.
    SslSni,
    /// `req.rdp_cookie([NAME])`: the value of the cookie in a buffered RDP connection
    /// request (`NAME` empty: whichever cookie it carries).
    RdpCookie {
        /// The cookie's name, matched case-insensitively.
        name: Vec<u8>,
    },
    /// `req.rdp_cookie_cnt([NAME])`: 1 when the buffered RDP request carries that cookie.
    RdpCookieCnt {
        /// The cookie's name, matched case-insensitively.
        name: Vec<u8>,
    },
}

/// Whose headers a header fetch reads: `hdr` reads the message being analysed, `req.hdr`
/// the request's, `res.hdr`/`shdr` the response's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HdrSide {
    /// The request in request rules, the response in response rules.
    Contextual,
    /// Always the request.
    Request,
    /// Always the response.
    Response,
}

impl Fetch {
    /// The type it produces.
    pub fn output(&self) -> SampleType {
        match self {
            Fetch::AlwaysTrue | Fetch::AlwaysFalse | Fetch::WaitEnd | Fetch::ProtoHttp => {
                SampleType::Bool
            }
            Fetch::SslFc => SampleType::Bool,
            Fetch::SslHelloType => SampleType::Int,
            Fetch::Payload { .. }
            | Fetch::PayloadLv { .. }
            | Fetch::SslSni
            | Fetch::RdpCookie { .. } => SampleType::Str,
            Fetch::RdpCookieCnt { .. } => SampleType::Int,
            Fetch::Int(_)
            | Fetch::HdrCnt { .. }
            | Fetch::HdrVal { .. }
            | Fetch::CookCnt { .. }
            | Fetch::ReqLen
            | Fetch::Status
            | Fetch::SrcPort
            | Fetch::DstPort => SampleType::Int,
            Fetch::Src | Fetch::Dst => SampleType::Ip,
            Fetch::Method => SampleType::Meth,
            Fetch::Str(_)
            | Fetch::Path
            | Fetch::Url
            | Fetch::Query
            | Fetch::Base
            | Fetch::UrlParam { .. }
            | Fetch::Hdr { .. }
            | Fetch::Cook { .. }
            | Fetch::ReqVer => SampleType::Str,
            Fetch::Var(_) => SampleType::Any,
        }
    }

    /// Whether it reads the connection only (addresses, constants), so a
    /// `tcp-request connection` rule can use it: nothing has been read yet there.
    pub fn is_connection_level(&self) -> bool {
        matches!(
            self,
            Fetch::AlwaysTrue
                | Fetch::AlwaysFalse
                | Fetch::Int(_)
                | Fetch::Str(_)
                | Fetch::Src
                | Fetch::SrcPort
                | Fetch::Dst
                | Fetch::DstPort
                | Fetch::SslFc
        )
    }

    /// Whether it reads the buffered request bytes (so a rule using it may wait for them).
    pub fn reads_payload(&self) -> bool {
        matches!(
            self,
            Fetch::ReqLen
                | Fetch::Payload { .. }
                | Fetch::PayloadLv { .. }
                | Fetch::SslHelloType
                | Fetch::SslSni
                | Fetch::RdpCookie { .. }
                | Fetch::RdpCookieCnt { .. }
        )
    }
}

/// A converter applied to the fetched sample.
#[derive(Debug, Clone)]
pub enum Converter {
    /// `lower`.
    Lower,
    /// `upper`.
    Upper,
    /// `host_only`: a Host value without its port, lower-cased.
    HostOnly,
    /// `port_only`: a Host value's port, 0 without one.
    PortOnly,
    /// `length`.
    Length,
    /// `field(INDEX,DELIMS[,COUNT])`.
    Field {
        /// 1-based from the start, or negative from the end.
        index: i32,
        /// Delimiter characters.
        delims: Vec<u8>,
        /// Fields to keep; 0 keeps every remaining one.
        count: i32,
    },
    /// `word(INDEX,DELIMS[,COUNT])`: as `field`, empty words skipped.
    Word {
        /// 1-based from the start, or negative from the end.
        index: i32,
        /// Delimiter characters.
        delims: Vec<u8>,
        /// Words to keep; 0 keeps every remaining one.
        count: i32,
    },
    /// `ltrim(CHARS)`.
    Ltrim(Vec<u8>),
    /// `rtrim(CHARS)`.
    Rtrim(Vec<u8>),
    /// `regsub(RE,SUBST[,FLAGS])`.
    Regsub {
        /// The compiled expression.
        regex: regex::bytes::Regex,
        /// The substitution in `regex`'s `${N}` syntax.
        replacement: Vec<u8>,
        /// Flag `g`.
        global: bool,
    },
    /// `url_dec([IN_FORM])`.
    UrlDec {
        /// `+` decodes to a space everywhere (else only after `?`).
        form: bool,
    },
    /// `bool`: non-zero integer.
    Bool,
    /// `not`: zero integer.
    Not,
}

impl Converter {
    /// The type it produces.
    pub fn output(&self) -> SampleType {
        match self {
            Converter::PortOnly | Converter::Length => SampleType::Int,
            Converter::Bool | Converter::Not => SampleType::Bool,
            _ => SampleType::Str,
        }
    }
}

/// One ACL expression: a fetch, its converters, a matching method and its patterns.
#[derive(Debug, Clone)]
pub struct AclExpr {
    /// The words it was written with, for messages and comparisons.
    pub source: String,
    /// What is read from the request.
    pub fetch: Fetch,
    /// Applied in order to each fetched value.
    pub converters: Vec<Converter>,
    /// How values are compared with the patterns.
    pub method: MatchMethod,
    /// The compiled patterns.
    pub patterns: Patterns,
}

// Regexes do not compare; what was written identifies an expression well enough for tests
// and for telling two configurations apart.
impl PartialEq for AclExpr {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for AclExpr {}
