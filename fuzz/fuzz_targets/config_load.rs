//! TOML + env + overrides → validated FffConfig (errors name the key, never a panic).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[path = "../oracles/config_load.rs"]
mod oracle;

static SCRATCH: OnceLock<PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let scratch = SCRATCH.get_or_init(oracle::scratch_path);
    oracle::check(data, scratch);
});
