//! # tcpconform-harness
//!
//! The only part of tcpconform that touches a kernel.
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
//! Three kinds of result are never mixed: a syscall's error is data (`Outcome::Err`), a
//! difference from the model is the product, and a [`HarnessError`] means the case did not run.
//! All `unsafe` code lives in the private `sys` module.

#[cfg(target_os = "linux")]
pub mod errno;
pub mod error;
#[cfg(target_os = "linux")]
pub mod executor;
#[cfg(target_os = "linux")]
pub mod observer;
#[cfg(target_os = "linux")]
pub mod sandbox;
pub mod scenario;
#[cfg(target_os = "linux")]
mod sys;

pub use error::HarnessError;
