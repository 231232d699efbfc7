//! `bind ADDR[,ADDR…] [options]`: every option that ringlb does not take is reported, not
//! only the first, and a refused option never loses the addresses (no "has no bind" next).

use super::address::parse_bind;
use super::draft::ProxyDraft;
use super::error::Diagnostics;
use super::keywords::{arity, BIND_OPTIONS};
use super::lexer::Line;
use super::model::Bind;
use super::suggest;

/// Applies one `bind` line.
pub fn parse_bind_line(draft: &mut ProxyDraft, line: &Line, diag: &mut Diagnostics) {
    let at = &line.location;
    let args = &line.words[1..];
    let Some(spec) = args.first() else {
        diag.error(at, "'bind' expects an address");
        return;
    };
    draft.saw_bind = true;
    let mut name = None;
    let mut v6only = false;
    let mut accept_proxy = false;
    let mut rest = &args[1..];
    while let Some(option) = rest.first() {
        let option = option.as_str();
        let takes_value = arity(BIND_OPTIONS, option);
        let value = rest.get(1);
        if takes_value == Some(true) && value.is_none() {
            diag.error(at, format!("'bind {spec}': '{option}' expects a value"));
            break;
        }
        match option {
            "name" => name = value.cloned(),
            "v6only" => v6only = true,
            "accept-proxy" => accept_proxy = true,
            _ if takes_value.is_some() => {
                diag.error(at, format!("'bind {spec}': {}", suggest::not_yet(option)))
            }
            _ => {
                let unknown = format!("'bind {spec}': unknown option '{option}'");
                let names = BIND_OPTIONS.iter().map(|(n, _)| *n);
                diag.error(
                    at,
                    format!("{unknown}{}", suggest::did_you_mean(option, names)),
                );
                // Without knowing its arity, the words after it cannot be read as options.
                break;
            }
        }
        rest = &rest[1 + usize::from(takes_value == Some(true))..];
    }
    match parse_bind(spec) {
        Ok(addrs) => {
            if let Some(n) = &name {
                diag.warn(at, format!("'bind {spec}': 'name {n}' is accepted and shown nowhere: the stats page has no per-listener rows"));
            }
            draft.proxy.binds.extend(addrs.into_iter().map(|addr| Bind {
                addr,
                name: name.clone(),
                v6only,
                accept_proxy,
                location: at.clone(),
            }))
        }
        Err(message) => diag.error(at, format!("'bind {spec}': {message}")),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::draft::ProxyDraft;
    use crate::config::model::{Location, ProxyKind};

    fn bind(text: &str) -> (ProxyDraft, Diagnostics) {
        let at = Location {
            file: Arc::from("t.cfg"),
            line: 3,
        };
        let defaults = ProxyDraft::initial_defaults(at.clone());
        let mut draft = ProxyDraft::from_defaults(&defaults, "f", ProxyKind::Frontend, at.clone());
        let line = Line {
            location: at,
            words: text.split_whitespace().map(String::from).collect(),
            unexpanded: Vec::new(),
            unset: Vec::new(),
        };
        let mut diag = Diagnostics::default();
        parse_bind_line(&mut draft, &line, &mut diag);
        (draft, diag)
    }

    fn errors(diag: &Diagnostics) -> Vec<String> {
        diag.errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn name_and_v6only_are_read() {
        let (draft, diag) = bind("bind [::]:80,127.0.0.1:81 name web v6only");
        assert!(diag.errors.is_empty());
        assert_eq!(draft.proxy.binds.len(), 2);
        assert!(draft
            .proxy
            .binds
            .iter()
            .all(|b| b.v6only && b.name.as_deref() == Some("web")));
        let warned: Vec<String> = diag.warnings.iter().map(|w| w.message.clone()).collect();
        assert!(
            !warned.iter().any(|w| w.contains("'v6only'")),
            "applied: {warned:?}"
        );
        assert!(
            warned
                .iter()
                .any(|w| w.contains("'name web'") && w.contains("shown nowhere")),
            "{warned:?}"
        );
        let (_, diag) = bind("bind :80 v6only");
        assert!(
            diag.warnings.is_empty(),
            "v6only on IPv4 means nothing, as in HAProxy"
        );
    }

    #[test]
    fn every_unsupported_option_is_reported() {
        let (draft, diag) = bind("bind :443 ssl crt /x.pem alpn h2 name web");
        let errs = errors(&diag);
        assert_eq!(errs.len(), 3, "{errs:?}");
        for (e, option) in errs.iter().zip(["ssl", "crt", "alpn"]) {
            assert!(e.starts_with("parsing [t.cfg:3] : 'bind :443': "), "{e}");
            assert!(
                e.contains(&format!(
                    "'{option}' is a HAProxy keyword that ringlb does not support yet"
                )),
                "{e}"
            );
        }
        assert_eq!(draft.proxy.binds.len(), 1, "the address is kept");
        assert!(draft.saw_bind);
    }

    #[test]
    fn unknown_options_suggest_and_stop() {
        let (_, diag) = bind("bind :80 v6olny foo bar");
        let errs = errors(&diag);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].contains("unknown option 'v6olny'; did you mean 'v6only' maybe ?"),
            "{errs:?}"
        );
        let (_, diag) = bind("bind :80 name");
        assert!(errors(&diag)[0].contains("'name' expects a value"));
    }
}
