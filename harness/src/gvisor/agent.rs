//! The agent: `tcpconform agent`, run inside a `runsc` sandbox, where gVisor's netstack is
//! the kernel. It reads [`Request`]s (one JSON line each) on its standard input and answers each
//! with one [`Response`] line on its standard output; the model stays outside, in the
//! harness that started it.
//!
//! Each case gets a fresh network namespace (`unshare(CLONE_NEWNET)`: inside gVisor each is a
//! stack of its own, `lo` already up), its calls run through the portable executor (blocking
//! calls bounded by `poll`: gVisor's blocking `connect()` and `accept()` ignore the socket
//! timeouts), and its table is `/proc/thread-self/net/tcp{,6}` cut down to the sockets its
//! descriptors hold (found by inode), the only rows gVisor shows.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;

use socket2::{Domain, Socket, Type};
use tcpconform_model::{Errno, Host, Row, RowInfo, SockId, Sysctl, SysctlKey};

use super::procnet;
use super::protocol::{Request, Response};
use crate::error::HarnessError;
use crate::executor::ExecConfig;
use crate::executor::portable::{Executor, Stack};

/// One case: its namespace (the agent's thread is in it) and its sockets.
struct AgentCase {
    executor: Executor,
}

/// The one network stack of a case inside gVisor (host `a`; gVisor cases have one host).
struct Netstack;

impl Stack for Netstack {
    fn has(&self, host: Host) -> bool {
        host == Host::A
    }

    fn socket(
        &self,
        _host: Host,
        domain: Domain,
        ty: Type,
    ) -> Result<std::io::Result<Socket>, HarnessError> {
        Ok(Socket::new(domain, ty, None))
    }

    fn try_write_sysctl(
        &self,
        _host: Host,
        setting: &Sysctl,
    ) -> Result<Result<(), Errno>, HarnessError> {
        Err(HarnessError::Unsupported {
            what: format!("sysctl({setting}) in gVisor"),
            reason: "gVisor's TCP sysctls are absent, read-only or global to the sandbox".into(),
        })
    }
}

/// Serves requests until the input ends.
pub fn serve(input: impl BufRead, mut output: impl Write) -> Result<(), HarnessError> {
    let mut case: Option<AgentCase> = None;
    for line in input.lines() {
        let line = line.map_err(|e| HarnessError::io("reading the agent's input", e))?;
        if line.trim().is_empty() {
            continue;
        }
        let response = match serde_json::from_str::<Request>(&line) {
            Ok(req) => handle(req, &mut case).unwrap_or_else(|e| Response::Error(e.to_string())),
            Err(e) => Response::Error(format!("bad request: {e}")),
        };
        let text = serde_json::to_string(&response).expect("a response serializes");
        writeln!(output, "{text}")
            .and_then(|()| output.flush())
            .map_err(|e| HarnessError::io("writing the agent's output", e))?;
    }
    if let Some(mut c) = case.take() {
        c.executor.close_all();
    }
    Ok(())
}

fn handle(req: Request, case: &mut Option<AgentCase>) -> Result<Response, HarnessError> {
    match req {
        Request::Start { addresses } => {
            if let Some(mut old) = case.take() {
                old.executor.close_all();
            }
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
                HarnessError::NamespaceUnavailable {
                    reason: format!("unshare(CLONE_NEWNET) in gVisor: {e}"),
                }
            })?;
            for (host, ip) in addresses {
                if host != Host::A {
                    return Err(HarnessError::Unsupported {
                        what: "a second host in gVisor".into(),
                        reason: "gVisor cases run on one host".into(),
                    });
                }
                add_address(ip)?;
            }
            *case = Some(AgentCase {
                executor: Executor::new(ExecConfig::default()),
            });
            Ok(Response::Started)
        }
        Request::Exec { op, env } => {
            let c = case.as_mut().ok_or_else(no_case)?;
            let observed = c.executor.apply(&op, &env, &Netstack)?;
            if sends_segments(&op) {
                settle();
            }
            Ok(Response::Observed(observed))
        }
        Request::Table => {
            let c = case.as_ref().ok_or_else(no_case)?;
            table(&c.executor).map(Response::Table)
        }
        Request::Sysctls => {
            case.as_ref().ok_or_else(no_case)?;
            Ok(Response::Sysctls(read_sysctls()))
        }
        Request::End => {
            if let Some(mut c) = case.take() {
                c.executor.close_all();
            }
            Ok(Response::Ended)
        }
    }
}

fn no_case() -> HarnessError {
    HarnessError::InvalidOp {
        op: "a call in gVisor".into(),
        reason: "no case was started".into(),
    }
}

/// How long the table must stay the same to count as settled, and how long to wait at most.
const SETTLE_QUIET: std::time::Duration = std::time::Duration::from_micros(300);
const SETTLE_MAX: std::time::Duration = std::time::Duration::from_millis(50);

/// Whether a call may put segments on the wire (and so leave work for netstack's goroutines).
fn sends_segments(op: &tcpconform_model::Op) -> bool {
    use tcpconform_model::Op;
    matches!(
        op.call(),
        Op::Connect { .. }
            | Op::Send { .. }
            | Op::Recv { .. }
            | Op::Shutdown { .. }
            | Op::Close { .. }
            | Op::Setsockopt { .. }
    )
}

/// Waits until the namespace's connections stop changing. Linux runs a loopback segment's
/// receive path within the sending call, so when a call returns its effects on both ends are
/// done; gVisor's netstack hands loopback segments to goroutines of its own, and a table read
/// at once may see a handshake or a FIN half done. The table (`/proc/net/tcp{,6}`, every
/// namespace's rows) is read until two reads `SETTLE_QUIET` apart agree, for at most
/// `SETTLE_MAX`. This leaves out of the comparison only the lag itself, which the reports say.
fn settle() {
    let read = || {
        ["/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"]
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
    };
    let start = std::time::Instant::now();
    let mut last = read();
    while start.elapsed() < SETTLE_MAX {
        std::thread::sleep(SETTLE_QUIET);
        let now = read();
        if now == last {
            return;
        }
        last = now;
    }
}

/// Every sysctl the model knows that gVisor's `/proc/sys` has, as read in this namespace.
fn read_sysctls() -> Vec<(String, String)> {
    SysctlKey::ALL
        .iter()
        .filter_map(|k| {
            let text = std::fs::read_to_string(k.proc_path()).ok()?;
            Some((k.name().to_owned(), text.trim().to_owned()))
        })
        .collect()
}

/// Puts an address on the namespace's `lo` (`ip addr add`, which gVisor's netlink takes).
fn add_address(ip: std::net::IpAddr) -> Result<(), HarnessError> {
    let prefix = if ip.is_ipv4() { 32 } else { 128 };
    let ip_cmd = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("ip");
    let out = std::process::Command::new(ip_cmd)
        .args(["addr", "add", &format!("{ip}/{prefix}"), "dev", "lo"])
        .output()
        .map_err(|e| HarnessError::io("running `ip addr add` in gVisor", e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(HarnessError::Unsupported {
            what: format!("adding {ip} to lo in gVisor"),
            reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// The case's rows: the lines of `/proc/thread-self/net/tcp{,6}` whose inode is one of the
/// case's descriptors', bound ones only (an unbound socket is in no table the model keeps).
fn table(executor: &Executor) -> Result<Vec<(Row, RowInfo)>, HarnessError> {
    let mut owners: BTreeMap<u64, Option<SockId>> = BTreeMap::new();
    for (name, s) in executor.open_sockets() {
        let st = nix::sys::stat::fstat(s.as_fd())
            .map_err(|e| HarnessError::io("fstat of a socket", std::io::Error::from(e)))?;
        owners.insert(st.st_ino, name);
    }
    let mut rows = Vec::new();
    for file in ["/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"] {
        let text = std::fs::read_to_string(file).map_err(|e| HarnessError::io(file, e))?;
        for row in procnet::parse(&text) {
            let row = row.ok_or_else(|| HarnessError::Unsupported {
                what: format!("reading {file}"),
                reason: "a line that does not read".into(),
            })?;
            let Some(owner) = owners.get(&row.inode) else {
                continue;
            };
            if row.local.port() == 0 {
                continue;
            }
            let unspecified = |a: SocketAddr| a.port() == 0 && a.ip().is_unspecified();
            rows.push((
                Row {
                    host: Host::A,
                    state: row.state,
                    local: row.local,
                    peer: (!unspecified(row.remote)).then_some(row.remote),
                    queue: 0,
                },
                RowInfo {
                    owner: *owner,
                    orphan: false,
                    timer: None,
                },
            ));
        }
    }
    Ok(rows)
}
