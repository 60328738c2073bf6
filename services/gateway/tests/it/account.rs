//! Futures settings, loans (idempotent by request id) and history against the simulator.

use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;

use tokio_stream::StreamExt as _;

use crate::harness::{authed, client, start};

#[tokio::test]
async fn settings_loans_and_history() {
    let running = start().await;
    let mut client = client(running.addr).await;

    let leverage = client
        .set_leverage(authed(pb::SetLeverageRequest {
            symbol: "BTCUSDT".into(),
            leverage: 3,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(leverage.leverage, 3);
    let margin_type = client
        .set_margin_type(authed(pb::SetMarginTypeRequest {
            symbol: "BTCUSDT".into(),
            margin_type: common::MarginType::Crossed as i32,
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!margin_type.changed, "cross margin is the default");
    let bad = client
        .set_leverage(authed(pb::SetLeverageRequest {
            symbol: "BTCUSDT".into(),
            leverage: 0,
        }))
        .await
        .unwrap_err();
    assert!(bad.message().contains("`leverage`"), "{bad:?}");

    let borrow = |id: &str| pb::BorrowRequest {
        asset: "BTC".into(),
        amount: "0.01".into(),
        request_id: id.into(),
        intent_id: String::new(),
    };
    let first = client
        .borrow(authed(borrow("loan-1")))
        .await
        .unwrap()
        .into_inner();
    let again = client
        .borrow(authed(borrow("loan-1")))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.duplicate && again.duplicate);
    assert_eq!(first.transaction_id, again.transaction_id);
    let borrowed: Vec<String> = running.sim.with_exchange(|ex| {
        ex.accounts[0]
            .margin
            .iter()
            .filter(|(asset, _)| asset.as_str() == "BTC")
            .map(|(_, b)| b.borrowed.to_string())
            .collect()
    });
    assert_eq!(borrowed.len(), 1);
    assert_eq!(
        borrowed[0].parse::<rust_decimal::Decimal>().unwrap(),
        rust_decimal_macros::dec!(0.01),
        "borrowed once"
    );
    let repaid = client
        .repay(authed(pb::RepayRequest {
            asset: "BTC".into(),
            amount: "0.005".into(),
            request_id: "repay-1".into(),
            intent_id: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!repaid.transaction_id.is_empty());

    running.sim.advance(9 * 3_600_000);
    let rates = client
        .list_funding_rates(pb::ListFundingRatesRequest {
            symbol: "BTCUSDT".into(),
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let times: Vec<i64> = rates
        .records
        .iter()
        .map(|r| r.funding_time.unwrap().seconds)
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] > w[1]),
        "newest first: {times:?}"
    );
    let income = client
        .list_income(pb::ListIncomeRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(
        income
            .records
            .iter()
            .all(|r| r.venue == common::Venue::UsdmPerp as i32)
    );
}

/// Two perps settling at the same funding time (one income lookup for both): each fee reaches
/// StreamAccount once, with its own symbol.
#[tokio::test]
async fn funding_fees_reach_stream_account_with_their_symbol() {
    let running = start().await;
    let mut client = client(running.addr).await;
    let mut events = client
        .stream_account(pb::StreamAccountRequest {
            venues: Vec::new(),
            symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
        })
        .await
        .unwrap()
        .into_inner();
    for (n, (symbol, quantity)) in [("BTCUSDT", "0.010"), ("ETHUSDT", "0.100")]
        .into_iter()
        .enumerate()
    {
        running
            .sim
            .set_funding_rate(symbol, rust_decimal_macros::dec!(0.001))
            .unwrap();
        let short = pb::PlaceOrderRequest {
            client_order_id: format!("it-funding-{n}"),
            venue: common::Venue::UsdmPerp as i32,
            symbol: symbol.into(),
            side: common::Side::Sell as i32,
            r#type: common::OrderType::Market as i32,
            quantity: quantity.into(),
            ..Default::default()
        };
        client.place_order(authed(short)).await.unwrap();
    }
    running.sim.advance(8 * 3_600_000 + 60_000);
    let mut fees = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let event = events.next().await.unwrap().unwrap();
            if let Some(pb::stream_account_response::Event::FundingFee(fee)) = event.event {
                fees.push(fee);
            }
        }
    })
    .await;
    let mut symbols: Vec<&str> = fees.iter().map(|f| f.symbol.as_str()).collect();
    symbols.sort_unstable();
    assert_eq!(symbols, ["BTCUSDT", "ETHUSDT"], "{fees:?}");
    for fee in &fees {
        assert!(!fee.income_id.is_empty());
        let amount: rust_decimal::Decimal = fee.amount.parse().unwrap();
        assert!(
            amount > rust_decimal::Decimal::ZERO,
            "the short receives: {fee:?}"
        );
    }
}
