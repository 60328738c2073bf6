//! One rebalance run: read positions and market data, review each position with fff-core's
//! `decide`, emit the actions, remember the run. Runs never overlap (schedule and TriggerNow
//! queue on one lock).
//!
//! A run's actions are emitted together once every position is reviewed, highest priority
//! first; within a priority, exits (FLIP, CLOSE) go in fff-core's exit order (highest expected
//! funding + borrow loss per period first), before any other action of that priority. The
//! executor serves a batch by priority and keeps this order within one, so in a wave of
//! reversals the costliest hedge is unwound first.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::Utc;
use fff_core::params::{PairSelectionParams, RebalanceParams};
use fff_proto::convert::datetime_to_timestamp;
use fff_proto::fff::rebalancer::v1::{self as pb, RunTrigger};
use fff_runtime::config::RebalancerConfig;
use tonic::Status;
use tracing::Instrument as _;

use std::cmp::Ordering;

use fff_core::priority::{ExitCandidate, compare_exit};

use crate::actions::{ActionLog, new_id};
use crate::review::{ReviewContext, exit_candidate, review_position};
use crate::upstreams::Upstreams;

/// What started a run and how.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub trigger: RunTrigger,
    pub reason: String,
    pub dry_run: bool,
    /// Only these symbols; empty means all live positions.
    pub symbols: Vec<String>,
}

/// Runs rebalances and keeps their results.
#[derive(Debug)]
pub struct Runner<U> {
    upstreams: U,
    params: RebalanceParams,
    selection: PairSelectionParams,
    settings: RebalancerConfig,
    actions: Mutex<ActionLog>,
    last: Mutex<Option<pb::RebalanceRun>>,
    exclusive: tokio::sync::Mutex<()>,
}

impl<U: Upstreams> Runner<U> {
    pub fn new(
        upstreams: U,
        params: RebalanceParams,
        selection: PairSelectionParams,
        settings: RebalancerConfig,
    ) -> Self {
        let capacity = usize::try_from(settings.action_history).unwrap_or(usize::MAX);
        Self {
            upstreams,
            params,
            selection,
            settings,
            actions: Mutex::new(ActionLog::new(capacity)),
            last: Mutex::new(None),
            exclusive: tokio::sync::Mutex::new(()),
        }
    }

    pub fn upstreams(&self) -> &U {
        &self.upstreams
    }

    pub fn actions(&self) -> MutexGuard<'_, ActionLog> {
        self.actions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn last_run(&self) -> Option<pb::RebalanceRun> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs once (after any run in progress) and returns the completed run.
    pub async fn run(&self, request: RunRequest) -> pb::RebalanceRun {
        let _exclusive = self.exclusive.lock().await;
        let run_id = new_id();
        let span = tracing::info_span!(
            "rebalance.run",
            run_id = %run_id,
            trigger = ?request.trigger,
            dry_run = request.dry_run
        );
        let run = self.run_inner(run_id, request).instrument(span).await;
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(run.clone());
        run
    }

    async fn run_inner(&self, run_id: String, request: RunRequest) -> pb::RebalanceRun {
        let started = Utc::now();
        let mut run = pb::RebalanceRun {
            run_id: run_id.clone(),
            trigger: request.trigger as i32,
            trigger_reason: request.reason.clone(),
            dry_run: request.dry_run,
            started_at: datetime_to_timestamp(started),
            ..pb::RebalanceRun::default()
        };
        let timeout = Duration::from_millis(self.settings.upstream_timeout_ms);
        let positions = match bounded(timeout, self.upstreams.live_positions()).await {
            Ok(positions) => positions,
            Err(status) => return self.failed(run, "executor ListPositions", &status),
        };
        let positions: Vec<_> = positions
            .into_iter()
            .filter(|p| request.symbols.is_empty() || request.symbols.contains(&p.symbol))
            .collect();
        let mut symbols: Vec<String> = positions.iter().map(|p| p.symbol.clone()).collect();
        symbols.sort();
        symbols.dedup();
        let instruments = if symbols.is_empty() {
            Vec::new()
        } else {
            match bounded(timeout, self.upstreams.instruments(symbols)).await {
                Ok(instruments) => instruments,
                Err(status) => return self.failed(run, "gateway GetUniverse", &status),
            }
        };
        // without risk's answer a flip could open into a halt: degrade flips to closes
        let entries_allowed = match bounded(timeout, self.upstreams.entries_halted()).await {
            Ok(halted) => !halted,
            Err(status) => {
                tracing::warn!(code = ?status.code(), error = status.message(), "risk unreachable: flips degrade to closes");
                false
            }
        };
        // settled history for the reversal hysteresis; a symbol whose history cannot be read
        // reviews with none (a reversal then counts only beyond the predicted threshold)
        let mut recent_funding = std::collections::HashMap::new();
        for symbol in positions.iter().map(|p| p.symbol.clone()) {
            match bounded(timeout, self.upstreams.recent_funding(symbol.clone())).await {
                Ok(rates) => {
                    recent_funding.insert(symbol, rates);
                }
                Err(status) => {
                    tracing::warn!(%symbol, code = ?status.code(), error = status.message(), "funding history unavailable");
                }
            }
        }
        let now = Utc::now();
        let ctx = ReviewContext {
            recent_funding: &recent_funding,
            params: &self.params,
            selection: &self.selection,
            entries_allowed,
            run_id: &run_id,
            now,
            max_data_age: seconds(self.settings.max_data_age_secs),
            action_ttl: seconds(self.settings.action_ttl_secs),
            dry_run: request.dry_run,
        };
        let mut emit = Vec::new();
        for position in &positions {
            let instrument = instruments.iter().find(|i| i.symbol == position.symbol);
            let review = tracing::info_span!("rebalance.review", symbol = %position.symbol, position_id = %position.position_id)
                .in_scope(|| {
                    let review = review_position(position, instrument, &ctx);
                    tracing::info!(
                        decision = review.decision().as_str_name(),
                        drift = %review.drift,
                        funding_rate = %review.funding_rate,
                        detail = %review.detail,
                        "position reviewed"
                    );
                    review
                });
            if review.decision == pb::Decision::Act as i32 {
                let candidate =
                    instrument.and_then(|i| exit_candidate(position, i, &self.selection));
                for action in &review.actions {
                    let exits =
                        matches!(action.kind(), pb::ActionKind::Flip | pb::ActionKind::Close);
                    emit.push((action.clone(), candidate.clone().filter(|_| exits)));
                }
            }
            run.reviews.push(review);
        }
        let mut log = self.actions();
        for action in emission_order(emit) {
            tracing::warn!(
                symbol = %action.symbol,
                action_id = %action.action_id,
                kind = action.kind().as_str_name(),
                priority = action.priority().as_str_name(),
                quantity = %action.quantity,
                "action emitted"
            );
            log.emit(action);
        }
        drop(log);
        run.finished_at = datetime_to_timestamp(Utc::now());
        run
    }

    fn failed(&self, mut run: pb::RebalanceRun, what: &str, status: &Status) -> pb::RebalanceRun {
        tracing::warn!(upstream = what, code = ?status.code(), error = status.message(), "rebalance run failed");
        run.error = format!("{what} failed: {:?}: {}", status.code(), status.message());
        run.finished_at = datetime_to_timestamp(Utc::now());
        run
    }
}

/// Highest priority first; within a priority, exits in fff-core's exit order, then the other
/// actions in review order (the sort is stable).
fn emission_order(mut actions: Vec<(pb::Action, Option<ExitCandidate>)>) -> Vec<pb::Action> {
    actions.sort_by(|(a, exit_a), (b, exit_b)| {
        b.priority
            .cmp(&a.priority)
            .then_with(|| match (exit_a, exit_b) {
                (Some(x), Some(y)) => compare_exit(x, y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            })
    });
    actions.into_iter().map(|(action, _)| action).collect()
}

fn seconds(secs: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX))
}

async fn bounded<T>(
    timeout: Duration,
    call: impl std::future::Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or_else(|_| Err(Status::deadline_exceeded("upstream call timed out")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::tests::{instrument, position};
    use fff_proto::fff::executor::v1 as ex;
    use fff_proto::fff::gateway::v1 as gw;

    struct Fake {
        positions: Result<Vec<ex::Position>, Status>,
        instruments: Vec<gw::Instrument>,
        halted: Result<bool, Status>,
    }

    impl Upstreams for Fake {
        async fn live_positions(&self) -> Result<Vec<ex::Position>, Status> {
            self.positions.clone()
        }
        async fn instruments(&self, symbols: Vec<String>) -> Result<Vec<gw::Instrument>, Status> {
            Ok(self
                .instruments
                .iter()
                .filter(|i| symbols.contains(&i.symbol))
                .cloned()
                .collect())
        }
        async fn entries_halted(&self) -> Result<bool, Status> {
            self.halted.clone()
        }
        /// Two settlements against a long-spot hedge: a reversal has persisted.
        async fn recent_funding(
            &self,
            _symbol: String,
        ) -> Result<Vec<rust_decimal::Decimal>, Status> {
            Ok(vec![rust_decimal::Decimal::new(-3, 4); 2])
        }
    }

    fn runner(fake: Fake) -> Runner<Fake> {
        Runner::new(
            fake,
            RebalanceParams::default(),
            PairSelectionParams::default(),
            RebalancerConfig::default(),
        )
    }

    fn manual(dry_run: bool) -> RunRequest {
        RunRequest {
            trigger: RunTrigger::Manual,
            reason: "test".into(),
            dry_run,
            symbols: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_run_emits_actions_and_is_remembered() {
        let runner = runner(Fake {
            positions: Ok(vec![position("1.05", "1.0")]),
            instruments: vec![instrument("0.0001")],
            halted: Ok(false),
        });
        let (_, mut live) = runner.actions().subscribe(None, Utc::now());
        let run = runner.run(manual(false)).await;
        assert!(run.error.is_empty(), "{}", run.error);
        assert_eq!(run.reviews.len(), 1);
        let emitted = live.recv().await.unwrap().1;
        assert_eq!(emitted.quantity, "0.05");
        assert_eq!(emitted.run_id, run.run_id);
        assert_eq!(runner.last_run().unwrap().run_id, run.run_id);

        // dry run: computed, not emitted
        let run = runner.run(manual(true)).await;
        assert_eq!(run.reviews[0].decision, pb::Decision::Suppressed as i32);
        assert!(live.try_recv().is_err());
    }

    #[tokio::test]
    async fn upstream_failures_are_reported_in_the_run() {
        let runner = runner(Fake {
            positions: Err(Status::unavailable("executor down")),
            instruments: Vec::new(),
            halted: Ok(false),
        });
        let run = runner.run(manual(false)).await;
        assert!(run.error.contains("executor down"), "{}", run.error);
        assert!(run.finished_at.is_some());

        // risk down: a reversal closes instead of flipping
        let runner = runner_with_reversal(Err(Status::unavailable("risk down")));
        let run = runner.run(manual(false)).await;
        assert_eq!(run.reviews[0].actions[0].kind, pb::ActionKind::Close as i32);
        let runner = runner_with_reversal(Ok(false));
        let run = runner.run(manual(false)).await;
        assert_eq!(run.reviews[0].actions[0].kind, pb::ActionKind::Flip as i32);
    }

    #[tokio::test]
    async fn a_run_emits_the_costliest_exit_first_and_adjustments_after_exits() {
        let named = |symbol: &str, spot: &str, perp: &str| ex::Position {
            position_id: format!("p-{symbol}"),
            symbol: symbol.into(),
            ..position(spot, perp)
        };
        let market = |symbol: &str, funding: &str| gw::Instrument {
            symbol: symbol.into(),
            ..instrument(funding)
        };
        let runner = runner(Fake {
            // review order: the drift first, then the small reversal, then the big one
            positions: Ok(vec![
                named("SOLUSDT", "1.05", "1.0"),
                named("ETHUSDT", "2", "2"),
                named("BTCUSDT", "1", "1"),
            ]),
            instruments: vec![
                market("SOLUSDT", "0.0001"),
                // 200 000 short perp paying 0.04 % = 80 per 8 h
                market("ETHUSDT", "-0.0004"),
                // 100 000 short perp paying 0.1 % = 100 per 8 h
                market("BTCUSDT", "-0.001"),
            ],
            halted: Ok(false),
        });
        let (_, mut live) = runner.actions().subscribe(None, Utc::now());
        let run = runner.run(manual(false)).await;
        assert!(run.error.is_empty(), "{}", run.error);
        let mut emitted = Vec::new();
        while let Ok((_, action)) = live.try_recv() {
            emitted.push((action.symbol.clone(), action.kind(), action.priority()));
        }
        assert_eq!(
            emitted,
            vec![
                (
                    "BTCUSDT".to_owned(),
                    pb::ActionKind::Flip,
                    pb::ActionPriority::High
                ),
                (
                    "ETHUSDT".to_owned(),
                    pb::ActionKind::Flip,
                    pb::ActionPriority::High
                ),
                (
                    "SOLUSDT".to_owned(),
                    pb::ActionKind::AdjustFutures,
                    pb::ActionPriority::Normal
                ),
            ]
        );
        // the run still reports the positions in review order
        let reviewed: Vec<&str> = run.reviews.iter().map(|r| r.symbol.as_str()).collect();
        assert_eq!(reviewed, vec!["SOLUSDT", "ETHUSDT", "BTCUSDT"]);
    }

    fn runner_with_reversal(halted: Result<bool, Status>) -> Runner<Fake> {
        runner(Fake {
            positions: Ok(vec![position("1", "1")]),
            instruments: vec![instrument("-0.0004")],
            halted,
        })
    }
}
