//! Costs and setup: what setting up, tearing down and dumping cost, a private hash
//! table that keeps the default sysctls, raw dumps without owners, and a fresh two-host case
//! that loses no packet.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use tcpconform_harness::observer::NoOwners;
use tcpconform_harness::sandbox::{
    Case, HOST_B_V4, HOST_B_V6, SandboxSpec, kernel_or_skip, run_case_timed,
};
use tcpconform_model::{Family, Host, Op, SysctlKey};

use super::{bind, close, connect, connected_pair, in_case, listen, ok, s, socket};

// ---------------------------------------------------------------------------------------------
// Costs

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn quantile(mut v: Vec<Duration>, q: f64) -> Duration {
    v.sort_unstable();
    v[((v.len() - 1) as f64 * q) as usize]
}

#[test]
fn setup_teardown_and_dump_costs_are_measured() {
    if !kernel_or_skip("setup_teardown_and_dump_costs_are_measured") {
        return;
    }
    let mut shared = SandboxSpec::one_host();
    shared.ehash_buckets = None;
    for (name, spec, n) in [
        ("1 host", SandboxSpec::one_host(), 100),
        ("1 host, shared ehash", shared, 50),
        ("2 hosts", SandboxSpec::two_hosts(), 50),
    ] {
        let mut setup = Vec::new();
        let mut teardown = Vec::new();
        let mut snap = Vec::new();
        let mut quiet = Vec::new();
        let mut after_close = Vec::new();
        let mut after_close_dumps = Vec::new();
        for _ in 0..n {
            let (r, t) = run_case_timed(&spec, |case| {
                connected_pair(case, 5000);
                let mut one = Vec::new();
                for _ in 0..10 {
                    let t = Instant::now();
                    case.snapshot().unwrap();
                    one.push(t.elapsed());
                }
                let q = case.settled_snapshot().unwrap();
                // A quiet table settles in two dumps; packets on the machine's receive
                // backlogs (other tests' traffic: the count is machine-wide) can cost more.
                assert!(q.settled && q.dumps >= 2, "{q:?}");
                ok(case, close(2));
                let c = case.settled_snapshot().unwrap();
                assert!(c.settled, "{c:?}");
                (median(one), q.elapsed, c.elapsed, c.dumps)
            })
            .expect("case");
            setup.push(t.setup);
            teardown.push(t.teardown);
            snap.push(r.0);
            quiet.push(r.1);
            after_close.push(r.2);
            after_close_dumps.push(Duration::from_micros(u64::from(r.3)));
        }
        println!(
            "COST {name}, n={n}: setup p50 {:?} p90 {:?}; teardown p50 {:?} p90 {:?}; one \
             snapshot p50 {:?}; settled_snapshot when quiet p50 {:?} (2 dumps); right after \
             close p50 {:?} p90 {:?}, dumps p50 {} max {}",
            quantile(setup.clone(), 0.5),
            quantile(setup.clone(), 0.9),
            quantile(teardown.clone(), 0.5),
            quantile(teardown.clone(), 0.9),
            median(snap),
            median(quiet),
            quantile(after_close.clone(), 0.5),
            quantile(after_close, 0.9),
            quantile(after_close_dumps.clone(), 0.5).as_micros(),
            quantile(after_close_dumps, 1.0).as_micros(),
        );
        let ms = median(setup);
        let mt = median(teardown);
        assert!(ms < Duration::from_millis(100), "setup {ms:?}");
        assert!(mt < Duration::from_millis(100), "teardown {mt:?}");
    }
}

#[test]
fn a_private_hash_table_keeps_the_default_sysctls() {
    if !kernel_or_skip("a_private_hash_table_keeps_the_default_sysctls") {
        return;
    }
    let read = |case: &mut Case, key: &str| {
        case.in_host(Host::A, || {
            std::fs::read_to_string(format!("/proc/sys/net/ipv4/{key}"))
                .unwrap()
                .trim()
                .to_owned()
        })
        .unwrap()
    };
    let mut shared_spec = SandboxSpec::two_hosts();
    shared_spec.ehash_buckets = None;
    let shared = in_case(shared_spec, |case| {
        (
            read(case, "tcp_max_tw_buckets"),
            read(case, "tcp_max_syn_backlog"),
        )
    });
    let private = in_case(SandboxSpec::two_hosts(), |case| {
        let ehash = read(case, "tcp_ehash_entries");
        let in_b = case
            .in_host(Host::B, || {
                std::fs::read_to_string("/proc/sys/net/ipv4/tcp_ehash_entries").unwrap()
            })
            .unwrap();
        assert_eq!((ehash.as_str(), in_b.trim()), ("128", "128"));
        let b = case.sysctl(Host::B, SysctlKey::TcpMaxTwBuckets).unwrap();
        assert_eq!(b.to_string(), shared.0);
        (
            read(case, "tcp_max_tw_buckets"),
            read(case, "tcp_max_syn_backlog"),
        )
    });
    assert_eq!(private, shared);
}

#[test]
fn a_raw_dump_without_owners_has_no_owners() {
    if !kernel_or_skip("a_raw_dump_without_owners_has_no_owners") {
        return;
    }
    in_case(SandboxSpec::one_host(), |case| {
        connected_pair(case, 5000);
        let snap = case.observer().snapshot(&NoOwners).unwrap();
        assert_eq!(snap.rows.len(), 3);
        assert!(
            snap.rows
                .iter()
                .all(|(_, i)| i.owner.is_none() && !i.orphan)
        );
    });
}

/// Regression test for two setup races (see `sandbox::wait_ready` and the tentative-address
/// wait): either made the first SYN of a fresh two-host case vanish, and `connect` took the
/// 1 s SYN retransmission.
#[test]
fn a_fresh_two_host_case_loses_no_packet() {
    if !kernel_or_skip("a_fresh_two_host_case_loses_no_packet") {
        return;
    }
    let mut spec = SandboxSpec::two_hosts();
    spec.exec.block_bound = Duration::from_secs(3);
    for i in 0..40u16 {
        let took = in_case(spec.clone(), |case| {
            let (fam, server): (Family, IpAddr) = if i % 2 == 0 {
                (Family::Inet6, HOST_B_V6.into())
            } else {
                (Family::Inet, HOST_B_V4.into())
            };
            ok(
                case,
                Op::Socket {
                    sock: s(0),
                    family: fam,
                    nonblocking: false,
                    euid: None,
                    host: Host::B,
                },
            );
            ok(case, bind(0, server, 5000));
            ok(case, listen(0));
            ok(case, socket(1, fam));
            let t = Instant::now();
            ok(case, connect(1, server, 5000));
            t.elapsed()
        });
        assert!(
            took < Duration::from_millis(500),
            "case {i}: connect took {took:?}"
        );
    }
}
