//! The sending side: a bounded queue the trading path pushes to without waiting, and one
//! background task that groups what arrived together and POSTs it, retrying failures with
//! exponential backoff.
//!
//! [`AlertSender::send`] only takes a short lock to append to the queue: it never waits for the
//! network, so a dead webhook cannot slow trading. When the queue is full the oldest alert is
//! dropped and counted (`fff_alerts_dropped_total`, and a warning log). The dispatcher waits
//! `group_window` after the first alert of a burst, then sends everything queued as one
//! message; alerts raised while a delivery is being retried queue up and go out together after
//! it. HTTP 5xx, 408, 429 and transport errors (connection refused, timeout) are retried, other
//! answers drop the message (logged with the status only).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use fff_runtime::SecretString;
use fff_runtime::config::{AlertFormat, AlertsConfig};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::alert::{Alert, Severity};
use crate::format;

/// At most this many alerts go into one message; the rest follow in the next.
pub const MAX_GROUP: usize = 25;

/// Where messages go. Both fields are secrets (the Telegram URL embeds the bot token).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: SecretString,
    pub chat_id: Option<SecretString>,
}

/// Everything the sender needs, from `[alerts]` plus the role name.
#[derive(Debug, Clone)]
pub struct Settings {
    pub role: String,
    pub format: AlertFormat,
    pub min_severity: Severity,
    pub endpoint: Endpoint,
    pub group_window: Duration,
    pub capacity: usize,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub request_timeout: Duration,
    pub repeat_after: Duration,
}

impl Settings {
    /// `None` when alerts are off (no URL; for Telegram no token or chat id).
    pub fn from_config(config: &AlertsConfig, role: &str) -> Option<Self> {
        let endpoint = match config.format {
            AlertFormat::Telegram => {
                let token = config.telegram_bot_token.as_ref()?;
                Endpoint {
                    url: SecretString::new(format!(
                        "{}/bot{}/sendMessage",
                        config.telegram_api_url.trim_end_matches('/'),
                        token.expose().trim()
                    )),
                    chat_id: Some(config.telegram_chat_id.clone()?),
                }
            }
            _ => Endpoint {
                url: SecretString::new(config.webhook_url.as_ref()?.expose().trim().to_owned()),
                chat_id: None,
            },
        };
        Some(Self {
            role: role.to_owned(),
            format: config.format,
            min_severity: config.min_severity,
            endpoint,
            group_window: Duration::from_millis(config.group_window_ms),
            capacity: config.queue_capacity.max(1),
            retry_initial: Duration::from_millis(config.retry_initial_ms.max(1)),
            retry_max: Duration::from_millis(config.retry_max_ms.max(config.retry_initial_ms)),
            request_timeout: Duration::from_millis(config.request_timeout_ms.max(1)),
            repeat_after: Duration::from_secs(config.repeat_after_secs),
        })
    }
}

/// The delay after `current`: doubled, at most `max`.
pub fn next_delay(current: Duration, max: Duration) -> Duration {
    current.saturating_mul(2).min(max)
}

/// Whether an HTTP answer is worth retrying.
fn retryable(status: reqwest::StatusCode) -> bool {
    status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Alert>,
    /// Last time each dedup key was queued.
    recent: HashMap<String, Instant>,
    /// A message is being delivered (or retried).
    busy: bool,
}

#[derive(Debug)]
struct Shared {
    settings: Settings,
    state: Mutex<State>,
    wake: Notify,
    dropped: AtomicU64,
    delivered: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Handle to the queue; cheap to clone. Dropping every handle does not stop the dispatcher.
#[derive(Debug, Clone)]
pub struct AlertSender {
    shared: Arc<Shared>,
}

impl AlertSender {
    /// Starts the dispatcher on the current tokio runtime.
    pub fn start(settings: Settings) -> Result<Self, String> {
        // reqwest is built with `rustls-no-provider`: make sure one is installed (idempotent)
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("fff-alerts/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("alert http client: {}", e.without_url()))?;
        let shared = Arc::new(Shared {
            settings,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            dropped: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
        });
        let task = Arc::clone(&shared);
        tokio::spawn(async move { dispatch(task, client).await });
        Ok(Self { shared })
    }

    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    /// Queues `alert` and returns at once (fire-and-forget). Below `min_severity`, or a repeat
    /// of a deduplicated alert within `repeat_after`, it is ignored.
    pub fn send(&self, alert: Alert) {
        let settings = &self.shared.settings;
        if alert.severity < settings.min_severity {
            return;
        }
        let dropped = {
            let mut state = self.shared.lock();
            if let Some(key) = &alert.dedup_key {
                let now = Instant::now();
                if state
                    .recent
                    .get(key)
                    .is_some_and(|at| now.duration_since(*at) < settings.repeat_after)
                {
                    return;
                }
                if state.recent.len() >= 1024 {
                    let window = settings.repeat_after;
                    state
                        .recent
                        .retain(|_, at| now.duration_since(*at) < window);
                }
                state.recent.insert(key.clone(), now);
            }
            let dropped = if state.queue.len() >= settings.capacity {
                state.queue.pop_front()
            } else {
                None
            };
            state.queue.push_back(alert);
            dropped
        };
        if let Some(oldest) = dropped {
            let total = self.shared.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            fff_runtime::metrics::counter_add(
                "fff_alerts_dropped_total",
                "Alerts dropped because the delivery queue was full (oldest first).",
                &[],
                1.0,
            );
            // the first drop and then one in a hundred: a dead webhook must not flood the log
            if total == 1 || total.is_multiple_of(100) {
                tracing::warn!(
                    dropped_total = total,
                    kind = %oldest.kind,
                    capacity = settings.capacity,
                    "alert queue full: oldest alert dropped"
                );
            }
        }
        self.shared.wake.notify_one();
    }

    /// Alerts dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Messages delivered so far.
    pub fn delivered(&self) -> u64 {
        self.shared.delivered.load(Ordering::Relaxed)
    }

    /// Alerts waiting (not counting a message being delivered).
    pub fn pending(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Waits up to `timeout` until nothing is queued or being delivered; `true` if so.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let state = self.shared.lock();
                if state.queue.is_empty() && !state.busy {
                    return true;
                }
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn dispatch(shared: Arc<Shared>, client: reqwest::Client) {
    loop {
        shared.wake.notified().await;
        // a burst: wait for the rest of it, then send it as one message
        if !shared.settings.group_window.is_zero() {
            tokio::time::sleep(shared.settings.group_window).await;
        }
        loop {
            let group: Vec<Alert> = {
                let mut state = shared.lock();
                let n = state.queue.len().min(MAX_GROUP);
                let group: Vec<Alert> = state.queue.drain(..n).collect();
                state.busy = !group.is_empty();
                group
            };
            if group.is_empty() {
                break;
            }
            deliver(&shared, &client, &group).await;
            shared.lock().busy = false;
        }
    }
}

/// POSTs one message until it is accepted or refused for good.
async fn deliver(shared: &Shared, client: &reqwest::Client, group: &[Alert]) {
    let settings = &shared.settings;
    let chat_id = settings
        .endpoint
        .chat_id
        .as_ref()
        .map(|c| c.expose().as_str());
    let body = format::render(settings.format, &settings.role, group, chat_id);
    let mut delay = settings.retry_initial;
    let mut attempt = 0u32;
    loop {
        attempt = attempt.saturating_add(1);
        let answer = client
            .post(settings.endpoint.url.expose())
            .json(&body)
            .send()
            .await;
        let (reason, wait) = match answer {
            Ok(response) if response.status().is_success() => {
                shared.delivered.fetch_add(1, Ordering::Relaxed);
                fff_runtime::metrics::counter_add(
                    "fff_alerts_sent_total",
                    "Alert messages delivered (a message may group several alerts).",
                    &[],
                    1.0,
                );
                if attempt > 1 {
                    tracing::info!(
                        attempt,
                        alerts = group.len(),
                        "alert delivered after retries"
                    );
                } else {
                    tracing::debug!(alerts = group.len(), "alert delivered");
                }
                return;
            }
            Ok(response) if retryable(response.status()) => {
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                (format!("http {}", response.status().as_u16()), retry_after)
            }
            Ok(response) => {
                // the URL is a secret: only the status is logged
                tracing::error!(
                    status = response.status().as_u16(),
                    alerts = group.len(),
                    "alert webhook refused the message: dropped"
                );
                fff_runtime::metrics::counter_add(
                    "fff_alerts_refused_total",
                    "Alert messages the webhook refused for good (4xx other than 408/429).",
                    &[],
                    1.0,
                );
                return;
            }
            Err(error) => (error.without_url().to_string(), None),
        };
        fff_runtime::metrics::counter_add(
            "fff_alerts_delivery_failures_total",
            "Failed alert delivery attempts (each is retried with backoff).",
            &[],
            1.0,
        );
        let wait = wait.map_or(delay, |w| w.clamp(delay, settings.retry_max));
        tracing::warn!(
            attempt,
            error = %reason,
            retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "alert delivery failed: retrying"
        );
        tokio::time::sleep(wait).await;
        delay = next_delay(delay, settings.retry_max);
    }
}
