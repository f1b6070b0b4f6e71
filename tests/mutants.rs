//! The mutation self-test, short form: every deliberate fault of the model must be found by the
//! kernel campaign within a small budget, and the shrunk scenarios must stay short. A second,
//! model-only test checks that every mutant hook is live (it changes at least one decision).
//!
//! `TCPCONFORM_MUTANT_BUDGET` sets the cases per mutant (default [`BUDGET`]); `TCPCONFORM_SEED`
//! the seed (default [`SEED`], so that the figures repeat). `tcpconform mutants` is the long
//! form (2000 cases per mutant).

use std::time::Instant;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngSeed, TestRunner};
use tcpconform_harness::config::{CaseConfig, ConfigSpace};
use tcpconform_harness::generate::{self, GenOptions};
use tcpconform_harness::mutants::{self, MutantsOptions};
use tcpconform_harness::{kernel, sandbox};
use tcpconform_model::{Env, Model, Mutant, Op, Profile};
use tcpconform_tests::{env_number, repo_root};

/// Cases per mutant in the short form.
const BUDGET: u32 = 600;
/// The default seed of the short form.
const SEED: u64 = 1;
/// The longest median shrunk scenario (calls) the self-test accepts.
const MAX_MEDIAN_SHRUNK_LEN: f64 = 5.0;

#[test]
fn the_kernel_campaign_finds_every_mutant() {
    if !sandbox::kernel_or_skip("the_kernel_campaign_finds_every_mutant") {
        return;
    }
    let start = Instant::now();
    let profile = kernel::running_profile().expect("the running kernel has a version");
    let mut options = MutantsOptions::new(profile, env_number("TCPCONFORM_SEED", SEED));
    options.budget = env_number("TCPCONFORM_MUTANT_BUDGET", BUDGET);
    options.found_dir = Some(
        repo_root()
            .join("target")
            .join("tcpconform-found")
            .join("mutants"),
    );
    println!(
        "mutants: {} mutants, at most {} cases each, seed {}, {profile}",
        Mutant::ALL.len(),
        options.budget,
        options.seed
    );
    let report = mutants::run(&options, &|_, _| {});
    print!("{}", report.table());
    println!("{}", report.summary());
    println!("wall time {:.1}s", start.elapsed().as_secs_f64());
    assert!(
        !report.harness_failed(),
        "the harness failed (not a verdict): {}",
        report.table()
    );
    assert!(
        report.survivors().is_empty(),
        "the campaign missed {:?} within {} cases (seed {}): it can no longer see these faults",
        report
            .survivors()
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>(),
        options.budget,
        options.seed
    );
    let median = report.median_shrunk_len().expect("every mutant was found");
    assert!(
        median <= MAX_MEDIAN_SHRUNK_LEN,
        "median shrunk length {median} calls, more than {MAX_MEDIAN_SHRUNK_LEN}"
    );
}

/// Runs `ops` on the unmutated model and on the model with `mutant`, both from `config`; true
/// at the first call where an outcome or the socket table differs.
fn decisions_differ(config: &CaseConfig, mutant: Mutant, ops: &[Op]) -> bool {
    let mut clean: Model = config.model();
    let mut mutated = config.model().with_mutant(Some(mutant));
    let mut env = Env::new();
    for op in ops {
        let a = clean.step(op, &env);
        let b = mutated.step(op, &env);
        if a.outcome != b.outcome || !a.model.snapshot().same_rows(&b.model.snapshot()) {
            return true;
        }
        for (v, p) in &a.bindings {
            env.bind(v, *p);
        }
        clean = a.model;
        mutated = b.model;
    }
    false
}

#[test]
fn every_mutant_changes_a_decision_of_the_model() {
    let start = Instant::now();
    let space = ConfigSpace::Generated {
        base: CaseConfig::defaults(Profile::LINUX_6_18),
        two_hosts: true,
    };
    // Virtual time is free on the model: the cases also sleep (TIME-WAITs age, and end).
    let generation = GenOptions {
        sleeps: vec![5, 1_200, 61_000],
        ..GenOptions::default()
    };
    let strategy = generate::cases_with(space, 24, generation);
    let mut runner = TestRunner::new(Config {
        rng_seed: RngSeed::Fixed(7),
        ..Config::default()
    });
    let mut live: Vec<(Mutant, usize)> = Vec::new();
    let tries = env_number("TCPCONFORM_MODEL_CASES", 20_000usize);
    for case in 1..=tries {
        if live.len() == Mutant::ALL.len() {
            break;
        }
        let (state, ops, _) = strategy
            .new_tree(&mut runner)
            .expect("the generator draws cases")
            .current();
        for &m in Mutant::ALL {
            if !live.iter().any(|(l, _)| *l == m) && decisions_differ(&state.config, m, &ops) {
                live.push((m, case));
            }
        }
    }
    for (m, case) in &live {
        println!("{m}: a decision changes in generated case {case}");
    }
    println!("{:.1}s", start.elapsed().as_secs_f64());
    let dead: Vec<&str> = Mutant::ALL
        .iter()
        .filter(|m| !live.iter().any(|(l, _)| l == *m))
        .map(|m| m.name())
        .collect();
    assert!(
        dead.is_empty(),
        "no generated case out of {tries} changes a decision of {dead:?}: dead hooks?"
    );
}
