//! Segments on the wire and what they do on arrival: `tcp_v4_rcv()`'s lookups, the LISTEN and
//! SYN-SENT processing, `tcp_rcv_state_process()` and `tcp_timewait_state_process()`.
//!
//! Loopback (and the veth between two hosts) delivers every segment, in order, before the
//! sending call returns; the model therefore keeps no sequence numbers. A segment says what it
//! carries (SYN, ACK, FIN, RST, data) and whether its sender had already received the
//! receiver's FIN (so the ACK acknowledges it).

use std::net::{IpAddr, SocketAddr};

use super::sock::{Kind, Sk, SkId};
use super::{Cx, Model, in_family};
use crate::addr::{Family, wire_ip};
use crate::errno::Errno;
use crate::op::Host;
use crate::rule::RuleId;
use crate::state::TcpState;

/// `net.core.somaxconn`'s default (per namespace since 5.4; the model does not vary it).
const SOMAXCONN: u32 = 4096;

/// TCP header flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Flags {
    pub(crate) syn: bool,
    pub(crate) ack: bool,
    pub(crate) fin: bool,
    pub(crate) rst: bool,
}

impl Flags {
    pub(crate) const SYN: Self = Self {
        syn: true,
        ack: false,
        fin: false,
        rst: false,
    };
    pub(crate) const SYN_ACK: Self = Self {
        syn: true,
        ack: true,
        fin: false,
        rst: false,
    };
    pub(crate) const ACK: Self = Self {
        syn: false,
        ack: true,
        fin: false,
        rst: false,
    };
    pub(crate) const FIN: Self = Self {
        syn: false,
        ack: true,
        fin: true,
        rst: false,
    };
    pub(crate) const RST: Self = Self {
        syn: false,
        ack: true,
        fin: false,
        rst: true,
    };
}

/// A segment in flight.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Segment {
    /// The namespace that sent it.
    pub(crate) from_host: Host,
    /// Source, as an IPv4 or IPv6 wire address.
    pub(crate) src: SocketAddr,
    /// Destination, as a wire address.
    pub(crate) dst: SocketAddr,
    /// Flags.
    pub(crate) flags: Flags,
    /// Payload bytes.
    pub(crate) data: u32,
    /// The sender had received the receiver's FIN: this ACK acknowledges it.
    pub(crate) acks_fin: bool,
    /// The sender uses TCP timestamps on this connection.
    pub(crate) timestamps: bool,
    /// A SYN whose ISN was kept from an earlier connect() of its socket rather than drawn
    /// from the clock: it need not be "newer" than an old connection of the same 4-tuple.
    pub(crate) isn_kept: bool,
    /// A reply the stack sends itself, not through a socket's own route
    /// (`tcp_v6_send_response()`, `ip_send_unicast_reply()`).
    pub(crate) stack_reply: bool,
}

impl Model {
    /// Queues a segment; it is delivered by [`Model::deliver_all`].
    pub(super) fn queue_segment(&mut self, seg: Segment) {
        self.in_flight.push(seg);
    }

    /// Delivers every queued segment (and what they cause) in order.
    pub(super) fn deliver_all(&mut self, cx: &mut Cx<'_>) {
        let mut guard = 0;
        while !self.in_flight.is_empty() {
            let seg = self.in_flight.remove(0);
            self.deliver(seg, cx);
            guard += 1;
            assert!(
                guard < 10_000,
                "segments keep causing segments: a model bug"
            );
        }
    }

    /// Whether a reply of the stack's own (`seg.stack_reply`) is lost: IPv6, to `::1`, from a
    /// veth address. `tcp_v6_send_response()` routes a reply to a loopback destination out of
    /// the interface the answered segment came in on (`rt6_need_strict()`, `tcp_v6_iif()`),
    /// which for a veth address is the veth (the idev of its local route), where `::1` is not.
    fn lost_as_v6_loopback_reply(&self, seg: &Segment) -> bool {
        matches!(seg.dst.ip(), IpAddr::V6(d) if d.is_loopback())
            && self.topology.is_veth_address(seg.src.ip())
    }

    /// Answers `seg` with an RST from "no socket" (`tcp_v4_send_reset()`): never for an RST.
    fn reset_reply(&mut self, host: Host, seg: &Segment) {
        if seg.flags.rst {
            return;
        }
        self.queue_segment(Segment {
            from_host: host,
            src: seg.dst,
            dst: seg.src,
            flags: Flags::RST,
            data: 0,
            acks_fin: false,
            timestamps: false,
            isn_kept: false,
            stack_reply: true,
        });
    }

    /// Sends a segment from the minisocket `id` (TIME-WAIT ACKs).
    fn send_from_minisock(&mut self, id: SkId, flags: Flags) {
        let s = self.sk(id);
        let Some(peer) = s.peer else { return };
        let seg = Segment {
            from_host: s.host,
            src: SocketAddr::new(wire_ip(s.local_ip), s.port),
            dst: SocketAddr::new(wire_ip(peer.ip()), peer.port()),
            flags,
            data: 0,
            acks_fin: s.state == TcpState::TimeWait,
            timestamps: s.timestamps,
            isn_kept: false,
            stack_reply: true,
        };
        self.queue_segment(seg);
    }

    fn deliver(&mut self, seg: Segment, cx: &mut Cx<'_>) {
        let Some(host) = self.topology.route(seg.from_host, seg.dst.ip()) else {
            return;
        };
        if seg.stack_reply && self.lost_as_v6_loopback_reply(&seg) {
            cx.rule(RuleId::TcpV6LoopbackReplyLost);
            return;
        }
        if self.dropped(host, seg.dst, seg.src) {
            return;
        }
        // 1. The established hash: full connections, requests, minisockets.
        let est = self
            .sks
            .iter()
            .find(|(_, s)| {
                s.host == host && s.state.is_connected() && s.matches_wire(seg.dst, seg.src)
            })
            .map(|(id, _)| *id);
        if let Some(id) = est {
            if self.sk(id).is_minisock() {
                self.rcv_minisock(id, host, &seg, cx);
            } else {
                self.rcv_full(id, &seg, cx);
            }
            return;
        }
        // 2. Listeners.
        if let Some(l) = self.lookup_listener(host, &seg, cx) {
            self.rcv_listen(l, host, &seg, cx);
            return;
        }
        // 3. Nobody.
        if seg.flags.syn && !seg.flags.ack {
            cx.rule(RuleId::TcpNoSocket);
        }
        self.reset_reply(host, &seg);
    }

    /// `__inet_lookup_listener()`: listeners on the exact address first, then on the
    /// wildcard. For an IPv4 segment an AF_INET listener outscores an AF_INET6 one on the
    /// same address (`compute_score()`), so a dual-stack listener sharing the port through
    /// SO_REUSEPORT gets only what no AF_INET listener takes. What is left to choose from is
    /// one SO_REUSEPORT group, whose member the kernel picks by a hash of the 4-tuple
    /// (`reuseport_select_sock()`): the model allows each of them.
    fn lookup_listener(&self, host: Host, seg: &Segment, cx: &mut Cx<'_>) -> Option<SkId> {
        let dst = seg.dst;
        let v4 = dst.is_ipv4();
        let matches = |s: &Sk, exact: bool| -> bool {
            if s.host != host || s.state != TcpState::Listen || s.port != dst.port() {
                return false;
            }
            if v4 {
                if s.family == Family::Inet6 && s.opts.v6only {
                    return false;
                }
                let a = s.rcv_saddr_v4();
                if exact {
                    IpAddr::V4(a) == dst.ip()
                } else {
                    a.is_unspecified()
                }
            } else {
                if s.family != Family::Inet6 {
                    return false;
                }
                let a = s.rcv_saddr_v6().expect("AF_INET6");
                if a.to_ipv4_mapped().is_some() {
                    return false;
                }
                if exact {
                    IpAddr::V6(a) == dst.ip()
                } else {
                    a.is_unspecified()
                }
            }
        };
        use std::net::IpAddr;
        for exact in [true, false] {
            let mut found: Vec<SkId> = self
                .sks
                .iter()
                .filter(|(_, s)| matches(s, exact))
                .map(|(id, _)| *id)
                .collect();
            let inet = |id: &SkId| self.sk(*id).family == Family::Inet;
            if v4 && found.iter().any(inet) && !found.iter().all(inet) {
                found.retain(inet);
                cx.rule(RuleId::TcpListenerPrefersInet);
            }
            if !found.is_empty() {
                let i = if found.len() > 1 {
                    cx.chooser.choose(found.len())
                } else {
                    0
                };
                return Some(found[i]);
            }
        }
        None
    }

    /// A segment for a listener: a SYN makes a request (a child in SYN-RECV) and is answered
    /// with SYN-ACK, unless the accept queue is full; an ACK gets an RST
    /// (`tcp_rcv_state_process()`, LISTEN).
    fn rcv_listen(&mut self, l: SkId, host: Host, seg: &Segment, cx: &mut Cx<'_>) {
        let f = seg.flags;
        if f.rst {
            return;
        }
        if f.ack {
            self.reset_reply(host, seg);
            return;
        }
        if !f.syn {
            return;
        }
        if self.profile.os != crate::profile::Os::Linux {
            // The BSDs' limit (sonewconn(): 3/2 of the backlog), macOS's and Windows' are not
            // modelled: at the backlog, the prediction is refused.
            let s = self.sk(l);
            if s.accept_queue.len() as u64 >= u64::from(s.backlog) {
                cx.rule(RuleId::NotModelled);
            }
        } else if self.accept_queue_is_full(l) {
            // tcp_conn_request(): sk_acceptq_is_full() drops the SYN (ListenOverflows), with
            // or without a SYN cookie; the client retransmits it.
            cx.rule(RuleId::TcpListenOverflow);
            return;
        }
        let lis = self.sk(l).clone();
        let ts = seg.timestamps && self.sysctl(host).tcp_timestamps != 0;
        // sk_clone_lock(): the child copies the listener's options and owner uid.
        let child = Sk {
            kind: Kind::Full,
            state: TcpState::SynReceived,
            local_ip: in_family(lis.family, seg.dst.ip()),
            port: lis.port,
            bound: true,
            addr_lock: lis.addr_lock,
            // sk_clone(): SOCK_BINDPORT_LOCK is not inherited.
            port_lock: false,
            connect_bind: false,
            peer: Some(SocketAddr::new(
                in_family(lis.family, seg.src.ip()),
                seg.src.port(),
            )),
            owner: None,
            listener: Some(l),
            accept_queue: Vec::new(),
            backlog: 0,
            timestamps: ts,
            peer_isn_kept: seg.isn_kept,
            ..Sk::new(
                host,
                lis.family,
                crate::op::SockId(0),
                lis.uid,
                lis.opts.v6only,
            )
        };
        // sk_clone_lock() copies the listener's options and also its sk_shutdown bits (a
        // shutdown() on the listener, even one that failed with ENOTCONN, set them).
        // For a native IPv6 connection the child also keeps the listener's transmit path
        // (tcp_v6_syn_recv_sock() sets ipv6_mapped only for v4-mapped ones).
        let mapped_ops = lis.mapped_ops
            && !seg.dst.is_ipv4()
            && !self.profile.mapped_failure_restores_ipv6_path();
        let child = Sk {
            opts: lis.opts,
            shutdown: lis.shutdown,
            mapped_ops,
            // inet_saddr: the connection's IPv4 address (LOOPBACK4_IPV6 for a native IPv6 one).
            saddr_v4: child.rcv_saddr_v4(),
            ..child
        };
        let id = self.new_sk(child);
        self.send_raw(id, Flags::SYN_ACK, 0);
    }

    /// `sk_acceptq_is_full()`: more connections wait than the backlog, which `listen()`
    /// clamped to `net.core.somaxconn` (`__sys_listen_socket()`); a queue holds backlog + 1.
    fn accept_queue_is_full(&self, l: SkId) -> bool {
        let s = self.sk(l);
        let max_ack_backlog = s.backlog.min(SOMAXCONN);
        s.accept_queue.len() as u64 > u64::from(max_ack_backlog)
    }

    /// A segment for a full socket in a synchronized or opening state.
    fn rcv_full(&mut self, id: SkId, seg: &Segment, cx: &mut Cx<'_>) {
        self.note_rx(id);
        let f = seg.flags;
        let state = self.sk(id).state;
        if f.rst {
            // tcp_reset(): the error depends on the state; a request just disappears.
            if state == TcpState::SynReceived && self.sk(id).listener.is_some() {
                self.forget(id);
                return;
            }
            let err = match state {
                TcpState::SynSent => Errno::ECONNREFUSED,
                TcpState::CloseWait => Errno::EPIPE,
                _ => Errno::ECONNRESET,
            };
            cx.rule(RuleId::TcpRstReceived);
            self.done_with_error(id, Some(err));
            return;
        }
        match state {
            TcpState::SynSent => {
                if f.syn && f.ack {
                    // tcp_rcv_synsent_state_process(): the handshake completes.
                    let s = self.sk_mut(id);
                    s.state = TcpState::Established;
                    s.timestamps = s.timestamps && seg.timestamps;
                    if self.sk(id).opts.keepalive {
                        // tcp_finish_connect() arms keepalive on an established connection.
                        self.note_keepalive_armed(id, false);
                    }
                    self.send(id, Flags::ACK, 0);
                } else if f.syn {
                    // Simultaneous open (a socket connecting to itself).
                    self.sk_mut(id).state = TcpState::SynReceived;
                    cx.rule(RuleId::ConnectSelf);
                    self.send(id, Flags::SYN_ACK, 0);
                } else if f.ack {
                    // An ACK that does not acknowledge our SYN: answer it with RST, and send
                    // the SYN again after TCP_TIMEOUT_MIN unless it was resent already
                    // (tcp_rcv_synsent_state_process(), "Previous FIN/ACK or RST/ACK might be
                    // ignored").
                    if self.sk(id).syn_retransmits == 0 {
                        let due = self.now + crate::time::TIMEOUT_MIN_MS;
                        self.sk_mut(id).syn_early = Some(due);
                    }
                    self.queue_segment(Segment {
                        from_host: self.sk(id).host,
                        src: seg.dst,
                        dst: seg.src,
                        flags: Flags::RST,
                        data: 0,
                        acks_fin: false,
                        timestamps: false,
                        isn_kept: false,
                        stack_reply: true,
                    });
                }
            }
            TcpState::SynReceived => {
                if f.syn && !f.ack {
                    return;
                }
                if f.ack {
                    let s = self.sk_mut(id);
                    s.state = TcpState::Established;
                    if f.syn {
                        // Simultaneous open: our SYN-ACK crossed theirs.
                        self.send(id, Flags::ACK, 0);
                    }
                    if let Some(l) = self.sk(id).listener {
                        // inet_csk_complete_hashdance(): the child joins the accept queue.
                        self.sk_mut(l).accept_queue.push(id);
                    }
                    if self.sk(id).opts.keepalive {
                        // tcp_create_openreq_child(): keepalive starts with the connection.
                        self.note_keepalive_armed(id, false);
                    }
                    if self.sk(id).shutdown.send {
                        // tcp_rcv_state_process(), SYN-RECV: a send side shut before the
                        // connection existed is shut now (a FIN goes out).
                        cx.rule(RuleId::TcpShutdownInherited);
                        self.close_state_pub(id, cx);
                    }
                    self.rcv_established_part(id, seg, cx);
                }
            }
            _ => {
                if f.syn {
                    // A SYN in a synchronized state gets a challenge ACK (RFC 5961,
                    // tcp_validate_incoming(), tcp_send_challenge_ack()); the SYN-SENT socket
                    // that sent it answers with RST, which ends this connection. (At most one
                    // per tcp_invalid_ratelimit, 500 ms, per socket: not modelled, the RST ends
                    // the connection before a second SYN could come.)
                    cx.rule(RuleId::TcpChallengeAck);
                    self.send(id, Flags::ACK, 0);
                    return;
                }
                self.rcv_established_part(id, seg, cx);
            }
        }
    }

    /// `tcp_rcv_state_process()` from ESTABLISHED on: the ACK, then the data, then the FIN.
    fn rcv_established_part(&mut self, id: SkId, seg: &Segment, cx: &mut Cx<'_>) {
        let f = seg.flags;
        // Step 5: the ACK.
        if f.ack && seg.acks_fin && self.sk(id).fin_sent && !self.sk(id).fin_acked {
            self.sk_mut(id).fin_acked = true;
            match self.sk(id).state {
                TcpState::FinWait1 => {
                    self.sk_mut(id).state = TcpState::FinWait2;
                    if self.sk(id).orphan && self.orphan_reaches_fin_wait2(id, f.fin, cx) {
                        return;
                    }
                }
                TcpState::Closing => {
                    cx.rule(RuleId::TcpSimultaneousClose);
                    self.time_wait(id, TcpState::TimeWait, cx);
                    return;
                }
                TcpState::LastAck if self.mutated(crate::mutant::Mutant::PassiveCloserTimeWait) => {
                    // Mutant::PassiveCloserTimeWait: LAST-ACK ends in TIME-WAIT.
                    self.time_wait(id, TcpState::TimeWait, cx);
                    return;
                }
                TcpState::LastAck => {
                    cx.rule(RuleId::TcpPassiveCloserNoTimeWait);
                    self.done(id);
                    return;
                }
                _ => {}
            }
        }
        // Step 7: the data.
        if seg.data > 0 {
            let s = self.sk(id);
            match s.state {
                TcpState::FinWait1 | TcpState::FinWait2 if s.shutdown.rcv => {
                    // New data after the receive side was closed: reset (TCPAbortOnData).
                    cx.rule(RuleId::TcpDataAfterClose);
                    let reply = Segment {
                        from_host: s.host,
                        src: seg.dst,
                        dst: seg.src,
                        flags: Flags::RST,
                        data: 0,
                        acks_fin: false,
                        timestamps: false,
                        isn_kept: false,
                        stack_reply: true,
                    };
                    self.done_with_error(id, Some(Errno::ECONNRESET));
                    self.queue_segment(reply);
                    return;
                }
                TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2 => {
                    self.sk_mut(id).rx += seg.data;
                }
                _ => {}
            }
        }
        // Step 8: the FIN (tcp_fin()).
        if f.fin {
            let s = self.sk_mut(id);
            s.shutdown.rcv = true;
            s.done = true;
            match s.state {
                TcpState::SynReceived | TcpState::Established => {
                    s.state = TcpState::CloseWait;
                    s.rx_fin = true;
                    cx.rule(RuleId::TcpFinReceived);
                    self.send(id, Flags::ACK, 0);
                }
                TcpState::FinWait1 => {
                    s.rx_fin = true;
                    s.state = TcpState::Closing;
                    cx.rule(RuleId::TcpSimultaneousClose);
                    self.send(id, Flags::ACK, 0);
                }
                TcpState::FinWait2 => {
                    s.rx_fin = true;
                    self.send(id, Flags::ACK, 0);
                    cx.rule(RuleId::TcpActiveCloserTimeWait);
                    self.time_wait(id, TcpState::TimeWait, cx);
                }
                _ => {}
            }
        }
    }

    /// `tcp_timewait_state_process()`.
    fn rcv_minisock(&mut self, id: SkId, host: Host, seg: &Segment, cx: &mut Cx<'_>) {
        let f = seg.flags;
        let rfc1337 = self.sysctl(host).tcp_rfc1337;
        if self.sk(id).state == TcpState::FinWait2 {
            if f.rst {
                self.kill_minisock(id);
                return;
            }
            if f.syn {
                self.queue_segment(Segment {
                    from_host: host,
                    src: seg.dst,
                    dst: seg.src,
                    flags: Flags::RST,
                    data: 0,
                    acks_fin: false,
                    timestamps: false,
                    isn_kept: false,
                    stack_reply: true,
                });
                return;
            }
            if seg.data > 0 {
                // New data after a half-duplex close: RST, and the minisocket goes.
                cx.rule(RuleId::FinWait2MinisockData);
                self.kill_minisock(id);
                self.queue_segment(Segment {
                    from_host: host,
                    src: seg.dst,
                    dst: seg.src,
                    flags: Flags::RST,
                    data: 0,
                    acks_fin: false,
                    timestamps: false,
                    isn_kept: false,
                    stack_reply: true,
                });
                return;
            }
            if f.fin {
                // FIN: true TIME-WAIT for 60 s from now.
                cx.rule(RuleId::FinWait2MinisockFin);
                let (now, span) = (self.now, self.span);
                let s = self.sk_mut(id);
                s.state = TcpState::TimeWait;
                s.since = now;
                if seg.timestamps {
                    s.tw_entry = now;
                    s.tw_entry_span = span;
                }
                let len = self.time_wait_len(host);
                self.arm(id, len, super::timers::Event::MinisockExpires);
                self.send_from_minisock(id, Flags::ACK);
            }
            return;
        }
        // Real TIME-WAIT.
        if f.rst {
            if self.profile.os.is_bsd() {
                cx.rule(RuleId::BsdTimeWaitRstIgnored);
            } else if rfc1337 {
                cx.rule(RuleId::TimeWaitRstIgnored);
            } else {
                cx.rule(RuleId::TimeWaitRstKills);
                self.kill_minisock(id);
            }
            return;
        }
        if f.syn && !f.ack {
            // A new SYN (Linux ISNs and timestamps grow with time, so it is "newer"): with a
            // listener behind it, it ends the TIME-WAIT and opens a connection; else it is
            // answered with an ACK.
            let lis = self.lookup_listener(host, seg, cx);
            if let Some(l) = lis {
                if seg.isn_kept || self.sk(id).peer_isn_kept {
                    // The ISN may be behind rcv_nxt (this SYN's ISN, or the old connection's,
                    // was kept from an earlier connect, not drawn from the clock); then only a
                    // newer timestamp reopens.
                    let t = self.sk(id);
                    let newest = self.now.saturating_sub(t.tw_entry + t.tw_entry_span);
                    let surely_newer = seg.timestamps && t.timestamps && newest >= 2;
                    cx.rule(RuleId::TimeWaitSynKeptIsn);
                    if !surely_newer && cx.chooser.choose(2) == 1 {
                        self.send_from_minisock(id, Flags::ACK);
                        return;
                    }
                }
                cx.rule(RuleId::TimeWaitSynReopens);
                self.kill_minisock(id);
                self.rcv_listen(l, host, seg, cx);
                return;
            }
            cx.rule(RuleId::ConnectSynToTimeWait);
            self.send_from_minisock(id, Flags::ACK);
            return;
        }
        if f.fin {
            // A retransmitted FIN re-arms the timer and is ACKed.
            let len = self.time_wait_len(host);
            self.arm(id, len, super::timers::Event::MinisockExpires);
            self.send_from_minisock(id, Flags::ACK);
        }
    }
}
