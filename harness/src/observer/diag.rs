//! What `sock_diag` reports: a dumped row with every field the kernel sent ([`DiagRow`]),
//! and one host's `sock_diag` socket with its namespace's `sockstat` and probe sockets
//! ([`DiagSocket`]), which dumps the tables by state and destroys rows (`SOCK_DESTROY`).

use std::net::SocketAddr;

use netlink_packet_core::NetlinkPayload;
use netlink_packet_sock_diag::inet::nlas::Nla;
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::{SockDiagDestroy, SockDiagMessage};
use tcpconform_model::{Errno, Family, Host, Row, RowInfo, TcpState, Timer, TimerKind};

use super::NlSocket;
use super::bound_rows::{BindProbe, RowFields};
use super::linux::{ALL_STATES, INET_DIAG_INFO, Owners, SOCK_DIAG_BY_FAMILY, TCPDIAG_GETSOCK};
use crate::errno;
use crate::error::HarnessError;

/// One row of a `sock_diag` dump, with every field the kernel reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiagRow {
    /// The host (namespace) whose table holds it.
    pub host: Host,
    /// `AF_INET` or `AF_INET6`.
    pub family: Family,
    /// `idiag_state`, the kernel's `TCP_*` number (the substate for a minisocket).
    pub state: u8,
    /// `idiag_timer`: 0 none, 1 retransmit, 2 keepalive, 3 TIME-WAIT, 4 zero-window probe,
    /// 5 delayed ACK.
    pub timer: u8,
    /// `idiag_retrans`.
    pub retransmits: u8,
    /// `idiag_expires`: milliseconds until the timer fires.
    pub expires_ms: u32,
    /// Local address and port.
    pub local: SocketAddr,
    /// Peer address and port (`0.0.0.0:0` / `[::]:0` when none).
    pub peer: SocketAddr,
    /// `idiag_if`: the bound interface index.
    pub interface: u32,
    /// `idiag_cookie`: the socket's cookie (`SO_COOKIE`).
    pub cookie: u64,
    /// `idiag_rqueue`: accept-queue length of a listener, unread bytes otherwise.
    pub rqueue: u32,
    /// `idiag_wqueue`: backlog of a listener, unacknowledged bytes otherwise.
    pub wqueue: u32,
    /// `idiag_uid`: the owner uid.
    pub uid: u32,
    /// `idiag_inode`: the inode of the socket's file; 0 when no descriptor holds it.
    pub inode: u32,
    /// `tcpi_unacked` from `tcp_info`: segments sent and not yet acknowledged (full sockets
    /// only; `None` for minisockets and request sockets).
    pub unacked: Option<u32>,
    id: SocketId,
}

impl DiagRow {
    /// The model's state for the row, if the kernel's number is one it knows.
    pub fn tcp_state(&self) -> Option<TcpState> {
        TcpState::from_linux_number(self.state)
    }

    /// The running timer in the model's terms. The delayed-ACK timer (5) is not modelled and
    /// gives `None`, as does "no timer".
    pub fn model_timer(&self) -> Option<Timer> {
        let kind = match self.timer {
            1 => TimerKind::Retransmit,
            2 => TimerKind::Keepalive,
            3 => TimerKind::TimeWait,
            4 => TimerKind::Probe,
            _ => return None,
        };
        Some(Timer {
            kind,
            remaining_ms: u64::from(self.expires_ms),
        })
    }

    /// Whether the socket has segments to send or to be acknowledged that are not held back
    /// by the peer's zero window: unacknowledged segments (`tcpi_unacked`), or bytes (or a
    /// FIN) queued and not acknowledged (`idiag_wqueue`) without the zero-window probe timer.
    pub fn has_pending_output(&self) -> bool {
        let full = self.unacked.is_some();
        full && (self.unacked.is_some_and(|n| n > 0) || (self.wqueue > 0 && self.timer != 4))
    }

    /// Whether the row is a TIME-WAIT minisocket (also in its FIN-WAIT-2 substate).
    pub fn is_minisocket(&self) -> bool {
        self.inode == 0 && self.timer == 3
    }

    /// Whether the row is a request socket (`TCP_NEW_SYN_RECV`, shown as SYN-RECV with the
    /// retransmit timer of its SYN-ACK and no inode).
    pub fn is_request(&self) -> bool {
        self.state == TcpState::SynReceived.linux_number() && self.inode == 0 && self.timer == 1
    }

    /// A row read through a descriptor, as a dump would show it: no timer (see the
    /// `bound_rows` module).
    pub(super) fn from_descriptor(
        host: Host,
        family: Family,
        state: u8,
        local: SocketAddr,
        peer: SocketAddr,
        rest: RowFields,
    ) -> Self {
        let (lo, hi) = (rest.cookie as u32, (rest.cookie >> 32) as u32);
        let mut raw_cookie = [0u8; 8];
        raw_cookie[..4].copy_from_slice(&lo.to_ne_bytes());
        raw_cookie[4..].copy_from_slice(&hi.to_ne_bytes());
        Self {
            host,
            family,
            state,
            timer: 0,
            retransmits: 0,
            expires_ms: 0,
            local,
            peer,
            interface: rest.interface,
            cookie: rest.cookie,
            rqueue: rest.rqueue,
            wqueue: rest.wqueue,
            uid: rest.uid,
            inode: rest.inode,
            unacked: rest.unacked,
            id: SocketId {
                source_port: local.port(),
                destination_port: peer.port(),
                source_address: local.ip(),
                destination_address: peer.ip(),
                interface_id: rest.interface,
                cookie: raw_cookie,
            },
        }
    }

    /// The compared part of the row.
    pub fn row(&self) -> Result<Row, HarnessError> {
        let state = self.tcp_state().ok_or_else(|| HarnessError::Unsupported {
            what: format!("TCP state number {}", self.state),
            reason: "the model has no name for it".into(),
        })?;
        Ok(Row {
            host: self.host,
            state,
            local: self.local,
            peer: (self.peer.port() != 0).then_some(self.peer),
            queue: self.rqueue,
        })
    }

    /// The row and what is known about it, with owners looked up in `owners`.
    ///
    /// `orphan` is true when the row belongs to a scenario socket but no descriptor holds it
    /// any more: the descriptor was closed, or the row is a minisocket (inode 0) of a socket
    /// whose descriptor is still open (a TIME-WAIT reached after `shutdown`). A row no scenario
    /// socket owns is a connection still in an accept queue (or a request socket): `owner`
    /// `None`, not an orphan.
    pub fn with_info(&self, owners: &dyn Owners) -> Result<(Row, RowInfo), HarnessError> {
        let owner = owners.owner_of(self.cookie);
        let orphan = owner.is_some_and(|s| self.inode == 0 || !owners.is_open(s));
        Ok((
            self.row()?,
            RowInfo {
                owner,
                orphan,
                timer: self.model_timer(),
            },
        ))
    }
}

/// The cookie of a `SocketId` (`idiag_cookie[0]` low, `[1]` high, each native-endian).
fn cookie_of(id: &SocketId) -> u64 {
    let c = id.cookie;
    let lo = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
    let hi = u32::from_ne_bytes([c[4], c[5], c[6], c[7]]);
    u64::from(lo) | (u64::from(hi) << 32)
}

/// The timer fields of a raw `inet_diag_msg` (the message after its netlink header):
/// `idiag_timer`, `idiag_retrans` and `idiag_expires`.
///
/// Layout (`include/uapi/linux/inet_diag.h`): family, state, timer, retrans (1 byte each),
/// then the 48-byte `inet_diag_sockid`, then `idiag_expires` (u32, native-endian) at offset 52.
/// `netlink-packet-sock-diag` 0.5 parses the same struct but keeps no expiry for TIME-WAIT.
pub fn raw_timer(inet_diag_msg: &[u8]) -> Option<(u8, u8, u32)> {
    let timer = *inet_diag_msg.get(2)?;
    let retrans = *inet_diag_msg.get(3)?;
    let e = inet_diag_msg.get(52..56)?;
    Some((timer, retrans, u32::from_ne_bytes([e[0], e[1], e[2], e[3]])))
}

/// `tcpi_unacked` of a raw `struct tcp_info` (`include/uapi/linux/tcp.h`): eight `u8` fields,
/// then `tcpi_rto`, `tcpi_ato`, `tcpi_snd_mss`, `tcpi_rcv_mss` and `tcpi_unacked` (u32 each,
/// native-endian), so at offset 24.
pub fn raw_unacked(tcp_info: &[u8]) -> Option<u32> {
    let b = tcp_info.get(24..28)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// A `sock_diag` socket of one host, and its namespace's `sockstat`.
pub struct DiagSocket {
    host: Host,
    nl: NlSocket,
    /// `/proc/thread-self/net/sockstat` as opened inside the host's namespace: its
    /// `sockets: used` counts the namespace's sockets (`sock_inuse_get(net)`).
    sockstat: std::fs::File,
    /// The namespace's probe sockets (see the `bound_rows` module).
    pub(super) probe: BindProbe,
}

impl DiagSocket {
    /// Opens a `sock_diag` socket and the `sockstat` file in the calling thread's network
    /// namespace, for `host`.
    pub fn open_here(host: Host) -> Result<Self, HarnessError> {
        let sockstat = std::fs::File::open("/proc/thread-self/net/sockstat")
            .map_err(|e| HarnessError::io("opening /proc/thread-self/net/sockstat", e))?;
        Ok(Self {
            host,
            nl: NlSocket::open(netlink_sys::protocols::NETLINK_SOCK_DIAG, "sock_diag")?,
            sockstat,
            probe: BindProbe::here(),
        })
    }

    /// How many sockets the host's namespace holds (`sockets: used` of its `sockstat`), of
    /// every kind: full TCP sockets (with or without a descriptor, in a table or not), the
    /// harness's own netlink and probe sockets (those spent counted as if still open); not
    /// TIME-WAIT minisockets nor request sockets.
    pub fn sockets_used(&self) -> Result<i64, HarnessError> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 512];
        let n = self
            .sockstat
            .read_at(&mut buf, 0)
            .map_err(|e| HarnessError::io("reading sockstat", e))?;
        String::from_utf8_lossy(&buf[..n])
            .lines()
            .find_map(|l| l.strip_prefix("sockets: used "))
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map(|used| used + self.probe.spent() as i64)
            .ok_or_else(|| HarnessError::netlink("sockstat", "no `sockets: used` line"))
    }

    /// The host this socket observes.
    pub fn host(&self) -> Host {
        self.host
    }

    /// The body of a `TCPDIAG_GETSOCK` dump request (`struct inet_diag_req`, the interface
    /// before `SOCK_DIAG_BY_FAMILY`): family, source and destination prefix lengths, the
    /// extensions (`INET_DIAG_INFO`), a zero `inet_diag_sockid` (48 bytes), the states and
    /// `idiag_dbs`.
    fn compat_request(states: u32) -> Vec<u8> {
        let mut body = Vec::with_capacity(60);
        body.extend_from_slice(&[libc::AF_INET as u8, 0, 0, 1 << (INET_DIAG_INFO - 1)]);
        body.extend_from_slice(&[0; 48]);
        body.extend_from_slice(&states.to_ne_bytes());
        body.extend_from_slice(&0u32.to_ne_bytes());
        body
    }

    /// One dump of both families' rows in `states`.
    ///
    /// It is a `TCPDIAG_GETSOCK` dump: the kernel answers it with `sdiag_family` `AF_UNSPEC`
    /// (`inet_diag_dump_compat()`), so one walk of the hash tables yields the `AF_INET` and the
    /// `AF_INET6` rows, where `SOCK_DIAG_BY_FAMILY` takes a walk per family. Each walk visits
    /// every bucket of the listening hash (when `LISTEN` is asked for), of the global bind
    /// hash (when `TCP_BOUND_INACTIVE` is) and of the namespace's established hash, whatever
    /// the number of sockets. The answers are `inet_diag_msg`s like `SOCK_DIAG_BY_FAMILY`'s,
    /// under the request's message type.
    fn dump(&mut self, states: u32, out: &mut Vec<DiagRow>) -> Result<(), HarnessError> {
        let what = format!("sock_diag dump of the TCP sockets of host {}", self.host);
        let body = Self::compat_request(states);
        for _attempt in 0..3 {
            let start = out.len();
            let host = self.host;
            let interrupted = self.nl.dump_bytes(
                TCPDIAG_GETSOCK,
                &body,
                SOCK_DIAG_BY_FAMILY,
                &what,
                |msg, raw| {
                    let SockDiagMessage::InetResponse(r) = msg else {
                        return Ok(());
                    };
                    let h = &r.header;
                    let (timer, retransmits, expires_ms) = raw_timer(raw)
                        .ok_or_else(|| HarnessError::netlink(&what, "short inet_diag_msg"))?;
                    let fam = match i32::from(h.family) {
                        libc::AF_INET => Family::Inet,
                        libc::AF_INET6 => Family::Inet6,
                        other => {
                            return Err(HarnessError::netlink(
                                &what,
                                format!("row of address family {other}"),
                            ));
                        }
                    };
                    let id = &h.socket_id;
                    let unacked = r.nlas.iter().find_map(|n| match n {
                        Nla::TcpInfo(info) => raw_unacked(info),
                        _ => None,
                    });
                    out.push(DiagRow {
                        host,
                        family: fam,
                        state: h.state,
                        timer,
                        retransmits,
                        expires_ms,
                        local: SocketAddr::new(id.source_address, id.source_port),
                        peer: SocketAddr::new(id.destination_address, id.destination_port),
                        interface: id.interface_id,
                        cookie: cookie_of(id),
                        rqueue: h.recv_queue,
                        wqueue: h.send_queue,
                        uid: h.uid,
                        inode: h.inode,
                        unacked,
                        id: id.clone(),
                    });
                    Ok(())
                },
            )?;
            if !interrupted {
                return Ok(());
            }
            out.truncate(start);
        }
        Err(HarnessError::netlink(
            what,
            "the dump was interrupted three times in a row",
        ))
    }

    /// Every TCP row of this host, both families.
    pub fn rows(&mut self) -> Result<Vec<DiagRow>, HarnessError> {
        self.rows_in(ALL_STATES)
    }

    /// The TCP rows of this host in `states` (a mask of `1 << TCP_*` bits), both families.
    pub fn rows_in(&mut self, states: u32) -> Result<Vec<DiagRow>, HarnessError> {
        let mut out = Vec::new();
        self.dump(states, &mut out)?;
        Ok(out)
    }

    /// `SOCK_DESTROY` of one dumped row. `Ok(Err(errno))` is the kernel's refusal (`ENOENT`
    /// when the row is gone or cannot be looked up, as for a bound, unconnected socket).
    pub fn destroy_row(&mut self, row: &DiagRow) -> Result<Result<(), Errno>, HarnessError> {
        let af = match row.family {
            Family::Inet => libc::AF_INET,
            Family::Inet6 => libc::AF_INET6,
        } as u8;
        let req = SockDiagMessage::InetRequest(InetRequest {
            family: af,
            protocol: libc::IPPROTO_TCP as u8,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::from_bits_retain(ALL_STATES),
            socket_id: row.id.clone(),
        });
        let what = format!("SOCK_DESTROY of {} on host {}", row.local, self.host);
        let answer = self.nl.request_ack::<SockDiagDestroy>(
            NetlinkPayload::InnerMessage(SockDiagDestroy::new(req)),
            0,
            &what,
        )?;
        match answer {
            Ok(()) => Ok(Ok(())),
            Err(libc::EOPNOTSUPP) => Err(HarnessError::Unsupported {
                what: "SOCK_DESTROY".into(),
                reason: "the kernel lacks CONFIG_INET_DIAG_DESTROY".into(),
            }),
            Err(libc::EPERM) | Err(libc::EACCES) => Err(HarnessError::Unsupported {
                what: "SOCK_DESTROY".into(),
                reason: "CAP_NET_ADMIN over the namespace is needed".into(),
            }),
            Err(n) => Ok(Err(errno::from_raw(n))),
        }
    }
}
