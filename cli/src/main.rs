//! `tcpconform`: checks the running kernel's TCP bind/close/TIME-WAIT behaviour against an
//! executable model. Every subcommand is one module of [`cmd`] over one call into the harness;
//! [`common`] holds what they share (exit codes, the profile, the head of every report).
//!
//! Exit codes: 0 everything held; 1 a divergence or an unmet expectation (for `mutants`: a
//! mutant survived); 2 bad input (nothing ran); 3 the harness could not run (no network
//! namespace, netlink failure).

#![forbid(unsafe_code)]

mod cmd;
mod common;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tcpconform_harness::sandbox;

#[derive(Parser)]
#[command(name = "tcpconform", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the conformance campaign: random cases on the kernel and the model in lock-step.
    Run(cmd::run::RunArgs),
    /// Run a timer lane: random cases whose timers really run out, side by side in their own
    /// namespaces. `timers`: seconds-long timers (orphan FIN-WAIT-2, keepalive,
    /// TCP_USER_TIMEOUT, SYN retries, tw_reuse_delay, vanished and rebooted peers), about 10 s;
    /// `timewait`: real 60 s TIME-WAIT expiries, about 70 s.
    Lane(cmd::lane::LaneArgs),
    /// Replay scenario files on the kernel, with the model in lock-step.
    Replay(cmd::replay::ReplayArgs),
    /// Run scenario files on the model alone (no kernel, any OS).
    Predict(cmd::predict::PredictArgs),
    /// Write a scenario file as a standalone reproducer: a C or Python program that makes its
    /// calls and checks its expected results without tcpconform (exit 0 pass, 1 fail, 4 skip,
    /// as a kselftest), for a kernel's or gVisor's developers to run.
    Export(cmd::export::ExportArgs),
    /// Validate a sysctl configuration: conformance under it, what each setting really changes
    /// (proven on the kernel), and which settings do nothing. Never writes the host's sysctls.
    Check(cmd::check::CheckArgs),
    /// Print the behaviours that differ between two configurations (sysctls, profiles and
    /// variants).
    Diff(cmd::diff::DiffArgs),
    /// Why a bind() or connect() fails here now: the sockets in the way (with their timers),
    /// the deciding rule, and what would change the answer, each checked on the model.
    Why(cmd::why::WhyArgs),
    /// Measure the campaign: cases/s, calls/s, where the time goes, and the bare kernel cost
    /// of the same calls (a fresh namespace, no model, no observer) beside it.
    Bench(cmd::bench::BenchArgs),
    /// The mutation self-test: for each deliberate fault of the model, run the campaign
    /// against the kernel until it notices (or the budget runs out).
    Mutants(cmd::mutants::MutantsArgs),
    /// The running kernel's fingerprint: its release, the profile the model predicts for, and
    /// every behaviour variant's value with the probe that decided it.
    Kernel(cmd::kernel::KernelArgs),
    /// List the model's rules.
    Rules,
    /// The gVisor agent (run inside a `runsc` sandbox by `--target gvisor`): reads calls on
    /// standard input, answers on standard output.
    #[command(hide = true)]
    Agent,
}

fn main() -> ExitCode {
    // While still single-threaded: an unprivileged user gets a user namespace of its own.
    if let Err(e) = sandbox::enter_user_namespace_if_unprivileged() {
        return common::harness_failed(format!(
            "{e}\n  run as root (sudo tcpconform …), or enable unprivileged user namespaces"
        ));
    }
    match Cli::parse().command {
        Command::Run(args) => cmd::run::main(args),
        Command::Lane(args) => cmd::lane::main(args),
        Command::Replay(args) => cmd::replay::main(args),
        Command::Predict(args) => cmd::predict::main(args),
        Command::Export(args) => cmd::export::main(args),
        Command::Check(args) => cmd::check::main(args),
        Command::Diff(args) => cmd::diff::main(args),
        Command::Why(args) => cmd::why::main(args),
        Command::Bench(args) => cmd::bench::main(args),
        Command::Mutants(args) => cmd::mutants::main(args),
        Command::Kernel(args) => cmd::kernel::main(args),
        Command::Rules => cmd::rules::main(),
        Command::Agent => agent(),
    }
}

/// `tcpconform agent`, inside gVisor.
#[cfg(target_os = "linux")]
fn agent() -> ExitCode {
    let stdin = std::io::stdin();
    match tcpconform_harness::gvisor::agent::serve(stdin.lock(), std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => common::harness_failed(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn agent() -> ExitCode {
    common::harness_failed("the gVisor agent runs on Linux only")
}
