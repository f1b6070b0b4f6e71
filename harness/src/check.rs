//! `tcpconform check`: what a sysctl configuration really does on this kernel.
//!
//! A configuration comes from `--sysctl KEY=VALUE`, from sysctl.conf files, or from the host's
//! current values (read, never written). The check then (1) runs the conformance campaign under
//! it, in sandboxes; (2) for every setting that differs from the kernel's default, searches for
//! the shortest scenario whose outcome differs with and without it, and replays that scenario on
//! the kernel under both, so each effect is proven; a setting with no difference is said to have
//! no effect in the modelled rules; (3) says which keys this kernel does not have, which it has
//! but the model does not model, and which no longer exist.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tcpconform_model::sysctl::SysctlError;
use tcpconform_model::{Host, Profile, Sysctl, SysctlKey};

use crate::campaign::{self, CampaignOptions, CampaignOutcome, CampaignReport};
use crate::config::{self, CaseConfig, ConfigSpace};
use crate::diff::{self, DiffKind, DiffOptions, Difference};

/// A setting as an operator wrote it, with where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// `file:line`, `--sysctl`, or `host`.
    pub origin: String,
    /// The key as written (dotted).
    pub key: String,
    /// The value as written.
    pub value: String,
    /// A `-` prefix: errors for this line are to be ignored (sysctl.conf).
    pub ignore_errors: bool,
}

/// Why a configuration could not be read: `origin: message`, exit code 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads sysctl.conf syntax (sysctl.d(5)): `key = value` lines, `#` and `;` comments, blank
/// lines, `-` before a key to ignore its errors, `/` or `.` as separators.
pub fn parse_sysctl_conf(text: &str, file: &str) -> Result<Vec<Written>, BadInput> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let origin = format!("{file}:{}", i + 1);
        let Some((key, value)) = line.split_once('=') else {
            return Err(BadInput(format!(
                "{origin}: `{line}` is not of the form key = value"
            )));
        };
        let mut key = key.trim();
        let ignore_errors = key.starts_with('-');
        key = key.trim_start_matches('-').trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(BadInput(format!(
                "{origin}: `{line}` has no single key before `=`"
            )));
        }
        out.push(Written {
            origin,
            key: key.replace('/', "."),
            value: value.trim().to_owned(),
            ignore_errors,
        });
    }
    Ok(out)
}

/// Reads a sysctl.conf file.
pub fn read_sysctl_conf(path: &Path) -> Result<Vec<Written>, BadInput> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| BadInput(format!("{}: cannot read: {e}", path.display())))?;
    parse_sysctl_conf(&text, &path.display().to_string())
}

/// A `--sysctl KEY=VALUE` argument.
pub fn parse_arg(arg: &str) -> Result<Written, BadInput> {
    let (key, value) = arg
        .split_once('=')
        .ok_or_else(|| BadInput(format!("--sysctl {arg}: expected KEY=VALUE")))?;
    Ok(Written {
        origin: "--sysctl".into(),
        key: key.trim().replace('/', "."),
        value: value.trim().to_owned(),
        ignore_errors: false,
    })
}

/// What became of each setting the operator wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Disposition {
    /// Modelled and applied.
    Modelled(Sysctl),
    /// Equal to the kernel's default in a fresh namespace: changes nothing.
    Default(Sysctl),
    /// The key exists on this kernel but the model does not model it.
    NotModelled,
    /// The key is modelled but this kernel does not have it (it appeared later).
    NotOnThisKernel(String),
    /// The key no longer exists in Linux.
    Removed(String),
}

/// A configuration, resolved against the model and the kernel.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Resolved {
    /// Every written setting and what became of it.
    pub settings: Vec<(Written, Disposition)>,
    /// The configuration to check (the modelled, non-default settings, in order).
    pub config: CaseConfig,
}

/// Resolves written settings: unknown keys and bad values are bad input (exit 2) unless the
/// line had a `-` prefix; real but unmodelled keys, removed keys and keys this kernel lacks are
/// said in the report. `exists` says whether a key exists on the running kernel (`/proc/sys`).
pub fn resolve(
    written: Vec<Written>,
    profile: Profile,
    exists: &dyn Fn(&str) -> bool,
) -> Result<Resolved, BadInput> {
    let defaults = profile.default_sysctls();
    let mut config = CaseConfig::defaults(profile);
    let mut settings = Vec::new();
    for w in written {
        let text = format!("{}={}", w.key, w.value);
        let disposition = match text.parse::<Sysctl>() {
            Ok(s) => {
                let (maj, min) = s.key.since();
                if !s.key.exists_on(profile) {
                    Disposition::NotOnThisKernel(if s.key.on(profile.os) {
                        format!(
                            "{} appeared in Linux {maj}.{min}; {profile} has no such sysctl",
                            s.key
                        )
                    } else {
                        format!("{profile} has no such setting as {}", s.key)
                    })
                } else if defaults.value(s.key) == s.value {
                    Disposition::Default(s)
                } else {
                    config.sysctls.push((Host::A, s.clone()));
                    Disposition::Modelled(s)
                }
            }
            Err(SysctlError::Removed(k, why)) => Disposition::Removed(format!("{k} {why}")),
            Err(SysctlError::UnknownKey(_)) if exists(&w.key) => Disposition::NotModelled,
            Err(e) if w.ignore_errors => {
                settings.push((w.clone(), Disposition::NotModelled));
                let _ = e;
                continue;
            }
            Err(e) => return Err(BadInput(format!("{}: {e}", w.origin))),
        };
        settings.push((w, disposition));
    }
    config::validate(&config).map_err(|e| BadInput(format!("the kernel would refuse: {e}")))?;
    Ok(Resolved { settings, config })
}

/// Whether `/proc/sys` has a key (read-only look at the host; nothing is written).
pub fn key_exists_on_host(key: &str) -> bool {
    Path::new(&format!("/proc/sys/{}", key.replace('.', "/"))).exists()
}

/// The host's current values of every modelled key that differs from a fresh namespace's
/// default (read only).
pub fn host_settings(profile: Profile) -> Vec<Written> {
    let defaults = profile.default_sysctls();
    let mut out = Vec::new();
    for key in SysctlKey::ALL {
        let Ok(text) = std::fs::read_to_string(key.proc_path()) else {
            continue;
        };
        let Ok(value) = key.parse_value(&text) else {
            continue;
        };
        // tcp_max_tw_buckets' default depends on the host's memory: only a value the model
        // would treat differently (below the sockets a case makes) counts.
        if *key == SysctlKey::TcpMaxTwBuckets
            && matches!(value, tcpconform_model::SysctlValue::Int(v) if v >= 64)
        {
            continue;
        }
        if defaults.value(*key) != value {
            out.push(Written {
                origin: "host".into(),
                key: key.name().into(),
                value: value.to_string(),
                ignore_errors: false,
            });
        }
    }
    out
}

/// The effect of one setting.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Effect {
    /// The setting.
    pub setting: Sysctl,
    /// Differences found between the configuration without it and with it (left: without).
    pub differences: Vec<Difference>,
    /// How many random cases the search tried.
    pub cases: u64,
}

/// A check's report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckReport {
    /// The profile.
    pub profile: Profile,
    /// The resolved configuration.
    pub resolved: Resolved,
    /// The campaign under the configuration.
    pub campaign: CampaignReport,
    /// Each modelled setting's effect.
    pub effects: Vec<Effect>,
}

/// How much a check does.
#[derive(Clone, Copy, Debug)]
pub struct CheckOptions {
    /// Campaign cases.
    pub cases: u32,
    /// Seed.
    pub seed: u64,
    /// Random cases per setting for the effect search.
    pub diff_cases: u32,
    /// Differences replayed on the kernel per setting.
    pub confirm: usize,
}

/// Runs a check.
pub fn check(
    resolved: Resolved,
    options: CheckOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> CheckReport {
    let config = resolved.config.clone();
    let mut opts = CampaignOptions::new(
        ConfigSpace::Fixed(config.clone()),
        options.cases,
        options.seed,
    );
    opts.found_dir = Some("tcpconform-found".into());
    // The cases must stay within the configuration under check.
    opts.generation.frozen = config.sysctls.iter().map(|(_, s)| s.key).collect();
    let campaign = campaign::run(&opts, progress);
    let mut effects = Vec::new();
    for (i, (_, s)) in config.sysctls.iter().enumerate() {
        let mut without = config.clone();
        without.sysctls.remove(i);
        let dopts = DiffOptions {
            cases: options.diff_cases,
            seed: options.seed.wrapping_add(i as u64),
            max_len: 16,
            budget: Duration::from_secs(10),
        };
        let mut report = diff::diff(&without, &config, &dopts);
        for d in report.differences.iter_mut().take(options.confirm) {
            diff::confirm_on_kernel(d, &without, &config);
        }
        effects.push(Effect {
            setting: s.clone(),
            differences: report.differences,
            cases: report.cases,
        });
    }
    CheckReport {
        profile: config.profile,
        resolved,
        campaign,
        effects,
    }
}

/// The report as text.
pub fn render(r: &CheckReport, replay: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "tcpconform check — {}", r.profile);
    let _ = writeln!(out, "\nSettings:");
    if r.resolved.settings.is_empty() {
        let _ = writeln!(out, "  (none: kernel defaults)");
    }
    for (w, d) in &r.resolved.settings {
        let what = match d {
            Disposition::Modelled(_) => "modelled, checked below".to_owned(),
            Disposition::Default(_) => {
                "the default of a fresh namespace: changes nothing".to_owned()
            }
            Disposition::NotModelled => {
                "exists on this kernel, not modelled: not checked".to_owned()
            }
            Disposition::NotOnThisKernel(why) => format!("does not exist on this kernel: {why}"),
            Disposition::Removed(why) => format!("no longer exists: {why}"),
        };
        let _ = writeln!(
            out,
            "  {:<44} {:<14} {what}   ({})",
            w.key, w.value, w.origin
        );
    }
    let c = &r.campaign;
    let _ = writeln!(out, "\nConformance under this configuration:");
    let _ = writeln!(
        out,
        "  {} cases, {} calls, {} rules hit, {:.1}s: {}",
        c.cases,
        c.calls,
        c.rules_hit.len(),
        c.elapsed.as_secs_f64(),
        match &c.outcome {
            CampaignOutcome::Passed => "the kernel agreed with the model on every call".to_owned(),
            CampaignOutcome::Diverged(_) =>
                format!("{} DISTINCT DIVERGENCE(S) (below)", c.groups.len()),
            CampaignOutcome::HarnessFailed(e) => format!("HARNESS FAILURE (not a verdict): {e}"),
        }
    );
    if let CampaignOutcome::Diverged(_) = &c.outcome {
        out.push_str(&campaign::render::render_groups(c, replay));
    }
    let _ = writeln!(
        out,
        "\nWhat each setting changes (compared with the same configuration without it):"
    );
    if r.effects.is_empty() {
        let _ = writeln!(
            out,
            "  nothing to compare: every setting is a default or not modelled"
        );
    }
    for e in &r.effects {
        if e.differences.is_empty() {
            let _ = writeln!(
                out,
                "\n  {}: no effect on the modelled rules ({} random cases found no call that differs{})",
                e.setting,
                e.cases,
                context_note(&e.setting, &r.resolved.config)
            );
            continue;
        }
        let _ = writeln!(
            out,
            "\n  {}: {} behaviour(s) change",
            e.setting,
            e.differences.len()
        );
        for d in &e.differences {
            out.push_str(&render_difference(d, "without it", "with it"));
        }
    }
    out
}

/// Why a setting may have no effect in context (the settings it depends on).
fn context_note(s: &Sysctl, config: &CaseConfig) -> String {
    let has = |k: SysctlKey, v: &str| {
        config
            .sysctls
            .iter()
            .any(|(_, x)| x.key == k && x.value.to_string() == v)
    };
    match s.key {
        SysctlKey::TcpTwReuse | SysctlKey::TcpTwReuseDelay
            if has(SysctlKey::TcpTimestamps, "0") =>
        {
            "; tcp_tw_reuse needs TCP timestamps, and tcp_timestamps=0 turns them off".into()
        }
        SysctlKey::TcpTwReuse => {
            "; tcp_tw_reuse only matters to connect() reusing a TIME-WAIT 4-tuple, never to bind()"
                .into()
        }
        SysctlKey::TcpFinTimeout => {
            "; it times orphaned FIN-WAIT-2 sockets only, never TIME-WAIT (fixed at 60 s)".into()
        }
        _ => String::new(),
    }
}

/// One difference as text.
pub fn render_difference(d: &Difference, left: &str, right: &str) -> String {
    let mut out = String::new();
    let what = match d.kind {
        DiffKind::Outcome => format!(
            "call {} returns {} {left} ({}), {} {right} ({})",
            d.ops.len(),
            d.left.outcome,
            d.left.rule,
            d.right.outcome,
            d.right.rule
        ),
        DiffKind::Table => format!(
            "call {} returns {} either way, but leaves a different socket table ({} / {})",
            d.ops.len(),
            d.left.outcome,
            d.left.rule,
            d.right.rule
        ),
    };
    let _ = writeln!(out, "    - {what}");
    for (i, op) in d.ops.iter().enumerate() {
        let _ = writeln!(out, "        {:>2}  {op}", i + 1);
    }
    if d.kind == DiffKind::Table {
        let _ = writeln!(out, "        table {left}: {}", d.left.table.join("; "));
        let _ = writeln!(out, "        table {right}: {}", d.right.table.join("; "));
    }
    match &d.confirmed {
        Some(Ok(())) => {
            let _ = writeln!(
                out,
                "        proven on the kernel: both configurations replayed, results as shown"
            );
        }
        Some(Err(e)) => {
            let _ = writeln!(out, "        NOT confirmed on the kernel: {e}");
        }
        None => {}
    }
    out
}
