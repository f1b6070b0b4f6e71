//! Hygiene: a campaign leaves nothing behind — no descriptor, thread, child process or network
//! namespace of this process, no orphaned socket keeping a namespace alive, and the host's
//! sysctls as they were.
//!
//! Each check is a before/after comparison ([`Held`], [`host_sysctls`], [`orphans`]); the
//! `the_*_detector_*` tests make each kind of leak on purpose and check that the comparison
//! reports it, so that a check that could never fail would fail there.
//!
//! The tests hold one lock: a count of this process's threads and descriptors is only
//! meaningful while no other test of the binary runs.
//!
//! Linux only: the checks read `/proc` and count network namespaces. The FreeBSD and macOS
//! backends have no such checks yet (on paper: jails left behind, `jls`; on macOS, the host's
//! table after a campaign).
#![cfg(target_os = "linux")]

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::OwnedFd;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tcpconform_harness::campaign::{self, CampaignOptions, CampaignOutcome};
use tcpconform_harness::config::{CaseConfig, ConfigSpace};
use tcpconform_harness::{kernel, replay, sandbox, scenario};
use tcpconform_model::SysctlKey;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// What this process holds.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Held {
    /// Open descriptors: number → what `/proc/self/fd/N` links to.
    fds: BTreeMap<u32, String>,
    /// Threads (task ids).
    threads: BTreeSet<u32>,
    /// Child processes (pids), zombies included.
    children: BTreeSet<u32>,
    /// Network namespaces a thread is in or a descriptor refers to (`net:[inode]`).
    netns: BTreeSet<String>,
}

fn read_link(path: &str) -> Option<String> {
    std::fs::read_link(path)
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

fn numbered_entries(dir: &str) -> Vec<u32> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {dir}: {e}"))
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

impl Held {
    fn now() -> Self {
        let me = std::process::id();
        let fds: BTreeMap<u32, String> = numbered_entries("/proc/self/fd")
            .into_iter()
            .filter_map(|n| Some((n, read_link(&format!("/proc/self/fd/{n}"))?)))
            // The directory being listed.
            .filter(|(_, target)| !target.ends_with("/fd"))
            .collect();
        let threads: BTreeSet<u32> = numbered_entries("/proc/self/task").into_iter().collect();
        let children = numbered_entries("/proc")
            .into_iter()
            .filter(|pid| {
                // Field 4 of /proc/PID/stat, after the parenthesised command name.
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|s| {
                        let after = s.rsplit_once(')')?.1.to_owned();
                        after.split_whitespace().nth(1)?.parse::<u32>().ok()
                    })
                    == Some(me)
            })
            .collect();
        let mut netns: BTreeSet<String> = threads
            .iter()
            .filter_map(|t| read_link(&format!("/proc/self/task/{t}/ns/net")))
            .collect();
        netns.extend(fds.values().filter(|t| t.starts_with("net:[")).cloned());
        Self {
            fds,
            threads,
            children,
            netns,
        }
    }

    /// What `self` (taken later) holds that `before` did not.
    fn leaks_since(&self, before: &Self) -> Vec<String> {
        let mut leaks = Vec::new();
        for (n, target) in &self.fds {
            if before.fds.get(n) != Some(target) {
                leaks.push(format!("descriptor {n} -> {target}"));
            }
        }
        for t in self.threads.difference(&before.threads) {
            let name =
                std::fs::read_to_string(format!("/proc/self/task/{t}/comm")).unwrap_or_default();
            if is_test_runner_thread(name.trim()) {
                continue;
            }
            leaks.push(format!("thread {t} ({})", name.trim()));
        }
        for c in self.children.difference(&before.children) {
            leaks.push(format!("child process {c}"));
        }
        for ns in self.netns.difference(&before.netns) {
            leaks.push(format!("network namespace {ns}"));
        }
        leaks
    }
}

/// The tests of this file: the test runner starts a thread for each, named after it, whenever
/// one of its threads is free, so another test's thread may appear while a test runs (waiting
/// for [`lock`]). Such a thread is not the harness's.
const TESTS: &[&str] = &[
    "a_campaign_leaves_no_descriptor_thread_child_or_namespace_behind",
    "a_campaign_leaves_the_hosts_sysctls_as_they_were",
    "orphans_of_a_case_do_not_outlive_it",
    "the_leak_detector_sees_a_leaked_descriptor_thread_child_and_namespace",
    "the_sysctl_detector_sees_a_changed_value",
];

/// Whether `comm` (a thread name, cut to 15 bytes by the kernel) is a test runner's thread.
fn is_test_runner_thread(comm: &str) -> bool {
    !comm.is_empty() && TESTS.iter().any(|t| t.get(..15).unwrap_or(t) == comm)
}

/// Waits (at most 5 s) until nothing is held that was not before; returns what still is.
fn settle_leaks(before: &Held) -> Vec<String> {
    let start = Instant::now();
    loop {
        let leaks = Held::now().leaks_since(before);
        if leaks.is_empty() || start.elapsed() > Duration::from_secs(5) {
            return leaks;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every sysctl a case may write, as the calling thread's namespace shows it: the model's keys
/// and the harness's own plumbing (the private hash table and the values derived from it).
fn host_sysctls() -> BTreeMap<String, String> {
    let mut paths: Vec<String> = SysctlKey::ALL.iter().map(|k| k.proc_path()).collect();
    for key in [
        "net.ipv4.tcp_child_ehash_entries",
        "net.ipv4.tcp_max_tw_buckets",
        "net.ipv4.tcp_max_syn_backlog",
    ] {
        paths.push(format!("/proc/sys/{}", key.replace('.', "/")));
    }
    paths
        .into_iter()
        .filter_map(|p| Some((p.clone(), std::fs::read_to_string(&p).ok()?)))
        .collect()
}

fn sysctl_changes(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<String> {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| format!("{k}: {:?} -> {:?}", before.get(k), after.get(k)))
        .collect()
}

/// TCP sockets no descriptor holds, in every namespace of the machine (`orphan` of
/// `/proc/net/sockstat` is a global count). An orphan that retransmits to a peer that no longer
/// answers keeps its namespace alive for minutes after the case.
fn orphans() -> u64 {
    let text = std::fs::read_to_string("/proc/net/sockstat").expect("reading /proc/net/sockstat");
    text.lines()
        .find_map(|l| l.strip_prefix("TCP: "))
        .and_then(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.iter()
                .position(|w| *w == "orphan")
                .and_then(|i| f.get(i + 1)?.parse().ok())
        })
        .expect("an orphan count in /proc/net/sockstat")
}

/// A campaign over the default configurations (generated sysctls, a quarter of the cases on
/// two hosts, sleeps).
fn campaign(cases: u32, seed: u64) {
    let profile = kernel::running_profile().expect("kernel version");
    let space = ConfigSpace::Generated {
        base: CaseConfig::defaults(profile),
        two_hosts: true,
    };
    let report = campaign::run(&CampaignOptions::new(space, cases, seed), &|_| {});
    // A divergence is the campaign test's business; here only that the cases ran.
    assert!(
        !matches!(report.outcome, CampaignOutcome::HarnessFailed(_)),
        "{:?}",
        report.outcome
    );
    assert!(report.cases > 0);
}

/// A case whose end of a connection is orphaned while retransmitting to a peer that vanished
/// (every segment toward it dropped by an nftables rule, which the harness adds by running
/// `nft`): without the teardown's `SOCK_DESTROY` it would outlive the case for minutes.
const ORPHAN_TO_A_VANISHED_PEER: &str = "\
s0 = socket(inet)
bind(s0, 127.0.0.1:5000)
listen(s0)
s1 = socket(inet)
connect(s1, 127.0.0.1:5000)
s2 = accept(s0)
peer_vanishes(s2)
send(s1, 5)
close(s1)
";

fn nft_available() -> bool {
    ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"]
        .iter()
        .any(|p| std::path::Path::new(p).exists())
}

#[test]
fn a_campaign_leaves_no_descriptor_thread_child_or_namespace_behind() {
    let _one = lock();
    if !sandbox::kernel_or_skip("a_campaign_leaves_no_descriptor_thread_child_or_namespace_behind")
    {
        return;
    }
    // Warm up what lives for the whole process (the probe's result, lazily opened files).
    campaign(5, 1);
    let before = Held::now();
    campaign(300, 2);
    if nft_available() {
        let sc = scenario::parse(ORPHAN_TO_A_VANISHED_PEER, None).expect("parses");
        let profile = kernel::running_profile().expect("kernel version");
        replay::replay(&sc, profile).expect("the scenario runs");
    }
    let leaks = settle_leaks(&before);
    assert!(leaks.is_empty(), "left behind: {leaks:#?}");
}

#[test]
fn a_campaign_leaves_the_hosts_sysctls_as_they_were() {
    let _one = lock();
    if !sandbox::kernel_or_skip("a_campaign_leaves_the_hosts_sysctls_as_they_were") {
        return;
    }
    let before = host_sysctls();
    assert!(before.len() > 10, "too few sysctls readable: {before:?}");
    // Generated configurations write most keys; the campaign also writes the plumbing.
    campaign(300, 3);
    let changes = sysctl_changes(&before, &host_sysctls());
    assert!(changes.is_empty(), "host sysctls changed: {changes:#?}");
}

#[test]
fn orphans_of_a_case_do_not_outlive_it() {
    let _one = lock();
    if !sandbox::kernel_or_skip("orphans_of_a_case_do_not_outlive_it") {
        return;
    }
    if !nft_available() {
        println!("SKIPPED: orphans_of_a_case_do_not_outlive_it: no nft binary");
        return;
    }
    let sc = scenario::parse(ORPHAN_TO_A_VANISHED_PEER, None).expect("parses");
    let profile = kernel::running_profile().expect("kernel version");
    // Other programs' orphans come and go within milliseconds on loopback; ours would stay.
    let baseline = orphans();
    const N: u64 = 10;
    for _ in 0..N {
        replay::replay(&sc, profile).expect("the scenario runs");
    }
    let start = Instant::now();
    let mut now = orphans();
    while now >= baseline + N && start.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(50));
        now = orphans();
    }
    assert!(
        now < baseline + N,
        "{N} cases each orphaning a socket toward a vanished peer: orphans {baseline} -> {now}"
    );
}

// ---------------------------------------------------------------------------------------------
// The detectors detect.

#[test]
fn the_leak_detector_sees_a_leaked_descriptor_thread_child_and_namespace() {
    let _one = lock();
    let before = Held::now();
    let file: OwnedFd = std::fs::File::open("/dev/null").expect("opens").into();
    let (release, parked) = std::sync::mpsc::channel::<()>();
    let (entered, in_namespace) = std::sync::mpsc::channel::<bool>();
    let thread = std::thread::Builder::new()
        .name("leaky".into())
        .spawn(move || {
            let ok = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).is_ok();
            entered.send(ok).expect("sends");
            let _ = parked.recv();
        })
        .expect("spawns");
    let namespace_made = in_namespace.recv().expect("the thread reports");
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawns sleep");
    let leaks = Held::now().leaks_since(&before);
    child.kill().expect("kills sleep");
    child.wait().expect("reaps sleep");
    release.send(()).expect("releases the thread");
    thread.join().expect("joins");
    drop(file);
    let has = |what: &str| leaks.iter().any(|l| l.starts_with(what));
    assert!(has("descriptor"), "{leaks:?}");
    assert!(has("thread"), "{leaks:?}");
    assert!(has("child process"), "{leaks:?}");
    if namespace_made {
        assert!(has("network namespace"), "{leaks:?}");
    }
    let left = settle_leaks(&before);
    assert!(left.is_empty(), "still held after the clean-up: {left:?}");
}

#[test]
fn the_sysctl_detector_sees_a_changed_value() {
    let _one = lock();
    if !sandbox::kernel_or_skip("the_sysctl_detector_sees_a_changed_value") {
        return;
    }
    // In a namespace of its own: the detector reads the calling thread's namespace, so it can
    // be shown a change without touching the host.
    let changes = std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
        let before = host_sysctls();
        let key = SysctlKey::TcpTwReuse.proc_path();
        let old = before
            .get(&key)
            .expect("tcp_tw_reuse is readable")
            .trim()
            .to_owned();
        let new = if old == "0" { "1" } else { "0" };
        std::fs::write(&key, new).expect("writes in the scratch namespace");
        sysctl_changes(&before, &host_sysctls())
    })
    .join()
    .expect("joins");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(changes[0].contains("tcp_tw_reuse"), "{changes:?}");
}
