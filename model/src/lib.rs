//! # tcpconform-model
//!
//! An executable reference model of the rules by which a TCP stack binds, connects, closes and
//! keeps (or frees) ports: bind conflicts and the reuse options, ephemeral ports, TIME-WAIT and
//! orphans, and what each call returns. It is the specification the harness checks real kernels
//! against.
//!
//! The model is pure: no I/O, no clock, no `unsafe`, no OS crate. The kernel profile and the
//! sysctl values are inputs; time passes only through `sleep` ops. Where a kernel may choose
//! (an ephemeral port, which of several listeners gets a connection), the model allows a set
//! and follows the choice it is told.
//!
//! ## Module map
//! - [`op`]: the input vocabulary, syscalls by name ([`Op`]).
//! - [`outcome`], [`errno`]: what calls return ([`Outcome`], [`Errno`]).
//! - [`addr`]: families, symbolic ports, address classes.
//! - [`state`]: TCP states ([`TcpState`]).
//! - [`snapshot`]: the socket table ([`Snapshot`]).
//! - [`sysctl`], [`profile`], [`variant`]: the inputs that select the rules.
//! - [`rule`]: the id of every rule ([`RuleId`]).
//! - [`time`]: virtual time.
//! - [`Model`]: the engine: what each call does, the socket table after it.
//! - [`ports`]: sets of ports the kernel may choose from.
//! - [`mod@env`]: values of port variables.
//! - [`mutant`]: deliberate faults for the mutation self-test ([`Mutant`]).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod addr;
mod engine;
pub mod env;
pub mod errno;
pub mod mutant;
pub mod op;
pub mod outcome;
pub mod ports;
pub mod profile;
pub mod rule;
pub mod snapshot;
pub mod state;
pub mod sysctl;
pub mod time;
pub mod variant;

pub use addr::{Family, Port, SockAddr, Var};
pub use engine::{Branch, CallClock, Hint, Model, PortHolder, Topology};
pub use env::Env;
pub use errno::Errno;
pub use mutant::Mutant;
pub use op::{CallOption, DEFAULT_BACKLOG, Host, How, Op, SockId, SockOpt};
pub use outcome::{Observed, Outcome};
pub use profile::Profile;
pub use rule::RuleId;
pub use snapshot::{Row, RowInfo, Snapshot, Timer, TimerKind};
pub use state::TcpState;
pub use sysctl::{Sysctl, SysctlKey, SysctlValue, Sysctls};
pub use variant::{Variant, VariantSetting, Variants};
