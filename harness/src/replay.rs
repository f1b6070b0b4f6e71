//! Scenario files, run: `predict` on the model alone, `replay` on the kernel with the model in
//! lock-step. Both check the file's own expectations (results and tables).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use tcpconform_model::{
    Env, Hint, Model, Observed, Op, Outcome, Profile, RuleId, Snapshot, Topology,
};

use crate::config::CaseConfig;
use crate::error::HarnessError;
use crate::kernel::{CaseSystem, sandbox_spec};
use crate::lockstep::{LockStep, StepReport, System, Verdict, capture};
use crate::report::{PortNames, format_prediction, format_run};
use crate::sandbox::run_case;
use crate::scenario::{Scenario, Step, match_partial_table};

/// A file's expectation that did not hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmet {
    /// The 1-based call index.
    pub index: usize,
    /// The line in the file.
    pub line: usize,
    /// What did not hold.
    pub message: String,
}

/// What running a scenario found.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScenarioReport {
    /// The configuration it ran with.
    pub config: CaseConfig,
    /// The lock-step steps (for `predict`, the model's own answers with no kernel).
    pub run: crate::lockstep::Run,
    /// The file's expectations that did not hold.
    pub unmet: Vec<Unmet>,
    /// Whether a kernel was involved.
    pub on_kernel: bool,
}

impl ScenarioReport {
    /// Calls where the kernel did what the model does not allow.
    pub fn divergences(&self) -> usize {
        self.run
            .steps
            .iter()
            .filter(|s| s.verdict != Verdict::Agree)
            .count()
    }

    /// Whether everything held: the file's expectations and (on a kernel) the model.
    pub fn passed(&self) -> bool {
        self.unmet.is_empty() && self.divergences() == 0 && self.run.harness_error.is_none()
    }

    /// The report as text.
    pub fn render(&self, name: &str) -> String {
        let mut out = String::new();
        if self.on_kernel {
            let _ = writeln!(out, "== replay {name}");
            out.push_str(&format_run(&self.run, &self.config, &self.run.env, None));
        } else {
            let _ = writeln!(out, "== predict {name}");
            out.push_str(&format_prediction(&self.run, &self.config, &self.run.env));
        }
        for u in &self.unmet {
            let _ = writeln!(
                out,
                "EXPECTATION FAILED at call {} (line {}): {}",
                u.index, u.line, u.message
            );
        }
        let verdict = if self.run.harness_error.is_some() {
            "HARNESS FAILURE"
        } else if self.passed() {
            "PASS"
        } else {
            "FAIL"
        };
        let _ = writeln!(
            out,
            "{verdict}: {} calls, {} divergence(s) from the model, {} unmet expectation(s)",
            self.run.steps.len(),
            self.divergences(),
            self.unmet.len()
        );
        out
    }
}

impl ScenarioReport {
    /// The verdict in one line, what repeated replays of a file compare: `PASS`, `HARNESS
    /// FAILURE`, or `FAIL` with each divergence (call, kind, rule) and each unmet expectation
    /// (call). Timings and kernel-chosen ports are left out: they may differ between runs
    /// without the verdict changing. So are the steps the comparison followed (a port the
    /// stack chose where Linux would not: a random choice, not the same in every replay),
    /// unless nothing else failed.
    pub fn verdict_line(&self) -> String {
        if let Some(e) = &self.run.harness_error {
            return format!("HARNESS FAILURE: {e}");
        }
        if self.passed() {
            return "PASS".into();
        }
        let mut parts: Vec<String> = self
            .run
            .steps
            .iter()
            .filter(|s| s.verdict != Verdict::Agree && !s.followed)
            .map(|s| {
                let kind = match &s.verdict {
                    Verdict::Agree => "agrees",
                    Verdict::OutcomeDiffers => "outcome differs",
                    Verdict::TableDiffers => "table differs",
                    Verdict::PortNotAllowed(_) => "port not allowed",
                };
                format!("call {} {kind} ({})", s.index, s.rule.id())
            })
            .collect();
        parts.extend(
            self.unmet
                .iter()
                .map(|u| format!("call {} expectation unmet", u.index)),
        );
        if parts.is_empty() {
            parts.push("only ports Linux would not choose".to_owned());
        }
        format!("FAIL: {}", parts.join(", "))
    }
}

/// The verdicts of `times` replays of one scenario ([`replay_repeatedly`]).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RepeatedVerdicts {
    /// Each verdict line seen ([`ScenarioReport::verdict_line`]) and how many replays gave it.
    pub verdicts: Vec<(String, u32)>,
}

impl RepeatedVerdicts {
    /// Counts one replay's verdict line.
    pub fn count(&mut self, line: String) {
        match self.verdicts.iter_mut().find(|(v, _)| *v == line) {
            Some((_, n)) => *n += 1,
            None => self.verdicts.push((line, 1)),
        }
    }

    /// Whether every replay gave the same verdict.
    pub fn stable(&self) -> bool {
        self.verdicts.len() <= 1
    }

    /// How many replays ran.
    pub fn replays(&self) -> u32 {
        self.verdicts.iter().map(|(_, n)| n).sum()
    }

    /// One line: "10/10 FAIL: …", or every verdict with its count when they differ.
    pub fn render(&self) -> String {
        let n = self.replays();
        if self.stable() {
            let v = self.verdicts.first().map_or("", |(v, _)| v.as_str());
            return format!("{n}/{n} {v}");
        }
        let each: Vec<String> = self
            .verdicts
            .iter()
            .map(|(v, k)| format!("{k}/{n} {v}"))
            .collect();
        format!("VERDICT CHANGED between replays: {}", each.join("; "))
    }
}

/// Replays `scenario` `times` times ([`replay_mutated`], each in fresh namespaces) and
/// gathers the verdicts: a verdict that changes between replays of the same file is a bug of
/// the harness or the model, not noise to retry away. A replay the harness could not finish
/// is an error, not a verdict.
pub fn replay_repeatedly(
    scenario: &Scenario,
    profile: Profile,
    mutant: Option<tcpconform_model::Mutant>,
    times: u32,
) -> Result<RepeatedVerdicts, HarnessError> {
    let mut out = RepeatedVerdicts::default();
    for _ in 0..times {
        let report = replay_mutated(scenario, profile, mutant)?;
        // A harness failure is no verdict.
        if let Some(reason) = report.run.harness_error {
            return Err(HarnessError::MidCase {
                call: report.run.steps.len() + 1,
                reason,
            });
        }
        out.count(report.verdict_line());
    }
    Ok(out)
}

/// The configuration a scenario asks for on `profile` ([`Scenario::profile_on`]: the file's
/// release when it names another, its pinned variants over it).
pub fn scenario_config(scenario: &Scenario, profile: Profile) -> CaseConfig {
    CaseConfig {
        profile: scenario.profile_on(profile),
        two_hosts: scenario.hosts >= 2,
        sysctls: scenario.sysctls.clone(),
        mutant: None,
    }
}

fn model_for(config: &CaseConfig, scenario: &Scenario) -> Model {
    let mut topology: Topology = config.topology();
    for (h, ip) in &scenario.addresses {
        topology.add_address(*h, *ip);
    }
    Model::new(config.profile, topology, config.host_sysctls()).with_mutant(config.mutant)
}

/// Checks a step's expectations against what happened, binding table variables into `env`.
fn check_step(
    step: &Step,
    index: usize,
    outcome: Outcome,
    table: &Snapshot,
    env: &mut Env,
    unmet: &mut Vec<Unmet>,
) {
    if let Some(expect) = &step.expect
        && !expect.iter().any(|e| e.matches(outcome))
    {
        let want: Vec<String> = expect.iter().map(|o| o.to_string()).collect();
        unmet.push(Unmet {
            index,
            line: step.line,
            message: format!(
                "{} returned {outcome}, the file expects {}",
                step.op,
                want.join(" | ")
            ),
        });
    }
    if let Some(patterns) = &step.table
        && let Err(m) = match_partial_table(patterns, step.unlisted.as_ref(), table, env)
    {
        unmet.push(Unmet {
            index,
            line: step.line,
            message: format!("after {}: {m}", step.op),
        });
    }
    for assertion in &step.asserts {
        if let Err(why) = assertion.check(env) {
            unmet.push(Unmet {
                index,
                line: step.line,
                message: format!("after {}: {why}", step.op),
            });
        }
    }
}

/// Whether `step`'s table matches `table` (binding nothing).
fn table_matches(step: &Step, table: &Snapshot, env: &Env) -> bool {
    step.table.as_ref().is_none_or(|patterns| {
        match_partial_table(patterns, step.unlisted.as_ref(), table, &mut env.clone()).is_ok()
    })
}

/// How often a `| within …` table is read again.
const WITHIN_POLL_MS: u64 = 10;

/// The model's side of `| within N`: its table after the call, else after each further
/// [`WITHIN_POLL_MS`] of quiet up to N, the first that matches (the last one when none does),
/// with the model at that time (the run goes on from there, as time passed on a kernel).
fn model_table_within(step: &Step, after: &Model, env: &Env, within_ms: u64) -> (Snapshot, Model) {
    let mut model = after.clone();
    let mut table = model.snapshot();
    let mut waited = 0;
    while waited < within_ms && !table_matches(step, &table, env) {
        let ms = WITHIN_POLL_MS.min(within_ms - waited);
        model = model.step(&Op::Sleep { ms }, env).model;
        waited += ms;
        table = model.snapshot();
    }
    (table, model)
}

/// The system's side of `| within N`: `first` (read right after the call), else the table
/// read again every [`WITHIN_POLL_MS`] until it matches or N ms have passed.
fn system_table_within<S: System + ?Sized>(
    system: &mut S,
    step: &Step,
    first: Snapshot,
    env: &Env,
    within_ms: u64,
) -> Result<Snapshot, S::Error> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(within_ms);
    let mut table = first;
    while !table_matches(step, &table, env) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(WITHIN_POLL_MS));
        table = system.table()?;
    }
    Ok(table)
}

/// `predict`: runs a scenario on the model alone (any OS, no privileges).
pub fn predict(scenario: &Scenario, profile: Profile) -> ScenarioReport {
    predict_mutated(scenario, profile, None)
}

/// [`predict`] with `mutant` switched on in the model: the mutation self-test asks whether the
/// hand-written scenarios' expectations (checked on the kernel by `replay`) notice the fault.
pub fn predict_mutated(
    scenario: &Scenario,
    profile: Profile,
    mutant: Option<tcpconform_model::Mutant>,
) -> ScenarioReport {
    let config = CaseConfig {
        mutant,
        ..scenario_config(scenario, profile)
    };
    let mut model = model_for(&config, scenario);
    let mut env = Env::new();
    let mut unmet = Vec::new();
    let mut steps = Vec::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        let branches = model.branches(&step.op, &env, &Hint::default());
        // Follow the branch the file expects when the model allows it; else the first.
        let chosen = step
            .expect
            .as_ref()
            .and_then(|e| {
                branches
                    .iter()
                    .position(|b| e.iter().any(|x| x.matches(b.outcome)))
            })
            .unwrap_or(0);
        let b = &branches[chosen];
        for (v, p) in &b.bindings {
            env.bind(v, *p);
        }
        let table = b.model.snapshot();
        // A `| within` table waits: the model's clock moves on while it does, as the
        // kernel's does in a replay.
        let (file_table, after) = match step.table_within_ms {
            Some(ms) => model_table_within(step, &b.model, &env, ms),
            None => (table.clone(), b.model.clone()),
        };
        let mut allowed = Vec::new();
        for x in &branches {
            let a = crate::lockstep::Allowed {
                outcome: x.outcome,
                rule: x.rule,
            };
            if !allowed.contains(&a) {
                allowed.push(a);
            }
        }
        check_step(step, i + 1, b.outcome, &file_table, &mut env, &mut unmet);
        if b.rules.contains(&RuleId::NotModelled) {
            // A refusal is not a prediction: the report says so and the run does not pass.
            unmet.push(Unmet {
                index: i + 1,
                line: step.line,
                message: format!(
                    "{} is not modelled on {} ({})",
                    step.op,
                    config.profile,
                    RuleId::NotModelled.describe()
                ),
            });
        }
        steps.push(StepReport {
            index: i + 1,
            op: step.op.clone(),
            observed: Observed::outcome(b.outcome),
            kernel_table: table.clone(),
            allowed,
            model_table: table,
            model_full_table: None,
            rule: b.rule,
            rules: b.rules.clone(),
            verdict: Verdict::Agree,
            followed: false,
        });
        model = after;
    }
    ScenarioReport {
        config,
        run: crate::lockstep::Run {
            steps,
            harness_error: None,
            env,
        },
        unmet,
        on_kernel: false,
    }
}

/// `replay`: runs a scenario on the kernel in a fresh sandbox, with the model in lock-step;
/// every call is shown, every divergence flagged, and the file's expectations checked against
/// the kernel.
pub fn replay(scenario: &Scenario, profile: Profile) -> Result<ScenarioReport, HarnessError> {
    replay_mutated(scenario, profile, None)
}

/// [`replay`] against the model with `mutant` switched on (the mutation self-test's
/// counterexamples diverge only then).
pub fn replay_mutated(
    scenario: &Scenario,
    profile: Profile,
    mutant: Option<tcpconform_model::Mutant>,
) -> Result<ScenarioReport, HarnessError> {
    let config = CaseConfig {
        mutant,
        ..scenario_config(scenario, profile)
    };
    if config.profile.os != profile.os {
        return Err(HarnessError::OtherOs {
            profile: config.profile.to_string(),
            host: profile.os.to_string(),
        });
    }
    let model = model_for(&config, scenario);
    let spec = sandbox_spec(&config, &scenario.addresses);
    let steps = scenario.steps.clone();
    let replayed = run_case(&spec, move |case| {
        let mut system = CaseSystem {
            case,
            unsettled: false,
        };
        replay_steps(&mut system, LockStep::new(model), &steps, true)
    })?;
    Ok(kernel_report(config, replayed))
}

/// [`replay`] in gVisor ([`crate::gvisor`]): the file's calls in a gVisor sandbox, with the
/// model for Linux (with gVisor's sysctls) comparing what gVisor shows of the table.
#[cfg(target_os = "linux")]
pub fn replay_in_gvisor(
    target: &crate::gvisor::Target,
    scenario: &Scenario,
) -> Result<ScenarioReport, HarnessError> {
    let mut sc = scenario.clone();
    sc.profile = Some(crate::gvisor::PROFILE.release());
    sc.variants.clear();
    let config = scenario_config(&sc, crate::gvisor::PROFILE);
    let ls = target.lockstep(&config, &scenario.addresses)?;
    let replayed = target.with_case(&config, &scenario.addresses, |system| {
        replay_steps(system, ls, &scenario.steps, false)
    })?;
    Ok(kernel_report(config, replayed))
}

/// A replay's steps, the file's unmet expectations, the harness failure that stopped it (if
/// any) and the port variables.
type Replayed = (Vec<StepReport>, Vec<Unmet>, Option<String>, Env);

/// The report of a replay on a kernel (or gVisor) under `config`.
fn kernel_report(config: CaseConfig, replayed: Replayed) -> ScenarioReport {
    let (steps, unmet, harness_error, env) = replayed;
    ScenarioReport {
        config,
        run: crate::lockstep::Run {
            steps,
            harness_error,
            env,
        },
        unmet,
        on_kernel: true,
    }
}

/// Runs a file's steps on `system` with the model in lock-step (following the kernel after a
/// divergence), checking the file's expectations against what the kernel did.
/// `check_tables`: whether the file's `|` tables are checked against what the system shows
/// (not in gVisor, which shows only part of the table: there the model, comparing what gVisor
/// can show, is the check).
fn replay_steps<S: System + ?Sized>(
    system: &mut S,
    mut ls: LockStep,
    steps_in: &[Step],
    check_tables: bool,
) -> Replayed {
    ls.continue_after_divergence = true;
    let mut unmet = Vec::new();
    let mut steps = Vec::new();
    let mut clock = crate::lockstep::Stopwatch::start();
    for (i, step) in steps_in.iter().enumerate() {
        clock.call_starts();
        let observed = match system.exec(&step.op, &ls.env) {
            Ok(o) => o,
            Err(e) => return (steps, unmet, Some(e.to_string()), ls.env),
        };
        clock.call_returned();
        let table = match system.table() {
            Ok(t) => t,
            Err(e) => return (steps, unmet, Some(e.to_string()), ls.env),
        };
        let report = ls.step(
            i + 1,
            &step.op,
            observed,
            table.clone(),
            Some(clock.table_read()),
        );
        if report.verdict != Verdict::Agree {
            capture(&step.op, &observed, &mut ls.env);
        }
        let step_tables = Step {
            table: step.table.clone().filter(|_| check_tables),
            ..step.clone()
        };
        let table = match step.table_within_ms.filter(|_| check_tables) {
            Some(ms) => match system_table_within(system, step, table, &ls.env, ms) {
                Ok(t) => t,
                Err(e) => return (steps, unmet, Some(e.to_string()), ls.env),
            },
            None => table,
        };
        check_step(
            &step_tables,
            i + 1,
            observed.outcome,
            &table,
            &mut ls.env,
            &mut unmet,
        );
        steps.push(report);
    }
    (steps, unmet, None, ls.env)
}

/// Names ports of a table for display (used by `--table` printing).
pub fn names_for(env: &Env, ops: &[Op]) -> PortNames {
    PortNames::new(env, ops)
}
