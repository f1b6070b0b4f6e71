//! Links and addresses, over rtnetlink: `lo` up, the veth pair that joins a two-host case's
//! hosts (its addresses, interface indexes and static neighbours), the spec's extra addresses,
//! the waits until links and IPv6 addresses carry packets, and `quickack` on every route.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NetlinkPayload};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::RouteType;
use tcpconform_model::Host;

use super::SandboxSpec;
use super::namespaces::{Hosts, refuse_in_host};
use crate::error::HarnessError;
use crate::observer::NlSocket;
use crate::{errno, stopwatch, sys};

/// Host `a`'s IPv4 address on the veth link of a two-host case.
pub const HOST_A_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Host `b`'s IPv4 address on the veth link.
pub const HOST_B_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// Prefix length of the IPv4 link.
pub const V4_PREFIX: u8 = 24;
/// Host `a`'s IPv6 address on the veth link.
pub const HOST_A_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
/// Host `b`'s IPv6 address on the veth link.
pub const HOST_B_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
/// Prefix length of the IPv6 link.
pub const V6_PREFIX: u8 = 64;
/// The name of host `a`'s end of the veth pair.
pub const VETH_A: &str = "veth-a";
/// The name of host `b`'s end of the veth pair.
pub const VETH_B: &str = "veth-b";
/// The interface index of `veth-a` in host `a` (different from its peer's: see
/// `Rtnl::add_veth`).
pub const VETH_A_INDEX: u32 = 10;
/// The interface index of `veth-b` in host `b`.
pub const VETH_B_INDEX: u32 = 11;
/// The MAC address of `veth-a`.
pub const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
/// The MAC address of `veth-b`.
pub const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

// ---------------------------------------------------------------------------------------------
// rtnetlink: the two-host topology and extra addresses

pub(super) struct Rtnl {
    nl: NlSocket,
    host: Host,
}

impl Rtnl {
    pub(super) fn open_here(host: Host) -> Result<Self, HarnessError> {
        refuse_in_host("configure links and addresses")?;
        Ok(Self {
            nl: NlSocket::open(netlink_sys::protocols::NETLINK_ROUTE, "rtnetlink")?,
            host,
        })
    }

    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: String,
    ) -> Result<(), HarnessError> {
        let what = format!("{what} on host {}", self.host);
        match self
            .nl
            .request_ack(NetlinkPayload::InnerMessage(msg), flags, &what)?
        {
            Ok(()) => Ok(()),
            Err(n) => Err(HarnessError::netlink(
                what,
                format!("kernel answered {}", errno::from_raw(n)),
            )),
        }
    }

    fn add_address(&mut self, index: u32, ip: IpAddr, prefix: u8) -> Result<(), HarnessError> {
        let mut msg = AddressMessage::default();
        msg.header.index = index;
        msg.header.prefix_len = prefix;
        match ip {
            IpAddr::V4(_) => {
                msg.header.family = AddressFamily::Inet;
                msg.attributes.push(AddressAttribute::Local(ip));
                msg.attributes.push(AddressAttribute::Address(ip));
            }
            IpAddr::V6(_) => {
                msg.header.family = AddressFamily::Inet6;
                msg.header.flags = AddressHeaderFlags::Nodad;
                msg.attributes.push(AddressAttribute::Address(ip));
                msg.attributes
                    .push(AddressAttribute::Flags(AddressFlags::Nodad));
            }
        }
        self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            format!("adding address {ip}/{prefix} to interface {index}"),
        )
    }

    fn add_neighbour(&mut self, index: u32, ip: IpAddr, mac: [u8; 6]) -> Result<(), HarnessError> {
        let mut msg = NeighbourMessage::default();
        msg.header.ifindex = index;
        msg.header.state = NeighbourState::Permanent;
        msg.header.kind = RouteType::Unicast;
        let dest = match ip {
            IpAddr::V4(a) => {
                msg.header.family = AddressFamily::Inet;
                NeighbourAddress::Inet(a)
            }
            IpAddr::V6(a) => {
                msg.header.family = AddressFamily::Inet6;
                NeighbourAddress::Inet6(a)
            }
        };
        msg.attributes.push(NeighbourAttribute::Destination(dest));
        msg.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        self.request(
            RouteNetlinkMessage::NewNeighbour(msg),
            NLM_F_CREATE | NLM_F_REPLACE,
            format!("adding a permanent neighbour entry for {ip}"),
        )
    }

    /// Creates the veth pair from host `a`, with `veth-b` placed straight into `b`.
    ///
    /// The two ends get different interface indexes ([`VETH_A_INDEX`], [`VETH_B_INDEX`]).
    /// Left to the kernel, each would be its namespace's first free index, 2, and a veth
    /// whose index equals its peer's (its `iflink`) makes a non-urgent link event
    /// (`linkwatch_urgent_event()`): the carrier then waits for linkwatch's next run, up to a
    /// second after its last one (`linkwatch_schedule_work()`), and a case set up within a
    /// second of another two-host case waited that long.
    fn add_veth(&mut self, b: &OwnedFd) -> Result<(), HarnessError> {
        let mut peer = LinkMessage::default();
        peer.header.index = VETH_B_INDEX;
        peer.attributes.push(LinkAttribute::IfName(VETH_B.into()));
        peer.attributes.push(LinkAttribute::Address(MAC_B.to_vec()));
        peer.attributes.push(LinkAttribute::NetNsFd(b.as_raw_fd()));
        let mut msg = LinkMessage::default();
        msg.header.index = VETH_A_INDEX;
        msg.attributes.push(LinkAttribute::IfName(VETH_A.into()));
        msg.attributes.push(LinkAttribute::Address(MAC_A.to_vec()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        self.request(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            format!("creating the veth pair {VETH_A}/{VETH_B}"),
        )
    }
}

impl Rtnl {
    /// Sets the `quickack` metric on every local and directly connected route of the
    /// namespace, so that a received FIN (or data) is acknowledged at once.
    ///
    /// Without it, `tcp_fin()` puts the receiver in pingpong mode and its ACK of a FIN may be
    /// delayed (up to `TCP_DELACK_MAX`, 200 ms): the closer then shows FIN-WAIT-1 for a while
    /// instead of FIN-WAIT-2, and the table after a `close()` depends on timing. With
    /// `icsk_ack.dst_quick_ack` (read from the route, RTAX_QUICKACK) every ACK is immediate and
    /// the table is determined. Only ACK timing changes; no rule the model describes does.
    ///
    /// IPv4 routes are replaced in place; an IPv6 route cannot be (a metric of 0 becomes 1024
    /// on insertion, so the replacement would sit beside the original), so it is deleted and
    /// added again.
    pub(super) fn quickack_routes(&mut self) -> Result<(), HarnessError> {
        use netlink_packet_route::route::{RouteAttribute, RouteMessage, RouteMetric};
        let what = format!("listing the routes of host {}", self.host);
        let mut routes = Vec::new();
        let mut req = RouteMessage::default();
        req.header.address_family = AddressFamily::Unspec;
        self.nl.dump(
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::GetRoute(req)),
            &what,
            |msg, _| {
                if let RouteNetlinkMessage::NewRoute(r) = msg {
                    let table = r.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Table(t) => Some(*t),
                        _ => None,
                    });
                    let wanted = match (table, r.header.kind) {
                        (Some(255), RouteType::Local) => true,
                        (Some(254), RouteType::Unicast) => is_connected_route(r),
                        _ => false,
                    };
                    if wanted {
                        routes.push(r.clone());
                    }
                }
                Ok(())
            },
        )?;
        for r in routes {
            let mut new = RouteMessage::default();
            new.header = r.header.clone();
            new.attributes = r
                .attributes
                .iter()
                .filter(|a| {
                    !matches!(
                        a,
                        RouteAttribute::Metrics(_)
                            | RouteAttribute::CacheInfo(_)
                            | RouteAttribute::Expires(_)
                    )
                })
                .cloned()
                .collect();
            new.attributes
                .push(RouteAttribute::Metrics(vec![RouteMetric::QuickAck(1)]));
            if r.header.address_family == AddressFamily::Inet6 {
                self.request(
                    RouteNetlinkMessage::DelRoute(r.clone()),
                    0,
                    "deleting an IPv6 route to add it back with quickack".into(),
                )?;
                new.attributes
                    .retain(|a| !matches!(a, RouteAttribute::Priority(_)));
                self.request(
                    RouteNetlinkMessage::NewRoute(new),
                    NLM_F_CREATE | NLM_F_EXCL,
                    "adding an IPv6 route back with quickack".into(),
                )?;
            } else {
                self.request(
                    RouteNetlinkMessage::NewRoute(new),
                    NLM_F_CREATE | NLM_F_REPLACE,
                    "setting quickack on an IPv4 route".into(),
                )?;
            }
        }
        Ok(())
    }
}

/// A directly connected route (no gateway) that is not the IPv6 link-local `fe80::/64`.
fn is_connected_route(r: &netlink_packet_route::route::RouteMessage) -> bool {
    use netlink_packet_route::route::{RouteAddress, RouteAttribute};
    let gateway = r
        .attributes
        .iter()
        .any(|a| matches!(a, RouteAttribute::Gateway(_)));
    let link_local = r.attributes.iter().any(|a| {
        matches!(a, RouteAttribute::Destination(RouteAddress::Inet6(d)) if d.is_unicast_link_local())
    });
    !gateway && !link_local
}

fn ifindex(name: &str, host: Host) -> Result<u32, HarnessError> {
    sys::if_index(name).map_err(|n| {
        HarnessError::netlink(
            format!("looking up interface {name} on host {host}"),
            errno::from_raw(n),
        )
    })
}

/// How long a link may take to become operational: a bound against hanging, far above the
/// usual milliseconds. Linkwatch and address setup wait for the RTNL lock, which the freeing of
/// namespaces (`cleanup_net()`, this process's and the machine's) holds for long stretches on a
/// loaded machine: 2 s was seen to run out with both CPUs busy, 10 s with hundreds of cases setting up at once.
const LINK_TIMEOUT: Duration = Duration::from_secs(15);

/// Waits until the interface `name` (of the calling thread's namespace) carries packets.
///
/// `IFF_RUNNING` is not enough: linkwatch sets the operational state before it replaces the
/// `noop` queueing discipline (`linkwatch_do_dev()`: `rfc2863_policy()`, then
/// `dev_activate()`), and a packet sent in between is dropped (seen here as a SYN lost and a
/// `connect` that took the 1 s SYN retransmission). IPv6 gives the device its link-local
/// address only once `addrconf_link_ready()` holds, which requires both, so the harness waits
/// for that address to appear in `/proc/thread-self/net/if_inet6`.
fn wait_ready(name: &str) -> Result<(), HarnessError> {
    poll_until(&format!("{name} becoming operational"), || {
        let flags = sys::link_flags(name).map_err(|n| {
            HarnessError::netlink(format!("reading the flags of {name}"), errno::from_raw(n))
        })?;
        let running = flags & libc::IFF_RUNNING != 0;
        let activated = match std::fs::read_to_string("/proc/thread-self/net/if_inet6") {
            Ok(text) => text
                .lines()
                .any(|l| l.split_whitespace().last() == Some(name)),
            // No IPv6: IFF_RUNNING is the best there is.
            Err(_) => true,
        };
        Ok(running && activated)
    })
}

/// Polls `done` until it holds, for at most [`LINK_TIMEOUT`]: every 100 µs at first, then
/// less often (at most every 5 ms).
fn poll_until(
    what: &str,
    mut done: impl FnMut() -> Result<bool, HarnessError>,
) -> Result<(), HarnessError> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(100);
    while !done()? {
        if start.elapsed() > LINK_TIMEOUT {
            return Err(HarnessError::Timeout {
                what: what.into(),
                after: LINK_TIMEOUT,
            });
        }
        std::thread::sleep(pause);
        if start.elapsed() > Duration::from_millis(10) {
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }
    Ok(())
}

pub(super) fn lo_up(host: Host) -> Result<(), HarnessError> {
    refuse_in_host("bring lo up")?;
    sys::link_up("lo").map_err(|n| {
        HarnessError::netlink(format!("bringing lo up on host {host}"), errno::from_raw(n))
    })
}

/// Builds the topology of `spec` in `hosts` (the thread is in host `a`).
pub(super) fn build_topology(spec: &SandboxSpec, hosts: &Hosts) -> Result<(), HarnessError> {
    stopwatch::time("setup: topology", || {
        build_topology_timed(spec, hosts, true)
    })
}

/// [`build_topology`]; `quickack` sets the routes' `quickack` (the bare baseline of
/// [`run_bare`](super::run_bare) goes without).
pub(super) fn build_topology_timed(
    spec: &SandboxSpec,
    hosts: &Hosts,
    quickack: bool,
) -> Result<(), HarnessError> {
    if !hosts.made_ahead {
        stopwatch::time("setup: lo up", || lo_up(Host::A))?;
        if spec.two_hosts {
            hosts.enter(Host::B, || lo_up(Host::B))??;
        }
    }
    // Every host needs rtnetlink to set `quickack` on its routes, unless it was made ahead
    // (`lo`'s routes have it) and gets no other route.
    let needs_rtnl =
        !hosts.made_ahead || (spec.two_hosts && !hosts.linked) || !spec.addresses.is_empty();
    let mut rt_a = needs_rtnl.then(|| Rtnl::open_here(Host::A)).transpose()?;
    let mut rt_b = if spec.two_hosts && needs_rtnl {
        Some(hosts.enter(Host::B, || Rtnl::open_here(Host::B))??)
    } else {
        None
    };
    if spec.two_hosts
        && !hosts.linked
        && let (Some(ra), Some(rb)) = (rt_a.as_mut(), rt_b.as_mut())
    {
        link_hosts(hosts, ra, rb)?;
    }
    for (host, ip) in &spec.addresses {
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        let rt = match host {
            Host::A => rt_a.as_mut(),
            Host::B => rt_b.as_mut(),
        };
        let rt = rt.ok_or_else(|| HarnessError::InvalidOp {
            op: format!("address {ip} on host {host}"),
            reason: "the case has no host b".into(),
        })?;
        // `lo` is interface 1 in every namespace.
        rt.add_address(1, *ip, prefix)?;
    }
    // An IPv6 address starts tentative even with IFA_F_NODAD: the DAD worker clears the flag
    // asynchronously, and until then the address neither sends nor accepts (`Ip6InAddrErrors`;
    // seen here as a SYN dropped and a 1 s retransmission).
    for host in spec.hosts() {
        let mine: Vec<Ipv6Addr> = spec
            .addresses
            .iter()
            .filter(|(h, _)| h == host)
            .filter_map(|(_, ip)| match ip {
                IpAddr::V6(a) => Some(*a),
                IpAddr::V4(_) => None,
            })
            .chain((spec.two_hosts && !hosts.linked).then_some(match host {
                Host::A => HOST_A_V6,
                Host::B => HOST_B_V6,
            }))
            .collect();
        if !mine.is_empty() {
            stopwatch::time("setup: IPv6 DAD wait", || {
                hosts.enter(*host, || wait_not_tentative(&mine))
            })??;
        }
    }
    // Last, once every route exists: acknowledge at once (see Rtnl::quickack_routes).
    for rt in [rt_a.as_mut(), rt_b.as_mut()].into_iter().flatten() {
        if quickack {
            stopwatch::time("setup: quickack routes", || rt.quickack_routes())?;
        }
    }
    Ok(())
}

/// Joins hosts `a` and `b` (the thread is in `a`) by the veth pair, up and addressed, with
/// static neighbours, once linkwatch has seen both carriers.
pub(super) fn link_hosts(hosts: &Hosts, ra: &mut Rtnl, rb: &mut Rtnl) -> Result<(), HarnessError> {
    let b = hosts.b.as_ref().ok_or_else(|| HarnessError::InvalidOp {
        op: "join the hosts".into(),
        reason: "the case has no host b".into(),
    })?;
    stopwatch::time("setup: veth pair", || ra.add_veth(b))?;
    let ia = ifindex(VETH_A, Host::A)?;
    sys::link_up(VETH_A)
        .map_err(|n| HarnessError::netlink(format!("bringing {VETH_A} up"), errno::from_raw(n)))?;
    let ib = hosts.enter(Host::B, || -> Result<u32, HarnessError> {
        let ib = ifindex(VETH_B, Host::B)?;
        sys::link_up(VETH_B).map_err(|n| {
            HarnessError::netlink(format!("bringing {VETH_B} up"), errno::from_raw(n))
        })?;
        Ok(ib)
    })??;
    // The link only carries packets once linkwatch has seen the carrier and activated the
    // queueing discipline (asynchronously, from a workqueue); until then packets are
    // dropped.
    stopwatch::time(
        "setup: veth carrier wait",
        || -> Result<(), HarnessError> {
            wait_ready(VETH_A)?;
            hosts.enter(Host::B, || wait_ready(VETH_B))?
        },
    )?;
    ra.add_address(ia, HOST_A_V4.into(), V4_PREFIX)?;
    ra.add_address(ia, HOST_A_V6.into(), V6_PREFIX)?;
    rb.add_address(ib, HOST_B_V4.into(), V4_PREFIX)?;
    rb.add_address(ib, HOST_B_V6.into(), V6_PREFIX)?;
    ra.add_neighbour(ia, HOST_B_V4.into(), MAC_B)?;
    ra.add_neighbour(ia, HOST_B_V6.into(), MAC_B)?;
    rb.add_neighbour(ib, HOST_A_V4.into(), MAC_A)?;
    rb.add_neighbour(ib, HOST_A_V6.into(), MAC_A)?;
    Ok(())
}

/// Waits until every one of `addrs` is usable in the calling thread's namespace: present, not
/// tentative, and with its local route in place.
pub(super) fn wait_not_tentative(addrs: &[Ipv6Addr]) -> Result<(), HarnessError> {
    const IFA_F_TENTATIVE: u32 = 0x40;
    const RTF_LOCAL: u32 = 0x8000_0000;
    let what = format!("IPv6 addresses {addrs:?} leaving the tentative state");
    poll_until(&what, || {
        let text = std::fs::read_to_string("/proc/thread-self/net/if_inet6")
            .map_err(|e| HarnessError::io("reading /proc/thread-self/net/if_inet6", e))?;
        // Lines: address (32 hex digits), ifindex, prefix length, scope, flags, name.
        let usable: Vec<Ipv6Addr> = text
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let addr = u128::from_str_radix(f.first()?, 16).ok()?;
                let flags = u32::from_str_radix(f.get(4)?, 16).ok()?;
                (flags & IFA_F_TENTATIVE == 0).then_some(Ipv6Addr::from(addr))
            })
            .collect();
        // The address's local route is inserted only after the flag is cleared
        // (`addrconf_dad_completed()` → `ipv6_ifa_notify()`); a packet arriving in between is
        // routed as not local. Lines: destination, prefix length, …, flags, device.
        let routes = std::fs::read_to_string("/proc/thread-self/net/ipv6_route")
            .map_err(|e| HarnessError::io("reading /proc/thread-self/net/ipv6_route", e))?;
        let local: Vec<Ipv6Addr> = routes
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let dst = u128::from_str_radix(f.first()?, 16).ok()?;
                let flags = u32::from_str_radix(f.get(8)?, 16).ok()?;
                (*f.get(1)? == "80" && flags & RTF_LOCAL != 0).then_some(Ipv6Addr::from(dst))
            })
            .collect();
        Ok(addrs
            .iter()
            .all(|a| usable.contains(a) && local.contains(a)))
    })
}
