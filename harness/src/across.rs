//! Scenarios across kernels: a scenario written for one kernel (its `@profile`), replayed on
//! another with the model for *that* kernel.
//!
//! On its own kernel a scenario must hold: every call returns what the file says. On another
//! kernel some expectations may fail, and that is the point of a profile difference: the model
//! for the other kernel predicts exactly which. [`replay_across`] checks both at once:
//!
//! - the kernel agrees with the model for its own profile on every call (no divergence);
//! - the file's expectations fail on the kernel at exactly the calls where they fail on that
//!   model ([`predict`] with the kernel's profile).
//!
//! The verdict is [`Across::Holds`] (the file is right for this kernel too),
//! [`Across::Differs`] (it is not, at the calls the model names: a behaviour that differs
//! between the file's kernel and this one, proven on this kernel), or [`Across::Fails`]
//! (the model is wrong about this kernel, or about where the file stops holding).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use tcpconform_model::{Op, Profile, SysctlKey};

use crate::error::HarnessError;
use crate::replay::{ScenarioReport, predict, replay};
use crate::scenario::Scenario;

/// How a scenario fared on a kernel, judged by the model for that kernel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Across {
    /// Every expectation of the file held, and the kernel agreed with its model.
    Holds,
    /// The kernel agreed with its model, and the file's expectations failed at these calls
    /// (1-based indices).
    Differs(Vec<usize>),
    /// The file needs a sysctl this kernel does not have, and its profile agrees (the sysctl's
    /// absence is the difference).
    Unavailable(String),
    /// The kernel diverged from its model, or has a sysctl the profile says it lacks (or the
    /// other way round), or the harness failed: the reason.
    Fails(String),
}

/// A scenario replayed on a kernel with that kernel's model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AcrossReport {
    /// The profile the file was written for (`None`: any kernel).
    pub file_profile: Option<Profile>,
    /// The kernel's profile, which the model predicted for.
    pub profile: Profile,
    /// The replay on the kernel (`None` when it could not run: [`Across::Unavailable`]).
    pub replay: Option<ScenarioReport>,
    /// Calls whose expectations the model for `profile` says fail (following the file's
    /// outcomes where the model allows several).
    pub predicted: Vec<usize>,
    /// The verdict.
    pub verdict: Across,
}

impl AcrossReport {
    /// Whether the model was right about this kernel (held or differed as predicted).
    pub fn passed(&self) -> bool {
        !matches!(self.verdict, Across::Fails(_))
    }

    /// Where the file stopped holding, at the given calls: `line 12 (result)`, `line 14
    /// (table)` (a table expectation's message starts with "after", see `replay`).
    fn lines(&self, calls: &[usize]) -> Vec<String> {
        let Some(replay) = &self.replay else {
            return Vec::new();
        };
        let mut lines: Vec<(usize, &str)> = replay
            .unmet
            .iter()
            .filter(|u| calls.contains(&u.index))
            .map(|u| {
                let kind = if u.message.starts_with("after ") {
                    "table"
                } else {
                    "result"
                };
                (u.line, kind)
            })
            .collect();
        lines.sort_unstable();
        lines.dedup();
        lines
            .into_iter()
            .map(|(l, k)| format!("line {l} ({k})"))
            .collect()
    }

    /// One line: `ACROSS linux-6.1 NAME: holds` (or `differs from linux-6.18 at line 12
    /// (result); calls 4; …`, `FAILS: …`).
    pub fn summary(&self, name: &str) -> String {
        let from = self
            .file_profile
            .map_or_else(|| "any kernel".to_owned(), |p| p.to_string());
        let what = match &self.verdict {
            Across::Holds => format!("holds (written for {from})"),
            Across::Differs(calls) => {
                let list = |v: &[usize]| {
                    v.iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let how = if *calls == self.predicted {
                    format!("as the model for {} predicts", self.profile)
                } else {
                    format!(
                        "the model for {} agreed with every call (it predicted calls: {})",
                        self.profile,
                        if self.predicted.is_empty() {
                            "none".to_owned()
                        } else {
                            list(&self.predicted)
                        }
                    )
                };
                format!(
                    "differs from {from} at {}; calls {}; {how}",
                    self.lines(calls).join(", "),
                    list(calls),
                )
            }
            Across::Unavailable(key) => {
                format!("this kernel has no {key} (as the profile says); not run")
            }
            Across::Fails(why) => format!("FAILS: {why}"),
        };
        format!("ACROSS {} {name}: {what}", self.profile)
    }

    /// The replay's report, then the summary line.
    pub fn render(&self, name: &str) -> String {
        let mut out = self
            .replay
            .as_ref()
            .map(|r| r.render(name))
            .unwrap_or_default();
        let _ = writeln!(out, "{}", self.summary(name));
        out
    }
}

/// The verdict from the replay's divergences and the calls whose expectations failed on the
/// kernel. The model for the kernel follows the kernel's choices, so when it agreed on every
/// call, each failed expectation is a behaviour of the file's kernel that this kernel does not
/// have (or, where the model allows several outcomes, did not show this time).
pub fn judge(
    divergences: usize,
    harness_error: Option<&str>,
    observed: &BTreeSet<usize>,
) -> Across {
    if let Some(e) = harness_error {
        return Across::Fails(format!("harness failure: {e}"));
    }
    if divergences > 0 {
        return Across::Fails(format!(
            "{divergences} call(s) diverged from the model for this kernel"
        ));
    }
    if observed.is_empty() {
        Across::Holds
    } else {
        Across::Differs(observed.iter().copied().collect())
    }
}

/// The sysctls a scenario writes (its header and its `sysctl` ops).
fn sysctl_keys(scenario: &Scenario) -> BTreeSet<SysctlKey> {
    let mut keys: BTreeSet<SysctlKey> = scenario.sysctls.iter().map(|(_, s)| s.key).collect();
    for step in &scenario.steps {
        if let Op::Sysctl { setting, .. } = &step.op {
            keys.insert(setting.key);
        }
    }
    keys
}

/// Whether the running kernel has `key` (its file under `/proc/sys`: a new namespace has the
/// same files as the initial one; nothing is written).
pub fn kernel_has_sysctl(key: SysctlKey) -> bool {
    std::path::Path::new(&key.proc_path()).exists()
}

/// Replays `scenario` on the running kernel with the model for `profile` (the kernel's), whatever
/// profile the file names, and judges it (see the module docs).
pub fn replay_across(scenario: &Scenario, profile: Profile) -> Result<AcrossReport, HarnessError> {
    // A sysctl the file needs and this kernel lacks: the profile must say so too, and then
    // the difference is the sysctl's absence (nothing to replay).
    for key in sysctl_keys(scenario) {
        let (kernel, model) = (kernel_has_sysctl(key), profile.has_sysctl(key));
        if !kernel || !model {
            let verdict = if kernel == model {
                Across::Unavailable(key.name().to_owned())
            } else {
                Across::Fails(format!(
                    "this kernel {} {key}, the profile {profile} says it {}",
                    if kernel { "has" } else { "has no" },
                    if model { "does" } else { "does not" }
                ))
            };
            return Ok(AcrossReport {
                file_profile: scenario.written_for(),
                profile,
                replay: None,
                predicted: Vec::new(),
                verdict,
            });
        }
    }
    let mut here = scenario.clone();
    here.profile = Some(profile.release());
    here.variants.clear();
    let model = predict(&here, profile);
    let replay = replay(&here, profile)?;
    let predicted: BTreeSet<usize> = model.unmet.iter().map(|u| u.index).collect();
    let observed: BTreeSet<usize> = replay.unmet.iter().map(|u| u.index).collect();
    let verdict = judge(
        replay.divergences(),
        replay.run.harness_error.as_deref(),
        &observed,
    );
    Ok(AcrossReport {
        file_profile: scenario.written_for(),
        profile,
        replay: Some(replay),
        predicted: predicted.into_iter().collect(),
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[usize]) -> BTreeSet<usize> {
        v.iter().copied().collect()
    }

    #[test]
    fn a_file_that_holds_holds() {
        assert_eq!(judge(0, None, &set(&[])), Across::Holds);
    }

    #[test]
    fn failed_expectations_without_a_divergence_are_a_difference() {
        assert_eq!(judge(0, None, &set(&[4, 7])), Across::Differs(vec![4, 7]));
    }

    #[test]
    fn a_divergence_or_a_harness_failure_fails() {
        assert!(matches!(judge(1, None, &set(&[])), Across::Fails(_)));
        assert!(matches!(judge(1, None, &set(&[4])), Across::Fails(_)));
        assert!(matches!(judge(0, Some("x"), &set(&[])), Across::Fails(_)));
    }

    #[test]
    fn the_sysctls_of_header_and_ops_are_found() {
        let sc = crate::scenario::parse(
            "@sysctl net.ipv4.tcp_tw_reuse=1\n\nsysctl(net.ipv4.tcp_tw_reuse_delay=5) = 0\n",
            None,
        )
        .expect("parses");
        let keys: Vec<&str> = sysctl_keys(&sc).iter().map(|k| k.name()).collect();
        assert_eq!(
            keys,
            ["net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_tw_reuse_delay"]
        );
    }
}
