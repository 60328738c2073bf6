//! The crate's single error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading data, configuring or running a backtest.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A data file has a malformed value; `line` and `column` are 1-based.
    #[error("{path}:{line}:{column}: {message}")]
    Malformed {
        path: PathBuf,
        line: u64,
        column: usize,
        message: String,
    },
    /// The data directory lacks something the run needs.
    #[error("data: {0}")]
    Data(String),
    /// The configuration file or an override is invalid.
    #[error("config: {0}")]
    Config(String),
    /// Writing an output (JSON, CSV, SVG) failed.
    #[error("output {path}: {message}")]
    Output { path: PathBuf, message: String },
}

/// Crate-wide result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn output(path: impl Into<PathBuf>, message: impl ToString) -> Self {
        Self::Output {
            path: path.into(),
            message: message.to_string(),
        }
    }
}
