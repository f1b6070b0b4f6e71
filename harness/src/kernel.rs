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

/// Where a case runs: the running kernel (fresh network namespaces), or gVisor's netstack
/// (a `runsc` sandbox, [`crate::gvisor`]).
#[derive(Clone, Default)]
pub enum Backend {
    /// The running kernel.
    #[default]
    Kernel,
    /// gVisor.
    #[cfg(target_os = "linux")]
    Gvisor(std::sync::Arc<crate::gvisor::Target>),
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Backend {
    /// What the scenarios of its divergences expect: the kernel's results for a kernel (a
    /// capture of its behaviour), Linux's for gVisor (its findings: they pass on Linux).
    pub fn expecting(&self) -> crate::report::Expecting {
        match self {
            Self::Kernel => crate::report::Expecting::KernelResults,
            #[cfg(target_os = "linux")]
            Self::Gvisor(_) => crate::report::Expecting::ModelResults,
        }
    }

    /// `kernel` or `gvisor`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Kernel => "kernel",
            #[cfg(target_os = "linux")]
            Self::Gvisor(_) => "gvisor",
        }
    }

    /// Runs `ops` as one case with the model in lock-step.
    pub fn run(
        &self,
        config: &CaseConfig,
        addresses: &[(Host, IpAddr)],
        ops: &[Op],
        continue_after_divergence: bool,
    ) -> Result<Run, HarnessError> {
        match self {
            Self::Kernel => run_on_kernel(config, addresses, ops, continue_after_divergence),
            #[cfg(target_os = "linux")]
            Self::Gvisor(t) => t.run_case(config, addresses, ops, continue_after_divergence),
        }
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

/// The profile the model predicts for on the running kernel: its release's, with every
/// behaviour variant's value probed ([`crate::fingerprint`], once per process).
pub fn running_profile() -> Result<Profile, String> {
    crate::fingerprint::fingerprint().map(|f| f.profile)
}

/// The profile of the running kernel's release string alone (`uname -r`), with the release's
/// mainline variant values: on Linux the release (`6.18.44-fc-v1300` is linux-6.18), on
/// FreeBSD the release (`14.2-RELEASE-p1` is freebsd-14), on macOS the Darwin release
/// (`24.1.0` is macos-15). Nothing is probed.
pub fn running_release_profile() -> Result<Profile, String> {
    let release = crate::fingerprint::running_release()?;
    profile_of(std::env::consts::OS, &release)
}

/// The profile of a kernel release string of `os` (`std::env::consts::OS`: `linux`,
/// `freebsd`, `macos`).
pub fn profile_of(os: &str, release: &str) -> Result<Profile, String> {
    match os {
        "linux" => profile_of_release(release),
        "freebsd" => profile_of_freebsd_release(release),
        "macos" => profile_of_darwin_release(release),
        other => Err(format!("no profile of {other} (release {release})")),
    }
}

/// The profile of a FreeBSD release string (`14.2-RELEASE-p1`, `15.0-CURRENT`): its major.
pub fn profile_of_freebsd_release(release: &str) -> Result<Profile, String> {
    let major = release
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| format!("cannot read a version from FreeBSD release `{release}`"))?;
    format!("freebsd-{major}")
        .parse()
        .map_err(|e| format!("FreeBSD {release}: {e}"))
}

/// The profile of a Darwin release string (`uname -r` on macOS): Darwin 20–24 are macOS
/// 11–15, Darwin 25 is macOS 26.
pub fn profile_of_darwin_release(release: &str) -> Result<Profile, String> {
    let darwin: u16 = release
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| format!("cannot read a version from Darwin release `{release}`"))?;
    let macos = match darwin {
        20..=24 => darwin - 9,
        25 => 26,
        _ => {
            return Err(format!(
                "Darwin {release} is no macOS release the model knows"
            ));
        }
    };
    format!("macos-{macos}")
        .parse()
        .map_err(|e| format!("Darwin {release} (macOS {macos}): {e}"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_strings_name_their_profiles() {
        assert_eq!(
            profile_of("linux", "6.18.44-fc-v1300"),
            Ok(Profile::LINUX_6_18)
        );
        assert_eq!(
            profile_of("freebsd", "14.2-RELEASE-p1"),
            Ok(Profile::FREEBSD_14)
        );
        assert_eq!(
            profile_of("freebsd", "15.0-CURRENT").map(|p| p.to_string()),
            Ok("freebsd-15".into())
        );
        assert_eq!(profile_of("macos", "24.1.0"), Ok(Profile::MACOS_15));
        assert!(
            profile_of("macos", "23.6.0").is_err(),
            "macOS 14 has no profile"
        );
        assert!(profile_of("freebsd", "13.3-RELEASE").is_err());
        assert!(profile_of("windows", "10.0").is_err());
    }
}
