//! Shrinking a divergent case: delta debugging over its calls, then its sysctls and second
//! host, keeping only what still gives the *same* divergence (its [`Signature`]), within a
//! budget of time and re-runs. A shrink that runs out of budget stops with the best case so
//! far and says so.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tcpconform_model::Op;

use super::groups::Signature;
use crate::config::CaseConfig;
use crate::error::HarnessError;
use crate::generate;
use crate::lockstep::{Run, StepReport};

/// How much one shrink may spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShrinkBudget {
    /// Wall time.
    #[serde(with = "crate::secs")]
    pub time: Duration,
    /// Re-runs of a candidate case.
    pub runs: u32,
}

impl Default for ShrinkBudget {
    /// 30 s and 400 re-runs: a case of two dozen calls shrinks in a few dozen re-runs, a
    /// fraction of a second each.
    fn default() -> Self {
        Self {
            time: Duration::from_secs(30),
            runs: 400,
        }
    }
}

/// What a shrink spent, and whether it finished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShrinkSpent {
    /// Re-runs of candidate cases.
    pub runs: u32,
    /// Wall time.
    #[serde(with = "crate::secs")]
    pub time: Duration,
    /// The budget ran out before the case was 1-minimal: the case is the best found so far.
    pub stopped_early: bool,
}

/// A budget being spent.
pub(crate) struct Meter {
    budget: ShrinkBudget,
    started: Instant,
    runs: u32,
    stopped_early: bool,
}

impl Meter {
    pub(crate) fn new(budget: ShrinkBudget) -> Self {
        Self {
            budget,
            started: Instant::now(),
            runs: 0,
            stopped_early: false,
        }
    }

    /// Whether another re-run may start (`n` of them at once); notes it when not.
    pub(crate) fn may_run(&mut self, n: u32) -> bool {
        let ok = self.runs + n <= self.budget.runs && self.started.elapsed() < self.budget.time;
        if !ok {
            self.stopped_early = true;
        }
        ok
    }

    pub(crate) fn ran(&mut self, n: u32) {
        self.runs += n;
    }

    pub(crate) fn spent(&self) -> ShrinkSpent {
        ShrinkSpent {
            runs: self.runs,
            time: self.started.elapsed(),
            stopped_early: self.stopped_early,
        }
    }
}

/// A shrunk case.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// Its configuration (sysctls and hosts it does not need dropped).
    pub config: CaseConfig,
    /// Its calls.
    pub ops: Vec<Op>,
    /// Its run (the divergence is its last step).
    pub run: Run,
    /// Whether it diverged again when re-run. `false`: the divergence depends on timing, and
    /// the case is as it first ran, unshrunk.
    pub reproduced: bool,
    /// What shrinking spent.
    pub spent: ShrinkSpent,
}

/// Whether `run` shows the divergence being shrunk: any divergence when `keep` is `None`, else
/// one of that signature.
fn keeps(run: &Run, keep: Option<&Signature>) -> bool {
    kept(run, keep).is_some()
}

/// The step of `run` that shows the divergence being shrunk (see [`keeps`]).
fn kept<'r>(run: &'r Run, keep: Option<&Signature>) -> Option<&'r StepReport> {
    match keep {
        Some(sig) => run.divergences().find(|d| Signature::of(d) == *sig),
        None => run.divergence(),
    }
}

/// Runs one case where the campaign runs them (the kernel, gVisor).
pub type Runner<'a> = dyn Fn(&CaseConfig, &[Op]) -> Result<Run, HarnessError> + 'a;

/// Shrinks a divergent case (`diverged` is the run in which `ops` diverged under `config`):
/// delta debugging over its calls, then its sysctls and second host, keeping the divergence's signature when `keep` is
/// given, within `budget`.
pub fn shrink(
    run_case: &Runner<'_>,
    config: &CaseConfig,
    ops: Vec<Op>,
    diverged: Run,
    keep: Option<&Signature>,
    budget: ShrinkBudget,
) -> Result<Shrunk, HarnessError> {
    let mut meter = Meter::new(budget);
    let (ops, run, reproduced) = minimize(run_case, config, ops, diverged, keep, &mut meter)?;
    if !reproduced {
        return Ok(Shrunk {
            config: config.clone(),
            ops,
            run,
            reproduced,
            spent: meter.spent(),
        });
    }
    let (config, run) = minimize_config(run_case, config, &ops, run, keep, &mut meter)?;
    Ok(Shrunk {
        config,
        ops,
        run,
        reproduced,
        spent: meter.spent(),
    })
}

/// Delta debugging: removes chunks, then single ops, while the case still diverges (the same
/// way, with `keep`), until no single op can go or the budget is spent. Ops a later op needs
/// (its socket's `socket()`, the op that binds a variable it uses) are removed only together
/// with it, because the shortened case must still parse.
///
/// If `ops` no longer diverge when run again, the divergence depends on timing: `ops` and
/// `diverged` come back unshrunk, with `false`.
pub(crate) fn minimize(
    run_case: &Runner<'_>,
    config: &CaseConfig,
    ops: Vec<Op>,
    diverged: Run,
    keep: Option<&Signature>,
    meter: &mut Meter,
) -> Result<(Vec<Op>, Run, bool), HarnessError> {
    let mut best = ops;
    meter.ran(1);
    let mut best_run = run_case(config, &best)?;
    if !keeps(&best_run, keep) {
        return Ok((best, diverged, false));
    }
    // Cut everything after the divergence.
    let at = kept(&best_run, keep).map_or(best.len(), |d| d.index);
    best.truncate(at);
    best_run = best_run.truncated(at);
    let mut chunk = (best.len() / 2).max(1);
    'rounds: loop {
        let mut progress = false;
        let mut i = 0;
        while i < best.len() {
            let end = (i + chunk).min(best.len());
            let mut candidate: Vec<Op> = best[..i].to_vec();
            candidate.extend_from_slice(&best[end..]);
            if !candidate.is_empty() && well_formed(config, &candidate) {
                if !meter.may_run(1) {
                    break 'rounds;
                }
                meter.ran(1);
                let run = run_case(config, &candidate)?;
                if let Some(at) = kept(&run, keep).map(|d| d.index) {
                    candidate.truncate(at);
                    best = candidate;
                    best_run = run.truncated(at);
                    progress = true;
                    continue;
                }
            }
            i += chunk;
        }
        if chunk == 1 && !progress {
            break;
        }
        if !progress {
            chunk = (chunk / 2).max(1);
        }
    }
    Ok((best, best_run, true))
}

/// After [`minimize`]: drops the case's sysctls one at a time while the same call still
/// diverges (the same way, with `keep`), then the second host, so that the scenario names
/// only the settings and hosts the divergence needs. `run` is the diverging run of `ops`
/// under `config`.
pub(crate) fn minimize_config(
    run_case: &Runner<'_>,
    config: &CaseConfig,
    ops: &[Op],
    run: Run,
    keep: Option<&Signature>,
    meter: &mut Meter,
) -> Result<(CaseConfig, Run), HarnessError> {
    let same_call = |run: &Run| kept(run, keep).is_some_and(|d| d.index == ops.len());
    let mut best = config.clone();
    let mut best_run = run;
    let mut i = 0;
    while i < best.sysctls.len() {
        let mut candidate = best.clone();
        candidate.sysctls.remove(i);
        if crate::config::validate(&candidate).is_ok() && well_formed(&candidate, ops) {
            if !meter.may_run(1) {
                return Ok((best, best_run));
            }
            meter.ran(1);
            let run = run_case(&candidate, ops)?;
            if same_call(&run) {
                best = candidate;
                best_run = run;
                continue;
            }
        }
        i += 1;
    }
    // One host, if the divergence does not need the second.
    if best.two_hosts {
        let mut candidate = best.clone();
        candidate.two_hosts = false;
        candidate
            .sysctls
            .retain(|(h, _)| *h == tcpconform_model::Host::A);
        if crate::config::validate(&candidate).is_ok()
            && well_formed(&candidate, ops)
            && meter.may_run(1)
        {
            meter.ran(1);
            let run = run_case(&candidate, ops)?;
            if same_call(&run) {
                best = candidate;
                best_run = run;
            }
        }
    }
    Ok((best, best_run))
}

/// Whether a sequence still makes sense for `config`: run on the generator's model, every op
/// passes the generator's preconditions (sockets created before use, destination variables
/// bound by then).
pub fn well_formed(config: &CaseConfig, ops: &[Op]) -> bool {
    let mut state = generate::GenState::new(config.clone());
    for op in ops {
        if !generate::preconditions(&state, op) {
            return false;
        }
        state = generate::apply(state, op);
    }
    true
}
