//! `check` never calls a setting that matters "no effect": for every Linux sysctl the model
//! knows, set to a value operators write (tuning guides, distro defaults), the effect search
//! that `check` runs (the probes of `harness/probes/`, then random cases, on the model)
//! must find a call whose result or table differs from the kernel's default. The few values
//! that no case this small can show are listed with the reason `check` prints for them.
//! Model only: no kernel, no privileges (`check` proves what it finds on the kernel; the
//! proof is `diff::confirm_on_kernel`, tested in `sysctl_tables`).

use std::time::Duration;

use tcpconform_harness::check;
use tcpconform_harness::config::CaseConfig;
use tcpconform_harness::diff::{self, DiffOptions};
use tcpconform_model::{Host, Profile, Sysctl, SysctlKey};

/// A value an operator writes for each key.
const OPERATOR_VALUES: &[(SysctlKey, &str)] = &[
    (SysctlKey::IpLocalPortRange, "1024 65000"),
    (SysctlKey::IpLocalReservedPorts, "40000"),
    (SysctlKey::IpUnprivilegedPortStart, "0"),
    (SysctlKey::IpAutobindReuse, "1"),
    (SysctlKey::IpNonlocalBind, "1"),
    (SysctlKey::TcpTwReuse, "1"),
    (SysctlKey::TcpTwReuse, "0"),
    (SysctlKey::TcpTwReuseDelay, "5000"),
    (SysctlKey::TcpTimestamps, "0"),
    (SysctlKey::TcpFinTimeout, "15"),
    (SysctlKey::TcpMaxTwBuckets, "0"),
    (SysctlKey::TcpRfc1337, "1"),
    (SysctlKey::TcpKeepaliveTime, "600"),
    (SysctlKey::TcpKeepaliveIntvl, "30"),
    (SysctlKey::TcpKeepaliveProbes, "3"),
    (SysctlKey::TcpSynRetries, "2"),
    (SysctlKey::Ipv6Bindv6only, "1"),
];

/// Values whose effect needs more than a case holds, or that the model knows but whose
/// effect it does not model, as `check` says of them.
const BEYOND_A_CASE: &[(SysctlKey, &str, &str)] = &[
    (
        SysctlKey::TcpMaxTwBuckets,
        "5000",
        "more than 5000 TIME-WAIT sockets at once",
    ),
    (
        SysctlKey::TcpAbortOnOverflow,
        "1",
        "a third ACK meeting a full accept queue: the SYN is dropped first (check says so)",
    ),
    (
        SysctlKey::TcpOrphanRetries,
        "1",
        "an orphan's retransmissions are not modelled (check says so)",
    ),
];

/// The differences the search finds, plus one for an effect `check` computes instead.
fn effects(key: SysctlKey, value: &str) -> usize {
    let profile = Profile::linux(6, 18);
    let left = CaseConfig::defaults(profile);
    let mut right = left.clone();
    let setting: Sysctl = format!("{}={value}", key.name())
        .parse()
        .expect("a valid value");
    right.sysctls.push((Host::A, setting));
    let computed = usize::from(check::range_effect(&left, &right).is_some());
    let options = DiffOptions {
        cases: 300,
        seed: 1,
        max_len: 16,
        budget: Duration::from_secs(20),
    };
    diff::diff(&left, &right, &options).differences.len() + computed
}

#[test]
fn every_linux_key_has_an_operator_value_tested() {
    let profile = Profile::linux(6, 18);
    for key in SysctlKey::ALL.iter().filter(|k| k.exists_on(profile)) {
        assert!(
            OPERATOR_VALUES.iter().any(|(k, _)| k == key)
                || BEYOND_A_CASE.iter().any(|(k, _, _)| k == key),
            "{} has no operator value here: add one (and a probe if none shows it)",
            key.name()
        );
    }
}

#[test]
fn every_operator_value_changes_something_the_search_finds() {
    let mut missed = Vec::new();
    for (key, value) in OPERATOR_VALUES {
        let n = effects(*key, value);
        println!("{}={value}: {n} difference(s)", key.name());
        if n == 0 {
            missed.push(format!("{}={value}", key.name()));
        }
    }
    assert!(
        missed.is_empty(),
        "check would find no difference for: {missed:?}"
    );
}

#[test]
fn values_beyond_a_case_find_nothing_and_are_named() {
    for (key, value, why) in BEYOND_A_CASE {
        assert_eq!(effects(*key, value), 0, "{}={value}: {why}", key.name());
    }
}

#[test]
fn cross_checks_name_a_listener_inside_the_range_and_misplaced_reservations() {
    let mut config = CaseConfig::defaults(Profile::linux(6, 18));
    for s in [
        "net.ipv4.ip_local_port_range=1024 65000",
        "net.ipv4.ip_local_reserved_ports=80,9000",
    ] {
        config.sysctls.push((Host::A, s.parse().expect("valid")));
    }
    let listeners = ["127.0.0.1:8080", "0.0.0.0:22", "[::]:8080", "0.0.0.0:9000"]
        .map(|a| a.parse().expect("an address"));
    let found = check::cross_checks(&config, &listeners);
    let text = found.join("\n");
    assert!(
        text.contains("port 8080 is listening now (127.0.0.1, ::)"),
        "{text}"
    );
    assert!(!text.contains("port 22 "), "22 is below the range: {text}");
    assert!(!text.contains("port 9000 "), "9000 is reserved: {text}");
    assert!(
        text.contains("ip_local_reserved_ports 80 lie(s) outside"),
        "{text}"
    );
    assert!(text.contains("both ends are even"), "{text}");
    let quiet = check::cross_checks(&CaseConfig::defaults(Profile::linux(6, 18)), &[]);
    assert!(quiet.is_empty(), "the defaults are fine: {quiet:?}");
}
