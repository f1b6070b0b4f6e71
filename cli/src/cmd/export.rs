//! `tcpconform export`: a scenario file as a standalone C or Python reproducer.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args};
use tcpconform_harness::export::{self, Language};

use crate::common::{bad, harness_failed, load_all};

/// `export`'s arguments.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("language").required(true).args(["c", "python"])))]
pub(crate) struct ExportArgs {
    /// The scenario file (`.scn`, or `.json`).
    pub(crate) file: PathBuf,
    /// Write a C program (one file, C99 with POSIX and Linux headers:
    /// `cc -Wall -Wextra -Werror -o repro repro.c`).
    #[arg(long)]
    pub(crate) c: bool,
    /// Write a Python program (one file, Python 3.11 or later, standard library only).
    #[arg(long)]
    pub(crate) python: bool,
    /// Write the program to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

/// Writes the program; exit 2 when the file cannot be read or exported.
pub(crate) fn main(args: ExportArgs) -> ExitCode {
    let scenarios = match load_all(std::slice::from_ref(&args.file)) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let Some((path, scenario)) = scenarios.first() else {
        return bad("no scenario file");
    };
    let language = if args.c {
        Language::C
    } else {
        Language::Python
    };
    // The file's own text (its comments explain the case) goes at the top of the program;
    // a JSON file is shown in the text form.
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let text = if is_json {
        None
    } else {
        std::fs::read_to_string(path).ok()
    };
    let program = match export::export(scenario, text.as_deref(), language) {
        Ok(p) => p,
        Err(refusal) => return bad(format!("{}: {refusal}", path.display())),
    };
    match &args.output {
        Some(out) => {
            if let Err(e) = std::fs::write(out, program) {
                return harness_failed(format!("cannot write {}: {e}", out.display()));
            }
        }
        None => print!("{program}"),
    }
    ExitCode::SUCCESS
}
