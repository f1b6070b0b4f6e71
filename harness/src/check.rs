//! `tcpconform check`: what a sysctl configuration really does on this kernel.
//!
//! A configuration comes from `--sysctl KEY=VALUE`, from sysctl.conf files, or from the host's
//! current values (read, never written). The check then (1) runs the conformance campaign under
//! it, in sandboxes; (2) for every setting that differs from the kernel's default, searches for
//! the shortest scenario whose outcome differs with and without it, and replays that scenario on
//! the kernel under both, so each effect is proven (one whose calls sleep longer than
//! [`QUICK_PROOF_MS`] is replayed only with `slow`, and says so); a setting with no difference
//! found is said to be that, never to have no effect; (3) says which keys this kernel does not have, which it has
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
    /// What the setting changes, computed rather than searched ([`range_effect`]).
    #[serde(default)]
    pub computed: Option<String>,
}

/// What a port-range setting changes, computed rather than searched: the model alone takes
/// the lowest free port (the kernel a random one), so a wider or narrower range shows in no
/// short case, but it decides which ports autobind (`connect()`, `bind(:0)`, `listen()`) may
/// take (`inet_get_local_port_range()`, `inet_is_local_reserved_port()`).
pub fn range_effect(without: &CaseConfig, with: &CaseConfig) -> Option<String> {
    let (w, o) = (with.host_sysctls(), without.host_sysctls());
    let (w, o) = (w.get(&Host::A)?, o.get(&Host::A)?);
    let mut parts = Vec::new();
    let ((lo, hi), (lo0, hi0)) = (w.ip_local_port_range, o.ip_local_port_range);
    if (lo, hi) != (lo0, hi0) {
        let span = |a: u16, b: u16| u32::from(b) - u32::from(a) + 1;
        let mut gained = Vec::new();
        if lo < lo0 {
            gained.push(format!("{lo}-{}", (lo0 - 1).min(hi)));
        }
        if hi > hi0 {
            gained.push(format!("{}-{hi}", (hi0 + 1).max(lo)));
        }
        let mut lost = Vec::new();
        if lo > lo0 {
            lost.push(format!("{lo0}-{}", (lo - 1).min(hi0)));
        }
        if hi < hi0 {
            lost.push(format!("{}-{hi0}", (hi + 1).max(lo0)));
        }
        let mut s = format!(
            "autobind takes ports {lo}-{hi} ({} ports; the default {lo0}-{hi0} has {})",
            span(lo, hi),
            span(lo0, hi0)
        );
        if !gained.is_empty() {
            s.push_str(&format!(
                "; newly {}: ports services often listen on, taken by clients while those \
                 services restart",
                gained.join(" and ")
            ));
        }
        if !lost.is_empty() {
            s.push_str(&format!(
                "; no longer {}: fewer ports before connect() and bind(:0) fail with \
                 EADDRNOTAVAIL / EADDRINUSE",
                lost.join(" and ")
            ));
        }
        parts.push(s);
    }
    if w.ip_local_reserved_ports != o.ip_local_reserved_ports {
        let inside: Vec<String> = w
            .ip_local_reserved_ports
            .iter()
            .filter(|p| (lo..=hi).contains(*p))
            .map(u16::to_string)
            .collect();
        parts.push(format!(
            "autobind skips {} reserved port(s) of its range{}",
            inside.len(),
            if inside.is_empty() {
                String::new()
            } else {
                format!(" ({})", inside.join(","))
            }
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The ports the host's own sockets listen on now (its network namespace, read through
/// `sock_diag`; nothing is written), for [`cross_checks`].
#[cfg(target_os = "linux")]
pub fn host_listeners() -> Result<Vec<std::net::SocketAddr>, crate::HarnessError> {
    const TCP_LISTEN: u32 = 10;
    let mut diag = crate::observer::DiagSocket::open_here(Host::A)?;
    let mut out: Vec<std::net::SocketAddr> = diag
        .rows_in(1 << TCP_LISTEN)?
        .into_iter()
        .map(|r| r.local)
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// The host's listening sockets: read through `sock_diag`, on Linux only.
#[cfg(not(target_os = "linux"))]
pub fn host_listeners() -> Result<Vec<std::net::SocketAddr>, crate::HarnessError> {
    Err(crate::HarnessError::Unsupported {
        what: "reading the host's listening sockets".into(),
        reason: "sock_diag is Linux's".into(),
    })
}

/// Mistakes across settings, and between the settings and what the host runs now
/// (`listeners`, [`host_listeners`]), as Documentation/networking/ip-sysctl.rst describes the
/// keys: a listening port inside the ephemeral range and not reserved (a client's autobind
/// may take it while the service restarts, and the service's bind() then fails with
/// EADDRINUSE), reserved ports outside the range (they reserve nothing), a range whose ends
/// have the same parity (the autobind search splits the range by parity:
/// `inet_csk_find_open_port()`, `__inet_hash_connect()`).
pub fn cross_checks(config: &CaseConfig, listeners: &[std::net::SocketAddr]) -> Vec<String> {
    let sysctls = config.host_sysctls();
    let Some(s) = sysctls.get(&Host::A) else {
        return Vec::new();
    };
    let (lo, hi) = s.ip_local_port_range;
    let reserved = &s.ip_local_reserved_ports;
    let mut out = Vec::new();
    let mut ports: Vec<(u16, Vec<String>)> = Vec::new();
    for l in listeners {
        let p = l.port();
        if (lo..=hi).contains(&p) && !reserved.contains(&p) {
            match ports.iter_mut().find(|(q, _)| *q == p) {
                Some((_, addrs)) => addrs.push(l.ip().to_string()),
                None => ports.push((p, vec![l.ip().to_string()])),
            }
        }
    }
    for (p, addrs) in &ports {
        out.push(format!(
            "port {p} is listening now ({}) and lies inside ip_local_port_range {lo} {hi}: a \
             client's connect() or bind(:0) may take it while the service is down, and the \
             service's bind() then fails with EADDRINUSE; add it to ip_local_reserved_ports",
            addrs.join(", ")
        ));
    }
    let outside: Vec<String> = reserved
        .iter()
        .filter(|p| !(lo..=hi).contains(*p))
        .map(u16::to_string)
        .collect();
    if !outside.is_empty() {
        out.push(format!(
            "ip_local_reserved_ports {} lie(s) outside ip_local_port_range {lo} {hi}: \
             autobind never picks them anyway, so they reserve nothing",
            outside.join(",")
        ));
    }
    if lo < hi && lo % 2 == hi % 2 {
        out.push(format!(
            "ip_local_port_range {lo} {hi}: both ends are {}; ip-sysctl.rst advises ends of \
             different parity (bind() autobind searches one parity first, connect() the other)",
            if lo % 2 == 0 { "even" } else { "odd" }
        ));
    }
    out
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
    /// Mistakes across settings and with the host's listeners ([`cross_checks`]), and how
    /// many listening sockets were read (`None`: the host's table could not be read, and why).
    pub cross: Vec<String>,
    /// The host's listening sockets read for [`cross_checks`], or why they could not be.
    pub listeners_read: Result<usize, String>,
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
    /// Replay differences on the kernel however long they sleep (otherwise those sleeping
    /// longer than [`QUICK_PROOF_MS`] are predicted only, and say so).
    pub slow: bool,
}

/// The longest a difference may sleep to be replayed on the kernel without `--slow`.
pub const QUICK_PROOF_MS: u64 = 90_000;

/// Runs a check; `listeners` are the host's listening sockets ([`host_listeners`]), or why
/// they could not be read.
pub fn check(
    resolved: Resolved,
    options: CheckOptions,
    listeners: Result<Vec<std::net::SocketAddr>, String>,
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
            let sleeps = d.sleeps_ms();
            if sleeps > QUICK_PROOF_MS && !options.slow {
                d.not_run = Some(format!(
                    "its calls sleep {} s (--slow replays it)",
                    sleeps.div_ceil(1000)
                ));
                continue;
            }
            diff::confirm_on_kernel(d, &without, &config);
        }
        effects.push(Effect {
            setting: s.clone(),
            computed: range_effect(&without, &config),
            differences: report.differences,
            cases: report.cases,
        });
    }
    let cross = cross_checks(&config, listeners.as_deref().unwrap_or(&[]));
    CheckReport {
        profile: config.profile,
        resolved,
        campaign,
        effects,
        cross,
        listeners_read: listeners.map(|l| l.len()),
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
    let _ = writeln!(
        out,
        "\nAcross settings, and with the host's listening sockets:"
    );
    match &r.listeners_read {
        Ok(n) => {
            if r.cross.is_empty() {
                let _ = writeln!(out, "  nothing found ({n} listening socket(s) read)");
            }
        }
        Err(e) => {
            let _ = writeln!(out, "  the host's listening sockets could not be read: {e}");
        }
    }
    for c in &r.cross {
        let _ = writeln!(out, "  - {c}");
    }
    let c = &r.campaign;
    let _ = writeln!(
        out,
        "\nConformance under this configuration ({}):",
        crate::report::config_line(&r.resolved.config)
    );
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
        if let Some(what) = &e.computed {
            let _ = writeln!(out, "\n  {}: {what}", e.setting);
        }
        if e.differences.is_empty() && e.computed.is_some() {
            continue;
        }
        if e.differences.is_empty() {
            // Never "no effect": a search that found nothing is not a proof of none.
            let _ = writeln!(
                out,
                "\n  {}: no difference found ({} cases: the {} probes, then random ones){}",
                e.setting,
                e.cases,
                diff::PROBES.len(),
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
        SysctlKey::TcpOrphanRetries => {
            "; the model does not model an orphan's retransmissions (tcp_orphan_retries(), \
             tcp_write_timeout()): this setting is not checked here"
                .into()
        }
        SysctlKey::TcpAbortOnOverflow => {
            "; it acts when the third ACK of a handshake finds the accept queue full \
             (tcp_check_req()), but a full queue drops the SYN first (tcp_conn_request()), so \
             the client waits and retransmits either way; only a handshake completed while \
             the queue filled (TCP_DEFER_ACCEPT, many clients at once) meets it, and a case \
             makes its calls one at a time"
                .into()
        }
        SysctlKey::TcpMaxTwBuckets => {
            "; it matters once more TIME-WAIT sockets exist at once than its value, and a case \
             makes a few: a value above that is not tested here"
                .into()
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
    if let Some(why) = &d.not_run {
        let _ = writeln!(
            out,
            "        predicted by the model, not replayed on the kernel here: {why}"
        );
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
