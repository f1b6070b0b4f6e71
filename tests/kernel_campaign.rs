//! The property test: random cases, each in a fresh network namespace, run on the kernel and
//! the model in lock-step, every call's result and the whole socket table compared.
//!
//! `TCPCONFORM_CASES` sets how many cases (default 2000); `TCPCONFORM_SEED` fixes the seed
//! (default: a new one per run, printed). A divergence is shrunk, saved under
//! `target/tcpconform-found/` as a scenario file, and printed with the command that replays it.

use tcpconform_harness::campaign::{self, CampaignOptions, CampaignOutcome};
use tcpconform_harness::config::{CaseConfig, ConfigSpace};
use tcpconform_harness::report::format_run;
use tcpconform_harness::{kernel, sandbox};
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
    // Every case draws its own sysctls (and a quarter run on two hosts).
    let space = ConfigSpace::Generated {
        base: CaseConfig::defaults(profile),
        two_hosts: true,
    };
    let mut options = CampaignOptions::new(space, cases, seed);
    options.found_dir = Some(repo_root().join("target").join("tcpconform-found"));
    let report = campaign::run(&options, &|_| {});
    println!(
        "{} cases, {} calls, {} rules hit, {:.1}s",
        report.cases,
        report.calls,
        report.rules_hit.len(),
        report.elapsed.as_secs_f64()
    );
    match report.outcome {
        CampaignOutcome::Passed => assert_eq!(u64::from(cases), report.cases),
        CampaignOutcome::HarnessFailed(e) => panic!("the harness failed (not a verdict): {e}"),
        CampaignOutcome::Diverged(cx) => {
            let replay = cx
                .path
                .as_ref()
                .map(|p| format!("cargo run -p tcpconform -- replay {}", p.display()));
            panic!(
                "the kernel diverged from the model (seed {seed}); shrunk from {} to {} calls:\n{}",
                cx.original_len,
                cx.ops.len(),
                format_run(&cx.run, &cx.config, &cx.run.env, replay.as_deref())
            );
        }
    }
}
