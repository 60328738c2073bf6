//! P&L: exact cash components recomputed from the ledgers, plus the executor's daily
//! mark-to-market rows in `pnl_daily`.
//!
//! Cash components are sums of exact NUMERIC columns: funding = Σ `funding_payments.amount`
//! (signed, received positive), borrow = Σ `borrow_interest.amount_quote`, fees = Σ
//! `fills.fee_quote` over the position's orders. Days are UTC calendar days.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::FromRow;

use crate::{Result, Store};

/// Cash P&L components of one position, in the quote currency.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct CashPnl {
    pub funding: Decimal,
    pub borrow: Decimal,
    pub fees: Decimal,
}

impl CashPnl {
    /// Funding received minus interest and fees paid.
    pub fn net(&self) -> Decimal {
        self.funding - self.borrow - self.fees
    }
}

/// Cash P&L of one position on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DailyCashPnl {
    pub position_id: i64,
    pub day: NaiveDate,
    #[sqlx(flatten)]
    pub cash: CashPnl,
}

/// The executor's end-of-day mark-to-market row for one position.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct PnlDaily {
    pub position_id: i64,
    pub day: NaiveDate,
    pub funding: Decimal,
    pub borrow: Decimal,
    pub fees: Decimal,
    /// Spot-leg price P&L since entry (or since the previous day).
    pub basis_spot: Decimal,
    /// Perp-leg price P&L.
    pub basis_perp: Decimal,
    pub realised: Decimal,
    pub unrealised: Decimal,
}

impl Store {
    /// Lifetime cash P&L of a position (zeros when it has no rows).
    pub async fn position_cash_pnl(&self, position_id: i64) -> Result<CashPnl> {
        let sql = "SELECT \
            (SELECT COALESCE(sum(amount), 0) FROM funding_payments WHERE position_id = $1) \
                AS funding, \
            (SELECT COALESCE(sum(amount_quote), 0) FROM borrow_interest WHERE position_id = $1) \
                AS borrow, \
            (SELECT COALESCE(sum(f.fee_quote), 0) FROM fills f JOIN orders o ON o.id = f.order_id \
                WHERE o.position_id = $1) AS fees";
        Ok(sqlx::query_as::<_, CashPnl>(sql)
            .bind(position_id)
            .fetch_one(self.pool())
            .await?)
    }

    /// Cash P&L per position and UTC day for days `from..=to`, for one position or (with
    /// `None`) all positions; days without any row are omitted. Ordered by day, position.
    pub async fn daily_cash_pnl(
        &self,
        position_id: Option<i64>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyCashPnl>> {
        let sql = "WITH f AS ( \
                SELECT position_id, (paid_at AT TIME ZONE 'UTC')::date AS day, \
                       sum(amount) AS funding \
                FROM funding_payments \
                WHERE position_id IS NOT NULL AND ($1::bigint IS NULL OR position_id = $1) \
                  AND (paid_at AT TIME ZONE 'UTC')::date BETWEEN $2 AND $3 \
                GROUP BY 1, 2 \
            ), b AS ( \
                SELECT position_id, (charged_at AT TIME ZONE 'UTC')::date AS day, \
                       sum(amount_quote) AS borrow \
                FROM borrow_interest \
                WHERE position_id IS NOT NULL AND ($1::bigint IS NULL OR position_id = $1) \
                  AND (charged_at AT TIME ZONE 'UTC')::date BETWEEN $2 AND $3 \
                GROUP BY 1, 2 \
            ), c AS ( \
                SELECT o.position_id, (fl.traded_at AT TIME ZONE 'UTC')::date AS day, \
                       sum(fl.fee_quote) AS fees \
                FROM fills fl JOIN orders o ON o.id = fl.order_id \
                WHERE o.position_id IS NOT NULL AND ($1::bigint IS NULL OR o.position_id = $1) \
                  AND (fl.traded_at AT TIME ZONE 'UTC')::date BETWEEN $2 AND $3 \
                GROUP BY 1, 2 \
            ) \
            SELECT position_id, day, COALESCE(funding, 0) AS funding, \
                   COALESCE(borrow, 0) AS borrow, COALESCE(fees, 0) AS fees \
            FROM f FULL JOIN b USING (position_id, day) FULL JOIN c USING (position_id, day) \
            ORDER BY day, position_id";
        Ok(sqlx::query_as::<_, DailyCashPnl>(sql)
            .bind(position_id)
            .bind(from)
            .bind(to)
            .fetch_all(self.pool())
            .await?)
    }

    /// Cash P&L summed over all positions for fills/payments/charges with times in
    /// `from <= t < to` (for account-level reports).
    pub async fn account_cash_pnl(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<CashPnl> {
        let sql = "SELECT \
            (SELECT COALESCE(sum(amount), 0) FROM funding_payments \
                WHERE paid_at >= $1 AND paid_at < $2) AS funding, \
            (SELECT COALESCE(sum(amount_quote), 0) FROM borrow_interest \
                WHERE charged_at >= $1 AND charged_at < $2) AS borrow, \
            (SELECT COALESCE(sum(fee_quote), 0) FROM fills \
                WHERE traded_at >= $1 AND traded_at < $2) AS fees";
        Ok(sqlx::query_as::<_, CashPnl>(sql)
            .bind(from)
            .bind(to)
            .fetch_one(self.pool())
            .await?)
    }

    /// Inserts or replaces the executor's row for (position, day).
    pub async fn upsert_pnl_daily(&self, row: &PnlDaily) -> Result<PnlDaily> {
        let sql = "INSERT INTO pnl_daily (position_id, day, funding, borrow, fees, basis_spot, \
                basis_perp, realised, unrealised) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
            ON CONFLICT (position_id, day) DO UPDATE SET funding = EXCLUDED.funding, \
                borrow = EXCLUDED.borrow, fees = EXCLUDED.fees, basis_spot = EXCLUDED.basis_spot, \
                basis_perp = EXCLUDED.basis_perp, realised = EXCLUDED.realised, \
                unrealised = EXCLUDED.unrealised \
            RETURNING position_id, day, funding, borrow, fees, basis_spot, basis_perp, realised, \
                unrealised";
        Ok(sqlx::query_as::<_, PnlDaily>(sql)
            .bind(row.position_id)
            .bind(row.day)
            .bind(row.funding)
            .bind(row.borrow)
            .bind(row.fees)
            .bind(row.basis_spot)
            .bind(row.basis_perp)
            .bind(row.realised)
            .bind(row.unrealised)
            .fetch_one(self.pool())
            .await?)
    }

    pub async fn list_pnl_daily(&self, position_id: i64) -> Result<Vec<PnlDaily>> {
        let sql = "SELECT position_id, day, funding, borrow, fees, basis_spot, basis_perp, \
                realised, unrealised FROM pnl_daily WHERE position_id = $1 ORDER BY day";
        Ok(sqlx::query_as::<_, PnlDaily>(sql)
            .bind(position_id)
            .fetch_all(self.pool())
            .await?)
    }
}
