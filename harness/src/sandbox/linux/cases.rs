//! Cases: [`Case`], one case's world (its hosts, executor and observer), [`run_case`] and its
//! variants, which set a case up, run it and tear it down, and where a case runs: on a thread
//! of its own, or in place on a case thread ([`on_case_thread`], [`run_cases`]); [`run_bare`],
//! the benchmark's baseline, runs the same way.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use tcpconform_model::{Env, Host, Observed, Op, Snapshot, Sysctl, SysctlKey, SysctlValue};

use super::SandboxSpec;
use super::made_ahead::{FreshNetns, FreshPair, MADE_AHEAD, PAIRS_MADE_AHEAD, spawn_maker};
use super::namespaces::{
    Hosts, Return, initial_namespaces, open_own_ns, scratch_namespace, shared_ehash_entries,
};
use super::topology::{build_topology, build_topology_timed, lo_up};
use crate::error::HarnessError;
use crate::executor::Executor;
use crate::observer::{DiagSocket, Observer, Settled};
use crate::{observer, stopwatch};

/// One case's world, handed to the closure of [`run_case`] on the case thread.
///
/// It is neither `Send` nor `Sync`: everything it does depends on the namespace of the thread
/// it runs on.
pub struct Case {
    hosts: Hosts,
    executor: Executor,
    observer: Observer,
    /// The last table read settled, and no call since can have sent a segment.
    quiet: bool,
}

impl Case {
    fn create(spec: &SandboxSpec, home: Option<&OwnedFd>) -> Result<Self, HarnessError> {
        for (host, what) in spec
            .addresses
            .iter()
            .map(|(h, ip)| (h, format!("address {ip}")))
            .chain(spec.sysctls.iter().map(|(h, s)| (h, format!("sysctl {s}"))))
        {
            if *host == Host::B && !spec.two_hosts {
                return Err(HarnessError::InvalidOp {
                    op: what,
                    reason: "host b exists only in a two-host case".into(),
                });
            }
        }
        let hosts = stopwatch::time("setup: namespaces", || {
            Hosts::create(spec.two_hosts, spec.ehash_buckets, home)
        })?;
        build_topology(spec, &hosts)?;
        stopwatch::time("setup: sysctls", || -> Result<(), HarnessError> {
            for (host, setting) in &spec.sysctls {
                hosts.write_sysctl(*host, setting)?;
            }
            Ok(())
        })?;
        let diag = stopwatch::time("setup: sock_diag sockets", || -> Result<_, HarnessError> {
            let mut diag = vec![DiagSocket::open_here(Host::A)?];
            if spec.two_hosts {
                diag.push(hosts.enter(Host::B, || DiagSocket::open_here(Host::B))??);
            }
            Ok(diag)
        })?;
        Ok(Self {
            hosts,
            executor: Executor::new(spec.exec),
            observer: Observer::of_fresh_namespaces(diag)?,
            quiet: false,
        })
    }

    /// Runs one op (see [`Executor::apply`]).
    pub fn apply(&mut self, op: &Op, env: &Env) -> Result<Observed, HarnessError> {
        // Closing a socket already in CLOSE sends nothing (`__tcp_close()` goes straight to
        // `adjudge_to_death`).
        let closes_a_closed_socket = match op.call() {
            Op::Close { sock } => self
                .executor
                .socket(*sock)
                .and_then(|s| crate::sys::tcp_info_head(std::os::fd::AsFd::as_fd(s)).ok())
                .is_some_and(|(state, ..)| state == observer::TCP_CLOSE),
            _ => false,
        };
        let observed = self
            .executor
            .apply(op, env, &mut self.hosts, &mut self.observer)?;
        self.quiet &= observer::sent_nothing(op, &observed.outcome) || closes_a_closed_socket;
        Ok(observed)
    }

    /// The socket table of every host, read once.
    pub fn snapshot(&mut self) -> Result<Snapshot, HarnessError> {
        self.observer.snapshot(&self.executor)
    }

    /// The socket table, read until it stops changing (see [`Observer::settled_snapshot`]);
    /// when the last table read settled and no call since could send a segment, one dump
    /// ([`Observer::settled_snapshot_after_quiet_call`]).
    pub fn settled_snapshot(&mut self) -> Result<Settled, HarnessError> {
        let s = if self.quiet {
            self.observer
                .settled_snapshot_after_quiet_call(&self.executor)?
        } else {
            self.observer.settled_snapshot(&self.executor)?
        };
        self.quiet = s.settled;
        Ok(s)
    }

    /// Writes a sysctl in `host`'s namespace mid-case.
    pub fn set_sysctl(&mut self, host: Host, setting: &Sysctl) -> Result<(), HarnessError> {
        self.hosts.write_sysctl(host, setting)
    }

    /// Reads a sysctl of `host`'s namespace.
    pub fn sysctl(&self, host: Host, key: SysctlKey) -> Result<SysctlValue, HarnessError> {
        self.hosts.read_sysctl(host, key)
    }

    /// The executor (cookies, the sockets behind the names).
    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    /// The observer (raw dumps, `SOCK_DESTROY`).
    pub fn observer(&mut self) -> &mut Observer {
        &mut self.observer
    }

    /// The namespaces.
    pub fn hosts(&self) -> &Hosts {
        &self.hosts
    }

    /// From now on drops every segment arriving at `host` for `local` from `peer` (the
    /// machinery of `peer_vanishes`; see [`Hosts::drop_arriving`]).
    pub fn drop_arriving(
        &mut self,
        host: Host,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> Result<(), HarnessError> {
        self.quiet = false;
        self.hosts.drop_arriving(host, local, Some(peer))?;
        self.executor.mark_impaired(local, peer);
        Ok(())
    }

    /// Runs `f` inside `host`'s namespace.
    pub fn in_host<R>(&self, host: Host, f: impl FnOnce() -> R) -> Result<R, HarnessError> {
        self.hosts.enter(host, f)
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        let _t = stopwatch::Span::new("teardown: case drop body");
        stopwatch::time("teardown: close", || self.executor.close_all());
        if let Err(e) =
            stopwatch::time("teardown: orphan sweep", || self.observer.destroy_orphans())
        {
            eprintln!("tcpconform: teardown could not destroy orphaned sockets: {e}");
        }
    }
}

/// Where a case's time went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaseTimings {
    /// From spawning the thread to the end of setup (namespaces, links, sysctls, netlink).
    pub setup: Duration,
    /// The closure.
    pub run: Duration,
    /// From the end of the closure to the thread's join (closing, orphan sweep, thread exit).
    /// The kernel frees a namespace asynchronously afterwards.
    pub teardown: Duration,
}

/// Runs `f` in a fresh sandbox on its own thread (see the module docs) and tears the sandbox
/// down. A panic in `f` is resumed on the calling thread.
pub fn run_case<R: Send>(
    spec: &SandboxSpec,
    f: impl FnOnce(&mut Case) -> R + Send,
) -> Result<R, HarnessError> {
    run_case_timed(spec, f).map(|(r, _)| r)
}

/// [`run_case`], also reporting where the time went.
pub fn run_case_timed<R: Send>(
    spec: &SandboxSpec,
    f: impl FnOnce(&mut Case) -> R + Send,
) -> Result<(R, CaseTimings), HarnessError> {
    run_somewhere(spec.ehash_buckets, |home| Case::create(spec, home), f)
}

// ---------------------------------------------------------------------------------------------
// Where a case runs

thread_local! {
    /// The home namespace of a case thread ([`on_case_thread`]) and the private table size
    /// the namespaces made from it get.
    static HOME: std::cell::RefCell<Option<(std::rc::Rc<OwnedFd>, Option<u32>)>> =
        const { std::cell::RefCell::new(None) };
}

/// The calling thread's home namespace, when it is a case thread whose cases get private
/// tables of `ehash_buckets`.
fn case_thread_home(ehash_buckets: Option<u32>) -> Option<std::rc::Rc<OwnedFd>> {
    HOME.with_borrow(|h| match h {
        Some((home, n)) if *n == ehash_buckets => Some(home.clone()),
        _ => None,
    })
}

/// Runs `f` on a new thread, a *case thread*, on which [`run_case`] runs every case in place
/// rather than on a thread of its own, and returns its result.
///
/// The thread lives in a home namespace of its own (a scratch namespace whose new namespaces
/// get a private established-hash table of `ehash_buckets`, see the module docs; with `None`,
/// the namespace it started in). A case unshares fresh namespaces from there, runs, closes its
/// descriptors and returns home with `setns`, which drops the thread's last reference to the
/// case's namespaces: they are freed as when a case thread exits. What this saves per case is
/// a thread's creation and join (two hand-offs between threads, each a wake-up that waits for
/// a CPU on a loaded machine) and the scratch namespace (about 0.4 ms). A case whose
/// [`SandboxSpec::ehash_buckets`] differs from the thread's still gets a thread of its own.
///
/// With private tables (`ehash_buckets` set: the full harness, not the bench's bare pass) two
/// more threads make each case's namespaces ahead while the case before runs, one a
/// namespace at a time for one-host cases (`FreshNetns`), the other joined pairs for two-host
/// cases (`FreshPair`); they stop when `f` returns.
pub fn on_case_thread<R: Send>(
    ehash_buckets: Option<u32>,
    f: impl FnOnce() -> R + Send,
) -> Result<R, HarnessError> {
    initial_namespaces();
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("tcpconform-cases".into())
            .spawn_scoped(scope, move || -> Result<R, HarnessError> {
                if let Some(n) = ehash_buckets
                    && shared_ehash_entries().is_some()
                {
                    // Leaves the thread in the scratch namespace (also when the kernel has no
                    // private tables: cases made from it then share the table, as they would
                    // from a scratch namespace of their own).
                    scratch_namespace(n)?;
                }
                let home = open_own_ns()?;
                if ehash_buckets.is_some() {
                    let singles = spawn_maker(scope, &home, "tcpconform-netns", FreshNetns::make)?;
                    MADE_AHEAD.set(Some(singles));
                    let pairs = spawn_maker(scope, &home, "tcpconform-pairs", FreshPair::make)?;
                    PAIRS_MADE_AHEAD.set(Some(pairs));
                }
                HOME.set(Some((std::rc::Rc::new(home), ehash_buckets)));
                let r = f();
                HOME.set(None);
                // Dropping the receivers (and the namespaces waiting in them) stops the makers.
                MADE_AHEAD.set(None);
                PAIRS_MADE_AHEAD.set(None);
                Ok(r)
            })
            .map_err(|e| HarnessError::io("spawning the case thread", e))?;
        match thread.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// `setup`, and once more if it ran out of time (a link or a netlink answer that did not come
/// within its bound, on a loaded machine), from the namespace the thread was in. Nothing of the
/// case has run yet, so a second attempt changes nothing but the odds; a second timeout is
/// the case's harness failure.
fn setup_once_more_after_a_timeout<C>(
    home: Option<&OwnedFd>,
    setup: &impl Fn(Option<&OwnedFd>) -> Result<C, HarnessError>,
) -> Result<C, HarnessError> {
    let origin = match home {
        Some(_) => None,
        None => Some(open_own_ns()?),
    };
    match setup(home) {
        Err(HarnessError::Timeout { what, after }) => {
            eprintln!(
                "tcpconform: setting a case up timed out ({what} did not finish within {after:?}); \
                 trying once more"
            );
            stopwatch::add("setup: retried after a timeout", Duration::ZERO);
            if let Some(ns) = home.or(origin.as_ref()) {
                setns(ns, CloneFlags::CLONE_NEWNET).map_err(|e| {
                    HarnessError::NamespaceUnavailable {
                        reason: format!("setns back after a failed setup: {e}"),
                    }
                })?;
            }
            setup(home)
        }
        other => other,
    }
}

/// Sets a case up with `setup`, runs `f` on it and tears it down (drops it), in place on a
/// case thread whose home fits `ehash_buckets`, else on a new thread; reports the times.
fn run_somewhere<C, R: Send>(
    ehash_buckets: Option<u32>,
    setup: impl Fn(Option<&OwnedFd>) -> Result<C, HarnessError> + Send,
    f: impl FnOnce(&mut C) -> R + Send,
) -> Result<(R, CaseTimings), HarnessError> {
    initial_namespaces();
    let start = Instant::now();
    let body = move |home: Option<&OwnedFd>| -> Result<(R, Instant, Instant), HarnessError> {
        let mut case = setup_once_more_after_a_timeout(home, &setup)?;
        let setup_done = Instant::now();
        let r = f(&mut case);
        let run_done = Instant::now();
        stopwatch::time("teardown: drop case", || drop(case));
        Ok((r, setup_done, run_done))
    };
    let (r, setup_done, run_done) = match case_thread_home(ehash_buckets) {
        Some(home) => {
            // Back home afterwards, also after an error or a panic.
            let back = Return(&home);
            let out = body(Some(&home));
            stopwatch::time("teardown: return home", || drop(back));
            out?
        }
        None => {
            let joined = std::thread::scope(|scope| {
                std::thread::Builder::new()
                    .name("tcpconform-case".into())
                    .spawn_scoped(scope, move || body(None))
                    .map_err(|e| HarnessError::io("spawning the case thread", e))
                    .map(|h| h.join())
            })?;
            match joined {
                Ok(result) => result?,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    };
    let end = Instant::now();
    Ok((
        r,
        CaseTimings {
            setup: setup_done - start,
            run: run_done - setup_done,
            teardown: end - run_done,
        },
    ))
}

/// A bare case: the namespaces and the executor, no observer (see [`run_bare`]).
pub struct BareCase {
    hosts: Hosts,
    executor: Executor,
    observer: Observer,
}

impl BareCase {
    /// Runs one op (see [`Executor::apply`]).
    pub fn apply(&mut self, op: &Op, env: &Env) -> Result<Observed, HarnessError> {
        self.executor
            .apply(op, env, &mut self.hosts, &mut self.observer)
    }
}

impl Drop for BareCase {
    fn drop(&mut self) {
        self.executor.close_all();
    }
}

/// The least a test of these socket calls must do, for the benchmark's baseline: fresh
/// network namespaces with `lo` up (two hosts: the same veth topology as a case, without
/// `quickack` routes), the spec's addresses and sysctls, `f`, the descriptors closed; in place
/// on a case thread made with `ehash_buckets` `None`, else on a thread of its own. No private
/// hash table, no `quickack` routes, no `sock_diag` socket unless `diag` (a `destroy` op needs
/// one).
pub fn run_bare<R: Send>(
    spec: &SandboxSpec,
    diag: bool,
    f: impl FnOnce(&mut BareCase) -> R + Send,
) -> Result<(R, CaseTimings), HarnessError> {
    let setup = move |home: Option<&OwnedFd>| -> Result<BareCase, HarnessError> {
        let hosts = Hosts::create(spec.two_hosts, None, home)?;
        if spec.two_hosts || !spec.addresses.is_empty() {
            build_topology_timed(spec, &hosts, false)?;
        } else {
            lo_up(Host::A)?;
        }
        for (host, setting) in &spec.sysctls {
            hosts.write_sysctl(*host, setting)?;
        }
        let mut sockets = Vec::new();
        if diag {
            sockets.push(DiagSocket::open_here(Host::A)?);
            if spec.two_hosts {
                sockets.push(hosts.enter(Host::B, || DiagSocket::open_here(Host::B))??);
            }
        }
        Ok(BareCase {
            hosts,
            executor: Executor::new(spec.exec),
            observer: Observer::new(sockets),
        })
    };
    run_somewhere(None, setup, f)
}

/// Runs `f` — a whole campaign or lane — so that the cases it runs are cheap to set up: on
/// a case thread whose home namespace gives every case a private established-hash table of
/// the default size ([`on_case_thread`]).
pub fn run_cases<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R, HarnessError> {
    on_case_thread(SandboxSpec::default().ehash_buckets, f)
}
