//! The pretty printer: a [`Scenario`] to its text form.

use std::fmt::Write as _;

use tcpconform_model::{Host, Outcome};

use super::{RowPattern, Scenario};

/// The `=` column never moves right of this (a longer op gets one space before its `=`).
const MAX_ALIGN: usize = 40;

/// The indentation of table rows.
const ROW_INDENT: &str = "    ";

/// One table row without its `|`: host prefix (when `with_host`), then the state and the local
/// address padded to the given widths.
pub(crate) fn row_text(
    row: &RowPattern,
    with_host: bool,
    state_w: usize,
    local_w: usize,
) -> String {
    let mut s = String::new();
    if with_host {
        s.push_str(&format!("{}: ", row.host));
    }
    let local = row.local.to_string();
    let peer = row
        .peer
        .as_ref()
        .map_or_else(|| "*".to_owned(), ToString::to_string);
    let _ = write!(
        s,
        "{:<state_w$} {:<local_w$} {peer}",
        row.state.ss_name(),
        local
    );
    if let Some(q) = row.queue {
        let _ = write!(s, " q={q}");
    }
    s
}

fn outcomes_text(outcomes: &[Outcome]) -> String {
    outcomes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Writes comment lines: all but the last above the op, the last as a trailing comment
/// (returned).
fn comment_lines<'a>(out: &mut String, comment: Option<&'a str>) -> Option<&'a str> {
    let comment = comment?;
    let mut lines: Vec<&str> = comment.split('\n').collect();
    let last = lines.pop();
    for l in lines {
        if l.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {l}");
        }
    }
    last
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
    if s.hosts != 1 {
        let _ = writeln!(out, "@hosts {}", s.hosts);
    }
    for (host, setting) in &s.sysctls {
        match host {
            Host::A => writeln!(out, "@sysctl {setting}"),
            Host::B => writeln!(out, "@sysctl b {setting}"),
        }
        .unwrap_or_default();
    }
    for (host, ip) in &s.addresses {
        match host {
            Host::A => writeln!(out, "@address {ip}"),
            Host::B => writeln!(out, "@address b {ip}"),
        }
        .unwrap_or_default();
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
        let trailing = comment_lines(&mut out, step.comment.as_deref());
        let mut line = match &step.expect {
            Some(outcomes) => format!("{op:<width$} = {}", outcomes_text(outcomes)),
            None => op.clone(),
        };
        match trailing {
            Some("") => line.push_str("  #"),
            Some(c) => {
                let _ = write!(line, "  # {c}");
            }
            None => {}
        }
        out.push_str(line.trim_end());
        out.push('\n');
        match &step.table {
            None => {}
            Some(rows) if rows.is_empty() => {
                let _ = writeln!(out, "{ROW_INDENT}| (empty)");
            }
            Some(rows) => {
                let state_w = rows.iter().map(|r| r.state.ss_name().len()).max();
                let local_w = rows.iter().map(|r| r.local.to_string().len()).max();
                for row in rows {
                    let text = row_text(row, with_host, state_w.unwrap_or(0), local_w.unwrap_or(0));
                    let _ = writeln!(out, "{ROW_INDENT}| {}", text.trim_end());
                }
            }
        }
    }
    out
}
