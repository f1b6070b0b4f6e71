//! Baselines: known divergences, written down so that a campaign stays green on them and turns
//! red on anything new.
//!
//! A baseline is a human-edited TOML file of entries, each a divergence's
//! [`Signature`], why it is accepted, where it applies
//! (profile, kernel release pattern, variants) and the scenario that shows it:
//!
//! ```toml
//! [[divergence]]
//! signature = "listen: model 0 (listen.autobind); kernel -1 EINVAL; table -LISTEN +UNCONN"
//! reason = "gVisor refuses listen() after a failed connect(); Linux listens"
//! scenario = "gvisor/listen-after-failed-connect.scn"   # relative to this file
//! scope = { profile = "gvisor", kernel = "4.4.*", variants = ["listen_after_connect=listens"] }
//! ```
//!
//! An entry is a finding, documented, never a fix of the model: the model still says what the
//! kernel should do, and the report still lists the group, marked known. A run with a
//! baseline fails only on groups no entry in scope knows, and lists the entries in scope that
//! no group matched (stale: the kernel no longer differs there, or the campaign did not get
//! there this time).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tcpconform_model::{Profile, VariantSetting};

use crate::campaign::groups::{DivergenceGroup, Signature};

/// A baseline file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// The known divergences.
    #[serde(default, rename = "divergence")]
    pub entries: Vec<Entry>,
}

/// One known divergence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// What it is ([`Signature`]).
    pub signature: Signature,
    /// Why it is accepted: what the kernel does, what the model says, and who is the odd one
    /// out.
    pub reason: String,
    /// Where it applies (everywhere when absent).
    #[serde(default, skip_serializing_if = "Scope::is_everywhere")]
    pub scope: Scope,
    /// The scenario that shows it, relative to the baseline file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<PathBuf>,
}

/// Where an entry applies; every field given must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// The profile's name (`linux-6.1`, `gvisor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The kernel release (`uname -r`), `*` matching any run of characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// Variant values the profile must have.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<VariantSetting>,
}

impl Scope {
    fn is_everywhere(&self) -> bool {
        *self == Self::default()
    }

    /// Whether a run on `kernel` (its release, when one ran) predicting for `profile` is in
    /// scope.
    pub fn covers(&self, profile: &Profile, profile_name: &str, kernel: Option<&str>) -> bool {
        self.profile.as_deref().is_none_or(|p| p == profile_name)
            && self
                .kernel
                .as_deref()
                .is_none_or(|pat| kernel.is_some_and(|k| glob_match(pat, k)))
            && self
                .variants
                .iter()
                .all(|v| profile.variants.get(v.variant) == v.value)
    }
}

/// `*` matches any run of characters; everything else itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// The baseline entry that knows a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Known {
    /// Its reason.
    pub reason: String,
    /// Its scenario, as the file names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<PathBuf>,
}

/// How a run's groups stand against a baseline.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judgement {
    /// Groups no entry knows: these fail the run.
    pub new: Vec<Signature>,
    /// Groups an entry knows.
    pub known: Vec<Signature>,
    /// Entries in scope that no group matched.
    pub stale: Vec<Signature>,
    /// Entries out of this run's scope.
    pub out_of_scope: usize,
}

impl Judgement {
    /// Whether the run passes: no new group.
    pub fn passed(&self) -> bool {
        self.new.is_empty()
    }
}

impl Baseline {
    /// Reads a baseline file.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read the baseline: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses a baseline's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let b: Self = toml::from_str(text).map_err(|e| format!("bad baseline: {e}"))?;
        for (i, e) in b.entries.iter().enumerate() {
            if e.signature.0.trim().is_empty() {
                return Err(format!("entry {}: the signature is empty", i + 1));
            }
            if e.reason.trim().is_empty() {
                return Err(format!(
                    "entry {} ({}): say why it is accepted (reason)",
                    i + 1,
                    e.signature
                ));
            }
        }
        Ok(b)
    }

    /// The file's text: a header comment, then the entries.
    pub fn to_text(&self) -> String {
        let mut out = String::from(
            "# tcpconform baseline: known divergences. Each is a finding (what the kernel does,\n\
             # what the model says, who is the odd one out), never a fix of the model. A run with\n\
             # --baseline fails only on divergences no entry in scope knows; entries no divergence\n\
             # matched are listed as stale. `tcpconform run --baseline FILE --update-baseline`\n\
             # adds the new ones (their reason to be written by a person).\n",
        );
        if !self.entries.is_empty() {
            out.push('\n');
            out.push_str(&toml::to_string_pretty(self).expect("a baseline serializes"));
        }
        out
    }

    /// Marks each group an entry in scope knows (`group.known`), and says which are new and
    /// which entries are stale.
    pub fn judge(
        &self,
        groups: &mut [DivergenceGroup],
        profile: &Profile,
        profile_name: &str,
        kernel: Option<&str>,
    ) -> Judgement {
        let in_scope: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.scope.covers(profile, profile_name, kernel))
            .collect();
        let mut j = Judgement {
            out_of_scope: self.entries.len() - in_scope.len(),
            ..Judgement::default()
        };
        for g in groups.iter_mut() {
            match in_scope.iter().find(|e| e.signature == g.signature) {
                Some(e) => {
                    g.known = Some(Known {
                        reason: e.reason.clone(),
                        scenario: e.scenario.clone(),
                    });
                    j.known.push(g.signature.clone());
                }
                None => j.new.push(g.signature.clone()),
            }
        }
        for e in in_scope {
            if !groups.iter().any(|g| g.signature == e.signature) {
                j.stale.push(e.signature.clone());
            }
        }
        j
    }

    /// Adds an entry for every group no entry knows, its scenario copied next to the baseline
    /// (`DIR/<file stem>/<name>.scn`) and scoped to `scope`; the reason is left for a person
    /// to write. Returns how many were added.
    pub fn add_new(
        &mut self,
        groups: &[DivergenceGroup],
        baseline_path: &Path,
        scope: &Scope,
    ) -> Result<usize, String> {
        let dir = baseline_path.parent().unwrap_or_else(|| Path::new("."));
        let stem = baseline_path
            .file_stem()
            .map_or_else(|| "baseline".into(), |s| s.to_string_lossy().into_owned());
        let mut added = 0;
        for g in groups.iter().filter(|g| g.known.is_none()) {
            if self
                .entries
                .iter()
                .any(|e| e.signature == g.signature && e.scope == *scope)
            {
                continue;
            }
            let scenario = match g.path() {
                Some(p) => {
                    let name = p.file_name().map_or_else(
                        || "divergence.scn".into(),
                        |n| n.to_string_lossy().into_owned(),
                    );
                    let rel = PathBuf::from(&stem).join(name);
                    let to = dir.join(&rel);
                    std::fs::create_dir_all(to.parent().unwrap_or(dir))
                        .and_then(|()| std::fs::copy(p, &to).map(|_| ()))
                        .map_err(|e| format!("copying {} to {}: {e}", p.display(), to.display()))?;
                    Some(rel)
                }
                None => None,
            };
            self.entries.push(Entry {
                signature: g.signature.clone(),
                reason: format!(
                    "TODO: why is this accepted? Found {} times, first at case {}.",
                    g.count, g.first_case
                ),
                scope: scope.clone(),
                scenario,
            });
            added += 1;
        }
        Ok(added)
    }

    /// Writes the baseline.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        std::fs::write(path, self.to_text())
            .map_err(|e| format!("{}: cannot write the baseline: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_shells_do() {
        assert!(glob_match("6.18.44-fc-*", "6.18.44-fc-v1300"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("6.*-fc-*", "6.18.44-fc-v1300"));
        assert!(!glob_match("6.1.*", "6.18.44"));
        assert!(glob_match("4.4.0", "4.4.0"));
        assert!(!glob_match("a*b", "a"));
    }

    #[test]
    fn a_baseline_reads_what_it_writes_and_refuses_an_entry_without_reason() {
        let b = Baseline {
            entries: vec![Entry {
                signature: Signature("listen: model 0 (listen.autobind); kernel -1 EINVAL".into()),
                reason: "a finding".into(),
                scope: Scope {
                    profile: Some("gvisor".into()),
                    kernel: Some("4.4.*".into()),
                    variants: vec!["listen_after_connect=einval".parse().expect("a setting")],
                },
                scenario: Some("b/x.scn".into()),
            }],
        };
        assert_eq!(Baseline::parse(&b.to_text()), Ok(b));
        assert!(Baseline::parse("[[divergence]]\nsignature = \"x\"\nreason = \"\"\n").is_err());
        assert!(
            Baseline::parse("[[divergence]]\nsignature = \"x\"\nreason = \"r\"\nfrob = 1\n")
                .is_err()
        );
        assert_eq!(
            Baseline::parse(&Baseline::default().to_text()),
            Ok(Baseline::default())
        );
    }

    #[test]
    fn scopes_cover_profile_kernel_and_variants() {
        let p = Profile::linux(6, 18);
        let everywhere = Scope::default();
        assert!(everywhere.covers(&p, "linux-6.18", None));
        let s = Scope {
            profile: Some("linux-6.18".into()),
            kernel: Some("6.18.*".into()),
            variants: vec!["listen_after_connect=listens".parse().expect("a setting")],
        };
        assert!(s.covers(&p, "linux-6.18", Some("6.18.44-fc-v1300")));
        assert!(
            !s.covers(&p, "linux-6.18", None),
            "a kernel pattern needs a kernel"
        );
        assert!(!s.covers(&p, "linux-6.1", Some("6.18.44")));
        let einval = p.with_variant("listen_after_connect=einval".parse().expect("a setting"));
        assert!(!s.covers(&einval, "linux-6.18", Some("6.18.44")));
    }
}
