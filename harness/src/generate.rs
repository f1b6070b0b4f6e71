//! Random scenarios, generated from the model's state so that conflicts are frequent: a small
//! pool of addresses and ports, at most a handful of sockets, and calls that make sense for the
//! sockets as they are (a listener gets `accept`s, a connected socket `send`s).
//!
//! Generation runs on the model alone ([`proptest_state_machine::ReferenceStateMachine`]):
//! kernel-chosen ports are variables (`$E0`, `$C1`), so a generated sequence means the same
//! thing whatever ports the kernel picks when it runs.

use std::net::IpAddr;

use proptest::prelude::*;
use proptest::sample::SizeRange;
use proptest_state_machine::strategy::Sequential;
use tcpconform_model::{
    DEFAULT_BACKLOG, Env, Family, Host, How, Model, Op, Outcome, Port, PortHolder, SockAddr,
    SockId, SockOpt, TcpState, Var,
};

use std::collections::BTreeSet;

use crate::config::{CaseConfig, ConfigSpace};

/// Most sockets a generated case creates.
pub const MAX_SOCKETS: u16 = 6;

/// The pause (ms) offered once a TIME-WAIT lingers under a `tcp_tw_reuse_delay` shorter than
/// it ([`transitions`]): older than the delay plus the model's margin of the clock's edge.
pub const TW_REUSE_PAUSE_MS: u64 = 5;

/// The literal ports generated cases use (kernel-chosen ones come as variables).
pub const PORTS: [u16; 2] = [5000, 5001];

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|a| a.parse().expect("literal")).collect()
}

/// Addresses a socket of `family` on `host` binds: loopback, wildcards, v4-mapped, and on two
/// hosts the host's own veth address.
fn bind_addrs(family: Family, host: Host, two_hosts: bool) -> Vec<IpAddr> {
    let mut v = match family {
        Family::Inet => ips(&["127.0.0.1", "127.0.0.2", "0.0.0.0"]),
        Family::Inet6 => ips(&["::1", "::", "::ffff:127.0.0.1", "::ffff:0.0.0.0"]),
    };
    if two_hosts {
        v.extend(match (family, host) {
            (Family::Inet, Host::A) => ips(&["10.0.0.1"]),
            (Family::Inet, Host::B) => ips(&["10.0.0.2"]),
            (Family::Inet6, Host::A) => ips(&["fd00::1", "::ffff:10.0.0.1"]),
            (Family::Inet6, Host::B) => ips(&["fd00::2", "::ffff:10.0.0.2"]),
        });
    }
    v
}

/// Destinations a socket of `family` on `host` connects to: loopback, and on two hosts both
/// veth addresses (the other host's, and its own, which also stays on loopback).
fn dest_addrs(family: Family, host: Host, two_hosts: bool) -> Vec<IpAddr> {
    let mut v = match family {
        Family::Inet => ips(&["127.0.0.1", "127.0.0.2"]),
        Family::Inet6 => ips(&["::1", "::ffff:127.0.0.1"]),
    };
    if two_hosts {
        let (other, own) = match host {
            Host::A => ("2", "1"),
            Host::B => ("1", "2"),
        };
        v.extend(match family {
            Family::Inet => ips(&[
                &format!("10.0.0.{other}"),
                &format!("10.0.0.{other}"),
                &format!("10.0.0.{own}"),
            ]),
            Family::Inet6 => ips(&[&format!("fd00::{other}"), &format!("::ffff:10.0.0.{other}")]),
        });
    }
    v
}

/// The generator's state: the model run with its own (canonical) choices.
#[derive(Clone, Debug)]
pub struct GenState {
    /// The configuration of this case (sysctls, profile).
    pub config: CaseConfig,
    /// The model after the ops so far.
    pub model: Model,
    /// Variables bound so far (with the model's canonical ports).
    pub env: Env,
    /// Names created so far.
    pub created: BTreeSet<SockId>,
    /// The next name to give.
    pub names: u16,
    /// Variables created so far.
    pub vars: u16,
    /// What kinds of ops to offer besides socket calls.
    pub options: GenOptions,
    /// Ops still to come from the case's opening ([`Opening`]); dropped as soon as another
    /// op runs instead.
    pub plan: Vec<Op>,
}

/// A case's opening, drawn with its configuration: in one case in six, the life of one
/// connection (a listener, a client, the accept, both closes in either order, on one host or
/// across the veth link, with or without SO_REUSEADDR on either side) before the random walk
/// goes on from the TIME-WAIT it leaves. The walk alone reaches a TIME-WAIT and then the call
/// that meets it rarely enough that a fault there (a rebind, a reconnect) can survive two
/// thousand cases.
#[derive(Clone, Copy, Debug)]
pub struct Opening {
    /// Whether the case opens this way.
    pub used: bool,
    /// The listener lives on host b (two-host cases).
    pub listener_on_b: bool,
    /// The client lives on host b (two-host cases).
    pub client_on_b: bool,
    /// SO_REUSEADDR on the listener (its accepted socket inherits it).
    pub listener_reuseaddr: bool,
    /// SO_REUSEADDR on the client.
    pub client_reuseaddr: bool,
    /// The listener binds the wildcard rather than its host's address.
    pub wildcard: bool,
    /// The client closes first (its TIME-WAIT), else the server's accepted socket does.
    pub client_closes_first: bool,
    /// A new client then connects to the same listener (after [`TW_REUSE_PAUSE_MS`] where
    /// `tcp_tw_reuse_delay` is shorter): a client's restart over its own TIME-WAIT.
    pub reconnect: bool,
}

impl Opening {
    fn strategy() -> BoxedStrategy<Self> {
        (
            proptest::bool::weighted(1.0 / 5.0),
            // Across the link more often than not: a TIME-WAIT of a veth connection is what
            // only a two-host case has.
            proptest::bool::weighted(0.75),
            proptest::bool::weighted(0.25),
            proptest::array::uniform3(any::<bool>()),
            proptest::bool::weighted(0.6),
            any::<bool>(),
        )
            .prop_map(
                |(used, listener_on_b, client_on_b, b, client_first, reconnect)| Self {
                    used,
                    listener_on_b,
                    client_on_b,
                    listener_reuseaddr: b[0],
                    client_reuseaddr: b[1],
                    wildcard: b[2],
                    client_closes_first: client_first,
                    reconnect,
                },
            )
            .boxed()
    }

    /// The opening's ops for a case of `config` (none when not used).
    fn ops(&self, config: &CaseConfig) -> Vec<Op> {
        if !self.used {
            return Vec::new();
        }
        let host = |on_b: bool| {
            if on_b && config.two_hosts {
                Host::B
            } else {
                Host::A
            }
        };
        let (hl, hc) = (host(self.listener_on_b), host(self.client_on_b));
        let ip = |a: &str| -> IpAddr { a.parse().expect("literal") };
        let own = match (hl == hc, hl) {
            (true, _) => ip("127.0.0.1"),
            (false, Host::A) => ip("10.0.0.1"),
            (false, Host::B) => ip("10.0.0.2"),
        };
        let (listener, client, server) = (SockId(0), SockId(1), SockId(2));
        let socket = |sock, host| Op::Socket {
            sock,
            family: Family::Inet,
            nonblocking: false,
            euid: None,
            host,
        };
        let reuse = |sock| Op::Setsockopt {
            sock,
            opt: SockOpt::ReuseAddr(true),
        };
        let mut ops = vec![socket(listener, hl)];
        if self.listener_reuseaddr {
            ops.push(reuse(listener));
        }
        ops.push(Op::Bind {
            sock: listener,
            addr: SockAddr {
                ip: if self.wildcard { ip("0.0.0.0") } else { own },
                port: Port::Lit(PORTS[0]),
            },
        });
        ops.push(Op::Listen {
            sock: listener,
            backlog: DEFAULT_BACKLOG,
        });
        // connect() to the listener, the local port captured in `var`.
        let connect = |sock, var: &str| Op::Connect {
            sock,
            addr: SockAddr {
                ip: own,
                port: Port::Lit(PORTS[0]),
            },
            local: Some(Var(var.into())),
        };
        ops.push(socket(client, hc));
        if self.client_reuseaddr {
            ops.push(reuse(client));
        }
        ops.push(connect(client, "C0"));
        ops.push(Op::Accept {
            listener,
            sock: server,
            peer: None,
        });
        let (first, second) = if self.client_closes_first {
            (client, server)
        } else {
            (server, client)
        };
        ops.push(Op::Close { sock: first });
        ops.push(Op::Close { sock: second });
        if self.reconnect {
            let delay = config.model().sysctls(hc).tcp_tw_reuse_delay_ms;
            if config.profile.has_tw_reuse_delay() && u64::from(delay) < TW_REUSE_PAUSE_MS {
                ops.push(Op::Sleep {
                    ms: TW_REUSE_PAUSE_MS,
                });
            }
            let again = SockId(3);
            ops.push(socket(again, hc));
            ops.push(connect(again, "C1"));
        }
        ops
    }
}

/// Ops the generator offers besides socket calls.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenOptions {
    /// `sleep` durations (ms) to offer; none by default (on a kernel a sleep is real time).
    pub sleeps: Vec<u64>,
    /// With `Some(ms)`, a `sleep` is offered only while the case's sleeps add up to at most
    /// `ms` (the wall time a case may cost).
    pub sleep_budget_ms: Option<u64>,
    /// Offer the timer options (SO_KEEPALIVE, TCP_KEEPIDLE/KEEPINTVL/KEEPCNT,
    /// TCP_USER_TIMEOUT, TCP_LINGER2 with short values) and the half-open fixture ops
    /// (`peer_vanishes`, `peer_reboots`).
    pub timers: bool,
    /// Keys that `sysctl()` ops must not change (those a diff compares).
    pub frozen: BTreeSet<tcpconform_model::SysctlKey>,
    /// The ops the target can run truthfully: the generator offers no other.
    pub runs: Runs,
}

/// Which ops a target can run truthfully.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Runs {
    /// Every op (the Linux kernel).
    #[default]
    Everything,
    /// What gVisor can: no fixture op (no `SOCK_DESTROY`, no packet filter), no `sysctl`
    /// (absent, read-only or global to the sandbox), no socket of another uid or on a second
    /// host, no `IP_BIND_ADDRESS_NO_PORT` (accepted and ignored).
    GvisorSubset,
}

impl Runs {
    /// Whether `op` is offered.
    pub fn can_run(self, op: &Op) -> bool {
        match self {
            Self::Everything => true,
            Self::GvisorSubset => match op {
                Op::Destroy { .. }
                | Op::PeerVanishes { .. }
                | Op::PeerReboots { .. }
                | Op::Sysctl { .. } => false,
                Op::Socket { euid, host, .. } => euid.is_none() && *host == Host::A,
                Op::Setsockopt { opt, .. } => !matches!(opt, SockOpt::BindAddressNoPort(_)),
                _ => true,
            },
        }
    }
}

impl GenState {
    /// A fresh state for a case.
    pub fn new(config: CaseConfig) -> Self {
        let model = config.model();
        Self {
            config,
            model,
            env: Env::new(),
            created: BTreeSet::new(),
            names: 0,
            vars: 0,
            options: GenOptions::default(),
            plan: Vec::new(),
        }
    }

    fn open(&self) -> Vec<SockId> {
        (0..self.names)
            .map(SockId)
            .filter(|s| self.model.is_open(*s))
            .collect()
    }

    fn bound_vars(&self) -> Vec<Var> {
        self.env.iter().map(|(n, _)| Var(n.to_owned())).collect()
    }

    fn would_block(&self, op: &Op) -> bool {
        crate::stopwatch::time("generate: would_block model steps", || {
            self.model.step(op, &self.env).outcome == Outcome::Blocks
        })
    }
}

/// Weighted candidates for the next op.
///
/// An arm added with [`Menu::add_unless_blocking`] holds ops of which those the model says would
/// block are not candidates. They are filtered lazily, when drawn ([`MenuStrategy`]): asking
/// the model costs a whole step (for an unbound socket's `connect()`, a walk over the ephemeral
/// range), and most of a menu is never drawn.
struct Menu {
    arms: Vec<Arm>,
}

#[derive(Clone, Debug)]
struct Arm {
    weight: u32,
    ops: Vec<Op>,
    /// Ops that would block are not candidates.
    unless_blocking: bool,
}

impl Menu {
    fn add(&mut self, weight: u32, ops: Vec<Op>) {
        self.push(weight, ops, false);
    }

    /// Adds an arm of `ops` without those that would block (checked when drawn).
    fn add_unless_blocking(&mut self, weight: u32, ops: Vec<Op>) {
        self.push(weight, ops, true);
    }

    fn push(&mut self, weight: u32, ops: Vec<Op>, unless_blocking: bool) {
        if !ops.is_empty() && weight > 0 {
            self.arms.push(Arm {
                weight,
                ops,
                unless_blocking,
            });
        }
    }

    fn into_strategy(mut self, state: &GenState) -> BoxedStrategy<Op> {
        let runs = state.options.runs;
        for arm in &mut self.arms {
            arm.ops.retain(|op| runs.can_run(op));
        }
        self.arms.retain(|a| !a.ops.is_empty());
        if self.arms.is_empty() {
            return Just(Op::Sleep { ms: 0 }).boxed();
        }
        MenuStrategy {
            arms: self.arms,
            state: std::sync::Arc::new(state.clone()),
        }
        .boxed()
    }
}

/// Draws one op from a [`Menu`]: an arm by weight, then an op of the arm uniformly; an op that
/// would block is struck out and the draw repeated (an arm left empty is struck out too). The
/// result has the distribution of filtering every arm first and then drawing, at the cost of
/// asking the model only about the ops actually drawn. Drawn ops do not shrink (proptest's
/// deletion shrinking and the campaign's own minimization remain).
#[derive(Debug)]
struct MenuStrategy {
    arms: Vec<Arm>,
    state: std::sync::Arc<GenState>,
}

impl Strategy for MenuStrategy {
    type Tree = Just<Op>;
    type Value = Op;

    fn new_tree(
        &self,
        runner: &mut proptest::test_runner::TestRunner,
    ) -> proptest::strategy::NewTree<Self> {
        // Copied only once a drawn op is struck out: most draws take the first.
        let mut arms = std::borrow::Cow::Borrowed(&self.arms[..]);
        loop {
            let total: u32 = arms.iter().map(|a| a.weight).sum();
            if total == 0 {
                return Ok(Just(Op::Sleep { ms: 0 }));
            }
            let mut x = runner.rng().random_range(0..total);
            let i = arms
                .iter()
                .position(|a| {
                    if x < a.weight {
                        true
                    } else {
                        x -= a.weight;
                        false
                    }
                })
                .expect("x < total");
            let arm = &arms[i];
            let j = runner.rng().random_range(0..arm.ops.len());
            if !arm.unless_blocking || !self.state.would_block(&arm.ops[j]) {
                return Ok(Just(arm.ops[j].clone()));
            }
            let arms = arms.to_mut();
            arms[i].ops.swap_remove(j);
            if arms[i].ops.is_empty() {
                arms.swap_remove(i);
            }
        }
    }
}

/// The strategy of whole cases: a configuration drawn from `space`, then 1 to `max_len` ops.
pub fn cases(
    space: ConfigSpace,
    max_len: usize,
) -> Sequential<GenState, Op, BoxedStrategy<GenState>, BoxedStrategy<Op>> {
    cases_with(space, max_len, GenOptions::default())
}

/// [`cases`] with extra kinds of ops.
pub fn cases_with(
    space: ConfigSpace,
    max_len: usize,
    options: GenOptions,
) -> Sequential<GenState, Op, BoxedStrategy<GenState>, BoxedStrategy<Op>> {
    Sequential::new(
        SizeRange::from(1..=max_len.max(1)),
        move || {
            let options = options.clone();
            (space.strategy(), Opening::strategy())
                .prop_map(move |(c, opening)| GenState {
                    options: options.clone(),
                    plan: opening.ops(&c),
                    ..GenState::new(c)
                })
                .boxed()
        },
        preconditions,
        transitions,
        apply,
    )
}

/// The next op's candidates, weighted, from the model's state.
///
/// The weights steer toward the classic lives of a server port: bind and listen, connect and
/// accept, a close on either side, and a restart that binds the same port again.
///
/// A draw indexes into the menu's arms in the order they were added, so the order of the calls
/// below (and of the arms within each) is part of what a seed generates.
pub fn transitions(state: &GenState) -> BoxedStrategy<Op> {
    // The case's opening first, while each of its ops makes sense and would not block.
    if let Some(op) = state.plan.first()
        && preconditions(state, op)
        && !state.would_block(op)
        && state.options.runs.can_run(op)
    {
        return Just(op.clone()).boxed();
    }
    let mut menu = Menu { arms: Vec::new() };
    let step = Step::new(state);
    let open = state.open();
    if state.names < MAX_SOCKETS {
        socket_candidates(&step, &mut menu, open.len());
    }
    for &sock in &open {
        candidates_on(&step, &mut menu, OpenSock::new(state, sock));
    }
    sysctl_candidates(state, &mut menu);
    sleep_candidates(state, &mut menu);
    reuse_pause_candidates(state, &mut menu, &step.holders);
    destroy_candidates(state, &mut menu);
    closed_fd_candidates(state, &mut menu);
    menu.into_strategy(state)
}

/// What the candidates of one step draw on, read from the state once.
struct Step<'a> {
    state: &'a GenState,
    /// Every socket that holds a local port (listeners, connections, orphans, TIME-WAITs).
    holders: Vec<PortHolder>,
    /// The variables that hold kernel-chosen ports.
    vars: Vec<Var>,
    /// The ports a `bind()` names: the first literal port, the "server port", above all.
    bind_ports: Vec<Port>,
    /// A variable with no value yet: a `bind()` to it lets the kernel choose the port.
    fresh: Var,
    /// The variable a `connect()` captures its local port in.
    local_var: Var,
    /// The listeners, each with its host.
    listeners: Vec<(Host, std::net::SocketAddr)>,
}

impl<'a> Step<'a> {
    /// Reads from `state` what its candidates draw on.
    fn new(state: &'a GenState) -> Self {
        let vars = state.bound_vars();
        // The first literal port is the "server port": most binds go there.
        let mut bind_ports: Vec<Port> = vec![Port::Lit(PORTS[0]); 4];
        bind_ports.push(Port::Lit(PORTS[1]));
        bind_ports.extend(vars.iter().cloned().map(Port::Var));
        Self {
            state,
            holders: state.model.port_holders(),
            vars,
            bind_ports,
            fresh: Var(format!("E{}", state.vars)),
            local_var: Var(format!("C{}", state.vars)),
            listeners: state.model.listeners(),
        }
    }
}

/// An open socket, as the candidates on it see it.
#[derive(Clone, Copy)]
struct OpenSock {
    sock: SockId,
    family: Family,
    host: Host,
    st: TcpState,
    /// Bound to a port (not port 0).
    bound: bool,
}

impl OpenSock {
    /// The socket `sock` of `state`, which must be open.
    fn new(state: &GenState, sock: SockId) -> Self {
        Self {
            sock,
            family: state.model.family_of(sock).expect("open"),
            host: state.model.host_of(sock).expect("open"),
            st: state.model.state_of(sock).expect("open"),
            bound: state.model.port_of(sock).is_some_and(|p| p != 0),
        }
    }
}

/// socket(): a new socket on either host, and one of another user beside a SO_REUSEPORT one.
fn socket_candidates(step: &Step<'_>, menu: &mut Menu, open: usize) {
    let state = step.state;
    let sock = SockId(state.names);
    let mut ops = Vec::new();
    for family in [Family::Inet, Family::Inet, Family::Inet, Family::Inet6] {
        for nonblocking in [true, false] {
            ops.push(Op::Socket {
                sock,
                family,
                nonblocking,
                euid: None,
                host: Host::A,
            });
        }
    }
    ops.push(Op::Socket {
        sock,
        family: Family::Inet,
        nonblocking: true,
        euid: Some(65534),
        host: Host::A,
    });
    if state.config.two_hosts {
        for family in [Family::Inet, Family::Inet, Family::Inet6] {
            for nonblocking in [true, false] {
                ops.push(Op::Socket {
                    sock,
                    family,
                    nonblocking,
                    euid: None,
                    host: Host::B,
                });
            }
        }
    }
    menu.add(if open < 2 { 40 } else { 10 }, ops);
    // Another user beside a SO_REUSEPORT socket: the uid rule decides whether they share.
    let beside: BTreeSet<u32> = step
        .holders
        .iter()
        .filter(|h| h.reuseport && h.host == Host::A)
        .map(|h| if h.uid == 0 { 65534 } else { 0 })
        .collect();
    menu.add(
        6,
        beside
            .into_iter()
            .map(|uid| Op::Socket {
                sock,
                family: Family::Inet,
                nonblocking: true,
                euid: (uid != 0).then_some(uid),
                host: Host::A,
            })
            .collect(),
    );
}

/// The candidates on one open socket, call family by call family, as its state allows.
fn candidates_on(step: &Step<'_>, menu: &mut Menu, s: OpenSock) {
    let state = step.state;
    if state.options.timers {
        timer_candidates(menu, s);
        fixture_candidates(menu, s);
    }
    setsockopt_candidates(state, menu, s);
    if s.st == TcpState::Closed && !s.bound {
        bind_candidates(step, menu, s);
        steer_onto_held_ports(state, menu, s.sock, s.family, s.host, &step.holders);
    }
    if s.st == TcpState::Closed {
        listen_candidates(menu, s);
        connect_candidates(step, menu, s);
        connect_onto_time_wait_candidates(step, menu, s);
    }
    if matches!(s.st, TcpState::SynSent | TcpState::Established) {
        connect_again_candidates(menu, s);
    }
    if s.st == TcpState::Listen {
        accept_candidates(state, menu, s);
    }
    if s.st.is_connected() || s.st == TcpState::Closed {
        send_recv_candidates(menu, s);
    }
    // getsockopt(SO_ERROR)
    menu.add(1, vec![Op::GetsockoptSoError { sock: s.sock }]);
    shutdown_close_candidates(menu, s);
}

/// setsockopt() of short timers (keepalive, user timeout, TCP_LINGER2), mostly when connected.
fn timer_candidates(menu: &mut Menu, s: OpenSock) {
    let OpenSock { sock, st, .. } = s;
    // Short timers, so that they run out within a case: keepalive of 1 s, a user
    // timeout under 2 s, an orphan FIN-WAIT-2 of 1-2 s.
    let timer_opts = [
        SockOpt::KeepAlive(true),
        SockOpt::KeepAlive(true),
        SockOpt::KeepIdle(1),
        SockOpt::KeepIntvl(1),
        SockOpt::KeepCnt(1),
        SockOpt::KeepCnt(2),
        SockOpt::UserTimeout(400),
        SockOpt::UserTimeout(1500),
        SockOpt::Linger2(1),
        SockOpt::Linger2(2),
        SockOpt::Linger2(-1),
    ];
    menu.add(
        if st.is_connected() { 8 } else { 2 },
        timer_opts
            .into_iter()
            .map(|opt| Op::Setsockopt { sock, opt })
            .collect(),
    );
}

/// The fixture's ops on a connected or listening socket: its peer vanishes or reboots.
fn fixture_candidates(menu: &mut Menu, s: OpenSock) {
    let OpenSock { sock, st, .. } = s;
    // The peer disappears: silently, or by a reboot that forgets the connection.
    let mut fixtures = vec![Op::PeerVanishes { sock }];
    if st.is_connected() {
        fixtures.push(Op::PeerReboots { sock });
    }
    let w = if st.is_connected() || st == TcpState::Listen {
        4
    } else {
        0
    };
    menu.add(w, fixtures);
}

/// setsockopt() of the sharing options, SO_LINGER and the profile's own, mostly before bind().
fn setsockopt_candidates(state: &GenState, menu: &mut Menu, s: OpenSock) {
    let OpenSock {
        sock,
        family,
        st,
        bound,
        ..
    } = s;
    let mut opts = vec![
        SockOpt::ReuseAddr(true),
        SockOpt::ReuseAddr(true),
        SockOpt::ReuseAddr(true),
        SockOpt::ReusePort(true),
        SockOpt::ReuseAddr(false),
        SockOpt::ReusePort(false),
        SockOpt::Linger(Some(0)),
        SockOpt::BindAddressNoPort(true),
    ];
    // Options only one OS has (the other profiles answer ENOPROTOOPT).
    match state.model.profile().os {
        tcpconform_model::profile::Os::FreeBsd => opts.push(SockOpt::ReusePortLb(true)),
        tcpconform_model::profile::Os::Windows => opts.push(SockOpt::ExclusiveAddrUse(true)),
        tcpconform_model::profile::Os::Linux | tcpconform_model::profile::Os::MacOs => {}
    }
    if family == Family::Inet6 {
        opts.push(SockOpt::V6Only(true));
        opts.push(SockOpt::V6Only(false));
    }
    let opt_weight = if st == TcpState::Closed && !bound {
        10
    } else {
        2
    };
    menu.add(
        opt_weight,
        opts.into_iter()
            .map(|opt| Op::Setsockopt { sock, opt })
            .collect(),
    );
}

/// bind() of an unbound socket: each of its host's addresses on each port, or a kernel-chosen one.
fn bind_candidates(step: &Step<'_>, menu: &mut Menu, s: OpenSock) {
    let OpenSock {
        sock, family, host, ..
    } = s;
    let addrs = match family {
        Family::Inet | Family::Inet6 => bind_addrs(family, host, step.state.config.two_hosts),
    };
    let mut ops = Vec::new();
    for ip in &addrs {
        for port in &step.bind_ports {
            ops.push(Op::Bind {
                sock,
                addr: SockAddr {
                    ip: *ip,
                    port: port.clone(),
                },
            });
        }
        ops.push(Op::Bind {
            sock,
            addr: SockAddr {
                ip: *ip,
                port: Port::Var(step.fresh.clone()),
            },
        });
    }
    menu.add(16, ops);
}

/// listen() of a closed socket, mostly a bound one, now and then with a backlog of 0 or 1.
fn listen_candidates(menu: &mut Menu, s: OpenSock) {
    let OpenSock { sock, bound, .. } = s;
    // Now and then with a backlog of 0 or 1, so that a second or third connection finds the
    // accept queue full.
    menu.add(
        if bound { 16 } else { 1 },
        vec![Op::Listen {
            sock,
            backlog: DEFAULT_BACKLOG,
        }],
    );
    menu.add(
        if bound { 12 } else { 0 },
        [0, 1]
            .into_iter()
            .map(|backlog| Op::Listen { sock, backlog })
            .collect(),
    );
}

/// connect() of a closed socket to each destination and port, mostly to a listener.
fn connect_candidates(step: &Step<'_>, menu: &mut Menu, s: OpenSock) {
    let state = step.state;
    let OpenSock {
        sock,
        family,
        host,
        bound,
        ..
    } = s;
    let dests = match family {
        Family::Inet | Family::Inet6 => dest_addrs(family, host, state.config.two_hosts),
    };
    let mut to_listeners = Vec::new();
    let mut others = Vec::new();
    for ip in &dests {
        let mut ports: Vec<Port> = PORTS.iter().map(|p| Port::Lit(*p)).collect();
        ports.extend(step.vars.iter().cloned().map(Port::Var));
        for port in ports {
            let op = Op::Connect {
                sock,
                addr: SockAddr {
                    ip: *ip,
                    port: port.clone(),
                },
                local: Some(step.local_var.clone()),
            };
            let p = state.env.resolve(&port);
            // A listener the destination reaches: on the host the address routes
            // to, on that address or a wildcard, and on that port.
            let reaches = |(h, l): &(Host, std::net::SocketAddr)| {
                Some(l.port()) == p
                    && state.model.topology().route(host, *ip) == Some(*h)
                    && (l.ip().is_unspecified() || same_ip(l.ip(), *ip))
            };
            if step.listeners.iter().any(reaches) {
                to_listeners.push(op);
            } else {
                others.push(op);
            }
        }
    }
    menu.add_unless_blocking(if bound { 6 } else { 24 }, to_listeners);
    menu.add_unless_blocking(3, others);
}

/// connect() of a closed socket to where a lingering socket of its host (TIME-WAIT) was connected.
fn connect_onto_time_wait_candidates(step: &Step<'_>, menu: &mut Menu, s: OpenSock) {
    let OpenSock {
        sock, family, host, ..
    } = s;
    // Once more to where a TIME-WAIT of this host was connected: the new connection
    // meets the old one's 4-tuple (tcp_tw_reuse, timestamps, a bound port's check).
    let again: Vec<Op> = step
        .holders
        .iter()
        .filter(|h| h.lingering && h.host == host)
        .filter_map(|h| h.peer)
        .filter_map(|peer| {
            let ip = in_family(peer.ip(), family)?;
            let port = port_named(step.state, peer.port())?;
            Some(Op::Connect {
                sock,
                addr: SockAddr { ip, port },
                local: Some(step.local_var.clone()),
            })
        })
        .collect();
    menu.add_unless_blocking(12, again);
}

/// connect() again of a socket already connecting or connected.
fn connect_again_candidates(menu: &mut Menu, s: OpenSock) {
    let op = Op::Connect {
        sock: s.sock,
        addr: SockAddr {
            ip: "127.0.0.1".parse().expect("literal"),
            port: Port::Lit(PORTS[0]),
        },
        local: None,
    };
    menu.add_unless_blocking(1, vec![op]);
}

/// accept() on a listener, mostly once a connection is queued, while names are left.
fn accept_candidates(state: &GenState, menu: &mut Menu, s: OpenSock) {
    let op = Op::Accept {
        listener: s.sock,
        sock: SockId(state.names),
        peer: None,
    };
    let queued = state.model.queue_len(s.sock) > 0;
    if state.names < MAX_SOCKETS + 3 {
        menu.add_unless_blocking(if queued { 30 } else { 1 }, vec![op]);
    }
}

/// send() and recv() of a few lengths, mostly on a connected socket.
fn send_recv_candidates(menu: &mut Menu, s: OpenSock) {
    let OpenSock { sock, st, .. } = s;
    let w = if st.is_connected() { 6 } else { 1 };
    let sends: Vec<Op> = [1u32, 3, 8]
        .iter()
        .map(|len| Op::Send { sock, len: *len })
        .collect();
    menu.add_unless_blocking(w, sends);
    let recvs: Vec<Op> = [1u32, 4, 64]
        .iter()
        .map(|len| Op::Recv { sock, len: *len })
        .collect();
    menu.add_unless_blocking(w, recvs);
}

/// shutdown() either way and close(), both mostly on a connected socket (close() a listener too).
fn shutdown_close_candidates(menu: &mut Menu, s: OpenSock) {
    let OpenSock { sock, st, .. } = s;
    menu.add(
        if st.is_connected() { 4 } else { 1 },
        [How::Wr, How::Rd, How::RdWr]
            .into_iter()
            .map(|how| Op::Shutdown { sock, how })
            .collect(),
    );
    menu.add(
        if st.is_connected() || st == TcpState::Listen {
            10
        } else {
            3
        },
        vec![Op::Close { sock }],
    );
}

/// sysctl() now and then: the settings a configuration may draw, changed mid-case.
fn sysctl_candidates(state: &GenState, menu: &mut Menu) {
    let mut settings = Vec::new();
    for setting in crate::config::interesting(state.config.profile) {
        if state.options.frozen.contains(&setting.key) {
            continue;
        }
        settings.push(Op::Sysctl {
            host: Host::A,
            setting: setting.clone(),
        });
        if state.config.two_hosts {
            settings.push(Op::Sysctl {
                host: Host::B,
                setting: setting.clone(),
            });
        }
    }
    menu.add(1, settings);
}

/// sleep(), where asked for and within the sleep budget (virtual time is free on the model).
fn sleep_candidates(state: &GenState, menu: &mut Menu) {
    let slept = state.model.now();
    let sleeps: Vec<Op> = state
        .options
        .sleeps
        .iter()
        .filter(|ms| {
            state
                .options
                .sleep_budget_ms
                .is_none_or(|budget| slept + **ms <= budget)
        })
        .map(|ms| Op::Sleep { ms: *ms })
        .collect();
    menu.add(if state.options.timers { 6 } else { 3 }, sleeps);
}

/// A short pause ([`TW_REUSE_PAUSE_MS`]) once a TIME-WAIT lingers under a shorter reuse delay.
fn reuse_pause_candidates(state: &GenState, menu: &mut Menu, holders: &[PortHolder]) {
    // A short pause once a TIME-WAIT lingers where tcp_tw_reuse_delay is a millisecond (the
    // reuse preset, `config::ConfigSpace`): the next connect() then surely finds it old
    // enough to take over (tcp_tw_reuse, the loopback test and timestamps decide), where a
    // case that never sleeps stays within the model's margin of the clock's edge.
    let slept = state.model.now();
    let quick_reuse = state.model.profile().has_tw_reuse_delay()
        && holders.iter().any(|h| {
            h.lingering
                && h.state == TcpState::TimeWait
                && u64::from(state.model.sysctls(h.host).tcp_tw_reuse_delay_ms) < TW_REUSE_PAUSE_MS
        });
    if quick_reuse && slept < TW_REUSE_PAUSE_MS {
        menu.add(
            8,
            vec![Op::Sleep {
                ms: TW_REUSE_PAUSE_MS,
            }],
        );
    }
}

/// destroy() of anything that still has a row: an open socket or what a close() left.
fn destroy_candidates(state: &GenState, menu: &mut Menu) {
    let destroyable: Vec<Op> = (0..state.names)
        .map(SockId)
        .filter(|s| state.model.is_open(*s) || state.model.has_remnant(*s))
        .map(|sock| Op::Destroy { sock })
        .collect();
    menu.add(2, destroyable);
}

/// close() of a closed descriptor now and then (EBADF), so shrinking never needs them.
fn closed_fd_candidates(state: &GenState, menu: &mut Menu) {
    let closed: Vec<Op> = (0..state.names)
        .map(SockId)
        .filter(|s| state.created.contains(s) && !state.model.is_open(*s))
        .map(|sock| Op::Close { sock })
        .collect();
    menu.add(1, closed);
}

/// For an unbound socket: the options of the sockets that hold ports on its host, and binds
/// onto those ports, a lingering socket's (TIME-WAIT, an orphan) above all. A restart's bind
/// meets its predecessor's TIME-WAIT this way, with the flags both sides need to share.
fn steer_onto_held_ports(
    state: &GenState,
    menu: &mut Menu,
    sock: SockId,
    family: Family,
    host: Host,
    holders: &[PortHolder],
) {
    let here: Vec<&PortHolder> = holders.iter().filter(|h| h.host == host).collect();
    let mut mirror = Vec::new();
    if here.iter().any(|h| h.reuseaddr) {
        mirror.push(SockOpt::ReuseAddr(true));
    }
    if here.iter().any(|h| h.reuseport) {
        mirror.push(SockOpt::ReusePort(true));
    }
    menu.add(
        6,
        mirror
            .into_iter()
            .map(|opt| Op::Setsockopt { sock, opt })
            .collect(),
    );
    let wildcard: IpAddr = match family {
        Family::Inet => "0.0.0.0",
        Family::Inet6 => "::",
    }
    .parse()
    .expect("literal");
    for h in here {
        let Some(port) = port_named(state, h.local.port()) else {
            continue;
        };
        let ops = [in_family(h.local.ip(), family), Some(wildcard)]
            .into_iter()
            .flatten()
            .map(|ip| Op::Bind {
                sock,
                addr: SockAddr {
                    ip,
                    port: port.clone(),
                },
            })
            .collect();
        menu.add(if h.lingering { 12 } else { 3 }, ops);
    }
}

/// How a generated op names port `p`: a literal port, or the variable that captured a
/// kernel-chosen one.
fn port_named(state: &GenState, p: u16) -> Option<Port> {
    if PORTS.contains(&p) {
        return Some(Port::Lit(p));
    }
    state
        .env
        .iter()
        .find(|(_, v)| *v == p)
        .map(|(name, _)| Port::Var(Var(name.to_owned())))
}

/// Whether two addresses are the same, an IPv4 one and its v4-mapped form included.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    in_family(a, Family::Inet6) == in_family(b, Family::Inet6)
}

/// `ip` as a socket of `family` names it (v4-mapped in AF_INET6), if it can.
fn in_family(ip: IpAddr, family: Family) -> Option<IpAddr> {
    match (family, ip) {
        (Family::Inet, IpAddr::V4(_)) | (Family::Inet6, IpAddr::V6(_)) => Some(ip),
        (Family::Inet, IpAddr::V6(a)) => a.to_ipv4_mapped().map(IpAddr::V4),
        (Family::Inet6, IpAddr::V4(a)) => Some(IpAddr::V6(a.to_ipv6_mapped())),
    }
}

/// Whether `op` still makes sense after the ops before it (shrinking deletes ops).
pub fn preconditions(state: &GenState, op: &Op) -> bool {
    let created = |s: SockId| state.created.contains(&s);
    let known_var = |p: &Port| match p {
        Port::Lit(_) => true,
        Port::Var(v) => state.env.get(v).is_some(),
    };
    // Host b exists only in a two-host case (shrinking may take the second host away).
    let has = |host: &Host| *host == Host::A || state.config.two_hosts;
    match op {
        Op::Socket { sock, host, .. } => !created(*sock) && has(host),
        Op::Accept { listener, sock, .. } => created(*listener) && !created(*sock),
        Op::Connect { sock, addr, .. } => created(*sock) && known_var(&addr.port),
        Op::Sysctl { host, .. } => has(host),
        Op::Sleep { .. } => true,
        other => other.socks().into_iter().all(created),
    }
}

/// Runs `op` on the generator's model.
pub fn apply(mut state: GenState, op: &Op) -> GenState {
    if state.plan.first() == Some(op) {
        state.plan.remove(0);
    } else {
        state.plan.clear();
    }
    let b = crate::stopwatch::time("generate: apply model steps", || {
        state.model.step(op, &state.env)
    });
    for (v, p) in &b.bindings {
        state.env.bind(v, *p);
    }
    state.model = b.model;
    match op {
        Op::Socket { sock, .. } => {
            state.created.insert(*sock);
            state.names = state.names.max(sock.0 + 1);
        }
        Op::Accept { sock, .. } => {
            // The name is used up even when accept() fails: a scenario names each socket once.
            if b.outcome == Outcome::Ok {
                state.created.insert(*sock);
            }
            state.names = state.names.max(sock.0 + 1);
        }
        Op::Bind {
            addr: SockAddr {
                port: Port::Var(_), ..
            },
            ..
        }
        | Op::Connect { local: Some(_), .. } => state.vars += 1,
        _ => {}
    }
    state
}

/// Draws `n` more ops for `state` from `runner`'s random source (each from
/// [`transitions`], kept only when it meets the [`preconditions`]) and applies them; returns
/// the state after them and the ops. For callers that build a case in phases (the timer lanes)
/// rather than as one proptest value.
pub fn draw(
    state: GenState,
    n: usize,
    runner: &mut proptest::test_runner::TestRunner,
) -> (GenState, Vec<Op>) {
    draw_where(state, n, runner, &|_, _| true)
}

/// [`draw`], keeping only ops for which `keep` holds.
pub fn draw_where(
    mut state: GenState,
    n: usize,
    runner: &mut proptest::test_runner::TestRunner,
    keep: &dyn Fn(&GenState, &Op) -> bool,
) -> (GenState, Vec<Op>) {
    use proptest::strategy::ValueTree;
    let mut ops = Vec::with_capacity(n);
    let mut tries = 0;
    while ops.len() < n && tries < 16 * n.max(1) {
        tries += 1;
        let Ok(tree) = transitions(&state).new_tree(runner) else {
            continue;
        };
        let op = tree.current();
        if !preconditions(&state, &op) || !keep(&state, &op) {
            continue;
        }
        state = apply(state, &op);
        ops.push(op);
    }
    (state, ops)
}
