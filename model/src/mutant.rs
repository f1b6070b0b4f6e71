//! Deliberate faults for the mutation self-test: each [`Mutant`] changes one decision of the
//! engine, at the place where the kernel makes it, the way a real regression or a common
//! misunderstanding of the rules would. The harness switches one on
//! ([`crate::Model::with_mutant`]), runs the ordinary campaign against the kernel, and checks
//! that the campaign notices.
//!
//! With no mutant on (the default) the engine's behaviour is unchanged: every hook is a test of
//! `Option<Mutant>` against one variant, marked `// Mutant::…` at its place.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! mutants {
    ($($(#[$doc:meta])* $variant:ident = $name:literal : $what:literal,)*) => {
        /// A fault that can be switched on in the model.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(into = "&'static str", try_from = "String")]
        pub enum Mutant {
            $($(#[$doc])* $variant,)*
        }

        impl Mutant {
            /// Every mutant, in declaration order.
            pub const ALL: &'static [Mutant] = &[$(Mutant::$variant,)*];

            /// The stable kebab-case name (`bind-ignores-time-wait`).
            pub fn name(self) -> &'static str {
                match self { $(Mutant::$variant => $name,)* }
            }

            /// One line: what the faulty model believes.
            pub fn describe(self) -> &'static str {
                match self { $(Mutant::$variant => $what,)* }
            }

            /// Finds a mutant by its name.
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some(Mutant::$variant),)* _ => None }
            }
        }
    };
}

mutants! {
    /// Linux 6.1's bhash2 table forgot TIME-WAIT sockets, so `bind()` did not see them and a
    /// restarted server could bind over its own TIME-WAIT without SO_REUSEADDR. Introduced by
    /// 28044fc1d495 ("net: Add a bhash2 table hashed by port and address"), fixed by
    /// 936a192f9740 ("tcp: Add TIME_WAIT sockets in bhash2."). Hook: `bind_conflict()`.
    BindIgnoresTimeWait = "bind-ignores-time-wait":
        "bind()'s conflict check skips TIME-WAIT (and FIN-WAIT-2) minisockets",
    /// Linux 6.1–6.5's bhash2 did not treat `::ffff:0.0.0.0` as the IPv4 wildcard: after an
    /// AF_INET6 socket bound it, an AF_INET socket could bind 127.0.0.1 on the same port. Fixed
    /// by aa99e5f87bd5 ("tcp: Fix bind() regression for v4-mapped-v6 wildcard address.").
    /// Hook: `rcv_saddr_equal()`.
    MappedWildcardNotWildcard = "mapped-wildcard-not-wildcard":
        "::ffff:0.0.0.0 is compared as a specific address, not as the IPv4 wildcard",
    /// The common belief that SO_REUSEADDR on the new socket alone lets it bind over an
    /// existing binding (or a TIME-WAIT); Linux wants it on both. Hook: `share()`
    /// (`inet_bind_conflict()`).
    ReuseAddrOneSide = "reuseaddr-one-side":
        "SO_REUSEADDR on the binding socket alone is enough to share a port",
    /// BSD's SO_REUSEADDR semantics carried over to Linux: sharing a port with a LISTEN socket
    /// when both set SO_REUSEADDR. Linux never allows it. Hook: `share()`.
    ReuseAddrOverListener = "reuseaddr-over-listener":
        "two SO_REUSEADDR sockets may share a port even when the owner is listening",
    /// A TIME-WAIT minisocket that does not keep the reuse flags of its socket
    /// (`inet_twsk_alloc()` copies `sk_reuse` and `sk_reuseport`), so SO_REUSEADDR on both
    /// sides never helps against TIME-WAIT. Hook: `time_wait_for()`.
    TimeWaitDropsReuseFlags = "time-wait-drops-reuse-flags":
        "TIME-WAIT minisockets forget SO_REUSEADDR/SO_REUSEPORT of the socket they replace",
    /// `listen()` trusting the earlier `bind()`: the kernel checks the port again
    /// (`inet_csk_listen_start()` calls `get_port()`), because SO_REUSEADDR sharing ends once
    /// one of the owners listens. Hook: `op_listen()`.
    ListenSkipsRecheck = "listen-skips-recheck":
        "listen() on a bound socket does not re-check the port for conflicts",
    /// SO_REUSEPORT without its security rule: every socket sharing the port must belong to
    /// the same effective uid (or the owner be a TIME-WAIT). Hook: `share()`.
    ReusePortIgnoresUid = "reuseport-ignores-uid":
        "SO_REUSEPORT groups sockets of different owners",
    /// IPV6_V6ONLY forgotten in the address comparison: a v6-only `[::]` socket then conflicts
    /// with IPv4 sockets on the same port. Hook: `rcv_saddr_equal()`.
    V6OnlyIgnoredInConflicts = "v6only-ignored-in-conflicts":
        "IPV6_V6ONLY is ignored when bind() compares addresses",
    /// `bind(:0)` that hands out a port someone holds: `inet_csk_find_open_port()` without the
    /// conflict test, as if only the bucket's existence mattered to nobody. Hook:
    /// `bind_conflict_for_open()`.
    BindAnyTakesHeldPort = "bind-any-takes-held-port":
        "bind(:0) treats every port of the range as free",
    /// The misunderstanding that every outgoing connection needs a port of its own ("at most
    /// 28k connections per host"): Linux shares a connect()-bound port across destinations as
    /// long as the 4-tuple is unique (`__inet_hash_connect()`). Hook: `hash_connect()`.
    ConnectPortPerConnection = "connect-port-per-connection":
        "connect() never reuses a port another connect() holds, whatever the destination",
    /// `connect()` without the 4-tuple check (`__inet_check_established()`): two connections
    /// with the same addresses and ports. Hook: `check_established()`.
    ConnectIgnores4Tuple = "connect-ignores-4tuple":
        "connect() does not check that the 4-tuple is unique",
    /// `tcp_tw_reuse=2` taken as `1`: the value 2 (Linux 4.20, "net-tcp: extend tcp_tw_reuse
    /// sysctl to enable loopback only optimization") allows the takeover only when an address
    /// of the TIME-WAIT is loopback, a test in `tcp_twsk_unique()` that this mutant forgets.
    /// Hook: `twsk_unique()`.
    TwReuseLoopbackIgnored = "tw-reuse-2-not-loopback-only":
        "tcp_tw_reuse=2 takes over TIME-WAITs of non-loopback connections too",
    /// TIME-WAIT taken over without TCP timestamps: the kernel needs them (`tcp_twsk_unique()`
    /// reads `tw_ts_recent_stamp`) to tell old segments from new (PAWS, RFC 6191). Hook:
    /// `twsk_unique()`.
    TwTakeoverWithoutTimestamps = "tw-takeover-without-timestamps":
        "connect() takes over a TIME-WAIT 4-tuple even when it has no timestamps",
    /// The widespread belief that `tcp_fin_timeout` sets the TIME-WAIT length; it sets the
    /// orphaned FIN-WAIT-2 timeout, TIME-WAIT is always `TCP_TIMEWAIT_LEN` (60 s). Hook:
    /// `time_wait()`.
    FinTimeoutShortensTimeWait = "fin-timeout-shortens-time-wait":
        "TIME-WAIT lasts tcp_fin_timeout seconds instead of 60",
    /// `tcp_max_tw_buckets` ignored: the kernel makes no minisocket once the namespace holds
    /// that many (the "TCP: time wait bucket table overflow" message). Hook: `time_wait_for()`.
    MaxTwBucketsIgnored = "max-tw-buckets-ignored":
        "a TIME-WAIT minisocket is made whatever tcp_max_tw_buckets says",
    /// The passive closer going through TIME-WAIT: only the side that sent the first FIN does;
    /// LAST-ACK goes straight to CLOSE (`tcp_rcv_state_process()`). Hook: the LAST-ACK arm of
    /// `rcv_established_part()`.
    PassiveCloserTimeWait = "passive-closer-time-wait":
        "the passive closer enters TIME-WAIT when its FIN is acknowledged",
    /// SO_LINGER {1, 0} taken for "do not block in close()": in fact it aborts the
    /// connection with RST and leaves no TIME-WAIT (`__tcp_close()` → `tcp_disconnect()`).
    /// Hook: `op_close()`.
    LingerZeroLeavesTimeWait = "linger-zero-leaves-time-wait":
        "close() with SO_LINGER 0 sends FIN and closes gracefully",
    /// `close()` with unread data closing gracefully: the kernel sends RST instead of FIN
    /// (RFC 2525 2.17, `TCPAbortOnClose`). Hook: `op_close()`.
    UnreadCloseSendsFin = "unread-close-sends-fin":
        "close() with unread received data sends FIN, not RST",
    /// An orphaned socket that reaches FIN-WAIT-2 freed at once: the kernel keeps it (as a
    /// FIN-WAIT-2 minisocket) for `tcp_fin_timeout`. Hook: `orphan_reaches_fin_wait2()`.
    OrphanFinWait2Dropped = "orphan-fin-wait2-dropped":
        "an orphan reaching FIN-WAIT-2 is destroyed instead of kept",
    /// Closing a listener that leaves its accept queue alone: `inet_csk_listen_stop()`
    /// disconnects every queued connection, which sends RST to the clients. Hook:
    /// `listen_stop()`.
    ListenerCloseSparesQueue = "listener-close-spares-queue":
        "closing a listener frees queued connections without resetting them",
}

impl From<Mutant> for &'static str {
    fn from(m: Mutant) -> Self {
        m.name()
    }
}

impl TryFrom<String> for Mutant {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl FromStr for Mutant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::from_name(s.trim()).ok_or_else(|| {
            format!(
                "unknown mutant `{s}` (known: {})",
                Self::ALL
                    .iter()
                    .map(|m| m.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }
}

impl fmt::Display for Mutant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Mutant;

    #[test]
    fn every_mutant_name_is_unique_and_parses_back() {
        let mut names: Vec<&str> = Mutant::ALL.iter().map(|m| m.name()).collect();
        for m in Mutant::ALL {
            assert_eq!(m.name().parse::<Mutant>(), Ok(*m));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Mutant::ALL.len());
        assert!(Mutant::ALL.len() >= 15);
    }
}
