//! `tcpconform rules`: every rule id, what it says and the kernel function it mirrors.

use std::process::ExitCode;

use tcpconform_model::RuleId;

/// Prints the rule table.
pub(crate) fn main() -> ExitCode {
    for r in RuleId::ALL {
        println!("{:<40} {}", r.id(), r.describe());
    }
    ExitCode::SUCCESS
}
