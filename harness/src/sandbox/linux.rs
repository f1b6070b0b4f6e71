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
//!    table, so a snapshot costs about 0.4 ms with the host's shared 262144-bucket one against
//!    0.1 ms with a private one of 1024 buckets (the extra namespace costs about 0.4 ms once). The kernel derives `tcp_max_tw_buckets` and `tcp_max_syn_backlog` from the
//!    table's size (`tcp_set_hashinfo()`); both are written back to the values a namespace on
//!    the shared table gets, so the defaults the model assumes still hold.
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

use std::fs::File;
use std::io::Write;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::{Duration, Instant};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NetlinkPayload};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::RouteType;
use nix::sched::{CloneFlags, setns, unshare};
use tcpconform_model::{Env, Host, Observed, Op, Snapshot, Sysctl, SysctlKey, SysctlValue};

use super::SkipReason;
use crate::error::HarnessError;
use crate::executor::{ExecConfig, Executor};
use crate::observer::{DiagSocket, NlSocket, Observer, Settled};
use crate::{errno, observer, stopwatch, sys};

/// Host `a`'s IPv4 address on the veth link of a two-host case.
pub const HOST_A_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Host `b`'s IPv4 address on the veth link.
pub const HOST_B_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// Prefix length of the IPv4 link.
pub const V4_PREFIX: u8 = 24;
/// Host `a`'s IPv6 address on the veth link.
pub const HOST_A_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
/// Host `b`'s IPv6 address on the veth link.
pub const HOST_B_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
/// Prefix length of the IPv6 link.
pub const V6_PREFIX: u8 = 64;
/// The name of host `a`'s end of the veth pair.
pub const VETH_A: &str = "veth-a";
/// The name of host `b`'s end of the veth pair.
pub const VETH_B: &str = "veth-b";
/// The interface index of `veth-a` in host `a` (different from its peer's: see
/// `Rtnl::add_veth`).
pub const VETH_A_INDEX: u32 = 10;
/// The interface index of `veth-b` in host `b`.
pub const VETH_B_INDEX: u32 = 11;
/// The MAC address of `veth-a`.
pub const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
/// The MAC address of `veth-b`.
pub const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

/// How long an `nft` run may take.
const NFT_TIMEOUT: Duration = Duration::from_secs(5);

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
pub const DEFAULT_EHASH_BUCKETS: u32 = 1024;

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

// ---------------------------------------------------------------------------------------------
// Skip or fail

/// Whether this process can run cases: a fresh network namespace, `lo` up and a `sock_diag`
/// dump inside it. Checked once per process (on a throwaway thread) and remembered.
pub fn probe() -> Result<(), SkipReason> {
    static PROBE: OnceLock<Result<(), SkipReason>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            initial_namespaces();
            std::thread::spawn(probe_here)
                .join()
                .unwrap_or_else(|_| Err(SkipReason("the probe thread panicked".into())))
        })
        .clone()
}

fn probe_here() -> Result<(), SkipReason> {
    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| {
        SkipReason(match e {
            nix::errno::Errno::EPERM => "no permission to create a network namespace (run as \
                 root, or call enter_user_namespace_if_unprivileged() at the start of main, or \
                 wrap the run in `unshare -Urn`)"
                .into(),
            other => format!(
                "unshare(CLONE_NEWNET) failed: {}",
                errno::from_raw(other as i32)
            ),
        })
    })?;
    match in_host_namespace() {
        Ok(false) => {}
        Ok(true) => {
            return Err(SkipReason(
                "unshare left the thread in the host namespace".into(),
            ));
        }
        Err(e) => return Err(SkipReason(e.to_string())),
    }
    sys::link_up("lo")
        .map_err(|n| SkipReason(format!("cannot bring lo up: {}", errno::from_raw(n))))?;
    let mut diag = DiagSocket::open_here(Host::A).map_err(|e| SkipReason(e.to_string()))?;
    diag.rows().map_err(|e| SkipReason(e.to_string()))?;
    Ok(())
}

/// For the CLI, first thing in `main()` while the process has one thread: when not root,
/// enters a new user namespace in which the current uid and gid are mapped to 0, so that the
/// harness can then create network namespaces. Does nothing as root.
///
/// Needs unprivileged user namespaces (Debian: `kernel.unprivileged_userns_clone=1`; Ubuntu
/// 24.04: `kernel.apparmor_restrict_unprivileged_userns=0`). Only uid 0 exists inside, so
/// `socket(…, euid=N)` ops fail there with [`HarnessError::Unsupported`].
pub fn enter_user_namespace_if_unprivileged() -> Result<(), HarnessError> {
    let uid = nix::unistd::geteuid();
    if uid.is_root() {
        return Ok(());
    }
    let gid = nix::unistd::getegid();
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| HarnessError::io("reading /proc/self/status", e))?;
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0);
    if threads != 1 {
        return Err(HarnessError::Unsupported {
            what: "entering a user namespace".into(),
            reason: format!(
                "the process already has {threads} threads; unshare(CLONE_NEWUSER) needs a \
                 single-threaded process, so call this first thing in main()"
            ),
        });
    }
    unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| HarnessError::NamespaceUnavailable {
        reason: format!(
            "unshare(CLONE_NEWUSER) failed with {}: unprivileged user namespaces may be off \
             (kernel.unprivileged_userns_clone, user.max_user_namespaces, \
             kernel.apparmor_restrict_unprivileged_userns); run as root or under `unshare -Urn`",
            errno::from_raw(e as i32)
        ),
    })?;
    let write = |path: &str, text: String| {
        std::fs::write(path, text).map_err(|e| HarnessError::io(format!("writing {path}"), e))
    };
    write("/proc/self/setgroups", "deny".into())?;
    write("/proc/self/uid_map", format!("0 {uid} 1"))?;
    write("/proc/self/gid_map", format!("0 {gid} 1"))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The host guard

fn ns_id(path: &str) -> std::io::Result<(u64, u64)> {
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

/// The namespaces that count as "the host": the one the process's main thread is in (the
/// process started there; the harness never moves its main thread) and pid 1's, when readable.
fn initial_namespaces() -> &'static [(u64, u64)] {
    static INITIAL: OnceLock<Vec<(u64, u64)>> = OnceLock::new();
    INITIAL.get_or_init(|| {
        ["/proc/self/ns/net", "/proc/1/ns/net"]
            .iter()
            .filter_map(|p| ns_id(p).ok())
            .collect()
    })
}

/// Whether the calling thread is in the host's network namespace.
pub fn in_host_namespace() -> Result<bool, HarnessError> {
    let here = ns_id("/proc/thread-self/ns/net")
        .map_err(|e| HarnessError::io("reading /proc/thread-self/ns/net", e))?;
    let initial = initial_namespaces();
    if initial.is_empty() {
        return Err(HarnessError::NamespaceUnavailable {
            reason: "cannot identify the host's network namespace (/proc/self/ns/net)".into(),
        });
    }
    Ok(initial.contains(&here))
}

/// Refuses `what` when the calling thread is in the host's network namespace.
fn refuse_in_host(what: &str) -> Result<(), HarnessError> {
    if in_host_namespace()? {
        return Err(HarnessError::HostNamespace { what: what.into() });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Sysctls

/// Writes a sysctl in the calling thread's network namespace and reads it back; refuses in the
/// host's namespace.
pub fn write_sysctl_here(setting: &Sysctl) -> Result<(), HarnessError> {
    let fail = |reason: String| HarnessError::Sysctl {
        key: setting.key.name().into(),
        value: setting.value.to_string(),
        reason,
    };
    refuse_in_host(&format!("write sysctl {setting}"))?;
    let path = setting.key.proc_path();
    let mut f = File::options().write(true).open(&path).map_err(|e| {
        fail(match e.kind() {
            std::io::ErrorKind::NotFound => "this kernel has no such sysctl".into(),
            _ => format!("cannot open {path}: {e}"),
        })
    })?;
    f.write_all(format!("{}\n", setting.value).as_bytes())
        .map_err(|e| fail(format!("the kernel refused the value: {e}")))?;
    drop(f);
    let back = read_sysctl_here(setting.key)?;
    if back != setting.value {
        return Err(fail(format!("read back {back}")));
    }
    Ok(())
}

/// Writes a sysctl of the calling thread's namespace as a scenario op: a value the kernel
/// refuses is the op's result (`Ok(Err(EINVAL))`), not a harness failure.
pub fn try_write_sysctl_here(
    setting: &Sysctl,
) -> Result<Result<(), tcpconform_model::Errno>, HarnessError> {
    refuse_in_host(&format!("write sysctl {setting}"))?;
    let path = setting.key.proc_path();
    let mut f = File::options()
        .write(true)
        .open(&path)
        .map_err(|e| HarnessError::Sysctl {
            key: setting.key.name().into(),
            value: setting.value.to_string(),
            reason: match e.kind() {
                std::io::ErrorKind::NotFound => "this kernel has no such sysctl".into(),
                _ => format!("cannot open {path}: {e}"),
            },
        })?;
    match f.write_all(format!("{}\n", setting.value).as_bytes()) {
        Ok(()) => Ok(Ok(())),
        Err(e) => match e.raw_os_error() {
            Some(n) => Ok(Err(errno::from_raw(n))),
            None => Err(HarnessError::io(format!("writing {path}"), e)),
        },
    }
}

/// Reads a sysctl of the calling thread's network namespace.
pub fn read_sysctl_here(key: SysctlKey) -> Result<SysctlValue, HarnessError> {
    let path = key.proc_path();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| HarnessError::io(format!("reading {path}"), e))?;
    key.parse_value(&text).map_err(|e| HarnessError::Sysctl {
        key: key.name().into(),
        value: text.trim().into(),
        reason: format!("cannot parse what the kernel shows: {e}"),
    })
}

// ---------------------------------------------------------------------------------------------
// Hosts

/// The network namespaces of a case. The case thread lives in host `a`; work on host `b`
/// steps into `b` and back ([`Hosts::enter`]).
#[derive(Debug)]
pub struct Hosts {
    a: OwnedFd,
    b: Option<OwnedFd>,
    /// Every host was made ahead ([`FreshNetns`]): `lo` is up, with quickack on its routes.
    made_ahead: bool,
    /// The two hosts were made ahead already joined ([`FreshPair`]): the veth pair is up,
    /// addressed and usable, with quickack on its routes.
    linked: bool,
    /// Whether the `nft` table was created, per host.
    nft_ready: [bool; 2],
    _not_send: PhantomData<*const ()>,
}

/// Moves the thread back to host `a` when dropped (also on unwind).
struct Return<'a>(&'a OwnedFd);

impl Drop for Return<'_> {
    fn drop(&mut self) {
        if let Err(e) = setns(self.0, CloneFlags::CLONE_NEWNET) {
            // The thread would stay in host b: nothing after this could be trusted.
            panic!("cannot return to host a's network namespace: {e}");
        }
    }
}

/// A new namespace whose children get a private established-hash table of `buckets` (`None`
/// when the kernel has no `tcp_child_ehash_entries`, Linux < 6.1: the hosts then share the
/// table). The calling thread is left in it.
fn scratch_namespace(buckets: u32) -> Result<Option<OwnedFd>, HarnessError> {
    let p = new_netns("scratch")?;
    // Best effort: without the sysctl the hosts share the table.
    Ok(
        write_raw_sysctl("net.ipv4.tcp_child_ehash_entries", &buckets.to_string())
            .ok()
            .map(|()| p),
    )
}

fn open_own_ns() -> Result<OwnedFd, HarnessError> {
    File::open("/proc/thread-self/ns/net")
        .map(OwnedFd::from)
        .map_err(|e| HarnessError::io("opening /proc/thread-self/ns/net", e))
}

fn new_netns(which: &str) -> Result<OwnedFd, HarnessError> {
    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| HarnessError::NamespaceUnavailable {
        reason: format!(
            "unshare(CLONE_NEWNET) for host {which} failed with {}",
            errno::from_raw(e as i32)
        ),
    })?;
    refuse_in_host("use a namespace")?;
    open_own_ns()
}

/// The size of the host's shared established-hash table (`tcp_ehash_entries`, which a
/// namespace on the shared table shows negated).
fn shared_ehash_entries() -> Option<u32> {
    static SHARED: OnceLock<Option<u32>> = OnceLock::new();
    *SHARED.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_ehash_entries")
            .ok()
            .and_then(|t| t.trim().parse::<i64>().ok())
            .map(|n| n.unsigned_abs() as u32)
    })
}

/// In a namespace with a private established-hash table, writes back the two sysctls the
/// kernel derives from the table's size to what the shared table gives
/// (`tcp_set_hashinfo()`: `ehash_entries / 2` and `max(128, ehash_entries / 128)`).
fn restore_hash_derived_defaults(shared: u32) -> Result<(), HarnessError> {
    let private = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_ehash_entries")
        .ok()
        .and_then(|t| t.trim().parse::<i64>().ok())
        .is_some_and(|n| n > 0);
    if !private {
        return Ok(());
    }
    write_raw_sysctl("net.ipv4.tcp_max_tw_buckets", &(shared / 2).to_string())?;
    write_raw_sysctl(
        "net.ipv4.tcp_max_syn_backlog",
        &(shared / 128).max(128).to_string(),
    )
}

/// Writes a sysctl the model does not know (harness plumbing), refusing in the host.
fn write_raw_sysctl(key: &str, value: &str) -> Result<(), HarnessError> {
    refuse_in_host(&format!("write sysctl {key}={value}"))?;
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::write(&path, format!("{value}\n")).map_err(|e| HarnessError::Sysctl {
        key: key.into(),
        value: value.into(),
        reason: e.to_string(),
    })
}

impl Hosts {
    /// Creates the hosts' namespaces. `home` is the namespace of a case thread
    /// ([`on_case_thread`]) that already gives new namespaces a private table of
    /// `ehash_buckets`; without it, a scratch namespace that does is made for this case.
    fn create(
        two_hosts: bool,
        ehash_buckets: Option<u32>,
        home: Option<&OwnedFd>,
    ) -> Result<Self, HarnessError> {
        if home.is_some()
            && let Some(hosts) = Self::take_made_ahead(two_hosts)?
        {
            return Ok(hosts);
        }
        // A namespace's established-hash table is chosen by the namespace its creator is in:
        // create the hosts from a scratch namespace that asks for a private one.
        let shared = shared_ehash_entries();
        let scratch = match (home, ehash_buckets, shared) {
            (None, Some(n), Some(_)) => {
                stopwatch::time("setup: scratch namespace", || scratch_namespace(n))?
            }
            _ => None,
        };
        let parent = home.or(scratch.as_ref());
        let a = stopwatch::time("setup: namespace a", || new_netns("a"))?;
        let b = if two_hosts {
            if let Some(p) = &parent {
                setns(p, CloneFlags::CLONE_NEWNET).map_err(|e| {
                    HarnessError::NamespaceUnavailable {
                        reason: format!("setns into the scratch namespace failed: {e}"),
                    }
                })?;
            }
            let b = new_netns("b")?;
            if let Some(shared) = shared {
                restore_hash_derived_defaults(shared)?;
            }
            setns(&a, CloneFlags::CLONE_NEWNET).map_err(|e| {
                HarnessError::NamespaceUnavailable {
                    reason: format!("setns back to host a failed: {e}"),
                }
            })?;
            Some(b)
        } else {
            None
        };
        stopwatch::time("setup: drop scratch namespace", || drop(scratch));
        if let Some(shared) = shared {
            stopwatch::time("setup: hash-derived sysctls", || {
                restore_hash_derived_defaults(shared)
            })?;
        }
        Ok(Self {
            a,
            b,
            made_ahead: false,
            linked: false,
            nft_ready: [false; 2],
            _not_send: PhantomData,
        })
    }

    /// The hosts from namespaces the case thread's makers made ahead ([`FreshNetns`], or a
    /// [`FreshPair`] for two hosts), the thread moved into host `a`; `None` when the thread
    /// has no maker (or it stopped).
    fn take_made_ahead(two_hosts: bool) -> Result<Option<Self>, HarnessError> {
        let (a, b) = if two_hosts {
            let Some(pair) = stopwatch::time("setup: linked pair", FreshPair::take) else {
                return Ok(None);
            };
            let FreshPair { a, b } = pair?;
            (a, Some(b))
        } else {
            let Some(a) = stopwatch::time("setup: namespace a", FreshNetns::take) else {
                return Ok(None);
            };
            (a?.0, None)
        };
        setns(&a, CloneFlags::CLONE_NEWNET).map_err(|e| HarnessError::NamespaceUnavailable {
            reason: format!("setns into a namespace made ahead failed: {e}"),
        })?;
        refuse_in_host("use a namespace")?;
        Ok(Some(Self {
            linked: b.is_some(),
            a,
            b,
            made_ahead: true,
            nft_ready: [false; 2],
            _not_send: PhantomData,
        }))
    }

    /// Whether the case has `host`.
    pub fn has(&self, host: Host) -> bool {
        host == Host::A || self.b.is_some()
    }

    /// Runs `f` inside `host`'s network namespace (on the case thread).
    pub fn enter<R>(&self, host: Host, f: impl FnOnce() -> R) -> Result<R, HarnessError> {
        match host {
            Host::A => Ok(f()),
            Host::B => {
                let b = self.b.as_ref().ok_or_else(|| HarnessError::InvalidOp {
                    op: "enter host b".into(),
                    reason: "the case has no host b".into(),
                })?;
                setns(b, CloneFlags::CLONE_NEWNET).map_err(|e| {
                    HarnessError::NamespaceUnavailable {
                        reason: format!("setns into host b failed: {e}"),
                    }
                })?;
                let _back = Return(&self.a);
                Ok(f())
            }
        }
    }

    /// Writes a sysctl in `host`'s namespace (and reads it back).
    pub fn write_sysctl(&self, host: Host, setting: &Sysctl) -> Result<(), HarnessError> {
        self.enter(host, || write_sysctl_here(setting))?
    }

    /// Writes a sysctl of `host`'s namespace as a scenario op (see [`try_write_sysctl_here`]).
    pub fn try_write_sysctl(
        &self,
        host: Host,
        setting: &Sysctl,
    ) -> Result<Result<(), tcpconform_model::Errno>, HarnessError> {
        self.enter(host, || try_write_sysctl_here(setting))?
    }

    /// Reads a sysctl of `host`'s namespace.
    pub fn read_sysctl(&self, host: Host, key: SysctlKey) -> Result<SysctlValue, HarnessError> {
        self.enter(host, || read_sysctl_here(key))?
    }

    /// From now on, silently drops every segment that arrives at `host` for the connection
    /// whose end there is `local` ↔ `peer` (an nftables rule in that host's namespace, input
    /// hook, matching source `peer` and destination `local`).
    pub fn drop_arriving(
        &mut self,
        host: Host,
        local: SocketAddr,
        peer: Option<SocketAddr>,
    ) -> Result<(), HarnessError> {
        let rule = match peer {
            Some(p) => self.match_tuple(local, p)?,
            None => self.match_local(local),
        };
        self.nft(
            host,
            &format!("add rule inet tcpconform input {rule} drop\n"),
        )
    }

    /// The host that owns `ip`, seen from `from` (loopback addresses are `from`'s own).
    pub fn host_of_address(&self, from: Host, ip: IpAddr) -> Host {
        let wire = tcpconform_model::addr::wire_ip(ip);
        let is = |h: Host| match (h, wire) {
            (Host::A, IpAddr::V4(a)) => a == HOST_A_V4,
            (Host::B, IpAddr::V4(a)) => a == HOST_B_V4,
            (Host::A, IpAddr::V6(a)) => a == HOST_A_V6,
            (Host::B, IpAddr::V6(a)) => a == HOST_B_V6,
        };
        if self.b.is_some() && !is(from) && is(from.other()) {
            from.other()
        } else {
            from
        }
    }

    /// Runs `f` while segments arriving at `host` for `local` from `peer` are dropped (a
    /// chain of its own, flushed afterwards).
    pub fn silenced<R>(
        &mut self,
        host: Host,
        local: SocketAddr,
        peer: SocketAddr,
        f: impl FnOnce() -> Result<R, HarnessError>,
    ) -> Result<R, HarnessError> {
        let rule = self.match_tuple(local, peer)?;
        self.nft(
            host,
            &format!("add rule inet tcpconform silence {rule} drop\n"),
        )?;
        let r = f();
        self.nft(host, "flush chain inet tcpconform silence\n")?;
        r
    }

    fn match_tuple(&self, local: SocketAddr, peer: SocketAddr) -> Result<String, HarnessError> {
        let wire = |a: SocketAddr| tcpconform_model::addr::wire_ip(a.ip());
        let proto = match (wire(local), wire(peer)) {
            (IpAddr::V4(_), IpAddr::V4(_)) => "ip",
            (IpAddr::V6(_), IpAddr::V6(_)) => "ip6",
            _ => {
                return Err(HarnessError::InvalidOp {
                    op: "peer_vanishes".into(),
                    reason: format!("{local} and {peer} are of different families"),
                });
            }
        };
        Ok(format!(
            "{proto} saddr {} {proto} daddr {} tcp sport {} tcp dport {}",
            wire(peer),
            wire(local),
            peer.port(),
            local.port()
        ))
    }

    /// Everything arriving for `local`; a wildcard address stands for every address.
    fn match_local(&self, local: SocketAddr) -> String {
        let ip = tcpconform_model::addr::wire_ip(local.ip());
        if ip.is_unspecified() {
            return format!("tcp dport {}", local.port());
        }
        let proto = if ip.is_ipv4() { "ip" } else { "ip6" };
        format!("{proto} daddr {ip} tcp dport {}", local.port())
    }

    /// Runs an nft script in `host`'s namespace, creating the harness's table first.
    fn nft(&mut self, host: Host, rules: &str) -> Result<(), HarnessError> {
        let nft = find_nft().ok_or_else(|| HarnessError::Unsupported {
            what: "peer_vanishes / peer_reboots".into(),
            reason: "they need the `nft` binary (Debian package `nftables`) to drop the \
                     connection's segments"
                .into(),
        })?;
        let idx = usize::from(host == Host::B);
        let mut script = String::new();
        if !self.nft_ready[idx] {
            script.push_str(
                "table inet tcpconform {\n  chain input {\n    type filter hook input \
                 priority -300; policy accept;\n  }\n  chain silence {\n    type filter hook \
                 input priority -301; policy accept;\n  }\n}\n",
            );
        }
        script.push_str(rules);
        // No case closes a socket until nft has exited (see `executor::FORK_GATE`).
        let _no_close = crate::executor::FORK_GATE
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let child = self.enter(host, || {
            refuse_in_host("add a firewall rule")?;
            Command::new(&nft)
                .args(["-f", "-"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| HarnessError::io(format!("running {}", nft.display()), e))
        })??;
        run_bounded(child, &script, NFT_TIMEOUT, "nft")?;
        self.nft_ready[idx] = true;
        Ok(())
    }
}

fn find_nft() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join("nft"))
        .find(|p| p.is_file())
}

/// Feeds `input` to a child and waits for it, at most `timeout`.
fn run_bounded(
    mut child: std::process::Child,
    input: &str,
    timeout: Duration,
    what: &str,
) -> Result<(), HarnessError> {
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| HarnessError::io(format!("writing to {what}"), e))?;
    }
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HarnessError::Timeout {
                    what: what.into(),
                    after: timeout,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_micros(500)),
            Err(e) => return Err(HarnessError::io(format!("waiting for {what}"), e)),
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    Err(HarnessError::Unsupported {
        what: what.into(),
        reason: format!("{status}: {}", err.trim()),
    })
}

// ---------------------------------------------------------------------------------------------
// rtnetlink: the two-host topology and extra addresses

struct Rtnl {
    nl: NlSocket,
    host: Host,
}

impl Rtnl {
    fn open_here(host: Host) -> Result<Self, HarnessError> {
        refuse_in_host("configure links and addresses")?;
        Ok(Self {
            nl: NlSocket::open(netlink_sys::protocols::NETLINK_ROUTE, "rtnetlink")?,
            host,
        })
    }

    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: String,
    ) -> Result<(), HarnessError> {
        let what = format!("{what} on host {}", self.host);
        match self
            .nl
            .request_ack(NetlinkPayload::InnerMessage(msg), flags, &what)?
        {
            Ok(()) => Ok(()),
            Err(n) => Err(HarnessError::netlink(
                what,
                format!("kernel answered {}", errno::from_raw(n)),
            )),
        }
    }

    fn add_address(&mut self, index: u32, ip: IpAddr, prefix: u8) -> Result<(), HarnessError> {
        let mut msg = AddressMessage::default();
        msg.header.index = index;
        msg.header.prefix_len = prefix;
        match ip {
            IpAddr::V4(_) => {
                msg.header.family = AddressFamily::Inet;
                msg.attributes.push(AddressAttribute::Local(ip));
                msg.attributes.push(AddressAttribute::Address(ip));
            }
            IpAddr::V6(_) => {
                msg.header.family = AddressFamily::Inet6;
                msg.header.flags = AddressHeaderFlags::Nodad;
                msg.attributes.push(AddressAttribute::Address(ip));
                msg.attributes
                    .push(AddressAttribute::Flags(AddressFlags::Nodad));
            }
        }
        self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            format!("adding address {ip}/{prefix} to interface {index}"),
        )
    }

    fn add_neighbour(&mut self, index: u32, ip: IpAddr, mac: [u8; 6]) -> Result<(), HarnessError> {
        let mut msg = NeighbourMessage::default();
        msg.header.ifindex = index;
        msg.header.state = NeighbourState::Permanent;
        msg.header.kind = RouteType::Unicast;
        let dest = match ip {
            IpAddr::V4(a) => {
                msg.header.family = AddressFamily::Inet;
                NeighbourAddress::Inet(a)
            }
            IpAddr::V6(a) => {
                msg.header.family = AddressFamily::Inet6;
                NeighbourAddress::Inet6(a)
            }
        };
        msg.attributes.push(NeighbourAttribute::Destination(dest));
        msg.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        self.request(
            RouteNetlinkMessage::NewNeighbour(msg),
            NLM_F_CREATE | NLM_F_REPLACE,
            format!("adding a permanent neighbour entry for {ip}"),
        )
    }

    /// Creates the veth pair from host `a`, with `veth-b` placed straight into `b`.
    ///
    /// The two ends get different interface indexes ([`VETH_A_INDEX`], [`VETH_B_INDEX`]).
    /// Left to the kernel, each would be its namespace's first free index, 2, and a veth
    /// whose index equals its peer's (its `iflink`) makes a non-urgent link event
    /// (`linkwatch_urgent_event()`): the carrier then waits for linkwatch's next run, up to a
    /// second after its last one (`linkwatch_schedule_work()`), and a case set up within a
    /// second of another two-host case waited that long.
    fn add_veth(&mut self, b: &OwnedFd) -> Result<(), HarnessError> {
        let mut peer = LinkMessage::default();
        peer.header.index = VETH_B_INDEX;
        peer.attributes.push(LinkAttribute::IfName(VETH_B.into()));
        peer.attributes.push(LinkAttribute::Address(MAC_B.to_vec()));
        peer.attributes.push(LinkAttribute::NetNsFd(b.as_raw_fd()));
        let mut msg = LinkMessage::default();
        msg.header.index = VETH_A_INDEX;
        msg.attributes.push(LinkAttribute::IfName(VETH_A.into()));
        msg.attributes.push(LinkAttribute::Address(MAC_A.to_vec()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        self.request(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            format!("creating the veth pair {VETH_A}/{VETH_B}"),
        )
    }
}

impl Rtnl {
    /// Sets the `quickack` metric on every local and directly connected route of the
    /// namespace, so that a received FIN (or data) is acknowledged at once.
    ///
    /// Without it, `tcp_fin()` puts the receiver in pingpong mode and its ACK of a FIN may be
    /// delayed (up to `TCP_DELACK_MAX`, 200 ms): the closer then shows FIN-WAIT-1 for a while
    /// instead of FIN-WAIT-2, and the table after a `close()` depends on timing. With
    /// `icsk_ack.dst_quick_ack` (read from the route, RTAX_QUICKACK) every ACK is immediate and
    /// the table is determined. Only ACK timing changes; no rule the model describes does.
    ///
    /// IPv4 routes are replaced in place; an IPv6 route cannot be (a metric of 0 becomes 1024
    /// on insertion, so the replacement would sit beside the original), so it is deleted and
    /// added again.
    fn quickack_routes(&mut self) -> Result<(), HarnessError> {
        use netlink_packet_route::route::{RouteAttribute, RouteMessage, RouteMetric};
        let what = format!("listing the routes of host {}", self.host);
        let mut routes = Vec::new();
        let mut req = RouteMessage::default();
        req.header.address_family = AddressFamily::Unspec;
        self.nl.dump(
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::GetRoute(req)),
            &what,
            |msg, _| {
                if let RouteNetlinkMessage::NewRoute(r) = msg {
                    let table = r.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Table(t) => Some(*t),
                        _ => None,
                    });
                    let wanted = match (table, r.header.kind) {
                        (Some(255), RouteType::Local) => true,
                        (Some(254), RouteType::Unicast) => is_connected_route(r),
                        _ => false,
                    };
                    if wanted {
                        routes.push(r.clone());
                    }
                }
                Ok(())
            },
        )?;
        for r in routes {
            let mut new = RouteMessage::default();
            new.header = r.header.clone();
            new.attributes = r
                .attributes
                .iter()
                .filter(|a| {
                    !matches!(
                        a,
                        RouteAttribute::Metrics(_)
                            | RouteAttribute::CacheInfo(_)
                            | RouteAttribute::Expires(_)
                    )
                })
                .cloned()
                .collect();
            new.attributes
                .push(RouteAttribute::Metrics(vec![RouteMetric::QuickAck(1)]));
            if r.header.address_family == AddressFamily::Inet6 {
                self.request(
                    RouteNetlinkMessage::DelRoute(r.clone()),
                    0,
                    "deleting an IPv6 route to add it back with quickack".into(),
                )?;
                new.attributes
                    .retain(|a| !matches!(a, RouteAttribute::Priority(_)));
                self.request(
                    RouteNetlinkMessage::NewRoute(new),
                    NLM_F_CREATE | NLM_F_EXCL,
                    "adding an IPv6 route back with quickack".into(),
                )?;
            } else {
                self.request(
                    RouteNetlinkMessage::NewRoute(new),
                    NLM_F_CREATE | NLM_F_REPLACE,
                    "setting quickack on an IPv4 route".into(),
                )?;
            }
        }
        Ok(())
    }
}

/// A directly connected route (no gateway) that is not the IPv6 link-local `fe80::/64`.
fn is_connected_route(r: &netlink_packet_route::route::RouteMessage) -> bool {
    use netlink_packet_route::route::{RouteAddress, RouteAttribute};
    let gateway = r
        .attributes
        .iter()
        .any(|a| matches!(a, RouteAttribute::Gateway(_)));
    let link_local = r.attributes.iter().any(|a| {
        matches!(a, RouteAttribute::Destination(RouteAddress::Inet6(d)) if d.is_unicast_link_local())
    });
    !gateway && !link_local
}

fn ifindex(name: &str, host: Host) -> Result<u32, HarnessError> {
    sys::if_index(name).map_err(|n| {
        HarnessError::netlink(
            format!("looking up interface {name} on host {host}"),
            errno::from_raw(n),
        )
    })
}

/// How long a link may take to become operational: a bound against hanging, far above the
/// usual milliseconds. Linkwatch and address setup wait for the RTNL lock, which the freeing of
/// namespaces (`cleanup_net()`, this process's and the machine's) holds for long stretches on a
/// loaded machine: 2 s was seen to run out with both CPUs busy, 10 s with hundreds of cases setting up at once.
const LINK_TIMEOUT: Duration = Duration::from_secs(15);

/// Waits until the interface `name` (of the calling thread's namespace) carries packets.
///
/// `IFF_RUNNING` is not enough: linkwatch sets the operational state before it replaces the
/// `noop` queueing discipline (`linkwatch_do_dev()`: `rfc2863_policy()`, then
/// `dev_activate()`), and a packet sent in between is dropped (seen here as a SYN lost and a
/// `connect` that took the 1 s SYN retransmission). IPv6 gives the device its link-local
/// address only once `addrconf_link_ready()` holds, which requires both, so the harness waits
/// for that address to appear in `/proc/thread-self/net/if_inet6`.
fn wait_ready(name: &str) -> Result<(), HarnessError> {
    poll_until(&format!("{name} becoming operational"), || {
        let flags = sys::link_flags(name).map_err(|n| {
            HarnessError::netlink(format!("reading the flags of {name}"), errno::from_raw(n))
        })?;
        let running = flags & libc::IFF_RUNNING != 0;
        let activated = match std::fs::read_to_string("/proc/thread-self/net/if_inet6") {
            Ok(text) => text
                .lines()
                .any(|l| l.split_whitespace().last() == Some(name)),
            // No IPv6: IFF_RUNNING is the best there is.
            Err(_) => true,
        };
        Ok(running && activated)
    })
}

/// Polls `done` until it holds, for at most [`LINK_TIMEOUT`]: every 100 µs at first, then
/// less often (at most every 5 ms).
fn poll_until(
    what: &str,
    mut done: impl FnMut() -> Result<bool, HarnessError>,
) -> Result<(), HarnessError> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(100);
    while !done()? {
        if start.elapsed() > LINK_TIMEOUT {
            return Err(HarnessError::Timeout {
                what: what.into(),
                after: LINK_TIMEOUT,
            });
        }
        std::thread::sleep(pause);
        if start.elapsed() > Duration::from_millis(10) {
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }
    Ok(())
}

fn lo_up(host: Host) -> Result<(), HarnessError> {
    refuse_in_host("bring lo up")?;
    sys::link_up("lo").map_err(|n| {
        HarnessError::netlink(format!("bringing lo up on host {host}"), errno::from_raw(n))
    })
}

/// Builds the topology of `spec` in `hosts` (the thread is in host `a`).
fn build_topology(spec: &SandboxSpec, hosts: &Hosts) -> Result<(), HarnessError> {
    stopwatch::time("setup: topology", || {
        build_topology_timed(spec, hosts, true)
    })
}

/// [`build_topology`]; `quickack` sets the routes' `quickack` (the bare baseline of
/// [`run_bare`] goes without).
fn build_topology_timed(
    spec: &SandboxSpec,
    hosts: &Hosts,
    quickack: bool,
) -> Result<(), HarnessError> {
    if !hosts.made_ahead {
        stopwatch::time("setup: lo up", || lo_up(Host::A))?;
        if spec.two_hosts {
            hosts.enter(Host::B, || lo_up(Host::B))??;
        }
    }
    // Every host needs rtnetlink to set `quickack` on its routes, unless it was made ahead
    // (`lo`'s routes have it) and gets no other route.
    let needs_rtnl =
        !hosts.made_ahead || (spec.two_hosts && !hosts.linked) || !spec.addresses.is_empty();
    let mut rt_a = needs_rtnl.then(|| Rtnl::open_here(Host::A)).transpose()?;
    let mut rt_b = if spec.two_hosts && needs_rtnl {
        Some(hosts.enter(Host::B, || Rtnl::open_here(Host::B))??)
    } else {
        None
    };
    if spec.two_hosts
        && !hosts.linked
        && let (Some(ra), Some(rb)) = (rt_a.as_mut(), rt_b.as_mut())
    {
        link_hosts(hosts, ra, rb)?;
    }
    for (host, ip) in &spec.addresses {
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        let rt = match host {
            Host::A => rt_a.as_mut(),
            Host::B => rt_b.as_mut(),
        };
        let rt = rt.ok_or_else(|| HarnessError::InvalidOp {
            op: format!("address {ip} on host {host}"),
            reason: "the case has no host b".into(),
        })?;
        // `lo` is interface 1 in every namespace.
        rt.add_address(1, *ip, prefix)?;
    }
    // An IPv6 address starts tentative even with IFA_F_NODAD: the DAD worker clears the flag
    // asynchronously, and until then the address neither sends nor accepts (`Ip6InAddrErrors`;
    // seen here as a SYN dropped and a 1 s retransmission).
    for host in spec.hosts() {
        let mine: Vec<Ipv6Addr> = spec
            .addresses
            .iter()
            .filter(|(h, _)| h == host)
            .filter_map(|(_, ip)| match ip {
                IpAddr::V6(a) => Some(*a),
                IpAddr::V4(_) => None,
            })
            .chain((spec.two_hosts && !hosts.linked).then_some(match host {
                Host::A => HOST_A_V6,
                Host::B => HOST_B_V6,
            }))
            .collect();
        if !mine.is_empty() {
            stopwatch::time("setup: IPv6 DAD wait", || {
                hosts.enter(*host, || wait_not_tentative(&mine))
            })??;
        }
    }
    // Last, once every route exists: acknowledge at once (see Rtnl::quickack_routes).
    for rt in [rt_a.as_mut(), rt_b.as_mut()].into_iter().flatten() {
        if quickack {
            stopwatch::time("setup: quickack routes", || rt.quickack_routes())?;
        }
    }
    Ok(())
}

/// Joins hosts `a` and `b` (the thread is in `a`) by the veth pair, up and addressed, with
/// static neighbours, once linkwatch has seen both carriers.
fn link_hosts(hosts: &Hosts, ra: &mut Rtnl, rb: &mut Rtnl) -> Result<(), HarnessError> {
    let b = hosts.b.as_ref().ok_or_else(|| HarnessError::InvalidOp {
        op: "join the hosts".into(),
        reason: "the case has no host b".into(),
    })?;
    stopwatch::time("setup: veth pair", || ra.add_veth(b))?;
    let ia = ifindex(VETH_A, Host::A)?;
    sys::link_up(VETH_A)
        .map_err(|n| HarnessError::netlink(format!("bringing {VETH_A} up"), errno::from_raw(n)))?;
    let ib = hosts.enter(Host::B, || -> Result<u32, HarnessError> {
        let ib = ifindex(VETH_B, Host::B)?;
        sys::link_up(VETH_B).map_err(|n| {
            HarnessError::netlink(format!("bringing {VETH_B} up"), errno::from_raw(n))
        })?;
        Ok(ib)
    })??;
    // The link only carries packets once linkwatch has seen the carrier and activated the
    // queueing discipline (asynchronously, from a workqueue); until then packets are
    // dropped.
    stopwatch::time(
        "setup: veth carrier wait",
        || -> Result<(), HarnessError> {
            wait_ready(VETH_A)?;
            hosts.enter(Host::B, || wait_ready(VETH_B))?
        },
    )?;
    ra.add_address(ia, HOST_A_V4.into(), V4_PREFIX)?;
    ra.add_address(ia, HOST_A_V6.into(), V6_PREFIX)?;
    rb.add_address(ib, HOST_B_V4.into(), V4_PREFIX)?;
    rb.add_address(ib, HOST_B_V6.into(), V6_PREFIX)?;
    ra.add_neighbour(ia, HOST_B_V4.into(), MAC_B)?;
    ra.add_neighbour(ia, HOST_B_V6.into(), MAC_B)?;
    rb.add_neighbour(ib, HOST_A_V4.into(), MAC_A)?;
    rb.add_neighbour(ib, HOST_A_V6.into(), MAC_A)?;
    Ok(())
}

/// Waits until every one of `addrs` is usable in the calling thread's namespace: present, not
/// tentative, and with its local route in place.
fn wait_not_tentative(addrs: &[Ipv6Addr]) -> Result<(), HarnessError> {
    const IFA_F_TENTATIVE: u32 = 0x40;
    const RTF_LOCAL: u32 = 0x8000_0000;
    let what = format!("IPv6 addresses {addrs:?} leaving the tentative state");
    poll_until(&what, || {
        let text = std::fs::read_to_string("/proc/thread-self/net/if_inet6")
            .map_err(|e| HarnessError::io("reading /proc/thread-self/net/if_inet6", e))?;
        // Lines: address (32 hex digits), ifindex, prefix length, scope, flags, name.
        let usable: Vec<Ipv6Addr> = text
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let addr = u128::from_str_radix(f.first()?, 16).ok()?;
                let flags = u32::from_str_radix(f.get(4)?, 16).ok()?;
                (flags & IFA_F_TENTATIVE == 0).then_some(Ipv6Addr::from(addr))
            })
            .collect();
        // The address's local route is inserted only after the flag is cleared
        // (`addrconf_dad_completed()` → `ipv6_ifa_notify()`); a packet arriving in between is
        // routed as not local. Lines: destination, prefix length, …, flags, device.
        let routes = std::fs::read_to_string("/proc/thread-self/net/ipv6_route")
            .map_err(|e| HarnessError::io("reading /proc/thread-self/net/ipv6_route", e))?;
        let local: Vec<Ipv6Addr> = routes
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let dst = u128::from_str_radix(f.first()?, 16).ok()?;
                let flags = u32::from_str_radix(f.get(8)?, 16).ok()?;
                (*f.get(1)? == "80" && flags & RTF_LOCAL != 0).then_some(Ipv6Addr::from(dst))
            })
            .collect();
        Ok(addrs
            .iter()
            .all(|a| usable.contains(a) && local.contains(a)))
    })
}

// ---------------------------------------------------------------------------------------------
// Cases

/// One case's world, handed to the closure of [`run_case`] on the case thread.
///
/// It is neither `Send` nor `Sync`: everything it does depends on the namespace of the thread
/// it runs on.
pub struct Case {
    hosts: Hosts,
    executor: Executor,
    observer: Observer,
    /// The last table read settled, and no call since can have sent a segment.
    quiet: bool,
}

impl Case {
    fn create(spec: &SandboxSpec, home: Option<&OwnedFd>) -> Result<Self, HarnessError> {
        for (host, what) in spec
            .addresses
            .iter()
            .map(|(h, ip)| (h, format!("address {ip}")))
            .chain(spec.sysctls.iter().map(|(h, s)| (h, format!("sysctl {s}"))))
        {
            if *host == Host::B && !spec.two_hosts {
                return Err(HarnessError::InvalidOp {
                    op: what,
                    reason: "host b exists only in a two-host case".into(),
                });
            }
        }
        let hosts = stopwatch::time("setup: namespaces", || {
            Hosts::create(spec.two_hosts, spec.ehash_buckets, home)
        })?;
        build_topology(spec, &hosts)?;
        stopwatch::time("setup: sysctls", || -> Result<(), HarnessError> {
            for (host, setting) in &spec.sysctls {
                hosts.write_sysctl(*host, setting)?;
            }
            Ok(())
        })?;
        let diag = stopwatch::time("setup: sock_diag sockets", || -> Result<_, HarnessError> {
            let mut diag = vec![DiagSocket::open_here(Host::A)?];
            if spec.two_hosts {
                diag.push(hosts.enter(Host::B, || DiagSocket::open_here(Host::B))??);
            }
            Ok(diag)
        })?;
        Ok(Self {
            hosts,
            executor: Executor::new(spec.exec),
            observer: Observer::of_fresh_namespaces(diag)?,
            quiet: false,
        })
    }

    /// Runs one op (see [`Executor::apply`]).
    pub fn apply(&mut self, op: &Op, env: &Env) -> Result<Observed, HarnessError> {
        self.quiet &= observer::sends_nothing(op);
        self.executor
            .apply(op, env, &mut self.hosts, &mut self.observer)
    }

    /// The socket table of every host, read once.
    pub fn snapshot(&mut self) -> Result<Snapshot, HarnessError> {
        self.observer.snapshot(&self.executor)
    }

    /// The socket table, read until it stops changing (see [`Observer::settled_snapshot`]);
    /// when the last table read settled and no call since could send a segment, one dump
    /// ([`Observer::settled_snapshot_after_quiet_call`]).
    pub fn settled_snapshot(&mut self) -> Result<Settled, HarnessError> {
        let s = if self.quiet {
            self.observer
                .settled_snapshot_after_quiet_call(&self.executor)?
        } else {
            self.observer.settled_snapshot(&self.executor)?
        };
        self.quiet = s.settled;
        Ok(s)
    }

    /// Writes a sysctl in `host`'s namespace mid-case.
    pub fn set_sysctl(&mut self, host: Host, setting: &Sysctl) -> Result<(), HarnessError> {
        self.hosts.write_sysctl(host, setting)
    }

    /// Reads a sysctl of `host`'s namespace.
    pub fn sysctl(&self, host: Host, key: SysctlKey) -> Result<SysctlValue, HarnessError> {
        self.hosts.read_sysctl(host, key)
    }

    /// The executor (cookies, the sockets behind the names).
    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    /// The observer (raw dumps, `SOCK_DESTROY`).
    pub fn observer(&mut self) -> &mut Observer {
        &mut self.observer
    }

    /// The namespaces.
    pub fn hosts(&self) -> &Hosts {
        &self.hosts
    }

    /// From now on drops every segment arriving at `host` for `local` from `peer` (the
    /// machinery of `peer_vanishes`; see [`Hosts::drop_arriving`]).
    pub fn drop_arriving(
        &mut self,
        host: Host,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> Result<(), HarnessError> {
        self.quiet = false;
        self.hosts.drop_arriving(host, local, Some(peer))?;
        self.executor.mark_impaired(local, peer);
        Ok(())
    }

    /// Runs `f` inside `host`'s namespace.
    pub fn in_host<R>(&self, host: Host, f: impl FnOnce() -> R) -> Result<R, HarnessError> {
        self.hosts.enter(host, f)
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        let _t = stopwatch::Span::new("teardown: case drop body");
        stopwatch::time("teardown: close", || self.executor.close_all());
        if let Err(e) =
            stopwatch::time("teardown: orphan sweep", || self.observer.destroy_orphans())
        {
            eprintln!("tcpconform: teardown could not destroy orphaned sockets: {e}");
        }
    }
}

/// Where a case's time went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaseTimings {
    /// From spawning the thread to the end of setup (namespaces, links, sysctls, netlink).
    pub setup: Duration,
    /// The closure.
    pub run: Duration,
    /// From the end of the closure to the thread's join (closing, orphan sweep, thread exit).
    /// The kernel frees a namespace asynchronously afterwards.
    pub teardown: Duration,
}

/// Runs `f` in a fresh sandbox on its own thread (see the module docs) and tears the sandbox
/// down. A panic in `f` is resumed on the calling thread.
pub fn run_case<R: Send>(
    spec: &SandboxSpec,
    f: impl FnOnce(&mut Case) -> R + Send,
) -> Result<R, HarnessError> {
    run_case_timed(spec, f).map(|(r, _)| r)
}

/// [`run_case`], also reporting where the time went.
pub fn run_case_timed<R: Send>(
    spec: &SandboxSpec,
    f: impl FnOnce(&mut Case) -> R + Send,
) -> Result<(R, CaseTimings), HarnessError> {
    run_somewhere(spec.ehash_buckets, |home| Case::create(spec, home), f)
}

// ---------------------------------------------------------------------------------------------
// Where a case runs

thread_local! {
    /// The home namespace of a case thread ([`on_case_thread`]) and the private table size
    /// the namespaces made from it get.
    static HOME: std::cell::RefCell<Option<(std::rc::Rc<OwnedFd>, Option<u32>)>> =
        const { std::cell::RefCell::new(None) };
}

thread_local! {
    /// The namespaces a case thread's maker made ahead ([`FreshNetns`]).
    static MADE_AHEAD: std::cell::RefCell<Option<Receiver<Result<FreshNetns, HarnessError>>>> =
        const { std::cell::RefCell::new(None) };
    /// The joined pairs of namespaces a case thread's pair maker made ahead ([`FreshPair`]).
    static PAIRS_MADE_AHEAD: std::cell::RefCell<Option<Receiver<Result<FreshPair, HarnessError>>>> =
        const { std::cell::RefCell::new(None) };
}

/// A fresh network namespace made ahead of the case that takes it, on a second thread, so
/// that the kernel's work of making it (about half a millisecond, mostly registering the
/// namespace's sysctl tables) overlaps the case before: made from the case thread's home
/// (so with the home's private established-hash table), `lo` up with `quickack` on its
/// routes, and the hash-derived sysctls written back ([`restore_hash_derived_defaults`]).
/// Nothing else has touched it: one case takes it, and it is freed with that case.
struct FreshNetns(OwnedFd);

/// CPU time spent by namespace makers that have stopped, in nanoseconds (see
/// [`makers_cpu_time`]).
static MAKERS_CPU_NS: AtomicU64 = AtomicU64::new(0);

/// The CPU time the namespace makers of all case threads that have ended spent (for the
/// bench, whose CPU figures would otherwise leave out the second thread's work).
pub fn makers_cpu_time() -> Duration {
    Duration::from_nanos(MAKERS_CPU_NS.load(Ordering::Relaxed))
}

/// Time the calling thread has spent on a CPU (`/proc/thread-self/schedstat`), when the
/// kernel reports it.
pub fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let on_cpu = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(on_cpu))
}

/// How many namespaces (or pairs) a maker keeps ready besides the one it is handing over:
/// enough to ride out a few cases that come quicker than it makes them (with 1, a case waited
/// 245 µs on average for its namespace in `bench --cases 2000`, with 3, 135–150 µs).
const MADE_AHEAD_DEPTH: usize = 3;

impl FreshNetns {
    /// Makes one from `home` (where the calling thread is, and is again afterwards).
    fn make(home: &OwnedFd) -> Result<Self, HarnessError> {
        let ns = new_netns("made ahead")?;
        let ready = (|| -> Result<(), HarnessError> {
            lo_up(Host::A)?;
            if let Some(shared) = shared_ehash_entries() {
                restore_hash_derived_defaults(shared)?;
            }
            Rtnl::open_here(Host::A)?.quickack_routes()
        })();
        setns(home, CloneFlags::CLONE_NEWNET).map_err(|e| HarnessError::NamespaceUnavailable {
            reason: format!("the namespace maker's setns back home failed: {e}"),
        })?;
        ready.map(|()| Self(ns))
    }

    /// The next namespace of the calling case thread's maker; `None` without one.
    fn take() -> Option<Result<Self, HarnessError>> {
        MADE_AHEAD.with_borrow(|m| m.as_ref().and_then(|rx| rx.recv().ok()))
    }
}

/// Two namespaces made ahead like [`FreshNetns`], then joined as a two-host case's hosts are
/// (the veth pair up, addressed, with static neighbours, its IPv6 addresses out of the
/// tentative state, quickack on every route): most of a two-host case's setup (about 1.5 ms
/// here: the pair, the carrier and DAD waits), overlapping the case before.
struct FreshPair {
    a: OwnedFd,
    b: OwnedFd,
}

impl FreshPair {
    /// Makes one from `home` (where the calling thread is, and is again afterwards).
    fn make(home: &OwnedFd) -> Result<Self, HarnessError> {
        let a = FreshNetns::make(home)?.0;
        let b = FreshNetns::make(home)?.0;
        setns(&a, CloneFlags::CLONE_NEWNET).map_err(|e| HarnessError::NamespaceUnavailable {
            reason: format!("the pair maker's setns into host a failed: {e}"),
        })?;
        let hosts = Hosts {
            a,
            b: Some(b),
            made_ahead: true,
            linked: false,
            nft_ready: [false; 2],
            _not_send: PhantomData,
        };
        let linked = (|| -> Result<(), HarnessError> {
            let mut ra = Rtnl::open_here(Host::A)?;
            let mut rb = hosts.enter(Host::B, || Rtnl::open_here(Host::B))??;
            link_hosts(&hosts, &mut ra, &mut rb)?;
            wait_not_tentative(&[HOST_A_V6])?;
            hosts.enter(Host::B, || wait_not_tentative(&[HOST_B_V6]))??;
            ra.quickack_routes()?;
            rb.quickack_routes()
        })();
        setns(home, CloneFlags::CLONE_NEWNET).map_err(|e| HarnessError::NamespaceUnavailable {
            reason: format!("the pair maker's setns back home failed: {e}"),
        })?;
        linked?;
        let Hosts { a, b, .. } = hosts;
        let b = b.expect("made with host b");
        Ok(Self { a, b })
    }

    /// The next pair of the calling case thread's pair maker; `None` without one.
    fn take() -> Option<Result<Self, HarnessError>> {
        PAIRS_MADE_AHEAD.with_borrow(|m| m.as_ref().and_then(|rx| rx.recv().ok()))
    }
}

/// Starts a maker thread in `scope` that makes `make(home)` again and again from `home`,
/// [`MADE_AHEAD_DEPTH`] ahead, until its receiver is dropped (or it fails: the error is the
/// last thing it sends).
fn spawn_maker<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    home: &OwnedFd,
    name: &str,
    make: fn(&OwnedFd) -> Result<T, HarnessError>,
) -> Result<Receiver<Result<T, HarnessError>>, HarnessError> {
    let home = home
        .try_clone()
        .map_err(|e| HarnessError::io("duplicating the home namespace's descriptor", e))?;
    let (tx, rx) = sync_channel(MADE_AHEAD_DEPTH);
    std::thread::Builder::new()
        .name(name.into())
        .spawn_scoped(scope, move || {
            if let Err(e) = setns(&home, CloneFlags::CLONE_NEWNET) {
                let _ = tx.send(Err(HarnessError::NamespaceUnavailable {
                    reason: format!("the namespace maker's setns home failed: {e}"),
                }));
                return;
            }
            loop {
                let made = make(&home);
                let failed = made.is_err();
                if tx.send(made).is_err() || failed {
                    break;
                }
            }
            if let Some(on_cpu) = thread_cpu_time() {
                MAKERS_CPU_NS.fetch_add(on_cpu.as_nanos() as u64, Ordering::Relaxed);
            }
        })
        .map_err(|e| HarnessError::io("spawning a namespace maker", e))?;
    Ok(rx)
}

/// The calling thread's home namespace, when it is a case thread whose cases get private
/// tables of `ehash_buckets`.
fn case_thread_home(ehash_buckets: Option<u32>) -> Option<std::rc::Rc<OwnedFd>> {
    HOME.with_borrow(|h| match h {
        Some((home, n)) if *n == ehash_buckets => Some(home.clone()),
        _ => None,
    })
}

/// Runs `f` on a new thread, a *case thread*, on which [`run_case`] runs every case in place
/// rather than on a thread of its own, and returns its result.
///
/// The thread lives in a home namespace of its own (a scratch namespace whose new namespaces
/// get a private established-hash table of `ehash_buckets`, see the module docs; with `None`,
/// the namespace it started in). A case unshares fresh namespaces from there, runs, closes its
/// descriptors and returns home with `setns`, which drops the thread's last reference to the
/// case's namespaces: they are freed as when a case thread exits. What this saves per case is
/// a thread's creation and join (two hand-offs between threads, each a wake-up that waits for
/// a CPU on a loaded machine) and the scratch namespace (about 0.4 ms). A case whose
/// [`SandboxSpec::ehash_buckets`] differs from the thread's still gets a thread of its own.
///
/// With private tables (`ehash_buckets` set: the full harness, not the bench's bare pass) two
/// more threads make each case's namespaces ahead while the case before runs, one a
/// namespace at a time for one-host cases (`FreshNetns`), the other joined pairs for two-host
/// cases (`FreshPair`); they stop when `f` returns.
pub fn on_case_thread<R: Send>(
    ehash_buckets: Option<u32>,
    f: impl FnOnce() -> R + Send,
) -> Result<R, HarnessError> {
    initial_namespaces();
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("tcpconform-cases".into())
            .spawn_scoped(scope, move || -> Result<R, HarnessError> {
                if let Some(n) = ehash_buckets
                    && shared_ehash_entries().is_some()
                {
                    // Leaves the thread in the scratch namespace (also when the kernel has no
                    // private tables: cases made from it then share the table, as they would
                    // from a scratch namespace of their own).
                    scratch_namespace(n)?;
                }
                let home = open_own_ns()?;
                if ehash_buckets.is_some() {
                    let singles = spawn_maker(scope, &home, "tcpconform-netns", FreshNetns::make)?;
                    MADE_AHEAD.set(Some(singles));
                    let pairs = spawn_maker(scope, &home, "tcpconform-pairs", FreshPair::make)?;
                    PAIRS_MADE_AHEAD.set(Some(pairs));
                }
                HOME.set(Some((std::rc::Rc::new(home), ehash_buckets)));
                let r = f();
                HOME.set(None);
                // Dropping the receivers (and the namespaces waiting in them) stops the makers.
                MADE_AHEAD.set(None);
                PAIRS_MADE_AHEAD.set(None);
                Ok(r)
            })
            .map_err(|e| HarnessError::io("spawning the case thread", e))?;
        match thread.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// `setup`, and once more if it ran out of time (a link or a netlink answer that did not come
/// within its bound, on a loaded machine), from the namespace the thread was in. Nothing of the
/// case has run yet, so a second attempt changes nothing but the odds; a second timeout is
/// the case's harness failure.
fn setup_once_more_after_a_timeout<C>(
    home: Option<&OwnedFd>,
    setup: &impl Fn(Option<&OwnedFd>) -> Result<C, HarnessError>,
) -> Result<C, HarnessError> {
    let origin = match home {
        Some(_) => None,
        None => Some(open_own_ns()?),
    };
    match setup(home) {
        Err(HarnessError::Timeout { what, after }) => {
            eprintln!(
                "tcpconform: setting a case up timed out ({what} did not finish within {after:?}); \
                 trying once more"
            );
            stopwatch::add("setup: retried after a timeout", Duration::ZERO);
            if let Some(ns) = home.or(origin.as_ref()) {
                setns(ns, CloneFlags::CLONE_NEWNET).map_err(|e| {
                    HarnessError::NamespaceUnavailable {
                        reason: format!("setns back after a failed setup: {e}"),
                    }
                })?;
            }
            setup(home)
        }
        other => other,
    }
}

/// Sets a case up with `setup`, runs `f` on it and tears it down (drops it), in place on a
/// case thread whose home fits `ehash_buckets`, else on a new thread; reports the times.
fn run_somewhere<C, R: Send>(
    ehash_buckets: Option<u32>,
    setup: impl Fn(Option<&OwnedFd>) -> Result<C, HarnessError> + Send,
    f: impl FnOnce(&mut C) -> R + Send,
) -> Result<(R, CaseTimings), HarnessError> {
    initial_namespaces();
    let start = Instant::now();
    let body = move |home: Option<&OwnedFd>| -> Result<(R, Instant, Instant), HarnessError> {
        let mut case = setup_once_more_after_a_timeout(home, &setup)?;
        let setup_done = Instant::now();
        let r = f(&mut case);
        let run_done = Instant::now();
        stopwatch::time("teardown: drop case", || drop(case));
        Ok((r, setup_done, run_done))
    };
    let (r, setup_done, run_done) = match case_thread_home(ehash_buckets) {
        Some(home) => {
            // Back home afterwards, also after an error or a panic.
            let back = Return(&home);
            let out = body(Some(&home));
            stopwatch::time("teardown: return home", || drop(back));
            out?
        }
        None => {
            let joined = std::thread::scope(|scope| {
                std::thread::Builder::new()
                    .name("tcpconform-case".into())
                    .spawn_scoped(scope, move || body(None))
                    .map_err(|e| HarnessError::io("spawning the case thread", e))
                    .map(|h| h.join())
            })?;
            match joined {
                Ok(result) => result?,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    };
    let end = Instant::now();
    Ok((
        r,
        CaseTimings {
            setup: setup_done - start,
            run: run_done - setup_done,
            teardown: end - run_done,
        },
    ))
}

/// A bare case: the namespaces and the executor, no observer (see [`run_bare`]).
pub struct BareCase {
    hosts: Hosts,
    executor: Executor,
    observer: Observer,
}

impl BareCase {
    /// Runs one op (see [`Executor::apply`]).
    pub fn apply(&mut self, op: &Op, env: &Env) -> Result<Observed, HarnessError> {
        self.executor
            .apply(op, env, &mut self.hosts, &mut self.observer)
    }
}

impl Drop for BareCase {
    fn drop(&mut self) {
        self.executor.close_all();
    }
}

/// The least a test of these socket calls must do, for the benchmark's baseline: fresh
/// network namespaces with `lo` up (two hosts: the same veth topology as a case, without
/// `quickack` routes), the spec's addresses and sysctls, `f`, the descriptors closed; in place
/// on a case thread made with `ehash_buckets` `None`, else on a thread of its own. No private
/// hash table, no `quickack` routes, no `sock_diag` socket unless `diag` (a `destroy` op needs
/// one).
pub fn run_bare<R: Send>(
    spec: &SandboxSpec,
    diag: bool,
    f: impl FnOnce(&mut BareCase) -> R + Send,
) -> Result<(R, CaseTimings), HarnessError> {
    let setup = move |home: Option<&OwnedFd>| -> Result<BareCase, HarnessError> {
        let hosts = Hosts::create(spec.two_hosts, None, home)?;
        if spec.two_hosts || !spec.addresses.is_empty() {
            build_topology_timed(spec, &hosts, false)?;
        } else {
            lo_up(Host::A)?;
        }
        for (host, setting) in &spec.sysctls {
            hosts.write_sysctl(*host, setting)?;
        }
        let mut sockets = Vec::new();
        if diag {
            sockets.push(DiagSocket::open_here(Host::A)?);
            if spec.two_hosts {
                sockets.push(hosts.enter(Host::B, || DiagSocket::open_here(Host::B))??);
            }
        }
        Ok(BareCase {
            hosts,
            executor: Executor::new(spec.exec),
            observer: Observer::new(sockets),
        })
    };
    run_somewhere(None, setup, f)
}

/// Runs `f` — a whole campaign or lane — so that the cases it runs are cheap to set up: on
/// a case thread whose home namespace gives every case a private established-hash table of
/// the default size ([`on_case_thread`]).
pub fn run_cases<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R, HarnessError> {
    on_case_thread(SandboxSpec::default().ehash_buckets, f)
}

/// What this backend gives a case.
pub const BACKEND: super::Backend = super::Backend {
    name: "Linux: a network namespace per host per case",
    sysctls: true,
    two_hosts: true,
    extra_addresses: true,
    run: super::HasRun::Continuously,
};
