//! Simulator request handling below HTTP: query/form parsing, signatures, every REST handler.
#![no_main]

use std::sync::{Arc, OnceLock};

use fff_sim::http::Sim;
use libfuzzer_sys::fuzz_target;

#[path = "../oracles/sim_params.rs"]
mod oracle;

static AUTH: OnceLock<Arc<Sim>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The first two lines double as a raw query and form body for the parser and signer.
    let mut lines = text.lines();
    let query = lines.next().unwrap_or("");
    let body = lines.next().unwrap_or("");
    oracle::check_params(query, body);
    oracle::check_auth(AUTH.get_or_init(oracle::auth_sim), query, body);
    oracle::check_calls(&text);
});
