//! The output vocabulary: what a call returns.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::errno::Errno;

/// What one call returned.
///
/// A failing syscall is an ordinary outcome (`Err`), compared like any other: it is data, not
/// a failure of the test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// The call returned 0 (or, for `socket`/`accept`, a new descriptor).
    Ok,
    /// `send`/`recv` moved this many bytes (more than zero).
    Bytes(u32),
    /// `recv` returned 0: the peer's FIN was read.
    Eof,
    /// `getsockopt(SO_ERROR)` returned 0 with this pending error (`None`: no error).
    SoError(Option<Errno>),
    /// A blocking call that was still blocked when the harness stopped waiting for it.
    Blocks,
    /// The call returned -1 with this errno.
    Err(Errno),
}

impl Outcome {
    /// Whether the call succeeded in any way.
    pub fn is_ok(self) -> bool {
        !matches!(self, Self::Err(_) | Self::Blocks)
    }
}

impl fmt::Display for Outcome {
    /// Writes the result as a scenario writes it after `=` (`0`, `-1 EADDRINUSE`, `5`, `EOF`,
    /// `[ECONNREFUSED]`, `BLOCKS`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::Ok => "0".to_owned(),
            Self::Bytes(n) => n.to_string(),
            Self::Eof => "EOF".to_owned(),
            Self::SoError(None) => "[0]".to_owned(),
            Self::SoError(Some(e)) => format!("[{e}]"),
            Self::Blocks => "BLOCKS".to_owned(),
            Self::Err(e) => format!("-1 {e}"),
        };
        f.pad(&s)
    }
}

/// What the kernel did on one call, as much as the model needs to follow it: the outcome, and
/// the values the kernel chose (the socket's local and peer addresses after the call, read with
/// `getsockname`/`getpeername`; for `accept`, those of the new socket).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// The call's result.
    pub outcome: Outcome,
    /// The local address after the call, if the socket has one.
    pub local: Option<SocketAddr>,
    /// The peer address after the call, if connected.
    pub peer: Option<SocketAddr>,
}

impl Observed {
    /// An observation that carries only an outcome.
    pub fn outcome(outcome: Outcome) -> Self {
        Self {
            outcome,
            local: None,
            peer: None,
        }
    }
}
