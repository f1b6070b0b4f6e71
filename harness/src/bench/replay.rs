//! `bench --replay FILES`: what replaying scenario files costs beside the bare kernel cost of
//! the same calls. The full pass is `replay` (a sandbox per file, the calls, settled socket
//! tables, the model in lock-step, the file's expectations); the bare pass makes a fresh
//! namespace with the file's hosts, addresses and sysctls and runs the same calls, nothing else.
//! The two alternate file by file, so that both see the same load.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tcpconform_model::{Env, Op, Profile};

use crate::error::HarnessError;
use crate::kernel::sandbox_spec;
use crate::replay::{replay, scenario_config};
use crate::scenario::Scenario;
use crate::{lockstep, sandbox};

/// The figures of `bench --replay`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ReplayBenchReport {
    /// Files replayed (each once per round).
    pub files: u64,
    /// Rounds over all the files.
    pub rounds: u32,
    /// Calls replayed in each pass.
    pub calls: u64,
    /// Wall time of the full pass.
    #[serde(with = "crate::secs")]
    pub full_wall: Duration,
    /// Wall time of the bare pass.
    #[serde(with = "crate::secs")]
    pub bare_wall: Duration,
    /// Of each pass: the time the files' `sleep` calls ask for.
    #[serde(with = "crate::secs")]
    pub asleep: Duration,
    /// Of the full pass: calls where the kernel did what the model does not allow.
    pub divergences: u64,
}

impl ReplayBenchReport {
    /// Bare over full wall time: how close replaying comes to the kernel's own cost.
    pub fn ratio(&self) -> f64 {
        self.bare_wall.as_secs_f64() / self.full_wall.as_secs_f64().max(1e-9)
    }

    /// The same with the time asleep left out of both passes: what the harness adds to the
    /// calls themselves.
    pub fn ratio_awake(&self) -> f64 {
        let awake = |d: Duration| d.saturating_sub(self.asleep).as_secs_f64();
        awake(self.bare_wall) / awake(self.full_wall).max(1e-9)
    }

    /// The report as text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let per = |d: Duration| {
            d.as_secs_f64() * 1e3 / (self.files * u64::from(self.rounds)).max(1) as f64
        };
        let _ = writeln!(
            out,
            "{} files x {} round(s), {} calls a pass",
            self.files, self.rounds, self.calls
        );
        let _ = writeln!(
            out,
            "full replay  {:>8.2} s  {:>8.2} ms a file",
            self.full_wall.as_secs_f64(),
            per(self.full_wall)
        );
        let _ = writeln!(
            out,
            "bare kernel  {:>8.2} s  {:>8.2} ms a file",
            self.bare_wall.as_secs_f64(),
            per(self.bare_wall)
        );
        let _ = writeln!(
            out,
            "ratio bare/full: wall {:.2}; without the {:.1} s the files sleep: {:.2}",
            self.ratio(),
            self.asleep.as_secs_f64(),
            self.ratio_awake()
        );
        if self.divergences > 0 {
            let _ = writeln!(
                out,
                "{} call(s) diverged from the model (the figures still count them)",
                self.divergences
            );
        }
        out
    }
}

/// The bare pass of one file: its namespaces and the same calls, nothing else.
fn bare(sc: &Scenario, profile: Profile) -> Result<(), HarnessError> {
    let config = scenario_config(sc, profile);
    let spec = sandbox_spec(&config, &sc.addresses);
    let ops: Vec<Op> = sc.steps.iter().map(|s| s.op.clone()).collect();
    let needs_diag = ops
        .iter()
        .any(|op| matches!(op, Op::Destroy { .. } | Op::PeerReboots { .. }));
    let (r, _) = sandbox::run_bare(&spec, needs_diag, |case| {
        let mut env = Env::new();
        for op in &ops {
            let observed = case.apply(op, &env)?;
            lockstep::capture(op, &observed, &mut env);
        }
        Ok::<(), HarnessError>(())
    })?;
    r
}

/// Replays `files` `rounds` times in full and bare, alternating file by file. Every file is
/// replayed with the model for `profile` (a file written for another kernel too: what is
/// measured is the harness, not the file's expectations).
pub fn run(
    files: &[(String, Scenario)],
    profile: Profile,
    rounds: u32,
    progress: &dyn Fn(u64),
) -> Result<ReplayBenchReport, HarnessError> {
    let mut report = ReplayBenchReport {
        files: files.len() as u64,
        rounds,
        calls: files.iter().map(|(_, s)| s.steps.len() as u64).sum::<u64>() * u64::from(rounds),
        ..ReplayBenchReport::default()
    };
    let asleep: u64 = files
        .iter()
        .flat_map(|(_, s)| &s.steps)
        .map(|s| s.op.sleep_ms())
        .sum();
    report.asleep = Duration::from_millis(asleep * u64::from(rounds));
    let mut done = 0;
    for _ in 0..rounds {
        for (_, sc) in files {
            let mut here = sc.clone();
            here.profile = Some(profile.release());
            here.variants.clear();
            let t = Instant::now();
            let r = replay(&here, profile)?;
            report.full_wall += t.elapsed();
            if let Some(e) = r.run.harness_error {
                return Err(HarnessError::MidCase {
                    call: r.run.steps.len() + 1,
                    reason: e,
                });
            }
            report.divergences += r.divergences() as u64;
            let t = Instant::now();
            bare(sc, profile)?;
            report.bare_wall += t.elapsed();
            done += 1;
            progress(done);
        }
    }
    Ok(report)
}
