//! The firewall of a case's hosts: nftables rules, in a host's own namespace, that drop the
//! segments arriving for a connection ([`Hosts::drop_arriving`], [`Hosts::silenced`]: the
//! machinery of `peer_vanishes` and `peer_reboots`), and the bounded run of `nft` that loads
//! them.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tcpconform_model::Host;

use super::namespaces::{Hosts, refuse_in_host};
use crate::error::HarnessError;

/// How long an `nft` run may take.
const NFT_TIMEOUT: Duration = Duration::from_secs(5);

impl Hosts {
    /// From now on, silently drops every segment that arrives at `host` for the connection
    /// whose end there is `local` ↔ `peer` (an nftables rule in that host's namespace, input
    /// hook, matching source `peer` and destination `local`).
    pub fn drop_arriving(
        &mut self,
        host: Host,
        local: SocketAddr,
        peer: Option<SocketAddr>,
    ) -> Result<(), HarnessError> {
        let rule = match peer {
            Some(p) => self.match_tuple(local, p)?,
            None => self.match_local(local),
        };
        self.nft(
            host,
            &format!("add rule inet tcpconform input {rule} drop\n"),
        )
    }

    /// Runs `f` while segments arriving at `host` for `local` from `peer` are dropped (a
    /// chain of its own, flushed afterwards).
    pub fn silenced<R>(
        &mut self,
        host: Host,
        local: SocketAddr,
        peer: SocketAddr,
        f: impl FnOnce() -> Result<R, HarnessError>,
    ) -> Result<R, HarnessError> {
        let rule = self.match_tuple(local, peer)?;
        self.nft(
            host,
            &format!("add rule inet tcpconform silence {rule} drop\n"),
        )?;
        let r = f();
        self.nft(host, "flush chain inet tcpconform silence\n")?;
        r
    }

    fn match_tuple(&self, local: SocketAddr, peer: SocketAddr) -> Result<String, HarnessError> {
        let wire = |a: SocketAddr| tcpconform_model::addr::wire_ip(a.ip());
        let proto = match (wire(local), wire(peer)) {
            (IpAddr::V4(_), IpAddr::V4(_)) => "ip",
            (IpAddr::V6(_), IpAddr::V6(_)) => "ip6",
            _ => {
                return Err(HarnessError::InvalidOp {
                    op: "peer_vanishes".into(),
                    reason: format!("{local} and {peer} are of different families"),
                });
            }
        };
        Ok(format!(
            "{proto} saddr {} {proto} daddr {} tcp sport {} tcp dport {}",
            wire(peer),
            wire(local),
            peer.port(),
            local.port()
        ))
    }

    /// Everything arriving for `local`; a wildcard address stands for every address.
    fn match_local(&self, local: SocketAddr) -> String {
        let ip = tcpconform_model::addr::wire_ip(local.ip());
        if ip.is_unspecified() {
            return format!("tcp dport {}", local.port());
        }
        let proto = if ip.is_ipv4() { "ip" } else { "ip6" };
        format!("{proto} daddr {ip} tcp dport {}", local.port())
    }

    /// Runs an nft script in `host`'s namespace, creating the harness's table first.
    fn nft(&mut self, host: Host, rules: &str) -> Result<(), HarnessError> {
        let nft = find_nft().ok_or_else(|| HarnessError::Unsupported {
            what: "peer_vanishes / peer_reboots".into(),
            reason: "they need the `nft` binary (Debian package `nftables`) to drop the \
                     connection's segments"
                .into(),
        })?;
        let idx = usize::from(host == Host::B);
        let mut script = String::new();
        if !self.nft_ready[idx] {
            script.push_str(
                "table inet tcpconform {\n  chain input {\n    type filter hook input \
                 priority -300; policy accept;\n  }\n  chain silence {\n    type filter hook \
                 input priority -301; policy accept;\n  }\n}\n",
            );
        }
        script.push_str(rules);
        // No case closes a socket until nft has exited (see `executor::FORK_GATE`).
        let _no_close = crate::executor::FORK_GATE
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let child = self.enter(host, || {
            refuse_in_host("add a firewall rule")?;
            Command::new(&nft)
                .args(["-f", "-"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| HarnessError::io(format!("running {}", nft.display()), e))
        })??;
        run_bounded(child, &script, NFT_TIMEOUT, "nft")?;
        self.nft_ready[idx] = true;
        Ok(())
    }
}

fn find_nft() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join("nft"))
        .find(|p| p.is_file())
}

/// Feeds `input` to a child and waits for it, at most `timeout`.
fn run_bounded(
    mut child: std::process::Child,
    input: &str,
    timeout: Duration,
    what: &str,
) -> Result<(), HarnessError> {
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| HarnessError::io(format!("writing to {what}"), e))?;
    }
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HarnessError::Timeout {
                    what: what.into(),
                    after: timeout,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_micros(500)),
            Err(e) => return Err(HarnessError::io(format!("waiting for {what}"), e)),
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    Err(HarnessError::Unsupported {
        what: what.into(),
        reason: format!("{status}: {}", err.trim()),
    })
}
