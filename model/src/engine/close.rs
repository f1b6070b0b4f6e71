//! Ending connections: `__tcp_close()`, `inet_shutdown()` / `tcp_shutdown()`,
//! `tcp_disconnect()`, `tcp_done()`, `tcp_time_wait()`, `inet_csk_listen_stop()`, and
//! `SOCK_DESTROY` (`tcp_abort()`).

use super::sock::{Fd, Kind, Sk, SkId, SockState};
use super::timers::Event;
use super::wire::Flags;
use super::{Cx, Model, Res};
use crate::errno::Errno;
use crate::mutant::Mutant;
use crate::op::{How, SockId};
use crate::outcome::Outcome;
use crate::rule::RuleId;
use crate::state::TcpState;
use crate::time::TIME_WAIT_LEN_MS;

/// `tcp_need_reset()`: the states from which an abort sends RST.
fn need_reset(state: TcpState) -> bool {
    matches!(
        state,
        TcpState::Established
            | TcpState::CloseWait
            | TcpState::FinWait1
            | TcpState::FinWait2
            | TcpState::SynReceived
    )
}

impl Model {
    /// Removes a socket from the model altogether (`inet_csk_destroy_sock()`), releasing its
    /// port and its place in a listener's queue.
    pub(super) fn destroy(&mut self, id: SkId) {
        if let Some(l) = self.sk(id).listener
            && let Some(lis) = self.sks.get_mut(&l)
        {
            lis.accept_queue.retain(|c| *c != id);
        }
        let (host, port, bound) = {
            let s = self.sk(id);
            (s.host, s.port, s.bound)
        };
        let group = Self::tb2_key(self.sk(id), port);
        self.sks.remove(&id);
        if bound {
            self.tb2_left(group, id);
            self.release_bucket(host, port);
        }
    }

    /// A request that never completed disappears (`inet_csk_reqsk_queue_drop()`).
    pub(super) fn forget(&mut self, id: SkId) {
        self.destroy(id);
    }

    /// `inet_twsk_deschedule_put()`: a minisocket goes, and its port with it.
    pub(super) fn kill_minisock(&mut self, id: SkId) {
        self.destroy(id);
    }

    /// `tcp_set_state(sk, TCP_CLOSE)`: the port goes back unless it was bound explicitly.
    pub(super) fn set_closed(&mut self, id: SkId) {
        let s = self.sk_mut(id);
        s.state = TcpState::Closed;
        let release = !s.port_lock && s.bound;
        if release {
            self.put_port(id);
        }
    }

    /// `tcp_done()`: CLOSE, both directions shut; an orphan is destroyed.
    pub(super) fn done(&mut self, id: SkId) {
        self.set_closed(id);
        let s = self.sk_mut(id);
        s.shutdown.rcv = true;
        s.shutdown.send = true;
        if s.orphan {
            self.destroy(id);
        }
    }

    /// `tcp_done_with_error()`.
    pub(super) fn done_with_error(&mut self, id: SkId, err: Option<Errno>) {
        self.sk_mut(id).err = err;
        self.done(id);
    }

    /// `tcp_time_wait()`: the socket is replaced by a minisocket in `substate` (TIME-WAIT for
    /// 60 s, or FIN-WAIT-2 for the orphan timeout), unless `tcp_max_tw_buckets` minisockets
    /// exist already; then the full socket is done.
    pub(super) fn time_wait(&mut self, id: SkId, substate: TcpState, cx: &mut Cx<'_>) {
        let s = self.sk(id);
        if substate == TcpState::TimeWait
            && self.profile.os == crate::profile::Os::FreeBsd
            && self.sysctl(s.host).nolocaltimewait
            && s.peer
                .is_some_and(|p| self.topology.is_local(s.host, p.ip()))
        {
            // tcp_twstart(): a local peer and nolocaltimewait: closed, no TIME-WAIT.
            cx.rule(RuleId::FreeBsdNoLocalTimeWait);
            self.done(id);
            return;
        }
        let life = match substate {
            TcpState::TimeWait => self.time_wait_len(s.host),
            _ => u64::from(s.fin_time_s(self.sysctl(s.host).tcp_fin_timeout_s)) * 1000,
        };
        self.time_wait_for(id, substate, life, cx);
    }

    /// How long a TIME-WAIT lasts on `host` (`TCP_TIMEWAIT_LEN` on Linux), whether a full
    /// socket enters it or a FIN-WAIT-2 minisocket gets its FIN.
    pub(super) fn time_wait_len(&self, host: crate::op::Host) -> crate::time::Millis {
        // Mutant::FinTimeoutShortensTimeWait: tcp_fin_timeout taken for TIME-WAIT's length.
        if self.mutated(Mutant::FinTimeoutShortensTimeWait) {
            return u64::from(self.sysctl(host).tcp_fin_timeout_s) * 1000;
        }
        super::os::time_wait_len(self.profile.os, self.sysctl(host))
    }

    /// [`Self::time_wait`] with the minisocket's lifetime given (`inet_twsk_schedule()`).
    pub(super) fn time_wait_for(
        &mut self,
        id: SkId,
        substate: TcpState,
        life: crate::time::Millis,
        cx: &mut Cx<'_>,
    ) {
        let s = self.sk(id).clone();
        let count = self
            .sks
            .values()
            .filter(|o| o.host == s.host && o.is_minisock())
            .count();
        let max = self.sysctl(s.host).tcp_max_tw_buckets as usize;
        // Mutant::MaxTwBucketsIgnored: no limit.
        if count >= max && !self.mutated(Mutant::MaxTwBucketsIgnored) {
            cx.rule(RuleId::TimeWaitOverflow);
        } else {
            let now = self.now;
            // inet_twsk_alloc(): the minisocket keeps addresses, reuse flags, owner uid and
            // cookie of the socket it came from, and takes its place on the port.
            let mut tw = Sk {
                kind: Kind::Minisock,
                state: substate,
                bound: s.port != 0,
                listener: None,
                accept_queue: Vec::new(),
                rx: 0,
                rx_fin: false,
                orphan: true,
                since: now,
                timer: None,
                tw_entry: now,
                tw_entry_span: self.span,
                ..s
            };
            if self.mutated(Mutant::TimeWaitDropsReuseFlags) {
                // Mutant::TimeWaitDropsReuseFlags: the flags are not copied.
                tw.opts.reuseaddr = false;
                tw.opts.reuseport = false;
            }
            let tw = self.new_sk(tw);
            self.arm(tw, life, Event::MinisockExpires);
        }
        self.done(id);
    }

    /// What `tcp_rcv_state_process()` and `__tcp_close()` do when an orphan reaches
    /// FIN-WAIT-2. Returns true when the socket is gone.
    pub(super) fn orphan_reaches_fin_wait2(
        &mut self,
        id: SkId,
        fin_too: bool,
        cx: &mut Cx<'_>,
    ) -> bool {
        let s = self.sk(id);
        let os = self.profile.os;
        if os != crate::profile::Os::Linux {
            if fin_too {
                return false;
            }
            let sys = self.sysctl(s.host);
            match os {
                crate::profile::Os::FreeBsd => {
                    // tcp_timer_2msl(): finwait2_timeout with fast recycle, else tcp_maxidle
                    // (keepcnt 8 × keepintvl 75 s) of idleness (loopback: no segments after).
                    let tmo = if sys.fast_finwait2_recycle {
                        u64::from(sys.finwait2_timeout_ms)
                    } else {
                        8 * 75_000
                    };
                    self.arm(id, tmo, Event::OrphanFinWait2);
                    cx.rule(RuleId::FreeBsdOrphanFinWait2);
                }
                crate::profile::Os::MacOs => {
                    // tcp_set_finwait_timeout(): net.inet.tcp.fin_timeout, 60 s.
                    self.arm(id, 60_000, Event::OrphanFinWait2);
                    cx.rule(RuleId::MacOsOrphanFinWait2);
                }
                _ => {
                    // Windows: Microsoft does not document the FIN-WAIT-2 timeout.
                    cx.rule(RuleId::NotModelled);
                }
            }
            return false;
        }
        if s.opts.linger2 < 0 {
            // TCP_LINGER2 < 0: abort at once, with RST.
            cx.rule(RuleId::CloseLinger2Negative);
            self.send(id, Flags::RST, 0);
            self.done(id);
            return true;
        }
        let tmo = s.fin_time_s(self.sysctl(s.host).tcp_fin_timeout_s);
        if fin_too {
            // The FIN that came with the ACK is processed next: TIME-WAIT.
            return false;
        }
        if u64::from(tmo) * 1000 > TIME_WAIT_LEN_MS {
            // Longer than TIME-WAIT: a keepalive-style timer on the full socket first.
            self.arm(
                id,
                u64::from(tmo) * 1000 - TIME_WAIT_LEN_MS,
                Event::OrphanFinWait2,
            );
            cx.rule(RuleId::CloseOrphanFinWait2);
            return false;
        }
        cx.rule(RuleId::CloseOrphanFinWait2);
        if self.mutated(Mutant::OrphanFinWait2Dropped) {
            // Mutant::OrphanFinWait2Dropped: freed at once.
            self.done(id);
            return true;
        }
        self.time_wait(id, TcpState::FinWait2, cx);
        true
    }

    /// `inet_csk_listen_stop()`: every connection in the queue is disconnected (RST) and freed.
    fn listen_stop(&mut self, id: SkId) {
        let queue = std::mem::take(&mut self.sk_mut(id).accept_queue);
        let requests: Vec<SkId> = self
            .sks
            .iter()
            .filter(|(_, s)| s.listener == Some(id) && s.state == TcpState::SynReceived)
            .map(|(c, _)| *c)
            .collect();
        for child in queue {
            let state = self.sk(child).state;
            // Mutant::ListenerCloseSparesQueue: no RST to the clients.
            if need_reset(state) && !self.mutated(Mutant::ListenerCloseSparesQueue) {
                self.send(child, Flags::RST, 0);
            }
            self.destroy(child);
        }
        for req in requests {
            self.destroy(req);
        }
    }

    /// `tcp_disconnect()`: back to a fresh, possibly still bound, CLOSED socket.
    pub(super) fn disconnect(&mut self, id: SkId) {
        let old = self.sk(id).state;
        self.sk_mut(id).write_seq_set = true;
        if need_reset(old) {
            // The RST leaves from the old port (inet_sport outlives inet_num).
            self.send(id, Flags::RST, 0);
        }
        if old != TcpState::Closed {
            self.set_closed(id);
        }
        if old == TcpState::Listen {
            self.listen_stop(id);
        } else if need_reset(old) || old == TcpState::SynSent {
            self.sk_mut(id).err = Some(Errno::ECONNRESET);
        }
        let s = self.sk_mut(id);
        s.rx = 0;
        s.rx_fin = false;
        s.done = false;
        s.shutdown = Default::default();
        s.fin_sent = false;
        s.fin_acked = false;
        s.peer = None;
        s.timestamps = false;
        s.timer = None;
        if !s.addr_lock {
            // inet_bhash2_reset_saddr()
            self.tb2_readdress(id, |s| {
                s.local_ip = s.family.any();
                s.saddr_v4 = std::net::Ipv4Addr::UNSPECIFIED;
            });
        }
    }

    /// [`Self::close_state`] for the other modules.
    pub(super) fn close_state_pub(&mut self, id: SkId, cx: &mut Cx<'_>) -> bool {
        self.close_state(id, cx)
    }

    /// `tcp_close_state()`: the state after a close or SHUT_WR, and whether to send FIN.
    fn close_state(&mut self, id: SkId, cx: &mut Cx<'_>) -> bool {
        let s = self.sk_mut(id);
        let (next, fin) = match s.state {
            TcpState::Established | TcpState::SynReceived => (TcpState::FinWait1, true),
            TcpState::CloseWait => (TcpState::LastAck, true),
            TcpState::SynSent | TcpState::Listen | TcpState::Closed => (TcpState::Closed, false),
            other => (other, false),
        };
        if next == TcpState::Closed {
            self.set_closed(id);
        } else {
            s.state = next;
        }
        if fin {
            self.sk_mut(id).fin_sent = true;
            let held = self.fin_held(id, cx);
            self.note_tx(id);
            if !held {
                self.send(id, Flags::FIN, 0);
            }
        }
        fin
    }

    /// `close(2)`: `__tcp_close()`.
    pub(super) fn op_close(&mut self, sock: SockId, cx: &mut Cx<'_>) -> Res {
        let id = match self.fds.get(&sock) {
            Some(Fd::Open { sk, .. }) => *sk,
            _ => return (Outcome::Err(Errno::EBADF), RuleId::FdClosed),
        };
        self.fds.insert(sock, Fd::Closed);
        let old = self.sk(id).state;
        {
            let s = self.sk_mut(id);
            s.shutdown.rcv = true;
            s.shutdown.send = true;
        }
        if self.sk(id).rx > 0 {
            match self.profile.os {
                crate::profile::Os::FreeBsd => {
                    // tcp_usr_close() → tcp_disconnect(): the data is dropped, FIN is sent.
                    self.sk_mut(id).rx = 0;
                    cx.rule(RuleId::FreeBsdCloseUnreadData);
                }
                crate::profile::Os::Windows => {
                    // Not in Microsoft's documentation: refused (the FIN path is followed).
                    self.sk_mut(id).rx = 0;
                    cx.rule(RuleId::NotModelled);
                }
                crate::profile::Os::Linux | crate::profile::Os::MacOs => {}
            }
        }
        let rule;
        if old == TcpState::Listen {
            self.set_closed(id);
            self.listen_stop(id);
            rule = RuleId::CloseListener;
        } else if self.sk(id).rx > 0 && !self.mutated(Mutant::UnreadCloseSendsFin) {
            // (Mutant::UnreadCloseSendsFin skips this branch.)
            // Unread data: RST instead of FIN (TCPAbortOnClose).
            if old.is_connected() {
                self.send(id, Flags::RST, 0);
            }
            self.set_closed(id);
            rule = RuleId::CloseUnreadData;
        } else if self.sk(id).opts.linger == Some(0)
            && !self.mutated(Mutant::LingerZeroLeavesTimeWait)
        {
            // (Mutant::LingerZeroLeavesTimeWait skips this branch.)
            // SO_LINGER {on, 0}: tcp_disconnect(), RST from synchronized states.
            if need_reset(old) {
                self.send(id, Flags::RST, 0);
            }
            self.set_closed(id);
            rule = RuleId::CloseLingerZero;
        } else if self.close_state(id, cx) {
            rule = if old == TcpState::CloseWait {
                RuleId::ClosePassive
            } else {
                RuleId::CloseActive
            };
        } else {
            rule = match old {
                TcpState::Closed | TcpState::SynSent => RuleId::CloseUnbound,
                _ => RuleId::CloseKeepsState,
            };
        }
        // sock_orphan(): from here on the socket belongs to nobody.
        self.sk_mut(id).orphan = true;
        self.deliver_all(cx);
        if !self.sks.contains_key(&id) {
            return (Outcome::Ok, rule);
        }
        match self.sk(id).state {
            TcpState::Closed => self.destroy(id),
            TcpState::FinWait2 if self.sk(id).is_minisock() => {}
            TcpState::FinWait2 if old == TcpState::FinWait2 => {
                // Already in FIN-WAIT-2 when closed (SHUT_WR earlier, FIN acknowledged).
                self.orphan_reaches_fin_wait2(id, false, cx);
            }
            _ => {}
        }
        (Outcome::Ok, rule)
    }

    /// `shutdown(2)`: `inet_shutdown()` and `tcp_shutdown()`.
    pub(super) fn op_shutdown(&mut self, id: SkId, sock: SockId, how: How, cx: &mut Cx<'_>) -> Res {
        let (ss, _) = self.fd_state(sock);
        let state = self.sk(id).state;
        if ss == SockState::Connecting {
            let next = if matches!(
                state,
                TcpState::SynSent | TcpState::SynReceived | TcpState::Closed
            ) {
                SockState::Disconnecting
            } else {
                SockState::Connected
            };
            self.set_ss(sock, next);
        }
        match state {
            TcpState::Listen => {
                if !how.shuts_rd() {
                    return (Outcome::Ok, RuleId::ShutdownListener);
                }
                self.disconnect(id);
                self.set_ss(sock, SockState::Unconnected);
                (Outcome::Ok, RuleId::ShutdownListener)
            }
            TcpState::SynSent => {
                self.disconnect(id);
                self.set_ss(sock, SockState::Unconnected);
                (Outcome::Ok, RuleId::ShutdownSynSent)
            }
            _ => {
                let s = self.sk_mut(id);
                s.shutdown.rcv |= how.shuts_rd();
                s.shutdown.send |= how.shuts_wr();
                if state == TcpState::Closed {
                    return (Outcome::Err(Errno::ENOTCONN), RuleId::ShutdownNotConn);
                }
                if how.shuts_wr()
                    && matches!(
                        state,
                        TcpState::Established | TcpState::SynReceived | TcpState::CloseWait
                    )
                {
                    self.close_state(id, cx);
                    return (Outcome::Ok, RuleId::ShutdownWr);
                }
                (
                    Outcome::Ok,
                    if how.shuts_wr() {
                        RuleId::ShutdownWr
                    } else {
                        RuleId::ShutdownRd
                    },
                )
            }
        }
    }

    /// `SOCK_DESTROY` of every row carrying `sock`'s cookie (`tcp_abort()` with ECONNABORTED,
    /// or the removal of a minisocket): the socket itself and the TIME-WAIT of an earlier
    /// connection of the same socket, which kept its cookie (`inet_twsk_alloc()`), as `ss -K`
    /// kills every row its filter matches.
    pub(super) fn op_destroy(&mut self, sock: SockId, cx: &mut Cx<'_>) -> Res {
        let targets: Vec<SkId> = self
            .sks
            .iter()
            .filter(|(_, s)| s.owner == Some(sock) && s.listener.is_none())
            .filter(|(_, s)| s.is_minisock() || s.state != TcpState::Closed)
            .map(|(id, _)| *id)
            .collect();
        if targets.is_empty() {
            return (Outcome::Err(Errno::ENOENT), RuleId::DestroyNoRow);
        }
        let mut destroyed = 0;
        let mut missed = false;
        for id in targets {
            if self.in_reuseport_group(id) {
                // The lookup by address picks a member by a hash salted per namespace
                // (inet_lookup_reuseport(), inet_ehashfn()): this one, or another whose cookie
                // does not match.
                cx.rule(RuleId::DestroyReuseportLookup);
                if cx.chooser.choose(2) == 1 {
                    missed = true;
                    continue;
                }
            }
            destroyed += 1;
            if self.sk(id).is_minisock() {
                self.kill_minisock(id);
                continue;
            }
            let state = self.sk(id).state;
            if need_reset(state) {
                self.send(id, Flags::RST, 0);
            }
            if state == TcpState::Listen {
                self.set_closed(id);
                self.listen_stop(id);
            }
            self.done_with_error(id, Some(Errno::ECONNABORTED));
        }
        if destroyed == 0 && missed {
            return (Outcome::Err(Errno::ENOENT), RuleId::DestroyReuseportLookup);
        }
        (Outcome::Ok, RuleId::DestroyOk)
    }

    /// Whether `id` is a listener with at least one other member in its SO_REUSEPORT group:
    /// listening on the same address and port, of the same family and owner
    /// (`inet_reuseport_add_sock()`).
    fn in_reuseport_group(&self, id: SkId) -> bool {
        let s = self.sk(id);
        s.state == TcpState::Listen
            && s.opts.reuseport
            && self.sks.iter().any(|(other, o)| {
                *other != id
                    && o.state == TcpState::Listen
                    && o.opts.reuseport
                    && o.host == s.host
                    && o.family == s.family
                    && o.uid == s.uid
                    && o.port == s.port
                    && o.local_ip == s.local_ip
            })
    }
}
