//! TCP states, as RFC 9293 names them and as `ss` prints them.
//!
//! ```text
//!                             +---------+ ---------\      active OPEN
//!                             |  CLOSED |            \    -----------
//!                             +---------+<---------\   \   create TCB
//!                               |     ^              \   \  snd SYN
//!                  passive OPEN |     |   CLOSE        \   \
//!                  ------------ |     | ----------       \   \
//!                   create TCB  |     | delete TCB         \   \
//!                               V     |                      \   \
//!           rcv RST (note 1)  +---------+            CLOSE    |    \
//!        -------------------->|  LISTEN |          ---------- |     |
//!       /                     +---------+          delete TCB |     |
//!      /           rcv SYN      |     |     SEND              |     |
//!     /           -----------   |     |    -------            |     V
//! +--------+      snd SYN,ACK  /       \   snd SYN          +--------+
//! |        |<-----------------           ------------------>|        |
//! |  SYN   |                    rcv SYN                     |  SYN   |
//! |  RCVD  |<-----------------------------------------------|  SENT  |
//! |        |                  snd SYN,ACK                   |        |
//! |        |------------------           -------------------|        |
//! +--------+   rcv ACK of SYN  \       /  rcv SYN,ACK       +--------+
//!    |         --------------   |     |   -----------
//!    |                x         |     |     snd ACK
//!    |                          V     V
//!    |  CLOSE                 +---------+
//!    | -------                |  ESTAB  |
//!    | snd FIN                +---------+
//!    |                 CLOSE    |     |    rcv FIN
//!    V                -------   |     |    -------
//! +---------+         snd FIN  /       \   snd ACK         +---------+
//! |  FIN    |<----------------          ------------------>|  CLOSE  |
//! | WAIT-1  |------------------                            |   WAIT  |
//! +---------+          rcv FIN  \                          +---------+
//!   | rcv ACK of FIN   -------   |                          CLOSE  |
//!   | --------------   snd ACK   |                         ------- |
//!   V        x                   V                         snd FIN V
//! +---------+               +---------+                    +---------+
//! |FINWAIT-2|               | CLOSING |                    | LAST-ACK|
//! +---------+               +---------+                    +---------+
//!   |              rcv ACK of FIN |                 rcv ACK of FIN |
//!   |  rcv FIN     -------------- |    Timeout=2MSL -------------- |
//!   |  -------            x       V    ------------        x       V
//!    \ snd ACK              +---------+delete TCB          +---------+
//!      -------------------->|TIME-WAIT|------------------->| CLOSED  |
//!                           +---------+                    +---------+
//! ```
//! (RFC 9293, figure 5.)

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A TCP state.
///
/// Displayed with `ss`'s spelling (`ESTAB`, `TIME-WAIT`, `UNCONN` for CLOSED), which is what an
/// operator sees; parsed from that spelling or the RFC's (`ESTABLISHED`, `CLOSED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TcpState {
    /// CLOSED: no connection (a fresh or merely bound socket; `ss` says `UNCONN`).
    Closed,
    /// LISTEN: waiting for connection requests.
    Listen,
    /// SYN-SENT: a SYN was sent, waiting for the matching SYN-ACK.
    SynSent,
    /// SYN-RECEIVED: a SYN was received and answered (`ss`: `SYN-RECV`).
    SynReceived,
    /// ESTABLISHED: the connection is open (`ss`: `ESTAB`).
    Established,
    /// FIN-WAIT-1: our FIN is sent and not yet acknowledged.
    FinWait1,
    /// FIN-WAIT-2: our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// CLOSE-WAIT: the peer's FIN arrived; waiting for the local close.
    CloseWait,
    /// CLOSING: both sides sent FIN at once; waiting for the ACK of ours.
    Closing,
    /// LAST-ACK: the passive closer's FIN is sent; waiting for its ACK.
    LastAck,
    /// TIME-WAIT: the active closer waits 2MSL before the 4-tuple may be reused.
    TimeWait,
}

impl TcpState {
    /// Every state, in RFC order.
    pub const ALL: [Self; 11] = [
        Self::Closed,
        Self::Listen,
        Self::SynSent,
        Self::SynReceived,
        Self::Established,
        Self::FinWait1,
        Self::FinWait2,
        Self::CloseWait,
        Self::Closing,
        Self::LastAck,
        Self::TimeWait,
    ];

    /// The spelling `ss` prints.
    pub fn ss_name(self) -> &'static str {
        match self {
            Self::Closed => "UNCONN",
            Self::Listen => "LISTEN",
            Self::SynSent => "SYN-SENT",
            Self::SynReceived => "SYN-RECV",
            Self::Established => "ESTAB",
            Self::FinWait1 => "FIN-WAIT-1",
            Self::FinWait2 => "FIN-WAIT-2",
            Self::CloseWait => "CLOSE-WAIT",
            Self::Closing => "CLOSING",
            Self::LastAck => "LAST-ACK",
            Self::TimeWait => "TIME-WAIT",
        }
    }

    /// The kernel's `TCP_*` state number (`include/net/tcp_states.h`), as sock_diag reports it.
    pub fn linux_number(self) -> u8 {
        match self {
            Self::Established => 1,
            Self::SynSent => 2,
            Self::SynReceived => 3,
            Self::FinWait1 => 4,
            Self::FinWait2 => 5,
            Self::TimeWait => 6,
            Self::Closed => 7,
            Self::CloseWait => 8,
            Self::LastAck => 9,
            Self::Listen => 10,
            Self::Closing => 11,
        }
    }

    /// The state for a kernel `TCP_*` number. `TCP_NEW_SYN_RECV` (12) is a request socket
    /// that `ss` shows as `SYN-RECV`; `TCP_BOUND_INACTIVE` (13) is a bound, unconnected socket.
    pub fn from_linux_number(n: u8) -> Option<Self> {
        Some(match n {
            1 => Self::Established,
            2 => Self::SynSent,
            3 | 12 => Self::SynReceived,
            4 => Self::FinWait1,
            5 => Self::FinWait2,
            6 => Self::TimeWait,
            7 | 13 => Self::Closed,
            8 => Self::CloseWait,
            9 => Self::LastAck,
            10 => Self::Listen,
            11 => Self::Closing,
            _ => return None,
        })
    }

    /// Whether a connection exists in this state (a 4-tuple is in use).
    pub fn is_connected(self) -> bool {
        !matches!(self, Self::Closed | Self::Listen)
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.ss_name())
    }
}

impl FromStr for TcpState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.to_ascii_uppercase().replace('_', "-");
        Ok(match norm.as_str() {
            "UNCONN" | "CLOSED" | "CLOSE" => Self::Closed,
            "LISTEN" => Self::Listen,
            "SYN-SENT" => Self::SynSent,
            "SYN-RECV" | "SYN-RECEIVED" => Self::SynReceived,
            "ESTAB" | "ESTABLISHED" => Self::Established,
            "FIN-WAIT-1" | "FIN-WAIT1" => Self::FinWait1,
            "FIN-WAIT-2" | "FIN-WAIT2" => Self::FinWait2,
            "CLOSE-WAIT" => Self::CloseWait,
            "CLOSING" => Self::Closing,
            "LAST-ACK" => Self::LastAck,
            "TIME-WAIT" => Self::TimeWait,
            _ => return Err(format!("unknown TCP state `{s}`")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_ss_names_and_kernel_numbers() {
        for s in TcpState::ALL {
            assert_eq!(s.ss_name().parse::<TcpState>(), Ok(s));
            assert_eq!(TcpState::from_linux_number(s.linux_number()), Some(s));
        }
    }
}
