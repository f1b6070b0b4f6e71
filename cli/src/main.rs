//! `tcpconform`: checks the running kernel's TCP bind/close/TIME-WAIT behaviour against an
//! executable model. Every subcommand is one call into the harness; this file only parses
//! arguments, prints, and picks the exit code.
//!
//! Exit codes: 0 everything held; 1 a divergence or an unmet expectation (for `mutants`: a
//! mutant survived); 2 bad input (nothing ran); 3 the harness could not run (no network
//! namespace, netlink failure).

#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
#[cfg(target_os = "linux")]
use tcpconform_harness::bench;
use tcpconform_harness::campaign::{self, CampaignOptions, CampaignOutcome};
use tcpconform_harness::config::{CaseConfig, ConfigSpace};
use tcpconform_harness::report::{self, format_run};
use tcpconform_harness::{across, check, kernel, lanes, mutants, replay, sandbox, scenario};
use tcpconform_model::{Host, Mutant, Profile, RuleId, Sysctl};

#[derive(Parser)]
#[command(name = "tcpconform", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the conformance campaign: random cases on the kernel and the model in lock-step.
    Run {
        /// How many random cases.
        #[arg(long, default_value_t = 2000, env = "TCPCONFORM_CASES")]
        cases: u32,
        /// The generator's seed (random if not given; always printed).
        #[arg(long, env = "TCPCONFORM_SEED")]
        seed: Option<u64>,
        /// Most calls in one case.
        #[arg(long, default_value_t = 24)]
        max_len: usize,
        /// The kernel profile to predict for (default: the running kernel's).
        #[arg(long)]
        profile: Option<String>,
        /// A sysctl for every case's namespace (repeatable), e.g. net.ipv4.tcp_tw_reuse=0.
        #[arg(long = "sysctl", value_name = "KEY=VALUE")]
        sysctls: Vec<String>,
        /// Where a shrunk counterexample is saved.
        #[arg(long, default_value = "tcpconform-found")]
        found: PathBuf,
        /// Write one line per case (the hashes of its calls, verdicts and results) to this
        /// file: two runs of the same seed must write the same.
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// After a divergence, also print the shrunk scenario file's text on stdout, between
        /// `--- scenario ---` and `--- end scenario ---` lines (for runs that cannot keep files,
        /// such as the kernel matrix's VMs).
        #[arg(long)]
        print_scenario: bool,
    },
    /// Run a timer lane: random cases whose timers really run out, side by side in their own
    /// namespaces. `timers`: seconds-long timers (orphan FIN-WAIT-2, keepalive,
    /// TCP_USER_TIMEOUT, SYN retries, tw_reuse_delay, vanished and rebooted peers), about 10 s;
    /// `timewait`: real 60 s TIME-WAIT expiries, about 70 s.
    Lane {
        /// Which lane: timers or timewait.
        lane: lanes::Lane,
        /// How many cases (default: 64 timer cases, 240 TIME-WAIT cases).
        #[arg(long)]
        cases: Option<u32>,
        /// How many cases run at once (default: all of them).
        #[arg(long)]
        concurrency: Option<usize>,
        /// The generator's seed (random if not given; always printed).
        #[arg(long, env = "TCPCONFORM_SEED")]
        seed: Option<u64>,
        /// The kernel profile to predict for (default: the running kernel's).
        #[arg(long)]
        profile: Option<String>,
        /// Where a shrunk counterexample is saved.
        #[arg(long, default_value = "tcpconform-found")]
        found: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replay scenario files on the kernel, with the model in lock-step.
    Replay {
        /// Scenario files (`.scn`, or `.json`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The kernel profile the model predicts for (default: the running kernel's).
        #[arg(long)]
        profile: Option<String>,
        /// Predict for the running kernel (or --profile) even when a file names another
        /// profile: the file's expectations must then fail exactly where that model says they
        /// do (a behaviour that differs between kernels), and the kernel must agree with it.
        #[arg(long)]
        across: bool,
        /// Replay against the model with this mutant switched on (`tcpconform mutants`).
        #[arg(long, value_name = "NAME")]
        mutant: Option<String>,
        /// Replay each file N times, each in fresh namespaces, and print how many gave each
        /// verdict; exit 1 when a file's verdict changed between replays (whatever it was).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        repeat: Option<u32>,
        /// Print the reports as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run scenario files on the model alone (no kernel, any OS).
    Predict {
        /// Scenario files (`.scn`, or `.json`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The kernel profile to predict for (default: linux-6.18).
        #[arg(long)]
        profile: Option<String>,
        /// Print the reports as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate a sysctl configuration: conformance under it, what each setting really changes
    /// (proven on the kernel), and which settings do nothing. Never writes the host's sysctls.
    Check {
        /// A setting (repeatable), e.g. net.ipv4.tcp_tw_reuse=1.
        #[arg(long = "sysctl", value_name = "KEY=VALUE")]
        sysctls: Vec<String>,
        /// A sysctl.conf file (repeatable; comments and `-` prefixes understood).
        #[arg(long = "file", value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Check the host's current values (read only).
        #[arg(long)]
        host: bool,
        /// Conformance cases under the configuration.
        #[arg(long, default_value_t = 1000)]
        cases: u32,
        /// Random cases per setting when looking for its effect.
        #[arg(long, default_value_t = 3000)]
        diff_cases: u32,
        /// The generator's seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The kernel profile (default: the running kernel's).
        #[arg(long)]
        profile: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the behaviours that differ between two configurations (sysctls and/or profiles).
    Diff {
        /// A profile (once: both sides; twice: left then right).
        #[arg(long = "profile")]
        profiles: Vec<String>,
        /// A setting of the left configuration (repeatable).
        #[arg(long = "left", value_name = "KEY=VALUE")]
        left: Vec<String>,
        /// A setting of the right configuration (repeatable).
        #[arg(long = "right", value_name = "KEY=VALUE")]
        right: Vec<String>,
        /// A sysctl.conf for the left configuration.
        #[arg(long = "left-file")]
        left_file: Option<PathBuf>,
        /// A sysctl.conf for the right configuration.
        #[arg(long = "right-file")]
        right_file: Option<PathBuf>,
        /// Random cases to try.
        #[arg(long, default_value_t = 5000)]
        cases: u32,
        /// The generator's seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Replay each difference on this kernel under both configurations.
        #[arg(long)]
        confirm: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Measure the campaign: cases/s, calls/s, where the time goes, and the bare kernel cost
    /// of the same calls (a fresh namespace, no model, no observer) beside it.
    Bench {
        /// How many random cases (each run twice: in full, and bare).
        #[arg(long, default_value_t = 1000)]
        cases: u32,
        /// The generator's seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Most calls in one case.
        #[arg(long, default_value_t = 24)]
        max_len: usize,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The mutation self-test: for each deliberate fault of the model, run the campaign
    /// against the kernel until it notices (or the budget runs out).
    Mutants {
        /// Most cases per mutant.
        #[arg(long, default_value_t = tcpconform_harness::mutants::DEFAULT_BUDGET)]
        budget: u32,
        /// The generator's seed (random if not given; always printed).
        #[arg(long, env = "TCPCONFORM_SEED")]
        seed: Option<u64>,
        /// Run only this mutant (repeatable); `tcpconform mutants --list` names them.
        #[arg(long = "only", value_name = "NAME")]
        only: Vec<String>,
        /// List the mutants and what each gets wrong, and run nothing.
        #[arg(long)]
        list: bool,
        /// The kernel profile to predict for (default: the running kernel's).
        #[arg(long)]
        profile: Option<String>,
        /// Where each mutant's shrunk scenario is saved.
        #[arg(long, default_value = "tcpconform-found/mutants")]
        found: PathBuf,
        /// Scenario files whose kernel-checked expectations are also run against each mutated
        /// model (the test suite's verdict beside the campaign's); `none` for none.
        #[arg(long, default_value = "tests/scenarios")]
        scenarios: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the model's rules.
    Rules,
}

/// Bad input: message and exit code 2.
fn bad(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("tcpconform: {msg}");
    ExitCode::from(2)
}

fn harness_failed(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("tcpconform: the harness could not run: {msg}");
    ExitCode::from(3)
}

fn parse_profile(
    given: Option<&str>,
    default: impl FnOnce() -> Profile,
) -> Result<Profile, String> {
    match given {
        Some(p) => p.parse(),
        None => Ok(default()),
    }
}

fn running_profile() -> Profile {
    kernel::running_profile().unwrap_or_else(|why| {
        eprintln!("tcpconform: {why}; predicting for {}", Profile::LINUX_6_18);
        Profile::LINUX_6_18
    })
}

fn main() -> ExitCode {
    // While still single-threaded: an unprivileged user gets a user namespace of its own.
    if let Err(e) = sandbox::enter_user_namespace_if_unprivileged() {
        return harness_failed(format!(
            "{e}\n  run as root (sudo tcpconform …), or enable unprivileged user namespaces"
        ));
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            cases,
            seed,
            max_len,
            profile,
            sysctls,
            found,
            record,
            json,
            print_scenario,
        } => {
            let profile = match parse_profile(profile.as_deref(), running_profile) {
                Ok(p) => p,
                Err(e) => return bad(e),
            };
            let mut config = CaseConfig::defaults(profile);
            for s in &sysctls {
                match s.parse::<Sysctl>() {
                    Ok(s) => config.sysctls.push((Host::A, s)),
                    Err(e) => return bad(format!("--sysctl {s}: {e}")),
                }
            }
            if let Err(e) = sandbox::probe() {
                return harness_failed(e);
            }
            let seed = seed.unwrap_or_else(rand_seed);
            eprintln!("tcpconform run: {cases} cases, seed {seed}, profile {profile}");
            // Without --sysctl every case draws its own configuration (on Linux; elsewhere
            // the defaults, see `CampaignOptions::for_this_host`); with it, all use it.
            let mut options = if config.sysctls.is_empty() {
                CampaignOptions::for_this_host(config, cases, seed)
            } else {
                if let Err(e) = tcpconform_harness::config::validate(&config) {
                    return bad(e);
                }
                CampaignOptions::new(ConfigSpace::Fixed(config), cases, seed)
            };
            options.max_len = max_len;
            options.found_dir = Some(found);
            options.record = record.is_some();
            let bar = progress_bar(u64::from(cases));
            let report = campaign::run(&options, &|n| bar.set_position(n.min(u64::from(cases))));
            bar.finish_and_clear();
            if let Some(path) = &record {
                let mut text = report.digest.lines.join("\n");
                text.push('\n');
                if let Err(e) = std::fs::write(path, text) {
                    eprintln!("tcpconform: cannot write {}: {e}", path.display());
                }
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("report serializes")
                );
            } else {
                print_campaign(&report);
            }
            if print_scenario && let CampaignOutcome::Diverged(cx) = &report.outcome {
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
        Command::Lane {
            lane,
            cases,
            concurrency,
            seed,
            profile,
            found,
            json,
        } => {
            let profile = match parse_profile(profile.as_deref(), running_profile) {
                Ok(p) => p,
                Err(e) => return bad(e),
            };
            if let Err(e) = sandbox::probe() {
                return harness_failed(e);
            }
            let seed = seed.unwrap_or_else(rand_seed);
            let mut options = lanes::LaneOptions::new(lane, profile, seed);
            if let Some(n) = cases {
                options.cases = n;
                options.concurrency = n as usize;
            }
            if let Some(c) = concurrency {
                options.concurrency = c.max(1);
            }
            options.found_dir = Some(found);
            eprintln!(
                "tcpconform lane {}: {} cases, {} at a time, seed {seed}, profile {profile}",
                lane.name(),
                options.cases,
                options.concurrency
            );
            let bar = progress_bar(u64::from(options.cases));
            let report = lanes::run(&options, &|n| bar.set_position(n));
            bar.finish_and_clear();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("report serializes")
                );
            } else {
                println!("{}", report.summary());
                if let CampaignOutcome::Diverged(cx) = &report.outcome {
                    let replay = cx
                        .path
                        .as_ref()
                        .map(|p| format!("tcpconform replay {}", p.display()));
                    print!(
                        "{}",
                        format_run(&cx.run, &cx.config, &cx.run.env, replay.as_deref())
                    );
                    println!(
                        "seed: tcpconform lane {} --cases {} --seed {}",
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
        Command::Mutants {
            budget,
            seed,
            only,
            list,
            profile,
            found,
            scenarios,
            json,
        } => {
            if list {
                for m in Mutant::ALL {
                    println!("{:<32} {}", m.name(), m.describe());
                }
                return ExitCode::SUCCESS;
            }
            let profile = match parse_profile(profile.as_deref(), running_profile) {
                Ok(p) => p,
                Err(e) => return bad(e),
            };
            let mut options = mutants::MutantsOptions::new(profile, seed.unwrap_or_else(rand_seed));
            for name in &only {
                match name.parse::<Mutant>() {
                    Ok(m) => options.only.push(m),
                    Err(e) => return bad(format!("--only: {e}")),
                }
            }
            options.budget = budget;
            options.found_dir = Some(found);
            if scenarios != std::path::Path::new("none") {
                let mut files: Vec<PathBuf> = match std::fs::read_dir(&scenarios) {
                    Ok(dir) => dir
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|x| x == "scn"))
                        .collect(),
                    Err(e) => return bad(format!("--scenarios {}: {e}", scenarios.display())),
                };
                files.sort();
                match load_all(&files) {
                    Ok(loaded) => {
                        options.scenarios = loaded
                            .into_iter()
                            .map(|(p, s)| (p.display().to_string(), s))
                            .collect();
                    }
                    Err(code) => return code,
                }
            }
            if let Err(e) = sandbox::probe() {
                return harness_failed(e);
            }
            let list = options.mutants();
            eprintln!(
                "tcpconform mutants: {} mutants, at most {budget} cases each, seed {}, profile \
                 {profile}",
                list.len(),
                options.seed
            );
            let bar = progress_bar(u64::from(budget));
            let report = mutants::run(&options, &|m, n| {
                bar.set_message(m.name());
                bar.set_position(n.min(u64::from(budget)));
            });
            bar.finish_and_clear();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("report serializes")
                );
            } else {
                print!("{}", report.table());
                println!("{}", report.summary());
                for r in &report.results {
                    if let Some(p) = &r.scenario {
                        println!(
                            "{}: tcpconform replay --mutant {} {}",
                            r.mutant,
                            r.mutant,
                            p.display()
                        );
                    }
                }
            }
            if report.harness_failed() {
                ExitCode::from(3)
            } else if report.found() < report.results.len() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Replay {
            files,
            profile,
            across,
            mutant,
            repeat,
            json,
        } => {
            let mutant = match mutant.as_deref().map(str::parse::<Mutant>).transpose() {
                Ok(m) => m,
                Err(e) => return bad(format!("--mutant: {e}")),
            };
            let profile = match parse_profile(profile.as_deref(), running_profile) {
                Ok(p) => p,
                Err(e) => return bad(e),
            };
            let scenarios = match load_all(&files) {
                Ok(s) => s,
                Err(code) => return code,
            };
            if let Err(e) = sandbox::probe() {
                return harness_failed(e);
            }
            if across {
                if repeat.is_some() {
                    return bad("--repeat and --across do not go together");
                }
                return replay_across(&scenarios, profile, json);
            }
            if let Some(times) = repeat {
                return replay_repeated(&scenarios, profile, mutant, times, json);
            }
            let mut failed = false;
            let mut reports = Vec::new();
            for (path, sc) in &scenarios {
                match replay::replay_mutated(sc, profile, mutant) {
                    Ok(r) => {
                        failed |= !r.passed();
                        if r.run.harness_error.is_some() {
                            return harness_failed(r.run.harness_error.unwrap_or_default());
                        }
                        if json {
                            reports.push(serde_json::json!({"file": path, "report": r}));
                        } else {
                            print!("{}", r.render(&path.display().to_string()));
                            println!();
                        }
                    }
                    Err(e) => return harness_failed(e),
                }
            }
            print_json_and_exit(json, &reports, failed)
        }
        Command::Predict {
            files,
            profile,
            json,
        } => {
            let profile = match parse_profile(profile.as_deref(), || Profile::LINUX_6_18) {
                Ok(p) => p,
                Err(e) => return bad(e),
            };
            let scenarios = match load_all(&files) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let mut failed = false;
            let mut reports = Vec::new();
            for (path, sc) in &scenarios {
                let r = replay::predict(sc, profile);
                failed |= !r.passed();
                if json {
                    reports.push(serde_json::json!({"file": path, "report": r}));
                } else {
                    print!("{}", r.render(&path.display().to_string()));
                    println!();
                }
            }
            print_json_and_exit(json, &reports, failed)
        }
        Command::Check {
            sysctls,
            files,
            host,
            cases,
            diff_cases,
            seed,
            profile,
            json,
        } => {
            let profile = match parse_profile(profile.as_deref(), running_profile) {
                Ok(p) => p,
                Err(e) => return bad(e),
            };
            let mut written = Vec::new();
            for f in &files {
                match check::read_sysctl_conf(f) {
                    Ok(w) => written.extend(w),
                    Err(e) => return bad(e),
                }
            }
            for s in &sysctls {
                match check::parse_arg(s) {
                    Ok(w) => written.push(w),
                    Err(e) => return bad(e),
                }
            }
            if host {
                written.extend(check::host_settings(profile));
            }
            let resolved = match check::resolve(written, profile, &check::key_exists_on_host) {
                Ok(r) => r,
                Err(e) => return bad(e),
            };
            if let Err(e) = sandbox::probe() {
                return harness_failed(e);
            }
            let bar = progress_bar(u64::from(cases));
            let options = check::CheckOptions {
                cases,
                seed,
                diff_cases,
                confirm: 3,
            };
            let report = check::check(resolved, options, &|n| bar.set_position(n));
            bar.finish_and_clear();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("serializes")
                );
            } else {
                print!("{}", check::render(&report));
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
        Command::Diff {
            profiles,
            left,
            right,
            left_file,
            right_file,
            cases,
            seed,
            confirm,
            json,
        } => {
            let parse = |p: Option<&String>| -> Result<Profile, String> {
                match p {
                    Some(p) => p.parse(),
                    None => Ok(running_profile()),
                }
            };
            let (lp, rp) = match profiles.len() {
                0 | 1 => match parse(profiles.first()) {
                    Ok(p) => (p, p),
                    Err(e) => return bad(e),
                },
                2 => match (parse(profiles.first()), parse(profiles.get(1))) {
                    (Ok(a), Ok(b)) => (a, b),
                    (Err(e), _) | (_, Err(e)) => return bad(e),
                },
                _ => return bad("--profile may be given at most twice"),
            };
            let side = |profile: Profile, args: &[String], file: &Option<PathBuf>| {
                let mut written = Vec::new();
                if let Some(f) = file {
                    written.extend(check::read_sysctl_conf(f)?);
                }
                for a in args {
                    written.push(check::parse_arg(a)?);
                }
                check::resolve(written, profile, &check::key_exists_on_host).map(|r| r.config)
            };
            let (l, r) = match (side(lp, &left, &left_file), side(rp, &right, &right_file)) {
                (Ok(l), Ok(r)) => (l, r),
                (Err(e), _) | (_, Err(e)) => return bad(e),
            };
            let options = tcpconform_harness::diff::DiffOptions {
                cases,
                seed,
                budget: std::time::Duration::from_secs(60),
                ..Default::default()
            };
            let mut report = tcpconform_harness::diff::diff(&l, &r, &options);
            if confirm {
                if let Err(e) = sandbox::probe() {
                    return harness_failed(e);
                }
                for d in &mut report.differences {
                    tcpconform_harness::diff::confirm_on_kernel(d, &l, &r);
                }
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("serializes")
                );
            } else {
                print_diff(&report);
            }
            ExitCode::SUCCESS
        }
        Command::Bench {
            cases,
            seed,
            max_len,
            json,
        } => bench_command(cases, seed, max_len, json),
        Command::Rules => {
            for r in RuleId::ALL {
                println!("{:<40} {}", r.id(), r.describe());
            }
            ExitCode::SUCCESS
        }
    }
}

/// `replay --repeat N`: each file N times; exit 1 when a file's verdict changed.
fn replay_repeated(
    scenarios: &[(PathBuf, scenario::Scenario)],
    profile: Profile,
    mutant: Option<Mutant>,
    times: u32,
    json: bool,
) -> ExitCode {
    let mut changed = false;
    let mut reports = Vec::new();
    for (path, sc) in scenarios {
        match replay::replay_repeatedly(sc, profile, mutant, times) {
            Ok(r) => {
                changed |= !r.stable();
                if json {
                    reports.push(serde_json::json!({"file": path, "verdicts": r}));
                } else {
                    println!("{}: {}", path.display(), r.render());
                }
            }
            Err(e) => return harness_failed(e),
        }
    }
    print_json_and_exit(json, &reports, changed)
}

/// Prints the file reports as JSON when asked for (`--json`), and exits 1 when something
/// `failed`, else 0: the end of `predict` and `replay`.
fn print_json_and_exit(json: bool, reports: &[serde_json::Value], failed: bool) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(reports).expect("serializes")
        );
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `replay --across`: each file on this kernel with this kernel's model.
fn replay_across(
    scenarios: &[(PathBuf, scenario::Scenario)],
    profile: Profile,
    json: bool,
) -> ExitCode {
    let mut failed = false;
    let mut reports = Vec::new();
    let mut summaries = Vec::new();
    for (path, sc) in scenarios {
        let r = match across::replay_across(sc, profile) {
            Ok(r) => r,
            Err(e) => return harness_failed(e),
        };
        if let Some(e) = r.replay.as_ref().and_then(|r| r.run.harness_error.as_ref()) {
            return harness_failed(e);
        }
        failed |= !r.passed();
        let name = path.display().to_string();
        if json {
            reports.push(serde_json::json!({"file": path, "report": r}));
        } else {
            print!("{}", r.render(&name));
            println!();
        }
        summaries.push(r.summary(&name));
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).expect("serializes")
        );
    } else {
        for s in &summaries {
            println!("{s}");
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Parses every file first, so that nothing runs when one of them is bad.
fn load_all(files: &[PathBuf]) -> Result<Vec<(PathBuf, scenario::Scenario)>, ExitCode> {
    let mut out = Vec::new();
    for f in files {
        match scenario::parse_file(f) {
            Ok(s) => out.push((f.clone(), s)),
            Err(e) => return Err(bad(e)),
        }
    }
    Ok(out)
}

fn rand_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ u64::from(std::process::id()).rotate_left(32)
}

fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() || std::env::var_os("CI").is_some() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} cases {elapsed} ({per_sec})")
            .expect("template"),
    );
    bar
}

fn print_campaign(r: &campaign::CampaignReport) {
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
                .map(|p| format!("tcpconform replay {}", p.display()));
            println!("DIVERGENCE: {} ({} re-runs)", cx.headline(), r.shrink_cases);
            print!(
                "{}",
                format_run(&cx.run, &cx.config, &cx.run.env, replay.as_deref())
            );
            println!(
                "seed: tcpconform run --cases {} --seed {}",
                r.cases.max(1),
                r.seed
            );
        }
    }
}

fn describe(c: &CaseConfig) -> String {
    let settings: Vec<String> = c.sysctls.iter().map(|(_, s)| s.to_string()).collect();
    format!(
        "{}{}",
        c.profile,
        if settings.is_empty() {
            String::new()
        } else {
            format!(" with {}", settings.join(" "))
        }
    )
}

fn print_diff(r: &tcpconform_harness::diff::DiffReport) {
    println!("left:  {}", describe(&r.left));
    println!("right: {}", describe(&r.right));
    println!(
        "{} random cases in {:.1}s: {} behaviour(s) differ",
        r.cases,
        r.elapsed.as_secs_f64(),
        r.differences.len()
    );
    for d in &r.differences {
        print!(
            "{}",
            check::render_difference(d, "on the left", "on the right")
        );
    }
}

/// `bench`: the campaign's speed beside the bare kernel cost (Linux: its namespaces and
/// netlink are what it measures).
#[cfg(target_os = "linux")]
fn bench_command(cases: u32, seed: u64, max_len: usize, json: bool) -> ExitCode {
    if let Err(e) = sandbox::probe() {
        return harness_failed(e);
    }
    // The default campaign's cases: generated sysctls, a quarter on two hosts.
    let options = bench::BenchOptions {
        cases,
        seed,
        max_len,
        space: ConfigSpace::Generated {
            base: CaseConfig::defaults(running_profile()),
            two_hosts: true,
        },
    };
    let bar = progress_bar(2 * u64::from(cases));
    let offset = |pass: &str| if pass == "bare" { u64::from(cases) } else { 0 };
    let report = bench::run(&options, &|pass, n| bar.set_position(offset(pass) + n));
    bar.finish_and_clear();
    match report {
        Ok(r) if json => {
            println!("{}", serde_json::to_string_pretty(&r).expect("serializes"));
            ExitCode::SUCCESS
        }
        Ok(r) => {
            print!("{}", r.render());
            ExitCode::SUCCESS
        }
        Err(e) => harness_failed(e),
    }
}

/// `bench` measures the Linux backend's namespaces and netlink dumps; there is no such
/// measurement of the other backends.
#[cfg(not(target_os = "linux"))]
fn bench_command(_cases: u32, _seed: u64, _max_len: usize, _json: bool) -> ExitCode {
    harness_failed(tcpconform_harness::HarnessError::Unsupported {
        what: "`tcpconform bench`".into(),
        reason: format!(
            "it measures the Linux backend only; this host runs {}",
            std::env::consts::OS
        ),
    })
}
