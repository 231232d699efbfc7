//! `balance` and `hash-type` lines, and what they need once a section is complete: server
//! ids (they place a server's points on a consistent-hash ring) and the mode check.

use super::error::Diagnostics;
use super::model::{Balance, HashFunction, HashKey, HashType, Location, Mode, Proxy, UriHash};
use super::units::parse_uint;

/// What `balance` said: the algorithm, and a note to warn about.
pub type Parsed = (Balance, Option<String>);

/// Parses the arguments of `balance`, as HAProxy 2.6's `backend_parse_balance`.
pub fn parse_balance(args: &[String]) -> Result<Parsed, String> {
    let Some(algo) = args.first() else {
        return Err("expects an algorithm".into());
    };
    let rest = &args[1..];
    let simple = |b: Balance| -> Result<Parsed, String> {
        match rest.first() {
            Some(extra) => Err(format!("unexpected argument '{extra}' after '{algo}'")),
            None => Ok((b, None)),
        }
    };
    match algo.as_str() {
        "roundrobin" => simple(Balance::RoundRobin),
        "static-rr" => simple(Balance::StaticRr),
        "leastconn" => simple(Balance::LeastConn),
        "first" => simple(Balance::First),
        "random" => simple(Balance::Random { draws: 2 }),
        "source" => simple(Balance::Hash(HashKey::Source)),
        "uri" => parse_uri(rest).map(|u| (Balance::Hash(HashKey::Uri(u)), None)),
        "url_param" => parse_url_param(rest),
        other if other.starts_with("random(") => {
            let n = other
                .strip_prefix("random(")
                .and_then(|r| r.strip_suffix(')'))
                .ok_or("random : missing closing parenthesis.")?;
            let draws = parse_uint(n, 100).map_err(|e| format!("random(<draws>): {e}"))?;
            if draws == 0 {
                return Err("random(<draws>) expects at least 1 draw".into());
            }
            simple(Balance::Random {
                draws: draws as u32,
            })
        }
        other if other.starts_with("hdr(") => parse_hdr(other, rest),
        other if other.starts_with("rdp-cookie") => {
            let name = match &other["rdp-cookie".len()..] {
                "" => "mstshash",
                rest => rest
                    .strip_prefix('(')
                    .and_then(|r| r.split_once(')'))
                    .map(|(name, _)| name)
                    .filter(|n| !n.is_empty())
                    .ok_or("rdp-cookie : missing cookie name.")?,
            };
            simple(Balance::Hash(HashKey::RdpCookie {
                name: name.to_string(),
            }))
        }
        other => Err(format!(
            "unsupported algorithm '{other}' (supported: roundrobin, static-rr, leastconn, random, random(<draws>), first, source, uri, url_param, hdr(<name>), rdp-cookie[(<name>)])"
        )),
    }
}

fn parse_uri(args: &[String]) -> Result<UriHash, String> {
    let mut uri = UriHash::default();
    let mut i = 0;
    while let Some(word) = args.get(i) {
        match word.as_str() {
            "len" | "depth" => {
                let value = args.get(i + 1).map(String::as_str).unwrap_or("");
                let n = value
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0 && n <= i32::MAX as usize)
                    .ok_or_else(|| {
                        format!("uri : '{word}' expects a positive integer (got '{value}').")
                    })?;
                if word == "len" {
                    uri.len = n;
                } else {
                    uri.depth = n;
                }
                i += 2;
            }
            "whole" => {
                uri.whole = true;
                i += 1;
            }
            "path-only" => {
                uri.path_only = true;
                i += 1;
            }
            other => {
                return Err(format!(
                    "uri only accepts parameters 'len', 'depth', 'path-only', and 'whole' (got '{other}')."
                ))
            }
        }
    }
    Ok(uri)
}

fn parse_url_param(args: &[String]) -> Result<Parsed, String> {
    let Some(name) = args.first().filter(|n| !n.is_empty()) else {
        return Err("url_param requires an URL parameter name.".into());
    };
    let note = match args.get(1).map(String::as_str) {
        None => None,
        Some("check_post") if args.len() == 2 => Some(
            "'url_param check_post': the request body is not searched for the parameter; a POST without it in the URL is balanced round robin"
                .to_string(),
        ),
        Some("check_post") => {
            return Err(format!("unexpected argument '{}' after 'check_post'", args[2]))
        }
        Some(other) => {
            return Err(format!(
                "url_param only accepts 'check_post' modifier (got '{other}')."
            ))
        }
    };
    let key = HashKey::UrlParam { name: name.clone() };
    Ok((Balance::Hash(key), note))
}

fn parse_hdr(algo: &str, args: &[String]) -> Result<Parsed, String> {
    let name = algo
        .strip_prefix("hdr(")
        .and_then(|r| r.strip_suffix(')'))
        .filter(|n| !n.is_empty() && !n.contains(')'))
        .ok_or("hdr requires an http header field name.")?;
    let domain_only = match args {
        [] => false,
        [m] if m == "use_domain_only" => true,
        [m] => {
            return Err(format!(
                "hdr({name}) only accepts 'use_domain_only' modifier (got '{m}')."
            ))
        }
        [_, extra, ..] => return Err(format!("unexpected argument '{extra}'")),
    };
    let key = HashKey::Header {
        name: name.to_string(),
        domain_only,
    };
    Ok((Balance::Hash(key), None))
}

/// Parses the arguments of `hash-type map-based|consistent [FUNCTION [avalanche]]`.
///
/// As HAProxy: `consistent` alone means sdbm with avalanche; a named function has avalanche
/// only when it says so.
pub fn parse_hash_type(args: &[String]) -> Result<HashType, String> {
    let consistent = match args.first().map(String::as_str) {
        Some("consistent") => true,
        Some("map-based") => false,
        Some("avalanche") => {
            return Err("experimental feature 'hash-type avalanche' is not supported anymore, please use 'hash-type map-based sdbm avalanche' instead.".into())
        }
        _ => return Err("'hash-type' only supports 'consistent' and 'map-based'.".into()),
    };
    let Some(function) = args.get(1) else {
        return Ok(HashType {
            consistent,
            function: HashFunction::Sdbm,
            avalanche: consistent,
        });
    };
    let function = match function.as_str() {
        "sdbm" => HashFunction::Sdbm,
        "djb2" => HashFunction::Djb2,
        "wt6" => HashFunction::Wt6,
        "crc32" => HashFunction::Crc32,
        _ => {
            return Err(
                "'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions."
                    .into(),
            )
        }
    };
    let avalanche = match args.get(2).map(String::as_str) {
        None => false,
        Some("avalanche") if args.len() == 3 => true,
        Some("avalanche") => return Err(format!("unexpected argument '{}'", args[3])),
        Some(_) => {
            return Err(
                "'hash-type' only supports 'avalanche' as a modifier for hash functions.".into(),
            )
        }
    };
    Ok(HashType {
        consistent,
        function,
        avalanche,
    })
}

/// Checks a `server` line's `id` against the ids already taken in its section.
pub fn check_server_id(proxy: &Proxy, id: u32) -> Result<(), String> {
    match proxy.servers.iter().find(|s| s.explicit_id && s.puid == id) {
        Some(other) => Err(format!(
            "'id' : custom id {id} already used at {} ('server {}')",
            other.location, other.name
        )),
        None => Ok(()),
    }
}

/// Completes a section: numbers the servers without an `id`, and turns a layer 7 hash in a
/// `mode tcp` backend into round robin with HAProxy's warning.
pub fn finish(proxy: &mut Proxy, diag: &mut Diagnostics) {
    assign_server_ids(proxy);
    if proxy.is_backend() && proxy.mode == Mode::Tcp && proxy.balance.needs_http() {
        proxy.balance = Balance::RoundRobin;
        let at: Location = proxy.location.clone();
        diag.warn(
            &at,
            format!(
                "Layer 7 hash not possible for {} '{}' (needs 'mode http'). Falling back to round robin.",
                proxy.kind.keyword(),
                proxy.name
            ),
        );
    }
}

/// HAProxy's numbering (`cfgparse.c`): in declaration order, a server without an `id` takes
/// the first free id from a counter that also advances past servers that have one.
fn assign_server_ids(proxy: &mut Proxy) {
    let mut used: Vec<u32> = proxy
        .servers
        .iter()
        .filter(|s| s.explicit_id)
        .map(|s| s.puid)
        .collect();
    let mut next: u32 = 1;
    for server in &mut proxy.servers {
        if !server.explicit_id {
            while used.contains(&next) {
                next += 1;
            }
            server.puid = next;
            used.push(next);
        }
        next += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn balance(s: &str) -> Result<Balance, String> {
        parse_balance(&words(s)).map(|(b, _)| b)
    }

    #[test]
    fn simple_algorithms() {
        assert_eq!(balance("roundrobin").unwrap(), Balance::RoundRobin);
        assert_eq!(balance("random").unwrap(), Balance::Random { draws: 2 });
        assert_eq!(balance("random(3)").unwrap(), Balance::Random { draws: 3 });
        assert!(balance("random(0)").is_err());
        assert!(balance("leastconn x").is_err());
        assert_eq!(balance("source").unwrap(), Balance::Hash(HashKey::Source));
    }

    #[test]
    fn uri_options() {
        assert_eq!(
            balance("uri whole len 10 depth 2 path-only").unwrap(),
            Balance::Hash(HashKey::Uri(UriHash {
                whole: true,
                path_only: true,
                len: 10,
                depth: 2
            }))
        );
        assert!(balance("uri len 0")
            .unwrap_err()
            .contains("positive integer"));
        assert!(balance("uri depth").is_err());
        assert!(balance("uri deep").unwrap_err().contains("'deep'"));
    }

    #[test]
    fn url_param_and_hdr() {
        let (b, note) = parse_balance(&words("url_param id check_post")).unwrap();
        assert_eq!(b, Balance::Hash(HashKey::UrlParam { name: "id".into() }));
        assert!(note.unwrap().contains("check_post"));
        assert!(balance("url_param").is_err());
        assert!(balance("url_param id post").is_err());
        assert_eq!(
            balance("hdr(Host) use_domain_only").unwrap(),
            Balance::Hash(HashKey::Header {
                name: "Host".into(),
                domain_only: true
            })
        );
        assert!(balance("hdr()").is_err());
        assert!(balance("hdr(x) other").is_err());
        let rdp = |name: &str| Balance::Hash(HashKey::RdpCookie { name: name.into() });
        assert_eq!(balance("rdp-cookie").unwrap(), rdp("mstshash"));
        assert_eq!(balance("rdp-cookie(user)").unwrap(), rdp("user"));
        for bad in ["rdp-cookie()", "rdp-cookie(user", "rdp-cookiex"] {
            assert!(
                balance(bad).unwrap_err().contains("missing cookie name"),
                "{bad}"
            );
        }
        assert!(balance("hash req.hdr(x)").is_err());
    }

    #[test]
    fn hash_types() {
        let t = |s: &str| parse_hash_type(&words(s));
        assert_eq!(t("map-based").unwrap(), HashType::default());
        assert_eq!(
            t("consistent").unwrap(),
            HashType {
                consistent: true,
                function: HashFunction::Sdbm,
                avalanche: true
            }
        );
        assert_eq!(
            t("consistent djb2").unwrap(),
            HashType {
                consistent: true,
                function: HashFunction::Djb2,
                avalanche: false
            }
        );
        assert!(t("map-based crc32 avalanche").unwrap().avalanche);
        assert!(t("avalanche").is_err());
        assert!(t("ring").is_err());
        assert!(t("consistent md5").is_err());
        assert!(t("consistent wt6 fast").is_err());
    }

    fn load(text: &str) -> Result<super::super::Loaded, String> {
        super::super::load_sources(&[("t.cfg".into(), text.into())]).map_err(|e| e.to_string())
    }

    #[test]
    fn server_ids_are_numbered_around_explicit_ones() {
        // HAProxy's numbering: the counter also moves past servers that have an id.
        let loaded = load(
            "backend b\n server a 127.0.0.1:1\n server b 127.0.0.1:2 id 1\n server c 127.0.0.1:3\n server d 127.0.0.1:4 id 9\n server e 127.0.0.1:5\n",
        )
        .unwrap();
        let ids: Vec<u32> = loaded.config.proxies[0]
            .servers
            .iter()
            .map(|s| s.puid)
            .collect();
        assert_eq!(ids, vec![2, 1, 4, 9, 6]);
        let err = load("backend b\n server a 127.0.0.1:1 id 3\n server b 127.0.0.1:2 id 3\n")
            .unwrap_err();
        assert!(
            err.contains("[t.cfg:3]") && err.contains("custom id 3 already used"),
            "{err}"
        );
        let err = load("backend b\n default-server id 3\n").unwrap_err();
        assert!(err.contains("[t.cfg:2]") && err.contains("'id'"), "{err}");
        assert!(load("backend b\n server a 127.0.0.1:1 id 0\n").is_err());
    }

    #[test]
    fn keywords_in_sections_with_file_and_line() {
        let loaded = load(
            "defaults\n mode http\n hash-type consistent djb2\nbackend b\n balance url_param id check_post\n server a 127.0.0.1:1\n",
        )
        .unwrap();
        let p = &loaded.config.proxies[0];
        assert!(p.hash_type.consistent && p.hash_type.function == HashFunction::Djb2);
        assert!(!p.static_weights());
        let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("[t.cfg:5]") && w.contains("check_post")),
            "{warnings:?}"
        );
        let err = load("backend b\n balance nonsense\n").unwrap_err();
        assert!(
            err.contains("[t.cfg:2]") && err.contains("'nonsense'"),
            "{err}"
        );
        let err = load("backend b\n hash-type consistent md5\n").unwrap_err();
        assert!(
            err.contains("[t.cfg:2]") && err.contains("'hash-type'"),
            "{err}"
        );
        let err = load("frontend f\n bind :0\n hash-type consistent\n").unwrap_err();
        assert!(err.contains("[t.cfg:3]"), "{err}");
    }

    #[test]
    fn a_layer7_hash_in_mode_tcp_falls_back_to_round_robin() {
        let loaded = load("backend b\n mode tcp\n balance uri\n server a 127.0.0.1:1\n").unwrap();
        assert_eq!(loaded.config.proxies[0].balance, Balance::RoundRobin);
        assert!(loaded.warnings.iter().any(|w| w
            .to_string()
            .contains("Layer 7 hash not possible for backend 'b'")));
        let loaded =
            load("backend b\n mode tcp\n balance source\n server a 127.0.0.1:1\n").unwrap();
        assert_eq!(
            loaded.config.proxies[0].balance,
            Balance::Hash(HashKey::Source)
        );
        assert!(loaded.config.proxies[0].static_weights());
    }
}
