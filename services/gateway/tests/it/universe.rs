//! GetUniverse serves exactly the simulator's both-venue listings, with live market data.

use fff_proto::fff::gateway::v1::GetUniverseRequest;

use fff_runtime::{SecretString, Secrets};

use crate::harness::{client, start, start_with};

#[tokio::test]
async fn universe_is_the_simulators_spot_and_perp_listings() {
    let running = start().await;
    let mut client = client(running.addr).await;
    let expected: Vec<String> = running.sim.with_exchange(|ex| {
        ex.markets
            .values()
            .filter(|m| m.spot.is_some() && m.perp.is_some())
            .map(|m| m.symbol.clone())
            .collect()
    });
    let universe = client
        .get_universe(GetUniverseRequest {
            symbols: Vec::new(),
            include_non_trading: true,
        })
        .await
        .unwrap()
        .into_inner();
    let got: Vec<String> = universe
        .instruments
        .iter()
        .map(|i| i.symbol.clone())
        .collect();
    assert_eq!(got, expected);
    let btc = universe
        .instruments
        .iter()
        .find(|i| i.symbol == "BTCUSDT")
        .unwrap();
    assert_eq!(btc.spot_filters.as_ref().unwrap().tick_size, "0.01");
    assert_eq!(btc.perp_filters.as_ref().unwrap().step_size, "0.001");
    assert!(!btc.mark_price.is_empty() && !btc.last_funding_rate.is_empty());
    let orca = universe
        .instruments
        .iter()
        .find(|i| i.symbol == "ORCAUSDT")
        .unwrap();
    assert!(!orca.margin_trading_allowed && !orca.base_borrowable);
    let doge = universe
        .instruments
        .iter()
        .find(|i| i.symbol == "DOGEUSDT")
        .unwrap();
    assert_eq!(doge.funding_interval_hours, 1);
    // a symbol filter narrows the answer
    let one = client
        .get_universe(GetUniverseRequest {
            symbols: vec!["ETHUSDT".into()],
            include_non_trading: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.instruments.len(), 1);
    let bad = client
        .get_universe(GetUniverseRequest {
            symbols: vec!["eth".into()],
            include_non_trading: false,
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("symbols[0]"), "{}", bad.message());
}

#[tokio::test]
async fn with_a_database_the_universe_is_upserted_into_instruments() {
    let db = fff_testkit::test_database().await.unwrap();
    let running = start_with(Secrets {
        database_url: Some(SecretString::from(db.url())),
        ..Secrets::default()
    })
    .await;
    let store = fff_store::Store::connect(db.url(), 2).await.unwrap();
    let rows = store.list_instruments().await.unwrap();
    let expected = running.sim.with_exchange(|ex| {
        ex.markets
            .values()
            .filter(|m| m.spot.is_some() && m.perp.is_some())
            .count()
    });
    assert_eq!(rows.len(), expected);
    let orca = rows.iter().find(|r| r.symbol == "ORCAUSDT").unwrap();
    assert!(!orca.cross_margin_enabled && !orca.base_borrowable);
    let btc = rows.iter().find(|r| r.symbol == "BTCUSDT").unwrap();
    assert_eq!(btc.perp_step_size, rust_decimal_macros::dec!(0.001));
}
