//! Digests of a campaign's cases, to check that two runs of the same seed agree: the
//! same cases generated, the same verdicts, the same results.
//!
//! Each is a 64-bit FNV-1a hash over every case in the order it ran (shrinking's re-runs
//! included), over text that leaves out what the kernel chooses at random (ports):
//!
//! - `cases`: each case's calls, as a scenario file writes them (ports as variables);
//! - `verdicts`: each case's per-call verdicts (`agree`, `outcome`, `table`, `port`) and
//!   harness failure, if any;
//! - `outcomes`: each call's result (`0`, `-1 EADDRINUSE`, `5`, `EOF`, `BLOCKS`, …).
//!
//! [`RunDigest::lines`], when kept, holds one line per case with the three hashes of that
//! case, so that two runs' records can be compared with `diff` to find the first case that
//! differs.

use serde::{Deserialize, Serialize};
use tcpconform_model::Op;

use crate::lockstep::{Run, Verdict};

/// FNV-1a, 64 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fnv(u64);

impl Fnv {
    const fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn write_str(&mut self, s: &str) {
        self.write(s.as_bytes());
        self.write(&[0xff]);
    }
}

impl Default for Fnv {
    fn default() -> Self {
        Self::new()
    }
}

/// The digests of the cases run so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDigest {
    /// How many cases.
    pub cases: u64,
    /// The hash of every case's calls (hex).
    pub calls_hash: String,
    /// The hash of every case's verdicts (hex).
    pub verdicts_hash: String,
    /// The hash of every call's result (hex).
    pub outcomes_hash: String,
    /// One line per case, when asked for: `case calls verdicts outcomes summary`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub lines: Vec<String>,
    #[serde(skip)]
    state: [Fnv; 3],
    #[serde(skip)]
    keep_lines: bool,
}

/// The verdict of one call, without the text that names ports.
fn verdict_kind(v: &Verdict) -> &'static str {
    match v {
        Verdict::Agree => "agree",
        Verdict::OutcomeDiffers => "outcome",
        Verdict::TableDiffers => "table",
        Verdict::PortNotAllowed(_) => "port",
    }
}

impl RunDigest {
    /// An empty digest; `keep_lines` keeps a line per case.
    pub fn new(keep_lines: bool) -> Self {
        let mut f = Self {
            keep_lines,
            ..Self::default()
        };
        f.refresh();
        f
    }

    /// Adds one case: its calls and its lock-step run.
    pub fn add(&mut self, ops: &[Op], run: &Run) {
        let mut case = [Fnv::new(); 3];
        for op in ops {
            case[0].write_str(&op.to_string());
        }
        let mut summary = String::new();
        for s in &run.steps {
            case[1].write_str(verdict_kind(&s.verdict));
            case[2].write_str(&s.observed.outcome.to_string());
        }
        if let Some(e) = &run.harness_error {
            case[1].write_str("harness error");
            case[1].write_str(e);
        }
        match run.divergence() {
            Some(d) => summary.push_str(&format!(
                "diverged at call {} ({})",
                d.index,
                verdict_kind(&d.verdict)
            )),
            None if run.harness_error.is_some() => summary.push_str("harness error"),
            None => summary.push_str(&format!("agreed on {} calls", run.steps.len())),
        }
        for (total, c) in self.state.iter_mut().zip(case) {
            total.write(&c.0.to_le_bytes());
        }
        self.cases += 1;
        if self.keep_lines {
            self.lines.push(format!(
                "{:>7} {:016x} {:016x} {:016x} {summary}",
                self.cases, case[0].0, case[1].0, case[2].0
            ));
        }
        self.refresh();
    }

    fn refresh(&mut self) {
        self.calls_hash = format!("{:016x}", self.state[0].0);
        self.verdicts_hash = format!("{:016x}", self.state[1].0);
        self.outcomes_hash = format!("{:016x}", self.state[2].0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_1a_of_known_input() {
        let mut h = Fnv::new();
        h.write(b"a");
        assert_eq!(h.0, 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn the_same_cases_give_the_same_digest_and_another_order_does_not() {
        let ops_a = vec![Op::Sleep { ms: 1 }];
        let ops_b = vec![Op::Sleep { ms: 2 }];
        let run = Run {
            steps: Vec::new(),
            harness_error: None,
            env: Default::default(),
        };
        let mut x = RunDigest::new(true);
        let mut y = RunDigest::new(false);
        let mut z = RunDigest::new(false);
        for f in [&mut x, &mut y] {
            f.add(&ops_a, &run);
            f.add(&ops_b, &run);
        }
        z.add(&ops_b, &run);
        z.add(&ops_a, &run);
        assert_eq!(x.calls_hash, y.calls_hash);
        assert_ne!(x.calls_hash, z.calls_hash);
        assert_eq!(x.lines.len(), 2);
        assert!(y.lines.is_empty());
    }
}
