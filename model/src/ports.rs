//! Sets of ports the kernel may choose from.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The ports a kernel-chosen port must come from: every port of `lo..=hi` with the given
/// parity (if any), except `except`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSet {
    /// Lowest port.
    pub lo: u16,
    /// Highest port.
    pub hi: u16,
    /// `Some(0)` even ports only, `Some(1)` odd ports only.
    pub parity: Option<u16>,
    /// Ports of the range that are not allowed.
    pub except: BTreeSet<u16>,
}

impl PortSet {
    /// Whether `port` is allowed.
    pub fn contains(&self, port: u16) -> bool {
        (self.lo..=self.hi).contains(&port)
            && self.parity.is_none_or(|p| port % 2 == p)
            && !self.except.contains(&port)
    }

    /// The allowed ports, lowest first.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (self.lo..=self.hi).filter(move |p| self.contains(*p))
    }

    /// The lowest allowed port.
    pub fn first(&self) -> Option<u16> {
        self.iter().next()
    }

    /// The first allowed port after `port`, wrapping round to the lowest; `None` when `port`
    /// is the only one allowed, or none is.
    pub fn first_after(&self, port: u16) -> Option<u16> {
        self.iter()
            .find(|&p| p > port)
            .or_else(|| self.first())
            .filter(|&p| p != port)
    }

    /// Whether no port is allowed.
    pub fn is_empty(&self) -> bool {
        self.first().is_none()
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.lo, self.hi)?;
        match self.parity {
            Some(0) => f.write_str(" even")?,
            Some(_) => f.write_str(" odd")?,
            None => {}
        }
        if !self.except.is_empty() {
            let shown: Vec<String> = self.except.iter().take(8).map(|p| p.to_string()).collect();
            write!(f, " except {}", shown.join(","))?;
            if self.except.len() > 8 {
                write!(f, ",… ({} ports)", self.except.len())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn even(lo: u16, hi: u16, except: &[u16]) -> PortSet {
        PortSet {
            lo,
            hi,
            parity: Some(0),
            except: except.iter().copied().collect(),
        }
    }

    #[test]
    fn first_after_moves_on_and_wraps() {
        let set = even(40000, 40010, &[40004]);
        assert_eq!(set.first_after(40002), Some(40006));
        assert_eq!(set.first_after(40010), Some(40000));
        assert_eq!(set.first_after(39000), Some(40000));
        assert_eq!(set.first_after(65535), Some(40000));
        assert_eq!(even(40000, 40000, &[]).first_after(40000), None);
        assert_eq!(even(40000, 40002, &[40000, 40002]).first_after(40000), None);
    }
}
