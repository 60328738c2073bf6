//! `pull` against fff-sim: the files load in the backtester, re-runs add nothing, and an
//! interrupted or failed run resumes to exactly what a clean run writes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use fff_backtest::{DateRange, load_dataset};
use fff_data::{PullArgs, Venue, pull_with_env};
use fff_sim::config::{ClockConfig, ClockMode, FaultConfig};
use fff_sim::{SimConfig, SimHandle};

use crate::{DAY, HOUR, SIM_START, no_env, sim_advanced};

const JAN_1: i64 = 1_767_225_600_000;
const FEB_1: i64 = 1_769_904_000_000;

async fn sim() -> (SimHandle, tempfile::TempDir, PathBuf) {
    // The sim starts inside the window (2026-01-20), so the pull spans its synthetic past and
    // what it settled live; run the clock to 2026-02-02 03:00: January is complete.
    sim_advanced(FEB_1 - SIM_START + DAY + 3 * HOUR).await
}

fn args(out: &Path, urls: &Path) -> PullArgs {
    PullArgs {
        symbols: vec!["BTCUSDT".into(), "ethusdt".into()],
        from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
        out: out.to_path_buf(),
        venue: Venue::Sim,
        sim_urls: Some(urls.to_path_buf()),
        source: fff_data::Source::Api,
        archive_url: fff_data::DEFAULT_ARCHIVE_URL.into(),
        rest_url: None,
        jobs: 4,
        retries: 3,
        page_limit: None,
        max_pages: None,
    }
}

/// Every file under `dir`, by relative path.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for sub in ["funding", "spot_1d", "perp_1d", "borrow"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries {
            let e = e.unwrap();
            let name = format!("{sub}/{}", e.file_name().to_string_lossy());
            out.insert(name, std::fs::read_to_string(e.path()).unwrap());
        }
    }
    out
}

fn column(text: &str, col: usize) -> Vec<i64> {
    text.lines()
        .skip(1)
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn pulls_a_month_that_the_backtester_loads() {
    let (sim, dir, urls) = sim().await;
    let out = dir.path().join("data");
    let summary = pull_with_env(&args(&out, &urls), &no_env).await.unwrap();
    assert!(summary.complete, "{summary}");
    assert_eq!(summary.to_ms, FEB_1);
    let files = snapshot(&out);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "borrow/BTC.csv",
            "borrow/ETH.csv",
            "funding/BTCUSDT.csv",
            "funding/ETHUSDT.csv",
            "perp_1d/BTCUSDT.csv",
            "perp_1d/ETHUSDT.csv",
            "spot_1d/BTCUSDT.csv",
            "spot_1d/ETHUSDT.csv"
        ]
    );
    // BTC and ETH settle every 8 h: 93 settlements in January, none missing or doubled.
    let funding = &files["funding/BTCUSDT.csv"];
    assert!(funding.starts_with("symbol,fundingTime,fundingRate,markPrice\n"));
    let times = column(funding, 1);
    assert_eq!(
        times,
        (0..93).map(|i| JAN_1 + i * 8 * HOUR).collect::<Vec<_>>()
    );
    // The live part is what the simulator settled (and paid) on.
    let live = sim.with_exchange(|ex| ex.markets["BTCUSDT"].funding_history.clone());
    let (t, rate, mark) = live[0];
    assert_eq!(t, SIM_START + 8 * HOUR);
    assert!(
        funding.contains(&format!("BTCUSDT,{t},{rate:.8},{mark:.8}\n")),
        "{t}"
    );
    // Daily klines: 31 complete days each, perp with its 9 columns.
    let spot = &files["spot_1d/ETHUSDT.csv"];
    assert_eq!(
        column(spot, 0),
        (0..31).map(|i| JAN_1 + i * DAY).collect::<Vec<_>>()
    );
    let perp = &files["perp_1d/ETHUSDT.csv"];
    assert_eq!(perp.lines().nth(1).unwrap().split(',').count(), 9);
    assert_eq!(column(perp, 8).last(), Some(&(FEB_1 - 1)));
    // Borrow rates: hourly, ascending.
    let borrow = column(&files["borrow/BTC.csv"], 1);
    assert_eq!(borrow.len(), 31 * 24);
    assert!(borrow.windows(2).all(|w| w[1] - w[0] == HOUR));

    let range = DateRange::from_dates(
        NaiveDate::from_ymd_opt(2026, 1, 1),
        NaiveDate::from_ymd_opt(2026, 2, 1),
    );
    let data = load_dataset(&out, range).unwrap();
    let syms: Vec<&str> = data.symbols.iter().map(|s| s.symbol.as_str()).collect();
    assert_eq!(syms, ["BTCUSDT", "ETHUSDT"]);
    for s in &data.symbols {
        assert_eq!(s.funding.len(), 93, "{}", s.symbol);
        assert_eq!((s.spot.len(), s.perp.len(), s.funding_gaps), (31, 31, 0));
        assert!(s.perp.iter().all(|b| b.quote_volume.is_some()));
    }
    assert!(data.borrow.is_history("BTC") && data.borrow.is_history("ETH"));
    let text = summary.to_string();
    assert!(text.contains("from sim into"), "{text}");
    let line =
        "funding/BTCUSDT.csv      +93 rows (93 total, 2026-01-01T00:00Z .. 2026-01-31T16:00Z)";
    assert!(text.contains(line), "{text}");
}

#[tokio::test]
async fn a_second_run_adds_nothing() {
    let (_sim, dir, urls) = sim().await;
    let out = dir.path().join("data");
    let first = pull_with_env(&args(&out, &urls), &no_env).await.unwrap();
    let before = snapshot(&out);
    let second = pull_with_env(&args(&out, &urls), &no_env).await.unwrap();
    assert!(second.complete);
    assert_eq!(second.added(), 0, "{second}");
    assert_eq!(snapshot(&out), before);
    assert_eq!(
        second.files.iter().map(|f| f.rows).sum::<usize>(),
        first.added()
    );
    // A later --to extends the files after their last row.
    let mut more = args(&out, &urls);
    more.to = NaiveDate::from_ymd_opt(2026, 2, 2).unwrap();
    let third = pull_with_env(&more, &no_env).await.unwrap();
    let btc = third
        .files
        .iter()
        .find(|f| f.path.ends_with("funding/BTCUSDT.csv"))
        .unwrap();
    assert_eq!((btc.added, btc.rows), (3, 96));
    let spot = third
        .files
        .iter()
        .find(|f| f.path.ends_with("spot_1d/BTCUSDT.csv"))
        .unwrap();
    assert_eq!((spot.added, spot.last), (1, Some(FEB_1)));
}

#[tokio::test]
async fn interrupted_and_failed_runs_resume_to_a_clean_pull() {
    let (sim, dir, urls) = sim().await;
    let clean = dir.path().join("clean");
    pull_with_env(&args(&clean, &urls), &no_env).await.unwrap();

    let out = dir.path().join("resumed");
    let mut small = args(&out, &urls);
    small.page_limit = Some(7);
    small.max_pages = Some(5);
    let cut = pull_with_env(&small, &no_env).await.unwrap();
    assert!(!cut.complete && cut.pages == 5, "{cut}");
    let partial = snapshot(&out);
    let rows = column(&partial["funding/BTCUSDT.csv"], 1);
    assert_eq!(rows.len(), 35, "5 pages of 7 rows, each committed");

    // The exchange fails mid-way: nothing already written is damaged.
    sim.set_faults(FaultConfig {
        rate_limit_storm: true,
        ..FaultConfig::default()
    });
    small.max_pages = None;
    let err = pull_with_env(&small, &no_env).await.unwrap_err();
    assert!(err.to_string().contains("rate limited"), "{err}");
    assert_eq!(snapshot(&out), partial);

    sim.set_faults(FaultConfig::default());
    let done = pull_with_env(&small, &no_env).await.unwrap();
    assert!(done.complete, "{done}");
    assert_eq!(snapshot(&out), snapshot(&clean));
}

#[tokio::test]
async fn an_earlier_from_is_reported_not_back_filled() {
    let (_sim, dir, urls) = sim().await;
    let out = dir.path().join("data");
    let mut late = args(&out, &urls);
    late.symbols = vec!["SOLUSDT".into()];
    late.from = NaiveDate::from_ymd_opt(2026, 1, 10).unwrap();
    pull_with_env(&late, &no_env).await.unwrap();
    late.from = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let again = pull_with_env(&late, &no_env).await.unwrap();
    assert_eq!(again.added(), 0);
    let notes = again.notes.join("\n");
    assert!(
        notes.contains("funding/SOLUSDT.csv starts at 2026-01-10T00:00Z"),
        "{notes}"
    );
    assert!(notes.contains("not back-filled"));
    // A symbol the venue does not list is skipped with a note, the others still pulled.
    late.symbols = vec!["NOPEUSDT".into(), "SOLUSDT".into()];
    let mixed = pull_with_env(&late, &no_env).await.unwrap();
    assert!(mixed.complete);
    assert!(
        mixed
            .notes
            .iter()
            .any(|n| n.starts_with("funding/NOPEUSDT: not listed")),
        "{mixed}"
    );
    assert!(
        mixed
            .notes
            .iter()
            .any(|n| n.starts_with("borrow/NOPE: not listed")),
        "{mixed}"
    );
    assert!(!out.join("funding/NOPEUSDT.csv").exists());
    assert!(!out.join("borrow/NOPE.csv").exists());
}

/// A replaying simulator serves its replayed history before its start: a pull returns the
/// replayed funding rows and daily closes unchanged.
#[tokio::test]
async fn pulls_replayed_history_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let replay = dir.path().join("replay");
    std::fs::create_dir_all(replay.join("funding")).unwrap();
    std::fs::create_dir_all(replay.join("spot_1d")).unwrap();
    let mut funding = String::from("symbol,fundingTime,fundingRate,markPrice\n");
    let mut expect_funding = Vec::new();
    for i in 0..93i64 {
        // Stamped a few ms after the hour, like Binance; rates of both signs.
        let t = JAN_1 + i * 8 * HOUR + 3;
        let rate = format!("{:.8}", (i % 7 - 2) as f64 * 0.00003);
        funding.push_str(&format!("BTCUSDT,{t},{rate},\n"));
        expect_funding.push((t, rate));
    }
    std::fs::write(replay.join("funding/BTCUSDT.csv"), funding).unwrap();
    let mut spot = String::from("openTime,open,high,low,close,volume\n");
    let closes: Vec<String> = (0..31)
        .map(|i| format!("{}.50", 90_000 + i * 137))
        .collect();
    for (i, c) in closes.iter().enumerate() {
        spot.push_str(&format!("{},1,1,1,{c},1\n", JAN_1 + i as i64 * DAY));
    }
    std::fs::write(replay.join("spot_1d/BTCUSDT.csv"), spot).unwrap();
    let cfg = SimConfig {
        clock: ClockConfig {
            mode: ClockMode::Manual,
            speed: 1.0,
            start_ms: Some(FEB_1 + DAY),
        },
        replay_dir: Some(replay),
        ..SimConfig::default()
    };
    let sim = fff_sim::spawn(cfg).await.unwrap();
    let urls = dir.path().join("urls.json");
    std::fs::write(&urls, serde_json::to_string(&sim.urls).unwrap()).unwrap();
    let out = dir.path().join("data");
    let mut a = args(&out, &urls);
    a.symbols = vec!["BTCUSDT".into()];
    let summary = pull_with_env(&a, &no_env).await.unwrap();
    assert!(summary.complete, "{summary}");
    let files = snapshot(&out);
    let got: Vec<(i64, String)> = files["funding/BTCUSDT.csv"]
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert!(
                f[3].parse::<f64>().unwrap() > 1000.0,
                "a mark price is filled in: {l}"
            );
            (f[1].parse().unwrap(), f[2].to_string())
        })
        .collect();
    assert_eq!(got, expect_funding);
    let spot_closes: Vec<String> = files["spot_1d/BTCUSDT.csv"]
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .nth(4)
                .unwrap()
                .parse::<rust_decimal::Decimal>()
                .unwrap()
                .normalize()
                .to_string()
        })
        .collect();
    let expect: Vec<String> = closes
        .iter()
        .map(|c| c.trim_end_matches('0').to_string())
        .collect();
    assert_eq!(spot_closes, expect);
}
