//! The lock-step comparator: runs each call on the model and on a system (the kernel), and
//! after every call checks the kernel's result against the set the model allows and the
//! kernel's whole socket table against the model's.
//!
//! The model may be unsure of its own state (which of two listeners took a connection): it
//! then keeps every state that is still consistent with what the kernel showed, and narrows
//! them down as later observations come in. A divergence is the empty set.

use std::fmt;

use serde::{Deserialize, Serialize};
use tcpconform_model::{CallClock, Env, Hint, Model, Observed, Op, Outcome, RuleId, Snapshot, Var};

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
    /// with the kernel's outcome, or of the first branch).
    pub model_table: Snapshot,
    /// The rule behind the model's answer for this call.
    pub rule: RuleId,
    /// Every rule the model applied on this call.
    pub rules: Vec<RuleId>,
    /// The comparison.
    pub verdict: Verdict,
}

/// The branch that agreed with the kernel.
struct Matched {
    table: Snapshot,
    rule: RuleId,
    rules: Vec<RuleId>,
    bindings: Vec<(Var, u16)>,
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
        }
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
        let hint = Hint {
            local: observed.local,
            peer: observed.peer,
            clock,
        };
        let mut allowed: Vec<Allowed> = Vec::new();
        let mut next: Vec<Model> = Vec::new();
        let mut matched: Option<Matched> = None;
        let mut outcome_match: Option<(Snapshot, RuleId, Vec<RuleId>)> = None;
        let mut first: Option<(Snapshot, RuleId, Vec<RuleId>)> = None;
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
                let table = b.model.snapshot();
                if first.is_none() {
                    first = Some((table.clone(), b.rule, b.rules.clone()));
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
                    outcome_match = Some((table.clone(), b.rule, b.rules.clone()));
                }
                if let Some(v) = &b.violation {
                    violation.get_or_insert_with(|| v.clone());
                    continue;
                }
                if !table.same_rows(&kernel_table) {
                    continue;
                }
                if matched.is_none() {
                    matched = Some(Matched {
                        table,
                        rule: b.rule,
                        rules: b.rules.clone(),
                        bindings: b.bindings.clone(),
                    });
                }
                if !next.contains(&b.model) && next.len() < MAX_HYPOTHESES {
                    next.push(b.model);
                }
            }
        }
        let (model_table, rule, rules, verdict) = if let Some(m) = matched {
            for (v, p) in &m.bindings {
                self.env.bind(v, *p);
            }
            self.hypotheses = next;
            (m.table, m.rule, m.rules, Verdict::Agree)
        } else if let Some((t, r, rs)) = outcome_match {
            let verdict = match violation {
                Some(v) => Verdict::PortNotAllowed(v),
                None => Verdict::TableDiffers,
            };
            (t, r, rs, verdict)
        } else {
            let (t, r, rs) = first.expect("every op has at least one branch");
            (t, r, rs, Verdict::OutcomeDiffers)
        };
        if verdict != Verdict::Agree {
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
            rule,
            rules,
            verdict,
        }
    }
}

/// Binds the variables an op captures from what the kernel did: an unbound port variable in
/// `bind`, the `local` of a `connect`, the `peer` of an `accept`.
pub fn capture(op: &Op, observed: &Observed, env: &mut Env) {
    use tcpconform_model::{Port, SockAddr};
    match op {
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
        Op::Accept { peer: Some(v), .. } if observed.outcome == Outcome::Ok => {
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
    /// The first divergent step.
    pub fn divergence(&self) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.verdict != Verdict::Agree)
    }
}

/// Runs `ops` on `system` and the model in lock-step, stopping at the first divergence or
/// harness failure.
pub fn run<S: System>(system: &mut S, model: Model, ops: &[Op]) -> Run {
    run_with(system, LockStep::new(model), ops)
}

/// [`run`] from a prepared [`LockStep`] (e.g. one that continues after a divergence).
pub fn run_with<S: System>(system: &mut S, mut ls: LockStep, ops: &[Op]) -> Run {
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
        let stop = report.verdict != Verdict::Agree && !ls.continue_after_divergence;
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
