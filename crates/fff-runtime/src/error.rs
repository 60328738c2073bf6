//! The crate's error type.

use std::path::PathBuf;

use crate::config::ConfigError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot read auth token file {path}")]
    TokenRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create auth token file {path}")]
    TokenCreate {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("auth token from {source_name} is empty or not printable ascii")]
    TokenInvalid { source_name: String },
    #[error("cannot read {key} {path}")]
    TlsFile {
        key: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build grpc reflection service")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("grpc server failed")]
    Transport(#[from] tonic::transport::Error),
    #[error("cannot build otlp exporter")]
    OtlpExporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("cannot install tracing subscriber: {0}")]
    Subscriber(String),
}
