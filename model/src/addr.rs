//! Socket names: families, symbolic ports, addresses and their classes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::{Deserialize, Serialize};

/// Address family of a socket (`socket(AF_INET, …)` or `socket(AF_INET6, …)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Family {
    /// `AF_INET`.
    Inet,
    /// `AF_INET6`.
    Inet6,
}

impl Family {
    /// The name used in scenarios (`inet`, `inet6`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Inet => "inet",
            Self::Inet6 => "inet6",
        }
    }

    /// The wildcard address of this family.
    pub fn any(self) -> IpAddr {
        match self {
            Self::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Self::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name of a port variable, without its `$` (`P` in `$P`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Var(pub String);

impl fmt::Display for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}", self.0)
    }
}

/// A port as a scenario writes it: a number, or a variable.
///
/// In `bind()`, a variable that has no value yet means port 0 (the kernel chooses), and the
/// kernel's choice becomes the variable's value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Port {
    /// A literal port number (0 asks the kernel to choose).
    Lit(u16),
    /// A port variable.
    Var(Var),
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Lit(p) => write!(f, "{p}"),
            Self::Var(v) => write!(f, "{v}"),
        }
    }
}

/// An address as ops carry it: an IP address and a (possibly symbolic) port.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SockAddr {
    /// The IP address (IPv4, IPv6 or v4-mapped IPv6).
    pub ip: IpAddr,
    /// The port.
    pub port: Port,
}

impl SockAddr {
    /// An address with a literal port.
    pub fn new(ip: IpAddr, port: u16) -> Self {
        Self {
            ip,
            port: Port::Lit(port),
        }
    }
}

impl fmt::Display for SockAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_ip_port(f, self.ip, &self.port)
    }
}

/// Writes `ip:port` with IPv6 in brackets, as `ss` does.
pub fn fmt_ip_port(f: &mut fmt::Formatter<'_>, ip: IpAddr, port: &dyn fmt::Display) -> fmt::Result {
    match ip {
        IpAddr::V4(a) => write!(f, "{a}:{port}"),
        IpAddr::V6(a) => write!(f, "[{a}]:{port}"),
    }
}

/// The shape of a bound address, as the bind-conflict rules see it
/// (`inet_rcv_saddr_equal()`, `ipv6_rcv_saddr_equal()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AddrClass {
    /// AF_INET `0.0.0.0`.
    V4Any,
    /// AF_INET specific address.
    V4(Ipv4Addr),
    /// AF_INET6 `::`, dual-stack (not IPV6_V6ONLY).
    V6AnyDual,
    /// AF_INET6 `::` with IPV6_V6ONLY.
    V6AnyOnly,
    /// AF_INET6 `::ffff:0.0.0.0`.
    MappedAny,
    /// AF_INET6 `::ffff:a.b.c.d`.
    Mapped(Ipv4Addr),
    /// AF_INET6 native specific address (always v6-only once bound).
    V6(Ipv6Addr),
}

impl AddrClass {
    /// Classifies an address bound by a socket of `family` with the given IPV6_V6ONLY flag.
    pub fn of(family: Family, ip: IpAddr, v6only: bool) -> Self {
        match (family, ip) {
            (Family::Inet, IpAddr::V4(a)) if a.is_unspecified() => Self::V4Any,
            (Family::Inet, IpAddr::V4(a)) => Self::V4(a),
            (_, IpAddr::V6(a)) if a.is_unspecified() => {
                if v6only {
                    Self::V6AnyOnly
                } else {
                    Self::V6AnyDual
                }
            }
            (_, IpAddr::V6(a)) => match a.to_ipv4_mapped() {
                Some(v4) if v4.is_unspecified() => Self::MappedAny,
                Some(v4) => Self::Mapped(v4),
                None => Self::V6(a),
            },
            // An AF_INET6 socket never holds a bare IPv4 address (bind refuses it).
            (Family::Inet6, IpAddr::V4(a)) => Self::Mapped(a),
        }
    }

    /// The IPv4 address this binding covers: `Some(None)` for every IPv4 address,
    /// `Some(Some(a))` for one, `None` for no IPv4 address at all.
    pub fn v4_part(self) -> Option<Option<Ipv4Addr>> {
        match self {
            Self::V4Any | Self::V6AnyDual | Self::MappedAny => Some(None),
            Self::V4(a) | Self::Mapped(a) => Some(Some(a)),
            Self::V6AnyOnly | Self::V6(_) => None,
        }
    }

    /// Whether this binding is on the IPv6 side at all (an AF_INET6 non-mapped address).
    pub fn is_v6_side(self) -> bool {
        matches!(self, Self::V6AnyDual | Self::V6AnyOnly | Self::V6(_))
    }

    /// Whether this is a wildcard binding of any kind.
    pub fn is_wildcard(self) -> bool {
        matches!(
            self,
            Self::V4Any | Self::V6AnyDual | Self::V6AnyOnly | Self::MappedAny
        )
    }
}

/// Whether an address is a loopback address for `tcp_tw_reuse=2`: 127/8, `::1`, or
/// `::ffff:127.0.0.0/104` (`tcp_twsk_unique()`).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_loopback(),
        IpAddr::V6(a) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// The address as a socket of `family` sees it on the wire: v4-mapped addresses of AF_INET6
/// sockets travel as IPv4.
pub fn wire_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Displays a concrete socket address like `ss`, with the port written by `port_name`.
pub struct ShowAddr<'a> {
    /// The address.
    pub addr: SocketAddr,
    /// How ports are named (`$P`), if at all.
    pub names: &'a dyn Fn(u16) -> Option<String>,
}

impl fmt::Display for ShowAddr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let port = self.addr.port();
        let shown = (self.names)(port).unwrap_or_else(|| port.to_string());
        fmt_ip_port(f, self.addr.ip(), &shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_of_the_address_pool() {
        let v6only = false;
        let c = |fam, s: &str| AddrClass::of(fam, s.parse().unwrap(), v6only);
        assert_eq!(c(Family::Inet, "0.0.0.0"), AddrClass::V4Any);
        assert_eq!(c(Family::Inet6, "::"), AddrClass::V6AnyDual);
        assert_eq!(c(Family::Inet6, "::ffff:0.0.0.0"), AddrClass::MappedAny);
        assert_eq!(
            c(Family::Inet6, "::ffff:127.0.0.1"),
            AddrClass::Mapped("127.0.0.1".parse().unwrap())
        );
        assert!(matches!(c(Family::Inet6, "::1"), AddrClass::V6(_)));
    }

    #[test]
    fn loopback_includes_mapped_loopback() {
        assert!(is_loopback("127.0.0.2".parse().unwrap()));
        assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
        assert!(is_loopback("::1".parse().unwrap()));
        assert!(!is_loopback("10.0.0.1".parse().unwrap()));
    }
}
