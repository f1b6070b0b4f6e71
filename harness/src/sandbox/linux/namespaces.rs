//! Network namespaces: whether this process can make them at all ([`probe`]), the guard that
//! keeps every write out of the host's namespace, sysctls read and written in the calling
//! thread's namespace, and [`Hosts`], a case's one or two namespaces, made from a scratch
//! namespace whose children get a private established-hash table (see the module docs of
//! [`linux`](super)).

use std::fs::File;
use std::io::Write;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

use nix::sched::{CloneFlags, setns, unshare};
use tcpconform_model::{Host, Sysctl, SysctlKey, SysctlValue};

use super::made_ahead::{FreshNetns, FreshPair};
use super::topology::{HOST_A_V4, HOST_A_V6, HOST_B_V4, HOST_B_V6};
use crate::error::HarnessError;
use crate::observer::DiagSocket;
use crate::sandbox::SkipReason;
use crate::{errno, stopwatch, sys};

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
pub(super) fn initial_namespaces() -> &'static [(u64, u64)] {
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
pub(super) fn refuse_in_host(what: &str) -> Result<(), HarnessError> {
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
    pub(super) a: OwnedFd,
    pub(super) b: Option<OwnedFd>,
    /// Every host was made ahead ([`FreshNetns`]): `lo` is up, with quickack on its routes.
    pub(super) made_ahead: bool,
    /// The two hosts were made ahead already joined ([`FreshPair`]): the veth pair is up,
    /// addressed and usable, with quickack on its routes.
    pub(super) linked: bool,
    /// Whether the `nft` table was created, per host.
    pub(super) nft_ready: [bool; 2],
    pub(super) _not_send: PhantomData<*const ()>,
}

/// Moves the thread back to host `a` when dropped (also on unwind).
pub(super) struct Return<'a>(pub(super) &'a OwnedFd);

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
pub(super) fn scratch_namespace(buckets: u32) -> Result<Option<OwnedFd>, HarnessError> {
    let p = new_netns("scratch")?;
    // Best effort: without the sysctl the hosts share the table.
    Ok(
        write_raw_sysctl("net.ipv4.tcp_child_ehash_entries", &buckets.to_string())
            .ok()
            .map(|()| p),
    )
}

pub(super) fn open_own_ns() -> Result<OwnedFd, HarnessError> {
    File::open("/proc/thread-self/ns/net")
        .map(OwnedFd::from)
        .map_err(|e| HarnessError::io("opening /proc/thread-self/ns/net", e))
}

pub(super) fn new_netns(which: &str) -> Result<OwnedFd, HarnessError> {
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
pub(super) fn shared_ehash_entries() -> Option<u32> {
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
pub(super) fn restore_hash_derived_defaults(shared: u32) -> Result<(), HarnessError> {
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
    /// ([`on_case_thread`](super::on_case_thread)) that already gives new namespaces a private
    /// table of `ehash_buckets`; without it, a scratch namespace that does is made for this case.
    pub(super) fn create(
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
}
