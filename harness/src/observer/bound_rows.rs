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
//!
//!    Before any probe, the calls' own results are asked ([`TouchedBy`]): after a `bind()`
//!    that succeeded the socket is bound, and a call refused before it changed anything (a
//!    refused `bind()`, `connect()` refused by `sock->state`, `shutdown()` in `CLOSE`, a
//!    `destroy` that found nothing, any `recv()`) leaves it as the last reading found it; a
//!    call that left the whole row as it was does not count as naming it at all
//!    ([`TouchedBy::keeps_row`]). An IPv6 candidate is asked itself ([`in_bind_hash_v6`]),
//!    port shared or not. The first uses of each such deduction in a process, and every
//!    reading under `run --check-readings`, are held against a walk
//!    ([`check_readings_against_walks`]).
//! 3. **Anything else**: a walk, which is also how the observer learns that this kernel dumps
//!    bound sockets at all ([`bound_rows_dumped`]); until a walk has shown one, there is
//!    nothing to read through a descriptor (Linux before 6.8 shows none).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};

use tcpconform_model::{Errno, Family, Host, Op, Outcome};

use super::{DiagRow, ListenerRead, TCP_CLOSE, TCP_LISTEN};
use crate::error::HarnessError;
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

/// Whether readings are held against walks ([`check_readings_against_walks`]): 0 no, 1 yes,
/// 2 not yet read from `TCPCONFORM_CHECK_READINGS`.
static CHECKED: AtomicU8 = AtomicU8::new(2);

/// From now on in this process, every reading of the socket table that keeps the bound,
/// inactive rows without walking the bind hash (unchanged, read through descriptors, told by
/// the calls' results, asked of the sockets or probed) also walks it, and fails (a
/// [`HarnessError::SelfCheck`]) when the walk shows other rows: the check of this module's
/// rules on a kernel (`tcpconform run --check-readings`, or `TCPCONFORM_CHECK_READINGS=1`).
pub fn check_readings_against_walks(on: bool) {
    CHECKED.store(on.into(), Ordering::Relaxed);
}

/// Whether readings are held against walks ([`check_readings_against_walks`]).
pub(super) fn checked_against_walks() -> bool {
    match CHECKED.load(Ordering::Relaxed) {
        2 => {
            let on = std::env::var_os("TCPCONFORM_CHECK_READINGS").is_some_and(|v| v == "1");
            check_readings_against_walks(on);
            on
        }
        v => v == 1,
    }
}

/// The rows `kept` (read through descriptors or kept from earlier) against those a walk
/// showed: `None` when they are the same, else the difference. A peer with port 0 counts as
/// none, as in the compared rows (a failed connect() leaves `inet_daddr`, which only a walk
/// shows).
pub(super) fn differences(kept: &[DiagRow], walked: &[DiagRow]) -> Option<String> {
    let fields = |r: &DiagRow| {
        let peer = (r.peer.port() != 0).then_some(r.peer);
        let queues = (r.rqueue, r.wqueue, r.unacked);
        let timer = (r.timer, r.retransmits, r.expires_ms);
        let who = (r.interface, r.uid, r.inode);
        (
            r.host, r.cookie, r.family, r.state, r.local, peer, queues, timer, who,
        )
    };
    let mut kept: Vec<_> = kept.iter().map(fields).collect();
    let mut walked: Vec<_> = walked.iter().map(fields).collect();
    kept.sort_by_key(|f| (f.0, f.1));
    walked.sort_by_key(|f| (f.0, f.1));
    (kept != walked).then(|| format!("kept {kept:?}, walked {walked:?}"))
}

/// A call that named a socket in a way that can change its bound, inactive row
/// ([`Owners::touched_since_walk`](super::Owners::touched_since_walk)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Touch {
    /// The socket's cookie.
    pub cookie: u64,
    /// What the call's own result says of the socket's place in the bind hash.
    pub by: TouchedBy,
}

/// What a call's result says of whether the socket it named is in the bind hash
/// (`inet_num`), whatever it was before. Only what holds whatever the kernel's variants: a
/// `listen()` refused with `EINVAL` says nothing, since `listen_after_connect=einval` takes a
/// port first. The first few uses of each in a process are held against a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TouchedBy {
    /// A `bind()` that succeeded: the socket is in the bind hash exactly when its name now
    /// has a port. `__inet_bind()` and `__inet6_bind()` end with `inet_sport =
    /// htons(inet_num)`, whether `get_port()` bound it or `IP_BIND_ADDRESS_NO_PORT` left it
    /// unbound.
    BindSucceeded,
    /// A call whose result shows that it left the socket's place in the bind hash as it was.
    Unchanged(Unchanged),
    /// Any other call: anything may have changed (a `connect()` that fails releases the port
    /// `tcp_set_state(TCP_CLOSE)` finds without `SOCK_BINDPORT_LOCK`, and so may `destroy`).
    Other,
}

/// The calls whose result shows that they left a socket's place in the bind hash as it was
/// ([`TouchedBy::Unchanged`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unchanged {
    /// A `bind()` that failed: a bound socket is refused (`EINVAL`) before anything changes,
    /// and an unbound one stays unbound (a refusal from `get_port()` drops the buckets it made
    /// and clears only the address; one from the post-bind hook puts the port back).
    BindRefused,
    /// A `connect()` refused with `EISCONN` or `EALREADY` by `__inet_stream_connect()`'s look
    /// at `sock->state`, before `tcp_v4_connect()` or `tcp_v6_connect()`.
    ConnectRefusedByState,
    /// A `shutdown()` that answered `ENOTCONN`: `inet_shutdown()` found the socket in
    /// `CLOSE`, where `tcp_shutdown()` does nothing.
    ShutdownInClose,
    /// A `destroy` that answered `ENOENT`: `SOCK_DESTROY` found no row to abort.
    DestroyFoundNothing,
    /// A `recv()`: `tcp_recvmsg()` takes no port and gives none back.
    Recv,
}

impl TouchedBy {
    /// What the result `outcome` of `call` (an op unwrapped of its option,
    /// [`Op::PerCall`]) says.
    pub fn of(call: &Op, outcome: &Outcome) -> Self {
        use Errno::{EALREADY, EISCONN, ENOENT, ENOTCONN};
        let unchanged = match (call, outcome) {
            (Op::Bind { .. }, Outcome::Ok) => return Self::BindSucceeded,
            (Op::Bind { .. }, Outcome::Err(_)) => Unchanged::BindRefused,
            (Op::Connect { .. }, Outcome::Err(EISCONN | EALREADY)) => {
                Unchanged::ConnectRefusedByState
            }
            (Op::Shutdown { .. }, Outcome::Err(ENOTCONN)) => Unchanged::ShutdownInClose,
            (Op::Destroy { .. }, Outcome::Err(ENOENT)) => Unchanged::DestroyFoundNothing,
            (Op::Recv { .. }, _) => Unchanged::Recv,
            _ => return Self::Other,
        };
        Self::Unchanged(unchanged)
    }

    /// Whether the call left the whole bound, inactive row of a socket in `CLOSE` (or its
    /// having none) as it was, name and all, when no timer ran on it: a refused bind (a bound
    /// socket is refused before anything changes; an unbound one has no row, and keeps none),
    /// a `connect()` refused by `sock->state`, a `shutdown()` in `CLOSE` (it sets only
    /// `sk_shutdown`, which the row does not show), a `destroy` that found nothing. Not a
    /// `recv()`: it moves `copied_seq`, so `idiag_rqueue`.
    pub fn keeps_row(self) -> bool {
        matches!(
            self,
            Self::Unchanged(
                Unchanged::BindRefused
                    | Unchanged::ConnectRefusedByState
                    | Unchanged::ShutdownInClose
                    | Unchanged::DestroyFoundNothing
            )
        )
    }

    /// Whether a socket is in the bind hash after this call, given whether it was before
    /// (`None`: unknown).
    pub fn bound_after(self, before: Option<bool>) -> Option<bool> {
        match self {
            Self::BindSucceeded => Some(true),
            Self::Unchanged(_) => before,
            Self::Other => None,
        }
    }
}

/// What a reading took from a call's result instead of from a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Deduction {
    /// Whether the socket is in the bind hash ([`TouchedBy::bound_after`]).
    Membership(TouchedBy),
    /// That the socket's whole row, or its having none, is as the last reading showed
    /// ([`TouchedBy::keeps_row`]).
    Row(TouchedBy),
}

/// How many uses of each [`Deduction`] in a process are held against a walk before it is
/// trusted there.
const USES_VERIFIED: u8 = 3;

/// Whether the uses of `used` are trusted in this process: each of the first
/// [`USES_VERIFIED`] uses of a kind counts one, and asks for a walk to hold the reading
/// against (so a kernel where a result means something else fails the case, a
/// [`HarnessError::SelfCheck`], instead of hiding a difference).
pub(super) fn verified(used: &[Deduction]) -> bool {
    if used.is_empty() {
        return true;
    }
    static USES: Mutex<BTreeMap<Deduction, u8>> = Mutex::new(BTreeMap::new());
    let mut uses = USES.lock().unwrap_or_else(|e| e.into_inner());
    let mut verified = true;
    for kind in used {
        let n = uses.entry(*kind).or_default();
        if *n < USES_VERIFIED {
            *n += 1;
            verified = false;
        }
    }
    verified
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
    /// The bound, inactive rows of those found in the bind hash.
    pub(super) found: Vec<DiagRow>,
    /// What the calls' results said, where they told whether a candidate is bound.
    pub(super) deduced: Vec<Deduction>,
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

/// The address an IPv6 candidate is asked to bind to ([`in_bind_hash_v6`]): `100::1`, in
/// RFC 6666's discard-only prefix, which no host of a case has.
const NOT_LOCAL_V6: Ipv6Addr = Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 1);

/// Whether an IPv6 socket in `CLOSE` is in the bind hash, asked of the socket itself: it binds
/// to an address no host has ([`NOT_LOCAL_V6`], port 0). `__inet6_bind()` refuses a socket
/// with `inet_num` set (`EINVAL`: "active socket, double bind") *before* it looks at the
/// address, and one without it because the address is not the host's (`EADDRNOTAVAIL`,
/// `ipv6_chk_addr()`), in both cases before it changes anything; the port 0 needs no
/// capability and the unicast address no scope. Nothing else can make it succeed: no op sets
/// `IP_FREEBIND` or `IP_TRANSPARENT`, and `net.ipv6.ip_nonlocal_bind` is no sysctl a case sets
/// (a bind that succeeded anyway is a harness failure). Unlike a [`BindProbe`] it needs no
/// other socket, so no other row sharing the port can change or muddle the answer. IPv4 has no
/// such question: `__inet_bind()` checks the address first, and clears it when `get_port()`
/// refuses. Asked only where [`self_bind_answers`] showed that this kernel answers so.
pub(super) fn in_bind_hash_v6(fd: BorrowedFd<'_>) -> Result<Probed, HarnessError> {
    let not_local = SocketAddr::from((NOT_LOCAL_V6, 0));
    match socket2::SockRef::from(&fd).bind(&not_local.into()) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(Probed::Held),
        Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => Ok(Probed::Free),
        Err(_) => Ok(Probed::Unknown),
        Ok(()) => Err(HarnessError::Unsupported {
            what: "asking a socket in CLOSE whether it is bound".into(),
            reason: format!("it was bound to {not_local}: non-local binds are on here"),
        }),
    }
}

/// Whether this kernel answers [`in_bind_hash_v6`] as `__inet6_bind()` does, checked once per
/// process, in the namespace of the first host made ([`BindProbe::here`]): a socket bound to `[::1]:0` must
/// be told `EINVAL`, an unbound one `EADDRNOTAVAIL`. Otherwise (no IPv6 loopback, another
/// order of checks) IPv6 candidates are probed or walked for as IPv4 ones are.
pub(super) fn self_bind_answers() -> bool {
    static ANSWERS: OnceLock<bool> = OnceLock::new();
    *ANSWERS.get_or_init(|| {
        use socket2::{Domain, Socket, Type};
        let asked = || -> Option<(Probed, Probed)> {
            let bound = Socket::new(Domain::IPV6, Type::STREAM, None).ok()?;
            bound
                .bind(&SocketAddr::from((Ipv6Addr::LOCALHOST, 0)).into())
                .ok()?;
            let unbound = Socket::new(Domain::IPV6, Type::STREAM, None).ok()?;
            let held = in_bind_hash_v6(bound.as_fd()).ok()?;
            let free = in_bind_hash_v6(unbound.as_fd()).ok()?;
            Some((held, free))
        };
        asked() == Some((Probed::Held, Probed::Free))
    })
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
        // The first host of the process checks, in its namespace, what its sockets' own binds
        // answer.
        self_bind_answers();
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
    fn only_a_bind_and_calls_refused_before_any_change_tell_whether_a_socket_is_bound() {
        use tcpconform_model::{Errno, Op, Outcome, SockId};
        let sock = SockId(0);
        let bind = crate::scenario::parse_op("bind(s0, 127.0.0.1:5000)").unwrap();
        let listen = Op::Listen { sock, backlog: 1 };
        let connect = crate::scenario::parse_op("connect(s0, 127.0.0.1:5000)").unwrap();
        let of = TouchedBy::of;
        assert_eq!(of(&bind, &Outcome::Ok), TouchedBy::BindSucceeded);
        let refused = of(&bind, &Outcome::Err(Errno::EADDRINUSE));
        assert_eq!(refused, TouchedBy::Unchanged(Unchanged::BindRefused));
        // listen_after_connect=einval takes a port before it answers EINVAL.
        assert_eq!(of(&listen, &Outcome::Err(Errno::EINVAL)), TouchedBy::Other);
        assert_eq!(of(&listen, &Outcome::Ok), TouchedBy::Other);
        let by_state = TouchedBy::Unchanged(Unchanged::ConnectRefusedByState);
        assert_eq!(of(&connect, &Outcome::Err(Errno::EISCONN)), by_state);
        assert_eq!(of(&connect, &Outcome::Err(Errno::EALREADY)), by_state);
        // A refused connect() may have released the port it took.
        assert_eq!(
            of(&connect, &Outcome::Err(Errno::ECONNREFUSED)),
            TouchedBy::Other
        );
        // In call order: a bind binds whatever came before; a refusal keeps what was.
        let after =
            |touches: &[TouchedBy], before| touches.iter().fold(before, |b, t| t.bound_after(b));
        let succeeded = TouchedBy::BindSucceeded;
        assert_eq!(after(&[TouchedBy::Other, succeeded], None), Some(true));
        assert_eq!(after(&[refused], Some(false)), Some(false));
        assert_eq!(after(&[refused], None), None);
        assert_eq!(after(&[succeeded, TouchedBy::Other], Some(true)), None);
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
