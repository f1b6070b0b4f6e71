//! `tcpconform run`: the conformance campaign.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use tcpconform_harness::baseline::{Baseline, Scope};
use tcpconform_harness::campaign::{
    self, CampaignOptions, CampaignOutcome, CampaignReport, ShrinkBudget, render,
};
use tcpconform_harness::config::{CaseConfig, ConfigSpace};
use tcpconform_harness::{junit, report, sandbox};
use tcpconform_model::{Host, RuleId, Sysctl};

use crate::common::{
    Prediction, ProfileArgs, TargetKind, bad, harness_failed, print_json, progress_bar, rand_seed,
    this_binary,
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
    /// Where the cases run: the running kernel, or gVisor's netstack (a `runsc` sandbox,
    /// predicted by the model for Linux; see the README).
    #[arg(long = "target", value_enum, default_value_t = TargetKind::Kernel)]
    pub(crate) on: TargetKind,
    /// A sysctl for every case's namespace (repeatable), e.g. net.ipv4.tcp_tw_reuse=0.
    #[arg(long = "sysctl", value_name = "KEY=VALUE")]
    pub(crate) sysctls: Vec<String>,
    /// Stop at the first divergence (by default every case runs, and every distinct
    /// divergence is grouped, shrunk and saved).
    #[arg(long)]
    pub(crate) stop_at_first: bool,
    /// Check the harness itself: hold every reading of the socket table that kept the bound,
    /// inactive rows without walking the kernel's bind hash against a walk (Linux; about
    /// four times slower). A difference is a harness failure, not a verdict.
    #[arg(long)]
    pub(crate) check_readings: bool,
    /// Known divergences (a TOML file): the run fails only on divergences no entry knows, and
    /// lists the entries nothing matched.
    #[arg(long, value_name = "FILE")]
    pub(crate) baseline: Option<PathBuf>,
    /// Add the new divergences to --baseline (created if missing), each with its scenario;
    /// their reasons are for a person to write.
    #[arg(long, requires = "baseline")]
    pub(crate) update_baseline: bool,
    /// Write a JUnit XML report: one test case per distinct divergence.
    #[arg(long, value_name = "FILE")]
    pub(crate) junit: Option<PathBuf>,
    /// Most seconds spent shrinking one divergence.
    #[arg(long, default_value_t = 30, value_name = "S")]
    pub(crate) shrink_secs: u64,
    /// Most re-runs spent shrinking one divergence.
    #[arg(long, default_value_t = 400, value_name = "N")]
    pub(crate) shrink_runs: u32,
    /// Where shrunk counterexamples are saved.
    #[arg(long, default_value = "tcpconform-found")]
    pub(crate) found: PathBuf,
    /// Write one line per case (the hashes of its calls, verdicts and results) to this
    /// file: two runs of the same seed must write the same.
    #[arg(long, value_name = "FILE")]
    pub(crate) record: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also print each divergence's scenario file on stdout, between `--- scenario ---` and
    /// `--- end scenario ---` lines (for runs that cannot keep files, such as the kernel
    /// matrix's VMs).
    #[arg(long)]
    pub(crate) print_scenario: bool,
}

/// Runs the campaign; exit 0 when every divergence (if any) is in the baseline, 1 when one is
/// new, 3 when the harness could not run.
pub(crate) fn main(args: RunArgs) -> ExitCode {
    let baseline = match &args.baseline {
        Some(p) if p.exists() => match Baseline::read(p) {
            Ok(b) => Some(b),
            Err(e) => return bad(e),
        },
        Some(p) if args.update_baseline => {
            eprintln!(
                "tcpconform: {} does not exist yet: it will be written",
                p.display()
            );
            Some(Baseline::default())
        }
        Some(p) => return bad(format!("{}: no such baseline", p.display())),
        None => None,
    };
    let target = match args.on {
        TargetKind::Kernel => {
            if let Err(e) = sandbox::probe() {
                return harness_failed(e);
            }
            args.target.for_kernel()
        }
        TargetKind::Gvisor => crate::common::gvisor(&args.target),
    };
    let target = match target {
        Ok(t) => t,
        Err(code) => return code,
    };
    let mut options = match options(&args, &target) {
        Ok(o) => o,
        Err(code) => return code,
    };
    options.found_dir = Some(args.found.clone());
    let cases = args.cases;
    eprintln!(
        "tcpconform run: {cases} cases, seed {}, profile {}{}",
        options.seed,
        target.profile.describe(),
        if args.stop_at_first {
            ", stopping at the first divergence"
        } else {
            ""
        }
    );
    let bar = progress_bar(u64::from(cases));
    let mut report = campaign::run(&options, &|n| bar.set_position(n.min(u64::from(cases))));
    bar.finish_and_clear();
    if let Some(b) = &baseline {
        report.judge(
            b,
            &target.profile,
            &target.profile_name(),
            target.head.kernel.as_deref(),
        );
    }
    if let (Some(path), Some(mut b)) = (&args.baseline, baseline)
        && args.update_baseline
    {
        let scope = Scope {
            profile: Some(target.profile_name()),
            kernel: None,
            variants: target.profile.non_mainline(),
        };
        match b.add_new(&report.groups, path, &scope).and_then(|n| {
            b.write(path)?;
            Ok(n)
        }) {
            Ok(n) => eprintln!(
                "tcpconform: {n} new entr(ies) written to {}; write their reasons",
                path.display()
            ),
            Err(e) => return harness_failed(e),
        }
        // Judged again: what was just written down is known now.
        report.judge(
            &b,
            &target.profile,
            &target.profile_name(),
            target.head.kernel.as_deref(),
        );
    }
    if let Some(path) = &args.record {
        let mut text = report.digest.lines.join("\n");
        text.push('\n');
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("tcpconform: cannot write {}: {e}", path.display());
        }
    }
    let replay = replay_command(&args);

    if let Some(path) = &args.junit {
        let cases = render::junit_cases(&report, &replay);
        if let Err(e) = junit::write(path, "tcpconform run", &target.head, &cases) {
            return harness_failed(e);
        }
    }
    if args.json {
        print_json(&target.head, &report);
    } else {
        print!("{}", target.head.render());
        print_campaign(&report, &target, &replay, &args);
    }
    if args.print_scenario {
        for g in &report.groups {
            println!("--- scenario ---");
            print!("{}", g.counterexample.scenario().to_text());
            println!("--- end scenario ---");
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

/// The campaign's options from the arguments.
fn options(args: &RunArgs, target: &Prediction) -> Result<CampaignOptions, ExitCode> {
    let mut config = CaseConfig::defaults(target.profile);
    for s in &args.sysctls {
        match s.parse::<Sysctl>() {
            Ok(s) => config.sysctls.push((Host::A, s)),
            Err(e) => return Err(bad(format!("--sysctl {s}: {e}"))),
        }
    }
    let seed = args.seed.unwrap_or_else(rand_seed);
    // Without --sysctl every case draws its own configuration (on Linux; elsewhere the
    // defaults, see `CampaignOptions::for_this_host`); with it, all use it.
    let mut options = if args.on == TargetKind::Gvisor {
        if !config.sysctls.is_empty() {
            return Err(bad(
                "--sysctl does not go with --target gvisor (its TCP sysctls are absent, \
                 read-only or global to the sandbox)",
            ));
        }
        let mut o = CampaignOptions::new(ConfigSpace::Fixed(config), args.cases, seed);
        o.generation.frozen = tcpconform_model::SysctlKey::ALL.iter().copied().collect();
        o.generation.runs = tcpconform_harness::generate::Runs::GvisorSubset;
        o
    } else if config.sysctls.is_empty() {
        CampaignOptions::for_this_host(config, args.cases, seed)
    } else {
        if let Err(e) = tcpconform_harness::config::validate(&config) {
            return Err(bad(e));
        }
        CampaignOptions::new(ConfigSpace::Fixed(config), args.cases, seed)
    };
    options.max_len = args.max_len;
    options.record = args.record.is_some();
    options.backend = target.backend.clone();
    options.stop_at_first = args.stop_at_first;
    options.check_readings = args.check_readings;
    options.shrink_budget = ShrinkBudget {
        time: Duration::from_secs(args.shrink_secs),
        runs: args.shrink_runs,
    };
    Ok(options)
}

/// `BINARY replay [--profile P] [--variant V]...`: replays a saved file as this run saw it.
fn replay_command(args: &RunArgs) -> String {
    let mut cmd = format!("{} replay", this_binary());
    if args.on == TargetKind::Gvisor {
        cmd.push_str(" --target gvisor");
    }
    if let Some(p) = &args.target.profile {
        cmd.push_str(&format!(" --profile {p}"));
    }
    for v in &args.target.variants {
        cmd.push_str(&format!(" --variant {v}"));
    }
    cmd
}

fn print_campaign(r: &CampaignReport, target: &Prediction, replay: &str, args: &RunArgs) {
    let f = &r.digest;
    println!(
        "digest of {} cases: calls {}  verdicts {}  outcomes {}",
        f.cases, f.calls_hash, f.verdicts_hash, f.outcomes_hash
    );
    let rate = r.cases as f64 / r.elapsed.as_secs_f64().max(1e-9);
    println!(
        "cases {}  calls {}  rules hit {}/{}  divergent cases {}  distinct divergences {}  time \
         {:.1}s ({rate:.0} cases/s)  seed {}",
        r.cases,
        r.calls,
        r.rules_hit.len(),
        RuleId::ALL.len(),
        r.divergent_cases,
        r.groups.len(),
        r.elapsed.as_secs_f64(),
        r.seed
    );
    match &r.outcome {
        CampaignOutcome::Passed => println!("PASS: the kernel agreed with the model on every call"),
        CampaignOutcome::HarnessFailed(e) => println!("HARNESS FAILURE (not a verdict): {e}"),
        CampaignOutcome::Diverged(_) => {
            println!();
            print!("{}", render::render_groups(r, replay));
            let new = r.new_groups().count();
            if new == 0 {
                println!("\nPASS: every divergence is known to the baseline");
            } else {
                let file = r.new_groups().next().and_then(|g| g.path());
                if args.on == TargetKind::Gvisor {
                    print!("{}", gvisor_next_steps(file.map(|p| p.as_path())));
                } else {
                    print!(
                        "{}",
                        report::next_steps(&target.head, file.map(|p| p.as_path()))
                    );
                }
                println!("\nFAIL: {new} new divergence(s)");
            }
            println!(
                "seed: {} run{} --cases {} --seed {}{}",
                this_binary(),
                if args.on == TargetKind::Gvisor {
                    " --target gvisor"
                } else {
                    ""
                },
                args.cases,
                r.seed,
                if args.stop_at_first {
                    " --stop-at-first"
                } else {
                    ""
                }
            );
        }
    }
}

/// What to do about a difference gVisor shows: its file states Linux's results.
fn gvisor_next_steps(file: Option<&std::path::Path>) -> String {
    let file = file.map_or_else(|| "FILE.scn".to_owned(), |f| f.display().to_string());
    format!(
        "\n  gVisor differs from Linux here: {file} states what Linux does (the model's results),\n  \
         so it holds on Linux (`{bin} replay {file}`) and fails in gVisor\n  \
         (`{bin} replay --target gvisor {file}`). `{bin} export {file} --c` writes it as a C\n  \
         program for gVisor's developers. A difference you accept goes into the baseline with its\n  \
         reason (`--baseline tests/baselines/gvisor.toml --update-baseline`, then write the reason).\n",
        bin = this_binary()
    )
}
