//! Rule ids: every decision of the model names the rule that made it.
//!
//! A rule id is stable text (`bind.timewait.needs_reuseaddr_on_both`) so that a divergence
//! report, a coverage count or a behaviour diff can name it. Each rule's description names the
//! kernel function it mirrors.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! rules {
    ($($variant:ident = $id:literal : $what:literal,)*) => {
        /// A rule of the model. Serialized as its dotted id (`socket.created`), as reports
        /// print it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(into = "&'static str", try_from = "String")]
        pub enum RuleId {
            $(#[doc = $what] $variant,)*
        }

        impl RuleId {
            /// Every rule, in declaration order.
            pub const ALL: &'static [RuleId] = &[$(RuleId::$variant,)*];

            /// The stable dotted id.
            pub fn id(self) -> &'static str {
                match self { $(RuleId::$variant => $id,)* }
            }

            /// What the rule says, and the kernel code it mirrors.
            pub fn describe(self) -> &'static str {
                match self { $(RuleId::$variant => $what,)* }
            }

            /// Finds a rule by its dotted id.
            pub fn from_id(id: &str) -> Option<Self> {
                match id { $($id => Some(RuleId::$variant),)* _ => None }
            }
        }
    };
}

impl From<RuleId> for &'static str {
    fn from(r: RuleId) -> Self {
        r.id()
    }
}

impl TryFrom<String> for RuleId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::from_id(&s).ok_or_else(|| format!("unknown rule id `{s}`"))
    }
}

rules! {
    // --- descriptors -------------------------------------------------------------------------
    FdClosed = "fd.closed":
        "A call on a descriptor that was closed fails with EBADF (fdget() finds nothing).",
    SocketCreated = "socket.created":
        "socket() creates a CLOSED socket owned by the caller's fsuid (sock_init_data()).",

    // --- setsockopt / getsockopt ---------------------------------------------------------------
    SetsockoptOk = "setsockopt.ok":
        "The option is stored on the socket (sk_setsockopt(), do_tcp_setsockopt()).",
    SetsockoptV6OnlyBound = "setsockopt.v6only_after_bind":
        "IPV6_V6ONLY on a socket that has a port fails with EINVAL (do_ipv6_setsockopt()).",
    SetsockoptWrongLevel = "setsockopt.wrong_level":
        "An IPPROTO_IPV6 option on an AF_INET socket fails with ENOPROTOOPT (do_ip_setsockopt()).",
    SetsockoptBadValue = "setsockopt.bad_value":
        "An out-of-range TCP_KEEP*/TCP_USER_TIMEOUT value fails with EINVAL (do_tcp_setsockopt()).",
    SoErrorRead = "getsockopt.so_error":
        "getsockopt(SO_ERROR) returns the pending error and clears it (sock_error()).",

    // --- bind ----------------------------------------------------------------------------------
    BindFamilyMismatch = "bind.family_mismatch":
        "An address of the other family: EAFNOSUPPORT on AF_INET, EINVAL (short address) on \
         AF_INET6 (__inet_bind(), inet6_bind_sk()).",
    BindAddrNotLocal = "bind.addr_not_local":
        "An address the host does not have fails with EADDRNOTAVAIL (inet_addr_valid_or_nonlocal(), \
         ipv6_chk_addr()).",
    BindPrivilegedPort = "bind.privileged_port":
        "A port below ip_unprivileged_port_start without CAP_NET_BIND_SERVICE fails with EACCES \
         (inet_port_requires_bind_service(), ns_capable()): the check comes before the \
         already-bound one; the harness binds a socket created with euid=N, or accepted from \
         one, as uid N.",
    BindAlreadyBound = "bind.already_bound":
        "bind() on a socket that has a port or is not CLOSED fails with EINVAL (__inet_bind()).",
    BindMappedOnV6Only = "bind.v6only_mapped":
        "A v4-mapped address on an IPV6_V6ONLY socket fails with EINVAL (__inet6_bind()).",
    BindPortFree = "bind.port_free":
        "No owner of the port has an overlapping address: bind succeeds (inet_csk_bind_conflict()).",
    BindConflict = "bind.conflict":
        "An owner with an overlapping address and no reuse option in common: EADDRINUSE \
         (inet_bind_conflict(), inet_rcv_saddr_equal()).",
    BindReuseAddrBoth = "bind.reuseaddr.both":
        "SO_REUSEADDR on the new socket and on every overlapping owner, none listening: bind \
         succeeds (inet_bind_conflict()).",
    BindReuseAddrOverListener = "bind.reuseaddr.never_over_listen":
        "SO_REUSEADDR never shares a port with a LISTEN owner: EADDRINUSE (inet_bind_conflict()).",
    BindTimeWaitNeedsReuseAddrOnBoth = "bind.timewait.needs_reuseaddr_on_both":
        "A TIME-WAIT (or FIN-WAIT-2) minisocket holds the port with the reuse flags of the socket it \
         came from: EADDRINUSE unless both had SO_REUSEADDR (or both SO_REUSEPORT) \
         (inet_twsk_alloc(), inet_bind_conflict()).",
    BindReusePortSameUid = "bind.reuseport.same_uid":
        "SO_REUSEPORT on both sockets, same owner uid (or the owner is a minisocket): bind \
         succeeds (inet_bind_conflict()).",
    BindReusePortOtherUid = "bind.reuseport.other_uid":
        "SO_REUSEPORT on both sockets but different owner uids: EADDRINUSE (inet_bind_conflict()).",
    BindFastReuseCache = "bind.fastreuse_cache":
        "The bind bucket's cached fastreuse/fastreuseport says every owner can share: the owners \
         are not checked at all, even if their options changed since (inet_csk_get_port(), \
         sk_reuseport_match()).",
    BindEphemeral = "bind.ephemeral":
        "bind(:0) takes a port no overlapping owner holds, odd offsets first, SO_REUSEADDR sockets \
         in the lower half first (inet_csk_find_open_port()).",
    BindEphemeralExhausted = "bind.ephemeral.exhausted":
        "bind(:0) finds no free port in ip_local_port_range: EADDRINUSE \
         (inet_csk_find_open_port()).",
    BindEphemeralAutobindReuse = "bind.ephemeral.autobind_reuse":
        "With ip_autobind_reuse=1 and the range exhausted, bind(:0) shares a port with SO_REUSEADDR \
         owners (inet_csk_find_open_port(), relax pass).",
    BindAddressNoPort = "bind.address_no_port":
        "IP_BIND_ADDRESS_NO_PORT with port 0: the address is recorded, no port is taken until \
         connect() (__inet_bind()).",

    // --- listen --------------------------------------------------------------------------------
    ListenOk = "listen.ok":
        "listen() re-runs the bind-conflict check as a listener and starts listening \
         (inet_csk_listen_start()).",
    ListenConflict = "listen.conflict":
        "listen()'s re-check finds a conflicting owner (SO_REUSEADDR does not help a listener): \
         EADDRINUSE, and the socket stays bound (inet_csk_listen_start(), inet_csk_get_port()).",
    ListenAutobind = "listen.autobind":
        "listen() on a socket without a port picks one as bind(:0) would (inet_csk_get_port()).",
    ListenAgain = "listen.again":
        "listen() on a listener only changes the backlog (__inet_listen_sk()).",
    ListenBadState = "listen.bad_state":
        "listen() on a connecting or connected socket fails with EINVAL (__inet_listen_sk()).",
    ListenAfterConnect = "listen.after_connect":
        "Variant listen_after_connect=einval: listen() on a socket whose connect() sent a SYN \
         takes a port as listen() does (inet_csk_listen_start(): get_port(), an autobind when it \
         has none) and then fails with EINVAL; the socket stays CLOSED on that port.",

    // --- connect -------------------------------------------------------------------------------
    ConnectEstablished = "connect.established":
        "The SYN finds a listener: the handshake completes on loopback before connect() returns \
         (tcp_v4_connect(), tcp_conn_request()).",
    ConnectRefused = "connect.refused":
        "No listener: the SYN is answered with RST and connect() fails with ECONNREFUSED \
         (tcp_v4_send_reset(), tcp_reset()).",
    ConnectSelf = "connect.self":
        "A socket connecting to its own address and port completes a simultaneous open with \
         itself (tcp_rcv_synsent_state_process()).",
    ConnectInProgress = "connect.in_progress":
        "A non-blocking connect() returns EINPROGRESS (__inet_stream_connect()).",
    ConnectAlready = "connect.already":
        "connect() while the socket is SS_CONNECTING and the handshake is pending: EALREADY \
         (__inet_stream_connect()).",
    ConnectCompleted = "connect.completed":
        "connect() again after a non-blocking connect completed returns 0 once and marks the \
         socket connected (__inet_stream_connect()).",
    ConnectPendingError = "connect.pending_error":
        "connect() again after a non-blocking connect failed returns the pending error, or \
         ECONNABORTED if SO_ERROR already took it (__inet_stream_connect(), sock_error()).",
    ConnectIsConn = "connect.isconn":
        "connect() on a connected socket (even one reset since), or one not CLOSED, fails with \
         EISCONN (__inet_stream_connect()).",
    ConnectFamilyMismatch = "connect.family_mismatch":
        "A destination of the other family fails with EAFNOSUPPORT (AF_INET) or EINVAL (AF_INET6, \
         short address) (tcp_v4_connect(), tcp_v6_connect()).",
    ConnectMappedSource = "connect.mapped_source":
        "A socket bound to a v4-mapped address connecting to a native IPv6 address fails with \
         EAFNOSUPPORT (ip6_dst_lookup_tail()).",
    ConnectStaleMappedOps = "connect.stale_mapped_ops":
        "An AF_INET6 socket whose connect to a v4-mapped address failed after the SYN left keeps \
         the IPv4 transmit path, and so do the connections it later accepts as a listener; what \
         they send to a native IPv6 peer (a SYN, data, a FIN) is lost (tcp_v6_connect() restores \
         icsk_af_ops only on a synchronous error; tcp_v6_syn_recv_sock() inherits it).",
    ConnectMappedPathRestored = "connect.mapped_path_restored":
        "Variant mapped_connect_failure=restores_ipv6_path: an AF_INET6 socket whose v4-mapped \
         connect failed after the SYN left is back on the IPv6 transmit path once \
         tcp_disconnect() ran, and its native IPv6 SYN goes out as any other.",
    ConnectAfterListen = "connect.after_listen":
        "Variant connect_after_listen=einval: connect() on a socket that has listened fails with \
         EINVAL after its source address was chosen, on the late failure path of \
         tcp_v4_connect() / tcp_v6_connect(): back to CLOSE (a port not bound explicitly is \
         released), the source reset unless bound (inet_bhash2_reset_saddr()), the pending \
         error kept (tcp_connect_init() is not reached).",
    ConnectMappedOnV6Only = "connect.v6only_mapped":
        "An IPV6_V6ONLY socket connecting to a v4-mapped address fails with ENETUNREACH \
         (tcp_v6_connect()).",
    ConnectAutobind = "connect.autobind":
        "A socket without a port takes one from ip_local_port_range, even offsets first, skipping \
         ports any bind() owner holds; ports are shared between different destinations \
         (__inet_hash_connect()).",
    ConnectAutobindMovesOn = "connect.autobind.moves_on":
        "The autobind toward a destination (source address, destination address and port) \
         moves on from the port its last autobind took: __inet_hash_connect() advances \
         table_perturb[] for that destination by the ports it walked plus 2 to 16, so within the \
         10-second key of secure_ipv4_port_ephemeral() the next walk starts 2 to 16 ports past \
         it and meets it last. The old port stays allowed (a new key, or a walk of 16 ports or \
         fewer, can come back to it); without the kernel's choice the model takes the first \
         allowed port after it, so a new client of a server that keeps the old connection's \
         TIME-WAIT does not land on it.",
    ConnectAutobindExhausted = "connect.autobind.exhausted":
        "No port gives a unique 4-tuple: EADDRNOTAVAIL (__inet_hash_connect()).",
    ConnectTupleInUse = "connect.tuple_in_use":
        "A bound socket whose 4-tuple is held by another connection fails with EADDRNOTAVAIL \
         (__inet_check_established()).",
    ConnectTimeWaitTakeover = "connect.timewait_takeover":
        "A bound socket whose 4-tuple is held by a minisocket with timestamps takes it over \
         (tcp_twsk_unique(), no tcp_tw_reuse needed).",
    ConnectTwReuse = "connect.tw_reuse":
        "Autobind reuses a TIME-WAIT 4-tuple when tcp_tw_reuse allows it (1, or 2 on loopback), \
         timestamps were seen and it is older than tcp_tw_reuse_delay (tcp_twsk_unique()).",
    ConnectSource = "connect.source_address":
        "A socket without a bound address takes the route's source: 127.0.0.1 for 127/8, the \
         destination itself for other local addresses (ip_route_connect()).",
    ConnectLoopbackSource = "connect.loopback_source":
        "A socket bound to a 127/8 address connecting to another host fails with EINVAL: a \
         loopback source may not leave through a non-loopback device (__mkroute_output()).",
    ConnectSynToTimeWait = "connect.syn_to_timewait":
        "A SYN that meets a TIME-WAIT with no listener behind it is answered with an ACK; the \
         client answers that with RST and sends its SYN again after TCP_TIMEOUT_MIN (2 jiffies), \
         which a blocking connect() waits for: the TIME-WAIT reset (tcp_rfc1337=0), the SYN is \
         refused (ECONNREFUSED); still there, it answers again and connect() blocks \
         (tcp_timewait_state_process(), tcp_rcv_synsent_state_process()).",

    // --- accept --------------------------------------------------------------------------------
    AcceptOk = "accept.ok":
        "accept() takes the oldest connection from the queue (inet_csk_accept()).",
    AcceptEmpty = "accept.empty":
        "accept() with an empty queue: EAGAIN if non-blocking, blocks otherwise \
         (inet_csk_wait_for_connect()).",
    AcceptNotListening = "accept.not_listening":
        "accept() on a socket that is not listening fails with EINVAL (inet_csk_accept()).",

    // --- data ----------------------------------------------------------------------------------
    SendOk = "send.ok":
        "send() in ESTABLISHED or CLOSE-WAIT queues the bytes; on loopback they arrive at once \
         (tcp_sendmsg_locked()).",
    SendPipe = "send.epipe":
        "send() after SHUT_WR, after an abort, or on a socket never connected fails with EPIPE \
         (tcp_sendmsg_locked(), sk_stream_wait_connect()).",
    SendPendingError = "send.pending_error":
        "send() reports a pending socket error first, and clears it (sk_stream_wait_connect()).",
    SendWaitConnect = "send.wait_connect":
        "send() during the handshake: EAGAIN if non-blocking, blocks otherwise \
         (sk_stream_wait_connect()).",
    RecvData = "recv.data":
        "recv() returns queued bytes before anything else (tcp_recvmsg_locked()).",
    RecvEof = "recv.eof":
        "recv() returns 0 once the peer's FIN was received or the receive side is shut \
         (tcp_recvmsg_locked()).",
    RecvPendingError = "recv.pending_error":
        "recv() with nothing queued reports a pending error and clears it (tcp_recvmsg_locked()).",
    RecvNotConn = "recv.notconn":
        "recv() on a listener, or a CLOSED socket with nothing to read, fails with ENOTCONN \
         (tcp_recvmsg_locked()).",
    RecvWouldBlock = "recv.would_block":
        "recv() with nothing queued: EAGAIN if non-blocking, blocks otherwise \
         (tcp_recvmsg_locked()).",

    // --- shutdown ------------------------------------------------------------------------------
    ShutdownNotConn = "shutdown.notconn":
        "shutdown() on a CLOSED socket fails with ENOTCONN (the flags are still set) \
         (inet_shutdown()).",
    ShutdownWr = "shutdown.wr_sends_fin":
        "SHUT_WR sends FIN from ESTABLISHED, SYN-RECEIVED or CLOSE-WAIT (tcp_shutdown()).",
    ShutdownRd = "shutdown.rd":
        "SHUT_RD only marks the receive side: nothing is sent (inet_shutdown()).",
    ShutdownListener = "shutdown.listener":
        "SHUT_RD on a listener stops it (its queue is reset); SHUT_WR alone does nothing \
         (inet_shutdown()).",
    ShutdownSynSent = "shutdown.syn_sent":
        "shutdown() during SYN-SENT disconnects the socket (inet_shutdown(), tcp_disconnect()).",

    // --- close ---------------------------------------------------------------------------------
    CloseUnbound = "close.unconnected":
        "close() of a CLOSED or SYN-SENT socket frees it and its port at once, silently \
         (__tcp_close()).",
    CloseListener = "close.listener":
        "close() of a listener resets every connection still in its queue \
         (inet_csk_listen_stop()).",
    CloseUnreadData = "close.unread_data_rst":
        "close() with unread received bytes aborts with RST: no FIN, no TIME-WAIT \
         (__tcp_close(), TCPAbortOnClose).",
    CloseLingerZero = "close.linger_zero_rst":
        "close() with SO_LINGER {on, 0} aborts with RST (from a synchronized state): no TIME-WAIT \
         (__tcp_close(), tcp_disconnect()).",
    CloseActive = "close.active_fin":
        "close() of an ESTABLISHED (or SYN-RECEIVED) socket sends FIN; the socket lives on as an \
         orphan (tcp_close_state()).",
    ClosePassive = "close.passive_fin":
        "close() in CLOSE-WAIT sends FIN and enters LAST-ACK (tcp_close_state()).",
    CloseOrphanFinWait2 = "close.orphan_fin_wait2":
        "An orphan reaching FIN-WAIT-2 becomes a FIN-WAIT-2 minisocket timed by TCP_LINGER2 or \
         tcp_fin_timeout (__tcp_close(), tcp_time_wait()).",
    CloseLinger2Negative = "close.linger2_negative":
        "An orphan reaching FIN-WAIT-2 with TCP_LINGER2 < 0 is aborted with RST at once \
         (__tcp_close(), tcp_rcv_state_process()).",
    CloseKeepsState = "close.keeps_state":
        "close() after SHUT_WR (FIN already sent) only orphans the socket (__tcp_close()).",

    // --- segments on the wire ------------------------------------------------------------------
    TcpFinReceived = "tcp.fin_received":
        "A FIN in ESTABLISHED moves to CLOSE-WAIT; the receive side sees EOF after the data \
         (tcp_fin()).",
    TcpActiveCloserTimeWait = "tcp.active_closer_time_wait":
        "The side whose FIN was acknowledged and which then receives the peer's FIN enters \
         TIME-WAIT (60 s); a descriptor still open is left CLOSED (tcp_fin(), tcp_time_wait()).",
    TcpSimultaneousClose = "tcp.simultaneous_close":
        "A FIN crossing ours moves FIN-WAIT-1 to CLOSING, then TIME-WAIT (tcp_fin()).",
    TcpPassiveCloserNoTimeWait = "tcp.passive_closer_no_time_wait":
        "The passive closer's LAST-ACK ends in CLOSED when its FIN is acknowledged: no TIME-WAIT \
         (tcp_rcv_state_process()).",
    TcpRstReceived = "tcp.rst_received":
        "An RST closes the connection with ECONNRESET (EPIPE in CLOSE-WAIT, ECONNREFUSED in \
         SYN-SENT) (tcp_reset()).",
    TcpHeldUnacked = "tcp.held_unacked":
        "Against a silent peer, data sent while earlier data is unacknowledged stays queued \
         (Nagle: a small segment waits while a small one is unacknowledged); the tail loss \
         probe one RTO (204 ms) after the first send pushes out what is queued then; a FIN \
         goes out with everything queued until the first retransmission timeout (two RTOs), \
         after which loss recovery's one-segment window holds data and FIN for good. send() \
         still succeeds; the peer never sees what is held (tcp_nagle_check(), \
         tcp_send_loss_probe(), tcp_enter_loss(), tcp_cwnd_test()).",
    TcpV6LoopbackReplyLost = "tcp.v6_loopback_reply_lost":
        "A segment the IPv6 stack answers itself (an RST for no socket or for data after close, \
         an RST from SYN-SENT, a TIME-WAIT's or FIN-WAIT-2 minisocket's ACK or RST) to ::1 from \
         an address of a veth is lost: the reply's route to a loopback destination must leave \
         by the interface the segment came in on (tcp_v6_send_response(): rt6_need_strict(), \
         tcp_v6_iif()), and that is the address's veth, not lo.",
    TcpDataAfterClose = "tcp.data_after_close":
        "New data for a socket whose receive side is closed (an orphan, or SHUT_RD in FIN-WAIT) \
         is answered with RST and the socket dies (tcp_rcv_state_process(), TCPAbortOnData).",
    ConnectWokenBeforeClose = "connect.woken_before_close":
        "Before 6.5, a blocking connect() whose connection is established and closed at once \
         (a FIN sent or met during the handshake) may return 0 or ECONNABORTED: softirqs raised \
         while ksoftirqd runs are left to it (invoke_softirq(), reverted by d15121be7485 in \
         v6.5), so the waiting connect() can be woken at ESTABLISHED, before the close is \
         processed (inet_wait_for_connect()).",
    TcpShutdownInherited = "tcp.shutdown_inherited":
        "A connection accepted by a listener whose send side was shut (shutdown() on the listener, \
         even one that failed with ENOTCONN) sends FIN as soon as it is established \
         (sk_clone_lock(), tcp_rcv_state_process()).",
    TcpNoSocket = "tcp.no_socket":
        "A segment for no socket is answered with RST (tcp_v4_send_reset()).",
    TcpListenerPrefersInet = "tcp.listener_prefers_inet":
        "An IPv4 segment for a port where an AF_INET and a dual-stack AF_INET6 listener both \
         listen (SO_REUSEPORT) on the same address goes to the AF_INET one: compute_score() \
         gives PF_INET a point more, and __inet_hash() puts an AF_INET6 SO_REUSEPORT listener \
         at the tail of the listening bucket, so inet_lhash2_lookup() meets (and returns from) \
         the AF_INET group first, whatever the order the two were created in.",
    TcpListenOverflow = "tcp.listen_overflow":
        "A SYN for a listener whose accept queue already holds more connections than its \
         backlog (listen()'s, clamped to net.core.somaxconn: backlog + 1 fit) is dropped \
         (tcp_conn_request(): sk_acceptq_is_full(), ListenOverflows): the client stays in \
         SYN-SENT and retransmits its SYN, which gets through once accept() made room, or \
         ends in ETIMEDOUT. tcp_abort_on_overflow does not change this: it acts only when the \
         third ACK finds the queue full (tcp_check_req()), which a SYN dropped here never \
         reaches.",
    TcpChallengeAck = "tcp.challenge_ack":
        "A SYN for a synchronized connection (a new client on the 4-tuple of a connection whose \
         other end is gone) gets a challenge ACK; the SYN-SENT client answers it with RST, which \
         ends the old connection, and resends its SYN 2 jiffies later (tcp_validate_incoming(), \
         tcp_send_challenge_ack(), tcp_rcv_synsent_state_process()).",
    TimeWaitOverflow = "timewait.overflow":
        "With tcp_max_tw_buckets minisockets already present, a closing socket gets none: it is \
         freed at once and its port released (inet_twsk_alloc(), tcp_time_wait()).",
    TimeWaitSynReopens = "timewait.syn_reopens":
        "A new SYN to a TIME-WAIT 4-tuple with a listener behind it ends the TIME-WAIT and opens a \
         new connection (tcp_timewait_state_process(), TCP_TW_SYN).",
    TimeWaitSynKeptIsn = "timewait.syn_kept_isn":
        "A socket that went through tcp_disconnect() (a failed connect(), a shutdown() of a \
         listener or of SYN-SENT) keeps a nonzero write_seq, and tcp_v4_connect() draws a fresh \
         ISN only when it is 0: when the new SYN's ISN or the old connection's was kept that \
         way, the SYN may not be after the TIME-WAIT's rcv_nxt, and unless its timestamp is \
         surely newer the TIME-WAIT may answer with an ACK instead of reopening \
         (tcp_timewait_state_process()); both are allowed.",
    TimeWaitRstKills = "timewait.rst_kills":
        "An in-window RST ends TIME-WAIT unless tcp_rfc1337=1 (tcp_timewait_state_process()).",
    TimeWaitRstIgnored = "timewait.rst_ignored_rfc1337":
        "With tcp_rfc1337=1 an RST does not end TIME-WAIT (tcp_timewait_state_process()).",
    FinWait2MinisockData = "timewait.fin_wait2_data_rst":
        "Data for a FIN-WAIT-2 minisocket is answered with RST and the minisocket is removed \
         (tcp_timewait_state_process()).",
    FinWait2MinisockFin = "timewait.fin_wait2_fin":
        "A FIN for a FIN-WAIT-2 minisocket turns it into TIME-WAIT for 60 s \
         (tcp_timewait_state_process()).",

    // --- fixture ops and time -----------------------------------------------------------
    DestroyOk = "destroy.ok":
        "SOCK_DESTROY aborts a socket (RST from a synchronized state, ECONNABORTED for its owner) \
         or removes a minisocket at once (tcp_abort(), inet_twsk_deschedule_put()).",
    DestroyReuseportLookup = "destroy.reuseport_lookup":
        "SOCK_DESTROY finds a listener by its address (inet_diag_find_one_icsk()); in a \
         SO_REUSEPORT group of two or more the lookup picks a member by a hash salted per \
         namespace (inet_lookup_reuseport(), inet_ehashfn()), and when it picks another the \
         cookie does not match: ENOENT. Both are allowed.",
    DestroyNoRow = "destroy.no_row":
        "SOCK_DESTROY of a socket that has no row fails with ENOENT (inet_diag_find_one_icsk()).",
    SleepNothingDue = "time.nothing_due":
        "Time passes and no timer falls due.",
    TimeWaitExpires = "timer.time_wait_expires":
        "TIME-WAIT ends 60 s after it began (TCP_TIMEWAIT_LEN), silently (inet_twsk_kill()).",
    FinWait2Expires = "timer.fin_wait2_expires":
        "An orphaned FIN-WAIT-2 ends after TCP_LINGER2 or tcp_fin_timeout, silently.",
    KeepaliveTimesOut = "timer.keepalive_times_out":
        "With SO_KEEPALIVE and a peer that answers nothing, the connection fails with ETIMEDOUT \
         (and an RST) after TCP_KEEPIDLE + TCP_KEEPCNT × TCP_KEEPINTVL of silence \
         (tcp_keepalive_timer()).",
    KeepaliveProbeReset = "timer.keepalive_probe_reset":
        "With SO_KEEPALIVE, an idle connection probes its peer every TCP_KEEPIDLE (answered \
         probes show nothing); the first probe after the peer's host forgot the connection (its \
         socket closed and went, was destroyed, or the host rebooted) is answered with RST, \
         which resets the connection (tcp_keepalive_timer(), tcp_write_wakeup()).",
    UserTimeoutExpires = "timer.user_timeout":
        "Data unacknowledged for longer than TCP_USER_TIMEOUT fails the connection with ETIMEDOUT \
         (tcp_write_timeout(), tcp_clamp_rto_to_user_timeout()).",
    SynRetransmitted = "timer.syn_retransmitted":
        "An unanswered SYN is sent again: 1 s after the first, every second for the first \
         tcp_syn_linear_timeouts retransmissions (6.5+), then doubling (tcp_retransmit_timer()).",
    SynRetriesExhausted = "timer.syn_retries_exhausted":
        "A SYN that is never answered is retransmitted tcp_syn_retries (TCP_SYNCNT) times, then \
         connect() fails with ETIMEDOUT after (2^(n+1) - 1) s (tcp_write_timeout(), \
         tcp_model_timeout()).",
    SysctlSet = "sysctl.set":
        "The namespace's sysctl takes the new value; sockets that exist keep what they copied.",
    SysctlRefused = "sysctl.refused":
        "The kernel refuses a write that breaks a constraint between keys (ip_local_port_range \
         below ip_unprivileged_port_start): EINVAL, the old value stays (ipv4_local_port_range()).",
    PeerVanished = "fixture.peer_vanishes":
        "From now on segments arriving for the socket (its connection, or, unconnected, its \
         address and port) are silently dropped; a socket that never had an address: EINVAL.",
    PeerRebooted = "fixture.peer_reboots":
        "The peer's socket is gone without a word; what reaches its host later is answered \
         with RST (tcp_v4_send_reset()); a socket without a peer: EINVAL.",
    // --- other operating systems (model only; see the README for what ran where) -------------
    NotModelled = "os.not_modelled":
        "The model does not describe this call (or what it starts) on this profile's OS: the \
         prediction is refused, not guessed from Linux (SOCK_DESTROY, blackholed peers and \
         keepalive timers off Linux; Windows' FIN-WAIT-2 timeout, close() with unread data and \
         bind() over connections or TIME-WAIT, which Microsoft does not document).",
    SetsockoptNotOnOs = "setsockopt.not_on_os":
        "An option this OS does not have fails with ENOPROTOOPT: IP_BIND_ADDRESS_NO_PORT and \
         TCP_LINGER2 exist only on Linux, TCP_USER_TIMEOUT only on Linux, SO_REUSEPORT not on \
         Windows, SO_REUSEPORT_LB only on FreeBSD, SO_EXCLUSIVEADDRUSE only on Windows \
         (FreeBSD sosetopt(), tcp_ctloutput_set(); XNU sosetoptlock(), tcp_ctloutput(); \
         Winsock setsockopt(): WSAENOPROTOOPT).",
    SetsockoptExclusiveWithReuseAddr = "windows.setsockopt.exclusive_with_reuseaddr":
        "Windows: SO_EXCLUSIVEADDRUSE and SO_REUSEADDR are mutually exclusive on one socket: \
         setting one while the other is set fails with EINVAL (WSAEINVAL) (Microsoft Learn, \
         \"Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE\").",
    OsBindPortFree = "os.bind.port_free":
        "FreeBSD, macOS, Windows: no socket on the port has an overlapping address: bind succeeds (FreeBSD \
         sys/netinet/in_pcb.c in_pcbbind_setup(), in_pcblookup_local(); XNU bsd/netinet/in_pcb.c \
         in_pcbbind()).",
    BsdBindInUse = "bsd.bind.in_use":
        "Without SO_REUSEADDR, SO_REUSEPORT or SO_REUSEPORT_LB the bind lookup is a best-fit \
         (INPLOOKUP_WILDCARD) search over every PCB on the port, listening, bound, connected or \
         TIME-WAIT: any with an overlapping address gives EADDRINUSE (FreeBSD in_pcbbind_setup(), \
         in_pcblookup_local(); XNU in_pcbbind()).",
    BsdBindReuseExactOnly = "bsd.bind.reuse_exact_only":
        "With SO_REUSEADDR, SO_REUSEPORT or SO_REUSEPORT_LB on the new socket the lookup is exact: \
         only an unconnected PCB with the identical address conflicts, so a specific address \
         beside a bound wildcard (and the reverse), or a port held only by connections and \
         TIME-WAITs, binds; the old sockets' options do not matter (FreeBSD in_pcbbind_setup(): \
         lookupflags 0, in_pcblookup_local()'s ipi_hash_wild branch; XNU in_pcbbind()).",
    BsdBindExactDuplicate = "bsd.bind.exact_duplicate":
        "An unconnected PCB holds the identical address and port and the two do not both have \
         SO_REUSEPORT (or both SO_REUSEPORT_LB): EADDRINUSE, SO_REUSEADDR notwithstanding \
         (FreeBSD in_pcbbind_setup(); XNU in_pcbbind()).",
    BsdBindReusePortBoth = "bsd.bind.reuseport_both":
        "SO_REUSEPORT on both sockets: identical bindings share the port; connections are not \
         spread, one PCB gets them (FreeBSD in_pcbbind_setup(), in_pcblookup_hash_wild_locked(); \
         XNU in_pcbbind()).",
    BsdBindReusePortLbBoth = "freebsd.bind.reuseport_lb_both":
        "FreeBSD: SO_REUSEPORT_LB on both sockets: identical bindings share the port as a \
         load-balancing group (in_pcbbind_setup(), in_pcbinslbgrouphash()).",
    BsdBindOtherUid = "bsd.bind.other_uid":
        "A binder without PRIV_NETINET_REUSEPORT (a socket of uid != 0) gets EADDRINUSE when the \
         best-fit PCB on the port is unconnected and owned by another uid, unless both are \
         wildcards and the other has SO_REUSEPORT_LB only (FreeBSD in_pcbbind_setup(), \
         in6_pcbbind(); XNU in_pcbbind()).",
    BsdBindDualStackBesideV4 = "bsd.bind.dual_stack_beside_v4":
        "A dual-stack `::` (IPV6_V6ONLY off) binds beside an AF_INET 0.0.0.0 on the same port: the \
         IPv4-side check of in6_pcbbind() ignores an IPv4 wildcard PCB of the other kind; an \
         AF_INET 0.0.0.0 after a dual-stack `::` is EADDRINUSE (FreeBSD in6_pcbbind(), \
         in_pcbbind_setup(); XNU in6_pcbbind()).",
    BsdBindReservedPort = "bsd.bind.reserved_port":
        "A port at or below net.inet.ip.portrange.reservedhigh (1023) without privilege (socket \
         uid != 0) fails with EACCES; on macOS only for a specific address, the wildcard is not \
         restricted (FreeBSD in_pcbbind_setup() PRIV_NETINET_RESERVEDPORT; XNU in_pcbbind()).",
    BsdBindEphemeral = "bsd.bind.ephemeral":
        "bind(:0) (and listen() without a port) takes any port of net.inet.ip.portrange.first..last \
         that the bind lookup finds free, from a random start (FreeBSD, portrange.randomized=1) \
         or sequentially (macOS) (in_pcb_lport_dest(); XNU in_pcbbind()).",
    BsdBindEphemeralExhausted = "bsd.bind.ephemeral.exhausted":
        "bind(:0) finds no free port in net.inet.ip.portrange.first..last: EADDRNOTAVAIL \
         (in_pcb_lport_dest(); XNU in_pcbbind()).",
    ListenNoRecheck = "listen.no_recheck":
        "FreeBSD, macOS, Windows: listen() on a bound socket does not look at the port again, so \
         it never fails with EADDRINUSE (FreeBSD tcp_usr_listen(): in_pcbbind() only when \
         inp_lport == 0; XNU tcp_usr_listen(); Winsock listen() documents WSAEADDRINUSE only for \
         partially wildcard binds, which the model does not have).",
    BsdConnectTupleInUse = "bsd.connect.tuple_in_use":
        "connect() from a bound port whose 4-tuple any PCB holds, TIME-WAIT included, fails with \
         EADDRINUSE; a TIME-WAIT is never taken over and there is no tcp_tw_reuse (FreeBSD \
         in_pcbconnect_setup(); XNU tcp_connect(); Windows: WSAEADDRINUSE).",
    BsdConnectAutobind = "freebsd.connect.autobind":
        "FreeBSD: connect() without a port takes one of portrange.first..last whose 4-tuple is \
         unique and that no unconnected PCB holds: ports are shared between destinations \
         (in_pcb_lport_dest() with a foreign address).",
    NoShareConnectAutobind = "connect.autobind_unshared":
        "macOS: connect() without a port takes a port no PCB on an overlapping address uses, so \
         destinations never share one (XNU in_pcbbind(), lport == 0). Windows: assumed the same \
         (the dynamic range 49152-65535 is documented, sharing is not).",
    BsdTimeWaitRstIgnored = "bsd.timewait.rst_ignored":
        "An RST does not end TIME-WAIT (FreeBSD tcp_twcheck(): RSTs are dropped, RFC 1337; XNU \
         tcp_input(), TCPS_TIME_WAIT).",
    BsdTimeWaitExpires = "bsd.timer.time_wait_expires":
        "TIME-WAIT ends 2 x net.inet.tcp.msl after it began (or after the last retransmitted FIN): \
         60 s on FreeBSD (msl 30 s), 30 s on macOS (TCPTV_MSL 15 s) (FreeBSD tcp_twstart(), \
         tcp_timer_2msl(); XNU add_to_time_wait()).",
    FreeBsdNoLocalTimeWait = "freebsd.timewait.nolocal":
        "FreeBSD: with net.inet.tcp.nolocaltimewait=1 (the default since 14.0) a connection whose \
         peer is one of the host's own addresses is closed at once instead of entering TIME-WAIT \
         (tcp_timewait.c tcp_twstart()).",
    FreeBsdCloseUnreadData = "freebsd.close.unread_data_fin":
        "FreeBSD: close() with unread received data discards it and sends FIN, not RST (only \
         SO_LINGER {on, 0} aborts) (tcp_usrreq.c tcp_usr_close(), tcp_disconnect()).",
    FreeBsdOrphanFinWait2 = "freebsd.close.orphan_fin_wait2":
        "FreeBSD: an orphan reaching FIN-WAIT-2 is timed by net.inet.tcp.finwait2_timeout when \
         fast_finwait2_recycle=1, else by tcp_maxidle (keepcnt x keepintvl = 600 s) of idleness \
         (tcp_input.c, tcp_timer.c tcp_timer_2msl()).",
    FreeBsdFinWait2Expires = "freebsd.timer.fin_wait2_expires":
        "FreeBSD: the orphaned FIN-WAIT-2 timer ends the connection silently (tcp_timer_2msl() \
         → tcp_close()).",
    MacOsOrphanFinWait2 = "macos.close.orphan_fin_wait2":
        "macOS: an orphan reaching FIN-WAIT-2 is timed by net.inet.tcp.fin_timeout (60 s) \
         (tcp_input.c tcp_set_finwait_timeout()).",
    MacOsFinWait2ExpiresRst = "macos.timer.fin_wait2_expires_rst":
        "macOS: when the orphaned FIN-WAIT-2 timer runs out the connection is dropped with an RST \
         to the peer (tcp_timer.c TCPT_2MSL → tcp_drop()).",
    WinBindSuccess = "windows.bind.success":
        "Windows: the sharing table says SUCCESS for the two sockets' options and address kinds \
         (Microsoft Learn, \"Sharing Transport Addresses\" (WSK) and \"Using SO_REUSEADDR and \
         SO_EXCLUSIVEADDRUSE\"): e.g. a wildcard after a specific, or any duplicate with \
         SO_REUSEADDR on both.",
    WinBindInUse = "windows.bind.in_use":
        "Windows: the sharing table says INUSE: EADDRINUSE (WSAEADDRINUSE) (\"Sharing Transport \
         Addresses\").",
    WinBindDenied = "windows.bind.denied":
        "Windows: the sharing table says DENIED: EACCES (WSAEACCES), e.g. any bind over an \
         SO_EXCLUSIVEADDRUSE wildcard, or SO_REUSEADDR over a plain wildcard (\"Sharing Transport \
         Addresses\").",
    WinBindCheckSameUser = "windows.bind.check_same_user":
        "Windows: the sharing table says CHECK (a specific address over a wildcard) and the \
         sockets belong to the same user: success (\"Sharing Transport Addresses\"; enhanced \
         socket security).",
    WinBindCheckOtherUser = "windows.bind.check_other_user":
        "Windows: the sharing table says CHECK and the sockets belong to different users: EACCES \
         (WSAEACCES) (\"Sharing Transport Addresses\"; enhanced socket security).",
    WinTimeWaitExpires = "windows.timer.time_wait_expires":
        "Windows: TIME-WAIT ends TcpTimedWaitDelay seconds after it began (documented default \
         240 s; Windows Server 2003 TCP/IP documentation \"TIME-WAIT Delay\", ms819739).",
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for &r in RuleId::ALL {
            assert!(seen.insert(r.id()), "duplicate rule id {}", r.id());
            assert_eq!(RuleId::from_id(r.id()), Some(r));
        }
    }
}
