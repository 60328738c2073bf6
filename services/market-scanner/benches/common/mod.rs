//! The synthetic shard the scanner benches share: a deterministic universe with funding of
//! both signs, intervals of 1/4/8 h, volumes across the filter threshold, 1 in 7 without
//! margin, a spot book per symbol and 21 settled funding rates each.

use fff_proto::fff::common::v1::{InstrumentStatus, Venue};
use fff_proto::fff::gateway::v1::{self as gw, stream_market_response::Event};
use fff_scanner::engine::Engine;
use fff_scanner::evaluation::EvalParams;
use fff_scanner::shard::Shard;

/// Settled funding rates per symbol (the default `funding_history_len`).
pub const HISTORY: usize = 21;

pub fn universe(size: usize) -> Vec<gw::Instrument> {
    (0..size)
        .map(|i| {
            let funding = format!("{}0.000{:03}", if i % 3 == 0 { "-" } else { "" }, i % 997);
            gw::Instrument {
                symbol: format!("S{i}USDT"),
                status: InstrumentStatus::Trading as i32,
                margin_trading_allowed: i % 7 != 0,
                base_borrowable: true,
                base_borrow_rate_hourly: "0.00000833".to_owned(),
                funding_interval_hours: [1, 4, 8][i % 3],
                last_funding_rate: funding,
                mark_price: "100".to_owned(),
                spot_quote_volume_24h: format!("{}", 50_000_000 + (i % 100) * 10_000_000),
                perp_quote_volume_24h: "2000000000".to_owned(),
                open_interest_usdt: "900000000".to_owned(),
                spot_taker_fee_rate: "0.001".to_owned(),
                perp_taker_fee_rate: "0.0005".to_owned(),
                ..gw::Instrument::default()
            }
        })
        .collect()
}

pub fn book(symbol: &str, venue: Venue, spread_ticks: usize) -> gw::StreamMarketResponse {
    gw::StreamMarketResponse {
        symbol: symbol.to_owned(),
        event: Some(Event::BookTicker(gw::BookTicker {
            venue: venue as i32,
            bid_price: "99.99".to_owned(),
            ask_price: rust_decimal::Decimal::new(99_991 + (spread_ticks % 40) as i64, 3)
                .to_string(),
            ..gw::BookTicker::default()
        })),
        ..gw::StreamMarketResponse::default()
    }
}

pub fn mark(symbol: &str, funding: &str) -> gw::StreamMarketResponse {
    gw::StreamMarketResponse {
        symbol: symbol.to_owned(),
        event: Some(Event::MarkPrice(gw::MarkPriceUpdate {
            mark_price: "100.01".to_owned(),
            funding_rate: funding.to_owned(),
            funding_interval_hours: 8,
            ..gw::MarkPriceUpdate::default()
        })),
        ..gw::StreamMarketResponse::default()
    }
}

/// `HISTORY` settled rates around the instrument's funding, 8 h apart.
pub fn history(instrument: &gw::Instrument, index: usize) -> Vec<gw::FundingRateRecord> {
    let base: rust_decimal::Decimal = instrument.last_funding_rate.parse().expect("rate");
    (0..HISTORY)
        .map(|k| gw::FundingRateRecord {
            symbol: instrument.symbol.clone(),
            funding_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000 + (k as i64) * 28_800,
                nanos: 0,
            }),
            funding_rate: (base + rust_decimal::Decimal::new(((k + index) % 5) as i64 - 2, 5))
                .to_string(),
            mark_price: String::new(),
        })
        .collect()
}

/// An engine over `instruments` with a spot book and settled history for every symbol.
pub fn loaded_engine(instruments: &[gw::Instrument]) -> Engine {
    let mut engine = Engine::new(EvalParams::default(), Shard::ALL, HISTORY, "bench");
    engine.load_universe(instruments);
    for (i, instrument) in instruments.iter().enumerate() {
        engine
            .apply(&book(&instrument.symbol, Venue::SpotMargin, i))
            .expect("valid book");
        engine
            .seed_history(&instrument.symbol, &history(instrument, i))
            .expect("valid history");
    }
    engine
}
