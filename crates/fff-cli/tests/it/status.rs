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
