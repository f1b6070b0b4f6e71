//! The hand-written scenarios (`tests/scenarios/`) and the reference document
//! (`docs/scenario-format.md`): every file parses, states its intent and round-trips, every
//! example of the document is valid, and the document lists every file.

use std::path::Path;

use tcpconform_harness::scenario::{Scenario, parse, parse_file};
use tcpconform_model::Op;

use super::common::scenario_files;
use super::without_lines;

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
