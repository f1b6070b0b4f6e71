//! # tcpconform-harness
//!
//! The only part of tcpconform that touches a kernel, and everything that runs the model
//! against one.
//!
//! ## Kernel side
//!
//! One backend per OS behind `cfg(target_os)`: Linux (run continuously), FreeBSD and macOS
//! (written and compile-checked, never run by this project), none elsewhere (kernel tests
//! skip). See [`sandbox`] for the table.
//!
//! - [`sandbox`]: on Linux every case on its own thread in fresh network namespaces (one host,
//!   or two joined by a veth pair), its sysctls written there only; the host's namespace is
//!   never written. On FreeBSD a VNET jail per host per case; on macOS the host's own stack,
//!   cases one at a time on ports of their own. [`sandbox::run_case`], [`sandbox::probe`],
//!   [`sandbox::kernel_or_skip`].
//! - `executor`: runs one `model::Op` on real sockets and returns `model::Observed`; every
//!   blocking call is bounded and reported as `Outcome::Blocks`.
//! - [`observer`]: the whole TCP table of each host (Linux: `sock_diag` netlink and
//!   `SOCK_DESTROY`; FreeBSD, macOS: the `net.inet.tcp.pcblist` sysctl), as a
//!   `model::Snapshot`.
//! - `errno`: the one table between the host's errno numbers and `model::Errno`.
//! - [`error`]: [`HarnessError`], the bench's own failures (never a syscall's result).
//!
//! ## Model against kernel
//! - [`lockstep`]: the comparator: each call's result against the model's allowed set, and the
//!   whole socket table against the model's; the model follows the kernel's choices.
//! - [`kernel`]: runs ops in a sandbox with the model in lock-step; the running kernel's
//!   profile.
//! - [`fingerprint`]: the running kernel's release and behaviour variants, probed once per
//!   process.
//! - [`config`], [`generate`]: case configurations and model-guided random cases.
//! - [`campaign`]: the property-based campaign with shrinking.
//! - [`digest`]: hashes of a campaign's cases, verdicts and results, to compare runs.
//! - [`bench`](mod@bench) (Linux): the campaign's speed, where its time goes, and the bare kernel cost beside it.
//! - [`mutants`]: the mutation self-test: the campaign against models with one fault each.
//! - [`scenario`], [`replay`], [`report`]: scenario files, `predict`/`replay`, and readable
//!   reports and counterexamples.
//! - [`across`]: a scenario written for one kernel, replayed on another with that kernel's
//!   model (the kernel matrix's check of profile differences).
//! - [`diff`], [`check`]: behaviour differences between configurations, and what a sysctl
//!   configuration really changes.
//! - [`why`]: why a `bind()` or `connect()` fails in this namespace now, and what would change
//!   that: the table rebuilt as a scenario and asked of the model.
//!
//! Three kinds of result are never mixed: a syscall's error is data (`Outcome::Err`), a
//! difference from the model is the product, and a [`HarnessError`] means the case did not run.
//! All `unsafe` code lives in the private `sys` module.

pub mod across;
pub mod baseline;
#[cfg(target_os = "linux")]
pub mod bench;
pub mod campaign;
pub mod check;
pub mod config;
pub mod diff;
pub mod digest;
#[cfg(unix)]
pub mod errno;
pub mod error;
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "macos"))]
pub mod executor;
pub mod export;
pub mod fingerprint;
pub mod generate;
#[cfg(target_os = "linux")]
pub mod gvisor;
pub mod junit;
pub mod kernel;
pub mod lanes;
pub mod lockstep;
pub mod mutants;
pub mod observer;
pub mod replay;
pub mod report;
pub mod sandbox;
pub mod scenario;
pub mod secs;
pub mod stopwatch;
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "macos"))]
mod sys;
pub mod why;

pub use error::HarnessError;
