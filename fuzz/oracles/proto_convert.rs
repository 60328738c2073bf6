//! Oracle shared by the `proto_convert` fuzz target and `crates/fff-proto/tests/prop_convert.rs`:
//! protobuf bytes and field values → domain values through the edge conversions
//! (`fff_proto::convert`, the `TryFrom<pb::X>` impls). Never panics; every failure names a field;
//! whatever converts round-trips unchanged.

#![allow(dead_code)]

use fff_core::{Direction, MarginTier, Side, SymbolFilters, Venue};
use fff_proto::convert::{
    datetime_to_timestamp, decimal_to_string, optional_timestamp, parse_decimal, parse_domain_enum,
    parse_enum, parse_funding_interval, parse_optional_decimal, parse_required_enum, parse_symbol,
    required_timestamp, timestamp_to_datetime,
};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::executor::v1 as executor;
use fff_proto::fff::gateway::v1 as gateway;
use fff_proto::fff::rebalancer::v1 as rebalancer;
use fff_proto::fff::risk::v1 as risk;
use fff_proto::fff::scanner::v1 as scanner;
use fff_proto::{FieldError, Problem};
use prost::Message;

/// Decodes `data` as `M`; a message that decodes re-encodes to bytes that decode to itself.
fn roundtrip<M: Message + Default + PartialEq + std::fmt::Debug>(data: &[u8]) -> Option<M> {
    let message = M::decode(data).ok()?;
    let again = M::decode(message.encode_to_vec().as_slice()).expect("re-encoded message decodes");
    assert_eq!(message, again, "protobuf round trip changed the message");
    Some(message)
}

/// Every request message of every service decodes (or fails) without panicking.
fn decode_requests(data: &[u8]) {
    let _ = roundtrip::<executor::ListPositionsRequest>(data);
    let _ = roundtrip::<executor::GetPositionRequest>(data);
    let _ = roundtrip::<executor::ClosePositionRequest>(data);
    let _ = roundtrip::<executor::FlipPositionRequest>(data);
    let _ = roundtrip::<executor::GetPnlRequest>(data);
    let _ = roundtrip::<executor::PauseRequest>(data);
    let _ = roundtrip::<executor::ResumeRequest>(data);
    let _ = roundtrip::<executor::StreamPositionEventsRequest>(data);
    let _ = roundtrip::<gateway::GetUniverseRequest>(data);
    let _ = roundtrip::<gateway::StreamMarketRequest>(data);
    let _ = roundtrip::<gateway::GetAccountRequest>(data);
    let _ = roundtrip::<gateway::StreamAccountRequest>(data);
    let _ = roundtrip::<gateway::CancelOrderRequest>(data);
    let _ = roundtrip::<gateway::CancelAllOrdersRequest>(data);
    let _ = roundtrip::<gateway::GetOrderRequest>(data);
    let _ = roundtrip::<gateway::ListOpenOrdersRequest>(data);
    let _ = roundtrip::<gateway::SetLeverageRequest>(data);
    let _ = roundtrip::<gateway::SetMarginTypeRequest>(data);
    let _ = roundtrip::<gateway::BorrowRequest>(data);
    let _ = roundtrip::<gateway::RepayRequest>(data);
    let _ = roundtrip::<gateway::TransferRequest>(data);
    let _ = roundtrip::<gateway::GetMaxBorrowableRequest>(data);
    let _ = roundtrip::<gateway::ListFundingRatesRequest>(data);
    let _ = roundtrip::<gateway::ListIncomeRequest>(data);
    let _ = roundtrip::<rebalancer::TriggerNowRequest>(data);
    let _ = roundtrip::<rebalancer::StreamActionsRequest>(data);
    let _ = roundtrip::<risk::StreamDirectivesRequest>(data);
    let _ = roundtrip::<risk::ListDirectivesRequest>(data);
    let _ = roundtrip::<risk::AckDirectiveRequest>(data);
    let _ = roundtrip::<risk::RequestApprovalRequest>(data);
    let _ = roundtrip::<scanner::ListOpportunitiesRequest>(data);
    let _ = roundtrip::<scanner::StreamOpportunitiesRequest>(data);
    let _ = roundtrip::<scanner::ExplainPairRequest>(data);
}

fn field_named(result: Result<impl Sized, FieldError>, field: &str) {
    if let Err(err) = result {
        assert!(
            err.field() == field || err.field().ends_with(&format!(".{field}")),
            "error names {:?}, expected {field:?}",
            err.field()
        );
        let status = tonic::Status::from(err);
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    }
}

/// A decimal string: strict grammar, exact, and formatting then parsing gives the same value
/// with the same scale.
pub fn check_decimal(value: &str) {
    let parsed = parse_decimal("quantity", value);
    field_named(parsed.clone(), "quantity");
    match parsed {
        Ok(decimal) => {
            let shown = decimal_to_string(decimal);
            let again = parse_decimal("quantity", &shown).expect("formatted decimal parses");
            assert_eq!(again, decimal);
            assert_eq!(again.scale(), decimal.scale(), "{value:?} -> {shown:?}");
            assert_ne!(shown, "-0", "negative zero on the wire");
            assert!(
                value
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
            );
        }
        Err(err) => match err.problem() {
            Problem::Missing => assert!(value.is_empty()),
            Problem::NotDecimal(echo) | Problem::DecimalOutOfRange(echo) => {
                assert!(
                    echo.chars().count() <= 43,
                    "echo not bounded: {} chars",
                    echo.len()
                );
            }
            other => panic!("unexpected problem for a decimal: {other:?}"),
        },
    }
    assert_eq!(
        parse_optional_decimal("price", value).ok().flatten(),
        parse_decimal("price", value).ok()
    );
}

/// A symbol: valid ones are what fff-core's `Symbol::parse` accepts, and keep their text.
pub fn check_symbol(value: &str) {
    let parsed = parse_symbol("symbol", value);
    field_named(parsed.clone(), "symbol");
    if let Ok(symbol) = parsed {
        assert_eq!(symbol.as_str(), value);
        assert!(!value.is_empty() && value.len() <= 32);
    }
}

/// Raw enum numbers: unknown numbers and UNSPECIFIED are field errors, known ones round-trip.
pub fn check_enums(raw: i32) {
    field_named(
        parse_domain_enum::<common::Venue, Venue>("spot_leg.venue", raw),
        "venue",
    );
    field_named(parse_domain_enum::<common::Side, Side>("side", raw), "side");
    field_named(
        parse_domain_enum::<common::Direction, Direction>("direction", raw),
        "direction",
    );
    field_named(
        parse_domain_enum::<common::MarginTier, MarginTier>("tier", raw),
        "tier",
    );
    if let Ok(venue) = parse_domain_enum::<common::Venue, Venue>("venue", raw) {
        assert_eq!(common::Venue::from(venue) as i32, raw);
    }
    if let Ok(side) = parse_domain_enum::<common::Side, Side>("side", raw) {
        assert_eq!(common::Side::from(side) as i32, raw);
    }
    if let Ok(direction) = parse_domain_enum::<common::Direction, Direction>("direction", raw) {
        assert_eq!(common::Direction::from(direction) as i32, raw);
    }
    if let Ok(tier) = parse_domain_enum::<common::MarginTier, MarginTier>("tier", raw) {
        assert_eq!(common::MarginTier::from(tier) as i32, raw);
    }
    let required = parse_required_enum::<common::OrderType>("type", raw);
    assert_eq!(
        required.is_ok(),
        raw != 0 && parse_enum::<common::OrderType>("type", raw).is_ok()
    );
    let _ = parse_enum::<common::TimeInForce>("time_in_force", raw);
    let _ = parse_enum::<common::MarginSideEffect>("margin_side_effect", raw);
    let _ = parse_enum::<common::Wallet>("from", raw);
    let _ = parse_enum::<common::OrderStatus>("status", raw);
    let _ = parse_enum::<common::MarginType>("margin_type", raw);
}

/// A funding interval in hours.
pub fn check_funding_interval(hours: u32) {
    let parsed = parse_funding_interval("funding_interval_hours", hours);
    field_named(parsed, "funding_interval_hours");
}

/// A wire timestamp: in-range ones convert and come back identical.
pub fn check_timestamp(seconds: i64, nanos: i32) {
    let ts = prost_types::Timestamp { seconds, nanos };
    let converted = timestamp_to_datetime("at", &ts);
    field_named(converted.clone(), "at");
    let converted = converted.ok();
    if let Some(at) = converted {
        assert_eq!(datetime_to_timestamp(at), Some(ts));
    }
    assert_eq!(required_timestamp("at", Some(&ts)).ok(), converted);
    assert_eq!(
        optional_timestamp("at", Some(&ts)).ok().flatten(),
        converted
    );
    assert!(optional_timestamp("at", None).is_ok_and(|v| v.is_none()));
}

/// Wire symbol filters: conversion names the bad field; converted filters round-trip.
pub fn check_filters(wire: &common::SymbolFilters) {
    match SymbolFilters::try_from(wire) {
        Ok(filters) => {
            let back = common::SymbolFilters::from(&filters);
            let again = SymbolFilters::try_from(&back).expect("converted filters convert back");
            assert_eq!(again, filters);
            for value in [
                filters.tick_size,
                filters.step_size,
                filters.min_qty,
                filters.max_qty,
                filters.market_step_size,
                filters.min_notional,
            ] {
                assert!(!value.is_sign_negative() || value.is_zero());
            }
        }
        Err(err) => {
            let known = [
                "tick_size",
                "step_size",
                "min_qty",
                "max_qty",
                "market_step_size",
                "min_notional",
            ];
            assert!(
                known.contains(&err.field()),
                "unknown field {:?}",
                err.field()
            );
            let nested = err.within("spot_filters");
            assert!(nested.field().starts_with("spot_filters."));
        }
    }
}

/// What a handler does with a PlaceOrder / OpenPosition request's fields.
fn check_request_fields(data: &[u8]) {
    if let Some(req) = roundtrip::<gateway::PlaceOrderRequest>(data) {
        check_symbol(&req.symbol);
        check_decimal(&req.quantity);
        check_decimal(&req.price);
        check_enums(req.venue);
        check_enums(req.side);
        check_enums(req.r#type);
        check_enums(req.time_in_force);
        check_enums(req.margin_side_effect);
    }
    if let Some(req) = roundtrip::<executor::OpenPositionRequest>(data) {
        check_symbol(&req.symbol);
        check_decimal(&req.notional);
        check_enums(req.direction);
    }
    if let Some(filters) = roundtrip::<common::SymbolFilters>(data) {
        check_filters(&filters);
    }
    if let Some(range) = roundtrip::<common::TimeRange>(data) {
        for ts in [range.start, range.end].into_iter().flatten() {
            check_timestamp(ts.seconds, ts.nanos);
        }
    }
    if let Some(ts) = roundtrip::<prost_types::Timestamp>(data) {
        check_timestamp(ts.seconds, ts.nanos);
    }
}

/// The whole oracle for one raw input.
pub fn check(data: &[u8]) {
    decode_requests(data);
    check_request_fields(data);
    let text = String::from_utf8_lossy(data);
    check_decimal(&text);
    check_symbol(&text);
    if data.len() >= 12 {
        let mut int = [0u8; 4];
        int.copy_from_slice(&data[..4]);
        check_enums(i32::from_le_bytes(int));
        check_funding_interval(u32::from_le_bytes(int));
        let mut secs = [0u8; 8];
        secs.copy_from_slice(&data[4..12]);
        check_timestamp(i64::from_le_bytes(secs), i32::from_le_bytes(int));
    }
}
