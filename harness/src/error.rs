//! Harness failures: the harness itself could not do its job.
//!
//! A [`HarnessError`] is never a syscall's result (those are data, `Outcome::Err(Errno)`) and
//! never a pass: whoever receives one reports the case as not run, with the message.

use std::io;
use std::time::Duration;

/// Why the harness could not carry out a case (as opposed to what the kernel answered).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The scenario's profile is another OS than the one the harness runs on: it can only be
    /// predicted.
    #[error("{profile} cannot be replayed on this host ({host}); use `tcpconform predict`")]
    OtherOs {
        /// The scenario's profile.
        profile: String,
        /// The OS the harness runs on.
        host: String,
    },
    /// No network namespace could be created or entered here.
    #[error("cannot get a network namespace: {reason}")]
    NamespaceUnavailable {
        /// What failed and what would fix it.
        reason: String,
    },
    /// A write was about to land in the host's own network namespace and was refused.
    #[error(
        "refused to {what} in the host's network namespace (the harness only writes inside the \
         namespaces it creates)"
    )]
    HostNamespace {
        /// The write that was refused.
        what: String,
    },
    /// A sysctl could not be written (or read back with the value written).
    #[error("sysctl {key}={value}: {reason}")]
    Sysctl {
        /// The dotted key.
        key: String,
        /// The value that was to be written.
        value: String,
        /// What went wrong.
        reason: String,
    },
    /// A netlink request (sock_diag, rtnetlink) failed.
    #[error("netlink: {what}: {reason}")]
    Netlink {
        /// The request.
        what: String,
        /// The kernel's answer or the decoding problem.
        reason: String,
    },
    /// Some other system call or file operation of the harness failed.
    #[error("{what}: {source}")]
    Io {
        /// What the harness was doing.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The kernel or this machine lacks something the case needs.
    #[error("{what} is not supported here: {reason}")]
    Unsupported {
        /// The feature.
        what: String,
        /// Why, and what would provide it.
        reason: String,
    },
    /// An op cannot be carried out as written (for example, a socket on host `b` in a
    /// one-host case).
    #[error("cannot run `{op}`: {reason}")]
    InvalidOp {
        /// The op, in scenario syntax.
        op: String,
        /// Why.
        reason: String,
    },
    /// A case stopped part-way because the harness failed at one of its calls (the calls before
    /// it ran and were compared).
    #[error("the harness failed at call {call} of the case: {reason}")]
    MidCase {
        /// The 1-based call at which it failed.
        call: usize,
        /// What failed.
        reason: String,
    },
    /// A shortcut of the harness disagreed with the slow way it stands in for (checked on its
    /// first uses, and always with `tcpconform run --check-readings`).
    #[error("{what} disagreed with the slow way: {reason}")]
    SelfCheck {
        /// The shortcut.
        what: String,
        /// How the two differed.
        reason: String,
    },
    /// A harness operation did not finish in time.
    #[error("{what} did not finish within {after:?}")]
    Timeout {
        /// The operation.
        what: String,
        /// How long the harness waited.
        after: Duration,
    },
}

impl HarnessError {
    /// An [`HarnessError::Io`] from a description and an error.
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }

    /// A [`HarnessError::Netlink`] from a description and a reason.
    pub fn netlink(what: impl Into<String>, reason: impl ToString) -> Self {
        Self::Netlink {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}
