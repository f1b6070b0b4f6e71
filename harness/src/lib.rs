//! # tcpconform-harness
//!
//! The only part of tcpconform that touches a kernel.

pub mod config;
pub mod generate;
pub mod lockstep;
pub mod scenario;
