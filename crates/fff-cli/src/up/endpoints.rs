//! `.fff/endpoints.json`: where the running `fff up` serves the executor and risk, so that
//! `fff status` run from the same directory finds a suite moved by `--base-port` (or `--set`)
//! without repeating its ports. Written once every role is SERVING, removed when `fff up` stops.

use std::path::{Path, PathBuf};

use fff_runtime::FffConfig;
use serde_json::{Value, json};

const FILE: &str = "endpoints.json";

/// The endpoints a running suite serves, as `fff status` needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub executor: String,
    pub risk: String,
}

impl Endpoints {
    pub fn of(config: &FffConfig) -> Self {
        Self {
            executor: config.services.executor.clone(),
            risk: config.services.risk.clone(),
        }
    }

    pub fn write(&self, home: &Path) -> std::io::Result<PathBuf> {
        let path = home.join(FILE);
        let body = json!({"executor": self.executor, "risk": self.risk});
        std::fs::write(&path, format!("{body}\n"))?;
        Ok(path)
    }

    /// The endpoints `fff up` left in `home`, if it is running there; a file that is absent or
    /// not ours is no answer (the caller falls back to the configuration).
    pub fn read(home: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(home.join(FILE)).ok()?;
        let value: Value = serde_json::from_str(&text).ok()?;
        Some(Self {
            executor: value.get("executor")?.as_str()?.to_owned(),
            risk: value.get("risk")?.as_str()?.to_owned(),
        })
    }

    pub fn remove(home: &Path) {
        // absent already is fine: nothing else to undo
        let _ = std::fs::remove_file(home.join(FILE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_endpoints_read_back_and_removal_or_garbage_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let endpoints = Endpoints {
            executor: "http://127.0.0.1:47103".into(),
            risk: "http://127.0.0.1:47104".into(),
        };
        endpoints.write(dir.path()).unwrap();
        assert_eq!(Endpoints::read(dir.path()), Some(endpoints));
        Endpoints::remove(dir.path());
        assert_eq!(Endpoints::read(dir.path()), None);
        std::fs::write(dir.path().join(FILE), "{\"executor\": 1}").unwrap();
        assert_eq!(Endpoints::read(dir.path()), None);
    }
}
