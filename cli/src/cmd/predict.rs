//! `tcpconform predict`: scenario files on the model alone (no kernel, no privileges).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tcpconform_harness::{junit, replay};
use tcpconform_model::Profile;

use crate::common::{ProfileArgs, load_all, print_json, verdict};

/// `predict`'s arguments.
#[derive(Args, Debug)]
pub(crate) struct PredictArgs {
    /// Scenario files (`.scn`, or `.json`).
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// The profile (default: linux-6.18 with its mainline variant values).
    #[command(flatten)]
    pub(crate) target: ProfileArgs,
    /// Write a JUnit XML report: one test case per file.
    #[arg(long, value_name = "FILE")]
    pub(crate) junit: Option<PathBuf>,
    /// Print the reports as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Predicts every file; exit 1 when a file's expectations do not hold on the model.
pub(crate) fn main(args: PredictArgs) -> ExitCode {
    let target = match args.target.for_model(Profile::LINUX_6_18) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let scenarios = match load_all(&args.files) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if !args.json {
        print!("{}", target.head.render());
    }
    let mut failed = false;
    let mut reports = Vec::new();
    let mut cases = Vec::new();
    let mut lines = Vec::new();
    for (path, sc) in &scenarios {
        let r = replay::predict(sc, target.profile);
        failed |= !r.passed();
        let name = path.display().to_string();
        let line = format!("{name}: {}", r.verdict_line());
        cases.push(super::replay::file_case(
            &name,
            r.passed(),
            &line,
            &r.render(&name),
            sc,
        ));
        lines.push((r.passed(), line));
        if args.json {
            reports.push(serde_json::json!({"file": path, "report": r}));
        } else {
            println!();
            print!("{}", r.render(&path.display().to_string()));
        }
    }
    if let Some(p) = &args.junit
        && let Err(e) = junit::write(p, "tcpconform predict", &target.head, &cases)
    {
        return crate::common::harness_failed(e);
    }
    if args.json {
        print_json(&target.head, &reports);
    } else if lines.len() > 1 {
        println!();
        for (_, line) in &lines {
            println!("{line}");
        }
        let failing = lines.iter().filter(|(ok, _)| !ok).count();
        println!(
            "{} files: {} hold, {failing} fail",
            lines.len(),
            lines.len() - failing
        );
    }
    verdict(failed)
}
