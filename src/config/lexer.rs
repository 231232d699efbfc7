//! Splits HAProxy configuration bytes into lines of words, as HAProxy 2.6's `parse_line` does.
//!
//! The file is bytes, not UTF-8: a Latin-1 comment must not reject it. Words are blank
//! separated, `#` starts a comment, quotes group words (nothing is special inside single
//! quotes), a backslash escapes only what HAProxy lets it escape (`\1` stays `\1`, so regexes
//! keep their backslashes), and environment variables expand inside double quotes only.

use std::sync::Arc;

use super::model::Location;

/// One non-empty configuration line.
#[derive(Debug, Clone)]
pub struct Line {
    /// Where it was written.
    pub location: Location,
    /// Its words, quotes, escapes and variables resolved.
    pub words: Vec<String>,
    /// `$NAME` or `${NAME}` written outside double quotes: left as is, like HAProxy does,
    /// and named in a hint when the line turns out wrong.
    pub unexpanded: Vec<String>,
    /// Variables that were not set and expanded to nothing, named again if the line fails.
    pub unset: Vec<String>,
}

impl Line {
    /// The word at `index`, or "" past the end.
    pub fn word(&self, index: usize) -> &str {
        self.words.get(index).map(String::as_str).unwrap_or("")
    }
}

/// Why a line could not be split, or what its splitting should tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// One-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// A file split into lines, with what went wrong and what the user should know.
#[derive(Debug, Default)]
pub struct Lexed {
    /// The non-empty lines.
    pub lines: Vec<Line>,
    /// Lines that could not be split.
    pub errors: Vec<LexError>,
    /// Accepted, but worth saying (an unset environment variable).
    pub warnings: Vec<LexError>,
}

/// Splits `text` (the contents of `file`) into lines with the process environment.
pub fn tokenize(file: &Arc<str>, text: &str) -> (Vec<Line>, Vec<LexError>) {
    let lexed = tokenize_bytes(file, text.as_bytes(), &|name| std::env::var(name).ok());
    (lexed.lines, lexed.errors)
}

/// Splits `text` into lines; `env` looks environment variables up. Blank and comment-only
/// lines are dropped.
pub fn tokenize_bytes(file: &Arc<str>, text: &[u8], env: &dyn Fn(&str) -> Option<String>) -> Lexed {
    let mut lexed = Lexed::default();
    for (index, raw) in text.split(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        let context = Context {
            env,
            file,
            line: number,
        };
        match split_words(raw, &context) {
            Ok(split) => {
                for name in &split.unset {
                    lexed.warnings.push(LexError {
                        line: number,
                        message: format!(
                            "environment variable '{name}' is not set: it expands to an empty string (as in HAProxy)"
                        ),
                    });
                }
                if !split.words.is_empty() {
                    lexed.lines.push(Line {
                        location: Location {
                            file: Arc::clone(file),
                            line: number,
                        },
                        words: split.words,
                        unexpanded: split.unexpanded,
                        unset: split.unset,
                    });
                }
            }
            Err(message) => lexed.errors.push(LexError {
                line: number,
                message,
            }),
        }
    }
    lexed
}

struct Context<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    file: &'a str,
    line: usize,
}

#[derive(Debug, Default)]
struct Split {
    words: Vec<String>,
    unset: Vec<String>,
    unexpanded: Vec<String>,
}

/// HAProxy's `isspace` separators; CR and LF end the line instead.
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | 0x0b | 0x0c)
}

fn split_words(raw: &[u8], context: &Context) -> Result<Split, String> {
    if let Some(pos) = raw.iter().position(|&b| b == 0) {
        return Err(format!("Stray NUL character at position {}", pos + 1));
    }
    let mut split = Split::default();
    let mut current: Vec<u8> = Vec::new();
    // A word exists once any byte or a quote pair was seen, so `""` is an empty word.
    let mut in_word = false;
    let (mut squote, mut dquote) = (false, false);
    let mut quote_at = 0;
    let mut i = 0;
    // HAProxy skips leading blanks before splitting.
    while i < raw.len() && is_blank(raw[i]) {
        i += 1;
    }
    while i < raw.len() {
        let c = raw[i];
        match c {
            b'\r' => break,
            b'#' if !squote && !dquote => break,
            b'"' if !squote => {
                dquote = !dquote;
                quote_at = i;
                in_word = true;
                i += 1;
            }
            b'\'' if !dquote => {
                squote = !squote;
                quote_at = i;
                in_word = true;
                i += 1;
            }
            b'\\' if !squote => {
                let (byte, used) = unescape(&raw[i..], dquote).map_err(|()| {
                    format!(
                        "truncated or invalid hexadecimal sequence at position {}",
                        i + 1
                    )
                })?;
                current.push(byte);
                in_word = true;
                i += used;
            }
            b'$' if dquote => {
                i = expand(raw, i, context, &mut current, &mut split)?;
                in_word = true;
            }
            c if is_blank(c) && !squote && !dquote => {
                if in_word {
                    split.words.push(decode(std::mem::take(&mut current)));
                    in_word = false;
                }
                i += 1;
            }
            c => {
                if c == b'$' && !squote {
                    note_unexpanded(&raw[i + 1..], &mut split.unexpanded);
                }
                current.push(c);
                in_word = true;
                i += 1;
            }
        }
    }
    if squote || dquote {
        return Err(format!("unmatched quote at position {}", quote_at + 1));
    }
    if in_word {
        split.words.push(decode(current));
    }
    Ok(split)
}

/// Resolves the escape at the start of `at` (a backslash): the byte to emit and how many
/// input bytes it used. As HAProxy: `\\`, `\ `, `\t`, `\n`, `\r`, `\#`, `\'`, `\"`, `\xHH`,
/// `\$` inside double quotes; any other backslash is kept as written.
fn unescape(at: &[u8], dquote: bool) -> Result<(u8, usize), ()> {
    match at.get(1) {
        Some(b' ') => Ok((b' ', 2)),
        Some(b'\\') => Ok((b'\\', 2)),
        Some(b't') => Ok((b'\t', 2)),
        Some(b'n') => Ok((b'\n', 2)),
        Some(b'r') => Ok((b'\r', 2)),
        Some(&c @ (b'#' | b'\'' | b'"')) => Ok((c, 2)),
        Some(b'$') if dquote => Ok((b'$', 2)),
        Some(b'x') => {
            let hex = at.get(2..4).ok_or(())?;
            let text = std::str::from_utf8(hex).map_err(|_| ())?;
            u8::from_str_radix(text, 16)
                .ok()
                .filter(|_| hex.iter().all(u8::is_ascii_hexdigit))
                .map(|b| (b, 4))
                .ok_or(())
        }
        // A lone trailing backslash would escape the line's end, which HAProxy does not join.
        None => Err(()),
        Some(_) => Ok((b'\\', 1)),
    }
}

/// Expands the variable at `raw[start]` (a `$` inside double quotes) into `out`; returns
/// where reading resumes.
fn expand(
    raw: &[u8],
    start: usize,
    context: &Context,
    out: &mut Vec<u8>,
    split: &mut Split,
) -> Result<usize, String> {
    let mut i = start + 1;
    let brace = raw.get(i) == Some(&b'{');
    if brace {
        i += 1;
    }
    let name_start = i;
    match raw.get(i) {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b'.' => i += 1,
        _ => {
            return Err(format!(
                "forbidden first char in environment variable name at position {}",
                i + 1
            ))
        }
    }
    while raw
        .get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    {
        i += 1;
    }
    let name = String::from_utf8_lossy(&raw[name_start..i]).into_owned();
    let mut value = match name.as_str() {
        ".LINE" => Some(context.line.to_string()),
        ".FILE" => Some(context.file.to_string()),
        // Sections are known to the parser only; HAProxy's own use of it is rare.
        ".SECTION" => Some(String::new()),
        n if n.starts_with('.') => {
            return Err(format!(
                "forbidden first char in environment variable name at position {}",
                name_start + 1
            ))
        }
        n => (context.env)(n),
    };
    let mut word_expand = false;
    if brace {
        if raw.get(i) == Some(&b'[') {
            if raw.get(i + 1..i + 3) != Some(b"*]") {
                return Err(format!(
                    "truncated or invalid word expansion sequence at position {}",
                    i + 1
                ));
            }
            word_expand = true;
            i += 3;
        }
        if raw.get(i) == Some(&b'-') {
            let close = raw[i..].iter().position(|&b| b == b'}').map(|p| p + i);
            let Some(close) = close else {
                return Err(format!(
                    "unmatched brace in environment variable name at position {}",
                    start + 2
                ));
            };
            if value.is_none() {
                value = Some(decode(raw[i + 1..close].to_vec()));
            }
            i = close;
        }
        if raw.get(i) != Some(&b'}') {
            return Err(format!(
                "unmatched brace in environment variable name at position {}",
                start + 2
            ));
        }
        i += 1;
    }
    match value {
        None => {
            if !split.unset.contains(&name) {
                split.unset.push(name);
            }
        }
        Some(v) if word_expand => {
            // `${VAR[*]}`: each blank-separated part of the value is a word of its own.
            let mut parts = v
                .split(|c: char| c.is_ascii_whitespace())
                .filter(|p| !p.is_empty());
            if let Some(first) = parts.next() {
                out.extend_from_slice(first.as_bytes());
            }
            for part in parts {
                split.words.push(decode(std::mem::take(out)));
                out.extend_from_slice(part.as_bytes());
            }
        }
        Some(v) => out.extend_from_slice(v.as_bytes()),
    }
    Ok(i)
}

/// Remembers `$NAME`/`${NAME}` written where HAProxy does not expand it.
fn note_unexpanded(after: &[u8], names: &mut Vec<String>) {
    let after = after.strip_prefix(b"{").unwrap_or(after);
    let len = after
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count();
    if len > 0 && (after[0].is_ascii_alphabetic() || after[0] == b'_') {
        names.push(String::from_utf8_lossy(&after[..len]).into_owned());
    }
}

/// A word as text: UTF-8 when it is, else each byte as its Latin-1 character.
fn decode(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => e.into_bytes().iter().map(|&b| char::from(b)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("10.0.0.1".into()),
            "LIST" => Some("a  b c".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn split(s: &str) -> Result<Split, String> {
        let context = Context {
            env: &env,
            file: "t.cfg",
            line: 7,
        };
        split_words(s.as_bytes(), &context)
    }

    fn words(s: &str) -> Vec<String> {
        split(s).unwrap().words
    }

    #[test]
    fn splits_on_blanks_and_drops_comments() {
        assert_eq!(words(" bind :8080   # front"), vec!["bind", ":8080"]);
        assert_eq!(
            words("\tserver s1 1.2.3.4:80\tcheck"),
            vec!["server", "s1", "1.2.3.4:80", "check"]
        );
        assert!(words("   # only a comment").is_empty());
        assert_eq!(words("a b\r"), vec!["a", "b"]);
    }

    #[test]
    fn quotes_and_escapes_group_words() {
        assert_eq!(
            words(r#"option httpchk "GET /a b""#),
            vec!["option", "httpchk", "GET /a b"]
        );
        assert_eq!(
            words(r"stats realm My\ Realm"),
            vec!["stats", "realm", "My Realm"]
        );
        assert_eq!(words(r"x 'a\b#c'"), vec!["x", r"a\b#c"]);
        assert_eq!(words(r#"x "" y"#), vec!["x", "", "y"]);
        assert_eq!(words(r"x a\#b"), vec!["x", "a#b"]);
    }

    #[test]
    fn backslashes_escape_only_what_haproxy_escapes() {
        // A regex keeps its backslashes.
        assert_eq!(
            words(r"acl a path_reg ^/a\.b\d"),
            vec!["acl", "a", "path_reg", r"^/a\.b\d"]
        );
        assert_eq!(words(r"x a\\b \x41\t"), vec!["x", r"a\b", "A\t"]);
        assert_eq!(words(r#"x "a\"b" 'c\'"#), vec!["x", "a\"b", r"c\"]);
        assert_eq!(words(r"x \$HOST"), vec!["x", r"\$HOST"]);
        assert_eq!(words(r#"x "\$HOST""#), vec!["x", "$HOST"]);
        assert!(split(r"x \xZZ").unwrap_err().contains("hexadecimal"));
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        assert!(split("x \"abc").is_err());
        assert!(split("x 'abc").is_err());
        assert!(split("x abc\\").is_err());
        assert_eq!(
            split("x 'abc").unwrap_err(),
            "unmatched quote at position 3"
        );
        assert!(split("x\0y").unwrap_err().contains("Stray NUL character"));
    }

    #[test]
    fn variables_expand_inside_double_quotes_only() {
        assert_eq!(words(r#"bind "${HOST}:80""#), vec!["bind", "10.0.0.1:80"]);
        assert_eq!(words(r#"bind "$HOST:80""#), vec!["bind", "10.0.0.1:80"]);
        assert_eq!(words(r#"x "$HOST-a""#), vec!["x", "10.0.0.1-a"]);
        assert_eq!(words(r#"x '${HOST}'"#), vec!["x", "${HOST}"]);
        let s = split(r"bind $HOST:80 ${PORT}").unwrap();
        assert_eq!(s.words, vec!["bind", "$HOST:80", "${PORT}"]);
        assert_eq!(s.unexpanded, vec!["HOST", "PORT"]);
        assert_eq!(
            words(r#"x "${NOPE-8080}" "${HOST-x}""#),
            vec!["x", "8080", "10.0.0.1"]
        );
        assert_eq!(words(r#"x "${EMPTY-d}""#), vec!["x", ""]);
        assert_eq!(words(r#"x "${LIST[*]}" y"#), vec!["x", "a", "b", "c", "y"]);
        assert_eq!(words(r#"x "${LIST}""#), vec!["x", "a  b c"]);
        assert_eq!(words(r#"x "${.LINE}@${.FILE}""#), vec!["x", "7@t.cfg"]);
    }

    #[test]
    fn unset_variables_are_empty_and_named() {
        let s = split(r#"log "${LOGHOST}" local0 "$LOGHOST""#).unwrap();
        assert_eq!(s.words, vec!["log", "", "local0", ""]);
        assert_eq!(s.unset, vec!["LOGHOST"]);
    }

    #[test]
    fn bad_variables_are_errors() {
        assert!(split(r#"x "${HOST""#)
            .unwrap_err()
            .contains("unmatched brace"));
        assert!(split(r#"x "$1""#)
            .unwrap_err()
            .contains("forbidden first char"));
        assert!(split(r#"x "${HOST[x]}""#)
            .unwrap_err()
            .contains("word expansion"));
        assert!(split(r#"x "${.NOPE}""#)
            .unwrap_err()
            .contains("forbidden first char"));
    }

    #[test]
    fn latin1_bytes_are_kept_not_refused() {
        let file: Arc<str> = Arc::from("t.cfg");
        let lexed = tokenize_bytes(&file, b"# caf\xe9\nx d\xe9j\xe0 \xc3\xa9\n", &env);
        assert!(lexed.errors.is_empty());
        assert_eq!(lexed.lines.len(), 1);
        assert_eq!(lexed.lines[0].words, vec!["x", "déjà", "é"]);
    }

    #[test]
    fn tokenize_keeps_line_numbers() {
        let file: Arc<str> = Arc::from("t.cfg");
        let (lines, errors) = tokenize(&file, "global\n\n  # c\n daemon\n x \"y\n");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].location.line, 4);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 5);
        let lexed = tokenize_bytes(&file, b"a\nb \"${UNSET}\"\n", &env);
        assert_eq!(lexed.warnings.len(), 1);
        assert_eq!(lexed.warnings[0].line, 2);
        assert!(lexed.warnings[0].message.contains("'UNSET'"));
    }
}
