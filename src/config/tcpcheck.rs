//! `option tcp-check` and `tcp-check connect|send|send-binary|expect|comment`: a TCP health
//! check as a sequence of steps over one or more connections.
//!
//! How the lines combine follows HAProxy 2.6 (`src/tcpcheck.c`):
//! - The rules run only while `option tcp-check` is in effect; `option httpchk` and
//!   `option tcp-check` replace each other, the later line winning.
//! - A section's rules form one ruleset. A section without `tcp-check` lines uses the rules of
//!   its `defaults`; its first `tcp-check` line starts a ruleset of its own instead of adding
//!   to the inherited one (HAProxy names rulesets after the proxy that writes them).
//! - Step numbers count every `tcp-check` line of the ruleset, comments included, so the
//!   messages name the same steps as HAProxy's.
//! - A `tcp-check comment` describes the rule after it, and the rules of the same kind
//!   following that one, up to a `connect` (HAProxy's `tcpcheck_ruleset` post-parsing).

use super::draft::ProxyDraft;
use super::error::Diagnostics;
use super::lexer::Line;
use super::model::{
    CheckProtocol, Location, TcpCheck, TcpCheckAction, TcpCheckRule, TcpExpect, TcpExpectKind,
};
use super::units::parse_uint;

/// One line of a ruleset as written: a rule, or a comment for the rules after it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Comment(String),
    Rule(TcpCheckRule),
}

/// `option tcp-check` and the `tcp-check` lines of a section or inherited from `defaults`.
#[derive(Debug, Clone, Default)]
pub struct TcpCheckDraft {
    /// `option tcp-check`, `option redis-check` or `option smtpchk` is in effect.
    pub enabled: bool,
    /// `option redis-check` or `option smtpchk`: the rules below are not used.
    pub protocol: Option<CheckProtocol>,
    /// The ruleset's lines in order.
    entries: Vec<Entry>,
    /// The current section wrote a `tcp-check` line, so `entries` are its own.
    own_rules: bool,
    /// Where the first `tcp-check` line of the ruleset was, for the "rules are ignored" warning.
    pub first_rule: Option<Location>,
}

impl TcpCheckDraft {
    /// A new section starts: inherited rules stay until the section writes its own.
    pub fn start_section(&mut self) {
        self.own_rules = false;
    }

    /// The TCP check a proxy runs: `None` unless `option tcp-check` is in effect.
    pub fn result(&self) -> Option<TcpCheck> {
        self.enabled.then(|| TcpCheck {
            rules: fold_comments(&self.entries),
            protocol: self.protocol.clone(),
        })
    }

    fn push(&mut self, at: &Location, entry: Entry) {
        if !self.own_rules {
            self.entries.clear();
            self.first_rule = None;
            self.own_rules = true;
        }
        self.first_rule.get_or_insert_with(|| at.clone());
        self.entries.push(entry);
    }

    fn next_step(&self) -> usize {
        if self.own_rules {
            self.entries.len() + 1
        } else {
            1
        }
    }
}

/// Drops the comment lines, giving their text to the rules they describe.
fn fold_comments(entries: &[Entry]) -> Vec<TcpCheckRule> {
    #[derive(PartialEq)]
    enum Kind {
        None,
        Comment,
        Connect,
        Send,
        Expect,
    }
    let mut rules = Vec::new();
    let mut pending: Option<String> = None;
    let mut previous = Kind::None;
    for entry in entries {
        let kind = match entry {
            Entry::Comment(_) => Kind::Comment,
            Entry::Rule(r) => match r.action {
                TcpCheckAction::Connect { .. } => Kind::Connect,
                TcpCheckAction::Send(_) => Kind::Send,
                TcpCheckAction::Expect(_) => Kind::Expect,
            },
        };
        if kind != previous && previous != Kind::Comment {
            pending = None;
        }
        match entry {
            Entry::Comment(text) => pending = Some(text.clone()),
            Entry::Rule(rule) => {
                let mut rule = rule.clone();
                if rule.comment.is_none() {
                    rule.comment = pending.clone();
                }
                if kind == Kind::Connect {
                    pending = None;
                }
                rules.push(rule);
            }
        }
        previous = kind;
    }
    rules
}

/// Applies `option tcp-check|redis-check|smtpchk|pgsql-check|ldap-check|mysql-check`, or its
/// `no` form.
pub fn parse_option_tcp_check(
    draft: &mut ProxyDraft,
    line: &Line,
    name: &str,
    args: &[String],
    negated: bool,
    diag: &mut Diagnostics,
) {
    let tc = &mut draft.tcp_check;
    if negated {
        tc.enabled = false;
        return;
    }
    let protocol = match (name, args) {
        ("smtpchk", [verb, domain, ..]) if verb == "HELO" || verb == "EHLO" => {
            Some(CheckProtocol::Smtp {
                command: format!("{verb} {domain}"),
            })
        }
        // As HAProxy: anything else is the default greeting.
        ("smtpchk", _) => Some(CheckProtocol::Smtp {
            command: "HELO localhost".into(),
        }),
        ("redis-check", []) => Some(CheckProtocol::Redis),
        ("ldap-check", []) => Some(CheckProtocol::Ldap),
        ("pgsql-check", [user, name]) if user == "user" && !name.is_empty() => {
            Some(CheckProtocol::Pgsql { user: name.clone() })
        }
        ("mysql-check", []) => Some(CheckProtocol::Mysql {
            user: None,
            pre_41: false,
        }),
        ("mysql-check", [user, name, rest @ ..]) if user == "user" && !name.is_empty() => {
            let pre_41 = match rest {
                [] => false,
                [v] if v == "post-41" => false,
                [v] if v == "pre-41" => true,
                _ => {
                    diag.error(
                        &line.location,
                        "'option mysql-check user <username>' accepts only 'post-41' or 'pre-41' after the name",
                    );
                    return;
                }
            };
            Some(CheckProtocol::Mysql {
                user: Some(name.clone()),
                pre_41,
            })
        }
        ("mysql-check", _) => {
            diag.error(
                &line.location,
                "'option mysql-check' only supports 'user <username> [post-41|pre-41]'",
            );
            return;
        }
        ("pgsql-check", _) => {
            diag.error(
                &line.location,
                "'option pgsql-check' expects 'user <username>' as argument",
            );
            return;
        }
        ("tcp-check", []) => None,
        (_, _) => {
            diag.error(
                &line.location,
                format!("'option {name}' takes no arguments"),
            );
            return;
        }
    };
    tc.enabled = true;
    tc.protocol = protocol;
    // One check type per proxy: the later option wins, as in HAProxy.
    draft.http_check.enabled = false;
}

/// Applies one `tcp-check ...` line.
pub fn parse_tcp_check(draft: &mut ProxyDraft, line: &Line, diag: &mut Diagnostics) {
    let at = &line.location;
    let tc = &mut draft.tcp_check;
    let step = tc.next_step();
    let args = line.words.get(2..).unwrap_or(&[]);
    let parsed = match line.word(1) {
        "comment" => match args {
            [text] => Ok(Entry::Comment(text.clone())),
            _ => Err("expects exactly one argument, the comment".to_string()),
        },
        "connect" => parse_connect(args, step).and_then(|rule| {
            check_connect_first(if tc.own_rules { &tc.entries } else { &[] })?;
            Ok(Entry::Rule(rule))
        }),
        "send" | "send-binary" => {
            parse_send(line.word(1) == "send-binary", args, step).map(Entry::Rule)
        }
        "expect" => parse_expect(args, step).map(Entry::Rule),
        other => {
            diag.error(
                at,
                format!("'tcp-check' only supports 'comment', 'connect', 'send', 'send-binary', 'expect', but got '{other}'"),
            );
            return;
        }
    };
    match parsed {
        Ok(entry) => tc.push(at, entry),
        Err(message) => diag.error(at, format!("'tcp-check {}': {message}", line.word(1))),
    }
}

/// HAProxy's rule: once a ruleset has a `connect`, it must start with one.
fn check_connect_first(entries: &[Entry]) -> Result<(), String> {
    for entry in entries {
        match entry {
            Entry::Comment(_) => continue,
            Entry::Rule(TcpCheckRule {
                action: TcpCheckAction::Connect { .. },
                ..
            }) => return Ok(()),
            Entry::Rule(_) => {
                return Err("first step MUST also be a 'connect', optionally preceded by a 'comment', when there is a 'connect' step in the tcp-check ruleset".into())
            }
        }
    }
    Ok(())
}

/// Takes `comment <text>` out of a rule's options.
fn take_comment(args: &[String]) -> Result<(Vec<&String>, Option<String>), String> {
    let mut rest = Vec::new();
    let mut comment = None;
    let mut i = 0;
    while let Some(word) = args.get(i) {
        if word == "comment" {
            let text = args
                .get(i + 1)
                .ok_or("'comment' expects a string as argument")?;
            comment = Some(text.clone());
            i += 2;
        } else {
            rest.push(word);
            i += 1;
        }
    }
    Ok((rest, comment))
}

/// `connect [port <n>] [comment <text>]`.
fn parse_connect(args: &[String], step: usize) -> Result<TcpCheckRule, String> {
    let (rest, comment) = take_comment(args)?;
    let mut port = None;
    let mut words = rest.into_iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "port" => {
                let value = words.next().ok_or("'port' expects a port number")?;
                let n = parse_uint(value, 65535).map_err(|e| format!("'port {value}': {e}"))?;
                if n == 0 {
                    return Err(format!("'port {value}': expects a port from 1 to 65535"));
                }
                port = Some(n as u16);
            }
            "default" => {}
            other => {
                return Err(format!(
                    "'{other}' is not supported (supported: port, default, comment)"
                ))
            }
        }
    }
    Ok(TcpCheckRule {
        step,
        comment,
        action: TcpCheckAction::Connect { port },
    })
}

/// `send <text>` or `send-binary <hex>`, with an optional `comment <text>`.
fn parse_send(binary: bool, args: &[String], step: usize) -> Result<TcpCheckRule, String> {
    let (rest, comment) = take_comment(args)?;
    let data = match rest.as_slice() {
        [data] if !data.is_empty() => data,
        [_] | [] => return Err("expects a non-empty string as argument".into()),
        [_, extra, ..] => return Err(format!("unexpected argument '{extra}'")),
    };
    let bytes = if binary {
        parse_hex(data)?
    } else {
        data.as_bytes().to_vec()
    };
    Ok(TcpCheckRule {
        step,
        comment,
        action: TcpCheckAction::Send(bytes),
    })
}

/// `expect [!] string|rstring|binary|rbinary <pattern>`, with an optional `comment <text>`.
fn parse_expect(args: &[String], step: usize) -> Result<TcpCheckRule, String> {
    let (rest, comment) = take_comment(args)?;
    let mut rest = rest.as_slice();
    let negate = rest.first().is_some_and(|w| *w == "!");
    if negate {
        rest = rest.get(1..).unwrap_or(&[]);
    }
    let (kind, pattern) = match rest {
        [kind, pattern] => (kind.as_str(), pattern.as_str()),
        [kind] => return Err(format!("'{kind}' expects a pattern")),
        _ => return Err("expects [!] <match> <pattern>, e.g. 'string +OK'".into()),
    };
    let kind = match kind {
        "string" => TcpExpectKind::String,
        "rstring" => TcpExpectKind::RString,
        "binary" => TcpExpectKind::Binary,
        "rbinary" => TcpExpectKind::RBinary,
        other => {
            return Err(format!(
                "'{other}' is not supported (supported: string, rstring, binary, rbinary, comment)"
            ))
        }
    };
    if pattern.is_empty() {
        return Err("expects a non-empty pattern".into());
    }
    match kind {
        TcpExpectKind::Binary => {
            parse_hex(pattern)?;
        }
        TcpExpectKind::RString | TcpExpectKind::RBinary => {
            regex::bytes::Regex::new(pattern)
                .map_err(|e| format!("invalid regex '{pattern}': {e}"))?;
        }
        TcpExpectKind::String => {}
    }
    Ok(TcpCheckRule {
        step,
        comment,
        action: TcpCheckAction::Expect(TcpExpect {
            negate,
            kind,
            pattern: pattern.to_string(),
        }),
    })
}

/// The bytes an even number of hex digits say.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err(format!("'{text}': an even number of hex digit is expected"));
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            // `from_str_radix` would take a sign: only digits count.
            pair.iter()
                .all(u8::is_ascii_hexdigit)
                .then(|| std::str::from_utf8(pair).ok())
                .flatten()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| format!("'{text}': invalid hex digits"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn rule(step: usize, action: TcpCheckAction) -> TcpCheckRule {
        TcpCheckRule {
            step,
            comment: None,
            action,
        }
    }

    #[test]
    fn hex() {
        assert_eq!(parse_hex("0aFF10").unwrap(), vec![0x0a, 0xff, 0x10]);
        assert!(parse_hex("abc").unwrap_err().contains("even"));
        assert!(parse_hex("zz").unwrap_err().contains("hex"));
        assert!(parse_hex("+1").is_err(), "from_str_radix takes a sign");
    }

    #[test]
    fn expects() {
        let r = parse_expect(&words("! rstring ^-ERR comment oops"), 3).unwrap();
        assert_eq!(r.step, 3);
        assert_eq!(r.comment.as_deref(), Some("oops"));
        assert_eq!(
            r.action,
            TcpCheckAction::Expect(TcpExpect {
                negate: true,
                kind: TcpExpectKind::RString,
                pattern: "^-ERR".into()
            })
        );
        for (args, needle) in [
            ("string", "expects a pattern"),
            ("binary abc", "even"),
            ("rstring (", "invalid regex"),
            ("status 200", "not supported"),
            ("min-recv 3 string x", "expects [!]"),
            ("string x comment", "'comment' expects"),
        ] {
            let e = parse_expect(&words(args), 1).unwrap_err();
            assert!(e.contains(needle), "{args}: {e}");
        }
    }

    #[test]
    fn sends_and_connects() {
        assert_eq!(
            parse_send(true, &words("50494e470d0a"), 1).unwrap().action,
            TcpCheckAction::Send(b"PING\r\n".to_vec())
        );
        assert_eq!(
            parse_send(false, &words("PING"), 1).unwrap().action,
            TcpCheckAction::Send(b"PING".to_vec())
        );
        assert!(parse_send(false, &words("a b"), 1).is_err());
        assert!(parse_send(false, &[], 1).is_err());
        assert_eq!(
            parse_connect(&words("port 6379 comment redis"), 2).unwrap(),
            TcpCheckRule {
                step: 2,
                comment: Some("redis".into()),
                action: TcpCheckAction::Connect { port: Some(6379) }
            }
        );
        assert!(parse_connect(&words("port 0"), 1).is_err());
        assert!(parse_connect(&words("ssl"), 1)
            .unwrap_err()
            .contains("not supported"));
    }

    #[test]
    fn comments_describe_the_rules_after_them() {
        let send = |s: &str| Entry::Rule(rule(0, TcpCheckAction::Send(s.into())));
        let connect = Entry::Rule(rule(0, TcpCheckAction::Connect { port: None }));
        let entries = vec![
            Entry::Comment("c1".into()),
            connect.clone(),
            send("a"),
            Entry::Comment("c2".into()),
            send("b"),
            send("c"),
            connect,
            send("d"),
        ];
        let rules = fold_comments(&entries);
        let comments: Vec<Option<&str>> = rules.iter().map(|r| r.comment.as_deref()).collect();
        assert_eq!(
            comments,
            vec![Some("c1"), None, Some("c2"), Some("c2"), None, None]
        );
    }
}
