//! Every rule of the model, pinned by a short scenario.
//!
//! [`ROWS`] is a table: each row is a scenario in the scenario syntax (`docs/scenario-format.md`)
//! whose **last** call carries exactly one expected result, the rule that must account for it,
//! and how:
//! - [`Check::Decides`]: the rule is the one that decided the last call (`Branch::rule` of
//!   `Model::step`, and of the branch that agreed with the kernel);
//! - [`Check::Applies`]: the rule acted during the last call (`Branch::rules`): rules about
//!   segments and timers (`tcp.*`, `timewait.*`, `timer.*`) act inside a call another rule
//!   decides.
//!
//! Every row runs on the model (`predict`). Rows in [`Lane::Kernel`] are also replayed on the
//! running kernel in a fresh namespace, with the model in lock-step: the kernel must return the
//! expected result, agree with the model on every call and table, and the branch that agreed
//! must name the row's rule. Rows in [`Lane::ModelOnly`] say why they cannot run on the kernel
//! in the fast lane.
//!
//! The rows are in `tests/rules/`, one file per section of the table (`bind.rs`, `connect.rs`,
//! …, `other_os.rs`); [`ROWS`] puts them together in order. This file holds what a row is and
//! the tests. `every_rule_is_pinned_by_a_test` fails when a rule is added without a row.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::LazyLock;

use tcpconform_harness::replay;
use tcpconform_harness::scenario::{self, Scenario};
use tcpconform_harness::{kernel, sandbox};
use tcpconform_model::{Outcome, Profile, RuleId, Variant};
use tcpconform_tests::{Pin, check_last, replay_pinned};

/// How a row's rule must show in the last call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    /// The rule decided the call's result (`Branch::rule`).
    Decides,
    /// The rule acted during the call (`Branch::rules`).
    Applies,
}

/// Where a row runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lane {
    /// On the model and on the running kernel.
    Kernel,
    /// On the model only, for the reason given.
    ModelOnly(&'static str),
}

/// One row of the table.
struct Row {
    rule: RuleId,
    check: Check,
    lane: Lane,
    /// The scenario; its last call has exactly one expected result (`= …`).
    scn: &'static str,
}

const fn decides(rule: RuleId, scn: &'static str) -> Row {
    Row {
        rule,
        check: Check::Decides,
        lane: Lane::Kernel,
        scn,
    }
}

const fn applies(rule: RuleId, scn: &'static str) -> Row {
    Row {
        rule,
        check: Check::Applies,
        lane: Lane::Kernel,
        scn,
    }
}

impl Row {
    /// How the row's rule must show in its last call.
    fn pin(&self) -> Pin {
        match self.check {
            Check::Decides => Pin::Decides(self.rule),
            Check::Applies => Pin::Applies(self.rule),
        }
    }

    /// The row runs on the model only, for this reason.
    const fn model_only(self, why: &'static str) -> Self {
        Self {
            lane: Lane::ModelOnly(why),
            ..self
        }
    }
}

/// Why the reuseport lookup row is model-only: which member the lookup picks depends on the
/// namespace's hash salt, so a kernel replay gives ENOENT as often as 0 (the campaign checks
/// both against the model).
const HASH_SALTED: &str = "the member a reuseport lookup picks depends on the namespace's salt";

/// Why the time rows are model-only: the kernel's TIME-WAIT is 60 s (`TCP_TIMEWAIT_LEN`, not
/// tunable), too slow for the fast lane; the model's clock jumps.
const SIXTY_SECONDS: &str = "a 60 s TIME-WAIT (TCP_TIMEWAIT_LEN) is too slow for the fast lane";

/// Why 6.1 rows are model-only: the fast lane has one kernel, the running one.
const OTHER_KERNEL: &str = "the rule is Linux 6.1's; the fast lane runs the host's kernel";

/// Why the other OSes' rows are model-only: they are written from FreeBSD's and XNU's source and
/// Microsoft's documentation (each rule names its source); this host runs Linux.
const OTHER_OS: &str =
    "the rule is another OS's, read from its source or documentation; this host runs Linux";

// The table's sections, one file of `rules/` each.
#[path = "rules/accept_send_recv.rs"]
mod accept_send_recv;
#[path = "rules/bind.rs"]
mod bind;
#[path = "rules/close.rs"]
mod close;
#[path = "rules/connect.rs"]
mod connect;
#[path = "rules/fixtures.rs"]
mod fixtures;
#[path = "rules/listen.rs"]
mod listen;
#[path = "rules/other_os.rs"]
mod other_os;
#[path = "rules/segments.rs"]
mod segments;
#[path = "rules/shutdown.rs"]
mod shutdown;
#[path = "rules/sockets.rs"]
mod sockets;
#[path = "rules/timers.rs"]
mod timers;
#[path = "rules/timewait.rs"]
mod timewait;

/// The table: every section's rows, in the table's order; a row's number (`row N` in a
/// failure) counts across the sections.
static ROWS: LazyLock<Vec<&'static Row>> = LazyLock::new(|| {
    [
        sockets::ROWS,
        bind::ROWS,
        listen::ROWS,
        connect::ROWS,
        accept_send_recv::ROWS,
        shutdown::ROWS,
        close::ROWS,
        segments::ROWS,
        timewait::ROWS,
        fixtures::ROWS,
        timers::ROWS,
        other_os::ROWS,
    ]
    .into_iter()
    .flatten()
    .collect()
});

/// How long a scenario sleeps in all.
fn slept_ms(sc: &Scenario) -> u64 {
    sc.steps
        .iter()
        .map(|step| match step.op {
            tcpconform_model::Op::Sleep { ms } => ms,
            _ => 0,
        })
        .sum()
}

/// A row's scenario, parsed; panics with the row's name on a malformed row.
fn parse_row(i: usize, row: &Row) -> Scenario {
    let sc = scenario::parse(row.scn, Some(&name(i, row)))
        .unwrap_or_else(|e| panic!("{}: malformed row: {e}", name(i, row)));
    let last = sc
        .steps
        .last()
        .unwrap_or_else(|| panic!("{}: no calls", name(i, row)));
    assert!(
        last.expect
            .as_ref()
            .is_some_and(|e| e.len() == 1 && e[0].exact().is_some()),
        "{}: the last call must have exactly one expected result",
        name(i, row)
    );
    sc
}

/// `row N (rule.id)`: how failures name a row.
fn name(i: usize, row: &Row) -> String {
    format!("row {i} ({})", row.rule)
}

/// The expected result of the last call.
fn last_expected(sc: &Scenario) -> Outcome {
    sc.steps
        .last()
        .and_then(|s| s.expect.as_ref())
        .and_then(|e| e[0].exact())
        .expect("checked by parse_row")
}

#[test]
fn every_rule_is_pinned_by_a_test() {
    let pinned: BTreeSet<RuleId> = ROWS.iter().map(|r| r.rule).collect();
    let missing: Vec<&str> = RuleId::ALL
        .iter()
        .filter(|r| !pinned.contains(r))
        .map(|r| r.id())
        .collect();
    assert!(
        missing.is_empty(),
        "rules with no row in tests/rules.rs: {}",
        missing.join(", ")
    );
}

/// Every value of every behaviour variant is pinned by a row (`@variant NAME=VALUE`), so that
/// the model's answer under each value is checked, and on a kernel with that value, the
/// kernel's.
#[test]
fn every_variant_value_is_pinned_by_a_row() {
    let mut missing = Vec::new();
    for v in Variant::ALL {
        for value in [0, 1] {
            let pinned = ROWS.iter().enumerate().any(|(i, row)| {
                parse_row(i, row)
                    .variants
                    .iter()
                    .any(|s| s.variant == *v && s.value == value)
            });
            if !pinned {
                missing.push(format!("{v}={}", v.spec().values[usize::from(value)]));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "variant values with no row: {}",
        missing.join(", ")
    );
}

#[test]
fn every_row_is_well_formed_and_model_only_rows_say_why() {
    for (i, row) in ROWS.iter().enumerate() {
        parse_row(i, row);
        if let Lane::ModelOnly(why) = row.lane {
            assert!(
                !why.trim().is_empty(),
                "{}: a model-only row says why",
                name(i, row)
            );
        }
    }
}

#[test]
fn every_row_holds_on_the_model() {
    let mut failures = String::new();
    for (i, row) in ROWS.iter().enumerate() {
        let mut sc = parse_row(i, row);
        let want = last_expected(&sc);
        // The model's own answer to the last call (`Model::step`, its first branch), not the
        // branch that happens to give the expected result.
        if let Some(last) = sc.steps.last_mut() {
            last.expect = None;
        }
        let report = replay::predict(&sc, Profile::LINUX_6_18);
        let problem = check_last(&report, want, row.pin(), "row");
        // The refusal's own row passes by being refused (predict reports it as unmet).
        let refused_as_pinned = row.rule == RuleId::NotModelled && report.unmet.len() == 1;
        if problem.is_some() || (!report.passed() && !refused_as_pinned) {
            let _ = writeln!(
                failures,
                "{}: {}\n{}",
                name(i, row),
                problem.unwrap_or_default(),
                report.render(&name(i, row))
            );
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

#[test]
fn every_kernel_row_holds_on_the_kernel_and_agrees_with_the_model() {
    if !sandbox::on_os_or_skip(
        "every_kernel_row_holds_on_the_kernel_and_agrees_with_the_model",
        tcpconform_model::profile::Os::Linux,
        "the rule table's kernel rows are Linux's",
    ) {
        return;
    }
    if !sandbox::kernel_or_skip("every_kernel_row_holds_on_the_kernel_and_agrees_with_the_model") {
        return;
    }
    let profile = kernel::running_profile().expect("the running kernel has a version");
    let started = std::time::Instant::now();
    // Rows are independent namespaces. The timer rows mostly sleep: each runs on a thread of
    // its own beside the others, which run one after another on one more thread (run side by
    // side, their millisecond timer edges would meet a loaded machine).
    type Rows<'a> = Vec<(usize, &'a Row)>;
    // Rows pinned to variant values this kernel does not have are for another kernel: the
    // model checks them (every_row_holds_on_the_model), this kernel cannot.
    let (here, elsewhere): (Rows, Rows) = ROWS
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, row)| row.lane == Lane::Kernel)
        .partition(|(i, row)| parse_row(*i, row).is_for(profile));
    for (i, row) in &elsewhere {
        println!(
            "{}: written for another kernel ({}), model only here",
            name(*i, row),
            parse_row(*i, row)
                .variants
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let (sleepy, quick): (Rows, Rows) = here
        .into_iter()
        .partition(|(i, row)| slept_ms(&parse_row(*i, row)) >= 1000);
    let results = std::sync::Mutex::new(Vec::new());
    let run = |i: usize, row: &Row| {
        let sc = parse_row(i, row);
        let want = last_expected(&sc);
        let outcome = replay_pinned(&sc, profile, want, row.pin(), "row", &name(i, row));
        results.lock().unwrap().push((i, outcome));
    };
    std::thread::scope(|scope| {
        for &(i, row) in &sleepy {
            scope.spawn(move || run(i, row));
        }
        scope.spawn(|| {
            for &(i, row) in &quick {
                run(i, row);
            }
        });
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    let ran = results.len();
    let mut failures = String::new();
    for (i, outcome) in results {
        let row = ROWS[i];
        let (problem, report) = outcome
            .unwrap_or_else(|e| panic!("{}: the harness could not run it: {e}", name(i, row)));
        if problem.is_some() || !report.passed() {
            let _ = writeln!(
                failures,
                "{}: {}\n{}",
                name(i, row),
                problem.unwrap_or_default(),
                report.render(&name(i, row))
            );
        }
    }
    println!(
        "{ran} of {} rows replayed on {profile} in {:.1}s",
        ROWS.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{failures}");
}
