//! Oracle shared by the `binance_models` fuzz target and `crates/fff-binance/tests/prop_models.rs`:
//! feeds one input to every Binance wire model (REST and stream JSON) and to the pure functions
//! built on them, and checks that nothing panics and that the derived values are consistent.
//!
//! Depends only on fff-binance and its (dev-)dependencies, so both crates can `#[path]`-include it.

#![allow(dead_code)]

use fff_binance::filters::{OrderDraft, RawFilter, SymbolFilters, Venue};
use fff_binance::limiter::{RateLimit, RateLimiter, Scope};
use fff_binance::models::futures::{
    FundingInfo, FundingRateRecord, FuturesAccount, FuturesCommissionRate, FuturesExchangeInfo,
    FuturesOrder, IncomeRecord, LeverageChange, OpenInterest, PositionMode, PositionRisk,
    PremiumIndex,
};
use fff_binance::models::margin::{
    BorrowRepayPage, InterestRateRecord, ListenKey, ListenToken, MarginAccount, MarginPair,
    MaxBorrowable, NextHourlyInterestRate, TranId,
};
use fff_binance::models::spot::{CommissionRates, SpotAccount, SpotExchangeInfo, SpotOrder};
use fff_binance::models::stream::{AccountEvent, FuturesUserEvent, MarginRiskEvent};
use fff_binance::models::wallet::TransferPage;
use fff_binance::models::{
    ApiErrorBody, ApiRestrictions, BookTicker, Depth, Kline, ServerTime, Side, Ticker24h,
    parse_perp_instruments, parse_spot_instruments,
};
use fff_binance::orders::{Market, OrderState};
use fff_binance::ws::market::parse_market_frame;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;

/// Parses `data` as `T` (and, for list endpoints, as `Vec<T>`); never panics by itself.
fn parse<T: DeserializeOwned>(data: &[u8]) -> Option<T> {
    serde_json::from_slice(data).ok()
}

/// The whole oracle: every model, then the functions over the ones that parsed.
pub fn check(data: &[u8]) {
    rest_models(data);
    stream_models(data);
    filters(data);
    limiter_headers(data);
}

fn rest_models(data: &[u8]) {
    // Plain decoding: only "no panic" to check.
    let _ = parse::<ServerTime>(data);
    let _ = parse::<ApiErrorBody>(data);
    let _ = parse::<Depth>(data);
    let _ = parse::<BookTicker>(data);
    let _ = parse::<Vec<BookTicker>>(data);
    let _ = parse::<Ticker24h>(data);
    let _ = parse::<Vec<Ticker24h>>(data);
    let _ = parse::<Vec<Kline>>(data);
    let _ = parse::<PremiumIndex>(data);
    let _ = parse::<Vec<PremiumIndex>>(data);
    let _ = parse::<Vec<FundingRateRecord>>(data);
    let _ = parse::<OpenInterest>(data);
    let _ = parse::<Vec<PositionRisk>>(data);
    let _ = parse::<LeverageChange>(data);
    let _ = parse::<PositionMode>(data);
    let _ = parse::<FuturesCommissionRate>(data);
    let _ = parse::<CommissionRates>(data);
    let _ = parse::<NextHourlyInterestRate>(data);
    let _ = parse::<Vec<InterestRateRecord>>(data);
    let _ = parse::<MaxBorrowable>(data);
    let _ = parse::<TranId>(data);
    let _ = parse::<BorrowRepayPage>(data);
    let _ = parse::<ListenToken>(data);
    let _ = parse::<ListenKey>(data);

    if let Some(restrictions) = parse::<ApiRestrictions>(data) {
        let _ = restrictions.fit_for_farming();
    }
    if let Some(incomes) = parse::<Vec<IncomeRecord>>(data) {
        for income in &incomes {
            let _ = income.is_funding_fee();
        }
    }
    if let Some(page) = parse::<TransferPage>(data) {
        for row in &page.rows {
            let _ = row.failed();
        }
    }
    if let Some(account) = parse::<SpotAccount>(data) {
        let _ = account.balance("USDT");
    }
    if let Some(account) = parse::<MarginAccount>(data) {
        let _ = account.asset("USDT");
    }
    if let Some(account) = parse::<FuturesAccount>(data)
        && let Some(ratio) = account.margin_ratio()
    {
        assert!(
            account.total_margin_balance > Decimal::ZERO,
            "a margin ratio needs a positive margin balance"
        );
        assert!(!ratio.is_sign_negative() || account.total_maint_margin.is_sign_negative());
    }

    // Orders → OrderState: the executed quantity and ids survive, avg price only when filled.
    if let Some(order) = parse::<SpotOrder>(data) {
        spot_order(&order);
    }
    if let Some(orders) = parse::<Vec<SpotOrder>>(data) {
        orders.iter().for_each(spot_order);
    }
    if let Some(order) = parse::<FuturesOrder>(data) {
        futures_order(&order);
    }
    if let Some(orders) = parse::<Vec<FuturesOrder>>(data) {
        orders.iter().for_each(futures_order);
    }

    // exchangeInfo (+ fundingInfo, allPairs) → instruments with their filters.
    let pairs = parse::<Vec<MarginPair>>(data);
    if let Some(info) = parse::<SpotExchangeInfo>(data) {
        let plain = parse_spot_instruments(&info, None);
        assert_eq!(plain.len(), info.symbols.len());
        let narrowed = parse_spot_instruments(&info, Some(pairs.as_deref().unwrap_or(&[])));
        for (wide, narrow) in plain.iter().zip(&narrowed) {
            assert!(wide.margin_allowed || !narrow.margin_allowed);
            exercise_filters(&wide.filters, wide.symbol.len() as u32);
        }
        let limiter = RateLimiter::new(Scope::Spot);
        limiter.set_limits(&info.rate_limits);
        let _ = limiter.usage();
    }
    if let Some(info) = parse::<FuturesExchangeInfo>(data) {
        let funding = parse::<Vec<FundingInfo>>(data).unwrap_or_default();
        let perps = parse_perp_instruments(&info, &funding);
        assert!(perps.len() <= info.symbols.len());
        for perp in &perps {
            assert!(
                perp.funding_interval_hours > 0 || funding.iter().any(|f| f.symbol == perp.symbol)
            );
            exercise_filters(&perp.filters, perp.symbol.len() as u32);
        }
        let limiter = RateLimiter::new(Scope::Futures);
        limiter.set_limits(&info.rate_limits);
        let _ = limiter.usage();
    }
    if let Some(funding) = parse::<Vec<FundingInfo>>(data) {
        let info = FuturesExchangeInfo {
            server_time: 0,
            rate_limits: Vec::new(),
            symbols: Vec::new(),
        };
        assert!(parse_perp_instruments(&info, &funding).is_empty());
    }
    if let Some(limits) = parse::<Vec<RateLimit>>(data) {
        for scope in [Scope::Spot, Scope::Futures, Scope::SapiIp, Scope::SapiUid] {
            let limiter = RateLimiter::new(scope);
            limiter.set_limits(&limits);
            assert!(limiter.usage().len() <= limits.len());
        }
    }
}

fn spot_order(order: &SpotOrder) {
    let _ = order.commissions();
    let avg = order.avg_price();
    if avg.is_some() {
        assert!(order.executed_qty.is_some_and(|q| !q.is_zero()));
    }
    for market in [Market::Spot, Market::Margin] {
        let state = OrderState::from_spot(market, order);
        assert_eq!(state.order_id, order.order_id);
        assert_eq!(state.executed_qty, order.executed_qty.unwrap_or_default());
        assert_eq!(state.avg_price, avg);
    }
}

fn futures_order(order: &FuturesOrder) {
    let state = OrderState::from_futures(order);
    assert_eq!(state.executed_qty, order.executed_qty);
    assert_eq!(state.avg_price.is_some(), !order.executed_qty.is_zero());
}

fn stream_models(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_market_frame(text);
    }
    if let Some(event) = parse::<FuturesUserEvent>(data) {
        match &event {
            FuturesUserEvent::OrderTradeUpdate(update) => {
                let state = OrderState::from_futures_update(&update.order);
                assert_eq!(state.executed_qty, update.order.cum_filled_qty);
            }
            FuturesUserEvent::AccountUpdate(update) => {
                let _ = update.is_funding_fee();
            }
            _ => {}
        }
    }
    if let Some(AccountEvent::ExecutionReport(report)) = parse::<AccountEvent>(data) {
        for market in [Market::Spot, Market::Margin] {
            let state = OrderState::from_execution_report(market, &report);
            assert_eq!(state.executed_qty, report.cum_filled_qty);
        }
    }
    let _ = parse::<MarginRiskEvent>(data);
}

/// A raw filter list (as in exchangeInfo) for both venues, checked against drafts derived from it.
fn filters(data: &[u8]) {
    let Some(raw) = parse::<Vec<RawFilter>>(data) else {
        return;
    };
    for venue in [Venue::Spot, Venue::Futures] {
        let filters = SymbolFilters::from_raw(venue, &raw);
        exercise_filters(&filters, raw.len() as u32);
    }
}

/// Values at and around the filters' own bounds, plus a few extremes.
fn probe_values(filters: &SymbolFilters, salt: u32) -> Vec<Decimal> {
    let mut values = vec![
        Decimal::ZERO,
        Decimal::ONE,
        Decimal::NEGATIVE_ONE,
        Decimal::MAX,
        Decimal::MIN,
        Decimal::new(1, 28),
        Decimal::new(i64::from(salt) + 7, 3),
    ];
    if let Some(price) = filters.price {
        values.extend([price.min, price.max, price.tick]);
        values.extend(price.min.checked_add(price.tick));
    }
    for lot in filters.lot.iter().chain(filters.market_lot.iter()) {
        values.extend([lot.min, lot.max, lot.step]);
    }
    if let Some(notional) = filters.notional {
        values.push(notional.min);
        values.extend(notional.max);
    }
    values
}

/// Rounding and checking never panic; whatever `check` accepts obeys the filters it was given.
pub fn exercise_filters(filters: &SymbolFilters, salt: u32) {
    let values = probe_values(filters, salt);
    for (i, &qty) in values.iter().enumerate() {
        let price = values[(i * 7 + salt as usize) % values.len()];
        for side in [Side::Buy, Side::Sell] {
            let _ = filters.round_price(price, side);
            let _ = filters.floor_qty(qty, true);
            let _ = filters.floor_qty(qty, false);
            for (limit_price, reference_price) in
                [(Some(price), None), (None, Some(price)), (None, None)]
            {
                let draft = OrderDraft {
                    side,
                    qty,
                    limit_price,
                    reference_price,
                    reduce_only: i % 2 == 0,
                };
                if let Ok(checked) = filters.check(&draft) {
                    assert!(
                        checked.qty > Decimal::ZERO,
                        "accepted a non-positive quantity"
                    );
                    assert!(checked.qty <= qty, "flooring raised the quantity");
                    if let Some(p) = checked.price {
                        assert!(p > Decimal::ZERO, "accepted a non-positive price");
                    }
                }
            }
        }
    }
}

/// The rate-limit headers and `Retry-After` of a response, read as `name: value` lines (or a
/// JSON object of strings), observed with every status that matters.
fn limiter_headers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut headers = HeaderMap::new();
    let mut add = |name: &str, value: &str| {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) {
            headers.append(name, value);
        }
    };
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(data) {
        for (name, value) in &map {
            match value {
                serde_json::Value::String(s) => add(name, s),
                other => add(name, &other.to_string()),
            }
        }
    } else {
        for line in text.lines() {
            if let Some((name, value)) = line.split_once(':') {
                add(name, value);
            }
        }
    }
    if headers.is_empty() {
        return;
    }
    for status in [200u16, 400, 418, 429, 503] {
        let limiter = RateLimiter::new(Scope::Futures);
        let status = StatusCode::from_u16(status).expect("valid status");
        let error = limiter.observe(status, &headers);
        assert_eq!(error.is_some(), matches!(status.as_u16(), 418 | 429));
        let _ = limiter.usage();
    }
}
