//! The observer's bound, inactive rows without a walk of the bind hash: a row read through a
//! descriptor is the row a walk shows, a socket that is not quiet is left to the walk, the
//! probe tells a port held from a port released, and nothing that changed goes unseen.
#![cfg(target_os = "linux")]

use tcpconform_harness::observer::{DiagRow, Observer, Owners};
use tcpconform_harness::sandbox::{Case, SandboxSpec, kernel_or_skip, run_case};
use tcpconform_harness::scenario::parse_op;
use tcpconform_model::{Env, Host, Outcome, SockId};

/// Runs each call (scenario syntax) and returns their outcomes; a harness failure fails.
fn calls(case: &mut Case, lines: &[&str]) -> Vec<Outcome> {
    lines
        .iter()
        .map(|l| {
            let op = parse_op(l).unwrap_or_else(|e| panic!("`{l}`: {e}"));
            case.apply(&op, &Env::new())
                .unwrap_or_else(|e| panic!("harness failure on `{l}`: {e}"))
                .outcome
        })
        .collect()
}

fn cookie(case: &Case, sock: u16) -> u64 {
    case.executor().cookie(SockId(sock)).expect("a socket")
}

/// The walk's rows of host a in `CLOSE` (bound and inactive).
fn walked(case: &mut Case) -> Vec<DiagRow> {
    let rows = case.observer().rows(Host::A).expect("a dump");
    rows.into_iter().filter(|r| r.state == 7).collect()
}

/// Every field of a row, its peer dropped when its port is 0 (a failed connect() leaves
/// `inet_daddr` behind, which only a walk shows; the compared row has no peer then).
fn without_portless_peer(r: &DiagRow) -> String {
    let mut r = r.clone();
    if r.peer.port() == 0 {
        r.peer.set_ip(std::net::Ipv4Addr::UNSPECIFIED.into());
    }
    let debug = format!("{r:?}");
    // The raw id repeats the peer: keep what precedes it.
    debug.split(", id:").next().unwrap().to_owned()
}

fn in_case(f: impl FnOnce(&mut Case) + Send) {
    run_case(&SandboxSpec::one_host(), f).unwrap_or_else(|e| panic!("harness failure: {e}"));
}

/// Every socket in `CLOSE` with a port that the observer reads through its descriptor reads
/// as the walk shows it, field by field (the raw `inet_diag_msg` id included): bound in each
/// family, v4-mapped, wildcard with `SO_REUSEADDR`, with `SO_REUSEPORT`, refused by a closed
/// port (blocking: the connect() disconnects it; non-blocking, in each family: it keeps its
/// peer), a listener shut down.
#[test]
fn a_row_read_through_its_descriptor_is_the_row_a_walk_shows() {
    if !kernel_or_skip("a_row_read_through_its_descriptor_is_the_row_a_walk_shows") {
        return;
    }
    in_case(|case| {
        let out = calls(
            case,
            &[
                "s0 = socket(inet)",
                "bind(s0, 127.0.0.1:5000)",
                "s1 = socket(inet6)",
                "bind(s1, [::1]:5001)",
                "s2 = socket(inet6)",
                "bind(s2, [::ffff:127.0.0.1]:5002)",
                "s3 = socket(inet)",
                "setsockopt(s3, SO_REUSEADDR, 1)",
                "bind(s3, 0.0.0.0:5003)",
                "s4 = socket(inet)",
                "setsockopt(s4, SO_REUSEPORT, 1)",
                "bind(s4, 127.0.0.1:5004)",
                "s5 = socket(inet)",
                "bind(s5, 127.0.0.1:5005)",
                "connect(s5, 127.0.0.1:5999)",
                "s6 = socket(inet6)",
                "bind(s6, [::]:5006)",
                "listen(s6, 4)",
                "shutdown(s6, SHUT_RD)",
                "s7 = socket(inet, nonblock)",
                "bind(s7, 127.0.0.1:5007)",
                "connect(s7, 127.0.0.1:5998)",
                "s8 = socket(inet6, nonblock)",
                "bind(s8, [::1]:5008)",
                "connect(s8, [::1]:5997)",
            ],
        );
        assert_eq!(
            out.iter().filter(|o| **o != Outcome::Ok).count(),
            3,
            "only the connect() calls fail: {out:?}"
        );
        // The refused non-blocking sockets keep their peer (`inet_dport`): only SO_PEERNAME
        // shows it on a socket in CLOSE.
        case.settled_snapshot().expect("a table");
        let walk = walked(case);
        for (sock, port) in [(7, 5998), (8, 5997)] {
            let r = walk
                .iter()
                .find(|r| r.cookie == cookie(case, sock))
                .unwrap();
            assert_eq!(r.peer.port(), port, "s{sock}");
        }
        for sock in 0..=8 {
            let c = cookie(case, sock);
            let read = Observer::quiet_bound_row(case.executor(), c)
                .unwrap_or_else(|| panic!("s{sock} is quiet, in CLOSE with a port"));
            let shown = walk
                .iter()
                .find(|r| r.cookie == c)
                .map(without_portless_peer);
            assert_eq!(
                Some(without_portless_peer(&read)),
                shown,
                "s{sock}: read, then walked"
            );
        }
        // The refused socket's connect() left the address it tried, with port 0: the walk
        // shows it, the descriptor does not, and the compared row has no peer.
        let refused = walk.iter().find(|r| r.cookie == cookie(case, 5)).unwrap();
        assert_eq!(refused.peer.port(), 0);
        assert_eq!(refused.row().unwrap().peer, None);
    });
}

/// A socket that received bytes (a FIN here) or has `SO_KEEPALIVE` is not read through its
/// descriptor: its queue (`rcv_nxt - copied_seq`) or its keepalive timer would show only in a
/// walk.
#[test]
fn a_socket_that_received_or_keeps_alive_is_left_to_the_walk() {
    if !kernel_or_skip("a_socket_that_received_or_keeps_alive_is_left_to_the_walk") {
        return;
    }
    in_case(|case| {
        calls(
            case,
            &[
                "s0 = socket(inet)",
                "bind(s0, 127.0.0.1:5000)",
                "listen(s0, 4)",
                "s1 = socket(inet)",
                "bind(s1, 127.0.0.1:5001)",
                "connect(s1, 127.0.0.1:5000)",
                "s2 = accept(s0)",
                "close(s2)",
                "destroy(s1)",
                "s3 = socket(inet)",
                "setsockopt(s3, SO_KEEPALIVE, 1)",
                "bind(s3, 127.0.0.1:5003)",
            ],
        );
        // s1 received the FIN, then was destroyed into CLOSE keeping its port.
        let walk = walked(case);
        for sock in [1, 3] {
            let c = cookie(case, sock);
            assert!(walk.iter().any(|r| r.cookie == c), "s{sock} is bound");
            assert_eq!(
                Observer::quiet_bound_row(case.executor(), c),
                None,
                "s{sock}"
            );
        }
    });
}

/// After calls that bind, release and re-bind, the observer's table (read through
/// descriptors and probes, not walks) holds exactly the walk's bound rows, and it did not walk.
#[test]
fn binds_and_releases_are_seen_without_walking_the_bind_hash() {
    use tcpconform_model::Errno::EINVAL;
    if !kernel_or_skip("binds_and_releases_are_seen_without_walking_the_bind_hash") {
        return;
    }
    in_case(|case| {
        let bound = |case: &mut Case| {
            let settled = case.settled_snapshot().expect("a table");
            let mut rows: Vec<_> = settled
                .snapshot
                .rows
                .into_iter()
                .filter(|(r, _)| r.state == tcpconform_model::TcpState::Closed)
                .map(|(r, i)| (r.local, i.owner))
                .collect();
            rows.sort();
            rows
        };
        let from_walk = |case: &mut Case| {
            let mut rows: Vec<_> = walked(case)
                .into_iter()
                .map(|r| (r.local, case.executor().owner_of(r.cookie)))
                .collect();
            rows.sort();
            rows
        };
        // A first walk: this kernel dumps bound sockets.
        calls(case, &["s9 = socket(inet)", "bind(s9, 127.0.0.1:5999)"]);
        assert_eq!(bound(case), from_walk(case));
        let walks = case.observer().walks();
        let steps: &[&[&str]] = &[
            &["s0 = socket(inet)", "bind(s0, 127.0.0.1:5000)"],
            &["s1 = socket(inet6)", "bind(s1, [::]:5001)"],
            // Autobound by listen(), released by shutdown(): getsockname still shows the
            // port, the probe finds it free, the walk shows no row.
            &[
                "s2 = socket(inet)",
                "listen(s2, 4)",
                "shutdown(s2, SHUT_RD)",
            ],
            &["close(s0)"],
            &["s3 = socket(inet)", "bind(s3, 127.0.0.1:5000)"],
            &["s4 = socket(inet)", "bind(s4, 127.0.0.2:5001)"],
        ];
        for step in steps {
            calls(case, step);
            assert_eq!(bound(case), from_walk(case), "after {step:?}");
        }
        assert_eq!(case.observer().walks(), walks, "a walk after a bind");
        assert!(case.observer().descriptor_reads() >= steps.len() as u64 - 1);
        // Port 5000 at another address, s3's bucket: no probe, but none is needed, the bind
        // succeeded.
        calls(case, &["s5 = socket(inet)", "bind(s5, 127.0.0.2:5000)"]);
        assert_eq!(bound(case), from_walk(case));
        assert_eq!(case.observer().walks(), walks, "a walk after a bind");
        // A refused bind leaves s5's row as it was: neither read nor walked for.
        let reads = case.observer().descriptor_reads();
        assert_eq!(
            calls(case, &["bind(s5, 127.0.0.1:6000)"]),
            [Outcome::Err(EINVAL)]
        );
        assert_eq!(bound(case), from_walk(case));
        assert_eq!(case.observer().descriptor_reads(), reads, "a read");
        assert_eq!(
            case.observer().walks(),
            walks,
            "a walk after a refused bind"
        );
        // A refused connect() says nothing of whether s5 keeps its port, and no probe can
        // ask next to s3: a walk.
        calls(case, &["connect(s5, 127.0.0.1:5999)"]);
        assert_eq!(bound(case), from_walk(case));
        assert_eq!(
            case.observer().walks(),
            walks + 1,
            "no walk for a shared port"
        );
        // An IPv6 socket is asked itself, shared port or not.
        let walks = case.observer().walks();
        calls(case, &["s6 = socket(inet6)", "bind(s6, [::1]:5000)"]);
        calls(case, &["connect(s6, [::1]:5999)"]);
        assert_eq!(bound(case), from_walk(case));
        assert_eq!(case.observer().walks(), walks, "a walk for an IPv6 socket");
    });
}

/// A socket whose own TIME-WAIT minisocket holds its port (it keeps the socket's cookie)
/// while its descriptor reads quiet (a failed connect() reset its counters): the probe's
/// answer is the TIME-WAIT's, so the observer must walk. Found by a campaign (seed 21), where
/// the observer showed the socket bound.
#[test]
fn a_sockets_own_time_wait_is_another_holder_of_its_port() {
    if !kernel_or_skip("a_sockets_own_time_wait_is_another_holder_of_its_port") {
        return;
    }
    let range: tcpconform_model::Sysctl =
        "net.ipv4.ip_local_port_range=40000 40001".parse().unwrap();
    let spec = SandboxSpec::one_host().sysctl(Host::A, range);
    run_case(&spec, |case| {
        // Each call observed, as in a campaign; the first walk shows this kernel dumps
        // bound sockets.
        let step = |case: &mut Case, line: &str| {
            let op = parse_op(line).unwrap();
            let observed = case.apply(&op, &Env::new()).unwrap();
            let settled = case.settled_snapshot().expect("a table");
            let mut unconn: Vec<_> = settled
                .snapshot
                .rows
                .iter()
                .filter(|(r, _)| r.state == tcpconform_model::TcpState::Closed)
                .map(|(r, _)| r.local)
                .collect();
            let mut shown: Vec<_> = walked(case).into_iter().map(|r| r.local).collect();
            unconn.sort();
            shown.sort();
            assert_eq!(unconn, shown, "after `{line}`");
            observed
        };
        for line in [
            "s9 = socket(inet)",
            "bind(s9, 127.0.0.1:5999)",
            "s0 = socket(inet6, nonblock)",
            "bind(s0, [::]:5001)",
            "listen(s0, 0)",
            "s2 = socket(inet, nonblock)",
        ] {
            step(case, line);
        }
        let c1 = step(case, "connect(s2, 127.0.0.2:5001)")
            .local
            .unwrap()
            .port();
        for line in [
            "s3 = accept(s0)",
            "close(s3)",
            "shutdown(s2, SHUT_RDWR)",
            "s4 = socket(inet)",
            "shutdown(s4, SHUT_RDWR)",
            &format!("connect(s4, 127.0.0.1:{c1})"),
        ] {
            step(case, line);
        }
        assert!(case.observer().descriptor_reads() > 0);
    })
    .unwrap_or_else(|e| panic!("harness failure: {e}"));
}

/// A probe binds only where its bind() makes the port's bucket: next to another socket with
/// the port, at any address, it would rewrite that bucket's `fastreuse`, which kernels before
/// 6.18 keep after it leaves. The kernel matrix's 6.12.118 showed it (a campaign's case,
/// `probe-leaves-no-trace-in-a-shared-bucket.scn`): a probe for the refused socket's stale
/// name `[::1]:40000`, next to the IPv4 connection from 40000, closed the bucket to
/// connect()'s port search, and the next connect() failed with `EADDRNOTAVAIL`.
#[test]
fn a_probe_never_binds_next_to_another_socket_with_the_port() {
    if !kernel_or_skip("a_probe_never_binds_next_to_another_socket_with_the_port") {
        return;
    }
    let range: tcpconform_model::Sysctl =
        "net.ipv4.ip_local_port_range=40000 40000".parse().unwrap();
    let spec = SandboxSpec::one_host().sysctl(Host::A, range);
    run_case(&spec, |case| {
        let mut outcomes = Vec::new();
        for line in [
            "s0 = socket(inet)",
            "bind(s0, 0.0.0.0:5000)",
            "listen(s0, 0)",
            "s2 = socket(inet6, nonblock)",
            "s3 = socket(inet, nonblock)",
            "connect(s3, 127.0.0.2:5000)",
            "connect(s2, [::1]:5000)",
            "connect(s2, [::ffff:127.0.0.1]:5000)",
            "connect(s2, [::1]:5000)",
        ] {
            let op = parse_op(line).unwrap();
            outcomes.push(case.apply(&op, &Env::new()).unwrap().outcome);
            case.settled_snapshot().expect("a table");
        }
        // The walks saw s2 released from 40000 (the first walk of the process may be one of
        // them); no probe was bound into the bucket s3's connect() made.
        assert_eq!(case.observer().probes_bound(), 0);
        use tcpconform_model::Errno;
        assert_eq!(outcomes[7], Outcome::Err(Errno::ECONNREFUSED));
        assert_eq!(outcomes[8], Outcome::Err(Errno::EINPROGRESS));
    })
    .unwrap_or_else(|e| panic!("harness failure: {e}"));
}

/// A listener's row read through its descriptor is the row a dump shows, field by field, with
/// connections in its accept queue or none, in each family, in a `SO_REUSEPORT` group; one
/// with `SO_KEEPALIVE` is left to the dump, which then asks for listeners.
#[test]
fn a_listener_read_through_its_descriptor_is_the_row_a_dump_shows() {
    if !kernel_or_skip("a_listener_read_through_its_descriptor_is_the_row_a_dump_shows") {
        return;
    }
    in_case(|case| {
        calls(
            case,
            &[
                "s0 = socket(inet)",
                "bind(s0, 127.0.0.1:5000)",
                "listen(s0, 4)",
                "s1 = socket(inet)",
                "connect(s1, 127.0.0.1:5000)",
                "s2 = socket(inet6)",
                "bind(s2, [::]:5001)",
                "listen(s2, 0)",
                "s3 = socket(inet)",
                "setsockopt(s3, SO_REUSEPORT, 1)",
                "bind(s3, 0.0.0.0:5002)",
                "listen(s3, 8)",
                "s4 = socket(inet)",
                "setsockopt(s4, SO_REUSEPORT, 1)",
                "bind(s4, 0.0.0.0:5002)",
                "listen(s4, 8)",
            ],
        );
        let listening = 1 << tcpconform_harness::observer::TCP_LISTEN;
        assert!(
            !case.executor().after_dump().listeners_unread,
            "all read through"
        );
        case.settled_snapshot().expect("a table");
        let dumped = case.observer().all_rows_in(listening).expect("a dump");
        for sock in [0, 2, 3, 4] {
            let c = cookie(case, sock);
            let read = Observer::listener_row(case.executor(), c)
                .unwrap_or_else(|| panic!("s{sock} is a listener without SO_KEEPALIVE"));
            let shown = dumped.iter().find(|r| r.cookie == c);
            assert_eq!(Some(&read), shown, "s{sock}: read, then dumped");
        }
        let queued = dumped.iter().find(|r| r.cookie == cookie(case, 0)).unwrap();
        assert_eq!(queued.rqueue, 1, "the connection waits in s0's queue");

        calls(
            case,
            &[
                "s5 = socket(inet)",
                "setsockopt(s5, SO_KEEPALIVE, 1)",
                "bind(s5, 127.0.0.1:5005)",
                "listen(s5, 4)",
            ],
        );
        assert_eq!(
            Observer::listener_row(case.executor(), cookie(case, 5)),
            None
        );
        assert!(
            case.executor().after_dump().listeners_unread,
            "left to a dump"
        );
        let rows = case.settled_snapshot().expect("a table").snapshot.rows;
        let listeners = rows
            .iter()
            .filter(|(r, _)| r.state == tcpconform_model::TcpState::Listen)
            .count();
        assert_eq!(listeners, 5, "{rows:#?}");
    });
}

/// Every reading that kept the bound, inactive rows without a walk (unchanged, read through
/// descriptors, told by the calls' results, asked of IPv6 sockets themselves, probed) holds
/// against a walk over random cases: a campaign with `check_readings`, where the first
/// difference fails the case as the harness's. `TCPCONFORM_SEED` repeats a run.
#[test]
fn every_reading_kept_without_a_walk_holds_against_one() {
    use tcpconform_harness::campaign::{self, CampaignOptions, CampaignOutcome};
    use tcpconform_harness::config::CaseConfig;
    if !kernel_or_skip("every_reading_kept_without_a_walk_holds_against_one") {
        return;
    }
    let profile = tcpconform_harness::kernel::running_profile().expect("a kernel version");
    let seed = std::env::var("TCPCONFORM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map(|d| d.as_nanos() as u64).unwrap_or(1)
        });
    println!("seed {seed}");
    let mut options = CampaignOptions::for_this_host(CaseConfig::defaults(profile), 1000, seed);
    options.check_readings = true;
    let report = campaign::run(&options, &|_| {});
    if let CampaignOutcome::HarnessFailed(e) = &report.outcome {
        panic!("seed {seed}: {e}");
    }
    assert_eq!(report.cases, 1000);
}
