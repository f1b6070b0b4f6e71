//! What the FreeBSD and macOS sandboxes share: the spec and a case's skeleton.

use std::net::IpAddr;

use tcpconform_model::{Host, Sysctl};

use crate::executor::ExecConfig;

/// What a case's sandbox holds.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SandboxSpec {
    /// Whether there is a host `b`.
    pub two_hosts: bool,
    /// Extra addresses, each added to its host's `lo0`.
    pub addresses: Vec<(Host, IpAddr)>,
    /// Sysctls written in each host's stack before the case runs.
    pub sysctls: Vec<(Host, Sysctl)>,
    /// How the executor runs ops.
    pub exec: ExecConfig,
}

impl SandboxSpec {
    /// One host, defaults.
    pub fn one_host() -> Self {
        Self::default()
    }

    /// Two hosts, defaults.
    pub fn two_hosts() -> Self {
        Self {
            two_hosts: true,
            ..Self::default()
        }
    }

    /// Adds a sysctl for `host`.
    pub fn sysctl(mut self, host: Host, setting: Sysctl) -> Self {
        self.sysctls.push((host, setting));
        self
    }

    /// Adds an address to `host`'s `lo0`.
    pub fn address(mut self, host: Host, ip: IpAddr) -> Self {
        self.addresses.push((host, ip));
        self
    }

    /// The hosts of the spec.
    pub fn hosts(&self) -> &'static [Host] {
        if self.two_hosts {
            &[Host::A, Host::B]
        } else {
            &[Host::A]
        }
    }
}
