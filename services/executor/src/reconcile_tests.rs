//! Spot legs and loans are reconciled like perps, and a mismatch blocks entries on its symbol.

use fff_core::Direction;
use fff_proto::fff::executor::v1::Initiator;
use fff_store::PositionState;
use rust_decimal_macros::dec;

use super::*;
use crate::engine::Urgency;
use crate::engine::tests::{rig, settled};

#[tokio::test]
async fn a_missing_spot_leg_or_a_forgotten_loan_is_a_mismatch_that_blocks_entries() {
    let rig = rig().await;
    let position = rig
        .engine
        .open(
            "BTCUSDT",
            Direction::PositiveCarry,
            dec!(1000),
            None,
            Initiator::Operator,
            "t",
        )
        .await
        .unwrap();
    let position = settled(&rig.store, position.id).await;
    assert_eq!(position.state, PositionState::Open);
    assert!(recheck(&rig.engine).await.unwrap().is_empty());

    // the spot leg vanished at the venue, and a SOL loan nobody owes is left behind
    rig.fake.with(|s| {
        s.spot.insert("BTCUSDT".into(), dec!(0));
        s.spot.insert("SOLUSDT".into(), dec!(-3));
    });
    let mismatches = recheck(&rig.engine).await.unwrap();
    assert!(
        mismatches.iter().any(|m| m.starts_with("BTCUSDT spot")),
        "{mismatches:?}"
    );
    assert!(
        mismatches.iter().any(|m| m.starts_with("SOLUSDT loan")),
        "{mismatches:?}"
    );
    // no new entry on those symbols; other symbols still trade
    let refused = rig
        .engine
        .open(
            "SOLUSDT",
            Direction::NegativeCarry,
            dec!(1000),
            None,
            Initiator::Operator,
            "t",
        )
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("differ"), "{refused}");
    assert!(rig.engine.symbol_block("ETHUSDT").is_none());
    // exits stay allowed
    rig.engine
        .close(&position, Urgency::Immediate, Initiator::Operator, "t")
        .await
        .unwrap();
    // once the venue agrees again the block lifts
    rig.fake.with(|s| {
        s.spot.remove("SOLUSDT");
    });
    let _ = settled(&rig.store, position.id).await;
    let left = recheck(&rig.engine).await.unwrap();
    assert!(!left.iter().any(|m| m.starts_with("SOLUSDT")), "{left:?}");
    assert!(rig.engine.symbol_block("SOLUSDT").is_none());
}
