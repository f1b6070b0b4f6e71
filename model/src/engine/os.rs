//! The decision points where FreeBSD, macOS and Windows part from Linux: the bind lookup
//! (FreeBSD `in_pcbbind_setup()` / `in_pcblookup_local()`, XNU `in_pcbbind()`, Windows' sharing
//! table), ephemeral ports, the TIME-WAIT length, and the options each OS has.
//!
//! Everything else (the segment-level state machine of RFC 793, what calls return in each
//! state) is shared with the Linux engine. Where an OS's behaviour is not described by its
//! source or documentation as read, the model refuses with [`RuleId::NotModelled`] rather
//! than answer with Linux's.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::sock::{Sk, SkId};
use super::{Cx, Model, PortSet, Res};
use crate::addr::Family;
use crate::errno::Errno;
use crate::op::{Host, Op, SockOpt};
use crate::outcome::Outcome;
use crate::profile::Os;
use crate::rule::RuleId;
use crate::state::TcpState;
use crate::time::{Millis, TIME_WAIT_LEN_MS};

/// How long TIME-WAIT lasts on a profile's OS.
pub(super) fn time_wait_len(os: Os, sys: &crate::sysctl::Sysctls) -> Millis {
    match os {
        Os::Linux => TIME_WAIT_LEN_MS,
        // tcp_twstart(): 2 * V_tcp_msl; XNU add_to_time_wait(tp, 2 * tcp_msl).
        Os::FreeBsd | Os::MacOs => 2 * u64::from(sys.msl_ms),
        Os::Windows => u64::from(sys.tcp_timed_wait_delay_s) * 1000,
    }
}

/// A PCB as `in_pcblookup_local()` (or `in6_pcblookup_local()`) sees it.
#[derive(Clone, Copy)]
struct Pcb {
    id: SkId,
    /// The local address in the lookup's family (unspecified: wildcard).
    addr: IpAddr,
    /// Has a foreign address (connected, closing, TIME-WAIT).
    connected: bool,
    /// INP_IPV6 on an IPv4 lookup (a dual-stack `[::]`): cost + 3.
    dual: bool,
    /// INP_IPV6PROTO: an AF_INET6 socket.
    inet6: bool,
}

/// The IPv4 address under which an IPv4 lookup finds `s` (INP_IPV4 set), if any.
fn v4_view(s: &Sk) -> Option<(Ipv4Addr, bool)> {
    match (s.family, s.local_ip) {
        (Family::Inet, IpAddr::V4(a)) => Some((a, false)),
        (Family::Inet6, IpAddr::V6(a)) => match a.to_ipv4_mapped() {
            Some(v4) => Some((v4, false)),
            None if a.is_unspecified() && !s.opts.v6only => Some((Ipv4Addr::UNSPECIFIED, true)),
            None => None,
        },
        _ => None,
    }
}

/// The IPv6 address under which an IPv6 lookup finds `s` (INP_IPV6 set), if any.
fn v6_view(s: &Sk) -> Option<Ipv6Addr> {
    match (s.family, s.local_ip) {
        (Family::Inet6, IpAddr::V6(a)) if a.to_ipv4_mapped().is_none() => Some(a),
        _ => None,
    }
}

/// Which lookup: the IPv4 or the IPv6 tables.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    V4,
    V6,
}

/// What a BSD bind check found.
type Verdict = Result<RuleId, (Errno, RuleId)>;

impl Model {
    /// The PCBs on `port` of `host` seen by a lookup of `view`, newest first (the port list's
    /// order: `in_pcbinshash()` inserts at the head).
    fn pcbs(&self, host: Host, port: u16, view: View, except: SkId) -> Vec<Pcb> {
        let mut out: Vec<Pcb> = self
            .sks
            .iter()
            .filter(|(id, s)| **id != except && s.host == host && s.bound && s.port == port)
            .filter_map(|(id, s)| {
                let (addr, dual) = match view {
                    View::V4 => v4_view(s).map(|(a, d)| (IpAddr::V4(a), d))?,
                    View::V6 => (IpAddr::V6(v6_view(s)?), false),
                };
                Some(Pcb {
                    id: *id,
                    addr,
                    connected: s.peer.is_some() && s.state != TcpState::Closed || s.is_minisock(),
                    dual,
                    inet6: s.family == Family::Inet6,
                })
            })
            .collect();
        out.reverse();
        out
    }

    /// `in_pcblookup_local(INPLOOKUP_WILDCARD)`: the best-fit PCB for `laddr`.
    fn best_fit(pcbs: &[Pcb], laddr: IpAddr) -> Option<Pcb> {
        let mut best: Option<(u32, Pcb)> = None;
        for p in pcbs {
            let mut cost = if p.dual { 3 } else { 0 };
            if p.connected {
                cost += 1;
            }
            if !p.addr.is_unspecified() {
                if laddr.is_unspecified() {
                    cost += 1;
                } else if p.addr != laddr {
                    continue;
                }
            } else if !laddr.is_unspecified() {
                cost += 1;
            }
            if best.is_none_or(|(c, _)| cost < c) {
                best = Some((cost, *p));
            }
        }
        best.map(|(_, p)| p)
    }

    /// `in_pcblookup_local()` without INPLOOKUP_WILDCARD: an unconnected PCB with exactly
    /// `laddr`.
    fn exact(pcbs: &[Pcb], laddr: IpAddr) -> Option<Pcb> {
        pcbs.iter()
            .find(|p| !p.connected && p.addr == laddr)
            .copied()
    }

    /// `in_pcbbind_setup()` (and the IPv6 half of `in6_pcbbind()`) for one lookup family.
    /// `ipv4_side_of_dual` is the IPv4 check `in6_pcbbind()` makes for a dual-stack `[::]`.
    fn bsd_bind_view(
        &self,
        id: SkId,
        port: u16,
        view: View,
        laddr: IpAddr,
        ipv4_side_of_dual: bool,
    ) -> Verdict {
        let sk = self.sk(id);
        let o = &sk.opts;
        let pcbs = self.pcbs(sk.host, port, view, id);
        let reuse_any = o.reuseaddr || o.reuseport || o.reuseport_lb;
        // Without PRIV_NETINET_REUSEPORT: a best-fit hit of another user that is unconnected.
        if sk.uid != 0
            && let Some(t) = Self::best_fit(&pcbs, laddr)
        {
            let ts = self.sk(t.id);
            if !t.connected
                && (!laddr.is_unspecified()
                    || !t.addr.is_unspecified()
                    || ts.opts.reuseport
                    || !ts.opts.reuseport_lb)
                && ts.uid != sk.uid
            {
                return Err((Errno::EADDRINUSE, RuleId::BsdBindOtherUid));
            }
        }
        let t = if reuse_any {
            Self::exact(&pcbs, laddr)
        } else {
            Self::best_fit(&pcbs, laddr)
        };
        if let Some(t) = t {
            let ts = self.sk(t.id);
            if o.reuseport && ts.opts.reuseport {
                return Ok(RuleId::BsdBindReusePortBoth);
            }
            if o.reuseport_lb && ts.opts.reuseport_lb {
                return Ok(RuleId::BsdBindReusePortLbBoth);
            }
            let both_wild = laddr.is_unspecified() && t.addr.is_unspecified();
            if ipv4_side_of_dual {
                // in6_pcbbind(): an IPv4 wildcard of the other kind (AF_INET) does not count.
                if both_wild && !t.inet6 {
                    return Ok(RuleId::BsdBindDualStackBesideV4);
                }
            } else if view == View::V4 && both_wild && sk.family == Family::Inet6 && t.inet6 {
                // in_pcbbind_setup(): two IPv6-capable PCBs may share the IPv4 wildcard.
                return Ok(RuleId::BsdBindReuseExactOnly);
            }
            let why = if reuse_any {
                RuleId::BsdBindExactDuplicate
            } else {
                RuleId::BsdBindInUse
            };
            return Err((Errno::EADDRINUSE, why));
        }
        if reuse_any && Self::best_fit(&pcbs, laddr).is_some() {
            return Ok(RuleId::BsdBindReuseExactOnly);
        }
        Ok(RuleId::OsBindPortFree)
    }

    /// FreeBSD `in_pcbbind_setup()` / `in6_pcbbind()`, XNU `in_pcbbind()` / `in6_pcbbind()`:
    /// may `sk` take `port`?
    fn bsd_bind_check(&self, id: SkId, port: u16) -> Verdict {
        let sk = self.sk(id);
        match (sk.family, sk.local_ip) {
            (Family::Inet, ip) => self.bsd_bind_view(id, port, View::V4, ip, false),
            (Family::Inet6, IpAddr::V6(a)) => {
                if let Some(v4) = a.to_ipv4_mapped() {
                    return self.bsd_bind_view(id, port, View::V4, IpAddr::V4(v4), false);
                }
                let v6 = self.bsd_bind_view(id, port, View::V6, IpAddr::V6(a), false)?;
                if a.is_unspecified() && !sk.opts.v6only {
                    let v4 = self.bsd_bind_view(
                        id,
                        port,
                        View::V4,
                        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                        true,
                    )?;
                    if v6 == RuleId::OsBindPortFree {
                        return Ok(v4);
                    }
                }
                Ok(v6)
            }
            (Family::Inet6, IpAddr::V4(_)) => unreachable!("op_bind refuses a v4 address on inet6"),
        }
    }

    /// Windows: the sharing table of "Sharing Transport Addresses" for `sk` over every socket
    /// on `port` whose address overlaps.
    fn windows_bind_check(&self, id: SkId, port: u16) -> Verdict {
        #[derive(Clone, Copy)]
        enum Cell {
            Ok,
            InUse,
            Denied,
            Check,
        }
        use Cell::{Check as C, Denied as D, InUse as I, Ok as S};
        // Rows: the second (new) bind; columns: the first. Each: none, SO_REUSEADDR,
        // SO_EXCLUSIVEADDRUSE, × wildcard, specific.
        const TABLE: [[Cell; 6]; 6] = [
            [I, S, I, S, I, S],
            [C, I, C, D, D, I],
            [D, S, S, S, D, S],
            [C, D, S, S, D, D],
            [I, I, I, I, I, I],
            [C, I, C, I, D, I],
        ];
        let index = |s: &Sk| {
            let kind = if s.opts.exclusiveaddruse {
                2
            } else if s.opts.reuseaddr {
                1
            } else {
                0
            };
            kind * 2 + usize::from(!s.local_ip.is_unspecified())
        };
        let sk = self.sk(id);
        let mut rule = RuleId::OsBindPortFree;
        for o in self.owners(sk.host, port) {
            if o == id {
                continue;
            }
            let first = self.sk(o);
            if !super::bind::rcv_saddr_equal(sk, first, None) {
                continue;
            }
            if first.is_minisock() || !matches!(first.state, TcpState::Closed | TcpState::Listen) {
                return Err((Errno::ENOSYS, RuleId::NotModelled));
            }
            match TABLE[index(sk)][index(first)] {
                S if rule == RuleId::OsBindPortFree => rule = RuleId::WinBindSuccess,
                S => {}
                I => return Err((Errno::EADDRINUSE, RuleId::WinBindInUse)),
                D => return Err((Errno::EACCES, RuleId::WinBindDenied)),
                C if first.uid == sk.uid => rule = RuleId::WinBindCheckSameUser,
                C => return Err((Errno::EACCES, RuleId::WinBindCheckOtherUser)),
            }
        }
        Ok(rule)
    }

    /// The bind check of the profile's OS for `sk` on `port` (not Linux).
    pub(super) fn other_os_bind_check(&self, id: SkId, port: u16) -> Verdict {
        match self.profile.os {
            Os::FreeBsd | Os::MacOs => self.bsd_bind_check(id, port),
            Os::Windows => self.windows_bind_check(id, port),
            Os::Linux => unreachable!("Linux binds through inet_csk_get_port()"),
        }
    }

    /// `bind()` of an explicit port on another OS: check, then take the port.
    pub(super) fn other_os_get_port(&mut self, id: SkId, port: u16) -> Verdict {
        let rule = self.other_os_bind_check(id, port)?;
        let s = self.sk_mut(id);
        s.port = port;
        s.bound = true;
        Ok(rule)
    }

    /// `in_pcb_lport_dest()` without a foreign address (bind(:0), listen()): the free ports
    /// of the range. Only ports that already have owners can be busy.
    pub(super) fn other_os_get_port_any(&mut self, id: SkId, cx: &mut Cx<'_>) -> Verdict {
        let (host, port_range) = {
            let s = self.sk(id);
            (s.host, self.sysctl(s.host).ip_local_port_range)
        };
        let (lo, hi) = port_range;
        let held: BTreeSet<u16> = self
            .sks
            .values()
            .filter(|s| s.host == host && s.bound && (lo..=hi).contains(&s.port))
            .map(|s| s.port)
            .collect();
        let busy: BTreeSet<u16> = held
            .into_iter()
            .filter(|p| self.other_os_bind_check(id, *p).is_err())
            .collect();
        if busy.len() == usize::from(hi - lo) + 1 {
            return Err((Errno::EADDRNOTAVAIL, RuleId::BsdBindEphemeralExhausted));
        }
        let set = PortSet {
            lo,
            hi,
            parity: None,
            except: busy,
        };
        let port = cx.pick_port(&set, cx.hint.local.map(|a| a.port()));
        let s = self.sk_mut(id);
        s.port = port;
        s.bound = true;
        Ok(RuleId::BsdBindEphemeral)
    }

    /// connect() autobind on another OS: FreeBSD `in_pcb_lport_dest()` with the foreign
    /// address (4-tuple unique, no unconnected PCB on the local address); macOS (and, assumed,
    /// Windows) a port no socket uses.
    pub(super) fn other_os_hash_connect(&mut self, id: SkId, cx: &mut Cx<'_>) -> Option<RuleId> {
        let sk = self.sk(id).clone();
        let (lo, hi) = self.sysctl(sk.host).ip_local_port_range;
        let peer = sk.peer.expect("connecting socket has a peer");
        let busy: BTreeSet<u16> = self
            .sks
            .iter()
            .filter(|(oid, o)| {
                **oid != id && o.host == sk.host && o.bound && (lo..=hi).contains(&o.port)
            })
            .filter(|(_, o)| match self.profile.os {
                Os::FreeBsd => {
                    let same_tuple =
                        o.matches_wire(std::net::SocketAddr::new(sk.local_ip, o.port), peer);
                    let unconnected = o.peer.is_none() && !o.is_minisock();
                    let overlaps = o.local_ip.is_unspecified()
                        || crate::addr::wire_ip(o.local_ip) == crate::addr::wire_ip(sk.local_ip);
                    same_tuple || (unconnected && overlaps)
                }
                _ => true,
            })
            .map(|(_, o)| o.port)
            .collect();
        if busy.len() == usize::from(hi - lo) + 1 {
            return None;
        }
        let set = PortSet {
            lo,
            hi,
            parity: None,
            except: busy,
        };
        let port = cx.pick_port(&set, cx.hint.local.map(|a| a.port()));
        let s = self.sk_mut(id);
        s.port = port;
        s.bound = true;
        s.connect_bind = true;
        let rule = if self.profile.os == Os::FreeBsd {
            RuleId::BsdConnectAutobind
        } else {
            RuleId::NoShareConnectAutobind
        };
        cx.rule(rule);
        Some(rule)
    }

    /// The options `setsockopt()` knows on the profile's OS; `Some` answers a call the OS
    /// refuses or the model does not describe there.
    pub(super) fn other_os_setsockopt(&self, opt: SockOpt) -> Option<Res> {
        let os = self.profile.os;
        let noopt = Some((Outcome::Err(Errno::ENOPROTOOPT), RuleId::SetsockoptNotOnOs));
        let not_modelled = Some((Outcome::Err(Errno::ENOSYS), RuleId::NotModelled));
        match opt {
            SockOpt::ReusePortLb(_) if os != Os::FreeBsd => noopt,
            SockOpt::ExclusiveAddrUse(_) if os != Os::Windows => noopt,
            SockOpt::ReusePort(_) if os == Os::Windows => noopt,
            SockOpt::BindAddressNoPort(_) | SockOpt::Linger2(_) | SockOpt::UserTimeout(_)
                if os != Os::Linux =>
            {
                noopt
            }
            // Keepalive timers (and FreeBSD's always_keepalive) are not modelled off Linux.
            SockOpt::KeepAlive(true)
            | SockOpt::KeepIdle(_)
            | SockOpt::KeepIntvl(_)
            | SockOpt::KeepCnt(_)
                if os != Os::Linux =>
            {
                not_modelled
            }
            _ => None,
        }
    }

    /// Ops the model does not describe on the profile's OS.
    pub(super) fn other_os_refuses(&self, op: &Op) -> Option<Res> {
        if self.profile.os == Os::Linux {
            return None;
        }
        match op {
            // SOCK_DESTROY is Linux's sock_diag; a blackholed peer runs retransmission and
            // keepalive timers whose values are Linux's.
            Op::Destroy { .. } | Op::PeerVanishes { .. } => {
                Some((Outcome::Err(Errno::ENOSYS), RuleId::NotModelled))
            }
            _ => None,
        }
    }
}
