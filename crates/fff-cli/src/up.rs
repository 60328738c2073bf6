//! `fff up`: the whole suite on one machine. The simulator as the venue, PostgreSQL from
//! `DATABASE_URL` or a private cluster under `.fff/postgres`, and the five roles as child
//! processes talking gRPC over loopback. Ctrl-C (or SIGTERM) stops everything in reverse order.

// `fff soak` drives the same suite through faults: it reuses the children, ports and cluster.
pub(crate) mod children;
pub(crate) mod endpoints;
pub(crate) mod ports;
pub(crate) mod postgres;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use fff_runtime::config::ProcessEnv;
use fff_runtime::{FffConfig, Role, auth, shutdown};

use crate::cli::UpArgs;
use crate::role::EXIT_CONFIG;
use children::{Child, Suite};
use postgres::LocalPostgres;

/// Where `fff up` keeps its state (cluster, logs, sim URLs), relative to the working directory;
/// the same directory holds the auth token the roles and the CLI share.
pub(crate) const HOME: &str = ".fff";
/// How long a role may take to report SERVING.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

pub fn main(args: &UpArgs) -> ExitCode {
    let args = match ports::apply_base_port(args) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("fff up: {error:#}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let args = &args;
    // Validate the configuration once here, so a typo fails before anything starts.
    let config = match FffConfig::load(args.config.as_deref(), &ProcessEnv, &args.overrides) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("fff up: invalid configuration:\n{error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // its readiness checks speak the roles' TLS
    if let Err(error) = fff_runtime::grpc::tls::install(&config.tls) {
        eprintln!("fff up: {error}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("fff up: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(up(args, &config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fff up: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn up(args: &UpArgs, config: &FffConfig) -> anyhow::Result<()> {
    // Listen for SIGTERM/SIGINT from the first moment: without a handler a signal during
    // start-up would kill `fff up` at once and orphan the children it had already started.
    let stop = shutdown::Shutdown::from_signal(shutdown::shutdown_signal());
    tokio::task::yield_now().await;
    let home = PathBuf::from(HOME);
    let logs = home.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    // Create the token before the roles race for it, and so the operator can read it.
    auth::load_or_create_token(&config.auth, &ProcessEnv)
        .context("cannot prepare the auth token")?;

    let local_postgres = std::env::var("DATABASE_URL")
        .ok()
        .is_none_or(|u| u.is_empty());
    // a kept private cluster may still be running from an earlier `fff up`: its port is ours
    let cluster_running = local_postgres && home.join("postgres/data/postmaster.pid").exists();
    ports::check_free(args, config, local_postgres && !cluster_running)?;
    let postgres = match std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(_) => None,
        None => Some(
            tokio::task::spawn_blocking({
                let home = home.clone();
                let port = args.postgres_port;
                move || LocalPostgres::start(&home, port)
            })
            .await??,
        ),
    };
    let database_url = match &postgres {
        Some(cluster) => cluster.url(),
        None => std::env::var("DATABASE_URL").unwrap_or_default(),
    };

    // recorded before the roles start, so `fff status` run here finds this suite (and says
    // which roles are not up yet) rather than the default ports
    if let Err(error) = endpoints::Endpoints::of(config).write(&home) {
        eprintln!("fff up: cannot record the endpoints for `fff status`: {error}");
    }
    let mut suite = Suite::default();
    let result = tokio::select! {
        result = start_and_wait(args, config, &home, &database_url, &mut suite) => result,
        () = stop.cancelled() => Err(anyhow::anyhow!("interrupted during start-up")),
    };
    let outcome = match result {
        Ok(urls_json) => {
            print_banner(config, &urls_json, &database_url, &home);
            suite.watch(stop.cancelled()).await
        }
        Err(error) => Err(error),
    };
    eprintln!("fff up: stopping");
    endpoints::Endpoints::remove(&home);
    suite
        .stop_all(config.server.grace_period() + Duration::from_secs(2))
        .await;
    if let Some(cluster) = &postgres {
        cluster.stop();
    }
    outcome
}

/// Starts the simulator and the five roles (upstreams first), each waited for until SERVING;
/// returns the simulator's base-URL JSON line.
pub(crate) async fn start_and_wait(
    args: &UpArgs,
    config: &FffConfig,
    home: &Path,
    database_url: &str,
    suite: &mut Suite,
) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("cannot locate the fff binary")?;
    let (sim, urls_json) = Child::start_sim(&exe, args, &home.join("logs/sim.log")).await?;
    let urls_file = home.join("sim-urls.json");
    std::fs::write(&urls_file, &urls_json)?;
    let urls_file = urls_file.canonicalize()?;
    suite.push(sim);

    let mut env: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), database_url.to_owned()),
        ("FFF_EXCHANGE__VENUE".into(), "sim".into()),
        (
            "FFF_EXCHANGE__SIM_URLS_FILE".into(),
            urls_file.display().to_string(),
        ),
    ];
    if std::env::var_os("RUST_LOG").is_none() {
        env.push(("RUST_LOG".into(), "info".into()));
    }
    // Upstreams first, so each role finds what it depends on.
    for role in [
        Role::Gateway,
        Role::Scanner,
        Role::Risk,
        Role::Executor,
        Role::Rebalancer,
    ] {
        let log = home.join(format!("logs/{role}.log"));
        let addr = config.server.listen_addr(role);
        let child = Child::start_role(&exe, role, args, addr, &env, &log)?;
        suite.push(child);
        suite
            .wait_serving(role, addr, READY_TIMEOUT)
            .await
            .with_context(|| format!("{role} did not become ready; see {}", log.display()))?;
    }
    Ok(urls_json)
}

fn print_banner(config: &FffConfig, urls_json: &str, database_url: &str, home: &Path) {
    let sim = serde_json::from_str::<serde_json::Value>(urls_json)
        .ok()
        .and_then(|v| {
            v.get("spot_rest")
                .and_then(|s| s.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    progressln!("fff up: the suite is running (Ctrl-C stops it)");
    progressln!(
        "  {:<11} {sim}  (Binance-compatible simulator; admin at {sim}/admin)",
        "sim"
    );
    for role in Role::ALL {
        let addr = config.server.listen_addr(role);
        progressln!(
            "  {:<11} {addr:<21} log {}",
            role.as_str(),
            home.join(format!("logs/{role}.log")).display()
        );
    }
    progressln!("  {:<11} {}", "postgres", redact_password(database_url));
    progressln!(
        "  {:<11} {}",
        "auth token",
        home.join("auth-token").display()
    );
    match std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => {
            progressln!(
                "  {:<11} OTLP to {endpoint} (Jaeger UI: http://localhost:16686)",
                "traces"
            )
        }
        _ => progressln!(
            "  {:<11} not exported; set OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 (Jaeger OTLP gRPC)",
            "traces"
        ),
    }
    let scanner = config.server.listen_addr(Role::Scanner);
    let executor = config.server.listen_addr(Role::Executor);
    progressln!("try:");
    progressln!("  grpcurl -plaintext {scanner} fff.scanner.v1.Scanner/ListOpportunities");
    progressln!(
        "  grpcurl -plaintext -d '{{\"symbol\":\"BTCUSDT\"}}' {scanner} fff.scanner.v1.Scanner/ExplainPair"
    );
    progressln!("  grpcurl -plaintext {executor} fff.executor.v1.Executor/ListPositions");
    progressln!(
        "  grpcurl -plaintext -H \"authorization: Bearer $(cat {})\" {executor} fff.executor.v1.Executor/Pause",
        home.join("auth-token").display()
    );
    progressln!("  fff status");
}

/// `postgres://user:secret@host/db` -> `postgres://user:[redacted]@host/db`.
fn redact_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:[redacted]{}",
                    &url[..scheme + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn passwords_are_redacted_in_the_banner() {
        assert_eq!(
            redact_password("postgres://fff:hunter2@db:5432/fff"),
            "postgres://fff:[redacted]@db:5432/fff"
        );
        assert_eq!(
            redact_password("postgres://postgres@127.0.0.1:55432/fff"),
            "postgres://postgres@127.0.0.1:55432/fff"
        );
    }
}
