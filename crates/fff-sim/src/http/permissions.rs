//! The key's `apiRestrictions` flags, enforced: a key without futures permission cannot use
//! `/fapi` user endpoints, one without spot & margin trading cannot place or cancel spot or
//! margin orders or borrow, one without margin cannot trade margin. Binance answers -2015.

use axum::http::Method;

use crate::ApiError;
use crate::engine::Exchange;

/// Spot/margin paths that trade (any method but GET).
const SPOT_TRADE: [&str; 3] = ["/api/v3/order", "/api/v3/order/test", "/api/v3/openOrders"];
const MARGIN_TRADE: [&str; 5] = [
    "/sapi/v1/margin/order",
    "/sapi/v1/margin/openOrders",
    "/sapi/v1/margin/borrow-repay",
    "/sapi/v1/margin/loan",
    "/sapi/v1/margin/repay",
];

pub fn check(ex: &Exchange, account: usize, method: &Method, path: &str) -> Result<(), ApiError> {
    let Some(a) = ex.accounts.get(account) else {
        return Err(ApiError::bad_key());
    };
    let p = &a.api_restrictions;
    let trades = *method != Method::GET;
    let allowed = if path.starts_with("/fapi/") {
        p.enable_futures
    } else if trades && SPOT_TRADE.contains(&path) {
        p.enable_spot_and_margin_trading
    } else if trades && MARGIN_TRADE.contains(&path) {
        p.enable_spot_and_margin_trading && p.enable_margin
    } else if trades && path == "/sapi/v1/asset/transfer" {
        p.permits_universal_transfer
    } else {
        true
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::bad_key())
    }
}
