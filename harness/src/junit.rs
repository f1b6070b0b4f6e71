//! JUnit XML for CI tools: one test case per divergence group (a campaign or a lane), per
//! scenario file (`replay`, `predict`), per mutant or per setting, written with quick-junit.
//! A failure's body holds what a person needs to act: the signature, the replay command and
//! the scenario's text.

use std::path::Path;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::fingerprint::ReportHead;

/// How one JUnit test case ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It held.
    Pass,
    /// It failed: a new divergence, a file that does not hold, a mutant that survived.
    Fail,
    /// Known and accepted (a baselined divergence), or not run here.
    Skip,
}

/// One JUnit test case.
#[derive(Clone, Debug)]
pub struct Case {
    /// Its name (a signature, a file, a mutant).
    pub name: String,
    /// How it ended.
    pub verdict: Verdict,
    /// One line on why (the failure or skip message).
    pub message: String,
    /// The failure's body, or the case's output.
    pub body: String,
    /// How long it took.
    pub time: Duration,
}

impl Case {
    /// A case.
    pub fn new(name: impl Into<String>, verdict: Verdict) -> Self {
        Self {
            name: name.into(),
            verdict,
            message: String::new(),
            body: String::new(),
            time: Duration::ZERO,
        }
    }

    /// With a message.
    pub fn message(mut self, m: impl Into<String>) -> Self {
        self.message = m.into();
        self
    }

    /// With a body.
    pub fn body(mut self, b: impl Into<String>) -> Self {
        self.body = b.into();
        self
    }

    /// With a time.
    pub fn time(mut self, t: Duration) -> Self {
        self.time = t;
        self
    }
}

/// The report as XML: one suite named `suite` (`tcpconform run`), its properties the kernel,
/// the profile and every variant's value.
pub fn to_xml(suite: &str, head: &ReportHead, cases: &[Case]) -> String {
    let mut report = Report::new("tcpconform");
    let mut ts = TestSuite::new(suite);
    if let Some(k) = &head.kernel {
        ts.add_property(Property::new("kernel", k.as_str()));
    }
    ts.add_property(Property::new("profile", head.profile.as_str()));
    ts.add_property(Property::new("profile_source", head.source.as_str()));
    for (v, value) in head.variants.pairs() {
        ts.add_property(Property::new(format!("variant.{v}"), value));
    }
    let mut total = Duration::ZERO;
    for c in cases {
        let mut status = match c.verdict {
            Verdict::Pass => TestCaseStatus::success(),
            Verdict::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
            Verdict::Skip => TestCaseStatus::skipped(),
        };
        if c.verdict != Verdict::Pass {
            if !c.message.is_empty() {
                status.set_message(c.message.as_str());
            }
            if !c.body.is_empty() {
                status.set_description(c.body.as_str());
            }
        }
        let mut tc = TestCase::new(c.name.as_str(), status);
        tc.set_classname(suite);
        tc.set_time(c.time);
        if c.verdict == Verdict::Pass && !c.body.is_empty() {
            tc.set_system_out(c.body.as_str());
        }
        total += c.time;
        ts.add_test_case(tc);
    }
    ts.set_time(total);
    report.add_test_suite(ts);
    report.to_string().expect("a JUnit report serializes")
}

/// Writes the report to `path`.
pub fn write(path: &Path, suite: &str, head: &ReportHead, cases: &[Case]) -> Result<(), String> {
    std::fs::write(path, to_xml(suite, head, cases))
        .map_err(|e| format!("{}: cannot write the JUnit report: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcpconform_model::Profile;

    #[test]
    fn failures_carry_their_body_and_the_suite_its_kernel() {
        let head = ReportHead::new(Profile::linux(6, 18), "probed", None);
        let xml = to_xml(
            "tcpconform run",
            &head,
            &[
                Case::new("listen: model 0; kernel -1 EINVAL", Verdict::Fail)
                    .message("new divergence, 3 cases")
                    .body("replay: tcpconform replay x.scn\ns0 = socket(inet)"),
                Case::new("known one", Verdict::Skip).message("baselined: a finding"),
                Case::new("conformance", Verdict::Pass),
            ],
        );
        assert!(xml.contains(r#"tests="3""#), "{xml}");
        assert!(xml.contains(r#"failures="1""#), "{xml}");
        assert!(xml.contains(r#"skipped="1""#), "{xml}");
        assert!(xml.contains("replay: tcpconform replay x.scn"), "{xml}");
        assert!(xml.contains("variant.listen_after_connect"), "{xml}");
    }
}
