//! The simulator's admin API as the soak uses it: fault knobs, market events, and the venue's
//! own records (`/admin/records`), read incrementally: orders are re-read only from the oldest
//! one still open, since a finished order never changes again.

use std::collections::BTreeMap;
use std::str::FromStr as _;

use anyhow::{Context as _, bail};
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// One fill at the venue.
#[derive(Debug, Clone, PartialEq)]
pub struct VenueFill {
    pub trade_id: i64,
    pub qty: Decimal,
    pub price: Decimal,
    /// Simulated ms.
    pub time: i64,
    pub commission: Decimal,
    pub commission_asset: String,
}

/// One order at the venue.
#[derive(Debug, Clone, PartialEq)]
pub struct VenueOrder {
    pub order_id: i64,
    /// "Spot", "Margin" or "Futures".
    pub venue: String,
    pub symbol: String,
    pub client_order_id: String,
    pub side: String,
    pub status: String,
    pub executed_qty: Decimal,
    pub fills: Vec<VenueFill>,
    /// Wall-clock microseconds (Unix epoch) when the order's request reached the venue
    /// (`fff bench`).
    pub received_us: i64,
    /// Same clock: when the venue's engine took it in and matched it.
    pub matched_us: i64,
}

impl VenueOrder {
    pub fn is_open(&self) -> bool {
        matches!(self.status.as_str(), "NEW" | "PARTIALLY_FILLED")
    }
}

/// A funding income or interest charge as the venue publishes it.
#[derive(Debug, Clone, PartialEq)]
pub struct CashRecord {
    /// Symbol (funding) or asset (interest).
    pub key: String,
    pub id: i64,
    pub amount: Decimal,
    pub time: i64,
}

/// Balances of one asset across spot and cross margin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssetBalance {
    pub spot: Decimal,
    pub margin: Decimal,
    pub borrowed: Decimal,
    pub interest: Decimal,
}

/// The venue's view at one moment.
#[derive(Debug, Clone, Default)]
pub struct VenueRecords {
    /// Simulated ms.
    pub now: i64,
    pub next_order_id: i64,
    /// Every order of the account by order id.
    pub orders: BTreeMap<i64, VenueOrder>,
    pub funding: Vec<CashRecord>,
    pub interest: Vec<CashRecord>,
    pub balances: BTreeMap<String, AssetBalance>,
    /// Signed perp positions by symbol.
    pub positions: BTreeMap<String, Decimal>,
    /// symbol -> (base asset, index price)
    pub markets: BTreeMap<String, (String, Decimal)>,
    pub liquidations: i64,
}

/// Next order id, open orders (id, executed) and perp positions: what changes when anything trades.
pub type Fingerprint = (i64, Vec<(i64, Decimal)>, Vec<(String, Decimal)>);

impl VenueRecords {
    /// What changes when anything trades: compared across two reads to see the venue at rest.
    pub fn fingerprint(&self) -> Fingerprint {
        let open = self
            .orders
            .values()
            .filter(|o| o.is_open())
            .map(|o| (o.order_id, o.executed_qty))
            .collect();
        let positions = self
            .positions
            .iter()
            .map(|(s, a)| (s.clone(), *a))
            .collect();
        (self.next_order_id, open, positions)
    }

    /// Symbols with a perp position, sorted.
    pub fn held_symbols(&self) -> Vec<String> {
        self.positions.keys().cloned().collect()
    }
}

/// Admin client of one simulator.
#[derive(Clone)]
pub struct Venue {
    http: reqwest::Client,
    base: String,
    account: String,
}

impl Venue {
    /// `base` is the simulator's REST base URL (`spot_rest` of its first line).
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .context("cannot build the admin HTTP client")?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            account: fff_sim::PAPER_API_KEY.to_owned(),
        })
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}/admin/{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .with_context(|| format!("POST /admin/{path}"))?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("POST /admin/{path}: {status} {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }

    pub async fn set_faults(&self, patch: &Value) -> anyhow::Result<()> {
        self.post("faults", patch).await.map(drop)
    }

    pub async fn shock(&self, symbol: &str, pct: Decimal) -> anyhow::Result<()> {
        self.post("shock", &json!({"symbol": symbol, "pct": pct.to_string()}))
            .await
            .map(drop)
    }

    /// Moves every `(symbol, pct)` at once (`POST /admin/shocks`); returns the venue's
    /// wall-clock microsecond of the move (the clock of the orders' `received_us`).
    pub async fn shocks(&self, moves: &[(String, Decimal)]) -> anyhow::Result<i64> {
        let shocks: Vec<Value> = moves
            .iter()
            .map(|(symbol, pct)| json!({"symbol": symbol, "pct": pct.to_string()}))
            .collect();
        let moved = self.post("shocks", &json!({"shocks": shocks})).await?;
        moved
            .as_array()
            .and_then(|m| m.iter().filter_map(|s| s["atUs"].as_i64()).min())
            .context("POST /admin/shocks: no atUs in the answer")
    }

    /// Moves every perp the account holds against it until its futures margin coverage is
    /// `coverage` (`POST /admin/shock_coverage`, sized under the venue's lock); returns the
    /// moves made (empty when the coverage was already at or below it) and the venue's
    /// wall-clock microsecond of the first.
    pub async fn shock_to_coverage(
        &self,
        coverage: Decimal,
    ) -> anyhow::Result<(Vec<(String, Decimal)>, Option<i64>)> {
        let answer = self
            .post(
                "shock_coverage",
                &json!({"account": self.account, "coverage": coverage.to_string()}),
            )
            .await?;
        let moves = answer["moves"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| {
                let pct = m["pct"].as_str()?.parse().ok()?;
                Some((m["symbol"].as_str()?.to_owned(), pct))
            })
            .collect();
        Ok((moves, answer["atUs"].as_i64()))
    }

    /// Sets `symbol`'s funding rate (`POST /admin/funding`); the next mark push carries it.
    pub async fn set_funding(&self, symbol: &str, rate: Decimal) -> anyhow::Result<()> {
        self.post(
            "funding",
            &json!({"symbol": symbol, "rate": rate.to_string()}),
        )
        .await
        .map(drop)
    }

    pub async fn flip_funding(&self, symbol: &str) -> anyhow::Result<()> {
        self.post("funding", &json!({"symbol": symbol, "flip": true}))
            .await
            .map(drop)
    }

    pub async fn drop_websockets(&self) -> anyhow::Result<()> {
        self.post("ws/disconnect", &json!({})).await.map(drop)
    }

    /// Refreshes `records` from the venue: orders from the oldest open one (or the first unseen),
    /// everything else whole.
    pub async fn refresh(&self, records: &mut VenueRecords) -> anyhow::Result<()> {
        let since = records
            .orders
            .values()
            .find(|o| o.is_open())
            .map_or(records.next_order_id, |o| o.order_id);
        let url = format!(
            "{}/admin/records?account={}&since_order={since}",
            self.base, self.account
        );
        let text = self
            .http
            .get(&url)
            .send()
            .await
            .context("GET /admin/records")?
            .error_for_status()?
            .text()
            .await?;
        let body: Value = serde_json::from_str(&text).context("records are not JSON")?;
        parse_records(&body, records)
    }
}

fn dec(v: &Value) -> Decimal {
    v.as_str()
        .and_then(|s| Decimal::from_str(s).ok())
        .unwrap_or_default()
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// Merges one `/admin/records` answer into `records`.
pub fn parse_records(body: &Value, records: &mut VenueRecords) -> anyhow::Result<()> {
    let Some(orders) = body["orders"].as_array() else {
        bail!("records without orders: {body}");
    };
    for o in orders {
        let fills = o["fills"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| VenueFill {
                trade_id: f["tradeId"].as_i64().unwrap_or_default(),
                qty: dec(&f["qty"]),
                price: dec(&f["price"]),
                time: f["time"].as_i64().unwrap_or_default(),
                commission: dec(&f["commission"]),
                commission_asset: text(&f["commissionAsset"]),
            })
            .collect();
        let order = VenueOrder {
            order_id: o["orderId"].as_i64().unwrap_or_default(),
            venue: text(&o["venue"]),
            symbol: text(&o["symbol"]),
            client_order_id: text(&o["clientOrderId"]),
            side: text(&o["side"]),
            status: text(&o["status"]),
            executed_qty: dec(&o["executedQty"]),
            fills,
            received_us: o["receivedUs"].as_i64().unwrap_or_default(),
            matched_us: o["matchedUs"]
                .as_i64()
                .or_else(|| o["receivedUs"].as_i64())
                .unwrap_or_default(),
        };
        records.orders.insert(order.order_id, order);
    }
    records.now = body["now"].as_i64().unwrap_or_default();
    records.next_order_id = body["nextOrderId"].as_i64().unwrap_or(1);
    records.liquidations = body["liquidations"].as_i64().unwrap_or_default();
    let cash = |list: &Value, key: &str, id: &str, amount: &str| -> Vec<CashRecord> {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|r| CashRecord {
                key: text(&r[key]),
                id: r[id].as_i64().unwrap_or_default(),
                amount: dec(&r[amount]),
                time: r["time"].as_i64().unwrap_or_default(),
            })
            .collect()
    };
    records.funding = cash(&body["funding"], "symbol", "tranId", "income");
    records.interest = cash(&body["interest"], "asset", "txId", "interest");
    records.balances = body["balances"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(asset, b)| {
            let balance = AssetBalance {
                spot: dec(&b["spot"]),
                margin: dec(&b["margin"]),
                borrowed: dec(&b["borrowed"]),
                interest: dec(&b["interest"]),
            };
            (asset.clone(), balance)
        })
        .collect();
    records.positions = body["positions"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(symbol, amt)| (symbol.clone(), dec(amt)))
        .collect();
    records.markets = body["markets"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(symbol, m)| (symbol.clone(), (text(&m["base"]), dec(&m["indexPrice"]))))
        .collect();
    Ok(())
}
