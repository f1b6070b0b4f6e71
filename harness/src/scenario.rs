//! Scenario files (`*.scn`): a line-oriented, packetdrill-like text of socket calls with their
//! expected results and socket tables, and its JSON twin.
//!
//! The full reference is `docs/scenario-format.md`. In short:
//!
//! ```text
//! # A TIME-WAIT left by the active closer blocks a plain rebind.
//! @title TIME-WAIT blocks a rebind
//! @sysctl net.ipv4.tcp_tw_reuse=0
//!
//! s0 = socket(inet)              = 0
//! bind(s0, 127.0.0.1:8080)       = 0
//!     | UNCONN 127.0.0.1:8080 *
//! listen(s0)                     = 0
//! s1 = socket(inet)              = 0
//! connect(s1, 127.0.0.1:8080) local $C = 0
//! s2 = accept(s0) peer $C        = 0
//! close(s2)                      = 0     # the server closes first …
//! close(s1)                      = 0     # … so the TIME-WAIT is the server's
//!     | LISTEN    127.0.0.1:8080 *
//!     | TIME-WAIT 127.0.0.1:8080 127.0.0.1:$C
//! ```
//!
//! This module is pure: it parses, prints, validates and matches, and touches no socket. The
//! only I/O is [`parse_file`], which reads one file.
//!
//! - [`parse()`] reads the text form into a [`Scenario`]; [`Scenario::to_text`] prints it back
//!   (`parse(s.to_text()) == s` up to line numbers).
//! - [`Scenario::to_json`] and [`Scenario::from_json`] are the machine form.
//! - [`Scenario::validate`] checks a scenario built in code (or read from JSON) against the same
//!   rules the text parser applies.
//! - [`match_table`] compares an expected table ([`RowPattern`]s, possibly with unbound port
//!   variables) with an observed [`Snapshot`] ([`match_partial_table`] a table ending in
//!   `| ...`), and [`row_pattern_from`] turns an observed row back into a pattern.
//! - [`PortAssert`] (`? $C2 != $C`) and [`Expected`] (`= 5`, `= >0`) are the other
//!   expectations a step carries.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tcpconform_model::{Host, Op, Outcome, Port, Profile, Sysctl, TcpState, VariantSetting};

mod check;
mod parse;
mod print;
mod table;

pub use parse::{parse, parse_op};
pub use table::{TableMismatch, match_partial_table, match_table, row_pattern_from};

#[cfg(doc)]
use tcpconform_model::Snapshot;

/// A scenario: a header (kernel profile, topology, sysctls, extra addresses) and the steps to
/// replay, each with what it is expected to return and, optionally, the socket table after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// `@title`: one line of free text.
    pub title: Option<String>,
    /// `@profile`: the kernel release the expectations were written for (`None`: any), with
    /// the release's mainline variant values.
    pub profile: Option<Profile>,
    /// `@variant`: the behaviour variants the expectations depend on, pinned.
    pub variants: Vec<VariantSetting>,
    /// `@hosts`: 1 (loopback only, the default) or 2 (hosts `a` and `b` joined by a veth pair).
    pub hosts: u8,
    /// `@sysctl`: settings applied to a host's fresh namespace before the first step, in order.
    pub sysctls: Vec<(Host, Sysctl)>,
    /// `@address`: extra addresses put on a host's `lo` before the first step, in order.
    pub addresses: Vec<(Host, IpAddr)>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            title: None,
            profile: None,
            variants: Vec::new(),
            hosts: 1,
            sysctls: Vec::new(),
            addresses: Vec::new(),
            steps: Vec::new(),
        }
    }
}

/// One op with its expectations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The 1-based line of the op in its file (0 when the step was not read from a file).
    #[serde(default)]
    pub line: usize,
    /// The call.
    pub op: Op,
    /// `= …`: the results the call may return (any of them; `None`: not checked).
    #[serde(default)]
    pub expect: Option<Vec<Expected>>,
    /// `| …` lines: the exact socket table after the call (`None`: not checked).
    #[serde(default)]
    pub table: Option<Vec<RowPattern>>,
    /// The comment attached to the op: the full-line comments right above it and its trailing
    /// comment, one per line, each trimmed.
    #[serde(default)]
    pub comment: Option<String>,
    /// `| within 500ms` opening the table: the table is read again until it matches or this
    /// many milliseconds have passed since the first read (`None`: read once, right after
    /// the call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_within_ms: Option<u64>,
    /// `| ...` ending the table: the table lists only some rows, and these others may exist
    /// (`None`: the table is the whole table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlisted: Option<UnlistedRows>,
    /// `? …` lines: port assertions checked after the call and its table, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub asserts: Vec<PortAssert>,
}

impl Step {
    /// A step with no expectation, no table, no comment and no line.
    pub fn new(op: Op) -> Self {
        Self {
            line: 0,
            op,
            expect: None,
            table: None,
            comment: None,
            table_within_ms: None,
            unlisted: None,
            asserts: Vec::new(),
        }
    }

    /// The step with these expected results.
    #[must_use]
    pub fn expect(mut self, outcomes: impl IntoIterator<Item = Outcome>) -> Self {
        self.expect = Some(outcomes.into_iter().map(Expected::Exact).collect());
        self
    }

    /// The step with this expected socket table.
    #[must_use]
    pub fn table(mut self, rows: impl IntoIterator<Item = RowPattern>) -> Self {
        self.table = Some(rows.into_iter().collect());
        self
    }

    /// The step with its table made partial: rows it does not list may exist as `unlisted`
    /// says (an empty table when it had none).
    #[must_use]
    pub fn unlisted(mut self, unlisted: UnlistedRows) -> Self {
        self.table.get_or_insert_with(Vec::new);
        self.unlisted = Some(unlisted);
        self
    }

    /// The step with these port assertions.
    #[must_use]
    pub fn asserts(mut self, asserts: impl IntoIterator<Item = PortAssert>) -> Self {
        self.asserts = asserts.into_iter().collect();
        self
    }

    /// The step with this comment.
    #[must_use]
    pub fn comment(mut self, text: impl Into<String>) -> Self {
        self.comment = Some(text.into());
        self
    }
}

/// One expected result of a call: an exact outcome, or a pattern that several outcomes match.
///
/// In JSON an exact outcome is written as the outcome itself (`"Ok"`, `{"Bytes": 5}`) and the
/// pattern by its name (`"AnyBytes"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Expected {
    /// Exactly this outcome (`0`, `5`, `-1 EADDRINUSE`, …).
    Exact(Outcome),
    /// An outcome of a kind (`>0`).
    Pattern(OutcomePattern),
}

/// The kinds of outcome a result may be written as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OutcomePattern {
    /// `>0`: `send`/`recv` moved at least one byte, however many.
    AnyBytes,
}

impl Expected {
    /// Whether `outcome` is one this expectation accepts.
    pub fn matches(self, outcome: Outcome) -> bool {
        match self {
            Self::Exact(o) => o == outcome,
            Self::Pattern(OutcomePattern::AnyBytes) => {
                matches!(outcome, Outcome::Bytes(n) if n > 0)
            }
        }
    }

    /// The outcome, when the expectation is an exact one.
    pub fn exact(self) -> Option<Outcome> {
        match self {
            Self::Exact(o) => Some(o),
            Self::Pattern(_) => None,
        }
    }
}

impl From<Outcome> for Expected {
    fn from(outcome: Outcome) -> Self {
        Self::Exact(outcome)
    }
}

impl fmt::Display for Expected {
    /// As a scenario writes it after `=`: the outcome's own form, or `>0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(o) => o.fmt(f),
            Self::Pattern(OutcomePattern::AnyBytes) => f.pad(">0"),
        }
    }
}

/// The rows a partial table (one ending in `| ...`) allows besides those it lists.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum UnlistedRows {
    /// `| ...`: any rows.
    Any,
    /// `| ... UNCONN`: only rows in these states (one or more, each once).
    InStates(Vec<TcpState>),
}

impl UnlistedRows {
    /// Whether an observed row in `state` that the table does not list may exist.
    pub fn allows(&self, state: TcpState) -> bool {
        match self {
            Self::Any => true,
            Self::InStates(states) => states.contains(&state),
        }
    }
}

impl fmt::Display for UnlistedRows {
    /// `...` or `... UNCONN LISTEN`, as the `|` line writes it without the `|`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("...")?;
        if let Self::InStates(states) = self {
            for s in states {
                write!(f, " {}", s.ss_name())?;
            }
        }
        Ok(())
    }
}

/// How a port assertion compares its two ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Comparison {
    /// `==`: the ports are equal.
    Eq,
    /// `!=`: the ports differ.
    Ne,
}

impl Comparison {
    /// The operator as written (`==`, `!=`).
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Eq => "==",
            Self::Ne => "!=",
        }
    }

    /// Whether `left` and `right` compare this way.
    pub fn holds(self, left: u16, right: u16) -> bool {
        match self {
            Self::Eq => left == right,
            Self::Ne => left != right,
        }
    }
}

/// A port assertion (`? $C2 != $C`, `? $C == 40000`): two ports, each a variable or a
/// number, compared after the step's call and table.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortAssert {
    /// The left operand.
    pub left: Port,
    /// `==` or `!=`.
    pub cmp: Comparison,
    /// The right operand.
    pub right: Port,
}

impl PortAssert {
    /// Checks the assertion with the variables of `env`: `Err` says why it does not hold
    /// (an operand without a value, or the values compared).
    pub fn check(&self, env: &tcpconform_model::Env) -> Result<(), String> {
        let value = |p: &Port| {
            env.resolve(p)
                .ok_or_else(|| format!("assertion `{self}`: {p} has no value here"))
        };
        let (l, r) = (value(&self.left)?, value(&self.right)?);
        if self.cmp.holds(l, r) {
            return Ok(());
        }
        Err(format!(
            "assertion `{self}` failed: {} is {l}, {} is {r}",
            self.left, self.right
        ))
    }
}

impl fmt::Display for PortAssert {
    /// `$C2 != $C`, as the `?` line writes it without the `?`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.left, self.cmp.symbol(), self.right)
    }
}

/// An address in an expected table row: an IP address and a port that is a number or a
/// variable (bound or not).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddrPattern {
    /// The IP address, compared exactly (`::ffff:127.0.0.1` is not `127.0.0.1`).
    pub ip: IpAddr,
    /// The port: a number, a bound variable (compared with its value) or an unbound variable
    /// (bound by a successful match).
    pub port: Port,
}

impl fmt::Display for AddrPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        tcpconform_model::addr::fmt_ip_port(f, self.ip, &self.port)
    }
}

/// One expected row of the socket table: `[b:] STATE LOCAL PEER [q=N]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowPattern {
    /// The host whose namespace holds the row.
    #[serde(default)]
    pub host: Host,
    /// The state.
    pub state: TcpState,
    /// The local address.
    pub local: AddrPattern,
    /// The peer address; `None` (`*`) for listeners and unconnected sockets.
    pub peer: Option<AddrPattern>,
    /// `q=N`: the row's queue (accept queue of a listener, unread bytes otherwise); `None`:
    /// not compared.
    #[serde(default)]
    pub queue: Option<u32>,
}

impl fmt::Display for RowPattern {
    /// Writes the row as a `|` line writes it, without the `|`; the host prefix only for host
    /// `b`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print::row_text(self, self.host != Host::A, 0, 0, 0))
    }
}

/// A scenario that could not be read: where, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The file, when known.
    pub file: Option<String>,
    /// The 1-based line (0: the error is not about one line).
    pub line: usize,
    /// What is wrong, and what was expected.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(file: Option<&str>, line: usize, message: impl Into<String>) -> Self {
        Self {
            file: file.map(str::to_owned),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    /// `FILE:LINE: message`, leaving out what is unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), 0) => write!(f, "{file}: {}", self.message),
            (Some(file), line) => write!(f, "{file}:{line}: {}", self.message),
            (None, 0) => f.write_str(&self.message),
            (None, line) => write!(f, "line {line}: {}", self.message),
        }
    }
}

impl std::error::Error for ParseError {}

impl Scenario {
    /// An empty one-host scenario.
    pub fn new() -> Self {
        Self::default()
    }

    /// The text form (`*.scn`): header first, then one op per line with the `=` column aligned,
    /// each table under its op. [`parse()`] reads it back to an equal scenario (up to
    /// [`Step::line`]).
    pub fn to_text(&self) -> String {
        print::scenario_text(self)
    }

    /// The JSON form (pretty-printed).
    pub fn to_json(&self) -> String {
        // Invariant: every type in a scenario serialises (no map has non-string keys).
        serde_json::to_string_pretty(self).expect("a scenario always serialises to JSON")
    }

    /// Reads the JSON form, then checks it like [`Scenario::validate`]. Errors name the file
    /// (if given) and the JSON line.
    pub fn from_json(text: &str, file_name: Option<&str>) -> Result<Self, ParseError> {
        let scenario: Self = serde_json::from_str(text).map_err(|e| {
            ParseError::new(
                file_name,
                e.line(),
                format!("bad scenario JSON (column {}): {e}", e.column()),
            )
        })?;
        scenario.validate().map_err(|mut e| {
            e.file = file_name.map(str::to_owned);
            e
        })?;
        Ok(scenario)
    }

    /// The profile to predict for when the running (or chosen) kernel is `kernel`: the file's
    /// release when it names another one, else `kernel` itself (its variant values), with the
    /// file's pinned variants over it.
    pub fn profile_on(&self, kernel: Profile) -> Profile {
        let same_release =
            |p: Profile| (p.os, p.major, p.minor) == (kernel.os, kernel.major, kernel.minor);
        let base = match self.profile {
            Some(p) if !same_release(p) => p,
            _ => kernel,
        };
        self.variants
            .iter()
            .fold(base, |p, setting| p.with_variant(*setting))
    }

    /// The kernel the file was written for: its release with its pinned variants (`None` when
    /// it names no release).
    pub fn written_for(&self) -> Option<Profile> {
        self.profile.map(|p| {
            self.variants
                .iter()
                .fold(p, |p, setting| p.with_variant(*setting))
        })
    }

    /// Whether the file was written for `kernel`: the same release (or none named), and every
    /// pinned variant at `kernel`'s value. A file written for another kernel may differ from
    /// it where the model for that kernel says so (`replay --across`).
    pub fn is_for(&self, kernel: Profile) -> bool {
        self.profile_on(kernel) == kernel
    }

    /// Checks what the text parser checks, for a scenario built in code or read from JSON:
    /// a known profile, 1 or 2 hosts, host `b` only with 2 hosts, well-formed sysctls and
    /// addresses, every socket created once before it is used, every destination or
    /// assertion port variable bound before it is used, results that the op can have,
    /// `accept(…|…)` with two or more distinct listeners, `nonblock` only on a call that can
    /// block, `| ...` and `| within` only with a table.
    pub fn validate(&self) -> Result<(), ParseError> {
        check::validate(self)
    }
}

impl fmt::Display for Scenario {
    /// The text form, as [`Scenario::to_text`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// Reads a scenario file: JSON when the name ends in `.json`, the text form otherwise. Errors
/// read `FILE:LINE: message`.
pub fn parse_file(path: impl AsRef<Path>) -> Result<Scenario, ParseError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ParseError::new(Some(&name), 0, format!("cannot read the file: {e}")))?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        Scenario::from_json(&text, Some(&name))
    } else {
        parse(&text, Some(&name))
    }
}
