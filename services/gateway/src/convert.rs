//! Small conversions between connector types and the wire: times, decimals, enums, orders.

use fff_binance::models::{OrderStatus, Side, TimeInForce};
use fff_binance::orders::{Market, OrderState};
use fff_proto::convert::{decimal_to_string, optional_decimal_to_string};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use prost_types::Timestamp;
use rust_decimal::Decimal;

/// Milliseconds since the epoch as a protobuf timestamp.
pub fn ts(ms: i64) -> Timestamp {
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

/// Optional timestamp; 0 and negatives mean unknown.
pub fn opt_ts(ms: Option<i64>) -> Option<Timestamp> {
    ms.filter(|ms| *ms > 0).map(ts)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub fn dec(value: Decimal) -> String {
    decimal_to_string(value)
}

pub fn opt_dec(value: Option<Decimal>) -> String {
    optional_decimal_to_string(value)
}

pub fn side_to_pb(side: Side) -> common::Side {
    match side {
        Side::Buy => common::Side::Buy,
        Side::Sell => common::Side::Sell,
    }
}

pub fn status_to_pb(status: OrderStatus) -> common::OrderStatus {
    match status {
        OrderStatus::New | OrderStatus::PendingNew => common::OrderStatus::New,
        OrderStatus::PartiallyFilled | OrderStatus::PendingCancel => {
            common::OrderStatus::PartiallyFilled
        }
        OrderStatus::Filled => common::OrderStatus::Filled,
        OrderStatus::Canceled => common::OrderStatus::Canceled,
        OrderStatus::Rejected => common::OrderStatus::Rejected,
        OrderStatus::Expired | OrderStatus::ExpiredInMatch => common::OrderStatus::Expired,
        OrderStatus::Unknown => common::OrderStatus::Pending,
    }
}

pub fn tif_to_pb(tif: &str) -> common::TimeInForce {
    match tif {
        "GTC" => common::TimeInForce::Gtc,
        "IOC" => common::TimeInForce::Ioc,
        "FOK" => common::TimeInForce::Fok,
        "GTX" => common::TimeInForce::Gtx,
        _ => common::TimeInForce::Unspecified,
    }
}

pub fn tif_from_pb(tif: common::TimeInForce) -> Option<TimeInForce> {
    match tif {
        common::TimeInForce::Gtc => Some(TimeInForce::Gtc),
        common::TimeInForce::Ioc => Some(TimeInForce::Ioc),
        common::TimeInForce::Fok => Some(TimeInForce::Fok),
        common::TimeInForce::Gtx => Some(TimeInForce::Gtx),
        common::TimeInForce::Unspecified => None,
    }
}

pub fn order_type_to_pb(kind: &str, tif: &str) -> common::OrderType {
    match (kind, tif) {
        ("MARKET", _) => common::OrderType::Market,
        ("LIMIT_MAKER", _) | ("LIMIT", "GTX") => common::OrderType::LimitMaker,
        ("LIMIT", _) => common::OrderType::Limit,
        _ => common::OrderType::Unspecified,
    }
}

pub fn venue_of(market: Market) -> common::Venue {
    match market {
        Market::Spot | Market::Margin => common::Venue::SpotMargin,
        Market::Futures => common::Venue::UsdmPerp,
    }
}

/// Overlays what the venue reports on an order onto `order` (request fields stay).
pub fn apply_state(order: &mut pb::Order, state: &OrderState) {
    order.venue = venue_of(state.market) as i32;
    order.symbol.clone_from(&state.symbol);
    order.client_order_id.clone_from(&state.client_order_id);
    order.exchange_order_id = u64::try_from(state.order_id).unwrap_or(0);
    if let Some(side) = state.side {
        order.side = side_to_pb(side) as i32;
    }
    order.status = state.status.map_or(common::OrderStatus::New, status_to_pb) as i32;
    if let Some(qty) = state.orig_qty {
        order.quantity = dec(qty);
    }
    order.executed_qty = dec(state.executed_qty);
    order.cumulative_quote_qty = opt_dec(state.cum_quote);
    order.avg_price = opt_dec(state.avg_price);
    order.updated_at = Some(ts(now_ms()));
}

/// A full order view from a venue state alone (for orders the gateway did not place).
pub fn order_from_state(state: &OrderState) -> pb::Order {
    let mut order = pb::Order::default();
    apply_state(&mut order, state);
    order
}

/// Spot/margin order response with its type, price and time in force.
pub fn order_from_spot(market: Market, raw: &fff_binance::models::spot::SpotOrder) -> pb::Order {
    let mut order = order_from_state(&OrderState::from_spot(market, raw));
    let tif = raw.time_in_force.as_deref().unwrap_or("");
    if let Some(kind) = raw.order_type.as_deref() {
        order.r#type = order_type_to_pb(kind, tif) as i32;
        if kind != "MARKET" {
            order.price = opt_dec(raw.price);
            if kind == "LIMIT" {
                order.time_in_force = tif_to_pb(tif) as i32;
            }
        }
    }
    order.created_at = opt_ts(raw.time.or(raw.transact_time));
    order.updated_at = opt_ts(raw.update_time.or(raw.transact_time)).or(order.updated_at);
    order
}

/// Futures order response with its type, price and time in force.
pub fn order_from_futures(raw: &fff_binance::models::futures::FuturesOrder) -> pb::Order {
    let mut order = order_from_state(&OrderState::from_futures(raw));
    order.r#type = order_type_to_pb(&raw.order_type, &raw.time_in_force) as i32;
    if raw.order_type != "MARKET" {
        order.price = dec(raw.price);
        if raw.time_in_force != "GTX" {
            order.time_in_force = tif_to_pb(&raw.time_in_force) as i32;
        }
    }
    order.reduce_only = raw.reduce_only;
    order.created_at = opt_ts(raw.time);
    order.updated_at = opt_ts(Some(raw.update_time)).or(order.updated_at);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_split_milliseconds() {
        let t = ts(1_700_000_000_123);
        assert_eq!((t.seconds, t.nanos), (1_700_000_000, 123_000_000));
        assert_eq!(opt_ts(Some(0)), None);
    }

    #[test]
    fn statuses_map_conservatively() {
        assert_eq!(
            status_to_pb(OrderStatus::Unknown),
            common::OrderStatus::Pending
        );
        assert_eq!(
            status_to_pb(OrderStatus::ExpiredInMatch),
            common::OrderStatus::Expired
        );
        assert_eq!(
            order_type_to_pb("LIMIT", "GTX"),
            common::OrderType::LimitMaker
        );
    }
}
