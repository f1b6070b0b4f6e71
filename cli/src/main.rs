//! The `tcpconform` command: a thin layer over the harness.
fn main() {}
