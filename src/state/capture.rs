//! Captures of rejected messages, as HAProxy keeps for `show errors`: a shard that rejects a
//! request or response head copies it (on the error path only) and offers it to the control
//! thread over a small bounded channel; the control thread keeps the last one per proxy name
//! and side.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use crossbeam_channel::{Receiver, Sender};

use crate::config::{Config, ProxyId, ServerId};

/// Which message was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// A client's request, kept by its frontend.
    Request,
    /// A server's response, kept by its backend.
    Response,
}

/// One rejected message head, as received.
#[derive(Debug, Clone)]
pub struct CapturedError {
    /// The configuration the ids belong to.
    pub config: Arc<Config>,
    /// The proxy that keeps it: the frontend for a request, the backend for a response.
    pub proxy: ProxyId,
    /// Which message.
    pub side: Side,
    /// The other end: the backend of a request (when one was chosen), the frontend of a
    /// response.
    pub other: Option<ProxyId>,
    /// The server that sent the response (of `proxy`), if any.
    pub server: Option<ServerId>,
    /// When it was rejected.
    pub when: SystemTime,
    /// The client's address.
    pub client: SocketAddr,
    /// Its number among all captures since start (set by `CaptureSender::send`).
    pub event: u32,
    /// The bytes as received, at most `tune.bufsize`.
    pub bytes: Vec<u8>,
    /// Offset in `bytes` of the byte that was refused.
    pub error_at: usize,
}

/// The shards' end: numbers every capture, then offers it without ever waiting.
#[derive(Debug, Clone)]
pub struct CaptureSender {
    tx: Sender<CapturedError>,
    events: Arc<AtomicU32>,
}

/// The control thread's end.
#[derive(Debug)]
pub struct CaptureReceiver {
    rx: Receiver<CapturedError>,
    events: Arc<AtomicU32>,
}

/// A channel holding at most `capacity` captures in flight.
pub fn channel(capacity: usize) -> (CaptureSender, CaptureReceiver) {
    let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
    let events = Arc::new(AtomicU32::new(0));
    (
        CaptureSender {
            tx,
            events: Arc::clone(&events),
        },
        CaptureReceiver { rx, events },
    )
}

impl CaptureSender {
    /// Whether a capture would be dropped now: under a flood of bad requests the shard then
    /// skips the copy and the position search and only counts the event.
    pub fn is_full(&self) -> bool {
        self.tx.is_full()
    }

    /// Counts an event whose capture was not built (the channel was full).
    pub fn count_dropped(&self) {
        self.events.fetch_add(1, Ordering::Relaxed);
    }

    /// Numbers `capture` and offers it; when the control thread is behind it is dropped
    /// (still counted, as HAProxy counts a snapshot it could not allocate).
    pub fn send(&self, mut capture: CapturedError) {
        // One shared counter, touched on the error path only: events keep one global order
        // across shards, as HAProxy's `error_snapshot_id`.
        capture.event = self.events.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.try_send(capture);
    }
}

/// The last capture per proxy name and side, so that they survive reloads.
#[derive(Debug)]
pub struct ErrorCaptures {
    input: CaptureReceiver,
    last: HashMap<(String, Side), CapturedError>,
}

impl ErrorCaptures {
    /// Keeps what arrives on `input`.
    pub fn new(input: CaptureReceiver) -> Self {
        Self {
            input,
            last: HashMap::new(),
        }
    }

    /// Takes what the shards sent since the last call.
    pub fn collect(&mut self) {
        for capture in self.input.rx.try_iter() {
            let Some(proxy) = capture.config.proxies.get(capture.proxy) else {
                continue;
            };
            let key = (proxy.name.clone(), capture.side);
            // Shards race each other into the channel: keep the newest event, not the last
            // to arrive.
            match self.last.get(&key) {
                Some(kept) if kept.event > capture.event => {}
                _ => {
                    self.last.insert(key, capture);
                }
            }
        }
    }

    /// Captures numbered so far, including those dropped on a full channel.
    pub fn total(&self) -> u32 {
        self.input.events.load(Ordering::Relaxed)
    }

    /// The last capture of proxy `name` on `side`.
    pub fn last(&self, name: &str, side: Side) -> Option<&CapturedError> {
        // A borrowed key would need a second map type; this lookup runs per command only.
        self.last.get(&(name.to_string(), side))
    }

    /// How many captures are kept.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Arc<Config> {
        Arc::new(
            crate::config::load_sources(&[(
                "t".into(),
                "frontend f\n bind :8080\n default_backend b\nbackend b\n server s 127.0.0.1:80\n"
                    .into(),
            )])
            .unwrap()
            .config,
        )
    }

    fn capture(config: &Arc<Config>, side: Side, byte: u8) -> CapturedError {
        CapturedError {
            config: Arc::clone(config),
            proxy: 0,
            side,
            other: None,
            server: None,
            when: SystemTime::UNIX_EPOCH,
            client: "127.0.0.1:1".parse().unwrap(),
            event: 0,
            bytes: vec![byte],
            error_at: 0,
        }
    }

    #[test]
    fn keeps_the_last_per_proxy_and_side_and_never_blocks() {
        let config = config();
        let (tx, rx) = channel(4);
        let mut captures = ErrorCaptures::new(rx);
        for i in 0..2000u32 {
            tx.send(capture(&config, Side::Request, (i % 256) as u8));
        }
        tx.send(capture(&config, Side::Response, 7));
        captures.collect();
        assert_eq!(captures.total(), 2001);
        assert_eq!(
            captures.len(),
            1,
            "the channel kept the first four requests only"
        );
        let kept = captures.last("f", Side::Request).unwrap();
        assert_eq!(kept.event, 3);
        tx.send(capture(&config, Side::Response, 9));
        captures.collect();
        assert_eq!(captures.len(), 2);
        assert_eq!(captures.last("f", Side::Response).unwrap().bytes, [9]);
        assert_eq!(captures.last("f", Side::Response).unwrap().event, 2001);
    }
}
