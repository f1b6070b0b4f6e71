//! `tcpconform replay`: scenario files on the kernel, with the model in lock-step.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tcpconform_harness::scenario::Scenario;
use tcpconform_harness::{across, junit, replay, sandbox};
use tcpconform_model::{Mutant, Profile};

use crate::common::{ProfileArgs, TargetKind, bad, harness_failed, load_all, print_json, verdict};

/// `replay`'s arguments.
#[derive(Args, Debug)]
pub(crate) struct ReplayArgs {
    /// Scenario files (`.scn`, or `.json`).
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// The kernel the model predicts for.
    #[command(flatten)]
    pub(crate) target: ProfileArgs,
    /// Where the files run: the running kernel, or gVisor's netstack (`runsc`), predicted by
    /// the model for Linux.
    #[arg(long = "target", value_enum, default_value_t = TargetKind::Kernel)]
    pub(crate) on: TargetKind,
    /// Predict for the running kernel (or --profile) even when a file was written for another
    /// (its `@profile` release or `@variant` pins): the file's expectations must then fail
    /// exactly where that model says they do (a behaviour that differs between kernels), and
    /// the kernel must agree with it. Files written for another kernel are replayed this way
    /// anyway.
    #[arg(long)]
    pub(crate) across: bool,
    /// Replay against the model with this mutant switched on (`tcpconform mutants`).
    #[arg(long, value_name = "NAME")]
    pub(crate) mutant: Option<String>,
    /// Replay each file N times, each in fresh namespaces, and print how many gave each
    /// verdict; exit 1 when a file's verdict changed between replays (whatever it was).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) repeat: Option<u32>,
    /// How many files replay at once, each in namespaces of its own (default: the number of
    /// cores). Reports are printed in the files' order.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) jobs: Option<u32>,
    /// Write a JUnit XML report: one test case per file.
    #[arg(long, value_name = "FILE")]
    pub(crate) junit: Option<PathBuf>,
    /// Print the reports as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Replays every file; exit 1 when one fails.
pub(crate) fn main(args: ReplayArgs) -> ExitCode {
    let mutant = match args.mutant.as_deref().map(str::parse::<Mutant>).transpose() {
        Ok(m) => m,
        Err(e) => return bad(format!("--mutant: {e}")),
    };
    let scenarios = match load_all(&args.files) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if args.across && args.repeat.is_some() {
        return bad("--repeat and --across do not go together");
    }
    let target = match args.on {
        TargetKind::Kernel => {
            if let Err(e) = sandbox::probe() {
                return harness_failed(e);
            }
            args.target.for_kernel()
        }
        TargetKind::Gvisor if mutant.is_some() || args.across => Err(bad(
            "--target gvisor replays each file with the model for Linux: --mutant and --across \
             do not go with it",
        )),
        TargetKind::Gvisor => crate::common::gvisor(&args.target),
    };
    let target = match target {
        Ok(t) => t,
        Err(code) => return code,
    };
    if !args.json {
        print!("{}", target.head.render());
    }
    if let Some(times) = args.repeat {
        if args.on == TargetKind::Gvisor {
            return repeated_gvisor(&scenarios, &target, times, args.json);
        }
        return repeated(
            &scenarios,
            target.profile,
            mutant,
            times,
            args.json,
            &target.head,
        );
    }
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    let outcomes = replay_all(&scenarios, &target, mutant, args.across, jobs);
    let mut failed = false;
    let mut reports = Vec::new();
    let mut summaries = Vec::new();
    let mut cases = Vec::new();
    for ((path, sc), outcome) in scenarios.iter().zip(outcomes) {
        let name = path.display().to_string();
        let (passed, line, text) = match outcome {
            Err(e) => return harness_failed(e),
            Ok(FileOutcome::Across(r)) => {
                if let Some(e) = r.replay.as_ref().and_then(|r| r.run.harness_error.as_ref()) {
                    return harness_failed(e);
                }
                let out = (r.passed(), r.summary(&name), r.render(&name));
                if args.json {
                    reports.push(serde_json::json!({"file": path, "across": r}));
                }
                out
            }
            Ok(FileOutcome::Plain(r)) => {
                if let Some(e) = &r.run.harness_error {
                    return harness_failed(e);
                }
                let out = (
                    r.passed(),
                    format!("{name}: {}", r.verdict_line()),
                    r.render(&name),
                );
                if args.json {
                    reports.push(serde_json::json!({"file": path, "report": r}));
                }
                out
            }
        };
        failed |= !passed;
        if !args.json {
            println!();
            print!("{text}");
        }
        cases.push(file_case(&name, passed, &line, &text, sc));
        summaries.push((name, passed, line));
    }
    if let Some(p) = &args.junit
        && let Err(e) = junit::write(p, "tcpconform replay", &target.head, &cases)
    {
        return harness_failed(e);
    }
    if args.json {
        print_json(&target.head, &reports);
    } else {
        print_summary(&summaries);
    }
    verdict(failed)
}

/// A file's JUnit case: its verdict line, and on failure the report and the scenario's text.
pub(crate) fn file_case(
    name: &str,
    passed: bool,
    line: &str,
    report: &str,
    sc: &Scenario,
) -> junit::Case {
    if passed {
        junit::Case::new(name, junit::Verdict::Pass).body(line)
    } else {
        junit::Case::new(name, junit::Verdict::Fail)
            .message(line)
            .body(format!("{report}\n--- {name} ---\n{}", sc.to_text()))
    }
}

/// How one file's replay went: judged across kernels (written for another), or plainly.
enum FileOutcome {
    Across(Box<across::AcrossReport>),
    Plain(Box<replay::ScenarioReport>),
}

/// Replays every file, `jobs` at a time (each in namespaces of its own); the outcomes come
/// back in the files' order. A file written for another kernel is judged with this kernel's
/// model (`--across`); under a mutant the file's own expectations are what the mutant is
/// checked against.
fn replay_all(
    scenarios: &[(PathBuf, Scenario)],
    target: &crate::common::Prediction,
    mutant: Option<Mutant>,
    across: bool,
    jobs: usize,
) -> Vec<Result<FileOutcome, tcpconform_harness::HarnessError>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let one = |sc: &Scenario| {
        #[cfg(target_os = "linux")]
        if let tcpconform_harness::kernel::Backend::Gvisor(g) = &target.backend {
            return replay::replay_in_gvisor(g, sc).map(|r| FileOutcome::Plain(Box::new(r)));
        }
        if mutant.is_none() && (across || !sc.is_for(target.profile)) {
            across::replay_across(sc, target.profile).map(|r| FileOutcome::Across(Box::new(r)))
        } else {
            replay::replay_mutated(sc, target.profile, mutant)
                .map(|r| FileOutcome::Plain(Box::new(r)))
        }
    };
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<FileOutcome, tcpconform_harness::HarnessError>>>> =
        Mutex::new(scenarios.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, scenarios.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((_, sc)) = scenarios.get(i) else {
                        break;
                    };
                    let r = one(sc);
                    results.lock().expect("results")[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("results")
        .into_iter()
        .map(|r| r.expect("every file ran"))
        .collect()
}

/// The end of a replay of several files: one line per file, then `N files: H hold, F fail`
/// and the failing files.
fn print_summary(summaries: &[(String, bool, String)]) {
    if summaries.len() < 2 {
        return;
    }
    println!();
    for (_, _, line) in summaries {
        println!("{line}");
    }
    let failing: Vec<&str> = summaries
        .iter()
        .filter(|(_, ok, _)| !ok)
        .map(|(n, _, _)| n.as_str())
        .collect();
    println!(
        "{} files: {} hold, {} fail",
        summaries.len(),
        summaries.len() - failing.len(),
        failing.len()
    );
    for f in failing {
        println!("  FAIL {f}");
    }
}

/// `replay --target gvisor --repeat N`: each file N times in gVisor.
fn repeated_gvisor(
    scenarios: &[(PathBuf, Scenario)],
    target: &crate::common::Prediction,
    times: u32,
    json: bool,
) -> ExitCode {
    #[cfg(target_os = "linux")]
    if let tcpconform_harness::kernel::Backend::Gvisor(g) = &target.backend {
        let mut changed = false;
        let mut reports = Vec::new();
        for (path, sc) in scenarios {
            let mut verdicts = replay::RepeatedVerdicts::default();
            for _ in 0..times {
                let r = match replay::replay_in_gvisor(g, sc) {
                    Ok(r) => r,
                    Err(e) => return harness_failed(e),
                };
                if let Some(e) = &r.run.harness_error {
                    return harness_failed(e);
                }
                verdicts.count(r.verdict_line());
            }
            changed |= !verdicts.stable();
            if json {
                reports.push(serde_json::json!({"file": path, "verdicts": verdicts}));
            } else {
                println!("{}: {}", path.display(), verdicts.render());
            }
        }
        if json {
            print_json(&target.head, &reports);
        }
        return verdict(changed);
    }
    let _ = (scenarios, target, times, json);
    harness_failed("--target gvisor runs on Linux hosts only")
}

/// `replay --repeat N`: each file N times; exit 1 when a file's verdict changed.
fn repeated(
    scenarios: &[(PathBuf, Scenario)],
    profile: Profile,
    mutant: Option<Mutant>,
    times: u32,
    json: bool,
    head: &tcpconform_harness::fingerprint::ReportHead,
) -> ExitCode {
    let mut changed = false;
    let mut reports = Vec::new();
    let mut always_failed = Vec::new();
    for (path, sc) in scenarios {
        match replay::replay_repeatedly(sc, profile, mutant, times) {
            Ok(r) => {
                changed |= !r.stable();
                if r.stable() && r.verdicts.first().is_some_and(|(v, _)| v != "PASS") {
                    always_failed.push(path.display().to_string());
                }
                if json {
                    reports.push(serde_json::json!({"file": path, "verdicts": r}));
                } else {
                    println!("{}: {}", path.display(), r.render());
                }
            }
            Err(e) => return harness_failed(e),
        }
    }
    if json {
        print_json(head, &reports);
    } else if !always_failed.is_empty() {
        println!(
            "{} file(s) failed every one of {times} replays (a stable verdict):",
            always_failed.len()
        );
        for f in &always_failed {
            println!("  {f}");
        }
    }
    verdict(changed)
}
