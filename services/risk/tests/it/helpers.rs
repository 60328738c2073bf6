//! Shared set-up: a migrated store, risk state as the role builds it, account snapshots.

use chrono::{DateTime, Duration, Utc};
use fff_core::Direction;
use fff_core::params::{CapitalParams, RiskParams};
use fff_risk::account::AccountMetrics;
use fff_risk::approvals::Approvals;
use fff_risk::directives::DirectiveLog;
use fff_risk::monitor::RiskMonitor;
use fff_risk::state::RiskCore;
use fff_store::Store;
use fff_testkit::TestDb;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// The lease name the role fences its writes with.
pub const LEASE: &str = "fff-risk";

/// A migrated store on a fresh database. Keep the `TestDb` alive for the test's duration.
pub async fn migrated_store() -> (TestDb, Store) {
    let db = fff_testkit::test_database().await.unwrap();
    let store = Store::connect(db.url(), 4).await.unwrap();
    store.migrate().await.unwrap();
    (db, store)
}

/// Risk state stored in `store`, as a freshly started process has it (default parameters).
pub fn instance(store: &Store) -> RiskCore {
    RiskCore::persistent(
        RiskMonitor::new(
            RiskParams::default(),
            CapitalParams::default(),
            Duration::seconds(300),
        )
        .unwrap(),
        DirectiveLog::new(Utc::now(), 100),
        Approvals::new(Duration::seconds(60), Duration::seconds(10)),
        store.clone(),
    )
}

/// A started instance: a new lease term (fence) with its state restored.
pub async fn started(store: &Store, now: DateTime<Utc>) -> RiskCore {
    let core = instance(store);
    let fence = store.advance_fence(LEASE, "test", now).await.unwrap();
    core.start_term(fence, 100, 30, now).await.unwrap();
    core
}

/// 100k equity holding a 50k positive-carry hedge at futures margin coverage `coverage`
/// (defaults: green above 5, yellow above 3, orange above 2).
pub fn metrics(coverage: Decimal, at: DateTime<Utc>) -> AccountMetrics {
    AccountMetrics {
        as_of: at,
        total_equity: dec!(100000),
        spot_equity: dec!(50000),
        margin_equity: dec!(25000),
        futures_equity: dec!(25000),
        futures_margin_ratio: Decimal::ZERO,
        futures_coverage: Some(coverage),
        cross_margin_level: None,
        deployed_notional: dec!(50000),
        hedges: vec![(Direction::PositiveCarry, dec!(50000))],
        open_symbols: vec!["BTCUSDT".into()],
        marks_as_of: None,
    }
}
