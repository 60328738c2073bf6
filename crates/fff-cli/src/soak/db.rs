//! The suite's books in PostgreSQL (schema: crates/fff-store/migrations), read whole at each
//! check: positions, orders, fills, funding payments and borrow interest.

use std::time::Duration;

use anyhow::Context as _;
use rust_decimal::Decimal;
use sqlx::postgres::{PgPool, PgPoolOptions};

#[derive(Debug, Clone, PartialEq)]
pub struct DbOrder {
    pub client_order_id: String,
    pub position_id: Option<i64>,
    /// SPOT, MARGIN or USDM.
    pub venue: String,
    pub symbol: String,
    pub side: String,
    pub status: String,
    pub executed_qty: Decimal,
    /// Since the row last changed (ms, the database's clock).
    pub age_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DbFill {
    pub client_order_id: String,
    pub trade_id: i64,
    pub qty: Decimal,
    pub price: Decimal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DbPosition {
    pub id: i64,
    pub symbol: String,
    pub direction: String,
    pub state: String,
    pub spot_qty: Decimal,
    pub perp_qty: Decimal,
    /// Since the row last changed (ms, the database's clock).
    pub age_ms: i64,
}

impl DbPosition {
    pub fn is_live(&self) -> bool {
        !matches!(self.state.as_str(), "CLOSED" | "FAILED")
    }
}

/// A funding payment (key = symbol) or interest charge (key = asset) in the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct DbCash {
    pub key: String,
    pub id: i64,
    pub amount: Decimal,
    /// Exchange time, ms.
    pub time: i64,
}

#[derive(Debug, Clone, Default)]
pub struct DbBooks {
    pub orders: Vec<DbOrder>,
    pub fills: Vec<DbFill>,
    pub positions: Vec<DbPosition>,
    pub funding: Vec<DbCash>,
    pub interest: Vec<DbCash>,
}

/// A small pool on the suite's database; it reconnects by itself after a PostgreSQL restart.
pub async fn connect(url: &str) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(2))
        .connect(url)
        .await
        .context("cannot connect to the suite's PostgreSQL")
}

/// Reads every table the invariants need (one snapshot transaction).
pub async fn read_books(pool: &PgPool) -> anyhow::Result<DbBooks> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let orders = sqlx::query_as::<
        _,
        (
            String,
            Option<i64>,
            String,
            String,
            String,
            String,
            Decimal,
            i64,
        ),
    >(
        "SELECT client_order_id, position_id, venue, symbol, side, status, executed_qty, \
         (EXTRACT(EPOCH FROM (now() - updated_at)) * 1000)::bigint FROM orders",
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(
        |(client_order_id, position_id, venue, symbol, side, status, executed_qty, age_ms)| {
            DbOrder {
                client_order_id,
                position_id,
                venue,
                symbol,
                side,
                status,
                executed_qty,
                age_ms,
            }
        },
    )
    .collect();
    let fills = sqlx::query_as::<_, (String, i64, Decimal, Decimal)>(
        "SELECT o.client_order_id, f.trade_id, f.qty, f.price FROM fills f JOIN orders o ON o.id = f.order_id",
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(client_order_id, trade_id, qty, price)| DbFill {
        client_order_id,
        trade_id,
        qty,
        price,
    })
    .collect();
    let positions = sqlx::query_as::<_, (i64, String, String, String, Decimal, Decimal, i64)>(
        "SELECT id, symbol, direction, state, spot_qty, perp_qty, \
         (EXTRACT(EPOCH FROM (now() - updated_at)) * 1000)::bigint FROM positions",
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(
        |(id, symbol, direction, state, spot_qty, perp_qty, age_ms)| DbPosition {
            id,
            symbol,
            direction,
            state,
            spot_qty,
            perp_qty,
            age_ms,
        },
    )
    .collect();
    let cash = |rows: Vec<(String, i64, Decimal, i64)>| -> Vec<DbCash> {
        rows.into_iter()
            .map(|(key, id, amount, time)| DbCash {
                key,
                id,
                amount,
                time,
            })
            .collect()
    };
    let funding = cash(
        sqlx::query_as(
            "SELECT symbol, tran_id, amount, (EXTRACT(EPOCH FROM paid_at) * 1000)::BIGINT FROM funding_payments",
        )
        .fetch_all(&mut *tx)
        .await?,
    );
    let interest = cash(
        sqlx::query_as(
            "SELECT asset, tx_id, amount, (EXTRACT(EPOCH FROM charged_at) * 1000)::BIGINT FROM borrow_interest",
        )
        .fetch_all(&mut *tx)
        .await?,
    );
    tx.commit().await?;
    Ok(DbBooks {
        orders,
        fills,
        positions,
        funding,
        interest,
    })
}
