//! The model on any scenario the parser accepts (`tcpconform predict`, no kernel): a report,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpconform_harness::{replay, scenario};
use tcpconform_model::Profile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(sc) = scenario::parse(text, None) else {
        return;
    };
    // Long scenarios only make the run slow, not more interesting.
    if sc.steps.len() > 64 {
        return;
    }
    let _ = replay::predict(&sc, Profile::LINUX_6_18);
});
