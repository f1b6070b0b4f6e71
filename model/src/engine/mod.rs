//! The model proper: a namespace's sockets, bind buckets and connections, and what each call
//! does to them.
//!
//! Read it like the kernel it mirrors: [`bind`] is `inet_csk_get_port()` and friends, [`connect`]
//! is `__inet_stream_connect()` / `tcp_v4_connect()` / `__inet_hash_connect()`, [`wire`] is what
//! happens to segments on loopback (`tcp_v4_rcv()`, `tcp_rcv_state_process()`,
//! `tcp_timewait_state_process()`), [`close`] is `__tcp_close()`, `tcp_shutdown()` and
//! `tcp_time_wait()`, and [`io`] is `accept()`, `send()` and `recv()`.
//!
//! ## How to drive it
//! [`Model::new`] takes the kernel profile, the topology and each namespace's sysctls.
//! [`Model::branches`] answers, for one op, every outcome the kernel may give, each with the
//! rule that decided it and the model as it is afterwards. Ports the kernel chooses are taken
//! from a [`Hint`] (the kernel's own choice, in lock-step) when the model allows them, or
//! chosen canonically (the lowest allowed port) when running alone. [`Model::snapshot`] is the
//! socket table once loopback traffic has been delivered.
//!
//! ## Not modelled
//! - SYN cookies, the half-open queue's limit, the third-ACK overflow (`tcp_abort_on_overflow`),
//!   TCP Fast Open, MPTCP, TCP-AO/MD5. (A full accept queue is modelled: `wire.rs`.)
//! - Delayed ACKs: the harness pins every route to `quickack` so that a FIN is acknowledged at
//!   once and the table after each call is determined.
//! - `tcp_migrate_req`, SO_BINDTODEVICE, VRFs, IP_FREEBIND/IP_TRANSPARENT, multicast,
//!   IP_LOCAL_PORT_RANGE.
//! - Memory pressure and `tcp_max_orphans` (both global to the host).

mod bind;
mod close;
mod connect;
mod io;
mod os;
mod silent_peer;
pub(crate) mod sock;
mod tb2;
mod timers;
mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::addr::{Family, Port, SockAddr, Var, is_loopback, wire_ip};
use crate::env::Env;
use crate::errno::Errno;
use crate::mutant::Mutant;
use crate::op::{CallOption, Host, Op, SockId, SockOpt};
use crate::outcome::Outcome;
use crate::profile::Profile;
use crate::rule::RuleId;
use crate::snapshot::{Row, RowInfo, Snapshot, Timer, TimerKind};
use crate::state::TcpState;
use crate::sysctl::Sysctls;
use crate::time::Millis;

use sock::{Bucket, Fd, Kind, Sk, SkId, SockState};
use tb2::Tb2Key;
pub use timers::CallClock;

pub(crate) use crate::ports::PortSet;

/// The hosts of a scenario and the addresses each owns besides loopback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    /// Each host and its extra addresses (on `lo` or its veth).
    pub hosts: Vec<(Host, Vec<IpAddr>)>,
}

impl Topology {
    /// One host with only loopback addresses.
    pub fn loopback() -> Self {
        Self {
            hosts: vec![(Host::A, Vec::new())],
        }
    }

    /// Two hosts joined by a veth pair: a is 10.0.0.1 / fd00::1, b is 10.0.0.2 / fd00::2.
    pub fn two_hosts() -> Self {
        Self {
            hosts: vec![
                (
                    Host::A,
                    vec![
                        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                        "fd00::1".parse().expect("literal"),
                    ],
                ),
                (
                    Host::B,
                    vec![
                        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                        "fd00::2".parse().expect("literal"),
                    ],
                ),
            ],
        }
    }

    /// Adds an address to a host (creating the host if needed).
    pub fn add_address(&mut self, host: Host, ip: IpAddr) {
        match self.hosts.iter_mut().find(|(h, _)| *h == host) {
            Some((_, ips)) => ips.push(ip),
            None => self.hosts.push((host, vec![ip])),
        }
    }

    /// Whether `ip` is a veth address of the two-host topology (the others are on `lo`).
    pub fn is_veth_address(&self, ip: IpAddr) -> bool {
        Self::two_hosts()
            .hosts
            .iter()
            .any(|(_, ips)| ips.contains(&ip))
            && self.hosts.iter().any(|(_, ips)| ips.contains(&ip))
    }

    fn has_host(&self, host: Host) -> bool {
        self.hosts.iter().any(|(h, _)| *h == host)
    }

    /// Whether `host` owns `ip` (loopback addresses are everyone's own).
    pub fn is_local(&self, host: Host, ip: IpAddr) -> bool {
        let ip = wire_ip(ip);
        match ip {
            IpAddr::V4(a) if a.is_loopback() => return true,
            IpAddr::V6(a) if a.is_loopback() => return true,
            _ => {}
        }
        self.hosts
            .iter()
            .any(|(h, ips)| *h == host && ips.iter().any(|x| wire_ip(*x) == ip))
    }

    /// Where a packet from `from` to `ip` goes: the sender itself for its own and loopback
    /// addresses, else the host that owns `ip`.
    pub fn route(&self, from: Host, ip: IpAddr) -> Option<Host> {
        if self.is_local(from, ip) {
            return Some(from);
        }
        self.hosts
            .iter()
            .map(|(h, _)| *h)
            .find(|h| self.is_local(*h, ip))
    }
}

/// The kernel's own choices on one call, fed back to the model (lock-step runs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hint {
    /// The socket's local address after the call (for `accept`, the new socket's).
    pub local: Option<SocketAddr>,
    /// The socket's peer address after the call.
    pub peer: Option<SocketAddr>,
    /// When the call ran and the table was read (lock-step runs): timers are then judged
    /// against real time, with their slack.
    pub clock: Option<CallClock>,
}

/// One way the kernel may answer a call.
#[derive(Clone, Debug)]
pub struct Branch {
    /// The model after the call, had the kernel answered this way.
    pub model: Model,
    /// What the call returns.
    pub outcome: Outcome,
    /// The rule that decided the outcome.
    pub rule: RuleId,
    /// Every rule applied during the call, including what arriving segments did.
    pub rules: Vec<RuleId>,
    /// Port variables the call binds.
    pub bindings: Vec<(Var, u16)>,
    /// The set a kernel-chosen port must come from, when the call chose one.
    pub port_choice: Option<PortSet>,
    /// Set when the kernel's choice (from the [`Hint`]) is outside what this branch allows.
    pub violation: Option<String>,
}

/// A model of one scenario's namespaces: the specification the kernel is checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    profile: Profile,
    topology: Topology,
    sysctls: BTreeMap<Host, Sysctls>,
    now: Millis,
    fds: BTreeMap<SockId, Fd>,
    sks: BTreeMap<SkId, Sk>,
    next_sk: u32,
    buckets: BTreeMap<(Host, u16), Bucket>,
    /// Linux 6.1 only: the family of each port's bind2 bucket for the IPv4 wildcard address
    /// (see [`Profile::mapped_bind_misses_ipv6_wildcard_bucket`]).
    wild4_tb2: BTreeMap<(Host, u16), Family>,
    /// The port-and-address groups (`inet_bind2_bucket`s) whose own caches say "made by
    /// connect()" (`tb2->fastreuse == -1 && tb2->fastreuseport == -1`), by
    /// [`Model::tb2_key`]; the other groups with owners say otherwise. Only 6.18's release
    /// rule reads them (see [`Model::release_bucket`]).
    connect_made_tb2: BTreeSet<Tb2Key>,
    /// Where incoming segments are dropped (`peer_vanishes`), as wire addresses.
    vanished: BTreeSet<silent_peer::Drop>,
    /// `table_perturb[]`: the port the last connect() autobind toward each destination took.
    /// The table is the host's, not a namespace's, like the kernel's.
    last_autobind: BTreeMap<AutobindDestination, u16>,
    /// Each name's last connection (host, local, peer), kept after close.
    last_tuple: BTreeMap<SockId, (Host, SocketAddr, SocketAddr)>,
    /// Segments sent and not yet delivered (always empty between calls).
    in_flight: Vec<wire::Segment>,
    /// How uncertain `now` is during the current call (its real duration in lock-step; 0 when
    /// the model runs alone): timers armed now get this much more slack.
    span: Millis,
    /// The fault switched on for the mutation self-test (`None`: the model as specified).
    mutant: Option<Mutant>,
}

/// The choices made while computing one branch, and how to enumerate the others.
#[derive(Debug, Default)]
struct Chooser {
    forced: Vec<usize>,
    made: Vec<(usize, usize)>,
}

impl Chooser {
    /// One of `arity` alternatives (0 is the canonical one).
    fn choose(&mut self, arity: usize) -> usize {
        let i = self.made.len();
        let c = self
            .forced
            .get(i)
            .copied()
            .unwrap_or(0)
            .min(arity.saturating_sub(1));
        self.made.push((c, arity));
        c
    }

    /// The forced prefix for the next branch, if any is left.
    fn next(&self) -> Option<Vec<usize>> {
        let j = self.made.iter().rposition(|(c, a)| c + 1 < *a)?;
        let mut forced: Vec<usize> = self.made[..j].iter().map(|(c, _)| *c).collect();
        forced.push(self.made[j].0 + 1);
        Some(forced)
    }
}

/// The state of one call being computed.
struct Cx<'a> {
    hint: &'a Hint,
    chooser: Chooser,
    rules: Vec<RuleId>,
    port_choice: Option<PortSet>,
    violation: Option<String>,
}

impl Cx<'_> {
    fn rule(&mut self, r: RuleId) {
        self.rules.push(r);
    }

    /// A kernel-chosen port: the hinted one (the kernel's choice), flagged as a violation when
    /// the model does not allow it, so that a run that goes on follows the kernel; with no
    /// hint, the lowest allowed one.
    fn pick_port(&mut self, allowed: &PortSet, hinted: Option<u16>) -> u16 {
        self.port_choice = Some(allowed.clone());
        match hinted {
            Some(p) if allowed.contains(p) => p,
            Some(p) => {
                self.violation = Some(format!(
                    "the kernel chose port {p}; the model allows {allowed}"
                ));
                p
            }
            None => allowed
                .first()
                .expect("pick_port is only called with a non-empty set"),
        }
    }

    /// [`Cx::pick_port`] for a search that starts past `last` (the kernel's perturbed walk):
    /// with no hint, the first allowed port after `last`, wrapping round to the lowest.
    fn pick_port_after(
        &mut self,
        allowed: &PortSet,
        hinted: Option<u16>,
        last: Option<u16>,
    ) -> u16 {
        match (hinted, last.and_then(|l| allowed.first_after(l))) {
            (None, Some(p)) => {
                self.port_choice = Some(allowed.clone());
                p
            }
            _ => self.pick_port(allowed, hinted),
        }
    }
}

/// A socket that holds a local port ([`Model::port_holders`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortHolder {
    /// Its host.
    pub host: Host,
    /// Its local address and port.
    pub local: SocketAddr,
    /// Its peer, once it has one.
    pub peer: Option<SocketAddr>,
    /// Its state (a minisocket's substate).
    pub state: TcpState,
    /// No descriptor holds it any more (an orphan or a TIME-WAIT / FIN-WAIT-2 minisocket).
    pub lingering: bool,
    /// `SO_REUSEADDR` (a minisocket keeps its socket's).
    pub reuseaddr: bool,
    /// `SO_REUSEPORT` (a minisocket keeps its socket's).
    pub reuseport: bool,
    /// The owner uid.
    pub uid: u32,
}

/// A connection's source address, destination address and destination port (wire
/// addresses): what the kernel's connect() port search is perturbed by.
type AutobindDestination = (IpAddr, IpAddr, u16);

/// The result of an op's own logic: outcome and deciding rule.
type Res = (Outcome, RuleId);

/// Most branches an op may have before the rest are dropped (they are alike in practice).
const MAX_BRANCHES: usize = 64;

impl Model {
    /// A model of fresh namespaces: `sysctls` gives each host's values (hosts without an entry
    /// get the profile's defaults).
    pub fn new(profile: Profile, topology: Topology, sysctls: BTreeMap<Host, Sysctls>) -> Self {
        let mut all = BTreeMap::new();
        for (h, _) in &topology.hosts {
            all.insert(
                *h,
                sysctls
                    .get(h)
                    .cloned()
                    .unwrap_or_else(|| profile.default_sysctls()),
            );
        }
        Self {
            profile,
            topology,
            sysctls: all,
            now: 0,
            fds: BTreeMap::new(),
            sks: BTreeMap::new(),
            next_sk: 0,
            buckets: BTreeMap::new(),
            wild4_tb2: BTreeMap::new(),
            connect_made_tb2: BTreeSet::new(),
            vanished: BTreeSet::new(),
            last_autobind: BTreeMap::new(),
            last_tuple: BTreeMap::new(),
            in_flight: Vec::new(),
            span: 0,
            mutant: None,
        }
    }

    /// The same model with `mutant` switched on (or, with `None`, off): the mutation
    /// self-test's faulty specification.
    pub fn with_mutant(mut self, mutant: Option<Mutant>) -> Self {
        self.mutant = mutant;
        self
    }

    /// The fault switched on, if any.
    pub fn mutant(&self) -> Option<Mutant> {
        self.mutant
    }

    /// Whether `m` is switched on (every mutant hook asks this, and only this).
    fn mutated(&self, m: Mutant) -> bool {
        self.mutant == Some(m)
    }

    /// The kernel profile.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// A host's current sysctls.
    pub fn sysctls(&self, host: Host) -> &Sysctls {
        &self.sysctls[&host]
    }

    /// The model's clock (milliseconds since the scenario began).
    pub fn now(&self) -> Millis {
        self.now
    }

    /// Whether `sock` names an open descriptor.
    pub fn is_open(&self, sock: SockId) -> bool {
        matches!(self.fds.get(&sock), Some(Fd::Open { .. }))
    }

    /// The TCP state of the socket behind an open descriptor.
    pub fn state_of(&self, sock: SockId) -> Option<TcpState> {
        match self.fds.get(&sock)? {
            Fd::Open { sk, .. } => Some(self.sks[sk].state),
            Fd::Closed => None,
        }
    }

    /// The family of the socket behind an open descriptor.
    pub fn family_of(&self, sock: SockId) -> Option<Family> {
        match self.fds.get(&sock)? {
            Fd::Open { sk, .. } => Some(self.sks[sk].family),
            Fd::Closed => None,
        }
    }

    /// The host of the socket behind an open descriptor.
    pub fn host_of(&self, sock: SockId) -> Option<Host> {
        match self.fds.get(&sock)? {
            Fd::Open { sk, .. } => Some(self.sks[sk].host),
            Fd::Closed => None,
        }
    }

    /// The local port of the socket behind an open descriptor (0 if none).
    pub fn port_of(&self, sock: SockId) -> Option<u16> {
        match self.fds.get(&sock)? {
            Fd::Open { sk, .. } => Some(self.sks[sk].port),
            Fd::Closed => None,
        }
    }

    /// The local addresses of every listening socket.
    pub fn listeners(&self) -> Vec<(Host, SocketAddr)> {
        self.sks
            .values()
            .filter(|s| s.state == TcpState::Listen)
            .map(|s| (s.host, s.local()))
            .collect()
    }

    /// How many connections wait in the accept queue of the listener behind `sock`.
    pub fn queue_len(&self, sock: SockId) -> usize {
        match self.fds.get(&sock) {
            Some(Fd::Open { sk, .. }) => self.sks[sk].accept_queue.len(),
            _ => 0,
        }
    }

    /// Every scenario name that was ever created.
    pub fn names(&self) -> impl Iterator<Item = SockId> + '_ {
        self.fds.keys().copied()
    }

    /// Every socket that holds a local port (on its bind bucket's owner list): listeners,
    /// connections, orphans and minisockets, with what a later `bind()` onto the same port
    /// meets. For generators that steer toward conflicts.
    pub fn port_holders(&self) -> Vec<PortHolder> {
        self.sks
            .values()
            .filter(|s| s.bound && s.port != 0)
            .map(|s| PortHolder {
                host: s.host,
                local: SocketAddr::new(s.local_ip, s.port),
                peer: s.peer,
                state: s.state,
                lingering: s.orphan || s.is_minisock(),
                reuseaddr: s.opts.reuseaddr,
                reuseport: s.opts.reuseport,
                uid: s.uid,
            })
            .collect()
    }

    /// Whether a TIME-WAIT or other orphan row still carries this name's cookie.
    pub fn has_remnant(&self, sock: SockId) -> bool {
        self.sks
            .values()
            .any(|s| s.owner == Some(sock) && (s.orphan || s.is_minisock()))
    }

    /// Every outcome the kernel may give for `op`, each with the model after it.
    ///
    /// Variables in the op are resolved through `env`; the kernel's choices come from `hint`.
    pub fn branches(&self, op: &Op, env: &Env, hint: &Hint) -> Vec<Branch> {
        let mut out = Vec::new();
        let mut forced = Vec::new();
        loop {
            let mut model = self.clone();
            let mut cx = Cx {
                hint,
                chooser: Chooser {
                    forced,
                    made: Vec::new(),
                },
                rules: Vec::new(),
                port_choice: None,
                violation: None,
            };
            let (outcome, rule) = model.apply(op, env, &mut cx);
            model.sync_wild4_tb2();
            let bindings = model.bindings(op, env, outcome);
            let mut rules = vec![rule];
            rules.extend(cx.rules.iter().copied().filter(|r| *r != rule));
            out.push(Branch {
                model,
                outcome,
                rule,
                rules,
                bindings,
                port_choice: cx.port_choice.clone(),
                violation: cx.violation.clone(),
            });
            match cx.chooser.next() {
                Some(next) if out.len() < MAX_BRANCHES => forced = next,
                _ => break,
            }
        }
        out
    }

    /// The model's own answer: the first branch (canonical choices, or the hinted ones).
    pub fn step(&self, op: &Op, env: &Env) -> Branch {
        self.branches(op, env, &Hint::default()).swap_remove(0)
    }

    fn bindings(&self, op: &Op, env: &Env, outcome: Outcome) -> Vec<(Var, u16)> {
        let op = op.call();
        let port_of = |sock: &SockId| match self.fds.get(sock) {
            Some(Fd::Open { sk, .. }) => Some(self.sks[sk].port).filter(|p| *p != 0),
            _ => None,
        };
        match op {
            Op::Bind {
                sock,
                addr: SockAddr {
                    port: Port::Var(v), ..
                },
            } if env.get(v).is_none() && outcome == Outcome::Ok => port_of(sock)
                .map(|p| vec![(v.clone(), p)])
                .unwrap_or_default(),
            Op::Connect {
                sock,
                local: Some(v),
                ..
            } => port_of(sock)
                .map(|p| vec![(v.clone(), p)])
                .unwrap_or_default(),
            Op::Accept {
                sock,
                peer: Some(v),
                ..
            }
            | Op::AcceptAny {
                sock,
                peer: Some(v),
                ..
            } if outcome == Outcome::Ok => match self.fds.get(sock) {
                Some(Fd::Open { sk, .. }) => self.sks[sk]
                    .peer
                    .map(|p| vec![(v.clone(), p.port())])
                    .unwrap_or_default(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// Runs one op, then delivers whatever it sent. In lock-step, timers that fell due before
    /// the call fire first, and those due before the table was read fire after it.
    fn apply(&mut self, op: &Op, env: &Env, cx: &mut Cx<'_>) -> Res {
        let clock = cx.hint.clock;
        if let Some(c) = clock {
            self.advance(c.start, false, cx);
            self.span = c.end.saturating_sub(c.start);
        }
        let res = self.apply_op(op, env, cx);
        self.deliver_all(cx);
        self.remember_tuples(&op.socks());
        self.refresh_silent_peer_timers();
        if let Some(c) = clock {
            self.span = 0;
            let r = self.advance(c.observed.max(c.end), false, cx);
            if matches!(op, Op::Sleep { .. }) {
                return (res.0, r);
            }
        }
        res
    }

    fn apply_op(&mut self, op: &Op, env: &Env, cx: &mut Cx<'_>) -> Res {
        if let Some(refused) = self.other_os_refuses(op) {
            return refused;
        }
        match op {
            Op::Socket {
                sock,
                family,
                nonblocking,
                euid,
                host,
            } => self.op_socket(*sock, *family, *nonblocking, euid.unwrap_or(0), *host),
            Op::Setsockopt { sock, opt } => {
                self.with_fd(*sock, |m, sk, _| m.op_setsockopt(sk, *opt))
            }
            Op::GetsockoptSoError { sock } => self.with_fd(*sock, |m, sk, _| {
                let err = m.sks.get_mut(&sk).expect("open fd has a socket").err.take();
                (Outcome::SoError(err), RuleId::SoErrorRead)
            }),
            Op::Bind { sock, addr } => {
                let ip = addr.ip;
                let port = env.resolve_or_zero(&addr.port);
                self.with_fd(*sock, |m, sk, _| m.op_bind(sk, ip, port, cx))
            }
            Op::Listen { sock, backlog } => {
                self.with_fd(*sock, |m, sk, fd| m.op_listen(sk, fd, *backlog, cx))
            }
            Op::Connect { sock, addr, .. } => {
                let dst = env.resolve(&addr.port).map(|p| SocketAddr::new(addr.ip, p));
                self.with_fd(*sock, |m, _, fd| m.op_connect(fd, addr.ip, dst, cx))
            }
            Op::Accept { listener, sock, .. } => {
                self.with_fd(*listener, |m, sk, fd| m.op_accept(sk, fd, *sock, cx))
            }
            Op::AcceptAny {
                listeners, sock, ..
            } => self.op_accept_any(listeners, *sock, cx),
            Op::Send { sock, len } => self.with_fd(*sock, |m, sk, fd| m.op_send(sk, fd, *len, cx)),
            Op::Recv { sock, len } => self.with_fd(*sock, |m, sk, fd| m.op_recv(sk, fd, *len, cx)),
            Op::Shutdown { sock, how } => {
                self.with_fd(*sock, |m, sk, fd| m.op_shutdown(sk, fd, *how, cx))
            }
            Op::Close { sock } => self.op_close(*sock, cx),
            Op::Sleep { ms } => self.op_sleep(*ms, cx),
            Op::Sysctl { host, setting } => match self.sysctls.get_mut(host) {
                Some(s) if s.check_write(setting).is_err() => {
                    (Outcome::Err(Errno::EINVAL), RuleId::SysctlRefused)
                }
                Some(s) => {
                    s.set(setting);
                    (Outcome::Ok, RuleId::SysctlSet)
                }
                None => (Outcome::Err(Errno::EINVAL), RuleId::SysctlRefused),
            },
            Op::PeerVanishes { sock } => self.op_peer_vanishes(*sock),
            Op::PeerReboots { sock } => self.op_peer_reboots(*sock),
            Op::Destroy { sock } => self.op_destroy(*sock, cx),
            Op::PerCall { call, option } => match *option {
                CallOption::NonBlocking => self.op_nonblocking(call, env, cx),
                CallOption::Within { ms } => self.op_within(call, ms, env, cx),
            },
        }
    }

    /// `call` as if its socket were non-blocking: the descriptor's flag is set for the call
    /// and given back after it (an accepted socket is blocking either way).
    fn op_nonblocking(&mut self, call: &Op, env: &Env, cx: &mut Cx<'_>) -> Res {
        let sock = call.sock();
        let own = sock.and_then(|s| match self.fds.get_mut(&s) {
            Some(Fd::Open { nonblocking, .. }) => Some(std::mem::replace(nonblocking, true)),
            _ => None,
        });
        let res = self.apply_op(call, env, cx);
        if let (Some(s), Some(own)) = (sock, own)
            && let Some(Fd::Open { nonblocking, .. }) = self.fds.get_mut(&s)
        {
            *nonblocking = own;
        }
        res
    }

    /// Runs `f` on the socket behind an open descriptor, or answers EBADF.
    fn with_fd(&mut self, sock: SockId, f: impl FnOnce(&mut Self, SkId, SockId) -> Res) -> Res {
        match self.fds.get(&sock) {
            Some(Fd::Open { sk, .. }) => {
                let sk = *sk;
                f(self, sk, sock)
            }
            Some(Fd::Closed) | None => (Outcome::Err(Errno::EBADF), RuleId::FdClosed),
        }
    }

    fn sk(&self, id: SkId) -> &Sk {
        &self.sks[&id]
    }

    fn sk_mut(&mut self, id: SkId) -> &mut Sk {
        self.sks
            .get_mut(&id)
            .expect("the socket exists while referenced")
    }

    fn fd_state(&self, sock: SockId) -> (SockState, bool) {
        match self.fds[&sock] {
            Fd::Open {
                ss, nonblocking, ..
            } => (ss, nonblocking),
            Fd::Closed => unreachable!("with_fd only passes open descriptors"),
        }
    }

    fn set_ss(&mut self, sock: SockId, new: SockState) {
        if let Some(Fd::Open { ss, .. }) = self.fds.get_mut(&sock) {
            *ss = new;
        }
    }

    fn new_sk(&mut self, sk: Sk) -> SkId {
        let id = SkId(self.next_sk);
        self.next_sk += 1;
        self.sks.insert(id, sk);
        id
    }

    fn sysctl(&self, host: Host) -> &Sysctls {
        &self.sysctls[&host]
    }

    // --- socket / setsockopt --------------------------------------------------------------

    fn op_socket(
        &mut self,
        sock: SockId,
        family: Family,
        nonblocking: bool,
        uid: u32,
        host: Host,
    ) -> Res {
        if !self.topology.has_host(host) {
            // The harness refuses such a scenario; the model answers like a missing namespace.
            return (Outcome::Err(Errno::EINVAL), RuleId::SocketCreated);
        }
        // A name given again leaves the old descriptor open and nameless, as overwriting a
        // variable does in C.
        let v6only = self.sysctl(host).bindv6only;
        let sk = self.new_sk(Sk::new(host, family, sock, uid, v6only));
        self.fds.insert(
            sock,
            Fd::Open {
                sk,
                ss: SockState::Unconnected,
                nonblocking,
            },
        );
        (Outcome::Ok, RuleId::SocketCreated)
    }

    fn op_setsockopt(&mut self, id: SkId, opt: SockOpt) -> Res {
        let now = self.now;
        if let Some(refused) = self.other_os_setsockopt(opt) {
            return refused;
        }
        let sk = self.sk_mut(id);
        let exclusive = (
            Outcome::Err(Errno::EINVAL),
            RuleId::SetsockoptExclusiveWithReuseAddr,
        );
        let einval = (Outcome::Err(Errno::EINVAL), RuleId::SetsockoptBadValue);
        match opt {
            // Windows: SO_REUSEADDR and SO_EXCLUSIVEADDRUSE exclude each other.
            SockOpt::ReuseAddr(true) if sk.opts.exclusiveaddruse => return exclusive,
            SockOpt::ReuseAddr(v) => sk.opts.reuseaddr = v,
            SockOpt::ExclusiveAddrUse(true) if sk.opts.reuseaddr => return exclusive,
            SockOpt::ExclusiveAddrUse(v) => sk.opts.exclusiveaddruse = v,
            SockOpt::ReusePortLb(v) => sk.opts.reuseport_lb = v,
            SockOpt::ReusePort(v) => sk.opts.reuseport = v,
            SockOpt::Linger(v) => sk.opts.linger = v,
            SockOpt::KeepAlive(v) => {
                // tcp_set_keepalive(): turning it on arms the timer (not in CLOSE or LISTEN).
                let arm = v
                    && !sk.opts.keepalive
                    && !matches!(sk.state, TcpState::Closed | TcpState::Listen);
                sk.opts.keepalive = v;
                if arm {
                    self.note_keepalive_armed(id, false);
                }
            }
            SockOpt::V6Only(v) => {
                // do_ipv6_setsockopt(): IPV6_V6ONLY is refused once the socket has a port; an
                // AF_INET socket does not know the IPPROTO_IPV6 level at all.
                if sk.family == Family::Inet {
                    return (
                        Outcome::Err(Errno::ENOPROTOOPT),
                        RuleId::SetsockoptWrongLevel,
                    );
                }
                if sk.port != 0 {
                    return (Outcome::Err(Errno::EINVAL), RuleId::SetsockoptV6OnlyBound);
                }
                sk.opts.v6only = v;
            }
            SockOpt::BindAddressNoPort(v) => sk.opts.bind_address_no_port = v,
            SockOpt::KeepIdle(v) => {
                if !(1..=32767).contains(&v) {
                    return einval;
                }
                // tcp_sock_set_keepidle_locked() re-arms a running keepalive timer.
                let rearm =
                    sk.opts.keepalive && !matches!(sk.state, TcpState::Closed | TcpState::Listen);
                sk.opts.keepidle = v;
                if rearm {
                    self.note_keepalive_armed(id, true);
                }
            }
            SockOpt::KeepIntvl(v) => {
                if !(1..=32767).contains(&v) {
                    return einval;
                }
                sk.opts.keepintvl = v;
            }
            SockOpt::KeepCnt(v) => {
                if !(1..=127).contains(&v) {
                    return einval;
                }
                sk.opts.keepcnt = v;
            }
            SockOpt::UserTimeout(v) => {
                if v > i32::MAX as u32 {
                    return einval;
                }
                sk.opts.user_timeout = v;
                sk.user_timeout_set_at = now;
            }
            SockOpt::Linger2(v) => {
                // do_tcp_setsockopt(): negative means "abort", large values clamp to
                // TCP_FIN_TIMEOUT_MAX (120 s).
                sk.opts.linger2 = if v < 0 {
                    -1
                } else {
                    v.min(crate::time::FIN_TIMEOUT_MAX_S)
                };
            }
        }
        (Outcome::Ok, RuleId::SetsockoptOk)
    }

    // --- the socket table -----------------------------------------------------------------

    /// The socket table after the last call, once loopback traffic was delivered.
    pub fn snapshot(&self) -> Snapshot {
        let open: BTreeSet<SkId> = self
            .fds
            .values()
            .filter_map(|f| match f {
                Fd::Open { sk, .. } => Some(*sk),
                Fd::Closed => None,
            })
            .collect();
        let mut rows = Vec::new();
        for (id, s) in &self.sks {
            let row = match (s.kind, s.state) {
                (Kind::Full, TcpState::Closed) => {
                    // Bound, unconnected sockets are dumped (TCP_BOUND_INACTIVE) since 6.8.
                    if !(s.bound && s.port != 0 && self.profile.diag_dumps_bound_sockets()) {
                        continue;
                    }
                    // A reset connection keeps its peer address until disconnected (a peer
                    // port of 0 shows as none).
                    Row {
                        host: s.host,
                        state: TcpState::Closed,
                        local: s.local(),
                        peer: s.peer.filter(|p| p.port() != 0),
                        queue: s.rx + u32::from(s.rx_fin),
                    }
                }
                (Kind::Full, TcpState::Listen) => Row {
                    host: s.host,
                    state: TcpState::Listen,
                    local: s.local(),
                    peer: None,
                    queue: s.accept_queue.len() as u32,
                },
                (Kind::Full, st) => Row {
                    host: s.host,
                    state: st,
                    local: s.local(),
                    // A SYN-SENT to port 0 too (sock_diag's dport 0 is shown as no peer).
                    peer: s.peer.filter(|p| p.port() != 0),
                    queue: s.rx + u32::from(s.rx_fin),
                },
                (Kind::Minisock, st) => Row {
                    host: s.host,
                    state: st,
                    local: s.local(),
                    peer: s.peer,
                    queue: 0,
                },
            };
            let timer = s.timer.map(|d| Timer {
                kind: match d.event {
                    timers::Event::MinisockExpires => TimerKind::TimeWait,
                    timers::Event::OrphanFinWait2
                    | timers::Event::KeepaliveDeath
                    | timers::Event::KeepaliveProbe => TimerKind::Keepalive,
                    timers::Event::UserTimeout
                    | timers::Event::SynRetransmit
                    | timers::Event::LossProbe => TimerKind::Retransmit,
                },
                remaining_ms: d.at.saturating_sub(self.now),
            });
            let owner = if s.listener.is_some() { None } else { s.owner };
            let info = RowInfo {
                owner,
                orphan: !open.contains(id),
                timer,
            };
            rows.push((row, info));
        }
        Snapshot::new(rows)
    }
}

/// Whether a local address class makes an AF_INET6 socket travel over IPv4.
fn is_mapped(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(a) if a.to_ipv4_mapped().is_some())
}

/// The address an AF_INET6 socket shows for an IPv4 wire address (v4-mapped).
fn in_family(family: Family, ip: IpAddr) -> IpAddr {
    match (family, ip) {
        (Family::Inet6, IpAddr::V4(a)) => IpAddr::V6(a.to_ipv6_mapped()),
        _ => ip,
    }
}

/// The loopback address of a family, as a socket of `family` bound to `like` would see it.
fn loopback_for(family: Family, like: IpAddr) -> IpAddr {
    match family {
        Family::Inet => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Family::Inet6 if is_mapped(like) => IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
        Family::Inet6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

#[allow(dead_code)] // used by tests and the two-host rules
fn loopback(ip: IpAddr) -> bool {
    is_loopback(ip)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod profile_tests;
