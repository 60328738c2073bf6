//! `venue_charges`: what the venue takes from the account outside fills, funding and interest
//! (the liquidation clearance fee), each attributed to a position. Written by the executor,
//! idempotent by the venue's income id.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::FromRow;

use crate::{ChargeKind, Inserted, Result, Store};

macro_rules! charge_columns {
    () => {
        "id, kind, tran_id, symbol, position_id, asset, amount, charged_at, created_at"
    };
}

/// A venue charge as the income history lists it. Unique per (kind, symbol, tran_id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVenueCharge {
    pub kind: ChargeKind,
    pub tran_id: i64,
    pub symbol: String,
    pub position_id: Option<i64>,
    pub asset: String,
    /// Signed as the venue booked it: negative = charged.
    pub amount: Decimal,
    pub charged_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct VenueCharge {
    pub id: i64,
    pub kind: ChargeKind,
    pub tran_id: i64,
    pub symbol: String,
    pub position_id: Option<i64>,
    pub asset: String,
    pub amount: Decimal,
    pub charged_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Records a venue charge once; a repeat returns the stored row with `created == false`.
    pub async fn insert_venue_charge(
        &self,
        charge: &NewVenueCharge,
    ) -> Result<Inserted<VenueCharge>> {
        let insert = concat!(
            "INSERT INTO venue_charges (kind, tran_id, symbol, position_id, asset, amount, \
             charged_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (kind, symbol, tran_id) DO NOTHING RETURNING ",
            charge_columns!()
        );
        let inserted = sqlx::query_as::<_, VenueCharge>(insert)
            .bind(charge.kind)
            .bind(charge.tran_id)
            .bind(&charge.symbol)
            .bind(charge.position_id)
            .bind(&charge.asset)
            .bind(charge.amount)
            .bind(charge.charged_at)
            .fetch_optional(self.pool())
            .await?;
        if let Some(row) = inserted {
            return Ok(Inserted { row, created: true });
        }
        let select = concat!(
            "SELECT ",
            charge_columns!(),
            " FROM venue_charges WHERE kind = $1 AND symbol = $2 AND tran_id = $3"
        );
        let row = sqlx::query_as::<_, VenueCharge>(select)
            .bind(charge.kind)
            .bind(&charge.symbol)
            .bind(charge.tran_id)
            .fetch_one(self.pool())
            .await?;
        Ok(Inserted {
            row,
            created: false,
        })
    }

    pub async fn list_position_charges(&self, position_id: i64) -> Result<Vec<VenueCharge>> {
        let sql = concat!(
            "SELECT ",
            charge_columns!(),
            " FROM venue_charges WHERE position_id = $1 ORDER BY charged_at, id"
        );
        Ok(sqlx::query_as::<_, VenueCharge>(sql)
            .bind(position_id)
            .fetch_all(self.pool())
            .await?)
    }

    /// The position the venue's close of `symbol`'s perp at `at` was booked on (a LIQUIDATION
    /// order): the one whose fill is nearest `at`, within a minute; else the newest such order
    /// whose fills are not booked yet. `None` when no venue close of the symbol matches.
    pub async fn venue_closed_position(
        &self,
        symbol: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        let sql = "SELECT o.position_id FROM orders o \
            LEFT JOIN LATERAL ( \
                SELECT min(abs(extract(epoch FROM f.traded_at - $2))) AS distance, \
                       count(*) AS fills \
                FROM fills f WHERE f.order_id = o.id) near ON true \
            WHERE o.symbol = $1 AND o.order_type = 'LIQUIDATION' AND o.position_id IS NOT NULL \
              AND (near.fills = 0 OR near.distance <= 60) \
            ORDER BY near.fills = 0, near.distance, o.id DESC LIMIT 1";
        Ok(sqlx::query_scalar::<_, i64>(sql)
            .bind(symbol)
            .bind(at)
            .fetch_optional(self.pool())
            .await?)
    }
}
