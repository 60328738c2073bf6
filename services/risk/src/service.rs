//! `fff.risk.v1.Risk` handlers: thin edges over [`RiskCore`].

use std::pin::Pin;
use std::sync::Arc;

use chrono::Utc;
use fff_core::Direction;
use fff_proto::convert::{
    FieldError, optional_timestamp, parse_decimal, parse_required_enum, parse_symbol,
};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::risk::v1::{self as pb, DirectiveKind, DirectiveOutcome, risk_server::Risk};
use rust_decimal::Decimal;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::approvals::ApprovalRequest;
use crate::convert;
use crate::directives::{Ack, Directive};
use crate::state::{CoreError, ListQuery, RiskCore};

/// Server-streaming response type shared by the streaming RPCs.
type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 500;
const MAX_DETAIL: usize = 4096;

/// The role's gRPC service.
#[derive(Debug, Clone)]
pub struct RiskService {
    core: Arc<RiskCore>,
}

impl RiskService {
    pub fn new(core: Arc<RiskCore>) -> Self {
        Self { core }
    }
}

#[tonic::async_trait]
impl Risk for RiskService {
    async fn get_risk_state(
        &self,
        _request: Request<pb::GetRiskStateRequest>,
    ) -> Result<Response<pb::GetRiskStateResponse>, Status> {
        let now = Utc::now();
        let inner = self.core.lock();
        let view = inner.monitor.view(now);
        // the breach's de-risk: the newest directive issued for a drawdown breach, while one lasts
        let breach = view
            .drawdown_limit_breached
            .then(|| inner.log.newest_first(None, |d| d.drawdown_limit).next())
            .flatten()
            .map(|r| &r.directive);
        let state = convert::state(&view, inner.log.last(), breach, now);
        Ok(Response::new(pb::GetRiskStateResponse {
            state: Some(state),
        }))
    }

    type StreamDirectivesStream = ResponseStream<pb::StreamDirectivesResponse>;

    async fn stream_directives(
        &self,
        request: Request<pb::StreamDirectivesRequest>,
    ) -> Result<Response<Self::StreamDirectivesStream>, Status> {
        let after = request.into_inner().after_sequence;
        // the live feed first, then the history: nothing falls between them
        let (standing, live) = {
            let inner = self.core.lock();
            // checked under the state lock: a term that ends later closes this feed
            if !self.core.is_leased() {
                return Err(status(&CoreError::NotLeased));
            }
            let standing = if after == 0 {
                inner.log.standing(Utc::now())
            } else {
                Vec::new()
            };
            (standing, inner.log.live())
        };
        let (tx, rx) = mpsc::channel(64);
        let history_from = (after > 0).then_some(after);
        tokio::spawn(forward_directives(
            self.core.clone(),
            standing,
            history_from,
            live,
            tx,
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn list_directives(
        &self,
        request: Request<pb::ListDirectivesRequest>,
    ) -> Result<Response<pb::ListDirectivesResponse>, Status> {
        let request = request.into_inner();
        let range = request.range.unwrap_or_default();
        let start = optional_timestamp("range.start", range.start.as_ref())?;
        let end = optional_timestamp("range.end", range.end.as_ref())?;
        if let (Some(start), Some(end)) = (start, end)
            && start > end
        {
            return Err(FieldError::invalid("range", "start is after end").into());
        }
        let kinds = request
            .kinds
            .iter()
            .map(|k| parse_required_enum::<DirectiveKind>("kinds", *k))
            .collect::<Result<Vec<_>, _>>()?;
        let page_size = match request.page_size {
            0 => DEFAULT_PAGE,
            n => usize::try_from(n).unwrap_or(MAX_PAGE).min(MAX_PAGE),
        };
        let before = if request.page_token.is_empty() {
            None
        } else {
            Some(request.page_token.parse::<u64>().map_err(|_| {
                FieldError::invalid("page_token", "not a token from a previous response")
            })?)
        };
        let query = ListQuery {
            before,
            kinds,
            start,
            end,
            // one more than asked: tells whether a next page exists
            limit: page_size.saturating_add(1),
        };
        let mut records = self.core.list(&query).await.map_err(|e| status(&e))?;
        let mut next_page_token = String::new();
        if records.len() > page_size {
            records.truncate(page_size);
            // the last record returned is the cursor: the next page starts below it
            if let Some(last) = records.last() {
                next_page_token = last.directive.sequence.to_string();
            }
        }
        let page: Vec<pb::DirectiveRecord> = records.iter().map(convert::record).collect();
        Ok(Response::new(pb::ListDirectivesResponse {
            directives: page,
            next_page_token,
        }))
    }

    async fn ack_directive(
        &self,
        request: Request<pb::AckDirectiveRequest>,
    ) -> Result<Response<pb::AckDirectiveResponse>, Status> {
        let request = request.into_inner();
        if request.directive_id.is_empty() {
            return Err(FieldError::missing("directive_id").into());
        }
        let outcome: DirectiveOutcome = parse_required_enum("outcome", request.outcome)?;
        if request.detail.len() > MAX_DETAIL {
            return Err(
                FieldError::invalid("detail", format!("longer than {MAX_DETAIL} bytes")).into(),
            );
        }
        let ack = Ack {
            outcome,
            detail: request.detail,
            // PostgreSQL keeps microseconds
            acked_at: chrono::SubsecRound::trunc_subsecs(Utc::now(), 6),
        };
        let known = self
            .core
            .ack(&request.directive_id, ack)
            .await
            .map_err(|e| status(&e))?;
        if !known {
            return Err(Status::not_found(format!(
                "directive {} is unknown",
                request.directive_id
            )));
        }
        tracing::info!(directive_id = %request.directive_id, outcome = ?outcome, "directive acknowledged");
        Ok(Response::new(pb::AckDirectiveResponse {}))
    }

    async fn request_approval(
        &self,
        request: Request<pb::RequestApprovalRequest>,
    ) -> Result<Response<pb::RequestApprovalResponse>, Status> {
        let request = approval_request(request.into_inner())?;
        let approval = self
            .core
            .approve(&request, Utc::now())
            .await
            .map_err(|e| status(&e))?;
        Ok(Response::new(pb::RequestApprovalResponse {
            approval: Some(convert::approval(&approval)),
        }))
    }

    type StreamEntryBudgetStream = ResponseStream<pb::StreamEntryBudgetResponse>;

    async fn stream_entry_budget(
        &self,
        _request: Request<pb::StreamEntryBudgetRequest>,
    ) -> Result<Response<Self::StreamEntryBudgetStream>, Status> {
        if !self.core.is_leased() {
            return Err(status(&CoreError::NotLeased));
        }
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(crate::budget_stream::forward_budget(self.core.clone(), tx));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// The closed mapping of state errors to gRPC codes; internals are logged, not sent.
fn status(error: &CoreError) -> Status {
    match error {
        CoreError::NotLeased => Status::unavailable(
            "this risk instance does not hold the writer lease: another instance decides",
        ),
        CoreError::Store(inner) => {
            tracing::error!(error = %inner, "risk state store failed");
            Status::unavailable("risk state store unavailable")
        }
        CoreError::Corrupt(detail) => {
            tracing::error!(%detail, "risk state unreadable");
            Status::internal("risk state unreadable")
        }
    }
}

fn approval_request(request: pb::RequestApprovalRequest) -> Result<ApprovalRequest, FieldError> {
    if request.request_id.is_empty() || request.request_id.chars().count() > 64 {
        return Err(FieldError::invalid("request_id", "must be 1-64 characters"));
    }
    let symbol = parse_symbol("symbol", &request.symbol)?;
    let direction: common::Direction = parse_required_enum("direction", request.direction)?;
    let direction = Direction::try_from(direction)
        .map_err(|_| FieldError::invalid("direction", "unknown direction"))?;
    let notional = parse_decimal("notional", &request.notional)?;
    if notional <= Decimal::ZERO {
        return Err(FieldError::invalid("notional", "must be positive"));
    }
    if request.leverage == 0 {
        return Err(FieldError::invalid("leverage", "must be at least 1"));
    }
    if request.budget_id.chars().count() > 64 {
        return Err(FieldError::invalid(
            "budget_id",
            "must be at most 64 characters",
        ));
    }
    // a report of an entry approved from the entry budget: the record says so
    let reason = if request.budget_id.is_empty() {
        request.reason
    } else {
        format!(
            "{} (approved from entry budget {})",
            request.reason, request.budget_id
        )
    };
    Ok(ApprovalRequest {
        request_id: request.request_id,
        symbol,
        direction,
        notional,
        leverage: request.leverage,
        reason,
        budget_id: (!request.budget_id.is_empty()).then_some(request.budget_id),
    })
}

/// History pages read at a time when replaying or catching up.
const HISTORY_PAGE: usize = 500;

/// Sends the standing directives or the history after `history_from`, then live directives; a
/// lagging subscriber is caught up from history.
async fn forward_directives(
    core: Arc<RiskCore>,
    standing: Vec<Directive>,
    history_from: Option<u64>,
    mut live: broadcast::Receiver<Directive>,
    tx: mpsc::Sender<Result<pb::StreamDirectivesResponse, Status>>,
) {
    let mut last_sent = 0;
    for directive in standing {
        last_sent = directive.sequence;
        if send(&tx, &directive, true).await.is_err() {
            return;
        }
    }
    if let Some(after) = history_from {
        last_sent = after;
        if send_history(&core, &tx, &mut last_sent).await.is_err() {
            return;
        }
    }
    loop {
        let received = tokio::select! {
            received = live.recv() => received,
            // the client went away while nothing was being issued
            () = tx.closed() => return,
        };
        let directive = match received {
            Ok(directive) => directive,
            Err(broadcast::error::RecvError::Lagged(skipped)) => {
                tracing::warn!(
                    skipped,
                    "directive subscriber lagged, resending from history"
                );
                if send_history(&core, &tx, &mut last_sent).await.is_err() {
                    return;
                }
                continue;
            }
            // the lease term ended: the subscriber reconnects to the holder
            Err(broadcast::error::RecvError::Closed) => return,
        };
        // the history may already hold directives issued after the subscription
        if directive.sequence <= last_sent {
            continue;
        }
        last_sent = directive.sequence;
        if send(&tx, &directive, false).await.is_err() {
            return;
        }
    }
}

/// Sends every stored directive after `last_sent`, page by page; a read failure ends the
/// stream with its status (the subscriber reconnects with its last sequence).
async fn send_history(
    core: &RiskCore,
    tx: &mpsc::Sender<Result<pb::StreamDirectivesResponse, Status>>,
    last_sent: &mut u64,
) -> Result<(), ()> {
    loop {
        let page = match core.history_after(*last_sent, HISTORY_PAGE).await {
            Ok(page) => page,
            Err(error) => {
                let _ = tx.send(Err(status(&error))).await;
                return Err(());
            }
        };
        let full = page.len() == HISTORY_PAGE;
        for directive in page {
            *last_sent = directive.sequence;
            send(tx, &directive, true).await?;
        }
        if !full {
            return Ok(());
        }
    }
}

async fn send(
    tx: &mpsc::Sender<Result<pb::StreamDirectivesResponse, Status>>,
    directive: &Directive,
    replayed: bool,
) -> Result<(), ()> {
    let message = pb::StreamDirectivesResponse {
        directive: Some(convert::directive(directive)),
        replayed,
    };
    tx.send(Ok(message)).await.map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use fff_core::MarginTier;
    use fff_core::params::{CapitalParams, RiskParams};
    use tokio_stream::StreamExt as _;

    use super::*;
    use crate::approvals::Approvals;
    use crate::directives::{DirectiveLog, NewDirective};
    use crate::monitor::RiskMonitor;

    fn service() -> (RiskService, Arc<RiskCore>) {
        let core = Arc::new(RiskCore::new(
            RiskMonitor::new(
                RiskParams::default(),
                CapitalParams::default(),
                Duration::seconds(300),
            )
            .unwrap(),
            DirectiveLog::new(Utc::now(), 100),
            Approvals::new(Duration::seconds(60), Duration::seconds(10)),
        ));
        (RiskService::new(core.clone()), core)
    }

    fn new(kind: DirectiveKind) -> NewDirective {
        NewDirective {
            kind,
            reduce_fraction: None,
            reason: "test".into(),
            tier: MarginTier::Orange,
            expires_at: None,
            drawdown_limit: false,
        }
    }

    #[tokio::test]
    async fn list_pages_newest_first_and_filters_kinds() {
        let (service, core) = service();
        let now = Utc::now();
        let issued = core
            .issue(
                vec![
                    new(DirectiveKind::HaltEntries),
                    new(DirectiveKind::CloseAll),
                    new(DirectiveKind::Resume),
                    new(DirectiveKind::CloseAll),
                ],
                now,
            )
            .await
            .unwrap();
        let page = |token: String, kinds: Vec<i32>| pb::ListDirectivesRequest {
            page_size: 2,
            page_token: token,
            kinds,
            range: None,
        };
        let first = service
            .list_directives(Request::new(page(String::new(), Vec::new())))
            .await
            .unwrap()
            .into_inner();
        let ids = |r: &pb::ListDirectivesResponse| -> Vec<String> {
            r.directives
                .iter()
                .map(|d| d.directive.as_ref().unwrap().directive_id.clone())
                .collect()
        };
        assert_eq!(
            ids(&first),
            vec![issued[3].id.clone(), issued[2].id.clone()]
        );
        let second = service
            .list_directives(Request::new(page(
                first.next_page_token.clone(),
                Vec::new(),
            )))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            ids(&second),
            vec![issued[1].id.clone(), issued[0].id.clone()]
        );
        assert!(second.next_page_token.is_empty());
        let close_only = service
            .list_directives(Request::new(page(
                String::new(),
                vec![DirectiveKind::CloseAll as i32],
            )))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            ids(&close_only),
            vec![issued[3].id.clone(), issued[1].id.clone()]
        );
        let bad = service
            .list_directives(Request::new(page("x".into(), Vec::new())))
            .await
            .unwrap_err();
        assert!(bad.message().contains("page_token"), "{}", bad.message());
    }

    #[tokio::test]
    async fn a_subscriber_gets_the_standing_directive_then_live_ones() {
        let (service, core) = service();
        let now = Utc::now();
        core.issue(
            vec![new(DirectiveKind::Reduce), new(DirectiveKind::HaltEntries)],
            now,
        )
        .await
        .unwrap();
        let mut stream = service
            .stream_directives(Request::new(pb::StreamDirectivesRequest {
                after_sequence: 0,
            }))
            .await
            .unwrap()
            .into_inner();
        let first = stream.next().await.unwrap().unwrap();
        assert!(first.replayed);
        assert_eq!(first.directive.unwrap().kind(), DirectiveKind::Reduce);
        let second = stream.next().await.unwrap().unwrap();
        assert_eq!(second.directive.unwrap().kind(), DirectiveKind::HaltEntries);
        let live = core
            .issue(vec![new(DirectiveKind::CloseAll)], now)
            .await
            .unwrap();
        let third = stream.next().await.unwrap().unwrap();
        assert!(!third.replayed);
        assert_eq!(third.directive.unwrap().sequence, live[0].sequence);
    }

    #[tokio::test]
    async fn the_entry_budget_follows_the_account_and_a_tier_change_revokes_it() {
        let (service, core) = service();
        let mut stream = service
            .stream_entry_budget(Request::new(pb::StreamEntryBudgetRequest {}))
            .await
            .unwrap()
            .into_inner();
        let mut next = async || stream.next().await.unwrap().unwrap().budget.unwrap();
        let first = next().await;
        assert_eq!(first.reasons, ["no account data from the gateway yet"]);
        core.apply_account(
            crate::approvals::tests::metrics_at(rust_decimal_macros::dec!(10)),
            Utc::now(),
        )
        .await
        .unwrap();
        let green = next().await;
        assert!(green.reasons.is_empty(), "{:?}", green.reasons);
        assert_eq!(green.capital_headroom, "60400.00");
        assert_ne!(green.budget_id, first.budget_id);
        core.apply_account(
            crate::approvals::tests::metrics_at(rust_decimal_macros::dec!(4)),
            Utc::now(),
        )
        .await
        .unwrap();
        let revoked = next().await;
        assert!(
            revoked.reasons[0].contains("Yellow"),
            "{:?}",
            revoked.reasons
        );
    }

    #[tokio::test]
    async fn a_budget_report_is_recorded_as_such_and_names_a_bad_budget_id() {
        let (service, core) = service();
        core.apply_account(
            crate::approvals::tests::metrics_at(rust_decimal_macros::dec!(10)),
            Utc::now(),
        )
        .await
        .unwrap();
        let request = |budget_id: String| pb::RequestApprovalRequest {
            request_id: "budget-b1-1".into(),
            symbol: "ETHUSDT".into(),
            direction: common::Direction::PositiveCarry as i32,
            notional: "1000".into(),
            leverage: 5,
            reason: "strategy".into(),
            budget_id,
        };
        let bad = service
            .request_approval(Request::new(request("x".repeat(65))))
            .await
            .unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument);
        assert!(bad.message().contains("budget_id"), "{}", bad.message());
        let granted = core.budget(Utc::now()).unwrap();
        let answer = service
            .request_approval(Request::new(request(granted.id)))
            .await
            .unwrap()
            .into_inner()
            .approval
            .unwrap();
        assert!(answer.approved, "{:?}", answer.reasons);
        // a revision risk never granted is recorded refused, with the reason
        let unknown = pb::RequestApprovalRequest {
            request_id: "budget-b2-1".into(),
            ..request("b2".into())
        };
        let answer = service
            .request_approval(Request::new(unknown))
            .await
            .unwrap()
            .into_inner()
            .approval
            .unwrap();
        assert!(!answer.approved);
        assert!(
            answer.reasons[0].contains("not granted"),
            "{:?}",
            answer.reasons
        );
    }

    #[tokio::test]
    async fn the_drawdown_limit_streams_one_close_all_and_get_risk_state_shows_it() {
        let (service, core) = service();
        let t = Utc::now();
        let mut stream = service
            .stream_directives(Request::new(pb::StreamDirectivesRequest {
                after_sequence: 0,
            }))
            .await
            .unwrap()
            .into_inner();
        core.apply_equity(t, rust_decimal_macros::dec!(100000), None)
            .await
            .unwrap();
        // straight to 6 %: the halt, then the breach's cut
        let issued = core
            .apply_equity(
                t + Duration::minutes(1),
                rust_decimal_macros::dec!(94000),
                None,
            )
            .await
            .unwrap();
        assert_eq!(issued.len(), 2);
        // later samples in the same breach issue nothing
        for minutes in 2..5 {
            let more = core
                .apply_equity(
                    t + Duration::minutes(minutes),
                    rust_decimal_macros::dec!(94500),
                    None,
                )
                .await
                .unwrap();
            assert!(more.is_empty());
        }
        let halt = stream.next().await.unwrap().unwrap().directive.unwrap();
        assert_eq!(halt.kind(), DirectiveKind::HaltEntries);
        let cut = stream.next().await.unwrap().unwrap().directive.unwrap();
        assert_eq!(cut.kind(), DirectiveKind::CloseAll);
        assert_eq!(cut.directive_id, issued[1].id);
        assert!(cut.expires_at.is_none());

        let state = service
            .get_risk_state(Request::new(pb::GetRiskStateRequest {}))
            .await
            .unwrap()
            .into_inner()
            .state
            .unwrap();
        assert!(state.drawdown_limit_breached && state.entries_halted);
        assert_eq!(
            state.drawdown_limit_action(),
            pb::DrawdownLimitAction::CloseAll
        );
        assert_eq!(state.drawdown_reduce_fraction, "");
        let shown = state.drawdown_limit_directive.unwrap();
        assert_eq!(shown.directive_id, issued[1].id);
        assert!(state.halt_reason.contains("limit"), "{}", state.halt_reason);
        // a subscriber arriving now gets the standing halt and cut
        let (replay, _) = core.lock().log.subscribe(0, t + Duration::hours(1));
        let kinds: Vec<_> = replay.iter().map(|d| d.kind).collect();
        assert_eq!(
            kinds,
            vec![DirectiveKind::HaltEntries, DirectiveKind::CloseAll]
        );
    }

    #[tokio::test]
    async fn bad_input_names_the_field() {
        let (service, _) = service();
        let refused = service
            .request_approval(Request::new(pb::RequestApprovalRequest {
                request_id: "r".into(),
                symbol: "btc usdt".into(),
                ..pb::RequestApprovalRequest::default()
            }))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert!(
            refused.message().contains("symbol"),
            "{}",
            refused.message()
        );
        let refused = service
            .ack_directive(Request::new(pb::AckDirectiveRequest {
                directive_id: "d".into(),
                outcome: 0,
                detail: String::new(),
            }))
            .await
            .unwrap_err();
        assert!(
            refused.message().contains("outcome"),
            "{}",
            refused.message()
        );
    }
}
