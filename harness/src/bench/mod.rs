//! The benchmark: how fast the campaign runs, where its time goes, and how that compares with
//! the bare cost of what the kernel must do anyway.
//!
//! [`run`] generates `cases` random cases exactly as the campaign does (same strategy, same
//! seed) and runs each twice:
//!
//! 1. **full**: the campaign's path ([`crate::kernel::run_on_kernel`]'s): a sandbox
//!    ([`crate::sandbox::run_case`]), every op on the kernel, the settled socket table after
//!    each, and the model in lock-step. Time is split into generation, sandbox setup, the
//!    calls, observation (sock_diag dumps and settling), the model (lock-step comparison) and
//!    teardown.
//! 2. **bare**: what any test of these calls must pay: a thread in a fresh network namespace
//!    with `lo` up, the same calls through the same executor, the descriptors closed, the
//!    thread joined. No model, no observer, no settling (a `destroy` op opens the one
//!    `sock_diag` socket it needs).
//!
//! The ratio bare / full says how much of the harness's wall time is the kernel's own work.
//! The full pass makes each case's namespaces ahead, on a second thread, while the case
//! before runs ([`sandbox::on_case_thread`]); the bare pass makes them in line. The CPU
//! ratio counts both threads' work, so it shows what the overlap does not.

pub mod replay;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngSeed, TestRunner};
use serde::{Deserialize, Serialize};
use tcpconform_model::{Env, Host, Observed, Op, Outcome, Snapshot};

use crate::config::{CaseConfig, ConfigSpace};
use crate::error::HarnessError;
use crate::generate;
use crate::kernel::sandbox_spec;
use crate::lockstep::{self, LockStep, Run, System};
use crate::sandbox::{self, Case, SandboxSpec};
use crate::stopwatch;

/// What a benchmark runs.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// How many random cases.
    pub cases: u32,
    /// The generator's seed.
    pub seed: u64,
    /// Most ops in one case.
    pub max_len: usize,
    /// The configurations cases are drawn from (the campaign's default: generated sysctls,
    /// a quarter of the cases on two hosts).
    pub space: ConfigSpace,
}

/// Where the full harness's time went, summed over all cases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Phases {
    /// Generating the cases (the strategy, with the generator's model).
    #[serde(with = "crate::secs")]
    pub generate: Duration,
    /// Sandbox setup: namespaces, links, routes, sysctls, netlink sockets, the case thread.
    #[serde(with = "crate::secs")]
    pub setup: Duration,
    /// The calls themselves (syscalls, including bounded blocking waits).
    #[serde(with = "crate::secs")]
    pub calls: Duration,
    /// Of `calls`: the calls reported as `BLOCKS` (each waited the executor's bound).
    #[serde(with = "crate::secs")]
    pub blocked: Duration,
    /// Observation: sock_diag dumps and the waits of settling.
    #[serde(with = "crate::secs")]
    pub observe: Duration,
    /// The model in lock-step: branches, tables, comparison.
    #[serde(with = "crate::secs")]
    pub model: Duration,
    /// Teardown: closing, the orphan sweep, the thread's exit and join.
    #[serde(with = "crate::secs")]
    pub teardown: Duration,
}

impl Phases {
    /// The sum of the phases.
    pub fn total(&self) -> Duration {
        self.generate + self.setup + self.calls + self.observe + self.model + self.teardown
    }
}

/// Where the bare run's time went, summed over all cases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BarePhases {
    /// Thread, namespace(s), `lo` up.
    #[serde(with = "crate::secs")]
    pub setup: Duration,
    /// The calls.
    #[serde(with = "crate::secs")]
    pub calls: Duration,
    /// Closing, thread exit and join.
    #[serde(with = "crate::secs")]
    pub teardown: Duration,
}

impl BarePhases {
    /// The sum of the phases.
    pub fn total(&self) -> Duration {
        self.setup + self.calls + self.teardown
    }
}

/// Wall time, time on a CPU and time waiting for one (ready to run: the machine's other load)
/// of a pass's case threads. CPU time counts the thread's own work, in user space and in the
/// kernel, and in the full pass also that of the namespace maker that works ahead of it on the
/// other CPU ([`sandbox::on_case_thread`]); work the kernel defers to its own threads (freeing
/// namespaces) is not in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreadTimes {
    /// Wall time.
    #[serde(with = "crate::secs")]
    pub wall: Duration,
    /// On a CPU.
    #[serde(with = "crate::secs")]
    pub cpu: Duration,
    /// Ready, waiting for a CPU.
    #[serde(with = "crate::secs")]
    pub runqueue: Duration,
}

/// A benchmark's figures.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchReport {
    /// The seed.
    pub seed: u64,
    /// Cases run (each once in full, once bare).
    pub cases: u64,
    /// Calls per pass.
    pub calls: u64,
    /// Calls that blocked (`BLOCKS`) in the full pass.
    pub blocked_calls: u64,
    /// Dumps taken by settling in the full pass.
    pub dumps: u64,
    /// Wall time of the full pass (generation included).
    #[serde(with = "crate::secs")]
    pub full_wall: Duration,
    /// The full pass's case threads: CPU time and run-queue wait.
    pub full_thread: ThreadTimes,
    /// Where it went.
    pub full: Phases,
    /// Wall time of the bare pass.
    #[serde(with = "crate::secs")]
    pub bare_wall: Duration,
    /// The bare pass's case threads: CPU time and run-queue wait.
    pub bare_thread: ThreadTimes,
    /// Where it went.
    pub bare: BarePhases,
    /// Divergences seen in the full pass (the benchmark does not shrink them).
    pub divergences: u64,
    /// Finer spans of the full pass (setup, observation, teardown): total time and count.
    pub spans: Vec<(String, Duration, u64)>,
    /// The same for the bare pass.
    pub bare_spans: Vec<(String, Duration, u64)>,
}

impl BenchReport {
    /// Cases per second of the full harness.
    pub fn cases_per_sec(&self) -> f64 {
        self.cases as f64 / self.full_wall.as_secs_f64().max(1e-9)
    }

    /// Calls per second of the full harness.
    pub fn calls_per_sec(&self) -> f64 {
        self.calls as f64 / self.full_wall.as_secs_f64().max(1e-9)
    }

    /// Bare kernel time over full harness time (wall).
    pub fn ratio(&self) -> f64 {
        self.bare_wall.as_secs_f64() / self.full_wall.as_secs_f64().max(1e-9)
    }

    /// Bare kernel time over full harness time (CPU time of the case threads).
    pub fn cpu_ratio(&self) -> f64 {
        self.bare_thread.cpu.as_secs_f64() / self.full_thread.cpu.as_secs_f64().max(1e-9)
    }

    /// A one-screen summary.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let n = self.cases.max(1) as f64;
        let ms = |d: Duration| d.as_secs_f64() * 1e3 / n;
        let pct = |d: Duration, of: Duration| 100.0 * d.as_secs_f64() / of.as_secs_f64().max(1e-9);
        let secs = |d: Duration| d.as_secs_f64();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "tcpconform bench: {} cases, {} calls, seed {}\n",
            self.cases, self.calls, self.seed
        );
        let _ = writeln!(
            s,
            "{:<15}{:>9}{:>10}{:>10}{:>10}{:>14}",
            "", "wall", "cases/s", "calls/s", "CPU", "CPU wait"
        );
        for (name, t) in [
            ("full harness", &self.full_thread),
            ("bare kernel", &self.bare_thread),
        ] {
            let _ = writeln!(
                s,
                "{name:<15}{:>7.2} s{:>10.0}{:>10.0}{:>8.2} s{:>12.2} s",
                secs(t.wall),
                self.cases as f64 / secs(t.wall).max(1e-9),
                self.calls as f64 / secs(t.wall).max(1e-9),
                secs(t.cpu),
                secs(t.runqueue)
            );
        }
        let _ = writeln!(
            s,
            "ratio bare/full: wall {:.2}, CPU {:.2}\n",
            self.ratio(),
            self.cpu_ratio()
        );
        let w = self.full_wall;
        let _ = writeln!(s, "full harness, per case                   ms  % of wall");
        let kernel = self.full.setup + self.full.calls + self.full.teardown;
        for (name, d) in [
            ("generation (strategy, its model)", self.full.generate),
            ("sandbox setup", self.full.setup),
            ("calls (syscalls)", self.full.calls),
            ("observation (sock_diag, settling)", self.full.observe),
            ("model (lock-step comparison)", self.full.model),
            ("teardown", self.full.teardown),
            ("= kernel: setup + calls + teardown", kernel),
            (
                "unaccounted (bench loop, thread)",
                w.saturating_sub(self.full.total()),
            ),
        ] {
            let _ = writeln!(s, "  {name:<35}{:>7.3}{:>8.1}%", ms(d), pct(d, w));
        }
        for (name, d, count) in &self.spans {
            let _ = writeln!(
                s,
                "    {:<33}{:>7.3}{:>8.1}%  {count} x {:.0} us",
                name,
                ms(*d),
                pct(*d, w),
                d.as_secs_f64() * 1e6 / (*count).max(1) as f64
            );
        }
        let b = self.bare_wall;
        let _ = writeln!(s, "bare kernel, per case");
        for (name, d) in [
            ("setup (namespace, lo up)", self.bare.setup),
            ("calls (syscalls)", self.bare.calls),
            ("teardown", self.bare.teardown),
        ] {
            let _ = writeln!(s, "  {name:<35}{:>7.3}{:>8.1}%", ms(d), pct(d, b));
        }
        let _ = writeln!(
            s,
            "\nBLOCKS calls {} ({:.1} ms waiting)  settling dumps {} ({:.2} per call)  divergences {}",
            self.blocked_calls,
            self.full.blocked.as_secs_f64() * 1e3,
            self.dumps,
            self.dumps as f64 / self.calls.max(1) as f64,
            self.divergences
        );
        s
    }
}

/// The kernel as a lock-step [`System`] that times its calls and its observations.
struct Timed<'a> {
    case: &'a mut Case,
    calls: Duration,
    blocked: Duration,
    blocked_calls: u64,
    observe: Duration,
    dumps: u64,
}

impl System for Timed<'_> {
    type Error = HarnessError;

    fn exec(&mut self, op: &Op, env: &Env) -> Result<Observed, HarnessError> {
        let start = Instant::now();
        let r = self.case.apply(op, env);
        let took = start.elapsed();
        self.calls += took;
        if r.as_ref().is_ok_and(|o| o.outcome == Outcome::Blocks) {
            self.blocked += took;
            self.blocked_calls += 1;
        }
        r
    }

    fn table(&mut self) -> Result<Snapshot, HarnessError> {
        let start = Instant::now();
        let s = self.case.settled_snapshot();
        self.observe += start.elapsed();
        let s = s?;
        self.dumps += u64::from(s.dumps);
        Ok(s.snapshot)
    }
}

/// Runs one case the campaign's way, timing its phases into `phases`.
fn full_case(
    config: &CaseConfig,
    ops: &[Op],
    phases: &mut Phases,
    report: &mut BenchReport,
) -> Result<Run, HarnessError> {
    let addresses: &[(Host, IpAddr)] = &[];
    let spec = sandbox_spec(config, addresses);
    let model = config.model();
    let started = Instant::now();
    let ((run, calls, blocked, blocked_calls, observe, dumps, closure), t) =
        sandbox::run_case_timed(&spec, move |case| {
            let start = Instant::now();
            let mut system = Timed {
                case,
                calls: Duration::ZERO,
                blocked: Duration::ZERO,
                blocked_calls: 0,
                observe: Duration::ZERO,
                dumps: 0,
            };
            let run = lockstep::run_with(&mut system, LockStep::new(model), ops);
            (
                run,
                system.calls,
                system.blocked,
                system.blocked_calls,
                system.observe,
                system.dumps,
                start.elapsed(),
            )
        })?;
    let wall = started.elapsed();
    phases.setup += t.setup;
    phases.calls += calls;
    phases.blocked += blocked;
    phases.observe += observe;
    phases.model += closure.saturating_sub(calls + observe);
    phases.teardown += wall.saturating_sub(t.setup + closure);
    report.blocked_calls += blocked_calls;
    report.dumps += dumps;
    Ok(run)
}

/// Runs `ops` bare: a fresh namespace, the calls, nothing else.
fn bare_case(config: &CaseConfig, ops: &[Op], phases: &mut BarePhases) -> Result<(), HarnessError> {
    let needs_diag = ops
        .iter()
        .any(|op| matches!(op, Op::Destroy { .. } | Op::PeerReboots { .. }));
    let spec = sandbox_spec(config, &[]);
    let t = sandbox::run_bare(&spec, needs_diag, |case| {
        let mut env = Env::new();
        for op in ops {
            let observed = case.apply(op, &env)?;
            lockstep::capture(op, &observed, &mut env);
        }
        Ok::<(), HarnessError>(())
    })?;
    let (r, t) = t;
    r?;
    phases.setup += t.setup;
    phases.calls += t.run;
    phases.teardown += t.teardown;
    Ok(())
}

/// How many cases run in a row in one pass before the other pass runs as many: both passes
/// then see the same load from the rest of the machine.
const CHUNK: u32 = 50;

/// Time on a CPU and time waiting for one, of the calling thread
/// (`/proc/thread-self/schedstat`), when the kernel reports it.
fn sched_times() -> Option<(Duration, Duration)> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let mut f = text.split_whitespace().map(|n| n.parse::<u64>().ok());
    let on_cpu = f.next()??;
    let waiting = f.next()??;
    Some((Duration::from_nanos(on_cpu), Duration::from_nanos(waiting)))
}

/// Runs `f` on a case thread ([`sandbox::on_case_thread`]), adding its wall time, CPU time
/// and run-queue wait to `times`.
fn on_case_thread<R: Send>(
    ehash_buckets: Option<u32>,
    times: &mut ThreadTimes,
    f: impl FnOnce() -> R + Send,
) -> Result<R, HarnessError> {
    let start = Instant::now();
    let makers_before = sandbox::makers_cpu_time();
    let (r, sched) = sandbox::on_case_thread(ehash_buckets, || {
        let before = sched_times();
        let r = f();
        let after = sched_times();
        (r, before.zip(after))
    })?;
    times.wall += start.elapsed();
    // The namespace maker's work is the case thread's, done ahead on the other CPU.
    times.cpu += sandbox::makers_cpu_time().saturating_sub(makers_before);
    if let Some(((c0, w0), (c1, w1))) = sched {
        times.cpu += c1.saturating_sub(c0);
        times.runqueue += w1.saturating_sub(w0);
    }
    Ok(r)
}

/// Runs the benchmark. `progress` is called with the pass (`"full"`, `"bare"`) and the cases
/// done in it.
///
/// The passes alternate in chunks of `CHUNK` (50) cases, each chunk on a case thread of its own
/// ([`sandbox::on_case_thread`], as the campaign runs): the full pass's with the private hash
/// tables of a case, the bare pass's with none.
pub fn run(
    options: &BenchOptions,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<BenchReport, HarnessError> {
    let strategy = generate::cases(options.space.clone(), options.max_len);
    let mut runner = TestRunner::new(Config {
        rng_seed: RngSeed::Fixed(options.seed),
        failure_persistence: None,
        ..Config::default()
    });
    let mut report = BenchReport {
        seed: options.seed,
        cases: 0,
        calls: 0,
        blocked_calls: 0,
        dumps: 0,
        full_wall: Duration::ZERO,
        full_thread: ThreadTimes::default(),
        full: Phases::default(),
        bare_wall: Duration::ZERO,
        bare_thread: ThreadTimes::default(),
        bare: BarePhases::default(),
        divergences: 0,
        spans: Vec::new(),
        bare_spans: Vec::new(),
    };
    let ehash = SandboxSpec::default().ehash_buckets;
    let mut full = Phases::default();
    let mut bare = BarePhases::default();
    let mut full_spans = BTreeMap::new();
    let mut bare_spans = BTreeMap::new();
    let mut full_thread = ThreadTimes::default();
    let mut bare_thread = ThreadTimes::default();
    let mut done = 0;
    while done < options.cases {
        let n = CHUNK.min(options.cases - done);
        stopwatch::start();
        let chunk = on_case_thread(ehash, &mut full_thread, || {
            let mut chunk: Vec<(CaseConfig, Vec<Op>)> = Vec::new();
            for i in 0..n {
                let g = Instant::now();
                let (state, ops, _) = strategy
                    .new_tree(&mut runner)
                    .map_err(|e| HarnessError::InvalidOp {
                        op: "generate a case".into(),
                        reason: e.to_string(),
                    })?
                    .current();
                full.generate += g.elapsed();
                let run = full_case(&state.config, &ops, &mut full, &mut report)?;
                if let Some(e) = &run.harness_error {
                    return Err(HarnessError::InvalidOp {
                        op: "a benchmark case".into(),
                        reason: e.clone(),
                    });
                }
                if run.divergence().is_some() {
                    report.divergences += 1;
                }
                report.calls += ops.len() as u64;
                chunk.push((state.config, ops));
                progress("full", u64::from(done + i + 1));
            }
            Ok(chunk)
        })??;
        merge(&mut full_spans, stopwatch::take());
        stopwatch::start();
        on_case_thread(None, &mut bare_thread, || -> Result<(), HarnessError> {
            for (i, (config, ops)) in chunk.iter().enumerate() {
                bare_case(config, ops, &mut bare)?;
                progress("bare", u64::from(done) + i as u64 + 1);
            }
            Ok(())
        })??;
        merge(&mut bare_spans, stopwatch::take());
        done += n;
    }
    report.cases = u64::from(done);
    report.full_wall = full_thread.wall;
    report.bare_wall = bare_thread.wall;
    report.full_thread = full_thread;
    report.bare_thread = bare_thread;
    report.full = full;
    report.bare = bare;
    report.spans = spans(full_spans);
    report.bare_spans = spans(bare_spans);
    Ok(report)
}

fn merge(
    into: &mut BTreeMap<&'static str, (Duration, u64)>,
    from: BTreeMap<&'static str, (Duration, u64)>,
) {
    for (k, (d, n)) in from {
        let e = into.entry(k).or_default();
        e.0 += d;
        e.1 += n;
    }
}

fn spans(map: BTreeMap<&'static str, (Duration, u64)>) -> Vec<(String, Duration, u64)> {
    map.into_iter()
        .map(|(k, (d, n))| (k.to_owned(), d, n))
        .collect()
}
