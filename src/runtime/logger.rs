//! The logging thread: formats the records shards send and writes them to the configured
//! targets, so no shard ever waits on a log socket or a terminal.

use std::collections::HashMap;
use std::io::Write;
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::time::SystemTime;

use crossbeam_channel::Receiver;

use crate::config::log::LogSink;
use crate::config::Config;
use crate::observe::httplog::{frame, message, Occupancy};
use crate::state::log::MAX_LOGGED_LINE;
use crate::state::{CounterSet, LogRecord};

/// Bytes the records waiting for the logger may hold at most, so that a slow log target
/// (a stalled syslog socket, a blocked terminal) can never pin more memory than this.
pub const QUEUE_BYTES: usize = 4 << 20;

/// How many records fit in `budget` bytes, each counted at its largest: the record itself
/// (a slot of the channel) and a request line at its cap.
pub fn queue_capacity(budget: usize) -> usize {
    (budget / (std::mem::size_of::<LogRecord>() + MAX_LOGGED_LINE)).max(1)
}

enum Writer {
    Unix(UnixDatagram, String),
    Udp(UdpSocket, std::net::SocketAddr),
    Stdout(std::io::BufWriter<std::io::Stdout>),
    Stderr,
}

impl Writer {
    fn open(sink: &LogSink) -> std::io::Result<Self> {
        Ok(match sink {
            LogSink::Unix(path) => Writer::Unix(UnixDatagram::unbound()?, path.clone()),
            LogSink::Udp(addr) => {
                let local = if addr.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                Writer::Udp(UdpSocket::bind(local)?, *addr)
            }
            LogSink::Stdout => Writer::Stdout(std::io::BufWriter::new(std::io::stdout())),
            LogSink::Stderr => Writer::Stderr,
        })
    }

    fn write(&mut self, line: &str) -> std::io::Result<()> {
        match self {
            Writer::Unix(socket, path) => socket.send_to(line.as_bytes(), path.as_str()).map(drop),
            Writer::Udp(socket, addr) => socket.send_to(line.as_bytes(), *addr).map(drop),
            Writer::Stdout(out) => writeln!(out, "{line}"),
            Writer::Stderr => writeln!(std::io::stderr(), "{line}"),
        }
    }

    fn flush(&mut self) {
        if let Writer::Stdout(out) = self {
            let _ = out.flush();
        }
    }
}

/// Starts the logging thread; it ends when every shard's sender is gone.
pub fn spawn(records: Receiver<LogRecord>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ringlb-log".into())
        .spawn(move || run(&records))
}

fn run(records: &Receiver<LogRecord>) {
    let pid = std::process::id();
    let mut writers: HashMap<LogSink, Option<Writer>> = HashMap::new();
    let mut failed_once: HashMap<LogSink, bool> = HashMap::new();
    while let Ok(record) = records.recv() {
        let mut next = Some(record);
        while let Some(record) = next.take() {
            let config = &*record.config;
            let text = message(
                &record,
                config,
                occupancy(config, &record.counters, &record),
            );
            let now = SystemTime::now();
            for target in &config.proxies[record.frontend].log {
                let Some(line) = frame(target, &text, pid, now) else {
                    continue;
                };
                let writer = writers
                    .entry(target.sink.clone())
                    .or_insert_with(|| Writer::open(&target.sink).ok());
                let result = match writer {
                    Some(w) => w.write(&line),
                    None => Err(std::io::ErrorKind::NotConnected.into()),
                };
                if let Err(e) = result {
                    if !failed_once
                        .insert(target.sink.clone(), true)
                        .unwrap_or(false)
                    {
                        log::warn!("cannot send logs to {:?}: {e}", target.sink);
                    }
                }
            }
            next = records.try_recv().ok();
        }
        // Nothing more queued: push buffered lines out.
        for writer in writers.values_mut().flatten() {
            writer.flush();
        }
    }
}

fn occupancy(config: &Config, counters: &CounterSet, record: &LogRecord) -> Occupancy {
    let gauge = |v: i64| v.max(0);
    let process = config
        .frontends()
        .map(|p| counters.proxy_sum(p.id, |c| c.conn_current.get().max(0) as u64) as i64)
        .sum();
    let frontend =
        counters.proxy_sum(record.frontend, |c| c.conn_current.get().max(0) as u64) as i64;
    let (backend, server) = match record.backend {
        Some(b) => {
            let servers = config.proxies[b].servers.len();
            let backend = (0..servers)
                .map(|s| {
                    counters.server_sum(b, s, |c| c.sessions_current.get().max(0) as u64) as i64
                })
                .sum();
            let server = record.server.map_or(0, |s| {
                counters.server_sum(b, s, |c| c.sessions_current.get().max(0) as u64) as i64
            });
            (backend, server)
        }
        None => (0, 0),
    };
    Occupancy {
        process: gauge(process),
        frontend: gauge(frontend),
        backend: gauge(backend),
        server: gauge(server),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_fits_its_byte_budget() {
        let record = std::mem::size_of::<LogRecord>();
        let capacity = queue_capacity(QUEUE_BYTES);
        assert_eq!(capacity, QUEUE_BYTES / (record + MAX_LOGGED_LINE));
        assert!(capacity * (record + MAX_LOGGED_LINE) <= QUEUE_BYTES);
        assert!(
            capacity >= 2048,
            "bursts still fit: {capacity} records of {record} bytes"
        );
        assert_eq!(queue_capacity(0), 1, "a channel needs a slot");
    }
}
