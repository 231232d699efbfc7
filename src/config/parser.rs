//! Reads configuration files section by section and hands each line to its section's parser.

use std::path::Path;
use std::sync::Arc;

use super::draft::{ProxyDraft, SectionKind};
use super::error::{ConfigError, ConfigErrors, Diagnostics, Warning};
use super::lexer::{tokenize_bytes, Line};
use super::model::{Config, Global, Location, ProxyKind, Userlist};
use super::vrrp::VrrpDraft;
use super::{global, keywords, proxy, suggest, userlist, validate, vrrp};

/// A configuration that loaded, with what the user should be warned about.
#[derive(Debug)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Warnings, in file order.
    pub warnings: Vec<Warning>,
}

/// Reads and validates the files, in order, as one configuration, with the process
/// environment for `"${VAR}"`.
pub fn load_files<P: AsRef<Path>>(paths: &[P]) -> Result<Loaded, ConfigErrors> {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let path = path.as_ref();
        // Bytes, not UTF-8: HAProxy takes a Latin-1 comment, so ringlb does too.
        match std::fs::read(path) {
            Ok(bytes) => sources.push((path.display().to_string(), bytes)),
            Err(source) => errors.push(ConfigError::Open {
                path: path.display().to_string(),
                source,
            }),
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    load_bytes(&sources, &|name| std::env::var(name).ok())
}

/// Parses (file name, text) pairs as one configuration, with the process environment.
pub fn load_sources(sources: &[(String, String)]) -> Result<Loaded, ConfigErrors> {
    let sources: Vec<(String, Vec<u8>)> = sources
        .iter()
        .map(|(name, text)| (name.clone(), text.clone().into_bytes()))
        .collect();
    load_bytes(&sources, &|name| std::env::var(name).ok())
}

/// Parses (file name, bytes) pairs as one configuration; `env` looks variables up.
pub fn load_bytes(
    sources: &[(String, Vec<u8>)],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigErrors> {
    let mut parser = Parser::default();
    for (name, text) in sources {
        let file: Arc<str> = Arc::from(name.as_str());
        let lexed = tokenize_bytes(&file, text, env);
        let at = |line| Location {
            file: Arc::clone(&file),
            line,
        };
        for e in lexed.errors {
            parser.diag.error(&at(e.line), e.message);
        }
        for w in lexed.warnings {
            parser.diag.warn(&at(w.line), w.message);
        }
        // Each file starts outside any section, as in HAProxy.
        parser.close_section();
        for line in &lexed.lines {
            let before = parser.diag.errors.len();
            parser.line(line);
            hint_at_expansion(line, &mut parser.diag.errors[before..]);
        }
    }
    parser.close_section();
    let Parser {
        mut diag,
        global,
        userlists,
        proxies,
        vrrp,
        ..
    } = parser;
    let mut config = validate::finish(global, userlists, proxies, &mut diag);
    config.vrrp = vrrp::finish(vrrp, &config.proxies, &mut diag);
    if diag.errors.is_empty() {
        Ok(Loaded {
            config,
            warnings: diag.warnings,
        })
    } else {
        Err(ConfigErrors(diag.errors))
    }
}

/// Hints for a refused line: a `$VAR` written outside double quotes stays as is (HAProxy 2.6
/// expands only inside them), and an unset variable expanded to nothing.
fn hint_at_expansion(line: &Line, errors: &mut [ConfigError]) {
    for error in errors {
        let ConfigError::Parse { message, .. } = error else {
            continue;
        };
        let literal = line.unexpanded.iter().find(|name| {
            message.contains(&format!("${name}")) || message.contains(&format!("${{{name}}}"))
        });
        if let Some(name) = literal {
            message.push_str(&format!(
                " (environment variables expand only inside double quotes, as in HAProxy: write \"${{{name}}}\")"
            ));
        }
        if !line.unset.is_empty() {
            let names = line.unset.join("', '");
            message.push_str(&format!(
                " (environment variable '{names}' is not set and expanded to an empty string)"
            ));
        }
    }
}

enum Current {
    None,
    Global,
    Defaults(Box<ProxyDraft>),
    Proxy(Box<ProxyDraft>),
    Userlist(Userlist),
    Vrrp(Box<VrrpDraft>),
    /// A section ringlb does not support: reported once, its lines skipped.
    Unsupported,
}

struct Parser {
    diag: Diagnostics,
    global: Global,
    defaults: ProxyDraft,
    userlists: Vec<Userlist>,
    proxies: Vec<ProxyDraft>,
    vrrp: Vec<VrrpDraft>,
    current: Current,
}

impl Default for Parser {
    fn default() -> Self {
        let origin = Location {
            file: Arc::from("<defaults>"),
            line: 0,
        };
        Self {
            diag: Diagnostics::default(),
            global: Global::default(),
            defaults: ProxyDraft::initial_defaults(origin),
            userlists: Vec::new(),
            proxies: Vec::new(),
            vrrp: Vec::new(),
            current: Current::None,
        }
    }
}

impl Parser {
    fn line(&mut self, line: &Line) {
        let keyword = line.word(0);
        let args = &line.words[1..];
        let name = args.first().map(String::as_str).unwrap_or("");
        match keyword {
            "global" => {
                self.close_section();
                self.current = Current::Global;
                if !args.is_empty() {
                    self.diag
                        .error(&line.location, "'global' takes no argument");
                }
            }
            "defaults" => {
                self.close_section();
                if args.len() > 1 || args.first().is_some_and(|a| a == "from") {
                    self.diag.error(
                        &line.location,
                        "named defaults and 'from' are not supported: use unnamed 'defaults' sections",
                    );
                }
                let mut draft = self.defaults.clone();
                draft.proxy.location = line.location.clone();
                draft.http_check.start_section();
                draft.tcp_check.start_section();
                self.current = Current::Defaults(Box::new(draft));
            }
            "frontend" | "backend" | "listen" => {
                self.close_section();
                let kind = match keyword {
                    "frontend" => ProxyKind::Frontend,
                    "backend" => ProxyKind::Backend,
                    _ => ProxyKind::Listen,
                };
                if !valid_name(name) {
                    self.diag.error(
                        &line.location,
                        format!("'{keyword}' expects a name made of letters, digits, '-', '_', '.' and ':' (got '{name}')"),
                    );
                }
                if args.len() > 1 {
                    self.diag.error(
                        &line.location,
                        format!("unexpected word '{}' after '{keyword} {name}' ('from' is not supported)", args[1]),
                    );
                }
                let draft =
                    ProxyDraft::from_defaults(&self.defaults, name, kind, line.location.clone());
                self.current = Current::Proxy(Box::new(draft));
            }
            "userlist" => {
                self.close_section();
                if !valid_name(name) {
                    self.diag.error(&line.location, "'userlist' expects a name");
                }
                self.current = Current::Userlist(Userlist {
                    name: name.to_string(),
                    users: Vec::new(),
                    groups: Vec::new(),
                });
            }
            "vrrp" => {
                self.close_section();
                if !valid_name(name) {
                    self.diag.error(
                        &line.location,
                        format!("'vrrp' expects a name made of letters, digits, '-', '_', '.' and ':' (got '{name}')"),
                    );
                }
                if let Some(extra) = args.get(1) {
                    self.diag.error(
                        &line.location,
                        format!("unexpected word '{extra}' after 'vrrp {name}'"),
                    );
                }
                self.current = Current::Vrrp(Box::new(VrrpDraft::new(name, line.location.clone())));
            }
            "peers" | "resolvers" | "cache" | "program" | "mailers" | "ring" | "http-errors"
            | "fcgi-app" | "backend-defaults" | "crt-store" | "traces" => {
                self.close_section();
                let why = match keyword {
                    "resolvers" => {
                        ": server names are resolved once, at load, with the system resolver"
                    }
                    "peers" => ": stick tables are not supported yet",
                    _ => "",
                };
                self.diag.error(
                    &line.location,
                    format!("'{keyword}' is a HAProxy keyword that ringlb does not support yet ('{keyword}' sections{why})"),
                );
                // One error for the section, not one per line of it.
                self.current = Current::Unsupported;
            }
            _ => self.section_line(line),
        }
    }

    fn section_line(&mut self, line: &Line) {
        match &mut self.current {
            Current::None => {
                let word = line.word(0);
                let hint =
                    suggest::did_you_mean(word, keywords::SECTIONS.iter().copied().chain(["vrrp"]));
                self.diag.error(
                    &line.location,
                    format!("unknown keyword '{word}' out of section{hint}"),
                )
            }
            Current::Unsupported => {}
            Current::Global => global::parse_line(&mut self.global, line, &mut self.diag),
            Current::Defaults(draft) => proxy::parse_line(
                draft,
                SectionKind::Defaults,
                line,
                &self.global,
                &mut self.diag,
            ),
            Current::Proxy(draft) => {
                let kind = SectionKind::Proxy(draft.proxy.kind);
                proxy::parse_line(draft, kind, line, &self.global, &mut self.diag)
            }
            Current::Userlist(list) => userlist::parse_line(list, line, &mut self.diag),
            Current::Vrrp(draft) => vrrp::parse_line(draft, line, &mut self.diag),
        }
    }

    fn close_section(&mut self) {
        match std::mem::replace(&mut self.current, Current::None) {
            Current::None | Current::Global | Current::Unsupported => {}
            Current::Defaults(draft) => self.defaults = *draft,
            Current::Proxy(draft) => self.proxies.push(*draft),
            Current::Userlist(list) => self.userlists.push(list),
            Current::Vrrp(draft) => self.vrrp.push(*draft),
        }
    }
}

/// HAProxy's rule for proxy and userlist names.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}
