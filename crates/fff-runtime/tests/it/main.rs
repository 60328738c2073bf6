//! Integration tests for fff-runtime: real gRPC over loopback and the example config file.

mod example_config;
mod grpc;
mod otlp;
