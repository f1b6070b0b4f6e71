//! The running kernel's fingerprint: its release string, the profile the model predicts for,
//! and the value of every behaviour [variant](tcpconform_model::variant), each with the
//! evidence that decided it.
//!
//! Builds of one release differ (distribution backports, cloud builds, patched kernels), so
//! the release string only names the profile; each variant's probe decides its value. A probe
//! is a short scenario run once per process in a fresh namespace: the kernel's results are
//! recorded, then judged by the model under each value of the variant, and the value whose
//! model agrees with every call and table is the kernel's. A probe that neither value explains
//! keeps the release's mainline value and says so: whatever the kernel does there is a
//! divergence for the campaign to find, not a variant.

use std::net::IpAddr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use tcpconform_model::variant::{Probe, VARIANTS, Value, VariantSpec};
use tcpconform_model::{
    Host, Model, Observed, Op, Profile, Snapshot, Topology, Variant, VariantSetting,
};

use crate::config::CaseConfig;
use crate::error::HarnessError;
use crate::lockstep::{LockStep, Verdict, capture};
use crate::scenario::{self, Scenario};

/// The running kernel, as the model sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The operating system (`std::env::consts::OS`).
    pub os: String,
    /// The kernel release (`uname -r`).
    pub release: String,
    /// The profile the model predicts for: the release, and the variant values found.
    pub profile: Profile,
    /// The newest release the model was checked on, when this kernel is newer.
    pub newer_than: Option<Profile>,
    /// How each variant's value was decided.
    pub evidence: Vec<Evidence>,
}

/// How one variant's value was decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The variant.
    pub variant: Variant,
    /// The value the profile has (the probed one, else the release's).
    pub value: String,
    /// How it was decided.
    pub decided: Decided,
    /// The probe's calls and what the kernel returned (scenario probes).
    pub calls: Vec<ProbeCall>,
}

/// How a variant's value was decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decided {
    /// The probe told: its model agreed with the kernel under this value only.
    Probed,
    /// The probe did not tell (the reason); the release's value is kept.
    Inconclusive(String),
    /// Not probed: the release decides, for the reason given.
    ByRelease(String),
}

/// One call of a probe, and its result on the kernel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeCall {
    /// The call, as a scenario writes it.
    pub call: String,
    /// What the kernel returned.
    pub result: String,
}

/// A probe's run on the kernel: each call's observation and the table after it.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// One entry per call.
    pub steps: Vec<(Observed, Snapshot)>,
}

impl Fingerprint {
    /// The text report: release, profile, and each variant's value with its evidence.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(out, "kernel   {} {}", self.os, self.release);
        let _ = writeln!(out, "profile  {}", self.profile.describe());
        if let Some(p) = self.newer_than {
            let _ = writeln!(
                out,
                "         newer than any release the model was checked on (newest: {p})"
            );
        }
        for e in &self.evidence {
            let how = match &e.decided {
                Decided::Probed => "probed".to_string(),
                Decided::Inconclusive(why) => format!("INCONCLUSIVE, release value kept: {why}"),
                Decided::ByRelease(why) => format!("by release: {why}"),
            };
            let _ = writeln!(out, "{:<24} {:<22} {how}", e.variant.name(), e.value);
            for c in &e.calls {
                let _ = writeln!(out, "    {:<44} = {}", c.call, c.result);
            }
        }
        out
    }

    /// One line for the head of a report: `kernel 6.18.44-fc-v1300, profile linux-6.18
    /// (listen_after_connect=einval, …)`.
    pub fn headline(&self) -> String {
        let mut s = format!(
            "kernel {}, profile {}",
            self.release,
            self.profile.describe()
        );
        if let Some(p) = self.newer_than {
            s.push_str(&format!(" (newer than {p}, the newest the model knows)"));
        }
        if self
            .evidence
            .iter()
            .any(|e| matches!(e.decided, Decided::Inconclusive(_)))
        {
            s.push_str("; some probes were inconclusive (tcpconform kernel)");
        }
        s
    }
}

/// What every report starts with: the kernel, and the profile the model predicted for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportHead {
    /// The kernel release (`uname -r`); `None` when no kernel was looked at (`predict`).
    pub kernel: Option<String>,
    /// The profile's release (`linux-6.18`).
    pub profile: String,
    /// Every variant's value.
    pub variants: tcpconform_model::Variants,
    /// The variant values that differ from the release's mainline ones.
    pub not_mainline: Vec<VariantSetting>,
    /// Where the profile came from: `probed` (the running kernel's fingerprint), `--profile`
    /// (given, with its release's values), or `default` (the model alone).
    pub source: String,
    /// The newest release the model was checked on, when the kernel is newer.
    pub newer_than: Option<String>,
    /// Variants whose probe did not tell (their release value was kept).
    pub inconclusive: Vec<Variant>,
    /// What of the table is compared, when not all of it (gVisor's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compared: Option<String>,
    /// The target's own sysctl values where they differ from Linux's defaults (gVisor's),
    /// which every case's model starts from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_sysctls: Vec<tcpconform_model::Sysctl>,
}

impl ReportHead {
    /// The head of a report predicting for `profile`, from `source`, on the kernel described
    /// by `fingerprint` (when one was looked at).
    pub fn new(profile: Profile, source: &str, fingerprint: Option<&Fingerprint>) -> Self {
        Self {
            kernel: fingerprint.map(|f| f.release.clone()),
            profile: profile.to_string(),
            variants: profile.variants,
            not_mainline: profile.non_mainline(),
            source: source.to_string(),
            newer_than: fingerprint.and_then(|f| f.newer_than.map(|p| p.to_string())),
            inconclusive: fingerprint
                .map(|f| {
                    f.evidence
                        .iter()
                        .filter(|e| matches!(e.decided, Decided::Inconclusive(_)))
                        .map(|e| e.variant)
                        .collect()
                })
                .unwrap_or_default(),
            compared: None,
            target_sysctls: Vec::new(),
        }
    }

    /// Two lines: the kernel and profile, then every variant's value (`*` where it is not the
    /// release's mainline value).
    pub fn render(&self) -> String {
        let mut out = match &self.kernel {
            Some(k) => format!("kernel {k}, profile {} ({})", self.profile, self.source),
            None => format!("no kernel, profile {} ({})", self.profile, self.source),
        };
        if let Some(n) = &self.newer_than {
            out.push_str(&format!(
                "; this kernel is newer than {n}, the newest release the model was checked on"
            ));
        }
        if !self.inconclusive.is_empty() {
            let names: Vec<&str> = self.inconclusive.iter().map(|v| v.name()).collect();
            out.push_str(&format!(
                "; inconclusive probes: {} (see `tcpconform kernel`)",
                names.join(", ")
            ));
        }
        if let Some(c) = &self.compared {
            out.push_str(&format!("\ncompared: {c}"));
        }
        if !self.target_sysctls.is_empty() {
            let list: Vec<String> = self.target_sysctls.iter().map(|s| s.to_string()).collect();
            out.push_str(&format!(
                "\nthe target's sysctls, where not Linux's defaults: {}",
                list.join(", ")
            ));
        }
        out.push_str("\nvariants:");
        for (v, value) in self.variants.pairs() {
            let odd = self.not_mainline.iter().any(|s| s.variant == v);
            out.push_str(&format!(" {v}={value}{}", if odd { "*" } else { "" }));
        }
        if !self.not_mainline.is_empty() {
            out.push_str(&format!("  (* not mainline {})", self.profile));
        }
        out.push('\n');
        out
    }
}

/// The running kernel's release string (`uname -r`).
pub fn running_release() -> Result<String, String> {
    #[cfg(unix)]
    {
        let uts = nix::sys::utsname::uname().map_err(|e| format!("uname failed: {e}"))?;
        Ok(uts.release().to_string_lossy().into_owned())
    }
    #[cfg(not(unix))]
    {
        Err(format!(
            "the harness has no backend for {} (the model's profiles can still be predicted)",
            std::env::consts::OS
        ))
    }
}

/// The running kernel's fingerprint, probed once per process.
pub fn fingerprint() -> Result<&'static Fingerprint, String> {
    static FINGERPRINT: OnceLock<Result<Fingerprint, String>> = OnceLock::new();
    FINGERPRINT
        .get_or_init(|| {
            let release = running_release()?;
            let os = std::env::consts::OS;
            let base = crate::kernel::profile_of(os, &release)?;
            take(os, &release, base)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Probes the running kernel, whose release profile is `base`.
fn take(os: &str, release: &str, base: Profile) -> Result<Fingerprint, String> {
    let newest = Profile::KNOWN
        .iter()
        .map(|(_, p)| *p)
        .filter(|p| p.os == base.os)
        .max_by_key(|p| (p.major, p.minor));
    let newer_than = newest.filter(|n| (base.major, base.minor) > (n.major, n.minor));
    let mut profile = base;
    let mut evidence = Vec::new();
    for spec in VARIANTS {
        let e = probe_one(spec, base).map_err(|e| {
            format!(
                "probing variant {} of kernel {release}: {e}",
                spec.variant.name()
            )
        })?;
        if let Decided::Probed = e.decided {
            let value = spec.value(&e.value).expect("a value of the spec");
            profile = profile.with_variant(VariantSetting {
                variant: spec.variant,
                value,
            });
        }
        evidence.push(e);
    }
    Ok(Fingerprint {
        os: os.to_string(),
        release: release.to_string(),
        profile,
        newer_than,
        evidence,
    })
}

/// Decides one variant on the running kernel.
fn probe_one(spec: &VariantSpec, base: Profile) -> Result<Evidence, HarnessError> {
    let release_value = base.variant(spec.variant).to_string();
    let evidence = |decided, value: String, calls| Evidence {
        variant: spec.variant,
        value,
        decided,
        calls,
    };
    if base.os != tcpconform_model::profile::Os::Linux {
        return Ok(evidence(
            Decided::ByRelease("the variants are Linux's; other OSes are not probed".into()),
            release_value,
            Vec::new(),
        ));
    }
    match spec.probe {
        Probe::Release(why) => Ok(evidence(
            Decided::ByRelease(why.into()),
            release_value,
            Vec::new(),
        )),
        Probe::SysctlPresent(name) => {
            // Whether a sysctl exists is the same in every namespace: looking is enough, and
            // nothing is written.
            let path = format!("/proc/sys/{}", name.replace('.', "/"));
            let present = std::path::Path::new(&path).exists();
            let value = spec.values[usize::from(present)].to_string();
            Ok(evidence(
                Decided::Probed,
                value,
                vec![ProbeCall {
                    call: format!("stat {path}"),
                    result: if present { "exists" } else { "absent" }.into(),
                }],
            ))
        }
        Probe::Scenario(text) => {
            let sc = probe_scenario(spec.variant, text);
            let trace = run_probe(&sc, base)?;
            let calls = sc
                .steps
                .iter()
                .zip(&trace.steps)
                .map(|(step, (obs, _))| ProbeCall {
                    call: step.op.to_string(),
                    result: obs.outcome.to_string(),
                })
                .collect();
            let agreeing = agreeing_values(spec.variant, &sc, base, &trace);
            Ok(match agreeing.as_slice() {
                [v] => evidence(Decided::Probed, spec.values[usize::from(*v)].into(), calls),
                [] => evidence(
                    Decided::Inconclusive(
                        "the kernel agrees with the model under neither value: a divergence \
                         (replay the probe with `tcpconform kernel --json`'s calls)"
                            .into(),
                    ),
                    release_value,
                    calls,
                ),
                _ => evidence(
                    Decided::Inconclusive("both values explain the kernel's results".into()),
                    release_value,
                    calls,
                ),
            })
        }
    }
}

/// A variant's probe scenario, parsed (the table's text is checked by a test).
pub fn probe_scenario(variant: Variant, text: &str) -> Scenario {
    scenario::parse(text, Some(variant.name()))
        .unwrap_or_else(|e| panic!("the probe of {variant} does not parse: {e}"))
}

/// The values of `variant` under which the model agrees with `trace` on every call and table,
/// the other variants as in `base`.
pub fn agreeing_values(
    variant: Variant,
    sc: &Scenario,
    base: Profile,
    trace: &Trace,
) -> Vec<Value> {
    (0..=1)
        .filter(|value| {
            let profile = base.with_variant(VariantSetting {
                variant,
                value: *value,
            });
            agrees(sc, profile, trace)
        })
        .collect()
}

/// Whether the model for `profile` agrees with every step of `trace`.
fn agrees(sc: &Scenario, profile: Profile, trace: &Trace) -> bool {
    if trace.steps.len() != sc.steps.len() {
        return false;
    }
    let mut ls = LockStep::new(probe_model(sc, profile));
    sc.steps
        .iter()
        .zip(&trace.steps)
        .enumerate()
        .all(|(i, (step, (obs, table)))| {
            ls.step(i + 1, &step.op, *obs, table.clone(), None).verdict == Verdict::Agree
        })
}

/// The model of a probe scenario under `profile`.
fn probe_model(sc: &Scenario, profile: Profile) -> Model {
    let config = probe_config(sc, profile);
    let mut topology: Topology = config.topology();
    for (h, ip) in &sc.addresses {
        topology.add_address(*h, *ip);
    }
    Model::new(profile, topology, config.host_sysctls())
}

fn probe_config(sc: &Scenario, profile: Profile) -> CaseConfig {
    CaseConfig {
        profile,
        two_hosts: sc.hosts >= 2,
        sysctls: sc.sysctls.clone(),
        mutant: None,
    }
}

/// Runs a probe on the kernel in a fresh sandbox and records what it did.
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "macos"))]
fn run_probe(sc: &Scenario, profile: Profile) -> Result<Trace, HarnessError> {
    use crate::lockstep::System;
    let config = probe_config(sc, profile);
    let addresses: Vec<(Host, IpAddr)> = sc.addresses.clone();
    let spec = crate::kernel::sandbox_spec(&config, &addresses);
    let ops: Vec<Op> = sc.steps.iter().map(|s| s.op.clone()).collect();
    crate::sandbox::run_case(&spec, move |case| {
        let mut system = crate::kernel::CaseSystem {
            case,
            unsettled: false,
        };
        let mut env = tcpconform_model::Env::new();
        let mut trace = Trace::default();
        for op in &ops {
            let observed = system.exec(op, &env)?;
            capture(op, &observed, &mut env);
            let table = system.table()?;
            trace.steps.push((observed, table));
        }
        Ok(trace)
    })?
}

#[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "macos")))]
fn run_probe(_sc: &Scenario, _profile: Profile) -> Result<Trace, HarnessError> {
    Err(HarnessError::Unsupported {
        what: "probing the kernel".into(),
        reason: format!("no backend for {}", std::env::consts::OS),
    })
}

/// What the model alone does on a probe under `profile` (its first branch at every call): the
/// trace a kernel with those variant values would leave. For tests of the probes.
pub fn model_trace(sc: &Scenario, profile: Profile) -> Trace {
    let mut model = probe_model(sc, profile);
    let mut env = tcpconform_model::Env::new();
    let mut trace = Trace::default();
    for step in &sc.steps {
        let b = model
            .branches(&step.op, &env, &tcpconform_model::Hint::default())
            .into_iter()
            .next()
            .expect("every op has a branch");
        for (v, p) in &b.bindings {
            env.bind(v, *p);
        }
        let observed = Observed::outcome(b.outcome);
        trace.steps.push((observed, b.model.snapshot()));
        model = b.model;
    }
    trace
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcpconform_model::variant::Variants;

    /// Every variant's probe, fed what a kernel with each value would do (the model's own
    /// answers under that value), picks that value, and only that one, whatever the other
    /// variants' values: a probe is decisive and depends on its own variant alone.
    #[test]
    fn every_probe_picks_the_value_the_kernel_has_whatever_the_other_variants() {
        for spec in VARIANTS {
            let Probe::Scenario(text) = spec.probe else {
                continue;
            };
            let sc = probe_scenario(spec.variant, text);
            let others: Vec<Variant> = Variant::ALL
                .iter()
                .copied()
                .filter(|v| *v != spec.variant)
                .collect();
            for combo in 0..(1u32 << others.len()) {
                let mut base = Profile::linux(6, 18);
                for (i, v) in others.iter().enumerate() {
                    base = base.with_variant(VariantSetting {
                        variant: *v,
                        value: Value::from(combo & (1 << i) != 0),
                    });
                }
                for value in [0, 1] {
                    let kernel = base.with_variant(VariantSetting {
                        variant: spec.variant,
                        value,
                    });
                    let trace = model_trace(&sc, kernel);
                    assert_eq!(
                        agreeing_values(spec.variant, &sc, base, &trace),
                        vec![value],
                        "{}: a kernel with {} (others {:?}) is not told apart",
                        spec.variant,
                        spec.values[usize::from(value)],
                        kernel.variants
                    );
                }
            }
        }
    }

    #[test]
    fn the_rendered_fingerprint_names_release_profile_and_every_variant() {
        let f = Fingerprint {
            os: "linux".into(),
            release: "6.18.44-fc-v1300".into(),
            profile: Profile::linux(6, 18).with_variant(VariantSetting {
                variant: Variant::ListenAfterConnect,
                value: 1,
            }),
            newer_than: None,
            evidence: VARIANTS
                .iter()
                .map(|s| Evidence {
                    variant: s.variant,
                    value: s.values[0].into(),
                    decided: Decided::Probed,
                    calls: Vec::new(),
                })
                .collect(),
        };
        let text = f.render();
        assert!(text.contains("6.18.44-fc-v1300"), "{text}");
        assert!(text.contains("listen_after_connect=einval"), "{text}");
        for v in Variant::ALL {
            assert!(text.contains(v.name()), "{text}");
        }
        assert_eq!(
            Variants::of_release(tcpconform_model::profile::Os::Linux, 6, 18),
            Profile::linux(6, 18).variants
        );
    }
}
