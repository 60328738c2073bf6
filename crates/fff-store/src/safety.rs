//! Safety state that must survive a restart: a role's kill switch and the first answer to each
//! mutating request id.

use chrono::{DateTime, Utc};

use crate::{Result, Store};

/// A role's kill switch as last set.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ControlState {
    pub paused: bool,
    pub reason: String,
    pub changed_by: String,
    pub changed_at: DateTime<Utc>,
    pub cancel_working_entries: bool,
}

impl Store {
    /// The kill switch of `role`, `None` if it was never set.
    pub async fn load_control(&self, role: &str) -> Result<Option<ControlState>> {
        Ok(sqlx::query_as::<_, ControlState>(
            "SELECT paused, reason, changed_by, changed_at, cancel_working_entries \
             FROM control_state WHERE role = $1",
        )
        .bind(role)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Records the kill switch of `role`.
    pub async fn save_control(&self, role: &str, state: &ControlState) -> Result<()> {
        sqlx::query(
            "INSERT INTO control_state \
               (role, paused, reason, changed_by, changed_at, cancel_working_entries) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (role) DO UPDATE SET paused = EXCLUDED.paused, reason = EXCLUDED.reason, \
               changed_by = EXCLUDED.changed_by, changed_at = EXCLUDED.changed_at, \
               cancel_working_entries = EXCLUDED.cancel_working_entries",
        )
        .bind(role)
        .bind(state.paused)
        .bind(&state.reason)
        .bind(&state.changed_by)
        .bind(state.changed_at)
        .bind(state.cancel_working_entries)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The stored answer to `request_id` of `role`: `(method, encoded response)`.
    pub async fn request_answer(
        &self,
        role: &str,
        request_id: &str,
    ) -> Result<Option<(String, Vec<u8>)>> {
        Ok(sqlx::query_as::<_, (String, Vec<u8>)>(
            "SELECT method, response FROM request_log WHERE role = $1 AND request_id = $2",
        )
        .bind(role)
        .bind(request_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Stores the first answer to `request_id`; a later one for the same id is ignored and the
    /// first is returned.
    pub async fn remember_answer(
        &self,
        role: &str,
        request_id: &str,
        method: &str,
        response: &[u8],
    ) -> Result<(String, Vec<u8>)> {
        sqlx::query(
            "INSERT INTO request_log (role, request_id, method, response) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (role, request_id) DO NOTHING",
        )
        .bind(role)
        .bind(request_id)
        .bind(method)
        .bind(response)
        .execute(self.pool())
        .await?;
        Ok(self
            .request_answer(role, request_id)
            .await?
            .unwrap_or_else(|| (method.to_owned(), response.to_vec())))
    }
}
