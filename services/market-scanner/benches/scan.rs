//! Evaluation throughput of the scanner engine for 500 and 5,000 symbols.
//!
//! - `full_scan`: load a universe (fff-core qualify + score of every symbol) and rank it, the
//!   work of a universe refresh;
//! - `update_and_rank`: one mark-price update (re-evaluate that symbol) plus a re-rank of the
//!   whole shard, the work done per live event batch.
//!
//! Run: `cargo bench -p fff-scanner --bench scan`.

use std::hint::black_box;

use chrono::Utc;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fff_proto::fff::common::v1::{InstrumentStatus, Venue};
use fff_proto::fff::gateway::v1::{self as gw, stream_market_response::Event};
use fff_scanner::engine::Engine;
use fff_scanner::evaluation::EvalParams;
use fff_scanner::shard::Shard;

/// A deterministic synthetic universe: funding of both signs, volumes across the filters.
fn universe(size: usize) -> Vec<gw::Instrument> {
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

fn book(symbol: &str, venue: Venue, spread_ticks: usize) -> gw::StreamMarketResponse {
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

fn mark(symbol: &str, funding: &str) -> gw::StreamMarketResponse {
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

fn loaded_engine(instruments: &[gw::Instrument]) -> Engine {
    let mut engine = Engine::new(EvalParams::default(), Shard::ALL, 21, "bench");
    engine.load_universe(instruments);
    for (i, instrument) in instruments.iter().enumerate() {
        engine
            .apply(&book(&instrument.symbol, Venue::SpotMargin, i))
            .expect("valid book");
    }
    engine
}

fn scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("full_scan");
    group.sample_size(20);
    for size in [500usize, 5_000] {
        let instruments = universe(size);
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(size),
            &instruments,
            |b, inst| {
                b.iter(|| {
                    let mut engine = Engine::new(EvalParams::default(), Shard::ALL, 21, "bench");
                    engine.load_universe(black_box(inst));
                    black_box(engine.cycle(Utc::now(), true))
                });
            },
        );
    }
    group.finish();

    let mut group = c.benchmark_group("update_and_rank");
    for size in [500usize, 5_000] {
        let instruments = universe(size);
        let mut engine = loaded_engine(&instruments);
        // 64 symbols, each alternating between two funding rates, so every event changes
        // its symbol and forces a re-evaluation and a re-rank
        let events: Vec<gw::StreamMarketResponse> = (0..128)
            .map(|i| {
                let funding = if i < 64 { "0.0003" } else { "0.0007" };
                mark(&instruments[(i % 64 * 37) % size].symbol, funding)
            })
            .collect();
        let mut next = 0usize;
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| {
                next = (next + 1) % events.len();
                engine.apply(black_box(&events[next])).expect("valid event");
                black_box(
                    engine
                        .cycle(Utc::now(), false)
                        .expect("the event changed the state"),
                )
            });
        });
    }
    group.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
