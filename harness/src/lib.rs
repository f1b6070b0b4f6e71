//! # tcpconform-harness
//!
//! The only part of tcpconform that touches a kernel.

pub mod scenario;
