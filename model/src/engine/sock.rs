//! The kernel objects the model keeps: sockets (`struct sock`), TIME-WAIT minisockets
//! (`struct inet_timewait_sock`), descriptors (`struct socket`) and bind buckets
//! (`struct inet_bind_bucket`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::addr::{Family, wire_ip};
use crate::errno::Errno;
use crate::op::{Host, SockId};
use crate::state::TcpState;
use crate::time::Millis;

/// A kernel socket's identity inside the model (never shown to users).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SkId(pub(crate) u32);

/// `struct socket`'s `state`: the socket layer's own idea of the connection, which decides
/// `connect()`'s EISCONN / EALREADY answers independently of the TCP state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum SockState {
    /// `SS_UNCONNECTED`.
    Unconnected,
    /// `SS_CONNECTING`.
    Connecting,
    /// `SS_CONNECTED`.
    Connected,
    /// `SS_DISCONNECTING`.
    Disconnecting,
}

/// A descriptor of the scenario.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Fd {
    /// Open, on this socket.
    Open {
        /// The socket.
        sk: SkId,
        /// `sock->state`.
        ss: SockState,
        /// `O_NONBLOCK`.
        nonblocking: bool,
    },
    /// Closed by `close()`.
    Closed,
}

/// What kind of kernel object an [`Sk`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    /// A full socket.
    Full,
    /// A TIME-WAIT minisocket; its `state` is its substate (`TimeWait` or `FinWait2`).
    Minisock,
}

/// `sk_shutdown` bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Shutdown {
    /// `RCV_SHUTDOWN`.
    pub(crate) rcv: bool,
    /// `SEND_SHUTDOWN`.
    pub(crate) send: bool,
}

/// Socket options that the rules read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Opts {
    /// `sk_reuse`.
    pub(crate) reuseaddr: bool,
    /// `sk_reuseport`.
    pub(crate) reuseport: bool,
    /// `sk_ipv6only`.
    pub(crate) v6only: bool,
    /// `SO_LINGER`: `Some(seconds)` when on.
    pub(crate) linger: Option<u32>,
    /// `SO_KEEPALIVE`.
    pub(crate) keepalive: bool,
    /// `IP_BIND_ADDRESS_NO_PORT`.
    pub(crate) bind_address_no_port: bool,
    /// `TCP_KEEPIDLE` (s), 0 = the sysctl.
    pub(crate) keepidle: u32,
    /// `TCP_KEEPINTVL` (s), 0 = the sysctl.
    pub(crate) keepintvl: u32,
    /// `TCP_KEEPCNT`, 0 = the sysctl.
    pub(crate) keepcnt: u32,
    /// `TCP_USER_TIMEOUT` (ms), 0 = off.
    pub(crate) user_timeout: u32,
    /// `TCP_LINGER2` (s): 0 = the sysctl, negative = abort orphans at once.
    pub(crate) linger2: i32,
    /// FreeBSD `SO_REUSEPORT_LB`.
    pub(crate) reuseport_lb: bool,
    /// Windows `SO_EXCLUSIVEADDRUSE`.
    pub(crate) exclusiveaddruse: bool,
}

/// A kernel socket or minisocket.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Sk {
    /// Full socket or minisocket.
    pub(crate) kind: Kind,
    /// The namespace.
    pub(crate) host: Host,
    /// `sk_family`.
    pub(crate) family: Family,
    /// The scenario name whose cookie the object carries (a minisocket and an orphan keep it;
    /// a connection not yet accepted has none).
    pub(crate) owner: Option<SockId>,
    /// `sk_state` (for a minisocket, its substate).
    pub(crate) state: TcpState,
    /// The local address as the socket holds it (`sk_rcv_saddr` / `sk_v6_rcv_saddr`); the
    /// family's wildcard when unbound.
    pub(crate) local_ip: IpAddr,
    /// `inet_saddr`: the IPv4 source `tcp_v4_connect()` sends from (0: it picks the route's).
    /// bind() sets it with the address; an IPv4 (or v4-mapped) connect() that picks a source
    /// sets it; an IPv6 connect() that picks a source sets only `sk_v6_rcv_saddr`, so a later
    /// v4-mapped connect() still picks its own (`inet_update_saddr()`).
    pub(crate) saddr_v4: Ipv4Addr,
    /// `inet_num`: the local port, 0 when none.
    pub(crate) port: u16,
    /// `inet_sport` where it outlives `inet_num`: the last port released (what getsockname()
    /// still reports).
    pub(crate) sport: u16,
    /// Whether the socket is on its port's bind bucket's owner list.
    pub(crate) bound: bool,
    /// `SOCK_BINDADDR_LOCK`: the address was bound explicitly.
    pub(crate) addr_lock: bool,
    /// `SOCK_BINDPORT_LOCK`: a non-zero port was bound explicitly.
    pub(crate) port_lock: bool,
    /// `SOCK_CONNECT_BIND`: the port came from connect()'s autobind.
    pub(crate) connect_bind: bool,
    /// The peer (`inet_daddr`, `inet_dport`), once connecting.
    pub(crate) peer: Option<SocketAddr>,
    /// The options.
    pub(crate) opts: Opts,
    /// The owner uid (`sk_uid`: the fsuid at `socket()`, copied to accepted children).
    pub(crate) uid: u32,
    /// Bytes received and not read.
    pub(crate) rx: u32,
    /// A FIN is in the receive queue and not yet consumed by `recv()`.
    pub(crate) rx_fin: bool,
    /// `SOCK_DONE`: the peer's FIN was received.
    pub(crate) done: bool,
    /// `sk_err`: the pending error.
    pub(crate) err: Option<Errno>,
    /// `sk_shutdown`.
    pub(crate) shutdown: Shutdown,
    /// Our FIN was sent.
    pub(crate) fin_sent: bool,
    /// The peer acknowledged our FIN.
    pub(crate) fin_acked: bool,
    /// `SOCK_DEAD`: no descriptor holds the socket any more.
    pub(crate) orphan: bool,
    /// For a connection not yet accepted: the listener whose queue holds it.
    pub(crate) listener: Option<SkId>,
    /// For a listener: its accept queue, oldest first.
    pub(crate) accept_queue: Vec<SkId>,
    /// For a listener: its backlog.
    pub(crate) backlog: u32,
    /// TCP timestamps were negotiated on the connection (both ends had `tcp_timestamps`).
    pub(crate) timestamps: bool,
    /// An AF_INET6 socket switched to the IPv4 transmit path (`icsk_af_ops = ipv6_mapped`) by a
    /// connect to a v4-mapped address; nothing switches it back once that connect got past
    /// `tcp_v4_connect()`.
    pub(crate) mapped_ops: bool,
    /// When the object entered its current TIME-WAIT / FIN-WAIT-2 phase (minisockets).
    pub(crate) since: Millis,
    /// The running timer, if any.
    pub(crate) timer: Option<super::timers::Deadline>,
    /// For a minisocket: the `tw_entry_stamp` that `tcp_tw_reuse_delay` is measured from, and
    /// how uncertain it is (the span of the call that set it).
    pub(crate) tw_entry: Millis,
    /// The uncertainty of `tw_entry`.
    pub(crate) tw_entry_span: Millis,
    /// `write_seq` is set: a connect() sent a SYN, or `tcp_disconnect()` ran (it leaves
    /// `write_seq + max_window + 2`, never 0); a later connect() keeps it
    /// (`tcp_v4_connect()` draws a fresh ISN only when it is 0).
    pub(crate) write_seq_set: bool,
    /// A connect() on this socket sent a SYN (whatever became of it since).
    pub(crate) sent_syn: bool,
    /// listen() succeeded on this socket (whatever became of the listener since).
    pub(crate) listened: bool,
    /// The SYNs of the current connect() carry an ISN kept from an earlier one, not drawn
    /// afresh from the clock ([`Segment::isn_kept`](super::wire::Segment)).
    pub(crate) isn_kept: bool,
    /// For a connection a listener made: the peer's SYN carried a kept ISN, so the sequence
    /// numbers this side (and its TIME-WAIT) expects are not tied to the clock.
    pub(crate) peer_isn_kept: bool,
    /// When a segment last arrived (keepalive idleness counts from it).
    pub(crate) last_rx: Millis,
    /// When the oldest unacknowledged data was sent (TCP_USER_TIMEOUT counts from it).
    pub(crate) unacked_since: Option<Millis>,
    /// The uncertainty of `unacked_since`.
    pub(crate) unacked_span: Millis,
    /// Bytes `send()` queued that never left (held against a silent peer).
    pub(crate) held: u32,
    /// The FIN is queued and never left (held in loss recovery).
    pub(crate) fin_held: bool,
    /// The tail loss probe went out (it is sent once per episode).
    pub(crate) tlp_done: bool,
    /// When the keepalive timer next checks the idle time.
    pub(crate) ka_check_at: Millis,
    /// When TCP_USER_TIMEOUT was last set: a timeout already spent then is noticed only at the
    /// retransmission timer's next run (it was armed before, unclamped).
    pub(crate) user_timeout_set_at: Millis,
    /// The uncertainty of the keepalive times.
    pub(crate) ka_span: Millis,
    /// When the first SYN left, and how uncertain that is.
    pub(crate) syn_sent_at: Millis,
    /// The uncertainty of `syn_sent_at`.
    pub(crate) syn_sent_span: Millis,
    /// SYN retransmissions so far.
    pub(crate) syn_retransmits: u32,
    /// An early SYN retransmission, after a stray ACK was answered with RST
    /// (`tcp_rcv_synsent_state_process()`: TCP_TIMEOUT_MIN when nothing was resent yet).
    pub(crate) syn_early: Option<Millis>,
}

impl Sk {
    /// A fresh full socket in CLOSED.
    pub(crate) fn new(host: Host, family: Family, owner: SockId, uid: u32, v6only: bool) -> Self {
        Self {
            kind: Kind::Full,
            host,
            family,
            owner: Some(owner),
            state: TcpState::Closed,
            local_ip: family.any(),
            saddr_v4: Ipv4Addr::UNSPECIFIED,
            port: 0,
            sport: 0,
            bound: false,
            addr_lock: false,
            port_lock: false,
            connect_bind: false,
            peer: None,
            opts: Opts {
                reuseaddr: false,
                reuseport: false,
                v6only: family == Family::Inet6 && v6only,
                linger: None,
                keepalive: false,
                bind_address_no_port: false,
                keepidle: 0,
                keepintvl: 0,
                keepcnt: 0,
                user_timeout: 0,
                linger2: 0,
                reuseport_lb: false,
                exclusiveaddruse: false,
            },
            uid,
            rx: 0,
            rx_fin: false,
            done: false,
            err: None,
            shutdown: Shutdown::default(),
            fin_sent: false,
            fin_acked: false,
            orphan: false,
            listener: None,
            accept_queue: Vec::new(),
            backlog: 0,
            timestamps: false,
            mapped_ops: false,
            since: 0,
            timer: None,
            tw_entry: 0,
            tw_entry_span: 0,
            write_seq_set: false,
            sent_syn: false,
            listened: false,
            isn_kept: false,
            peer_isn_kept: false,
            last_rx: 0,
            unacked_since: None,
            unacked_span: 0,
            held: 0,
            fin_held: false,
            tlp_done: false,
            ka_check_at: 0,
            user_timeout_set_at: 0,
            ka_span: 0,
            syn_sent_at: 0,
            syn_sent_span: 0,
            syn_retransmits: 0,
            syn_early: None,
        }
    }

    /// Whether this is a TIME-WAIT minisocket (of either substate).
    pub(crate) fn is_minisock(&self) -> bool {
        self.kind == Kind::Minisock
    }

    /// `sk_rcv_saddr`: the IPv4 view of the bound address that the IPv4 rules compare. For an
    /// AF_INET6 socket: 0 for `::`, the embedded address for v4-mapped, and `LOOPBACK4_IPV6`
    /// (127.0.0.6) for a native IPv6 address (`__inet6_bind()`).
    pub(crate) fn rcv_saddr_v4(&self) -> Ipv4Addr {
        match self.local_ip {
            IpAddr::V4(a) => a,
            IpAddr::V6(a) if a.is_unspecified() => Ipv4Addr::UNSPECIFIED,
            IpAddr::V6(a) => a.to_ipv4_mapped().unwrap_or(Ipv4Addr::new(127, 0, 0, 6)),
        }
    }

    /// `sk_v6_rcv_saddr` for an AF_INET6 socket; `None` for AF_INET (`inet6_rcv_saddr()`).
    pub(crate) fn rcv_saddr_v6(&self) -> Option<Ipv6Addr> {
        match (self.family, self.local_ip) {
            (Family::Inet6, IpAddr::V6(a)) => Some(a),
            (Family::Inet6, IpAddr::V4(a)) => Some(a.to_ipv6_mapped()),
            (Family::Inet, _) => None,
        }
    }

    /// Whether everything this socket sends is lost: a full AF_INET6 socket still on the IPv4
    /// transmit path (`mapped_ops`) talking to a native IPv6 peer (`ip_queue_xmit()`).
    pub(crate) fn sends_lost(&self) -> bool {
        self.family == Family::Inet6
            && self.mapped_ops
            && self.peer.is_some_and(|p| !super::is_mapped(p.ip()))
    }

    /// Whether the bound address is the family's wildcard.
    pub(crate) fn local_is_any(&self) -> bool {
        self.local_ip.is_unspecified()
    }

    /// The local address and port.
    pub(crate) fn local(&self) -> SocketAddr {
        SocketAddr::new(self.local_ip, self.port)
    }

    /// Whether the connection's local and peer addresses, as IPv4/IPv6 wire addresses, are
    /// `(local, peer)`.
    pub(crate) fn matches_wire(&self, local: SocketAddr, peer: SocketAddr) -> bool {
        let Some(p) = self.peer else { return false };
        self.port == local.port()
            && p.port() == peer.port()
            && wire_ip(self.local_ip) == wire_ip(local.ip())
            && wire_ip(p.ip()) == wire_ip(peer.ip())
    }

    /// The effective TCP_LINGER2/`tcp_fin_timeout` in seconds (`tcp_fin_time()` without the
    /// RTO floor, which is far below a second on loopback).
    pub(crate) fn fin_time_s(&self, sysctl_fin_timeout: u32) -> u32 {
        if self.opts.linger2 > 0 {
            self.opts.linger2 as u32
        } else {
            sysctl_fin_timeout
        }
    }
}

/// `inet_bind_bucket`'s fast-path caches for one port of one namespace.
///
/// The caches are only ever updated when a socket binds (or re-checks at `listen()`), never when
/// an owner changes its options, so they can be stale: the model keeps them because the kernel
/// decides with them (`inet_csk_get_port()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Bucket {
    /// `tb->fastreuse`: 1 every owner had SO_REUSEADDR and was not listening when it bound;
    /// 0 otherwise; -1 the bucket was made by connect() and no bind() has joined it.
    pub(crate) fastreuse: i8,
    /// `tb->fastreuseport`: 0 no, 1 `FASTREUSEPORT_ANY`, 2 `FASTREUSEPORT_STRICT`, -1 as above.
    pub(crate) fastreuseport: i8,
    /// `tb->fastuid`.
    pub(crate) fastuid: u32,
    /// `tb->fast_sk_family`, `fast_rcv_saddr` / `fast_v6_rcv_saddr`, `fast_ipv6_only`.
    pub(crate) fast_family: Family,
    /// The cached address.
    pub(crate) fast_ip: IpAddr,
    /// The cached IPV6_V6ONLY.
    pub(crate) fast_v6only: bool,
}

/// `FASTREUSEPORT_ANY`.
pub(crate) const FASTREUSEPORT_ANY: i8 = 1;
/// `FASTREUSEPORT_STRICT`.
pub(crate) const FASTREUSEPORT_STRICT: i8 = 2;
