//! `tcpconform kernel`: the running kernel's fingerprint (release, profile, every behaviour
//! variant's value and the probe that decided it).

use std::process::ExitCode;

use clap::Args;
use tcpconform_harness::{fingerprint, sandbox};
use tcpconform_model::variant::{Probe, VARIANTS};

use crate::common::harness_failed;

/// `kernel`'s arguments.
#[derive(Args, Debug)]
pub(crate) struct KernelArgs {
    /// List the variants the model knows (what each changes, where each value was seen, its
    /// probe) and probe nothing.
    #[arg(long)]
    pub(crate) list: bool,
    /// Print the fingerprint as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Probes the running kernel and prints what it found.
pub(crate) fn main(args: KernelArgs) -> ExitCode {
    if args.list {
        list();
        return ExitCode::SUCCESS;
    }
    if let Err(e) = sandbox::probe() {
        return harness_failed(e);
    }
    match fingerprint::fingerprint() {
        Ok(f) if args.json => {
            println!("{}", serde_json::to_string_pretty(f).expect("serializes"));
            ExitCode::SUCCESS
        }
        Ok(f) => {
            print!("{}", f.render());
            ExitCode::SUCCESS
        }
        Err(e) => harness_failed(e),
    }
}

fn list() {
    for spec in VARIANTS {
        println!(
            "{} = {} | {}",
            spec.variant.name(),
            spec.values[0],
            spec.values[1]
        );
        println!("  {}", spec.changes);
        for seen in spec.seen {
            println!(
                "  seen: {} on {}",
                spec.values[usize::from(seen.value)],
                seen.kernel
            );
        }
        let rules: Vec<&str> = spec.rules.iter().map(|r| r.id()).collect();
        if !rules.is_empty() {
            println!("  rules: {}", rules.join(", "));
        }
        match spec.probe {
            Probe::Scenario(text) => {
                println!("  probe:");
                for line in text.lines() {
                    println!("    {line}");
                }
            }
            Probe::SysctlPresent(name) => println!("  probe: does {name} exist"),
            Probe::Release(why) => println!("  not probed: {why}"),
        }
        println!();
    }
}
