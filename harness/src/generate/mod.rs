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
    DEFAULT_BACKLOG, Env, Family, Host, Model, Op, Outcome, Port, SockAddr, SockId, SockOpt, Var,
};

use std::collections::BTreeSet;

use crate::config::{CaseConfig, ConfigSpace};

mod candidates;

pub use candidates::transitions;

/// Most sockets a generated case creates.
pub const MAX_SOCKETS: u16 = 6;

/// The pause (ms) offered once a TIME-WAIT lingers under a `tcp_tw_reuse_delay` shorter than
/// it ([`transitions`]): older than the delay plus the model's margin of the clock's edge.
pub const TW_REUSE_PAUSE_MS: u64 = 5;

/// The literal ports generated cases use (kernel-chosen ones come as variables).
pub const PORTS: [u16; 2] = [5000, 5001];

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
