//! `tcpconform lane`: random cases whose timers really run out.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tcpconform_harness::campaign::CampaignOutcome;
use tcpconform_harness::report::{self, format_run};
use tcpconform_harness::{lanes, sandbox};

use crate::common::{
    ProfileArgs, harness_failed, print_json, progress_bar, rand_seed, this_binary,
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
    /// Where a shrunk counterexample is saved.
    #[arg(long, default_value = "tcpconform-found")]
    pub(crate) found: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs the lane; exit 1 on a divergence.
pub(crate) fn main(args: LaneArgs) -> ExitCode {
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
    options.found_dir = Some(args.found);
    eprintln!(
        "tcpconform lane {}: {} cases, {} at a time, seed {seed}, profile {}",
        lane.name(),
        options.cases,
        options.concurrency,
        target.profile.describe()
    );
    let bar = progress_bar(u64::from(options.cases));
    let report = lanes::run(&options, &|n| bar.set_position(n));
    bar.finish_and_clear();
    if args.json {
        print_json(&target.head, &report);
    } else {
        print!("{}", target.head.render());
        println!("{}", report.summary());
        if let CampaignOutcome::Diverged(cx) = &report.outcome {
            let replay = cx
                .path
                .as_ref()
                .map(|p| format!("{} replay {}", this_binary(), p.display()));
            print!(
                "{}",
                format_run(&cx.run, &cx.config, &cx.run.env, replay.as_deref())
            );
            print!("{}", report::next_steps(&target.head, cx.path.as_deref()));
            println!(
                "seed: {} lane {} --cases {} --seed {}",
                this_binary(),
                lane.name(),
                options.cases,
                seed
            );
        }
    }
    match report.outcome {
        CampaignOutcome::Passed => ExitCode::SUCCESS,
        CampaignOutcome::Diverged(_) => ExitCode::from(1),
        CampaignOutcome::HarnessFailed(_) => ExitCode::from(3),
    }
}
