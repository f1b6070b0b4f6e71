//! The Linux-only system calls: per-thread credentials, `TCP_INFO`, interface ioctls and the
//! signal that bounds a lingering `close()`.

use std::mem::zeroed;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;
use std::time::Duration;

use libc::{c_int, c_void, socklen_t};

use super::last_errno;

/// The first `N` bytes of `getsockopt(fd, IPPROTO_TCP, TCP_INFO)`; `EINVAL` when the kernel's
/// `struct tcp_info` is shorter.
fn tcp_info<const N: usize>(fd: BorrowedFd<'_>) -> Result<[u8; N], i32> {
    let mut info = [0u8; N];
    let mut len = N as socklen_t;
    // SAFETY: `fd` is live; `info` is a writable local buffer whose size is in `len`, and the
    // kernel writes at most `len` bytes (tcp_get_info() copies min(len, sizeof(tcp_info))).
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast::<c_void>(),
            &raw mut len,
        )
    };
    if rc != 0 {
        return Err(last_errno());
    }
    if (len as usize) < N {
        return Err(libc::EINVAL);
    }
    Ok(info)
}

/// The native-endian `u32` at offset `i` of a `struct tcp_info`.
fn u32_at(info: &[u8], i: usize) -> u32 {
    u32::from_ne_bytes([info[i], info[i + 1], info[i + 2], info[i + 3]])
}

/// The head of `TCP_INFO`: the state of any socket and, for a listener (`tcp_get_info()`
/// returns early for one, with two fields aliased), its queues. `struct tcp_info`
/// (`include/uapi/linux/tcp.h`) starts with eight `u8` fields, `tcpi_state` first, then `u32`
/// fields (native-endian): `tcpi_state`, `tcpi_unacked` (offset 24: the connections ready for
/// `accept()`, `sk_ack_backlog`) and `tcpi_sacked` (offset 28: the backlog,
/// `sk_max_ack_backlog`), sock_diag's `idiag_rqueue` and `idiag_wqueue` for a listener.
pub(crate) fn tcp_info_head(fd: BorrowedFd<'_>) -> Result<(u8, u32, u32), i32> {
    let info = tcp_info::<32>(fd)?;
    Ok((info[0], u32_at(&info, 24), u32_at(&info, 28)))
}

/// The raw `setfsuid` system call on the calling thread only (glibc's wrapper is also
/// per-thread, but the raw call makes that explicit). Returns the previous fsuid.
///
/// The kernel does not report failure: an unmapped or unpermitted uid leaves the fsuid as it
/// was. Callers check with [`fsuid`].
pub(crate) fn set_fsuid(uid: u32) -> u32 {
    // SAFETY: setfsuid takes an integer and touches only the calling thread's credentials.
    let prev = unsafe { libc::syscall(libc::SYS_setfsuid, libc::c_long::from(uid)) };
    prev as u32
}

/// The raw `setresuid(-1, uid, -1)` system call on the calling thread only (glibc's wrapper
/// would change every thread of the process). A non-zero effective uid clears the thread's
/// effective capabilities; going back to 0 restores them from the permitted set.
pub(crate) fn set_thread_euid(uid: u32) -> Result<(), i32> {
    // SAFETY: setresuid takes three integers (-1: unchanged) and touches only the calling
    // thread's credentials.
    let r = unsafe {
        libc::syscall(
            libc::SYS_setresuid,
            -1 as libc::c_long,
            libc::c_long::from(uid),
            -1 as libc::c_long,
        )
    };
    if r < 0 { Err(last_errno()) } else { Ok(()) }
}

/// The calling thread's fsuid (`setfsuid(-1)` changes nothing and returns it).
pub(crate) fn fsuid() -> u32 {
    // SAFETY: as in `set_fsuid`; -1 is never a valid uid, so nothing changes.
    let cur = unsafe { libc::syscall(libc::SYS_setfsuid, -1 as libc::c_long) };
    cur as u32
}

/// A throwaway datagram socket and an `ifreq` naming `name`, for the interface ioctls.
fn ifreq_for(name: &str) -> Result<(OwnedFd, libc::ifreq), i32> {
    if name.len() >= libc::IFNAMSIZ {
        return Err(libc::EINVAL);
    }
    // SAFETY: plain socket(2) call; the result is checked and owned right away.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(last_errno());
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: `ifreq` is plain old data; all-zero is a valid value (empty name, no flags).
    let mut req: libc::ifreq = unsafe { zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok((sock, req))
}

/// The flags (`IFF_*`) of the interface `name` in the calling thread's network namespace
/// (`SIOCGIFFLAGS`).
pub(crate) fn link_flags(name: &str) -> Result<c_int, i32> {
    let (sock, mut req) = ifreq_for(name)?;
    // SAFETY: `req` is a valid, NUL-terminated `ifreq` (the name is shorter than IFNAMSIZ and
    // the rest is zero) that the kernel reads and writes in place.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &raw mut req) } < 0 {
        return Err(last_errno());
    }
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    Ok(c_int::from(flags as u16))
}

/// Sets `IFF_UP` on the interface `name` of the calling thread's network namespace, with the
/// `SIOCGIFFLAGS`/`SIOCSIFFLAGS` ioctls on a throwaway datagram socket.
pub(crate) fn link_up(name: &str) -> Result<(), i32> {
    let (sock, mut req) = ifreq_for(name)?;
    // SAFETY: as in `link_flags`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &raw mut req) } < 0 {
        return Err(last_errno());
    }
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    unsafe {
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
    }
    // SAFETY: as above; SIOCSIFFLAGS only reads `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &raw mut req) } < 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// The index of interface `name` in the calling thread's network namespace
/// (`if_nametoindex(3)`).
pub(crate) fn if_index(name: &str) -> Result<u32, i32> {
    let c = std::ffi::CString::new(name).map_err(|_| libc::EINVAL)?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 { Err(last_errno()) } else { Ok(idx) }
}

/// The real-time signal that interrupts a lingering `close()` (see [`close_bounded`]).
fn interrupt_signal() -> c_int {
    libc::SIGRTMIN() + 5
}

extern "C" fn ignore_signal(_: c_int) {}

/// Installs (once per process) an empty handler without `SA_RESTART` for
/// [`interrupt_signal`], so that its delivery ends an interruptible wait in the kernel.
fn install_interrupt_handler() -> Result<(), i32> {
    static INSTALLED: OnceLock<Result<(), i32>> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        // SAFETY: `sigaction` is plain old data; all-zero is a valid value (empty mask, no
        // flags).
        let mut act: libc::sigaction = unsafe { zeroed() };
        act.sa_sigaction = ignore_signal as extern "C" fn(c_int) as libc::sighandler_t;
        // SAFETY: `act.sa_mask` is a valid sigset to initialise; the handler is an
        // async-signal-safe function that does nothing; the old action is not requested.
        let rc = unsafe {
            libc::sigemptyset(&raw mut act.sa_mask);
            libc::sigaction(interrupt_signal(), &raw const act, std::ptr::null_mut())
        };
        if rc == 0 { Ok(()) } else { Err(last_errno()) }
    })
}

/// Closes `fd`, interrupting the close after `bound` if it blocks.
///
/// A TCP socket with `SO_LINGER` on and unacknowledged data makes `close()` wait up to the
/// linger time (and `O_NONBLOCK` does not change that). The harness bounds every blocking call,
/// so it arms a one-shot timer that sends [`interrupt_signal`] to this thread: the kernel's
/// wait (`sk_stream_wait_close()`) ends at a pending signal, and the socket carries on as an
/// orphan, exactly as after the linger time runs out. `close()` returns 0 either way.
///
/// Returns whether the bound was armed (false if the timer could not be set up; the close
/// then happened unbounded).
pub(crate) fn close_bounded(fd: OwnedFd, bound: Duration) -> bool {
    if install_interrupt_handler().is_err() {
        drop(fd);
        return false;
    }
    // SAFETY: `sigevent` is plain old data; all-zero is a valid value.
    let mut sev: libc::sigevent = unsafe { zeroed() };
    sev.sigev_notify = libc::SIGEV_THREAD_ID;
    sev.sigev_signo = interrupt_signal();
    sev.sigev_notify_thread_id = nix::unistd::gettid().as_raw();
    let mut timer: libc::timer_t = std::ptr::null_mut();
    // SAFETY: `sev` and `timer` are valid locals; the kernel writes the timer id to `timer`.
    if unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &raw mut sev, &raw mut timer) } != 0 {
        drop(fd);
        return false;
    }
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: bound.as_secs() as libc::time_t,
            tv_nsec: libc::c_long::from(bound.subsec_nanos()).max(1),
        },
    };
    // SAFETY: `timer` was created above and not deleted yet; `spec` is a valid local.
    let armed =
        unsafe { libc::timer_settime(timer, 0, &raw const spec, std::ptr::null_mut()) } == 0;
    drop(fd);
    // SAFETY: `timer` is a live timer id owned by this function; deleting it disarms it. A
    // signal already sent is caught by the empty handler.
    unsafe {
        libc::timer_delete(timer);
    }
    armed
}

/// What `TCP_INFO` tells of a socket in `CLOSE` ([`TcpTraffic`]).
pub(crate) fn tcp_info_traffic(fd: BorrowedFd<'_>) -> Result<TcpTraffic, i32> {
    let info = tcp_info::<136>(fd)?;
    let mut received = [0u8; 8];
    received.copy_from_slice(&info[128..136]);
    Ok(TcpTraffic {
        state: info[0],
        bytes_received: u64::from_ne_bytes(received),
    })
}

/// Fields of `struct tcp_info` (`include/uapi/linux/tcp.h`, native-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TcpTraffic {
    /// `tcpi_state` (offset 0).
    pub(crate) state: u8,
    /// `tcpi_bytes_received` (`u64` at offset 128, Linux 4.1+): every sequence number that
    /// advanced `rcv_nxt`, a FIN's included. 0: nothing to read, `rcv_nxt` is `copied_seq`.
    pub(crate) bytes_received: u64,
}

/// `ioctl(SIOCOUTQ)`: for a TCP socket neither listening nor connecting, `write_seq - snd_una`,
/// what sock_diag reports as `idiag_wqueue` (`tcp_ioctl()`, `tcp_diag_get_info()`).
pub(crate) fn unacknowledged_bytes(fd: BorrowedFd<'_>) -> Result<u32, i32> {
    let mut n: c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ) writes one `int` to the pointer given.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCOUTQ, &raw mut n) };
    if rc != 0 {
        return Err(last_errno());
    }
    Ok(n as u32)
}

/// `getsockopt(SO_BINDTOIFINDEX)`: the interface index the socket is bound to, 0 for none
/// (`sk_bound_dev_if`, sock_diag's `idiag_if`; Linux 5.0+).
pub(crate) fn bound_ifindex(fd: BorrowedFd<'_>) -> Result<u32, i32> {
    /// `include/uapi/asm-generic/socket.h`.
    const SO_BINDTOIFINDEX: c_int = 62;
    let mut index: c_int = 0;
    let mut len = size_of::<c_int>() as socklen_t;
    // SAFETY: `index` is a writable local `int` whose size is in `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_BINDTOIFINDEX,
            (&raw mut index).cast::<c_void>(),
            &raw mut len,
        )
    };
    if rc != 0 {
        return Err(last_errno());
    }
    Ok(index as u32)
}

/// The inode number and owner of a socket's file (`fstat`): sock_diag's `idiag_inode` and
/// `idiag_uid` (`sock_i_ino()`, `sk_uid`, set from the inode's owner when the socket is made).
pub(crate) fn socket_inode(fd: BorrowedFd<'_>) -> Result<(u64, u32), i32> {
    // SAFETY: `libc::stat` is plain old data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { zeroed() };
    // SAFETY: `fd` is live and `st` a writable local `struct stat`.
    let rc = unsafe { libc::fstat(fd.as_raw_fd(), &raw mut st) };
    if rc != 0 {
        return Err(last_errno());
    }
    Ok((st.st_ino, st.st_uid))
}

/// `getsockopt(SO_PEERNAME)`: `inet_daddr:inet_dport` (sock_diag's `idiag_dst`, `idiag_dport`),
/// which `getpeername()` hides in `CLOSE` and `SYN-SENT` but this option does not
/// (`inet_getname()` and `inet6_getname()` with `peer == 2`). `None`: the port is 0. The
/// kernel refuses (`EINVAL`) a buffer longer than the address, so the length given is the
/// family's: `v6` for an `AF_INET6` socket.
pub(crate) fn peer_name(fd: BorrowedFd<'_>, v6: bool) -> Result<Option<std::net::SocketAddr>, i32> {
    let family_len = if v6 {
        size_of::<libc::sockaddr_in6>()
    } else {
        size_of::<libc::sockaddr_in>()
    } as socklen_t;
    // SAFETY: the closure passes the storage socket2 gives it to getsockopt with a length
    // no longer than that storage; the kernel writes at most that many bytes and sets `len`.
    let read = unsafe {
        socket2::SockAddr::try_init(|storage, len| {
            *len = family_len;
            let rc = libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERNAME,
                storage.cast::<c_void>(),
                len,
            );
            if rc == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        })
    };
    match read {
        Ok(((), addr)) => addr.as_socket().map(Some).ok_or(libc::EAFNOSUPPORT),
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(None),
        Err(e) => Err(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}
