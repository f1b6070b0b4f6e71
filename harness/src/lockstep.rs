//! The lock-step comparator: runs each call on the model and on a system (the kernel), and
//! after every call checks the kernel's result against the set the model allows and the
//! kernel's whole socket table against the model's.
//!
//! The model may be unsure of its own state (which of two listeners took a connection): it
//! then keeps every state that is still consistent with what the kernel showed, and narrows
//! them down as later observations come in. A divergence is the empty set.

use std::fmt;

use serde::{Deserialize, Serialize};
use tcpconform_model::{
    CallClock, Env, Hint, Model, Observed, Op, Outcome, RuleId, Snapshot, TcpState, Var,
};

/// Something that runs ops for real: the kernel (in a sandbox), or a fake in tests.
pub trait System {
    /// An infrastructure failure (not a syscall error: those are outcomes).
    type Error: fmt::Display;
    /// Runs one op.
    fn exec(&mut self, op: &Op, env: &Env) -> Result<Observed, Self::Error>;
    /// The settled socket table.
    fn table(&mut self) -> Result<Snapshot, Self::Error>;
}

/// What the model allowed for one call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allowed {
    /// An allowed outcome.
    pub outcome: Outcome,
    /// The rule that decided it.
    pub rule: RuleId,
}

/// How a call's observation compared with the model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// The kernel did what the model allows.
    Agree,
    /// The kernel returned an outcome the model does not allow.
    OutcomeDiffers,
    /// The outcome is allowed, but the kernel's socket table is not the model's.
    TableDiffers,
    /// The outcome is allowed, but the kernel chose a port the model does not allow.
    PortNotAllowed(String),
}

/// One call of a lock-step run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepReport {
    /// 1-based position in the scenario.
    pub index: usize,
    /// The call.
    pub op: Op,
    /// What the kernel did.
    pub observed: Observed,
    /// The kernel's table after the call.
    pub kernel_table: Snapshot,
    /// What the model allowed (deduplicated).
    pub allowed: Vec<Allowed>,
    /// The model's table after the call (of the branch that matched, or of the first branch
    /// with the kernel's outcome, or of the first branch), as the view compares it.
    pub model_table: Snapshot,
    /// The same branch's whole table, when the view compares only part of it (what Linux
    /// would show: a scenario that states Linux's results needs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_full_table: Option<Snapshot>,
    /// The rule behind the model's answer for this call.
    pub rule: RuleId,
    /// Every rule the model applied on this call.
    pub rules: Vec<RuleId>,
    /// The comparison.
    pub verdict: Verdict,
    /// A port-choice divergence the run went on from, the model taking the kernel's port
    /// ([`LockStep::follow_port_choice`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub followed: bool,
}

/// The branch that agreed with the kernel.
struct Matched {
    table: Snapshot,
    full: Snapshot,
    rule: RuleId,
    rules: Vec<RuleId>,
    bindings: Vec<(Var, u16)>,
    /// The port the kernel chose is outside the model's set (followed anyway).
    violation: Option<String>,
}

/// Which part of the model's table is compared with the kernel's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TableView {
    /// Every row (sock_diag shows them all).
    #[default]
    Everything,
    /// The rows a descriptor holds in a state other than CLOSE, without queue lengths and
    /// timers, on both sides: what a `/proc/net/tcp` that lists only sockets with a
    /// descriptor can tell (gVisor's). A CLOSE row there keeps a socket's last address
    /// whether or not it still holds the port, so bound and released are told apart only
    /// through the results of later calls.
    DescriptorsOnly,
}

impl TableView {
    /// The part of `table` this view compares.
    pub fn apply(self, table: Snapshot) -> Snapshot {
        match self {
            Self::Everything => table,
            Self::DescriptorsOnly => Snapshot::new(
                table
                    .rows
                    .into_iter()
                    .filter(|(row, info)| {
                        info.owner.is_some() && !info.orphan && row.state != TcpState::Closed
                    })
                    .map(|(mut row, mut info)| {
                        row.queue = 0;
                        info.timer = None;
                        (row, info)
                    })
                    .collect(),
            ),
        }
    }
}

/// The model's side of a lock-step run: the states still consistent with the kernel.
#[derive(Clone, Debug)]
pub struct LockStep {
    hypotheses: Vec<Model>,
    /// Port variables, bound from the kernel's choices.
    pub env: Env,
    /// After a divergence, follow the kernel anyway (replay shows every call); the model then
    /// continues from its branch that gave the kernel's outcome (or its first branch).
    pub continue_after_divergence: bool,
    /// Whether a divergence happened (the model has been out of step since).
    pub diverged: bool,
    /// Which part of the model's table is compared.
    pub view: TableView,
    /// When the kernel's ephemeral port is outside the model's set but everything else
    /// agrees, report the divergence and go on with the kernel's port, as for a stack with
    /// a port selection of its own (gVisor's is random over its range): its other
    /// differences are then found too, and the run does not end at its first autobind.
    pub follow_port_choice: bool,
}

/// How many model states are followed at once before the rest are dropped.
const MAX_HYPOTHESES: usize = 32;

impl LockStep {
    /// Starts from a fresh model.
    pub fn new(model: Model) -> Self {
        Self {
            hypotheses: vec![model],
            env: Env::new(),
            continue_after_divergence: false,
            diverged: false,
            view: TableView::Everything,
            follow_port_choice: false,
        }
    }

    /// The same, comparing `view` of the model's tables.
    pub fn with_view(mut self, view: TableView) -> Self {
        self.view = view;
        self
    }

    /// The first of the model states still followed.
    pub fn model(&self) -> &Model {
        &self.hypotheses[0]
    }

    /// Compares one call: the kernel's observation and table against every branch of every
    /// hypothesis. Advances the hypotheses on agreement; leaves them unchanged on divergence.
    pub fn step(
        &mut self,
        index: usize,
        op: &Op,
        observed: Observed,
        kernel_table: Snapshot,
        clock: Option<CallClock>,
    ) -> StepReport {
        let kernel_table = self.view.apply(kernel_table);
        let hint = Hint {
            local: observed.local,
            peer: observed.peer,
            clock,
        };
        let mut allowed: Vec<Allowed> = Vec::new();
        let mut next: Vec<Model> = Vec::new();
        let mut matched: Option<Matched> = None;
        let mut outcome_match: Option<(Snapshot, Snapshot, RuleId, Vec<RuleId>)> = None;
        let mut first: Option<(Snapshot, Snapshot, RuleId, Vec<RuleId>)> = None;
        let mut fallback: Option<Model> = None;
        let mut fallback_matches_outcome = false;
        let mut violation: Option<String> = None;
        for h in &self.hypotheses {
            for b in h.branches(op, &self.env, &hint) {
                let a = Allowed {
                    outcome: b.outcome,
                    rule: b.rule,
                };
                if !allowed.contains(&a) {
                    allowed.push(a);
                }
                let full = b.model.snapshot();
                let table = self.view.apply(full.clone());
                if first.is_none() {
                    first = Some((table.clone(), full.clone(), b.rule, b.rules.clone()));
                    fallback = Some(b.model.clone());
                }
                if b.outcome != observed.outcome {
                    continue;
                }
                if !fallback_matches_outcome {
                    fallback = Some(b.model.clone());
                    fallback_matches_outcome = true;
                }
                if outcome_match.is_none() {
                    outcome_match = Some((table.clone(), full.clone(), b.rule, b.rules.clone()));
                }
                if let Some(v) = &b.violation {
                    violation.get_or_insert_with(|| v.clone());
                    if !self.follow_port_choice {
                        continue;
                    }
                }
                if !table.same_rows(&kernel_table) {
                    continue;
                }
                // A branch within the model's ports is preferred to one that is not.
                let better = matched
                    .as_ref()
                    .is_none_or(|m| m.violation.is_some() && b.violation.is_none());
                if better {
                    if matched.is_some() {
                        next.clear();
                    }
                    matched = Some(Matched {
                        table,
                        full,
                        rule: b.rule,
                        rules: b.rules.clone(),
                        bindings: b.bindings.clone(),
                        violation: b.violation.clone(),
                    });
                } else if b.violation.is_some()
                    && matched.as_ref().is_some_and(|m| m.violation.is_none())
                {
                    continue;
                }
                if !next.contains(&b.model) && next.len() < MAX_HYPOTHESES {
                    next.push(b.model);
                }
            }
        }
        let mut followed = false;
        let (model_table, full_table, rule, rules, verdict) = if let Some(m) = matched {
            for (v, p) in &m.bindings {
                self.env.bind(v, *p);
            }
            self.hypotheses = next;
            let verdict = match m.violation {
                Some(v) => {
                    followed = true;
                    Verdict::PortNotAllowed(v)
                }
                None => Verdict::Agree,
            };
            (m.table, m.full, m.rule, m.rules, verdict)
        } else if let Some((t, full, r, rs)) = outcome_match {
            // Following the stack's port, no branch has its table: the table differs. Not
            // following it, the port decides first (the tables would differ by it anyway).
            let verdict = match violation {
                Some(v) if !self.follow_port_choice => Verdict::PortNotAllowed(v),
                _ => Verdict::TableDiffers,
            };
            (t, full, r, rs, verdict)
        } else {
            let (t, full, r, rs) = first.expect("every op has at least one branch");
            (t, full, r, rs, Verdict::OutcomeDiffers)
        };
        if verdict != Verdict::Agree && !followed {
            self.diverged = true;
            if self.continue_after_divergence {
                if let Some(m) = fallback {
                    self.hypotheses = vec![m];
                }
                capture(op, &observed, &mut self.env);
            }
        }
        StepReport {
            index,
            op: op.clone(),
            observed,
            kernel_table,
            allowed,
            model_table,
            model_full_table: (self.view != TableView::Everything).then_some(full_table),
            rule,
            rules,
            verdict,
            followed,
        }
    }
}

/// Binds the variables an op captures from what the kernel did: an unbound port variable in
/// `bind`, the `local` of a `connect`, the `peer` of an `accept`.
pub fn capture(op: &Op, observed: &Observed, env: &mut Env) {
    use tcpconform_model::{Port, SockAddr};
    match op.call() {
        Op::Bind {
            addr: SockAddr {
                port: Port::Var(v), ..
            },
            ..
        } if env.get(v).is_none() => {
            if observed.outcome == Outcome::Ok
                && let Some(l) = observed.local.filter(|l| l.port() != 0)
            {
                env.bind(v, l.port());
            }
        }
        Op::Connect { local: Some(v), .. } => {
            if let Some(l) = observed.local.filter(|l| l.port() != 0) {
                env.bind(v, l.port());
            }
        }
        Op::Accept { peer: Some(v), .. } | Op::AcceptAny { peer: Some(v), .. }
            if observed.outcome == Outcome::Ok =>
        {
            if let Some(p) = observed.peer {
                env.bind(v, p.port());
            }
        }
        _ => {}
    }
}

/// Times the calls of a run against the case's start, for the model's timers.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch {
    t0: std::time::Instant,
    start: u64,
    end: u64,
}

impl Stopwatch {
    /// Starts counting now (the case's time 0).
    pub fn start() -> Self {
        Self {
            t0: std::time::Instant::now(),
            start: 0,
            end: 0,
        }
    }

    fn ms_floor(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
    }

    fn ms_ceil(&self) -> u64 {
        self.t0.elapsed().as_micros().div_ceil(1000) as u64
    }

    /// A call is about to start.
    pub fn call_starts(&mut self) {
        self.start = self.ms_floor();
    }

    /// The call returned.
    pub fn call_returned(&mut self) {
        self.end = self.ms_ceil();
    }

    /// The table has been read: the call's clock.
    pub fn table_read(&self) -> CallClock {
        CallClock {
            start: self.start,
            end: self.end,
            observed: self.ms_ceil().max(self.end),
        }
    }
}

/// The result of running a whole sequence in lock-step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Run {
    /// Every call that ran, in order (the last one is the divergence, if any).
    pub steps: Vec<StepReport>,
    /// The infrastructure failure that stopped the run, if any.
    pub harness_error: Option<String>,
    /// The port variables at the end of the run.
    pub env: Env,
}

impl Run {
    /// The divergence that ended the run, else its first followed one
    /// ([`LockStep::follow_port_choice`]).
    pub fn divergence(&self) -> Option<&StepReport> {
        self.divergences()
            .find(|s| !s.followed)
            .or_else(|| self.divergences().next())
    }

    /// Every divergent step, in order: followed port choices, then at most one that ended
    /// the run (or more, when it went on after divergences).
    pub fn divergences(&self) -> impl Iterator<Item = &StepReport> {
        self.steps.iter().filter(|s| s.verdict != Verdict::Agree)
    }

    /// The run up to and including call `index` (1-based).
    #[must_use]
    pub fn truncated(mut self, index: usize) -> Self {
        self.steps.retain(|s| s.index <= index);
        self
    }
}

/// Runs `ops` on `system` and the model in lock-step, stopping at the first divergence or
/// harness failure.
pub fn run<S: System + ?Sized>(system: &mut S, model: Model, ops: &[Op]) -> Run {
    run_with(system, LockStep::new(model), ops)
}

/// [`run`] from a prepared [`LockStep`] (e.g. one that continues after a divergence).
pub fn run_with<S: System + ?Sized>(system: &mut S, mut ls: LockStep, ops: &[Op]) -> Run {
    let mut steps = Vec::new();
    let mut clock = Stopwatch::start();
    for (i, op) in ops.iter().enumerate() {
        clock.call_starts();
        let observed = match system.exec(op, &ls.env) {
            Ok(o) => o,
            Err(e) => {
                return Run {
                    steps,
                    harness_error: Some(format!("{e}")),
                    env: ls.env,
                };
            }
        };
        clock.call_returned();
        let table = match system.table() {
            Ok(t) => t,
            Err(e) => {
                return Run {
                    steps,
                    harness_error: Some(format!("{e}")),
                    env: ls.env,
                };
            }
        };
        let report = ls.step(i + 1, op, observed, table, Some(clock.table_read()));
        let stop =
            report.verdict != Verdict::Agree && !report.followed && !ls.continue_after_divergence;
        steps.push(report);
        if stop {
            break;
        }
    }
    Run {
        steps,
        harness_error: None,
        env: ls.env,
    }
}
