//! The sender against a loopback HTTP receiver: grouping, retries with backoff, drops when full,
//! Telegram's URL and body, and secrets kept out of `Debug`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fff_runtime::SecretString;
use fff_runtime::config::{AlertFormat, AlertsConfig};
use rust_decimal::Decimal;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;
use tokio::time::Instant;

use super::*;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    path: String,
    body: Value,
}

/// A tiny HTTP/1.1 server on loopback: answers `statuses[i]` to the i-th request (then 200) and
/// records every request.
#[derive(Clone)]
struct Receiver {
    url: String,
    requests: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(statuses: Vec<u16>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook/SECRET-PATH", listener.local_addr().unwrap());
        let requests: Arc<Mutex<Vec<Received>>> = Arc::default();
        let seen = Arc::new(AtomicUsize::new(0));
        let statuses = Arc::new(statuses);
        let log = Arc::clone(&requests);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (log, seen, statuses) = (log.clone(), seen.clone(), statuses.clone());
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut reader = BufReader::new(read);
                    // keep-alive: several requests per connection
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                        let mut length = 0usize;
                        loop {
                            let mut header = String::new();
                            if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
                                return;
                            }
                            let header = header.trim_end();
                            if header.is_empty() {
                                break;
                            }
                            if let Some((name, value)) = header.split_once(':')
                                && name.eq_ignore_ascii_case("content-length")
                            {
                                length = value.trim().parse().unwrap_or(0);
                            }
                        }
                        let mut body = vec![0; length];
                        if reader.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        let n = seen.fetch_add(1, Ordering::SeqCst);
                        let status = statuses.get(n).copied().unwrap_or(200);
                        log.lock().unwrap().push(Received {
                            at: Instant::now(),
                            path,
                            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        });
                        let answer = format!(
                            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
                        );
                        if write.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { url, requests }
    }

    fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    async fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let requests = self.requests();
            if requests.len() >= count {
                return requests;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} requests within {within:?}: {requests:?}",
                requests.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn config(url: &str) -> AlertsConfig {
    AlertsConfig {
        webhook_url: Some(SecretString::from(url)),
        group_window_ms: 0,
        retry_initial_ms: 20,
        retry_max_ms: 200,
        request_timeout_ms: 2_000,
        ..AlertsConfig::default()
    }
}

fn sender(config: &AlertsConfig) -> AlertSender {
    AlertSender::start(Settings::from_config(config, "risk").unwrap()).unwrap()
}

fn tier(summary: &str, severity: Severity) -> Alert {
    Alert::new(AlertKind::TierChange, severity, summary)
        .symbol("BTCUSDT")
        .figure("futures_coverage", Decimal::new(251, 1))
        .action("issued EMERGENCY_DELEVERAGE")
}

#[tokio::test]
async fn one_alert_is_one_well_formed_message() {
    let receiver = Receiver::start(Vec::new()).await;
    let sender = sender(&config(&receiver.url));
    sender.send(tier("margin tier GREEN -> ORANGE", Severity::Critical));
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].path, "/hook/SECRET-PATH");
    let body = &got[0].body;
    assert_eq!(body["kind"], "tier_change");
    assert_eq!(body["severity"], "critical");
    assert_eq!(body["role"], "risk");
    assert_eq!(body["symbol"], "BTCUSDT");
    assert_eq!(body["figures"]["futures_coverage"], "25.1");
    assert_eq!(body["action"], "issued EMERGENCY_DELEVERAGE");
    assert!(body["timestamp"].is_string());
    assert!(sender.flush(Duration::from_secs(2)).await);
    assert_eq!(sender.delivered(), 1);
}

#[tokio::test]
async fn a_burst_is_grouped_into_one_message() {
    let receiver = Receiver::start(Vec::new()).await;
    let mut config = config(&receiver.url);
    config.group_window_ms = 300;
    config.format = AlertFormat::Slack;
    let sender = sender(&config);
    sender.send(tier("margin tier GREEN -> YELLOW", Severity::Warning));
    sender.send(tier("margin tier YELLOW -> ORANGE", Severity::Critical));
    sender.send(
        Alert::new(AlertKind::KillSwitch, Severity::Critical, "kill switch on")
            .action("entries stopped"),
    );
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.requests().len(), 1, "{:?}", receiver.requests());
    let text = got[0].body["text"].as_str().unwrap();
    assert!(text.starts_with("[CRITICAL] fff risk: 3 alerts"), "{text}");
    assert!(
        text.contains("GREEN -&gt; YELLOW") && text.contains("kill switch on"),
        "{text}"
    );
    // a later alert is a message of its own
    sender.send(tier("margin tier ORANGE -> GREEN", Severity::Info));
    let got = receiver.wait_for(2, Duration::from_secs(5)).await;
    let text = got[1].body["text"].as_str().unwrap();
    assert!(
        text.starts_with("[INFO] fff risk: margin tier ORANGE -&gt; GREEN"),
        "{text}"
    );
}

#[tokio::test]
async fn server_errors_are_retried_with_exponential_backoff() {
    let receiver = Receiver::start(vec![500, 503, 500, 429]).await;
    let sender = sender(&config(&receiver.url));
    sender.send(tier("margin tier GREEN -> ORANGE", Severity::Critical));
    let got = receiver.wait_for(5, Duration::from_secs(10)).await;
    assert!(sender.flush(Duration::from_secs(2)).await);
    assert_eq!(got.len(), 5);
    assert_eq!(sender.delivered(), 1);
    // every attempt carries the same message
    assert!(got.iter().all(|r| r.body == got[0].body));
    // 20, 40, 80, 160 ms between attempts (the last capped by nothing yet)
    let gaps: Vec<Duration> = got.windows(2).map(|w| w[1].at - w[0].at).collect();
    for (gap, floor) in gaps.iter().zip([20, 40, 80, 160]) {
        assert!(*gap >= Duration::from_millis(floor), "{gaps:?}");
    }
    assert!(gaps[3] > gaps[0], "{gaps:?}");
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let max = Duration::from_millis(1000);
    let mut delay = Duration::from_millis(100);
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(delay.as_millis());
        delay = sender::next_delay(delay, max);
    }
    assert_eq!(seen, [100, 200, 400, 800, 1000, 1000]);
}

#[tokio::test]
async fn a_refusal_is_not_retried() {
    let receiver = Receiver::start(vec![400]).await;
    let sender = sender(&config(&receiver.url));
    sender.send(tier("margin tier GREEN -> ORANGE", Severity::Critical));
    receiver.wait_for(1, Duration::from_secs(5)).await;
    assert!(sender.flush(Duration::from_secs(2)).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(sender.delivered(), 0);
}

#[tokio::test]
async fn a_dead_webhook_never_blocks_and_the_oldest_alerts_are_dropped() {
    // a port nothing listens on: connection refused, retried forever in the background
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let mut config = config(&url);
    config.queue_capacity = 3;
    config.group_window_ms = 1_000;
    let sender = sender(&config);
    let started = std::time::Instant::now();
    for i in 0..10 {
        sender.send(tier(&format!("alert {i}"), Severity::Critical));
    }
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(sender.dropped(), 7);
    assert_eq!(sender.pending(), 3);
    assert!(!sender.flush(Duration::from_millis(100)).await);
}

#[tokio::test]
async fn messages_queued_during_an_outage_arrive_after_it() {
    // the first five attempts fail: the alerts raised meanwhile follow as one message
    let receiver = Receiver::start(vec![500; 5]).await;
    let sender = sender(&config(&receiver.url));
    sender.send(tier("margin tier GREEN -> ORANGE", Severity::Critical));
    receiver.wait_for(2, Duration::from_secs(5)).await;
    sender.send(tier("margin tier ORANGE -> GREEN", Severity::Info));
    sender.send(tier("margin tier GREEN -> YELLOW", Severity::Warning));
    let got = receiver.wait_for(7, Duration::from_secs(10)).await;
    assert_eq!(got[5].body["summary"], "margin tier GREEN -> ORANGE");
    assert_eq!(got[6].body["kind"], "group");
    assert_eq!(got[6].body["count"], 2);
    assert_eq!(
        got[6].body["events"][0]["summary"],
        "margin tier ORANGE -> GREEN"
    );
}

#[tokio::test]
async fn telegram_posts_send_message_with_the_chat_id() {
    let receiver = Receiver::start(Vec::new()).await;
    let base = receiver
        .url
        .trim_end_matches("/hook/SECRET-PATH")
        .to_owned();
    let config = AlertsConfig {
        format: AlertFormat::Telegram,
        telegram_bot_token: Some("123456:TOKEN-SECRET".into()),
        telegram_chat_id: Some("-100777".into()),
        telegram_api_url: base,
        group_window_ms: 0,
        ..AlertsConfig::default()
    };
    assert!(config.validate().is_empty());
    let sender = sender(&config);
    sender.send(tier("margin tier GREEN -> ORANGE", Severity::Critical));
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].path, "/bot123456:TOKEN-SECRET/sendMessage");
    assert_eq!(got[0].body["chat_id"], "-100777");
    let text = got[0].body["text"].as_str().unwrap();
    assert!(text.starts_with("[CRITICAL] fff risk: margin tier GREEN -> ORANGE (BTCUSDT)"));
}

#[tokio::test]
async fn secrets_never_show_in_debug_output() {
    let config = AlertsConfig {
        format: AlertFormat::Telegram,
        telegram_bot_token: Some("123456:TOKEN-SECRET".into()),
        telegram_chat_id: Some("CHAT-SECRET".into()),
        ..AlertsConfig::default()
    };
    let settings = Settings::from_config(&config, "executor").unwrap();
    let slack = AlertsConfig {
        webhook_url: Some("https://hooks.slack.com/services/URL-SECRET".into()),
        ..AlertsConfig::default()
    };
    let sender = sender(&slack);
    for text in [
        format!("{config:?}"),
        format!("{settings:?}"),
        format!("{slack:?}"),
        format!("{sender:?}"),
        format!(
            "{:?}",
            DependencyWatch::new(sender.clone(), Duration::from_secs(1))
        ),
    ] {
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }
}

#[tokio::test]
async fn severity_floor_and_repeat_suppression() {
    let receiver = Receiver::start(Vec::new()).await;
    let mut config = config(&receiver.url);
    config.min_severity = Severity::Warning;
    let sender = sender(&config);
    sender.send(tier("margin tier YELLOW -> GREEN", Severity::Info));
    let mismatch = || {
        Alert::new(
            AlertKind::ReconciliationMismatch,
            Severity::Critical,
            "database and exchange differ: BTCUSDT perp db -0.1 exchange 0",
        )
        .once_per_window()
    };
    sender.send(mismatch());
    sender.send(mismatch());
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.requests().len(), 1, "{got:?}");
    assert_eq!(got[0].body["kind"], "reconciliation_mismatch");
}

#[tokio::test]
async fn a_dependency_down_past_the_threshold_alerts_once_and_its_recovery_too() {
    let receiver = Receiver::start(Vec::new()).await;
    let sender = sender(&config(&receiver.url));
    let watch = DependencyWatch::new(sender.clone(), Duration::from_millis(300));
    // a blip shorter than the threshold raises nothing
    watch.down("gateway", "connection refused", "no account data");
    tokio::time::sleep(Duration::from_millis(100)).await;
    watch.up("gateway");
    // a real outage: one alert, however often it is reported
    watch.down("gateway", "connection refused", "no account data");
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        watch.down("gateway", "unavailable", "no account data");
    }
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].body["kind"], "dependency_lost");
    assert_eq!(got[0].body["summary"], "risk cannot reach gateway");
    assert_eq!(got[0].body["figures"]["last_error"], "unavailable");
    assert_eq!(watch.down_now(), ["gateway"]);
    watch.up("gateway");
    let got = receiver.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(got[1].body["kind"], "dependency_recovered");
    assert!(watch.down_now().is_empty());
}

#[test]
fn funding_tolerance_needs_both_the_relative_and_absolute_excess() {
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    // 5 % and 1 unit: 100 expected, 104 received is within; 94 is not
    assert!(!beyond_tolerance(d("104"), d("100"), d("0.05"), d("1")));
    assert!(beyond_tolerance(d("94"), d("100"), d("0.05"), d("1")));
    // small amounts: relatively far off but under the absolute floor
    assert!(!beyond_tolerance(d("0.2"), d("0.1"), d("0.05"), d("1")));
    // nothing expected, something large received
    assert!(beyond_tolerance(d("-5"), d("0"), d("0.05"), d("1")));
    // not installed in this test process: never beyond
    assert!(!funding_beyond_tolerance(d("-5"), d("0")));
}
