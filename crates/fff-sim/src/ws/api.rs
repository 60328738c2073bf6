//! WebSocket API (`/ws-api/v3`): `ping`, `time`, `userDataStream.subscribe.signature` (spot
//! account), `userDataStream.subscribe.listenToken` (cross margin), unsubscribe, subscriptions.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::{Value, json};

use crate::ApiError;
use crate::clock::wall_ms;
use crate::engine::{Channel, KeyKind};
use crate::http::{Sim, check_timestamp, hmac_hex};

pub async fn upgrade(State(sim): State<Arc<Sim>>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| serve(sim, socket))
}

struct Sub {
    account: usize,
    channel: Channel,
    /// listenToken subscriptions end at this simulated time.
    expires: Option<i64>,
}

fn ok(id: &Value, result: Value) -> Value {
    json!({"id": id, "status": 200, "result": result, "rateLimits": []})
}

fn err(id: &Value, e: &ApiError) -> Value {
    json!({"id": id, "status": e.status, "error": {"code": e.code, "msg": e.msg}, "rateLimits": []})
}

/// Signature over params sorted by name, `signature` excluded (WS API rule).
fn verify_signature(sim: &Sim, params: &serde_json::Map<String, Value>) -> Result<usize, ApiError> {
    let key = params
        .get("apiKey")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::mandatory("apiKey"))?;
    let int = |k: &str| {
        params.get(k).and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
    };
    let ts = int("timestamp").ok_or_else(|| ApiError::mandatory("timestamp"))?;
    let recv = int("recvWindow").unwrap_or(5000);
    let sig = params
        .get("signature")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::mandatory("signature"))?;
    let (account, secret, skew) = sim.with(|ex| {
        ex.account_by_key(key)
            .map(|a| {
                (
                    a,
                    ex.accounts[a].secret().to_string(),
                    ex.faults.clock_skew_ms,
                )
            })
            .ok_or_else(ApiError::bad_key)
    })?;
    check_timestamp(ts, recv, sim.server_time(), wall_ms() + skew)?;
    let sorted: BTreeMap<&String, &Value> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "signature")
        .collect();
    let payload = sorted
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    if !hmac_hex(&secret, &payload).eq_ignore_ascii_case(sig) {
        return Err(ApiError::bad_signature());
    }
    Ok(account)
}

async fn send(socket: &mut WebSocket, v: &Value) -> bool {
    socket
        .send(Message::Text(v.to_string().into()))
        .await
        .is_ok()
}

async fn serve(sim: Arc<Sim>, mut socket: WebSocket) {
    let mut subs: BTreeMap<u64, Sub> = BTreeMap::new();
    let mut next_sub: u64 = 0;
    let mut events = sim.events.subscribe();
    let mut kick = sim.ws_kick.subscribe();
    let mut expiry = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tokio::select! {
            ev = events.recv() => {
                let Ok(ev) = ev else { continue };
                let ids: Vec<u64> = subs.iter().filter(|(_, s)| s.account == ev.account && s.channel == ev.channel).map(|(i, _)| *i).collect();
                for id in ids {
                    if !send(&mut socket, &json!({"subscriptionId": id, "event": ev.payload})).await { return; }
                }
            }
            _ = expiry.tick() => {
                let now = wall_ms();
                let ended: Vec<u64> = subs.iter().filter(|(_, s)| s.expires.is_some_and(|e| e <= now)).map(|(i, _)| *i).collect();
                for id in ended {
                    subs.remove(&id);
                    if !send(&mut socket, &json!({"subscriptionId": id, "event": {"e": "eventStreamTerminated", "E": sim.clock.now_ms()}})).await { return; }
                }
            }
            msg = socket.recv() => {
                let Some(Ok(msg)) = msg else { return };
                let Message::Text(t) = msg else { continue };
                let Ok(req) = serde_json::from_str::<Value>(&t) else {
                    let _ = send(&mut socket, &err(&Value::Null, &ApiError::bad(-1100, "Illegal characters found in a parameter."))).await;
                    continue;
                };
                let id = req.get("id").cloned().unwrap_or(Value::Null);
                let method = req.get("method").and_then(Value::as_str).unwrap_or("").trim_start_matches("v3/").to_string();
                let params = req.get("params").and_then(Value::as_object).cloned().unwrap_or_default();
                let reply = match method.as_str() {
                    "ping" => ok(&id, json!({})),
                    "time" => ok(&id, json!({"serverTime": sim.server_time()})),
                    "userDataStream.subscribe.signature" => match verify_signature(&sim, &params) {
                        Ok(account) if subs.values().any(|s| s.account == account && s.channel == Channel::Spot) => {
                            err(&id, &ApiError::bad(-1210, "This account is already subscribed on this connection."))
                        }
                        Ok(account) => {
                            let sid = next_sub;
                            next_sub += 1;
                            subs.insert(sid, Sub { account, channel: Channel::Spot, expires: None });
                            ok(&id, json!({"subscriptionId": sid}))
                        }
                        Err(e) => err(&id, &e),
                    },
                    "userDataStream.subscribe.listenToken" => {
                        let token = params.get("listenToken").and_then(Value::as_str).unwrap_or("");
                        match sim.with(|ex| ex.listen_keys.get(token).copied()) {
                            Some((account, KeyKind::ListenToken, exp)) => {
                                let sid = next_sub;
                                next_sub += 1;
                                subs.insert(sid, Sub { account, channel: Channel::Margin, expires: Some(exp) });
                                ok(&id, json!({"subscriptionId": sid, "expirationTime": exp}))
                            }
                            _ => err(&id, &ApiError::bad(-1209, "Invalid listenToken.")),
                        }
                    }
                    "userDataStream.unsubscribe" => {
                        match params.get("subscriptionId").and_then(Value::as_u64) {
                            Some(s) => { subs.remove(&s); }
                            None => subs.clear(),
                        }
                        ok(&id, json!({}))
                    }
                    "session.subscriptions" => ok(&id, Value::Array(subs.keys().map(|k| json!({"subscriptionId": k})).collect())),
                    _ => err(&id, &ApiError::bad(-1020, "This operation is not supported.")),
                };
                if !send(&mut socket, &reply).await { return; }
            }
            _ = kick.changed() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
        }
    }
}
