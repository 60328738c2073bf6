//! `orders`: every order, written as an INTENT before it is sent. Written by the executor.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::FromRow;

use crate::{
    Inserted, Leg, OrderStatus, OrderType, Result, Side, SideEffect, Store, StoreError,
    TimeInForce, UpdateOutcome, Venue,
};

macro_rules! columns {
    () => {
        "id, client_order_id, position_id, venue, leg, symbol, side, order_type, time_in_force, \
         qty, price, reduce_only, side_effect, status, exchange_order_id, executed_qty, \
         avg_price, error, created_at, updated_at"
    };
}

/// Writes an intent unless its client order id exists (then nothing is returned).
const INSERT_INTENT: &str = concat!(
    "INSERT INTO orders (client_order_id, position_id, venue, leg, symbol, side, \
     order_type, time_in_force, qty, price, reduce_only, side_effect, status) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'INTENT') \
     ON CONFLICT (client_order_id) DO NOTHING RETURNING ",
    columns!()
);

fn bind_intent<'q>(
    query: sqlx::query::QueryAs<'q, sqlx::Postgres, Order, sqlx::postgres::PgArguments>,
    intent: &'q OrderIntent,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, Order, sqlx::postgres::PgArguments> {
    query
        .bind(&intent.client_order_id)
        .bind(intent.position_id)
        .bind(intent.venue)
        .bind(intent.leg)
        .bind(&intent.symbol)
        .bind(intent.side)
        .bind(intent.order_type)
        .bind(intent.time_in_force)
        .bind(intent.qty)
        .bind(intent.price)
        .bind(intent.reduce_only)
        .bind(intent.side_effect)
}

/// An order about to be sent. `client_order_id` is the idempotency key (Binance rules: 1-36 of
/// `[.A-Z:/a-z0-9_-]`) and is reused when retrying the same order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderIntent {
    pub client_order_id: String,
    pub position_id: Option<i64>,
    pub venue: Venue,
    pub leg: Leg,
    pub symbol: String,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: Option<TimeInForce>,
    pub qty: Decimal,
    pub price: Option<Decimal>,
    pub reduce_only: bool,
    pub side_effect: SideEffect,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Order {
    pub id: i64,
    pub client_order_id: String,
    pub position_id: Option<i64>,
    pub venue: Venue,
    pub leg: Leg,
    pub symbol: String,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: Option<TimeInForce>,
    pub qty: Decimal,
    pub price: Option<Decimal>,
    pub reduce_only: bool,
    pub side_effect: SideEffect,
    pub status: OrderStatus,
    pub exchange_order_id: Option<i64>,
    pub executed_qty: Decimal,
    pub avg_price: Option<Decimal>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// Whether this row was written for `intent` (same order parameters).
    pub fn matches_intent(&self, intent: &OrderIntent) -> bool {
        self.client_order_id == intent.client_order_id
            && self.position_id == intent.position_id
            && self.venue == intent.venue
            && self.leg == intent.leg
            && self.symbol == intent.symbol
            && self.side == intent.side
            && self.order_type == intent.order_type
            && self.time_in_force == intent.time_in_force
            && self.qty == intent.qty
            && self.price == intent.price
            && self.reduce_only == intent.reduce_only
            && self.side_effect == intent.side_effect
    }
}

/// A status report for an order (from the REST response, a user-data event or a query).
/// `None` fields keep their stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderUpdate {
    pub status: OrderStatus,
    pub exchange_order_id: Option<i64>,
    /// Cumulative executed quantity; an update carrying less than is stored is stale.
    pub executed_qty: Option<Decimal>,
    pub avg_price: Option<Decimal>,
    pub error: Option<String>,
}

impl OrderUpdate {
    pub fn status(status: OrderStatus) -> Self {
        Self {
            status,
            exchange_order_id: None,
            executed_qty: None,
            avg_price: None,
            error: None,
        }
    }
}

impl Store {
    /// Records an order in INTENT before it is sent. Idempotent by `client_order_id`: a repeat
    /// returns the stored row with `created == false` (whatever its status now is). A repeat whose
    /// parameters differ fails with [`StoreError::IdempotencyConflict`].
    pub async fn insert_order_intent(&self, intent: &OrderIntent) -> Result<Inserted<Order>> {
        let inserted = bind_intent(sqlx::query_as::<_, Order>(INSERT_INTENT), intent)
            .fetch_optional(self.pool())
            .await?;
        if let Some(row) = inserted {
            return Ok(Inserted { row, created: true });
        }
        // The conflicting row is committed (ON CONFLICT waited for it), so it is visible here.
        let row = self
            .get_order(&intent.client_order_id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "order",
                key: intent.client_order_id.clone(),
            })?;
        if !row.matches_intent(intent) {
            return Err(StoreError::IdempotencyConflict {
                client_order_id: intent.client_order_id.clone(),
            });
        }
        Ok(Inserted {
            row,
            created: false,
        })
    }

    /// Records several intents in one statement (one commit): a perp entry and the hedge that
    /// will mirror its fill, so nothing waits on PostgreSQL between the perp's fill and the
    /// hedge. Idempotent per intent like [`Store::insert_order_intent`]; all or nothing when
    /// an intent conflicts.
    pub async fn insert_order_intents(
        &self,
        intents: &[OrderIntent],
    ) -> Result<Vec<Inserted<Order>>> {
        if intents.is_empty() {
            return Ok(Vec::new());
        }
        // one statement, one round trip (it is on the path from an opportunity to its order):
        // enough when every id is new, as entry slices' ids are
        let mut insert = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO orders (client_order_id, position_id, venue, leg, symbol, side, \
             order_type, time_in_force, qty, price, reduce_only, side_effect, status) ",
        );
        insert.push_values(intents, |mut row, intent| {
            row.push_bind(&intent.client_order_id)
                .push_bind(intent.position_id)
                .push_bind(intent.venue)
                .push_bind(intent.leg)
                .push_bind(&intent.symbol)
                .push_bind(intent.side)
                .push_bind(intent.order_type)
                .push_bind(intent.time_in_force)
                .push_bind(intent.qty)
                .push_bind(intent.price)
                .push_bind(intent.reduce_only)
                .push_bind(intent.side_effect)
                .push("'INTENT'");
        });
        insert.push(concat!(
            " ON CONFLICT (client_order_id) DO NOTHING RETURNING ",
            columns!()
        ));
        let mut created: Vec<Order> = insert.build_query_as().fetch_all(self.pool()).await?;
        if created.len() == intents.len() {
            let mut rows = Vec::with_capacity(intents.len());
            for intent in intents {
                let at = created
                    .iter()
                    .position(|row| row.client_order_id == intent.client_order_id)
                    .ok_or_else(|| StoreError::NotFound {
                        entity: "order",
                        key: intent.client_order_id.clone(),
                    })?;
                rows.push(Inserted {
                    row: created.swap_remove(at),
                    created: true,
                });
            }
            return Ok(rows);
        }
        // Some ids were there already: undo this statement's rows (intents no one has sent or
        // seen) and decide in one transaction, so a conflict still writes nothing.
        if !created.is_empty() {
            let ids: Vec<&str> = created.iter().map(|r| r.client_order_id.as_str()).collect();
            sqlx::query("DELETE FROM orders WHERE client_order_id = ANY($1) AND status = 'INTENT'")
                .bind(&ids)
                .execute(self.pool())
                .await?;
        }
        self.insert_order_intents_tx(intents).await
    }

    /// [`Store::insert_order_intents`] one intent at a time in a transaction.
    async fn insert_order_intents_tx(
        &self,
        intents: &[OrderIntent],
    ) -> Result<Vec<Inserted<Order>>> {
        let select = concat!(
            "SELECT ",
            columns!(),
            " FROM orders WHERE client_order_id = $1"
        );
        let mut tx = self.pool().begin().await?;
        let mut rows = Vec::with_capacity(intents.len());
        for intent in intents {
            let inserted = bind_intent(sqlx::query_as::<_, Order>(INSERT_INTENT), intent)
                .fetch_optional(&mut *tx)
                .await?;
            let row = match inserted {
                Some(row) => Inserted { row, created: true },
                None => {
                    let row = sqlx::query_as::<_, Order>(select)
                        .bind(&intent.client_order_id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .ok_or_else(|| StoreError::NotFound {
                            entity: "order",
                            key: intent.client_order_id.clone(),
                        })?;
                    if !row.matches_intent(intent) {
                        return Err(StoreError::IdempotencyConflict {
                            client_order_id: intent.client_order_id.clone(),
                        });
                    }
                    Inserted {
                        row,
                        created: false,
                    }
                }
            };
            rows.push(row);
        }
        tx.commit().await?;
        Ok(rows)
    }

    /// Lowers the quantity of an order written ahead with an upper bound (a hedge committed
    /// with its perp's size, sent for the perp's fill). Never raises it.
    pub async fn lower_order_qty(&self, client_order_id: &str, qty: Decimal) -> Result<()> {
        sqlx::query("UPDATE orders SET qty = $2 WHERE client_order_id = $1 AND qty > $2")
            .bind(client_order_id)
            .bind(qty)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn get_order(&self, client_order_id: &str) -> Result<Option<Order>> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM orders WHERE client_order_id = $1"
        );
        Ok(sqlx::query_as::<_, Order>(sql)
            .bind(client_order_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Applies a status report unless it would leave a terminal state, move backwards
    /// ([`OrderStatus::can_transition_to`]) or lower `executed_qty`; those return
    /// [`UpdateOutcome::Ignored`] with the current row. Unknown ids fail with `NotFound`.
    pub async fn update_order(
        &self,
        client_order_id: &str,
        update: &OrderUpdate,
    ) -> Result<UpdateOutcome<Order>> {
        let allowed_from: Vec<OrderStatus> = OrderStatus::ALL
            .iter()
            .copied()
            .filter(|from| from.can_transition_to(update.status))
            .collect();
        let sql = concat!(
            "UPDATE orders SET status = $2, \
             exchange_order_id = COALESCE($3, exchange_order_id), \
             executed_qty = COALESCE($4, executed_qty), avg_price = COALESCE($5, avg_price), \
             error = COALESCE($6, error) \
             WHERE client_order_id = $1 AND status = ANY($7) \
             AND ($4::numeric IS NULL OR $4::numeric >= executed_qty) RETURNING ",
            columns!()
        );
        let updated = sqlx::query_as::<_, Order>(sql)
            .bind(client_order_id)
            .bind(update.status)
            .bind(update.exchange_order_id)
            .bind(update.executed_qty)
            .bind(update.avg_price)
            .bind(update.error.as_deref())
            .bind(&allowed_from)
            .fetch_optional(self.pool())
            .await?;
        if let Some(row) = updated {
            return Ok(UpdateOutcome::Applied(row));
        }
        let current =
            self.get_order(client_order_id)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    entity: "order",
                    key: client_order_id.to_owned(),
                })?;
        tracing::debug!(
            client_order_id,
            from = %current.status,
            to = %update.status,
            "ignored stale or backward order update"
        );
        Ok(UpdateOutcome::Ignored(current))
    }

    /// Orders not yet in a terminal state (INTENT, SENT, UNKNOWN, ACKED, PARTIALLY_FILLED),
    /// oldest first: what crash recovery must reconcile with the exchange.
    pub async fn list_unfinished_orders(&self) -> Result<Vec<Order>> {
        // Spelled like the partial index `orders_unfinished` so the planner can use it; the
        // integration tests check it agrees with `OrderStatus::is_terminal`.
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM orders WHERE status NOT IN ('FILLED', 'CANCELED', 'REJECTED', 'EXPIRED') \
             ORDER BY created_at, id"
        );
        Ok(sqlx::query_as::<_, Order>(sql)
            .fetch_all(self.pool())
            .await?)
    }

    /// Orders known to the venue (an exchange order id) whose booked fills add up to less than
    /// their executed quantity, with that booked sum, oldest first; with `since`, only orders of
    /// positions that are live or were changed or closed since then. One query: a scan after a
    /// restart looked at every order's fills one by one and took seconds to reach the gap.
    pub async fn list_fill_gaps(
        &self,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Vec<(Order, rust_decimal::Decimal)>> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            ", booked FROM (SELECT o.*, COALESCE(f.booked, 0) AS booked FROM orders o \
             JOIN positions p ON p.id = o.position_id \
             LEFT JOIN (SELECT order_id, SUM(qty) AS booked FROM fills GROUP BY order_id) f \
               ON f.order_id = o.id \
             WHERE o.executed_qty > 0 AND o.exchange_order_id IS NOT NULL \
               AND o.executed_qty > COALESCE(f.booked, 0) \
               AND ($1::timestamptz IS NULL \
                    OR p.state NOT IN ('CLOSED', 'FAILED') \
                    OR p.updated_at >= $1 OR p.closed_at >= $1)) gaps \
             ORDER BY created_at, id"
        );
        let rows = sqlx::query(sql).bind(since).fetch_all(self.pool()).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            use sqlx::{FromRow as _, Row as _};
            out.push((Order::from_row(row)?, row.try_get("booked")?));
        }
        Ok(out)
    }

    pub async fn list_position_orders(&self, position_id: i64) -> Result<Vec<Order>> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM orders WHERE position_id = $1 ORDER BY id"
        );
        Ok(sqlx::query_as::<_, Order>(sql)
            .bind(position_id)
            .fetch_all(self.pool())
            .await?)
    }
}
