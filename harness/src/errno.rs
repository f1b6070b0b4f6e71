//! The one table that maps the host's errno numbers (Linux's, FreeBSD's, macOS's: `libc`
//! gives each target its own) to the model's names and back.
//!
//! The model speaks in names ([`Errno`]); the kernel in numbers. Every conversion in the harness
//! goes through [`from_raw`] and [`to_raw`]. A number without a name becomes
//! [`Errno::Other`]: it is data like any other result, never dropped and never turned into a
//! harness failure.
//!
//! [`to_raw`] matches every named variant explicitly, so a name added to the model does not
//! compile here until it has a number.

use std::io;

use tcpconform_model::Errno;

/// The host's number of an errno (`EADDRINUSE` → 98 on every Linux architecture the harness
/// supports, 48 on FreeBSD and macOS). `Other(n)` gives back `n`.
pub fn to_raw(e: Errno) -> i32 {
    match e {
        Errno::EPERM => libc::EPERM,
        Errno::ENOENT => libc::ENOENT,
        Errno::EINTR => libc::EINTR,
        Errno::EBADF => libc::EBADF,
        Errno::EAGAIN => libc::EAGAIN,
        Errno::EACCES => libc::EACCES,
        Errno::EINVAL => libc::EINVAL,
        Errno::EPIPE => libc::EPIPE,
        Errno::ENOPROTOOPT => libc::ENOPROTOOPT,
        Errno::ENOSYS => libc::ENOSYS,
        Errno::EOPNOTSUPP => libc::EOPNOTSUPP,
        Errno::EAFNOSUPPORT => libc::EAFNOSUPPORT,
        Errno::EADDRINUSE => libc::EADDRINUSE,
        Errno::EADDRNOTAVAIL => libc::EADDRNOTAVAIL,
        Errno::ENETUNREACH => libc::ENETUNREACH,
        Errno::ECONNABORTED => libc::ECONNABORTED,
        Errno::ECONNRESET => libc::ECONNRESET,
        Errno::EISCONN => libc::EISCONN,
        Errno::ENOTCONN => libc::ENOTCONN,
        Errno::ETIMEDOUT => libc::ETIMEDOUT,
        Errno::ECONNREFUSED => libc::ECONNREFUSED,
        Errno::EHOSTUNREACH => libc::EHOSTUNREACH,
        Errno::EALREADY => libc::EALREADY,
        Errno::EINPROGRESS => libc::EINPROGRESS,
        Errno::Other(n) => n,
    }
}

/// The name of one of the host's errno numbers, or `Other(n)` when the vocabulary has none.
///
/// `EWOULDBLOCK` is `EAGAIN` on Linux, FreeBSD and macOS (the same number), so it comes back as `EAGAIN`.
pub fn from_raw(n: i32) -> Errno {
    Errno::NAMED
        .iter()
        .copied()
        .find(|&e| to_raw(e) == n)
        .unwrap_or(Errno::Other(n))
}

/// The errno an I/O error carries, if it came from a syscall.
pub fn from_io(e: &io::Error) -> Option<Errno> {
    e.raw_os_error().map(from_raw)
}
