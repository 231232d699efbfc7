//! The balancing key of a request for a hash-based `balance`, hashed as HAProxy 2.6 does
//! (`get_server_sh/uh/ph/hh` in `src/backend.c`). Reads the head in place: no allocation.

use std::net::{IpAddr, SocketAddr};

use crate::config::acl::payload::{rdp_cookie, Peek};
use crate::config::acl::RequestView;
use crate::config::{Balance, HashKey, HashType, Proxy, UriHash};
use crate::state::hashing::{finish, hash_bytes};

/// The hash `backend` balances this request on; `None` when its algorithm hashes nothing or
/// the key is absent (then HAProxy, and ringlb, fall back to round robin).
pub fn request_hash<V: RequestView + ?Sized>(backend: &Proxy, view: &V) -> Option<u32> {
    let Balance::Hash(key) = &backend.balance else {
        return None;
    };
    let t = backend.hash_type;
    match key {
        HashKey::Source => view.src().map(|peer| source_hash(t, peer)),
        HashKey::Uri(options) => Some(hash_bytes(t, uri_part(view.uri(), options))),
        HashKey::UrlParam { name } => {
            url_param(view.uri(), name.as_bytes()).map(|v| hash_bytes(t, v))
        }
        HashKey::Header { name, domain_only } => {
            let value = first_header_value(view, name.as_bytes())?;
            let part = if *domain_only {
                domain_part(value)
            } else {
                value
            };
            Some(hash_bytes(t, part))
        }
        HashKey::RdpCookie { name } => {
            match rdp_cookie(view.payload()?, name.as_bytes()) {
                // An empty value hashes nothing, as in HAProxy.
                Peek::Found(value) if !value.is_empty() => Some(hash_bytes(t, value)),
                _ => None,
            }
        }
    }
}

/// The hash of a connection's client address (`balance source`): HAProxy XORs the address's
/// 32-bit words (no hash function), then applies `avalanche` if asked.
pub fn source_hash(t: HashType, peer: SocketAddr) -> u32 {
    let h = match peer.ip() {
        IpAddr::V4(ip) => u32::from(ip),
        IpAddr::V6(ip) => ip
            .octets()
            .chunks_exact(4)
            .fold(0, |h, w| h ^ u32::from_be_bytes([w[0], w[1], w[2], w[3]])),
    };
    finish(t, h)
}

/// What `balance uri` hashes: up to `len` characters, stopping before the `?` (unless
/// `whole`) or at the slash that ends directory `depth`.
fn uri_part<'a>(uri: &'a [u8], options: &UriHash) -> &'a [u8] {
    let uri = if options.path_only { path(uri) } else { uri };
    let limit = if options.len > 0 {
        uri.len().min(options.len)
    } else {
        uri.len()
    };
    let mut slashes = 0;
    let mut end = 0;
    while end < limit {
        match uri[end] {
            b'/' => {
                slashes += 1;
                if options.depth > 0 && slashes == options.depth + 1 {
                    break;
                }
            }
            b'?' if !options.whole => break,
            _ => {}
        }
        end += 1;
    }
    &uri[..end]
}

/// The path (and query) of a request target: an absolute URI loses its scheme and
/// authority; `*`, an authority alone or nothing give an empty path (HAProxy's
/// `http_parse_path`).
fn path(uri: &[u8]) -> &[u8] {
    match uri.first() {
        None | Some(b'*') => b"",
        Some(b'/') => uri,
        Some(_) => {
            let Some(scheme_end) = uri.windows(3).position(|w| w == b"://") else {
                return b"";
            };
            let rest = &uri[scheme_end + 3..];
            rest.iter()
                .position(|&b| b == b'/')
                .map_or(&b""[..], |slash| &rest[slash..])
        }
    }
}

/// The value of query parameter `name` (HAProxy's `get_server_ph`: the first `name=` at the
/// start of a parameter, its value up to the next `&`).
fn url_param<'a>(uri: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let query = uri.iter().position(|&b| b == b'?')?;
    let mut params = &uri[query + 1..];
    let plen = name.len();
    while params.len() > plen {
        if params[plen] == b'=' && &params[..plen] == name {
            let value = &params[plen + 1..];
            let end = value.iter().position(|&b| b == b'&').unwrap_or(value.len());
            return Some(&value[..end]);
        }
        let amp = params.iter().position(|&b| b == b'&')?;
        params = &params[amp + 1..];
    }
    None
}

/// The first value of header `name`, as HAProxy's `http_find_header` without `full`: the
/// first occurrence up to its first comma, trimmed; `None` when absent or empty.
fn first_header_value<'a, V: RequestView + ?Sized>(view: &'a V, name: &[u8]) -> Option<&'a [u8]> {
    let mut found: Option<&'a [u8]> = None;
    view.for_each_header(&mut |n, value| {
        if n.eq_ignore_ascii_case(name) {
            let first = value.split(|&b| b == b',').next().unwrap_or_default();
            found = Some(first.trim_ascii());
            return true;
        }
        false
    });
    found.filter(|v| !v.is_empty())
}

/// `use_domain_only`: the label before the last dot (`www.example.com` gives `example`), or
/// the whole value without a dot, walking as HAProxy's `get_server_hh` does.
fn domain_part(value: &[u8]) -> &[u8] {
    let mut end = value.len();
    let mut in_domain = false;
    // HAProxy looks at value[p] for p from len down to 1 (value[len] is never a dot), and
    // once in the domain stops where value[p - 1] is a dot.
    let mut p = value.len();
    while p > 0 {
        if in_domain {
            if value[p - 1] == b'.' {
                break;
            }
        } else if p < value.len() && value[p] == b'.' {
            end = p;
            in_domain = true;
        }
        p -= 1;
    }
    &value[p..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str, options: UriHash) -> &str {
        std::str::from_utf8(uri_part(text.as_bytes(), &options)).unwrap()
    }

    #[test]
    fn uri_options() {
        let none = UriHash::default();
        assert_eq!(uri("/a/b/c?x=1", none), "/a/b/c");
        let whole = UriHash {
            whole: true,
            ..none
        };
        assert_eq!(uri("/a/b/c?x=1", whole), "/a/b/c?x=1");
        let depth = UriHash { depth: 2, ..none };
        assert_eq!(uri("/a/b/c?x=1", depth), "/a/b");
        assert_eq!(uri("/a?b/c", depth), "/a");
        let len = UriHash { len: 4, ..none };
        assert_eq!(uri("/abcdef", len), "/abc");
        let path_only = UriHash {
            path_only: true,
            ..none
        };
        assert_eq!(uri("http://h:8/p/q?z", path_only), "/p/q");
        assert_eq!(uri("http://h:8", path_only), "");
        assert_eq!(uri("*", path_only), "");
        assert_eq!(uri("http://h/p", none), "http://h/p");
    }

    #[test]
    fn url_params() {
        let p = |u: &str, n: &str| url_param(u.as_bytes(), n.as_bytes()).map(|v| v.to_vec());
        assert_eq!(p("/x?id=42&y=1", "id"), Some(b"42".to_vec()));
        assert_eq!(p("/x?y=1&id=42", "id"), Some(b"42".to_vec()));
        assert_eq!(p("/x?uid=42&id=7", "id"), Some(b"7".to_vec()));
        assert_eq!(
            p("/x?id=", "id"),
            Some(Vec::new()),
            "an empty value is a key"
        );
        assert_eq!(p("/x?id=&a=1", "id"), Some(Vec::new()));
        assert_eq!(p("/x?id", "id"), None);
        assert_eq!(p("/x", "id"), None);
        assert_eq!(p("/x?ID=1", "id"), None, "names are case-sensitive");
    }

    #[test]
    fn domains() {
        let d = |v: &str| String::from_utf8(domain_part(v.as_bytes()).to_vec()).unwrap();
        assert_eq!(d("www.example.com"), "example");
        assert_eq!(d("example.com"), "example");
        assert_eq!(d("a.b.example.co"), "example");
        assert_eq!(d("localhost"), "localhost");
    }

    #[test]
    fn source_words() {
        let t = HashType::default();
        assert_eq!(source_hash(t, "127.0.0.2:5".parse().unwrap()), 0x7f00_0002);
        assert_eq!(
            source_hash(t, "[::1:0:0:2]:5".parse().unwrap()),
            0x0001_0002,
            "the four 32-bit words XORed"
        );
    }
}
