//! USDⓈ-M market streams. Since 2026-04-23 Binance serves them on routed paths: mark price on
//! `/market`, book tickers on `/public`; an unrouted URL would silently deliver nothing for
//! `@markPrice`. One connection per route, combined-stream form
//! (`<futures_ws>/<route>/stream?streams=a/b`), payloads wrapped as `{"stream", "data"}`.

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::conn::{Backoff, Outbound, Parsed, after_end, drive};
use super::{StreamEvent, StreamHandle, WsConfig};
use crate::error::{Error, Result};
use crate::models::stream::{BookTickerUpdate, MarkPriceUpdate};
use crate::urls::BinanceUrls;

/// A futures market stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarketStream {
    /// `!markPrice@arr@1s`: every symbol's mark price and funding rate each second.
    AllMarkPrices,
    /// `<symbol>@markPrice@1s`.
    MarkPrice { symbol: String },
    /// `<symbol>@bookTicker`.
    BookTicker { symbol: String },
    /// `!bookTicker`.
    AllBookTickers,
}

impl MarketStream {
    /// The stream name Binance expects (lowercase symbols).
    pub fn name(&self) -> String {
        match self {
            MarketStream::AllMarkPrices => "!markPrice@arr@1s".to_string(),
            MarketStream::MarkPrice { symbol } => format!("{}@markPrice@1s", symbol.to_lowercase()),
            MarketStream::BookTicker { symbol } => format!("{}@bookTicker", symbol.to_lowercase()),
            MarketStream::AllBookTickers => "!bookTicker".to_string(),
        }
    }

    /// `market` or `public`.
    pub fn route(&self) -> &'static str {
        match self {
            MarketStream::AllMarkPrices | MarketStream::MarkPrice { .. } => "market",
            MarketStream::BookTicker { .. } | MarketStream::AllBookTickers => "public",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarketEvent {
    MarkPrice(MarkPriceUpdate),
    BookTicker(BookTickerUpdate),
}

#[derive(Deserialize)]
struct Combined {
    #[serde(default)]
    stream: Option<String>,
    data: serde_json::Value,
}

/// Parses one frame of a combined market stream.
pub fn parse_market_frame(text: &str) -> Result<Vec<MarketEvent>> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| Error::Decode(err.to_string()))?;
    // Replies to control messages (`{"result":null,"id":1}`) carry no data.
    if value.get("result").is_some() && value.get("id").is_some() {
        return Ok(Vec::new());
    }
    let data = match serde_json::from_value::<Combined>(value.clone()) {
        Ok(combined) if combined.stream.is_some() => combined.data,
        _ => value,
    };
    let items = match data {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let kind = item
            .get("e")
            .and_then(|e| e.as_str())
            .unwrap_or("bookTicker");
        let event = match kind {
            "markPriceUpdate" => MarketEvent::MarkPrice(
                serde_json::from_value(item).map_err(|err| Error::Decode(err.to_string()))?,
            ),
            "bookTicker" => MarketEvent::BookTicker(
                serde_json::from_value(item).map_err(|err| Error::Decode(err.to_string()))?,
            ),
            _ => continue,
        };
        out.push(event);
    }
    Ok(out)
}

/// Frame → stream action; a `serverShutdown` notice (sent before maintenance) means reconnect now.
fn classify(text: &str) -> Parsed<MarketEvent> {
    let shutdown = serde_json::from_str::<serde_json::Value>(text).is_ok_and(|value| {
        let data = value.get("data").unwrap_or(&value);
        data.get("e").and_then(|e| e.as_str()) == Some("serverShutdown")
    });
    if shutdown {
        return Parsed::Reconnect("server shutting down".to_string());
    }
    match parse_market_frame(text) {
        Ok(events) => Parsed::Events(events),
        Err(err) => {
            tracing::warn!(error = %err, "unparseable market frame skipped");
            Parsed::Ignore
        }
    }
}

/// Subscribes to `streams`, one reconnecting connection per route, all feeding one handle. A `Gap`
/// on any route means: re-read `premiumIndex` / book tickers over REST.
pub fn subscribe_market(
    urls: &BinanceUrls,
    streams: &[MarketStream],
    cfg: WsConfig,
) -> StreamHandle<MarketEvent> {
    let (tx, rx) = mpsc::channel(cfg.channel_capacity);
    let cancel = CancellationToken::new();
    for route in ["market", "public"] {
        let names: Vec<String> = streams
            .iter()
            .filter(|s| s.route() == route)
            .map(MarketStream::name)
            .collect();
        if names.is_empty() {
            continue;
        }
        let url = format!(
            "{}/{route}/stream?streams={}",
            BinanceUrls::trimmed(&urls.futures_ws),
            names.join("/")
        );
        tokio::spawn(run_route(url, tx.clone(), cfg.clone(), cancel.clone()));
    }
    StreamHandle::new(rx, cancel)
}

async fn run_route(
    url: String,
    tx: mpsc::Sender<StreamEvent<MarketEvent>>,
    cfg: WsConfig,
    cancel: CancellationToken,
) {
    let mut backoff = Backoff::new(&cfg);
    // Nothing is pushed into market connections.
    let (_, mut outbound) = mpsc::channel::<Outbound>(1);
    let mut first = true;
    let mut parse = classify;
    loop {
        let end = drive(
            &url,
            Vec::new(),
            &mut parse,
            &mut outbound,
            &tx,
            &cfg,
            &cancel,
            first,
            false,
        )
        .await;
        if matches!(
            end,
            super::conn::End::Retry {
                lasted: Some(_),
                ..
            }
        ) {
            first = false;
        }
        if !after_end(end, &mut backoff, &tx, &cancel, "futures-market").await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::fixture;
    use rust_decimal_macros::dec;

    #[test]
    fn stream_names_and_routes() {
        let mark = MarketStream::MarkPrice {
            symbol: "BTCUSDT".into(),
        };
        assert_eq!(mark.name(), "btcusdt@markPrice@1s");
        assert_eq!(mark.route(), "market");
        assert_eq!(MarketStream::AllMarkPrices.name(), "!markPrice@arr@1s");
        let book = MarketStream::BookTicker {
            symbol: "ETHUSDT".into(),
        };
        assert_eq!(
            (book.name().as_str(), book.route()),
            ("ethusdt@bookTicker", "public")
        );
    }

    #[test]
    fn parses_combined_and_raw_frames() {
        let arr = fixture::load("ws_fapi_markPrice_arr.json");
        let wrapped = format!(r#"{{"stream":"!markPrice@arr@1s","data":{arr}}}"#);
        let events = parse_market_frame(&wrapped).unwrap();
        assert!(matches!(&events[0], MarketEvent::MarkPrice(m) if m.funding_rate == dec!(0.0003)));
        let book = fixture::load("ws_fapi_bookTicker.json");
        let events = parse_market_frame(&book).unwrap();
        assert!(matches!(&events[0], MarketEvent::BookTicker(b) if b.symbol == "BNBUSDT"));
        let ack = fixture::load("ws_fapi_subscribe_response.json");
        assert!(parse_market_frame(&ack).unwrap().is_empty());
        let shutdown = fixture::load("ws_spot_serverShutdown.json");
        assert!(matches!(classify(&shutdown), Parsed::Reconnect(_)));
        let wrapped = format!(r#"{{"stream":"!serverShutdown","data":{shutdown}}}"#);
        assert!(matches!(classify(&wrapped), Parsed::Reconnect(_)));
        assert!(matches!(classify(&arr), Parsed::Events(ref e) if !e.is_empty()));
    }
}
