//! `connect()`: `__inet_stream_connect()`, `tcp_v4_connect()` / `tcp_v6_connect()`,
//! `__inet_hash_connect()`, `__inet_check_established()`, `tcp_twsk_unique()`.

use std::net::{IpAddr, SocketAddr};

use super::sock::{Bucket, SkId, SockState};
use super::wire::{Flags, Segment};
use super::{AutobindDestination, Cx, Model, Res, in_family, is_mapped, loopback_for};
use crate::addr::{Family, is_loopback, wire_ip};
use crate::errno::Errno;
use crate::mutant::Mutant;
use crate::op::SockId;
use crate::outcome::Outcome;
use crate::ports::PortSet;
use crate::rule::RuleId;
use crate::state::TcpState;

/// What `__inet_check_established()` says about a 4-tuple.
pub(super) enum Unique {
    /// No other connection has it.
    Free,
    /// A minisocket has it and may be taken over.
    TakeOver(SkId),
    /// Another connection has it.
    InUse,
}

impl Model {
    /// `connect(2)`: the socket layer's part (`__inet_stream_connect()`).
    pub(super) fn op_connect(
        &mut self,
        sock: SockId,
        ip: IpAddr,
        dst: Option<SocketAddr>,
        cx: &mut Cx<'_>,
    ) -> Res {
        let (ss, nonblocking) = self.fd_state(sock);
        let id = match self.fds[&sock] {
            super::sock::Fd::Open { sk, .. } => sk,
            super::sock::Fd::Closed => unreachable!("with_fd passes open descriptors"),
        };
        let mut rule = RuleId::ConnectAlready;
        match ss {
            SockState::Disconnecting => {
                return (Outcome::Err(Errno::EINVAL), RuleId::ConnectIsConn);
            }
            SockState::Connected => return (Outcome::Err(Errno::EISCONN), RuleId::ConnectIsConn),
            SockState::Connecting => {}
            SockState::Unconnected => {
                if self.sk(id).state != TcpState::Closed {
                    return (Outcome::Err(Errno::EISCONN), RuleId::ConnectIsConn);
                }
                // A destination variable without a value is port 0 (the parser refuses that).
                let dst = dst.unwrap_or_else(|| SocketAddr::new(ip, 0));
                match self.tcp_connect(id, dst, cx) {
                    Err(res) => return res,
                    Ok(r) => rule = r,
                }
                self.set_ss(sock, SockState::Connecting);
                // Loopback: the handshake runs before the call returns.
                self.deliver_all(cx);
                if nonblocking {
                    return (Outcome::Err(Errno::EINPROGRESS), RuleId::ConnectInProgress);
                }
            }
        }
        let mut state = self.sk(id).state;
        if state == TcpState::SynSent
            && !nonblocking
            && let Some(at) = self.sk(id).syn_early
            && at <= self.now + crate::time::BLOCKING_BOUND_MS
            // In lock-step the resend may also come after the harness stopped waiting (a busy
            // machine delays the timer's softirq): then connect() blocks, and the resend is
            // one of the timers judged against the call's real end.
            && (cx.hint.clock.is_none() || cx.chooser.choose(2) == 0)
        {
            // A blocking connect() is still waiting when the SYN goes out again after
            // TCP_TIMEOUT_MIN (tcp_rcv_synsent_state_process()): it meets what is there now.
            self.sk_mut(id).syn_early = None;
            self.sk_mut(id).syn_retransmits += 1;
            self.send(id, Flags::SYN, 0);
            self.deliver_all(cx);
            cx.rule(RuleId::SynRetransmitted);
            rule = RuleId::ConnectSynToTimeWait;
            state = self.sk(id).state;
        }
        if matches!(state, TcpState::SynSent | TcpState::SynReceived) {
            if nonblocking {
                return (Outcome::Err(Errno::EALREADY), RuleId::ConnectAlready);
            }
            // A blocking connect() waits; the harness stops waiting at its bound.
            return (Outcome::Blocks, rule);
        }
        if state == TcpState::Closed
            && !nonblocking
            && ss == SockState::Unconnected
            && self.sk(id).err.is_none()
            && self.profile.softirqs_wait_for_ksoftirqd()
        {
            // Closed without an error: the connection was established, then closed at once
            // (a FIN it sends or meets). Where softirqs are left to ksoftirqd (before 6.5), the
            // waiting connect() may be woken at ESTABLISHED, before the rest is processed, and
            // return 0 (inet_wait_for_connect(), then the state it finds); or find CLOSE.
            cx.rule(RuleId::ConnectWokenBeforeClose);
            if cx.chooser.choose(2) == 1 {
                self.set_ss(sock, SockState::Connected);
                return (Outcome::Ok, RuleId::ConnectWokenBeforeClose);
            }
        }
        if state == TcpState::Closed {
            // sock_error: the pending error (or ECONNABORTED), then tcp_disconnect().
            let err = self.sk_mut(id).err.take();
            self.set_ss(sock, SockState::Unconnected);
            self.disconnect(id);
            return match err {
                Some(e) => {
                    let r = if ss == SockState::Connecting {
                        RuleId::ConnectPendingError
                    } else if e == Errno::ECONNREFUSED && rule != RuleId::ConnectSynToTimeWait {
                        RuleId::ConnectRefused
                    } else {
                        rule
                    };
                    (Outcome::Err(e), r)
                }
                None => (
                    Outcome::Err(Errno::ECONNABORTED),
                    RuleId::ConnectPendingError,
                ),
            };
        }
        self.set_ss(sock, SockState::Connected);
        let r = if ss == SockState::Connecting {
            RuleId::ConnectCompleted
        } else if cx.rules.contains(&RuleId::ConnectSelf) {
            // No listener took the SYN: the socket met its own (tcp_rcv_synsent_state_process()).
            RuleId::ConnectSelf
        } else {
            rule
        };
        (Outcome::Ok, r)
    }

    /// `tcp_v4_connect()` / `tcp_v6_connect()`: routes, picks the source and the port, and
    /// sends the SYN. On failure the socket is back in CLOSE.
    fn tcp_connect(&mut self, id: SkId, dst: SocketAddr, cx: &mut Cx<'_>) -> Result<RuleId, Res> {
        let sk = self.sk(id).clone();
        let fail = |e: Errno, r: RuleId| Err((Outcome::Err(e), r));
        let mut dst = dst;
        match (sk.family, dst.ip()) {
            (Family::Inet, IpAddr::V6(_)) => {
                return fail(Errno::EAFNOSUPPORT, RuleId::ConnectFamilyMismatch);
            }
            (Family::Inet6, IpAddr::V4(_)) => {
                return fail(Errno::EINVAL, RuleId::ConnectFamilyMismatch);
            }
            _ => {}
        }
        // connect() to the wildcard means loopback (a BSDism kept by Linux).
        if dst.ip().is_unspecified() {
            let lo = if sk.local_is_any() {
                loopback_for(sk.family, dst.ip())
            } else if sk.family == Family::Inet {
                sk.local_ip
            } else {
                loopback_for(sk.family, sk.local_ip)
            };
            dst.set_ip(lo);
        }
        if sk.family == Family::Inet6 && is_mapped(dst.ip()) && sk.opts.v6only {
            return fail(Errno::ENETUNREACH, RuleId::ConnectMappedOnV6Only);
        }
        if sk.family == Family::Inet6 && is_mapped(sk.local_ip) && !is_mapped(dst.ip()) {
            // A v4-mapped source cannot reach a native IPv6 destination.
            return fail(Errno::EAFNOSUPPORT, RuleId::ConnectMappedSource);
        }
        let Some(dst_host) = self.topology.route(sk.host, dst.ip()) else {
            return fail(Errno::ENETUNREACH, RuleId::ConnectSource);
        };
        if dst_host != sk.host && matches!(wire_ip(sk.local_ip), IpAddr::V4(a) if a.is_loopback()) {
            // __mkroute_output(): a loopback source may not leave through a non-loopback
            // device.
            return fail(Errno::EINVAL, RuleId::ConnectLoopbackSource);
        }
        // Source address: the bound one, else the route's (tcp_v4_connect() looks at the IPv4
        // view, so `::ffff:0.0.0.0` also takes the route's).
        let via_v4 = is_mapped(dst.ip()) || sk.family == Family::Inet;
        let unbound_source = if via_v4 {
            sk.saddr_v4.is_unspecified()
        } else {
            sk.local_is_any()
        };
        // A bound socket moves to its new address's group (inet_bhash2_update_saddr()).
        if unbound_source {
            let src = self.source_for(sk.host, sk.family, dst.ip());
            self.tb2_readdress(id, |s| {
                s.local_ip = src;
                if via_v4 {
                    s.saddr_v4 = s.rcv_saddr_v4();
                }
            });
            cx.rule(RuleId::ConnectSource);
        } else if via_v4 && sk.family == Family::Inet6 {
            // tcp_v6_connect() after tcp_v4_connect(): the socket's address becomes the
            // v4-mapped IPv4 source, which for a native IPv6 bind is LOOPBACK4_IPV6.
            self.tb2_readdress(id, |s| {
                s.local_ip = in_family(Family::Inet6, IpAddr::V4(s.saddr_v4));
            });
        }
        if sk.listened && self.profile.connect_after_listen_fails() {
            // Variant connect_after_listen=einval: refused once the source is taken, on the
            // late failure path of tcp_v4_connect() / tcp_v6_connect(): back to CLOSE (a port
            // not bound explicitly is released) and the source reset unless it was bound.
            self.set_closed(id);
            self.connect_failed(id);
            return fail(Errno::EINVAL, RuleId::ConnectAfterListen);
        }
        {
            let s = self.sk_mut(id);
            s.peer = Some(dst);
            s.state = TcpState::SynSent;
            s.timestamps = false;
            s.syn_retransmits = 0;
            s.unacked_since = None;
            s.held = 0;
            s.fin_held = false;
            s.tlp_done = false;
            s.done = false;
            s.fin_sent = false;
            s.fin_acked = false;
            s.syn_early = None;
        }
        let rule = if sk.port != 0 && self.profile.os != crate::profile::Os::Linux {
            // in_pcbconnect_setup(): any PCB on the 4-tuple, TIME-WAIT included: EADDRINUSE.
            match self.check_established(id, sk.port, true, cx) {
                Unique::Free => RuleId::ConnectEstablished,
                Unique::TakeOver(_) | Unique::InUse => {
                    self.connect_failed(id);
                    return fail(Errno::EADDRINUSE, RuleId::BsdConnectTupleInUse);
                }
            }
        } else if sk.port != 0 {
            // An explicitly bound port: one 4-tuple check, no port search.
            match self.check_established(id, sk.port, true, cx) {
                Unique::Free => RuleId::ConnectEstablished,
                Unique::TakeOver(tw) => {
                    self.kill_minisock(tw);
                    cx.rule(RuleId::ConnectTimeWaitTakeover);
                    RuleId::ConnectTimeWaitTakeover
                }
                Unique::InUse => {
                    self.connect_failed(id);
                    return fail(Errno::EADDRNOTAVAIL, RuleId::ConnectTupleInUse);
                }
            }
        } else {
            let found = if self.profile.os == crate::profile::Os::Linux {
                self.hash_connect(id, cx)
            } else {
                self.other_os_hash_connect(id, cx)
            };
            match found {
                Some(r) => r,
                None => {
                    self.connect_failed(id);
                    return fail(Errno::EADDRNOTAVAIL, RuleId::ConnectAutobindExhausted);
                }
            }
        };
        // Both ends of a loopback connection run in namespaces with tcp_timestamps; the peer's
        // setting is checked when its SYN-ACK comes back.
        let ts = self.sysctl(sk.host).tcp_timestamps != 0;
        let (now, span) = (self.now, self.span);
        let s = self.sk_mut(id);
        s.timestamps = ts;
        s.syn_sent_at = now;
        s.syn_sent_span = span;
        s.isn_kept = s.write_seq_set;
        s.write_seq_set = true;
        s.sent_syn = true;
        // tcp_connect_init(), once the port is found: the pending error goes (a connect()
        // that failed before it, EADDRNOTAVAIL, leaves it for the next call).
        s.err = None;
        if sk.family == Family::Inet6 && is_mapped(dst.ip()) {
            self.sk_mut(id).mapped_ops = true;
        } else if sk.mapped_ops && self.profile.mapped_failure_restores_ipv6_path() {
            // Variant mapped_connect_failure=restores_ipv6_path: tcp_disconnect() put the
            // socket back on the IPv6 path before this connect().
            cx.rule(RuleId::ConnectMappedPathRestored);
            self.sk_mut(id).mapped_ops = false;
        } else if sk.mapped_ops {
            // tcp_v6_connect() never restores ipv6_specific after a v4-mapped connect that
            // failed later (RST): this native IPv6 SYN leaves through the IPv4 path and is
            // lost (send() drops it), so the socket waits in SYN-SENT.
            cx.rule(RuleId::ConnectStaleMappedOps);
            self.send(id, Flags::SYN, 0);
            return Ok(RuleId::ConnectStaleMappedOps);
        }
        self.send(id, Flags::SYN, 0);
        Ok(
            if rule == RuleId::ConnectTimeWaitTakeover || rule == RuleId::ConnectTwReuse {
                rule
            } else {
                RuleId::ConnectEstablished
            },
        )
    }

    /// The failure path of `tcp_v4_connect()`: back to CLOSE, source address and peer reset.
    fn connect_failed(&mut self, id: SkId) {
        let s = self.sk_mut(id);
        s.state = TcpState::Closed;
        s.peer = None;
        if !s.addr_lock {
            // inet_bhash2_reset_saddr()
            self.tb2_readdress(id, |s| {
                s.local_ip = s.family.any();
                s.saddr_v4 = std::net::Ipv4Addr::UNSPECIFIED;
            });
        }
    }

    /// The route's source address for `dst` (`ip_route_connect()`): 127.0.0.1 for 127/8 and
    /// `::1` for loopback, the destination itself for the host's other own addresses, and the
    /// host's address on the veth for the other host's addresses.
    pub(super) fn source_for(&self, host: crate::op::Host, family: Family, dst: IpAddr) -> IpAddr {
        let wire = wire_ip(dst);
        let src = if is_loopback(wire) {
            match wire {
                IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            }
        } else if self.topology.is_local(host, wire) {
            wire
        } else {
            self.topology
                .hosts
                .iter()
                .find(|(h, _)| *h == host)
                .and_then(|(_, ips)| ips.iter().copied().find(|a| a.is_ipv4() == wire.is_ipv4()))
                .unwrap_or(wire)
        };
        in_family(family, src)
    }

    /// `__inet_check_established()`: is the 4-tuple of `sk` on `port` unique? With
    /// `explicit` (the port was bound, no search) a minisocket with timestamps is taken over
    /// whatever `tcp_tw_reuse` says; on the autobind path `tcp_twsk_unique()` applies.
    pub(super) fn check_established(
        &self,
        id: SkId,
        port: u16,
        explicit: bool,
        cx: &mut Cx<'_>,
    ) -> Unique {
        let sk = self.sk(id);
        let local = SocketAddr::new(sk.local_ip, port);
        let peer = sk.peer.expect("connecting socket has a peer");
        for (oid, o) in &self.sks {
            if *oid == id || o.host != sk.host || !o.state.is_connected() {
                continue;
            }
            if !o.matches_wire(local, peer) {
                continue;
            }
            // Mutant::ConnectIgnores4Tuple: only TIME-WAITs are looked at.
            if !o.is_minisock() && self.mutated(Mutant::ConnectIgnores4Tuple) {
                continue;
            }
            if o.is_minisock() && self.twsk_unique(id, *oid, explicit, cx) {
                return Unique::TakeOver(*oid);
            }
            return Unique::InUse;
        }
        Unique::Free
    }

    /// `tcp_twsk_unique()`.
    fn twsk_unique(&self, id: SkId, tw: SkId, explicit: bool, cx: &mut Cx<'_>) -> bool {
        let sk = self.sk(id);
        let t = self.sk(tw);
        // Mutant::TwTakeoverWithoutTimestamps: timestamps are not required.
        if !t.timestamps && !self.mutated(Mutant::TwTakeoverWithoutTimestamps) {
            return false;
        }
        if explicit {
            return true;
        }
        let sys = self.sysctl(sk.host);
        let mut reuse = sys.tcp_tw_reuse;
        if t.state == TcpState::FinWait2 {
            reuse = 0;
        }
        // Mutant::TwReuseLoopbackIgnored: 2 acts as 1.
        if reuse == 2 && !self.mutated(Mutant::TwReuseLoopbackIgnored) {
            let lo = t.peer.is_some_and(|p| is_loopback(p.ip())) || is_loopback(t.local_ip);
            if !lo {
                reuse = 0;
            }
        }
        if reuse == 0 {
            return false;
        }
        // The TIME-WAIT's age, as well as the clocks allow: it began within its creating
        // call's span, and this call runs within its own.
        let newest = self.now.saturating_sub(t.tw_entry + t.tw_entry_span);
        let oldest = (self.now + self.span).saturating_sub(t.tw_entry);
        let (old_enough_surely, old_enough_maybe) = if self.profile.has_tw_reuse_delay() {
            // tcp_clock_ms() > tw_entry_stamp + tcp_tw_reuse_delay, on a millisecond clock.
            let delay = u64::from(sys.tcp_tw_reuse_delay_ms);
            (newest > delay + 1, oldest + 1 > delay)
        } else {
            // Before 6.14: a later whole second of the monotonic clock than the last
            // timestamp received; where the second boundary falls is unknown.
            (newest >= 1000, oldest > 0)
        };
        if old_enough_surely {
            true
        } else if old_enough_maybe {
            // Too close to the edge to call: the model follows both possibilities (the first,
            // canonical one: not old enough).
            cx.chooser.choose(2) == 1
        } else {
            false
        }
    }

    /// What `__inet_hash_connect()`'s perturbation is keyed by: the connection's source
    /// address and its destination address and port, as they go on the wire
    /// (`inet_sk_port_offset()`, `inet6_sk_port_offset()`).
    fn autobind_destination(&self, id: SkId) -> AutobindDestination {
        let s = self.sk(id);
        let peer = s.peer.expect("a connecting socket has a peer");
        (wire_ip(s.local_ip), wire_ip(peer.ip()), peer.port())
    }

    /// `__inet_hash_connect()` without a port: the ports connect() may take, even offsets of
    /// the range first; a port is usable when it has no bucket, or its bucket was made by
    /// connect() alone and the 4-tuple is unique there.
    fn hash_connect(&mut self, id: SkId, cx: &mut Cx<'_>) -> Option<RuleId> {
        let host = self.sk(id).host;
        let destination = self.autobind_destination(id);
        let sys = self.sysctl(host).clone();
        let (low, high) = sys.ip_local_port_range;
        let (low, high) = (u32::from(low), u32::from(high) + 1);
        let mut remaining = high - low;
        if remaining > 1 {
            remaining &= !1;
        }
        for parity_offset in [0u32, 1] {
            if parity_offset == 1 && remaining <= 1 {
                break;
            }
            let in_walk = |p: u16| {
                let k = u32::from(p).wrapping_sub(low);
                k < remaining && k % 2 == parity_offset
            };
            // Reserved ports are skipped; a port without a bucket is usable; a port with one
            // is tested (only those need a look, in the walk's order).
            let mut except: std::collections::BTreeSet<u16> = sys
                .ip_local_reserved_ports
                .iter()
                .copied()
                .filter(|&p| in_walk(p))
                .collect();
            let walked = (parity_offset..remaining).step_by(2).count();
            let bucketed: Vec<(u16, bool)> = self
                .buckets
                .range((host, 0)..=(host, u16::MAX))
                .filter(|((_, p), _)| in_walk(*p) && !except.contains(p))
                .map(|((_, p), b)| (*p, b.fastreuse >= 0 || b.fastreuseport >= 0))
                .collect();
            let mut usable_bucketed = 0;
            let mut takeovers = std::collections::BTreeMap::new();
            for &(p, bind_owned) in &bucketed {
                // Mutant::ConnectPortPerConnection: a connect()-bound port is never shared.
                if bind_owned || self.mutated(Mutant::ConnectPortPerConnection) {
                    except.insert(p);
                    continue;
                }
                match self.check_established(id, p, false, cx) {
                    Unique::Free => usable_bucketed += 1,
                    Unique::TakeOver(tw) => {
                        usable_bucketed += 1;
                        takeovers.insert(p, tw);
                    }
                    Unique::InUse => {
                        except.insert(p);
                    }
                }
            }
            let reserved = except.len() - (bucketed.len() - usable_bucketed);
            let unbucketed = walked - reserved - bucketed.len();
            if unbucketed == 0 && usable_bucketed == 0 {
                continue;
            }
            let lo = (low + parity_offset) as u16;
            let hi = (low + remaining - 1) as u16;
            let set = PortSet {
                lo,
                hi,
                parity: Some(u16::from(lo % 2 == 1)),
                except,
            };
            // table_perturb[]: within its 10-second key, this destination's walk starts past
            // the port its last autobind took (and meets it last).
            let last = self.last_autobind.get(&destination).copied();
            let last = last.filter(|&p| in_walk(p));
            let port = cx.pick_port_after(&set, cx.hint.local.map(|a| a.port()), last);
            if last.is_some_and(|p| p != port && set.contains(p)) {
                cx.rule(RuleId::ConnectAutobindMovesOn);
            }
            let tw = takeovers.get(&port).copied();
            let mut rule = RuleId::ConnectAutobind;
            if let Some(tw) = tw {
                self.kill_minisock(tw);
                cx.rule(RuleId::ConnectTwReuse);
                rule = RuleId::ConnectTwReuse;
            }
            if !self.buckets.contains_key(&(host, port)) {
                self.buckets.insert(
                    (host, port),
                    Bucket {
                        fastreuse: -1,
                        fastreuseport: -1,
                        fastuid: 0,
                        fast_family: self.sk(id).family,
                        fast_ip: self.sk(id).local_ip,
                        fast_v6only: false,
                    },
                );
            }
            self.last_autobind.insert(destination, port);
            self.tb2_connect_joins(id, port);
            let s = self.sk_mut(id);
            s.port = port;
            s.bound = true;
            s.connect_bind = true;
            cx.rule(RuleId::ConnectAutobind);
            return Some(rule);
        }
        None
    }

    /// Sends a segment from `sk` to its peer.
    ///
    /// A full AF_INET6 socket still on the IPv4 transmit path (`mapped_ops`) loses whatever it
    /// sends to a native IPv6 peer: `icsk_af_ops->queue_xmit` is `ip_queue_xmit()`.
    pub(super) fn send(&mut self, id: SkId, flags: Flags, data: u32) {
        if self.sk(id).sends_lost() {
            return;
        }
        self.send_raw(id, flags, data);
    }

    /// Sends a segment from `sk` to its peer by the family's own path (a request socket's
    /// SYN-ACK: `tcp_v6_send_synack()`), whatever `icsk_af_ops` says.
    pub(super) fn send_raw(&mut self, id: SkId, flags: Flags, data: u32) {
        let s = self.sk(id);
        let Some(peer) = s.peer else { return };
        let seg = Segment {
            from_host: s.host,
            src: SocketAddr::new(wire_ip(s.local_ip), s.port),
            dst: SocketAddr::new(wire_ip(peer.ip()), peer.port()),
            flags,
            data,
            acks_fin: s.done,
            timestamps: s.timestamps,
            isn_kept: flags.syn && !flags.ack && s.isn_kept,
            stack_reply: false,
        };
        self.queue_segment(seg);
    }
}
