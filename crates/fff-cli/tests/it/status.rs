//! `fff status` reports what the services answer and says clearly when they do not.

use crate::harness::fff;

#[test]
fn status_without_services_fails_with_a_reason() {
    let executor = format!("http://127.0.0.1:{}", fff_testkit::free_port().unwrap());
    let risk = format!("http://127.0.0.1:{}", fff_testkit::free_port().unwrap());
    let output = fff()
        .args(["status", "--json", "--executor", &executor, "--risk", &risk])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("neither the executor"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(report["positions"]["error"].is_string(), "{report}");
    assert!(report["risk"]["error"].is_string(), "{report}");
}

#[test]
fn a_report_to_a_closed_pipe_ends_quietly_instead_of_panicking() {
    // `fff ... | head`: the reader is gone before the report is written
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    std::fs::write(&report, r#"{"date": "2026-12-05T11:29", "paths": {}}"#).unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = fff()
        .args(["bench", "--render"])
        .arg(&report)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}
