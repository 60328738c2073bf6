//! Upstream feeds of the market hub: the futures `!markPrice@arr@1s` and `!bookTicker` streams,
//! spot best bid/ask polled over REST (the connector has no spot market stream), and 24 h
//! statistics polled over REST. A stream gap becomes a Resync for every subscriber, followed by
//! a REST re-snapshot.

use std::sync::Arc;
use std::time::Duration;

use fff_binance::RestClient;
use fff_binance::models::{BookTicker, Ticker24h};
use fff_binance::ws::{MarketEvent, MarketStream, StreamEvent, WsConfig, subscribe_market};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use tokio_util::sync::CancellationToken;

use super::MarketHub;
use crate::convert::{dec, now_ms};

/// Periods of the REST pollers.
#[derive(Debug, Clone, Copy)]
pub struct FeedPeriods {
    pub spot_books: Duration,
    pub stats: Duration,
}

pub fn spawn_feeds(
    rest: RestClient,
    hub: Arc<MarketHub>,
    periods: FeedPeriods,
    cancel: CancellationToken,
) {
    tokio::spawn(stream_futures(rest.clone(), hub.clone(), cancel.clone()));
    tokio::spawn(poll(cancel.clone(), periods.spot_books, {
        let (rest, hub) = (rest.clone(), hub.clone());
        move || {
            let (rest, hub) = (rest.clone(), hub.clone());
            async move { spot_books(&rest, &hub).await }
        }
    }));
    tokio::spawn(poll(cancel, periods.stats, move || {
        let (rest, hub) = (rest.clone(), hub.clone());
        async move { stats(&rest, &hub).await }
    }));
}

async fn poll<F, Fut>(cancel: CancellationToken, period: Duration, mut tick: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            _ = interval.tick() => tick().await,
        }
    }
}

async fn stream_futures(rest: RestClient, hub: Arc<MarketHub>, cancel: CancellationToken) {
    let streams = [MarketStream::AllMarkPrices, MarketStream::AllBookTickers];
    let mut handle = subscribe_market(rest.urls(), &streams, WsConfig::default());
    // one Resync per outage, however many reconnect attempts fail
    let mut live = false;
    let mut last_resnapshot: Option<tokio::time::Instant> = None;
    loop {
        let event = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            event = handle.recv() => event,
        };
        match event {
            None => return,
            Some(StreamEvent::Data(MarketEvent::MarkPrice(update))) => hub.on_mark_price(&update),
            Some(StreamEvent::Data(MarketEvent::BookTicker(book))) => hub.on_book(
                &book.symbol,
                pb::BookTicker {
                    venue: common::Venue::UsdmPerp as i32,
                    bid_price: dec(book.bid_price),
                    bid_qty: dec(book.bid_qty),
                    ask_price: dec(book.ask_price),
                    ask_qty: dec(book.ask_qty),
                    update_id: book.update_id,
                },
                book.event_time.unwrap_or_else(now_ms),
            ),
            Some(StreamEvent::Gap { reason }) => {
                tracing::warn!(%reason, "futures market stream gap");
                if std::mem::replace(&mut live, false) {
                    hub.resync(common::ResyncReason::UpstreamReconnected, &reason);
                }
            }
            Some(StreamEvent::Reconnected | StreamEvent::Connected) => {
                live = true;
                let now = tokio::time::Instant::now();
                if resnapshot_due(last_resnapshot, now) {
                    last_resnapshot = Some(now);
                    resnapshot_futures(&rest, &hub).await;
                } else {
                    tracing::debug!("futures re-snapshot skipped: one ran moments ago");
                }
            }
        }
    }
}

/// Shortest time between two REST re-snapshots of the futures market (weight 15 each). A
/// stream that drops every second (seen in the soak) re-snapshotted every second and spent
/// 900 of the 2,400 per-minute weight; the stream itself brings marks within a second and
/// books at once, so a re-snapshot only shortens a gap that a quick reconnect already closed.
const RESNAPSHOT_MIN_INTERVAL: Duration = Duration::from_secs(5);

fn resnapshot_due(last: Option<tokio::time::Instant>, now: tokio::time::Instant) -> bool {
    last.is_none_or(|last| now.duration_since(last) >= RESNAPSHOT_MIN_INTERVAL)
}

/// Mark prices and perp books over REST after (re)connecting.
async fn resnapshot_futures(rest: &RestClient, hub: &MarketHub) {
    match rest.premium_indexes().await {
        Ok(all) => {
            for p in all {
                hub.on_mark_price(&fff_binance::models::stream::MarkPriceUpdate {
                    event_time: p.time,
                    symbol: p.symbol,
                    mark_price: p.mark_price,
                    mark_price_avg: None,
                    index_price: p.index_price,
                    estimated_settle_price: p.estimated_settle_price,
                    funding_rate: p.last_funding_rate,
                    next_funding_time: p.next_funding_time,
                });
            }
        }
        Err(err) => tracing::warn!(error = %err, "premium index re-snapshot failed"),
    }
    match rest.futures_book_tickers().await {
        Ok(books) => publish_books(hub, books, common::Venue::UsdmPerp),
        Err(err) => tracing::warn!(error = %err, "perp book re-snapshot failed"),
    }
}

async fn spot_books(rest: &RestClient, hub: &MarketHub) {
    match rest.book_tickers().await {
        Ok(books) => publish_books(hub, books, common::Venue::SpotMargin),
        Err(err) => tracing::debug!(error = %err, "spot book poll failed"),
    }
}

fn publish_books(hub: &MarketHub, books: Vec<BookTicker>, venue: common::Venue) {
    let now = now_ms();
    for book in books {
        hub.on_book(
            &book.symbol,
            pb::BookTicker {
                venue: venue as i32,
                bid_price: dec(book.bid_price),
                bid_qty: dec(book.bid_qty),
                ask_price: dec(book.ask_price),
                ask_qty: dec(book.ask_qty),
                update_id: 0,
            },
            book.time.unwrap_or(now),
        );
    }
}

async fn stats(rest: &RestClient, hub: &MarketHub) {
    let (spot, perp) = tokio::join!(rest.tickers_24hr(), rest.futures_tickers_24hr());
    for (result, venue) in [
        (spot, common::Venue::SpotMargin),
        (perp, common::Venue::UsdmPerp),
    ] {
        match result {
            Ok(tickers) => {
                for t in tickers {
                    hub.on_ticker(&t.symbol, ticker_to_pb(&t, venue), t.close_time);
                }
            }
            Err(err) => tracing::debug!(error = %err, "24h statistics poll failed"),
        }
    }
}

fn ticker_to_pb(t: &Ticker24h, venue: common::Venue) -> pb::Ticker24h {
    pb::Ticker24h {
        venue: venue as i32,
        last_price: dec(t.last_price),
        // Binance sends percent; the wire carries a fraction
        price_change_fraction: dec(t.price_change_percent / rust_decimal::Decimal::ONE_HUNDRED),
        base_volume: dec(t.volume),
        quote_volume: dec(t.quote_volume),
        open_interest_contracts: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconnect_right_after_a_re_snapshot_does_not_read_the_market_again() {
        let start = tokio::time::Instant::now();
        assert!(resnapshot_due(None, start));
        assert!(!resnapshot_due(Some(start), start + Duration::from_secs(1)));
        assert!(resnapshot_due(Some(start), start + RESNAPSHOT_MIN_INTERVAL));
    }
}
