//! The mutation self-test, short form: the deliberate faults of the model that the kernel
//! campaign finds within [`BUDGET`] cases (seed [`SEED`]) must still be found, the shrunk
//! scenarios must stay short, and each saved counterexample must give the same verdict in
//! [`REPLAYS`] replays. The faults it does not find there ([`LONG_FORM_ONLY`], with why) are
//! left to `tcpconform mutants`, and each must be caught by a hand-written scenario of
//! `tests/scenarios/` (its kernel-checked expectations fail under the mutant). A second,
//! model-only test checks that every mutant hook, those included, is live (it changes at
//! least one decision), with model unit tests for the hooks random cases rarely reach
//! ([`PINNED_BY_MODEL_TESTS`]).
//!
//! `TCPCONFORM_MUTANT_BUDGET` sets the cases per mutant (default [`BUDGET`]); `TCPCONFORM_SEED`
//! the seed (default [`SEED`], so that the figures repeat).

use std::time::Instant;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngSeed, TestRunner};
use tcpconform_harness::config::{CaseConfig, ConfigSpace};
use tcpconform_harness::generate::{self, GenOptions};
use tcpconform_harness::mutants::{self, MutantsOptions};
use tcpconform_harness::{kernel, replay, sandbox};
use tcpconform_model::{Env, Model, Mutant, Op, Profile};
use tcpconform_tests::{env_number, repo_root};

/// Cases per mutant in the short form: the campaign's default budget. A case takes a few
/// milliseconds, and the search stops at the first divergence, so the whole short form takes
/// about a minute on two cores.
const BUDGET: u32 = 2000;
/// The default seed of the short form.
const SEED: u64 = 1;
/// How many times each found mutant's saved counterexample is replayed.
const REPLAYS: u32 = 10;
/// The longest median shrunk scenario (calls) accepted. The target is 5; the mutants
/// measure 6 to 8 (a fault in closing needs a connection: socket, bind, listen, socket,
/// connect, then the close), so this guards against shrinking getting worse rather than
/// claiming the target.
const MAX_MEDIAN_SHRUNK_LEN: f64 = 8.0;

/// Mutants left to `tcpconform mutants`, with why (measured with `--seed 1` on Linux 6.18).
const LONG_FORM_ONLY: &[(Mutant, &str)] = &[
    (
        Mutant::ReusePortIgnoresUid,
        "found at case 2608 with seed 1, 500 with seed 3, not in 4000 with seed 2: another \
         user's SO_REUSEPORT bind onto root's SO_REUSEPORT port is a rare draw since the \
         generator's stream changed (backlogs 0 and 1, connect()'s port walk)",
    ),
    (
        Mutant::ConnectPortPerConnection,
        "found at case 101, but it once diverged only when the clock allowed (not when run again)",
    ),
    (
        Mutant::TwReuseLoopbackIgnored,
        "not found in 2000 cases at seeds 1-3 (at 761 with seed 4): a two-host reconnect over a \
         veth TIME-WAIT in a one-port range",
    ),
    (
        Mutant::FinTimeoutShortensTimeWait,
        "needs 1.2 s sleeps: minutes per thousand cases",
    ),
];

#[test]
fn the_kernel_campaign_finds_every_mutant_of_the_short_form() {
    if !sandbox::kernel_or_skip("the_kernel_campaign_finds_every_mutant_of_the_short_form") {
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
    options.scenarios = tcpconform_tests::scenario_files()
        .into_iter()
        .map(|f| {
            let sc = tcpconform_harness::scenario::parse_file(&f).expect("the scenarios parse");
            (f.display().to_string(), sc)
        })
        .collect();
    options.only = Mutant::ALL
        .iter()
        .copied()
        .filter(|m| !LONG_FORM_ONLY.iter().any(|(l, _)| l == m))
        .collect();
    println!(
        "mutants: {} of {}, at most {} cases each, seed {}, {profile}; long form only: {}",
        options.only.len(),
        Mutant::ALL.len(),
        options.budget,
        options.seed,
        LONG_FORM_ONLY
            .iter()
            .map(|(m, why)| format!("{m} ({why})"))
            .collect::<Vec<_>>()
            .join(", ")
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
        "the campaign missed {:?} within {} cases (seed {}): it no longer sees these faults",
        report
            .survivors()
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>(),
        options.budget,
        options.seed
    );
    // The campaign's long-form mutants must each be caught by a hand-written scenario (whose
    // expectations `tests/scenarios.rs` checks on the kernel).
    let uncaught: Vec<&str> = LONG_FORM_ONLY
        .iter()
        .map(|(m, _)| *m)
        .filter(|m| mutants::scenarios_killing(*m, &options).is_empty())
        .map(|m| m.name())
        .collect();
    assert!(
        uncaught.is_empty(),
        "no scenario of tests/scenarios catches {uncaught:?}, and the short form's campaign \
         does not run them"
    );
    // Each saved counterexample, replayed ten times (fresh namespaces each time), gives the
    // same verdict every time: a divergence under its mutant.
    for r in &report.results {
        let path = r
            .scenario
            .as_ref()
            .expect("a found mutant's scenario is saved");
        let sc = tcpconform_harness::scenario::parse_file(path).expect("a saved scenario parses");
        let verdicts = replay::replay_repeatedly(&sc, profile, Some(r.mutant), REPLAYS)
            .expect("the harness replays a saved counterexample");
        println!("{}: {}", r.mutant, verdicts.render());
        assert!(
            verdicts.stable(),
            "{}: {} changed verdict between replays: {}",
            r.mutant,
            path.display(),
            verdicts.render()
        );
        assert!(
            verdicts.verdicts[0].0.starts_with("FAIL"),
            "{}: {} no longer diverges under its mutant: {}",
            r.mutant,
            path.display(),
            verdicts.render()
        );
    }
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

/// Mutants whose decision the generated cases reach too rarely for this test (none in 2500
/// cases); each is pinned instead by a model unit test in `model/src/engine/tests.rs` that
/// shows the decision it changes.
const PINNED_BY_MODEL_TESTS: &[(Mutant, &str)] = &[
    (
        Mutant::ReusePortIgnoresUid,
        "reuseport_needs_one_user_unless_mutated",
    ),
    (
        Mutant::TimeWaitDropsReuseFlags,
        "time_wait_keeps_reuseaddr_unless_mutated",
    ),
    (
        Mutant::TwReuseLoopbackIgnored,
        "tw_reuse_2_takes_over_no_veth_time_wait_unless_mutated",
    ),
    (
        Mutant::TwTakeoverWithoutTimestamps,
        "time_wait_without_timestamps_is_never_taken_over_unless_mutated",
    ),
];

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
    let wanted: Vec<Mutant> = Mutant::ALL
        .iter()
        .copied()
        .filter(|m| !PINNED_BY_MODEL_TESTS.iter().any(|(p, _)| p == m))
        .collect();
    let mut live: Vec<(Mutant, usize)> = Vec::new();
    let tries = env_number("TCPCONFORM_MODEL_CASES", 10_000usize);
    for case in 1..=tries {
        if live.len() == wanted.len() {
            break;
        }
        let (state, ops, _) = strategy
            .new_tree(&mut runner)
            .expect("the generator draws cases")
            .current();
        for &m in &wanted {
            if !live.iter().any(|(l, _)| *l == m) && decisions_differ(&state.config, m, &ops) {
                live.push((m, case));
            }
        }
    }
    for (m, case) in &live {
        println!("{m}: a decision changes in generated case {case}");
    }
    println!("{:.1}s", start.elapsed().as_secs_f64());
    let dead: Vec<&str> = wanted
        .iter()
        .filter(|m| !live.iter().any(|(l, _)| l == *m))
        .map(|m| m.name())
        .collect();
    assert!(
        dead.is_empty(),
        "no generated case out of {tries} changes a decision of {dead:?}: dead hooks?"
    );
}
