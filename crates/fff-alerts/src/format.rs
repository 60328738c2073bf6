//! The JSON body each platform expects, for one alert or a group of alerts raised together.
//!
//! - Slack incoming webhook: `{"text": ...}` (`&`, `<`, `>` escaped as Slack requires);
//! - Discord webhook: `{"content": ...}` (at most 2000 characters);
//! - Telegram `sendMessage`: `{"chat_id": ..., "text": ...}` (plain text, at most 4096);
//! - json: the event object `{kind, severity, role, symbol, summary, figures, action,
//!   timestamp}`; a group is `{kind: "group", severity (the highest), role, timestamp, count,
//!   events: [...]}`.

use chrono::SecondsFormat;
use fff_runtime::config::AlertFormat;
use serde_json::{Map, Value, json};

use crate::alert::{Alert, Severity};

const DISCORD_LIMIT: usize = 2000;
const TELEGRAM_LIMIT: usize = 4096;
/// Slack accepts much more, but long messages are truncated in the client anyway.
const SLACK_LIMIT: usize = 12_000;

/// The request body for `alerts` (one message). `chat_id` is used by Telegram only.
pub fn render(format: AlertFormat, role: &str, alerts: &[Alert], chat_id: Option<&str>) -> Value {
    match format {
        AlertFormat::Slack => {
            json!({ "text": truncate(&slack_escape(&text(role, alerts)), SLACK_LIMIT) })
        }
        AlertFormat::Discord => json!({ "content": truncate(&text(role, alerts), DISCORD_LIMIT) }),
        AlertFormat::Telegram => json!({
            "chat_id": chat_id.unwrap_or_default(),
            "text": truncate(&text(role, alerts), TELEGRAM_LIMIT),
            "disable_web_page_preview": true,
        }),
        AlertFormat::Json => structured(role, alerts),
    }
}

/// The highest severity among `alerts`.
pub fn highest(alerts: &[Alert]) -> Severity {
    alerts
        .iter()
        .map(|a| a.severity)
        .max()
        .unwrap_or(Severity::Info)
}

/// Human-readable text: one block per alert, with a heading line for a group.
pub fn text(role: &str, alerts: &[Alert]) -> String {
    match alerts {
        [one] => block(role, one),
        many => {
            let mut out = format!(
                "[{}] fff {role}: {} alerts",
                highest(many).as_str().to_uppercase(),
                many.len()
            );
            for alert in many {
                out.push_str("\n\n");
                out.push_str(&block(role, alert));
            }
            out
        }
    }
}

fn block(role: &str, alert: &Alert) -> String {
    let mut out = format!(
        "[{}] fff {role}: {}",
        alert.severity.as_str().to_uppercase(),
        alert.summary
    );
    if let Some(symbol) = &alert.symbol {
        out.push_str(&format!(" ({symbol})"));
    }
    if !alert.figures.is_empty() {
        let figures: Vec<String> = alert
            .figures
            .iter()
            .map(|(name, value)| format!("{name} {value}"))
            .collect();
        out.push('\n');
        out.push_str(&figures.join(", "));
    }
    if !alert.action.is_empty() {
        out.push_str("\naction: ");
        out.push_str(&alert.action);
    }
    out.push_str("\nat ");
    out.push_str(&alert.at.to_rfc3339_opts(SecondsFormat::Millis, true));
    out
}

fn event(role: &str, alert: &Alert) -> Value {
    let figures: Map<String, Value> = alert
        .figures
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    json!({
        "kind": alert.kind.as_str(),
        "severity": alert.severity.as_str(),
        "role": role,
        "symbol": alert.symbol,
        "summary": alert.summary,
        "figures": figures,
        "action": alert.action,
        "timestamp": alert.at.to_rfc3339_opts(SecondsFormat::Millis, true),
    })
}

fn structured(role: &str, alerts: &[Alert]) -> Value {
    match alerts {
        [one] => event(role, one),
        many => {
            let latest = many.iter().map(|a| a.at).max().unwrap_or_default();
            json!({
                "kind": "group",
                "severity": highest(many).as_str(),
                "role": role,
                "timestamp": latest.to_rfc3339_opts(SecondsFormat::Millis, true),
                "count": many.len(),
                "events": many.iter().map(|a| event(role, a)).collect::<Vec<_>>(),
            })
        }
    }
}

/// Slack's three control characters in text.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `limit` characters, ending with `…` when cut.
fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(limit.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;
    use crate::alert::AlertKind;

    fn orange() -> Alert {
        Alert::new(
            AlertKind::TierChange,
            Severity::Critical,
            "margin tier GREEN -> ORANGE",
        )
        .symbol("BTCUSDT")
        .figure("futures_coverage", "25.1")
        .figure("equity", "43000.5")
        .action("issued EMERGENCY_DELEVERAGE (reduce 0.50); entries halted")
        .at(chrono::Utc.with_ymd_and_hms(2026, 12, 3, 14, 0, 0).unwrap())
    }

    fn resumed() -> Alert {
        Alert::new(
            AlertKind::TierChange,
            Severity::Info,
            "margin tier ORANGE -> GREEN",
        )
        .action("issued RESUME")
        .at(chrono::Utc.with_ymd_and_hms(2026, 12, 3, 14, 0, 1).unwrap())
    }

    #[test]
    fn slack_discord_and_telegram_carry_the_text() {
        let alerts = [orange()];
        let slack = render(AlertFormat::Slack, "risk", &alerts, None);
        let text = slack["text"].as_str().unwrap();
        assert_eq!(
            text,
            "[CRITICAL] fff risk: margin tier GREEN -&gt; ORANGE (BTCUSDT)\n\
             futures_coverage 25.1, equity 43000.5\n\
             action: issued EMERGENCY_DELEVERAGE (reduce 0.50); entries halted\n\
             at 2026-12-03T14:00:00.000Z"
        );
        assert_eq!(slack.as_object().unwrap().len(), 1);

        let discord = render(AlertFormat::Discord, "risk", &alerts, None);
        assert!(
            discord["content"]
                .as_str()
                .unwrap()
                .starts_with("[CRITICAL] fff risk: margin tier GREEN -> ORANGE (BTCUSDT)")
        );

        let telegram = render(AlertFormat::Telegram, "risk", &alerts, Some("-1001"));
        assert_eq!(telegram["chat_id"], "-1001");
        assert!(
            telegram["text"]
                .as_str()
                .unwrap()
                .contains("EMERGENCY_DELEVERAGE")
        );
    }

    #[test]
    fn json_is_a_structured_event_and_a_group_lists_them() {
        let one = render(AlertFormat::Json, "risk", &[orange()], None);
        assert_eq!(one["kind"], "tier_change");
        assert_eq!(one["severity"], "critical");
        assert_eq!(one["role"], "risk");
        assert_eq!(one["symbol"], "BTCUSDT");
        assert_eq!(one["figures"]["futures_coverage"], "25.1");
        assert_eq!(one["timestamp"], "2026-12-03T14:00:00.000Z");
        assert!(
            one["action"]
                .as_str()
                .unwrap()
                .contains("EMERGENCY_DELEVERAGE")
        );

        let group = render(AlertFormat::Json, "risk", &[orange(), resumed()], None);
        assert_eq!(group["kind"], "group");
        assert_eq!(group["severity"], "critical");
        assert_eq!(group["count"], 2);
        assert_eq!(group["events"][1]["symbol"], Value::Null);
        assert_eq!(group["timestamp"], "2026-12-03T14:00:01.000Z");
    }

    #[test]
    fn a_group_is_one_text_with_a_heading() {
        let text = text("risk", &[orange(), resumed()]);
        assert!(
            text.starts_with("[CRITICAL] fff risk: 2 alerts\n\n[CRITICAL]"),
            "{text}"
        );
        assert!(
            text.contains("\n\n[INFO] fff risk: margin tier ORANGE -> GREEN"),
            "{text}"
        );
    }

    #[test]
    fn long_messages_fit_the_platform_limits() {
        let alerts: Vec<Alert> = (0..200).map(|_| orange()).collect();
        let discord = render(AlertFormat::Discord, "risk", &alerts, None);
        let content = discord["content"].as_str().unwrap();
        assert_eq!(content.chars().count(), DISCORD_LIMIT);
        assert!(content.ends_with('…'));
    }
}
