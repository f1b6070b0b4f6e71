//! Generated cases run on the model alone: no panic, and they reach most rules.

use std::collections::BTreeMap;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use tcpconform_harness::config::{CaseConfig, ConfigSpace};
use tcpconform_harness::generate;
use tcpconform_model::{Profile, RuleId};

#[test]
fn generated_cases_run_on_the_model_without_panicking() {
    let space = ConfigSpace::Fixed(CaseConfig::defaults(Profile::LINUX_6_18));
    let strategy = generate::cases(space, 30);
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let mut hits: BTreeMap<RuleId, u32> = BTreeMap::new();
    for _ in 0..300 {
        let (state, ops, _) = strategy.new_tree(&mut runner).expect("generates").current();
        let mut m = state.model.clone();
        let mut env = tcpconform_model::Env::new();
        for op in &ops {
            let b = m.step(op, &env);
            for r in &b.rules {
                *hits.entry(*r).or_default() += 1;
            }
            for (v, p) in &b.bindings {
                env.bind(v, *p);
            }
            m = b.model;
        }
    }
    let missing: Vec<&str> = RuleId::ALL
        .iter()
        .filter(|r| !hits.contains_key(r))
        .map(|r| r.id())
        .collect();
    eprintln!(
        "rules hit: {}/{}; never: {missing:?}",
        hits.len(),
        RuleId::ALL.len()
    );
    assert!(hits.len() > 30);
}
