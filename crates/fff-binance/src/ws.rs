//! Reconnecting WebSocket streams.
//!
//! Every stream runs in its own task and delivers [`StreamEvent`]s on a bounded channel. A connection
//! is re-established with jittered exponential backoff, resubscribed, rotated before Binance's 24 h
//! cut, kept alive with pings (and listenKey keepalives / listen-token renewals where needed), and
//! dropped when it goes silent. Whenever events may have been missed the stream says so with
//! [`StreamEvent::Gap`] followed by [`StreamEvent::Reconnected`]: callers then re-snapshot over REST
//! (open orders, positions, balances, premium index). The `subscribe_*` functions spawn their task
//! and so must be called inside a Tokio runtime.
//!
//! - [`market::subscribe_market`]: USDⓈ-M `/market` (mark price) and `/public` (book ticker) routes.
//! - [`listen_key::subscribe_futures_user`]: USDⓈ-M `/private` user data with a listenKey.
//! - [`account::subscribe_spot_account`] / [`account::subscribe_margin_account`]: spot and cross
//!   margin user data over the WebSocket API (signature subscription / listen token).
//! - [`listen_key::subscribe_margin_risk`]: margin level and liability events on the margin risk
//!   stream (the one margin stream that still uses a listenKey).

pub mod account;
mod conn;
pub mod listen_key;
pub mod market;

pub use account::{subscribe_margin_account, subscribe_spot_account};
pub use listen_key::{subscribe_futures_user, subscribe_margin_risk};
pub use market::{MarketEvent, MarketStream, subscribe_market};

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What a stream delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent<E> {
    /// First successful connection and subscription.
    Connected,
    /// A payload.
    Data(E),
    /// The connection was lost (or is being rotated); events may be missing from here on.
    Gap { reason: String },
    /// Connected and subscribed again after a [`StreamEvent::Gap`]: re-snapshot over REST now.
    Reconnected,
}

/// Timing of the reconnect loop.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// We ping at this interval; Binance answers with pongs (and sends its own pings).
    pub ping_interval: Duration,
    /// No frame at all (data, ping or pong) for this long means the connection is dead. Longer than
    /// Binance's own 3-minute ping period, so it holds even if our pings went unanswered.
    pub silence_timeout: Duration,
    /// Reconnect before Binance's 24 h connection limit.
    pub max_connection_age: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// listenKey keepalive period (Binance: valid 60 min, extend every 30-60 min).
    pub listen_key_keepalive: Duration,
    /// Requested listen-token validity (max 24 h) and how long before expiry it is renewed.
    pub listen_token_validity: Duration,
    pub listen_token_renew_before: Duration,
    /// Capacity of the event channel.
    pub channel_capacity: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(30),
            silence_timeout: Duration::from_secs(240),
            max_connection_age: Duration::from_secs(23 * 3600 + 30 * 60),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            listen_key_keepalive: Duration::from_secs(30 * 60),
            listen_token_validity: Duration::from_secs(24 * 3600),
            listen_token_renew_before: Duration::from_secs(10 * 60),
            channel_capacity: 4096,
        }
    }
}

/// A running stream. Dropping it stops the background task.
#[derive(Debug)]
pub struct StreamHandle<E> {
    events: mpsc::Receiver<StreamEvent<E>>,
    cancel: CancellationToken,
}

impl<E> StreamHandle<E> {
    pub(crate) fn new(events: mpsc::Receiver<StreamEvent<E>>, cancel: CancellationToken) -> Self {
        Self { events, cancel }
    }

    /// The next event; `None` once the stream has been shut down.
    pub async fn recv(&mut self) -> Option<StreamEvent<E>> {
        self.events.recv().await
    }

    /// Stops the stream (also done on drop).
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }
}

impl<E> Drop for StreamHandle<E> {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
