//! Protobuf bytes and field values → domain values (fff-proto edge conversions).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../oracles/proto_convert.rs"]
mod oracle;

fuzz_target!(|data: &[u8]| oracle::check(data));
