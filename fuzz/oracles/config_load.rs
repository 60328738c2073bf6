//! Oracle shared by the `config_load` fuzz target and `crates/fff-runtime/tests/prop_config.rs`:
//! the layered config loader (TOML file → `FFF_<SECTION>__<KEY>` env → `section.key=value`
//! overrides → validation) fed arbitrary text. It must never panic; it either returns a config
//! that validates, or errors that each name a key (or the source that could not be read).

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use fff_runtime::FffConfig;
use fff_runtime::config::{ConfigIssue, MapEnv};

/// Known section names, so generated env keys and overrides often hit real keys.
pub const SECTIONS: &[&str] = &[
    "capital",
    "risk",
    "pair_selection",
    "execution",
    "rebalance",
    "services",
    "server",
    "telemetry",
    "auth",
    "database",
    "exchange",
    "scanner",
    "risk_service",
    "rebalancer",
];

/// Input format: the TOML file text, then optionally a line `---env---` followed by `NAME=value`
/// lines, then optionally `---overrides---` followed by `section.key=value` lines.
pub fn split_input(text: &str) -> (String, Vec<(String, String)>, Vec<String>) {
    let (toml, rest) = text.split_once("---env---").unwrap_or((text, ""));
    let (env, overrides) = rest.split_once("---overrides---").unwrap_or((rest, ""));
    let env = env
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let overrides = overrides
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    (toml.to_owned(), env, overrides)
}

/// Checks the loader's contract on one result.
pub fn check_result(result: Result<FffConfig, fff_runtime::config::ConfigError>) {
    match result {
        Ok(config) => {
            let problems = config.validate();
            assert!(
                problems.is_empty(),
                "loaded config fails validation: {problems:?}"
            );
        }
        Err(error) => {
            assert!(!error.issues.is_empty(), "an error with no issues");
            for issue in &error.issues {
                match issue {
                    ConfigIssue::UnknownKey { key, .. } | ConfigIssue::Invalid { key, .. } => {
                        assert!(!key.trim().is_empty(), "issue names no key: {issue:?}");
                    }
                    ConfigIssue::Source { message, .. } => {
                        assert!(!message.is_empty(), "source issue without a message");
                    }
                }
                // Display must work and stay on one logical issue per line.
                let _ = issue.to_string();
            }
            let shown = error.to_string();
            assert!(
                shown.lines().count() > error.issues.len(),
                "one line per issue: {shown}"
            );
        }
    }
}

/// TOML text alone (no file system).
pub fn check_toml(text: &str) {
    check_result(FffConfig::from_toml_str(text, Path::new("fuzz.toml")));
}

/// TOML file + env + overrides, through the same entry point the binary uses. `file` is a
/// scratch path this process owns.
pub fn check_layers(file: &Path, toml: &str, env: &[(String, String)], overrides: &[String]) {
    {
        let mut f = std::fs::File::create(file).expect("scratch config file");
        f.write_all(toml.as_bytes()).expect("write scratch config");
    }
    let mut map = MapEnv::new();
    for (k, v) in env {
        map = map.with(k, v);
    }
    check_result(FffConfig::load(Some(file), &map, overrides));
    // The same values as env only and as overrides only.
    check_result(FffConfig::load(None, &map, &[]));
    check_result(FffConfig::load(None, &MapEnv::new(), overrides));
}

/// A scratch file unique to this process (and thread).
pub fn scratch_path() -> PathBuf {
    let dir = std::env::temp_dir();
    dir.join(format!(
        "fff-fuzz-config-{}-{:?}.toml",
        std::process::id(),
        std::thread::current().id()
    ))
}

/// The whole oracle for one raw input.
pub fn check(data: &[u8], scratch: &Path) {
    let text = String::from_utf8_lossy(data);
    check_toml(&text);
    let (toml, env, overrides) = split_input(&text);
    check_layers(scratch, &toml, &env, &overrides);
}
