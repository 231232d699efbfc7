//! `server-template PREFIX NUM[-NUM] ADDR[:PORT] [params]` and the `init-addr` server option:
//! how a server's name becomes an address at load, when there is no `resolvers` section.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::address::{parse_server_addr_with, resolve_host};
use super::draft::ProxyDraft;
use super::error::Diagnostics;
use super::lexer::Line;
use super::model::ServerAddr;
use super::server::{add_server, server_settings};
use super::units::parse_uint;

/// One way `init-addr` finds an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitMethod {
    /// `last`: the address a server-state file kept; ringlb keeps none (states survive
    /// reloads in-process), so this never finds one.
    Last,
    /// `libc`: the system resolver.
    Libc,
    /// `none`: no address; the server starts in maintenance.
    None,
    /// An address given outright.
    Ip(IpAddr),
}

/// `init-addr`: the methods in order, HAProxy's default `last,libc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitAddr {
    methods: [Option<InitMethod>; 4],
}

impl Default for InitAddr {
    fn default() -> Self {
        Self {
            methods: [Some(InitMethod::Last), Some(InitMethod::Libc), None, None],
        }
    }
}

impl InitAddr {
    /// The methods, in the order they are tried.
    pub fn methods(&self) -> impl Iterator<Item = InitMethod> + '_ {
        self.methods.iter().flatten().copied()
    }
}

/// Parses `last,libc,none,10.0.0.1`-style lists (at most four methods, as there are four kinds).
pub fn parse_init_addr(text: &str) -> Result<InitAddr, String> {
    let mut init = InitAddr { methods: [None; 4] };
    for (i, word) in text.split(',').enumerate() {
        let method = match word {
            "last" => InitMethod::Last,
            "libc" => InitMethod::Libc,
            "none" => InitMethod::None,
            other => match other.parse::<IpAddr>() {
                Ok(ip) => InitMethod::Ip(ip),
                Err(_) => {
                    return Err(format!(
                        "'init-addr' expects 'last', 'libc', 'none' or an IP address, comma separated (got '{other}')"
                    ))
                }
            },
        };
        let slot = init
            .methods
            .get_mut(i)
            .ok_or("'init-addr' takes at most four methods")?;
        *slot = Some(method);
    }
    Ok(init)
}

/// Resolves a server address with `init`: the address, and whether there is none (`none`).
pub fn resolve_server_addr(text: &str, init: &InitAddr) -> Result<(ServerAddr, bool), String> {
    let mut last_error = None;
    let mut none = false;
    let parsed = parse_server_addr_with(text, &mut |host| {
        for method in init.methods() {
            match method {
                InitMethod::Last => {}
                InitMethod::Libc => match resolve_host(host) {
                    Ok(ip) => return Ok(ip),
                    Err(e) => last_error = Some(e),
                },
                InitMethod::Ip(ip) => return Ok(ip),
                InitMethod::None => {
                    none = true;
                    return Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
                }
            }
        }
        Err(last_error
            .take()
            .unwrap_or_else(|| format!("no 'init-addr' method found an address for '{host}'")))
    })?;
    if none {
        // Port 0 as well: nothing, not even an admin's "enable", can send traffic there.
        let addr = ServerAddr {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            port_from_client: false,
        };
        return Ok((addr, true));
    }
    Ok((parsed, false))
}

/// Applies `server-template PREFIX NUM|FIRST-LAST ADDR[:PORT] [params]`: servers PREFIX<n>,
/// each at ADDR (names resolved once, at load).
pub fn parse_server_template(draft: &mut ProxyDraft, line: &Line, diag: &mut Diagnostics) {
    let at = &line.location;
    let (Some(prefix), Some(range), Some(addr_text)) =
        (line.words.get(1), line.words.get(2), line.words.get(3))
    else {
        diag.error(
            at,
            "'server-template' expects <prefix> <nb | range> <addr>[:<port>] as arguments",
        );
        return;
    };
    let (first, last) = match parse_range(range) {
        Ok(r) => r,
        Err(message) => {
            diag.error(at, format!("'server-template {prefix}': {message}"));
            return;
        }
    };
    let label = format!("server-template {prefix}");
    let Some(settings) = server_settings(draft, &label, &line.words[4..], line, diag) else {
        return;
    };
    // One lookup for all of them: the same name, and up to 1024 servers.
    let resolved = match resolve_server_addr(addr_text, &settings.init_addr) {
        Ok(resolved) => resolved,
        Err(message) => {
            diag.error(at, format!("'{label}': {message}"));
            return;
        }
    };
    for n in first..=last {
        let name = format!("{prefix}{n}");
        add_server(
            draft,
            &name,
            addr_text,
            || Ok(resolved),
            &settings,
            line,
            diag,
        );
    }
}

/// `NUM` (1 to NUM) or `FIRST-LAST`, at most 1024 servers at a time.
fn parse_range(text: &str) -> Result<(u64, u64), String> {
    let bad = || {
        format!(
            "invalid range '{text}': expects <number> or <first>-<last> with 1 <= first <= last"
        )
    };
    let (first, last) = match text.split_once('-') {
        Some((a, b)) => (
            parse_uint(a, u64::from(u32::MAX)),
            parse_uint(b, u64::from(u32::MAX)),
        ),
        None => (Ok(1), parse_uint(text, u64::from(u32::MAX))),
    };
    let (first, last) = (first.map_err(|_| bad())?, last.map_err(|_| bad())?);
    if first == 0 || last < first {
        return Err(bad());
    }
    if last - first >= 1024 {
        return Err(format!("range '{text}' declares more than 1024 servers"));
    }
    Ok((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_addr_lists() {
        assert_eq!(
            InitAddr::default().methods().collect::<Vec<_>>(),
            vec![InitMethod::Last, InitMethod::Libc]
        );
        let init = parse_init_addr("last,libc,none").unwrap();
        assert_eq!(
            init.methods().collect::<Vec<_>>(),
            vec![InitMethod::Last, InitMethod::Libc, InitMethod::None]
        );
        let init = parse_init_addr("10.0.0.9").unwrap();
        assert_eq!(
            init.methods().next(),
            Some(InitMethod::Ip("10.0.0.9".parse().unwrap()))
        );
        assert!(parse_init_addr("libc,dns").unwrap_err().contains("'dns'"));
        assert!(parse_init_addr("last,last,last,last,last").is_err());
    }

    #[test]
    fn resolution_follows_init_addr() {
        let init = InitAddr::default();
        let (a, none) = resolve_server_addr("localhost:8080", &init).unwrap();
        assert!(a.addr.ip().is_loopback() && a.addr.port() == 8080 && !none);
        let e = resolve_server_addr("no-such-host.invalid:80", &init).unwrap_err();
        assert!(
            e.contains("could not resolve address 'no-such-host.invalid'"),
            "{e}"
        );
        let init = parse_init_addr("last,libc,none").unwrap();
        let (a, none) = resolve_server_addr("no-such-host.invalid:80", &init).unwrap();
        assert!(none);
        assert_eq!(a.addr, "0.0.0.0:0".parse().unwrap());
        let init = parse_init_addr("libc,192.0.2.7").unwrap();
        let (a, none) = resolve_server_addr("no-such-host.invalid:80", &init).unwrap();
        assert_eq!((a.addr, none), ("192.0.2.7:80".parse().unwrap(), false));
        // A literal address needs no method.
        let init = parse_init_addr("none").unwrap();
        let (a, none) = resolve_server_addr("10.1.2.3:81", &init).unwrap();
        assert_eq!((a.addr, none), ("10.1.2.3:81".parse().unwrap(), false));
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("3").unwrap(), (1, 3));
        assert_eq!(parse_range("5-7").unwrap(), (5, 7));
        for bad in ["0", "3-1", "x", "1-", "-2", "0-2"] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
        assert!(parse_range("1-5000").unwrap_err().contains("1024"));
    }
}
