//! The Linux sandbox: every case runs on its own thread, in network namespaces made for it alone.
//!
//! # How a case is set up
//!
//! [`run_case`] spawns a thread and, on it:
//!
//! 1. `unshare(CLONE_NEWNET)`: the thread (and only it) enters a fresh namespace, host `a`.
//!    A fresh namespace has the kernel's compiled-in sysctl defaults, not the host's.
//!    By default the thread first passes through a scratch namespace whose
//!    `net.ipv4.tcp_child_ehash_entries` is set, so that each host gets a small private
//!    established-hash table ([`SandboxSpec::ehash_buckets`]): a sock_diag dump walks the whole
//!    table, so a dump costs about 260 µs with the host's shared 262144-bucket one, 20 µs
//!    with a private one of 1024 buckets and 10 µs with the default 128 (the extra namespace
//!    costs about 0.4 ms once, and a case holds a few sockets). The kernel derives
//!    `tcp_max_tw_buckets` and `tcp_max_syn_backlog` from the table's size
//!    (`tcp_set_hashinfo()`); both are written back to the values a namespace on the shared
//!    table gets, so the defaults the model assumes still hold.
//! 2. For a two-host case, a second `unshare` makes host `b`; the thread keeps a descriptor of
//!    each namespace and returns to `a` with `setns`. Work on `b` (creating a socket, writing
//!    a sysctl, opening its netlink sockets) is done by stepping into `b` and back: a socket
//!    stays in the namespace it was created in.
//! 3. `lo` is brought up (ioctl) in each host. In a two-host case a veth pair joins them:
//!    `veth-a` in `a` with [`HOST_A_V4`]/24 and [`HOST_A_V6`]/64, `veth-b` in `b` with
//!    [`HOST_B_V4`]/24 and [`HOST_B_V6`]/64, both up, IPv6 addresses added with `IFA_F_NODAD`
//!    (usable at once), and permanent neighbour entries for the peer's addresses (no ARP or
//!    neighbour-discovery delay). Extra addresses of the spec go on the host's `lo` (/32, /128).
//! 4. The spec's sysctls are written under `/proc/sys`, opened from inside each host's
//!    namespace, and read back.
//! 5. One `sock_diag` socket per host is opened inside it for the [`Observer`].
//!
//! Then the case's closure runs with a [`Case`]. Afterwards every descriptor is closed,
//! orphaned full sockets are destroyed (so that nothing retransmitting keeps a namespace
//! alive), the netlink sockets and namespace descriptors are dropped and the thread exits,
//! which frees the namespaces.
//!
//! # The host is never written
//!
//! Every write the harness makes (sysctl, link, address, neighbour, firewall rule) first checks
//! that the calling thread's network namespace is not the one the process started in (nor
//! that of pid 1, when readable), and refuses with [`HarnessError::HostNamespace`] if it is.
//!
//! [`Observer`]: crate::observer::Observer
//! [`HarnessError::HostNamespace`]: crate::HarnessError::HostNamespace

mod cases;
mod firewall;
mod made_ahead;
mod namespaces;
mod topology;

use std::net::IpAddr;

use tcpconform_model::{Host, Sysctl};

use crate::executor::ExecConfig;

pub use cases::{
    BareCase, Case, CaseTimings, on_case_thread, run_bare, run_case, run_case_timed, run_cases,
};
pub use made_ahead::{makers_cpu_time, thread_cpu_time};
pub use namespaces::{
    Hosts, enter_user_namespace_if_unprivileged, in_host_namespace, probe, read_sysctl_here,
    try_write_sysctl_here, write_sysctl_here,
};
pub use topology::{
    HOST_A_V4, HOST_A_V6, HOST_B_V4, HOST_B_V6, MAC_A, MAC_B, V4_PREFIX, V6_PREFIX, VETH_A,
    VETH_A_INDEX, VETH_B, VETH_B_INDEX,
};

/// What a case's sandbox holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxSpec {
    /// Whether there is a host `b`, joined to `a` by a veth pair.
    pub two_hosts: bool,
    /// Extra addresses, each added to its host's `lo` (/32 or /128).
    pub addresses: Vec<(Host, IpAddr)>,
    /// Sysctls written in each host's namespace before the case runs.
    pub sysctls: Vec<(Host, Sysctl)>,
    /// How the executor runs ops.
    pub exec: ExecConfig,
    /// The size of each host's private established-hash table (rounded up to a power of two by
    /// the kernel), or `None` to use the host's shared table (slower dumps).
    pub ehash_buckets: Option<u32>,
}

/// The default [`SandboxSpec::ehash_buckets`].
pub const DEFAULT_EHASH_BUCKETS: u32 = 128;

impl Default for SandboxSpec {
    fn default() -> Self {
        Self {
            two_hosts: false,
            addresses: Vec::new(),
            sysctls: Vec::new(),
            exec: ExecConfig::default(),
            ehash_buckets: Some(DEFAULT_EHASH_BUCKETS),
        }
    }
}

impl SandboxSpec {
    /// One host, kernel defaults.
    pub fn one_host() -> Self {
        Self::default()
    }

    /// Two hosts joined by a veth pair, kernel defaults.
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

    /// Adds an address to `host`'s `lo`.
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

/// What this backend gives a case.
pub const BACKEND: super::Backend = super::Backend {
    name: "Linux: a network namespace per host per case",
    sysctls: true,
    two_hosts: true,
    extra_addresses: true,
    run: super::HasRun::Continuously,
};
