//! The rule table's rows on segments (see `tests/rules.rs`).

use tcpconform_model::RuleId;

use super::{Row, applies};

#[rustfmt::skip]
pub(super) static ROWS: &[Row] = &[
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
];
