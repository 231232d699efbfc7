//! Cookie persistence on the shard: which server a request's cookie designates, the cookie
//! as the server must see it (`indirect`, `prefix`), and the response's cookie lines
//! (`insert`, `rewrite`, `prefix`, `preserve`, `nocache`), with HAProxy 2.6's behaviour.

use crate::config::cookie::{CookieMode, CookieSettings};
use crate::config::{Proxy, ServerId};

use super::rewrite::{HeadEdit, RewriteError};

/// `NAME=VALUE` pairs of a Cookie header value, trimmed (to rewrite the header; reading one
/// cookie is the ACL engine's `cookie_value`).
fn pairs(value: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    value.split(|&b| b == b';').filter_map(|pair| {
        let pair = pair.trim_ascii();
        let eq = pair.iter().position(|&b| b == b'=')?;
        Some((pair[..eq].trim_ascii(), pair[eq + 1..].trim_ascii()))
    })
}

/// The server whose `cookie` value the request's cookie value names (before `~` in prefix
/// mode).
pub fn designated(be: &Proxy, settings: &CookieSettings, value: &[u8]) -> Option<ServerId> {
    let key = match settings.mode {
        CookieMode::Prefix => value.split(|&b| b == b'~').next().unwrap_or(value),
        _ => value,
    };
    be.servers
        .iter()
        .position(|s| s.cookie.as_deref().is_some_and(|c| c.as_bytes() == key))
}

/// Whether the request's cookie must change before the server sees it: removed in insert
/// mode with `indirect`, its `SERVER~` prefix dropped in prefix mode.
pub fn request_needs_edit(settings: &CookieSettings) -> bool {
    matches!(
        (settings.mode, settings.indirect),
        (CookieMode::Insert, true) | (CookieMode::Prefix, _)
    )
}

/// Rewrites the request's Cookie lines as [`request_needs_edit`] says.
pub fn edit_request(
    settings: &CookieSettings,
    edit: &mut HeadEdit,
    buf: &[u8],
    extra: &mut Vec<u8>,
) -> Result<(), RewriteError> {
    let name = settings.name.as_bytes();
    let mut index = 0;
    while index < edit.fields.len() {
        let field = edit.fields[index];
        let (n, value) = field.split(buf, extra);
        if field.hidden
            || !n.eq_ignore_ascii_case(b"cookie")
            || !pairs(value).any(|(k, _)| k == name)
        {
            index += 1;
            continue;
        }
        let mut kept: Vec<Vec<u8>> = Vec::new();
        for (k, v) in pairs(value) {
            if k != name {
                kept.push([k, b"=", v].concat());
            } else if settings.mode == CookieMode::Prefix {
                let rest = v.iter().position(|&b| b == b'~').map_or(v, |t| &v[t + 1..]);
                kept.push([k, b"=", rest].concat());
            }
        }
        if kept.is_empty() {
            edit.fields.remove(index);
            continue;
        }
        let value = kept.join(&b"; "[..]);
        edit.replace_value(index, buf, extra, &value)?;
        index += 1;
    }
    Ok(())
}

/// What the response's cookie lines need.
#[derive(Debug, Clone, Copy)]
pub struct ResponseCookie<'a> {
    /// The backend's `cookie` settings.
    pub settings: &'a CookieSettings,
    /// The serving server's cookie value (none: insert mode clears the client's cookie).
    pub value: Option<&'a str>,
    /// Insert mode: the client lacks a valid cookie for this server (and, with `postonly`,
    /// the request was a POST).
    pub insert: bool,
}

/// Applies `cookie` to the response head under rewriting.
pub fn edit_response(
    cookie: &ResponseCookie<'_>,
    edit: &mut HeadEdit,
    buf: &[u8],
    extra: &mut Vec<u8>,
) -> Result<(), RewriteError> {
    let settings = cookie.settings;
    let name = settings.name.as_bytes();
    let sets_ours = |edit: &HeadEdit, extra: &[u8], i: usize| {
        let (n, v) = edit.fields[i].split(buf, extra);
        n.eq_ignore_ascii_case(b"set-cookie") && cookie_name(v) == name
    };
    match settings.mode {
        CookieMode::Passive => {}
        CookieMode::Insert => {
            let server_sets = (0..edit.fields.len()).any(|i| sets_ours(edit, extra, i));
            if settings.preserve && server_sets {
                return Ok(());
            }
            let mut i = 0;
            while i < edit.fields.len() {
                if sets_ours(edit, extra, i) {
                    edit.fields.remove(i);
                } else {
                    i += 1;
                }
            }
            if cookie.insert {
                edit.add(
                    extra,
                    b"set-cookie",
                    settings.set_cookie(cookie.value).as_bytes(),
                )?;
                if settings.nocache && cacheable(edit, buf, extra) {
                    edit.add(extra, b"cache-control", b"private")?;
                }
            }
        }
        CookieMode::Rewrite | CookieMode::Prefix => {
            let Some(value) = cookie.value else {
                return Ok(());
            };
            for i in 0..edit.fields.len() {
                if !sets_ours(edit, extra, i) {
                    continue;
                }
                let (_, v) = edit.fields[i].split(buf, extra);
                let eq = v.iter().position(|&b| b == b'=').unwrap_or(v.len());
                let rest = &v[(eq + 1).min(v.len())..];
                let value_end = rest.iter().position(|&b| b == b';').unwrap_or(rest.len());
                let (old, attrs) = rest.split_at(value_end);
                let new_value = match settings.mode {
                    CookieMode::Rewrite => value.as_bytes().to_vec(),
                    _ => [value.as_bytes(), b"~", old.trim_ascii()].concat(),
                };
                let line = [name, b"=", &new_value, attrs].concat();
                edit.replace_value(i, buf, extra, &line)?;
            }
        }
    }
    Ok(())
}

fn cookie_name(set_cookie: &[u8]) -> &[u8] {
    let end = set_cookie
        .iter()
        .position(|&b| b == b'=' || b == b';')
        .unwrap_or(set_cookie.len());
    set_cookie[..end].trim_ascii()
}

/// HAProxy's view of a cacheable response, as far as `nocache` goes: an explicit freshness
/// (`max-age`, `s-maxage`) and no `private`, `no-cache` or `no-store`.
fn cacheable(edit: &HeadEdit, buf: &[u8], extra: &[u8]) -> bool {
    let mut fresh = false;
    for field in &edit.fields {
        let (n, v) = field.split(buf, extra);
        if !n.eq_ignore_ascii_case(b"cache-control") {
            continue;
        }
        for directive in v.split(|&b| b == b',') {
            let d = directive.trim_ascii().to_ascii_lowercase();
            if d.starts_with(b"max-age") || d.starts_with(b"s-maxage") {
                fresh = true;
            }
            if d == b"private" || d.starts_with(b"no-cache") || d == b"no-store" {
                return false;
            }
        }
    }
    fresh
}
