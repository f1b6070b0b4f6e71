//! gVisor as a kernel under test: its netstack, a TCP/IP stack of its own written in Go that
//! claims Linux's socket API, checked against the model for Linux.
//!
//! The harness starts `runsc --network=none --platform=systrap do <this binary> agent` once
//! and keeps it: inside, the [`agent`] runs each case in a fresh network namespace with
//! the portable executor and answers over a pipe ([`protocol`]); the model stays outside. What
//! is predicted is what *Linux* would do ([`Target::model`]: the mainline 6.18 rules, with the
//! sysctls gVisor fixes at their gVisor values), so every difference found is one between gVisor
//! and Linux. No behaviour of gVisor goes into the model: a difference is a finding, baselined
//! with its scenario (`tests/baselines/gvisor.toml`, `docs/findings/gvisor.md`).
//!
//! What cannot be compared, and is said so in every report ([`VISIBILITY`]): gVisor's table
//! (`/proc/net/tcp{,6}`) lists only sockets a descriptor holds, without queue lengths, so
//! orphans, TIME-WAIT and FIN-WAIT-2 minisockets and connections waiting to be accepted are
//! left out of the comparison (TIME-WAIT is judged only through the results it causes), and
//! so are queues. What gVisor accepts and ignores (`SO_COOKIE`, `IP_BIND_ADDRESS_NO_PORT`,
//! `SOCK_DESTROY`'s absence, sysctls) is never offered
//! ([`crate::generate::Runs::GvisorSubset`]).

pub mod agent;
pub mod procnet;
pub mod protocol;

use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use tcpconform_model::{
    Env, Host, Model, Observed, Op, Profile, Snapshot, Sysctl, SysctlKey, Sysctls,
};

use crate::config::CaseConfig;
use crate::error::HarnessError;
use crate::lockstep::{self, LockStep, Run, System, TableView};
use protocol::{Request, Response};

/// What a gVisor run compares and what it cannot, for the head of its reports.
pub const VISIBILITY: &str = "gVisor shows only sockets a descriptor holds, without queues: \
     orphans, TIME-WAIT and FIN-WAIT-2 minisockets and connections not yet accepted are left out \
     of the comparison (judged only through the results they cause), and so are queue lengths \
     and sockets in CLOSE (gVisor lists one under its last address whether or not it still \
     holds the port: that it does is judged through later binds); \
     gVisor delivers loopback segments asynchronously, so each call that may send a segment is \
     followed by a wait until its table is quiet (0.3 ms, at most 50 ms) before the next";

/// The profile a gVisor run predicts for: Linux's mainline 6.18 rules. The name `gvisor` is
/// what reports and baselines call it.
pub const PROFILE: Profile = Profile::LINUX_6_18;

/// The name of the gVisor target's profile in reports and baseline scopes.
pub const PROFILE_NAME: &str = "gvisor";

/// The sysctls of a namespace in gVisor, as the model must know them: Linux's defaults, with
/// every value gVisor's `/proc/sys` shows in a fresh namespace in their place (`readings`, as
/// (dotted name, text)). gVisor's differ where it chose its own (`ip_local_port_range`
/// 16000–65535, `tcp_syn_retries` 3 in the 2024 builds). A key gVisor does not have, or shows
/// with a value Linux would refuse (its `tcp_keepalive_intvl` reads 0), keeps Linux's default;
/// those are returned as the second item, `name=text`, for the report's head.
pub fn sysctls_from(readings: &[(String, String)]) -> (Sysctls, Vec<String>) {
    let mut sysctls = PROFILE.default_sysctls();
    let mut ignored = Vec::new();
    for (name, text) in readings {
        let Some(key) = SysctlKey::from_name(name) else {
            continue;
        };
        match key.parse_value(text) {
            Ok(value) => sysctls.set(&Sysctl { key, value }),
            Err(_) => ignored.push(format!("{name}={text}")),
        }
    }
    (sysctls, ignored)
}

/// Where `runsc` is: `$TCPCONFORM_RUNSC`, else the copy `ci/runsc.sh` unpacks
/// (`~/.cache/tcpconform/runsc/usr/bin/runsc`, trixie's, which has the faster `systrap`
/// platform), else `runsc` on the `PATH`.
pub fn runsc() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("TCPCONFORM_RUNSC") {
        return Ok(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cached = home.join(".cache/tcpconform/runsc/usr/bin/runsc");
    if cached.exists() {
        return Ok(cached);
    }
    for dir in std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let p = dir.join("runsc");
        if p.exists() {
            return Ok(p);
        }
    }
    Err(
        "no runsc: run ci/runsc.sh (it unpacks Debian's trixie runsc into \
         ~/.cache/tcpconform/runsc without installing it), or set TCPCONFORM_RUNSC"
            .into(),
    )
}

/// A running `runsc` sandbox with the agent inside.
pub struct Sandbox {
    child: Child,
    input: Option<ChildStdin>,
    output: BufReader<ChildStdout>,
}

impl Sandbox {
    /// Starts `runsc … do <agent> agent`; `agent` is a `tcpconform` binary (this one).
    pub fn start(runsc: &Path, agent: &Path) -> Result<Self, HarnessError> {
        let mut child = Command::new(runsc)
            .args(["--network=none", "--platform=systrap", "do"])
            .arg(agent)
            .arg("agent")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| HarnessError::io(format!("starting {}", runsc.display()), e))?;
        let input = child.stdin.take();
        let output = BufReader::new(child.stdout.take().expect("piped"));
        Ok(Self {
            child,
            input,
            output,
        })
    }

    /// Sends one request and reads its answer.
    pub fn call(&mut self, req: &Request) -> Result<Response, HarnessError> {
        let text = serde_json::to_string(req).expect("a request serializes");
        let input = self.input.as_mut().expect("open until dropped");
        writeln!(input, "{text}")
            .and_then(|()| input.flush())
            .map_err(|e| HarnessError::io("writing to the gVisor agent", e))?;
        let mut line = String::new();
        let n = self
            .output
            .read_line(&mut line)
            .map_err(|e| HarnessError::io("reading from the gVisor agent", e))?;
        if n == 0 {
            return Err(HarnessError::Unsupported {
                what: "the gVisor agent".into(),
                reason: "it exited (see its messages above)".into(),
            });
        }
        match serde_json::from_str(&line) {
            Ok(Response::Error(e)) => Err(HarnessError::Unsupported {
                what: "a call in gVisor".into(),
                reason: e,
            }),
            Ok(r) => Ok(r),
            Err(e) => Err(HarnessError::Unsupported {
                what: "the gVisor agent's answer".into(),
                reason: format!("{e}: {line}"),
            }),
        }
    }
}

impl Drop for Sandbox {
    /// Closing the agent's input ends it, and `runsc do` takes its sandbox down; a sandbox
    /// that does not end within seconds is killed.
    fn drop(&mut self) {
        drop(self.input.take());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) if std::time::Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return;
                }
                Ok(None) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
    }
}

/// The gVisor target: one sandbox, started on first use and kept for the process.
pub struct Target {
    runsc: PathBuf,
    agent: PathBuf,
    sandbox: Mutex<Option<Sandbox>>,
    sysctls: std::sync::OnceLock<(Sysctls, Vec<String>)>,
}

impl Target {
    /// The target with `runsc` ([`runsc()`]) and this binary as the agent.
    pub fn new(runsc: PathBuf) -> Result<Self, HarnessError> {
        let agent = std::env::current_exe()
            .map_err(|e| HarnessError::io("finding this binary for the gVisor agent", e))?;
        Ok(Self::with_agent(runsc, agent))
    }

    /// The target with an explicit agent binary.
    pub fn with_agent(runsc: PathBuf, agent: PathBuf) -> Self {
        Self {
            runsc,
            agent,
            sandbox: Mutex::new(None),
            sysctls: std::sync::OnceLock::new(),
        }
    }

    /// gVisor's sysctls ([`sysctls_from`]), read once in a fresh namespace of the sandbox.
    pub fn sysctls(&self) -> Result<Sysctls, HarnessError> {
        self.sysctl_readings().map(|(s, _)| s.clone())
    }

    /// The readings of gVisor's `/proc/sys` the model could not take (`name=text`), kept at
    /// Linux's defaults.
    pub fn ignored_sysctls(&self) -> Result<Vec<String>, HarnessError> {
        self.sysctl_readings().map(|(_, i)| i.clone())
    }

    fn sysctl_readings(&self) -> Result<&(Sysctls, Vec<String>), HarnessError> {
        if let Some(s) = self.sysctls.get() {
            return Ok(s);
        }
        let readings = self.with_namespace(&[], |system| {
            match system.sandbox.call(&Request::Sysctls)? {
                Response::Sysctls(r) => Ok(r),
                other => Err(unexpected(&other)),
            }
        })??;
        Ok(self.sysctls.get_or_init(|| sysctls_from(&readings)))
    }

    /// The lock-step a gVisor case runs in: [`Self::model`], comparing the rows gVisor shows,
    /// following gVisor's port choices (random over its range, where Linux splits it by
    /// parity): each such choice is reported, and the case goes on.
    pub fn lockstep(
        &self,
        config: &CaseConfig,
        addresses: &[(Host, IpAddr)],
    ) -> Result<LockStep, HarnessError> {
        let mut ls =
            LockStep::new(self.model(config, addresses)?).with_view(TableView::DescriptorsOnly);
        ls.follow_port_choice = true;
        Ok(ls)
    }

    /// The model a gVisor case predicts with: Linux's rules, with gVisor's sysctls.
    pub fn model(
        &self,
        config: &CaseConfig,
        addresses: &[(Host, IpAddr)],
    ) -> Result<Model, HarnessError> {
        let mut topology = config.topology();
        for (h, ip) in addresses {
            topology.add_address(*h, *ip);
        }
        let gvisor = self.sysctls()?;
        let mut sysctls = config.host_sysctls();
        for s in sysctls.values_mut() {
            *s = gvisor.clone();
        }
        Ok(Model::new(config.profile, topology, sysctls).with_mutant(config.mutant))
    }

    /// Runs `ops` as one case in gVisor with the model for Linux in lock-step.
    pub fn run_case(
        &self,
        config: &CaseConfig,
        addresses: &[(Host, IpAddr)],
        ops: &[Op],
        continue_after_divergence: bool,
    ) -> Result<Run, HarnessError> {
        let mut ls = self.lockstep(config, addresses)?;
        ls.continue_after_divergence = continue_after_divergence;
        self.with_case(config, addresses, |system| {
            lockstep::run_with(system, ls, ops)
        })
    }

    /// Runs `f` on a fresh case in the sandbox (started on first use): a new network namespace
    /// with `addresses` on its `lo`, ended (every descriptor closed) once `f` returns.
    pub fn with_case<R>(
        &self,
        config: &CaseConfig,
        addresses: &[(Host, IpAddr)],
        f: impl FnOnce(&mut GvisorSystem<'_>) -> R,
    ) -> Result<R, HarnessError> {
        if config.two_hosts || !config.sysctls.is_empty() {
            return Err(HarnessError::Unsupported {
                what: "this case in gVisor".into(),
                reason: "gVisor cases run on one host with gVisor's own sysctls".into(),
            });
        }
        self.with_namespace(addresses, f)
    }

    fn with_namespace<R>(
        &self,
        addresses: &[(Host, IpAddr)],
        f: impl FnOnce(&mut GvisorSystem<'_>) -> R,
    ) -> Result<R, HarnessError> {
        let mut guard = self.sandbox.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(Sandbox::start(&self.runsc, &self.agent)?);
        }
        let sandbox = guard.as_mut().expect("started");
        let result = in_case(sandbox, addresses, f);
        if result.is_err() {
            // A sandbox in an unknown state is not reused.
            *guard = None;
        }
        result
    }

    /// `runsc --version`'s first line (what reports name as the kernel).
    pub fn version(&self) -> String {
        Command::new(&self.runsc)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|t| t.lines().next().map(str::to_owned))
            .unwrap_or_else(|| format!("runsc ({})", self.runsc.display()))
    }
}

fn in_case<R>(
    sandbox: &mut Sandbox,
    addresses: &[(Host, IpAddr)],
    f: impl FnOnce(&mut GvisorSystem<'_>) -> R,
) -> Result<R, HarnessError> {
    match sandbox.call(&Request::Start {
        addresses: addresses.to_vec(),
    })? {
        Response::Started => {}
        other => return Err(unexpected(&other)),
    }
    let mut system = GvisorSystem { sandbox };
    let r = f(&mut system);
    match system.sandbox.call(&Request::End)? {
        Response::Ended => Ok(r),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(r: &Response) -> HarnessError {
    HarnessError::Unsupported {
        what: "the gVisor agent's answer".into(),
        reason: format!("unexpected {r:?}"),
    }
}

/// A case in gVisor as a lock-step [`System`].
pub struct GvisorSystem<'a> {
    sandbox: &'a mut Sandbox,
}

impl System for GvisorSystem<'_> {
    type Error = HarnessError;

    fn exec(&mut self, op: &Op, env: &Env) -> Result<Observed, HarnessError> {
        match self.sandbox.call(&Request::Exec {
            op: op.clone(),
            env: env.clone(),
        })? {
            Response::Observed(o) => Ok(o),
            other => Err(unexpected(&other)),
        }
    }

    fn table(&mut self) -> Result<Snapshot, HarnessError> {
        match self.sandbox.call(&Request::Table)? {
            Response::Table(rows) => Ok(Snapshot::new(rows)),
            other => Err(unexpected(&other)),
        }
    }
}
