//! Oracle shared by the `sim_params` fuzz target and `crates/fff-sim/tests/prop_params.rs`: the
//! simulator's request handling below HTTP — query/form parsing, signature checking and every
//! REST handler — driven with arbitrary parameters.
//!
//! Input is text, one request per line: `METHOD /path?query body` (e.g.
//! `POST /fapi/v1/order?symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1`). A line whose method and
//! path name no route is sent to a route picked by its hash, so random bytes still reach the
//! handlers; `+<ms>` advances the simulated clock. Checks: nothing panics, and a request the
//! simulator rejects leaves the account exactly as it was (no partial write).

#![allow(dead_code)]

use std::sync::Arc;

use axum::http::Method;
use fff_sim::SimConfig;
use fff_sim::clock::Clock;
use fff_sim::config::{ClockConfig, ClockMode};
use fff_sim::engine::Exchange;
use fff_sim::http::params::{Req, parse_pairs, strip_signature};
use fff_sim::http::{Sec, Sim, authenticate, check_timestamp, hmac_hex};
use fff_sim::{PAPER_API_KEY, PAPER_API_SECRET};

/// 2024-01-01T00:00:00Z: a fixed simulated start so runs replay.
pub const START_MS: i64 = 1_704_067_200_000;
/// At most this many requests per input (keeps one input fast).
pub const MAX_CALLS: usize = 12;
/// Longest clock step per `+ms` line: an hour (funding and interest run every hour).
pub const MAX_ADVANCE_MS: i64 = 3_600_000;

/// Every REST route of the simulator.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v3/ping"),
    ("GET", "/api/v3/time"),
    ("GET", "/api/v3/exchangeInfo"),
    ("GET", "/api/v3/depth"),
    ("GET", "/api/v3/ticker/24hr"),
    ("GET", "/api/v3/ticker/bookTicker"),
    ("GET", "/api/v3/ticker/price"),
    ("GET", "/api/v3/avgPrice"),
    ("GET", "/api/v3/klines"),
    ("POST", "/api/v3/order"),
    ("POST", "/api/v3/order/test"),
    ("GET", "/api/v3/order"),
    ("DELETE", "/api/v3/order"),
    ("GET", "/api/v3/openOrders"),
    ("DELETE", "/api/v3/openOrders"),
    ("GET", "/api/v3/allOrders"),
    ("GET", "/api/v3/myTrades"),
    ("GET", "/api/v3/account"),
    ("GET", "/api/v3/account/commission"),
    ("GET", "/fapi/v1/ping"),
    ("GET", "/fapi/v1/time"),
    ("GET", "/fapi/v1/exchangeInfo"),
    ("GET", "/fapi/v1/depth"),
    ("GET", "/fapi/v1/ticker/24hr"),
    ("GET", "/fapi/v1/ticker/bookTicker"),
    ("GET", "/fapi/v1/ticker/price"),
    ("GET", "/fapi/v1/premiumIndex"),
    ("GET", "/fapi/v1/fundingInfo"),
    ("GET", "/fapi/v1/openInterest"),
    ("GET", "/fapi/v1/klines"),
    ("GET", "/fapi/v1/fundingRate"),
    ("POST", "/fapi/v1/order"),
    ("POST", "/fapi/v1/batchOrders"),
    ("GET", "/fapi/v1/order"),
    ("DELETE", "/fapi/v1/order"),
    ("GET", "/fapi/v1/openOrders"),
    ("DELETE", "/fapi/v1/allOpenOrders"),
    ("GET", "/fapi/v1/allOrders"),
    ("GET", "/fapi/v1/userTrades"),
    ("POST", "/fapi/v1/leverage"),
    ("POST", "/fapi/v1/marginType"),
    ("GET", "/fapi/v1/positionSide/dual"),
    ("POST", "/fapi/v1/positionSide/dual"),
    ("GET", "/fapi/v1/commissionRate"),
    ("GET", "/fapi/v1/income"),
    ("GET", "/fapi/v1/leverageBracket"),
    ("POST", "/fapi/v1/listenKey"),
    ("PUT", "/fapi/v1/listenKey"),
    ("DELETE", "/fapi/v1/listenKey"),
    ("GET", "/fapi/v2/account"),
    ("GET", "/fapi/v2/balance"),
    ("GET", "/fapi/v2/positionRisk"),
    ("GET", "/fapi/v3/account"),
    ("GET", "/fapi/v3/balance"),
    ("GET", "/fapi/v3/positionRisk"),
    ("GET", "/sapi/v1/account/apiRestrictions"),
    ("POST", "/sapi/v1/margin/order"),
    ("GET", "/sapi/v1/margin/order"),
    ("DELETE", "/sapi/v1/margin/order"),
    ("GET", "/sapi/v1/margin/openOrders"),
    ("DELETE", "/sapi/v1/margin/openOrders"),
    ("GET", "/sapi/v1/margin/allOrders"),
    ("GET", "/sapi/v1/margin/myTrades"),
    ("GET", "/sapi/v1/margin/account"),
    ("GET", "/sapi/v1/margin/allPairs"),
    ("GET", "/sapi/v1/margin/allAssets"),
    ("GET", "/sapi/v1/margin/crossMarginData"),
    ("GET", "/sapi/v1/margin/next-hourly-interest-rate"),
    ("GET", "/sapi/v1/margin/interestRateHistory"),
    ("GET", "/sapi/v1/margin/interestHistory"),
    ("POST", "/sapi/v1/margin/borrow-repay"),
    ("GET", "/sapi/v1/margin/borrow-repay"),
    ("POST", "/sapi/v1/margin/loan"),
    ("POST", "/sapi/v1/margin/repay"),
    ("GET", "/sapi/v1/margin/maxBorrowable"),
    ("GET", "/sapi/v1/margin/tradeCoeff"),
    ("POST", "/sapi/v1/margin/listen-key"),
    ("PUT", "/sapi/v1/margin/listen-key"),
    ("DELETE", "/sapi/v1/margin/listen-key"),
    ("POST", "/sapi/v1/asset/transfer"),
    ("POST", "/sapi/v1/userListenToken"),
];

/// Routes whose success changes nothing but ids/keys: their rejections are checked for no trace.
fn mutating(method: &str) -> bool {
    method != "GET"
}

fn lookup(method: &Method, path: &str) -> Option<fff_sim::http::Spec> {
    use fff_sim::http::{futures, history, margin, market, spot};
    market::route(method, path)
        .or_else(|| history::route(method, path))
        .or_else(|| spot::route(method, path))
        .or_else(|| margin::route(method, path))
        .or_else(|| futures::route(method, path))
}

/// A fresh simulator on a manual clock at [`START_MS`] with the default paper account.
pub fn exchange() -> Exchange {
    let config = SimConfig {
        clock: ClockConfig {
            mode: ClockMode::Manual,
            speed: 1.0,
            start_ms: Some(START_MS),
        },
        ..SimConfig::default()
    };
    Exchange::new(config, START_MS).expect("default simulator config is valid")
}

/// Everything a rejected request must leave untouched: balances, positions, open orders, loans.
fn snapshot(ex: &mut Exchange) -> Vec<String> {
    let mut req = Req::new("", "");
    req.account = Some(0);
    let views: [(&str, &str); 6] = [
        ("GET", "/api/v3/account"),
        ("GET", "/api/v3/openOrders"),
        ("GET", "/sapi/v1/margin/account"),
        ("GET", "/sapi/v1/margin/openOrders"),
        ("GET", "/fapi/v3/account"),
        ("GET", "/fapi/v1/openOrders"),
    ];
    views
        .iter()
        .map(|(method, path)| {
            let method = Method::from_bytes(method.as_bytes()).expect("static method");
            let spec = lookup(&method, path).expect("static route");
            match (spec.handler)(ex, &req) {
                Ok(value) => strip_times(value).to_string(),
                Err(e) => format!("error {} {}", e.code, e.msg),
            }
        })
        .collect()
}

/// Drops time stamps (a read may refresh them without any write) and all-zero asset rows (the
/// simulator may list an asset it looked up at zero; no balance, loan or order changed).
fn strip_times(mut value: serde_json::Value) -> serde_json::Value {
    match &mut value {
        serde_json::Value::Object(map) => {
            map.retain(|k, _| !k.to_ascii_lowercase().contains("time"));
            for v in map.values_mut() {
                *v = strip_times(v.take());
            }
        }
        serde_json::Value::Array(items) => {
            items.retain(|item| !zero_asset_row(item));
            for v in items.iter_mut() {
                *v = strip_times(v.take());
            }
        }
        _ => {}
    }
    value
}

/// `{"asset": "BTC", "free": "0.00000000", ...}` with every amount zero.
fn zero_asset_row(item: &serde_json::Value) -> bool {
    let Some(map) = item.as_object() else {
        return false;
    };
    map.contains_key("asset")
        && map
            .iter()
            .filter(|(k, _)| *k != "asset")
            .all(|(_, v)| match v {
                serde_json::Value::String(s) => s
                    .parse::<rust_decimal::Decimal>()
                    .is_ok_and(|d| d.is_zero()),
                serde_json::Value::Number(n) => n.as_u64() == Some(0) || n.as_i64() == Some(0),
                serde_json::Value::Bool(_) | serde_json::Value::Null => true,
                _ => false,
            })
}

/// Splits one input line into a route and its query/body.
fn parse_line(line: &str) -> (usize, String, String) {
    let (head, body) = line.split_once(' ').unwrap_or((line, ""));
    // `METHOD /path?query body`: the head is the method when a path follows.
    let (method, rest) = match body.split_once(' ') {
        Some((path, b)) if path.starts_with('/') => (head, (path, b)),
        _ if body.starts_with('/') => (head, (body, "")),
        _ => ("", (head, body)),
    };
    let (path, query) = rest.0.split_once('?').unwrap_or((rest.0, ""));
    let found = ROUTES
        .iter()
        .position(|(m, p)| m.eq_ignore_ascii_case(method) && *p == path);
    let index = found.unwrap_or_else(|| {
        let hash = line
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        hash % ROUTES.len()
    });
    let query = if found.is_some() { query } else { rest.0 };
    (index, query.to_owned(), rest.1.to_owned())
}

/// Runs the request lines against one fresh exchange.
pub fn check_calls(text: &str) {
    let mut ex = exchange();
    let mut now = START_MS;
    for line in text.lines().take(MAX_CALLS) {
        if let Some(ms) = line.strip_prefix('+') {
            let step = ms
                .trim()
                .parse::<i64>()
                .unwrap_or(0)
                .clamp(0, MAX_ADVANCE_MS);
            now += step;
            ex.advance_to(now);
            let _ = ex.drain_events();
            continue;
        }
        let (index, query, body) = parse_line(line);
        call(&mut ex, index, &query, &body);
    }
}

/// One request as the HTTP layer would run it for the paper account (authentication is
/// [`check_auth`]'s job), checking that a rejected mutation leaves no trace.
pub fn call(ex: &mut Exchange, index: usize, query: &str, body: &str) {
    let (method, path) = ROUTES[index % ROUTES.len()];
    let spec = lookup(
        &Method::from_bytes(method.as_bytes()).expect("static method"),
        path,
    )
    .unwrap_or_else(|| panic!("route table out of date: {method} {path}"));
    let mut req = Req::new(query, body);
    if spec.sec != Sec::None {
        req.account = Some(0);
    }
    let before = mutating(method).then(|| snapshot(ex));
    let result = (spec.handler)(ex, &req);
    let _ = ex.drain_events();
    match result {
        Ok(value) => {
            // Every answer must serialise (the HTTP layer sends it as JSON).
            let _ = serde_json::to_vec(&value).expect("handler output serialises");
        }
        Err(error) => {
            assert!(
                (400..600).contains(&error.status),
                "{method} {path}: bad status {} for {error:?}",
                error.status
            );
            assert!(error.code < 0, "{method} {path}: error code {}", error.code);
            if let Some(before) = before {
                let after = snapshot(ex);
                assert_eq!(
                    before, after,
                    "{method} {path}?{query} [{body}] was rejected ({} {}) but changed the account",
                    error.code, error.msg
                );
            }
        }
    }
}

/// Query/form parsing on its own: never panics, the query wins over the body, and the signed
/// payload is the raw query ‖ body without their `signature` pairs.
pub fn check_params(query: &str, body: &str) {
    let req = Req::new(query, body);
    for (k, v) in parse_pairs(query) {
        if !v.is_empty() {
            // the first occurrence in the query wins
            let first = parse_pairs(query)
                .into_iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v);
            assert_eq!(
                req.get(&k).map(str::to_owned),
                first.filter(|v| !v.is_empty())
            );
        }
        let _ = req.dec(&k);
        let _ = req.int(&k);
        let _ = req.bool(&k);
    }
    let (payload, sig) = req.signed_payload();
    let (q, s1) = strip_signature(query);
    let (b, s2) = strip_signature(body);
    assert_eq!(payload, format!("{q}{b}"));
    assert_eq!(sig, s1.or(s2));
    assert!(!payload.split('&').any(|p| p.starts_with("signature=")));
    // The timestamp rule at the extremes of i64 (saturating, never overflowing).
    for (ts, window, server, wall) in [
        (i64::MAX, 5_000, i64::MIN, i64::MAX),
        (i64::MIN, 60_000, i64::MAX, i64::MIN),
        (0, 1, i64::MAX, i64::MAX),
        (i64::MAX, i64::MAX, 0, 0),
    ] {
        let _ = check_timestamp(ts, window, server, wall);
    }
}

/// Signature checking: a request signed the way Binance documents (HMAC-SHA256 of query ‖ body
/// with the account secret) is accepted whatever its other parameters; one bit off is not.
pub fn check_auth(sim: &Arc<Sim>, query: &str, body: &str) {
    // Parameters the signer sets itself, and empty `&&` segments: the simulator drops those
    // before checking the signature (Binance's exact behaviour there is undocumented), so a
    // client signing them verbatim is refused. fff-binance never sends empty segments.
    let reserved = |s: &str| {
        parse_pairs(s)
            .iter()
            .any(|(k, _)| k == "timestamp" || k == "recvWindow" || k == "signature")
            || s.contains("signature=")
            || (!s.is_empty() && s.split('&').any(str::is_empty))
    };
    let timestamp = fff_sim::clock::wall_ms();
    let sep = if query.is_empty() { "" } else { "&" };
    let signed_query = format!("{query}{sep}timestamp={timestamp}");
    let signature = hmac_hex(PAPER_API_SECRET, &format!("{signed_query}{body}"));
    let good = format!("{signed_query}&signature={signature}");
    let mut req = Req::new(&good, body);
    req.api_key = Some(PAPER_API_KEY.to_owned());
    let verdict = authenticate(sim, &mut req, Sec::Signed);
    if !reserved(query) && !reserved(body) {
        assert!(
            verdict.is_ok(),
            "correctly signed request refused: {verdict:?}"
        );
        assert_eq!(req.account, Some(0));
    }
    let mut tampered = signature.into_bytes();
    tampered[0] = if tampered[0] == b'0' { b'1' } else { b'0' };
    let bad = format!(
        "{signed_query}&signature={}",
        String::from_utf8(tampered).expect("hex")
    );
    let mut req = Req::new(&bad, body);
    req.api_key = Some(PAPER_API_KEY.to_owned());
    if !reserved(query) && !reserved(body) {
        assert!(
            authenticate(sim, &mut req, Sec::Signed).is_err(),
            "tampered signature accepted"
        );
    }
    // Arbitrary text as key, query and body: rejected or accepted, never a panic.
    let mut req = Req::new(query, body);
    req.api_key = Some(query.to_owned());
    let _ = authenticate(sim, &mut req, Sec::Key);
    let mut req = Req::new(query, body);
    req.api_key = Some(PAPER_API_KEY.to_owned());
    let _ = authenticate(sim, &mut req, Sec::Signed);
}

/// A shared simulator for [`check_auth`] (authentication reads only keys and the clock).
pub fn auth_sim() -> Arc<Sim> {
    let clock = Clock::new(&ClockConfig {
        mode: ClockMode::Manual,
        speed: 1.0,
        start_ms: Some(fff_sim::clock::wall_ms()),
    });
    Sim::new(exchange(), clock)
}
