//! Port assertions (`?`): parsed, printed and round-tripped, checked against the
//! environment, and malformed ones are errors at their line.

use tcpconform_harness::scenario::{Comparison, PortAssert, Scenario};
use tcpconform_model::{Env, Port, Var};

use super::{parse_err, parse_ok, without_lines};

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
