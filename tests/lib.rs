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
