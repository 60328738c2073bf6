//! Market stream payloads (Binance stream shapes) and which route serves which stream.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::engine::Exchange;
use crate::engine::events::d8;

/// Where a stream connection was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/ws`, `/stream`: spot streams and the margin risk listenKey.
    Unrouted,
    /// Futures `/public`: bookTicker, depth.
    Public,
    /// Futures `/market`: markPrice.
    Market,
    /// Futures `/private`: user data by listenKey.
    Private,
}

/// Whether `stream` is served on `route` (Binance drops markPrice on unrouted/public URLs).
pub fn served(route: Route, stream: &str) -> bool {
    let kind = stream.split_once('@').map(|(_, k)| k).unwrap_or("");
    match route {
        Route::Unrouted => kind == "bookTicker" || kind.starts_with("depth") || kind == "ticker",
        Route::Public => {
            kind == "bookTicker" || kind.starts_with("depth") || stream == "!bookTicker"
        }
        Route::Market => kind.starts_with("markPrice") || stream.starts_with("!markPrice@arr"),
        Route::Private => false,
    }
}

/// True for streams pushed only every third tick (the 3 s default cadence of markPrice).
pub fn slow(stream: &str) -> bool {
    stream.contains("markPrice") && !stream.ends_with("@1s")
}

fn mark_json(ex: &Exchange, symbol: &str) -> Option<Value> {
    let m = ex.markets.get(symbol).filter(|m| m.perp.is_some())?;
    let mark = d8(m.mark_price());
    Some(
        json!({"e": "markPriceUpdate", "E": ex.now, "s": m.symbol, "p": mark, "ap": mark, "i": d8(m.index_price()),
        "P": d8(m.index_price()), "r": d8(m.funding_rate), "T": m.next_funding}),
    )
}

fn book_json(ex: &Exchange, symbol: &str, futures: bool) -> Option<Value> {
    let m = ex.markets.get(symbol)?;
    if futures && m.perp.is_none() || !futures && m.spot.is_none() {
        return None;
    }
    let (bids, asks) = m.book(futures, &ex.cfg.market);
    let (b, a) = (
        bids.first().copied().unwrap_or_default(),
        asks.first().copied().unwrap_or_default(),
    );
    let mut v = json!({"u": m.update_id, "s": m.symbol, "b": d8(b.0), "B": d8(b.1), "a": d8(a.0), "A": d8(a.1)});
    if futures {
        v["e"] = json!("bookTicker");
        v["E"] = json!(ex.now);
        v["T"] = json!(ex.now);
    }
    Some(v)
}

fn depth_json(ex: &Exchange, symbol: &str, levels: usize, futures: bool) -> Option<Value> {
    let m = ex.markets.get(symbol)?;
    let (bids, asks) = m.book(futures, &ex.cfg.market);
    let side = |lv: &[(Decimal, Decimal)]| -> Vec<Value> {
        lv.iter()
            .take(levels)
            .map(|(p, q)| json!([d8(*p), d8(*q)]))
            .collect()
    };
    Some(if futures {
        json!({"e": "depthUpdate", "E": ex.now, "T": ex.now, "s": m.symbol, "U": m.update_id, "u": m.update_id, "pu": m.update_id - 1,
            "b": side(&bids), "a": side(&asks)})
    } else {
        json!({"lastUpdateId": m.update_id, "bids": side(&bids), "asks": side(&asks)})
    })
}

fn ticker_json(ex: &Exchange, symbol: &str) -> Option<Value> {
    let m = ex.markets.get(symbol)?;
    let (open, hi, lo) = m.day_stats();
    let last = m.index_price();
    Some(
        json!({"e": "24hrTicker", "E": ex.now, "s": m.symbol, "p": d8(last - open), "o": d8(open), "h": d8(hi), "l": d8(lo), "c": d8(last),
        "q": d8(m.spot.as_ref().map(|s| s.volume_24h).unwrap_or_default())}),
    )
}

/// The payload for one stream now, or None if the stream names nothing we know.
pub fn payload(ex: &Exchange, route: Route, stream: &str) -> Option<Value> {
    let futures = route != Route::Unrouted;
    if stream.starts_with("!markPrice@arr") {
        let all: Vec<Value> = ex.markets.keys().filter_map(|s| mark_json(ex, s)).collect();
        return Some(Value::Array(all));
    }
    if stream == "!bookTicker" {
        return None; // all-market book ticker: individual pushes are sent by the caller
    }
    let (sym, kind) = stream.split_once('@')?;
    let symbol = sym.to_uppercase();
    let kind = kind.split('@').next().unwrap_or(kind);
    match kind {
        "markPrice" => mark_json(ex, &symbol),
        "bookTicker" => book_json(ex, &symbol, futures),
        "ticker" => ticker_json(ex, &symbol),
        k if k.starts_with("depth") => {
            let n: usize = k.trim_start_matches("depth").parse().unwrap_or(20);
            depth_json(ex, &symbol, n.clamp(1, 20), futures)
        }
        _ => None,
    }
}

/// The book tickers of `moved` that the subscribed `market` streams carry: a moved book is
/// pushed at once (Binance pushes best bid/ask on every change), not at the next tick.
pub fn moved_book_tickers(
    ex: &Exchange,
    route: Route,
    market: &std::collections::BTreeSet<String>,
    moved: &[String],
) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for stream in market {
        if stream == "!bookTicker" {
            out.extend(
                moved
                    .iter()
                    .filter_map(|symbol| book_json(ex, symbol, true))
                    .map(|v| (stream.clone(), v)),
            );
        } else if let Some(symbol) = stream.strip_suffix("@bookTicker")
            && moved.iter().any(|m| m.eq_ignore_ascii_case(symbol))
            && let Some(v) = payload(ex, route, stream)
        {
            out.push((stream.clone(), v));
        }
    }
    out
}

/// Every book ticker, for `!bookTicker`.
pub fn all_book_tickers(ex: &Exchange) -> Vec<Value> {
    ex.markets
        .keys()
        .filter_map(|s| book_json(ex, s, true))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_follows_the_2026_split() {
        assert!(served(Route::Market, "btcusdt@markPrice"));
        assert!(!served(Route::Public, "btcusdt@markPrice"));
        assert!(!served(Route::Unrouted, "btcusdt@markPrice@1s"));
        assert!(served(Route::Public, "btcusdt@bookTicker"));
        assert!(served(Route::Unrouted, "btcusdt@bookTicker"));
        assert!(slow("btcusdt@markPrice") && !slow("btcusdt@markPrice@1s"));
    }
}
