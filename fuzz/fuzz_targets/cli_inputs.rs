//! What the CLI reads besides scenarios, on any text: sysctl.conf files (`check --file`),
//! `--sysctl KEY=VALUE` arguments, profile names, and their resolution against the model
//! (`check`/`diff`/`run --sysctl`): an error or a value, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpconform_harness::{check, config};
use tcpconform_model::{Profile, Sysctl};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = text.parse::<Profile>();
    for line in text.lines() {
        let _ = line.parse::<Sysctl>();
        let _ = line.parse::<Profile>();
        if let Ok(w) = check::parse_arg(line) {
            let _ = check::resolve(vec![w], Profile::LINUX_6_18, &|_| true);
        }
    }
    if let Ok(written) = check::parse_sysctl_conf(text, "fuzz.conf") {
        for &(_, profile) in Profile::KNOWN {
            for exists in [true, false] {
                if let Ok(r) = check::resolve(written.clone(), profile, &|_| exists) {
                    let _ = config::validate(&r.config);
                }
            }
        }
    }
});
