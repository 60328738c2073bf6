use std::io::Write;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::*;

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn issues_of(result: Result<FffConfig, ConfigError>) -> Vec<String> {
    result
        .unwrap_err()
        .issues
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn nothing_configured_gives_the_defaults() {
    let config = FffConfig::load(None, &MapEnv::new(), &[]).unwrap();
    assert_eq!(config, FffConfig::default());
    assert!(FffConfig::default().validate().is_empty());
}

#[test]
fn later_layers_win() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        file,
        "[capital]\nleverage = 4\nbuffer = \"0.2\"\n[server.ports]\ngateway = 6001"
    )
    .unwrap();
    let env = MapEnv::from([
        ("FFF_CAPITAL__LEVERAGE", "6"),
        ("FFF_SERVER__PORTS__GATEWAY", "6002"),
        ("FFF_SERVICES__RISK", "http://risk:7000"),
        ("FFF_TELEMETRY__LOG_FILTER", "debug,h2=info"),
        ("FFF_AUTH_TOKEN", "not-a-config-key"),
        (
            "FFF_SERVICES__SCANNERS",
            r#"["http://s1:1", "http://s2:2"]"#,
        ),
        ("UNRELATED", "x"),
    ]);
    let overrides = [
        "capital.leverage=7".to_owned(),
        "risk.reduce_fraction=0.3".to_owned(),
    ];
    let config = FffConfig::load(Some(file.path()), &env, &overrides).unwrap();
    assert_eq!(config.capital.leverage, dec("7"));
    assert_eq!(config.capital.buffer, dec("0.2"));
    assert_eq!(config.risk.reduce_fraction, dec("0.3"));
    assert_eq!(config.server.ports.gateway, 6002);
    assert_eq!(config.services.risk, "http://risk:7000");
    assert_eq!(config.services.scanners, ["http://s1:1", "http://s2:2"]);
    assert_eq!(config.telemetry.log_filter, "debug,h2=info");
    assert_eq!(
        config.capital.reserve_ratio,
        CapitalParams::default().reserve_ratio
    );
}

#[test]
fn decimals_from_env_are_exact_and_strings_stay_strings() {
    let env = MapEnv::from([
        ("FFF_CAPITAL__BUFFER", "0.1"),
        ("FFF_TELEMETRY__SERVICE_NAME", "true"),
        ("FFF_AUTH__TOKEN_FILE", "/run/secrets/fff-token"),
    ]);
    let config = FffConfig::load(None, &env, &[]).unwrap();
    assert_eq!(config.capital.buffer, dec("0.1"));
    assert_eq!(config.telemetry.service_name.as_deref(), Some("true"));
    assert_eq!(
        config.auth.token_file.as_deref(),
        Some(Path::new("/run/secrets/fff-token"))
    );
}

#[test]
fn every_problem_is_reported_together_with_its_key_and_source() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        file,
        "[capital]\nreserv_ratio = 0.1\nreserve_ratio = 1.5\n[server.ports]\ngateway = \"abc\"\n[nonsense]\nx = 1"
    )
    .unwrap();
    let path = file.path().display().to_string();
    let env = MapEnv::from([
        ("FFF_RISK__NOPE", "1"),
        ("FFF_CAPITAL_LEVERAGE", "5"),
        ("FFF_TELEMETRY__LOG_FORMAT", "xml"),
    ]);
    let overrides = [
        "database.max_conections=3".to_owned(),
        "no-equals-sign".to_owned(),
        "database.max_connections=0".to_owned(),
    ];
    let error = FffConfig::load(Some(file.path()), &env, &overrides).unwrap_err();
    let text = error.to_string();
    let expected = [
        format!("unknown key \"capital.reserv_ratio\" in {path}"),
        format!("unknown key \"nonsense\" in {path}"),
        "unknown key \"risk.nope\" in env FFF_RISK__NOPE".to_owned(),
        "unknown key \"capital_leverage\" in env FFF_CAPITAL_LEVERAGE".to_owned(),
        "unknown key \"database.max_conections\" in override".to_owned(),
        "override must look like section.key=value in override \"no-equals-sign\"".to_owned(),
        format!("server.ports.gateway: invalid type: string \"abc\", expected u16 (set in {path})"),
        "telemetry.log_format: unknown variant `xml`".to_owned(),
        format!("capital.reserve_ratio: must be in [0, 1), got 1.5 (set in {path})"),
        "database.max_connections: must be positive (set in override".to_owned(),
    ];
    for fragment in &expected {
        assert!(
            text.contains(fragment.as_str()),
            "{fragment:?} missing from:\n{text}"
        );
    }
    // capital.reserve_ratio also breaks "target_utilization + reserve_ratio <= 1"
    assert_eq!(error.issues.len(), expected.len() + 1, "{text}");
}

#[test]
fn range_violations_name_the_key_and_layer() {
    let env = MapEnv::from([("FFF_CAPITAL__RESERVE_RATIO", "1.5")]);
    let overrides = ["database.max_connections=0".to_owned()];
    let issues = issues_of(FffConfig::load(None, &env, &overrides));
    assert!(
        issues.iter().any(
            |i| i.starts_with("capital.reserve_ratio: must be in [0, 1)")
                && i.ends_with("(set in env FFF_CAPITAL__RESERVE_RATIO)")
        ),
        "{issues:?}"
    );
    assert!(
        issues
            .iter()
            .any(|i| i.starts_with("database.max_connections: must be positive")),
        "{issues:?}"
    );
}

#[test]
fn missing_file_and_bad_toml_are_reported() {
    let missing = Path::new("/nonexistent/fff.toml");
    let issues = issues_of(FffConfig::load(Some(missing), &MapEnv::new(), &[]));
    assert_eq!(issues.len(), 1);
    assert!(
        issues[0].starts_with("cannot read config file"),
        "{issues:?}"
    );

    let issues = issues_of(FffConfig::from_toml_str("[capital\n", Path::new("x.toml")));
    assert!(issues[0].starts_with("invalid toml"), "{issues:?}");
}

#[test]
fn secrets_come_from_env_and_stay_redacted() {
    let env = MapEnv::from([
        ("DATABASE_URL", "postgres://u:hunter2@db/fff"),
        ("FFF_AUTH_TOKEN", ""),
        ("BINANCE_API_KEY", "key"),
    ]);
    let secrets = Secrets::from_env(&env);
    assert_eq!(
        secrets.database_url.as_ref().map(|s| s.expose().as_str()),
        Some("postgres://u:hunter2@db/fff")
    );
    assert!(secrets.auth_token.is_none());
    assert!(!format!("{secrets:?}").contains("hunter2"));
}
