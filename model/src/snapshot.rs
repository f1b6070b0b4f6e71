//! The socket table: what `ss -tan` would show for a namespace, including rows that no
//! descriptor holds any more (TIME-WAIT, orphaned FIN-WAIT-2, LAST-ACK).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::addr::ShowAddr;
use crate::op::{Host, SockId};
use crate::state::TcpState;

/// One row of the socket table, as compared between model and kernel.
///
/// Rows are compared as a multiset: two tables are equal when they hold the same rows the same
/// number of times, whatever their order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Row {
    /// The namespace the row lives in.
    pub host: Host,
    /// The state (for a TIME-WAIT minisocket, its substate: `TIME-WAIT` or `FIN-WAIT-2`).
    pub state: TcpState,
    /// Local address and port. AF_INET6 sockets show IPv6 (or v4-mapped) addresses.
    pub local: SocketAddr,
    /// Peer address and port; `None` for a listening or unconnected socket (`*`).
    pub peer: Option<SocketAddr>,
    /// For a listener, the accept queue's length; otherwise the bytes received and not read.
    pub queue: u32,
}

/// The kind of timer a row has running, as sock_diag reports it (`idiag_timer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TimerKind {
    /// Retransmission (`on` in `ss`).
    Retransmit,
    /// Keepalive, also the orphaned FIN-WAIT-2 timer of a full socket.
    Keepalive,
    /// TIME-WAIT (also the timer of a FIN-WAIT-2 minisocket).
    TimeWait,
    /// Zero-window probe.
    Probe,
}

impl TimerKind {
    /// The name `ss` prints.
    pub fn ss_name(self) -> &'static str {
        match self {
            Self::Retransmit => "on",
            Self::Keepalive => "keepalive",
            Self::TimeWait => "timewait",
            Self::Probe => "persist",
        }
    }
}

/// A running timer and the time left on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timer {
    /// Which timer.
    pub kind: TimerKind,
    /// Milliseconds until it fires.
    pub remaining_ms: u64,
}

/// What is known about a row besides what is compared: who it belongs to and its timer.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct RowInfo {
    /// The scenario socket the row belongs to (found by SO_COOKIE: a TIME-WAIT row keeps its
    /// socket's cookie), or `None` for a connection not accepted yet.
    pub owner: Option<SockId>,
    /// Whether no descriptor holds the row any more (an orphan or a minisocket).
    pub orphan: bool,
    /// The running timer, if any.
    pub timer: Option<Timer>,
}

/// A namespace's (or two namespaces') TCP socket table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The rows with what is known about them, sorted by row.
    pub rows: Vec<(Row, RowInfo)>,
}

impl Snapshot {
    /// Builds a table from rows in any order.
    pub fn new(mut rows: Vec<(Row, RowInfo)>) -> Self {
        rows.sort();
        Self { rows }
    }

    /// The compared part: the multiset of rows, sorted.
    pub fn key(&self) -> Vec<Row> {
        let mut k: Vec<Row> = self.rows.iter().map(|(r, _)| *r).collect();
        k.sort();
        k
    }

    /// Whether two tables hold the same rows (ignoring owners and timers).
    pub fn same_rows(&self, other: &Self) -> bool {
        self.key() == other.key()
    }

    /// Rows in `self` but not in `other`, and rows in `other` but not in `self`, counting
    /// duplicates.
    pub fn diff(&self, other: &Self) -> (Vec<Row>, Vec<Row>) {
        let mut counts: BTreeMap<Row, i32> = BTreeMap::new();
        for r in self.key() {
            *counts.entry(r).or_default() += 1;
        }
        for r in other.key() {
            *counts.entry(r).or_default() -= 1;
        }
        let mut only_self = Vec::new();
        let mut only_other = Vec::new();
        for (r, n) in counts {
            for _ in 0..n.max(0) {
                only_self.push(r);
            }
            for _ in 0..(-n).max(0) {
                only_other.push(r);
            }
        }
        (only_self, only_other)
    }

    /// Renders the table like `ss -tan`, naming ports with `names`.
    pub fn display<'a>(&'a self, names: &'a dyn Fn(u16) -> Option<String>) -> ShowSnapshot<'a> {
        ShowSnapshot {
            snapshot: self,
            names,
        }
    }
}

/// Displays one row's compared fields in scenario syntax (`ESTAB 127.0.0.1:$P 127.0.0.1:$C`).
pub struct ShowRow<'a> {
    /// The row.
    pub row: &'a Row,
    /// Port names.
    pub names: &'a dyn Fn(u16) -> Option<String>,
    /// Whether to prefix the host (two-host scenarios).
    pub with_host: bool,
}

impl fmt::Display for ShowRow<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.row;
        if self.with_host {
            write!(f, "{}: ", r.host)?;
        }
        let local = ShowAddr {
            addr: r.local,
            names: self.names,
        }
        .to_string();
        let peer = match r.peer {
            Some(p) => ShowAddr {
                addr: p,
                names: self.names,
            }
            .to_string(),
            None => "*".to_owned(),
        };
        write!(f, "{:<10} {:<24} {:<24}", r.state.ss_name(), local, peer)?;
        if r.queue != 0 {
            write!(f, " q={}", r.queue)?;
        }
        Ok(())
    }
}

/// A snapshot rendered like `ss`.
pub struct ShowSnapshot<'a> {
    snapshot: &'a Snapshot,
    names: &'a dyn Fn(u16) -> Option<String>,
}

impl fmt::Display for ShowSnapshot<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.snapshot.rows.is_empty() {
            return writeln!(f, "  (empty)");
        }
        let with_host = self.snapshot.rows.iter().any(|(r, _)| r.host != Host::A);
        for (row, info) in &self.snapshot.rows {
            let shown = ShowRow {
                row,
                names: self.names,
                with_host,
            };
            write!(f, "  {}", shown.to_string().trim_end())?;
            match info.owner {
                Some(s) if info.orphan => write!(f, "   # {s}, orphan")?,
                Some(s) => write!(f, "   # {s}")?,
                None if info.orphan => write!(f, "   # orphan")?,
                None => {}
            }
            if let Some(t) = info.timer {
                write!(
                    f,
                    " timer:({},{})",
                    t.kind.ss_name(),
                    crate::time::show_ms(t.remaining_ms)
                )?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
