//! `equity_snapshots`: account equity over time. Written by the risk service.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::FromRow;

use crate::{Result, Store};

macro_rules! columns {
    () => {
        "id, taken_at, total_equity, spot_equity, margin_equity, futures_equity, margin_ratio, \
         margin_level, created_at"
    };
}

/// Equity in the quote currency (USDT) at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEquitySnapshot {
    pub taken_at: DateTime<Utc>,
    pub total_equity: Decimal,
    pub spot_equity: Decimal,
    pub margin_equity: Decimal,
    pub futures_equity: Decimal,
    /// USD-M maintenance margin / margin balance (lower is safer).
    pub margin_ratio: Option<Decimal>,
    /// Cross-margin total assets / total liabilities (higher is safer).
    pub margin_level: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct EquitySnapshot {
    pub id: i64,
    pub taken_at: DateTime<Utc>,
    pub total_equity: Decimal,
    pub spot_equity: Decimal,
    pub margin_equity: Decimal,
    pub futures_equity: Decimal,
    pub margin_ratio: Option<Decimal>,
    pub margin_level: Option<Decimal>,
    pub created_at: DateTime<Utc>,
}

/// The largest peak-to-trough fall of `total_equity` inside a window.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Drawdown {
    pub peak: Decimal,
    pub peak_at: DateTime<Utc>,
    pub trough: Decimal,
    pub trough_at: DateTime<Utc>,
    /// `peak - trough`, zero when equity never fell.
    pub amount: Decimal,
}

impl Drawdown {
    /// `amount / peak`, or `None` when the peak is not positive.
    pub fn fraction(&self) -> Option<Decimal> {
        if self.peak <= Decimal::ZERO {
            return None;
        }
        self.amount.checked_div(self.peak)
    }
}

impl Store {
    pub async fn insert_equity_snapshot(
        &self,
        snapshot: &NewEquitySnapshot,
    ) -> Result<EquitySnapshot> {
        let sql = concat!(
            "INSERT INTO equity_snapshots (taken_at, total_equity, spot_equity, margin_equity, \
             futures_equity, margin_ratio, margin_level) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             RETURNING ",
            columns!()
        );
        Ok(sqlx::query_as::<_, EquitySnapshot>(sql)
            .bind(snapshot.taken_at)
            .bind(snapshot.total_equity)
            .bind(snapshot.spot_equity)
            .bind(snapshot.margin_equity)
            .bind(snapshot.futures_equity)
            .bind(snapshot.margin_ratio)
            .bind(snapshot.margin_level)
            .fetch_one(self.pool())
            .await?)
    }

    pub async fn latest_equity_snapshot(&self) -> Result<Option<EquitySnapshot>> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM equity_snapshots ORDER BY taken_at DESC, id DESC LIMIT 1"
        );
        Ok(sqlx::query_as::<_, EquitySnapshot>(sql)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Snapshots with `from <= taken_at <= to`, oldest first.
    pub async fn list_equity_snapshots(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<EquitySnapshot>> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM equity_snapshots WHERE taken_at BETWEEN $1 AND $2 ORDER BY taken_at, id"
        );
        Ok(sqlx::query_as::<_, EquitySnapshot>(sql)
            .bind(from)
            .bind(to)
            .fetch_all(self.pool())
            .await?)
    }

    /// Maximum drawdown of `total_equity` over snapshots with `from <= taken_at <= to`: the
    /// running peak is taken inside the window only. `None` when the window has no snapshots.
    /// Ties go to the earliest trough and the latest peak before it.
    pub async fn max_drawdown(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<Drawdown>> {
        let sql = "WITH s AS ( \
                SELECT id, taken_at, total_equity, \
                       max(total_equity) OVER (ORDER BY taken_at, id \
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS peak \
                FROM equity_snapshots WHERE taken_at BETWEEN $1 AND $2 \
            ), worst AS ( \
                SELECT id, taken_at AS trough_at, total_equity AS trough, peak, \
                       peak - total_equity AS amount \
                FROM s ORDER BY peak - total_equity DESC, taken_at, id LIMIT 1 \
            ) \
            SELECT w.peak, \
                   (SELECT max(s.taken_at) FROM s \
                     WHERE s.total_equity = w.peak AND (s.taken_at, s.id) <= (w.trough_at, w.id)) \
                     AS peak_at, \
                   w.trough, w.trough_at, w.amount \
            FROM worst w";
        Ok(sqlx::query_as::<_, Drawdown>(sql)
            .bind(from)
            .bind(to)
            .fetch_optional(self.pool())
            .await?)
    }
}
