//! The behaviour variants on the running kernel: the fingerprint's value of each is the one a
//! direct replay of its probe agrees with, and the other value's model is refused by it.
//!
//! The model-only half (each probe, fed what a kernel with either value would do, picks that
//! value whatever the other variants) is a unit test of `tcpconform_harness::fingerprint`.

use tcpconform_harness::fingerprint::{self, Decided, probe_scenario};
use tcpconform_harness::{replay, sandbox};
use tcpconform_model::VariantSetting;
use tcpconform_model::variant::{Probe, VARIANTS};

#[test]
fn every_probed_value_is_the_one_a_direct_replay_agrees_with() {
    if !sandbox::on_os_or_skip(
        "every_probed_value_is_the_one_a_direct_replay_agrees_with",
        tcpconform_model::profile::Os::Linux,
        "the variants are Linux's",
    ) {
        return;
    }
    if !sandbox::kernel_or_skip("every_probed_value_is_the_one_a_direct_replay_agrees_with") {
        return;
    }
    let fp = fingerprint::fingerprint().expect("the running kernel is probed");
    println!("{}", fp.render());
    let mut failures = Vec::new();
    for spec in VARIANTS {
        let e = fp
            .evidence
            .iter()
            .find(|e| e.variant == spec.variant)
            .expect("every variant has its evidence");
        assert_eq!(
            e.decided,
            Decided::Probed,
            "{}: the probe did not tell on this kernel",
            spec.variant
        );
        let Probe::Scenario(text) = spec.probe else {
            continue;
        };
        let sc = probe_scenario(spec.variant, text);
        let found = spec.value(&e.value).expect("a value of the variant");
        for value in [0, 1] {
            let profile = fp.profile.with_variant(VariantSetting {
                variant: spec.variant,
                value,
            });
            let report = replay::replay(&sc, profile).expect("the probe replays");
            let agrees = report.divergences() == 0 && report.run.harness_error.is_none();
            if agrees != (value == found) {
                failures.push(format!(
                    "{}: the fingerprint says {}, a direct replay under {} {}\n{}",
                    spec.variant,
                    e.value,
                    spec.values[usize::from(value)],
                    if agrees { "agrees too" } else { "diverges" },
                    report.render(spec.variant.name())
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
