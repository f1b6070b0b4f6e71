//! Errors: malformed text is an error at its line, JSON errors say where and why, and
//! `validate` checks scenarios built in code.

use tcpconform_harness::scenario::{Scenario, Step, parse, parse_file};
use tcpconform_model::{Family, Host, Op, Outcome, SockId};

use super::syntax::EXAMPLE;
use super::{parse_err, parse_ok};

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
