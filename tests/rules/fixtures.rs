//! The rule table's rows on fixture ops, time, sysctls (see `tests/rules.rs`).

use tcpconform_model::RuleId;

use super::{HASH_SALTED, Row, SIXTY_SECONDS, applies, decides};

#[rustfmt::skip]
pub(super) static ROWS: &[Row] = &[
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
];
