//! Following the risk directives and rebalancer actions.
//!
//! Directives come first: they have their own task, set the entry halt before any order work
//! starts (a running TWAP entry checks it between slices), and their reductions and closes run
//! even while the kill switch is on. Replayed directives (sent again after a reconnect) restore
//! the halt state and a standing CLOSE_ALL; replayed reductions are not applied twice. Each
//! directive is acknowledged to risk with its outcome once its work has finished.
//!
//! Exit priority: a CLOSE_ALL, REDUCE or EMERGENCY_DELEVERAGE works through the positions one at
//! a time in fff-core's exit order ([`fff_core::priority`]): the highest expected loss per
//! period first (notional at mark × funding paid against the hedge + borrow cost of a negative
//! carry), ties by larger notional, then symbol. Funding and mark come from the exchange
//! (`instrument`), the funding interval from the `instruments` table, the borrow rate from the
//! position's latest cross-margin interest charge (`borrow_interest.interest_rate`, hourly); a
//! missing input counts as 0 and the lookups are bounded by [`PRIORITY_LOOKUP_TIMEOUT`], so a
//! slow gateway never delays a cut by more than that.
//!
//! Rebalancer actions are handled highest `priority` first: actions arriving within
//! [`ACTION_BATCH_WINDOW`] of each other (one run's emission) form a batch, sorted by priority
//! (stable: the rebalancer's own order, which puts the costlier exit first, is kept within a
//! priority). Expired actions (`expires_at` passed) are skipped, as the contract says.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fff_core::priority::{ExitCandidate, exit_order};
use fff_core::rates::{borrow_rate_for_period, normalize_funding_rate};
use fff_core::{Direction, FundingInterval, Side, Venue};
use fff_proto::convert::{parse_optional_decimal, timestamp_to_datetime};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::executor::v1::Initiator;
use fff_proto::fff::rebalancer::v1 as rb;
use fff_proto::fff::rebalancer::v1::rebalancer_client::RebalancerClient;
use fff_proto::fff::risk::v1 as risk;
use fff_runtime::telemetry::ClientInterceptor;
use fff_store::Position;
use rust_decimal::Decimal;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::approval::RiskClientT;
use crate::engine::{Engine, LegOrder, Urgency};
use crate::legs::core_direction;

/// Longest wait for the funding, mark and borrow lookups that order a directive's positions;
/// past it the positions not looked up yet count with funding and borrow 0.
pub const PRIORITY_LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Rebalancer actions arriving within this time of the first one are handled as one batch,
/// highest priority first. A run emits its actions back to back, so this gathers them.
pub const ACTION_BATCH_WINDOW: Duration = Duration::from_millis(20);

/// Longest wait for one exit of a close-all to write its first order (or end) before the next
/// starts: an exit writes its first order within milliseconds on a quiet machine, but 250 ms
/// was too short on a loaded one and the venue saw the exits out of order.
const EXIT_STAGGER_MAX: Duration = Duration::from_secs(2);
const EXIT_STAGGER_POLL: Duration = Duration::from_millis(5);

/// Common period the exit priority compares rates over (any common period gives the same order).
const RATE_PERIOD_HOURS: u32 = 8;

pub type RebalancerClientT = RebalancerClient<InterceptedService<Channel, ClientInterceptor>>;

async fn backoff(cancel: &CancellationToken, delay: &mut Duration) -> bool {
    tokio::select! {
        () = cancel.cancelled() => return false,
        () = tokio::time::sleep(*delay) => {}
    }
    *delay = (*delay * 2).min(Duration::from_secs(5));
    true
}

/// Follows StreamDirectives until cancelled, reconnecting after the last sequence seen.
pub async fn follow_directives(
    engine: Arc<Engine>,
    client: RiskClientT,
    deleverage_fraction: Decimal,
    cancel: CancellationToken,
) {
    let mut after = 0u64;
    let mut delay = Duration::from_millis(200);
    loop {
        let result = tokio::select! {
            () = cancel.cancelled() => return,
            result = async {
                let mut stream = client
                    .clone()
                    .stream_directives(risk::StreamDirectivesRequest { after_sequence: after })
                    .await?
                    .into_inner();
                fff_alerts::dependency_up("risk");
                while let Some(message) = stream.message().await? {
                    let Some(directive) = message.directive else { continue };
                    after = after.max(directive.sequence);
                    apply_directive(&engine, &client, directive, message.replayed, deleverage_fraction)
                        .await;
                }
                Ok::<_, tonic::Status>(())
            } => result,
        };
        fff_alerts::dependency_down(
            "risk",
            result
                .as_ref()
                .err()
                .map_or("directive stream ended", |s| s.message()),
            "risk directives (cuts, halts) are not received; entries need risk approval",
        );
        if let Err(status) = result {
            tracing::debug!(error = %status.message(), "directive stream ended; reconnecting");
        }
        if !backoff(&cancel, &mut delay).await {
            return;
        }
    }
}

fn targets(positions: Vec<Position>, symbols: &[String]) -> Vec<Position> {
    positions
        .into_iter()
        .filter(|p| symbols.is_empty() || symbols.contains(&p.symbol))
        .collect()
}

pub async fn apply_directive(
    engine: &Arc<Engine>,
    client: &RiskClientT,
    directive: risk::Directive,
    replayed: bool,
    deleverage_fraction: Decimal,
) {
    let kind = risk::DirectiveKind::try_from(directive.kind).unwrap_or_default();
    tracing::warn!(
        directive_id = %directive.directive_id,
        ?kind,
        replayed,
        reason = %directive.reason,
        "risk directive"
    );
    let detail = format!("directive {}: {}", directive.directive_id, directive.reason);
    match kind {
        risk::DirectiveKind::HaltEntries => engine.set_risk_halt(true, &directive.reason),
        risk::DirectiveKind::Resume => engine.set_risk_halt(false, &directive.reason),
        risk::DirectiveKind::EmergencyDeleverage | risk::DirectiveKind::CloseAll => {
            engine.set_risk_halt(true, &directive.reason);
        }
        _ => {}
    }
    // A replayed cut may already have been applied before a reconnect or restart: cutting
    // again would compound it. CLOSE_ALL is idempotent, so it is obeyed again.
    if replayed
        && matches!(
            kind,
            risk::DirectiveKind::Reduce | risk::DirectiveKind::EmergencyDeleverage
        )
    {
        return;
    }
    let live = match engine.live_positions().await {
        Ok(live) => targets(live, &directive.symbols),
        Err(err) => {
            tracing::error!(error = %err, "cannot read positions for a directive");
            ack(
                client,
                &directive.directive_id,
                risk::DirectiveOutcome::Failed,
                &err.to_string(),
            )
            .await;
            return;
        }
    };
    let fraction = parse_optional_decimal("reduce_fraction", &directive.reduce_fraction)
        .ok()
        .flatten();
    let engine = Arc::clone(engine);
    let client = client.clone();
    let id = directive.directive_id.clone();
    engine.clone().spawn("directive", async move {
        engine.wait_reconciled().await;
        let live = in_exit_order(&engine, live).await;
        let mut failures = Vec::new();
        match kind {
            risk::DirectiveKind::Reduce | risk::DirectiveKind::EmergencyDeleverage
                if fraction.unwrap_or(deleverage_fraction) >= Decimal::ONE =>
            {
                failures = close_all_in_order(&engine, &live, &detail).await;
            }
            risk::DirectiveKind::Reduce | risk::DirectiveKind::EmergencyDeleverage => {
                let fraction = fraction.unwrap_or(deleverage_fraction);
                for position in &live {
                    if engine.close_alls.load(std::sync::atomic::Ordering::SeqCst) > 0 {
                        failures.push(format!("{}: superseded by a close-all", position.symbol));
                        continue;
                    }
                    let result = if fraction >= Decimal::ONE {
                        engine
                            .run_close_now(position, Urgency::Immediate, &detail)
                            .await
                    } else {
                        engine
                            .reduce(position, fraction, Initiator::Risk, &detail)
                            .await
                    };
                    if let Err(err) = result {
                        failures.push(format!("{}: {err}", position.symbol));
                    }
                }
            }
            risk::DirectiveKind::CloseAll => {
                failures = close_all_in_order(&engine, &live, &detail).await;
            }
            _ => {}
        }
        let outcome = if failures.is_empty() {
            risk::DirectiveOutcome::Completed
        } else if failures.len() < live.len() {
            risk::DirectiveOutcome::Partial
        } else {
            risk::DirectiveOutcome::Failed
        };
        ack(&client, &id, outcome, &failures.join("; ")).await;
        Ok(())
    });
}

/// Closes every position in `live` at once, started in their order: each exit starts when the
/// one before it has written its first exit order (an order's intent is committed before it is
/// sent) or ended, or at most [`EXIT_STAGGER_MAX`] later, so the venue sees the first orders in exit
/// order. Waiting for each exit to end (flat at the venue, loans repaid and checked: seconds)
/// left the later positions open while the marks moved on: a Red tier at coverage 1.75 ended
/// in the venue liquidating the second and third perps while the first exit was still
/// checking its loan. Returns the failures, one line per position.
async fn close_all_in_order(engine: &Arc<Engine>, live: &[Position], detail: &str) -> Vec<String> {
    use tracing::Instrument as _;
    // a partial deleverage beside this one stops at its next position
    struct Running<'a>(&'a std::sync::atomic::AtomicUsize);
    impl Drop for Running<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    engine
        .close_alls
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let _running = Running(&engine.close_alls);
    let mut exits = tokio::task::JoinSet::new();
    for position in live {
        let written = |orders: &[fff_store::Order]| orders.len();
        let before = match engine.store().list_position_orders(position.id).await {
            Ok(orders) => written(&orders),
            Err(_) => usize::MAX,
        };
        let (task_engine, task_position, task_detail) =
            (Arc::clone(engine), position.clone(), detail.to_owned());
        let task = exits.spawn(
            async move {
                task_engine
                    .run_close_now(&task_position, Urgency::Immediate, &task_detail)
                    .await
                    .map_err(|err| format!("{}: {err}", task_position.symbol))
            }
            .instrument(tracing::Span::current()),
        );
        let deadline = tokio::time::Instant::now() + EXIT_STAGGER_MAX;
        while before != usize::MAX && !task.is_finished() && tokio::time::Instant::now() < deadline
        {
            match engine.store().list_position_orders(position.id).await {
                Ok(orders) if written(&orders) > before => break,
                Ok(_) => tokio::time::sleep(EXIT_STAGGER_POLL).await,
                Err(_) => break,
            }
        }
    }
    let mut failures = Vec::new();
    while let Some(joined) = exits.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(failure)) => failures.push(failure),
            Err(err) => failures.push(format!("exit task: {err}")),
        }
    }
    failures
}

/// `positions` in fff-core's exit order (highest expected loss per period first).
pub(crate) async fn in_exit_order(engine: &Arc<Engine>, positions: Vec<Position>) -> Vec<Position> {
    if positions.len() < 2 {
        return positions;
    }
    let mut candidates: Vec<ExitCandidate> = positions.iter().map(fallback_candidate).collect();
    let mut lookups = tokio::task::JoinSet::new();
    for (index, position) in positions.iter().enumerate() {
        let engine = Arc::clone(engine);
        let position = position.clone();
        lookups.spawn(async move { (index, exit_candidate(&engine, &position).await) });
    }
    let deadline = tokio::time::sleep(PRIORITY_LOOKUP_TIMEOUT);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            joined = lookups.join_next() => match joined {
                None => break,
                Some(Ok((index, candidate))) => candidates[index] = candidate,
                Some(Err(err)) => tracing::warn!(error = %err, "exit priority lookup failed"),
            },
            () = &mut deadline => {
                tracing::warn!(
                    pending = lookups.len(),
                    "exit priority lookups timed out: funding and borrow count as 0 for the rest"
                );
                lookups.abort_all();
                break;
            }
        }
    }
    let order = exit_order(&candidates);
    tracing::info!(
        order = ?order
            .iter()
            .map(|&i| format!("{} (loss {})", candidates[i].symbol, candidates[i].expected_loss().round_dp(8)))
            .collect::<Vec<_>>(),
        "exit priority"
    );
    let mut slots: Vec<Option<Position>> = positions.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect()
}

/// What is known without asking anyone: the target notional, funding and borrow 0.
fn fallback_candidate(position: &Position) -> ExitCandidate {
    ExitCandidate {
        symbol: position.symbol.clone(),
        direction: core_direction(position.direction),
        notional: position.target_notional,
        funding_rate: Decimal::ZERO,
        borrow_rate: Decimal::ZERO,
    }
}

/// Funding (per [`RATE_PERIOD_HOURS`]) and notional at mark from the exchange, the borrow rate
/// from the latest interest charge; each missing input keeps the fallback's value.
async fn exit_candidate(engine: &Engine, position: &Position) -> ExitCandidate {
    let mut candidate = fallback_candidate(position);
    // the three lookups at once: the priority is on the way from a tier change to its first cut
    let borrow = async {
        if candidate.direction != Direction::NegativeCarry {
            return None;
        }
        engine
            .store()
            .list_position_interest(position.id)
            .await
            .ok()
            .and_then(|charges| charges.into_iter().rev().find_map(|c| c.interest_rate))
    };
    let (info, stored, hourly) = tokio::join!(
        engine.exchange.instrument(&position.symbol),
        engine.store().get_instrument(&position.symbol),
        borrow,
    );
    match info {
        Ok(info) => {
            let perp = position.perp_qty.abs();
            if !perp.is_zero() && info.mark_price > Decimal::ZERO {
                candidate.notional = perp.saturating_mul(info.mark_price);
            }
            // without a known interval the rate is taken as it is (per 8 h, the period)
            let interval = stored
                .ok()
                .flatten()
                .and_then(|i| u32::try_from(i.funding_interval_hours).ok())
                .and_then(|hours| FundingInterval::from_hours(hours).ok())
                .unwrap_or(FundingInterval::EIGHT_HOURS);
            candidate.funding_rate =
                normalize_funding_rate(info.funding_rate, interval, RATE_PERIOD_HOURS);
        }
        Err(err) => {
            tracing::warn!(symbol = %position.symbol, error = %err, "no funding rate for exit priority");
        }
    }
    if let Some(hourly) = hourly {
        candidate.borrow_rate = borrow_rate_for_period(hourly, RATE_PERIOD_HOURS);
    }
    candidate
}

async fn ack(client: &RiskClientT, id: &str, outcome: risk::DirectiveOutcome, detail: &str) {
    let result = client
        .clone()
        .ack_directive(risk::AckDirectiveRequest {
            directive_id: id.to_owned(),
            outcome: outcome as i32,
            detail: detail.to_owned(),
        })
        .await;
    if let Err(status) = result {
        tracing::warn!(directive_id = id, error = %status.message(), "directive ack failed");
    }
}

/// Follows StreamActions until cancelled.
pub async fn follow_actions(
    engine: Arc<Engine>,
    client: RebalancerClientT,
    cancel: CancellationToken,
) {
    let mut delay = Duration::from_millis(200);
    loop {
        let result = tokio::select! {
            () = cancel.cancelled() => return,
            result = async {
                let mut stream = client
                    .clone()
                    .stream_actions(rb::StreamActionsRequest::default())
                    .await?
                    .into_inner();
                fff_alerts::dependency_up("rebalancer");
                while let Some(first) = stream.message().await? {
                    // gather the rest of the run's emission, then serve the batch by priority
                    let mut batch = vec![first];
                    let deadline = tokio::time::Instant::now() + ACTION_BATCH_WINDOW;
                    let mut end = None;
                    while let Ok(next) = tokio::time::timeout_at(deadline, stream.message()).await {
                        match next {
                            Ok(Some(message)) => batch.push(message),
                            Ok(None) => {
                                end = Some(Ok(()));
                                break;
                            }
                            Err(status) => {
                                end = Some(Err(status));
                                break;
                            }
                        }
                    }
                    let actions = batch
                        .into_iter()
                        .filter(|m| !m.replayed)
                        .filter_map(|m| m.action)
                        .collect();
                    apply_actions(&engine, actions, Utc::now()).await;
                    if let Some(end) = end {
                        return end;
                    }
                }
                Ok::<_, tonic::Status>(())
            } => result,
        };
        fff_alerts::dependency_down(
            "rebalancer",
            result
                .as_ref()
                .err()
                .map_or("action stream ended", |s| s.message()),
            "rebalancer actions (drift, flips, exits on reversal) are not received",
        );
        if let Err(status) = result {
            tracing::debug!(error = %status.message(), "action stream ended; reconnecting");
        }
        if !backoff(&cancel, &mut delay).await {
            return;
        }
    }
}

/// Handles `actions` highest priority first, skipping those expired at `now`.
pub async fn apply_actions(engine: &Arc<Engine>, actions: Vec<rb::Action>, now: DateTime<Utc>) {
    for action in by_priority(actions) {
        if expired(&action, now) {
            tracing::info!(action_id = %action.action_id, symbol = %action.symbol, "expired action skipped");
            continue;
        }
        apply_action(engine, action).await;
    }
}

/// Rank of an action's priority; an unset priority counts as NORMAL.
fn rank(action: &rb::Action) -> i32 {
    match rb::ActionPriority::try_from(action.priority) {
        Ok(rb::ActionPriority::Unspecified) | Err(_) => rb::ActionPriority::Normal as i32,
        Ok(priority) => priority as i32,
    }
}

/// Highest priority first; equal priorities keep their arrival order.
pub fn by_priority(mut actions: Vec<rb::Action>) -> Vec<rb::Action> {
    actions.sort_by_key(|a| std::cmp::Reverse(rank(a)));
    actions
}

/// `expires_at` has passed (an unset or unreadable expiry never expires).
fn expired(action: &rb::Action, now: DateTime<Utc>) -> bool {
    action
        .expires_at
        .as_ref()
        .and_then(|t| timestamp_to_datetime("expires_at", t).ok())
        .is_some_and(|at| at <= now)
}

pub async fn apply_action(engine: &Arc<Engine>, action: rb::Action) {
    engine.wait_reconciled().await;
    let kind = rb::ActionKind::try_from(action.kind).unwrap_or_default();
    let position = match action.position_id.parse::<i64>() {
        Ok(id) => engine.store().get_position(id).await.ok().flatten(),
        Err(_) => engine
            .store()
            .live_position(&action.symbol)
            .await
            .ok()
            .flatten(),
    };
    let Some(position) = position.filter(|p| !p.state.is_terminal()) else {
        tracing::info!(action_id = %action.action_id, symbol = %action.symbol, "action for no live position");
        return;
    };
    let paused = engine.run_state().paused;
    let detail = format!("action {}: {}", action.action_id, action.reason);
    tracing::info!(action_id = %action.action_id, symbol = %position.symbol, ?kind, "rebalancer action");
    match kind {
        rb::ActionKind::AdjustSpot
        | rb::ActionKind::AdjustFutures
        | rb::ActionKind::EmergencyRebalance => {
            if paused && kind != rb::ActionKind::EmergencyRebalance {
                tracing::info!(action_id = %action.action_id, "paused: adjustment skipped");
                return;
            }
            let venue = match common::Venue::try_from(action.venue) {
                Ok(common::Venue::SpotMargin) => Venue::SpotMargin,
                Ok(common::Venue::UsdmPerp) => Venue::UsdmPerp,
                _ if kind == rb::ActionKind::AdjustSpot => Venue::SpotMargin,
                _ => Venue::UsdmPerp,
            };
            let side = match common::Side::try_from(action.side) {
                Ok(common::Side::Buy) => Side::Buy,
                Ok(common::Side::Sell) => Side::Sell,
                _ => return,
            };
            let Some(qty) = parse_optional_decimal("quantity", &action.quantity)
                .ok()
                .flatten()
                .filter(|q| *q > Decimal::ZERO)
            else {
                return;
            };
            let engine = Arc::clone(engine);
            engine.clone().spawn("rebalance", async move {
                engine
                    .apply_leg_order(
                        &position,
                        LegOrder { venue, side, qty },
                        Initiator::Rebalancer,
                        &detail,
                    )
                    .await
            });
        }
        rb::ActionKind::Flip => {
            if paused {
                // no new entries while paused: close instead of flipping
                let _ = engine
                    .close(&position, Urgency::High, Initiator::Rebalancer, &detail)
                    .await;
            } else if let Err(err) = engine.flip(&position, Initiator::Rebalancer, &detail).await {
                tracing::warn!(error = %err, "flip not started");
            }
        }
        rb::ActionKind::Close => {
            // a critical close (basis break) goes to market at once; economic ones are staged
            let urgency = match rb::ActionPriority::try_from(action.priority) {
                Ok(rb::ActionPriority::Critical) => Urgency::Immediate,
                _ => Urgency::Normal,
            };
            if let Err(err) = engine
                .close(&position, urgency, Initiator::Rebalancer, &detail)
                .await
            {
                tracing::warn!(error = %err, "close not started");
            }
        }
        rb::ActionKind::Unspecified => {}
    }
}

#[cfg(test)]
mod tests;
