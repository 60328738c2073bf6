//! Kill switch, request log and the writer lease.

use std::time::Duration;

use chrono::Utc;
use fff_store::{ControlState, Lease};

use crate::helpers::migrated_store;

#[tokio::test]
async fn the_kill_switch_survives_a_new_connection() {
    let (db, store) = migrated_store().await;
    assert_eq!(store.load_control("executor").await.unwrap(), None);
    let paused = ControlState {
        paused: true,
        reason: "maintenance".into(),
        changed_by: "operator".into(),
        changed_at: Utc::now(),
        cancel_working_entries: true,
    };
    store.save_control("executor", &paused).await.unwrap();
    let again = fff_store::Store::connect(db.url(), 1).await.unwrap();
    let loaded = again.load_control("executor").await.unwrap().unwrap();
    assert!(loaded.paused);
    assert_eq!(loaded.reason, "maintenance");
    assert!(loaded.cancel_working_entries);
    let resumed = ControlState {
        paused: false,
        ..paused
    };
    store.save_control("executor", &resumed).await.unwrap();
    assert!(
        !again
            .load_control("executor")
            .await
            .unwrap()
            .unwrap()
            .paused
    );
}

#[tokio::test]
async fn the_first_answer_to_a_request_id_wins() {
    let (_db, store) = migrated_store().await;
    let first = store
        .remember_answer("executor", "r1", "OpenPosition", b"one")
        .await
        .unwrap();
    assert_eq!(first, ("OpenPosition".to_owned(), b"one".to_vec()));
    let second = store
        .remember_answer("executor", "r1", "OpenPosition", b"two")
        .await
        .unwrap();
    assert_eq!(second.1, b"one".to_vec());
    assert_eq!(store.request_answer("risk", "r1").await.unwrap(), None);
}

#[tokio::test]
async fn one_lease_holder_at_a_time_and_dropping_releases() {
    let (_db, store) = migrated_store().await;
    let options = store.pool().connect_options().as_ref().clone();
    let mut first = Lease::try_acquire(&options, "executor:paper")
        .await
        .unwrap()
        .expect("free lease");
    assert!(first.alive(Duration::from_secs(5)).await);
    assert!(
        Lease::try_acquire(&options, "executor:paper")
            .await
            .unwrap()
            .is_none()
    );
    // another name is another lease
    assert!(
        Lease::try_acquire(&options, "risk:paper")
            .await
            .unwrap()
            .is_some()
    );
    drop(first);
    let waited = tokio::time::timeout(
        Duration::from_secs(10),
        Lease::acquire(&options, "executor:paper", Duration::from_millis(50)),
    )
    .await
    .expect("released on drop");
    assert_eq!(waited.name(), "executor:paper");
}
