//! One fresh database per test, on `DATABASE_URL` or on a private per-process cluster.

mod cluster;

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::Context as _;
use sqlx::{Connection as _, PgConnection};
use url::Url;

use cluster::Cluster;

/// Where databases are created: the maintenance URL of `DATABASE_URL`'s server or of the cluster.
enum Server {
    External(String),
    Private(Cluster),
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

fn server() -> anyhow::Result<&'static Server> {
    let server = SERVER.get_or_init(|| match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Ok(Server::External(url)),
        _ => Cluster::start()
            .map(Server::Private)
            .map_err(|e| format!("{e:#}")),
    });
    server
        .as_ref()
        .map_err(|e| anyhow::anyhow!("test postgres unavailable: {e}"))
}

fn admin_url(server: &Server) -> &str {
    match server {
        Server::External(url) => url,
        Server::Private(cluster) => cluster.admin_url(),
    }
}

/// Directory of the throwaway cluster this process uses, if one was started (it is not when
/// `DATABASE_URL` is set). Exposed so tests can check that it is cleaned up.
pub fn cluster_dir() -> Option<PathBuf> {
    match SERVER.get()? {
        Ok(Server::Private(cluster)) => Some(cluster.dir().to_path_buf()),
        _ => None,
    }
}

/// A database created for one test. Dropping it drops the database (best effort, with FORCE, so
/// connections left open by the test do not keep it alive).
pub struct TestDb {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDb {
    /// Connection URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Database name (`t_<random hex>`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

// Manual: the URLs may carry a password from DATABASE_URL.
impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name);
        let admin_url = self.admin_url.clone();
        // Drop may run on a runtime thread, so the async driver runs on a thread of its own.
        let _ = run_on_own_thread(async move {
            let mut conn = PgConnection::connect(&admin_url).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await?;
            conn.close().await?;
            anyhow::Ok(())
        });
    }
}

/// Creates an empty database for one test and returns its URL holder.
///
/// The first call in a process starts the private cluster (about 1.5 s) unless `DATABASE_URL` is
/// set; later calls only run `CREATE DATABASE`, so tests can run in parallel.
pub async fn test_database() -> anyhow::Result<TestDb> {
    let server = tokio::task::spawn_blocking(server)
        .await
        .context("cluster start-up task failed")??;
    create_database(admin_url(server)).await
}

/// Blocking variant of [`test_database`]; safe to call from synchronous tests and from inside a
/// runtime (the work runs on its own thread).
pub fn test_database_blocking() -> anyhow::Result<TestDb> {
    let server = server()?;
    run_on_own_thread(create_database(admin_url(server)))
}

async fn create_database(admin_url: &str) -> anyhow::Result<TestDb> {
    let name = format!("t_{:016x}", rand::random::<u64>());
    let mut url = Url::parse(admin_url).context("invalid postgres url")?;
    url.set_path(&format!("/{name}"));
    let mut conn = PgConnection::connect(admin_url)
        .await
        .context("connect to test postgres")?;
    // FILE_COPY (PostgreSQL 15+) copies the template about twice as fast as the default
    // WAL_LOG strategy when fsync is off; older external servers do not know the option.
    let version: String = sqlx::query_scalar("SHOW server_version_num")
        .fetch_one(&mut conn)
        .await?;
    let strategy = if version.parse::<u32>().unwrap_or(0) >= 150_000 {
        " STRATEGY = FILE_COPY"
    } else {
        ""
    };
    let sql = format!(r#"CREATE DATABASE "{name}"{strategy}"#);
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .with_context(|| format!("create database {name}"))?;
    conn.close().await?;
    Ok(TestDb {
        name,
        url: url.into(),
        admin_url: admin_url.to_owned(),
    })
}

fn run_on_own_thread<T: Send>(
    work: impl Future<Output = anyhow::Result<T>> + Send,
) -> anyhow::Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
                    .block_on(work)
            })
            .join()
            .map_err(|_| anyhow::anyhow!("database helper thread panicked"))?
    })
}
