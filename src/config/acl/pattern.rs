//! An ACL's patterns compiled once at load into the structure its matching method wants:
//! hash sets for exact strings, per-length hash sets for prefixes and suffixes, an
//! Aho-Corasick automaton for substrings, one `RegexSet` for regexes, networks for addresses
//! and ranges for integers. The configuration is shared by every shard, so all of it is
//! immutable after [`Patterns::compile`].

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder};
use regex::bytes::{RegexSet, RegexSetBuilder};

use super::{AclError, MatchMethod};

/// One pattern as written (or read from a `-f` file), before compilation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPattern {
    /// Its bytes.
    pub text: Vec<u8>,
    /// `-i` was in effect when it was given.
    pub icase: bool,
    /// The `-f` file and line it came from, for messages.
    pub origin: Option<(String, usize)>,
}

/// An ACL's compiled patterns.
#[derive(Debug, Clone)]
pub struct Patterns {
    count: usize,
    compiled: Compiled,
}

#[derive(Debug, Clone)]
enum Compiled {
    None,
    Str(Exact),
    Beg(Affix),
    End(Affix),
    Sub {
        exact: Option<AhoCorasick>,
        folded: Option<AhoCorasick>,
    },
    Reg(Option<RegexSet>),
    Words {
        delims: &'static [u8],
        list: Vec<(Vec<u8>, bool)>,
    },
    Int(Vec<Range>),
    Ip(Vec<Net>),
    Meth(Vec<Meth>),
}

#[derive(Debug, Clone, Default)]
struct Exact {
    exact: HashSet<Box<[u8]>>,
    folded: HashSet<Box<[u8]>>,
    max_folded: usize,
}

/// Patterns grouped by length, so a prefix test is one hash lookup per distinct length.
#[derive(Debug, Clone, Default)]
struct Affix {
    exact: Vec<(usize, HashSet<Box<[u8]>>)>,
    folded: Vec<(usize, HashSet<Box<[u8]>>)>,
    max_folded: usize,
}

/// Inclusive bounds; `None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    min: Option<i64>,
    max: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Net {
    V4 { addr: u32, mask: u32 },
    V6 { addr: u128, mask: u128 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Meth {
    Known(usize),
    Other(Vec<u8>, bool),
}

/// The methods HAProxy identifies; any other one compares as a string.
const KNOWN_METHODS: [&[u8]; 8] = [
    b"OPTIONS", b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"TRACE", b"CONNECT",
];

/// HAProxy's `eq`, `ge`, `gt`, `le`, `lt` before integer patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntOp {
    Eq,
    Ge,
    Gt,
    Le,
    Lt,
}

/// Most header values and paths fit; longer ones are folded on the heap.
const STACK_FOLD: usize = 256;

/// Calls `f` with `s` lower-cased, on the stack when it is short.
pub fn with_lower<R>(s: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    let mut stack = [0u8; STACK_FOLD];
    match stack.get_mut(..s.len()) {
        Some(buf) => {
            for (d, c) in buf.iter_mut().zip(s) {
                *d = c.to_ascii_lowercase();
            }
            f(buf)
        }
        None => f(&s.to_ascii_lowercase()),
    }
}

impl Patterns {
    /// Compiles `raw` for `method`; errors name the first bad pattern.
    pub fn compile(method: MatchMethod, raw: &[RawPattern]) -> Result<Self, AclError> {
        let with_origin = |p: &RawPattern, e: AclError| match &p.origin {
            Some((path, line)) => AclError::InFile {
                path: path.clone(),
                line: *line,
                reason: Box::new(e),
            },
            None => e,
        };
        let mut count = raw.len();
        let compiled = match method {
            MatchMethod::Found | MatchMethod::Bool => Compiled::None,
            MatchMethod::Str => {
                let mut set = Exact::default();
                for p in raw {
                    if p.icase {
                        set.max_folded = set.max_folded.max(p.text.len());
                        set.folded.insert(p.text.to_ascii_lowercase().into());
                    } else {
                        set.exact.insert(p.text.clone().into());
                    }
                }
                Compiled::Str(set)
            }
            MatchMethod::Beg => Compiled::Beg(Affix::new(raw)),
            MatchMethod::End => Compiled::End(Affix::new(raw)),
            MatchMethod::Sub => {
                let build = |icase: bool| -> Result<Option<AhoCorasick>, AclError> {
                    let list: Vec<&[u8]> = raw
                        .iter()
                        .filter(|p| p.icase == icase)
                        .map(|p| p.text.as_slice())
                        .collect();
                    if list.is_empty() {
                        return Ok(None);
                    }
                    AhoCorasickBuilder::new()
                        .ascii_case_insensitive(icase)
                        .build(list)
                        .map(Some)
                        .map_err(|e| AclError::Syntax(format!("substring patterns: {e}")))
                };
                Compiled::Sub {
                    exact: build(false)?,
                    folded: build(true)?,
                }
            }
            MatchMethod::Reg => {
                let mut sources = Vec::with_capacity(raw.len());
                for p in raw {
                    let text = String::from_utf8_lossy(&p.text);
                    let source = if p.icase {
                        format!("(?i){text}")
                    } else {
                        text.to_string()
                    };
                    // Compiled alone first so the error names the pattern at fault.
                    regex::bytes::RegexBuilder::new(&source)
                        .unicode(false)
                        .build()
                        .map_err(|e| {
                            with_origin(
                                p,
                                AclError::BadRegex {
                                    regex: text.to_string(),
                                    reason: regex_reason(&e),
                                },
                            )
                        })?;
                    sources.push(source);
                }
                if sources.is_empty() {
                    Compiled::Reg(None)
                } else {
                    let set = RegexSetBuilder::new(&sources)
                        .unicode(false)
                        .build()
                        .map_err(|e| AclError::BadRegex {
                            regex: sources.join(" "),
                            reason: regex_reason(&e),
                        })?;
                    Compiled::Reg(Some(set))
                }
            }
            MatchMethod::Dir | MatchMethod::Dom => {
                let delims: &'static [u8] = if method == MatchMethod::Dir {
                    b"/?"
                } else {
                    b"/?.:"
                };
                let list = raw
                    .iter()
                    .map(|p| {
                        let t = trim_delims(&p.text, delims);
                        let t = if p.icase {
                            t.to_ascii_lowercase()
                        } else {
                            t.to_vec()
                        };
                        (t, p.icase)
                    })
                    .collect();
                Compiled::Words { delims, list }
            }
            MatchMethod::Int | MatchMethod::Len => {
                let mut op = IntOp::Eq;
                let mut ranges = Vec::new();
                for p in raw {
                    let word = String::from_utf8_lossy(&p.text);
                    if let Some(o) = int_op(&word) {
                        op = o;
                        continue;
                    }
                    ranges.push(parse_range(&word, op).map_err(|e| with_origin(p, e))?);
                }
                count = ranges.len();
                Compiled::Int(ranges)
            }
            MatchMethod::Ip => {
                let mut nets = Vec::with_capacity(raw.len());
                for p in raw {
                    let word = String::from_utf8_lossy(&p.text);
                    nets.push(parse_net(&word).map_err(|e| with_origin(p, e))?);
                }
                Compiled::Ip(nets)
            }
            MatchMethod::Meth => Compiled::Meth(
                raw.iter()
                    .map(|p| match known_method(&p.text) {
                        Some(i) => Meth::Known(i),
                        None => Meth::Other(p.text.clone(), p.icase),
                    })
                    .collect(),
            ),
        };
        Ok(Self { count, compiled })
    }

    /// How many patterns were given (operators not counted).
    pub fn len(&self) -> usize {
        self.count
    }

    /// No pattern was given: such an ACL never matches (except `found` and `bool`).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Matches a string sample with the string methods (`str beg end sub reg dir dom`).
    pub fn match_str(&self, s: &[u8]) -> bool {
        match &self.compiled {
            Compiled::Str(set) => {
                set.exact.contains(s)
                    || (!set.folded.is_empty()
                        && s.len() <= set.max_folded
                        && with_lower(s, |l| set.folded.contains(l)))
            }
            Compiled::Beg(affix) => affix.matches(s, |s, len| s.get(..len)),
            Compiled::End(affix) => affix.matches(s, |s, len| {
                s.len().checked_sub(len).and_then(|start| s.get(start..))
            }),
            Compiled::Sub { exact, folded } => {
                exact.as_ref().is_some_and(|ac| ac.is_match(s))
                    || folded.as_ref().is_some_and(|ac| ac.is_match(s))
            }
            Compiled::Reg(set) => set.as_ref().is_some_and(|set| set.is_match(s)),
            Compiled::Words { delims, list } => list
                .iter()
                .any(|(word, icase)| match_word(s, word, *icase, delims)),
            Compiled::Meth(_) => self.match_method(s),
            Compiled::None | Compiled::Int(_) | Compiled::Ip(_) => false,
        }
    }

    /// Matches an integer (or a length) against the ranges.
    pub fn match_int(&self, v: i64) -> bool {
        match &self.compiled {
            Compiled::Int(ranges) => ranges
                .iter()
                .any(|r| r.min.is_none_or(|m| v >= m) && r.max.is_none_or(|m| v <= m)),
            _ => false,
        }
    }

    /// Matches an address against the networks, across families as HAProxy does.
    pub fn match_ip(&self, ip: IpAddr) -> bool {
        let Compiled::Ip(nets) = &self.compiled else {
            return false;
        };
        let v4 = match ip {
            IpAddr::V4(v4) => Some(u32::from(v4)),
            IpAddr::V6(v6) => embedded_v4(v6),
        };
        let v6 = match ip {
            IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
            IpAddr::V6(v6) => u128::from(v6),
        };
        nets.iter().any(|net| match *net {
            Net::V4 { addr, mask } => v4.is_some_and(|a| a & mask == addr),
            Net::V6 { addr, mask } => v6 & mask == addr,
        })
    }

    /// The `method` criterion's matching: known methods by identity, case-sensitively as
    /// HAProxy 2.6's parser identifies them; others as strings (`-i` honoured).
    pub fn match_method(&self, method: &[u8]) -> bool {
        let Compiled::Meth(list) = &self.compiled else {
            return false;
        };
        let known = known_method(method);
        list.iter().any(|p| match (p, known) {
            (Meth::Known(i), Some(k)) => *i == k,
            (Meth::Other(text, icase), None) => {
                if *icase {
                    text.eq_ignore_ascii_case(method)
                } else {
                    text == method
                }
            }
            _ => false,
        })
    }
}

impl Affix {
    fn new(raw: &[RawPattern]) -> Self {
        let mut affix = Affix::default();
        for p in raw {
            let (groups, text) = if p.icase {
                affix.max_folded = affix.max_folded.max(p.text.len());
                (&mut affix.folded, p.text.to_ascii_lowercase())
            } else {
                (&mut affix.exact, p.text.clone())
            };
            let len = text.len();
            match groups.iter_mut().find(|(l, _)| *l == len) {
                Some((_, set)) => {
                    set.insert(text.into());
                }
                None => groups.push((len, HashSet::from([text.into_boxed_slice()]))),
            }
        }
        affix.exact.sort_by_key(|(l, _)| *l);
        affix.folded.sort_by_key(|(l, _)| *l);
        affix
    }

    fn matches(&self, s: &[u8], part: impl Fn(&[u8], usize) -> Option<&[u8]>) -> bool {
        let hit = |groups: &[(usize, HashSet<Box<[u8]>>)], s: &[u8]| {
            groups
                .iter()
                .any(|(len, set)| part(s, *len).is_some_and(|p| set.contains(p)))
        };
        if hit(&self.exact, s) {
            return true;
        }
        if self.folded.is_empty() {
            return false;
        }
        // Only the part a pattern can cover is folded: the head for prefixes, the tail for
        // suffixes (`part` with the longest length picks it).
        let longest = self.max_folded.min(s.len());
        match part(s, longest) {
            Some(region) => with_lower(region, |l| hit(&self.folded, l)),
            None => false,
        }
    }
}

fn regex_reason(e: &regex::Error) -> String {
    e.to_string()
        .lines()
        .last()
        .unwrap_or("invalid")
        .trim()
        .to_string()
}

fn known_method(m: &[u8]) -> Option<usize> {
    KNOWN_METHODS.iter().position(|k| *k == m)
}

fn trim_delims<'a>(mut t: &'a [u8], delims: &[u8]) -> &'a [u8] {
    while let [first, rest @ ..] = t {
        if !delims.contains(first) {
            break;
        }
        t = rest;
    }
    while let [rest @ .., last] = t {
        if !delims.contains(last) {
            break;
        }
        t = rest;
    }
    t
}

/// HAProxy's `match_word`: `word` appears in `s` between delimiters or the string's ends.
/// Folded words are stored lower-cased.
fn match_word(s: &[u8], word: &[u8], icase: bool, delims: &[u8]) -> bool {
    if word.len() > s.len() {
        return false;
    }
    let eq = |a: &[u8]| {
        if icase {
            a.eq_ignore_ascii_case(word)
        } else {
            a == word
        }
    };
    let mut may_match = true;
    for (i, c) in s.iter().enumerate() {
        if delims.contains(c) {
            may_match = true;
            continue;
        }
        if !may_match {
            continue;
        }
        may_match = false;
        let end = i + word.len();
        if s.get(i..end).is_some_and(eq) && s.get(end).is_none_or(|c| delims.contains(c)) {
            return true;
        }
    }
    // The empty word matches where two delimiters meet or at an end, as in HAProxy.
    word.is_empty()
}

fn int_op(word: &str) -> Option<IntOp> {
    Some(match word {
        "eq" => IntOp::Eq,
        "ge" => IntOp::Ge,
        "gt" => IntOp::Gt,
        "le" => IntOp::Le,
        "lt" => IntOp::Lt,
        _ => return None,
    })
}

fn parse_range(word: &str, op: IntOp) -> Result<Range, AclError> {
    let bad = || AclError::BadInteger(word.to_string());
    let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
    if let Some((lo, hi)) = word.split_once(':') {
        // HAProxy ignores operators before ranges.
        let min = if lo.is_empty() { None } else { Some(num(lo)?) };
        let max = if hi.is_empty() { None } else { Some(num(hi)?) };
        if min.is_none() && max.is_none() {
            return Err(bad());
        }
        return Ok(Range { min, max });
    }
    let v = num(word)?;
    Ok(match op {
        IntOp::Eq => Range {
            min: Some(v),
            max: Some(v),
        },
        IntOp::Ge => Range {
            min: Some(v),
            max: None,
        },
        IntOp::Gt => Range {
            min: Some(v.saturating_add(1)),
            max: None,
        },
        IntOp::Le => Range {
            min: None,
            max: Some(v),
        },
        IntOp::Lt => Range {
            min: None,
            max: Some(v.saturating_sub(1)),
        },
    })
}

/// `a.b.c.d[/bits|/mask]`, HAProxy's abbreviated `10.12` (= 10.0.0.12), or IPv6[/bits].
/// Host names are refused: resolving at load would make the configuration depend on DNS.
fn parse_net(word: &str) -> Result<Net, AclError> {
    let bad = || AclError::BadAddress(word.to_string());
    let (addr, mask) = match word.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (word, None),
    };
    if addr.contains(':') {
        let a: Ipv6Addr = addr.parse().map_err(|_| bad())?;
        let bits: u32 = match mask {
            Some(m) => m.parse().ok().filter(|b| *b <= 128).ok_or_else(bad)?,
            None => 128,
        };
        let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
        return Ok(Net::V6 {
            addr: u128::from(a) & mask,
            mask,
        });
    }
    let a = parse_v4(addr).ok_or_else(bad)?;
    let mask = match mask {
        None => u32::MAX,
        Some(m) if m.contains('.') => {
            let m = u32::from(m.parse::<Ipv4Addr>().map_err(|_| bad())?);
            // Only contiguous masks, as HAProxy's str2mask.
            if m.leading_ones() + m.trailing_zeros() != 32 {
                return Err(bad());
            }
            m
        }
        Some(m) => {
            let bits: u32 = m.parse().ok().filter(|b| *b <= 32).ok_or_else(bad)?;
            u32::MAX.checked_shl(32 - bits).unwrap_or(0)
        }
    };
    Ok(Net::V4 {
        addr: a & mask,
        mask,
    })
}

fn parse_v4(s: &str) -> Option<u32> {
    let parts: Vec<u8> = s
        .split('.')
        .map(|p| p.parse::<u8>().ok())
        .collect::<Option<_>>()?;
    let (last, head) = parts.split_last()?;
    if head.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (o, p) in octets.iter_mut().zip(head) {
        *o = *p;
    }
    octets[3] = *last;
    Some(u32::from(Ipv4Addr::from(octets)))
}

/// The IPv4 address inside `::ffff:a.b.c.d`, `::a.b.c.d` or `2002:a.b.c.d::`, which
/// HAProxy matches against IPv4 patterns.
fn embedded_v4(v6: Ipv6Addr) -> Option<u32> {
    let bits = u128::from(v6);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(u32::from(v4));
    }
    if bits >> 32 == 0 {
        return u32::try_from(bits & 0xffff_ffff).ok();
    }
    if bits >> 112 == 0x2002 {
        return u32::try_from((bits >> 80) & 0xffff_ffff).ok();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(words: &[&str], icase: bool) -> Vec<RawPattern> {
        words
            .iter()
            .map(|w| RawPattern {
                text: w.as_bytes().to_vec(),
                icase,
                origin: None,
            })
            .collect()
    }

    fn compiled(method: MatchMethod, words: &[&str]) -> Patterns {
        Patterns::compile(method, &raw(words, false)).unwrap()
    }

    #[test]
    fn words_follow_haproxy_match_word() {
        let s = b"/images/png/logo/32x32.png";
        for w in [
            "/images",
            "/images/png",
            "images/png",
            "/png/logo",
            "logo/32x32.png",
            "32x32.png",
        ] {
            assert!(compiled(MatchMethod::Dir, &[w]).match_str(s), "{w}");
        }
        // The manual says "png" does not match; HAProxy 2.6.12 says it does (a whole
        // slash-delimited portion), and the code follows HAProxy.
        assert!(compiled(MatchMethod::Dir, &["png"]).match_str(s));
        assert!(!compiled(MatchMethod::Dir, &["32x32"]).match_str(s));
        let s = b"http://www1.dc-eu.example.com:80/blah";
        for w in [
            "http",
            "www1",
            ".www1",
            "dc-eu",
            "example",
            "com",
            "80",
            "dc-eu.example",
            "blah",
            ":www1:",
        ] {
            assert!(compiled(MatchMethod::Dom, &[w]).match_str(s), "{w}");
        }
        // The manual lists "dc-eu.example:80" as a match too; HAProxy 2.6.12 does not match
        // it (the word must be followed by a delimiter where ".com" is).
        for w in ["eu", "dc", "dc-eu.example:80"] {
            assert!(!compiled(MatchMethod::Dom, &[w]).match_str(s), "{w}");
        }
    }

    #[test]
    fn integer_ranges_and_operators() {
        let p = compiled(MatchMethod::Int, &["1024:65535"]);
        assert!(p.match_int(1024) && p.match_int(65535) && !p.match_int(1023));
        let p = compiled(MatchMethod::Int, &[":1023"]);
        assert!(p.match_int(0) && !p.match_int(1024));
        let p = compiled(MatchMethod::Int, &["gt", "0"]);
        assert!(p.match_int(1) && !p.match_int(0));
        assert_eq!(p.len(), 1);
        let p = compiled(MatchMethod::Int, &["lt", "0"]);
        assert!(p.match_int(-1) && !p.match_int(0));
        let p = compiled(MatchMethod::Int, &["le", "5", "eq", "9"]);
        assert!(p.match_int(5) && p.match_int(9) && !p.match_int(6));
        let p = compiled(MatchMethod::Int, &["ge", "5"]);
        assert!(p.match_int(5) && !p.match_int(4));
        for bad in ["x", "1:x", ":", "1.5"] {
            assert_eq!(
                Patterns::compile(MatchMethod::Int, &raw(&[bad], false)).unwrap_err(),
                AclError::BadInteger(bad.to_string())
            );
        }
    }

    #[test]
    fn networks_across_families() {
        let p = compiled(
            MatchMethod::Ip,
            &["127.0.0.1/8", "::1", "10.12", "192.168.0.0/255.255.0.0"],
        );
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(p.match_ip(ip("127.9.9.9")));
        assert!(p.match_ip(ip("::1")));
        assert!(p.match_ip(ip("10.0.0.12")));
        assert!(p.match_ip(ip("192.168.44.1")));
        assert!(p.match_ip(ip("::ffff:127.0.0.2")));
        assert!(p.match_ip(ip("2002:7f00:1::")));
        assert!(!p.match_ip(ip("128.0.0.1")));
        assert!(!p.match_ip(ip("::2")));
        let p = compiled(MatchMethod::Ip, &["::ffff:10.0.0.0/104"]);
        assert!(p.match_ip(ip("10.1.2.3")));
        for bad in [
            "1.2.3.4/40",
            "host.example",
            "1.2.3.4/255.0.255.0",
            "::1/129",
            "1.2.3.4.5",
        ] {
            assert!(
                Patterns::compile(MatchMethod::Ip, &raw(&[bad], false)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn strings_prefixes_suffixes_substrings() {
        let p = compiled(MatchMethod::Beg, &["/api", "/static/", "/"]);
        assert!(p.match_str(b"/api/v1") && p.match_str(b"/x"));
        let p = compiled(MatchMethod::Beg, &["/api", "/static/"]);
        assert!(!p.match_str(b"/ap") && !p.match_str(b"/API"));
        let p = Patterns::compile(MatchMethod::Beg, &raw(&["/API"], true)).unwrap();
        assert!(p.match_str(b"/api/v1") && p.match_str(b"/Api"));
        let p = Patterns::compile(MatchMethod::End, &raw(&[".JPG", ".png"], true)).unwrap();
        assert!(p.match_str(b"/a.jpg") && p.match_str(b"/a.PNG") && !p.match_str(b"/a.gif"));
        let p = compiled(MatchMethod::Sub, &["adm", "secret"]);
        assert!(p.match_str(b"/x/admin") && !p.match_str(b"/ADMIN"));
        let p = Patterns::compile(MatchMethod::Str, &raw(&["WWW.Example.com"], true)).unwrap();
        assert!(p.match_str(b"www.example.COM") && !p.match_str(b"www.example.co"));
        let long = "x".repeat(STACK_FOLD + 10);
        let p = Patterns::compile(MatchMethod::Str, &raw(&[&long], true)).unwrap();
        assert!(p.match_str(long.to_uppercase().as_bytes()));
    }

    #[test]
    fn regexes_in_one_set() {
        let mut patterns = raw(&["^/a+$"], false);
        patterns.extend(raw(&["^/B"], true));
        let p = Patterns::compile(MatchMethod::Reg, &patterns).unwrap();
        assert!(p.match_str(b"/aaa") && p.match_str(b"/bx") && !p.match_str(b"/A"));
        assert!(p.match_str(b"/b\xff"));
        let err = Patterns::compile(MatchMethod::Reg, &raw(&["("], false)).unwrap_err();
        assert!(
            matches!(err, AclError::BadRegex { ref regex, .. } if regex == "("),
            "{err}"
        );
    }

    #[test]
    fn methods_as_haproxy_identifies_them() {
        let p = compiled(MatchMethod::Meth, &["GET", "HEAD", "PURGE"]);
        assert!(p.match_method(b"GET") && p.match_method(b"PURGE"));
        assert!(!p.match_method(b"get") && !p.match_method(b"purge") && !p.match_method(b"POST"));
        let p = Patterns::compile(MatchMethod::Meth, &raw(&["purge", "get"], true)).unwrap();
        assert!(p.match_method(b"PURGE"));
        // "get" is not a known method to HAProxy's parser, and GET is no "other" method.
        assert!(!p.match_method(b"GET"));
    }
}
