//! What every subcommand shares: exit codes, the profile a command predicts for, the head of
//! every report, progress bars, and reading scenario files.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tcpconform_harness::fingerprint::{self, ReportHead};
use tcpconform_harness::kernel::Backend;
use tcpconform_harness::scenario;
use tcpconform_model::{Profile, VariantSetting};

/// Bad input: the message, and exit code 2 (nothing ran).
pub(crate) fn bad(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("tcpconform: {msg}");
    ExitCode::from(2)
}

/// The harness could not run: the reason, and exit code 3 (never a pass).
pub(crate) fn harness_failed(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("tcpconform: the harness could not run: {msg}");
    ExitCode::from(3)
}

/// Exit code 1 when something failed, else 0.
pub(crate) fn verdict(failed: bool) -> ExitCode {
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `--profile` and `--variant`: which kernel the model predicts for.
#[derive(Args, Clone, Debug, Default)]
pub(crate) struct ProfileArgs {
    /// Predict for this profile (`linux-6.1`, …) with its release's mainline variant values,
    /// nothing probed (default: the running kernel's, its variants probed).
    #[arg(long)]
    pub(crate) profile: Option<String>,
    /// Set one behaviour variant (repeatable), e.g. listen_after_connect=einval
    /// (`tcpconform kernel` lists them).
    #[arg(long = "variant", value_name = "NAME=VALUE")]
    pub(crate) variants: Vec<String>,
}

/// The profile a command predicts for, where its cases run, and the head its reports start
/// with.
#[derive(Clone, Debug)]
pub(crate) struct Prediction {
    /// The profile.
    pub(crate) profile: Profile,
    /// What the report's head says about it.
    pub(crate) head: ReportHead,
    /// Where cases run.
    pub(crate) backend: Backend,
}

/// What `--target` names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TargetKind {
    /// The running kernel, each case in fresh network namespaces.
    #[default]
    Kernel,
    /// gVisor's netstack, in a `runsc` sandbox (`ci/runsc.sh` fetches one), predicted by the
    /// model for Linux.
    Gvisor,
}

impl Prediction {
    /// The name baselines scope by: the profile's, or `gvisor`.
    pub(crate) fn profile_name(&self) -> String {
        self.head.profile.clone()
    }
}

/// The gVisor target: `runsc` found (exit 3 if not), the model for Linux with gVisor's fixed
/// sysctls; `--profile` and `--variant` do not go with it (exit 2).
#[cfg(target_os = "linux")]
pub(crate) fn gvisor(args: &ProfileArgs) -> Result<Prediction, ExitCode> {
    use tcpconform_harness::gvisor;
    if args.profile.is_some() || !args.variants.is_empty() {
        return Err(bad(
            "--target gvisor predicts what Linux does (linux-6.18's rules, gVisor's fixed \
             sysctls): --profile and --variant do not go with it",
        ));
    }
    let runsc = gvisor::runsc().map_err(harness_failed)?;
    let target = gvisor::Target::new(runsc).map_err(harness_failed)?;
    let mut head = ReportHead::new(gvisor::PROFILE, "--target gvisor", None);
    head.kernel = Some(target.version());
    head.profile = gvisor::PROFILE_NAME.into();
    let ignored = target.ignored_sysctls().map_err(harness_failed)?;
    head.compared = Some(if ignored.is_empty() {
        gvisor::VISIBILITY.into()
    } else {
        format!(
            "{}; gVisor's {} (outside Linux's range) are taken at Linux's defaults",
            gvisor::VISIBILITY,
            ignored.join(", ")
        )
    });
    head.target_sysctls = target
        .sysctls()
        .map_err(harness_failed)?
        .diff_from(&gvisor::PROFILE.default_sysctls());
    Ok(Prediction {
        profile: gvisor::PROFILE,
        head,
        backend: Backend::Gvisor(std::sync::Arc::new(target)),
    })
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn gvisor(_args: &ProfileArgs) -> Result<Prediction, ExitCode> {
    Err(harness_failed("gVisor runs on Linux hosts only"))
}

impl ProfileArgs {
    /// For a command that runs the kernel: `--profile`, else the running kernel's fingerprint
    /// (probed once); then every `--variant`. Bad input exits 2, a failed probe 3.
    pub(crate) fn for_kernel(&self) -> Result<Prediction, ExitCode> {
        let settings = self.settings()?;
        let (profile, source, fp) = match &self.profile {
            Some(p) => {
                let p: Profile = p.parse().map_err(bad)?;
                (p, "--profile", fingerprint::fingerprint().ok())
            }
            None => {
                let fp = fingerprint::fingerprint().map_err(harness_failed)?;
                (fp.profile, "probed", Some(fp))
            }
        };
        Ok(Self::target(profile, source, fp, &settings))
    }

    /// For a command that runs the model alone: `--profile`, else `default`; then every
    /// `--variant`. Bad input exits 2.
    pub(crate) fn for_model(&self, default: Profile) -> Result<Prediction, ExitCode> {
        let settings = self.settings()?;
        let (profile, source) = match &self.profile {
            Some(p) => (p.parse().map_err(bad)?, "--profile"),
            None => (default, "default"),
        };
        Ok(Self::target(profile, source, None, &settings))
    }

    fn settings(&self) -> Result<Vec<VariantSetting>, ExitCode> {
        self.variants
            .iter()
            .map(|v| v.parse().map_err(|e| bad(format!("--variant {v}: {e}"))))
            .collect()
    }

    fn target(
        profile: Profile,
        source: &str,
        fp: Option<&fingerprint::Fingerprint>,
        settings: &[VariantSetting],
    ) -> Prediction {
        let profile = settings.iter().fold(profile, |p, s| p.with_variant(*s));
        let source = if settings.is_empty() {
            source.to_string()
        } else {
            format!("{source}, with --variant")
        };
        Prediction {
            profile,
            head: ReportHead::new(profile, &source, fp),
            backend: Backend::Kernel,
        }
    }
}

/// Prints a report as JSON with the head first: an object report gets a `head` field, a list
/// becomes `{"head": …, "files": [...]}`.
pub(crate) fn print_json(head: &ReportHead, report: &impl Serialize) {
    let mut value = serde_json::to_value(report).expect("reports serialize");
    let head = serde_json::to_value(head).expect("the head serializes");
    let out = match &mut value {
        serde_json::Value::Object(map) => {
            map.insert("head".into(), head);
            value
        }
        other => serde_json::json!({"head": head, "files": other}),
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&out).expect("serializes")
    );
}

/// A seed from the clock and the process id (printed by every command that draws one).
pub(crate) fn rand_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ u64::from(std::process::id()).rotate_left(32)
}

/// A progress bar on a terminal's stderr (hidden otherwise, and in CI).
pub(crate) fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() || std::env::var_os("CI").is_some() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} cases {elapsed} ({per_sec})")
            .expect("template"),
    );
    bar
}

/// Parses every file first, so that nothing runs when one of them is bad.
pub(crate) fn load_all(files: &[PathBuf]) -> Result<Vec<(PathBuf, scenario::Scenario)>, ExitCode> {
    let mut out = Vec::new();
    for f in files {
        match scenario::parse_file(f) {
            Ok(s) => out.push((f.clone(), s)),
            Err(e) => return Err(bad(e)),
        }
    }
    Ok(out)
}

/// The command that runs this binary again, as the user can type it: the path it was run by
/// (`target/release/tcpconform`), or `tcpconform` when that is what is on the PATH.
pub(crate) fn this_binary() -> String {
    let arg0 = std::env::args()
        .next()
        .unwrap_or_else(|| "tcpconform".into());
    if arg0.contains('/') {
        arg0
    } else {
        "tcpconform".into()
    }
}
