//! The HTTP layer: one router for every REST path, thin around the engine.

pub mod admin;
pub mod futures;
pub mod history;
pub mod limits;
pub mod margin;
pub mod market;
pub mod market_admin;
pub mod params;
pub mod permissions;
pub mod records;
pub mod spot;
pub mod wallet;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::{broadcast, watch};

use crate::ApiError;
use crate::clock::{Clock, wall_ms};
use crate::engine::{Event, Exchange};
use limits::{Limiter, Scope, Verdict};
use params::Req;

/// Shared simulator state.
pub struct Sim {
    ex: Mutex<Exchange>,
    pub clock: Clock,
    pub events: broadcast::Sender<Event>,
    pub limiter: Mutex<Limiter>,
    /// Bumped to make every WebSocket close (disconnect fault).
    pub ws_kick: watch::Sender<u64>,
    /// Symbols whose books just moved by an admin shock: their book tickers go out at once.
    pub book_moves: broadcast::Sender<Vec<String>>,
}

impl Sim {
    /// The request limiter (a poisoned lock is taken over: the counts stay usable).
    pub fn limits(&self) -> std::sync::MutexGuard<'_, Limiter> {
        self.limiter.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn new(ex: Exchange, clock: Clock) -> Arc<Self> {
        let (events, _) = broadcast::channel(4096);
        let (ws_kick, _) = watch::channel(0);
        let (book_moves, _) = broadcast::channel(256);
        Arc::new(Self {
            ex: Mutex::new(ex),
            clock,
            events,
            limiter: Mutex::new(Limiter::default()),
            ws_kick,
            book_moves,
        })
    }

    /// Announces that the books of `symbols` moved (see [`Sim::book_moves`]).
    pub fn books_moved(&self, symbols: Vec<String>) {
        let _ = self.book_moves.send(symbols);
    }

    fn lock(&self) -> MutexGuard<'_, Exchange> {
        self.ex.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Advances the engine to the clock, runs `f`, publishes the events it produced.
    pub fn with<R>(&self, f: impl FnOnce(&mut Exchange) -> R) -> R {
        let mut ex = self.lock();
        ex.advance_to(self.clock.now_ms());
        let r = f(&mut ex);
        for e in ex.drain_events() {
            let _ = self.events.send(e);
        }
        r
    }

    /// Server time as reported to clients (simulated time plus the skew fault).
    pub fn server_time(&self) -> i64 {
        let skew = self.lock().faults.clock_skew_ms;
        self.clock.now_ms() + skew
    }

    pub fn kick_websockets(&self) {
        self.ws_kick.send_modify(|v| *v += 1);
    }
}

pub fn router(sim: Arc<Sim>) -> axum::Router {
    axum::Router::new()
        .merge(crate::ws::routes())
        .route("/admin/basis", axum::routing::post(market_admin::basis))
        .route("/admin/shocks", axum::routing::post(market_admin::shocks))
        .route(
            "/admin/shock_coverage",
            axum::routing::post(market_admin::shock_coverage),
        )
        .route("/admin/{*rest}", axum::routing::any(admin::handle))
        .fallback(rest)
        .with_state(sim)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sec {
    None,
    /// MARKET_DATA / USER_STREAM: API key, no signature.
    Key,
    /// TRADE / USER_DATA.
    Signed,
}

pub type Handler = fn(&mut Exchange, &Req) -> Result<Value, ApiError>;

pub struct Spec {
    pub weight: u32,
    /// Weight when no `symbol` is given (0 = same).
    pub weight_all: u32,
    pub sec: Sec,
    pub order: bool,
    /// SAPI endpoint weighted per account (UID) rather than per IP.
    pub uid: bool,
    /// Weight when the request may borrow (`sideEffectType` MARGIN_BUY or AUTO_BORROW_REPAY;
    /// 0 = same).
    pub weight_borrow: u32,
    pub handler: Handler,
}

pub const fn spec(weight: u32, sec: Sec, handler: Handler) -> Spec {
    Spec {
        weight,
        weight_all: 0,
        sec,
        order: false,
        uid: false,
        weight_borrow: 0,
        handler,
    }
}

fn scope_of(path: &str) -> Option<Scope> {
    if path.starts_with("/api/") {
        Some(Scope::Spot)
    } else if path.starts_with("/sapi/") {
        Some(Scope::Sapi)
    } else if path.starts_with("/fapi/") || path.starts_with("/dapi/") {
        // `/dapi` (coin-M, no listings here) shares the futures budget.
        Some(Scope::Futures)
    } else {
        None
    }
}

fn lookup(method: &Method, path: &str) -> Option<Spec> {
    market::route(method, path)
        .or_else(|| history::route(method, path))
        .or_else(|| spot::route(method, path))
        .or_else(|| margin::route(method, path))
        .or_else(|| futures::route(method, path))
        .or_else(|| wallet::route(method, path))
}

pub fn error_response(e: &ApiError, headers: Vec<(String, String)>) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = (status, axum::Json(e.clone())).into_response();
    add_headers(&mut resp, headers);
    resp
}

fn add_headers(resp: &mut Response, headers: Vec<(String, String)>) {
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::try_from(k),
            HeaderValue::try_from(v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
}

fn too_many(scope: Scope, retry_after: u64, limit: u32) -> Response {
    let msg = if scope == Scope::Futures {
        format!(
            "Too many requests; current limit is {limit} requests per minute. Please use the websocket for live updates to avoid polling the API."
        )
    } else {
        format!(
            "Too much request weight used; current limit is {limit} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."
        )
    };
    error_response(
        &ApiError::new(429, -1003, msg),
        vec![("Retry-After".into(), retry_after.to_string())],
    )
}

/// The used-weight header of a counted request, or its 429/418 answer.
fn used_weight(
    verdict: Verdict,
    scope: Scope,
    header: &str,
) -> Result<(String, String), Box<Response>> {
    match verdict {
        Verdict::Ok { used } => Ok((header.to_owned(), used.to_string())),
        Verdict::TooMany { retry_after, limit } => {
            Err(Box::new(too_many(scope, retry_after, limit)))
        }
        Verdict::Banned { retry_after } => Err(Box::new(banned(retry_after))),
    }
}

fn banned(retry_after: u64) -> Response {
    let until = wall_ms() + retry_after as i64 * 1000;
    let msg = format!(
        "Way too much request weight used; IP banned until {until}. Please use WebSocket Streams for live updates to avoid bans."
    );
    error_response(
        &ApiError::new(418, -1003, msg),
        vec![("Retry-After".into(), retry_after.to_string())],
    )
}

pub fn hmac_hex(secret: &str, payload: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Accepts a timestamp within recvWindow of the simulated server time, or of the wall clock
/// (so clients on an accelerated/manual clock can sign with their own time).
pub fn check_timestamp(ts: i64, recv_window: i64, server: i64, wall: i64) -> Result<(), ApiError> {
    if recv_window <= 0 || recv_window > 60_000 {
        return Err(ApiError::bad(-1131, "recvWindow must be less than 60000"));
    }
    let ok = |now: i64| ts < now.saturating_add(1000) && now.saturating_sub(ts) <= recv_window;
    if ok(server) || ok(wall) {
        return Ok(());
    }
    if ts >= server.saturating_add(1000) && ts >= wall.saturating_add(1000) {
        return Err(ApiError::bad(
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        ));
    }
    Err(ApiError::bad(
        -1021,
        "Timestamp for this request is outside of the recvWindow.",
    ))
}

/// Authenticates per the endpoint's security type.
pub fn authenticate(sim: &Sim, req: &mut Req, sec: Sec) -> Result<(), ApiError> {
    if sec == Sec::None {
        return Ok(());
    }
    let Some(key) = req.api_key.clone() else {
        return Err(ApiError::new(401, -2014, "API-key format invalid."));
    };
    let (account, secret) = {
        let ex = sim.lock();
        let acct = ex.account_by_key(&key).ok_or_else(ApiError::bad_key)?;
        (acct, ex.accounts[acct].secret().to_string())
    };
    req.account = Some(account);
    if sec == Sec::Key {
        return Ok(());
    }
    let ts = req
        .get("timestamp")
        .ok_or_else(|| ApiError::mandatory("timestamp"))?;
    let ts = ts
        .parse::<i64>()
        .map_err(|_| ApiError::illegal("timestamp"))?;
    // Microsecond timestamps (16 digits) are accepted like Binance spot does.
    let ts = if ts > 10_000_000_000_000 {
        ts / 1000
    } else {
        ts
    };
    let recv = req
        .get("recvWindow")
        .map(|v| v.split('.').next().unwrap_or(v).parse::<i64>())
        .transpose()
        .map_err(|_| ApiError::illegal("recvWindow"))?;
    let skew = sim.lock().faults.clock_skew_ms;
    check_timestamp(
        ts,
        recv.unwrap_or(5000),
        sim.server_time(),
        wall_ms() + skew,
    )?;
    let (payload, sig) = req.signed_payload();
    let sig = sig.ok_or_else(|| ApiError::mandatory("signature"))?;
    if !hmac_hex(&secret, &payload).eq_ignore_ascii_case(&sig) {
        return Err(ApiError::bad_signature());
    }
    Ok(())
}

async fn rest(
    State(sim): State<Arc<Sim>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // when the venue received the order: its own checks below take time too (`fff bench`)
    let arrival = crate::clock::wall_us();
    let path = uri.path().to_string();
    let Some(scope) = scope_of(&path) else {
        return (StatusCode::NOT_FOUND, "").into_response();
    };
    let Some(spec) = lookup(&method, &path) else {
        return (StatusCode::NOT_FOUND, "").into_response();
    };
    let (latency, storm) = sim.with(|ex| (ex.faults.latency_ms, ex.faults.rate_limit_storm));
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let ip: IpAddr = peer.ip();
    let limit_cfg = sim.with(|ex| ex.cfg.limits.clone());
    if storm {
        return too_many(scope, 1, Limiter::limit_for(&limit_cfg, scope));
    }
    if let Some(banned) = crate::faults::ban_storm(&sim) {
        return banned;
    }
    let mut req = Req::new(
        uri.query().unwrap_or(""),
        std::str::from_utf8(&body).unwrap_or(""),
    );
    req.api_key = headers
        .get("X-MBX-APIKEY")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let borrows = matches!(
        req.get("sideEffectType"),
        Some("MARGIN_BUY" | "AUTO_BORROW_REPAY")
    );
    let weight = if spec.weight_all > 0 && req.get("symbol").is_none() {
        spec.weight_all
    } else if spec.weight_borrow > 0 && borrows {
        spec.weight_borrow
    } else {
        spec.weight
    };
    let mut hdrs = Vec::new();
    if !spec.uid {
        let verdict = sim.limits().take(&limit_cfg, ip, scope, weight);
        let header = match scope {
            Scope::Sapi => "X-SAPI-USED-IP-WEIGHT-1M",
            _ => "X-MBX-USED-WEIGHT-1M",
        };
        match used_weight(verdict, scope, header) {
            Ok(used) => hdrs.push(used),
            Err(refused) => return *refused,
        }
    }
    if let Err(e) = authenticate(&sim, &mut req, spec.sec) {
        return error_response(&e, hdrs);
    }
    if spec.uid {
        // counted per account, so only once the key has named one
        let account = req.account.unwrap_or(0);
        let verdict = sim.limits().take_uid(&limit_cfg, account, weight);
        match used_weight(verdict, Scope::SapiUid, "X-SAPI-USED-UID-WEIGHT-1M") {
            Ok(used) => hdrs.push(used),
            Err(refused) => return *refused,
        }
    }
    if let Some(account) = req.account {
        let allowed = permissions::check(&sim.lock(), account, &method, &path);
        if let Err(e) = allowed {
            return error_response(&e, hdrs);
        }
    }
    if spec.order {
        let account = req.account.unwrap_or(0);
        let counted = sim.limits().take_order(&limit_cfg, account, scope);
        match counted {
            Ok(counts) => {
                for (name, n) in counts {
                    hdrs.push((format!("X-MBX-ORDER-COUNT-{name}"), n.to_string()));
                }
            }
            Err((msg, retry)) => {
                hdrs.push(("Retry-After".into(), retry.to_string()));
                return error_response(&ApiError::new(429, -1015, msg), hdrs);
            }
        }
    }
    let handled = sim.with(|ex| {
        ex.request_arrival_us = Some(arrival);
        let handled = (spec.handler)(ex, &req);
        ex.request_arrival_us = None;
        handled
    });
    match handled {
        Ok(_) if crate::faults::lose_order_response(&sim, &method, spec.order) => {
            crate::faults::unknown_status(hdrs)
        }
        Ok(v) => {
            let mut resp = axum::Json(v).into_response();
            add_headers(&mut resp, hdrs);
            resp
        }
        Err(e) => error_response(&e, hdrs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_hmac_vectors() {
        let spot = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
        let p = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        assert_eq!(
            hmac_hex(spot, p),
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
        let mixed = Req::new(
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
            "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=x",
        );
        assert_eq!(
            hmac_hex(spot, &mixed.signed_payload().0),
            "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
        );
    }

    #[test]
    fn timestamp_rules() {
        assert!(check_timestamp(10_000, 5000, 12_000, 0).is_ok());
        assert_eq!(
            check_timestamp(1_000, 5000, 12_000, 0).unwrap_err().code,
            -1021
        );
        assert_eq!(
            check_timestamp(14_000, 5000, 12_000, 0).unwrap_err().code,
            -1021
        );
        assert!(check_timestamp(100, 5000, 12_000_000, 200).is_ok());
    }
}
