//! A ranked scan result and its wire form.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use fff_core::scan::Ranking;
use fff_proto::convert::{datetime_to_timestamp, decimal_to_string, optional_decimal_to_string};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::scanner::v1 as pb;

use crate::evaluation::{EvalParams, Evaluated};
use crate::filter::Filter;
use crate::shard::Shard;

/// One scan cycle of one shard, ranked in [`crate::evaluation::rank_order`].
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub sequence: u64,
    pub instance_id: Arc<str>,
    pub shard: Shard,
    pub computed_at: DateTime<Utc>,
    /// Every symbol of the shard, shared with the engine's ranking at that cycle.
    pub ranked: Ranking<Evaluated>,
    /// How many of `ranked` qualified (they come first).
    pub qualified_count: usize,
    /// Oldest market-data time among the symbols.
    pub data_as_of: Option<DateTime<Utc>>,
    pub params: Arc<EvalParams>,
    /// W3C `traceparent` of the scan-cycle span; empty when not traced.
    pub traceparent: String,
}

impl Snapshot {
    pub fn qualified_count(&self) -> usize {
        self.qualified_count
    }

    /// Oldest market-data time among the symbols (stale input shows here).
    pub fn data_as_of(&self) -> Option<DateTime<Utc>> {
        self.data_as_of
    }

    /// 1-based rank of the entry at `position`; 0 for pairs that did not qualify.
    pub fn rank_at(&self, position: usize) -> u32 {
        if position < self.qualified_count {
            u32::try_from(position + 1).unwrap_or(u32::MAX)
        } else {
            0
        }
    }

    /// The entry for `symbol` and its position.
    pub fn find(&self, symbol: &str) -> Option<(usize, &Arc<Evaluated>)> {
        self.ranked
            .iter()
            .enumerate()
            .find(|(_, e)| e.symbol().as_str() == symbol)
    }

    pub fn shard_info(&self) -> pb::ShardInfo {
        pb::ShardInfo {
            shard_id: self.shard.index(),
            shard_count: self.shard.count(),
            symbols_assigned: u32::try_from(self.ranked.len()).unwrap_or(u32::MAX),
        }
    }

    /// The wire snapshot with `filter` applied to its opportunities.
    pub fn to_proto(&self, filter: &Filter) -> pb::OpportunitySnapshot {
        let mut opportunities = Vec::new();
        // qualified pairs rank first: without the unqualified ones the rest need no look
        let candidates = if filter.include_unqualified {
            self.ranked.len()
        } else {
            self.qualified_count
        };
        for (position, evaluated) in self.ranked.iter().enumerate().take(candidates) {
            if filter.top_n > 0 && opportunities.len() >= filter.top_n as usize {
                break;
            }
            if filter.accepts(evaluated) {
                opportunities.push(self.opportunity(position, evaluated));
            }
        }
        pb::OpportunitySnapshot {
            sequence: self.sequence,
            instance_id: self.instance_id.to_string(),
            shard: Some(self.shard_info()),
            computed_at: datetime_to_timestamp(self.computed_at),
            data_as_of: self.data_as_of().and_then(datetime_to_timestamp),
            symbols_scanned: u32::try_from(self.ranked.len()).unwrap_or(u32::MAX),
            qualified_count: u32::try_from(self.qualified_count()).unwrap_or(u32::MAX),
            opportunities,
            traceparent: self.traceparent.clone(),
        }
    }

    fn opportunity(&self, position: usize, e: &Evaluated) -> pb::Opportunity {
        let mut opportunity =
            pb::Opportunity::clone(e.wire.get_or_init(|| Box::new(self.unranked(e))));
        opportunity.rank = self.rank_at(position);
        opportunity
    }

    /// The wire form of `e` with rank 0 (the same in every snapshot of this engine).
    fn unranked(&self, e: &Evaluated) -> pb::Opportunity {
        let params = &self.params;
        pb::Opportunity {
            rank: 0,
            symbol: e.symbol().to_string(),
            direction: direction_to_wire(e.direction()) as i32,
            score: decimal_to_string(e.score()),
            qualified: e.qualified(),
            failed_filters: e
                .failed_checks()
                .map(|check| check.as_str().to_owned())
                .collect(),
            funding_rate: decimal_to_string(e.market.funding_rate),
            funding_interval_hours: e.market.funding_interval.hours(),
            funding_apr: decimal_to_string(e.funding_apr(params)),
            funding_rate_mean: optional_decimal_to_string(e.funding_rate_mean()),
            borrow_apr: decimal_to_string(e.borrow_apr(params)),
            expected_net_apr: decimal_to_string(e.expected_net_apr(params)),
            basis: optional_decimal_to_string(e.basis()),
            quote_volume_24h: decimal_to_string(e.market.volume_24h_usd),
            open_interest_usdt: decimal_to_string(e.market.open_interest_usd),
            capacity_usdt: decimal_to_string(e.capacity_usdt(params)),
            next_funding_time: e.facts.next_funding_time.and_then(datetime_to_timestamp),
        }
    }
}

/// Wire direction; unspecified when funding is exactly zero (no carry either way).
pub fn direction_to_wire(direction: Option<fff_core::Direction>) -> common::Direction {
    direction.map_or(common::Direction::Unspecified, Into::into)
}
