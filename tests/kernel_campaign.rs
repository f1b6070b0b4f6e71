//! The property test: random cases, each in a fresh network namespace, run on the kernel and
//! the model in lock-step, every call's result and the whole socket table compared.
//!
//! `TCPCONFORM_CASES` sets how many cases (default 2000); `TCPCONFORM_SEED` fixes the seed
//! (default: a new one per run, printed). The campaign keeps going after a divergence: every
//! distinct one is shrunk, saved under `target/tcpconform-found/` as a scenario file, and
//! printed with the command that replays it. It is judged against the baseline
//! `tests/baselines/linux.toml` (empty: no divergence is known on Linux), as a CI user's run
//! with `--baseline` would be.
//!
//! The second test shows the baseline mechanism on a campaign that does diverge: the model
//! for Linux 6.1 on this kernel.

use tcpconform_harness::baseline::{Baseline, Entry, Scope};
use tcpconform_harness::campaign::groups::Signature;
use tcpconform_harness::campaign::render::render_groups;
use tcpconform_harness::campaign::{self, CampaignOptions, CampaignOutcome};
use tcpconform_harness::config::CaseConfig;
use tcpconform_harness::{kernel, sandbox};
use tcpconform_model::Profile;
use tcpconform_tests::{env_number, repo_root};

#[test]
fn the_kernel_agrees_with_the_model_on_random_cases() {
    if !sandbox::kernel_or_skip("the_kernel_agrees_with_the_model_on_random_cases") {
        return;
    }
    let profile = kernel::running_profile().expect("the running kernel has a version");
    let cases = env_number("TCPCONFORM_CASES", 2000u32);
    let seed = env_number(
        "TCPCONFORM_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    );
    println!("campaign: {cases} cases, seed {seed} (TCPCONFORM_SEED={seed} repeats it), {profile}");
    // On Linux every case draws its own sysctls (and a quarter run on two hosts); on the
    // other backends every case uses the defaults on one host (`for_this_host`).
    println!("backend: {}", sandbox::BACKEND.name);
    let mut options = CampaignOptions::for_this_host(CaseConfig::defaults(profile), cases, seed);
    options.found_dir = Some(repo_root().join("target").join("tcpconform-found"));
    let mut report = campaign::run(&options, &|_| {});
    let baseline = Baseline::read(&repo_root().join("tests/baselines/linux.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let release = tcpconform_harness::fingerprint::running_release().ok();
    report.judge(
        &baseline,
        &profile,
        &profile.to_string(),
        release.as_deref(),
    );
    println!(
        "{} cases, {} calls, {} rules hit, {:.1}s",
        report.cases,
        report.calls,
        report.rules_hit.len(),
        report.elapsed.as_secs_f64()
    );
    if let CampaignOutcome::HarnessFailed(e) = &report.outcome {
        panic!("the harness failed (not a verdict): {e}");
    }
    assert_eq!(u64::from(cases), report.cases);
    assert!(
        report.passed(),
        "the kernel diverged from the model (seed {seed}), in ways tests/baselines/linux.toml \
         does not know:\n{}",
        render_groups(&report, "cargo run -p tcpconform -- replay")
    );
}

/// A campaign with a baseline fails on a divergence no entry knows, passes once every one is
/// known, and reports an entry that no divergence matched as stale. Linux 6.1's model on this
/// kernel diverges (a 6.18 kernel dumps bound sockets; 6.1 does not).
#[test]
fn a_baseline_fails_new_divergences_passes_known_ones_and_reports_stale_entries() {
    let test = "a_baseline_fails_new_divergences_passes_known_ones_and_reports_stale_entries";
    if !sandbox::kernel_or_skip(test) {
        return;
    }
    let running = kernel::running_profile().expect("the running kernel has a version");
    let linux_6_1 = Profile::linux(6, 1);
    if running.diag_dumps_bound_sockets() == linux_6_1.diag_dumps_bound_sockets() {
        println!("SKIPPED: {test}: this kernel dumps bound sockets as 6.1 does: no divergence");
        return;
    }
    let options = CampaignOptions::for_this_host(CaseConfig::defaults(linux_6_1), 300, 3);
    let report = campaign::run(&options, &|_| {});
    assert!(
        !report.groups.is_empty(),
        "linux-6.1's model on this kernel diverges"
    );
    let release = tcpconform_harness::fingerprint::running_release().ok();
    let entry = |sig: &Signature| Entry {
        signature: sig.clone(),
        reason: "6.18 dumps bound sockets (91051f003948, v6.8); 6.1 does not".into(),
        scope: Scope {
            profile: Some("linux-6.1".into()),
            ..Scope::default()
        },
        scenario: None,
    };
    let stale = Signature("close: model 0 (close.listener); kernel -1 EBADF".into());

    // Every group known but the last, and one entry that matches nothing.
    let mut partial = Baseline::default();
    for g in &report.groups[..report.groups.len() - 1] {
        partial.entries.push(entry(&g.signature));
    }
    partial.entries.push(entry(&stale));
    let mut judged = report.clone();
    judged.judge(
        &partial,
        &linux_6_1,
        &linux_6_1.to_string(),
        release.as_deref(),
    );
    let j = judged.baseline.clone().expect("judged");
    assert!(!judged.passed(), "a new divergence fails the run");
    assert_eq!(
        j.new,
        vec![report.groups.last().expect("a group").signature.clone()]
    );
    assert_eq!(j.stale, vec![stale.clone()]);
    assert!(render_groups(&judged, "tcpconform replay").contains("stale"));

    // Every group known: the run passes; the stale entry is still reported.
    let mut full = partial.clone();
    full.entries
        .push(entry(&report.groups.last().expect("a group").signature));
    let mut judged = report.clone();
    judged.judge(
        &full,
        &linux_6_1,
        &linux_6_1.to_string(),
        release.as_deref(),
    );
    assert!(judged.passed());
    assert_eq!(judged.baseline.expect("judged").stale, vec![stale]);

    // Out of scope (another profile's entries) knows nothing.
    let mut other = full.clone();
    for e in &mut other.entries {
        e.scope.profile = Some("linux-6.12".into());
    }
    let mut judged = report;
    judged.judge(
        &other,
        &linux_6_1,
        &linux_6_1.to_string(),
        release.as_deref(),
    );
    assert!(!judged.passed());
    assert_eq!(
        judged.baseline.expect("judged").out_of_scope,
        other.entries.len()
    );
}
