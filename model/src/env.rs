//! Port variables: the values a scenario's `$P`s stand for.
//!
//! Both sides of a lock-step run resolve ports through the same environment: a variable gets
//! its value from the kernel's choice (or, model alone, from the model's canonical choice) the
//! first time a call or a table binds it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::addr::{Port, Var};

/// Values of port variables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Env {
    vars: BTreeMap<String, u16>,
}

impl Env {
    /// An empty environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of a variable, if it has one.
    pub fn get(&self, var: &Var) -> Option<u16> {
        self.vars.get(&var.0).copied()
    }

    /// Gives a variable a value (a later binding of the same variable replaces it).
    pub fn bind(&mut self, var: &Var, port: u16) {
        self.vars.insert(var.0.clone(), port);
    }

    /// The port a [`Port`] stands for: a literal, a bound variable, or `None` for a variable
    /// without a value (which `bind()` treats as port 0).
    pub fn resolve(&self, port: &Port) -> Option<u16> {
        match port {
            Port::Lit(p) => Some(*p),
            Port::Var(v) => self.get(v),
        }
    }

    /// The port to pass to the kernel: unbound variables become 0 ("kernel, choose").
    pub fn resolve_or_zero(&self, port: &Port) -> u16 {
        self.resolve(port).unwrap_or(0)
    }

    /// The name of the variable bound to `port`, if one is (the first in name order).
    pub fn name_of(&self, port: u16) -> Option<String> {
        self.vars
            .iter()
            .find(|(_, p)| **p == port)
            .map(|(n, _)| format!("${n}"))
    }

    /// Every binding, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u16)> {
        self.vars.iter().map(|(n, p)| (n.as_str(), *p))
    }
}
