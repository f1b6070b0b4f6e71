//! The executor: ops on the kernel, blocking and non-blocking (`EAGAIN`, `EINPROGRESS`,
//! calls that block), ops on the right host, closed sockets, addresses and socket options
//! passed literally, euids, `peer_vanishes`, lingering closes, reused names.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tcpconform_harness::sandbox::{Case, HOST_A_V4, HOST_B_V4, SandboxSpec, kernel_or_skip};
use tcpconform_model::{
    Env, Errno, Family, Host, How, Observed, Op, Outcome, SockOpt, SysctlKey, SysctlValue,
    TcpState, TimerKind,
};

use super::observer::rows_now;
use super::{
    LO, accept, bind, close, connect, connected_pair, in_case, listen, ok, rows, run, s, socket,
    socket_nb, sysctl,
};

// ---------------------------------------------------------------------------------------------
// Executor

#[test]
fn rebinding_over_time_wait_without_reuseaddr_is_eaddrinuse() {
    if !kernel_or_skip("rebinding_over_time_wait_without_reuseaddr_is_eaddrinuse") {
        return;
    }
    in_case(SandboxSpec::one_host(), |case| {
        let (client, _) = connected_pair(case, 5000);
        ok(
            case,
            Op::Setsockopt {
                sock: s(1),
                opt: SockOpt::ReuseAddr(true),
            },
        );
        ok(case, close(1));
        ok(case, close(2));
        ok(case, socket(3, Family::Inet));
        assert_eq!(
            run(case, bind(3, LO, client.port())).outcome,
            Outcome::Err(Errno::EADDRINUSE)
        );
        // With SO_REUSEADDR on both (the TIME-WAIT kept its socket's flag), it succeeds.
        ok(
            case,
            Op::Setsockopt {
                sock: s(3),
                opt: SockOpt::ReuseAddr(true),
            },
        );
        ok(case, bind(3, LO, client.port()));
    });
}

#[test]
fn accept_on_an_empty_blocking_listener_blocks_and_a_nonblocking_one_says_eagain() {
    if !kernel_or_skip(
        "accept_on_an_empty_blocking_listener_blocks_and_a_nonblocking_one_says_eagain",
    ) {
        return;
    }
    in_case(SandboxSpec::one_host(), |case| {
        ok(case, socket(0, Family::Inet));
        ok(case, bind(0, LO, 5000));
        ok(case, listen(0));
        let t = Instant::now();
        let o = run(case, accept(0, 1));
        let waited = t.elapsed();
        assert_eq!(o, Observed::outcome(Outcome::Blocks));
        assert!(waited >= Duration::from_millis(20), "{waited:?}");
        assert!(waited < Duration::from_millis(500), "{waited:?}");
        ok(case, socket_nb(2, Family::Inet));
        ok(case, bind(2, LO, 5001));
        ok(case, listen(2));
        assert_eq!(run(case, accept(2, 3)).outcome, Outcome::Err(Errno::EAGAIN));
        // recv on a connected blocking socket with nothing to read blocks too.
        ok(case, socket(4, Family::Inet));
        ok(case, connect(4, LO, 5000));
        assert_eq!(
            run(case, Op::Recv { sock: s(4), len: 1 }).outcome,
            Outcome::Blocks
        );
        ok(case, accept(0, 5));
    });
}

#[test]
fn a_send_into_a_full_window_blocks_and_a_nonblocking_one_says_eagain() {
    if !kernel_or_skip("a_send_into_a_full_window_blocks_and_a_nonblocking_one_says_eagain") {
        return;
    }
    in_case(SandboxSpec::one_host(), |case| {
        connected_pair(case, 5000);
        // Nobody reads s2: 32 MiB cannot all be queued.
        let big = 32 << 20;
        assert_eq!(
            run(
                case,
                Op::Send {
                    sock: s(1),
                    len: big
                }
            )
            .outcome,
            Outcome::Blocks
        );
        assert_eq!(
            run(case, Op::Send { sock: s(1), len: 1 }).outcome,
            Outcome::Blocks
        );
        let rows = rows(case);
        let (r, _) = rows.iter().find(|(_, i)| i.owner == Some(s(2))).unwrap();
        assert!(r.queue > 0, "{rows:#?}");
        // The same from a non-blocking socket.
        ok(case, socket_nb(3, Family::Inet));
        assert_eq!(
            run(case, connect(3, LO, 5000)).outcome,
            Outcome::Err(Errno::EINPROGRESS)
        );
        ok(case, accept(0, 4));
        let first = run(
            case,
            Op::Send {
                sock: s(3),
                len: big,
            },
        )
        .outcome;
        assert!(matches!(first, Outcome::Bytes(n) if n < big), "{first:?}");
        assert_eq!(
            run(case, Op::Send { sock: s(3), len: 1 }).outcome,
            Outcome::Err(Errno::EAGAIN)
        );
    });
}

#[test]
fn sleep_and_sysctl_ops_act_on_the_right_host() {
    if !kernel_or_skip("sleep_and_sysctl_ops_act_on_the_right_host") {
        return;
    }
    in_case(SandboxSpec::two_hosts(), |case| {
        let t = Instant::now();
        assert_eq!(
            run(case, Op::Sleep { ms: 30 }),
            Observed::outcome(Outcome::Ok)
        );
        assert!(t.elapsed() >= Duration::from_millis(30));
        let op = Op::Sysctl {
            host: Host::B,
            setting: sysctl("net.ipv4.tcp_tw_reuse=0"),
        };
        assert_eq!(run(case, op), Observed::outcome(Outcome::Ok));
        assert_eq!(
            case.sysctl(Host::B, SysctlKey::TcpTwReuse).unwrap(),
            SysctlValue::Int(0)
        );
        assert_eq!(
            case.sysctl(Host::A, SysctlKey::TcpTwReuse).unwrap(),
            SysctlValue::Int(2)
        );
        // A value the kernel refuses (a range below ip_unprivileged_port_start) is the op's
        // result, as the model predicts it: EINVAL, and the old value stays.
        let bad = case.apply(
            &Op::Sysctl {
                host: Host::A,
                setting: sysctl("net.ipv4.ip_local_port_range=100 200"),
            },
            &Env::new(),
        );
        assert_eq!(bad.unwrap(), Observed::outcome(Outcome::Err(Errno::EINVAL)));
        assert_eq!(
            case.sysctl(Host::A, SysctlKey::IpLocalPortRange).unwrap(),
            SysctlValue::Range(32768, 60999)
        );
    });
}

#[test]
fn calls_on_a_closed_socket_are_ebadf() {
    if !kernel_or_skip("calls_on_a_closed_socket_are_ebadf") {
        return;
    }
    in_case(SandboxSpec::one_host(), |case| {
        ok(case, socket(0, Family::Inet));
        ok(case, close(0));
        for op in [
            bind(0, LO, 5000),
            listen(0),
            connect(0, LO, 5000),
            accept(0, 1),
            close(0),
            Op::Send { sock: s(0), len: 1 },
            Op::Recv { sock: s(0), len: 1 },
            Op::Shutdown {
                sock: s(0),
                how: How::RdWr,
            },
            Op::GetsockoptSoError { sock: s(0) },
            Op::Setsockopt {
                sock: s(0),
                opt: SockOpt::ReuseAddr(true),
            },
            bind(9, LO, 5000),
        ] {
            assert_eq!(
                run(case, op.clone()),
                Observed::outcome(Outcome::Err(Errno::EBADF)),
                "{op}"
            );
        }
    });
}

#[test]
fn connect_to_a_closed_port_is_refused_and_a_nonblocking_connect_is_in_progress() {
    if !kernel_or_skip(
        "connect_to_a_closed_port_is_refused_and_a_nonblocking_connect_is_in_progress",
    ) {
        return;
    }
    in_case(SandboxSpec::one_host(), |case| {
        ok(case, socket(0, Family::Inet));
        assert_eq!(
            run(case, connect(0, LO, 5999)).outcome,
            Outcome::Err(Errno::ECONNREFUSED)
        );
        ok(case, socket(1, Family::Inet));
        ok(case, bind(1, LO, 5000));
        ok(case, listen(1));
        ok(case, socket_nb(2, Family::Inet));
        let o = run(case, connect(2, LO, 5000));
        assert_eq!(o.outcome, Outcome::Err(Errno::EINPROGRESS));
        assert!(o.local.is_some());
        // A non-blocking connect to a closed port is in progress too; the refusal comes later
        // as SO_ERROR.
        ok(case, socket_nb(3, Family::Inet));
        assert_eq!(
            run(case, connect(3, LO, 5999)).outcome,
            Outcome::Err(Errno::EINPROGRESS)
        );
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(
            run(case, Op::GetsockoptSoError { sock: s(3) }).outcome,
            Outcome::SoError(Some(Errno::ECONNREFUSED))
        );
        assert_eq!(
            run(case, Op::GetsockoptSoError { sock: s(3) }).outcome,
            Outcome::SoError(None)
        );
    });
}

#[test]
fn a_blocking_connect_to_a_silent_peer_blocks() {
    if !kernel_or_skip("a_blocking_connect_to_a_silent_peer_blocks") {
        return;
    }
    in_case(SandboxSpec::two_hosts(), |case| {
        // Host b's SYN-ACKs to host a are dropped: a's SYN never gets an answer.
        ok(
            case,
            Op::Socket {
                sock: s(0),
                family: Family::Inet,
                nonblocking: false,
                euid: None,
                host: Host::B,
            },
        );
        ok(case, bind(0, HOST_B_V4.into(), 5000));
        ok(case, listen(0));
        ok(case, socket(1, Family::Inet));
        ok(case, bind(1, HOST_A_V4.into(), 40000));
        // Drop what arrives at a for 10.0.0.1:40000 <- 10.0.0.2:5000, before connecting.
        case_drop(
            case,
            SocketAddr::new(HOST_A_V4.into(), 40000),
            SocketAddr::new(HOST_B_V4.into(), 5000),
        );
        let t = Instant::now();
        let o = run(case, connect(1, HOST_B_V4.into(), 5000));
        assert_eq!(o.outcome, Outcome::Blocks, "{o:?}");
        assert!(t.elapsed() < Duration::from_millis(500));
        // A second connect while the first is pending blocks as well (EALREADY after the
        // bound).
        assert_eq!(
            run(case, connect(1, HOST_B_V4.into(), 5000)).outcome,
            Outcome::Blocks
        );
        let rows = rows(case);
        let (_, info) = rows
            .iter()
            .find(|(r, _)| r.state == TcpState::SynSent)
            .unwrap_or_else(|| panic!("no SYN-SENT in {rows:#?}"));
        assert_eq!(info.timer.map(|t| t.kind), Some(TimerKind::Retransmit));
        // Host b holds a request socket for it (SYN-RECV, no owner).
        assert!(
            rows.iter().any(|(r, i)| r.host == Host::B
                && r.state == TcpState::SynReceived
                && i.owner.is_none()),
            "{rows:#?}"
        );
        let raw = case.observer().rows(Host::B).unwrap();
        assert!(raw.iter().any(|r| r.is_request()), "{raw:#?}");
        // The same connect from a non-blocking socket is in progress.
        ok(case, socket_nb(2, Family::Inet));
        ok(case, bind(2, HOST_A_V4.into(), 40001));
        case_drop(
            case,
            SocketAddr::new(HOST_A_V4.into(), 40001),
            SocketAddr::new(HOST_B_V4.into(), 5000),
        );
        assert_eq!(
            run(case, connect(2, HOST_B_V4.into(), 5000)).outcome,
            Outcome::Err(Errno::EINPROGRESS)
        );
        assert_eq!(
            run(case, connect(2, HOST_B_V4.into(), 5000)).outcome,
            Outcome::Err(Errno::EALREADY)
        );
    });
}

/// Drops segments arriving at host a for `local` <- `peer` (the machinery of peer_vanishes).
fn case_drop(case: &mut Case, local: SocketAddr, peer: SocketAddr) {
    case.drop_arriving(Host::A, local, peer)
        .unwrap_or_else(|e| panic!("dropping {peer} -> {local}: {e}"));
}

#[test]
fn addresses_are_passed_literally_whatever_the_family() {
    if !kernel_or_skip("addresses_are_passed_literally_whatever_the_family") {
        return;
    }
    in_case(SandboxSpec::one_host(), |case| {
        ok(case, socket(0, Family::Inet6));
        assert_eq!(
            run(case, bind(0, LO, 5000)).outcome,
            Outcome::Err(Errno::EINVAL)
        );
        ok(case, socket(1, Family::Inet));
        assert_eq!(
            run(case, bind(1, "::1".parse().unwrap(), 5000)).outcome,
            Outcome::Err(Errno::EAFNOSUPPORT)
        );
        // A v4-mapped address on an AF_INET6 socket is an IPv4 binding, shown v4-mapped.
        let o = ok(case, bind(0, "::ffff:127.0.0.1".parse().unwrap(), 5000));
        assert_eq!(o.local, Some("[::ffff:127.0.0.1]:5000".parse().unwrap()));
    });
}

#[test]
fn socket_options_reach_the_kernel_and_their_errors_are_data() {
    if !kernel_or_skip("socket_options_reach_the_kernel_and_their_errors_are_data") {
        return;
    }
    in_case(SandboxSpec::one_host(), |case| {
        ok(case, socket(0, Family::Inet));
        // An IPv6 option on an AF_INET socket.
        assert_eq!(
            run(
                case,
                Op::Setsockopt {
                    sock: s(0),
                    opt: SockOpt::V6Only(true)
                }
            )
            .outcome,
            Outcome::Err(Errno::ENOPROTOOPT)
        );
        assert_eq!(
            run(
                case,
                Op::Setsockopt {
                    sock: s(0),
                    opt: SockOpt::KeepIdle(0)
                }
            )
            .outcome,
            Outcome::Err(Errno::EINVAL)
        );
        for opt in [
            SockOpt::ReuseAddr(true),
            SockOpt::ReusePort(true),
            SockOpt::Linger(Some(3)),
            SockOpt::Linger(None),
            SockOpt::KeepAlive(true),
            SockOpt::BindAddressNoPort(true),
            SockOpt::KeepIdle(10),
            SockOpt::KeepIntvl(5),
            SockOpt::KeepCnt(3),
            SockOpt::UserTimeout(1000),
            SockOpt::Linger2(-1),
            SockOpt::Linger2(30),
        ] {
            ok(case, Op::Setsockopt { sock: s(0), opt });
        }
        let sock = case.executor().socket(s(0)).unwrap();
        assert!(sock.reuse_address().unwrap());
        assert!(sock.reuse_port().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(10));
        assert_eq!(sock.tcp_keepalive_retries().unwrap(), 3);
        // IP_BIND_ADDRESS_NO_PORT: bind keeps port 0 until connect.
        let o = ok(case, bind(0, LO, 0));
        assert_eq!(o.local, Some("127.0.0.1:0".parse().unwrap()));
        ok(case, socket(1, Family::Inet6));
        ok(
            case,
            Op::Setsockopt {
                sock: s(1),
                opt: SockOpt::V6Only(true),
            },
        );
        assert!(case.executor().socket(s(1)).unwrap().only_v6().unwrap());
    });
}

#[test]
fn a_socket_created_with_an_euid_is_owned_by_that_uid() {
    if !kernel_or_skip("a_socket_created_with_an_euid_is_owned_by_that_uid") {
        return;
    }
    in_case(SandboxSpec::one_host(), |case| {
        ok(
            case,
            Op::Socket {
                sock: s(0),
                family: Family::Inet,
                nonblocking: false,
                euid: Some(1234),
                host: Host::A,
            },
        );
        ok(case, bind(0, LO, 5000));
        ok(case, socket(1, Family::Inet));
        ok(case, bind(1, LO, 5001));
        let raw = case.observer().rows(Host::A).unwrap();
        let uid = |port| raw.iter().find(|r| r.local.port() == port).unwrap().uid;
        assert_eq!((uid(5000), uid(5001)), (1234, 0));
        // SO_REUSEPORT sharing needs the same owner uid.
        for (n, euid, port) in [
            (2, Some(1234), 6000),
            (3, None, 6000),
            (4, Some(1234), 6000),
        ] {
            ok(
                case,
                Op::Socket {
                    sock: s(n),
                    family: Family::Inet,
                    nonblocking: false,
                    euid,
                    host: Host::A,
                },
            );
            ok(
                case,
                Op::Setsockopt {
                    sock: s(n),
                    opt: SockOpt::ReusePort(true),
                },
            );
            let _ = port;
        }
        ok(case, bind(2, LO, 6000));
        assert_eq!(
            run(case, bind(3, LO, 6000)).outcome,
            Outcome::Err(Errno::EADDRINUSE)
        );
        ok(case, bind(4, LO, 6000));
    });
}

#[test]
fn peer_vanishes_drops_what_arrives_for_the_connection() {
    if !kernel_or_skip("peer_vanishes_drops_what_arrives_for_the_connection") {
        return;
    }
    in_case(SandboxSpec::one_host(), |case| {
        connected_pair(case, 5000);
        ok(case, Op::PeerVanishes { sock: s(1) });
        assert_eq!(
            run(case, Op::Send { sock: s(2), len: 5 }).outcome,
            Outcome::Bytes(5)
        );
        assert_eq!(
            run(
                case,
                Op::Recv {
                    sock: s(1),
                    len: 10
                }
            )
            .outcome,
            Outcome::Blocks
        );
        let rows = rows(case);
        let (_, info) = rows.iter().find(|(_, i)| i.owner == Some(s(2))).unwrap();
        assert_eq!(
            info.timer.map(|t| t.kind),
            Some(TimerKind::Retransmit),
            "{rows:#?}"
        );
        // The other direction still flows.
        assert_eq!(
            run(case, Op::Send { sock: s(1), len: 3 }).outcome,
            Outcome::Bytes(3)
        );
        assert_eq!(
            run(
                case,
                Op::Recv {
                    sock: s(2),
                    len: 10
                }
            )
            .outcome,
            Outcome::Bytes(3)
        );
        // A socket with neither a connection nor an address has nothing to lose: EINVAL, as
        // the model says.
        ok(case, socket(3, Family::Inet));
        let r = case.apply(&Op::PeerVanishes { sock: s(3) }, &Env::new());
        assert_eq!(r.unwrap().outcome, Outcome::Err(Errno::EINVAL));
    });
}

#[test]
fn a_lingering_close_is_bounded_and_returns_zero() {
    if !kernel_or_skip("a_lingering_close_is_bounded_and_returns_zero") {
        return;
    }
    in_case(SandboxSpec::one_host(), |case| {
        connected_pair(case, 5000);
        ok(case, Op::PeerVanishes { sock: s(1) });
        ok(
            case,
            Op::Setsockopt {
                sock: s(1),
                opt: SockOpt::Linger(Some(30)),
            },
        );
        assert_eq!(
            run(
                case,
                Op::Send {
                    sock: s(1),
                    len: 1000
                }
            )
            .outcome,
            Outcome::Bytes(1000)
        );
        let t = Instant::now();
        ok(case, close(1));
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(20),
            "did not linger at all: {took:?}"
        );
        assert!(took < Duration::from_millis(500), "{took:?}");
        let rows = rows(case);
        let (r, i) = rows.iter().find(|(_, i)| i.owner == Some(s(1))).unwrap();
        assert_eq!((r.state, i.orphan), (TcpState::FinWait1, true), "{rows:#?}");
        // Such an orphan would outlive the case; teardown destroys it.
        assert_eq!(case.observer().destroy_orphans().unwrap(), 1);
        assert!(!rows_now(case).iter().any(|r| r.state == TcpState::FinWait1));
    });
}

#[test]
fn a_name_reused_while_open_leaves_the_old_descriptor_open() {
    if !kernel_or_skip("a_name_reused_while_open_leaves_the_old_descriptor_open") {
        return;
    }
    in_case(SandboxSpec::one_host(), |case| {
        ok(case, socket(0, Family::Inet));
        ok(case, bind(0, LO, 5000));
        ok(case, socket(0, Family::Inet));
        assert_eq!(
            run(case, bind(0, LO, 5000)).outcome,
            Outcome::Err(Errno::EADDRINUSE)
        );
    });
}
