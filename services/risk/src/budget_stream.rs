//! `StreamEntryBudget`: a revision of the entry budget on every change of risk's state, and at
//! least every [`REFRESH`] so the subscriber's copy never expires while risk is healthy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use fff_proto::fff::risk::v1 as pb;
use tokio::sync::mpsc;
use tonic::Status;

use crate::convert;
use crate::state::{CoreError, RiskCore};

/// Longest gap between revisions (a budget stands for `approvals::BUDGET_TTL_MS`).
const REFRESH: Duration = Duration::from_millis(500);

/// Shortest gap between two revisions that both allow entries: risk re-values on every mark,
/// and a revision each time would be traffic at the moments that matter most (fills move the
/// account); the executor counts its own entries meanwhile. A revocation is never held back.
const MIN_GAP: Duration = Duration::from_millis(100);

/// Sends revisions until the subscriber leaves or the lease term ends (then `UNAVAILABLE`:
/// the subscriber reconnects to the holder and meanwhile asks for approvals one by one).
pub async fn forward_budget(
    core: Arc<RiskCore>,
    tx: mpsc::Sender<Result<pb::StreamEntryBudgetResponse, Status>>,
) {
    let mut changes = core.budget_changes();
    // when the last revision went, and whether it allowed entries
    let mut last: Option<(Instant, bool)> = None;
    loop {
        // the newest state: revisions that came while one was sent coalesce into one
        changes.borrow_and_update();
        let budget = match core.budget(Utc::now()) {
            Ok(budget) => budget,
            Err(error) => {
                let status = match error {
                    CoreError::NotLeased => Status::unavailable(
                        "this risk instance does not hold the writer lease: another instance decides",
                    ),
                    other => Status::internal(other.to_string()),
                };
                let _ = tx.send(Err(status)).await;
                return;
            }
        };
        let allows = budget.reasons.is_empty();
        let hold = match last {
            Some((at, true)) if allows => MIN_GAP.checked_sub(at.elapsed()),
            _ => None,
        };
        if let Some(hold) = hold.filter(|hold| !hold.is_zero()) {
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(hold) => {}
                () = tx.closed() => return,
            }
            continue;
        }
        let revision = pb::StreamEntryBudgetResponse {
            budget: Some(convert::budget(&budget)),
        };
        if tx.send(Ok(revision)).await.is_err() {
            return;
        }
        last = Some((Instant::now(), allows));
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(REFRESH) => {}
            () = tx.closed() => return,
        }
    }
}
