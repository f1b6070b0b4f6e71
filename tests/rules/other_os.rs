//! The rule table's rows on other operating systems (from source and documentation; model only) (see `tests/rules.rs`).

use tcpconform_model::RuleId;

use super::{OTHER_OS, Row, applies, decides};

#[rustfmt::skip]
pub(super) static ROWS: &[Row] = &[
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
