//! Per-symbol market state, fed by the gateway's universe and market stream, and turned into
//! the [`MarketSnapshot`] that fff-core qualifies and scores.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use fff_core::{FundingInterval, MarketSnapshot, Symbol};
use fff_proto::FieldError;
use fff_proto::convert::{
    optional_timestamp, parse_decimal, parse_funding_interval, parse_optional_decimal, parse_symbol,
};
use fff_proto::fff::common::v1::{InstrumentStatus, Venue};
use fff_proto::fff::gateway::v1::{self as gw, stream_market_response::Event};
use rust_decimal::Decimal;

/// Best bid and ask of one venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Book {
    pub bid: Decimal,
    pub ask: Decimal,
}

/// Everything the scanner knows about one symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolState {
    pub symbol: Symbol,
    pub funding_rate: Decimal,
    pub funding_interval: FundingInterval,
    pub next_funding_time: Option<DateTime<Utc>>,
    pub mark_price: Decimal,
    pub index_price: Decimal,
    pub spot_quote_volume: Decimal,
    pub perp_quote_volume: Decimal,
    /// Open interest in USDT as last reported; used while the contract count is unknown.
    pub open_interest_usd: Decimal,
    /// Open interest in contracts; valued at the current mark price when known.
    pub open_interest_contracts: Option<Decimal>,
    /// Margin trading allowed, base asset borrowable, and its borrow rate known.
    pub margin_enabled: bool,
    pub borrow_rate_hourly: Decimal,
    pub spot_book: Option<Book>,
    pub perp_book: Option<Book>,
    pub spot_taker_fee: Decimal,
    pub perp_taker_fee: Decimal,
    /// Settled funding rates by settlement time, oldest first, at most `history_len`.
    pub funding_history: VecDeque<Settlement>,
    history_len: usize,
    /// Newest exchange event time applied; the age of this symbol's data.
    pub updated_at: Option<DateTime<Utc>>,
}

/// One settled funding rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    pub time: DateTime<Utc>,
    pub rate: Decimal,
    /// Reported by the exchange's history (exact), not inferred from the stream's estimate.
    pub exact: bool,
}

/// What a market event did to the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A field changed: re-evaluate.
    Changed,
    /// Nothing relevant changed.
    Unchanged,
}

impl SymbolState {
    /// State from a gateway instrument; fields the gateway leaves empty count as zero (they
    /// then fail the filters that need them rather than passing silently).
    pub fn from_instrument(
        instrument: &gw::Instrument,
        history_len: usize,
    ) -> Result<Self, FieldError> {
        let symbol = parse_symbol("symbol", &instrument.symbol)?;
        let mut state = Self {
            symbol,
            funding_rate: Decimal::ZERO,
            funding_interval: FundingInterval::EIGHT_HOURS,
            next_funding_time: None,
            mark_price: Decimal::ZERO,
            index_price: Decimal::ZERO,
            spot_quote_volume: Decimal::ZERO,
            perp_quote_volume: Decimal::ZERO,
            open_interest_usd: Decimal::ZERO,
            open_interest_contracts: None,
            margin_enabled: false,
            borrow_rate_hourly: Decimal::ZERO,
            spot_book: None,
            perp_book: None,
            spot_taker_fee: Decimal::ZERO,
            perp_taker_fee: Decimal::ZERO,
            funding_history: VecDeque::new(),
            history_len: history_len.max(1),
            updated_at: None,
        };
        state.refresh(instrument)?;
        Ok(state)
    }

    /// Applies a newer universe entry: account and listing fields always, market fields only
    /// when the instrument is not older than what the stream already delivered.
    pub fn refresh(&mut self, instrument: &gw::Instrument) -> Result<(), FieldError> {
        let zero = |field: &str, value: &str| -> Result<Decimal, FieldError> {
            Ok(parse_optional_decimal(field, value)?.unwrap_or_default())
        };
        let borrow = parse_optional_decimal(
            "base_borrow_rate_hourly",
            &instrument.base_borrow_rate_hourly,
        )?;
        self.margin_enabled =
            instrument.margin_trading_allowed && instrument.base_borrowable && borrow.is_some();
        self.borrow_rate_hourly = borrow.unwrap_or_default();
        self.spot_taker_fee = zero("spot_taker_fee_rate", &instrument.spot_taker_fee_rate)?;
        self.perp_taker_fee = zero("perp_taker_fee_rate", &instrument.perp_taker_fee_rate)?;
        if instrument.funding_interval_hours > 0 {
            self.funding_interval = parse_funding_interval(
                "funding_interval_hours",
                instrument.funding_interval_hours,
            )?;
        }
        let updated_at = optional_timestamp("updated_at", instrument.updated_at.as_ref())?;
        if self.updated_at.is_some() && updated_at < self.updated_at {
            return Ok(());
        }
        self.funding_rate = zero("last_funding_rate", &instrument.last_funding_rate)?;
        self.next_funding_time =
            optional_timestamp("next_funding_time", instrument.next_funding_time.as_ref())?;
        self.mark_price = zero("mark_price", &instrument.mark_price)?;
        self.index_price = zero("index_price", &instrument.index_price)?;
        self.spot_quote_volume = zero("spot_quote_volume_24h", &instrument.spot_quote_volume_24h)?;
        self.perp_quote_volume = zero("perp_quote_volume_24h", &instrument.perp_quote_volume_24h)?;
        self.open_interest_usd = zero("open_interest_usdt", &instrument.open_interest_usdt)?;
        self.open_interest_contracts = parse_optional_decimal(
            "open_interest_contracts",
            &instrument.open_interest_contracts,
        )?;
        self.updated_at = updated_at.or(self.updated_at);
        Ok(())
    }

    /// Applies one market event about this symbol.
    pub fn apply(&mut self, event: &gw::StreamMarketResponse) -> Result<Applied, FieldError> {
        let at = optional_timestamp("event_time", event.event_time.as_ref())?;
        let before = self.clone();
        match &event.event {
            Some(Event::MarkPrice(mark)) => self.apply_mark(mark, event.snapshot)?,
            Some(Event::BookTicker(book)) => {
                let parsed = Book {
                    bid: parse_decimal("book_ticker.bid_price", &book.bid_price)?,
                    ask: parse_decimal("book_ticker.ask_price", &book.ask_price)?,
                };
                match Venue::try_from(book.venue) {
                    Ok(Venue::SpotMargin) => self.spot_book = Some(parsed),
                    Ok(Venue::UsdmPerp) => self.perp_book = Some(parsed),
                    _ => return Err(FieldError::invalid("book_ticker.venue", "unknown venue")),
                }
            }
            Some(Event::Ticker24h(ticker)) => {
                let volume = parse_decimal("ticker_24h.quote_volume", &ticker.quote_volume)?;
                match Venue::try_from(ticker.venue) {
                    Ok(Venue::SpotMargin) => self.spot_quote_volume = volume,
                    Ok(Venue::UsdmPerp) => {
                        self.perp_quote_volume = volume;
                        let contracts = parse_optional_decimal(
                            "ticker_24h.open_interest_contracts",
                            &ticker.open_interest_contracts,
                        )?;
                        if contracts.is_some() {
                            self.open_interest_contracts = contracts;
                        }
                    }
                    _ => return Err(FieldError::invalid("ticker_24h.venue", "unknown venue")),
                }
            }
            Some(Event::SnapshotComplete(_) | Event::Resync(_)) | None => {
                return Ok(Applied::Unchanged);
            }
        }
        if at.is_some() && at > self.updated_at {
            self.updated_at = at;
        }
        let changed = before.funding_rate != self.funding_rate
            || before.funding_interval != self.funding_interval
            || before.spot_book != self.spot_book
            || before.perp_book != self.perp_book
            || before.spot_quote_volume != self.spot_quote_volume
            || before.perp_quote_volume != self.perp_quote_volume
            || before.open_interest_usd != self.open_interest_usd
            || before.open_interest_contracts != self.open_interest_contracts
            || before.funding_history != self.funding_history
            || before.mark_price != self.mark_price
            || before.next_funding_time != self.next_funding_time;
        Ok(if changed {
            Applied::Changed
        } else {
            Applied::Unchanged
        })
    }

    fn apply_mark(&mut self, mark: &gw::MarkPriceUpdate, snapshot: bool) -> Result<(), FieldError> {
        let rate = parse_decimal("mark_price.funding_rate", &mark.funding_rate)?;
        let next = optional_timestamp(
            "mark_price.next_funding_time",
            mark.next_funding_time.as_ref(),
        )?;
        // The estimate in force when the settlement time passes is what settled. Snapshot
        // events after a reconnect may hide several settlements, so they record none.
        if !snapshot
            && let (Some(previous), Some(next)) = (self.next_funding_time, next)
            && next > previous
        {
            self.record_settled(Settlement {
                time: previous,
                rate: self.funding_rate,
                exact: false,
            });
        }
        self.funding_rate = rate;
        self.next_funding_time = next.or(self.next_funding_time);
        self.mark_price = parse_decimal("mark_price.mark_price", &mark.mark_price)?;
        if let Some(index) = parse_optional_decimal("mark_price.index_price", &mark.index_price)? {
            self.index_price = index;
        }
        if mark.funding_interval_hours > 0 {
            self.funding_interval = parse_funding_interval(
                "mark_price.funding_interval_hours",
                mark.funding_interval_hours,
            )?;
        }
        Ok(())
    }

    /// Adds a settled funding rate in time order, keeping the newest `history_len`. An exact
    /// (exchange history) rate replaces an inferred one for the same settlement; an inferred one
    /// never replaces anything.
    pub fn record_settled(&mut self, settlement: Settlement) {
        match self
            .funding_history
            .binary_search_by(|s| s.time.cmp(&settlement.time))
        {
            Ok(i) => {
                if settlement.exact {
                    self.funding_history[i] = settlement;
                }
            }
            Err(i) => self.funding_history.insert(i, settlement),
        }
        while self.funding_history.len() > self.history_len {
            self.funding_history.pop_front();
        }
    }

    /// The book used for the spread filter: the wider (relative spread) of the venue books
    /// known, because both legs must be traded. No book at all yields an invalid (0/0) book,
    /// which fails the spread filter.
    pub fn spread_book(&self) -> Book {
        let spread = |b: &Book| fff_core::market::relative_spread(b.bid, b.ask);
        match (self.spot_book, self.perp_book) {
            (Some(spot), Some(perp)) => match (spread(&spot), spread(&perp)) {
                (Some(s), Some(p)) if p > s => perp,
                (Some(_), None) => perp,
                _ => spot,
            },
            (Some(book), None) | (None, Some(book)) => book,
            (None, None) => Book {
                bid: Decimal::ZERO,
                ask: Decimal::ZERO,
            },
        }
    }

    /// Open interest in USDT: contracts at the current mark price when both are known.
    pub fn open_interest_value(&self) -> Decimal {
        match self.open_interest_contracts {
            Some(contracts) if self.mark_price > Decimal::ZERO => {
                contracts.saturating_mul(self.mark_price)
            }
            _ => self.open_interest_usd,
        }
    }

    /// Spot mid price, if the spot book is known and sane.
    pub fn spot_mid(&self) -> Option<Decimal> {
        let book = self.spot_book?;
        (book.bid > Decimal::ZERO && book.ask >= book.bid)
            .then(|| book.bid.checked_add(book.ask).map(|s| s / Decimal::TWO))
            .flatten()
    }

    /// The fff-core view of this symbol.
    pub fn market_snapshot(&self) -> MarketSnapshot {
        let book = self.spread_book();
        MarketSnapshot {
            symbol: self.symbol.clone(),
            funding_rate: self.funding_rate,
            funding_interval: self.funding_interval,
            // both legs trade, so the thinner venue is the one that matters
            volume_24h_usd: self.spot_quote_volume.min(self.perp_quote_volume),
            best_bid: book.bid,
            best_ask: book.ask,
            open_interest_usd: self.open_interest_value(),
            margin_enabled: self.margin_enabled,
            borrow_rate_hourly: self.borrow_rate_hourly,
            funding_history: self.funding_history.iter().map(|s| s.rate).collect(),
        }
    }
}

/// Whether a universe entry is tradable on both venues (the gateway's default filter, checked
/// again because `include_non_trading` may be set by another client's configuration).
pub fn is_trading(instrument: &gw::Instrument) -> bool {
    instrument.status == InstrumentStatus::Trading as i32
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// An instrument like the simulator's SOLUSDT: negative funding covered by borrow.
    pub(crate) fn instrument(symbol: &str, funding: &str) -> gw::Instrument {
        gw::Instrument {
            symbol: symbol.to_owned(),
            base_asset: symbol.trim_end_matches("USDT").to_owned(),
            quote_asset: "USDT".to_owned(),
            status: InstrumentStatus::Trading as i32,
            spot_status: InstrumentStatus::Trading as i32,
            perp_status: InstrumentStatus::Trading as i32,
            margin_trading_allowed: true,
            margin_buy_allowed: true,
            margin_sell_allowed: true,
            base_borrowable: true,
            base_borrow_rate_hourly: "0.00000833".to_owned(),
            funding_interval_hours: 4,
            last_funding_rate: funding.to_owned(),
            mark_price: "180".to_owned(),
            index_price: "180".to_owned(),
            spot_quote_volume_24h: "400000000".to_owned(),
            perp_quote_volume_24h: "2500000000".to_owned(),
            open_interest_usdt: "1620000000".to_owned(),
            spot_taker_fee_rate: "0.001".to_owned(),
            perp_taker_fee_rate: "0.0005".to_owned(),
            next_funding_time: Some(prost_types::Timestamp {
                seconds: 1_800_000_000,
                nanos: 0,
            }),
            ..gw::Instrument::default()
        }
    }

    pub(crate) fn book(
        symbol: &str,
        venue: Venue,
        bid: &str,
        ask: &str,
    ) -> gw::StreamMarketResponse {
        gw::StreamMarketResponse {
            symbol: symbol.to_owned(),
            event: Some(Event::BookTicker(gw::BookTicker {
                venue: venue as i32,
                bid_price: bid.to_owned(),
                ask_price: ask.to_owned(),
                ..gw::BookTicker::default()
            })),
            ..gw::StreamMarketResponse::default()
        }
    }

    pub(crate) fn mark(
        symbol: &str,
        funding: &str,
        next_funding_secs: i64,
    ) -> gw::StreamMarketResponse {
        gw::StreamMarketResponse {
            symbol: symbol.to_owned(),
            event: Some(Event::MarkPrice(gw::MarkPriceUpdate {
                mark_price: "180".to_owned(),
                index_price: "180".to_owned(),
                funding_rate: funding.to_owned(),
                next_funding_time: Some(prost_types::Timestamp {
                    seconds: next_funding_secs,
                    nanos: 0,
                }),
                funding_interval_hours: 4,
                ..gw::MarkPriceUpdate::default()
            })),
            ..gw::StreamMarketResponse::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn instrument_fields_reach_the_core_snapshot() {
        let mut state =
            SymbolState::from_instrument(&instrument("SOLUSDT", "-0.00012"), 3).unwrap();
        state
            .apply(&book("SOLUSDT", Venue::SpotMargin, "179.99", "180.01"))
            .unwrap();
        state
            .apply(&book("SOLUSDT", Venue::UsdmPerp, "179.995", "180.005"))
            .unwrap();
        let snapshot = state.market_snapshot();
        assert_eq!(snapshot.funding_rate, dec!(-0.00012));
        assert_eq!(snapshot.funding_interval, FundingInterval::FOUR_HOURS);
        assert_eq!(
            snapshot.volume_24h_usd,
            dec!(400000000),
            "lower of spot and perp"
        );
        assert_eq!(snapshot.best_bid, dec!(179.99), "the wider (spot) book");
        assert!(snapshot.margin_enabled);
        assert_eq!(snapshot.borrow_rate_hourly, dec!(0.00000833));
    }

    #[test]
    fn open_interest_follows_the_mark_price() {
        let mut raw = instrument("SOLUSDT", "-0.00012");
        raw.open_interest_contracts = "9000000".into();
        let mut state = SymbolState::from_instrument(&raw, 3).unwrap();
        assert_eq!(state.market_snapshot().open_interest_usd, dec!(1620000000));
        let mut moved = mark("SOLUSDT", "-0.00012", 1_800_000_000);
        if let Some(Event::MarkPrice(m)) = &mut moved.event {
            m.mark_price = "200".into();
        }
        state.apply(&moved).unwrap();
        assert_eq!(state.market_snapshot().open_interest_usd, dec!(1800000000));
        // without a contract count the reported usd value stands
        raw.open_interest_contracts = String::new();
        let state = SymbolState::from_instrument(&raw, 3).unwrap();
        assert_eq!(state.market_snapshot().open_interest_usd, dec!(1620000000));
    }

    #[test]
    fn unknown_borrow_rate_disables_margin() {
        let mut raw = instrument("ORCAUSDT", "-0.0005");
        raw.base_borrow_rate_hourly = String::new();
        let state = SymbolState::from_instrument(&raw, 3).unwrap();
        assert!(!state.market_snapshot().margin_enabled);
    }

    #[test]
    fn settlement_is_recorded_when_the_funding_time_advances() {
        let mut state =
            SymbolState::from_instrument(&instrument("SOLUSDT", "-0.00012"), 2).unwrap();
        // same settlement window: no history
        state
            .apply(&mark("SOLUSDT", "-0.0002", 1_800_000_000))
            .unwrap();
        assert!(state.funding_history.is_empty());
        // the window rolled: the estimate in force (-0.0002) settled
        state
            .apply(&mark("SOLUSDT", "-0.0001", 1_800_014_400))
            .unwrap();
        state
            .apply(&mark("SOLUSDT", "-0.0003", 1_800_028_800))
            .unwrap();
        state
            .apply(&mark("SOLUSDT", "-0.0003", 1_800_043_200))
            .unwrap();
        let rates: Vec<Decimal> = state.funding_history.iter().map(|s| s.rate).collect();
        assert_eq!(
            rates,
            [dec!(-0.0001), dec!(-0.0003)],
            "bounded to the last two"
        );
        assert_eq!(
            state.funding_history[1].time.timestamp(),
            1_800_028_800,
            "settled at the previous funding time"
        );
    }

    #[test]
    fn exchange_history_merges_by_settlement_time() {
        let mut state =
            SymbolState::from_instrument(&instrument("SOLUSDT", "-0.00012"), 3).unwrap();
        let at = |secs| DateTime::from_timestamp(secs, 0).unwrap();
        let inferred = |secs, rate| Settlement {
            time: at(secs),
            rate,
            exact: false,
        };
        let exact = |secs, rate| Settlement {
            time: at(secs),
            rate,
            exact: true,
        };
        state.record_settled(inferred(300, dec!(0.3)));
        for (secs, rate) in [(100, dec!(0.1)), (200, dec!(0.2)), (300, dec!(0.31))] {
            state.record_settled(exact(secs, rate));
        }
        state.record_settled(inferred(300, dec!(0.9)));
        let rates: Vec<Decimal> = state.funding_history.iter().map(|s| s.rate).collect();
        assert_eq!(rates, [dec!(0.1), dec!(0.2), dec!(0.31)]);
        state.record_settled(exact(50, dec!(0.05)));
        assert_eq!(state.funding_history.len(), 3, "the oldest falls off");
        assert_eq!(state.funding_history[0].rate, dec!(0.1));
    }

    #[test]
    fn snapshot_events_record_no_settlement() {
        let mut state =
            SymbolState::from_instrument(&instrument("SOLUSDT", "-0.00012"), 5).unwrap();
        let mut event = mark("SOLUSDT", "-0.0002", 1_800_014_400);
        event.snapshot = true;
        assert_eq!(state.apply(&event).unwrap(), Applied::Changed);
        assert!(state.funding_history.is_empty());
    }

    #[test]
    fn malformed_event_names_the_field() {
        let mut state =
            SymbolState::from_instrument(&instrument("SOLUSDT", "-0.00012"), 5).unwrap();
        let err = state.apply(&mark("SOLUSDT", "1e-4", 1)).unwrap_err();
        assert_eq!(err.field(), "mark_price.funding_rate");
        let err = state
            .apply(&book("SOLUSDT", Venue::Unspecified, "1", "2"))
            .unwrap_err();
        assert_eq!(err.field(), "book_ticker.venue");
    }

    #[test]
    fn repeated_event_is_unchanged() {
        let mut state =
            SymbolState::from_instrument(&instrument("SOLUSDT", "-0.00012"), 5).unwrap();
        let event = book("SOLUSDT", Venue::SpotMargin, "179.99", "180.01");
        assert_eq!(state.apply(&event).unwrap(), Applied::Changed);
        assert_eq!(state.apply(&event).unwrap(), Applied::Unchanged);
    }
}
