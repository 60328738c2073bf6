//! Transfer between the paper account's wallets against the simulator: funds move once per
//! request id, GetAccount shows them at once, bad requests are refused before anything is sent.

use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use fff_sim::SimHandle;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tonic::Code;

use crate::harness::{authed, client, start};

/// (spot, cross margin, futures) USDT in the simulator's paper account.
fn sim_usdt(sim: &SimHandle) -> (Decimal, Decimal, Decimal) {
    sim.with_exchange(|ex| {
        let a = &ex.accounts[0];
        (
            a.spot["USDT"].free,
            a.margin["USDT"].free,
            a.futures["USDT"],
        )
    })
}

fn spot_to_futures(amount: &str, request_id: &str) -> pb::TransferRequest {
    pb::TransferRequest {
        asset: "USDT".into(),
        amount: amount.into(),
        from: common::Wallet::Spot as i32,
        to: common::Wallet::UsdmFutures as i32,
        request_id: request_id.into(),
        intent_id: "intent-it-1".into(),
    }
}

/// (spot free, futures wallet) USDT as GetAccount shows them.
async fn gateway_usdt(
    client: &mut pb::gateway_client::GatewayClient<tonic::transport::Channel>,
) -> (Decimal, Decimal) {
    let account = client
        .get_account(pb::GetAccountRequest::default())
        .await
        .unwrap()
        .into_inner()
        .account
        .unwrap();
    let spot = account
        .spot_balances
        .iter()
        .find(|b| b.asset == "USDT")
        .map(|b| b.free.parse::<Decimal>().unwrap())
        .unwrap_or_default();
    let futures = account
        .futures_balances
        .iter()
        .find(|b| b.asset == "USDT")
        .map(|b| b.wallet_balance.parse::<Decimal>().unwrap())
        .unwrap_or_default();
    (spot, futures)
}

#[tokio::test]
async fn a_transfer_moves_funds_once_per_request_id_and_get_account_shows_it() {
    let running = start().await;
    let mut client = client(running.addr).await;
    // warm the account cache: the transfer must not be hidden behind it
    let (spot_seen, futures_seen) = gateway_usdt(&mut client).await;
    let (spot, margin, futures) = sim_usdt(&running.sim);
    assert_eq!((spot_seen, futures_seen), (spot, futures));

    let first = client
        .transfer(authed(spot_to_futures("1500.25", "it-move-1")))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.duplicate);
    assert!(first.transaction_id.parse::<i64>().unwrap() > 0);
    assert_eq!(
        sim_usdt(&running.sim),
        (spot - dec!(1500.25), margin, futures + dec!(1500.25))
    );
    // right away, well inside the cache's max age
    assert_eq!(
        gateway_usdt(&mut client).await,
        (spot - dec!(1500.25), futures + dec!(1500.25))
    );

    // the same request id again: the first answer, nothing sent
    let again = client
        .transfer(authed(spot_to_futures("1500.250", "it-move-1")))
        .await
        .unwrap()
        .into_inner();
    assert!(again.duplicate);
    assert_eq!(again.transaction_id, first.transaction_id);
    assert_eq!(
        sim_usdt(&running.sim),
        (spot - dec!(1500.25), margin, futures + dec!(1500.25)),
        "moved once"
    );
    // the same id for another transfer is refused
    let conflict = client
        .transfer(authed(spot_to_futures("1", "it-move-1")))
        .await
        .unwrap_err();
    assert_eq!(conflict.code(), Code::AlreadyExists, "{conflict:?}");

    // a new id moves funds again, here futures → cross margin
    let back = client
        .transfer(authed(pb::TransferRequest {
            from: common::Wallet::UsdmFutures as i32,
            to: common::Wallet::CrossMargin as i32,
            ..spot_to_futures("500", "it-move-2")
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!back.duplicate);
    assert_ne!(back.transaction_id, first.transaction_id);
    assert_eq!(
        sim_usdt(&running.sim),
        (
            spot - dec!(1500.25),
            margin + dec!(500),
            futures + dec!(1000.25)
        )
    );
}

#[tokio::test]
async fn bad_transfers_are_refused_and_move_nothing() {
    let running = start().await;
    let mut client = client(running.addr).await;
    let before = sim_usdt(&running.sim);

    // no bearer token
    let unauthenticated = client
        .transfer(tonic::Request::new(spot_to_futures("10", "it-noauth-1")))
        .await
        .unwrap_err();
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);

    // every malformed field is named
    let bad: [(&str, pb::TransferRequest); 7] = [
        (
            "asset",
            pb::TransferRequest {
                asset: String::new(),
                ..spot_to_futures("10", "it-bad-1")
            },
        ),
        ("amount", spot_to_futures("0", "it-bad-2")),
        ("amount", spot_to_futures("ten", "it-bad-3")),
        (
            "from",
            pb::TransferRequest {
                from: common::Wallet::Unspecified as i32,
                ..spot_to_futures("10", "it-bad-4")
            },
        ),
        (
            "to",
            pb::TransferRequest {
                to: common::Wallet::Spot as i32,
                ..spot_to_futures("10", "it-bad-5")
            },
        ),
        ("request_id", spot_to_futures("10", "")),
        ("request_id", spot_to_futures("10", &"r".repeat(65))),
    ];
    for (field, request) in bad {
        let err = client.transfer(authed(request)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        assert!(
            err.message().contains(&format!("`{field}`")),
            "{field}: {}",
            err.message()
        );
    }

    // more than the source wallet holds: Binance's rejection, with its code and message
    let too_much = client
        .transfer(authed(pb::TransferRequest {
            from: common::Wallet::CrossMargin as i32,
            to: common::Wallet::Spot as i32,
            ..spot_to_futures("100000000", "it-poor-1")
        }))
        .await
        .unwrap_err();
    assert_eq!(too_much.code(), Code::FailedPrecondition, "{too_much:?}");
    assert!(
        too_much.message().contains("-2010") && too_much.message().contains("insufficient balance"),
        "{}",
        too_much.message()
    );
    assert_eq!(sim_usdt(&running.sim), before, "nothing moved");

    // a rejection records nothing: the id is free for a transfer that fits
    let fits = client
        .transfer(authed(pb::TransferRequest {
            from: common::Wallet::CrossMargin as i32,
            to: common::Wallet::Spot as i32,
            ..spot_to_futures("100", "it-poor-1")
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!fits.duplicate);
    let (spot, margin, futures) = before;
    assert_eq!(
        sim_usdt(&running.sim),
        (spot + dec!(100), margin - dec!(100), futures)
    );
}
