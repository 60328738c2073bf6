//! config/fff.example.toml documents every key with its default: loading it must give exactly
//! the defaults, and it must mention every key the config knows.

use std::path::PathBuf;

use fff_runtime::FffConfig;
use fff_runtime::config::MapEnv;

fn example_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/fff.example.toml")
}

#[test]
fn example_config_loads_to_the_defaults() {
    let path = example_path();
    let config = FffConfig::load(Some(&path), &MapEnv::new(), &[]).unwrap();
    assert_eq!(config, FffConfig::default());
}

#[test]
fn example_config_documents_every_key() {
    let text = std::fs::read_to_string(example_path()).unwrap();
    // optional keys are documented commented out; uncomment them to see every key
    let uncommented: String = text
        .lines()
        .map(|line| uncomment_setting(line).unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n");
    let documented: toml::Table = toml::from_str(&uncommented).unwrap();
    let defaults = toml::Value::try_from(FffConfig::default()).unwrap();
    let mut missing = Vec::new();
    collect_missing(&defaults, &documented, "", &mut missing);
    assert!(
        missing.is_empty(),
        "keys missing from the example: {missing:?}"
    );
    for optional in ["otlp_endpoint", "service_name", "token_file"] {
        assert!(
            documented_key(&documented, optional),
            "{optional} not documented"
        );
    }
}

/// `# key = value` -> `key = value`; prose comments stay comments.
fn uncomment_setting(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("# ")?;
    let (key, _) = rest.split_once(" = ")?;
    key.bytes()
        .all(|b| b.is_ascii_lowercase() || b == b'_')
        .then_some(rest)
}

fn documented_key(table: &toml::Table, key: &str) -> bool {
    table
        .values()
        .any(|v| v.as_table().is_some_and(|t| t.contains_key(key)))
}

fn collect_missing(
    defaults: &toml::Value,
    documented: &toml::Table,
    prefix: &str,
    out: &mut Vec<String>,
) {
    let Some(table) = defaults.as_table() else {
        return;
    };
    for (key, value) in table {
        let path = format!("{prefix}{key}");
        match documented.get(key) {
            None => out.push(path),
            Some(toml::Value::Table(sub)) => collect_missing(value, sub, &format!("{path}."), out),
            Some(_) => {}
        }
    }
}
