//! Kernel profiles: every rule that differs between the known profiles, with both behaviours.
//! Each test runs the same calls under the profiles on either side of the change (the kernel
//! matrix checked each on Debian's 6.1.0-56, 6.12.117 and 7.3.4 and on 6.18.44; the scenarios
//! `tests/scenarios/kernels-*.scn` are the same cases as files).

use super::tests::{T, addr, s};
use super::*;
use crate::addr::Family;
use crate::op::{Op, SockOpt};

const L6_1: Profile = Profile::linux(6, 1);
const L6_12: Profile = Profile::linux(6, 12);
const L6_18: Profile = Profile::LINUX_6_18;
const L7_3: Profile = Profile::linux(7, 3);

fn in_use() -> Outcome {
    Outcome::Err(Errno::EADDRINUSE)
}

/// `Profile::mapped_bind_misses_ipv6_wildcard_bucket`: 6.1 only.
#[test]
fn a_mapped_bind_misses_the_ipv6_owner_of_the_mapped_wildcard_on_6_1_only() {
    for (profile, want) in [
        (L6_1, Outcome::Ok),
        (L6_12, in_use()),
        (L6_18, in_use()),
        (L7_3, in_use()),
    ] {
        let mut t = T::new().profile(profile);
        t.socket(0, Family::Inet6);
        assert_eq!(t.bind(0, "[::ffff:0.0.0.0]:5000"), Outcome::Ok);
        t.socket(1, Family::Inet6);
        assert_eq!(t.bind(1, "[::ffff:127.0.0.1]:5000"), want, "{profile}");
        // An AF_INET owner of 0.0.0.0 made the bucket: seen everywhere.
        t.socket(2, Family::Inet);
        assert_eq!(t.bind(2, "0.0.0.0:5001"), Outcome::Ok);
        t.socket(3, Family::Inet6);
        assert_eq!(t.bind(3, "[::ffff:127.0.0.1]:5001"), in_use(), "{profile}");
        assert_eq!(t.rule(), RuleId::BindConflict, "{profile}");
    }
}

/// On 6.1 the IPv4-wildcard bucket keeps its creator's family while any owner stays; a new
/// bucket takes the new creator's.
#[test]
fn the_ipv4_wildcard_bucket_keeps_its_creators_family_on_6_1() {
    for (profile, want) in [(L6_1, Outcome::Ok), (L6_18, in_use())] {
        let mut t = T::new().profile(profile);
        t.socket(0, Family::Inet6);
        t.set(0, SockOpt::ReuseAddr(true));
        assert_eq!(t.bind(0, "[::ffff:0.0.0.0]:5000"), Outcome::Ok);
        t.socket(1, Family::Inet);
        t.set(1, SockOpt::ReuseAddr(true));
        assert_eq!(t.bind(1, "0.0.0.0:5000"), Outcome::Ok);
        t.close(0);
        t.socket(2, Family::Inet6);
        assert_eq!(t.bind(2, "[::ffff:127.0.0.1]:5000"), want, "{profile}");
    }
    // Once every owner left, the next creator decides: an AF_INET one is seen.
    let mut t = T::new().profile(L6_1);
    t.socket(0, Family::Inet6);
    assert_eq!(t.bind(0, "[::ffff:0.0.0.0]:5000"), Outcome::Ok);
    t.close(0);
    t.socket(1, Family::Inet);
    assert_eq!(t.bind(1, "0.0.0.0:5000"), Outcome::Ok);
    t.socket(2, Family::Inet6);
    assert_eq!(t.bind(2, "[::ffff:127.0.0.1]:5000"), in_use());
}

/// `Profile::fastreuse_from_first_owner`: before 6.8.
#[test]
fn a_stale_reuseaddr_cache_admits_a_bind_before_6_8_only() {
    for (profile, want) in [
        (L6_1, Outcome::Ok),
        (L6_12, in_use()),
        (L6_18, in_use()),
        (L7_3, in_use()),
    ] {
        let mut t = T::new().profile(profile);
        t.socket(0, Family::Inet);
        t.set(0, SockOpt::ReuseAddr(true));
        t.bind(0, "127.0.0.2:5000");
        t.set(0, SockOpt::ReuseAddr(false));
        t.socket(1, Family::Inet);
        t.set(1, SockOpt::ReuseAddr(true));
        assert_eq!(t.bind(1, "127.0.0.2:5000"), want, "{profile}");
    }
}

/// `Profile::diag_dumps_bound_sockets`: from 6.8.
#[test]
fn bound_sockets_are_in_the_table_from_6_8() {
    for (profile, rows) in [
        (L6_1, vec![]),
        (L6_12, vec!["UNCONN 127.0.0.1:5000 *"]),
        (L6_18, vec!["UNCONN 127.0.0.1:5000 *"]),
        (L7_3, vec!["UNCONN 127.0.0.1:5000 *"]),
    ] {
        let mut t = T::new().profile(profile);
        t.socket(0, Family::Inet);
        t.bind(0, "127.0.0.1:5000");
        assert_eq!(t.table(), rows, "{profile}");
    }
}

/// `Profile::releases_bind_owned_ports`: from 6.18 (not on Debian's 6.12.117).
#[test]
fn a_port_goes_back_to_connect_when_its_bind_owner_leaves_from_6_18() {
    for (profile, want) in [
        (L6_1, Outcome::Err(Errno::EADDRNOTAVAIL)),
        (L6_12, Outcome::Err(Errno::EADDRNOTAVAIL)),
        (L6_18, Outcome::Ok),
        (L7_3, Outcome::Ok),
    ] {
        let mut t = T::with(|s| s.ip_local_port_range = (40000, 40000)).profile(profile);
        t.socket(0, Family::Inet);
        t.bind(0, "127.0.0.1:5000");
        t.listen(0);
        t.socket(1, Family::Inet);
        t.bind(1, "127.0.0.1:5001");
        t.listen(1);
        t.socket(2, Family::Inet);
        assert_eq!(t.connect(2, "127.0.0.1:5000"), Outcome::Ok);
        t.socket(3, Family::Inet);
        assert_eq!(t.bind(3, "127.0.0.2:40000"), Outcome::Ok);
        t.close(3);
        t.socket(4, Family::Inet);
        assert_eq!(t.connect(4, "127.0.0.1:5001"), want, "{profile}");
    }
}

/// 6.18's release rule reads the port-and-address groups (the `tb2` module): a socket that
/// bound the port with bind() and then moved, by its connect(), into the group its TIME-WAIT
/// predecessor's connect() made, hands the port back to connect() once that TIME-WAIT leaves
/// (`kernels-bound-port-back-to-connect-through-its-timewait.scn`, found by the soak).
#[test]
fn a_bound_port_goes_back_to_connect_once_the_timewait_its_socket_took_over_leaves() {
    for (profile, want) in [
        (L6_1, Outcome::Err(Errno::EADDRNOTAVAIL)),
        (L6_12, Outcome::Err(Errno::EADDRNOTAVAIL)),
        (L6_18, Outcome::Err(Errno::EINPROGRESS)),
        (L7_3, Outcome::Err(Errno::EINPROGRESS)),
    ] {
        let mut t = T::with(|s| s.ip_local_port_range = (40000, 40000)).profile(profile);
        t.socket(0, Family::Inet);
        t.bind(0, "0.0.0.0:5000");
        t.listen(0);
        t.socket(1, Family::Inet);
        t.set(1, SockOpt::ReuseAddr(true));
        assert_eq!(t.connect(1, "127.0.0.1:5000"), Outcome::Ok);
        t.close(1);
        t.socket_nb(3, Family::Inet);
        t.set(3, SockOpt::ReuseAddr(true));
        assert_eq!(t.bind(3, "0.0.0.0:40000"), Outcome::Ok, "{profile}");
        let connect = t.connect(3, "127.0.0.1:5000");
        assert_eq!(connect, Outcome::Err(Errno::EINPROGRESS), "{profile}");
        t.socket_nb(4, Family::Inet);
        assert_eq!(t.connect(4, "127.0.0.2:5000"), want, "{profile}");
    }
}

/// `Profile::has_sysctl`: `tcp_tw_reuse_delay` from 6.14.
#[test]
fn tcp_tw_reuse_delay_exists_from_6_14() {
    let key = crate::sysctl::SysctlKey::TcpTwReuseDelay;
    for (profile, has) in [(L6_1, false), (L6_12, false), (L6_18, true), (L7_3, true)] {
        assert_eq!(profile.has_sysctl(key), has, "{profile}");
        assert_eq!(profile.has_tw_reuse_delay(), has, "{profile}");
    }
    assert!(L6_1.has_sysctl(crate::sysctl::SysctlKey::TcpTwReuse));
}

/// A client's TIME-WAIT on the only ephemeral port, `ms` old, and a second connect to the same
/// destination: the outcomes the model allows for that connect.
fn tw_reuse_outcomes(profile: Profile, delay_ms: u32, ms: u64) -> Vec<Outcome> {
    let mut t = T::with(|s| {
        s.ip_local_port_range = (40000, 40000);
        s.tcp_tw_reuse_delay_ms = delay_ms;
    })
    .profile(profile);
    t.established("127.0.0.1:5000");
    t.close(1); // the client closes first
    assert_eq!(t.recv(2, 100), Outcome::Eof);
    t.close(2);
    t.op(Op::Sleep { ms });
    t.socket(3, Family::Inet);
    let op = Op::Connect {
        sock: s(3),
        addr: addr("127.0.0.1:5000"),
        local: None,
    };
    let mut outcomes: Vec<Outcome> =
        t.m.branches(&op, &t.env, &Hint::default())
            .iter()
            .map(|b| b.outcome)
            .collect();
    outcomes.sort_by_key(|o| o.to_string());
    outcomes.dedup();
    outcomes
}

/// `Profile::has_tw_reuse_delay`: from 6.14 the age is measured in milliseconds against
/// `tcp_tw_reuse_delay`; before, a TIME-WAIT younger than a second may or may not be reused
/// (the next second of the monotonic clock may already have begun).
#[test]
fn tw_reuse_age_is_exact_from_6_14_and_a_second_boundary_before() {
    let ok = Outcome::Ok;
    let no = Outcome::Err(Errno::EADDRNOTAVAIL);
    // 6.14+: exact, against the delay.
    assert_eq!(tw_reuse_outcomes(L6_18, 1000, 500), [no]);
    assert_eq!(tw_reuse_outcomes(L6_18, 1000, 1500), [ok]);
    assert_eq!(tw_reuse_outcomes(L6_18, 100, 200), [ok]);
    assert_eq!(tw_reuse_outcomes(L7_3, 100, 50), [no]);
    // Before: either answer under a second, whatever the delay (the sysctl does not exist).
    for p in [L6_1, L6_12] {
        // At once (and the model alone: no call duration to allow for): not yet.
        assert_eq!(tw_reuse_outcomes(p, 1000, 0), [no], "{p}");
        assert_eq!(tw_reuse_outcomes(p, 100, 500), [no, ok], "{p}");
        assert_eq!(tw_reuse_outcomes(p, 1000, 1000), [ok], "{p}");
    }
}
