//! One writer per role and account: a lease held as a PostgreSQL session advisory lock on a
//! dedicated connection. A second instance waits (its health stays NOT_SERVING) until the lock
//! is free; the holder checks its connection and treats any failure as a lost lease (the
//! server released the lock with the session), so it stops sending orders at once.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

use crate::Result;

/// A held lease. Dropping it closes the session, which releases the lock.
#[derive(Debug)]
pub struct Lease {
    name: String,
    key: i64,
    connection: PgConnection,
}

/// Stable 63-bit key of a lease name (FNV-1a), the same in every process and version.
pub fn lease_key(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::try_from(hash >> 1).unwrap_or(i64::MAX)
}

impl Lease {
    /// Takes the lease `name` if it is free; `None` while another session holds it.
    pub async fn try_acquire(options: &PgConnectOptions, name: &str) -> Result<Option<Self>> {
        let mut connection = options
            .clone()
            .application_name(&format!("fff lease {name}"))
            .connect()
            .await?;
        let key = lease_key(name);
        let (taken,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut connection)
            .await?;
        if taken {
            Ok(Some(Self {
                name: name.to_owned(),
                key,
                connection,
            }))
        } else {
            connection.close().await?;
            Ok(None)
        }
    }

    /// Waits until the lease is free and takes it, retrying every `poll`.
    pub async fn acquire(options: &PgConnectOptions, name: &str, poll: Duration) -> Self {
        loop {
            match Self::try_acquire(options, name).await {
                Ok(Some(lease)) => return lease,
                Ok(None) => tracing::info!(lease = name, "lease held by another instance; waiting"),
                Err(err) => tracing::warn!(lease = name, error = %err, "lease not acquired"),
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Whether the session (and so the lock) is still held: checks that this very session
    /// still holds the advisory lock, within `timeout`.
    pub async fn alive(&mut self, timeout: Duration) -> bool {
        let check = sqlx::query_as::<_, (bool,)>(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
             AND pid = pg_backend_pid() AND granted \
             AND ((classid::bigint << 32) | objid::bigint) = $1)",
        )
        .bind(self.key)
        .fetch_one(&mut self.connection);
        matches!(tokio::time::timeout(timeout, check).await, Ok(Ok((true,))))
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}
