//! `tcpconform why` in the situations it exists for, each built for real in a fresh network
//! namespace (a thread's own, never the host's): a server killed while its client stays
//! connected (the orphaned FIN-WAIT-2 blocks the restart), a server that closed first (its
//! TIME-WAIT blocks it), and a client whose one ephemeral port is in TIME-WAIT toward the
//! server (connect() runs out of ports). `why` must answer what the kernel does, name the
//! socket in the way with its timer, list fixes the model checked, and `--prove` must agree.
//! Bad input exits 2. Needs root (network namespaces); skips with the reason otherwise.
#![cfg(target_os = "linux")]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::time::Duration;

fn tcpconform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tcpconform"))
        .args(args)
        .output()
        .expect("tcpconform runs")
}

fn root_or_skip(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var("TCPCONFORM_REQUIRE_KERNEL").is_err(),
        "{test}: needs root for its network namespaces"
    );
    eprintln!("SKIP {test}: needs root (a network namespace of its own)");
    false
}

/// Runs `build` and then `tcpconform why ARGS` in a fresh network namespace entered by one
/// thread (its children inherit it); the sockets `build` returns live until `why` is done.
fn in_fresh_namespace<T: Send + 'static>(
    build: impl FnOnce() -> T + Send + 'static,
    args: &'static [&'static str],
) -> String {
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("ip runs");
        assert!(up.success(), "lo up");
        let keep = build();
        std::thread::sleep(Duration::from_millis(100));
        let out = tcpconform(args);
        drop(keep);
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0), "{text}");
        text
    })
    .join()
    .expect("the namespace's thread")
}

fn server_and_client() -> (TcpListener, TcpStream, TcpStream) {
    let server = TcpListener::bind("127.0.0.1:8080").expect("bind 8080");
    let client = TcpStream::connect("127.0.0.1:8080").expect("connect");
    let (conn, _) = server.accept().expect("accept");
    (server, client, conn)
}

#[test]
fn a_killed_server_cannot_bind_over_its_orphaned_fin_wait_2() {
    if !root_or_skip("killed_server") {
        return;
    }
    let text = in_fresh_namespace(
        || {
            let (server, client, conn) = server_and_client();
            drop(conn); // the server process dies: its connection and listener close
            drop(server);
            client // the client keeps its end: CLOSE-WAIT
        },
        &["why", "bind", "127.0.0.1:8080", "--prove"],
    );
    assert!(
        text.contains("bind(127.0.0.1:8080) would return -1 EADDRINUSE"),
        "{text}"
    );
    assert!(
        text.contains("FIN-WAIT-2 127.0.0.1:8080 <-> 127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("orphan"), "{text}");
    assert!(text.contains("s left of its timer"), "{text}");
    assert!(text.contains("+ SO_REUSEADDR on both"), "{text}");
    assert!(text.contains("+ ss -K the FIN-WAIT-2"), "{text}");
    assert!(text.contains("+ wait about"), "{text}");
    assert!(
        text.contains("the kernel returned -1 EADDRINUSE (agrees with the model)"),
        "{text}"
    );
}

#[test]
fn a_server_that_closed_first_cannot_bind_over_its_time_wait() {
    if !root_or_skip("time_wait") {
        return;
    }
    let text = in_fresh_namespace(
        || {
            let (server, mut client, conn) = server_and_client();
            drop(conn); // the server closes first
            let _ = client.read(&mut [0u8; 1]); // EOF
            drop(client);
            drop(server);
        },
        &["why", "bind", "127.0.0.1:8080", "--prove"],
    );
    assert!(text.contains("would return -1 EADDRINUSE"), "{text}");
    assert!(
        text.contains("TIME-WAIT 127.0.0.1:8080 <-> 127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("bind.timewait.needs_reuseaddr_on_both"),
        "{text}"
    );
    assert!(text.contains("(agrees with the model)"), "{text}");
}

#[test]
fn a_connect_out_of_ephemeral_ports_is_explained_with_tcp_tw_reuse() {
    if !root_or_skip("out_of_ports") {
        return;
    }
    let text = in_fresh_namespace(
        || {
            std::fs::write("/proc/sys/net/ipv4/ip_local_port_range", "40000 40000")
                .expect("the namespace's own range");
            std::fs::write("/proc/sys/net/ipv4/tcp_tw_reuse", "0").expect("tcp_tw_reuse");
            let (server, client, conn) = server_and_client();
            drop(client); // the client closes first: its port 40000 is in TIME-WAIT
            std::thread::sleep(Duration::from_millis(50));
            drop(conn);
            std::thread::sleep(Duration::from_millis(1100)); // older than tcp_tw_reuse_delay
            server
        },
        &["why", "connect", "127.0.0.1:8080", "--prove"],
    );
    assert!(text.contains("would return -1 EADDRNOTAVAIL"), "{text}");
    assert!(text.contains("connect.autobind.exhausted"), "{text}");
    assert!(
        text.contains("TIME-WAIT 127.0.0.1:40000 <-> 127.0.0.1:8080"),
        "{text}"
    );
    assert!(text.contains("+ net.ipv4.tcp_tw_reuse=1"), "{text}");
    assert!(text.contains("(agrees with the model)"), "{text}");
}

#[test]
fn bad_input_exits_2() {
    for args in [
        &["why", "bind", "localhost"][..],
        &["why", "bind", "127.0.0.1:70000"],
        &["why", "bind", "127.0.0.1:80", "--frobnicate"],
        &["why", "connect", "127.0.0.1:0"],
        &["why", "connect", "127.0.0.1:80", "--from", "nowhere"],
        &["why"],
    ] {
        let out = tcpconform(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "{args:?} says what is wrong");
    }
}
