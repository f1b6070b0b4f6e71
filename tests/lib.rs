//! Shared helpers for tcpconform's integration tests.

use std::path::PathBuf;

/// The repository's root (the workspace directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Every hand-written scenario file under `tests/scenarios/`, sorted.
pub fn scenario_files() -> Vec<PathBuf> {
    let dir = repo_root().join("tests").join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "scn"))
        .collect();
    files.sort();
    files
}

/// A number from the environment, or `default`.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// How a pinned rule must show in a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pin {
    /// The rule decided the call's result (`Branch::rule`).
    Decides(tcpconform_model::RuleId),
    /// The rule acted during the call (`Branch::rules`): segment and timer rules act inside a
    /// call another rule decides.
    Applies(tcpconform_model::RuleId),
}

/// What is wrong with a run's last call, if anything: its result (`want`), and where the
/// pinned rule shows. `what` names the table entry in the messages ("row", "case").
pub fn check_last(
    report: &tcpconform_harness::replay::ScenarioReport,
    want: tcpconform_model::Outcome,
    pin: Pin,
    what: &str,
) -> Option<String> {
    let Some(last) = report.run.steps.last() else {
        return Some("the run stopped before its last call".into());
    };
    let mut problems = Vec::new();
    if last.observed.outcome != want {
        problems.push(format!(
            "the last call returned {}, the {what} expects {want}",
            last.observed.outcome
        ));
    }
    match pin {
        Pin::Decides(rule) if last.rule != rule => {
            problems.push(format!(
                "the last call was decided by {}, not {rule}",
                last.rule
            ));
        }
        Pin::Applies(rule) if !last.rules.contains(&rule) => {
            let applied: Vec<&str> = last.rules.iter().map(|r| r.id()).collect();
            problems.push(format!(
                "{rule} did not act in the last call (rules applied: {})",
                applied.join(", ")
            ));
        }
        _ => {}
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// Replays `scenario` on the kernel (`profile`) and checks its last call with [`check_last`].
///
/// A kernel that took another way the model allows (a timer edge met late on a loaded
/// machine) did nothing wrong, but a table pins the usual way: the scenario runs again, at
/// most three times in all. A divergence from the model is never run again. Returns what is
/// wrong with the last run, if anything, and its report; `name` labels the retries' lines.
pub fn replay_pinned(
    scenario: &tcpconform_harness::scenario::Scenario,
    profile: tcpconform_model::Profile,
    want: tcpconform_model::Outcome,
    pin: Pin,
    what: &str,
    name: &str,
) -> Result<
    (Option<String>, tcpconform_harness::replay::ScenarioReport),
    tcpconform_harness::error::HarnessError,
> {
    let mut attempt = 1;
    loop {
        let report = tcpconform_harness::replay::replay(scenario, profile)?;
        let problem = check_last(&report, want, pin, what);
        let held = problem.is_none() && report.passed();
        if held || report.divergences() > 0 || attempt == 3 {
            return Ok((problem, report));
        }
        println!("{name}: the kernel took another allowed way; again");
        attempt += 1;
    }
}
