//! Property tests mirroring the `proto_convert` fuzz target (`fuzz/`): the same oracle
//! (`fuzz/oracles/proto_convert.rs`) fed random decimal strings, symbols, enum numbers,
//! timestamps, symbol filters and encoded request messages. Conversions never panic, every
//! failure names its field (INVALID_ARGUMENT), and whatever converts round-trips unchanged.

use fff_proto::fff::common::v1 as common;
use fff_proto::fff::executor::v1 as executor;
use fff_proto::fff::gateway::v1 as gateway;
use proptest::prelude::*;
use prost::Message as _;

#[path = "../../../fuzz/oracles/proto_convert.rs"]
mod oracle;

/// Decimal-looking and NaN-like strings, well-formed or not.
fn decimal_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?[0-9]{1,30}(\\.[0-9]{0,30})?",
        "[-+]?[0-9]{0,3}[.eE_ ]?[0-9]{0,3}",
        prop::sample::select(vec![
            "",
            "-",
            "-0",
            "0.0",
            "NaN",
            "inf",
            "-inf",
            "1e309",
            "79228162514264337593543950335",
            "79228162514264337593543950336",
            "-79228162514264337593543950335",
            "0.0000000000000000000000000001",
            "0.00000000000000000000000000001",
            "٣",
            "１",
        ])
        .prop_map(str::to_owned),
        ".{0,60}",
    ]
}

fn symbol_text() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Z0-9]{0,40}", "[A-Za-z0-9_-]{0,12}", ".{0,50}",]
}

fn filters() -> impl Strategy<Value = common::SymbolFilters> {
    prop::collection::vec(decimal_text(), 10).prop_map(|v| common::SymbolFilters {
        tick_size: v[0].clone(),
        step_size: v[1].clone(),
        min_qty: v[2].clone(),
        max_qty: v[3].clone(),
        market_step_size: v[4].clone(),
        market_min_qty: v[5].clone(),
        market_max_qty: v[6].clone(),
        min_notional: v[7].clone(),
        min_price: v[8].clone(),
        max_price: v[9].clone(),
    })
}

fn enum_number() -> impl Strategy<Value = i32> {
    prop_oneof![-2i32..12, any::<i32>()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn decimals_parse_strictly_and_round_trip(text in decimal_text()) {
        oracle::check_decimal(&text);
    }

    #[test]
    fn symbols_follow_the_domain_rule(text in symbol_text()) {
        oracle::check_symbol(&text);
    }

    #[test]
    fn enum_numbers_convert_or_name_the_field(raw in enum_number(), hours in any::<u32>()) {
        oracle::check_enums(raw);
        oracle::check_funding_interval(hours);
        oracle::check_funding_interval(hours % 25);
    }

    #[test]
    fn timestamps_convert_in_range_and_round_trip(
        seconds in prop_oneof![any::<i64>(), -62_135_596_801i64..=253_402_300_800],
        nanos in prop_oneof![any::<i32>(), 0i32..1_000_000_000],
    ) {
        oracle::check_timestamp(seconds, nanos);
    }

    #[test]
    fn symbol_filters_convert_or_name_the_field(wire in filters()) {
        oracle::check_filters(&wire);
        oracle::check(&wire.encode_to_vec());
    }

    #[test]
    fn encoded_requests_never_panic(
        symbol in symbol_text(),
        quantity in decimal_text(),
        price in decimal_text(),
        enums in prop::collection::vec(enum_number(), 5),
        bytes in prop::collection::vec(any::<u8>(), 0..96),
    ) {
        let order = gateway::PlaceOrderRequest {
            client_order_id: quantity.clone(),
            venue: enums[0],
            symbol: symbol.clone(),
            side: enums[1],
            r#type: enums[2],
            time_in_force: enums[3],
            quantity: quantity.clone(),
            price,
            reduce_only: enums[4] % 2 == 0,
            margin_side_effect: enums[4],
            intent_id: String::new(),
            first_send: enums[3] % 2 == 0,
            hedge_on_fill: None,
        };
        oracle::check(&order.encode_to_vec());
        let open = executor::OpenPositionRequest {
            request_id: symbol.clone(),
            symbol,
            direction: enums[0],
            notional: quantity,
            leverage: u32::try_from(enums[1]).ok(),
            reason: String::new(),
        };
        oracle::check(&open.encode_to_vec());
        oracle::check(&bytes);
    }
}
