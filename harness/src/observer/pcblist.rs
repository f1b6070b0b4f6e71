//! The BSD socket tables: parsers of the `net.inet.tcp.pcblist` sysctl's bytes (FreeBSD) and
//! of `net.inet.tcp.pcblist_n` (macOS), into [`Pcb`]s and then model rows.
//!
//! These are plain functions of bytes, compiled and unit-tested on every OS; only the
//! FreeBSD and macOS observers call them on a real table. **Neither has been run against a
//! real kernel's output by this project**: the layouts below are transcribed from the headers
//! named on each, and every record is checked against the lengths the kernel writes into it
//! (a release whose layout differs is a [`HarnessError::Unsupported`], never a misread table).
//!
//! # FreeBSD (14, 15, amd64 and arm64)
//!
//! `sysctl net.inet.tcp.pcblist` (`tcp_pcblist()`, `sys/netinet/tcp_subr.c`) is a
//! `struct xinpgen`, one `struct xtcpcb` per PCB, and a closing `struct xinpgen`, each starting
//! with its length (`ksize_t`, 8 bytes). `usr.bin/netstat/inet.c` walks it the same way
//! (`XINP_NEXT`: advance by `xig_len`, stop at a record no longer than a `struct xinpgen`).
//! `struct xtcpcb` (`sys/netinet/tcp_var.h`) begins with `xt_len` and a `struct xinpcb`
//! (`sys/netinet/in_pcb.h`: `xi_len`, a `struct xsocket` of `sys/sys/socketvar.h`, the
//! `struct in_conninfo` with ports and addresses, `inp_gencnt`, …, `inp_vflag`), then
//! `xt_stack[32]`, `xt_logid[64]`, `xt_cc[16]`, `spare64[6]`, `t_state`, `t_flags`, four
//! counters, and the timers `tt_rexmt`, `tt_persist`, `tt_keep`, `tt_2msl`, `tt_delack`
//! (milliseconds left, 0 when stopped; `tcp_inptoxtp()`). The `xsocket` of a PCB whose socket
//! is gone (TIME-WAIT) is zero but for `xso_protocol`.
//!
//! # macOS (XNU)
//!
//! `sysctl net.inet.tcp.pcblist_n` (`get_pcblist_n()`, `bsd/netinet/in_pcblist.c`) is a
//! `struct xinpgen`, then per PCB a run of typed records, each starting with `u_int32_t len`
//! and `u_int32_t kind` and padded to 8 bytes (`ROUNDUP64`): `XSO_SOCKET` (`struct
//! xsocket_n`), `XSO_RCVBUF` and `XSO_SNDBUF` (`struct xsockbuf_n`), `XSO_STATS`,
//! `XSO_INPCB` (`struct xinpcb_n`), `XSO_TCPCB` (`struct xtcpcb_n`), and a closing `struct
//! xinpgen`. The structs are declared under `#pragma pack(4)` (`bsd/netinet/in_pcb.h`,
//! `bsd/netinet/tcp_var.h`, `bsd/sys/socketvar.h`); `netstat`'s `protopr()` in
//! `network_cmds/netstat.tproj/inet.c` walks them so. The `t_timer` of `xtcpcb_n` are in
//! the stack's slow-timer ticks, not milliseconds, and are only used as running or not.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tcpconform_model::{Family, Host, Row, RowInfo, TcpState, Timer, TimerKind};

use crate::error::HarnessError;

/// One TCP PCB of a BSD table, with what the observer uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pcb {
    /// The socket's family: `AF_INET6` sockets show IPv6 (or v4-mapped) addresses.
    pub family: Family,
    /// The BSD state number (`sys/netinet/tcp_fsm.h`, the same on both).
    pub state: i32,
    /// Local address and port.
    pub local: SocketAddr,
    /// Peer address and port (port 0 when none).
    pub peer: SocketAddr,
    /// For a listener, the completed connections not accepted (`so_qlen`); otherwise the bytes
    /// received and not read (`so_rcv.sb_cc`).
    pub queue: u32,
    /// Bytes in the send buffer (sent and not acknowledged, or not sent yet).
    pub send_queue: u32,
    /// Whether a segment or an ACK is still to come from this end: the retransmit or
    /// delayed-ACK timer runs, or (macOS) `snd_una != snd_max`.
    pub pending_output: bool,
    /// The running TIME-WAIT (2MSL) timer, in milliseconds, when the stack reports them so.
    pub time_wait_ms: Option<u64>,
    /// Whether no descriptor holds the socket any more (`SS_NOFDREF`, or no socket at all).
    pub orphan: bool,
}

/// BSD `TCPS_*` numbers (`tcp_fsm.h`, FreeBSD and XNU alike).
pub fn tcp_state(n: i32) -> Option<TcpState> {
    Some(match n {
        0 => TcpState::Closed,
        1 => TcpState::Listen,
        2 => TcpState::SynSent,
        3 => TcpState::SynReceived,
        4 => TcpState::Established,
        5 => TcpState::CloseWait,
        6 => TcpState::FinWait1,
        7 => TcpState::Closing,
        8 => TcpState::LastAck,
        9 => TcpState::FinWait2,
        10 => TcpState::TimeWait,
        _ => return None,
    })
}

impl Pcb {
    /// Whether the PCB has a port: the tables the model predicts hold only those (an unbound
    /// socket is a PCB at `*.*` on a BSD, and no row anywhere).
    pub fn has_port(&self) -> bool {
        self.local.port() != 0
    }

    /// The model's row and what is known about it (`owner` is found by the caller).
    pub fn row(&self, host: Host) -> Result<(Row, RowInfo), HarnessError> {
        let state = tcp_state(self.state).ok_or_else(|| HarnessError::Unsupported {
            what: format!("BSD TCP state number {}", self.state),
            reason: "the model has no name for it".into(),
        })?;
        Ok((
            Row {
                host,
                state,
                local: self.local,
                peer: (self.peer.port() != 0).then_some(self.peer),
                queue: self.queue,
            },
            RowInfo {
                owner: None,
                orphan: self.orphan,
                timer: self.time_wait_ms.map(|ms| Timer {
                    kind: TimerKind::TimeWait,
                    remaining_ms: ms,
                }),
            },
        ))
    }
}

fn bad(what: &str, reason: String) -> HarnessError {
    HarnessError::Unsupported {
        what: format!("reading {what}"),
        reason,
    }
}

fn u16_ne(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}
fn u32_ne(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn i32_ne(b: &[u8], at: usize) -> i32 {
    u32_ne(b, at) as i32
}
fn u64_ne(b: &[u8], at: usize) -> u64 {
    let mut x = [0; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(x)
}
/// A port as the PCB stores it (network order).
fn port_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// `inp_vflag` bits (FreeBSD `in_pcb.h`; XNU's first two are the same).
const INP_IPV4: u8 = 0x1;
const INP_IPV6: u8 = 0x2;
/// FreeBSD `INP_IPV6PROTO`: opened as an `AF_INET6` socket.
const INP_IPV6PROTO: u8 = 0x4;

/// An address from a 16-byte `in_dependaddr` union: IPv6, or IPv4 in the last four bytes,
/// shown v4-mapped on an `AF_INET6` socket.
fn dependaddr(b: &[u8], vflag: u8, family: Family) -> IpAddr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    if vflag & INP_IPV6 != 0 {
        return IpAddr::V6(Ipv6Addr::from(a));
    }
    let v4 = Ipv4Addr::new(a[12], a[13], a[14], a[15]);
    match family {
        Family::Inet => IpAddr::V4(v4),
        Family::Inet6 => IpAddr::V6(v4.to_ipv6_mapped()),
    }
}

/// FreeBSD `AF_INET6` (28) and XNU's (30); `AF_INET` is 2 on both.
const AF_INET6_FREEBSD: i32 = 28;
const AF_INET6_XNU: i32 = 30;

/// Offsets in FreeBSD's records, from the headers named in the module docs (amd64/arm64:
/// `ksize_t` and `kvaddr_t` are 8 bytes, natural alignment).
pub mod freebsd {
    /// `sizeof(struct xinpgen)`: `ksize_t`, two `uint32_t`, two `uint64_t`, four spare.
    pub const XINPGEN: usize = 8 + 4 + 4 + 8 + 8 + 32;
    /// `sizeof(struct xsockbuf)`: six `uint32_t`, two `int32_t`, an `int16_t`, padded to 4.
    pub const XSOCKBUF: usize = 6 * 4 + 2 * 4 + 4;
    /// `sizeof(struct xsocket)`: 4 × 8, `so_spare64[7]`/`so_splice_so` (64), five 4-byte
    /// fields, `so_pgid`, `so_uid`, `so_spare32[8]`, six `int16_t`, two `xsockbuf`, padded to
    /// 8.
    pub const XSOCKET: usize = (32 + 64 + 7 * 4 + 32 + 12 + 2 * XSOCKBUF).next_multiple_of(8);
    /// Offsets inside `struct xsocket`.
    pub const XSO_FAMILY: usize = 32 + 64 + 4;
    /// `so_qlen`.
    pub const SO_QLEN: usize = XSO_FAMILY + 4;
    /// `so_state`.
    pub const SO_STATE: usize = 32 + 64 + 7 * 4 + 32 + 6;
    /// `so_rcv` (its `sb_cc` first).
    pub const SO_RCV: usize = 32 + 64 + 7 * 4 + 32 + 12;
    /// `so_snd`.
    pub const SO_SND: usize = SO_RCV + XSOCKBUF;
    /// `struct xinpcb`: `xi_len`, the `xsocket`, then `in_conninfo` (`inc_flags`, `inc_len`,
    /// `inc_fibnum`, then `in_endpoints`: `ie_fport`, `ie_lport`, the foreign and local
    /// 16-byte address unions, `ie6_zoneid`).
    pub const INP_INC: usize = 8 + XSOCKET;
    /// `ie_fport`.
    pub const FPORT: usize = INP_INC + 4;
    /// `ie_lport`.
    pub const LPORT: usize = INP_INC + 6;
    /// The foreign address union.
    pub const FADDR: usize = INP_INC + 8;
    /// The local address union.
    pub const LADDR: usize = INP_INC + 24;
    /// After `in_conninfo` (44 bytes, padded to 8): `inp_gencnt`, `inp_ppcb`,
    /// `inp_spare64[4]`, three `uint32_t`, `inp_flags`, `inp_flags2`,
    /// `inp_rss_listen_bucket`, `in6p_cksum`, `inp_spare32[4]`, `in6p_hops`, `inp_ip_tos`,
    /// `pad8`, then `inp_vflag`.
    pub const VFLAG: usize = INP_INC + 48 + 8 + 8 + 32 + 3 * 4 + 4 * 4 + 16 + 4;
    /// `sizeof(struct xinpcb)`: through `inp_ip_minttl` and `inp_spare8[4]`, aligned to 8.
    pub const XINPCB: usize = (VFLAG + 4 + 4).next_multiple_of(8);
    /// In `struct xtcpcb`: `xt_len`, the `xinpcb`, `xt_stack[32]`, `xt_logid[64]`,
    /// `xt_cc[16]`, `spare64[6]`, then `t_state`.
    pub const T_STATE: usize = 8 + XINPCB + 32 + 64 + 16 + 48;
    /// `tt_rexmt`: after `t_state`, `t_flags`, `t_sndzerowin`, `t_sndrexmitpack`,
    /// `t_rcvoopack`, `t_rcvtime`.
    pub const TT_REXMT: usize = T_STATE + 6 * 4;
    /// `tt_2msl`.
    pub const TT_2MSL: usize = TT_REXMT + 3 * 4;
    /// `tt_delack`.
    pub const TT_DELACK: usize = TT_REXMT + 4 * 4;
    /// The least `xt_len` that holds every field read.
    pub const XTCPCB_MIN: usize = TT_DELACK + 4;
}

/// `SS_NOFDREF`: no file descriptor refers to the socket (FreeBSD and XNU).
const SS_NOFDREF: u16 = 0x0001;

/// Parses FreeBSD's `net.inet.tcp.pcblist`.
pub fn parse_freebsd(buf: &[u8]) -> Result<Vec<Pcb>, HarnessError> {
    use freebsd::*;
    const WHAT: &str = "net.inet.tcp.pcblist";
    let len_at = |at: usize| -> Option<usize> {
        buf.get(at..at + 8)
            .map(|_| u64_ne(buf, at) as usize)
            .filter(|&l| l >= 8 && at + l <= buf.len())
    };
    let first = len_at(0).ok_or_else(|| bad(WHAT, "no leading struct xinpgen".into()))?;
    if first != XINPGEN {
        return Err(bad(
            WHAT,
            format!("struct xinpgen is {first} bytes, {XINPGEN} expected"),
        ));
    }
    let mut out = Vec::new();
    let mut at = first;
    loop {
        let len = len_at(at).ok_or_else(|| bad(WHAT, format!("truncated at byte {at}")))?;
        if len <= XINPGEN {
            return Ok(out);
        }
        let r = &buf[at..at + len];
        if len < XTCPCB_MIN {
            return Err(bad(
                WHAT,
                format!("a struct xtcpcb of {len} bytes, at least {XTCPCB_MIN} expected"),
            ));
        }
        // The embedded lengths confirm the transcription up to the fields read.
        let xi_len = u64_ne(r, 8) as usize;
        let xso_len = u64_ne(r, 16) as usize;
        if xi_len != XINPCB || xso_len != XSOCKET {
            return Err(bad(
                WHAT,
                format!(
                    "struct xinpcb/xsocket are {xi_len}/{xso_len} bytes, {XINPCB}/{XSOCKET} \
                     expected: this release's layout is not the one transcribed"
                ),
            ));
        }
        let xso = &r[16..];
        let vflag = r[8 + VFLAG];
        let has_socket = u64_ne(xso, 8) != 0;
        let xso_family = i32_ne(xso, XSO_FAMILY);
        let family = if xso_family == AF_INET6_FREEBSD || vflag & INP_IPV6PROTO != 0 {
            Family::Inet6
        } else {
            Family::Inet
        };
        let state = i32_ne(r, T_STATE);
        let ms = |at: usize| i32_ne(r, at);
        let listener = state == 1;
        out.push(Pcb {
            family,
            state,
            local: SocketAddr::new(
                dependaddr(&r[8 + LADDR..], vflag, family),
                port_at(r, 8 + LPORT),
            ),
            peer: SocketAddr::new(
                dependaddr(&r[8 + FADDR..], vflag, family),
                port_at(r, 8 + FPORT),
            ),
            queue: if listener {
                u32_ne(xso, SO_QLEN)
            } else {
                u32_ne(xso, SO_RCV)
            },
            send_queue: u32_ne(xso, SO_SND),
            pending_output: ms(TT_REXMT) > 0 || ms(TT_DELACK) > 0,
            time_wait_ms: (state == 10 && ms(TT_2MSL) > 0).then(|| ms(TT_2MSL) as u64),
            orphan: !has_socket || u16_ne(xso, SO_STATE) & SS_NOFDREF != 0,
        });
        at += len;
    }
}

/// Offsets in XNU's `pcblist_n` records (`#pragma pack(4)`).
pub mod xnu {
    /// `sizeof(struct xinpgen)`: `u_int32_t`, `u_int`, two 8-byte generation counts.
    pub const XINPGEN: usize = 24;
    /// `XSO_SOCKET`.
    pub const XSO_SOCKET: u32 = 0x001;
    /// `XSO_RCVBUF`.
    pub const XSO_RCVBUF: u32 = 0x002;
    /// `XSO_SNDBUF`.
    pub const XSO_SNDBUF: u32 = 0x004;
    /// `XSO_INPCB`.
    pub const XSO_INPCB: u32 = 0x010;
    /// `XSO_TCPCB`.
    pub const XSO_TCPCB: u32 = 0x020;
    /// In `struct xsocket_n`: `xso_len`, `xso_kind`, `xso_so` (8), `so_type` (2, padded),
    /// `so_options` (4), `so_linger`, `so_state`, `so_pcb` (8), `xso_protocol`, `xso_family`,
    /// `so_qlen`.
    pub const XSO_SO: usize = 8;
    /// `so_state`.
    pub const SO_STATE: usize = 26;
    /// `xso_family`.
    pub const XSO_FAMILY: usize = 40;
    /// `so_qlen` (a `short`).
    pub const SO_QLEN: usize = 44;
    /// In `struct xsockbuf_n`: `xsbn_len`, `xsbn_kind`, then `sb_cc`.
    pub const SB_CC: usize = 8;
    /// In `struct xinpcb_n`: `xi_len`, `xi_kind`, `xi_inpp` (8), `inp_fport`, `inp_lport`,
    /// `inp_ppcb` (8), `inp_gencnt` (8), `inp_flags`, `inp_flow`, `inp_vflag`, `inp_ip_ttl`,
    /// `inp_ip_p` (padded to 4), the foreign and local 16-byte unions.
    pub const FPORT: usize = 16;
    /// `inp_lport`.
    pub const LPORT: usize = 18;
    /// `inp_vflag`.
    pub const VFLAG: usize = 44;
    /// `inp_dependfaddr`.
    pub const FADDR: usize = 48;
    /// `inp_dependladdr`.
    pub const LADDR: usize = 64;
    /// In `struct xtcpcb_n`: `xt_len`, `xt_kind`, `t_segq` (8), `t_dupacks`,
    /// `t_timer[TCPT_NTIMERS_EXT]` (4 timers: rexmt, persist, keep, 2msl), `t_state`,
    /// `t_flags`, `t_force`, `snd_una`, `snd_max`.
    pub const T_TIMER: usize = 20;
    /// `t_state`.
    pub const T_STATE: usize = 36;
    /// `snd_una`.
    pub const SND_UNA: usize = 48;
    /// `snd_max`.
    pub const SND_MAX: usize = 52;
}

/// Parses macOS's `net.inet.tcp.pcblist_n`.
pub fn parse_macos(buf: &[u8]) -> Result<Vec<Pcb>, HarnessError> {
    use xnu::*;
    const WHAT: &str = "net.inet.tcp.pcblist_n";
    let round = |n: usize| n.max(1).next_multiple_of(8);
    let first = buf
        .get(0..4)
        .map(|_| u32_ne(buf, 0) as usize)
        .ok_or_else(|| bad(WHAT, "no leading struct xinpgen".into()))?;
    if first != XINPGEN {
        return Err(bad(
            WHAT,
            format!("struct xinpgen is {first} bytes, {XINPGEN} expected"),
        ));
    }
    #[derive(Default)]
    struct Parts<'a> {
        socket: Option<&'a [u8]>,
        rcv: Option<&'a [u8]>,
        snd: Option<&'a [u8]>,
        inp: Option<&'a [u8]>,
    }
    let mut out = Vec::new();
    let mut parts = Parts::default();
    let mut at = round(first);
    while at + 8 <= buf.len() {
        let len = u32_ne(buf, at) as usize;
        if len <= XINPGEN {
            return Ok(out);
        }
        let r = buf
            .get(at..at + len)
            .ok_or_else(|| bad(WHAT, format!("truncated at byte {at}")))?;
        let need = |min: usize| {
            if len < min {
                Err(bad(WHAT, format!("a record of {len} bytes, {min} needed")))
            } else {
                Ok(())
            }
        };
        match u32_ne(r, 4) {
            XSO_SOCKET => {
                need(SO_QLEN + 2)?;
                parts = Parts {
                    socket: Some(r),
                    ..Parts::default()
                };
            }
            XSO_RCVBUF => {
                need(SB_CC + 4)?;
                parts.rcv = Some(r);
            }
            XSO_SNDBUF => {
                need(SB_CC + 4)?;
                parts.snd = Some(r);
            }
            XSO_INPCB => {
                need(LADDR + 16)?;
                parts.inp = Some(r);
            }
            XSO_TCPCB => {
                need(SND_MAX + 4)?;
                let (Some(so), Some(inp)) = (parts.socket, parts.inp) else {
                    return Err(bad(WHAT, "an xtcpcb_n without its socket or inpcb".into()));
                };
                let vflag = inp[VFLAG];
                let family = if i32_ne(so, XSO_FAMILY) == AF_INET6_XNU {
                    Family::Inet6
                } else {
                    Family::Inet
                };
                let state = i32_ne(r, T_STATE);
                let timer = |i: usize| i32_ne(r, T_TIMER + 4 * i);
                out.push(Pcb {
                    family,
                    state,
                    local: SocketAddr::new(
                        dependaddr(&inp[LADDR..], vflag & (INP_IPV4 | INP_IPV6), family),
                        port_at(inp, LPORT),
                    ),
                    peer: SocketAddr::new(
                        dependaddr(&inp[FADDR..], vflag & (INP_IPV4 | INP_IPV6), family),
                        port_at(inp, FPORT),
                    ),
                    queue: if state == 1 {
                        u32::from(u16_ne(so, SO_QLEN))
                    } else {
                        parts.rcv.map_or(0, |b| u32_ne(b, SB_CC))
                    },
                    send_queue: parts.snd.map_or(0, |b| u32_ne(b, SB_CC)),
                    pending_output: timer(0) > 0 || u32_ne(r, SND_UNA) != u32_ne(r, SND_MAX),
                    // XNU's timers are in slow-timer ticks: not a time the model can use.
                    time_wait_ms: None,
                    orphan: u64_ne(so, XSO_SO) == 0 || u16_ne(so, SO_STATE) & SS_NOFDREF != 0,
                });
                parts = Parts::default();
            }
            // XSO_STATS and kinds this parser does not read.
            _ => {}
        }
        at += round(len);
    }
    Err(bad(WHAT, "no closing struct xinpgen".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
        buf[at..at + bytes.len()].copy_from_slice(bytes);
    }

    fn xinpgen_freebsd() -> Vec<u8> {
        let mut g = vec![0u8; freebsd::XINPGEN];
        put(&mut g, 0, &(freebsd::XINPGEN as u64).to_ne_bytes());
        g
    }

    /// A record laid out as the module docs say, to check the parser against its own
    /// description (not against a kernel: none ran here).
    fn xtcpcb(state: i32, lport: u16, fport: u16, v4: [u8; 4], twms: i32) -> Vec<u8> {
        use freebsd::*;
        let len = 744;
        let mut r = vec![0u8; len];
        put(&mut r, 0, &(len as u64).to_ne_bytes());
        put(&mut r, 8, &(XINPCB as u64).to_ne_bytes());
        put(&mut r, 16, &(XSOCKET as u64).to_ne_bytes());
        let xso = 16;
        if state != 10 {
            put(&mut r, xso + 8, &0xffff_0000_1234_0000u64.to_ne_bytes());
            put(&mut r, xso + XSO_FAMILY, &2i32.to_ne_bytes());
            put(&mut r, xso + SO_RCV, &7u32.to_ne_bytes());
        }
        put(&mut r, 8 + LPORT, &lport.to_be_bytes());
        put(&mut r, 8 + FPORT, &fport.to_be_bytes());
        put(&mut r, 8 + LADDR + 12, &v4);
        put(&mut r, 8 + FADDR + 12, &v4);
        r[8 + VFLAG] = INP_IPV4;
        put(&mut r, T_STATE, &state.to_ne_bytes());
        put(&mut r, TT_2MSL, &twms.to_ne_bytes());
        r
    }

    #[test]
    fn the_freebsd_layout_adds_up_to_the_sizes_of_the_headers() {
        // Worked out by hand from the headers (amd64): xsockbuf 36, xsocket 240, xinpcb 400,
        // t_state at 568; xt_len is 744 in 14.x and 15.x.
        assert_eq!(freebsd::XSOCKBUF, 36);
        assert_eq!(freebsd::XSOCKET, 240);
        assert_eq!(freebsd::XINPCB, 400);
        assert_eq!(freebsd::T_STATE, 568);
        const { assert!(freebsd::XTCPCB_MIN <= 744) };
    }

    #[test]
    fn a_freebsd_table_gives_its_rows() {
        let mut buf = xinpgen_freebsd();
        buf.extend(xtcpcb(4, 5000, 40000, [127, 0, 0, 1], 0));
        buf.extend(xtcpcb(10, 40001, 5000, [127, 0, 0, 1], 59_000));
        buf.extend(xinpgen_freebsd());
        let pcbs = parse_freebsd(&buf).expect("parses");
        assert_eq!(pcbs.len(), 2);
        assert_eq!(pcbs[0].state, 4);
        assert_eq!(pcbs[0].local, "127.0.0.1:5000".parse().unwrap());
        assert_eq!(pcbs[0].peer, "127.0.0.1:40000".parse().unwrap());
        assert_eq!(pcbs[0].queue, 7);
        assert!(!pcbs[0].orphan);
        assert_eq!(pcbs[1].time_wait_ms, Some(59_000));
        assert!(pcbs[1].orphan, "a TIME-WAIT PCB has no socket");
        let (row, _) = pcbs[1].row(Host::A).unwrap();
        assert_eq!(row.state, TcpState::TimeWait);
    }

    #[test]
    fn a_freebsd_table_of_another_layout_is_refused() {
        let mut buf = xinpgen_freebsd();
        let mut r = xtcpcb(4, 5000, 40000, [127, 0, 0, 1], 0);
        put(&mut r, 8, &999u64.to_ne_bytes());
        buf.extend(r);
        buf.extend(xinpgen_freebsd());
        let err = parse_freebsd(&buf).expect_err("refused");
        assert!(err.to_string().contains("layout"), "{err}");
    }

    #[test]
    fn a_macos_table_gives_its_rows() {
        use xnu::*;
        let rec = |kind: u32, len: usize| {
            let mut r = vec![0u8; len.next_multiple_of(8)];
            put(&mut r, 0, &(len as u32).to_ne_bytes());
            put(&mut r, 4, &kind.to_ne_bytes());
            r
        };
        let mut buf = vec![0u8; 24];
        put(&mut buf, 0, &24u32.to_ne_bytes());
        let mut so = rec(XSO_SOCKET, 72);
        put(&mut so, XSO_SO, &1u64.to_ne_bytes());
        put(&mut so, XSO_FAMILY, &30i32.to_ne_bytes());
        put(&mut so, SO_QLEN, &2u16.to_ne_bytes());
        buf.extend(so);
        buf.extend(rec(XSO_RCVBUF, 32));
        buf.extend(rec(XSO_SNDBUF, 32));
        let mut inp = rec(XSO_INPCB, 88);
        put(&mut inp, LPORT, &5000u16.to_be_bytes());
        inp[VFLAG] = INP_IPV6;
        buf.extend(inp);
        let mut tcb = rec(XSO_TCPCB, 160);
        put(&mut tcb, T_STATE, &1i32.to_ne_bytes());
        buf.extend(tcb);
        let mut end = vec![0u8; 24];
        put(&mut end, 0, &24u32.to_ne_bytes());
        buf.extend(end);
        let pcbs = parse_macos(&buf).expect("parses");
        assert_eq!(pcbs.len(), 1);
        assert_eq!(pcbs[0].state, 1);
        assert_eq!(pcbs[0].local, "[::]:5000".parse().unwrap());
        assert_eq!(pcbs[0].queue, 2);
        assert_eq!(pcbs[0].family, Family::Inet6);
    }
}
