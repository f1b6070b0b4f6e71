//! `tcpconform diff`: the behaviours that differ between two configurations.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tcpconform_harness::config::CaseConfig;
use tcpconform_harness::fingerprint::ReportHead;
use tcpconform_harness::{check, diff, sandbox};
use tcpconform_model::Profile;

use crate::common::{bad, harness_failed, print_json};

/// `diff`'s arguments.
#[derive(Args, Debug)]
pub(crate) struct DiffArgs {
    /// A profile (once: both sides; twice: left then right). Default: the running kernel's.
    #[arg(long = "profile")]
    pub(crate) profiles: Vec<String>,
    /// A behaviour variant of the left side (repeatable), e.g. listen_after_connect=einval.
    #[arg(long = "left-variant", value_name = "NAME=VALUE")]
    pub(crate) left_variants: Vec<String>,
    /// A behaviour variant of the right side (repeatable).
    #[arg(long = "right-variant", value_name = "NAME=VALUE")]
    pub(crate) right_variants: Vec<String>,
    /// A setting of the left configuration (repeatable).
    #[arg(long = "left", value_name = "KEY=VALUE")]
    pub(crate) left: Vec<String>,
    /// A setting of the right configuration (repeatable).
    #[arg(long = "right", value_name = "KEY=VALUE")]
    pub(crate) right: Vec<String>,
    /// A sysctl.conf for the left configuration.
    #[arg(long = "left-file")]
    pub(crate) left_file: Option<PathBuf>,
    /// A sysctl.conf for the right configuration.
    #[arg(long = "right-file")]
    pub(crate) right_file: Option<PathBuf>,
    /// Random cases to try.
    #[arg(long, default_value_t = 5000)]
    pub(crate) cases: u32,
    /// The generator's seed.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Replay each difference on this kernel under both configurations.
    #[arg(long)]
    pub(crate) confirm: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Prints the differences; exit 0 (a difference is the answer, not a failure).
pub(crate) fn main(args: DiffArgs) -> ExitCode {
    let running = || -> Profile {
        tcpconform_harness::fingerprint::fingerprint()
            .map(|f| f.profile)
            .or_else(|_| tcpconform_harness::kernel::running_release_profile())
            .unwrap_or_else(|why| {
                eprintln!("tcpconform: {why}; predicting for {}", Profile::LINUX_6_18);
                Profile::LINUX_6_18
            })
    };
    let parse = |p: Option<&String>| -> Result<Profile, String> {
        match p {
            Some(p) => p.parse(),
            None => Ok(running()),
        }
    };
    let (lp, rp) = match args.profiles.len() {
        0 | 1 => match parse(args.profiles.first()) {
            Ok(p) => (p, p),
            Err(e) => return bad(e),
        },
        2 => match (parse(args.profiles.first()), parse(args.profiles.get(1))) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return bad(e),
        },
        _ => return bad("--profile may be given at most twice"),
    };
    let with = |p: Profile, settings: &[String]| -> Result<Profile, String> {
        settings.iter().try_fold(p, |p, s| {
            s.parse()
                .map(|v| p.with_variant(v))
                .map_err(|e| format!("{s}: {e}"))
        })
    };
    let (lp, rp) = match (
        with(lp, &args.left_variants),
        with(rp, &args.right_variants),
    ) {
        (Ok(l), Ok(r)) => (l, r),
        (Err(e), _) | (_, Err(e)) => return bad(e),
    };
    let side = |profile: Profile, settings: &[String], file: &Option<PathBuf>| {
        let mut written = Vec::new();
        if let Some(f) = file {
            written.extend(check::read_sysctl_conf(f)?);
        }
        for a in settings {
            written.push(check::parse_arg(a)?);
        }
        check::resolve(written, profile, &check::key_exists_on_host).map(|r| r.config)
    };
    let (l, r) = match (
        side(lp, &args.left, &args.left_file),
        side(rp, &args.right, &args.right_file),
    ) {
        (Ok(l), Ok(r)) => (l, r),
        (Err(e), _) | (_, Err(e)) => return bad(e),
    };
    let options = diff::DiffOptions {
        cases: args.cases,
        seed: args.seed,
        budget: std::time::Duration::from_secs(60),
        ..Default::default()
    };
    let mut report = diff::diff(&l, &r, &options);
    if args.confirm {
        if let Err(e) = sandbox::probe() {
            return harness_failed(e);
        }
        for d in &mut report.differences {
            diff::confirm_on_kernel(d, &l, &r);
        }
    }
    let head = ReportHead::new(
        l.profile,
        "left side",
        tcpconform_harness::fingerprint::fingerprint().ok(),
    );
    if args.json {
        print_json(&head, &report);
    } else {
        print_diff(&report);
    }
    ExitCode::SUCCESS
}

fn describe(c: &CaseConfig) -> String {
    let settings: Vec<String> = c.sysctls.iter().map(|(_, s)| s.to_string()).collect();
    format!(
        "{}{}",
        c.profile.describe(),
        if settings.is_empty() {
            String::new()
        } else {
            format!(" with {}", settings.join(" "))
        }
    )
}

fn print_diff(r: &diff::DiffReport) {
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
