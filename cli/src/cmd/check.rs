//! `tcpconform check`: what a sysctl configuration really changes, proven on the kernel.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tcpconform_harness::campaign::CampaignOutcome;
use tcpconform_harness::{check, sandbox};

use crate::common::{ProfileArgs, bad, harness_failed, print_json, progress_bar};

/// `check`'s arguments.
#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
    /// A setting (repeatable), e.g. net.ipv4.tcp_tw_reuse=1.
    #[arg(long = "sysctl", value_name = "KEY=VALUE")]
    pub(crate) sysctls: Vec<String>,
    /// A sysctl.conf file (repeatable; comments and `-` prefixes understood).
    #[arg(long = "file", value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
    /// Check the host's current values (read only).
    #[arg(long)]
    pub(crate) host: bool,
    /// Conformance cases under the configuration.
    #[arg(long, default_value_t = 1000)]
    pub(crate) cases: u32,
    /// Random cases per setting when looking for its effect.
    #[arg(long, default_value_t = 3000)]
    pub(crate) diff_cases: u32,
    /// The generator's seed.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Replay on the kernel also the effects whose calls sleep long (keepalive, SYN retries:
    /// minutes to hours); without it they are predicted by the model and say so.
    #[arg(long)]
    pub(crate) slow: bool,
    /// The kernel the model predicts for.
    #[command(flatten)]
    pub(crate) target: ProfileArgs,
    /// Write a JUnit XML report: one test case per divergence of the conformance part.
    #[arg(long, value_name = "FILE")]
    pub(crate) junit: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Checks the configuration; exit 1 on a divergence or an effect the kernel did not confirm.
pub(crate) fn main(args: CheckArgs) -> ExitCode {
    let mut written = Vec::new();
    for f in &args.files {
        match check::read_sysctl_conf(f) {
            Ok(w) => written.extend(w),
            Err(e) => return bad(e),
        }
    }
    for s in &args.sysctls {
        match check::parse_arg(s) {
            Ok(w) => written.push(w),
            Err(e) => return bad(e),
        }
    }
    if let Err(e) = sandbox::probe() {
        return harness_failed(e);
    }
    let target = match args.target.for_kernel() {
        Ok(t) => t,
        Err(code) => return code,
    };
    if args.host {
        written.extend(check::host_settings(target.profile));
    }
    let resolved = match check::resolve(written, target.profile, &check::key_exists_on_host) {
        Ok(r) => r,
        Err(e) => return bad(e),
    };
    let bar = progress_bar(u64::from(args.cases));
    let options = check::CheckOptions {
        cases: args.cases,
        seed: args.seed,
        diff_cases: args.diff_cases,
        confirm: 3,
        slow: args.slow,
    };
    // The host's listening sockets, read (never changed) for the cross-checks.
    let listeners = check::host_listeners().map_err(|e| e.to_string());
    let report = check::check(resolved, options, listeners, &|n| bar.set_position(n));
    bar.finish_and_clear();
    let replay = format!("{} replay", crate::common::this_binary());
    if let Some(path) = &args.junit {
        let cases = tcpconform_harness::campaign::render::junit_cases(&report.campaign, &replay);
        if let Err(e) =
            tcpconform_harness::junit::write(path, "tcpconform check", &target.head, &cases)
        {
            return harness_failed(e);
        }
    }
    if args.json {
        print_json(&target.head, &report);
    } else {
        print!("{}", target.head.render());
        print!("{}", check::render(&report, &replay));
    }
    let unconfirmed = report
        .effects
        .iter()
        .flat_map(|e| &e.differences)
        .any(|d| matches!(d.confirmed, Some(Err(_))));
    match report.campaign.outcome {
        CampaignOutcome::HarnessFailed(_) => ExitCode::from(3),
        CampaignOutcome::Diverged(_) => ExitCode::from(1),
        CampaignOutcome::Passed if unconfirmed => ExitCode::from(1),
        CampaignOutcome::Passed => ExitCode::SUCCESS,
    }
}
