//! The risk role's safety state: `risk_directives` (+ `risk_directive_acks`),
//! `risk_monitor_state` and `risk_approvals`. Every write is fenced by the writer lease
//! ([`crate::LeaseFence`]): a risk instance whose lease term ended writes nothing.
//!
//! Kinds, tiers and outcomes are stored as lowercase names (`close_all`, `orange`,
//! `completed`); the risk crate maps them to its types.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::FromRow;

use crate::fence::check_fence;
use crate::{Fenced, LeaseFence, Result, Store, StoreError};

macro_rules! directive_columns {
    () => {
        "sequence, directive_id, kind, reduce_fraction, reason, tier, issued_at, expires_at, \
         drawdown_limit"
    };
}

macro_rules! approval_select {
    () => {
        concat!(
            "SELECT request_id, approval_id, symbol, direction, notional, leverage, reason, ",
            "approved, approved_notional, reasons, tier, decided_at, expires_at ",
            "FROM risk_approvals WHERE request_id = $1"
        )
    };
}

/// One issued directive.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct RiskDirective {
    pub sequence: i64,
    pub directive_id: String,
    pub kind: String,
    pub reduce_fraction: Option<Decimal>,
    pub reason: String,
    pub tier: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub drawdown_limit: bool,
}

/// One acknowledgement of a directive.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct RiskDirectiveAck {
    pub directive_id: String,
    pub outcome: String,
    pub detail: String,
    pub acked_at: DateTime<Utc>,
}

/// The margin monitor's latched state.
#[derive(Debug, Clone, Default, PartialEq, Eq, FromRow)]
pub struct RiskMonitorState {
    pub tier: Option<String>,
    pub futures_tier: Option<String>,
    pub cross_tier: Option<String>,
    pub cut_expires: Option<DateTime<Utc>>,
    /// End of the entry halt after a margin CLOSE_ALL.
    pub cooldown_until: Option<DateTime<Utc>>,
}

/// One entry decision and the request it answered.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct RiskApproval {
    pub request_id: String,
    pub approval_id: String,
    pub symbol: String,
    pub direction: String,
    pub notional: Decimal,
    pub leverage: i32,
    pub reason: String,
    pub approved: bool,
    pub approved_notional: Decimal,
    pub reasons: Vec<String>,
    pub tier: String,
    pub decided_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A page of ListDirectives: newest first, below `before`, matching the filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RiskDirectiveQuery {
    /// Only sequences below this one.
    pub before: Option<i64>,
    /// Kinds to include; empty means all.
    pub kinds: Vec<String>,
    /// `issued_at >= start`.
    pub start: Option<DateTime<Utc>>,
    /// `issued_at < end`.
    pub end: Option<DateTime<Utc>>,
    pub limit: i64,
}

impl Store {
    /// Stores directives issued in one decision and, if given, the monitor state after it, in
    /// one statement guarded by `fence`: all of it, or nothing when the lease is lost.
    pub async fn record_risk_decision(
        &self,
        fence: &LeaseFence,
        role: &str,
        directives: &[RiskDirective],
        state: Option<&RiskMonitorState>,
    ) -> Result<Fenced<()>> {
        // One statement (a directive is on the way from a price move to the first deleverage
        // order): it share-locks and checks the fence row itself, and writes nothing when the
        // lease is lost; a transaction of check, inserts and commit took five round trips.
        let column = |f: fn(&RiskDirective) -> String| directives.iter().map(f).collect::<Vec<_>>();
        let held: bool = sqlx::query_scalar(
            "WITH fence AS (SELECT 1 FROM lease_fences WHERE name = $1 AND epoch = $2 \
               FOR SHARE), \
             d AS (INSERT INTO risk_directives (sequence, directive_id, kind, reduce_fraction, \
                 reason, tier, issued_at, expires_at, drawdown_limit, lease_epoch) \
               SELECT u.sequence, u.directive_id, u.kind, u.reduce_fraction, u.reason, u.tier, \
                 u.issued_at, u.expires_at, u.drawdown_limit, $2 \
               FROM unnest($3::bigint[], $4::text[], $5::text[], $6::numeric[], $7::text[], \
                 $8::text[], $9::timestamptz[], $10::timestamptz[], $11::boolean[]) \
                 AS u(sequence, directive_id, kind, reduce_fraction, reason, tier, issued_at, \
                   expires_at, drawdown_limit) \
               WHERE EXISTS (SELECT 1 FROM fence)), \
             s AS (INSERT INTO risk_monitor_state \
                 (role, tier, futures_tier, cross_tier, cut_expires, cooldown_until, lease_epoch) \
               SELECT $12, $13, $14, $15, $16, $17, $2 WHERE $18 AND EXISTS (SELECT 1 FROM fence) \
               ON CONFLICT (role) DO UPDATE SET tier = EXCLUDED.tier, \
                 futures_tier = EXCLUDED.futures_tier, cross_tier = EXCLUDED.cross_tier, \
                 cut_expires = EXCLUDED.cut_expires, \
                 cooldown_until = EXCLUDED.cooldown_until, lease_epoch = EXCLUDED.lease_epoch) \
             SELECT EXISTS (SELECT 1 FROM fence)",
        )
        .bind(&fence.name)
        .bind(fence.epoch)
        .bind(directives.iter().map(|d| d.sequence).collect::<Vec<_>>())
        .bind(column(|d| d.directive_id.clone()))
        .bind(column(|d| d.kind.clone()))
        .bind(
            directives
                .iter()
                .map(|d| d.reduce_fraction)
                .collect::<Vec<_>>(),
        )
        .bind(column(|d| d.reason.clone()))
        .bind(column(|d| d.tier.clone()))
        .bind(directives.iter().map(|d| d.issued_at).collect::<Vec<_>>())
        .bind(directives.iter().map(|d| d.expires_at).collect::<Vec<_>>())
        .bind(
            directives
                .iter()
                .map(|d| d.drawdown_limit)
                .collect::<Vec<_>>(),
        )
        .bind(role)
        .bind(state.and_then(|s| s.tier.clone()))
        .bind(state.and_then(|s| s.futures_tier.clone()))
        .bind(state.and_then(|s| s.cross_tier.clone()))
        .bind(state.and_then(|s| s.cut_expires))
        .bind(state.and_then(|s| s.cooldown_until))
        .bind(state.is_some())
        .fetch_one(self.pool())
        .await?;
        Ok(if held {
            Fenced::Written(())
        } else {
            Fenced::Lost
        })
    }

    /// The newest `limit` directives plus the newest entry gate (HALT_ENTRIES/RESUME) and the
    /// newest cut if they are older, oldest first: what a restarted risk keeps in memory.
    pub async fn recent_risk_directives(&self, limit: i64) -> Result<Vec<RiskDirective>> {
        let sql = concat!(
            "SELECT ",
            directive_columns!(),
            " FROM ( \
               (SELECT * FROM risk_directives ORDER BY sequence DESC LIMIT $1) \
               UNION \
               (SELECT * FROM risk_directives WHERE kind IN ('halt_entries', 'resume') \
                  ORDER BY sequence DESC LIMIT 1) \
               UNION \
               (SELECT * FROM risk_directives WHERE kind NOT IN ('halt_entries', 'resume') \
                  ORDER BY sequence DESC LIMIT 1) \
             ) recent ORDER BY sequence"
        );
        Ok(sqlx::query_as::<_, RiskDirective>(sql)
            .bind(limit.max(0))
            .fetch_all(self.pool())
            .await?)
    }

    /// Directives with a sequence above `after`, oldest first, at most `limit`.
    pub async fn risk_directives_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RiskDirective>> {
        let sql = concat!(
            "SELECT ",
            directive_columns!(),
            " FROM risk_directives WHERE sequence > $1 ORDER BY sequence LIMIT $2"
        );
        Ok(sqlx::query_as::<_, RiskDirective>(sql)
            .bind(after)
            .bind(limit.max(0))
            .fetch_all(self.pool())
            .await?)
    }

    /// Directives matching `query`, newest first.
    pub async fn list_risk_directives(
        &self,
        query: &RiskDirectiveQuery,
    ) -> Result<Vec<RiskDirective>> {
        let sql = concat!(
            "SELECT ",
            directive_columns!(),
            " FROM risk_directives \
             WHERE ($1::BIGINT IS NULL OR sequence < $1) \
               AND (cardinality($2::TEXT[]) = 0 OR kind = ANY($2)) \
               AND ($3::TIMESTAMPTZ IS NULL OR issued_at >= $3) \
               AND ($4::TIMESTAMPTZ IS NULL OR issued_at < $4) \
             ORDER BY sequence DESC LIMIT $5"
        );
        Ok(sqlx::query_as::<_, RiskDirective>(sql)
            .bind(query.before)
            .bind(&query.kinds)
            .bind(query.start)
            .bind(query.end)
            .bind(query.limit.max(0))
            .fetch_all(self.pool())
            .await?)
    }

    /// The highest directive sequence stored, `None` for an empty history.
    pub async fn max_risk_directive_sequence(&self) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT max(sequence) FROM risk_directives")
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// Acknowledgements of the given directives, oldest first.
    pub async fn risk_directive_acks(&self, ids: &[String]) -> Result<Vec<RiskDirectiveAck>> {
        Ok(sqlx::query_as::<_, RiskDirectiveAck>(
            "SELECT directive_id, outcome, detail, acked_at FROM risk_directive_acks \
             WHERE directive_id = ANY($1) ORDER BY id",
        )
        .bind(ids)
        .fetch_all(self.pool())
        .await?)
    }

    /// Stores an acknowledgement; `Written(false)` when the directive is unknown.
    pub async fn record_risk_directive_ack(
        &self,
        fence: &LeaseFence,
        ack: &RiskDirectiveAck,
    ) -> Result<Fenced<bool>> {
        let mut tx = self.pool().begin().await?;
        if !check_fence(&mut tx, fence).await? {
            return Ok(Fenced::Lost);
        }
        let inserted = sqlx::query(
            "INSERT INTO risk_directive_acks (directive_id, outcome, detail, acked_at) \
             SELECT directive_id, $2, $3, $4 FROM risk_directives WHERE directive_id = $1",
        )
        .bind(&ack.directive_id)
        .bind(&ack.outcome)
        .bind(&ack.detail)
        .bind(ack.acked_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(Fenced::Written(inserted == 1))
    }

    /// The monitor state last stored for `role`.
    pub async fn risk_monitor_state(&self, role: &str) -> Result<Option<RiskMonitorState>> {
        Ok(sqlx::query_as::<_, RiskMonitorState>(
            "SELECT tier, futures_tier, cross_tier, cut_expires, cooldown_until \
             FROM risk_monitor_state \
             WHERE role = $1",
        )
        .bind(role)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The decision stored for `request_id`.
    pub async fn risk_approval(&self, request_id: &str) -> Result<Option<RiskApproval>> {
        Ok(sqlx::query_as::<_, RiskApproval>(approval_select!())
            .bind(request_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Stores the first decision for its request id and returns the stored one (an earlier
    /// decision for the same request id wins).
    pub async fn record_risk_approval(
        &self,
        fence: &LeaseFence,
        approval: &RiskApproval,
    ) -> Result<Fenced<RiskApproval>> {
        // One statement in the common case (it is on the way from an opportunity to its
        // order): the insert share-locks and checks the fence row itself, as the transaction
        // below does in four round trips.
        let inserted = sqlx::query_as::<_, RiskApproval>(
            "WITH fence AS (SELECT 1 FROM lease_fences WHERE name = $15 AND epoch = $14 \
               FOR SHARE) \
             INSERT INTO risk_approvals (request_id, approval_id, symbol, direction, notional, \
               leverage, reason, approved, approved_notional, reasons, tier, decided_at, \
               expires_at, lease_epoch) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 \
             WHERE EXISTS (SELECT 1 FROM fence) \
             ON CONFLICT (request_id) DO NOTHING \
             RETURNING request_id, approval_id, symbol, direction, notional, leverage, reason, \
               approved, approved_notional, reasons, tier, decided_at, expires_at",
        )
        .bind(&approval.request_id)
        .bind(&approval.approval_id)
        .bind(&approval.symbol)
        .bind(&approval.direction)
        .bind(approval.notional)
        .bind(approval.leverage)
        .bind(&approval.reason)
        .bind(approval.approved)
        .bind(approval.approved_notional)
        .bind(&approval.reasons)
        .bind(&approval.tier)
        .bind(approval.decided_at)
        .bind(approval.expires_at)
        .bind(fence.epoch)
        .bind(&fence.name)
        .fetch_optional(self.pool())
        .await?;
        if let Some(stored) = inserted {
            return Ok(Fenced::Written(stored));
        }
        // nothing written: the lease is lost, or the request id was decided before (its first
        // decision stands)
        let mut tx = self.pool().begin().await?;
        if !check_fence(&mut tx, fence).await? {
            return Ok(Fenced::Lost);
        }
        let stored = sqlx::query_as::<_, RiskApproval>(approval_select!())
            .bind(&approval.request_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "risk approval",
                key: approval.request_id.clone(),
            })?;
        tx.commit().await?;
        Ok(Fenced::Written(stored))
    }
}
