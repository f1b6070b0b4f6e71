//! The C program: one file, C99 with POSIX and Linux headers, no extra libraries
//! (`cc -Wall -Wextra -Werror -o repro repro.c`).
//!
//! Layout: the header comment (what the program is, the scenario's text), the includes, the
//! scenario's names (sockets, port variables, addresses, sysctls), the prelude (one helper per
//! call, the namespace setup, the table check), then `main` with one block per step.

use std::fmt::Write as _;
use std::net::IpAddr;

use tcpconform_model::{Family, How};

use super::{Action, Plan, PlanRow, PlanStep, PortRef, QUICKACK_SCRIPT, errno_names, state_names};

/// The whole program.
pub(super) fn render(plan: &Plan) -> String {
    let mut out = String::new();
    header(&mut out, plan);
    out.push_str(INCLUDES);
    names(&mut out, plan);
    out.push_str(PRELUDE);
    main_fn(&mut out, plan);
    out
}

/// Text made safe for a `/* … */` comment.
fn comment_safe(s: &str) -> String {
    s.replace("*/", "* /").replace("/*", "/ *")
}

/// A C string literal.
fn c_string(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii_graphic() || c == ' ' => out.push(c),
            // Anything else (non-ASCII in a comment-free string is unlikely) as an escape of
            // each UTF-8 byte, closed so that a following hex digit is not swallowed.
            c => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\{b:03o}");
                }
            }
        }
    }
    out.push('"');
    out
}

fn header(out: &mut String, plan: &Plan) {
    out.push_str("/*\n");
    if let Some(t) = &plan.title {
        let _ = writeln!(out, " * {}\n *", comment_safe(t));
    }
    out.push_str(&comment_safe(HEADER_TEXT));
    out.push_str(" *\n * The scenario:\n *\n");
    for line in plan.text.lines() {
        let line = comment_safe(line);
        if line.is_empty() {
            out.push_str(" *\n");
        } else {
            let _ = writeln!(out, " *   {line}");
        }
    }
    out.push_str(" */\n\n");
}

const HEADER_TEXT: &str =
    " * A standalone reproducer written by `tcpconform export --c` from a scenario file: it makes
 * the scenario's calls on this machine's kernel and checks their results, without tcpconform.
 *
 *     cc -Wall -Wextra -Werror -o repro repro.c && sudo ./repro
 *
 * It prints one TAP line per call (`ok N - call = result`, or `not ok N - call: expected X,
 * got Y`) and exits as a kselftest does: 0 when every expectation held, 1 when one did not,
 * 4 (KSFT_SKIP) when it cannot run here, with the reason.
 *
 * It runs in a network namespace of its own (as root; otherwise in a new user namespace, when
 * unprivileged user namespaces are allowed), with lo up, the scenario's addresses on lo and
 * its sysctls written there only. Every blocking socket has SO_RCVTIMEO and SO_SNDTIMEO of
 * 100 ms: a blocking call that times out is reported as BLOCKS.
 *
 * Socket tables (the `|` lines): a scenario's expected table also lists what no descriptor
 * holds (orphans, TIME-WAIT, connections not accepted yet), which a program cannot read
 * portably. This program checks what its descriptors show: every open descriptor with a port
 * must match an expected row (state from TCP_INFO, local address, peer); expected rows that no
 * descriptor shows are not checked, and a socket whose port may have gone back to the kernel
 * with its connection (unbound CLOSE after a connect() or listen()) need not match one. Queue
 * lengths (`q=`) are not compared.
";

const INCLUDES: &str = "\
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

";

/// The scenario's names and settings, before the prelude that uses them.
fn names(out: &mut String, plan: &Plan) {
    out.push_str("/* The scenario's sockets, and its port variables (-1: no value yet). */\n");
    let socks: Vec<String> = plan.socks.iter().map(|s| s.to_string()).collect();
    let _ = writeln!(out, "enum {{ {} }};", with_count(&socks, "NSOCKS"));
    let vars: Vec<String> = plan.vars.iter().map(|v| format!("VAR_{v}")).collect();
    let _ = writeln!(out, "enum {{ {} }};", with_count(&vars, "NVARS"));
    let _ = writeln!(
        out,
        "static const char *const sock_names[] = {{{}}};",
        string_list(plan.socks.iter().map(|s| s.to_string()))
    );
    let _ = writeln!(
        out,
        "static const char *const var_names[] = {{{}}};\n",
        string_list(plan.vars.iter().cloned())
    );
    out.push_str("/* @address: put on lo. */\n");
    let _ = writeln!(
        out,
        "static const char *const addresses[] = {{{}}};\n",
        string_list(plan.addresses.iter().map(|a| a.to_string()))
    );
    out.push_str(
        "/* @sysctl: written in the program's own network namespace, never the host's. */\n",
    );
    out.push_str("static const char *const sysctls[][2] = {");
    for (k, v) in &plan.sysctls {
        let _ = write!(out, "{{{}, {}}}, ", c_string(k), c_string(v));
    }
    out.push_str("{NULL, NULL}};\n\n");
    let _ = writeln!(
        out,
        "/* Whether the expected tables list bound, unconnected sockets (UNCONN): sock_diag dumps\n \
         * them since Linux 6.8, and the kernel this scenario was written for does{}. */\n\
         #define TABLE_HAS_BOUND_SOCKETS {}\n",
        if plan.bound_rows { "" } else { " not" },
        u8::from(plan.bound_rows)
    );
    let _ = writeln!(
        out,
        "/* A uid other than root that sockets are created as (0: none): needs real root. */\n\
         #define OTHER_UID {}\n",
        plan.other_uid.unwrap_or(0)
    );
    let _ = writeln!(out, "#define NSTEPS {}\n", plan.steps.len());
    out.push_str(
        "/* Run by sh: sets `quickack` on lo's routes, as tcpconform's sandbox does, so that a\n \
         * FIN is acknowledged at once and the table after a close() does not depend on timing. */\n",
    );
    let _ = writeln!(
        out,
        "static const char quickack_script[] =\n    {};\n",
        QUICKACK_SCRIPT
            .lines()
            .map(|l| c_string(&format!("{l}\n")))
            .collect::<Vec<_>>()
            .join("\n    ")
    );
    out.push_str("/* The errno names a result is written with (others: E?<number>). */\n");
    out.push_str(
        "static const struct {\n    int number;\n    const char *name;\n} errno_names[] = {\n",
    );
    for name in errno_names() {
        let _ = writeln!(out, "    {{{name}, \"{name}\"}},");
    }
    out.push_str("};\n\n");
    out.push_str(
        "/* tcpi_state numbers and the names the scenario's tables use (as ss prints them). */\n",
    );
    out.push_str("static const char *const state_names[] = {\n");
    let mut states = state_names();
    states.sort_unstable();
    for (n, name) in states {
        let _ = writeln!(out, "    [{n}] = \"{name}\",");
    }
    out.push_str("};\n\n");
}

/// `a, b, COUNT` for an enum whose last member counts the others.
fn with_count(items: &[String], count: &str) -> String {
    let mut all = items.to_vec();
    all.push(count.to_owned());
    all.join(", ")
}

/// `"a", "b", NULL`.
fn string_list(items: impl Iterator<Item = String>) -> String {
    let mut all: Vec<String> = items.map(|s| c_string(&s)).collect();
    all.push("NULL".into());
    all.join(", ")
}

fn family(f: Family) -> &'static str {
    match f {
        Family::Inet => "AF_INET",
        Family::Inet6 => "AF_INET6",
    }
}

fn how(h: How) -> &'static str {
    h.name()
}

/// The literal and variable arguments of a port: `8080, NO_VAR` or `0, VAR_P`.
fn port_args(plan: &Plan, p: PortRef) -> String {
    match p {
        PortRef::Lit(n) => format!("{n}, NO_VAR"),
        PortRef::Var(v) => format!("0, VAR_{}", plan.vars[v]),
    }
}

fn var_arg(plan: &Plan, v: Option<usize>) -> String {
    v.map_or_else(|| "NO_VAR".into(), |v| format!("VAR_{}", plan.vars[v]))
}

fn ip_arg(ip: IpAddr) -> String {
    c_string(&ip.to_string())
}

/// The call expression of a step.
fn call_expr(plan: &Plan, action: &Action) -> String {
    let s = |i: usize| plan.socks[i].to_string();
    match action {
        Action::Socket {
            sock,
            family: f,
            nonblocking,
            uid,
        } => format!(
            "op_socket({}, {}, {}, {uid})",
            s(*sock),
            family(*f),
            u8::from(*nonblocking)
        ),
        Action::SetInt { sock, opt } => format!(
            "op_setsockopt({}, {}, {}, {})",
            s(*sock),
            opt.c_level,
            opt.c_name,
            opt.value
        ),
        Action::Linger { sock, on, secs } => {
            format!("op_linger({}, {}, {secs})", s(*sock), u8::from(*on))
        }
        Action::SoError { sock } => format!("op_so_error({})", s(*sock)),
        Action::Bind { sock, ip, port } => format!(
            "op_bind({}, {}, {})",
            s(*sock),
            ip_arg(*ip),
            port_args(plan, *port)
        ),
        Action::Listen { sock, backlog } => format!("op_listen({}, {backlog})", s(*sock)),
        Action::Connect {
            sock,
            ip,
            port,
            local,
        } => format!(
            "op_connect({}, {}, {}, {})",
            s(*sock),
            ip_arg(*ip),
            port_args(plan, *port),
            var_arg(plan, *local)
        ),
        Action::Accept {
            listener,
            sock,
            peer,
        } => format!(
            "op_accept({}, {}, {})",
            s(*listener),
            s(*sock),
            var_arg(plan, *peer)
        ),
        Action::AcceptAny {
            listeners,
            sock,
            peer,
        } => {
            let names: Vec<String> = listeners.iter().map(|l| s(*l)).collect();
            format!(
                "op_accept_any((const int[]){{{}}}, {}, {}, {})",
                names.join(", "),
                listeners.len(),
                s(*sock),
                var_arg(plan, *peer)
            )
        }
        Action::Send { sock, len } => format!("op_send({}, {len})", s(*sock)),
        Action::Recv { sock, len } => format!("op_recv({}, {len})", s(*sock)),
        Action::Shutdown { sock, how: h } => format!("op_shutdown({}, {})", s(*sock), how(*h)),
        Action::Close { sock } => format!("op_close({})", s(*sock)),
        Action::Sleep { ms } => format!("op_sleep({ms})"),
        Action::Sysctl { key, value } => {
            format!("op_sysctl({}, {})", c_string(key), c_string(value))
        }
    }
}

/// One expected row as a `struct row` initialiser.
fn row_init(plan: &Plan, r: &PlanRow) -> String {
    let (peer_ip, peer_port) = match &r.peer {
        Some((ip, p)) => (ip_arg(*ip), port_args(plan, *p)),
        None => ("NULL".into(), "0, NO_VAR".into()),
    };
    format!(
        "{{\"{}\", {}, {}, {peer_ip}, {peer_port}}},",
        r.state,
        ip_arg(r.local.0),
        port_args(plan, r.local.1)
    )
}

fn step_block(out: &mut String, plan: &Plan, step: &PlanStep) {
    let _ = write!(out, "    /* {}", comment_safe(&step.source));
    for r in step.table.iter().flatten() {
        let _ = write!(out, "\n     *     | {}", comment_safe(&r.text));
    }
    if step.table.as_ref().is_some_and(Vec::is_empty) {
        out.push_str("\n     *     | (empty)");
    }
    out.push_str(" */\n");
    let _ = writeln!(out, "    begin({}, {});", step.index, c_string(&step.call));
    for v in &step.needs {
        let _ = writeln!(out, "    need(VAR_{});", plan.vars[*v]);
    }
    let want = match &step.expect {
        Some(e) => format!(
            "WANT({})",
            e.iter().map(|o| c_string(o)).collect::<Vec<_>>().join(", ")
        ),
        None => "UNCHECKED".into(),
    };
    let _ = writeln!(
        out,
        "    expect({}, {want});",
        call_expr(plan, &step.action)
    );
    match &step.table {
        Some(rows) if rows.is_empty() => out.push_str("    table(NULL, 0);\n"),
        Some(rows) => {
            out.push_str("    {\n        static const struct row rows[] = {\n");
            for r in rows {
                let _ = writeln!(out, "            {}", row_init(plan, r));
            }
            out.push_str("        };\n        table(rows, sizeof rows / sizeof rows[0]);\n    }\n");
        }
        None => {}
    }
    out.push_str("    end();\n\n");
}

fn main_fn(out: &mut String, plan: &Plan) {
    out.push_str("int main(void)\n{\n    start(");
    out.push_str(&c_string(plan.title.as_deref().unwrap_or("")));
    out.push_str(");\n\n");
    for step in &plan.steps {
        step_block(out, plan, step);
    }
    out.push_str("    return finish();\n}\n");
}

/// Everything that does not depend on the scenario: one helper per call, the namespace
/// setup and the table check (`prelude.c`, kept as a C file so that it reads and lints as one).
const PRELUDE: &str = include_str!("prelude.c");
