//! `[alerts]`: operator notifications (Slack, Discord, Telegram or plain JSON webhooks), sent by
//! `fff-alerts` on a background task. The webhook URL and the Telegram bot token and chat id are
//! secrets: read only from the environment (`FFF_ALERTS__WEBHOOK_URL`, ...) or a `--set`
//! override, refused in config files, typed [`SecretString`], printed as `[redacted]` in
//! `Debug`, serialized only as `[redacted]` and named (never shown) in configuration errors. No
//! URL (or, for Telegram, no token and chat id) means alerts are off.

use fff_core::params::ParamError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::secret::SecretString;

/// Keys whose values are secrets: a `--set` override of one is shown as `key=[redacted]`.
pub const SECRET_KEYS: &[&str] = &[
    "alerts.webhook_url",
    "alerts.telegram_bot_token",
    "alerts.telegram_chat_id",
];

/// The JSON a webhook receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertFormat {
    /// Slack incoming webhook: `{"text": ...}`.
    Slack,
    /// Discord webhook: `{"content": ...}`.
    Discord,
    /// Telegram Bot API `sendMessage`: `{"chat_id": ..., "text": ...}`.
    Telegram,
    /// A structured object per event (kind, severity, symbol, figures, action, timestamp, role).
    #[default]
    Json,
}

impl AlertFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertFormat::Slack => "slack",
            AlertFormat::Discord => "discord",
            AlertFormat::Telegram => "telegram",
            AlertFormat::Json => "json",
        }
    }
}

/// How serious an alert is; ordered (`Info < Warning < Critical`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum AlertSeverity {
    #[default]
    Info,
    Warning,
    Critical,
}

impl AlertSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSeverity::Info => "info",
            AlertSeverity::Warning => "warning",
            AlertSeverity::Critical => "critical",
        }
    }
}

/// `[alerts]` settings (read by the roles that raise alerts: risk and executor).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Webhook to POST to (secret; env `FFF_ALERTS__WEBHOOK_URL`). Unset: alerts off.
    #[serde(with = "secret_option", skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<SecretString>,
    pub format: AlertFormat,
    /// Alerts below this severity are not sent.
    pub min_severity: AlertSeverity,
    /// Format `telegram`: the bot token (secret; env `FFF_ALERTS__TELEGRAM_BOT_TOKEN`).
    #[serde(with = "secret_option", skip_serializing_if = "Option::is_none")]
    pub telegram_bot_token: Option<SecretString>,
    /// Format `telegram`: the chat to post to (secret; env `FFF_ALERTS__TELEGRAM_CHAT_ID`).
    #[serde(with = "secret_option", skip_serializing_if = "Option::is_none")]
    pub telegram_chat_id: Option<SecretString>,
    /// Format `telegram`: the Bot API base URL (`<base>/bot<token>/sendMessage`).
    pub telegram_api_url: String,
    /// Alerts raised within this many ms of the first one go out as one message (0: none).
    pub group_window_ms: u64,
    /// Alerts waiting for delivery at most; when full the oldest is dropped (and counted).
    pub queue_capacity: usize,
    /// First retry delay after a failed delivery (5xx, 429, no connection), doubled up to
    /// `retry_max_ms`.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// Timeout of one delivery attempt.
    pub request_timeout_ms: u64,
    /// The same alert (kind, symbol and text) is not repeated within this many seconds.
    pub repeat_after_secs: u64,
    /// A role that cannot reach a dependency for this long raises an alert.
    pub dependency_down_secs: u64,
    /// Funding received differing from the expected amount by more than this fraction of it…
    pub funding_tolerance: Decimal,
    /// …and by more than this amount (in the settlement asset) raises an alert.
    pub funding_tolerance_abs: Decimal,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            webhook_url: None,
            format: AlertFormat::Json,
            min_severity: AlertSeverity::Info,
            telegram_bot_token: None,
            telegram_chat_id: None,
            telegram_api_url: "https://api.telegram.org".to_owned(),
            group_window_ms: 2_000,
            queue_capacity: 256,
            retry_initial_ms: 500,
            retry_max_ms: 30_000,
            request_timeout_ms: 5_000,
            repeat_after_secs: 600,
            dependency_down_secs: 60,
            funding_tolerance: Decimal::new(5, 2),
            funding_tolerance_abs: Decimal::ONE,
        }
    }
}

// Secrets compare by value here only so the whole configuration can be compared in tests.
impl PartialEq for AlertsConfig {
    fn eq(&self, other: &Self) -> bool {
        let same = |a: &Option<SecretString>, b: &Option<SecretString>| {
            a.as_ref().map(|s| s.expose()) == b.as_ref().map(|s| s.expose())
        };
        same(&self.webhook_url, &other.webhook_url)
            && same(&self.telegram_bot_token, &other.telegram_bot_token)
            && same(&self.telegram_chat_id, &other.telegram_chat_id)
            && self.format == other.format
            && self.min_severity == other.min_severity
            && self.telegram_api_url == other.telegram_api_url
            && self.group_window_ms == other.group_window_ms
            && self.queue_capacity == other.queue_capacity
            && self.retry_initial_ms == other.retry_initial_ms
            && self.retry_max_ms == other.retry_max_ms
            && self.request_timeout_ms == other.request_timeout_ms
            && self.repeat_after_secs == other.repeat_after_secs
            && self.dependency_down_secs == other.dependency_down_secs
            && self.funding_tolerance == other.funding_tolerance
            && self.funding_tolerance_abs == other.funding_tolerance_abs
    }
}

fn error(key: &str, message: impl Into<String>) -> ParamError {
    ParamError {
        key: format!("alerts.{key}"),
        message: message.into(),
    }
}

fn is_http(url: &str) -> bool {
    ["http://", "https://"]
        .iter()
        .any(|scheme| url.starts_with(scheme) && url.len() > scheme.len())
}

impl AlertsConfig {
    /// Whether alerts are on: a webhook URL, or for Telegram a bot token and a chat id.
    pub fn enabled(&self) -> bool {
        match self.format {
            AlertFormat::Telegram => {
                self.telegram_bot_token.is_some() && self.telegram_chat_id.is_some()
            }
            _ => self.webhook_url.is_some(),
        }
    }

    /// Every violation; messages never contain a secret's value.
    pub fn validate(&self) -> Vec<ParamError> {
        let mut errors = Vec::new();
        if let Some(url) = &self.webhook_url {
            if self.format == AlertFormat::Telegram {
                errors.push(error(
                    "webhook_url",
                    "is not used with alerts.format = \"telegram\" (set alerts.telegram_bot_token \
                     and alerts.telegram_chat_id)",
                ));
            } else if !is_http(url.expose().trim()) {
                errors.push(error(
                    "webhook_url",
                    "must start with http:// or https:// (value not shown: it is a secret)",
                ));
            }
        }
        if self.format == AlertFormat::Telegram {
            for (key, value) in [
                ("telegram_bot_token", &self.telegram_bot_token),
                ("telegram_chat_id", &self.telegram_chat_id),
            ] {
                if value.is_none() {
                    errors.push(error(key, "is required when alerts.format = \"telegram\""));
                }
            }
            if self.telegram_bot_token.as_ref().is_some_and(|token| {
                token
                    .expose()
                    .chars()
                    .any(|c| c.is_whitespace() || c == '/' || c == '?' || c == '#')
            }) {
                errors.push(error(
                    "telegram_bot_token",
                    "must not contain whitespace, '/', '?' or '#' (value not shown: it is a secret)",
                ));
            }
        }
        if !is_http(&self.telegram_api_url) {
            errors.push(error(
                "telegram_api_url",
                format!(
                    "{:?} must start with http:// or https://",
                    self.telegram_api_url
                ),
            ));
        }
        for (key, value) in [
            ("queue_capacity", self.queue_capacity as u64),
            ("retry_initial_ms", self.retry_initial_ms),
            ("request_timeout_ms", self.request_timeout_ms),
        ] {
            if value == 0 {
                errors.push(error(key, "must be positive"));
            }
        }
        if self.retry_max_ms < self.retry_initial_ms {
            errors.push(error(
                "retry_max_ms",
                format!(
                    "must be at least alerts.retry_initial_ms ({})",
                    self.retry_initial_ms
                ),
            ));
        }
        for (key, value) in [
            ("funding_tolerance", self.funding_tolerance),
            ("funding_tolerance_abs", self.funding_tolerance_abs),
        ] {
            if value < Decimal::ZERO {
                errors.push(error(key, format!("must not be negative, got {value}")));
            }
        }
        errors
    }

    /// Every optional key set, so the loader's schema knows them (and reads env values for them
    /// as raw strings).
    pub(crate) fn schema_sample() -> Self {
        Self {
            webhook_url: Some(SecretString::default()),
            telegram_bot_token: Some(SecretString::default()),
            telegram_chat_id: Some(SecretString::default()),
            ..Self::default()
        }
    }
}

/// Why a secret key in a config file is refused (the value is not shown).
pub(crate) fn secret_in_file_message(key: &str) -> String {
    let env = format!("FFF_{}", key.replace('.', "__").to_ascii_uppercase());
    format!("is a secret and is not read from files: set {env} in the environment")
}

/// `key=value` with the value hidden when `key` is a secret.
pub(crate) fn redact_override(text: &str) -> String {
    match text.split_once('=') {
        Some((key, _)) if SECRET_KEYS.contains(&key.trim()) => {
            format!("{}={}", key.trim(), crate::secret::REDACTED)
        }
        _ => text.to_owned(),
    }
}

/// Serde for optional secrets: read as a string (empty counts as unset), written only as
/// `[redacted]`.
mod secret_option {
    use serde::{Deserialize as _, Deserializer, Serializer};

    use crate::secret::{REDACTED, SecretString};

    pub fn serialize<S: Serializer>(
        value: &Option<SecretString>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(_) => serializer.serialize_str(REDACTED),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<SecretString>, D::Error> {
        Ok(Option::<String>::deserialize(deserializer)?
            .filter(|value| !value.trim().is_empty())
            .map(SecretString::new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_off() {
        let config = AlertsConfig::default();
        assert!(config.validate().is_empty());
        assert!(!config.enabled());
    }

    #[test]
    fn bad_values_name_their_keys_without_the_secret() {
        let config = AlertsConfig {
            webhook_url: Some("hooks.slack.com/services/T000/SECRET".into()),
            retry_initial_ms: 0,
            queue_capacity: 0,
            funding_tolerance: Decimal::NEGATIVE_ONE,
            ..AlertsConfig::default()
        };
        let errors = config.validate();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "alerts.webhook_url",
                "alerts.queue_capacity",
                "alerts.retry_initial_ms",
                "alerts.funding_tolerance"
            ]
        );
        assert!(errors.iter().all(|e| !e.message.contains("SECRET")));
        assert!(!format!("{config:?}").contains("SECRET"));

        let telegram = AlertsConfig {
            format: AlertFormat::Telegram,
            telegram_bot_token: Some("123:ABC/def".into()),
            ..AlertsConfig::default()
        };
        let errors = telegram.validate();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["alerts.telegram_chat_id", "alerts.telegram_bot_token"]
        );
        assert!(errors.iter().all(|e| !e.message.contains("ABC")));
    }

    #[test]
    fn telegram_is_on_with_token_and_chat() {
        let config = AlertsConfig {
            format: AlertFormat::Telegram,
            telegram_bot_token: Some("123:abc".into()),
            telegram_chat_id: Some("-100".into()),
            ..AlertsConfig::default()
        };
        assert!(config.enabled() && config.validate().is_empty());
    }

    #[test]
    fn secrets_serialize_redacted_and_overrides_hide_them() {
        let config = AlertsConfig {
            webhook_url: Some("https://hooks.example/SECRET".into()),
            ..AlertsConfig::default()
        };
        let text = toml::to_string(&config).unwrap();
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
        assert_eq!(
            redact_override("alerts.webhook_url=https://x/SECRET"),
            "alerts.webhook_url=[redacted]"
        );
        assert_eq!(
            redact_override("alerts.format=slack"),
            "alerts.format=slack"
        );
    }
}

#[cfg(test)]
mod loader_tests {
    use crate::FffConfig;
    use crate::config::MapEnv;

    use super::*;

    #[test]
    fn env_sets_the_secret_webhook_and_errors_name_keys_without_values() {
        let env = MapEnv::from([
            (
                "FFF_ALERTS__WEBHOOK_URL",
                "https://hooks.slack.com/services/T0/B0/SECRET",
            ),
            ("FFF_ALERTS__FORMAT", "slack"),
            ("FFF_ALERTS__MIN_SEVERITY", "warning"),
        ]);
        let config = FffConfig::load(None, &env, &[]).unwrap();
        assert!(config.alerts.enabled());
        assert_eq!(config.alerts.format, AlertFormat::Slack);
        assert_eq!(config.alerts.min_severity, AlertSeverity::Warning);
        assert_eq!(
            config
                .alerts
                .webhook_url
                .as_ref()
                .map(|u| u.expose().as_str()),
            Some("https://hooks.slack.com/services/T0/B0/SECRET")
        );
        assert!(!format!("{config:?}").contains("SECRET"));

        let overrides = [
            "alerts.webhook_url=hooks.example/SECRET".to_owned(),
            "alerts.format=teams".to_owned(),
        ];
        let error = FffConfig::load(None, &MapEnv::new(), &overrides).unwrap_err();
        let text = error.to_string();
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("alerts.format"), "{text}");
        let error = FffConfig::load(None, &MapEnv::new(), &overrides[..1]).unwrap_err();
        let text = error.to_string();
        assert!(!text.contains("SECRET"), "{text}");
        assert!(
            text.contains("alerts.webhook_url: must start with http:// or https://"),
            "{text}"
        );
        assert!(text.contains("alerts.webhook_url=[redacted]"), "{text}");

        // secrets are never read from a file (house rule: env or mounted secret only)
        let path = std::path::Path::new("fff.toml");
        let error = FffConfig::from_toml_str(
            "[alerts]\nformat = \"slack\"\nwebhook_url = \"https://hooks.example/SECRET\"",
            path,
        )
        .unwrap_err();
        let text = error.to_string();
        assert!(!text.contains("SECRET"), "{text}");
        assert!(
            text.contains("alerts.webhook_url: is a secret and is not read from files: set FFF_ALERTS__WEBHOOK_URL"),
            "{text}"
        );
    }
}
