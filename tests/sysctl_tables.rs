//! The important sysctl combinations, pinned in rstest tables (issue 4).
//!
//! One `#[rstest]` function per sysctl (or per behaviour of one); each `#[case]` is a
//! configuration, written as a short scenario in the scenario syntax
//! (`docs/scenario-format.md`) whose **last** call carries the expected result, with the rule
//! that must decide that call (`Decides`) or act in it (`Applies`). Every case runs on the
//! model (`predict`, the model's own first answer to the last call), and, when a network
//! namespace can be had, is replayed on the running kernel with the model in lock-step: no
//! divergence on any call, every table and result the scenario states, the expected result and
//! rule on the last call. Without a namespace the kernel half prints `SKIPPED` (as
//! `tests/rules.rs` does), and fails under `CI=true` / `TCPCONFORM_REQUIRE_KERNEL=1`.
//!
//! What the tables pin, and where each expectation comes from (every one was replayed on
//! Linux 6.18 before it was written down; the kernel is the truth):
//! - `tcp_tw_reuse` 0/1/2 × loopback/two hosts × `tcp_timestamps`: connect()'s autobind takes
//!   over a TIME-WAIT 4-tuple only under 1, or 2 on loopback, and only with timestamps
//!   (`tcp_twsk_unique()`, called from `__inet_hash_connect()` with a `twp`); a socket bound
//!   explicitly to the TIME-WAIT's port takes it over whenever timestamps were seen, whatever
//!   `tcp_tw_reuse` says (`__inet_check_established()` passes no `twp`, so `tcp_twsk_unique()`
//!   skips the sysctl); `tcp_tw_reuse_delay` (6.14+) delays the autobind takeover;
//! - `tcp_max_tw_buckets` 0: the active closer gets no TIME-WAIT minisocket
//!   (`inet_twsk_alloc()` from `tcp_time_wait()`);
//! - `tcp_fin_timeout` times an orphan's FIN-WAIT-2 (`tcp_fin_time()`, `tcp_time_wait()`) and
//!   not TIME-WAIT (`TCP_TIMEWAIT_LEN`, 60 s);
//! - `ip_local_port_range` and `ip_local_reserved_ports`: connect()'s autobind takes even
//!   offsets first and fails with EADDRNOTAVAIL (`__inet_hash_connect()`), bind(:0) takes odd
//!   offsets first and fails with EADDRINUSE (`inet_csk_find_open_port()`), both skip reserved
//!   ports (`inet_is_local_reserved_port()`);
//! - `ip_autobind_reuse`: bind(:0) over an exhausted range shares a port between SO_REUSEADDR
//!   sockets (`inet_csk_find_open_port()`'s relax pass);
//! - `tcp_rfc1337`: an RST ends a TIME-WAIT, or not (`tcp_timewait_state_process()`);
//! - `ip_unprivileged_port_start`: a bind below it needs CAP_NET_BIND_SERVICE
//!   (`inet_port_requires_bind_service()`);
//! - `bindv6only`: whether `[::]` also holds the IPv4 wildcard (`ipv6_only_sock()` in
//!   `inet_bind_conflict()` / `inet_rcv_saddr_equal()`).

use rstest::rstest;
use tcpconform_harness::replay;
use tcpconform_harness::scenario::{self, Scenario};
use tcpconform_harness::{kernel, sandbox};
use tcpconform_model::Profile;
use tcpconform_model::RuleId::{
    BindConflict, BindEphemeralAutobindReuse, BindEphemeralExhausted, BindPortFree,
    BindPrivilegedPort, ConnectAutobind, ConnectAutobindExhausted, ConnectTimeWaitTakeover,
    ConnectTupleInUse, ConnectTwReuse, FinWait2Expires, SleepNothingDue, TcpActiveCloserTimeWait,
    TimeWaitOverflow, TimeWaitRstIgnored, TimeWaitRstKills,
};

use tcpconform_tests::Pin::{self, Applies, Decides};
use tcpconform_tests::{check_last, replay_pinned};

/// Where the client and the server of a case are.
#[derive(Clone, Copy, Debug)]
enum Hosts {
    /// Both on host `a`'s loopback.
    Loopback,
    /// The server on host `b` (10.0.0.2), the client on host `a` (10.0.0.1), over the veth pair.
    Two,
}
use Hosts::{Loopback, Two};

impl Hosts {
    /// The header line, the server's `socket()` option, its address, the client's address, and
    /// the server's row prefix in tables.
    fn parts(
        self,
    ) -> (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ) {
        match self {
            Loopback => ("", "", "127.0.0.1", "127.0.0.1", ""),
            Two => ("@hosts 2", ", host=b", "10.0.0.2", "10.0.0.1", "b: "),
        }
    }
}

/// `@sysctl KEY=VALUE`, or nothing for the namespace's default.
fn sysctl(key: &str, value: Option<&str>) -> String {
    value.map_or_else(String::new, |v| format!("@sysctl {key}={v}"))
}

/// The test's name, from the thread libtest runs it on.
fn test_name() -> String {
    std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("sysctl_tables")
        .to_string()
}

/// Runs a case: `scn` on the model, then on the kernel in lock-step with the model. Its last
/// call must return its one expected result on both, and `pin` must hold for it.
fn pin(scn: &str, pin: Pin) {
    let name = test_name();
    let sc: Scenario = scenario::parse(scn, Some(&name))
        .unwrap_or_else(|e| panic!("{name}: malformed case: {e}\n{scn}"));
    let want = match sc.steps.last().and_then(|s| s.expect.as_deref()) {
        Some([want]) => want
            .exact()
            .unwrap_or_else(|| panic!("{name}: the last call's result must be exact")),
        _ => panic!("{name}: the last call must have exactly one expected result"),
    };

    // The model's own answer to the last call (its first branch), not the branch that happens
    // to give the expected result.
    let mut open = sc.clone();
    if let Some(last) = open.steps.last_mut() {
        last.expect = None;
    }
    let report = replay::predict(&open, Profile::LINUX_6_18);
    let problem = check_last(&report, want, pin, "case");
    assert!(
        problem.is_none() && report.passed(),
        "{name}: on the model: {}\n{}",
        problem.unwrap_or_default(),
        report.render(&name)
    );

    if !sandbox::kernel_or_skip(&name) {
        return;
    }
    let profile = kernel::running_profile().expect("the running kernel has a version");
    if scn.contains("tcp_tw_reuse_delay") && !profile.at_least(6, 14) {
        println!("SKIPPED: {name}: tcp_tw_reuse_delay needs Linux 6.14, this is {profile}");
        return;
    }
    let (problem, report) = replay_pinned(&sc, profile, want, pin, "case", &name)
        .unwrap_or_else(|e| panic!("{name}: the harness could not run it: {e}"));
    assert!(
        problem.is_none() && report.passed(),
        "{name}: on {profile}: {}\n{}",
        problem.unwrap_or_default(),
        report.render(&name)
    );
}

/// connect() without a port, from a one-port range whose only port is held by a TIME-WAIT
/// toward the same server: the autobind may take the TIME-WAIT over only under `tcp_tw_reuse`
/// 1 (or 2, loopback only) and with timestamps (`tcp_twsk_unique()`).
#[rustfmt::skip] // one line per case: the table
#[rstest]
#[case::tw_reuse_0_loopback("0", "1", Loopback, "-1 EADDRNOTAVAIL", Decides(ConnectAutobindExhausted))]
#[case::tw_reuse_1_loopback("1", "1", Loopback, "0", Decides(ConnectTwReuse))]
#[case::tw_reuse_2_loopback("2", "1", Loopback, "0", Decides(ConnectTwReuse))]
#[case::tw_reuse_0_two_hosts("0", "1", Two, "-1 EADDRNOTAVAIL", Decides(ConnectAutobindExhausted))]
#[case::tw_reuse_1_two_hosts("1", "1", Two, "0", Decides(ConnectTwReuse))]
#[case::tw_reuse_2_two_hosts("2", "1", Two, "-1 EADDRNOTAVAIL", Decides(ConnectAutobindExhausted))]
#[case::tw_reuse_1_no_timestamps_loopback("1", "0", Loopback, "-1 EADDRNOTAVAIL", Decides(ConnectAutobindExhausted))]
#[case::tw_reuse_2_no_timestamps_loopback("2", "0", Loopback, "-1 EADDRNOTAVAIL", Decides(ConnectAutobindExhausted))]
#[case::tw_reuse_1_no_timestamps_two_hosts("1", "0", Two, "-1 EADDRNOTAVAIL", Decides(ConnectAutobindExhausted))]
fn tcp_tw_reuse_autobind_over_time_wait(
    #[case] tw_reuse: &str,
    #[case] timestamps: &str,
    #[case] hosts: Hosts,
    #[case] want: &str,
    #[case] rule: Pin,
) {
    let (header, at_b, server, client, b) = hosts.parts();
    pin(
        &format!(
            "
            {header}
            @sysctl net.ipv4.tcp_tw_reuse={tw_reuse}
            @sysctl net.ipv4.tcp_timestamps={timestamps}
            @sysctl net.ipv4.ip_local_port_range=40000 40000
            @sysctl net.ipv4.tcp_tw_reuse_delay=1
            s0 = socket(inet{at_b})                 = 0
            bind(s0, {server}:8080)                 = 0
            listen(s0)                              = 0
            s1 = socket(inet)                       = 0
            connect(s1, {server}:8080)              = 0
            s2 = accept(s0)                         = 0
            close(s1)                               = 0  # the client closes first
            close(s2)                               = 0
            sleep(200ms)                            = 0  # older than tcp_tw_reuse_delay
                | {b}LISTEN {server}:8080 *
                | TIME-WAIT {client}:40000 {server}:8080
            s3 = socket(inet)                       = 0
            connect(s3, {server}:8080)              = {want}
            "
        ),
        rule,
    );
}

/// connect() from a port bound explicitly (SO_REUSEADDR on both) over the 4-tuple of the
/// client's TIME-WAIT: taken over whenever timestamps were seen, under every `tcp_tw_reuse`
/// (`__inet_check_established()` calls `tcp_twsk_unique()` without a `twp`); without
/// timestamps the 4-tuple is in use.
#[rstest]
#[case::timestamps("1", "0", Decides(ConnectTimeWaitTakeover))]
#[case::no_timestamps("0", "-1 EADDRNOTAVAIL", Decides(ConnectTupleInUse))]
fn tcp_tw_reuse_does_not_matter_to_a_bound_port(
    #[values(0, 1, 2)] tw_reuse: u8,
    #[values(Loopback, Two)] hosts: Hosts,
    #[case] timestamps: &str,
    #[case] want: &str,
    #[case] rule: Pin,
) {
    let (header, at_b, server, client, b) = hosts.parts();
    pin(
        &format!(
            "
            {header}
            @sysctl net.ipv4.tcp_tw_reuse={tw_reuse}
            @sysctl net.ipv4.tcp_timestamps={timestamps}
            s0 = socket(inet{at_b})                 = 0
            bind(s0, {server}:8080)                 = 0
            listen(s0)                              = 0
            s1 = socket(inet)                       = 0
            setsockopt(s1, SO_REUSEADDR, 1)         = 0
            bind(s1, {client}:7000)                 = 0
            connect(s1, {server}:8080)              = 0
            s2 = accept(s0)                         = 0
            close(s1)                               = 0  # the client closes first
            close(s2)                               = 0
            sleep(100ms)                            = 0
                | {b}LISTEN {server}:8080 *
                | TIME-WAIT {client}:7000 {server}:8080
            s3 = socket(inet)                       = 0
            setsockopt(s3, SO_REUSEADDR, 1)         = 0
            bind(s3, {client}:7000)                 = 0
            connect(s3, {server}:8080)              = {want}
            "
        ),
        rule,
    );
}

/// `tcp_tw_reuse_delay` (6.14+, default 1000 ms): the autobind takes a TIME-WAIT over only once
/// it is older than that (`tcp_twsk_unique()`).
#[rustfmt::skip] // one line per case: the table
#[rstest]
#[case::default_delay_200ms_old(None, "200ms", "-1 EADDRNOTAVAIL", Decides(ConnectAutobindExhausted))]
#[case::default_delay_1200ms_old(None, "1200ms", "0", Decides(ConnectTwReuse))]
#[case::delay_500_100ms_old(Some("500"), "100ms", "-1 EADDRNOTAVAIL", Decides(ConnectAutobindExhausted))]
#[case::delay_100_300ms_old(Some("100"), "300ms", "0", Decides(ConnectTwReuse))]
fn tcp_tw_reuse_delay(
    #[case] delay: Option<&str>,
    #[case] age: &str,
    #[case] want: &str,
    #[case] rule: Pin,
) {
    let delay = sysctl("net.ipv4.tcp_tw_reuse_delay", delay);
    pin(
        &format!(
            "
            @sysctl net.ipv4.tcp_tw_reuse=1
            @sysctl net.ipv4.ip_local_port_range=40000 40000
            {delay}
            s0 = socket(inet)                       = 0
            bind(s0, 127.0.0.1:8080)                = 0
            listen(s0)                              = 0
            s1 = socket(inet)                       = 0
            connect(s1, 127.0.0.1:8080)             = 0
            s2 = accept(s0)                         = 0
            close(s1)                               = 0
            close(s2)                               = 0
                | LISTEN    127.0.0.1:8080  *
                | TIME-WAIT 127.0.0.1:40000 127.0.0.1:8080
            sleep({age})                            = 0
            s3 = socket(inet)                       = 0
            connect(s3, 127.0.0.1:8080)             = {want}
            "
        ),
        rule,
    );
}

/// `tcp_max_tw_buckets` 0: the active closer (FIN-WAIT-2 with its descriptor open, then the
/// peer's FIN) gets no TIME-WAIT minisocket (`inet_twsk_alloc()` in `tcp_time_wait()`); by
/// default it does. (The default depends on the hash table's size, so it is left unset.)
#[rustfmt::skip] // one line per case: the table
#[rstest]
#[case::zero_no_time_wait(Some("0"), "", Applies(TimeWaitOverflow))]
#[case::default_time_wait(None, "| TIME-WAIT 127.0.0.1:$C 127.0.0.1:8080", Applies(TcpActiveCloserTimeWait))]
fn tcp_max_tw_buckets(#[case] value: Option<&str>, #[case] time_wait: &str, #[case] rule: Pin) {
    let value = sysctl("net.ipv4.tcp_max_tw_buckets", value);
    pin(
        &format!(
            "
            {value}
            s0 = socket(inet)                       = 0
            bind(s0, 127.0.0.1:8080)                = 0
            listen(s0)                              = 0
            s1 = socket(inet)                       = 0
            connect(s1, 127.0.0.1:8080) local $C    = 0
            s2 = accept(s0)                         = 0
            shutdown(s1, SHUT_WR)                   = 0
            close(s2)                               = 0
                | LISTEN 127.0.0.1:8080 *
                {time_wait}
            "
        ),
        rule,
    );
}

/// `tcp_fin_timeout` times an orphaned FIN-WAIT-2 (`tcp_fin_time()`): 1 s, or the default 60 s.
#[rustfmt::skip] // one line per case: the table
#[rstest]
#[case::one_second_gone(Some("1"), "", Decides(FinWait2Expires))]
#[case::default_still_there(None, "| FIN-WAIT-2 127.0.0.1:$C 127.0.0.1:8080", Decides(SleepNothingDue))]
fn tcp_fin_timeout_times_an_orphan_fin_wait2(
    #[case] value: Option<&str>,
    #[case] fin_wait2: &str,
    #[case] rule: Pin,
) {
    let value = sysctl("net.ipv4.tcp_fin_timeout", value);
    pin(
        &format!(
            "
            {value}
            s0 = socket(inet)                       = 0
            bind(s0, 127.0.0.1:8080)                = 0
            listen(s0)                              = 0
            s1 = socket(inet)                       = 0
            connect(s1, 127.0.0.1:8080) local $C    = 0
            s2 = accept(s0)                         = 0
            close(s1)                               = 0  # an orphan in FIN-WAIT-2
            sleep(1500ms)                           = 0
                | LISTEN     127.0.0.1:8080 *
                | CLOSE-WAIT 127.0.0.1:8080 127.0.0.1:$C
                {fin_wait2}
            "
        ),
        rule,
    );
}

/// `tcp_fin_timeout` does not shorten TIME-WAIT (`TCP_TIMEWAIT_LEN`, 60 s, not tunable): the
/// row is there 1.5 s after it began, under 1 s as under the default.
#[rstest]
#[case::one_second(Some("1"))]
#[case::default(None)]
fn tcp_fin_timeout_does_not_shorten_time_wait(#[case] value: Option<&str>) {
    let value = sysctl("net.ipv4.tcp_fin_timeout", value);
    pin(
        &format!(
            "
            {value}
            s0 = socket(inet)                       = 0
            bind(s0, 127.0.0.1:8080)                = 0
            listen(s0)                              = 0
            s1 = socket(inet)                       = 0
            connect(s1, 127.0.0.1:8080) local $C    = 0
            s2 = accept(s0)                         = 0
            close(s1)                               = 0
            close(s2)                               = 0
            sleep(1500ms)                           = 0
                | LISTEN    127.0.0.1:8080 *
                | TIME-WAIT 127.0.0.1:$C   127.0.0.1:8080
            "
        ),
        Decides(SleepNothingDue),
    );
}

/// connect() to one destination from a four-port range: even offsets first
/// (`__inet_hash_connect()`), then the odd ones, then EADDRNOTAVAIL; another destination still
/// has every port. A reserved port is never taken (`inet_is_local_reserved_port()`).
const CONNECT_RANGE: &str = "
    @sysctl net.ipv4.ip_local_port_range=40000 40003
    s0 = socket(inet)                       = 0
    bind(s0, 0.0.0.0:8080)                  = 0
    listen(s0)                              = 0
    s1 = socket(inet)                       = 0
    connect(s1, 127.0.0.1:8080)             = 0
    s2 = socket(inet)                       = 0
    connect(s2, 127.0.0.1:8080)             = 0
        | LISTEN 0.0.0.0:8080    *               q=2
        | ESTAB  127.0.0.1:40000 127.0.0.1:8080
        | ESTAB  127.0.0.1:40002 127.0.0.1:8080
        | ESTAB  127.0.0.1:8080  127.0.0.1:40000
        | ESTAB  127.0.0.1:8080  127.0.0.1:40002
    s3 = socket(inet)                       = 0
    connect(s3, 127.0.0.1:8080)             = 0
    s4 = socket(inet)                       = 0
    connect(s4, 127.0.0.1:8080)             = 0
    s5 = socket(inet)                       = 0
    connect(s5, 127.0.0.1:8080)             = -1 EADDRNOTAVAIL
";

/// The same range with 40000 reserved: 40002 first, then the odd ports, then EADDRNOTAVAIL.
const CONNECT_RANGE_RESERVED: &str = "
    @sysctl net.ipv4.ip_local_port_range=40000 40003
    @sysctl net.ipv4.ip_local_reserved_ports=40000
    s0 = socket(inet)                       = 0
    bind(s0, 127.0.0.1:8080)                = 0
    listen(s0)                              = 0
    s1 = socket(inet)                       = 0
    connect(s1, 127.0.0.1:8080)             = 0
        | LISTEN 127.0.0.1:8080  *               q=1
        | ESTAB  127.0.0.1:40002 127.0.0.1:8080
        | ESTAB  127.0.0.1:8080  127.0.0.1:40002
    s2 = socket(inet)                       = 0
    connect(s2, 127.0.0.1:8080)             = 0
    s3 = socket(inet)                       = 0
    connect(s3, 127.0.0.1:8080)             = 0
        | LISTEN 127.0.0.1:8080  *               q=3
        | ESTAB  127.0.0.1:40001 127.0.0.1:8080
        | ESTAB  127.0.0.1:40002 127.0.0.1:8080
        | ESTAB  127.0.0.1:40003 127.0.0.1:8080
        | ESTAB  127.0.0.1:8080  127.0.0.1:40001
        | ESTAB  127.0.0.1:8080  127.0.0.1:40002
        | ESTAB  127.0.0.1:8080  127.0.0.1:40003
    s4 = socket(inet)                       = 0
    connect(s4, 127.0.0.1:8080)             = -1 EADDRNOTAVAIL
";

/// bind(:0) from a four-port range: odd offsets first (`inet_csk_find_open_port()`), then the
/// even ones, then EADDRINUSE.
const BIND_RANGE: &str = "
    @sysctl net.ipv4.ip_local_port_range=40000 40003
    s0 = socket(inet)                       = 0
    bind(s0, 127.0.0.1:$A)                  = 0
    s1 = socket(inet)                       = 0
    bind(s1, 127.0.0.1:$B)                  = 0
        | UNCONN 127.0.0.1:40001 *
        | UNCONN 127.0.0.1:40003 *
    s2 = socket(inet)                       = 0
    bind(s2, 127.0.0.1:$C)                  = 0
    s3 = socket(inet)                       = 0
    bind(s3, 127.0.0.1:$D)                  = 0
    s4 = socket(inet)                       = 0
    bind(s4, 127.0.0.1:$E)                  = -1 EADDRINUSE
";

/// The same range with 40001 reserved: 40003 first, then the even ports, then EADDRINUSE.
const BIND_RANGE_RESERVED: &str = "
    @sysctl net.ipv4.ip_local_port_range=40000 40003
    @sysctl net.ipv4.ip_local_reserved_ports=40001
    s0 = socket(inet)                       = 0
    bind(s0, 127.0.0.1:$A)                  = 0
        | UNCONN 127.0.0.1:40003 *
    s1 = socket(inet)                       = 0
    bind(s1, 127.0.0.1:$B)                  = 0
    s2 = socket(inet)                       = 0
    bind(s2, 127.0.0.1:$C)                  = 0
        | UNCONN 127.0.0.1:40000 *
        | UNCONN 127.0.0.1:40002 *
        | UNCONN 127.0.0.1:40003 *
    s3 = socket(inet)                       = 0
    bind(s3, 127.0.0.1:$D)                  = -1 EADDRINUSE
";

/// After [`CONNECT_RANGE`]'s exhaustion, another destination has the whole range again
/// (ports are shared between destinations).
const CONNECT_RANGE_OTHER_DESTINATION: &str = "
    @sysctl net.ipv4.ip_local_port_range=40000 40003
    s0 = socket(inet)                       = 0
    bind(s0, 0.0.0.0:8080)                  = 0
    listen(s0)                              = 0
    s1 = socket(inet)                       = 0
    connect(s1, 127.0.0.1:8080)             = 0
    s2 = socket(inet)                       = 0
    connect(s2, 127.0.0.1:8080)             = 0
    s3 = socket(inet)                       = 0
    connect(s3, 127.0.0.1:8080)             = 0
    s4 = socket(inet)                       = 0
    connect(s4, 127.0.0.1:8080)             = 0
    s5 = socket(inet)                       = 0
    connect(s5, 127.0.0.1:8080)             = -1 EADDRNOTAVAIL
    s6 = socket(inet)                       = 0
    connect(s6, 127.0.0.2:8080)             = 0
";

/// `ip_local_port_range` "40000 40003" and `ip_local_reserved_ports`: which ports connect()
/// and bind(:0) take, and how each fails when none is left.
#[rstest]
#[case::connect_exhausts_one_destination(CONNECT_RANGE, Decides(ConnectAutobindExhausted))]
#[case::connect_skips_reserved(CONNECT_RANGE_RESERVED, Decides(ConnectAutobindExhausted))]
#[case::connect_other_destination(CONNECT_RANGE_OTHER_DESTINATION, Applies(ConnectAutobind))]
#[case::bind_exhausts(BIND_RANGE, Decides(BindEphemeralExhausted))]
#[case::bind_skips_reserved(BIND_RANGE_RESERVED, Decides(BindEphemeralExhausted))]
fn ip_local_port_range(#[case] scn: &str, #[case] rule: Pin) {
    pin(scn, rule);
}

/// `ip_autobind_reuse` with a two-port range held by two SO_REUSEADDR sockets: bind(:0) of a
/// third shares a port only under 1 and only with SO_REUSEADDR itself
/// (`inet_csk_find_open_port()`'s relax pass, `inet_csk_bind_conflict()`).
#[rstest]
#[case::zero("0", "1", "-1 EADDRINUSE", Decides(BindEphemeralExhausted))]
#[case::one("1", "1", "0", Decides(BindEphemeralAutobindReuse))]
#[case::one_without_reuseaddr("1", "0", "-1 EADDRINUSE", Decides(BindEphemeralExhausted))]
fn ip_autobind_reuse(
    #[case] value: &str,
    #[case] reuseaddr: &str,
    #[case] want: &str,
    #[case] rule: Pin,
) {
    pin(
        &format!(
            "
            @sysctl net.ipv4.ip_local_port_range=40000 40001
            @sysctl net.ipv4.ip_autobind_reuse={value}
            s0 = socket(inet)                       = 0
            setsockopt(s0, SO_REUSEADDR, 1)         = 0
            bind(s0, 127.0.0.1:$A)                  = 0
            s1 = socket(inet)                       = 0
            setsockopt(s1, SO_REUSEADDR, 1)         = 0
            bind(s1, 127.0.0.1:$B)                  = 0
                | UNCONN 127.0.0.1:40000 *
                | UNCONN 127.0.0.1:40001 *
            s2 = socket(inet)                       = 0
            setsockopt(s2, SO_REUSEADDR, {reuseaddr})   = 0
            bind(s2, 127.0.0.1:$C)                  = {want}
            "
        ),
        rule,
    );
}

/// `tcp_rfc1337`: the server's TIME-WAIT (no listener behind it) answers a new SYN on its
/// 4-tuple with an ACK, the client answers with RST. Under 0 the RST ends the TIME-WAIT and
/// the resent SYN is refused; under 1 the TIME-WAIT stays and connect() blocks
/// (`tcp_timewait_state_process()`).
#[rstest]
#[case::zero_rst_kills(
    "0",
    "-1 ECONNREFUSED",
    "| UNCONN 127.0.0.1:7000 *",
    Applies(TimeWaitRstKills)
)]
#[case::one_rst_ignored(
    "1",
    "BLOCKS",
    "| SYN-SENT 127.0.0.1:7000 127.0.0.1:8080
     | TIME-WAIT 127.0.0.1:8080 127.0.0.1:7000",
    Applies(TimeWaitRstIgnored)
)]
fn tcp_rfc1337(#[case] value: &str, #[case] want: &str, #[case] table: &str, #[case] rule: Pin) {
    pin(
        &format!(
            "
            @sysctl net.ipv4.tcp_rfc1337={value}
            s0 = socket(inet)                       = 0
            bind(s0, 127.0.0.1:8080)                = 0
            listen(s0)                              = 0
            s1 = socket(inet)                       = 0
            bind(s1, 127.0.0.1:7000)                = 0
            connect(s1, 127.0.0.1:8080)             = 0
            s2 = accept(s0)                         = 0
            close(s2)                               = 0  # the server closes first
            close(s1)                               = 0
            close(s0)                               = 0
                | TIME-WAIT 127.0.0.1:8080 127.0.0.1:7000
            s3 = socket(inet)                       = 0
            bind(s3, 127.0.0.1:7000)                = 0
            connect(s3, 127.0.0.1:8080)             = {want}
                {table}
            "
        ),
        rule,
    );
}

/// `ip_unprivileged_port_start` (default 1024): a bind below it needs CAP_NET_BIND_SERVICE,
/// which a socket of uid 65534 bound as that uid lacks and root has
/// (`inet_port_requires_bind_service()`).
#[rustfmt::skip] // one line per case: the table
#[rstest]
#[case::default_1023_unprivileged(None, Some(65534), 1023, "-1 EACCES", Decides(BindPrivilegedPort))]
#[case::default_1024_unprivileged(None, Some(65534), 1024, "0", Decides(BindPortFree))]
#[case::start_2001_port_2000_unprivileged(Some("2001"), Some(65534), 2000, "-1 EACCES", Decides(BindPrivilegedPort))]
#[case::start_2001_port_2001_unprivileged(Some("2001"), Some(65534), 2001, "0", Decides(BindPortFree))]
#[case::start_2001_port_80_root(Some("2001"), None, 80, "0", Decides(BindPortFree))]
#[case::start_0_port_80_unprivileged(Some("0"), Some(65534), 80, "0", Decides(BindPortFree))]
fn ip_unprivileged_port_start(
    #[case] start: Option<&str>,
    #[case] euid: Option<u32>,
    #[case] port: u16,
    #[case] want: &str,
    #[case] rule: Pin,
) {
    let start = sysctl("net.ipv4.ip_unprivileged_port_start", start);
    let euid = euid.map_or_else(String::new, |uid| format!(", euid={uid}"));
    pin(
        &format!(
            "
            {start}
            s0 = socket(inet{euid})                 = 0
            bind(s0, 127.0.0.1:{port})              = {want}
            "
        ),
        rule,
    );
}

/// `net.ipv6.bindv6only`: under 0 a `[::]` socket also holds the IPv4 wildcard, so `[::]` and
/// `0.0.0.0` on one port conflict in either order; under 1 they coexist (`ipv6_only_sock()`
/// in `inet_rcv_saddr_equal()`).
#[rustfmt::skip] // one line per case: the table
#[rstest]
#[case::zero_v6_then_v4("0", "inet6", "[::]", "inet", "0.0.0.0", "-1 EADDRINUSE", Decides(BindConflict))]
#[case::zero_v4_then_v6("0", "inet", "0.0.0.0", "inet6", "[::]", "-1 EADDRINUSE", Decides(BindConflict))]
#[case::one_v6_then_v4("1", "inet6", "[::]", "inet", "0.0.0.0", "0", Decides(BindPortFree))]
#[case::one_v4_then_v6("1", "inet", "0.0.0.0", "inet6", "[::]", "0", Decides(BindPortFree))]
fn bindv6only(
    #[case] value: &str,
    #[case] first_family: &str,
    #[case] first: &str,
    #[case] second_family: &str,
    #[case] second: &str,
    #[case] want: &str,
    #[case] rule: Pin,
) {
    pin(
        &format!(
            "
            @sysctl net.ipv6.bindv6only={value}
            s0 = socket({first_family})             = 0
            bind(s0, {first}:8080)                  = 0
            s1 = socket({second_family})            = 0
            bind(s1, {second}:8080)                 = {want}
            "
        ),
        rule,
    );
}
