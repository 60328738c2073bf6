//! One WebSocket connection at a time, driven until it ends, plus the backoff between them.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::{StreamEvent, WsConfig};

/// What the per-stream parser makes of a text frame.
pub(crate) enum Parsed<E> {
    Events(Vec<E>),
    Ignore,
    /// Drop this connection and start over at once (expired key, terminated subscription, server
    /// shutdown).
    Reconnect(String),
    /// Something went wrong (e.g. the subscription was refused): start over after the backoff.
    Fail(String),
    /// The server confirmed the subscription (WebSocket API streams).
    Subscribed,
}

/// Messages other tasks push into a live connection.
#[derive(Debug)]
pub(crate) enum Outbound {
    Send(String),
    Reconnect(String),
}

/// Why a connection ended.
#[derive(Debug)]
pub(crate) enum End {
    /// Start a new connection; `immediate` skips the backoff (rotation, expiry). `lasted` is how long
    /// the connection was up (`None`: it never came up).
    Retry {
        reason: String,
        immediate: bool,
        lasted: Option<Duration>,
    },
    /// The consumer is gone or shutdown was requested: stop the stream.
    Stop,
}

/// Connects to `url`, sends `initial`, announces the (re)connection — at once, or when the parser
/// reports [`Parsed::Subscribed`] if `await_confirmation` — and pumps frames until the connection ends.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn drive<E, P>(
    url: &str,
    initial: Vec<String>,
    parse: &mut P,
    outbound: &mut mpsc::Receiver<Outbound>,
    events: &mpsc::Sender<StreamEvent<E>>,
    cfg: &WsConfig,
    cancel: &CancellationToken,
    first: bool,
    await_confirmation: bool,
) -> End
where
    P: FnMut(&str) -> Parsed<E>,
{
    crate::install_crypto_provider();
    let connected = tokio::select! {
        _ = cancel.cancelled() => return End::Stop,
        result = tokio_tungstenite::connect_async(url) => result,
    };
    let (mut ws, _) = match connected {
        Ok(pair) => pair,
        Err(err) => {
            return End::Retry {
                reason: format!("connect failed: {err}"),
                immediate: false,
                lasted: None,
            };
        }
    };
    for message in initial {
        if let Err(err) = ws.send(Message::Text(message.into())).await {
            return End::Retry {
                reason: format!("subscribe failed: {err}"),
                immediate: false,
                lasted: None,
            };
        }
    }
    let announcement = || {
        if first {
            StreamEvent::Connected
        } else {
            StreamEvent::Reconnected
        }
    };
    let mut announced = false;
    if !await_confirmation {
        if events.send(announcement()).await.is_err() {
            return End::Stop;
        }
        announced = true;
    }

    let started = Instant::now();
    let retry = |reason: String, immediate: bool| End::Retry {
        reason,
        immediate,
        lasted: Some(started.elapsed()),
    };
    let rotate_at = started + cfg.max_connection_age;
    let mut last_frame = Instant::now();
    let mut outbound_open = true;
    let mut ping = tokio::time::interval(cfg.ping_interval);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ping.tick().await;

    let end = loop {
        let silence_deadline = last_frame + cfg.silence_timeout;
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break End::Stop,
            _ = tokio::time::sleep_until(rotate_at) => break retry("rotating before the 24 h connection limit".to_string(), true),
            _ = tokio::time::sleep_until(silence_deadline) => break retry(format!("no frame for {:?}", cfg.silence_timeout), false),
            command = outbound.recv(), if outbound_open => match command {
                Some(Outbound::Send(text)) => {
                    if let Err(err) = ws.send(Message::Text(text.into())).await {
                        break retry(format!("send failed: {err}"), false);
                    }
                }
                Some(Outbound::Reconnect(reason)) => break retry(reason, true),
                // Nobody pushes into this connection (any more).
                None => outbound_open = false,
            },
            _ = ping.tick() => {
                if let Err(err) = ws.send(Message::Ping(Vec::new().into())).await {
                    break retry(format!("ping failed: {err}"), false);
                }
            }
            frame = ws.next() => {
                last_frame = Instant::now();
                match frame {
                    Some(Ok(Message::Text(text))) => match parse(text.as_str()) {
                        Parsed::Events(batch) => {
                            let mut gone = false;
                            for event in batch {
                                if events.send(StreamEvent::Data(event)).await.is_err() {
                                    gone = true;
                                    break;
                                }
                            }
                            if gone {
                                break End::Stop;
                            }
                        }
                        Parsed::Ignore => {}
                        Parsed::Reconnect(reason) => break retry(reason, true),
                        Parsed::Fail(reason) => break retry(reason, false),
                        Parsed::Subscribed => {
                            if !announced {
                                announced = true;
                                if events.send(announcement()).await.is_err() {
                                    break End::Stop;
                                }
                            }
                        }
                    },
                    Some(Ok(Message::Ping(payload))) => {
                        // Answer explicitly; Binance disconnects after missing pongs.
                        if let Err(err) = ws.send(Message::Pong(payload)).await {
                            break retry(format!("pong failed: {err}"), false);
                        }
                    }
                    Some(Ok(Message::Close(frame))) => break retry(format!("closed by server: {frame:?}"), false),
                    Some(Ok(_)) => {}
                    Some(Err(err)) => break retry(format!("read failed: {err}"), false),
                    None => break retry("stream ended".to_string(), false),
                }
            }
        }
    };
    ws.close(None).await.ok();
    end
}

/// A connection that lived this long counts as healthy.
const STABLE_CONNECTION: Duration = Duration::from_secs(30);

/// Exponential backoff with full jitter.
#[derive(Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub fn new(cfg: &WsConfig) -> Self {
        Self {
            min: cfg.backoff_min,
            max: cfg.backoff_max,
            current: cfg.backoff_min,
        }
    }

    pub fn reset(&mut self) {
        self.current = self.min;
    }

    /// The next delay: uniform in `[min, current]`, then `current` doubles up to `max`.
    pub fn next_delay(&mut self) -> Duration {
        let upper = self.current.max(self.min);
        let millis = rand::rng().random_range(self.min.as_millis()..=upper.as_millis());
        self.current = (self.current * 2).min(self.max);
        Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
    }
}

/// Sleeps for the backoff (unless `immediate`); `false` if cancelled meanwhile.
pub(crate) async fn pause(
    backoff: &mut Backoff,
    immediate: bool,
    cancel: &CancellationToken,
) -> bool {
    if immediate {
        return !cancel.is_cancelled();
    }
    let delay = backoff.next_delay();
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

/// Standard reconnect bookkeeping shared by all streams: emits the gap and waits the backoff.
/// Returns `false` when the stream must stop.
pub(crate) async fn after_end<E>(
    end: End,
    backoff: &mut Backoff,
    events: &mpsc::Sender<StreamEvent<E>>,
    cancel: &CancellationToken,
    name: &str,
) -> bool {
    match end {
        End::Stop => false,
        End::Retry {
            reason,
            immediate,
            lasted,
        } => {
            tracing::warn!(stream = name, %reason, "websocket disconnected, reconnecting");
            if let Some(lasted) = lasted {
                if events.send(StreamEvent::Gap { reason }).await.is_err() {
                    return false;
                }
                // A connection that stayed up for a while resets the backoff; one that fails right
                // after connecting keeps growing it so a rejected subscription cannot hammer Binance.
                if lasted >= STABLE_CONNECTION {
                    backoff.reset();
                }
            }
            pause(backoff, immediate, cancel).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let cfg = WsConfig {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_millis(800),
            ..WsConfig::default()
        };
        let mut backoff = Backoff::new(&cfg);
        for _ in 0..10 {
            let delay = backoff.next_delay();
            assert!(
                delay >= cfg.backoff_min && delay <= cfg.backoff_max,
                "{delay:?}"
            );
        }
        assert_eq!(backoff.current, cfg.backoff_max);
        backoff.reset();
        assert_eq!(backoff.next_delay(), cfg.backoff_min);
    }
}
