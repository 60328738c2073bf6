//! Binance REST and stream JSON → fff-binance wire models and the functions built on them.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../oracles/binance_models.rs"]
mod oracle;

fuzz_target!(|data: &[u8]| oracle::check(data));
