//! FreeBSD only: work done inside a VNET jail from a short-lived child process.
//!
//! `jail_attach(2)` moves a whole process, so the harness forks a child that attaches to the
//! case's jail, does one thing and exits: creates a socket (passed back over a Unix socket
//! with `SCM_RIGHTS`; a socket keeps the stack it was created in, `so_vnet`, so every later
//! call on it from the harness acts in the jail's stack), writes or reads a sysctl (most of
//! `net.inet.tcp.*` is per-VNET). The child runs only system calls on memory prepared before
//! the fork (no allocation, no locks), as a child of a multi-threaded process must.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use libc::{c_int, c_void};

use crate::sys::last_errno;

/// The exit code of a child whose `jail_attach` failed.
const ATTACH_FAILED: c_int = 250;

/// Forks; the child attaches to jail `jid`, runs `body` and exits with its code (or
/// [`ATTACH_FAILED`]); the parent waits and returns the code.
///
/// # Safety
///
/// `body` runs in the child of a fork of a multi-threaded process: it must only make system
/// calls on memory that exists already (no allocation, no locks, no panics).
unsafe fn in_jail(jid: c_int, body: &dyn Fn() -> c_int) -> Result<c_int, i32> {
    // SAFETY: fork(2); the child only calls jail_attach, `body` (see the caller's contract)
    // and _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(last_errno());
    }
    if pid == 0 {
        // SAFETY: in the child: async-signal-safe system calls only, then _exit.
        unsafe {
            if libc::jail_attach(jid) != 0 {
                libc::_exit(ATTACH_FAILED);
            }
            libc::_exit(body());
        }
    }
    let mut status: c_int = 0;
    loop {
        // SAFETY: waits for the child just forked; `status` is a writable local.
        let rc = unsafe { libc::waitpid(pid, &raw mut status, 0) };
        if rc == pid {
            break;
        }
        let e = last_errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
    if !libc::WIFEXITED(status) {
        return Err(libc::ECHILD);
    }
    match libc::WEXITSTATUS(status) {
        ATTACH_FAILED => Err(libc::EPERM),
        code => Ok(code),
    }
}

/// `socket(domain, ty, 0)` inside jail `jid`. `Ok(Err(errno))` is the jail's kernel refusing
/// the socket (data); `Err(errno)` is the harness failing to get there.
pub(crate) fn socket_in_jail(
    jid: c_int,
    domain: c_int,
    ty: c_int,
) -> Result<Result<OwnedFd, i32>, i32> {
    let mut pair = [0 as c_int; 2];
    // SAFETY: `pair` is a writable array of two descriptors.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            pair.as_mut_ptr(),
        )
    } != 0
    {
        return Err(last_errno());
    }
    // SAFETY: both descriptors are fresh and owned here.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])) };
    let child_end = theirs.as_raw_fd();
    // Prepared before the fork: the message buffer with room for one descriptor.
    // SAFETY: CMSG_SPACE is a size computation.
    let space = unsafe { libc::CMSG_SPACE(size_of::<c_int>() as u32) } as usize;
    let mut control = vec![0u8; space];
    let control_ptr = control.as_mut_ptr();
    let body = move || -> c_int {
        // SAFETY (child): system calls on locals and on `control`, which the fork copied.
        unsafe {
            let fd = libc::socket(domain, ty | libc::SOCK_CLOEXEC, 0);
            let mut err: i32 = if fd < 0 { *libc::__error() } else { 0 };
            let mut iov = libc::iovec {
                iov_base: (&raw mut err).cast::<c_void>(),
                iov_len: size_of::<i32>(),
            };
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &raw mut iov;
            msg.msg_iovlen = 1;
            if fd >= 0 {
                msg.msg_control = control_ptr.cast::<c_void>();
                msg.msg_controllen = space as libc::socklen_t;
                let c = libc::CMSG_FIRSTHDR(&raw const msg);
                (*c).cmsg_level = libc::SOL_SOCKET;
                (*c).cmsg_type = libc::SCM_RIGHTS;
                (*c).cmsg_len = libc::CMSG_LEN(size_of::<c_int>() as u32) as libc::socklen_t;
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<c_int>(), fd);
            }
            if libc::sendmsg(child_end, &raw const msg, 0) < 0 {
                1
            } else {
                0
            }
        }
    };
    // SAFETY: `body` only makes system calls on memory prepared above.
    let code = unsafe { in_jail(jid, &body)? };
    drop(theirs);
    if code != 0 {
        return Err(libc::EIO);
    }
    let mut err: i32 = 0;
    let mut iov = libc::iovec {
        iov_base: (&raw mut err).cast::<c_void>(),
        iov_len: size_of::<i32>(),
    };
    let mut control = vec![0u8; space];
    // SAFETY: `msghdr` is plain old data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast::<c_void>();
    msg.msg_controllen = space as libc::socklen_t;
    // SAFETY: `msg` points to live, writable locals of the sizes given.
    let n = unsafe { libc::recvmsg(ours.as_raw_fd(), &raw mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n != size_of::<i32>() as isize {
        return Err(if n < 0 { last_errno() } else { libc::EIO });
    }
    if err != 0 {
        return Ok(Err(err));
    }
    // SAFETY: the kernel filled `control`; CMSG_FIRSTHDR reads within `msg_controllen`.
    let c = unsafe { libc::CMSG_FIRSTHDR(&raw const msg) };
    // SAFETY: a non-null header of SCM_RIGHTS carries one descriptor, now ours.
    unsafe {
        if c.is_null() || (*c).cmsg_type != libc::SCM_RIGHTS {
            return Err(libc::EIO);
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<c_int>());
        Ok(Ok(OwnedFd::from_raw_fd(fd)))
    }
}

/// Writes an integer sysctl inside jail `jid`: `Ok(Err(errno))` when the jail's kernel refuses
/// it (data), `Err(errno)` when the harness could not get there.
pub(crate) fn sysctl_write_in_jail(
    jid: c_int,
    name: &CStr,
    value: c_int,
) -> Result<Result<(), i32>, i32> {
    let name = name.as_ptr();
    let body = move || -> c_int {
        // SAFETY (child): `name` is a NUL-terminated string copied by the fork; `value` a
        // local whose size is passed.
        unsafe {
            let rc = libc::sysctlbyname(
                name,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                (&raw const value).cast::<c_void>(),
                size_of::<c_int>(),
            );
            if rc == 0 {
                0
            } else {
                (*libc::__error()).min(249)
            }
        }
    };
    // SAFETY: `body` only makes a system call on memory prepared above.
    let code = unsafe { in_jail(jid, &body)? };
    Ok(if code == 0 { Ok(()) } else { Err(code) })
}

/// Reads sysctl `name` inside jail `jid`, at most `cap` bytes.
pub(crate) fn sysctl_read_in_jail(jid: c_int, name: &CStr, cap: usize) -> Result<Vec<u8>, i32> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: `fds` is a writable array of two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(last_errno());
    }
    // SAFETY: both descriptors are fresh and owned here.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut buf = vec![0u8; cap];
    let buf_ptr = buf.as_mut_ptr();
    let name = name.as_ptr();
    let w = wr.as_raw_fd();
    let body = move || -> c_int {
        // SAFETY (child): `buf_ptr` is the fork's copy of `buf`, `cap` bytes; the header and
        // the bytes go to the pipe.
        unsafe {
            let mut len: libc::size_t = cap;
            let rc = libc::sysctlbyname(
                name,
                buf_ptr.cast::<c_void>(),
                &raw mut len,
                std::ptr::null(),
                0,
            );
            let head: [i64; 2] = if rc == 0 {
                [0, len as i64]
            } else {
                [i64::from(*libc::__error()), 0]
            };
            if libc::write(w, head.as_ptr().cast::<c_void>(), 16) != 16 {
                return 1;
            }
            let mut off = 0usize;
            while rc == 0 && off < len {
                let n = libc::write(w, buf_ptr.add(off).cast::<c_void>(), len - off);
                if n <= 0 {
                    return 1;
                }
                off += n as usize;
            }
            0
        }
    };
    // The parent reads while the child writes: a table longer than the pipe's buffer would
    // otherwise block the child.
    let reader = std::thread::spawn(move || {
        let mut f = std::fs::File::from(rd);
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut all).map(|_| all)
    });
    // SAFETY: `body` only makes system calls on memory prepared above.
    let code = unsafe { in_jail(jid, &body) };
    drop(wr);
    let bytes = reader
        .join()
        .map_err(|_| libc::EIO)?
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    if code? != 0 || bytes.len() < 16 {
        return Err(libc::EIO);
    }
    let errno = i64::from_ne_bytes(bytes[0..8].try_into().map_err(|_| libc::EIO)?);
    if errno != 0 {
        return Err(errno as i32);
    }
    Ok(bytes[16..].to_vec())
}
