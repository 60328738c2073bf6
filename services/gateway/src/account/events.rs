//! User-data streams → StreamAccount events: futures (listenKey), spot and cross margin (WS
//! API) and the margin risk stream. Order events also update the idempotency book so GetOrder
//! stays current. A gap publishes a Resync and invalidates the account snapshot; after the
//! reconnect the snapshot is re-read.

use std::sync::Arc;

use fff_binance::RestClient;
use fff_binance::models::stream::{
    AccountEvent, ExecutionReport, FuturesOrderUpdate, FuturesUserEvent, MarginRiskEvent,
};
use fff_binance::orders::{Market, OrderState};
use fff_binance::ws::{
    StreamEvent, StreamHandle, WsConfig, subscribe_futures_user, subscribe_margin_account,
    subscribe_margin_risk, subscribe_spot_account,
};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use pb::stream_account_response::Event;
use tokio_util::sync::CancellationToken;

use super::AccountHub;
use super::funding::FundingFollowup;
use crate::convert::{dec, order_from_state, order_type_to_pb, side_to_pb, ts};
use crate::orders::Orders;

/// Starts every user-data stream the credentials allow.
pub fn spawn_streams(
    rest: &RestClient,
    hub: Arc<AccountHub>,
    orders: Arc<Orders>,
    cancel: CancellationToken,
) {
    let cfg = WsConfig::default();
    let futures = subscribe_futures_user(rest.clone(), cfg.clone());
    let funding = FundingFollowup::new(rest.clone(), hub.clone());
    tokio::spawn(pump(
        futures,
        hub.clone(),
        orders.clone(),
        cancel.clone(),
        move |event, orders| {
            if let FuturesUserEvent::AccountUpdate(update) = event
                && update.is_funding_fee()
            {
                funding.on_settlement(update);
            }
            futures_events(event, orders)
        },
    ));
    match subscribe_spot_account(rest.clone(), cfg.clone()) {
        Ok(spot) => {
            tokio::spawn(pump(
                spot,
                hub.clone(),
                orders.clone(),
                cancel.clone(),
                |e, o| spot_events(Market::Spot, e, o),
            ));
        }
        Err(err) => tracing::warn!(error = %err, "spot user stream unavailable"),
    }
    match subscribe_margin_account(rest.clone(), cfg.clone()) {
        Ok(margin) => {
            tokio::spawn(pump(
                margin,
                hub.clone(),
                orders.clone(),
                cancel.clone(),
                |e, o| spot_events(Market::Margin, e, o),
            ));
        }
        Err(err) => tracing::warn!(error = %err, "margin user stream unavailable"),
    }
    let risk = subscribe_margin_risk(rest.clone(), cfg);
    tokio::spawn(pump(risk, hub, orders, cancel, |e, _| risk_events(e)));
}

type Converted = Vec<(common::Venue, i64, Event)>;

async fn pump<E>(
    mut handle: StreamHandle<E>,
    hub: Arc<AccountHub>,
    orders: Arc<Orders>,
    cancel: CancellationToken,
    convert: impl Fn(&E, &Orders) -> Converted,
) {
    // one Resync per outage: a stream that keeps failing to reconnect reports a gap per attempt
    let mut live = false;
    loop {
        let event = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            event = handle.recv() => event,
        };
        match event {
            None => return,
            Some(StreamEvent::Data(data)) => {
                for (venue, time, event) in convert(&data, &orders) {
                    hub.publish(venue, time, event);
                }
            }
            Some(StreamEvent::Gap { reason }) => {
                tracing::warn!(%reason, "account stream gap");
                if std::mem::replace(&mut live, false) {
                    hub.resync(common::ResyncReason::UpstreamReconnected, &reason);
                    hub.invalidate().await;
                }
            }
            Some(StreamEvent::Reconnected) => {
                live = true;
                let reconnected = tokio::time::Instant::now();
                orders.reconcile_pending().await;
                if let Err(err) = hub.refresh_after(reconnected).await {
                    tracing::warn!(error = %err, "account re-snapshot after reconnect failed");
                }
            }
            Some(StreamEvent::Connected) => live = true,
        }
    }
}

fn futures_order(update: &FuturesOrderUpdate) -> pb::Order {
    let mut order = order_from_state(&OrderState::from_futures_update(update));
    order.r#type = order_type_to_pb(&update.order_type, &update.time_in_force) as i32;
    if update.order_type != "MARKET" {
        order.price = dec(update.price);
    }
    order.reduce_only = update.reduce_only;
    order.updated_at = Some(ts(update.trade_time));
    order
}

fn futures_events(event: &FuturesUserEvent, orders: &Orders) -> Converted {
    let venue = common::Venue::UsdmPerp;
    match event {
        FuturesUserEvent::OrderTradeUpdate(update) => {
            let o = &update.order;
            let order = orders.book.observe(&futures_order(o));
            let mut out = Vec::new();
            if o.execution_type == "TRADE" {
                out.push((
                    venue,
                    update.event_time,
                    Event::Fill(pb::Fill {
                        symbol: o.symbol.clone(),
                        client_order_id: o.client_order_id.clone(),
                        exchange_order_id: u64::try_from(o.order_id).unwrap_or(0),
                        trade_id: u64::try_from(o.trade_id).unwrap_or(0),
                        side: side_to_pb(o.side) as i32,
                        price: dec(o.last_filled_price),
                        quantity: dec(o.last_filled_qty),
                        quote_quantity: dec(o.last_filled_price * o.last_filled_qty),
                        commission: dec(o.commission.unwrap_or_default()),
                        commission_asset: o.commission_asset.clone().unwrap_or_default(),
                        is_maker: o.is_maker,
                        realized_pnl: dec(o.realized_profit),
                        traded_at: Some(ts(o.trade_time)),
                    }),
                ));
            }
            out.push((
                venue,
                update.event_time,
                Event::OrderUpdate(pb::OrderUpdate {
                    order: Some(order),
                    execution_type: o.execution_type.clone(),
                }),
            ));
            out
        }
        FuturesUserEvent::AccountUpdate(update) => {
            let reason = &update.data.reason;
            let mut out = Vec::new();
            for b in &update.data.balances {
                out.push((
                    venue,
                    update.event_time,
                    Event::BalanceUpdate(pb::BalanceUpdate {
                        wallet: common::Wallet::UsdmFutures as i32,
                        asset: b.asset.clone(),
                        free: dec(b.wallet_balance),
                        locked: dec(b.cross_wallet_balance),
                        delta: dec(b.balance_change),
                        borrowed: String::new(),
                        reason: reason.clone(),
                    }),
                ));
            }
            for p in &update.data.positions {
                out.push((
                    venue,
                    update.event_time,
                    Event::PositionUpdate(pb::PositionUpdate {
                        position: Some(pb::PerpPosition {
                            symbol: p.symbol.clone(),
                            position_amt: dec(p.position_amt),
                            entry_price: dec(p.entry_price),
                            unrealized_pnl: dec(p.unrealized_pnl),
                            margin_type: match p.margin_type.as_str() {
                                "isolated" | "ISOLATED" => common::MarginType::Isolated as i32,
                                "cross" | "CROSSED" => common::MarginType::Crossed as i32,
                                _ => 0,
                            },
                            updated_at: Some(ts(update.transaction_time)),
                            ..Default::default()
                        }),
                        reason: reason.clone(),
                    }),
                ));
            }
            out
        }
        FuturesUserEvent::MarginCall(call) => vec![(
            venue,
            call.event_time,
            Event::MarginCall(pb::MarginCall {
                wallet: common::Wallet::UsdmFutures as i32,
                level: String::new(),
                symbols: call.positions.iter().map(|p| p.symbol.clone()).collect(),
                detail: "MARGIN_CALL".to_owned(),
            }),
        )],
        FuturesUserEvent::ListenKeyExpired { .. } | FuturesUserEvent::Other => Vec::new(),
    }
}

fn spot_order(market: Market, report: &ExecutionReport) -> pb::Order {
    let mut order = order_from_state(&OrderState::from_execution_report(market, report));
    order.r#type = order_type_to_pb(&report.order_type, &report.time_in_force) as i32;
    if report.order_type != "MARKET" {
        order.price = dec(report.price);
    }
    if report.reject_reason != "NONE" {
        order.reject_reason.clone_from(&report.reject_reason);
    }
    order.updated_at = Some(ts(report.transaction_time));
    order
}

fn spot_events(market: Market, event: &AccountEvent, orders: &Orders) -> Converted {
    let venue = common::Venue::SpotMargin;
    let wallet = match market {
        Market::Margin => common::Wallet::CrossMargin,
        _ => common::Wallet::Spot,
    };
    match event {
        AccountEvent::ExecutionReport(report) => {
            let order = orders.book.observe(&spot_order(market, report));
            let mut out = Vec::new();
            if report.execution_type == "TRADE" {
                out.push((
                    venue,
                    report.event_time,
                    Event::Fill(pb::Fill {
                        symbol: report.symbol.clone(),
                        client_order_id: order.client_order_id.clone(),
                        exchange_order_id: u64::try_from(report.order_id).unwrap_or(0),
                        trade_id: u64::try_from(report.trade_id).unwrap_or(0),
                        side: side_to_pb(report.side) as i32,
                        price: dec(report.last_filled_price),
                        quantity: dec(report.last_filled_qty),
                        quote_quantity: dec(report.last_filled_price * report.last_filled_qty),
                        commission: dec(report.commission),
                        commission_asset: report.commission_asset.clone().unwrap_or_default(),
                        is_maker: report.is_maker,
                        realized_pnl: String::new(),
                        traded_at: Some(ts(report.transaction_time)),
                    }),
                ));
            }
            out.push((
                venue,
                report.event_time,
                Event::OrderUpdate(pb::OrderUpdate {
                    order: Some(order),
                    execution_type: report.execution_type.clone(),
                }),
            ));
            out
        }
        AccountEvent::OutboundAccountPosition(position) => position
            .balances
            .iter()
            .map(|b| {
                (
                    venue,
                    position.event_time,
                    Event::BalanceUpdate(pb::BalanceUpdate {
                        wallet: wallet as i32,
                        asset: b.asset.clone(),
                        free: dec(b.free),
                        locked: dec(b.locked),
                        delta: String::new(),
                        borrowed: String::new(),
                        reason: "ACCOUNT_POSITION".to_owned(),
                    }),
                )
            })
            .collect(),
        AccountEvent::BalanceUpdate(update) => vec![(
            venue,
            update.event_time,
            Event::BalanceUpdate(pb::BalanceUpdate {
                wallet: wallet as i32,
                asset: update.asset.clone(),
                free: String::new(),
                locked: String::new(),
                delta: dec(update.delta),
                borrowed: String::new(),
                reason: "BALANCE_UPDATE".to_owned(),
            }),
        )],
        AccountEvent::EventStreamTerminated { .. } | AccountEvent::Other => Vec::new(),
    }
}

fn risk_events(event: &MarginRiskEvent) -> Converted {
    let venue = common::Venue::SpotMargin;
    match event {
        MarginRiskEvent::MarginLevelStatusChange(change) => vec![(
            venue,
            change.event_time,
            Event::MarginCall(pb::MarginCall {
                wallet: common::Wallet::CrossMargin as i32,
                level: dec(change.margin_level),
                symbols: Vec::new(),
                detail: change.status.clone(),
            }),
        )],
        MarginRiskEvent::UserLiabilityChange(change) if change.kind == "INTEREST" => vec![(
            venue,
            change.event_time,
            Event::Interest(interest_charged(change)),
        )],
        MarginRiskEvent::UserLiabilityChange(change) => {
            let mut events = vec![(
                venue,
                change.event_time,
                Event::BalanceUpdate(pb::BalanceUpdate {
                    wallet: common::Wallet::CrossMargin as i32,
                    asset: change.asset.clone(),
                    free: String::new(),
                    locked: String::new(),
                    delta: String::new(),
                    borrowed: dec(change.principal),
                    reason: change.kind.clone(),
                }),
            )];
            // `i` means a charge only on INTEREST (hourly) and BORROW (the first hour, charged
            // at once: ON_BORROW). On a REPAY it is the accrued interest being paid off (repaid
            // before principal), which was charged hour by hour already: reporting it again
            // would count the loan's cost twice.
            if change.kind == "BORROW" && change.interest > rust_decimal::Decimal::ZERO {
                events.push((
                    venue,
                    change.event_time,
                    Event::Interest(interest_charged(change)),
                ));
            }
            events
        }
        MarginRiskEvent::ListenKeyExpired { .. } | MarginRiskEvent::Other => Vec::new(),
    }
}

/// A charge as the stream reports it: no transaction id (the ledger books charges from
/// ListInterest, keyed by the venue's txId; the event only says there is one to fetch).
fn interest_charged(
    change: &fff_binance::models::stream::UserLiabilityChange,
) -> pb::InterestCharged {
    pb::InterestCharged {
        asset: change.asset.clone(),
        interest: dec(change.interest),
        principal: dec(change.principal),
        hourly_rate: String::new(),
        income_id: String::new(),
    }
}

#[cfg(test)]
mod liability_tests {
    use fff_binance::models::stream::{MarginRiskEvent, UserLiabilityChange};
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn a_borrow_reports_its_first_hour_of_interest() {
        let borrow = MarginRiskEvent::UserLiabilityChange(UserLiabilityChange {
            event_time: 1,
            asset: "SOL".into(),
            kind: "BORROW".into(),
            principal: dec!(100),
            interest: dec!(0.0004),
        });
        let events = risk_events(&borrow);
        assert_eq!(events.len(), 2);
        assert!(matches!(&events[0].2, Event::BalanceUpdate(b) if b.reason == "BORROW"));
        assert!(matches!(&events[1].2, Event::Interest(i) if i.interest == "0.0004"));
        let repay = MarginRiskEvent::UserLiabilityChange(UserLiabilityChange {
            kind: "REPAY".into(),
            interest: dec!(0),
            ..match borrow {
                MarginRiskEvent::UserLiabilityChange(c) => c,
                _ => unreachable!(),
            }
        });
        assert_eq!(risk_events(&repay).len(), 1);
    }

    #[test]
    fn a_repay_of_accrued_interest_is_not_a_new_charge() {
        // finding 4: a REPAY's `i` is the interest paid off (charged hourly already); the
        // simulator's REPAY after three hourly charges of 0.00252 SOL carries i = 0.00756
        let repay = MarginRiskEvent::UserLiabilityChange(UserLiabilityChange {
            event_time: 2,
            asset: "SOL".into(),
            kind: "REPAY".into(),
            principal: dec!(50.35),
            interest: dec!(0.00756),
        });
        let events = risk_events(&repay);
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(matches!(&events[0].2, Event::BalanceUpdate(b) if b.reason == "REPAY"));
        // an hourly charge is still reported, once
        let hourly = MarginRiskEvent::UserLiabilityChange(UserLiabilityChange {
            event_time: 3,
            asset: "SOL".into(),
            kind: "INTEREST".into(),
            principal: dec!(0),
            interest: dec!(0.00252),
        });
        let events = risk_events(&hourly);
        assert_eq!(events.len(), 1);
        assert!(matches!(&events[0].2, Event::Interest(i) if i.interest == "0.00252"));
    }
}
