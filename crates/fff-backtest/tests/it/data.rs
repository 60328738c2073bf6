//! Loading: both funding layouts, both kline layouts, precise errors.

use std::path::Path;

use fff_backtest::{DateRange, Error, load_dataset};
use rust_decimal_macros::dec;

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn malformed_cell_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "funding/BTCUSDT.csv",
        "symbol,fundingTime,fundingRate,markPrice\n\
         BTCUSDT,1704067200000,0.0001,42000\n\
         BTCUSDT,1704096000000,0.0001x,42000\n",
    );
    let error = load_dataset(dir.path(), DateRange::default()).unwrap_err();
    let Error::Malformed {
        path, line, column, ..
    } = &error
    else {
        panic!("expected a malformed-data error, got {error}");
    };
    assert!(path.ends_with("funding/BTCUSDT.csv"));
    assert_eq!((*line, *column), (3, 3));
    let message = error.to_string();
    assert!(message.contains("BTCUSDT.csv:3:3"), "{message}");
    assert!(message.contains("0.0001x"), "{message}");
}

#[test]
fn malformed_kline_timestamp_is_located() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "funding/ETHUSDT.csv",
        "symbol,fundingTime,fundingRate,markPrice\nETHUSDT,1704067200000,0.0001,\n",
    );
    write(
        dir.path(),
        "spot_1d/ETHUSDT.csv",
        "openTime,open,high,low,close,volume\n1704067200000,1,1,1,2300.5,10\nyesterday,1,1,1,2301,10\n",
    );
    let message = load_dataset(dir.path(), DateRange::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("spot_1d/ETHUSDT.csv:3:1"), "{message}");
}

#[test]
fn binance_bulk_funding_and_kline_files_parse_and_merge() {
    let dir = tempfile::tempdir().unwrap();
    // data.binance.vision monthly funding files, one per month, merged per symbol.
    write(
        dir.path(),
        "funding/BTCUSDT-fundingRate-2024-01.csv",
        "calc_time,funding_interval_hours,last_funding_rate\n\
         1704067200000,8,0.00037409\n\
         1704096000000,8,0.00030000\n",
    );
    write(
        dir.path(),
        "funding/BTCUSDT-fundingRate-2024-02.csv",
        "calc_time,funding_interval_hours,last_funding_rate\n\
         1706745600001,4,-0.00001\n\
         1706760000000,4,0.0001\n",
    );
    // Futures klines with header, spot klines without header and with microsecond stamps.
    write(
        dir.path(),
        "perp_1d/BTCUSDT-1d-2024-01.csv",
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n\
         1704067200000,42314.0,44300.0,42200.0,44200.1,1.0,1704153599999,12345678.9,10,0.5,1.0,0\n",
    );
    write(
        dir.path(),
        "spot_1d/BTCUSDT-1d-2024-01.csv",
        "1704067200000000,42283.58,44184.10,42180.77,44179.55,27174.29,1704153599999999,1169995215.22,1,2,3,0\n",
    );
    let dataset = load_dataset(dir.path(), DateRange::default()).unwrap();
    let btc = &dataset.symbols[0];
    assert_eq!(btc.symbol, "BTCUSDT");
    assert_eq!(btc.base_asset, "BTC");
    let rates: Vec<_> = btc.funding.iter().map(|p| p.rate).collect();
    assert_eq!(
        rates,
        vec![dec!(0.00037409), dec!(0.0003), dec!(-0.00001), dec!(0.0001)]
    );
    // Interval from stamps; across the month gap the file's stated interval is used.
    let intervals: Vec<_> = btc.funding.iter().map(|p| p.interval_hours).collect();
    assert_eq!(intervals, vec![8, 8, 4, 4]);
    assert_eq!(btc.funding_gaps, 1);
    assert_eq!(btc.perp[0].close, dec!(44200.1));
    assert_eq!(btc.perp[0].quote_volume, Some(dec!(12345678.9)));
    assert_eq!(btc.spot[0].open_time_ms, 1_704_067_200_000);
    assert_eq!(btc.spot[0].close, dec!(44179.55));
}

#[test]
fn repository_layouts_and_borrow_snapshots_parse() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "funding/SOLUSDT.csv",
        "symbol,fundingTime,fundingRate,markPrice\n\
         SOLUSDT,1704067200000,0.0001,101.5\n\
         SOLUSDT,1704081600000,-0.0002,\n",
    );
    write(
        dir.path(),
        "perp_1d/SOLUSDT.csv",
        "openTime,open,high,low,close,volume,quoteVolume,count,closeTime\n\
         1704067200000,1,1,1,100.5,5,500000000,10,1704153599999\n",
    );
    write(
        dir.path(),
        "borrow/margin_interest_rate_2023-09-15.csv",
        "asset,timestamp,dailyInterestRate,vipLevel\nSOL,1694872800000,4.8e-04,1\nSOL,1694822400000,0.00024,1\n",
    );
    write(
        dir.path(),
        "borrow/usdt_annual.csv",
        "asset,date,annualPercent\nUSDT,2025-01-23,8.76\n",
    );
    let dataset = load_dataset(dir.path(), DateRange::default()).unwrap();
    let sol = &dataset.symbols[0];
    assert_eq!(sol.funding[0].mark_price, Some(dec!(101.5)));
    assert_eq!(sol.funding[1].mark_price, None);
    assert_eq!(sol.funding[1].interval_hours, 4);
    // mean daily 0.00036 -> hourly 0.000015
    assert_eq!(dataset.borrow.hourly_rate("SOL", 0), Some(dec!(0.000015)));
    assert_eq!(dataset.borrow.hourly_rate("USDT", 0), Some(dec!(0.00001)));
}

#[test]
fn spot_evidence_comes_from_klines_or_the_listing_file() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["AUSDT", "BUSDT", "CUSDT", "DUSDT"] {
        write(
            dir.path(),
            &format!("funding/{name}.csv"),
            &format!(
                "symbol,fundingTime,fundingRate,markPrice\n{name},1704067200000,0.0001,\n{name},1704096000000,0.0001,\n"
            ),
        );
    }
    // A: spot klines from 2024-01-02; B: listed (no klines) from 2023-12-01, delisted 2024-02-01;
    // C: listed before any data; D: nothing.
    write(
        dir.path(),
        "spot_1d/AUSDT.csv",
        "openTime,open,high,low,close,volume\n1704153600000,1,1.2,0.9,1.1,10\n",
    );
    write(
        dir.path(),
        "spot_markets.csv",
        "symbol,listed,delisted\nBUSDT,2023-12-01,2024-02-01\ncusdt,,\n",
    );
    let dataset = load_dataset(dir.path(), DateRange::default()).unwrap();
    let listing = |i: usize| dataset.symbols[i].spot_listing;
    let jan_1 = 1_704_067_200_000;
    let day = 86_400_000;
    assert!(!listing(0).listed_at(jan_1));
    assert!(listing(0).listed_at(jan_1 + day));
    assert!(!listing(0).from_listing_file);
    assert!(listing(1).listed_at(jan_1));
    assert!(!listing(1).listed_at(jan_1 + 31 * day));
    assert!(listing(2).listed_at(0));
    assert!(listing(2).from_listing_file);
    assert_eq!(listing(3).listed_ms, None);
    // the high and low of the kline are kept for the liquidation check
    let bar = &dataset.symbols[0].spot[0];
    assert_eq!(
        (bar.high, bar.low, bar.close),
        (dec!(1.2), dec!(0.9), dec!(1.1))
    );
}

#[test]
fn malformed_listing_file_is_located() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "funding/AUSDT.csv",
        "symbol,fundingTime,fundingRate,markPrice\nAUSDT,1704067200000,0.0001,\n",
    );
    write(
        dir.path(),
        "spot_markets.csv",
        "symbol,listed\nAUSDT,2024-13-01\n",
    );
    let message = load_dataset(dir.path(), DateRange::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("spot_markets.csv:2:2"), "{message}");
}
