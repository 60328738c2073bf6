//! Spans reach an OTLP/gRPC collector: a fake collector (served by our own builder) records the
//! export calls it receives.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use fff_runtime::config::{MapEnv, ServerConfig, TelemetryConfig};
use fff_runtime::grpc::GrpcServer;
use fff_runtime::shutdown::Shutdown;
use fff_runtime::telemetry;
use futures_util::future::{Ready, ready};
use tonic::body::Body;
use tonic::server::NamedService;

#[derive(Clone, Default)]
struct FakeCollector {
    paths: Arc<Mutex<Vec<String>>>,
}

impl NamedService for FakeCollector {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl tower::Service<http::Request<Body>> for FakeCollector {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if let Ok(mut paths) = self.paths.lock() {
            paths.push(request.uri().path().to_owned());
        }
        // the exporter only needs to reach us; an error reply keeps the fake small
        ready(Ok(
            tonic::Status::unimplemented("fake collector").into_http()
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_to_the_configured_collector() {
    let collector = FakeCollector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let server =
        GrpcServer::new("collector", &ServerConfig::default()).add_service(collector.clone(), &[]);
    let task = tokio::spawn(server.serve(listener, shutdown.wait()));

    let config = TelemetryConfig {
        otlp_endpoint: Some(format!("http://{addr}")),
        log_filter: "warn,it=info".to_owned(),
        ..TelemetryConfig::default()
    };
    let guard = telemetry::init_with_env("fff-it", &config, &MapEnv::new()).unwrap();
    assert!(
        guard.installed(),
        "only this test installs the subscriber in this binary"
    );
    assert!(guard.exporting());
    tracing::info_span!("unit_of_work").in_scope(|| tracing::info!("inside"));
    // shutdown flushes the batch synchronously; keep it off the runtime's worker thread
    let _ = tokio::task::spawn_blocking(move || guard.shutdown())
        .await
        .unwrap();

    let paths = collector.paths.lock().unwrap().clone();
    assert!(
        paths
            .iter()
            .any(|p| p == "/opentelemetry.proto.collector.trace.v1.TraceService/Export"),
        "{paths:?}"
    );
    shutdown.trigger();
    task.await.unwrap().unwrap();
}
