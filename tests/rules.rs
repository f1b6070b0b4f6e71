//! Every rule of the model, pinned by a short scenario.
//!
//! [`ROWS`] is a table: each row is a scenario in the scenario syntax (`docs/scenario-format.md`)
//! whose **last** call carries exactly one expected result, the rule that must account for it,
//! and how:
//! - [`Check::Decides`]: the rule is the one that decided the last call (`Branch::rule` of
//!   `Model::step`, and of the branch that agreed with the kernel);
//! - [`Check::Applies`]: the rule acted during the last call (`Branch::rules`): rules about
//!   segments and timers (`tcp.*`, `timewait.*`, `timer.*`) act inside a call another rule
//!   decides.
//!
//! Every row runs on the model (`predict`). Rows in [`Lane::Kernel`] are also replayed on the
//! running kernel in a fresh namespace, with the model in lock-step: the kernel must return the
//! expected result, agree with the model on every call and table, and the branch that agreed
//! must name the row's rule. Rows in [`Lane::ModelOnly`] say why they cannot run on the kernel
//! in the fast lane.
//!
//! `every_rule_is_pinned_by_a_test` fails when a rule is added without a row here.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use tcpconform_harness::replay;
use tcpconform_harness::scenario::{self, Scenario};
use tcpconform_harness::{kernel, sandbox};
use tcpconform_model::{Outcome, Profile, RuleId, Variant};
use tcpconform_tests::{Pin, check_last, replay_pinned};

/// How a row's rule must show in the last call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    /// The rule decided the call's result (`Branch::rule`).
    Decides,
    /// The rule acted during the call (`Branch::rules`).
    Applies,
}

/// Where a row runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lane {
    /// On the model and on the running kernel.
    Kernel,
    /// On the model only, for the reason given.
    ModelOnly(&'static str),
}

/// One row of the table.
struct Row {
    rule: RuleId,
    check: Check,
    lane: Lane,
    /// The scenario; its last call has exactly one expected result (`= …`).
    scn: &'static str,
}

const fn decides(rule: RuleId, scn: &'static str) -> Row {
    Row {
        rule,
        check: Check::Decides,
        lane: Lane::Kernel,
        scn,
    }
}

const fn applies(rule: RuleId, scn: &'static str) -> Row {
    Row {
        rule,
        check: Check::Applies,
        lane: Lane::Kernel,
        scn,
    }
}

impl Row {
    /// How the row's rule must show in its last call.
    fn pin(&self) -> Pin {
        match self.check {
            Check::Decides => Pin::Decides(self.rule),
            Check::Applies => Pin::Applies(self.rule),
        }
    }

    /// The row runs on the model only, for this reason.
    const fn model_only(self, why: &'static str) -> Self {
        Self {
            lane: Lane::ModelOnly(why),
            ..self
        }
    }
}

/// Why the reuseport lookup row is model-only: which member the lookup picks depends on the
/// namespace's hash salt, so a kernel replay gives ENOENT as often as 0 (the campaign checks
/// both against the model).
const HASH_SALTED: &str = "the member a reuseport lookup picks depends on the namespace's salt";

/// Why the time rows are model-only: the kernel's TIME-WAIT is 60 s (`TCP_TIMEWAIT_LEN`, not
/// tunable), too slow for the fast lane; the model's clock jumps.
const SIXTY_SECONDS: &str = "a 60 s TIME-WAIT (TCP_TIMEWAIT_LEN) is too slow for the fast lane";

/// Why 6.1 rows are model-only: the fast lane has one kernel, the running one.
const OTHER_KERNEL: &str = "the rule is Linux 6.1's; the fast lane runs the host's kernel";

/// Why the other OSes' rows are model-only: they are written from FreeBSD's and XNU's source and
/// Microsoft's documentation (each rule names its source); this host runs Linux.
const OTHER_OS: &str =
    "the rule is another OS's, read from its source or documentation; this host runs Linux";

#[rustfmt::skip]
static ROWS: &[Row] = &[
    // --- descriptors, socket(), setsockopt(), getsockopt() ---------------------------------
    decides(RuleId::FdClosed, "
        s0 = socket(inet)                       = 0
        close(s0)                               = 0
        bind(s0, 127.0.0.1:8080)                = -1 EBADF
    "),
    decides(RuleId::SocketCreated, "
        s0 = socket(inet6)                      = 0
    "),
    decides(RuleId::SetsockoptOk, "
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEADDR, 1)         = 0
    "),
    decides(RuleId::SetsockoptV6OnlyBound, "
        s0 = socket(inet6)                      = 0
        bind(s0, [::]:8080)                     = 0
        setsockopt(s0, IPV6_V6ONLY, 1)          = -1 EINVAL
    "),
    decides(RuleId::SetsockoptWrongLevel, "
        s0 = socket(inet)                       = 0
        setsockopt(s0, IPV6_V6ONLY, 1)          = -1 ENOPROTOOPT
    "),
    decides(RuleId::SetsockoptBadValue, "
        s0 = socket(inet)                       = 0
        setsockopt(s0, TCP_KEEPIDLE, 0)         = -1 EINVAL
    "),
    decides(RuleId::SoErrorRead, "
        s0 = socket(inet, nonblock)             = 0
        connect(s0, 127.0.0.1:9)                = -1 EINPROGRESS
        getsockopt(s0, SO_ERROR)                = [ECONNREFUSED]
    "),

    // --- bind(): argument and state checks -------------------------------------------------
    decides(RuleId::BindFamilyMismatch, "
        s0 = socket(inet)                       = 0
        bind(s0, [::1]:8080)                    = -1 EAFNOSUPPORT
    "),
    decides(RuleId::BindFamilyMismatch, "
        s0 = socket(inet6)                      = 0
        bind(s0, 127.0.0.1:8080)                = -1 EINVAL
    "),
    decides(RuleId::BindAddrNotLocal, "
        s0 = socket(inet)                       = 0
        bind(s0, 10.9.9.9:8080)                 = -1 EADDRNOTAVAIL
    "),
    decides(RuleId::BindAddrNotLocal, "
        s0 = socket(inet6)                      = 0
        bind(s0, [fd00::9]:8080)                = -1 EADDRNOTAVAIL
    "),
    // bind() checks the caller's CAP_NET_BIND_SERVICE; the harness calls on a socket created
    // with euid=65534 as that uid.
    decides(RuleId::BindPrivilegedPort, "
        s0 = socket(inet, euid=65534)           = 0
        bind(s0, 127.0.0.1:80)                  = -1 EACCES
    "),
    decides(RuleId::BindPortFree, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:80)                  = 0
    "),
    decides(RuleId::BindAlreadyBound, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        bind(s0, 127.0.0.1:8081)                = -1 EINVAL
    "),
    decides(RuleId::BindMappedOnV6Only, "
        s0 = socket(inet6)                      = 0
        setsockopt(s0, IPV6_V6ONLY, 1)          = 0
        bind(s0, [::ffff:127.0.0.1]:8080)       = -1 EINVAL
    "),

    // --- bind(): the conflict check ------------------------------------------------------
    decides(RuleId::BindPortFree, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.2:8080)                = 0  # another address: no overlap
    "),
    decides(RuleId::BindConflict, "
        s0 = socket(inet)                       = 0
        bind(s0, 0.0.0.0:8080)                  = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEADDR, 1)         = 0  # on the new socket alone: no help
        bind(s1, 127.0.0.1:8080)                = -1 EADDRINUSE
    "),
    decides(RuleId::BindReuseAddrBoth, "
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEADDR, 1)         = 0
        bind(s0, 127.0.0.1:8080)                = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEADDR, 1)         = 0
        bind(s1, 127.0.0.1:8080)                = 0
    "),
    decides(RuleId::BindReuseAddrOverListener, "
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEADDR, 1)         = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEADDR, 1)         = 0
        bind(s1, 127.0.0.1:8080)                = -1 EADDRINUSE
    "),
    // The server closes first, so the TIME-WAIT is on the server's port, with the listener's
    // flags (none); SO_REUSEADDR on the new socket alone does not pass it.
    decides(RuleId::BindTimeWaitNeedsReuseAddrOnBoth, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        close(s1)                               = 0
        close(s0)                               = 0
        s3 = socket(inet)                       = 0
        setsockopt(s3, SO_REUSEADDR, 1)         = 0
        bind(s3, 127.0.0.1:8080)                = -1 EADDRINUSE
    "),
    // A wildcard over a specific address: the bucket's cache (from 127.0.0.1) does not cover
    // it, so the owners are checked and SO_REUSEPORT passes.
    decides(RuleId::BindReusePortSameUid, "
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEPORT, 1)         = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEPORT, 1)         = 0
        bind(s1, 0.0.0.0:8080)                  = 0
    "),
    // A TIME-WAIT of an SO_REUSEPORT socket created by another user: no uid check.
    decides(RuleId::BindReusePortSameUid, "
        s0 = socket(inet, euid=65534)           = 0
        setsockopt(s0, SO_REUSEPORT, 1)         = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        close(s1)                               = 0
        close(s0)                               = 0
        s3 = socket(inet)                       = 0
        setsockopt(s3, SO_REUSEPORT, 1)         = 0
        bind(s3, 127.0.0.1:8080)                = 0
    "),
    decides(RuleId::BindReusePortOtherUid, "
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEPORT, 1)         = 0
        bind(s0, 127.0.0.1:8080)                = 0
        s1 = socket(inet, euid=65534)           = 0
        setsockopt(s1, SO_REUSEPORT, 1)         = 0
        bind(s1, 127.0.0.1:8080)                = -1 EADDRINUSE
    "),
    // 6.18: the bucket cached s0's SO_REUSEPORT (FASTREUSEPORT_STRICT) and still trusts it
    // after s0 dropped the option; checking the owners would refuse s1.
    decides(RuleId::BindFastReuseCache, "
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEPORT, 1)         = 0
        bind(s0, 127.0.0.1:8080)                = 0
        setsockopt(s0, SO_REUSEPORT, 0)         = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEPORT, 1)         = 0
        bind(s1, 127.0.0.1:8080)                = 0
    "),
    // 6.1: the first owner's SO_REUSEADDR is cached in the bucket (fastreuse) and trusted after
    // the owner dropped it.
    decides(RuleId::BindFastReuseCache, "
        @variant fastreuse_cache=from_first_owner
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEADDR, 1)         = 0
        bind(s0, 127.0.0.1:8080)                = 0
        setsockopt(s0, SO_REUSEADDR, 0)         = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEADDR, 1)         = 0
        bind(s1, 127.0.0.1:8080)                = 0
    "),
    // Since 6.8 (fastreuse_cache=owners_checked) the cache is never set from the first owner:
    // the owners are checked, and s0 no longer has SO_REUSEADDR.
    decides(RuleId::BindConflict, "
        @variant fastreuse_cache=owners_checked
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEADDR, 1)         = 0
        bind(s0, 127.0.0.1:8080)                = 0
        setsockopt(s0, SO_REUSEADDR, 0)         = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEADDR, 1)         = 0
        bind(s1, 127.0.0.1:8080)                = -1 EADDRINUSE
    "),
    // 6.1 (mapped_bind_wildcard=misses_mapped_wildcard): a v4-mapped specific bind looks in
    // bhash2 only, and misses the AF_INET6 bucket of [::ffff:0.0.0.0].
    decides(RuleId::BindPortFree, "
        @variant mapped_bind_wildcard=misses_mapped_wildcard
        s0 = socket(inet6)                      = 0
        bind(s0, [::ffff:0.0.0.0]:8080)         = 0
        s1 = socket(inet6)                      = 0
        bind(s1, [::ffff:127.0.0.1]:8080)       = 0
    "),
    decides(RuleId::BindConflict, "
        @variant mapped_bind_wildcard=sees_mapped_wildcard
        s0 = socket(inet6)                      = 0
        bind(s0, [::ffff:0.0.0.0]:8080)         = 0
        s1 = socket(inet6)                      = 0
        bind(s1, [::ffff:127.0.0.1]:8080)       = -1 EADDRINUSE
    "),
    // Bound, unconnected sockets are in sock_diag's dump since 6.8 (diag_bound_sockets).
    decides(RuleId::BindPortFree, "
        @variant diag_bound_sockets=dumped
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
            | UNCONN 127.0.0.1:8080 *
    "),
    decides(RuleId::BindPortFree, "
        @variant diag_bound_sockets=hidden
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
            | (empty)
    "),

    // --- bind(): port 0 ------------------------------------------------------------------
    decides(RuleId::BindEphemeral, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:$P)                  = 0
    "),
    decides(RuleId::BindEphemeralExhausted, "
        @sysctl net.ipv4.ip_local_port_range=40000 40001
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:$A)                  = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.1:$B)                  = 0
        s2 = socket(inet)                       = 0
        bind(s2, 127.0.0.1:$C)                  = -1 EADDRINUSE
    "),
    decides(RuleId::BindEphemeralAutobindReuse, "
        @sysctl net.ipv4.ip_local_port_range=40000 40001
        @sysctl net.ipv4.ip_autobind_reuse=1
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEADDR, 1)         = 0
        bind(s0, 127.0.0.1:$A)                  = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEADDR, 1)         = 0
        bind(s1, 127.0.0.1:$B)                  = 0
        s2 = socket(inet)                       = 0
        setsockopt(s2, SO_REUSEADDR, 1)         = 0
        bind(s2, 127.0.0.1:$C)                  = 0
    "),
    decides(RuleId::BindAddressNoPort, "
        s0 = socket(inet)                       = 0
        setsockopt(s0, IP_BIND_ADDRESS_NO_PORT, 1) = 0
        bind(s0, 127.0.0.1:0)                   = 0
            | (empty)
    "),

    // --- listen() ------------------------------------------------------------------------
    decides(RuleId::ListenOk, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
    "),
    decides(RuleId::ListenConflict, "
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEADDR, 1)         = 0
        bind(s0, 127.0.0.1:8080)                = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEADDR, 1)         = 0
        bind(s1, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        listen(s1)                              = -1 EADDRINUSE
    "),
    decides(RuleId::ListenAutobind, "
        s0 = socket(inet)                       = 0
        listen(s0)                              = 0
    "),
    decides(RuleId::ListenAgain, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        listen(s0, 4)                           = 0
    "),
    // A socket whose connect() sent a SYN and was refused, back in SS_UNCONNECTED.
    decides(RuleId::ListenAutobind, "
        @variant listen_after_connect=listens
        s0 = socket(inet)                       = 0
        connect(s0, 127.0.0.1:9)                = -1 ECONNREFUSED
        listen(s0)                              = 0
    "),
    decides(RuleId::ListenAfterConnect, "
        @variant listen_after_connect=einval
        s0 = socket(inet)                       = 0
        connect(s0, 127.0.0.1:9)                = -1 ECONNREFUSED
        listen(s0) = -1 EINVAL
            | UNCONN 0.0.0.0:$K *
    "),
    decides(RuleId::ListenBadState, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        listen(s1)                              = -1 EINVAL
    "),

    // --- connect() -----------------------------------------------------------------------
    decides(RuleId::ConnectEstablished, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
    "),
    decides(RuleId::ConnectRefused, "
        s0 = socket(inet)                       = 0
        connect(s0, 127.0.0.1:9)                = -1 ECONNREFUSED
    "),
    decides(RuleId::ConnectSelf, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:5000)                = 0
        connect(s0, 127.0.0.1:5000)             = 0
            | ESTAB 127.0.0.1:5000 127.0.0.1:5000
    "),
    decides(RuleId::ConnectInProgress, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet, nonblock)             = 0
        connect(s1, 127.0.0.1:8080)             = -1 EINPROGRESS
    "),
    // The SYN meets a TIME-WAIT with no listener behind it that ignores the client's RST
    // (tcp_rfc1337=1): the client stays in SYN-SENT until its next retransmission (1 s).
    decides(RuleId::ConnectAlready, "
        @sysctl net.ipv4.tcp_rfc1337=1
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.1:7000)                = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        close(s1)                               = 0
        close(s0)                               = 0
        s3 = socket(inet, nonblock)             = 0
        bind(s3, 127.0.0.1:7000)                = 0
        connect(s3, 127.0.0.1:8080)             = -1 EINPROGRESS
        connect(s3, 127.0.0.1:8080)             = -1 EALREADY
    "),
    decides(RuleId::ConnectCompleted, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet, nonblock)             = 0
        connect(s1, 127.0.0.1:8080)             = -1 EINPROGRESS
        connect(s1, 127.0.0.1:8080)             = 0
    "),
    decides(RuleId::ConnectPendingError, "
        s0 = socket(inet, nonblock)             = 0
        connect(s0, 127.0.0.1:9)                = -1 EINPROGRESS
        connect(s0, 127.0.0.1:9)                = -1 ECONNREFUSED
    "),
    decides(RuleId::ConnectPendingError, "
        s0 = socket(inet, nonblock)             = 0
        connect(s0, 127.0.0.1:9)                = -1 EINPROGRESS
        getsockopt(s0, SO_ERROR)                = [ECONNREFUSED]
        connect(s0, 127.0.0.1:9)                = -1 ECONNABORTED
    "),
    decides(RuleId::ConnectIsConn, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        connect(s1, 127.0.0.1:8080)             = -1 EISCONN
    "),
    decides(RuleId::ConnectFamilyMismatch, "
        s0 = socket(inet)                       = 0
        connect(s0, [::1]:8080)                 = -1 EAFNOSUPPORT
    "),
    decides(RuleId::ConnectMappedSource, "
        s0 = socket(inet6)                      = 0
        bind(s0, [::ffff:127.0.0.1]:7000)       = 0
        connect(s0, [::1]:8080)                 = -1 EAFNOSUPPORT
    "),
    // The v4-mapped connect is refused after its SYN left, so the socket keeps the IPv4
    // transmit path; its native IPv6 SYN is lost and it waits in SYN-SENT.
    applies(RuleId::ConnectStaleMappedOps, "
        @variant mapped_connect_failure=keeps_ipv4_path
        s0 = socket(inet6)                      = 0
        bind(s0, [::1]:5000)                    = 0
        listen(s0)                              = 0
        s1 = socket(inet6, nonblock)            = 0
        connect(s1, [::ffff:127.0.0.1]:5001)    = -1 EINPROGRESS
        connect(s1, [::1]:5001)                 = -1 ECONNREFUSED
        connect(s1, [::1]:5000) local $C        = -1 EINPROGRESS
            | LISTEN   [::1]:5000 *
            | SYN-SENT [::1]:$C   [::1]:5000
    "),
    // The same with the IPv6 path restored by tcp_disconnect(): the SYN reaches the listener.
    applies(RuleId::ConnectMappedPathRestored, "
        @variant mapped_connect_failure=restores_ipv6_path
        s0 = socket(inet6)                      = 0
        bind(s0, [::1]:5000)                    = 0
        listen(s0)                              = 0
        s1 = socket(inet6, nonblock)            = 0
        connect(s1, [::ffff:127.0.0.1]:5001)    = -1 EINPROGRESS
        connect(s1, [::1]:5001)                 = -1 ECONNREFUSED
        connect(s1, [::1]:5000) local $C        = -1 EINPROGRESS
            | LISTEN   [::1]:5000 * q=1
            | ESTAB    [::1]:5000 [::1]:$C
            | ESTAB    [::1]:$C   [::1]:5000
    "),
    // A listener stopped by shutdown(SHUT_RD), connecting: refused by nobody listening at 9
    // (mainline), or refused at once with EINVAL, its source reset (connect_after_listen=einval).
    decides(RuleId::ConnectRefused, "
        @variant connect_after_listen=connects
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:5000)                = 0
        listen(s0)                              = 0
        shutdown(s0, SHUT_RD)                   = 0
        connect(s0, 127.0.0.1:9)                = -1 ECONNREFUSED
    "),
    decides(RuleId::ConnectAfterListen, "
        @variant connect_after_listen=einval
        s0 = socket(inet6)                      = 0
        bind(s0, [::]:5000)                     = 0
        listen(s0)                              = 0
        destroy(s0)                             = 0
        connect(s0, [::1]:9)                    = -1 EINVAL
            | UNCONN [::]:5000 *
    "),
    decides(RuleId::ConnectMappedOnV6Only, "
        s0 = socket(inet6)                      = 0
        setsockopt(s0, IPV6_V6ONLY, 1)          = 0
        connect(s0, [::ffff:127.0.0.1]:8080)    = -1 ENETUNREACH
    "),
    applies(RuleId::ConnectAutobind, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
    "),
    // The server closed first and keeps the TIME-WAIT; the next client's walk starts past $C
    // (with the kernel's choice a new 10-second key could, once in ~14,000, bring it back).
    applies(RuleId::ConnectAutobindMovesOn, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080) local $C    = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        close(s1)                               = 0
        s3 = socket(inet)                       = 0
        connect(s3, 127.0.0.1:8080) local $D    = 0
            | LISTEN    127.0.0.1:8080 *
            | TIME-WAIT 127.0.0.1:8080 127.0.0.1:$C
            | ESTAB     127.0.0.1:8080 127.0.0.1:$D
            | ESTAB     127.0.0.1:$D   127.0.0.1:8080
    "),
    decides(RuleId::ConnectAutobindExhausted, "
        @sysctl net.ipv4.ip_local_port_range=40000 40000
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = socket(inet)                       = 0
        connect(s2, 127.0.0.1:8080)             = -1 EADDRNOTAVAIL
    "),
    // The only ephemeral port, taken by connect() and then also bound by s3 elsewhere: when
    // s3 leaves, 6.18 gives the port back to connect() (bind_owned_port_release), 6.12 keeps
    // it bind()'s and autobind skips it.
    applies(RuleId::ConnectAutobind, "
        @variant bind_owned_port_release=back_to_connect
        @sysctl net.ipv4.ip_local_port_range=40000 40000
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:5000)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.1:5001)                = 0
        listen(s1)                              = 0
        s2 = socket(inet)                       = 0
        connect(s2, 127.0.0.1:5000) local $C    = 0
        s3 = socket(inet)                       = 0
        bind(s3, 127.0.0.2:$C)                  = 0
        close(s3)                               = 0
        s4 = socket(inet)                       = 0
        connect(s4, 127.0.0.1:5001)             = 0
    "),
    decides(RuleId::ConnectAutobindExhausted, "
        @variant bind_owned_port_release=stays_bind_owned
        @sysctl net.ipv4.ip_local_port_range=40000 40000
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:5000)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.1:5001)                = 0
        listen(s1)                              = 0
        s2 = socket(inet)                       = 0
        connect(s2, 127.0.0.1:5000) local $C    = 0
        s3 = socket(inet)                       = 0
        bind(s3, 127.0.0.2:$C)                  = 0
        close(s3)                               = 0
        s4 = socket(inet)                       = 0
        connect(s4, 127.0.0.1:5001)             = -1 EADDRNOTAVAIL
    "),
    decides(RuleId::ConnectTupleInUse, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEADDR, 1)         = 0
        bind(s1, 127.0.0.1:7000)                = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = socket(inet)                       = 0
        setsockopt(s2, SO_REUSEADDR, 1)         = 0
        bind(s2, 127.0.0.1:7000)                = 0
        connect(s2, 127.0.0.1:8080)             = -1 EADDRNOTAVAIL
    "),
    // The client closes first: its TIME-WAIT holds 127.0.0.1:7000 -> :8080, with timestamps.
    decides(RuleId::ConnectTimeWaitTakeover, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEADDR, 1)         = 0
        bind(s1, 127.0.0.1:7000)                = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s1)                               = 0
        close(s2)                               = 0
            | LISTEN    127.0.0.1:8080 *
            | TIME-WAIT 127.0.0.1:7000 127.0.0.1:8080
        s3 = socket(inet)                       = 0
        setsockopt(s3, SO_REUSEADDR, 1)         = 0
        bind(s3, 127.0.0.1:7000)                = 0
        connect(s3, 127.0.0.1:8080)             = 0
    "),
    decides(RuleId::ConnectTwReuse, "
        @variant tw_reuse_delay=sysctl_ms
        @sysctl net.ipv4.ip_local_port_range=40000 40000
        @sysctl net.ipv4.tcp_tw_reuse_delay=1
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
        sleep(200ms)                            = 0
        s3 = socket(inet)                       = 0
        connect(s3, 127.0.0.1:8080)             = 0
    "),
    // Before 6.14 (tw_reuse_delay=next_second) a TIME-WAIT is old enough once a later second
    // of the clock has begun than its last timestamp: surely so after 1.1 s.
    decides(RuleId::ConnectTwReuse, "
        @variant tw_reuse_delay=next_second
        @sysctl net.ipv4.ip_local_port_range=40000 40000
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s1)                               = 0
        close(s2)                               = 0
        sleep(1100ms)                           = 0
        s3 = socket(inet)                       = 0
        connect(s3, 127.0.0.1:8080)             = 0
    "),
    // The source for 127/8 is 127.0.0.1, whatever the destination.
    applies(RuleId::ConnectSource, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.2:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.2:8080) local $C    = 0
            | LISTEN 127.0.0.2:8080 *
            | ESTAB  127.0.0.2:8080 127.0.0.1:$C
            | ESTAB  127.0.0.1:$C   127.0.0.2:8080
    "),
    // The server's TIME-WAIT holds 127.0.0.1:8080 -> :7000 and nobody listens: the SYN gets an
    // ACK, the client's RST ends the TIME-WAIT, the SYN resent after TCP_TIMEOUT_MIN is refused.
    decides(RuleId::ConnectSynToTimeWait, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.1:7000)                = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        close(s1)                               = 0
        close(s0)                               = 0
        s3 = socket(inet)                       = 0
        bind(s3, 127.0.0.1:7000)                = 0
        connect(s3, 127.0.0.1:8080)             = -1 ECONNREFUSED
            | UNCONN 127.0.0.1:7000 *
    "),
    // The same for a non-blocking connect: the resend is a timer, 2 jiffies after the call.
    decides(RuleId::ConnectSynToTimeWait, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.1:7000)                = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        close(s1)                               = 0
        close(s0)                               = 0
        s3 = socket(inet, nonblock)             = 0
        bind(s3, 127.0.0.1:7000)                = 0
        connect(s3, 127.0.0.1:8080)             = -1 EINPROGRESS
        sleep(50ms)                             = 0
            | UNCONN 127.0.0.1:7000 127.0.0.1:8080  # reset, not yet disconnected
    "),
    // Under tcp_rfc1337=1 the TIME-WAIT survives the RST and answers the resent SYN again.
    decides(RuleId::ConnectSynToTimeWait, "
        @sysctl net.ipv4.tcp_rfc1337=1
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.1:7000)                = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        close(s1)                               = 0
        close(s0)                               = 0
        s3 = socket(inet)                       = 0
        bind(s3, 127.0.0.1:7000)                = 0
        connect(s3, 127.0.0.1:8080)             = BLOCKS
            | SYN-SENT  127.0.0.1:7000 127.0.0.1:8080
            | TIME-WAIT 127.0.0.1:8080 127.0.0.1:7000
    "),

    // --- accept(), send(), recv() ----------------------------------------------------------
    decides(RuleId::AcceptOk, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
    "),
    decides(RuleId::AcceptEmpty, "
        s0 = socket(inet, nonblock)             = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = accept(s0)                         = -1 EAGAIN
    "),
    decides(RuleId::AcceptNotListening, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        s1 = accept(s0)                         = -1 EINVAL
    "),
    decides(RuleId::SendOk, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        send(s1, 5)                             = 5
    "),
    decides(RuleId::SendPipe, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        shutdown(s1, SHUT_WR)                   = 0
        send(s1, 5)                             = -1 EPIPE
    "),
    decides(RuleId::SendPendingError, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        send(s1, 5)                             = 5
        close(s2)                               = 0  # unread data: RST
        send(s1, 1)                             = -1 ECONNRESET
    "),
    decides(RuleId::SendWaitConnect, "
        @sysctl net.ipv4.tcp_rfc1337=1
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.1:7000)                = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        close(s1)                               = 0
        close(s0)                               = 0
        s3 = socket(inet, nonblock)             = 0
        bind(s3, 127.0.0.1:7000)                = 0
        connect(s3, 127.0.0.1:8080)             = -1 EINPROGRESS  # stuck in SYN-SENT
        send(s3, 1)                             = -1 EAGAIN
    "),
    decides(RuleId::RecvData, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        send(s1, 5)                             = 5
        recv(s2, 3)                             = 3
    "),
    decides(RuleId::RecvEof, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s1)                               = 0
        recv(s2, 100)                           = EOF
    "),
    decides(RuleId::RecvPendingError, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        setsockopt(s1, SO_LINGER, 0)            = 0
        close(s1)                               = 0
        recv(s2, 100)                           = -1 ECONNRESET
    "),
    decides(RuleId::RecvNotConn, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        recv(s0, 100)                           = -1 ENOTCONN
    "),
    decides(RuleId::RecvWouldBlock, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet, nonblock)             = 0
        connect(s1, 127.0.0.1:8080)             = -1 EINPROGRESS
        recv(s1, 100)                           = -1 EAGAIN
    "),

    // --- shutdown() ----------------------------------------------------------------------
    decides(RuleId::ShutdownNotConn, "
        s0 = socket(inet)                       = 0
        shutdown(s0, SHUT_WR)                   = -1 ENOTCONN
    "),
    decides(RuleId::ShutdownWr, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080) local $C    = 0
        s2 = accept(s0)                         = 0
        shutdown(s1, SHUT_WR)                   = 0
            | LISTEN     127.0.0.1:8080 *
            | FIN-WAIT-2 127.0.0.1:$C   127.0.0.1:8080
            | CLOSE-WAIT 127.0.0.1:8080 127.0.0.1:$C
    "),
    decides(RuleId::ShutdownRd, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080) local $C    = 0
        s2 = accept(s0)                         = 0
        shutdown(s1, SHUT_RD)                   = 0
            | LISTEN 127.0.0.1:8080 *
            | ESTAB  127.0.0.1:$C   127.0.0.1:8080
            | ESTAB  127.0.0.1:8080 127.0.0.1:$C
    "),
    decides(RuleId::ShutdownListener, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        shutdown(s0, SHUT_RD)                   = 0
            | UNCONN 127.0.0.1:8080 *
    "),
    decides(RuleId::ShutdownSynSent, "
        @sysctl net.ipv4.tcp_rfc1337=1
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.1:7000)                = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        close(s1)                               = 0
        close(s0)                               = 0
        s3 = socket(inet, nonblock)             = 0
        bind(s3, 127.0.0.1:7000)                = 0
        connect(s3, 127.0.0.1:8080)             = -1 EINPROGRESS  # stuck in SYN-SENT
        shutdown(s3, SHUT_RDWR)                 = 0
    "),

    // --- close() -------------------------------------------------------------------------
    decides(RuleId::CloseUnbound, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        close(s0)                               = 0
            | (empty)
    "),
    decides(RuleId::CloseListener, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        close(s0)                               = 0  # the queued connection is reset
            | (empty)
    "),
    decides(RuleId::CloseUnreadData, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        send(s1, 5)                             = 5
        close(s2)                               = 0
            | LISTEN 127.0.0.1:8080 *
    "),
    decides(RuleId::CloseLingerZero, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        setsockopt(s1, SO_LINGER, 0)            = 0
        close(s1)                               = 0
            | LISTEN 127.0.0.1:8080 *
    "),
    decides(RuleId::CloseActive, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s1)                               = 0
    "),
    decides(RuleId::ClosePassive, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s1)                               = 0
        close(s2)                               = 0
    "),
    applies(RuleId::CloseOrphanFinWait2, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080) local $C    = 0
        s2 = accept(s0)                         = 0
        close(s1)                               = 0
            | LISTEN     127.0.0.1:8080 *
            | FIN-WAIT-2 127.0.0.1:$C   127.0.0.1:8080
            | CLOSE-WAIT 127.0.0.1:8080 127.0.0.1:$C
    "),
    applies(RuleId::CloseLinger2Negative, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        setsockopt(s1, TCP_LINGER2, -1)         = 0
        close(s1)                               = 0
            | LISTEN 127.0.0.1:8080 *
    "),
    decides(RuleId::CloseKeepsState, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        shutdown(s1, SHUT_WR)                   = 0
        close(s1)                               = 0
    "),

    // --- segments ------------------------------------------------------------------------
    applies(RuleId::TcpFinReceived, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        shutdown(s1, SHUT_WR)                   = 0
    "),
    // s1's descriptor is still open when the peer's FIN arrives in FIN-WAIT-2.
    applies(RuleId::TcpActiveCloserTimeWait, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080) local $C    = 0
        s2 = accept(s0)                         = 0
        shutdown(s1, SHUT_WR)                   = 0
        close(s2)                               = 0
            | LISTEN    127.0.0.1:8080 *
            | TIME-WAIT 127.0.0.1:$C   127.0.0.1:8080
    "),
    // A socket connected to itself receives its own FIN in FIN-WAIT-1.
    applies(RuleId::TcpSimultaneousClose, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:5000)                = 0
        connect(s0, 127.0.0.1:5000)             = 0
        close(s0)                               = 0
            | TIME-WAIT 127.0.0.1:5000 127.0.0.1:5000
    "),
    applies(RuleId::TcpPassiveCloserNoTimeWait, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080) local $C    = 0
        s2 = accept(s0)                         = 0
        close(s1)                               = 0
        close(s2)                               = 0
            | LISTEN    127.0.0.1:8080 *
            | TIME-WAIT 127.0.0.1:$C   127.0.0.1:8080
    "),
    applies(RuleId::TcpRstReceived, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        setsockopt(s1, SO_LINGER, 0)            = 0
        close(s1)                               = 0
    "),
    // s1 shut both directions (FIN-WAIT-2, descriptor open): new data gets RST.
    applies(RuleId::TcpDataAfterClose, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        shutdown(s1, SHUT_RDWR)                 = 0
        send(s2, 5)                             = 5
            | LISTEN 127.0.0.1:8080 *
    "),
    // The same over IPv6 from a veth address to ::1: s1 resets, but its RST, sent by the
    // stack, is routed out of the veth and lost; s2 stays in CLOSE-WAIT, retransmitting.
    applies(RuleId::TcpV6LoopbackReplyLost, "
        @hosts 2
        s0 = socket(inet6, host=b)              = 0
        bind(s0, [::1]:8080)                    = 0
        listen(s0)                              = 0
        s1 = socket(inet6, host=b)              = 0
        bind(s1, [fd00::2]:7000)                = 0
        connect(s1, [::1]:8080)                 = 0
        s2 = accept(s0)                         = 0
        shutdown(s1, SHUT_RDWR)                 = 0
        send(s2, 5)                             = 5
            | b: UNCONN     [fd00::2]:7000 [::1]:8080
            | b: LISTEN     [::1]:8080     *
            | b: CLOSE-WAIT [::1]:8080     [fd00::2]:7000 q=1
    "),
    applies(RuleId::TcpShutdownInherited, "
        s0 = socket(inet)                       = 0
        shutdown(s0, SHUT_WR)                   = -1 ENOTCONN
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080) local $C    = 0
            | LISTEN     127.0.0.1:8080 *        q=1
            | FIN-WAIT-2 127.0.0.1:8080 127.0.0.1:$C
            | CLOSE-WAIT 127.0.0.1:$C   127.0.0.1:8080
    "),
    applies(RuleId::TcpNoSocket, "
        s0 = socket(inet)                       = 0
        connect(s0, 127.0.0.1:9)                = -1 ECONNREFUSED
    "),
    // listen(s, 0) holds one connection; the second SYN is dropped and the client waits.
    applies(RuleId::TcpListenOverflow, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0, 0)                           = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080) local $B    = 0
        s2 = socket(inet, nonblock)             = 0
        connect(s2, 127.0.0.1:8080) local $C    = -1 EINPROGRESS
            | LISTEN   127.0.0.1:8080 *              q=1
            | ESTAB    127.0.0.1:8080 127.0.0.1:$B
            | ESTAB    127.0.0.1:$B   127.0.0.1:8080
            | SYN-SENT 127.0.0.1:$C   127.0.0.1:8080
    "),
    // tcp_abort_on_overflow=1 changes nothing: the SYN is dropped before any third ACK.
    applies(RuleId::TcpListenOverflow, "
        @sysctl net.ipv4.tcp_abort_on_overflow=1
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0, 0)                           = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080) local $B    = 0
        s2 = socket(inet, nonblock)             = 0
        connect(s2, 127.0.0.1:8080) local $C    = -1 EINPROGRESS
            | LISTEN   127.0.0.1:8080 *              q=1
            | ESTAB    127.0.0.1:8080 127.0.0.1:$B
            | ESTAB    127.0.0.1:$B   127.0.0.1:8080
            | SYN-SENT 127.0.0.1:$C   127.0.0.1:8080
    "),
    // listen() again lowers the backlog at once; the queued connections stay.
    applies(RuleId::TcpListenOverflow, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = socket(inet)                       = 0
        connect(s2, 127.0.0.1:8080)             = 0
        listen(s0, 0)                           = 0
        s3 = socket(inet, nonblock)             = 0
        connect(s3, 127.0.0.1:8080)             = -1 EINPROGRESS
    "),
    // The dual-stack listener is the older one, yet the IPv4 connection goes to 0.0.0.0.
    applies(RuleId::TcpListenerPrefersInet, "
        s0 = socket(inet6)                      = 0
        setsockopt(s0, SO_REUSEPORT, 1)         = 0
        bind(s0, [::]:8080)                     = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEPORT, 1)         = 0
        bind(s1, 0.0.0.0:8080)                  = 0
        listen(s1)                              = 0
        s2 = socket(inet)                       = 0
        connect(s2, 127.0.0.1:8080) local $C    = 0
            | LISTEN [::]:8080         *              q=0
            | LISTEN 0.0.0.0:8080      *              q=1
            | ESTAB  127.0.0.1:8080    127.0.0.1:$C
            | ESTAB  127.0.0.1:$C      127.0.0.1:8080
    "),
    // The same on one address: an AF_INET6 socket bound to the v4-mapped 127.0.0.1.
    applies(RuleId::TcpListenerPrefersInet, "
        s0 = socket(inet6)                      = 0
        setsockopt(s0, SO_REUSEPORT, 1)         = 0
        bind(s0, [::ffff:127.0.0.1]:8080)       = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEPORT, 1)         = 0
        bind(s1, 127.0.0.1:8080)                = 0
        listen(s1)                              = 0
        s2 = socket(inet)                       = 0
        connect(s2, 127.0.0.1:8080) local $C    = 0
            | LISTEN [::ffff:127.0.0.1]:8080 *              q=0
            | LISTEN 127.0.0.1:8080          *              q=1
            | ESTAB  127.0.0.1:8080          127.0.0.1:$C
            | ESTAB  127.0.0.1:$C            127.0.0.1:8080
    "),
    // s1 leaves no TIME-WAIT (tcp_max_tw_buckets=0) and the range is one port: s2 gets s1's
    // 4-tuple, and its SYN meets the server end s1 left in CLOSE-WAIT.
    applies(RuleId::TcpChallengeAck, "
        @sysctl net.ipv4.ip_local_port_range=40000 40000
        @sysctl net.ipv4.tcp_max_tw_buckets=0
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:5000)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:5000)             = 0
        close(s1)                               = 0
        s2 = socket(inet, nonblock)             = 0
        connect(s2, 127.0.0.1:5000)             = -1 EINPROGRESS
    "),

    // --- TIME-WAIT and FIN-WAIT-2 minisockets ----------------------------------------------
    applies(RuleId::TimeWaitOverflow, "
        @sysctl net.ipv4.tcp_max_tw_buckets=0
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080) local $C    = 0
        s2 = accept(s0)                         = 0
        close(s1)                               = 0  # no minisocket for the orphan
            | LISTEN     127.0.0.1:8080 *
            | CLOSE-WAIT 127.0.0.1:8080 127.0.0.1:$C
    "),
    // The server's TIME-WAIT holds 127.0.0.1:8080 -> :7000; a new client on :7000 reopens it.
    applies(RuleId::TimeWaitSynReopens, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.1:7000)                = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        close(s1)                               = 0
            | LISTEN    127.0.0.1:8080 *
            | TIME-WAIT 127.0.0.1:8080 127.0.0.1:7000
        s3 = socket(inet)                       = 0
        bind(s3, 127.0.0.1:7000)                = 0
        connect(s3, 127.0.0.1:8080)             = 0
    "),
    // The same, from a socket whose first connect() was refused: its SYN keeps the old ISN,
    // which may be behind the TIME-WAIT's rcv_nxt. Reopened at once, or ACKed, reset, and
    // reopened by the SYN sent again: connect() succeeds either way.
    applies(RuleId::TimeWaitSynKeptIsn, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.1:7000)                = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        close(s1)                               = 0
            | LISTEN    127.0.0.1:8080 *
            | TIME-WAIT 127.0.0.1:8080 127.0.0.1:7000
        s3 = socket(inet)                       = 0
        bind(s3, 127.0.0.1:7000)                = 0
        connect(s3, 127.0.0.1:9)                = -1 ECONNREFUSED
        connect(s3, 127.0.0.1:8080)             = 0
    "),
    // The old connection's ISN was the kept one: s1 listened and was shut down
    // (tcp_disconnect() left write_seq at 2) before it connected. A fresh SYN on the same
    // 4-tuple may then be behind the TIME-WAIT's rcv_nxt (no timestamps to tell).
    applies(RuleId::TimeWaitSynKeptIsn, "
        @variant connect_after_listen=connects
        @sysctl net.ipv4.tcp_timestamps=0
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.1:7000)                = 0
        listen(s1)                              = 0
        shutdown(s1, SHUT_RDWR)                 = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        close(s1)                               = 0
        s3 = socket(inet)                       = 0
        bind(s3, 127.0.0.1:7000)                = 0
        connect(s3, 127.0.0.1:8080)             = 0
    "),
    // No listener behind the TIME-WAIT: it answers the SYN with an ACK, the client's RST
    // ends it (and the resent SYN is refused).
    applies(RuleId::TimeWaitRstKills, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.1:7000)                = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        close(s1)                               = 0
        close(s0)                               = 0
        s3 = socket(inet)                       = 0
        bind(s3, 127.0.0.1:7000)                = 0
        connect(s3, 127.0.0.1:8080)             = -1 ECONNREFUSED
            | UNCONN 127.0.0.1:7000 *
    "),
    applies(RuleId::TimeWaitRstIgnored, "
        @sysctl net.ipv4.tcp_rfc1337=1
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.1:7000)                = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        close(s1)                               = 0
        close(s0)                               = 0
        s3 = socket(inet, nonblock)             = 0
        bind(s3, 127.0.0.1:7000)                = 0
        connect(s3, 127.0.0.1:8080)             = -1 EINPROGRESS
            | SYN-SENT  127.0.0.1:7000 127.0.0.1:8080
            | TIME-WAIT 127.0.0.1:8080 127.0.0.1:7000
    "),
    applies(RuleId::FinWait2MinisockData, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s1)                               = 0
        send(s2, 3)                             = 3
            | LISTEN 127.0.0.1:8080 *
    "),
    applies(RuleId::FinWait2MinisockFin, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s1)                               = 0
        close(s2)                               = 0
    "),

    // --- fixture ops, time, sysctls -------------------------------------------------
    // Two listeners of one SO_REUSEPORT group: the lookup may find the other one (ENOENT).
    applies(RuleId::DestroyReuseportLookup, "
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEPORT, 1)         = 0
        bind(s0, 0.0.0.0:5000)                  = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEPORT, 1)         = 0
        bind(s1, 0.0.0.0:5000)                  = 0
        listen(s1)                              = 0
        destroy(s1)                             = 0
    ").model_only(HASH_SALTED),
    decides(RuleId::DestroyOk, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        destroy(s1)                             = 0
    "),
    decides(RuleId::DestroyOk, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        close(s1)                               = 0
        close(s0)                               = 0
        destroy(s2)                             = 0  # the server's TIME-WAIT
            | (empty)
    "),
    // A TIME-WAIT reached in the accept queue carries the cookie the accepted socket has.
    decides(RuleId::DestroyOk, "
        s0 = socket(inet)                       = 0
        shutdown(s0, SHUT_WR)                   = -1 ENOTCONN
        bind(s0, 127.0.0.1:5000)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:5000)             = 0
        close(s1)                               = 0
        s2 = accept(s0)                         = 0
        destroy(s2)                             = 0
            | LISTEN 127.0.0.1:5000 *
    "),
    decides(RuleId::DestroyNoRow, "
        s0 = socket(inet)                       = 0
        destroy(s0)                             = -1 ENOENT
    "),
    decides(RuleId::SleepNothingDue, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        sleep(10ms)                             = 0
    "),
    decides(RuleId::TimeWaitExpires, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        close(s1)                               = 0
        close(s0)                               = 0
        sleep(59s)                              = 0
        sleep(1s)                               = 0
            | (empty)
    ").model_only(SIXTY_SECONDS),
    // The same for a TIME-WAIT entered from FIN-WAIT-2 by a socket whose descriptor is open
    // (tcp_time_wait(), not the minisocket's own FIN handling).
    decides(RuleId::TimeWaitExpires, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        shutdown(s2, SHUT_WR)                   = 0
        close(s1)                               = 0
        close(s0)                               = 0
        sleep(59s)                              = 0
        sleep(1s)                               = 0
            | (empty)
    ").model_only(SIXTY_SECONDS),
    // tcp_fin_timeout=1: the orphan's FIN-WAIT-2 minisocket lives 1 s.
    decides(RuleId::FinWait2Expires, "
        @sysctl net.ipv4.tcp_fin_timeout=1
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080) local $C    = 0
        s2 = accept(s0)                         = 0
        close(s1)                               = 0
        sleep(1500ms)                           = 0
            | LISTEN     127.0.0.1:8080 *
            | CLOSE-WAIT 127.0.0.1:8080 127.0.0.1:$C
    "),
    // TCP_LINGER2 of 90 s: 30 s on the full orphan, then a FIN-WAIT-2 minisocket for the rest.
    decides(RuleId::FinWait2Expires, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080) local $C    = 0
        s2 = accept(s0)                         = 0
        setsockopt(s1, TCP_LINGER2, 90)         = 0
        close(s1)                               = 0
        sleep(30s)                              = 0
    ").model_only("a 90 s orphan timeout is too slow for the fast lane"),
    decides(RuleId::SysctlSet, "
        sysctl(net.ipv4.tcp_tw_reuse=1)         = 0
    "),
    decides(RuleId::PeerVanished, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        peer_vanishes(s1)                       = 0
    "),
    // The far end disappears without a word: the next segment meets a host that knows no such
    // connection and is answered with RST.
    applies(RuleId::PeerRebooted, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080) local $C    = 0
        s2 = accept(s0)                         = 0
        peer_reboots(s1)                        = 0
            | LISTEN 127.0.0.1:8080 *
            | ESTAB  127.0.0.1:$C   127.0.0.1:8080
    "),
    decides(RuleId::SysctlRefused, "
        sysctl(net.ipv4.ip_unprivileged_port_start=2000) = 0
        sysctl(net.ipv4.ip_local_port_range=1024 4000)   = -1 EINVAL
    "),
    decides(RuleId::ConnectLoopbackSource, "
        @hosts 2
        s0 = socket(inet, host=b)               = 0
        bind(s0, 10.0.0.2:8080)                 = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.1:7000)                = 0
        connect(s1, 10.0.0.2:8080)              = -1 EINVAL
    "),

    // --- timers against a silent peer (seconds of real time; the kernel rows run in parallel)
    decides(RuleId::KeepaliveTimesOut, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080) local $C    = 0
        s2 = accept(s0)                         = 0
        setsockopt(s1, SO_KEEPALIVE, 1)         = 0
        setsockopt(s1, TCP_KEEPINTVL, 1)        = 0
        setsockopt(s1, TCP_KEEPCNT, 1)          = 0
        setsockopt(s1, TCP_KEEPIDLE, 1)         = 0
        peer_vanishes(s1)                       = 0
        sleep(2500ms)                           = 0
            | LISTEN 127.0.0.1:8080 *
    "),
    decides(RuleId::UserTimeoutExpires, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        setsockopt(s1, TCP_USER_TIMEOUT, 500)   = 0
        peer_vanishes(s1)                       = 0
        send(s1, 5)                             = 5
        sleep(1s)                               = 0
            | LISTEN 127.0.0.1:8080 *
            | ESTAB  127.0.0.1:8080 127.0.0.1:$C
    "),
    // The peer's host forgot the connection: the first keepalive probe meets RST.
    decides(RuleId::KeepaliveProbeReset, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080) local $C    = 0
        s2 = accept(s0)                         = 0
        setsockopt(s1, SO_KEEPALIVE, 1)         = 0
        setsockopt(s1, TCP_KEEPIDLE, 1)         = 0
        peer_reboots(s1)                        = 0
        sleep(1500ms)                           = 0
            | LISTEN 127.0.0.1:8080 *
    "),
    // Nagle against a silent peer: the second small segment waits for an ACK that never
    // comes (the tail loss probe pushes it out one RTO later).
    applies(RuleId::TcpHeldUnacked, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080) local $C    = 0
        s2 = accept(s0)                         = 0
        peer_vanishes(s1)                       = 0
        send(s1, 5)                             = 5
        send(s1, 5)                             = 5
    "),
    decides(RuleId::TcpHeldUnacked, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080) local $C    = 0
        s2 = accept(s0)                         = 0
        peer_vanishes(s1)                       = 0
        send(s1, 5)                             = 5
        send(s1, 5)                             = 5
        recv(s2, 64)                            = 5
        sleep(300ms)                            = 0
            | LISTEN 127.0.0.1:8080 *
            | ESTAB  127.0.0.1:8080 127.0.0.1:$C
            | ESTAB  127.0.0.1:$C   127.0.0.1:8080
    "),
    // 6.1: a blocking self-connect whose connection closes at once (destroy()'s shutdown bits
    // send a FIN) may be woken at ESTABLISHED and return 0, or find CLOSE: ECONNABORTED (6.18:
    // always ECONNABORTED).
    applies(RuleId::ConnectWokenBeforeClose, "
        @profile linux-6.1
        s0 = socket(inet6)                      = 0
        bind(s0, [::ffff:0.0.0.0]:0)            = 0
        listen(s0)                              = 0
        destroy(s0)                             = 0
        bind(s0, [::]:5000)                     = 0
        connect(s0, [::1]:5000)                 = -1 ECONNABORTED
    ").model_only(OTHER_KERNEL),
    decides(RuleId::SynRetransmitted, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        peer_vanishes(s0)                       = 0
        s1 = socket(inet, nonblock)             = 0
        connect(s1, 127.0.0.1:8080) local $C    = -1 EINPROGRESS
        sleep(1500ms)                           = 0
            | LISTEN   127.0.0.1:8080 *
            | SYN-SENT 127.0.0.1:$C   127.0.0.1:8080
    "),
    // A TCP_USER_TIMEOUT already spent when set is noticed at the next SYN retransmission:
    // at 2 s where the first four keep the initial RTO (syn_backoff=linear_first_4, 6.5+),
    // at 3 s where the RTO doubles from the first (before 6.5).
    decides(RuleId::ConnectPendingError, "
        @variant syn_backoff=linear_first_4
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        peer_vanishes(s0)                       = 0
        s1 = socket(inet, nonblock)             = 0
        connect(s1, 127.0.0.1:8080)             = -1 EINPROGRESS
        sleep(1500ms)                           = 0
        setsockopt(s1, TCP_USER_TIMEOUT, 1000)  = 0
        sleep(800ms)                            = 0
        connect(s1, 127.0.0.1:8080)             = -1 ETIMEDOUT
    "),
    decides(RuleId::ConnectAlready, "
        @variant syn_backoff=exponential
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        peer_vanishes(s0)                       = 0
        s1 = socket(inet, nonblock)             = 0
        connect(s1, 127.0.0.1:8080)             = -1 EINPROGRESS
        sleep(1500ms)                           = 0
        setsockopt(s1, TCP_USER_TIMEOUT, 1000)  = 0
        sleep(800ms)                            = 0
        connect(s1, 127.0.0.1:8080)             = -1 EALREADY
    "),
    decides(RuleId::SynRetriesExhausted, "
        @sysctl net.ipv4.tcp_syn_retries=1
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        peer_vanishes(s0)                       = 0
        s1 = socket(inet, nonblock)             = 0
        connect(s1, 127.0.0.1:8080)             = -1 EINPROGRESS
        sleep(3500ms)                           = 0
            | LISTEN   127.0.0.1:8080 *
    "),
    // --- other operating systems (from source and documentation; model only) ----------------
    // FreeBSD in_pcbbind_setup(): without reuse options any overlapping PCB conflicts.
    decides(RuleId::BsdBindInUse, "
        @profile freebsd-14
        s0 = socket(inet)                       = 0
        bind(s0, 0.0.0.0:8080)                  = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.1:8080)                = -1 EADDRINUSE
    ").model_only(OTHER_OS),
    decides(RuleId::OsBindPortFree, "
        @profile freebsd-14
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
    ").model_only(OTHER_OS),
    // The known difference: SO_REUSEADDR on the new socket alone, a specific address beside a
    // listening wildcard (Linux: EADDRINUSE, bind.reuseaddr.never_over_listen).
    decides(RuleId::BsdBindReuseExactOnly, "
        @profile freebsd-14
        s0 = socket(inet)                       = 0
        bind(s0, 0.0.0.0:8080)                  = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEADDR, 1)         = 0
        bind(s1, 127.0.0.1:8080)                = 0
    ").model_only(OTHER_OS),
    decides(RuleId::BsdBindReuseExactOnly, "
        @profile macos-15
        s0 = socket(inet)                       = 0
        bind(s0, 0.0.0.0:8080)                  = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEADDR, 1)         = 0
        bind(s1, 127.0.0.1:8080)                = 0
    ").model_only(OTHER_OS),
    // True duplicates need SO_REUSEPORT: SO_REUSEADDR on both is not enough (Linux: allowed).
    decides(RuleId::BsdBindExactDuplicate, "
        @profile freebsd-14
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEADDR, 1)         = 0
        bind(s0, 127.0.0.1:8080)                = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEADDR, 1)         = 0
        bind(s1, 127.0.0.1:8080)                = -1 EADDRINUSE
    ").model_only(OTHER_OS),
    decides(RuleId::BsdBindReusePortBoth, "
        @profile freebsd-14
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEPORT, 1)         = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEPORT, 1)         = 0
        bind(s1, 127.0.0.1:8080)                = 0
    ").model_only(OTHER_OS),
    decides(RuleId::BsdBindReusePortLbBoth, "
        @profile freebsd-14
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEPORT_LB, 1)      = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEPORT_LB, 1)      = 0
        bind(s1, 127.0.0.1:8080)                = 0
    ").model_only(OTHER_OS),
    decides(RuleId::BsdBindOtherUid, "
        @profile freebsd-14
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEPORT, 1)         = 0
        bind(s0, 127.0.0.1:8080)                = 0
        s1 = socket(inet, euid=65534)           = 0
        setsockopt(s1, SO_REUSEPORT, 1)         = 0
        bind(s1, 127.0.0.1:8080)                = -1 EADDRINUSE
    ").model_only(OTHER_OS),
    decides(RuleId::BsdBindDualStackBesideV4, "
        @profile freebsd-14
        s0 = socket(inet)                       = 0
        bind(s0, 0.0.0.0:8080)                  = 0
        s1 = socket(inet6)                      = 0
        setsockopt(s1, IPV6_V6ONLY, 0)          = 0
        bind(s1, [::]:8080)                     = 0
    ").model_only(OTHER_OS),
    decides(RuleId::BsdBindReservedPort, "
        @profile freebsd-14
        s0 = socket(inet, euid=65534)           = 0
        bind(s0, 0.0.0.0:80)                    = -1 EACCES
    ").model_only(OTHER_OS),
    decides(RuleId::BsdBindEphemeral, "
        @profile freebsd-14
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:$P)                  = 0
    ").model_only(OTHER_OS),
    decides(RuleId::BsdBindEphemeralExhausted, "
        @profile freebsd-14
        @sysctl net.inet.ip.portrange.first=40000
        @sysctl net.inet.ip.portrange.last=40000
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:$P)                  = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.1:$Q)                  = -1 EADDRNOTAVAIL
    ").model_only(OTHER_OS),
    decides(RuleId::ListenNoRecheck, "
        @profile freebsd-14
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
    ").model_only(OTHER_OS),
    // No tw_reuse, no takeover: an explicit bind + connect onto a TIME-WAIT 4-tuple (two hosts:
    // FreeBSD keeps no TIME-WAIT for a local peer).
    decides(RuleId::BsdConnectTupleInUse, "
        @profile freebsd-14
        @hosts 2
        s0 = socket(inet, host=b)               = 0
        bind(s0, 10.0.0.2:5000)                 = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        bind(s1, 10.0.0.1:6000)                 = 0
        connect(s1, 10.0.0.2:5000)              = 0
        s2 = accept(s0)                         = 0
        close(s1)                               = 0
        close(s2)                               = 0
        s3 = socket(inet)                       = 0
        setsockopt(s3, SO_REUSEADDR, 1)         = 0
        bind(s3, 10.0.0.1:6000)                 = 0
        connect(s3, 10.0.0.2:5000)              = -1 EADDRINUSE
    ").model_only(OTHER_OS),
    applies(RuleId::BsdConnectAutobind, "
        @profile freebsd-14
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:5000)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:5000)             = 0
    ").model_only(OTHER_OS),
    applies(RuleId::NoShareConnectAutobind, "
        @profile macos-15
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:5000)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:5000)             = 0
    ").model_only(OTHER_OS),
    applies(RuleId::FreeBsdNoLocalTimeWait, "
        @profile freebsd-14
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:5000)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:5000)             = 0
        s2 = accept(s0)                         = 0
        close(s1)                               = 0
        close(s2)                               = 0
    ").model_only(OTHER_OS),
    // TIME-WAIT is 2 x msl: 30 s on macOS (Linux: 60 s).
    applies(RuleId::BsdTimeWaitExpires, "
        @profile macos-15
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:5000)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:5000)             = 0
        s2 = accept(s0)                         = 0
        close(s1)                               = 0
        close(s2)                               = 0
        sleep(31s)                              = 0
    ").model_only(OTHER_OS),
    applies(RuleId::BsdTimeWaitRstIgnored, "
        @profile macos-15
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.1:7000)                = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        close(s1)                               = 0
        close(s0)                               = 0
        s3 = socket(inet, nonblock)             = 0
        bind(s3, 127.0.0.1:7000)                = 0
        connect(s3, 127.0.0.1:8080)             = -1 EINPROGRESS
    ").model_only(OTHER_OS),
    applies(RuleId::WinTimeWaitExpires, "
        @profile windows-11
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:5000)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:5000)             = 0
        s2 = accept(s0)                         = 0
        shutdown(s1, SHUT_WR)                   = 0
        close(s2)                               = 0
        sleep(241s)                             = 0
    ").model_only(OTHER_OS),
    applies(RuleId::FreeBsdCloseUnreadData, "
        @profile freebsd-14
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:5000)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:5000)             = 0
        s2 = accept(s0)                         = 0
        send(s1, 5)                             = 5
        close(s2)                               = 0
    ").model_only(OTHER_OS),
    applies(RuleId::FreeBsdOrphanFinWait2, "
        @profile freebsd-14
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:5000)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:5000)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
    ").model_only(OTHER_OS),
    applies(RuleId::FreeBsdFinWait2Expires, "
        @profile freebsd-14
        @sysctl net.inet.tcp.fast_finwait2_recycle=1
        @sysctl net.inet.tcp.finwait2_timeout=2000
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:5000)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:5000)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        sleep(3s)                               = 0
    ").model_only(OTHER_OS),
    applies(RuleId::MacOsOrphanFinWait2, "
        @profile macos-15
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:5000)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:5000)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
    ").model_only(OTHER_OS),
    applies(RuleId::MacOsFinWait2ExpiresRst, "
        @profile macos-15
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:5000)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:5000)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        sleep(61s)                              = 0
    ").model_only(OTHER_OS),
    decides(RuleId::SetsockoptNotOnOs, "
        @profile freebsd-14
        s0 = socket(inet)                       = 0
        setsockopt(s0, TCP_LINGER2, 5)          = -1 ENOPROTOOPT
    ").model_only(OTHER_OS),
    decides(RuleId::SetsockoptExclusiveWithReuseAddr, "
        @profile windows-11
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEADDR, 1)         = 0
        setsockopt(s0, SO_EXCLUSIVEADDRUSE, 1)  = -1 EINVAL
    ").model_only(OTHER_OS),
    decides(RuleId::NotModelled, "
        @profile freebsd-14
        s0 = socket(inet)                       = 0
        destroy(s0)                             = -1 ENOSYS
    ").model_only(OTHER_OS),
    // Windows' sharing table ("Sharing Transport Addresses").
    decides(RuleId::WinBindSuccess, "
        @profile windows-11
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        s1 = socket(inet)                       = 0
        bind(s1, 0.0.0.0:8080)                  = 0
    ").model_only(OTHER_OS),
    decides(RuleId::WinBindInUse, "
        @profile windows-11
        s0 = socket(inet)                       = 0
        bind(s0, 0.0.0.0:8080)                  = 0
        s1 = socket(inet)                       = 0
        bind(s1, 0.0.0.0:8080)                  = -1 EADDRINUSE
    ").model_only(OTHER_OS),
    decides(RuleId::WinBindDenied, "
        @profile windows-11
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_EXCLUSIVEADDRUSE, 1)  = 0
        bind(s0, 0.0.0.0:8080)                  = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEADDR, 1)         = 0
        bind(s1, 0.0.0.0:8080)                  = -1 EACCES
    ").model_only(OTHER_OS),
    decides(RuleId::WinBindCheckSameUser, "
        @profile windows-11
        s0 = socket(inet)                       = 0
        bind(s0, 0.0.0.0:8080)                  = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.1:8080)                = 0
    ").model_only(OTHER_OS),
    decides(RuleId::WinBindCheckOtherUser, "
        @profile windows-11
        s0 = socket(inet)                       = 0
        bind(s0, 0.0.0.0:8080)                  = 0
        s1 = socket(inet, euid=65534)           = 0
        bind(s1, 127.0.0.1:8080)                = -1 EACCES
    ").model_only(OTHER_OS),
];
/// How long a scenario sleeps in all.
fn slept_ms(sc: &Scenario) -> u64 {
    sc.steps
        .iter()
        .map(|step| match step.op {
            tcpconform_model::Op::Sleep { ms } => ms,
            _ => 0,
        })
        .sum()
}

/// A row's scenario, parsed; panics with the row's name on a malformed row.
fn parse_row(i: usize, row: &Row) -> Scenario {
    let sc = scenario::parse(row.scn, Some(&name(i, row)))
        .unwrap_or_else(|e| panic!("{}: malformed row: {e}", name(i, row)));
    let last = sc
        .steps
        .last()
        .unwrap_or_else(|| panic!("{}: no calls", name(i, row)));
    assert!(
        last.expect
            .as_ref()
            .is_some_and(|e| e.len() == 1 && e[0].exact().is_some()),
        "{}: the last call must have exactly one expected result",
        name(i, row)
    );
    sc
}

/// `row N (rule.id)`: how failures name a row.
fn name(i: usize, row: &Row) -> String {
    format!("row {i} ({})", row.rule)
}

/// The expected result of the last call.
fn last_expected(sc: &Scenario) -> Outcome {
    sc.steps
        .last()
        .and_then(|s| s.expect.as_ref())
        .and_then(|e| e[0].exact())
        .expect("checked by parse_row")
}

#[test]
fn every_rule_is_pinned_by_a_test() {
    let pinned: BTreeSet<RuleId> = ROWS.iter().map(|r| r.rule).collect();
    let missing: Vec<&str> = RuleId::ALL
        .iter()
        .filter(|r| !pinned.contains(r))
        .map(|r| r.id())
        .collect();
    assert!(
        missing.is_empty(),
        "rules with no row in tests/rules.rs: {}",
        missing.join(", ")
    );
}

/// Every value of every behaviour variant is pinned by a row (`@variant NAME=VALUE`), so that
/// the model's answer under each value is checked, and on a kernel with that value, the
/// kernel's.
#[test]
fn every_variant_value_is_pinned_by_a_row() {
    let mut missing = Vec::new();
    for v in Variant::ALL {
        for value in [0, 1] {
            let pinned = ROWS.iter().enumerate().any(|(i, row)| {
                parse_row(i, row)
                    .variants
                    .iter()
                    .any(|s| s.variant == *v && s.value == value)
            });
            if !pinned {
                missing.push(format!("{v}={}", v.spec().values[usize::from(value)]));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "variant values with no row: {}",
        missing.join(", ")
    );
}

#[test]
fn every_row_is_well_formed_and_model_only_rows_say_why() {
    for (i, row) in ROWS.iter().enumerate() {
        parse_row(i, row);
        if let Lane::ModelOnly(why) = row.lane {
            assert!(
                !why.trim().is_empty(),
                "{}: a model-only row says why",
                name(i, row)
            );
        }
    }
}

#[test]
fn every_row_holds_on_the_model() {
    let mut failures = String::new();
    for (i, row) in ROWS.iter().enumerate() {
        let mut sc = parse_row(i, row);
        let want = last_expected(&sc);
        // The model's own answer to the last call (`Model::step`, its first branch), not the
        // branch that happens to give the expected result.
        if let Some(last) = sc.steps.last_mut() {
            last.expect = None;
        }
        let report = replay::predict(&sc, Profile::LINUX_6_18);
        let problem = check_last(&report, want, row.pin(), "row");
        // The refusal's own row passes by being refused (predict reports it as unmet).
        let refused_as_pinned = row.rule == RuleId::NotModelled && report.unmet.len() == 1;
        if problem.is_some() || (!report.passed() && !refused_as_pinned) {
            let _ = writeln!(
                failures,
                "{}: {}\n{}",
                name(i, row),
                problem.unwrap_or_default(),
                report.render(&name(i, row))
            );
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

#[test]
fn every_kernel_row_holds_on_the_kernel_and_agrees_with_the_model() {
    if !sandbox::on_os_or_skip(
        "every_kernel_row_holds_on_the_kernel_and_agrees_with_the_model",
        tcpconform_model::profile::Os::Linux,
        "the rule table's kernel rows are Linux's",
    ) {
        return;
    }
    if !sandbox::kernel_or_skip("every_kernel_row_holds_on_the_kernel_and_agrees_with_the_model") {
        return;
    }
    let profile = kernel::running_profile().expect("the running kernel has a version");
    let started = std::time::Instant::now();
    // Rows are independent namespaces. The timer rows mostly sleep: each runs on a thread of
    // its own beside the others, which run one after another on one more thread (run side by
    // side, their millisecond timer edges would meet a loaded machine).
    type Rows<'a> = Vec<(usize, &'a Row)>;
    // Rows pinned to variant values this kernel does not have are for another kernel: the
    // model checks them (every_row_holds_on_the_model), this kernel cannot.
    let (here, elsewhere): (Rows, Rows) = ROWS
        .iter()
        .enumerate()
        .filter(|(_, row)| row.lane == Lane::Kernel)
        .partition(|(i, row)| parse_row(*i, row).is_for(profile));
    for (i, row) in &elsewhere {
        println!(
            "{}: written for another kernel ({}), model only here",
            name(*i, row),
            parse_row(*i, row)
                .variants
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let (sleepy, quick): (Rows, Rows) = here
        .into_iter()
        .partition(|(i, row)| slept_ms(&parse_row(*i, row)) >= 1000);
    let results = std::sync::Mutex::new(Vec::new());
    let run = |i: usize, row: &Row| {
        let sc = parse_row(i, row);
        let want = last_expected(&sc);
        let outcome = replay_pinned(&sc, profile, want, row.pin(), "row", &name(i, row));
        results.lock().unwrap().push((i, outcome));
    };
    std::thread::scope(|scope| {
        for &(i, row) in &sleepy {
            scope.spawn(move || run(i, row));
        }
        scope.spawn(|| {
            for &(i, row) in &quick {
                run(i, row);
            }
        });
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    let ran = results.len();
    let mut failures = String::new();
    for (i, outcome) in results {
        let row = &ROWS[i];
        let (problem, report) = outcome
            .unwrap_or_else(|e| panic!("{}: the harness could not run it: {e}", name(i, row)));
        if problem.is_some() || !report.passed() {
            let _ = writeln!(
                failures,
                "{}: {}\n{}",
                name(i, row),
                problem.unwrap_or_default(),
                report.render(&name(i, row))
            );
        }
    }
    println!(
        "{ran} of {} rows replayed on {profile} in {:.1}s",
        ROWS.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{failures}");
}
