//! Tables: matching a socket table against the rows written (variables, multisets,
//! backtracking), writing observed rows back, partial tables (`| ...`) and tables within a time
//! (`| within N`).

use std::net::{IpAddr, Ipv4Addr};

use tcpconform_harness::scenario::{
    AddrPattern, RowPattern, Scenario, UnlistedRows, match_partial_table, match_table,
    row_pattern_from,
};
use tcpconform_model::{Env, Port, Row, RowInfo, Snapshot, TcpState, Var};

use super::{parse_err, parse_ok, pattern, row, without_lines};

// --- tables --------------------------------------------------------------------------------

pub(super) fn server_and_client(c: u16) -> Snapshot {
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
