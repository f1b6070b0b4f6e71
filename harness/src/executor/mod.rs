//! Executors: run one `model::Op` on real sockets and report what the kernel did, one backend
//! per operating system.
//!
//! - Linux ([`linux`]): sockets created inside the host's network namespace, owners found by
//!   `SO_COOKIE`, per-thread credentials for other uids, `SOCK_DESTROY` and nftables for the
//!   fixture ops.
//! - FreeBSD and macOS, and gVisor on Linux ([`portable`]): the same calls through the same
//!   `socket2` code, with each OS's option numbers and errnos, blocking calls bounded by `poll`;
//!   what such a backend cannot do (sockets of another uid on one thread, `destroy`,
//!   `peer_vanishes`, `peer_reboots`) is a `HarnessError::Unsupported`, never a made-up
//!   result.
//!
//! The common part is here: the configuration, how a scenario address becomes a socket
//! address, what `getsockname`/`getpeername` report, and the fork gate.

use std::net::SocketAddr;
use std::time::Duration;

use socket2::Socket;
use tcpconform_model::{Env, Errno, Op, Outcome, SockAddr};

use crate::errno;
use crate::error::HarnessError;

#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;

pub mod portable;
#[cfg(any(target_os = "freebsd", target_os = "macos"))]
pub use portable::*;

/// The largest buffer a `send`/`recv` op may ask for.
pub const MAX_IO_LEN: u32 = 64 << 20;

/// How the executor runs ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecConfig {
    /// How long a blocking call may wait before it is reported as [`Outcome::Blocks`].
    pub block_bound: Duration,
}

impl Default for ExecConfig {
    fn default() -> Self {
        Self {
            block_bound: Duration::from_millis(tcpconform_model::time::BLOCKING_BOUND_MS),
        }
    }
}

/// What a call's `within=` changes for that call, in either executor ([`with_block_bound`]).
pub(crate) trait BlockBound {
    /// How long a blocking call may wait before it is reported as [`Outcome::Blocks`].
    fn block_bound_mut(&mut self) -> &mut Duration;
    /// The socket's descriptor, while it is open and blocking.
    fn open_blocking(&self, sock: tcpconform_model::SockId) -> Option<&Socket>;
}

/// Runs `f` with the blocking bound, and the `SO_RCVTIMEO`/`SO_SNDTIMEO` of `sock` when it is
/// blocking, set to `within` instead of the usual: a call waited for that long
/// (`connect(…, within=4s)`). Both are the usual again after it.
pub(crate) fn with_block_bound<E: BlockBound, R>(
    ex: &mut E,
    sock: Option<tcpconform_model::SockId>,
    within: Duration,
    f: impl FnOnce(&mut E) -> Result<R, HarnessError>,
) -> Result<R, HarnessError> {
    let usual = *ex.block_bound_mut();
    let sock = sock.filter(|s| ex.open_blocking(*s).is_some());
    let set = |ex: &mut E, bound: Duration| -> Result<(), HarnessError> {
        *ex.block_bound_mut() = bound;
        match sock.and_then(|s| ex.open_blocking(s)) {
            Some(s) => set_timeouts(s, bound),
            None => Ok(()),
        }
    };
    set(ex, within)?;
    let result = f(ex);
    set(ex, usual)?;
    result
}

/// Sets `opt` on `s`: an integer option as this OS's `int_option` names it (level, name,
/// value), or `SO_LINGER` (`None` there); the errno when the kernel refuses.
pub(crate) fn set_option(
    s: &Socket,
    opt: tcpconform_model::SockOpt,
    int_option: fn(tcpconform_model::SockOpt) -> Option<(libc::c_int, libc::c_int, libc::c_int)>,
) -> Result<(), i32> {
    use std::os::fd::AsFd;
    match (int_option(opt), opt) {
        (Some((level, name, value)), _) => {
            crate::sys::setsockopt_int(s.as_fd(), level, name, value)
        }
        (None, tcpconform_model::SockOpt::Linger(Some(t))) => {
            crate::sys::setsockopt_linger(s.as_fd(), 1, t as libc::c_int)
        }
        (None, _) => crate::sys::setsockopt_linger(s.as_fd(), 0, 0),
    }
}

/// Bounds a blocking socket's calls by `bound`: its `SO_RCVTIMEO` and `SO_SNDTIMEO`.
pub(crate) fn set_timeouts(s: &Socket, bound: Duration) -> Result<(), HarnessError> {
    s.set_read_timeout(Some(bound))
        .and_then(|()| s.set_write_timeout(Some(bound)))
        .map_err(|e| HarnessError::io("setting SO_RCVTIMEO/SO_SNDTIMEO", e))
}

/// For `accept(l1|l2|…)`: the first of `listeners`, in the order given, with a connection
/// waiting, once `poll()` has waited up to `wait` for one; `None` when none has.
pub(crate) fn first_ready(
    listeners: &[(tcpconform_model::SockId, &Socket)],
    wait: Duration,
) -> Result<Option<tcpconform_model::SockId>, HarnessError> {
    use std::os::fd::AsFd;
    let fds: Vec<_> = listeners.iter().map(|(_, s)| s.as_fd()).collect();
    let readable = crate::sys::poll_readable(&fds, wait).map_err(|n| {
        HarnessError::io(
            "polling the listeners",
            std::io::Error::from_raw_os_error(n),
        )
    })?;
    Ok(listeners
        .iter()
        .zip(readable)
        .find_map(|((l, _), r)| r.then_some(*l)))
}

/// An address as it travels: a v4-mapped IPv6 address as IPv4.
pub(crate) fn on_wire(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(tcpconform_model::addr::wire_ip(a.ip()), a.port())
}

/// An `io::Error` from a socket call as an outcome: its errno as data.
pub(crate) fn err_outcome(e: &std::io::Error) -> Outcome {
    Outcome::Err(errno::from_io(e).unwrap_or(Errno::Other(0)))
}

/// A concrete socket address from a scenario address and the port environment.
pub(crate) fn resolve(addr: &SockAddr, env: &Env) -> SocketAddr {
    SocketAddr::new(addr.ip, env.resolve_or_zero(&addr.port))
}

/// `getsockname`/`getpeername`, as the model reads them.
pub(crate) fn addrs_of(sock: &Socket) -> (Option<SocketAddr>, Option<SocketAddr>) {
    let local = sock
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .filter(|a| !(a.ip().is_unspecified() && a.port() == 0));
    let peer = sock.peer_addr().ok().and_then(|a| a.as_socket());
    (local, peer)
}

/// Held (shared) by every `close()` of a case's socket and (exclusively) by the harness while
/// a process it started (`nft`) runs. A child holds a copy of every descriptor of the process
/// from its fork until its exec closes them (they are all `O_CLOEXEC`); a `close()` in that
/// window, on another case's thread, releases nothing, and that case's socket stays in its
/// table (seen as an ESTAB or LISTEN row still there after `close`). The parent cannot see when
/// the child's exec has closed them (`posix_spawn` returns at the vfork release, before
/// `do_close_on_exec()`), so the gate is held until the child exits.
pub(crate) static FORK_GATE: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// A zeroed buffer for `send`/`recv`.
pub(crate) fn io_buffer(op: &Op, len: u32) -> Result<Vec<u8>, HarnessError> {
    if len > MAX_IO_LEN {
        return Err(HarnessError::InvalidOp {
            op: op.to_string(),
            reason: format!("buffers are limited to {MAX_IO_LEN} bytes"),
        });
    }
    Ok(vec![0; len as usize])
}
