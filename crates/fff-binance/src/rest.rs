//! Raw REST client: one method per Binance endpoint (in `spot`, `margin`, `futures`, `wallet`),
//! all funnelled through one private `send` path, which owns signing, time sync, the rate limiter
//! and retries.
//!
//! Retry policy (STYLE rule 14): only GETs are retried automatically (transient failures, bounded,
//! with backoff). POST/PUT/DELETE are sent once; a `-1021` timestamp rejection (nothing executed) is
//! the single exception: the clock offset is re-synced and the request re-signed and sent once more.
//! Every attempt, including those retries, first passes the scope's rate limiter.

mod futures;
mod margin;
mod spot;
mod wallet;

pub use futures::{FuturesOrderRequest, PositionSide};
pub use margin::MarginOrderRequest;
pub use spot::{OrderRef, SpotOrderRequest};
pub use wallet::MAX_TRANSFER_PAGE;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde::de::DeserializeOwned;

use crate::credential::Credentials;
use crate::error::{Error, Result, code_means_unknown};
use crate::limiter::{Cost, RateLimiter, Scope};
use crate::models::{ApiErrorBody, ServerTime};
use crate::sign::{encode_component, encode_params, sign_rest};
use crate::urls::BinanceUrls;

/// Tunables of the REST client.
#[derive(Debug, Clone)]
pub struct RestConfig {
    /// `recvWindow` sent with signed requests (Binance default 5000, max 60000).
    pub recv_window_ms: u64,
    /// Per-attempt timeout; an order that times out has an unknown outcome.
    pub timeout: Duration,
    /// Extra attempts for GETs after a transient failure.
    pub max_read_retries: u32,
    /// First retry delay; doubles each attempt.
    pub retry_backoff: Duration,
    /// How long a request may wait for local rate-limit budget before failing.
    pub max_budget_wait: Duration,
    /// Percent of every request-weight window that market data and history polls leave to
    /// orders and the reads that settle them (at most 90).
    pub trading_reserve_pct: u32,
    /// Sign with the exchange's clock (measured offset, re-synced once on -1021). Off only for
    /// the simulator with an accelerated clock, whose server time runs ahead of the wall clock
    /// while it still accepts wall-clock timestamps.
    pub sync_server_time: bool,
}

impl Default for RestConfig {
    fn default() -> Self {
        Self {
            recv_window_ms: 5000,
            timeout: Duration::from_secs(10),
            max_read_retries: 2,
            retry_backoff: Duration::from_millis(200),
            max_budget_wait: Duration::from_secs(10),
            trading_reserve_pct: crate::limiter::DEFAULT_TRADING_RESERVE_PCT,
            sync_server_time: true,
        }
    }
}

/// Which host a request goes to (and whose clock it is signed against).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// `spot_rest`: `/api/v3` and `/sapi/v1`.
    Spot,
    /// `futures_rest`: `/fapi`.
    Futures,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Security {
    /// No key.
    Public,
    /// `X-MBX-APIKEY` only (USER_STREAM, MARKET_DATA).
    ApiKey,
    /// Key + `timestamp` + `recvWindow` + `signature` (TRADE, USER_DATA, MARGIN).
    Signed,
}

/// Static description of one endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub method: Method,
    pub host: Host,
    pub path: &'static str,
    pub security: Security,
    pub scope: Scope,
    pub cost: Cost,
}

impl Endpoint {
    pub(crate) const fn new(
        method: Method,
        host: Host,
        path: &'static str,
        security: Security,
        scope: Scope,
        cost: Cost,
    ) -> Self {
        Self {
            method,
            host,
            path,
            security,
            scope,
            cost,
        }
    }

    pub(crate) fn with_cost(mut self, cost: Cost) -> Self {
        self.cost = cost;
        self
    }

    /// Paid from the background share of the weight budget (see [`Cost::background`]).
    pub(crate) const fn background(mut self) -> Self {
        self.cost = self.cost.in_background();
        self
    }
}

/// Ordered request parameters.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn push(mut self, key: &str, value: impl ToString) -> Self {
        self.0.push((key.to_string(), value.to_string()));
        self
    }
    pub fn opt(self, key: &str, value: Option<impl ToString>) -> Self {
        match value {
            Some(value) => self.push(key, value),
            None => self,
        }
    }
}

/// The rate limiters of one API key / IP, shared by every client built from them.
#[derive(Debug, Clone)]
pub struct Limiters {
    pub spot: Arc<RateLimiter>,
    pub futures: Arc<RateLimiter>,
    pub sapi_ip: Arc<RateLimiter>,
    pub sapi_uid: Arc<RateLimiter>,
}

impl Limiters {
    pub fn new(max_wait: Duration, trading_reserve_pct: u32) -> Self {
        let make = |scope| {
            Arc::new(
                RateLimiter::new(scope)
                    .with_max_wait(max_wait)
                    .with_trading_reserve_pct(trading_reserve_pct),
            )
        };
        Self {
            spot: make(Scope::Spot),
            futures: make(Scope::Futures),
            sapi_ip: make(Scope::SapiIp),
            sapi_uid: make(Scope::SapiUid),
        }
    }

    pub fn get(&self, scope: Scope) -> &RateLimiter {
        match scope {
            Scope::Spot => &self.spot,
            Scope::Futures => &self.futures,
            Scope::SapiIp => &self.sapi_ip,
            Scope::SapiUid => &self.sapi_uid,
        }
    }
}

#[derive(Debug, Default)]
struct Clock {
    offset_ms: AtomicI64,
    synced: AtomicBool,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    urls: BinanceUrls,
    credentials: Option<Credentials>,
    limiters: Limiters,
    config: RestConfig,
    spot_clock: Clock,
    futures_clock: Clock,
}

/// Raw Binance REST client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RestClient {
    inner: Arc<Inner>,
}

impl RestClient {
    /// A client for `urls`; `credentials` may be `None` for market data only.
    pub fn new(
        urls: BinanceUrls,
        credentials: Option<Credentials>,
        config: RestConfig,
    ) -> Result<Self> {
        let limiters = Limiters::new(config.max_budget_wait, config.trading_reserve_pct);
        Self::with_limiters(urls, credentials, config, limiters)
    }

    /// Like [`RestClient::new`] but sharing limiters with other clients of the same IP/account.
    pub fn with_limiters(
        urls: BinanceUrls,
        credentials: Option<Credentials>,
        config: RestConfig,
        limiters: Limiters,
    ) -> Result<Self> {
        if config.recv_window_ms == 0 || config.recv_window_ms > 60_000 {
            return Err(Error::Config(format!(
                "recv_window_ms must be within 1..=60000, got {}",
                config.recv_window_ms
            )));
        }
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("fff-binance/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| Error::Config(format!("http client: {err}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                urls,
                credentials,
                limiters,
                config,
                spot_clock: Clock::default(),
                futures_clock: Clock::default(),
            }),
        })
    }

    pub fn urls(&self) -> &BinanceUrls {
        &self.inner.urls
    }

    pub fn limiters(&self) -> &Limiters {
        &self.inner.limiters
    }

    pub(crate) fn credentials(&self) -> Option<&Credentials> {
        self.inner.credentials.as_ref()
    }

    /// Current estimate of `server time − local time` for `host`, in ms.
    pub fn time_offset_ms(&self, host: Host) -> i64 {
        self.clock(host).offset_ms.load(Ordering::Relaxed)
    }

    /// Local time corrected to `host`'s clock, in ms.
    pub fn server_now_ms(&self, host: Host) -> i64 {
        local_now_ms() + self.time_offset_ms(host)
    }

    /// Measures the clock offset against `host` (`GET /api/v3/time` or `/fapi/v1/time`).
    pub async fn sync_time(&self, host: Host) -> Result<i64> {
        if !self.inner.config.sync_server_time {
            // Configured to sign with the local clock (see `RestConfig::sync_server_time`).
            return Ok(0);
        }
        let endpoint = time_endpoint(host);
        let before = local_now_ms();
        let time: ServerTime = self.send_once(&endpoint, &Params::new()).await?;
        let after = local_now_ms();
        let offset = time.server_time - (before + after) / 2;
        let clock = self.clock(host);
        clock.offset_ms.store(offset, Ordering::Relaxed);
        clock.synced.store(true, Ordering::Relaxed);
        tracing::debug!(?host, offset_ms = offset, "synced binance clock");
        Ok(offset)
    }

    fn clock(&self, host: Host) -> &Clock {
        match host {
            Host::Spot => &self.inner.spot_clock,
            Host::Futures => &self.inner.futures_clock,
        }
    }

    /// Sends a request with the retry policy described in the module docs.
    pub(crate) async fn send<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        params: Params,
    ) -> Result<T> {
        if endpoint.security != Security::Public && self.inner.credentials.is_none() {
            return Err(Error::MissingCredentials(endpoint.path));
        }
        let sync = self.inner.config.sync_server_time;
        if sync
            && endpoint.security == Security::Signed
            && !self.clock(endpoint.host).synced.load(Ordering::Relaxed)
        {
            self.sync_time(endpoint.host).await?;
        }
        let is_read = endpoint.method == Method::GET;
        let max_attempts = if is_read {
            1 + self.inner.config.max_read_retries
        } else {
            1
        };
        let mut attempt = 0;
        let mut resynced = false;
        loop {
            attempt += 1;
            match self.send_once(endpoint, &params).await {
                Err(Error::Api { code: -1021, .. }) if sync && !resynced => {
                    // Rejected for the timestamp before processing: safe to re-sign and resend once.
                    resynced = true;
                    tracing::warn!(
                        path = endpoint.path,
                        "timestamp outside recvWindow, resyncing clock"
                    );
                    self.sync_time(endpoint.host).await?;
                }
                Err(err) if is_read && attempt < max_attempts && transient(&err) => {
                    let delay = self
                        .inner
                        .config
                        .retry_backoff
                        .checked_mul(2u32.saturating_pow(attempt - 1))
                        .map_or(MAX_RETRY_DELAY, |d| d.min(MAX_RETRY_DELAY));
                    tracing::debug!(path = endpoint.path, attempt, error = %err, "retrying read");
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    /// One attempt: limiter → sign → send → observe headers → classify.
    async fn send_once<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        params: &Params,
    ) -> Result<T> {
        let limiter = self.inner.limiters.get(endpoint.scope);
        let acquired = limiter.acquire(endpoint.cost).await;
        limiter.record(endpoint.path, endpoint.cost, acquired.is_ok());
        if let Err(err) = acquired {
            if matches!(err, Error::BudgetExhausted { .. }) {
                // which reads spend the budget is what an operator needs to tune the polls
                tracing::warn!(
                    path = endpoint.path,
                    background = endpoint.cost.background,
                    usage = ?limiter.usage(),
                    error = %err,
                    "request refused by the local weight budget"
                );
            }
            return Err(err);
        }
        let is_read = endpoint.method == Method::GET;

        let mut pairs = params.0.clone();
        let credentials = match endpoint.security {
            Security::Public => None,
            Security::ApiKey | Security::Signed => Some(
                self.inner
                    .credentials
                    .as_ref()
                    .ok_or(Error::MissingCredentials(endpoint.path))?,
            ),
        };
        if endpoint.security == Security::Signed {
            pairs.push((
                "recvWindow".to_string(),
                self.inner.config.recv_window_ms.to_string(),
            ));
            pairs.push((
                "timestamp".to_string(),
                self.server_now_ms(endpoint.host).to_string(),
            ));
        }
        let mut query = encode_params(&pairs);
        if let (Security::Signed, Some(credentials)) = (endpoint.security, credentials) {
            let signature = sign_rest(credentials, &query, "");
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str("signature=");
            // Ed25519 signatures are base64 (`+`, `/`, `=`): percent-encode; hex is unchanged.
            query.push_str(&encode_component(&signature));
        }
        let base = match endpoint.host {
            Host::Spot => &self.inner.urls.spot_rest,
            Host::Futures => &self.inner.urls.futures_rest,
        };
        let mut url = format!("{}{}", BinanceUrls::trimmed(base), endpoint.path);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query);
        }
        let mut request = self.inner.http.request(endpoint.method.clone(), url);
        if let Some(credentials) = credentials {
            request = request.header("X-MBX-APIKEY", credentials.api_key());
        }

        let response = match request.send().await {
            Ok(response) => response,
            Err(err) if err.is_connect() => return Err(Error::Connect(err.to_string())),
            Err(err) => {
                return Err(Error::Unknown {
                    reason: format!("{} {}: {err}", endpoint.method, endpoint.path),
                    code: None,
                });
            }
        };
        let status = response.status();
        if let Some(err) = limiter.observe(status, response.headers()) {
            return Err(err);
        }
        let body = match response.text().await {
            Ok(body) => body,
            Err(err) => {
                return Err(Error::Unknown {
                    reason: format!("reading response of {}: {err}", endpoint.path),
                    code: None,
                });
            }
        };
        if status.is_success() {
            return serde_json::from_str::<T>(&body).map_err(|err| {
                let reason = format!(
                    "{} {}: {err}: {}",
                    endpoint.method,
                    endpoint.path,
                    snippet(&body)
                );
                if is_read {
                    Error::Decode(reason)
                } else {
                    Error::Unknown { reason, code: None }
                }
            });
        }
        let api_error = serde_json::from_str::<ApiErrorBody>(&body).ok();
        let server_side = status.is_server_error() || status.as_u16() == 408;
        match api_error {
            Some(err) if server_side || code_means_unknown(err.code) => Err(Error::Unknown {
                reason: format!("http {}: {}", status.as_u16(), err.msg),
                code: Some(err.code),
            }),
            Some(err) => Err(Error::Api {
                status: status.as_u16(),
                code: err.code,
                msg: err.msg,
            }),
            None if server_side => Err(Error::Unknown {
                reason: format!("http {}: {}", status.as_u16(), snippet(&body)),
                code: None,
            }),
            None => Err(Error::Api {
                status: status.as_u16(),
                code: 0,
                msg: snippet(&body),
            }),
        }
    }
}

/// Upper bound of one read-retry delay.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(10);

fn time_endpoint(host: Host) -> Endpoint {
    match host {
        Host::Spot => Endpoint::new(
            Method::GET,
            Host::Spot,
            "/api/v3/time",
            Security::Public,
            Scope::Spot,
            Cost::weight(1),
        ),
        Host::Futures => Endpoint::new(
            Method::GET,
            Host::Futures,
            "/fapi/v1/time",
            Security::Public,
            Scope::Futures,
            Cost::weight(1),
        ),
    }
}

/// Failures worth retrying for a read.
fn transient(err: &Error) -> bool {
    match err {
        Error::Unknown { .. } | Error::Connect(_) | Error::Decode(_) => true,
        Error::Api { code, .. } => matches!(*code, -1003 | -1008),
        _ => false,
    }
}

fn snippet(body: &str) -> String {
    body.chars().take(200).collect()
}

pub(crate) fn local_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
