//! The rule table's rows on timers against a silent peer (seconds of real time) (see `tests/rules.rs`).

use tcpconform_model::RuleId;

use super::{OTHER_KERNEL, Row, applies, decides};

#[rustfmt::skip]
pub(super) static ROWS: &[Row] = &[
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
];
