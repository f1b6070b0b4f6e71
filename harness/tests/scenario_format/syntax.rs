//! The syntax: an example that uses every construct, parsed into what it means, printed
//! aligned and read back; ops, outcomes and comments printed and parsed back.

use tcpconform_harness::scenario::{Expected, parse_op};
use tcpconform_model::{
    Errno, Family, Host, Op, Outcome, Port, Profile, SockAddr, SockId, SockOpt, TcpState, Var,
};

use super::{parse_ok, v4, without_lines};

// --- syntax --------------------------------------------------------------------------------

pub(super) const EXAMPLE: &str = "\
# Intent, not attached to any step (a blank line follows).

@title Example: everything at once # the title keeps its hash
@profile linux-6.18
@variant listen_after_connect=einval
@hosts 2
@sysctl net.ipv4.tcp_tw_reuse=0
@sysctl b net.ipv4.ip_local_port_range=40000 40001
@address 127.0.0.2
@address b fd00::9

# About s0.
# Second line.
s0 = socket(inet)  = 0  # trailing
s1 = socket(inet6, nonblock, euid=65534, host=b) = 0
setsockopt(s0, SO_REUSEADDR, 1) = 0
setsockopt(s0, SO_LINGER, 0) = 0
setsockopt(s0, SO_LINGER, off) = 0
setsockopt(s0, TCP_LINGER2, -1) = 0
getsockopt(s0, SO_ERROR) = [ECONNREFUSED] | [0]
bind(s0, 127.0.0.1:$P) = 0
    | a: UNCONN 127.0.0.1:$P *
listen(s0, 4) = 0
connect(s1, [::1]:$P) local $C = -1 EINPROGRESS
  | LISTEN 127.0.0.1:$P * q=0
  | b: SYN-SENT [::1]:$C [::1]:$P
s2 = accept(s0) peer $D = 0 | BLOCKS
send(s1, 5) = 5
recv(s2, 100) = EOF | -1 ECONNRESET
shutdown(s1, SHUT_WR) = 0
close(s1) = 0
    | (empty)
sleep(1500ms)
sleep(2s)
sysctl(net.ipv4.tcp_tw_reuse=1) = 0
sysctl(net.ipv4.ip_local_reserved_ports=40000-40002,40010, host=b)
peer_vanishes(s2) = 0
destroy(s1) = -1 ENOENT
";

#[test]
fn the_example_parses_into_the_expected_scenario() {
    let s = parse_ok(EXAMPLE);
    assert_eq!(
        s.title.as_deref(),
        Some("Example: everything at once # the title keeps its hash")
    );
    assert_eq!(s.profile, Some(Profile::LINUX_6_18));
    assert_eq!(
        s.variants,
        vec!["listen_after_connect=einval".parse().expect("a setting")]
    );
    assert_eq!(s.hosts, 2);
    assert_eq!(s.sysctls.len(), 2);
    assert_eq!(s.sysctls[1].0, Host::B);
    assert_eq!(
        s.addresses,
        vec![(Host::A, v4("127.0.0.2")), (Host::B, v4("fd00::9"))]
    );
    let first = &s.steps[0];
    assert_eq!(first.line, 14);
    assert_eq!(
        first.comment.as_deref(),
        Some("About s0.\nSecond line.\ntrailing")
    );
    assert_eq!(
        s.steps[1].op,
        Op::Socket {
            sock: SockId(1),
            family: Family::Inet6,
            nonblocking: true,
            euid: Some(65534),
            host: Host::B
        }
    );
    assert_eq!(
        s.steps[3].op,
        Op::Setsockopt {
            sock: SockId(0),
            opt: SockOpt::Linger(Some(0))
        }
    );
    assert_eq!(
        s.steps[4].op,
        Op::Setsockopt {
            sock: SockId(0),
            opt: SockOpt::Linger(None)
        }
    );
    assert_eq!(
        s.steps[6].expect,
        Some(vec![
            Outcome::SoError(Some(Errno::ECONNREFUSED)).into(),
            Outcome::SoError(None).into()
        ])
    );
    let connect = &s.steps[9];
    assert_eq!(
        connect.op,
        Op::Connect {
            sock: SockId(1),
            addr: SockAddr {
                ip: v4("::1"),
                port: Port::Var(Var("P".into()))
            },
            local: Some(Var("C".into()))
        }
    );
    let table = connect.table.as_ref().expect("a table");
    assert_eq!(table[0].queue, Some(0));
    assert_eq!(table[1].host, Host::B);
    assert_eq!(table[1].state, TcpState::SynSent);
    assert_eq!(s.steps[14].table, Some(vec![]));
    assert_eq!(s.steps[15].op, Op::Sleep { ms: 1500 });
    assert_eq!(s.steps[15].expect, None);
    assert!(matches!(
        &s.steps[18].op,
        Op::Sysctl { host: Host::B, setting } if setting.to_string()
            == "net.ipv4.ip_local_reserved_ports=40000-40002,40010"
    ));
}

#[test]
fn the_example_prints_aligned_and_reads_back() {
    let s = parse_ok(EXAMPLE);
    let text = s.to_text();
    let again = parse_ok(&text);
    assert_eq!(without_lines(again), without_lines(s));
    // The header comes first, then a blank line.
    assert!(text.starts_with("@title Example"), "{text}");
    assert!(
        text.contains("@address b fd00::9\n\n# About s0.\n# Second line.\n"),
        "{text}"
    );
    // The `=` column is aligned for ops up to the alignment limit.
    let columns: Vec<usize> = text
        .lines()
        .filter(|l| l.starts_with("setsockopt(") || l.starts_with("bind("))
        .map(|l| l.find(" = ").expect("an expectation"))
        .collect();
    assert!(columns.windows(2).all(|w| w[0] == w[1]), "{text}");
    // Two-host scenarios name the host of every row.
    assert!(text.contains("    | a: LISTEN"), "{text}");
    assert!(text.contains("    | b: SYN-SENT"), "{text}");
}

#[test]
fn op_display_forms_parse_back() {
    for text in [
        "s0 = socket(inet)",
        "s1 = socket(inet6, nonblock, euid=65534, host=b)",
        "setsockopt(s0, SO_REUSEADDR, 1)",
        "setsockopt(s0, SO_LINGER, 0)",
        "setsockopt(s0, SO_LINGER, off)",
        "setsockopt(s0, TCP_LINGER2, -1)",
        "getsockopt(s0, SO_ERROR)",
        "bind(s0, 127.0.0.1:8080)",
        "bind(s0, [::1]:$P)",
        "bind(s0, [::ffff:127.0.0.1]:0)",
        "listen(s0)",
        "listen(s0, 4)",
        "connect(s1, 127.0.0.1:$P)",
        "connect(s1, 127.0.0.1:$P) local $C",
        "s2 = accept(s0)",
        "s2 = accept(s0) peer $C",
        "send(s1, 5)",
        "recv(s1, 100)",
        "shutdown(s1, SHUT_WR)",
        "close(s1)",
        "sleep(1500ms)",
        "sleep(2s)",
        "sleep(1.5s)",
        "sysctl(net.ipv4.tcp_tw_reuse=1)",
        "sysctl(net.ipv4.tcp_tw_reuse=1, host=b)",
        "peer_vanishes(s1)",
        "destroy(s1)",
    ] {
        let op = parse_op(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let shown = op.to_string();
        assert_eq!(parse_op(&shown), Ok(op), "{text} -> {shown}");
    }
    assert_eq!(
        parse_op("listen(s0, 16)").map(|o| o.to_string()),
        Ok("listen(s0)".into())
    );
    assert_eq!(
        parse_op("sleep(1500ms)").map(|o| o.to_string()),
        Ok("sleep(1.5s)".into())
    );
}

#[test]
fn outcome_display_forms_parse_back() {
    for o in [
        Outcome::Ok,
        Outcome::Bytes(5),
        Outcome::Eof,
        Outcome::SoError(None),
        Outcome::SoError(Some(Errno::ECONNREFUSED)),
        Outcome::Blocks,
        Outcome::Err(Errno::EADDRINUSE),
        Outcome::Err(Errno::Other(133)),
    ] {
        let op = match o {
            Outcome::SoError(_) => "getsockopt(s0, SO_ERROR)",
            _ => "recv(s0, 10)",
        };
        let s = parse_ok(&format!("s0 = socket(inet)\n{op} = {o}\n"));
        assert_eq!(s.steps[1].expect, Some(vec![Expected::Exact(o)]), "{o}");
    }
}

#[test]
fn comments_attach_to_the_op_right_below_them() {
    let s = parse_ok(
        "# file intent\n\n# section\n\n# about s0\ns0 = socket(inet) = 0\n  | (empty)\n\
         # a comment between a table and an op\n#\n# with an empty line\nclose(s0) = 0 #\n",
    );
    assert_eq!(s.steps[0].comment.as_deref(), Some("about s0"));
    assert_eq!(
        s.steps[1].comment.as_deref(),
        Some("a comment between a table and an op\n\nwith an empty line\n")
    );
    let again = parse_ok(&s.to_text());
    assert_eq!(without_lines(again), without_lines(s));
}
