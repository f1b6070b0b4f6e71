//! What the harness and the agent say to each other: one JSON line a message.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use tcpconform_model::{Env, Host, Observed, Op, Row, RowInfo};

/// From the harness to the agent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Request {
    /// Begin a case in a fresh network namespace, with these extra addresses on `lo`.
    Start {
        /// The scenario's `@address`es.
        addresses: Vec<(Host, IpAddr)>,
    },
    /// Run one call.
    Exec {
        /// The call.
        op: Op,
        /// The port variables' values.
        env: Env,
    },
    /// Read the case's table.
    Table,
    /// Read every sysctl the model knows, in the case's namespace, as `/proc/sys` shows it.
    Sysctls,
    /// End the case: close every descriptor.
    End,
}

/// From the agent to the harness.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Response {
    /// The case began.
    Started,
    /// What a call did.
    Observed(Observed),
    /// The case's rows.
    Table(Vec<(Row, RowInfo)>),
    /// The sysctls gVisor has: (dotted name, text as read).
    Sysctls(Vec<(String, String)>),
    /// The case ended.
    Ended,
    /// The agent could not do it (a harness failure, never a verdict).
    Error(String),
}
