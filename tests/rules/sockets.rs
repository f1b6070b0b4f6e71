//! The rule table's rows on descriptors, `socket()`, `setsockopt()`, `getsockopt()` (see `tests/rules.rs`).

use tcpconform_model::RuleId;

use super::{Row, decides};

#[rustfmt::skip]
pub(super) static ROWS: &[Row] = &[
    // --- descriptors, socket(), setsockopt(), getsockopt() ---------------------------------
    decides(RuleId::FdClosed, "
        s0 = socket(inet)                       = 0
        close(s0)                               = 0
        bind(s0, 127.0.0.1:8080)                = -1 EBADF
    "),
    decides(RuleId::SocketCreated, "
        s0 = socket(inet6)                      = 0
    "),
    decides(RuleId::SetsockoptOk, "
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEADDR, 1)         = 0
    "),
    decides(RuleId::SetsockoptV6OnlyBound, "
        s0 = socket(inet6)                      = 0
        bind(s0, [::]:8080)                     = 0
        setsockopt(s0, IPV6_V6ONLY, 1)          = -1 EINVAL
    "),
    decides(RuleId::SetsockoptWrongLevel, "
        s0 = socket(inet)                       = 0
        setsockopt(s0, IPV6_V6ONLY, 1)          = -1 ENOPROTOOPT
    "),
    decides(RuleId::SetsockoptBadValue, "
        s0 = socket(inet)                       = 0
        setsockopt(s0, TCP_KEEPIDLE, 0)         = -1 EINVAL
    "),
    decides(RuleId::SoErrorRead, "
        s0 = socket(inet, nonblock)             = 0
        connect(s0, 127.0.0.1:9)                = -1 EINPROGRESS
        getsockopt(s0, SO_ERROR)                = [ECONNREFUSED]
    "),
];
