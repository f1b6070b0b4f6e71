//! Kernel profiles: which operating system and version the model predicts for.
//!
//! Rules that differ between releases are switched on the profile, never on the host: the model
//! is told which kernel it stands for. Each switch cites the change that introduced it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::sysctl::{SysctlKey, Sysctls};
use crate::variant::{Variant, VariantSetting, Variants};

/// An operating system whose TCP rules the model knows.
///
/// Linux is checked against the running kernel; the others are described from their source
/// (FreeBSD `sys/netinet`, XNU `bsd/netinet`) or, for Windows, Microsoft's documentation, and
/// have not been run against a real kernel by this project (see the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Os {
    /// Linux.
    Linux,
    /// FreeBSD (14.0 and later: TIME_WAIT is an ordinary tcpcb, no `maxtcptw`).
    FreeBsd,
    /// macOS (XNU, xnu-11417 era).
    MacOs,
    /// Windows (documentation only).
    Windows,
}

impl Os {
    /// The name used in profile names (`freebsd` in `freebsd-14`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Linux => "linux",
            Self::FreeBsd => "freebsd",
            Self::MacOs => "macos",
            Self::Windows => "windows",
        }
    }

    /// Whether the OS is a BSD stack (FreeBSD or XNU): `in_pcbbind()`'s two lookup modes,
    /// TIME-WAIT of 2 × `net.inet.tcp.msl`, no `tcp_tw_reuse`.
    pub fn is_bsd(self) -> bool {
        matches!(self, Self::FreeBsd | Self::MacOs)
    }
}

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A kernel the model predicts for: an OS, a release (`major.minor`), and the value of every
/// behaviour [variant](crate::variant) (by default, the release's mainline values; the harness
/// probes the running kernel's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(from = "ProfileFields")]
pub struct Profile {
    /// The operating system.
    pub os: Os,
    /// Major release number.
    pub major: u16,
    /// Minor release number.
    pub minor: u16,
    /// The behaviour variants.
    pub variants: Variants,
}

/// [`Profile`] as read from JSON: without `variants`, the release's mainline values.
#[derive(Deserialize)]
struct ProfileFields {
    os: Os,
    major: u16,
    minor: u16,
    variants: Option<Variants>,
}

impl From<ProfileFields> for Profile {
    fn from(f: ProfileFields) -> Self {
        Self {
            os: f.os,
            major: f.major,
            minor: f.minor,
            variants: f
                .variants
                .unwrap_or_else(|| Variants::of_release(f.os, f.major, f.minor)),
        }
    }
}

impl Profile {
    /// Linux 6.18, the development machine's kernel and the default profile.
    pub const LINUX_6_18: Self = Self::linux(6, 18);

    /// FreeBSD 14, described from its source.
    pub const FREEBSD_14: Self = Self::other(Os::FreeBsd, 14);
    /// macOS 15 (xnu-11417), described from its source.
    pub const MACOS_15: Self = Self::other(Os::MacOs, 15);
    /// Windows 11, described from Microsoft's documentation.
    pub const WINDOWS_11: Self = Self::other(Os::Windows, 11);

    /// A Linux profile, with the release's mainline variant values.
    pub const fn linux(major: u16, minor: u16) -> Self {
        Self {
            os: Os::Linux,
            major,
            minor,
            variants: Variants::of_release(Os::Linux, major, minor),
        }
    }

    /// A profile of another OS, by its major release.
    pub const fn other(os: Os, major: u16) -> Self {
        Self {
            os,
            major,
            minor: 0,
            variants: Variants::of_release(os, major, 0),
        }
    }

    /// The same release with its mainline variant values.
    pub const fn release(self) -> Self {
        Self {
            variants: Variants::of_release(self.os, self.major, self.minor),
            ..self
        }
    }

    /// The same profile with `variant` set to `value`.
    pub fn with_variant(mut self, setting: VariantSetting) -> Self {
        self.variants.set(setting.variant, setting.value);
        self
    }

    /// The value of `variant`, by name.
    pub fn variant(self, variant: Variant) -> &'static str {
        self.variants.value_name(variant)
    }

    /// Whether the variant values are the release's mainline ones.
    pub fn is_mainline(self) -> bool {
        self == self.release()
    }

    /// The variant settings that differ from the release's mainline values.
    pub fn non_mainline(self) -> Vec<VariantSetting> {
        self.variants
            .differences(self.release().variants)
            .into_iter()
            .map(|variant| VariantSetting {
                variant,
                value: self.variants.get(variant),
            })
            .collect()
    }

    /// The profile's name, with the variant values that differ from the release's mainline
    /// ones: `linux-6.18`, `linux-6.18 (listen_after_connect=einval, …)`.
    pub fn describe(self) -> String {
        let odd = self.non_mainline();
        if odd.is_empty() {
            self.to_string()
        } else {
            let list: Vec<String> = odd.iter().map(|s| s.to_string()).collect();
            format!("{self} ({})", list.join(", "))
        }
    }

    /// The profiles the project has checked on a real kernel, by name.
    pub const KNOWN: &'static [(&'static str, Self)] = &[
        ("linux-6.1", Self::linux(6, 1)),
        ("linux-6.12", Self::linux(6, 12)),
        ("linux-6.18", Self::linux(6, 18)),
        ("linux-7.3", Self::linux(7, 3)),
        ("freebsd-14", Self::FREEBSD_14),
        ("freebsd-15", Self::other(Os::FreeBsd, 15)),
        ("macos-15", Self::MACOS_15),
        ("windows-11", Self::WINDOWS_11),
    ];

    /// Whether this is at least Linux `major.minor` (false for every other OS: the Linux
    /// switches below never apply to them).
    pub fn at_least(self, major: u16, minor: u16) -> bool {
        self.os == Os::Linux && (self.major, self.minor) >= (major, minor)
    }

    /// Whether the model describes this profile from a kernel it was checked against (Linux),
    /// rather than from source or documentation alone.
    pub fn is_checked_on_a_kernel(self) -> bool {
        self.os == Os::Linux
    }

    /// The sysctl values of a fresh network namespace (FreeBSD: VNET jail; macOS, Windows: the
    /// host's defaults) on this kernel.
    pub fn default_sysctls(self) -> Sysctls {
        Sysctls::defaults_for(self.os)
    }

    /// Whether this kernel has the sysctl `key` ([`SysctlKey::since`]); a key it lacks has no
    /// file under `/proc/sys`. Of the modelled keys, the known profiles differ only in
    /// `net.ipv4.tcp_tw_reuse_delay` (6.14; absent on Debian's 6.1.0-56 and 6.12.117, present
    /// on 6.18.44 and 7.3.4).
    pub fn has_sysctl(self, key: SysctlKey) -> bool {
        if key == SysctlKey::TcpTwReuseDelay {
            return self.has_tw_reuse_delay();
        }
        let (major, minor) = key.since();
        self.at_least(major, minor)
    }

    /// `tcp_tw_reuse_delay` exists and TIME-WAIT age is measured in milliseconds from the
    /// TIME-WAIT's creation. Before, the rule was "a later second of the monotonic clock than the
    /// last timestamp received", so a TIME-WAIT younger than a second may or may not be reused,
    /// depending on where the second boundary fell. (19ce8cd30465 "tcp: Measure TIME-WAIT reuse
    /// delay with millisecond precision" and the sysctl, merged as 154dee7c3265 "Merge branch
    /// 'make-time-wait-reuse-delay-deterministic-and-configurable'", v6.14.)
    pub fn has_tw_reuse_delay(self) -> bool {
        self.os == Os::Linux && self.variants.get(Variant::TwReuseDelay) == 1
    }

    /// When the last socket that got a port through `bind()` leaves, the port becomes usable by
    /// `connect()`'s autobind again even while connect()-bound sockets remain. ("tcp: Update bind
    /// bucket state on port release", v6.18.)
    pub fn releases_bind_owned_ports(self) -> bool {
        self.os == Os::Linux && self.variants.get(Variant::BindOwnedPortRelease) == 1
    }

    /// The bind bucket's `fastreuse` cache is set from the first owner (so a bucket whose owners
    /// all had SO_REUSEADDR lets later SO_REUSEADDR binds skip the conflict check). Since 6.8
    /// the bucket's `bhash2` list is checked for emptiness after the new owner's `tb2` has been
    /// linked into it, so the first-owner branch never runs and `fastreuse` stays 0.
    /// (822fb91fc724 "tcp: Link bhash2 to bhash.", v6.8.)
    pub fn fastreuse_from_first_owner(self) -> bool {
        self.variants.get(Variant::FastreuseCache) == 0
    }

    /// A v4-mapped specific bind (`[::ffff:127.0.0.1]:P` on AF_INET6) does not see the owners
    /// of `0.0.0.0:P` / `[::ffff:0.0.0.0]:P` when an AF_INET6 socket created that address's
    /// bind2 bucket: such binds are checked in bhash2 only (`inet_use_hash2_on_bind()`, from the
    /// 6.1.y backport of 5e07e672412b "tcp: Use bhash2 for v4-mapped-v6 non-wildcard
    /// address."), and 6.1's `inet_bind2_bucket_match_addr_any()` matches a bucket of the same
    /// family only when its address is `::`. Mainline never had this: the same v6.8 series
    /// stores every IPv4 address as v4-mapped with its type (5a22bba13d01 "tcp: Save address
    /// type in inet_bind2_bucket."), so a mapped wildcard bucket matches. Found by the kernel
    /// matrix on Debian's 6.1.0-56 (6.1.192); the code is the same in 6.1.172.
    pub fn mapped_bind_misses_ipv6_wildcard_bucket(self) -> bool {
        self.os == Os::Linux && self.variants.get(Variant::MappedBindWildcard) == 1
    }

    /// The kernel's timer frequency (`CONFIG_HZ`): 250 for the host and every Debian kernel
    /// checked. It sets the granularity of timers (`wheel_slack`).
    pub fn hz(self) -> u64 {
        250
    }

    /// How many SYN retransmissions keep the initial 1 s RTO before it doubles
    /// (`tcp_syn_linear_timeouts`, default 4; ccce324dabfe "tcp: make the first N SYN RTO
    /// backoffs linear", v6.5).
    pub fn syn_linear_timeouts(self) -> u32 {
        if self.variants.get(Variant::SynBackoff) == 1 {
            4
        } else {
            0
        }
    }

    /// A softirq raised while ksoftirqd is awake is left to ksoftirqd (`ksoftirqd_running()`
    /// in `invoke_softirq()`, 4cd13c21b207 "softirq: Let ksoftirqd do its job", v4.9), so a
    /// loopback segment may still be unprocessed when the call that sent it returns; reverted
    /// by d15121be7485 (v6.5), after which softirqs run where they are raised. Not a rule of
    /// the model: it tells the harness's observer how long a table takes to settle.
    pub fn softirqs_wait_for_ksoftirqd(self) -> bool {
        self.os == Os::Linux && !self.at_least(6, 5)
    }

    /// sock_diag can dump bound, unconnected sockets (`TCP_BOUND_INACTIVE`).
    /// (91051f003948 "tcp: Dump bound-only sockets in inet_diag.", v6.8.) The other OSes'
    /// tables (`net.inet.tcp.pcblist`, `GetTcpTable2`) list every PCB with a port.
    pub fn diag_dumps_bound_sockets(self) -> bool {
        self.variants.get(Variant::DiagBoundSockets) == 1
    }

    /// listen() on a socket whose connect() sent a SYN fails with EINVAL once it has a port
    /// ([`Variant::ListenAfterConnect`]).
    pub fn listen_after_connect_fails(self) -> bool {
        self.os == Os::Linux && self.variants.get(Variant::ListenAfterConnect) == 1
    }

    /// connect() on a socket that has listened fails with EINVAL
    /// ([`Variant::ConnectAfterListen`]).
    pub fn connect_after_listen_fails(self) -> bool {
        self.os == Os::Linux && self.variants.get(Variant::ConnectAfterListen) == 1
    }

    /// `tcp_disconnect()` puts an AF_INET6 socket back on the IPv6 transmit path after a
    /// v4-mapped connect() failed ([`Variant::MappedConnectFailure`]).
    pub fn mapped_failure_restores_ipv6_path(self) -> bool {
        self.os != Os::Linux || self.variants.get(Variant::MappedConnectFailure) == 1
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.os {
            Os::Linux => write!(f, "linux-{}.{}", self.major, self.minor),
            Os::FreeBsd | Os::MacOs | Os::Windows => write!(f, "{}-{}", self.os, self.major),
        }
    }
}

impl FromStr for Profile {
    type Err = String;
    /// Parses `linux-6.18` (any `linux-MAJOR.MINOR` is accepted; the known ones are listed in
    /// [`Profile::KNOWN`]), `freebsd-14`, `freebsd-15`, `macos-15` or `windows-11`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !s.starts_with("linux-") {
            return Self::KNOWN
                .iter()
                .find(|(n, _)| *n == s)
                .map(|(_, p)| *p)
                .ok_or_else(|| {
                    let hint = if s.starts_with("freebsd-1") {
                        " (FreeBSD before 14 kept TIME-WAIT in the compressed tcptw with \
                         net.inet.tcp.maxtcptw; that path is not modelled)"
                    } else {
                        ""
                    };
                    format!(
                        "unknown profile `{s}`{hint} (known: {})",
                        Self::KNOWN
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                });
        }
        let known = || {
            Self::KNOWN
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let rest = s
            .strip_prefix("linux-")
            .ok_or_else(|| format!("unknown profile `{s}` (known: {})", known()))?;
        let (major, minor) = rest
            .split_once('.')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            .ok_or_else(|| format!("bad profile `{s}`: expected linux-MAJOR.MINOR"))?;
        if major < 6 || (major == 6 && minor < 1) {
            return Err(format!(
                "profile `{s}` is older than any kernel the model describes (from linux-6.1)"
            ));
        }
        Ok(Self::linux(major, minor))
    }
}
