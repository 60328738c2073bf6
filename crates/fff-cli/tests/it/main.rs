//! Cross-process tests of the `fff` binary: each role started as its own process on loopback.

mod capital;
mod config;
mod gateway;
mod grpcurl;
mod harness;
mod risk;
mod roles;
mod scanner;
mod secrets;
mod status;
mod trading;
mod up;
