//! Per-namespace sysctls that change the modelled rules: their names, ranges and defaults.
//!
//! Ranges and defaults are Linux's (Documentation/networking/ip-sysctl.rst and the handlers in
//! net/ipv4/sysctl_net_ipv4.c, net/ipv6/sysctl_net_ipv6.c). A fresh network namespace starts
//! from these compiled-in defaults, not from the host's values (`tcp_sk_init()`,
//! `inet_init_net()`), which is why the model takes them as inputs and never reads the host.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The shape of a sysctl's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One integer in `min..=max`.
    Int {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// Two port numbers `lo hi` with `lo <= hi` (`ip_local_port_range`).
    PortRange,
    /// A comma-separated list of ports and `a-b` ranges (`ip_local_reserved_ports`).
    PortList,
}

macro_rules! sysctl_keys {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $shape:expr, since $since:expr;)*) => {
        /// A sysctl the model knows.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum SysctlKey {
            $($(#[$doc])* $variant,)*
        }

        impl SysctlKey {
            /// Every key, in declaration order.
            pub const ALL: &'static [SysctlKey] = &[$(SysctlKey::$variant,)*];

            /// The dotted name (`net.ipv4.tcp_tw_reuse`).
            pub fn name(self) -> &'static str {
                match self { $(SysctlKey::$variant => $name,)* }
            }

            /// The shape and range of accepted values.
            pub fn shape(self) -> Shape {
                match self { $(SysctlKey::$variant => $shape,)* }
            }

            /// The first Linux version (major, minor) that has the key.
            pub fn since(self) -> (u16, u16) {
                match self { $(SysctlKey::$variant => $since,)* }
            }
        }
    };
}

const fn int(min: i64, max: i64) -> Shape {
    Shape::Int { min, max }
}

sysctl_keys! {
    /// Ephemeral port range for `bind(:0)` and `connect()` (IPv4 and IPv6).
    IpLocalPortRange = "net.ipv4.ip_local_port_range", Shape::PortRange, since (2, 6);
    /// Ports that autobind never picks (explicit binds may still use them).
    IpLocalReservedPorts = "net.ipv4.ip_local_reserved_ports", Shape::PortList, since (2, 6);
    /// Ports below this need CAP_NET_BIND_SERVICE.
    IpUnprivilegedPortStart = "net.ipv4.ip_unprivileged_port_start", int(0, 65535), since (4, 11);
    /// `bind(:0)` may share a port with SO_REUSEADDR sockets when the range is exhausted.
    IpAutobindReuse = "net.ipv4.ip_autobind_reuse", int(0, 1), since (5, 7);
    /// Binding an address the host does not have is allowed.
    IpNonlocalBind = "net.ipv4.ip_nonlocal_bind", int(0, 1), since (2, 6);
    /// `connect()` may take over a TIME-WAIT 4-tuple: 0 never, 1 always, 2 loopback only.
    TcpTwReuse = "net.ipv4.tcp_tw_reuse", int(0, 2), since (2, 6);
    /// How old (ms) a TIME-WAIT must be before `tcp_tw_reuse` takes it over.
    TcpTwReuseDelay = "net.ipv4.tcp_tw_reuse_delay", int(1, 60000), since (6, 14);
    /// TCP timestamps (RFC 7323): 0 off, 1 on with random offsets, 2 on without.
    TcpTimestamps = "net.ipv4.tcp_timestamps", int(0, 2), since (2, 6);
    /// Lifetime (s) of an orphaned FIN-WAIT-2 socket; it does not shorten TIME-WAIT.
    TcpFinTimeout = "net.ipv4.tcp_fin_timeout", int(0, 86400), since (2, 6);
    /// How many TIME-WAIT (and FIN-WAIT-2) minisockets a namespace may hold.
    TcpMaxTwBuckets = "net.ipv4.tcp_max_tw_buckets", int(0, i32::MAX as i64), since (2, 6);
    /// 1: an RST does not end TIME-WAIT (RFC 1337).
    TcpRfc1337 = "net.ipv4.tcp_rfc1337", int(0, 1), since (2, 6);
    /// Seconds of idleness before the first keepalive probe.
    TcpKeepaliveTime = "net.ipv4.tcp_keepalive_time", int(1, 32767), since (2, 6);
    /// Seconds between keepalive probes.
    TcpKeepaliveIntvl = "net.ipv4.tcp_keepalive_intvl", int(1, 32767), since (2, 6);
    /// Unanswered keepalive probes before the connection is dropped.
    TcpKeepaliveProbes = "net.ipv4.tcp_keepalive_probes", int(1, 127), since (2, 6);
    /// SYN retransmissions before `connect()` gives up.
    TcpSynRetries = "net.ipv4.tcp_syn_retries", int(1, 127), since (2, 6);
    /// Retransmissions before an orphan is killed (0 means 8).
    TcpOrphanRetries = "net.ipv4.tcp_orphan_retries", int(0, 255), since (2, 6);
    /// 1: a third ACK that finds the accept queue full is answered with RST.
    TcpAbortOnOverflow = "net.ipv4.tcp_abort_on_overflow", int(0, 1), since (2, 6);
    /// Default IPV6_V6ONLY of new AF_INET6 sockets.
    Ipv6Bindv6only = "net.ipv6.bindv6only", int(0, 1), since (2, 6);
    /// FreeBSD, macOS: the maximum segment lifetime (ms); TIME-WAIT lasts twice this
    /// (FreeBSD sys/netinet/tcp_timer.c `tcp_msl`, default 30000; XNU `TCPTV_MSL`, 15000).
    InetTcpMsl = "net.inet.tcp.msl", int(1, i32::MAX as i64), since (0, 0);
    /// FreeBSD: 1 closes a connection whose peer is one of the host's own addresses at once
    /// instead of TIME-WAIT (tcp_timewait.c `tcp_twstart()`).
    InetTcpNoLocalTimeWait = "net.inet.tcp.nolocaltimewait", int(0, 1), since (0, 0);
    /// FreeBSD: 1 ends an orphaned FIN-WAIT-2 after `finwait2_timeout` instead of after
    /// `tcp_maxidle` (keepcnt × keepintvl, 600 s) of idleness (tcp_timer.c `tcp_timer_2msl()`).
    InetTcpFastFinWait2Recycle = "net.inet.tcp.fast_finwait2_recycle", int(0, 1), since (0, 0);
    /// FreeBSD: the orphaned FIN-WAIT-2 timeout (ms) under `fast_finwait2_recycle`.
    InetTcpFinWait2Timeout = "net.inet.tcp.finwait2_timeout", int(0, i32::MAX as i64), since (0, 0);
    /// FreeBSD, macOS: the first port of the ephemeral range (`in_pcb_lport_dest()`).
    InetPortrangeFirst = "net.inet.ip.portrange.first", int(1, 65535), since (0, 0);
    /// FreeBSD, macOS: the last port of the ephemeral range.
    InetPortrangeLast = "net.inet.ip.portrange.last", int(1, 65535), since (0, 0);
    /// Windows: `HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters\TcpTimedWaitDelay`,
    /// the TIME-WAIT length in seconds (30-300; documented default 240 s, "TIME-WAIT Delay",
    /// Windows Server 2003 TCP/IP documentation, ms819739).
    WinTcpTimedWaitDelay = "TcpTimedWaitDelay", int(30, 300), since (0, 0);
}

impl SysctlKey {
    /// Whether the key exists on `os`.
    pub fn on(self, os: crate::profile::Os) -> bool {
        use crate::profile::Os;
        match self {
            Self::InetTcpMsl | Self::InetPortrangeFirst | Self::InetPortrangeLast => {
                matches!(os, Os::FreeBsd | Os::MacOs)
            }
            Self::InetTcpNoLocalTimeWait
            | Self::InetTcpFastFinWait2Recycle
            | Self::InetTcpFinWait2Timeout => os == Os::FreeBsd,
            Self::WinTcpTimedWaitDelay => os == Os::Windows,
            _ => os == Os::Linux,
        }
    }

    /// Whether a kernel of `profile` has the key (for Linux, from the release in
    /// [`SysctlKey::since`]).
    pub fn exists_on(self, profile: crate::profile::Profile) -> bool {
        let (maj, min) = self.since();
        self.on(profile.os)
            && (profile.os != crate::profile::Os::Linux || profile.at_least(maj, min))
    }
}

impl SysctlKey {
    /// Finds a key by its dotted name (also accepted with `/` separators, as under
    /// `/proc/sys`).
    pub fn from_name(name: &str) -> Option<Self> {
        let norm = name
            .trim()
            .trim_start_matches("/proc/sys/")
            .replace('/', ".");
        Self::ALL.iter().copied().find(|k| k.name() == norm)
    }

    /// The path under `/proc/sys`.
    pub fn proc_path(self) -> String {
        format!("/proc/sys/{}", self.name().replace('.', "/"))
    }
}

impl fmt::Display for SysctlKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Keys that operators still find in old configuration files but that no longer exist, with
/// the release that removed them.
pub const REMOVED_KEYS: &[(&str, &str)] = &[
    (
        "net.ipv4.tcp_tw_recycle",
        "removed in Linux 4.12 (commit 4396e46187ca, \"tcp: remove tcp_tw_recycle\")",
    ),
    (
        "net.inet.tcp.maxtcptw",
        "removed in FreeBSD 14.0 with the compressed TIME-WAIT structure (commit 0d7445193abc, \
         \"tcp: remove tcptw, the compressed timewait state structure\"): TIME-WAIT is an \
         ordinary tcpcb with no count limit; 13.x is not modelled",
    ),
];

/// A sysctl value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SysctlValue {
    /// One integer.
    Int(i64),
    /// A port range `lo hi`.
    Range(u16, u16),
    /// A set of ports.
    Ports(BTreeSet<u16>),
}

impl fmt::Display for SysctlValue {
    /// Writes the value as `/proc/sys` shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(v) => write!(f, "{v}"),
            Self::Range(lo, hi) => write!(f, "{lo} {hi}"),
            Self::Ports(ports) => {
                // Compress runs into a-b, as the kernel prints them.
                let mut first = true;
                let mut iter = ports.iter().copied().peekable();
                while let Some(start) = iter.next() {
                    let mut end = start;
                    while iter.peek() == Some(&(end.wrapping_add(1))) && end != u16::MAX {
                        end = iter.next().unwrap_or(end);
                    }
                    if !first {
                        f.write_str(",")?;
                    }
                    first = false;
                    if start == end {
                        write!(f, "{start}")?;
                    } else {
                        write!(f, "{start}-{end}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// One setting: a key and a value, written `key=value`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Sysctl {
    /// The key.
    pub key: SysctlKey,
    /// The value, already checked against the key's shape and range.
    pub value: SysctlValue,
}

impl fmt::Display for Sysctl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// Why a sysctl setting was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SysctlError {
    /// The text has no `=`.
    NoEquals(String),
    /// The key was removed from Linux (with the release that removed it).
    Removed(String, &'static str),
    /// The key is not one the model knows.
    UnknownKey(String),
    /// The value does not have the key's shape.
    BadValue {
        /// The key.
        key: SysctlKey,
        /// The value as written.
        value: String,
        /// What was expected.
        expected: String,
    },
}

impl fmt::Display for SysctlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoEquals(s) => write!(f, "`{s}` is not of the form key=value"),
            Self::Removed(k, why) => write!(f, "`{k}` no longer exists: {why}"),
            Self::UnknownKey(k) => write!(
                f,
                "unknown or unmodelled sysctl `{k}` (known: {})",
                SysctlKey::ALL
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::BadValue {
                key,
                value,
                expected,
            } => {
                write!(f, "bad value `{value}` for {key}: expected {expected}")
            }
        }
    }
}

impl std::error::Error for SysctlError {}

impl SysctlKey {
    /// Parses and range-checks a value for this key.
    pub fn parse_value(self, text: &str) -> Result<SysctlValue, SysctlError> {
        let text = text.trim();
        let bad = |expected: String| SysctlError::BadValue {
            key: self,
            value: text.to_owned(),
            expected,
        };
        match self.shape() {
            Shape::Int { min, max } => {
                let v: i64 = text
                    .parse()
                    .map_err(|_| bad(format!("an integer in {min}..={max}")))?;
                if !(min..=max).contains(&v) {
                    return Err(bad(format!("an integer in {min}..={max}")));
                }
                Ok(SysctlValue::Int(v))
            }
            Shape::PortRange => {
                let expected = || "two ports `lo hi` with 1 <= lo <= hi <= 65535".to_owned();
                let parts: Vec<&str> = text.split_whitespace().collect();
                let [lo, hi] = parts.as_slice() else {
                    return Err(bad(expected()));
                };
                let lo: u16 = lo.parse().map_err(|_| bad(expected()))?;
                let hi: u16 = hi.parse().map_err(|_| bad(expected()))?;
                if lo == 0 || lo > hi {
                    return Err(bad(expected()));
                }
                Ok(SysctlValue::Range(lo, hi))
            }
            Shape::PortList => {
                let expected = || "a comma-separated list of ports and a-b ranges".to_owned();
                let mut ports = BTreeSet::new();
                for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let (a, b) = part.split_once('-').unwrap_or((part, part));
                    let a: u16 = a.trim().parse().map_err(|_| bad(expected()))?;
                    let b: u16 = b.trim().parse().map_err(|_| bad(expected()))?;
                    if a > b {
                        return Err(bad(expected()));
                    }
                    ports.extend(a..=b);
                }
                Ok(SysctlValue::Ports(ports))
            }
        }
    }
}

impl FromStr for Sysctl {
    type Err = SysctlError;
    /// Parses `key=value` (spaces around `=` allowed).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (key, value) = s
            .split_once('=')
            .ok_or_else(|| SysctlError::NoEquals(s.to_owned()))?;
        let key_text = key.trim();
        let Some(key) = SysctlKey::from_name(key_text) else {
            let norm = key_text.replace('/', ".");
            return Err(match REMOVED_KEYS.iter().find(|(k, _)| *k == norm) {
                Some((k, why)) => SysctlError::Removed((*k).to_owned(), why),
                None => SysctlError::UnknownKey(key_text.to_owned()),
            });
        };
        Ok(Self {
            key,
            value: key.parse_value(value)?,
        })
    }
}

/// The values of every modelled sysctl in one network namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sysctls {
    /// `ip_local_port_range` (lo, hi).
    pub ip_local_port_range: (u16, u16),
    /// `ip_local_reserved_ports`.
    pub ip_local_reserved_ports: BTreeSet<u16>,
    /// `ip_unprivileged_port_start`.
    pub ip_unprivileged_port_start: u16,
    /// `ip_autobind_reuse`.
    pub ip_autobind_reuse: bool,
    /// `ip_nonlocal_bind`.
    pub ip_nonlocal_bind: bool,
    /// `tcp_tw_reuse` (0, 1, 2).
    pub tcp_tw_reuse: u8,
    /// `tcp_tw_reuse_delay` (ms).
    pub tcp_tw_reuse_delay_ms: u32,
    /// `tcp_timestamps` (0, 1, 2).
    pub tcp_timestamps: u8,
    /// `tcp_fin_timeout` (s).
    pub tcp_fin_timeout_s: u32,
    /// `tcp_max_tw_buckets`.
    pub tcp_max_tw_buckets: u32,
    /// `tcp_rfc1337`.
    pub tcp_rfc1337: bool,
    /// `tcp_keepalive_time` (s).
    pub tcp_keepalive_time_s: u32,
    /// `tcp_keepalive_intvl` (s).
    pub tcp_keepalive_intvl_s: u32,
    /// `tcp_keepalive_probes`.
    pub tcp_keepalive_probes: u32,
    /// `tcp_syn_retries`.
    pub tcp_syn_retries: u32,
    /// `tcp_orphan_retries`.
    pub tcp_orphan_retries: u32,
    /// `tcp_abort_on_overflow`: read by `tcp_check_req()` only, which sequential calls on
    /// loopback never bring to a full queue (the SYN is dropped first); kept so that a
    /// configuration can name it and be told so.
    pub tcp_abort_on_overflow: bool,
    /// `net.ipv6.bindv6only` (FreeBSD `net.inet6.ip6.v6only`; Windows: IPV6_V6ONLY is on by
    /// default).
    pub bindv6only: bool,
    /// `net.inet.tcp.msl` (ms; FreeBSD, macOS).
    pub msl_ms: u32,
    /// `net.inet.tcp.nolocaltimewait` (FreeBSD).
    pub nolocaltimewait: bool,
    /// `net.inet.tcp.fast_finwait2_recycle` (FreeBSD).
    pub fast_finwait2_recycle: bool,
    /// `net.inet.tcp.finwait2_timeout` (ms; FreeBSD).
    pub finwait2_timeout_ms: u32,
    /// `TcpTimedWaitDelay` (s; Windows).
    pub tcp_timed_wait_delay_s: u32,
}

impl Sysctls {
    /// The value `tcp_max_tw_buckets` has in a fresh namespace on a typical host: half the
    /// established hash size, which depends on memory (131072 on the development machine).
    /// Any value above the handful of sockets a case creates behaves the same.
    pub const DEFAULT_MAX_TW_BUCKETS: u32 = 131_072;

    /// A fresh network namespace's values (Linux compiled-in defaults).
    pub fn linux_defaults() -> Self {
        Self {
            ip_local_port_range: (32768, 60999),
            ip_local_reserved_ports: BTreeSet::new(),
            ip_unprivileged_port_start: 1024,
            ip_autobind_reuse: false,
            ip_nonlocal_bind: false,
            tcp_tw_reuse: 2,
            tcp_tw_reuse_delay_ms: 1000,
            tcp_timestamps: 1,
            tcp_fin_timeout_s: 60,
            tcp_max_tw_buckets: Self::DEFAULT_MAX_TW_BUCKETS,
            tcp_rfc1337: false,
            tcp_keepalive_time_s: 7200,
            tcp_keepalive_intvl_s: 75,
            tcp_keepalive_probes: 9,
            tcp_syn_retries: 6,
            tcp_orphan_retries: 0,
            tcp_abort_on_overflow: false,
            bindv6only: false,
            // Keys of other OSes: never read on Linux.
            msl_ms: 30_000,
            nolocaltimewait: false,
            fast_finwait2_recycle: false,
            finwait2_timeout_ms: 60_000,
            tcp_timed_wait_delay_s: 240,
        }
    }

    /// The defaults of `os`. The Linux fields that other OSes have no key for are set to the
    /// value that gives that OS's fixed behaviour (no `tcp_tw_reuse`: 0; RST never ends
    /// TIME-WAIT on the BSDs: `tcp_rfc1337` 1; no TIME-WAIT count limit), and are refused as
    /// settings on those profiles.
    pub fn defaults_for(os: crate::profile::Os) -> Self {
        use crate::profile::Os;
        let base = Self {
            tcp_tw_reuse: 0,
            tcp_max_tw_buckets: u32::MAX,
            ..Self::linux_defaults()
        };
        match os {
            Os::Linux => Self::linux_defaults(),
            // sys/netinet/in_pcb.c: portrange first/last 10000..65535; reservedhigh 1023;
            // netinet6: net.inet6.ip6.v6only=1; tcp_timer.c: msl 30 s; tcp_timer.c:
            // finwait2_timeout 60 s, fast_finwait2_recycle 0; tcp_timewait.c:
            // nolocaltimewait 1 since 14.0 (92b3e07229ba, per the research notes).
            Os::FreeBsd => Self {
                ip_local_port_range: (10000, 65535),
                tcp_rfc1337: true,
                bindv6only: true,
                msl_ms: 30_000,
                nolocaltimewait: true,
                ..base
            },
            // XNU: portrange 49152..65535; v6only 0; TCPTV_MSL 15 s.
            Os::MacOs => Self {
                ip_local_port_range: (49152, 65535),
                tcp_rfc1337: true,
                bindv6only: false,
                msl_ms: 15_000,
                ..base
            },
            // Windows: dynamic port range 49152..65535 (Vista and later); IPV6_V6ONLY on by
            // default; no privileged ports; TcpTimedWaitDelay 240 s documented.
            Os::Windows => Self {
                ip_local_port_range: (49152, 65535),
                ip_unprivileged_port_start: 0,
                bindv6only: true,
                tcp_timed_wait_delay_s: 240,
                ..base
            },
        }
    }

    /// Applies one setting.
    pub fn set(&mut self, s: &Sysctl) {
        let int = |v: &SysctlValue| match v {
            SysctlValue::Int(i) => *i,
            // Settings are shape-checked at parse time, so a key always gets its own shape.
            other => unreachable!("sysctl value {other:?} of the wrong shape"),
        };
        match s.key {
            SysctlKey::IpLocalPortRange => match s.value {
                SysctlValue::Range(lo, hi) => self.ip_local_port_range = (lo, hi),
                ref other => unreachable!("sysctl value {other:?} of the wrong shape"),
            },
            SysctlKey::IpLocalReservedPorts => match &s.value {
                SysctlValue::Ports(p) => self.ip_local_reserved_ports = p.clone(),
                other => unreachable!("sysctl value {other:?} of the wrong shape"),
            },
            SysctlKey::IpUnprivilegedPortStart => {
                self.ip_unprivileged_port_start = int(&s.value) as u16;
            }
            SysctlKey::IpAutobindReuse => self.ip_autobind_reuse = int(&s.value) != 0,
            SysctlKey::IpNonlocalBind => self.ip_nonlocal_bind = int(&s.value) != 0,
            SysctlKey::TcpTwReuse => self.tcp_tw_reuse = int(&s.value) as u8,
            SysctlKey::TcpTwReuseDelay => self.tcp_tw_reuse_delay_ms = int(&s.value) as u32,
            SysctlKey::TcpTimestamps => self.tcp_timestamps = int(&s.value) as u8,
            SysctlKey::TcpFinTimeout => self.tcp_fin_timeout_s = int(&s.value) as u32,
            SysctlKey::TcpMaxTwBuckets => self.tcp_max_tw_buckets = int(&s.value) as u32,
            SysctlKey::TcpRfc1337 => self.tcp_rfc1337 = int(&s.value) != 0,
            SysctlKey::TcpKeepaliveTime => self.tcp_keepalive_time_s = int(&s.value) as u32,
            SysctlKey::TcpKeepaliveIntvl => self.tcp_keepalive_intvl_s = int(&s.value) as u32,
            SysctlKey::TcpKeepaliveProbes => self.tcp_keepalive_probes = int(&s.value) as u32,
            SysctlKey::TcpSynRetries => self.tcp_syn_retries = int(&s.value) as u32,
            SysctlKey::TcpOrphanRetries => self.tcp_orphan_retries = int(&s.value) as u32,
            SysctlKey::TcpAbortOnOverflow => self.tcp_abort_on_overflow = int(&s.value) != 0,
            SysctlKey::Ipv6Bindv6only => self.bindv6only = int(&s.value) != 0,
            SysctlKey::InetTcpMsl => self.msl_ms = int(&s.value) as u32,
            SysctlKey::InetTcpNoLocalTimeWait => self.nolocaltimewait = int(&s.value) != 0,
            SysctlKey::InetTcpFastFinWait2Recycle => {
                self.fast_finwait2_recycle = int(&s.value) != 0;
            }
            SysctlKey::InetTcpFinWait2Timeout => self.finwait2_timeout_ms = int(&s.value) as u32,
            SysctlKey::WinTcpTimedWaitDelay => self.tcp_timed_wait_delay_s = int(&s.value) as u32,
            // The BSDs keep the range as two ports; the model keeps one range.
            SysctlKey::InetPortrangeFirst => self.ip_local_port_range.0 = int(&s.value) as u16,
            SysctlKey::InetPortrangeLast => self.ip_local_port_range.1 = int(&s.value) as u16,
        }
    }

    /// The current value of a key.
    pub fn value(&self, key: SysctlKey) -> SysctlValue {
        use SysctlValue::Int;
        match key {
            SysctlKey::IpLocalPortRange => {
                SysctlValue::Range(self.ip_local_port_range.0, self.ip_local_port_range.1)
            }
            SysctlKey::IpLocalReservedPorts => {
                SysctlValue::Ports(self.ip_local_reserved_ports.clone())
            }
            SysctlKey::IpUnprivilegedPortStart => Int(self.ip_unprivileged_port_start.into()),
            SysctlKey::IpAutobindReuse => Int(self.ip_autobind_reuse.into()),
            SysctlKey::IpNonlocalBind => Int(self.ip_nonlocal_bind.into()),
            SysctlKey::TcpTwReuse => Int(self.tcp_tw_reuse.into()),
            SysctlKey::TcpTwReuseDelay => Int(self.tcp_tw_reuse_delay_ms.into()),
            SysctlKey::TcpTimestamps => Int(self.tcp_timestamps.into()),
            SysctlKey::TcpFinTimeout => Int(self.tcp_fin_timeout_s.into()),
            SysctlKey::TcpMaxTwBuckets => Int(self.tcp_max_tw_buckets.into()),
            SysctlKey::TcpRfc1337 => Int(self.tcp_rfc1337.into()),
            SysctlKey::TcpKeepaliveTime => Int(self.tcp_keepalive_time_s.into()),
            SysctlKey::TcpKeepaliveIntvl => Int(self.tcp_keepalive_intvl_s.into()),
            SysctlKey::TcpKeepaliveProbes => Int(self.tcp_keepalive_probes.into()),
            SysctlKey::TcpSynRetries => Int(self.tcp_syn_retries.into()),
            SysctlKey::TcpOrphanRetries => Int(self.tcp_orphan_retries.into()),
            SysctlKey::TcpAbortOnOverflow => Int(self.tcp_abort_on_overflow.into()),
            SysctlKey::Ipv6Bindv6only => Int(self.bindv6only.into()),
            SysctlKey::InetTcpMsl => Int(self.msl_ms.into()),
            SysctlKey::InetTcpNoLocalTimeWait => Int(self.nolocaltimewait.into()),
            SysctlKey::InetTcpFastFinWait2Recycle => Int(self.fast_finwait2_recycle.into()),
            SysctlKey::InetTcpFinWait2Timeout => Int(self.finwait2_timeout_ms.into()),
            SysctlKey::WinTcpTimedWaitDelay => Int(self.tcp_timed_wait_delay_s.into()),
            SysctlKey::InetPortrangeFirst => Int(self.ip_local_port_range.0.into()),
            SysctlKey::InetPortrangeLast => Int(self.ip_local_port_range.1.into()),
        }
    }

    /// Whether the kernel accepts writing `s` now: the value ranges are checked when a setting
    /// is parsed; this checks the constraints between keys. `ip_local_port_range` must start at
    /// or above `ip_unprivileged_port_start`, and `ip_unprivileged_port_start` must not exceed
    /// the range's start (`ipv4_local_port_range()`, `ipv4_privileged_ports()`).
    pub fn check_write(&self, s: &Sysctl) -> Result<(), String> {
        match (&s.key, &s.value) {
            (SysctlKey::IpLocalPortRange, SysctlValue::Range(lo, _))
                if *lo < self.ip_unprivileged_port_start =>
            {
                Err(format!(
                    "{s}: the range must start at or above ip_unprivileged_port_start ({})",
                    self.ip_unprivileged_port_start
                ))
            }
            (SysctlKey::IpUnprivilegedPortStart, SysctlValue::Int(v))
                if *v > i64::from(self.ip_local_port_range.0) =>
            {
                Err(format!(
                    "{s}: must not exceed the start of ip_local_port_range ({})",
                    self.ip_local_port_range.0
                ))
            }
            // sysctl_net_ipport_check() clamps rather than refuses; the model refuses a range
            // that would be empty instead of guessing the clamp.
            (SysctlKey::InetPortrangeFirst, SysctlValue::Int(v))
                if *v > i64::from(self.ip_local_port_range.1) =>
            {
                Err(format!("{s}: above net.inet.ip.portrange.last"))
            }
            (SysctlKey::InetPortrangeLast, SysctlValue::Int(v))
                if *v < i64::from(self.ip_local_port_range.0) =>
            {
                Err(format!("{s}: below net.inet.ip.portrange.first"))
            }
            _ => Ok(()),
        }
    }

    /// The settings in which `self` differs from `base`.
    /// The BSD port-range keys are views of `ip_local_port_range` and are not listed again.
    pub fn diff_from(&self, base: &Self) -> Vec<Sysctl> {
        SysctlKey::ALL
            .iter()
            .filter(|k| {
                !matches!(
                    k,
                    SysctlKey::InetPortrangeFirst | SysctlKey::InetPortrangeLast
                )
            })
            .filter(|k| self.value(**k) != base.value(**k))
            .map(|k| Sysctl {
                key: *k,
                value: self.value(*k),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_print_back() {
        for text in [
            "net.ipv4.tcp_tw_reuse=0",
            "net.ipv4.ip_local_port_range=40000 40003",
            "net.ipv4.ip_local_reserved_ports=40000-40002,40010",
        ] {
            let s: Sysctl = text.parse().unwrap();
            assert_eq!(s.to_string(), text);
        }
    }

    #[test]
    fn out_of_range_wrong_shape_unknown_and_removed_keys_are_refused() {
        assert!(matches!(
            "net.ipv4.tcp_tw_reuse=3".parse::<Sysctl>(),
            Err(SysctlError::BadValue { .. })
        ));
        assert!(matches!(
            "net.ipv4.ip_local_port_range=5 4".parse::<Sysctl>(),
            Err(SysctlError::BadValue { .. })
        ));
        assert!(matches!(
            "net.ipv4.tcp_tw_reuse=yes".parse::<Sysctl>(),
            Err(SysctlError::BadValue { .. })
        ));
        assert!(matches!(
            "net.ipv4.tcp_nope=1".parse::<Sysctl>(),
            Err(SysctlError::UnknownKey(_))
        ));
        assert!(matches!(
            "net.ipv4.tcp_tw_recycle=1".parse::<Sysctl>(),
            Err(SysctlError::Removed(..))
        ));
        assert!(matches!(
            "tcp_tw_reuse".parse::<Sysctl>(),
            Err(SysctlError::NoEquals(_))
        ));
    }

    #[test]
    fn every_key_round_trips_through_sysctls() {
        let mut s = Sysctls::linux_defaults();
        for &k in SysctlKey::ALL {
            let v = s.value(k);
            s.set(&Sysctl {
                key: k,
                value: v.clone(),
            });
            assert_eq!(s.value(k), v, "{k}");
        }
    }
}
