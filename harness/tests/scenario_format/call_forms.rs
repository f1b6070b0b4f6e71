//! Forms of a single call: any byte count (`= >0`), `accept()` from any of several
//! listeners (`accept(s0|s1)`), per-call `nonblock`, and how long a blocking call may wait
//! (`within=`).

use tcpconform_harness::scenario::{Expected, OutcomePattern, Scenario, Step, parse_op};
use tcpconform_model::{CallOption, Errno, Op, Outcome, Port, SockAddr, SockId, Var};

use super::{parse_err, parse_ok, v4, without_lines};

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
        Op::PerCall {
            call,
            option: CallOption::NonBlocking,
        } => Some((**call).clone()),
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
    assert!(json.contains("\"PerCall\""), "{json}");
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
    let close = Op::per_call(Op::Close { sock: SockId(0) }, CallOption::NonBlocking);
    s.steps.push(Step::new(close));
    let e = s.validate().unwrap_err().to_string();
    assert!(e.contains("takes no per-call `nonblock`"), "{e}");
    let recv = Op::Recv {
        sock: SockId(0),
        len: 1,
    };
    let once = Op::per_call(recv, CallOption::NonBlocking);
    let twice = Op::per_call(once, CallOption::NonBlocking);
    s.steps[1] = Step::new(twice);
    let e = s.validate().unwrap_err().to_string();
    assert!(e.contains("given twice"), "{e}");
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
        Op::PerCall {
            call,
            option: CallOption::Within { ms },
        } => Some(((**call).clone(), *ms)),
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
