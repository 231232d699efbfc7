//! Cross-section checks and the final assembly of a `Config`.

use std::sync::Arc;

use super::acl;
use super::draft::ProxyDraft;
use super::error::Diagnostics;
use super::http_rules;
use super::logformat::FormatString;
use super::model::{
    AclTest, Config, Global, Location, Mode, Observe, ProxyKind, SwitchRule, SwitchTarget, Userlist,
};

/// Resolves references between sections and reports every inconsistency.
pub fn finish(
    global: Global,
    userlists: Vec<Userlist>,
    drafts: Vec<ProxyDraft>,
    diag: &mut Diagnostics,
) -> Config {
    check_unique_names(&drafts, diag);
    let mut proxies = Vec::with_capacity(drafts.len());
    for (id, draft) in drafts.iter().enumerate() {
        let mut proxy = draft.proxy.clone();
        proxy.id = id;
        // As HAProxy numbers them: a `stats socket` creates its own internal proxy first,
        // which takes id 1 (checked against HAProxy 2.6's `show stat`).
        proxy.uuid = id as u32 + 1 + u32::from(!global.stats_sockets.is_empty());
        proxy.errorpages = Arc::new(draft.errorpages.clone());
        if draft.log_global {
            let own = std::mem::take(&mut proxy.log);
            proxy.log = global.log.iter().cloned().chain(own).collect();
        }
        proxy.default_backend = resolve_default_backend(draft, &drafts, id, diag);
        proxy.switching = resolve_switching(draft, &drafts, diag);
        let acls = &draft.proxy.acls;
        proxy.http_request = http_rules::compile(&draft.http_request, acls, "http-request", diag);
        proxy.http_response =
            http_rules::compile(&draft.http_response, acls, "http-response", diag);
        proxy.redirects = http_rules::compile(&draft.redirects, acls, "redirect", diag);
        proxy.force_persist = draft
            .force_persist
            .iter()
            .filter_map(|(c, at)| acl::compile_reported(Some(c), acls, at, "force-persist", diag)?)
            .collect();
        super::tcp_rules::compile(&draft.tcp_request, acls, &mut proxy.tcp_request, diag);
        proxy.httpchk = draft.http_check.result();
        proxy.tcpchk = draft.tcp_check.result();
        super::balance::finish(&mut proxy, diag);
        check_acls(draft, &userlists, diag);
        check_health_checks(draft, diag);
        // HAProxy warns (it does not refuse) and so does ringlb; a refused `bind` line was
        // already reported, so it does not count as missing.
        if proxy.is_frontend() && proxy.binds.is_empty() && !draft.saw_bind {
            diag.warn(
                &proxy.location,
                format!("{} '{}' has no 'bind' directive. Please declare it as a backend if this was intended.", proxy.kind.keyword(), proxy.name),
            );
        }
        proxies.push(proxy);
    }
    let config = Config {
        global,
        userlists,
        proxies,
        vrrp: Vec::new(),
    };
    warn_about_gaps(&config, diag);
    config
}

fn check_unique_names(drafts: &[ProxyDraft], diag: &mut Diagnostics) {
    for (i, draft) in drafts.iter().enumerate() {
        let p = &draft.proxy;
        let clash = drafts[..i].iter().map(|d| &d.proxy).find(|q| {
            q.name == p.name
                && ((p.is_frontend() && q.is_frontend()) || (p.is_backend() && q.is_backend()))
        });
        if let Some(q) = clash {
            diag.error(
                &p.location,
                format!(
                    "{} '{}' has the same name as {} '{}' declared at {}",
                    p.kind.keyword(),
                    p.name,
                    q.kind.keyword(),
                    q.name,
                    q.location
                ),
            );
        }
    }
}

fn resolve_default_backend(
    draft: &ProxyDraft,
    drafts: &[ProxyDraft],
    id: usize,
    diag: &mut Diagnostics,
) -> Option<usize> {
    match (&draft.default_backend, draft.proxy.kind) {
        (_, ProxyKind::Backend) => None,
        (None, ProxyKind::Listen) => Some(id),
        (None, _) => None,
        (Some((name, at)), _) => find_backend(draft, drafts, "default_backend", name, at, diag),
    }
}

/// The backend named `name` for a `keyword` line of `draft`, with HAProxy's errors when it
/// is missing or of the other mode.
fn find_backend(
    draft: &ProxyDraft,
    drafts: &[ProxyDraft],
    keyword: &str,
    name: &str,
    at: &Location,
    diag: &mut Diagnostics,
) -> Option<usize> {
    let proxy = &draft.proxy;
    let found = drafts
        .iter()
        .position(|d| d.proxy.is_backend() && d.proxy.name == name);
    match found {
        None => {
            diag.error(
                at,
                format!(
                    "{} '{}': unable to find required {keyword}: '{name}'",
                    proxy.kind.keyword(),
                    proxy.name
                ),
            );
            None
        }
        // A `mode tcp` frontend may hand its connections to an HTTP backend: HAProxy 2.x
        // upgrades them to HTTP. The other way round has no meaning.
        Some(b) if proxy.mode == Mode::Http && drafts[b].proxy.mode != Mode::Http => {
            diag.error(
                at,
                format!(
                    "{} '{}': unable to use backend '{name}' with wrong mode, required: {}, has: {}",
                    proxy.kind.keyword(),
                    proxy.name,
                    proxy.mode.keyword(),
                    drafts[b].proxy.mode.keyword()
                ),
            );
            None
        }
        Some(b) => Some(b),
    }
}

/// The `use_backend` rules of `draft`, resolved and compiled against its `acl` lines.
fn resolve_switching(
    draft: &ProxyDraft,
    drafts: &[ProxyDraft],
    diag: &mut Diagnostics,
) -> Vec<SwitchRule> {
    draft
        .use_backends
        .iter()
        .filter_map(|(name, condition, at)| {
            let backend = if name.contains("%[") {
                match FormatString::parse(name) {
                    Ok(format) => SwitchTarget::Named(Arc::new(format)),
                    Err(e) => {
                        diag.error(at, format!("'use_backend {name}': {e}"));
                        return None;
                    }
                }
            } else {
                SwitchTarget::Backend(find_backend(draft, drafts, "use_backend", name, at, diag)?)
            };
            let label = format!("use_backend {name}");
            let condition =
                acl::compile_reported(condition.as_ref(), &draft.proxy.acls, at, &label, diag)?;
            Some(SwitchRule {
                backend,
                condition,
                location: at.clone(),
            })
        })
        .collect()
}

fn check_acls(draft: &ProxyDraft, userlists: &[Userlist], diag: &mut Diagnostics) {
    let proxy = &draft.proxy;
    for (name, at) in &draft.acl_uses {
        // HAProxy's predefined ACLs (a declared ACL may still shadow them).
        let predefined = acl::PREDEFINED.iter().any(|(n, _)| n == name);
        if !predefined && !proxy.acls.iter().any(|a| &a.name == name) {
            diag.error(
                at,
                format!(
                    "no such ACL : '{name}' in {} '{}'",
                    proxy.kind.keyword(),
                    proxy.name
                ),
            );
        }
    }
    for acl in &proxy.acls {
        let (list_name, groups): (&str, &[String]) = match &acl.test {
            AclTest::HttpAuth { userlist } => (userlist, &[]),
            AclTest::HttpAuthGroup { userlist, groups } => (userlist, groups),
            AclTest::Expr(_) => continue,
        };
        let at = &acl.location;
        match userlists.iter().find(|u| u.name == list_name) {
            None => diag.error(
                at,
                format!(
                    "acl '{}' in {} '{}': no such userlist '{list_name}'",
                    acl.name,
                    proxy.kind.keyword(),
                    proxy.name
                ),
            ),
            Some(list) => {
                for group in groups {
                    if !list.groups.iter().any(|g| &g.name == group)
                        && !list.users.iter().any(|u| u.groups.contains(group))
                    {
                        diag.error(
                            at,
                            format!(
                                "acl '{}' in {} '{}': no group '{group}' in userlist '{list_name}'",
                                acl.name,
                                proxy.kind.keyword(),
                                proxy.name
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// Health-check settings that only make sense once the whole proxy is known.
fn check_health_checks(draft: &ProxyDraft, diag: &mut Diagnostics) {
    let proxy = &draft.proxy;
    for server in &proxy.servers {
        let check = &server.check;
        if check.observe == Some(Observe::Layer7) && proxy.mode != Mode::Http {
            diag.error(
                &server.location,
                format!(
                    "server '{}' in {} '{}': 'observe layer7' can only be used in http proxies",
                    server.name,
                    proxy.kind.keyword(),
                    proxy.name
                ),
            );
        }
        if check.observe.is_some() && !check.enabled {
            // `on-error` acts on the health counter, which only checks keep.
            diag.warn(
                &server.location,
                format!(
                    "server '{}': 'observe' needs 'check' on the server; passive health is off for it",
                    server.name
                ),
            );
        }
        // HAProxy's rule: a probe needs a port, and a server written without one takes the
        // port of each client connection, which a probe does not have.
        if check.enabled && server.addr.port_from_client && check.port.is_none() {
            diag.error(
                &server.location,
                format!(
                    "server '{}' in {} '{}' has neither service port nor check port: write a port in its address or set 'port' for its health checks",
                    server.name,
                    proxy.kind.keyword(),
                    proxy.name
                ),
            );
        }
    }
    if proxy.is_backend() && (!draft.tcp_check.enabled || draft.tcp_check.protocol.is_some()) {
        if let Some(first) = &draft.tcp_check.first_rule {
            diag.warn(
                &proxy.location,
                format!(
                    "{} '{}' uses tcp-check rules without 'option tcp-check', so the rules are ignored (first rule at {first})",
                    proxy.kind.keyword(),
                    proxy.name
                ),
            );
        }
    }
    if proxy.is_backend() && !draft.http_check.enabled {
        if let Some(first) = &draft.http_check.first_rule {
            diag.warn(
                &proxy.location,
                format!(
                    "{} '{}' uses http-check rules without 'option httpchk', so the rules are ignored (first rule at {first})",
                    proxy.kind.keyword(),
                    proxy.name
                ),
            );
        }
    }
}

/// Warnings for settings that are legal but will not do what the user may expect.
fn warn_about_gaps(config: &Config, diag: &mut Diagnostics) {
    for proxy in &config.proxies {
        let mut missing = Vec::new();
        if proxy.is_frontend() && proxy.timeouts.client.is_none() {
            missing.push("client");
        }
        if proxy.is_backend() && proxy.timeouts.connect.is_none() {
            missing.push("connect");
        }
        if proxy.is_backend() && proxy.timeouts.server.is_none() {
            missing.push("server");
        }
        let serves_traffic =
            !proxy.serves_stats() && (proxy.is_backend() || proxy.default_backend.is_some());
        if serves_traffic && !missing.is_empty() {
            diag.warn(
                &proxy.location,
                format!("missing timeouts for {} '{}': set 'timeout {}' to a non-zero value, or a stuck peer holds a connection forever", proxy.kind.keyword(), proxy.name, missing.join("', 'timeout ")),
            );
        }
        if proxy.kind == ProxyKind::Frontend
            && proxy.default_backend.is_none()
            && proxy.switching.is_empty()
            && !proxy.stats_only()
        {
            diag.warn(
                &proxy.location,
                format!(
                    "frontend '{}' has no default_backend: its requests are answered 503",
                    proxy.name
                ),
            );
        }
        if !proxy.stats.http_request_auth.is_empty()
            && (!proxy.stats.auth.is_empty() || proxy.stats.realm.is_some())
        {
            // HAProxy refuses the mix: which rule would ask for credentials is unclear.
            diag.error(
                &proxy.location,
                format!(
                    "proxy '{}': stats 'auth'/'realm' and 'http-request' can't be used at the same time",
                    proxy.name
                ),
            );
        }
        if proxy.serves_stats() && !proxy.stats_only() {
            diag.warn(
                &proxy.location,
                format!(
                    "{} '{}': the stats page is served only by a section that does nothing else (a 'listen' with 'bind' and 'stats' lines, no servers, no backend); here the 'stats' lines are ignored",
                    proxy.kind.keyword(),
                    proxy.name
                ),
            );
        }
        if proxy.mode == Mode::Http && (proxy.splice.request || proxy.splice.response) {
            diag.warn(
                &proxy.location,
                format!("{} '{}': 'option splice-*' applies to tcp relays and upgraded (101) connections only; HTTP bodies go through buffers", proxy.kind.keyword(), proxy.name),
            );
        }
        if proxy.mode == Mode::Tcp && proxy.log_format == super::model::LogFormat::Http {
            diag.warn(
                &proxy.location,
                format!(
                    "{} '{}': 'option httplog' in tcp mode logs as 'option tcplog'",
                    proxy.kind.keyword(),
                    proxy.name
                ),
            );
        }
    }
}
