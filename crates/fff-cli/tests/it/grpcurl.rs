//! The operator's view: `grpcurl -plaintext HOST:PORT list` against a running role. grpcurl is
//! installed by `.ci/run`; on a developer machine without it the test says so and passes only
//! outside CI.

use std::process::Command;

use crate::harness::start_role_listening;

fn grpcurl_available() -> bool {
    Command::new("grpcurl").arg("-version").output().is_ok()
}

#[tokio::test]
async fn grpcurl_lists_role_health_and_reflection() {
    if !grpcurl_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "grpcurl must be installed in CI (.ci/run installs it)"
        );
        eprintln!("grpcurl not installed: skipping the grpcurl check");
        return;
    }
    let role = start_role_listening("rebalancer", &[]).await.unwrap();
    let output = Command::new("grpcurl")
        .args(["-plaintext", &role.addr.to_string(), "list"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    for name in [
        "fff.rebalancer.v1.Rebalancer",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(listed.lines().any(|l| l == name), "{name} not in {listed}");
    }
    let unauthenticated = Command::new("grpcurl")
        .args([
            "-plaintext",
            &role.addr.to_string(),
            "fff.rebalancer.v1.Rebalancer/TriggerNow",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&unauthenticated.stderr);
    assert!(stderr.contains("Unauthenticated"), "{stderr}");
}
