//! `export`: the hand-written scenarios as standalone C and Python reproducers, compiled
//! (`cc -Wall -Wextra -Werror`) and run on this kernel, must agree with `replay` of the same
//! file: the same calls fail their expected results, a table they find wrong is one `replay`
//! finds wrong too, and they pass exactly when nothing failed. Kernel tests start with
//! `kernel_or_skip`.
#![cfg(target_os = "linux")]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use tcpconform_harness::export::{self, Language};
use tcpconform_harness::scenario::{self, Scenario};
use tcpconform_harness::{kernel, replay, sandbox};
use tcpconform_model::Outcome;

/// At least this many of `tests/scenarios/*.scn` must be exportable.
const MIN_EXPORTABLE: usize = 15;

// --- helpers -------------------------------------------------------------------------------

mod common;
use common::{scenario_dir, scenario_files};

fn load(path: &Path) -> (Scenario, String) {
    let text = std::fs::read_to_string(path).expect("readable scenario");
    let sc = scenario::parse(&text, Some(&path.display().to_string())).expect("it parses");
    (sc, text)
}

/// A fresh directory for this test's programs.
fn work_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tcpconform-export-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// Whether `program --version` runs; otherwise prints why the test skips (or panics where
/// kernel tests are required).
fn tool_or_skip(test: &str, program: &str) -> bool {
    if Command::new(program).arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        !sandbox::require_kernel(),
        "{test}: `{program}` is needed to build and run the exported programs"
    );
    println!("SKIPPED: {test}: no `{program}` on this machine");
    false
}

/// The two programs of a scenario, written and built in `dir`.
struct Built {
    c: PathBuf,
    python: PathBuf,
}

fn build(dir: &Path, name: &str, sc: &Scenario, text: Option<&str>) -> Result<Built, String> {
    let c_src = dir.join(format!("{name}.c"));
    let c = dir.join(name);
    let python = dir.join(format!("{name}.py"));
    let write = |path: &Path, language| -> Result<(), String> {
        let program = export::export(sc, text, language).map_err(|e| e.to_string())?;
        std::fs::write(path, program).map_err(|e| format!("writing {}: {e}", path.display()))
    };
    write(&c_src, Language::C)?;
    write(&python, Language::Python)?;
    let out = Command::new("cc")
        .args(["-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&c)
        .arg(&c_src)
        .output()
        .map_err(|e| format!("running cc: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{name}.c does not compile cleanly:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(Built { c, python })
}

/// What a program printed and how it exited.
#[derive(Debug)]
struct Tap {
    code: i32,
    stdout: String,
    /// Calls whose result was not one the file expects.
    outcomes: BTreeSet<usize>,
    /// Calls after which a descriptor showed a row the file does not expect.
    tables: BTreeSet<usize>,
}

impl Tap {
    fn run(cmd: &mut Command) -> Result<Self, String> {
        let out = cmd.output().map_err(|e| format!("running {cmd:?}: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut tap = Self {
            code: out.status.code().unwrap_or(-1),
            stdout,
            outcomes: BTreeSet::new(),
            tables: BTreeSet::new(),
        };
        for line in tap.stdout.lines() {
            let Some(rest) = line.strip_prefix("not ok ") else {
                continue;
            };
            let n: usize = rest
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("a TAP line without a number: {line}"))?;
            if rest.contains(": expected ") {
                tap.outcomes.insert(n);
            }
            if rest.contains("table:") {
                tap.tables.insert(n);
            }
        }
        Ok(tap)
    }

    fn skip_reason(&self) -> Option<&str> {
        (self.code == 4).then(|| {
            self.stdout
                .lines()
                .find_map(|l| l.split_once("# SKIP ").map(|(_, r)| r))
                .unwrap_or("(no reason printed)")
        })
    }
}

/// How one file went: `Ok(note)` (agreed, or skipped with a note), `Err(what disagreed)`.
fn check_file(
    dir: &Path,
    path: &Path,
    profile: tcpconform_model::Profile,
) -> Result<String, String> {
    let name = path.file_stem().expect("a file name").to_string_lossy();
    let (sc, text) = load(path);
    let built = build(dir, &name, &sc, Some(&text))?;
    let report = replay::replay(&sc, profile).map_err(|e| format!("replay could not run: {e}"))?;
    if let Some(e) = &report.run.harness_error {
        return Ok(format!("{name}: replay stopped ({e}); not compared"));
    }
    let (tables, outcomes): (Vec<_>, Vec<_>) = report
        .unmet
        .iter()
        .partition(|u| u.message.starts_with("after "));
    let want_outcomes: BTreeSet<usize> = outcomes.iter().map(|u| u.index).collect();
    let replay_tables: BTreeSet<usize> = tables.iter().map(|u| u.index).collect();
    let mut notes = Vec::new();
    for (language, mut cmd) in [
        ("C", Command::new(&built.c)),
        ("Python", {
            let mut c = Command::new("python3");
            c.arg(&built.python);
            c
        }),
    ] {
        let tap = Tap::run(&mut cmd)?;
        let show = || format!("{name} ({language}) printed:\n{}", tap.stdout);
        if let Some(reason) = tap.skip_reason() {
            if sandbox::require_kernel() {
                return Err(format!("{name} ({language}) skipped: {reason}"));
            }
            notes.push(format!("{name} ({language}) skipped: {reason}"));
            continue;
        }
        let failed = !tap.outcomes.is_empty() || !tap.tables.is_empty();
        if tap.code != i32::from(failed) {
            return Err(format!("exit status {}; {}", tap.code, show()));
        }
        if tap.outcomes != want_outcomes {
            return Err(format!(
                "calls with unmet results: {:?}, replay: {:?}; {}\nreplay:\n{}",
                tap.outcomes,
                want_outcomes,
                show(),
                report.render(&name)
            ));
        }
        if !tap.tables.is_subset(&replay_tables) {
            return Err(format!(
                "tables found wrong after calls {:?}, replay only after {:?}; {}\nreplay:\n{}",
                tap.tables,
                replay_tables,
                show(),
                report.render(&name)
            ));
        }
        if report.passed() && failed {
            return Err(format!("replay passes, the program fails; {}", show()));
        }
    }
    Ok(notes.join("\n"))
}

// --- tests ---------------------------------------------------------------------------------

#[test]
fn scenarios_of_two_hosts_and_fixture_ops_are_refused() {
    let (two_hosts, _) = load(&scenario_dir().join("tw-reuse-2-is-loopback-only.scn"));
    let r = export::exportable(&two_hosts).unwrap_err();
    assert!(r.reason.contains("@hosts 2"), "{r}");
    let (destroy, _) = load(&scenario_dir().join("destroy-ends-timewait.scn"));
    let r = export::exportable(&destroy).unwrap_err();
    assert!(r.line > 0 && r.reason.contains("destroy("), "{r}");
    assert!(export::export(&destroy, None, Language::Python).is_err());
}

#[test]
fn every_exportable_scenario_compiles_runs_and_agrees_with_replay() {
    const TEST: &str = "every_exportable_scenario_compiles_runs_and_agrees_with_replay";
    if !sandbox::kernel_or_skip(TEST) || !tool_or_skip(TEST, "cc") || !tool_or_skip(TEST, "python3")
    {
        return;
    }
    let started = Instant::now();
    let profile = kernel::running_profile().expect("the running kernel has a version");
    let files = scenario_files();
    let (exportable, refused): (Vec<&PathBuf>, Vec<&PathBuf>) = files
        .iter()
        .partition(|p| export::exportable(&load(p).0).is_ok());
    assert!(
        exportable.len() >= MIN_EXPORTABLE,
        "only {} of {} scenario files export (refused: {refused:?})",
        exportable.len(),
        files.len()
    );
    let dir = work_dir("agree");
    let queue = Mutex::new(exportable.iter());
    let results = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let next = queue.lock().expect("queue").next();
                    let Some(path) = next else { break };
                    let r = check_file(&dir, path, profile);
                    results
                        .lock()
                        .expect("results")
                        .push((path.to_path_buf(), r));
                }
            });
        }
    });
    let results = results.into_inner().expect("results");
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(p, r)| r.as_ref().err().map(|e| format!("{}: {e}", p.display())))
        .collect();
    for (_, r) in &results {
        if let Ok(note) = r
            && !note.is_empty()
        {
            println!("{note}");
        }
    }
    println!(
        "{} of {} scenario files export; their C and Python programs ran in {:.1} s",
        exportable.len(),
        files.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} file(s) disagree with replay:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn flipped_expectations_fail_both_programs_and_name_the_calls() {
    const TEST: &str = "flipped_expectations_fail_both_programs_and_name_the_calls";
    if !sandbox::kernel_or_skip(TEST) || !tool_or_skip(TEST, "cc") || !tool_or_skip(TEST, "python3")
    {
        return;
    }
    let (mut sc, _) = load(&scenario_dir().join("timewait-blocks-plain-rebind.scn"));
    // The rebind over the TIME-WAIT is EADDRINUSE; say it is 0.
    let rebind = sc
        .steps
        .iter()
        .position(|s| s.op.to_string() == "bind(s3, 127.0.0.1:8080)")
        .expect("the scenario rebinds 127.0.0.1:8080");
    assert_eq!(
        sc.steps[rebind].expect.as_deref(),
        Some(&[Outcome::Err(tcpconform_model::Errno::EADDRINUSE).into()][..])
    );
    sc.steps[rebind].expect = Some(vec![Outcome::Ok.into()]);
    // The last table has s3 on 127.0.0.2:8080; say it is on 127.0.0.3.
    let last = sc.steps.last_mut().expect("steps");
    let row = last
        .table
        .as_mut()
        .and_then(|t| {
            t.iter_mut()
                .find(|r| r.state == tcpconform_model::TcpState::Closed)
        })
        .expect("the last table has s3's UNCONN row");
    row.local.ip = "127.0.0.3".parse().expect("an address");
    let last_index = sc.steps.len();
    let dir = work_dir("flipped");
    let built = build(&dir, "flipped", &sc, None).expect("the programs build");
    let outcome_line = format!(
        "not ok {} - bind(s3, 127.0.0.1:8080): expected 0, got -1 EADDRINUSE",
        rebind + 1
    );
    let table_line = format!(
        "not ok {last_index} - bind(s3, 127.0.0.2:8080) = 0: table: unexpected row UNCONN \
         127.0.0.2:8080 * (s3)"
    );
    for mut cmd in [Command::new(&built.c), {
        let mut c = Command::new("python3");
        c.arg(&built.python);
        c
    }] {
        let tap = Tap::run(&mut cmd).expect("the program runs");
        if let Some(reason) = tap.skip_reason() {
            assert!(!sandbox::require_kernel(), "{TEST}: skipped: {reason}");
            println!("SKIPPED: {TEST}: {reason}");
            return;
        }
        assert_eq!(tap.code, 1, "{}", tap.stdout);
        assert!(tap.stdout.contains(&outcome_line), "{}", tap.stdout);
        assert!(tap.stdout.contains(&table_line), "{}", tap.stdout);
        assert_eq!(tap.outcomes, BTreeSet::from([rebind + 1]), "{}", tap.stdout);
        assert_eq!(tap.tables, BTreeSet::from([last_index]), "{}", tap.stdout);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `accept(s0|s1)` in both languages: poll, then accept from the first readable listener in
/// listed order, or from the first without waiting.
const ACCEPT_ANY: &str = "\
# accept() from the first ready listener in listed order.
@title accept(s0|s1) exported
@profile linux-6.18
s0 = socket(inet, nonblock) = 0
bind(s0, 127.0.0.1:8080) = 0
listen(s0) = 0
s1 = socket(inet) = 0
bind(s1, 127.0.0.1:8081) = 0
listen(s1) = 0
s2 = accept(s0|s1) = -1 EAGAIN
s3 = socket(inet) = 0
connect(s3, 127.0.0.1:8081) local $C = 0
s4 = socket(inet) = 0
connect(s4, 127.0.0.1:8080) local $D = 0
s5 = accept(s1|s0) peer $C = 0
    | LISTEN 127.0.0.1:8080 * q=1
    | LISTEN 127.0.0.1:8081 *
    | ESTAB 127.0.0.1:$C 127.0.0.1:8081
    | ESTAB 127.0.0.1:8081 127.0.0.1:$C
    | ESTAB 127.0.0.1:$D 127.0.0.1:8080
    | ESTAB 127.0.0.1:8080 127.0.0.1:$D
s6 = accept(s1|s0) peer $D = 0
s7 = accept(s1|s0) = BLOCKS
";

#[test]
fn accept_from_any_listener_exports_and_agrees_with_replay() {
    const TEST: &str = "accept_from_any_listener_exports_and_agrees_with_replay";
    if !sandbox::kernel_or_skip(TEST) || !tool_or_skip(TEST, "cc") || !tool_or_skip(TEST, "python3")
    {
        return;
    }
    let profile = kernel::running_profile().expect("the running kernel has a version");
    let dir = work_dir("accept-any");
    // As written it passes; with the listeners of s5 swapped, s0 is first and wins: the table
    // (s0's queue) and nothing else fails, in replay and in both programs alike.
    let swapped = ACCEPT_ANY.replacen("s5 = accept(s1|s0)", "s5 = accept(s0|s1)", 1);
    for (name, text, passes) in [
        ("as-written", ACCEPT_ANY, true),
        ("swapped", &swapped, false),
    ] {
        let path = dir.join(format!("{name}.scn"));
        std::fs::write(&path, text).expect("writable");
        let sc = load(&path).0;
        let report = replay::replay(&sc, profile).expect("replay runs");
        assert_eq!(report.passed(), passes, "{}", report.render(name));
        let note = check_file(&dir, &path, profile).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(note.is_empty(), "{name}: {note}");
    }
}
