//! Fencing tokens for a [`crate::Lease`]: the advisory lock says who may write now, the
//! `lease_fences.epoch` makes a write of an earlier term fail even if it reaches the database
//! after the next holder started (a holder only notices a lost session at its next check).
//!
//! Each term calls [`Store::advance_fence`] right after taking the lock; every write of the
//! term runs in a transaction that first locks the fence row `FOR SHARE` and compares the
//! epoch ([`check_fence`]). The next holder's increment waits for such a transaction and every
//! later write of the old term sees the new epoch and writes nothing.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::{Result, Store};

/// The fencing token of one lease term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseFence {
    pub name: String,
    pub epoch: i64,
}

/// A write guarded by a [`LeaseFence`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fenced<T> {
    /// The fence still held: the write is committed.
    Written(T),
    /// Another term started since this fence was taken: nothing was written.
    Lost,
}

impl<T> Fenced<T> {
    pub fn written(self) -> Option<T> {
        match self {
            Self::Written(value) => Some(value),
            Self::Lost => None,
        }
    }
}

impl Store {
    /// Starts a new term of lease `name`: increments its epoch and returns it. Call only while
    /// holding the lease.
    pub async fn advance_fence(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
    ) -> Result<LeaseFence> {
        let (epoch,): (i64,) = sqlx::query_as(
            "INSERT INTO lease_fences (name, epoch, holder, acquired_at) VALUES ($1, 1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET epoch = lease_fences.epoch + 1, \
               holder = EXCLUDED.holder, acquired_at = EXCLUDED.acquired_at \
             RETURNING epoch",
        )
        .bind(name)
        .bind(holder)
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(LeaseFence {
            name: name.to_owned(),
            epoch,
        })
    }

    /// The current epoch of lease `name`, `None` if no term ever started.
    pub async fn fence_epoch(&self, name: &str) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT epoch FROM lease_fences WHERE name = $1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?,
        )
    }
}

/// Inside a transaction: whether `fence` is still the current term (the row stays locked
/// against the next term's increment until the transaction ends).
pub(crate) async fn check_fence(tx: &mut PgConnection, fence: &LeaseFence) -> Result<bool> {
    let epoch: Option<i64> =
        sqlx::query_scalar("SELECT epoch FROM lease_fences WHERE name = $1 FOR SHARE")
            .bind(&fence.name)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(epoch == Some(fence.epoch))
}
