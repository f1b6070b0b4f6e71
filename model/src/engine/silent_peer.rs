//! Injected faults (a peer that vanishes, a peer that reboots) and the timers that only run
//! against a peer that no longer answers: keepalive, TCP_USER_TIMEOUT, SYN retransmissions.
//!
//! Against a peer that answers, these timers change nothing a call or the socket table shows
//! (keepalive probes are answered, retransmissions are not needed), so the model arms them only
//! when the connection's incoming segments are dropped.

use std::net::SocketAddr;

use super::sock::{Fd, Kind, SkId};
use super::timers::{Deadline, Event, wheel_slack};
use super::wire::Flags;
use super::{Cx, Model, Res};
use crate::addr::wire_ip;
use crate::errno::Errno;
use crate::op::{Host, SockId};
use crate::outcome::Outcome;
use crate::rule::RuleId;
use crate::state::TcpState;
use crate::time::{Millis, RTO_MIN_MS};

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

    /// Whether segments arriving at `host` for `local` from `peer` are dropped. A vanished
    /// wildcard address stands for every address of the host.
    pub(super) fn dropped(&self, host: Host, local: SocketAddr, peer: SocketAddr) -> bool {
        self.vanished.iter().any(|(h, l, p)| {
            *h == host
                && (*l == local || (l.ip().is_unspecified() && l.port() == local.port()))
                && p.is_none_or(|p| p == peer)
        })
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
                // The address getsockname() reports: the port outlives its release
                // (`inet_sport`).
                let s = self.sk(sk);
                let port = if s.port != 0 { s.port } else { s.sport };
                (port != 0).then(|| (s.host, SocketAddr::new(wire_ip(s.local_ip), port), None))
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
        // A connection not yet accepted stays in its listener's queue, closed, for accept()
        // to return (tcp_abort() of a socket that is not SOCK_DEAD).
        let orphan = s.orphan;
        if release {
            self.put_port(id);
        }
        if orphan {
            self.destroy(id);
        }
    }

    /// The far end's retransmissions that have arrived by now count as received: folded into
    /// the receiver's last arrival, so that they are not forgotten when the far end goes.
    pub(super) fn fold_arrivals(&mut self) {
        let ids: Vec<SkId> = self.sks.keys().copied().collect();
        for id in ids {
            let s = self.sk(id);
            if s.kind != Kind::Full || !s.opts.keepalive {
                continue;
            }
            let now = self.now;
            if let Some(&(at, slack)) = self.arrivals(id).iter().rfind(|(at, _)| *at <= now) {
                let s = self.sk_mut(id);
                if at > s.last_rx {
                    s.last_rx = at;
                    s.ka_span = s.ka_span.max(slack);
                }
            }
        }
    }

    /// Re-arms the timers that run against a silent peer, from the sockets' current state:
    /// SYN retransmissions, TCP_USER_TIMEOUT over unacknowledged data, keepalive.
    pub(super) fn refresh_silent_peer_timers(&mut self) {
        self.fold_arrivals();
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
                // Keep a running timer whose deadline did not move (its slack stays), and a
                // pending keepalive probe (its deadline only moves on as time passes).
                (Some(cur), Some(new))
                    if cur.event == new.event
                        && (cur.at == new.at || cur.event == Event::KeepaliveProbe) => {}
                (_, new) => s.timer = new,
            }
        }
    }

    /// Whether nothing answers the socket: what arrives for it is dropped, or what it sends is
    /// dropped where its peer lives, or its peer's answers are lost on the way out (a peer on
    /// the stale IPv4 transmit path, see [`Model::send`]).
    fn unanswered(&self, id: SkId) -> bool {
        let s = self.sk(id);
        let Some(peer) = s.peer else { return false };
        let local = SocketAddr::new(wire_ip(s.local_ip), s.port);
        let peer = SocketAddr::new(wire_ip(peer.ip()), peer.port());
        let Some(far) = self.topology.route(s.host, peer.ip()) else {
            return self.dropped(s.host, local, peer);
        };
        self.dropped(s.host, local, peer)
            || self.dropped(far, peer, local)
            || self.sks.values().any(|o| {
                o.host == far
                    && o.state.is_connected()
                    && o.matches_wire(peer, local)
                    && o.sends_lost()
            })
    }

    /// Whether the socket's peer host has no socket for the connection any more (its socket
    /// closed and went, was destroyed, or its host rebooted): a segment from us gets an RST.
    fn peer_forgot(&self, id: SkId) -> bool {
        let s = self.sk(id);
        let Some(peer) = s.peer else { return false };
        let local = SocketAddr::new(wire_ip(s.local_ip), s.port);
        let peer = SocketAddr::new(wire_ip(peer.ip()), peer.port());
        let Some(far) = self.topology.route(s.host, peer.ip()) else {
            return false;
        };
        // A segment the far host drops (peer_vanishes there) meets nothing that could answer.
        !self.dropped(far, peer, local)
            && !self
                .sks
                .values()
                .any(|o| o.host == far && o.state.is_connected() && o.matches_wire(peer, local))
    }

    /// `send()` of `len` bytes by `id`: whether they are queued instead of sent. Against a
    /// silent peer, with data already unacknowledged, they are: Nagle holds a small segment
    /// while a small one is unacknowledged (`tcp_nagle_check()`, Minshall's variant), the tail
    /// loss probe one RTO after the first send pushes out what is queued then
    /// (`tcp_send_loss_probe()`: new data, Nagle off), and after it nothing more leaves: Nagle
    /// again, then loss recovery. Near the probe's time, both.
    pub(super) fn queue_if_held(&mut self, id: SkId, len: u32, cx: &mut Cx<'_>) -> bool {
        let s = self.sk(id);
        let Some(since) = s.unacked_since else {
            return false;
        };
        if !self.unanswered(id) {
            return false;
        }
        let rto = rto_ms(self.profile.hz());
        let slack = wheel_slack(rto, self.profile.hz()) + s.unacked_span + self.span;
        let probe = since + rto;
        let probe_went = s.tlp_done
            || if self.now < probe {
                false
            } else if self.now >= probe + slack {
                true
            } else {
                cx.chooser.choose(2) == 1
            };
        let s = self.sk_mut(id);
        s.tlp_done = probe_went;
        s.held += len;
        cx.rule(RuleId::TcpHeldUnacked);
        true
    }

    /// The FIN of `id` (close, SHUT_WR): whether it is held. Against a silent peer it goes out,
    /// with whatever data is queued (`tcp_send_fin()` pushes with Nagle off), until the first
    /// retransmission timeout, two RTOs after the first unacknowledged send (the loss probe
    /// re-arms the timer); from then on loss recovery's congestion window of one segment, which
    /// the retransmission fills, holds it (`tcp_enter_loss()`, `tcp_cwnd_test()`). Near that
    /// time, both.
    pub(super) fn fin_held(&mut self, id: SkId, cx: &mut Cx<'_>) -> bool {
        let s = self.sk(id);
        let held = match s.unacked_since {
            Some(since) if self.unanswered(id) => {
                let hz = self.profile.hz();
                let rto = rto_ms(hz);
                let loss = since + 2 * rto;
                let slack = 2 * wheel_slack(rto, hz) + s.unacked_span + self.span;
                if self.now < loss {
                    false
                } else if self.now >= loss + slack {
                    true
                } else {
                    cx.chooser.choose(2) == 1
                }
            }
            _ => false,
        };
        if held {
            self.sk_mut(id).fin_held = true;
            cx.rule(RuleId::TcpHeldUnacked);
        } else if s.held > 0 {
            let n = s.held;
            self.sk_mut(id).held = 0;
            self.send(id, Flags::ACK, n);
        }
        held
    }

    /// The tail loss probe of `id` goes out with the data queued behind Nagle.
    pub(super) fn loss_probe(&mut self, id: SkId) {
        let s = self.sk_mut(id);
        s.tlp_done = true;
        let n = std::mem::take(&mut s.held);
        if n > 0 {
            self.send(id, Flags::ACK, n);
        }
    }

    /// The socket at the other end of `id`'s connection, if its host still has one.
    fn far_end(&self, id: SkId) -> Option<SkId> {
        let s = self.sk(id);
        let peer = s.peer?;
        let local = SocketAddr::new(wire_ip(s.local_ip), s.port);
        let peer = SocketAddr::new(wire_ip(peer.ip()), peer.port());
        let far = self.topology.route(s.host, peer.ip())?;
        self.sks
            .iter()
            .find(|(_, o)| o.host == far && o.state.is_connected() && o.matches_wire(peer, local))
            .map(|(k, _)| *k)
    }

    /// When the far end's retransmissions of data it sent unacknowledged reach `id`, with
    /// their slack: what keeps a connection whose own segments are dropped from looking idle
    /// to keepalive (each arrival clears `icsk_probes_out` in `tcp_ack()`).
    fn arrivals(&self, id: SkId) -> Vec<(Millis, Millis)> {
        let Some(far) = self.far_end(id) else {
            return Vec::new();
        };
        let (s, f) = (self.sk(id), self.sk(far));
        let Some(since) = f.unacked_since else {
            return Vec::new();
        };
        let local = SocketAddr::new(wire_ip(s.local_ip), s.port);
        let from = SocketAddr::new(wire_ip(f.local_ip), f.port);
        if f.is_minisock() || self.dropped(s.host, local, from) {
            return Vec::new();
        }
        let hz = self.profile.hz();
        let rto = rto_ms(hz);
        let ut = u64::from(f.opts.user_timeout);
        // The retransmission timer backs off from one RTO: it fires at RTO·(2^(k+1) − 1)
        // after the first send (the first may be the tail loss probe instead, up to an RTO
        // apart: slack).
        (0..10)
            .map(|k| {
                let at = since + rto * ((1u64 << (k + 1)) - 1);
                (
                    at,
                    (k + 1) * wheel_slack(rto << k, hz) + f.unacked_span + rto,
                )
            })
            .take_while(|(at, _)| ut == 0 || *at < since + ut)
            .collect()
    }

    /// The deadline of whatever will end a connection whose peer stays silent.
    fn silent_peer_deadline(&self, id: SkId) -> Option<Deadline> {
        let s = self.sk(id);
        let hz = self.profile.hz();
        let sys = self.sysctl(s.host);
        match s.state {
            TcpState::SynSent => {
                // The SYN was not answered: the next retransmission (or the give-up).
                let expiries = self.syn_expiries_of(id);
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
                if s.opts.keepalive
                    && s.unacked_since.is_none()
                    && !self.unanswered(id)
                    && self.peer_forgot(id) =>
            {
                // Probes were answered (nothing to see) until the peer forgot the connection;
                // the next one, a multiple of the idle time after the first, gets an RST.
                let idle = u64::from(if s.opts.keepidle > 0 {
                    s.opts.keepidle
                } else {
                    sys.tcp_keepalive_time_s
                }) * 1000;
                let first = s.ka_check_at.max(s.last_rx + idle);
                let k = self.now.saturating_sub(first).div_ceil(idle.max(1));
                let at = first + k * idle;
                let mut slack = (k + 1) * wheel_slack(idle, hz) + s.ka_span;
                if at < self.now + slack {
                    // A probe due about now may have gone just before the peer forgot (and
                    // been answered): then the RST answers the next one.
                    slack += idle;
                }
                Some(Deadline {
                    at,
                    slack,
                    event: Event::KeepaliveProbe,
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
                    // The loss probe that pushes out queued data; retransmissions time out
                    // after TCP_USER_TIMEOUT, without it after tcp_retries2 (about 15
                    // minutes), which no lane waits for.
                    let rto = rto_ms(hz);
                    let probe = (s.held > 0 && !s.tlp_done).then(|| Deadline {
                        at: since + rto,
                        slack: wheel_slack(rto, hz) + s.unacked_span,
                        event: Event::LossProbe,
                    });
                    let ut = u64::from(s.opts.user_timeout);
                    let set_at = s.user_timeout_set_at;
                    let give_up = (ut > 0).then(|| {
                        if set_at > since + ut {
                            // Set when already spent: the retransmission timer armed before
                            // (unclamped, backed off) notices it when it next runs, at most
                            // the time since the first loss plus an RTO later.
                            Deadline {
                                at: set_at,
                                slack: (set_at - since) + rto + 600 + s.unacked_span,
                                event: Event::UserTimeout,
                            }
                        } else {
                            Deadline {
                                at: since + ut,
                                // The retransmission timer is clamped to the user timeout, but
                                // the check may run up to one RTO late (measured: +0.42 s on
                                // 2 s).
                                slack: 600 + s.unacked_span,
                                event: Event::UserTimeout,
                            }
                        }
                    });
                    return match (probe, give_up) {
                        (Some(p), Some(g)) => Some(if p.at <= g.at { p } else { g }),
                        (p, g) => p.or(g),
                    };
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
                let ut = u64::from(s.opts.user_timeout);
                let probe_slack = |probes: u64| {
                    wheel_slack(idle, hz) + probes * wheel_slack(intvl, hz) + s.ka_span
                };
                let arrivals = self.arrivals(id);
                // The far end's retransmissions may still arrive: each starts the wait over. The
                // earliest and latest the arrivals may come give the window.
                let early: Vec<Millis> = arrivals.iter().map(|(at, _)| *at).collect();
                let late: Vec<Millis> = arrivals.iter().map(|(at, sl)| at + sl).collect();
                let death = |a: &[Millis]| {
                    keepalive_death(s.ka_check_at, s.last_rx, a, idle, intvl, cnt, ut)
                };
                let (d1, d2) = (death(&early), death(&late));
                let (mut lo, mut hi) = (d1.min(d2), d1.max(d2));
                // A retransmission restarts the wait only when it passes tcp_sequence() and
                // reaches tcp_ack() (rcv_tstamp): when it ends at rcv_wup. Once the far end
                // sent a second segment (held data pushed by the loss probe), a retransmission
                // of the first ends before it and is dropped as a duplicate, unless
                // tcp_retrans_try_collapse() merged the two: not modelled, so both.
                let far_sent_more = self
                    .far_end(id)
                    .is_some_and(|f| self.sk(f).tlp_done || self.sk(f).held > 0);
                if far_sent_more {
                    let d0 = death(&early[..early.len().min(1)]);
                    lo = lo.min(d0);
                    hi = hi.max(d0);
                }
                let probes = if ut > 0 { ut / intvl.max(1) + 1 } else { cnt };
                Some(Deadline {
                    at: lo,
                    slack: hi - lo + probe_slack(probes),
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

impl Model {
    /// [`syn_expiries`] for a socket in SYN-SENT, with its TCP_USER_TIMEOUT: the timer is
    /// re-armed clamped to what is left of the user timeout (`tcp_clamp_rto_to_user_timeout()`,
    /// counted from the first SYN, `retrans_stamp`) and then finds it expired
    /// (`retransmits_timed_out()`, once a retransmission was sent); the first timer, armed by
    /// `tcp_connect()`, is not clamped, nor is one armed before the option was set: a timeout
    /// already spent then is noticed at that timer's firing (a jiffy later if it is the first,
    /// which must still retransmit).
    pub(super) fn syn_expiries_of(&self, id: SkId) -> Vec<Millis> {
        let s = self.sk(id);
        let expiries = syn_expiries(
            self.sysctl(s.host).tcp_syn_retries,
            self.profile.syn_linear_timeouts(),
        );
        let ut = u64::from(s.opts.user_timeout);
        let give_up = expiries.last().copied().unwrap_or(0);
        if ut == 0 || ut >= give_up {
            return expiries;
        }
        let jiffy = 1000 / self.profile.hz().max(1);
        // The timer armed before TCP_USER_TIMEOUT was set runs unclamped: the first firing
        // after the option was set.
        let set = s.user_timeout_set_at.saturating_sub(s.syn_sent_at);
        let j = expiries
            .iter()
            .position(|&e| e > set)
            .unwrap_or(expiries.len() - 1);
        let e = expiries[j];
        let mut out: Vec<Millis> = expiries[..=j].to_vec();
        if e >= ut {
            if j == 0 {
                // No retransmission yet: this firing sends one; the re-arm, clamped to a
                // spent timeout, fires a jiffy later and gives up.
                out.push(e + jiffy);
            }
        } else {
            // Later re-arms are clamped to the timeout: it gives up at it.
            out.extend(expiries[j + 1..].iter().copied().filter(|&x| x < ut));
            out.push(ut);
        }
        out
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

/// The retransmission timeout of a short path (loopback, the veth): `TCP_RTO_MIN` plus the
/// round trip, rounded up to a jiffy (`__tcp_set_rto()`, `usecs_to_jiffies()`): 204 ms at
/// HZ=250. The tail loss probe waits as long with one segment out (`tcp_schedule_loss_probe()`).
pub(super) fn rto_ms(hz: u64) -> Millis {
    RTO_MIN_MS + 1000 / hz.max(1)
}

/// When keepalive ends a connection whose probes go unanswered while segments still arrive at
/// `arrivals` (sorted): the first probe once `idle` has passed since the last arrival (the
/// timer first checks at `check_at`), one every `intvl`, death at the check after `cnt`
/// probes, or, with TCP_USER_TIMEOUT (`user_timeout` > 0), at the first check after a probe
/// that finds the connection silent for that long; unless something arrives first, which
/// clears the probes and starts the wait over (`tcp_keepalive_timer()`,
/// `keepalive_time_elapsed()`, `tcp_ack()`).
#[allow(clippy::too_many_arguments)]
pub(super) fn keepalive_death(
    check_at: Millis,
    last_rx: Millis,
    arrivals: &[Millis],
    idle: Millis,
    intvl: Millis,
    cnt: u64,
    user_timeout: Millis,
) -> Millis {
    let intvl = intvl.max(1);
    let mut last = last_rx;
    let mut t = check_at.max(last + idle);
    loop {
        if let Some(&a) = arrivals.iter().rfind(|&&a| a > last && a <= t) {
            last = a;
            t = t.max(a + idle);
            continue;
        }
        let death = if user_timeout > 0 {
            let mut k = 1;
            while t + k * intvl < last + user_timeout {
                k += 1;
            }
            t + k * intvl
        } else {
            t + cnt * intvl
        };
        match arrivals.iter().find(|&&a| a > t && a < death) {
            Some(&a) => {
                last = a;
                let next_check = t + ((a - t) / intvl + 1) * intvl;
                t = next_check.max(a + idle);
            }
            None => return death,
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
