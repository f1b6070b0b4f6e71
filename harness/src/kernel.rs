//! Running ops on the kernel in lock-step with the model: the bridge between [`crate::sandbox`]
//! and [`crate::lockstep`].

use std::net::IpAddr;

use tcpconform_model::{Env, Host, Observed, Op, Profile, Snapshot};

use crate::config::CaseConfig;
use crate::error::HarnessError;
use crate::lockstep::{self, LockStep, Run, System};
use crate::sandbox::{Case, SandboxSpec, run_case};

/// The sandbox a configuration needs.
pub fn sandbox_spec(config: &CaseConfig, addresses: &[(Host, IpAddr)]) -> SandboxSpec {
    SandboxSpec {
        two_hosts: config.two_hosts,
        addresses: addresses.to_vec(),
        sysctls: config.sysctls.clone(),
        ..SandboxSpec::default()
    }
}

/// A case's kernel as a lock-step [`System`]: each op, then the settled table.
pub struct CaseSystem<'a> {
    /// The case.
    pub case: &'a mut Case,
    /// Set when a table did not settle within the observer's bound.
    pub unsettled: bool,
}

impl System for CaseSystem<'_> {
    type Error = HarnessError;

    fn exec(&mut self, op: &Op, env: &Env) -> Result<Observed, HarnessError> {
        self.case.apply(op, env)
    }

    fn table(&mut self) -> Result<Snapshot, HarnessError> {
        let s = self.case.settled_snapshot()?;
        if !s.settled {
            self.unsettled = true;
        }
        Ok(s.snapshot)
    }
}

/// Runs `ops` in a fresh sandbox for `config`, with the model in lock-step.
pub fn run_on_kernel(
    config: &CaseConfig,
    addresses: &[(Host, IpAddr)],
    ops: &[Op],
    continue_after_divergence: bool,
) -> Result<Run, HarnessError> {
    let spec = sandbox_spec(config, addresses);
    let mut model_topology = config.topology();
    for (h, ip) in addresses {
        model_topology.add_address(*h, *ip);
    }
    let model = tcpconform_model::Model::new(config.profile, model_topology, config.host_sysctls())
        .with_mutant(config.mutant);
    run_case(&spec, move |case| {
        let mut system = CaseSystem {
            case,
            unsettled: false,
        };
        let mut ls = LockStep::new(model);
        ls.continue_after_divergence = continue_after_divergence;
        lockstep::run_with(&mut system, ls, ops)
    })
}

/// The profile of the running kernel, from `uname -r` (`6.18.44-fc-v657` is linux-6.18).
pub fn running_profile() -> Result<Profile, String> {
    let uts = nix::sys::utsname::uname().map_err(|e| format!("uname failed: {e}"))?;
    let release = uts.release().to_string_lossy().into_owned();
    profile_of_release(&release)
}

/// The profile of a Linux release string.
pub fn profile_of_release(release: &str) -> Result<Profile, String> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major: Option<u16> = parts.next().and_then(|p| p.parse().ok());
    let minor: Option<u16> = parts.next().and_then(|p| p.parse().ok());
    match (major, minor) {
        (Some(major), Some(minor)) => format!("linux-{major}.{minor}")
            .parse()
            .map_err(|e| format!("kernel {release}: {e}")),
        _ => Err(format!(
            "cannot read a version from kernel release `{release}`"
        )),
    }
}
