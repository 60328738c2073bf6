//! Start-up reconciliation: converge the database and the exchange after a crash.
//!
//! 1. Every unfinished order (INTENT, SENT, UNKNOWN, ACKED, PARTIALLY_FILLED) is looked up at
//!    the gateway by client order id. Found: its real state is recorded (a still-working order
//!    is cancelled first, so nothing keeps trading behind our back). Not found after a second
//!    look: the intent never reached the exchange and is closed as EXPIRED; its step is never
//!    reused because new ids count the position's orders.
//! 2. Every live position's legs are recomputed from its orders. An interrupted entry or
//!    adjustment with a naked leg is hedged (smaller leg brought to the larger); one with
//!    nothing filled is FAILED; an interrupted exit is resumed.
//! 3. The perp positions at the exchange are compared with the database and any difference
//!    is reported (and logged) as a mismatch.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fff_core::filters::floor_to_step;
use fff_proto::fff::executor::v1::Initiator;
use fff_store::{OrderStatus, OrderUpdate, PositionState};
use rust_decimal::Decimal;

use crate::engine::orders::{NEVER_SENT, update_from};
use crate::engine::{Engine, Urgency};
use crate::error::Result;
use crate::exchange::ExchangeError;
use crate::legs::{SignedLegs, core_direction, core_venue};

/// What reconciliation found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    pub orders_checked: u32,
    pub orders_updated: u32,
    pub orders_never_sent: u32,
    pub positions_checked: u32,
    pub positions_repaired: u32,
    /// Repairs that could not balance the legs (the position is flagged broken).
    pub repairs_failed: u32,
    pub positions_failed: u32,
    pub exits_resumed: u32,
    /// Differences between the database and the exchange after convergence.
    pub mismatches: Vec<String>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl ReconcileReport {
    pub fn summary(&self) -> String {
        format!(
            "orders checked {} updated {} never sent {}; positions checked {} repaired {} \
             repairs failed {} failed {} exits resumed {}; mismatches {}",
            self.orders_checked,
            self.orders_updated,
            self.orders_never_sent,
            self.positions_checked,
            self.positions_repaired,
            self.repairs_failed,
            self.positions_failed,
            self.exits_resumed,
            if self.mismatches.is_empty() {
                "none".to_owned()
            } else {
                self.mismatches.join("; ")
            }
        )
    }
}

const SECOND_LOOK: Duration = Duration::from_millis(500);
const ACCOUNT_SETTLE: Duration = Duration::from_millis(1500);

/// Compares the database with the exchange again (perps, spot legs, loans) and updates the
/// symbols whose entries are blocked; returns the mismatches. Runs periodically after the
/// start-up reconciliation.
pub async fn recheck(engine: &Engine) -> Result<Vec<String>> {
    let started = std::time::Instant::now();
    let mut report = ReconcileReport::default();
    compare_with_exchange(engine, &mut report).await?;
    if !report.mismatches.is_empty() {
        tokio::time::sleep(ACCOUNT_SETTLE).await;
        report.mismatches.clear();
        compare_with_exchange(engine, &mut report).await?;
    }
    // A symbol traded during the looks (or just before them) differs only because the account
    // view lags the books (an exit filling slice by slice): it is judged on a later look, and
    // its earlier verdict stands until then.
    let since = started.checked_sub(ACCOUNT_SETTLE).unwrap_or(started);
    let worked = |m: &String| {
        m.split_whitespace()
            .next()
            .is_some_and(|symbol| engine.symbol_worked_since(symbol, since))
    };
    let (previous, _) = engine.mismatch_view();
    report.mismatches.retain(|m| !worked(m));
    report
        .mismatches
        .extend(previous.into_iter().filter(|m| worked(m)));
    engine.set_mismatched(&report.mismatches);
    if !report.mismatches.is_empty() {
        tracing::error!(mismatches = %report.mismatches.join("; "), "database and exchange differ: entries on these symbols are blocked");
        crate::alerts::reconciliation_mismatch(&report.mismatches, "periodic");
    }
    Ok(report.mismatches)
}

pub async fn reconcile(engine: &Arc<Engine>) -> Result<ReconcileReport> {
    let mut report = ReconcileReport::default();
    reconcile_orders(engine, &mut report).await?;
    reconcile_positions(engine, &mut report).await?;
    compare_with_exchange(engine, &mut report).await?;
    if !report.mismatches.is_empty() {
        // the gateway answers GetAccount from a snapshot up to `exchange.account_max_age_ms`
        // old: look again before reporting a difference
        tokio::time::sleep(ACCOUNT_SETTLE).await;
        report.mismatches.clear();
        compare_with_exchange(engine, &mut report).await?;
    }
    report.completed_at = Some(Utc::now());
    engine.set_mismatched(&report.mismatches);
    fff_runtime::metrics::counter_add(
        "fff_executor_reconciliations_total",
        "Full reconciliations run, by outcome.",
        &[(
            "outcome",
            if report.mismatches.is_empty() {
                "clean"
            } else {
                "mismatch"
            },
        )],
        1.0,
    );
    if report.mismatches.is_empty() {
        tracing::info!(summary = %report.summary(), "reconciliation complete");
    } else {
        tracing::error!(summary = %report.summary(), "reconciliation found mismatches");
        crate::alerts::reconciliation_mismatch(&report.mismatches, "start-up");
    }
    engine.set_reconcile_report(report.clone());
    Ok(report)
}

async fn reconcile_orders(engine: &Engine, report: &mut ReconcileReport) -> Result<()> {
    let orders = engine.store().list_unfinished_orders().await?;
    resolve_orders(engine, orders, report).await
}

/// Resolves unfinished orders that nobody has followed for `min_age` (an entry that hit an
/// unknown outcome, a task that died): asks the gateway as at start-up, then evens out the
/// legs of the positions they belong to. Runs periodically, so a naked leg does not wait for
/// the next restart. Returns the number of orders resolved.
pub async fn sweep_stale_orders(engine: &Arc<Engine>, min_age: Duration) -> Result<u32> {
    let cutoff = Utc::now() - chrono::Duration::from_std(min_age).unwrap_or_default();
    let stale: Vec<fff_store::Order> = engine
        .store()
        .list_unfinished_orders()
        .await?
        .into_iter()
        .filter(|o| o.updated_at < cutoff)
        .collect();
    if stale.is_empty() {
        return Ok(0);
    }
    let mut positions: Vec<i64> = stale.iter().filter_map(|o| o.position_id).collect();
    positions.sort_unstable();
    positions.dedup();
    let mut report = ReconcileReport::default();
    resolve_orders(engine, stale, &mut report).await?;
    let max_drift = engine.params().execution.max_entry_leg_drift;
    for id in positions {
        let Some(position) = engine.store().get_position(id).await? else {
            continue;
        };
        if position.state.is_terminal() {
            continue;
        }
        let _guard = engine.lock_symbol(&position.symbol).await;
        let direction = core_direction(position.direction);
        let legs =
            SignedLegs::from_orders(direction, &engine.store().list_position_orders(id).await?);
        engine
            .store()
            .update_position_legs(id, &legs.to_store())
            .await?;
        if matches!(
            position.state,
            PositionState::Open | PositionState::Rebalancing
        ) && legs.drift() > max_drift
            && let Some(why) = repair(engine, &position, direction, legs, max_drift).await?
        {
            let message = format!("broken: repair failed: {why}");
            tracing::error!(symbol = %position.symbol, position_id = id, %message, "naked leg left");
            crate::alerts::repair_failed(&position.symbol, id, &message);
            engine
                .store()
                .set_position_state(id, position.state, Some(&message))
                .await?;
        }
    }
    tracing::warn!(
        resolved = report.orders_updated + report.orders_never_sent,
        "stale orders resolved"
    );
    Ok(report.orders_updated + report.orders_never_sent)
}

/// Looks an order up until the venue has it or its intent is older than the executor's order
/// timeout (the venue refuses a request older than its recvWindow, 5 s by default, below that
/// timeout): `Some` once the venue reports it, `None` when it can no longer arrive.
async fn wait_for_landing(
    engine: &Engine,
    venue: fff_core::Venue,
    order: &fff_store::Order,
) -> Result<Option<crate::exchange::OrderReport>> {
    let timeout = chrono::Duration::from_std(engine.params().order_timeout).unwrap_or_default();
    loop {
        if let Some(found) = engine
            .exchange
            .get_order(venue, &order.symbol, &order.client_order_id)
            .await?
            && (found.exchange_order_id.is_some()
                || !found.executed_qty.is_zero()
                || found.status != OrderStatus::Unknown)
        {
            return Ok(Some(found));
        }
        if Utc::now() - order.updated_at >= timeout {
            return Ok(None);
        }
        tokio::time::sleep(SECOND_LOOK).await;
    }
}

async fn resolve_orders(
    engine: &Engine,
    orders: Vec<fff_store::Order>,
    report: &mut ReconcileReport,
) -> Result<()> {
    let store = engine.store();
    for order in orders {
        if engine.ahead.holds(&order.client_order_id) {
            // a hedge written with its perp that a running entry is about to send
            continue;
        }
        report.orders_checked += 1;
        let venue = core_venue(order.venue);
        let mut found = engine
            .exchange
            .get_order(venue, &order.symbol, &order.client_order_id)
            .await?;
        if found.is_none() {
            // a send racing our death may land a moment later
            tokio::time::sleep(SECOND_LOOK).await;
            found = engine
                .exchange
                .get_order(venue, &order.symbol, &order.client_order_id)
                .await?;
        }
        // the gateway answers PENDING for an id it sent without an answer (a 429/418) or still
        // holds in its queue; a cancel then withdraws it, or the venue does not know it
        let mut never_sent = false;
        match found {
            Some(mut exchange_order) => {
                if !exchange_order.status.is_terminal() {
                    match engine
                        .exchange
                        .cancel_order(venue, &order.symbol, &order.client_order_id)
                        .await
                    {
                        Ok(()) => {}
                        // the venue does not know it; a request sent moments ago (the
                        // executor died with it in flight) may still land within the venue's
                        // recvWindow: look again until the intent is older than that
                        Err(ExchangeError::Rejected(_))
                            if exchange_order.exchange_order_id.is_none()
                                && exchange_order.executed_qty.is_zero() =>
                        {
                            match wait_for_landing(engine, venue, &order).await? {
                                Some(landed) => {
                                    // it reached the venue after all: cancel what rests
                                    if !landed.status.is_terminal() {
                                        let _ = engine
                                            .exchange
                                            .cancel_order(
                                                venue,
                                                &order.symbol,
                                                &order.client_order_id,
                                            )
                                            .await;
                                    }
                                    exchange_order = landed;
                                }
                                None => never_sent = true,
                            }
                        }
                        // one order the venue cannot be asked about now (a ban, a storm) must
                        // not stop the reconciliation of the others: the stale sweep retries it
                        Err(err) => {
                            tracing::warn!(client_order_id = %order.client_order_id, error = %err, "cancel during reconciliation failed; left to the stale-order sweep");
                            continue;
                        }
                    }
                    if !never_sent
                        && let Some(after) = engine
                            .exchange
                            .get_order(venue, &order.symbol, &order.client_order_id)
                            .await?
                    {
                        exchange_order = after;
                    }
                }
                if never_sent {
                    let update = OrderUpdate {
                        error: Some(format!("{NEVER_SENT}: not at the venue after a restart")),
                        executed_qty: Some(Decimal::ZERO),
                        ..OrderUpdate::status(OrderStatus::Expired)
                    };
                    store.update_order(&order.client_order_id, &update).await?;
                    report.orders_never_sent += 1;
                    continue;
                }
                store
                    .update_order(&order.client_order_id, &update_from(&exchange_order))
                    .await?;
                report.orders_updated += 1;
                tracing::info!(
                    client_order_id = %order.client_order_id,
                    symbol = %order.symbol,
                    status = %exchange_order.status,
                    executed = %exchange_order.executed_qty,
                    "reconciled order"
                );
            }
            None => {
                let update = OrderUpdate {
                    error: Some("never reached the exchange before a restart".to_owned()),
                    executed_qty: Some(Decimal::ZERO),
                    ..OrderUpdate::status(OrderStatus::Expired)
                };
                store.update_order(&order.client_order_id, &update).await?;
                report.orders_never_sent += 1;
                tracing::warn!(
                    client_order_id = %order.client_order_id,
                    symbol = %order.symbol,
                    "order intent never sent; closed"
                );
            }
        }
    }
    Ok(())
}

async fn reconcile_positions(engine: &Arc<Engine>, report: &mut ReconcileReport) -> Result<()> {
    let store = engine.store();
    let max_drift = engine.params().execution.max_entry_leg_drift;
    for position in store.list_live_positions().await? {
        report.positions_checked += 1;
        // directive and action work waits for reconciliation, but an entry could still be
        // finishing in this process (a retried reconciliation): never race it
        let guard = engine.lock_symbol(&position.symbol).await;
        let direction = core_direction(position.direction);
        let orders = store.list_position_orders(position.id).await?;
        let legs = SignedLegs::from_orders(direction, &orders);
        store
            .update_position_legs(position.id, &legs.to_store())
            .await?;
        if position.state == PositionState::Closing {
            drop(guard);
            report.exits_resumed += 1;
            let engine = Arc::clone(engine);
            let id = position.id;
            engine.clone().spawn("resumed exit", async move {
                engine
                    .run_exit(id, Urgency::High, Initiator::Reconciliation)
                    .await
                    .map(|_| ())
            });
            continue;
        }
        if legs.spot.is_zero() && legs.perp.is_zero() {
            if position.state == PositionState::Opening {
                store
                    .set_position_state(
                        position.id,
                        PositionState::Failed,
                        Some("entry interrupted by a restart before any fill"),
                    )
                    .await?;
                report.positions_failed += 1;
            }
            continue;
        }
        let mut broken = None;
        let mut repaired = false;
        if legs.drift() > max_drift {
            match repair(engine, &position, direction, legs, max_drift).await? {
                None => repaired = true,
                Some(why) => {
                    report.repairs_failed += 1;
                    broken = Some(why);
                }
            }
        }
        let after = SignedLegs::from_orders(direction, &engine.position_orders(position.id).await?);
        if broken.is_none() && after.spot.is_zero() && after.perp.is_zero() {
            // the hedge could not complete and the perp was unwound: nothing is left
            store
                .update_position_legs(position.id, &after.to_store())
                .await?;
            store
                .set_position_state(
                    position.id,
                    PositionState::Failed,
                    Some("hedge could not complete after a restart; perp unwound"),
                )
                .await?;
            report.positions_failed += 1;
            continue;
        }
        if repaired {
            report.positions_repaired += 1;
        }
        if let Some(why) = broken {
            let message = format!("broken: repair failed: {why}");
            tracing::error!(symbol = %position.symbol, position_id = position.id, %message, "naked leg left");
            crate::alerts::repair_failed(&position.symbol, position.id, &message);
            store
                .set_position_state(position.id, PositionState::Open, Some(&message))
                .await?;
        } else if position.state != PositionState::Open {
            store
                .set_position_state(position.id, PositionState::Open, None)
                .await?;
        }
    }
    Ok(())
}

/// Orders a repair may send per leg before it gives up.
const REPAIR_ATTEMPTS: u32 = 3;

/// Balances the legs after a restart. An entry that was interrupted is hedged (the smaller leg
/// grown to the larger), bounded; if the hedge cannot complete, or if a risk cut or an exit had
/// already reduced the position, the larger leg is cut down to the smaller instead: a repair
/// never re-opens what risk or an exit took away. `None` when the legs are balanced afterwards,
/// else why not.
async fn repair(
    engine: &Arc<Engine>,
    position: &fff_store::Position,
    direction: fff_core::Direction,
    legs: SignedLegs,
    max_drift: Decimal,
) -> Result<Option<String>> {
    let id = position.id;
    let orders = engine.position_orders(id).await?;
    // exits (`x`, maker `m`) and risk reductions (`d`) have run on this position
    let reduced = orders.iter().any(|o| {
        o.executed_qty > Decimal::ZERO
            && o.client_order_id
                .rsplit('-')
                .next()
                .is_some_and(|step| matches!(step.get(1..2), Some("x" | "m" | "d")))
    });
    let instrument = engine.exchange.instrument(&position.symbol).await?;
    let step_of = |venue| match venue {
        fff_core::Venue::SpotMargin => instrument.spot.effective_step().unwrap_or(Decimal::ZERO),
        fff_core::Venue::UsdmPerp => instrument.perp.effective_step().unwrap_or(Decimal::ZERO),
    };
    let mut legs = legs;
    let mut last_error = String::new();
    if !reduced && let Some(grow) = fff_core::smaller_leg_adjustment(legs.spot, legs.perp) {
        tracing::warn!(symbol = %position.symbol, spot = %legs.spot, perp = %legs.perp, "naked leg after restart; hedging");
        for _ in 0..REPAIR_ATTEMPTS {
            let qty = floor_to_step(
                fff_core::smaller_leg_adjustment(legs.spot, legs.perp)
                    .map_or(Decimal::ZERO, |a| a.qty),
                step_of(grow.venue),
            );
            if qty <= Decimal::ZERO {
                break;
            }
            let order = engine
                .trade_leg(id, direction, &position.symbol, grow.venue, grow.side, qty)
                .await?;
            if let Some(error) = order.error {
                last_error = error;
            }
            legs = SignedLegs::from_orders(direction, &engine.position_orders(id).await?);
            if legs.drift() <= max_drift {
                return Ok(None);
            }
        }
    }
    // cut the larger leg down to the smaller one
    tracing::warn!(symbol = %position.symbol, spot = %legs.spot, perp = %legs.perp, reduced, "cutting the larger leg to the smaller");
    for _ in 0..REPAIR_ATTEMPTS {
        let (venue, larger, smaller) = if legs.spot.abs() > legs.perp.abs() {
            (fff_core::Venue::SpotMargin, legs.spot, legs.perp)
        } else {
            (fff_core::Venue::UsdmPerp, legs.perp, legs.spot)
        };
        let qty = floor_to_step(larger.abs() - smaller.abs(), step_of(venue));
        if qty <= Decimal::ZERO {
            break;
        }
        let side = if larger > Decimal::ZERO {
            fff_core::Side::Sell
        } else {
            fff_core::Side::Buy
        };
        let order = engine
            .trade_leg(id, direction, &position.symbol, venue, side, qty)
            .await?;
        if let Some(error) = order.error {
            last_error = error;
        }
        legs = SignedLegs::from_orders(direction, &engine.position_orders(id).await?);
        if legs.drift() <= max_drift {
            return Ok(None);
        }
    }
    if legs.drift() <= max_drift {
        return Ok(None);
    }
    Ok(Some(format!(
        "spot {} vs perp {} after {REPAIR_ATTEMPTS} attempts per leg: {last_error}",
        legs.spot, legs.perp
    )))
}

/// Relative difference tolerated between the venue's net holding of an asset and the books'
/// spot leg less the base-asset commission and interest booked against it: interest charged
/// but not yet listed by the venue's history (one hour's, a few millionths) and rounding.
const SPOT_TOLERANCE: Decimal = Decimal::from_parts(1, 0, 0, false, 3);

/// The same while some spot buy's fills are not booked yet, so its commission (0.1 % of the
/// buy at the default tier, more for a buy-back that repays a loan) is not known.
const SPOT_TOLERANCE_UNBOOKED: Decimal = Decimal::from_parts(2, 0, 0, false, 2);

/// The books' spot leg, as the venue should hold it, and the venue's net holding differ by
/// more than `tolerance` of the larger and more than `dust`, a quantity no spot order could
/// trade: the loan-shortfall buy of an exit over-buys by its headroom and leaves such a
/// remainder (0.006 SOL, under a dollar), which must not block the symbol.
fn spot_differs(ours: Decimal, theirs: Decimal, tolerance: Decimal, dust: Decimal) -> bool {
    let allowed = (ours.abs().max(theirs.abs()) * tolerance).max(dust);
    (ours - theirs).abs() > allowed
}

/// The largest spot quantity of `instrument` that no order can trade: below one lot step, the
/// minimum quantity or the minimum notional at the mark.
fn untradable_below(instrument: &crate::exchange::InstrumentInfo) -> Decimal {
    let spot = &instrument.spot;
    let by_notional = if instrument.mark_price > Decimal::ZERO {
        spot.min_notional
            .checked_div(instrument.mark_price)
            .unwrap_or_default()
    } else {
        Decimal::ZERO
    };
    spot.effective_step()
        .unwrap_or_default()
        .max(spot.min_qty)
        .max(by_notional)
}

/// The books' signed spot leg of one base asset and what the venue took in that asset.
struct BookedSpot {
    symbol: String,
    leg: Decimal,
    /// Commission paid and interest charged in the base asset.
    charged: Decimal,
    /// Some buy's commission is not booked yet.
    unbooked: bool,
}

impl BookedSpot {
    fn new(symbol: &str) -> Self {
        Self {
            symbol: symbol.to_owned(),
            leg: Decimal::ZERO,
            charged: Decimal::ZERO,
            unbooked: false,
        }
    }

    /// The net holding the venue should show, and the tolerance to judge it with. Commission
    /// and interest both lower the net (a long holds less, a short owes more); repaying a loan
    /// does not change it.
    fn expected(&self) -> (Decimal, Decimal) {
        let tolerance = if self.unbooked {
            SPOT_TOLERANCE_UNBOOKED
        } else {
            SPOT_TOLERANCE
        };
        (self.leg - self.charged, tolerance)
    }
}

async fn compare_with_exchange(engine: &Engine, report: &mut ReconcileReport) -> Result<()> {
    // a snapshot taken before fills the books already hold would differ by them
    let account = engine.account_as_booked().await?;
    let positions = engine.store().list_live_positions().await?;
    let bases: Vec<(i64, String)> = positions
        .iter()
        .filter_map(|p| Some((p.id, p.symbol.strip_suffix("USDT")?.to_owned())))
        .collect();
    let charges: BTreeMap<i64, fff_store::BaseCharges> = engine
        .store()
        .spot_base_charges(&bases)
        .await?
        .into_iter()
        .map(|c| (c.position_id, c))
        .collect();
    let mut db_perp: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut db_spot: BTreeMap<String, BookedSpot> = BTreeMap::new();
    for position in positions {
        let orders = engine.store().list_position_orders(position.id).await?;
        let legs = SignedLegs::from_orders(core_direction(position.direction), &orders);
        *db_perp.entry(position.symbol.clone()).or_default() += legs.perp;
        if let Some(base) = position.symbol.strip_suffix("USDT") {
            let entry = db_spot
                .entry(base.to_owned())
                .or_insert_with(|| BookedSpot::new(&position.symbol));
            entry.leg += legs.spot;
            if let Some(charges) = charges.get(&position.id) {
                entry.charged += charges.commission + charges.interest;
                entry.unbooked |= charges.unbooked_buys > 0;
            }
        }
    }
    // spot legs and loans: the margin account's net holding of each base asset must match the
    // database's spot leg less what the venue took in the asset, and no asset may stay
    // borrowed without a live position owing it
    for (asset, booked) in &db_spot {
        let symbol = &booked.symbol;
        let theirs = account.margin.get(asset).map_or(Decimal::ZERO, |a| a.net);
        let dust = match engine.exchange.instrument(symbol).await {
            Ok(instrument) => untradable_below(&instrument),
            Err(_) => Decimal::ZERO,
        };
        let (expected, tolerance) = booked.expected();
        if spot_differs(expected, theirs, tolerance, dust) {
            report.mismatches.push(format!(
                "{symbol} spot: database {} less {} charged in {asset} = {expected}, \
                 cross margin net {theirs} {asset}",
                booked.leg, booked.charged
            ));
        }
    }
    for (asset, holding) in &account.margin {
        if asset != "USDT" && holding.borrowed > Decimal::ZERO && !db_spot.contains_key(asset) {
            report.mismatches.push(format!(
                "{asset}USDT loan: {} {asset} borrowed with no live position owing it",
                holding.borrowed
            ));
        }
    }
    if let Some(usdt) = account.margin.get("USDT")
        && usdt.borrowed > Decimal::ZERO
        && !engine.params.capital.spot_usdt_borrow
    {
        report.mismatches.push(format!(
            "USDT loan: {} USDT borrowed while capital.spot_usdt_borrow is off",
            usdt.borrowed
        ));
    }
    let mut symbols: Vec<&String> = db_perp
        .keys()
        .chain(account.perp_positions.keys())
        .collect();
    symbols.sort();
    symbols.dedup();
    for symbol in symbols {
        let ours = db_perp.get(symbol).copied().unwrap_or_default();
        let theirs = account
            .perp_positions
            .get(symbol)
            .copied()
            .unwrap_or_default();
        if ours != theirs {
            report
                .mismatches
                .push(format!("{symbol} perp: database {ours}, exchange {theirs}"));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
