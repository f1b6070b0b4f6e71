//! Test-bench actions (a peer that vanishes, a peer that reboots) and the timers that only run
//! against a peer that no longer answers: keepalive, TCP_USER_TIMEOUT, SYN retransmissions.
//!
//! Against a peer that answers, these timers change nothing a call or the socket table shows
//! (keepalive probes are answered, retransmissions are not needed), so the model arms them only
//! when the connection's incoming segments are dropped.

use std::net::SocketAddr;

use super::sock::{Fd, Kind, SkId};
use super::timers::{Deadline, Event, wheel_slack};
use super::{Model, Res};
use crate::addr::wire_ip;
use crate::errno::Errno;
use crate::op::{Host, SockId};
use crate::outcome::Outcome;
use crate::rule::RuleId;
use crate::state::TcpState;
use crate::time::Millis;

/// Where incoming segments are dropped: at `host`, for `local`, from `peer` (any when `None`).
pub(crate) type Drop = (Host, SocketAddr, Option<SocketAddr>);

impl Model {
    /// The socket's current connection (as wire addresses), as `getsockname`/`getpeername`
    /// would give it: only in a synchronized state.
    pub(super) fn tuple_of(&self, id: SkId) -> Option<(Host, SocketAddr, SocketAddr)> {
        let s = self.sk(id);
        if matches!(
            s.state,
            TcpState::Closed | TcpState::SynSent | TcpState::Listen
        ) {
            return None;
        }
        let peer = s.peer?;
        Some((
            s.host,
            SocketAddr::new(wire_ip(s.local_ip), s.port),
            SocketAddr::new(wire_ip(peer.ip()), peer.port()),
        ))
    }

    /// Remembers each named socket's last connection (what `peer_vanishes` and `peer_reboots`
    /// act on after a close, as the harness does).
    pub(super) fn remember_tuples(&mut self, socks: &[SockId]) {
        for sock in socks {
            if let Some(Fd::Open { sk, .. }) = self.fds.get(sock)
                && let Some(t) = self.tuple_of(*sk)
            {
                self.last_tuple.insert(*sock, t);
            }
        }
    }

    /// Whether segments arriving at `host` for `local` from `peer` are dropped.
    pub(super) fn dropped(&self, host: Host, local: SocketAddr, peer: SocketAddr) -> bool {
        self.vanished
            .iter()
            .any(|(h, l, p)| *h == host && *l == local && p.is_none_or(|p| p == peer))
    }

    /// `peer_vanishes(sock)`: from now on, drop what arrives for the socket's connection (its
    /// current one, else its last), or, when it has none, for its bound address and port.
    pub(super) fn op_peer_vanishes(&mut self, sock: SockId) -> Res {
        let open = match self.fds.get(&sock) {
            Some(Fd::Open { sk, .. }) => Some(*sk),
            Some(Fd::Closed) => None,
            None => return (Outcome::Err(Errno::EBADF), RuleId::FdClosed),
        };
        let current = open.and_then(|sk| self.tuple_of(sk));
        let drop: Option<Drop> = match (current, self.last_tuple.get(&sock)) {
            (Some((h, l, p)), _) | (None, Some(&(h, l, p))) => Some((h, l, Some(p))),
            (None, None) => open.and_then(|sk| {
                let s = self.sk(sk);
                (s.port != 0).then(|| (s.host, SocketAddr::new(wire_ip(s.local_ip), s.port), None))
            }),
        };
        let Some(drop) = drop else {
            return (Outcome::Err(Errno::EINVAL), RuleId::PeerVanished);
        };
        self.vanished.insert(drop);
        (Outcome::Ok, RuleId::PeerVanished)
    }

    /// `peer_reboots(sock)`: the far end of the socket's connection is gone without a word.
    pub(super) fn op_peer_reboots(&mut self, sock: SockId) -> Res {
        let open = match self.fds.get(&sock) {
            Some(Fd::Open { sk, .. }) => Some(*sk),
            Some(Fd::Closed) => None,
            None => return (Outcome::Err(Errno::EBADF), RuleId::FdClosed),
        };
        let tuple = open
            .and_then(|sk| self.tuple_of(sk))
            .or_else(|| self.last_tuple.get(&sock).copied());
        let Some((host, local, peer)) = tuple else {
            return (Outcome::Err(Errno::EINVAL), RuleId::PeerRebooted);
        };
        let Some(peer_host) = self.topology.route(host, peer.ip()) else {
            return (Outcome::Err(Errno::EINVAL), RuleId::PeerRebooted);
        };
        let far = self
            .sks
            .iter()
            .find(|(_, s)| {
                s.host == peer_host && s.state.is_connected() && s.matches_wire(peer, local)
            })
            .map(|(id, _)| *id);
        if let Some(far) = far {
            if self.sk(far).is_minisock() {
                self.kill_minisock(far);
            } else {
                // Gone like SOCK_DESTROY, but the RST it would send is lost with the host.
                self.in_flight.clear();
                self.sk_mut(far).err = Some(Errno::ECONNABORTED);
                self.silently_done(far);
            }
        }
        (Outcome::Ok, RuleId::PeerRebooted)
    }

    /// `tcp_done()` without a word on the wire.
    fn silently_done(&mut self, id: SkId) {
        let s = self.sk_mut(id);
        s.state = TcpState::Closed;
        s.shutdown.rcv = true;
        s.shutdown.send = true;
        s.timer = None;
        let release = !s.port_lock && s.bound;
        let orphan = s.orphan || s.listener.is_some();
        if release {
            self.put_port(id);
        }
        if orphan {
            self.destroy(id);
        }
    }

    /// Re-arms the timers that run against a silent peer, from the sockets' current state:
    /// SYN retransmissions, TCP_USER_TIMEOUT over unacknowledged data, keepalive.
    pub(super) fn refresh_silent_peer_timers(&mut self) {
        let ids: Vec<SkId> = self.sks.keys().copied().collect();
        for id in ids {
            let s = self.sk(id);
            if s.kind != Kind::Full
                || matches!(s.timer.map(|t| t.event), Some(Event::OrphanFinWait2))
            {
                continue;
            }
            let want = self.silent_peer_deadline(id);
            let s = self.sk_mut(id);
            match (s.timer, want) {
                // Keep a running timer whose deadline did not move (its slack stays).
                (Some(cur), Some(new)) if cur.event == new.event && cur.at == new.at => {}
                (_, new) => s.timer = new,
            }
        }
    }

    /// Whether nothing answers the socket: its incoming segments are dropped.
    fn unanswered(&self, id: SkId) -> bool {
        let s = self.sk(id);
        let Some(peer) = s.peer else { return false };
        let local = SocketAddr::new(wire_ip(s.local_ip), s.port);
        let peer = SocketAddr::new(wire_ip(peer.ip()), peer.port());
        self.dropped(s.host, local, peer)
    }

    /// The deadline of whatever will end a connection whose peer stays silent.
    fn silent_peer_deadline(&self, id: SkId) -> Option<Deadline> {
        let s = self.sk(id);
        let hz = self.profile.hz();
        let sys = self.sysctl(s.host);
        match s.state {
            TcpState::SynSent => {
                // The SYN was not answered: the next retransmission (or the give-up).
                let expiries =
                    syn_expiries(sys.tcp_syn_retries, self.profile.syn_linear_timeouts());
                let k = (s.syn_retransmits as usize).min(expiries.len() - 1);
                if let Some(at) = s.syn_early {
                    let slack = wheel_slack(crate::time::TIMEOUT_MIN_MS, hz) + s.syn_sent_span;
                    return Some(Deadline {
                        at,
                        slack,
                        event: Event::SynRetransmit,
                    });
                }
                let at = s.syn_sent_at + expiries[k];
                // Every retransmission timer may run late; allow a tenth on top.
                let slack =
                    wheel_slack(1000, hz) * (k as u64 + 1) + expiries[k] / 10 + s.syn_sent_span;
                Some(Deadline {
                    at,
                    slack,
                    event: Event::SynRetransmit,
                })
            }
            TcpState::Established
            | TcpState::CloseWait
            | TcpState::FinWait1
            | TcpState::FinWait2
            | TcpState::Closing
            | TcpState::LastAck
                if self.unanswered(id) =>
            {
                if let Some(since) = s.unacked_since {
                    // Retransmissions time out after TCP_USER_TIMEOUT; without it after
                    // tcp_retries2 (about 15 minutes), which no lane waits for.
                    let ut = u64::from(s.opts.user_timeout);
                    return (ut > 0).then(|| Deadline {
                        at: since + ut,
                        // The retransmission timer is clamped to the user timeout, but the
                        // check may run up to one RTO late (measured: +0.42 s on 2 s).
                        slack: 600 + s.unacked_span,
                        event: Event::UserTimeout,
                    });
                }
                if !s.opts.keepalive {
                    return None;
                }
                let idle = u64::from(if s.opts.keepidle > 0 {
                    s.opts.keepidle
                } else {
                    sys.tcp_keepalive_time_s
                }) * 1000;
                let intvl = u64::from(if s.opts.keepintvl > 0 {
                    s.opts.keepintvl
                } else {
                    sys.tcp_keepalive_intvl_s
                }) * 1000;
                let cnt = u64::from(if s.opts.keepcnt > 0 {
                    s.opts.keepcnt
                } else {
                    sys.tcp_keepalive_probes
                });
                // tcp_keepalive_timer(): the first probe once the connection has been idle
                // `idle` since the timer was armed and since the last segment arrived; then one
                // every `intvl`; dead after `cnt` unanswered probes, or, with
                // TCP_USER_TIMEOUT, at the first probe time past it.
                let first = s.ka_check_at.max(s.last_rx + idle);
                let ut = u64::from(s.opts.user_timeout);
                let probes = if ut > 0 {
                    let mut k = 1;
                    while first + k * intvl < s.last_rx + ut {
                        k += 1;
                    }
                    k
                } else {
                    cnt
                };
                let at = first + probes * intvl;
                let slack = wheel_slack(idle, hz) + probes * wheel_slack(intvl, hz) + s.ka_span;
                Some(Deadline {
                    at,
                    slack,
                    event: Event::KeepaliveDeath,
                })
            }
            _ => None,
        }
    }

    /// Notes a segment arriving at `id` (keepalive idleness counts from the last one).
    pub(super) fn note_rx(&mut self, id: SkId) {
        let (now, span) = (self.now, self.span);
        let s = self.sk_mut(id);
        s.last_rx = now;
        s.ka_span = s.ka_span.max(span);
    }

    /// Notes data sent by `id` that its peer may not acknowledge.
    pub(super) fn note_tx(&mut self, id: SkId) {
        let (now, span) = (self.now, self.span);
        if self.unanswered(id) {
            let s = self.sk_mut(id);
            if s.unacked_since.is_none() {
                s.unacked_since = Some(now);
                s.unacked_span = span;
            }
        }
    }

    /// Notes the keepalive timer being armed on `id` for `idle` from now (SO_KEEPALIVE, or a
    /// connection established with keepalive on), or, with `idle` 0, re-armed to check at once
    /// against the new idle time (TCP_KEEPIDLE, `tcp_sock_set_keepidle_locked()`).
    pub(super) fn note_keepalive_armed(&mut self, id: SkId, rearm: bool) {
        let (now, span) = (self.now, self.span);
        let sys_idle = self.sysctl(self.sk(id).host).tcp_keepalive_time_s;
        let s = self.sk_mut(id);
        let idle = u64::from(if s.opts.keepidle > 0 {
            s.opts.keepidle
        } else {
            sys_idle
        }) * 1000;
        s.ka_check_at = if rearm { now } else { now + idle };
        s.ka_span = span;
    }
}

/// The times (since the first SYN) at which the SYN-SENT retransmission timer fires: a
/// retransmission at each but the last, where connect() gives up.
pub(crate) fn syn_expiries(limit: u32, linear: u32) -> Vec<Millis> {
    let give_up = syn_give_up_ms(limit, linear);
    let (mut t, mut rto, mut retransmits, mut out) = (0u64, 1000u64, 0u32, Vec::new());
    while t < give_up {
        t += rto;
        out.push(t);
        retransmits += 1;
        if retransmits > linear {
            rto = (rto * 2).min(120_000);
        }
    }
    out
}

/// When connect() gives up on a SYN nobody answers (`tcp_write_timeout()` in SYN-SENT): at the
/// first retransmission timer that finds either `limit + linear` retransmissions done or
/// (2^(limit+1) − 1) s elapsed (`tcp_model_timeout()`, initial RTO 1 s). The first `linear`
/// retransmissions keep the 1 s RTO (6.5+, `tcp_syn_linear_timeouts`); then it doubles.
pub(crate) fn syn_give_up_ms(limit: u32, linear: u32) -> Millis {
    let model_timeout: Millis = if limit <= 7 {
        ((2u64 << limit) - 1) * 1000
    } else {
        (255 + u64::from(limit - 7) * 120) * 1000
    };
    let max_retransmits = u64::from(limit + linear);
    let (mut t, mut rto, mut retransmits) = (0u64, 1000u64, 0u64);
    loop {
        t += rto;
        if retransmits >= max_retransmits || t >= model_timeout {
            return t;
        }
        retransmits += 1;
        if retransmits > u64::from(linear) {
            rto = (rto * 2).min(120_000);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::syn_give_up_ms;

    #[test]
    fn syn_give_up_matches_the_kernel_measurements() {
        // Linux 6.18 (4 linear timeouts), measured: 3.08 s, 7.12 s, 19.6 s.
        assert_eq!(syn_give_up_ms(1, 4), 3000);
        assert_eq!(syn_give_up_ms(2, 4), 7000);
        assert_eq!(syn_give_up_ms(3, 4), 19000);
        // Before 6.5: 1, 3, 7, 15 s.
        assert_eq!(syn_give_up_ms(1, 0), 3000);
        assert_eq!(syn_give_up_ms(3, 0), 15000);
        assert_eq!(
            super::syn_expiries(2, 4),
            vec![1000, 2000, 3000, 4000, 5000, 7000]
        );
        assert_eq!(super::syn_expiries(2, 0), vec![1000, 3000, 7000]);
    }
}
