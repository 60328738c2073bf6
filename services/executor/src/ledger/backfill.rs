//! Catch-up from the venue's own records, for what the account stream missed (a WebSocket drop
//! at the gateway, a gateway or executor restart, a PostgreSQL outage while an event was being
//! booked):
//!
//! - **fills**: every order the books hold with an executed quantity its booked fills do not add
//!   up to (one query finds them) has its trades fetched (ListTrades by the venue's order id)
//!   and the missing ones booked.
//!   Fills are keyed by (venue, symbol, trade id), as the stream's are, so the stream and the
//!   backfill never double-book. Only orders with a gap are queried (weight 10 on margin, 5 on
//!   USDⓈ-M), and an order whose gap the venue cannot close is retried with a growing delay.
//! - **interest**: every charge is booked from ListInterest (`interestHistory`), keyed by the
//!   venue's txId; the stream's interest events carry no id and only trigger a poll.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use fff_proto::convert::parse_optional_decimal;
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::executor::v1::{Initiator, PositionEventKind};
use fff_proto::fff::gateway::v1 as gw;
use fff_store::{NewBorrowInterest, Order, Position};
use rust_decimal::Decimal;

use super::{book_fill, dec, time};
use crate::engine::{Engine, EngineEvent};
use crate::error::{ExecutorError, Result};
use crate::exchange::GatewayClientT;

/// A scan that is not a full one looks at live positions and those changed this recently.
const RECENT: Duration = Duration::from_secs(2 * 3600);
/// An order changed this recently may still have its fills on the way from the stream.
const STREAM_GRACE: Duration = Duration::from_secs(1);
/// First retry delay of an order whose gap the venue's trades did not close (doubling, capped):
/// the venue may list a trade a moment after the order reports it executed.
const STUCK_RETRY: Duration = Duration::from_secs(2);
const STUCK_RETRY_MAX: Duration = Duration::from_secs(30 * 60);
/// The interest poll re-reads this much before the newest charge seen: a charge may be listed
/// a little after the time it is dated.
const INTEREST_OVERLAP: Duration = Duration::from_secs(2 * 3600);
/// A charge booked by an earlier build from a stream event (no txId, no rate) is the venue's
/// record of the same asset and amount dated this close to it.
const LEGACY_MATCH: Duration = Duration::from_secs(120);

/// What the catch-up remembers between polls.
#[derive(Debug)]
pub struct Backfill {
    /// Orders changed more recently than this are left to the stream for now.
    pub(crate) stream_grace: Duration,
    interest_cursor: Option<DateTime<Utc>>,
    /// Orders (by row id) whose gap stayed open: attempts made and the earliest next attempt.
    stuck: HashMap<i64, (u32, Instant)>,
}

impl Default for Backfill {
    fn default() -> Self {
        Self::new()
    }
}

/// Which orders a fill scan looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Every order of every position: at start-up and after the stream was interrupted.
    Full,
    /// Orders of live positions and of positions changed within [`RECENT`].
    Recent,
}

/// An order the books hold as (partly) executed whose fills do not add up to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub order: Order,
    pub booked: Decimal,
}

fn gateway_venue(venue: fff_store::Venue) -> common::Venue {
    match venue {
        fff_store::Venue::Usdm => common::Venue::UsdmPerp,
        _ => common::Venue::SpotMargin,
    }
}

fn grpc(status: &tonic::Status) -> ExecutorError {
    ExecutorError::Internal(format!("gateway: {}", status.message()))
}

impl Backfill {
    pub fn new() -> Self {
        Self {
            stream_grace: STREAM_GRACE,
            interest_cursor: None,
            stuck: HashMap::new(),
        }
    }

    /// Orders with a fill gap, oldest first (skipping those retried too recently).
    pub async fn gaps(&mut self, engine: &Engine, scan: Scan) -> Result<Vec<Gap>> {
        let now = Utc::now();
        let since = match scan {
            Scan::Full => None,
            Scan::Recent => Some(now - chrono::Duration::from_std(RECENT).unwrap_or_default()),
        };
        let grace = now - chrono::Duration::from_std(self.stream_grace).unwrap_or_default();
        let gaps = engine
            .store()
            .list_fill_gaps(since)
            .await?
            .into_iter()
            .filter(|(order, _)| {
                order.updated_at <= grace
                    && self
                        .stuck
                        .get(&order.id)
                        .is_none_or(|(_, next)| *next <= Instant::now())
            })
            .map(|(order, booked)| Gap { order, booked })
            .collect();
        Ok(gaps)
    }

    /// Books the venue's trades of every order with a gap; returns the fills booked.
    pub async fn fills(
        &mut self,
        engine: &Engine,
        client: &GatewayClientT,
        scan: Scan,
    ) -> Result<u32> {
        let mut booked = 0;
        // a query the gateway refuses (a rate-limit pause, a ban, a restart) is tried again at
        // the next scan; it must not hold back the other orders' gaps behind it
        let mut failed: Option<(usize, tonic::Status)> = None;
        for gap in self.gaps(engine, scan).await? {
            let order = &gap.order;
            let venue = gateway_venue(order.venue);
            let trades = match client
                .clone()
                .list_trades(gw::ListTradesRequest {
                    venue: venue as i32,
                    symbol: order.symbol.clone(),
                    exchange_order_id: order
                        .exchange_order_id
                        .and_then(|id| u64::try_from(id).ok())
                        .unwrap_or(0),
                    start: None,
                    limit: 1000,
                })
                .await
            {
                Ok(trades) => trades.into_inner(),
                Err(status) => {
                    let count = failed.as_ref().map_or(0, |(n, _)| *n);
                    failed = Some((count + 1, status));
                    continue;
                }
            };
            let mut now_booked = gap.booked;
            for mut fill in trades.fills {
                if order
                    .exchange_order_id
                    .is_none_or(|id| u64::try_from(id).ok() != Some(fill.exchange_order_id))
                {
                    continue;
                }
                fill.client_order_id.clone_from(&order.client_order_id);
                let at = fill
                    .traded_at
                    .as_ref()
                    .map_or_else(Utc::now, |t| time(Some(t)));
                match book_fill(engine, venue as i32, &fill, at).await {
                    Ok(created) => {
                        if created {
                            booked += 1;
                            now_booked += dec("quantity", &fill.quantity)?;
                        }
                    }
                    // a malformed record is reported and skipped, like a stream one
                    Err(ExecutorError::Internal(message)) => {
                        tracing::error!(client_order_id = %order.client_order_id, trade_id = fill.trade_id, error = %message, "backfilled fill not booked");
                    }
                    Err(err) => return Err(err),
                }
            }
            if now_booked < order.executed_qty {
                let (attempts, _) = self
                    .stuck
                    .get(&order.id)
                    .copied()
                    .unwrap_or((0, Instant::now()));
                let delay = STUCK_RETRY
                    .saturating_mul(2u32.saturating_pow(attempts.min(10)))
                    .min(STUCK_RETRY_MAX);
                self.stuck
                    .insert(order.id, (attempts + 1, Instant::now() + delay));
                tracing::warn!(
                    client_order_id = %order.client_order_id,
                    executed = %order.executed_qty,
                    booked = %now_booked,
                    retry_in_s = delay.as_secs(),
                    "the venue's trades do not cover the order's executed quantity"
                );
            } else {
                self.stuck.remove(&order.id);
                if now_booked > gap.booked {
                    tracing::info!(
                        client_order_id = %order.client_order_id,
                        fills = %(now_booked - gap.booked),
                        "fills missed by the account stream booked from the venue's trades"
                    );
                }
            }
        }
        if let Some((count, status)) = failed {
            tracing::warn!(orders = count, booked, error = %status.message(), "trades of some orders could not be read; retrying at the next scan");
            return Err(grpc(&status));
        }
        Ok(booked)
    }

    /// Books every interest charge from the cursor (the newest seen, minus an overlap; at first
    /// the venue's default window, the last 7 days) and advances it; returns the charges booked.
    pub async fn interest(&mut self, engine: &Engine, client: &GatewayClientT) -> Result<u32> {
        let overlap = chrono::Duration::from_std(INTEREST_OVERLAP).unwrap_or_default();
        let start = self.interest_cursor.map(|c| c - overlap);
        let mut booked = 0;
        let mut page_token = String::new();
        loop {
            let response = client
                .clone()
                .list_interest(gw::ListInterestRequest {
                    asset: String::new(),
                    range: start.map(|s| common::TimeRange {
                        start: fff_proto::convert::datetime_to_timestamp(s),
                        end: None,
                    }),
                    page_size: 100,
                    page_token: page_token.clone(),
                })
                .await
                .map_err(|s| grpc(&s))?
                .into_inner();
            for record in &response.records {
                match book_interest(engine, record).await {
                    Ok(true) => booked += 1,
                    Ok(false) => {}
                    Err(ExecutorError::Internal(message)) => {
                        tracing::error!(asset = %record.asset, tx_id = %record.tx_id, error = %message, "interest not booked");
                    }
                    Err(err) => return Err(err),
                }
                let at = time(record.time.as_ref());
                if self.interest_cursor.is_none_or(|c| at > c) {
                    self.interest_cursor = Some(at);
                }
            }
            if response.next_page_token.is_empty() || response.records.is_empty() {
                break;
            }
            page_token = response.next_page_token;
        }
        Ok(booked)
    }
}

/// The position a charge of `asset` at `at` belongs to: USDT is borrowed only by long spot legs
/// (`capital.spot_usdt_borrow`), booked on the one live such position when there is one alone;
/// a base asset on its symbol's live position, else on the newest one that existed by then.
async fn charged_position(
    engine: &Engine,
    asset: &str,
    at: DateTime<Utc>,
) -> Result<Option<Position>> {
    let store = engine.store();
    if asset == "USDT" {
        let mut longs: Vec<_> = store
            .list_live_positions()
            .await?
            .into_iter()
            .filter(|p| p.direction == fff_store::Direction::LongSpotShortPerp)
            .collect();
        return Ok(if longs.len() == 1 { longs.pop() } else { None });
    }
    super::position_at(store, &format!("{asset}USDT"), at).await
}

/// Books one venue interest charge once (by txId); true if it was new.
pub async fn book_interest(engine: &Engine, record: &gw::InterestRecord) -> Result<bool> {
    let Ok(tx_id) = record.tx_id.parse::<i64>() else {
        tracing::warn!(tx_id = %record.tx_id, "non-numeric interest txId skipped");
        return Ok(false);
    };
    // a charge rounded to zero (a dust loan) is booked too: the table lists the venue's records
    let amount = dec("interest", &record.interest)?.abs();
    let at = time(record.time.as_ref());
    let position = charged_position(engine, &record.asset, at).await?;
    let store = engine.store();
    if let Some(position) = &position {
        let legacy = chrono::Duration::from_std(LEGACY_MATCH).unwrap_or_default();
        let booked = store.list_position_interest(position.id).await?;
        if booked.iter().any(|b| b.tx_id == tx_id) {
            return Ok(false);
        }
        // booked before this build from the stream event, without the venue's id
        if booked.iter().any(|b| {
            b.interest_rate.is_none()
                && b.asset == record.asset
                && b.amount == amount
                && (b.charged_at - at).abs() <= legacy
        }) {
            return Ok(false);
        }
    }
    let mark = if record.asset == "USDT" {
        Decimal::ONE
    } else {
        let symbol = format!("{}USDT", record.asset);
        match engine.mark(&symbol) {
            Some(mark) => mark,
            None => engine
                .exchange
                .instrument(&symbol)
                .await
                .map(|i| i.mark_price)
                .unwrap_or_default(),
        }
    };
    let kind = if record.kind.is_empty() {
        "PERIODIC".to_owned()
    } else {
        record.kind.clone()
    };
    let inserted = store
        .insert_borrow_interest(&NewBorrowInterest {
            tx_id,
            asset: record.asset.clone(),
            position_id: position.as_ref().map(|p| p.id),
            amount,
            amount_quote: (amount * mark).round_dp(8),
            interest_rate: parse_optional_decimal("interest_rate", &record.interest_rate)
                .ok()
                .flatten(),
            principal: parse_optional_decimal("principal", &record.principal)
                .ok()
                .flatten(),
            interest_type: kind,
            charged_at: at,
        })
        .await?;
    if inserted.created
        && !amount.is_zero()
        && let Some(position) = position
    {
        engine.emit_event(EngineEvent {
            kind: PositionEventKind::Interest,
            position,
            initiator: Initiator::Strategy,
            detail: format!("{} {}", amount, record.asset),
            amount: Some(-(amount * mark).round_dp(8)),
            client_order_id: None,
            at,
        });
    }
    Ok(inserted.created)
}
