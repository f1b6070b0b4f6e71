//! The bind-conflict matrix, in the spirit of Linux's
//! `tools/testing/selftests/net/bind_wildcard.c` and `reuseaddr_ports_exhausted.c`: two sockets
//! bind the same port, for every ordered pair of addresses from
//! {0.0.0.0, 127.0.0.1, 127.0.0.2, [::], [::] v6only, [::1], [::ffff:0.0.0.0],
//! [::ffff:127.0.0.1]} × options {none, SO_REUSEADDR on both, SO_REUSEPORT on both, SO_REUSEADDR
//! only on the second, SO_REUSEPORT on both but the first socket created by another uid} × {the
//! first socket listening, or only bound}: 640 cases.
//!
//! Each case checks the second `bind()`; when it succeeds, `listen()` on the second socket; and
//! when the first socket was only bound, `listen()` on the first one afterwards (the re-check of
//! `inet_csk_listen_start()`). The TIME-WAIT variant replaces the first socket by the TIME-WAIT
//! its accepted connection leaves after an active close (the listener closed too), for nine
//! ways of reaching a listener on those addresses, × the eight second addresses × every
//! combination of {none, SO_REUSEADDR, SO_REUSEPORT} on the old and the new socket, and
//! SO_REUSEPORT on both with the old socket created by another uid: 720 cases.
//!
//! The port-0 matrix follows `reuseaddr_ports_exhausted.c`: with a one-port
//! `ip_local_port_range` held by a first socket, a second `bind(:0)` for every combination of
//! SO_REUSEADDR/SO_REUSEPORT, listening, uid, overlapping address and `ip_autobind_reuse`.
//!
//! The expected results come from an independent table written from
//! `/work/shared/research/kernel-rules.md` (§1 C1 overlap, C3 reuse exemptions, C4 listen
//! re-check, C7 TIME-WAIT; §2.1), not from the model. Every case runs on the model, which must
//! give the table's results, and on the running kernel, each in its own namespace with the model
//! in lock-step, which must agree with the model on every call and socket table.

use std::fmt::Write as _;
use std::time::Instant;

use tcpconform_harness::replay::{self, ScenarioReport};
use tcpconform_harness::scenario::{self, Scenario};
use tcpconform_harness::{kernel, sandbox};
use tcpconform_model::{Errno, Outcome, Profile};

// ---- the expected results: kernel-rules.md, independently of the model ---------------------

/// The address classes of kernel-rules.md §1 C1, and one more (see [`Class::NativeDual`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// AF_INET `0.0.0.0`.
    V4Any,
    /// AF_INET `127.0.0.N`.
    V4(u8),
    /// AF_INET6 `::`, dual-stack.
    DualAny,
    /// AF_INET6 `::` with IPV6_V6ONLY.
    V6OnlyAny,
    /// AF_INET6 `::ffff:0.0.0.0`.
    MappedAny,
    /// AF_INET6 `::ffff:127.0.0.N`.
    Mapped(u8),
    /// AF_INET6 `::1` bound by `bind()`, which makes it v6-only (§1 A5).
    Native,
    /// `::1` on a connection accepted by a dual-stack `[::]` listener: it is not v6-only (it
    /// never went through `__inet6_bind()`; `sk_clone_lock()` copies the listener's flag), and
    /// its IPv4 view is `LOOPBACK4_IPV6` (127.0.0.6, `tcp_v6_syn_recv_sock()`), which an AF_INET
    /// wildcard overlaps (`ipv4_rcv_saddr_equal()`: the wildcard side matches anything of a
    /// socket that is not v6-only). Only TIME-WAITs have it here.
    NativeDual,
}

/// §1 C1: whether two bindings of one port overlap (the table is symmetric). `=` rows of the
/// table ("iff same a") compare the IPv4 address.
fn overlap(a: Class, b: Class) -> bool {
    use Class::*;
    let v4 = |c: Class| match c {
        V4(n) | Mapped(n) => Some(n),
        _ => None,
    };
    match (a, b) {
        (NativeDual, x) | (x, NativeDual) => matches!(x, V4Any | DualAny | V6OnlyAny | Native),
        (DualAny, _) | (_, DualAny) => true,
        (V6OnlyAny, x) | (x, V6OnlyAny) => matches!(x, V6OnlyAny | Native),
        (Native, x) | (x, Native) => x == Native,
        (V4Any | MappedAny, _) | (_, V4Any | MappedAny) => true,
        _ => v4(a) == v4(b),
    }
}

/// SO_REUSEADDR and SO_REUSEPORT on one socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Flags {
    ra: bool,
    rp: bool,
}

const PLAIN: Flags = Flags {
    ra: false,
    rp: false,
};
const RA: Flags = Flags {
    ra: true,
    rp: false,
};
const RP: Flags = Flags {
    ra: false,
    rp: true,
};

/// The options of a case: the first socket's and the second's flags, and whether the first
/// socket was created by another user (uid 65534; the second is always root's).
struct Options {
    name: String,
    first: Flags,
    second: Flags,
    first_other_uid: bool,
}

impl Options {
    fn new(name: &str, first: Flags, second: Flags) -> Self {
        Self {
            name: name.to_owned(),
            first,
            second,
            first_other_uid: false,
        }
    }

    fn other_uid(self) -> Self {
        Self {
            first_other_uid: true,
            ..self
        }
    }
}

/// §1 C3 and C7: whether a new socket with `new` flags may share a port with an overlapping
/// owner with `old` flags: SO_REUSEADDR on both and the owner not listening, or SO_REUSEPORT on
/// both and the same creator uid — which a TIME-WAIT does not check.
fn shares(old: Flags, old_listening: bool, new: Flags, same_uid_or_tw: bool) -> bool {
    let reuseaddr = old.ra && new.ra && !old_listening;
    let reuseport = old.rp && new.rp && same_uid_or_tw;
    reuseaddr || reuseport
}

const RA_RP: Flags = Flags { ra: true, rp: true };

const OK: Outcome = Outcome::Ok;
const IN_USE: Outcome = Outcome::Err(Errno::EADDRINUSE);

fn result(conflict: bool) -> Outcome {
    if conflict { IN_USE } else { OK }
}

// ---- the cases -----------------------------------------------------------------------------

/// An address of the matrix, with the socket that binds it.
struct Addr {
    /// How tables show it.
    name: &'static str,
    /// The family for `socket()`.
    family: &'static str,
    /// Set IPV6_V6ONLY before `bind()`.
    v6only: bool,
    /// The address as `bind()` takes it.
    ip: &'static str,
    class: Class,
}

const ADDRS: [Addr; 8] = [
    Addr {
        name: "0.0.0.0",
        family: "inet",
        v6only: false,
        ip: "0.0.0.0",
        class: Class::V4Any,
    },
    Addr {
        name: "127.0.0.1",
        family: "inet",
        v6only: false,
        ip: "127.0.0.1",
        class: Class::V4(1),
    },
    Addr {
        name: "127.0.0.2",
        family: "inet",
        v6only: false,
        ip: "127.0.0.2",
        class: Class::V4(2),
    },
    Addr {
        name: "[::]",
        family: "inet6",
        v6only: false,
        ip: "[::]",
        class: Class::DualAny,
    },
    Addr {
        name: "[::]v6only",
        family: "inet6",
        v6only: true,
        ip: "[::]",
        class: Class::V6OnlyAny,
    },
    Addr {
        name: "[::1]",
        family: "inet6",
        v6only: false,
        ip: "[::1]",
        class: Class::Native,
    },
    Addr {
        name: "[::ffff:0.0.0.0]",
        family: "inet6",
        v6only: false,
        ip: "[::ffff:0.0.0.0]",
        class: Class::MappedAny,
    },
    Addr {
        name: "[::ffff:127.0.0.1]",
        family: "inet6",
        v6only: false,
        ip: "[::ffff:127.0.0.1]",
        class: Class::Mapped(1),
    },
];

/// The matrix's options: none, SO_REUSEADDR on both, SO_REUSEPORT on both, SO_REUSEADDR only on
/// the second; and SO_REUSEPORT on both with the first socket created by another user
/// (kernel-rules.md §2.1, "S RP (other uid)").
fn options() -> Vec<Options> {
    vec![
        Options::new("no options", PLAIN, PLAIN),
        Options::new("SO_REUSEADDR on both", RA, RA),
        Options::new("SO_REUSEPORT on both", RP, RP),
        Options::new("SO_REUSEADDR on the second only", PLAIN, RA),
        Options::new("SO_REUSEPORT on both, first by uid 65534", RP, RP).other_uid(),
    ]
}

/// The TIME-WAIT variant's options: every combination of {none, SO_REUSEADDR, SO_REUSEPORT} on
/// the TIME-WAIT's socket and on the new one (the four of the matrix among them), and
/// SO_REUSEPORT on both with the TIME-WAIT's socket created by another user (§2.1, the last
/// rows).
fn timewait_options() -> Vec<Options> {
    let flags = [("none", PLAIN), ("SO_REUSEADDR", RA), ("SO_REUSEPORT", RP)];
    let mut v = Vec::new();
    for (n1, f1) in flags {
        for (n2, f2) in flags {
            v.push(Options::new(
                &format!("{n1} on the TIME-WAIT's socket, {n2} on the new one"),
                f1,
                f2,
            ));
        }
    }
    v.push(
        Options::new(
            "SO_REUSEPORT on both, TIME-WAIT's socket by uid 65534",
            RP,
            RP,
        )
        .other_uid(),
    );
    v
}

/// A listener whose accepted connection leaves the TIME-WAIT: where it listens, where the client
/// connects, and the TIME-WAIT's row and class.
struct TwServer {
    /// How tables show it.
    name: &'static str,
    listen: usize,
    client_family: &'static str,
    dest: &'static str,
    /// The TIME-WAIT row (`$C` is the client's port).
    row: &'static str,
    class: Class,
}

const TW_SERVERS: [TwServer; 9] = [
    TwServer {
        name: "0.0.0.0>127.0.0.1",
        listen: 0,
        client_family: "inet",
        dest: "127.0.0.1",
        row: "TIME-WAIT 127.0.0.1:8080 127.0.0.1:$C",
        class: Class::V4(1),
    },
    TwServer {
        name: "127.0.0.1",
        listen: 1,
        client_family: "inet",
        dest: "127.0.0.1",
        row: "TIME-WAIT 127.0.0.1:8080 127.0.0.1:$C",
        class: Class::V4(1),
    },
    TwServer {
        name: "127.0.0.2",
        listen: 2,
        client_family: "inet",
        dest: "127.0.0.2",
        row: "TIME-WAIT 127.0.0.2:8080 127.0.0.1:$C",
        class: Class::V4(2),
    },
    TwServer {
        name: "[::]>127.0.0.1",
        listen: 3,
        client_family: "inet",
        dest: "127.0.0.1",
        row: "TIME-WAIT [::ffff:127.0.0.1]:8080 [::ffff:127.0.0.1]:$C",
        class: Class::Mapped(1),
    },
    TwServer {
        name: "[::]>[::1]",
        listen: 3,
        client_family: "inet6",
        dest: "[::1]",
        row: "TIME-WAIT [::1]:8080 [::1]:$C",
        class: Class::NativeDual,
    },
    TwServer {
        name: "[::]v6only>[::1]",
        listen: 4,
        client_family: "inet6",
        dest: "[::1]",
        row: "TIME-WAIT [::1]:8080 [::1]:$C",
        class: Class::Native,
    },
    TwServer {
        name: "[::1]",
        listen: 5,
        client_family: "inet6",
        dest: "[::1]",
        row: "TIME-WAIT [::1]:8080 [::1]:$C",
        class: Class::Native,
    },
    TwServer {
        name: "[::ffff:0.0.0.0]>127.0.0.1",
        listen: 6,
        client_family: "inet",
        dest: "127.0.0.1",
        row: "TIME-WAIT [::ffff:127.0.0.1]:8080 [::ffff:127.0.0.1]:$C",
        class: Class::Mapped(1),
    },
    TwServer {
        name: "[::ffff:127.0.0.1]",
        listen: 7,
        client_family: "inet",
        dest: "127.0.0.1",
        row: "TIME-WAIT [::ffff:127.0.0.1]:8080 [::ffff:127.0.0.1]:$C",
        class: Class::Mapped(1),
    },
];

/// One case: a scenario, and the calls it probes with their expected results.
struct Case {
    /// The grid it is printed in.
    grid: String,
    /// Its row and column in the grid.
    row: String,
    col: String,
    text: String,
    /// (0-based step index, expected result).
    probes: Vec<(usize, Outcome)>,
}

/// Builds a scenario line by line, noting the steps to probe.
struct Builder {
    text: String,
    steps: usize,
    probes: Vec<(usize, Outcome)>,
}

impl Builder {
    fn new() -> Self {
        Self {
            text: String::new(),
            steps: 0,
            probes: Vec::new(),
        }
    }

    /// A setup call that must return 0.
    fn setup(&mut self, call: &str) {
        let _ = writeln!(self.text, "{call} = 0");
        self.steps += 1;
    }

    /// A table row under the last call.
    fn table(&mut self, row: &str) {
        let _ = writeln!(self.text, "    | {row}");
    }

    /// A call whose result is probed against `want`.
    fn probe(&mut self, call: &str, want: Outcome) {
        let _ = writeln!(self.text, "{call}");
        self.probes.push((self.steps, want));
        self.steps += 1;
    }

    /// `sN = socket(…)` with its options, then (if `addr`) `bind()` as setup.
    fn socket(&mut self, n: u8, family: &str, v6only: bool, flags: Flags, other_uid: bool) {
        let uid = if other_uid { ", euid=65534" } else { "" };
        self.setup(&format!("s{n} = socket({family}{uid})"));
        if v6only {
            self.setup(&format!("setsockopt(s{n}, IPV6_V6ONLY, 1)"));
        }
        if flags.ra {
            self.setup(&format!("setsockopt(s{n}, SO_REUSEADDR, 1)"));
        }
        if flags.rp {
            self.setup(&format!("setsockopt(s{n}, SO_REUSEPORT, 1)"));
        }
    }

    /// The second socket: its `bind()` and, when that succeeds, its `listen()`. Returns whether
    /// the bind is expected to succeed.
    fn second(&mut self, addr: &Addr, flags: Flags, conflict: bool) -> bool {
        self.socket(9, addr.family, addr.v6only, flags, false);
        self.probe(&format!("bind(s9, {}:8080)", addr.ip), result(conflict));
        if !conflict {
            // §1 C4: listen() re-checks as a listener; the owner is the same, and the new
            // socket's own state plays no part in inet_bind_conflict().
            self.probe("listen(s9)", OK);
        }
        !conflict
    }

    fn case(self, grid: String, row: &str, col: &str) -> Case {
        Case {
            grid,
            row: row.to_owned(),
            col: col.to_owned(),
            text: self.text,
            probes: self.probes,
        }
    }
}

/// The matrix: 8 × 8 address pairs × 4 options × first listening or not.
fn matrix() -> Vec<Case> {
    let mut cases = Vec::new();
    for opts in &options() {
        for first_listens in [true, false] {
            let grid = format!(
                "{}, first socket {}",
                opts.name,
                if first_listens { "listening" } else { "bound" }
            );
            for a in &ADDRS {
                for b in &ADDRS {
                    let mut sc = Builder::new();
                    sc.socket(0, a.family, a.v6only, opts.first, opts.first_other_uid);
                    sc.setup(&format!("bind(s0, {}:8080)", a.ip));
                    if first_listens {
                        sc.setup("listen(s0)");
                    }
                    let ov = overlap(a.class, b.class);
                    let same_uid = !opts.first_other_uid;
                    let conflict = ov && !shares(opts.first, first_listens, opts.second, same_uid);
                    let bound = sc.second(b, opts.second, conflict);
                    if bound && !first_listens {
                        // The first socket now meets a listener: SO_REUSEADDR no longer helps.
                        let conflict = ov && !shares(opts.second, true, opts.first, same_uid);
                        sc.probe("listen(s0)", result(conflict));
                    }
                    cases.push(sc.case(grid.clone(), a.name, b.name));
                }
            }
        }
    }
    cases
}

/// The TIME-WAIT variant: 9 ways to leave a TIME-WAIT × 8 addresses × 10 options.
fn timewait_matrix() -> Vec<Case> {
    let mut cases = Vec::new();
    for opts in &timewait_options() {
        let grid = format!("TIME-WAIT, {}", opts.name);
        for srv in &TW_SERVERS {
            let a = &ADDRS[srv.listen];
            for b in &ADDRS {
                let mut sc = Builder::new();
                sc.socket(0, a.family, a.v6only, opts.first, opts.first_other_uid);
                sc.setup(&format!("bind(s0, {}:8080)", a.ip));
                sc.setup("listen(s0)");
                sc.setup(&format!("s1 = socket({})", srv.client_family));
                sc.setup(&format!("connect(s1, {}:8080)", srv.dest));
                sc.setup("s2 = accept(s0)");
                sc.setup("close(s2)"); // the server closes first: the active closer
                sc.setup("close(s1)");
                sc.setup("close(s0)");
                sc.table(srv.row);
                // §1 C7: the TIME-WAIT is an owner with the accepted socket's (the listener's)
                // flags, never listening, and its uid is not checked.
                let conflict =
                    overlap(srv.class, b.class) && !shares(opts.first, false, opts.second, true);
                sc.second(b, opts.second, conflict);
                cases.push(sc.case(grid.clone(), srv.name, b.name));
            }
        }
    }
    cases
}

/// The port-0 matrix, after `reuseaddr_ports_exhausted.c`: `ip_local_port_range` is one port,
/// the first socket takes it with `bind(:0)` (on 127.0.0.1, 0.0.0.0, 127.0.0.2 or `[::]`
/// v6only), and a second socket asks `bind(127.0.0.1:0)` for one: × {none, SO_REUSEADDR,
/// SO_REUSEPORT, both} on each × first listening or bound × first socket's uid the same or
/// 65534 × `ip_autobind_reuse` 0 or 1: 512 cases.
fn exhausted_matrix() -> Vec<Case> {
    let flags = [("-", PLAIN), ("RA", RA), ("RP", RP), ("RA+RP", RA_RP)];
    let mut cases = Vec::new();
    for autobind_reuse in [false, true] {
        for first in [&ADDRS[1], &ADDRS[0], &ADDRS[2], &ADDRS[4]] {
            let grid = format!(
                "ports exhausted, ip_autobind_reuse={}, first socket on {}, second on 127.0.0.1",
                u8::from(autobind_reuse),
                first.name
            );
            for (n1, f1) in flags {
                for listens in [false, true] {
                    for other_uid in [false, true] {
                        let row = format!(
                            "{n1}{}{}",
                            if listens { " listening" } else { "" },
                            if other_uid { " uid 65534" } else { "" }
                        );
                        for (n2, f2) in flags {
                            let mut sc = Builder::new();
                            sc.text
                                .push_str("@sysctl net.ipv4.ip_local_port_range=40000 40000\n");
                            if autobind_reuse {
                                sc.text.push_str("@sysctl net.ipv4.ip_autobind_reuse=1\n");
                            }
                            sc.socket(0, first.family, first.v6only, f1, other_uid);
                            sc.setup(&format!("bind(s0, {}:$P)", first.ip));
                            if listens {
                                sc.setup("listen(s0)");
                            }
                            // §1 P3 (and the selftest's rules 1-6): the only port is taken
                            // unless nobody overlapping holds it, or, with ip_autobind_reuse,
                            // both have SO_REUSEADDR, the owner is not listening, and they do
                            // not also share SO_REUSEPORT and a uid.
                            let ov = overlap(first.class, Class::V4(1));
                            let same_uid = !other_uid;
                            let relaxed = autobind_reuse
                                && f1.ra
                                && f2.ra
                                && !listens
                                && !(f1.rp && f2.rp && same_uid);
                            let conflict = ov && !relaxed;
                            sc.socket(9, "inet", false, f2, false);
                            sc.probe("bind(s9, 127.0.0.1:$Q)", result(conflict));
                            if !conflict {
                                sc.probe("listen(s9)", OK);
                                if !listens {
                                    let conflict = ov && !shares(f2, true, f1, same_uid);
                                    sc.probe("listen(s0)", result(conflict));
                                }
                            }
                            cases.push(sc.case(grid.clone(), &row, n2));
                        }
                    }
                }
            }
        }
    }
    cases
}

// ---- running and reporting -----------------------------------------------------------------

fn parse(case: &Case) -> Scenario {
    scenario::parse(&case.text, None)
        .unwrap_or_else(|e| panic!("generated scenario does not parse: {e}\n{}", case.text))
}

/// What one case found: its probed results and what went wrong.
struct Found {
    got: Vec<Outcome>,
    problem: Option<String>,
}

fn examine(case: &Case, report: &ScenarioReport) -> Found {
    let got: Vec<Outcome> = case
        .probes
        .iter()
        .map(|(i, _)| {
            report
                .run
                .steps
                .get(*i)
                .map_or(Outcome::Blocks, |s| s.observed.outcome)
        })
        .collect();
    let want: Vec<Outcome> = case.probes.iter().map(|(_, w)| *w).collect();
    let mut problems = Vec::new();
    if got != want {
        let show = |v: &[Outcome]| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        problems.push(format!(
            "probed calls returned [{}], the table says [{}]",
            show(&got),
            show(&want)
        ));
    }
    if !report.passed() {
        problems.push(report.render(&format!("{} / {} / {}", case.grid, case.row, case.col)));
    }
    Found {
        got,
        problem: (!problems.is_empty()).then(|| problems.join("\n")),
    }
}

/// A cell: one character per probed call (`0` success, `x` EADDRINUSE, `?` anything else),
/// `*` when the case failed.
fn cell(found: &Found) -> String {
    let mut s: String = found
        .got
        .iter()
        .map(|o| match o {
            Outcome::Ok => '0',
            o if *o == IN_USE => 'x',
            _ => '?',
        })
        .collect();
    if found.problem.is_some() {
        s.push('*');
    }
    s
}

/// The distinct values of `f` over `items`, in order of first appearance.
fn distinct<'a, T>(items: impl Iterator<Item = &'a T>, f: impl Fn(&'a T) -> &'a str) -> Vec<&'a str>
where
    T: 'a,
{
    let mut v: Vec<&str> = Vec::new();
    for x in items {
        let k = f(x);
        if !v.contains(&k) {
            v.push(k);
        }
    }
    v
}

/// Prints each grid: rows are the first socket (or TIME-WAIT), columns the second one.
fn print_grids(cases: &[Case], found: &[Found]) {
    for g in distinct(cases.iter(), |c| c.grid.as_str()) {
        let idx: Vec<usize> = (0..cases.len()).filter(|i| cases[*i].grid == g).collect();
        let rows = distinct(idx.iter().map(|&i| &cases[i]), |c| c.row.as_str());
        let cols = distinct(idx.iter().map(|&i| &cases[i]), |c| c.col.as_str());
        let width = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        let mut out = format!("\n{g}\n{:>width$}", "");
        for c in &cols {
            let _ = write!(out, " {:>5}", short(c));
        }
        for r in rows {
            let _ = write!(out, "\n{r:>width$}");
            for c in &cols {
                let cell = idx
                    .iter()
                    .find(|&&i| cases[i].row == r && cases[i].col == *c)
                    .map_or_else(String::new, |&i| cell(&found[i]));
                let _ = write!(out, " {cell:>5}");
            }
        }
        println!("{out}");
    }
}

/// A column header that fits five characters.
fn short(name: &str) -> &str {
    match name {
        "0.0.0.0" => "0/0",
        "127.0.0.1" => ".1",
        "127.0.0.2" => ".2",
        "[::]" => "::",
        "[::]v6only" => "::v6",
        "[::1]" => "::1",
        "[::ffff:0.0.0.0]" => "m0/0",
        "[::ffff:127.0.0.1]" => "m.1",
        other => other,
    }
}

/// Runs every case through `run` and checks it; prints the grids and counts, and fails with
/// every failing case.
fn run_all(what: &str, cases: &[Case], run: impl Fn(&Scenario) -> ScenarioReport) {
    let started = Instant::now();
    let found: Vec<Found> = cases.iter().map(|c| examine(c, &run(&parse(c)))).collect();
    let failed: Vec<usize> = (0..cases.len())
        .filter(|i| found[*i].problem.is_some())
        .collect();
    println!(
        "{what}: {} cases, {} passed, {} failed, {:.1}s \
         (cells: second bind, its listen, then the first's listen; 0 = success, x = EADDRINUSE)",
        cases.len(),
        cases.len() - failed.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    print_grids(cases, &found);
    let mut msg = String::new();
    for &i in &failed {
        let c = &cases[i];
        let _ = writeln!(
            msg,
            "\n--- {} / first {} / second {}: {}\n{}",
            c.grid,
            c.row,
            c.col,
            found[i].problem.as_deref().unwrap_or_default(),
            c.text
        );
    }
    assert!(
        failed.is_empty(),
        "{what}: {} of {} cases failed:{msg}",
        failed.len(),
        cases.len()
    );
}

fn on_the_model(sc: &Scenario) -> ScenarioReport {
    replay::predict(sc, Profile::LINUX_6_18)
}

fn on_the_kernel(profile: Profile) -> impl Fn(&Scenario) -> ScenarioReport {
    move |sc| {
        replay::replay(sc, profile).unwrap_or_else(|e| panic!("the harness failed: {e}\n{sc}"))
    }
}

#[test]
fn the_matrix_has_every_ordered_pair_option_and_listen_state() {
    assert_eq!(matrix().len(), 8 * 8 * 5 * 2);
    assert_eq!(timewait_matrix().len(), 9 * 8 * 10);
    assert_eq!(exhausted_matrix().len(), 2 * 4 * 4 * 2 * 2 * 4);
}

#[test]
fn the_overlap_table_is_symmetric_and_pins_the_confirmed_pairs() {
    for a in &ADDRS {
        for b in &ADDRS {
            assert_eq!(
                overlap(a.class, b.class),
                overlap(b.class, a.class),
                "{} {}",
                a.name,
                b.name
            );
        }
    }
    // Pairs kernel-rules.md §1 C1 confirmed on 6.18.44.
    use Class::*;
    for (a, b, want) in [
        (V4Any, V4(1), true),
        (V4(1), V4(2), false),
        (DualAny, V4Any, true),
        (V6OnlyAny, V4Any, false),
        (Native, V4Any, false),
        (Mapped(1), V4(1), true),
        (DualAny, V4(1), true),
        (V6OnlyAny, V4(1), false),
        (V6OnlyAny, V6OnlyAny, true),
        (DualAny, Native, true),
        (MappedAny, V4(1), true),
        (MappedAny, Native, false),
        (V6OnlyAny, Mapped(1), false),
    ] {
        assert_eq!(overlap(a, b), want, "{a:?} {b:?}");
    }
}

#[test]
fn the_bind_matrix_holds_on_the_model() {
    run_all("bind matrix on the model", &matrix(), on_the_model);
}

#[test]
fn the_timewait_bind_matrix_holds_on_the_model() {
    run_all(
        "TIME-WAIT bind matrix on the model",
        &timewait_matrix(),
        on_the_model,
    );
}

#[test]
fn the_bind_matrix_holds_on_the_kernel_and_agrees_with_the_model() {
    if !sandbox::on_os_or_skip(
        "the_bind_matrix_holds_on_the_kernel_and_agrees_with_the_model",
        tcpconform_model::profile::Os::Linux,
        "the matrices' expectations are Linux's",
    ) {
        return;
    }
    if !sandbox::kernel_or_skip("the_bind_matrix_holds_on_the_kernel_and_agrees_with_the_model") {
        return;
    }
    let profile = kernel::running_profile().expect("the running kernel has a version");
    run_all(
        &format!("bind matrix on {profile}"),
        &matrix(),
        on_the_kernel(profile),
    );
}

#[test]
fn the_timewait_bind_matrix_holds_on_the_kernel_and_agrees_with_the_model() {
    if !sandbox::on_os_or_skip(
        "the_timewait_bind_matrix_holds_on_the_kernel_and_agrees_with_the_model",
        tcpconform_model::profile::Os::Linux,
        "the matrices' expectations are Linux's",
    ) {
        return;
    }
    if !sandbox::kernel_or_skip(
        "the_timewait_bind_matrix_holds_on_the_kernel_and_agrees_with_the_model",
    ) {
        return;
    }
    let profile = kernel::running_profile().expect("the running kernel has a version");
    run_all(
        &format!("TIME-WAIT bind matrix on {profile}"),
        &timewait_matrix(),
        on_the_kernel(profile),
    );
}

#[test]
fn the_exhausted_port_matrix_holds_on_the_model() {
    run_all(
        "exhausted-port matrix on the model",
        &exhausted_matrix(),
        on_the_model,
    );
}

#[test]
fn the_exhausted_port_matrix_holds_on_the_kernel_and_agrees_with_the_model() {
    if !sandbox::on_os_or_skip(
        "the_exhausted_port_matrix_holds_on_the_kernel_and_agrees_with_the_model",
        tcpconform_model::profile::Os::Linux,
        "the matrices' expectations are Linux's",
    ) {
        return;
    }
    if !sandbox::kernel_or_skip(
        "the_exhausted_port_matrix_holds_on_the_kernel_and_agrees_with_the_model",
    ) {
        return;
    }
    let profile = kernel::running_profile().expect("the running kernel has a version");
    run_all(
        &format!("exhausted-port matrix on {profile}"),
        &exhausted_matrix(),
        on_the_kernel(profile),
    );
}
