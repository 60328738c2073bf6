//! W3C trace context across gRPC: clients inject `traceparent` from the current tracing span,
//! servers open one span per request whose parent is the incoming `traceparent`.
//!
//! A `TraceContextPropagator` is used directly (not the global one), so propagation works even
//! where `telemetry::init` was not called (tests, embedded use).

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::service::Interceptor;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::auth::BearerAuth;
use crate::error::Result;
use crate::secret::SecretString;

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Writes the current span's trace context into `metadata`.
pub fn inject_into(metadata: &mut MetadataMap) {
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut MetadataInjector(metadata));
}

/// Client interceptor fn: `XClient::with_interceptor(channel, inject_trace_context)`.
pub fn inject_trace_context(
    mut request: tonic::Request<()>,
) -> Result<tonic::Request<()>, tonic::Status> {
    inject_into(request.metadata_mut());
    Ok(request)
}

/// Server span for `Server::trace_fn`: `grpc.server` with `rpc.method`, parented on the
/// incoming `traceparent` (if any).
pub fn server_span(request: &http::Request<()>) -> tracing::Span {
    crate::metrics::counter_add(
        "fff_grpc_requests_total",
        "gRPC requests received, by method.",
        &[("method", request.uri().path())],
        1.0,
    );
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
    let span = tracing::info_span!(
        "grpc.server",
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.method = %request.uri().path(),
    );
    // fails only when no OpenTelemetry layer is installed; the span is still fine for logs
    let _ = span.set_parent(parent);
    span
}

/// The current span's W3C `traceparent`, or an empty string when it is not traced (no
/// OpenTelemetry layer, or not sampled). For trace context carried in message bodies.
pub fn current_traceparent() -> String {
    let context = tracing::Span::current().context();
    let mut map = std::collections::HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut map);
    map.remove("traceparent").unwrap_or_default()
}

/// Parents `span` on a `traceparent` carried in a message body (a long-lived server stream
/// cannot carry per-message metadata). Empty or malformed values leave `span` as it is.
pub fn set_parent_from_traceparent(span: &tracing::Span, traceparent: &str) {
    if traceparent.is_empty() {
        return;
    }
    let map = std::collections::HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&map);
    // fails only when no OpenTelemetry layer is installed
    let _ = span.set_parent(parent);
}

/// Client interceptor for calls between roles and from the CLI: trace context, plus the bearer
/// token when one is given.
#[derive(Debug, Clone, Default)]
pub struct ClientInterceptor {
    auth: Option<BearerAuth>,
}

impl ClientInterceptor {
    /// `token: None` sends no `authorization` header (read-only clients).
    pub fn new(token: Option<&SecretString>) -> Result<Self> {
        Ok(Self {
            auth: token.map(BearerAuth::new).transpose()?,
        })
    }
}

impl Interceptor for ClientInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        inject_into(request.metadata_mut());
        if let Some(auth) = &self.auth {
            auth.apply(request.metadata_mut());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn traceparent_travels_from_client_span_to_server_span() {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let client_span = tracing::info_span!("client");
            let client_context = client_span.context();
            let client_ids = client_context.span().span_context().clone();
            assert!(client_ids.is_valid());

            let mut interceptor = ClientInterceptor::new(Some(&SecretString::from("tok"))).unwrap();
            let request = client_span
                .in_scope(|| interceptor.call(tonic::Request::new(())))
                .unwrap();
            let traceparent = request
                .metadata()
                .get("traceparent")
                .unwrap()
                .to_str()
                .unwrap();
            assert!(
                traceparent.contains(&client_ids.trace_id().to_string()),
                "{traceparent}"
            );
            assert!(request.metadata().get("authorization").is_some());

            let http_request = http::Request::builder()
                .uri("http://x/pkg.Svc/Method")
                .header("traceparent", traceparent)
                .body(())
                .unwrap();
            let server = server_span(&http_request);
            let server_context = server.context();
            let server_ids = server_context.span().span_context().clone();
            assert_eq!(server_ids.trace_id(), client_ids.trace_id());
            assert_ne!(server_ids.span_id(), client_ids.span_id());
        });
        let _ = provider.shutdown();
    }

    #[test]
    fn traceparent_in_a_message_body_parents_the_consumer_span() {
        assert_eq!(current_traceparent(), "", "untraced without a layer");
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let producer = tracing::info_span!("producer");
            let producer_ids = producer.context().span().span_context().clone();
            let traceparent = producer.in_scope(current_traceparent);
            assert!(traceparent.starts_with("00-"), "{traceparent}");

            let consumer = tracing::info_span!("consumer");
            set_parent_from_traceparent(&consumer, &traceparent);
            let consumer_ids = consumer.context().span().span_context().clone();
            assert_eq!(consumer_ids.trace_id(), producer_ids.trace_id());

            let orphan = tracing::info_span!("orphan");
            set_parent_from_traceparent(&orphan, "garbage");
            let orphan_ids = orphan.context().span().span_context().clone();
            assert_ne!(orphan_ids.trace_id(), producer_ids.trace_id());
        });
        let _ = provider.shutdown();
    }
}
