//! The VRRP state machine of RFC 5798 §6.4, pure: no I/O, no clock. The caller feeds
//! events with the time they happened and carries out the actions returned; it calls
//! `handle(Event::Timer, ..)` at `next_deadline()`.
//!
//! Where the RFC leaves room, keepalived's choices are followed so that a mixed pair
//! behaves as two keepalived would: `preempt_delay`, tracked priority, an owner (priority
//! 255) not lowered by tracking, the v2 skew time in whole-second units.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::packet::{Drop, DropCounts, Version};
use crate::config::{Vrrp, VRRP_PRIORITY_OWNER};

/// The state of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started, or stopped.
    Initialize,
    /// Watching the master's adverts, ready to take over.
    Backup,
    /// Holding the virtual addresses and advertising.
    Master,
    /// The interface is down: neither advertising nor holding the addresses.
    Fault,
}

impl State {
    /// The word keepalived logs, as in `(VI_1) Entering MASTER STATE`.
    pub fn keyword(self) -> &'static str {
        match self {
            State::Initialize => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        }
    }
}

/// What an instance needs to know, taken from its `vrrp` section and its interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Instance name, for logs.
    pub name: String,
    /// Protocol version.
    pub version: Version,
    /// Configured priority (1-255).
    pub priority: u8,
    /// Advertisement_Interval.
    pub advert_interval: Duration,
    /// Preempt_Mode.
    pub preempt: bool,
    /// keepalived's `preempt_delay`: how long a backup keeps accepting a lower-priority
    /// master before preempting it.
    pub preempt_delay: Duration,
    /// This router's primary address, which breaks ties between equal priorities.
    pub primary_address: Ipv4Addr,
    /// When the second burst of gratuitous ARPs follows becoming master.
    pub garp_master_delay: Duration,
    /// Priority lost while each tracked backend is down, in `track_backend` order.
    pub track_penalties: Vec<u8>,
}

impl Settings {
    /// The settings of a configured instance whose interface has `primary_address`.
    pub fn from_config(vrrp: &Vrrp, primary_address: Ipv4Addr) -> Self {
        Self {
            name: vrrp.name.clone(),
            version: vrrp.version,
            priority: vrrp.priority,
            advert_interval: vrrp.advert_int,
            preempt: vrrp.preempt,
            preempt_delay: vrrp.preempt_delay,
            primary_address,
            garp_master_delay: vrrp.garp_master_delay,
            track_penalties: vrrp.track_backends.iter().map(|t| t.penalty).collect(),
        }
    }
}

/// Something that happened to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Start the instance.
    Startup,
    /// A valid advert of this virtual router arrived (`packet::decode` accepted it).
    Advert {
        /// Its source address: the sender's primary address.
        from: Ipv4Addr,
        /// The sender's priority.
        priority: u8,
        /// The sender's interval.
        interval: Duration,
    },
    /// A deadline given by `next_deadline` passed.
    Timer,
    /// Stop the instance (SIGTERM): a master says so with a priority-0 advert.
    Shutdown,
    /// A tracked backend (index in `Settings::track_penalties`) lost or regained its
    /// last server.
    TrackedDown {
        /// Which `track_backend`.
        track: usize,
        /// Whether it has no server up.
        down: bool,
    },
    /// The interface went down or came back.
    Interface {
        /// Whether it is up.
        up: bool,
    },
}

/// Something the caller must do, in the order given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send an advert with this priority.
    SendAdvert {
        /// The priority to advertise (0 when stopping).
        priority: u8,
    },
    /// Add the virtual addresses and send the first burst of gratuitous ARPs.
    BecomeMaster,
    /// Remove the virtual addresses.
    BecomeBackup,
    /// Send the second burst of gratuitous ARPs (`garp_master_delay` after becoming master).
    GarpRepeat,
    /// Log the new state as keepalived does and run its `notify_*` command.
    Notify(State),
}

/// Counters of one instance, for `show vrrp` and the stats page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Adverts sent, priority 0 included.
    pub adverts_sent: u64,
    /// Valid adverts received.
    pub adverts_received: u64,
    /// Priority-0 adverts sent (stops).
    pub priority_zero_sent: u64,
    /// Priority-0 adverts received (the master stopping).
    pub priority_zero_received: u64,
    /// Packets dropped, by reason.
    pub drops: DropCounts,
    /// Transitions to master.
    pub became_master: u64,
    /// Transitions to backup.
    pub became_backup: u64,
    /// Transitions to fault.
    pub became_fault: u64,
}

/// One VRRP instance.
#[derive(Debug, Clone)]
pub struct Instance {
    settings: Settings,
    state: State,
    master_adver_interval: Duration,
    master_down_timer: Option<Instant>,
    adver_timer: Option<Instant>,
    garp_timer: Option<Instant>,
    /// keepalived's preempt time: until then a lower-priority master is still accepted.
    preempt_until: Option<Instant>,
    tracks_down: Vec<bool>,
    master: Option<Ipv4Addr>,
    interface_up: bool,
    counters: Counters,
}

impl Instance {
    /// A stopped instance (state Initialize).
    pub fn new(settings: Settings) -> Self {
        let tracks_down = vec![false; settings.track_penalties.len()];
        Self {
            master_adver_interval: settings.advert_interval,
            settings,
            state: State::Initialize,
            master_down_timer: None,
            adver_timer: None,
            garp_timer: None,
            preempt_until: None,
            tracks_down,
            master: None,
            interface_up: true,
            counters: Counters::default(),
        }
    }

    /// The settings it was made with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The priority advertised: the configured one less the penalties of tracked backends
    /// that are down, never below 1; an owner's (255) is never lowered, as in keepalived.
    pub fn priority(&self) -> u8 {
        let base = self.settings.priority;
        if base == VRRP_PRIORITY_OWNER {
            return base;
        }
        let penalty: u32 = self
            .settings
            .track_penalties
            .iter()
            .zip(&self.tracks_down)
            .filter(|(_, down)| **down)
            .map(|(p, _)| u32::from(*p))
            .sum();
        u8::try_from(u32::from(base).saturating_sub(penalty).max(1)).unwrap_or(1)
    }

    /// The current master's address (ours when master), if known.
    pub fn master(&self) -> Option<Ipv4Addr> {
        self.master
    }

    /// Master_Adver_Interval: configured, or learnt from the master's adverts (v3).
    pub fn master_adver_interval(&self) -> Duration {
        self.master_adver_interval
    }

    /// Skew_Time: v3 `((256 - Priority) * Master_Adver_Interval) / 256`, v2
    /// `(256 - Priority) / 256` seconds.
    pub fn skew_time(&self) -> Duration {
        let weight = u128::from(256 - u16::from(self.priority()));
        let unit = match self.settings.version {
            Version::V2 => Duration::from_secs(1),
            Version::V3 => self.master_adver_interval,
        };
        duration_from_nanos(unit.as_nanos() * weight / 256)
    }

    /// Master_Down_Interval: `3 * Master_Adver_Interval + Skew_Time`.
    pub fn master_down_interval(&self) -> Duration {
        self.master_adver_interval * 3 + self.skew_time()
    }

    /// When the caller must next send `Event::Timer`; `None` while nothing is pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.master_down_timer, self.adver_timer, self.garp_timer]
            .into_iter()
            .flatten()
            .min()
    }

    /// Counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Counts a packet `packet::decode` refused.
    pub fn record_drop(&mut self, reason: Drop) {
        self.counters.drops.add(reason);
    }

    /// Applies one event that happened at `now` and returns what to do.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Startup => {
                if self.state == State::Initialize {
                    self.start(now, &mut out);
                }
            }
            Event::Advert {
                from,
                priority,
                interval,
            } => self.advert(from, priority, interval, now, &mut out),
            Event::Timer => self.timer(now, &mut out),
            Event::Shutdown => self.shutdown(&mut out),
            Event::TrackedDown { track, down } => {
                if let Some(slot) = self.tracks_down.get_mut(track) {
                    *slot = down;
                }
            }
            Event::Interface { up } => self.interface(up, now, &mut out),
        }
        out
    }

    /// §6.4.1, on Startup.
    fn start(&mut self, now: Instant, out: &mut Vec<Action>) {
        if !self.interface_up {
            self.enter_fault(out);
            return;
        }
        if self.settings.priority == VRRP_PRIORITY_OWNER {
            self.become_master(now, out);
        } else {
            self.master_adver_interval = self.settings.advert_interval;
            self.master_down_timer = Some(now + self.master_down_interval());
            // Also at start: addresses left behind by a killed predecessor must go.
            self.enter_backup(out);
        }
    }

    fn advert(
        &mut self,
        from: Ipv4Addr,
        priority: u8,
        interval: Duration,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        // Our own adverts looped back by multicast are not a peer's.
        if from == self.settings.primary_address
            || !matches!(self.state, State::Backup | State::Master)
        {
            return;
        }
        self.counters.adverts_received += 1;
        if priority == 0 {
            self.counters.priority_zero_received += 1;
        }
        let local = self.priority();
        match self.state {
            State::Backup => {
                if priority == 0 {
                    // §6.4.2: the master is leaving; take over after the skew time only.
                    self.master_down_timer = Some(now + self.skew_time());
                    self.master = None;
                } else if !self.settings.preempt
                    || priority >= local
                    || self.preempt_delay_holds(now)
                {
                    self.learn_interval(interval);
                    self.master_down_timer = Some(now + self.master_down_interval());
                    self.master = Some(from);
                    if priority >= local {
                        self.preempt_until = None;
                    } else if !self.settings.preempt_delay.is_zero() && self.preempt_until.is_none()
                    {
                        self.preempt_until = Some(now + self.settings.preempt_delay);
                    }
                } else {
                    // Preempting: the advert is discarded and the timer left running,
                    // though the master's address is still worth showing.
                    self.master = Some(from);
                }
            }
            State::Master => {
                if priority == 0 {
                    // §6.4.3: a stopping peer; advertise at once so a backup does not
                    // take over for nothing.
                    self.send(local, out);
                    self.adver_timer = Some(now + self.settings.advert_interval);
                } else if priority > local
                    || (priority == local && from > self.settings.primary_address)
                {
                    self.adver_timer = None;
                    self.garp_timer = None;
                    self.learn_interval(interval);
                    self.master_down_timer = Some(now + self.master_down_interval());
                    self.master = Some(from);
                    self.enter_backup(out);
                }
                // Otherwise discarded: a lower master steps down on our next advert.
            }
            State::Initialize | State::Fault => {}
        }
    }

    fn timer(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.state {
            State::Backup => {
                if self.master_down_timer.is_some_and(|t| t <= now) {
                    self.become_master(now, out);
                }
            }
            State::Master => {
                if self.adver_timer.is_some_and(|t| t <= now) {
                    self.send(self.priority(), out);
                    self.adver_timer = Some(now + self.settings.advert_interval);
                }
                if self.garp_timer.is_some_and(|t| t <= now) {
                    self.garp_timer = None;
                    out.push(Action::GarpRepeat);
                }
            }
            State::Initialize | State::Fault => {}
        }
    }

    /// §6.4.2 and §6.4.3, on Shutdown.
    fn shutdown(&mut self, out: &mut Vec<Action>) {
        if self.state == State::Master {
            self.send(0, out);
            self.counters.priority_zero_sent += 1;
            out.push(Action::BecomeBackup);
        }
        self.clear_timers();
        self.master = None;
        self.state = State::Initialize;
    }

    fn interface(&mut self, up: bool, now: Instant, out: &mut Vec<Action>) {
        self.interface_up = up;
        match (up, self.state) {
            (false, State::Master | State::Backup) => self.enter_fault(out),
            (true, State::Fault) => self.start(now, out),
            _ => {}
        }
    }

    fn become_master(&mut self, now: Instant, out: &mut Vec<Action>) {
        // keepalived sends the advert first, so that an old master drops the addresses
        // before our gratuitous ARPs.
        self.send(self.priority(), out);
        out.push(Action::BecomeMaster);
        out.push(Action::Notify(State::Master));
        self.clear_timers();
        self.adver_timer = Some(now + self.settings.advert_interval);
        self.garp_timer = Some(now + self.settings.garp_master_delay);
        self.master = Some(self.settings.primary_address);
        self.master_adver_interval = self.settings.advert_interval;
        self.state = State::Master;
        self.counters.became_master += 1;
    }

    fn enter_backup(&mut self, out: &mut Vec<Action>) {
        out.push(Action::BecomeBackup);
        out.push(Action::Notify(State::Backup));
        self.preempt_until = None;
        self.state = State::Backup;
        self.counters.became_backup += 1;
    }

    fn enter_fault(&mut self, out: &mut Vec<Action>) {
        if self.state == State::Master {
            self.send(0, out);
            self.counters.priority_zero_sent += 1;
        }
        out.push(Action::BecomeBackup);
        out.push(Action::Notify(State::Fault));
        self.clear_timers();
        self.master = None;
        self.state = State::Fault;
        self.counters.became_fault += 1;
    }

    fn clear_timers(&mut self) {
        self.master_down_timer = None;
        self.adver_timer = None;
        self.garp_timer = None;
        self.preempt_until = None;
    }

    fn send(&mut self, priority: u8, out: &mut Vec<Action>) {
        self.counters.adverts_sent += 1;
        out.push(Action::SendAdvert { priority });
    }

    /// §6.4.2/§6.4.3: v3 takes the master's interval; v2 drops adverts with another one.
    fn learn_interval(&mut self, interval: Duration) {
        if self.settings.version == Version::V3 && !interval.is_zero() {
            self.master_adver_interval = interval;
        }
    }

    fn preempt_delay_holds(&self, now: Instant) -> bool {
        !self.settings.preempt_delay.is_zero() && self.preempt_until.is_none_or(|t| now < t)
    }
}

fn duration_from_nanos(nanos: u128) -> Duration {
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn settings(addr: Ipv4Addr, priority: u8) -> Settings {
        Settings {
            name: format!("VI_{addr}"),
            version: Version::V2,
            priority,
            advert_interval: Duration::from_secs(1),
            preempt: true,
            preempt_delay: Duration::ZERO,
            primary_address: addr,
            garp_master_delay: Duration::from_secs(5),
            track_penalties: Vec::new(),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Routers on one LAN, time driven by the test: each advert sent reaches the other
    /// running routers `latency` later.
    struct Lan {
        t0: Instant,
        now: Instant,
        latency: Duration,
        nodes: Vec<Instance>,
        running: Vec<bool>,
        in_flight: Vec<(Instant, usize, Event)>,
        /// (time since t0, node, action), for assertions.
        log: Vec<(Duration, usize, Action)>,
    }

    impl Lan {
        fn new(nodes: Vec<Settings>) -> Self {
            let t0 = Instant::now();
            Self {
                t0,
                now: t0,
                latency: Duration::ZERO,
                running: vec![false; nodes.len()],
                nodes: nodes.into_iter().map(Instance::new).collect(),
                in_flight: Vec::new(),
                log: Vec::new(),
            }
        }

        fn at(&self, since_start: Duration) -> Instant {
            self.t0 + since_start
        }

        fn event(&mut self, node: usize, event: Event) {
            let now = self.now;
            let actions = self.nodes[node].handle(event, now);
            for a in actions {
                self.log.push((now - self.t0, node, a));
                if let Action::SendAdvert { priority } = a {
                    let from = self.nodes[node].settings().primary_address;
                    let interval = self.nodes[node].settings().advert_interval;
                    for other in 0..self.nodes.len() {
                        if other != node {
                            let ev = Event::Advert {
                                from,
                                priority,
                                interval,
                            };
                            self.in_flight.push((now + self.latency, other, ev));
                        }
                    }
                }
            }
        }

        fn start(&mut self, node: usize) {
            self.running[node] = true;
            self.event(node, Event::Startup);
        }

        /// SIGKILL: the router vanishes without a word.
        fn kill(&mut self, node: usize) {
            self.running[node] = false;
            self.nodes[node] = Instance::new(self.nodes[node].settings().clone());
        }

        fn stop(&mut self, node: usize) {
            self.event(node, Event::Shutdown);
            self.running[node] = false;
        }

        /// Runs every timer and delivery up to `since_start`.
        fn run_until(&mut self, since_start: Duration) {
            let end = self.at(since_start);
            loop {
                let timer = (0..self.nodes.len())
                    .filter(|n| self.running[*n])
                    .filter_map(|n| self.nodes[n].next_deadline().map(|t| (t, n)))
                    .min();
                let delivery = self
                    .in_flight
                    .iter()
                    .enumerate()
                    .map(|(i, (t, _, _))| (*t, i))
                    .min();
                match (timer, delivery) {
                    (_, Some((t, i))) if t <= end && timer.is_none_or(|(tt, _)| t <= tt) => {
                        let (_, node, ev) = self.in_flight.remove(i);
                        self.now = self.now.max(t);
                        if self.running[node] {
                            self.event(node, ev);
                        }
                    }
                    (Some((t, n)), _) if t <= end => {
                        self.now = self.now.max(t);
                        self.event(n, Event::Timer);
                    }
                    _ => break,
                }
            }
            self.now = end;
        }

        fn state(&self, node: usize) -> State {
            self.nodes[node].state()
        }

        fn masters(&self) -> Vec<usize> {
            (0..self.nodes.len())
                .filter(|n| self.running[*n] && self.state(*n) == State::Master)
                .collect()
        }

        /// When `node` last became master.
        fn became_master(&self, node: usize) -> Option<Duration> {
            self.log
                .iter()
                .rev()
                .find(|(_, n, a)| *n == node && *a == Action::BecomeMaster)
                .map(|(t, _, _)| *t)
        }

        fn last_advert_of(&self, node: usize) -> Option<Duration> {
            self.log
                .iter()
                .rev()
                .find(|(_, n, a)| *n == node && matches!(a, Action::SendAdvert { .. }))
                .map(|(t, _, _)| *t)
        }
    }

    #[test]
    fn timers_follow_rfc_5798() {
        let i = Instance::new(settings(A, 100));
        // v2: (256 - 100) / 256 s.
        assert_eq!(i.skew_time(), Duration::from_micros(609_375));
        assert_eq!(i.master_down_interval(), Duration::from_micros(3_609_375));
        let mut s = settings(A, 100);
        s.version = Version::V3;
        s.advert_interval = ms(100);
        let i = Instance::new(s);
        // v3: (256 - 100) * 0.1 s / 256.
        assert_eq!(i.skew_time(), Duration::from_nanos(60_937_500));
        assert_eq!(i.master_down_interval(), Duration::from_nanos(360_937_500));
        let i = Instance::new(settings(A, 255));
        assert_eq!(i.skew_time(), Duration::from_nanos(3_906_250));
    }

    #[test]
    fn startup_goes_backup_and_the_owner_master() {
        let now = Instant::now();
        let mut i = Instance::new(settings(A, 100));
        assert_eq!(i.state(), State::Initialize);
        assert_eq!(i.next_deadline(), None);
        let actions = i.handle(Event::Startup, now);
        assert_eq!(
            actions,
            vec![Action::BecomeBackup, Action::Notify(State::Backup)]
        );
        assert_eq!(i.next_deadline(), Some(now + i.master_down_interval()));
        // A second Startup changes nothing.
        assert!(i.handle(Event::Startup, now).is_empty());
        let mut owner = Instance::new(settings(A, 255));
        let actions = owner.handle(Event::Startup, now);
        assert_eq!(
            actions,
            vec![
                Action::SendAdvert { priority: 255 },
                Action::BecomeMaster,
                Action::Notify(State::Master)
            ]
        );
        assert_eq!(owner.master(), Some(A));
        assert_eq!(owner.next_deadline(), Some(now + Duration::from_secs(1)));
    }

    #[test]
    fn master_advertises_and_repeats_garps() {
        let now = Instant::now();
        let mut i = Instance::new(settings(A, 255));
        i.handle(Event::Startup, now);
        let mut garps = 0;
        let mut sent = 0;
        for s in 1..=10 {
            let t = now + Duration::from_secs(s);
            assert_eq!(i.next_deadline(), Some(t));
            for a in i.handle(Event::Timer, t) {
                match a {
                    Action::SendAdvert { priority: 255 } => sent += 1,
                    Action::GarpRepeat => {
                        garps += 1;
                        assert_eq!(s, 5, "garp_master_delay is 5 s");
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        assert_eq!((sent, garps), (10, 1));
        assert_eq!(i.counters().adverts_sent, 11);
        // An early Timer does nothing.
        assert!(i.handle(Event::Timer, now + ms(10_500)).is_empty());
    }

    #[test]
    fn election_by_priority() {
        let mut lan = Lan::new(vec![settings(A, 200), settings(B, 100)]);
        lan.start(0);
        lan.start(1);
        // 200 times out first: 3 + 56/256 s.
        lan.run_until(Duration::from_micros(3_218_749));
        assert!(lan.masters().is_empty());
        lan.run_until(Duration::from_micros(3_218_750));
        assert_eq!(lan.masters(), vec![0]);
        lan.run_until(Duration::from_secs(30));
        assert_eq!(lan.masters(), vec![0]);
        assert_eq!(lan.state(1), State::Backup);
        assert_eq!(lan.nodes[1].master(), Some(A));
        assert_eq!(lan.nodes[1].counters().became_master, 0);
    }

    #[test]
    fn equal_priorities_the_higher_address_wins() {
        for order in [[0, 1], [1, 0]] {
            let mut lan = Lan::new(vec![settings(A, 100), settings(B, 100)]);
            // Both time out together; each sees the other's advert as master.
            lan.latency = ms(1);
            lan.start(order[0]);
            lan.start(order[1]);
            lan.run_until(Duration::from_secs(10));
            assert_eq!(lan.masters(), vec![1], "order {order:?}");
            assert_eq!(lan.nodes[0].master(), Some(B));
            assert_eq!(lan.nodes[0].counters().became_master, 1);
        }
    }

    #[test]
    fn failover_after_master_down_interval() {
        let mut lan = Lan::new(vec![settings(A, 200), settings(B, 100)]);
        lan.start(0);
        lan.start(1);
        lan.run_until(Duration::from_millis(10_500));
        lan.kill(0);
        let last = lan.last_advert_of(0).unwrap();
        lan.run_until(Duration::from_secs(20));
        assert_eq!(lan.masters(), vec![1]);
        // B's Master_Down_Interval is 3 + 156/256 s after A's last advert.
        let took = lan.became_master(1).unwrap() - last;
        assert_eq!(took, Duration::from_micros(3_609_375));
    }

    #[test]
    fn priority_zero_on_shutdown_takeover_after_skew_time() {
        let mut lan = Lan::new(vec![settings(A, 200), settings(B, 100)]);
        lan.start(0);
        lan.start(1);
        lan.run_until(Duration::from_millis(10_500));
        lan.stop(0);
        let stop_actions: Vec<Action> = lan
            .log
            .iter()
            .filter(|(t, n, _)| *n == 0 && *t == ms(10_500))
            .map(|(_, _, a)| *a)
            .collect();
        assert_eq!(
            stop_actions,
            vec![Action::SendAdvert { priority: 0 }, Action::BecomeBackup]
        );
        assert_eq!(lan.state(0), State::Initialize);
        lan.run_until(Duration::from_secs(20));
        assert_eq!(lan.masters(), vec![1]);
        // Skew_Time of priority 100: 156/256 s.
        let took = lan.became_master(1).unwrap() - ms(10_500);
        assert_eq!(took, Duration::from_micros(609_375));
        assert_eq!(lan.nodes[1].counters().priority_zero_received, 1);
    }

    #[test]
    fn a_master_answers_priority_zero_at_once() {
        let now = Instant::now();
        let mut i = Instance::new(settings(A, 255));
        i.handle(Event::Startup, now);
        let a = i.handle(
            Event::Advert {
                from: B,
                priority: 0,
                interval: Duration::from_secs(1),
            },
            now + ms(300),
        );
        assert_eq!(a, vec![Action::SendAdvert { priority: 255 }]);
        assert_eq!(i.next_deadline(), Some(now + ms(1_300)));
        assert_eq!(i.state(), State::Master);
    }

    #[test]
    fn preemption_takes_the_addresses_back() {
        let mut lan = Lan::new(vec![settings(A, 200), settings(B, 100)]);
        lan.start(1);
        lan.run_until(Duration::from_secs(10));
        assert_eq!(lan.masters(), vec![1]);
        lan.start(0);
        lan.run_until(Duration::from_secs(30));
        assert_eq!(lan.masters(), vec![0]);
        // A discards B's lower adverts, so it takes over after its own down interval.
        let took = lan.became_master(0).unwrap() - Duration::from_secs(10);
        assert_eq!(took, Duration::from_micros(3_218_750));
        assert_eq!(lan.state(1), State::Backup);
    }

    #[test]
    fn nopreempt_leaves_the_master_alone() {
        let mut a = settings(A, 200);
        a.preempt = false;
        let mut lan = Lan::new(vec![a, settings(B, 100)]);
        lan.start(1);
        lan.run_until(Duration::from_secs(10));
        lan.start(0);
        lan.run_until(Duration::from_secs(60));
        assert_eq!(lan.masters(), vec![1]);
        assert_eq!(lan.nodes[0].master(), Some(B));
        // It still takes over when the master goes.
        lan.stop(1);
        lan.run_until(Duration::from_secs(62));
        assert_eq!(lan.masters(), vec![0]);
    }

    #[test]
    fn preempt_delay_holds_back_preemption() {
        let mut a = settings(A, 200);
        a.preempt_delay = Duration::from_secs(5);
        let mut lan = Lan::new(vec![a, settings(B, 100)]);
        lan.start(1);
        lan.run_until(Duration::from_secs(10));
        lan.start(0);
        // B's first advert after A's start (at 10+) begins the delay.
        lan.run_until(Duration::from_millis(15_000));
        assert_eq!(lan.masters(), vec![1]);
        lan.run_until(Duration::from_secs(30));
        assert_eq!(lan.masters(), vec![0]);
        let took = lan.became_master(0).unwrap() - Duration::from_secs(10);
        // B advertises at 3.609375 + k s. Its first advert A sees (10.609375) starts the
        // delay; the ones before 15.609375 are accepted, the last at 14.609375; A then
        // times out 3 + 56/256 s later, as keepalived does.
        assert_eq!(took, Duration::from_micros(609_375 + 4_000_000 + 3_218_750));
    }

    #[test]
    fn tracked_backend_lowers_priority_and_loses_mastership() {
        let mut a = settings(A, 200);
        a.track_penalties = vec![20, 150];
        let mut lan = Lan::new(vec![a, settings(B, 100)]);
        lan.start(0);
        lan.start(1);
        lan.run_until(Duration::from_secs(10));
        assert_eq!(lan.masters(), vec![0]);
        lan.event(
            0,
            Event::TrackedDown {
                track: 0,
                down: true,
            },
        );
        assert_eq!(lan.nodes[0].priority(), 180);
        lan.run_until(Duration::from_secs(20));
        assert_eq!(lan.masters(), vec![0], "180 is still above 100");
        lan.event(
            0,
            Event::TrackedDown {
                track: 1,
                down: true,
            },
        );
        assert_eq!(lan.nodes[0].priority(), 30);
        lan.run_until(Duration::from_secs(30));
        assert_eq!(lan.masters(), vec![1]);
        // B discarded A's priority-30 adverts and timed out: 3 + 156/256 s after the last
        // advert A sent with 180.
        let took = lan.became_master(1).unwrap() - Duration::from_secs(20);
        assert!(took <= Duration::from_micros(3_609_375), "{took:?}");
        assert!(lan
            .log
            .iter()
            .any(|(_, n, a)| *n == 0 && *a == Action::SendAdvert { priority: 30 }));
        // Back up: A preempts again.
        lan.event(
            0,
            Event::TrackedDown {
                track: 1,
                down: false,
            },
        );
        lan.event(
            0,
            Event::TrackedDown {
                track: 0,
                down: false,
            },
        );
        lan.run_until(Duration::from_secs(40));
        assert_eq!(lan.masters(), vec![0]);
        // Penalties never take the priority below 1, nor touch an owner's.
        let mut low = settings(A, 10);
        low.track_penalties = vec![200];
        let mut i = Instance::new(low);
        i.handle(
            Event::TrackedDown {
                track: 0,
                down: true,
            },
            lan.now,
        );
        i.handle(
            Event::TrackedDown {
                track: 7,
                down: true,
            },
            lan.now,
        );
        assert_eq!(i.priority(), 1);
        let mut owner = settings(A, 255);
        owner.track_penalties = vec![100];
        let mut i = Instance::new(owner);
        i.handle(
            Event::TrackedDown {
                track: 0,
                down: true,
            },
            lan.now,
        );
        assert_eq!(i.priority(), 255);
    }

    #[test]
    fn v3_tenth_of_a_second() {
        let v3 = |addr, prio| {
            let mut s = settings(addr, prio);
            s.version = Version::V3;
            s.advert_interval = ms(100);
            s
        };
        let mut lan = Lan::new(vec![v3(A, 200), v3(B, 100)]);
        lan.start(0);
        lan.start(1);
        lan.run_until(Duration::from_secs(2));
        assert_eq!(lan.masters(), vec![0]);
        lan.kill(0);
        let last = lan.last_advert_of(0).unwrap();
        lan.run_until(Duration::from_secs(3));
        assert_eq!(lan.masters(), vec![1]);
        let took = lan.became_master(1).unwrap() - last;
        assert_eq!(took, Duration::from_nanos(360_937_500));
        // Graceful: the skew time only.
        let mut lan = Lan::new(vec![v3(A, 200), v3(B, 100)]);
        lan.start(0);
        lan.start(1);
        lan.run_until(Duration::from_millis(2_050));
        lan.stop(0);
        lan.run_until(Duration::from_secs(3));
        let took = lan.became_master(1).unwrap() - ms(2_050);
        assert_eq!(took, Duration::from_nanos(60_937_500));
    }

    #[test]
    fn v3_backup_learns_the_masters_interval() {
        let now = Instant::now();
        let mut s = settings(B, 100);
        s.version = Version::V3;
        let mut i = Instance::new(s);
        i.handle(Event::Startup, now);
        assert_eq!(i.master_adver_interval(), Duration::from_secs(1));
        i.handle(
            Event::Advert {
                from: A,
                priority: 200,
                interval: ms(100),
            },
            now + ms(50),
        );
        assert_eq!(i.master_adver_interval(), ms(100));
        assert_eq!(
            i.next_deadline(),
            Some(now + ms(50) + Duration::from_nanos(360_937_500))
        );
        // v2 keeps its own (other intervals never reach it: decode drops them).
        let mut i = Instance::new(settings(B, 100));
        i.handle(Event::Startup, now);
        i.handle(
            Event::Advert {
                from: A,
                priority: 200,
                interval: ms(2000),
            },
            now,
        );
        assert_eq!(i.master_adver_interval(), Duration::from_secs(1));
    }

    #[test]
    fn own_adverts_and_stopped_instances_ignore_adverts() {
        let now = Instant::now();
        let mut i = Instance::new(settings(A, 100));
        let ad = |from| Event::Advert {
            from,
            priority: 200,
            interval: Duration::from_secs(1),
        };
        assert!(i.handle(ad(B), now).is_empty());
        i.handle(Event::Startup, now);
        i.handle(ad(A), now);
        assert_eq!(i.counters().adverts_received, 0);
        i.handle(ad(B), now);
        assert_eq!(i.counters().adverts_received, 1);
        i.record_drop(Drop::Checksum);
        assert_eq!(i.counters().drops.get(Drop::Checksum), 1);
    }

    #[test]
    fn interface_down_is_fault() {
        let now = Instant::now();
        let mut i = Instance::new(settings(A, 255));
        i.handle(Event::Startup, now);
        let a = i.handle(Event::Interface { up: false }, now);
        assert_eq!(
            a,
            vec![
                Action::SendAdvert { priority: 0 },
                Action::BecomeBackup,
                Action::Notify(State::Fault)
            ]
        );
        assert_eq!(i.state(), State::Fault);
        assert_eq!(i.next_deadline(), None);
        let a = i.handle(Event::Interface { up: true }, now);
        assert!(a.contains(&Action::BecomeMaster));
        // Started while down: fault until it comes up.
        let mut i = Instance::new(settings(A, 100));
        i.handle(Event::Interface { up: false }, now);
        assert_eq!(
            i.handle(Event::Startup, now),
            vec![Action::BecomeBackup, Action::Notify(State::Fault)]
        );
        i.handle(Event::Interface { up: true }, now);
        assert_eq!(i.state(), State::Backup);
    }
}
