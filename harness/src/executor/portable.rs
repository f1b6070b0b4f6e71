//! The portable executor: the calls of the Linux executor through the same `socket2` code,
//! with each OS's option numbers, bounding blocking calls with `poll` rather than socket
//! timeouts, and nothing that needs Linux's own machinery (sock_diag, nftables, per-thread
//! credentials). It runs the FreeBSD and macOS backends (**compile-checked only; it has never
//! run on a BSD**) and, on Linux, gVisor's agent inside a `runsc` sandbox
//! ([`crate::gvisor`]), where it runs for real.
//!
//! Differences from the Linux executor, each deliberate:
//! - A blocking `connect` is not bounded by `SO_SNDTIMEO` on a BSD (`kern_connectat()` sleeps
//!   without a timeout) nor in gVisor, nor a blocking `accept` by `SO_RCVTIMEO`
//!   (`solisten_dequeue()`). The
//!   executor makes a blocking socket's `connect` non-blocking for the call and waits for it
//!   with `poll` up to the bound: still pending, it is `Blocks` (and, as on Linux after the
//!   timeout, the connection attempt carries on); finished, it is completed as a blocking
//!   `connect` completes (in gVisor a second `connect`, on a BSD `SO_ERROR`). A
//!   blocking `accept` polls the listener first; nothing queued within the bound is `Blocks`.
//!   `recv`/`send` honour the timeouts (`sbwait()`), as on Linux.
//! - An option the OS does not have (on a BSD `TCP_USER_TIMEOUT`, `TCP_LINGER2`,
//!   `IP_BIND_ADDRESS_NO_PORT`, `SO_EXCLUSIVEADDRUSE`, and `SO_REUSEPORT_LB` on macOS; on Linux
//!   `SO_REUSEPORT_LB` and `SO_EXCLUSIVEADDRUSE`) is passed under an option number no kernel
//!   assigns ([`ABSENT_OPTION`]) at the same level, so the answer (`ENOPROTOOPT`) is the
//!   kernel's own. Linux's numbers are not reused on a BSD: on FreeBSD
//!   `IP_BIND_ADDRESS_NO_PORT`'s 24 is `IP_BINDANY`.
//! - No socket is created as another uid (no per-thread credentials): such an op is
//!   [`HarnessError::Unsupported`], as are `destroy` (no `SOCK_DESTROY`), `peer_vanishes` and
//!   `peer_reboots` (no packet filter is driven here). The model refuses them off Linux
//!   too (`os.not_modelled`), and the generator offers none of them on gVisor.
//! - Ports go through the sandbox's [`Stack::to_kernel`]/[`Stack::to_model`]: the identity in
//!   a FreeBSD jail; on macOS, where cases share the host's stack, each case's literal ports
//!   are moved to ports of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use tcpconform_model::{
    CallOption, Env, Errno, Family, Host, How, Observed, Op, Outcome, SockId, SockOpt, Sysctl,
};

use super::{
    BlockBound, ExecConfig, FORK_GATE, addrs_of, err_outcome, first_ready, io_buffer, resolve,
    set_option, set_timeouts, with_block_bound,
};
use crate::error::HarnessError;
use crate::{errno, sys};

/// An option number that no BSD assigns at any level, for the options this OS lacks.
pub const ABSENT_OPTION: libc::c_int = 0x7ffe;

/// A case's network stacks, as the BSD executor needs them (the sandbox's hosts).
pub trait Stack {
    /// Whether the case has `host`.
    fn has(&self, host: Host) -> bool;
    /// A new socket in `host`'s stack: `Ok(Err(e))` is the kernel's refusal (data).
    fn socket(
        &self,
        host: Host,
        domain: Domain,
        ty: Type,
    ) -> Result<std::io::Result<Socket>, HarnessError>;
    /// Writes a sysctl of `host`'s stack as a scenario op: `Ok(Err(errno))` is the kernel's
    /// refusal (data).
    fn try_write_sysctl(
        &self,
        host: Host,
        setting: &Sysctl,
    ) -> Result<Result<(), Errno>, HarnessError>;
    /// A scenario address as the kernel is to see it.
    fn to_kernel(&self, a: SocketAddr) -> SocketAddr {
        a
    }
    /// A kernel address as the scenario is to see it.
    fn to_model(&self, a: SocketAddr) -> SocketAddr {
        a
    }
}

/// What the executor knows about one scenario socket.
#[derive(Debug)]
struct Slot {
    sock: Option<Socket>,
    host: Host,
    nonblocking: bool,
    lingers: bool,
}

/// Runs ops on real sockets, keeping the scenario's names for them.
#[derive(Debug)]
pub struct Executor {
    config: ExecConfig,
    slots: BTreeMap<SockId, Slot>,
    shadowed: Vec<(Host, Socket)>,
}

/// `(level, name, value)` of an integer option on this OS, or `None` for `SO_LINGER`.
fn int_option(opt: SockOpt) -> Option<(libc::c_int, libc::c_int, libc::c_int)> {
    let b = libc::c_int::from;
    let u = |v: u32| v as libc::c_int;
    #[cfg(target_os = "freebsd")]
    const SO_REUSEPORT_LB: libc::c_int = 0x0001_0000;
    #[cfg(not(target_os = "freebsd"))]
    const SO_REUSEPORT_LB: libc::c_int = ABSENT_OPTION;
    // macOS names the idle time before keepalive probes TCP_KEEPALIVE.
    #[cfg(not(target_os = "macos"))]
    const KEEPIDLE: libc::c_int = libc::TCP_KEEPIDLE;
    #[cfg(target_os = "macos")]
    const KEEPIDLE: libc::c_int = libc::TCP_KEEPALIVE;
    // Linux's own options where the OS is Linux's ABI (gVisor).
    #[cfg(target_os = "linux")]
    const LINUX_ONLY: [libc::c_int; 3] = [
        libc::IP_BIND_ADDRESS_NO_PORT,
        libc::TCP_USER_TIMEOUT,
        libc::TCP_LINGER2,
    ];
    #[cfg(not(target_os = "linux"))]
    const LINUX_ONLY: [libc::c_int; 3] = [ABSENT_OPTION; 3];
    Some(match opt {
        SockOpt::ReuseAddr(v) => (libc::SOL_SOCKET, libc::SO_REUSEADDR, b(v)),
        SockOpt::ReusePort(v) => (libc::SOL_SOCKET, libc::SO_REUSEPORT, b(v)),
        SockOpt::ReusePortLb(v) => (libc::SOL_SOCKET, SO_REUSEPORT_LB, b(v)),
        SockOpt::KeepAlive(v) => (libc::SOL_SOCKET, libc::SO_KEEPALIVE, b(v)),
        SockOpt::V6Only(v) => (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, b(v)),
        SockOpt::KeepIdle(v) => (libc::IPPROTO_TCP, KEEPIDLE, u(v)),
        SockOpt::KeepIntvl(v) => (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, u(v)),
        SockOpt::KeepCnt(v) => (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, u(v)),
        SockOpt::BindAddressNoPort(v) => (libc::IPPROTO_IP, LINUX_ONLY[0], b(v)),
        SockOpt::UserTimeout(v) => (libc::IPPROTO_TCP, LINUX_ONLY[1], u(v)),
        SockOpt::Linger2(v) => (libc::IPPROTO_TCP, LINUX_ONLY[2], v),
        SockOpt::ExclusiveAddrUse(v) => (libc::SOL_SOCKET, ABSENT_OPTION, b(v)),
        SockOpt::Linger(_) => return None,
    })
}

/// `send(2)` flags: no SIGPIPE (macOS has no `MSG_NOSIGNAL`; its sockets get `SO_NOSIGPIPE`).
#[cfg(not(target_os = "macos"))]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(target_os = "macos")]
const SEND_FLAGS: libc::c_int = 0;

impl BlockBound for Executor {
    fn block_bound_mut(&mut self) -> &mut Duration {
        &mut self.config.block_bound
    }

    fn open_blocking(&self, sock: SockId) -> Option<&Socket> {
        self.open(sock).filter(|_| self.blocking(sock))
    }
}

impl Executor {
    /// An executor with no sockets yet.
    pub fn new(config: ExecConfig) -> Self {
        Self {
            config,
            slots: BTreeMap::new(),
            shadowed: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> ExecConfig {
        self.config
    }

    /// The open socket behind a name.
    pub fn socket(&self, sock: SockId) -> Option<&Socket> {
        self.slots.get(&sock).and_then(|s| s.sock.as_ref())
    }

    /// The scenario socket whose open descriptor has this (kernel) 4-tuple on `host`, for
    /// the observer's owners (a listener or an unconnected socket: `peer` `None`).
    pub fn owner_of(
        &self,
        host: Host,
        local: SocketAddr,
        peer: Option<SocketAddr>,
    ) -> Option<SockId> {
        self.slots.iter().find_map(|(id, s)| {
            let sock = s.sock.as_ref().filter(|_| s.host == host)?;
            let l = sock.local_addr().ok()?.as_socket()?;
            let p = sock.peer_addr().ok().and_then(|a| a.as_socket());
            (l == local && p == peer).then_some(*id)
        })
    }

    /// Every socket a descriptor of the case holds, with its name (`None` for one whose name
    /// was given to a newer socket while it was still open).
    pub fn open_sockets(&self) -> Vec<(Option<SockId>, &Socket)> {
        self.slots
            .iter()
            .filter_map(|(id, s)| s.sock.as_ref().map(|sock| (Some(*id), sock)))
            .chain(self.shadowed.iter().map(|(_, s)| (None, s)))
            .collect()
    }

    /// Every local port an open descriptor of the case holds (kernel numbering).
    pub fn local_ports(&self) -> BTreeSet<u16> {
        self.slots
            .values()
            .filter_map(|s| s.sock.as_ref())
            .chain(self.shadowed.iter().map(|(_, s)| s))
            .filter_map(|s| s.local_addr().ok()?.as_socket().map(|a| a.port()))
            .filter(|p| *p != 0)
            .collect()
    }

    /// Closes every open descriptor (each close bounded).
    pub fn close_all(&mut self) {
        let bound = self.config.block_bound;
        for slot in self.slots.values_mut() {
            if let Some(s) = slot.sock.take() {
                close(s, slot.lingers, bound);
            }
        }
        for (_, s) in self.shadowed.drain(..) {
            close(s, true, bound);
        }
    }

    fn open(&self, sock: SockId) -> Option<&Socket> {
        self.socket(sock)
    }

    fn blocking(&self, sock: SockId) -> bool {
        self.slots.get(&sock).is_some_and(|s| !s.nonblocking)
    }

    /// `Blocks` when the socket is blocking and the errno is its timeout's; else data.
    fn blocking_or(&self, sock: SockId, e: &std::io::Error) -> Outcome {
        match e.raw_os_error() {
            Some(libc::EAGAIN) if self.blocking(sock) => Outcome::Blocks,
            _ => err_outcome(e),
        }
    }

    /// `accept` on `listener`: when `wait` is given (a blocking listener), first poll it for
    /// that long ([`Outcome::Blocks`] if nothing comes).
    fn accept_from(
        &mut self,
        listener: SockId,
        sock: SockId,
        wait: Option<Duration>,
        stack: &dyn Stack,
    ) -> Result<Observed, HarnessError> {
        let bound = self.config.block_bound;
        let Some(l) = self.open(listener) else {
            return Ok(Observed::outcome(Outcome::Err(Errno::EBADF)));
        };
        if let Some(wait) = wait {
            match sys::poll_one(l.as_fd(), libc::POLLIN, wait) {
                Ok(true) => {}
                Ok(false) => return Ok(Observed::outcome(Outcome::Blocks)),
                Err(n) => return Ok(Observed::outcome(Outcome::Err(errno::from_raw(n)))),
            }
        }
        let (s, _) = match l.accept() {
            Ok(x) => x,
            Err(e) => return Ok(Observed::outcome(self.blocking_or(listener, &e))),
        };
        let host = self.slots[&listener].host;
        // Blocking, whatever the listener is (as accept4 without SOCK_NONBLOCK).
        s.set_nonblocking(false)
            .map_err(|e| HarnessError::io("clearing O_NONBLOCK on an accepted socket", e))?;
        prepare(&s, true, bound)?;
        let slot = Slot {
            sock: Some(s),
            host,
            nonblocking: false,
            lingers: false,
        };
        if let Some(old) = self.slots.insert(sock, slot)
            && let Some(s) = old.sock
        {
            self.shadowed.push((old.host, s));
        }
        Ok(self.after(sock, Outcome::Ok, stack))
    }

    /// `accept(l1|l2|…)`: poll the listeners (up to the bound when the first listed is
    /// blocking), accept from the first readable one in listed order, else from the first
    /// listed without waiting more.
    fn accept_any(
        &mut self,
        listeners: &[SockId],
        sock: SockId,
        stack: &dyn Stack,
    ) -> Result<Observed, HarnessError> {
        let Some(&first) = listeners.first() else {
            return Ok(Observed::outcome(Outcome::Err(Errno::EBADF)));
        };
        let wait = if self.blocking(first) {
            self.config.block_bound
        } else {
            Duration::ZERO
        };
        let open: Vec<(SockId, &Socket)> = listeners
            .iter()
            .filter_map(|l| self.open(*l).map(|s| (*l, s)))
            .collect();
        let ready = first_ready(&open, wait)?;
        match ready {
            Some(l) => self.accept_from(l, sock, None, stack),
            // Still nothing: a blocking listener Blocks (it waited in poll()), a non-blocking
            // one answers EAGAIN.
            None => {
                let wait = self.blocking(first).then_some(Duration::ZERO);
                self.accept_from(first, sock, wait, stack)
            }
        }
    }

    fn after(&self, sock: SockId, outcome: Outcome, stack: &dyn Stack) -> Observed {
        let Some(s) = self.open(sock) else {
            return Observed::outcome(outcome);
        };
        let (local, peer) = addrs_of(s);
        let (local, peer) = (
            local.map(|a| stack.to_model(a)),
            peer.map(|a| stack.to_model(a)),
        );
        Observed {
            outcome,
            local,
            peer,
        }
    }

    /// `call` with its socket non-blocking (O_NONBLOCK, and its errors as data) for this call
    /// only; the socket's own mode after it.
    fn nonblocking_call(
        &mut self,
        call: &Op,
        env: &Env,
        stack: &dyn Stack,
    ) -> Result<Observed, HarnessError> {
        let Some(sock) = call.sock() else {
            return self.apply(call, env, stack);
        };
        let Some(own) = self.slots.get(&sock).map(|s| s.nonblocking) else {
            return self.apply(call, env, stack);
        };
        let io = |e| HarnessError::io("switching O_NONBLOCK around one call", e);
        let set = |ex: &mut Self, on: bool| -> Result<(), HarnessError> {
            if let Some(slot) = ex.slots.get_mut(&sock) {
                slot.nonblocking = on;
                if let Some(s) = &slot.sock {
                    s.set_nonblocking(on).map_err(io)?;
                }
            }
            Ok(())
        };
        set(self, true)?;
        let result = self.apply(call, env, stack);
        set(self, own)?;
        result
    }

    fn unsupported(op: &Op, reason: &str) -> HarnessError {
        HarnessError::Unsupported {
            what: format!("`{op}` on {}", std::env::consts::OS),
            reason: reason.into(),
        }
    }

    /// Runs one op on the case's stacks.
    pub fn apply(
        &mut self,
        op: &Op,
        env: &Env,
        stack: &dyn Stack,
    ) -> Result<Observed, HarnessError> {
        let bound = self.config.block_bound;
        let observed = match op {
            Op::Socket {
                sock,
                family,
                nonblocking,
                euid,
                host,
            } => {
                if euid.is_some_and(|u| u != 0) {
                    return Err(Self::unsupported(
                        op,
                        "sockets of another uid need per-thread credentials, which this \
                         backend does not have",
                    ));
                }
                if !stack.has(*host) {
                    return Err(HarnessError::InvalidOp {
                        op: op.to_string(),
                        reason: format!("the case has no host {host}"),
                    });
                }
                let domain = match family {
                    Family::Inet => Domain::IPV4,
                    Family::Inet6 => Domain::IPV6,
                };
                // Made blocking, then switched: macOS has no SOCK_NONBLOCK.
                let s = match stack.socket(*host, domain, Type::STREAM)? {
                    Ok(s) => s,
                    Err(e) => return Ok(Observed::outcome(err_outcome(&e))),
                };
                if *nonblocking {
                    s.set_nonblocking(true)
                        .map_err(|e| HarnessError::io("setting O_NONBLOCK", e))?;
                }
                prepare(&s, !*nonblocking, bound)?;
                let slot = Slot {
                    sock: Some(s),
                    host: *host,
                    nonblocking: *nonblocking,
                    lingers: false,
                };
                if let Some(old) = self.slots.insert(*sock, slot)
                    && let Some(s) = old.sock
                {
                    self.shadowed.push((old.host, s));
                }
                self.after(*sock, Outcome::Ok, stack)
            }
            Op::Accept { listener, sock, .. } => {
                let wait = if self.blocking(*listener) {
                    Some(bound)
                } else {
                    None
                };
                self.accept_from(*listener, *sock, wait, stack)?
            }
            Op::AcceptAny {
                listeners, sock, ..
            } => self.accept_any(listeners, *sock, stack)?,
            Op::PerCall { call, option } => match *option {
                CallOption::NonBlocking => self.nonblocking_call(call, env, stack)?,
                CallOption::Within { ms } => {
                    let within = Duration::from_millis(ms);
                    with_block_bound(self, call.sock(), within, |ex| ex.apply(call, env, stack))?
                }
            },
            Op::Close { sock } => {
                let Some(slot) = self.slots.get_mut(sock) else {
                    return Ok(Observed::outcome(Outcome::Err(Errno::EBADF)));
                };
                let Some(s) = slot.sock.take() else {
                    return Ok(Observed::outcome(Outcome::Err(Errno::EBADF)));
                };
                close(s, slot.lingers, bound);
                Observed::outcome(Outcome::Ok)
            }
            Op::Sleep { ms } => {
                std::thread::sleep(Duration::from_millis(*ms));
                Observed::outcome(Outcome::Ok)
            }
            Op::Sysctl { host, setting } => match stack.try_write_sysctl(*host, setting)? {
                Ok(()) => Observed::outcome(Outcome::Ok),
                Err(e) => Observed::outcome(Outcome::Err(e)),
            },
            Op::Destroy { .. } => {
                return Err(Self::unsupported(
                    op,
                    "there is no SOCK_DESTROY on this backend",
                ));
            }
            Op::PeerVanishes { .. } | Op::PeerReboots { .. } => {
                return Err(Self::unsupported(
                    op,
                    "dropping a connection's segments needs a packet filter, which this \
                     backend does not drive",
                ));
            }
            Op::Setsockopt { sock, opt } => {
                let Some(s) = self.open(*sock) else {
                    return Ok(Observed::outcome(Outcome::Err(Errno::EBADF)));
                };
                let res = set_option(s, *opt, int_option);
                if res.is_ok()
                    && let SockOpt::Linger(l) = *opt
                    && let Some(slot) = self.slots.get_mut(sock)
                {
                    slot.lingers = l.is_some_and(|t| t != 0);
                }
                let outcome =
                    res.map_or_else(|n| Outcome::Err(errno::from_raw(n)), |()| Outcome::Ok);
                self.after(*sock, outcome, stack)
            }
            Op::GetsockoptSoError { sock } => {
                let Some(s) = self.open(*sock) else {
                    return Ok(Observed::outcome(Outcome::Err(Errno::EBADF)));
                };
                let outcome = match sys::getsockopt_int(s.as_fd(), libc::SOL_SOCKET, libc::SO_ERROR)
                {
                    Ok(0) => Outcome::SoError(None),
                    Ok(n) => Outcome::SoError(Some(errno::from_raw(n))),
                    Err(n) => Outcome::Err(errno::from_raw(n)),
                };
                self.after(*sock, outcome, stack)
            }
            Op::Bind { sock, addr } => {
                let Some(s) = self.open(*sock) else {
                    return Ok(Observed::outcome(Outcome::Err(Errno::EBADF)));
                };
                let target = stack.to_kernel(resolve(addr, env));
                let outcome = match s.bind(&target.into()) {
                    Ok(()) => Outcome::Ok,
                    Err(e) => err_outcome(&e),
                };
                self.after(*sock, outcome, stack)
            }
            Op::Listen { sock, backlog } => {
                let Some(s) = self.open(*sock) else {
                    return Ok(Observed::outcome(Outcome::Err(Errno::EBADF)));
                };
                let outcome = match sys::listen(s.as_fd(), *backlog as libc::c_int) {
                    Ok(()) => Outcome::Ok,
                    Err(n) => Outcome::Err(errno::from_raw(n)),
                };
                self.after(*sock, outcome, stack)
            }
            Op::Connect { sock, addr, .. } => {
                let Some(s) = self.open(*sock) else {
                    return Ok(Observed::outcome(Outcome::Err(Errno::EBADF)));
                };
                let target = stack.to_kernel(resolve(addr, env));
                let outcome = if self.blocking(*sock) {
                    connect_bounded(s, target, bound)?
                } else {
                    match s.connect(&target.into()) {
                        Ok(()) => Outcome::Ok,
                        Err(e) => err_outcome(&e),
                    }
                };
                self.after(*sock, outcome, stack)
            }
            Op::Send { sock, len } => {
                let Some(s) = self.open(*sock) else {
                    return Ok(Observed::outcome(Outcome::Err(Errno::EBADF)));
                };
                let buf = io_buffer(op, *len)?;
                let started = Instant::now();
                let sent = s.send_with_flags(&buf, SEND_FLAGS);
                let timed_out = started.elapsed() >= bound;
                let outcome = match sent {
                    Ok(0) => Outcome::Ok,
                    Ok(n) if self.blocking(*sock) && n < buf.len() && timed_out => Outcome::Blocks,
                    Ok(n) => Outcome::Bytes(n as u32),
                    Err(e) => self.blocking_or(*sock, &e),
                };
                self.after(*sock, outcome, stack)
            }
            Op::Recv { sock, len } => {
                let Some(s) = self.open(*sock) else {
                    return Ok(Observed::outcome(Outcome::Err(Errno::EBADF)));
                };
                let mut buf = io_buffer(op, *len)?;
                let outcome = match (&*s).read(&mut buf) {
                    Ok(0) => Outcome::Eof,
                    Ok(n) => Outcome::Bytes(n as u32),
                    Err(e) => self.blocking_or(*sock, &e),
                };
                self.after(*sock, outcome, stack)
            }
            Op::Shutdown { sock, how } => {
                let Some(s) = self.open(*sock) else {
                    return Ok(Observed::outcome(Outcome::Err(Errno::EBADF)));
                };
                let how = match how {
                    How::Rd => std::net::Shutdown::Read,
                    How::Wr => std::net::Shutdown::Write,
                    How::RdWr => std::net::Shutdown::Both,
                };
                let outcome = match s.shutdown(how) {
                    Ok(()) => Outcome::Ok,
                    Err(e) => err_outcome(&e),
                };
                self.after(*sock, outcome, stack)
            }
        };
        Ok(observed)
    }
}

/// The timeouts on a blocking socket (`recv`, `send`) and, on macOS, `SO_NOSIGPIPE`.
fn prepare(s: &Socket, blocking: bool, bound: Duration) -> Result<(), HarnessError> {
    if blocking {
        set_timeouts(s, bound)?;
    }
    #[cfg(target_os = "macos")]
    sys::setsockopt_int(s.as_fd(), libc::SOL_SOCKET, libc::SO_NOSIGPIPE, 1).map_err(|n| {
        HarnessError::Unsupported {
            what: "SO_NOSIGPIPE".into(),
            reason: errno::from_raw(n).to_string(),
        }
    })?;
    Ok(())
}

/// A blocking `connect`, bounded (see the module docs): non-blocking for the call, then
/// `poll` for writability up to `bound`.
fn connect_bounded(
    s: &Socket,
    target: SocketAddr,
    bound: Duration,
) -> Result<Outcome, HarnessError> {
    let io = |e| HarnessError::io("switching O_NONBLOCK around a bounded connect", e);
    s.set_nonblocking(true).map_err(io)?;
    let first = s.connect(&target.into());
    let outcome = match first {
        Ok(()) => Outcome::Ok,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINPROGRESS | libc::EALREADY)) => {
            match sys::poll_one(s.as_fd(), libc::POLLOUT, bound) {
                Ok(false) => Outcome::Blocks,
                Ok(true) => finish_connect(s, target),
                Err(n) => Outcome::Err(errno::from_raw(n)),
            }
        }
        Err(e) => err_outcome(&e),
    };
    s.set_nonblocking(false).map_err(io)?;
    Ok(outcome)
}

/// The result of a bounded `connect` whose attempt has finished, leaving the socket as a
/// blocking `connect` would.
///
/// In gVisor (the Linux build of this executor runs there) `connect` again: as in Linux's
/// `__inet_stream_connect()`, a connecting socket whose attempt has finished answers 0 and
/// becomes connected, or answers the attempt's error and is disconnected, exactly the state a
/// blocking `connect` leaves (measured in runsc: after a refused attempt, a further connect
/// gives ECONNABORTED either way; after a completed one, EISCONN either way). Reading
/// `SO_ERROR` instead would leave the socket connecting, and the next `connect` would answer
/// for a non-blocking socket (0, not EISCONN).
#[cfg(target_os = "linux")]
fn finish_connect(s: &Socket, target: SocketAddr) -> Outcome {
    match s.connect(&target.into()) {
        Ok(()) => Outcome::Ok,
        Err(e) if e.raw_os_error() == Some(libc::EISCONN) => Outcome::Ok,
        Err(e) => err_outcome(&e),
    }
}

/// The result of a bounded `connect` whose attempt has finished: its `SO_ERROR`. On a BSD a
/// second `connect` after a failed attempt would start a new one (`soconnect()`).
#[cfg(not(target_os = "linux"))]
fn finish_connect(s: &Socket, _target: SocketAddr) -> Outcome {
    match sys::getsockopt_int(s.as_fd(), libc::SOL_SOCKET, libc::SO_ERROR) {
        Ok(0) => Outcome::Ok,
        Ok(n) | Err(n) => Outcome::Err(errno::from_raw(n)),
    }
}

/// Closes a socket, bounding the wait of a lingering close.
fn close(s: Socket, lingers: bool, bound: Duration) {
    let _no_fork = FORK_GATE.read().unwrap_or_else(|e| e.into_inner());
    let fd: OwnedFd = s.into();
    if lingers {
        sys::close_bounded(fd, bound);
    } else {
        drop(fd);
    }
}
