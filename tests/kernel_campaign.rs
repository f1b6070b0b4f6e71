//! The property test: random cases, each in a fresh network namespace, run on the kernel and
//! the model in lock-step, every call's result and the whole socket table compared.
//!
//! `TCPCONFORM_CASES` sets how many cases (default 2000); `TCPCONFORM_SEED` fixes the seed
//! (default: a new one per run, printed). A divergence is shrunk, saved under
//! `target/tcpconform-found/` as a scenario file, and printed with the command that replays it.

use tcpconform_harness::campaign::{self, CampaignOptions, CampaignOutcome};
use tcpconform_harness::config::CaseConfig;
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
    // On Linux every case draws its own sysctls (and a quarter run on two hosts); on the
    // other backends every case uses the defaults on one host (`for_this_host`).
    println!("backend: {}", sandbox::BACKEND.name);
    let mut options = CampaignOptions::for_this_host(CaseConfig::defaults(profile), cases, seed);
    options.found_dir = Some(repo_root().join("target").join("tcpconform-found"));
    options.max_shrink_iters = env_number("TCPCONFORM_SHRINK_ITERS", options.max_shrink_iters);
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
                "the kernel diverged from the model (seed {seed}); {}:\n{}",
                cx.headline(),
                format_run(&cx.run, &cx.config, &cx.run.env, replay.as_deref())
            );
        }
    }
}
