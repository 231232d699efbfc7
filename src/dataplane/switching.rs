//! Content switching on the shard: `use_backend` rules evaluated over the request head as
//! the ACL engine reads it. The rules were compiled at load; reading the head borrows the
//! receive buffer, so a request that matches costs no allocation.

use std::net::SocketAddr;

use crate::config::acl::RequestView;
use crate::config::logformat::FormatContext;
use crate::config::{Config, Proxy, ProxyId, SwitchTarget};

use super::http1::RequestHead;

/// A parsed request head, borrowed from the receive buffer, as ACLs see it.
pub struct HeadView<'a> {
    /// The head's bytes: request line, header lines, final CRLF.
    head: &'a [u8],
    /// Length of the request line, without its CRLF.
    line_len: usize,
    minor: u8,
    peer: SocketAddr,
    local: SocketAddr,
    /// An absolute-form target's authority: the Host the server gets, so the one ACLs see.
    authority: Option<&'a [u8]>,
}

impl<'a> HeadView<'a> {
    /// The head `req` parsed from `buf`, of a client at `peer` connected to `local`.
    pub fn new(buf: &'a [u8], req: &RequestHead, peer: SocketAddr, local: SocketAddr) -> Self {
        let head = buf.get(req.start..req.len).unwrap_or_default();
        let authority = req
            .authority
            .and_then(|(start, end)| buf.get(start as usize..end as usize));
        Self {
            head,
            line_len: req.line_len.min(head.len()),
            minor: req.minor,
            peer,
            local,
            authority,
        }
    }

    /// The request line's space-separated parts (the parser checked there are three).
    fn part(&self, index: usize) -> &'a [u8] {
        self.head[..self.line_len]
            .split(|&b| b == b' ')
            .nth(index)
            .unwrap_or_default()
    }
}

impl RequestView for HeadView<'_> {
    fn method(&self) -> &[u8] {
        self.part(0)
    }

    fn uri(&self) -> &[u8] {
        self.part(1)
    }

    fn version_minor(&self) -> u8 {
        self.minor
    }

    fn for_each_header<'s>(&'s self, visit: &mut dyn FnMut(&'s [u8], &'s [u8]) -> bool) -> bool {
        // Header lines end in CRLF (the parser refused bare LF and folded lines).
        let lines = self.head.get(self.line_len + 2..).unwrap_or_default();
        // Under an absolute-form target the server gets the authority as Host: ACLs read that
        // one, never the client's own Host lines (which are not forwarded).
        if let Some(authority) = self.authority {
            if visit(b"host", authority) {
                return true;
            }
        }
        for line in lines.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                break;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let (name, value) = (&line[..colon], &line[colon + 1..]);
            if self.authority.is_some() && name.eq_ignore_ascii_case(b"host") {
                continue;
            }
            let value = value.trim_ascii();
            if visit(name, value) {
                return true;
            }
        }
        false
    }

    fn src(&self) -> Option<SocketAddr> {
        Some(self.peer)
    }

    fn dst(&self) -> Option<SocketAddr> {
        Some(self.local)
    }

    fn request_len(&self) -> u64 {
        self.head.len() as u64
    }
}

/// The backend for a request: the first `use_backend` rule whose condition holds, else
/// `default_backend`. A dynamic rule (`%[…]`) that names no backend of the frontend's mode
/// ends the search at `default_backend`, as HAProxy's does.
pub fn choose_backend<V: RequestView + ?Sized>(
    config: &Config,
    frontend: &Proxy,
    view: &V,
) -> Option<ProxyId> {
    let rule = frontend
        .switching
        .iter()
        .find(|rule| rule.condition.as_ref().is_none_or(|c| c.holds(view)));
    match rule.map(|r| &r.backend) {
        Some(SwitchTarget::Backend(id)) => Some(*id),
        Some(SwitchTarget::Named(format)) => {
            let mut name = Vec::new();
            let context = FormatContext {
                frontend: &frontend.name,
                backend: None,
                unique_id: None,
                request_counter: 0,
            };
            format.render(view, &context, &mut name);
            config
                .proxies
                .iter()
                .find(|p| p.is_backend() && p.mode == frontend.mode && p.name.as_bytes() == name)
                .map(|p| p.id)
                .or(frontend.default_backend)
        }
        None => frontend.default_backend,
    }
}
