//! Splits HAProxy configuration text into lines of words.
//!
//! The rules are HAProxy's: words are separated by blanks, `#` starts a comment, a backslash
//! escapes the next character, and single or double quotes group words (no escapes inside
//! single quotes). Environment variables are not expanded.

use std::sync::Arc;

use super::model::Location;

/// One non-empty configuration line.
#[derive(Debug, Clone)]
pub struct Line {
    /// Where it was written.
    pub location: Location,
    /// Its words, quotes and escapes resolved.
    pub words: Vec<String>,
}

impl Line {
    /// The word at `index`, or "" past the end.
    pub fn word(&self, index: usize) -> &str {
        self.words.get(index).map(String::as_str).unwrap_or("")
    }
}

/// Why a line could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// One-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Splits `text` (the contents of `file`) into lines; blank and comment-only lines are dropped.
pub fn tokenize(file: &Arc<str>, text: &str) -> (Vec<Line>, Vec<LexError>) {
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        match split_words(raw) {
            Ok(words) if words.is_empty() => {}
            Ok(words) => lines.push(Line {
                location: Location {
                    file: Arc::clone(file),
                    line: number,
                },
                words,
            }),
            Err(message) => errors.push(LexError {
                line: number,
                message,
            }),
        }
    }
    (lines, errors)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

fn split_words(raw: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    // A word exists once any character or a quote pair was seen, so `""` is an empty word.
    let mut in_word = false;
    let mut quote = Quote::None;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Quote::Single, '\'') => quote = Quote::None,
            (Quote::Single, c) => current.push(c),
            (Quote::Double, '"') => quote = Quote::None,
            (_, '\\') => match chars.next() {
                Some(escaped) => {
                    current.push(unescape(escaped));
                    in_word = true;
                }
                None => return Err("line ends with an escape character ('\\')".to_string()),
            },
            (Quote::Double, c) => current.push(c),
            (Quote::None, '\'') => {
                quote = Quote::Single;
                in_word = true;
            }
            (Quote::None, '"') => {
                quote = Quote::Double;
                in_word = true;
            }
            (Quote::None, '#') => break,
            (Quote::None, ' ' | '\t' | '\r') => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (Quote::None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    match quote {
        Quote::None => {}
        Quote::Single => return Err("unmatched quote (')".to_string()),
        Quote::Double => return Err("unmatched quote (\")".to_string()),
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

fn unescape(c: char) -> char {
    match c {
        't' => '\t',
        'n' => '\n',
        'r' => '\r',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split_words(s).unwrap()
    }

    #[test]
    fn splits_on_blanks_and_drops_comments() {
        assert_eq!(words(" bind :8080   # front"), vec!["bind", ":8080"]);
        assert_eq!(
            words("\tserver s1 1.2.3.4:80\tcheck"),
            vec!["server", "s1", "1.2.3.4:80", "check"]
        );
        assert!(words("   # only a comment").is_empty());
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
    fn unterminated_quote_is_an_error() {
        assert!(split_words("x \"abc").is_err());
        assert!(split_words("x 'abc").is_err());
        assert!(split_words("x abc\\").is_err());
    }

    #[test]
    fn tokenize_keeps_line_numbers() {
        let file: Arc<str> = Arc::from("t.cfg");
        let (lines, errors) = tokenize(&file, "global\n\n  # c\n daemon\n x \"y\n");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].location.line, 4);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 5);
    }
}
