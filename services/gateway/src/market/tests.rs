//! Unit tests of the market hub.

use super::*;
use rust_decimal_macros::dec as d;

fn mark(symbol: &str, price: Decimal, time: i64) -> MarkPriceUpdate {
    MarkPriceUpdate {
        event_time: time,
        symbol: symbol.to_owned(),
        mark_price: price,
        mark_price_avg: None,
        index_price: price,
        estimated_settle_price: price,
        funding_rate: d!(0.0001),
        next_funding_time: 1_700_000_000_000,
    }
}

fn hub() -> MarketHub {
    let hub = MarketHub::new(8);
    hub.set_universe(HashMap::from([
        ("BTCUSDT".to_owned(), 8),
        ("ETHUSDT".to_owned(), 4),
    ]));
    hub
}

#[tokio::test]
async fn snapshot_then_marker_then_live_with_gapless_sequence() {
    let hub = hub();
    hub.on_mark_price(&mark("BTCUSDT", d!(65000), 1));
    hub.on_mark_price(&mark("ETHUSDT", d!(3000), 1));
    hub.on_mark_price(&mark("XRPUSDT", d!(1), 1)); // not in the universe
    let mut sub = hub.subscribe(HashSet::from(["ETHUSDT".to_owned()]), HashSet::new());
    hub.on_mark_price(&mark("BTCUSDT", d!(65001), 2));
    hub.on_mark_price(&mark("ETHUSDT", d!(3001), 2));
    let first = sub.next().await.unwrap().unwrap();
    assert!(first.snapshot);
    assert_eq!((first.sequence, first.symbol.as_str()), (1, "ETHUSDT"));
    let Some(Event::MarkPrice(m)) = &first.event else {
        panic!("{first:?}")
    };
    assert_eq!(
        (m.mark_price.as_str(), m.funding_interval_hours),
        ("3000", 4)
    );
    let marker = sub.next().await.unwrap().unwrap();
    assert!(matches!(marker.event, Some(Event::SnapshotComplete(c)) if c.event_count == 1));
    let live = sub.next().await.unwrap().unwrap();
    assert_eq!((live.sequence, live.snapshot), (3, false));
    let Some(Event::MarkPrice(m)) = &live.event else {
        panic!("{live:?}")
    };
    assert_eq!(m.mark_price, "3001");
}

#[tokio::test]
async fn kinds_filter_and_unchanged_books_are_not_resent() {
    let hub = hub();
    let mut books = hub.subscribe(
        HashSet::new(),
        HashSet::from([pb::MarketEventKind::BookTicker]),
    );
    let book = pb::BookTicker {
        venue: common::Venue::SpotMargin as i32,
        bid_price: "1".into(),
        bid_qty: "2".into(),
        ask_price: "3".into(),
        ask_qty: "4".into(),
        update_id: 1,
    };
    hub.on_mark_price(&mark("BTCUSDT", d!(65000), 5));
    hub.on_mark_price(&mark("BTCUSDT", d!(64000), 4)); // older: ignored
    hub.on_book("BTCUSDT", book.clone(), 1);
    hub.on_book("BTCUSDT", book.clone(), 2);
    hub.resync(common::ResyncReason::UpstreamReconnected, "test");
    assert!(matches!(
        books.next().await.unwrap().unwrap().event,
        Some(Event::SnapshotComplete(_))
    ));
    assert!(matches!(
        books.next().await.unwrap().unwrap().event,
        Some(Event::BookTicker(_))
    ));
    let resync = books.next().await.unwrap().unwrap();
    assert!(
        matches!(&resync.event, Some(Event::Resync(r)) if r.last_sequence == 2),
        "{resync:?}"
    );
    assert_eq!(
        hub.mid_price("BTCUSDT", common::Venue::SpotMargin),
        Some(d!(2))
    );
    assert_eq!(hub.mark_price("BTCUSDT"), Some(d!(65000)));
}

#[tokio::test]
async fn perp_tickers_carry_the_last_known_open_interest() {
    let hub = hub();
    hub.set_open_interest(HashMap::from([("BTCUSDT".to_owned(), "1234.5".to_owned())]));
    let mut sub = hub.subscribe(
        HashSet::new(),
        HashSet::from([pb::MarketEventKind::Ticker24h]),
    );
    let ticker = |venue: common::Venue| pb::Ticker24h {
        venue: venue as i32,
        last_price: "1".into(),
        ..Default::default()
    };
    hub.on_ticker("BTCUSDT", ticker(common::Venue::UsdmPerp), 1);
    hub.on_ticker("BTCUSDT", ticker(common::Venue::SpotMargin), 1);
    let _marker = sub.next().await.unwrap().unwrap();
    let perp = sub.next().await.unwrap().unwrap();
    let Some(Event::Ticker24h(perp)) = perp.event else {
        panic!("{perp:?}")
    };
    assert_eq!(perp.open_interest_contracts, "1234.5");
    let spot = sub.next().await.unwrap().unwrap();
    let Some(Event::Ticker24h(spot)) = spot.event else {
        panic!("{spot:?}")
    };
    assert_eq!(
        spot.open_interest_contracts, "",
        "spot has no open interest"
    );
}
