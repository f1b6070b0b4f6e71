//! The Linux observer: a namespace's whole TCP socket table, read through `sock_diag` netlink.
//!
//! # Method
//!
//! One `NETLINK_SOCK_DIAG` socket per host, opened by the case thread while it is inside that
//! host's network namespace (a netlink socket belongs to the namespace of the thread that
//! created it). A table is two dumps (`SOCK_DIAG_BY_FAMILY` with `NLM_F_DUMP`), one for
//! `AF_INET` and one for `AF_INET6`, each asking for every state bit from `TCP_ESTABLISHED` (1)
//! to `TCP_BOUND_INACTIVE` (13). That covers:
//!
//! - full sockets in every state, with the queue `idiag_rqueue` (the accept queue of a
//!   listener, unread bytes otherwise);
//! - TIME-WAIT and FIN-WAIT-2 minisockets (inode 0, the substate as the state, the TIME-WAIT
//!   timer);
//! - request sockets (`TCP_NEW_SYN_RECV`, reported by the kernel as `SYN-RECV`, inode 0);
//! - bound, unconnected sockets (state `CLOSE`), which Linux dumps since 6.8 when bit 13
//!   (`TCPF_BOUND_INACTIVE`) is in `idiag_states`; older kernels ignore the bit and those rows
//!   are missing ([`tcpconform_model::Profile::diag_dumps_bound_sockets`]).
//!
//! `AF_INET` rows carry IPv4 addresses and `AF_INET6` rows IPv6 ones; an IPv6 socket's
//! v4-mapped address stays v4-mapped (`[::ffff:127.0.0.1]`), as `ss` prints it.
//!
//! Rows are tied to scenario sockets by their cookie (`SO_COOKIE`, `idiag_cookie`), which the
//! executor reads when it creates or accepts a socket and which a TIME-WAIT minisocket keeps.
//! The remaining time of a timer (`idiag_expires`) is read from the raw `inet_diag_msg`, since
//! `netlink-packet-sock-diag` drops it for TIME-WAIT ([`raw_timer`](super::raw_timer)).
//!
//! # Settling
//!
//! Loopback segments are processed in softirq context, nearly always before the syscall that
//! sent them returns. Acknowledgements are the exception: the end that receives a FIN enters
//! "pingpong" mode (`tcp_fin()`) and *delays* its ACK, which on this machine (Linux 6.18,
//! HZ=250) arrives 0–8 ms later; until then the active closer stays in FIN-WAIT-1. Data can be
//! acknowledged late the same way. Linux 6.18 does not report the delayed-ACK timer through
//! sock_diag, so the observer looks at the sender instead: it asks for `tcp_info`
//! (`INET_DIAG_INFO`) and counts a connection as *in flight* when one end has output pending
//! ([`DiagRow::has_pending_output`]: unacknowledged segments, or queued bytes or FIN not held
//! back by a zero window) and its other end is in the observed tables too (so the answer is
//! coming), unless the executor made that connection lose its segments (`peer_vanishes`,
//! [`Owners::is_impaired`]).
//!
//! [`Observer::settled_snapshot`] dumps until two consecutive tables hold the same rows
//! (queues included, timers and owners ignored) and nothing is in flight, pausing 50 µs,
//! 100 µs, 200 µs, … (at most 2 ms) between dumps, for at most [`SETTLE_BUDGET`] in all. A
//! table that never settled is still returned, marked `settled: false`, for the caller to
//! report.
//!
//! # Cost
//!
//! A dump walks the namespace's whole established-hash table (a small private one, see
//! `sandbox`), the global listening hash when `LISTEN` is asked for, and the global bind hash
//! when `TCP_BOUND_INACTIVE` is, whatever the number of sockets. So each reading dumps every
//! state but the bound, inactive one (about 30 µs here), asks for listeners only while a
//! descriptor listens, and keeps the bound, inactive rows current without walking the bind
//! hash (0.5–0.8 ms a walk) unless it must: see the `bound_rows` module. A quiet table
//! settles in two dumps; right after the close of a connection the peer's delayed ACK makes it
//! take 6.5 ms (p90 9–11 ms, 6–10 dumps).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use tcpconform_model::{Errno, Host, Snapshot, SockId};

use super::bound_rows::{self, Deduction, Probed, ReadThrough, WalkKey, WalkReason};
pub use super::bound_rows::{Touch, TouchedBy, Unchanged, check_readings_against_walks};
use super::diag::{DiagRow, DiagSocket};
use super::{Settled, same_active_rows};
use crate::error::HarnessError;
use crate::stopwatch;

/// The longest [`Observer::settled_snapshot`] keeps dumping (a delayed ACK arrives within 8 ms
/// here; the rest is margin for a loaded machine).
pub const SETTLE_BUDGET: Duration = Duration::from_millis(50);

/// `TCP_NEW_SYN_RECV`: a request socket.
pub const TCP_NEW_SYN_RECV: u8 = 12;
/// `TCP_LISTEN`.
pub const TCP_LISTEN: u8 = 10;
/// `TCP_CLOSE`: a socket in no lookup table (bound and inactive, when it is in a dump).
pub const TCP_CLOSE: u8 = 7;
/// `TCP_BOUND_INACTIVE`: the state bit that asks for bound, unconnected sockets (Linux 6.8+).
pub const TCP_BOUND_INACTIVE: u8 = 13;

/// Every state bit from `TCP_ESTABLISHED` (1) to `TCP_BOUND_INACTIVE` (13).
pub const ALL_STATES: u32 = (1 << (TCP_BOUND_INACTIVE as u32 + 1)) - 2;

/// `TCPDIAG_GETSOCK`: the inet_diag dump request before `SOCK_DIAG_BY_FAMILY`.
pub(super) const TCPDIAG_GETSOCK: u16 = 18;
/// `SOCK_DIAG_BY_FAMILY`.
pub(super) const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `INET_DIAG_INFO`: the `tcp_info` extension.
pub(super) const INET_DIAG_INFO: u8 = 2;

/// Who owns which socket: what the observer needs from the executor to fill
/// [`RowInfo`](tcpconform_model::RowInfo).
pub trait Owners {
    /// The scenario socket whose cookie this is, if any.
    fn owner_of(&self, cookie: u64) -> Option<SockId>;
    /// Whether the socket's descriptor is still open.
    fn is_open(&self, sock: SockId) -> bool;
    /// Whether the connection `local` ↔ `peer` (as seen from either end) was made to lose its
    /// segments, so that what it has in flight will never be acknowledged.
    fn is_impaired(&self, local: SocketAddr, peer: SocketAddr) -> bool {
        let _ = (local, peer);
        false
    }
    /// The states (a mask of `1 << TCP_*` bits) a dump must ask for to miss no row: every
    /// state unless the owner knows that no row can be in some of them, or gives those rows
    /// itself ([`Owners::after_dump`]; see [`crate::executor::Executor`]'s). Asked before every
    /// dump.
    fn dump_states(&self) -> u32 {
        ALL_STATES
    }
    /// What the case's descriptors show just after a dump, read in one pass (one `TCP_INFO`
    /// each): the listeners to read through their descriptors when [`Owners::dump_states`]
    /// leaves `LISTEN` out (the listening hash is global: 16384 buckets here, a dump's
    /// dearest part after the bind hash), and the sockets in `CLOSE`. By default none of
    /// either, and the sockets in `CLOSE` unknown: every observation then walks the bind hash.
    fn after_dump(&self) -> DescriptorReading<'_> {
        DescriptorReading::default()
    }
    /// The sockets that calls named, since the bound, inactive rows were last read, in a way
    /// that can change their bound, inactive row: whether (and where) they are bound (`bind`,
    /// `listen`, `connect`, `accept`, `shutdown`, `close`, `destroy`) or its queue (`recv`),
    /// in call order; `None` when the owner cannot tell (then every reading walks the bind
    /// hash). The observer clears them with [`Owners::walked`].
    fn touched_since_walk(&self) -> Option<Vec<Touch>> {
        None
    }
    /// The bound, inactive rows were read (the bind hash walked, or the named sockets read
    /// through their descriptors): what they showed is current.
    fn walked(&self) {}
    /// The host and descriptor of the case's socket with this cookie, while one is open: the
    /// observer reads a freshly bound socket's row through it instead of walking the bind
    /// hash (see the `bound_rows` module). `None`: it walks.
    fn descriptor(&self, cookie: u64) -> Option<(Host, BorrowedFd<'_>)> {
        let _ = cookie;
        None
    }
}

/// What the case's descriptors show just after a dump ([`Owners::after_dump`]).
#[derive(Debug, Default)]
pub struct DescriptorReading<'a> {
    /// The listeners with a slot (so a host) and without `SO_KEEPALIVE` (whose timer a
    /// listener could carry over from before; see the `bound_rows` module's `listener_row`).
    pub listeners: Vec<ListenerRead<'a>>,
    /// Whether a descriptor listens that cannot be read so (with `SO_KEEPALIVE`, shadowed,
    /// or unreadable): then a dump of `LISTEN` gives the listeners.
    pub listeners_unread: bool,
    /// The sockets in `CLOSE`; `None` when the owner cannot tell.
    pub closed: Option<ClosedSockets>,
}

/// A listener of the case as `TCP_INFO` showed it ([`DescriptorReading::listeners`]).
#[derive(Clone, Copy, Debug)]
pub struct ListenerRead<'a> {
    /// Its host.
    pub host: Host,
    /// Its cookie.
    pub cookie: u64,
    /// Its descriptor.
    pub fd: BorrowedFd<'a>,
    /// The connections ready for `accept()` (`tcpi_unacked` of a listener).
    pub queue: u32,
    /// The backlog (`tcpi_sacked` of a listener).
    pub backlog: u32,
}

impl<'a> ListenerRead<'a> {
    /// The listener behind `fd` with the queues `TCP_INFO` showed, if it can be read through
    /// its descriptor: not with `SO_KEEPALIVE`, whose timer a listener could carry over from
    /// before (see the `bound_rows` module's `listener_row`).
    pub fn readable(
        host: Host,
        cookie: u64,
        fd: BorrowedFd<'a>,
        queue: u32,
        backlog: u32,
    ) -> Option<Self> {
        let keepalive = socket2::SockRef::from(&fd).keepalive().ok()?;
        (!keepalive).then_some(Self {
            host,
            cookie,
            fd,
            queue,
            backlog,
        })
    }
}

/// The sockets of a case that are in `CLOSE` with a descriptor ([`DescriptorReading::closed`]):
/// those with a port (`getsockname`), the candidates for a bound, inactive row, by cookie with
/// their name, and how many have none (certainly unbound).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClosedSockets {
    /// Those with a port, by cookie, with their `getsockname` address: the sockets that can
    /// be in the bind hash without being in a lookup table.
    pub with_port: BTreeMap<u64, SocketAddr>,
    /// How many have no port (never bound, or bound with `IP_BIND_ADDRESS_NO_PORT`).
    pub without_port: usize,
}

/// No socket is known (for raw dumps).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoOwners;

impl Owners for NoOwners {
    fn owner_of(&self, _: u64) -> Option<SockId> {
        None
    }
    fn is_open(&self, _: SockId) -> bool {
        false
    }
}

/// Rows with pending output ([`DiagRow::has_pending_output`]) whose other end is in `rows` and
/// whose connection is not impaired.
pub fn in_flight(rows: &[DiagRow], owners: &dyn Owners) -> usize {
    let wire = |a: SocketAddr| SocketAddr::new(tcpconform_model::addr::wire_ip(a.ip()), a.port());
    let ends: std::collections::BTreeSet<(SocketAddr, SocketAddr)> = rows
        .iter()
        .filter(|r| r.peer.port() != 0)
        .map(|r| (wire(r.local), wire(r.peer)))
        .collect();
    rows.iter()
        .filter(|r| r.peer.port() != 0 && r.has_pending_output())
        .filter(|r| ends.contains(&(wire(r.peer), wire(r.local))))
        .filter(|r| !owners.is_impaired(wire(r.local), wire(r.peer)))
        .count()
}

/// Packets waiting on the CPUs' receive backlogs (`softnet_backlog_len()`, the 12th column of
/// `/proc/net/softnet_stat` on 6.1 and later; 0 when it cannot be read). Loopback segments wait
/// there until `net_rx_action()` runs. Before 6.5 a softirq raised while ksoftirqd is awake is
/// left to ksoftirqd ("softirq: Let ksoftirqd do its job", reverted by d15121be7485, v6.5), so
/// on 6.1 segments a call sent can still be queued when it returns — under emulation (qemu TCG,
/// where the 2 ms softirq budget runs out quickly) often enough to matter. The count is the
/// machine's, not only the case's: other traffic can only make settling wait longer.
///
/// The file is opened once per thread and read again from its start (`pread`), as the
/// sockstat count is: opening it is most of the cost of a read.
pub fn softnet_backlog() -> usize {
    use std::os::unix::fs::FileExt;
    thread_local! {
        static SOFTNET_STAT: Option<std::fs::File> =
            std::fs::File::open("/proc/net/softnet_stat").ok();
    }
    SOFTNET_STAT.with(|file| {
        let Some(file) = file else {
            return 0;
        };
        // One line of 13 or more 8-digit columns per CPU.
        let mut buf = vec![0u8; 4096];
        let mut len = 0;
        while let Ok(n) = file.read_at(&mut buf[len..], len as u64) {
            len += n;
            if n == 0 || len < buf.len() {
                break;
            }
            buf.resize(buf.len() * 2, 0);
        }
        String::from_utf8_lossy(&buf[..len])
            .lines()
            .filter_map(|l| l.split_whitespace().nth(11))
            .filter_map(|v| usize::from_str_radix(v, 16).ok())
            .sum()
    })
}

/// How many ksoftirqd threads are running or runnable (state `R` in `/proc/PID/stat`), on a
/// kernel that leaves softirqs to them ([`Profile::softirqs_wait_for_ksoftirqd`], 6.1): there a
/// loopback segment that ksoftirqd took off the backlog is processed by it, possibly on the
/// other CPU while a dump runs (see [`softnet_backlog`]); a handshake's last ACK can be seen
/// unprocessed, its request still in SYN-RECV. Always 0 on later kernels, where a busy
/// machine's ksoftirqd says nothing about the case. The threads are found once.
///
/// [`Profile::softirqs_wait_for_ksoftirqd`]: tcpconform_model::Profile::softirqs_wait_for_ksoftirqd
pub fn ksoftirqd_running() -> usize {
    static STATS: std::sync::OnceLock<Vec<std::path::PathBuf>> = std::sync::OnceLock::new();
    let stats = STATS.get_or_init(|| {
        let waits = crate::kernel::running_release_profile()
            .is_ok_and(tcpconform_model::Profile::softirqs_wait_for_ksoftirqd);
        if !waits {
            return Vec::new();
        }
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                std::fs::read_to_string(p.join("comm"))
                    .is_ok_and(|c| c.trim_end().starts_with("ksoftirqd/"))
            })
            .map(|p| p.join("stat"))
            .collect()
    });
    stats
        .iter()
        .filter(|p| {
            // `PID (comm) S ...`: the state follows the last `)`.
            std::fs::read_to_string(p).is_ok_and(|t| {
                t.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('R'))
            })
        })
        .count()
}

/// The socket tables of a case's hosts.
pub struct Observer {
    hosts: Vec<DiagSocket>,
    /// The bound, inactive rows of the last walk of the bind hash.
    bound_rows: Vec<DiagRow>,
    /// What that walk was taken against: when it still holds, the bind hash cannot have
    /// changed for the case and the rows above are current (see [`Observer::observe`]).
    walked: Option<WalkKey>,
    /// How many walks of the bind hash the observer made.
    walks: u64,
    /// How many readings read the named bound sockets through their descriptors instead.
    reads: u64,
    /// A walk found a listener that no descriptor of the case holds: every dump asks for
    /// listeners from then on.
    foreign_listeners: bool,
}

impl Observer {
    /// An observer over the given per-host sockets (each opened inside its host's namespace).
    pub fn new(hosts: Vec<DiagSocket>) -> Self {
        Self {
            hosts,
            bound_rows: Vec::new(),
            walked: None,
            walks: 0,
            reads: 0,
            foreign_listeners: false,
        }
    }

    /// How many times the observer walked the global bind hash (the dearest part of a
    /// reading, made only when the case's bound, inactive rows may have changed).
    pub fn walks(&self) -> u64 {
        self.walks
    }

    /// How many times the observer read the named bound sockets through their descriptors
    /// (and probes) instead of walking the bind hash.
    pub fn descriptor_reads(&self) -> u64 {
        self.reads
    }

    /// How many probe sockets a bind() accepted (each one a bucket made and destroyed).
    pub fn probes_bound(&self) -> usize {
        self.hosts.iter().map(|h| h.probe.spent()).sum()
    }

    /// An observer of namespaces that were just made: they hold no TCP socket, so nothing is
    /// bound in them, and the first reading need not walk the bind hash to know it.
    pub fn of_fresh_namespaces(hosts: Vec<DiagSocket>) -> Result<Self, HarnessError> {
        let mut o = Self::new(hosts);
        o.walked = Some(WalkKey {
            unhashed: o.sockets_used()?,
            candidates: BTreeMap::new(),
        });
        Ok(o)
    }

    /// `sockets: used` summed over the hosts.
    fn sockets_used(&self) -> Result<i64, HarnessError> {
        self.hosts.iter().map(DiagSocket::sockets_used).sum()
    }

    /// One reading of the table: a dump of every row in a lookup table (the bind hash left
    /// out), and the bound, inactive rows, kept current as the `bound_rows` module tells:
    /// unchanged when no candidate (a descriptor in `CLOSE` with a port) changed and the
    /// namespaces' socket count (`sockstat`'s `sockets: used`) holds; read through the
    /// descriptors of those that changed, with a probe, when the count accounts for them and
    /// each is quiet; else walked. With `reference` (the first dump of a settling, only
    /// compared with the next), neither the count, nor a read, nor a walk is made: the next
    /// dump makes them.
    fn observe(
        &mut self,
        owners: &dyn Owners,
        reference: bool,
    ) -> Result<Vec<DiagRow>, HarnessError> {
        // A reference is only compared with the next reading, bound rows left out: it needs
        // neither the count nor the sockets in `CLOSE`.
        let used = if reference {
            0
        } else {
            stopwatch::time("observe: socket counts", || self.sockets_used())?
        };
        let mut states = owners.dump_states() & !(1 << TCP_BOUND_INACTIVE);
        if self.foreign_listeners {
            states |= 1 << TCP_LISTEN;
        }
        let mut rows = stopwatch::time("observe: dumps", || self.all_rows_in(states))?;
        let reading = stopwatch::time("observe: descriptors' states", || owners.after_dump());
        if states & (1 << TCP_LISTEN) == 0 {
            let read = (!reading.listeners_unread)
                .then(|| {
                    stopwatch::time("observe: listeners read through descriptors", || {
                        let rows = reading.listeners.iter().map(bound_rows::listener_row);
                        rows.collect::<Option<Vec<DiagRow>>>()
                    })
                })
                .flatten();
            match read {
                Some(listeners) => rows.extend(listeners),
                None => {
                    // Dumped now: a walk of this reading need not ask for them again.
                    rows.extend(self.all_rows_in(1 << TCP_LISTEN)?);
                    states |= 1 << TCP_LISTEN;
                }
            }
        }
        if reference {
            rows.extend(self.bound_rows.iter().cloned());
            return Ok(rows);
        }
        let key = reading.closed.map(|closed| {
            let hashed = rows
                .iter()
                .filter(|r| !r.is_minisocket() && !r.is_request() && r.state != TCP_CLOSE)
                .count() as i64;
            WalkKey {
                unhashed: used - hashed - closed.without_port as i64,
                candidates: closed.with_port,
            }
        });
        self.keep_bound_rows(owners, key, states, &mut rows)?;
        rows.extend(self.bound_rows.iter().cloned());
        Ok(rows)
    }

    /// Keeps the bound, inactive rows current for a reading whose key (see `WalkKey`) is
    /// `key`: unchanged when nothing a row depends on changed, read through the descriptors of
    /// the candidates that changed when that is exact, else walked (listeners in `states`
    /// left out of the dump are added to `rows` by the walk). Readings that did not walk are
    /// held against a walk on the first uses of each deduction, and always under
    /// `--check-readings`.
    fn keep_bound_rows(
        &mut self,
        owners: &dyn Owners,
        key: Option<WalkKey>,
        states: u32,
        rows: &mut Vec<DiagRow>,
    ) -> Result<(), HarnessError> {
        let touches = owners.touched_since_walk();
        let (touched, mut deduced) = match &touches {
            Some(touches) => {
                let (touched, kept) = self.rows_touched(touches);
                (Some(touched), kept)
            }
            None => (None, Vec::new()),
        };
        let current = match (&key, &self.walked, &touched) {
            (Some(now), Some(then), Some(touched)) => now.follows(then, touched),
            _ => false,
        };
        if current && let Some(now) = key {
            // The candidates that left `CLOSE` (into a lookup table, or closed) took their
            // rows with them.
            self.bound_rows.retain(|r| {
                now.candidates.contains_key(&r.cookie) || owners.owner_of(r.cookie).is_none()
            });
            self.walked = Some(now);
        } else {
            let then = self.walked.take();
            let read = match (&key, &then, &touched) {
                (Some(now), Some(then), Some(touched)) => {
                    let touches = touches.as_deref().unwrap_or_default();
                    stopwatch::time("observe: bound rows read through descriptors", || {
                        self.read_through_descriptors(now, then, touched, touches, rows, owners)
                    })?
                }
                _ => Err(WalkReason::NoEarlierWalk),
            };
            match (read, key) {
                (Ok(through), Some(now)) => {
                    self.bound_rows.retain(|r| {
                        let kept = now.candidates.contains_key(&r.cookie)
                            || owners.owner_of(r.cookie).is_none();
                        kept && !through.read.contains(&r.cookie)
                    });
                    self.bound_rows.extend(through.found);
                    self.walked = Some(now);
                    self.reads += 1;
                    owners.walked();
                    deduced.extend(through.deduced);
                }
                (Err(reason), key) => return self.walk(owners, states, key, reason, rows),
                (Ok(_), None) => unreachable!("a reading through descriptors has a key"),
            }
        }
        let checked = bound_rows::checked_against_walks();
        if self.walked.is_some() && (checked || !bound_rows::verified(&deduced)) {
            self.check_against_a_walk()?;
        }
        Ok(())
    }

    /// The cookies of the candidates that calls since the last reading touched in a way that
    /// may have changed their rows, and the deductions that spared the others: a call that
    /// left a candidate's whole row as it was (when no timer runs on it,
    /// [`TouchedBy::keeps_row`]) did not touch it, and its row is the last reading's.
    fn rows_touched(&self, touches: &[Touch]) -> (Vec<u64>, Vec<Deduction>) {
        let keeps_row = |t: &Touch| {
            let then = self.bound_rows.iter().find(|r| r.cookie == t.cookie);
            t.by.keeps_row() && then.is_none_or(|r| r.timer == 0)
        };
        let (kept, touched): (Vec<&Touch>, Vec<&Touch>) =
            touches.iter().partition(|t| keeps_row(t));
        let deduced = kept.iter().map(|t| Deduction::Row(t.by)).collect();
        (touched.iter().map(|t| t.cookie).collect(), deduced)
    }

    /// Walks the bind hash and fails when it shows other bound, inactive rows than those the
    /// reading kept ([`bound_rows::checked_against_walks`]).
    fn check_against_a_walk(&mut self) -> Result<(), HarnessError> {
        let walk = stopwatch::time("observe: bind-hash walks: checking a reading", || {
            self.all_rows_in(1 << TCP_BOUND_INACTIVE)
        })?;
        let walked: Vec<DiagRow> = walk.into_iter().filter(|r| r.state == TCP_CLOSE).collect();
        match bound_rows::differences(&self.bound_rows, &walked) {
            None => Ok(()),
            Some(reason) => Err(HarnessError::SelfCheck {
                what: "the bound, inactive rows kept without a walk".into(),
                reason,
            }),
        }
    }

    /// A walk of the bind hash: the bound, inactive rows, and the listeners `states` left out
    /// (no descriptor of the case listens, yet the count may have seen one), added to `rows`.
    fn walk(
        &mut self,
        owners: &dyn Owners,
        states: u32,
        key: Option<WalkKey>,
        reason: WalkReason,
        rows: &mut Vec<DiagRow>,
    ) -> Result<(), HarnessError> {
        let listen = (states & (1 << TCP_LISTEN) == 0) as u32 * (1 << TCP_LISTEN);
        let walk = stopwatch::time(reason.span(), || {
            self.all_rows_in((1 << TCP_BOUND_INACTIVE) | listen)
        })?;
        let (bound, others): (Vec<DiagRow>, Vec<DiagRow>) =
            walk.into_iter().partition(|r| r.state == TCP_CLOSE);
        // The listeners not already read through their descriptors.
        let listeners: Vec<DiagRow> = others
            .into_iter()
            .filter(|r| listen != 0 && r.state == TCP_LISTEN)
            .filter(|r| {
                !rows
                    .iter()
                    .any(|o| o.state == TCP_LISTEN && o.cookie == r.cookie)
            })
            .collect();
        // From now on every dump asks for listeners, so that they are counted.
        self.foreign_listeners |= !listeners.is_empty();
        rows.extend(listeners);
        bound_rows::walk_showed(&bound);
        self.bound_rows = bound;
        self.walked = key;
        self.walks += 1;
        owners.walked();
        Ok(())
    }

    /// The candidates that changed since the reading `then` (new, renamed or named by a
    /// call), read through their descriptors, each found in the bind hash or not by the
    /// results of the calls that named it (`touches`) or else by a probe, when that is exact
    /// (see the `bound_rows` module): their cookies and the rows of those found; otherwise why
    /// the bind hash must be walked. `rows` is the reading's dump.
    fn read_through_descriptors(
        &mut self,
        now: &WalkKey,
        then: &WalkKey,
        touched: &[u64],
        touches: &[Touch],
        rows: &[DiagRow],
        owners: &dyn Owners,
    ) -> Result<Result<ReadThrough, WalkReason>, HarnessError> {
        if !bound_rows::bound_rows_dumped() {
            return Ok(Err(WalkReason::NotYetDumped));
        }
        let Some(to_read) = now.to_read(then, touched) else {
            return Ok(Err(WalkReason::CountMoved));
        };
        let mut read = Vec::new();
        for &cookie in &to_read {
            let row = owners
                .descriptor(cookie)
                .and_then(|(host, fd)| bound_rows::quiet_bound_row(host, fd, cookie));
            match row {
                Some(r) => read.push(r),
                None => return Ok(Err(WalkReason::NotQuiet)),
            }
        }
        // The rows that stay: the dump's, and the bound ones of the candidates not read again.
        let kept = |r: &&DiagRow| {
            !to_read.contains(&r.cookie)
                && (now.candidates.contains_key(&r.cookie) || owners.owner_of(r.cookie).is_none())
        };
        let mut deduced = Vec::new();
        let mut fresh = Vec::new();
        let mut unknown = Vec::new();
        for (row, name) in read.iter().cloned() {
            let (known, by) = self.bound_by_calls(row.cookie, then, touches);
            deduced.extend(by);
            let bound = match known {
                Some(bound) => bound,
                None if name.is_ipv6() && bound_rows::self_bind_answers() => {
                    let (_, fd) = owners.descriptor(row.cookie).expect("read through it");
                    match bound_rows::in_bind_hash_v6(fd)? {
                        Probed::Held => true,
                        Probed::Free => false,
                        Probed::Unknown => return Ok(Err(WalkReason::ProbeUnknown)),
                    }
                }
                None => {
                    unknown.push((row, name));
                    continue;
                }
            };
            if bound {
                fresh.push(row);
            }
        }
        // Any other row with the port, at any address: a connection, a listener, a TIME-WAIT
        // (the candidate's own among them: a minisocket keeps its socket's cookie), a bound
        // socket. It may hold the port, and a probe bound next to it would leave a trace.
        for (row, _) in &unknown {
            let shares =
                |o: &DiagRow| o.host == row.host && bound_rows::shares_bucket(o.local, row.local);
            let other_read = read
                .iter()
                .map(|(r, _)| r)
                .filter(|r| r.cookie != row.cookie);
            let mut others = rows
                .iter()
                .chain(self.bound_rows.iter().filter(kept))
                .chain(other_read);
            if others.any(shares) {
                return Ok(Err(WalkReason::SharedPort));
            }
        }
        for (row, name) in unknown {
            match self.socket(row.host)?.probe.holds(name) {
                Probed::Held => fresh.push(row),
                Probed::Free => {}
                Probed::Unknown => return Ok(Err(WalkReason::ProbeUnknown)),
            }
        }
        Ok(Ok(ReadThrough {
            read: to_read,
            found: fresh,
            deduced,
        }))
    }

    /// Whether the candidate `cookie` is in the bind hash as far as the calls that named it
    /// since the reading `then` tell ([`TouchedBy::bound_after`]), from what that reading
    /// showed of it (nothing, if it was no candidate then); with the deductions that told it.
    fn bound_by_calls(
        &self,
        cookie: u64,
        then: &WalkKey,
        touches: &[Touch],
    ) -> (Option<bool>, Vec<Deduction>) {
        let before = (then.candidates.contains_key(&cookie))
            .then(|| self.bound_rows.iter().any(|r| r.cookie == cookie));
        let by: Vec<TouchedBy> = touches
            .iter()
            .filter(|t| t.cookie == cookie)
            .map(|t| t.by)
            .collect();
        let bound = by.iter().fold(before, |bound, by| by.bound_after(bound));
        let deduced = match bound {
            Some(_) => by
                .into_iter()
                .filter(|by| *by != TouchedBy::Other)
                .map(Deduction::Membership)
                .collect(),
            None => Vec::new(),
        };
        (bound, deduced)
    }

    /// The row of the case's socket `cookie` as read through its descriptor in place of a walk
    /// of the bind hash, whether or not it is in the bind hash (the probe's question), or
    /// `None` when it is not a quiet socket in `CLOSE` with a port (see the `bound_rows`
    /// module). For tests that hold it against a walk.
    pub fn quiet_bound_row(owners: &dyn Owners, cookie: u64) -> Option<DiagRow> {
        let (host, fd) = owners.descriptor(cookie)?;
        bound_rows::quiet_bound_row(host, fd, cookie).map(|(row, _)| row)
    }

    /// The row of the case's listener `cookie` as read through its descriptor in place of a
    /// walk of the listening hash, or `None` when it cannot be (see the `bound_rows` module).
    /// For tests that hold it against a dump.
    pub fn listener_row(owners: &dyn Owners, cookie: u64) -> Option<DiagRow> {
        let (host, fd) = owners.descriptor(cookie)?;
        let (state, queue, backlog) = crate::sys::tcp_info_head(fd).ok()?;
        if state != TCP_LISTEN {
            return None;
        }
        bound_rows::listener_row(&ListenerRead::readable(host, cookie, fd, queue, backlog)?)
    }

    /// The hosts observed.
    pub fn hosts(&self) -> impl Iterator<Item = Host> + '_ {
        self.hosts.iter().map(DiagSocket::host)
    }

    fn socket(&mut self, host: Host) -> Result<&mut DiagSocket, HarnessError> {
        self.hosts
            .iter_mut()
            .find(|d| d.host() == host)
            .ok_or_else(|| HarnessError::InvalidOp {
                op: format!("observe host {host}"),
                reason: "the case has no such host".into(),
            })
    }

    /// Every row of one host.
    pub fn rows(&mut self, host: Host) -> Result<Vec<DiagRow>, HarnessError> {
        self.socket(host)?.rows()
    }

    /// The rows of one host in a lookup table (the bind hash left out: a bound, inactive socket
    /// has no connection).
    pub fn connection_rows(&mut self, host: Host) -> Result<Vec<DiagRow>, HarnessError> {
        self.socket(host)?
            .rows_in(ALL_STATES & !(1 << TCP_BOUND_INACTIVE))
    }

    /// Every row of every host.
    pub fn all_rows(&mut self) -> Result<Vec<DiagRow>, HarnessError> {
        self.all_rows_in(ALL_STATES)
    }

    /// Every row of every host in `states`.
    pub fn all_rows_in(&mut self, states: u32) -> Result<Vec<DiagRow>, HarnessError> {
        let mut out = Vec::new();
        for d in &mut self.hosts {
            out.extend(d.rows_in(states)?);
        }
        Ok(out)
    }

    /// The table of every host, as the model compares it, read once.
    pub fn snapshot(&mut self, owners: &dyn Owners) -> Result<Snapshot, HarnessError> {
        let rows = self
            .observe(owners, false)?
            .iter()
            .map(|r| r.with_info(owners))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Snapshot::new(rows))
    }

    /// The table, read until it stops changing and nothing is in flight, within
    /// [`SETTLE_BUDGET`] (see the module docs).
    pub fn settled_snapshot(&mut self, owners: &dyn Owners) -> Result<Settled, HarnessError> {
        self.settled_snapshot_within(owners, SETTLE_BUDGET)
    }

    /// [`Observer::settled_snapshot`] after a call that sent no segment (see
    /// [`sends_nothing`](super::sends_nothing)), on a table that was settled before it: one
    /// dump, unless it shows something in flight.
    pub fn settled_snapshot_after_quiet_call(
        &mut self,
        owners: &dyn Owners,
    ) -> Result<Settled, HarnessError> {
        self.settle(owners, SETTLE_BUDGET, true)
    }

    /// [`Observer::settled_snapshot`] with another budget.
    pub fn settled_snapshot_within(
        &mut self,
        owners: &dyn Owners,
        budget: Duration,
    ) -> Result<Settled, HarnessError> {
        self.settle(owners, budget, false)
    }

    fn settle(
        &mut self,
        owners: &dyn Owners,
        budget: Duration,
        quiet: bool,
    ) -> Result<Settled, HarnessError> {
        let start = Instant::now();
        let mut pause = Duration::from_micros(50);
        let mut previous: Option<Snapshot> = None;
        let mut dumps = 0;
        // Read again only when a table changed: a socket that changes state in between shows
        // as a change (see `Owners::dump_states`).
        loop {
            // The first dump is only the reference the next is compared with, and the
            // comparison leaves bound, inactive rows out (see `same_active_rows`): it need not
            // walk the bind hash.
            let raw = self.observe(owners, previous.is_none() && !quiet)?;
            dumps += 1;
            let flight = in_flight(&raw, owners);
            let snapshot = Snapshot::new(
                raw.iter()
                    .map(|r| r.with_info(owners))
                    .collect::<Result<Vec<_>, _>>()?,
            );
            let stable = (quiet && dumps == 1)
                || previous
                    .as_ref()
                    .is_some_and(|p| same_active_rows(p, &snapshot));
            // At least two dumps (one after a quiet call), so that the table returned is a
            // whole one.
            let out_of_time = (previous.is_some() || quiet) && start.elapsed() + pause > budget;
            // The receive backlogs matter only to a table that has settled otherwise (or is
            // out of time): only then are they read. After a quiet call they hold nothing of
            // the case's: the table settled before it with the backlogs read empty, and the
            // call sent nothing.
            let after_quiet_call = quiet && dumps == 1;
            let busy = if ((stable && flight == 0) || out_of_time) && !after_quiet_call {
                flight
                    + stopwatch::time("observe: receive backlogs", || {
                        softnet_backlog() + ksoftirqd_running()
                    })
            } else {
                flight
            };
            if (stable && busy == 0) || out_of_time {
                return Ok(Settled {
                    snapshot,
                    settled: stable && busy == 0,
                    in_flight: busy,
                    dumps,
                    elapsed: start.elapsed(),
                });
            }
            if busy > 0 || previous.is_some() {
                stopwatch::time("observe: settling pauses", || std::thread::sleep(pause));
                pause = (pause * 2).min(Duration::from_millis(2));
            }
            previous = Some(snapshot);
        }
    }

    /// `SOCK_DESTROY` of every row of `host` whose cookie is `cookie` and that the kernel can
    /// look up (a full socket, a request socket or a minisocket). `Ok(Err(ENOENT))` when there
    /// is none: that is the kernel's answer, data like any other.
    pub fn destroy(&mut self, host: Host, cookie: u64) -> Result<Result<(), Errno>, HarnessError> {
        let d = self.socket(host)?;
        // A bound, inactive socket is in no lookup table: SOCK_DESTROY cannot find it and
        // answers ENOENT, as for no row at all; the bind hash need not be walked.
        let rows: Vec<DiagRow> = d
            .rows_in(ALL_STATES & !(1 << TCP_BOUND_INACTIVE))?
            .into_iter()
            .filter(|r| r.cookie == cookie)
            .collect();
        let mut result = Err(Errno::ENOENT);
        for row in &rows {
            match d.destroy_row(row)? {
                Ok(()) => result = Ok(()),
                Err(e) if result.is_err() => result = Err(e),
                Err(_) => {}
            }
        }
        Ok(result)
    }

    /// `SOCK_DESTROY` of one dumped row of `host`.
    pub fn destroy_row_on(
        &mut self,
        host: Host,
        row: &DiagRow,
    ) -> Result<Result<(), Errno>, HarnessError> {
        self.socket(host)?.destroy_row(row)
    }

    /// Destroys every full socket that no descriptor holds any more and that could outlive
    /// the case (orphans retransmitting to a vanished peer keep their namespace alive).
    /// TIME-WAIT minisockets and request sockets die with the namespace and are left alone.
    pub fn destroy_orphans(&mut self) -> Result<usize, HarnessError> {
        let mut n = 0;
        // An orphan is never a listener nor bound and inactive (both hold a descriptor).
        let states = ALL_STATES & !(1 << TCP_LISTEN) & !(1 << TCP_BOUND_INACTIVE);
        for d in &mut self.hosts {
            let rows = d.rows_in(states)?;
            for row in rows
                .iter()
                .filter(|r| r.inode == 0 && !r.is_minisocket() && !r.is_request())
            {
                if d.destroy_row(row)?.is_ok() {
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}
