//! Property tests mirroring the `config_load` fuzz target (`fuzz/`): the same oracle
//! (`fuzz/oracles/config_load.rs`) fed configs built from the real schema with random and
//! garbage values, through the TOML file, `FFF_<SECTION>__<KEY>` env vars and overrides. The
//! loader never panics; it returns a config that validates, or issues that each name a key.

use proptest::prelude::*;
use toml::Value;

#[path = "../../../fuzz/oracles/config_load.rs"]
mod oracle;

/// Every leaf key of the default configuration, as dotted paths.
fn known_keys() -> Vec<String> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Table(table) => {
                for (k, v) in table {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&path, v, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    let defaults = Value::try_from(fff_runtime::FffConfig::default()).expect("defaults serialise");
    let mut keys = Vec::new();
    walk("", &defaults, &mut keys);
    keys
}

/// TOML value text: right types, wrong types, out-of-range numbers, NaN, huge strings.
fn value_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "0",
            "-1",
            "1",
            "0.5",
            "-0.5",
            "1e308",
            "-1e308",
            "nan",
            "inf",
            "-inf",
            "true",
            "false",
            "\"\"",
            "\"0.2\"",
            "\"-1\"",
            "\"NaN\"",
            "\"abc\"",
            "\"http://127.0.0.1:9\"",
            "[]",
            "[1, 2]",
            "[\"a\"]",
            "{}",
            "{ x = 1 }",
            "9223372036854775807",
            "-9223372036854775808",
            "18446744073709551616",
            "\"79228162514264337593543950336\"",
            "1979-05-27T07:32:00Z",
        ])
        .prop_map(str::to_owned),
        any::<i64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        "\"[ -~]{0,20}\"",
    ]
}

fn config_input() -> impl Strategy<Value = (String, Vec<(String, String)>, Vec<String>)> {
    let keys = known_keys();
    let key = prop_oneof![
        9 => prop::sample::select(keys),
        1 => "[a-z_]{1,8}\\.[a-z_]{1,8}",
    ];
    (
        prop::collection::vec((key.clone(), value_text()), 0..6),
        prop::collection::vec((key.clone(), "[ -~]{0,16}"), 0..4),
        prop::collection::vec((key, "[ -~]{0,16}"), 0..4),
    )
        .prop_map(|(file, env, overrides)| {
            // dotted keys (`capital.reserve_ratio = 0.1`) let one file set keys of many sections
            let toml = file
                .iter()
                .map(|(key, value)| format!("{key} = {value}\n"))
                .collect::<String>();
            let env = env
                .into_iter()
                .map(|(key, value)| {
                    (
                        format!("FFF_{}", key.replace('.', "__").to_uppercase()),
                        value,
                    )
                })
                .collect();
            let overrides = overrides
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            (toml, env, overrides)
        })
}

#[test]
fn shipped_config_files_pass_the_oracle() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config");
    let scratch = oracle::scratch_path();
    for entry in std::fs::read_dir(dir).expect("config dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).expect("readable");
            oracle::check(text.as_bytes(), &scratch);
        }
    }
    let _ = std::fs::remove_file(scratch);
}

#[test]
fn a_bad_value_is_reported_with_its_key() {
    let error = fff_runtime::FffConfig::from_toml_str(
        "[capital]\nreserve_ratio = \"lots\"\n",
        std::path::Path::new("x.toml"),
    )
    .expect_err("a string is not a ratio");
    assert!(
        error
            .issues
            .iter()
            .any(|i| i.key() == Some("capital.reserve_ratio")),
        "{error}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn schema_shaped_configs_load_or_name_the_key((toml, env, overrides) in config_input()) {
        let scratch = oracle::scratch_path();
        oracle::check_toml(&toml);
        oracle::check_layers(&scratch, &toml, &env, &overrides);
        let _ = std::fs::remove_file(scratch);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let scratch = oracle::scratch_path();
        oracle::check(text.as_bytes(), &scratch);
        let _ = std::fs::remove_file(scratch);
    }
}
