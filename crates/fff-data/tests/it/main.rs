//! Integration tests: pulls from an in-process fff-sim or a loopback copy of Binance's bulk
//! archive, and records from the simulator, into temporary directories.

mod archive;
mod pull;
mod record;

use std::path::PathBuf;

use fff_sim::config::{ClockConfig, ClockMode};
use fff_sim::{SimConfig, SimHandle};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// 2026-01-20T00:00:00Z: where the simulators of these tests start their manual clock.
const SIM_START: i64 = 1_768_867_200_000;

/// No environment: credentials and URLs come from the arguments only.
fn no_env(_: &str) -> Option<String> {
    None
}

/// An in-process simulator on a manual clock from [`SIM_START`], run `advance_ms` ahead, and
/// its base URLs written to `sim-urls.json` in a fresh directory.
async fn sim_advanced(advance_ms: i64) -> (SimHandle, tempfile::TempDir, PathBuf) {
    let cfg = SimConfig {
        clock: ClockConfig {
            mode: ClockMode::Manual,
            speed: 1.0,
            start_ms: Some(SIM_START),
        },
        ..SimConfig::default()
    };
    let sim = fff_sim::spawn(cfg).await.unwrap();
    sim.advance(advance_ms);
    let dir = tempfile::tempdir().unwrap();
    let urls = dir.path().join("sim-urls.json");
    std::fs::write(&urls, serde_json::to_string(&sim.urls).unwrap()).unwrap();
    (sim, dir, urls)
}
