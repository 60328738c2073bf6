//! Spot and cross-margin user data over the WebSocket API (`spot_ws_api`). Binance switched the old
//! listenKeys off on 2026-02-20: spot subscribes with `userDataStream.subscribe.signature`, margin with
//! a listen token from `POST /sapi/v1/userListenToken` and `userDataStream.subscribe.listenToken`.
//! Events arrive as `{"subscriptionId": N, "event": {…}}`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::conn::{Backoff, End, Outbound, Parsed, after_end, drive, pause};
use super::{StreamEvent, StreamHandle, WsConfig};
use crate::credential::Credentials;
use crate::error::{Error, Result};
use crate::models::stream::AccountEvent;
use crate::rest::{Host, RestClient, local_now_ms};
use crate::sign::ws_api_payload;

static REQUEST_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> String {
    format!("fff-{}", REQUEST_ID.fetch_add(1, Ordering::Relaxed))
}

/// `userDataStream.subscribe.signature`: HMAC over the params sorted by name.
pub fn subscribe_signature_request(credentials: &Credentials, timestamp_ms: i64) -> String {
    let params = vec![
        ("apiKey".to_string(), credentials.api_key().to_string()),
        ("timestamp".to_string(), timestamp_ms.to_string()),
    ];
    let signature = credentials.sign(&ws_api_payload(&params));
    json!({
        "id": next_id(),
        "method": "userDataStream.subscribe.signature",
        "params": {
            "apiKey": credentials.api_key(),
            "timestamp": timestamp_ms,
            "signature": signature,
        }
    })
    .to_string()
}

/// `userDataStream.subscribe.listenToken`.
pub fn subscribe_listen_token_request(token: &str) -> String {
    json!({
        "id": next_id(),
        "method": "userDataStream.subscribe.listenToken",
        "params": { "listenToken": token }
    })
    .to_string()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    #[serde(default)]
    subscription_id: Option<i64>,
    #[serde(default)]
    event: Option<serde_json::Value>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Tracks the live subscription so that the termination of a replaced one is not mistaken for ours.
#[derive(Debug, Default)]
pub(crate) struct SubscriptionState {
    current: Option<i64>,
}

impl SubscriptionState {
    pub(crate) fn parse(&mut self, text: &str) -> Parsed<AccountEvent> {
        let envelope: Envelope = match serde_json::from_str(text) {
            Ok(envelope) => envelope,
            Err(err) => {
                tracing::warn!(error = %err, "unparseable ws-api frame skipped");
                return Parsed::Ignore;
            }
        };
        if let Some(raw) = envelope.event {
            if raw.get("e").and_then(|e| e.as_str()) == Some("serverShutdown") {
                return Parsed::Reconnect("server shutting down".to_string());
            }
            let event: AccountEvent = match serde_json::from_value(raw) {
                Ok(event) => event,
                Err(err) => {
                    tracing::warn!(error = %err, "unparseable account event skipped");
                    return Parsed::Ignore;
                }
            };
            if let AccountEvent::EventStreamTerminated { .. } = event {
                let ours = match (envelope.subscription_id, self.current) {
                    (Some(id), Some(current)) => id == current,
                    _ => true,
                };
                if ours {
                    return Parsed::Reconnect("subscription terminated".to_string());
                }
                return Parsed::Ignore;
            }
            return Parsed::Events(vec![event]);
        }
        match envelope.status {
            Some(200) => {
                let id = envelope
                    .result
                    .as_ref()
                    .and_then(|r| r.get("subscriptionId"))
                    .and_then(|v| v.as_i64());
                let first_confirmation = self.current.is_none();
                if let Some(id) = id {
                    self.current = Some(id);
                }
                if first_confirmation && id.is_some() {
                    Parsed::Subscribed
                } else {
                    Parsed::Ignore
                }
            }
            Some(status) => Parsed::Fail(format!(
                "ws api request failed with status {status}: {}",
                envelope.error.unwrap_or_default()
            )),
            None => Parsed::Ignore,
        }
    }
}

/// Spot account events (executionReport, outboundAccountPosition, balanceUpdate).
pub fn subscribe_spot_account(
    rest: RestClient,
    cfg: WsConfig,
) -> Result<StreamHandle<AccountEvent>> {
    if rest.credentials().is_none() {
        return Err(Error::MissingCredentials(
            "userDataStream.subscribe.signature",
        ));
    }
    Ok(spawn(Mode::Spot, rest, cfg))
}

/// Cross-margin account events (same payloads as spot).
pub fn subscribe_margin_account(
    rest: RestClient,
    cfg: WsConfig,
) -> Result<StreamHandle<AccountEvent>> {
    if rest.credentials().is_none() {
        return Err(Error::MissingCredentials("POST /sapi/v1/userListenToken"));
    }
    Ok(spawn(Mode::Margin, rest, cfg))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Spot,
    Margin,
}

fn spawn(mode: Mode, rest: RestClient, cfg: WsConfig) -> StreamHandle<AccountEvent> {
    let (tx, rx) = mpsc::channel(cfg.channel_capacity);
    let cancel = CancellationToken::new();
    tokio::spawn(run(mode, rest, cfg, tx, cancel.clone()));
    StreamHandle::new(rx, cancel)
}

async fn run(
    mode: Mode,
    rest: RestClient,
    cfg: WsConfig,
    tx: mpsc::Sender<StreamEvent<AccountEvent>>,
    cancel: CancellationToken,
) {
    let name = match mode {
        Mode::Spot => "spot-account",
        Mode::Margin => "margin-account",
    };
    let mut backoff = Backoff::new(&cfg);
    let mut first = true;
    loop {
        let (out_tx, mut out_rx) = mpsc::channel(4);
        let renew_cancel = cancel.child_token();
        let prepared = tokio::select! {
            _ = cancel.cancelled() => return,
            prepared = prepare(mode, &rest, &cfg, out_tx, renew_cancel.clone()) => prepared,
        };
        let subscribe = match prepared {
            Ok(message) => message,
            Err(err) => {
                tracing::warn!(stream = name, error = %err, "could not prepare subscription");
                if !pause(&mut backoff, false, &cancel).await {
                    return;
                }
                continue;
            }
        };
        let mut state = SubscriptionState::default();
        let mut parse = |text: &str| state.parse(text);
        let url = rest.urls().spot_ws_api.clone();
        let end = drive(
            &url,
            vec![subscribe],
            &mut parse,
            &mut out_rx,
            &tx,
            &cfg,
            &cancel,
            first,
            true,
        )
        .await;
        renew_cancel.cancel();
        if matches!(
            end,
            End::Retry {
                lasted: Some(_),
                ..
            }
        ) {
            first = false;
        }
        if !after_end(end, &mut backoff, &tx, &cancel, name).await {
            return;
        }
    }
}

/// Builds the subscribe message; for margin also starts the task renewing the listen token.
async fn prepare(
    mode: Mode,
    rest: &RestClient,
    cfg: &WsConfig,
    out: mpsc::Sender<Outbound>,
    renew_cancel: CancellationToken,
) -> Result<String> {
    match mode {
        Mode::Spot => {
            let credentials = rest.credentials().ok_or(Error::MissingCredentials(
                "userDataStream.subscribe.signature",
            ))?;
            // The WS API checks `timestamp` like REST: sign against Binance's clock.
            if let Err(err) = rest.sync_time(Host::Spot).await {
                tracing::warn!(error = %err, "clock sync failed, using the last offset");
            }
            Ok(subscribe_signature_request(
                credentials,
                rest.server_now_ms(Host::Spot),
            ))
        }
        Mode::Margin => {
            let token = rest
                .create_margin_listen_token(Some(cfg.listen_token_validity))
                .await?;
            tokio::spawn(renew_listen_token(
                rest.clone(),
                cfg.clone(),
                token.expiration_time,
                out,
                renew_cancel,
            ));
            Ok(subscribe_listen_token_request(&token.token))
        }
    }
}

/// Before the token expires, fetch a new one and subscribe with it on the same connection.
async fn renew_listen_token(
    rest: RestClient,
    cfg: WsConfig,
    mut expiration: i64,
    out: mpsc::Sender<Outbound>,
    cancel: CancellationToken,
) {
    loop {
        let wait = renewal_delay(
            expiration,
            rest.server_now_ms(Host::Spot),
            cfg.listen_token_renew_before,
        );
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        match rest
            .create_margin_listen_token(Some(cfg.listen_token_validity))
            .await
        {
            Ok(token) => {
                expiration = token.expiration_time;
                let message = subscribe_listen_token_request(&token.token);
                if out.send(Outbound::Send(message)).await.is_err() {
                    return;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "listen token renewal failed, retrying");
                // Retry soon; if it keeps failing the old token expires and the stream reconnects.
                expiration = local_now_ms()
                    + i64::try_from(cfg.listen_token_renew_before.as_millis()).unwrap_or(0) / 2;
            }
        }
    }
}

const MAX_RENEWAL_WAIT_MS: i64 = 24 * 3_600_000;

/// How long to wait before renewing a token that expires at `expiration` (ms; a 16-digit value in
/// microseconds, as in one doc example, is accepted).
pub(crate) fn renewal_delay(expiration: i64, now_ms: i64, renew_before: Duration) -> Duration {
    let expiration_ms = if expiration > 100_000_000_000_000 {
        expiration / 1000
    } else {
        expiration
    };
    let renew_before_ms = i64::try_from(renew_before.as_millis()).unwrap_or(i64::MAX);
    // saturating: the expiration is the server's word, and an absurd one must not panic; a
    // token is renewed at least daily whatever it claims (Binance's last 24 h)
    let wait_ms = expiration_ms
        .saturating_sub(renew_before_ms)
        .saturating_sub(now_ms)
        .clamp(1000, MAX_RENEWAL_WAIT_MS);
    Duration::from_millis(u64::try_from(wait_ms).unwrap_or(1000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::fixture;

    #[test]
    fn signature_request_signs_sorted_params() {
        let creds = Credentials::new("key-a", "secret-b");
        let message: serde_json::Value =
            serde_json::from_str(&subscribe_signature_request(&creds, 1747385641636)).unwrap();
        assert_eq!(message["method"], "userDataStream.subscribe.signature");
        let expected = creds.sign("apiKey=key-a&timestamp=1747385641636");
        assert_eq!(message["params"]["signature"], expected.as_str());
        assert_eq!(message["params"]["timestamp"], 1747385641636_i64);
    }

    #[test]
    fn subscription_state_tracks_current_id() {
        let mut state = SubscriptionState::default();
        let ok = fixture::load("wsapi_userDataStream_subscribe_signature_response.json");
        assert!(matches!(state.parse(&ok), Parsed::Subscribed));
        assert_eq!(state.current, Some(0));
        // A renewal's confirmation only moves the current id.
        let renewed = r#"{"id":"x","status":200,"result":{"subscriptionId":1,"expirationTime":1}}"#;
        assert!(matches!(state.parse(renewed), Parsed::Ignore));
        assert_eq!(state.current, Some(1));
        state.current = Some(0);
        let event = fixture::load("wsapi_event_executionReport.json");
        assert!(matches!(state.parse(&event), Parsed::Events(ref e) if e.len() == 1));
        // A replaced subscription (id 7) ending is not ours.
        let old_end = r#"{"subscriptionId":7,"event":{"e":"eventStreamTerminated","E":1}}"#;
        assert!(matches!(state.parse(old_end), Parsed::Ignore));
        let ours = fixture::load("wsapi_event_eventStreamTerminated.json");
        assert!(matches!(state.parse(&ours), Parsed::Reconnect(_)));
        let shutdown = format!(
            r#"{{"event":{}}}"#,
            fixture::load("ws_spot_serverShutdown.json")
        );
        assert!(matches!(state.parse(&shutdown), Parsed::Reconnect(_)));
        // The doc shows only the `result` of a listen-token subscription; wrap it as on the wire.
        let result = fixture::load("wsapi_userDataStream_subscribe_listenToken_response.json");
        let mut fresh = SubscriptionState::default();
        let wire = format!(r#"{{"id":"a","status":200,"result":{result}}}"#);
        assert!(matches!(fresh.parse(&wire), Parsed::Subscribed));
        assert_eq!(fresh.current, Some(1));
        let refused = fixture::load("wsapi_response_error.json");
        assert!(matches!(state.parse(&refused), Parsed::Fail(_)));
    }

    #[test]
    fn renewal_happens_before_expiry_for_ms_and_us_expirations() {
        let now = 1_758_700_000_000;
        let before = Duration::from_secs(600);
        let in_an_hour = now + 3_600_000;
        assert_eq!(
            renewal_delay(in_an_hour, now, before),
            Duration::from_secs(3000)
        );
        assert_eq!(
            renewal_delay(in_an_hour * 1000, now, before),
            Duration::from_secs(3000)
        );
        assert_eq!(renewal_delay(now, now, before), Duration::from_secs(1));
        // absurd server values neither panic nor wait forever in the wrong direction
        assert_eq!(renewal_delay(i64::MIN, now, before), Duration::from_secs(1));
        assert_eq!(
            renewal_delay(i64::MAX / 1000, i64::MIN, before),
            Duration::from_secs(24 * 3600)
        );
    }
}
