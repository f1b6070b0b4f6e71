//! The timer lanes: random cases in which the kernel's timers really run out, checked against
//! the model in lock-step like any case, but run side by side, each in its own namespaces, so
//! that a lane costs about one case's sleeps of wall time rather than their sum.
//!
//! - [`Lane::Timers`]: short timers only. The case's namespaces get a 1–3 s orphan
//!   FIN-WAIT-2 (`tcp_fin_timeout`), keepalive after 1 s of idle with 1–2 probes a second
//!   apart, one SYN retry (give-up at 3 s) and, where the kernel has it, a short
//!   `tcp_tw_reuse_delay`; the ops include SO_KEEPALIVE and the TCP_KEEP* options,
//!   TCP_USER_TIMEOUT, TCP_LINGER2, `peer_vanishes`, `peer_reboots`, `destroy`, and sleeps
//!   adding up to at most [`TIMER_SLEEP_BUDGET_MS`].
//! - [`Lane::TimeWait`]: Linux's TIME-WAIT is 60 s and nothing shortens it. Each case makes
//!   at least one TIME-WAIT with random calls, sleeps to just before the 60 s, calls, sleeps
//!   across the boundary (where the model allows both), calls, sleeps past the timer wheel's
//!   slack and calls again. Hundreds of cases cross the boundary together.
//!
//! Every timer is a window in the model (`model::time`, the timer wheel's granularity plus
//! scheduling latency); the harness tells the model when each call ran, so a call near an edge
//! is allowed either way, and the table read after it says which way the kernel went.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use proptest::prelude::RngExt;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

use tcpconform_model::{
    DEFAULT_BACKLOG, Family, Host, Op, Port, Profile, RuleId, SockAddr, SockId, SockOpt, Sysctl,
    SysctlKey, TcpState, Var,
};

use crate::campaign::groups::{Collector, DivergenceGroup, Signature};
use crate::campaign::shrink::Shrunk;
use crate::campaign::{self, CampaignOutcome, Counterexample, ShrinkBudget, ShrinkSpent};
use crate::config::{CaseConfig, INTERESTING};
use crate::error::HarnessError;
use crate::generate::{self, GenOptions, GenState};
use crate::lockstep::Run;

/// Most sleep a [`Lane::Timers`] case adds up to, in milliseconds.
pub const TIMER_SLEEP_BUDGET_MS: u64 = 5_000;

/// The sleeps of a [`Lane::TimeWait`] case, after its first TIME-WAIT: to just before the
/// 60 s, across the boundary, and past the wheel's slack (the window is about [60, 62.1] s at
/// HZ=250: a 60 s timer lands in the wheel's level of 2.048 s granules).
pub const TIME_WAIT_SLEEPS_MS: [u64; 3] = [59_000, 1_500, 2_600];

/// How many divergent cases a lane saves unshrunk.
const MAX_SAVED_CASES: usize = 5;

/// A lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lane {
    /// Short timers (seconds): orphan FIN-WAIT-2, keepalive, TCP_USER_TIMEOUT, SYN retries,
    /// `tcp_tw_reuse_delay`, half-open peers.
    Timers,
    /// Real 60 s TIME-WAIT expiries.
    TimeWait,
}

impl Lane {
    /// The lane's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Timers => "timers",
            Self::TimeWait => "timewait",
        }
    }

    /// The rules whose firing the lane counts as an expiry (what it is there to check).
    pub fn expiry_rules(self) -> &'static [RuleId] {
        match self {
            Self::Timers => &[
                RuleId::FinWait2Expires,
                RuleId::KeepaliveTimesOut,
                RuleId::KeepaliveProbeReset,
                RuleId::UserTimeoutExpires,
                RuleId::SynRetransmitted,
                RuleId::SynRetriesExhausted,
            ],
            Self::TimeWait => &[RuleId::TimeWaitExpires],
        }
    }
}

impl std::str::FromStr for Lane {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "timers" => Ok(Self::Timers),
            "timewait" | "time-wait" => Ok(Self::TimeWait),
            _ => Err(format!("unknown lane `{s}` (timers, timewait)")),
        }
    }
}

/// What a lane run does.
#[derive(Clone, Debug)]
pub struct LaneOptions {
    /// Which lane.
    pub lane: Lane,
    /// How many cases.
    pub cases: u32,
    /// The generator's seed (printed, so a run can be repeated).
    pub seed: u64,
    /// How many cases run at once (each in its own namespaces).
    pub concurrency: usize,
    /// The kernel profile the model predicts for (the running kernel's).
    pub profile: Profile,
    /// Where the shrunk counterexample is written (`None`: not written).
    pub found_dir: Option<PathBuf>,
}

impl LaneOptions {
    /// The defaults: 64 timer cases or 240 TIME-WAIT cases, all at once.
    pub fn new(lane: Lane, profile: Profile, seed: u64) -> Self {
        let cases = match lane {
            Lane::Timers => 64,
            Lane::TimeWait => 240,
        };
        Self {
            lane,
            cases,
            seed,
            concurrency: cases as usize,
            profile,
            found_dir: None,
        }
    }
}

/// What a lane run found.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LaneReport {
    /// The lane.
    pub lane: Lane,
    /// The generator's seed.
    pub seed: u64,
    /// Cases run (not counting shrinking's).
    pub cases: u64,
    /// Calls run on the kernel.
    pub calls: u64,
    /// How often each of the lane's timer rules fired in the branch the kernel took.
    pub expiries: BTreeMap<RuleId, u64>,
    /// How many cases diverged from the model.
    pub diverged_cases: u64,
    /// Wall time of the cases (shrinking apart).
    #[serde(with = "crate::secs")]
    pub elapsed: Duration,
    /// The longest single case.
    #[serde(with = "crate::secs")]
    pub longest_case: Duration,
    /// Wall time spent shrinking.
    #[serde(with = "crate::secs")]
    pub shrink_time: Duration,
    /// Every distinct divergence, most frequent first, each shrunk within the lane's budget.
    pub groups: Vec<DivergenceGroup>,
    /// The divergent cases as they ran, unshrunk (the first few), saved as scenarios.
    pub divergent_files: Vec<PathBuf>,
    /// How the groups stand against a baseline, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<crate::baseline::Judgement>,
    /// How it ended (the most frequent divergence, shrunk).
    pub outcome: CampaignOutcome,
}

impl LaneReport {
    /// All expiries of the lane's timer rules.
    pub fn total_expiries(&self) -> u64 {
        self.expiries.values().sum()
    }

    /// Marks the groups `baseline` knows.
    pub fn judge(
        &mut self,
        baseline: &crate::baseline::Baseline,
        profile: &Profile,
        kernel: Option<&str>,
    ) {
        let j = baseline.judge(&mut self.groups, profile, &profile.to_string(), kernel);
        self.baseline = Some(j);
    }

    /// Whether the lane passes: it ran, and every divergence is known to the baseline.
    pub fn passed(&self) -> bool {
        !matches!(self.outcome, CampaignOutcome::HarnessFailed(_))
            && self.groups.iter().all(|g| g.known.is_some())
    }

    /// The lane's figures as a campaign report, for the shared rendering and JUnit.
    pub fn as_campaign(&self) -> campaign::CampaignReport {
        campaign::CampaignReport {
            seed: self.seed,
            cases: self.cases,
            shrink_cases: 0,
            calls: self.calls,
            rules_hit: self.expiries.clone(),
            elapsed: self.elapsed,
            divergent_cases: self.diverged_cases,
            groups: self.groups.clone(),
            baseline: self.baseline.clone(),
            detection: None,
            outcome: self.outcome.clone(),
            digest: crate::digest::RunDigest::default(),
        }
    }

    /// The one-paragraph summary the CLI and the tests print.
    pub fn summary(&self) -> String {
        let rules: Vec<String> = self
            .expiries
            .iter()
            .map(|(r, n)| format!("{} {n}", r.id()))
            .collect();
        let verdict = match &self.outcome {
            CampaignOutcome::Passed => "no divergence".to_owned(),
            CampaignOutcome::Diverged(_) => format!(
                "{} case(s) diverged, {} distinct divergence(s), shrunk in {:.1}s",
                self.diverged_cases,
                self.groups.len(),
                self.shrink_time.as_secs_f64()
            ),
            CampaignOutcome::HarnessFailed(e) => format!("HARNESS FAILURE: {e}"),
        };
        format!(
            "{} lane: {} cases, {} calls in {:.1}s (longest case {:.1}s), seed {}; timers run \
             out: {}; {verdict}",
            self.lane.name(),
            self.cases,
            self.calls,
            self.elapsed.as_secs_f64(),
            self.longest_case.as_secs_f64(),
            self.seed,
            if rules.is_empty() {
                "none".to_owned()
            } else {
                rules.join(", ")
            },
        )
    }
}

/// Draws the configuration and ops of one case of `lane`.
pub fn generate_case(lane: Lane, profile: Profile, rng: &mut TestRng) -> (CaseConfig, Vec<Op>) {
    let mut runner = TestRunner::new_with_rng(Config::default(), rng.clone());
    // Advance the caller's source too, so that successive cases differ.
    let _: u64 = rng.random();
    match lane {
        Lane::Timers => timer_case(profile, &mut runner),
        Lane::TimeWait => time_wait_case(profile, &mut runner),
    }
}

/// One `key=value` setting (the values below are all valid).
fn setting(key: &str, value: impl std::fmt::Display) -> Sysctl {
    format!("{key}={value}")
        .parse()
        .expect("the lanes' settings are valid")
}

fn pick<T: Copy>(runner: &mut TestRunner, from: &[T]) -> T {
    from[runner.rng().random_range(0..from.len())]
}

/// The short timers of a timer case's namespaces, and now and then an interesting setting.
fn timer_sysctls(profile: Profile, host: Host, runner: &mut TestRunner) -> Vec<(Host, Sysctl)> {
    let mut v = vec![
        setting("net.ipv4.tcp_fin_timeout", pick(runner, &[1, 2, 3])),
        setting("net.ipv4.tcp_keepalive_time", 1),
        setting("net.ipv4.tcp_keepalive_intvl", 1),
        setting("net.ipv4.tcp_keepalive_probes", pick(runner, &[1, 2])),
        setting("net.ipv4.tcp_syn_retries", 1),
    ];
    let (maj, min) = SysctlKey::TcpTwReuseDelay.since();
    if profile.at_least(maj, min) {
        v.push(setting(
            "net.ipv4.tcp_tw_reuse_delay",
            pick(runner, &[1, 100, 500, 1000]),
        ));
        v.push(setting("net.ipv4.tcp_tw_reuse", pick(runner, &[1, 2])));
    }
    if runner.rng().random_bool(0.5) {
        let (key, values) = INTERESTING[runner.rng().random_range(0..INTERESTING.len())];
        let s = setting(key, pick(runner, values));
        let (maj, min) = s.key.since();
        if profile.at_least(maj, min) {
            // One value per key (a scenario sets each key once).
            v.retain(|old| old.key != s.key);
            v.push(s);
        }
    }
    v.into_iter().map(|s| (host, s)).collect()
}

fn timer_case(profile: Profile, runner: &mut TestRunner) -> (CaseConfig, Vec<Op>) {
    loop {
        let two_hosts = runner.rng().random_bool(0.25);
        let mut sysctls = timer_sysctls(profile, Host::A, runner);
        if two_hosts {
            sysctls.extend(timer_sysctls(profile, Host::B, runner));
        }
        let config = CaseConfig {
            profile,
            two_hosts,
            sysctls,
            mutant: None,
        };
        if crate::config::validate(&config).is_err() {
            continue;
        }
        let mut state = GenState::new(config.clone());
        state.options = GenOptions {
            sleeps: vec![20, 150, 400, 1_000, 1_500],
            sleep_budget_ms: Some(TIMER_SLEEP_BUDGET_MS),
            timers: true,
            ..GenOptions::default()
        };
        // Most cases start from a served connection, which the random calls then age, close,
        // cut off or abandon.
        let mut ops = Vec::new();
        let prologue = match runner.rng().random_range(0..20) {
            0..12 => served_connection(&state, runner, false),
            12..15 => served_connection(&state, runner, true),
            _ => Vec::new(),
        };
        for op in prologue {
            state = generate::apply(state, &op);
            ops.push(op);
        }
        let len = runner.rng().random_range(8..=20);
        let (state, more) = generate::draw(state, len, runner);
        ops.extend(more);
        // Let what the calls started run out before the case ends.
        let left = TIMER_SLEEP_BUDGET_MS.saturating_sub(state.model.now());
        if left >= 500 {
            ops.push(Op::Sleep {
                ms: left.min(3_000),
            });
        }
        return (config, ops);
    }
}

/// `s0` listens on port 5000 (on host `b` when there are two), `s1` connects to it from an
/// ephemeral port `$Cn`, `s2` is the accepted end; now and then one end asks for keepalive.
/// With `vanished`, the listener's host vanishes first and `s1`'s SYN goes unanswered.
fn served_connection(state: &GenState, runner: &mut TestRunner, vanished: bool) -> Vec<Op> {
    let inet6 = runner.rng().random_bool(0.3);
    let (family, server_ip): (Family, IpAddr) = match (inet6, state.config.two_hosts) {
        (false, false) => (Family::Inet, "127.0.0.1".parse().expect("literal")),
        (true, false) => (Family::Inet6, "::1".parse().expect("literal")),
        (false, true) => (Family::Inet, "10.0.0.2".parse().expect("literal")),
        (true, true) => (Family::Inet6, "fd00::2".parse().expect("literal")),
    };
    let server_host = if state.config.two_hosts {
        Host::B
    } else {
        Host::A
    };
    let addr = SockAddr {
        ip: server_ip,
        port: Port::Lit(generate::PORTS[0]),
    };
    let socket = |sock: u16, host: Host, nonblocking: bool| Op::Socket {
        sock: SockId(sock),
        family,
        nonblocking,
        euid: None,
        host,
    };
    let mut ops = vec![
        socket(0, server_host, false),
        Op::Bind {
            sock: SockId(0),
            addr: addr.clone(),
        },
        Op::Listen {
            sock: SockId(0),
            backlog: DEFAULT_BACKLOG,
        },
    ];
    if vanished {
        ops.push(Op::PeerVanishes { sock: SockId(0) });
    }
    // A blocking connect() to a vanished listener would block: that one is non-blocking.
    ops.push(socket(
        1,
        Host::A,
        vanished || runner.rng().random_bool(0.5),
    ));
    ops.push(Op::Connect {
        sock: SockId(1),
        addr,
        local: Some(Var(format!("C{}", state.vars))),
    });
    if vanished {
        return ops;
    }
    ops.push(Op::Accept {
        listener: SockId(0),
        sock: SockId(2),
        peer: None,
    });
    if runner.rng().random_bool(0.5) {
        ops.push(Op::Setsockopt {
            sock: SockId(pick(runner, &[1, 2])),
            opt: SockOpt::KeepAlive(true),
        });
    }
    ops
}

/// Whether the generator's model holds a TIME-WAIT row.
fn has_time_wait(state: &GenState) -> bool {
    state
        .model
        .snapshot()
        .rows
        .iter()
        .any(|(r, _)| r.state == TcpState::TimeWait)
}

fn time_wait_case(profile: Profile, runner: &mut TestRunner) -> (CaseConfig, Vec<Op>) {
    let space = crate::config::ConfigSpace::Generated {
        base: CaseConfig::defaults(profile),
        two_hosts: true,
    };
    loop {
        let Ok(tree) = proptest::strategy::Strategy::new_tree(&space.strategy(), runner) else {
            continue;
        };
        let config = proptest::strategy::ValueTree::current(&tree);
        let mut state = GenState::new(config.clone());
        let mut ops = Vec::new();
        // Random calls until a TIME-WAIT exists (most cases have one within 30 calls).
        while ops.len() < 40 && !has_time_wait(&state) {
            let (next, more) = generate::draw(state, 4, runner);
            state = next;
            ops.extend(more);
        }
        if !has_time_wait(&state) {
            continue;
        }
        // Sleep toward the edge, across it and past it, with a few random calls at each
        // stop (binds, connects and listens on the ports the TIME-WAITs hold).
        for (i, ms) in TIME_WAIT_SLEEPS_MS.iter().enumerate() {
            ops.push(Op::Sleep { ms: *ms });
            state = generate::apply(state, &Op::Sleep { ms: *ms });
            // No `destroy` here: it would end a TIME-WAIT before its time.
            let (next, more) =
                generate::draw_where(state, if i == 2 { 5 } else { 3 }, runner, &|_, op| {
                    !matches!(op, Op::Destroy { .. })
                });
            state = next;
            ops.extend(more);
        }
        return (config, ops);
    }
}

/// Runs every case, `concurrency` at a time, calling `done` after each.
fn run_side_by_side(
    cases: &[(CaseConfig, Vec<Op>)],
    concurrency: usize,
    done: &(dyn Fn(&Result<Run, HarnessError>, Duration) + Sync),
) -> Vec<Result<Run, HarnessError>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Run, HarnessError>>>> =
        Mutex::new((0..cases.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..concurrency.clamp(1, cases.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((config, ops)) = cases.get(i) else {
                        break;
                    };
                    let started = Instant::now();
                    let result = campaign::run_case(config, ops);
                    done(&result, started.elapsed());
                    results.lock().expect("results lock")[i] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("results lock")
        .into_iter()
        .map(|r| r.expect("every case ran"))
        .collect()
}

/// Delta debugging with the candidates of each round run side by side: for the current chunk
/// size, every way of removing one chunk runs at once; the first (earliest) that still
/// diverges the same way (`keep`) is kept. A timer case mostly sleeps, so a round costs about
/// one case's time; the budget counts every candidate run and stops between rounds.
pub fn minimize_side_by_side(
    config: &CaseConfig,
    ops: Vec<Op>,
    diverged: Run,
    keep: &Signature,
    concurrency: usize,
    budget: ShrinkBudget,
) -> Result<Shrunk, HarnessError> {
    let started = Instant::now();
    let same = |run: &Run| run.divergence().is_some_and(|d| Signature::of(d) == *keep);
    let mut spent = ShrinkSpent::default();
    let mut best = ops;
    let mut best_run = campaign::run_case(config, &best)?;
    spent.runs += 1;
    if !same(&best_run) {
        // It does not diverge (that way) again: report it as it first ran.
        spent.time = started.elapsed();
        return Ok(Shrunk {
            config: config.clone(),
            ops: best,
            run: diverged,
            reproduced: false,
            spent,
        });
    }
    let at = best_run.divergence().map_or(best.len(), |d| d.index);
    best.truncate(at);
    let mut chunk = (best.len() / 2).max(1);
    loop {
        let candidates: Vec<(CaseConfig, Vec<Op>)> = (0..best.len())
            .step_by(chunk)
            .map(|i| {
                let mut c = best[..i].to_vec();
                c.extend_from_slice(&best[(i + chunk).min(best.len())..]);
                c
            })
            .filter(|c| !c.is_empty() && campaign::well_formed(config, c))
            .map(|c| (config.clone(), c))
            .collect();
        let n = candidates.len() as u32;
        if spent.runs + n > budget.runs || started.elapsed() >= budget.time {
            spent.stopped_early = true;
            break;
        }
        spent.runs += n;
        let runs = run_side_by_side(&candidates, concurrency, &|_, _| {});
        let mut kept = false;
        for ((_, mut candidate), run) in candidates.into_iter().zip(runs) {
            let run = run?;
            if same(&run) {
                let at = run.divergence().map_or(candidate.len(), |d| d.index);
                candidate.truncate(at);
                best = candidate;
                best_run = run;
                kept = true;
                break;
            }
        }
        if kept {
            chunk = chunk.min((best.len() / 2).max(1));
            continue;
        }
        if chunk == 1 {
            break;
        }
        chunk = (chunk / 2).max(1);
    }
    spent.time = started.elapsed();
    Ok(Shrunk {
        config: config.clone(),
        ops: best,
        run: best_run,
        reproduced: true,
        spent,
    })
}

/// What shrinking one divergence of a lane may spend: a timer case takes seconds a round, a
/// TIME-WAIT case over a minute, so the TIME-WAIT lane gets about three rounds.
pub fn shrink_budget(lane: Lane) -> ShrinkBudget {
    match lane {
        Lane::Timers => ShrinkBudget {
            time: Duration::from_secs(60),
            runs: 2_000,
        },
        Lane::TimeWait => ShrinkBudget {
            time: Duration::from_secs(200),
            runs: 2_000,
        },
    }
}

/// What shrinking every divergence of a lane may spend together: groups beyond it are
/// reported as they ran.
pub fn total_shrink_budget(lane: Lane) -> Duration {
    2 * shrink_budget(lane).time
}

/// Runs a lane: generates its cases, runs them side by side, groups the divergent ones and
/// shrinks each group within the lane's budget. `progress` is called after every case with the
/// number of cases done.
pub fn run(options: &LaneOptions, progress: &(dyn Fn(u64) + Sync)) -> LaneReport {
    let started = Instant::now();
    let mut rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(options.seed));
    let cases: Vec<(CaseConfig, Vec<Op>)> = (0..options.cases)
        .map(|_| generate_case(options.lane, options.profile, &mut rng))
        .collect();
    let finished = AtomicUsize::new(0);
    let longest = Mutex::new(Duration::ZERO);
    let results = run_side_by_side(&cases, options.concurrency, &|_, took| {
        let n = finished.fetch_add(1, Ordering::Relaxed) + 1;
        let mut l = longest.lock().expect("longest lock");
        *l = (*l).max(took);
        progress(n as u64);
    });
    let elapsed = started.elapsed();
    let mut calls = 0;
    let mut expiries: BTreeMap<RuleId, u64> = BTreeMap::new();
    let mut first_error = None;
    let mut divergent: Vec<(usize, Run)> = Vec::new();
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Ok(run) => {
                calls += run.steps.len() as u64;
                for step in &run.steps {
                    for r in &step.rules {
                        if options.lane.expiry_rules().contains(r) {
                            *expiries.entry(*r).or_default() += 1;
                        }
                    }
                }
                if run.divergence().is_some() {
                    divergent.push((i, run));
                }
            }
            Err(e) => {
                first_error.get_or_insert_with(|| format!("case {i}: {e}"));
            }
        }
    }
    // Every divergent case as it ran, unshrunk, for whoever looks into it.
    let mut divergent_files = Vec::new();
    if let Some(dir) = &options.found_dir {
        for (i, run) in divergent.iter().take(MAX_SAVED_CASES) {
            let (config, ops) = &cases[*i];
            let cx = Counterexample {
                config: config.clone(),
                ops: ops.clone(),
                run: run.clone(),
                original_len: ops.len(),
                shrink_time: Duration::ZERO,
                path: None,
                reproduced: false,
                not_shrunk: true,
                expecting: Default::default(),
            };
            if let Ok(path) = campaign::save(dir, &cx) {
                divergent_files.push(path);
            }
        }
    }
    let shrink_started = Instant::now();
    let mut groups = Vec::new();
    let outcome = if let Some(e) = first_error {
        CampaignOutcome::HarnessFailed(e)
    } else if divergent.is_empty() {
        CampaignOutcome::Passed
    } else {
        let mut found = Collector::default();
        for (i, run) in &divergent {
            let (config, ops) = &cases[*i];
            found.add(*i as u64 + 1, config, ops, run);
        }
        let concurrency = options.concurrency;
        let shrinker = |config: &CaseConfig, ops, run, sig: &Signature, budget| {
            minimize_side_by_side(config, ops, run, sig, concurrency, budget)
        };
        match found.shrink_all(
            &shrinker,
            shrink_budget(options.lane),
            Some(total_shrink_budget(options.lane)),
            options.found_dir.as_deref(),
            crate::report::Expecting::KernelResults,
        ) {
            Ok(g) => {
                groups = g;
                CampaignOutcome::Diverged(Box::new(groups[0].counterexample.clone()))
            }
            Err(e) => CampaignOutcome::HarnessFailed(format!("while shrinking: {e}")),
        }
    };
    LaneReport {
        lane: options.lane,
        seed: options.seed,
        cases: u64::from(options.cases),
        calls,
        expiries,
        diverged_cases: divergent.len() as u64,
        elapsed,
        longest_case: longest.into_inner().expect("longest lock"),
        shrink_time: shrink_started.elapsed(),
        groups,
        divergent_files,
        baseline: None,
        outcome,
    }
}

fn seed_bytes(seed: u64) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&seed.wrapping_add(i as u64).to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases(lane: Lane, n: usize) -> Vec<(CaseConfig, Vec<Op>)> {
        let mut rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(7));
        (0..n)
            .map(|_| generate_case(lane, Profile::LINUX_6_18, &mut rng))
            .collect()
    }

    #[test]
    fn timer_cases_stay_within_their_sleep_budget_and_are_well_formed() {
        for (config, ops) in cases(Lane::Timers, 200) {
            let slept: u64 = ops.iter().map(Op::sleep_ms).sum();
            assert!(slept <= TIMER_SLEEP_BUDGET_MS, "{slept} ms in {ops:?}");
            assert!(campaign::well_formed(&config, &ops));
            assert!(crate::config::validate(&config).is_ok());
        }
    }

    #[test]
    fn timer_cases_run_out_every_kind_of_timer_on_the_model() {
        let mut fired: BTreeMap<RuleId, u64> = BTreeMap::new();
        for (config, ops) in cases(Lane::Timers, 200) {
            let mut model = config.model();
            let mut env = tcpconform_model::Env::new();
            for op in &ops {
                let b = model.step(op, &env);
                for (v, p) in &b.bindings {
                    env.bind(v, *p);
                }
                for r in &b.rules {
                    *fired.entry(*r).or_default() += 1;
                }
                model = b.model;
            }
        }
        for rule in Lane::Timers.expiry_rules() {
            assert!(
                fired.get(rule).copied().unwrap_or(0) > 0,
                "no case of 200 runs out {}: {fired:?}",
                rule.id()
            );
        }
    }

    #[test]
    fn time_wait_cases_hold_a_time_wait_and_sleep_across_its_end() {
        // A random op may end the TIME-WAIT early (a SYN that reuses it, a destroy): most
        // cases, not all, see one expire.
        let mut without = Vec::new();
        let all = cases(Lane::TimeWait, 40);
        for (config, ops) in &all {
            assert!(campaign::well_formed(config, ops));
            let mut model = config.model();
            let mut env = tcpconform_model::Env::new();
            let mut expired = 0;
            for op in ops {
                let b = model.step(op, &env);
                for (v, p) in &b.bindings {
                    env.bind(v, *p);
                }
                expired += b
                    .rules
                    .iter()
                    .filter(|r| **r == RuleId::TimeWaitExpires)
                    .count();
                model = b.model;
            }
            if expired == 0 {
                without.push(ops.clone());
            }
        }
        assert!(
            without.len() * 10 <= all.len(),
            "{} of {} cases see no TIME-WAIT expire, e.g. {:?}",
            without.len(),
            all.len(),
            without.first()
        );
    }
}
