//! The macOS sandbox: no isolation at all. **Compile-checked only
//! (`--target x86_64-apple-darwin`); it has never run on a Mac.**
//!
//! macOS has neither network namespaces nor VNET jails, so a case runs on the host's own TCP
//! stack, and the harness says so wherever it reports:
//!
//! - Cases run **one at a time** (a process-wide lock), never side by side.
//! - Each case's **literal ports are moved to ports of its own**: a port a scenario names
//!   (outside the ephemeral range 49152–65535, where the kernel's own choices come from) is
//!   given the next unused port of a block that walks 20000–47999, and moved back in
//!   everything reported (`getsockname`, `getpeername`, the table). A port is used again only
//!   after 28000 others, far more than a campaign of a few hundred cases takes, so a case
//!   does not meet the previous cases' TIME-WAITs (30 s here). A port some other program of
//!   the host holds would still make a bind fail: that is reported as a divergence and must
//!   be read as such.
//! - The table (`net.inet.tcp.pcblist_n`) is the host's: only rows on a port the case used are
//!   kept.
//! - **Nothing is ever written to the host**: a case with sysctls, two hosts or extra
//!   addresses is refused ([`HarnessError::Unsupported`]), and so is a `sysctl` op. A case
//!   also refuses to run when the host's `net.inet.tcp.msl` or ephemeral range differ from
//!   what the macOS profile assumes (the model would answer for another configuration).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use socket2::{Domain, Socket, Type};
use tcpconform_model::{
    Env, Errno, Host, Observed, Op, Profile, Snapshot, Sysctl, SysctlKey, SysctlValue,
};

pub use super::bsd_common::SandboxSpec;
use super::{Backend, HasRun, SkipReason};
use crate::error::HarnessError;
use crate::executor::{Executor, Stack};
use crate::observer::pcblist::{self, Pcb};
use crate::observer::{Observer, Settled, Tables};
use crate::{errno, sys};

/// What this backend gives a case.
pub const BACKEND: Backend = Backend {
    name: "macOS: the host's own stack, cases one at a time on ports of their own",
    sysctls: false,
    two_hosts: false,
    extra_addresses: false,
    run: HasRun::CompileCheckedOnly,
};

/// The first and last port of the blocks literal ports are moved to.
const REMAP_FIRST: u32 = 20_000;
const REMAP_LAST: u32 = 47_999;
/// The first port of macOS's ephemeral range (`net.inet.ip.portrange.first`).
const EPHEMERAL_FIRST: u16 = 49_152;

/// One case at a time.
static ONE_CASE: Mutex<()> = Mutex::new(());

fn unsupported(what: &str, reason: &str) -> HarnessError {
    HarnessError::Unsupported {
        what: what.into(),
        reason: reason.into(),
    }
}

/// The host's stack, as one case sees it.
#[derive(Debug, Default)]
pub struct Hosts {
    /// Scenario port → kernel port.
    to_kernel: RefCell<BTreeMap<u16, u16>>,
    /// Every kernel port the case has seen on its sockets.
    seen: RefCell<BTreeSet<u16>>,
}

impl Hosts {
    fn fresh_port() -> u16 {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let span = REMAP_LAST - REMAP_FIRST + 1;
        (REMAP_FIRST + NEXT.fetch_add(1, Ordering::Relaxed) % span) as u16
    }

    /// Reads an integer sysctl of the host.
    pub fn read_sysctl(&self, host: Host, key: SysctlKey) -> Result<SysctlValue, HarnessError> {
        if host != Host::A {
            return Err(unsupported("host b", "macOS cases have one host"));
        }
        let name = CString::new(key.name()).map_err(|_| unsupported(key.name(), "NUL"))?;
        sys::sysctl_int(&name)
            .map(|v| SysctlValue::Int(i64::from(v)))
            .map_err(|n| HarnessError::Sysctl {
                key: key.name().into(),
                value: String::new(),
                reason: errno::from_raw(n).to_string(),
            })
    }
}

impl Stack for Hosts {
    fn has(&self, host: Host) -> bool {
        host == Host::A
    }

    fn socket(
        &self,
        host: Host,
        domain: Domain,
        ty: Type,
    ) -> Result<std::io::Result<Socket>, HarnessError> {
        if host != Host::A {
            return Err(unsupported("host b", "macOS cases have one host"));
        }
        Ok(Socket::new(domain, ty, None))
    }

    fn try_write_sysctl(
        &self,
        _host: Host,
        setting: &Sysctl,
    ) -> Result<Result<(), Errno>, HarnessError> {
        Err(unsupported(
            &format!("sysctl {setting}"),
            "macOS has no per-case network stack and the harness never writes the host's \
             sysctls",
        ))
    }

    fn to_kernel(&self, a: SocketAddr) -> SocketAddr {
        let p = a.port();
        if p == 0 || p >= EPHEMERAL_FIRST {
            return a;
        }
        let mut map = self.to_kernel.borrow_mut();
        let k = *map.entry(p).or_insert_with(Self::fresh_port);
        self.seen.borrow_mut().insert(k);
        SocketAddr::new(a.ip(), k)
    }

    fn to_model(&self, a: SocketAddr) -> SocketAddr {
        if a.port() != 0 {
            self.seen.borrow_mut().insert(a.port());
        }
        let map = self.to_kernel.borrow();
        match map.iter().find(|(_, k)| **k == a.port()) {
            Some((m, _)) => SocketAddr::new(a.ip(), *m),
            None => a,
        }
    }
}

impl Tables for Hosts {
    fn hosts(&self) -> Vec<Host> {
        vec![Host::A]
    }

    fn pcbs(&self, host: Host) -> Result<Vec<Pcb>, HarnessError> {
        if host != Host::A {
            return Err(unsupported("host b", "macOS cases have one host"));
        }
        let name = CString::new("net.inet.tcp.pcblist_n").expect("no NUL");
        let bytes = sys::sysctl_bytes(&name).map_err(|n| HarnessError::Unsupported {
            what: "reading net.inet.tcp.pcblist_n".into(),
            reason: errno::from_raw(n).to_string(),
        })?;
        pcblist::parse_macos(&bytes)
    }

    fn belongs(&self, pcb: &Pcb, ports: &BTreeSet<u16>) -> bool {
        let seen = self.seen.borrow();
        [pcb.local.port(), pcb.peer.port()]
            .iter()
            .any(|p| *p != 0 && (seen.contains(p) || ports.contains(p)))
    }
}

/// One case's world, handed to the closure of [`run_case`].
pub struct Case {
    hosts: Hosts,
    executor: Executor,
    observer: Observer,
}

impl Case {
    /// Runs one op.
    pub fn apply(&mut self, op: &Op, env: &Env) -> Result<Observed, HarnessError> {
        let observed = self.executor.apply(op, env, &self.hosts)?;
        Ok(observed)
    }

    /// The case's rows of the host's table, read once.
    pub fn snapshot(&mut self) -> Result<Snapshot, HarnessError> {
        self.observer.snapshot(&self.hosts, &self.executor)
    }

    /// The case's rows, read until they stop changing.
    pub fn settled_snapshot(&mut self) -> Result<Settled, HarnessError> {
        self.observer.settled_snapshot(&self.hosts, &self.executor)
    }

    /// Refused: the host's sysctls are never written.
    pub fn set_sysctl(&mut self, host: Host, setting: &Sysctl) -> Result<(), HarnessError> {
        self.hosts.try_write_sysctl(host, setting).map(|_| ())
    }

    /// Reads a sysctl of the host.
    pub fn sysctl(&self, host: Host, key: SysctlKey) -> Result<SysctlValue, HarnessError> {
        self.hosts.read_sysctl(host, key)
    }

    /// The executor.
    pub fn executor(&self) -> &Executor {
        &self.executor
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        self.executor.close_all();
    }
}

/// Refuses a spec this backend cannot give, and a host whose settings differ from the
/// profile's.
fn check(spec: &SandboxSpec) -> Result<(), HarnessError> {
    if spec.two_hosts {
        return Err(unsupported(
            "a two-host case",
            "macOS has no second stack to give it",
        ));
    }
    if !spec.addresses.is_empty() {
        return Err(unsupported(
            "extra addresses",
            "adding them would change the host's lo0",
        ));
    }
    if let Some((_, s)) = spec.sysctls.first() {
        return Err(unsupported(
            &format!("sysctl {s}"),
            "the harness never writes the host's sysctls",
        ));
    }
    let defaults = Profile::MACOS_15.default_sysctls();
    let hosts = Hosts::default();
    for key in [
        SysctlKey::InetTcpMsl,
        SysctlKey::InetPortrangeFirst,
        SysctlKey::InetPortrangeLast,
    ] {
        let have = hosts.read_sysctl(Host::A, key)?;
        let want = defaults.value(key);
        if have != want {
            return Err(unsupported(
                &format!("this host's {key}"),
                &format!("it is {have}, the macOS profile assumes {want}"),
            ));
        }
    }
    Ok(())
}

/// Runs `f` on the host's stack, alone (see the module docs).
pub fn run_case<R: Send>(
    spec: &SandboxSpec,
    f: impl FnOnce(&mut Case) -> R + Send,
) -> Result<R, HarnessError> {
    let _alone = ONE_CASE.lock().unwrap_or_else(|e| e.into_inner());
    check(spec)?;
    let mut case = Case {
        hosts: Hosts::default(),
        executor: Executor::new(spec.exec),
        observer: Observer::new(),
    };
    Ok(f(&mut case))
}

/// Runs a series of cases: here, simply `f` (cases take turns anyway).
pub fn run_cases<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R, HarnessError> {
    Ok(f())
}

/// Whether cases can run here: the host's settings are the profile's and its table can be
/// read.
pub fn probe() -> Result<(), SkipReason> {
    check(&SandboxSpec::one_host()).map_err(|e| SkipReason(e.to_string()))?;
    Hosts::default()
        .pcbs(Host::A)
        .map(|_| ())
        .map_err(|e| SkipReason(e.to_string()))
}

/// Linux only (a user namespace for an unprivileged run); nothing to do here.
pub fn enter_user_namespace_if_unprivileged() -> Result<(), HarnessError> {
    Ok(())
}
