//! The rule table's rows on `bind()`: its argument and state checks, the conflict check, port 0 (see `tests/rules.rs`).

use tcpconform_model::RuleId;

use super::{Row, decides};

#[rustfmt::skip]
pub(super) static ROWS: &[Row] = &[
    // --- bind(): argument and state checks -------------------------------------------------
    decides(RuleId::BindFamilyMismatch, "
        s0 = socket(inet)                       = 0
        bind(s0, [::1]:8080)                    = -1 EAFNOSUPPORT
    "),
    decides(RuleId::BindFamilyMismatch, "
        s0 = socket(inet6)                      = 0
        bind(s0, 127.0.0.1:8080)                = -1 EINVAL
    "),
    decides(RuleId::BindAddrNotLocal, "
        s0 = socket(inet)                       = 0
        bind(s0, 10.9.9.9:8080)                 = -1 EADDRNOTAVAIL
    "),
    decides(RuleId::BindAddrNotLocal, "
        s0 = socket(inet6)                      = 0
        bind(s0, [fd00::9]:8080)                = -1 EADDRNOTAVAIL
    "),
    // bind() checks the caller's CAP_NET_BIND_SERVICE; the harness calls on a socket created
    // with euid=65534 as that uid.
    decides(RuleId::BindPrivilegedPort, "
        s0 = socket(inet, euid=65534)           = 0
        bind(s0, 127.0.0.1:80)                  = -1 EACCES
    "),
    decides(RuleId::BindPortFree, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:80)                  = 0
    "),
    decides(RuleId::BindAlreadyBound, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        bind(s0, 127.0.0.1:8081)                = -1 EINVAL
    "),
    decides(RuleId::BindMappedOnV6Only, "
        s0 = socket(inet6)                      = 0
        setsockopt(s0, IPV6_V6ONLY, 1)          = 0
        bind(s0, [::ffff:127.0.0.1]:8080)       = -1 EINVAL
    "),

    // --- bind(): the conflict check ------------------------------------------------------
    decides(RuleId::BindPortFree, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.2:8080)                = 0  # another address: no overlap
    "),
    decides(RuleId::BindConflict, "
        s0 = socket(inet)                       = 0
        bind(s0, 0.0.0.0:8080)                  = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEADDR, 1)         = 0  # on the new socket alone: no help
        bind(s1, 127.0.0.1:8080)                = -1 EADDRINUSE
    "),
    decides(RuleId::BindReuseAddrBoth, "
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEADDR, 1)         = 0
        bind(s0, 127.0.0.1:8080)                = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEADDR, 1)         = 0
        bind(s1, 127.0.0.1:8080)                = 0
    "),
    decides(RuleId::BindReuseAddrOverListener, "
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEADDR, 1)         = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEADDR, 1)         = 0
        bind(s1, 127.0.0.1:8080)                = -1 EADDRINUSE
    "),
    // The server closes first, so the TIME-WAIT is on the server's port, with the listener's
    // flags (none); SO_REUSEADDR on the new socket alone does not pass it.
    decides(RuleId::BindTimeWaitNeedsReuseAddrOnBoth, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        close(s1)                               = 0
        close(s0)                               = 0
        s3 = socket(inet)                       = 0
        setsockopt(s3, SO_REUSEADDR, 1)         = 0
        bind(s3, 127.0.0.1:8080)                = -1 EADDRINUSE
    "),
    // A wildcard over a specific address: the bucket's cache (from 127.0.0.1) does not cover
    // it, so the owners are checked and SO_REUSEPORT passes.
    decides(RuleId::BindReusePortSameUid, "
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEPORT, 1)         = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEPORT, 1)         = 0
        bind(s1, 0.0.0.0:8080)                  = 0
    "),
    // A TIME-WAIT of an SO_REUSEPORT socket created by another user: no uid check.
    decides(RuleId::BindReusePortSameUid, "
        s0 = socket(inet, euid=65534)           = 0
        setsockopt(s0, SO_REUSEPORT, 1)         = 0
        bind(s0, 127.0.0.1:8080)                = 0
        listen(s0)                              = 0
        s1 = socket(inet)                       = 0
        connect(s1, 127.0.0.1:8080)             = 0
        s2 = accept(s0)                         = 0
        close(s2)                               = 0
        close(s1)                               = 0
        close(s0)                               = 0
        s3 = socket(inet)                       = 0
        setsockopt(s3, SO_REUSEPORT, 1)         = 0
        bind(s3, 127.0.0.1:8080)                = 0
    "),
    decides(RuleId::BindReusePortOtherUid, "
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEPORT, 1)         = 0
        bind(s0, 127.0.0.1:8080)                = 0
        s1 = socket(inet, euid=65534)           = 0
        setsockopt(s1, SO_REUSEPORT, 1)         = 0
        bind(s1, 127.0.0.1:8080)                = -1 EADDRINUSE
    "),
    // 6.18: the bucket cached s0's SO_REUSEPORT (FASTREUSEPORT_STRICT) and still trusts it
    // after s0 dropped the option; checking the owners would refuse s1.
    decides(RuleId::BindFastReuseCache, "
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEPORT, 1)         = 0
        bind(s0, 127.0.0.1:8080)                = 0
        setsockopt(s0, SO_REUSEPORT, 0)         = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEPORT, 1)         = 0
        bind(s1, 127.0.0.1:8080)                = 0
    "),
    // 6.1: the first owner's SO_REUSEADDR is cached in the bucket (fastreuse) and trusted after
    // the owner dropped it.
    decides(RuleId::BindFastReuseCache, "
        @variant fastreuse_cache=from_first_owner
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEADDR, 1)         = 0
        bind(s0, 127.0.0.1:8080)                = 0
        setsockopt(s0, SO_REUSEADDR, 0)         = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEADDR, 1)         = 0
        bind(s1, 127.0.0.1:8080)                = 0
    "),
    // Since 6.8 (fastreuse_cache=owners_checked) the cache is never set from the first owner:
    // the owners are checked, and s0 no longer has SO_REUSEADDR.
    decides(RuleId::BindConflict, "
        @variant fastreuse_cache=owners_checked
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEADDR, 1)         = 0
        bind(s0, 127.0.0.1:8080)                = 0
        setsockopt(s0, SO_REUSEADDR, 0)         = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEADDR, 1)         = 0
        bind(s1, 127.0.0.1:8080)                = -1 EADDRINUSE
    "),
    // 6.1 (mapped_bind_wildcard=misses_mapped_wildcard): a v4-mapped specific bind looks in
    // bhash2 only, and misses the AF_INET6 bucket of [::ffff:0.0.0.0].
    decides(RuleId::BindPortFree, "
        @variant mapped_bind_wildcard=misses_mapped_wildcard
        s0 = socket(inet6)                      = 0
        bind(s0, [::ffff:0.0.0.0]:8080)         = 0
        s1 = socket(inet6)                      = 0
        bind(s1, [::ffff:127.0.0.1]:8080)       = 0
    "),
    decides(RuleId::BindConflict, "
        @variant mapped_bind_wildcard=sees_mapped_wildcard
        s0 = socket(inet6)                      = 0
        bind(s0, [::ffff:0.0.0.0]:8080)         = 0
        s1 = socket(inet6)                      = 0
        bind(s1, [::ffff:127.0.0.1]:8080)       = -1 EADDRINUSE
    "),
    // Bound, unconnected sockets are in sock_diag's dump since 6.8 (diag_bound_sockets).
    decides(RuleId::BindPortFree, "
        @variant diag_bound_sockets=dumped
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
            | UNCONN 127.0.0.1:8080 *
    "),
    decides(RuleId::BindPortFree, "
        @variant diag_bound_sockets=hidden
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:8080)                = 0
            | (empty)
    "),

    // --- bind(): port 0 ------------------------------------------------------------------
    decides(RuleId::BindEphemeral, "
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:$P)                  = 0
    "),
    decides(RuleId::BindEphemeralExhausted, "
        @sysctl net.ipv4.ip_local_port_range=40000 40001
        s0 = socket(inet)                       = 0
        bind(s0, 127.0.0.1:$A)                  = 0
        s1 = socket(inet)                       = 0
        bind(s1, 127.0.0.1:$B)                  = 0
        s2 = socket(inet)                       = 0
        bind(s2, 127.0.0.1:$C)                  = -1 EADDRINUSE
    "),
    decides(RuleId::BindEphemeralAutobindReuse, "
        @sysctl net.ipv4.ip_local_port_range=40000 40001
        @sysctl net.ipv4.ip_autobind_reuse=1
        s0 = socket(inet)                       = 0
        setsockopt(s0, SO_REUSEADDR, 1)         = 0
        bind(s0, 127.0.0.1:$A)                  = 0
        s1 = socket(inet)                       = 0
        setsockopt(s1, SO_REUSEADDR, 1)         = 0
        bind(s1, 127.0.0.1:$B)                  = 0
        s2 = socket(inet)                       = 0
        setsockopt(s2, SO_REUSEADDR, 1)         = 0
        bind(s2, 127.0.0.1:$C)                  = 0
    "),
    decides(RuleId::BindAddressNoPort, "
        s0 = socket(inet)                       = 0
        setsockopt(s0, IP_BIND_ADDRESS_NO_PORT, 1) = 0
        bind(s0, 127.0.0.1:0)                   = 0
            | (empty)
    "),
];
