//! Sample expressions outside ACLs: `%[fetch,conv…]` in log-format strings and the
//! expression of `set-var`. They read the same fetches as ACLs, with HAProxy's sample-context
//! rule that a header fetch without an occurrence reads the last one.

use super::eval::{self, RequestView};
use super::{parse, AclError, Converter, Fetch};

/// A variable's scope and name, as `txn.user` in `set-var(txn.user)` or `var(txn.user)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VarName(String);

impl VarName {
    /// Checks `SCOPE.NAME`: scopes `sess`, `txn`, `req` and `res` (all of them live as long
    /// as the transaction in ringlb); names of letters, digits, `_` and `.`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some((scope, name)) = text.split_once('.') else {
            return Err(format!(
                "invalid variable name '{text}': expects SCOPE.NAME (scope txn, req, res or sess)"
            ));
        };
        match scope {
            "txn" | "req" | "res" | "sess" => {}
            "proc" => {
                return Err(format!(
                    "variable '{text}': the 'proc' scope is not supported by ringlb (each shard has its own memory)"
                ))
            }
            other => {
                return Err(format!(
                    "invalid variable scope '{other}' in '{text}' (expects txn, req, res or sess)"
                ))
            }
        }
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(format!("invalid variable name '{text}'"));
        }
        Ok(Self(text.to_string()))
    }

    /// `SCOPE.NAME` as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A fetch and its converters, evaluated for its first value as a string.
#[derive(Debug, Clone)]
pub struct SampleExpr {
    /// What was written, for messages and comparisons.
    pub source: String,
    /// What is read.
    pub fetch: Fetch,
    /// Applied in order.
    pub converters: Vec<Converter>,
}

impl PartialEq for SampleExpr {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for SampleExpr {}

impl SampleExpr {
    /// Parses `fetch[(args)][,conv[(args)]…]`.
    pub fn parse(word: &str) -> Result<Self, AclError> {
        let (mut fetch, converters) = parse::parse_call_chain(word)?;
        // In a sample context a header fetch without an occurrence reads the last one.
        match &mut fetch {
            Fetch::Hdr { occ, .. } | Fetch::HdrVal { occ, .. } if *occ == 0 => *occ = -1,
            _ => {}
        }
        Ok(Self {
            source: word.to_string(),
            fetch,
            converters,
        })
    }

    /// Appends the expression's value as text to `out`; false (nothing appended) when the
    /// fetch finds nothing or a converter fails.
    pub fn append_to<V: RequestView + ?Sized>(&self, view: &V, out: &mut Vec<u8>) -> bool {
        eval::sample_bytes(&self.fetch, &self.converters, view, out)
    }
}
