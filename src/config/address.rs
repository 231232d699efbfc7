//! Addresses as HAProxy writes them: `bind` lists and `server` addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use super::model::ServerAddr;

/// Parses a `bind` address list such as `:8080`, `*:80,127.0.0.1:8000-8002` or `[::]:443`.
pub fn parse_bind(text: &str) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for item in text.split(',') {
        if item.is_empty() {
            return Err(format!("empty address in bind list '{text}'"));
        }
        let (host, ports) = split_host_port(strip_family(item)?)
            .ok_or_else(|| format!("missing port in bind address '{item}'"))?;
        let ip = if host.is_empty() || host == "*" || host == "0.0.0.0" {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else if host == "::" {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            resolve_host(host)?
        };
        let (first, last) = parse_port_range(ports)?;
        for port in first..=last {
            out.push(SocketAddr::new(ip, port));
        }
    }
    Ok(out)
}

/// Parses a `server` address: `host:port`, `[v6]:port`, or `host` alone (the client's port).
pub fn parse_server_addr(text: &str) -> Result<ServerAddr, String> {
    parse_server_addr_with(text, &mut resolve_host)
}

/// As `parse_server_addr`, with `resolve` turning a host name (never a literal address)
/// into an address.
pub fn parse_server_addr_with(
    text: &str,
    resolve: &mut dyn FnMut(&str) -> Result<IpAddr, String>,
) -> Result<ServerAddr, String> {
    let plain = strip_family(text)?;
    let mut lookup = |host: &str| match host.parse::<IpAddr>() {
        Ok(ip) => Ok(ip),
        Err(_) if host.is_empty() => Err("missing address".to_string()),
        Err(_) => resolve(host),
    };
    match split_host_port(plain) {
        Some((host, port_text)) if !port_text.is_empty() => {
            if port_text.starts_with('+') || port_text.starts_with('-') {
                return Err(format!(
                    "port offsets ('{port_text}') in server address '{text}' are not supported"
                ));
            }
            let port = parse_port(port_text)?;
            if port == 0 {
                return Err(format!("invalid port 0 in server address '{text}'"));
            }
            Ok(ServerAddr {
                addr: SocketAddr::new(lookup(host)?, port),
                port_from_client: false,
            })
        }
        _ => {
            let host = plain.trim_start_matches('[').trim_end_matches(']');
            Ok(ServerAddr {
                addr: SocketAddr::new(lookup(host)?, 0),
                port_from_client: true,
            })
        }
    }
}

fn strip_family(text: &str) -> Result<&str, String> {
    if let Some(rest) = text
        .strip_prefix("ipv4@")
        .or_else(|| text.strip_prefix("ipv6@"))
        .or_else(|| text.strip_prefix("tcp@"))
        .or_else(|| text.strip_prefix("tcp4@"))
        .or_else(|| text.strip_prefix("tcp6@"))
    {
        return Ok(rest);
    }
    if let Some((family, _)) = text.split_once('@') {
        return Err(format!(
            "address family '{family}@' in '{text}' is not supported (only TCP over IPv4/IPv6)"
        ));
    }
    if text.starts_with('/') {
        return Err(format!(
            "UNIX socket addresses ('{text}') are not supported"
        ));
    }
    Ok(text)
}

/// Splits at the port separator: `[v6]:p`, or the last colon as HAProxy does (`::1:80`).
fn split_host_port(text: &str) -> Option<(&str, &str)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        return Some((host, port));
    }
    let colon = text.rfind(':')?;
    Some((&text[..colon], &text[colon + 1..]))
}

fn parse_port(text: &str) -> Result<u16, String> {
    text.parse::<u16>()
        .map_err(|_| format!("invalid port '{text}'"))
}

fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let (first, last) = match text.split_once('-') {
        Some((a, b)) => (parse_port(a)?, parse_port(b)?),
        None => {
            let p = parse_port(text)?;
            (p, p)
        }
    };
    if first == 0 || last < first {
        return Err(format!("invalid port range '{text}'"));
    }
    Ok((first, last))
}

/// A literal address, or the first the system resolver gives for `host`.
pub fn resolve_host(host: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    if host.is_empty() {
        return Err("missing address".to_string());
    }
    (host, 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .map(|a| a.ip())
        .ok_or_else(|| format!("could not resolve address '{host}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_forms() {
        assert_eq!(
            parse_bind(":8080").unwrap(),
            vec!["0.0.0.0:8080".parse().unwrap()]
        );
        assert_eq!(
            parse_bind("*:80").unwrap(),
            vec!["0.0.0.0:80".parse().unwrap()]
        );
        assert_eq!(
            parse_bind("[::]:80").unwrap(),
            vec!["[::]:80".parse().unwrap()]
        );
        assert_eq!(
            parse_bind(":::80").unwrap(),
            vec!["[::]:80".parse().unwrap()]
        );
        assert_eq!(
            parse_bind("127.0.0.1:81-82,ipv4@127.0.0.2:90").unwrap(),
            vec![
                "127.0.0.1:81".parse().unwrap(),
                "127.0.0.1:82".parse().unwrap(),
                "127.0.0.2:90".parse().unwrap()
            ]
        );
    }

    #[test]
    fn bad_binds() {
        assert!(parse_bind("8080").is_err());
        assert!(parse_bind(":0").is_err());
        assert!(parse_bind(":99999").is_err());
        assert!(parse_bind(":90-80").is_err());
        assert!(parse_bind("/tmp/sock").is_err());
        assert!(parse_bind("abns@x").is_err());
    }

    #[test]
    fn server_forms() {
        let s = parse_server_addr("192.168.6.132:80").unwrap();
        assert_eq!(s.addr, "192.168.6.132:80".parse().unwrap());
        assert!(!s.port_from_client);
        let s = parse_server_addr("[::1]:8080").unwrap();
        assert_eq!(s.addr, "[::1]:8080".parse().unwrap());
        let s = parse_server_addr("10.0.0.1").unwrap();
        assert!(s.port_from_client);
        let s = parse_server_addr("localhost:81").unwrap();
        assert_eq!(s.addr.port(), 81);
        assert!(parse_server_addr("10.0.0.1:+1").is_err());
        assert!(parse_server_addr("10.0.0.1:0").is_err());
        assert!(parse_server_addr("no-such-host.invalid:80").is_err());
    }
}
