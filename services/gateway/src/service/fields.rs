//! Request-field checks shared by the handlers; errors name the field (INVALID_ARGUMENT).

use std::collections::HashSet;

use fff_binance::rest::OrderRef;
use fff_proto::FieldError;
use fff_proto::convert::{parse_decimal, parse_required_enum, parse_symbol};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use rust_decimal::Decimal;
use tonic::Status;

use crate::orders::request::check_client_order_id;

/// A list of symbols; each error names its index (`symbols[2]`).
pub fn symbols(field: &str, raw: &[String]) -> Result<HashSet<String>, Status> {
    raw.iter()
        .enumerate()
        .map(|(i, s)| {
            parse_symbol(&format!("{field}[{i}]"), s)
                .map(|s| s.as_str().to_owned())
                .map_err(Status::from)
        })
        .collect()
}

/// A venue that must be set (spot/margin or USDⓈ-M).
pub fn trading_venue(field: &str, raw: i32) -> Result<common::Venue, Status> {
    Ok(parse_required_enum::<common::Venue>(field, raw)?)
}

/// Venue, symbol and id of an order reference.
pub fn order_ref(raw: Option<&pb::OrderRef>) -> Result<(common::Venue, String, OrderRef), Status> {
    let raw = raw.ok_or_else(|| FieldError::missing("order"))?;
    let venue = trading_venue("order.venue", raw.venue)?;
    let symbol = parse_symbol("order.symbol", &raw.symbol)?
        .as_str()
        .to_owned();
    let id = match &raw.id {
        Some(pb::order_ref::Id::ClientOrderId(id)) => {
            check_client_order_id("order.client_order_id", id)?;
            OrderRef::ClientOrderId(id.clone())
        }
        Some(pb::order_ref::Id::ExchangeOrderId(id)) => OrderRef::OrderId(
            i64::try_from(*id)
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| FieldError::invalid("order.exchange_order_id", "out of range"))?,
        ),
        None => return Err(FieldError::missing("order.id").into()),
    };
    Ok((venue, symbol, id))
}

/// A required decimal string greater than zero.
pub fn positive(field: &str, raw: &str) -> Result<Decimal, Status> {
    let value = parse_decimal(field, raw)?;
    if value <= Decimal::ZERO {
        return Err(FieldError::invalid(field, "must be greater than 0").into());
    }
    Ok(value)
}

/// Puts an order reference on the handler's span (fields declared empty on it).
pub fn record_ref(venue: common::Venue, symbol: &str, id: &OrderRef) {
    let span = tracing::Span::current();
    span.record("venue", venue as i32);
    span.record("symbol", symbol);
    if let OrderRef::ClientOrderId(id) = id {
        span.record("client_order_id", id.as_str());
    }
}
