//! A case's configuration: the kernel profile, the topology and each namespace's sysctls.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use tcpconform_model::{Host, Model, Mutant, Profile, Sysctl, Sysctls, Topology};

/// How one case is set up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseConfig {
    /// The profile the model predicts for.
    pub profile: Profile,
    /// Two hosts joined by a veth pair (else loopback only).
    pub two_hosts: bool,
    /// Sysctls written in the case's namespaces (only those differing from defaults).
    pub sysctls: Vec<(Host, Sysctl)>,
    /// The fault switched on in the model (the mutation self-test); `None` normally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutant: Option<Mutant>,
}

impl CaseConfig {
    /// Defaults of `profile`, one host.
    pub fn defaults(profile: Profile) -> Self {
        Self {
            profile,
            two_hosts: false,
            sysctls: Vec::new(),
            mutant: None,
        }
    }

    /// The topology.
    pub fn topology(&self) -> Topology {
        if self.two_hosts {
            Topology::two_hosts()
        } else {
            Topology::loopback()
        }
    }

    /// Each host's sysctl values.
    pub fn host_sysctls(&self) -> BTreeMap<Host, Sysctls> {
        let mut map = BTreeMap::new();
        for (h, _) in &self.topology().hosts {
            map.insert(*h, self.profile.default_sysctls());
        }
        for (h, s) in &self.sysctls {
            if let Some(v) = map.get_mut(h) {
                v.set(s);
            }
        }
        map
    }

    /// A fresh model for this configuration.
    pub fn model(&self) -> Model {
        Model::new(self.profile, self.topology(), self.host_sysctls()).with_mutant(self.mutant)
    }
}

/// The configurations a campaign draws its cases from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigSpace {
    /// Every case uses this configuration.
    Fixed(CaseConfig),
    /// Each case draws sysctls around `base` (each modelled key with a fair chance of an
    /// interesting value: a tiny or odd-parity port range, reserved ports, `tcp_tw_reuse` 0/1/2,
    /// timestamps off, `tcp_max_tw_buckets` 0 or 1, …), or, in a quarter of the cases, the
    /// settings of a reconnect over TIME-WAIT together; when `two_hosts`, a quarter of the
    /// cases run on two hosts joined by a veth pair.
    Generated {
        /// The settings every case starts from.
        base: CaseConfig,
        /// Whether some cases use two hosts.
        two_hosts: bool,
    },
}

/// The values a generated configuration draws for each key (besides its default).
pub const INTERESTING: &[(&str, &[&str])] = &[
    ("net.ipv4.tcp_tw_reuse", &["0", "1", "2"]),
    // 1 ms rather than 1 s: without it no TIME-WAIT is old enough for tcp_tw_reuse within a
    // case that does not sleep (6.14+ only; older profiles never draw it).
    ("net.ipv4.tcp_tw_reuse_delay", &["1"]),
    ("net.ipv4.tcp_timestamps", &["0", "2"]),
    (
        "net.ipv4.ip_local_port_range",
        &[
            "40000 40000",
            "40000 40001",
            "40000 40003",
            "40001 40004",
            "40000 40009",
        ],
    ),
    (
        "net.ipv4.ip_local_reserved_ports",
        &["40000", "40001", "40000-40001", "40003"],
    ),
    ("net.ipv4.ip_autobind_reuse", &["1"]),
    ("net.ipv4.tcp_max_tw_buckets", &["0", "1", "2"]),
    ("net.ipv4.tcp_rfc1337", &["1"]),
    ("net.ipv6.bindv6only", &["1"]),
    ("net.ipv4.tcp_fin_timeout", &["1", "30"]),
    ("net.ipv4.ip_unprivileged_port_start", &["0", "5001"]),
];

/// Every setting of [`INTERESTING`] with its key and value as written, parsed once per
/// process (the generator offers them as `sysctl()` calls at every step).
fn parsed_interesting() -> &'static [(&'static str, &'static str, Sysctl)] {
    static PARSED: std::sync::LazyLock<Vec<(&str, &str, Sysctl)>> =
        std::sync::LazyLock::new(|| {
            INTERESTING
                .iter()
                .flat_map(|(key, values)| values.iter().map(move |v| (*key, *v, parse(key, v))))
                .collect()
        });
    &PARSED
}

fn parse(key: &str, value: &str) -> Sysctl {
    format!("{key}={value}")
        .parse::<Sysctl>()
        .expect("INTERESTING holds valid settings")
}

fn has_key(profile: Profile, s: &Sysctl) -> bool {
    let (maj, min) = s.key.since();
    profile.at_least(maj, min)
}

/// Every setting of [`INTERESTING`] that `profile`'s kernel has, in the table's order.
pub fn interesting(profile: Profile) -> impl Iterator<Item = &'static Sysctl> {
    parsed_interesting()
        .iter()
        .map(|(_, _, s)| s)
        .filter(move |s| has_key(profile, s))
}

/// The settings `key=value` for each of `values` (those of [`INTERESTING`] parsed once), if
/// `profile`'s kernel has the key (none for a key it lacks).
pub fn interesting_settings(profile: Profile, key: &str, values: &[&str]) -> Vec<Sysctl> {
    values
        .iter()
        .map(|v| {
            parsed_interesting()
                .iter()
                .find(|(k, value, _)| *k == key && value == v)
                .map_or_else(|| parse(key, v), |(_, _, s)| s.clone())
        })
        .filter(|s| has_key(profile, s))
        .collect()
}

fn sysctl_strategy(profile: Profile, host: Host) -> BoxedStrategy<Vec<(Host, Sysctl)>> {
    let per_key: Vec<BoxedStrategy<Option<(Host, Sysctl)>>> = INTERESTING
        .iter()
        .map(|(key, values)| interesting_settings(profile, key, values))
        .filter(|settings| !settings.is_empty())
        .map(|settings| {
            prop_oneof![
                3 => Just(None),
                1 => proptest::sample::select(settings).prop_map(move |s| Some((host, s))),
            ]
            .boxed()
        })
        .collect();
    per_key
        .prop_map(|v| v.into_iter().flatten().collect())
        .boxed()
}

/// The settings under which a connection's TIME-WAIT meets the next connection to the same
/// peer, drawn together (one case in four): a port range of one or two ports (so that
/// `connect()` must walk onto the TIME-WAIT's port), `tcp_tw_reuse_delay` of 1 ms (so that a
/// case that does not sleep can take it over, 6.14+), and `tcp_tw_reuse` and
/// `tcp_timestamps` as drawn, which decide whether it may. Independent draws meet all of them
/// about once in three hundred cases.
fn time_wait_reuse_strategy(profile: Profile, host: Host) -> BoxedStrategy<Vec<(Host, Sysctl)>> {
    let one = |key: &str, values: &[&str]| -> BoxedStrategy<Option<(Host, Sysctl)>> {
        let settings = interesting_settings(profile, key, values);
        if settings.is_empty() {
            return Just(None).boxed();
        }
        proptest::sample::select(settings)
            .prop_map(move |s| Some((host, s)))
            .boxed()
    };
    let maybe = |key: &str, values: &[&str]| -> BoxedStrategy<Option<(Host, Sysctl)>> {
        let settings = interesting_settings(profile, key, values);
        if settings.is_empty() {
            return Just(None).boxed();
        }
        prop_oneof![
            2 => Just(None),
            1 => proptest::sample::select(settings).prop_map(move |s| Some((host, s))),
        ]
        .boxed()
    };
    vec![
        // One port twice as often as two: a connect() must then take the TIME-WAIT's.
        one(
            "net.ipv4.ip_local_port_range",
            &["40000 40000", "40000 40000", "40000 40001"],
        ),
        one("net.ipv4.tcp_tw_reuse_delay", &["1"]),
        maybe("net.ipv4.tcp_tw_reuse", &["0", "1"]),
        maybe("net.ipv4.tcp_timestamps", &["0"]),
    ]
    .prop_map(|v| v.into_iter().flatten().collect())
    .boxed()
}

impl ConfigSpace {
    /// A strategy over the space.
    pub fn strategy(&self) -> BoxedStrategy<CaseConfig> {
        match self {
            Self::Fixed(c) => Just(c.clone()).boxed(),
            Self::Generated { base, two_hosts } => {
                let base = base.clone();
                let hosts = if *two_hosts {
                    prop_oneof![3 => Just(false), 1 => Just(true)].boxed()
                } else {
                    Just(false).boxed()
                };
                let profile = base.profile;
                let sysctls = prop_oneof![
                    3 => (
                        sysctl_strategy(profile, Host::A),
                        sysctl_strategy(profile, Host::B),
                    ),
                    1 => (
                        time_wait_reuse_strategy(profile, Host::A),
                        time_wait_reuse_strategy(profile, Host::B),
                    ),
                ];
                (hosts, sysctls)
                    .prop_map(move |(two, (a, b))| {
                        let mut c = base.clone();
                        c.two_hosts = two;
                        c.sysctls.extend(a);
                        if two {
                            c.sysctls.extend(b);
                        }
                        c
                    })
                    .boxed()
            }
        }
    }
}

/// Checks that a configuration can be written, in order, into fresh namespaces: every key
/// exists on the profile's kernel and no write breaks a constraint between keys.
pub fn validate(config: &CaseConfig) -> Result<(), String> {
    let mut current = config.host_sysctls_defaults();
    for (h, s) in &config.sysctls {
        let (maj, min) = s.key.since();
        if !s.key.exists_on(config.profile) {
            return Err(if s.key.on(config.profile.os) {
                format!(
                    "{s}: {} has no {} (it appeared in {maj}.{min})",
                    config.profile, s.key
                )
            } else {
                format!("{s}: {} has no such setting as {}", config.profile, s.key)
            });
        }
        if *h == Host::B && !config.two_hosts {
            return Err(format!("{s}: host b exists only with two hosts"));
        }
        let sys = current
            .entry(*h)
            .or_insert_with(|| config.profile.default_sysctls());
        sys.check_write(s)?;
        sys.set(s);
    }
    Ok(())
}

impl CaseConfig {
    fn host_sysctls_defaults(&self) -> BTreeMap<Host, Sysctls> {
        self.topology()
            .hosts
            .iter()
            .map(|(h, _)| (*h, self.profile.default_sysctls()))
            .collect()
    }
}
