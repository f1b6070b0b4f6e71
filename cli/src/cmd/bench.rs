//! `tcpconform bench`: the campaign's speed beside the bare kernel cost of the same calls.

use std::process::ExitCode;

use clap::Args;

use crate::common::ProfileArgs;

/// `bench`'s arguments.
#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// How many random cases (each run twice: in full, and bare).
    #[arg(long, default_value_t = 1000)]
    pub(crate) cases: u32,
    /// The generator's seed.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Most calls in one case.
    #[arg(long, default_value_t = 24)]
    pub(crate) max_len: usize,
    /// Instead of random cases, replay these scenario files (full `replay` against the bare
    /// calls), `--rounds` times.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub(crate) replay: Vec<std::path::PathBuf>,
    /// Rounds over the files of `--replay`.
    #[arg(long, default_value_t = 3)]
    pub(crate) rounds: u32,
    /// The kernel the model predicts for.
    #[command(flatten)]
    pub(crate) target: ProfileArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Measures; exit 0 with the figures, 3 when the harness could not run.
#[cfg(target_os = "linux")]
pub(crate) fn main(args: BenchArgs) -> ExitCode {
    use tcpconform_harness::config::{CaseConfig, ConfigSpace};
    use tcpconform_harness::{bench, sandbox};

    use crate::common::{harness_failed, progress_bar};

    if let Err(e) = sandbox::probe() {
        return harness_failed(e);
    }
    let target = match args.target.for_kernel() {
        Ok(t) => t,
        Err(code) => return code,
    };
    if !args.replay.is_empty() {
        return replay_bench(&args, &target);
    }
    // The default campaign's cases: generated sysctls, a quarter on two hosts.
    let options = bench::BenchOptions {
        cases: args.cases,
        seed: args.seed,
        max_len: args.max_len,
        space: ConfigSpace::Generated {
            base: CaseConfig::defaults(target.profile),
            two_hosts: true,
        },
    };
    let cases = args.cases;
    let bar = progress_bar(2 * u64::from(cases));
    let offset = |pass: &str| if pass == "bare" { u64::from(cases) } else { 0 };
    let report = bench::run(&options, &|pass, n| bar.set_position(offset(pass) + n));
    bar.finish_and_clear();
    show(report, args.json, &target, |r| r.render())
}

/// Prints a bench's report: as JSON with `json`, else the head and `render`'s text.
#[cfg(target_os = "linux")]
fn show<R: serde::Serialize>(
    report: Result<R, tcpconform_harness::HarnessError>,
    json: bool,
    target: &crate::common::Prediction,
    render: impl Fn(&R) -> String,
) -> ExitCode {
    use crate::common::{harness_failed, print_json};
    match report {
        Ok(r) if json => {
            print_json(&target.head, &r);
            ExitCode::SUCCESS
        }
        Ok(r) => {
            print!("{}", target.head.render());
            print!("{}", render(&r));
            ExitCode::SUCCESS
        }
        Err(e) => harness_failed(e),
    }
}

/// `bench --replay FILES`.
#[cfg(target_os = "linux")]
fn replay_bench(args: &BenchArgs, target: &crate::common::Prediction) -> ExitCode {
    use tcpconform_harness::bench;

    use crate::common::{load_all, progress_bar};

    let files: Vec<(String, tcpconform_harness::scenario::Scenario)> = match load_all(&args.replay)
    {
        Ok(f) => f
            .into_iter()
            .map(|(p, s)| (p.display().to_string(), s))
            .collect(),
        Err(code) => return code,
    };
    let bar = progress_bar(files.len() as u64 * u64::from(args.rounds));
    let report = bench::replay::run(&files, target.profile, args.rounds.max(1), &|n| {
        bar.set_position(n)
    });
    bar.finish_and_clear();
    show(report, args.json, target, |r| r.render())
}

/// `bench` measures the Linux backend's namespaces and netlink dumps; there is no such
/// measurement of the other backends.
#[cfg(not(target_os = "linux"))]
pub(crate) fn main(_args: BenchArgs) -> ExitCode {
    crate::common::harness_failed(tcpconform_harness::HarnessError::Unsupported {
        what: "`tcpconform bench`".into(),
        reason: format!(
            "it measures the Linux backend only; this host runs {}",
            std::env::consts::OS
        ),
    })
}
