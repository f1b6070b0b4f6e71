//! Helpers shared by the harness's integration tests.

use std::path::{Path, PathBuf};

/// `tests/scenarios/`, the hand-written scenarios.
pub(crate) fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/scenarios")
}

/// Every `*.scn` of [`scenario_dir`], sorted.
pub(crate) fn scenario_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenario_dir())
        .expect("tests/scenarios exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "scn"))
        .collect();
    files.sort();
    files
}
