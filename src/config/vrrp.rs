//! `vrrp NAME` sections: one VRRP instance each, written with keepalived's `vrrp_instance`
//! words so that its users need not learn new ones.
//!
//! Times are keepalived's: a bare number is seconds and may have a fraction (`0.1`); a
//! number with an HAProxy unit (`100ms`, `2s`) is read as HAProxy reads it.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::error::Diagnostics;
use super::lexer::Line;
use super::model::{
    Location, Proxy, TrackBackend, VirtualAddress, Vrrp, VrrpInitialState, VrrpVersion,
    VRRP_PRIORITY_OWNER,
};
use super::units::{parse_time, parse_uint};

/// keepalived's default `priority`.
pub const DEFAULT_PRIORITY: u8 = 100;
/// keepalived's default `advert_int`.
pub const DEFAULT_ADVERT_INT: Duration = Duration::from_secs(1);
/// keepalived's default `garp_master_repeat`.
pub const DEFAULT_GARP_MASTER_REPEAT: u32 = 5;
/// keepalived's default `garp_master_delay`.
pub const DEFAULT_GARP_MASTER_DELAY: Duration = Duration::from_secs(5);
/// An advert's address count is one byte.
pub const MAX_VIRTUAL_ADDRESSES: usize = 255;
/// keepalived's upper bound for `preempt_delay`.
const MAX_PREEMPT_DELAY: Duration = Duration::from_secs(1000);
/// The keywords of a `vrrp` section, for the message about an unknown one.
const KEYWORDS: &str = "interface, state, virtual_router_id, priority, advert_int, version, nopreempt, preempt_delay, virtual_ipaddress, unicast_src_ip, unicast_peer, garp_master_repeat, garp_master_delay, track_backend, notify_master, notify_backup, notify_fault";

/// A `vrrp` section while it is read: what was written, checked as a whole at the end.
#[derive(Debug, Clone)]
pub struct VrrpDraft {
    name: String,
    location: Location,
    /// Single-valued keywords already seen, with where, to refuse a second one.
    seen: Vec<(&'static str, Location)>,
    interface: Option<String>,
    state: Option<VrrpInitialState>,
    virtual_router_id: Option<u8>,
    priority: Option<u8>,
    advert_int: Option<(Duration, Location)>,
    version: Option<VrrpVersion>,
    nopreempt: Option<Location>,
    preempt_delay: Option<(Duration, Location)>,
    virtual_addresses: Vec<(VirtualAddress, Location)>,
    unicast_src_ip: Option<Ipv4Addr>,
    unicast_peers: Vec<Ipv4Addr>,
    garp_master_repeat: Option<u32>,
    garp_master_delay: Option<Duration>,
    track_backends: Vec<(String, u8, Location)>,
    notify_master: Option<String>,
    notify_backup: Option<String>,
    notify_fault: Option<String>,
}

impl VrrpDraft {
    /// Starts the section `vrrp NAME` written at `location`.
    pub fn new(name: &str, location: Location) -> Self {
        Self {
            name: name.to_string(),
            location,
            seen: Vec::new(),
            interface: None,
            state: None,
            virtual_router_id: None,
            priority: None,
            advert_int: None,
            version: None,
            nopreempt: None,
            preempt_delay: None,
            virtual_addresses: Vec::new(),
            unicast_src_ip: None,
            unicast_peers: Vec::new(),
            garp_master_repeat: None,
            garp_master_delay: None,
            track_backends: Vec::new(),
            notify_master: None,
            notify_backup: None,
            notify_fault: None,
        }
    }
}

/// Applies one line of a `vrrp` section.
pub fn parse_line(draft: &mut VrrpDraft, line: &Line, diag: &mut Diagnostics) {
    let at = &line.location;
    let keyword = line.word(0);
    let args = line.words.get(1..).unwrap_or(&[]);
    let section = format!("vrrp '{}'", draft.name);
    let result = match keyword {
        "interface" => single(draft, "interface", at, args).and_then(|v| {
            if v.is_empty() || v.len() > 15 || v.contains('/') {
                return Err(format!("'{v}' is not an interface name"));
            }
            draft.interface = Some(v.to_string());
            Ok(())
        }),
        "state" => single(draft, "state", at, args).and_then(|v| {
            draft.state = Some(match v {
                "MASTER" => VrrpInitialState::Master,
                "BACKUP" => VrrpInitialState::Backup,
                other => return Err(format!("expects MASTER or BACKUP (got '{other}')")),
            });
            Ok(())
        }),
        "virtual_router_id" => single(draft, "virtual_router_id", at, args).and_then(|v| {
            draft.virtual_router_id = Some(ranged_u8(v, 1, 255)?);
            Ok(())
        }),
        "priority" => single(draft, "priority", at, args).and_then(|v| {
            draft.priority = Some(ranged_u8(v, 1, VRRP_PRIORITY_OWNER)?);
            Ok(())
        }),
        "advert_int" => single(draft, "advert_int", at, args).and_then(|v| {
            let t = parse_seconds(v)?;
            if t.is_zero() {
                return Err("must be more than 0".to_string());
            }
            draft.advert_int = Some((t, at.clone()));
            Ok(())
        }),
        "version" => single(draft, "version", at, args).and_then(|v| {
            draft.version = Some(match v {
                "2" => VrrpVersion::V2,
                "3" => VrrpVersion::V3,
                other => return Err(format!("expects 2 or 3 (got '{other}')")),
            });
            Ok(())
        }),
        "nopreempt" => no_argument(draft, "nopreempt", at, args).map(|()| {
            draft.nopreempt = Some(at.clone());
        }),
        "preempt_delay" => single(draft, "preempt_delay", at, args).and_then(|v| {
            let t = parse_seconds(v)?;
            if t > MAX_PREEMPT_DELAY {
                return Err(format!("'{v}' is more than 1000 seconds"));
            }
            draft.preempt_delay = Some((t, at.clone()));
            Ok(())
        }),
        "virtual_ipaddress" => parse_virtual_addresses(args).and_then(|list| {
            if list.is_empty() {
                return Err("expects ADDR[/PREFIX] [dev IF], one or several".to_string());
            }
            draft
                .virtual_addresses
                .extend(list.into_iter().map(|a| (a, at.clone())));
            Ok(())
        }),
        "unicast_src_ip" => single(draft, "unicast_src_ip", at, args).and_then(|v| {
            draft.unicast_src_ip = Some(ipv4(v)?);
            Ok(())
        }),
        "unicast_peer" => {
            if args.is_empty() {
                Err("expects one or several addresses".to_string())
            } else {
                args.iter()
                    .map(|a| ipv4(a))
                    .collect::<Result<Vec<_>, _>>()
                    .map(|peers| draft.unicast_peers.extend(peers))
            }
        }
        "garp_master_repeat" => single(draft, "garp_master_repeat", at, args).and_then(|v| {
            draft.garp_master_repeat = Some(u32::from(ranged_u8(v, 1, 255)?));
            Ok(())
        }),
        "garp_master_delay" => single(draft, "garp_master_delay", at, args).and_then(|v| {
            draft.garp_master_delay = Some(parse_seconds(v)?);
            Ok(())
        }),
        "track_backend" => parse_track(args).map(|(name, penalty)| {
            draft.track_backends.push((name, penalty, at.clone()));
        }),
        "notify_master" => notify(draft, "notify_master", at, args),
        "notify_backup" => notify(draft, "notify_backup", at, args),
        "notify_fault" => notify(draft, "notify_fault", at, args),
        "vrrp_instance" | "authentication" | "auth_type" | "auth_pass" | "track_script"
        | "track_interface" | "use_vmac" | "smtp_alert" => {
            diag.error(
                at,
                format!(
                    "'{keyword}' in {section} is not supported by ringlb (supported: {KEYWORDS})"
                ),
            );
            return;
        }
        other => {
            diag.error(
                at,
                format!("unknown keyword '{other}' in {section} (supported: {KEYWORDS})"),
            );
            return;
        }
    };
    if let Err(message) = result {
        diag.error(at, format!("'{keyword}' in {section}: {message}"));
    }
}

/// `notify_*`: one word, which the lexer has already unquoted.
fn notify(
    draft: &mut VrrpDraft,
    keyword: &'static str,
    at: &Location,
    args: &[String],
) -> Result<(), String> {
    let command = single(draft, keyword, at, args)?;
    if command.is_empty() {
        return Err("expects a command".to_string());
    }
    let slot = match keyword {
        "notify_master" => &mut draft.notify_master,
        "notify_backup" => &mut draft.notify_backup,
        _ => &mut draft.notify_fault,
    };
    *slot = Some(command.to_string());
    Ok(())
}

/// The one argument of a single-valued keyword, refusing a second line of it.
fn single<'a>(
    draft: &mut VrrpDraft,
    keyword: &'static str,
    at: &Location,
    args: &'a [String],
) -> Result<&'a str, String> {
    no_repeat(draft, keyword, at)?;
    match args {
        [one] => Ok(one.as_str()),
        [] => Err("expects a value".to_string()),
        [_, extra, ..] => Err(format!(
            "unexpected word '{extra}' (quote a value that has blanks)"
        )),
    }
}

fn no_argument(
    draft: &mut VrrpDraft,
    keyword: &'static str,
    at: &Location,
    args: &[String],
) -> Result<(), String> {
    no_repeat(draft, keyword, at)?;
    match args.first() {
        None => Ok(()),
        Some(extra) => Err(format!("takes no argument (got '{extra}')")),
    }
}

/// keepalived lets a second line win silently; ringlb refuses it, since two values for
/// one setting are a mistake more often than an override.
fn no_repeat(draft: &mut VrrpDraft, keyword: &'static str, at: &Location) -> Result<(), String> {
    if let Some((_, first)) = draft.seen.iter().find(|(k, _)| *k == keyword) {
        return Err(format!("already set at {first}"));
    }
    draft.seen.push((keyword, at.clone()));
    Ok(())
}

fn ranged_u8(text: &str, min: u8, max: u8) -> Result<u8, String> {
    parse_uint(text, u64::from(max))
        .ok()
        .and_then(|v| u8::try_from(v).ok())
        .filter(|v| *v >= min)
        .ok_or_else(|| format!("expects an integer between {min} and {max} (got '{text}')"))
}

fn ipv4(text: &str) -> Result<Ipv4Addr, String> {
    match text.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => Ok(a),
        Ok(IpAddr::V6(_)) => Err(format!(
            "'{text}': IPv6 is not supported by ringlb's VRRP yet"
        )),
        Err(_) => Err(format!("'{text}' is not an IPv4 address")),
    }
}

/// Reads keepalived's times: seconds with an optional fraction (`1`, `0.1`, `4.12`), or an
/// HAProxy time when a unit is written (`100ms`).
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    if text.bytes().any(|b| b.is_ascii_alphabetic()) {
        return parse_time(text);
    }
    let bad = || format!("'{text}' is not a time in seconds (such as 1, 0.1 or 100ms)");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || (text.contains('.') && fraction.is_empty())
    {
        return Err(bad());
    }
    if fraction.len() > 6 {
        return Err(format!("'{text}' is more precise than a microsecond"));
    }
    let secs: u64 = whole.parse().map_err(|_| bad())?;
    if secs > 1_000_000 {
        return Err(format!("'{text}' is too large"));
    }
    let micros: u64 = if fraction.is_empty() {
        0
    } else {
        let digits: u64 = fraction.parse().map_err(|_| bad())?;
        let scale = 10u64.pow(6 - fraction.len() as u32);
        digits * scale
    };
    Ok(Duration::from_secs(secs) + Duration::from_micros(micros))
}

/// `ADDR[/PREFIX] [dev IF] [ADDR[/PREFIX] [dev IF]]...`
fn parse_virtual_addresses(args: &[String]) -> Result<Vec<VirtualAddress>, String> {
    let mut out: Vec<VirtualAddress> = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if word == "dev" {
            let Some(last) = out.last_mut() else {
                return Err("'dev' must follow an address".to_string());
            };
            if last.dev.is_some() {
                return Err(format!("two 'dev' for {}", last.addr));
            }
            match words.next() {
                Some(dev) if !dev.is_empty() => last.dev = Some(dev.clone()),
                _ => return Err("'dev' expects an interface name".to_string()),
            }
            continue;
        }
        let (addr, prefix) = match word.split_once('/') {
            Some((addr, prefix)) => (
                addr,
                match parse_uint(prefix, 32) {
                    Ok(p) => p as u8,
                    Err(_) => {
                        return Err(format!(
                            "'{word}': the prefix length must be between 0 and 32"
                        ))
                    }
                },
            ),
            None => (word.as_str(), 32),
        };
        let addr = match addr.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => a,
            Ok(IpAddr::V6(_)) => {
                return Err(format!(
                    "'{word}': IPv6 is not supported by ringlb's VRRP yet"
                ))
            }
            Err(_) => {
                return Err(format!(
                    "unexpected '{word}' (expected ADDR[/PREFIX] or 'dev IF')"
                ))
            }
        };
        out.push(VirtualAddress {
            addr,
            prefix,
            dev: None,
        });
    }
    Ok(out)
}

/// `NAME weight -N`
fn parse_track(args: &[String]) -> Result<(String, u8), String> {
    match args {
        [name, weight, value] if weight == "weight" && !name.is_empty() => {
            let magnitude = value.strip_prefix('-').ok_or_else(|| {
                format!("the weight must be negative, as '-20' (got '{value}'): it is what the priority loses while the backend has no server up")
            })?;
            let penalty = ranged_u8(magnitude, 1, 254)
                .map_err(|_| format!("the weight must be between -1 and -254 (got '{value}')"))?;
            Ok((name.clone(), penalty))
        }
        _ => Err("expects 'track_backend <backend> weight -<N>'".to_string()),
    }
}

/// Checks each section as a whole and against the proxies, and returns the instances.
pub fn finish(drafts: Vec<VrrpDraft>, proxies: &[Proxy], diag: &mut Diagnostics) -> Vec<Vrrp> {
    let mut out: Vec<Vrrp> = Vec::with_capacity(drafts.len());
    for draft in drafts {
        let Some(vrrp) = finish_one(draft, proxies, diag) else {
            continue;
        };
        if let Some(other) = out.iter().find(|o| o.name == vrrp.name) {
            diag.error(
                &vrrp.location,
                format!(
                    "vrrp '{}' has the same name as the vrrp section declared at {}",
                    vrrp.name, other.location
                ),
            );
            continue;
        }
        if let Some(other) = out.iter().find(|o| {
            o.virtual_router_id == vrrp.virtual_router_id && o.interface == vrrp.interface
        }) {
            diag.error(
                &vrrp.location,
                format!(
                    "vrrp '{}': virtual_router_id {} on interface '{}' is already used by vrrp '{}' declared at {}",
                    vrrp.name, vrrp.virtual_router_id, vrrp.interface, other.name, other.location
                ),
            );
            continue;
        }
        out.push(vrrp);
    }
    out
}

fn finish_one(draft: VrrpDraft, proxies: &[Proxy], diag: &mut Diagnostics) -> Option<Vrrp> {
    let section = format!("vrrp '{}'", draft.name);
    let at = &draft.location;
    let mut ok = true;
    let interface = draft.interface.clone().unwrap_or_else(|| {
        diag.error(at, format!("{section} has no 'interface'"));
        ok = false;
        String::new()
    });
    let virtual_router_id = draft.virtual_router_id.unwrap_or_else(|| {
        diag.error(
            at,
            format!("{section} has no 'virtual_router_id' (1-255, the same on every node)"),
        );
        ok = false;
        0
    });
    if draft.virtual_addresses.is_empty() {
        diag.error(at, format!("{section} has no 'virtual_ipaddress'"));
        ok = false;
    }
    if draft.virtual_addresses.len() > MAX_VIRTUAL_ADDRESSES {
        diag.error(
            at,
            format!(
                "{section} has {} virtual addresses: an advert carries at most {MAX_VIRTUAL_ADDRESSES}",
                draft.virtual_addresses.len()
            ),
        );
        ok = false;
    }
    for (i, (vip, vip_at)) in draft.virtual_addresses.iter().enumerate() {
        if draft.virtual_addresses[..i]
            .iter()
            .any(|(v, _)| v.addr == vip.addr)
        {
            diag.error(
                vip_at,
                format!(
                    "'virtual_ipaddress' in {section}: {} is listed twice",
                    vip.addr
                ),
            );
            ok = false;
        }
        if vip.addr.is_unspecified() || vip.addr.is_multicast() || vip.addr.is_broadcast() {
            diag.error(
                vip_at,
                format!(
                    "'virtual_ipaddress' in {section}: {} cannot be a virtual address",
                    vip.addr
                ),
            );
            ok = false;
        }
    }
    let version = draft.version.unwrap_or(VrrpVersion::V2);
    let advert_int = match &draft.advert_int {
        None => DEFAULT_ADVERT_INT,
        Some((t, t_at)) => match check_advert_int(*t, version) {
            Ok(()) => *t,
            Err(message) => {
                diag.error(t_at, format!("'advert_int' in {section}: {message}"));
                ok = false;
                DEFAULT_ADVERT_INT
            }
        },
    };
    // keepalived's rules: with `state MASTER` and no priority the instance owns its
    // addresses; without `state` the priority decides it.
    let priority = match (draft.priority, draft.state) {
        (Some(p), _) => p,
        (None, Some(VrrpInitialState::Master)) => {
            diag.warn(
                at,
                format!("{section}: 'state MASTER' without 'priority' means priority 255 (address owner), as in keepalived; write 'priority' to choose another"),
            );
            VRRP_PRIORITY_OWNER
        }
        (None, _) => DEFAULT_PRIORITY,
    };
    let initial_state = draft.state.unwrap_or(if priority == VRRP_PRIORITY_OWNER {
        VrrpInitialState::Master
    } else {
        VrrpInitialState::Backup
    });
    let mut preempt = draft.nopreempt.is_none();
    let mut preempt_delay = draft.preempt_delay.as_ref().map(|(t, _)| *t);
    if let Some(np_at) = &draft.nopreempt {
        if priority == VRRP_PRIORITY_OWNER {
            diag.warn(
                np_at,
                format!("'nopreempt' in {section} is ignored with priority 255, as in keepalived: the address owner always takes over"),
            );
            preempt = true;
        } else if initial_state == VrrpInitialState::Master {
            diag.warn(
                np_at,
                format!("'nopreempt' in {section} is ignored with 'state MASTER', as in keepalived: use 'state BACKUP' on every node"),
            );
            preempt = true;
        }
    }
    if let Some((_, pd_at)) = &draft.preempt_delay {
        let why = if !preempt {
            Some("with 'nopreempt'")
        } else if initial_state == VrrpInitialState::Master {
            Some("with 'state MASTER'")
        } else {
            None
        };
        if let Some(why) = why {
            diag.warn(
                pd_at,
                format!("'preempt_delay' in {section} is ignored {why}, as in keepalived"),
            );
            preempt_delay = None;
        }
    }
    let mut track_backends = Vec::new();
    for (name, penalty, t_at) in &draft.track_backends {
        match proxies.iter().find(|p| p.is_backend() && &p.name == name) {
            None => {
                diag.error(
                    t_at,
                    format!("'track_backend' in {section}: no such backend '{name}'"),
                );
                ok = false;
            }
            Some(p) => {
                if track_backends
                    .iter()
                    .any(|t: &TrackBackend| t.backend == p.id)
                {
                    diag.error(
                        t_at,
                        format!("'track_backend' in {section}: backend '{name}' is tracked twice"),
                    );
                    ok = false;
                }
                track_backends.push(TrackBackend {
                    backend: p.id,
                    name: name.clone(),
                    penalty: *penalty,
                    location: t_at.clone(),
                });
            }
        }
    }
    if priority == VRRP_PRIORITY_OWNER && !track_backends.is_empty() {
        diag.warn(
            at,
            format!("{section}: 'track_backend' does not lower priority 255 (address owner), as in keepalived"),
        );
    }
    if !ok {
        return None;
    }
    Some(Vrrp {
        name: draft.name,
        location: draft.location,
        interface,
        initial_state,
        virtual_router_id,
        priority,
        advert_int,
        version,
        preempt,
        preempt_delay: preempt_delay.unwrap_or(Duration::ZERO),
        virtual_addresses: draft
            .virtual_addresses
            .into_iter()
            .map(|(v, _)| v)
            .collect(),
        unicast_src_ip: draft.unicast_src_ip,
        unicast_peers: draft.unicast_peers,
        garp_master_repeat: draft
            .garp_master_repeat
            .unwrap_or(DEFAULT_GARP_MASTER_REPEAT),
        garp_master_delay: draft.garp_master_delay.unwrap_or(DEFAULT_GARP_MASTER_DELAY),
        track_backends,
        notify_master: draft.notify_master,
        notify_backup: draft.notify_backup,
        notify_fault: draft.notify_fault,
    })
}

/// What each version's advert can carry: v2 a byte of whole seconds, v3 12 bits of
/// centiseconds. keepalived rounds other values with a warning; ringlb refuses them, as
/// nodes that round differently would disagree on the interval.
fn check_advert_int(t: Duration, version: VrrpVersion) -> Result<(), String> {
    match version {
        VrrpVersion::V2 => {
            if t.subsec_nanos() != 0 {
                Err(format!(
                    "{} s: version 2 carries whole seconds only (fractions need 'version 3')",
                    t.as_secs_f64()
                ))
            } else if !(1..=255).contains(&t.as_secs()) {
                Err(format!(
                    "{} s: version 2 allows 1 to 255 seconds",
                    t.as_secs()
                ))
            } else {
                Ok(())
            }
        }
        VrrpVersion::V3 => {
            if !t.as_nanos().is_multiple_of(10_000_000) {
                Err(format!(
                    "{} s: version 3 counts in hundredths of a second",
                    t.as_secs_f64()
                ))
            } else if !(1..=4095).contains(&(t.as_nanos() / 10_000_000)) {
                Err(format!(
                    "{} s: version 3 allows 0.01 to 40.95 seconds",
                    t.as_secs_f64()
                ))
            } else {
                Ok(())
            }
        }
    }
}
