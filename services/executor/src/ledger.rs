//! Books the account's cash flows into PostgreSQL: fills (from the gateway's account stream, and
//! from the venue's trade history for what the stream missed: [`backfill`]), funding payments
//! and the venue's liquidation clearance fees ([`clearance`]), both from ListIncome (the
//! exchange's own records with their transaction ids, so the tables match the exchange exactly
//! and a replay never double-counts), and borrow interest (from ListInterest, keyed by the
//! venue's txId likewise).
//!
//! The stream's funding and interest events carry no transaction id (Binance ACCOUNT_UPDATE,
//! USER_LIABILITY_CHANGE), so they only trigger a poll; so does a venue close of a perp (its
//! clearance fee is an income record); the poll also runs on a timer, which catches anything
//! missed while disconnected. At start-up and after every interruption of the
//! stream (a reconnect, or a Resync from the gateway) every order is checked for fills the books
//! lack; every second, the orders of live and recently changed positions are. Expected funding is `-signed perp qty x mark x rate` with the rate
//! and mark of that settlement (ListFundingRates); `amount - expected` is the discrepancy.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use fff_proto::convert::{decimal_to_string, parse_optional_decimal};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::executor::v1::{Initiator, PositionEventKind};
use fff_proto::fff::gateway::v1 as gw;
use fff_store::{NewFill, NewFundingPayment};
use rust_decimal::Decimal;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;

use crate::engine::venue_close::is_venue_close;
use crate::engine::{Engine, EngineEvent};
use crate::error::{ExecutorError, Result};
use crate::exchange::GatewayClientT;

pub mod backfill;
pub mod clearance;

/// Funding settles at most hourly and the stream's funding events trigger a poll at once; the
/// timer only catches what the stream missed. ListIncome weighs 30, so it stays rare; the fill
/// scan queries the venue only for orders with a gap, the interest poll weighs 1 a page.
const INCOME_POLL: Duration = Duration::from_secs(30);
/// The books are checked for fills they lack this often: a database read of the orders not yet
/// known complete; the venue is asked only about an order with a gap.
const FILL_SCAN: Duration = Duration::from_secs(1);
/// Pokes arriving within this window after a poll are served by one more poll.
const POKE_DEBOUNCE: Duration = Duration::from_millis(500);
/// The income the ledger books, each kind read with the venue's one-type filter: a read of
/// every type would page through the commission and realized P&L of every fill.
const BOOKED_INCOME: [gw::IncomeKind; 2] =
    [gw::IncomeKind::FundingFee, gw::IncomeKind::InsuranceClear];

/// A money field of an exchange record: an empty string is 0 (Binance omits zero fees), a
/// malformed one is an error: booking it as 0 would silently misstate P&L.
fn dec(field: &str, raw: &str) -> Result<Decimal> {
    parse_optional_decimal(field, raw)
        .map(Option::unwrap_or_default)
        .map_err(|e| {
            ExecutorError::Internal(format!("malformed {field} {raw:?} from the gateway: {e}"))
        })
}

fn time(ts: Option<&prost_types::Timestamp>) -> DateTime<Utc> {
    ts.and_then(|t| {
        Utc.timestamp_opt(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
            .single()
    })
    .unwrap_or_else(Utc::now)
}

/// Follows the account stream and polls income, interest and missed fills until `cancel` fires.
pub async fn run(engine: Arc<Engine>, client: GatewayClientT, cancel: CancellationToken) {
    let (poke_tx, mut poke_rx) = tokio::sync::mpsc::channel::<()>(8);
    // set at start-up and whenever the stream may have lost events: the next poll scans every
    // order for fills the books lack
    let interrupted = Arc::new(AtomicBool::new(true));
    let poller = {
        let engine = Arc::clone(&engine);
        let client = client.clone();
        let cancel = cancel.clone();
        let interrupted = Arc::clone(&interrupted);
        tokio::spawn(async move {
            let mut cursors = [None; BOOKED_INCOME.len()];
            let mut catch_up = backfill::Backfill::new();
            let mut poll_due = true;
            let mut last_poll = tokio::time::Instant::now();
            loop {
                // fills first: they move positions; funding and interest only the ledger
                let scan = if interrupted.swap(false, Ordering::SeqCst) {
                    backfill::Scan::Full
                } else {
                    backfill::Scan::Recent
                };
                if let Err(err) = catch_up.fills(&engine, &client, scan).await {
                    tracing::warn!(error = %err, "fill backfill failed");
                    if scan == backfill::Scan::Full {
                        interrupted.store(true, Ordering::SeqCst);
                    }
                }
                if poll_due || last_poll.elapsed() >= INCOME_POLL {
                    poll_due = false;
                    last_poll = tokio::time::Instant::now();
                    for (kind, cursor) in BOOKED_INCOME.into_iter().zip(&mut cursors) {
                        if let Err(err) = poll_income(&engine, &client, kind, cursor).await {
                            tracing::warn!(kind = kind.as_str_name(), error = %err, "income poll failed");
                        }
                    }
                    if let Err(err) = catch_up.interest(&engine, &client).await {
                        tracing::warn!(error = %err, "interest history poll failed");
                    }
                }
                tokio::select! {
                    () = cancel.cancelled() => return,
                    _ = poke_rx.recv() => {
                        tokio::time::sleep(POKE_DEBOUNCE).await;
                        while poke_rx.try_recv().is_ok() {}
                        poll_due = true;
                    }
                    () = tokio::time::sleep(FILL_SCAN) => {}
                }
            }
        })
    };
    let mut delay = Duration::from_millis(200);
    loop {
        let result = tokio::select! {
            () = cancel.cancelled() => break,
            result = follow_stream(&engine, client.clone(), &poke_tx, &interrupted) => result,
        };
        fff_alerts::dependency_down(
            "gateway",
            &result
                .as_ref()
                .err()
                .map_or_else(|| "account stream ended".to_owned(), ToString::to_string),
            "fills, funding and interest are not booked until it is back",
        );
        if let Err(err) = result {
            tracing::warn!(error = %err, "account stream ended; reconnecting");
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
    poller.abort();
}

async fn follow_stream(
    engine: &Arc<Engine>,
    mut client: GatewayClientT,
    poke: &tokio::sync::mpsc::Sender<()>,
    interrupted: &AtomicBool,
) -> Result<()> {
    let mut stream = client
        .stream_account(gw::StreamAccountRequest::default())
        .await
        .map_err(|s| ExecutorError::Internal(s.message().to_owned()))?
        .into_inner();
    fff_alerts::dependency_up("gateway");
    // anything missed while disconnected
    interrupted.store(true, Ordering::SeqCst);
    let _ = poke.try_send(());
    while let Some(message) = stream
        .message()
        .await
        .map_err(|s| ExecutorError::Internal(s.message().to_owned()))?
    {
        engine.saw_account_event(message.sequence);
        let at = time(message.event_time.as_ref());
        match message.event {
            Some(gw::stream_account_response::Event::Fill(fill)) => {
                // a record that cannot be booked exactly is reported, never booked as 0, and
                // does not stop the stream; one lost to a store outage is backfilled
                if let Err(err) = book_fill(engine, message.venue, &fill, at).await {
                    tracing::error!(client_order_id = %fill.client_order_id, error = %err, "fill not booked");
                }
            }
            Some(gw::stream_account_response::Event::OrderUpdate(update)) => {
                let Some(order) = update.order else { continue };
                let applied = if is_venue_close(&order, &update.execution_type) {
                    let booked = engine.venue_closed_perp(&order).await.map(|_| ());
                    // its clearance fee is an income record: read now, not at the timed poll
                    let _ = poke.try_send(());
                    booked
                } else {
                    apply_order_update(engine, &order).await.map(|_| ())
                };
                if let Err(err) = applied {
                    tracing::warn!(client_order_id = %order.client_order_id, error = %err, "order update not applied");
                }
            }
            Some(gw::stream_account_response::Event::Resync(_)) => {
                // the gateway's own venue stream had a gap: events may be lost
                interrupted.store(true, Ordering::SeqCst);
                let _ = poke.try_send(());
            }
            Some(gw::stream_account_response::Event::FundingFee(fee)) => {
                // the gateway found the fee's income record (symbol and id): booked now, not by
                // a ListIncome poll (30 request weight each); a fee without them waits for it
                let booked = match funding_record(&fee) {
                    Some(record) => book_funding(engine, &client, &record).await,
                    None => Ok(false),
                };
                match booked {
                    Ok(true) => {}
                    Ok(false) if !fee.income_id.is_empty() => {} // already booked
                    Ok(false) => {
                        let _ = poke.try_send(());
                    }
                    Err(err) => {
                        tracing::warn!(symbol = %fee.symbol, error = %err, "funding fee from the stream not booked; polling");
                        let _ = poke.try_send(());
                    }
                }
            }
            Some(gw::stream_account_response::Event::Interest(_)) => {
                let _ = poke.try_send(());
            }
            _ => {}
        }
    }
    Ok(())
}

/// Applies the venue's report of one of our orders to its row, so an order whose task has
/// gone (failed on a lost answer, a refused cancel, a restart) still shows what the venue did
/// at once, not at the next stale-order sweep a minute later; the exit or repair that reads the
/// legs from the orders then plans from the truth. The store only moves an order forward
/// (status transitions, executed quantity never down), so a report older than what a task
/// booked from its own answer is ignored. Returns whether the row changed.
pub async fn apply_order_update(engine: &Engine, order: &gw::Order) -> Result<bool> {
    let store = engine.store();
    let Some(row) = store.get_order(&order.client_order_id).await? else {
        return Ok(false);
    };
    if row.status.is_terminal() {
        return Ok(false);
    }
    let report = crate::exchange::report_from_wire(order)
        .map_err(|e| ExecutorError::Internal(e.to_string()))?;
    let outcome = store
        .update_order(
            &order.client_order_id,
            &crate::engine::orders::update_from(&report),
        )
        .await?;
    if outcome.is_applied() {
        tracing::debug!(client_order_id = %order.client_order_id, status = ?report.status, executed = %report.executed_qty, "order updated from the account stream");
    }
    Ok(outcome.is_applied())
}

/// Records one execution of one of our orders (others' orders are ignored).
pub async fn book_fill(
    engine: &Engine,
    venue: i32,
    fill: &gw::Fill,
    at: DateTime<Utc>,
) -> Result<bool> {
    let store = engine.store();
    let Some(order) = store.get_order(&fill.client_order_id).await? else {
        return Ok(false);
    };
    let qty = dec("quantity", &fill.quantity)?;
    let price = dec("price", &fill.price)?;
    let Ok(trade_id) = i64::try_from(fill.trade_id) else {
        return Ok(false);
    };
    if qty <= Decimal::ZERO || price <= Decimal::ZERO {
        return Ok(false);
    }
    let fee = dec("commission", &fill.commission)?.abs();
    let fee_quote = fee_in_quote(engine, fill, fee, price).await?;
    let venue = match common::Venue::try_from(venue) {
        Ok(common::Venue::UsdmPerp) => fff_store::Venue::Usdm,
        Ok(common::Venue::SpotMargin) => fff_store::Venue::Margin,
        _ => order.venue,
    };
    let inserted = store
        .insert_fill(&NewFill {
            order_id: order.id,
            venue,
            symbol: order.symbol.clone(),
            trade_id,
            side: order.side,
            qty,
            price,
            fee,
            fee_asset: fill.commission_asset.clone(),
            fee_quote,
            is_maker: fill.is_maker,
            traded_at: at,
        })
        .await?;
    if inserted.created
        && let Some(position_id) = order.position_id
        && let Some(position) = store.get_position(position_id).await?
    {
        engine.emit_event(EngineEvent {
            kind: PositionEventKind::LegFilled,
            position,
            initiator: Initiator::Strategy,
            detail: format!("{} {} @ {}", order.leg, qty, price),
            amount: None,
            client_order_id: Some(order.client_order_id.clone()),
            at,
        });
    }
    Ok(inserted.created)
}

/// A fee in USDT: as charged in the quote asset, at the fill price in the base asset, at the
/// asset's USDT mark in a third asset (BNB with the fee discount on).
async fn fee_in_quote(
    engine: &Engine,
    fill: &gw::Fill,
    fee: Decimal,
    price: Decimal,
) -> Result<Decimal> {
    let asset = fill.commission_asset.as_str();
    if fee.is_zero() || asset.is_empty() || fill.symbol.ends_with(asset) {
        return Ok(fee);
    }
    if fill.symbol.starts_with(asset) {
        return Ok((fee * price).round_dp(8));
    }
    let pair = format!("{asset}USDT");
    let mark = match engine.mark(&pair) {
        Some(mark) => mark,
        None => engine.exchange.instrument(&pair).await?.mark_price,
    };
    if mark <= Decimal::ZERO {
        return Err(ExecutorError::Internal(format!(
            "no USDT price for fee asset {asset}"
        )));
    }
    Ok((fee * mark).round_dp(8))
}

/// Books every income record of `kind` (FUNDING_FEE or INSURANCE_CLEAR) from `cursor` (exchange
/// time of the newest record seen, minus a minute of overlap; `None` reads the whole history)
/// and advances it.
pub async fn poll_income(
    engine: &Engine,
    client: &GatewayClientT,
    kind: gw::IncomeKind,
    cursor: &mut Option<DateTime<Utc>>,
) -> Result<u32> {
    let mut booked = 0;
    let mut page_token = String::new();
    let start = cursor.map(|c| c - chrono::Duration::minutes(1));
    loop {
        let response = client
            .clone()
            .list_income(gw::ListIncomeRequest {
                symbol: String::new(),
                kinds: vec![kind as i32],
                range: start.map(|s| common::TimeRange {
                    start: fff_proto::convert::datetime_to_timestamp(s),
                    end: None,
                }),
                page_size: 1000,
                page_token: page_token.clone(),
            })
            .await
            .map_err(|s| ExecutorError::Internal(s.message().to_owned()))?
            .into_inner();
        for record in &response.records {
            let booked_now = match gw::IncomeKind::try_from(record.kind) {
                Ok(gw::IncomeKind::FundingFee) => book_funding(engine, client, record).await,
                Ok(gw::IncomeKind::InsuranceClear) => clearance::book(engine, record).await,
                _ => Ok(false),
            };
            match booked_now {
                Ok(true) => booked += 1,
                Ok(false) => {}
                // a malformed record is reported, never booked as 0, and does not hold up the
                // records after it; the store's errors still stop the poll
                Err(ExecutorError::Internal(message)) => {
                    tracing::error!(symbol = %record.symbol, info = %record.info, error = %message, "income not booked");
                }
                Err(err) => return Err(err),
            }
            let at = time(record.time.as_ref());
            if cursor.is_none_or(|c| at > c) {
                *cursor = Some(at);
            }
        }
        if response.next_page_token.is_empty() || response.records.is_empty() {
            break;
        }
        page_token = response.next_page_token;
    }
    Ok(booked)
}

/// The income record a streamed funding fee stands for, when the gateway attached its symbol
/// and income id (it looks the record up at each settlement).
pub(crate) fn funding_record(fee: &gw::FundingFee) -> Option<gw::IncomeRecord> {
    if fee.income_id.is_empty() || fee.symbol.is_empty() {
        return None;
    }
    Some(gw::IncomeRecord {
        income_id: fee.income_id.clone(),
        kind: gw::IncomeKind::FundingFee as i32,
        venue: common::Venue::UsdmPerp as i32,
        symbol: fee.symbol.clone(),
        asset: fee.asset.clone(),
        amount: fee.amount.clone(),
        time: fee.funding_time,
        info: "FUNDING_FEE".to_owned(),
    })
}

pub(crate) async fn book_funding(
    engine: &Engine,
    client: &GatewayClientT,
    record: &gw::IncomeRecord,
) -> Result<bool> {
    let Ok(tran_id) = record.income_id.parse::<i64>() else {
        tracing::warn!(income_id = %record.income_id, "non-numeric funding income id skipped");
        return Ok(false);
    };
    let store = engine.store();
    let paid_at = time(record.time.as_ref());
    let position = position_at(store, &record.symbol, paid_at).await?;
    let amount = dec("amount", &record.amount)?;
    let (rate, mark) = settlement(client, &record.symbol, paid_at).await;
    let perp = match &position {
        Some(position) => perp_at(&store.list_position_orders(position.id).await?, paid_at),
        None => Decimal::ZERO,
    };
    let expected = match (rate, mark) {
        (Some(rate), Some(mark)) => Some((-perp * mark * rate).round_dp(8)),
        _ => None,
    };
    let inserted = store
        .insert_funding_payment(&NewFundingPayment {
            tran_id,
            symbol: record.symbol.clone(),
            position_id: position.as_ref().map(|p| p.id),
            asset: record.asset.clone(),
            amount,
            funding_rate: rate,
            mark_price: mark,
            notional: mark.map(|m| (perp.abs() * m).round_dp(8)),
            expected_amount: expected,
            paid_at,
        })
        .await?;
    if inserted.created {
        fff_runtime::metrics::counter_add(
            "fff_executor_funding_payments_total",
            "Funding payments booked.",
            &[("asset", record.asset.as_str())],
            1.0,
        );
        fff_runtime::metrics::gauge_set(
            "fff_executor_last_funding_amount",
            "Amount of the last funding payment booked (negative when paid), by symbol.",
            &[("symbol", record.symbol.as_str())],
            rust_decimal::prelude::ToPrimitive::to_f64(&amount).unwrap_or(f64::NAN),
        );
        // Funding captured, as two monotonic counters (a Prometheus counter never decreases);
        // a display value: the exact Decimal sums stay in funding_payments and GetPnl.
        let (name, help) = if amount.is_sign_negative() {
            (
                "fff_executor_funding_paid_total",
                "Funding paid, in the asset it was settled in (display value; exact sums in GetPnl).",
            )
        } else {
            (
                "fff_executor_funding_received_total",
                "Funding received, in the asset it was settled in (display value; exact sums in GetPnl).",
            )
        };
        fff_runtime::metrics::counter_add(
            name,
            help,
            &[("asset", record.asset.as_str())],
            rust_decimal::prelude::ToPrimitive::to_f64(&amount.abs()).unwrap_or(0.0),
        );
        if let Some(expected) = expected
            && expected != amount
        {
            tracing::warn!(
                symbol = %record.symbol,
                %amount,
                %expected,
                discrepancy = %(amount - expected),
                "funding differs from expectation"
            );
            crate::alerts::funding_discrepancy(
                &record.symbol,
                &record.asset,
                amount,
                expected,
                rate,
                mark,
            );
        }
        let Some(position) = position else {
            return Ok(true);
        };
        engine.emit_event(EngineEvent {
            kind: PositionEventKind::Funding,
            position,
            initiator: Initiator::Strategy,
            detail: format!("funding {}", decimal_to_string(amount)),
            amount: Some(amount),
            client_order_id: None,
            at: paid_at,
        });
    }
    Ok(inserted.created)
}

/// The position a charge to `symbol` at `at` belongs to: the symbol's live position, else its
/// newest one, among positions that existed then (a minute of clock skew allowed): history from
/// before fff traded the symbol stays unattributed. The simulator's clock runs ahead of ours,
/// never behind, so this holds there too.
pub(crate) async fn position_at(
    store: &fff_store::Store,
    symbol: &str,
    at: DateTime<Utc>,
) -> Result<Option<fff_store::Position>> {
    let existed = |p: &fff_store::Position| p.created_at <= at + chrono::Duration::minutes(1);
    Ok(match store.live_position(symbol).await? {
        Some(position) if existed(&position) => Some(position),
        _ => store
            .list_positions(fff_store::PositionState::ALL)
            .await?
            .into_iter()
            .filter(|p| p.symbol == symbol && existed(p))
            .max_by_key(|p| p.id),
    })
}

/// Signed perp position held at `at`: the orders recorded by then. When that is flat but the
/// position held a perp before (a settlement booked after the exit, or an exchange clock ahead
/// of ours as in the accelerated simulator), the largest position held stands in.
fn perp_at(orders: &[fff_store::Order], at: DateTime<Utc>) -> Decimal {
    let mut running = Decimal::ZERO;
    let mut at_time = Decimal::ZERO;
    let mut peak = Decimal::ZERO;
    for order in orders.iter().filter(|o| o.leg == fff_store::Leg::Perp) {
        running += match order.side {
            fff_store::Side::Buy => order.executed_qty,
            fff_store::Side::Sell => -order.executed_qty,
        };
        if order.updated_at <= at {
            at_time = running;
        }
        if running.abs() > peak.abs() {
            peak = running;
        }
    }
    if at_time.is_zero() { peak } else { at_time }
}

/// Funding rate and mark price of the settlement at `at` (nearest record within a minute).
async fn settlement(
    client: &GatewayClientT,
    symbol: &str,
    at: DateTime<Utc>,
) -> (Option<Decimal>, Option<Decimal>) {
    let window = chrono::Duration::minutes(1);
    let response = client
        .clone()
        .list_funding_rates(gw::ListFundingRatesRequest {
            symbol: symbol.to_owned(),
            range: Some(common::TimeRange {
                start: fff_proto::convert::datetime_to_timestamp(at - window),
                end: fff_proto::convert::datetime_to_timestamp(at + window),
            }),
            page_size: 10,
            page_token: String::new(),
        })
        .await;
    let Ok(response) = response else {
        return (None, None);
    };
    let best = response.into_inner().records.into_iter().min_by_key(|r| {
        (time(r.funding_time.as_ref()) - at)
            .num_milliseconds()
            .abs()
    });
    match best {
        Some(record) => (
            parse_optional_decimal("funding_rate", &record.funding_rate)
                .ok()
                .flatten(),
            parse_optional_decimal("mark_price", &record.mark_price)
                .ok()
                .flatten()
                .filter(|m| *m > Decimal::ZERO),
        ),
        None => (None, None),
    }
}

#[cfg(test)]
mod tests;
