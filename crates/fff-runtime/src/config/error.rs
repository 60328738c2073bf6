//! Config problems, collected so one run reports all of them.

use std::fmt;
use std::path::PathBuf;

/// Where a config value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    /// Environment variable name.
    Env(String),
    /// The whole `section.key=value` override string.
    Override(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "in {}", path.display()),
            Origin::Env(name) => write!(f, "in env {name}"),
            Origin::Override(text) => write!(f, "in override {text:?}"),
        }
    }
}

/// One problem with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigIssue {
    /// A key that no section defines.
    UnknownKey { key: String, origin: Origin },
    /// A value of the wrong type or outside its allowed range; `origin` says who set it, if not
    /// the defaults.
    Invalid {
        key: String,
        message: String,
        origin: Option<Origin>,
    },
    /// A source that could not be read or parsed at all.
    Source { origin: Origin, message: String },
}

impl ConfigIssue {
    /// The dotted key path, if the issue concerns one key.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigIssue::UnknownKey { key, .. } | ConfigIssue::Invalid { key, .. } => Some(key),
            ConfigIssue::Source { .. } => None,
        }
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigIssue::UnknownKey { key, origin } => write!(f, "unknown key {key:?} {origin}"),
            ConfigIssue::Invalid {
                key,
                message,
                origin: None,
            } => write!(f, "{key}: {message}"),
            ConfigIssue::Invalid {
                key,
                message,
                origin: Some(origin),
            } => write!(f, "{key}: {message} (set {origin})"),
            ConfigIssue::Source { origin, message } => write!(f, "{message} {origin}"),
        }
    }
}

/// Every problem found while loading the configuration; `Display` lists them all, one a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.issues.len();
        write!(
            f,
            "invalid configuration ({n} problem{})",
            if n == 1 { "" } else { "s" }
        )?;
        for issue in &self.issues {
            write!(f, "\n  - {issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
