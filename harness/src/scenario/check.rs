//! The rules a scenario obeys beyond its syntax, shared by the text parser (which applies them
//! line by line) and [`Scenario::validate`] (which applies them to a built scenario).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use tcpconform_model::{
    CallOption, Host, Op, Outcome, Port, Profile, SockAddr, SockId, Sysctl, Var,
};

use super::{Expected, ParseError, PortAssert, RowPattern, Scenario, UnlistedRows};

/// The longest `sleep()` a scenario may ask for (ms): about 31 years, far beyond any timer, and
/// small enough that every duration prints and parses back exactly.
pub(crate) const MAX_SLEEP_MS: u64 = 1_000_000_000_000;

/// The longest `| within …` a table may wait for (ms): a table that settles later is a timer's
/// business (`sleep()` first).
pub(crate) const MAX_WITHIN_MS: u64 = 60_000;

/// `| within N` waits more than 0 ms and at most [`MAX_WITHIN_MS`].
pub(crate) fn check_within(ms: u64) -> Result<(), String> {
    if ms == 0 || ms > MAX_WITHIN_MS {
        return Err(format!(
            "`within {ms}ms`: expected more than 0 and at most {MAX_WITHIN_MS} ms"
        ));
    }
    Ok(())
}

/// The header names, for error messages.
pub(crate) const DIRECTIVES: &str = "@title, @profile, @variant, @hosts, @sysctl, @address";

/// What the steps so far have created and bound.
#[derive(Debug)]
pub(crate) struct Checker {
    hosts: u8,
    /// Sockets created so far, with where (`line 4`, `step 2`) they were created.
    created: BTreeMap<SockId, String>,
    /// Port variables that something before has (or may have) bound.
    bound: BTreeSet<String>,
}

impl Checker {
    pub(crate) fn new(hosts: u8) -> Self {
        Self {
            hosts,
            created: BTreeMap::new(),
            bound: BTreeSet::new(),
        }
    }

    /// Checks one op and records what it creates and binds; `at` says where it is (`line 4`).
    pub(crate) fn op(&mut self, op: &Op, at: String) -> Result<(), String> {
        if let Op::PerCall { call, option } = op {
            check_call_option(call, *option)?;
            return self.op(call, at);
        }
        for var in op_vars(op) {
            check_var_name(var)?;
        }
        // Sockets: used ones must exist, created ones must be new.
        let (uses, creates): (Vec<SockId>, Option<SockId>) = match op {
            Op::Socket { sock, .. } => (vec![], Some(*sock)),
            Op::Accept { listener, sock, .. } => (vec![*listener], Some(*sock)),
            Op::AcceptAny {
                listeners, sock, ..
            } => {
                check_listeners(listeners)?;
                (listeners.clone(), Some(*sock))
            }
            other => (other.sock().into_iter().collect(), None),
        };
        for s in uses {
            if !self.created.contains_key(&s) {
                return Err(format!(
                    "socket {s} is used before a `{s} = socket(…)` or `{s} = accept(…)` line \
                     creates it"
                ));
            }
        }
        if let Some(s) = creates
            && let Some(first) = self.created.get(&s)
        {
            return Err(format!(
                "socket {s} is created twice (first at {first}); give the new socket a \
                     new name"
            ));
        }
        // Hosts.
        let host = match op {
            Op::Socket { host, .. } | Op::Sysctl { host, .. } => Some(*host),
            _ => None,
        };
        if let Some(h) = host {
            self.host(h)?;
        }
        // Values the text form cannot carry.
        match op {
            Op::Sleep { ms } if *ms > MAX_SLEEP_MS => {
                return Err(format!(
                    "sleep of {ms} ms is too long (at most {MAX_SLEEP_MS} ms)"
                ));
            }
            Op::Sysctl { setting, .. } => check_sysctl(setting)?,
            _ => {}
        }
        // Port variables: destinations must be bound; captures bind.
        match op {
            Op::Connect { addr, local, .. } => {
                if let Port::Var(v) = &addr.port
                    && !self.bound.contains(&v.0)
                {
                    return Err(format!(
                        "{v} is used as a destination before anything can have bound it \
                             (a `bind()` with an unbound {v}, `connect(…) local {v}`, \
                             `accept(…) peer {v}` or a table row binds it)"
                    ));
                }
                if let Some(v) = local {
                    self.bound.insert(v.0.clone());
                }
            }
            Op::Bind {
                addr: SockAddr {
                    port: Port::Var(v), ..
                },
                ..
            } => {
                self.bound.insert(v.0.clone());
            }
            Op::Accept { peer: Some(v), .. } | Op::AcceptAny { peer: Some(v), .. } => {
                self.bound.insert(v.0.clone());
            }
            _ => {}
        }
        if let Some(s) = creates {
            self.created.insert(s, at);
        }
        Ok(())
    }

    /// Checks that a host exists in this topology.
    pub(crate) fn host(&self, host: Host) -> Result<(), String> {
        if host == Host::B && self.hosts < 2 {
            return Err("host b exists only in two-host scenarios: add `@hosts 2`".to_owned());
        }
        Ok(())
    }

    /// Checks one expected table row and records the variables it binds.
    pub(crate) fn row(&mut self, row: &RowPattern) -> Result<(), String> {
        self.host(row.host)?;
        for addr in std::iter::once(&row.local).chain(row.peer.as_ref()) {
            if let Port::Var(v) = &addr.port {
                check_var_name(v)?;
                self.bound.insert(v.0.clone());
            }
        }
        Ok(())
    }
}

impl Checker {
    /// Checks that a port assertion names only variables that something before (the op, its
    /// table, an earlier step) can have bound.
    pub(crate) fn assertion(&self, assertion: &PortAssert) -> Result<(), String> {
        for port in [&assertion.left, &assertion.right] {
            if let Port::Var(v) = port {
                check_var_name(v)?;
                if !self.bound.contains(&v.0) {
                    return Err(format!(
                        "{v} is used in an assertion before anything can have bound it"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A partial table's `...` needs a table, and states (when it names any) each once.
fn check_unlisted(has_table: bool, unlisted: &UnlistedRows) -> Result<(), String> {
    if !has_table {
        return Err("`| ...` (unlisted rows) without a table".to_owned());
    }
    if let UnlistedRows::InStates(states) = unlisted {
        if states.is_empty() {
            return Err("`| ...` names no state: use UnlistedRows::Any".to_owned());
        }
        for (i, s) in states.iter().enumerate() {
            if states[..i].contains(s) {
                return Err(format!("state {} is listed twice after `...`", s.ss_name()));
            }
        }
    }
    Ok(())
}

/// The variables an op mentions.
fn op_vars(op: &Op) -> Vec<&Var> {
    let mut out = Vec::new();
    match op {
        Op::Bind { addr, .. } => {
            if let Port::Var(v) = &addr.port {
                out.push(v);
            }
        }
        Op::Connect { addr, local, .. } => {
            if let Port::Var(v) = &addr.port {
                out.push(v);
            }
            out.extend(local);
        }
        Op::Accept { peer, .. } | Op::AcceptAny { peer, .. } => out.extend(peer),
        _ => {}
    }
    out
}

/// The longest a call may be waited for (`within=`): ten minutes.
pub(crate) const MAX_CALL_WITHIN_MS: u64 = 600_000;

/// A call takes one option at most: a per-call `nonblock` (`connect`, `accept` of one
/// listener or several, `send`, `recv`) or a `within=` of 1 ms to [`MAX_CALL_WITHIN_MS`]
/// (`connect`, `accept`, `recv`).
pub(super) fn check_call_option(call: &Op, option: CallOption) -> Result<(), String> {
    if let CallOption::Within { ms } = option
        && !(1..=MAX_CALL_WITHIN_MS).contains(&ms)
    {
        return Err(format!(
            "`within=` must be 1 ms to {}, found {ms} ms",
            tcpconform_model::time::show_ms(MAX_CALL_WITHIN_MS)
        ));
    }
    match (call, option) {
        (Op::Connect { .. } | Op::Accept { .. } | Op::AcceptAny { .. } | Op::Recv { .. }, _)
        | (Op::Send { .. }, CallOption::NonBlocking) => Ok(()),
        (Op::PerCall { option: first, .. }, _) if first.same_kind(option) => {
            Err(format!("`{}` is given twice", option.keyword()))
        }
        (Op::PerCall { .. }, _) => {
            Err("`nonblock` and `within=` together: a non-blocking call does not wait".to_owned())
        }
        (other, CallOption::NonBlocking) => Err(format!(
            "`{}` takes no per-call `nonblock` (only connect, accept, send and recv do)",
            other.name()
        )),
        (other, CallOption::Within { .. }) => Err(format!(
            "`{}` takes no `within=` (only connect, accept and recv do)",
            other.name()
        )),
    }
}

/// `accept(l1|l2|…)` names two or more listeners, each once.
pub(crate) fn check_listeners(listeners: &[SockId]) -> Result<(), String> {
    if listeners.len() < 2 {
        return Err("accept(…|…) needs two or more listeners (one is `accept(s0)`)".to_owned());
    }
    for (i, l) in listeners.iter().enumerate() {
        if listeners[..i].contains(l) {
            return Err(format!("listener {l} is named twice in accept(…|…)"));
        }
    }
    Ok(())
}

/// Variable names are `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn check_var_name(v: &Var) -> Result<(), String> {
    if is_var_name(&v.0) {
        Ok(())
    } else {
        Err(format!(
            "bad variable name `${}`: expected a letter or `_`, then letters, digits or `_`",
            v.0
        ))
    }
}

/// Whether `s` is a valid variable name (without its `$`).
pub(crate) fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A setting must be one its own text parses back to (this catches a JSON value of the wrong
/// shape or out of range).
pub(crate) fn check_sysctl(s: &Sysctl) -> Result<(), String> {
    match s.to_string().parse::<Sysctl>() {
        Ok(back) if back == *s => Ok(()),
        Ok(_) => Err(format!("sysctl `{s}` does not read back as itself")),
        Err(e) => Err(e.to_string()),
    }
}

/// An extra address must be a unicast address that is not the wildcard.
pub(crate) fn check_address(ip: IpAddr) -> Result<(), String> {
    let mapped = matches!(ip, IpAddr::V6(a) if a.to_ipv4_mapped().is_some());
    if ip.is_unspecified() || ip.is_multicast() || mapped {
        return Err(format!(
            "`{ip}` cannot be added to an interface: expected a unicast IPv4 or IPv6 address"
        ));
    }
    Ok(())
}

/// Checks a list of expected results for an op: not empty, no repeats, each one the op can
/// return.
pub(crate) fn check_outcomes(op: &Op, expected: &[Expected]) -> Result<(), String> {
    if expected.is_empty() {
        return Err("an empty list of results".to_owned());
    }
    for (i, e) in expected.iter().enumerate() {
        if expected[..i].contains(e) {
            return Err(format!("result `{e}` is listed twice"));
        }
        let o = match e {
            Expected::Exact(o) => o,
            Expected::Pattern(_) if !matches!(op.name(), "send" | "recv") => {
                return Err(format!(
                    "`{}` cannot return `{e}`: only send and recv count bytes",
                    op.name()
                ));
            }
            Expected::Pattern(_) => continue,
        };
        if *o == Outcome::Bytes(0) {
            return Err("a byte count of 0 is written `0` (or `EOF` for recv)".to_owned());
        }
        if let Some(why) = impossible(op, *o) {
            return Err(format!("`{}` cannot return `{o}`: {why}", op.name()));
        }
    }
    Ok(())
}

/// Why `op` can never return `o`, if it cannot.
fn impossible(op: &Op, o: Outcome) -> Option<&'static str> {
    let is = |names: &[&str]| names.contains(&op.name());
    match o {
        Outcome::Eof if !is(&["recv"]) => Some("only recv reads EOF"),
        Outcome::Bytes(_) if !is(&["send", "recv"]) => Some("only send and recv count bytes"),
        Outcome::SoError(_) if !is(&["getsockopt"]) => {
            Some("only getsockopt(SO_ERROR) returns `[ERRNO]` or `[0]`")
        }
        Outcome::Ok if is(&["getsockopt"]) => {
            Some("getsockopt(SO_ERROR) returns `[0]` when no error is pending")
        }
        Outcome::Blocks if !is(&["connect", "accept", "send", "recv", "close"]) => {
            Some("only connect, accept, send, recv and close can block")
        }
        _ => None,
    }
}

/// [`Scenario::validate`].
pub(crate) fn validate(s: &Scenario) -> Result<(), ParseError> {
    let header = |message: String| ParseError::new(None, 0, message);
    if !(1..=2).contains(&s.hosts) {
        return Err(header(format!("hosts is {}: expected 1 or 2", s.hosts)));
    }
    if let Some(title) = &s.title
        && (title.contains(['\n', '\r']) || title.trim() != title || title.is_empty())
    {
        return Err(header(
            "the title must be one non-empty line without surrounding spaces".to_owned(),
        ));
    }
    if let Some(p) = s.profile {
        if let Err(e) = p.to_string().parse::<Profile>() {
            return Err(header(e));
        }
        if !p.is_mainline() {
            return Err(header(format!(
                "the profile {} carries variant values; pin them with @variant",
                p.describe()
            )));
        }
    }
    let mut pinned = BTreeSet::new();
    for v in &s.variants {
        if !pinned.insert(v.variant) {
            return Err(header(format!("@variant {} is pinned twice", v.variant)));
        }
    }
    let checker = Checker::new(s.hosts);
    let mut seen_keys = BTreeSet::new();
    for (host, setting) in &s.sysctls {
        let at = |m: String| header(format!("@sysctl {setting}: {m}"));
        checker.host(*host).map_err(at)?;
        check_sysctl(setting).map_err(at)?;
        if !seen_keys.insert((*host, setting.key)) {
            return Err(at(format!("{} is set twice for host {host}", setting.key)));
        }
    }
    let mut seen_addrs = BTreeSet::new();
    for (host, ip) in &s.addresses {
        let at = |m: String| header(format!("@address {ip}: {m}"));
        checker.host(*host).map_err(at)?;
        check_address(*ip).map_err(at)?;
        if !seen_addrs.insert((*host, *ip)) {
            return Err(at(format!("added twice to host {host}")));
        }
    }
    let mut checker = checker;
    for (i, step) in s.steps.iter().enumerate() {
        let at = |m: String| {
            ParseError::new(
                None,
                step.line,
                format!("step {} (`{}`): {m}", i + 1, step.op),
            )
        };
        let place = if step.line > 0 {
            format!("line {}", step.line)
        } else {
            format!("step {}", i + 1)
        };
        checker.op(&step.op, place).map_err(at)?;
        if let Some(outcomes) = &step.expect {
            check_outcomes(&step.op, outcomes).map_err(at)?;
        }
        if let Some(rows) = &step.table {
            for row in rows {
                checker.row(row).map_err(at)?;
            }
        }
        if let Some(unlisted) = &step.unlisted {
            check_unlisted(step.table.is_some(), unlisted).map_err(at)?;
        }
        if let Some(ms) = step.table_within_ms {
            if step.table.is_none() {
                return Err(at("`| within …` without a table".to_owned()));
            }
            check_within(ms).map_err(at)?;
        }
        for assertion in &step.asserts {
            checker.assertion(assertion).map_err(at)?;
        }
    }
    Ok(())
}
