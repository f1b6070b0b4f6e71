//! Error numbers, by their Linux names.
//!
//! The model speaks in names, never in numbers: the numbering differs between operating systems,
//! and the one table that maps numbers to names lives in the harness (`harness::errno`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! errnos {
    ($($(#[$doc:meta])* $name:ident => $text:literal,)*) => {
        /// An `errno` value, named as Linux names it.
        ///
        /// `Other` carries a number the harness could not name: it is data like any other
        /// result, and it never matches a named errno.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum Errno {
            $($(#[$doc])* $name,)*
            /// An errno the vocabulary has no name for (the raw number, as the kernel gave it).
            Other(i32),
        }

        impl Errno {
            /// Every named errno, in declaration order.
            pub const NAMED: &'static [Errno] = &[$(Errno::$name,)*];

            /// The Linux name (`"EADDRINUSE"`), or `"E?<n>"` for an unnamed number.
            pub fn name(self) -> std::borrow::Cow<'static, str> {
                match self {
                    $(Errno::$name => std::borrow::Cow::Borrowed(stringify!($name)),)*
                    Errno::Other(n) => std::borrow::Cow::Owned(format!("E?{n}")),
                }
            }

            /// The C library's message for it (`"Address already in use"`).
            pub fn strerror(self) -> &'static str {
                match self {
                    $(Errno::$name => $text,)*
                    Errno::Other(_) => "unnamed errno",
                }
            }
        }

        impl FromStr for Errno {
            type Err = UnknownErrno;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $(stringify!($name) => Ok(Errno::$name),)*
                    _ => s
                        .strip_prefix("E?")
                        .and_then(|n| n.parse().ok())
                        .map(Errno::Other)
                        .ok_or_else(|| UnknownErrno(s.to_owned())),
                }
            }
        }
    };
}

errnos! {
    /// Operation not permitted.
    EPERM => "Operation not permitted",
    /// No such file or directory (SOCK_DESTROY of a row that is gone).
    ENOENT => "No such file or directory",
    /// Interrupted system call.
    EINTR => "Interrupted system call",
    /// Bad file descriptor: the socket was closed.
    EBADF => "Bad file descriptor",
    /// Resource temporarily unavailable (EWOULDBLOCK).
    EAGAIN => "Resource temporarily unavailable",
    /// Permission denied: a privileged port without CAP_NET_BIND_SERVICE.
    EACCES => "Permission denied",
    /// Invalid argument.
    EINVAL => "Invalid argument",
    /// Broken pipe: writing after the connection was shut down or reset.
    EPIPE => "Broken pipe",
    /// Protocol not available (unknown socket option).
    ENOPROTOOPT => "Protocol not available",
    /// Function not implemented: the model's refusal (`os.not_modelled`); no kernel call
    /// the model describes returns it.
    ENOSYS => "Function not implemented",
    /// Operation not supported.
    EOPNOTSUPP => "Operation not supported",
    /// Address family not supported by protocol.
    EAFNOSUPPORT => "Address family not supported by protocol",
    /// Address already in use.
    EADDRINUSE => "Address already in use",
    /// Cannot assign requested address.
    EADDRNOTAVAIL => "Cannot assign requested address",
    /// Network is unreachable.
    ENETUNREACH => "Network is unreachable",
    /// Software caused connection abort.
    ECONNABORTED => "Software caused connection abort",
    /// Connection reset by peer.
    ECONNRESET => "Connection reset by peer",
    /// Transport endpoint is already connected.
    EISCONN => "Transport endpoint is already connected",
    /// Transport endpoint is not connected.
    ENOTCONN => "Transport endpoint is not connected",
    /// Connection timed out.
    ETIMEDOUT => "Connection timed out",
    /// Connection refused.
    ECONNREFUSED => "Connection refused",
    /// No route to host.
    EHOSTUNREACH => "No route to host",
    /// Operation already in progress.
    EALREADY => "Operation already in progress",
    /// Operation now in progress.
    EINPROGRESS => "Operation now in progress",
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A name that is not an errno the vocabulary knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownErrno(pub String);

impl fmt::Display for UnknownErrno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown errno name `{}`", self.0)
    }
}

impl std::error::Error for UnknownErrno {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_errno_round_trips_through_its_name() {
        for &e in Errno::NAMED {
            assert_eq!(e.name().parse::<Errno>(), Ok(e));
        }
    }

    #[test]
    fn unnamed_numbers_round_trip_and_unknown_names_are_refused() {
        assert_eq!("E?133".parse::<Errno>(), Ok(Errno::Other(133)));
        assert_eq!(Errno::Other(133).to_string(), "E?133");
        assert!("EFOO".parse::<Errno>().is_err());
    }
}
