//! Connection pool and migrations.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::Result;

/// The embedded migrations (`crates/fff-store/migrations/*.sql`).
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Repository handle: a cheap-to-clone wrapper around a PostgreSQL pool. The repository methods
/// live in the table modules (`instruments`, `positions`, `orders`, `ledger`, `equity`, `pnl`).
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    /// Connects a pool of at most `max_connections` (at least 1) to `url`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        Ok(Self { pool })
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The pool's connection settings (for a [`crate::Lease`] session).
    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::clone(&self.pool.connect_options())
    }

    /// Applies pending migrations; safe to call from several processes at once.
    ///
    /// sqlx 0.9's PostgreSQL migrator (`sqlx-postgres` `migrate.rs`, `Migrate::lock`) takes
    /// `pg_advisory_lock(<id derived from the database name>)` before creating `_sqlx_migrations`
    /// and holds it until all migrations are applied, so concurrent callers queue and then find
    /// nothing to do. On an error path it returns without `pg_advisory_unlock`, leaving the lock
    /// held by that session, so migrations run on a dedicated one-connection pool that is always
    /// closed afterwards (closing the session releases the lock). Running on a pool also keeps
    /// this future `Send` (`Migrator::run(&mut PgConnection)` trips "Acquire is not general
    /// enough" inside `tokio::spawn`).
    pub async fn migrate(&self) -> Result<()> {
        let options = PgConnectOptions::clone(&self.pool.connect_options());
        let session = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        let result = MIGRATOR.run(&session).await;
        session.close().await;
        Ok(result?)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
