//! The safety state a restart keeps: every test writes with one instance, then starts a new
//! instance (a new lease term on the same database) and checks what it knows and does.

use chrono::{Duration, SubsecRound as _, Utc};
use fff_core::{Direction, Symbol};
use fff_proto::fff::risk::v1::{DirectiveKind, DirectiveOutcome};
use fff_risk::approvals::ApprovalRequest;
use fff_risk::directives::Ack;
use fff_risk::state::{CoreError, ListQuery};
use fff_store::NewEquitySnapshot;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::helpers::{LEASE, instance, metrics, migrated_store, started};

fn all(limit: usize) -> ListQuery {
    ListQuery {
        limit,
        ..ListQuery::default()
    }
}

#[tokio::test]
async fn a_restart_continues_the_sequence_keeps_history_and_acks_and_does_not_cut_twice() {
    let (_db, store) = migrated_store().await;
    let t = Utc::now();
    let first = started(&store, t).await;
    // coverage 2.5: Orange, EMERGENCY_DELEVERAGE
    let issued = first.apply_account(metrics(dec!(2.5), t), t).await.unwrap();
    assert_eq!(issued.len(), 1);
    let cut = issued[0].clone();
    assert_eq!(cut.kind, DirectiveKind::EmergencyDeleverage);
    let ack = Ack {
        outcome: DirectiveOutcome::Completed,
        detail: "halved 1".into(),
        // PostgreSQL keeps microseconds
        acked_at: t.trunc_subsecs(6),
    };
    assert!(first.ack(&cut.id, ack.clone()).await.unwrap());
    drop(first);

    // a new process on the same database
    let later = t + Duration::seconds(5);
    let second = started(&store, later).await;
    assert_eq!(second.lock().log.next_sequence(), cut.sequence + 1);
    let history = second.list(&all(10)).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].directive, cut);
    assert_eq!(history[0].acks, vec![ack]);
    assert_eq!(
        second.history_after(0, 10).await.unwrap(),
        vec![cut.clone()]
    );
    // the standing cut is still in force for a new subscriber
    let standing = second.lock().log.standing(later);
    assert_eq!(standing, vec![cut.clone()]);
    // the tier it already cut is latched: the same coverage issues nothing
    let again = second
        .apply_account(metrics(dec!(2.5), later), later)
        .await
        .unwrap();
    assert!(again.is_empty(), "cut twice after a restart: {again:?}");
    // a worse tier still cuts, and the sequence continues
    let red = second
        .apply_account(metrics(dec!(1.5), later), later)
        .await
        .unwrap();
    assert_eq!(red.len(), 1);
    assert_eq!(red[0].kind, DirectiveKind::CloseAll);
    assert_eq!(red[0].sequence, cut.sequence + 1);
    // an acknowledgement for a directive the database does not know is refused
    let unknown = second
        .ack(
            "nope",
            Ack {
                outcome: DirectiveOutcome::Failed,
                detail: String::new(),
                acked_at: later,
            },
        )
        .await
        .unwrap();
    assert!(!unknown);
}

#[tokio::test]
async fn the_hysteresis_survives_a_restart() {
    let (_db, store) = migrated_store().await;
    let t = Utc::now();
    let first = started(&store, t).await;
    let issued = first.apply_account(metrics(dec!(2.5), t), t).await.unwrap();
    assert_eq!(issued[0].kind, DirectiveKind::EmergencyDeleverage);
    drop(first);
    let second = started(&store, t).await;
    // 3.2 is above Orange's bound (3) but within the hysteresis (0.5): still Orange, no RESUME
    let inside = second
        .apply_account(metrics(dec!(3.2), t), t)
        .await
        .unwrap();
    assert!(inside.is_empty(), "{inside:?}");
    // clearly Yellow: the recovery resumes entries
    let resumed = second.apply_account(metrics(dec!(4), t), t).await.unwrap();
    let kinds: Vec<_> = resumed.iter().map(|d| d.kind).collect();
    assert_eq!(kinds, vec![DirectiveKind::Resume]);
}

#[tokio::test]
async fn a_close_all_cool_down_survives_a_restart() {
    let (_db, store) = migrated_store().await;
    let t = Utc::now();
    let first = started(&store, t).await;
    let issued = first.apply_account(metrics(dec!(1.5), t), t).await.unwrap();
    assert_eq!(issued[0].kind, DirectiveKind::CloseAll);
    drop(first);
    // everything closed and the account safe again, ten minutes later in a new process
    let later = t + Duration::minutes(10);
    let second = started(&store, later).await;
    let recovered = second
        .apply_account(metrics(dec!(20), later), later)
        .await
        .unwrap();
    assert!(
        recovered.is_empty(),
        "resumed inside the cool-down: {recovered:?}"
    );
    assert!(second.lock().monitor.view(later).entries_halted);
    // the hour after the CLOSE_ALL (risk.close_all_cooldown_secs): RESUME
    let end = t + Duration::hours(1);
    let resumed = second
        .apply_account(metrics(dec!(20), end), end)
        .await
        .unwrap();
    let kinds: Vec<_> = resumed.iter().map(|d| d.kind).collect();
    assert_eq!(kinds, vec![DirectiveKind::Resume]);
}

#[tokio::test]
async fn a_drawdown_breach_is_not_cut_again_after_a_restart() {
    let (_db, store) = migrated_store().await;
    let t = Utc::now() - Duration::minutes(10);
    for (minutes, equity) in [(0, dec!(100000)), (1, dec!(94000))] {
        store
            .insert_equity_snapshot(&NewEquitySnapshot {
                taken_at: t + Duration::minutes(minutes),
                total_equity: equity,
                spot_equity: equity,
                margin_equity: Decimal::ZERO,
                futures_equity: Decimal::ZERO,
                margin_ratio: None,
                margin_level: None,
            })
            .await
            .unwrap();
    }
    let now = Utc::now();
    // the first start finds the breach: HALT_ENTRIES, then the limit's CLOSE_ALL
    let first = started(&store, now).await;
    let kinds: Vec<_> = first
        .history_after(0, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![DirectiveKind::HaltEntries, DirectiveKind::CloseAll]
    );
    drop(first);
    // the next start finds them in force and issues nothing
    let second = started(&store, now).await;
    assert_eq!(second.history_after(0, 10).await.unwrap().len(), 2);
    assert!(second.lock().monitor.view(now).drawdown_limit_breached);
}

fn request(id: &str, notional: Decimal) -> ApprovalRequest {
    ApprovalRequest {
        request_id: id.into(),
        symbol: Symbol::parse("ETHUSDT").unwrap(),
        direction: Direction::PositiveCarry,
        notional,
        leverage: 5,
        reason: "test".into(),
        budget_id: None,
    }
}

#[tokio::test]
async fn an_approval_is_known_after_a_restart() {
    let (_db, store) = migrated_store().await;
    let t = Utc::now();
    let first = started(&store, t).await;
    first.apply_account(metrics(dec!(10), t), t).await.unwrap();
    let approved = first.approve(&request("r1", dec!(5000)), t).await.unwrap();
    assert!(approved.approved, "{:?}", approved.reasons);
    drop(first);
    let second = started(&store, t).await;
    // no account data yet: a new request would be refused; the earlier one is answered as given
    let again = second.approve(&request("r1", dec!(1)), t).await.unwrap();
    assert_eq!(again, approved);
    let fresh = second.approve(&request("r2", dec!(5000)), t).await.unwrap();
    assert!(!fresh.approved);
    let row = store.risk_approval("r1").await.unwrap().unwrap();
    assert_eq!(row.approval_id, approved.id);
    assert_eq!(row.notional, dec!(5000));
}

#[tokio::test]
async fn an_instance_whose_term_ended_writes_nothing() {
    let (_db, store) = migrated_store().await;
    let t = Utc::now();
    let old = started(&store, t).await;
    // before any term nothing is decided
    let idle = instance(&store);
    assert!(matches!(
        idle.apply_account(metrics(dec!(2.5), t), t).await,
        Err(CoreError::NotLeased)
    ));
    // another instance takes the lease: its term's fence supersedes the old one
    let new = started(&store, t).await;
    // the old term's approval is stopped by the fence inside its write: refused, not stored
    assert!(matches!(
        old.approve(&request("r0", dec!(5000)), t).await,
        Err(CoreError::NotLeased)
    ));
    assert!(store.risk_approval("r0").await.unwrap().is_none());
    let refused = old.apply_account(metrics(dec!(2.5), t), t).await;
    assert!(matches!(refused, Err(CoreError::NotLeased)), "{refused:?}");
    assert!(!old.is_leased());
    assert!(matches!(
        old.approve(&request("r1", dec!(5000)), t).await,
        Err(CoreError::NotLeased)
    ));
    assert!(store.risk_directives_after(0, 10).await.unwrap().is_empty());
    assert_eq!(store.fence_epoch(LEASE).await.unwrap(), Some(2));
    // the holder decides
    let issued = new.apply_account(metrics(dec!(2.5), t), t).await.unwrap();
    assert_eq!(issued.len(), 1);
    assert_eq!(store.risk_directives_after(0, 10).await.unwrap().len(), 1);
}
