//! The socket listeners and their sessions: `;`-chained commands, `prompt` mode, limits.
//!
//! Framing follows HAProxy 2.6's `cli_io_handler`: a command ends at a newline or an
//! unescaped `;`, each reply is followed by `\n` (or `\n> ` in prompt mode), and without
//! `prompt` the session closes once nothing is left in its input buffer.

use std::cell::{Cell, RefCell};
use std::ffi::CString;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use monoio::buf::IoBuf;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};

use super::command::{self, Command};
use crate::config::{Config, StatsLevel, StatsSocket};

/// What the control plane does with parsed commands.
pub trait Executor {
    /// Runs `command` for a session at `level`; the reply is HAProxy's text for it (usually
    /// ending in `\n`, or empty for silent success). The session adds the trailing blank line.
    fn execute(&mut self, command: &Command, level: StatsLevel) -> String;
    /// For a command that must wait (a reload reads files and resolves names off the
    /// control thread): its reply, to be awaited without holding the executor. `None`: run
    /// it with `execute`.
    fn execute_later(&mut self, _command: &Command) -> Option<LaterReply> {
        None
    }
    /// The configuration in force, against which backend and server names are resolved.
    fn config(&self) -> Arc<Config>;
}

/// Session limits; the defaults are HAProxy's.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `stats timeout`: how long a session may take to send each complete command.
    pub idle_timeout: Duration,
    /// How long one chunk of a reply may wait for the client to read.
    pub write_timeout: Duration,
    /// `tune.bufsize`: a command, with its delimiter, must fit in one byte less than this.
    pub max_line: usize,
    /// `stats maxconn`: sessions served at once; further clients wait in the backlog.
    pub max_sessions: usize,
    /// How often the accept loop looks at its stop flag.
    pub stop_poll: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            max_line: crate::config::DEFAULT_BUFSIZE,
            max_sessions: 10,
            stop_poll: Duration::from_millis(100),
        }
    }
}

/// Why a `stats socket` could not be set up; every variant names the socket.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The address is not one ringlb can listen on.
    #[error("stats socket '{path}': {reason}")]
    Address {
        /// The socket as configured.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Something other than a socket is at the path; it is left alone.
    #[error("stats socket '{path}': the path exists and is not a socket; it was left untouched")]
    NotASocket {
        /// The socket path.
        path: String,
    },
    /// Another process accepts connections on the socket.
    #[error("stats socket '{path}': another process is listening on this socket")]
    InUse {
        /// The socket path.
        path: String,
    },
    /// The existing file could not be examined.
    #[error("stats socket '{path}': cannot check the existing file: {source}")]
    Probe {
        /// The socket path.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
    /// bind(2) or listen(2) failed.
    #[error("stats socket '{path}': cannot bind: {source}")]
    Bind {
        /// The socket path or address.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
    /// chmod(2) failed.
    #[error("stats socket '{path}': cannot set mode {mode:o}: {source}")]
    Mode {
        /// The socket path.
        path: String,
        /// The requested mode.
        mode: u32,
        /// The underlying error.
        source: io::Error,
    },
    /// The `user` or `group` is not known to the system.
    #[error("stats socket '{path}': unknown {what} '{name}'")]
    UnknownOwner {
        /// The socket path.
        path: String,
        /// `user` or `group`.
        what: &'static str,
        /// The name as configured.
        name: String,
    },
    /// chown(2) or the user/group lookup failed.
    #[error("stats socket '{path}': cannot set owner: {source}")]
    Owner {
        /// The socket path.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The freshly bound socket could not be renamed over the configured path.
    #[error("stats socket '{path}': cannot move the new socket into place: {source}")]
    Rename {
        /// The socket path.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
}

/// A bound `stats socket`, not yet attached to a runtime (so it can be made anywhere).
#[derive(Debug)]
pub enum Bound {
    /// A UNIX socket at `path`.
    Unix {
        /// The listener.
        listener: std::os::unix::net::UnixListener,
        /// Where it lives.
        path: PathBuf,
        /// Device and inode of the socket file, so shutting down removes only our own file.
        file: (u64, u64),
    },
    /// A TCP listener (`ipv4@`, `ipv6@` or `addr:port`).
    Tcp(std::net::TcpListener),
}

enum Target {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

fn target(spec: &str) -> Result<Target, BindError> {
    let bad = |reason: String| BindError::Address {
        path: spec.to_string(),
        reason,
    };
    let tcp = |hostport: &str| -> Result<Target, BindError> {
        let (host, port) = hostport
            .rsplit_once(':')
            .ok_or_else(|| bad("expects <address>:<port>".into()))?;
        let port: u16 = port
            .parse()
            .map_err(|_| bad(format!("invalid port '{port}'")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip = match host {
            "" | "*" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            h => h
                .parse()
                .map_err(|_| bad(format!("invalid address '{h}' (names are not resolved)")))?,
        };
        Ok(Target::Tcp(SocketAddr::new(ip, port)))
    };
    if let Some(path) = spec.strip_prefix("unix@") {
        return Ok(Target::Unix(PathBuf::from(path)));
    }
    if let Some(rest) = spec
        .strip_prefix("ipv4@")
        .or_else(|| spec.strip_prefix("ipv6@"))
    {
        return tcp(rest);
    }
    if let Some((family, _)) = spec.split_once('@') {
        if !family.contains('/') {
            return Err(bad(format!(
                "'{family}@' addresses are not supported (use a path, unix@, ipv4@ or ipv6@)"
            )));
        }
    }
    if !spec.starts_with(['/', '.']) && spec.contains(':') {
        return tcp(spec);
    }
    Ok(Target::Unix(PathBuf::from(spec)))
}

/// Binds one `stats socket` line: a UNIX socket with its mode and owner, or a TCP listener.
///
/// A stale socket file (nothing accepts on it) is replaced; a live socket or any other kind
/// of file is refused and left in place. The new socket is bound under a temporary name and
/// renamed over the path once its mode and owner are set, so it is never reachable with the
/// wrong permissions.
pub fn bind(socket: &StatsSocket) -> Result<Bound, BindError> {
    let spec = socket.path.as_str();
    let path = match target(spec)? {
        Target::Tcp(addr) => {
            let listener = std::net::TcpListener::bind(addr).map_err(|source| BindError::Bind {
                path: spec.to_string(),
                source,
            })?;
            return Ok(Bound::Tcp(listener));
        }
        Target::Unix(path) => path,
    };
    let name = path.display().to_string();
    check_existing(&path, &name)?;
    let mut tmp = path.clone().into_os_string();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    // A leftover temporary socket of ours (same pid: an earlier failed bind) is ours to remove.
    if std::fs::symlink_metadata(&tmp).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(&tmp);
    }
    let listener =
        std::os::unix::net::UnixListener::bind(&tmp).map_err(|source| BindError::Bind {
            path: name.clone(),
            source,
        })?;
    let finish = || -> Result<(u64, u64), BindError> {
        if let Some(mode) = socket.mode {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).map_err(
                |source| BindError::Mode {
                    path: name.clone(),
                    mode,
                    source,
                },
            )?;
        }
        let uid = socket
            .user
            .as_deref()
            .map(|u| lookup(&name, "user", u))
            .transpose()?;
        let gid = socket
            .group
            .as_deref()
            .map(|g| lookup(&name, "group", g))
            .transpose()?;
        if uid.is_some() || gid.is_some() {
            std::os::unix::fs::chown(&tmp, uid, gid).map_err(|source| BindError::Owner {
                path: name.clone(),
                source,
            })?;
        }
        // Checked again: the path may have changed while we were binding.
        check_existing(&path, &name)?;
        std::fs::rename(&tmp, &path).map_err(|source| BindError::Rename {
            path: name.clone(),
            source,
        })?;
        let meta = std::fs::symlink_metadata(&path).map_err(|source| BindError::Probe {
            path: name.clone(),
            source,
        })?;
        Ok((meta.dev(), meta.ino()))
    };
    match finish() {
        Ok(file) => Ok(Bound::Unix {
            listener,
            path,
            file,
        }),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Refuses anything at `path` but a stale socket.
fn check_existing(path: &Path, name: &str) -> Result<(), BindError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(BindError::Probe {
            path: name.to_string(),
            source,
        }),
        Ok(meta) if !meta.file_type().is_socket() => Err(BindError::NotASocket {
            path: name.to_string(),
        }),
        Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => Err(BindError::InUse {
                path: name.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(()),
            Err(source) => Err(BindError::Probe {
                path: name.to_string(),
                source,
            }),
        },
    }
}

/// Resolves a user or group name (or a number) to its id.
fn lookup(path: &str, what: &'static str, name: &str) -> Result<u32, BindError> {
    if let Ok(id) = name.parse::<u32>() {
        return Ok(id);
    }
    let unknown = || BindError::UnknownOwner {
        path: path.to_string(),
        what,
        name: name.to_string(),
    };
    let cname = CString::new(name).map_err(|_| unknown())?;
    let mut buf = vec![0u8; 1024];
    loop {
        let mut found = false;
        let mut id = 0;
        let rc = if what == "user" {
            // SAFETY: all-zero is a valid `passwd` (null pointers, zero ids).
            let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
            let mut result: *mut libc::passwd = std::ptr::null_mut();
            // SAFETY: every pointer is valid for the call and `buf` outlives it.
            let rc = unsafe {
                libc::getpwnam_r(
                    cname.as_ptr(),
                    &mut pwd,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut result,
                )
            };
            if rc == 0 && !result.is_null() {
                found = true;
                id = pwd.pw_uid;
            }
            rc
        } else {
            // SAFETY: all-zero is a valid `group`.
            let mut grp: libc::group = unsafe { std::mem::zeroed() };
            let mut result: *mut libc::group = std::ptr::null_mut();
            // SAFETY: as above.
            let rc = unsafe {
                libc::getgrnam_r(
                    cname.as_ptr(),
                    &mut grp,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut result,
                )
            };
            if rc == 0 && !result.is_null() {
                found = true;
                id = grp.gr_gid;
            }
            rc
        };
        match rc {
            0 if found => return Ok(id),
            0 => return Err(unknown()),
            libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 2, 0),
            rc => {
                return Err(BindError::Owner {
                    path: path.to_string(),
                    source: io::Error::from_raw_os_error(rc),
                })
            }
        }
    }
}

enum Listener {
    Unix(monoio::net::UnixListener),
    Tcp(monoio::net::TcpListener),
}

/// Decrements the session count however the session ends.
struct SessionSlot(Rc<Cell<usize>>);

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// Accepts sessions on `bound` until `running` goes false, each session its own task.
///
/// Must run inside a monoio runtime with timers. On return the listener is closed and a UNIX
/// socket file is removed if it is still ours, so the caller may await this task and rebind.
/// Sessions already running finish on their own.
pub async fn serve(
    bound: Bound,
    level: StatsLevel,
    executor: Rc<RefCell<dyn Executor>>,
    running: Rc<Cell<bool>>,
    limits: Limits,
) -> io::Result<()> {
    let (listener, unix_file) = match bound {
        Bound::Unix {
            listener,
            path,
            file,
        } => {
            listener.set_nonblocking(true)?;
            (
                Listener::Unix(monoio::net::UnixListener::from_std(listener)?),
                Some((path, file)),
            )
        }
        Bound::Tcp(listener) => {
            listener.set_nonblocking(true)?;
            (
                Listener::Tcp(monoio::net::TcpListener::from_std(listener)?),
                None,
            )
        }
    };
    let active = Rc::new(Cell::new(0usize));
    while running.get() {
        if active.get() >= limits.max_sessions {
            monoio::time::sleep(limits.stop_poll).await;
            continue;
        }
        // The timeout only exists so the stop flag is seen; the legacy driver's accept is a
        // readiness wait, so dropping it loses no connection.
        let accepted = match &listener {
            Listener::Unix(l) => monoio::time::timeout(limits.stop_poll, l.accept())
                .await
                .map(|r| r.map(|(s, _)| Accepted::Unix(s))),
            Listener::Tcp(l) => monoio::time::timeout(limits.stop_poll, l.accept())
                .await
                .map(|r| r.map(|(s, _)| Accepted::Tcp(s))),
        };
        let stream = match accepted {
            Err(_elapsed) => continue,
            Ok(Err(e)) => {
                // EMFILE and the like: back off rather than spin.
                log::warn!("stats socket: accept failed: {e}");
                monoio::time::sleep(limits.stop_poll).await;
                continue;
            }
            Ok(Ok(stream)) => stream,
        };
        active.set(active.get() + 1);
        let slot = SessionSlot(Rc::clone(&active));
        let executor = Rc::clone(&executor);
        match stream {
            Accepted::Unix(s) => {
                monoio::spawn(async move {
                    let _slot = slot;
                    session(s, level, executor, limits).await;
                });
            }
            Accepted::Tcp(s) => {
                monoio::spawn(async move {
                    let _slot = slot;
                    session(s, level, executor, limits).await;
                });
            }
        }
    }
    drop(listener);
    if let Some((path, (dev, ino))) = unix_file {
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.dev() == dev && m.ino() == ino) {
            let _ = std::fs::remove_file(&path);
        }
    }
    Ok(())
}

enum Accepted {
    Unix(monoio::net::UnixStream),
    Tcp(monoio::net::TcpStream),
}

/// Where the next command ends in `buf`: (command length, bytes to consume), HAProxy's
/// `co_getdelim(.., "\n;", '\\')` followed by its `\r` trim. Looks at no more than `limit`.
fn next_command(buf: &[u8], limit: usize) -> Option<(usize, usize)> {
    let end = buf.len().min(limit);
    let mut i = 0;
    while i < end {
        match buf[i] {
            b'\\' => i += 2,
            b'\n' | b';' => {
                let len = if i > 0 && buf[i - 1] == b'\r' {
                    i - 1
                } else {
                    i
                };
                return Some((len, i + 1));
            }
            _ => i += 1,
        }
    }
    None
}

/// A reply that comes once something done off the control thread finished.
pub type LaterReply = std::pin::Pin<Box<dyn std::future::Future<Output = String>>>;

/// What one command line leads to.
enum Outcome {
    Reply(String),
    Later(LaterReply),
    Quit,
}

fn run_command(
    line: &str,
    level: StatsLevel,
    executor: &Rc<RefCell<dyn Executor>>,
    prompt: &mut bool,
) -> Outcome {
    let Ok(config) = executor.try_borrow().map(|e| e.config()) else {
        return Outcome::Reply("Busy, try again.\n".into());
    };
    match command::parse_at(line, &config, level) {
        Ok(Command::Quit) => Outcome::Quit,
        Ok(Command::Prompt) => {
            *prompt = !*prompt;
            Outcome::Reply(String::new())
        }
        Ok(Command::Help(text)) => Outcome::Reply(text),
        Ok(command) => match executor.try_borrow_mut() {
            Ok(mut executor) => match executor.execute_later(&command) {
                Some(later) => Outcome::Later(later),
                None => Outcome::Reply(executor.execute(&command, level)),
            },
            // Never expected (nothing holds it across an await), but a reply beats a panic.
            Err(_) => Outcome::Reply("Busy, try again.\n".into()),
        },
        Err(reply) => Outcome::Reply(reply),
    }
}

/// One reply chunk: a client that reads nothing for `write_timeout` is dropped after at most
/// this much has been queued towards it.
const WRITE_CHUNK: usize = 16 * 1024;

/// Lets the runtime's other tasks run once.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await;
}

/// How many `timeout`s a whole reply may take: a client that reads a chunk just before each
/// timeout must not hold its session (and its reply's memory) for ever.
const REPLY_TIMEOUTS: u32 = 6;

/// Writes `out`, giving up if the client reads nothing for `timeout`, or has not read it all
/// after `REPLY_TIMEOUTS` of them.
async fn send<S: AsyncWriteRent>(stream: &mut S, out: Vec<u8>, timeout: Duration) -> bool {
    let mut buf = out;
    let mut pos = 0;
    let deadline = monoio::time::Instant::now() + timeout * REPLY_TIMEOUTS;
    while pos < buf.len() {
        let end = (pos + WRITE_CHUNK).min(buf.len());
        let left = deadline.saturating_duration_since(monoio::time::Instant::now());
        match monoio::time::timeout(timeout.min(left), stream.write_all(buf.slice(pos..end))).await
        {
            Ok((Ok(_), slice)) => buf = slice.into_inner(),
            Ok((Err(_), _)) | Err(_) => return false,
        }
        pos = end;
    }
    true
}

/// One CLI session: reads commands, runs them, writes replies, until done or a limit hits.
async fn session<S: AsyncReadRent + AsyncWriteRent>(
    mut stream: S,
    level: StatsLevel,
    executor: Rc<RefCell<dyn Executor>>,
    limits: Limits,
) {
    // HAProxy keeps one byte of its buffer for a terminating NUL.
    let limit = limits.max_line.saturating_sub(1).max(1);
    let mut buf: Vec<u8> = Vec::new();
    let mut prompt = false;
    // One deadline per command, so a client dripping a byte at a time is still cut off.
    let mut deadline = monoio::time::Instant::now() + limits.idle_timeout;
    loop {
        if let Some((len, consumed)) = next_command(&buf, limit) {
            let line = String::from_utf8_lossy(&buf[..len]).into_owned();
            buf.drain(..consumed);
            let reply = match run_command(&line, level, &executor, &mut prompt) {
                Outcome::Quit => return,
                Outcome::Reply(reply) => reply,
                Outcome::Later(later) => later.await,
            };
            // A line of many commands must not keep every other task of the control
            // thread (checks, the stats page, other sessions) waiting.
            yield_now().await;
            let mut out = reply.into_bytes();
            out.extend_from_slice(if prompt { b"\n> " } else { b"\n" });
            if !send(&mut stream, out, limits.write_timeout).await {
                return;
            }
            // As HAProxy: without prompt, close once the input buffer is drained, which still
            // serves commands a client pipelined in one write.
            if !prompt && buf.is_empty() {
                return;
            }
            deadline = monoio::time::Instant::now() + limits.idle_timeout;
            continue;
        }
        if buf.len() >= limit {
            // HAProxy closes silently here; a reason helps the operator more.
            let out = format!(
                "Command line too long: at most {} bytes fit before the newline.\n\n",
                limit - 1
            );
            let _ = send(&mut stream, out.into_bytes(), limits.write_timeout).await;
            return;
        }
        let room = (limit - buf.len()).min(4096);
        let chunk = Vec::with_capacity(room);
        match monoio::time::timeout_at(deadline, stream.read(chunk)).await {
            Ok((Ok(n), chunk)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            // EOF (an unterminated last command is dropped, as HAProxy does), error, or idle.
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Instant;

    use super::*;
    use crate::config::Location;

    struct Fake {
        config: Arc<Config>,
        big: usize,
    }

    impl Executor for Fake {
        fn execute(&mut self, command: &Command, _level: StatsLevel) -> String {
            match command {
                Command::GetWeight(_) => "1 (initial 1)\n".into(),
                Command::ShowStat(_) => "x".repeat(self.big),
                _ => String::new(),
            }
        }
        fn config(&self) -> Arc<Config> {
            Arc::clone(&self.config)
        }
    }

    fn temp_dir() -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ringlb-sock-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn socket_line(path: &Path, level: StatsLevel) -> StatsSocket {
        StatsSocket {
            path: path.display().to_string(),
            mode: Some(0o600),
            user: None,
            group: None,
            level,
            location: Location {
                file: Arc::from("t"),
                line: 1,
            },
        }
    }

    /// A serving runtime on its own thread; dropping it stops the accept loop and joins.
    struct Server {
        path: PathBuf,
        stop: Arc<AtomicBool>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
            if let Some(dir) = self.path.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    fn limits() -> Limits {
        Limits {
            idle_timeout: Duration::from_millis(300),
            write_timeout: Duration::from_millis(300),
            max_line: 1024,
            max_sessions: 10,
            stop_poll: Duration::from_millis(20),
        }
    }

    fn start(level: StatsLevel, big: usize) -> Server {
        let dir = temp_dir();
        let path = dir.join("admin.sock");
        let bound = bind(&socket_line(&path, level)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let config = crate::config::load_sources(&[(
                "t".into(),
                "backend servers\n server s1 127.0.0.1:1\n".into(),
            )])
            .unwrap()
            .config;
            let executor: Rc<RefCell<dyn Executor>> = Rc::new(RefCell::new(Fake {
                config: Arc::new(config),
                big,
            }));
            let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                .enable_timer()
                .build()
                .unwrap();
            rt.block_on(async move {
                let running = Rc::new(Cell::new(true));
                let flag = Rc::clone(&running);
                monoio::spawn(async move {
                    while !stop2.load(Ordering::Relaxed) {
                        monoio::time::sleep(Duration::from_millis(10)).await;
                    }
                    flag.set(false);
                });
                serve(bound, level, executor, running, limits())
                    .await
                    .unwrap();
            });
        });
        Server {
            path,
            stop,
            thread: Some(thread),
        }
    }

    fn talk(path: &Path, input: &[u8]) -> String {
        let mut s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.write_all(input).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn single_command_then_close() {
        let server = start(StatsLevel::Admin, 0);
        assert_eq!(
            talk(&server.path, b"get weight servers/s1\n"),
            "1 (initial 1)\n\n"
        );
        // The connection closes without waiting for the client's EOF.
        assert_eq!(
            talk(&server.path, b"get weight servers/x\r\n"),
            "No such server.\n\n"
        );
    }

    #[test]
    fn semicolons_chain_and_escape() {
        let server = start(StatsLevel::Admin, 0);
        assert_eq!(
            talk(&server.path, b"get weight servers/s1;get weight nob/s1\n"),
            "1 (initial 1)\n\nNo such backend.\n\n"
        );
        // An escaped ';' stays inside the word.
        assert_eq!(
            talk(&server.path, b"get weight servers/s1\\;x\n"),
            "No such server.\n\n"
        );
        // Pipelined lines in one write are all served, as HAProxy does.
        assert_eq!(
            talk(
                &server.path,
                b"disable server servers/s1\nget weight servers/s1\n"
            ),
            "\n1 (initial 1)\n\n"
        );
    }

    #[test]
    fn prompt_mode_and_quit() {
        let server = start(StatsLevel::Admin, 0);
        let mut s = UnixStream::connect(&server.path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.write_all(b"prompt\n").unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"\n> ");
        s.write_all(b"get weight servers/s1\n").unwrap();
        let n = s.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"1 (initial 1)\n\n> ");
        s.write_all(b"quit\n").unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        // Toggling twice goes back to one-shot mode.
        assert_eq!(
            talk(&server.path, b"prompt;prompt;get weight servers/s1\n"),
            "\n> \n1 (initial 1)\n\n"
        );
    }

    #[test]
    fn user_level_is_refused_admin_commands() {
        let server = start(StatsLevel::User, 0);
        assert_eq!(
            talk(&server.path, b"disable server servers/s1\n"),
            "Permission denied\n\n"
        );
        assert_eq!(
            talk(&server.path, b"get weight servers/s1\n"),
            "1 (initial 1)\n\n"
        );
    }

    #[test]
    fn overlong_line_is_refused_and_closed() {
        let server = start(StatsLevel::Admin, 0);
        let mut line = vec![b'a'; 5000];
        line.push(b'\n');
        let mut s = UnixStream::connect(&server.path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        // The server may close before everything is written.
        let _ = s.write_all(&line);
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        assert!(out.starts_with("Command line too long"), "{out:?}");
        // A line that just fits is served.
        let mut fits = b"get weight servers/s1 ".to_vec();
        fits.resize(1022, b'x');
        fits.push(b'\n');
        assert_eq!(talk(&server.path, &fits), "1 (initial 1)\n\n");
    }

    #[test]
    fn idle_session_times_out() {
        let server = start(StatsLevel::Admin, 0);
        let mut s = UnixStream::connect(&server.path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.write_all(b"get weight").unwrap();
        let started = Instant::now();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        assert!(out.is_empty());
        assert!(started.elapsed() < Duration::from_millis(1500));
    }

    #[test]
    fn a_client_that_never_reads_is_dropped_and_others_are_served() {
        let server = start(StatsLevel::Admin, 16 << 20);
        let mut stuck = UnixStream::connect(&server.path).unwrap();
        stuck.write_all(b"show stat\n").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // Served while the first session is blocked on its write.
        let started = Instant::now();
        assert_eq!(
            talk(&server.path, b"get weight servers/s1\n"),
            "1 (initial 1)\n\n"
        );
        assert!(started.elapsed() < Duration::from_millis(200));
        std::thread::sleep(Duration::from_millis(500));
        // By now the stuck session is gone: what it can still read is far short of the reply.
        stuck
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut got = Vec::new();
        let _ = stuck.read_to_end(&mut got);
        assert!(got.len() < 16 << 20, "{}", got.len());
    }

    #[test]
    fn stale_socket_is_replaced_and_live_one_refused() {
        let dir = temp_dir();
        let path = dir.join("s.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let bound = bind(&socket_line(&path, StatsLevel::Admin)).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert!(UnixStream::connect(&path).is_ok());
        let again = bind(&socket_line(&path, StatsLevel::Admin)).unwrap_err();
        assert!(matches!(again, BindError::InUse { .. }), "{again}");
        drop(bound);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn regular_file_is_refused_and_kept() {
        let dir = temp_dir();
        let path = dir.join("not-a-socket");
        std::fs::write(&path, b"keep me").unwrap();
        let e = bind(&socket_line(&path, StatsLevel::Admin)).unwrap_err();
        assert!(matches!(e, BindError::NotASocket { .. }));
        assert!(e.to_string().contains(&path.display().to_string()));
        assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unknown_owner_is_an_error_naming_the_path() {
        let dir = temp_dir();
        let path = dir.join("o.sock");
        let mut line = socket_line(&path, StatsLevel::Admin);
        line.user = Some("no-such-user-ringlb".into());
        let e = bind(&line).unwrap_err();
        assert!(matches!(e, BindError::UnknownOwner { .. }), "{e}");
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn addresses() {
        assert!(matches!(target("/run/x.sock"), Ok(Target::Unix(_))));
        assert!(matches!(target("unix@x.sock"), Ok(Target::Unix(_))));
        assert!(matches!(target("ipv4@127.0.0.1:9999"), Ok(Target::Tcp(a)) if a.port() == 9999));
        assert!(matches!(target("ipv6@[::1]:9999"), Ok(Target::Tcp(a)) if a.is_ipv6()));
        assert!(matches!(target("127.0.0.1:9999"), Ok(Target::Tcp(_))));
        assert!(matches!(target("abns@x"), Err(BindError::Address { .. })));
        assert!(matches!(
            target("ipv4@host:1"),
            Err(BindError::Address { .. })
        ));
        let bound = bind(&StatsSocket {
            path: "ipv4@127.0.0.1:0".into(),
            ..socket_line(Path::new("x"), StatsLevel::Admin)
        })
        .unwrap();
        assert!(matches!(bound, Bound::Tcp(_)));
    }

    #[test]
    fn stopping_removes_our_socket_file() {
        let server = start(StatsLevel::Admin, 0);
        let path = server.path.clone();
        assert!(path.exists());
        drop(server);
        assert!(!path.exists());
        // And the path can be bound again at once (the test server's drop took its directory).
        let dir = path.parent().unwrap();
        std::fs::create_dir_all(dir).unwrap();
        drop(bind(&socket_line(&path, StatsLevel::Admin)).unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
