//! `accept()`, `send()` and `recv()`: `inet_csk_accept()`, `tcp_sendmsg_locked()`,
//! `tcp_recvmsg_locked()`.

use super::sock::{Fd, SkId, SockState};
use super::wire::Flags;
use super::{Cx, Model, Res};
use crate::addr::wire_ip;
use crate::errno::Errno;
use crate::op::SockId;
use crate::outcome::Outcome;
use crate::rule::RuleId;
use crate::state::TcpState;

impl Model {
    /// `accept(2)`.
    pub(super) fn op_accept(
        &mut self,
        id: SkId,
        listener: SockId,
        new: SockId,
        cx: &mut Cx<'_>,
    ) -> Res {
        let (_, nonblocking) = self.fd_state(listener);
        if self.sk(id).state != TcpState::Listen {
            return (Outcome::Err(Errno::EINVAL), RuleId::AcceptNotListening);
        }
        if self.sk(id).accept_queue.is_empty() && !nonblocking {
            self.resend_early_syns_to(id, cx);
        }
        if self.sk(id).accept_queue.is_empty() {
            let outcome = if nonblocking {
                Outcome::Err(Errno::EAGAIN)
            } else {
                Outcome::Blocks
            };
            return (outcome, RuleId::AcceptEmpty);
        }
        let child = self.sk_mut(id).accept_queue.remove(0);
        // A name given again leaves the old descriptor open and nameless.
        let _ = cx;
        let c = self.sk_mut(child);
        c.listener = None;
        c.owner = Some(new);
        // A connection that reached TIME-WAIT while queued left a minisocket with its cookie
        // (inet_twsk_alloc() copies sk_cookie): the accepted name finds it (destroy()).
        let (host, ip, peer, port) = (c.host, c.local_ip, c.peer, self.sk(id).port);
        for t in self.sks.values_mut() {
            let same = t.host == host && t.local_ip == ip && t.port == port && t.peer == peer;
            if t.is_minisock() && t.owner.is_none() && same {
                t.owner = Some(new);
            }
        }
        self.fds.insert(
            new,
            Fd::Open {
                sk: child,
                ss: SockState::Connected,
                nonblocking: false,
            },
        );
        (Outcome::Ok, RuleId::AcceptOk)
    }

    /// `accept(l1|l2|…)`: from the first listed listener with a connection in its accept
    /// queue (what poll() reports as readable); when none has one, as accept() on the first.
    pub(super) fn op_accept_any(
        &mut self,
        listeners: &[SockId],
        new: SockId,
        cx: &mut Cx<'_>,
    ) -> Res {
        let ready = listeners.iter().copied().find(|l| match self.fds.get(l) {
            Some(Fd::Open { sk, .. }) => {
                let sk = self.sk(*sk);
                sk.state == TcpState::Listen && !sk.accept_queue.is_empty()
            }
            _ => false,
        });
        match ready.or_else(|| listeners.first().copied()) {
            Some(l) => self.with_fd(l, |m, sk, fd| m.op_accept(sk, fd, new, cx)),
            None => (Outcome::Err(Errno::EBADF), RuleId::FdClosed),
        }
    }

    /// While a blocking accept() on the listener `id` waits (up to the harness's bound), a
    /// client whose SYN a TIME-WAIT answered with an ACK sends it again after
    /// `TCP_TIMEOUT_MIN` (tcp_rcv_synsent_state_process()); the TIME-WAIT gone (reset by the
    /// client's RST), the SYN reaches the listener and accept() returns the connection. In
    /// lock-step the resend may also come after the harness stopped waiting: a choice.
    fn resend_early_syns_to(&mut self, id: SkId, cx: &mut Cx<'_>) {
        let l = self.sk(id);
        let (host, port, ip) = (l.host, l.port, l.local_ip);
        let bound = self.now + crate::time::BLOCKING_BOUND_MS;
        let waiting: Vec<SkId> = self
            .sks
            .iter()
            .filter(|(_, s)| {
                s.state == TcpState::SynSent && s.syn_early.is_some_and(|at| at <= bound)
            })
            .filter(|(_, s)| {
                s.peer.is_some_and(|p| {
                    p.port() == port
                        && self.topology.route(s.host, p.ip()) == Some(host)
                        && (ip.is_unspecified() || wire_ip(ip) == wire_ip(p.ip()))
                })
            })
            .map(|(sid, _)| *sid)
            .collect();
        if waiting.is_empty() || (cx.hint.clock.is_some() && cx.chooser.choose(2) == 1) {
            return;
        }
        for w in waiting {
            let s = self.sk_mut(w);
            s.syn_early = None;
            s.syn_retransmits += 1;
            self.send(w, Flags::SYN, 0);
        }
        self.deliver_all(cx);
        cx.rule(RuleId::SynRetransmitted);
    }

    /// `send(2)` with `MSG_NOSIGNAL`.
    pub(super) fn op_send(&mut self, id: SkId, sock: SockId, len: u32, cx: &mut Cx<'_>) -> Res {
        let (_, nonblocking) = self.fd_state(sock);
        let state = self.sk(id).state;
        if !matches!(state, TcpState::Established | TcpState::CloseWait) {
            // sk_stream_wait_connect().
            if let Some(e) = self.sk_mut(id).err.take() {
                return (Outcome::Err(e), RuleId::SendPendingError);
            }
            if !matches!(state, TcpState::SynSent | TcpState::SynReceived) {
                return (Outcome::Err(Errno::EPIPE), RuleId::SendPipe);
            }
            let outcome = if nonblocking {
                Outcome::Err(Errno::EAGAIN)
            } else {
                Outcome::Blocks
            };
            return (outcome, RuleId::SendWaitConnect);
        }
        if self.sk(id).err.is_some() || self.sk(id).shutdown.send {
            // sk_stream_error(): a pending error wins over EPIPE.
            return match self.sk_mut(id).err.take() {
                Some(e) => (Outcome::Err(e), RuleId::SendPendingError),
                None => (Outcome::Err(Errno::EPIPE), RuleId::SendPipe),
            };
        }
        if len == 0 {
            return (Outcome::Ok, RuleId::SendOk);
        }
        let held = self.queue_if_held(id, len, cx);
        self.note_tx(id);
        if !held {
            self.send(id, Flags::ACK, len);
        }
        (Outcome::Bytes(len), RuleId::SendOk)
    }

    /// `recv(2)`.
    pub(super) fn op_recv(&mut self, id: SkId, sock: SockId, len: u32, cx: &mut Cx<'_>) -> Res {
        let _ = cx;
        let (_, nonblocking) = self.fd_state(sock);
        let s = self.sk(id);
        if s.state == TcpState::Listen {
            return (Outcome::Err(Errno::ENOTCONN), RuleId::RecvNotConn);
        }
        if len == 0 {
            return (Outcome::Ok, RuleId::RecvData);
        }
        if s.rx > 0 {
            let n = s.rx.min(len);
            let s = self.sk_mut(id);
            s.rx -= n;
            // A FIN that arrived behind data was coalesced onto the last data skb
            // (tcp_try_coalesce()), so the read that takes the last byte also takes the FIN
            // (found_fin_ok), whatever room is left.
            if s.rx == 0 && s.rx_fin {
                s.rx_fin = false;
            }
            return (Outcome::Bytes(n), RuleId::RecvData);
        }
        if s.rx_fin {
            self.sk_mut(id).rx_fin = false;
            return (Outcome::Eof, RuleId::RecvEof);
        }
        if s.done {
            return (Outcome::Eof, RuleId::RecvEof);
        }
        if s.err.is_some() {
            let e = self.sk_mut(id).err.take().expect("checked");
            return (Outcome::Err(e), RuleId::RecvPendingError);
        }
        if s.shutdown.rcv {
            return (Outcome::Eof, RuleId::RecvEof);
        }
        if s.state == TcpState::Closed {
            return (Outcome::Err(Errno::ENOTCONN), RuleId::RecvNotConn);
        }
        let outcome = if nonblocking {
            Outcome::Err(Errno::EAGAIN)
        } else {
            Outcome::Blocks
        };
        (outcome, RuleId::RecvWouldBlock)
    }
}
