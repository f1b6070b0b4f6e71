
# ------------------------------------------------------------------------------------------
# The prelude: one helper per call, the namespace setup and the table check.

BLOCK_BOUND_MS = 100  # a blocking call still waiting after this long is BLOCKS
SETTLE_BUDGET_MS = 50  # the longest wait for the table to stop changing after a call
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
IP_BIND_ADDRESS_NO_PORT = 24
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
TCP_SYN_SENT, TCP_CLOSE = 2, 7

try:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:
    libc = ctypes.CDLL(None, use_errno=True)
_int, _ptr, _len = ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32
_lenp = ctypes.POINTER(ctypes.c_uint32)
for _name, _args in {
    "socket": [_int, _int, _int],
    "setsockopt": [_int, _int, _int, _ptr, _len],
    "getsockopt": [_int, _int, _int, _ptr, _lenp],
    "bind": [_int, _ptr, _len],
    "connect": [_int, _ptr, _len],
    "listen": [_int, _int],
    "accept4": [_int, _ptr, _ptr, _int],
    "getsockname": [_int, _ptr, _lenp],
    "getpeername": [_int, _ptr, _lenp],
    "send": [_int, _ptr, ctypes.c_size_t, _int],
    "recv": [_int, _ptr, ctypes.c_size_t, _int],
    "shutdown": [_int, _int],
    "close": [_int],
    "unshare": [_int],
    "setfsuid": [ctypes.c_uint],
}.items():
    getattr(libc, _name).argtypes = _args
libc.send.restype = libc.recv.restype = ctypes.c_ssize_t


class Sock:
    """What the program knows about one of the scenario's sockets."""

    def __init__(self):
        self.fd = -1  # not open (closed, or never created)
        self.nonblocking = False  # created with SOCK_NONBLOCK
        self.uid = 0  # created as this user: bind() and accept() run as it
        self.lingers = False  # SO_LINGER on with a time: close() may block
        self.locked = False  # bound to a port it named: keeps it in CLOSE
        self.active = False  # has listened or connected: in CLOSE its port may be gone
        self.remote = None  # the last peer it had, or asked for: (family, ip bytes, port)


S = [Sock() for _ in SOCK_NAMES]
started = False
in_user_namespace = False
passed = failed = 0
step = checked = 0
step_call = step_got = ""
problem = []
notes = []


def skip(reason):
    """The program cannot run here: say why, exit with KSFT_SKIP (or 1 after a failure)."""
    print(("# SKIP " if started else "1..0 # SKIP ") + reason, flush=True)
    if started:
        print(f"# Totals: pass:{passed} fail:{failed} xfail:0 xpass:0 skip:1 error:0", flush=True)
    sys.exit(1 if failed else 4)


def errno_name(e):
    return ERRNO_NAMES.get(e, f"E?{e}")


def failure(e):
    return "-1 " + errno_name(e)


def last_errno():
    return ctypes.get_errno()


def sockaddr(ip, port):
    """An address passed literally: an IPv4 address is a sockaddr_in, whatever the socket."""
    try:
        a = socket.inet_pton(socket.AF_INET, ip)
        return struct.pack("=H", socket.AF_INET) + struct.pack("!H", port) + a + bytes(8)
    except OSError:
        a = socket.inet_pton(socket.AF_INET6, ip)
        return struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", port, 0) + a + bytes(4)


def parse_sockaddr(raw):
    family = struct.unpack_from("=H", raw)[0]
    port = struct.unpack_from("!H", raw, 2)[0]
    if family == socket.AF_INET:
        return (family, raw[4:8], port)
    if family == socket.AF_INET6:
        return (family, raw[8:24], port)
    return None


def name_of(fd, fn):
    """getsockname/getpeername as (family, ip bytes, port), or None."""
    buf = ctypes.create_string_buffer(128)
    n = ctypes.c_uint32(128)
    if fn(fd, buf, ctypes.byref(n)) != 0:
        return None
    return parse_sockaddr(buf.raw[: n.value])


def addr_text(a):
    family, ip, port = a
    text = socket.inet_ntop(family, ip)
    return f"{text}:{port}" if family == socket.AF_INET else f"[{text}]:{port}"


def resolve(port):
    """A port as a call passes it: a number, or a variable's value (0 when it has none)."""
    if isinstance(port, str):
        return VARS[port] or 0
    return port


def capture(var, port):
    if var is None or not port:
        return
    VARS[var] = port
    notes.append(f"# ${var} = {port}")


def need(var):
    """A variable the scenario takes from a table row: known only if a descriptor showed it."""
    if VARS[var] is None:
        skip(f"${var} has no value at call {step}: the scenario takes it from a table row that "
             "no descriptor shows")


def local_port(i):
    a = name_of(S[i].fd, libc.getsockname)
    return a[2] if a else 0


def tcp_state(fd):
    info = ctypes.create_string_buffer(104)
    n = ctypes.c_uint32(104)
    if libc.getsockopt(fd, socket.IPPROTO_TCP, socket.TCP_INFO, info, ctypes.byref(n)) != 0:
        return -1
    return info.raw[0]


# ---- Waiting for the table to settle ------------------------------------------------------


def unmap(hexaddr):
    """v4-mapped addresses of /proc/net/tcp6 as /proc/net/tcp writes IPv4 ones."""
    prefix = "0000000000000000FFFF0000"
    return hexaddr[len(prefix):] if hexaddr.startswith(prefix) else hexaddr


def read_tcp():
    """One reading of /proc/net/tcp and tcp6, and how many rows have output in flight toward
    another row of the table; None when the files cannot be read."""
    rows, readable = [], False
    for path in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            with open(path) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            f = line.split()
            if len(f) < 6:
                continue
            tx, rx = (int(x, 16) for x in f[4].split(":"))
            timer = int(f[5].split(":")[0], 16)
            rows.append((unmap(f[1]), unmap(f[2]), f[3], tx, rx, timer))
    if not readable:
        return None
    ends = {(r[0], r[1]) for r in rows}
    # Output not held back by a zero window (probe timer 4), toward a row we see.
    busy = sum(1 for r in rows if r[3] and r[5] != 4 and (r[1], r[0]) in ends)
    return [r[:5] for r in rows], busy


def settle():
    """Waits until two readings of the table agree and nothing is in flight (at most
    SETTLE_BUDGET_MS), as tcpconform reads a settled table after every call."""
    start = time.monotonic()
    pause = 50e-6
    previous = None
    while True:
        reading = read_tcp()
        if reading is None:
            return
        current, busy = reading
        if previous is not None and previous == current and busy == 0:
            return
        if previous is not None and time.monotonic() - start + pause > SETTLE_BUDGET_MS / 1e3:
            return
        if busy or previous is not None:
            time.sleep(pause)
            pause = min(pause * 2, 2e-3)
        previous = current


# ---- The calls ----------------------------------------------------------------------------


def done(i, r):
    """After a call on socket i: remember its peer, let the table settle."""
    if i is not None and S[i].fd >= 0:
        peer = name_of(S[i].fd, libc.getpeername)
        if peer:
            S[i].remote = peer
    settle()
    return r


def blocks_or(i, e, timeout_errnos):
    """BLOCKS when the socket is blocking and the errno is one its timeout gives."""
    if not S[i].nonblocking and e in timeout_errnos:
        return "BLOCKS"
    return failure(e)


def enter_fsuid(uid):
    previous = libc.setfsuid(uid)
    if libc.setfsuid(0xFFFFFFFF) != uid:
        libc.setfsuid(previous)
        skip(f"cannot create a socket as uid {uid}: setfsuid() had no effect (it needs CAP_SETUID)")
    return previous


def set_euid(uid):
    try:
        os.setresuid(-1, uid, -1)
    except OSError as e:
        skip(f"cannot call bind() as uid {uid}: setresuid: {e.strerror}")


def bound_blocking(fd):
    tv = struct.pack("ll", BLOCK_BOUND_MS // 1000, (BLOCK_BOUND_MS % 1000) * 1000)
    for opt in (socket.SO_RCVTIMEO, socket.SO_SNDTIMEO):
        if libc.setsockopt(fd, socket.SOL_SOCKET, opt, tv, len(tv)) != 0:
            skip(f"setting SO_RCVTIMEO/SO_SNDTIMEO: {os.strerror(last_errno())}")


def new_sock(i, fd, nonblocking, uid):
    S[i] = Sock()
    S[i].fd, S[i].nonblocking, S[i].uid = fd, nonblocking, uid
    if not nonblocking:
        bound_blocking(fd)


def op_socket(i, family, nonblocking, uid):
    previous = enter_fsuid(uid) if uid else 0
    kind = socket.SOCK_STREAM | socket.SOCK_CLOEXEC | (socket.SOCK_NONBLOCK if nonblocking else 0)
    fd = libc.socket(family, kind, 0)
    e = last_errno()
    if uid:
        libc.setfsuid(previous)
    if fd < 0:
        return done(None, failure(e))
    new_sock(i, fd, nonblocking, uid)
    return done(i, "0")


def op_setsockopt(i, level, name, value):
    if S[i].fd < 0:
        return done(None, failure(errno.EBADF))
    v = ctypes.c_int(value)
    if libc.setsockopt(S[i].fd, level, name, ctypes.byref(v), 4) != 0:
        return done(i, failure(last_errno()))
    return done(i, "0")


def op_linger(i, on, secs):
    if S[i].fd < 0:
        return done(None, failure(errno.EBADF))
    value = struct.pack("ii", int(on), secs)
    if libc.setsockopt(S[i].fd, socket.SOL_SOCKET, socket.SO_LINGER, value, len(value)) != 0:
        return done(i, failure(last_errno()))
    S[i].lingers = on and secs != 0
    return done(i, "0")


def op_so_error(i):
    if S[i].fd < 0:
        return done(None, failure(errno.EBADF))
    value, size = ctypes.c_int(0), ctypes.c_uint32(4)
    level, name = socket.SOL_SOCKET, socket.SO_ERROR
    if libc.getsockopt(S[i].fd, level, name, ctypes.byref(value), ctypes.byref(size)) != 0:
        return done(i, failure(last_errno()))
    return done(i, "[0]" if value.value == 0 else f"[{errno_name(value.value)}]")


def op_bind(i, ip, port):
    if S[i].fd < 0:
        return done(None, failure(errno.EBADF))
    p = resolve(port)
    captures = isinstance(port, str) and VARS[port] is None
    addr = sockaddr(ip, p)
    if S[i].uid:  # as that user: without CAP_NET_BIND_SERVICE
        set_euid(S[i].uid)
    rc = libc.bind(S[i].fd, addr, len(addr))
    e = last_errno()
    if S[i].uid:
        set_euid(0)
    if rc != 0:
        return done(i, failure(e))
    S[i].locked |= p != 0
    if captures:
        capture(port, local_port(i))
    return done(i, "0")


def op_listen(i, backlog):
    if S[i].fd < 0:
        return done(None, failure(errno.EBADF))
    S[i].active = True
    if libc.listen(S[i].fd, backlog) != 0:
        return done(i, failure(last_errno()))
    return done(i, "0")


def op_connect(i, ip, port, local=None):
    if S[i].fd < 0:
        return done(None, failure(errno.EBADF))
    addr = sockaddr(ip, resolve(port))
    S[i].remote = parse_sockaddr(addr)
    S[i].active = True
    r, keeps_port = "0", True
    if libc.connect(S[i].fd, addr, len(addr)) != 0:
        e = last_errno()
        r = blocks_or(i, e, (errno.EINPROGRESS, errno.EALREADY))
        # A connection that failed back into CLOSE gave back a port it did not bind itself
        # (getsockname() still shows it).
        failed_back = e in (errno.ECONNREFUSED, errno.ETIMEDOUT, errno.ECONNRESET,
                            errno.EHOSTUNREACH)
        if not S[i].locked and failed_back and tcp_state(S[i].fd) == TCP_CLOSE:
            keeps_port = False
    if keeps_port:
        capture(local, local_port(i))
    return done(i, r)


def op_accept(listener, i, peer=None):
    if S[listener].fd < 0:
        return done(None, failure(errno.EBADF))
    # As the listener's user: the new socket belongs to it.
    uid = S[listener].uid
    previous = enter_fsuid(uid) if uid else 0
    fd = libc.accept4(S[listener].fd, None, None, socket.SOCK_CLOEXEC)
    e = last_errno()
    if uid:
        libc.setfsuid(previous)
    if fd < 0:
        return done(None, blocks_or(listener, e, (errno.EAGAIN,)))
    new_sock(i, fd, False, uid)  # blocking, whatever its listener is
    S[i].active = True
    done(i, "0")
    capture(peer, S[i].remote[2] if S[i].remote else 0)
    return "0"


def op_accept_any(listeners, i, peer=None):
    """accept(l1|l2|...): poll the listeners (up to the bound when the first listed is
    blocking), accept from the first readable one in listed order; when none is, accept from
    the first without waiting (a blocking one is BLOCKS: it waited in poll())."""
    import fcntl
    import os
    import select
    poller = select.poll()
    for listener in listeners:
        if S[listener].fd >= 0:
            poller.register(S[listener].fd, select.POLLIN)
    first = listeners[0]
    wait_ms = 0 if S[first].nonblocking else BLOCK_BOUND_MS
    ready = {fd for fd, events in poller.poll(wait_ms) if events & select.POLLIN}
    for listener in listeners:
        if S[listener].fd >= 0 and S[listener].fd in ready:
            return op_accept(listener, i, peer)
    if S[first].fd < 0:
        return op_accept(first, i, peer)
    flags = fcntl.fcntl(S[first].fd, fcntl.F_GETFL)
    fcntl.fcntl(S[first].fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    try:
        return op_accept(first, i, peer)
    finally:
        fcntl.fcntl(S[first].fd, fcntl.F_SETFL, flags)


def op_send(i, length):
    if S[i].fd < 0:
        return done(None, failure(errno.EBADF))
    buf = ctypes.create_string_buffer(max(length, 1))
    t0 = time.monotonic()
    n = libc.send(S[i].fd, buf, length, socket.MSG_NOSIGNAL)
    e = last_errno()
    waited_ms = (time.monotonic() - t0) * 1e3
    if n < 0:
        return done(i, blocks_or(i, e, (errno.EAGAIN,)))
    if n == 0:
        return done(i, "0")
    # A blocking send that returns short after waiting the whole bound was cut by its
    # timeout: left alone it would still be blocked.
    if not S[i].nonblocking and n < length and waited_ms >= BLOCK_BOUND_MS:
        return done(i, "BLOCKS")
    return done(i, str(n))


def op_recv(i, length):
    if S[i].fd < 0:
        return done(None, failure(errno.EBADF))
    buf = ctypes.create_string_buffer(max(length, 1))
    n = libc.recv(S[i].fd, buf, length, 0)
    e = last_errno()
    if n < 0:
        return done(i, blocks_or(i, e, (errno.EAGAIN,)))
    return done(i, "EOF" if n == 0 else str(n))


def op_shutdown(i, how):
    if S[i].fd < 0:
        return done(None, failure(errno.EBADF))
    if libc.shutdown(S[i].fd, how) != 0:
        return done(i, failure(last_errno()))
    return done(i, "0")


def op_close(i):
    """A lingering close() is interrupted after BLOCK_BOUND_MS: the socket carries on as an
    orphan, as after its linger time, and close() counts as 0 as it would have."""
    if S[i].fd < 0:
        return done(None, failure(errno.EBADF))
    if S[i].lingers:
        signal.signal(signal.SIGALRM, lambda *_: None)  # no SA_RESTART: it ends the wait
        signal.setitimer(signal.ITIMER_REAL, BLOCK_BOUND_MS / 1e3)
        libc.close(S[i].fd)
        signal.setitimer(signal.ITIMER_REAL, 0)
    else:
        libc.close(S[i].fd)
    S[i].fd = -1
    return done(None, "0")


def op_sleep(ms):
    time.sleep(ms / 1e3)
    return done(None, "0")


def sysctl_path(key):
    return "/proc/sys/" + key.replace(".", "/")


def op_sysctl(key, value):
    """A sysctl of the program's namespace, as a call: a value the kernel refuses is its result."""
    try:
        fd = os.open(sysctl_path(key), os.O_WRONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        skip(f"cannot write sysctl {key}: this kernel has no such sysctl")
    except OSError as e:
        skip(f"cannot write sysctl {key}: {e.strerror}")
    try:
        os.write(fd, (value + "\n").encode())
        r = "0"
    except OSError as e:
        r = failure(e.errno)
    finally:
        os.close(fd)
    return done(None, r)


# ---- Steps and their checks ---------------------------------------------------------------


def begin(n, call):
    global step, step_call, checked
    step, step_call, checked = n, call, False
    problem.clear()
    notes.clear()


def expect(got, want):
    global step_got, checked
    step_got = got
    if want is None:
        return
    checked = True
    if got not in want:
        problem.append(f"expected {' | '.join(want)}, got {got}")


def end():
    global passed, failed
    if problem:
        failed += 1
        text = "; ".join(problem)
        if text.startswith("expected"):
            print(f"not ok {step} - {step_call}: {text}")
        else:
            print(f"not ok {step} - {step_call} = {step_got}: {text}")
    else:
        passed += 1
        print(f"ok {step} - {step_call} = {step_got}" + ("" if checked else " # not checked"))
    for note in notes:
        print(note)
    sys.stdout.flush()


def ip_bytes(ip):
    try:
        return (socket.AF_INET, socket.inet_pton(socket.AF_INET, ip))
    except OSError:
        return (socket.AF_INET6, socket.inet_pton(socket.AF_INET6, ip))


class Seen:
    """What one open descriptor shows."""

    def __init__(self, sock, state, local):
        self.sock, self.state, self.local = sock, state, local
        self.peer = 0  # 0: none (*); 1: remote; 2: none, or remote (a reset connection keeps it)
        self.remote = None
        self.sure = True  # False: may have given its port back, and be in no row

    def text(self):
        peer = addr_text(self.remote) if self.peer == 1 else "*"
        return f"{self.state} {addr_text(self.local)} {peer} ({SOCK_NAMES[self.sock]})"


def collect():
    """The open descriptors that are in the table: those with a port (a bound socket in CLOSE
    only where the scenario's kernel lists those)."""
    out = []
    for i, s in enumerate(S):
        local = name_of(s.fd, libc.getsockname) if s.fd >= 0 else None
        if not local or local[2] == 0:
            continue
        state = tcp_state(s.fd)
        seen = Seen(i, STATE_NAMES.get(state, "?"), local)
        peer = name_of(s.fd, libc.getpeername)
        if peer:
            seen.remote, seen.peer = peer, int(peer[2] != 0)
        elif state == TCP_SYN_SENT:  # getpeername() says ENOTCONN
            seen.remote = s.remote
            seen.peer = int(bool(s.remote) and s.remote[2] != 0)
        elif state == TCP_CLOSE:
            if not TABLE_HAS_BOUND_SOCKETS:
                continue
            seen.remote = s.remote
            seen.peer = 2 if s.remote and s.remote[2] != 0 else 0
            # An unbound port taken by connect() or listen() goes back when the socket returns
            # to CLOSE, though getsockname() still shows it.
            seen.sure = s.locked or not s.active
        out.append(seen)
    return out


def port_matches(want, got, bound):
    """A port against a number or a variable; a variable without a value takes this port."""
    if not isinstance(want, str):
        return want == got
    have = VARS[want] if VARS[want] is not None else bound.get(want)
    if have is not None:
        return have == got
    bound[want] = got
    return True


def row_matches(seen, row, bound):
    """Whether a descriptor shows an expected row; `bound` gets the variables it gives values."""
    state, (ip, port), peer = row
    trial = dict(bound)
    # No descriptor is in TIME-WAIT on Linux: tcp_time_wait() hands the connection to a
    # timewait minisocket and leaves the socket in CLOSE. An expected TIME-WAIT row is a
    # minisocket's, never a descriptor's.
    if seen.state == "TIME-WAIT":
        return None
    if state != seen.state or ip_bytes(ip) != seen.local[:2]:
        return None
    if not port_matches(port, seen.local[2], trial):
        return None
    if peer is None:
        return trial if seen.peer != 1 else None
    if seen.peer == 0 or ip_bytes(peer[0]) != seen.remote[:2]:
        return None
    return trial if port_matches(peer[1], seen.remote[2], trial) else None


def pair(seen, rows, used, bound, budget):
    """Pairs descriptors with distinct expected rows (one that is not sure may stay
    unpaired); the variables bound, or None."""
    if not seen:
        return bound
    budget[0] -= 1
    if budget[0] < 0:
        return None
    for r, row in enumerate(rows):
        if r in used:
            continue
        trial = row_matches(seen[0], row, bound)
        if trial is not None:
            found = pair(seen[1:], rows, used | {r}, trial, budget)
            if found is not None:
                return found
    return None if seen[0].sure else pair(seen[1:], rows, used, bound, budget)


def table(rows):
    """Checks that every open descriptor with a port matches one expected row."""
    seen = collect()
    bound = pair(seen, rows, frozenset(), {}, [200000])
    if bound is not None:
        for var, port in sorted(bound.items()):
            capture(var, port)
        return
    # Explain with a greedy pairing: the descriptors no expected row is left for.
    used, bound, unexpected = set(), {}, []
    for s in seen:
        for r, row in enumerate(rows):
            trial = row_matches(s, row, bound) if r not in used else None
            if trial is not None:
                used.add(r)
                bound = trial
                break
        else:
            if s.sure:
                unexpected.append("unexpected row " + s.text())
    problem.append("table: " + (", ".join(unexpected) or "the descriptors do not pair with "
                                "distinct expected rows"))
    notes.append("#   the descriptors show:" + ("" if seen else " nothing"))
    for s in seen:
        notes.append("#     " + s.text() + ("" if s.sure else " (may have given its port back)"))


# ---- Setup: a network namespace of our own ------------------------------------------------


def write_text(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


EHASH_ENTRIES = "/proc/sys/net/ipv4/tcp_ehash_entries"


def read_int(path):
    """A number from a /proc file (0 when it cannot be read)."""
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def enter_namespace():
    global in_user_namespace
    uid, gid = os.geteuid(), os.getegid()
    shared = abs(read_int(EHASH_ENTRIES))
    try:
        before = os.stat("/proc/self/ns/net")
    except OSError as e:
        skip(f"cannot read /proc/self/ns/net: {e.strerror}")
    if libc.unshare(CLONE_NEWNET) != 0:
        first = os.strerror(last_errno())
        if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
            skip(f"no network namespace of our own: unshare(CLONE_NEWNET): {first}; "
                 f"unshare(CLONE_NEWUSER | CLONE_NEWNET): {os.strerror(last_errno())}")
        in_user_namespace = True
        try:
            write_text("/proc/self/uid_map", f"0 {uid} 1\n")
            try:
                write_text("/proc/self/setgroups", "deny")
            except FileNotFoundError:
                pass
            write_text("/proc/self/gid_map", f"0 {gid} 1\n")
        except OSError as e:
            skip(f"mapping ids in the user namespace: {e.strerror}")
    after = os.stat("/proc/self/ns/net")
    if (after.st_ino, after.st_dev) == (before.st_ino, before.st_dev):
        skip("unshare() left the program in its original network namespace")
    # As tcpconform's sandbox: the namespace made so far is a scratch one whose children get a
    # small private established-hash table, for /proc/net/tcp (read after every call) walks the
    # whole table, 262144 buckets when shared. The kernel sizes two defaults by the table
    # (tcp_set_hashinfo()); they are written back to what the shared table gives.
    try:
        write_text("/proc/sys/net/ipv4/tcp_child_ehash_entries", "1024\n")
    except OSError:
        return
    if shared > 0 and libc.unshare(CLONE_NEWNET) == 0 and read_int(EHASH_ENTRIES) > 0:
        set_sysctl("net.ipv4.tcp_max_tw_buckets", str(shared // 2))
        set_sysctl("net.ipv4.tcp_max_syn_backlog", str(max(128, shared // 128)))


def lo_up():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH22x", b"lo", 0)
        try:
            flags = struct.unpack_from("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
        except OSError as e:
            skip(f"SIOCGIFFLAGS on lo: {e.strerror}")
        try:
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))
        except OSError as e:
            # gVisor answers ENOTTY, and its lo is up already.
            flags = struct.unpack_from("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
            if not flags & IFF_UP:
                skip(f"cannot bring lo up: SIOCSIFFLAGS: {e.strerror}")


def v6_ready(hexaddr):
    """Whether an address is on an interface, not tentative, with its local route."""
    present = routed = False
    with open("/proc/self/net/if_inet6") as f:
        for line in f:
            fields = line.split()
            if fields[0] == hexaddr and not int(fields[4], 16) & 0x40:  # IFA_F_TENTATIVE
                present = True
    with open("/proc/self/net/ipv6_route") as f:
        for line in f:
            fields = line.split()
            if fields[0] == hexaddr and int(fields[8], 16) & 0x80000000:  # RTF_LOCAL
                routed = True
    return present and routed


def add_address(ip):
    v6 = ":" in ip
    cmd = ["ip", "addr", "add", f"{ip}/{128 if v6 else 32}", "dev", "lo"]
    cmd += ["nodad"] if v6 else []
    try:
        rc = subprocess.run(cmd).returncode
    except OSError as e:
        rc = e.strerror
    if rc != 0:
        skip(f"`{' '.join(cmd)}` failed ({rc})")
    if not v6:
        return
    # An IPv6 address starts tentative even with nodad, until the kernel's worker runs.
    hexaddr = socket.inet_pton(socket.AF_INET6, ip).hex()
    for _ in range(500):
        if v6_ready(hexaddr):
            return
        time.sleep(0.01)
    skip(f"IPv6 address {ip} did not become usable within 5 s")


def set_sysctl(key, value):
    try:
        write_text(sysctl_path(key), value + "\n")
    except FileNotFoundError:
        skip(f"cannot set {key}={value}: this kernel has no such sysctl")
    except OSError as e:
        skip(f"cannot set {key}={value}: {e.strerror}")
    with open(sysctl_path(key)) as f:
        back = " ".join(f.read().split())  # tabs in port ranges made single spaces
    if back != value:
        skip(f"set {key}={value}, but it reads back as {back}")


def start():
    global started
    print("TAP version 13")
    if TITLE:
        print("# " + TITLE)
    u = os.uname()
    print(f"# kernel {u.release} {u.machine}", flush=True)
    enter_namespace()
    if OTHER_UID and (in_user_namespace or os.geteuid() != 0):
        skip(f"sockets of uid {OTHER_UID} need real root "
             "(setfsuid/setresuid to a uid other than 0)")
    lo_up()
    for ip in ADDRESSES:
        add_address(ip)
    try:
        ok = subprocess.run(["sh", "-c", QUICKACK_SCRIPT]).returncode == 0
    except OSError:
        ok = False
    if not ok:
        print("# note: could not set quickack on lo's routes; the ACK of a FIN may be delayed")
    for key, value in SYSCTLS:
        set_sysctl(key, value)
    print("# in a new network namespace" + (" (in a user namespace)" if in_user_namespace else ""))
    print(f"1..{NSTEPS}", flush=True)
    started = True


def finish():
    print(f"# Totals: pass:{passed} fail:{failed} xfail:0 xpass:0 skip:0 error:0", flush=True)
    return 1 if failed else 0


# ------------------------------------------------------------------------------------------

