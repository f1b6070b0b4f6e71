//! The hand-written scenarios of `tests/scenarios/`: each holds on the model alone (`predict`)
//! and on the kernel with the model in lock-step (`replay`).

use tcpconform_harness::across::{self, Across};
use tcpconform_harness::{kernel, replay, sandbox, scenario};
use tcpconform_model::Profile;
use tcpconform_tests::scenario_files;

#[test]
fn there_are_at_least_ten_scenarios() {
    assert!(scenario_files().len() >= 10, "{:?}", scenario_files());
}

/// Every behaviour variant is shown by a scenario that pins it (`@variant`).
#[test]
fn every_variant_is_pinned_by_a_scenario() {
    let pinned: std::collections::BTreeSet<tcpconform_model::Variant> = scenario_files()
        .iter()
        .flat_map(|p| {
            scenario::parse_file(p)
                .unwrap_or_else(|e| panic!("{e}"))
                .variants
        })
        .map(|s| s.variant)
        .collect();
    let missing: Vec<&str> = tcpconform_model::Variant::ALL
        .iter()
        .filter(|v| !pinned.contains(v))
        .map(|v| v.name())
        .collect();
    assert!(
        missing.is_empty(),
        "variants no scenario pins: {}",
        missing.join(", ")
    );
}

#[test]
fn every_scenario_holds_on_the_model() {
    let mut failures = Vec::new();
    for path in scenario_files() {
        let sc = scenario::parse_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let report = replay::predict(&sc, Profile::LINUX_6_18);
        if !report.passed() {
            failures.push(report.render(&path.display().to_string()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_scenario_holds_on_the_kernel_and_agrees_with_the_model() {
    if !sandbox::on_os_or_skip(
        "every_scenario_holds_on_the_kernel_and_agrees_with_the_model",
        tcpconform_model::profile::Os::Linux,
        "the files of tests/scenarios/ are written for Linux (tests/scenarios/os/ has the other OSes')",
    ) {
        return;
    }
    if !sandbox::kernel_or_skip("every_scenario_holds_on_the_kernel_and_agrees_with_the_model") {
        return;
    }
    let profile = kernel::running_profile().expect("kernel version");
    let mut failures = Vec::new();
    for path in scenario_files() {
        let sc = scenario::parse_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let name = path.display().to_string();
        // A file written for this kernel (or any: no `@profile`, no `@variant` this kernel
        // lacks) must hold; one written for another kernel (`kernels-*.scn`, a pinned variant)
        // may differ, where the model for this kernel agrees with it.
        let report = across::replay_across(&sc, profile).unwrap_or_else(|e| panic!("harness: {e}"));
        let ok = if sc.is_for(profile) {
            report.verdict == Across::Holds
        } else {
            report.passed()
        };
        if !ok {
            failures.push(report.render(&name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `file` with its first `from` replaced by `to` (which must change it).
fn edited(file: &str, from: &str, to: &str) -> scenario::Scenario {
    let path = tcpconform_tests::repo_root()
        .join("tests/scenarios")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert!(text.contains(from), "{file} has no `{from}`");
    let text = text.replacen(from, to, 1);
    scenario::parse(&text, Some(file)).unwrap_or_else(|e| panic!("{e}"))
}

/// The edited file must fail at call `call` on the model, and on the kernel when there is one:
/// a feature of the format that stopped being checked would let it pass.
fn edit_must_fail(test: &str, file: &str, from: &str, to: &str, call: usize) {
    let sc = edited(file, from, to);
    let report = replay::predict(&sc, Profile::LINUX_6_18);
    assert!(
        !report.passed() && report.unmet.iter().any(|u| u.index == call),
        "{file} with `{to}` passes on the model:\n{}",
        report.render(file)
    );
    if !sandbox::kernel_or_skip(test) {
        return;
    }
    let profile = kernel::running_profile().expect("kernel version");
    let report = replay::replay(&sc, profile).unwrap_or_else(|e| panic!("harness: {e}"));
    assert!(
        !report.passed() && report.unmet.iter().any(|u| u.index == call),
        "{file} with `{to}` passes on the kernel:\n{}",
        report.render(file)
    );
}

#[test]
fn a_false_port_assertion_fails_the_replay() {
    const TEST: &str = "a_false_port_assertion_fails_the_replay";
    let file = "distinct-ephemeral-ports.scn";
    edit_must_fail(TEST, file, "? $C2 != $C", "? $C2 == $C", 7);
    edit_must_fail(TEST, file, "? $D == $C", "? $D == $C2", 10);
    edit_must_fail(TEST, file, "? $C != 8080", "? $C == 8080", 5);
}

#[test]
fn a_partial_table_still_requires_its_rows_and_limits_the_others() {
    const TEST: &str = "a_partial_table_still_requires_its_rows_and_limits_the_others";
    let file = "bound-port-refuses-connections.scn";
    // The bound s0 (UNCONN) is not allowed once only ESTAB rows may be left unlisted.
    edit_must_fail(TEST, file, "    | ... UNCONN\n", "    | ... ESTAB\n", 4);
    // A listed row that is not there.
    edit_must_fail(
        TEST,
        file,
        "| ESTAB 127.0.0.1:$C   127.0.0.1:8080",
        "| SYN-SENT 127.0.0.1:$C 127.0.0.1:8080",
        6,
    );
    // The two connections' ESTAB rows are not CLOSE-WAIT.
    edit_must_fail(TEST, file, "| ... ESTAB", "| ... CLOSE-WAIT", 7);
}

#[test]
fn any_byte_count_does_not_accept_eof_or_an_error() {
    const TEST: &str = "any_byte_count_does_not_accept_eof_or_an_error";
    let file = "half-close-data-then-eof.scn";
    edit_must_fail(
        TEST,
        file,
        "recv(s2, 100)                        = EOF",
        "recv(s2, 100) = >0",
        10,
    );
    edit_must_fail(
        TEST,
        file,
        "send(s1, 1)                          = -1 EPIPE",
        "send(s1, 1) = >0",
        13,
    );
}

#[test]
fn accept_from_any_listener_takes_the_first_ready_in_listed_order() {
    const TEST: &str = "accept_from_any_listener_takes_the_first_ready_in_listed_order";
    let file = "accept-from-any-listener.scn";
    // Both listeners have a connection: listed first, s0 wins, not s1.
    edit_must_fail(TEST, file, "s7 = accept(s1|s0)", "s7 = accept(s0|s1)", 15);
    // Nothing ready and s0 (non-blocking) first: EAGAIN at once, not BLOCKS.
    edit_must_fail(TEST, file, "s9 = accept(s1|s0)", "s9 = accept(s0|s1)", 17);
    // Only s1 had one: accepting from s0 alone finds nothing.
    edit_must_fail(
        TEST,
        file,
        "s4 = accept(s0|s1) peer $P",
        "s4 = accept(s0) peer $P",
        10,
    );
}

#[test]
fn a_nonblocking_call_does_not_wait_and_leaves_the_socket_blocking() {
    const TEST: &str = "a_nonblocking_call_does_not_wait_and_leaves_the_socket_blocking";
    let file = "nonblocking-per-call.scn";
    // Without the option the same calls wait (BLOCKS) or complete the handshake (0).
    edit_must_fail(
        TEST,
        file,
        "s1 = accept(s0, nonblock)",
        "s1 = accept(s0)",
        4,
    );
    edit_must_fail(
        TEST,
        file,
        "connect(s2, 127.0.0.1:8080, nonblock)",
        "connect(s2, 127.0.0.1:8080)",
        6,
    );
    edit_must_fail(TEST, file, "recv(s3, 100, nonblock)", "recv(s3, 100)", 9);
    // With it, a call that blocks on the blocking socket does not.
    edit_must_fail(
        TEST,
        file,
        "s4 = accept(s0)",
        "s4 = accept(s0, nonblock)",
        11,
    );
}

#[test]
fn a_table_within_a_time_waits_that_long_and_no_longer() {
    const TEST: &str = "a_table_within_a_time_waits_that_long_and_no_longer";
    let file = "orphan-fin-wait-2-expires-within.scn";
    // Read once, right after the call: the orphan is still there.
    edit_must_fail(TEST, file, "    | within 2s\n", "", 9);
    // 300 ms is too short for a 1 s tcp_fin_timeout.
    edit_must_fail(TEST, file, "    | within 2s\n", "    | within 300ms\n", 9);
}

#[test]
fn a_call_within_a_time_waits_that_long_and_no_longer() {
    const TEST: &str = "a_call_within_a_time_waits_that_long_and_no_longer";
    let file = "connect-within-syn-timeout.scn";
    // Without `within=` the call is still blocked at the harness's usual bound.
    edit_must_fail(
        TEST,
        file,
        "connect(s2, 127.0.0.1:5000, within=5s)",
        "connect(s2, 127.0.0.1:5000)",
        7,
    );
    // 1 s is too short for the 3 s SYN timeout, and 300 ms for the resend at 1 s.
    edit_must_fail(
        TEST,
        file,
        "connect(s2, 127.0.0.1:5000, within=5s)",
        "connect(s2, 127.0.0.1:5000, within=1s)",
        7,
    );
    edit_must_fail(
        TEST,
        file,
        "connect(s3, 127.0.0.1:5000, within=2s)",
        "connect(s3, 127.0.0.1:5000, within=300ms)",
        11,
    );
}
