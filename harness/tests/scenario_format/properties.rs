//! Properties: random ops and scenarios print and parse back, random and mutated text
//! never makes the parser panic, and a table matches its own rows written back.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;
use tcpconform_harness::scenario::{
    AddrPattern, Comparison, Expected, OutcomePattern, PortAssert, RowPattern, Scenario, Step,
    UnlistedRows, match_table, parse, parse_op, row_pattern_from,
};
use tcpconform_model::{
    CallOption, Env, Errno, Family, Host, How, Op, Outcome, Port, Profile, Row, RowInfo, Snapshot,
    SockAddr, SockId, SockOpt, Sysctl, TcpState, Var,
};

use super::common::scenario_files;
use super::syntax::EXAMPLE;
use super::without_lines;

// --- properties ----------------------------------------------------------------------------

fn sock_id() -> impl Strategy<Value = SockId> {
    (0u16..6).prop_map(SockId)
}

fn var() -> impl Strategy<Value = Var> {
    prop_oneof![Just("P"), Just("C"), Just("PORT_2"), Just("_x")].prop_map(|s| Var(s.into()))
}

fn port() -> impl Strategy<Value = Port> {
    prop_oneof![any::<u16>().prop_map(Port::Lit), var().prop_map(Port::Var)]
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        any::<[u8; 4]>().prop_map(|b| IpAddr::V6(Ipv4Addr::from(b).to_ipv6_mapped())),
        Just(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
    ]
}

fn sock_addr() -> impl Strategy<Value = SockAddr> {
    (ip(), port()).prop_map(|(ip, port)| SockAddr { ip, port })
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![Just(Host::A), Just(Host::B)]
}

fn sockopt() -> impl Strategy<Value = SockOpt> {
    prop_oneof![
        any::<bool>().prop_map(SockOpt::ReuseAddr),
        any::<bool>().prop_map(SockOpt::ReusePort),
        proptest::option::of(any::<u32>()).prop_map(SockOpt::Linger),
        any::<bool>().prop_map(SockOpt::KeepAlive),
        any::<bool>().prop_map(SockOpt::V6Only),
        any::<bool>().prop_map(SockOpt::BindAddressNoPort),
        any::<u32>().prop_map(SockOpt::KeepIdle),
        any::<u32>().prop_map(SockOpt::KeepIntvl),
        any::<u32>().prop_map(SockOpt::KeepCnt),
        any::<u32>().prop_map(SockOpt::UserTimeout),
        any::<i32>().prop_map(SockOpt::Linger2),
    ]
}

fn sysctl() -> impl Strategy<Value = Sysctl> {
    let parsed = |s: String| s.parse::<Sysctl>().expect("generated settings are valid");
    prop_oneof![
        (0..=2u8).prop_map(move |v| parsed(format!("net.ipv4.tcp_tw_reuse={v}"))),
        (1..=60000u32).prop_map(move |v| parsed(format!("net.ipv4.tcp_tw_reuse_delay={v}"))),
        (1..=65535u16, 0..=65535u16).prop_map(move |(lo, d)| {
            let hi = lo.saturating_add(d);
            parsed(format!("net.ipv4.ip_local_port_range={lo} {hi}"))
        }),
        proptest::collection::btree_set(any::<u16>(), 0..6).prop_map(move |ports| {
            let list: Vec<String> = ports.iter().map(u16::to_string).collect();
            parsed(format!(
                "net.ipv4.ip_local_reserved_ports={}",
                list.join(",")
            ))
        }),
        (0..=86400u32).prop_map(move |v| parsed(format!("net.ipv4.tcp_fin_timeout={v}"))),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            sock_id(),
            prop_oneof![Just(Family::Inet), Just(Family::Inet6)],
            any::<bool>(),
            proptest::option::of(any::<u32>()),
            host()
        )
            .prop_map(|(sock, family, nonblocking, euid, host)| Op::Socket {
                sock,
                family,
                nonblocking,
                euid,
                host
            }),
        (sock_id(), sockopt()).prop_map(|(sock, opt)| Op::Setsockopt { sock, opt }),
        sock_id().prop_map(|sock| Op::GetsockoptSoError { sock }),
        (sock_id(), sock_addr()).prop_map(|(sock, addr)| Op::Bind { sock, addr }),
        (sock_id(), any::<u32>()).prop_map(|(sock, backlog)| Op::Listen { sock, backlog }),
        (sock_id(), sock_addr(), proptest::option::of(var()))
            .prop_map(|(sock, addr, local)| Op::Connect { sock, addr, local }),
        (sock_id(), sock_id(), proptest::option::of(var())).prop_map(|(listener, sock, peer)| {
            Op::Accept {
                listener,
                sock,
                peer,
            }
        }),
        (
            proptest::collection::btree_set(sock_id(), 2..4),
            sock_id(),
            proptest::option::of(var())
        )
            .prop_map(|(listeners, sock, peer)| Op::AcceptAny {
                listeners: listeners.into_iter().collect(),
                sock,
                peer,
            }),
        (sock_id(), any::<u32>()).prop_map(|(sock, len)| Op::Send { sock, len }),
        (sock_id(), any::<u32>()).prop_map(|(sock, len)| Op::Recv { sock, len }),
        (
            sock_id(),
            prop_oneof![Just(How::Rd), Just(How::Wr), Just(How::RdWr)]
        )
            .prop_map(|(sock, how)| Op::Shutdown { sock, how }),
        sock_id().prop_map(|sock| Op::Close { sock }),
        prop_oneof![0..=120_000u64, 0..=1_000_000_000_000u64].prop_map(|ms| Op::Sleep { ms }),
        (host(), sysctl()).prop_map(|(host, setting)| Op::Sysctl { host, setting }),
        sock_id().prop_map(|sock| Op::PeerVanishes { sock }),
        sock_id().prop_map(|sock| Op::Destroy { sock }),
        nonblocking_call(),
        within_call(),
    ]
}

/// A blocking call waited for longer than the usual bound: connect, accept (of one or several
/// listeners), recv.
fn within_call() -> impl Strategy<Value = Op> {
    (
        nonblocking_call().prop_filter("send takes no within=", |op| {
            !matches!(op.call(), Op::Send { .. })
        }),
        1..=600_000u64,
    )
        .prop_map(|(op, ms)| Op::per_call(op.call().clone(), CallOption::Within { ms }))
}

/// A call made non-blocking for itself: connect, accept (of one or several listeners), send,
/// recv.
fn nonblocking_call() -> impl Strategy<Value = Op> {
    prop_oneof![
        (sock_id(), sock_addr(), proptest::option::of(var()))
            .prop_map(|(sock, addr, local)| Op::Connect { sock, addr, local }),
        (sock_id(), sock_id(), proptest::option::of(var())).prop_map(|(listener, sock, peer)| {
            Op::Accept {
                listener,
                sock,
                peer,
            }
        }),
        (proptest::collection::btree_set(sock_id(), 2..4), sock_id()).prop_map(
            |(listeners, sock)| Op::AcceptAny {
                listeners: listeners.into_iter().collect(),
                sock,
                peer: None,
            }
        ),
        (sock_id(), any::<u32>()).prop_map(|(sock, len)| Op::Send { sock, len }),
        (sock_id(), any::<u32>()).prop_map(|(sock, len)| Op::Recv { sock, len }),
    ]
    .prop_map(|call| Op::per_call(call, CallOption::NonBlocking))
}

fn errno() -> impl Strategy<Value = Errno> {
    prop_oneof![
        proptest::sample::select(Errno::NAMED.to_vec()),
        (134..2000i32).prop_map(Errno::Other),
    ]
}

fn outcome() -> impl Strategy<Value = Expected> {
    let exact = prop_oneof![
        Just(Outcome::Ok),
        (1..=u32::MAX).prop_map(Outcome::Bytes),
        Just(Outcome::Eof),
        proptest::option::of(errno()).prop_map(Outcome::SoError),
        Just(Outcome::Blocks),
        errno().prop_map(Outcome::Err),
    ];
    prop_oneof![
        6 => exact.prop_map(Expected::Exact),
        1 => Just(Expected::Pattern(OutcomePattern::AnyBytes)),
    ]
}

fn state() -> impl Strategy<Value = TcpState> {
    proptest::sample::select(TcpState::ALL.to_vec())
}

fn row_pattern() -> impl Strategy<Value = RowPattern> {
    (
        host(),
        state(),
        (ip(), port()),
        proptest::option::of((ip(), port())),
        proptest::option::of(any::<u32>()),
    )
        .prop_map(|(host, state, (ip, port), peer, queue)| RowPattern {
            host,
            state,
            local: AddrPattern { ip, port },
            peer: peer.map(|(ip, port)| AddrPattern { ip, port }),
            queue,
        })
}

fn unlisted_rows() -> impl Strategy<Value = UnlistedRows> {
    prop_oneof![
        Just(UnlistedRows::Any),
        proptest::sample::subsequence(TcpState::ALL.to_vec(), 1..4)
            .prop_shuffle()
            .prop_map(UnlistedRows::InStates),
    ]
}

fn port_assert() -> impl Strategy<Value = PortAssert> {
    (
        port(),
        prop_oneof![Just(Comparison::Eq), Just(Comparison::Ne)],
        port(),
    )
        .prop_map(|(left, cmp, right)| PortAssert { left, cmp, right })
}

fn comment_line() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,.:$()=|#@-]{0,24}".prop_map(|s| s.trim().to_owned())
}

fn comment() -> impl Strategy<Value = String> {
    proptest::collection::vec(comment_line(), 1..4).prop_map(|lines| lines.join("\n"))
}

fn raw_step() -> impl Strategy<Value = Step> {
    (
        op(),
        proptest::option::of(proptest::collection::vec(outcome(), 1..4)),
        proptest::option::of(proptest::collection::vec(row_pattern(), 0..4)),
        proptest::option::of(comment()),
        proptest::collection::vec(port_assert(), 0..3),
        proptest::option::of(unlisted_rows()),
        proptest::option::of(prop_oneof![1..=1000u64, 1..=60_000u64]),
    )
        .prop_map(
            |(op, expect, table, comment, asserts, unlisted, within)| Step {
                line: 0,
                op,
                expect,
                unlisted: unlisted.filter(|_| table.is_some()),
                table_within_ms: within.filter(|_| table.is_some()),
                table,
                comment,
                asserts,
            },
        )
}

/// Makes a random scenario obey the rules the parser checks: sockets created before use and
/// once, destinations bound before use, host b only with two hosts, results the op can have.
fn legalise(mut s: Scenario) -> Scenario {
    use std::collections::BTreeSet;
    let two = s.hosts == 2;
    let fix_host = |h: &mut Host| {
        if !two {
            *h = Host::A;
        }
    };
    for (h, _) in &mut s.sysctls {
        fix_host(h);
    }
    let mut keys = BTreeSet::new();
    s.sysctls.retain(|(h, set)| keys.insert((*h, set.key)));
    for (h, _) in &mut s.addresses {
        fix_host(h);
    }
    let mut addrs = BTreeSet::new();
    s.addresses.retain(|(h, ip)| {
        let mapped = matches!(ip, IpAddr::V6(a) if a.to_ipv4_mapped().is_some());
        !ip.is_unspecified() && !ip.is_multicast() && !mapped && addrs.insert((*h, *ip))
    });
    let mut created: BTreeSet<SockId> = BTreeSet::new();
    let mut bound: BTreeSet<String> = BTreeSet::new();
    let mut fresh = 1000u16;
    let mut steps = Vec::new();
    for mut step in std::mem::take(&mut s.steps) {
        // A per-call `nonblock` or `within=` is legalised as its call, then put back.
        let option = step.op.option();
        step.op = step.op.call().clone();
        let new_socket = |sock: SockId| {
            Step::new(Op::Socket {
                sock,
                family: Family::Inet,
                nonblocking: false,
                euid: None,
                host: Host::A,
            })
        };
        match &mut step.op {
            Op::Socket { sock, host, .. } => {
                fix_host(host);
                if created.contains(sock) {
                    *sock = SockId(fresh);
                    fresh += 1;
                }
                created.insert(*sock);
            }
            Op::Accept {
                listener,
                sock,
                peer,
            } => {
                if created.insert(*listener) {
                    steps.push(new_socket(*listener));
                }
                if created.contains(sock) {
                    *sock = SockId(fresh);
                    fresh += 1;
                }
                created.insert(*sock);
                if let Some(v) = peer {
                    bound.insert(v.0.clone());
                }
            }
            Op::AcceptAny {
                listeners,
                sock,
                peer,
            } => {
                for l in listeners.iter() {
                    if created.insert(*l) {
                        steps.push(new_socket(*l));
                    }
                }
                if created.contains(sock) {
                    *sock = SockId(fresh);
                    fresh += 1;
                }
                created.insert(*sock);
                if let Some(v) = peer {
                    bound.insert(v.0.clone());
                }
            }
            Op::Sysctl { host, .. } => fix_host(host),
            other => {
                if let Some(sock) = other.sock()
                    && created.insert(sock)
                {
                    steps.push(new_socket(sock));
                }
                match other {
                    Op::Connect { addr, local, .. } => {
                        if let Port::Var(v) = &addr.port
                            && !bound.contains(&v.0)
                        {
                            addr.port = Port::Lit(1);
                        }
                        if let Some(v) = local {
                            bound.insert(v.0.clone());
                        }
                    }
                    Op::Bind { addr, .. } => {
                        if let Port::Var(v) = &addr.port {
                            bound.insert(v.0.clone());
                        }
                    }
                    _ => {}
                }
            }
        }
        if let Some(outcomes) = &mut step.expect {
            let name = step.op.name();
            let mut seen = Vec::new();
            outcomes.retain(|e| {
                let Expected::Exact(o) = e else {
                    let fresh = !seen.contains(e);
                    seen.push(*e);
                    return (name == "send" || name == "recv") && fresh;
                };
                let ok = match o {
                    Outcome::Eof => name == "recv",
                    Outcome::Bytes(_) => name == "send" || name == "recv",
                    Outcome::SoError(_) => name == "getsockopt",
                    Outcome::Ok => name != "getsockopt",
                    Outcome::Blocks => {
                        ["connect", "accept", "send", "recv", "close"].contains(&name)
                    }
                    Outcome::Err(_) => true,
                };
                let fresh = !seen.contains(e);
                seen.push(*e);
                ok && fresh
            });
            if outcomes.is_empty() {
                step.expect = None;
            }
        }
        if let Some(rows) = &mut step.table {
            for r in rows.iter_mut() {
                fix_host(&mut r.host);
                for a in std::iter::once(&r.local).chain(r.peer.as_ref()) {
                    if let Port::Var(v) = &a.port {
                        bound.insert(v.0.clone());
                    }
                }
            }
        }
        for a in &mut step.asserts {
            for p in [&mut a.left, &mut a.right] {
                if let Port::Var(v) = p
                    && !bound.contains(&v.0)
                {
                    *p = Port::Lit(1);
                }
            }
        }
        if let Some(option) = option {
            step.op = Op::per_call(step.op.clone(), option);
        }
        steps.push(step);
    }
    s.steps = steps;
    s
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        proptest::option::of("[a-zA-Z0-9 #@|=:-]{0,30}".prop_map(|t| t.trim().to_owned()))
            .prop_map(|t| t.filter(|t| !t.is_empty())),
        proptest::option::of(
            proptest::sample::select(Profile::KNOWN.to_vec()).prop_map(|(_, p)| p),
        ),
        proptest::collection::btree_map(
            proptest::sample::select(tcpconform_model::Variant::ALL.to_vec()),
            0..=1u8,
            0..3,
        ),
        1..=2u8,
        proptest::collection::vec((host(), sysctl()), 0..4),
        proptest::collection::vec((host(), ip()), 0..3),
        proptest::collection::vec(raw_step(), 0..12),
    )
        .prop_map(|(title, profile, pins, hosts, sysctls, addresses, steps)| {
            legalise(Scenario {
                title,
                profile,
                variants: pins
                    .into_iter()
                    .map(|(variant, value)| tcpconform_model::VariantSetting { variant, value })
                    .collect(),
                hosts,
                sysctls,
                addresses,
                steps,
            })
        })
}

/// One edit of a text: delete a span, insert a snippet, swap or duplicate lines, truncate.
#[derive(Clone, Debug)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    SwapLines(usize, usize),
    DuplicateLine(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let snippet = prop_oneof![
        "[ -~]{0,6}",
        proptest::sample::select(vec![
            "(",
            ")",
            "=",
            "|",
            "#",
            "$",
            "[",
            "]",
            ":",
            ",",
            "\n",
            "@",
            "s0",
            "$P",
            "= -1 E",
            "| ",
            "@hosts 2\n",
            "q=",
            "\u{e9}",
            "\u{1F600}",
            "\t",
            "\r\n",
        ])
        .prop_map(str::to_owned),
    ];
    prop_oneof![
        (any::<usize>(), 0..8usize).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), snippet).prop_map(|(a, s)| Edit::Insert(a, s)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        any::<usize>().prop_map(Edit::DuplicateLine),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len().max(1);
    match edit {
        Edit::Delete(at, len) => {
            let at = at % n;
            let end = (at + len).min(chars.len());
            chars[..at.min(chars.len())]
                .iter()
                .chain(&chars[end..])
                .collect()
        }
        Edit::Insert(at, s) => {
            let at = (at % n).min(chars.len());
            let mut out: String = chars[..at].iter().collect();
            out.push_str(s);
            out.extend(&chars[at..]);
            out
        }
        Edit::SwapLines(a, b) => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let (a, b) = (a % lines.len(), b % lines.len());
                lines.swap(a, b);
            }
            lines.join("\n")
        }
        Edit::DuplicateLine(a) => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let a = a % lines.len();
                lines.insert(a, lines[a]);
            }
            lines.join("\n")
        }
        Edit::Truncate(at) => chars[..(at % n).min(chars.len())].iter().collect(),
    }
}

fn corpus() -> Vec<String> {
    let mut texts: Vec<String> = scenario_files()
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("readable"))
        .collect();
    texts.push(EXAMPLE.to_owned());
    texts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_op_display_parses_back(op in op()) {
        let text = op.to_string();
        prop_assert_eq!(parse_op(&text), Ok(op), "{}", text);
    }

    #[test]
    fn printed_scenarios_parse_back(s in scenario()) {
        prop_assert_eq!(s.validate(), Ok(()));
        let text = s.to_text();
        let back = parse(&text, None);
        prop_assert!(back.is_ok(), "{}\n--- text:\n{}", back.unwrap_err(), text);
        prop_assert_eq!(without_lines(back.unwrap()), without_lines(s.clone()), "{}", text);
        let json = s.to_json();
        prop_assert_eq!(Scenario::from_json(&json, None), Ok(s));
    }

    #[test]
    fn parsing_random_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse(&text, Some("random.scn"));
        let _ = Scenario::from_json(&text, None);
        let _ = parse_op(&text);
    }

    #[test]
    fn parsing_scenario_like_lines_never_panics(
        lines in proptest::collection::vec(
            "[ @|#$=()\\[\\],:.a-z0-9_*-]{0,40}", 0..12)
    ) {
        let _ = parse(&lines.join("\n"), None);
    }

    #[test]
    fn parsing_mutated_scenarios_never_panics(
        pick in any::<usize>(),
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        let texts = corpus();
        let mut text = texts[pick % texts.len()].clone();
        for e in &edits {
            text = apply(&text, e);
        }
        if let Ok(s) = parse(&text, Some("mutated.scn")) {
            // Whatever parses also prints and parses back.
            let again = parse(&s.to_text(), None);
            prop_assert!(again.is_ok(), "{:?}", again);
            prop_assert_eq!(without_lines(again.unwrap()), without_lines(s));
        }
    }

    #[test]
    fn parsing_mutated_json_never_panics(
        pick in any::<usize>(),
        edits in proptest::collection::vec(edit(), 1..4),
    ) {
        let texts = corpus();
        let s = parse(&texts[pick % texts.len()], None).expect("corpus parses");
        let mut json = s.to_json();
        for e in &edits {
            json = apply(&json, e);
        }
        let _ = Scenario::from_json(&json, None);
    }

    #[test]
    fn a_table_matches_its_own_written_back_rows(
        rows in proptest::collection::vec(
            (state(), any::<[u8; 4]>(), 1..=4u16, proptest::option::of(1..=4u16), 0..3u32), 0..6),
        shuffle in any::<u64>(),
    ) {
        let rows: Vec<(Row, RowInfo)> = rows.into_iter().map(|(state, ip, lp, pp, queue)| {
            let ip = IpAddr::V4(Ipv4Addr::from(ip));
            (Row {
                host: Host::A,
                state,
                local: SocketAddr::new(ip, 40000 + lp),
                peer: pp.map(|p| SocketAddr::new(ip, 40000 + p)),
                queue,
            }, RowInfo::default())
        }).collect();
        let snap = Snapshot::new(rows.clone());
        // Name some ports through the environment, then forget the values: the patterns'
        // variables are unbound and must unify back.
        let mut named = Env::new();
        named.bind(&Var("A".into()), 40001);
        named.bind(&Var("B".into()), 40002);
        let mut patterns: Vec<RowPattern> =
            rows.iter().map(|(r, _)| row_pattern_from(r, &named)).collect();
        let n = patterns.len();
        if n > 1 {
            patterns.rotate_left((shuffle as usize) % n);
        }
        prop_assert_eq!(match_table(&patterns, &snap, &mut Env::new()), Ok(()));
    }
}
