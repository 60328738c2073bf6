//! Logs and traces: one `init` per process, called by every role's shim.
//!
//! - `EnvFilter` from `RUST_LOG`, else `telemetry.log_filter`;
//! - JSON logs on stderr (stdout stays free for command output), human-readable when stderr is a terminal (`telemetry.log_format`);
//! - spans exported over OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` or
//!   `telemetry.otlp_endpoint` is set, sampled parent-based with `telemetry.sample_ratio`;
//! - W3C trace context propagated in gRPC metadata (see [`propagation`]).

pub mod propagation;

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::config::{EnvSource, LogFormat, ProcessEnv, TelemetryConfig, vars};
use crate::error::{Error, Result};

pub use propagation::{
    ClientInterceptor, current_traceparent, inject_trace_context, server_span,
    set_parent_from_traceparent,
};

/// Keeps the trace exporter alive; call [`TelemetryGuard::shutdown`] before exit to flush the
/// last spans (dropping the guard does the same, without reporting errors).
#[derive(Debug)]
#[must_use = "dropping the guard shuts the trace exporter down"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    installed: bool,
}

impl TelemetryGuard {
    /// Whether this call installed the global subscriber (false when one already existed,
    /// e.g. a second init in tests).
    pub fn installed(&self) -> bool {
        self.installed
    }

    /// Whether spans are exported over OTLP.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Flushes and stops the exporter. Blocks until the batch is sent or fails.
    pub fn shutdown(mut self) -> Result<()> {
        match self.provider.take() {
            Some(provider) => provider
                .shutdown()
                .map_err(|e| Error::Subscriber(format!("trace exporter shutdown failed: {e}"))),
            None => Ok(()),
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Initializes telemetry from the process environment. Must run inside a tokio runtime when
/// exporting (the OTLP exporter uses tonic). Safe to call twice: the second call installs
/// nothing and reports `installed() == false`.
pub fn init(service_name: &str, config: &TelemetryConfig) -> Result<TelemetryGuard> {
    init_with_env(service_name, config, &ProcessEnv)
}

/// [`init`] with an explicit environment, for tests.
pub fn init_with_env(
    service_name: &str,
    config: &TelemetryConfig,
    env: &dyn EnvSource,
) -> Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let filter_text = env
        .non_empty(vars::RUST_LOG)
        .unwrap_or_else(|| config.log_filter.clone());
    let filter = EnvFilter::builder()
        .parse(&filter_text)
        .map_err(|e| Error::Subscriber(format!("invalid log filter {filter_text:?}: {e}")))?;

    let json = match config.log_format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let fmt_layer = if json {
        fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        fmt::layer().with_writer(std::io::stderr).boxed()
    };

    let endpoint = env
        .non_empty(vars::OTEL_EXPORTER_OTLP_ENDPOINT)
        .or_else(|| config.otlp_endpoint.clone());
    let name = resolve_service_name(service_name, config, env);
    let provider = match endpoint {
        Some(endpoint) => Some(tracer_provider(&endpoint, &name, config.sample_ratio)?),
        None => None,
    };
    let otel_layer = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(name.clone())));

    let installed = tracing_subscriber::registry()
        .with(fmt_layer)
        .with(otel_layer)
        .with(filter)
        .try_init()
        .is_ok();
    let provider = match provider {
        Some(provider) if installed => {
            opentelemetry::global::set_tracer_provider(provider.clone());
            Some(provider)
        }
        Some(provider) => {
            let _ = provider.shutdown();
            None
        }
        None => None,
    };
    if installed {
        tracing::info!(
            service.name = %name,
            otlp = provider.is_some(),
            filter = %filter_text,
            "telemetry initialized"
        );
    }
    Ok(TelemetryGuard {
        provider,
        installed,
    })
}

/// `telemetry.service_name`, else `OTEL_SERVICE_NAME`, else the name the role passed.
fn resolve_service_name(default: &str, config: &TelemetryConfig, env: &dyn EnvSource) -> String {
    config
        .service_name
        .clone()
        .or_else(|| env.non_empty(vars::OTEL_SERVICE_NAME))
        .unwrap_or_else(|| default.to_owned())
}

fn tracer_provider(endpoint: &str, service_name: &str, ratio: f64) -> Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            ratio,
        ))))
        .with_resource(
            Resource::builder()
                .with_service_name(service_name.to_owned())
                .build(),
        )
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapEnv;

    #[test]
    fn service_name_precedence() {
        let mut config = TelemetryConfig::default();
        let env = MapEnv::from([("OTEL_SERVICE_NAME", "from-env")]);
        assert_eq!(
            resolve_service_name("fff-risk", &config, &MapEnv::new()),
            "fff-risk"
        );
        assert_eq!(resolve_service_name("fff-risk", &config, &env), "from-env");
        config.service_name = Some("from-config".into());
        assert_eq!(
            resolve_service_name("fff-risk", &config, &env),
            "from-config"
        );
    }

    #[tokio::test]
    async fn init_twice_is_harmless_and_bad_filters_fail() {
        let config = TelemetryConfig {
            log_format: LogFormat::Json,
            ..TelemetryConfig::default()
        };
        let first = init_with_env("fff-test", &config, &MapEnv::new()).unwrap();
        let second = init_with_env("fff-test", &config, &MapEnv::new()).unwrap();
        // another test may have installed the subscriber first; never both
        assert!(!(first.installed() && second.installed()));
        assert!(!second.exporting());
        first.shutdown().unwrap();
        second.shutdown().unwrap();
        let bad = MapEnv::from([("RUST_LOG", "info,[")]);
        assert!(init_with_env("fff-test", &config, &bad).is_err());
    }
}
