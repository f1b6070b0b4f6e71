//! Time: `sleep` advances the clock and fires the timers that fall due, in deadline order.

use super::sock::SkId;
use super::{Cx, Model, Res};
use crate::outcome::Outcome;
use crate::rule::RuleId;
use crate::state::TcpState;
use crate::time::{Millis, TIME_WAIT_LEN_MS};

impl Model {
    /// `sleep`: lets `ms` milliseconds pass.
    pub(super) fn op_sleep(&mut self, ms: Millis, cx: &mut Cx<'_>) -> Res {
        let until = self.now + ms;
        let mut rule = RuleId::SleepNothingDue;
        loop {
            let due = self
                .sks
                .iter()
                .filter_map(|(id, s)| s.deadline.filter(|d| *d <= until).map(|d| (d, *id)))
                .min();
            let Some((deadline, id)) = due else { break };
            self.now = deadline;
            let r = self.fire(id, cx);
            cx.rule(r);
            rule = r;
        }
        self.now = until;
        (Outcome::Ok, rule)
    }

    /// A timer of `id` fires.
    fn fire(&mut self, id: SkId, cx: &mut Cx<'_>) -> RuleId {
        let s = self.sk(id);
        if s.is_minisock() {
            let rule = if s.state == TcpState::TimeWait {
                RuleId::TimeWaitExpires
            } else {
                RuleId::FinWait2Expires
            };
            self.kill_minisock(id);
            return rule;
        }
        // An orphan in FIN-WAIT-2 whose timeout exceeded TIME-WAIT's: tcp_keepalive_timer()
        // turns it into a FIN-WAIT-2 minisocket for the rest (another F - 60 s).
        if s.orphan && s.state == TcpState::FinWait2 {
            let tmo = u64::from(s.fin_time_s(self.sysctl(s.host).tcp_fin_timeout_s)) * 1000;
            let rest = tmo.saturating_sub(TIME_WAIT_LEN_MS);
            self.sk_mut(id).deadline = None;
            self.time_wait(id, TcpState::FinWait2, cx);
            // time_wait() gave the minisocket the whole timeout; the kernel gives it the rest.
            let now = self.now;
            if let Some(tw) = self
                .sks
                .iter_mut()
                .filter(|(_, t)| t.is_minisock() && t.since == now)
                .map(|(i, _)| *i)
                .last()
            {
                self.sk_mut(tw).deadline = Some(now + rest);
            }
            return RuleId::FinWait2Expires;
        }
        if s.state == TcpState::SynSent {
            return self.resend_syn(id, cx);
        }
        self.sk_mut(id).deadline = None;
        RuleId::SleepNothingDue
    }

    /// The SYN-SENT retransmit timer armed by a stray ACK fires: the SYN goes out again
    /// (tcp_retransmit_timer()).
    pub(super) fn resend_syn(&mut self, id: SkId, cx: &mut Cx<'_>) -> RuleId {
        let s = self.sk_mut(id);
        s.deadline = None;
        s.syn_resent = true;
        self.send(id, super::wire::Flags::SYN, 0);
        self.deliver_all(cx);
        RuleId::ConnectSynToTimeWait
    }
}
