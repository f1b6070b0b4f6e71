//! gVisor as a second stack under test, driven through the CLI as a user would drive it:
//! a bounded campaign at a fixed seed judged against `tests/baselines/gvisor.toml`, and every
//! finding of `docs/findings/gvisor.md` replayed (it fails in gVisor every time and holds on
//! Linux) and exported as a C program (which fails in gVisor and passes on Linux).
//!
//! Needs root and `runsc` (`ci/runsc.sh` fetches it; `ci/setup.sh` runs that). Without them the
//! tests skip and say why, unless `CI=true`, where a missing runsc is a failure.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ is in the workspace")
        .to_path_buf()
}

fn tcpconform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tcpconform"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("tcpconform runs")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Whether the effective uid is 0 (`/proc/self/status`, `Uid:` real, effective, …).
fn effective_uid_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// `runsc`, or `None` after saying why the test skips (a failure under `CI=true`).
fn runsc_or_skip(test: &str) -> Option<PathBuf> {
    let why = if !effective_uid_is_root() {
        "needs root (runsc and its sandboxes)".to_owned()
    } else {
        match tcpconform_harness::gvisor::runsc() {
            Ok(p) => return Some(p),
            Err(e) => e,
        }
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: gVisor is required under CI=true: {why}");
    }
    eprintln!("SKIP {test}: {why}");
    None
}

/// The finding scenarios of `docs/findings/gvisor/` (`by-chance/`: the ones a program cannot
/// export, whose replays fail in gVisor all but by chance).
fn findings(sub: &str) -> Vec<PathBuf> {
    let dir = repo().join("docs/findings/gvisor").join(sub);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "scn"))
        .collect();
    files.sort();
    files
}

/// Processes whose command line names `runsc` (sandboxes this test may have left).
fn runsc_processes() -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains("runsc") && cmd.contains("tcpconform") {
                found.push(cmd);
            }
        }
    }
    found
}

#[test]
fn gvisor_differs_from_linux_only_as_the_baseline_and_the_findings_say() {
    let test = "gvisor_differs_from_linux_only_as_the_baseline_and_the_findings_say";
    if runsc_or_skip(test).is_none() {
        return;
    }
    let before = runsc_processes();

    // The CI campaign: fixed seed, bounded, judged against the committed baseline.
    let junit = std::env::temp_dir().join(format!("tcpconform-gvisor-{}.xml", std::process::id()));
    let out = tcpconform(&[
        "run",
        "--target",
        "gvisor",
        "--cases",
        "300",
        "--seed",
        "1",
        "--baseline",
        "tests/baselines/gvisor.toml",
        "--junit",
        junit.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("known to the baseline"),
        "the campaign found the baseline's differences:\n{stdout}"
    );
    let xml = std::fs::read_to_string(&junit).expect("the JUnit report was written");
    assert!(xml.contains("<testsuite"), "{xml}");
    let _ = std::fs::remove_file(&junit);

    // Every finding fails in gVisor, every time, and holds on Linux.
    let files = findings("");
    assert!(files.len() >= 10, "the findings have their scenarios");
    let by_chance = findings("by-chance");
    let names: Vec<&str> = files
        .iter()
        .map(|p| p.to_str().expect("utf-8 path"))
        .collect();
    let all: Vec<&str> = files
        .iter()
        .chain(&by_chance)
        .map(|p| p.to_str().expect("utf-8 path"))
        .collect();
    let mut args = vec!["replay", "--target", "gvisor", "--repeat", "3"];
    args.extend(&all);
    let out = tcpconform(&args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    for f in &all {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{f}:")))
            .unwrap_or_else(|| panic!("no verdict for {f}:\n{}", text(&out)));
        assert!(
            !line.contains("PASS"),
            "{f} should fail in gVisor every time: {line}"
        );
    }
    let mut args = vec!["replay"];
    args.extend(&all);
    let out = tcpconform(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "every finding holds on Linux: {}",
        text(&out)
    );

    // Every finding, exported as a C program, fails in gVisor and passes on Linux.
    let runsc = runsc_or_skip(test).expect("found above");
    let dir = std::env::temp_dir().join(format!("tcpconform-gvisor-c-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    for f in &names {
        let stem = Path::new(f)
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a name");
        let source = dir.join(format!("{stem}.c"));
        let program = dir.join(stem);
        let out = tcpconform(&["export", f, "--c", "-o", source.to_str().expect("utf-8")]);
        assert_eq!(out.status.code(), Some(0), "export {f}: {}", text(&out));
        let out = Command::new("cc")
            .args(["-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&program)
            .arg(&source)
            .output()
            .expect("cc runs");
        assert!(out.status.success(), "cc {f}: {}", text(&out));
        let on_linux = Command::new(&program).output().expect("the program runs");
        assert_eq!(
            on_linux.status.code(),
            Some(0),
            "{f} as C passes on Linux: {}",
            text(&on_linux)
        );
        let in_gvisor = Command::new(&runsc)
            .args(["--network=none", "--platform=systrap", "do"])
            .arg(&program)
            .output()
            .expect("runsc runs");
        assert_eq!(
            in_gvisor.status.code(),
            Some(1),
            "{f} as C fails in gVisor: {}",
            text(&in_gvisor)
        );
        assert!(
            String::from_utf8_lossy(&in_gvisor.stdout).contains("not ok"),
            "{f}: the failing call is named: {}",
            text(&in_gvisor)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);

    // Hygiene: no sandbox is left behind.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let after: Vec<String> = runsc_processes()
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert!(after.is_empty(), "sandboxes left behind: {after:#?}");
}
