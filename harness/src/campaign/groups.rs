//! Divergences grouped by what they are, as syzkaller groups crashes by title: the call, what
//! the model allowed and which rules decided, what the kernel did, and the shape of the table
//! difference. A campaign that keeps going meets one behaviour many times; a group holds it
//! once, with its count, the first case that met it, and its shortest shrunk scenario.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tcpconform_model::{Op, Outcome};

use super::Counterexample;
use super::shrink::{ShrinkBudget, ShrinkSpent, Shrunk};
use crate::config::CaseConfig;
use crate::error::HarnessError;
use crate::lockstep::{Run, StepReport, Verdict};

/// What a divergence is, in words that leave out ports, addresses and timings: two cases with
/// the same signature show the same behaviour. It is the key of a [baseline](crate::baseline)
/// entry.
///
/// `listen: model 0 (listen.autobind); kernel -1 EINVAL; table -LISTEN +UNCONN`
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Signature(pub String);

/// An outcome's class: byte counts are one class (`N`), everything else itself.
fn class(o: Outcome) -> String {
    match o {
        Outcome::Bytes(_) => "N".to_owned(),
        other => other.to_string(),
    }
}

impl Signature {
    /// The signature of a divergent step.
    pub fn of(step: &StepReport) -> Self {
        let mut allowed: Vec<String> = step
            .allowed
            .iter()
            .map(|a| format!("{} ({})", class(a.outcome), a.rule.id()))
            .collect();
        allowed.sort();
        allowed.dedup();
        let mut s = format!(
            "{}: model {}; kernel {}",
            step.op.name(),
            allowed.join(" | "),
            class(step.observed.outcome)
        );
        match &step.verdict {
            Verdict::TableDiffers => {
                let (only_model, only_kernel) = step.model_table.diff(&step.kernel_table);
                let mut shape: Vec<String> = only_model
                    .iter()
                    .map(|r| format!("-{}", r.state))
                    .chain(only_kernel.iter().map(|r| format!("+{}", r.state)))
                    .collect();
                // Which states appear and vanish, not how many rows: two connections left
                // in a state are the same difference as one.
                shape.sort();
                shape.dedup();
                s.push_str(&format!("; table {}", shape.join(" ")));
            }
            Verdict::PortNotAllowed(_) => s.push_str("; port outside the allowed set"),
            Verdict::OutcomeDiffers | Verdict::Agree => {}
        }
        Self(s)
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One distinct divergence of a campaign.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DivergenceGroup {
    /// What it is.
    pub signature: Signature,
    /// How many cases met it.
    pub count: u64,
    /// The 1-based number of the first case that met it.
    pub first_case: u64,
    /// Its shortest shrunk case (or, if no case of it diverged again, the first as it ran).
    pub counterexample: Counterexample,
    /// What shrinking it spent, and whether the budget ran out.
    pub shrink: ShrinkSpent,
    /// The baseline entry that knows it, if any (set by [`crate::baseline::Baseline::judge`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known: Option<crate::baseline::Known>,
}

impl DivergenceGroup {
    /// The scenario file it was saved to.
    pub fn path(&self) -> Option<&PathBuf> {
        self.counterexample.path.as_ref()
    }
}

/// How many divergent cases of a group are kept to shrink: the shortest first; the next is
/// tried when one does not diverge again.
const CANDIDATES_PER_GROUP: usize = 3;

/// Divergent cases as a campaign meets them, by signature.
#[derive(Default)]
pub struct Collector {
    groups: BTreeMap<Signature, Pending>,
    order: Vec<Signature>,
}

struct Pending {
    count: u64,
    first_case: u64,
    candidates: Vec<(CaseConfig, Vec<Op>, Run)>,
}

impl Collector {
    /// Adds a divergent case (`case` is its 1-based number): its ops up to the divergence.
    pub fn add(&mut self, case: u64, config: &CaseConfig, ops: &[Op], run: &Run) {
        // A run may hold port choices it followed before the divergence that ended it: each
        // is a group of its own (once per run).
        let mut seen = Vec::new();
        for d in run.divergences() {
            let sig = Signature::of(d);
            if seen.contains(&sig) {
                continue;
            }
            seen.push(sig.clone());
            let upto = d.index.min(ops.len());
            let p = self.groups.entry(sig.clone()).or_insert_with(|| {
                self.order.push(sig);
                Pending {
                    count: 0,
                    first_case: case,
                    candidates: Vec::new(),
                }
            });
            p.count += 1;
            p.candidates.push((
                config.clone(),
                ops[..upto].to_vec(),
                run.clone().truncated(d.index),
            ));
            p.candidates.sort_by_key(|(_, ops, _)| ops.len());
            p.candidates.truncate(CANDIDATES_PER_GROUP);
        }
    }

    /// Whether no case diverged.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Shrinks each group's shortest case with `shrinker` within `budget` (the next one when a
    /// case does not diverge again), saves it in `found_dir` (its file expecting what
    /// `expecting` says), and returns the groups, most
    /// frequent first. Once `total` (if any) is spent, the remaining groups keep their first
    /// case as it ran, unshrunk, and say so.
    pub fn shrink_all(
        self,
        shrinker: &Shrinker<'_>,
        budget: ShrinkBudget,
        total: Option<std::time::Duration>,
        found_dir: Option<&std::path::Path>,
        expecting: crate::report::Expecting,
    ) -> Result<Vec<DivergenceGroup>, HarnessError> {
        let started = std::time::Instant::now();
        let mut out = Vec::new();
        let mut groups = self.groups;
        for sig in self.order {
            let p = groups.remove(&sig).expect("every signature has its group");
            let spent_all = total.is_some_and(|t| started.elapsed() >= t);
            let mut g = shrink_group(sig, p, shrinker, budget, spent_all)?;
            g.counterexample.expecting = expecting;
            if let Some(dir) = found_dir {
                g.counterexample.path = super::save(dir, &g.counterexample).ok();
            }
            out.push(g);
        }
        out.sort_by(|a, b| b.count.cmp(&a.count).then(a.first_case.cmp(&b.first_case)));
        Ok(out)
    }
}

/// How a divergent case is shrunk: config, ops, the run that diverged, the signature to keep,
/// the budget.
pub type Shrinker<'a> = dyn Fn(&CaseConfig, Vec<Op>, Run, &Signature, ShrinkBudget) -> Result<Shrunk, HarnessError>
    + 'a;

fn shrink_group(
    sig: Signature,
    p: Pending,
    shrinker: &Shrinker<'_>,
    budget: ShrinkBudget,
    no_budget_left: bool,
) -> Result<DivergenceGroup, HarnessError> {
    let mut spent = ShrinkSpent {
        stopped_early: no_budget_left,
        ..ShrinkSpent::default()
    };
    let mut best: Option<Counterexample> = None;
    for (config, ops, run) in p.candidates.iter().filter(|_| !no_budget_left) {
        let left = ShrinkBudget {
            time: budget.time.saturating_sub(spent.time),
            runs: budget.runs.saturating_sub(spent.runs),
        };
        if left.runs == 0 || left.time.is_zero() {
            spent.stopped_early = true;
            break;
        }
        let s = shrinker(config, ops.clone(), run.clone(), &sig, left)?;
        spent.runs += s.spent.runs;
        spent.time += s.spent.time;
        spent.stopped_early |= s.spent.stopped_early;
        let cx = Counterexample {
            config: s.config,
            ops: s.ops,
            run: s.run,
            original_len: ops.len(),
            shrink_time: s.spent.time,
            path: None,
            reproduced: s.reproduced,
            not_shrunk: false,
            expecting: Default::default(),
        };
        let better = match &best {
            None => true,
            Some(b) => cx.reproduced && (!b.reproduced || cx.ops.len() < b.ops.len()),
        };
        if better {
            best = Some(cx);
        }
        if best.as_ref().is_some_and(|b| b.reproduced) {
            break;
        }
    }
    // Nothing shrunk (no budget was left): the first case as it ran.
    let cx = best.unwrap_or_else(|| {
        let (config, ops, run) = p.candidates[0].clone();
        Counterexample {
            config,
            original_len: ops.len(),
            ops,
            run,
            shrink_time: std::time::Duration::ZERO,
            path: None,
            reproduced: true,
            not_shrunk: true,
            expecting: Default::default(),
        }
    });
    Ok(DivergenceGroup {
        signature: sig,
        count: p.count,
        first_case: p.first_case,
        counterexample: cx,
        shrink: spent,
        known: None,
    })
}
