//! The suite under test, started by `fff up`'s own machinery (ports, private PostgreSQL, the
//! simulator and the five roles as supervised children) in a throwaway directory, and kept
//! running across scenarios. A supervisor task restarts killed roles exactly as `fff up` does;
//! PostgreSQL is restarted in place (same data directory and port).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use fff_proto::fff::executor::v1 as exec;
use fff_proto::fff::executor::v1::executor_client::ExecutorClient;
use fff_runtime::config::ProcessEnv;
use fff_runtime::{FffConfig, Role};
use tokio::sync::Mutex;

use super::plan::ROLES;
use super::venue::Venue;
use crate::cli::{SoakArgs, UpArgs};
use crate::up::children::Suite;
use crate::up::postgres::LocalPostgres;
use crate::up::{self, ports};

/// Overrides that make the suite react within a scenario of a few seconds (the caller's own
/// `--set` come after and win).
const SOAK_OVERRIDES: &[&str] = &[
    "scanner.scan_interval_secs=1",
    "rebalance.interval_secs=2",
    "execution.exit_limit_timeout_ms=500",
    "execution.entry_retry_backoff_ms=1000",
    "execution.entry_retry_backoff_max_ms=10000",
    "execution.twap_slice_interval_ms=300",
    "execution.hedge_retry_delay_ms=100",
    "exchange.recv_window_ms=60000",
    "exchange.account_max_age_ms=1000",
    "server.grace_period_ms=2000",
];

pub struct SoakSuite {
    pub dir: PathBuf,
    pub config: FffConfig,
    pub venue: Venue,
    pub database_url: String,
    addrs: Vec<(Role, SocketAddr)>,
    executor: String,
    token: String,
    home: PathBuf,
    pg_port: u16,
    suite: Arc<Mutex<Suite>>,
    cluster: Arc<std::sync::Mutex<LocalPostgres>>,
    /// Set when supervision fails (the simulator exited, a role cannot be started).
    fatal: Arc<std::sync::Mutex<Option<String>>>,
    supervisor: tokio::task::JoinHandle<()>,
}

impl SoakSuite {
    /// Starts everything in `dir` (the process's working directory from now on, so the roles'
    /// `.fff/` with its token and logs lands there).
    pub async fn start(args: &SoakArgs, dir: &Path) -> anyhow::Result<Self> {
        Self::start_with(args, dir, SOAK_OVERRIDES).await
    }

    /// [`SoakSuite::start`] with `overrides` in place of the soak's own (`fff bench` keeps the
    /// defaults but for pacing).
    pub async fn start_with(
        args: &SoakArgs,
        dir: &Path,
        overrides: &[&str],
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let dir = dir.canonicalize()?;
        std::env::set_current_dir(&dir)
            .with_context(|| format!("cannot enter {}", dir.display()))?;
        let (up_args, config) = free_suite_ports(args, overrides)?;
        let home = dir.join(".fff");
        std::fs::create_dir_all(home.join("logs"))?;
        fff_runtime::auth::load_or_create_token(&config.auth, &ProcessEnv)
            .context("cannot prepare the auth token")?;
        let token = match std::env::var("FFF_AUTH_TOKEN") {
            Ok(token) if !token.is_empty() => token,
            _ => std::fs::read_to_string(home.join("auth-token"))?
                .trim()
                .to_owned(),
        };
        let pg_port = up_args.postgres_port;
        let cluster = tokio::task::spawn_blocking({
            let home = home.clone();
            move || LocalPostgres::start(&home, pg_port)
        })
        .await??;
        let database_url = cluster.url();
        let mut suite = Suite::default();
        let urls_json =
            match up::start_and_wait(&up_args, &config, &home, &database_url, &mut suite).await {
                Ok(urls) => urls,
                Err(error) => {
                    suite.stop_all(Duration::from_secs(3)).await;
                    cluster.stop();
                    return Err(error);
                }
            };
        let urls: serde_json::Value = serde_json::from_str(&urls_json)?;
        let venue = Venue::new(urls["spot_rest"].as_str().unwrap_or_default())?;
        let addrs = ROLES
            .iter()
            .map(|r| (*r, config.server.listen_addr(*r)))
            .collect();
        let executor = format!("http://{}", config.server.listen_addr(Role::Executor));
        let suite = Arc::new(Mutex::new(suite));
        let fatal = Arc::new(std::sync::Mutex::new(None));
        let supervisor = tokio::spawn(supervise(Arc::clone(&suite), Arc::clone(&fatal)));
        Ok(Self {
            dir,
            config,
            venue,
            database_url,
            addrs,
            executor,
            token,
            home,
            pg_port,
            suite,
            cluster: Arc::new(std::sync::Mutex::new(cluster)),
            fatal,
            supervisor,
        })
    }

    /// Why the suite cannot go on, if it cannot.
    pub fn fatal(&self) -> Option<String> {
        self.fatal.lock().ok().and_then(|f| f.clone())
    }

    pub fn addr(&self, role: Role) -> SocketAddr {
        self.addrs
            .iter()
            .find(|(r, _)| *r == role)
            .map_or_else(|| self.config.server.listen_addr(role), |(_, a)| *a)
    }

    /// SIGKILLs `role`; false if it was not running (e.g. still waiting for its restart).
    pub async fn kill(&self, role: Role) -> bool {
        self.suite.lock().await.kill_role(role.as_str())
    }

    pub async fn serving(&self, role: Role) -> bool {
        crate::health::is_serving(&self.addr(role).to_string(), "").await
    }

    /// Whether all five roles answer SERVING; the ones that do not.
    pub async fn not_serving(&self) -> Vec<Role> {
        let checks = ROLES.map(|role| async move { (role, self.serving(role).await) });
        let results = futures_join(checks).await;
        results
            .into_iter()
            .filter(|(_, ok)| !ok)
            .map(|(r, _)| r)
            .collect()
    }

    /// Fast stop then start of the cluster on the same data and port; returns how long the
    /// database was away.
    pub async fn restart_postgres(&self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let cluster = Arc::clone(&self.cluster);
        let home = self.home.clone();
        let port = self.pg_port;
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mut guard = cluster
                .lock()
                .map_err(|_| anyhow::anyhow!("cluster lock poisoned"))?;
            guard.stop();
            *guard = LocalPostgres::start(&home, port)?;
            Ok(())
        })
        .await??;
        Ok(started.elapsed())
    }

    /// `ClosePosition` on `symbol`'s live hedge (an operator's close, to make the suite trade
    /// while faults are on); errors (no such position, paused) are not the soak's concern.
    pub async fn close(&self, symbol: &str, urgency: i32, request_id: &str) {
        let Ok(endpoint) = tonic::transport::Endpoint::from_shared(self.executor.clone()) else {
            return;
        };
        let endpoint = endpoint.timeout(Duration::from_secs(3));
        let Ok(channel) = endpoint.connect().await else {
            return;
        };
        let mut request = tonic::Request::new(exec::ClosePositionRequest {
            request_id: request_id.to_owned(),
            key: Some(exec::close_position_request::Key::Symbol(symbol.to_owned())),
            urgency,
            reason: "fff soak".to_owned(),
        });
        if let Ok(value) = format!("Bearer {}", self.token).parse() {
            request.metadata_mut().insert("authorization", value);
        }
        let _ = ExecutorClient::new(channel).close_position(request).await;
    }

    /// Process id of every running role, by role name.
    pub async fn role_pids(&self) -> Vec<(String, u32)> {
        self.suite.lock().await.role_pids()
    }

    /// The executor's GetStatus response metadata `key` (e.g. `fff-latency`), if it answers.
    pub async fn executor_status_metadata(&self, key: &str) -> Option<String> {
        let endpoint = tonic::transport::Endpoint::from_shared(self.executor.clone()).ok()?;
        let channel = endpoint
            .timeout(Duration::from_secs(3))
            .connect()
            .await
            .ok()?;
        let mut request = tonic::Request::new(exec::GetStatusRequest {});
        if let Ok(value) = format!("Bearer {}", self.token).parse() {
            request.metadata_mut().insert("authorization", value);
        }
        let response = ExecutorClient::new(channel)
            .get_status(request)
            .await
            .ok()?;
        let value = response.metadata().get(key)?.to_str().ok()?;
        Some(value.to_owned())
    }

    /// Per position the strategy opened in this executor's life, its id and the wall-clock
    /// microsecond its opportunity reached the executor (`opportunity_received_at`).
    pub async fn opportunity_times(&self) -> anyhow::Result<Vec<(i64, i64)>> {
        let channel = tonic::transport::Endpoint::from_shared(self.executor.clone())?
            .timeout(Duration::from_secs(5))
            .connect()
            .await?;
        let mut client = ExecutorClient::new(channel);
        let statuses = [
            exec::PositionStatus::Opening,
            exec::PositionStatus::Open,
            exec::PositionStatus::Adjusting,
            exec::PositionStatus::Closing,
            exec::PositionStatus::Closed,
            exec::PositionStatus::Failed,
            exec::PositionStatus::Broken,
        ];
        let mut times = Vec::new();
        let mut page_token = String::new();
        loop {
            let mut request = tonic::Request::new(exec::ListPositionsRequest {
                statuses: statuses.iter().map(|s| *s as i32).collect(),
                page_size: 500,
                page_token,
                ..Default::default()
            });
            if let Ok(value) = format!("Bearer {}", self.token).parse() {
                request.metadata_mut().insert("authorization", value);
            }
            let page = client.list_positions(request).await?.into_inner();
            for position in page.positions {
                if let (Ok(id), Some(at)) = (
                    position.position_id.parse::<i64>(),
                    position.opportunity_received_at,
                ) {
                    times.push((id, at.seconds * 1_000_000 + i64::from(at.nanos) / 1_000));
                }
            }
            if page.next_page_token.is_empty() {
                return Ok(times);
            }
            page_token = page.next_page_token;
        }
    }

    /// Stops the roles, the simulator and PostgreSQL.
    pub async fn stop(self) {
        self.supervisor.abort();
        let grace = self.config.server.grace_period() + Duration::from_secs(2);
        self.suite.lock().await.stop_all(grace).await;
        if let Ok(cluster) = self.cluster.lock() {
            cluster.stop();
        }
    }
}

/// Restarts exited roles (with `fff up`'s backoff) every 200 ms until supervision fails.
async fn supervise(suite: Arc<Mutex<Suite>>, fatal: Arc<std::sync::Mutex<Option<String>>>) {
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Err(error) = suite.lock().await.supervise() {
            if let Ok(mut slot) = fatal.lock() {
                *slot = Some(format!("{error:#}"));
            }
            return;
        }
    }
}

async fn futures_join<F: std::future::Future>(futures: [F; 5]) -> Vec<F::Output> {
    let [a, b, c, d, e] = futures;
    let (a, b, c, d, e) = tokio::join!(a, b, c, d, e);
    vec![a, b, c, d, e]
}

/// `fff up`'s arguments for the soak: `--base-port` (given, or the first free block of seven
/// ports found) moves the simulator, the roles and PostgreSQL together.
fn free_suite_ports(args: &SoakArgs, own: &[&str]) -> anyhow::Result<(UpArgs, FffConfig)> {
    let mut overrides: Vec<String> = own.iter().map(|s| (*s).to_owned()).collect();
    overrides.extend(args.overrides.iter().cloned());
    let candidates: Vec<u16> = match args.base_port {
        Some(base) => vec![base],
        // below Linux's ephemeral range (32768-60999): a port found free there can be taken
        // by one of the suite's own outgoing connections before the role binds it
        None => {
            let start = (std::process::id() % 1_200) as u16 * 10;
            (0..200)
                .map(|i| start.wrapping_add(i * 97) % 12_000 + 20_000)
                .collect()
        }
    };
    let mut last_error = None;
    for base in candidates {
        let raw = UpArgs {
            config: args.config.clone(),
            overrides: overrides.clone(),
            sim_config: args.sim_config.clone(),
            sim_listen: SocketAddr::from(([127, 0, 0, 1], base)),
            accelerate: Some(args.accelerate),
            postgres_port: base + 6,
            base_port: Some(base),
        };
        let up_args = ports::apply_base_port(&raw)?;
        let config = FffConfig::load(up_args.config.as_deref(), &ProcessEnv, &up_args.overrides)
            .map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
        match ports::check_free(&up_args, &config, true) {
            Ok(()) => return Ok((up_args, config)),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no free ports")))
}
