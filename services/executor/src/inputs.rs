//! Following the risk directives and rebalancer actions.
//!
//! Directives come first: they have their own task, set the entry halt before any order work
//! starts (a running TWAP entry checks it between slices), and their reductions and closes run
//! even while the kill switch is on. Replayed directives (sent again after a reconnect) restore
//! the halt state and a standing CLOSE_ALL; replayed reductions are not applied twice. Each
//! directive is acknowledged to risk with its outcome once its work has finished.

use std::sync::Arc;
use std::time::Duration;

use fff_core::{Side, Venue};
use fff_proto::convert::parse_optional_decimal;
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
                while let Some(message) = stream.message().await? {
                    let Some(directive) = message.directive else { continue };
                    after = after.max(directive.sequence);
                    apply_directive(&engine, &client, directive, message.replayed, deleverage_fraction)
                        .await;
                }
                Ok::<_, tonic::Status>(())
            } => result,
        };
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
        let mut failures = Vec::new();
        match kind {
            risk::DirectiveKind::Reduce | risk::DirectiveKind::EmergencyDeleverage => {
                let fraction = fraction.unwrap_or(deleverage_fraction);
                for position in &live {
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
                for position in &live {
                    if let Err(err) = engine
                        .run_close_now(position, Urgency::Immediate, &detail)
                        .await
                    {
                        failures.push(format!("{}: {err}", position.symbol));
                    }
                }
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
                while let Some(message) = stream.message().await? {
                    if message.replayed {
                        continue;
                    }
                    if let Some(action) = message.action {
                        apply_action(&engine, action).await;
                    }
                }
                Ok::<_, tonic::Status>(())
            } => result,
        };
        if let Err(status) = result {
            tracing::debug!(error = %status.message(), "action stream ended; reconnecting");
        }
        if !backoff(&cancel, &mut delay).await {
            return;
        }
    }
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
            if let Err(err) = engine
                .close(&position, Urgency::Normal, Initiator::Rebalancer, &detail)
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
