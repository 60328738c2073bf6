//! History endpoints: spot/futures klines, funding-rate history, and the API key's restrictions.

use axum::http::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::params::Req;
use super::{Sec, Spec, spec};
use crate::ApiError;
use crate::engine::Exchange;
use crate::engine::events::d8;
use crate::engine::history::LISTING_MS;
use crate::engine::market::HOUR_MS;

const DAY_MS: i64 = 24 * HOUR_MS;

pub fn route(method: &Method, path: &str) -> Option<Spec> {
    if method != Method::GET {
        return None;
    }
    Some(match path {
        "/api/v3/klines" => spec(2, Sec::None, |ex, r| klines(ex, r, false)),
        // Binance weighs 1-10 by limit; 5 covers the default 500 rows.
        "/fapi/v1/klines" => spec(5, Sec::None, |ex, r| klines(ex, r, true)),
        "/fapi/v1/fundingRate" => spec(1, Sec::None, funding_rate_history),
        "/sapi/v1/account/apiRestrictions" => spec(1, Sec::Signed, api_restrictions),
        _ => return None,
    })
}

/// Interval length and the offset of its grid from the epoch (weeks open on Mondays).
/// Sub-hour intervals are not served: the simulator keeps hourly bars.
pub fn parse_interval(s: &str) -> Option<(i64, i64)> {
    let len = match s {
        "1h" => HOUR_MS,
        "2h" => 2 * HOUR_MS,
        "4h" => 4 * HOUR_MS,
        "6h" => 6 * HOUR_MS,
        "8h" => 8 * HOUR_MS,
        "12h" => 12 * HOUR_MS,
        "1d" => DAY_MS,
        "3d" => 3 * DAY_MS,
        "1w" => 7 * DAY_MS,
        _ => return None,
    };
    // 1970-01-01 was a Thursday; Binance weeks start on Monday 1970-01-05.
    let offset = if s == "1w" { 4 * DAY_MS } else { 0 };
    Some((len, offset))
}

fn time_range(r: &Req) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let (start, end) = (r.int("startTime")?, r.int("endTime")?);
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(ApiError::bad(-1023, "Start time is greater than end time."));
    }
    Ok((start, end))
}

/// `GET /api/v3/klines`, `GET /fapi/v1/klines`: 12-column rows, ascending by open time. With
/// `startTime` the first `limit` klines opening at or after it; otherwise the last `limit`
/// opening at or before `endTime` (default: now, the kline in progress included).
fn klines(ex: &mut Exchange, r: &Req, perp: bool) -> Result<Value, ApiError> {
    let symbol = r.req("symbol")?;
    let interval = r.req("interval")?;
    let (len, offset) =
        parse_interval(interval).ok_or_else(|| ApiError::bad(-1120, "Invalid interval."))?;
    let max = if perp { 1500 } else { 1000 };
    let limit = r.int("limit")?.unwrap_or(500).clamp(1, max);
    let (start, end) = time_range(r)?;
    let now = ex.now;
    let noise = ex.cfg.market.funding_noise;
    let m = ex
        .markets
        .get_mut(symbol)
        .filter(|m| {
            if perp {
                m.perp.is_some()
            } else {
                m.spot.is_some()
            }
        })
        .ok_or_else(ApiError::invalid_symbol)?;
    let lo = start
        .unwrap_or(i64::MIN)
        .max(LISTING_MS.min(m.history.start_ms));
    let hi = end.unwrap_or(i64::MAX).min(now);
    if lo > hi {
        return Ok(json!([]));
    }
    let first = (lo - offset + len - 1).div_euclid(len);
    let last = (hi - offset).div_euclid(len);
    let (from, to) = if start.is_some() {
        (first, last.min(first + limit - 1))
    } else {
        (first.max(last - limit + 1), last)
    };
    let prec = if perp {
        m.perp_tick().normalize().scale()
    } else {
        8
    };
    let px = |v: Decimal| format!("{:.*}", prec as usize, v);
    let mut rows = Vec::new();
    for k in from..=to {
        let open = offset + k * len;
        let Some(c) = m.candle(open, len, perp, now, noise) else {
            continue;
        };
        rows.push(json!([
            open,
            px(c.px.open),
            px(c.px.high),
            px(c.px.low),
            px(c.px.close),
            d8(c.volume),
            open + len - 1,
            d8(c.quote_volume),
            c.trades,
            d8(c.taker_base),
            d8(c.taker_quote),
            "0"
        ]));
    }
    Ok(Value::Array(rows))
}

/// `GET /fapi/v1/fundingRate`: settlements since the start, preceded by the listing's past
/// (replayed or synthetic), ascending. With `startTime` the first `limit` rows in range,
/// otherwise the last `limit` (default 100, max 1000).
fn funding_rate_history(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let (names, _) = {
        let (ms, single) = super::market::select(ex, r, true)?;
        (
            ms.iter().map(|m| m.symbol.clone()).collect::<Vec<_>>(),
            single,
        )
    };
    let (start, end) = time_range(r)?;
    let limit = r.int("limit")?.unwrap_or(100).clamp(1, 1000) as usize;
    let (lo, hi) = (start.unwrap_or(i64::MIN), end.unwrap_or(i64::MAX));
    let ascending = start.is_some();
    let noise = ex.cfg.market.funding_noise;
    let mut rows: Vec<(i64, String, Decimal, Decimal)> = Vec::new();
    for name in names {
        let Some(m) = ex.markets.get_mut(&name) else {
            continue;
        };
        let past = m.past_funding(lo, hi, limit, ascending, noise);
        let live = m
            .funding_history
            .iter()
            .filter(|(t, ..)| *t >= lo && *t <= hi)
            .copied();
        rows.extend(
            past.into_iter()
                .chain(live)
                .map(|(t, rate, mark)| (t, name.clone(), rate, mark)),
        );
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let rows: Vec<_> = if ascending {
        rows.into_iter().take(limit).collect()
    } else {
        rows.split_off(rows.len().saturating_sub(limit))
    };
    Ok(Value::Array(
        rows.into_iter()
            .map(|(t, s, rate, mark)| {
                json!({"symbol": s, "fundingRate": d8(rate), "fundingTime": t, "markPrice": d8(mark)})
            })
            .collect(),
    ))
}

/// `GET /sapi/v1/account/apiRestrictions`: the account's configured key permissions.
fn api_restrictions(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let a = &ex.accounts[r.account()?];
    let p = &a.api_restrictions;
    Ok(json!({
        "ipRestrict": p.ip_restrict,
        "createTime": a.created_ms,
        "enableReading": p.enable_reading,
        "enableWithdrawals": p.enable_withdrawals,
        "enableInternalTransfer": p.enable_internal_transfer,
        "enableMargin": p.enable_margin,
        "enableFutures": p.enable_futures,
        "permitsUniversalTransfer": p.permits_universal_transfer,
        "enableVanillaOptions": p.enable_vanilla_options,
        "enableFixApiTrade": false,
        "enableFixReadOnly": false,
        "enableSpotAndMarginTrading": p.enable_spot_and_margin_trading,
        "enablePortfolioMarginTrading": p.enable_portfolio_margin_trading
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_week_grid() {
        assert_eq!(parse_interval("4h"), Some((4 * HOUR_MS, 0)));
        assert!(parse_interval("1m").is_none() && parse_interval("1D").is_none());
        // 2026-01-05 (a Monday) is on the weekly grid.
        let (len, off) = parse_interval("1w").unwrap();
        assert_eq!((1_767_571_200_000 - off) % len, 0);
    }
}
