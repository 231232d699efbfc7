//! Cookie persistence: `cookie NAME [insert|rewrite|prefix] [options]` in a backend and
//! `cookie VALUE` on its servers, with HAProxy 2.6's meaning.

use super::draft::ProxyDraft;
use super::error::Diagnostics;
use super::lexer::Line;

/// How the persistence cookie gets to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieMode {
    /// No mode: the application sets the cookie to a server's value itself.
    Passive,
    /// `insert`: ringlb adds `Set-Cookie: NAME=VALUE` when the client lacks a valid one.
    Insert,
    /// `rewrite`: the server's own `NAME` cookie gets the server's value.
    Rewrite,
    /// `prefix`: the server's `NAME` cookie gets `VALUE~` before its value.
    Prefix,
}

/// A backend's `cookie` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieSettings {
    /// The cookie's name.
    pub name: String,
    /// How it reaches the client.
    pub mode: CookieMode,
    /// `indirect`: no cookie to a client that has a valid one; in insert mode the cookie is
    /// also removed from the request the server gets.
    pub indirect: bool,
    /// `nocache`: a cacheable response that gets the cookie is marked `private`.
    pub nocache: bool,
    /// `postonly`: insert only in responses to POST requests.
    pub postonly: bool,
    /// `preserve`: a response that sets the cookie itself keeps it, and none is inserted.
    pub preserve: bool,
    /// `httponly`.
    pub httponly: bool,
    /// `secure`.
    pub secure: bool,
    /// `domain D` (repeatable).
    pub domains: Vec<String>,
    /// `attr A` (repeatable).
    pub attrs: Vec<String>,
}

impl CookieSettings {
    /// The `Set-Cookie` value HAProxy writes in insert mode for a server whose cookie value
    /// is `value`; for a server without one, a cookie that clears the client's.
    pub fn set_cookie(&self, value: Option<&str>) -> String {
        let mut out = match value {
            Some(value) => format!("{}={value}; path=/", self.name),
            None => format!(
                "{}=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/",
                self.name
            ),
        };
        for d in &self.domains {
            out.push_str("; domain=");
            out.push_str(d);
        }
        if self.httponly {
            out.push_str("; HttpOnly");
        }
        if self.secure {
            out.push_str("; Secure");
        }
        for a in &self.attrs {
            out.push_str("; ");
            out.push_str(a);
        }
        out
    }
}

/// Applies `cookie NAME [options]` (placement checked by the caller).
pub fn parse_line(draft: &mut ProxyDraft, line: &Line, diag: &mut Diagnostics) {
    let at = &line.location;
    let Some(name) = line.words.get(1).filter(|n| !n.is_empty()) else {
        diag.error(at, "'cookie' expects <cookie_name> as argument");
        return;
    };
    if !name
        .bytes()
        .all(|b| b.is_ascii_graphic() && !b"=;,\"".contains(&b))
    {
        diag.error(at, format!("'cookie': '{name}' is not a valid cookie name"));
        return;
    }
    let mut c = CookieSettings {
        name: name.clone(),
        mode: CookieMode::Passive,
        indirect: false,
        nocache: false,
        postonly: false,
        preserve: false,
        httponly: false,
        secure: false,
        domains: Vec::new(),
        attrs: Vec::new(),
    };
    let mut words = line.words[2..].iter();
    let mut modes = 0;
    while let Some(word) = words.next() {
        match word.as_str() {
            "insert" | "rewrite" | "prefix" => {
                modes += 1;
                c.mode = match word.as_str() {
                    "insert" => CookieMode::Insert,
                    "rewrite" => CookieMode::Rewrite,
                    _ => CookieMode::Prefix,
                };
            }
            "indirect" => c.indirect = true,
            "nocache" => c.nocache = true,
            "postonly" => c.postonly = true,
            "preserve" => c.preserve = true,
            "httponly" => c.httponly = true,
            "secure" => c.secure = true,
            "domain" | "attr" => {
                let Some(value) = words.next() else {
                    diag.error(at, format!("'cookie {name}': '{word}' expects a value"));
                    return;
                };
                if value.bytes().any(|b| b.is_ascii_control() || b == b';') {
                    diag.error(at, format!("'cookie {name}': invalid {word} '{value}'"));
                    return;
                }
                if word == "domain" {
                    c.domains.push(value.clone());
                } else {
                    c.attrs.push(value.clone());
                }
            }
            "maxidle" | "maxlife" | "dynamic" => {
                diag.error(
                    at,
                    format!("'cookie {name}': '{word}' is a HAProxy option that ringlb does not support yet"),
                );
                return;
            }
            other => {
                diag.error(
                    at,
                    format!(
                        "'cookie {name}' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache', \
                         'postonly', 'preserve', 'httponly', 'secure', 'domain' and 'attr' (got '{other}')"
                    ),
                );
                return;
            }
        }
    }
    if modes > 1 {
        diag.error(
            at,
            format!("'cookie {name}': only one of 'rewrite', 'insert' and 'prefix' may be given"),
        );
        return;
    }
    if c.mode != CookieMode::Insert
        && (c.postonly || c.preserve || c.nocache && c.mode == CookieMode::Passive)
    {
        let what = if c.postonly {
            "postonly"
        } else if c.preserve {
            "preserve"
        } else {
            "nocache"
        };
        diag.error(at, format!("'cookie {name}': '{what}' needs 'insert'"));
        return;
    }
    draft.proxy.cookie = Some(std::sync::Arc::new(c));
}
