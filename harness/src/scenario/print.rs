//! The pretty printer: a [`Scenario`] to its text form.

use std::fmt::Write as _;

use tcpconform_model::Host;

use super::{Expected, RowPattern, Scenario};

/// The `=` column never moves right of this (a longer op gets one space before its `=`).
const MAX_ALIGN: usize = 40;

/// The indentation of table rows.
const ROW_INDENT: &str = "    ";

fn peer_text(row: &RowPattern) -> String {
    row.peer
        .as_ref()
        .map_or_else(|| "*".to_owned(), ToString::to_string)
}

/// One table row without its `|`: host prefix (when `with_host`), then the state, the local and
/// the peer address padded to the given widths (trailing spaces are the caller's to trim).
pub(crate) fn row_text(
    row: &RowPattern,
    with_host: bool,
    state_w: usize,
    local_w: usize,
    peer_w: usize,
) -> String {
    let mut s = String::new();
    if with_host {
        let _ = write!(s, "{}: ", row.host);
    }
    let _ = write!(
        s,
        "{:<state_w$} {:<local_w$} {:<peer_w$}",
        row.state.ss_name(),
        row.local.to_string(),
        peer_text(row)
    );
    if let Some(q) = row.queue {
        let _ = write!(s, " q={q}");
    }
    s
}

fn outcomes_text(outcomes: &[Expected]) -> String {
    outcomes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// A one-line comment goes after its op when the line stays within this width; otherwise, and
/// for comments of several lines, the comment goes above the op.
const MAX_LINE: usize = 100;

/// Writes comment lines above an op.
fn comment_above(out: &mut String, comment: &str) {
    for l in comment.split('\n') {
        if l.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {l}");
        }
    }
}

/// [`Scenario::to_text`].
pub(crate) fn scenario_text(s: &Scenario) -> String {
    let mut out = String::new();
    if let Some(t) = &s.title {
        let _ = writeln!(out, "@title {t}");
    }
    if let Some(p) = s.profile {
        let _ = writeln!(out, "@profile {p}");
    }
    for v in &s.variants {
        let _ = writeln!(out, "@variant {v}");
    }
    if s.hosts != 1 {
        let _ = writeln!(out, "@hosts {}", s.hosts);
    }
    for (host, setting) in &s.sysctls {
        let _ = match host {
            Host::A => writeln!(out, "@sysctl {setting}"),
            Host::B => writeln!(out, "@sysctl b {setting}"),
        };
    }
    for (host, ip) in &s.addresses {
        let _ = match host {
            Host::A => writeln!(out, "@address {ip}"),
            Host::B => writeln!(out, "@address b {ip}"),
        };
    }
    if !out.is_empty() && !s.steps.is_empty() {
        out.push('\n');
    }
    let ops: Vec<String> = s.steps.iter().map(|st| st.op.to_string()).collect();
    let width = ops
        .iter()
        .zip(&s.steps)
        .filter(|(_, st)| st.expect.is_some())
        .map(|(op, _)| op.len())
        .filter(|w| *w <= MAX_ALIGN)
        .max()
        .unwrap_or(0);
    let with_host = s.hosts > 1;
    for (op, step) in ops.iter().zip(&s.steps) {
        let mut line = match &step.expect {
            Some(outcomes) => format!("{op:<width$} = {}", outcomes_text(outcomes)),
            None => op.clone(),
        };
        match step.comment.as_deref() {
            None => {}
            Some(c) if !c.contains('\n') && line.len() + 4 + c.len() <= MAX_LINE => {
                line.push_str("  #");
                if !c.is_empty() {
                    line.push(' ');
                    line.push_str(c);
                }
            }
            Some(c) => comment_above(&mut out, c),
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if let Some(ms) = step.table_within_ms {
            let _ = writeln!(
                out,
                "{ROW_INDENT}| within {}",
                tcpconform_model::time::show_ms(ms)
            );
        }
        match &step.table {
            None => {}
            Some(rows) if rows.is_empty() && step.unlisted.is_none() => {
                let _ = writeln!(out, "{ROW_INDENT}| (empty)");
            }
            Some(rows) => {
                let state_w = rows.iter().map(|r| r.state.ss_name().len()).max();
                let local_w = rows.iter().map(|r| r.local.to_string().len()).max();
                let peer_w = rows
                    .iter()
                    .any(|r| r.queue.is_some())
                    .then(|| rows.iter().map(|r| peer_text(r).len()).max())
                    .flatten();
                for row in rows {
                    let text = row_text(
                        row,
                        with_host,
                        state_w.unwrap_or(0),
                        local_w.unwrap_or(0),
                        peer_w.unwrap_or(0),
                    );
                    let _ = writeln!(out, "{ROW_INDENT}| {}", text.trim_end());
                }
            }
        }
        if let Some(unlisted) = &step.unlisted {
            let _ = writeln!(out, "{ROW_INDENT}| {unlisted}");
        }
        for assertion in &step.asserts {
            let _ = writeln!(out, "{ROW_INDENT}? {assertion}");
        }
    }
    out
}
