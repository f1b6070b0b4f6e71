//! `tcpconform mutants`: the mutation self-test.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use tcpconform_harness::{junit, mutants, sandbox};
use tcpconform_model::Mutant;

use crate::common::{
    ProfileArgs, bad, harness_failed, load_all, print_json, progress_bar, rand_seed, this_binary,
};

/// `mutants`' arguments.
#[derive(Args, Debug)]
pub(crate) struct MutantsArgs {
    /// Most cases per mutant.
    #[arg(long, default_value_t = mutants::DEFAULT_BUDGET)]
    pub(crate) budget: u32,
    /// The generator's seed (random if not given; always printed).
    #[arg(long, env = "TCPCONFORM_SEED")]
    pub(crate) seed: Option<u64>,
    /// Run only this mutant (repeatable); `tcpconform mutants --list` names them.
    #[arg(long = "only", value_name = "NAME")]
    pub(crate) only: Vec<String>,
    /// List the mutants and what each gets wrong, and run nothing.
    #[arg(long)]
    pub(crate) list: bool,
    /// The kernel the model predicts for.
    #[command(flatten)]
    pub(crate) target: ProfileArgs,
    /// Where each mutant's shrunk scenario is saved.
    #[arg(long, default_value = "tcpconform-found/mutants")]
    pub(crate) found: PathBuf,
    /// Scenario files whose kernel-checked expectations are also run against each mutated
    /// model (the test suite's verdict beside the campaign's); `none` for none.
    #[arg(long, default_value = "tests/scenarios")]
    pub(crate) scenarios: PathBuf,
    /// Write a JUnit XML report: one test case per mutant (a survivor fails).
    #[arg(long, value_name = "FILE")]
    pub(crate) junit: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs every mutant; exit 0 only if each was found.
pub(crate) fn main(args: MutantsArgs) -> ExitCode {
    if args.list {
        for m in Mutant::ALL {
            println!("{:<32} {}", m.name(), m.describe());
        }
        return ExitCode::SUCCESS;
    }
    let mut only = Vec::new();
    for name in &args.only {
        match name.parse::<Mutant>() {
            Ok(m) => only.push(m),
            Err(e) => return bad(format!("--only: {e}")),
        }
    }
    let scenarios = if args.scenarios == Path::new("none") {
        Vec::new()
    } else {
        match scenario_files(&args.scenarios) {
            Ok(s) => s,
            Err(code) => return code,
        }
    };
    if let Err(e) = sandbox::probe() {
        return harness_failed(e);
    }
    let target = match args.target.for_kernel() {
        Ok(t) => t,
        Err(code) => return code,
    };
    let mut options =
        mutants::MutantsOptions::new(target.profile, args.seed.unwrap_or_else(rand_seed));
    options.only = only;
    options.budget = args.budget;
    options.found_dir = Some(args.found);
    options.scenarios = scenarios;
    let list = options.mutants();
    eprintln!(
        "tcpconform mutants: {} mutants, at most {} cases each, seed {}, profile {}",
        list.len(),
        args.budget,
        options.seed,
        target.profile.describe()
    );
    let bar = progress_bar(u64::from(args.budget));
    let report = mutants::run(&options, &|m, n| {
        bar.set_message(m.name());
        bar.set_position(n.min(u64::from(args.budget)));
    });
    bar.finish_and_clear();
    if let Some(path) = &args.junit {
        let cases: Vec<junit::Case> = report
            .results
            .iter()
            .map(|r| {
                let name = r.mutant.name();
                let what = format!(
                    "{}; scenarios that catch it: {}",
                    r.mutant.describe(),
                    if r.killed_by.is_empty() {
                        "none".to_owned()
                    } else {
                        r.killed_by.join(", ")
                    }
                );
                let c = if r.found {
                    junit::Case::new(name, junit::Verdict::Pass)
                } else {
                    junit::Case::new(name, junit::Verdict::Fail).message(
                        r.note
                            .clone()
                            .unwrap_or_else(|| "survived the campaign".to_owned()),
                    )
                };
                let mut body = what;
                if let Some(p) = &r.scenario {
                    body.push_str(&format!(
                        "\nreplay: {} replay --mutant {} {}",
                        this_binary(),
                        r.mutant,
                        p.display()
                    ));
                }
                c.body(body).time(r.elapsed)
            })
            .collect();
        if let Err(e) = junit::write(path, "tcpconform mutants", &target.head, &cases) {
            return harness_failed(e);
        }
    }
    if args.json {
        print_json(&target.head, &report);
    } else {
        print!("{}", target.head.render());
        print!("{}", report.table());
        println!("{}", report.summary());
        for r in &report.results {
            if let Some(p) = &r.scenario {
                println!(
                    "{}: {} replay --mutant {} {}",
                    r.mutant,
                    this_binary(),
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

/// The `.scn` files of a directory, read.
fn scenario_files(
    dir: &Path,
) -> Result<Vec<(String, tcpconform_harness::scenario::Scenario)>, ExitCode> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(d) => d
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "scn"))
            .collect(),
        Err(e) => return Err(bad(format!("--scenarios {}: {e}", dir.display()))),
    };
    files.sort();
    Ok(load_all(&files)?
        .into_iter()
        .map(|(p, s)| (p.display().to_string(), s))
        .collect())
}
