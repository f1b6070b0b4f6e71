//! Reports: lock-step runs printed packetdrill-style (model and kernel side by side, the first
//! difference marked, the deciding rule named, both socket tables), and counterexamples written
//! back as scenario files.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use tcpconform_model::{Env, Host, Op, Port, Row, Snapshot, SockAddr, Var};

use crate::campaign::Counterexample;
use crate::config::CaseConfig;
use crate::lockstep::{Run, StepReport, Verdict};
use crate::scenario::{RowPattern, Scenario, Step, row_pattern_from};

/// Names for ports in a report: the scenario's variables where they hold the port, literal
/// numbers for ports the scenario wrote literally, and `$?1`, `$?2`, … for the rest (ports the
/// kernel chose that no variable captured).
#[derive(Clone, Debug, Default)]
pub struct PortNames {
    env: Env,
    literal: BTreeSet<u16>,
    auto: BTreeMap<u16, String>,
}

impl PortNames {
    /// Names from a run's environment and the literal ports of its ops.
    pub fn new(env: &Env, ops: &[Op]) -> Self {
        let mut literal = BTreeSet::new();
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
        Self {
            env: env.clone(),
            literal,
            auto: BTreeMap::new(),
        }
    }

    /// Registers every port of a table, so that later names are stable.
    pub fn learn(&mut self, table: &Snapshot) {
        for (r, _) in &table.rows {
            for a in std::iter::once(r.local).chain(r.peer) {
                let p = a.port();
                if self.env.name_of(p).is_none() && !self.literal.contains(&p) {
                    let n = self.auto.len() + 1;
                    self.auto.entry(p).or_insert_with(|| format!("$K{n}"));
                }
            }
        }
    }

    /// The name of a port.
    pub fn name(&self, port: u16) -> Option<String> {
        if let Some(n) = self.env.name_of(port) {
            return Some(n);
        }
        if self.literal.contains(&port) {
            return None;
        }
        self.auto.get(&port).cloned()
    }

    /// An environment in which the automatic names are variables too (for scenario files).
    pub fn as_env(&self) -> Env {
        let mut env = self.env.clone();
        for (p, n) in &self.auto {
            env.bind(&Var(n.trim_start_matches('$').to_owned()), *p);
        }
        env
    }
}

fn show_table(table: &Snapshot, names: &PortNames, indent: &str) -> String {
    let f = |p: u16| names.name(p);
    table
        .display(&f)
        .to_string()
        .lines()
        .map(|l| format!("{indent}{}\n", l.trim_start()))
        .collect()
}

/// `profile linux-6.18, two hosts, sysctls: net.ipv4.tcp_tw_reuse=0 b:…`.
pub(crate) fn config_line(config: &CaseConfig) -> String {
    let sysctls: Vec<String> = config
        .sysctls
        .iter()
        .map(|(h, s)| {
            if *h == Host::A {
                s.to_string()
            } else {
                format!("{h}:{s}")
            }
        })
        .collect();
    format!(
        "profile {}{}, sysctls: {}",
        config.profile.describe(),
        if config.two_hosts { ", two hosts" } else { "" },
        if sysctls.is_empty() {
            "the namespace's defaults".to_owned()
        } else {
            sysctls.join(" ")
        }
    )
}

/// One step's line: `  7  bind(s3, 127.0.0.1:5000)     0              -1 EADDRINUSE  <<<`.
fn step_line(s: &StepReport) -> String {
    let allowed: Vec<String> = s.allowed.iter().map(|a| a.outcome.to_string()).collect();
    let mut allowed = allowed;
    allowed.dedup();
    let expected = allowed.join(" | ");
    let mark = match s.verdict {
        Verdict::Agree => "",
        _ => "  <<<",
    };
    format!(
        "{:>3}  {:<46} {:<22} {:<18}{mark}",
        s.index,
        s.op.to_string(),
        expected,
        s.observed.outcome.to_string()
    )
}

/// The run as a readable report: every call with the model's allowed outcomes and the kernel's
/// result, then, at the first divergence, the rule and both tables.
pub fn format_run(run: &Run, config: &CaseConfig, env: &Env, replay_hint: Option<&str>) -> String {
    let ops: Vec<Op> = run.steps.iter().map(|s| s.op.clone()).collect();
    let mut names = PortNames::new(env, &ops);
    for s in &run.steps {
        names.learn(&s.kernel_table);
        names.learn(&s.model_table);
    }
    let mut out = String::new();
    let _ = writeln!(out, "{}", config_line(config));
    let _ = writeln!(
        out,
        "\n  #  {:<46} {:<22} {:<18}",
        "call", "model allows", "kernel"
    );
    for s in &run.steps {
        let _ = writeln!(out, "{}", step_line(s));
    }
    if let Some(d) = run.divergence() {
        let _ = writeln!(out);
        match &d.verdict {
            Verdict::OutcomeDiffers => {
                let _ = writeln!(
                    out,
                    "DIVERGENCE at call {}: the kernel returned {}, the model allows {}",
                    d.index,
                    d.observed.outcome,
                    d.allowed
                        .iter()
                        .map(|a| a.outcome.to_string())
                        .collect::<Vec<_>>()
                        .join(" | ")
                );
            }
            Verdict::TableDiffers => {
                let _ = writeln!(
                    out,
                    "DIVERGENCE at call {}: same result ({}), different socket tables",
                    d.index, d.observed.outcome
                );
            }
            Verdict::PortNotAllowed(why) => {
                let _ = writeln!(out, "DIVERGENCE at call {}: {why}", d.index);
            }
            Verdict::Agree => {}
        }
        let _ = writeln!(out, "  model rule: {} — {}", d.rule.id(), d.rule.describe());
        let (only_model, only_kernel) = d.model_table.diff(&d.kernel_table);
        let _ = writeln!(out, "\n  model's table after call {}:", d.index);
        out.push_str(&show_table(&d.model_table, &names, "    "));
        let _ = writeln!(out, "  kernel's table after call {}:", d.index);
        out.push_str(&show_table(&d.kernel_table, &names, "    "));
        if !only_model.is_empty() || !only_kernel.is_empty() {
            let f = |p: u16| names.name(p);
            let show = |r: &Row| {
                tcpconform_model::snapshot::ShowRow {
                    row: r,
                    names: &f,
                    with_host: false,
                }
                .to_string()
                .trim_end()
                .to_owned()
            };
            for r in &only_model {
                let _ = writeln!(out, "    only in the model:  {}", show(r));
            }
            for r in &only_kernel {
                let _ = writeln!(out, "    only in the kernel: {}", show(r));
            }
        }
        let bindings: Vec<String> = names
            .as_env()
            .iter()
            .map(|(n, p)| format!("${n}={p}"))
            .collect();
        if !bindings.is_empty() {
            let _ = writeln!(out, "\n  ports: {}", bindings.join(" "));
        }
    }
    if let Some(e) = &run.harness_error {
        let _ = writeln!(out, "\nHARNESS FAILURE (not a verdict): {e}");
    }
    if let Some(cmd) = replay_hint {
        let _ = writeln!(out, "\n  replay: {cmd}");
    }
    out
}

/// A prediction (the model alone, no kernel): per call, what the model allows with the rule
/// that decided each outcome, and the predicted table after every call that changed it.
pub fn format_prediction(run: &Run, config: &CaseConfig, env: &Env) -> String {
    let ops: Vec<Op> = run.steps.iter().map(|s| s.op.clone()).collect();
    let mut names = PortNames::new(env, &ops);
    for s in &run.steps {
        names.learn(&s.model_table);
    }
    let mut out = String::new();
    let _ = writeln!(out, "{}", config_line(config));
    let _ = writeln!(
        out,
        "\n  #  {:<46} {:<22} deciding rule",
        "call", "model predicts"
    );
    let mut last = Snapshot::default();
    for s in &run.steps {
        let mut allowed: Vec<String> = Vec::new();
        for a in &s.allowed {
            let t = a.outcome.to_string();
            if !allowed.contains(&t) {
                allowed.push(t);
            }
        }
        let mut rules: Vec<&str> = Vec::new();
        for a in &s.allowed {
            if !rules.contains(&a.rule.id()) {
                rules.push(a.rule.id());
            }
        }
        let _ = writeln!(
            out,
            "{:>3}  {:<46} {:<22} {}",
            s.index,
            s.op.to_string(),
            allowed.join(" | "),
            rules.join(" | ")
        );
        if !s.model_table.same_rows(&last) {
            let f = |p: u16| names.name(p);
            if s.model_table.rows.is_empty() {
                let _ = writeln!(out, "       | (empty)");
            }
            for line in s.model_table.display(&f).to_string().lines() {
                let _ = writeln!(out, "       | {}", line.trim());
            }
            last = s.model_table.clone();
        }
    }
    out
}

/// A case as a scenario: the header of its configuration (its release, the variants that are
/// not that release's mainline ones, the hosts, the sysctls) and its calls, without
/// expectations.
pub fn case_scenario(config: &CaseConfig, ops: &[Op]) -> Scenario {
    Scenario {
        profile: Some(config.profile.release()),
        variants: config.profile.non_mainline(),
        hosts: if config.two_hosts { 2 } else { 1 },
        sysctls: config.sysctls.clone(),
        steps: ops.iter().cloned().map(Step::new).collect(),
        ..Scenario::default()
    }
}

/// The scenario file of a counterexample: the header of its configuration, every call with
/// the kernel's result as the expectation, the kernel's table after the divergent call, and a
/// comment saying what the model allowed and which rule decided.
pub fn counterexample_scenario(cx: &Counterexample) -> Scenario {
    let mut names = PortNames::new(&cx.run.env, &cx.ops);
    for s in &cx.run.steps {
        names.learn(&s.kernel_table);
    }
    let env = names.as_env();
    let mut scenario = Scenario {
        title: Some(match (cx.run.divergence(), cx.config.mutant) {
            (Some(d), Some(m)) => format!(
                "mutant {m} found by tcpconform mutants at {} (the kernel is right: replay \
                 --mutant {m} shows the divergence, plain replay agrees)",
                d.rule.id()
            ),
            (Some(d), None) => format!("divergence found by tcpconform run: {}", d.rule.id()),
            (None, _) => "tcpconform counterexample".to_owned(),
        }),
        ..case_scenario(&cx.config, &[])
    };
    for s in &cx.run.steps {
        let mut step = Step::new(s.op.clone()).expect([s.observed.outcome]);
        if s.verdict != Verdict::Agree {
            let allowed: Vec<String> = s
                .allowed
                .iter()
                .map(|a| format!("{} ({})", a.outcome, a.rule))
                .collect();
            let mut comment = format!("DIVERGENCE: the model allows {}", allowed.join(" | "));
            if matches!(s.verdict, Verdict::TableDiffers) {
                comment.push_str("; the model's table:");
                let f = |p: u16| names.name(p);
                for line in s.model_table.display(&f).to_string().lines() {
                    comment.push_str(&format!("\n  {}", line.trim()));
                }
            }
            step = step.comment(comment);
            step = step.table(table_patterns(&s.kernel_table, &env));
        }
        scenario.steps.push(step);
    }
    scenario
}

/// What a counterexample's scenario file expects of each call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expecting {
    /// What the kernel did, with what the model allowed in the divergent call's comment: the
    /// file holds on that kernel and captures its behaviour ([`counterexample_scenario`]).
    #[default]
    KernelResults,
    /// What the model allows, that is what Linux does, with the model's whole table after
    /// each divergent call and what the stack did in its comment: the file passes on Linux
    /// and fails on the stack under test (gVisor's findings, [`model_results_scenario`]).
    ModelResults,
}

/// The scenario of a counterexample found on a stack checked against Linux's rules (gVisor):
/// every call expects the outcomes the model allows, each divergent call the model's whole
/// table; its comment says what the stack did instead. `replay` passes it on Linux, and
/// `replay --target gvisor` shows the difference.
pub fn model_results_scenario(cx: &Counterexample) -> Scenario {
    let mut names = PortNames::new(&cx.run.env, &cx.ops);
    for s in &cx.run.steps {
        names.learn(&s.kernel_table);
        names.learn(s.model_full_table.as_ref().unwrap_or(&s.model_table));
    }
    let env = names.as_env();
    let f = |p: u16| names.name(p);
    let mut scenario = Scenario {
        title: Some(match cx.run.divergence() {
            Some(d) => format!(
                "Linux's results (the model's, {}) that the stack under test does not give",
                d.rule.id()
            ),
            None => "Linux's results (the model's)".to_owned(),
        }),
        variants: pinned_variants(cx),
        ..case_scenario(&cx.config, &[])
    };
    for s in &cx.run.steps {
        let mut outcomes: Vec<_> = Vec::new();
        for a in &s.allowed {
            if !outcomes.contains(&a.outcome) {
                outcomes.push(a.outcome);
            }
        }
        let mut step = Step::new(s.op.clone()).expect(outcomes);
        if s.verdict != Verdict::Agree {
            let mut comment = match &s.verdict {
                Verdict::PortNotAllowed(why) => format!(
                    "DIFFERENCE: the stack chose a port Linux would not: {why} ({})",
                    s.rule.id()
                ),
                Verdict::OutcomeDiffers => format!(
                    "DIFFERENCE: the stack returned {} ({} on Linux)",
                    s.observed.outcome,
                    s.rule.id()
                ),
                _ => format!("DIFFERENCE: the stack's table is another ({})", s.rule.id()),
            };
            if !matches!(s.verdict, Verdict::PortNotAllowed(_)) {
                // With a partial view (gVisor's procfs), the stack's rows are those compared.
                comment.push_str(if s.model_full_table.is_some() {
                    "; what it shows (rows of descriptors not in CLOSE):"
                } else {
                    "; what it shows:"
                });
                for line in s.kernel_table.display(&f).to_string().lines() {
                    comment.push_str(&format!("\n  {}", line.trim()));
                }
            }
            step = step.comment(comment);
            // A different table is the finding: Linux's is written down. Where the outcome
            // differs, the outcome is; the model's table after an outcome the stack did not
            // give is not one a file can vouch for (the lock-step run still compares it).
            if s.verdict == Verdict::TableDiffers {
                let full = s.model_full_table.as_ref().unwrap_or(&s.model_table);
                step = step.table(table_patterns(full, &env));
            }
        }
        scenario.steps.push(step);
    }
    scenario
}

/// The variant values a file of the model's results was predicted under: every variant's.
/// Linux builds differ there (this host's build may go the other way), and which variant a
/// call's result hangs on is not always one whose rules decided that call (an earlier call
/// may have left the state it reads), so the file pins them all; `replay` on a build that goes
/// another way judges it as `--across` does.
fn pinned_variants(cx: &Counterexample) -> Vec<tcpconform_model::variant::VariantSetting> {
    use tcpconform_model::variant::{VARIANTS, VariantSetting};
    let profile = cx.config.profile;
    let mut pins: Vec<VariantSetting> = VARIANTS
        .iter()
        .map(|spec| VariantSetting {
            variant: spec.variant,
            value: profile.variants.get(spec.variant),
        })
        .collect();
    pins.sort();
    pins
}

/// The table as patterns, ports named through `env`.
pub fn table_patterns(table: &Snapshot, env: &Env) -> Vec<RowPattern> {
    table
        .rows
        .iter()
        .map(|(r, _)| row_pattern_from(r, env))
        .collect()
}

/// What to do about a divergence found on the kernel `head` describes, saved as `file`: how
/// that kernel stands to the kernels the model was checked on, and the next step (the file
/// replayed under the other kernels of `ci/kernels.sh` tells a kernel change from a model
/// error).
pub fn next_steps(head: &crate::fingerprint::ReportHead, file: Option<&std::path::Path>) -> String {
    let mut out = String::new();
    let kernel = head.kernel.as_deref().unwrap_or("(not looked at)");
    let odd: Vec<String> = head.not_mainline.iter().map(|s| s.to_string()).collect();
    let _ = writeln!(
        out,
        "\n  kernel {kernel}: nearest profile {}{}",
        head.profile,
        if odd.is_empty() {
            String::new()
        } else {
            format!(", with variants that are not mainline: {}", odd.join(", "))
        }
    );
    match &head.newer_than {
        Some(n) => {
            let _ = writeln!(
                out,
                "  This kernel is newer than {n}, the newest release the model was checked on: \
                 the difference may be a change of the kernel that the model does not know yet."
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  The model was checked on {} kernels: either the model is wrong here, or this \
                 build differs from them.",
                head.profile
            );
        }
    }
    let dir = file
        .and_then(|f| f.parent())
        .map_or_else(|| "DIR".to_owned(), |d| d.display().to_string());
    let _ = writeln!(
        out,
        "  Next: replay it on the other kernels (Debian's 6.1, 6.12, 7.x under qemu, and this \
         one):\n    ci/kernels.sh matrix --cases 0 --scenarios {dir}\n  It holds on some \
         kernels and not on others: a kernel change (a profile rule or a variant with a probe, \
         `tcpconform kernel --list`). It diverges on every kernel: the model is wrong."
    );
    out
}
