//! `export`: a scenario as a standalone reproducer, a C or Python program that makes the
//! scenario's calls and checks its expected results without tcpconform, for a kernel's (or
//! gVisor's) developers to run and keep as a test.
//!
//! The programs follow kselftest's conventions: one TAP line per call (`ok N - call`, `not ok
//! N - call: expected X, got Y`), a `# Totals:` line, exit 0 when every expectation held, 1
//! when one did not, 4 (`KSFT_SKIP`) when the program cannot run here (no network namespace, a
//! sysctl this kernel lacks), with the reason.
//!
//! They do what the Linux executor does (`executor::linux`), so that a program gives the same
//! results as `tcpconform replay` of its file on the same kernel:
//!
//! - a fresh network namespace (`unshare(CLONE_NEWNET)`, or a user namespace with it when not
//!   root), `lo` up, the file's `@address`es on `lo`, `quickack` on `lo`'s routes (as the
//!   sandbox sets it: a FIN is acknowledged at once), the `@sysctl`s written there only;
//! - addresses passed literally (an IPv4 address to an `AF_INET6` socket is the kernel's
//!   `EINVAL`); a port variable without a value is port 0, and `bind`, `connect … local` and
//!   `accept … peer` capture the kernel's port;
//! - every blocking socket bounded by `SO_RCVTIMEO`/`SO_SNDTIMEO` of
//!   [`BLOCKING_BOUND_MS`](tcpconform_model::time::BLOCKING_BOUND_MS), whose timeout answers are
//!   `BLOCKS`; a lingering `close()` interrupted after the same bound;
//! - calls on a closed name give `EBADF`; other uids through `setfsuid`/`setresuid` around the
//!   calls that ask who calls;
//! - after every call, a wait until `/proc/net/tcp` stops changing (the observer's settling).
//!
//! Tables are checked as far as a program can see them without `sock_diag`: the descriptors.
//! Each open descriptor with a port must match an expected row; expected rows no descriptor
//! shows (orphans, TIME-WAIT, connections not accepted yet) are not checked. `Plan` holds
//! what both languages share; `c` and `python` write it out.
//!
//! Some scenarios cannot be exported ([`Refusal`]): two hosts, the fixture ops
//! (`peer_vanishes`, `peer_reboots`, `destroy`, which need nftables and `SOCK_DESTROY`), files
//! written for another OS.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use tcpconform_model::profile::Os;
use tcpconform_model::{CallOption, Family, How, Op, Port, Profile, SockId, SockOpt, TcpState};

use crate::scenario::{RowPattern, Scenario};

mod c;
mod python;

/// The largest `send`/`recv` buffer, as the executor's (`executor::MAX_IO_LEN`).
const MAX_IO_LEN: u32 = 64 << 20;

/// A `sh` script that sets `quickack` on `lo`'s local and connected routes, as the sandbox
/// does (`Rtnl::quickack_routes`): a FIN is acknowledged at once, so the table after a
/// `close()` does not depend on a delayed ACK. IPv4 routes are replaced in place; an IPv6 one
/// is deleted and added again (a replacement would sit beside it).
pub(crate) const QUICKACK_SCRIPT: &str = "\
set -e
ip -4 route show table local type local | while read -r r; do
  ip -4 route replace table local $r quickack 1
done
for t in local main; do
  ip -6 route show table $t |
    grep -v -e '^fe80::/64' -e ' via ' -e '^multicast' -e '^anycast' -e '^broadcast' |
    while read -r r; do
      r=$(echo \"$r\" | sed -e 's/ metric [0-9]*//' -e 's/ pref [a-z]*//')
      ip -6 route del table $t $r
      ip -6 route add table $t $r quickack 1
    done
done
";

/// The language of an exported program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// One C99 file: POSIX and Linux headers, no extra libraries.
    C,
    /// One Python 3 file: the standard library only (3.11 and later).
    Python,
}

/// Why a scenario cannot be exported: a program could not do what it asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The line of the step that cannot be exported (0: the scenario as a whole).
    pub line: usize,
    /// What cannot be done, and why.
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "cannot export: {}", self.reason),
            n => write!(f, "line {n}: cannot export: {}", self.reason),
        }
    }
}

impl std::error::Error for Refusal {}

/// The program for `scenario` in `language`. `text` is the file's text, carried as a comment
/// at the top of the program (`None`: the scenario's printed form).
pub fn export(
    scenario: &Scenario,
    text: Option<&str>,
    language: Language,
) -> Result<String, Refusal> {
    let plan = Plan::of(scenario, text)?;
    Ok(match language {
        Language::C => c::render(&plan),
        Language::Python => python::render(&plan),
    })
}

/// Whether `scenario` can be exported: `Err` says why not.
pub fn exportable(scenario: &Scenario) -> Result<(), Refusal> {
    Plan::of(scenario, None).map(|_| ())
}

/// Why a step uses a part of the format that only the harness checks, if it does.
fn harness_only(step: &crate::scenario::Step) -> Option<String> {
    if let Some(a) = step.asserts.first() {
        return Some(format!(
            "the port assertion `? {a}` is checked by the harness only; exported programs \
             do not compare ports"
        ));
    }
    if let Some(pattern) = step.expect.iter().flatten().find(|e| e.exact().is_none()) {
        return Some(format!(
            "the expected result `{pattern}` is a pattern the harness matches; exported \
             programs compare exact results"
        ));
    }
    if let Some(ms) = step.table_within_ms {
        return Some(format!(
            "the table waited for (`| within {}`) is read again by the harness only; \
             exported programs read each table once",
            tcpconform_model::time::show_ms(ms)
        ));
    }
    if let Some(unlisted) = &step.unlisted {
        return Some(format!(
            "the partial table (`| {unlisted}`) is matched by the harness only; exported \
             programs compare whole tables"
        ));
    }
    None
}

/// A port in a call or a row: a number, or a port variable (by index into [`Plan::vars`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PortRef {
    Lit(u16),
    Var(usize),
}

/// A socket option as the program sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IntOption {
    /// The C level and name (`SOL_SOCKET`, `SO_REUSEADDR`), or a number with a comment for
    /// another system's option.
    pub c_level: &'static str,
    pub c_name: &'static str,
    /// The same for Python (`socket.SOL_SOCKET`, …).
    pub py_level: &'static str,
    pub py_name: &'static str,
    /// The `int` passed.
    pub value: i32,
}

/// One call, lowered to what the program does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Socket {
        sock: usize,
        family: Family,
        nonblocking: bool,
        uid: u32,
    },
    SetInt {
        sock: usize,
        opt: IntOption,
    },
    Linger {
        sock: usize,
        on: bool,
        secs: i32,
    },
    SoError {
        sock: usize,
    },
    Bind {
        sock: usize,
        ip: IpAddr,
        port: PortRef,
    },
    Listen {
        sock: usize,
        backlog: i32,
    },
    Connect {
        sock: usize,
        ip: IpAddr,
        port: PortRef,
        local: Option<usize>,
    },
    Accept {
        listener: usize,
        sock: usize,
        peer: Option<usize>,
    },
    /// `accept(l1|l2|…)`: poll, then accept from the first readable listener.
    AcceptAny {
        listeners: Vec<usize>,
        sock: usize,
        peer: Option<usize>,
    },
    Send {
        sock: usize,
        len: u32,
    },
    Recv {
        sock: usize,
        len: u32,
    },
    Shutdown {
        sock: usize,
        how: How,
    },
    Close {
        sock: usize,
    },
    Sleep {
        ms: u64,
    },
    Sysctl {
        key: String,
        value: String,
    },
}

/// An expected row, as a program compares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PlanRow {
    /// The `ss` name of the state.
    pub state: &'static str,
    pub local: (IpAddr, PortRef),
    /// `None`: `*`.
    pub peer: Option<(IpAddr, PortRef)>,
    /// The row as the file writes it (for comments).
    pub text: String,
}

/// One step of the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PlanStep {
    /// 1-based, as `replay` numbers calls.
    pub index: usize,
    /// The step's line as the file writes it, after its number (`line 12: bind(…) = 0`), for
    /// the comment above its block.
    pub source: String,
    /// The call, as the TAP line names it.
    pub call: String,
    pub action: Action,
    /// The results that pass, as a scenario writes them (`None`: not checked).
    pub expect: Option<Vec<String>>,
    pub table: Option<Vec<PlanRow>>,
    /// Port variables the call needs that only an expected table binds before it: a program
    /// knows them only if a descriptor showed that row.
    pub needs: Vec<usize>,
}

/// What both languages write out: the scenario, checked and lowered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub title: Option<String>,
    /// The file's text (or the scenario printed), for the comment at the top.
    pub text: String,
    /// The scenario's socket names, by index.
    pub socks: Vec<SockId>,
    /// The port variables' names (without `$`), by index.
    pub vars: Vec<String>,
    pub addresses: Vec<IpAddr>,
    /// `@sysctl` settings: dotted key and value as `/proc/sys` takes it.
    pub sysctls: Vec<(String, String)>,
    /// A uid other than root that a socket is created as (needs real root), if any.
    pub other_uid: Option<u32>,
    /// Whether the expected tables list bound, unconnected sockets (`UNCONN`): sock_diag
    /// dumps them since Linux 6.8, and the file's kernel decides.
    pub bound_rows: bool,
    pub steps: Vec<PlanStep>,
}

impl Plan {
    /// Checks that `scenario` can be exported and lowers it.
    pub(crate) fn of(scenario: &Scenario, text: Option<&str>) -> Result<Self, Refusal> {
        let whole = |reason: String| Refusal { line: 0, reason };
        if scenario.hosts >= 2 {
            return Err(whole(
                "`@hosts 2`: the two-host topology (a veth pair between two namespaces) is \
                 the harness's; an exported program has one host"
                    .into(),
            ));
        }
        if let Some(p) = scenario.profile
            && p.os != Os::Linux
        {
            return Err(whole(format!(
                "the file is written for {p}; exported programs are for Linux"
            )));
        }
        let written_for = scenario
            .variants
            .iter()
            .fold(scenario.profile.unwrap_or(Profile::LINUX_6_18), |p, s| {
                p.with_variant(*s)
            });
        let mut plan = Self {
            title: scenario.title.clone(),
            text: text.map_or_else(|| scenario.to_text(), str::to_owned),
            socks: Vec::new(),
            vars: Vec::new(),
            addresses: scenario.addresses.iter().map(|(_, ip)| *ip).collect(),
            sysctls: scenario
                .sysctls
                .iter()
                .map(|(_, s)| (s.key.name().to_owned(), s.value.to_string()))
                .collect(),
            other_uid: None,
            bound_rows: written_for.diag_dumps_bound_sockets(),
            steps: Vec::new(),
        };
        let lines: Vec<&str> = text.map(|t| t.lines().collect()).unwrap_or_default();
        // Variables a call captures before the current step, and those only a table binds.
        let mut by_call: BTreeSet<String> = BTreeSet::new();
        let mut by_table: BTreeSet<String> = BTreeSet::new();
        for (i, step) in scenario.steps.iter().enumerate() {
            let refuse = |reason: String| Refusal {
                line: step.line,
                reason,
            };
            if let Some(why) = harness_only(step) {
                return Err(refuse(why));
            }
            let mut needs = Vec::new();
            let mut need = |plan: &mut Self, port: &Port| {
                if let Port::Var(v) = port
                    && !by_call.contains(&v.0)
                    && by_table.contains(&v.0)
                {
                    let index = plan.var(&v.0);
                    needs.push(index);
                }
            };
            if let Op::Send { len, .. } | Op::Recv { len, .. } = &step.op
                && *len > MAX_IO_LEN
            {
                return Err(refuse(format!(
                    "{}: buffers are limited to {MAX_IO_LEN} bytes, as in the harness",
                    step.op
                )));
            }
            let action = match &step.op {
                Op::Socket {
                    sock,
                    family,
                    nonblocking,
                    euid,
                    host: _,
                } => {
                    let uid = euid.unwrap_or(0);
                    if uid != 0 {
                        plan.other_uid = Some(uid);
                    }
                    Action::Socket {
                        sock: plan.sock(*sock),
                        family: *family,
                        nonblocking: *nonblocking,
                        uid,
                    }
                }
                Op::Setsockopt { sock, opt } => {
                    let sock = plan.sock(*sock);
                    match int_option(*opt) {
                        Some(opt) => Action::SetInt { sock, opt },
                        None => match *opt {
                            SockOpt::Linger(Some(t)) => Action::Linger {
                                sock,
                                on: true,
                                secs: t as i32,
                            },
                            _ => Action::Linger {
                                sock,
                                on: false,
                                secs: 0,
                            },
                        },
                    }
                }
                Op::GetsockoptSoError { sock } => Action::SoError {
                    sock: plan.sock(*sock),
                },
                Op::Bind { sock, addr } => {
                    need(&mut plan, &addr.port);
                    Action::Bind {
                        sock: plan.sock(*sock),
                        ip: addr.ip,
                        port: plan.port(&addr.port),
                    }
                }
                Op::Listen { sock, backlog } => Action::Listen {
                    sock: plan.sock(*sock),
                    // As the executor passes it: a C int.
                    backlog: *backlog as i32,
                },
                Op::Connect { sock, addr, local } => {
                    need(&mut plan, &addr.port);
                    Action::Connect {
                        sock: plan.sock(*sock),
                        ip: addr.ip,
                        port: plan.port(&addr.port),
                        local: local.as_ref().map(|v| plan.var(&v.0)),
                    }
                }
                Op::Accept {
                    listener,
                    sock,
                    peer,
                } => Action::Accept {
                    listener: plan.sock(*listener),
                    sock: plan.sock(*sock),
                    peer: peer.as_ref().map(|v| plan.var(&v.0)),
                },
                Op::AcceptAny {
                    listeners,
                    sock,
                    peer,
                } => Action::AcceptAny {
                    listeners: listeners.iter().map(|l| plan.sock(*l)).collect(),
                    sock: plan.sock(*sock),
                    peer: peer.as_ref().map(|v| plan.var(&v.0)),
                },
                Op::Send { sock, len } => Action::Send {
                    sock: plan.sock(*sock),
                    len: *len,
                },
                Op::Recv { sock, len } => Action::Recv {
                    sock: plan.sock(*sock),
                    len: *len,
                },
                Op::Shutdown { sock, how } => Action::Shutdown {
                    sock: plan.sock(*sock),
                    how: *how,
                },
                Op::Close { sock } => Action::Close {
                    sock: plan.sock(*sock),
                },
                Op::Sleep { ms } => Action::Sleep { ms: *ms },
                Op::Sysctl { host: _, setting } => Action::Sysctl {
                    key: setting.key.name().to_owned(),
                    value: setting.value.to_string(),
                },
                Op::PerCall { option, .. } => {
                    let what = match option {
                        CallOption::Within { .. } => "waited for longer than the usual bound",
                        CallOption::NonBlocking => "made non-blocking for itself",
                    };
                    return Err(refuse(format!(
                        "{}: a call {what} is replayed by the harness only",
                        step.op
                    )));
                }
                Op::PeerVanishes { .. } | Op::PeerReboots { .. } | Op::Destroy { .. } => {
                    return Err(refuse(format!(
                        "{} is a fixture op: the harness does it from outside the case \
                         (nftables rules, SOCK_DESTROY), and a reproducer would need the same \
                         machinery",
                        step.op
                    )));
                }
            };
            // What the call captures, for the steps after it.
            match &step.op {
                Op::Bind { addr, .. } => {
                    if let Port::Var(v) = &addr.port {
                        by_call.insert(v.0.clone());
                    }
                }
                Op::Connect { local: Some(v), .. }
                | Op::Accept { peer: Some(v), .. }
                | Op::AcceptAny { peer: Some(v), .. } => {
                    by_call.insert(v.0.clone());
                }
                _ => {}
            }
            let table = step.table.as_ref().map(|rows| {
                rows.iter()
                    .map(|r| {
                        for a in std::iter::once(&r.local).chain(r.peer.as_ref()) {
                            if let Port::Var(v) = &a.port {
                                by_table.insert(v.0.clone());
                            }
                        }
                        plan.row(r)
                    })
                    .collect()
            });
            let written = match &step.expect {
                Some(e) => format!("{} = {}", step.op, outcomes_text(e)),
                None => step.op.to_string(),
            };
            let source = match lines.get(step.line.wrapping_sub(1)).map(|l| l.trim()) {
                Some(l) if !l.is_empty() => format!("line {}: {l}", step.line),
                _ => written,
            };
            plan.steps.push(PlanStep {
                index: i + 1,
                source,
                call: step.op.to_string(),
                action,
                expect: step
                    .expect
                    .as_ref()
                    .map(|e| e.iter().map(|o| o.to_string()).collect()),
                table,
                needs,
            });
        }
        Ok(plan)
    }

    fn sock(&mut self, sock: SockId) -> usize {
        match self.socks.iter().position(|s| *s == sock) {
            Some(i) => i,
            None => {
                self.socks.push(sock);
                self.socks.len() - 1
            }
        }
    }

    fn var(&mut self, name: &str) -> usize {
        match self.vars.iter().position(|v| v == name) {
            Some(i) => i,
            None => {
                self.vars.push(name.to_owned());
                self.vars.len() - 1
            }
        }
    }

    fn port(&mut self, port: &Port) -> PortRef {
        match port {
            Port::Lit(p) => PortRef::Lit(*p),
            Port::Var(v) => PortRef::Var(self.var(&v.0)),
        }
    }

    fn row(&mut self, r: &RowPattern) -> PlanRow {
        PlanRow {
            state: r.state.ss_name(),
            local: (r.local.ip, self.port(&r.local.port)),
            peer: r.peer.as_ref().map(|p| (p.ip, self.port(&p.port))),
            text: r.to_string(),
        }
    }
}

/// Outcomes as a scenario writes them after `=`, separated by `|`.
fn outcomes_text(outcomes: &[crate::scenario::Expected]) -> String {
    outcomes
        .iter()
        .map(|o| o.to_string())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The integer options, as the Linux executor passes them (`executor::linux::int_option`);
/// `None` for `SO_LINGER`.
fn int_option(opt: SockOpt) -> Option<IntOption> {
    let b = i32::from;
    // Unsigned values go in as the C `int` the kernel reads (above i32::MAX: negative).
    let u = |v: u32| v as i32;
    let (c_level, c_name, py_level, py_name, value) = match opt {
        SockOpt::ReuseAddr(v) => (
            "SOL_SOCKET",
            "SO_REUSEADDR",
            "socket.SOL_SOCKET",
            "socket.SO_REUSEADDR",
            b(v),
        ),
        SockOpt::ReusePort(v) => (
            "SOL_SOCKET",
            "SO_REUSEPORT",
            "socket.SOL_SOCKET",
            "socket.SO_REUSEPORT",
            b(v),
        ),
        SockOpt::KeepAlive(v) => (
            "SOL_SOCKET",
            "SO_KEEPALIVE",
            "socket.SOL_SOCKET",
            "socket.SO_KEEPALIVE",
            b(v),
        ),
        SockOpt::V6Only(v) => (
            "IPPROTO_IPV6",
            "IPV6_V6ONLY",
            "socket.IPPROTO_IPV6",
            "socket.IPV6_V6ONLY",
            b(v),
        ),
        SockOpt::BindAddressNoPort(v) => (
            "IPPROTO_IP",
            "IP_BIND_ADDRESS_NO_PORT",
            "socket.IPPROTO_IP",
            "IP_BIND_ADDRESS_NO_PORT",
            b(v),
        ),
        SockOpt::KeepIdle(v) => (
            "IPPROTO_TCP",
            "TCP_KEEPIDLE",
            "socket.IPPROTO_TCP",
            "socket.TCP_KEEPIDLE",
            u(v),
        ),
        SockOpt::KeepIntvl(v) => (
            "IPPROTO_TCP",
            "TCP_KEEPINTVL",
            "socket.IPPROTO_TCP",
            "socket.TCP_KEEPINTVL",
            u(v),
        ),
        SockOpt::KeepCnt(v) => (
            "IPPROTO_TCP",
            "TCP_KEEPCNT",
            "socket.IPPROTO_TCP",
            "socket.TCP_KEEPCNT",
            u(v),
        ),
        SockOpt::UserTimeout(v) => (
            "IPPROTO_TCP",
            "TCP_USER_TIMEOUT",
            "socket.IPPROTO_TCP",
            "socket.TCP_USER_TIMEOUT",
            u(v),
        ),
        SockOpt::Linger2(v) => (
            "IPPROTO_TCP",
            "TCP_LINGER2",
            "socket.IPPROTO_TCP",
            "socket.TCP_LINGER2",
            v,
        ),
        // Other systems' options by their own numbers: Linux answers ENOPROTOOPT.
        SockOpt::ReusePortLb(v) => (
            "SOL_SOCKET",
            "0x10000 /* FreeBSD's SO_REUSEPORT_LB */",
            "socket.SOL_SOCKET",
            "0x10000  # FreeBSD's SO_REUSEPORT_LB",
            b(v),
        ),
        SockOpt::ExclusiveAddrUse(v) => (
            "SOL_SOCKET",
            "~4 /* Windows' SO_EXCLUSIVEADDRUSE */",
            "socket.SOL_SOCKET",
            "~4  # Windows' SO_EXCLUSIVEADDRUSE",
            b(v),
        ),
        SockOpt::Linger(_) => return None,
    };
    Some(IntOption {
        c_level,
        c_name,
        py_level,
        py_name,
        value,
    })
}

/// The `ss` state names a program maps `tcpi_state` to, by Linux state number (1..=11).
pub(crate) fn state_names() -> Vec<(u8, &'static str)> {
    TcpState::ALL
        .iter()
        .map(|s| (s.linux_number(), s.ss_name()))
        .collect()
}

/// The errno names a program prints (every name the model knows), for the Linux numbers the
/// program's headers give them.
pub(crate) fn errno_names() -> Vec<String> {
    tcpconform_model::Errno::NAMED
        .iter()
        .map(|e| e.name().into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;

    fn plan(text: &str) -> Result<Plan, Refusal> {
        let sc = parse(text, None).expect("the test scenario parses");
        Plan::of(&sc, Some(text))
    }

    #[test]
    fn two_hosts_are_refused() {
        let r = plan("@hosts 2\ns0 = socket(inet, host=b) = 0\n").unwrap_err();
        assert!(r.reason.contains("@hosts 2"), "{r}");
    }

    #[test]
    fn fixture_ops_are_refused_with_their_line() {
        let text = "s0 = socket(inet) = 0\nbind(s0, 127.0.0.1:5000) = 0\ndestroy(s0) = 0\n";
        let r = plan(text).unwrap_err();
        assert_eq!(r.line, 3);
        assert!(r.reason.contains("destroy(s0)"), "{r}");
        let text = "s0 = socket(inet) = 0\npeer_vanishes(s0) = -1 EINVAL\n";
        assert!(plan(text).unwrap_err().reason.contains("fixture"));
    }

    #[test]
    fn other_systems_files_are_refused() {
        let r = plan("@profile freebsd-14\ns0 = socket(inet) = 0\n").unwrap_err();
        assert!(r.reason.contains("freebsd-14"), "{r}");
    }

    #[test]
    fn variables_taken_from_a_table_only_are_marked() {
        let text = "s0 = socket(inet) = 0\nbind(s0, 127.0.0.1:0) = 0\n    | UNCONN 127.0.0.1:$P *\n\
                    s1 = socket(inet) = 0\nbind(s1, 127.0.0.1:$P) = -1 EADDRINUSE\n";
        let p = plan(text).unwrap();
        assert_eq!(p.vars, vec!["P".to_owned()]);
        assert_eq!(p.steps[3].needs, vec![0]);
        assert!(p.steps.iter().take(3).all(|s| s.needs.is_empty()));
    }

    #[test]
    fn steps_keep_their_source_line_and_expectations() {
        let text =
            "# c\ns0 = socket(inet)   = 0\nbind(s0, 127.0.0.1:$E) = 0 | -1 EADDRINUSE  # x\n";
        let p = plan(text).unwrap();
        assert_eq!(
            p.steps[1].source,
            "line 3: bind(s0, 127.0.0.1:$E) = 0 | -1 EADDRINUSE  # x"
        );
        assert_eq!(
            p.steps[1].expect,
            Some(vec!["0".to_owned(), "-1 EADDRINUSE".to_owned()])
        );
        assert_eq!(p.steps[1].call, "bind(s0, 127.0.0.1:$E)");
        assert!(p.bound_rows);
    }
}
