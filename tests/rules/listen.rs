//! The rule table's rows on `listen()` (see `tests/rules.rs`).

use tcpconform_model::RuleId;

use super::{Row, decides};

#[rustfmt::skip]
pub(super) static ROWS: &[Row] = &[
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
];
