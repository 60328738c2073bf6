//! ExplainPair: every filter with observed value, threshold and verdict, and the score split
//! into its weighted components, straight from fff-core's `Qualification` and `ScoreBreakdown`
//! (made on demand from the inputs the ranking used).

use fff_core::{CheckName, Direction, FilterCheck};
use fff_proto::convert::{datetime_to_timestamp, decimal_to_string};
use fff_proto::fff::scanner::v1::{self as pb, Comparison};
use rust_decimal::Decimal;

use crate::evaluation::{EvalParams, Evaluated};
use crate::snapshot::{Snapshot, direction_to_wire};

/// Name of the extra check reported when the caller asks about the direction that pays funding.
pub const DIRECTION_CHECK: &str = "direction";

/// Explains `evaluated` (at `position` in `snapshot`) for `requested` (None = the direction
/// that collects the current funding).
pub fn explain(
    snapshot: &Snapshot,
    position: usize,
    evaluated: &Evaluated,
    requested: Option<Direction>,
) -> pb::ExplainPairResponse {
    // the report is made now, from the inputs the ranking used (a scan keeps the verdict only)
    let qualification = evaluated.qualification(&snapshot.params);
    let mut filters: Vec<pb::FilterResult> = qualification
        .checks
        .iter()
        .map(|check| filter_result(check, &snapshot.params))
        .collect();
    let collecting = qualification.direction;
    let mut qualified = qualification.passed;
    let direction = requested.or(collecting);
    // fff-core qualifies the hedge that collects funding; the opposite hedge pays it
    if let Some(requested) = requested
        && collecting != Some(requested)
    {
        qualified = false;
        filters.push(pb::FilterResult {
            name: DIRECTION_CHECK.to_owned(),
            observed: direction_name(collecting).to_owned(),
            threshold: direction_name(Some(requested)).to_owned(),
            comparison: Comparison::Eq as i32,
            passed: false,
            detail: format!(
                "funding rate {} per {}h is collected by {}; {} would pay it",
                evaluated.market.funding_rate,
                evaluated.market.funding_interval.hours(),
                direction_name(collecting),
                direction_name(Some(requested)),
            ),
        });
    }
    pb::ExplainPairResponse {
        symbol: evaluated.symbol().to_string(),
        direction: direction_to_wire(direction) as i32,
        qualified,
        filters,
        score: decimal_to_string(evaluated.score()),
        components: components(evaluated, &snapshot.params),
        rank: if qualified {
            snapshot.rank_at(position)
        } else {
            0
        },
        shard: Some(snapshot.shard_info()),
        sequence: snapshot.sequence,
        computed_at: datetime_to_timestamp(snapshot.computed_at),
    }
}

fn direction_name(direction: Option<Direction>) -> &'static str {
    match direction {
        Some(Direction::PositiveCarry) => "positive_carry",
        Some(Direction::NegativeCarry) => "negative_carry",
        None => "none (zero funding)",
    }
}

fn flag(value: Decimal) -> String {
    (!value.is_zero()).to_string()
}

/// One fff-core check on the wire; the comparison mirrors the check's rule (strict bounds).
fn filter_result(check: &FilterCheck, params: &EvalParams) -> pb::FilterResult {
    let numeric = |comparison: Comparison| {
        (
            decimal_to_string(check.observed),
            decimal_to_string(check.threshold),
            comparison,
        )
    };
    let (observed, threshold, comparison) = match check.name {
        CheckName::Volume24h | CheckName::FundingRate | CheckName::OpenInterest => {
            numeric(Comparison::Gt)
        }
        CheckName::Spread => numeric(Comparison::Lt),
        CheckName::BorrowCover => numeric(Comparison::Gt),
        CheckName::NetOfCost => numeric(Comparison::Gte),
        CheckName::MarginEnabled if params.selection.require_margin => {
            (flag(check.observed), flag(check.threshold), Comparison::Eq)
        }
        CheckName::MarginEnabled => (flag(check.observed), String::new(), Comparison::Unspecified),
    };
    let unit = match check.name {
        CheckName::Volume24h => "lower of spot and perp 24 h quote volume, usd; ",
        CheckName::OpenInterest => "perp open interest at mark price, usd; ",
        CheckName::Spread => "wider of the spot and perp books; ",
        CheckName::NetOfCost => {
            "expected carry over the holding horizon minus the round trip, fraction of notional; "
        }
        _ => "",
    };
    pb::FilterResult {
        name: check.name.as_str().to_owned(),
        observed,
        threshold,
        comparison: comparison as i32,
        passed: check.passed,
        detail: format!("{unit}{}", check.detail),
    }
}

/// Score components; contributions are `weight x normalized / sum of weights`, which is how
/// fff-core forms the total, so they add up to the score (the division is by 1 with weights
/// summing to 1).
fn components(evaluated: &Evaluated, params: &EvalParams) -> Vec<pb::ScoreComponent> {
    let selection = &params.selection;
    let score = evaluated.breakdown(params);
    let period = selection.rate_period_hours;
    let weights = [
        selection.weight_funding,
        selection.weight_volume,
        selection.weight_stability,
        selection.weight_spread,
    ];
    let weight_sum: Decimal = weights.iter().map(|w| (*w).max(Decimal::ZERO)).sum();
    let raw_spread = evaluated.market.relative_spread();
    let rows = [
        (
            "funding",
            Some(score.net_carry),
            score.funding,
            selection.weight_funding,
            format!(
                "net carry per {period}h (|funding| minus borrow when short spot) over the cap {}",
                selection.funding_score_cap
            ),
        ),
        (
            "volume",
            Some(evaluated.market.volume_24h_usd),
            score.volume,
            selection.weight_volume,
            format!(
                "24 h usd volume on a log scale from {} to {}",
                selection.volume_score_floor_usd, selection.volume_score_ref_usd
            ),
        ),
        (
            "stability",
            score.funding_stddev,
            score.stability,
            selection.weight_stability,
            format!(
                "standard deviation of {} settled funding rates per {period}h against {}; \
                 fewer than {} samples score 0",
                evaluated.market.funding_history.len(),
                selection.stability_ref_stddev,
                selection.stability_min_samples
            ),
        ),
        (
            "spread",
            raw_spread,
            score.spread,
            selection.weight_spread,
            format!(
                "relative spread against {}; an invalid book scores 0",
                selection.spread_score_ref
            ),
        ),
    ];
    rows.into_iter()
        .map(|(name, raw, normalized, weight, detail)| {
            let contribution = weight
                .max(Decimal::ZERO)
                .saturating_mul(normalized)
                .checked_div(weight_sum)
                .unwrap_or(Decimal::ZERO);
            pb::ScoreComponent {
                name: name.to_owned(),
                raw_value: raw.map(decimal_to_string).unwrap_or_default(),
                normalized: decimal_to_string(normalized),
                weight: decimal_to_string(weight),
                contribution: decimal_to_string(contribution),
                detail,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;
    use crate::shard::Shard;
    use crate::state::fixtures::{book, instrument};
    use chrono::Utc;
    use fff_proto::fff::common::v1::Venue;

    fn snapshot(
        instruments: &[fff_proto::fff::gateway::v1::Instrument],
    ) -> std::sync::Arc<Snapshot> {
        let mut engine = Engine::new(EvalParams::default(), Shard::ALL, 5, "t");
        engine.load_universe(instruments);
        for symbol in engine.symbols() {
            engine
                .apply(&book(&symbol, Venue::SpotMargin, "179.999", "180.001"))
                .unwrap();
        }
        engine.cycle(Utc::now(), true).unwrap().snapshot
    }

    fn explained(
        snapshot: &Snapshot,
        symbol: &str,
        d: Option<Direction>,
    ) -> pb::ExplainPairResponse {
        let (position, evaluated) = snapshot.find(symbol).unwrap();
        explain(snapshot, position, evaluated, d)
    }

    fn failed(response: &pb::ExplainPairResponse) -> Vec<&str> {
        response
            .filters
            .iter()
            .filter(|f| !f.passed)
            .map(|f| f.name.as_str())
            .collect()
    }

    #[test]
    fn names_the_failing_filter_with_values() {
        let mut thin = instrument("LSKUSDT", "0.0006");
        thin.spot_quote_volume_24h = "120000".into();
        let mut no_margin = instrument("ORCAUSDT", "-0.0005");
        no_margin.margin_trading_allowed = false;
        let mut costly = instrument("ADAUSDT", "-0.00006");
        costly.base_borrow_rate_hourly = "0.000025".into();
        // SOL's funding strong enough to repay a round trip without settled history
        let snapshot = snapshot(&[thin, no_margin, costly, instrument("SOLUSDT", "-0.0005")]);

        let lsk = explained(&snapshot, "LSKUSDT", None);
        assert_eq!(failed(&lsk), ["volume_24h"]);
        let volume = &lsk.filters[0];
        assert_eq!(
            (volume.observed.as_str(), volume.threshold.as_str()),
            ("120000", "100000000")
        );
        assert_eq!(volume.comparison, Comparison::Gt as i32);
        assert_eq!(lsk.rank, 0);

        let orca = explained(&snapshot, "ORCAUSDT", None);
        assert_eq!(failed(&orca), ["margin_enabled"]);
        let margin = orca
            .filters
            .iter()
            .find(|f| f.name == "margin_enabled")
            .unwrap();
        assert_eq!(
            (margin.observed.as_str(), margin.threshold.as_str()),
            ("false", "true")
        );

        let ada = explained(&snapshot, "ADAUSDT", None);
        // funding below its borrow cost earns nothing net, so it cannot repay a round trip
        assert_eq!(failed(&ada), ["borrow_cover", "net_of_cost"]);
        assert_eq!(ada.direction, common_direction(Direction::NegativeCarry));

        let sol = explained(&snapshot, "SOLUSDT", None);
        assert!(sol.qualified && sol.rank == 1, "{sol:?}");
        assert_eq!(sol.filters.len(), 7);
    }

    #[test]
    fn components_add_up_to_the_score() {
        let snapshot = snapshot(&[instrument("SOLUSDT", "-0.00012")]);
        let sol = explained(&snapshot, "SOLUSDT", None);
        let names: Vec<&str> = sol.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["funding", "volume", "stability", "spread"]);
        let sum: Decimal = sol
            .components
            .iter()
            .map(|c| c.contribution.parse::<Decimal>().unwrap())
            .sum();
        // the score is summed in f64 (fff-core scoring), the contributions are shown as decimals
        let score = sol.score.parse::<Decimal>().unwrap();
        assert!(
            (sum - score).abs() < Decimal::new(1, 12),
            "{sum} vs {score}"
        );
        assert_eq!(sol.components[2].raw_value, "", "no history yet");
    }

    #[test]
    fn the_opposite_direction_fails_a_direction_check() {
        let snapshot = snapshot(&[instrument("SOLUSDT", "-0.0005")]);
        let sol = explained(&snapshot, "SOLUSDT", Some(Direction::PositiveCarry));
        assert!(!sol.qualified);
        assert_eq!(failed(&sol), [DIRECTION_CHECK]);
        assert_eq!(sol.rank, 0);
        assert_eq!(sol.direction, common_direction(Direction::PositiveCarry));
    }

    fn common_direction(d: Direction) -> i32 {
        fff_proto::fff::common::v1::Direction::from(d) as i32
    }
}
