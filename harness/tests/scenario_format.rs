//! The scenario file format: parsing, printing, validation, JSON and table matching, and the
//! hand-written scenarios in `tests/scenarios/`.
//!
//! One file of `scenario_format/` per topic: the hand-written scenarios and the reference
//! document, the syntax, errors, tables, port assertions, the forms of a single call, and the
//! properties (proptest). This file holds the helpers they share.

use std::net::{IpAddr, SocketAddr};

use tcpconform_harness::scenario::{RowPattern, Scenario, parse};
use tcpconform_model::{Host, Row, RowInfo, TcpState};

// --- helpers -------------------------------------------------------------------------------

mod common;

fn without_lines(mut s: Scenario) -> Scenario {
    for step in &mut s.steps {
        step.line = 0;
    }
    s
}

#[track_caller]
fn parse_ok(text: &str) -> Scenario {
    match parse(text, Some("t.scn")) {
        Ok(s) => s,
        Err(e) => panic!("{e}\n--- input:\n{text}"),
    }
}

#[track_caller]
fn parse_err(text: &str) -> String {
    match parse(text, Some("t.scn")) {
        Ok(s) => panic!("parsed, but should not have:\n{text}\n--- as:\n{s:#?}"),
        Err(e) => e.to_string(),
    }
}

fn v4(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn row(state: TcpState, local: &str, peer: Option<&str>, queue: u32) -> (Row, RowInfo) {
    let addr = |s: &str| s.parse::<SocketAddr>().expect("test socket address");
    (
        Row {
            host: Host::A,
            state,
            local: addr(local),
            peer: peer.map(addr),
            queue,
        },
        RowInfo::default(),
    )
}

fn pattern(text: &str) -> RowPattern {
    let s = parse_ok(&format!("s0 = socket(inet)\n| {text}\n"));
    s.steps[0].table.as_ref().expect("a table")[0].clone()
}

#[path = "scenario_format/call_forms.rs"]
mod call_forms;
#[path = "scenario_format/errors.rs"]
mod errors;
#[path = "scenario_format/hand_written.rs"]
mod hand_written;
#[path = "scenario_format/port_assertions.rs"]
mod port_assertions;
#[path = "scenario_format/properties.rs"]
mod properties;
#[path = "scenario_format/syntax.rs"]
mod syntax;
#[path = "scenario_format/tables.rs"]
mod tables;
