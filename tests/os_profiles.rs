//! The other operating systems, on the model alone (no kernel of theirs runs here):
//! `predict` of every scenario under `tests/scenarios/os/` (each names its `@profile` and cites
//! its source), and the portability diff between Linux and FreeBSD finding the known
//! differences, each as a short scenario.

use tcpconform_harness::config::CaseConfig;
use tcpconform_harness::diff::{self, DiffOptions};
use tcpconform_harness::{kernel, replay, sandbox, scenario};
use tcpconform_model::{Profile, RuleId};
use tcpconform_tests::repo_root;

fn os_scenarios() -> Vec<std::path::PathBuf> {
    let dir = repo_root().join("tests").join("scenarios").join("os");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "scn"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_os_scenario_names_another_os_and_holds_under_predict() {
    let files = os_scenarios();
    assert!(files.len() >= 3, "{files:?}");
    let mut failures = Vec::new();
    for path in files {
        let sc = scenario::parse_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let profile = sc
            .profile
            .unwrap_or_else(|| panic!("{}: no @profile", path.display()));
        assert!(
            !profile.is_checked_on_a_kernel(),
            "{}: tests/scenarios/os/ is for the other OSes",
            path.display()
        );
        let report = replay::predict(&sc, Profile::LINUX_6_18);
        if !report.passed() {
            failures.push(report.render(&path.display().to_string()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// On a FreeBSD or macOS host with a kernel backend, the scenarios written for that OS replay
/// on its kernel with the model in lock-step. (Not run by this project: no such host; CI's
/// FreeBSD and macOS workflows run it.)
#[test]
fn every_os_scenario_of_this_host_holds_on_its_kernel() {
    const TEST: &str = "every_os_scenario_of_this_host_holds_on_its_kernel";
    let Some(os) = sandbox::host_os() else {
        println!("SKIPPED: {TEST}: no profile of {}", std::env::consts::OS);
        return;
    };
    let mine: Vec<_> = os_scenarios()
        .into_iter()
        .map(|p| {
            let sc = scenario::parse_file(&p).unwrap_or_else(|e| panic!("{e}"));
            (p, sc)
        })
        .filter(|(_, sc)| sc.profile.is_some_and(|p| p.os == os))
        .collect();
    if mine.is_empty() {
        println!("SKIPPED: {TEST}: tests/scenarios/os/ has no scenario for {os}");
        return;
    }
    if !sandbox::kernel_or_skip(TEST) {
        return;
    }
    let profile = kernel::running_profile().expect("the running kernel has a version");
    let mut failures = Vec::new();
    for (path, sc) in mine {
        let report = replay::replay(&sc, profile).unwrap_or_else(|e| panic!("harness: {e}"));
        if !report.passed() {
            failures.push(report.render(&path.display().to_string()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_freebsd_scenario_cannot_be_replayed_on_linux() {
    let path =
        repo_root().join("tests/scenarios/os/freebsd-reuseaddr-specific-beside-wildcard.scn");
    let sc = scenario::parse_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let err = replay::replay(&sc, Profile::LINUX_6_18).expect_err("another OS is refused");
    assert!(err.to_string().contains("predict"), "{err}");
}

#[test]
fn diff_linux_freebsd_finds_the_known_differences_as_short_scenarios() {
    let left = CaseConfig::defaults(Profile::LINUX_6_18);
    let right = CaseConfig::defaults(Profile::FREEBSD_14);
    let options = DiffOptions {
        cases: 200,
        seed: 1,
        budget: std::time::Duration::from_secs(60),
        ..Default::default()
    };
    let report = diff::diff(&left, &right, &options);
    // (Linux's deciding rule, FreeBSD's) for each difference the issue lists.
    let known = [
        // SO_REUSEADDR lets a specific address bind beside a (listening) wildcard.
        (
            RuleId::BindReuseAddrOverListener,
            RuleId::BsdBindReuseExactOnly,
        ),
        // True duplicates need SO_REUSEPORT: SO_REUSEADDR on both is not enough.
        (RuleId::BindReuseAddrBoth, RuleId::BsdBindExactDuplicate),
        // SO_REUSEADDR on the new socket alone passes a TIME-WAIT.
        (
            RuleId::BindTimeWaitNeedsReuseAddrOnBoth,
            RuleId::BsdBindReuseExactOnly,
        ),
        // SO_REUSEPORT_LB exists only on FreeBSD.
        (RuleId::SetsockoptNotOnOs, RuleId::SetsockoptOk),
        // The orphaned FIN-WAIT-2: tcp_fin_timeout on Linux, tcp_maxidle (no fast recycle).
        (RuleId::FinWait2Expires, RuleId::SleepNothingDue),
    ];
    let found: Vec<(RuleId, RuleId)> = report
        .differences
        .iter()
        .map(|d| (d.left.rule, d.right.rule))
        .collect();
    for k in known {
        let d = report
            .differences
            .iter()
            .find(|d| (d.left.rule, d.right.rule) == k)
            .unwrap_or_else(|| panic!("{k:?} not found; found {found:?}"));
        assert!(d.ops.len() <= 12, "{k:?}: {} calls", d.ops.len());
    }
    // FreeBSD keeps no TIME-WAIT for a local peer (nolocaltimewait): a table difference.
    assert!(
        report
            .differences
            .iter()
            .any(|d| d.left.table.iter().any(|r| r.starts_with("TIME-WAIT"))
                && !d.right.table.iter().any(|r| r.starts_with("TIME-WAIT"))),
        "{found:?}"
    );
}

#[test]
fn time_wait_lasts_two_msl_on_the_bsds_and_tcptimedwaitdelay_on_windows() {
    // Sources: FreeBSD tcp_twstart() (2 * V_tcp_msl, msl 30 s); XNU add_to_time_wait()
    // (TCPTV_MSL 15 s); Windows "TIME-WAIT Delay" (TcpTimedWaitDelay, 240 s documented).
    let text = |profile: &str, sleep_s: u32| {
        format!(
            "@profile {profile}\n@hosts 2\n\
             s0 = socket(inet, host=b)\nbind(s0, 10.0.0.2:5000)\nlisten(s0)\n\
             s1 = socket(inet)\nbind(s1, 10.0.0.1:6000)\nconnect(s1, 10.0.0.2:5000)\n\
             s2 = accept(s0)\nshutdown(s1, SHUT_WR)\nclose(s2)\nsleep({sleep_s}s)\n"
        )
    };
    for (profile, life_s) in [("freebsd-14", 60), ("macos-15", 30), ("windows-11", 240)] {
        for (sleep_s, gone) in [(life_s - 1, false), (life_s + 1, true)] {
            let sc = scenario::parse(&text(profile, sleep_s), Some(profile)).expect("parses");
            let report = replay::predict(&sc, Profile::LINUX_6_18);
            assert!(report.passed(), "{}", report.render(profile));
            let last = report.run.steps.last().expect("ran");
            let tw = last
                .model_table
                .rows
                .iter()
                .any(|(r, _)| r.state == tcpconform_model::TcpState::TimeWait);
            assert_eq!(tw, !gone, "{profile} after {sleep_s} s");
        }
    }
}
