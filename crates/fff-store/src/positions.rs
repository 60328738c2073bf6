//! `positions`: one row per hedge. Written by the executor.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::FromRow;

use crate::error::violated_constraint;
use crate::{Direction, PositionState, Result, Store, StoreError};

macro_rules! columns {
    () => {
        "id, symbol, direction, state, spot_qty, spot_entry_price, perp_qty, perp_entry_price, \
         target_notional, leverage, opened_at, closed_at, last_error, created_at, updated_at"
    };
}

const LIVE_INDEX: &str = "positions_one_live_per_symbol";

/// A hedge to open; it starts in [`PositionState::Opening`] with empty legs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPosition {
    pub symbol: String,
    pub direction: Direction,
    /// Quote-currency notional per leg.
    pub target_notional: Decimal,
    /// USD-M leverage (1..=125).
    pub leverage: i32,
}

/// Current leg sizes (unsigned; `direction` gives the sign) and average entry prices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionLegs {
    pub spot_qty: Decimal,
    pub spot_entry_price: Option<Decimal>,
    pub perp_qty: Decimal,
    pub perp_entry_price: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Position {
    pub id: i64,
    pub symbol: String,
    pub direction: Direction,
    pub state: PositionState,
    pub spot_qty: Decimal,
    pub spot_entry_price: Option<Decimal>,
    pub perp_qty: Decimal,
    pub perp_entry_price: Option<Decimal>,
    pub target_notional: Decimal,
    pub leverage: i32,
    /// Set on the first move to OPEN.
    pub opened_at: Option<DateTime<Utc>>,
    /// Set on the move to CLOSED or FAILED.
    pub closed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Store {
    /// Creates a position in OPENING. Fails with [`StoreError::LivePositionExists`] if the symbol
    /// already has a position that is not CLOSED or FAILED.
    /// Commits without waiting for the WAL flush (`synchronous_commit` off for this one
    /// statement): an OPENING row has no order yet, and the first order's intents are committed
    /// synchronously before anything is sent, which flushes the WAL up to their commit, this row
    /// included. Only a database crash in between can lose the row, and then nothing was sent.
    /// It is on the way from an opportunity to its order: the flush cost 1-2 ms there and up
    /// to 10 ms with a batch of entries (`fff bench` 2026-12-05).
    pub async fn create_position(&self, new: &NewPosition) -> Result<Position> {
        let sql = concat!(
            "INSERT INTO positions (symbol, direction, state, target_notional, leverage) \
             SELECT $1, $2, 'OPENING', $3, $4 \
             FROM (SELECT set_config('synchronous_commit', 'off', true)) AS no_flush \
             RETURNING ",
            columns!()
        );
        sqlx::query_as::<_, Position>(sql)
            .bind(&new.symbol)
            .bind(new.direction)
            .bind(new.target_notional)
            .bind(new.leverage)
            .fetch_one(self.pool())
            .await
            .map_err(|err| match violated_constraint(&err) {
                Some(LIVE_INDEX) => StoreError::LivePositionExists {
                    symbol: new.symbol.clone(),
                },
                _ => err.into(),
            })
    }

    pub async fn get_position(&self, id: i64) -> Result<Option<Position>> {
        let sql = concat!("SELECT ", columns!(), " FROM positions WHERE id = $1");
        Ok(sqlx::query_as::<_, Position>(sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// The position on `symbol` that is neither CLOSED nor FAILED, if any (at most one exists).
    pub async fn live_position(&self, symbol: &str) -> Result<Option<Position>> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM positions WHERE symbol = $1 AND state NOT IN ('CLOSED', 'FAILED')"
        );
        Ok(sqlx::query_as::<_, Position>(sql)
            .bind(symbol)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Positions in any of `states`, oldest first.
    pub async fn list_positions(&self, states: &[PositionState]) -> Result<Vec<Position>> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM positions WHERE state = ANY($1) ORDER BY id"
        );
        Ok(sqlx::query_as::<_, Position>(sql)
            .bind(states)
            .fetch_all(self.pool())
            .await?)
    }

    /// Positions that are neither CLOSED nor FAILED, oldest first.
    pub async fn list_live_positions(&self) -> Result<Vec<Position>> {
        let live: Vec<PositionState> = PositionState::ALL
            .iter()
            .copied()
            .filter(|s| !s.is_terminal())
            .collect();
        self.list_positions(&live).await
    }

    /// Moves a position to `to`, recording `error` if given. Setting the state it already has is
    /// a no-op that returns the row; any move [`PositionState::can_transition_to`] forbids fails
    /// with [`StoreError::InvalidTransition`]. The check and the write are one statement, so
    /// concurrent writers cannot slip past it.
    pub async fn set_position_state(
        &self,
        id: i64,
        to: PositionState,
        error: Option<&str>,
    ) -> Result<Position> {
        let allowed_from: Vec<PositionState> = PositionState::ALL
            .iter()
            .copied()
            .filter(|from| from.can_transition_to(to))
            .collect();
        let sql = concat!(
            "UPDATE positions SET state = $2, last_error = COALESCE($3, last_error), \
             opened_at = CASE WHEN $2 = 'OPEN' THEN COALESCE(opened_at, now()) ELSE opened_at END, \
             closed_at = CASE WHEN $2 IN ('CLOSED', 'FAILED') THEN now() ELSE closed_at END \
             WHERE id = $1 AND state = ANY($4) RETURNING ",
            columns!()
        );
        let updated = sqlx::query_as::<_, Position>(sql)
            .bind(id)
            .bind(to)
            .bind(error)
            .bind(&allowed_from)
            .fetch_optional(self.pool())
            .await?;
        if let Some(position) = updated {
            return Ok(position);
        }
        let current = self.get_position(id).await?.ok_or(StoreError::NotFound {
            entity: "position",
            key: id.to_string(),
        })?;
        if current.state == to {
            return Ok(current);
        }
        Err(StoreError::InvalidTransition {
            entity: "position",
            key: id.to_string(),
            from: current.state.to_string(),
            to: to.to_string(),
        })
    }

    /// Records the current leg sizes and entry prices of a live position.
    pub async fn update_position_legs(&self, id: i64, legs: &PositionLegs) -> Result<Position> {
        let sql = concat!(
            "UPDATE positions SET spot_qty = $2, spot_entry_price = $3, perp_qty = $4, \
             perp_entry_price = $5 WHERE id = $1 AND state NOT IN ('CLOSED', 'FAILED') RETURNING ",
            columns!()
        );
        let updated = sqlx::query_as::<_, Position>(sql)
            .bind(id)
            .bind(legs.spot_qty)
            .bind(legs.spot_entry_price)
            .bind(legs.perp_qty)
            .bind(legs.perp_entry_price)
            .fetch_optional(self.pool())
            .await?;
        match updated {
            Some(position) => Ok(position),
            None => match self.get_position(id).await? {
                None => Err(StoreError::NotFound {
                    entity: "position",
                    key: id.to_string(),
                }),
                Some(current) => Err(StoreError::InvalidTransition {
                    entity: "position",
                    key: id.to_string(),
                    from: current.state.to_string(),
                    to: "updated legs".to_owned(),
                }),
            },
        }
    }
}
