//! Configuration errors stop start-up with a message naming the key and a non-zero exit code.

use crate::harness::{fff, run_to_end};

#[test]
fn unknown_config_key_fails_startup_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fff.toml");
    std::fs::write(&file, "[capital]\nreserv_ratio = 0.1\n").unwrap();
    let (code, stderr) = run_to_end(fff().args(["executor", "--config"]).arg(&file), dir.path());
    assert_eq!(code, Some(64), "stderr: {stderr}");
    assert!(stderr.contains("capital.reserv_ratio"), "stderr: {stderr}");
}

#[test]
fn every_bad_key_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fff.toml");
    std::fs::write(
        &file,
        "[capital]\nreserve_ratio = 1.5\n[risk]\nbogus = 1\n[nosuchsection]\nx = 1\n",
    )
    .unwrap();
    let (code, stderr) = run_to_end(
        fff()
            .args([
                "gateway",
                "--set",
                "rebalance.drift_threshold=abc",
                "--config",
            ])
            .arg(&file)
            .env("FFF_EXECUTION__NOPE", "1"),
        dir.path(),
    );
    assert_eq!(code, Some(64), "stderr: {stderr}");
    for key in [
        "capital.reserve_ratio",
        "risk.bogus",
        "nosuchsection",
        "rebalance.drift_threshold",
        "execution.nope",
    ] {
        assert!(stderr.contains(key), "{key} missing from: {stderr}");
    }
}

#[test]
fn persisting_role_without_database_url_exits_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = run_to_end(
        fff()
            .args(["risk", "--listen", "127.0.0.1:0"])
            .env_remove("DATABASE_URL")
            .env("FFF_AUTH_TOKEN", "t"),
        dir.path(),
    );
    assert_eq!(code, Some(1), "stderr: {stderr}");
    assert!(stderr.contains("DATABASE_URL"), "stderr: {stderr}");
}

#[test]
fn missing_config_file_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = run_to_end(
        fff().args(["scanner", "--config", "does-not-exist.toml"]),
        dir.path(),
    );
    assert_eq!(code, Some(64), "stderr: {stderr}");
    assert!(stderr.contains("does-not-exist.toml"), "stderr: {stderr}");
}
