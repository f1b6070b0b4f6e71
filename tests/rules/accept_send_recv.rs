//! The rule table's rows on `accept()`, `send()`, `recv()` (see `tests/rules.rs`).

use tcpconform_model::RuleId;

use super::{Row, decides};

#[rustfmt::skip]
pub(super) static ROWS: &[Row] = &[
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
];
