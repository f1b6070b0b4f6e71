//! Observers: the whole TCP socket table of each of a case's hosts, as a model
//! [`Snapshot`], one backend per operating system.
//!
//! - Linux ([`linux`]): `sock_diag` netlink dumps, and `SOCK_DESTROY`.
//! - FreeBSD and macOS (`pcblist`): the `net.inet.tcp.pcblist` sysctl (FreeBSD's
//!   `struct xinpgen`/`struct xtcpcb` records; macOS's `net.inet.tcp.pcblist_n`, typed
//!   records), read inside the case's jail on FreeBSD and on the host on macOS. Its parsers are
//!   plain functions of bytes, compiled and unit-tested on every OS.
//!
//! What is common: a [`Settled`] table, and which calls cannot change a settled table
//! ([`sends_nothing`], [`same_active_rows`]).

use std::time::Duration;

use tcpconform_model::{Row, Snapshot, TcpState};

#[cfg(target_os = "linux")]
mod bound_rows;
#[cfg(target_os = "linux")]
mod diag;
#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "linux")]
mod netlink;
#[cfg(target_os = "linux")]
pub use diag::*;
#[cfg(target_os = "linux")]
pub use linux::*;
#[cfg(target_os = "linux")]
pub use netlink::NETLINK_TIMEOUT;
#[cfg(target_os = "linux")]
pub(crate) use netlink::NlSocket;

pub mod pcblist;

#[cfg(any(target_os = "freebsd", target_os = "macos"))]
mod bsd;
#[cfg(any(target_os = "freebsd", target_os = "macos"))]
pub use bsd::*;

/// A table read until it stopped changing (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    /// The last table read.
    pub snapshot: Snapshot,
    /// Whether the last two dumps held the same rows and nothing was in flight.
    pub settled: bool,
    /// How many connection ends still had unacknowledged segments with their peer in view, in
    /// the last dump, plus the packets still on the receive backlogs and, on 6.1, the busy
    /// ksoftirqd threads (on Linux, `softnet_backlog`, `ksoftirqd_running`).
    pub in_flight: usize,
    /// How many dumps were taken.
    pub dumps: u32,
    /// How long it took.
    pub elapsed: Duration,
}

/// Whether `op` cannot put a segment on the wire: after it, a table that was settled before
/// needs no second dump to show that nothing is still in transit. `socket`, `bind`,
/// `listen`, `setsockopt`, `getsockopt(SO_ERROR)`, `accept` (it takes an established
/// connection off the queue) and a sysctl write send nothing; `connect`, `send`, `recv` (a
/// window update), `shutdown`, `close`, `destroy` may, and so may the fixture ops and
/// the timers that run during a `sleep`. (A timer can fire at any time; the model judges
/// those by the call's times, not by settling.)
pub fn sends_nothing(op: &tcpconform_model::Op) -> bool {
    use tcpconform_model::Op;
    match op.call() {
        Op::Socket { .. }
        | Op::Bind { .. }
        | Op::Listen { .. }
        | Op::Setsockopt { .. }
        | Op::GetsockoptSoError { .. }
        | Op::Accept { .. }
        | Op::AcceptAny { .. }
        | Op::Sysctl { .. } => true,
        Op::Connect { .. }
        | Op::Send { .. }
        | Op::Recv { .. }
        | Op::Shutdown { .. }
        | Op::Close { .. }
        | Op::Destroy { .. }
        | Op::PeerVanishes { .. }
        | Op::PeerReboots { .. }
        | Op::PerCall { .. }
        | Op::Sleep { .. } => false,
    }
}

/// Whether `op`, which answered `outcome`, put no segment on the wire: it is a call that
/// [`sends_nothing`], or one refused before it could send:
/// - `connect()` with `EISCONN` or `EALREADY` (`__inet_stream_connect()` looks at
///   `sock->state` first), `EADDRNOTAVAIL` (no port or address: before `tcp_connect()`) or
///   `ENETUNREACH` (no route: `ip_route_connect()`, first of all);
/// - `send()` with `EPIPE` or `ENOTCONN` (`tcp_sendmsg_locked()` fails before it copies a byte,
///   and pushes only what it copied);
/// - `recv()` with `ENOTCONN` (a listener, or a socket in `CLOSE`, for which `__tcp_send_ack()`
///   sends nothing);
/// - `shutdown()` with `ENOTCONN` (in `CLOSE`, `tcp_shutdown()` does nothing);
/// - a `destroy` that found nothing (`ENOENT`).
pub fn sent_nothing(op: &tcpconform_model::Op, outcome: &tcpconform_model::Outcome) -> bool {
    use tcpconform_model::Errno::{
        EADDRNOTAVAIL, EALREADY, EISCONN, ENETUNREACH, ENOENT, ENOTCONN,
    };
    use tcpconform_model::{Errno, Op, Outcome};
    let refused = |e: &[Errno]| matches!(outcome, Outcome::Err(x) if e.contains(x));
    sends_nothing(op)
        || match op.call() {
            Op::Connect { .. } => refused(&[EISCONN, EALREADY, EADDRNOTAVAIL, ENETUNREACH]),
            Op::Send { .. } => refused(&[Errno::EPIPE, ENOTCONN]),
            Op::Recv { .. } | Op::Shutdown { .. } => refused(&[ENOTCONN]),
            Op::Destroy { .. } => refused(&[ENOENT]),
            _ => false,
        }
}

/// Whether two tables hold the same rows, bound and inactive ones (`CLOSE`) left out.
///
/// Settling compares consecutive tables to see that nothing changes any more behind the
/// caller's back. A socket in `CLOSE` changes only by a call on its descriptor (it is in no
/// lookup table, so no segment reaches it), except when it got there asynchronously, from a
/// connection reset or refused by a late segment — and then the row it had before (in
/// `SYN-SENT`, `ESTABLISHED`, …) vanished from the other table, which the comparison sees.
pub fn same_active_rows(a: &Snapshot, b: &Snapshot) -> bool {
    let active = |s: &Snapshot| -> Vec<Row> {
        s.key()
            .into_iter()
            .filter(|r| r.state != TcpState::Closed)
            .collect()
    };
    active(a) == active(b)
}
