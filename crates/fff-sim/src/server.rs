//! Entry points: [`run`] for the CLI, [`spawn`] for tests, [`base_urls`] for clients.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::ApiError;
use crate::clock::Clock;
use crate::config::{FaultConfig, SimConfig};
use crate::engine::Exchange;
use crate::error::Result;
use crate::http::{Sim, router};

/// Client base URLs for a simulator listening on `addr`; serialised as the `fff sim` JSON line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseUrls {
    /// Spot and margin REST (`/api/v3`, `/sapi/v1`).
    pub spot_rest: String,
    /// USD-M futures REST (`/fapi/...`).
    pub futures_rest: String,
    /// Futures streams; append `/public|/market|/private` + `/ws/...` or `/stream?streams=`.
    pub futures_ws: String,
    /// Spot/margin WebSocket API.
    pub spot_ws_api: String,
    /// Margin risk stream base; append `/ws/<listenKey>`.
    pub margin_risk_ws: String,
    /// Admin JSON endpoints.
    pub admin: String,
}

pub fn base_urls(addr: SocketAddr) -> BaseUrls {
    BaseUrls {
        spot_rest: format!("http://{addr}"),
        futures_rest: format!("http://{addr}"),
        futures_ws: format!("ws://{addr}"),
        spot_ws_api: format!("ws://{addr}/ws-api/v3"),
        margin_risk_ws: format!("ws://{addr}"),
        admin: format!("http://{addr}/admin"),
    }
}

fn build(config: SimConfig) -> Result<Arc<Sim>> {
    config.validate()?;
    let clock = Clock::new(&config.clock);
    let ex = Exchange::new(config, clock.now_ms())?;
    Ok(Sim::new(ex, clock))
}

async fn serve(
    sim: Arc<Sim>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    // Background processes (funding, interest, resting fills) run even with no requests.
    let ticker_sim = sim.clone();
    let ticker = tokio::spawn(async move {
        let mut iv = tokio::time::interval(std::time::Duration::from_millis(100));
        loop {
            iv.tick().await;
            ticker_sim.with(|_| ());
        }
    });
    let kick = sim.clone();
    let app = router(sim).into_make_service_with_connect_info::<SocketAddr>();
    // Nagle's algorithm held small answers (an order's fill) for a delayed ACK, about 40 ms on
    // loopback: a venue answers at once, and `fff bench` times the hedge against it.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        // best effort: without it answers are only slower
        let _ = tcp.set_nodelay(true);
    });
    let res = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            kick.kick_websockets();
        })
        .await;
    ticker.abort();
    res.map_err(crate::Error::Io)
}

/// Serves the simulator on `listener` until `shutdown` resolves. Prints nothing.
pub async fn run(
    config: SimConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let sim = build(config)?;
    serve(sim, listener, shutdown).await
}

/// A simulator running in this process on 127.0.0.1:0, with direct admin access.
pub struct SimHandle {
    pub addr: SocketAddr,
    pub urls: BaseUrls,
    sim: Arc<Sim>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<()>>>,
}

/// Starts a simulator for tests: `let sim = fff_sim::spawn(SimConfig::default()).await?;`
pub async fn spawn(config: SimConfig) -> Result<SimHandle> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let sim = build(config)?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(sim.clone(), listener, async move {
        let _ = rx.await;
    }));
    Ok(SimHandle {
        addr,
        urls: base_urls(addr),
        sim,
        stop: Some(tx),
        task: Some(task),
    })
}

impl SimHandle {
    /// Simulated now (ms).
    pub fn now_ms(&self) -> i64 {
        self.sim.clock.now_ms()
    }

    /// Moves the simulated clock forward and runs everything due; returns the new time.
    pub fn advance(&self, ms: i64) -> i64 {
        self.sim.clock.advance(ms);
        self.sim.with(|ex| ex.now)
    }

    /// Full account state as the `/admin/state` JSON (account by name or API key; None = first).
    pub fn state(&self, account: Option<&str>) -> serde_json::Value {
        let sel = account.map(str::to_string);
        self.sim.with(|ex| {
            let id = sel.as_deref().and_then(|s| ex.accounts.iter().position(|a| a.name == s || a.api_key == s)).unwrap_or(0);
            let t = ex.futures_totals(id);
            serde_json::json!({"walletBalance": t.wallet.to_string(), "positions": ex.accounts[id].positions.iter().map(|(s, p)| (s.clone(), p.amt.to_string())).collect::<std::collections::BTreeMap<_, _>>(), "liquidations": ex.accounts[id].liquidations})
        })
    }

    pub fn set_funding_rate(&self, symbol: &str, rate: Decimal) -> Result<Decimal, ApiError> {
        self.sim
            .with(|ex| ex.set_funding(symbol, Some(rate), false))
    }

    pub fn flip_funding(&self, symbol: &str) -> Result<Decimal, ApiError> {
        self.sim.with(|ex| ex.set_funding(symbol, None, true))
    }

    /// Moves a symbol's price by `pct` percent.
    pub fn shock(&self, symbol: &str, pct: Decimal) -> Result<(), ApiError> {
        self.sim.with(|ex| {
            ex.markets
                .get_mut(symbol)
                .map(|m| m.shock(pct))
                .ok_or_else(ApiError::invalid_symbol)
        })?;
        self.sim.books_moved(vec![symbol.to_owned()]);
        Ok(())
    }

    pub fn set_faults(&self, faults: FaultConfig) {
        self.sim.with(|ex| ex.faults = faults);
    }

    pub fn faults(&self) -> FaultConfig {
        self.sim.with(|ex| ex.faults.clone())
    }

    pub fn disconnect_websockets(&self) {
        self.sim.kick_websockets();
    }

    /// Runs `f` on the engine state (advanced to now).
    pub fn with_exchange<R>(&self, f: impl FnOnce(&mut Exchange) -> R) -> R {
        self.sim.with(f)
    }

    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(t) => t.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_json_keys_are_the_documented_ones() {
        let v = serde_json::to_value(base_urls("127.0.0.1:8080".parse().unwrap())).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 6);
        for k in [
            "spot_rest",
            "futures_rest",
            "futures_ws",
            "spot_ws_api",
            "margin_risk_ws",
            "admin",
        ] {
            assert!(keys.contains(&k), "{k}");
        }
        assert_eq!(v["spot_ws_api"], "ws://127.0.0.1:8080/ws-api/v3");
        assert_eq!(v["admin"], "http://127.0.0.1:8080/admin");
    }
}
