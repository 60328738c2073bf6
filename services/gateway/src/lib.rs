//! `fff gateway`: the exchange gateway, the only role that talks to Binance and holds its keys.
//!
//! Start-up: resolve `[exchange]` (URLs, credentials from the environment or a mounted file,
//! the simulator's paper account on venue sim), refuse live keys that can withdraw, serve at
//! once with health NOT_SERVING, and flip to SERVING after the first universe load and account
//! snapshot. Modules: [`universe`] (instrument universe), [`market`] (market-data fan-out),
//! [`account`] (account cache and events), [`orders`] (idempotent placement), `loans` and
//! `transfers` (borrow/repay and wallet transfers, idempotent by request id), `service` (thin
//! gRPC handlers).

pub mod account;
mod convert;
mod error;
pub mod fanout;
mod history;
mod lease;
mod loans;
pub mod market;
pub mod orders;
mod service;
pub mod settings;
mod state;
mod throttle;
mod trades;
mod transfers;
pub mod universe;
mod weight;

use std::future::Future;

use anyhow::Context as _;
use fff_binance::RestClient;
use fff_proto::fff::gateway::v1::{MUTATING_METHODS, gateway_server::GatewayServer};
use fff_runtime::RoleContext;
use fff_runtime::config::ExchangeVenue;
use fff_runtime::grpc::GrpcServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::{Error, Result};
pub use service::GatewayService;
pub use settings::ExchangeSettings;
pub use state::Gateway;

/// Serves the gateway role on `listener` until `shutdown` resolves.
pub async fn run(
    context: RoleContext,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let exchange = &context.config.exchange;
    let settings = ExchangeSettings::resolve(exchange, &context.secrets)?;
    let rest = RestClient::new(
        settings.urls.clone(),
        Some(settings.credentials.clone()),
        settings.rest.clone(),
    )
    .context("cannot build the binance client")?;
    if settings.venue.is_live() {
        match check_key(&rest).await {
            KeyCheck::Fit => {}
            KeyCheck::CanWithdraw => anyhow::bail!(
                "refusing to start: the binance api key has withdrawals enabled; create a key \
                 without withdrawal permission (reading, spot & margin trading, margin loans and \
                 futures only)"
            ),
            // the spot testnet serves no /sapi, and its keys hold test funds only
            KeyCheck::Unreadable(err) if settings.venue == ExchangeVenue::Testnet => {
                tracing::warn!(error = %err, "testnet: the key's restrictions cannot be read");
            }
            KeyCheck::Unreadable(err) => {
                return Err(anyhow::Error::new(err).context(
                    "refusing to start: cannot read the api key's restrictions \
                     (GET /sapi/v1/account/apiRestrictions)",
                ));
            }
        }
    }
    let store = match &context.secrets.database_url {
        Some(url) => {
            let connected = async {
                let store = fff_store::Store::connect(
                    url.expose(),
                    context.config.database.max_connections,
                )
                .await?;
                store.migrate().await?;
                Ok::<_, fff_store::StoreError>(store)
            };
            match connected.await {
                Ok(store) => Some(store),
                Err(err) => {
                    tracing::warn!(error = %err, "database unavailable: instruments are not persisted");
                    None
                }
            }
        }
        None => None,
    };

    let gateway = Gateway::new(settings.venue, rest, exchange);
    let mut server = GrpcServer::new("gateway", &context.config.server)
        .file_descriptor_set(fff_proto::FILE_DESCRIPTOR_SET)
        .add_service(
            GatewayServer::new(GatewayService::new(gateway.clone())),
            MUTATING_METHODS,
        );
    if let Some(token) = context.auth_token.clone() {
        server = server.auth_token(token);
    } else {
        tracing::warn!("no auth token configured: mutating RPCs are refused");
    }
    let cancel = CancellationToken::new();
    match &context.secrets.database_url {
        Some(url) => {
            // the URL carries the password: the error must not repeat it
            let options: fff_store::PgConnectOptions = url
                .expose()
                .parse()
                .map_err(|_| anyhow::anyhow!("DATABASE_URL is not a valid PostgreSQL URL"))?;
            gateway.require_writer_lease();
            tokio::spawn(lease::hold(
                gateway.clone(),
                options,
                server.health(),
                cancel.clone(),
            ));
        }
        None => tracing::warn!(
            "no database: the gateway's writer lease is not held; run one gateway per account"
        ),
    }
    gateway.start(exchange, store, server.health(), cancel.clone());
    tracing::info!(
        addr = %listener.local_addr()?,
        venue = settings.venue.as_str(),
        spot_rest = %settings.urls.spot_rest,
        "gateway serving; ready once universe and account are loaded"
    );
    let stop = {
        let cancel = cancel.clone();
        async move {
            shutdown.await;
            cancel.cancel();
        }
    };
    let result = server.serve(listener, stop).await;
    cancel.cancel();
    result?;
    Ok(())
}

/// What the key's restrictions say.
enum KeyCheck {
    Fit,
    CanWithdraw,
    Unreadable(fff_binance::Error),
}

/// A live key must not be able to withdraw: the gateway is internet-facing software.
async fn check_key(rest: &RestClient) -> KeyCheck {
    let restrictions = match rest.api_restrictions().await {
        Ok(restrictions) => restrictions,
        Err(err) => return KeyCheck::Unreadable(err),
    };
    if restrictions.enable_withdrawals {
        return KeyCheck::CanWithdraw;
    }
    if !restrictions.fit_for_farming() {
        tracing::warn!(
            reading = restrictions.enable_reading,
            spot_and_margin = restrictions.enable_spot_and_margin_trading,
            margin = restrictions.enable_margin,
            futures = restrictions.enable_futures,
            "the api key lacks permissions the farmer needs"
        );
    }
    KeyCheck::Fit
}
