//! The scenario parser on any text: an error or a scenario, never a panic; a scenario prints
//! to text and JSON that parse back to the same scenario.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpconform_harness::scenario::{self, Scenario};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = scenario::parse_op(text);
    let _ = Scenario::from_json(text, Some("fuzz.json"));
    let Ok(sc) = scenario::parse(text, Some("fuzz.scn")) else {
        return;
    };
    let printed = sc.to_text();
    let again = scenario::parse(&printed, Some("printed.scn"))
        .unwrap_or_else(|e| panic!("a printed scenario does not parse: {e}\n{printed}"));
    assert_eq!(sc.steps.len(), again.steps.len(), "{printed}");
    assert_eq!(again.to_text(), printed, "printing is not stable");
    let json = sc.to_json();
    let back = Scenario::from_json(&json, Some("printed.json"))
        .unwrap_or_else(|e| panic!("the JSON of a scenario does not parse: {e}\n{json}"));
    assert_eq!(back.to_text(), printed);
});
