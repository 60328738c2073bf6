//! One position through fff-core's [`decide_with`] (with the settled history and the index price): what the run saw (drift, funding, borrow) and
//! the action it calls for. Pure; the caller supplies the executor's position, the gateway's
//! instrument and the time.

use chrono::{DateTime, Duration, Utc};
use fff_core::params::{PairSelectionParams, RebalanceParams};
use fff_core::priority::ExitCandidate;
use fff_core::rates::{annualize, borrow_rate_for_period, normalize_funding_rate};
use fff_core::{
    Action, Direction, HedgeContext, HedgeState, Priority, Reason, RebalanceDecision, Side,
    SymbolFilters, Venue, decide_with,
};
use fff_proto::convert::{
    FieldError, datetime_to_timestamp, decimal_to_string, optional_timestamp, parse_decimal,
    parse_domain_enum, parse_funding_interval, parse_optional_decimal, parse_symbol,
};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::executor::v1::{self as ex, PositionStatus};
use fff_proto::fff::gateway::v1 as gw;
use fff_proto::fff::rebalancer::v1 as pb;
use rust_decimal::Decimal;

/// What every review of one run shares.
#[derive(Debug, Clone)]
pub struct ReviewContext<'a> {
    /// Last settled funding rates per symbol, newest first (absent: unknown).
    pub recent_funding: &'a std::collections::HashMap<String, Vec<Decimal>>,
    pub params: &'a RebalanceParams,
    pub selection: &'a PairSelectionParams,
    /// False while risk halts entries (or cannot be asked): a flip degrades to a close.
    pub entries_allowed: bool,
    pub run_id: &'a str,
    pub now: DateTime<Utc>,
    pub max_data_age: Duration,
    pub action_ttl: Duration,
    pub dry_run: bool,
}

/// Reviews one live position; actions are in `review.actions` with fresh ids.
pub fn review_position(
    position: &ex::Position,
    instrument: Option<&gw::Instrument>,
    ctx: &ReviewContext<'_>,
) -> pb::PositionReview {
    let mut review = pb::PositionReview {
        position_id: position.position_id.clone(),
        symbol: position.symbol.clone(),
        direction: position.direction,
        drift_threshold: decimal_to_string(ctx.params.drift_threshold),
        emergency_drift_threshold: decimal_to_string(ctx.params.emergency_drift_threshold),
        ..pb::PositionReview::default()
    };
    let skip = |mut review: pb::PositionReview, detail: String| {
        review.decision = pb::Decision::Skipped as i32;
        review.detail = detail;
        review
    };
    let status = PositionStatus::try_from(position.status).unwrap_or(PositionStatus::Unspecified);
    if status != PositionStatus::Open {
        let why = match status {
            PositionStatus::Broken => "legs unhedged and repair failed: needs an operator",
            _ => "executor is working on it",
        };
        return skip(review, format!("status {}: {why}", status.as_str_name()));
    }
    let legs = match hedge_inputs(position) {
        Ok(legs) => legs,
        Err(error) => return skip(review, format!("malformed position from executor: {error}")),
    };
    review.spot_qty = decimal_to_string(legs.spot_qty);
    review.perp_qty = decimal_to_string(legs.perp_qty);
    review.net_delta = decimal_to_string(legs.spot_qty.saturating_add(legs.perp_qty));
    let Some(instrument) = instrument else {
        return skip(review, "symbol not in the gateway universe".to_owned());
    };
    let market = match market_inputs(instrument, legs.direction, ctx) {
        Ok(market) => market,
        Err(detail) => return skip(review, detail),
    };

    let sign = match legs.direction {
        Direction::PositiveCarry => Decimal::ONE,
        Direction::NegativeCarry => Decimal::NEGATIVE_ONE,
    };
    let hours = market.interval.hours();
    let funding_apr = annualize(market.funding_rate, hours).saturating_mul(sign);
    let borrow_apr = match legs.direction {
        Direction::PositiveCarry => Decimal::ZERO,
        Direction::NegativeCarry => annualize(market.borrow_rate_hourly, 1),
    };
    review.funding_rate = decimal_to_string(market.funding_rate);
    review.funding_apr = decimal_to_string(funding_apr.round_dp(8).normalize());
    if legs.direction == Direction::NegativeCarry {
        review.borrow_rate_hourly = decimal_to_string(market.borrow_rate_hourly);
    }
    review.borrow_apr = decimal_to_string(borrow_apr.round_dp(8).normalize());
    review.net_carry_apr = decimal_to_string(
        funding_apr
            .saturating_sub(borrow_apr)
            .round_dp(8)
            .normalize(),
    );

    let legs_direction = legs.direction;
    let state = HedgeState {
        symbol: legs.symbol,
        direction: legs.direction,
        spot_qty: legs.spot_qty,
        perp_qty: legs.perp_qty,
        mark_price: market.mark_price,
        funding_rate: market.funding_rate,
        funding_interval: market.interval,
        borrow_rate_hourly: market.borrow_rate_hourly,
        new_entries_allowed: ctx.entries_allowed,
    };
    let against = |rate: &Decimal| match legs_direction {
        Direction::PositiveCarry => *rate < Decimal::ZERO,
        Direction::NegativeCarry => *rate > Decimal::ZERO,
    };
    let context = HedgeContext {
        // the perp's index price stands for the spot leg (Binance's index is a spot composite)
        spot_price: market.index_price,
        settlements_against: ctx
            .recent_funding
            .get(position.symbol.as_str())
            .map_or(0, |rates| {
                u32::try_from(rates.iter().take_while(|r| against(r)).count()).unwrap_or(u32::MAX)
            }),
    };
    let decision = decide_with(
        &state,
        &context,
        &market.spot_filters,
        &market.perp_filters,
        ctx.params,
        ctx.selection,
    );
    review.drift = decimal_to_string(decision.drift.round_dp(8));
    fff_runtime::metrics::gauge_set(
        "fff_position_drift_ratio",
        "Leg drift |spot - perp| / max of the two, per symbol, at the last review.",
        &[("symbol", position.symbol.as_str())],
        rust_decimal::prelude::ToPrimitive::to_f64(&decision.drift).unwrap_or(f64::NAN),
    );
    review.reason_code = reason(decision.reason) as i32;
    review.detail = decision.detail.clone();
    match action(&decision, position, ctx) {
        None => review.decision = pb::Decision::Hold as i32,
        Some(action) => {
            review.decision = if ctx.dry_run {
                review.detail = format!("dry run: {}", review.detail);
                pb::Decision::Suppressed
            } else {
                pb::Decision::Act
            } as i32;
            review.actions.push(action);
        }
    }
    review
}

struct Legs {
    symbol: fff_core::Symbol,
    direction: Direction,
    spot_qty: Decimal,
    perp_qty: Decimal,
}

fn hedge_inputs(position: &ex::Position) -> Result<Legs, FieldError> {
    let symbol = parse_symbol("symbol", &position.symbol)?;
    let direction =
        parse_domain_enum::<common::Direction, Direction>("direction", position.direction)?;
    let spot = position
        .spot_leg
        .as_ref()
        .ok_or_else(|| FieldError::missing("spot_leg"))?;
    let perp = position
        .perp_leg
        .as_ref()
        .ok_or_else(|| FieldError::missing("perp_leg"))?;
    Ok(Legs {
        symbol,
        direction,
        spot_qty: signed_quantity(spot).map_err(|e| e.within("spot_leg"))?,
        perp_qty: signed_quantity(perp).map_err(|e| e.within("perp_leg"))?,
    })
}

/// Leg size signed by its side: long positive, short negative.
fn signed_quantity(leg: &ex::Leg) -> Result<Decimal, FieldError> {
    let quantity = parse_decimal("quantity", &leg.quantity)?;
    if quantity.is_zero() {
        return Ok(Decimal::ZERO);
    }
    let side = parse_domain_enum::<common::Side, Side>("side", leg.side)?;
    Ok(match side {
        Side::Buy => quantity.abs(),
        Side::Sell => -quantity.abs(),
    })
}

struct Market {
    mark_price: Decimal,
    index_price: Option<Decimal>,
    funding_rate: Decimal,
    interval: fff_core::FundingInterval,
    borrow_rate_hourly: Decimal,
    spot_filters: SymbolFilters,
    perp_filters: SymbolFilters,
}

fn market_inputs(
    instrument: &gw::Instrument,
    direction: Direction,
    ctx: &ReviewContext<'_>,
) -> Result<Market, String> {
    let bad = |e: FieldError| {
        format!(
            "malformed instrument from gateway: {}",
            e.within("instrument")
        )
    };
    if let Some(updated) =
        optional_timestamp("updated_at", instrument.updated_at.as_ref()).map_err(bad)?
    {
        let age = ctx.now.signed_duration_since(updated);
        if age > ctx.max_data_age {
            return Err(format!(
                "market data is {} s old (limit {} s)",
                age.num_seconds(),
                ctx.max_data_age.num_seconds()
            ));
        }
    }
    let borrow = parse_optional_decimal(
        "base_borrow_rate_hourly",
        &instrument.base_borrow_rate_hourly,
    )
    .map_err(bad)?;
    let borrow_rate_hourly = match (direction, borrow) {
        (_, Some(rate)) => rate,
        (Direction::PositiveCarry, None) => Decimal::ZERO,
        (Direction::NegativeCarry, None) => {
            return Err("borrow rate unknown for a negative-carry position".to_owned());
        }
    };
    let filters = |field: &str, wire: Option<&common::SymbolFilters>| {
        let wire = wire.ok_or_else(|| FieldError::missing(field))?;
        SymbolFilters::try_from(wire).map_err(|e| e.within(field))
    };
    Ok(Market {
        mark_price: parse_decimal("mark_price", &instrument.mark_price).map_err(bad)?,
        index_price: parse_optional_decimal("index_price", &instrument.index_price)
            .map_err(bad)?
            .filter(|p| *p > Decimal::ZERO),
        funding_rate: parse_decimal("last_funding_rate", &instrument.last_funding_rate)
            .map_err(bad)?,
        interval: parse_funding_interval(
            "funding_interval_hours",
            instrument.funding_interval_hours,
        )
        .map_err(bad)?,
        borrow_rate_hourly,
        spot_filters: filters("spot_filters", instrument.spot_filters.as_ref()).map_err(bad)?,
        perp_filters: filters("perp_filters", instrument.perp_filters.as_ref()).map_err(bad)?,
    })
}

/// The position as a competitor for an early exit (fff-core's exit priority): per-leg notional
/// at mark, funding per `selection.rate_period_hours`, and the borrow rate scaled to the same
/// period (0 when the gateway has none). `None` when the position or instrument is malformed.
pub fn exit_candidate(
    position: &ex::Position,
    instrument: &gw::Instrument,
    selection: &PairSelectionParams,
) -> Option<ExitCandidate> {
    let legs = hedge_inputs(position).ok()?;
    let mark = parse_decimal("mark_price", &instrument.mark_price).ok()?;
    let funding = parse_decimal("last_funding_rate", &instrument.last_funding_rate).ok()?;
    let interval =
        parse_funding_interval("funding_interval_hours", instrument.funding_interval_hours).ok()?;
    let borrow_hourly = parse_optional_decimal(
        "base_borrow_rate_hourly",
        &instrument.base_borrow_rate_hourly,
    )
    .ok()?
    .unwrap_or(Decimal::ZERO);
    let period = selection.rate_period_hours;
    Some(ExitCandidate {
        symbol: position.symbol.clone(),
        direction: legs.direction,
        notional: legs.perp_qty.abs().saturating_mul(mark),
        funding_rate: normalize_funding_rate(funding, interval, period),
        borrow_rate: borrow_rate_for_period(borrow_hourly, period),
    })
}

fn action(
    decision: &RebalanceDecision,
    position: &ex::Position,
    ctx: &ReviewContext<'_>,
) -> Option<pb::Action> {
    let mut action = pb::Action {
        action_id: crate::actions::new_id(),
        run_id: ctx.run_id.to_owned(),
        symbol: position.symbol.clone(),
        position_id: position.position_id.clone(),
        reason: decision.detail.clone(),
        priority: priority(decision.priority) as i32,
        issued_at: datetime_to_timestamp(ctx.now),
        expires_at: ctx
            .now
            .checked_add_signed(ctx.action_ttl)
            .and_then(datetime_to_timestamp),
        reason_code: reason(decision.reason) as i32,
        ..pb::Action::default()
    };
    let trade = |action: &mut pb::Action, kind: pb::ActionKind, venue: Venue, side: Side, qty| {
        action.kind = kind as i32;
        action.venue = common::Venue::from(venue) as i32;
        action.side = common::Side::from(side) as i32;
        action.quantity = decimal_to_string(qty);
    };
    match decision.action {
        Action::None => return None,
        Action::AdjustSmallerLeg { venue, side, qty } => {
            let kind = match venue {
                Venue::SpotMargin => pb::ActionKind::AdjustSpot,
                Venue::UsdmPerp => pb::ActionKind::AdjustFutures,
            };
            trade(&mut action, kind, venue, side, qty);
        }
        Action::EmergencyRebalance { venue, side, qty } => {
            trade(
                &mut action,
                pb::ActionKind::EmergencyRebalance,
                venue,
                side,
                qty,
            );
        }
        Action::Flip { to } => {
            action.kind = pb::ActionKind::Flip as i32;
            action.flip_to = common::Direction::from(to) as i32;
        }
        Action::Close => action.kind = pb::ActionKind::Close as i32,
    }
    Some(action)
}

fn priority(priority: Priority) -> pb::ActionPriority {
    match priority {
        Priority::Low => pb::ActionPriority::Low,
        Priority::Normal => pb::ActionPriority::Normal,
        Priority::High => pb::ActionPriority::High,
        Priority::Critical => pb::ActionPriority::Critical,
    }
}

fn reason(reason: Reason) -> pb::Reason {
    match reason {
        Reason::NoPosition => pb::Reason::NoPosition,
        Reason::WithinThreshold => pb::Reason::WithinThreshold,
        Reason::BelowMinTrade => pb::Reason::BelowMinTrade,
        Reason::BelowExchangeMinimum => pb::Reason::BelowExchangeMinimum,
        Reason::Drift => pb::Reason::Drift,
        Reason::EmergencyDrift => pb::Reason::EmergencyDrift,
        Reason::FundingReversed => pb::Reason::FundingReversed,
        Reason::FundingBelowBorrow => pb::Reason::FundingBelowBorrow,
        Reason::BasisDivergence => pb::Reason::BasisDivergence,
        Reason::ReversalNotPersisted => pb::Reason::ReversalNotPersisted,
        Reason::CheaperToHoldThanExit => pb::Reason::CheaperToHoldThanExit,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    pub(crate) fn leg(venue: common::Venue, side: common::Side, qty: &str) -> ex::Leg {
        ex::Leg {
            venue: venue as i32,
            side: side as i32,
            quantity: qty.into(),
            ..ex::Leg::default()
        }
    }

    pub(crate) fn position(spot: &str, perp: &str) -> ex::Position {
        ex::Position {
            position_id: "p-1".into(),
            symbol: "BTCUSDT".into(),
            direction: common::Direction::PositiveCarry as i32,
            status: PositionStatus::Open as i32,
            spot_leg: Some(leg(common::Venue::SpotMargin, common::Side::Buy, spot)),
            perp_leg: Some(leg(common::Venue::UsdmPerp, common::Side::Sell, perp)),
            ..ex::Position::default()
        }
    }

    pub(crate) fn instrument(funding: &str) -> gw::Instrument {
        let filters = |step: &str, notional: &str| common::SymbolFilters {
            tick_size: "0.1".into(),
            step_size: step.into(),
            min_qty: step.into(),
            max_qty: "1000".into(),
            min_notional: notional.into(),
            ..common::SymbolFilters::default()
        };
        gw::Instrument {
            symbol: "BTCUSDT".into(),
            spot_filters: Some(filters("0.00001", "5")),
            perp_filters: Some(filters("0.001", "100")),
            funding_interval_hours: 8,
            last_funding_rate: funding.into(),
            mark_price: "100000".into(),
            base_borrow_rate_hourly: "0.00001".into(),
            updated_at: datetime_to_timestamp(Utc::now()),
            ..gw::Instrument::default()
        }
    }

    fn no_history() -> &'static std::collections::HashMap<String, Vec<Decimal>> {
        static EMPTY: std::sync::OnceLock<std::collections::HashMap<String, Vec<Decimal>>> =
            std::sync::OnceLock::new();
        EMPTY.get_or_init(std::collections::HashMap::new)
    }

    fn ctx<'a>(
        params: &'a RebalanceParams,
        selection: &'a PairSelectionParams,
    ) -> ReviewContext<'a> {
        ReviewContext {
            recent_funding: no_history(),
            params,
            selection,
            entries_allowed: true,
            run_id: "run-1",
            now: Utc::now(),
            max_data_age: Duration::seconds(120),
            action_ttl: Duration::seconds(120),
            dry_run: false,
        }
    }

    #[test]
    fn drift_adjusts_the_smaller_leg_with_the_right_quantity() {
        let (params, selection) = (RebalanceParams::default(), PairSelectionParams::default());
        let review = review_position(
            &position("1.05", "1.0"),
            Some(&instrument("0.0001")),
            &ctx(&params, &selection),
        );
        assert_eq!(
            review.decision,
            pb::Decision::Act as i32,
            "{}",
            review.detail
        );
        assert_eq!(review.spot_qty, "1.05");
        assert_eq!(review.perp_qty, "-1.0");
        assert_eq!(review.drift, "0.04761905");
        // 0.01 % per 8 h = 10.95 % a year, earned by a positive-carry hedge
        assert_eq!(review.funding_apr, "0.1095");
        assert_eq!(review.borrow_apr, "0");
        let action = &review.actions[0];
        assert_eq!(action.kind, pb::ActionKind::AdjustFutures as i32);
        assert_eq!(action.venue, common::Venue::UsdmPerp as i32);
        assert_eq!(action.side, common::Side::Sell as i32);
        assert_eq!(action.quantity, "0.05");
        assert_eq!(action.priority, pb::ActionPriority::Normal as i32);
        assert_eq!(action.reason_code, pb::Reason::Drift as i32);
        assert_eq!(action.run_id, "run-1");
    }

    #[test]
    fn emergency_drift_is_critical_and_ignores_the_minimum_trade() {
        let params = RebalanceParams {
            min_trade_usdt: dec!(1000000),
            ..RebalanceParams::default()
        };
        let selection = PairSelectionParams::default();
        // spot 0.8 vs perp 1.0: drift 20 % > 10 %, buy 0.2 spot
        let review = review_position(
            &position("0.8", "1.0"),
            Some(&instrument("0.0001")),
            &ctx(&params, &selection),
        );
        let action = &review.actions[0];
        assert_eq!(action.kind, pb::ActionKind::EmergencyRebalance as i32);
        assert_eq!(action.venue, common::Venue::SpotMargin as i32);
        assert_eq!(action.side, common::Side::Buy as i32);
        assert_eq!(action.quantity, "0.2");
        assert_eq!(action.priority, pb::ActionPriority::Critical as i32);
        assert_eq!(review.reason_code, pb::Reason::EmergencyDrift as i32);
    }

    #[test]
    fn reversal_flips_or_closes_and_dry_run_suppresses() {
        let (params, selection) = (RebalanceParams::default(), PairSelectionParams::default());
        let mut c = ctx(&params, &selection);
        // 0.04 % per 8 h flipped repays the round trip and the 0.2 % admission margin in a week
        let reversed = instrument("-0.0004");
        // one settlement against the hedge: held through
        let one = std::collections::HashMap::from([(
            "BTCUSDT".to_owned(),
            vec![Decimal::new(-3, 4), Decimal::new(1, 4)],
        )]);
        c.recent_funding = &one;
        let review = review_position(&position("1", "1"), Some(&reversed), &c);
        assert_eq!(
            review.decision,
            pb::Decision::Hold as i32,
            "{}",
            review.detail
        );
        assert!(review.actions.is_empty());
        // two in a row: a reversal
        let two = std::collections::HashMap::from([(
            "BTCUSDT".to_owned(),
            vec![Decimal::new(-3, 4), Decimal::new(-2, 4), Decimal::new(1, 4)],
        )]);
        c.recent_funding = &two;
        let review = review_position(&position("1", "1"), Some(&reversed), &c);
        assert_eq!(review.actions[0].kind, pb::ActionKind::Flip as i32);
        assert_eq!(
            review.actions[0].flip_to,
            common::Direction::NegativeCarry as i32
        );
        c.entries_allowed = false;
        c.dry_run = true;
        let review = review_position(&position("1", "1"), Some(&reversed), &c);
        assert_eq!(review.actions[0].kind, pb::ActionKind::Close as i32);
        assert_eq!(review.decision, pb::Decision::Suppressed as i32);
    }

    #[test]
    fn a_basis_break_closes_at_once() {
        let (params, selection) = (RebalanceParams::default(), PairSelectionParams::default());
        let mut broken = instrument("0.0001");
        // perp 100000 vs index 99000: 1 % apart
        broken.index_price = "99000".into();
        let review = review_position(
            &position("1", "1"),
            Some(&broken),
            &ctx(&params, &selection),
        );
        assert_eq!(review.actions[0].kind, pb::ActionKind::Close as i32);
        assert_eq!(review.reason_code, pb::Reason::BasisDivergence as i32);
    }

    #[test]
    fn hedged_stale_or_busy_positions_are_not_acted_on() {
        let (params, selection) = (RebalanceParams::default(), PairSelectionParams::default());
        let c = ctx(&params, &selection);
        let review = review_position(&position("1", "1"), Some(&instrument("0.0001")), &c);
        assert_eq!(review.decision, pb::Decision::Hold as i32);
        assert!(review.actions.is_empty());

        let mut stale = instrument("0.0001");
        stale.updated_at = datetime_to_timestamp(Utc::now() - Duration::seconds(600));
        let review = review_position(&position("1", "0.5"), Some(&stale), &c);
        assert_eq!(review.decision, pb::Decision::Skipped as i32);
        assert!(review.detail.contains("old"), "{}", review.detail);

        let mut busy = position("1", "0.5");
        busy.status = PositionStatus::Closing as i32;
        let review = review_position(&busy, Some(&instrument("0.0001")), &c);
        assert_eq!(review.decision, pb::Decision::Skipped as i32);

        let mut broken = position("1", "0.5");
        broken.spot_leg.as_mut().unwrap().quantity = "abc".into();
        let review = review_position(&broken, Some(&instrument("0.0001")), &c);
        assert!(
            review.detail.contains("spot_leg.quantity"),
            "{}",
            review.detail
        );

        let review = review_position(&position("1", "0.5"), None, &c);
        assert!(review.detail.contains("universe"), "{}", review.detail);
    }

    #[test]
    fn negative_carry_reports_borrow_cost() {
        let (params, selection) = (RebalanceParams::default(), PairSelectionParams::default());
        let mut short_spot = position("1", "1");
        short_spot.direction = common::Direction::NegativeCarry as i32;
        short_spot.spot_leg = Some(leg(common::Venue::SpotMargin, common::Side::Sell, "1"));
        short_spot.perp_leg = Some(leg(common::Venue::UsdmPerp, common::Side::Buy, "1"));
        let review = review_position(
            &short_spot,
            Some(&instrument("-0.0003")),
            &ctx(&params, &selection),
        );
        assert_eq!(
            review.decision,
            pb::Decision::Hold as i32,
            "{}",
            review.detail
        );
        assert_eq!(review.borrow_rate_hourly, "0.00001");
        assert_eq!(review.borrow_apr, "0.0876");
        assert_eq!(review.funding_apr, "0.3285");
        assert_eq!(review.net_carry_apr, "0.2409");
        assert_eq!(dec!(0.3285) - dec!(0.0876), dec!(0.2409));
        // as an exit candidate: earns 0.03 % and pays 0.008 % borrow per 8 h on 100 000
        let candidate = exit_candidate(&short_spot, &instrument("-0.0003"), &selection).unwrap();
        assert_eq!(candidate.notional, dec!(100000));
        assert_eq!(candidate.borrow_rate, dec!(0.00008));
        assert_eq!(candidate.expected_loss(), dec!(-22));
        let mut hourly = instrument("-0.0003");
        hourly.funding_interval_hours = 1;
        let candidate = exit_candidate(&short_spot, &hourly, &selection).unwrap();
        assert_eq!(candidate.funding_rate, dec!(-0.0024));
    }
}
