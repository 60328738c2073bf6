//! The soak's one JSON summary: scenarios run, violations by kind with the scenario seeds that
//! replay them, the worst unhedged window, recovery times after kill -9 and PostgreSQL restarts,
//! and what was injected.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::hedging::Window;
use super::invariants::Violation;

/// Examples kept per violation kind.
const EXAMPLES: usize = 5;
/// Seeds listed per violation kind.
const SEEDS: usize = 50;

#[derive(Debug, Default)]
struct KindStats {
    count: u64,
    seeds: BTreeSet<u64>,
    unattributed: bool,
    examples: Vec<Value>,
}

/// How long something took to come back.
#[derive(Debug, Clone)]
pub struct Recovery {
    pub what: String,
    pub seed: u64,
    /// Until the role (or every role, after a PostgreSQL restart) answered SERVING again.
    pub serving: Option<Duration>,
    /// Until the suite was at rest with no new violation.
    pub quiesced: Option<Duration>,
}

pub struct Report {
    run_seed: u64,
    planned: usize,
    accelerate: f64,
    started: Instant,
    pub completed: usize,
    violations: BTreeMap<&'static str, KindStats>,
    /// (seed, first and last simulated ms) of each scenario, for attributing ledger records.
    ranges: Vec<(u64, i64, i64)>,
    /// Longest closed window (with its length, simulated ms) and longest still open at the end.
    worst: Option<(Window, Option<u64>, i64)>,
    worst_open: Option<(Window, Option<u64>, i64)>,
    windows: u64,
    pub recoveries: Vec<Recovery>,
    faults: BTreeMap<String, u64>,
    quiesce: Vec<Duration>,
    quiesce_timeouts: u64,
    scenario_wall: Vec<Duration>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn new(run_seed: u64, planned: usize, accelerate: f64) -> Self {
        Self {
            run_seed,
            planned,
            accelerate,
            started: Instant::now(),
            completed: 0,
            violations: BTreeMap::new(),
            ranges: Vec::new(),
            worst: None,
            worst_open: None,
            windows: 0,
            recoveries: Vec::new(),
            faults: BTreeMap::new(),
            quiesce: Vec::new(),
            quiesce_timeouts: 0,
            scenario_wall: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A scenario starts at simulated `start`; it owns what happens until [`Self::scenario_ended`].
    pub fn scenario_started(&mut self, seed: u64, start: i64) {
        self.ranges.push((seed, start, i64::MAX));
    }

    pub fn scenario_ended(&mut self, end: i64) {
        if let Some(last) = self.ranges.last_mut() {
            last.2 = end;
        }
    }

    /// The scenario that ran at simulated time `at`, if any.
    pub fn seed_at(&self, at: i64) -> Option<u64> {
        self.ranges
            .iter()
            .find(|(_, start, end)| *start <= at && at <= *end)
            .map(|(seed, _, _)| *seed)
    }

    pub fn total_violations(&self) -> u64 {
        self.violations.values().map(|k| k.count).sum()
    }

    /// Records a violation found by the scenario `seed` (`None`: warm-up or the final check).
    pub fn violation(&mut self, violation: &Violation, seed: Option<u64>) {
        let stats = self.violations.entry(violation.kind).or_default();
        stats.count += 1;
        match seed {
            Some(seed) if stats.seeds.len() < SEEDS => {
                stats.seeds.insert(seed);
            }
            Some(_) => {}
            None => stats.unattributed = true,
        }
        if stats.examples.len() < EXAMPLES {
            stats
                .examples
                .push(json!({"seed": seed, "detail": violation.detail}));
        }
    }

    pub fn window(&mut self, window: Window, now: i64, seed: Option<u64>) {
        let length = window.length(now);
        let slot = if window.end.is_some() {
            self.windows += 1;
            &mut self.worst
        } else {
            &mut self.worst_open
        };
        if slot.as_ref().is_none_or(|(_, _, l)| length > *l) {
            *slot = Some((window, seed, length));
        }
    }

    pub fn fault(&mut self, name: &str) {
        *self.faults.entry(name.to_owned()).or_default() += 1;
    }

    pub fn quiesced(&mut self, took: Duration, timed_out: bool) {
        self.quiesce.push(took);
        if timed_out {
            self.quiesce_timeouts += 1;
        }
    }

    pub fn scenario_took(&mut self, took: Duration) {
        self.scenario_wall.push(took);
    }

    pub fn to_json(&self, dir: &str, venue_orders: usize) -> Value {
        let by_kind: serde_json::Map<String, Value> = self
            .violations
            .iter()
            .map(|(kind, s)| {
                (
                    (*kind).to_owned(),
                    json!({"count": s.count, "seeds": s.seeds, "unattributed": s.unattributed, "examples": s.examples}),
                )
            })
            .collect();
        let window_json = |(w, seed, sim_ms): &(Window, Option<u64>, i64)| {
            json!({"symbol": w.symbol, "sim_ms": sim_ms, "wall_ms": (*sim_ms as f64 / self.accelerate).round(),
                "start_sim_ms": w.start, "seed": seed})
        };
        let worst = self.worst.as_ref().map(window_json);
        let worst_open = self.worst_open.as_ref().map(window_json);
        json!({
            "run_seed": self.run_seed,
            "scenarios": {"planned": self.planned, "completed": self.completed},
            "elapsed_secs": self.started.elapsed().as_secs(),
            "accelerate": self.accelerate,
            "violations": {"total": self.total_violations(), "by_kind": by_kind},
            "worst_unhedged_window": worst,
            "unhedged_windows": self.windows,
            "longest_still_unhedged_at_end": worst_open,
            "recovery": recovery_json(&self.recoveries),
            "faults_injected": self.faults,
            "quiesce": {"mean_ms": mean_ms(&self.quiesce), "max_ms": max_ms(&self.quiesce), "timeouts": self.quiesce_timeouts},
            "scenario_wall": {"mean_ms": mean_ms(&self.scenario_wall), "max_ms": max_ms(&self.scenario_wall)},
            "venue_orders": venue_orders,
            "dir": dir,
            "notes": self.notes,
        })
    }
}

fn mean_ms(list: &[Duration]) -> u64 {
    if list.is_empty() {
        return 0;
    }
    (list.iter().map(Duration::as_millis).sum::<u128>() / list.len() as u128) as u64
}

fn max_ms(list: &[Duration]) -> u64 {
    list.iter().map(Duration::as_millis).max().unwrap_or(0) as u64
}

fn recovery_json(list: &[Recovery]) -> Value {
    let mut groups: BTreeMap<&str, Vec<&Recovery>> = BTreeMap::new();
    for r in list {
        groups.entry(r.what.as_str()).or_default().push(r);
    }
    let out: serde_json::Map<String, Value> = groups
        .into_iter()
        .map(|(what, items)| {
            let serving: Vec<Duration> = items.iter().filter_map(|r| r.serving).collect();
            let quiesced: Vec<Duration> = items.iter().filter_map(|r| r.quiesced).collect();
            let worst = items
                .iter()
                .max_by_key(|r| r.quiesced.unwrap_or(Duration::MAX))
                .map(|r| r.seed);
            (
                what.to_owned(),
                json!({"count": items.len(),
                    "serving_ms": {"mean": mean_ms(&serving), "max": max_ms(&serving)},
                    "quiesced_ms": {"mean": mean_ms(&quiesced), "max": max_ms(&quiesced)},
                    "never_recovered": items.iter().filter(|r| r.serving.is_none()).count(),
                    "slowest_seed": worst}),
            )
        })
        .collect();
    Value::Object(out)
}
