//! The crate's error type.

use std::path::PathBuf;

/// Everything a pull can fail on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The exchange (or simulator) refused or could not be reached.
    #[error("{what}: {source}")]
    Exchange {
        what: String,
        #[source]
        source: fff_binance::Error,
    },
    /// Reading or writing an output file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An existing output file is not in the expected layout (resuming would corrupt it).
    #[error("{}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// The arguments cannot be acted on.
    #[error("invalid arguments: {0}")]
    Args(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn exchange(what: impl Into<String>, source: fff_binance::Error) -> Self {
        Self::Exchange {
            what: what.into(),
            source,
        }
    }
}
