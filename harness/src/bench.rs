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
use crate::sandbox::{self, Case};
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
    /// The configuration of every case.
    pub config: CaseConfig,
}

/// Where the full harness's time went, summed over all cases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Phases {
    /// Generating the cases (the strategy, with the generator's model).
    pub generate: Duration,
    /// Sandbox setup: namespaces, links, routes, sysctls, netlink sockets, the case thread.
    pub setup: Duration,
    /// The calls themselves (syscalls, including bounded blocking waits).
    pub calls: Duration,
    /// Of `calls`: the calls reported as `BLOCKS` (each waited the executor's bound).
    pub blocked: Duration,
    /// Observation: sock_diag dumps and the waits of settling.
    pub observe: Duration,
    /// The model in lock-step: branches, tables, comparison.
    pub model: Duration,
    /// Teardown: closing, the orphan sweep, the thread's exit and join.
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
    pub setup: Duration,
    /// The calls.
    pub calls: Duration,
    /// Closing, thread exit and join.
    pub teardown: Duration,
}

impl BarePhases {
    /// The sum of the phases.
    pub fn total(&self) -> Duration {
        self.setup + self.calls + self.teardown
    }
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
    pub full_wall: Duration,
    /// Where it went.
    pub full: Phases,
    /// Wall time of the bare pass.
    pub bare_wall: Duration,
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

    /// Bare kernel time over full harness time.
    pub fn ratio(&self) -> f64 {
        self.bare_wall.as_secs_f64() / self.full_wall.as_secs_f64().max(1e-9)
    }

    /// A one-screen summary.
    pub fn render(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let per_case = |d: Duration| ms(d) / self.cases.max(1) as f64;
        let pct = |d: Duration, of: Duration| 100.0 * d.as_secs_f64() / of.as_secs_f64().max(1e-9);
        let mut s = String::new();
        s.push_str(&format!(
            "tcpconform bench: {} cases, {} calls, seed {}\n\n",
            self.cases, self.calls, self.seed
        ));
        s.push_str(&format!(
            "full harness  {:>8.2} s   {:>7.0} cases/s  {:>7.0} calls/s\n",
            self.full_wall.as_secs_f64(),
            self.cases_per_sec(),
            self.calls_per_sec()
        ));
        s.push_str(&format!(
            "bare kernel   {:>8.2} s   {:>7.0} cases/s  {:>7.0} calls/s\n",
            self.bare_wall.as_secs_f64(),
            self.cases as f64 / self.bare_wall.as_secs_f64().max(1e-9),
            self.calls as f64 / self.bare_wall.as_secs_f64().max(1e-9),
        ));
        s.push_str(&format!(
            "ratio bare/full  {:.2}   (the share of the harness's wall time the kernel needs anyway)\n\n",
            self.ratio()
        ));
        s.push_str("where the full harness's time goes      ms/case    share\n");
        let w = self.full_wall;
        let kernel = self.full.setup + self.full.calls + self.full.teardown;
        let rows = [
            ("  generation (strategy + gen. model)", self.full.generate),
            ("  sandbox setup (namespaces, routes…)", self.full.setup),
            ("  calls (syscalls)", self.full.calls),
            ("    of which BLOCKS waits", self.full.blocked),
            ("  observation (sock_diag, settling)", self.full.observe),
            ("  model (lock-step comparison)", self.full.model),
            ("  teardown (close, sweep, join)", self.full.teardown),
            ("  kernel in all (setup+calls+teardown)", kernel),
            ("  unaccounted", w.saturating_sub(self.full.total())),
        ];
        for (name, d) in rows {
            s.push_str(&format!(
                "{name:<40}{:>8.3}   {:>5.1}%\n",
                per_case(d),
                pct(d, w)
            ));
        }
        s.push_str("  finer spans\n");
        for (name, d, n) in &self.spans {
            s.push_str(&format!(
                "    {name:<36}{:>8.3}   {:>5.1}%   ({n}x, {:.1} us each)\n",
                per_case(*d),
                pct(*d, w),
                d.as_secs_f64() * 1e6 / (*n).max(1) as f64
            ));
        }
        s.push_str("\nwhere the bare run's time goes          ms/case    share\n");
        for (name, d) in [
            ("  setup (thread, namespace, lo up)", self.bare.setup),
            ("  calls (syscalls)", self.bare.calls),
            ("  teardown (close, join)", self.bare.teardown),
        ] {
            s.push_str(&format!(
                "{name:<40}{:>8.3}   {:>5.1}%\n",
                per_case(d),
                pct(d, self.bare_wall)
            ));
        }
        for (name, d, n) in &self.bare_spans {
            s.push_str(&format!(
                "    {name:<36}{:>8.3}   {:>5.1}%   ({n}x, {:.1} us each)\n",
                per_case(*d),
                pct(*d, self.bare_wall),
                d.as_secs_f64() * 1e6 / (*n).max(1) as f64
            ));
        }
        s.push_str(&format!(
            "\nBLOCKS calls {}   settling dumps {} ({:.1} per call)   divergences {}\n",
            self.blocked_calls,
            self.dumps,
            self.dumps as f64 / self.calls.max(1) as f64,
            self.divergences
        ));
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
    let needs_diag = ops.iter().any(|op| matches!(op, Op::Destroy { .. }));
    let t = sandbox::run_bare(config.two_hosts, needs_diag, |case| {
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

/// Runs the benchmark. `progress` is called with the pass (`"full"`, `"bare"`) and the cases
/// done in it.
pub fn run(
    options: &BenchOptions,
    progress: &dyn Fn(&str, u64),
) -> Result<BenchReport, HarnessError> {
    let strategy = generate::cases(ConfigSpace::Fixed(options.config.clone()), options.max_len);
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
        full: Phases::default(),
        bare_wall: Duration::ZERO,
        bare: BarePhases::default(),
        divergences: 0,
        spans: Vec::new(),
        bare_spans: Vec::new(),
    };
    stopwatch::start();
    let mut full = Phases::default();
    let mut cases: Vec<(CaseConfig, Vec<Op>)> = Vec::new();
    let start = Instant::now();
    for i in 0..options.cases {
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
        cases.push((state.config, ops));
        progress("full", u64::from(i) + 1);
    }
    report.full_wall = start.elapsed();
    report.spans = spans(stopwatch::take());
    stopwatch::start();
    report.full = full;
    report.cases = cases.len() as u64;
    let start = Instant::now();
    let mut bare = BarePhases::default();
    for (i, (config, ops)) in cases.iter().enumerate() {
        bare_case(config, ops, &mut bare)?;
        progress("bare", i as u64 + 1);
    }
    report.bare_wall = start.elapsed();
    report.bare_spans = spans(stopwatch::take());
    report.bare = bare;
    Ok(report)
}

fn spans(
    map: std::collections::BTreeMap<&'static str, (Duration, u64)>,
) -> Vec<(String, Duration, u64)> {
    map.into_iter()
        .map(|(k, (d, n))| (k.to_owned(), d, n))
        .collect()
}
