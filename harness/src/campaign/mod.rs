//! The conformance campaign: random cases, each run on the kernel (in a fresh sandbox) and the
//! model in lock-step. By default it keeps going after a divergence: every divergent case is
//! put in its [group](groups) (by what the divergence is), and each group's shortest case is
//! [shrunk](shrink) within a budget and saved as a scenario file anyone can replay. With
//! `stop_at_first` it stops at the first divergence, as proptest does.

pub mod groups;
pub mod render;
pub mod shrink;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
use serde::{Deserialize, Serialize};
pub use shrink::{ShrinkBudget, ShrinkSpent, well_formed};
use tcpconform_model::{Op, RuleId};

use crate::config::{CaseConfig, ConfigSpace};
use crate::digest::RunDigest;
use crate::error::HarnessError;
use crate::generate;
use crate::kernel::Backend;
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
    /// Stop at the first divergence (and shrink it) instead of running every case.
    pub stop_at_first: bool,
    /// What shrinking each group may spend.
    pub shrink_budget: ShrinkBudget,
    /// Extra kinds of ops (sleeps) and the sysctls the cases must not change.
    pub generation: generate::GenOptions,
    /// Keep a line per case in the report's digest ([`RunDigest::lines`]).
    pub record: bool,
    /// Where the cases run.
    pub backend: Backend,
    /// Hold every reading of the socket table that kept the bound, inactive rows without
    /// walking the bind hash against a walk, a failure being the harness's (Linux; see
    /// [`crate::observer::check_readings_against_walks`]).
    pub check_readings: bool,
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
            stop_at_first: false,
            shrink_budget: ShrinkBudget::default(),
            generation: generate::GenOptions::default(),
            record: false,
            backend: Backend::Kernel,
            check_readings: false,
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
    #[serde(with = "crate::secs")]
    pub shrink_time: Duration,
    /// The scenario file it was saved to.
    pub path: Option<PathBuf>,
    /// Whether the shrunk case diverged again when it was re-run. `false`: the divergence
    /// depends on timing; `ops` and `run` are the case as it diverged, unshrunk.
    #[serde(default = "yes")]
    pub reproduced: bool,
    /// No shrink budget was left for it: `ops` and `run` are the case as it first diverged,
    /// not run again.
    #[serde(default)]
    pub not_shrunk: bool,
    /// What its scenario file expects of each call.
    #[serde(default)]
    pub expecting: report::Expecting,
}

impl Counterexample {
    /// Its scenario file, expecting what [`Self::expecting`] says.
    pub fn scenario(&self) -> crate::scenario::Scenario {
        match self.expecting {
            report::Expecting::KernelResults => report::counterexample_scenario(self),
            report::Expecting::ModelResults => report::model_results_scenario(self),
        }
    }

    /// One line on how the counterexample was reduced: "a case of 22 calls shrank to 7 in
    /// 1.2s", or, when the shrunk case passed when run again, that the divergence depends on
    /// timing and is shown as it ran.
    pub fn headline(&self) -> String {
        if self.not_shrunk {
            format!(
                "not shrunk (the shrink budget was spent on other divergences); as it ran, {} \
                 calls",
                self.ops.len()
            )
        } else if self.reproduced {
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
    /// The kernel did something the model does not allow: the most frequent divergence's
    /// shrunk case (every distinct one is in [`CampaignReport::groups`]).
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
    #[serde(with = "crate::secs")]
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
    #[serde(with = "crate::secs")]
    pub elapsed: Duration,
    /// How many cases diverged.
    #[serde(default)]
    pub divergent_cases: u64,
    /// Every distinct divergence, most frequent first.
    #[serde(default)]
    pub groups: Vec<groups::DivergenceGroup>,
    /// How the groups stand against a baseline, when one was given
    /// ([`CampaignReport::judge`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<crate::baseline::Judgement>,
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

impl CampaignReport {
    /// Marks the groups `baseline` knows, for a run predicting for `profile` (named
    /// `profile_name`: `linux-6.18`, `gvisor`) on `kernel`.
    pub fn judge(
        &mut self,
        baseline: &crate::baseline::Baseline,
        profile: &tcpconform_model::Profile,
        profile_name: &str,
        kernel: Option<&str>,
    ) {
        let j = baseline.judge(&mut self.groups, profile, profile_name, kernel);
        self.baseline = Some(j);
    }

    /// The divergence groups no baseline entry knows.
    pub fn new_groups(&self) -> impl Iterator<Item = &groups::DivergenceGroup> {
        self.groups.iter().filter(|g| g.known.is_none())
    }

    /// Whether the run passes: the harness ran every case, and every divergence (if any) is
    /// known to the baseline.
    pub fn passed(&self) -> bool {
        !matches!(self.outcome, CampaignOutcome::HarnessFailed(_))
            && self.new_groups().next().is_none()
    }
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

/// Runs one case on the kernel: the config's sandbox, the ops, the model in lock-step.
/// A case the harness could not finish is a [`HarnessError`], never a pass.
pub fn run_case(config: &CaseConfig, ops: &[Op]) -> Result<Run, HarnessError> {
    run_case_on(&Backend::Kernel, config, ops)
}

/// [`run_case`] on `backend`.
pub fn run_case_on(
    backend: &Backend,
    config: &CaseConfig,
    ops: &[Op],
) -> Result<Run, HarnessError> {
    let run = backend.run(config, &[], ops, false)?;
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
    #[cfg(target_os = "linux")]
    if options.check_readings {
        crate::observer::check_readings_against_walks(true);
    }
    let tally = Tally {
        digest: Mutex::new(RunDigest::new(options.record)),
        ..Tally::default()
    };
    let strategy = generate::cases_with(
        options.space.clone(),
        options.max_len,
        options.generation.clone(),
    );
    // proptest only draws the cases: shrinking is ours (`shrink`), which keeps a divergence's
    // signature and a budget.
    let config = Config {
        cases: options.cases,
        max_shrink_iters: 0,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(options.seed),
        max_local_rejects: 1 << 20,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let found: Mutex<groups::Collector> = Mutex::new(groups::Collector::default());
    let divergent = AtomicU64::new(0);
    // The third element counts transitions for proptest-state-machine's own shrinking, which
    // is not used (it must stay untouched: proptest reads the failing value back).
    let result = runner.run(&strategy, |(state, ops, _)| {
        if tally.harness_error.lock().expect("lock").is_some() {
            return Err(TestCaseError::fail("harness failed earlier"));
        }
        let run = match run_case_on(&options.backend, &state.config, &ops) {
            Ok(run) => run,
            Err(e) => {
                // The case as a scenario file, so that it can be looked at and replayed.
                let case = report::case_scenario(&state.config, &ops).to_text();
                let case: String = (case.lines())
                    .map(|l| format!("\n    {l}").trim_end().to_owned())
                    .collect();
                let e = format!("{e}\n  the case:{case}");
                *tally.harness_error.lock().expect("lock") = Some(e.clone());
                return Err(TestCaseError::fail(format!("harness: {e}")));
            }
        };
        tally.record(&ops, &run);
        let case = tally.cases.load(Ordering::Relaxed);
        progress(case);
        if let Some(d) = run.divergence() {
            divergent.fetch_add(1, Ordering::Relaxed);
            tally
                .detection
                .lock()
                .expect("lock")
                .get_or_insert(Detection {
                    case,
                    elapsed: start.elapsed(),
                });
            found
                .lock()
                .expect("lock")
                .add(case, &state.config, &ops, &run);
            if options.stop_at_first {
                return Err(TestCaseError::fail(format!(
                    "divergence at step {}",
                    d.index
                )));
            }
        }
        Ok(())
    });
    let cases_before_shrink = tally.cases.load(Ordering::Relaxed);
    tally
        .cases_before_shrink
        .store(cases_before_shrink, Ordering::Relaxed);
    if let Some(e) = tally.harness_error.lock().expect("lock").clone() {
        return report_of(
            options,
            &tally,
            start,
            CampaignOutcome::HarnessFailed(e),
            Vec::new(),
            &divergent,
        );
    }
    if let Err(TestError::Abort(why)) = result {
        let outcome = CampaignOutcome::HarnessFailed(format!("aborted: {why}"));
        return report_of(options, &tally, start, outcome, Vec::new(), &divergent);
    }
    let found = found.into_inner().expect("lock");
    if found.is_empty() {
        return report_of(
            options,
            &tally,
            start,
            CampaignOutcome::Passed,
            Vec::new(),
            &divergent,
        );
    }
    let backend = &options.backend;
    let runner = |config: &CaseConfig, ops: &[Op]| run_case_on(backend, config, ops);
    let shrinker = |config: &CaseConfig, ops, run, sig: &groups::Signature, budget| {
        shrink::shrink(&runner, config, ops, run, Some(sig), budget)
    };
    match found.shrink_all(
        &shrinker,
        options.shrink_budget,
        None,
        options.found_dir.as_deref(),
        options.backend.expecting(),
    ) {
        Ok(groups) => {
            let top = Box::new(groups[0].counterexample.clone());
            report_of(
                options,
                &tally,
                start,
                CampaignOutcome::Diverged(top),
                groups,
                &divergent,
            )
        }
        Err(e) => {
            let outcome = CampaignOutcome::HarnessFailed(format!("while shrinking: {e}"));
            report_of(options, &tally, start, outcome, Vec::new(), &divergent)
        }
    }
}

fn report_of(
    options: &CampaignOptions,
    tally: &Tally,
    start: Instant,
    outcome: CampaignOutcome,
    groups: Vec<groups::DivergenceGroup>,
    divergent: &AtomicU64,
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
        divergent_cases: divergent.load(Ordering::Relaxed),
        groups,
        baseline: None,
        detection: *tally.detection.lock().expect("lock"),
        outcome,
        digest: tally.digest.lock().expect("lock").clone(),
    }
}

/// Writes a counterexample as a scenario file in `dir`; returns its path.
pub fn save(dir: &Path, cx: &Counterexample) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let text = cx.scenario().to_text();
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
