//! Runs each `vrrp` section on the control thread: its socket, its state machine, its
//! addresses and gratuitous ARPs, its `notify_*` commands, and the status `show vrrp` and
//! the stats page read.

use std::cell::{Cell, RefCell};
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::config::Vrrp;

use super::address;
use super::arp::GarpSender;
use super::machine::{Action, Counters, Event, Instance, Settings, State};
use super::net::{AsyncVrrpSocket, SocketConfig, VrrpSocket};
use super::packet::{self, Advert, Expect};

/// Largest packet read: an IPv4 header with options and 255 addresses fit.
const PACKET: usize = 2048;

/// How long a failed start (no interface, no address yet) waits before it tries again.
const RETRY: Duration = Duration::from_secs(1);

/// How often an instance looks at its tracked backends and at the stop flag when nothing
/// else wakes it.
const POLL: Duration = Duration::from_millis(20);

/// Past the backup's takeover, time for its gratuitous ARPs to reach the clients.
const HANDOVER_MARGIN: Duration = Duration::from_millis(150);

/// What `show vrrp` and the stats page show of one instance.
#[derive(Debug, Clone)]
pub struct VrrpStatus {
    /// The section's name.
    pub name: String,
    /// The interface.
    pub interface: String,
    /// `virtual_router_id`.
    pub vrid: u8,
    /// 2 or 3.
    pub version: u8,
    /// The state now.
    pub state: State,
    /// The configured priority.
    pub priority: u8,
    /// The priority advertised now (tracked backends lower it).
    pub effective_priority: u8,
    /// The master's address, as last seen (ours while master).
    pub master: Option<Ipv4Addr>,
    /// Adverts, drops and transitions.
    pub counters: Counters,
    /// Why the instance is not running, if it is not.
    pub fault: Option<String>,
}

impl VrrpStatus {
    /// `show vrrp`'s lines for this instance.
    pub fn describe(&self) -> String {
        let c = &self.counters;
        let drops: Vec<String> = c
            .drops
            .iter()
            .map(|(reason, n)| format!("{} {n}", reason.name()))
            .collect();
        let mut out = format!(
            "{}: state {}, interface {}, vrid {}, version {}, priority {} (effective {}), master {}\n",
            self.name,
            self.state.keyword(),
            self.interface,
            self.vrid,
            self.version,
            self.priority,
            self.effective_priority,
            self.master.map_or("unknown".to_string(), |m| m.to_string()),
        );
        out.push_str(&format!(
            "  adverts sent {}, received {}; priority 0 sent {}, received {}\n  dropped: {}\n  became master {}, backup {}, fault {}\n",
            c.adverts_sent,
            c.adverts_received,
            c.priority_zero_sent,
            c.priority_zero_received,
            drops.join(", "),
            c.became_master,
            c.became_backup,
            c.became_fault,
        ));
        if let Some(fault) = &self.fault {
            out.push_str(&format!("  fault: {fault}\n"));
        }
        out
    }
}

/// The running instances: their statuses, and the flag that stops them.
pub struct VrrpRunner {
    statuses: Vec<Rc<RefCell<VrrpStatus>>>,
    /// Each instance's `advert_int`.
    intervals: Vec<Duration>,
    running: Rc<Cell<bool>>,
    tasks_left: Rc<Cell<usize>>,
}

/// Tells an instance whether the backend of that name has no server up.
pub type TrackedDown = Rc<dyn Fn(&str) -> bool>;

impl VrrpRunner {
    /// Starts one task per `vrrp` section on the current monoio runtime; `tracked(backend)`
    /// says whether that backend has no server up.
    pub fn start(sections: &[Vrrp], tracked: TrackedDown) -> Self {
        let running = Rc::new(Cell::new(true));
        let tasks_left = Rc::new(Cell::new(sections.len()));
        let statuses = sections
            .iter()
            .map(|v| {
                let status = Rc::new(RefCell::new(VrrpStatus {
                    name: v.name.clone(),
                    interface: v.interface.clone(),
                    vrid: v.virtual_router_id,
                    version: v.version.number(),
                    state: State::Initialize,
                    priority: v.priority,
                    effective_priority: v.priority,
                    master: None,
                    counters: Counters::default(),
                    fault: None,
                }));
                monoio::spawn(run_instance(
                    v.clone(),
                    Rc::clone(&status),
                    Rc::clone(&running),
                    Rc::clone(&tracked),
                    Rc::clone(&tasks_left),
                ));
                status
            })
            .collect();
        Self {
            statuses,
            intervals: sections.iter().map(|v| v.advert_int).collect(),
            running,
            tasks_left,
        }
    }

    /// Each instance's status now.
    pub fn statuses(&self) -> Vec<VrrpStatus> {
        self.statuses.iter().map(|s| s.borrow().clone()).collect()
    }

    /// Starts stopping every instance (a soft stop begins): a master sends its priority-0
    /// advert at once, so the backup takes over while connections drain here.
    pub fn begin_stop(&self) {
        self.running.set(false);
    }

    /// How long a soft stop should keep serving while a master hands its addresses over:
    /// one advert interval (the backup's skew time is shorter) and a margin for its
    /// gratuitous ARPs; `None` when no instance is master.
    pub fn handover(&self) -> Option<Duration> {
        self.statuses
            .iter()
            .zip(&self.intervals)
            .filter(|(s, _)| s.borrow().state == State::Master)
            .map(|(_, interval)| *interval + HANDOVER_MARGIN)
            .max()
    }

    /// Stops every instance and returns once all are done (or after `limit`).
    pub async fn stop(&self, limit: Duration) {
        self.running.set(false);
        let deadline = Instant::now() + limit;
        while self.tasks_left.get() > 0 && Instant::now() < deadline {
            monoio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Everything one instance holds while it runs.
struct Running {
    vrrp: Vrrp,
    socket: AsyncVrrpSocket,
    garp: Option<GarpSender>,
    machine: Instance,
    status: Rc<RefCell<VrrpStatus>>,
    addresses: Vec<Ipv4Addr>,
}

async fn run_instance(
    vrrp: Vrrp,
    status: Rc<RefCell<VrrpStatus>>,
    running: Rc<Cell<bool>>,
    tracked: TrackedDown,
    tasks_left: Rc<Cell<usize>>,
) {
    // The interface or its address may not be there yet (a namespace being set up): the
    // instance waits in fault until it can open its socket.
    let mut instance = loop {
        if !running.get() {
            tasks_left.set(tasks_left.get().saturating_sub(1));
            return;
        }
        match open(&vrrp, &status) {
            Ok(instance) => break instance,
            Err(why) => {
                {
                    let mut s = status.borrow_mut();
                    if s.fault.as_deref() != Some(why.as_str()) {
                        log::error!("({}) {why}", vrrp.name);
                    }
                    s.fault = Some(why);
                    s.state = State::Fault;
                }
                monoio::time::sleep(RETRY).await;
            }
        }
    };
    status.borrow_mut().fault = None;
    let now = Instant::now();
    let actions = instance.machine.handle(Event::Startup, now);
    instance.apply(actions);
    let mut down: Vec<bool> = vec![false; vrrp.track_backends.len()];
    let mut buf = vec![0u8; PACKET];
    while running.get() {
        for (i, track) in vrrp.track_backends.iter().enumerate() {
            let is_down = tracked(&track.name);
            if is_down != down[i] {
                down[i] = is_down;
                let actions = instance.machine.handle(
                    Event::TrackedDown {
                        track: i,
                        down: is_down,
                    },
                    Instant::now(),
                );
                instance.apply(actions);
            }
        }
        let wake = instance.machine.next_deadline().map_or(POLL, |d| {
            d.saturating_duration_since(Instant::now()).min(POLL)
        });
        match monoio::time::timeout(wake, instance.socket.recv(&mut buf)).await {
            Ok(Ok(n)) => instance.received(&buf[..n.min(buf.len())]),
            Ok(Err(e)) => {
                log::warn!("({}) receive: {e}", vrrp.name);
                monoio::time::sleep(POLL).await;
            }
            Err(_) => {}
        }
        if instance
            .machine
            .next_deadline()
            .is_some_and(|d| d <= Instant::now())
        {
            let actions = instance.machine.handle(Event::Timer, Instant::now());
            instance.apply(actions);
        }
        instance.publish();
    }
    // Stopping: a master's priority-0 advert lets the backup take over after its skew
    // time only; then the addresses go.
    let was_master = instance.machine.state() == State::Master;
    let mut actions = instance.machine.handle(Event::Shutdown, Instant::now());
    // The machine gives the addresses up at once; they go below, after the handover.
    actions.retain(|a| *a != Action::BecomeBackup);
    instance.apply(actions);
    if was_master {
        // The addresses stay until the backup has them (its skew time is under one
        // interval): a client that still reaches this node is served, not dropped.
        monoio::time::sleep(vrrp.advert_int + HANDOVER_MARGIN).await;
    }
    instance.remove_addresses();
    instance.publish();
    tasks_left.set(tasks_left.get().saturating_sub(1));
}

fn open(vrrp: &Vrrp, status: &Rc<RefCell<VrrpStatus>>) -> Result<Running, String> {
    let socket = VrrpSocket::open(&SocketConfig {
        interface: vrrp.interface.clone(),
        unicast_src: vrrp.unicast_src_ip,
        unicast_peers: vrrp.unicast_peers.clone(),
    })
    .map_err(|e| e.to_string())?;
    let primary = socket.source();
    let socket = AsyncVrrpSocket::new(socket).map_err(|e| e.to_string())?;
    // Without an AF_PACKET socket the addresses still move; neighbours learn of it later.
    let garp = match GarpSender::open(&vrrp.interface) {
        Ok(g) => Some(g),
        Err(e) => {
            log::warn!("({}) no gratuitous ARP: {e}", vrrp.name);
            None
        }
    };
    Ok(Running {
        machine: Instance::new(Settings::from_config(vrrp, primary)),
        addresses: vrrp.virtual_addresses.iter().map(|a| a.addr).collect(),
        vrrp: vrrp.clone(),
        socket,
        garp,
        status: Rc::clone(status),
    })
}

impl Running {
    fn received(&mut self, packet: &[u8]) {
        let expect = Expect {
            version: self.vrrp.version,
            vrid: self.vrrp.virtual_router_id,
            interval: self.vrrp.advert_int,
            addresses: self.addresses.clone(),
            check_ttl: self.vrrp.unicast_peers.is_empty(),
        };
        match packet::decode(packet, &expect) {
            Ok(r) => {
                let event = Event::Advert {
                    from: r.src,
                    priority: r.advert.priority,
                    interval: r.advert.interval,
                };
                let actions = self.machine.handle(event, Instant::now());
                self.apply(actions);
            }
            Err(reason) => self.machine.record_drop(reason),
        }
    }

    fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::SendAdvert { priority } => self.send(priority),
                Action::BecomeMaster => {
                    self.add_addresses();
                    self.garps();
                }
                Action::BecomeBackup => self.remove_addresses(),
                Action::GarpRepeat => self.garps(),
                Action::Notify(state) => self.notify(state),
            }
        }
    }

    fn send(&self, priority: u8) {
        let advert = Advert {
            version: self.vrrp.version,
            vrid: self.vrrp.virtual_router_id,
            priority,
            interval: self.vrrp.advert_int,
            addresses: self.addresses.clone(),
        };
        let socket = self.socket.get_ref();
        // One payload per destination: v3's checksum covers the destination address.
        for &dst in socket.destinations() {
            let payload = packet::encode(&advert, socket.source(), dst);
            if let Err(e) = socket.send(&payload, dst) {
                log::warn!("({}) send: {e}", self.vrrp.name);
            }
        }
    }

    fn add_addresses(&self) {
        for vip in &self.vrrp.virtual_addresses {
            let dev = vip.dev.as_deref().unwrap_or(&self.vrrp.interface);
            if let Err(e) = address::add_address(dev, vip.addr, vip.prefix) {
                log::error!(
                    "({}) cannot add {}/{}: {e}",
                    self.vrrp.name,
                    vip.addr,
                    vip.prefix
                );
            }
        }
    }

    fn remove_addresses(&self) {
        for vip in &self.vrrp.virtual_addresses {
            let dev = vip.dev.as_deref().unwrap_or(&self.vrrp.interface);
            if let Err(e) = address::remove_address(dev, vip.addr, vip.prefix) {
                log::error!(
                    "({}) cannot remove {}/{}: {e}",
                    self.vrrp.name,
                    vip.addr,
                    vip.prefix
                );
            }
        }
    }

    /// `garp_master_repeat` gratuitous ARPs for every address, as keepalived sends them.
    fn garps(&self) {
        let Some(garp) = &self.garp else {
            return;
        };
        for _ in 0..self.vrrp.garp_master_repeat.max(1) {
            for vip in &self.vrrp.virtual_addresses {
                if let Err(e) = garp.send(vip.addr) {
                    log::warn!("({}) gratuitous ARP for {}: {e}", self.vrrp.name, vip.addr);
                }
            }
        }
    }

    fn notify(&self, state: State) {
        log::warn!("({}) Entering {} STATE", self.vrrp.name, state.keyword());
        let command = match state {
            State::Master => &self.vrrp.notify_master,
            State::Backup => &self.vrrp.notify_backup,
            State::Fault => &self.vrrp.notify_fault,
            State::Initialize => &None,
        };
        if let Some(command) = command {
            // Started, never waited for here: a slow script must not hold the control
            // thread (its exit is reaped by a thread of its own).
            match std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(command)
                .stdin(std::process::Stdio::null())
                .spawn()
            {
                Ok(mut child) => {
                    let _ = std::thread::Builder::new()
                        .name("ringlb-notify".into())
                        .spawn(move || child.wait());
                }
                Err(e) => log::error!("({}) notify '{command}': {e}", self.vrrp.name),
            }
        }
    }

    fn publish(&self) {
        let mut s = self.status.borrow_mut();
        s.state = self.machine.state();
        s.effective_priority = self.machine.priority();
        s.master = self.machine.master();
        s.counters = *self.machine.counters();
    }
}
