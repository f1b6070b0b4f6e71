//! The sandbox: a case writes only its own namespaces and finds the kernel's defaults there,
//! a write from the host's namespace is refused, and two hosts talk over the veth pair.

use std::net::{IpAddr, SocketAddr};

use tcpconform_harness::error::HarnessError;
use tcpconform_harness::sandbox::{
    self, HOST_A_V4, HOST_A_V6, HOST_B_V4, HOST_B_V6, SandboxSpec, kernel_or_skip, run_case,
};
use tcpconform_model::{
    Env, Errno, Family, Host, Op, Outcome, Sysctl, SysctlKey, SysctlValue, TcpState,
};

use super::{LO, accept, bind, connect, in_case, listen, ok, run, s, socket, sysctl};

// ---------------------------------------------------------------------------------------------
// Sandbox isolation

#[test]
fn a_case_writes_its_own_namespace_and_never_the_hosts() {
    if !kernel_or_skip("a_case_writes_its_own_namespace_and_never_the_hosts") {
        return;
    }
    let keys = [
        SysctlKey::TcpTwReuse,
        SysctlKey::IpLocalPortRange,
        SysctlKey::TcpFinTimeout,
        SysctlKey::Ipv6Bindv6only,
        SysctlKey::IpLocalReservedPorts,
    ];
    let host_before: Vec<SysctlValue> = keys
        .iter()
        .map(|k| sandbox::read_sysctl_here(*k).expect("host sysctl"))
        .collect();
    let spec = SandboxSpec::one_host()
        .sysctl(Host::A, sysctl("net.ipv4.tcp_tw_reuse=0"))
        .sysctl(Host::A, sysctl("net.ipv4.ip_local_port_range=40000 40009"))
        .sysctl(Host::A, sysctl("net.ipv4.tcp_fin_timeout=7"))
        .sysctl(Host::A, sysctl("net.ipv6.bindv6only=1"))
        .sysctl(
            Host::A,
            sysctl("net.ipv4.ip_local_reserved_ports=40001-40003,40005"),
        );
    let inside = in_case(spec.clone(), |case| {
        let mut v: Vec<SysctlValue> = keys
            .iter()
            .map(|k| case.sysctl(Host::A, *k).expect("case sysctl"))
            .collect();
        case.set_sysctl(Host::A, &sysctl("net.ipv4.tcp_fin_timeout=9"))
            .expect("mid-case sysctl");
        v.push(case.sysctl(Host::A, SysctlKey::TcpFinTimeout).unwrap());
        v
    });
    let expected: Vec<SysctlValue> = spec
        .sysctls
        .iter()
        .map(|(_, s)| s.value.clone())
        .chain([SysctlValue::Int(9)])
        .collect();
    assert_eq!(inside, expected);
    let host_after: Vec<SysctlValue> = keys
        .iter()
        .map(|k| sandbox::read_sysctl_here(*k).unwrap())
        .collect();
    assert_eq!(host_before, host_after, "a case changed the host's sysctls");
}

#[test]
fn a_fresh_namespace_has_kernel_defaults() {
    if !kernel_or_skip("a_fresh_namespace_has_kernel_defaults") {
        return;
    }
    let defaults = tcpconform_model::Sysctls::linux_defaults();
    let got = in_case(SandboxSpec::one_host(), |case| {
        [
            SysctlKey::TcpTwReuse,
            SysctlKey::IpLocalPortRange,
            SysctlKey::TcpFinTimeout,
            SysctlKey::IpUnprivilegedPortStart,
            SysctlKey::TcpTimestamps,
            SysctlKey::Ipv6Bindv6only,
        ]
        .map(|k| (k, case.sysctl(Host::A, k).unwrap()))
    });
    for (k, v) in got {
        assert_eq!(v, defaults.value(k), "{k}");
    }
}

#[test]
fn writing_a_sysctl_from_the_host_namespace_is_refused() {
    if !kernel_or_skip("writing_a_sysctl_from_the_host_namespace_is_refused") {
        return;
    }
    // The test thread is in the host's namespace. Write the value the host already has, so
    // that even a broken guard would change nothing.
    let key = SysctlKey::TcpTwReuse;
    let current = sandbox::read_sysctl_here(key).unwrap();
    assert!(sandbox::in_host_namespace().unwrap());
    let r = sandbox::write_sysctl_here(&Sysctl {
        key,
        value: current.clone(),
    });
    assert!(
        matches!(r, Err(HarnessError::HostNamespace { .. })),
        "{r:?}"
    );
    assert_eq!(sandbox::read_sysctl_here(key).unwrap(), current);
}

#[test]
fn a_sysctl_the_kernel_refuses_is_a_harness_error() {
    if !kernel_or_skip("a_sysctl_the_kernel_refuses_is_a_harness_error") {
        return;
    }
    // The kernel refuses an ephemeral range that starts below ip_unprivileged_port_start
    // unless... whatever it says, a refusal must be an error, never a silent pass.
    let r = run_case(
        &SandboxSpec::one_host().sysctl(Host::A, sysctl("net.ipv4.tcp_rfc1337=1")),
        |case| case.sysctl(Host::A, SysctlKey::TcpRfc1337).unwrap(),
    );
    assert_eq!(r.unwrap(), SysctlValue::Int(1));
    let bad = run_case(
        &SandboxSpec::one_host().sysctl(Host::B, sysctl("net.ipv4.tcp_rfc1337=1")),
        |_| (),
    );
    assert!(
        matches!(bad, Err(HarnessError::InvalidOp { .. })),
        "{bad:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Two hosts

#[test]
fn two_hosts_talk_over_the_veth_pair_in_both_families() {
    if !kernel_or_skip("two_hosts_talk_over_the_veth_pair_in_both_families") {
        return;
    }
    in_case(SandboxSpec::two_hosts(), |case| {
        for (fam, server, client, base) in [
            (
                Family::Inet,
                IpAddr::from(HOST_B_V4),
                IpAddr::from(HOST_A_V4),
                0u16,
            ),
            (Family::Inet6, HOST_B_V6.into(), HOST_A_V6.into(), 10),
        ] {
            ok(
                case,
                Op::Socket {
                    sock: s(base),
                    family: fam,
                    nonblocking: false,
                    euid: None,
                    host: Host::B,
                },
            );
            ok(case, bind(base, server, 5000));
            ok(case, listen(base));
            ok(case, socket(base + 1, fam));
            let c = ok(case, connect(base + 1, server, 5000));
            assert_eq!(c.local.unwrap().ip(), client);
            assert_eq!(c.peer, Some(SocketAddr::new(server, 5000)));
            let a = ok(case, accept(base, base + 2));
            assert_eq!(a.peer, c.local);
            assert_eq!(
                run(
                    case,
                    Op::Send {
                        sock: s(base + 1),
                        len: 7
                    }
                )
                .outcome,
                Outcome::Bytes(7)
            );
            let settled = case.settled_snapshot().unwrap();
            let got = run(
                case,
                Op::Recv {
                    sock: s(base + 2),
                    len: 100,
                },
            );
            assert_eq!(got.outcome, Outcome::Bytes(7));
            let on = |h: Host, st: TcpState| {
                settled
                    .snapshot
                    .rows
                    .iter()
                    .filter(|(r, _)| {
                        r.host == h && r.state == st && [server, client].contains(&r.local.ip())
                    })
                    .count()
            };
            assert_eq!(on(Host::B, TcpState::Listen), 1, "{settled:#?}");
            assert_eq!(on(Host::B, TcpState::Established), 1, "{settled:#?}");
            assert_eq!(on(Host::A, TcpState::Established), 1, "{settled:#?}");
            // The 7 bytes were unread when the table was taken.
            assert!(
                settled.snapshot.rows.iter().any(|(r, i)| r.host == Host::B
                    && r.queue == 7
                    && i.owner == Some(s(base + 2)))
            );
        }
        // Sockets on host a cannot reach host b's loopback-bound service: separate stacks.
        ok(
            case,
            Op::Socket {
                sock: s(20),
                family: Family::Inet,
                nonblocking: false,
                euid: None,
                host: Host::B,
            },
        );
        ok(case, bind(20, LO, 6000));
        ok(case, listen(20));
        ok(case, socket(21, Family::Inet));
        assert_eq!(
            run(case, connect(21, LO, 6000)).outcome,
            Outcome::Err(Errno::ECONNREFUSED)
        );
    });
}

#[test]
fn a_socket_on_host_b_in_a_one_host_case_is_a_harness_error() {
    if !kernel_or_skip("a_socket_on_host_b_in_a_one_host_case_is_a_harness_error") {
        return;
    }
    in_case(SandboxSpec::one_host(), |case| {
        let r = case.apply(
            &Op::Socket {
                sock: s(0),
                family: Family::Inet,
                nonblocking: false,
                euid: None,
                host: Host::B,
            },
            &Env::new(),
        );
        assert!(matches!(r, Err(HarnessError::InvalidOp { .. })), "{r:?}");
    });
}

#[test]
fn extra_addresses_are_usable_at_once() {
    if !kernel_or_skip("extra_addresses_are_usable_at_once") {
        return;
    }
    let v4: IpAddr = "192.0.2.7".parse().unwrap();
    let v6: IpAddr = "2001:db8::7".parse().unwrap();
    let spec = SandboxSpec::one_host()
        .address(Host::A, v4)
        .address(Host::A, v6);
    in_case(spec, |case| {
        ok(case, socket(0, Family::Inet));
        ok(case, bind(0, v4, 7000));
        ok(case, socket(1, Family::Inet6));
        ok(case, bind(1, v6, 7000));
        ok(case, socket(2, Family::Inet));
        assert_eq!(
            run(case, bind(2, "192.0.2.8".parse().unwrap(), 7000)).outcome,
            Outcome::Err(Errno::EADDRNOTAVAIL)
        );
    });
}
