//! The Python program: one file, Python 3.11 or later with the standard library only.
//!
//! The calls go through the C library (`ctypes`), as the C program makes them: Python's socket
//! objects would convert addresses to the socket's family, short-cut `recv(…, 0)` and wait in
//! `poll` for timeouts, and the results would no longer be the kernel's. Layout as the C
//! program's: the docstring and the scenario's text, its names, the prelude, one block per step.

use std::fmt::Write as _;
use std::net::IpAddr;

use tcpconform_model::{Family, How};

use super::{Action, Plan, PlanRow, PlanStep, PortRef, QUICKACK_SCRIPT, errno_names, state_names};

/// The whole program.
pub(super) fn render(plan: &Plan) -> String {
    let mut out = String::new();
    header(&mut out, plan);
    names(&mut out, plan);
    out.push_str(PRELUDE);
    main_fn(&mut out, plan);
    out
}

/// A Python string literal.
fn py_string(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One line of a `#` comment (no line breaks can hide in it).
fn comment_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

fn header(out: &mut String, plan: &Plan) {
    out.push_str("#!/usr/bin/env python3\n");
    if let Some(t) = &plan.title {
        let _ = writeln!(out, "# {}\n#", comment_line(t));
    }
    out.push_str(HEADER_TEXT);
    out.push_str("#\n# The scenario:\n#\n");
    for line in plan.text.lines() {
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "#   {}", comment_line(line));
        }
    }
    out.push('\n');
}

const HEADER_TEXT: &str = "\
# A standalone reproducer written by `tcpconform export --python` from a scenario file: it
# makes the scenario's calls on this machine's kernel and checks their results, without
# tcpconform (Python 3.11 or later, standard library only; the calls go through the C library
# with ctypes, exactly as a C program makes them).
#
#     sudo python3 repro.py
#
# It prints one TAP line per call (`ok N - call = result`, or `not ok N - call: expected X,
# got Y`) and exits as a kselftest does: 0 when every expectation held, 1 when one did not,
# 4 (KSFT_SKIP) when it cannot run here, with the reason.
#
# It runs in a network namespace of its own (as root; otherwise in a new user namespace, when
# unprivileged user namespaces are allowed), with lo up, the scenario's addresses on lo and
# its sysctls written there only. Every blocking socket has SO_RCVTIMEO and SO_SNDTIMEO of
# 100 ms: a blocking call that times out is reported as BLOCKS.
#
# Socket tables (the `|` lines): a scenario's expected table also lists what no descriptor
# holds (orphans, TIME-WAIT, connections not accepted yet), which a program cannot read
# portably. This program checks what its descriptors show: every open descriptor with a port
# must match an expected row (state from TCP_INFO, local address, peer); expected rows that no
# descriptor shows are not checked, and a socket whose port may have gone back to the kernel
# with its connection (unbound CLOSE after a connect() or listen()) need not match one. Queue
# lengths (`q=`) are not compared.
";

fn names(out: &mut String, plan: &Plan) {
    out.push_str(
        "import ctypes\nimport errno\nimport fcntl\nimport os\nimport signal\nimport socket\n\
         import struct\nimport subprocess\nimport sys\nimport time\n\n",
    );
    let _ = writeln!(
        out,
        "TITLE = {}",
        py_string(plan.title.as_deref().unwrap_or(""))
    );
    out.push_str("# The scenario's sockets, by index.\n");
    for (i, s) in plan.socks.iter().enumerate() {
        let _ = writeln!(out, "{s} = {i}");
    }
    let _ = writeln!(
        out,
        "SOCK_NAMES = [{}]",
        plan.socks
            .iter()
            .map(|s| py_string(&s.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out.push_str(
        "# Port variables: a call or a table row gives them a value; a call passes a variable\n\
         # by its name, and one without a value as port 0.\n",
    );
    let _ = writeln!(
        out,
        "VARS = {{{}}}",
        plan.vars
            .iter()
            .map(|v| format!("{}: None", py_string(v)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out.push_str("# @address: put on lo.\n");
    let _ = writeln!(
        out,
        "ADDRESSES = [{}]",
        plan.addresses
            .iter()
            .map(|a| py_string(&a.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out.push_str("# @sysctl: written in the program's own network namespace, never the host's.\n");
    let _ = writeln!(
        out,
        "SYSCTLS = [{}]",
        plan.sysctls
            .iter()
            .map(|(k, v)| format!("({}, {})", py_string(k), py_string(v)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "# Whether the expected tables list bound, unconnected sockets (UNCONN): sock_diag dumps\n\
         # them since Linux 6.8, and the kernel this scenario was written for does{}.\n\
         TABLE_HAS_BOUND_SOCKETS = {}",
        if plan.bound_rows { "" } else { " not" },
        if plan.bound_rows { "True" } else { "False" }
    );
    let _ = writeln!(
        out,
        "# A uid other than root that sockets are created as (0: none): needs real root.\n\
         OTHER_UID = {}",
        plan.other_uid.unwrap_or(0)
    );
    let _ = writeln!(out, "NSTEPS = {}", plan.steps.len());
    out.push_str(
        "# Run by sh: sets `quickack` on lo's routes, as tcpconform's sandbox does, so that a FIN\n\
         # is acknowledged at once and the table after a close() does not depend on timing.\n",
    );
    let _ = writeln!(out, "QUICKACK_SCRIPT = r\"\"\"{QUICKACK_SCRIPT}\"\"\"");
    out.push_str("# The errno names a result is written with (others: E?<number>).\n");
    out.push_str("ERRNO_NAMES = {\n");
    for n in errno_names() {
        let _ = writeln!(out, "    errno.{n}: \"{n}\",");
    }
    out.push_str("}\n");
    out.push_str(
        "# tcpi_state numbers and the names the scenario's tables use (as ss prints them).\n",
    );
    let mut states = state_names();
    states.sort_unstable();
    out.push_str("STATE_NAMES = {\n");
    for (n, s) in states {
        let _ = writeln!(out, "    {n}: \"{s}\",");
    }
    out.push_str("}\n\n");
}

fn family(f: Family) -> &'static str {
    match f {
        Family::Inet => "socket.AF_INET",
        Family::Inet6 => "socket.AF_INET6",
    }
}

fn how(h: How) -> String {
    format!("socket.{}", h.name())
}

/// A port argument: `8080`, or a variable by name (`"P"`).
fn port_arg(plan: &Plan, p: PortRef) -> String {
    match p {
        PortRef::Lit(n) => n.to_string(),
        PortRef::Var(v) => py_string(&plan.vars[v]),
    }
}

fn ip_arg(ip: IpAddr) -> String {
    py_string(&ip.to_string())
}

fn call_expr(plan: &Plan, action: &Action) -> String {
    let s = |i: usize| plan.socks[i].to_string();
    let py_bool = |b: bool| if b { "True" } else { "False" };
    match action {
        Action::Socket {
            sock,
            family: f,
            nonblocking,
            uid,
        } => format!(
            "op_socket({}, {}, nonblocking={}, uid={uid})",
            s(*sock),
            family(*f),
            py_bool(*nonblocking)
        ),
        Action::SetInt { sock, opt } => format!(
            "op_setsockopt({}, {}, {}, {})",
            s(*sock),
            opt.py_level,
            opt.py_name,
            opt.value
        ),
        Action::Linger { sock, on, secs } => {
            format!("op_linger({}, {}, {secs})", s(*sock), py_bool(*on))
        }
        Action::SoError { sock } => format!("op_so_error({})", s(*sock)),
        Action::Bind { sock, ip, port } => format!(
            "op_bind({}, {}, {})",
            s(*sock),
            ip_arg(*ip),
            port_arg(plan, *port)
        ),
        Action::Listen { sock, backlog } => format!("op_listen({}, {backlog})", s(*sock)),
        Action::Connect {
            sock,
            ip,
            port,
            local,
        } => {
            let local = local.map_or_else(String::new, |v| {
                format!(", local={}", py_string(&plan.vars[v]))
            });
            format!(
                "op_connect({}, {}, {}{local})",
                s(*sock),
                ip_arg(*ip),
                port_arg(plan, *port)
            )
        }
        Action::Accept {
            listener,
            sock,
            peer,
        } => {
            let peer = peer.map_or_else(String::new, |v| {
                format!(", peer={}", py_string(&plan.vars[v]))
            });
            format!("op_accept({}, {}{peer})", s(*listener), s(*sock))
        }
        Action::AcceptAny {
            listeners,
            sock,
            peer,
        } => {
            let peer = peer.map_or_else(String::new, |v| {
                format!(", peer={}", py_string(&plan.vars[v]))
            });
            let names: Vec<String> = listeners.iter().map(|l| s(*l)).collect();
            format!("op_accept_any([{}], {}{peer})", names.join(", "), s(*sock))
        }
        Action::Send { sock, len } => format!("op_send({}, {len})", s(*sock)),
        Action::Recv { sock, len } => format!("op_recv({}, {len})", s(*sock)),
        Action::Shutdown { sock, how: h } => format!("op_shutdown({}, {})", s(*sock), how(*h)),
        Action::Close { sock } => format!("op_close({})", s(*sock)),
        Action::Sleep { ms } => format!("op_sleep({ms})"),
        Action::Sysctl { key, value } => {
            format!("op_sysctl({}, {})", py_string(key), py_string(value))
        }
    }
}

fn row_tuple(plan: &Plan, r: &PlanRow) -> String {
    let peer = match &r.peer {
        Some((ip, p)) => format!("({}, {})", ip_arg(*ip), port_arg(plan, *p)),
        None => "None".into(),
    };
    format!(
        "(\"{}\", ({}, {}), {peer}),",
        r.state,
        ip_arg(r.local.0),
        port_arg(plan, r.local.1)
    )
}

fn step_block(out: &mut String, plan: &Plan, step: &PlanStep) {
    let _ = writeln!(out, "    # {}", comment_line(&step.source));
    for r in step.table.iter().flatten() {
        let _ = writeln!(out, "    #     | {}", comment_line(&r.text));
    }
    if step.table.as_ref().is_some_and(Vec::is_empty) {
        out.push_str("    #     | (empty)\n");
    }
    let _ = writeln!(out, "    begin({}, {})", step.index, py_string(&step.call));
    for v in &step.needs {
        let _ = writeln!(out, "    need({})", py_string(&plan.vars[*v]));
    }
    let want = match &step.expect {
        Some(e) => format!(
            "[{}]",
            e.iter()
                .map(|o| py_string(o))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => "None".into(),
    };
    let _ = writeln!(out, "    expect({}, {want})", call_expr(plan, &step.action));
    match &step.table {
        Some(rows) if rows.is_empty() => out.push_str("    table([])\n"),
        Some(rows) => {
            out.push_str("    table([\n");
            for r in rows {
                let _ = writeln!(out, "        {}", row_tuple(plan, r));
            }
            out.push_str("    ])\n");
        }
        None => {}
    }
    out.push_str("    end()\n\n");
}

fn main_fn(out: &mut String, plan: &Plan) {
    out.push_str("def main():\n    start()\n\n");
    for step in &plan.steps {
        step_block(out, plan, step);
    }
    out.push_str("    return finish()\n\n\nif __name__ == \"__main__\":\n    sys.exit(main())\n");
}

/// Everything that does not depend on the scenario: one helper per call, the namespace
/// setup and the table check (`prelude.py`, kept as a Python file so that it reads and lints as one).
const PRELUDE: &str = include_str!("prelude.py");
