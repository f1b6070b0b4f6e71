//! The FreeBSD and macOS observer: each host's table from the pcblist sysctl ([`pcblist`]),
//! as model rows, read until it settles. **Compile-checked only; it has never run on a BSD.**
//!
//! Rows without a port are left out (an unbound socket is a PCB at `*.*` on a BSD and a row
//! nowhere in the model). Owners are found by matching a row's 4-tuple against the executor's
//! open descriptors (a BSD has no socket cookie a process can read); an owner is information
//! only, never compared. A connection counts as in flight while one end has its
//! retransmission or delayed-ACK timer running (FreeBSD) or unacknowledged data (macOS) and
//! the other end is in view: settling waits for it, as on Linux.
//!
//! [`pcblist`]: super::pcblist

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tcpconform_model::{Host, Snapshot};

use super::pcblist::Pcb;
use super::{Settled, same_active_rows};
use crate::error::HarnessError;
use crate::executor::{Executor, Stack, on_wire as wire};

/// The longest [`Observer::settled_snapshot`] keeps reading (a table read forks a process
/// into the jail on FreeBSD, so the budget is larger than Linux's).
pub const SETTLE_BUDGET: Duration = Duration::from_millis(200);

/// A case's stacks as the observer reads them.
pub trait Tables: Stack {
    /// The case's hosts.
    fn hosts(&self) -> Vec<Host>;
    /// Every TCP PCB of `host`'s stack.
    fn pcbs(&self, host: Host) -> Result<Vec<Pcb>, HarnessError>;
    /// Whether a PCB belongs to the case (macOS: the host's stack also holds everyone
    /// else's sockets). `ports` are the local ports of the case's open descriptors.
    fn belongs(&self, pcb: &Pcb, ports: &BTreeSet<u16>) -> bool {
        let _ = (pcb, ports);
        true
    }
}

/// Reads a case's tables.
#[derive(Debug, Default)]
pub struct Observer;

impl Observer {
    /// An observer.
    pub fn new() -> Self {
        Self
    }

    fn read(
        &self,
        tables: &dyn Tables,
        executor: &Executor,
    ) -> Result<(Snapshot, usize), HarnessError> {
        let ports = executor.local_ports();
        let mut rows = Vec::new();
        let mut ends: Vec<(Host, Pcb)> = Vec::new();
        for host in tables.hosts() {
            for pcb in tables.pcbs(host)? {
                if pcb.has_port() && tables.belongs(&pcb, &ports) {
                    ends.push((host, pcb));
                }
            }
        }
        let tuples: BTreeSet<(SocketAddr, SocketAddr)> = ends
            .iter()
            .map(|(_, p)| (wire(p.local), wire(p.peer)))
            .collect();
        let mut busy = 0;
        for (host, pcb) in &ends {
            if pcb.pending_output
                && pcb.peer.port() != 0
                && tuples.contains(&(wire(pcb.peer), wire(pcb.local)))
            {
                busy += 1;
            }
            let peer = (pcb.peer.port() != 0).then_some(pcb.peer);
            let (mut row, mut info) = pcb.row(*host)?;
            info.owner = executor.owner_of(*host, pcb.local, peer);
            row.local = tables.to_model(row.local);
            row.peer = row.peer.map(|p| tables.to_model(p));
            rows.push((row, info));
        }
        Ok((Snapshot::new(rows), busy))
    }

    /// The table of every host, read once.
    pub fn snapshot(
        &mut self,
        tables: &dyn Tables,
        executor: &Executor,
    ) -> Result<Snapshot, HarnessError> {
        Ok(self.read(tables, executor)?.0)
    }

    /// The table, read until two reads in a row hold the same rows and nothing is in flight,
    /// within [`SETTLE_BUDGET`].
    pub fn settled_snapshot(
        &mut self,
        tables: &dyn Tables,
        executor: &Executor,
    ) -> Result<Settled, HarnessError> {
        let start = Instant::now();
        let mut pause = Duration::from_micros(200);
        let mut previous: Option<Snapshot> = None;
        let mut dumps = 0;
        loop {
            let (snapshot, busy) = self.read(tables, executor)?;
            dumps += 1;
            let stable = previous
                .as_ref()
                .is_some_and(|p| same_active_rows(p, &snapshot));
            let out_of_time = previous.is_some() && start.elapsed() + pause > SETTLE_BUDGET;
            if (stable && busy == 0) || out_of_time {
                return Ok(Settled {
                    snapshot,
                    settled: stable && busy == 0,
                    in_flight: busy,
                    dumps,
                    elapsed: start.elapsed(),
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(5));
            previous = Some(snapshot);
        }
    }
}
