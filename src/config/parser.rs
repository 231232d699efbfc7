//! Reads configuration files section by section and hands each line to its section's parser.

use std::path::Path;
use std::sync::Arc;

use super::draft::{ProxyDraft, SectionKind};
use super::error::{ConfigError, ConfigErrors, Diagnostics, Warning};
use super::lexer::{tokenize, Line};
use super::model::{Config, Global, Location, ProxyKind, Userlist};
use super::vrrp::VrrpDraft;
use super::{global, proxy, userlist, validate, vrrp};

/// A configuration that loaded, with what the user should be warned about.
#[derive(Debug)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Warnings, in file order.
    pub warnings: Vec<Warning>,
}

/// Reads and validates the files, in order, as one configuration.
pub fn load_files<P: AsRef<Path>>(paths: &[P]) -> Result<Loaded, ConfigErrors> {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let path = path.as_ref();
        match std::fs::read_to_string(path) {
            Ok(text) => sources.push((path.display().to_string(), text)),
            Err(source) => errors.push(ConfigError::Open {
                path: path.display().to_string(),
                source,
            }),
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    load_sources(&sources)
}

/// Parses (file name, text) pairs as one configuration.
pub fn load_sources(sources: &[(String, String)]) -> Result<Loaded, ConfigErrors> {
    let mut parser = Parser::default();
    for (name, text) in sources {
        let file: Arc<str> = Arc::from(name.as_str());
        let (lines, lex_errors) = tokenize(&file, text);
        for e in lex_errors {
            parser.diag.error(
                &Location {
                    file: Arc::clone(&file),
                    line: e.line,
                },
                e.message,
            );
        }
        // Each file starts outside any section, as in HAProxy.
        parser.close_section();
        for line in &lines {
            parser.line(line);
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

enum Current {
    None,
    Global,
    Defaults(Box<ProxyDraft>),
    Proxy(Box<ProxyDraft>),
    Userlist(Userlist),
    Vrrp(Box<VrrpDraft>),
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
            | "backend-defaults" | "crt-store" | "traces" => {
                self.close_section();
                self.diag.error(
                    &line.location,
                    format!("'{keyword}' sections are not supported by ringlb"),
                );
            }
            _ => self.section_line(line),
        }
    }

    fn section_line(&mut self, line: &Line) {
        match &mut self.current {
            Current::None => self.diag.error(
                &line.location,
                format!("unknown keyword '{}' out of section", line.word(0)),
            ),
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
            Current::None | Current::Global => {}
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
