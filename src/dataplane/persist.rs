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
    /// The request's method is safe (GET, HEAD, OPTIONS, TRACE): its response is cacheable
    /// unless the response says otherwise.
    pub safe_method: bool,
}

/// Applies `cookie` to the response head under rewriting, whose status was `status` as the
/// server sent it.
pub fn edit_response(
    cookie: &ResponseCookie<'_>,
    status: u16,
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
                if settings.nocache && cacheable(cookie.safe_method, status, edit, buf, extra) {
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

/// HAProxy 2.6's view of a cacheable response (its `TX_CACHEABLE`), which `nocache` marks
/// private: the answer to a safe method with a status cacheable by default (RFC 9110
/// §15.1), unless the first `Pragma` is `no-cache` or a Cache-Control value is `private`,
/// `no-cache`, `no-store`, `max-age=0` or `s-maxage=0` (a later `public` makes it cacheable
/// again, whatever the method and status); and in any case only with an expiry
/// (`max-age`, `s-maxage`, `Expires`) or a validator (`ETag`, `Last-Modified`).
fn cacheable(safe_method: bool, status: u16, edit: &HeadEdit, buf: &[u8], extra: &[u8]) -> bool {
    const BY_DEFAULT: [u16; 11] = [200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501];
    const NOT: [&[u8]; 5] = [
        b"private",
        b"no-cache",
        b"no-store",
        b"max-age=0",
        b"s-maxage=0",
    ];
    let mut cacheable = safe_method && BY_DEFAULT.contains(&status);
    let fields = || edit.fields.iter().map(|f| f.split(buf, extra));
    let named = |name: &'static [u8]| fields().filter(move |(n, _)| n.eq_ignore_ascii_case(name));
    // The first Pragma line decides, as a whole.
    if named(b"pragma")
        .next()
        .is_some_and(|(_, v)| v.trim_ascii().eq_ignore_ascii_case(b"no-cache"))
    {
        return false;
    }
    let mut fresh = false;
    for (_, value) in named(b"cache-control") {
        for directive in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
            let starts = |p: &[u8]| {
                directive
                    .get(..p.len())
                    .is_some_and(|d| d.eq_ignore_ascii_case(p))
            };
            if directive.eq_ignore_ascii_case(b"public") {
                cacheable = true;
            } else if NOT.iter().any(|d| directive.eq_ignore_ascii_case(d)) {
                cacheable = false;
            } else if starts(b"s-maxage") || starts(b"max-age") {
                fresh = true;
            }
        }
    }
    let validated = || {
        named(b"expires").next().is_some()
            || named(b"etag").next().is_some()
            || named(b"last-modified").next().is_some()
    };
    cacheable && (fresh || validated())
}
