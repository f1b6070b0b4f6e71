//! Shared helpers for tcpconform's integration tests.
