//! The scanner service against a hand-written fake gateway, in process.

mod fake_gateway;
mod service;
