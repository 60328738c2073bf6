//! One trace follows a decision across the roles: the scanner's snapshot span is the root, the
//! executor's decision continues it (trace context carried in the snapshot), orders and the
//! gateway's server spans descend from it (trace context in gRPC metadata). Spans are received
//! by an OTLP collector running inside the test.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fff_testkit::{free_port, wait_for};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use tonic::{Request, Response, Status};

use super::{Options, stack};

/// One received span: its trace, name, the exporting service and its string attributes.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    trace_id: Vec<u8>,
    pub name: String,
    service: String,
    pub attributes: BTreeMap<String, String>,
}

/// An OTLP trace collector inside the test.
#[derive(Clone, Default)]
pub(crate) struct Collector(pub Arc<Mutex<Vec<Received>>>);

impl Collector {
    /// Serves OTLP/gRPC on a free loopback port; returns the collector and its address.
    pub(crate) fn start() -> (Self, SocketAddr, tokio::task::JoinHandle<()>) {
        let collector = Self::default();
        let addr: SocketAddr = ([127, 0, 0, 1], free_port().unwrap()).into();
        let service = TraceServiceServer::new(collector.clone());
        let server = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve(addr)
                .await;
        });
        (collector, addr, server)
    }
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut received = Vec::new();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| text(kv.value.as_ref()?.value.as_ref()?))
                .unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                let attributes = span
                    .attributes
                    .iter()
                    .filter_map(|kv| {
                        Some((kv.key.clone(), text(kv.value.as_ref()?.value.as_ref()?)?))
                    })
                    .collect();
                received.push(Received {
                    trace_id: span.trace_id,
                    name: span.name,
                    service: service.clone(),
                    attributes,
                });
            }
        }
        self.0.lock().unwrap().extend(received);
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A trace holding the scanner's snapshot, the executor's decision and an order with its
/// symbol, client order id and leg, seen by at least three services.
fn decision_trace(spans: &[Received]) -> Option<(BTreeSet<String>, Vec<Received>)> {
    let mut traces: BTreeMap<&[u8], Vec<&Received>> = BTreeMap::new();
    for span in spans {
        traces.entry(&span.trace_id).or_default().push(span);
    }
    traces.into_values().find_map(|trace| {
        let has = |name: &str| trace.iter().any(|s| s.name == name);
        let order = trace.iter().any(|s| {
            s.name == "order"
                && ["symbol", "client_order_id", "leg"]
                    .iter()
                    .all(|k| s.attributes.contains_key(*k))
        });
        // the gateway's PlaceOrder span is exported on its own schedule: a trace whose other
        // gateway spans (GetUniverse, GetAccount) arrived first is not complete yet
        let placed = trace.iter().any(|s| {
            s.service.contains("gateway")
                && s.attributes
                    .get("rpc.method")
                    .is_some_and(|m| m.ends_with("/PlaceOrder"))
        });
        let services: BTreeSet<String> = trace.iter().map(|s| s.service.clone()).collect();
        (has("scanner.snapshot")
            && has("executor.decision")
            && order
            && placed
            && services.len() >= 3)
            .then(|| (services, trace.into_iter().cloned().collect()))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_follows_a_decision_from_scanner_to_gateway() {
    let collector = Collector::default();
    let addr: SocketAddr = ([127, 0, 0, 1], free_port().unwrap()).into();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve(addr),
    );
    let stack = stack(Options {
        scanner: true,
        common_env: vec![
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
                format!("http://{addr}"),
            ),
            // export batches quickly so the test does not wait for the default 5 s
            ("OTEL_BSP_SCHEDULE_DELAY".into(), "200".into()),
            ("FFF_TELEMETRY__SAMPLE_RATIO".into(), "1.0".into()),
            // the log filter also selects the exported spans (the harness sets `warn`)
            (
                "RUST_LOG".into(),
                "warn,fff_scanner=info,fff_executor=info,fff_runtime=info".into(),
            ),
        ],
        ..Options::default()
    })
    .await;
    let found = wait_for(Duration::from_secs(45), || {
        let spans = collector.0.lock().unwrap().clone();
        async move { decision_trace(&spans) }
    })
    .await;
    let (services, trace) = match found {
        Ok(found) => found,
        Err(_) => {
            let spans = collector.0.lock().unwrap().clone();
            let names: BTreeSet<(String, String)> = spans
                .iter()
                .map(|s| (s.service.clone(), s.name.clone()))
                .collect();
            panic!("no decision trace across three roles; received {names:?}");
        }
    };
    assert!(
        services.iter().any(|s| s.contains("scanner"))
            && services.iter().any(|s| s.contains("executor"))
            && services.iter().any(|s| s.contains("gateway")),
        "services in the trace: {services:?}"
    );
    // the gateway's PlaceOrder server span is in the same trace (traceparent in metadata)
    assert!(
        trace.iter().any(|s| s.service.contains("gateway")
            && s.attributes
                .get("rpc.method")
                .is_some_and(|m| m.ends_with("/PlaceOrder"))),
        "{trace:#?}"
    );
    let order = trace.iter().find(|s| s.name == "order").unwrap();
    assert!(!order.attributes["client_order_id"].is_empty(), "{order:?}");
    drop(stack);
    server.abort();
}
