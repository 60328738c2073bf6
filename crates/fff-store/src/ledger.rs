//! Exchange-reported cash flows: `fills`, `funding_payments`, `borrow_interest`. Written by the
//! executor; every insert is idempotent by the exchange's own id, so re-reading a history
//! endpoint or replaying a user-data stream never double-counts.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::FromRow;

use crate::{Inserted, Result, Side, Store, Venue};

macro_rules! fill_columns {
    () => {
        "id, order_id, venue, symbol, trade_id, side, qty, price, fee, fee_asset, fee_quote, \
         is_maker, traded_at, created_at"
    };
}

macro_rules! funding_columns {
    () => {
        "id, tran_id, symbol, position_id, asset, amount, funding_rate, mark_price, notional, \
         expected_amount, paid_at, created_at"
    };
}

macro_rules! interest_columns {
    () => {
        "id, tx_id, asset, position_id, amount, amount_quote, interest_rate, principal, \
         interest_type, charged_at, created_at"
    };
}

/// A position's spot-leg charges in its base asset (see [`Store::spot_base_charges`]).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct BaseCharges {
    pub position_id: i64,
    /// Commission the spot buys paid in the base asset (booked fills only).
    pub commission: Decimal,
    /// Borrow interest charged in the base asset.
    pub interest: Decimal,
    /// Spot buys whose fills are not all booked yet: their commission is missing above.
    pub unbooked_buys: i64,
    /// Spot buys with fills, all of them booked.
    pub booked_buys: i64,
}

/// One execution of an order. Unique per (venue, symbol, trade_id): Binance trade ids are only
/// unique within a symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFill {
    /// `orders.id` of the local order.
    pub order_id: i64,
    pub venue: Venue,
    pub symbol: String,
    pub trade_id: i64,
    pub side: Side,
    pub qty: Decimal,
    pub price: Decimal,
    /// Commission as charged, in `fee_asset`.
    pub fee: Decimal,
    pub fee_asset: String,
    /// Commission valued in the quote asset (equals `fee` when `fee_asset` is the quote asset);
    /// P&L sums this column.
    pub fee_quote: Decimal,
    pub is_maker: bool,
    pub traded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Fill {
    pub id: i64,
    pub order_id: i64,
    pub venue: Venue,
    pub symbol: String,
    pub trade_id: i64,
    pub side: Side,
    pub qty: Decimal,
    pub price: Decimal,
    pub fee: Decimal,
    pub fee_asset: String,
    pub fee_quote: Decimal,
    pub is_maker: bool,
    pub traded_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// A USD-M `FUNDING_FEE` income row. Unique per (symbol, tran_id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFundingPayment {
    pub tran_id: i64,
    pub symbol: String,
    pub position_id: Option<i64>,
    pub asset: String,
    /// Signed: positive = received.
    pub amount: Decimal,
    pub funding_rate: Option<Decimal>,
    pub mark_price: Option<Decimal>,
    pub notional: Option<Decimal>,
    /// What the strategy expected to receive, for slippage-of-funding analysis.
    pub expected_amount: Option<Decimal>,
    pub paid_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct FundingPayment {
    pub id: i64,
    pub tran_id: i64,
    pub symbol: String,
    pub position_id: Option<i64>,
    pub asset: String,
    pub amount: Decimal,
    pub funding_rate: Option<Decimal>,
    pub mark_price: Option<Decimal>,
    pub notional: Option<Decimal>,
    pub expected_amount: Option<Decimal>,
    pub paid_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// A cross-margin interest charge (`/sapi/v1/margin/interestHistory` row). Unique per tx_id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBorrowInterest {
    pub tx_id: i64,
    pub asset: String,
    /// The hedge that borrowed `asset`, if attributed.
    pub position_id: Option<i64>,
    /// Interest charged, in `asset` (non-negative).
    pub amount: Decimal,
    /// `amount` valued in the quote asset; P&L sums this column.
    pub amount_quote: Decimal,
    pub interest_rate: Option<Decimal>,
    pub principal: Option<Decimal>,
    /// Binance `type`: PERIODIC, ON_BORROW, PERIODIC_CONVERTED, ...
    pub interest_type: String,
    pub charged_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct BorrowInterest {
    pub id: i64,
    pub tx_id: i64,
    pub asset: String,
    pub position_id: Option<i64>,
    pub amount: Decimal,
    pub amount_quote: Decimal,
    pub interest_rate: Option<Decimal>,
    pub principal: Option<Decimal>,
    pub interest_type: String,
    pub charged_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Records a fill once; a repeat returns the stored row with `created == false`.
    pub async fn insert_fill(&self, fill: &NewFill) -> Result<Inserted<Fill>> {
        let insert = concat!(
            "INSERT INTO fills (order_id, venue, symbol, trade_id, side, qty, price, fee, \
             fee_asset, fee_quote, is_maker, traded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (venue, symbol, trade_id) DO NOTHING RETURNING ",
            fill_columns!()
        );
        let inserted = sqlx::query_as::<_, Fill>(insert)
            .bind(fill.order_id)
            .bind(fill.venue)
            .bind(&fill.symbol)
            .bind(fill.trade_id)
            .bind(fill.side)
            .bind(fill.qty)
            .bind(fill.price)
            .bind(fill.fee)
            .bind(&fill.fee_asset)
            .bind(fill.fee_quote)
            .bind(fill.is_maker)
            .bind(fill.traded_at)
            .fetch_optional(self.pool())
            .await?;
        if let Some(row) = inserted {
            return Ok(Inserted { row, created: true });
        }
        let select = concat!(
            "SELECT ",
            fill_columns!(),
            " FROM fills WHERE venue = $1 AND symbol = $2 AND trade_id = $3"
        );
        let row = sqlx::query_as::<_, Fill>(select)
            .bind(fill.venue)
            .bind(&fill.symbol)
            .bind(fill.trade_id)
            .fetch_one(self.pool())
            .await?;
        Ok(Inserted {
            row,
            created: false,
        })
    }

    pub async fn list_order_fills(&self, order_id: i64) -> Result<Vec<Fill>> {
        let sql = concat!(
            "SELECT ",
            fill_columns!(),
            " FROM fills WHERE order_id = $1 ORDER BY traded_at, id"
        );
        Ok(sqlx::query_as::<_, Fill>(sql)
            .bind(order_id)
            .fetch_all(self.pool())
            .await?)
    }

    /// Records a funding payment once; a repeat returns the stored row with `created == false`.
    pub async fn insert_funding_payment(
        &self,
        payment: &NewFundingPayment,
    ) -> Result<Inserted<FundingPayment>> {
        let insert = concat!(
            "INSERT INTO funding_payments (tran_id, symbol, position_id, asset, amount, \
             funding_rate, mark_price, notional, expected_amount, paid_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (symbol, tran_id) DO NOTHING RETURNING ",
            funding_columns!()
        );
        let inserted = sqlx::query_as::<_, FundingPayment>(insert)
            .bind(payment.tran_id)
            .bind(&payment.symbol)
            .bind(payment.position_id)
            .bind(&payment.asset)
            .bind(payment.amount)
            .bind(payment.funding_rate)
            .bind(payment.mark_price)
            .bind(payment.notional)
            .bind(payment.expected_amount)
            .bind(payment.paid_at)
            .fetch_optional(self.pool())
            .await?;
        if let Some(row) = inserted {
            return Ok(Inserted { row, created: true });
        }
        let select = concat!(
            "SELECT ",
            funding_columns!(),
            " FROM funding_payments WHERE symbol = $1 AND tran_id = $2"
        );
        let row = sqlx::query_as::<_, FundingPayment>(select)
            .bind(&payment.symbol)
            .bind(payment.tran_id)
            .fetch_one(self.pool())
            .await?;
        Ok(Inserted {
            row,
            created: false,
        })
    }

    pub async fn list_position_funding(&self, position_id: i64) -> Result<Vec<FundingPayment>> {
        let sql = concat!(
            "SELECT ",
            funding_columns!(),
            " FROM funding_payments WHERE position_id = $1 ORDER BY paid_at, id"
        );
        Ok(sqlx::query_as::<_, FundingPayment>(sql)
            .bind(position_id)
            .fetch_all(self.pool())
            .await?)
    }

    /// Time of the newest funding payment for `symbol`, to resume income-history polling.
    pub async fn last_funding_time(&self, symbol: &str) -> Result<Option<DateTime<Utc>>> {
        Ok(
            sqlx::query_scalar("SELECT max(paid_at) FROM funding_payments WHERE symbol = $1")
                .bind(symbol)
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// Records an interest charge once; a repeat returns the stored row with `created == false`.
    pub async fn insert_borrow_interest(
        &self,
        interest: &NewBorrowInterest,
    ) -> Result<Inserted<BorrowInterest>> {
        let insert = concat!(
            "INSERT INTO borrow_interest (tx_id, asset, position_id, amount, amount_quote, \
             interest_rate, principal, interest_type, charged_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (tx_id) DO NOTHING RETURNING ",
            interest_columns!()
        );
        let inserted = sqlx::query_as::<_, BorrowInterest>(insert)
            .bind(interest.tx_id)
            .bind(&interest.asset)
            .bind(interest.position_id)
            .bind(interest.amount)
            .bind(interest.amount_quote)
            .bind(interest.interest_rate)
            .bind(interest.principal)
            .bind(&interest.interest_type)
            .bind(interest.charged_at)
            .fetch_optional(self.pool())
            .await?;
        if let Some(row) = inserted {
            return Ok(Inserted { row, created: true });
        }
        let select = concat!(
            "SELECT ",
            interest_columns!(),
            " FROM borrow_interest WHERE tx_id = $1"
        );
        let row = sqlx::query_as::<_, BorrowInterest>(select)
            .bind(interest.tx_id)
            .fetch_one(self.pool())
            .await?;
        Ok(Inserted {
            row,
            created: false,
        })
    }

    /// What the venue took from each position's spot leg in its base asset, for comparing the
    /// books' leg with the account's net holding: commission its spot buys paid in the base
    /// asset and interest charged in it. One statement for all `(position id, base asset)`.
    pub async fn spot_base_charges(&self, positions: &[(i64, String)]) -> Result<Vec<BaseCharges>> {
        let (ids, bases): (Vec<i64>, Vec<String>) = positions.iter().cloned().unzip();
        let sql = "SELECT p.id AS position_id, \
                COALESCE((SELECT sum(f.fee) FROM fills f JOIN orders o ON o.id = f.order_id \
                    WHERE o.position_id = p.id AND o.leg = 'SPOT' AND o.side = 'BUY' \
                      AND f.fee_asset = p.base), 0) AS commission, \
                COALESCE((SELECT sum(b.amount) FROM borrow_interest b \
                    WHERE b.position_id = p.id AND b.asset = p.base), 0) AS interest, \
                (SELECT count(*) FROM orders o WHERE o.position_id = p.id AND o.leg = 'SPOT' \
                    AND o.side = 'BUY' AND o.executed_qty > COALESCE( \
                        (SELECT sum(f.qty) FROM fills f WHERE f.order_id = o.id), 0)) \
                    AS unbooked_buys, \
                (SELECT count(*) FROM orders o WHERE o.position_id = p.id AND o.leg = 'SPOT' \
                    AND o.side = 'BUY' AND o.executed_qty > 0 AND o.executed_qty <= COALESCE( \
                        (SELECT sum(f.qty) FROM fills f WHERE f.order_id = o.id), 0)) \
                    AS booked_buys \
            FROM unnest($1::bigint[], $2::text[]) AS p (id, base) ORDER BY p.id";
        Ok(sqlx::query_as::<_, BaseCharges>(sql)
            .bind(ids)
            .bind(bases)
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn list_position_interest(&self, position_id: i64) -> Result<Vec<BorrowInterest>> {
        let sql = concat!(
            "SELECT ",
            interest_columns!(),
            " FROM borrow_interest WHERE position_id = $1 ORDER BY charged_at, id"
        );
        Ok(sqlx::query_as::<_, BorrowInterest>(sql)
            .bind(position_id)
            .fetch_all(self.pool())
            .await?)
    }
}
