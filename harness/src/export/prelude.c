/* ---------------------------------------------------------------------------------------- */
/* The prelude: one helper per call, the namespace setup and the table check.                */

#define BLOCK_BOUND_MS 100  /* a blocking call still waiting after this long is BLOCKS */
#define SETTLE_BUDGET_MS 50 /* the longest wait for the table to stop changing after a call */
#define NO_VAR (-1)
#define WANT(...) ((const char *const[]){__VA_ARGS__, NULL})
#define UNCHECKED NULL

struct sock {
    int fd;                         /* -1: not open (closed, or never created) */
    int nonblocking;                /* created with SOCK_NONBLOCK */
    unsigned uid;                   /* created as this user: bind() and accept() run as it */
    int lingers;                    /* SO_LINGER on with a time: close() may block */
    int locked;                     /* bound to a port it named: keeps it in CLOSE */
    int active;                     /* has listened or connected: in CLOSE its port may be gone */
    struct sockaddr_storage remote; /* the last peer it had, or asked for */
};

struct sock S[NSOCKS + 1];
int var_port[NVARS + 1];
int started, passed, failed, in_user_namespace;
int step, checked;
const char *step_call;
char step_got[64], problem[4096], notes[4096], result[64];

/* The program cannot run here: say why and exit with KSFT_SKIP (or 1 after a failure). */
void skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(started ? "# SKIP " : "1..0 # SKIP ", stdout);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    if (started)
        printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:1 error:0\n", passed, failed);
    exit(failed ? 1 : 4);
}

void add(char *buf, size_t cap, const char *fmt, ...)
{
    size_t used = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    if (used < cap)
        vsnprintf(buf + used, cap - used, fmt, ap);
    va_end(ap);
}

const char *errno_name(int e)
{
    static char other[16];
    for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
        if (errno_names[i].number == e)
            return errno_names[i].name;
    snprintf(other, sizeof other, "E?%d", e);
    return other;
}

const char *failure(int e)
{
    snprintf(result, sizeof result, "-1 %s", errno_name(e));
    return result;
}

const char *count(long n)
{
    snprintf(result, sizeof result, "%ld", n);
    return result;
}

double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* An address passed literally: an IPv4 address is a sockaddr_in, whatever the socket. */
socklen_t sockaddr_of(const char *ip, int port, struct sockaddr_storage *ss)
{
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof *ss);
    if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        return sizeof *a4;
    }
    inet_pton(AF_INET6, ip, &a6->sin6_addr);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    return sizeof *a6;
}

int port_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return 0;
}

const char *addr_text(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, ip, sizeof ip);
        snprintf(buf, cap, "%s:%d", ip, port_of(ss));
    } else {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, ip, sizeof ip);
        snprintf(buf, cap, "[%s]:%d", ip, port_of(ss));
    }
    return buf;
}

/* A port as a call passes it: a number, or a variable's value (0 when it has none). */
int port_value(int port, int var)
{
    if (var == NO_VAR)
        return port;
    return var_port[var] < 0 ? 0 : var_port[var];
}

void capture(int var, int port)
{
    if (var == NO_VAR || port == 0)
        return;
    var_port[var] = port;
    add(notes, sizeof notes, "# $%s = %d\n", var_names[var], port);
}

/* A variable the scenario takes from a table row: the program knows it only if a descriptor
   showed that row. */
void need(int var)
{
    if (var_port[var] < 0)
        skip("$%s has no value at call %d: the scenario takes it from a table row that no "
             "descriptor shows",
             var_names[var], step);
}

int local_port(int i)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(S[i].fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    return port_of(&ss);
}

int tcp_state(int fd)
{
    struct tcp_info info;
    socklen_t len = sizeof info;
    memset(&info, 0, sizeof info);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0)
        return -1;
    return info.tcpi_state;
}

const char *state_name(int state)
{
    if (state > 0 && state < (int)(sizeof state_names / sizeof state_names[0]) &&
        state_names[state])
        return state_names[state];
    return "?";
}

/* ---- Waiting for the table to settle ---------------------------------------------------- */

struct entry {
    char local[48], remote[48];
    unsigned state, tx, rx, timer;
};
static struct entry entries[1024];

/* v4-mapped addresses of /proc/net/tcp6 as /proc/net/tcp writes IPv4 ones. */
void unmap(char *hexaddr)
{
    if (strncmp(hexaddr, "0000000000000000FFFF0000", 24) == 0)
        memmove(hexaddr, hexaddr + 24, strlen(hexaddr + 24) + 1);
}

/* One reading of /proc/net/tcp and tcp6 (the rows, as text), and how many rows have output
   in flight toward another row of the table. -1: the files cannot be read. */
int read_tcp(char *out, size_t cap, int *busy)
{
    const char *files[] = {"/proc/self/net/tcp", "/proc/self/net/tcp6"};
    int n = 0, readable = 0;
    char line[512];
    for (int f = 0; f < 2; f++) {
        FILE *fp = fopen(files[f], "r");
        if (!fp)
            continue;
        readable = 1;
        if (!fgets(line, sizeof line, fp)) { /* the header */
            fclose(fp);
            continue;
        }
        while (n < 1024 && fgets(line, sizeof line, fp)) {
            struct entry *e = &entries[n];
            if (sscanf(line, "%*s %47s %47s %x %x:%x %x", e->local, e->remote, &e->state, &e->tx,
                       &e->rx, &e->timer) != 6)
                continue;
            unmap(e->local);
            unmap(e->remote);
            n++;
        }
        fclose(fp);
    }
    if (!readable)
        return -1;
    out[0] = '\0';
    *busy = 0;
    for (int i = 0; i < n; i++) {
        add(out, cap, "%s %s %x %x %x\n", entries[i].local, entries[i].remote, entries[i].state,
            entries[i].tx, entries[i].rx);
        /* Output not held back by a zero window (probe timer 4), toward a row we see. */
        if (entries[i].tx == 0 || entries[i].timer == 4)
            continue;
        for (int j = 0; j < n; j++)
            if (strcmp(entries[j].local, entries[i].remote) == 0 &&
                strcmp(entries[j].remote, entries[i].local) == 0) {
                ++*busy;
                break;
            }
    }
    return 0;
}

/* Waits until two readings of the table agree and nothing is in flight (at most
   SETTLE_BUDGET_MS), as tcpconform reads a settled table after every call. */
void settle(void)
{
    static char previous[65536], current[65536];
    double start = now_ms();
    long pause_us = 50;
    int have_previous = 0, busy = 0;
    for (;;) {
        if (read_tcp(current, sizeof current, &busy) != 0)
            return;
        int stable = have_previous && strcmp(previous, current) == 0;
        if (stable && busy == 0)
            return;
        if (have_previous && now_ms() - start + pause_us / 1e3 > SETTLE_BUDGET_MS)
            return;
        if (busy || have_previous) {
            usleep(pause_us);
            pause_us = pause_us * 2 > 2000 ? 2000 : pause_us * 2;
        }
        memcpy(previous, current, sizeof previous);
        have_previous = 1;
    }
}

/* ---- The calls --------------------------------------------------------------------------- */

/* After a call on socket i: remember its peer, let the table settle. */
const char *done(int i, const char *r)
{
    if (i >= 0 && S[i].fd >= 0) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getpeername(S[i].fd, (struct sockaddr *)&ss, &len) == 0)
            S[i].remote = ss;
    }
    settle();
    return r;
}

/* `Blocks` when the socket is blocking and the errno is one its timeout gives. */
const char *blocks_or(int i, int e, int timeout_errno, int other_timeout_errno)
{
    if (!S[i].nonblocking && (e == timeout_errno || e == other_timeout_errno))
        return "BLOCKS";
    return failure(e);
}

unsigned enter_fsuid(unsigned uid)
{
    unsigned previous = setfsuid(uid);
    if ((unsigned)setfsuid((uid_t)-1) != uid) {
        setfsuid(previous);
        skip("cannot create a socket as uid %u: setfsuid() had no effect (it needs CAP_SETUID)",
             uid);
    }
    return previous;
}

void set_euid(unsigned uid)
{
    if (setresuid((uid_t)-1, uid, (uid_t)-1) != 0)
        skip("cannot call bind() as uid %u: setresuid: %s", uid, strerror(errno));
}

void bound_blocking(int fd)
{
    struct timeval tv = {BLOCK_BOUND_MS / 1000, (BLOCK_BOUND_MS % 1000) * 1000};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
        skip("setting SO_RCVTIMEO/SO_SNDTIMEO: %s", strerror(errno));
}

void new_sock(int i, int fd, int nonblocking, unsigned uid)
{
    memset(&S[i], 0, sizeof S[i]);
    S[i].fd = fd;
    S[i].nonblocking = nonblocking;
    S[i].uid = uid;
    if (!nonblocking)
        bound_blocking(fd);
}

const char *op_socket(int i, int family, int nonblocking, unsigned uid)
{
    unsigned previous = uid ? enter_fsuid(uid) : 0;
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    int e = errno;
    if (uid)
        setfsuid(previous);
    if (fd < 0)
        return done(-1, failure(e));
    new_sock(i, fd, nonblocking, uid);
    return done(i, "0");
}

const char *op_setsockopt(int i, int level, int name, int value)
{
    if (S[i].fd < 0)
        return done(-1, failure(EBADF));
    if (setsockopt(S[i].fd, level, name, &value, sizeof value) != 0)
        return done(i, failure(errno));
    return done(i, "0");
}

const char *op_linger(int i, int on, int secs)
{
    struct linger l = {on, secs};
    if (S[i].fd < 0)
        return done(-1, failure(EBADF));
    if (setsockopt(S[i].fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) != 0)
        return done(i, failure(errno));
    S[i].lingers = on && secs != 0;
    return done(i, "0");
}

const char *op_so_error(int i)
{
    int value = 0;
    socklen_t len = sizeof value;
    if (S[i].fd < 0)
        return done(-1, failure(EBADF));
    if (getsockopt(S[i].fd, SOL_SOCKET, SO_ERROR, &value, &len) != 0)
        return done(i, failure(errno));
    if (value == 0)
        return done(i, "[0]");
    snprintf(result, sizeof result, "[%s]", errno_name(value));
    return done(i, result);
}

const char *op_bind(int i, const char *ip, int port, int var)
{
    struct sockaddr_storage ss;
    int p = port_value(port, var), captures = var != NO_VAR && var_port[var] < 0;
    socklen_t len = sockaddr_of(ip, p, &ss);
    if (S[i].fd < 0)
        return done(-1, failure(EBADF));
    if (S[i].uid) /* as that user: without CAP_NET_BIND_SERVICE */
        set_euid(S[i].uid);
    int rc = bind(S[i].fd, (struct sockaddr *)&ss, len), e = errno;
    if (S[i].uid)
        set_euid(0);
    if (rc != 0)
        return done(i, failure(e));
    S[i].locked |= p != 0;
    if (captures)
        capture(var, local_port(i));
    return done(i, "0");
}

const char *op_listen(int i, int backlog)
{
    if (S[i].fd < 0)
        return done(-1, failure(EBADF));
    S[i].active = 1;
    if (listen(S[i].fd, backlog) != 0)
        return done(i, failure(errno));
    return done(i, "0");
}

const char *op_connect(int i, const char *ip, int port, int var, int local_var)
{
    const char *r = "0";
    int keeps_port = 1;
    if (S[i].fd < 0)
        return done(-1, failure(EBADF));
    socklen_t len = sockaddr_of(ip, port_value(port, var), &S[i].remote);
    S[i].active = 1;
    if (connect(S[i].fd, (struct sockaddr *)&S[i].remote, len) != 0) {
        int e = errno;
        r = blocks_or(i, e, EINPROGRESS, EALREADY);
        /* A connection that failed back into CLOSE gave back a port it did not bind itself
           (getsockname() still shows it). */
        if (!S[i].locked && tcp_state(S[i].fd) == TCP_CLOSE &&
            (e == ECONNREFUSED || e == ETIMEDOUT || e == ECONNRESET || e == EHOSTUNREACH))
            keeps_port = 0;
    }
    if (keeps_port)
        capture(local_var, local_port(i));
    return done(i, r);
}

const char *op_accept(int listener, int i, int peer_var)
{
    if (S[listener].fd < 0)
        return done(-1, failure(EBADF));
    /* As the listener's user: the new socket belongs to it. */
    unsigned uid = S[listener].uid, previous = uid ? enter_fsuid(uid) : 0;
    int fd = accept4(S[listener].fd, NULL, NULL, SOCK_CLOEXEC), e = errno;
    if (uid)
        setfsuid(previous);
    if (fd < 0)
        return done(-1, blocks_or(listener, e, EAGAIN, EWOULDBLOCK));
    new_sock(i, fd, 0, uid); /* blocking, whatever its listener is */
    S[i].active = 1;
    done(i, "0");
    capture(peer_var, port_of(&S[i].remote));
    return "0";
}

/* accept(l1|l2|...): poll the listeners (up to the bound when the first listed is blocking),
   accept from the first readable one in listed order; when none is, accept from the first
   without waiting (a blocking one is BLOCKS: it waited in poll()). */
const char *op_accept_any(const int *listeners, int n, int i, int peer_var)
{
    struct pollfd p[NSOCKS + 1];
    int first = listeners[0];
    for (int k = 0; k < n; k++) {
        p[k].fd = S[listeners[k]].fd; /* poll() ignores a negative (closed) one */
        p[k].events = POLLIN;
        p[k].revents = 0;
    }
    if (poll(p, (nfds_t)n, S[first].nonblocking ? 0 : BLOCK_BOUND_MS) < 0)
        skip("poll: %s", strerror(errno));
    for (int k = 0; k < n; k++)
        if (p[k].revents & POLLIN)
            return op_accept(listeners[k], i, peer_var);
    if (S[first].fd < 0)
        return op_accept(first, i, peer_var);
    int flags = fcntl(S[first].fd, F_GETFL);
    fcntl(S[first].fd, F_SETFL, flags | O_NONBLOCK);
    const char *r = op_accept(first, i, peer_var);
    fcntl(S[first].fd, F_SETFL, flags);
    return r;
}

const char *op_send(int i, long len)
{
    if (S[i].fd < 0)
        return done(-1, failure(EBADF));
    char *buf = calloc(len ? len : 1, 1);
    if (!buf)
        skip("out of memory");
    double started_ms = now_ms();
    ssize_t n = send(S[i].fd, buf, len, MSG_NOSIGNAL);
    int e = errno;
    double waited = now_ms() - started_ms;
    free(buf);
    if (n < 0)
        return done(i, blocks_or(i, e, EAGAIN, EWOULDBLOCK));
    if (n == 0)
        return done(i, "0");
    /* A blocking send that returns short after waiting the whole bound was cut by its
       timeout: left alone it would still be blocked. */
    if (!S[i].nonblocking && n < len && waited >= BLOCK_BOUND_MS)
        return done(i, "BLOCKS");
    return done(i, count(n));
}

const char *op_recv(int i, long len)
{
    if (S[i].fd < 0)
        return done(-1, failure(EBADF));
    char *buf = malloc(len ? len : 1);
    if (!buf)
        skip("out of memory");
    ssize_t n = recv(S[i].fd, buf, len, 0);
    int e = errno;
    free(buf);
    if (n < 0)
        return done(i, blocks_or(i, e, EAGAIN, EWOULDBLOCK));
    return done(i, n == 0 ? "EOF" : count(n));
}

const char *op_shutdown(int i, int how)
{
    if (S[i].fd < 0)
        return done(-1, failure(EBADF));
    if (shutdown(S[i].fd, how) != 0)
        return done(i, failure(errno));
    return done(i, "0");
}

void on_alarm(int sig)
{
    (void)sig;
}

/* A lingering close() is interrupted after BLOCK_BOUND_MS: the socket carries on as an
   orphan, as after its linger time, and close() counts as 0 as it would have. */
const char *op_close(int i)
{
    if (S[i].fd < 0)
        return done(-1, failure(EBADF));
    if (S[i].lingers) {
        struct sigaction sa;
        struct itimerval bound = {{0, 0}, {BLOCK_BOUND_MS / 1000, (BLOCK_BOUND_MS % 1000) * 1000}};
        struct itimerval off = {{0, 0}, {0, 0}};
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_alarm; /* no SA_RESTART: the signal ends the wait */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGALRM, &sa, NULL);
        setitimer(ITIMER_REAL, &bound, NULL);
        close(S[i].fd);
        setitimer(ITIMER_REAL, &off, NULL);
    } else {
        close(S[i].fd);
    }
    S[i].fd = -1;
    return done(-1, "0");
}

const char *op_sleep(long long ms)
{
    struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
    return done(-1, "0");
}

void sysctl_path(const char *key, char *path, size_t cap)
{
    snprintf(path, cap, "/proc/sys/%s", key);
    for (char *p = path + strlen("/proc/sys/"); *p; p++)
        if (*p == '.')
            *p = '/';
}

/* A sysctl of the program's namespace, as a call: a value the kernel refuses is its result. */
const char *op_sysctl(const char *key, const char *value)
{
    char path[256], text[256];
    sysctl_path(key, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        skip("cannot write sysctl %s: %s", key,
             errno == ENOENT ? "this kernel has no such sysctl" : strerror(errno));
    int n = snprintf(text, sizeof text, "%s\n", value);
    ssize_t w = write(fd, text, n);
    int e = errno;
    close(fd);
    return done(-1, w < 0 ? failure(e) : "0");
}

/* ---- Steps and their checks -------------------------------------------------------------- */

void begin(int n, const char *call)
{
    step = n;
    step_call = call;
    checked = 0;
    problem[0] = notes[0] = '\0';
}

void expect(const char *got, const char *const *want)
{
    snprintf(step_got, sizeof step_got, "%s", got);
    if (!want)
        return;
    checked = 1;
    for (int i = 0; want[i]; i++)
        if (strcmp(got, want[i]) == 0)
            return;
    add(problem, sizeof problem, "expected ");
    for (int i = 0; want[i]; i++)
        add(problem, sizeof problem, "%s%s", i ? " | " : "", want[i]);
    add(problem, sizeof problem, ", got %s", got);
}

void end(void)
{
    if (problem[0]) {
        failed++;
        if (strncmp(problem, "expected", 8) == 0)
            printf("not ok %d - %s: %s\n", step, step_call, problem);
        else
            printf("not ok %d - %s = %s: %s\n", step, step_call, step_got, problem);
    } else {
        passed++;
        printf("ok %d - %s = %s%s\n", step, step_call, step_got, checked ? "" : " # not checked");
    }
    fputs(notes, stdout);
}

/* An expected table row; a NULL peer_ip is `*`. */
struct row {
    const char *state;
    const char *ip;
    int port, var;
    const char *peer_ip;
    int peer_port, peer_var;
};

/* What one open descriptor shows. */
struct seen {
    int sock;
    const char *state;
    struct sockaddr_storage local, remote;
    int peer; /* 0: none (*); 1: remote; 2: none, or remote (a reset connection keeps it) */
    int sure; /* 0: may have given its port back, and be in no row */
};

int tentative[NVARS + 1], trail[2 * NSOCKS + 2], ntrail;

void undo(int mark)
{
    while (ntrail > mark)
        tentative[trail[--ntrail]] = -1;
}

int same_ip(const struct sockaddr_storage *a, const char *ip)
{
    struct sockaddr_storage b;
    sockaddr_of(ip, 0, &b);
    if (a->ss_family != b.ss_family)
        return 0;
    if (a->ss_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                      &((const struct sockaddr_in *)&b)->sin_addr, 4) == 0;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)&b)->sin6_addr, 16) == 0;
}

/* A port against a number or a variable; a variable without a value takes this port. */
int port_matches(int port, int var, int got)
{
    if (var == NO_VAR)
        return port == got;
    int have = var_port[var] >= 0 ? var_port[var] : tentative[var];
    if (have >= 0)
        return have == got;
    tentative[var] = got;
    trail[ntrail++] = var;
    return 1;
}

int row_matches(const struct seen *s, const struct row *r)
{
    /* No descriptor is in TIME-WAIT on Linux: tcp_time_wait() hands the connection to a
       timewait minisocket and leaves the socket in CLOSE. An expected TIME-WAIT row is a
       minisocket's, never a descriptor's. */
    if (strcmp(s->state, "TIME-WAIT") == 0)
        return 0;
    if (strcmp(s->state, r->state) != 0 || !same_ip(&s->local, r->ip) ||
        !port_matches(r->port, r->var, port_of(&s->local)))
        return 0;
    if (!r->peer_ip)
        return s->peer != 1;
    return s->peer != 0 && same_ip(&s->remote, r->peer_ip) &&
           port_matches(r->peer_port, r->peer_var, port_of(&s->remote));
}

/* The open descriptors that are in the table: those with a port (a bound socket in CLOSE only
   where the scenario's kernel lists those). */
int collect(struct seen *out)
{
    int n = 0;
    for (int i = 0; i < NSOCKS; i++) {
        struct seen *s = &out[n];
        socklen_t len = sizeof s->local;
        if (S[i].fd < 0 || getsockname(S[i].fd, (struct sockaddr *)&s->local, &len) != 0 ||
            port_of(&s->local) == 0)
            continue;
        int state = tcp_state(S[i].fd);
        s->sock = i;
        s->state = state_name(state);
        s->sure = 1;
        s->peer = 0;
        len = sizeof s->remote;
        if (getpeername(S[i].fd, (struct sockaddr *)&s->remote, &len) == 0) {
            s->peer = port_of(&s->remote) != 0;
        } else if (state == TCP_SYN_SENT) { /* getpeername() says ENOTCONN */
            s->remote = S[i].remote;
            s->peer = port_of(&s->remote) != 0;
        } else if (state == TCP_CLOSE) {
            if (!TABLE_HAS_BOUND_SOCKETS)
                continue;
            s->remote = S[i].remote;
            s->peer = port_of(&s->remote) != 0 ? 2 : 0;
            /* An unbound port taken by connect() or listen() goes back when the socket
               returns to CLOSE, though getsockname() still shows it. */
            s->sure = S[i].locked || !S[i].active;
        }
        n++;
    }
    return n;
}

/* Pairs descriptors k.. with distinct expected rows (a descriptor that is not sure may stay
   unpaired). */
int pair(const struct seen *seen, int n, int k, const struct row *rows, int nrows, int *used,
         long *budget)
{
    if (k == n)
        return 1;
    if (--*budget < 0)
        return 0;
    for (int r = 0; r < nrows; r++) {
        int mark = ntrail;
        if (!used[r] && row_matches(&seen[k], &rows[r])) {
            used[r] = 1;
            if (pair(seen, n, k + 1, rows, nrows, used, budget))
                return 1;
            used[r] = 0;
        }
        undo(mark);
    }
    return !seen[k].sure && pair(seen, n, k + 1, rows, nrows, used, budget);
}

const char *seen_text(const struct seen *s, char *buf, size_t cap)
{
    char local[64], remote[64];
    addr_text(&s->local, local, sizeof local);
    if (s->peer == 1)
        addr_text(&s->remote, remote, sizeof remote);
    else
        snprintf(remote, sizeof remote, "*");
    snprintf(buf, cap, "%s %s %s (%s)", s->state, local, remote, sock_names[s->sock]);
    return buf;
}

/* Checks that every open descriptor with a port matches one expected row. */
void table(const struct row *rows, int nrows)
{
    struct seen seen[NSOCKS + 1];
    int n = collect(seen), *used = calloc(nrows + 1, sizeof *used);
    long budget = 200000;
    char text[256];
    if (!used)
        skip("out of memory");
    for (int v = 0; v <= NVARS; v++)
        tentative[v] = -1;
    ntrail = 0;
    if (pair(seen, n, 0, rows, nrows, used, &budget)) {
        for (int v = 0; v < NVARS; v++)
            if (tentative[v] >= 0 && var_port[v] < 0)
                capture(v, tentative[v]);
        free(used);
        return;
    }
    /* Explain with a greedy pairing: the descriptors no expected row is left for. */
    undo(0);
    memset(used, 0, (nrows + 1) * sizeof *used);
    add(problem, sizeof problem, "%stable:", problem[0] ? "; " : "");
    int named = 0;
    for (int k = 0; k < n; k++) {
        int found = 0;
        for (int r = 0; r < nrows && !found; r++) {
            int mark = ntrail;
            if (!used[r] && row_matches(&seen[k], &rows[r]))
                used[r] = found = 1;
            else
                undo(mark);
        }
        if (!found && seen[k].sure) {
            add(problem, sizeof problem, "%s unexpected row %s", named ? "," : "",
                seen_text(&seen[k], text, sizeof text));
            named = 1;
        }
    }
    if (!named)
        add(problem, sizeof problem, " the descriptors do not pair with distinct expected rows");
    undo(0);
    add(notes, sizeof notes, "#   the descriptors show:%s\n", n ? "" : " nothing");
    for (int k = 0; k < n; k++)
        add(notes, sizeof notes, "#     %s%s\n", seen_text(&seen[k], text, sizeof text),
            seen[k].sure ? "" : " (may have given its port back)");
    free(used);
}

/* ---- Setup: a network namespace of our own ----------------------------------------------- */

int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    return n < 0 ? e : 0;
}

/* A number from a /proc file (0 when it cannot be read). */
long read_long(const char *path)
{
    long n = 0;
    FILE *fp = fopen(path, "r");
    if (fp) {
        if (fscanf(fp, "%ld", &n) != 1)
            n = 0;
        fclose(fp);
    }
    return n;
}

void set_sysctl(const char *key, const char *value);

void enter_namespace(void)
{
    struct stat before, after;
    char map[64], first[128];
    unsigned uid = geteuid(), gid = getegid();
    long shared = labs(read_long("/proc/sys/net/ipv4/tcp_ehash_entries"));
    int e;
    if (stat("/proc/self/ns/net", &before) != 0)
        skip("cannot read /proc/self/ns/net: %s", strerror(errno));
    if (unshare(CLONE_NEWNET) != 0) {
        snprintf(first, sizeof first, "%s", strerror(errno));
        if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0)
            skip("no network namespace of our own: unshare(CLONE_NEWNET): %s; "
                 "unshare(CLONE_NEWUSER | CLONE_NEWNET): %s",
                 first, strerror(errno));
        in_user_namespace = 1;
        snprintf(map, sizeof map, "0 %u 1\n", uid);
        if ((e = write_text("/proc/self/uid_map", map)) != 0)
            skip("writing /proc/self/uid_map: %s", strerror(e));
        if ((e = write_text("/proc/self/setgroups", "deny")) != 0 && e != ENOENT)
            skip("writing /proc/self/setgroups: %s", strerror(e));
        snprintf(map, sizeof map, "0 %u 1\n", gid);
        if ((e = write_text("/proc/self/gid_map", map)) != 0)
            skip("writing /proc/self/gid_map: %s", strerror(e));
    }
    if (stat("/proc/self/ns/net", &after) != 0 ||
        (after.st_ino == before.st_ino && after.st_dev == before.st_dev))
        skip("unshare() left the program in its original network namespace");
    /* As tcpconform's sandbox: the namespace made so far is a scratch one whose children get a
       small private established-hash table, for /proc/net/tcp (read after every call) walks
       the whole table, 262144 buckets when shared. The kernel sizes two defaults by the table
       (tcp_set_hashinfo()); they are written back to what the shared table gives. */
    if (shared > 0 && write_text("/proc/sys/net/ipv4/tcp_child_ehash_entries", "1024\n") == 0 &&
        unshare(CLONE_NEWNET) == 0 && read_long("/proc/sys/net/ipv4/tcp_ehash_entries") > 0) {
        snprintf(map, sizeof map, "%ld", shared / 2);
        set_sysctl("net.ipv4.tcp_max_tw_buckets", map);
        snprintf(map, sizeof map, "%ld", shared / 128 > 128 ? shared / 128 : 128);
        set_sysctl("net.ipv4.tcp_max_syn_backlog", map);
    }
}

void lo_up(void)
{
    struct ifreq req;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        skip("socket(AF_INET, SOCK_DGRAM): %s", strerror(errno));
    memset(&req, 0, sizeof req);
    snprintf(req.ifr_name, sizeof req.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &req) != 0)
        skip("SIOCGIFFLAGS on lo: %s", strerror(errno));
    req.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &req) != 0) {
        /* gVisor answers ENOTTY, and its lo is up already. */
        int e = errno;
        if (ioctl(fd, SIOCGIFFLAGS, &req) != 0 || !(req.ifr_flags & IFF_UP))
            skip("cannot bring lo up: SIOCSIFFLAGS: %s", strerror(e));
    }
    close(fd);
}

/* Whether `hex` (32 hex digits) is on an interface, not tentative, with its local route. */
int v6_ready(const char *hex)
{
    char addr[40], line[512];
    unsigned flags, a, b, c;
    int present = 0, routed = 0;
    FILE *fp = fopen("/proc/self/net/if_inet6", "r");
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "%39s %x %x %x %x", addr, &a, &b, &c, &flags) == 5 &&
            strcasecmp(addr, hex) == 0 && !(flags & 0x40 /* IFA_F_TENTATIVE */))
            present = 1;
    if (fp)
        fclose(fp);
    fp = fopen("/proc/self/net/ipv6_route", "r");
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "%39s %*s %*s %*s %*s %*s %*s %*s %x", addr, &flags) == 2 &&
            strcasecmp(addr, hex) == 0 && (flags & 0x80000000u /* RTF_LOCAL */))
            routed = 1;
    if (fp)
        fclose(fp);
    return present && routed;
}

void add_address(const char *ip)
{
    char cmd[256], hex[33];
    unsigned char a[16];
    int v6 = strchr(ip, ':') != NULL;
    snprintf(cmd, sizeof cmd, "ip addr add %s/%d dev lo%s", ip, v6 ? 128 : 32, v6 ? " nodad" : "");
    int rc = system(cmd);
    if (rc != 0)
        skip("`%s` failed (status %d)", cmd, rc);
    if (!v6)
        return;
    /* An IPv6 address starts tentative even with nodad, until the kernel's worker runs. */
    inet_pton(AF_INET6, ip, a);
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", a[i]);
    for (int tries = 0; tries < 500; tries++) {
        if (v6_ready(hex))
            return;
        usleep(10000);
    }
    skip("IPv6 address %s did not become usable within 5 s", ip);
}

void set_sysctl(const char *key, const char *value)
{
    char path[256], text[256], back[256];
    int e, j = 0;
    sysctl_path(key, path, sizeof path);
    snprintf(text, sizeof text, "%s\n", value);
    if ((e = write_text(path, text)) != 0)
        skip("cannot set %s=%s: %s", key, value,
             e == ENOENT ? "this kernel has no such sysctl" : strerror(e));
    FILE *fp = fopen(path, "r");
    if (!fp || !fgets(back, sizeof back, fp))
        skip("cannot read %s back", path);
    fclose(fp);
    /* As /proc/sys prints it, whitespace (tabs in port ranges) made single spaces. */
    for (int i = 0; back[i]; i++) {
        int space = back[i] == ' ' || back[i] == '\t' || back[i] == '\n';
        if (!space)
            back[j++] = back[i];
        else if (j > 0 && back[j - 1] != ' ')
            back[j++] = ' ';
    }
    while (j > 0 && back[j - 1] == ' ')
        j--;
    back[j] = '\0';
    if (strcmp(back, value) != 0)
        skip("set %s=%s, but it reads back as %s", key, value, back);
}

void start(const char *title)
{
    struct utsname u;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i <= NSOCKS; i++)
        S[i].fd = -1;
    for (int v = 0; v <= NVARS; v++)
        var_port[v] = -1;
    printf("TAP version 13\n");
    if (title[0])
        printf("# %s\n", title);
    if (uname(&u) == 0)
        printf("# kernel %s %s\n", u.release, u.machine);
    enter_namespace();
    if (OTHER_UID && (in_user_namespace || geteuid() != 0))
        skip("sockets of uid %d need real root (setfsuid/setresuid to a uid other than 0)",
             OTHER_UID);
    lo_up();
    for (int i = 0; addresses[i]; i++)
        add_address(addresses[i]);
    if (system(quickack_script) != 0)
        printf("# note: could not set quickack on lo's routes; the ACK of a FIN may be "
               "delayed\n");
    for (int i = 0; sysctls[i][0]; i++)
        set_sysctl(sysctls[i][0], sysctls[i][1]);
    printf("# in a new network namespace%s\n", in_user_namespace ? " (in a user namespace)" : "");
    printf("1..%d\n", NSTEPS);
    started = 1;
}

int finish(void)
{
    printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:0 error:0\n", passed, failed);
    return failed ? 1 : 0;
}

/* ---------------------------------------------------------------------------------------- */

