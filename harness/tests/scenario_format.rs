//! The scenario file format: parsing, printing, validation, JSON and table matching, and the
//! hand-written scenarios in `tests/scenarios/`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use proptest::prelude::*;
use tcpconform_harness::scenario::{
    AddrPattern, Comparison, Expected, OutcomePattern, PortAssert, RowPattern, Scenario, Step,
    UnlistedRows, match_partial_table, match_table, parse, parse_file, parse_op, row_pattern_from,
};
use tcpconform_model::{
    Env, Errno, Family, Host, How, Op, Outcome, Port, Profile, Row, RowInfo, Snapshot, SockAddr,
    SockId, SockOpt, Sysctl, TcpState, Var,
};

// --- helpers -------------------------------------------------------------------------------

mod common;
use common::scenario_files;

fn without_lines(mut s: Scenario) -> Scenario {
    for step in &mut s.steps {
        step.line = 0;
    }
    s
}

#[track_caller]
fn parse_ok(text: &str) -> Scenario {
    match parse(text, Some("t.scn")) {
        Ok(s) => s,
        Err(e) => panic!("{e}\n--- input:\n{text}"),
    }
}

#[track_caller]
fn parse_err(text: &str) -> String {
    match parse(text, Some("t.scn")) {
        Ok(s) => panic!("parsed, but should not have:\n{text}\n--- as:\n{s:#?}"),
        Err(e) => e.to_string(),
    }
}

fn v4(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn row(state: TcpState, local: &str, peer: Option<&str>, queue: u32) -> (Row, RowInfo) {
    let addr = |s: &str| s.parse::<SocketAddr>().expect("test socket address");
    (
        Row {
            host: Host::A,
            state,
            local: addr(local),
            peer: peer.map(addr),
            queue,
        },
        RowInfo::default(),
    )
}

fn pattern(text: &str) -> RowPattern {
    let s = parse_ok(&format!("s0 = socket(inet)\n| {text}\n"));
    s.steps[0].table.as_ref().expect("a table")[0].clone()
}

// --- the hand-written scenarios ------------------------------------------------------------

#[test]
fn there_are_at_least_ten_hand_written_scenarios() {
    assert!(scenario_files().len() >= 10, "{:?}", scenario_files());
}

#[test]
fn every_hand_written_scenario_parses_and_states_its_intent() {
    for path in scenario_files() {
        let name = path.display().to_string();
        let scenario = parse_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(&path).expect("readable");
        assert!(
            text.starts_with("# "),
            "{name}: open with a comment that says what the scenario shows"
        );
        assert!(scenario.title.is_some(), "{name}: no @title");
        assert!(!scenario.steps.is_empty(), "{name}: no steps");
        for step in &scenario.steps {
            let is_call = !matches!(step.op, Op::Sleep { .. });
            assert!(
                !is_call || step.expect.is_some(),
                "{name}:{}: `{}` has no expected result",
                step.line,
                step.op
            );
        }
    }
}

#[test]
fn every_hand_written_scenario_round_trips_through_text_and_json() {
    for path in scenario_files() {
        let name = path.display().to_string();
        let scenario = parse_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let text = scenario.to_text();
        let again = parse(&text, Some("printed")).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            without_lines(again.clone()),
            without_lines(scenario.clone()),
            "{name}: printed form:\n{text}"
        );
        // Printing is idempotent.
        assert_eq!(again.to_text(), text, "{name}");
        let json = scenario.to_json();
        let back = Scenario::from_json(&json, Some("x.json")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, scenario, "{name}");
    }
}

// --- syntax --------------------------------------------------------------------------------

const EXAMPLE: &str = "\
# Intent, not attached to any step (a blank line follows).

@title Example: everything at once # the title keeps its hash
@profile linux-6.18
@variant listen_after_connect=einval
@hosts 2
@sysctl net.ipv4.tcp_tw_reuse=0
@sysctl b net.ipv4.ip_local_port_range=40000 40001
@address 127.0.0.2
@address b fd00::9

# About s0.
# Second line.
s0 = socket(inet)  = 0  # trailing
s1 = socket(inet6, nonblock, euid=65534, host=b) = 0
setsockopt(s0, SO_REUSEADDR, 1) = 0
setsockopt(s0, SO_LINGER, 0) = 0
setsockopt(s0, SO_LINGER, off) = 0
setsockopt(s0, TCP_LINGER2, -1) = 0
getsockopt(s0, SO_ERROR) = [ECONNREFUSED] | [0]
bind(s0, 127.0.0.1:$P) = 0
    | a: UNCONN 127.0.0.1:$P *
listen(s0, 4) = 0
connect(s1, [::1]:$P) local $C = -1 EINPROGRESS
  | LISTEN 127.0.0.1:$P * q=0
  | b: SYN-SENT [::1]:$C [::1]:$P
s2 = accept(s0) peer $D = 0 | BLOCKS
send(s1, 5) = 5
recv(s2, 100) = EOF | -1 ECONNRESET
shutdown(s1, SHUT_WR) = 0
close(s1) = 0
    | (empty)
sleep(1500ms)
sleep(2s)
sysctl(net.ipv4.tcp_tw_reuse=1) = 0
sysctl(net.ipv4.ip_local_reserved_ports=40000-40002,40010, host=b)
peer_vanishes(s2) = 0
destroy(s1) = -1 ENOENT
";

#[test]
fn the_example_parses_into_the_expected_scenario() {
    let s = parse_ok(EXAMPLE);
    assert_eq!(
        s.title.as_deref(),
        Some("Example: everything at once # the title keeps its hash")
    );
    assert_eq!(s.profile, Some(Profile::LINUX_6_18));
    assert_eq!(
        s.variants,
        vec!["listen_after_connect=einval".parse().expect("a setting")]
    );
    assert_eq!(s.hosts, 2);
    assert_eq!(s.sysctls.len(), 2);
    assert_eq!(s.sysctls[1].0, Host::B);
    assert_eq!(
        s.addresses,
        vec![(Host::A, v4("127.0.0.2")), (Host::B, v4("fd00::9"))]
    );
    let first = &s.steps[0];
    assert_eq!(first.line, 14);
    assert_eq!(
        first.comment.as_deref(),
        Some("About s0.\nSecond line.\ntrailing")
    );
    assert_eq!(
        s.steps[1].op,
        Op::Socket {
            sock: SockId(1),
            family: Family::Inet6,
            nonblocking: true,
            euid: Some(65534),
            host: Host::B
        }
    );
    assert_eq!(
        s.steps[3].op,
        Op::Setsockopt {
            sock: SockId(0),
            opt: SockOpt::Linger(Some(0))
        }
    );
    assert_eq!(
        s.steps[4].op,
        Op::Setsockopt {
            sock: SockId(0),
            opt: SockOpt::Linger(None)
        }
    );
    assert_eq!(
        s.steps[6].expect,
        Some(vec![
            Outcome::SoError(Some(Errno::ECONNREFUSED)).into(),
            Outcome::SoError(None).into()
        ])
    );
    let connect = &s.steps[9];
    assert_eq!(
        connect.op,
        Op::Connect {
            sock: SockId(1),
            addr: SockAddr {
                ip: v4("::1"),
                port: Port::Var(Var("P".into()))
            },
            local: Some(Var("C".into()))
        }
    );
    let table = connect.table.as_ref().expect("a table");
    assert_eq!(table[0].queue, Some(0));
    assert_eq!(table[1].host, Host::B);
    assert_eq!(table[1].state, TcpState::SynSent);
    assert_eq!(s.steps[14].table, Some(vec![]));
    assert_eq!(s.steps[15].op, Op::Sleep { ms: 1500 });
    assert_eq!(s.steps[15].expect, None);
    assert!(matches!(
        &s.steps[18].op,
        Op::Sysctl { host: Host::B, setting } if setting.to_string()
            == "net.ipv4.ip_local_reserved_ports=40000-40002,40010"
    ));
}

#[test]
fn the_example_prints_aligned_and_reads_back() {
    let s = parse_ok(EXAMPLE);
    let text = s.to_text();
    let again = parse_ok(&text);
    assert_eq!(without_lines(again), without_lines(s));
    // The header comes first, then a blank line.
    assert!(text.starts_with("@title Example"), "{text}");
    assert!(
        text.contains("@address b fd00::9\n\n# About s0.\n# Second line.\n"),
        "{text}"
    );
    // The `=` column is aligned for ops up to the alignment limit.
    let columns: Vec<usize> = text
        .lines()
        .filter(|l| l.starts_with("setsockopt(") || l.starts_with("bind("))
        .map(|l| l.find(" = ").expect("an expectation"))
        .collect();
    assert!(columns.windows(2).all(|w| w[0] == w[1]), "{text}");
    // Two-host scenarios name the host of every row.
    assert!(text.contains("    | a: LISTEN"), "{text}");
    assert!(text.contains("    | b: SYN-SENT"), "{text}");
}

#[test]
fn op_display_forms_parse_back() {
    for text in [
        "s0 = socket(inet)",
        "s1 = socket(inet6, nonblock, euid=65534, host=b)",
        "setsockopt(s0, SO_REUSEADDR, 1)",
        "setsockopt(s0, SO_LINGER, 0)",
        "setsockopt(s0, SO_LINGER, off)",
        "setsockopt(s0, TCP_LINGER2, -1)",
        "getsockopt(s0, SO_ERROR)",
        "bind(s0, 127.0.0.1:8080)",
        "bind(s0, [::1]:$P)",
        "bind(s0, [::ffff:127.0.0.1]:0)",
        "listen(s0)",
        "listen(s0, 4)",
        "connect(s1, 127.0.0.1:$P)",
        "connect(s1, 127.0.0.1:$P) local $C",
        "s2 = accept(s0)",
        "s2 = accept(s0) peer $C",
        "send(s1, 5)",
        "recv(s1, 100)",
        "shutdown(s1, SHUT_WR)",
        "close(s1)",
        "sleep(1500ms)",
        "sleep(2s)",
        "sleep(1.5s)",
        "sysctl(net.ipv4.tcp_tw_reuse=1)",
        "sysctl(net.ipv4.tcp_tw_reuse=1, host=b)",
        "peer_vanishes(s1)",
        "destroy(s1)",
    ] {
        let op = parse_op(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let shown = op.to_string();
        assert_eq!(parse_op(&shown), Ok(op), "{text} -> {shown}");
    }
    assert_eq!(
        parse_op("listen(s0, 16)").map(|o| o.to_string()),
        Ok("listen(s0)".into())
    );
    assert_eq!(
        parse_op("sleep(1500ms)").map(|o| o.to_string()),
        Ok("sleep(1.5s)".into())
    );
}

#[test]
fn outcome_display_forms_parse_back() {
    for o in [
        Outcome::Ok,
        Outcome::Bytes(5),
        Outcome::Eof,
        Outcome::SoError(None),
        Outcome::SoError(Some(Errno::ECONNREFUSED)),
        Outcome::Blocks,
        Outcome::Err(Errno::EADDRINUSE),
        Outcome::Err(Errno::Other(133)),
    ] {
        let op = match o {
            Outcome::SoError(_) => "getsockopt(s0, SO_ERROR)",
            _ => "recv(s0, 10)",
        };
        let s = parse_ok(&format!("s0 = socket(inet)\n{op} = {o}\n"));
        assert_eq!(s.steps[1].expect, Some(vec![Expected::Exact(o)]), "{o}");
    }
}

#[test]
fn comments_attach_to_the_op_right_below_them() {
    let s = parse_ok(
        "# file intent\n\n# section\n\n# about s0\ns0 = socket(inet) = 0\n  | (empty)\n\
         # a comment between a table and an op\n#\n# with an empty line\nclose(s0) = 0 #\n",
    );
    assert_eq!(s.steps[0].comment.as_deref(), Some("about s0"));
    assert_eq!(
        s.steps[1].comment.as_deref(),
        Some("a comment between a table and an op\n\nwith an empty line\n")
    );
    let again = parse_ok(&s.to_text());
    assert_eq!(without_lines(again), without_lines(s));
}

// --- errors --------------------------------------------------------------------------------

/// Malformed inputs: the text, the line the error names, and a phrase of its message.
#[rustfmt::skip]
const MALFORMED: &[(&str, usize, &str)] = &[
    ("s0 = socket(inet)\nfrob(s0)\n", 2, "unknown op `frob`"),
    ("s0 = socket(inet)\nsetsockopt(s0, SO_FROB, 1)\n", 2, "unknown socket option"),
    ("s0 = socket(inet)\nsetsockopt(s0, SO_REUSEADDR, 2)\n", 2, "takes 0 or 1"),
    ("s0 = socket(inet)\nbind(s0, 127.0.0.1:80) = -1 EFROB\n", 2, "unknown errno name"),
    ("s0 = socket(inet)\n| ESTABLISHING 127.0.0.1:1 *\n", 2, "unknown TCP state"),
    ("@sysctl net.ipv4.tcp_frob=1\n", 1, "unknown or unmodelled sysctl"),
    ("@sysctl net.ipv4.tcp_tw_reuse=3\n", 1, "bad value `3`"),
    ("@sysctl net.ipv4.tcp_tw_recycle=1\n", 1, "no longer exists"),
    ("s0 = socket(inet)\nsysctl(net.ipv4.tcp_tw_reuse=9)\n", 2, "bad value"),
    ("s0 = socket(inet)\nbind(s0, 127.0.0.300:80)\n", 2, "bad IPv4 address"),
    ("s0 = socket(inet)\nbind(s0, ::1:80)\n", 2, "in brackets"),
    ("s0 = socket(inet)\nbind(s0, 127.0.0.1:65536)\n", 2, "out of range"),
    ("s0 = socket(inet)\nbind(s0, 127.0.0.1)\n", 2, "bad address"),
    ("s0 = socket(inet)\nbind(s0, 127.0.0.1:$)\n", 2, "port variable"),
    ("bind(s0, 127.0.0.1:80)\n", 1, "used before"),
    ("s0 = socket(inet)\nclose(s1)\n", 2, "s1 is used before"),
    ("s0 = socket(inet)\ns1 = accept(s2)\n", 2, "s2 is used before"),
    ("s0 = socket(inet)\nconnect(s0, 127.0.0.1:$P)\n", 2, "$P is used as a destination"),
    ("s0 = socket(inet)\ns0 = socket(inet)\n", 2, "created twice (first at line 1)"),
    ("s0 = socket(inet)\ns0 = accept(s0)\n", 2, "created twice"),
    ("| LISTEN 127.0.0.1:80 *\n", 1, "before any op"),
    ("@title x\n| (empty)\n", 2, "before any op"),
    ("s0 = socket(inet) = 0 junk\n", 1, "bad result"),
    ("s0 = socket(inet) junk\n", 1, "unexpected `junk`"),
    ("close(s0) = 0\n", 1, "used before"),
    ("s0 = socket(inet)\nclose(s0) extra = 0\n", 2, "unexpected `extra`"),
    ("s0 = socket(inet)\nbind(s0, 127.0.0.1:80, 3)\n", 2, "takes 2 arguments"),
    ("s0 = socket(inet)\nbind(s0,)\n", 2, "empty argument"),
    ("s0 = socket(inet)\nbind(s0, 127.0.0.1:80\n", 2, "no closing"),
    ("s0 = socket(inet)\nbind s0\n", 2, "expected a call"),
    ("s0 = socket(inet)\ns1 = bind(s0, 127.0.0.1:80)\n", 2, "does not create"),
    ("socket(inet)\n", 1, "creates a socket"),
    ("s0 = socket(inet, frob)\n", 1, "unknown socket() option"),
    ("s0 = socket(inet, nonblock, nonblock)\n", 1, "twice"),
    ("s0 = socket(unix)\n", 1, "unknown address family"),
    ("s0 = socket(inet, host=b)\n", 1, "@hosts 2"),
    ("@sysctl b net.ipv4.tcp_tw_reuse=0\ns0 = socket(inet)\n", 1, "@hosts 2"),
    ("@address b fd00::9\n", 1, "@hosts 2"),
    ("@hosts 3\n", 1, "expected 1 or 2"),
    ("@frob 1\n", 1, "unknown directive `@frob`"),
    ("@profile linux-5.4\n", 1, "older than"),
    ("@profile bsd-14\n", 1, "unknown profile"),
    ("@variant frob=1\n", 1, "unknown variant `frob`"),
    ("@variant listen_after_connect=maybe\n", 1, "has no value `maybe`"),
    ("@variant listen_after_connect\n", 1, "expected NAME=VALUE"),
    (
        "@variant listen_after_connect=einval\n@variant listen_after_connect=listens\n",
        2,
        "pinned twice",
    ),
    ("s0 = socket(inet)\n@variant listen_after_connect=einval\n", 2, "after the first op"),
    ("@title\n", 1, "needs text"),
    ("@title a\n@title b\n", 2, "second @title"),
    // Found by the fuzzer (fuzz/, target `scenario`): `lines()` splits at `\n` only.
    ("@title a\rb\n", 1, "carriage return"),
    ("@sysctl net.ipv4.tcp_tw_reuse=0\n@sysctl net.ipv4.tcp_tw_reuse=1\n", 2, "set twice"),
    ("@address 0.0.0.0\n", 1, "unicast"),
    ("s0 = socket(inet)\n@hosts 2\n", 2, "after the first op"),
    ("s0 = socket(inet)\nrecv(s0, 5) = [0]\n", 2, "cannot return `[0]`"),
    ("s0 = socket(inet)\nbind(s0, 127.0.0.1:1) = EOF\n", 2, "only recv reads EOF"),
    ("s0 = socket(inet)\nbind(s0, 127.0.0.1:1) = 5\n", 2, "only send and recv"),
    ("s0 = socket(inet)\ngetsockopt(s0, SO_ERROR) = 0\n", 2, "returns `[0]`"),
    ("s0 = socket(inet)\nclose(s0) = 0 | 0\n", 2, "listed twice"),
    ("s0 = socket(inet)\nclose(s0) = 0 |\n", 2, "missing result"),
    ("s0 = socket(inet)\nclose(s0) =\n", 2, "missing result"),
    ("s0 = socket(inet)\nclose(s0) = -1\n", 2, "needs an errno"),
    ("s0 = socket(inet)\ngetsockopt(s0, SO_LINGER)\n", 2, "only SO_ERROR"),
    ("s0 = socket(inet)\nshutdown(s0, SHUT_UP)\n", 2, "unknown shutdown"),
    ("s0 = socket(inet)\nsleep(soon)\n", 2, "bad duration"),
    ("s0 = socket(inet)\nsleep(99999999999s)\n", 2, "too long"),
    ("s0 = socket(inet)\nsend(s0, -5)\n", 2, "expected a number"),
    ("s0 = socket(inet)\nsend(s0, +5)\n", 2, "expected a number"),
    ("s0 = socket(inet)\nclose(x0)\n", 2, "socket name"),
    ("s99999 = socket(inet)\n", 1, "socket name"),
    ("s0 = socket(inet)\n| (empty)\n| LISTEN 127.0.0.1:1 *\n", 3, "after `| (empty)`"),
    ("s0 = socket(inet)\n| LISTEN 127.0.0.1:1 *\n| (empty)\n", 3, "already has rows"),
    ("s0 = socket(inet)\n| LISTEN 127.0.0.1:1\n", 2, "expected `| STATE"),
    ("s0 = socket(inet)\n| LISTEN 127.0.0.1:1 * q=x\n", 2, "bad queue"),
    ("s0 = socket(inet)\n| LISTEN 127.0.0.1:1 * 7\n", 2, "unexpected `7`"),
    ("s0 = socket(inet)\n| b: LISTEN 127.0.0.1:1 *\n", 2, "@hosts 2"),
    ("s0 = socket(inet)\n| c: LISTEN 127.0.0.1:1 *\n", 2, "unknown host"),
    ("s0 = socket(inet)\nconnect(s0, 127.0.0.1:1) peer $C\n", 2, "local $VAR"),
    ("s0 = socket(inet)\nclose(s0) local $C\n", 2, "unexpected `local $C`"),
];

#[test]
fn malformed_input_is_an_error_at_its_line() {
    let cases = MALFORMED;
    for (text, line, needle) in cases {
        let e = parse_err(text);
        let prefix = format!("t.scn:{line}: ");
        assert!(
            e.starts_with(&prefix) && e.contains(needle),
            "input {text:?}\n  error: {e}\n  wanted: {prefix}…{needle}…"
        );
    }
}

#[test]
fn an_error_without_a_file_name_names_the_line() {
    let e = parse("frob()\n", None).expect_err("unknown op");
    assert_eq!(e.file, None);
    assert_eq!(e.line, 1);
    assert!(e.to_string().starts_with("line 1: unknown op"), "{e}");
}

#[test]
fn a_variable_bound_by_a_table_may_be_a_destination_later() {
    parse_ok(
        "s0 = socket(inet)\nbind(s0, 127.0.0.1:0)\n  | UNCONN 127.0.0.1:$P *\n\
         s1 = socket(inet)\nconnect(s1, 127.0.0.1:$P)\n",
    );
}

#[test]
fn parse_file_reads_both_forms_and_names_the_file() {
    let dir = std::env::temp_dir().join(format!("tcpconform-scn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let scn = dir.join("bad.scn");
    std::fs::write(&scn, "s0 = socket(inet)\nfrob(s0)\n").expect("write");
    let e = parse_file(&scn).expect_err("unknown op");
    assert_eq!(
        e.to_string(),
        format!(
            "{}:2: unknown op `frob` (known: socket, setsockopt, getsockopt, bind, listen, connect, accept, send, recv, shutdown, close, sleep, sysctl, peer_vanishes, peer_reboots, destroy)",
            scn.display()
        )
    );
    let good = parse_ok(EXAMPLE);
    let json = dir.join("good.json");
    std::fs::write(&json, good.to_json()).expect("write");
    assert_eq!(parse_file(&json), Ok(good));
    let missing = parse_file(dir.join("missing.scn")).expect_err("no such file");
    assert!(
        missing.to_string().contains("cannot read the file"),
        "{missing}"
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn json_errors_say_where_and_why() {
    let e = Scenario::from_json("{\n  \"hosts\": 1,\n  \"stepz\": []\n}", Some("a.json"))
        .expect_err("unknown field");
    assert!(
        e.to_string().starts_with("a.json:3: bad scenario JSON"),
        "{e}"
    );
    assert!(e.to_string().contains("stepz"), "{e}");

    let mut s = Scenario::new();
    s.steps.push(Step::new(Op::Close { sock: SockId(3) }));
    let e = Scenario::from_json(&s.to_json(), Some("b.json")).expect_err("s3 never created");
    assert!(
        e.to_string().starts_with("b.json: step 1 (`close(s3)`)"),
        "{e}"
    );
    assert!(e.to_string().contains("s3 is used before"), "{e}");

    // A sysctl value of the wrong shape for its key.
    let bad = r#"{"sysctls": [["A", {"key": "TcpTwReuse", "value": {"Range": [1, 2]}}]]}"#;
    let e = Scenario::from_json(bad, None).expect_err("wrong shape");
    assert!(e.to_string().contains("tcp_tw_reuse"), "{e}");

    // Missing optional fields take their defaults.
    let minimal = r#"{"steps": [{"op": {"Sleep": {"ms": 5}}}]}"#;
    let s = Scenario::from_json(minimal, None).expect("minimal JSON");
    assert_eq!(s.hosts, 1);
    assert_eq!(s.steps[0].op, Op::Sleep { ms: 5 });
}

#[test]
fn validate_checks_scenarios_built_in_code() {
    let mut s = Scenario::new();
    s.steps.push(
        Step::new(Op::Socket {
            sock: SockId(0),
            family: Family::Inet,
            nonblocking: false,
            euid: None,
            host: Host::A,
        })
        .expect([Outcome::Ok]),
    );
    assert_eq!(s.validate(), Ok(()));
    s.steps.push(
        Step::new(Op::Recv {
            sock: SockId(0),
            len: 1,
        })
        .expect([Outcome::Bytes(0)]),
    );
    assert!(s.validate().is_err());
    s.steps.pop();
    s.hosts = 3;
    assert!(s.validate().is_err());
    s.hosts = 1;
    s.title = Some("two\nlines".into());
    assert!(s.validate().is_err());
}

// --- tables --------------------------------------------------------------------------------

fn server_and_client(c: u16) -> Snapshot {
    Snapshot::new(vec![
        row(TcpState::Listen, "127.0.0.1:8080", None, 0),
        row(
            TcpState::Established,
            "127.0.0.1:8080",
            Some(&format!("127.0.0.1:{c}")),
            0,
        ),
        row(
            TcpState::Established,
            &format!("127.0.0.1:{c}"),
            Some("127.0.0.1:8080"),
            3,
        ),
    ])
}

#[test]
fn an_unbound_variable_binds_by_unification_whatever_the_row_order() {
    let snap = server_and_client(40000);
    for order in [
        [
            "ESTAB 127.0.0.1:$C 127.0.0.1:8080",
            "ESTAB 127.0.0.1:8080 127.0.0.1:$C",
        ],
        [
            "ESTAB 127.0.0.1:8080 127.0.0.1:$C",
            "ESTAB 127.0.0.1:$C 127.0.0.1:8080",
        ],
    ] {
        let mut patterns: Vec<RowPattern> = order.iter().map(|t| pattern(t)).collect();
        patterns.push(pattern("LISTEN 127.0.0.1:8080 *"));
        let mut env = Env::new();
        assert_eq!(match_table(&patterns, &snap, &mut env), Ok(()));
        assert_eq!(env.get(&Var("C".into())), Some(40000));
    }
}

#[test]
fn a_bound_variable_must_equal_its_value_and_a_failed_match_binds_nothing() {
    let snap = server_and_client(40000);
    let patterns = vec![
        pattern("LISTEN 127.0.0.1:8080 *"),
        pattern("ESTAB 127.0.0.1:8080 127.0.0.1:$C"),
        pattern("ESTAB 127.0.0.1:$C 127.0.0.1:$S"),
    ];
    let mut env = Env::new();
    env.bind(&Var("S".into()), 9999);
    let e = match_table(&patterns, &snap, &mut env).expect_err("$S is 9999, not 8080");
    assert_eq!(env.get(&Var("C".into())), None, "nothing bound on failure");
    assert_eq!(e.missing, vec![pattern("ESTAB 127.0.0.1:$C 127.0.0.1:$S")]);
    assert_eq!(e.unexpected.len(), 1);
    let shown = e.to_string();
    assert!(shown.contains("missing:    ESTAB"), "{shown}");
    assert!(
        shown.contains("unexpected: ESTAB      127.0.0.1:40000"),
        "{shown}"
    );
}

#[test]
fn queue_is_compared_only_when_written() {
    let snap = server_and_client(40000);
    let mut patterns = vec![
        pattern("LISTEN 127.0.0.1:8080 * q=0"),
        pattern("ESTAB 127.0.0.1:8080 127.0.0.1:40000"),
        pattern("ESTAB 127.0.0.1:40000 127.0.0.1:8080 q=3"),
    ];
    assert_eq!(match_table(&patterns, &snap, &mut Env::new()), Ok(()));
    patterns[2] = pattern("ESTAB 127.0.0.1:40000 127.0.0.1:8080 q=0");
    assert!(match_table(&patterns, &snap, &mut Env::new()).is_err());
}

#[test]
fn tables_are_exact_multisets() {
    let snap = Snapshot::new(vec![
        row(TcpState::Closed, "127.0.0.1:8080", None, 0),
        row(TcpState::Closed, "127.0.0.1:8080", None, 0),
    ]);
    let one = vec![pattern("UNCONN 127.0.0.1:8080 *")];
    let e = match_table(&one, &snap, &mut Env::new()).expect_err("one row too few");
    assert!(e.missing.is_empty());
    assert_eq!(e.unexpected, vec![pattern("UNCONN 127.0.0.1:8080 *")]);
    let two = vec![one[0].clone(), one[0].clone()];
    assert_eq!(match_table(&two, &snap, &mut Env::new()), Ok(()));
    let e = match_table(&[], &snap, &mut Env::new()).expect_err("not empty");
    assert_eq!(e.unexpected.len(), 2);
    assert_eq!(
        match_table(&[], &Snapshot::default(), &mut Env::new()),
        Ok(())
    );
}

#[test]
fn one_variable_takes_one_value_across_the_table() {
    let snap = Snapshot::new(vec![
        row(
            TcpState::TimeWait,
            "127.0.0.1:8080",
            Some("127.0.0.1:40000"),
            0,
        ),
        row(
            TcpState::TimeWait,
            "127.0.0.1:8081",
            Some("127.0.0.1:40002"),
            0,
        ),
    ]);
    let same = vec![
        pattern("TIME-WAIT 127.0.0.1:8080 127.0.0.1:$C"),
        pattern("TIME-WAIT 127.0.0.1:8081 127.0.0.1:$C"),
    ];
    assert!(match_table(&same, &snap, &mut Env::new()).is_err());
    let distinct = vec![
        pattern("TIME-WAIT 127.0.0.1:$A 127.0.0.1:$C"),
        pattern("TIME-WAIT 127.0.0.1:$B 127.0.0.1:$D"),
    ];
    let mut env = Env::new();
    assert_eq!(match_table(&distinct, &snap, &mut env), Ok(()));
    let bound: Vec<(String, u16)> = env.iter().map(|(n, p)| (n.to_owned(), p)).collect();
    assert_eq!(bound.len(), 4);
}

#[test]
fn backtracking_finds_the_pairing_a_greedy_match_misses() {
    // The first pattern could take either row; only one choice lets the second match.
    let snap = Snapshot::new(vec![
        row(
            TcpState::Established,
            "127.0.0.1:1000",
            Some("127.0.0.1:2000"),
            0,
        ),
        row(
            TcpState::Established,
            "127.0.0.1:2000",
            Some("127.0.0.1:1000"),
            0,
        ),
    ]);
    let patterns = vec![
        pattern("ESTAB 127.0.0.1:$X 127.0.0.1:$Y"),
        pattern("ESTAB 127.0.0.1:$Y 127.0.0.1:1000"),
    ];
    let mut env = Env::new();
    assert_eq!(match_table(&patterns, &snap, &mut env), Ok(()));
    assert_eq!(env.get(&Var("X".into())), Some(1000));
    assert_eq!(env.get(&Var("Y".into())), Some(2000));
}

#[test]
fn many_alike_rows_do_not_explode_the_search() {
    let rows: Vec<(Row, RowInfo)> = (0..14)
        .map(|i| {
            row(
                TcpState::TimeWait,
                "127.0.0.1:8080",
                Some(&format!("127.0.0.1:{}", 40000 + i)),
                0,
            )
        })
        .collect();
    let snap = Snapshot::new(rows);
    // Fourteen patterns with distinct variables, and one that can never match.
    let mut patterns: Vec<RowPattern> = (0..13)
        .map(|i| pattern(&format!("TIME-WAIT 127.0.0.1:8080 127.0.0.1:$V{i}")))
        .collect();
    patterns.push(pattern("TIME-WAIT 127.0.0.1:9999 127.0.0.1:$Z"));
    let e = match_table(&patterns, &snap, &mut Env::new()).expect_err("no 9999 row");
    assert_eq!(e.missing.len(), 1);
    assert_eq!(e.unexpected.len(), 1);
}

#[test]
fn observed_rows_are_written_back_with_variable_names() {
    let mut env = Env::new();
    env.bind(&Var("C".into()), 40000);
    let (r, _) = row(
        TcpState::Established,
        "[::ffff:127.0.0.1]:8080",
        Some("[::ffff:127.0.0.1]:40000"),
        7,
    );
    let p = row_pattern_from(&r, &env);
    assert_eq!(
        p.to_string(),
        "ESTAB [::ffff:127.0.0.1]:8080 [::ffff:127.0.0.1]:$C q=7"
    );
    assert_eq!(
        p.local,
        AddrPattern {
            ip: IpAddr::V6(Ipv4Addr::new(127, 0, 0, 1).to_ipv6_mapped()),
            port: Port::Lit(8080)
        }
    );
    let (l, _) = row(TcpState::Listen, "0.0.0.0:8080", None, 0);
    assert_eq!(row_pattern_from(&l, &env).queue, None, "q=0 is left out");
    // A pattern made from a row matches that row.
    let snap = Snapshot::new(vec![(r, RowInfo::default())]);
    assert_eq!(match_table(&[p], &snap, &mut env), Ok(()));
}

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
        .prop_map(|(op, ms)| Op::Within {
            call: Box::new(op.call().clone()),
            ms,
        })
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
    .prop_map(|call| Op::NonBlocking {
        call: Box::new(call),
    })
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
        let per_call = matches!(step.op, Op::NonBlocking { .. });
        let within = match &step.op {
            Op::Within { ms, .. } => Some(*ms),
            _ => None,
        };
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
        if per_call {
            step.op = Op::NonBlocking {
                call: Box::new(step.op.clone()),
            };
        } else if let Some(ms) = within {
            step.op = Op::Within {
                call: Box::new(step.op.clone()),
                ms,
            };
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

// --- the reference document ----------------------------------------------------------------

fn doc_blocks(lang: &str) -> Vec<String> {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/scenario-format.md"),
    )
    .expect("docs/scenario-format.md exists");
    let fence = format!("```{lang}\n");
    doc.split(fence.as_str())
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn the_documents_examples_are_valid() {
    let first = &doc_blocks("text")[0];
    let s = parse(first, Some("docs example")).unwrap_or_else(|e| panic!("{e}"));
    assert!(s.steps.len() > 10);
    let json = &doc_blocks("json")[0];
    let s = Scenario::from_json(json, Some("docs JSON")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.steps.len(), 2);
    assert_eq!(
        s.to_text().lines().last(),
        Some("    | UNCONN 127.0.0.1:$P *")
    );
}

#[test]
fn the_document_lists_every_hand_written_scenario() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/scenario-format.md"),
    )
    .expect("docs/scenario-format.md exists");
    for path in scenario_files() {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        assert!(
            doc.contains(&format!("`{name}`")),
            "{name} is not in the table of scenarios"
        );
    }
}

// --- port assertions (`?`) -----------------------------------------------------------------

const ASSERTS: &str = "\
s0 = socket(inet) = 0
bind(s0, 127.0.0.1:$P) = 0
s1 = socket(inet) = 0
connect(s1, 127.0.0.1:$P) local $C = 0
    | ESTAB 127.0.0.1:$C 127.0.0.1:$P
    | ESTAB 127.0.0.1:$P 127.0.0.1:$Q
    ?   $C   !=  $P
    ? $Q == $C
    ? $C == 40000
";

#[test]
fn port_assertions_parse_print_and_round_trip() {
    let s = parse_ok(ASSERTS);
    let var = |n: &str| Port::Var(Var(n.into()));
    assert_eq!(
        s.steps[3].asserts,
        vec![
            PortAssert {
                left: var("C"),
                cmp: Comparison::Ne,
                right: var("P")
            },
            PortAssert {
                left: var("Q"),
                cmp: Comparison::Eq,
                right: var("C")
            },
            PortAssert {
                left: var("C"),
                cmp: Comparison::Eq,
                right: Port::Lit(40000)
            },
        ]
    );
    assert!(s.steps[..3].iter().all(|st| st.asserts.is_empty()));
    let text = s.to_text();
    assert!(
        text.ends_with("    ? $C != $P\n    ? $Q == $C\n    ? $C == 40000\n"),
        "{text}"
    );
    let again = parse_ok(&text);
    assert_eq!(without_lines(again.clone()), without_lines(s.clone()));
    assert_eq!(again.to_text(), text);
    let json = s.to_json();
    assert!(json.contains("\"asserts\""), "{json}");
    assert_eq!(Scenario::from_json(&json, None), Ok(s));
    // A step without assertions leaves the field out, and JSON without it reads as none.
    let plain = parse_ok("s0 = socket(inet) = 0\n");
    assert!(!plain.to_json().contains("asserts"));
}

#[test]
fn port_assertions_check_the_environment() {
    let s = parse_ok(ASSERTS);
    let [ne, eq, lit] = [0, 1, 2].map(|i| s.steps[3].asserts[i].clone());
    let mut env = Env::new();
    env.bind(&Var("C".into()), 40000);
    env.bind(&Var("P".into()), 8080);
    assert_eq!(ne.check(&env), Ok(()));
    assert_eq!(lit.check(&env), Ok(()));
    let unbound = eq.check(&env).unwrap_err();
    assert!(unbound.contains("$Q has no value"), "{unbound}");
    env.bind(&Var("Q".into()), 40001);
    let failed = eq.check(&env).unwrap_err();
    assert!(
        failed.contains("`$Q == $C` failed: $Q is 40001, $C is 40000"),
        "{failed}"
    );
    env.bind(&Var("P".into()), 40000);
    assert!(ne.check(&env).is_err());
}

#[test]
fn malformed_port_assertions_are_errors_at_their_line() {
    let cases: &[(&str, usize, &str)] = &[
        ("? $C == 1\n", 1, "before any op"),
        (
            "s0 = socket(inet)\n? $C == 1\n",
            2,
            "$C is used in an assertion before",
        ),
        ("s0 = socket(inet)\n? 1 = 1\n", 2, "unknown comparison `=`"),
        (
            "s0 = socket(inet)\n? 1 == \n",
            2,
            "expected `? PORT == PORT`",
        ),
        (
            "s0 = socket(inet)\n? 1 == 2 3\n",
            2,
            "expected `? PORT == PORT`",
        ),
        ("s0 = socket(inet)\n? 1 == 70000\n", 2, "out of range"),
        (
            "s0 = socket(inet)\n? 1 == $\n",
            2,
            "expected a port variable",
        ),
        (
            "s0 = socket(inet)\n? 1 == 1\n| UNCONN 127.0.0.1:1 *\n",
            3,
            "a table row after a `?` assertion",
        ),
        (
            "s0 = socket(inet)\n? 1 == 1\n| (empty)\n",
            3,
            "already has rows",
        ),
    ];
    for (text, line, needle) in cases {
        let e = parse_err(text);
        let prefix = format!("t.scn:{line}: ");
        assert!(
            e.starts_with(&prefix) && e.contains(needle),
            "input {text:?}\n  error: {e}\n  wanted: {prefix}…{needle}…"
        );
    }
    // The same rule for scenarios built in code.
    let mut s = parse_ok("s0 = socket(inet)\n");
    s.steps[0].asserts.push(PortAssert {
        left: Port::Var(Var("X".into())),
        cmp: Comparison::Eq,
        right: Port::Lit(1),
    });
    let e = s.validate().unwrap_err().to_string();
    assert!(e.contains("$X is used in an assertion before"), "{e}");
}

// --- partial tables (`| ...`) --------------------------------------------------------------

const PARTIAL: &str = "\
s0 = socket(inet) = 0
bind(s0, 127.0.0.1:8080) = 0
    | ...  UNCONN   LISTEN
s1 = socket(inet) = 0
    | ...
connect(s1, 127.0.0.1:8080) local $C = 0
    | ESTAB 127.0.0.1:$C 127.0.0.1:8080
    | ...
    ? $C != 8080
";

#[test]
fn partial_tables_parse_print_and_round_trip() {
    let s = parse_ok(PARTIAL);
    assert_eq!(
        s.steps[1].unlisted,
        Some(UnlistedRows::InStates(vec![
            TcpState::Closed,
            TcpState::Listen
        ]))
    );
    assert_eq!(s.steps[1].table, Some(vec![]));
    assert_eq!(s.steps[2].unlisted, Some(UnlistedRows::Any));
    assert_eq!(s.steps[3].unlisted, Some(UnlistedRows::Any));
    assert_eq!(s.steps[3].table.as_ref().map(Vec::len), Some(1));
    assert_eq!(s.steps[0].unlisted, None);
    let text = s.to_text();
    assert!(text.contains("= 0\n    | ... UNCONN LISTEN\n"), "{text}");
    assert!(
        text.contains("    | ESTAB 127.0.0.1:$C 127.0.0.1:8080\n    | ...\n    ? $C != 8080\n"),
        "{text}"
    );
    assert!(!text.contains("(empty)"), "{text}");
    let again = parse_ok(&text);
    assert_eq!(without_lines(again.clone()), without_lines(s.clone()));
    assert_eq!(again.to_text(), text);
    let json = s.to_json();
    assert!(json.contains("\"unlisted\": \"Any\""), "{json}");
    assert_eq!(Scenario::from_json(&json, None), Ok(s));
}

#[test]
fn malformed_partial_tables_are_errors_at_their_line() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "s0 = socket(inet)\n| ...\n| UNCONN 127.0.0.1:1 *\n",
            3,
            "`...` ends the table",
        ),
        (
            "s0 = socket(inet)\n| ...\n| ...\n",
            3,
            "`...` ends the table",
        ),
        (
            "s0 = socket(inet)\n| (empty)\n| ...\n",
            3,
            "after `| (empty)`",
        ),
        (
            "s0 = socket(inet)\n| ... UNCONN UNCONN\n",
            2,
            "listed twice",
        ),
        ("s0 = socket(inet)\n| ... FOO\n", 2, "FOO"),
        ("s0 = socket(inet)\n| ....\n", 2, "expected `| ...`"),
        (
            "s0 = socket(inet)\n? 1 == 1\n| ...\n",
            3,
            "after a `?` assertion",
        ),
        ("| ...\n", 1, "before any op"),
    ];
    for (text, line, needle) in cases {
        let e = parse_err(text);
        let prefix = format!("t.scn:{line}: ");
        assert!(
            e.starts_with(&prefix) && e.contains(needle),
            "input {text:?}\n  error: {e}\n  wanted: {prefix}…{needle}…"
        );
    }
    let mut s = parse_ok("s0 = socket(inet)\n");
    s.steps[0].unlisted = Some(UnlistedRows::Any);
    let e = s.validate().unwrap_err().to_string();
    assert!(e.contains("without a table"), "{e}");
    s.steps[0].table = Some(vec![]);
    s.steps[0].unlisted = Some(UnlistedRows::InStates(vec![]));
    assert!(s.validate().is_err());
}

#[test]
fn a_partial_table_is_a_sub_multiset_with_limited_others() {
    let snap = server_and_client(40000);
    let listed = [pattern("ESTAB 127.0.0.1:$C 127.0.0.1:8080")];
    // Exact: the other rows make it fail.
    assert!(match_table(&listed, &snap, &mut Env::new()).is_err());
    // Any others: it matches and binds $C.
    let mut env = Env::new();
    assert_eq!(
        match_partial_table(&listed, Some(&UnlistedRows::Any), &snap, &mut env),
        Ok(())
    );
    assert_eq!(env.get(&Var("C".into())), Some(40000));
    // Others only in some states: every observed row not listed must be in one of them.
    let states = |s: &[TcpState]| UnlistedRows::InStates(s.to_vec());
    let mut env = Env::new();
    let m = match_partial_table(&listed, Some(&states(&[TcpState::Listen])), &snap, &mut env)
        .unwrap_err();
    assert_eq!(m.unexpected.len(), 1, "{m}");
    assert_eq!(m.unexpected[0].state, TcpState::Established);
    assert!(m.missing.is_empty(), "{m}");
    assert_eq!(env, Env::new(), "a failed match binds nothing");
    let both = states(&[TcpState::Listen, TcpState::Established]);
    assert_eq!(
        match_partial_table(&listed, Some(&both), &snap, &mut Env::new()),
        Ok(())
    );
    // A listed row that is not there fails whatever the others may be.
    let absent = [pattern("SYN-SENT 127.0.0.1:$C 127.0.0.1:8080")];
    let m =
        match_partial_table(&absent, Some(&UnlistedRows::Any), &snap, &mut Env::new()).unwrap_err();
    assert_eq!(m.missing, absent.to_vec());
    assert!(m.unexpected.is_empty(), "{m}");
    // More listed rows than observed ones.
    let many = vec![pattern("LISTEN 127.0.0.1:8080 *"); 4];
    assert!(match_partial_table(&many, Some(&UnlistedRows::Any), &snap, &mut Env::new()).is_err());
}

// --- `= >0` ---------------------------------------------------------------------------------

#[test]
fn any_byte_count_parses_prints_matches_and_round_trips() {
    let s = parse_ok("s0 = socket(inet)\nrecv(s0, 100) = >0 | EOF\nsend(s0, 5)   =   >0\n");
    let any = Expected::Pattern(OutcomePattern::AnyBytes);
    assert_eq!(s.steps[1].expect, Some(vec![any, Outcome::Eof.into()]));
    assert_eq!(s.steps[2].expect, Some(vec![any]));
    let text = s.to_text();
    assert!(text.contains("recv(s0, 100) = >0 | EOF\n"), "{text}");
    let again = parse_ok(&text);
    assert_eq!(without_lines(again.clone()), without_lines(s.clone()));
    assert_eq!(again.to_text(), text);
    let json = s.to_json();
    assert!(json.contains("\"AnyBytes\""), "{json}");
    assert_eq!(Scenario::from_json(&json, None), Ok(s));
    // Exact results keep their JSON form.
    assert!(
        parse_ok("s0 = socket(inet) = 0\n")
            .to_json()
            .contains("\"Ok\"")
    );
    // What it matches: one byte or more, nothing else.
    assert!(any.matches(Outcome::Bytes(1)) && any.matches(Outcome::Bytes(u32::MAX)));
    for o in [
        Outcome::Ok,
        Outcome::Eof,
        Outcome::Blocks,
        Outcome::Err(Errno::EAGAIN),
    ] {
        assert!(!any.matches(o), "{o}");
    }
    assert_eq!(any.exact(), None);
    assert_eq!(Expected::from(Outcome::Eof).exact(), Some(Outcome::Eof));
}

#[test]
fn any_byte_count_is_only_for_send_and_recv() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "s0 = socket(inet) = >0\n",
            1,
            "only send and recv count bytes",
        ),
        (
            "s0 = socket(inet)\nclose(s0) = >0\n",
            2,
            "only send and recv count bytes",
        ),
        (
            "s0 = socket(inet)\nrecv(s0, 1) = >0 | >0\n",
            2,
            "listed twice",
        ),
        (
            "s0 = socket(inet)\nrecv(s0, 1) = > 0\n",
            2,
            "bad result `> 0`",
        ),
        (
            "s0 = socket(inet)\nrecv(s0, 1) = >1\n",
            2,
            "bad result `>1`",
        ),
    ];
    for (text, line, needle) in cases {
        let e = parse_err(text);
        let prefix = format!("t.scn:{line}: ");
        assert!(
            e.starts_with(&prefix) && e.contains(needle),
            "input {text:?}\n  error: {e}\n  wanted: {prefix}…{needle}…"
        );
    }
}

// --- accept(s0|s1) --------------------------------------------------------------------------

#[test]
fn accept_from_any_listener_parses_prints_and_round_trips() {
    let s = parse_ok(
        "s0 = socket(inet)\ns1 = socket(inet)\ns2 = socket(inet)\n\
         s3 = accept( s1 | s0|s2 ) peer $C = 0 | BLOCKS\n",
    );
    let op = Op::AcceptAny {
        listeners: vec![SockId(1), SockId(0), SockId(2)],
        sock: SockId(3),
        peer: Some(Var("C".into())),
    };
    assert_eq!(s.steps[3].op, op);
    assert_eq!(op.to_string(), "s3 = accept(s1|s0|s2) peer $C");
    assert_eq!(op.name(), "accept");
    assert_eq!(op.sock(), Some(SockId(1)));
    assert_eq!(op.socks(), vec![SockId(1), SockId(0), SockId(2), SockId(3)]);
    assert_eq!(parse_op(&op.to_string()), Ok(op));
    let text = s.to_text();
    let again = parse_ok(&text);
    assert_eq!(without_lines(again.clone()), without_lines(s.clone()));
    assert_eq!(again.to_text(), text);
    let json = s.to_json();
    assert!(json.contains("\"AcceptAny\""), "{json}");
    assert_eq!(Scenario::from_json(&json, None), Ok(s));
}

#[test]
fn malformed_accept_from_any_listener_is_an_error() {
    let cases: &[(&str, usize, &str)] = &[
        ("s0 = socket(inet)\ns1 = accept(s0|s0)\n", 2, "named twice"),
        (
            "s0 = socket(inet)\ns1 = accept(s0|)\n",
            2,
            "expected a socket name",
        ),
        (
            "s0 = socket(inet)\ns1 = accept(s0|s9)\n",
            2,
            "s9 is used before",
        ),
        (
            "s0 = socket(inet)\ns2 = socket(inet)\ns1 = accept(s0|s2) = 5\n",
            3,
            "count bytes",
        ),
        ("s0 = socket(inet)\naccept(s0|s0)\n", 2, "creates a socket"),
    ];
    for (text, line, needle) in cases {
        let e = parse_err(text);
        let prefix = format!("t.scn:{line}: ");
        assert!(
            e.starts_with(&prefix) && e.contains(needle),
            "input {text:?}\n  error: {e}\n  wanted: {prefix}…{needle}…"
        );
    }
    // One listener only, from code or JSON: it would print as a plain accept().
    let mut s = parse_ok("s0 = socket(inet)\n");
    s.steps.push(Step::new(Op::AcceptAny {
        listeners: vec![SockId(0)],
        sock: SockId(1),
        peer: None,
    }));
    let e = s.validate().unwrap_err().to_string();
    assert!(e.contains("two or more listeners"), "{e}");
}

// --- per-call `nonblock` -------------------------------------------------------------------

#[test]
fn per_call_nonblock_parses_prints_and_round_trips() {
    let s = parse_ok(
        "s0 = socket(inet)\ns1 = socket(inet)\n\
         connect(s1, 127.0.0.1:8080 , nonblock) local $C = -1 EINPROGRESS\n\
         s2 = accept(s0, nonblock) peer $P = -1 EAGAIN\n\
         s3 = accept(s0|s1, nonblock) = -1 EAGAIN\n\
         send(s1, 5, nonblock) = 5\nrecv(s1, 100, nonblock) = >0\nrecv(s1, 100) = BLOCKS\n",
    );
    let wrapped = |op: &Op| match op {
        Op::NonBlocking { call } => Some((**call).clone()),
        _ => None,
    };
    let connect = wrapped(&s.steps[2].op).expect("connect is per-call non-blocking");
    assert_eq!(
        connect,
        Op::Connect {
            sock: SockId(1),
            addr: SockAddr {
                ip: v4("127.0.0.1"),
                port: Port::Lit(8080)
            },
            local: Some(Var("C".into())),
        }
    );
    assert!(matches!(wrapped(&s.steps[3].op), Some(Op::Accept { .. })));
    assert!(matches!(
        wrapped(&s.steps[4].op),
        Some(Op::AcceptAny { .. })
    ));
    assert!(matches!(wrapped(&s.steps[5].op), Some(Op::Send { .. })));
    assert!(matches!(wrapped(&s.steps[6].op), Some(Op::Recv { .. })));
    assert_eq!(wrapped(&s.steps[7].op), None);
    assert_eq!(s.steps[2].op.call(), &connect);
    assert_eq!(s.steps[2].op.name(), "connect");
    assert_eq!(s.steps[2].op.sock(), Some(SockId(1)));
    let shown: Vec<String> = s.steps[2..7].iter().map(|st| st.op.to_string()).collect();
    assert_eq!(
        shown,
        [
            "connect(s1, 127.0.0.1:8080, nonblock) local $C",
            "s2 = accept(s0, nonblock) peer $P",
            "s3 = accept(s0|s1, nonblock)",
            "send(s1, 5, nonblock)",
            "recv(s1, 100, nonblock)",
        ]
    );
    let text = s.to_text();
    let again = parse_ok(&text);
    assert_eq!(without_lines(again.clone()), without_lines(s.clone()));
    assert_eq!(again.to_text(), text);
    let json = s.to_json();
    assert!(json.contains("\"NonBlocking\""), "{json}");
    assert_eq!(Scenario::from_json(&json, None), Ok(s));
}

#[test]
fn per_call_nonblock_only_on_calls_that_can_block() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "s0 = socket(inet)\nclose(s0, nonblock)\n",
            2,
            "`close` takes no per-call `nonblock` (only connect, accept, send and recv do)",
        ),
        (
            "s0 = socket(inet)\nbind(s0, 127.0.0.1:1, nonblock)\n",
            2,
            "`bind` takes no per-call `nonblock`",
        ),
        (
            "s0 = socket(inet)\nrecv(s0, 1, nonblock, nonblock)\n",
            2,
            "takes 2 arguments",
        ),
        (
            "s0 = socket(inet)\nrecv(s0, nonblock)\n",
            2,
            "takes 2 arguments",
        ),
    ];
    for (text, line, needle) in cases {
        let e = parse_err(text);
        let prefix = format!("t.scn:{line}: ");
        assert!(
            e.starts_with(&prefix) && e.contains(needle),
            "input {text:?}\n  error: {e}\n  wanted: {prefix}…{needle}…"
        );
    }
    // Built in code (or read from JSON): the same rules.
    let mut s = parse_ok("s0 = socket(inet)\n");
    let close = Op::NonBlocking {
        call: Box::new(Op::Close { sock: SockId(0) }),
    };
    s.steps.push(Step::new(close));
    let e = s.validate().unwrap_err().to_string();
    assert!(e.contains("takes no per-call `nonblock`"), "{e}");
    let twice = Op::NonBlocking {
        call: Box::new(Op::NonBlocking {
            call: Box::new(Op::Recv {
                sock: SockId(0),
                len: 1,
            }),
        }),
    };
    s.steps[1] = Step::new(twice);
    let e = s.validate().unwrap_err().to_string();
    assert!(e.contains("given twice"), "{e}");
}

// --- `| within N` ---------------------------------------------------------------------------

#[test]
fn a_table_within_a_time_parses_prints_and_round_trips() {
    let s = parse_ok(
        "s0 = socket(inet)\nbind(s0, 127.0.0.1:1) = 0\n    | within   500ms\n\
         | UNCONN 127.0.0.1:1 *\n| ...\nclose(s0) = 0\n| within 1.5s\n| (empty)\n\
         sleep(1s)\n| within 2s\n",
    );
    assert_eq!(s.steps[1].table_within_ms, Some(500));
    assert_eq!(s.steps[1].table.as_ref().map(Vec::len), Some(1));
    assert_eq!(s.steps[2].table_within_ms, Some(1500));
    assert_eq!(s.steps[2].table, Some(vec![]));
    assert_eq!(s.steps[3].table_within_ms, Some(2000));
    assert_eq!(s.steps[3].table, Some(vec![]));
    assert_eq!(s.steps[0].table_within_ms, None);
    let text = s.to_text();
    assert!(
        text.contains("= 0\n    | within 500ms\n    | UNCONN 127.0.0.1:1 *\n    | ...\n"),
        "{text}"
    );
    assert!(
        text.contains("    | within 1.5s\n    | (empty)\n"),
        "{text}"
    );
    let again = parse_ok(&text);
    assert_eq!(without_lines(again.clone()), without_lines(s.clone()));
    assert_eq!(again.to_text(), text);
    let json = s.to_json();
    assert!(json.contains("\"table_within_ms\": 500"), "{json}");
    assert_eq!(Scenario::from_json(&json, None), Ok(s));
}

#[test]
fn malformed_within_is_an_error_at_its_line() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "s0 = socket(inet)\n| UNCONN 127.0.0.1:1 *\n| within 5ms\n",
            3,
            "first row",
        ),
        (
            "s0 = socket(inet)\n| within 5ms\n| within 5ms\n",
            3,
            "first row",
        ),
        (
            "s0 = socket(inet)\n| (empty)\n| within 5ms\n",
            3,
            "first row",
        ),
        ("s0 = socket(inet)\n| within 0ms\n", 2, "more than 0"),
        ("s0 = socket(inet)\n| within 61s\n", 2, "at most 60000 ms"),
        (
            "s0 = socket(inet)\n| within soon\n",
            2,
            "bad duration `soon`",
        ),
        ("s0 = socket(inet)\n| within -5ms\n", 2, "bad duration"),
        ("| within 5ms\n", 1, "before any op"),
    ];
    for (text, line, needle) in cases {
        let e = parse_err(text);
        let prefix = format!("t.scn:{line}: ");
        assert!(
            e.starts_with(&prefix) && e.contains(needle),
            "input {text:?}\n  error: {e}\n  wanted: {prefix}…{needle}…"
        );
    }
    let mut s = parse_ok("s0 = socket(inet)\n");
    s.steps[0].table_within_ms = Some(10);
    let e = s.validate().unwrap_err().to_string();
    assert!(e.contains("without a table"), "{e}");
    s.steps[0].table = Some(vec![]);
    s.steps[0].table_within_ms = Some(0);
    assert!(s.validate().is_err());
}

// --- `within=`: how long a blocking call may wait ------------------------------------------

#[test]
fn a_call_within_parses_prints_and_round_trips() {
    let s = parse_ok(
        "s0 = socket(inet)\ns1 = socket(inet)\n\
         connect(s1, 127.0.0.1:8080, within=4s) local $C = -1 ETIMEDOUT\n\
         s2 = accept(s0, within=1500ms) peer $P = BLOCKS\n\
         s3 = accept(s0|s1, within=250ms) = BLOCKS\n\
         recv(s1, 100, within=2s) = >0\n",
    );
    let within = |op: &Op| match op {
        Op::Within { call, ms } => Some(((**call).clone(), *ms)),
        _ => None,
    };
    let (connect, ms) = within(&s.steps[2].op).expect("connect waits");
    assert_eq!(ms, 4000);
    assert!(matches!(connect, Op::Connect { local: Some(_), .. }));
    assert_eq!(s.steps[2].op.call(), &connect);
    assert_eq!(s.steps[3].op.name(), "accept");
    assert!(matches!(
        within(&s.steps[4].op),
        Some((Op::AcceptAny { .. }, 250))
    ));
    assert!(matches!(
        within(&s.steps[5].op),
        Some((Op::Recv { .. }, 2000))
    ));
    let shown: Vec<String> = s.steps[2..6].iter().map(|st| st.op.to_string()).collect();
    assert_eq!(
        shown,
        [
            "connect(s1, 127.0.0.1:8080, within=4s) local $C",
            "s2 = accept(s0, within=1.5s) peer $P",
            "s3 = accept(s0|s1, within=250ms)",
            "recv(s1, 100, within=2s)",
        ]
    );
    let text = s.to_text();
    let again = parse_ok(&text);
    assert_eq!(without_lines(again.clone()), without_lines(s.clone()));
    assert_eq!(again.to_text(), text);
    let json = s.to_json();
    assert!(json.contains("\"Within\""), "{json}");
    assert_eq!(Scenario::from_json(&json, None), Ok(s));
}

#[test]
fn a_call_within_only_on_calls_that_can_block_and_not_with_nonblock() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "s0 = socket(inet)\nsend(s0, 1, within=1s)\n",
            2,
            "takes no `within=`",
        ),
        (
            "s0 = socket(inet)\nrecv(s0, 1, within=soon)\n",
            2,
            "bad duration",
        ),
        (
            "s0 = socket(inet)\nrecv(s0, 1, nonblock, within=1s)\n",
            2,
            "does not wait",
        ),
        (
            "s0 = socket(inet)\nrecv(s0, 1, within=11m)\n",
            2,
            "bad duration",
        ),
        (
            "s0 = socket(inet)\nrecv(s0, 1, within=601s)\n",
            2,
            "1 ms to",
        ),
    ];
    for (text, line, needle) in cases {
        let e = parse_err(text);
        let prefix = format!("t.scn:{line}: ");
        assert!(
            e.starts_with(&prefix) && e.contains(needle),
            "input {text:?}\n  error: {e}\n  wanted: {prefix}…{needle}…"
        );
    }
}
