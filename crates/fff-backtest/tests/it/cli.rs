//! The CLI entry point end to end on a generated data directory.

use std::path::Path;

use fff_backtest::{BacktestArgs, run};

fn write_market(dir: &Path) {
    let funding = dir.join("funding");
    let perp = dir.join("perp_1d");
    let spot = dir.join("spot_1d");
    std::fs::create_dir_all(&funding).unwrap();
    std::fs::create_dir_all(&perp).unwrap();
    std::fs::create_dir_all(&spot).unwrap();
    let start = 1_704_067_200_000i64; // 2024-01-01
    for (name, interval, rate) in [("BTCUSDT", 8, "0.0003"), ("ETHUSDT", 4, "0.0002")] {
        let mut text = String::from("symbol,fundingTime,fundingRate,markPrice\n");
        for i in 0..(60 * 24 / interval) {
            text.push_str(&format!(
                "{name},{},{rate},\n",
                start + i * interval * 3_600_000
            ));
        }
        std::fs::write(funding.join(format!("{name}.csv")), text).unwrap();
        let mut bars =
            String::from("openTime,open,high,low,close,volume,quoteVolume,count,closeTime\n");
        let mut spot_bars = String::from("openTime,open,high,low,close,volume\n");
        for d in 0..60 {
            let close = 100 + d;
            let open = start + d * 86_400_000;
            bars.push_str(&format!(
                "{open},{close},{},{},{close},1,900000000,1,0\n",
                close + 1,
                close - 1
            ));
            spot_bars.push_str(&format!(
                "{open},{close},{},{},{close},1\n",
                close + 1,
                close - 1
            ));
        }
        std::fs::write(perp.join(format!("{name}.csv")), bars).unwrap();
        std::fs::write(spot.join(format!("{name}.csv")), spot_bars).unwrap();
    }
}

fn args(data: &Path, out: &Path) -> BacktestArgs {
    BacktestArgs {
        data: data.to_path_buf(),
        out: out.to_path_buf(),
        from: None,
        to: None,
        config: None,
        set: vec![
            "backtest.borrow_daily_rate={ BTC = 0.0001, ETH = 0.0001 }"
                .parse()
                .unwrap(),
        ],
        grid: Vec::new(),
        split: None,
        assume_spot_markets: false,
        assume_borrowable: false,
        borrow_multiplier: None,
        walk_forward: None,
        no_progress: true,
    }
}

#[test]
fn single_run_writes_metrics_report_and_charts() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    write_market(data.path());
    let mut a = args(data.path(), out.path());
    a.split = Some("2024-02-01".parse().unwrap());
    let summary = run(&a).unwrap();
    assert_eq!(summary.metrics.len(), 4);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("metrics.json")).unwrap())
            .unwrap();
    for key in [
        "max_notional_to_equity",
        "min_futures_margin_coverage",
        "min_margin_level",
        "transfers",
        "transferred_usdt",
        "usdt_interest",
        "annual_return",
        "sharpe",
        "sortino",
        "max_drawdown",
        "worst_month_drawdown",
        "capital_utilization",
        "win_rate",
        "avg_daily_return",
        "funding_income",
        "borrow_cost",
        "fees",
        "turnover",
        "trades",
        "per_year",
    ] {
        assert!(
            json["strategy"].get(key).is_some(),
            "metrics.json lacks {key}"
        );
    }
    assert_eq!(json["baselines"].as_array().unwrap().len(), 3);
    assert_eq!(json["split"].as_array().unwrap().len(), 2);
    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(report.contains("## Per-pair contribution"));
    assert!(report.contains("In-sample vs out-of-sample"));
    for chart in ["equity.svg", "drawdown.svg", "utilization.svg"] {
        let svg = std::fs::read_to_string(out.path().join(chart)).unwrap();
        assert!(svg.starts_with("<svg"), "{chart}");
    }
}

#[test]
fn grid_writes_one_row_per_combination_and_period() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    write_market(data.path());
    let mut a = args(data.path(), out.path());
    a.grid = vec![
        "capital.leverage=3,5".parse().unwrap(),
        "backtest.slippage=0,0.001".parse().unwrap(),
    ];
    a.split = Some("2024-02-01".parse().unwrap());
    let summary = run(&a).unwrap();
    assert_eq!(summary.grid_rows, 8);
    let text = std::fs::read_to_string(out.path().join("grid.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 9);
    assert!(lines[0].starts_with("capital.leverage,backtest.slippage,period"));
    assert!(lines[1].starts_with("3,0,in_sample"));
    assert!(lines[2].starts_with("3,0,out_of_sample"));
}

#[test]
fn bad_override_is_a_config_error() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    write_market(data.path());
    let mut a = args(data.path(), out.path());
    a.set.push("capital.leverage=500".parse().unwrap());
    let error = run(&a).unwrap_err().to_string();
    assert!(error.contains("capital.leverage"), "{error}");
}

#[test]
fn config_file_sections_are_read_and_others_ignored() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    write_market(data.path());
    let config = data.path().join("fff.toml");
    std::fs::write(
        &config,
        "[gateway]\nlisten = \"0.0.0.0:1\"\n\n[capital]\nleverage = 3\n\n\
         [backtest]\ninitial_capital = 50000\nborrow_daily_rate = { BTC = 0.0002 }\n",
    )
    .unwrap();
    let mut a = args(data.path(), out.path());
    a.set.clear();
    a.config = Some(config);
    a.set.push("capital.max_pair_fraction=0.2".parse().unwrap());
    let summary = run(&a).unwrap();
    assert_eq!(
        summary.metrics[0].initial_equity,
        rust_decimal::Decimal::from(50_000)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("metrics.json")).unwrap())
            .unwrap();
    assert_eq!(json["config"]["capital"]["leverage"], "3");
    assert_eq!(json["config"]["capital"]["max_pair_fraction"], "0.2");
    assert_eq!(
        json["config"]["backtest"]["borrow_daily_rate"]["BTC"],
        "0.0002"
    );
}

#[test]
fn assume_spot_markets_flag_is_applied_and_stated() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    write_market(data.path());
    // ETH loses its spot klines: without the flag only BTC is traded.
    std::fs::remove_file(data.path().join("spot_1d/ETHUSDT.csv")).unwrap();
    let plain = run(&args(data.path(), out.path())).unwrap();
    let trades = std::fs::read_to_string(out.path().join("trades.csv")).unwrap();
    assert!(trades.starts_with("time,symbol,kind,direction,qty_delta,notional,cost\n"));
    assert!(
        trades.contains("BTCUSDT") && !trades.contains("ETHUSDT"),
        "{trades}"
    );
    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(report.contains("Spot-market evidence"), "{report}");
    assert!(plain.metrics[0].max_notional_to_equity <= 0.70);

    let mut a = args(data.path(), out.path());
    a.assume_spot_markets = true;
    run(&a).unwrap();
    let trades = std::fs::read_to_string(out.path().join("trades.csv")).unwrap();
    assert!(trades.contains("ETHUSDT"), "{trades}");
    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(report.contains("**ASSUMED**"), "{report}");
    assert!(report.contains("--assume-spot-markets"), "{report}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("metrics.json")).unwrap())
            .unwrap();
    assert_eq!(json["config"]["backtest"]["assume_spot_markets"], true);
}
