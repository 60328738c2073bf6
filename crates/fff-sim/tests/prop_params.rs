//! Property tests mirroring the `sim_params` fuzz target (`fuzz/`): the same oracle
//! (`fuzz/oracles/sim_params.rs`) fed random query strings, form bodies and request sequences,
//! so the stable suite checks what the fuzzer does: no handler panics on any parameter, a
//! correctly signed request is accepted whatever else it carries, and a rejected request leaves
//! the account untouched.

use std::sync::{Arc, OnceLock};

use fff_sim::http::Sim;
use proptest::prelude::*;

#[path = "../../../fuzz/oracles/sim_params.rs"]
mod oracle;

static AUTH: OnceLock<Arc<Sim>> = OnceLock::new();

/// Parameter names the handlers read, plus a few they do not.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "symbol",
            "side",
            "type",
            "quantity",
            "price",
            "timeInForce",
            "newClientOrderId",
            "origClientOrderId",
            "orderId",
            "reduceOnly",
            "positionSide",
            "leverage",
            "marginType",
            "sideEffectType",
            "asset",
            "amount",
            "isIsolated",
            "limit",
            "startTime",
            "endTime",
            "interval",
            "symbols",
            "batchOrders",
            "dualSidePosition",
            "incomeType",
            "listenKey",
            "quoteOrderQty",
            "newOrderRespType",
            "recvWindow",
            "timestamp",
            "signature",
            "fromId",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z%+=&]{0,8}",
    ]
}

/// Values: valid ones, garbage ones, and the extremes.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "BTCUSDT",
            "ETHUSDT",
            "btcusdt",
            "BUY",
            "SELL",
            "LIMIT",
            "MARKET",
            "GTC",
            "IOC",
            "FOK",
            "true",
            "false",
            "BOTH",
            "LONG",
            "CROSSED",
            "ISOLATED",
            "MARGIN_BUY",
            "AUTO_REPAY",
            "AUTO_BORROW_REPAY",
            "USDT",
            "BTC",
            "MAIN_UMFUTURE",
            "UMFUTURE_MAIN",
            "MAIN_MARGIN",
            "MARGIN_MAIN",
            "BORROW",
            "REPAY",
            "1h",
            "1d",
            "0",
            "-1",
            "1",
            "0.001",
            "100",
            "NaN",
            "1e5",
            "79228162514264337593543950335",
            "0.00000000000000000000000000001",
            "9223372036854775807",
            "-9223372036854775808",
            "99999999999999999999",
            "[]",
            "[\"BTCUSDT\"]",
            "[{\"symbol\":\"BTCUSDT\",\"side\":\"BUY\",\"type\":\"MARKET\",\"quantity\":\"0.01\"}]",
            "%",
            "%zz",
            "%00",
            "+",
            "",
        ])
        .prop_map(str::to_owned),
        "-?[0-9]{1,30}(\\.[0-9]{1,30})?",
        ".{0,12}",
    ]
}

fn pairs() -> impl Strategy<Value = String> {
    prop::collection::vec((key(), value()), 0..8).prop_map(|pairs| {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// One request line for `check_calls`: a real route (or none, then the hash picks one).
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (0..oracle::ROUTES.len(), pairs(), pairs()).prop_map(|(i, q, b)| {
            let (method, path) = oracle::ROUTES[i];
            format!("{method} {path}?{q} {b}")
        }),
        1 => (0i64..=2 * oracle::MAX_ADVANCE_MS).prop_map(|ms| format!("+{ms}")),
        1 => ".{0,40}",
    ]
}

#[test]
fn documented_requests_pass_the_oracle() {
    let script = "\
POST /fapi/v1/order?symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01
POST /api/v3/order?symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=1
POST /sapi/v1/margin/order?symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.001&sideEffectType=MARGIN_BUY
+3600000
POST /sapi/v1/margin/borrow-repay?asset=BTC&amount=0.5&type=BORROW
POST /sapi/v1/asset/transfer?type=MAIN_UMFUTURE&asset=USDT&amount=10
DELETE /api/v3/openOrders?symbol=BTCUSDT
POST /fapi/v1/leverage?symbol=BTCUSDT&leverage=200
POST /fapi/v1/batchOrders?batchOrders=%5B%7B%22symbol%22%3A%22BTCUSDT%22%7D%5D
";
    oracle::check_calls(script);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn query_and_form_parsing_never_panics(query in pairs(), body in pairs(), raw in ".{0,64}") {
        oracle::check_params(&query, &body);
        oracle::check_params(&raw, &query);
        oracle::check_params(&body, &raw);
    }

    #[test]
    fn signed_requests_are_accepted_and_tampered_ones_refused(query in pairs(), body in pairs()) {
        let sim = AUTH.get_or_init(oracle::auth_sim);
        oracle::check_auth(sim, &query, &body);
    }

    #[test]
    fn handlers_never_panic_and_rejections_leave_no_trace(
        lines in prop::collection::vec(line(), 1..oracle::MAX_CALLS),
    ) {
        oracle::check_calls(&lines.join("\n"));
    }
}
