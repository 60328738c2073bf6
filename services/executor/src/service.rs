//! `fff.executor.v1.Executor` handlers. Handlers validate, persist what must be known before
//! answering (the new position row, the CLOSING state) and hand the order work to tracked
//! engine tasks, so a caller hanging up cannot cancel an entry half-way.

pub(crate) mod convert;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use fff_core::Direction;
use fff_proto::FieldError;
use fff_proto::convert::{
    datetime_to_timestamp, decimal_to_string, optional_timestamp, parse_decimal, parse_domain_enum,
    parse_enum, parse_symbol,
};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::executor::v1::{self as pb, executor_server::Executor};
use fff_store::{Position, PositionState};
use rust_decimal::Decimal;
use tokio::sync::broadcast::error::RecvError;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::approval::Approver;
use crate::engine::{Engine, Urgency};
use crate::error::ExecutorError;
use crate::pnl::{Breakdown, Window, position_pnl};
use crate::strategy::PlanCell;

/// Server-streaming response type shared by the streaming RPCs.
type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 500;

#[derive(Debug, Clone)]
enum Done {
    Open(Box<pb::OpenPositionResponse>),
    Close(Box<pb::ClosePositionResponse>),
    Flip(Box<pb::FlipPositionResponse>),
}

/// This role's name in `control_state` and `request_log`.
const ROLE: &str = "executor";

impl Done {
    fn encode(&self) -> (&'static str, Vec<u8>) {
        use prost::Message as _;
        match self {
            Self::Open(r) => ("OpenPosition", r.encode_to_vec()),
            Self::Close(r) => ("ClosePosition", r.encode_to_vec()),
            Self::Flip(r) => ("FlipPosition", r.encode_to_vec()),
        }
    }

    fn decode(method: &str, bytes: &[u8]) -> Option<Self> {
        use prost::Message as _;
        match method {
            "OpenPosition" => pb::OpenPositionResponse::decode(bytes)
                .ok()
                .map(|r| Self::Open(Box::new(r))),
            "ClosePosition" => pb::ClosePositionResponse::decode(bytes)
                .ok()
                .map(|r| Self::Close(Box::new(r))),
            "FlipPosition" => pb::FlipPositionResponse::decode(bytes)
                .ok()
                .map(|r| Self::Flip(Box::new(r))),
            _ => None,
        }
    }
}

/// The role's gRPC service.
pub struct ExecutorService {
    engine: Arc<Engine>,
    approver: Arc<dyn Approver>,
    plan: Arc<PlanCell>,
    /// request_id -> first answer, a cache of `request_log` (which survives restarts).
    done: Mutex<HashMap<String, Done>>,
}

impl ExecutorService {
    pub fn new(engine: Arc<Engine>, approver: Arc<dyn Approver>, plan: Arc<PlanCell>) -> Self {
        Self {
            engine,
            approver,
            plan,
            done: Mutex::new(HashMap::new()),
        }
    }

    /// The first answer to `request_id`: from memory, else from `request_log` (so a retry
    /// after a restart is answered, not acted on twice).
    async fn seen(&self, request_id: &str) -> Result<Option<Done>, Status> {
        if let Some(done) = self
            .done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(request_id)
            .cloned()
        {
            return Ok(Some(done));
        }
        let stored = self
            .engine
            .store()
            .request_answer(ROLE, request_id)
            .await
            .map_err(|e| Status::unavailable(format!("request log unavailable: {e}")))?;
        Ok(stored.and_then(|(method, bytes)| Done::decode(&method, &bytes)))
    }

    async fn remember(&self, request_id: &str, done: Done) {
        let (method, bytes) = done.encode();
        if let Err(err) = self
            .engine
            .store()
            .remember_answer(ROLE, request_id, method, &bytes)
            .await
        {
            // the action was taken; only a retry after a restart would not be recognised
            tracing::error!(request_id, error = %err, "request id not persisted");
        }
        self.done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(request_id.to_owned(), done);
    }

    async fn pb_position(&self, position: &Position) -> Result<pb::Position, Status> {
        let mark = self.engine.mark(&position.symbol);
        let (pnl, _) = position_pnl(self.engine.store(), position, mark, Window::default())
            .await
            .map_err(Status::from)?;
        Ok(convert::position(&self.engine, position, Some(&pnl)))
    }

    async fn find(&self, id: Option<&str>, symbol: Option<&str>) -> Result<Position, Status> {
        let store = self.engine.store();
        let found = match (id, symbol) {
            (Some(id), _) => {
                let id = convert::position_id("position_id", id)?;
                store.get_position(id).await.map_err(ExecutorError::from)?
            }
            (None, Some(symbol)) => {
                let symbol = parse_symbol("symbol", symbol)?;
                store
                    .live_position(symbol.as_str())
                    .await
                    .map_err(ExecutorError::from)?
            }
            (None, None) => return Err(FieldError::missing("key").into()),
        };
        found.ok_or_else(|| Status::not_found("no such position"))
    }
}

fn urgency(raw: i32) -> Result<Urgency, FieldError> {
    Ok(match parse_enum::<pb::CloseUrgency>("urgency", raw)? {
        pb::CloseUrgency::Unspecified | pb::CloseUrgency::Normal => Urgency::Normal,
        pb::CloseUrgency::High => Urgency::High,
        pb::CloseUrgency::Immediate => Urgency::Immediate,
    })
}

#[tonic::async_trait]
impl Executor for ExecutorService {
    async fn list_positions(
        &self,
        request: Request<pb::ListPositionsRequest>,
    ) -> Result<Response<pb::ListPositionsResponse>, Status> {
        let request = request.into_inner();
        let mut states: Vec<PositionState> = Vec::new();
        for (i, raw) in request.statuses.iter().enumerate() {
            let status: pb::PositionStatus = parse_enum(&format!("statuses[{i}]"), *raw)?;
            states.extend(convert::state_filter(status));
        }
        if states.is_empty() {
            states = PositionState::ALL
                .iter()
                .copied()
                .filter(|s| !s.is_terminal())
                .collect();
        }
        let symbol = (!request.symbol.is_empty())
            .then(|| parse_symbol("symbol", &request.symbol))
            .transpose()?;
        let direction = match parse_enum::<common::Direction>("direction", request.direction)? {
            common::Direction::Unspecified => None,
            common::Direction::PositiveCarry => Some(Direction::PositiveCarry),
            common::Direction::NegativeCarry => Some(Direction::NegativeCarry),
        };
        let (start, end) = match &request.opened {
            Some(range) => (
                optional_timestamp("opened.start", range.start.as_ref())?,
                optional_timestamp("opened.end", range.end.as_ref())?,
            ),
            None => (None, None),
        };
        let window = Window { start, end };
        let offset: usize = if request.page_token.is_empty() {
            0
        } else {
            request
                .page_token
                .parse()
                .map_err(|_| FieldError::invalid("page_token", "not a token from this server"))?
        };
        let page = match request.page_size {
            0 => DEFAULT_PAGE,
            n => (n as usize).min(MAX_PAGE),
        };
        let mut positions = self
            .engine
            .store()
            .list_positions(&states)
            .await
            .map_err(ExecutorError::from)?;
        positions.retain(|p| {
            symbol.as_ref().is_none_or(|s| s.as_str() == p.symbol)
                && direction.is_none_or(|d| crate::legs::core_direction(p.direction) == d)
                && window.contains(p.created_at)
        });
        positions.reverse(); // newest first
        let total = positions.len();
        let mut out = Vec::new();
        for position in positions.iter().skip(offset).take(page) {
            out.push(self.pb_position(position).await?);
        }
        let next = offset + out.len();
        Ok(Response::new(pb::ListPositionsResponse {
            positions: out,
            next_page_token: if next < total {
                next.to_string()
            } else {
                String::new()
            },
        }))
    }

    async fn get_position(
        &self,
        request: Request<pb::GetPositionRequest>,
    ) -> Result<Response<pb::GetPositionResponse>, Status> {
        let position = match request.into_inner().key {
            Some(pb::get_position_request::Key::PositionId(id)) => {
                self.find(Some(&id), None).await?
            }
            Some(pb::get_position_request::Key::Symbol(symbol)) => {
                self.find(None, Some(&symbol)).await?
            }
            None => return Err(FieldError::missing("key").into()),
        };
        Ok(Response::new(pb::GetPositionResponse {
            position: Some(self.pb_position(&position).await?),
        }))
    }

    async fn open_position(
        &self,
        request: Request<pb::OpenPositionRequest>,
    ) -> Result<Response<pb::OpenPositionResponse>, Status> {
        let request = request.into_inner();
        convert::request_id(&request.request_id)?;
        let symbol = parse_symbol("symbol", &request.symbol)?;
        let direction: Direction =
            parse_domain_enum::<common::Direction, Direction>("direction", request.direction)?;
        let notional = parse_decimal("notional", &request.notional)?;
        if notional <= Decimal::ZERO {
            return Err(FieldError::invalid("notional", "must be positive").into());
        }
        if let Some(leverage) = request.leverage
            && !(1..=125).contains(&leverage)
        {
            return Err(FieldError::invalid("leverage", "must be 1..=125").into());
        }
        convert::reason(&request.reason)?;
        if let Some(Done::Open(done)) = self.seen(&request.request_id).await? {
            return Ok(Response::new(pb::OpenPositionResponse {
                duplicate: true,
                ..*done
            }));
        }
        if let Some(block) = self.engine.entry_block() {
            return Err(Status::failed_precondition(block));
        }
        self.engine
            .check_caps(symbol.as_str(), direction, notional)
            .await?;
        let leverage = request.leverage.unwrap_or(self.engine.params().leverage);
        let approval = self
            .approver
            .approve(
                symbol.as_str(),
                direction,
                notional,
                leverage,
                &request.reason,
            )
            .await
            .map_err(|e| Status::failed_precondition(format!("risk approval unavailable: {e}")))?;
        if !approval.approved {
            return Err(Status::failed_precondition(format!(
                "risk refused: {}",
                approval.reasons.join("; ")
            )));
        }
        let position = self
            .engine
            .open(
                symbol.as_str(),
                direction,
                approval.notional.min(notional),
                Some(leverage),
                pb::Initiator::Operator,
                &request.reason,
            )
            .await?;
        self.engine
            .annotate_approval(position.id, &approval.approval_id);
        let response = pb::OpenPositionResponse {
            position: Some(self.pb_position(&position).await?),
            duplicate: false,
        };
        self.remember(&request.request_id, Done::Open(Box::new(response.clone())))
            .await;
        Ok(Response::new(response))
    }

    async fn close_position(
        &self,
        request: Request<pb::ClosePositionRequest>,
    ) -> Result<Response<pb::ClosePositionResponse>, Status> {
        let request = request.into_inner();
        convert::request_id(&request.request_id)?;
        convert::reason(&request.reason)?;
        let urgency = urgency(request.urgency)?;
        if let Some(Done::Close(done)) = self.seen(&request.request_id).await? {
            return Ok(Response::new(pb::ClosePositionResponse {
                duplicate: true,
                ..*done
            }));
        }
        let position = match &request.key {
            Some(pb::close_position_request::Key::PositionId(id)) => {
                self.find(Some(id), None).await?
            }
            Some(pb::close_position_request::Key::Symbol(symbol)) => {
                self.find(None, Some(symbol)).await?
            }
            None => return Err(FieldError::missing("key").into()),
        };
        let closing = self
            .engine
            .close(&position, urgency, pb::Initiator::Operator, &request.reason)
            .await?;
        let response = pb::ClosePositionResponse {
            position: Some(self.pb_position(&closing).await?),
            duplicate: false,
        };
        self.remember(&request.request_id, Done::Close(Box::new(response.clone())))
            .await;
        Ok(Response::new(response))
    }

    async fn flip_position(
        &self,
        request: Request<pb::FlipPositionRequest>,
    ) -> Result<Response<pb::FlipPositionResponse>, Status> {
        let request = request.into_inner();
        convert::request_id(&request.request_id)?;
        convert::reason(&request.reason)?;
        if let Some(Done::Flip(done)) = self.seen(&request.request_id).await? {
            return Ok(Response::new(pb::FlipPositionResponse {
                duplicate: true,
                ..*done
            }));
        }
        let position = match &request.key {
            Some(pb::flip_position_request::Key::PositionId(id)) => {
                self.find(Some(id), None).await?
            }
            Some(pb::flip_position_request::Key::Symbol(symbol)) => {
                self.find(None, Some(symbol)).await?
            }
            None => return Err(FieldError::missing("key").into()),
        };
        if let Some(block) = self.engine.entry_block() {
            return Err(Status::failed_precondition(block));
        }
        let direction = crate::legs::core_direction(position.direction).opposite();
        let approval = self
            .approver
            .approve(
                &position.symbol,
                direction,
                position.target_notional,
                u32::try_from(position.leverage).unwrap_or(1),
                &request.reason,
            )
            .await
            .map_err(|e| Status::failed_precondition(format!("risk approval unavailable: {e}")))?;
        if !approval.approved {
            return Err(Status::failed_precondition(format!(
                "risk refused: {}",
                approval.reasons.join("; ")
            )));
        }
        let closing = self
            .engine
            .flip(&position, pb::Initiator::Operator, &request.reason)
            .await?;
        let response = pb::FlipPositionResponse {
            closing: Some(self.pb_position(&closing).await?),
            // the opposite position is created once the exit completes (StreamPositionEvents)
            opening: None,
            duplicate: false,
        };
        self.remember(&request.request_id, Done::Flip(Box::new(response.clone())))
            .await;
        Ok(Response::new(response))
    }

    async fn get_allocation(
        &self,
        _request: Request<pb::GetAllocationRequest>,
    ) -> Result<Response<pb::GetAllocationResponse>, Status> {
        let live = self.engine.live_positions().await.map_err(Status::from)?;
        let last = self.plan.get();
        let model = &self.engine.params().model;
        // utilisation is always against the account's current equity (as risk reports it)
        let equity = self
            .engine
            .exchange
            .account()
            .await
            .map_err(ExecutorError::from)?
            .equity;
        let capital = self.engine.params().capital.clone();
        let reserve = equity.max(Decimal::ZERO) * capital.reserve_ratio;
        let deployable = equity.max(Decimal::ZERO)
            * capital
                .target_utilization
                .min(Decimal::ONE - capital.reserve_ratio);
        let computed_at = last.as_ref().map_or_else(Utc::now, |l| l.computed_at);
        let notional_at_mark = |p: &Position| {
            let mark = self
                .engine
                .mark(&p.symbol)
                .or(p.perp_entry_price)
                .unwrap_or_default();
            // |perp| at mark, as risk values it, so both report the same utilisation
            (p.perp_qty.abs() * mark).round_dp(2)
        };
        let capital_of = |notional: Decimal, direction: Direction| {
            model
                .hedge_capital(notional, direction)
                .map_err(|e| Status::internal(e.to_string()))
        };
        let weight = |c: Decimal| {
            if equity > Decimal::ZERO {
                (c / equity).round_dp(6)
            } else {
                Decimal::ZERO
            }
        };
        let mut pairs = Vec::new();
        let mut deployed = Decimal::ZERO;
        let mut in_use = fff_core::HedgeCapital::default();
        let mut target_capital = Decimal::ZERO;
        let targets = last.map(|l| l.plan.targets).unwrap_or_default();
        for (symbol, direction, target) in &targets {
            let live = live.iter().find(|p| p.symbol == symbol.as_str());
            let actual_notional = live.map(notional_at_mark).unwrap_or_default();
            let target_cap = capital_of(*target, *direction)?.total();
            target_capital += target_cap;
            let actual_cap = capital_of(actual_notional, *direction)?.total();
            pairs.push(pb::PairAllocation {
                symbol: symbol.as_str().to_owned(),
                direction: common::Direction::from(*direction) as i32,
                target_notional: decimal_to_string(*target),
                actual_notional: decimal_to_string(actual_notional),
                target_weight: decimal_to_string(weight(target_cap)),
                actual_weight: decimal_to_string(weight(actual_cap)),
                position_id: live.map(|p| p.id.to_string()).unwrap_or_default(),
                target_capital: decimal_to_string(target_cap.round_dp(2)),
                actual_capital: decimal_to_string(actual_cap.round_dp(2)),
            });
        }
        for position in &live {
            let direction = crate::legs::core_direction(position.direction);
            let notional = notional_at_mark(position);
            let held = capital_of(notional, direction)?;
            deployed += notional;
            in_use = in_use.plus(held);
            if !targets
                .iter()
                .any(|(s, _, _)| s.as_str() == position.symbol)
            {
                pairs.push(pb::PairAllocation {
                    symbol: position.symbol.clone(),
                    direction: common::Direction::from(direction) as i32,
                    target_notional: "0".to_owned(),
                    actual_notional: decimal_to_string(notional),
                    target_weight: "0".to_owned(),
                    actual_weight: decimal_to_string(weight(held.total())),
                    position_id: position.id.to_string(),
                    target_capital: "0".to_owned(),
                    actual_capital: decimal_to_string(held.total().round_dp(2)),
                });
            }
        }
        Ok(Response::new(pb::GetAllocationResponse {
            allocation: Some(pb::Allocation {
                equity: decimal_to_string(equity),
                reserve: decimal_to_string(reserve),
                deployable: decimal_to_string(deployable),
                deployed: decimal_to_string(deployed),
                utilization: decimal_to_string(weight(in_use.total())),
                capital_in_use: decimal_to_string(in_use.total().round_dp(2)),
                spot_side_capital: decimal_to_string(in_use.spot_side.round_dp(2)),
                perp_margin_capital: decimal_to_string(in_use.perp_margin.round_dp(2)),
                target_capital: decimal_to_string(target_capital.round_dp(2)),
                target_utilization: decimal_to_string(weight(target_capital)),
                pairs,
                computed_at: datetime_to_timestamp(computed_at),
            }),
        }))
    }

    async fn get_pnl(
        &self,
        request: Request<pb::GetPnlRequest>,
    ) -> Result<Response<pb::GetPnlResponse>, Status> {
        let request = request.into_inner();
        let (start, end) = match &request.range {
            Some(range) => (
                optional_timestamp("range.start", range.start.as_ref())?,
                optional_timestamp("range.end", range.end.as_ref())?,
            ),
            None => (None, None),
        };
        let id = (!request.position_id.is_empty())
            .then(|| convert::position_id("position_id", &request.position_id))
            .transpose()?;
        let symbol = (!request.symbol.is_empty())
            .then(|| parse_symbol("symbol", &request.symbol))
            .transpose()?;
        let window = Window { start, end };
        let mut positions = self
            .engine
            .store()
            .list_positions(PositionState::ALL)
            .await
            .map_err(ExecutorError::from)?;
        positions.retain(|p| {
            id.is_none_or(|id| p.id == id) && symbol.as_ref().is_none_or(|s| s.as_str() == p.symbol)
        });
        positions.reverse();
        let mut total = Breakdown::default();
        let mut days: std::collections::BTreeMap<chrono::NaiveDate, Breakdown> =
            std::collections::BTreeMap::new();
        let mut per_position = Vec::new();
        for position in &positions {
            let (pnl, by_day) = position_pnl(
                self.engine.store(),
                position,
                self.engine.mark(&position.symbol),
                window,
            )
            .await
            .map_err(Status::from)?;
            total.add(&pnl);
            for (day, b) in by_day {
                days.entry(day).or_default().add(&b);
            }
            per_position.push(pb::PositionPnl {
                position_id: position.id.to_string(),
                symbol: position.symbol.clone(),
                direction: common::Direction::from(crate::legs::core_direction(position.direction))
                    as i32,
                pnl: Some(convert::breakdown(&pnl)),
            });
        }
        Ok(Response::new(pb::GetPnlResponse {
            positions: per_position,
            days: days
                .iter()
                .map(|(day, b)| pb::DailyPnl {
                    date: day.format("%Y-%m-%d").to_string(),
                    pnl: Some(convert::breakdown(b)),
                    funding_events: b.funding_events,
                })
                .collect(),
            total: Some(convert::breakdown(&total)),
            range: request.range,
        }))
    }

    async fn pause(
        &self,
        request: Request<pb::PauseRequest>,
    ) -> Result<Response<pb::PauseResponse>, Status> {
        let request = request.into_inner();
        convert::reason(&request.reason)?;
        // Entry orders are market/IOC and never rest; "cancelling working entries" stops
        // sliced entries under way before their next slice (otherwise they complete).
        let state = if request.cancel_working_entries {
            self.engine
                .pause_and_cancel_entries(&request.reason, "operator")
        } else {
            self.engine.set_paused(true, &request.reason, "operator")
        };
        self.engine
            .persist_run_state()
            .await
            .map_err(Status::from)?;
        let live = self.engine.live_positions().await.map_err(Status::from)?;
        Ok(Response::new(pb::PauseResponse {
            status: Some(convert::run_state(&self.engine, &state, live.len())),
        }))
    }

    async fn resume(
        &self,
        request: Request<pb::ResumeRequest>,
    ) -> Result<Response<pb::ResumeResponse>, Status> {
        let request = request.into_inner();
        convert::reason(&request.reason)?;
        let state = self.engine.set_paused(false, &request.reason, "operator");
        self.engine
            .persist_run_state()
            .await
            .map_err(Status::from)?;
        let live = self.engine.live_positions().await.map_err(Status::from)?;
        Ok(Response::new(pb::ResumeResponse {
            status: Some(convert::run_state(&self.engine, &state, live.len())),
        }))
    }

    async fn get_status(
        &self,
        _request: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::GetStatusResponse>, Status> {
        let state = self.engine.run_state();
        let live = self.engine.live_positions().await.map_err(Status::from)?;
        let mut response = Response::new(pb::GetStatusResponse {
            status: Some(convert::run_state(&self.engine, &state, live.len())),
        });
        // The status message has no field for it: the reconciliation summary travels as
        // response metadata (`fff-reconciliation`).
        let summary = match self.engine.reconcile_report() {
            Some(report) => report.summary(),
            None => "pending".to_owned(),
        };
        if let Ok(value) = summary.parse() {
            response.metadata_mut().insert("fff-reconciliation", value);
        }
        let metrics = self.engine.metrics();
        let us = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
        let figures = |name: &str, samples: &crate::metrics::Samples| {
            format!(
                "{name} n={} p50={} p90={} p99={} max={}",
                samples.len(),
                us(samples.percentile(50)),
                us(samples.percentile(90)),
                us(samples.percentile(99)),
                us(samples.max()),
            )
        };
        let latency = format!(
            "{}; {}",
            figures("unhedged_us", &metrics.unhedged_window),
            figures("opportunity_to_order_us", &metrics.opportunity_to_order),
        );
        if let Ok(value) = latency.parse() {
            response.metadata_mut().insert("fff-latency", value);
        }
        Ok(response)
    }

    type StreamPositionEventsStream = ResponseStream<pb::StreamPositionEventsResponse>;

    async fn stream_position_events(
        &self,
        request: Request<pb::StreamPositionEventsRequest>,
    ) -> Result<Response<Self::StreamPositionEventsStream>, Status> {
        let request = request.into_inner();
        let mut symbols = Vec::new();
        for (i, raw) in request.symbols.iter().enumerate() {
            symbols.push(
                parse_symbol(&format!("symbols[{i}]"), raw)?
                    .as_str()
                    .to_owned(),
            );
        }
        let only = (!request.position_id.is_empty())
            .then(|| convert::position_id("position_id", &request.position_id))
            .transpose()?;
        let wanted = move |p: &Position| {
            (symbols.is_empty() || symbols.contains(&p.symbol)) && only.is_none_or(|id| id == p.id)
        };
        // subscribe before the snapshot so nothing falls between them
        let mut events = self.engine.subscribe();
        let snapshot = if request.include_snapshot {
            Some(self.engine.live_positions().await.map_err(Status::from)?)
        } else {
            None
        };
        let engine = Arc::clone(&self.engine);
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            let sequence = std::sync::atomic::AtomicU64::new(0);
            let send = |event| {
                let n = sequence.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                pb::StreamPositionEventsResponse {
                    sequence: n,
                    event_time: datetime_to_timestamp(Utc::now()),
                    event: Some(event),
                }
            };
            if let Some(snapshot) = snapshot {
                let snapshot: Vec<Position> = snapshot.into_iter().filter(|p| wanted(p)).collect();
                for position in &snapshot {
                    let event = pb::PositionEvent {
                        kind: pb::PositionEventKind::Snapshot as i32,
                        position: Some(convert::position(&engine, position, None)),
                        initiator: pb::Initiator::Unspecified as i32,
                        ..pb::PositionEvent::default()
                    };
                    let message = send(pb::stream_position_events_response::Event::PositionEvent(
                        event,
                    ));
                    if tx.send(Ok(message)).await.is_err() {
                        return;
                    }
                }
                let done = common::SnapshotComplete {
                    event_count: u32::try_from(snapshot.len()).unwrap_or(u32::MAX),
                };
                let message =
                    send(pb::stream_position_events_response::Event::SnapshotComplete(done));
                if tx.send(Ok(message)).await.is_err() {
                    return;
                }
            }
            loop {
                let message = match events.recv().await {
                    Ok(event) if wanted(&event.position) => {
                        let mut message =
                            send(pb::stream_position_events_response::Event::PositionEvent(
                                convert::event(&engine, &event),
                            ));
                        message.event_time = datetime_to_timestamp(event.at);
                        message
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => {
                        let last = sequence.load(std::sync::atomic::Ordering::Relaxed);
                        send(pb::stream_position_events_response::Event::Resync(
                            common::Resync {
                                reason: common::ResyncReason::SubscriberLagged as i32,
                                detail: "subscriber fell behind; re-read ListPositions".to_owned(),
                                last_sequence: last,
                            },
                        ))
                    }
                    Err(RecvError::Closed) => return,
                };
                if tx.send(Ok(message)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

#[cfg(test)]
mod tests;
