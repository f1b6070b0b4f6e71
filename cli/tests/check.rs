//! `check` as an operator runs it: a tuning guide's `tcp_tw_reuse=1` changes something, and
//! `check` shows it and proves it on the kernel (it once said "no effect": the search met
//! TIME-WAIT only on loopback, where 1 and the default 2 agree). Needs the kernel's network
//! namespaces (root); skips with the reason otherwise, unless kernel tests are required.
#![cfg(target_os = "linux")]

use std::process::Command;

#[test]
fn tcp_tw_reuse_1_changes_a_connect_and_the_kernel_confirms_it() {
    if !tcpconform_harness::sandbox::kernel_or_skip("tcp_tw_reuse_1_changes_a_connect") {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_tcpconform"))
        .args([
            "check",
            "--sysctl",
            "net.ipv4.tcp_tw_reuse=1",
            "--cases",
            "50",
        ])
        .output()
        .expect("tcpconform runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let section = stdout
        .split("net.ipv4.tcp_tw_reuse=1:")
        .nth(1)
        .unwrap_or_else(|| panic!("no section for the setting:\n{stdout}"));
    assert!(
        section.contains("behaviour(s) change"),
        "tcp_tw_reuse=1 must show a change:\n{stdout}"
    );
    assert!(
        section.contains("0 with it (connect.tw_reuse)"),
        "the change is a connect() that takes a TIME-WAIT over:\n{stdout}"
    );
    assert!(
        section.contains("proven on the kernel"),
        "and the kernel confirms it:\n{stdout}"
    );
    assert!(!stdout.contains("no effect"), "{stdout}");
}
