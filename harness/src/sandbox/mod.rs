//! Sandboxes: where a case runs, one backend per operating system.
//!
//! | host OS | backend | isolation | has it run? |
//! |---|---|---|---|
//! | Linux | [`linux`] | fresh network namespaces per case (one or two hosts), sysctls written there | yes, continuously |
//! | FreeBSD | `freebsd` | a VNET jail per host per case, sysctls written inside it | no: compile-checked only |
//! | macOS | `macos` | none: the host's own stack; cases one at a time, each on ports of its own | no: compile-checked only |
//! | anything else | `none` | no backend: kernel tests skip, [`run_case`] is [`HarnessError::Unsupported`] | — |
//!
//! Every backend offers the same few items to the rest of the harness: [`SandboxSpec`],
//! [`Case`] (`apply`, `settled_snapshot`), [`run_case`], [`run_cases`], [`probe`] and
//! [`BACKEND`]; the skip logic ([`kernel_or_skip`]) is shared.
//!
//! [`HarnessError::Unsupported`]: crate::HarnessError::Unsupported

use std::fmt;

#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;

#[cfg(any(target_os = "freebsd", target_os = "macos"))]
mod bsd_common;

#[cfg(target_os = "freebsd")]
pub mod freebsd;
#[cfg(target_os = "freebsd")]
pub use freebsd::*;

#[cfg(target_os = "macos")]
pub mod macos;
#[cfg(target_os = "macos")]
pub use macos::*;

#[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "macos")))]
pub mod none;
#[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "macos")))]
pub use none::*;

/// Whether a backend has been run against a real kernel by this project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HasRun {
    /// Run by `cargo test` and CI on every change.
    Continuously,
    /// Written and compile-checked for its target, never run (no such machine was available).
    CompileCheckedOnly,
    /// There is no backend.
    Never,
}

/// What a host's backend can give a case; the campaign and the tests choose their cases by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backend {
    /// One line: the OS and how cases are isolated.
    pub name: &'static str,
    /// Whether a case may set sysctls (they are written in the case's own stack only).
    pub sysctls: bool,
    /// Whether a case may have a second host.
    pub two_hosts: bool,
    /// Whether a case may add addresses to its hosts.
    pub extra_addresses: bool,
    /// Whether it has run.
    pub run: HasRun,
}

/// Why kernel tests cannot run here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkipReason(pub String);

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether kernel tests must run (and fail when they cannot) rather than skip: true when the
/// environment has `CI=true` or `TCPCONFORM_REQUIRE_KERNEL=1`.
pub fn require_kernel() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("TCPCONFORM_REQUIRE_KERNEL").is_ok_and(|v| v == "1")
}

/// For a kernel test's first line: `true` when cases can run; otherwise prints
/// `SKIPPED: <test>: <reason>` and returns `false`, or panics when [`require_kernel`] says a
/// skip is not acceptable.
pub fn kernel_or_skip(test: &str) -> bool {
    match probe() {
        Ok(()) => true,
        Err(reason) if require_kernel() => panic!(
            "{test}: kernel tests are required here (CI=true or TCPCONFORM_REQUIRE_KERNEL=1) \
             but cannot run: {reason}"
        ),
        Err(reason) => {
            println!("SKIPPED: {test}: {reason}");
            false
        }
    }
}

/// For a test that only makes sense on one OS (its cases or files are written for it): `true`
/// when the host runs `os`; otherwise prints `SKIPPED: <test>: <why>` and returns `false`.
/// A skip for this reason is never turned into a failure by [`require_kernel`]: the test has
/// nothing to check on this OS.
pub fn on_os_or_skip(test: &str, os: tcpconform_model::profile::Os, why: &str) -> bool {
    if host_os() == Some(os) {
        return true;
    }
    println!(
        "SKIPPED: {test}: {why} (this host runs {})",
        std::env::consts::OS
    );
    false
}

/// The OS the harness runs on, as the model names it (`None` for one it has no profile of).
pub fn host_os() -> Option<tcpconform_model::profile::Os> {
    use tcpconform_model::profile::Os;
    match std::env::consts::OS {
        "linux" => Some(Os::Linux),
        "freebsd" => Some(Os::FreeBsd),
        "macos" => Some(Os::MacOs),
        "windows" => Some(Os::Windows),
        _ => None,
    }
}
