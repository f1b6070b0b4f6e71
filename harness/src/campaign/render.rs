//! A campaign's report for people and for CI tools: the distinct divergences, most frequent
//! first, each with its replay command; the new ones shown in full, side by side.

use std::fmt::Write as _;

use super::{CampaignOutcome, CampaignReport};
use crate::junit;
use crate::report::format_run;

/// The replay command of a group's file: `replay` is the command up to the file
/// (`target/release/tcpconform replay --profile linux-6.1`).
fn replay_line(replay: &str, g: &super::groups::DivergenceGroup) -> Option<String> {
    g.path().map(|p| format!("{replay} {}", p.display()))
}

/// The groups: a summary line, then one block per group (count, first case, known or new, the
/// signature, how shrinking went, the replay command), the new ones with their run side by
/// side; then the baseline entries no group matched.
pub fn render_groups(r: &CampaignReport, replay: &str) -> String {
    let mut out = String::new();
    if r.groups.is_empty() {
        return out;
    }
    let new = r.new_groups().count();
    let _ = writeln!(
        out,
        "{} distinct divergence(s) in {} divergent case(s) of {}: {new} new{}",
        r.groups.len(),
        r.divergent_cases,
        r.cases,
        if r.baseline.is_some() {
            format!(", {} known to the baseline", r.groups.len() - new)
        } else {
            String::new()
        }
    );
    for (i, g) in r.groups.iter().enumerate() {
        let cx = &g.counterexample;
        let tag = match &g.known {
            Some(k) => format!("KNOWN ({})", k.reason),
            None => "NEW".to_owned(),
        };
        let _ = writeln!(
            out,
            "\n#{} {tag}: {} case(s), the first at case {}",
            i + 1,
            g.count,
            g.first_case
        );
        let _ = writeln!(out, "   {}", g.signature);
        let mut shrink = cx.headline();
        let _ = write!(shrink, ", {} re-runs", g.shrink.runs);
        if g.shrink.stopped_early {
            shrink.push_str("; the shrink budget ran out: not 1-minimal, the best case so far");
        }
        let _ = writeln!(out, "   {shrink}");
        if let Some(line) = replay_line(replay, g) {
            let _ = writeln!(out, "   replay: {line}");
        }
        if g.known.is_none() {
            let run = format_run(&cx.run, &cx.config, &cx.run.env, None);
            for line in run.lines() {
                let _ = writeln!(out, "   {line}");
            }
        }
    }
    if let Some(j) = &r.baseline
        && !j.stale.is_empty()
    {
        let _ = writeln!(
            out,
            "\n{} baseline entr{} in scope that no divergence matched (stale: the kernel no \
             longer differs there, or no case got there this time):",
            j.stale.len(),
            if j.stale.len() == 1 { "y" } else { "ies" }
        );
        for s in &j.stale {
            let _ = writeln!(out, "   {s}");
        }
    }
    out
}

/// One JUnit case per group (a new one fails, a known one is skipped with its reason), or one
/// passing case when nothing diverged; a harness failure is an error case.
pub fn junit_cases(r: &CampaignReport, replay: &str) -> Vec<junit::Case> {
    if let CampaignOutcome::HarnessFailed(e) = &r.outcome {
        return vec![
            junit::Case::new("harness", junit::Verdict::Fail)
                .message(format!("the harness could not run (not a verdict): {e}")),
        ];
    }
    if r.groups.is_empty() {
        return vec![
            junit::Case::new(
                format!("{} cases agree with the model", r.cases),
                junit::Verdict::Pass,
            )
            .time(r.elapsed),
        ];
    }
    r.groups
        .iter()
        .map(|g| {
            let cx = &g.counterexample;
            let mut body = String::new();
            let _ = writeln!(body, "{}", g.signature);
            let _ = writeln!(
                body,
                "{} case(s), the first at case {}; {}",
                g.count,
                g.first_case,
                cx.headline()
            );
            if let Some(line) = replay_line(replay, g) {
                let _ = writeln!(body, "replay: {line}");
            }
            let _ = writeln!(body, "\n{}", cx.scenario().to_text());
            match &g.known {
                Some(k) => junit::Case::new(g.signature.0.clone(), junit::Verdict::Skip)
                    .message(format!("known divergence: {}", k.reason))
                    .body(body),
                None => junit::Case::new(g.signature.0.clone(), junit::Verdict::Fail)
                    .message(format!("new divergence: {} case(s)", g.count))
                    .body(body)
                    .time(cx.shrink_time),
            }
        })
        .collect()
}
