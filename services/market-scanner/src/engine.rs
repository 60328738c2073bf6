//! The scanner's state machine: applies universe and market events, re-evaluates the touched
//! symbol on every event, and produces ranked snapshots with change detection. Synchronous and
//! I/O-free; the feed and the gRPC handlers live around it.
//!
//! The ranking is kept by fff-core's [`IncrementalScan`]: an event re-evaluates its symbol and
//! moves that one entry (binary searches, one or two chunks copied), and a snapshot shares the
//! ranking instead of copying or re-sorting it. Whether the qualified order changed is decided
//! from the moves themselves, so a cycle costs neither a sort nor a pass over the shard; only a
//! universe reload (or a batch with several such moves) compares the qualified prefix with the
//! last one.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use fff_core::scan::{Evaluator, IncrementalScan, Moved, Ranking};
use fff_proto::FieldError;
use fff_proto::convert::{parse_decimal, required_timestamp};
use fff_proto::fff::gateway::v1 as gw;

use crate::evaluation::{EvalParams, Evaluated};
use crate::shard::Shard;
use crate::snapshot::Snapshot;
use crate::state::{Applied, Settlement, SymbolState, is_trading};

/// What changed when a universe was loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UniverseChange {
    /// Symbols that joined this shard.
    pub added: Vec<String>,
    /// Symbols that left (delisted, halted, or no longer in the universe).
    pub removed: Vec<String>,
    /// Instruments skipped because a field was malformed, with the reason.
    pub rejected: Vec<(String, String)>,
}

impl UniverseChange {
    /// Whether the set of symbols to subscribe to changed.
    pub fn membership_changed(&self) -> bool {
        !self.added.is_empty() || !self.removed.is_empty()
    }
}

/// Result of one scan cycle.
#[derive(Debug, Clone)]
pub struct Cycle {
    pub snapshot: Arc<Snapshot>,
    /// The ranking or the qualifying set changed (or a publication was forced): send it to
    /// stream subscribers.
    pub publish: bool,
}

/// Per-shard scanner state.
#[derive(Debug)]
pub struct Engine {
    params: Arc<EvalParams>,
    shard: Shard,
    instance_id: Arc<str>,
    history_len: usize,
    states: HashMap<String, SymbolState>,
    /// Every symbol's evaluation, ranked.
    scan: IncrementalScan<Evaluated>,
    /// How many ranked symbols have each market-data time: the first key is the snapshot's
    /// `data_as_of`.
    data_times: BTreeMap<DateTime<Utc>, usize>,
    universe_loaded: bool,
    sequence: u64,
    /// The ranking of the last cycle. After every cycle its qualified order (symbols and
    /// directions, the publication key) is the one last published.
    last: Option<Ranking<Evaluated>>,
    /// Moves since the last cycle that each changed the qualified order.
    key_moves: usize,
    /// The whole ranking was rebuilt since the last cycle.
    rebuilt: bool,
    dirty: bool,
}

impl Engine {
    pub fn new(params: EvalParams, shard: Shard, history_len: usize, instance_id: &str) -> Self {
        let scan = IncrementalScan::from_entries(params.selection.clone(), []);
        Self {
            params: Arc::new(params),
            shard,
            instance_id: Arc::from(instance_id),
            history_len: history_len.max(1),
            states: HashMap::new(),
            scan,
            data_times: BTreeMap::new(),
            universe_loaded: false,
            sequence: 0,
            last: None,
            key_moves: 0,
            rebuilt: false,
            dirty: false,
        }
    }

    pub fn shard(&self) -> Shard {
        self.shard
    }

    pub fn universe_loaded(&self) -> bool {
        self.universe_loaded
    }

    /// Symbols this shard follows, sorted.
    pub fn symbols(&self) -> Vec<String> {
        let mut symbols: Vec<String> = self.states.keys().cloned().collect();
        symbols.sort();
        symbols
    }

    /// The current evaluation of `symbol`, if this shard follows it.
    pub fn evaluated(&self, symbol: &str) -> Option<&Arc<Evaluated>> {
        self.scan.get(&self.states.get(symbol)?.symbol)
    }

    /// Replaces the universe: keeps this shard's trading instruments, refreshes known symbols
    /// (their history and books survive), drops the rest, and re-evaluates everything.
    pub fn load_universe(&mut self, instruments: &[gw::Instrument]) -> UniverseChange {
        let mut change = UniverseChange::default();
        let mut next: HashMap<String, SymbolState> = HashMap::with_capacity(instruments.len());
        for instrument in instruments {
            if !is_trading(instrument) || !self.shard.owns(&instrument.symbol) {
                continue;
            }
            let result = match self.states.remove(&instrument.symbol) {
                Some(mut state) => state.refresh(instrument).map(|()| state),
                None => SymbolState::from_instrument(instrument, self.history_len).inspect(|_| {
                    change.added.push(instrument.symbol.clone());
                }),
            };
            match result {
                Ok(state) => {
                    next.insert(instrument.symbol.clone(), state);
                }
                Err(error) => change
                    .rejected
                    .push((instrument.symbol.clone(), error.to_string())),
            }
        }
        change.removed = self.states.drain().map(|(symbol, _)| symbol).collect();
        change.removed.sort();
        change.added.sort();
        self.states = next;
        let evaluator = Evaluator::new(&self.params.selection);
        let evaluated: Vec<Evaluated> = self
            .states
            .values()
            .map(|state| Evaluated::with(state, &evaluator))
            .collect();
        self.data_times.clear();
        for time in evaluated.iter().filter_map(|e| e.facts.updated_at) {
            *self.data_times.entry(time).or_default() += 1;
        }
        self.scan = IncrementalScan::from_entries(self.params.selection.clone(), evaluated);
        self.universe_loaded = true;
        self.rebuilt = true;
        self.dirty = true;
        change
    }

    /// Applies one market event and re-evaluates its symbol at once. Events about symbols
    /// this shard does not follow are ignored.
    pub fn apply(&mut self, event: &gw::StreamMarketResponse) -> Result<Applied, FieldError> {
        let Some(state) = self.states.get_mut(&event.symbol) else {
            return Ok(Applied::Unchanged);
        };
        let applied = state.apply(event)?;
        if applied == Applied::Changed {
            let _span = tracing::debug_span!("scanner.evaluate", symbol = %event.symbol).entered();
            let evaluated = Evaluated::of(state, &self.params);
            self.rank(evaluated);
        }
        Ok(applied)
    }

    /// Merges settled funding rates from the exchange's history (ListFundingRates) into a
    /// symbol's stability input and re-evaluates it.
    pub fn seed_history(
        &mut self,
        symbol: &str,
        records: &[gw::FundingRateRecord],
    ) -> Result<Applied, FieldError> {
        let Some(state) = self.states.get_mut(symbol) else {
            return Ok(Applied::Unchanged);
        };
        let mut settlements = Vec::with_capacity(records.len());
        for (i, record) in records.iter().enumerate() {
            let field = |name: &str| format!("records[{i}].{name}");
            settlements.push(Settlement {
                time: required_timestamp(&field("funding_time"), record.funding_time.as_ref())?,
                rate: parse_decimal(&field("funding_rate"), &record.funding_rate)?,
                exact: true,
            });
        }
        let before = state.funding_history.clone();
        for settlement in settlements {
            state.record_settled(settlement);
        }
        if state.funding_history == before {
            return Ok(Applied::Unchanged);
        }
        let evaluated = Evaluated::of(state, &self.params);
        self.rank(evaluated);
        Ok(Applied::Changed)
    }

    /// Replaces a symbol's evaluation and moves it to its rank; notes whether the move
    /// changed the qualified order (symbols and directions).
    fn rank(&mut self, evaluated: Evaluated) {
        let Moved {
            entry,
            position,
            previous,
        } = self.scan.insert(evaluated);
        let key_changed = match &previous {
            None => entry.qualified(),
            Some((from, old)) => {
                old.qualified() != entry.qualified()
                    || (entry.qualified()
                        && (*from != position || old.direction() != entry.direction()))
            }
        };
        if key_changed {
            self.key_moves += 1;
        }
        if let Some(old) = previous.as_ref().and_then(|(_, old)| old.facts.updated_at)
            && let Some(count) = self.data_times.get_mut(&old)
        {
            *count -= 1;
            if *count == 0 {
                self.data_times.remove(&old);
            }
        }
        if let Some(time) = entry.facts.updated_at {
            *self.data_times.entry(time).or_default() += 1;
        }
        self.dirty = true;
    }

    /// Whether the qualified order differs from the last cycle's (and so from the last
    /// publication's). Exact: with no order-changing move since, it is the same; with exactly
    /// one, it differs (the others kept it); otherwise the prefixes are compared.
    fn key_changed(&self) -> bool {
        let Some(last) = &self.last else {
            return true;
        };
        if !self.rebuilt && self.key_moves <= 1 {
            return self.key_moves == 1;
        }
        let current = self.scan.ranking();
        let qualified = self.scan.qualified_count();
        let last_qualified = last.iter().take_while(|e| e.qualified()).count();
        qualified != last_qualified
            || !current
                .iter()
                .zip(last.iter())
                .take(qualified)
                .all(|(a, b)| {
                    Arc::ptr_eq(a, b)
                        || (a.symbol() == b.symbol() && a.direction() == b.direction())
                })
    }

    /// Publishes the current ranking as a new snapshot if anything changed since the last
    /// cycle (or `force`, for the periodic publication). `None` when there is nothing new or
    /// the universe has not been loaded yet.
    pub fn cycle(&mut self, now: DateTime<Utc>, force: bool) -> Option<Cycle> {
        if !self.universe_loaded || !(self.dirty || force) {
            return None;
        }
        let publish = self.key_changed() || force;
        let ranked = self.scan.ranking();
        self.last = Some(ranked.clone());
        self.key_moves = 0;
        self.rebuilt = false;
        self.sequence += 1;
        self.dirty = false;
        // the root of a decision's trace: consumers parent their spans on it
        let span = tracing::info_span!(
            parent: None,
            "scanner.snapshot",
            shard = self.shard.index(),
            sequence = self.sequence,
            publish,
        );
        let traceparent = span.in_scope(fff_runtime::telemetry::current_traceparent);
        let snapshot = Snapshot {
            sequence: self.sequence,
            instance_id: self.instance_id.clone(),
            shard: self.shard,
            computed_at: now,
            qualified_count: self.scan.qualified_count(),
            data_as_of: self.data_times.keys().next().copied(),
            ranked,
            params: self.params.clone(),
            traceparent,
        };
        if let Some(as_of) = snapshot.data_as_of() {
            // how far the oldest market data used lags the scan: a stalled stream shows here
            fff_runtime::metrics::gauge_set(
                "fff_scanner_data_lag_seconds",
                "Scan time minus the oldest market-data time used, per shard.",
                &[("shard", &self.shard.index().to_string())],
                (now - as_of).num_milliseconds() as f64 / 1000.0,
            );
        }
        Some(Cycle {
            snapshot: Arc::new(snapshot),
            publish,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::fixtures::{book, instrument, mark};
    use fff_proto::fff::common::v1::Venue;

    fn engine() -> Engine {
        Engine::new(EvalParams::default(), Shard::ALL, 5, "test")
    }

    /// Funding strong enough to repay a round trip without settled history (net-of-cost
    /// admission), except BTC's.
    fn universe() -> Vec<gw::Instrument> {
        vec![
            instrument("SOLUSDT", "-0.0005"),
            instrument("XRPUSDT", "0.0008"),
            instrument("BTCUSDT", "0.00001"),
        ]
    }

    fn with_books(engine: &mut Engine) {
        for symbol in engine.symbols() {
            engine
                .apply(&book(&symbol, Venue::SpotMargin, "179.999", "180.001"))
                .unwrap();
        }
    }

    fn qualified(cycle: &Cycle) -> Vec<String> {
        cycle
            .snapshot
            .ranked
            .iter()
            .filter(|e| e.qualified())
            .map(|e| e.symbol().to_string())
            .collect()
    }

    #[test]
    fn nothing_before_the_universe() {
        let mut engine = engine();
        assert!(engine.cycle(Utc::now(), true).is_none());
    }

    #[test]
    fn publishes_only_when_the_ranking_changes_unless_forced() {
        let mut engine = engine();
        engine.load_universe(&universe());
        with_books(&mut engine);
        let first = engine.cycle(Utc::now(), false).unwrap();
        assert!(first.publish);
        assert_eq!(first.snapshot.sequence, 1);
        // XRP's 0.16 % per 8 h (capped score) beats SOL's 0.1 % minus borrow
        assert_eq!(qualified(&first), ["XRPUSDT", "SOLUSDT"]);
        assert!(engine.cycle(Utc::now(), false).is_none(), "nothing changed");

        // a book move that keeps the ranking: new cycle, no publication
        engine
            .apply(&book("SOLUSDT", Venue::SpotMargin, "179.998", "180.002"))
            .unwrap();
        let quiet = engine.cycle(Utc::now(), false).unwrap();
        assert!(!quiet.publish);
        assert_eq!(quiet.snapshot.sequence, 2);
        assert!(engine.cycle(Utc::now(), true).unwrap().publish, "forced");

        // BTC's funding jumps: it qualifies and ranks first
        let mut event = mark("BTCUSDT", "0.002", 1_800_000_000);
        event.snapshot = false;
        engine.apply(&event).unwrap();
        let changed = engine.cycle(Utc::now(), false).unwrap();
        assert!(changed.publish);
        assert_eq!(qualified(&changed)[0], "BTCUSDT");
    }

    #[test]
    fn universe_reload_keeps_history_and_reports_membership() {
        let mut engine = engine();
        let change = engine.load_universe(&universe());
        assert_eq!(change.added, ["BTCUSDT", "SOLUSDT", "XRPUSDT"]);
        engine
            .apply(&mark("SOLUSDT", "-0.0002", 1_800_000_000))
            .unwrap();
        engine
            .apply(&mark("SOLUSDT", "-0.0002", 1_800_014_400))
            .unwrap();
        let mut smaller = universe();
        smaller.retain(|i| i.symbol != "BTCUSDT");
        let mut bad = instrument("BADUSDT", "x");
        bad.last_funding_rate = "one".to_owned();
        smaller.push(bad);
        let change = engine.load_universe(&smaller);
        assert_eq!(change.removed, ["BTCUSDT"]);
        assert_eq!(change.rejected.len(), 1);
        assert!(change.membership_changed());
        assert_eq!(engine.symbols(), ["SOLUSDT", "XRPUSDT"]);
        assert_eq!(engine.states["SOLUSDT"].funding_history.len(), 1);
    }

    #[test]
    fn shards_split_the_universe() {
        let many: Vec<gw::Instrument> = (0..60)
            .map(|i| instrument(&format!("S{i}USDT"), "0.0003"))
            .collect();
        let mut seen = Vec::new();
        for index in 0..3 {
            let mut engine =
                Engine::new(EvalParams::default(), Shard::new(index, 3).unwrap(), 5, "t");
            engine.load_universe(&many);
            seen.extend(engine.symbols());
        }
        seen.sort();
        let mut all: Vec<String> = many.iter().map(|i| i.symbol.clone()).collect();
        all.sort();
        assert_eq!(seen, all);
    }

    #[test]
    fn seeded_history_feeds_the_stability_score() {
        let mut engine = engine();
        engine.load_universe(&universe());
        with_books(&mut engine);
        engine.cycle(Utc::now(), true);
        let stability = |engine: &Engine| {
            engine
                .evaluated("XRPUSDT")
                .unwrap()
                .breakdown(&EvalParams::default())
                .stability
        };
        assert_eq!(
            stability(&engine),
            rust_decimal::Decimal::ZERO,
            "no history yet"
        );
        let records: Vec<gw::FundingRateRecord> = (0..4)
            .map(|i| gw::FundingRateRecord {
                symbol: "XRPUSDT".into(),
                funding_time: Some(prost_types::Timestamp {
                    seconds: 1_700_000_000 + i * 14_400,
                    nanos: 0,
                }),
                funding_rate: "0.00015".into(),
                mark_price: String::new(),
            })
            .collect();
        assert_eq!(
            engine.seed_history("XRPUSDT", &records).unwrap(),
            Applied::Changed
        );
        assert_eq!(
            stability(&engine),
            rust_decimal::Decimal::ONE,
            "flat history is stable"
        );
        assert_eq!(
            engine.seed_history("XRPUSDT", &records).unwrap(),
            Applied::Unchanged
        );
        let mut bad = records.clone();
        bad[2].funding_time = None;
        let err = engine.seed_history("XRPUSDT", &bad).unwrap_err();
        assert_eq!(err.field(), "records[2].funding_time");
    }

    #[test]
    fn wire_form_is_cached_per_evaluation() {
        let mut engine = engine();
        engine.load_universe(&universe());
        with_books(&mut engine);
        let filter = crate::filter::Filter {
            include_unqualified: true,
            ..Default::default()
        };
        let wire = |cycle: &Cycle, symbol: &str| {
            let snapshot = cycle.snapshot.to_proto(&filter);
            let found = snapshot
                .opportunities
                .into_iter()
                .find(|o| o.symbol == symbol);
            found.unwrap()
        };
        let first = engine.cycle(Utc::now(), true).unwrap();
        let before = wire(&first, "BTCUSDT");
        assert_eq!((before.funding_rate.as_str(), before.rank), ("0.00001", 0));
        let mut event = mark("BTCUSDT", "0.002", 1_800_000_000);
        event.snapshot = false;
        engine.apply(&event).unwrap();
        let second = engine.cycle(Utc::now(), false).unwrap();
        let after = wire(&second, "BTCUSDT");
        assert_eq!((after.funding_rate.as_str(), after.rank), ("0.002", 1));
        // the earlier snapshot still sends what it had; another symbol's form is shared
        assert_eq!(wire(&first, "BTCUSDT"), before);
        assert_eq!(wire(&second, "XRPUSDT").rank, 2);
        assert_eq!(wire(&first, "XRPUSDT").rank, 1);
    }

    #[test]
    fn events_for_other_symbols_are_ignored() {
        let mut engine = engine();
        engine.load_universe(&universe());
        let applied = engine.apply(&mark("ETHUSDT", "0.01", 1)).unwrap();
        assert_eq!(applied, Applied::Unchanged);
    }
}
