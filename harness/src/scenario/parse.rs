//! The text parser: `*.scn` lines to a [`Scenario`].

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use tcpconform_model::time::parse_ms;
use tcpconform_model::{
    CallOption, DEFAULT_BACKLOG, Errno, Family, Host, How, Op, Outcome, Port, Profile, SockAddr,
    SockId, SockOpt, Sysctl, TcpState, Var, VariantSetting,
};

use super::check::{self, Checker, DIRECTIVES};
use super::{
    AddrPattern, Comparison, Expected, OutcomePattern, ParseError, PortAssert, RowPattern,
    Scenario, Step, UnlistedRows,
};

/// The op names, for error messages.
const OPS: &str = "socket, setsockopt, getsockopt, bind, listen, connect, accept, send, recv, \
                   shutdown, close, sleep, sysctl, peer_vanishes, peer_reboots, destroy";

/// The socket options `setsockopt` knows, for error messages.
const SOCKOPTS: &str = "SO_REUSEADDR, SO_REUSEPORT, SO_LINGER, SO_KEEPALIVE, IPV6_V6ONLY, \
                        IP_BIND_ADDRESS_NO_PORT, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, \
                        TCP_USER_TIMEOUT, TCP_LINGER2, SO_REUSEPORT_LB (FreeBSD), \
                        SO_EXCLUSIVEADDRUSE (Windows)";

/// Reads a scenario in the text form. `file_name`, when given, prefixes every error
/// (`FILE:LINE: message`). Never panics, whatever the input.
pub fn parse(text: &str, file_name: Option<&str>) -> Result<Scenario, ParseError> {
    let mut p = Parser {
        scenario: Scenario::default(),
        in_header: true,
        title_line: None,
        profile_line: None,
        hosts_line: None,
        host_b_lines: Vec::new(),
        sysctl_keys: BTreeSet::new(),
        checker: Checker::new(1),
        pending: Vec::new(),
        empty_table: false,
    };
    for (i, raw) in text.lines().enumerate() {
        p.line(raw, i + 1)
            .map_err(|(line, message)| ParseError::new(file_name, line, message))?;
    }
    p.end_header()
        .map_err(|(line, message)| ParseError::new(file_name, line, message))?;
    Ok(p.scenario)
}

/// Parses one op in the syntax of `Op`'s `Display` (`bind(s0, 127.0.0.1:8080)`), without
/// expectations. Only the syntax is checked: whether the socket exists is a scenario's business.
pub fn parse_op(text: &str) -> Result<Op, String> {
    let (op, rest) = op_and_rest(text.trim())?;
    if !rest.trim().is_empty() {
        return Err(format!("unexpected `{}` after the call", rest.trim()));
    }
    Ok(op)
}

struct Parser {
    scenario: Scenario,
    in_header: bool,
    title_line: Option<usize>,
    profile_line: Option<usize>,
    hosts_line: Option<usize>,
    /// Header lines that name host b (checked once `@hosts` is known).
    host_b_lines: Vec<usize>,
    sysctl_keys: BTreeSet<(Host, tcpconform_model::SysctlKey)>,
    checker: Checker,
    /// Full-line comments since the last op, table row, directive or blank line.
    pending: Vec<String>,
    /// Whether the last op's table was written `| (empty)`.
    empty_table: bool,
}

impl Parser {
    fn line(&mut self, raw: &str, line: usize) -> Result<(), (usize, String)> {
        let here = |message: String| (line, message);
        let trimmed = raw.trim();
        // `@title` takes the rest of the line verbatim, `#` included.
        if let Some(rest) = directive_arg(trimmed, "@title") {
            self.pending.clear();
            return self.title(rest, line).map_err(here);
        }
        let (content, comment) = split_comment(raw);
        let content = content.trim();
        if content.is_empty() {
            match comment {
                Some(c) => self.pending.push(c.to_owned()),
                None => self.pending.clear(),
            }
            return Ok(());
        }
        if content.starts_with('@') {
            self.pending.clear();
            return self.directive(content, line).map_err(here);
        }
        if let Some(row) = content.strip_prefix('|') {
            self.pending.clear();
            return self.row(row.trim()).map_err(here);
        }
        if let Some(assertion) = content.strip_prefix('?') {
            self.pending.clear();
            return self.assertion(assertion.trim()).map_err(here);
        }
        self.end_header()?;
        self.op_line(content, comment, line).map_err(here)
    }

    fn op_line(&mut self, content: &str, comment: Option<&str>, line: usize) -> Result<(), String> {
        let (op, rest) = op_and_rest(content)?;
        let expect = match rest.trim() {
            "" => None,
            r => match r.strip_prefix('=') {
                Some(results) => Some(parse_outcomes(results)?),
                None => return Err(format!("unexpected `{r}` after the call")),
            },
        };
        self.checker.op(&op, format!("line {line}"))?;
        if let Some(outcomes) = &expect {
            check::check_outcomes(&op, outcomes)?;
        }
        let mut lines = std::mem::take(&mut self.pending);
        lines.extend(comment.map(str::to_owned));
        self.scenario.steps.push(Step {
            line,
            op,
            expect,
            table: None,
            comment: (!lines.is_empty()).then(|| lines.join("\n")),
            table_within_ms: None,
            unlisted: None,
            asserts: Vec::new(),
        });
        self.empty_table = false;
        Ok(())
    }

    fn title(&mut self, text: &str, line: usize) -> Result<(), String> {
        self.header_only("@title")?;
        if let Some(first) = self.title_line {
            return Err(format!("a second @title (the first is on line {first})"));
        }
        if text.is_empty() {
            return Err("@title needs text".to_owned());
        }
        // `lines()` ends a line at `\n` only: a carriage return inside would make the title
        // two lines for most readers (and for `Scenario::validate`).
        if text.contains('\r') {
            return Err("@title must be one line, but it holds a carriage return".to_owned());
        }
        self.title_line = Some(line);
        self.scenario.title = Some(text.to_owned());
        Ok(())
    }

    fn header_only(&self, name: &str) -> Result<(), String> {
        if self.in_header {
            Ok(())
        } else {
            Err(format!(
                "{name} after the first op: header directives come before every op"
            ))
        }
    }

    fn directive(&mut self, content: &str, line: usize) -> Result<(), String> {
        let (name, arg) = content
            .split_once(char::is_whitespace)
            .map_or((content, ""), |(n, a)| (n, a.trim()));
        match name {
            "@profile" | "@variant" | "@hosts" | "@sysctl" | "@address" => {
                self.header_only(name)?;
            }
            _ => return Err(format!("unknown directive `{name}` (known: {DIRECTIVES})")),
        }
        match name {
            "@profile" => {
                if let Some(first) = self.profile_line {
                    return Err(format!("a second @profile (the first is on line {first})"));
                }
                self.scenario.profile = Some(arg.parse::<Profile>()?);
                self.profile_line = Some(line);
            }
            "@variant" => {
                let setting: VariantSetting = arg.parse().map_err(|e| format!("@variant: {e}"))?;
                if self
                    .scenario
                    .variants
                    .iter()
                    .any(|v| v.variant == setting.variant)
                {
                    return Err(format!("@variant {} is pinned twice", setting.variant));
                }
                self.scenario.variants.push(setting);
            }
            "@hosts" => {
                if let Some(first) = self.hosts_line {
                    return Err(format!("a second @hosts (the first is on line {first})"));
                }
                self.scenario.hosts = match arg {
                    "1" => 1,
                    "2" => 2,
                    _ => return Err(format!("@hosts `{arg}`: expected 1 or 2")),
                };
                self.hosts_line = Some(line);
            }
            "@sysctl" => {
                let (host, setting) = host_prefix(arg);
                if setting.is_empty() {
                    return Err("@sysctl needs a setting, like \
                                `@sysctl net.ipv4.tcp_tw_reuse=0`"
                        .to_owned());
                }
                let setting: Sysctl = setting.parse().map_err(|e| format!("@sysctl: {e}"))?;
                if !self.sysctl_keys.insert((host, setting.key)) {
                    return Err(format!("{} is set twice for host {host}", setting.key));
                }
                if host == Host::B {
                    self.host_b_lines.push(line);
                }
                self.scenario.sysctls.push((host, setting));
            }
            _ => {
                let (host, addr) = host_prefix(arg);
                let ip: IpAddr = addr
                    .parse()
                    .map_err(|_| format!("@address: bad IP address `{addr}`"))?;
                check::check_address(ip).map_err(|e| format!("@address: {e}"))?;
                if self.scenario.addresses.contains(&(host, ip)) {
                    return Err(format!("@address {ip} is given twice for host {host}"));
                }
                if host == Host::B {
                    self.host_b_lines.push(line);
                }
                self.scenario.addresses.push((host, ip));
            }
        }
        Ok(())
    }

    /// Closes the header: from now on lines are ops and tables.
    fn end_header(&mut self) -> Result<(), (usize, String)> {
        if !self.in_header {
            return Ok(());
        }
        self.in_header = false;
        if self.scenario.hosts < 2
            && let Some(&line) = self.host_b_lines.first()
        {
            return Err((
                line,
                "host b exists only in two-host scenarios: add `@hosts 2`".to_owned(),
            ));
        }
        self.checker = Checker::new(self.scenario.hosts);
        Ok(())
    }

    fn row(&mut self, text: &str) -> Result<(), String> {
        let Some(step) = self.scenario.steps.last_mut() else {
            return Err(
                "a table row (`|`) before any op: a table follows the op it \
                        describes"
                    .to_owned(),
            );
        };
        if step.unlisted.is_some() {
            return Err("a row after `| ...`: `...` ends the table".to_owned());
        }
        if let Some(duration) = text.strip_prefix("within ") {
            if step.table.is_some() || !step.asserts.is_empty() {
                return Err("`| within …` must be the table's first row".to_owned());
            }
            step.table_within_ms = Some(parse_within(duration.trim())?);
            step.table = Some(Vec::new());
            return Ok(());
        }
        if let Some(states) = text.strip_prefix("...") {
            if self.empty_table {
                return Err("`| ...` after `| (empty)`: an empty table lists no rows".to_owned());
            }
            if !step.asserts.is_empty() {
                return Err("`| ...` after a `?` assertion: the table comes first".to_owned());
            }
            step.unlisted = Some(parse_unlisted(states)?);
            step.table.get_or_insert_with(Vec::new);
            return Ok(());
        }
        if text == "(empty)" {
            let has_rows = step.table.as_ref().is_some_and(|rows| !rows.is_empty());
            if has_rows || self.empty_table || !step.asserts.is_empty() {
                return Err("`(empty)` in a table that already has rows".to_owned());
            }
            step.table = Some(Vec::new());
            self.empty_table = true;
            return Ok(());
        }
        if self.empty_table {
            return Err("a row after `| (empty)`".to_owned());
        }
        if !step.asserts.is_empty() {
            return Err(
                "a table row after a `?` assertion: the table comes first, then the assertions"
                    .to_owned(),
            );
        }
        let row = parse_row(text)?;
        self.checker.row(&row)?;
        step.table.get_or_insert_with(Vec::new).push(row);
        Ok(())
    }
}

impl Parser {
    /// A `?` line: a port assertion on the last op.
    fn assertion(&mut self, text: &str) -> Result<(), String> {
        let Some(step) = self.scenario.steps.last_mut() else {
            return Err("an assertion (`?`) before any op: it follows the op it checks".to_owned());
        };
        let assertion = parse_assertion(text)?;
        self.checker.assertion(&assertion)?;
        step.asserts.push(assertion);
        Ok(())
    }
}

/// The duration of `| within 500ms` (as `sleep()` writes it), at most
/// [`check::MAX_WITHIN_MS`].
fn parse_within(text: &str) -> Result<u64, String> {
    let ms = parse_ms(text)
        .filter(|_| {
            text.bytes()
                .all(|b| b.is_ascii_digit() || b"ms.".contains(&b))
        })
        .ok_or_else(|| {
            format!("bad duration `{text}` after `within`: expected like 500ms or 2s")
        })?;
    check::check_within(ms)?;
    Ok(ms)
}

/// What follows `| ...`: nothing (any rows), or state names (rows in those states).
fn parse_unlisted(text: &str) -> Result<UnlistedRows, String> {
    if !text.is_empty() && !text.starts_with(char::is_whitespace) {
        return Err(format!(
            "`...{text}`: expected `| ...` or `| ... STATE…`, like `| ... UNCONN`"
        ));
    }
    let mut states = Vec::new();
    for word in text.split_whitespace() {
        let state: TcpState = word.parse()?;
        if states.contains(&state) {
            return Err(format!(
                "state {} is listed twice after `...`",
                state.ss_name()
            ));
        }
        states.push(state);
    }
    Ok(if states.is_empty() {
        UnlistedRows::Any
    } else {
        UnlistedRows::InStates(states)
    })
}

/// `PORT == PORT` or `PORT != PORT` (the text after `?`), each port a number or `$VAR`.
fn parse_assertion(text: &str) -> Result<PortAssert, String> {
    let usage = "expected `? PORT == PORT` or `? PORT != PORT`, each PORT a number or a \
                 variable, like `? $C2 != $C`";
    let words: Vec<&str> = text.split_whitespace().collect();
    let [left, cmp, right] = words.as_slice() else {
        return Err(format!("assertion `{text}`: {usage}"));
    };
    let cmp = match *cmp {
        "==" => Comparison::Eq,
        "!=" => Comparison::Ne,
        other => return Err(format!("unknown comparison `{other}` in `{text}`: {usage}")),
    };
    Ok(PortAssert {
        left: parse_port(left)?,
        cmp,
        right: parse_port(right)?,
    })
}

/// `@title` and its argument, if `trimmed` is that directive.
fn directive_arg<'a>(trimmed: &'a str, name: &str) -> Option<&'a str> {
    let rest = trimmed.strip_prefix(name)?;
    if rest.is_empty() {
        return Some("");
    }
    rest.starts_with(char::is_whitespace).then(|| rest.trim())
}

/// Splits a line at its first `#`: the content, and the comment's trimmed text.
fn split_comment(raw: &str) -> (&str, Option<&str>) {
    match raw.split_once('#') {
        Some((content, comment)) => (content, Some(comment.trim())),
        None => (raw, None),
    }
}

/// An optional leading host name (`b fd00::9`) and the rest.
fn host_prefix(arg: &str) -> (Host, &str) {
    match arg.split_once(char::is_whitespace) {
        Some(("a", rest)) => (Host::A, rest.trim()),
        Some(("b", rest)) => (Host::B, rest.trim()),
        _ => (Host::A, arg),
    }
}

/// Parses the op at the start of `text`; returns it and what follows (`= …`).
fn op_and_rest(text: &str) -> Result<(Op, &str), String> {
    let open = text.find('(').ok_or_else(|| {
        format!("expected a call like `bind(s0, 127.0.0.1:8080)`, found `{text}`")
    })?;
    let head = &text[..open];
    let (target, name) = match head.split_once('=') {
        Some((t, n)) => (Some(t.trim()), n.trim()),
        None => (None, head.trim()),
    };
    let after_open = &text[open + 1..];
    let close = after_open
        .find(')')
        .ok_or_else(|| format!("`{name}(` has no closing `)`"))?;
    let args = &after_open[..close];
    let rest = &after_open[close + 1..];
    // What follows the call: an optional capture (`local $C`, `peer $C`), then `= …`.
    let (suffix, results) = match rest.find('=') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let capture = parse_capture(name, suffix)?;
    let target = match target {
        Some(t) => Some(parse_sock(t)?),
        None => None,
    };
    let op = build_op(name, target, args, capture)?;
    Ok((op, results))
}

/// `local $C` / `peer $C` after a call.
fn parse_capture(name: &str, suffix: &str) -> Result<Option<Var>, String> {
    let words: Vec<&str> = suffix.split_whitespace().collect();
    match (name, words.as_slice()) {
        (_, []) => Ok(None),
        ("connect", ["local", v]) | ("accept", ["peer", v]) => parse_var(v).map(Some),
        ("connect", _) => Err(format!(
            "unexpected `{}` after connect(): expected `local $VAR` or `= RESULT`",
            suffix.trim()
        )),
        ("accept", _) => Err(format!(
            "unexpected `{}` after accept(): expected `peer $VAR` or `= RESULT`",
            suffix.trim()
        )),
        _ => Err(format!("unexpected `{}` after the call", suffix.trim())),
    }
}

/// Splits call arguments at commas (trimmed). An empty argument list is no argument.
fn split_args(args: &str) -> Result<Vec<&str>, String> {
    if args.trim().is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = args.split(',').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("an empty argument in `({args})`"));
    }
    Ok(parts)
}

fn arity<'a, const N: usize>(
    name: &str,
    usage: &str,
    args: &[&'a str],
) -> Result<[&'a str; N], String> {
    <[&str; N]>::try_from(args).map_err(|_| {
        format!(
            "`{name}` takes {N} argument{} ({usage}), found {}",
            if N == 1 { "" } else { "s" },
            args.len()
        )
    })
}

fn build_op(
    name: &str,
    target: Option<SockId>,
    args_text: &str,
    capture: Option<Var>,
) -> Result<Op, String> {
    let creates = matches!(name, "socket" | "accept");
    match (creates, target) {
        (true, None) => {
            return Err(format!("`{name}` creates a socket: write `s1 = {name}(…)`"));
        }
        (false, Some(t)) if is_op_name(name) => {
            return Err(format!("`{name}` does not create a socket: remove `{t} =`"));
        }
        _ => {}
    }
    // sysctl's value may hold commas (`ip_local_reserved_ports=1,5-7`): it is not split.
    if name == "sysctl" {
        return parse_sysctl_op(args_text);
    }
    let mut args = split_args(args_text)?;
    // `within=DURATION` as the last argument: the call may wait that long. Which calls take
    // it is the checker's to say (`check_within_call`), as for `nonblock`.
    let within = match args.last().and_then(|a| a.strip_prefix("within=")) {
        Some(text) => {
            let ms = parse_ms(text).ok_or_else(|| {
                format!("bad duration `{text}` in `within=`: write e.g. `500ms`, `4s` or `1.5s`")
            })?;
            args.pop();
            Some(ms)
        }
        None => None,
    };
    // `nonblock` as the last argument: this call only (`socket`'s own `nonblock` is the
    // socket's flag).
    let per_call = name != "socket" && args.last() == Some(&"nonblock");
    if per_call {
        args.pop();
    }
    let call = build_call(name, target, &args, capture)?;
    let call = if per_call {
        check::check_call_option(&call, CallOption::NonBlocking)?;
        Op::per_call(call, CallOption::NonBlocking)
    } else {
        call
    };
    match within {
        Some(ms) => {
            let option = CallOption::Within { ms };
            check::check_call_option(&call, option)?;
            Ok(Op::per_call(call, option))
        }
        None => Ok(call),
    }
}

/// [`build_op`] for everything but `sysctl`, with the arguments split.
fn build_call(
    name: &str,
    target: Option<SockId>,
    args: &[&str],
    capture: Option<Var>,
) -> Result<Op, String> {
    let sock = |s: &str| parse_sock(s);
    let op = match name {
        "socket" => {
            let Some((family, opts)) = args.split_first() else {
                return Err("`socket` needs a family: `socket(inet)` or `socket(inet6)`".into());
            };
            let family = parse_family(family)?;
            let (mut nonblocking, mut euid, mut host) = (false, None, None);
            for opt in opts {
                match opt.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
                    None if *opt == "nonblock" && !nonblocking => nonblocking = true,
                    Some(("euid", v)) if euid.is_none() => euid = Some(parse_u32(v, "euid")?),
                    Some(("host", v)) if host.is_none() => host = Some(parse_host(v)?),
                    None if *opt == "nonblock" => return Err("`nonblock` given twice".into()),
                    Some((k @ ("euid" | "host"), _)) => {
                        return Err(format!("`{k}=` given twice"));
                    }
                    _ => {
                        return Err(format!(
                            "unknown socket() option `{opt}` (known: nonblock, euid=UID, \
                             host=a|b)"
                        ));
                    }
                }
            }
            Op::Socket {
                sock: target.unwrap_or(SockId(0)),
                family,
                nonblocking,
                euid,
                host: host.unwrap_or_default(),
            }
        }
        "setsockopt" => {
            let [s, opt, value] = arity(name, "setsockopt(SOCK, OPTION, VALUE)", args)?;
            Op::Setsockopt {
                sock: sock(s)?,
                opt: parse_sockopt(opt, value)?,
            }
        }
        "getsockopt" => {
            let [s, opt] = arity(name, "getsockopt(SOCK, SO_ERROR)", args)?;
            if opt != "SO_ERROR" {
                return Err(format!("getsockopt reads only SO_ERROR, not `{opt}`"));
            }
            Op::GetsockoptSoError { sock: sock(s)? }
        }
        "bind" => {
            let [s, addr] = arity(name, "bind(SOCK, ADDR:PORT)", args)?;
            Op::Bind {
                sock: sock(s)?,
                addr: parse_sockaddr(addr)?,
            }
        }
        "listen" => match args {
            [s] => Op::Listen {
                sock: sock(s)?,
                backlog: DEFAULT_BACKLOG,
            },
            [s, b] => Op::Listen {
                sock: sock(s)?,
                backlog: parse_u32(b, "backlog")?,
            },
            _ => {
                return Err(format!(
                    "`listen` takes 1 or 2 arguments (listen(SOCK) or listen(SOCK, BACKLOG)), \
                     found {}",
                    args.len()
                ));
            }
        },
        "connect" => {
            let [s, addr] = arity(name, "connect(SOCK, ADDR:PORT)", args)?;
            Op::Connect {
                sock: sock(s)?,
                addr: parse_sockaddr(addr)?,
                local: capture,
            }
        }
        "accept" => {
            let [l] = arity(name, "s2 = accept(LISTENER) or s2 = accept(L1|L2|…)", args)?;
            let new = target.unwrap_or(SockId(0));
            if l.contains('|') {
                let listeners = l
                    .split('|')
                    .map(|name| parse_sock(name.trim()))
                    .collect::<Result<Vec<_>, _>>()?;
                check::check_listeners(&listeners)?;
                Op::AcceptAny {
                    listeners,
                    sock: new,
                    peer: capture,
                }
            } else {
                Op::Accept {
                    listener: sock(l)?,
                    sock: new,
                    peer: capture,
                }
            }
        }
        "send" | "recv" => {
            let [s, len] = arity(name, "send(SOCK, LEN) or recv(SOCK, LEN)", args)?;
            let (sock, len) = (sock(s)?, parse_u32(len, "length")?);
            if name == "send" {
                Op::Send { sock, len }
            } else {
                Op::Recv { sock, len }
            }
        }
        "shutdown" => {
            let [s, how] = arity(name, "shutdown(SOCK, SHUT_RD|SHUT_WR|SHUT_RDWR)", args)?;
            let how = match how {
                "SHUT_RD" => How::Rd,
                "SHUT_WR" => How::Wr,
                "SHUT_RDWR" => How::RdWr,
                _ => {
                    return Err(format!(
                        "unknown shutdown direction `{how}` (known: SHUT_RD, SHUT_WR, \
                         SHUT_RDWR)"
                    ));
                }
            };
            Op::Shutdown {
                sock: sock(s)?,
                how,
            }
        }
        "close" | "peer_vanishes" | "peer_reboots" | "destroy" => {
            let [s] = arity(name, "NAME(SOCK)", args)?;
            let sock = sock(s)?;
            match name {
                "close" => Op::Close { sock },
                "destroy" => Op::Destroy { sock },
                "peer_reboots" => Op::PeerReboots { sock },
                _ => Op::PeerVanishes { sock },
            }
        }
        "sleep" => {
            let [d] = arity(name, "sleep(250ms), sleep(2s), sleep(1.5s)", args)?;
            let ms = parse_ms(d)
                .filter(|_| d.bytes().all(|b| b.is_ascii_digit() || b"ms.".contains(&b)))
                .ok_or_else(|| format!("bad duration `{d}`: expected like 250ms, 2s or 1.5s"))?;
            if ms > check::MAX_SLEEP_MS {
                return Err(format!(
                    "sleep of {ms} ms is too long (at most {} ms)",
                    check::MAX_SLEEP_MS
                ));
            }
            Op::Sleep { ms }
        }
        _ => return Err(format!("unknown op `{name}` (known: {OPS})")),
    };
    Ok(op)
}

fn is_op_name(name: &str) -> bool {
    OPS.split(", ").any(|n| n == name)
}

/// `sysctl(KEY=VALUE)` or `sysctl(KEY=VALUE, host=b)`.
fn parse_sysctl_op(args: &str) -> Result<Op, String> {
    let (setting, host) = match args.rsplit_once(',') {
        Some((s, h)) if h.trim().starts_with("host") => {
            let value = h
                .trim()
                .strip_prefix("host")
                .and_then(|v| v.trim().strip_prefix('='))
                .ok_or_else(|| format!("expected `host=a` or `host=b`, found `{}`", h.trim()))?;
            (s, parse_host(value.trim())?)
        }
        _ => (args, Host::A),
    };
    if setting.trim().is_empty() {
        return Err("`sysctl` needs a setting: sysctl(net.ipv4.tcp_tw_reuse=1)".to_owned());
    }
    let setting: Sysctl = setting.trim().parse().map_err(|e| format!("sysctl: {e}"))?;
    Ok(Op::Sysctl { host, setting })
}

fn parse_sock(s: &str) -> Result<SockId, String> {
    s.strip_prefix('s')
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse().ok())
        .map(SockId)
        .ok_or_else(|| format!("expected a socket name like s0 (s0 … s65535), found `{s}`"))
}

fn parse_family(s: &str) -> Result<Family, String> {
    match s {
        "inet" | "AF_INET" => Ok(Family::Inet),
        "inet6" | "AF_INET6" => Ok(Family::Inet6),
        _ => Err(format!("unknown address family `{s}` (known: inet, inet6)")),
    }
}

fn parse_host(s: &str) -> Result<Host, String> {
    match s {
        "a" => Ok(Host::A),
        "b" => Ok(Host::B),
        _ => Err(format!("unknown host `{s}` (known: a, b)")),
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_u32(s: &str, what: &str) -> Result<u32, String> {
    if !digits(s) {
        return Err(format!("bad {what} `{s}`: expected a number"));
    }
    s.parse()
        .map_err(|_| format!("{what} `{s}` is out of range (0 … {})", u32::MAX))
}

fn parse_i32(s: &str, what: &str) -> Result<i32, String> {
    let body = s.strip_prefix('-').unwrap_or(s);
    if !digits(body) {
        return Err(format!("bad {what} `{s}`: expected a number"));
    }
    s.parse()
        .map_err(|_| format!("{what} `{s}` is out of range ({} … {})", i32::MIN, i32::MAX))
}

fn parse_bool(s: &str, opt: &str) -> Result<bool, String> {
    match s {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(format!("{opt} takes 0 or 1, not `{s}`")),
    }
}

fn parse_sockopt(name: &str, v: &str) -> Result<SockOpt, String> {
    Ok(match name {
        "SO_REUSEADDR" => SockOpt::ReuseAddr(parse_bool(v, name)?),
        "SO_REUSEPORT" => SockOpt::ReusePort(parse_bool(v, name)?),
        "SO_KEEPALIVE" => SockOpt::KeepAlive(parse_bool(v, name)?),
        "IPV6_V6ONLY" => SockOpt::V6Only(parse_bool(v, name)?),
        "IP_BIND_ADDRESS_NO_PORT" => SockOpt::BindAddressNoPort(parse_bool(v, name)?),
        "SO_LINGER" if v == "off" => SockOpt::Linger(None),
        "SO_LINGER" => SockOpt::Linger(Some(parse_u32(v, "SO_LINGER seconds (or `off`)")?)),
        "TCP_KEEPIDLE" => SockOpt::KeepIdle(parse_u32(v, name)?),
        "TCP_KEEPINTVL" => SockOpt::KeepIntvl(parse_u32(v, name)?),
        "TCP_KEEPCNT" => SockOpt::KeepCnt(parse_u32(v, name)?),
        "TCP_USER_TIMEOUT" => SockOpt::UserTimeout(parse_u32(v, name)?),
        "TCP_LINGER2" => SockOpt::Linger2(parse_i32(v, name)?),
        "SO_REUSEPORT_LB" => SockOpt::ReusePortLb(parse_bool(v, name)?),
        "SO_EXCLUSIVEADDRUSE" => SockOpt::ExclusiveAddrUse(parse_bool(v, name)?),
        _ => {
            return Err(format!(
                "unknown socket option `{name}` (known: {SOCKOPTS})"
            ));
        }
    })
}

fn parse_var(s: &str) -> Result<Var, String> {
    match s.strip_prefix('$') {
        Some(name) if check::is_var_name(name) => Ok(Var(name.to_owned())),
        _ => Err(format!(
            "expected a port variable like $P ($ then a letter or `_`, then letters, digits or \
             `_`), found `{s}`"
        )),
    }
}

fn parse_port(s: &str) -> Result<Port, String> {
    if s.starts_with('$') {
        return parse_var(s).map(Port::Var);
    }
    if !digits(s) {
        return Err(format!(
            "bad port `{s}`: expected a number or a variable like $P"
        ));
    }
    s.parse()
        .map(Port::Lit)
        .map_err(|_| format!("port `{s}` is out of range (0 … 65535)"))
}

/// `127.0.0.1:8080`, `[::1]:$P`.
fn parse_ip_port(s: &str) -> Result<(IpAddr, Port), String> {
    let bad = || {
        format!(
            "bad address `{s}`: expected IPv4:PORT or [IPv6]:PORT, like 127.0.0.1:8080 or \
             [::1]:$P"
        )
    };
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, port) = rest.split_once("]:").ok_or_else(bad)?;
        let ip: Ipv6Addr = ip
            .parse()
            .map_err(|_| format!("bad IPv6 address `{ip}` in `{s}`"))?;
        return Ok((IpAddr::V6(ip), parse_port(port)?));
    }
    let (ip, port) = s.rsplit_once(':').ok_or_else(bad)?;
    if ip.contains(':') {
        return Err(format!(
            "bad address `{s}`: an IPv6 address goes in brackets, like [::1]:8080"
        ));
    }
    let ip: Ipv4Addr = ip
        .parse()
        .map_err(|_| format!("bad IPv4 address `{ip}` in `{s}`"))?;
    Ok((IpAddr::V4(ip), parse_port(port)?))
}

fn parse_sockaddr(s: &str) -> Result<SockAddr, String> {
    let (ip, port) = parse_ip_port(s)?;
    Ok(SockAddr { ip, port })
}

/// `0 | -1 EADDRINUSE`, `>0 | EOF`.
fn parse_outcomes(text: &str) -> Result<Vec<Expected>, String> {
    text.split('|')
        .map(|o| match o.trim() {
            ">0" => Ok(Expected::Pattern(OutcomePattern::AnyBytes)),
            o => parse_outcome(o).map(Expected::Exact),
        })
        .collect()
}

fn parse_errno(s: &str) -> Result<Errno, String> {
    s.parse::<Errno>().map_err(|e| e.to_string())
}

fn parse_outcome(s: &str) -> Result<Outcome, String> {
    Ok(match s {
        "" => return Err("a missing result after `=` or `|`".to_owned()),
        "EOF" => Outcome::Eof,
        "BLOCKS" => Outcome::Blocks,
        "[0]" => Outcome::SoError(None),
        _ if digits(s) => match s.parse::<u32>() {
            Ok(0) => Outcome::Ok,
            Ok(n) => Outcome::Bytes(n),
            Err(_) => return Err(format!("byte count `{s}` is out of range")),
        },
        _ => {
            if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                Outcome::SoError(Some(parse_errno(inner.trim())?))
            } else if let Some(name) = s.strip_prefix("-1") {
                let name = name.trim();
                if name.is_empty() {
                    return Err("`-1` needs an errno name, like `-1 EADDRINUSE`".to_owned());
                }
                Outcome::Err(parse_errno(name)?)
            } else {
                return Err(format!(
                    "bad result `{s}`: expected 0, a byte count, >0, EOF, BLOCKS, [0], [ERRNO] \
                     or -1 ERRNO"
                ));
            }
        }
    })
}

/// `[a:|b:] STATE LOCAL PEER [q=N]` (the text after `|`).
fn parse_row(text: &str) -> Result<RowPattern, String> {
    let mut words: Vec<&str> = text.split_whitespace().collect();
    let mut host = Host::A;
    if let Some(first) = words.first().copied() {
        if let Some(h) = first
            .strip_suffix(':')
            .filter(|h| !h.contains([':', '.', '[']))
        {
            host = parse_host(h)?;
            words.remove(0);
        } else if let Some((h @ ("a" | "b"), state)) = first.split_once(':') {
            host = parse_host(h)?;
            words[0] = state;
        }
    }
    let usage = "expected `| STATE LOCAL PEER [q=N]`, like `| ESTAB 127.0.0.1:$C \
                 127.0.0.1:8080` (PEER `*` when there is none)";
    let (state, local, peer, rest) = match words.as_slice() {
        [s, l, p, rest @ ..] => (*s, *l, *p, rest),
        _ => return Err(format!("table row `{text}`: {usage}")),
    };
    let state: TcpState = state.parse()?;
    let (ip, port) = parse_ip_port(local)?;
    let local = AddrPattern { ip, port };
    let peer = match peer {
        "*" => None,
        p => {
            let (ip, port) = parse_ip_port(p)?;
            Some(AddrPattern { ip, port })
        }
    };
    let queue = match rest {
        [] => None,
        [q] => match q.strip_prefix("q=") {
            Some(n) => Some(parse_u32(n, "queue")?),
            None => return Err(format!("unexpected `{q}` in a table row: {usage}")),
        },
        _ => {
            return Err(format!(
                "unexpected `{}` in a table row: {usage}",
                rest.join(" ")
            ));
        }
    };
    Ok(RowPattern {
        host,
        state,
        local,
        peer,
        queue,
    })
}
