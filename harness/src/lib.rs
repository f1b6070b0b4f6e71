//! # tcpconform-harness
//!
//! The only part of tcpconform that touches a kernel, and everything that runs the model
//! against one.
//!
//! ## Kernel side
//! - [`sandbox`]: every case on its own thread in fresh network namespaces (one host, or two
//!   joined by a veth pair), its sysctls written there only; the host's namespace is never
//!   written. [`sandbox::run_case`], [`sandbox::probe`], [`sandbox::kernel_or_skip`].
//! - [`executor`]: runs one `model::Op` on real sockets and returns `model::Observed`; every
//!   blocking call is bounded and reported as `Outcome::Blocks`.
//! - [`observer`]: the whole TCP table of each host via `sock_diag` netlink, as a
//!   `model::Snapshot`, and `SOCK_DESTROY`.
//! - [`errno`]: the one table between errno numbers and `model::Errno`.
//! - [`error`]: [`HarnessError`], the bench's own failures (never a syscall's result).
//!
//! ## Model against kernel
//! - [`lockstep`]: the comparator: each call's result against the model's allowed set, and the
//!   whole socket table against the model's; the model follows the kernel's choices.
//! - [`kernel`]: runs ops in a sandbox with the model in lock-step; the running kernel's
//!   profile.
//! - [`config`], [`generate`]: case configurations and model-guided random cases.
//! - [`campaign`]: the property-based campaign with shrinking.
//! - [`mutants`]: the mutation self-test: the campaign against models with one fault each.
//! - [`scenario`], [`replay`], [`report`]: scenario files, `predict`/`replay`, and readable
//!   reports and counterexamples.
//! - [`diff`], [`check`]: behaviour differences between configurations, and what a sysctl
//!   configuration really changes.
//!
//! Three kinds of result are never mixed: a syscall's error is data (`Outcome::Err`), a
//! difference from the model is the product, and a [`HarnessError`] means the case did not run.
//! All `unsafe` code lives in the private `sys` module.

#[cfg(target_os = "linux")]
pub mod campaign;
#[cfg(target_os = "linux")]
pub mod check;
pub mod config;
pub mod diff;
#[cfg(target_os = "linux")]
pub mod errno;
pub mod error;
#[cfg(target_os = "linux")]
pub mod executor;
pub mod generate;
#[cfg(target_os = "linux")]
pub mod kernel;
pub mod lanes;
pub mod lockstep;
#[cfg(target_os = "linux")]
pub mod mutants;
#[cfg(target_os = "linux")]
pub mod observer;
pub mod replay;
pub mod report;
#[cfg(target_os = "linux")]
pub mod sandbox;
pub mod scenario;
#[cfg(target_os = "linux")]
mod sys;

pub use error::HarnessError;
