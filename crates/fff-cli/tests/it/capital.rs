//! The capital model on the simulator with the shipped configuration (`fff up`, no capital
//! overrides): the suite deploys at least 80 % of equity in capital (both legs paid for),
//! risk stays GREEN, the cross-margin level stays at or above 2, no USDT is borrowed and no
//! hedge is rejected for balance or borrow limits. Then 15 % price shocks against two held
//! pairs' perps: transfers keep both wallets above Yellow, nothing is liquidated and the hedges stay within
//! the drift band.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::up::{Suite, start_suite};

fn decimal(value: &Value) -> Option<f64> {
    value.as_str().and_then(|s| s.parse().ok())
}

/// Risk GREEN, margin level >= 2 (or no loans), futures coverage above Yellow; panics with
/// the whole status otherwise.
fn assert_healthy(status: &Value, when: &str) {
    let risk = &status["risk"];
    assert_eq!(risk["tier"], "GREEN", "{when}: {status:#}");
    if let Some(level) = decimal(&risk["cross_margin_level"]) {
        assert!(level >= 2.0, "{when}: margin level {level}: {status:#}");
    }
    if let Some(coverage) = decimal(&risk["futures_margin_coverage"]) {
        assert!(
            coverage > 5.0,
            "{when}: futures coverage {coverage}: {status:#}"
        );
    }
}

fn sim_state(suite: &Suite) -> Value {
    let url = format!("{}/admin/state?account=fff-paper-key", suite.sim);
    let out = std::process::Command::new("curl")
        .args(["-sf", &url])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

fn shock(suite: &Suite, symbol: &str, pct: &str) {
    let body = format!(r#"{{"symbol":"{symbol}","pct":"{pct}"}}"#);
    let status = std::process::Command::new("curl")
        .args([
            "-sf",
            "-o",
            "/dev/null",
            "-XPOST",
            "-H",
            "content-type: application/json",
            "-d",
            &body,
        ])
        .arg(format!("{}/admin/shock", suite.sim))
        .status()
        .unwrap();
    assert!(status.success(), "shock {symbol} {pct}");
}

fn assert_no_usdt_loan(suite: &Suite) {
    let state = sim_state(suite);
    let borrowed = decimal(&state["margin"]["USDT"]["borrowed"]).unwrap_or(0.0);
    assert!(borrowed == 0.0, "USDT borrowed in cross margin: {state:#}");
    assert_eq!(state["liquidations"], 0, "liquidated: {state:#}");
}

#[test]
fn default_config_deploys_over_80_percent_with_both_legs_paid_and_survives_shocks() {
    let mut suite = start_suite("60");
    let started = Instant::now();
    let status = loop {
        assert!(
            suite.up.child.try_wait().unwrap().is_none(),
            "fff up exited early; logs in {}",
            suite.dir.path().join(".fff/logs").display()
        );
        // risk reports no tier until its first account snapshot
        if let Some(status) = suite.status()
            && status["risk"]["tier"]
                .as_str()
                .is_some_and(|t| t != "UNSPECIFIED")
        {
            assert_healthy(&status, "while deploying");
            let utilization = decimal(&status["risk"]["utilization"]).unwrap_or(0.0);
            if utilization >= 0.80 {
                break status;
            }
        }
        // alone this takes about a minute; under the whole suite on two cores top-ups of
        // entries the slippage guard paused come slowly (once 0.71 at 4 minutes, DOGE at 27 k of
        // its 73 k target)
        assert!(
            started.elapsed() < Duration::from_secs(480),
            "utilisation below 0.80 after 8 minutes: {:#}",
            suite.status().unwrap_or(Value::Null)
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    // the executor reports the same utilisation as risk (both from fff-core's capital model)
    // once the entries under way have recorded their legs: risk reads the venue's account,
    // which shows a slice's fill before the executor's books do (CI 2026-12-05: 0.59 vs 0.81
    // in the middle of the last entries)
    let views = |status: &Value| {
        (
            decimal(&status["allocation"]["utilization"]).unwrap(),
            decimal(&status["risk"]["utilization"]).unwrap(),
        )
    };
    let settle_by = Instant::now() + Duration::from_secs(30);
    let mut status = status;
    while (views(&status).0 - views(&status).1).abs() >= 0.02 && Instant::now() < settle_by {
        std::thread::sleep(Duration::from_secs(1));
        if let Some(next) = suite.status() {
            status = next;
        }
    }
    let (executor_view, risk_view) = views(&status);
    assert!(
        (executor_view - risk_view).abs() < 0.02,
        "executor {executor_view} vs risk {risk_view}"
    );
    for wallet in ["spot_side_equity", "futures_margin_balance"] {
        assert!(
            decimal(&status["risk"][wallet]).unwrap_or(0.0) > 0.0,
            "{wallet}: {status:#}"
        );
    }
    assert_no_usdt_loan(&suite);
    let executor_log = suite.log("executor");
    for refusal in [
        "-2010",
        "-3045",
        "insufficient",
        "spot leg needs",
        "futures wallet has",
    ] {
        assert!(
            !executor_log.contains(refusal),
            "a hedge was refused for balance or borrow ({refusal}); see {}",
            suite.dir.path().join(".fff/logs/executor.log").display()
        );
    }

    // 15 % against the perp leg of two held pairs (perp and spot move together): up for a
    // short perp, down for a long one, so the futures wallet loses on both and only a transfer
    // from the spot side refills it (shocks in the perps' favour need none, and which pairs are
    // held first depends on the machine's speed)
    let positions = status["positions"].as_array().cloned().unwrap_or_default();
    assert!(positions.len() >= 2, "{status:#}");
    for p in &positions[..2] {
        let symbol = p["symbol"].as_str().unwrap();
        let against_the_perp = if p["direction"] == "short spot/long perp" {
            "-15"
        } else {
            "15"
        };
        shock(&suite, symbol, against_the_perp);
    }
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(20) {
        if let Some(status) = suite.status()
            && status["risk"]["tier"]
                .as_str()
                .is_some_and(|t| t != "UNSPECIFIED")
        {
            assert_healthy(&status, "after the shocks");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let after = suite.status().unwrap();
    assert_healthy(&after, "20 s after the shocks");
    assert_no_usdt_loan(&suite);
    for p in after["positions"].as_array().unwrap() {
        let drift = decimal(&p["drift"]).unwrap_or(0.0);
        assert!(drift.abs() <= 0.03, "drift beyond the band: {p:#}");
    }
    // the keeper looks every 2 s at an account view up to 3 s old; on a loaded machine (the
    // whole suite on two cores) its transfer can come after the 20 s above
    let waited = Instant::now();
    while !suite.log("executor").contains("wallet transfer")
        && waited.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        suite.log("executor").contains("wallet transfer"),
        "no transfer between the wallets"
    );
}
