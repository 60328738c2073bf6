//! Generated types behave as the contracts promise on the wire.

use fff_proto::fff::common::v1::{Side, Venue};
use fff_proto::fff::executor::v1::OpenPositionRequest;
use fff_proto::fff::gateway::v1::{
    Fill, OrderRef, StreamAccountResponse, order_ref, stream_account_response,
};
use prost::Message;

#[test]
fn oneof_events_round_trip() {
    let event = StreamAccountResponse {
        sequence: 42,
        venue: Venue::UsdmPerp as i32,
        event: Some(stream_account_response::Event::Fill(Fill {
            symbol: "BTCUSDT".into(),
            client_order_id: "fff-open-1".into(),
            side: Side::Sell as i32,
            price: "65000.10".into(),
            quantity: "0.002".into(),
            ..Fill::default()
        })),
        ..StreamAccountResponse::default()
    };
    let decoded = StreamAccountResponse::decode(event.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded, event);
}

#[test]
fn order_ref_carries_exactly_one_id() {
    let by_client = OrderRef {
        venue: Venue::SpotMargin as i32,
        symbol: "ETHUSDT".into(),
        id: Some(order_ref::Id::ClientOrderId("abc".into())),
    };
    let decoded = OrderRef::decode(by_client.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded.id, Some(order_ref::Id::ClientOrderId("abc".into())));
}

#[test]
fn optional_leverage_distinguishes_unset_from_zero() {
    let unset = OpenPositionRequest::default();
    let zero = OpenPositionRequest {
        leverage: Some(0),
        ..OpenPositionRequest::default()
    };
    let unset = OpenPositionRequest::decode(unset.encode_to_vec().as_slice()).unwrap();
    let zero = OpenPositionRequest::decode(zero.encode_to_vec().as_slice()).unwrap();
    assert_eq!(unset.leverage, None);
    assert_eq!(zero.leverage, Some(0));
}
