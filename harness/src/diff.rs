//! Behaviour diffs: what changes between two configurations (sysctls, kernel profiles), each
//! difference proven by the shortest scenario found whose outcome differs.
//!
//! The search runs on the model alone: random cases (generated from either configuration)
//! run under both, side by side, until a call returns something different or leaves a
//! different socket table; each difference is shrunk to a minimum and kept per pair of deciding
//! rules. [`confirm_on_kernel`] then replays a difference on the kernel under both
//! configurations, so that it is proven, not only predicted.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde::{Deserialize, Serialize};
use tcpconform_model::{Env, Model, Op, Outcome, Port, Row, RuleId, Snapshot, SockAddr};

use crate::config::{CaseConfig, ConfigSpace};
use crate::generate;

/// How hard to look.
#[derive(Clone, Copy, Debug)]
pub struct DiffOptions {
    /// Random cases to try.
    pub cases: u32,
    /// The generator's seed.
    pub seed: u64,
    /// Most calls in one case.
    pub max_len: usize,
    /// Stop early after this long.
    pub budget: Duration,
}

impl Default for DiffOptions {
    fn default() -> Self {
        Self {
            cases: 3000,
            seed: 1,
            max_len: 16,
            budget: Duration::from_secs(20),
        }
    }
}

/// What one side did at the call where the two configurations part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Side {
    /// The call's result.
    pub outcome: Outcome,
    /// The rule that decided it.
    pub rule: RuleId,
    /// The socket table after it, ports named (see [`port_names`]).
    pub table: Vec<String>,
}

/// Whether the result or only the table differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DiffKind {
    /// The calls return different results.
    Outcome,
    /// Same result, different socket tables.
    Table,
}

/// One behaviour that differs, with the shortest scenario found that shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Difference {
    /// The calls; the last one is where the configurations part.
    pub ops: Vec<Op>,
    /// What the left configuration does at the last call.
    pub left: Side,
    /// What the right configuration does.
    pub right: Side,
    /// Result or table.
    pub kind: DiffKind,
    /// Set by [`confirm_on_kernel`]: whether the kernel, under each configuration, did what
    /// the model says (`None`: not run on a kernel).
    pub confirmed: Option<Result<(), String>>,
    /// Why it was not run on the kernel, when it was left out on purpose (its sleeps last
    /// longer than the check's budget).
    #[serde(default)]
    pub not_run: Option<String>,
    /// Whether its calls need a second host (a probe of two hosts found it).
    #[serde(default)]
    pub two_hosts: bool,
}

impl Difference {
    /// How long its calls sleep in all, in milliseconds: what a replay on a kernel waits.
    pub fn sleeps_ms(&self) -> u64 {
        self.ops.iter().map(Op::sleep_ms).sum()
    }

    /// The key differences are grouped by: the two deciding rules and the kind.
    pub fn key(&self) -> (RuleId, RuleId, DiffKind) {
        (self.left.rule, self.right.rule, self.kind)
    }
}

/// The outcome of a diff.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DiffReport {
    /// The left configuration.
    pub left: CaseConfig,
    /// The right configuration.
    pub right: CaseConfig,
    /// Cases tried.
    pub cases: u64,
    /// How long the search took.
    #[serde(with = "crate::secs")]
    pub elapsed: Duration,
    /// The differences, one per pair of deciding rules, shortest first.
    pub differences: Vec<Difference>,
}

/// A table with ports written by name: a variable of `env` holding the port, the literal
/// number when the scenario wrote it, else `$?N` by order of appearance. Two tables of
/// different configurations compare equal when they differ only in the ports each chose.
pub fn port_names(table: &Snapshot, env: &Env, ops: &[Op]) -> Vec<String> {
    let mut literal = std::collections::BTreeSet::new();
    for op in ops.iter().map(Op::call) {
        if let Op::Bind {
            addr: SockAddr {
                port: Port::Lit(p), ..
            },
            ..
        }
        | Op::Connect {
            addr: SockAddr {
                port: Port::Lit(p), ..
            },
            ..
        } = op
        {
            literal.insert(*p);
        }
    }
    let mut auto: BTreeMap<u16, String> = BTreeMap::new();
    let mut name = |p: u16| -> String {
        if let Some(n) = env.name_of(p) {
            return n;
        }
        if literal.contains(&p) {
            return p.to_string();
        }
        let next = auto.len() + 1;
        auto.entry(p).or_insert_with(|| format!("$?{next}")).clone()
    };
    let mut rows: Vec<String> = table
        .rows
        .iter()
        .map(|(r, _): &(Row, _)| {
            let peer = r.peer.map_or_else(
                || "*".to_owned(),
                |p| format!("{}:{}", p.ip(), name(p.port())),
            );
            format!(
                "{}{} {}:{} {} q={}",
                if r.host == tcpconform_model::Host::B {
                    "b: "
                } else {
                    ""
                },
                r.state.ss_name(),
                r.local.ip(),
                name(r.local.port()),
                peer,
                r.queue
            )
        })
        .collect();
    rows.sort();
    rows
}

/// Runs `ops` on both models; returns the first call where they part, if any.
///
/// Between two OSes a case that writes a sysctl one of them lacks shows nothing about
/// behaviour, and a call the model refuses on either side (`os.not_modelled`) is no
/// prediction: such cases show no difference.
fn first_difference(left: &CaseConfig, right: &CaseConfig, ops: &[Op]) -> Option<Difference> {
    let foreign = |op: &Op| {
        matches!(op, Op::Sysctl { setting, .. }
            if !setting.key.exists_on(left.profile) || !setting.key.exists_on(right.profile))
    };
    if ops.iter().any(foreign) {
        return None;
    }
    let (mut lm, mut rm): (Model, Model) = (left.model(), right.model());
    let (mut le, mut re) = (Env::new(), Env::new());
    for (i, op) in ops.iter().enumerate() {
        let lb = lm.step(op, &le);
        let rb = rm.step(op, &re);
        for (v, p) in &lb.bindings {
            le.bind(v, *p);
        }
        for (v, p) in &rb.bindings {
            re.bind(v, *p);
        }
        if lb.rules.contains(&RuleId::NotModelled) || rb.rules.contains(&RuleId::NotModelled) {
            return None;
        }
        let prefix = &ops[..=i];
        let lt = port_names(&lb.model.snapshot(), &le, prefix);
        let rt = port_names(&rb.model.snapshot(), &re, prefix);
        let kind = if lb.outcome != rb.outcome {
            Some(DiffKind::Outcome)
        } else if lt != rt {
            Some(DiffKind::Table)
        } else {
            None
        };
        if let Some(kind) = kind {
            return Some(Difference {
                ops: prefix.to_vec(),
                left: Side {
                    outcome: lb.outcome,
                    rule: lb.rule,
                    table: lt,
                },
                right: Side {
                    outcome: rb.outcome,
                    rule: rb.rule,
                    table: rt,
                },
                kind,
                confirmed: None,
                not_run: None,
                two_hosts: left.two_hosts || right.two_hosts,
            });
        }
        lm = lb.model;
        rm = rb.model;
    }
    None
}

/// Shrinks a difference while the same pair of rules still parts the configurations.
fn shrink(left: &CaseConfig, right: &CaseConfig, d: Difference) -> Difference {
    let key = d.key();
    let mut best = d;
    let mut chunk = (best.ops.len() / 2).max(1);
    loop {
        let mut progress = false;
        let mut i = 0;
        while i < best.ops.len() {
            let end = (i + chunk).min(best.ops.len());
            let mut candidate: Vec<Op> = best.ops[..i].to_vec();
            candidate.extend_from_slice(&best.ops[end..]);
            if !candidate.is_empty()
                && crate::campaign::well_formed(left, &candidate)
                && let Some(found) = first_difference(left, right, &candidate)
                && found.key() == key
            {
                best = found;
                progress = true;
                continue;
            }
            i += chunk;
        }
        if chunk == 1 && !progress {
            break;
        }
        if !progress {
            chunk = (chunk / 2).max(1);
        }
    }
    best
}

/// Probe scenarios: each exercises one mechanism that a setting or a kernel may change (a
/// TIME-WAIT met by connect(), a restart over TIME-WAIT, an orphan over time, ports running
/// out, …). A diff runs them all before the random cases, so that no mechanism is left to
/// chance. They are ordinary scenario files (`harness/probes/`).
pub const PROBES: &[(&str, &str)] = &[
    (
        "tw-reuse-connect",
        include_str!("../probes/tw-reuse-connect.scn"),
    ),
    (
        "bind-over-timewait",
        include_str!("../probes/bind-over-timewait.scn"),
    ),
    (
        "orphan-fin-wait2",
        include_str!("../probes/orphan-fin-wait2.scn"),
    ),
    (
        "many-time-waits",
        include_str!("../probes/many-time-waits.scn"),
    ),
    (
        "ephemeral-exhaustion",
        include_str!("../probes/ephemeral-exhaustion.scn"),
    ),
    (
        "syn-into-timewait",
        include_str!("../probes/syn-into-timewait.scn"),
    ),
    ("dual-stack", include_str!("../probes/dual-stack.scn")),
    (
        "privileged-ports",
        include_str!("../probes/privileged-ports.scn"),
    ),
    (
        "explicit-connect-over-timewait",
        include_str!("../probes/explicit-connect-over-timewait.scn"),
    ),
    (
        "specific-beside-wildcard",
        include_str!("../probes/specific-beside-wildcard.scn"),
    ),
    (
        "reuseaddr-new-only-over-timewait",
        include_str!("../probes/reuseaddr-new-only-over-timewait.scn"),
    ),
    (
        "duplicate-listeners",
        include_str!("../probes/duplicate-listeners.scn"),
    ),
    (
        "timewait-length",
        include_str!("../probes/timewait-length.scn"),
    ),
    (
        "tw-reuse-connect-two-hosts",
        include_str!("../probes/tw-reuse-connect-two-hosts.scn"),
    ),
    (
        "keepalive-vanished-peer",
        include_str!("../probes/keepalive-vanished-peer.scn"),
    ),
    (
        "syn-to-a-vanished-peer",
        include_str!("../probes/syn-to-a-vanished-peer.scn"),
    ),
    ("nonlocal-bind", include_str!("../probes/nonlocal-bind.scn")),
    (
        "orphan-to-a-vanished-peer",
        include_str!("../probes/orphan-to-a-vanished-peer.scn"),
    ),
];

/// The probes' ops, without the sysctl writes of keys the diff compares.
/// Each with whether it needs two hosts (`@hosts 2`).
fn probe_cases(
    frozen: &std::collections::BTreeSet<tcpconform_model::SysctlKey>,
    profiles: (tcpconform_model::Profile, tcpconform_model::Profile),
) -> Vec<(Vec<Op>, bool)> {
    PROBES
        .iter()
        .map(|(name, text)| {
            let sc = crate::scenario::parse(text, Some(name)).expect("probes parse");
            let two_hosts = sc.hosts >= 2;
            let ops = sc
                .steps
                .into_iter()
                .map(|s| s.op)
                .filter(
                    |op| !matches!(op, Op::Sysctl { setting, .. } if frozen.contains(&setting.key)),
                )
                // A sysctl one side lacks is left out: the probe then runs on the defaults.
                .filter(|op| {
                    !matches!(op, Op::Sysctl { setting, .. }
                        if !setting.key.exists_on(profiles.0) || !setting.key.exists_on(profiles.1))
                })
                .collect();
            (ops, two_hosts)
        })
        .collect()
}

/// Keeps `d` if it is new or shorter than the difference already kept for its rules.
fn keep(
    found: &mut BTreeMap<(RuleId, RuleId, DiffKind), Difference>,
    left: &CaseConfig,
    right: &CaseConfig,
    d: Difference,
) {
    let key = d.key();
    if found.get(&key).is_some_and(|known| known.ops.len() <= 2) {
        return;
    }
    let d = shrink(left, right, d);
    match found.get(&key) {
        Some(known) if known.ops.len() <= d.ops.len() => {}
        _ => {
            found.insert(key, d);
        }
    }
}

/// Searches for the behaviours that differ between `left` and `right`: the probes first, then
/// random cases.
pub fn diff(left: &CaseConfig, right: &CaseConfig, options: &DiffOptions) -> DiffReport {
    let start = Instant::now();
    let mut found: BTreeMap<(RuleId, RuleId, DiffKind), Difference> = BTreeMap::new();
    // The keys the two sides set differently must not be changed by the cases themselves.
    let lmap = left.host_sysctls();
    let rmap = right.host_sysctls();
    let mut frozen = std::collections::BTreeSet::new();
    for (h, l) in &lmap {
        if let Some(r) = rmap.get(h) {
            frozen.extend(l.diff_from(r).into_iter().map(|s| s.key));
        }
    }
    let mut cases = 0u64;
    for (ops, two_hosts) in probe_cases(&frozen, (left.profile, right.profile)) {
        cases += 1;
        let (mut l, mut r) = (left.clone(), right.clone());
        l.two_hosts |= two_hosts;
        r.two_hosts |= two_hosts;
        if let Some(d) = first_difference(&l, &r, &ops) {
            keep(&mut found, &l, &r, d);
        }
    }
    let gen_options = generate::GenOptions {
        sleeps: vec![200, 1500, 3_000, 61_000],
        sleep_budget_ms: None,
        timers: true,
        frozen,
        runs: generate::Runs::Everything,
    };
    let strategies = [
        generate::cases_with(
            ConfigSpace::Fixed(left.clone()),
            options.max_len,
            gen_options.clone(),
        ),
        generate::cases_with(
            ConfigSpace::Fixed(right.clone()),
            options.max_len,
            gen_options,
        ),
    ];
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(options.seed)),
    );
    for n in 0..options.cases {
        if start.elapsed() > options.budget {
            break;
        }
        let strategy = &strategies[(n % 2) as usize];
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            continue;
        };
        let (_, ops, _) = tree.current();
        cases += 1;
        if let Some(d) = first_difference(left, right, &ops) {
            keep(&mut found, left, right, d);
        }
    }
    let mut differences: Vec<Difference> = found.into_values().collect();
    differences.sort_by_key(|d| (d.ops.len(), d.key()));
    DiffReport {
        left: left.clone(),
        right: right.clone(),
        cases,
        elapsed: start.elapsed(),
        differences,
    }
}

fn seed_bytes(seed: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    for (i, chunk) in b.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(
            &seed
                .wrapping_add(i as u64)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .to_le_bytes(),
        );
    }
    b
}

/// Replays a difference on the kernel under both configurations (each in its own sandbox, the
/// model in lock-step) and records whether the kernel did, under each, what the model says.
pub fn confirm_on_kernel(d: &mut Difference, left: &CaseConfig, right: &CaseConfig) {
    let check = |config: &CaseConfig, side: &Side| -> Result<(), String> {
        let mut config = config.clone();
        config.two_hosts |= d.two_hosts;
        let run = crate::kernel::run_on_kernel(&config, &[], &d.ops, false)
            .map_err(|e| format!("harness: {e}"))?;
        if let Some(e) = &run.harness_error {
            return Err(format!("harness: {e}"));
        }
        if let Some(div) = run.divergence() {
            return Err(format!(
                "the kernel diverged from the model at call {} ({} returned {})",
                div.index, div.op, div.observed.outcome
            ));
        }
        let last = run.steps.last().ok_or("no call ran")?;
        if last.observed.outcome != side.outcome {
            return Err(format!(
                "the kernel returned {} at the last call",
                last.observed.outcome
            ));
        }
        Ok(())
    };
    let l = check(left, &d.left);
    let r = check(right, &d.right);
    d.confirmed = Some(match (l, r) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(e), _) => Err(format!("left: {e}")),
        (_, Err(e)) => Err(format!("right: {e}")),
    });
}
