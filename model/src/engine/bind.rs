//! `bind()`, `listen()` and the port table: `__inet_bind()`, `__inet6_bind()`,
//! `inet_csk_get_port()`, `inet_csk_find_open_port()`, `inet_csk_bind_conflict()`,
//! `inet_csk_listen_start()`.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::sock::{Bucket, FASTREUSEPORT_ANY, FASTREUSEPORT_STRICT, Sk, SkId, SockState};
use super::{Cx, Model, Res};
use crate::addr::Family;
use crate::errno::Errno;
use crate::mutant::Mutant;
use crate::op::SockId;
use crate::outcome::Outcome;
use crate::ports::PortSet;
use crate::rule::RuleId;
use crate::state::TcpState;

/// `ipv6_addr_type()` reduced to the classes the bind rules distinguish.
#[derive(Clone, Copy, PartialEq, Eq)]
enum V6Type {
    Any,
    Mapped,
    Other,
}

fn v6_type(a: Ipv6Addr) -> V6Type {
    if a.is_unspecified() {
        V6Type::Any
    } else if a.to_ipv4_mapped().is_some() {
        V6Type::Mapped
    } else {
        V6Type::Other
    }
}

/// `ipv6_rcv_saddr_equal()`: whether two IPv6-side bindings overlap.
#[allow(clippy::too_many_arguments)]
fn ipv6_rcv_saddr_equal(
    sk1_v6: Ipv6Addr,
    sk2_v6: Option<Ipv6Addr>,
    sk1_v4: Ipv4Addr,
    sk2_v4: Ipv4Addr,
    sk1_ipv6only: bool,
    sk2_ipv6only: bool,
    match_sk1_wildcard: bool,
    match_sk2_wildcard: bool,
) -> bool {
    let t1 = v6_type(sk1_v6);
    let t2 = sk2_v6.map_or(V6Type::Mapped, v6_type);
    // If both are mapped, treat them as IPv4.
    if t1 == V6Type::Mapped && t2 == V6Type::Mapped {
        if !sk2_ipv6only {
            if sk1_v4 == sk2_v4 {
                return true;
            }
            return (match_sk1_wildcard && sk1_v4.is_unspecified())
                || (match_sk2_wildcard && sk2_v4.is_unspecified());
        }
        return false;
    }
    if t1 == V6Type::Any && t2 == V6Type::Any {
        return true;
    }
    if t2 == V6Type::Any && match_sk2_wildcard && !(sk2_ipv6only && t1 == V6Type::Mapped) {
        return true;
    }
    if t1 == V6Type::Any && match_sk1_wildcard && !(sk1_ipv6only && t2 == V6Type::Mapped) {
        return true;
    }
    sk2_v6 == Some(sk1_v6)
}

/// `ipv4_rcv_saddr_equal()`.
fn ipv4_rcv_saddr_equal(
    sk1: Ipv4Addr,
    sk2: Ipv4Addr,
    sk2_ipv6only: bool,
    match_sk1_wildcard: bool,
    match_sk2_wildcard: bool,
) -> bool {
    if !sk2_ipv6only {
        if sk1 == sk2 {
            return true;
        }
        return (match_sk1_wildcard && sk1.is_unspecified())
            || (match_sk2_wildcard && sk2.is_unspecified());
    }
    false
}

/// Whether a socket binds on the IPv4 side: AF_INET, or AF_INET6 on a v4-mapped address.
fn on_ipv4_side(sk: &Sk) -> bool {
    sk.rcv_saddr_v6()
        .is_none_or(|a| a.to_ipv4_mapped().is_some())
}

/// `inet_rcv_saddr_equal(sk, sk2, true)`: whether `sk`'s binding overlaps `sk2`'s, seen from
/// `sk`'s family.
pub(super) fn rcv_saddr_equal(sk: &Sk, sk2: &Sk, mutant: Option<Mutant>) -> bool {
    // Mutant::MappedWildcardNotWildcard: `::ffff:0.0.0.0` only matches its own IPv4 address.
    if mutant == Some(Mutant::MappedWildcardNotWildcard)
        && [sk, sk2]
            .iter()
            .any(|s| s.family == Family::Inet6 && s.rcv_saddr_v4().is_unspecified())
        && on_ipv4_side(sk)
        && on_ipv4_side(sk2)
    {
        return sk.rcv_saddr_v4() == sk2.rcv_saddr_v4();
    }
    // Mutant::V6OnlyIgnoredInConflicts: IPV6_V6ONLY is not read.
    let v6only = |s: &Sk| s.opts.v6only && mutant != Some(Mutant::V6OnlyIgnoredInConflicts);
    match sk.family {
        Family::Inet6 => ipv6_rcv_saddr_equal(
            sk.rcv_saddr_v6().expect("AF_INET6 socket"),
            sk2.rcv_saddr_v6(),
            sk.rcv_saddr_v4(),
            sk2.rcv_saddr_v4(),
            v6only(sk),
            v6only(sk2),
            true,
            true,
        ),
        Family::Inet => ipv4_rcv_saddr_equal(
            sk.rcv_saddr_v4(),
            sk2.rcv_saddr_v4(),
            v6only(sk2),
            true,
            true,
        ),
    }
}

/// Whether `sk` is bound to the IPv4 wildcard: `0.0.0.0`, or `::ffff:0.0.0.0` on AF_INET6.
fn is_v4_wildcard(sk: &Sk) -> bool {
    match sk.family {
        Family::Inet => sk.rcv_saddr_v4().is_unspecified(),
        Family::Inet6 => sk.rcv_saddr_v6() == Some(Ipv4Addr::UNSPECIFIED.to_ipv6_mapped()),
    }
}

/// Why `inet_bind_conflict()` let two sockets share a port, or why it did not.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Share {
    /// They may share: both SO_REUSEADDR, owner not listening.
    ReuseAddr,
    /// They may share: both SO_REUSEPORT, same uid (or the owner is a minisocket).
    ReusePort,
    /// They conflict, for this reason.
    Conflict(RuleId),
}

/// `inet_bind_conflict(sk, sk2, uid, relax, reuseport_cb_ok = true, reuseport_ok)`.
fn share(sk: &Sk, sk2: &Sk, relax: bool, reuseport_ok: bool, mutant: Option<Mutant>) -> Share {
    let sk2_tw = sk2.is_minisock();
    let both_rp = sk.opts.reuseport && sk2.opts.reuseport;
    // Mutant::ReusePortIgnoresUid: no owner test.
    let rp_uid_ok = sk2_tw || sk.uid == sk2.uid || mutant == Some(Mutant::ReusePortIgnoresUid);
    // Mutant::ReuseAddrOneSide: the owner's SO_REUSEADDR is not read.
    let sk2_reuse = sk2.opts.reuseaddr || mutant == Some(Mutant::ReuseAddrOneSide);
    // Mutant::ReuseAddrOverListener: a listening owner shares as well.
    let sk2_may_share =
        sk2.state != TcpState::Listen || mutant == Some(Mutant::ReuseAddrOverListener);
    if sk.opts.reuseaddr && sk2_reuse && sk2_may_share {
        if !relax || (!reuseport_ok && both_rp && rp_uid_ok) {
            return Share::Conflict(RuleId::BindEphemeralExhausted);
        }
        return Share::ReuseAddr;
    }
    if !reuseport_ok || !both_rp || !rp_uid_ok {
        let why = if reuseport_ok && both_rp {
            RuleId::BindReusePortOtherUid
        } else if sk2_tw {
            RuleId::BindTimeWaitNeedsReuseAddrOnBoth
        } else if sk.opts.reuseaddr && sk2.opts.reuseaddr {
            RuleId::BindReuseAddrOverListener
        } else {
            RuleId::BindConflict
        };
        return Share::Conflict(why);
    }
    Share::ReusePort
}

/// What the conflict check over a port's owners found.
enum Check {
    /// No overlapping owner conflicts; the rule says why (free, or shared by an option).
    Clear(RuleId),
    /// This owner conflicts, for this reason.
    Conflict(RuleId),
}

impl Model {
    /// The owners of a port in a namespace: every socket and minisocket on its bind bucket.
    pub(super) fn owners(&self, host: crate::op::Host, port: u16) -> Vec<SkId> {
        self.sks
            .iter()
            .filter(|(_, s)| s.host == host && s.bound && s.port == port)
            .map(|(id, _)| *id)
            .collect()
    }

    /// `inet_csk_bind_conflict()` for `sk` on `port` (the socket's own entry is skipped).
    fn bind_conflict(&self, id: SkId, port: u16, relax: bool, reuseport_ok: bool) -> Check {
        let sk = self.sk(id);
        let mut reason = RuleId::BindPortFree;
        for o in self.owners(sk.host, port) {
            if o == id {
                continue;
            }
            let sk2 = self.sk(o);
            // Mutant::BindIgnoresTimeWait: minisockets are not on the list the check walks.
            if sk2.is_minisock() && self.mutated(Mutant::BindIgnoresTimeWait) {
                continue;
            }
            if !rcv_saddr_equal(sk, sk2, self.mutant) || self.wild4_unseen(sk, sk2) {
                continue;
            }
            match share(sk, sk2, relax, reuseport_ok, self.mutant) {
                Share::Conflict(why) => return Check::Conflict(why),
                Share::ReuseAddr => reason = RuleId::BindReuseAddrBoth,
                Share::ReusePort if reason == RuleId::BindPortFree => {
                    reason = RuleId::BindReusePortSameUid;
                }
                Share::ReusePort => {}
            }
        }
        Check::Clear(reason)
    }

    /// Linux 6.1: whether `sk`'s conflict check misses the owner `sk2`. A v4-mapped specific
    /// AF_INET6 bind looks for wildcard owners with `inet_bind2_bucket_match_addr_any()`, which
    /// there compares families: an AF_INET6 bind2 bucket matches only when its address is `::`.
    /// So the owners of the IPv4-wildcard bucket (`0.0.0.0`, `::ffff:0.0.0.0`, one bucket for
    /// both) are missed when an AF_INET6 socket created that bucket.
    fn wild4_unseen(&self, sk: &Sk, sk2: &Sk) -> bool {
        self.profile.mapped_bind_misses_ipv6_wildcard_bucket()
            && sk.family == Family::Inet6
            && sk
                .rcv_saddr_v6()
                .is_some_and(|a| v6_type(a) == V6Type::Mapped)
            && !sk.rcv_saddr_v4().is_unspecified()
            && is_v4_wildcard(sk2)
            && self.wild4_tb2.get(&(sk2.host, sk2.port)) == Some(&Family::Inet6)
    }

    /// Linux 6.1: keeps `wild4_tb2` in step with the owners after each call. A port's
    /// IPv4-wildcard bind2 bucket takes the family of the socket that created it
    /// (`inet_bind2_bucket_init()`: `tb->family`), later owners of either family join it
    /// (`inet_bind2_bucket_addr_match()`), and it lives while one of them is bound there
    /// (`inet_bind2_bucket_destroy()`). One call adds at most one owner to it.
    pub(super) fn sync_wild4_tb2(&mut self) {
        if !self.profile.mapped_bind_misses_ipv6_wildcard_bucket() {
            return;
        }
        let mut live: std::collections::BTreeMap<(crate::op::Host, u16), Family> =
            std::collections::BTreeMap::new();
        for s in self.sks.values() {
            if s.bound && s.port != 0 && is_v4_wildcard(s) {
                live.entry((s.host, s.port)).or_insert(s.family);
            }
        }
        self.wild4_tb2.retain(|k, _| live.contains_key(k));
        for (k, family) in live {
            self.wild4_tb2.entry(k).or_insert(family);
        }
    }

    /// `sk_reuseport_match()`: whether the bucket's cache lets `sk` skip the conflict check.
    fn reuseport_match(b: &Bucket, sk: &Sk) -> bool {
        if b.fastreuseport <= 0 || !sk.opts.reuseport || b.fastuid != sk.uid {
            return false;
        }
        if b.fastreuseport == FASTREUSEPORT_ANY {
            return true;
        }
        let cached = Sk {
            family: b.fast_family,
            local_ip: b.fast_ip,
            opts: super::sock::Opts {
                v6only: b.fast_v6only,
                ..sk.opts
            },
            ..sk.clone()
        };
        // The cached address may be a wildcard that covers sk's; sk's own is taken literally.
        match b.fast_family {
            Family::Inet6 => ipv6_rcv_saddr_equal(
                cached.rcv_saddr_v6().expect("AF_INET6"),
                sk.rcv_saddr_v6(),
                cached.rcv_saddr_v4(),
                sk.rcv_saddr_v4(),
                b.fast_v6only,
                sk.opts.v6only,
                true,
                false,
            ),
            Family::Inet => ipv4_rcv_saddr_equal(
                cached.rcv_saddr_v4(),
                sk.rcv_saddr_v4(),
                sk.opts.v6only,
                true,
                false,
            ),
        }
    }

    /// `inet_csk_update_fastreuse()`: refreshes the bucket's caches as `sk` joins it.
    fn update_fastreuse(&mut self, id: SkId, port: u16, first_owner: bool) {
        let first_owner = first_owner && self.profile.fastreuse_from_first_owner();
        let sk = self.sk(id).clone();
        let reuse = sk.opts.reuseaddr && sk.state != TcpState::Listen;
        let key = (sk.host, port);
        let cache_sk = |b: &mut Bucket, mode: i8| {
            b.fastreuseport = mode;
            b.fastuid = sk.uid;
            b.fast_family = sk.family;
            b.fast_ip = sk.local_ip;
            b.fast_v6only = sk.opts.v6only;
        };
        let mut b = self.buckets.get(&key).copied().unwrap_or(Bucket {
            fastreuse: 0,
            fastreuseport: 0,
            fastuid: 0,
            fast_family: sk.family,
            fast_ip: sk.local_ip,
            fast_v6only: false,
        });
        if first_owner {
            b.fastreuse = i8::from(reuse);
            if sk.opts.reuseport {
                cache_sk(&mut b, FASTREUSEPORT_ANY);
            } else {
                b.fastreuseport = 0;
            }
        } else {
            if !reuse {
                b.fastreuse = 0;
            }
            if sk.opts.reuseport {
                if !Self::reuseport_match(&b, &sk) {
                    cache_sk(&mut b, FASTREUSEPORT_STRICT);
                }
            } else {
                b.fastreuseport = 0;
            }
        }
        self.buckets.insert(key, b);
        self.tb2_bind_joins(id, port);
    }

    /// Puts `sk` on port `port`'s owner list.
    fn bind_hash(&mut self, id: SkId, port: u16) {
        let s = self.sk_mut(id);
        s.port = port;
        s.bound = true;
    }

    /// `__inet_put_port()`: takes `sk` off its port, dropping the bucket when it empties, and
    /// (6.18) handing the port back to connect() when only connect()-bound owners remain.
    pub(super) fn put_port(&mut self, id: SkId) {
        let (host, port, was_bound) = {
            let s = self.sk(id);
            (s.host, s.port, s.bound)
        };
        let group = Self::tb2_key(self.sk(id), port);
        {
            let s = self.sk_mut(id);
            s.bound = false;
            if s.port != 0 {
                s.sport = s.port;
            }
            s.port = 0;
            s.connect_bind = false;
        }
        if was_bound {
            self.tb2_left(group, id);
            self.release_bucket(host, port);
        }
    }

    /// Called after an owner left port `port`: drops an empty bucket, or on 6.18 resets the
    /// caches to "connect()-owned" when every group of the port says "made by connect()"
    /// (`inet_bind_bucket_destroy()`, "tcp: Update bind bucket state on port release"; see the
    /// `tb2` module: mostly, when every remaining owner got the port from connect()).
    pub(super) fn release_bucket(&mut self, host: crate::op::Host, port: u16) {
        let owners = self.owners(host, port);
        if owners.is_empty() {
            self.buckets.remove(&(host, port));
        } else if self.profile.releases_bind_owned_ports()
            && self.tb2_all_connect_made(host, port)
            && let Some(b) = self.buckets.get_mut(&(host, port))
        {
            b.fastreuse = -1;
            b.fastreuseport = -1;
        }
    }

    /// `inet_csk_get_port(sk, snum)` for a non-zero port: the fast path through the bucket's
    /// caches, else the conflict check over every owner.
    fn get_port_explicit(&mut self, id: SkId, port: u16) -> Result<RuleId, RuleId> {
        let sk = self.sk(id).clone();
        let reuse = sk.opts.reuseaddr && sk.state != TcpState::Listen;
        let others: Vec<SkId> = self
            .owners(sk.host, port)
            .into_iter()
            .filter(|o| *o != id)
            .collect();
        let has_owners = !others.is_empty() || sk.bound;
        let bucket = self.buckets.get(&(sk.host, port)).copied();
        let fast = match bucket {
            Some(b) if has_owners => (b.fastreuse > 0 && reuse) || Self::reuseport_match(&b, &sk),
            _ => false,
        };
        let rule = if fast {
            RuleId::BindFastReuseCache
        } else {
            match self.bind_conflict(id, port, true, true) {
                Check::Conflict(why) => return Err(why),
                Check::Clear(why) => why,
            }
        };
        let first = !has_owners;
        if bucket.is_none() || first {
            self.buckets.remove(&(sk.host, port));
        }
        self.update_fastreuse(id, port, first);
        if !sk.bound {
            self.bind_hash(id, port);
        }
        Ok(rule)
    }

    /// `inet_csk_find_open_port()`: the ports `bind(:0)` (or `listen()` autobind) may take.
    ///
    /// The kernel starts at a random offset, so any port of the first pass that has a free one
    /// may come out; passes are: odd offsets then even offsets, in the lower half then the
    /// upper half for SO_REUSEADDR sockets (ranges of at least 4 ports), and with
    /// `ip_autobind_reuse` a second, relaxed round.
    pub(super) fn open_ports(&self, id: SkId) -> Option<(PortSet, RuleId)> {
        let sk = self.sk(id);
        let sys = self.sysctl(sk.host);
        let (low, high) = sys.ip_local_port_range;
        let (low, high) = (u32::from(low), u32::from(high) + 1);
        let rounds: &[bool] = if sys.ip_autobind_reuse {
            &[false, true]
        } else {
            &[false]
        };
        // The ports that have a bucket on this host (every other port is free).
        let held: BTreeSet<u16> = self
            .sks
            .values()
            .filter(|s| s.host == sk.host && s.bound)
            .map(|s| s.port)
            .collect();
        for &relax in rounds {
            let mut halves = vec![(low, high)];
            if sk.opts.reuseaddr && high - low >= 4 {
                let half = low + (((high - low) >> 2) << 1);
                halves = vec![(low, half), (half, high)];
            }
            for (l, h) in halves {
                let mut remaining = h - l;
                if remaining > 1 {
                    remaining &= !1;
                }
                for parity_offset in [1u32, 0] {
                    let is_candidate = |p: u16| {
                        let k = u32::from(p).wrapping_sub(l);
                        k < remaining
                            && k % 2 == parity_offset
                            && !sys.ip_local_reserved_ports.contains(&p)
                    };
                    // Only a port that has a bucket can be busy: test those, count the rest.
                    let candidates = (parity_offset..remaining)
                        .step_by(2)
                        .filter(|k| !sys.ip_local_reserved_ports.contains(&((l + k) as u16)))
                        .count();
                    let busy: BTreeSet<u16> = held
                        .iter()
                        .copied()
                        .filter(|&p| is_candidate(p))
                        .filter(|&p| {
                            matches!(
                                self.bind_conflict_for_open(id, p, relax),
                                Check::Conflict(_)
                            )
                        })
                        .collect();
                    if candidates > busy.len() {
                        let lo = (l + parity_offset) as u16;
                        let hi = (l + remaining - 1) as u16;
                        let parity = Some(u16::from(lo % 2 == 1));
                        let mut except = busy;
                        except.extend(
                            sys.ip_local_reserved_ports
                                .iter()
                                .copied()
                                .filter(|p| (lo..=hi).contains(p)),
                        );
                        let set = PortSet {
                            lo,
                            hi,
                            parity,
                            except,
                        };
                        let rule = if relax {
                            RuleId::BindEphemeralAutobindReuse
                        } else {
                            RuleId::BindEphemeral
                        };
                        return Some((set, rule));
                    }
                }
            }
        }
        None
    }

    /// The per-port test of `inet_csk_find_open_port()`: a port with no bucket is free; else
    /// `inet_csk_bind_conflict(sk, tb, relax, reuseport_ok = false)`.
    fn bind_conflict_for_open(&self, id: SkId, port: u16, relax: bool) -> Check {
        let sk = self.sk(id);
        // Mutant::BindAnyTakesHeldPort: no conflict test at all.
        if self.owners(sk.host, port).is_empty() || self.mutated(Mutant::BindAnyTakesHeldPort) {
            return Check::Clear(RuleId::BindPortFree);
        }
        self.bind_conflict(id, port, relax, false)
    }

    /// `inet_csk_get_port(sk, 0)`.
    fn get_port_any(&mut self, id: SkId, cx: &mut Cx<'_>) -> Result<RuleId, RuleId> {
        let Some((set, rule)) = self.open_ports(id) else {
            return Err(RuleId::BindEphemeralExhausted);
        };
        let port = cx.pick_port(&set, cx.hint.local.map(|a| a.port()));
        let first = self.owners(self.sk(id).host, port).is_empty();
        if first {
            self.buckets.remove(&(self.sk(id).host, port));
        }
        self.update_fastreuse(id, port, first);
        self.bind_hash(id, port);
        Ok(rule)
    }

    /// `bind(2)`.
    pub(super) fn op_bind(&mut self, id: SkId, ip: IpAddr, port: u16, cx: &mut Cx<'_>) -> Res {
        let err = |e: Errno, r: RuleId| (Outcome::Err(e), r);
        let sk = self.sk(id).clone();
        let sys = self.sysctl(sk.host).clone();
        let privileged = sk.uid == 0;
        let os = self.profile.os;
        // FreeBSD: reservedlow..=reservedhigh on any address; macOS: only a specific address;
        // Windows: no reserved ports (ip_unprivileged_port_start 0 in its defaults).
        let needs_cap = port != 0
            && port < sys.ip_unprivileged_port_start
            && !(os == crate::profile::Os::MacOs && ip.is_unspecified());
        let cap_rule = if os.is_bsd() {
            RuleId::BsdBindReservedPort
        } else {
            RuleId::BindPrivilegedPort
        };
        match (sk.family, ip) {
            (Family::Inet, IpAddr::V6(_)) => {
                return err(Errno::EAFNOSUPPORT, RuleId::BindFamilyMismatch);
            }
            (Family::Inet6, IpAddr::V4(_)) => {
                return err(Errno::EINVAL, RuleId::BindFamilyMismatch);
            }
            (Family::Inet, IpAddr::V4(a)) => {
                // __inet_bind(): address, then privilege, then state.
                if !a.is_unspecified()
                    && !sys.ip_nonlocal_bind
                    && !self.topology.is_local(sk.host, ip)
                {
                    return err(Errno::EADDRNOTAVAIL, RuleId::BindAddrNotLocal);
                }
                if needs_cap && !privileged {
                    return err(Errno::EACCES, cap_rule);
                }
                if sk.state != TcpState::Closed || sk.port != 0 {
                    return err(Errno::EINVAL, RuleId::BindAlreadyBound);
                }
            }
            (Family::Inet6, IpAddr::V6(a)) => {
                // __inet6_bind(): privilege, then state, then the address.
                if needs_cap && !privileged {
                    return err(Errno::EACCES, cap_rule);
                }
                if sk.state != TcpState::Closed || sk.port != 0 {
                    return err(Errno::EINVAL, RuleId::BindAlreadyBound);
                }
                if let Some(v4) = a.to_ipv4_mapped() {
                    if sk.opts.v6only {
                        return err(Errno::EINVAL, RuleId::BindMappedOnV6Only);
                    }
                    if !v4.is_unspecified()
                        && !sys.ip_nonlocal_bind
                        && !self.topology.is_local(sk.host, IpAddr::V4(v4))
                    {
                        return err(Errno::EADDRNOTAVAIL, RuleId::BindAddrNotLocal);
                    }
                } else if !a.is_unspecified() && !self.topology.is_local(sk.host, ip) {
                    return err(Errno::EADDRNOTAVAIL, RuleId::BindAddrNotLocal);
                }
            }
        }
        let saved_v6only = sk.opts.v6only;
        {
            let s = self.sk_mut(id);
            s.local_ip = ip;
            s.saddr_v4 = s.rcv_saddr_v4();
            if let IpAddr::V6(a) = ip
                && !a.is_unspecified()
                && a.to_ipv4_mapped().is_none()
            {
                // A native IPv6 address makes the socket v6-only (__inet6_bind()).
                s.opts.v6only = true;
            }
        }
        let rule = if port == 0 && sk.opts.bind_address_no_port {
            RuleId::BindAddressNoPort
        } else {
            let got = match (os, port) {
                (crate::profile::Os::Linux, 0) => self
                    .get_port_any(id, cx)
                    .map_err(|r| (Errno::EADDRINUSE, r)),
                (crate::profile::Os::Linux, _) => self
                    .get_port_explicit(id, port)
                    .map_err(|r| (Errno::EADDRINUSE, r)),
                (_, 0) => self.other_os_get_port_any(id, cx),
                (_, _) => self.other_os_get_port(id, port),
            };
            match got {
                Ok(rule) => rule,
                Err((errno, why)) => {
                    // The failure path resets the address to the wildcard, whatever it was
                    // before (inet_reset_saddr()), and restores IPV6_V6ONLY.
                    let s = self.sk_mut(id);
                    s.local_ip = s.family.any();
                    s.saddr_v4 = Ipv4Addr::UNSPECIFIED;
                    s.opts.v6only = saved_v6only;
                    return err(errno, why);
                }
            }
        };
        let s = self.sk_mut(id);
        if !ip.is_unspecified() {
            s.addr_lock = true;
        }
        if port != 0 {
            s.port_lock = true;
        }
        s.peer = None;
        (Outcome::Ok, rule)
    }

    /// `listen(2)`: `__inet_listen_sk()` and `inet_csk_listen_start()`.
    pub(super) fn op_listen(
        &mut self,
        id: SkId,
        sock: SockId,
        backlog: u32,
        cx: &mut Cx<'_>,
    ) -> Res {
        let (ss, _) = self.fd_state(sock);
        let state = self.sk(id).state;
        if ss != SockState::Unconnected || !matches!(state, TcpState::Closed | TcpState::Listen) {
            return (Outcome::Err(Errno::EINVAL), RuleId::ListenBadState);
        }
        if state == TcpState::Listen {
            self.sk_mut(id).backlog = backlog;
            return (Outcome::Ok, RuleId::ListenAgain);
        }
        self.sk_mut(id).backlog = backlog;
        if self.profile.os != crate::profile::Os::Linux {
            // tcp_usr_listen(): a port is looked at only when the socket has none.
            let port = self.sk(id).port;
            let rule = if port == 0 {
                match self.other_os_get_port_any(id, cx) {
                    Ok(r) => r,
                    Err((errno, why)) => return (Outcome::Err(errno), why),
                }
            } else {
                RuleId::ListenNoRecheck
            };
            self.sk_mut(id).state = TcpState::Listen;
            return (Outcome::Ok, rule);
        }
        // The socket is LISTEN while get_port() re-validates it.
        self.sk_mut(id).state = TcpState::Listen;
        let port = self.sk(id).port;
        let got = if port == 0 {
            self.get_port_any(id, cx).map(|_| RuleId::ListenAutobind)
        } else if self.mutated(Mutant::ListenSkipsRecheck) {
            // Mutant::ListenSkipsRecheck: the port bind() gave is kept unchecked.
            Ok(RuleId::ListenOk)
        } else {
            self.get_port_explicit(id, port).map(|_| RuleId::ListenOk)
        };
        match got {
            Ok(rule) if self.sk(id).sent_syn && self.profile.listen_after_connect_fails() => {
                // Variant listen_after_connect=einval: the port get_port() gave stays.
                cx.rule(rule);
                self.sk_mut(id).state = TcpState::Closed;
                (Outcome::Err(Errno::EINVAL), RuleId::ListenAfterConnect)
            }
            Ok(rule) => {
                self.sk_mut(id).listened = true;
                (Outcome::Ok, rule)
            }
            Err(why) => {
                self.sk_mut(id).state = TcpState::Closed;
                cx.rule(why);
                let rule = if port == 0 {
                    RuleId::BindEphemeralExhausted
                } else {
                    RuleId::ListenConflict
                };
                (Outcome::Err(Errno::EADDRINUSE), rule)
            }
        }
    }
}
