//! Streams authenticated by a listenKey in the URL: USDⓈ-M user data (`<futures_ws>/private/ws/<key>`)
//! and the cross-margin risk stream (`<margin_risk_ws>/ws/<key>`). A key lives 60 minutes; it is kept
//! alive every `listen_key_keepalive` and replaced (new connection) when Binance says it expired.

use std::future::Future;

use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::conn::{Backoff, End, Outbound, Parsed, after_end, drive, pause};
use super::{StreamEvent, StreamHandle, WsConfig};
use crate::error::{Error, Result};
use crate::models::stream::{FuturesUserEvent, MarginRiskEvent};
use crate::rest::RestClient;
use crate::urls::BinanceUrls;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Futures,
    MarginRisk,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Futures => "futures-user",
            Kind::MarginRisk => "margin-risk",
        }
    }

    async fn create(self, rest: &RestClient) -> Result<String> {
        let key = match self {
            Kind::Futures => rest.create_futures_listen_key().await?,
            Kind::MarginRisk => rest.create_margin_risk_listen_key().await?,
        };
        Ok(key.listen_key)
    }

    async fn keepalive(self, rest: &RestClient, key: &str) -> Result<()> {
        match self {
            Kind::Futures => rest.keepalive_futures_listen_key().await.map(|_| ()),
            Kind::MarginRisk => rest.keepalive_margin_risk_listen_key(key).await.map(|_| ()),
        }
    }

    fn url(self, urls: &BinanceUrls, key: &str) -> String {
        match self {
            Kind::Futures => format!(
                "{}/private/ws/{key}",
                BinanceUrls::trimmed(&urls.futures_ws)
            ),
            Kind::MarginRisk => format!("{}/ws/{key}", BinanceUrls::trimmed(&urls.margin_risk_ws)),
        }
    }
}

/// USDⓈ-M user data: ORDER_TRADE_UPDATE, ACCOUNT_UPDATE (incl. FUNDING_FEE), MARGIN_CALL.
pub fn subscribe_futures_user(rest: RestClient, cfg: WsConfig) -> StreamHandle<FuturesUserEvent> {
    spawn(Kind::Futures, rest, cfg, |event: &FuturesUserEvent| {
        matches!(event, FuturesUserEvent::ListenKeyExpired { .. })
    })
}

/// Cross-margin risk data: MARGIN_LEVEL_STATUS_CHANGE, USER_LIABILITY_CHANGE.
pub fn subscribe_margin_risk(rest: RestClient, cfg: WsConfig) -> StreamHandle<MarginRiskEvent> {
    spawn(Kind::MarginRisk, rest, cfg, |event: &MarginRiskEvent| {
        matches!(event, MarginRiskEvent::ListenKeyExpired { .. })
    })
}

fn spawn<E, X>(kind: Kind, rest: RestClient, cfg: WsConfig, expired: X) -> StreamHandle<E>
where
    E: DeserializeOwned + Send + 'static,
    X: Fn(&E) -> bool + Send + 'static,
{
    let (tx, rx) = mpsc::channel(cfg.channel_capacity);
    let cancel = CancellationToken::new();
    tokio::spawn(run(kind, rest, cfg, tx, cancel.clone(), expired));
    StreamHandle::new(rx, cancel)
}

async fn run<E, X>(
    kind: Kind,
    rest: RestClient,
    cfg: WsConfig,
    tx: mpsc::Sender<StreamEvent<E>>,
    cancel: CancellationToken,
    expired: X,
) where
    E: DeserializeOwned + Send + 'static,
    X: Fn(&E) -> bool + Send + 'static,
{
    let mut backoff = Backoff::new(&cfg);
    let mut first = true;
    let mut parse = move |text: &str| match serde_json::from_str::<E>(text) {
        Ok(event) if expired(&event) => Parsed::Reconnect("listen key expired".to_string()),
        Ok(event) => Parsed::Events(vec![event]),
        Err(err) => {
            tracing::warn!(stream = kind.name(), error = %err, "unparseable user frame skipped");
            Parsed::Ignore
        }
    };
    loop {
        let key = match until_cancelled(&cancel, kind.create(&rest)).await {
            None => return,
            Some(Ok(key)) => key,
            Some(Err(err)) => {
                tracing::warn!(stream = kind.name(), error = %err, "could not create listen key");
                if !pause(&mut backoff, false, &cancel).await {
                    return;
                }
                continue;
            }
        };
        let (out_tx, mut out_rx) = mpsc::channel(4);
        let keepalive_cancel = cancel.child_token();
        tokio::spawn(keepalive(
            kind,
            rest.clone(),
            key.clone(),
            cfg.clone(),
            out_tx,
            keepalive_cancel.clone(),
        ));
        let url = kind.url(rest.urls(), &key);
        let end = drive(
            &url,
            Vec::new(),
            &mut parse,
            &mut out_rx,
            &tx,
            &cfg,
            &cancel,
            first,
            false,
        )
        .await;
        keepalive_cancel.cancel();
        if matches!(
            end,
            End::Retry {
                lasted: Some(_),
                ..
            }
        ) {
            first = false;
        }
        if !after_end(end, &mut backoff, &tx, &cancel, kind.name()).await {
            return;
        }
    }
}

async fn keepalive(
    kind: Kind,
    rest: RestClient,
    key: String,
    cfg: WsConfig,
    out: mpsc::Sender<Outbound>,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(cfg.listen_key_keepalive) => {}
        }
        match kind.keepalive(&rest, &key).await {
            Ok(()) => tracing::debug!(stream = kind.name(), "listen key kept alive"),
            Err(Error::Api { code: -1125, .. }) => {
                // The key is gone: reconnect with a new one.
                out.send(Outbound::Reconnect(
                    "listen key no longer exists".to_string(),
                ))
                .await
                .ok();
                return;
            }
            Err(err) => {
                tracing::warn!(stream = kind.name(), error = %err, "listen key keepalive failed")
            }
        }
    }
}

async fn until_cancelled<T>(cancel: &CancellationToken, fut: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        _ = cancel.cancelled() => None,
        value = fut => Some(value),
    }
}
