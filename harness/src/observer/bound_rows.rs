//! The case's bound, inactive rows (`UNCONN`: a socket in `CLOSE` still in the bind hash),
//! kept current without walking the global bind hash after every call; and its listeners,
//! read through their descriptors instead of walking the global listening hash
//! ([`listener_row`]).
//!
//! sock_diag lists such a socket only while walking the bind hash (the `TCPF_BOUND_INACTIVE`
//! part of `inet_diag_dump_icsk()`), and that table is global whatever the namespace: 65536
//! buckets here, about 0.7 ms a walk, twenty dumps' worth. A reading keeps the last rows in
//! one of three ways, the cheapest that is exact:
//!
//! 1. **Nothing changed** ([`WalkKey::follows`]): no call named a candidate (a descriptor in
//!    `CLOSE` with a port), none came or went or changed name, and the namespaces' socket count
//!    says that no socket outside the lookup tables appeared or left unannounced. A socket in
//!    `CLOSE` is in no lookup table, so no segment and no timer reaches it: only a call on its
//!    descriptor changes it.
//! 2. **Only quiet candidates changed** ([`WalkKey::to_read`]): the socket count moved by
//!    exactly the candidates that came and went, so every socket that may have changed is a
//!    candidate with a descriptor (new, renamed, or named by a call). If each is *quiet* (it
//!    received no byte, `TCP_INFO`'s `tcpi_bytes_received`, and has no `SO_KEEPALIVE`: nothing
//!    is queued to read and no timer runs: a socket bound and never connected, one whose
//!    connect() was refused or failed, a listener shut down), its row holds only what the
//!    descriptor shows: its name, the peer it kept (`SO_PEERNAME`, which unlike
//!    `getpeername()` shows it in `CLOSE`), its interface, owner and unacknowledged bytes
//!    ([`quiet_bound_row`]). What
//!    the descriptor cannot show is whether the socket is in the bind hash (`inet_num` may be
//!    0 while `inet_sport` keeps the old port). A **probe** answers that ([`BindProbe`]): a
//!    socket of the harness in the same namespace, unbound, with no option, binds to the
//!    candidate's name; `inet_bind_conflict()` refuses it (`EADDRINUSE`) exactly when a socket
//!    of the namespace holds that port at an address that overlaps (the probe has neither
//!    `SO_REUSEADDR` nor `SO_REUSEPORT`, no device, the candidate's family and address). A
//!    probe is sent only when no other row of the host (a connection, a listener, a
//!    TIME-WAIT, another bound socket) has that port, at any address ([`shares_bucket`]);
//!    otherwise the bind hash is walked. Then the answer is the candidate's, and the probe
//!    leaves no trace: a refused one changes nothing (`inet_csk_get_port()` drops the buckets
//!    it made, the probe keeps no address), and an accepted one made the port's bucket, which
//!    closing that spent probe destroys. A probe accepted into another socket's bucket would
//!    not be invisible: `inet_csk_update_fastreuse()` rewrites the bucket's `fastreuse` and
//!    `fastreuseport`, and kernels before 6.18 never restore them when it leaves (variant
//!    `bind_owned_port_release=stays_bind_owned`), so a bucket that connect() made is closed
//!    to connect()'s port search from then on (6.12.118, 40000 the only ephemeral port: a
//!    probe for a refused socket's stale name `[::1]:40000`, next to an IPv4 connection from
//!    40000, made its next connect() fail with `EADDRNOTAVAIL`).
//! 3. **Anything else**: a walk, which is also how the observer learns that this kernel dumps
//!    bound sockets at all ([`bound_rows_dumped`]); until a walk has shown one, there is
//!    nothing to read through a descriptor (Linux before 6.8 shows none).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering};

use tcpconform_model::{Family, Host};

use super::{DiagRow, ListenerRead, TCP_CLOSE, TCP_LISTEN};
use crate::sys;

/// Set once a walk of the bind hash has shown a bound, inactive row: this kernel dumps them
/// (Linux 6.8+), so a row read through a descriptor is one a walk would show.
static BOUND_ROWS_DUMPED: AtomicBool = AtomicBool::new(false);

/// Whether a walk in this process has shown a bound, inactive row.
pub(super) fn bound_rows_dumped() -> bool {
    BOUND_ROWS_DUMPED.load(Ordering::Relaxed)
}

/// Records what a walk of the bind hash showed.
pub(super) fn walk_showed(bound: &[DiagRow]) {
    if !bound.is_empty() {
        BOUND_ROWS_DUMPED.store(true, Ordering::Relaxed);
    }
}

/// What the bound, inactive rows of a reading depend on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct WalkKey {
    /// The sockets of the namespaces in no lookup table and not certainly unbound:
    /// `sockets: used` less the full sockets the dump listed and the case's descriptors in
    /// `CLOSE` without a port (the harness's own sockets are in it too, constant in a case).
    pub(super) unhashed: i64,
    /// The case's descriptors in `CLOSE` with a port (by cookie, with their names): the only
    /// sockets with a descriptor that can be bound and inactive.
    pub(super) candidates: BTreeMap<u64, SocketAddr>,
}

impl WalkKey {
    /// Whether the bound, inactive rows of the reading taken at `then` still hold now, when
    /// calls since named the sockets `touched`: no candidate is new, renamed or named by a
    /// call (a call may bind or release without renaming), and every socket that left the
    /// unhashed ones is a candidate that left `CLOSE` or was closed (it took its row with
    /// it). Anything else (a connection reset into `CLOSE` keeping its port, a socket of a
    /// listener's queue reset, a socket nobody predicted) changes the count.
    pub(super) fn follows(&self, then: &Self, touched: &[u64]) -> bool {
        self.to_read(then, touched).is_some_and(|r| r.is_empty())
    }

    /// The candidates whose rows must be read again for the rows of `then` to hold now, if
    /// those are all: the candidates that are new, renamed or named by a call, when the socket
    /// count moved by exactly the candidates that came and went (else something without a
    /// descriptor changed: `None`).
    pub(super) fn to_read(&self, then: &Self, touched: &[u64]) -> Option<Vec<u64>> {
        let to_read: Vec<u64> = self
            .candidates
            .iter()
            .filter(|(c, name)| touched.contains(c) || then.candidates.get(c) != Some(name))
            .map(|(c, _)| *c)
            .collect();
        let left = then
            .candidates
            .keys()
            .filter(|c| !self.candidates.contains_key(c))
            .count() as i64;
        let entered = self
            .candidates
            .keys()
            .filter(|c| !then.candidates.contains_key(c))
            .count() as i64;
        (self.unhashed == then.unhashed - left + entered).then_some(to_read)
    }
}

/// The row a walk of the bind hash would show for a quiet socket in `CLOSE` with a port
/// (see the module docs), read through its descriptor, with its `getsockname` address (what
/// the probe binds to); `None` when the socket is not such a one or a read fails (then the
/// bind hash is walked). Whether the row exists at all is the probe's answer.
///
/// The fields follow `inet_diag_msg_common_fill()` and `inet_sk_diag_fill()`: the peer is
/// `inet_daddr:inet_dport` (`SO_PEERNAME`) when the port is set, and none otherwise (a walk
/// may show the address a failed connect() left with port 0: the compared row has no peer
/// either way); with no `icsk_pending` timer (none was armed, or `tcp_done()` and
/// `tcp_disconnect()` cleared it on the way to `CLOSE`) and no keepalive timer, `idiag_timer`,
/// `idiag_retrans` and `idiag_expires` are 0;
/// `idiag_rqueue` is `rcv_nxt - copied_seq`, 0 when nothing was received; `idiag_wqueue` is
/// `write_seq - snd_una` (`SIOCOUTQ`); and the bind-hash part of the dump sends no
/// `tcp_info` (`INET_DIAG_INFO`), so there is no `tcpi_unacked`.
pub(super) fn quiet_bound_row(
    host: Host,
    fd: BorrowedFd<'_>,
    cookie: u64,
) -> Option<(DiagRow, SocketAddr)> {
    let traffic = sys::tcp_info_traffic(fd).ok()?;
    let sock = socket2::SockRef::from(&fd);
    let quiet =
        traffic.state == TCP_CLOSE && traffic.bytes_received == 0 && !sock.keepalive().ok()?;
    if !quiet {
        return None;
    }
    let name = sock
        .local_addr()
        .ok()?
        .as_socket()
        .filter(|a| a.port() != 0)?;
    let mut row = row_through(host, fd, cookie, TCP_CLOSE, name)?;
    row.wqueue = sys::unacknowledged_bytes(fd).ok()?;
    Some((row, name))
}

/// The row of the socket behind `fd`, named `name`, in `state`, nothing queued: its family,
/// the peer it kept (`SO_PEERNAME`; no peer port reads as no peer, as in the compared row: a
/// failed connect() zeroes `inet_dport` but keeps `inet_daddr`, which a walk shows with port 0
/// and no call on the descriptor does), its interface, and its file's inode and owner.
fn row_through(
    host: Host,
    fd: BorrowedFd<'_>,
    cookie: u64,
    state: u8,
    name: SocketAddr,
) -> Option<DiagRow> {
    let (family, unspecified) = match name {
        SocketAddr::V4(_) => (Family::Inet, IpAddr::from([0u8; 4])),
        SocketAddr::V6(_) => (Family::Inet6, IpAddr::from([0u8; 16])),
    };
    let peer = sys::peer_name(fd, name.is_ipv6())
        .ok()?
        .unwrap_or_else(|| SocketAddr::new(unspecified, 0));
    let (inode, uid) = sys::socket_inode(fd).ok()?;
    Some(DiagRow::from_descriptor(
        host,
        family,
        state,
        SocketAddr::new(name.ip(), name.port()),
        SocketAddr::new(peer.ip(), peer.port()),
        RowFields {
            interface: sys::bound_ifindex(fd).ok()?,
            cookie,
            uid,
            inode: inode as u32,
            rqueue: 0,
            wqueue: 0,
            unacked: None,
        },
    ))
}

/// The row a dump shows for a listener without `SO_KEEPALIVE` whose `TCP_INFO` was read
/// ([`ListenerRead`]), read through its descriptor, or `None` when a read fails (then the dump
/// asks for listeners).
///
/// A socket in `LISTEN` is in the listening hash: `inet_csk_listen_start()` sets the state only
/// once the socket is hashed, and leaving `LISTEN` unhashes it. Its row
/// (`inet_sk_diag_fill()`, `tcp_diag_get_info()`): its name, the peer it may have kept
/// (`SO_PEERNAME`), no timer (no `icsk_pending` timer is armed in `LISTEN`, and the keepalive
/// timer only with `SO_KEEPALIVE`, whose clearing stops it), the accept queue and the backlog
/// as `idiag_rqueue` and `idiag_wqueue`, and `tcp_info` whose `tcpi_unacked` is the accept
/// queue too.
pub(super) fn listener_row(listener: &ListenerRead<'_>) -> Option<DiagRow> {
    let ListenerRead {
        host,
        cookie,
        fd,
        queue,
        backlog,
    } = *listener;
    let name = socket2::SockRef::from(&fd).local_addr().ok()?.as_socket()?;
    let mut row = row_through(host, fd, cookie, TCP_LISTEN, name)?;
    row.rqueue = queue;
    row.wqueue = backlog;
    row.unacked = Some(queue);
    Some(row)
}

/// Candidates read through their descriptors ([`WalkKey::to_read`]).
#[derive(Clone, Debug, Default)]
pub(super) struct ReadThrough {
    /// The cookies of the candidates read.
    pub(super) read: Vec<u64>,
    /// The bound, inactive rows of those the probe found in the bind hash.
    pub(super) found: Vec<DiagRow>,
}

/// Why a reading walks the bind hash instead of reading the candidates through their
/// descriptors; each is its own line in `bench` (`observe: bind-hash walks: REASON`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WalkReason {
    /// No walk has shown a bound row yet (the first of the process, or a kernel before 6.8).
    NotYetDumped,
    /// No walk of this case to start from, or the descriptors' states could not be read.
    NoEarlierWalk,
    /// The socket count moved by other than the candidates that came and went.
    CountMoved,
    /// A candidate received bytes, keeps alive, or its descriptor could not be read.
    NotQuiet,
    /// Another row of the host has a candidate's port.
    SharedPort,
    /// A probe could not answer (none left, or an answer other than bound or free).
    ProbeUnknown,
}

impl WalkReason {
    /// The `bench` span its walks are timed under.
    pub(super) fn span(self) -> &'static str {
        match self {
            Self::NotYetDumped => "observe: bind-hash walks: first to show bound rows",
            Self::NoEarlierWalk => "observe: bind-hash walks: none to start from",
            Self::CountMoved => "observe: bind-hash walks: socket count moved",
            Self::NotQuiet => "observe: bind-hash walks: candidate not quiet",
            Self::SharedPort => "observe: bind-hash walks: port shared with another row",
            Self::ProbeUnknown => "observe: bind-hash walks: probe could not answer",
        }
    }
}

/// What a row read through a descriptor holds besides its host, family, state and addresses
/// (no timer runs in either kind).
#[derive(Clone, Copy, Debug)]
pub(super) struct RowFields {
    /// `idiag_if`.
    pub(super) interface: u32,
    /// `idiag_cookie`.
    pub(super) cookie: u64,
    /// `idiag_uid`.
    pub(super) uid: u32,
    /// `idiag_inode`.
    pub(super) inode: u32,
    /// `idiag_rqueue`.
    pub(super) rqueue: u32,
    /// `idiag_wqueue`.
    pub(super) wqueue: u32,
    /// `tcpi_unacked` of the `tcp_info` the dump sends (none for a bound, inactive row).
    pub(super) unacked: Option<u32>,
}

/// Whether two rows' local addresses are in one bucket of the bind hash: the same port,
/// whatever the address or family (`inet_bhashfn()` hashes the namespace and the port).
pub(super) fn shares_bucket(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port()
}

/// A probe's answer: whether a socket of the namespace holds a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Probed {
    /// `bind()` failed with `EADDRINUSE`: a socket holds it.
    Held,
    /// `bind()` succeeded: nothing held it (the probe socket is spent and closed).
    Free,
    /// Another answer (an address no longer local, no probe socket left): unknown.
    Unknown,
}

/// How many probe sockets of each family a host starts with. An accepted probe spends one;
/// after that many the host's candidates of that family are walked for. With 2, 525 of 2000
/// cases walked for want of a probe (`bench --cases 2000 --seed 5`, 6.18.44-fc-v1300); with
/// 6, 12 did, for 28 µs more of setup a case (2 to 3 µs a socket).
const PROBES_PER_FAMILY: usize = 6;

/// A host's probe sockets, made in its namespace and never bound (see the module docs). They
/// are the harness's: in the namespace's socket count from the start, in no table.
#[derive(Debug, Default)]
pub(super) struct BindProbe {
    inet: Vec<socket2::Socket>,
    inet6: Vec<socket2::Socket>,
    /// How many were spent (bound, then closed).
    spent: usize,
}

impl BindProbe {
    /// Probe sockets made in the calling thread's namespace (none of a family that cannot be
    /// made there: then candidates of that family are walked for).
    pub(super) fn here() -> Self {
        use socket2::{Domain, Socket, Type};
        let make = |domain: Domain| {
            (0..PROBES_PER_FAMILY)
                .map_while(|_| {
                    let s = Socket::new(domain, Type::STREAM, None).ok()?;
                    if domain == Domain::IPV6 {
                        s.set_only_v6(false).ok()?;
                    }
                    Some(s)
                })
                .collect()
        };
        Self {
            inet: make(Domain::IPV4),
            inet6: make(Domain::IPV6),
            spent: 0,
        }
    }

    /// How many probe sockets were spent: the namespace's socket count is that much lower
    /// than with all of them open.
    pub(super) fn spent(&self) -> usize {
        self.spent
    }

    /// Whether a socket of the namespace holds `name`.
    pub(super) fn holds(&mut self, name: SocketAddr) -> Probed {
        let pool = match name {
            SocketAddr::V4(_) => &mut self.inet,
            SocketAddr::V6(_) => &mut self.inet6,
        };
        let Some(probe) = pool.last() else {
            return Probed::Unknown;
        };
        match probe.bind(&name.into()) {
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => Probed::Held,
            Ok(()) => {
                // Closed as a case's socket is: not while a process the harness started holds
                // a copy of it, or its port would stay held ([`crate::executor::FORK_GATE`]).
                let spent = pool.pop();
                let _no_fork = crate::executor::FORK_GATE
                    .read()
                    .unwrap_or_else(|e| e.into_inner());
                drop(spent);
                self.spent += 1;
                Probed::Free
            }
            Err(_) => Probed::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(unhashed: i64, candidates: &[(u64, &str)]) -> WalkKey {
        WalkKey {
            unhashed,
            candidates: candidates
                .iter()
                .map(|(c, a)| (*c, a.parse().unwrap()))
                .collect(),
        }
    }

    #[test]
    fn a_reading_follows_when_nothing_was_named_and_the_count_holds() {
        let then = key(3, &[(1, "127.0.0.1:5000")]);
        assert!(key(3, &[(1, "127.0.0.1:5000")]).follows(&then, &[]));
        // Named by a call: read again.
        assert_eq!(
            key(3, &[(1, "127.0.0.1:5000")]).to_read(&then, &[1]),
            Some(vec![1])
        );
        // A socket nobody predicted: the count moved.
        assert_eq!(key(4, &[(1, "127.0.0.1:5000")]).to_read(&then, &[1]), None);
        // Closed: left, and the count fell with it.
        assert!(key(2, &[]).follows(&then, &[1]));
    }

    #[test]
    fn new_and_renamed_candidates_are_read_when_the_count_has_them() {
        let then = key(3, &[(1, "127.0.0.1:5000")]);
        let now = key(4, &[(1, "127.0.0.1:5000"), (2, "127.0.0.1:5001")]);
        assert_eq!(now.to_read(&then, &[2]), Some(vec![2]));
        // Not named by a call (a connection reset into CLOSE keeping its port): read too.
        assert_eq!(now.to_read(&then, &[]), Some(vec![2]));
        // Another socket came too (one nobody predicted): walk.
        let more = key(5, &[(1, "127.0.0.1:5000"), (2, "127.0.0.1:5001")]);
        assert_eq!(more.to_read(&then, &[2]), None);
        // Renamed: read.
        assert_eq!(
            key(3, &[(1, "127.0.0.1:5002")]).to_read(&then, &[]),
            Some(vec![1])
        );
        assert!(!key(3, &[(1, "127.0.0.1:5002")]).follows(&then, &[]));
    }

    #[test]
    fn the_same_port_shares_a_bucket_at_any_address() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(shares_bucket(a("127.0.0.1:5000"), a("0.0.0.0:5000")));
        assert!(shares_bucket(a("127.0.0.1:5000"), a("127.0.0.2:5000")));
        assert!(shares_bucket(a("[::1]:40000"), a("127.0.0.1:40000")));
        assert!(!shares_bucket(a("127.0.0.1:5000"), a("127.0.0.1:5001")));
    }
}
