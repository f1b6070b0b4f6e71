//! Behaviour variants: where kernels of one release (distribution backports, cloud builds,
//! patched kernels under one version string) or of neighbouring releases behave differently.
//!
//! A [`Profile`](crate::Profile) is a release plus one value of every variant. Each release has
//! default values (what the mainline kernel of that release does), and the harness probes the
//! running kernel for the actual ones: [`VARIANTS`] is the table, one row per variant, with
//! what it changes, the rules it switches, where each value has been seen, and the probe that
//! tells them apart. The model only reads the values; it never guesses them.
//!
//! A probe is a short scenario (or the presence of a sysctl) whose result under one value
//! differs from its result under the other; the harness runs it in a fresh namespace and keeps
//! the value whose model agrees with the kernel. A behaviour no value explains is a divergence,
//! not a variant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::profile::Os;
use crate::rule::RuleId;

macro_rules! variants {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal,)*) => {
        /// A behaviour in which kernels differ (see the module documentation).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(into = "String", try_from = "String")]
        pub enum Variant {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Variant {
            /// Every variant, in table order.
            pub const ALL: &'static [Variant] = &[$(Variant::$variant,)*];

            /// The name used on the command line and in scenario files.
            pub fn name(self) -> &'static str {
                match self { $(Variant::$variant => $name,)* }
            }
        }
    };
}

variants! {
    /// listen() on a socket whose connect() sent a SYN.
    ListenAfterConnect = "listen_after_connect",
    /// connect() on a socket that has listened.
    ConnectAfterListen = "connect_after_listen",
    /// The transmit path of an AF_INET6 socket after a v4-mapped connect() failed.
    MappedConnectFailure = "mapped_connect_failure",
    /// Whether the bind bucket's `fastreuse` cache is set from its first owner.
    FastreuseCache = "fastreuse_cache",
    /// Whether a v4-mapped bind sees the AF_INET6 owners of the IPv4 wildcard.
    MappedBindWildcard = "mapped_bind_wildcard",
    /// What happens to a port when its last bind() owner leaves.
    BindOwnedPortRelease = "bind_owned_port_release",
    /// Whether sock_diag dumps bound, unconnected sockets.
    DiagBoundSockets = "diag_bound_sockets",
    /// How the age of a TIME-WAIT is judged for `tcp_tw_reuse`.
    TwReuseDelay = "tw_reuse_delay",
    /// How SYN retransmissions back off.
    SynBackoff = "syn_backoff",
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Variant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown variant `{s}` (known: {})",
                    Self::ALL
                        .iter()
                        .map(|v| v.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }
}

impl From<Variant> for String {
    fn from(v: Variant) -> Self {
        v.name().to_string()
    }
}

impl TryFrom<String> for Variant {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl Variant {
    /// The variant's row of [`VARIANTS`].
    pub fn spec(self) -> &'static VariantSpec {
        VARIANTS
            .iter()
            .find(|s| s.variant == self)
            .expect("every variant has a row")
    }

    /// The bit of this variant in [`Variants`].
    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// One value of a variant: the first (`0`) or the second (`1`) of its row's `values`.
pub type Value = u8;

/// How the harness tells a variant's values apart on the running kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// A scenario (text form, `docs/scenario-format.md`) run in a fresh namespace: the value is
    /// the one whose model agrees with the kernel on every call and table. Its expectations
    /// (`= …`) are not read: the model under each value says what to expect.
    Scenario(&'static str),
    /// The value is the second one when the sysctl exists in a fresh namespace (its dotted
    /// name), the first when it does not.
    SysctlPresent(&'static str),
    /// Not probed: the release decides, for the reason given.
    Release(&'static str),
}

/// Where a value has been seen: a kernel build (`uname -r`, or a release with a `*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The kernel.
    pub kernel: &'static str,
    /// The value it has.
    pub value: Value,
}

/// One row of the variant table.
#[derive(Clone, Copy, Debug)]
pub struct VariantSpec {
    /// The variant.
    pub variant: Variant,
    /// Its two values' names, as written after `NAME=`.
    pub values: [&'static str; 2],
    /// What it changes, and what decides it in the kernel.
    pub changes: &'static str,
    /// The rules whose answers depend on it.
    pub rules: &'static [RuleId],
    /// Where each value has been seen.
    pub seen: &'static [Seen],
    /// How the harness tells the values apart.
    pub probe: Probe,
    /// The value of a release: what its mainline kernel does.
    pub release_default: ReleaseDefault,
}

/// Which value a release's mainline kernel has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseDefault {
    /// The same on every release and OS.
    Always(Value),
    /// The second value on Linux from this release on, the first elsewhere.
    LinuxFrom(u16, u16),
    /// The second value on Linux from this release on and on every other OS.
    LinuxFromOrOtherOs(u16, u16),
    /// The second value on Linux before this release, the first elsewhere.
    LinuxBefore(u16, u16),
}

impl ReleaseDefault {
    /// The value of a release of `os` (`major.minor`).
    pub const fn value(self, os: Os, major: u16, minor: u16) -> Value {
        let linux = matches!(os, Os::Linux);
        const fn from(major: u16, minor: u16, m: u16, n: u16) -> bool {
            major > m || (major == m && minor >= n)
        }
        match self {
            Self::Always(v) => v,
            Self::LinuxFrom(m, n) => (linux && from(major, minor, m, n)) as Value,
            Self::LinuxFromOrOtherOs(m, n) => (!linux || from(major, minor, m, n)) as Value,
            Self::LinuxBefore(m, n) => (linux && !from(major, minor, m, n)) as Value,
        }
    }
}

impl VariantSpec {
    /// The value named `name`.
    pub fn value(&self, name: &str) -> Result<Value, String> {
        self.values
            .iter()
            .position(|v| *v == name)
            .map(|i| i as Value)
            .ok_or_else(|| {
                format!(
                    "variant {} has no value `{name}` (values: {})",
                    self.variant.name(),
                    self.values.join(", ")
                )
            })
    }
}

/// Every variant: what it changes, where it was seen, and its probe.
pub const VARIANTS: &[VariantSpec] = &[
    VariantSpec {
        variant: Variant::ListenAfterConnect,
        values: ["listens", "einval"],
        changes: "listen() on a socket whose connect() sent a SYN (refused, reset, timed out, or \
                  shut down in SYN-SENT), back in SS_UNCONNECTED: mainline listens \
                  (__inet_listen_sk() looks only at sock->state and sk_state, both clean after \
                  tcp_disconnect()); `einval` takes a port as listen() does \
                  (inet_csk_listen_start(): get_port(), autobind if the socket has none) and \
                  then fails with EINVAL, leaving the socket CLOSED on that port.",
        rules: &[
            RuleId::ListenAfterConnect,
            RuleId::ListenAutobind,
            RuleId::ListenOk,
        ],
        seen: &[
            Seen {
                kernel: "6.1.*, 6.12.*, 7.3.* (Debian), 6.18.44-fc-v657",
                value: 0,
            },
            Seen {
                kernel: "6.18.44-fc-v1300",
                value: 1,
            },
        ],
        probe: Probe::Scenario(
            "s0 = socket(inet)\n\
             connect(s0, 127.0.0.1:9)\n\
             listen(s0)\n",
        ),
        release_default: ReleaseDefault::Always(0),
    },
    VariantSpec {
        variant: Variant::ConnectAfterListen,
        values: ["connects", "einval"],
        changes: "connect() on a socket that has listened (stopped since by shutdown() or \
                  SOCK_DESTROY): mainline connects (tcp_v4_connect() does not look at the \
                  socket's past); `einval` fails with EINVAL once the route is found and the \
                  source chosen (ENETUNREACH still comes first), on the late failure path \
                  (tcp_set_state(TCP_CLOSE), inet_bhash2_reset_saddr()), before \
                  tcp_connect_init() clears the pending error.",
        rules: &[RuleId::ConnectAfterListen],
        seen: &[
            Seen {
                kernel: "6.1.*, 6.12.*, 7.3.* (Debian), 6.18.44-fc-v657",
                value: 0,
            },
            Seen {
                kernel: "6.18.44-fc-v1300",
                value: 1,
            },
        ],
        probe: Probe::Scenario(
            "s0 = socket(inet)\n\
             bind(s0, 127.0.0.1:5000)\n\
             listen(s0)\n\
             shutdown(s0, SHUT_RD)\n\
             connect(s0, 127.0.0.1:9)\n",
        ),
        release_default: ReleaseDefault::Always(0),
    },
    VariantSpec {
        variant: Variant::MappedConnectFailure,
        values: ["keeps_ipv4_path", "restores_ipv6_path"],
        changes: "An AF_INET6 socket whose connect() to a v4-mapped address failed after its SYN \
                  left (RST): mainline keeps icsk_af_ops = ipv6_mapped (tcp_v6_connect() \
                  restores ipv6_specific only on a synchronous error), so its next native IPv6 \
                  SYN leaves on the IPv4 path and is lost; `restores_ipv6_path` is back on the \
                  IPv6 path after tcp_disconnect(), and the native connect() proceeds.",
        rules: &[
            RuleId::ConnectStaleMappedOps,
            RuleId::ConnectMappedPathRestored,
        ],
        seen: &[
            Seen {
                kernel: "6.1.*, 6.12.*, 7.3.* (Debian), 6.18.44-fc-v657",
                value: 0,
            },
            Seen {
                kernel: "6.18.44-fc-v1300",
                value: 1,
            },
        ],
        probe: Probe::Scenario(
            "s0 = socket(inet6)\n\
             bind(s0, [::1]:5000)\n\
             listen(s0)\n\
             s1 = socket(inet6, nonblock)\n\
             connect(s1, [::ffff:127.0.0.1]:9)\n\
             connect(s1, [::1]:9)\n\
             connect(s1, [::1]:5000) local $C\n",
        ),
        release_default: ReleaseDefault::Always(0),
    },
    VariantSpec {
        variant: Variant::FastreuseCache,
        values: ["from_first_owner", "owners_checked"],
        changes: "The bind bucket's SO_REUSEADDR cache (tb->fastreuse): before 6.8 it is set from \
                  the bucket's first owner and outlives a change of the option, so a later \
                  SO_REUSEADDR bind skips the owners; since 822fb91fc724 (\"tcp: Link bhash2 to \
                  bhash.\", v6.8) the first-owner branch never runs and the owners are checked \
                  (inet_csk_update_fastreuse()).",
        rules: &[RuleId::BindFastReuseCache],
        seen: &[
            Seen {
                kernel: "6.1.*",
                value: 0,
            },
            Seen {
                kernel: "6.12.*, 6.18.*, 7.3.*",
                value: 1,
            },
        ],
        probe: Probe::Scenario(
            "s0 = socket(inet)\n\
             setsockopt(s0, SO_REUSEADDR, 1)\n\
             bind(s0, 127.0.0.2:5000)\n\
             setsockopt(s0, SO_REUSEADDR, 0)\n\
             s1 = socket(inet)\n\
             setsockopt(s1, SO_REUSEADDR, 1)\n\
             bind(s1, 127.0.0.2:5000)\n",
        ),
        release_default: ReleaseDefault::LinuxFromOrOtherOs(6, 8),
    },
    VariantSpec {
        variant: Variant::MappedBindWildcard,
        values: ["sees_mapped_wildcard", "misses_mapped_wildcard"],
        changes: "A v4-mapped specific bind on AF_INET6 looks for wildcard owners in bhash2 \
                  only; on 6.1 (the backport of 5e07e672412b, \"tcp: Use bhash2 for v4-mapped-v6 \
                  non-wildcard address.\") inet_bind2_bucket_match_addr_any() matches an AF_INET6 \
                  bucket only when its address is `::`, so the owners of `0.0.0.0` / \
                  `[::ffff:0.0.0.0]` are missed when an AF_INET6 socket made that bucket. \
                  Mainline since 5a22bba13d01 (v6.8) keeps every IPv4 address with its type and \
                  sees them.",
        rules: &[RuleId::BindPortFree, RuleId::BindConflict],
        seen: &[
            Seen {
                kernel: "6.12.*, 6.18.*, 7.3.*",
                value: 0,
            },
            Seen {
                kernel: "6.1.*",
                value: 1,
            },
        ],
        probe: Probe::Scenario(
            "s0 = socket(inet6)\n\
             bind(s0, [::ffff:0.0.0.0]:5000)\n\
             s1 = socket(inet6)\n\
             bind(s1, [::ffff:127.0.0.1]:5000)\n",
        ),
        release_default: ReleaseDefault::LinuxBefore(6, 2),
    },
    VariantSpec {
        variant: Variant::BindOwnedPortRelease,
        values: ["stays_bind_owned", "back_to_connect"],
        changes: "When the last socket that took a port through bind() leaves while sockets that \
                  took it through connect() remain: before 6.18 the bucket stays marked as \
                  bind()'s and connect()'s autobind skips the port; since \"tcp: Update bind \
                  bucket state on port release\" (v6.18) inet_bind_bucket_destroy() marks it \
                  connect()'s again and autobind may share it. It decides by the port's \
                  address groups (inet_bind2_bucket), so a bind() owner that moved into a group \
                  connect() made (connect() picked its source) counts as connect()'s.",
        rules: &[RuleId::ConnectAutobind, RuleId::ConnectAutobindExhausted],
        seen: &[
            Seen {
                kernel: "6.1.*, 6.12.*",
                value: 0,
            },
            Seen {
                kernel: "6.18.*, 7.3.*",
                value: 1,
            },
        ],
        probe: Probe::Scenario(
            "@sysctl net.ipv4.ip_local_port_range=40000 40000\n\
             s0 = socket(inet)\n\
             bind(s0, 127.0.0.1:5000)\n\
             listen(s0)\n\
             s1 = socket(inet)\n\
             bind(s1, 127.0.0.1:5001)\n\
             listen(s1)\n\
             s2 = socket(inet)\n\
             connect(s2, 127.0.0.1:5000) local $C\n\
             s3 = socket(inet)\n\
             bind(s3, 127.0.0.2:$C)\n\
             close(s3)\n\
             s4 = socket(inet)\n\
             connect(s4, 127.0.0.1:5001)\n",
        ),
        release_default: ReleaseDefault::LinuxFrom(6, 18),
    },
    VariantSpec {
        variant: Variant::DiagBoundSockets,
        values: ["hidden", "dumped"],
        changes: "Whether sock_diag dumps bound, unconnected sockets (TCP_BOUND_INACTIVE; \
                  91051f003948 \"tcp: Dump bound-only sockets in inet_diag.\", v6.8). It changes \
                  what the table shows, not what calls return. The other OSes' tables list every \
                  PCB with a port.",
        rules: &[],
        seen: &[
            Seen {
                kernel: "6.1.*",
                value: 0,
            },
            Seen {
                kernel: "6.12.*, 6.18.*, 7.3.*",
                value: 1,
            },
        ],
        probe: Probe::Scenario(
            "s0 = socket(inet)\n\
             bind(s0, 127.0.0.1:5000)\n",
        ),
        release_default: ReleaseDefault::LinuxFromOrOtherOs(6, 8),
    },
    VariantSpec {
        variant: Variant::TwReuseDelay,
        values: ["next_second", "sysctl_ms"],
        changes: "How old a TIME-WAIT must be before tcp_tw_reuse takes it over: before 6.14, a \
                  later second of the monotonic clock than its last timestamp (a TIME-WAIT \
                  younger than a second may or may not be reused); since 19ce8cd30465 (\"tcp: \
                  Measure TIME-WAIT reuse delay with millisecond precision\", v6.14) \
                  net.ipv4.tcp_tw_reuse_delay milliseconds, and the sysctl exists.",
        rules: &[RuleId::ConnectTwReuse],
        seen: &[
            Seen {
                kernel: "6.1.*, 6.12.*",
                value: 0,
            },
            Seen {
                kernel: "6.18.*, 7.3.*",
                value: 1,
            },
        ],
        probe: Probe::SysctlPresent("net.ipv4.tcp_tw_reuse_delay"),
        release_default: ReleaseDefault::LinuxFrom(6, 14),
    },
    VariantSpec {
        variant: Variant::SynBackoff,
        values: ["exponential", "linear_first_4"],
        changes: "SYN retransmissions: before 6.5 the RTO doubles from the first; since \
                  ccce324dabfe (\"tcp: make the first N SYN RTO backoffs linear\", v6.5) the \
                  first net.ipv4.tcp_syn_linear_timeouts (4) keep the initial 1 s, and the sysctl \
                  exists.",
        rules: &[RuleId::SynRetransmitted, RuleId::SynRetriesExhausted],
        seen: &[
            Seen {
                kernel: "6.1.*",
                value: 0,
            },
            Seen {
                kernel: "6.12.*, 6.18.*, 7.3.*",
                value: 1,
            },
        ],
        probe: Probe::SysctlPresent("net.ipv4.tcp_syn_linear_timeouts"),
        release_default: ReleaseDefault::LinuxFrom(6, 5),
    },
];

/// The value of every variant: the second value where its bit is set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Variants(u16);

impl Variants {
    /// The values of a release of `os`: its mainline kernel's ([`VariantSpec::release_default`]).
    pub const fn of_release(os: Os, major: u16, minor: u16) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < VARIANTS.len() {
            let spec = &VARIANTS[i];
            if spec.release_default.value(os, major, minor) != 0 {
                bits |= spec.variant.bit();
            }
            i += 1;
        }
        Self(bits)
    }

    /// The value of `variant`.
    pub fn get(self, variant: Variant) -> Value {
        Value::from(self.0 & variant.bit() != 0)
    }

    /// The name of the value of `variant`.
    pub fn value_name(self, variant: Variant) -> &'static str {
        variant.spec().values[usize::from(self.get(variant))]
    }

    /// Sets `variant` to `value` (0 or 1).
    pub fn set(&mut self, variant: Variant, value: Value) {
        if value == 0 {
            self.0 &= !variant.bit();
        } else {
            self.0 |= variant.bit();
        }
    }

    /// The same values with `variant` set to `value`.
    pub fn with(mut self, variant: Variant, value: Value) -> Self {
        self.set(variant, value);
        self
    }

    /// Every variant whose value differs from `other`'s.
    pub fn differences(self, other: Self) -> Vec<Variant> {
        Variant::ALL
            .iter()
            .copied()
            .filter(|v| self.get(*v) != other.get(*v))
            .collect()
    }

    /// `name=value` for every variant, in table order.
    pub fn pairs(self) -> Vec<(Variant, &'static str)> {
        Variant::ALL
            .iter()
            .map(|v| (*v, self.value_name(*v)))
            .collect()
    }
}

/// A `NAME=VALUE` setting of one variant (`--variant`, `@variant`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VariantSetting {
    /// The variant.
    pub variant: Variant,
    /// Its value.
    pub value: Value,
}

impl fmt::Display for VariantSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={}",
            self.variant.name(),
            self.variant.spec().values[usize::from(self.value)]
        )
    }
}

impl FromStr for VariantSetting {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, value) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}`: expected NAME=VALUE"))?;
        let variant: Variant = name.trim().parse()?;
        let value = variant.spec().value(value.trim())?;
        Ok(Self { variant, value })
    }
}

impl Serialize for VariantSetting {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for VariantSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Variants {
    /// As a map from each variant's name to its value's name.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(Variant::ALL.len()))?;
        for (v, value) in self.pairs() {
            m.serialize_entry(v.name(), value)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Variants {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = std::collections::BTreeMap::<String, String>::deserialize(d)?;
        let mut out = Self::default();
        for (k, v) in m {
            let setting: VariantSetting = format!("{k}={v}")
                .parse()
                .map_err(serde::de::Error::custom)?;
            out.set(setting.variant, setting.value);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_one_row_with_two_distinct_values_and_a_value_seen_each_way() {
        for v in Variant::ALL {
            let rows = VARIANTS.iter().filter(|s| s.variant == *v).count();
            assert_eq!(rows, 1, "{v}");
            let spec = v.spec();
            assert_ne!(spec.values[0], spec.values[1], "{v}");
            for value in [0, 1] {
                assert!(
                    spec.seen.iter().any(|s| s.value == value),
                    "{v}: no kernel seen with {}",
                    spec.values[usize::from(value)]
                );
            }
        }
        assert!(Variant::ALL.len() <= 16, "Variants is a u16");
    }

    #[test]
    fn settings_read_and_print_alike() {
        for v in Variant::ALL {
            for value in [0, 1] {
                let s = VariantSetting { variant: *v, value };
                assert_eq!(s.to_string().parse::<VariantSetting>(), Ok(s));
            }
        }
        assert!(
            "listen_after_connect=maybe"
                .parse::<VariantSetting>()
                .is_err()
        );
        assert!("no_such_thing=1".parse::<VariantSetting>().is_err());
        assert!("listen_after_connect".parse::<VariantSetting>().is_err());
    }

    #[test]
    fn releases_have_their_mainline_values() {
        let v61 = Variants::of_release(Os::Linux, 6, 1);
        let v618 = Variants::of_release(Os::Linux, 6, 18);
        assert_eq!(v61.value_name(Variant::FastreuseCache), "from_first_owner");
        assert_eq!(v618.value_name(Variant::FastreuseCache), "owners_checked");
        assert_eq!(v618.value_name(Variant::ListenAfterConnect), "listens");
        assert_eq!(
            v61.differences(v618),
            vec![
                Variant::FastreuseCache,
                Variant::MappedBindWildcard,
                Variant::BindOwnedPortRelease,
                Variant::DiagBoundSockets,
                Variant::TwReuseDelay,
                Variant::SynBackoff,
            ]
        );
    }
}
