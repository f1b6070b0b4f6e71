//! A case's configuration: the kernel profile, the topology and each namespace's sysctls.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use tcpconform_model::{Host, Model, Profile, Sysctl, Sysctls, Topology};

/// How one case is set up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseConfig {
    /// The profile the model predicts for.
    pub profile: Profile,
    /// Two hosts joined by a veth pair (else loopback only).
    pub two_hosts: bool,
    /// Sysctls written in the case's namespaces (only those differing from defaults).
    pub sysctls: Vec<(Host, Sysctl)>,
}

impl CaseConfig {
    /// Defaults of `profile`, one host.
    pub fn defaults(profile: Profile) -> Self {
        Self {
            profile,
            two_hosts: false,
            sysctls: Vec::new(),
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
        Model::new(self.profile, self.topology(), self.host_sysctls())
    }
}

/// The configurations a campaign draws its cases from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigSpace {
    /// Every case uses this configuration.
    Fixed(CaseConfig),
}

impl ConfigSpace {
    /// A strategy over the space.
    pub fn strategy(&self) -> BoxedStrategy<CaseConfig> {
        match self {
            Self::Fixed(c) => Just(c.clone()).boxed(),
        }
    }
}
