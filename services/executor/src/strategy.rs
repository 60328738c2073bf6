//! From the merged opportunity ranking to position changes, with the decision core:
//! [`fff_core::allocate`] sizes the ranked pairs with the capital model (both legs paid for,
//! reserve, pair cap, max pairs), then [`fff_core::plan_turnover`] keeps held pairs unless
//! replacing them pays for the round trip. The plan is pure ([`plan`]); [`run`] applies it: new
//! targets are opened (after risk approval and with both wallets funded), replaced pairs
//! closed, and held pairs whose entry stopped short of their target (slippage guard) are topped
//! up, with a per-symbol backoff. Held pairs are never cut here (that is the rebalancer's and
//! risk's job), and a held pair the scanner stops ranking (or ranks the other way) is not
//! replaced for that: a predicted reversal is the rebalancer's to act on, with its hysteresis.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use fff_core::{
    Allocation, CapitalModel, CarryPosition, Direction, SwitchCosts, Symbol, allocate, held_carry,
    plan_turnover,
};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::executor::v1::Initiator;
use fff_proto::fff::scanner::v1 as scan;
use fff_scanner::merge::MergedView;
use fff_store::Position;
use futures_util::FutureExt as _;
use rust_decimal::Decimal;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::approval::Approver;
use crate::engine::{Engine, Funding, Urgency};
use crate::error::Result;
use crate::legs::core_direction;

/// Round-trip cost assumed when comparing a held pair with a replacement: taker fees on two
/// legs plus slippage, per side.
const ENTRY_COST: Decimal = Decimal::from_parts(2, 0, 0, false, 3);
const EXIT_COST: Decimal = Decimal::from_parts(2, 0, 0, false, 3);
/// Carry is an APR; a replacement must pay for itself within a week.
const HORIZON_YEARS: Decimal = Decimal::from_parts(192, 0, 0, false, 4);
/// Re-plan at least this often even without new snapshots (equity moves).
const REPLAN_EVERY: Duration = Duration::from_secs(5);
/// Equity read from the gateway is reused this long: snapshots may arrive every second and
/// GetAccount costs exchange request weight.
const EQUITY_MAX_AGE: Duration = Duration::from_secs(10);

/// A qualified opportunity, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub symbol: Symbol,
    pub direction: Direction,
    /// Expected net APR (fraction).
    pub carry: Decimal,
}

pub fn candidates(opportunities: &[scan::Opportunity]) -> Vec<Candidate> {
    opportunities
        .iter()
        .filter(|o| o.qualified)
        .filter_map(|o| {
            let direction = match common::Direction::try_from(o.direction).ok()? {
                common::Direction::PositiveCarry => Direction::PositiveCarry,
                common::Direction::NegativeCarry => Direction::NegativeCarry,
                common::Direction::Unspecified => return None,
            };
            Some(Candidate {
                symbol: Symbol::parse(&o.symbol).ok()?,
                direction,
                carry: o.expected_net_apr.parse().unwrap_or(Decimal::ZERO),
            })
        })
        .collect()
}

/// What to change.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub allocation: Allocation,
    /// Target per pair after turnover: symbol, direction, per-leg notional.
    pub targets: Vec<(Symbol, Direction, Decimal)>,
    /// Targets without a live position.
    pub entries: Vec<(Symbol, Direction, Decimal)>,
    /// Held positions replaced by better pairs.
    pub exits: Vec<i64>,
    /// Held positions short of their target: position id, symbol, direction, notional to add.
    pub top_ups: Vec<TopUp>,
}

/// A held position to grow back to its target (its entry stopped early).
#[derive(Debug, Clone, PartialEq)]
pub struct TopUp {
    pub position_id: i64,
    pub symbol: Symbol,
    pub direction: Direction,
    /// Per-leg notional to add.
    pub notional: Decimal,
    /// Per-leg notional held when planned.
    pub held: Decimal,
}

/// `held_notional` is each held position's current per-leg notional (by position id); a held
/// position that the plan keeps and that stands more than `resize_band` below its target gets
/// a [`TopUp`] (positions flagged broken are left to repair).
pub fn plan(
    equity: Decimal,
    ranked: &[Candidate],
    held: &[Position],
    held_notional: &HashMap<i64, Decimal>,
    model: &CapitalModel,
    max_pairs: u32,
    resize_band: Decimal,
) -> Result<Plan> {
    // the ranking's candidate for a held pair, if it ranks it the way it is held
    let ranked_as_held = |p: &Position| {
        ranked
            .iter()
            .find(|c| c.symbol.as_str() == p.symbol && c.direction == core_direction(p.direction))
    };
    let pairs: Vec<(Symbol, Direction)> = ranked
        .iter()
        .map(|c| (c.symbol.clone(), c.direction))
        .collect();
    let allocation = allocate(equity, &pairs, model, max_pairs)?;
    let by_symbol: HashMap<&str, &Candidate> =
        ranked.iter().map(|c| (c.symbol.as_str(), c)).collect();
    let proposed: Vec<CarryPosition> = allocation
        .targets
        .iter()
        .map(|t| CarryPosition {
            symbol: t.symbol.clone(),
            notional: t.notional,
            expected_carry: by_symbol
                .get(t.symbol.as_str())
                .map_or(Decimal::ZERO, |c| c.carry),
        })
        .collect();
    let held_carry: Vec<CarryPosition> = held
        .iter()
        .filter_map(|p| {
            let symbol = Symbol::parse(&p.symbol).ok()?;
            // A held pair the scanner no longer ranks, or ranks the other way, is a predicted
            // reversal: whether to exit is the rebalancer's call (its persistence and
            // cheaper-to-hold checks), not the strategy's. It is never replaceable here
            // (`fff_core::held_carry`, the backtester's rule too); it keeps the slot of the
            // weakest entrant.
            let carry = held_carry(ranked_as_held(p).map(|c| c.carry));
            Some(CarryPosition {
                symbol,
                notional: p.target_notional,
                expected_carry: carry,
            })
        })
        .collect();
    let turnover = plan_turnover(
        &held_carry,
        &proposed,
        &SwitchCosts {
            entry_cost_rate: ENTRY_COST,
            exit_cost_rate: EXIT_COST,
            horizon_periods: HORIZON_YEARS,
        },
    );
    let held_by_symbol: HashMap<&str, &Position> =
        held.iter().map(|p| (p.symbol.as_str(), p)).collect();
    let mut targets = Vec::new();
    let mut entries = Vec::new();
    let mut top_ups = Vec::new();
    for target in &turnover.targets {
        let direction = match held_by_symbol.get(target.symbol.as_str()) {
            Some(position) => core_direction(position.direction),
            None => match by_symbol.get(target.symbol.as_str()) {
                Some(candidate) => candidate.direction,
                None => continue,
            },
        };
        targets.push((target.symbol.clone(), direction, target.notional));
        match held_by_symbol.get(target.symbol.as_str()) {
            None => entries.push((target.symbol.clone(), direction, target.notional)),
            Some(position) => {
                let broken = position
                    .last_error
                    .as_deref()
                    .is_some_and(|e| e.starts_with("broken"));
                let now = held_notional.get(&position.id).copied().unwrap_or_default();
                let floor = target.notional * (Decimal::ONE - resize_band);
                let missing = (target.notional - now).trunc_with_scale(2);
                // grown only while the scanner still ranks it the way it is held
                if position.state == fff_store::PositionState::Open
                    && !broken
                    && ranked_as_held(position).is_some()
                    && now < floor
                    && missing > Decimal::ZERO
                {
                    top_ups.push(TopUp {
                        position_id: position.id,
                        symbol: target.symbol.clone(),
                        direction,
                        notional: missing,
                        held: now,
                    });
                }
            }
        }
    }
    let exits = turnover
        .replaced
        .iter()
        .filter_map(|(out, _)| held_by_symbol.get(out.as_str()).map(|p| p.id))
        .collect();
    Ok(Plan {
        allocation,
        targets,
        entries,
        exits,
        top_ups,
    })
}

/// The last plan, for GetAllocation.
#[derive(Debug, Clone)]
pub struct LastPlan {
    pub plan: Plan,
    pub computed_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct PlanCell(Mutex<Option<LastPlan>>);

impl PlanCell {
    pub fn get(&self) -> Option<LastPlan> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, plan: Plan) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(LastPlan {
            plan,
            computed_at: Utc::now(),
        });
    }
}

/// Applies the plan on every merged snapshot (and every few seconds) until cancelled.
pub async fn run(
    engine: Arc<Engine>,
    approver: Arc<dyn Approver>,
    mut view: watch::Receiver<MergedView>,
    max_pairs: u32,
    last: Arc<PlanCell>,
    cancel: CancellationToken,
) {
    let mut equity: Option<(Decimal, Instant)> = None;
    loop {
        let received = Instant::now();
        let (opportunities, traceparent) = {
            let merged = view.borrow_and_update();
            (merged.opportunities.clone(), newest_traceparent(&merged))
        };
        // continues the trace of the scan cycle that produced the ranking (carried in the
        // snapshot: the stream's gRPC metadata is per stream, not per message)
        let span = tracing::info_span!(parent: None, "executor.decision", opportunities = opportunities.len());
        fff_runtime::telemetry::set_parent_from_traceparent(&span, &traceparent);
        if !opportunities.is_empty()
            && let Err(err) = step(
                &engine,
                approver.as_ref(),
                &opportunities,
                max_pairs,
                &last,
                received,
                &mut equity,
            )
            .instrument(span)
            .await
        {
            tracing::warn!(error = %err, "allocation step failed");
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            changed = view.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(REPLAN_EVERY) => {}
        }
    }
}

/// The `traceparent` of the most recently computed shard snapshot that carries one.
fn newest_traceparent(view: &MergedView) -> String {
    view.shards
        .iter()
        .filter(|s| !s.traceparent.is_empty())
        .max_by_key(|s| s.computed_at.as_ref().map(|t| (t.seconds, t.nanos)))
        .map(|s| s.traceparent.clone())
        .unwrap_or_default()
}

/// Ranked pairs whose perp settings (margin type, leverage) are set ahead of any entry.
const PREPARE_AHEAD: usize = 8;

async fn step(
    engine: &Arc<Engine>,
    approver: &dyn Approver,
    opportunities: &[scan::Opportunity],
    max_pairs: u32,
    last: &PlanCell,
    received: Instant,
    equity_cache: &mut Option<(Decimal, Instant)>,
) -> Result<()> {
    let ranked = candidates(opportunities);
    let equity = match equity_cache {
        Some((equity, at)) if at.elapsed() < EQUITY_MAX_AGE => *equity,
        _ => {
            let equity = engine.exchange.account().await?.equity;
            *equity_cache = Some((equity, Instant::now()));
            equity
        }
    };
    let held = engine.live_positions().await?;
    let held_notional: HashMap<i64, Decimal> = held
        .iter()
        .map(|p| {
            let price = engine
                .mark(&p.symbol)
                .or(p.perp_entry_price)
                .or(p.spot_entry_price)
                .unwrap_or_default();
            (p.id, p.spot_qty.abs().min(p.perp_qty.abs()) * price)
        })
        .collect();
    let plan = plan(
        equity,
        &ranked,
        &held,
        &held_notional,
        &engine.params.model,
        max_pairs,
        engine.params.execution.entry_resize_band,
    )?;
    last.set(plan.clone());
    if engine.entry_block().is_some() {
        return Ok(());
    }
    let head: Vec<&str> = ranked
        .iter()
        .take(PREPARE_AHEAD)
        .map(|candidate| candidate.symbol.as_str())
        .collect();
    engine.prepare_ahead(&head);
    for id in &plan.exits {
        if let Some(position) = held.iter().find(|p| p.id == *id) {
            engine
                .close(
                    position,
                    Urgency::Normal,
                    Initiator::Strategy,
                    "replaced by a better pair",
                )
                .await?;
        }
    }
    for top_up in &plan.top_ups {
        if engine
            .cooldowns
            .remaining(top_up.symbol.as_str(), Instant::now())
            .is_some()
        {
            continue;
        }
        let approval = match approver
            .approve(
                top_up.symbol.as_str(),
                top_up.direction,
                top_up.notional,
                engine.params.leverage,
                "strategy: resume entry to target",
            )
            .await
        {
            Ok(approval) if approval.approved => approval,
            Ok(refused) => {
                tracing::info!(symbol = %top_up.symbol, reasons = ?refused.reasons, "top-up refused by risk");
                continue;
            }
            Err(err) => {
                tracing::warn!(symbol = %top_up.symbol, error = %err, "risk approval unavailable");
                continue;
            }
        };
        let notional = approval.notional.min(top_up.notional);
        engine.top_up(top_up.position_id, top_up.held + notional);
    }
    // every planned entry asks risk and opens at once: one after another, the last pair's
    // order waited for each earlier pair's approval and position row (fff bench)
    let ready: Vec<_> = plan
        .entries
        .iter()
        .filter(|(symbol, _, _)| {
            engine
                .cooldowns
                .remaining(symbol.as_str(), Instant::now())
                .is_none()
        })
        .collect();
    // one wallet check for the whole batch, while the pairs ask risk: checked by each entry,
    // it was serialised across them and the longest step on the way to the order (fff bench)
    let funding = batch_funding(engine, &ready).shared();
    let entries = ready
        .iter()
        .map(|&pair| enter_pair(engine, approver, pair, received, funding.clone()));
    futures_util::future::join_all(entries).await;
    Ok(())
}

/// One planned entry: asks risk while the batch's wallet check (`funding`) and the pair's
/// perp settings run, then opens what risk approved.
async fn enter_pair(
    engine: &Arc<Engine>,
    approver: &dyn Approver,
    (symbol, direction, notional): &(Symbol, Direction, Decimal),
    received: Instant,
    funding: impl std::future::Future<Output = Funding>,
) {
    // margin type and leverage too: harmless if risk refuses, two REST calls otherwise on the
    // first entry in a symbol (the slowest entries of fff bench); and the instrument the entry
    // sizes from, a gateway round trip fewer between the approval and the perp order
    let settings = async {
        if let Err(err) = engine
            .prepare_perp(symbol.as_str(), engine.params.leverage)
            .await
        {
            tracing::debug!(symbol = %symbol, error = %err, "perp settings not set ahead; the entry sets them");
        }
    };
    let prepare = async {
        futures_util::join!(
            engine.read_instrument_ahead(symbol.as_str(), *direction),
            settings
        );
    };
    // the position row is written as soon as risk approves (from its budget: at once), while
    // the wallet check still runs: one PostgreSQL commit less on the way to the order
    let approve_and_create = async {
        let approval = match approver
            .approve(
                symbol.as_str(),
                *direction,
                *notional,
                engine.params.leverage,
                "strategy",
            )
            .await
        {
            Ok(approval) if approval.approved => approval,
            Ok(refused) => {
                tracing::info!(symbol = %symbol, reasons = ?refused.reasons, "entry refused by risk");
                return None;
            }
            Err(err) => {
                tracing::warn!(symbol = %symbol, error = %err, "risk approval unavailable");
                return None;
            }
        };
        let notional = approval.notional.min(*notional);
        if notional < engine.params.capital.min_position_usdt {
            return None;
        }
        let created = engine
            .create_opening(
                symbol.as_str(),
                *direction,
                notional,
                None,
                Initiator::Strategy,
                "top-ranked opportunity",
                Some(approval.approval_id),
                Some(received),
            )
            .await;
        match created {
            Ok(position) => Some(position),
            Err(crate::error::ExecutorError::Store(
                fff_store::StoreError::LivePositionExists { .. },
            )) => None,
            Err(err) => {
                tracing::warn!(symbol = %symbol, error = %err, "entry not started");
                None
            }
        }
    };
    let (created, funding, ()) = futures_util::join!(approve_and_create, funding, prepare);
    if let Some(position) = created {
        engine.start_entry(&position, Initiator::Strategy, funding);
    }
}

/// Funds the wallets for every entry of `batch` at once (their hedge capital on top of the live
/// positions'); each entry checks for itself if this fails.
pub(crate) async fn batch_funding(
    engine: &Engine,
    batch: &[&(Symbol, Direction, Decimal)],
) -> Funding {
    if batch.is_empty() {
        return Funding::Check;
    }
    let mut pending = fff_core::HedgeCapital::default();
    for (_, direction, notional) in batch {
        match engine.params.model.hedge_capital(*notional, *direction) {
            Ok(capital) => pending = pending.plus(capital),
            Err(_) => return Funding::Check,
        }
    }
    match engine.fund_wallets_seen(pending).await {
        Ok((_, seen)) => Funding::Done(seen.map(Box::new)),
        Err(err) => {
            tracing::warn!(error = %err, "wallet funding before the entries failed");
            Funding::Check
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn candidate(symbol: &str, carry: Decimal) -> Candidate {
        Candidate {
            symbol: Symbol::parse(symbol).unwrap(),
            direction: Direction::PositiveCarry,
            carry,
        }
    }

    fn held(id: i64, symbol: &str, notional: Decimal) -> Position {
        Position {
            id,
            symbol: symbol.into(),
            direction: fff_store::Direction::LongSpotShortPerp,
            state: fff_store::PositionState::Open,
            spot_qty: Decimal::ONE,
            spot_entry_price: None,
            perp_qty: Decimal::ONE,
            perp_entry_price: None,
            target_notional: notional,
            leverage: 5,
            opened_at: None,
            closed_at: None,
            last_error: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn model() -> CapitalModel {
        CapitalModel::new(&Default::default(), &Default::default()).unwrap()
    }

    #[test]
    fn empty_book_enters_the_top_ranked_pairs_within_caps() {
        let ranked = [
            candidate("AAAUSDT", dec!(0.30)),
            candidate("BBBUSDT", dec!(0.20)),
            candidate("CCCUSDT", dec!(0.10)),
            candidate("DDDUSDT", dec!(0.05)),
        ];
        let m = model();
        let plan = plan(
            dec!(10000),
            &ranked,
            &[],
            &HashMap::new(),
            &m,
            10,
            dec!(0.1),
        )
        .unwrap();
        assert!(plan.exits.is_empty());
        assert!(plan.top_ups.is_empty());
        assert_eq!(plan.entries.len(), plan.targets.len());
        assert_eq!(plan.entries[0].0.as_str(), "AAAUSDT");
        // pair cap: 30 % of equity in capital, spot cash + perp margin = 1.23 per unit notional
        let cap = plan
            .allocation
            .pair_notional_cap(&m, Direction::PositiveCarry);
        assert_eq!(cap, dec!(2439.02));
        assert!(plan.entries.iter().all(|(_, _, n)| *n <= cap));
        let total: Decimal = plan.entries.iter().map(|(_, _, n)| *n).sum();
        assert_eq!(total, plan.allocation.total_notional);
        assert!(plan.allocation.capital.total() <= dec!(8500));
        assert!(plan.allocation.utilization >= dec!(0.80));
    }

    #[test]
    fn held_pairs_are_kept_unless_replacing_pays() {
        let m = model();
        let ranked = [
            candidate("AAAUSDT", dec!(0.50)),
            candidate("BBBUSDT", dec!(0.40)),
            candidate("CCCUSDT", dec!(0.35)),
            candidate("EEEUSDT", dec!(0.30)),
            candidate("DDDUSDT", dec!(0.01)),
        ];
        // held DDD is still ranked, beyond max_pairs, at a carry far below the weakest
        // entrant's: the switch pays for its round trip within the horizon, so it is replaced
        let book = [held(6, "DDDUSDT", dec!(2000))];
        let replaced = plan(
            dec!(10000),
            &ranked,
            &book,
            &HashMap::new(),
            &m,
            4,
            dec!(0.1),
        )
        .unwrap();
        assert_eq!(replaced.exits, vec![6]);
        // the weakest entrant that fits (CCC: the capital budget takes three pairs) enters
        assert!(
            replaced
                .entries
                .iter()
                .any(|(s, _, _)| s.as_str() == "CCCUSDT"),
            "{replaced:?}"
        );
        // a small improvement does not pay: DDD at 0.20 against CCC at 0.35 is kept
        let close = [
            candidate("AAAUSDT", dec!(0.50)),
            candidate("BBBUSDT", dec!(0.40)),
            candidate("CCCUSDT", dec!(0.35)),
            candidate("EEEUSDT", dec!(0.30)),
            candidate("DDDUSDT", dec!(0.20)),
        ];
        let kept = plan(
            dec!(10000),
            &close,
            &book,
            &HashMap::new(),
            &m,
            4,
            dec!(0.1),
        )
        .unwrap();
        assert!(kept.exits.is_empty());
        assert!(kept.targets.iter().any(|(s, _, _)| s.as_str() == "DDDUSDT"));
        // held XXX is no longer ranked (a predicted reversal or a lost qualification): the
        // strategy does not close it for that, whatever the entrants pay; reversal and
        // negative-carry exits are the rebalancer's (with its persistence and cost checks).
        // It keeps a slot (the weakest entrant's) and is not topped up.
        let book = [held(7, "XXXUSDT", dec!(2000))];
        let unranked = plan(
            dec!(10000),
            &ranked,
            &book,
            &HashMap::from([(7, dec!(100))]),
            &m,
            4,
            dec!(0.1),
        )
        .unwrap();
        assert!(unranked.exits.is_empty(), "{unranked:?}");
        assert!(
            unranked
                .targets
                .iter()
                .any(|(s, _, _)| s.as_str() == "XXXUSDT")
        );
        assert!(
            unranked
                .entries
                .iter()
                .all(|(s, _, _)| s.as_str() != "XXXUSDT")
        );
        assert!(unranked.top_ups.is_empty());
        // held CCC ranked the other way (the scanner predicts a reversal): not closed either,
        // and not grown while the ranking disagrees with it
        let mut against = ranked.clone();
        against[2].direction = Direction::NegativeCarry;
        let book = [held(9, "CCCUSDT", dec!(2000))];
        let reversed = plan(
            dec!(10000),
            &against,
            &book,
            &HashMap::from([(9, dec!(100))]),
            &m,
            2,
            dec!(0.1),
        )
        .unwrap();
        assert!(reversed.exits.is_empty(), "{reversed:?}");
        assert!(reversed.top_ups.is_empty());
        // held CCC still ranked: kept, not re-entered
        let book = [held(8, "CCCUSDT", dec!(2000))];
        let full = HashMap::from([(8, dec!(2000))]);
        let kept = plan(dec!(10000), &ranked, &book, &full, &m, 4, dec!(0.1)).unwrap();
        assert!(kept.exits.is_empty());
        assert!(kept.entries.iter().all(|(s, _, _)| s.as_str() != "CCCUSDT"));
        assert!(kept.top_ups.is_empty());
    }

    #[test]
    fn a_held_pair_short_of_its_target_is_topped_up_unless_broken() {
        let m = model();
        let ranked = [candidate("AAAUSDT", dec!(0.30))];
        let book = [held(9, "AAAUSDT", dec!(2000))];
        // the slippage guard stopped the entry at 600 of 2000
        let short = HashMap::from([(9, dec!(600))]);
        let p = plan(dec!(10000), &ranked, &book, &short, &m, 4, dec!(0.1)).unwrap();
        assert_eq!(p.top_ups.len(), 1);
        assert_eq!(p.top_ups[0].position_id, 9);
        // up to the plan's current target for the pair (2439.02 at 10k equity)
        assert_eq!(p.top_ups[0].notional, dec!(1839.02));
        // within the band: left alone
        let close = HashMap::from([(9, dec!(2250))]);
        let p = plan(dec!(10000), &ranked, &book, &close, &m, 4, dec!(0.1)).unwrap();
        assert!(p.top_ups.is_empty());
        // a broken position is repaired, not grown
        let mut broken = held(9, "AAAUSDT", dec!(2000));
        broken.last_error = Some("broken: one leg left after entry".into());
        let p = plan(dec!(10000), &ranked, &[broken], &short, &m, 4, dec!(0.1)).unwrap();
        assert!(p.top_ups.is_empty());
        // the plan dropped it: no top-up either
        let p = plan(dec!(10000), &[], &book, &short, &m, 4, dec!(0.1)).unwrap();
        assert!(p.top_ups.is_empty());
    }
}
