//! HTTP-level fault injection beyond the engine's own knobs (reject, partial fill, borrow):
//! an IP ban storm (every REST call answers 418 while set) and lost order responses (the order
//! is executed, the client gets 503 `-1007` "execution status unknown", as Binance answers when
//! its backend times out). Both are [`FaultConfig`](crate::config::FaultConfig) knobs, set in
//! `[faults]` or with `POST /admin/faults`, and drawn from the fault RNG like the others.

use axum::http::Method;
use axum::response::Response;

use crate::ApiError;
use crate::clock::wall_ms;
use crate::http::{Sim, error_response};

/// While `ban_storm` is set: the 418 every REST call gets, with `Retry-After`
/// (`ban_retry_after_secs`, at least 1 s).
pub fn ban_storm(sim: &Sim) -> Option<Response> {
    let (on, secs) = sim.with(|ex| (ex.faults.ban_storm, ex.faults.ban_retry_after_secs));
    if !on {
        return None;
    }
    let retry_after = secs.max(1);
    let until = wall_ms() + i64::try_from(retry_after).unwrap_or(i64::MAX / 2_000) * 1000;
    let msg = format!(
        "Way too much request weight used; IP banned until {until}. Please use WebSocket Streams for live updates to avoid bans."
    );
    Some(error_response(
        &ApiError::new(418, -1003, msg),
        vec![("Retry-After".into(), retry_after.to_string())],
    ))
}

/// Whether the response to an order placement that was just executed is lost
/// (`unknown_status_rate`); only `POST`s of order endpoints qualify, never cancels or queries.
pub fn lose_order_response(sim: &Sim, method: &Method, is_order: bool) -> bool {
    if !is_order || method != Method::POST {
        return false;
    }
    sim.with(|ex| {
        let rate = ex.faults.unknown_status_rate;
        ex.fault_hit(rate)
    })
}

/// What a client sees when the order's response was lost: Binance's 503 `-1007`.
pub fn unknown_status(headers: Vec<(String, String)>) -> Response {
    error_response(
        &ApiError::new(
            503,
            -1007,
            "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
        ),
        headers,
    )
}

#[cfg(test)]
mod tests {
    use crate::SimConfig;
    use crate::config::FaultConfig;

    #[test]
    fn new_knobs_default_off_and_merge_from_json() {
        let faults = FaultConfig::default();
        assert!(!faults.ban_storm);
        assert!(faults.unknown_status_rate.abs() < f64::EPSILON);
        let parsed: FaultConfig = serde_json::from_str(
            r#"{"ban_storm":true,"ban_retry_after_secs":3,"unknown_status_rate":0.5}"#,
        )
        .unwrap();
        assert!(parsed.ban_storm);
        assert_eq!(parsed.ban_retry_after_secs, 3);
        let cfg: SimConfig = toml::from_str("[faults]\nunknown_status_rate = 0.25\n").unwrap();
        assert!((cfg.faults.unknown_status_rate - 0.25).abs() < f64::EPSILON);
    }
}
