//! The rule table's rows on `shutdown()` (see `tests/rules.rs`).

use tcpconform_model::RuleId;

use super::{Row, decides};

#[rustfmt::skip]
pub(super) static ROWS: &[Row] = &[
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
];
