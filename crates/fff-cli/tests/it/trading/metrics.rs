//! The roles' Prometheus endpoints (`telemetry.metrics_listen`) while the stack trades.

use std::time::Duration;

use fff_testkit::{free_port, wait_for};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Options, stack};

async fn scrape(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: fff\r\n\r\n")
        .await
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    response.starts_with("HTTP/1.1 200").then_some(response)
}

/// Waits until the endpoint on `port` exposes every name in `names`.
async fn exposes(port: u16, names: &[&str]) -> String {
    let found = wait_for(Duration::from_secs(30), || async {
        let text = scrape(port).await?;
        names.iter().all(|n| text.contains(n)).then_some(text)
    })
    .await;
    match found {
        Ok(text) => text,
        Err(_) => panic!(
            "metrics on {port} lack some of {names:?}:\n{}",
            scrape(port).await.unwrap_or_default()
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_risk_and_executor_expose_prometheus_metrics() {
    let gateway_port = free_port().unwrap();
    let risk_port = free_port().unwrap();
    let executor_port = free_port().unwrap();
    // Options takes static strings for the executor (test-only leak)
    let executor_listen: &'static str =
        Box::leak(format!("127.0.0.1:{executor_port}").into_boxed_str());
    let listen = |port: u16| {
        vec![(
            "FFF_TELEMETRY__METRICS_LISTEN".to_owned(),
            format!("127.0.0.1:{port}"),
        )]
    };
    let _stack = stack(Options {
        scanner: true,
        gateway_env: listen(gateway_port),
        risk_env: listen(risk_port),
        executor_env: vec![("FFF_TELEMETRY__METRICS_LISTEN", executor_listen)],
        ..Options::default()
    })
    .await;
    let gateway = exposes(
        gateway_port,
        &[
            "# TYPE fff_gateway_order_latency_seconds histogram",
            "fff_gateway_order_latency_seconds_bucket{outcome=\"ok\",le=\"+Inf\"}",
            "fff_gateway_rate_limit_used{scope=\"futures\"",
            "fff_grpc_requests_total{method=\"/fff.gateway.v1.Gateway/PlaceOrder\"}",
            "fff_up{role=\"gateway\"",
        ],
    )
    .await;
    assert!(gateway.contains("content-type: text/plain; version=0.0.4"));
    exposes(
        risk_port,
        &[
            "# TYPE fff_risk_futures_margin_ratio gauge",
            "fff_risk_cross_margin_level",
            "fff_open_positions",
            "fff_up{role=\"risk\"",
        ],
    )
    .await;
    exposes(
        executor_port,
        &[
            "# TYPE fff_executor_reconciliations_total counter",
            "fff_executor_reconciliations_total{outcome=\"clean\"}",
            "fff_up{role=\"executor\"",
        ],
    )
    .await;
}
