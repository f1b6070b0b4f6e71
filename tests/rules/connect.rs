//! The rule table's rows on `connect()` (see `tests/rules.rs`).

use tcpconform_model::RuleId;

use super::{Row, applies, decides};

#[rustfmt::skip]
pub(super) static ROWS: &[Row] = &[
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
];
