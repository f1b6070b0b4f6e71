//! Model unit tests: each runs a short scenario on the model alone and checks outcomes, the
//! deciding rule and the socket table. They are grouped by rule family; every rule id has at
//! least one test that names it (see `every_rule_is_pinned_by_a_test` in `tests/rules.rs`).

use std::net::{IpAddr, SocketAddr};

use super::*;
use crate::addr::{Family, Port, SockAddr, Var};
use crate::op::{CallOption, DEFAULT_BACKLOG, How, Op, SockId, SockOpt};

/// A scenario under construction: runs each op as it is added.
pub(crate) struct T {
    pub(crate) m: Model,
    pub(crate) env: Env,
    pub(crate) last: Option<Branch>,
}

pub(crate) fn s(n: u16) -> SockId {
    SockId(n)
}

pub(crate) fn addr(text: &str) -> SockAddr {
    let sa: SocketAddr = text.parse().expect("test address");
    SockAddr {
        ip: sa.ip(),
        port: Port::Lit(sa.port()),
    }
}

pub(crate) fn var_addr(ip: &str, var: &str) -> SockAddr {
    SockAddr {
        ip: ip.parse::<IpAddr>().expect("ip"),
        port: Port::Var(Var(var.into())),
    }
}

impl T {
    pub(crate) fn new() -> Self {
        Self::with(|_| {})
    }

    pub(crate) fn with(f: impl FnOnce(&mut Sysctls)) -> Self {
        let mut sys = Sysctls::linux_defaults();
        f(&mut sys);
        let mut map = BTreeMap::new();
        map.insert(Host::A, sys);
        Self {
            m: Model::new(Profile::LINUX_6_18, Topology::loopback(), map),
            env: Env::new(),
            last: None,
        }
    }

    pub(crate) fn profile(mut self, p: Profile) -> Self {
        self.m.profile = p;
        self
    }

    /// Runs an op and returns its outcome.
    #[track_caller]
    pub(crate) fn op(&mut self, op: Op) -> Outcome {
        let b = self.m.step(&op, &self.env);
        for (v, p) in &b.bindings {
            self.env.bind(v, *p);
        }
        self.m = b.model.clone();
        let out = b.outcome;
        self.last = Some(b);
        out
    }

    /// Runs an op and checks its outcome and rule.
    #[track_caller]
    pub(crate) fn expect(&mut self, op: Op, outcome: Outcome, rule: RuleId) {
        let shown = op.to_string();
        let got = self.op(op);
        let b = self.last.as_ref().expect("just ran");
        assert_eq!(
            (got, b.rule),
            (outcome, rule),
            "{shown}: rules applied {:?}",
            b.rules
        );
    }

    pub(crate) fn rule(&self) -> RuleId {
        self.last.as_ref().expect("ran").rule
    }

    pub(crate) fn rules(&self) -> Vec<RuleId> {
        self.last.as_ref().expect("ran").rules.clone()
    }

    pub(crate) fn socket(&mut self, n: u16, family: Family) {
        let o = self.op(Op::Socket {
            sock: s(n),
            family,
            nonblocking: false,
            euid: None,
            host: Host::A,
        });
        assert_eq!(o, Outcome::Ok);
    }

    pub(crate) fn socket_nb(&mut self, n: u16, family: Family) {
        self.op(Op::Socket {
            sock: s(n),
            family,
            nonblocking: true,
            euid: None,
            host: Host::A,
        });
    }

    pub(crate) fn socket_uid(&mut self, n: u16, family: Family, uid: u32) {
        self.op(Op::Socket {
            sock: s(n),
            family,
            nonblocking: false,
            euid: Some(uid),
            host: Host::A,
        });
    }

    pub(crate) fn set(&mut self, n: u16, opt: SockOpt) -> Outcome {
        self.op(Op::Setsockopt { sock: s(n), opt })
    }

    pub(crate) fn bind(&mut self, n: u16, a: &str) -> Outcome {
        self.op(Op::Bind {
            sock: s(n),
            addr: addr(a),
        })
    }

    pub(crate) fn listen(&mut self, n: u16) -> Outcome {
        self.op(Op::Listen {
            sock: s(n),
            backlog: DEFAULT_BACKLOG,
        })
    }

    pub(crate) fn connect(&mut self, n: u16, a: &str) -> Outcome {
        self.op(Op::Connect {
            sock: s(n),
            addr: addr(a),
            local: None,
        })
    }

    pub(crate) fn accept(&mut self, l: u16, n: u16) -> Outcome {
        self.op(Op::Accept {
            listener: s(l),
            sock: s(n),
            peer: None,
        })
    }

    pub(crate) fn close(&mut self, n: u16) -> Outcome {
        self.op(Op::Close { sock: s(n) })
    }

    pub(crate) fn send(&mut self, n: u16, len: u32) -> Outcome {
        self.op(Op::Send { sock: s(n), len })
    }

    pub(crate) fn recv(&mut self, n: u16, len: u32) -> Outcome {
        self.op(Op::Recv { sock: s(n), len })
    }

    pub(crate) fn shutdown(&mut self, n: u16, how: How) -> Outcome {
        self.op(Op::Shutdown { sock: s(n), how })
    }

    /// The table as `STATE local peer` lines with literal ports.
    pub(crate) fn table(&self) -> Vec<String> {
        let mut rows = self
            .m
            .snapshot()
            .rows
            .iter()
            .map(|(r, _)| {
                let peer = r.peer.map_or_else(|| "*".to_owned(), |p| p.to_string());
                let q = if r.queue != 0 {
                    format!(" q={}", r.queue)
                } else {
                    String::new()
                };
                format!("{} {} {}{q}", r.state.ss_name(), r.local, peer)
            })
            .collect::<Vec<_>>();
        rows.sort();
        rows
    }

    /// A listener on `a` (s0), a client (s1) connected to it, and the accepted socket (s2).
    pub(crate) fn established(&mut self, a: &str) {
        let fam = if a.starts_with('[') {
            Family::Inet6
        } else {
            Family::Inet
        };
        self.socket(0, fam);
        assert_eq!(self.bind(0, a), Outcome::Ok);
        assert_eq!(self.listen(0), Outcome::Ok);
        self.socket(1, fam);
        assert_eq!(self.connect(1, a), Outcome::Ok);
        assert_eq!(self.accept(0, 2), Outcome::Ok);
    }
}

fn sorted(mut v: Vec<&str>) -> Vec<String> {
    v.sort();
    v.into_iter().map(str::to_owned).collect()
}

fn port_of(t: &T, n: u16) -> u16 {
    t.m.port_of(s(n)).expect("open")
}

// ==== the classic cases ==============================================================

#[test]
fn server_killed_leaves_fin_wait2_and_close_wait_and_blocks_restart() {
    let mut t = T::new();
    t.established("127.0.0.1:8080");
    let c = port_of(&t, 1);
    t.close(2);
    t.close(0);
    let tbl = t.table();
    assert_eq!(
        tbl,
        sorted(vec![
            &format!("FIN-WAIT-2 127.0.0.1:8080 127.0.0.1:{c}"),
            &format!("CLOSE-WAIT 127.0.0.1:{c} 127.0.0.1:8080 q=1"),
        ])
    );
    t.socket(3, Family::Inet);
    t.expect(
        Op::Bind {
            sock: s(3),
            addr: addr("127.0.0.1:8080"),
        },
        Outcome::Err(Errno::EADDRINUSE),
        RuleId::BindTimeWaitNeedsReuseAddrOnBoth,
    );
}

#[test]
fn active_closer_gets_time_wait_and_passive_closer_none() {
    let mut t = T::new();
    t.established("127.0.0.1:8080");
    let c = port_of(&t, 1);
    t.close(1);
    assert!(t.rules().contains(&RuleId::CloseOrphanFinWait2));
    t.close(2);
    assert!(
        t.rules().contains(&RuleId::FinWait2MinisockFin),
        "{:?}",
        t.rules()
    );
    assert_eq!(
        t.table(),
        sorted(vec![
            "LISTEN 127.0.0.1:8080 *",
            &format!("TIME-WAIT 127.0.0.1:{c} 127.0.0.1:8080")
        ])
    );
}

#[test]
fn bind_over_time_wait_needs_reuseaddr_on_both() {
    for (old_ra, new_ra, ok) in [
        (false, false, false),
        (false, true, false),
        (true, false, false),
        (true, true, true),
    ] {
        let mut t = T::new();
        t.socket(0, Family::Inet);
        t.set(0, SockOpt::ReuseAddr(old_ra));
        t.bind(0, "127.0.0.1:8080");
        t.listen(0);
        t.socket(1, Family::Inet);
        t.connect(1, "127.0.0.1:8080");
        t.accept(0, 2);
        t.close(2); // the server closes first: its accepted socket gets TIME-WAIT
        t.close(1);
        t.close(0);
        assert!(
            t.table()[0].starts_with("TIME-WAIT 127.0.0.1:8080"),
            "{:?}",
            t.table()
        );
        t.socket(3, Family::Inet);
        t.set(3, SockOpt::ReuseAddr(new_ra));
        let got = t.bind(3, "127.0.0.1:8080");
        let want = if ok {
            Outcome::Ok
        } else {
            Outcome::Err(Errno::EADDRINUSE)
        };
        assert_eq!(got, want, "old RA {old_ra} new RA {new_ra}");
        let rule = if ok {
            RuleId::BindReuseAddrBoth
        } else {
            RuleId::BindTimeWaitNeedsReuseAddrOnBoth
        };
        assert_eq!(t.rule(), rule);
    }
}

#[test]
fn linger_zero_close_sends_rst_and_leaves_no_time_wait() {
    let mut t = T::new();
    t.established("127.0.0.1:8080");
    t.set(1, SockOpt::Linger(Some(0)));
    t.expect(
        Op::Close { sock: s(1) },
        Outcome::Ok,
        RuleId::CloseLingerZero,
    );
    assert_eq!(t.table(), sorted(vec!["LISTEN 127.0.0.1:8080 *"]));
    t.expect(
        Op::Recv {
            sock: s(2),
            len: 10,
        },
        Outcome::Err(Errno::ECONNRESET),
        RuleId::RecvPendingError,
    );
    t.expect(
        Op::Recv {
            sock: s(2),
            len: 10,
        },
        Outcome::Eof,
        RuleId::RecvEof,
    );
}

#[test]
fn close_with_unread_data_resets_the_peer() {
    let mut t = T::new();
    t.established("127.0.0.1:8080");
    assert_eq!(t.send(1, 5), Outcome::Bytes(5));
    t.expect(
        Op::Close { sock: s(2) },
        Outcome::Ok,
        RuleId::CloseUnreadData,
    );
    assert_eq!(t.table(), sorted(vec!["LISTEN 127.0.0.1:8080 *"]));
    t.expect(
        Op::Send { sock: s(1), len: 1 },
        Outcome::Err(Errno::ECONNRESET),
        RuleId::SendPendingError,
    );
    t.expect(
        Op::Send { sock: s(1), len: 1 },
        Outcome::Err(Errno::EPIPE),
        RuleId::SendPipe,
    );
}

#[test]
fn passive_side_send_after_peer_close_is_reset_then_epipe() {
    let mut t = T::new();
    t.established("127.0.0.1:8080");
    t.close(1);
    assert_eq!(t.recv(2, 10), Outcome::Eof);
    t.expect(
        Op::Send { sock: s(2), len: 3 },
        Outcome::Bytes(3),
        RuleId::SendOk,
    );
    assert!(
        t.rules().contains(&RuleId::FinWait2MinisockData),
        "{:?}",
        t.rules()
    );
    t.expect(
        Op::Send { sock: s(2), len: 3 },
        Outcome::Err(Errno::EPIPE),
        RuleId::SendPendingError,
    );
}

#[test]
fn connect_refused_then_nonblocking_sequence() {
    let mut t = T::new();
    t.socket(0, Family::Inet);
    t.expect(
        Op::Connect {
            sock: s(0),
            addr: addr("127.0.0.1:9"),
            local: None,
        },
        Outcome::Err(Errno::ECONNREFUSED),
        RuleId::ConnectRefused,
    );
    t.socket_nb(1, Family::Inet);
    t.expect(
        Op::Connect {
            sock: s(1),
            addr: addr("127.0.0.1:9"),
            local: None,
        },
        Outcome::Err(Errno::EINPROGRESS),
        RuleId::ConnectInProgress,
    );
    t.expect(
        Op::Connect {
            sock: s(1),
            addr: addr("127.0.0.1:9"),
            local: None,
        },
        Outcome::Err(Errno::ECONNREFUSED),
        RuleId::ConnectPendingError,
    );
}

#[test]
fn nonblocking_connect_to_a_listener_completes_on_the_second_call() {
    let mut t = T::new();
    t.socket(0, Family::Inet);
    t.bind(0, "127.0.0.1:8080");
    t.listen(0);
    t.socket_nb(1, Family::Inet);
    assert_eq!(
        t.connect(1, "127.0.0.1:8080"),
        Outcome::Err(Errno::EINPROGRESS)
    );
    t.expect(
        Op::Connect {
            sock: s(1),
            addr: addr("127.0.0.1:8080"),
            local: None,
        },
        Outcome::Ok,
        RuleId::ConnectCompleted,
    );
    t.expect(
        Op::Connect {
            sock: s(1),
            addr: addr("127.0.0.1:8080"),
            local: None,
        },
        Outcome::Err(Errno::EISCONN),
        RuleId::ConnectIsConn,
    );
}

#[test]
fn ephemeral_bind_takes_odd_ports_and_connect_even_ones() {
    let mut t = T::new();
    t.socket(0, Family::Inet);
    t.op(Op::Bind {
        sock: s(0),
        addr: var_addr("127.0.0.1", "P"),
    });
    assert_eq!(t.rule(), RuleId::BindEphemeral);
    let p = t.env.get(&Var("P".into())).expect("bound");
    assert_eq!(p % 2, 1);
    t.listen(0);
    t.socket(1, Family::Inet);
    t.op(Op::Connect {
        sock: s(1),
        addr: var_addr("127.0.0.1", "P"),
        local: Some(Var("C".into())),
    });
    let c = t.env.get(&Var("C".into())).expect("bound");
    assert_eq!(c % 2, 0);
}

#[test]
fn listen_rechecks_conflicts_so_two_reuseaddr_listeners_fail() {
    let mut t = T::new();
    for n in [0, 1] {
        t.socket(n, Family::Inet);
        t.set(n, SockOpt::ReuseAddr(true));
        assert_eq!(t.bind(n, "127.0.0.1:8080"), Outcome::Ok);
    }
    assert_eq!(t.rule(), RuleId::BindReuseAddrBoth);
    t.expect(
        Op::Listen {
            sock: s(0),
            backlog: DEFAULT_BACKLOG,
        },
        Outcome::Ok,
        RuleId::ListenOk,
    );
    t.expect(
        Op::Listen {
            sock: s(1),
            backlog: DEFAULT_BACKLOG,
        },
        Outcome::Err(Errno::EADDRINUSE),
        RuleId::ListenConflict,
    );
}

#[test]
fn reuseport_needs_the_same_uid() {
    let mut t = T::new();
    t.socket(0, Family::Inet);
    t.set(0, SockOpt::ReusePort(true));
    t.bind(0, "127.0.0.1:8080");
    t.listen(0);
    t.socket(1, Family::Inet);
    t.set(1, SockOpt::ReusePort(true));
    assert_eq!(t.bind(1, "127.0.0.1:8080"), Outcome::Ok);
    assert_eq!(t.listen(1), Outcome::Ok);
    t.socket_uid(2, Family::Inet, 65534);
    t.set(2, SockOpt::ReusePort(true));
    assert_eq!(t.bind(2, "127.0.0.1:8080"), Outcome::Err(Errno::EADDRINUSE));
    assert_eq!(t.rule(), RuleId::BindReusePortOtherUid);
}

#[test]
fn dual_stack_wildcard_conflicts_with_ipv4_wildcard_unless_v6only() {
    let mut t = T::new();
    t.socket(0, Family::Inet);
    t.bind(0, "0.0.0.0:8080");
    t.socket(1, Family::Inet6);
    assert_eq!(t.bind(1, "[::]:8080"), Outcome::Err(Errno::EADDRINUSE));
    t.socket(2, Family::Inet6);
    t.set(2, SockOpt::V6Only(true));
    assert_eq!(t.bind(2, "[::]:8080"), Outcome::Ok);
}

#[test]
fn tiny_port_range_shares_a_port_across_destinations_then_runs_out() {
    let mut t = T::with(|s| s.ip_local_port_range = (40000, 40000));
    for (n, port) in [(0u16, 9000u16), (1, 9001)] {
        t.socket(n, Family::Inet);
        t.bind(n, &format!("127.0.0.1:{port}"));
        t.listen(n);
    }
    t.socket(2, Family::Inet);
    assert_eq!(t.connect(2, "127.0.0.1:9000"), Outcome::Ok);
    t.socket(3, Family::Inet);
    assert_eq!(t.connect(3, "127.0.0.1:9001"), Outcome::Ok);
    assert_eq!(port_of(&t, 2), 40000);
    assert_eq!(port_of(&t, 3), 40000);
    t.socket(4, Family::Inet);
    t.expect(
        Op::Connect {
            sock: s(4),
            addr: addr("127.0.0.1:9000"),
            local: None,
        },
        Outcome::Err(Errno::EADDRNOTAVAIL),
        RuleId::ConnectAutobindExhausted,
    );
}

#[test]
fn destroy_ends_a_time_wait_early() {
    let mut t = T::new();
    t.established("127.0.0.1:8080");
    t.close(1);
    t.close(2);
    t.socket(3, Family::Inet);
    let c =
        t.m.sks
            .values()
            .find(|x| x.state == TcpState::TimeWait)
            .expect("tw")
            .port;
    assert_eq!(
        t.bind(3, &format!("127.0.0.1:{c}")),
        Outcome::Err(Errno::EADDRINUSE)
    );
    t.expect(Op::Destroy { sock: s(1) }, Outcome::Ok, RuleId::DestroyOk);
    t.socket(4, Family::Inet);
    assert_eq!(t.bind(4, &format!("127.0.0.1:{c}")), Outcome::Ok);
}

#[test]
fn time_wait_expires_after_sixty_seconds() {
    let mut t = T::new();
    t.established("127.0.0.1:8080");
    t.close(1);
    t.close(2);
    t.op(Op::Sleep { ms: 59_999 });
    assert_eq!(t.table().len(), 2);
    t.expect(Op::Sleep { ms: 1 }, Outcome::Ok, RuleId::TimeWaitExpires);
    assert_eq!(t.table(), sorted(vec!["LISTEN 127.0.0.1:8080 *"]));
}

#[test]
fn a_listener_shut_for_sending_passes_it_to_its_children() {
    let mut t = T::new();
    t.socket_nb(1, Family::Inet);
    assert_eq!(t.shutdown(1, How::Wr), Outcome::Err(Errno::ENOTCONN));
    t.bind(1, "127.0.0.1:5000");
    t.socket_nb(3, Family::Inet);
    t.listen(1);
    assert_eq!(
        t.connect(3, "127.0.0.1:5000"),
        Outcome::Err(Errno::EINPROGRESS)
    );
    assert!(
        t.rules().contains(&RuleId::TcpShutdownInherited),
        "{:?}",
        t.rules()
    );
    let c = port_of(&t, 3);
    assert_eq!(
        t.table(),
        sorted(vec![
            "LISTEN 127.0.0.1:5000 * q=1",
            &format!("FIN-WAIT-2 127.0.0.1:5000 127.0.0.1:{c}"),
            &format!("CLOSE-WAIT 127.0.0.1:{c} 127.0.0.1:5000 q=1"),
        ])
    );
}

/// Clearing SO_REUSEADDR after bind: Linux 6.1 still trusts the bucket's cache (set from the
/// first owner) and lets another SO_REUSEADDR socket in; since 6.8 the cache is never set and
/// the owners are checked.
#[test]
fn a_stale_fastreuse_cache_admits_a_bind_on_6_1_but_not_on_6_18() {
    for (profile, want, rule) in [
        (
            Profile::linux(6, 1),
            Outcome::Ok,
            RuleId::BindFastReuseCache,
        ),
        (
            Profile::LINUX_6_18,
            Outcome::Err(Errno::EADDRINUSE),
            RuleId::BindConflict,
        ),
    ] {
        let mut t = T::new().profile(profile);
        t.socket(0, Family::Inet);
        t.set(0, SockOpt::ReuseAddr(true));
        t.bind(0, "127.0.0.2:5000");
        t.set(0, SockOpt::ReuseAddr(false));
        t.socket(1, Family::Inet);
        t.set(1, SockOpt::ReuseAddr(true));
        assert_eq!(t.bind(1, "127.0.0.2:5000"), want, "{profile}");
        assert_eq!(t.rule(), rule, "{profile}");
    }
}

// --- mutants: the hooks the generated cases rarely reach ------------------------------------

/// A client on host a connected to a listener on host b (10.0.0.2:5000) through the veth, the
/// client's TIME-WAIT made, time passed, and a new client's connect(); with `tcp_tw_reuse=2`
/// and a one-port range, its outcome.
fn reconnect_over_veth_time_wait(mutant: Option<Mutant>) -> Outcome {
    let mut a = Sysctls::linux_defaults();
    a.tcp_tw_reuse = 2;
    a.tcp_tw_reuse_delay_ms = 1;
    a.ip_local_port_range = (40000, 40000);
    let mut map = BTreeMap::new();
    map.insert(Host::A, a);
    let m = Model::new(Profile::LINUX_6_18, Topology::two_hosts(), map).with_mutant(mutant);
    let mut t = T {
        m,
        env: Env::new(),
        last: None,
    };
    let socket = |n: u16, host: Host| Op::Socket {
        sock: s(n),
        family: Family::Inet,
        nonblocking: false,
        euid: None,
        host,
    };
    t.op(socket(0, Host::B));
    assert_eq!(t.bind(0, "0.0.0.0:5000"), Outcome::Ok);
    assert_eq!(t.listen(0), Outcome::Ok);
    t.op(socket(1, Host::A));
    assert_eq!(t.connect(1, "10.0.0.2:5000"), Outcome::Ok);
    assert_eq!(t.accept(0, 2), Outcome::Ok);
    t.close(1);
    t.close(2);
    t.op(Op::Sleep { ms: 2000 });
    t.op(socket(3, Host::A));
    t.connect(3, "10.0.0.2:5000")
}

#[test]
fn tw_reuse_2_takes_over_no_veth_time_wait_unless_mutated() {
    assert_eq!(
        reconnect_over_veth_time_wait(None),
        Outcome::Err(Errno::EADDRNOTAVAIL)
    );
    assert_eq!(
        reconnect_over_veth_time_wait(Some(Mutant::TwReuseLoopbackIgnored)),
        Outcome::Ok
    );
}

/// A TIME-WAIT on 127.0.0.1:6000 ↔ 127.0.0.1:5000 made without timestamps (both sockets with
/// SO_REUSEADDR), then a new socket bound to 127.0.0.1:6000 connects to 127.0.0.1:5000.
fn explicit_connect_over_time_wait_without_timestamps(mutant: Option<Mutant>) -> Outcome {
    let mut t = T::with(|s| s.tcp_timestamps = 0);
    t.m = t.m.clone().with_mutant(mutant);
    t.socket(0, Family::Inet);
    assert_eq!(t.bind(0, "127.0.0.1:5000"), Outcome::Ok);
    assert_eq!(t.listen(0), Outcome::Ok);
    t.socket(1, Family::Inet);
    t.set(1, SockOpt::ReuseAddr(true));
    assert_eq!(t.bind(1, "127.0.0.1:6000"), Outcome::Ok);
    assert_eq!(t.connect(1, "127.0.0.1:5000"), Outcome::Ok);
    assert_eq!(t.accept(0, 2), Outcome::Ok);
    t.close(1);
    t.close(2);
    t.socket(3, Family::Inet);
    t.set(3, SockOpt::ReuseAddr(true));
    assert_eq!(t.bind(3, "127.0.0.1:6000"), Outcome::Ok);
    t.connect(3, "127.0.0.1:5000")
}

#[test]
fn time_wait_without_timestamps_is_never_taken_over_unless_mutated() {
    assert_eq!(
        explicit_connect_over_time_wait_without_timestamps(None),
        Outcome::Err(Errno::EADDRNOTAVAIL)
    );
    assert_eq!(
        explicit_connect_over_time_wait_without_timestamps(Some(
            Mutant::TwTakeoverWithoutTimestamps
        )),
        Outcome::Ok
    );
}

/// A server with SO_REUSEADDR closes first (its side keeps the TIME-WAIT on 127.0.0.1:5000);
/// a new SO_REUSEADDR socket then binds 127.0.0.1:5000.
fn rebind_over_reuseaddr_time_wait(mutant: Option<Mutant>) -> Outcome {
    let mut t = T::new();
    t.m = t.m.clone().with_mutant(mutant);
    t.socket(0, Family::Inet);
    t.set(0, SockOpt::ReuseAddr(true));
    assert_eq!(t.bind(0, "127.0.0.1:5000"), Outcome::Ok);
    assert_eq!(t.listen(0), Outcome::Ok);
    t.socket(1, Family::Inet);
    assert_eq!(t.connect(1, "127.0.0.1:5000"), Outcome::Ok);
    assert_eq!(t.accept(0, 2), Outcome::Ok);
    t.close(0);
    t.close(2);
    t.close(1);
    t.socket(3, Family::Inet);
    t.set(3, SockOpt::ReuseAddr(true));
    t.bind(3, "127.0.0.1:5000")
}

#[test]
fn time_wait_keeps_reuseaddr_unless_mutated() {
    assert_eq!(rebind_over_reuseaddr_time_wait(None), Outcome::Ok);
    assert_eq!(
        rebind_over_reuseaddr_time_wait(Some(Mutant::TimeWaitDropsReuseFlags)),
        Outcome::Err(Errno::EADDRINUSE)
    );
}

/// Two SO_REUSEPORT sockets of different users on one port (the second is uid 65534's).
fn reuseport_across_users(mutant: Option<Mutant>) -> Outcome {
    let mut t = T::new();
    t.m = t.m.clone().with_mutant(mutant);
    t.socket(0, Family::Inet);
    t.set(0, SockOpt::ReusePort(true));
    assert_eq!(t.bind(0, "127.0.0.1:5000"), Outcome::Ok);
    t.socket_uid(1, Family::Inet, 65534);
    t.set(1, SockOpt::ReusePort(true));
    t.bind(1, "127.0.0.1:5000")
}

#[test]
fn reuseport_needs_one_user_unless_mutated() {
    assert_eq!(
        reuseport_across_users(None),
        Outcome::Err(Errno::EADDRINUSE)
    );
    assert_eq!(
        reuseport_across_users(Some(Mutant::ReusePortIgnoresUid)),
        Outcome::Ok
    );
}

// ==== per-call forms of the scenario language ========================================

#[test]
fn accept_any_takes_the_first_listed_listener_with_a_connection() {
    let mut t = T::new();
    t.socket(0, Family::Inet);
    assert_eq!(t.bind(0, "127.0.0.1:8080"), Outcome::Ok);
    assert_eq!(t.listen(0), Outcome::Ok);
    t.socket(1, Family::Inet);
    assert_eq!(t.bind(1, "127.0.0.1:8081"), Outcome::Ok);
    assert_eq!(t.listen(1), Outcome::Ok);
    t.socket(2, Family::Inet);
    assert_eq!(t.connect(2, "127.0.0.1:8081"), Outcome::Ok);
    let accept_any = |sock| Op::AcceptAny {
        listeners: vec![s(0), s(1)],
        sock: s(sock),
        peer: None,
    };
    assert_eq!(t.op(accept_any(3)), Outcome::Ok);
    assert_eq!(t.m.port_of(s(3)), Some(8081), "from s1, the only one ready");
    // Nothing ready: accept() on the first listed, which blocks.
    assert_eq!(t.op(accept_any(4)), Outcome::Blocks);
}

#[test]
fn a_nonblocking_call_leaves_the_socket_blocking() {
    let mut t = T::new();
    t.socket(0, Family::Inet);
    assert_eq!(t.bind(0, "127.0.0.1:8080"), Outcome::Ok);
    assert_eq!(t.listen(0), Outcome::Ok);
    let accept = Op::Accept {
        listener: s(0),
        sock: s(1),
        peer: None,
    };
    let once = Op::per_call(accept.clone(), CallOption::NonBlocking);
    assert_eq!(t.op(once), Outcome::Err(Errno::EAGAIN));
    assert_eq!(
        t.op(accept),
        Outcome::Blocks,
        "the listener is blocking again"
    );
}
