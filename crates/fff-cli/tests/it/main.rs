//! Cross-process tests of the `fff` binary: each role started as its own process on loopback.

mod config;
mod grpcurl;
mod harness;
mod roles;
mod status;
