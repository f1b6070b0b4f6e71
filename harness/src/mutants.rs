//! The mutation self-test: does the campaign notice a wrong model?
//!
//! For each [`Mutant`] the ordinary kernel campaign ([`campaign::run`]: generated cases, each
//! drawing its own sysctls, a quarter on two hosts) runs with that fault switched on in the
//! model, until the first divergence or the budget. A mutant counts as **found** when the
//! campaign diverged, the shrunk case diverges again when re-run, and the same case agrees
//! with the unmutated model on the kernel (so the divergence is the mutant's, not a flaky
//! timer or a bug of the real model).
//!
//! Detection is always against the running kernel: the mutated model is the specification the
//! kernel is checked against, exactly as a buggy model would be.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tcpconform_model::{Mutant, Profile, RuleId};

use crate::campaign::{self, CampaignOptions, CampaignOutcome};
use crate::config::{CaseConfig, ConfigSpace};
use crate::generate::{self, GenOptions};

/// Cases per mutant that `tcpconform mutants` allows by default.
pub const DEFAULT_BUDGET: u32 = 2000;

/// What the self-test runs.
#[derive(Clone, Debug)]
pub struct MutantsOptions {
    /// The kernel profile the model predicts for.
    pub profile: Profile,
    /// Most cases per mutant.
    pub budget: u32,
    /// The generator's seed (the same for every mutant).
    pub seed: u64,
    /// The mutants to run, in order (all of them when empty).
    pub only: Vec<Mutant>,
    /// Where each mutant's shrunk scenario is written (`None`: not written).
    pub found_dir: Option<PathBuf>,
    /// Hand-written scenarios (name, scenario) whose expectations are also checked against
    /// each mutated model: a second detector beside the campaign, the test suite's own.
    pub scenarios: Vec<(String, crate::scenario::Scenario)>,
}

impl MutantsOptions {
    /// Every mutant, [`DEFAULT_BUDGET`] cases each.
    pub fn new(profile: Profile, seed: u64) -> Self {
        Self {
            profile,
            budget: DEFAULT_BUDGET,
            seed,
            only: Vec::new(),
            found_dir: None,
            scenarios: Vec::new(),
        }
    }

    /// The mutants this run covers.
    pub fn mutants(&self) -> Vec<Mutant> {
        if self.only.is_empty() {
            Mutant::ALL.to_vec()
        } else {
            self.only.clone()
        }
    }
}

/// The ops a campaign offers beyond its defaults so that `mutant` can show. Only
/// `fin-timeout-shortens-time-wait` needs any: the default campaign does not sleep (on a
/// kernel a sleep is real time) but for the reuse pause, and a TIME-WAIT that ends too early
/// only shows once time has passed, so it gets one sleep of 1.2 s per case (more than
/// `tcp_fin_timeout=1` plus the timer wheel's slack, far less than the real 60 s), also after
/// a reuse pause ([`generate::TW_REUSE_PAUSE_MS`]).
pub fn generation(mutant: Mutant) -> GenOptions {
    match mutant {
        Mutant::FinTimeoutShortensTimeWait => GenOptions {
            sleeps: vec![1_200],
            sleep_budget_ms: Some(1_200 + generate::TW_REUSE_PAUSE_MS),
            ..GenOptions::default()
        },
        _ => GenOptions::default(),
    }
}

/// The campaign that hunts one mutant.
pub fn campaign_options(mutant: Mutant, options: &MutantsOptions) -> CampaignOptions {
    let base = CaseConfig {
        mutant: Some(mutant),
        ..CaseConfig::defaults(options.profile)
    };
    let space = ConfigSpace::Generated {
        base,
        two_hosts: true,
    };
    let mut c = CampaignOptions::new(space, options.budget, options.seed);
    c.generation = generation(mutant);
    c.found_dir = options.found_dir.as_ref().map(|d| d.join(mutant.name()));
    // One divergence finds a mutant: stop there.
    c.stop_at_first = true;
    c
}

/// How one mutant fared.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MutantResult {
    /// The mutant.
    pub mutant: Mutant,
    /// Found: a divergence that reproduces and that the unmutated model does not have.
    pub found: bool,
    /// The number of the first case that diverged.
    pub cases_to_detection: Option<u64>,
    /// Wall time from the mutant's start to the end of that case.
    #[serde(with = "crate::secs::option")]
    pub time_to_detection: Option<Duration>,
    /// Calls in the shrunk scenario.
    pub shrunk_len: Option<usize>,
    /// Calls in the first diverging case.
    pub original_len: Option<usize>,
    /// The rule the mutated model decided the diverging call by.
    pub rule: Option<RuleId>,
    /// The shrunk scenario's file.
    pub scenario: Option<PathBuf>,
    /// Cases run before shrinking.
    pub cases: u64,
    /// Wall time, shrinking and the confirmation included.
    #[serde(with = "crate::secs")]
    pub elapsed: Duration,
    /// Why a divergence was not counted, or why the harness could not run.
    pub note: Option<String>,
    /// Set when the harness failed (not a verdict on the mutant).
    pub harness_failed: bool,
    /// The hand-written scenarios whose kernel-checked expectations the mutated model fails
    /// (and the unmutated model meets): the test suite's own verdict on the mutant.
    #[serde(default)]
    pub killed_by: Vec<String>,
}

/// The self-test's figures.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MutantsReport {
    /// The generator's seed.
    pub seed: u64,
    /// Cases allowed per mutant.
    pub budget: u32,
    /// One result per mutant, in the order run.
    pub results: Vec<MutantResult>,
    /// Wall time of the whole run.
    #[serde(with = "crate::secs")]
    pub elapsed: Duration,
}

/// The median of some numbers (the mean of the middle two for an even count).
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

impl MutantsReport {
    /// How many mutants were found.
    pub fn found(&self) -> usize {
        self.results.iter().filter(|r| r.found).count()
    }

    /// The mutants the campaign did not find (harness failures included).
    pub fn survivors(&self) -> Vec<Mutant> {
        self.results
            .iter()
            .filter(|r| !r.found)
            .map(|r| r.mutant)
            .collect()
    }

    /// Whether the harness failed on some mutant.
    pub fn harness_failed(&self) -> bool {
        self.results.iter().any(|r| r.harness_failed)
    }

    /// The median length of the shrunk scenarios of the found mutants.
    pub fn median_shrunk_len(&self) -> Option<f64> {
        median(
            self.results
                .iter()
                .filter(|r| r.found)
                .filter_map(|r| r.shrunk_len.map(|n| n as f64))
                .collect(),
        )
    }

    /// The median number of cases to detection of the found mutants.
    pub fn median_cases_to_detection(&self) -> Option<f64> {
        median(
            self.results
                .iter()
                .filter(|r| r.found)
                .filter_map(|r| r.cases_to_detection.map(|n| n as f64))
                .collect(),
        )
    }

    /// The table: one line per mutant.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<32} {:<6} {:>6} {:>8} {:>7} {:>9}  {}\n",
            "mutant", "found", "cases", "seconds", "shrunk", "scenarios", "rule / note"
        );
        for r in &self.results {
            let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
            let found = if r.harness_failed {
                "ERROR"
            } else if r.found {
                "yes"
            } else {
                "NO"
            };
            let tail = match (&r.note, r.rule) {
                (Some(n), _) => n.clone(),
                (None, Some(rule)) => rule.id().to_owned(),
                (None, None) => String::new(),
            };
            out.push_str(&format!(
                "{:<32} {:<6} {:>6} {:>8} {:>7} {:>9}  {}\n",
                r.mutant.name(),
                found,
                opt(r.cases_to_detection.map(|c| c.to_string())),
                opt(r
                    .time_to_detection
                    .map(|d| format!("{:.2}", d.as_secs_f64()))),
                opt(r.shrunk_len.map(|n| n.to_string())),
                r.killed_by.len(),
                tail
            ));
        }
        out
    }

    /// The summary line: found k/N, the medians, the total time.
    pub fn summary(&self) -> String {
        let f = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |x| format!("{x}"));
        format!(
            "found {}/{}  killed by the scenarios {}/{} (found by either: {}/{})  median shrunk \
             length {}  median cases to detection {}  budget {}  seed {}  total {:.1}s",
            self.found(),
            self.results.len(),
            self.results
                .iter()
                .filter(|r| !r.killed_by.is_empty())
                .count(),
            self.results.len(),
            self.results
                .iter()
                .filter(|r| r.found || !r.killed_by.is_empty())
                .count(),
            self.results.len(),
            f(self.median_shrunk_len()),
            f(self.median_cases_to_detection()),
            self.budget,
            self.seed,
            self.elapsed.as_secs_f64()
        )
    }
}

/// Hunts one mutant.
pub fn run_one(
    mutant: Mutant,
    options: &MutantsOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> MutantResult {
    let start = Instant::now();
    let report = campaign::run(&campaign_options(mutant, options), progress);
    let mut result = MutantResult {
        mutant,
        found: false,
        cases_to_detection: report.detection.map(|d| d.case),
        time_to_detection: report.detection.map(|d| d.elapsed),
        shrunk_len: None,
        original_len: None,
        rule: None,
        scenario: None,
        cases: report.cases,
        elapsed: Duration::ZERO,
        note: None,
        harness_failed: false,
        killed_by: scenarios_killing(mutant, options),
    };
    match report.outcome {
        CampaignOutcome::Passed => {
            result.note = Some(format!("survived {} cases", report.cases));
        }
        CampaignOutcome::HarnessFailed(e) => {
            result.harness_failed = true;
            result.note = Some(format!("harness: {e}"));
        }
        CampaignOutcome::Diverged(cx) => {
            result.shrunk_len = Some(cx.ops.len());
            result.original_len = Some(cx.original_len);
            result.rule = cx.run.divergence().map(|d| d.rule);
            result.scenario = cx.path.clone();
            // The same calls on the kernel against the model as specified.
            let clean = CaseConfig {
                mutant: None,
                ..cx.config.clone()
            };
            match campaign::run_case(&clean, &cx.ops) {
                Err(e) => {
                    result.harness_failed = true;
                    result.note = Some(format!("harness (confirming): {e}"));
                }
                Ok(_) if !cx.reproduced => {
                    result.note = Some("diverged once, not when run again".to_owned());
                }
                Ok(run) => match run.divergence() {
                    None => result.found = true,
                    Some(d) => {
                        result.note = Some(format!(
                            "the unmutated model diverges too (call {}, {}): not the mutant's",
                            d.index,
                            d.rule.id()
                        ));
                    }
                },
            }
        }
    }
    result.elapsed = start.elapsed();
    result
}

/// The scenarios of `options` whose expectations the model with `mutant` fails while the model
/// without it meets them (on the model alone: `replay` checks the same expectations on the
/// kernel).
pub fn scenarios_killing(mutant: Mutant, options: &MutantsOptions) -> Vec<String> {
    options
        .scenarios
        .iter()
        .filter(|(_, sc)| {
            let meets = |m| {
                crate::replay::predict_mutated(sc, options.profile, m)
                    .unmet
                    .is_empty()
            };
            meets(None) && !meets(Some(mutant))
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Runs the self-test. `progress` is told the mutant and the cases run so far.
pub fn run(options: &MutantsOptions, progress: &(dyn Fn(Mutant, u64) + Sync)) -> MutantsReport {
    let start = Instant::now();
    let results = options
        .mutants()
        .into_iter()
        .map(|m| run_one(m, options, &|n| progress(m, n)))
        .collect();
    MutantsReport {
        seed: options.seed,
        budget: options.budget,
        results,
        elapsed: start.elapsed(),
    }
}
