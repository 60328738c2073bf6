//! Secrets never reach logs or traces: the whole suite runs with known API key and secret,
//! auth token and database password, at debug level for fff's own crates and with every span
//! exported, and no log line, `fff up` output or span attribute may contain any of them.

use std::time::{Duration, Instant};

use crate::trading::traces::Collector;
use crate::up::start_suite_with;

const API_KEY: &str = "KEYk3y-4f9c1d7e2b8a6055";
const API_SECRET: &str = "SECs3cr3t-9b2d4a1e7c6f3308";
const AUTH_TOKEN: &str = "TOKt0k3n-5e8d2c9a1b7f4460";
const DB_PASSWORD: &str = "PWDpassw0rd-3c7a9e1d5b2f8814";

fn sim_config() -> String {
    format!(
        r#"
[[accounts]]
name = "secret-test"
api_key = "{API_KEY}"
api_secret = "{API_SECRET}"
spot = {{ USDT = "100000" }}
margin = {{ USDT = "100000" }}
futures = {{ USDT = "100000" }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_any_log_line_or_span() {
    let (collector, otlp, _server) = Collector::start();
    let db = fff_testkit::test_database().await.unwrap();
    // the throwaway cluster trusts local connections, so any password is accepted: the URL
    // still carries it everywhere the roles use it
    let url = db
        .url()
        .replacen("postgres@", &format!("postgres:{DB_PASSWORD}@"), 1);
    assert!(
        url.contains(DB_PASSWORD),
        "test database URL has no user: {url}"
    );
    let endpoint = format!("http://{otlp}");
    let suite = start_suite_with(
        "3600",
        &[
            ("BINANCE_API_KEY", API_KEY),
            ("BINANCE_API_SECRET", API_SECRET),
            ("FFF_AUTH_TOKEN", AUTH_TOKEN),
            ("DATABASE_URL", &url),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
            ("FFF_TELEMETRY__SAMPLE_RATIO", "1.0"),
            (
                "RUST_LOG",
                "info,fff_gateway=debug,fff_binance=debug,fff_executor=debug,fff_risk=debug,\
                 fff_runtime=debug,fff_scanner=debug,fff_rebalancer=debug",
            ),
        ],
        Some(&sim_config()),
    );
    // trade: orders are signed with the secret and sent with the key
    let started = Instant::now();
    loop {
        if let Some(status) = suite.status()
            && status["positions"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "no position opened; logs in {}",
            suite.dir.path().join(".fff/logs").display()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let dir = suite.dir.path().to_owned();
    let mut up = suite.up;
    let mut stdout = up.child.stdout.take().unwrap();
    let pid = up.child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    // stdout closes when fff up exits
    let output = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
        text
    })
    .await
    .unwrap();
    drop(up);

    let secrets = [API_KEY, API_SECRET, AUTH_TOKEN, DB_PASSWORD];
    let mut lines = 0;
    for entry in std::fs::read_dir(dir.join(".fff/logs")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        lines += text.lines().count();
        for line in text.lines() {
            for secret in secrets {
                assert!(
                    !line.contains(secret),
                    "{} leaks a secret: {line}",
                    path.display()
                );
            }
        }
    }
    assert!(lines > 100, "too few log lines to mean anything: {lines}");
    for secret in secrets {
        assert!(
            !output.contains(secret),
            "fff up printed a secret: {output}"
        );
    }
    let spans = collector.0.lock().unwrap().clone();
    assert!(!spans.is_empty(), "no span exported");
    for span in &spans {
        for (key, value) in &span.attributes {
            for secret in secrets {
                assert!(
                    !value.contains(secret) && !key.contains(secret),
                    "span {} attribute {key} leaks a secret",
                    span.name
                );
            }
        }
    }
}
