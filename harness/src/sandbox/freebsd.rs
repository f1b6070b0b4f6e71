//! The FreeBSD sandbox: a VNET jail per host per case. **Written from FreeBSD's manuals and
//! source and compile-checked (`--target x86_64-unknown-freebsd`); it has never run on a
//! FreeBSD machine.**
//!
//! # How a case is set up
//!
//! 1. Per host, `jail -i -c name=tcpconform-<pid>-<n> vnet persist`: a jail with a network
//!    stack of its own (VNET), so its TCP tables, ports and the per-VNET sysctls
//!    (`net.inet.tcp.msl`, `nolocaltimewait`, `fast_finwait2_recycle`, `finwait2_timeout`,
//!    `net.inet.ip.portrange.*`, …) are the case's alone.
//! 2. In each jail (`jexec`): `lo0` up with `127.0.0.1/8` and `::1`; the extra addresses of
//!    the spec as aliases on `lo0`; harness plumbing `net.inet.tcp.delayed_ack=0`, so that a
//!    received FIN is acknowledged at once and the table after a `close()` does not depend on
//!    the delayed-ACK timer (Linux's `quickack` route metric plays the same part).
//! 3. Two hosts: an `epair(4)` made on the host and moved at once into the jails (`ifconfig
//!    epairNa vnet <jid>`), as `jail.conf`'s `vnet.interface` does; `10.0.0.1/24` and
//!    `fd00::1/64` in `a`, `.2`/`::2` in `b`, fixed MAC addresses, `no_dad`, and static ARP and
//!    NDP entries for the peer.
//! 4. The spec's sysctls, each written and read back inside the host's jail.
//!
//! Sockets are created by a child process attached to the jail and passed back
//! (`crate::sys::socket_in_jail`); a socket keeps its stack (`so_vnet`), so every later call
//! on it from the harness acts in the jail. Tables and sysctls are read the same way.
//! Afterwards every descriptor is closed, the jails are removed (`jail -r`) and the epair
//! destroyed.
//!
//! # The host
//!
//! Sysctls are only ever written from a process attached to a case's jail; FreeBSD refuses a
//! jailed process any sysctl that is not per-VNET, so a case cannot change the host's. The
//! host sees the jails come and go, and an epair interface for the moment between its
//! creation and its move into the jails (and again after the jails are removed, when it is
//! destroyed).
//!
//! Cases run one at a time on the calling thread ([`run_cases`] adds nothing).

use std::ffi::CString;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use socket2::{Domain, Socket, Type};
use tcpconform_model::{Env, Errno, Host, Observed, Op, Snapshot, Sysctl, SysctlKey, SysctlValue};

pub use super::bsd_common::SandboxSpec;
use super::{Backend, HasRun, SkipReason};
use crate::errno;
use crate::error::HarnessError;
use crate::executor::{Executor, Stack};
use crate::observer::pcblist::{self, Pcb};
use crate::observer::{Observer, Settled, Tables};
use crate::sys;

/// What this backend gives a case.
pub const BACKEND: Backend = Backend {
    name: "FreeBSD: a VNET jail per host per case",
    sysctls: true,
    two_hosts: true,
    extra_addresses: true,
    run: HasRun::CompileCheckedOnly,
};

/// The most bytes a table read takes (the jail's table is a case's few sockets).
const TABLE_CAP: usize = 1 << 20;

/// One VNET jail; removed when dropped.
#[derive(Debug)]
struct Jail {
    jid: i32,
    /// Not removed yet.
    live: bool,
}

impl Jail {
    fn create() -> Result<Self, HarnessError> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "tcpconform-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let out = run_tool(&[
            "jail",
            "-i",
            "-c",
            &format!("name={name}"),
            "vnet",
            "persist",
        ])?;
        let jid = out.trim().parse().map_err(|_| HarnessError::Unsupported {
            what: "creating a VNET jail".into(),
            reason: format!("`jail -i` printed `{}`, not a jail id", out.trim()),
        })?;
        Ok(Self { jid, live: true })
    }

    fn exec(&self, args: &[&str]) -> Result<String, HarnessError> {
        let jid = self.jid.to_string();
        let mut all = vec!["jexec", jid.as_str()];
        all.extend_from_slice(args);
        run_tool(&all)
    }
}

impl Jail {
    /// `jail -r`: the jail's sockets and stack go, its interfaces return to the host.
    fn remove(&mut self) {
        if std::mem::take(&mut self.live)
            && let Err(e) = run_tool(&["jail", "-r", &self.jid.to_string()])
        {
            eprintln!("tcpconform: could not remove jail {}: {e}", self.jid);
        }
    }
}

impl Drop for Jail {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The jails of a case.
#[derive(Debug)]
pub struct Hosts {
    a: Jail,
    b: Option<Jail>,
    /// The epair joining them (its `a` end's name on the host).
    epair: Option<String>,
}

impl Drop for Hosts {
    fn drop(&mut self) {
        // The jails go first: their interfaces return to the host, where the pair is
        // destroyed.
        if let Some(b) = self.b.as_mut() {
            b.remove();
        }
        self.a.remove();
        if let Some(e) = self.epair.take()
            && let Err(err) = run_tool(&["ifconfig", &e, "destroy"])
        {
            eprintln!("tcpconform: could not destroy {e}: {err}");
        }
    }
}

fn c_name(key: &str) -> Result<CString, HarnessError> {
    CString::new(key).map_err(|_| HarnessError::InvalidOp {
        op: format!("sysctl {key}"),
        reason: "a NUL in the name".into(),
    })
}

fn int_value(setting: &Sysctl) -> Result<libc::c_int, HarnessError> {
    match setting.value {
        SysctlValue::Int(v) => libc::c_int::try_from(v).map_err(|_| HarnessError::Sysctl {
            key: setting.key.name().into(),
            value: setting.value.to_string(),
            reason: "out of the range of a C int".into(),
        }),
        _ => Err(HarnessError::Sysctl {
            key: setting.key.name().into(),
            value: setting.value.to_string(),
            reason: "FreeBSD has no such sysctl (only integer net.inet keys are written here)"
                .into(),
        }),
    }
}

impl Hosts {
    fn jail(&self, host: Host) -> Result<&Jail, HarnessError> {
        match host {
            Host::A => Ok(&self.a),
            Host::B => self.b.as_ref().ok_or_else(|| HarnessError::InvalidOp {
                op: format!("use host {host}"),
                reason: "the case has no host b".into(),
            }),
        }
    }

    /// Reads an integer sysctl of `host`'s jail.
    pub fn read_sysctl(&self, host: Host, key: SysctlKey) -> Result<SysctlValue, HarnessError> {
        let jid = self.jail(host)?.jid;
        let name = c_name(key.name())?;
        let bytes = sys::sysctl_read_in_jail(jid, &name, 64).map_err(|n| HarnessError::Sysctl {
            key: key.name().into(),
            value: String::new(),
            reason: format!("cannot read it in jail {jid}: {}", errno::from_raw(n)),
        })?;
        let v = bytes
            .get(0..4)
            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| HarnessError::Sysctl {
                key: key.name().into(),
                value: String::new(),
                reason: format!("{} bytes, not an int", bytes.len()),
            })?;
        Ok(SysctlValue::Int(i64::from(v)))
    }

    /// Writes a sysctl in `host`'s jail and reads it back.
    pub fn write_sysctl(&self, host: Host, setting: &Sysctl) -> Result<(), HarnessError> {
        let fail = |reason: String| HarnessError::Sysctl {
            key: setting.key.name().into(),
            value: setting.value.to_string(),
            reason,
        };
        match self.try_write_sysctl(host, setting)? {
            Ok(()) => {}
            Err(e) => return Err(fail(format!("the jail's kernel answered {e}"))),
        }
        let back = self.read_sysctl(host, setting.key)?;
        if back != setting.value {
            return Err(fail(format!("read back {back}")));
        }
        Ok(())
    }

    fn write_raw(&self, host: Host, key: &str, value: libc::c_int) -> Result<(), HarnessError> {
        let jid = self.jail(host)?.jid;
        let fail = |reason: String| HarnessError::Sysctl {
            key: key.into(),
            value: value.to_string(),
            reason,
        };
        match sys::sysctl_write_in_jail(jid, &c_name(key)?, value) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(n)) => Err(fail(format!(
                "the jail's kernel answered {}",
                errno::from_raw(n)
            ))),
            Err(n) => Err(fail(format!(
                "cannot enter jail {jid}: {}",
                errno::from_raw(n)
            ))),
        }
    }
}

impl Stack for Hosts {
    fn has(&self, host: Host) -> bool {
        host == Host::A || self.b.is_some()
    }

    fn socket(
        &self,
        host: Host,
        domain: Domain,
        ty: Type,
    ) -> Result<std::io::Result<Socket>, HarnessError> {
        let jid = self.jail(host)?.jid;
        let _no_close = crate::executor::FORK_GATE
            .write()
            .unwrap_or_else(|e| e.into_inner());
        match sys::socket_in_jail(jid, domain.into(), ty.into()) {
            Ok(Ok(fd)) => Ok(Ok(Socket::from(fd))),
            Ok(Err(n)) => Ok(Err(std::io::Error::from_raw_os_error(n))),
            Err(n) => Err(HarnessError::Unsupported {
                what: format!("creating a socket in jail {jid}"),
                reason: errno::from_raw(n).to_string(),
            }),
        }
    }

    fn try_write_sysctl(
        &self,
        host: Host,
        setting: &Sysctl,
    ) -> Result<Result<(), Errno>, HarnessError> {
        let jid = self.jail(host)?.jid;
        let value = int_value(setting)?;
        let _no_close = crate::executor::FORK_GATE
            .write()
            .unwrap_or_else(|e| e.into_inner());
        match sys::sysctl_write_in_jail(jid, &c_name(setting.key.name())?, value) {
            Ok(r) => Ok(r.map_err(errno::from_raw)),
            Err(n) => Err(HarnessError::Sysctl {
                key: setting.key.name().into(),
                value: setting.value.to_string(),
                reason: format!("cannot enter jail {jid}: {}", errno::from_raw(n)),
            }),
        }
    }
}

impl Tables for Hosts {
    fn hosts(&self) -> Vec<Host> {
        if self.b.is_some() {
            vec![Host::A, Host::B]
        } else {
            vec![Host::A]
        }
    }

    fn pcbs(&self, host: Host) -> Result<Vec<Pcb>, HarnessError> {
        let jid = self.jail(host)?.jid;
        let name = c_name("net.inet.tcp.pcblist")?;
        let bytes = {
            let _no_close = crate::executor::FORK_GATE
                .write()
                .unwrap_or_else(|e| e.into_inner());
            sys::sysctl_read_in_jail(jid, &name, TABLE_CAP)
        }
        .map_err(|n| HarnessError::Unsupported {
            what: format!("reading net.inet.tcp.pcblist in jail {jid}"),
            reason: errno::from_raw(n).to_string(),
        })?;
        pcblist::parse_freebsd(&bytes)
    }
}

/// Brings `lo0` up in a jail with `127.0.0.1/8` and `::1`, and the extra addresses.
fn loopback(jail: &Jail, extra: &[IpAddr]) -> Result<(), HarnessError> {
    jail.exec(&["ifconfig", "lo0", "inet", "127.0.0.1/8", "up"])?;
    let v6 = jail.exec(&["ifconfig", "lo0", "inet6"])?;
    if !v6.contains("::1 ") {
        jail.exec(&["ifconfig", "lo0", "inet6", "::1/128", "alias"])?;
    }
    for ip in extra {
        let (fam, addr) = match ip {
            IpAddr::V4(a) => ("inet", format!("{a}/32")),
            IpAddr::V6(a) => ("inet6", format!("{a}/128")),
        };
        jail.exec(&["ifconfig", "lo0", fam, &addr, "alias"])?;
    }
    Ok(())
}

/// Joins two jails with an epair; returns its `a` end's name.
fn join(a: &Jail, b: &Jail) -> Result<String, HarnessError> {
    let name_a = run_tool(&["ifconfig", "epair", "create"])?
        .trim()
        .to_owned();
    let name_b = name_a
        .strip_suffix('a')
        .map(|stem| format!("{stem}b"))
        .ok_or_else(|| HarnessError::Unsupported {
            what: "creating an epair".into(),
            reason: format!("`ifconfig epair create` printed `{name_a}`"),
        })?;
    run_tool(&["ifconfig", &name_a, "vnet", &a.jid.to_string()])?;
    run_tool(&["ifconfig", &name_b, "vnet", &b.jid.to_string()])?;
    for (jail, ifname, mac, v4, v6, peer_v4, peer_v6, peer_mac) in [
        (
            a,
            &name_a,
            "02:00:00:00:00:0a",
            "10.0.0.1/24",
            "fd00::1/64",
            "10.0.0.2",
            "fd00::2",
            "02:00:00:00:00:0b",
        ),
        (
            b,
            &name_b,
            "02:00:00:00:00:0b",
            "10.0.0.2/24",
            "fd00::2/64",
            "10.0.0.1",
            "fd00::1",
            "02:00:00:00:00:0a",
        ),
    ] {
        jail.exec(&["ifconfig", ifname, "ether", mac])?;
        jail.exec(&["ifconfig", ifname, "inet6", "no_dad", "-ifdisabled"])?;
        jail.exec(&["ifconfig", ifname, "inet", v4, "up"])?;
        jail.exec(&["ifconfig", ifname, "inet6", v6])?;
        jail.exec(&["arp", "-s", peer_v4, peer_mac])?;
        jail.exec(&["ndp", "-s", peer_v6, peer_mac])?;
    }
    Ok(name_a)
}

impl Hosts {
    fn create(spec: &SandboxSpec) -> Result<Self, HarnessError> {
        let mut hosts = Self {
            a: Jail::create()?,
            b: None,
            epair: None,
        };
        if spec.two_hosts {
            hosts.b = Some(Jail::create()?);
        }
        for host in spec.hosts() {
            let extra: Vec<IpAddr> = spec
                .addresses
                .iter()
                .filter(|(h, _)| h == host)
                .map(|(_, ip)| *ip)
                .collect();
            loopback(hosts.jail(*host)?, &extra)?;
            hosts.write_raw(*host, "net.inet.tcp.delayed_ack", 0)?;
        }
        if let Some(b) = &hosts.b {
            hosts.epair = Some(join(&hosts.a, b)?);
        }
        for (host, setting) in &spec.sysctls {
            hosts.write_sysctl(*host, setting)?;
        }
        Ok(hosts)
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
        self.executor.apply(op, env, &self.hosts)
    }

    /// The socket table of every host, read once.
    pub fn snapshot(&mut self) -> Result<Snapshot, HarnessError> {
        self.observer.snapshot(&self.hosts, &self.executor)
    }

    /// The socket table, read until it stops changing.
    pub fn settled_snapshot(&mut self) -> Result<Settled, HarnessError> {
        self.observer.settled_snapshot(&self.hosts, &self.executor)
    }

    /// Writes a sysctl in `host`'s jail mid-case.
    pub fn set_sysctl(&mut self, host: Host, setting: &Sysctl) -> Result<(), HarnessError> {
        self.hosts.write_sysctl(host, setting)
    }

    /// Reads a sysctl of `host`'s jail.
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

/// Runs `f` in fresh jails and removes them afterwards.
pub fn run_case<R: Send>(
    spec: &SandboxSpec,
    f: impl FnOnce(&mut Case) -> R + Send,
) -> Result<R, HarnessError> {
    let hosts = Hosts::create(spec)?;
    let mut case = Case {
        hosts,
        executor: Executor::new(spec.exec),
        observer: Observer::new(),
    };
    Ok(f(&mut case))
}

/// Runs a series of cases: here, simply `f` (cases are set up one by one).
pub fn run_cases<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R, HarnessError> {
    Ok(f())
}

/// Whether cases can run here: root, a kernel with VIMAGE, and one throwaway jail in which a
/// socket is created and the table read. Checked once per process.
pub fn probe() -> Result<(), SkipReason> {
    static PROBE: OnceLock<Result<(), SkipReason>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            if !nix::unistd::geteuid().is_root() {
                return Err(SkipReason(
                    "the FreeBSD backend needs root (it creates VNET jails)".into(),
                ));
            }
            let vimage = CString::new("kern.features.vimage").expect("no NUL");
            if sys::sysctl_int(&vimage) != Ok(1) {
                return Err(SkipReason(
                    "this kernel has no VIMAGE (kern.features.vimage), so no VNET jails".into(),
                ));
            }
            let hosts = Hosts::create(&SandboxSpec::one_host())
                .map_err(|e| SkipReason(format!("cannot set up a VNET jail: {e}")))?;
            match hosts.socket(Host::A, Domain::IPV4, Type::STREAM) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(SkipReason(format!("socket() in the jail: {e}"))),
                Err(e) => return Err(SkipReason(e.to_string())),
            }
            hosts
                .pcbs(Host::A)
                .map_err(|e| SkipReason(format!("reading the jail's table: {e}")))?;
            Ok(())
        })
        .clone()
}

/// Linux only (a user namespace for an unprivileged run); nothing to do here: the FreeBSD
/// backend runs as root.
pub fn enter_user_namespace_if_unprivileged() -> Result<(), HarnessError> {
    Ok(())
}

/// Runs a command (a system tool: `jail`, `jexec`, `ifconfig`, …) to completion, holding the
/// fork gate so that no case closes a socket while the child holds copies of the
/// descriptors; its failure is a harness failure with its stderr.
fn run_tool(args: &[&str]) -> Result<String, HarnessError> {
    let _no_close = crate::executor::FORK_GATE
        .write()
        .unwrap_or_else(|e| e.into_inner());
    let (cmd, rest) = args.split_first().ok_or_else(|| HarnessError::InvalidOp {
        op: "run a tool".into(),
        reason: "no command".into(),
    })?;
    let out = std::process::Command::new(cmd)
        .args(rest)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| HarnessError::io(format!("running {}", args.join(" ")), e))?;
    if !out.status.success() {
        return Err(HarnessError::Unsupported {
            what: args.join(" "),
            reason: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
