//! Scanner throughput for 500 and 5,000 symbols, each path against its baseline in the same
//! run (the machine is shared, so read the ratios):
//!
//! - `full_scan`: qualify, score and rank every symbol of a shard.
//!   - `decimal_baseline`: fff-core `qualify` plus the former all-Decimal score (copied below
//!     from fff-core's test reference) and a sort: a full scan before `f64` scoring;
//!   - `previous_scan`: `fff_core::scan` as it was on 2026-12-03 (`benches/previous`): the
//!     full report per symbol, the `f64` score with `as_f64` conversions and a Decimal
//!     breakdown, a sort on Decimal totals: the baseline of `core_scan`;
//!   - `core_scan`: `fff_core::scan` (the verdict and the `f64` total, details on demand);
//!   - `part_evaluate`: its evaluations alone, without ranking;
//!   - `on_demand_report`, `on_demand_breakdown`: fff-core `qualify` (every check's value,
//!     threshold and wording) and `Scorer::score` (every component in Decimal) of every
//!     symbol: what `ExplainPair` computes for one symbol, no longer part of a scan;
//!   - `core_incremental`: `IncrementalScan::new`, the same into the shared, chunked ranking
//!     the service keeps;
//!   - `engine_reload`: the service's universe refresh plus a forced cycle: gateway instruments
//!     parsed, every symbol re-evaluated and ranked, a snapshot built;
//!   - `engine_fresh_load`: a new engine loading the universe, the 2026-11-25 `full_scan`.
//! - `update_to_snapshot`: one mark-price update -> the snapshot to publish.
//!   - `resort_baseline`: the engine's former way: re-evaluate the symbol, collect and re-sort
//!     the whole shard, rebuild the publication key;
//!   - `incremental`: `Engine::apply` + `Engine::cycle` (re-evaluate, move one entry, share
//!     the ranking).
//!
//! Run: `cargo bench -p fff-scanner --bench scan`.

mod common;
mod previous;

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use chrono::Utc;
use common::{HISTORY, book, loaded_engine, mark, universe};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fff_core::scan::{Evaluator, IncrementalScan};
use fff_core::score::Scorer;
use fff_core::{
    Direction, MarketSnapshot, PairSelectionParams, Symbol, qualify, score::sample_stddev,
};
use fff_proto::fff::common::v1::Venue;
use fff_proto::fff::gateway::v1 as gw;
use fff_scanner::engine::Engine;
use fff_scanner::evaluation::{EvalParams, Evaluated, rank_order};
use fff_scanner::shard::Shard;
use fff_scanner::state::{Settlement, SymbolState};
use rust_decimal::{Decimal, MathematicalOps};

const SIZES: [usize; 2] = [500, 5_000];

/// fff-core's former all-Decimal `score(..).total` (its test reference in `score.rs`).
fn decimal_total(snapshot: &MarketSnapshot, params: &PairSelectionParams) -> Decimal {
    fn inverse_capped(reference: Decimal, value: Decimal) -> Decimal {
        if reference <= Decimal::ZERO {
            return Decimal::ZERO;
        }
        if value <= reference {
            return Decimal::ONE;
        }
        reference.checked_div(value).unwrap_or(Decimal::ZERO)
    }
    fn volume_component(volume: Decimal, floor: Decimal, reference: Decimal) -> Decimal {
        if floor <= Decimal::ZERO || reference <= floor || volume <= floor {
            return Decimal::ZERO;
        }
        if volume >= reference {
            return Decimal::ONE;
        }
        let span = reference.checked_div(floor).and_then(|r| r.checked_ln());
        let position = volume.checked_div(floor).and_then(|r| r.checked_ln());
        match (position, span) {
            (Some(position), Some(span)) if span > Decimal::ZERO => position
                .checked_div(span)
                .unwrap_or(Decimal::ZERO)
                .clamp(Decimal::ZERO, Decimal::ONE),
            _ => Decimal::ZERO,
        }
    }
    let period = params.rate_period_hours;
    let net_carry = snapshot.net_carry_per_period(period);
    let funding = if params.funding_score_cap <= Decimal::ZERO {
        Decimal::ZERO
    } else {
        net_carry
            .max(Decimal::ZERO)
            .checked_div(params.funding_score_cap)
            .unwrap_or(Decimal::ONE)
            .clamp(Decimal::ZERO, Decimal::ONE)
    };
    let volume = volume_component(
        snapshot.volume_24h_usd,
        params.volume_score_floor_usd,
        params.volume_score_ref_usd,
    );
    let history = snapshot.funding_history_per_period(period);
    let stability = if history.len() >= params.stability_min_samples.max(2) as usize {
        sample_stddev(&history).map_or(Decimal::ZERO, |sigma| {
            inverse_capped(params.stability_ref_stddev, sigma)
        })
    } else {
        Decimal::ZERO
    };
    let spread = snapshot.relative_spread().map_or(Decimal::ZERO, |spread| {
        inverse_capped(params.spread_score_ref, spread)
    });
    let weights = [
        (params.weight_funding, funding),
        (params.weight_volume, volume),
        (params.weight_stability, stability),
        (params.weight_spread, spread),
    ];
    let weight_sum: Decimal = weights.iter().map(|(w, _)| (*w).max(Decimal::ZERO)).sum();
    let weighted: Decimal = weights
        .iter()
        .map(|(w, c)| (*w).max(Decimal::ZERO).saturating_mul(*c))
        .sum();
    weighted
        .checked_div(weight_sum)
        .unwrap_or(Decimal::ZERO)
        .min(Decimal::ONE)
}

/// A full scan as it was with Decimal scoring: qualify, score, sort.
fn decimal_scan(
    snapshots: &[MarketSnapshot],
    params: &PairSelectionParams,
) -> Vec<(bool, Decimal, Symbol)> {
    let mut ranked: Vec<(bool, Decimal, Symbol)> = snapshots
        .iter()
        .map(|s| {
            let qualification = qualify(s, params);
            (
                qualification.passed,
                decimal_total(s, params),
                s.symbol.clone(),
            )
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| if a.0 { b.1.cmp(&a.1) } else { Ordering::Equal })
            .then_with(|| a.2.cmp(&b.2))
    });
    ranked
}

/// The engine before `IncrementalScan`: per update, re-evaluate the symbol, then collect and
/// sort every cached evaluation and rebuild the publication key.
struct ResortBaseline {
    params: EvalParams,
    states: HashMap<String, SymbolState>,
    evaluated: HashMap<String, Arc<Evaluated>>,
    published_key: Option<Vec<(Symbol, Option<Direction>)>>,
}

impl ResortBaseline {
    fn new(instruments: &[gw::Instrument]) -> Self {
        let params = EvalParams::default();
        let mut states = HashMap::new();
        for (i, instrument) in instruments.iter().enumerate() {
            let mut state = SymbolState::from_instrument(instrument, HISTORY).expect("valid");
            state
                .apply(&book(&instrument.symbol, Venue::SpotMargin, i))
                .expect("valid book");
            for record in common::history(instrument, i) {
                let time = record.funding_time.expect("time");
                state.record_settled(Settlement {
                    time: chrono::DateTime::from_timestamp(time.seconds, 0).expect("time"),
                    rate: record.funding_rate.parse().expect("rate"),
                    exact: true,
                });
            }
            states.insert(instrument.symbol.clone(), state);
        }
        let evaluated = states
            .iter()
            .map(|(symbol, state)| (symbol.clone(), Arc::new(Evaluated::of(state, &params))))
            .collect();
        Self {
            params,
            states,
            evaluated,
            published_key: None,
        }
    }

    fn update(&mut self, event: &gw::StreamMarketResponse) -> (Vec<Arc<Evaluated>>, bool) {
        let state = self.states.get_mut(&event.symbol).expect("followed");
        state.apply(event).expect("valid event");
        self.evaluated.insert(
            event.symbol.clone(),
            Arc::new(Evaluated::of(state, &self.params)),
        );
        let mut ranked: Vec<Arc<Evaluated>> = self.evaluated.values().cloned().collect();
        ranked.sort_by(|a, b| rank_order(a, b));
        let key: Vec<(Symbol, Option<Direction>)> = ranked
            .iter()
            .take_while(|e| e.qualified())
            .map(|e| (e.symbol().clone(), e.direction()))
            .collect();
        let publish = self.published_key.as_ref() != Some(&key);
        if publish {
            self.published_key = Some(key);
        }
        (ranked, publish)
    }
}

/// 64 symbols, each alternating between two funding rates, so every event changes its symbol
/// and moves it.
fn update_events(instruments: &[gw::Instrument]) -> Vec<gw::StreamMarketResponse> {
    let size = instruments.len();
    (0..128)
        .map(|i| {
            let funding = if i < 64 { "0.0003" } else { "0.0007" };
            mark(&instruments[(i % 64 * 37) % size].symbol, funding)
        })
        .collect()
}

/// The scan and its 2026-12-03 baseline agree on the shard before either is timed: the same
/// order, verdicts and shown scores.
fn assert_same_as_previous(snapshots: &[MarketSnapshot], params: &PairSelectionParams) {
    let ours = fff_core::scan(snapshots, params);
    let theirs = previous::scan(snapshots, params);
    assert_eq!(ours.len(), theirs.len());
    for (evaluation, previous) in ours.iter().zip(&theirs) {
        assert_eq!(evaluation.symbol, previous.score.symbol);
        assert_eq!(evaluation.verdict, previous.qualification.verdict());
        assert_eq!(
            evaluation.score().to_string(),
            previous.score.total.to_string()
        );
    }
}

fn full_scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("full_scan");
    group.sample_size(10);
    let params = PairSelectionParams::default();
    for size in SIZES {
        let instruments = universe(size);
        let mut engine = loaded_engine(&instruments);
        let snapshots: Vec<MarketSnapshot> = instruments
            .iter()
            .map(|i| {
                engine
                    .evaluated(&i.symbol)
                    .expect("followed")
                    .market
                    .clone()
            })
            .collect();
        assert_same_as_previous(&snapshots, &params);
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(BenchmarkId::new("decimal_baseline", size), |b| {
            b.iter(|| black_box(decimal_scan(black_box(&snapshots), &params)));
        });
        group.bench_function(BenchmarkId::new("previous_scan", size), |b| {
            b.iter(|| black_box(previous::scan(black_box(&snapshots), &params)));
        });
        group.bench_function(BenchmarkId::new("core_scan", size), |b| {
            b.iter(|| black_box(fff_core::scan(black_box(&snapshots), &params)));
        });
        // where a scan's time goes: the evaluations without ranking
        group.bench_function(BenchmarkId::new("part_evaluate", size), |b| {
            let evaluator = Evaluator::new(&params);
            b.iter(|| {
                for snapshot in black_box(&snapshots) {
                    black_box(evaluator.evaluate(snapshot));
                }
            });
        });
        // the reports a scan no longer makes, per symbol (ExplainPair makes one)
        group.bench_function(BenchmarkId::new("on_demand_report", size), |b| {
            b.iter(|| {
                for snapshot in black_box(&snapshots) {
                    black_box(qualify(snapshot, &params));
                }
            });
        });
        group.bench_function(BenchmarkId::new("on_demand_breakdown", size), |b| {
            let scorer = Scorer::new(&params);
            b.iter(|| {
                for snapshot in black_box(&snapshots) {
                    black_box(scorer.score(snapshot));
                }
            });
        });
        group.bench_function(BenchmarkId::new("core_incremental", size), |b| {
            b.iter(|| black_box(IncrementalScan::new(black_box(&snapshots), params.clone())));
        });
        group.bench_function(BenchmarkId::new("engine_reload", size), |b| {
            b.iter(|| {
                engine.load_universe(black_box(&instruments));
                black_box(engine.cycle(Utc::now(), true))
            });
        });
        group.bench_function(BenchmarkId::new("engine_fresh_load", size), |b| {
            b.iter(|| {
                let mut engine = Engine::new(EvalParams::default(), Shard::ALL, HISTORY, "bench");
                engine.load_universe(black_box(&instruments));
                black_box(engine.cycle(Utc::now(), true))
            });
        });
    }
    group.finish();
}

fn update_to_snapshot(c: &mut Criterion) {
    let mut group = c.benchmark_group("update_to_snapshot");
    for size in SIZES {
        let instruments = universe(size);
        let events = update_events(&instruments);
        group.throughput(Throughput::Elements(1));

        let mut baseline = ResortBaseline::new(&instruments);
        let mut next = 0usize;
        group.bench_function(BenchmarkId::new("resort_baseline", size), |b| {
            b.iter(|| {
                next = (next + 1) % events.len();
                black_box(baseline.update(black_box(&events[next])))
            });
        });

        let mut engine = loaded_engine(&instruments);
        let mut next = 0usize;
        group.bench_function(BenchmarkId::new("incremental", size), |b| {
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

criterion_group!(benches, full_scan, update_to_snapshot);
criterion_main!(benches);
