//! Cross-process tests of the `fff` binary: each role started as its own process on loopback.

mod alerts;
mod capital;
mod config;
mod gateway;
mod grpc_fuzz;
mod grpcurl;
mod harness;
mod ledger;
mod risk;
mod roles;
mod rules;
mod scanner;
mod secrets;
mod small_wallet;
mod status;
mod tls;
mod trading;
mod up;
