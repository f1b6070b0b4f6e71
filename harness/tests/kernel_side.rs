//! Tests of the kernel side of the harness: errno table, sandboxes, observer, executor.
//!
//! Every test that needs a kernel starts with `kernel_or_skip`: without namespaces it prints
//! `SKIPPED: …` and returns, or fails when `CI=true` or `TCPCONFORM_REQUIRE_KERNEL=1`.
//!
//! One file of `kernel_side/` per part of the harness: the sandbox's namespaces (isolation, two
//! hosts), the observer, the executor, and costs. This file holds the helpers they share, the
//! errno table's tests and the skip-or-fail tests (which stay here: `skip_child` is run by its
//! exact name).
#![cfg(target_os = "linux")]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tcpconform_harness::errno;
use tcpconform_harness::sandbox::{self, Case, SandboxSpec, kernel_or_skip, run_case};
use tcpconform_model::{
    Env, Errno, Family, Host, Observed, Op, Outcome, Row, SockAddr, SockId, Sysctl,
};

// ---------------------------------------------------------------------------------------------
// Helpers

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn s(n: u16) -> SockId {
    SockId(n)
}

fn socket(sock: u16, family: Family) -> Op {
    Op::Socket {
        sock: s(sock),
        family,
        nonblocking: false,
        euid: None,
        host: Host::A,
    }
}

fn socket_nb(sock: u16, family: Family) -> Op {
    Op::Socket {
        sock: s(sock),
        family,
        nonblocking: true,
        euid: None,
        host: Host::A,
    }
}

fn bind(sock: u16, ip: IpAddr, port: u16) -> Op {
    Op::Bind {
        sock: s(sock),
        addr: SockAddr::new(ip, port),
    }
}

fn listen(sock: u16) -> Op {
    Op::Listen {
        sock: s(sock),
        backlog: 16,
    }
}

fn connect(sock: u16, ip: IpAddr, port: u16) -> Op {
    Op::Connect {
        sock: s(sock),
        addr: SockAddr::new(ip, port),
        local: None,
    }
}

fn accept(listener: u16, sock: u16) -> Op {
    Op::Accept {
        listener: s(listener),
        sock: s(sock),
        peer: None,
    }
}

fn close(sock: u16) -> Op {
    Op::Close { sock: s(sock) }
}

/// Runs an op; a harness failure fails the test.
fn run(case: &mut Case, op: Op) -> Observed {
    case.apply(&op, &Env::new())
        .unwrap_or_else(|e| panic!("harness failure on `{op}`: {e}"))
}

/// Runs an op that must succeed.
fn ok(case: &mut Case, op: Op) -> Observed {
    let o = run(case, op.clone());
    assert_eq!(o.outcome, Outcome::Ok, "`{op}`");
    o
}

/// Runs a case; a harness failure fails the test.
fn in_case<R: Send>(spec: SandboxSpec, f: impl FnOnce(&mut Case) -> R + Send) -> R {
    run_case(&spec, f).unwrap_or_else(|e| panic!("harness failure: {e}"))
}

/// A listener on 127.0.0.1:port (s0), a connected client (s1) and the accepted socket (s2).
fn connected_pair(case: &mut Case, port: u16) -> (SocketAddr, SocketAddr) {
    ok(case, socket(0, Family::Inet));
    ok(case, bind(0, LO, port));
    ok(case, listen(0));
    ok(case, socket(1, Family::Inet));
    let c = ok(case, connect(1, LO, port));
    let a = ok(case, accept(0, 2));
    assert_eq!(a.peer, c.local);
    (
        c.local.expect("client bound"),
        a.local.expect("server addr"),
    )
}

fn rows(case: &mut Case) -> Vec<(Row, tcpconform_model::RowInfo)> {
    let settled = case.settled_snapshot().expect("dump");
    assert!(settled.settled, "the table did not settle: {settled:?}");
    settled.snapshot.rows
}

fn sysctl(text: &str) -> Sysctl {
    text.parse().expect("sysctl")
}

// ---------------------------------------------------------------------------------------------
// errno

#[test]
fn errno_table_maps_every_name_to_its_linux_number_and_back() {
    for &e in Errno::NAMED {
        let n = errno::to_raw(e);
        assert!(n > 0, "{e} has no number");
        assert_eq!(errno::from_raw(n), e, "{e} = {n}");
    }
    let mut numbers: Vec<i32> = Errno::NAMED.iter().map(|&e| errno::to_raw(e)).collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(
        numbers.len(),
        Errno::NAMED.len(),
        "two names share a number"
    );
    // Spot checks against the numbers Linux documents (asm-generic/errno*.h).
    assert_eq!(errno::to_raw(Errno::EADDRINUSE), 98);
    assert_eq!(errno::to_raw(Errno::ECONNREFUSED), 111);
    assert_eq!(errno::to_raw(Errno::EINPROGRESS), 115);
    assert_eq!(errno::from_raw(11), Errno::EAGAIN);
    assert_eq!(errno::from_raw(libc::EWOULDBLOCK), Errno::EAGAIN);
}

#[test]
fn unnamed_errnos_are_kept_as_numbers() {
    assert_eq!(errno::from_raw(libc::ENOBUFS), Errno::Other(libc::ENOBUFS));
    assert_eq!(errno::to_raw(Errno::Other(105)), 105);
    assert_eq!(errno::from_raw(0), Errno::Other(0));
    let io = std::io::Error::from_raw_os_error(libc::EADDRINUSE);
    assert_eq!(errno::from_io(&io), Some(Errno::EADDRINUSE));
}

// ---------------------------------------------------------------------------------------------
// Skip or fail

#[test]
fn require_kernel_follows_the_environment() {
    let expected = std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("TCPCONFORM_REQUIRE_KERNEL").is_ok_and(|v| v == "1");
    assert_eq!(sandbox::require_kernel(), expected);
}

/// Child half of the skip-or-fail test: only does something when the parent asks for it.
#[test]
fn skip_child() {
    if std::env::var("TCPCONFORM_TEST_SKIP_CHILD").is_err() {
        return;
    }
    if kernel_or_skip("skip_child") {
        println!("RAN: the kernel was available");
    }
}

#[test]
fn without_privileges_kernel_tests_skip_or_fail_as_configured() {
    if !nix::unistd::geteuid().is_root() {
        println!("SKIPPED: without_privileges…: needs root to drop to an unprivileged uid");
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        panic!("no current_exe");
    };
    let child = |require: bool| {
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&exe)
            .args(["--exact", "skip_child", "--nocapture", "--test-threads=1"])
            .env("TCPCONFORM_TEST_SKIP_CHILD", "1")
            .env_remove("CI")
            .env_remove("TCPCONFORM_REQUIRE_KERNEL");
        if require {
            cmd.env("TCPCONFORM_REQUIRE_KERNEL", "1");
        }
        cmd.output().expect("running setpriv")
    };
    let relaxed = child(false);
    let out = String::from_utf8_lossy(&relaxed.stdout).into_owned()
        + &String::from_utf8_lossy(&relaxed.stderr);
    assert!(relaxed.status.success(), "{out}");
    assert!(
        out.contains("SKIPPED: skip_child: no permission to create a network namespace"),
        "expected a skip as uid 65534:\n{out}"
    );
    assert!(!out.contains("RAN:"), "{out}");
    let strict = child(true);
    let out = String::from_utf8_lossy(&strict.stdout).into_owned()
        + &String::from_utf8_lossy(&strict.stderr);
    assert!(!strict.status.success(), "must fail when required:\n{out}");
    assert!(out.contains("kernel tests are required"), "{out}");
}

#[path = "kernel_side/costs.rs"]
mod costs;
#[path = "kernel_side/executor.rs"]
mod executor;
#[path = "kernel_side/namespaces.rs"]
mod namespaces;
#[path = "kernel_side/observer.rs"]
mod observer;
