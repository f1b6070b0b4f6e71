//! No backend: this OS has no executor, observer or sandbox. Kernel tests skip with the
//! reason, and a case is [`HarnessError::Unsupported`]; `predict` and `diff` work as
//! anywhere.

use std::net::IpAddr;

use tcpconform_model::{Env, Host, Observed, Op, Sysctl};

use super::{Backend, HasRun, SkipReason};
use crate::error::HarnessError;
use crate::observer::Settled;

/// What this backend gives a case: nothing.
pub const BACKEND: Backend = Backend {
    name: "none: the harness has no backend for this OS",
    sysctls: false,
    two_hosts: false,
    extra_addresses: false,
    run: HasRun::Never,
};

fn no_backend() -> String {
    format!(
        "the harness has no kernel backend for {} (Linux, FreeBSD and macOS have one); \
         `tcpconform predict` works here",
        std::env::consts::OS
    )
}

/// What a case's sandbox would hold.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SandboxSpec {
    /// Whether there is a host `b`.
    pub two_hosts: bool,
    /// Extra addresses.
    pub addresses: Vec<(Host, IpAddr)>,
    /// Sysctls.
    pub sysctls: Vec<(Host, Sysctl)>,
}

/// A case; none can exist here.
pub enum Case {}

impl Case {
    /// Never called: no case exists.
    pub fn apply(&mut self, _: &Op, _: &Env) -> Result<Observed, HarnessError> {
        match *self {}
    }

    /// Never called: no case exists.
    pub fn settled_snapshot(&mut self) -> Result<Settled, HarnessError> {
        match *self {}
    }
}

/// Always [`HarnessError::Unsupported`].
pub fn run_case<R: Send>(
    _spec: &SandboxSpec,
    _f: impl FnOnce(&mut Case) -> R + Send,
) -> Result<R, HarnessError> {
    Err(HarnessError::Unsupported {
        what: "running a case".into(),
        reason: no_backend(),
    })
}

/// Runs `f`.
pub fn run_cases<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R, HarnessError> {
    Ok(f())
}

/// Always the reason there is no backend.
pub fn probe() -> Result<(), SkipReason> {
    Err(SkipReason(no_backend()))
}

/// Nothing to do.
pub fn enter_user_namespace_if_unprivileged() -> Result<(), HarnessError> {
    Ok(())
}
