//! `tcpconform why`: why a `bind()` or `connect()` fails on this host now, and what would
//! change the answer.
//!
//! The current namespace's socket table (`sock_diag`: states, timers, owners, whether a
//! descriptor still holds each socket) is rebuilt as a scenario: every socket on the ports the
//! call touches is made again by the calls that leave it in its state (a listener by `bind` and
//! `listen`, a TIME-WAIT by a connection its side closed first, an orphaned FIN-WAIT-2 by a
//! connection closed while the peer keeps its end). The model runs that scenario and then the
//! call: its answer and deciding rule are the answer, and each fix (SO_REUSEADDR on both
//! sockets, waiting out a timer, `ss -K`, `tcp_tw_reuse`, a wider port range) is the same
//! scenario with the fix, run on the model. What `sock_diag` cannot tell (whether the old
//! socket set SO_REUSEADDR) is answered both ways. With `prove`, the scenario and the call run
//! on the kernel in a fresh namespace, never on the host's sockets.
//!
//! [`rebuild`] and [`answer`] are pure (a table in, a report out); [`current_table`] reads.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};
use tcpconform_model::time::TIME_WAIT_LEN_MS;
use tcpconform_model::{Errno, Outcome, Profile, RuleId, Sysctl};

use crate::replay;
use crate::scenario;

/// One socket of the table, as `why` reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// `LISTEN`, `ESTAB`, `TIME-WAIT`, … (`ss`'s names), `UNCONN` for a bound socket in CLOSE.
    pub state: String,
    /// Local address and port.
    pub local: SocketAddr,
    /// Peer address and port, if connected.
    pub peer: Option<SocketAddr>,
    /// Whether the socket is IPv6 (`AF_INET6`).
    pub inet6: bool,
    /// Its owner.
    pub uid: u32,
    /// Whether no descriptor holds it (an orphan, a TIME-WAIT).
    pub orphan: bool,
    /// Milliseconds until its timer fires (TIME-WAIT, FIN-WAIT-2, retransmission), if one runs.
    pub timer_ms: Option<u32>,
}

impl Seen {
    /// `FIN-WAIT-2 127.0.0.1:8080 <-> 127.0.0.1:33722, orphan, 52 s left of its timer`.
    pub fn describe(&self) -> String {
        let mut s = format!("{} {}", self.state, self.local);
        if let Some(p) = self.peer {
            let _ = write!(s, " <-> {p}");
        }
        if self.orphan && self.state != "TIME-WAIT" {
            s.push_str(", orphan (no descriptor holds it)");
        }
        if self.uid != 0 {
            let _ = write!(s, ", uid {}", self.uid);
        }
        if let Some(ms) = self.timer_ms {
            let _ = write!(s, ", {} s left of its timer", ms.div_ceil(1000));
        }
        s
    }
}

/// The call asked about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Call {
    /// `bind(ADDR:PORT)`.
    Bind(SocketAddr),
    /// `connect(ADDR:PORT)`, from `from` when given (bound first).
    Connect {
        /// The destination.
        dest: SocketAddr,
        /// The local address (and port, when not 0) bound before.
        from: Option<SocketAddr>,
    },
}

/// The new socket's options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSocket {
    /// SO_REUSEADDR.
    pub reuseaddr: bool,
    /// SO_REUSEPORT.
    pub reuseport: bool,
    /// IPV6_V6ONLY.
    pub v6only: bool,
    /// Made by this uid.
    pub uid: Option<u32>,
}

/// A question: the call, the new socket's options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// The call.
    pub call: Call,
    /// The new socket.
    pub socket: NewSocket,
}

impl Question {
    /// The ports whose sockets decide the answer.
    fn ports(&self) -> Vec<u16> {
        match self.call {
            Call::Bind(a) => vec![a.port()],
            Call::Connect { dest, from } => {
                let mut v = vec![dest.port()];
                if let Some(f) = from.filter(|f| f.port() != 0) {
                    v.push(f.port());
                }
                v
            }
        }
    }

    fn family(&self) -> &'static str {
        let ip = match self.call {
            Call::Bind(a) => a.ip(),
            Call::Connect { dest, .. } => dest.ip(),
        };
        if ip.is_ipv6() { "inet6" } else { "inet" }
    }

    fn wants(&self, outcome: Outcome) -> bool {
        matches!(outcome, Outcome::Ok | Outcome::Err(Errno::EINPROGRESS))
    }
}

/// Whether a socket is one the call's answer may depend on: on a port it touches, or a
/// connection toward its destination (the ephemeral ports a `connect()` may take).
fn relevant(q: &Question, s: &Seen) -> bool {
    let ports = q.ports();
    if ports.contains(&s.local.port()) || s.peer.is_some_and(|p| ports.contains(&p.port())) {
        return true;
    }
    matches!(q.call, Call::Connect { dest, .. } if s.peer == Some(dest))
}

/// The table rebuilt as a scenario, for one assumption about the old sockets' SO_REUSEADDR.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rebuilt {
    /// The scenario's text, without the question (replayable as it is).
    pub text: String,
    /// Each rebuilt socket's name and what it stands for.
    pub names: Vec<(String, Seen)>,
    /// Sockets of the table that were not rebuilt, and why.
    pub left_out: Vec<String>,
}

fn is_local_ip(ip: IpAddr, table: &[Seen]) -> bool {
    ip.is_loopback()
        || matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()))
        || table.iter().any(|s| s.local.ip() == ip)
}

fn addr(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => v.to_string(),
        SocketAddr::V6(v) => format!("[{}]:{}", v.ip(), v.port()),
    }
}

/// Rebuilds the sockets of `table` that `q` depends on: listeners and bound sockets first, then
/// each connection by the calls that leave its side in its state. `old_reuseaddr`: whether the
/// old sockets are taken to have set SO_REUSEADDR. `sysctls`: the namespace's settings that
/// differ from `profile`'s defaults (`KEY=VALUE`).
pub fn rebuild(
    q: &Question,
    table: &[Seen],
    old_reuseaddr: bool,
    sysctls: &[String],
    profile: Profile,
) -> Rebuilt {
    let mut values = profile.default_sysctls();
    for s in sysctls.iter().filter_map(|s| s.parse::<Sysctl>().ok()) {
        values.set(&s);
    }
    let range = values.ip_local_port_range;
    let mut b = Builder {
        old_reuseaddr,
        range,
        ..Builder::default()
    };
    let relevant: Vec<&Seen> = table.iter().filter(|s| relevant(q, s)).collect();
    for s in relevant
        .iter()
        .filter(|s| s.state == "LISTEN" || s.state == "UNCONN")
    {
        b.bound(s);
    }
    // The connections on the call's own ports first: each is rebuilt with its peer's end, and
    // a mirror met later is that end.
    let ports = q.ports();
    let mut connected: Vec<&Seen> = relevant
        .iter()
        .copied()
        .filter(|s| s.peer.is_some())
        .collect();
    connected.sort_by_key(|s| !ports.contains(&s.local.port()));
    for s in connected {
        b.connection(s, table);
    }
    b.finish(sysctls)
}

/// The address a host needs for `ip` (`@address`): none for a wildcard or loopback one (lo has
/// 127.0.0.0/8 and ::1), the IPv4 one for a v4-mapped one.
fn host_address(ip: IpAddr) -> Option<IpAddr> {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => {
            host_address(IpAddr::V4(v6.to_ipv4_mapped().expect("checked")))
        }
        ip if ip.is_unspecified() || ip.is_loopback() => None,
        ip => Some(ip),
    }
}

/// A rebuilt scenario as it is written.
#[derive(Default)]
struct Builder {
    old_reuseaddr: bool,
    range: (u16, u16),
    body: String,
    /// Calls that go last (closing helper listeners).
    closes: String,
    made: usize,
    names: Vec<(String, Seen)>,
    left_out: Vec<String>,
    listeners: Vec<(String, SocketAddr)>,
    /// Connections rebuilt, as (local, peer).
    done: Vec<(SocketAddr, SocketAddr)>,
    addresses_a: Vec<IpAddr>,
    addresses_b: Vec<IpAddr>,
}

impl Builder {
    /// A new socket, with SO_REUSEADDR when the old sockets are taken to have it.
    fn socket(&mut self, inet6: bool, uid: u32, host_b: bool) -> String {
        let name = format!("s{}", self.made);
        self.made += 1;
        let mut opts = vec![if inet6 { "inet6" } else { "inet" }.to_owned()];
        if uid != 0 {
            opts.push(format!("euid={uid}"));
        }
        if host_b {
            opts.push("host=b".to_owned());
        }
        let _ = writeln!(self.body, "{name} = socket({})", opts.join(", "));
        if self.old_reuseaddr && !host_b {
            let _ = writeln!(self.body, "setsockopt({name}, SO_REUSEADDR, 1)");
        }
        name
    }

    fn address(&mut self, ip: IpAddr, host_b: bool) {
        let list = if host_b {
            &mut self.addresses_b
        } else {
            &mut self.addresses_a
        };
        if let Some(ip) = host_address(ip)
            && !list.contains(&ip)
        {
            list.push(ip);
        }
    }

    /// A listener or a bound, unconnected socket.
    fn bound(&mut self, s: &Seen) {
        self.address(s.local.ip(), false);
        let name = self.socket(s.inet6, s.uid, false);
        let _ = writeln!(self.body, "bind({name}, {})", addr(s.local));
        if s.state == "LISTEN" {
            let _ = writeln!(self.body, "listen({name})");
            self.listeners.push((name.clone(), s.local));
        }
        self.names.push((name, s.clone()));
    }

    fn listener_at(&self, a: SocketAddr) -> Option<String> {
        self.listeners
            .iter()
            .find(|(_, l)| l.port() == a.port() && (l.ip() == a.ip() || l.ip().is_unspecified()))
            .map(|(n, _)| n.clone())
    }

    /// One connection: this side is a client when something listens where it connects, else
    /// the child of a listener at its own address (a helper one when none is in the table);
    /// then the calls that leave it in its state.
    fn connection(&mut self, s: &Seen, table: &[Seen]) {
        let peer = s.peer.expect("a connection");
        if self.done.contains(&(peer, s.local)) {
            return; // its mirror was rebuilt with it
        }
        self.done.push((s.local, peer));
        let remote = !is_local_ip(peer.ip(), table);
        self.address(s.local.ip(), false);
        if remote {
            self.address(peer.ip(), true);
        }
        let accepted = format!("s{}", ACCEPTED + self.done.len());
        let (row, other) = if let Some(l) = self.listener_at(peer) {
            let c = self.socket(s.inet6, s.uid, false);
            connect_from(&mut self.body, &c, s.local, peer, false, self.range);
            let _ = writeln!(self.body, "{accepted} = accept({l})");
            (c, accepted)
        } else {
            let l = match self.listener_at(s.local) {
                Some(l) => l,
                None => {
                    let l = self.socket(s.inet6, s.uid, false);
                    let _ = writeln!(self.body, "bind({l}, {})", addr(s.local));
                    let _ = writeln!(self.body, "listen({l})");
                    let _ = writeln!(self.closes, "close({l})");
                    l
                }
            };
            let c = self.socket(s.inet6, 0, remote);
            connect_from(&mut self.body, &c, peer, s.local, remote, self.range);
            let _ = writeln!(self.body, "{accepted} = accept({l})");
            (accepted, c)
        };
        let calls: &[String] = &match s.state.as_str() {
            "ESTAB" => vec![],
            "CLOSE-WAIT" => vec![format!("shutdown({other}, SHUT_WR)")],
            "FIN-WAIT-2" if s.orphan => vec![format!("close({row})")],
            "FIN-WAIT-2" => vec![format!("shutdown({row}, SHUT_WR)")],
            "TIME-WAIT" => vec![format!("close({row})"), format!("close({other})")],
            _ => {
                self.left_out.push(format!(
                    "{}: a passing state, not rebuilt (ask again in a moment)",
                    s.describe()
                ));
                return;
            }
        };
        for c in calls {
            let _ = writeln!(self.body, "{c}");
        }
        self.names.push((row, s.clone()));
        // The peer's end, when this namespace holds it too, is the other socket.
        if let Some(mirror) = table
            .iter()
            .find(|m| m.local == peer && m.peer == Some(s.local))
        {
            self.names.push((other, mirror.clone()));
        }
    }

    fn finish(self, sysctls: &[String]) -> Rebuilt {
        let mut head = String::from("@title the table as `tcpconform why` read it\n");
        if !self.addresses_b.is_empty() {
            head.push_str("@hosts 2\n");
        }
        for s in sysctls {
            let _ = writeln!(head, "@sysctl {s}");
        }
        for ip in &self.addresses_a {
            let _ = writeln!(head, "@address {ip}");
        }
        for ip in &self.addresses_b {
            let _ = writeln!(head, "@address b {ip}");
        }
        Rebuilt {
            text: format!("{head}\n{}{}", self.body, self.closes),
            names: self.names,
            left_out: self.left_out,
        }
    }
}

/// The first name of an accepted socket in a rebuilt scenario (made ones count from 0).
const ACCEPTED: usize = 1000;

/// The new socket the question's calls make.
const ASKED: &str = "s9999";

/// Writes the calls that connect `c` from `from` to `to`. A port inside the ephemeral range
/// was most likely taken by connect()'s own autobind, whose port bucket differs from an
/// explicit bind's (`__inet_hash_connect()` never reuses a bucket an explicit bind made, and
/// only such ports are candidates for `tcp_tw_reuse`), so it is taken that way again: the range
/// is narrowed to that one port for the call and put back after.
fn connect_from(
    body: &mut String,
    c: &str,
    from: SocketAddr,
    to: SocketAddr,
    host_b: bool,
    range: (u16, u16),
) {
    let on = if host_b { ", host=b" } else { "" };
    let p = from.port();
    if (range.0..=range.1).contains(&p) {
        let _ = writeln!(body, "sysctl(net.ipv4.ip_local_port_range={p} {p}{on})");
        if !from.ip().is_loopback() {
            let _ = writeln!(body, "bind({c}, {})", addr(SocketAddr::new(from.ip(), 0)));
        }
        let _ = writeln!(body, "connect({c}, {})", addr(to));
        let _ = writeln!(
            body,
            "sysctl(net.ipv4.ip_local_port_range={} {}{on})",
            range.0, range.1
        );
    } else {
        let _ = writeln!(body, "bind({c}, {})", addr(from));
        let _ = writeln!(body, "connect({c}, {})", addr(to));
    }
}

/// The question's calls, on a new socket ([`ASKED`]).
fn question_text(q: &Question) -> String {
    let mut t = String::new();
    let mut opts = vec![q.family().to_owned()];
    if let Some(u) = q.socket.uid.filter(|u| *u != 0) {
        opts.push(format!("euid={u}"));
    }
    let _ = writeln!(t, "{ASKED} = socket({})", opts.join(", "));
    if q.socket.reuseaddr {
        let _ = writeln!(t, "setsockopt({ASKED}, SO_REUSEADDR, 1)");
    }
    if q.socket.reuseport {
        let _ = writeln!(t, "setsockopt({ASKED}, SO_REUSEPORT, 1)");
    }
    if q.socket.v6only {
        let _ = writeln!(t, "setsockopt({ASKED}, IPV6_V6ONLY, 1)");
    }
    match q.call {
        Call::Bind(a) => {
            let _ = writeln!(t, "bind({ASKED}, {})", addr(a));
        }
        Call::Connect { dest, from } => {
            if let Some(f) = from {
                let _ = writeln!(t, "bind({ASKED}, {})", addr(f));
            }
            let _ = writeln!(t, "connect({ASKED}, {})", addr(dest));
        }
    }
    t
}

/// What the model answers for the last call of `text` (a scenario).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// The result (`0`, `-1 EADDRINUSE`).
    pub outcome: String,
    /// The deciding rule's id.
    pub rule: String,
    /// What the rule says, with the kernel function it mirrors.
    pub because: String,
}

fn ask(text: &str, profile: Profile) -> Result<(Answer, Outcome), String> {
    let sc = scenario::parse(text, Some("why")).map_err(|e| e.to_string())?;
    let report = replay::predict(&sc, profile);
    if let Some(e) = &report.run.harness_error {
        return Err(e.clone());
    }
    let last = report.run.steps.last().ok_or("no call")?;
    if last.rules.contains(&RuleId::NotModelled) {
        return Err(format!("{}: not modelled", last.op));
    }
    Ok((
        Answer {
            outcome: last.observed.outcome.to_string(),
            rule: last.rule.id().to_owned(),
            because: last.rule.describe().to_owned(),
        },
        last.observed.outcome,
    ))
}

/// One way to change the answer, checked on the model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fix {
    /// What to do.
    pub what: String,
    /// What the call returns then, and the rule.
    pub then: Answer,
    /// Whether the call then succeeds.
    pub works: bool,
    /// What it costs.
    pub cost: String,
}

/// `why`'s report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WhyReport {
    /// The question.
    pub question: Question,
    /// The sockets in the table the answer depends on.
    pub in_the_way: Vec<Seen>,
    /// The answer, taking the old sockets not to have set SO_REUSEADDR.
    pub answer: Answer,
    /// The answer if they did, when it differs (`sock_diag` does not show the option).
    pub if_old_reuseaddr: Option<Answer>,
    /// The fixes, each checked on the model.
    pub fixes: Vec<Fix>,
    /// The rebuilt scenario with the question (replayable: `tcpconform replay`).
    pub scenario: String,
    /// Sockets not rebuilt, and why.
    pub left_out: Vec<String>,
    /// `prove`: the kernel's result for the question in a fresh namespace, or why none.
    pub proof: Option<Result<String, String>>,
}

/// Answers `q` for `table` under `profile` and the namespace's `sysctls`; the kernel's own
/// run of the rebuilt scenario is added by the caller ([`prove`]).
pub fn answer(
    q: &Question,
    table: &[Seen],
    profile: Profile,
    sysctls: &[String],
) -> Result<WhyReport, String> {
    let plain = rebuild(q, table, false, sysctls, profile);
    let with_reuse = rebuild(q, table, true, sysctls, profile);
    let question = question_text(q);
    let scenario = format!("{}{question}", plain.text);
    let (answer, outcome) = ask(&scenario, profile)?;
    let (reuse_answer, _) = ask(&format!("{}{question}", with_reuse.text), profile)?;
    let if_old_reuseaddr = (reuse_answer.outcome != answer.outcome).then_some(reuse_answer);
    let in_the_way: Vec<Seen> = plain.names.iter().map(|(_, s)| s.clone()).collect();
    let fixes = if q.wants(outcome) {
        Vec::new()
    } else {
        fixes(q, &question, &plain, &with_reuse, profile)
    };
    Ok(WhyReport {
        question: q.clone(),
        in_the_way,
        answer,
        if_old_reuseaddr,
        fixes,
        scenario,
        left_out: plain.left_out,
        proof: None,
    })
}

/// The ways to change a failing answer, each the rebuilt scenario with the fix, asked of the
/// model: SO_REUSEADDR (on the new socket; on both), waiting out the timers, `ss -K` of each
/// socket no descriptor holds, and for `connect()` `tcp_tw_reuse` and a wider port range.
/// `question`: [`question_text`] of `q`.
fn fixes(
    q: &Question,
    question: &str,
    plain: &Rebuilt,
    with_reuse: &Rebuilt,
    profile: Profile,
) -> Vec<Fix> {
    let mut fixes = Vec::new();
    let mut try_fix = |what: String, text: String, cost: &str| {
        if let Ok((then, o)) = ask(&text, profile) {
            fixes.push(Fix {
                what,
                works: q.wants(o),
                then,
                cost: cost.to_owned(),
            });
        }
    };
    let reuse_q = Question {
        socket: NewSocket {
            reuseaddr: true,
            ..q.socket
        },
        ..q.clone()
    };
    let binds_a_port = match q.call {
        Call::Bind(_) => true,
        Call::Connect { from, .. } => from.is_some_and(|f| f.port() != 0),
    };
    if !q.socket.reuseaddr && binds_a_port {
        try_fix(
            "SO_REUSEADDR on the new socket (the old ones without it)".into(),
            format!("{}{}", plain.text, question_text(&reuse_q)),
            "none",
        );
        try_fix(
            "SO_REUSEADDR on both the old sockets and the new one".into(),
            format!("{}{}", with_reuse.text, question_text(&reuse_q)),
            "none; the old server must have set it too (most servers do: nginx, Go's net, \
             Python's socketserver)",
        );
    }
    let longest = plain
        .names
        .iter()
        .filter_map(|(_, s)| s.timer_ms)
        .max()
        .unwrap_or(0);
    let has_timed = plain
        .names
        .iter()
        .any(|(_, s)| s.state == "TIME-WAIT" || (s.state == "FIN-WAIT-2" && s.orphan));
    if has_timed {
        // The rebuilt sockets' timers start with the scenario: sleeping their whole
        // length covers what is left of the real ones.
        try_fix(
            format!(
                "wait about {} s (until the timers of the sockets in the way run out)",
                longest.div_ceil(1000) + 1
            ),
            format!("{}sleep(61s)\n{question}", plain.text),
            "the wait",
        );
    }
    for (name, s) in &plain.names {
        if s.orphan || s.state == "TIME-WAIT" {
            try_fix(
                format!(
                    "ss -K the {} (`ss -K src {} dst {}`)",
                    s.state,
                    s.local,
                    s.peer.map_or_else(|| "*".into(), |p| p.to_string())
                ),
                format!("{}destroy({name})\n{question}", plain.text),
                if s.state == "TIME-WAIT" {
                    "TIME-WAIT's protection is gone: a delayed segment of the old connection \
                     may reach a new one on the same 4-tuple"
                } else {
                    "the peer's end is reset (its next call returns ECONNRESET or EPIPE)"
                },
            );
        }
    }
    if let Call::Connect { .. } = q.call {
        // tcp_tw_reuse takes over a TIME-WAIT older than tcp_tw_reuse_delay: the rebuilt
        // ones are made now, so they are first aged as the oldest real one is.
        let age_ms = plain
            .names
            .iter()
            .filter(|(_, s)| s.state == "TIME-WAIT")
            .filter_map(|(_, s)| s.timer_ms)
            // Its age: TIME-WAIT's length less what its timer has left.
            .map(|left| TIME_WAIT_LEN_MS.saturating_sub(u64::from(left)))
            .max()
            .unwrap_or(0);
        for v in ["1", "2"] {
            try_fix(
                format!("net.ipv4.tcp_tw_reuse={v}"),
                format!(
                    "{}sleep({age_ms}ms)\nsysctl(net.ipv4.tcp_tw_reuse={v})\n{question}",
                    plain.text
                ),
                "a TIME-WAIT 4-tuple may be taken over once older than \
                 tcp_tw_reuse_delay (timestamps on)",
            );
        }
        try_fix(
            "net.ipv4.ip_local_port_range=32768 60999 (a wider range)".into(),
            format!(
                "{}sysctl(net.ipv4.ip_local_port_range=32768 60999)\n{question}",
                plain.text
            ),
            "the range may then cover ports services listen on (reserve them)",
        );
    }
    fixes
}

/// `prove`: runs the rebuilt scenario and the question on the kernel, in a fresh namespace
/// (never the host's sockets); the kernel's result for the question, or why none.
#[cfg(target_os = "linux")]
pub fn prove(report: &WhyReport, profile: Profile) -> Result<String, String> {
    let sc: scenario::Scenario =
        scenario::parse(&report.scenario, Some("why")).map_err(|e| e.to_string())?;
    let r = replay::replay(&sc, profile).map_err(|e| e.to_string())?;
    if let Some(e) = &r.run.harness_error {
        return Err(format!("harness: {e}"));
    }
    if let Some(d) = r.run.divergence() {
        return Err(format!(
            "the kernel diverged from the model at call {} ({}: kernel {})",
            d.index, d.op, d.observed.outcome
        ));
    }
    let last = r.run.steps.last().ok_or("no call ran")?;
    Ok(last.observed.outcome.to_string())
}

/// The current namespace's TCP table, as `why` reads it (`sock_diag`, read only).
#[cfg(target_os = "linux")]
pub fn current_table() -> Result<Vec<Seen>, crate::HarnessError> {
    let mut diag = crate::observer::DiagSocket::open_here(tcpconform_model::Host::A)?;
    let rows = diag.rows()?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let state = r.tcp_state()?;
            let peer = (r.peer.port() != 0).then_some(r.peer);
            let name = state.ss_name();
            Some(Seen {
                state: if name == "CLOSE" {
                    "UNCONN".to_owned()
                } else {
                    name.to_owned()
                },
                local: r.local,
                peer,
                inet6: r.family == tcpconform_model::Family::Inet6,
                uid: r.uid,
                orphan: r.inode == 0,
                timer_ms: (r.timer != 0).then_some(r.expires_ms),
            })
        })
        .collect())
}

/// The report as text.
pub fn render(r: &WhyReport) -> String {
    let mut out = String::new();
    let call = match r.question.call {
        Call::Bind(a) => format!("bind({a})"),
        Call::Connect { dest, from } => match from {
            Some(f) => format!("connect({dest}) from {f}"),
            None => format!("connect({dest})"),
        },
    };
    let _ = writeln!(out, "{call} would return {}", r.answer.outcome);
    let _ = writeln!(out, "  because ({}): {}", r.answer.rule, r.answer.because);
    if let Some(a) = &r.if_old_reuseaddr {
        let _ = writeln!(
            out,
            "  if the old sockets set SO_REUSEADDR (sock_diag does not show it): {} ({})",
            a.outcome, a.rule
        );
    }
    let _ = writeln!(
        out,
        "\nIn the way (this namespace's table, on the ports it touches):"
    );
    if r.in_the_way.is_empty() {
        let _ = writeln!(out, "  nothing");
    }
    for s in &r.in_the_way {
        let _ = writeln!(out, "  {}", s.describe());
    }
    for l in &r.left_out {
        let _ = writeln!(out, "  {l}");
    }
    if !r.fixes.is_empty() {
        let _ = writeln!(
            out,
            "\nWhat would change the answer (each checked on the model):"
        );
        for f in &r.fixes {
            let _ = writeln!(
                out,
                "  {} {}: {} ({}); cost: {}",
                if f.works { "+" } else { "-" },
                f.what,
                f.then.outcome,
                f.then.rule,
                f.cost
            );
        }
    }
    match &r.proof {
        Some(Ok(k)) => {
            let verdict = if *k == r.answer.outcome {
                "agrees"
            } else {
                "DISAGREES"
            };
            let _ = writeln!(
                out,
                "\nProven in a fresh namespace: the kernel returned {k} ({verdict} with the model)"
            );
        }
        Some(Err(e)) => {
            let _ = writeln!(out, "\nNot proven: {e}");
        }
        None => {}
    }
    let _ = writeln!(
        out,
        "\nThe situation as a scenario (`tcpconform replay FILE` runs it in a fresh namespace):\n"
    );
    for l in r.scenario.lines() {
        let _ = writeln!(out, "  {l}");
    }
    out
}
