//! The conformance campaign: random cases, each run on the kernel (in a fresh sandbox) and the
//! model in lock-step; a divergence is shrunk to a short scenario and saved as a file anyone can
//! replay.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
use serde::{Deserialize, Serialize};
use tcpconform_model::{Op, RuleId};

use crate::config::{CaseConfig, ConfigSpace};
use crate::digest::RunDigest;
use crate::error::HarnessError;
use crate::generate;
use crate::kernel::run_on_kernel;
use crate::lockstep::Run;
use crate::report;

/// What a campaign runs.
#[derive(Clone, Debug)]
pub struct CampaignOptions {
    /// How many random cases.
    pub cases: u32,
    /// The seed of the case generator (printed, so a run can be repeated).
    pub seed: u64,
    /// Most ops in one case.
    pub max_len: usize,
    /// The configurations cases are drawn from.
    pub space: ConfigSpace,
    /// Where shrunk counterexamples are written (`None`: not written).
    pub found_dir: Option<PathBuf>,
    /// How many shrinking steps proptest may take before the final delta-debugging pass.
    pub max_shrink_iters: u32,
    /// Extra kinds of ops (sleeps) and the sysctls the cases must not change.
    pub generation: generate::GenOptions,
    /// Keep a line per case in the report's digest ([`RunDigest::lines`]).
    pub record: bool,
}

impl CampaignOptions {
    /// Options with the defaults the CLI and `cargo test` use.
    pub fn new(space: ConfigSpace, cases: u32, seed: u64) -> Self {
        Self {
            cases,
            seed,
            max_len: 24,
            space,
            found_dir: None,
            max_shrink_iters: 2048,
            generation: generate::GenOptions::default(),
            record: false,
        }
    }
}

impl CampaignOptions {
    /// The campaign this host's backend can run from `base` when no configuration is imposed.
    ///
    /// On Linux every case draws its own sysctls around `base` and a quarter of the cases run
    /// on two hosts. Elsewhere every case uses `base` on one host and no case writes a
    /// sysctl: the generated settings are Linux keys, and the macOS backend may write none.
    pub fn for_this_host(base: CaseConfig, cases: u32, seed: u64) -> Self {
        use tcpconform_model::profile::Os;
        if base.profile.os == Os::Linux && crate::sandbox::BACKEND.sysctls {
            let space = ConfigSpace::Generated {
                base,
                two_hosts: crate::sandbox::BACKEND.two_hosts,
            };
            return Self::new(space, cases, seed);
        }
        let mut options = Self::new(ConfigSpace::Fixed(base), cases, seed);
        options.generation.frozen = tcpconform_model::SysctlKey::ALL.iter().copied().collect();
        options
    }
}

/// A divergence, shrunk.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Counterexample {
    /// The configuration of the case.
    pub config: CaseConfig,
    /// The shrunk ops.
    pub ops: Vec<Op>,
    /// The lock-step run of the shrunk ops (its last step is the divergence).
    pub run: Run,
    /// How many ops the failing case had before shrinking.
    pub original_len: usize,
    /// How long shrinking took.
    pub shrink_time: Duration,
    /// The scenario file it was saved to.
    pub path: Option<PathBuf>,
    /// Whether the shrunk case diverged again when it was re-run. `false`: the divergence
    /// depends on timing; `ops` and `run` are the case as it diverged, unshrunk.
    #[serde(default = "yes")]
    pub reproduced: bool,
}

impl Counterexample {
    /// One line on how the counterexample was reduced: "a case of 22 calls shrank to 7 in
    /// 1.2s", or, when the shrunk case passed when run again, that the divergence depends on
    /// timing and is shown as it ran.
    pub fn headline(&self) -> String {
        if self.reproduced {
            format!(
                "a case of {} calls shrank to {} in {:.2}s",
                self.original_len,
                self.ops.len(),
                self.shrink_time.as_secs_f64()
            )
        } else {
            format!(
                "a case diverged once but not when run again (timing-dependent); shown as it \
                 ran, {} calls",
                self.ops.len()
            )
        }
    }
}

fn yes() -> bool {
    true
}

/// How a campaign ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum CampaignOutcome {
    /// Every case agreed with the model.
    Passed,
    /// The kernel did something the model does not allow.
    Diverged(Box<Counterexample>),
    /// The harness could not run a case (reason); this is neither a pass nor a divergence.
    HarnessFailed(String),
}

/// When a campaign first saw a divergence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detection {
    /// The 1-based number of the first case that diverged.
    pub case: u64,
    /// Wall time from the campaign's start to the end of that case.
    pub elapsed: Duration,
}

/// A campaign's figures.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CampaignReport {
    /// The generator's seed.
    pub seed: u64,
    /// Cases run (including shrinking's re-runs, counted apart).
    pub cases: u64,
    /// Cases run while shrinking.
    pub shrink_cases: u64,
    /// Calls run on the kernel.
    pub calls: u64,
    /// How often each rule decided or took part in a call.
    pub rules_hit: BTreeMap<RuleId, u64>,
    /// Wall time.
    pub elapsed: Duration,
    /// The first divergence, before any shrinking (`None`: no case diverged).
    #[serde(default)]
    pub detection: Option<Detection>,
    /// How it ended.
    pub outcome: CampaignOutcome,
    /// Hashes of every case run (shrinking's re-runs included): two runs of the same seed
    /// must have the same.
    #[serde(default)]
    pub digest: RunDigest,
}

/// Counters shared by the cases of a campaign.
#[derive(Default)]
struct Tally {
    cases: AtomicU64,
    cases_before_shrink: AtomicU64,
    calls: AtomicU64,
    rules: Mutex<BTreeMap<RuleId, u64>>,
    harness_error: Mutex<Option<String>>,
    digest: Mutex<RunDigest>,
    detection: Mutex<Option<Detection>>,
}

impl Tally {
    fn record(&self, ops: &[Op], run: &Run) {
        self.digest.lock().expect("tally lock").add(ops, run);
        self.cases.fetch_add(1, Ordering::Relaxed);
        self.calls
            .fetch_add(run.steps.len() as u64, Ordering::Relaxed);
        let mut rules = self.rules.lock().expect("tally lock");
        for s in &run.steps {
            for r in &s.rules {
                *rules.entry(*r).or_default() += 1;
            }
        }
    }
}

/// Runs one case: the config's sandbox, the ops, the model in lock-step.
/// A case the harness could not finish is a [`HarnessError`], never a pass.
pub fn run_case(config: &CaseConfig, ops: &[Op]) -> Result<Run, HarnessError> {
    let run = run_on_kernel(config, &[], ops, false)?;
    match run.harness_error {
        Some(reason) => Err(HarnessError::MidCase {
            call: run.steps.len() + 1,
            reason,
        }),
        None => Ok(run),
    }
}

/// Runs a campaign. `progress` is called after every case with the number of cases done.
///
/// The cases run as the host's backend runs a series ([`crate::sandbox::run_cases`]; on Linux
/// in place on one case thread); if that cannot be set up, each case is set up on its own
/// (and reports why it failed).
pub fn run(options: &CampaignOptions, progress: &(dyn Fn(u64) + Sync)) -> CampaignReport {
    crate::sandbox::run_cases(|| run_here(options, progress))
        .unwrap_or_else(|_| run_here(options, progress))
}

fn run_here(options: &CampaignOptions, progress: &(dyn Fn(u64) + Sync)) -> CampaignReport {
    let start = Instant::now();
    let tally = Tally {
        digest: Mutex::new(RunDigest::new(options.record)),
        ..Tally::default()
    };
    let strategy = generate::cases_with(
        options.space.clone(),
        options.max_len,
        options.generation.clone(),
    );
    let config = Config {
        cases: options.cases,
        max_shrink_iters: options.max_shrink_iters,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(options.seed),
        max_local_rejects: 1 << 20,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let first_failure: Mutex<Option<usize>> = Mutex::new(None);
    // The shortest case that diverged, as it ran. Shrinking starts from it rather than from
    // proptest's final value, which is not always one that failed (a value tree that cannot
    // undo its last simplification leaves a passing value current).
    let smallest: Mutex<Option<(CaseConfig, Vec<Op>, Run)>> = Mutex::new(None);
    let result = runner.run(&strategy, |(state, ops, seen)| {
        if tally.harness_error.lock().expect("lock").is_some() {
            return Err(TestCaseError::fail("harness failed earlier"));
        }
        let run = match run_case(&state.config, &ops) {
            Ok(run) => run,
            Err(e) => {
                *tally.harness_error.lock().expect("lock") = Some(e.to_string());
                return Err(TestCaseError::fail(format!("harness: {e}")));
            }
        };
        if let Some(seen) = seen {
            seen.store(run.steps.len(), Ordering::SeqCst);
        }
        tally.record(&ops, &run);
        progress(tally.cases.load(Ordering::Relaxed));
        if let Some(d) = run.divergence() {
            first_failure.lock().expect("lock").get_or_insert(ops.len());
            tally
                .detection
                .lock()
                .expect("lock")
                .get_or_insert(Detection {
                    case: tally.cases.load(Ordering::Relaxed),
                    elapsed: start.elapsed(),
                });
            let upto = (d.index + 1).min(ops.len());
            let mut smallest = smallest.lock().expect("lock");
            if smallest
                .as_ref()
                .is_none_or(|(_, best, _)| upto < best.len())
            {
                *smallest = Some((state.config, ops[..upto].to_vec(), run.clone()));
            }
            return Err(TestCaseError::fail(format!(
                "divergence at step {}",
                d.index
            )));
        }
        Ok(())
    });
    let cases_before_shrink = tally.cases.load(Ordering::Relaxed);
    tally
        .cases_before_shrink
        .store(cases_before_shrink, Ordering::Relaxed);
    let outcome = if let Some(e) = tally.harness_error.lock().expect("lock").clone() {
        CampaignOutcome::HarnessFailed(e)
    } else {
        match result {
            Ok(()) => CampaignOutcome::Passed,
            Err(TestError::Fail(_, (state, ops, _))) => {
                let shrink_start = Instant::now();
                let original_len = first_failure.lock().expect("lock").unwrap_or(ops.len());
                let (config, ops, diverged) = match smallest.into_inner().expect("lock") {
                    Some(found) => found,
                    // Unreachable in practice: a failure is recorded before it is returned.
                    None => {
                        let run = run_case(&state.config, &ops);
                        match run {
                            Ok(run) => (state.config, ops, run),
                            Err(e) => {
                                return report_of(
                                    options,
                                    &tally,
                                    start,
                                    CampaignOutcome::HarnessFailed(e.to_string()),
                                );
                            }
                        }
                    }
                };
                let shrunk = minimize(&config, ops, diverged).and_then(|(ops, run, reproduced)| {
                    if !reproduced {
                        return Ok((config.clone(), ops, run, false));
                    }
                    let (config, run) = minimize_config(&config, &ops, run)?;
                    Ok((config, ops, run, true))
                });
                match shrunk {
                    Ok((config, ops, run, reproduced)) => {
                        let mut cx = Counterexample {
                            config,
                            ops,
                            run,
                            original_len,
                            shrink_time: shrink_start.elapsed(),
                            path: None,
                            reproduced,
                        };
                        if let Some(dir) = &options.found_dir {
                            cx.path = save(dir, &cx).ok();
                        }
                        CampaignOutcome::Diverged(Box::new(cx))
                    }
                    Err(e) => CampaignOutcome::HarnessFailed(e.to_string()),
                }
            }
            Err(TestError::Abort(why)) => CampaignOutcome::HarnessFailed(format!("aborted: {why}")),
        }
    };
    report_of(options, &tally, start, outcome)
}

fn report_of(
    options: &CampaignOptions,
    tally: &Tally,
    start: Instant,
    outcome: CampaignOutcome,
) -> CampaignReport {
    let cases_before_shrink = tally.cases_before_shrink.load(Ordering::Relaxed);
    let cases = tally.cases.load(Ordering::Relaxed);
    CampaignReport {
        seed: options.seed,
        cases: cases_before_shrink.min(u64::from(options.cases)),
        shrink_cases: cases.saturating_sub(cases_before_shrink.min(u64::from(options.cases))),
        calls: tally.calls.load(Ordering::Relaxed),
        rules_hit: tally.rules.lock().expect("lock").clone(),
        elapsed: start.elapsed(),
        detection: *tally.detection.lock().expect("lock"),
        outcome,
        digest: tally.digest.lock().expect("lock").clone(),
    }
}

/// Delta debugging after proptest's shrinking: removes chunks, then single ops, while the case
/// still diverges, until no single op can go. Ops a later op needs (its socket's `socket()`,
/// the op that binds a variable it uses) are removed only together with it, because the
/// shortened case must still parse.
///
/// `diverged` is the run in which `ops` diverged. If `ops` no longer diverge when run again,
/// the divergence depends on timing: `ops` and `diverged` come back unshrunk, with `false`.
pub fn minimize(
    config: &CaseConfig,
    ops: Vec<Op>,
    diverged: Run,
) -> Result<(Vec<Op>, Run, bool), HarnessError> {
    let mut best = ops;
    let mut best_run = run_case(config, &best)?;
    if best_run.divergence().is_none() {
        return Ok((best, diverged, false));
    }
    // Cut everything after the divergence.
    let at = best_run.divergence().map_or(best.len(), |d| d.index);
    best.truncate(at);
    let mut chunk = (best.len() / 2).max(1);
    loop {
        let mut progress = false;
        let mut i = 0;
        while i < best.len() {
            let end = (i + chunk).min(best.len());
            let mut candidate: Vec<Op> = best[..i].to_vec();
            candidate.extend_from_slice(&best[end..]);
            if !candidate.is_empty() && well_formed(config, &candidate) {
                let run = run_case(config, &candidate)?;
                if let Some(d) = run.divergence() {
                    let at = d.index;
                    candidate.truncate(at);
                    best = candidate;
                    best_run = run;
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
/// diverges, then the second host, so that the scenario names only the settings and hosts
/// the divergence needs. `run` is the
/// diverging run of `ops` under `config`.
pub fn minimize_config(
    config: &CaseConfig,
    ops: &[Op],
    run: Run,
) -> Result<(CaseConfig, Run), HarnessError> {
    let mut best = config.clone();
    let mut best_run = run;
    let mut i = 0;
    while i < best.sysctls.len() {
        let mut candidate = best.clone();
        candidate.sysctls.remove(i);
        if crate::config::validate(&candidate).is_ok() && well_formed(&candidate, ops) {
            let run = run_case(&candidate, ops)?;
            if run.divergence().is_some_and(|d| d.index == ops.len()) {
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
        if crate::config::validate(&candidate).is_ok() && well_formed(&candidate, ops) {
            let run = run_case(&candidate, ops)?;
            if run.divergence().is_some_and(|d| d.index == ops.len()) {
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

/// Writes a counterexample as a scenario file in `dir`; returns its path.
pub fn save(dir: &Path, cx: &Counterexample) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let text = report::counterexample_scenario(cx).to_text();
    let rule = cx.run.divergence().map_or("unknown", |d| d.rule.id());
    let mut n = 1;
    loop {
        let path = dir.join(format!("{}-{n:04}.scn", rule.replace('.', "-")));
        if !path.exists() {
            std::fs::write(&path, text)?;
            return Ok(path);
        }
        n += 1;
    }
}
