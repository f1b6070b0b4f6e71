//! The next op's candidates ([`transitions`]): for each call the generator can make, the ops
//! that make sense for the case's sockets as the model sees them, weighted, and the small
//! pools of addresses they draw from.

use std::collections::BTreeSet;
use std::net::IpAddr;

use proptest::prelude::*;
use tcpconform_model::{
    DEFAULT_BACKLOG, Family, Host, How, Op, Port, PortHolder, SockAddr, SockId, SockOpt, TcpState,
    Var,
};

use super::{GenState, MAX_SOCKETS, Menu, PORTS, TW_REUSE_PAUSE_MS, preconditions};

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|a| a.parse().expect("literal")).collect()
}

/// Addresses a socket of `family` on `host` binds: loopback, wildcards, v4-mapped, and on two
/// hosts the host's own veth address.
fn bind_addrs(family: Family, host: Host, two_hosts: bool) -> Vec<IpAddr> {
    let mut v = match family {
        Family::Inet => ips(&["127.0.0.1", "127.0.0.2", "0.0.0.0"]),
        Family::Inet6 => ips(&["::1", "::", "::ffff:127.0.0.1", "::ffff:0.0.0.0"]),
    };
    if two_hosts {
        v.extend(match (family, host) {
            (Family::Inet, Host::A) => ips(&["10.0.0.1"]),
            (Family::Inet, Host::B) => ips(&["10.0.0.2"]),
            (Family::Inet6, Host::A) => ips(&["fd00::1", "::ffff:10.0.0.1"]),
            (Family::Inet6, Host::B) => ips(&["fd00::2", "::ffff:10.0.0.2"]),
        });
    }
    v
}

/// Destinations a socket of `family` on `host` connects to: loopback, and on two hosts both
/// veth addresses (the other host's, and its own, which also stays on loopback).
fn dest_addrs(family: Family, host: Host, two_hosts: bool) -> Vec<IpAddr> {
    let mut v = match family {
        Family::Inet => ips(&["127.0.0.1", "127.0.0.2"]),
        Family::Inet6 => ips(&["::1", "::ffff:127.0.0.1"]),
    };
    if two_hosts {
        let (other, own) = match host {
            Host::A => ("2", "1"),
            Host::B => ("1", "2"),
        };
        v.extend(match family {
            Family::Inet => ips(&[
                &format!("10.0.0.{other}"),
                &format!("10.0.0.{other}"),
                &format!("10.0.0.{own}"),
            ]),
            Family::Inet6 => ips(&[&format!("fd00::{other}"), &format!("::ffff:10.0.0.{other}")]),
        });
    }
    v
}

/// The next op's candidates, weighted, from the model's state.
///
/// The weights steer toward the classic lives of a server port: bind and listen, connect and
/// accept, a close on either side, and a restart that binds the same port again.
///
/// A draw indexes into the menu's arms in the order they were added, so the order of the calls
/// below (and of the arms within each) is part of what a seed generates.
pub fn transitions(state: &GenState) -> BoxedStrategy<Op> {
    // The case's opening first, while each of its ops makes sense and would not block.
    if let Some(op) = state.plan.first()
        && preconditions(state, op)
        && !state.would_block(op)
        && state.options.runs.can_run(op)
    {
        return Just(op.clone()).boxed();
    }
    let mut menu = Menu { arms: Vec::new() };
    let step = Step::new(state);
    let open = state.open();
    if state.names < MAX_SOCKETS {
        socket_candidates(&step, &mut menu, open.len());
    }
    for &sock in &open {
        candidates_on(&step, &mut menu, OpenSock::new(state, sock));
    }
    sysctl_candidates(state, &mut menu);
    sleep_candidates(state, &mut menu);
    reuse_pause_candidates(state, &mut menu, &step.holders);
    destroy_candidates(state, &mut menu);
    closed_fd_candidates(state, &mut menu);
    menu.into_strategy(state)
}

/// What the candidates of one step draw on, read from the state once.
struct Step<'a> {
    state: &'a GenState,
    /// Every socket that holds a local port (listeners, connections, orphans, TIME-WAITs).
    holders: Vec<PortHolder>,
    /// The variables that hold kernel-chosen ports.
    vars: Vec<Var>,
    /// The ports a `bind()` names: the first literal port, the "server port", above all.
    bind_ports: Vec<Port>,
    /// A variable with no value yet: a `bind()` to it lets the kernel choose the port.
    fresh: Var,
    /// The variable a `connect()` captures its local port in.
    local_var: Var,
    /// The listeners, each with its host.
    listeners: Vec<(Host, std::net::SocketAddr)>,
}

impl<'a> Step<'a> {
    /// Reads from `state` what its candidates draw on.
    fn new(state: &'a GenState) -> Self {
        let vars = state.bound_vars();
        // The first literal port is the "server port": most binds go there.
        let mut bind_ports: Vec<Port> = vec![Port::Lit(PORTS[0]); 4];
        bind_ports.push(Port::Lit(PORTS[1]));
        bind_ports.extend(vars.iter().cloned().map(Port::Var));
        Self {
            state,
            holders: state.model.port_holders(),
            vars,
            bind_ports,
            fresh: Var(format!("E{}", state.vars)),
            local_var: Var(format!("C{}", state.vars)),
            listeners: state.model.listeners(),
        }
    }
}

/// An open socket, as the candidates on it see it.
#[derive(Clone, Copy)]
struct OpenSock {
    sock: SockId,
    family: Family,
    host: Host,
    st: TcpState,
    /// Bound to a port (not port 0).
    bound: bool,
}

impl OpenSock {
    /// The socket `sock` of `state`, which must be open.
    fn new(state: &GenState, sock: SockId) -> Self {
        Self {
            sock,
            family: state.model.family_of(sock).expect("open"),
            host: state.model.host_of(sock).expect("open"),
            st: state.model.state_of(sock).expect("open"),
            bound: state.model.port_of(sock).is_some_and(|p| p != 0),
        }
    }
}

/// socket(): a new socket on either host, and one of another user beside a SO_REUSEPORT one.
fn socket_candidates(step: &Step<'_>, menu: &mut Menu, open: usize) {
    let state = step.state;
    let sock = SockId(state.names);
    let mut ops = Vec::new();
    for family in [Family::Inet, Family::Inet, Family::Inet, Family::Inet6] {
        for nonblocking in [true, false] {
            ops.push(Op::Socket {
                sock,
                family,
                nonblocking,
                euid: None,
                host: Host::A,
            });
        }
    }
    ops.push(Op::Socket {
        sock,
        family: Family::Inet,
        nonblocking: true,
        euid: Some(65534),
        host: Host::A,
    });
    if state.config.two_hosts {
        for family in [Family::Inet, Family::Inet, Family::Inet6] {
            for nonblocking in [true, false] {
                ops.push(Op::Socket {
                    sock,
                    family,
                    nonblocking,
                    euid: None,
                    host: Host::B,
                });
            }
        }
    }
    menu.add(if open < 2 { 40 } else { 10 }, ops);
    // Another user beside a SO_REUSEPORT socket: the uid rule decides whether they share.
    let beside: BTreeSet<u32> = step
        .holders
        .iter()
        .filter(|h| h.reuseport && h.host == Host::A)
        .map(|h| if h.uid == 0 { 65534 } else { 0 })
        .collect();
    menu.add(
        6,
        beside
            .into_iter()
            .map(|uid| Op::Socket {
                sock,
                family: Family::Inet,
                nonblocking: true,
                euid: (uid != 0).then_some(uid),
                host: Host::A,
            })
            .collect(),
    );
}

/// The candidates on one open socket, call family by call family, as its state allows.
fn candidates_on(step: &Step<'_>, menu: &mut Menu, s: OpenSock) {
    let state = step.state;
    if state.options.timers {
        timer_candidates(menu, s);
        fixture_candidates(menu, s);
    }
    setsockopt_candidates(state, menu, s);
    if s.st == TcpState::Closed && !s.bound {
        bind_candidates(step, menu, s);
        steer_onto_held_ports(state, menu, s.sock, s.family, s.host, &step.holders);
    }
    if s.st == TcpState::Closed {
        listen_candidates(menu, s);
        connect_candidates(step, menu, s);
        connect_onto_time_wait_candidates(step, menu, s);
    }
    if matches!(s.st, TcpState::SynSent | TcpState::Established) {
        connect_again_candidates(menu, s);
    }
    if s.st == TcpState::Listen {
        accept_candidates(state, menu, s);
    }
    if s.st.is_connected() || s.st == TcpState::Closed {
        send_recv_candidates(menu, s);
    }
    // getsockopt(SO_ERROR)
    menu.add(1, vec![Op::GetsockoptSoError { sock: s.sock }]);
    shutdown_close_candidates(menu, s);
}

/// setsockopt() of short timers (keepalive, user timeout, TCP_LINGER2), mostly when connected.
fn timer_candidates(menu: &mut Menu, s: OpenSock) {
    let OpenSock { sock, st, .. } = s;
    // Short timers, so that they run out within a case: keepalive of 1 s, a user
    // timeout under 2 s, an orphan FIN-WAIT-2 of 1-2 s.
    let timer_opts = [
        SockOpt::KeepAlive(true),
        SockOpt::KeepAlive(true),
        SockOpt::KeepIdle(1),
        SockOpt::KeepIntvl(1),
        SockOpt::KeepCnt(1),
        SockOpt::KeepCnt(2),
        SockOpt::UserTimeout(400),
        SockOpt::UserTimeout(1500),
        SockOpt::Linger2(1),
        SockOpt::Linger2(2),
        SockOpt::Linger2(-1),
    ];
    menu.add(
        if st.is_connected() { 8 } else { 2 },
        timer_opts
            .into_iter()
            .map(|opt| Op::Setsockopt { sock, opt })
            .collect(),
    );
}

/// The fixture's ops on a connected or listening socket: its peer vanishes or reboots.
fn fixture_candidates(menu: &mut Menu, s: OpenSock) {
    let OpenSock { sock, st, .. } = s;
    // The peer disappears: silently, or by a reboot that forgets the connection.
    let mut fixtures = vec![Op::PeerVanishes { sock }];
    if st.is_connected() {
        fixtures.push(Op::PeerReboots { sock });
    }
    let w = if st.is_connected() || st == TcpState::Listen {
        4
    } else {
        0
    };
    menu.add(w, fixtures);
}

/// setsockopt() of the sharing options, SO_LINGER and the profile's own, mostly before bind().
fn setsockopt_candidates(state: &GenState, menu: &mut Menu, s: OpenSock) {
    let OpenSock {
        sock,
        family,
        st,
        bound,
        ..
    } = s;
    let mut opts = vec![
        SockOpt::ReuseAddr(true),
        SockOpt::ReuseAddr(true),
        SockOpt::ReuseAddr(true),
        SockOpt::ReusePort(true),
        SockOpt::ReuseAddr(false),
        SockOpt::ReusePort(false),
        SockOpt::Linger(Some(0)),
        SockOpt::BindAddressNoPort(true),
    ];
    // Options only one OS has (the other profiles answer ENOPROTOOPT).
    match state.model.profile().os {
        tcpconform_model::profile::Os::FreeBsd => opts.push(SockOpt::ReusePortLb(true)),
        tcpconform_model::profile::Os::Windows => opts.push(SockOpt::ExclusiveAddrUse(true)),
        tcpconform_model::profile::Os::Linux | tcpconform_model::profile::Os::MacOs => {}
    }
    if family == Family::Inet6 {
        opts.push(SockOpt::V6Only(true));
        opts.push(SockOpt::V6Only(false));
    }
    let opt_weight = if st == TcpState::Closed && !bound {
        10
    } else {
        2
    };
    menu.add(
        opt_weight,
        opts.into_iter()
            .map(|opt| Op::Setsockopt { sock, opt })
            .collect(),
    );
}

/// bind() of an unbound socket: each of its host's addresses on each port, or a kernel-chosen one.
fn bind_candidates(step: &Step<'_>, menu: &mut Menu, s: OpenSock) {
    let OpenSock {
        sock, family, host, ..
    } = s;
    let addrs = match family {
        Family::Inet | Family::Inet6 => bind_addrs(family, host, step.state.config.two_hosts),
    };
    let mut ops = Vec::new();
    for ip in &addrs {
        for port in &step.bind_ports {
            ops.push(Op::Bind {
                sock,
                addr: SockAddr {
                    ip: *ip,
                    port: port.clone(),
                },
            });
        }
        ops.push(Op::Bind {
            sock,
            addr: SockAddr {
                ip: *ip,
                port: Port::Var(step.fresh.clone()),
            },
        });
    }
    menu.add(16, ops);
}

/// listen() of a closed socket, mostly a bound one, now and then with a backlog of 0 or 1.
fn listen_candidates(menu: &mut Menu, s: OpenSock) {
    let OpenSock { sock, bound, .. } = s;
    // Now and then with a backlog of 0 or 1, so that a second or third connection finds the
    // accept queue full.
    menu.add(
        if bound { 16 } else { 1 },
        vec![Op::Listen {
            sock,
            backlog: DEFAULT_BACKLOG,
        }],
    );
    menu.add(
        if bound { 12 } else { 0 },
        [0, 1]
            .into_iter()
            .map(|backlog| Op::Listen { sock, backlog })
            .collect(),
    );
}

/// connect() of a closed socket to each destination and port, mostly to a listener.
fn connect_candidates(step: &Step<'_>, menu: &mut Menu, s: OpenSock) {
    let state = step.state;
    let OpenSock {
        sock,
        family,
        host,
        bound,
        ..
    } = s;
    let dests = match family {
        Family::Inet | Family::Inet6 => dest_addrs(family, host, state.config.two_hosts),
    };
    let mut to_listeners = Vec::new();
    let mut others = Vec::new();
    for ip in &dests {
        let mut ports: Vec<Port> = PORTS.iter().map(|p| Port::Lit(*p)).collect();
        ports.extend(step.vars.iter().cloned().map(Port::Var));
        for port in ports {
            let op = Op::Connect {
                sock,
                addr: SockAddr {
                    ip: *ip,
                    port: port.clone(),
                },
                local: Some(step.local_var.clone()),
            };
            let p = state.env.resolve(&port);
            // A listener the destination reaches: on the host the address routes
            // to, on that address or a wildcard, and on that port.
            let reaches = |(h, l): &(Host, std::net::SocketAddr)| {
                Some(l.port()) == p
                    && state.model.topology().route(host, *ip) == Some(*h)
                    && (l.ip().is_unspecified() || same_ip(l.ip(), *ip))
            };
            if step.listeners.iter().any(reaches) {
                to_listeners.push(op);
            } else {
                others.push(op);
            }
        }
    }
    menu.add_unless_blocking(if bound { 6 } else { 24 }, to_listeners);
    menu.add_unless_blocking(3, others);
}

/// connect() of a closed socket to where a lingering socket of its host (TIME-WAIT) was connected.
fn connect_onto_time_wait_candidates(step: &Step<'_>, menu: &mut Menu, s: OpenSock) {
    let OpenSock {
        sock, family, host, ..
    } = s;
    // Once more to where a TIME-WAIT of this host was connected: the new connection
    // meets the old one's 4-tuple (tcp_tw_reuse, timestamps, a bound port's check).
    let again: Vec<Op> = step
        .holders
        .iter()
        .filter(|h| h.lingering && h.host == host)
        .filter_map(|h| h.peer)
        .filter_map(|peer| {
            let ip = in_family(peer.ip(), family)?;
            let port = port_named(step.state, peer.port())?;
            Some(Op::Connect {
                sock,
                addr: SockAddr { ip, port },
                local: Some(step.local_var.clone()),
            })
        })
        .collect();
    menu.add_unless_blocking(12, again);
}

/// connect() again of a socket already connecting or connected.
fn connect_again_candidates(menu: &mut Menu, s: OpenSock) {
    let op = Op::Connect {
        sock: s.sock,
        addr: SockAddr {
            ip: "127.0.0.1".parse().expect("literal"),
            port: Port::Lit(PORTS[0]),
        },
        local: None,
    };
    menu.add_unless_blocking(1, vec![op]);
}

/// accept() on a listener, mostly once a connection is queued, while names are left.
fn accept_candidates(state: &GenState, menu: &mut Menu, s: OpenSock) {
    let op = Op::Accept {
        listener: s.sock,
        sock: SockId(state.names),
        peer: None,
    };
    let queued = state.model.queue_len(s.sock) > 0;
    if state.names < MAX_SOCKETS + 3 {
        menu.add_unless_blocking(if queued { 30 } else { 1 }, vec![op]);
    }
}

/// send() and recv() of a few lengths, mostly on a connected socket.
fn send_recv_candidates(menu: &mut Menu, s: OpenSock) {
    let OpenSock { sock, st, .. } = s;
    let w = if st.is_connected() { 6 } else { 1 };
    let sends: Vec<Op> = [1u32, 3, 8]
        .iter()
        .map(|len| Op::Send { sock, len: *len })
        .collect();
    menu.add_unless_blocking(w, sends);
    let recvs: Vec<Op> = [1u32, 4, 64]
        .iter()
        .map(|len| Op::Recv { sock, len: *len })
        .collect();
    menu.add_unless_blocking(w, recvs);
}

/// shutdown() either way and close(), both mostly on a connected socket (close() a listener too).
fn shutdown_close_candidates(menu: &mut Menu, s: OpenSock) {
    let OpenSock { sock, st, .. } = s;
    menu.add(
        if st.is_connected() { 4 } else { 1 },
        [How::Wr, How::Rd, How::RdWr]
            .into_iter()
            .map(|how| Op::Shutdown { sock, how })
            .collect(),
    );
    menu.add(
        if st.is_connected() || st == TcpState::Listen {
            10
        } else {
            3
        },
        vec![Op::Close { sock }],
    );
}

/// sysctl() now and then: the settings a configuration may draw, changed mid-case.
fn sysctl_candidates(state: &GenState, menu: &mut Menu) {
    let mut settings = Vec::new();
    for setting in crate::config::interesting(state.config.profile) {
        if state.options.frozen.contains(&setting.key) {
            continue;
        }
        settings.push(Op::Sysctl {
            host: Host::A,
            setting: setting.clone(),
        });
        if state.config.two_hosts {
            settings.push(Op::Sysctl {
                host: Host::B,
                setting: setting.clone(),
            });
        }
    }
    menu.add(1, settings);
}

/// sleep(), where asked for and within the sleep budget (virtual time is free on the model).
fn sleep_candidates(state: &GenState, menu: &mut Menu) {
    let slept = state.model.now();
    let sleeps: Vec<Op> = state
        .options
        .sleeps
        .iter()
        .filter(|ms| {
            state
                .options
                .sleep_budget_ms
                .is_none_or(|budget| slept + **ms <= budget)
        })
        .map(|ms| Op::Sleep { ms: *ms })
        .collect();
    menu.add(if state.options.timers { 6 } else { 3 }, sleeps);
}

/// A short pause ([`TW_REUSE_PAUSE_MS`]) once a TIME-WAIT lingers under a shorter reuse delay.
fn reuse_pause_candidates(state: &GenState, menu: &mut Menu, holders: &[PortHolder]) {
    // A short pause once a TIME-WAIT lingers where tcp_tw_reuse_delay is a millisecond (the
    // reuse preset, `config::ConfigSpace`): the next connect() then surely finds it old
    // enough to take over (tcp_tw_reuse, the loopback test and timestamps decide), where a
    // case that never sleeps stays within the model's margin of the clock's edge.
    let slept = state.model.now();
    let quick_reuse = state.model.profile().has_tw_reuse_delay()
        && holders.iter().any(|h| {
            h.lingering
                && h.state == TcpState::TimeWait
                && u64::from(state.model.sysctls(h.host).tcp_tw_reuse_delay_ms) < TW_REUSE_PAUSE_MS
        });
    if quick_reuse && slept < TW_REUSE_PAUSE_MS {
        menu.add(
            8,
            vec![Op::Sleep {
                ms: TW_REUSE_PAUSE_MS,
            }],
        );
    }
}

/// destroy() of anything that still has a row: an open socket or what a close() left.
fn destroy_candidates(state: &GenState, menu: &mut Menu) {
    let destroyable: Vec<Op> = (0..state.names)
        .map(SockId)
        .filter(|s| state.model.is_open(*s) || state.model.has_remnant(*s))
        .map(|sock| Op::Destroy { sock })
        .collect();
    menu.add(2, destroyable);
}

/// close() of a closed descriptor now and then (EBADF), so shrinking never needs them.
fn closed_fd_candidates(state: &GenState, menu: &mut Menu) {
    let closed: Vec<Op> = (0..state.names)
        .map(SockId)
        .filter(|s| state.created.contains(s) && !state.model.is_open(*s))
        .map(|sock| Op::Close { sock })
        .collect();
    menu.add(1, closed);
}

/// For an unbound socket: the options of the sockets that hold ports on its host, and binds
/// onto those ports, a lingering socket's (TIME-WAIT, an orphan) above all. A restart's bind
/// meets its predecessor's TIME-WAIT this way, with the flags both sides need to share.
fn steer_onto_held_ports(
    state: &GenState,
    menu: &mut Menu,
    sock: SockId,
    family: Family,
    host: Host,
    holders: &[PortHolder],
) {
    let here: Vec<&PortHolder> = holders.iter().filter(|h| h.host == host).collect();
    let mut mirror = Vec::new();
    if here.iter().any(|h| h.reuseaddr) {
        mirror.push(SockOpt::ReuseAddr(true));
    }
    if here.iter().any(|h| h.reuseport) {
        mirror.push(SockOpt::ReusePort(true));
    }
    menu.add(
        6,
        mirror
            .into_iter()
            .map(|opt| Op::Setsockopt { sock, opt })
            .collect(),
    );
    let wildcard: IpAddr = match family {
        Family::Inet => "0.0.0.0",
        Family::Inet6 => "::",
    }
    .parse()
    .expect("literal");
    for h in here {
        let Some(port) = port_named(state, h.local.port()) else {
            continue;
        };
        let ops = [in_family(h.local.ip(), family), Some(wildcard)]
            .into_iter()
            .flatten()
            .map(|ip| Op::Bind {
                sock,
                addr: SockAddr {
                    ip,
                    port: port.clone(),
                },
            })
            .collect();
        menu.add(if h.lingering { 12 } else { 3 }, ops);
    }
}

/// How a generated op names port `p`: a literal port, or the variable that captured a
/// kernel-chosen one.
fn port_named(state: &GenState, p: u16) -> Option<Port> {
    if PORTS.contains(&p) {
        return Some(Port::Lit(p));
    }
    state
        .env
        .iter()
        .find(|(_, v)| *v == p)
        .map(|(name, _)| Port::Var(Var(name.to_owned())))
}

/// Whether two addresses are the same, an IPv4 one and its v4-mapped form included.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    in_family(a, Family::Inet6) == in_family(b, Family::Inet6)
}

/// `ip` as a socket of `family` names it (v4-mapped in AF_INET6), if it can.
fn in_family(ip: IpAddr, family: Family) -> Option<IpAddr> {
    match (family, ip) {
        (Family::Inet, IpAddr::V4(_)) | (Family::Inet6, IpAddr::V6(_)) => Some(ip),
        (Family::Inet, IpAddr::V6(a)) => a.to_ipv4_mapped().map(IpAddr::V4),
        (Family::Inet6, IpAddr::V4(a)) => Some(IpAddr::V6(a.to_ipv6_mapped())),
    }
}
