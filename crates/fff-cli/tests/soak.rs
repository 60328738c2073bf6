//! `fff soak`: a short seeded batch of fault scenarios against a throwaway suite (debug binary,
//! about a minute) produces one well-formed JSON summary whose exit code matches its verdict.
//! The long run (`--scenarios 1000`) and the findings are in docs/RELIABILITY.md.
//!
//! Its own test binary, so that cargo runs it alone: next to another whole suite on the 2-core
//! CI machine, recovery and ledger-lag deadlines measure the machine rather than the product.
//!
//! The batch must end clean (exit 0): any violation fails the test, with the seeds that replay
//! it (`fff soak --replay SEED`). The findings that once made it fail are in
//! docs/RELIABILITY.md, "Violations found", each with its fix and regression test.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fff() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fff"))
}

/// Scenarios of the CI batch and its run seed.
const SCENARIOS: u64 = 6;
const SEED: &str = "11";

#[test]
fn a_short_seeded_soak_batch_gives_a_well_formed_summary_and_no_violation() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = fff()
        .args(["soak", "--json", "--seed", SEED])
        .args(["--scenarios", &SCENARIOS.to_string()])
        .args(["--warmup-secs", "150"])
        .arg("--dir")
        .arg(dir.path().join("suite"))
        .env_remove("DATABASE_URL")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("FFF_CONFIG")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("summary is not one JSON object ({e}): {stdout}"));

    // well-formed, and the suite really traded under faults
    assert_eq!(summary["run_seed"], 11);
    assert_eq!(summary["scenarios"]["planned"], SCENARIOS);
    assert_eq!(summary["scenarios"]["completed"], SCENARIOS, "{summary:#}");
    assert!(summary["violations"]["by_kind"].is_object(), "{summary:#}");
    assert!(
        summary["faults_injected"]
            .as_object()
            .is_some_and(|f| !f.is_empty()),
        "{summary:#}"
    );
    assert!(summary["recovery"].is_object(), "{summary:#}");
    assert!(
        summary["venue_orders"].as_u64().is_some_and(|n| n > 0),
        "the suite never traded: {summary:#}"
    );
    assert!(summary["quiesce"]["max_ms"].is_u64(), "{summary:#}");
    assert!(took < Duration::from_secs(240), "the batch took {took:?}");

    // the exit code is the verdict, and every violation names the seeds that replay it
    let total = summary["violations"]["total"].as_u64().unwrap();
    let expected_code = if total == 0 { 0 } else { 1 };
    assert_eq!(output.status.code(), Some(expected_code), "{summary:#}");
    let by_kind = summary["violations"]["by_kind"].as_object().unwrap();
    for (kind, stats) in by_kind {
        let seeds = stats["seeds"].as_array().map_or(0, Vec::len);
        assert!(
            seeds > 0 || stats["unattributed"] == true,
            "{kind} without a seed: {summary:#}"
        );
        eprintln!(
            "soak: {kind} ({} seen): {}",
            stats["count"], stats["examples"][0]["detail"]
        );
    }
    assert_eq!(
        total, 0,
        "violations (replay with `fff soak --replay SEED`): {summary:#}"
    );
}
