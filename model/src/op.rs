//! The input vocabulary: calls named after the syscalls they make, and the fixture ops
//! (`peer_vanishes`, `peer_reboots`, `destroy`) that the harness does to a case from outside.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::addr::{Family, SockAddr, Var};
use crate::sysctl::Sysctl;

/// A socket's name in a scenario: `s0`, `s1`, …
///
/// It names the descriptor, and after `close()` whatever the kernel keeps of the socket
/// (an orphan, a TIME-WAIT row): `destroy(s1)` finds those by the socket's cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SockId(pub u16);

impl fmt::Display for SockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&format!("s{}", self.0))
    }
}

/// Which of the two test hosts a socket lives on (each a network namespace).
///
/// Host `a` is the default; host `b` exists only in two-host scenarios, joined to `a` by a
/// veth pair.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Host {
    /// The first host (and the only one in loopback scenarios).
    #[default]
    A,
    /// The second host.
    B,
}

impl Host {
    /// The other host of a two-host scenario.
    pub fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::A => "a",
            Self::B => "b",
        })
    }
}

/// `shutdown(2)`'s `how`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum How {
    /// `SHUT_RD`.
    Rd,
    /// `SHUT_WR`.
    Wr,
    /// `SHUT_RDWR`.
    RdWr,
}

impl How {
    /// The constant's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rd => "SHUT_RD",
            Self::Wr => "SHUT_WR",
            Self::RdWr => "SHUT_RDWR",
        }
    }

    /// Whether the receive side is shut.
    pub fn shuts_rd(self) -> bool {
        matches!(self, Self::Rd | Self::RdWr)
    }

    /// Whether the send side is shut.
    pub fn shuts_wr(self) -> bool {
        matches!(self, Self::Wr | Self::RdWr)
    }
}

/// A socket option that `setsockopt(2)` sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SockOpt {
    /// `SOL_SOCKET, SO_REUSEADDR`.
    ReuseAddr(bool),
    /// `SOL_SOCKET, SO_REUSEPORT`.
    ReusePort(bool),
    /// `SOL_SOCKET, SO_LINGER`: `None` is `{l_onoff=0}`, `Some(t)` is `{l_onoff=1, l_linger=t}`
    /// (seconds).
    Linger(Option<u32>),
    /// `SOL_SOCKET, SO_KEEPALIVE`.
    KeepAlive(bool),
    /// `IPPROTO_IPV6, IPV6_V6ONLY`.
    V6Only(bool),
    /// `IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT`.
    BindAddressNoPort(bool),
    /// `IPPROTO_TCP, TCP_KEEPIDLE` (seconds).
    KeepIdle(u32),
    /// `IPPROTO_TCP, TCP_KEEPINTVL` (seconds).
    KeepIntvl(u32),
    /// `IPPROTO_TCP, TCP_KEEPCNT`.
    KeepCnt(u32),
    /// `IPPROTO_TCP, TCP_USER_TIMEOUT` (milliseconds).
    UserTimeout(u32),
    /// `IPPROTO_TCP, TCP_LINGER2` (seconds; negative aborts orphans at once, 0 uses the sysctl).
    Linger2(i32),
    /// `SOL_SOCKET, SO_REUSEPORT_LB` (FreeBSD only).
    ReusePortLb(bool),
    /// `SOL_SOCKET, SO_EXCLUSIVEADDRUSE` (Windows only).
    ExclusiveAddrUse(bool),
}

impl SockOpt {
    /// The option's constant name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ReuseAddr(_) => "SO_REUSEADDR",
            Self::ReusePort(_) => "SO_REUSEPORT",
            Self::Linger(_) => "SO_LINGER",
            Self::KeepAlive(_) => "SO_KEEPALIVE",
            Self::V6Only(_) => "IPV6_V6ONLY",
            Self::BindAddressNoPort(_) => "IP_BIND_ADDRESS_NO_PORT",
            Self::KeepIdle(_) => "TCP_KEEPIDLE",
            Self::KeepIntvl(_) => "TCP_KEEPINTVL",
            Self::KeepCnt(_) => "TCP_KEEPCNT",
            Self::UserTimeout(_) => "TCP_USER_TIMEOUT",
            Self::Linger2(_) => "TCP_LINGER2",
            Self::ReusePortLb(_) => "SO_REUSEPORT_LB",
            Self::ExclusiveAddrUse(_) => "SO_EXCLUSIVEADDRUSE",
        }
    }
}

impl fmt::Display for SockOpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        let b = |v: bool| u8::from(v);
        match *self {
            Self::ReuseAddr(v)
            | Self::ReusePort(v)
            | Self::KeepAlive(v)
            | Self::V6Only(v)
            | Self::BindAddressNoPort(v)
            | Self::ReusePortLb(v)
            | Self::ExclusiveAddrUse(v) => write!(f, "{name}, {}", b(v)),
            Self::Linger(None) => write!(f, "{name}, off"),
            Self::Linger(Some(t)) => write!(f, "{name}, {t}"),
            Self::KeepIdle(v) | Self::KeepIntvl(v) | Self::KeepCnt(v) | Self::UserTimeout(v) => {
                write!(f, "{name}, {v}")
            }
            Self::Linger2(v) => write!(f, "{name}, {v}"),
        }
    }
}

/// One step of a scenario: a syscall on a named socket, or a fixture op.
///
/// Every variant is handled explicitly by the model and by the harness's executor; adding one
/// fails to compile until both know it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `sock = socket(family, SOCK_STREAM, 0)`, created on `host` with the effective uid
    /// `euid` (root when `None`), blocking unless `nonblocking`.
    Socket {
        /// The name the new descriptor gets.
        sock: SockId,
        /// Address family.
        family: Family,
        /// `SOCK_NONBLOCK`.
        nonblocking: bool,
        /// The (filesystem) uid the socket is created with; it becomes the socket's owner uid
        /// for the SO_REUSEPORT rules. `bind()` and `accept()` on the socket are made as that
        /// user (the calls that ask who calls): an accepted socket belongs to the same user
        /// (its sk_uid is the acceptor's, `sk_set_socket()`).
        euid: Option<u32>,
        /// The host the socket lives on.
        host: Host,
    },
    /// `setsockopt(sock, level, opt, value)`.
    Setsockopt {
        /// The socket.
        sock: SockId,
        /// The option and value.
        opt: SockOpt,
    },
    /// `getsockopt(sock, SOL_SOCKET, SO_ERROR)`: reads and clears the pending error.
    GetsockoptSoError {
        /// The socket.
        sock: SockId,
    },
    /// `bind(sock, addr)`.
    Bind {
        /// The socket.
        sock: SockId,
        /// The address; an unset port variable means port 0 and captures the kernel's choice.
        addr: SockAddr,
    },
    /// `listen(sock, backlog)`.
    Listen {
        /// The socket.
        sock: SockId,
        /// The backlog.
        backlog: u32,
    },
    /// `connect(sock, addr)`: blocks (up to the harness's bound) unless the socket is
    /// non-blocking.
    Connect {
        /// The socket.
        sock: SockId,
        /// The destination.
        addr: SockAddr,
        /// A variable that receives the local port the socket ends up with.
        local: Option<Var>,
    },
    /// `new = accept(listener)`.
    Accept {
        /// The listening socket.
        listener: SockId,
        /// The name the accepted descriptor gets.
        sock: SockId,
        /// A variable that receives the peer's port.
        peer: Option<Var>,
    },
    /// `new = accept(l1|l2|…)`: accept from the first of `listeners`, in listed order, that
    /// has a connection waiting (the harness polls them); when none has, as `accept` on the
    /// first listed (blocks, or EAGAIN when it is non-blocking).
    AcceptAny {
        /// The listening sockets, two or more, each once.
        listeners: Vec<SockId>,
        /// The name the accepted descriptor gets.
        sock: SockId,
        /// A variable that receives the peer's port.
        peer: Option<Var>,
    },
    /// `send(sock, len bytes, MSG_NOSIGNAL)`.
    Send {
        /// The socket.
        sock: SockId,
        /// How many bytes.
        len: u32,
    },
    /// `recv(sock, buf, len)`.
    Recv {
        /// The socket.
        sock: SockId,
        /// The buffer size.
        len: u32,
    },
    /// `shutdown(sock, how)`.
    Shutdown {
        /// The socket.
        sock: SockId,
        /// Which direction.
        how: How,
    },
    /// `close(sock)`.
    Close {
        /// The socket.
        sock: SockId,
    },
    /// Let time pass (milliseconds); the model's clock advances by exactly this much.
    Sleep {
        /// Milliseconds.
        ms: u64,
    },
    /// Change a sysctl of the case's namespace (of `host`) mid-scenario.
    Sysctl {
        /// The host whose namespace is changed.
        host: Host,
        /// The setting.
        setting: Sysctl,
    },
    /// Fixture: from now on every segment arriving for the connection of `sock` is silently
    /// dropped, as when the peer's host disappears or a firewall drops it.
    PeerVanishes {
        /// The socket whose peer vanishes.
        sock: SockId,
    },
    /// Fixture: the peer of `sock`'s connection disappears without a word (its host
    /// rebooted): its socket is gone and sends nothing; segments that reach it later are
    /// answered with RST by a host that knows no such connection.
    PeerReboots {
        /// The socket whose peer reboots.
        sock: SockId,
    },
    /// A call with an option for this call only: `connect(s1, …, nonblock)`,
    /// `connect(s1, …, within=4s)`.
    PerCall {
        /// The call; never itself a `PerCall`.
        call: Box<Self>,
        /// Its option (a call takes one at most).
        option: CallOption,
    },
    /// Fixture: `SOCK_DESTROY` of the socket-table row of `sock` (or of what remains of it
    /// after close: an orphan, a TIME-WAIT row), as `ss -K` does.
    Destroy {
        /// The socket.
        sock: SockId,
    },
}

impl Op {
    /// How long the op lets time pass: a `sleep`'s length, 0 for every other op.
    pub fn sleep_ms(&self) -> crate::time::Millis {
        match self {
            Self::Sleep { ms } => *ms,
            _ => 0,
        }
    }

    /// The call without its per-call option: the wrapped call of a
    /// [`PerCall`](Self::PerCall), the op itself otherwise.
    pub fn call(&self) -> &Self {
        match self {
            Self::PerCall { call, .. } => call.call(),
            other => other,
        }
    }

    /// The call's own option, if it has one.
    pub fn option(&self) -> Option<CallOption> {
        match self {
            Self::PerCall { option, .. } => Some(*option),
            _ => None,
        }
    }

    /// `call` with `option` for this call only.
    pub fn per_call(call: Self, option: CallOption) -> Self {
        Self::PerCall {
            call: Box::new(call),
            option,
        }
    }

    /// Whether the call is made non-blocking for this call only.
    pub fn is_nonblocking_call(&self) -> bool {
        self.option() == Some(CallOption::NonBlocking)
    }

    /// The socket the op acts on, if any.
    pub fn sock(&self) -> Option<SockId> {
        match self {
            Self::PerCall { call, .. } => call.sock(),
            Self::Socket { sock, .. }
            | Self::Setsockopt { sock, .. }
            | Self::GetsockoptSoError { sock }
            | Self::Bind { sock, .. }
            | Self::Listen { sock, .. }
            | Self::Connect { sock, .. }
            | Self::Send { sock, .. }
            | Self::Recv { sock, .. }
            | Self::Shutdown { sock, .. }
            | Self::Close { sock }
            | Self::PeerVanishes { sock }
            | Self::PeerReboots { sock }
            | Self::Destroy { sock } => Some(*sock),
            Self::Accept { listener, .. } => Some(*listener),
            Self::AcceptAny { listeners, .. } => listeners.first().copied(),
            Self::Sleep { .. } | Self::Sysctl { .. } => None,
        }
    }

    /// Every socket name the op mentions (for an `accept`, the listener and the new name).
    pub fn socks(&self) -> Vec<SockId> {
        match self {
            Self::Accept { listener, sock, .. } => vec![*listener, *sock],
            Self::PerCall { call, .. } => call.socks(),
            Self::AcceptAny {
                listeners, sock, ..
            } => listeners.iter().chain([sock]).copied().collect(),
            _ => self.sock().into_iter().collect(),
        }
    }

    /// The syscall (or action) name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Socket { .. } => "socket",
            Self::Setsockopt { .. } => "setsockopt",
            Self::GetsockoptSoError { .. } => "getsockopt",
            Self::Bind { .. } => "bind",
            Self::Listen { .. } => "listen",
            Self::Connect { .. } => "connect",
            Self::Accept { .. } | Self::AcceptAny { .. } => "accept",
            Self::Send { .. } => "send",
            Self::Recv { .. } => "recv",
            Self::Shutdown { .. } => "shutdown",
            Self::Close { .. } => "close",
            Self::Sleep { .. } => "sleep",
            Self::Sysctl { .. } => "sysctl",
            Self::PeerVanishes { .. } => "peer_vanishes",
            Self::PeerReboots { .. } => "peer_reboots",
            Self::Destroy { .. } => "destroy",
            Self::PerCall { call, .. } => call.name(),
        }
    }
}

/// An option of one call ([`Op::PerCall`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CallOption {
    /// `nonblock`: `connect`, `accept`, `send` or `recv` made as if its socket were
    /// non-blocking: O_NONBLOCK around the call (for `accept(l1|l2)`, on the first listed
    /// listener), the socket's own mode after it.
    NonBlocking,
    /// `within=DURATION`: `connect`, `accept` or `recv` on a blocking socket, waited for up to
    /// `ms` instead of the harness's usual bound ([`crate::time::BLOCKING_BOUND_MS`]).
    /// `BLOCKS` means still blocked after `ms`.
    Within {
        /// How long the call may wait, in milliseconds.
        ms: u64,
    },
}

impl CallOption {
    /// Its keyword in a scenario: `nonblock` or `within=`.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::NonBlocking => "nonblock",
            Self::Within { .. } => "within=",
        }
    }

    /// Whether two options are of one kind, whatever their durations.
    pub fn same_kind(self, other: Self) -> bool {
        std::mem::discriminant(&self) == std::mem::discriminant(&other)
    }
}

impl fmt::Display for CallOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NonBlocking => f.write_str("nonblock"),
            Self::Within { ms } => write!(f, "within={}", crate::time::show_ms(*ms)),
        }
    }
}

/// The default `listen()` backlog of generated and hand-written scenarios.
pub const DEFAULT_BACKLOG: u32 = 16;

impl fmt::Display for Op {
    /// Writes the op in scenario syntax (see `docs/scenario-format.md`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Socket {
                sock,
                family,
                nonblocking,
                euid,
                host,
            } => {
                write!(f, "{sock} = socket({family}")?;
                if *nonblocking {
                    f.write_str(", nonblock")?;
                }
                if let Some(uid) = euid {
                    write!(f, ", euid={uid}")?;
                }
                if *host != Host::A {
                    write!(f, ", host={host}")?;
                }
                f.write_str(")")
            }
            Self::Setsockopt { sock, opt } => write!(f, "setsockopt({sock}, {opt})"),
            Self::GetsockoptSoError { sock } => write!(f, "getsockopt({sock}, SO_ERROR)"),
            Self::Bind { sock, addr } => write!(f, "bind({sock}, {addr})"),
            Self::Listen { sock, backlog } if *backlog == DEFAULT_BACKLOG => {
                write!(f, "listen({sock})")
            }
            Self::Listen { sock, backlog } => write!(f, "listen({sock}, {backlog})"),
            Self::Connect { sock, addr, local } => {
                write!(f, "connect({sock}, {addr})")?;
                if let Some(v) = local {
                    write!(f, " local {v}")?;
                }
                Ok(())
            }
            Self::Accept {
                listener,
                sock,
                peer,
            } => {
                write!(f, "{sock} = accept({listener})")?;
                if let Some(v) = peer {
                    write!(f, " peer {v}")?;
                }
                Ok(())
            }
            Self::AcceptAny {
                listeners,
                sock,
                peer,
            } => {
                let names: Vec<String> = listeners.iter().map(ToString::to_string).collect();
                write!(f, "{sock} = accept({})", names.join("|"))?;
                if let Some(v) = peer {
                    write!(f, " peer {v}")?;
                }
                Ok(())
            }
            Self::Send { sock, len } => write!(f, "send({sock}, {len})"),
            Self::Recv { sock, len } => write!(f, "recv({sock}, {len})"),
            Self::Shutdown { sock, how } => write!(f, "shutdown({sock}, {})", how.name()),
            Self::Close { sock } => write!(f, "close({sock})"),
            Self::Sleep { ms } => write!(f, "sleep({})", crate::time::show_ms(*ms)),
            Self::Sysctl { host, setting } => {
                if *host == Host::A {
                    write!(f, "sysctl({setting})")
                } else {
                    write!(f, "sysctl({setting}, host={host})")
                }
            }
            Self::PeerVanishes { sock } => write!(f, "peer_vanishes({sock})"),
            Self::PeerReboots { sock } => write!(f, "peer_reboots({sock})"),
            Self::Destroy { sock } => write!(f, "destroy({sock})"),
            Self::PerCall { call, option } => {
                // The option goes last inside the call's parentheses (no address or name has
                // a `)`): `connect(s1, 127.0.0.1:8080, nonblock) local $C`.
                let text = call.to_string();
                match text.split_once(')') {
                    Some((head, tail)) => write!(f, "{head}, {option}){tail}"),
                    None => f.write_str(&text),
                }
            }
        }
    }
}
