//! Client side of a sharded scanner: subscribe to every replica and merge their streams into
//! one ranked view (the executor uses this).
//!
//! ```ignore
//! let mut subscription = merge::subscribe(config.services.scanners.clone(), filter);
//! while subscription.view.changed().await.is_ok() {
//!     let merged = subscription.view.borrow_and_update().clone();
//!     if merged.complete { /* every shard reported */ }
//! }
//! ```

mod subscribe;

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use fff_proto::fff::scanner::v1 as pb;
use rust_decimal::Decimal;

pub use subscribe::{RESOLVE_INTERVAL, Subscription, resolve_endpoints, subscribe};

/// The merged, ranked view of every shard's latest snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MergedView {
    /// Opportunities of all shards, deduplicated by symbol, ranked like one scanner would
    /// (qualified by score, ties by symbol, then unqualified by symbol), ranks renumbered.
    pub opportunities: Vec<pb::Opportunity>,
    /// The latest snapshot header of each shard seen (opportunities stripped), by shard id.
    pub shards: Vec<pb::OpportunitySnapshot>,
    /// Number of shards the replicas say exist (0 before the first snapshot).
    pub shard_count: u32,
    /// Every shard `0..shard_count` has reported.
    pub complete: bool,
}

/// Latest snapshot per shard; pure, so it is unit-tested without a network.
#[derive(Debug, Clone, Default)]
pub struct Merger {
    shards: BTreeMap<u32, pb::OpportunitySnapshot>,
}

fn computed_at(snapshot: &pb::OpportunitySnapshot) -> (i64, i32) {
    snapshot
        .computed_at
        .as_ref()
        .map_or((0, 0), |t| (t.seconds, t.nanos))
}

impl Merger {
    /// Takes a shard's snapshot; returns whether the view changed. Snapshots without shard
    /// info are ignored; a different shard count (re-sharding) drops the other layout once its
    /// snapshot is newer.
    pub fn apply(&mut self, snapshot: pb::OpportunitySnapshot) -> bool {
        let Some(shard) = snapshot.shard else {
            return false;
        };
        if shard.shard_count == 0 || shard.shard_id >= shard.shard_count {
            return false;
        }
        if let Some(existing) = self.shards.get(&shard.shard_id) {
            let same_instance = existing.instance_id == snapshot.instance_id;
            let newer = if same_instance {
                snapshot.sequence > existing.sequence
            } else {
                computed_at(&snapshot) >= computed_at(existing)
            };
            if !newer {
                return false;
            }
        }
        self.shards.retain(|_, s| {
            s.shard
                .is_some_and(|info| info.shard_count == shard.shard_count)
                || computed_at(s) > computed_at(&snapshot)
        });
        self.shards.insert(shard.shard_id, snapshot);
        true
    }

    /// The merged view, at most `top_n` opportunities (0 = all).
    pub fn view(&self, top_n: u32) -> MergedView {
        let shard_count = self
            .shards
            .values()
            .filter_map(|s| s.shard.map(|i| i.shard_count))
            .max()
            .unwrap_or(0);
        // dedupe by symbol, keeping the newest snapshot's entry
        let mut by_symbol: HashMap<&str, (&pb::Opportunity, (i64, i32))> = HashMap::new();
        for snapshot in self.shards.values() {
            let at = computed_at(snapshot);
            for opportunity in &snapshot.opportunities {
                let keep = by_symbol
                    .get(opportunity.symbol.as_str())
                    .is_none_or(|(_, seen)| at > *seen);
                if keep {
                    by_symbol.insert(&opportunity.symbol, (opportunity, at));
                }
            }
        }
        let mut opportunities: Vec<pb::Opportunity> =
            by_symbol.into_values().map(|(o, _)| o.clone()).collect();
        opportunities.sort_by(merged_order);
        let mut rank = 0u32;
        for opportunity in &mut opportunities {
            opportunity.rank = if opportunity.qualified {
                rank += 1;
                rank
            } else {
                0
            };
        }
        if top_n > 0 {
            opportunities.truncate(top_n as usize);
        }
        let shards = self
            .shards
            .values()
            .map(|s| pb::OpportunitySnapshot {
                opportunities: Vec::new(),
                ..s.clone()
            })
            .collect();
        MergedView {
            opportunities,
            shards,
            shard_count,
            complete: shard_count > 0 && (0..shard_count).all(|i| self.shards.contains_key(&i)),
        }
    }
}

fn score(opportunity: &pb::Opportunity) -> Decimal {
    opportunity.score.parse().unwrap_or(Decimal::ZERO)
}

/// The scanner's ranking order ([`crate::evaluation::rank_order`]) on wire opportunities.
fn merged_order(a: &pb::Opportunity, b: &pb::Opportunity) -> Ordering {
    b.qualified
        .cmp(&a.qualified)
        .then_with(|| {
            if a.qualified {
                score(b).cmp(&score(a))
            } else {
                Ordering::Equal
            }
        })
        .then_with(|| a.symbol.cmp(&b.symbol))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opportunity(symbol: &str, score: &str, qualified: bool) -> pb::Opportunity {
        pb::Opportunity {
            symbol: symbol.to_owned(),
            score: score.to_owned(),
            qualified,
            rank: 99,
            ..pb::Opportunity::default()
        }
    }

    fn snapshot(
        shard: u32,
        count: u32,
        sequence: u64,
        seconds: i64,
        opportunities: Vec<pb::Opportunity>,
    ) -> pb::OpportunitySnapshot {
        pb::OpportunitySnapshot {
            sequence,
            instance_id: format!("replica-{shard}"),
            shard: Some(pb::ShardInfo {
                shard_id: shard,
                shard_count: count,
                symbols_assigned: 0,
            }),
            computed_at: Some(prost_types::Timestamp { seconds, nanos: 0 }),
            opportunities,
            ..pb::OpportunitySnapshot::default()
        }
    }

    fn symbols(view: &MergedView) -> Vec<(&str, u32)> {
        view.opportunities
            .iter()
            .map(|o| (o.symbol.as_str(), o.rank))
            .collect()
    }

    #[test]
    fn merges_shards_into_one_ranking() {
        let mut merger = Merger::default();
        merger.apply(snapshot(
            0,
            2,
            1,
            10,
            vec![
                opportunity("AUSDT", "0.5", true),
                opportunity("ZUSDT", "0.9", false),
            ],
        ));
        assert!(!merger.view(0).complete);
        merger.apply(snapshot(
            1,
            2,
            1,
            11,
            vec![
                opportunity("BUSDT", "0.7", true),
                opportunity("CUSDT", "0.5", true),
            ],
        ));
        let view = merger.view(0);
        assert!(view.complete);
        assert_eq!(view.shard_count, 2);
        assert_eq!(
            symbols(&view),
            [("BUSDT", 1), ("AUSDT", 2), ("CUSDT", 3), ("ZUSDT", 0)]
        );
        assert_eq!(symbols(&merger.view(2)), [("BUSDT", 1), ("AUSDT", 2)]);
        assert!(view.shards.iter().all(|s| s.opportunities.is_empty()));
    }

    #[test]
    fn keeps_the_latest_snapshot_per_shard() {
        let mut merger = Merger::default();
        assert!(merger.apply(snapshot(
            0,
            1,
            5,
            10,
            vec![opportunity("AUSDT", "0.5", true)]
        )));
        assert!(
            !merger.apply(snapshot(0, 1, 4, 11, vec![])),
            "older sequence of the same replica"
        );
        assert!(merger.apply(snapshot(
            0,
            1,
            6,
            12,
            vec![opportunity("BUSDT", "0.5", true)]
        )));
        assert_eq!(symbols(&merger.view(0)), [("BUSDT", 1)]);
        // a restarted replica (new instance) starts again at sequence 1
        let mut restarted = snapshot(0, 1, 1, 13, vec![opportunity("CUSDT", "0.5", true)]);
        restarted.instance_id = "new".into();
        assert!(merger.apply(restarted));
        assert_eq!(symbols(&merger.view(0)), [("CUSDT", 1)]);
    }

    #[test]
    fn dedupes_a_symbol_reported_twice_by_the_newest() {
        let mut merger = Merger::default();
        merger.apply(snapshot(
            0,
            2,
            1,
            10,
            vec![opportunity("AUSDT", "0.1", true)],
        ));
        merger.apply(snapshot(
            1,
            2,
            1,
            20,
            vec![opportunity("AUSDT", "0.8", true)],
        ));
        let view = merger.view(0);
        assert_eq!(view.opportunities.len(), 1);
        assert_eq!(view.opportunities[0].score, "0.8");
    }

    #[test]
    fn resharding_drops_the_old_layout() {
        let mut merger = Merger::default();
        merger.apply(snapshot(
            0,
            1,
            1,
            10,
            vec![opportunity("AUSDT", "0.1", true)],
        ));
        merger.apply(snapshot(
            2,
            3,
            1,
            20,
            vec![opportunity("BUSDT", "0.2", true)],
        ));
        let view = merger.view(0);
        assert_eq!(view.shard_count, 3);
        assert_eq!(symbols(&view), [("BUSDT", 1)]);
        assert!(!view.complete);
        assert!(
            !merger.apply(snapshot(5, 3, 1, 30, vec![])),
            "shard id out of range"
        );
    }
}
