//! `tcpconform run`: the conformance campaign.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tcpconform_harness::campaign::{self, CampaignOptions, CampaignOutcome};
use tcpconform_harness::config::{CaseConfig, ConfigSpace};
use tcpconform_harness::report::{self, format_run};
use tcpconform_harness::sandbox;
use tcpconform_model::{Host, RuleId, Sysctl};

use crate::common::{
    ProfileArgs, Target, bad, harness_failed, print_json, progress_bar, rand_seed, this_binary,
};

/// `run`'s arguments.
#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// How many random cases.
    #[arg(long, default_value_t = 2000, env = "TCPCONFORM_CASES")]
    pub(crate) cases: u32,
    /// The generator's seed (random if not given; always printed).
    #[arg(long, env = "TCPCONFORM_SEED")]
    pub(crate) seed: Option<u64>,
    /// Most calls in one case.
    #[arg(long, default_value_t = 24)]
    pub(crate) max_len: usize,
    /// The kernel the model predicts for.
    #[command(flatten)]
    pub(crate) target: ProfileArgs,
    /// A sysctl for every case's namespace (repeatable), e.g. net.ipv4.tcp_tw_reuse=0.
    #[arg(long = "sysctl", value_name = "KEY=VALUE")]
    pub(crate) sysctls: Vec<String>,
    /// Where a shrunk counterexample is saved.
    #[arg(long, default_value = "tcpconform-found")]
    pub(crate) found: PathBuf,
    /// Write one line per case (the hashes of its calls, verdicts and results) to this
    /// file: two runs of the same seed must write the same.
    #[arg(long, value_name = "FILE")]
    pub(crate) record: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// After a divergence, also print the shrunk scenario file's text on stdout, between
    /// `--- scenario ---` and `--- end scenario ---` lines (for runs that cannot keep files,
    /// such as the kernel matrix's VMs).
    #[arg(long)]
    pub(crate) print_scenario: bool,
}

/// Runs the campaign; exit 0 when the kernel agreed on every call, 1 on a divergence.
pub(crate) fn main(args: RunArgs) -> ExitCode {
    if let Err(e) = sandbox::probe() {
        return harness_failed(e);
    }
    let target = match args.target.for_kernel() {
        Ok(t) => t,
        Err(code) => return code,
    };
    let mut config = CaseConfig::defaults(target.profile);
    for s in &args.sysctls {
        match s.parse::<Sysctl>() {
            Ok(s) => config.sysctls.push((Host::A, s)),
            Err(e) => return bad(format!("--sysctl {s}: {e}")),
        }
    }
    let seed = args.seed.unwrap_or_else(rand_seed);
    let cases = args.cases;
    eprintln!(
        "tcpconform run: {cases} cases, seed {seed}, profile {}",
        target.profile.describe()
    );
    // Without --sysctl every case draws its own configuration (on Linux; elsewhere the
    // defaults, see `CampaignOptions::for_this_host`); with it, all use it.
    let mut options = if config.sysctls.is_empty() {
        CampaignOptions::for_this_host(config, cases, seed)
    } else {
        if let Err(e) = tcpconform_harness::config::validate(&config) {
            return bad(e);
        }
        CampaignOptions::new(ConfigSpace::Fixed(config), cases, seed)
    };
    options.max_len = args.max_len;
    options.found_dir = Some(args.found);
    options.record = args.record.is_some();
    let bar = progress_bar(u64::from(cases));
    let report = campaign::run(&options, &|n| bar.set_position(n.min(u64::from(cases))));
    bar.finish_and_clear();
    if let Some(path) = &args.record {
        let mut text = report.digest.lines.join("\n");
        text.push('\n');
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("tcpconform: cannot write {}: {e}", path.display());
        }
    }
    if args.json {
        print_json(&target.head, &report);
    } else {
        print!("{}", target.head.render());
        print_campaign(&report, &target);
    }
    if args.print_scenario
        && let CampaignOutcome::Diverged(cx) = &report.outcome
    {
        println!("--- scenario ---");
        print!("{}", report::counterexample_scenario(cx).to_text());
        println!("--- end scenario ---");
    }
    match report.outcome {
        CampaignOutcome::Passed => ExitCode::SUCCESS,
        CampaignOutcome::Diverged(_) => ExitCode::from(1),
        CampaignOutcome::HarnessFailed(_) => ExitCode::from(3),
    }
}

fn print_campaign(r: &campaign::CampaignReport, target: &Target) {
    let f = &r.digest;
    println!(
        "digest of {} cases: calls {}  verdicts {}  outcomes {}",
        f.cases, f.calls_hash, f.verdicts_hash, f.outcomes_hash
    );
    let rate = r.cases as f64 / r.elapsed.as_secs_f64().max(1e-9);
    println!(
        "cases {}  calls {}  rules hit {}/{}  divergences {}  time {:.1}s ({rate:.0} cases/s)  seed {}",
        r.cases,
        r.calls,
        r.rules_hit.len(),
        RuleId::ALL.len(),
        usize::from(matches!(r.outcome, CampaignOutcome::Diverged(_))),
        r.elapsed.as_secs_f64(),
        r.seed
    );
    match &r.outcome {
        CampaignOutcome::Passed => println!("PASS: the kernel agreed with the model on every call"),
        CampaignOutcome::HarnessFailed(e) => println!("HARNESS FAILURE (not a verdict): {e}"),
        CampaignOutcome::Diverged(cx) => {
            let replay = cx
                .path
                .as_ref()
                .map(|p| format!("{} replay {}", this_binary(), p.display()));
            println!("DIVERGENCE: {} ({} re-runs)", cx.headline(), r.shrink_cases);
            print!(
                "{}",
                format_run(&cx.run, &cx.config, &cx.run.env, replay.as_deref())
            );
            print!("{}", report::next_steps(&target.head, cx.path.as_deref()));
            println!(
                "seed: {} run --cases {} --seed {}",
                this_binary(),
                r.cases.max(1),
                r.seed
            );
        }
    }
}
