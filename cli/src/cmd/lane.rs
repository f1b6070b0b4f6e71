//! `tcpconform lane`: random cases whose timers really run out.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tcpconform_harness::baseline::Baseline;
use tcpconform_harness::campaign::{CampaignOutcome, render};
use tcpconform_harness::{junit, lanes, report, sandbox};

use crate::common::{
    ProfileArgs, bad, harness_failed, print_json, progress_bar, rand_seed, this_binary,
};

/// `lane`'s arguments.
#[derive(Args, Debug)]
pub(crate) struct LaneArgs {
    /// Which lane: timers or timewait.
    pub(crate) lane: lanes::Lane,
    /// How many cases (default: 64 timer cases, 240 TIME-WAIT cases).
    #[arg(long)]
    pub(crate) cases: Option<u32>,
    /// How many cases run at once (default: all of them).
    #[arg(long)]
    pub(crate) concurrency: Option<usize>,
    /// The generator's seed (random if not given; always printed).
    #[arg(long, env = "TCPCONFORM_SEED")]
    pub(crate) seed: Option<u64>,
    /// The kernel the model predicts for.
    #[command(flatten)]
    pub(crate) target: ProfileArgs,
    /// Known divergences (a TOML file, as `run --baseline`).
    #[arg(long, value_name = "FILE")]
    pub(crate) baseline: Option<PathBuf>,
    /// Write a JUnit XML report: one test case per distinct divergence.
    #[arg(long, value_name = "FILE")]
    pub(crate) junit: Option<PathBuf>,
    /// Where shrunk counterexamples are saved.
    #[arg(long, default_value = "tcpconform-found")]
    pub(crate) found: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs the lane; exit 1 on a divergence no baseline knows.
pub(crate) fn main(args: LaneArgs) -> ExitCode {
    let baseline = match args.baseline.as_deref().map(Baseline::read).transpose() {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    if let Err(e) = sandbox::probe() {
        return harness_failed(e);
    }
    let target = match args.target.for_kernel() {
        Ok(t) => t,
        Err(code) => return code,
    };
    let lane = args.lane;
    let seed = args.seed.unwrap_or_else(rand_seed);
    let mut options = lanes::LaneOptions::new(lane, target.profile, seed);
    if let Some(n) = args.cases {
        options.cases = n;
        options.concurrency = n as usize;
    }
    if let Some(c) = args.concurrency {
        options.concurrency = c.max(1);
    }
    options.found_dir = Some(args.found.clone());
    eprintln!(
        "tcpconform lane {}: {} cases, {} at a time, seed {seed}, profile {}",
        lane.name(),
        options.cases,
        options.concurrency,
        target.profile.describe()
    );
    let bar = progress_bar(u64::from(options.cases));
    let mut report = lanes::run(&options, &|n| bar.set_position(n));
    bar.finish_and_clear();
    if let Some(b) = &baseline {
        report.judge(b, &target.profile, target.head.kernel.as_deref());
    }
    let replay = format!("{} replay", this_binary());
    let as_campaign = report.as_campaign();
    if let Some(path) = &args.junit {
        let cases = render::junit_cases(&as_campaign, &replay);
        let suite = format!("tcpconform lane {}", lane.name());
        if let Err(e) = junit::write(path, &suite, &target.head, &cases) {
            return harness_failed(e);
        }
    }
    if args.json {
        print_json(&target.head, &report);
    } else {
        print!("{}", target.head.render());
        println!("{}", report.summary());
        if let CampaignOutcome::Diverged(_) = &report.outcome {
            println!();
            print!("{}", render::render_groups(&as_campaign, &replay));
            if let Some(g) = report.groups.iter().find(|g| g.known.is_none()) {
                print!(
                    "{}",
                    report::next_steps(&target.head, g.path().map(|p| p.as_path()))
                );
            }
            println!(
                "seed: {} lane {} --cases {} --seed {}",
                this_binary(),
                lane.name(),
                options.cases,
                seed
            );
        }
    }
    if matches!(report.outcome, CampaignOutcome::HarnessFailed(_)) {
        ExitCode::from(3)
    } else if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
