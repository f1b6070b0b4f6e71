//! The harness's only `unsafe` code: thin wrappers over the few system calls that neither
//! `std`, `socket2` nor `nix` offer in the form the harness needs.
//!
//! One file per OS for what only that OS has (`linux`, `freebsd`, `bsd` for what FreeBSD
//! and macOS share); the portable wrappers are here.
//!
//! Every wrapper returns the raw errno on failure (`Err(i32)`) so that callers can turn it into
//! data ([`crate::errno::from_raw`]) or into a harness failure, as the call demands.

use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd};

use libc::{c_int, c_void, socklen_t};

/// The last errno of this thread.
pub(crate) fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// `setsockopt(fd, level, name, &value, sizeof(int))`.
pub(crate) fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: c_int,
    name: c_int,
    value: c_int,
) -> Result<(), i32> {
    // SAFETY: `fd` is a live descriptor for the duration of the borrow; the option value points
    // to a local `c_int` whose size is passed alongside; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const value).cast::<c_void>(),
            size_of::<c_int>() as socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(last_errno()) }
}

/// `setsockopt(fd, SOL_SOCKET, SO_LINGER, {l_onoff, l_linger})`.
pub(crate) fn setsockopt_linger(
    fd: BorrowedFd<'_>,
    onoff: c_int,
    linger: c_int,
) -> Result<(), i32> {
    let value = libc::linger {
        l_onoff: onoff,
        l_linger: linger,
    };
    // SAFETY: as in `setsockopt_int`; the value is a local `struct linger` of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const value).cast::<c_void>(),
            size_of::<libc::linger>() as socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(last_errno()) }
}

/// `getsockopt(fd, level, name)` for an `int` option.
pub(crate) fn getsockopt_int(fd: BorrowedFd<'_>, level: c_int, name: c_int) -> Result<c_int, i32> {
    let mut value: c_int = 0;
    let mut len = size_of::<c_int>() as socklen_t;
    // SAFETY: `fd` is live; `value` and `len` are valid, writable locals and `len` holds the
    // size of `value`, so the kernel writes at most that many bytes.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw mut value).cast::<c_void>(),
            &raw mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(last_errno())
    }
}

/// `listen(fd, backlog)` with the backlog passed through as the C `int` it is.
pub(crate) fn listen(fd: BorrowedFd<'_>, backlog: c_int) -> Result<(), i32> {
    // SAFETY: `fd` is a live descriptor; listen takes no pointers.
    let rc = unsafe { libc::listen(fd.as_raw_fd(), backlog) };
    if rc == 0 { Ok(()) } else { Err(last_errno()) }
}

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(any(target_os = "freebsd", target_os = "macos"))]
mod bsd;
#[cfg(any(target_os = "freebsd", target_os = "macos"))]
pub(crate) use bsd::*;

#[cfg(target_os = "freebsd")]
mod freebsd;
#[cfg(target_os = "freebsd")]
pub(crate) use freebsd::*;

/// `poll(2)` of several descriptors for `POLLIN`, at most `timeout` (returning as soon as one
/// is ready): for each, whether it is readable.
pub(crate) fn poll_readable(
    fds: &[BorrowedFd<'_>],
    timeout: std::time::Duration,
) -> Result<Vec<bool>, i32> {
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
    let count = libc::nfds_t::try_from(polled.len()).map_err(|_| libc::EINVAL)?;
    loop {
        // SAFETY: `polled` holds `count` valid, writable pollfds; every fd is live for the
        // borrow.
        let n = unsafe { libc::poll(polled.as_mut_ptr(), count, ms) };
        if n >= 0 {
            return Ok(polled
                .iter()
                .map(|p| p.revents & libc::POLLIN != 0)
                .collect());
        }
        let e = last_errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// `poll(2)` of one descriptor for `events`, at most `timeout`: whether it became ready.
// Every backend: the portable executor (BSDs, gVisor's agent on Linux) bounds waits with it.
pub(crate) fn poll_one(
    fd: BorrowedFd<'_>,
    events: libc::c_short,
    timeout: std::time::Duration,
) -> Result<bool, i32> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    let ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
    loop {
        // SAFETY: `p` is one valid, writable pollfd; `fd` is live for the borrow.
        let n = unsafe { libc::poll(&raw mut p, 1, ms) };
        if n >= 0 {
            return Ok(n > 0);
        }
        let e = last_errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}
