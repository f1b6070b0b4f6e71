//! Namespaces made ahead of the cases that take them, by two maker threads beside a case
//! thread ([`on_case_thread`](super::on_case_thread)): single namespaces for one-host cases
//! ([`FreshNetns`]) and joined pairs for two-host cases ([`FreshPair`]), and the CPU time the
//! makers spent.

use std::marker::PhantomData;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::Duration;

use nix::sched::{CloneFlags, setns};
use tcpconform_model::Host;

use super::namespaces::{Hosts, new_netns, restore_hash_derived_defaults, shared_ehash_entries};
use super::topology::{HOST_A_V6, HOST_B_V6, Rtnl, link_hosts, lo_up, wait_not_tentative};
use crate::error::HarnessError;

thread_local! {
    /// The namespaces a case thread's maker made ahead ([`FreshNetns`]).
    pub(super) static MADE_AHEAD:
        std::cell::RefCell<Option<Receiver<Result<FreshNetns, HarnessError>>>> =
            const { std::cell::RefCell::new(None) };
    /// The joined pairs of namespaces a case thread's pair maker made ahead ([`FreshPair`]).
    pub(super) static PAIRS_MADE_AHEAD:
        std::cell::RefCell<Option<Receiver<Result<FreshPair, HarnessError>>>> =
            const { std::cell::RefCell::new(None) };
}

/// A fresh network namespace made ahead of the case that takes it, on a second thread, so
/// that the kernel's work of making it (about half a millisecond, mostly registering the
/// namespace's sysctl tables) overlaps the case before: made from the case thread's home
/// (so with the home's private established-hash table), `lo` up with `quickack` on its
/// routes, and the hash-derived sysctls written back ([`restore_hash_derived_defaults`]).
/// Nothing else has touched it: one case takes it, and it is freed with that case.
pub(super) struct FreshNetns(pub(super) OwnedFd);

/// CPU time spent by namespace makers that have stopped, in nanoseconds (see
/// [`makers_cpu_time`]).
static MAKERS_CPU_NS: AtomicU64 = AtomicU64::new(0);

/// The CPU time the namespace makers of all case threads that have ended spent (for the
/// bench, whose CPU figures would otherwise leave out the second thread's work).
pub fn makers_cpu_time() -> Duration {
    Duration::from_nanos(MAKERS_CPU_NS.load(Ordering::Relaxed))
}

/// Time the calling thread has spent on a CPU (`/proc/thread-self/schedstat`), when the
/// kernel reports it.
pub fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let on_cpu = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(on_cpu))
}

/// How many namespaces (or pairs) a maker keeps ready besides the one it is handing over:
/// enough to ride out a few cases that come quicker than it makes them (with 1, a case waited
/// 245 µs on average for its namespace in `bench --cases 2000`, with 3, 135–150 µs).
const MADE_AHEAD_DEPTH: usize = 3;

impl FreshNetns {
    /// Makes one from `home` (where the calling thread is, and is again afterwards).
    pub(super) fn make(home: &OwnedFd) -> Result<Self, HarnessError> {
        let ns = new_netns("made ahead")?;
        let ready = (|| -> Result<(), HarnessError> {
            lo_up(Host::A)?;
            if let Some(shared) = shared_ehash_entries() {
                restore_hash_derived_defaults(shared)?;
            }
            Rtnl::open_here(Host::A)?.quickack_routes()
        })();
        setns(home, CloneFlags::CLONE_NEWNET).map_err(|e| HarnessError::NamespaceUnavailable {
            reason: format!("the namespace maker's setns back home failed: {e}"),
        })?;
        ready.map(|()| Self(ns))
    }

    /// The next namespace of the calling case thread's maker; `None` without one.
    pub(super) fn take() -> Option<Result<Self, HarnessError>> {
        MADE_AHEAD.with_borrow(|m| m.as_ref().and_then(|rx| rx.recv().ok()))
    }
}

/// Two namespaces made ahead like [`FreshNetns`], then joined as a two-host case's hosts are
/// (the veth pair up, addressed, with static neighbours, its IPv6 addresses out of the
/// tentative state, quickack on every route): most of a two-host case's setup (about 1.5 ms
/// here: the pair, the carrier and DAD waits), overlapping the case before.
pub(super) struct FreshPair {
    pub(super) a: OwnedFd,
    pub(super) b: OwnedFd,
}

impl FreshPair {
    /// Makes one from `home` (where the calling thread is, and is again afterwards).
    pub(super) fn make(home: &OwnedFd) -> Result<Self, HarnessError> {
        let a = FreshNetns::make(home)?.0;
        let b = FreshNetns::make(home)?.0;
        setns(&a, CloneFlags::CLONE_NEWNET).map_err(|e| HarnessError::NamespaceUnavailable {
            reason: format!("the pair maker's setns into host a failed: {e}"),
        })?;
        let hosts = Hosts {
            a,
            b: Some(b),
            made_ahead: true,
            linked: false,
            nft_ready: [false; 2],
            _not_send: PhantomData,
        };
        let linked = (|| -> Result<(), HarnessError> {
            let mut ra = Rtnl::open_here(Host::A)?;
            let mut rb = hosts.enter(Host::B, || Rtnl::open_here(Host::B))??;
            link_hosts(&hosts, &mut ra, &mut rb)?;
            wait_not_tentative(&[HOST_A_V6])?;
            hosts.enter(Host::B, || wait_not_tentative(&[HOST_B_V6]))??;
            ra.quickack_routes()?;
            rb.quickack_routes()
        })();
        setns(home, CloneFlags::CLONE_NEWNET).map_err(|e| HarnessError::NamespaceUnavailable {
            reason: format!("the pair maker's setns back home failed: {e}"),
        })?;
        linked?;
        let Hosts { a, b, .. } = hosts;
        let b = b.expect("made with host b");
        Ok(Self { a, b })
    }

    /// The next pair of the calling case thread's pair maker; `None` without one.
    pub(super) fn take() -> Option<Result<Self, HarnessError>> {
        PAIRS_MADE_AHEAD.with_borrow(|m| m.as_ref().and_then(|rx| rx.recv().ok()))
    }
}

/// Starts a maker thread in `scope` that makes `make(home)` again and again from `home`,
/// [`MADE_AHEAD_DEPTH`] ahead, until its receiver is dropped (or it fails: the error is the
/// last thing it sends).
pub(super) fn spawn_maker<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    home: &OwnedFd,
    name: &str,
    make: fn(&OwnedFd) -> Result<T, HarnessError>,
) -> Result<Receiver<Result<T, HarnessError>>, HarnessError> {
    let home = home
        .try_clone()
        .map_err(|e| HarnessError::io("duplicating the home namespace's descriptor", e))?;
    let (tx, rx) = sync_channel(MADE_AHEAD_DEPTH);
    std::thread::Builder::new()
        .name(name.into())
        .spawn_scoped(scope, move || {
            if let Err(e) = setns(&home, CloneFlags::CLONE_NEWNET) {
                let _ = tx.send(Err(HarnessError::NamespaceUnavailable {
                    reason: format!("the namespace maker's setns home failed: {e}"),
                }));
                return;
            }
            loop {
                let made = make(&home);
                let failed = made.is_err();
                if tx.send(made).is_err() || failed {
                    break;
                }
            }
            if let Some(on_cpu) = thread_cpu_time() {
                MAKERS_CPU_NS.fetch_add(on_cpu.as_nanos() as u64, Ordering::Relaxed);
            }
        })
        .map_err(|e| HarnessError::io("spawning a namespace maker", e))?;
    Ok(rx)
}
