//! Market data hub: the latest mark price / funding, best bid/ask and 24 h statistics per
//! symbol and venue, fanned out to StreamMarket subscribers. A new subscriber gets one snapshot
//! event per (symbol, kind, venue), a SnapshotComplete marker, then live updates; its sequence
//! numbers start at 1 without gaps.

mod feed;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use fff_binance::models::stream::MarkPriceUpdate;
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use pb::stream_market_response::Event;
use rust_decimal::Decimal;
use tokio_stream::StreamExt as _;

use crate::convert::{dec, now_ms, ts};
use crate::fanout::{Fanout, Subscription};

pub use feed::{FeedPeriods, spawn_feeds};

/// Latest values of one symbol.
#[derive(Debug, Clone, Default)]
struct SymbolState {
    mark: Option<(pb::MarkPriceUpdate, i64)>,
    /// Keyed by venue number.
    books: BTreeMap<i32, (pb::BookTicker, i64)>,
    tickers: BTreeMap<i32, (pb::Ticker24h, i64)>,
}

#[derive(Debug)]
struct Inner {
    symbols: BTreeMap<String, SymbolState>,
    funding_intervals: HashMap<String, u32>,
    /// Perp open interest (contracts) from the last universe load, attached to perp tickers.
    open_interest: HashMap<String, String>,
    fanout: Fanout<pb::StreamMarketResponse>,
}

/// Shared market state and its subscribers.
#[derive(Debug)]
pub struct MarketHub {
    inner: Mutex<Inner>,
}

fn kind_of(event: &Event) -> Option<pb::MarketEventKind> {
    match event {
        Event::MarkPrice(_) => Some(pb::MarketEventKind::MarkPrice),
        Event::BookTicker(_) => Some(pb::MarketEventKind::BookTicker),
        Event::Ticker24h(_) => Some(pb::MarketEventKind::Ticker24h),
        Event::SnapshotComplete(_) | Event::Resync(_) => None,
    }
}

fn message(symbol: &str, time_ms: i64, snapshot: bool, event: Event) -> pb::StreamMarketResponse {
    pb::StreamMarketResponse {
        sequence: 0,
        symbol: symbol.to_owned(),
        event_time: Some(ts(time_ms)),
        snapshot,
        event: Some(event),
    }
}

impl MarketHub {
    pub fn new(subscriber_buffer: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                symbols: BTreeMap::new(),
                funding_intervals: HashMap::new(),
                open_interest: HashMap::new(),
                fanout: Fanout::new(subscriber_buffer),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Restricts the hub to the universe's symbols and records their funding intervals.
    pub fn set_universe(&self, intervals: HashMap<String, u32>) {
        let mut inner = self.lock();
        inner.symbols.retain(|s, _| intervals.contains_key(s));
        for symbol in intervals.keys() {
            inner.symbols.entry(symbol.clone()).or_default();
        }
        inner.funding_intervals = intervals;
    }

    /// Open interest per perp (contracts, decimal strings) to attach to perp 24 h tickers.
    pub fn set_open_interest(&self, open_interest: HashMap<String, String>) {
        self.lock().open_interest = open_interest;
    }

    pub fn on_mark_price(&self, update: &MarkPriceUpdate) {
        let mut inner = self.lock();
        let interval = inner
            .funding_intervals
            .get(&update.symbol)
            .copied()
            .unwrap_or(0);
        let Some(state) = inner.symbols.get_mut(&update.symbol) else {
            return;
        };
        let mark = pb::MarkPriceUpdate {
            mark_price: dec(update.mark_price),
            index_price: dec(update.index_price),
            estimated_settle_price: dec(update.estimated_settle_price),
            funding_rate: dec(update.funding_rate),
            next_funding_time: Some(ts(update.next_funding_time)),
            funding_interval_hours: interval,
        };
        // REST re-snapshots can be older than what the stream already delivered
        if state
            .mark
            .as_ref()
            .is_some_and(|(m, time)| *m == mark || *time > update.event_time)
        {
            return;
        }
        state.mark = Some((mark.clone(), update.event_time));
        let event = message(
            &update.symbol,
            update.event_time,
            false,
            Event::MarkPrice(mark),
        );
        inner.fanout.publish(&event);
    }

    /// Records a best bid/ask; unchanged books (same prices and quantities) are not re-sent.
    pub fn on_book(&self, symbol: &str, book: pb::BookTicker, time_ms: i64) {
        let mut inner = self.lock();
        let Some(state) = inner.symbols.get_mut(symbol) else {
            return;
        };
        let same = state.books.get(&book.venue).is_some_and(|(old, _)| {
            old.bid_price == book.bid_price
                && old.ask_price == book.ask_price
                && old.bid_qty == book.bid_qty
                && old.ask_qty == book.ask_qty
        });
        if same {
            return;
        }
        state.books.insert(book.venue, (book.clone(), time_ms));
        let event = message(symbol, time_ms, false, Event::BookTicker(book));
        inner.fanout.publish(&event);
    }

    pub fn on_ticker(&self, symbol: &str, mut ticker: pb::Ticker24h, time_ms: i64) {
        let mut inner = self.lock();
        if ticker.venue == common::Venue::UsdmPerp as i32
            && ticker.open_interest_contracts.is_empty()
            && let Some(oi) = inner.open_interest.get(symbol)
        {
            ticker.open_interest_contracts.clone_from(oi);
        }
        let Some(state) = inner.symbols.get_mut(symbol) else {
            return;
        };
        if state
            .tickers
            .get(&ticker.venue)
            .is_some_and(|(old, _)| *old == ticker)
        {
            return;
        }
        state
            .tickers
            .insert(ticker.venue, (ticker.clone(), time_ms));
        let event = message(symbol, time_ms, false, Event::Ticker24h(ticker));
        inner.fanout.publish(&event);
    }

    /// Tells every subscriber that events may have been lost upstream.
    pub fn resync(&self, reason: common::ResyncReason, detail: &str) {
        let mut inner = self.lock();
        let event = pb::StreamMarketResponse {
            sequence: 0,
            symbol: String::new(),
            event_time: Some(ts(now_ms())),
            snapshot: false,
            event: Some(Event::Resync(common::Resync {
                reason: reason as i32,
                detail: detail.to_owned(),
                last_sequence: 0,
            })),
        };
        inner.fanout.publish(&event);
    }

    /// Latest mark price of a perpetual.
    pub fn mark_price(&self, symbol: &str) -> Option<Decimal> {
        let inner = self.lock();
        let (mark, _) = inner.symbols.get(symbol)?.mark.as_ref()?;
        mark.mark_price.parse().ok()
    }

    /// Mid of the latest best bid/ask of `symbol` on `venue`.
    pub fn mid_price(&self, symbol: &str, venue: common::Venue) -> Option<Decimal> {
        let inner = self.lock();
        let (book, _) = inner.symbols.get(symbol)?.books.get(&(venue as i32))?;
        let bid: Decimal = book.bid_price.parse().ok()?;
        let ask: Decimal = book.ask_price.parse().ok()?;
        Some((bid + ask) / Decimal::TWO)
    }

    /// Overlays the live mark price, funding and volumes onto a universe instrument.
    pub fn overlay(&self, instrument: &mut pb::Instrument) {
        let inner = self.lock();
        let Some(state) = inner.symbols.get(&instrument.symbol) else {
            return;
        };
        if let Some((mark, time)) = &state.mark {
            instrument.mark_price.clone_from(&mark.mark_price);
            instrument.index_price.clone_from(&mark.index_price);
            instrument.last_funding_rate.clone_from(&mark.funding_rate);
            instrument.next_funding_time = mark.next_funding_time;
            instrument.updated_at = Some(ts(*time));
            if let (Ok(oi), Ok(price)) = (
                instrument.open_interest_contracts.parse::<Decimal>(),
                mark.mark_price.parse::<Decimal>(),
            ) {
                instrument.open_interest_usdt = dec(oi * price);
            }
        }
        if let Some((t, _)) = state.tickers.get(&(common::Venue::SpotMargin as i32)) {
            instrument.spot_quote_volume_24h.clone_from(&t.quote_volume);
        }
        if let Some((t, _)) = state.tickers.get(&(common::Venue::UsdmPerp as i32)) {
            instrument.perp_quote_volume_24h.clone_from(&t.quote_volume);
            if !t.open_interest_contracts.is_empty() {
                instrument
                    .open_interest_contracts
                    .clone_from(&t.open_interest_contracts);
            }
        }
    }

    /// A new subscription: snapshot, SnapshotComplete, then live events, numbered from 1.
    /// Empty `symbols` / `kinds` mean all.
    pub fn subscribe(
        &self,
        symbols: HashSet<String>,
        kinds: HashSet<pb::MarketEventKind>,
    ) -> Subscription<pb::StreamMarketResponse> {
        let wants_kind = {
            let kinds = kinds.clone();
            move |kind: pb::MarketEventKind| kinds.is_empty() || kinds.contains(&kind)
        };
        let mut inner = self.lock();
        let mut snapshot = Vec::new();
        for (symbol, state) in &inner.symbols {
            if !symbols.is_empty() && !symbols.contains(symbol) {
                continue;
            }
            if wants_kind(pb::MarketEventKind::MarkPrice)
                && let Some((mark, time)) = &state.mark
            {
                snapshot.push(message(symbol, *time, true, Event::MarkPrice(mark.clone())));
            }
            if wants_kind(pb::MarketEventKind::BookTicker) {
                for (book, time) in state.books.values() {
                    snapshot.push(message(
                        symbol,
                        *time,
                        true,
                        Event::BookTicker(book.clone()),
                    ));
                }
            }
            if wants_kind(pb::MarketEventKind::Ticker24h) {
                for (ticker, time) in state.tickers.values() {
                    snapshot.push(message(
                        symbol,
                        *time,
                        true,
                        Event::Ticker24h(ticker.clone()),
                    ));
                }
            }
        }
        let count = u32::try_from(snapshot.len()).unwrap_or(u32::MAX);
        snapshot.push(pb::StreamMarketResponse {
            sequence: 0,
            symbol: String::new(),
            event_time: Some(ts(now_ms())),
            snapshot: true,
            event: Some(Event::SnapshotComplete(common::SnapshotComplete {
                event_count: count,
            })),
        });
        let filter = move |event: &pb::StreamMarketResponse| {
            let Some(kind) = event.event.as_ref().and_then(kind_of) else {
                return true;
            };
            wants_kind(kind) && (symbols.is_empty() || symbols.contains(&event.symbol))
        };
        let stream = inner.fanout.subscribe(snapshot, filter);
        drop(inner);
        let mut sequence = 0u64;
        Box::pin(stream.map(move |item| {
            item.map(|mut event| {
                sequence += 1;
                event.sequence = sequence;
                if let Some(Event::Resync(resync)) = &mut event.event {
                    resync.last_sequence = sequence - 1;
                }
                event
            })
        }))
    }

    /// Ends every subscription (shutdown).
    pub fn close(&self, status: &tonic::Status) {
        self.lock().fanout.close(status);
    }

    pub fn subscriber_count(&self) -> usize {
        self.lock().fanout.len()
    }
}

#[cfg(test)]
mod tests;
