//! Every REST endpoint of the connector against fff-sim over real HTTP.

use fff_binance::Error;
use fff_binance::models::futures::MarginType;
use fff_binance::models::margin::{BorrowRepay, SideEffect};
use fff_binance::models::{
    OrderKind, OrderStatus, Side, TimeInForce, parse_perp_instruments, parse_spot_instruments,
};
use fff_binance::rest::{
    FuturesOrderRequest, Host, MarginOrderRequest, OrderRef, PositionSide, SpotOrderRequest,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::sim::{HOUR, START, manual, start};

#[tokio::test]
async fn market_data_endpoints() {
    let (_sim, client) = start(manual()).await;
    assert_eq!(client.time().await.unwrap().server_time, START);
    assert_eq!(client.futures_time().await.unwrap().server_time, START);

    let spot_info = client.exchange_info().await.unwrap();
    let pairs = client.margin_all_pairs().await.unwrap();
    let spot = parse_spot_instruments(&spot_info, Some(&pairs));
    let btc = spot.iter().find(|i| i.symbol == "BTCUSDT").unwrap();
    assert!(btc.trading && btc.margin_allowed);
    assert!(btc.filters.price.is_some() && btc.filters.lot.is_some());

    let futures_info = client.futures_exchange_info().await.unwrap();
    let funding = client.funding_info().await.unwrap();
    let perps = parse_perp_instruments(&futures_info, &funding);
    let perp = perps.iter().find(|i| i.symbol == "BTCUSDT").unwrap();
    assert_eq!(perp.funding_interval_hours, 8);
    assert_eq!(perp.margin_asset, "USDT");

    let ticker = client.ticker_24hr("BTCUSDT").await.unwrap();
    assert!(ticker.last_price > Decimal::ZERO);
    assert!(client.tickers_24hr().await.unwrap().len() >= 2);
    let book = client.book_ticker("BTCUSDT").await.unwrap();
    assert!(book.bid_price < book.ask_price);
    assert!(client.book_tickers().await.unwrap().len() >= 2);
    let depth = client.depth("BTCUSDT", 5).await.unwrap();
    assert!(!depth.bids.is_empty() && !depth.asks.is_empty());

    let fticker = client.futures_ticker_24hr("ETHUSDT").await.unwrap();
    assert!(fticker.last_price > Decimal::ZERO);
    assert!(client.futures_tickers_24hr().await.unwrap().len() >= 2);
    let fbook = client.futures_book_ticker("ETHUSDT").await.unwrap();
    assert!(fbook.bid_price < fbook.ask_price);
    assert!(client.futures_book_tickers().await.unwrap().len() >= 2);
    let fdepth = client.futures_depth("ETHUSDT", 5).await.unwrap();
    assert!(!fdepth.asks.is_empty());

    let premium = client.premium_index("BTCUSDT").await.unwrap();
    assert!(premium.mark_price > Decimal::ZERO);
    assert_eq!(premium.next_funding_time, START + 8 * HOUR);
    assert!(client.premium_indexes().await.unwrap().len() >= 2);
    let oi = client.open_interest("BTCUSDT").await.unwrap();
    assert!(oi.open_interest > Decimal::ZERO);
    let instruments = client.load_instruments().await.unwrap();
    let hedgeable = instruments.hedgeable(true);
    assert!(hedgeable.iter().any(|(spot, _)| spot.symbol == "BTCUSDT"));
    // History is only what the simulator has settled; the call itself must parse.
    client
        .funding_rate_history(Some("BTCUSDT"), None, None, Some(10))
        .await
        .unwrap();
}

#[tokio::test]
async fn spot_order_lifecycle_and_account() {
    let (_sim, client) = start(manual()).await;
    let info = client.exchange_info().await.unwrap();
    let btc = parse_spot_instruments(&info, None)
        .into_iter()
        .find(|i| i.symbol == "BTCUSDT")
        .unwrap();
    let book = client.book_ticker("BTCUSDT").await.unwrap();

    // A resting LIMIT buy 10 % under the bid, with a price off the tick that the filters fix.
    let limit = SpotOrderRequest {
        symbol: "BTCUSDT".into(),
        side: Side::Buy,
        kind: OrderKind::Limit {
            price: book.bid_price * dec!(0.9) + dec!(0.004),
            tif: TimeInForce::Gtc,
        },
        qty: dec!(0.0012345),
        client_order_id: "fff-spot-limit-1".into(),
    }
    .apply_filters(&btc.filters, None)
    .unwrap();
    let placed = client.new_order(&limit).await.unwrap();
    assert_eq!(placed.status, Some(OrderStatus::New));
    assert_eq!(placed.orig_qty, Some(dec!(0.00123)));

    let by_client_id = client
        .query_order(
            "BTCUSDT",
            &OrderRef::ClientOrderId("fff-spot-limit-1".into()),
        )
        .await
        .unwrap();
    assert_eq!(by_client_id.order_id, placed.order_id);
    let open = client.open_orders(Some("BTCUSDT")).await.unwrap();
    assert!(open.iter().any(|o| o.order_id == placed.order_id));
    let cancelled = client
        .cancel_order("BTCUSDT", &OrderRef::OrderId(placed.order_id))
        .await
        .unwrap();
    assert_eq!(cancelled.status, Some(OrderStatus::Canceled));
    // Cancelling again is a definite rejection (-2011), not an unknown outcome.
    let again = client
        .cancel_order("BTCUSDT", &OrderRef::OrderId(placed.order_id))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Some(-2011), "{again:?}");

    let market = SpotOrderRequest {
        symbol: "BTCUSDT".into(),
        side: Side::Buy,
        kind: OrderKind::Market,
        qty: dec!(0.01),
        client_order_id: "fff-spot-mkt-1".into(),
    }
    .apply_filters(&btc.filters, Some(book.ask_price))
    .unwrap();
    let filled = client.new_order(&market).await.unwrap();
    assert_eq!(filled.status, Some(OrderStatus::Filled));
    assert!(!filled.fills.is_empty());
    assert!(filled.avg_price().unwrap() > Decimal::ZERO);

    let account = client.account(true).await.unwrap();
    assert!(account.balance("BTC").unwrap().free > Decimal::ZERO);
    assert!(account.commission_rates.taker > Decimal::ZERO);
}

#[tokio::test]
async fn filters_reject_before_sending() {
    let (_sim, client) = start(manual()).await;
    let info = client.exchange_info().await.unwrap();
    let btc = parse_spot_instruments(&info, None)
        .into_iter()
        .find(|i| i.symbol == "BTCUSDT")
        .unwrap();
    let tiny = SpotOrderRequest {
        symbol: "BTCUSDT".into(),
        side: Side::Buy,
        kind: OrderKind::Limit {
            price: dec!(1000),
            tif: TimeInForce::Gtc,
        },
        qty: dec!(0.00001),
        client_order_id: "fff-tiny".into(),
    }
    .apply_filters(&btc.filters, None)
    .unwrap_err();
    assert!(matches!(tiny, Error::Filter(_)), "{tiny:?}");
}

#[tokio::test]
async fn margin_short_leg() {
    let (_sim, client) = start(manual()).await;
    let account = client.margin_account().await.unwrap();
    assert_eq!(account.asset("USDT").unwrap().free, dec!(100000));
    let max = client.margin_max_borrowable("BTC").await.unwrap();
    assert!(max.amount > Decimal::ZERO);
    let next = client
        .margin_next_hourly_interest_rate(&["BTC", "USDT"])
        .await
        .unwrap();
    assert_eq!(next.len(), 2);
    client
        .margin_interest_rate_history("BTC", None, None)
        .await
        .unwrap();

    let borrowed = client
        .margin_borrow_repay("BTC", dec!(0.01), BorrowRepay::Borrow)
        .await
        .unwrap();
    assert!(borrowed.tran_id > 0);
    let after = client.margin_account().await.unwrap();
    assert_eq!(after.asset("BTC").unwrap().borrowed, dec!(0.01));
    client
        .margin_borrow_repay("BTC", dec!(0.01), BorrowRepay::Repay)
        .await
        .unwrap();
    let history = client
        .margin_borrow_repay_history(BorrowRepay::Borrow, Some("BTC"), None)
        .await
        .unwrap();
    assert_eq!(history.rows.len(), 1);

    // The short spot leg: SELL with auto-borrow.
    let short = MarginOrderRequest {
        symbol: "BTCUSDT".into(),
        side: Side::Sell,
        kind: OrderKind::Market,
        qty: dec!(0.01),
        client_order_id: "fff-margin-short-1".into(),
        side_effect: SideEffect::MarginBuy,
        auto_repay_at_cancel: false,
    };
    let sold = client.margin_new_order(&short).await.unwrap();
    assert_eq!(sold.status, Some(OrderStatus::Filled));
    let found = client
        .margin_query_order(
            "BTCUSDT",
            &OrderRef::ClientOrderId("fff-margin-short-1".into()),
        )
        .await
        .unwrap();
    assert_eq!(found.order_id, sold.order_id);
    let account = client.margin_account().await.unwrap();
    assert!(account.asset("BTC").unwrap().borrowed >= dec!(0.01));

    let book = client.book_ticker("BTCUSDT").await.unwrap();
    let resting = MarginOrderRequest {
        symbol: "BTCUSDT".into(),
        side: Side::Buy,
        kind: OrderKind::Limit {
            price: (book.bid_price * dec!(0.9)).round_dp(2),
            tif: TimeInForce::Gtc,
        },
        qty: dec!(0.01),
        client_order_id: "fff-margin-close-1".into(),
        side_effect: SideEffect::AutoRepay,
        auto_repay_at_cancel: true,
    };
    let placed = client.margin_new_order(&resting).await.unwrap();
    let open = client.margin_open_orders(Some("BTCUSDT")).await.unwrap();
    assert!(open.iter().any(|o| o.order_id == placed.order_id));
    let cancelled = client
        .margin_cancel_order("BTCUSDT", &OrderRef::OrderId(placed.order_id))
        .await
        .unwrap();
    assert_eq!(cancelled.status, Some(OrderStatus::Canceled));
}

#[tokio::test]
async fn futures_leg_settings_orders_positions_and_funding_income() {
    let (sim, client) = start(manual()).await;
    match client.set_position_mode(false).await {
        Ok(ok) => assert_eq!(ok.code, 200),
        Err(err) => assert_eq!(err.code(), Some(-4059), "{err:?}"),
    }
    assert!(!client.position_mode().await.unwrap().dual_side_position);
    match client.set_margin_type("BTCUSDT", MarginType::Crossed).await {
        Ok(ok) => assert_eq!(ok.code, 200),
        Err(err) => assert_eq!(err.code(), Some(-4046), "{err:?}"),
    }
    let leverage = client.set_leverage("BTCUSDT", 3).await.unwrap();
    assert_eq!(leverage.leverage, 3);
    let fee = client.futures_commission_rate("BTCUSDT").await.unwrap();
    assert!(fee.taker_commission_rate >= fee.maker_commission_rate);

    let info = client.futures_exchange_info().await.unwrap();
    let perp = parse_perp_instruments(&info, &client.funding_info().await.unwrap())
        .into_iter()
        .find(|i| i.symbol == "BTCUSDT")
        .unwrap();
    let mark = client.premium_index("BTCUSDT").await.unwrap().mark_price;
    let short = FuturesOrderRequest {
        symbol: "BTCUSDT".into(),
        side: Side::Sell,
        kind: OrderKind::Market,
        qty: dec!(0.0105),
        client_order_id: "fff-perp-short-1".into(),
        reduce_only: false,
        position_side: PositionSide::Both,
    }
    .apply_filters(&perp.filters, Some(mark))
    .unwrap();
    assert_eq!(short.qty, dec!(0.01));
    let sold = client.futures_new_order(&short).await.unwrap();
    assert_eq!(sold.status, OrderStatus::Filled);
    let found = client
        .futures_query_order(
            "BTCUSDT",
            &OrderRef::ClientOrderId("fff-perp-short-1".into()),
        )
        .await
        .unwrap();
    assert_eq!(found.order_id, sold.order_id);
    let risk = client.position_risk(Some("BTCUSDT")).await.unwrap();
    assert_eq!(risk[0].position_amt, dec!(-0.01));
    let account = client.futures_account().await.unwrap();
    assert!(account.positions.iter().any(|p| p.symbol == "BTCUSDT"));
    assert!(account.margin_ratio().unwrap() > Decimal::ZERO);

    let resting = FuturesOrderRequest {
        symbol: "BTCUSDT".into(),
        side: Side::Sell,
        kind: OrderKind::Limit {
            price: mark * dec!(1.1),
            tif: TimeInForce::Gtc,
        },
        qty: dec!(0.01),
        client_order_id: "fff-perp-rest-1".into(),
        reduce_only: false,
        position_side: PositionSide::Both,
    }
    .apply_filters(&perp.filters, None)
    .unwrap();
    let placed = client.futures_new_order(&resting).await.unwrap();
    let open = client.futures_open_orders(Some("BTCUSDT")).await.unwrap();
    assert!(open.iter().any(|o| o.order_id == placed.order_id));
    let cancelled = client
        .futures_cancel_order(
            "BTCUSDT",
            &OrderRef::ClientOrderId("fff-perp-rest-1".into()),
        )
        .await
        .unwrap();
    assert_eq!(cancelled.status, OrderStatus::Canceled);

    // Hold the short through a funding time and read the FUNDING_FEE income.
    sim.advance(8 * HOUR + 1000);
    let income = client
        .income(Some("BTCUSDT"), Some("FUNDING_FEE"), None, None, Some(100))
        .await
        .unwrap();
    assert_eq!(income.len(), 1, "{income:?}");
    assert!(income[0].is_funding_fee());
    let history = client
        .funding_rate_history(Some("BTCUSDT"), None, None, None)
        .await
        .unwrap();
    assert_eq!(history.last().unwrap().funding_time, START + 8 * HOUR);

    let close = FuturesOrderRequest {
        symbol: "BTCUSDT".into(),
        side: Side::Buy,
        kind: OrderKind::Market,
        qty: dec!(0.01),
        client_order_id: "fff-perp-close-1".into(),
        reduce_only: true,
        position_side: PositionSide::Both,
    };
    client.futures_new_order(&close).await.unwrap();
    let flat = client.position_risk(Some("BTCUSDT")).await.unwrap();
    assert!(flat.iter().all(|p| p.position_amt.is_zero()));
}

#[tokio::test]
async fn clock_skew_is_resynced_once() {
    let (sim, client) = start(manual()).await;
    client.account(true).await.unwrap();
    let before = client.time_offset_ms(Host::Spot);
    let mut faults = sim.faults();
    faults.clock_skew_ms = 30_000;
    sim.set_faults(faults);
    client.account(true).await.unwrap();
    let after = client.time_offset_ms(Host::Spot);
    assert!(
        (after - before - 30_000).abs() < 1_000,
        "{before} -> {after}"
    );
}

#[tokio::test]
async fn rate_limit_storm_stops_the_client() {
    let (sim, client) = start(manual()).await;
    client.time().await.unwrap();
    let mut faults = sim.faults();
    faults.rate_limit_storm = true;
    sim.set_faults(faults);
    let err = client.depth("BTCUSDT", 5).await.unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { .. } | Error::IpBanned { .. }),
        "{err:?}"
    );
    let mut faults = sim.faults();
    faults.rate_limit_storm = false;
    sim.set_faults(faults);
    // Retry-After has not passed: the limiter refuses locally even though the storm is over.
    let err = client.time().await.unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { .. } | Error::IpBanned { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn orders_are_resolved_by_client_order_id() {
    use fff_binance::{Market, Resolution};
    let (_sim, client) = start(manual()).await;
    let order = FuturesOrderRequest {
        symbol: "ETHUSDT".into(),
        side: Side::Buy,
        kind: OrderKind::Market,
        qty: dec!(0.1),
        client_order_id: "fff-resolve-1".into(),
        reduce_only: false,
        position_side: PositionSide::Both,
    };
    client.futures_new_order(&order).await.unwrap();
    let Resolution::Found(state) = client
        .resolve_order(Market::Futures, "ETHUSDT", "fff-resolve-1")
        .await
        .unwrap()
    else {
        panic!("placed order not found")
    };
    assert_eq!(state.status, Some(OrderStatus::Filled));
    assert_eq!(state.executed_qty, dec!(0.1));
    assert!(state.avg_price.is_some());
    for market in [Market::Spot, Market::Margin, Market::Futures] {
        let missing = client
            .resolve_order(market, "ETHUSDT", "fff-never-sent")
            .await
            .unwrap();
        assert_eq!(missing, Resolution::NotFound, "{market:?}");
    }
}

#[tokio::test]
async fn universal_transfer_moves_funds_between_wallets() {
    use fff_binance::models::wallet::{TransferType, Wallet};
    let (_sim, client) = start(manual()).await;
    let spot = |a: &fff_binance::models::spot::SpotAccount| a.balance("USDT").unwrap().free;
    let futures_wallet = |a: &fff_binance::models::futures::FuturesAccount| a.total_wallet_balance;
    let spot_before = spot(&client.account(true).await.unwrap());
    let futures_before = futures_wallet(&client.futures_account().await.unwrap());
    let margin_before = client
        .margin_account()
        .await
        .unwrap()
        .asset("USDT")
        .unwrap()
        .free;

    let to_futures = TransferType::between(Wallet::Spot, Wallet::UsdmFutures).unwrap();
    let tran = client
        .universal_transfer(to_futures, "USDT", dec!(1234.5))
        .await
        .unwrap();
    assert!(tran.tran_id > 0);
    assert_eq!(
        spot(&client.account(true).await.unwrap()),
        spot_before - dec!(1234.5)
    );
    assert_eq!(
        futures_wallet(&client.futures_account().await.unwrap()),
        futures_before + dec!(1234.5)
    );

    // futures → cross margin → spot: every leg lands, the total is unchanged
    client
        .universal_transfer(TransferType::UmfutureMargin, "USDT", dec!(1000))
        .await
        .unwrap();
    let second = client
        .universal_transfer(TransferType::MarginMain, "USDT", dec!(400))
        .await
        .unwrap();
    assert_ne!(second.tran_id, tran.tran_id);
    let margin = client
        .margin_account()
        .await
        .unwrap()
        .asset("USDT")
        .unwrap()
        .free;
    assert_eq!(margin, margin_before + dec!(600));
    assert_eq!(
        futures_wallet(&client.futures_account().await.unwrap()),
        futures_before + dec!(234.5)
    );
    assert_eq!(
        spot(&client.account(true).await.unwrap()),
        spot_before - dec!(834.5)
    );

    // more than the wallet holds: a definite rejection, nothing moved
    let err = client
        .universal_transfer(TransferType::MarginUmfuture, "USDT", margin + dec!(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Api { code: -2010, ref msg, .. } if msg.contains("insufficient balance")),
        "{err:?}"
    );
    assert_eq!(err.outcome(), fff_binance::Outcome::Rejected);
    let margin_after = client
        .margin_account()
        .await
        .unwrap()
        .asset("USDT")
        .unwrap()
        .free;
    assert_eq!(margin_after, margin);

    // a non-positive amount never leaves the process
    let err = client
        .universal_transfer(TransferType::MainMargin, "USDT", Decimal::ZERO)
        .await
        .unwrap_err();
    assert_eq!(err.outcome(), fff_binance::Outcome::NotSent, "{err:?}");
}
