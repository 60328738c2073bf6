//! Risk approval of entries: every entry, manual or automatic, asks the risk service first and
//! is refused when risk says no or cannot be reached (fail closed).

use fff_core::Direction;
use fff_proto::convert::{decimal_to_string, parse_optional_decimal};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::risk::v1 as pb;
use fff_proto::fff::risk::v1::risk_client::RiskClient;
use fff_runtime::telemetry::ClientInterceptor;
use rust_decimal::Decimal;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Risk's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalOutcome {
    pub approved: bool,
    pub approval_id: String,
    /// Notional approved (may be less than asked).
    pub notional: Decimal,
    pub reasons: Vec<String>,
}

#[tonic::async_trait]
pub trait Approver: Send + Sync + 'static {
    async fn approve(
        &self,
        symbol: &str,
        direction: Direction,
        notional: Decimal,
        leverage: u32,
        reason: &str,
    ) -> Result<ApprovalOutcome, String>;
}

pub type RiskClientT = RiskClient<InterceptedService<Channel, ClientInterceptor>>;

/// Approvals from the risk role over gRPC.
#[derive(Clone)]
pub struct RiskApprover {
    client: RiskClientT,
}

impl RiskApprover {
    pub fn new(client: RiskClientT) -> Self {
        Self { client }
    }
}

impl RiskApprover {
    /// Asks risk to decide `entry` (symbol, direction, notional, leverage, reason) under
    /// `request_id`; `budget_id` set reports an entry already approved from that budget.
    pub(crate) async fn request(
        &self,
        (symbol, direction, notional, leverage, reason): (&str, Direction, Decimal, u32, &str),
        request_id: &str,
        budget_id: &str,
    ) -> Result<ApprovalOutcome, String> {
        let approval = self
            .client
            .clone()
            .request_approval(pb::RequestApprovalRequest {
                request_id: request_id.to_owned(),
                symbol: symbol.to_owned(),
                direction: common::Direction::from(direction) as i32,
                notional: decimal_to_string(notional),
                leverage,
                reason: reason.to_owned(),
                budget_id: budget_id.to_owned(),
            })
            .await
            .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?
            .into_inner()
            .approval
            .ok_or_else(|| "approval missing from answer".to_owned())?;
        let approved_notional =
            parse_optional_decimal("approved_notional", &approval.approved_notional)
                .map_err(|e| e.to_string())?
                .unwrap_or(notional);
        Ok(ApprovalOutcome {
            approved: approval.approved,
            approval_id: approval.approval_id,
            notional: if approval.approved {
                approved_notional.min(notional)
            } else {
                Decimal::ZERO
            },
            reasons: approval.reasons,
        })
    }
}

#[tonic::async_trait]
impl Approver for RiskApprover {
    async fn approve(
        &self,
        symbol: &str,
        direction: Direction,
        notional: Decimal,
        leverage: u32,
        reason: &str,
    ) -> Result<ApprovalOutcome, String> {
        let request_id = format!(
            "exec-{symbol}-{}",
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        self.request(
            (symbol, direction, notional, leverage, reason),
            &request_id,
            "",
        )
        .await
    }
}

/// Approves everything; for tests of the execution logic only.
#[derive(Debug, Default, Clone)]
pub struct ApproveAll;

#[tonic::async_trait]
impl Approver for ApproveAll {
    async fn approve(
        &self,
        _symbol: &str,
        _direction: Direction,
        notional: Decimal,
        _leverage: u32,
        _reason: &str,
    ) -> Result<ApprovalOutcome, String> {
        Ok(ApprovalOutcome {
            approved: true,
            approval_id: "test".to_owned(),
            notional,
            reasons: Vec::new(),
        })
    }
}
