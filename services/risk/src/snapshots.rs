//! Equity snapshots: written to PostgreSQL on a schedule, fed to the drawdown latch, and read
//! back at each lease term's start so a restart keeps the month's peak.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use fff_store::{NewEquitySnapshot, Store};
use rust_decimal::Decimal;
use tokio::time::MissedTickBehavior;

use crate::account::AccountMetrics;
use crate::state::RiskCore;

/// The rolling window's equity samples (oldest first) and this month's largest drawdown, for
/// the drawdown latch at a lease term's start.
pub async fn load_equity(
    store: &Store,
    window_days: u32,
    now: DateTime<Utc>,
) -> Result<(Vec<(DateTime<Utc>, Decimal)>, Option<Decimal>), fff_store::StoreError> {
    let from = now - chrono::Duration::days(i64::from(window_days));
    let rows = store.list_equity_snapshots(from, now).await?;
    let month_max = month_max_drawdown(store, now).await?;
    Ok((
        rows.iter().map(|r| (r.taken_at, r.total_equity)).collect(),
        month_max,
    ))
}

/// Writes a snapshot every `interval` from the latest account data.
pub async fn snapshot_loop(store: Store, core: Arc<RiskCore>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // the first tick is immediate and there is no account data yet
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let now = Utc::now();
        let Some(metrics) = core.lock().monitor.metrics().cloned() else {
            tracing::warn!("no account data yet: equity snapshot skipped");
            continue;
        };
        let age = now.signed_duration_since(metrics.as_of);
        if age
            .to_std()
            .is_ok_and(|age| age > interval.saturating_mul(2))
        {
            tracing::warn!(
                age_ms = age.num_milliseconds(),
                "account data stale: equity snapshot skipped"
            );
            continue;
        }
        if let Err(error) = persist(&store, &core, &metrics, now).await {
            tracing::error!(%error, "equity snapshot not written");
        }
    }
}

async fn persist(
    store: &Store,
    core: &RiskCore,
    metrics: &AccountMetrics,
    now: DateTime<Utc>,
) -> Result<(), fff_store::StoreError> {
    let snapshot = NewEquitySnapshot {
        taken_at: now,
        total_equity: metrics.total_equity,
        spot_equity: metrics.spot_equity,
        margin_equity: metrics.margin_equity,
        futures_equity: metrics.futures_equity,
        // the table keeps Binance's convention (maintenance / balance)
        margin_ratio: metrics
            .futures_coverage
            .and_then(|coverage| Decimal::ONE.checked_div(coverage)),
        margin_level: metrics.cross_margin_level,
    };
    store.insert_equity_snapshot(&snapshot).await?;
    // the sample is stored: feed the latch even if the month's maximum cannot be read
    let month_max = month_max_drawdown(store, now)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "monthly drawdown not read");
            None
        });
    if let Err(error) = core
        .apply_equity(now, metrics.total_equity, month_max)
        .await
    {
        // the sample is stored and replayed at the next term's start
        tracing::error!(%error, "equity sample not applied");
    }
    tracing::debug!(equity = %metrics.total_equity, "equity snapshot written");
    Ok(())
}

async fn month_max_drawdown(
    store: &Store,
    now: DateTime<Utc>,
) -> Result<Option<Decimal>, fff_store::StoreError> {
    let Some(month_start) = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
    else {
        return Ok(None);
    };
    Ok(store
        .max_drawdown(month_start, now)
        .await?
        .and_then(|d| d.fraction()))
}
