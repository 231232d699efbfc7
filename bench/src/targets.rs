//! What is measured: the apache backends, and each proxy in front of them, started from the
//! templates in bench/configs/ on free loopback ports and stopped on drop.

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

/// Where the proxy, apache and loadgen run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// The proxy alone on CPU 0 with one thread/worker; apache and loadgen on CPU 1.
    Pin,
    /// One shard/thread/worker per core, everything shares all cores.
    Unpinned,
}

impl Placement {
    /// Lower-case name used in file names and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Placement::Pin => "pin",
            Placement::Unpinned => "unpinned",
        }
    }

    /// Shards (ringlb), threads (HAProxy) or workers (nginx).
    pub fn shards(self, cpus: usize) -> usize {
        match self {
            Placement::Pin => 1,
            Placement::Unpinned => cpus,
        }
    }

    /// The `taskset -c` list for the proxy, if it is pinned.
    pub fn proxy_cpus(self) -> Option<&'static str> {
        match self {
            Placement::Pin => Some("0"),
            Placement::Unpinned => None,
        }
    }

    /// The `taskset -c` list for apache, loadgen and the bench itself, if pinned.
    pub fn side_cpus(self) -> Option<&'static str> {
        match self {
            Placement::Pin => Some("1"),
            Placement::Unpinned => None,
        }
    }
}

/// One thing loadgen can be pointed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// loadgen straight at both apache backends, round-robin: the no-proxy floor.
    Direct,
    /// ringlb with bench/configs/haproxy.cfg.in.
    Ringlb,
    /// Another ringlb binary (`--baseline PATH`) with the very same config as `Ringlb`.
    #[serde(rename = "ringlb-baseline")]
    RinglbBaseline,
    /// HAProxy with the same file.
    Haproxy,
    /// nginx with bench/configs/nginx.conf.in.
    Nginx,
}

impl Target {
    /// Every target there can be, in the order of each round (see `round_order`).
    pub const ALL: [Target; 5] = [
        Target::Direct,
        Target::Ringlb,
        Target::RinglbBaseline,
        Target::Haproxy,
        Target::Nginx,
    ];
    /// Every proxy there can be.
    pub const PROXIES: [Target; 4] = [
        Target::Ringlb,
        Target::RinglbBaseline,
        Target::Haproxy,
        Target::Nginx,
    ];

    /// Name shown in tables and charts.
    pub fn label(self) -> &'static str {
        match self {
            Target::Direct => "apache (direct)",
            Target::Ringlb => "ringlb",
            Target::RinglbBaseline => "ringlb-baseline",
            Target::Haproxy => "HAProxy",
            Target::Nginx => "nginx",
        }
    }

    /// The name `--proxies` takes, also used for scratch directories.
    pub fn name(self) -> &'static str {
        match self {
            Target::Direct => "direct",
            Target::Ringlb => "ringlb",
            Target::RinglbBaseline => "ringlb-baseline",
            Target::Haproxy => "haproxy",
            Target::Nginx => "nginx",
        }
    }

    /// The proxy called `name` (as `name()` spells it, any case).
    pub fn proxy_named(name: &str) -> Option<Target> {
        Target::PROXIES
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// The order in which `targets` are measured in `round`: the given order, except that
/// ringlb and ringlb-baseline trade places in even rounds, so that neither always runs
/// right after the other (apache's and the machine's state differ slightly between them).
pub fn round_order(targets: &[Target], round: u32) -> Vec<Target> {
    let mut order = targets.to_vec();
    if round.is_multiple_of(2) {
        let a = order.iter().position(|&t| t == Target::Ringlb);
        let b = order.iter().position(|&t| t == Target::RinglbBaseline);
        if let (Some(a), Some(b)) = (a, b) {
            order.swap(a, b);
        }
    }
    order
}

/// Paths and facts shared by everything the bench starts.
#[derive(Debug)]
pub struct Env {
    /// The repository root (scripts/ and bench/configs/ live there).
    pub root: PathBuf,
    /// The ringlb binary.
    pub ringlb: PathBuf,
    /// The baseline ringlb binary (`--baseline`), if any.
    pub ringlb_baseline: Option<PathBuf>,
    /// The loadgen binary.
    pub loadgen: PathBuf,
    /// Scratch directory for configs, pid files and logs; removed at the end.
    pub work: PathBuf,
    /// The `load_module` line nginx needs for `stream {}`, "" if built in, None if absent.
    pub nginx_stream: Option<String>,
    /// Number of CPUs this process may use.
    pub cpus: usize,
    /// `maxconn` (HAProxy, ringlb) and `worker_connections` (nginx).
    pub maxconn: u64,
    ports: HashSet<u16>,
}

impl Env {
    /// Collects the environment; `bin_dir` holds the release builds of ringlb and loadgen,
    /// `baseline` is the other ringlb binary, and `proxies` are the proxies to be measured.
    pub fn new(
        root: PathBuf,
        bin_dir: &Path,
        baseline: Option<&Path>,
        proxies: &[Target],
        work: PathBuf,
        cpus: usize,
        maxconn: u64,
    ) -> Result<Self> {
        let ringlb = bin_dir.join("ringlb");
        let loadgen = bin_dir.join("loadgen");
        for (p, hint) in [(&ringlb, "ringlb"), (&loadgen, "loadgen")] {
            if !p.is_file() {
                bail!("{} not found: build it with `cargo build --release -p {hint}` (or use bench/run.sh)", p.display());
            }
        }
        let ringlb_baseline = match baseline {
            Some(p) if p.is_file() => Some(
                p.canonicalize()
                    .with_context(|| format!("bad --baseline {}", p.display()))?,
            ),
            Some(p) => bail!("--baseline {}: no such file", p.display()),
            None => None,
        };
        let mut tools = vec!["apache2", "taskset", "curl"];
        if proxies.contains(&Target::Haproxy) {
            tools.push("haproxy");
        }
        if proxies.contains(&Target::Nginx) {
            tools.push("nginx");
        }
        for tool in tools {
            if which(tool).is_none() {
                bail!("'{tool}' not found in PATH: run scripts/install-deps.sh apache2 haproxy nginx libnginx-mod-stream wrk curl");
            }
        }
        fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
        Ok(Env {
            root,
            ringlb,
            ringlb_baseline,
            loadgen,
            work,
            nginx_stream: nginx_stream_support(),
            cpus,
            maxconn,
            ports: HashSet::new(),
        })
    }

    /// A loopback port nobody listens on (bound to 127.0.0.1:0, then released), never the
    /// same one twice in a run.
    pub fn free_port(&mut self) -> Result<u16> {
        for _ in 0..100 {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            if self.ports.insert(port) {
                return Ok(port);
            }
        }
        bail!("no free loopback port found")
    }

    /// A fresh directory under the scratch directory.
    pub fn dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.work.join(name);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        Ok(dir)
    }
}

/// `program` under `taskset -c CPUS` when `cpus` is given.
pub fn command(cpus: Option<&str>, program: impl AsRef<std::ffi::OsStr>) -> Command {
    match cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpus).arg(program);
            c
        }
        None => Command::new(program),
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Whether Debian's nginx has `stream {}`: statically, or as libnginx-mod-stream's module.
fn nginx_stream_support() -> Option<String> {
    let module = "/usr/lib/nginx/modules/ngx_stream_module.so";
    if Path::new(module).is_file() {
        return Some(format!("load_module {module};"));
    }
    let out = Command::new("nginx").arg("-V").output().ok()?;
    let text = String::from_utf8_lossy(&out.stderr);
    text.split_whitespace()
        .any(|w| w == "--with-stream")
        .then(String::new)
}

/// Fills `{{KEY}}` placeholders of bench/configs/NAME. Lines between `# BEGIN name` and
/// `# END name` are dropped for each name in `drop_sections`.
pub fn render(
    env: &Env,
    name: &str,
    vars: &[(&str, String)],
    drop_sections: &[&str],
) -> Result<String> {
    let path = env.root.join("bench/configs").join(name);
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        let t = line.trim();
        if drop_sections.iter().any(|s| t == format!("# BEGIN {s}")) {
            skipping = true;
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
        if drop_sections.iter().any(|s| t == format!("# END {s}")) {
            skipping = false;
        }
    }
    for (key, value) in vars {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    if let Some(at) = out.find("{{") {
        let rest: String = out[at..].chars().take(30).collect();
        bail!("{name}: unfilled placeholder at '{rest}'");
    }
    Ok(out)
}

/// Sends `GET path` on a new connection and returns the status and body.
pub fn http_get(port: u16, path: &str) -> Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("response without a complete head")?;
    let status = std::str::from_utf8(&buf[..head_end])?
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("bad status line")?;
    Ok((status, buf[head_end + 4..].to_vec()))
}

/// The two apache backends of scripts/apache-backends.sh; stopped on drop.
#[derive(Debug)]
pub struct Apache {
    script: PathBuf,
    dir: PathBuf,
    /// The ports of server1 and server2.
    pub ports: [u16; 2],
}

impl Apache {
    /// Starts both backends (under `taskset -c CPUS` if given) and waits until they answer.
    pub fn start(env: &mut Env, cpus: Option<&str>) -> Result<Self> {
        let ports = [env.free_port()?, env.free_port()?];
        let dir = env.dir("apache")?;
        let script = env.root.join("scripts/apache-backends.sh");
        let apache = Apache { script, dir, ports };
        let status = command(cpus, &apache.script)
            .arg("start")
            .arg(&apache.dir)
            .arg(ports[0].to_string())
            .arg(ports[1].to_string())
            .stdout(Stdio::null())
            .status()
            .context("cannot run scripts/apache-backends.sh")?;
        if !status.success() {
            bail!("scripts/apache-backends.sh start failed ({status})");
        }
        Ok(apache)
    }

    /// `http://127.0.0.1:PORT{path}` for both backends.
    pub fn urls(&self, path: &str) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}{path}"))
            .collect()
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        let pids: Vec<u32> = ["server1", "server2"]
            .iter()
            .filter_map(|s| fs::read_to_string(self.dir.join(s).join("apache.pid")).ok())
            .filter_map(|p| p.trim().parse().ok())
            .collect();
        let _ = Command::new(&self.script)
            .arg("stop")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // `apache2 -k stop` only signals; wait until the parents are gone.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline
            && pids
                .iter()
                .any(|p| Path::new(&format!("/proc/{p}")).exists())
        {
            sleep(Duration::from_millis(50));
        }
    }
}

/// A running proxy; killed (with every process it started) on drop.
#[derive(Debug)]
pub struct Proxy {
    /// Which proxy.
    pub target: Target,
    /// The HTTP frontend's port.
    pub http_port: u16,
    /// The `mode tcp` listener's port, if this proxy has one.
    pub tcp_port: Option<u16>,
    /// The port of the frontend with 20 `use_backend` rules (HAProxy and ringlb only).
    pub acl_port: Option<u16>,
    child: Child,
    log: PathBuf,
}

impl Proxy {
    /// Writes the config for `target`, starts it with `shards` threads/workers under
    /// `taskset -c CPUS` if given, and waits until both its listeners answer.
    pub fn start(
        env: &mut Env,
        target: Target,
        apache: &Apache,
        shards: usize,
        cpus: Option<&str>,
        tag: &str,
    ) -> Result<Self> {
        if target == Target::Direct {
            bail!("apache is not a proxy");
        }
        let name = target.name();
        let dir = env.dir(&format!("{name}-{tag}"))?;
        let http_port = env.free_port()?;
        let tcp = env.free_port()?;
        let acl = env.free_port()?;
        let vars = vec![
            ("ACL_PORT", acl.to_string()),
            ("RUN_DIR", dir.display().to_string()),
            (
                "ERRORS_DIR",
                env.root.join("examples/errors").display().to_string(),
            ),
            ("NBTHREAD", shards.to_string()),
            ("MAXCONN", env.maxconn.to_string()),
            ("WORKER_CONNECTIONS", (env.maxconn * 2).to_string()),
            ("NOFILE", (env.maxconn * 2 + 256).to_string()),
            ("HTTP_PORT", http_port.to_string()),
            ("TCP_PORT", tcp.to_string()),
            ("STATS_PORT", env.free_port()?.to_string()),
            ("SERVER1_PORT", apache.ports[0].to_string()),
            ("SERVER2_PORT", apache.ports[1].to_string()),
            (
                "STREAM_MODULE",
                env.nginx_stream.clone().unwrap_or_default(),
            ),
        ];
        let log = dir.join("stderr.log");
        let (config, mut cmd) = match target {
            Target::Nginx => {
                let drop: &[&str] = if env.nginx_stream.is_some() {
                    &[]
                } else {
                    &["stream"]
                };
                let path = dir.join("nginx.conf");
                fs::write(&path, render(env, "nginx.conf.in", &vars, drop)?)?;
                let mut c = command(cpus, "nginx");
                c.arg("-p")
                    .arg(&dir)
                    .arg("-e")
                    .arg(dir.join("error.log"))
                    .arg("-c")
                    .arg(&path);
                c.args(["-g", "daemon off;"]);
                (path, c)
            }
            _ => {
                let path = dir.join("haproxy.cfg");
                let drop: &[&str] = if target == Target::RinglbBaseline {
                    &["acl"]
                } else {
                    &[]
                };
                fs::write(&path, render(env, "haproxy.cfg.in", &vars, drop)?)?;
                // ringlb and ringlb-baseline: two binaries, the very same rendered file.
                let mut c = match target {
                    Target::Ringlb => command(cpus, &env.ringlb),
                    Target::RinglbBaseline => command(
                        cpus,
                        env.ringlb_baseline
                            .as_ref()
                            .context("ringlb-baseline needs --baseline PATH")?,
                    ),
                    _ => command(cpus, "haproxy"),
                };
                c.arg("-f").arg(&path);
                if target == Target::Haproxy {
                    c.arg("-db");
                }
                (path, c)
            }
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.join("stdout.log"))?)
            .stderr(fs::File::create(&log)?)
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {name} with {}", config.display()))?;
        let tcp_port = (target != Target::Nginx || env.nginx_stream.is_some()).then_some(tcp);
        let acl_port = matches!(target, Target::Ringlb | Target::Haproxy).then_some(acl);
        let mut proxy = Proxy {
            target,
            http_port,
            tcp_port,
            acl_port,
            child,
            log,
        };
        proxy
            .wait_ready()
            .with_context(|| format!("{name} did not start (config {})", config.display()))?;
        Ok(proxy)
    }

    /// The root process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("exited with {status}: {}", self.log_tail());
            }
            let started = !matches!(self.target, Target::Ringlb | Target::RinglbBaseline)
                || fs::read_to_string(&self.log).is_ok_and(|l| l.contains(" started: "));
            if started {
                let ports = [Some(self.http_port), self.tcp_port, self.acl_port];
                match ports
                    .iter()
                    .flatten()
                    .try_for_each(|&p| match http_get(p, "/") {
                        Ok((200, _)) => Ok(()),
                        Ok((s, _)) => bail!("port {p} answered {s}"),
                        Err(e) => Err(e),
                    }) {
                    Ok(()) => return Ok(()),
                    Err(e) => last = format!("{e:#}"),
                }
            }
            sleep(Duration::from_millis(50));
        }
        bail!("not ready after 10 s ({last}): {}", self.log_tail())
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join(" | ")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let pids = crate::measure::tree(self.pid());
        // SAFETY: kill(2) on pids this proxy started; SIGTERM then SIGKILL.
        unsafe { libc::kill(self.pid() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in pids.into_iter().skip(1) {
            if Path::new(&format!("/proc/{pid}")).exists() {
                // SAFETY: as above, a worker of this proxy that outlived its master.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_fills_and_drops_sections() {
        let dir = std::env::temp_dir().join(format!("bench-render-{}", std::process::id()));
        fs::create_dir_all(dir.join("bench/configs")).unwrap();
        fs::write(
            dir.join("bench/configs/t.in"),
            "a {{X}}\n# BEGIN s\nb\n# END s\nc\n",
        )
        .unwrap();
        let env = Env {
            root: dir.clone(),
            ringlb: PathBuf::new(),
            ringlb_baseline: None,
            loadgen: PathBuf::new(),
            work: dir.clone(),
            nginx_stream: None,
            cpus: 1,
            maxconn: 1,
            ports: HashSet::new(),
        };
        let vars = [("X", "1".to_string())];
        assert_eq!(
            render(&env, "t.in", &vars, &[]).unwrap(),
            "a 1\n# BEGIN s\nb\n# END s\nc\n"
        );
        assert_eq!(render(&env, "t.in", &vars, &["s"]).unwrap(), "a 1\nc\n");
        assert!(render(&env, "t.in", &[], &[]).is_err());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn proxy_names_and_round_order() {
        for t in Target::PROXIES {
            assert_eq!(Target::proxy_named(t.name()), Some(t));
        }
        assert_eq!(Target::proxy_named(" HAProxy"), Some(Target::Haproxy));
        assert_eq!(Target::proxy_named("direct"), None);
        let ts = [
            Target::Direct,
            Target::Ringlb,
            Target::RinglbBaseline,
            Target::Haproxy,
        ];
        assert_eq!(round_order(&ts, 1), ts);
        assert_eq!(
            round_order(&ts, 2),
            [
                Target::Direct,
                Target::RinglbBaseline,
                Target::Ringlb,
                Target::Haproxy
            ]
        );
        assert_eq!(round_order(&ts[..2], 2), &ts[..2]);
    }
}
