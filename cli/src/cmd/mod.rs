//! One module per subcommand: its arguments, and one call into the harness.

pub(crate) mod bench;
pub(crate) mod check;
pub(crate) mod diff;
pub(crate) mod export;
pub(crate) mod kernel;
pub(crate) mod lane;
pub(crate) mod mutants;
pub(crate) mod predict;
pub(crate) mod replay;
pub(crate) mod rules;
pub(crate) mod run;
pub(crate) mod why;
