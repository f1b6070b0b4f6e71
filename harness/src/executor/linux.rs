//! The Linux executor: runs one [`Op`] on real sockets and reports what the kernel did.
//!
//! # What it does with each op
//!
//! - Addresses are passed literally: an IPv4 address becomes a `sockaddr_in` and an IPv6 one a
//!   `sockaddr_in6`, whatever the socket's family, so an IPv4 address given to an `AF_INET6`
//!   socket gets the kernel's `EINVAL` and an IPv6 address given to an `AF_INET` socket its
//!   `EAFNOSUPPORT`. Ports come from the [`Env`]; a variable without a value is port 0. The
//!   executor never binds variables: the caller does, from the [`Observed`] addresses.
//! - A failing syscall is data: `Outcome::Err(errno)`, with unnamed errnos as
//!   `Errno::Other(n)`. Only the bench's own failures are [`HarnessError`]s.
//! - Calls on a name whose descriptor was closed (or that was never created) give `EBADF`,
//!   which is what the kernel says for a descriptor that is not open; the descriptor number is
//!   never reused behind the scenario's back.
//! - [`Observed::local`]/[`Observed::peer`] are `getsockname`/`getpeername` after the call (of
//!   the new socket for `accept`; none when `accept` fails). An unbound socket's
//!   `0.0.0.0:0`/`[::]:0` is reported as `None`; `getpeername`'s `ENOTCONN` as `None`.
//! - `send` of 0 bytes that returns 0 is `Outcome::Ok`; `recv` that returns 0 is
//!   `Outcome::Eof` (also for `recv(s, 0)`).
//!
//! # Bounded blocking
//!
//! Every blocking socket (created without `SOCK_NONBLOCK`, and every accepted socket) gets
//! `SO_RCVTIMEO` and `SO_SNDTIMEO` set to [`ExecConfig::block_bound`] (100 ms by default). The
//! kernel then ends a blocking call that is still waiting at the bound: `connect` with
//! `EINPROGRESS` (or `EALREADY` for a second connect while the first is pending), `accept`,
//! `recv` and `send` with `EAGAIN`. On a blocking socket those answers can only come from the
//! timeout, so they are reported as [`Outcome::Blocks`]; on a non-blocking socket they are data.
//! A blocking `send` that returns fewer bytes than asked after waiting the whole bound is
//! `Blocks` too (the bytes it queued stay queued and show in the peer's table row).
//! A `close` that lingers (`SO_LINGER` with unacknowledged data) is interrupted after the same
//! bound by a thread-directed signal; the socket carries on as an orphan, as after its linger
//! time, and `close` returns 0 as it would have.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use tcpconform_model::{
    CallOption, Env, Errno, Family, Host, How, Observed, Op, Outcome, SockId, SockOpt,
};

use super::{
    BlockBound, ExecConfig, FORK_GATE, addrs_of, err_outcome, first_ready, io_buffer, on_wire,
    resolve, set_option, set_timeouts, with_block_bound,
};
use crate::error::HarnessError;
use crate::observer::{
    ALL_STATES, ClosedSockets, DescriptorReading, ListenerRead, Observer, Owners,
    TCP_BOUND_INACTIVE, TCP_CLOSE, TCP_LISTEN, Touch, TouchedBy,
};
use crate::sandbox::Hosts;
use crate::{errno, sys};

/// What the executor knows about one scenario socket.
#[derive(Debug)]
struct Slot {
    /// The descriptor; `None` once closed.
    sock: Option<Socket>,
    host: Host,
    family: Family,
    nonblocking: bool,
    cookie: u64,
    /// `SO_LINGER` is on with a non-zero time: `close` may block.
    lingers: bool,
    /// The last connection 4-tuple seen (local, peer), kept after close for `peer_vanishes`.
    last_tuple: Option<(SocketAddr, SocketAddr)>,
    /// The uid the socket was created, and is bound, with (`None`: root).
    euid: Option<u32>,
}

/// Runs ops on real sockets, keeping the scenario's names for them.
#[derive(Debug)]
pub struct Executor {
    config: ExecConfig,
    slots: BTreeMap<SockId, Slot>,
    cookies: BTreeMap<u64, SockId>,
    /// Sockets whose name was given to a new socket while they were still open: they stay open
    /// (as in C, where overwriting the variable does not close the descriptor).
    shadowed: Vec<Socket>,
    /// Connections made to lose their segments (`peer_vanishes`), as (local, peer) of the end
    /// that asked, with IPv4 addresses as they travel (v4-mapped ones unmapped).
    impaired: std::collections::BTreeSet<(SocketAddr, SocketAddr)>,
    /// Local addresses whose arriving segments are all dropped (`peer_vanishes` of a socket
    /// without a connection).
    impaired_local: std::collections::BTreeSet<SocketAddr>,
    /// The cookies of the sockets that calls since the observer last walked the bind hash
    /// may have bound or unbound ([`Owners::touched_since_walk`]).
    touched: std::cell::RefCell<Vec<Touch>>,
}

impl BlockBound for Executor {
    fn block_bound_mut(&mut self) -> &mut Duration {
        &mut self.config.block_bound
    }

    fn open_blocking(&self, sock: SockId) -> Option<&Socket> {
        let slot = self.slots.get(&sock).filter(|slot| !slot.nonblocking)?;
        slot.sock.as_ref()
    }
}

impl Owners for Executor {
    fn owner_of(&self, cookie: u64) -> Option<SockId> {
        self.cookies.get(&cookie).copied()
    }

    fn is_open(&self, sock: SockId) -> bool {
        self.slots.get(&sock).is_some_and(|s| s.sock.is_some())
    }

    fn is_impaired(&self, local: SocketAddr, peer: SocketAddr) -> bool {
        let (l, p) = (on_wire(local), on_wire(peer));
        let vanished = |a: SocketAddr| {
            self.impaired_local
                .iter()
                .any(|v| *v == a || (v.ip().is_unspecified() && v.port() == a.port()))
        };
        self.impaired.contains(&(l, p))
            || self.impaired.contains(&(p, l))
            || vanished(l)
            || vanished(p)
    }

    /// Every state but `TCP_BOUND_INACTIVE` (the observer decides when to walk the bind hash,
    /// see [`Observer::settled_snapshot`]) and `LISTEN`: the listeners are read through their
    /// descriptors after the dump ([`Owners::after_dump`]), or, when one cannot be (it has
    /// `SO_KEEPALIVE` or is shadowed), dumped then. A socket enters `LISTEN` only by a call.
    fn dump_states(&self) -> u32 {
        ALL_STATES & !(1 << TCP_LISTEN) & !(1 << TCP_BOUND_INACTIVE)
    }

    /// One `TCP_INFO` of each descriptor. The listeners are those with a slot (so a host)
    /// that [`ListenerRead::readable`] accepts; any other listener is left to a dump. A bound,
    /// inactive row is a socket in `CLOSE` still in the bind hash. A socket without a descriptor is one only while it sits, reset, in the
    /// accept queue of a listener (it inherits the listener's port lock); a closed or orphaned
    /// socket that reaches `CLOSE` is destroyed and unhashed (`inet_csk_destroy_sock()`). So
    /// the candidates are the descriptors in `CLOSE` with a port (`getsockname`; a port may
    /// also be what is left of a released one, `inet_sport` outliving `inet_num`), and the
    /// observer counts the rest.
    fn after_dump(&self) -> DescriptorReading<'_> {
        let mut listeners = Vec::new();
        let mut listeners_unread = false;
        let mut closed = Some(ClosedSockets::default());
        let in_slots = self
            .slots
            .values()
            .filter_map(|slot| Some((Some(slot), slot.sock.as_ref()?)));
        let sockets = in_slots.chain(self.shadowed.iter().map(|s| (None, s)));
        for (slot, s) in sockets {
            match sys::tcp_info_head(s.as_fd()) {
                Ok((TCP_LISTEN, queue, backlog)) => {
                    let read = slot.and_then(|slot| {
                        ListenerRead::readable(slot.host, slot.cookie, s.as_fd(), queue, backlog)
                    });
                    match read {
                        Some(listener) => listeners.push(listener),
                        None => listeners_unread = true,
                    }
                }
                Ok((TCP_CLOSE, _, _)) => {
                    let Some(out) = closed.as_mut() else { continue };
                    let name = s.local_addr().ok().and_then(|a| a.as_socket());
                    match (name.filter(|a| a.port() != 0), s.cookie()) {
                        (Some(a), Ok(cookie)) => {
                            out.with_port.insert(cookie, a);
                        }
                        (Some(_), Err(_)) => closed = None,
                        (None, _) => out.without_port += 1,
                    }
                }
                Ok(_) => {}
                // Cannot tell: the listeners are dumped, the bind hash walked.
                Err(_) => {
                    listeners_unread = true;
                    closed = None;
                }
            }
        }
        DescriptorReading {
            listeners,
            listeners_unread,
            closed,
        }
    }

    fn touched_since_walk(&self) -> Option<Vec<Touch>> {
        Some(self.touched.borrow().clone())
    }

    fn walked(&self) {
        self.touched.borrow_mut().clear();
    }

    fn descriptor(&self, cookie: u64) -> Option<(Host, BorrowedFd<'_>)> {
        let slot = self.slots.get(self.cookies.get(&cookie)?)?;
        let sock = slot.sock.as_ref().filter(|_| slot.cookie == cookie)?;
        Some((slot.host, sock.as_fd()))
    }
}

/// Whether `op` can change a bound, inactive row of a socket it names: whether it is bound, or
/// where (the calls that bind, take or release a port: `bind`, `listen`, `connect`,
/// `shutdown`, `close`, `destroy`; `accept`, which may hand out a queued connection already
/// reset into `CLOSE`), or its queue (`recv` reads what a reset connection left unread).
fn can_change_bound_row(op: &Op) -> bool {
    matches!(
        op,
        Op::Bind { .. }
            | Op::Recv { .. }
            | Op::Listen { .. }
            | Op::Connect { .. }
            | Op::Accept { .. }
            | Op::AcceptAny { .. }
            | Op::Shutdown { .. }
            | Op::Close { .. }
            | Op::Destroy { .. }
    )
}

/// The `(level, name, value)` of an integer socket option, or `None` for `SO_LINGER`.
fn int_option(opt: SockOpt) -> Option<(libc::c_int, libc::c_int, libc::c_int)> {
    let b = libc::c_int::from;
    // Unsigned scenario values are passed as the C `int` the kernel reads; a value above
    // i32::MAX arrives negative, exactly as it would from C.
    let u = |v: u32| v as libc::c_int;
    /// FreeBSD sys/sys/socket.h `SO_REUSEPORT_LB` (0x00010000).
    const SO_REUSEPORT_LB_FREEBSD: libc::c_int = 0x0001_0000;
    /// Winsock `SO_EXCLUSIVEADDRUSE`, `((int)(~SO_REUSEADDR))` with Winsock's SO_REUSEADDR 4.
    const SO_EXCLUSIVEADDRUSE_WINDOWS: libc::c_int = !4;
    Some(match opt {
        SockOpt::ReuseAddr(v) => (libc::SOL_SOCKET, libc::SO_REUSEADDR, b(v)),
        SockOpt::ReusePort(v) => (libc::SOL_SOCKET, libc::SO_REUSEPORT, b(v)),
        SockOpt::KeepAlive(v) => (libc::SOL_SOCKET, libc::SO_KEEPALIVE, b(v)),
        SockOpt::V6Only(v) => (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, b(v)),
        SockOpt::BindAddressNoPort(v) => (libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, b(v)),
        SockOpt::KeepIdle(v) => (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, u(v)),
        SockOpt::KeepIntvl(v) => (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, u(v)),
        SockOpt::KeepCnt(v) => (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, u(v)),
        SockOpt::UserTimeout(v) => (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, u(v)),
        SockOpt::Linger2(v) => (libc::IPPROTO_TCP, libc::TCP_LINGER2, v),
        // Other systems' options, passed to Linux by their own numbers: Linux does not know
        // them and answers ENOPROTOOPT, as the model predicts (setsockopt.not_on_os).
        SockOpt::ReusePortLb(v) => (libc::SOL_SOCKET, SO_REUSEPORT_LB_FREEBSD, b(v)),
        SockOpt::ExclusiveAddrUse(v) => (libc::SOL_SOCKET, SO_EXCLUSIVEADDRUSE_WINDOWS, b(v)),
        SockOpt::Linger(_) => return None,
    })
}

impl Executor {
    /// An executor with no sockets yet.
    pub fn new(config: ExecConfig) -> Self {
        Self {
            config,
            slots: BTreeMap::new(),
            cookies: BTreeMap::new(),
            shadowed: Vec::new(),
            impaired: std::collections::BTreeSet::new(),
            impaired_local: std::collections::BTreeSet::new(),
            touched: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> ExecConfig {
        self.config
    }

    /// The cookie (`SO_COOKIE`) of a socket the executor created or accepted.
    pub fn cookie(&self, sock: SockId) -> Option<u64> {
        self.slots.get(&sock).map(|s| s.cookie)
    }

    /// The host a socket lives on.
    pub fn host_of(&self, sock: SockId) -> Option<Host> {
        self.slots.get(&sock).map(|s| s.host)
    }

    /// The open socket behind a name, for callers that need to look at it directly.
    pub fn socket(&self, sock: SockId) -> Option<&Socket> {
        self.slots.get(&sock).and_then(|s| s.sock.as_ref())
    }

    /// Every name the executor knows, open or closed.
    pub fn names(&self) -> impl Iterator<Item = SockId> + '_ {
        self.slots.keys().copied()
    }

    /// Records that the connection `local` ↔ `peer` loses its segments from now on (see
    /// [`Owners::is_impaired`]); `peer_vanishes` does this itself.
    pub fn mark_impaired(&mut self, local: SocketAddr, peer: SocketAddr) {
        self.impaired.insert((on_wire(local), on_wire(peer)));
    }

    /// Closes every open descriptor (each close bounded as in `close`).
    pub fn close_all(&mut self) {
        let bound = self.config.block_bound;
        for slot in self.slots.values_mut() {
            if let Some(s) = slot.sock.take() {
                close(s, slot.lingers, bound);
            }
        }
        for s in self.shadowed.drain(..) {
            close(s, true, bound);
        }
    }

    /// Runs one op. `hosts` gives access to the case's namespaces (sockets on host `b`,
    /// sysctls, packet drops) and `observer` to its socket tables (`destroy`).
    pub fn apply(
        &mut self,
        op: &Op,
        env: &Env,
        hosts: &mut Hosts,
        observer: &mut Observer,
    ) -> Result<Observed, HarnessError> {
        let observed = self.dispatch(op, env, hosts, observer)?;
        if can_change_bound_row(op.call()) {
            let by = TouchedBy::of(op.call(), &observed.outcome);
            let touches: Vec<Touch> = op
                .socks()
                .into_iter()
                .filter_map(|s| self.slots.get(&s).map(|slot| slot.cookie))
                .map(|cookie| Touch { cookie, by })
                .collect();
            self.touched.borrow_mut().extend(touches);
        }
        Ok(observed)
    }

    /// [`Executor::apply`] without the bookkeeping.
    fn dispatch(
        &mut self,
        op: &Op,
        env: &Env,
        hosts: &mut Hosts,
        observer: &mut Observer,
    ) -> Result<Observed, HarnessError> {
        let observed = match op {
            Op::Socket {
                sock,
                family,
                nonblocking,
                euid,
                host,
            } => self.socket_op(op, *sock, *family, *nonblocking, *euid, *host, hosts)?,
            Op::Accept { listener, sock, .. } => self.accept(*listener, *sock)?,
            Op::AcceptAny {
                listeners, sock, ..
            } => self.accept_any(listeners, *sock)?,
            Op::PerCall { call, option } => {
                let mut dispatch = |ex: &mut Self| ex.dispatch(call, env, hosts, observer);
                match (*option, call.sock()) {
                    (CallOption::NonBlocking, Some(s)) => {
                        self.with_fd_nonblocking(s, true, dispatch)?
                    }
                    (CallOption::NonBlocking, None) => dispatch(self)?,
                    (CallOption::Within { ms }, sock) => {
                        with_block_bound(self, sock, Duration::from_millis(ms), dispatch)?
                    }
                }
            }
            Op::Close { sock } => self.close_op(*sock),
            Op::Sleep { ms } => {
                std::thread::sleep(Duration::from_millis(*ms));
                Observed::outcome(Outcome::Ok)
            }
            Op::Sysctl { host, setting } => match hosts.try_write_sysctl(*host, setting)? {
                Ok(()) => Observed::outcome(Outcome::Ok),
                Err(e) => Observed::outcome(Outcome::Err(e)),
            },
            Op::Destroy { sock } => {
                let outcome = match self.slots.get(sock) {
                    Some(slot) => match observer.destroy(slot.host, slot.cookie)? {
                        Ok(()) => Outcome::Ok,
                        Err(e) => Outcome::Err(e),
                    },
                    None => Outcome::Err(Errno::ENOENT),
                };
                self.after(*sock, outcome)
            }
            Op::PeerVanishes { sock } => {
                let slot = self
                    .slots
                    .get(sock)
                    .ok_or_else(|| HarnessError::InvalidOp {
                        op: op.to_string(),
                        reason: format!("{sock} was never created"),
                    })?;
                // Its connection (current, else last); unconnected, its address and port.
                let current = slot.sock.as_ref().map(addrs_of);
                let target = match (current, slot.last_tuple) {
                    (Some((Some(l), Some(p))), _) | (_, Some((l, p))) => Some((l, Some(p))),
                    (Some((Some(l), None)), None) if l.port() != 0 => Some((l, None)),
                    _ => None,
                };
                let host = slot.host;
                let Some((local, peer)) = target else {
                    return Ok(self.after(*sock, Outcome::Err(Errno::EINVAL)));
                };
                hosts.drop_arriving(host, local, peer)?;
                match peer {
                    Some(p) => {
                        self.impaired.insert((on_wire(local), on_wire(p)));
                    }
                    None => {
                        self.impaired_local.insert(on_wire(local));
                    }
                }
                self.after(*sock, Outcome::Ok)
            }
            Op::PeerReboots { sock } => {
                let slot = self
                    .slots
                    .get(sock)
                    .ok_or_else(|| HarnessError::InvalidOp {
                        op: op.to_string(),
                        reason: format!("{sock} was never created"),
                    })?;
                let current = slot.sock.as_ref().map(addrs_of);
                let tuple = match (current, slot.last_tuple) {
                    (Some((Some(l), Some(p))), _) | (_, Some((l, p))) => Some((l, p)),
                    _ => None,
                };
                let host = slot.host;
                let Some((local, peer)) = tuple else {
                    return Ok(self.after(*sock, Outcome::Err(Errno::EINVAL)));
                };
                // The far end dies without a word: SOCK_DESTROY it while whatever it sends
                // toward this end is dropped, then let segments through again.
                let far_host = hosts.host_of_address(host, peer.ip());
                hosts.silenced(host, local, peer, || {
                    let rows = observer.connection_rows(far_host)?;
                    for row in rows.iter().filter(|r| {
                        on_wire(r.local) == on_wire(peer) && on_wire(r.peer) == on_wire(local)
                    }) {
                        // A row already gone (ENOENT) is as good as destroyed.
                        let _ = observer.destroy_row_on(far_host, row)?;
                    }
                    Ok(())
                })?;
                self.after(*sock, Outcome::Ok)
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
                self.after(
                    *sock,
                    res.map_or_else(|n| Outcome::Err(errno::from_raw(n)), |()| Outcome::Ok),
                )
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
                self.after(*sock, outcome)
            }
            Op::Bind { sock, addr } => {
                let Some(s) = self.open(*sock) else {
                    return Ok(Observed::outcome(Outcome::Err(Errno::EBADF)));
                };
                // A socket of another uid binds as that uid: without CAP_NET_BIND_SERVICE.
                let euid = self
                    .slots
                    .get(sock)
                    .and_then(|slot| slot.euid)
                    .filter(|u| *u != 0);
                let target = resolve(addr, env).into();
                let outcome = match with_euid(euid, || s.bind(&target))? {
                    Ok(()) => Outcome::Ok,
                    Err(e) => err_outcome(&e),
                };
                self.after(*sock, outcome)
            }
            Op::Listen { sock, backlog } => {
                let Some(s) = self.open(*sock) else {
                    return Ok(Observed::outcome(Outcome::Err(Errno::EBADF)));
                };
                let outcome = match sys::listen(s.as_fd(), *backlog as libc::c_int) {
                    Ok(()) => Outcome::Ok,
                    Err(n) => Outcome::Err(errno::from_raw(n)),
                };
                self.after(*sock, outcome)
            }
            Op::Connect { sock, addr, .. } => {
                let Some(s) = self.open(*sock) else {
                    return Ok(Observed::outcome(Outcome::Err(Errno::EBADF)));
                };
                let outcome = match s.connect(&resolve(addr, env).into()) {
                    Ok(()) => Outcome::Ok,
                    Err(e) => self.blocking_or(*sock, &e, &[libc::EINPROGRESS, libc::EALREADY]),
                };
                self.after(*sock, outcome)
            }
            Op::Send { sock, len } => {
                let Some(s) = self.open(*sock) else {
                    return Ok(Observed::outcome(Outcome::Err(Errno::EBADF)));
                };
                let buf = io_buffer(op, *len)?;
                let started = Instant::now();
                let sent = s.send_with_flags(&buf, libc::MSG_NOSIGNAL);
                let timed_out = started.elapsed() >= self.config.block_bound;
                let blocking = self.slots.get(sock).is_some_and(|s| !s.nonblocking);
                let outcome = match sent {
                    Ok(0) => Outcome::Ok,
                    // A blocking send that returns short after waiting the whole bound was
                    // stopped by SO_SNDTIMEO: left alone it would still be blocked.
                    Ok(n) if blocking && n < buf.len() && timed_out => Outcome::Blocks,
                    Ok(n) => Outcome::Bytes(n as u32),
                    Err(e) => self.blocking_or(*sock, &e, &[libc::EAGAIN]),
                };
                self.after(*sock, outcome)
            }
            Op::Recv { sock, len } => {
                let Some(s) = self.open(*sock) else {
                    return Ok(Observed::outcome(Outcome::Err(Errno::EBADF)));
                };
                let mut buf = io_buffer(op, *len)?;
                let outcome = match (&*s).read(&mut buf) {
                    Ok(0) => Outcome::Eof,
                    Ok(n) => Outcome::Bytes(n as u32),
                    Err(e) => self.blocking_or(*sock, &e, &[libc::EAGAIN]),
                };
                self.after(*sock, outcome)
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
                self.after(*sock, outcome)
            }
        };
        Ok(observed)
    }

    fn open(&self, sock: SockId) -> Option<&Socket> {
        self.socket(sock)
    }

    /// `Blocks` when the socket is blocking and the errno is one its timeout produces;
    /// otherwise the errno as data.
    fn blocking_or(&self, sock: SockId, e: &std::io::Error, timeout_errnos: &[i32]) -> Outcome {
        let blocking = self.slots.get(&sock).is_some_and(|s| !s.nonblocking);
        match e.raw_os_error() {
            Some(n) if blocking && timeout_errnos.contains(&n) => Outcome::Blocks,
            _ => err_outcome(e),
        }
    }

    /// The observation after an op on `sock`: its addresses if it is open; remembers a
    /// connection's 4-tuple.
    fn after(&mut self, sock: SockId, outcome: Outcome) -> Observed {
        let Some(slot) = self.slots.get_mut(&sock) else {
            return Observed::outcome(outcome);
        };
        let Some(s) = slot.sock.as_ref() else {
            return Observed::outcome(outcome);
        };
        let (local, peer) = addrs_of(s);
        if let (Some(l), Some(p)) = (local, peer) {
            slot.last_tuple = Some((l, p));
        }
        Observed {
            outcome,
            local,
            peer,
        }
    }

    /// Sets the blocking bounds on a blocking socket and reads its cookie.
    fn prepare(&self, s: &Socket, blocking: bool) -> Result<u64, HarnessError> {
        if blocking {
            set_timeouts(s, self.config.block_bound)?;
        }
        s.cookie()
            .map_err(|e| HarnessError::io("reading SO_COOKIE", e))
    }

    /// Gives a name to a new socket (an open socket of the same name stays open, unnamed).
    fn insert(&mut self, sock: SockId, slot: Slot) {
        self.cookies.insert(slot.cookie, sock);
        if let Some(old) = self.slots.insert(sock, slot)
            && let Some(s) = old.sock
        {
            self.shadowed.push(s);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn socket_op(
        &mut self,
        op: &Op,
        sock: SockId,
        family: Family,
        nonblocking: bool,
        euid: Option<u32>,
        host: Host,
        hosts: &mut Hosts,
    ) -> Result<Observed, HarnessError> {
        if !hosts.has(host) {
            return Err(HarnessError::InvalidOp {
                op: op.to_string(),
                reason: format!("the case has no host {host} (it is a one-host case)"),
            });
        }
        let domain = match family {
            Family::Inet => Domain::IPV4,
            Family::Inet6 => Domain::IPV6,
        };
        let ty = if nonblocking {
            Type::STREAM.nonblocking()
        } else {
            Type::STREAM
        };
        let created =
            hosts.enter(host, || with_fsuid(euid, || Socket::new(domain, ty, None)))??;
        let s = match created {
            Ok(s) => s,
            Err(e) => return Ok(Observed::outcome(err_outcome(&e))),
        };
        let cookie = self.prepare(&s, !nonblocking)?;
        self.insert(
            sock,
            Slot {
                sock: Some(s),
                host,
                family,
                nonblocking,
                cookie,
                lingers: false,
                last_tuple: None,
                euid,
            },
        );
        Ok(self.after(sock, Outcome::Ok))
    }

    fn accept(&mut self, listener: SockId, sock: SockId) -> Result<Observed, HarnessError> {
        let Some(l) = self.open(listener) else {
            return Ok(Observed::outcome(Outcome::Err(Errno::EBADF)));
        };
        // accept() runs as the listener's user: the new socket's inode, and with it the
        // socket's sk_uid (sk_set_socket()), belong to the caller's fsuid.
        let as_user = self.slots[&listener].euid;
        let (s, _) = match with_fsuid(as_user, || l.accept())? {
            Ok(x) => x,
            Err(e) => {
                let outcome = self.blocking_or(listener, &e, &[libc::EAGAIN]);
                return Ok(Observed::outcome(outcome));
            }
        };
        // The accepted socket belongs to the listener's user, who accepted it: its sk_uid is
        // that user's, and bind()'s privileged-port check asks that user.
        let (host, family, euid) = {
            let slot = &self.slots[&listener];
            (slot.host, slot.family, slot.euid)
        };
        // An accepted socket is blocking whatever its listener is (accept4 without
        // SOCK_NONBLOCK).
        let cookie = self.prepare(&s, true)?;
        self.insert(
            sock,
            Slot {
                sock: Some(s),
                host,
                family,
                nonblocking: false,
                cookie,
                lingers: false,
                last_tuple: None,
                euid,
            },
        );
        Ok(self.after(sock, Outcome::Ok))
    }

    /// `accept(l1|l2|…)`: poll the listeners (up to the bound when the first listed is
    /// blocking, not at all otherwise), accept from the first readable one in listed order;
    /// when none is, accept from the first listed without waiting (`EAGAIN` is `Blocks` on a
    /// blocking listener: it waited in poll()).
    fn accept_any(&mut self, listeners: &[SockId], sock: SockId) -> Result<Observed, HarnessError> {
        let Some(&first) = listeners.first() else {
            return Ok(Observed::outcome(Outcome::Err(Errno::EBADF)));
        };
        let wait = if self.slots.get(&first).is_some_and(|s| !s.nonblocking) {
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
            Some(l) => self.accept(l, sock),
            None => self.with_fd_nonblocking(first, false, |ex| ex.accept(first, sock)),
        }
    }

    /// Runs `f` with `sock`'s descriptor in O_NONBLOCK mode, then restores the socket's own
    /// mode. `as_data`: also treat the call as a non-blocking socket's (EAGAIN, EINPROGRESS
    /// are results, not [`Outcome::Blocks`]).
    fn with_fd_nonblocking<R>(
        &mut self,
        sock: SockId,
        as_data: bool,
        f: impl FnOnce(&mut Self) -> Result<R, HarnessError>,
    ) -> Result<R, HarnessError> {
        let Some(own) = self.slots.get(&sock).map(|s| s.nonblocking) else {
            return f(self);
        };
        let io = |e| HarnessError::io("switching O_NONBLOCK around one call", e);
        if let Some(s) = self.open(sock) {
            s.set_nonblocking(true).map_err(io)?;
        }
        if as_data && let Some(slot) = self.slots.get_mut(&sock) {
            slot.nonblocking = true;
        }
        let result = f(self);
        if let Some(slot) = self.slots.get_mut(&sock) {
            slot.nonblocking = own;
        }
        if let Some(s) = self.open(sock) {
            s.set_nonblocking(own).map_err(io)?;
        }
        result
    }

    fn close_op(&mut self, sock: SockId) -> Observed {
        let bound = self.config.block_bound;
        let Some(slot) = self.slots.get_mut(&sock) else {
            return Observed::outcome(Outcome::Err(Errno::EBADF));
        };
        let Some(s) = slot.sock.take() else {
            return Observed::outcome(Outcome::Err(Errno::EBADF));
        };
        if let (Some(l), Some(p)) = addrs_of(&s) {
            slot.last_tuple = Some((l, p));
        }
        close(s, slot.lingers, bound);
        Observed::outcome(Outcome::Ok)
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

/// Runs `f` with the calling thread's fsuid set to `uid` (when given), then restores it.
///
/// The socket's owner uid is its inode's uid, taken from the creator's fsuid
/// (`sock_alloc()`), which is what the SO_REUSEPORT uid check compares.
/// Runs `f` with the calling thread's effective uid set to `uid` (dropping the effective
/// capabilities, as the kernel does for a non-zero euid), then back to root.
fn with_euid<R>(uid: Option<u32>, f: impl FnOnce() -> R) -> Result<R, HarnessError> {
    let Some(uid) = uid else {
        return Ok(f());
    };
    sys::set_thread_euid(uid).map_err(|n| HarnessError::Unsupported {
        what: format!("calling bind() as uid {uid}"),
        reason: format!(
            "setresuid on the case thread failed ({}): the harness needs CAP_SETUID, and in a \
             user namespace only mapped uids exist",
            errno::from_raw(n)
        ),
    })?;
    let r = f();
    sys::set_thread_euid(0).map_err(|n| HarnessError::Unsupported {
        what: "returning the case thread to root".into(),
        reason: format!("setresuid failed ({})", errno::from_raw(n)),
    })?;
    Ok(r)
}

fn with_fsuid<R>(uid: Option<u32>, f: impl FnOnce() -> R) -> Result<R, HarnessError> {
    let Some(uid) = uid else {
        return Ok(f());
    };
    let prev = sys::set_fsuid(uid);
    if sys::fsuid() != uid {
        sys::set_fsuid(prev);
        return Err(HarnessError::Unsupported {
            what: format!("creating a socket with fsuid {uid}"),
            reason: "setfsuid() had no effect: the harness needs CAP_SETUID, and in a user \
                     namespace only mapped uids can be used"
                .into(),
        });
    }
    let r = f();
    sys::set_fsuid(prev);
    Ok(r)
}
