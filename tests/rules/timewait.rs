//! The rule table's rows on TIME-WAIT and FIN-WAIT-2 minisockets (see `tests/rules.rs`).

use tcpconform_model::RuleId;

use super::{Row, applies};

#[rustfmt::skip]
pub(super) static ROWS: &[Row] = &[
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
];
