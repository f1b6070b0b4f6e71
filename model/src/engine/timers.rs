//! Time: timers as deadlines with the kernel's slack, and the clock that fires them.
//!
//! A kernel timer never fires early, but it fires late: the timer wheel (kernel/time/timer.c,
//! `calc_wheel_index()`) files a timer `delta` jiffies ahead in a level whose granularity is
//! 1, 8, 64, 512, … jiffies, and the timer runs at the first tick of its bucket, so up to one
//! granule late; then softirq and scheduling add a little more. A timer is therefore a window
//! `[at, at + slack]`. When the model runs alone, time moves only by `sleep` and timers fire
//! exactly at `at`. In lock-step, the harness tells the model when each call started and ended
//! and when the table was read; a timer whose window straddles such an instant may or may not
//! have fired, and the model follows both possibilities until the kernel's table says which.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::sock::SkId;
use super::{Cx, Model, Res};
use crate::errno::Errno;
use crate::outcome::Outcome;
use crate::rule::RuleId;
use crate::state::TcpState;
use crate::time::{Millis, TIME_WAIT_LEN_MS};

/// What happens when a timer fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Event {
    /// A minisocket ends (TIME-WAIT after 60 s, FIN-WAIT-2 after the orphan timeout).
    MinisockExpires,
    /// An orphaned FIN-WAIT-2 full socket whose timeout exceeds 60 s becomes a minisocket
    /// (`tcp_keepalive_timer()`).
    OrphanFinWait2,
    /// The last keepalive probe went unanswered (`tcp_keepalive_timer()`).
    KeepaliveDeath,
    /// A keepalive probe to a peer that forgot the connection (answered with RST).
    KeepaliveProbe,
    /// The tail loss probe, which sends data queued behind Nagle (`tcp_send_loss_probe()`).
    LossProbe,
    /// Data stayed unacknowledged longer than TCP_USER_TIMEOUT (`tcp_write_timeout()`).
    UserTimeout,
    /// The SYN-SENT retransmission timer: resend the SYN, or give up (`tcp_write_timeout()`).
    SynRetransmit,
}

/// A running timer: fires in `[at, at + slack]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Deadline {
    pub(crate) at: Millis,
    pub(crate) slack: Millis,
    pub(crate) event: Event,
}

/// When the harness saw one call happen, in milliseconds since the case began: the call
/// started at `start` and returned by `end`, and the table was read by `observed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallClock {
    /// The call started (rounded down).
    pub start: Millis,
    /// The call had returned (rounded up).
    pub end: Millis,
    /// The socket table had been read (rounded up).
    pub observed: Millis,
}

/// Scheduling and softirq latency allowed on top of the wheel's granularity.
pub(crate) const LATENCY_MS: Millis = 60;

/// How late the timer wheel may run a timer set `delta_ms` ahead, at `hz` ticks per second
/// (`calc_wheel_index()`: level n ≥ 1 starts at 63·8^(n−1) jiffies and has a granularity of
/// 8^n jiffies), plus one tick of rounding and [`LATENCY_MS`].
pub(crate) fn wheel_slack(delta_ms: Millis, hz: u64) -> Millis {
    let jiffy = 1000 / hz.max(1);
    let delta = delta_ms.div_ceil(jiffy.max(1));
    let mut gran = 1u64;
    let mut start = 63u64;
    while delta >= start {
        gran *= 8;
        start *= 8;
    }
    (gran + 1) * jiffy + LATENCY_MS
}

impl Model {
    /// Arms `event` on `id`, `delta` from now.
    pub(super) fn arm(&mut self, id: SkId, delta: Millis, event: Event) {
        let slack = wheel_slack(delta, self.profile.hz()) + self.span;
        let at = self.now + delta;
        self.sk_mut(id).timer = Some(Deadline { at, slack, event });
    }

    /// Stops the timer of `id`.
    pub(super) fn disarm(&mut self, id: SkId) {
        self.sk_mut(id).timer = None;
    }

    /// Lets time run to `to`, firing the timers that fall due. With `exact`, each fires at its
    /// deadline; otherwise each fires within its window, from a jiffy before its deadline (a
    /// timer armed late in a jiffy expires at a jiffy boundary: `TCP_TIMEOUT_MIN`, 2 jiffies,
    /// comes 1 to 2 jiffies after it was armed) to its slack after, and one whose window
    /// straddles `to` may or may not have fired (a choice).
    pub(super) fn advance(&mut self, to: Millis, exact: bool, cx: &mut Cx<'_>) -> RuleId {
        let mut rule = RuleId::SleepNothingDue;
        let mut not_yet: BTreeSet<SkId> = BTreeSet::new();
        let jiffy = 1000 / self.profile.hz().max(1);
        let earliest = |d: &Deadline| {
            if exact {
                d.at
            } else {
                d.at.saturating_sub(jiffy)
            }
        };
        loop {
            let due = self
                .sks
                .iter()
                .filter(|(id, _)| !not_yet.contains(id))
                .filter_map(|(id, s)| {
                    s.timer
                        .filter(|d| earliest(d) <= to)
                        .map(|d| (d.at, *id, d))
                })
                .min();
            let Some((at, id, d)) = due else { break };
            if !exact && d.at + d.slack > to && cx.chooser.choose(2) == 0 {
                not_yet.insert(id);
                continue;
            }
            self.now = self.now.max(at.min(to));
            // What the timer starts runs as late as the timer itself may have.
            let saved = self.span;
            self.span = if exact { 0 } else { d.slack };
            let r = self.fire(id, d.event, cx);
            self.deliver_all(cx);
            self.refresh_silent_peer_timers();
            self.span = saved;
            cx.rule(r);
            rule = r;
        }
        self.now = self.now.max(to);
        rule
    }

    /// A blocking call waited for up to `ms` (`within=`): asked again each time time moved
    /// the sockets, until it returns or the time is up. Alone, the model lets time run from
    /// one timer to the next (the call returns at the first that decides it); in lock-step,
    /// to the moment the kernel's call returned, each timer due by then fired or not.
    pub(super) fn op_within(
        &mut self,
        call: &crate::op::Op,
        ms: Millis,
        env: &crate::env::Env,
        cx: &mut Cx<'_>,
    ) -> Res {
        let first = self.apply_op(call, env, cx);
        if first.0 != Outcome::Blocks {
            return first;
        }
        let exact = cx.hint.clock.is_none();
        let until = cx.hint.clock.map_or(self.now + ms, |c| c.end);
        loop {
            self.deliver_all(cx);
            self.refresh_silent_peer_timers();
            let next = self
                .sks
                .values()
                .filter_map(|s| s.timer.map(|d| d.at))
                .filter(|&at| exact && at <= until)
                .min();
            self.advance(next.unwrap_or(until), exact, cx);
            let again = self.apply_op(call, env, cx);
            if again.0 != Outcome::Blocks || next.is_none() {
                return again;
            }
        }
    }

    /// `sleep`: when the model runs alone, lets `ms` pass exactly; in lock-step the harness's
    /// clock has already moved the model.
    pub(super) fn op_sleep(&mut self, ms: Millis, cx: &mut Cx<'_>) -> Res {
        if cx.hint.clock.is_some() {
            let rule = cx.rules.last().copied().unwrap_or(RuleId::SleepNothingDue);
            return (Outcome::Ok, rule);
        }
        let to = self.now + ms;
        (Outcome::Ok, self.advance(to, true, cx))
    }

    /// A timer of `id` fires.
    fn fire(&mut self, id: SkId, event: Event, cx: &mut Cx<'_>) -> RuleId {
        self.disarm(id);
        match event {
            Event::MinisockExpires => {
                let tw = self.sk(id).state == TcpState::TimeWait;
                let rule = if tw && self.profile.os.is_bsd() {
                    RuleId::BsdTimeWaitExpires
                } else if tw && self.profile.os == crate::profile::Os::Windows {
                    RuleId::WinTimeWaitExpires
                } else if tw {
                    RuleId::TimeWaitExpires
                } else {
                    RuleId::FinWait2Expires
                };
                self.kill_minisock(id);
                rule
            }
            Event::OrphanFinWait2 if self.profile.os == crate::profile::Os::FreeBsd => {
                // tcp_timer_2msl() → tcp_close(): silently.
                self.done(id);
                RuleId::FreeBsdFinWait2Expires
            }
            Event::OrphanFinWait2 if self.profile.os == crate::profile::Os::MacOs => {
                // TCPT_2MSL → tcp_drop(): an RST to the peer.
                self.send(id, super::wire::Flags::RST, 0);
                self.done(id);
                RuleId::MacOsFinWait2ExpiresRst
            }
            Event::OrphanFinWait2 => {
                // tcp_keepalive_timer(): the rest of the timeout (another F − 60 s) as a
                // FIN-WAIT-2 minisocket.
                let s = self.sk(id);
                let tmo = u64::from(s.fin_time_s(self.sysctl(s.host).tcp_fin_timeout_s)) * 1000;
                let rest = tmo.saturating_sub(TIME_WAIT_LEN_MS);
                self.time_wait_for(id, TcpState::FinWait2, rest, cx);
                RuleId::FinWait2Expires
            }
            Event::KeepaliveDeath => {
                // The keepalive abort resets the (silent) peer, then fails the socket.
                self.send(id, super::wire::Flags::RST, 0);
                self.timeout_kill(id);
                RuleId::KeepaliveTimesOut
            }
            Event::KeepaliveProbe => {
                // tcp_write_wakeup(): a bare ACK one below snd_una; the far host finds no
                // socket and answers RST.
                self.send(id, super::wire::Flags::ACK, 0);
                RuleId::KeepaliveProbeReset
            }
            Event::LossProbe => {
                self.loss_probe(id);
                RuleId::TcpHeldUnacked
            }
            Event::UserTimeout => {
                self.timeout_kill(id);
                RuleId::UserTimeoutExpires
            }
            Event::SynRetransmit => {
                let s = self.sk(id);
                let expiries = self.syn_expiries_of(id);
                let syn_give_up = super::silent_peer::syn_give_up_ms(
                    self.sysctl(s.host).tcp_syn_retries,
                    self.profile.syn_linear_timeouts(),
                );
                let early = s.syn_early.is_some();
                if !early && s.syn_retransmits as usize + 1 >= expiries.len() {
                    let by_user_timeout =
                        s.opts.user_timeout > 0 && expiries.last() != Some(&syn_give_up);
                    self.timeout_kill(id);
                    if by_user_timeout {
                        RuleId::UserTimeoutExpires
                    } else {
                        RuleId::SynRetriesExhausted
                    }
                } else {
                    let now = self.now;
                    let s = self.sk_mut(id);
                    s.syn_retransmits += 1;
                    if early {
                        // The retransmission timer restarts from here with the RTO the first
                        // retransmission would have had.
                        s.syn_early = None;
                        s.syn_sent_at = now.saturating_sub(expiries[0]);
                    }
                    self.send(id, super::wire::Flags::SYN, 0);
                    if early {
                        // The resend that answers a TIME-WAIT's ACK decides what the
                        // connect() meets: refused, or the TIME-WAIT's ACK again.
                        RuleId::ConnectSynToTimeWait
                    } else {
                        RuleId::SynRetransmitted
                    }
                }
            }
        }
    }

    /// `tcp_write_err()`: the socket fails with ETIMEDOUT (no soft error is ever recorded on
    /// loopback or the veth) and closes.
    fn timeout_kill(&mut self, id: SkId) {
        // What it retransmitted until now has reached its peer.
        self.fold_arrivals();
        self.done_with_error(id, Some(Errno::ETIMEDOUT));
    }
}
