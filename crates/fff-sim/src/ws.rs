//! WebSocket routes: market streams (spot unrouted, futures /public /market /private), user
//! data by listenKey, and the WebSocket API (`/ws-api/v3`).

pub mod api;
pub mod streams;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use crate::engine::{Channel, KeyKind};
use crate::http::Sim;
use streams::Route;

pub fn routes() -> axum::Router<Arc<Sim>> {
    let mut r = axum::Router::new()
        .route("/ws-api/v3", get(api::upgrade))
        .route(
            "/ws",
            get(|s, ws, q| raw(s, ws, q, Route::Unrouted, String::new())),
        )
        .route(
            "/ws/{*path}",
            get(|s, ws, q, Path(p): Path<String>| raw(s, ws, q, Route::Unrouted, p)),
        )
        .route(
            "/stream",
            get(|s, ws, q| combined(s, ws, q, Route::Unrouted)),
        );
    for (prefix, route) in [
        ("/public", Route::Public),
        ("/market", Route::Market),
        ("/private", Route::Private),
    ] {
        r = r
            .route(
                &format!("{prefix}/ws"),
                get(move |s, ws, q| raw(s, ws, q, route, String::new())),
            )
            .route(
                &format!("{prefix}/ws/{{*path}}"),
                get(move |s, ws, q, Path(p): Path<String>| raw(s, ws, q, route, p)),
            )
            .route(
                &format!("{prefix}/stream"),
                get(move |s, ws, q| combined(s, ws, q, route)),
            );
    }
    r
}

async fn raw(
    State(sim): State<Arc<Sim>>,
    ws: WebSocketUpgrade,
    RawQuery(q): RawQuery,
    route: Route,
    path: String,
) -> Response {
    let mut streams: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    streams.extend(listen_keys_in_query(q.as_deref()));
    ws.on_upgrade(move |socket| serve(sim, socket, route, false, streams))
}

async fn combined(
    State(sim): State<Arc<Sim>>,
    ws: WebSocketUpgrade,
    RawQuery(q): RawQuery,
    route: Route,
) -> Response {
    let params = crate::http::params::parse_pairs(q.as_deref().unwrap_or(""));
    let mut streams: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "streams")
        .flat_map(|(_, v)| v.split('/').map(str::to_string).collect::<Vec<_>>())
        .collect();
    streams.extend(listen_keys_in_query(q.as_deref()));
    ws.on_upgrade(move |socket| serve(sim, socket, route, true, streams))
}

fn listen_keys_in_query(q: Option<&str>) -> Vec<String> {
    crate::http::params::parse_pairs(q.unwrap_or(""))
        .into_iter()
        .filter(|(k, _)| k == "listenKey")
        .map(|(_, v)| v)
        .collect()
}

/// Splits requested names into market streams and listenKeys valid on this route.
fn classify(
    sim: &Sim,
    route: Route,
    names: &[String],
) -> (BTreeSet<String>, HashMap<String, (usize, Channel)>) {
    let mut market = BTreeSet::new();
    let mut keys = HashMap::new();
    sim.with(|ex| {
        for n in names {
            match ex.listen_keys.get(n) {
                Some((acct, KeyKind::Futures, _)) if route == Route::Private => {
                    keys.insert(n.clone(), (*acct, Channel::Futures));
                }
                Some((acct, KeyKind::MarginRisk, _)) if route == Route::Unrouted => {
                    keys.insert(n.clone(), (*acct, Channel::MarginRisk));
                }
                _ => {
                    if streams::served(route, n) {
                        market.insert(n.clone());
                    }
                }
            }
        }
    });
    (market, keys)
}

async fn send(socket: &mut WebSocket, v: &Value) -> bool {
    socket
        .send(Message::Text(v.to_string().into()))
        .await
        .is_ok()
}

fn wrap(combined: bool, stream: &str, data: Value) -> Value {
    if combined {
        json!({"stream": stream, "data": data})
    } else {
        data
    }
}

async fn serve(
    sim: Arc<Sim>,
    mut socket: WebSocket,
    route: Route,
    mut combined: bool,
    names: Vec<String>,
) {
    let (mut market, mut keys) = classify(&sim, route, &names);
    let mut requested: BTreeSet<String> = names.into_iter().collect();
    let mut events = sim.events.subscribe();
    let mut moves = sim.book_moves.subscribe();
    let mut kick = sim.ws_kick.subscribe();
    let period = sim.with(|ex| ex.cfg.market.stream_ms).max(50);
    let disconnect_every = sim.with(|ex| ex.faults.ws_disconnect_every_secs);
    let deadline = (disconnect_every > 0)
        .then(|| tokio::time::Instant::now() + Duration::from_secs(disconnect_every));
    let mut tick = tokio::time::interval(Duration::from_millis(period));
    let mut ping = tokio::time::interval(Duration::from_secs(if route == Route::Unrouted {
        20
    } else {
        180
    }));
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                n += 1;
                let batch: Vec<(String, Value)> = sim.with(|ex| {
                    let mut out = Vec::new();
                    for s in &market {
                        if streams::slow(s) && n % 3 != 1 { continue; }
                        if s == "!bookTicker" {
                            out.extend(streams::all_book_tickers(ex).into_iter().map(|v| (s.clone(), v)));
                        } else if let Some(v) = streams::payload(ex, route, s) {
                            out.push((s.clone(), v));
                        }
                    }
                    out
                });
                for (s, v) in batch {
                    if !send(&mut socket, &wrap(combined, &s, v)).await { return; }
                }
            }
            moved = moves.recv() => {
                let Ok(moved) = moved else { continue };
                let batch = sim.with(|ex| streams::moved_book_tickers(ex, route, &market, &moved));
                for (s, v) in batch {
                    if !send(&mut socket, &wrap(combined, &s, v)).await { return; }
                }
            }
            ev = events.recv() => {
                let Ok(ev) = ev else { continue };
                let hits: Vec<String> = keys.iter().filter(|(_, (a, ch))| *a == ev.account && *ch == ev.channel).map(|(k, _)| k.clone()).collect();
                for k in hits {
                    if ev.payload["e"] == "listenKeyExpired" && ev.payload["listenKey"] != k.as_str() { continue; }
                    if !send(&mut socket, &wrap(combined, &k, ev.payload.clone())).await { return; }
                    if ev.payload["e"] == "listenKeyExpired" { keys.remove(&k); }
                }
            }
            msg = socket.recv() => {
                let Some(Ok(msg)) = msg else { return };
                if let Message::Text(t) = msg {
                    let reply = control(&sim, route, &t, &mut requested, &mut combined);
                    (market, keys) = classify(&sim, route, &requested.iter().cloned().collect::<Vec<_>>());
                    if let Some(r) = reply && !send(&mut socket, &r).await { return; }
                }
            }
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() { return; }
            }
            _ = kick.changed() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
        }
    }
}

/// SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY / GET_PROPERTY.
fn control(
    _sim: &Sim,
    _route: Route,
    text: &str,
    subs: &mut BTreeSet<String>,
    combined: &mut bool,
) -> Option<Value> {
    let Ok(req) = serde_json::from_str::<Value>(text) else {
        return Some(
            json!({"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}}),
        );
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let params: Vec<String> = req
        .get("params")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    match req.get("method").and_then(Value::as_str) {
        Some("SUBSCRIBE") => {
            subs.extend(params);
            Some(json!({"result": null, "id": id}))
        }
        Some("UNSUBSCRIBE") => {
            for p in params {
                subs.remove(&p);
            }
            Some(json!({"result": null, "id": id}))
        }
        Some("LIST_SUBSCRIPTIONS") => {
            Some(json!({"result": subs.iter().collect::<Vec<_>>(), "id": id}))
        }
        Some("SET_PROPERTY") => {
            let p = req
                .get("params")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            match (
                p.first().and_then(Value::as_str),
                p.get(1).and_then(Value::as_bool),
            ) {
                (Some("combined"), Some(b)) => {
                    *combined = b;
                    Some(json!({"result": null, "id": id}))
                }
                (Some("combined"), None) => Some(
                    json!({"error": {"code": 1, "msg": "Invalid value type: expected Boolean"}, "id": id}),
                ),
                _ => Some(json!({"error": {"code": 0, "msg": "Unknown property"}, "id": id})),
            }
        }
        Some("GET_PROPERTY") => Some(json!({"result": *combined, "id": id})),
        _ => {
            Some(json!({"error": {"code": 2, "msg": "Invalid request: unknown method"}, "id": id}))
        }
    }
}
