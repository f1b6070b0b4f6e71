//! The rule table's rows on `close()` (see `tests/rules.rs`).

use tcpconform_model::RuleId;

use super::{Row, applies, decides};

#[rustfmt::skip]
pub(super) static ROWS: &[Row] = &[
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
];
