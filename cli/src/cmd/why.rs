//! `tcpconform why bind|connect`: why a call fails in this namespace now, and what would
//! change the answer.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use tcpconform_harness::why::{Call, NewSocket, Question};

use crate::common::{ProfileArgs, bad, harness_failed};

/// `why`'s arguments.
#[derive(Args, Debug)]
pub(crate) struct WhyArgs {
    /// The call.
    #[command(subcommand)]
    pub(crate) call: WhyCall,
    /// The new socket sets SO_REUSEADDR.
    #[arg(long, global = true)]
    pub(crate) reuseaddr: bool,
    /// The new socket sets SO_REUSEPORT.
    #[arg(long, global = true)]
    pub(crate) reuseport: bool,
    /// The new socket sets IPV6_V6ONLY.
    #[arg(long, global = true)]
    pub(crate) v6only: bool,
    /// The new socket is made by this uid.
    #[arg(long, global = true, value_name = "UID")]
    pub(crate) uid: Option<u32>,
    /// Rebuild the situation in a fresh network namespace and make the call there (never on
    /// this namespace's sockets).
    #[arg(long, global = true)]
    pub(crate) prove: bool,
    /// The kernel the model predicts for.
    #[command(flatten)]
    pub(crate) target: ProfileArgs,
    /// Print the report as JSON.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

/// The call `why` explains.
#[derive(Subcommand, Debug)]
pub(crate) enum WhyCall {
    /// bind() to ADDR:PORT (`127.0.0.1:8080`, `[::]:443`).
    Bind {
        /// The address.
        addr: SocketAddr,
    },
    /// connect() to ADDR:PORT.
    Connect {
        /// The destination.
        dest: SocketAddr,
        /// Bind to ADDR or ADDR:PORT first.
        #[arg(long, value_name = "ADDR[:PORT]", value_parser = parse_from)]
        from: Option<SocketAddr>,
    },
}

fn parse_from(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>()
        .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 0)))
        .map_err(|_| format!("`{s}` is neither ADDR nor ADDR:PORT"))
}

/// Answers; exit 0 with an answer, 2 on bad input, 3 when the table cannot be read.
pub(crate) fn main(args: WhyArgs) -> ExitCode {
    let call = match args.call {
        WhyCall::Bind { addr } => Call::Bind(addr),
        WhyCall::Connect { dest, from } => {
            if dest.port() == 0 {
                return bad("connect: the destination needs a port");
            }
            Call::Connect { dest, from }
        }
    };
    let question = Question {
        call,
        socket: NewSocket {
            reuseaddr: args.reuseaddr,
            reuseport: args.reuseport,
            v6only: args.v6only,
            uid: args.uid,
        },
    };
    let target = match args.target.for_kernel() {
        Ok(t) => t,
        Err(code) => return code,
    };
    run(&question, &target, args.prove, args.json)
}

#[cfg(target_os = "linux")]
fn run(
    question: &Question,
    target: &crate::common::Prediction,
    prove: bool,
    json: bool,
) -> ExitCode {
    use crate::common::print_json;
    use tcpconform_harness::why;
    let table = match why::current_table() {
        Ok(t) => t,
        Err(e) => return harness_failed(e),
    };
    // The namespace's modelled settings that differ from the defaults (read, never written).
    let sysctls: Vec<String> = tcpconform_harness::check::host_settings(target.profile)
        .into_iter()
        .map(|w| format!("{}={}", w.key, w.value))
        .collect();
    let mut report = match why::answer(question, &table, target.profile, &sysctls) {
        Ok(r) => r,
        Err(e) => return harness_failed(format!("the model could not answer: {e}")),
    };
    if prove {
        report.proof = Some(why::prove(&report, target.profile));
    }
    if json {
        print_json(&target.head, &report);
    } else {
        print!("{}", target.head.render());
        print!("{}", why::render(&report));
    }
    ExitCode::SUCCESS
}

#[cfg(not(target_os = "linux"))]
fn run(_: &Question, _: &crate::common::Prediction, _: bool, _: bool) -> ExitCode {
    harness_failed("why reads the table through sock_diag: Linux only")
}
