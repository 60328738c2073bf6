//! `record` against an in-process fff-sim: one round writes every table, rounds at the same
//! exchange time add nothing, later rounds extend the files, and shutdown stops the loop.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use fff_backtest::{DateRange, load_dataset};
use fff_data::{RecordArgs, Venue, record_with_env};
use fff_sim::SimHandle;

use crate::{DAY, HOUR, SIM_START, no_env, sim_advanced};
use rust_decimal::Decimal;

async fn sim() -> (SimHandle, tempfile::TempDir, PathBuf) {
    sim_advanced(30 * 60_000).await
}

fn args(out: &Path, urls: &Path, symbols: &[&str]) -> RecordArgs {
    RecordArgs {
        out: out.to_path_buf(),
        symbols: symbols.iter().map(|s| s.to_string()).collect(),
        venue: Venue::Sim,
        url: None,
        sim_urls: Some(urls.to_path_buf()),
        interval_secs: 60,
        borrow_interval_secs: 3600,
        backfill_days: 3,
        once: true,
        jobs: 4,
    }
}

/// Data rows of a CSV (header checked).
fn rows(path: &Path, header: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(header), "{}", path.display());
    lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn times(rows: &[Vec<String>]) -> Vec<i64> {
    rows.iter().map(|r| r[1].parse().unwrap()).collect()
}

const OI: &str = "symbol,time,openInterest";
const SPREAD: &str = "symbol,time,perpBidPrice,perpBidQty,perpAskPrice,perpAskQty,spotBidPrice,spotBidQty,spotAskPrice,spotAskQty";
const PREDICTED: &str = "symbol,time,markPrice,indexPrice,estimatedSettlePrice,lastFundingRate,interestRate,nextFundingTime";
const BORROW: &str = "asset,timestamp,dailyInterestRate,vipLevel";

#[tokio::test]
async fn one_round_against_the_simulator_writes_every_table() {
    let (sim, dir, urls) = sim().await;
    let out = dir.path().join("data");
    let pending = std::future::pending::<()>;
    let summary = record_with_env(
        &args(&out, &urls, &["BTCUSDT", "ethusdt"]),
        &no_env,
        pending(),
    )
    .await
    .unwrap();
    assert_eq!(summary.rounds.len(), 1, "{summary}");
    let round = &summary.rounds[0];
    let now = SIM_START + 30 * 60_000;
    assert_eq!(round.time, now);
    assert_eq!(
        (
            round.symbols,
            round.open_interest,
            round.spread,
            round.predicted_funding
        ),
        (2, 2, 2, 2),
        "{summary}"
    );

    let oi = rows(&out.join("open_interest/BTCUSDT.csv"), OI);
    assert_eq!(oi.len(), 1);
    assert_eq!(oi[0][0], "BTCUSDT");
    assert!(oi[0][2].parse::<Decimal>().is_ok(), "{oi:?}");

    let spread = rows(&out.join("spread/ETHUSDT.csv"), SPREAD);
    assert_eq!(times(&spread), [now]);
    let d: Vec<Decimal> = spread[0][2..].iter().map(|v| v.parse().unwrap()).collect();
    assert!(
        d[0] > Decimal::ZERO && d[0] < d[2],
        "perp bid below ask: {spread:?}"
    );
    assert!(
        d[4] > Decimal::ZERO && d[4] < d[6],
        "spot bid below ask: {spread:?}"
    );

    let predicted = rows(&out.join("predicted_funding/BTCUSDT.csv"), PREDICTED);
    assert_eq!(times(&predicted), [now]);
    let expected = sim.with_exchange(|ex| ex.markets["BTCUSDT"].mark_price());
    let mark = predicted[0][2].parse::<Decimal>().unwrap();
    assert!(
        ((mark - expected) / expected).abs() < Decimal::new(1, 4),
        "mark {mark} vs the simulator's {expected}"
    );
    assert!(
        predicted[0][7].parse::<i64>().unwrap() > now,
        "next funding time ahead"
    );

    // Borrow rates: 3 days back-filled, hourly, for the base assets and USDT.
    for asset in ["BTC", "ETH", "USDT"] {
        let b = times(&rows(&out.join(format!("borrow/{asset}.csv")), BORROW));
        assert!(b.len() >= 3 * 24, "{asset}: {} rows", b.len());
        assert!(
            b.windows(2).all(|w| w[1] - w[0] == HOUR),
            "{asset}: hourly, ascending"
        );
        assert!(*b.first().unwrap() >= now - 3 * DAY && *b.last().unwrap() <= now);
    }
    assert!(round.borrow >= 3 * 3 * 24);

    // The borrow files are what the backtester reads.
    std::fs::create_dir_all(out.join("funding")).unwrap();
    std::fs::write(
        out.join("funding/BTCUSDT.csv"),
        format!(
            "symbol,fundingTime,fundingRate,markPrice\nBTCUSDT,{},0.0001,\n",
            SIM_START - DAY
        ),
    )
    .unwrap();
    let range = DateRange::from_dates(
        NaiveDate::from_ymd_opt(2026, 1, 18),
        NaiveDate::from_ymd_opt(2026, 1, 21),
    );
    let data = load_dataset(&out, range).unwrap();
    // Three days make a snapshot (under 30 days): its mean rate, per hour.
    for asset in ["BTC", "ETH", "USDT"] {
        let rate = data.borrow.hourly_rate(asset, SIM_START).unwrap();
        assert!(
            rate > Decimal::ZERO && rate < Decimal::new(1, 2),
            "{asset}: {rate}"
        );
    }
}

#[tokio::test]
async fn restarts_never_duplicate_rows_and_later_rounds_extend_the_files() {
    let (sim, dir, urls) = sim().await;
    let out = dir.path().join("data");
    let a = args(&out, &urls, &["BTCUSDT", "ETHUSDT", "NOPEUSDT"]);
    let first = record_with_env(&a, &no_env, std::future::pending())
        .await
        .unwrap();
    let notes = first.notes.join("\n");
    assert!(notes.contains("NOPEUSDT: not listed"), "{notes}");
    assert!(!out.join("open_interest/NOPEUSDT.csv").exists());
    let borrow_before = rows(&out.join("borrow/BTC.csv"), BORROW).len();

    // Same exchange time: a restart adds nothing.
    let again = record_with_env(&a, &no_env, std::future::pending())
        .await
        .unwrap();
    let r = &again.rounds[0];
    assert_eq!(
        (r.open_interest, r.spread, r.predicted_funding, r.borrow),
        (0, 0, 0, 0),
        "{again}"
    );

    // Two hours later: one more sample each, two more hourly borrow rates per asset.
    sim.advance(2 * HOUR);
    let later = record_with_env(&a, &no_env, std::future::pending())
        .await
        .unwrap();
    let r = &later.rounds[0];
    assert_eq!(
        (r.open_interest, r.spread, r.predicted_funding, r.borrow),
        (2, 2, 2, 3 * 2),
        "{later}"
    );
    for (path, header) in [
        ("open_interest/BTCUSDT.csv", OI),
        ("spread/BTCUSDT.csv", SPREAD),
        ("predicted_funding/ETHUSDT.csv", PREDICTED),
    ] {
        let t = times(&rows(&out.join(path), header));
        assert_eq!(t.len(), 2, "{path}");
        assert_eq!(t[1] - t[0], 2 * HOUR, "{path}");
    }
    let b = times(&rows(&out.join("borrow/BTC.csv"), BORROW));
    assert_eq!(b.len(), borrow_before + 2);
    assert!(b.windows(2).all(|w| w[1] - w[0] == HOUR));

    // A file cut mid-line by a crash is repaired, not duplicated.
    let path = out.join("spread/BTCUSDT.csv");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("BTCUSDT,99");
    std::fs::write(&path, text).unwrap();
    sim.advance(HOUR);
    record_with_env(&a, &no_env, std::future::pending())
        .await
        .unwrap();
    let t = times(&rows(&path, SPREAD));
    assert_eq!(t.len(), 3);
    assert!(t.windows(2).all(|w| w[1] > w[0]));
}

#[tokio::test]
async fn the_collector_stops_on_shutdown() {
    let (_sim, dir, urls) = sim().await;
    let out = dir.path().join("data");
    let mut a = args(&out, &urls, &["BTCUSDT"]);
    a.once = false;
    a.interval_secs = 3600;
    let started = Instant::now();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let stop = async move {
        let _ = rx.await;
    };
    let task = tokio::spawn(async move { record_with_env(&a, &no_env, stop).await });
    // The first round lands (USDT's borrow rates are its last write), then the loop sleeps for
    // an hour: shutdown ends it at once.
    let file = out.join("borrow/USDT.csv");
    while !file.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no first round"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    tx.send(()).unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops promptly")
        .unwrap()
        .unwrap();
    assert_eq!(
        (summary.rounds.len(), summary.failed_rounds),
        (1, 0),
        "{summary}"
    );
}

#[tokio::test]
async fn bad_arguments_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let urls = dir.path().join("missing.json");
    let mut a = args(dir.path(), &urls, &["BTC/USDT"]);
    assert!(
        record_with_env(&a, &no_env, std::future::pending())
            .await
            .is_err()
    );
    a.symbols = vec!["BTCUSDT".into()];
    a.interval_secs = 0;
    assert!(
        record_with_env(&a, &no_env, std::future::pending())
            .await
            .is_err()
    );
    a.interval_secs = 60;
    a.url = Some("127.0.0.1:1".into());
    let err = record_with_env(&a, &no_env, std::future::pending())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not an http(s) URL"), "{err}");
    // A venue that cannot be reached fails a --once round with the cause.
    a.url = Some("http://127.0.0.1:1".into());
    assert!(
        record_with_env(&a, &no_env, std::future::pending())
            .await
            .is_err()
    );
}
