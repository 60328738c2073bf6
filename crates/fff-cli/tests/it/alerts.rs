//! Alerts across processes: `fff sim`, `fff gateway`, `fff risk` and `fff executor` on loopback
//! with `[alerts]` pointing at a webhook receiver in this test (a tiny HTTP/1.1 server).
//!
//! 1. A price shock moves the margin tier from Green to Orange: the receiver gets one
//!    well-formed JSON message for it, and one when the tier recovers.
//! 2. The receiver answers 500 for 30 s: the next shock's deleverage orders reach the simulator
//!    as fast as before (the sender is fire-and-forget), the messages are retried with backoff
//!    and arrive after the receiver recovers.
//!
//! The rig is `small_wallet.rs` (as in `risk.rs`: green above 40, yellow above 30, orange above
//! 20 on a 3000 USDT futures wallet) so one shock lands in a chosen tier.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fff_proto::fff::common::v1 as common;
use fff_proto::fff::risk::v1 as risk;
use fff_testkit::wait_for;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

use crate::small_wallet::{HedgedStack, hedged_stack, shock_to_coverage, sim_order_count};

/// `[alerts]` for both roles, apart from the URL: JSON, no grouping window (the recovery follows
/// the deleverage within ~100 ms here; grouping is covered by fff-alerts' unit tests), quick
/// retries, and no dependency alerts (the executor runs without scanner and rebalancer here).
const ALERTS_ENV: &[(&str, &str)] = &[
    ("FFF_ALERTS__FORMAT", "json"),
    ("FFF_ALERTS__MIN_SEVERITY", "info"),
    ("FFF_ALERTS__GROUP_WINDOW_MS", "0"),
    ("FFF_ALERTS__RETRY_INITIAL_MS", "250"),
    ("FFF_ALERTS__RETRY_MAX_MS", "2000"),
    ("FFF_ALERTS__DEPENDENCY_DOWN_SECS", "3600"),
];

// ------------------------------------------------------------------------ webhook receiver

/// One request the receiver answered.
#[derive(Debug, Clone)]
struct Hit {
    at: Instant,
    status: u16,
    path: String,
    content_type: String,
    body: Value,
}

/// A loopback HTTP/1.1 server (keep-alive) that answers 500 while `failing_until` is in the
/// future and 200 otherwise, and records every request.
#[derive(Clone)]
struct Webhook {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
    failing_until: Arc<Mutex<Option<Instant>>>,
}

impl Webhook {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let webhook = Self {
            addr: listener.local_addr().unwrap(),
            hits: Arc::default(),
            failing_until: Arc::default(),
        };
        let server = webhook.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(server.clone().serve(stream));
            }
        });
        webhook
    }

    async fn serve(self, stream: tokio::net::TcpStream) {
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        loop {
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                return;
            }
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            let (mut length, mut content_type) = (0usize, String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    } else if name.eq_ignore_ascii_case("content-type") {
                        value.trim().clone_into(&mut content_type);
                    }
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).await.is_err() {
                return;
            }
            let now = Instant::now();
            let failing = self
                .failing_until
                .lock()
                .unwrap()
                .is_some_and(|until| now < until);
            let status = if failing { 500 } else { 200 };
            self.hits.lock().unwrap().push(Hit {
                at: now,
                status,
                path,
                content_type,
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            });
            let reason = if failing {
                "Internal Server Error"
            } else {
                "OK"
            };
            let answer = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
            );
            if write.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hooks/fff", self.addr)
    }

    /// Answers 500 from now for `period`; returns when that ends.
    fn fail_for(&self, period: Duration) -> Instant {
        let until = Instant::now() + period;
        *self.failing_until.lock().unwrap() = Some(until);
        until
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Messages answered 200 at or after `since` that are one event matching `which` on their
    /// own (not inside a group).
    fn single_messages(&self, since: Instant, which: fn(&Value) -> bool) -> usize {
        self.hits()
            .iter()
            .filter(|h| h.status == 200 && h.at >= since && h.body["role"] == "risk")
            .filter(|h| h.body["kind"] == "tier_change" && which(&h.body))
            .count()
    }

    /// Risk's tier-change events in the messages answered 200 (a group counts each of its
    /// events), with the time their message arrived.
    fn delivered_tier_events(&self) -> Vec<(Instant, Value)> {
        self.hits()
            .into_iter()
            .filter(|hit| hit.status == 200)
            .flat_map(|hit| events(&hit.body).into_iter().map(move |e| (hit.at, e)))
            .filter(|(_, e)| e["role"] == "risk" && e["kind"] == "tier_change")
            .collect()
    }
}

/// The events of one JSON message: itself, or a group's `events`.
fn events(body: &Value) -> Vec<Value> {
    if body["kind"] == "group" {
        body["events"].as_array().cloned().unwrap_or_default()
    } else {
        vec![body.clone()]
    }
}

fn to_orange(event: &Value) -> bool {
    event["summary"]
        .as_str()
        .is_some_and(|s| s.contains("worsened") && s.ends_with("-> ORANGE"))
}

fn recovered(event: &Value) -> bool {
    event["summary"]
        .as_str()
        .is_some_and(|s| s.contains("recovered"))
}

/// Every field the JSON format promises, with the figures of a tier change.
fn assert_well_formed(event: &Value) {
    for field in ["kind", "severity", "role", "summary", "action", "timestamp"] {
        assert!(
            event[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field} missing: {event:#}"
        );
    }
    assert!(event.get("symbol").is_some(), "{event:#}");
    assert!(
        ["info", "warning", "critical"].contains(&event["severity"].as_str().unwrap()),
        "{event:#}"
    );
    // RFC 3339 UTC with milliseconds: 2026-12-03T14:00:00.000Z
    let timestamp = event["timestamp"].as_str().unwrap();
    assert!(
        timestamp.len() == 24 && &timestamp[10..11] == "T" && timestamp.ends_with('Z'),
        "{event:#}"
    );
    let figures = event["figures"].as_object().expect("figures object");
    assert!(figures.contains_key("futures_coverage"), "{event:#}");
    assert!(figures.contains_key("total_equity_usdt"), "{event:#}");
}

// ------------------------------------------------------------------------------ the stack

/// The small-wallet stack with risk and the executor alerting to `webhook`.
async fn stack(webhook: &Webhook) -> HedgedStack {
    let url = webhook.url();
    let mut env = vec![("FFF_ALERTS__WEBHOOK_URL", url.as_str())];
    env.extend_from_slice(ALERTS_ENV);
    hedged_stack(&env, "alerts-it-open").await
}

impl HedgedStack {
    /// Time from `since` until the simulator holds more than `before` orders.
    async fn next_order_after(&self, before: usize, since: Instant) -> Duration {
        wait_for(Duration::from_secs(20), || async {
            (sim_order_count(&self.sim).await > before).then(|| since.elapsed())
        })
        .await
        .expect("no deleverage order at the simulator within 20 s")
    }

    async fn tier(&mut self) -> common::MarginTier {
        self.risk
            .get_risk_state(risk::GetRiskStateRequest {})
            .await
            .unwrap()
            .into_inner()
            .state
            .unwrap()
            .tier()
    }

    /// Waits up to `within` for the Green tier; whether it came.
    async fn green_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while self.tier().await != common::MarginTier::Green {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        true
    }

    /// Green -> Orange (deleverage) and back to Green; returns shock -> first order.
    async fn orange_and_back(&mut self) -> Duration {
        let before = sim_order_count(&self.sim).await;
        let shocked = shock_to_coverage(&self.sim, &mut self.gateway, 25.0).await;
        let to_order = self.next_order_after(before, shocked).await;
        // Halving the perp (and the executor's transfer into the futures wallet) restores the
        // coverage; should it not, a shock back to coverage 60 does.
        if !self.green_within(Duration::from_secs(10)).await {
            shock_to_coverage(&self.sim, &mut self.gateway, 60.0).await;
            assert!(
                self.green_within(Duration::from_secs(20)).await,
                "tier not back to GREEN"
            );
        }
        to_order
    }
}

async fn wait_for_tier_events(webhook: &Webhook, within: Duration) -> Vec<(Instant, Value)> {
    let deadline = Instant::now() + within;
    loop {
        let events = webhook.delivered_tier_events();
        let orange = events.iter().position(|(_, e)| to_orange(e));
        if let Some(orange) = orange
            && events[orange..].iter().any(|(_, e)| recovered(e))
        {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "no ORANGE + recovery messages within {within:?}; received {:#?}",
            webhook.hits()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn tier_alerts_reach_the_webhook_and_a_failing_webhook_never_delays_deleveraging() {
    let webhook = Webhook::start().await;
    let started = Instant::now();
    let mut stack = stack(&webhook).await;
    assert!(stack.green_within(Duration::from_secs(20)).await);

    // 1. healthy webhook: one message for Orange, one for the recovery
    let to_order_healthy = stack.orange_and_back().await;
    let events = wait_for_tier_events(&webhook, Duration::from_secs(15)).await;
    let oranges: Vec<&Value> = events
        .iter()
        .map(|(_, e)| e)
        .filter(|e| to_orange(e))
        .collect();
    assert_eq!(oranges.len(), 1, "{events:#?}");
    let orange = oranges[0];
    assert_well_formed(orange);
    assert_eq!(orange["severity"], "critical");
    assert_eq!(orange["symbol"], "BTCUSDT");
    let action = orange["action"].as_str().unwrap();
    assert!(
        action.contains("EMERGENCY_DELEVERAGE") && action.contains("entries halted"),
        "{action}"
    );
    let recovery = events
        .iter()
        .map(|(_, e)| e)
        .find(|e| recovered(e))
        .unwrap();
    assert_well_formed(recovery);
    assert_eq!(recovery["severity"], "info");
    let hits = webhook.hits();
    assert!(
        hits.iter()
            .all(|h| h.path == "/hooks/fff" && h.content_type.starts_with("application/json")),
        "{hits:#?}"
    );
    assert!(hits.iter().all(|h| h.status == 200), "{hits:#?}");
    // one message for Orange, one (or one per step, e.g. via Yellow) for the recovery
    assert_eq!(webhook.single_messages(started, to_orange), 1, "{hits:#?}");
    assert!(
        webhook.single_messages(started, recovered) >= 1,
        "{hits:#?}"
    );
    let delivered_before = hits.len();

    // 2. the webhook answers 500 for 30 s: deleveraging is as fast as with a healthy webhook,
    //    the messages are retried and arrive once it answers again
    let failing_until = webhook.fail_for(Duration::from_secs(30));
    let to_order_failing = stack.orange_and_back().await;
    let ordered_at = Instant::now();
    eprintln!(
        "BENCH alerts: shock -> first deleverage order {} ms with a healthy webhook, {} ms while it answers 500",
        to_order_healthy.as_millis(),
        to_order_failing.as_millis()
    );
    assert!(
        ordered_at < failing_until,
        "the deleverage finished only after the webhook recovered"
    );
    assert!(
        to_order_failing < Duration::from_secs(10)
            && to_order_failing < to_order_healthy * 3 + Duration::from_secs(2),
        "deleverage slowed by the failing webhook: {to_order_failing:?} vs {to_order_healthy:?}"
    );
    // retries come with backoff: count them once the failing minute is over
    tokio::time::sleep(failing_until.saturating_duration_since(Instant::now())).await;
    let retried = webhook.hits()[delivered_before..]
        .iter()
        .filter(|h| h.status == 500)
        .count();
    assert!(
        retried >= 2,
        "no retries while failing: {:#?}",
        webhook.hits()
    );

    let deadline = failing_until + Duration::from_secs(20);
    let delivered = loop {
        let late: Vec<(Instant, Value)> = webhook
            .delivered_tier_events()
            .into_iter()
            .filter(|(at, _)| *at >= failing_until)
            .collect();
        let orange = late.iter().position(|(_, e)| to_orange(e));
        if let Some(orange) = orange
            && late[orange..].iter().any(|(_, e)| recovered(e))
        {
            break late;
        }
        assert!(
            Instant::now() < deadline,
            "messages not delivered after the webhook recovered: {:#?}",
            webhook.hits()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let oranges = delivered.iter().filter(|(_, e)| to_orange(e)).count();
    assert_eq!(oranges, 1, "{delivered:#?}");
    assert_eq!(webhook.single_messages(failing_until, to_orange), 1);
    assert!(webhook.single_messages(failing_until, recovered) >= 1);
    for (_, event) in &delivered {
        assert_well_formed(event);
    }
}
