//! The crate's error type.

use std::path::PathBuf;

/// Everything a pull or a recording can fail on.
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
    /// An archive download failed in transit or with an unexpected HTTP status.
    #[error("{url}: {reason}")]
    Http {
        url: String,
        reason: String,
        /// Worth another try (connection, timeout, 5xx, 429).
        retryable: bool,
    },
    /// A downloaded zip does not match its published `.CHECKSUM`; the zip was deleted.
    #[error(
        "{file}: checksum mismatch: .CHECKSUM says sha256 {expected}, the download is {actual}; the file was deleted"
    )]
    Checksum {
        file: String,
        expected: String,
        actual: String,
    },
    /// An archive file (zip or `.CHECKSUM`) is not what Binance publishes.
    #[error("{file}: {reason}")]
    BadArchive { file: String, reason: String },
    /// Some archive files could not be fetched; the others were kept (a re-run retries only the
    /// missing ones).
    #[error(
        "{} archive file(s) failed, re-run to retry ({ok} verified file(s) are kept): {}{}",
        failed.len() + more,
        failed.join("; "),
        if *more > 0 { format!("; and {more} more") } else { String::new() }
    )]
    Incomplete {
        failed: Vec<String>,
        more: usize,
        ok: usize,
    },
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
