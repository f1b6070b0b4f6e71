//! `/proc/net/tcp` and `/proc/net/tcp6`, as gVisor writes them: the only socket table its
//! netstack offers (no `NETLINK_SOCK_DIAG`).
//!
//! What gVisor's table holds, measured with runsc 0.0~20240729 (systrap): only sockets that a
//! descriptor holds (no orphan, no TIME-WAIT or FIN-WAIT-2 minisocket, no connection waiting in
//! an accept queue); unbound sockets too, as state `07` with address `0`; every network
//! namespace of the sandbox mixed in one table; `tx_queue`/`rx_queue` always 0; the `inode`
//! column is the socket's inode (`fstat`), which is how a case finds its own rows.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tcpconform_model::TcpState;

/// One line of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcRow {
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port (`0.0.0.0:0` when none).
    pub remote: SocketAddr,
    /// The state (`st`, Linux's `TCP_*` numbering).
    pub state: TcpState,
    /// The socket's inode.
    pub inode: u64,
}

/// An address column: `0100007F:1388` (IPv4, the bytes of the address as the host stores
/// them) or 32 hex digits for IPv6 (four 32-bit words, each in host order).
fn address(col: &str) -> Option<SocketAddr> {
    let (addr, port) = col.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(addr, 16).ok()?.to_le_bytes(),
        )),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, word) in bytes.chunks_mut(4).enumerate() {
                let w = u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16).ok()?;
                word.copy_from_slice(&w.to_le_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The rows of a table's text (the header line is skipped; a line that does not read is
/// `None`, an error for the caller).
pub fn parse(text: &str) -> Vec<Option<ProcRow>> {
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let state = u8::from_str_radix(cols.get(3)?, 16).ok()?;
            Some(ProcRow {
                local: address(cols.get(1)?)?,
                remote: address(cols.get(2)?)?,
                state: TcpState::from_linux_number(state)?,
                inode: cols.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gvisors_lines_read_as_they_were_measured() {
        // As runsc 0.0~20240729 printed them: a listener, a connection, an unbound socket
        // and a socket bound to [::1]:6000.
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0        1 1 0000000000000000 0 0 0 0 -1\n\
   1: 0100007F:BE29 0100007F:1388 01 00000000:00000000 00:00000000 00000000     0        0        2 1 0000000000000000 0 0 0 0 -1\n\
   2: 00000000:0000 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0        4 1 0000000000000000 0 0 0 0 -1\n";
        let rows: Vec<ProcRow> = parse(v4).into_iter().map(|r| r.expect("reads")).collect();
        assert_eq!(rows[0].local, "127.0.0.1:5000".parse().unwrap());
        assert_eq!(rows[0].state, TcpState::Listen);
        assert_eq!(rows[1].remote, "127.0.0.1:5000".parse().unwrap());
        assert_eq!((rows[1].state, rows[1].inode), (TcpState::Established, 2));
        assert_eq!(rows[2].local.port(), 0);
        let v6 = "  sl header\n   0: 00000000000000000000000001000000:1770 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0        3 1\n";
        let rows: Vec<ProcRow> = parse(v6).into_iter().map(|r| r.expect("reads")).collect();
        assert_eq!(rows[0].local, "[::1]:6000".parse().unwrap());
        assert_eq!((rows[0].state, rows[0].inode), (TcpState::Closed, 3));
        assert_eq!(parse("header\n garbage\n"), vec![None]);
    }
}
