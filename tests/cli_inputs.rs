//! What the CLI reads besides scenarios — sysctl.conf files (`check --file`), `--sysctl
//! KEY=VALUE` arguments, profile names — on random input: an error or a value, never a panic.
//! (The cargo-fuzz target `cli_inputs` in `fuzz/` does the same with coverage guidance.)

use proptest::prelude::*;
use tcpconform_harness::{check, config};
use tcpconform_model::{Profile, Sysctl, SysctlKey};

/// Text near the real syntax: known keys (with `/` or `.`), odd spacing, comments, `-`
/// prefixes, good and bad values.
fn conf_line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        proptest::sample::select(SysctlKey::ALL.to_vec()).prop_map(|k| k.name().to_owned()),
        proptest::sample::select(SysctlKey::ALL.to_vec()).prop_map(|k| k.name().replace('.', "/")),
        "[a-z_./]{0,30}",
    ];
    let value = prop_oneof![
        "-?[0-9]{1,12}",
        "[0-9]{1,6}[ \t]+[0-9]{1,6}",
        "[0-9]{1,6}(-[0-9]{1,6})?(,[0-9]{1,6}(-[0-9]{1,6})?){0,3}",
        "[ -~]{0,20}",
    ];
    prop_oneof![
        6 => (proptest::option::of("-"), key, "[ \t]{0,2}", "[ \t]{0,2}", value)
            .prop_map(|(dash, k, a, b, v)| format!("{}{k}{a}={b}{v}", dash.unwrap_or_default())),
        1 => "[#;][ -~]{0,20}",
        1 => Just(String::new()),
        1 => "[ -~]{0,30}",
    ]
}

fn conf() -> impl Strategy<Value = String> {
    proptest::collection::vec(conf_line(), 0..8).prop_map(|l| l.join("\n"))
}

fn resolve_everywhere(written: &[check::Written]) {
    for &(_, profile) in Profile::KNOWN {
        for exists in [true, false] {
            if let Ok(r) = check::resolve(written.to_vec(), profile, &|_| exists) {
                let _ = config::validate(&r.config);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn sysctl_conf_files_never_panic(text in conf()) {
        if let Ok(written) = check::parse_sysctl_conf(&text, "random.conf") {
            resolve_everywhere(&written);
        }
    }

    #[test]
    fn any_text_as_a_sysctl_conf_never_panics(bytes in any::<Vec<u8>>()) {
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(written) = check::parse_sysctl_conf(&text, "random.conf") {
            resolve_everywhere(&written);
        }
    }

    #[test]
    fn sysctl_arguments_and_profile_names_never_panic(arg in prop_oneof![conf_line(), "[ -~]{0,40}"]) {
        let _ = arg.parse::<Sysctl>();
        let _ = arg.parse::<Profile>();
        if let Ok(w) = check::parse_arg(&arg) {
            resolve_everywhere(&[w]);
        }
    }
}

#[test]
fn every_known_profile_name_parses_and_bad_ones_say_why() {
    for (name, profile) in Profile::KNOWN {
        assert_eq!(name.parse::<Profile>().as_ref(), Ok(profile));
    }
    for bad in [
        "",
        "linux-",
        "linux-6",
        "linux-x.y",
        "bsd-14",
        "linux-6.18.1",
    ] {
        let e = bad.parse::<Profile>().expect_err(bad);
        assert!(!e.is_empty(), "{bad}: an empty message");
    }
}
