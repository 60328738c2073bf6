//! A tiny Binance client for tests: HMAC signing written here, not borrowed from fff-binance.

use std::time::{SystemTime, UNIX_EPOCH};

use fff_sim::config::{ClockConfig, ClockMode};
use fff_sim::{PAPER_API_KEY, PAPER_API_SECRET, SimConfig, SimHandle};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

/// 2026-01-01T00:00:00Z: an 8h funding boundary, so interval arithmetic is easy to read.
pub const START: i64 = 1_767_225_600_000;
pub const HOUR: i64 = 3_600_000;

pub fn manual_config() -> SimConfig {
    let mut c = SimConfig {
        clock: ClockConfig {
            mode: ClockMode::Manual,
            speed: 1.0,
            start_ms: Some(START),
        },
        ..Default::default()
    };
    c.market.funding_noise = rust_decimal::Decimal::ZERO;
    c
}

pub async fn start(cfg: SimConfig) -> (SimHandle, Client) {
    rustls::crypto::ring::default_provider()
        .install_default()
        .ok();
    let sim = fff_sim::spawn(cfg).await.unwrap();
    let client = Client::new(&sim.urls.spot_rest, PAPER_API_KEY, PAPER_API_SECRET);
    (sim, client)
}

pub fn sign(secret: &str, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn code(&self) -> i64 {
        self.body["code"].as_i64().unwrap_or(0)
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub key: String,
    pub secret: String,
}

impl Client {
    pub fn new(base: &str, key: &str, secret: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.into(),
            key: key.into(),
            secret: secret.into(),
        }
    }

    pub async fn raw(&self, method: &str, path: &str, query: &str, body: &str) -> Resp {
        let url = if query.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}?{query}", self.base)
        };
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.http.request(m, url).header("X-MBX-APIKEY", &self.key);
        if !body.is_empty() {
            rb = rb
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body.to_string());
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        Resp {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    pub async fn get(&self, path: &str, query: &str) -> Resp {
        self.raw("GET", path, query, "").await
    }

    /// Signed request with params in the query string (timestamp = wall clock).
    pub async fn signed(&self, method: &str, path: &str, params: &str) -> Resp {
        let sep = if params.is_empty() { "" } else { "&" };
        let payload = format!("{params}{sep}timestamp={}", wall_ms());
        let q = format!("{payload}&signature={}", sign(&self.secret, &payload));
        self.raw(method, path, &q, "").await
    }
}

pub fn dec(v: &Value) -> rust_decimal::Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .parse()
        .unwrap()
}
