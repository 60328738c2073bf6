//! `pull --source archive` against a local copy of Binance's archive layout served over
//! loopback HTTP: zips and `.CHECKSUM`s are generated here, the server can cut connections.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use fff_backtest::{DateRange, load_dataset};
use fff_data::{ArchiveOutcome, Error, PARTIAL_DIR, PullArgs, Source, Venue, pull_archive};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// How the server misbehaves: after `after` complete zip answers, the next `count` zip answers
/// announce their full length, send half and close the connection.
#[derive(Default, Clone, Copy)]
struct Cut {
    after: usize,
    count: usize,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    log: Vec<String>,
    cut: Cut,
    zips_sent: usize,
}

/// A loopback HTTP/1.1 server over `State` (one request per connection).
struct Server {
    url: String,
    state: Arc<Mutex<State>>,
}

impl Server {
    async fn start(files: HashMap<String, Vec<u8>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            files,
            ..State::default()
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(answer(sock, shared.clone()));
            }
        });
        Self { url, state }
    }

    fn cut(&self, cut: Cut) {
        let mut s = self.state.lock().unwrap();
        s.cut = cut;
        s.zips_sent = 0;
    }

    /// Paths asked for since the last call.
    fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut self.state.lock().unwrap().log)
    }

    fn set(&self, path: &str, body: Vec<u8>) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(path.to_string(), body);
    }
}

async fn answer(mut sock: tokio::net::TcpStream, state: Arc<Mutex<State>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let path = target
        .split('?')
        .next()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string();
    let (body, cut) = {
        let mut s = state.lock().unwrap();
        s.log.push(path.clone());
        let body = s.files.get(&path).cloned();
        let mut cut = false;
        if body.is_some() && path.ends_with(".zip") {
            let n = s.zips_sent;
            cut = n >= s.cut.after && n < s.cut.after.saturating_add(s.cut.count);
            s.zips_sent += 1;
        }
        (body, cut)
    };
    let response = match body {
        None => {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found"
                .to_vec()
        }
        Some(body) => {
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            let send = if cut { body.len() / 2 } else { body.len() };
            r.extend_from_slice(&body[..send]);
            r
        }
    };
    let _ = sock.write_all(&response).await;
    let _ = sock.flush().await;
    let _ = sock.shutdown().await;
}

fn zip_of(name: &str, csv: &str) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file(name, opts).unwrap();
    w.write_all(csv.as_bytes()).unwrap();
    w.finish().unwrap().into_inner()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn day_ms(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis()
}

/// Bulk funding file of one month: 8-hourly settlements stamped a few ms late, like Binance's.
fn funding_csv(month_start: NaiveDate, days: i64, seed: i64) -> String {
    let mut s = String::from("calc_time,funding_interval_hours,last_funding_rate\n");
    for i in 0..days * 3 {
        let rate = ((i + seed) % 7 - 2) as f64 * 0.00002;
        s.push_str(&format!(
            "{},8,{rate:.8}\n",
            day_ms(month_start) + i * 8 * HOUR + 5
        ));
    }
    s
}

/// Bulk klines (12 columns); spot files without header, perp files with one, as Binance ships.
fn klines_csv(month_start: NaiveDate, days: i64, base: i64, header: bool) -> String {
    let mut s = String::new();
    if header {
        s.push_str("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n");
    }
    for i in 0..days {
        let t = day_ms(month_start) + i * DAY;
        let c = base + i * 10;
        s.push_str(&format!(
            "{t},{c}.0,{}.5,{}.5,{c}.25,100.5,{},{}.0,42,50.0,5000.0,0\n",
            c + 20,
            c - 20,
            t + DAY - 1,
            c * 100
        ));
    }
    s
}

/// Publishes `csv` as `remote` (a `.zip` path) with its `.CHECKSUM`.
fn publish(files: &mut HashMap<String, Vec<u8>>, remote: &str, csv: &str) {
    let name = remote.rsplit('/').next().unwrap();
    let zip = zip_of(&name.replace(".zip", ".csv"), csv);
    files.insert(
        format!("{remote}.CHECKSUM"),
        format!("{}  {name}\n", sha256_hex(&zip)).into_bytes(),
    );
    files.insert(remote.to_string(), zip);
}

/// January and February 2024 of BTCUSDT and ETHUSDT (funding, perp and spot klines) and of
/// NOSPOTUSDT (no spot market: its spot months 404), plus the futures exchangeInfo.
fn archive() -> HashMap<String, Vec<u8>> {
    let mut files = HashMap::new();
    let months = [
        ("2024-01", NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(), 31),
        ("2024-02", NaiveDate::from_ymd_opt(2024, 2, 1).unwrap(), 29),
    ];
    for (k, sym) in ["BTCUSDT", "ETHUSDT", "NOSPOTUSDT"].iter().enumerate() {
        let k = k as i64;
        for (month, start, days) in months {
            publish(
                &mut files,
                &format!("data/futures/um/monthly/fundingRate/{sym}/{sym}-fundingRate-{month}.zip"),
                &funding_csv(start, days, k),
            );
            publish(
                &mut files,
                &format!("data/futures/um/monthly/klines/{sym}/1d/{sym}-1d-{month}.zip"),
                &klines_csv(start, days, 1000 * (k + 1), true),
            );
            if *sym != "NOSPOTUSDT" {
                publish(
                    &mut files,
                    &format!("data/spot/monthly/klines/{sym}/1d/{sym}-1d-{month}.zip"),
                    &klines_csv(start, days, 1000 * (k + 1) + 1, false),
                );
            }
        }
    }
    let symbol = |s: &str, contract: &str, quote: &str, status: &str| {
        serde_json::json!({"symbol": s, "pair": s, "contractType": contract, "status": status,
            "baseAsset": s.trim_end_matches(quote), "quoteAsset": quote, "marginAsset": quote})
    };
    let info = serde_json::json!({
        "serverTime": 1_709_251_200_000i64,
        "symbols": [
            symbol("BTCUSDT", "PERPETUAL", "USDT", "TRADING"),
            symbol("ETHUSDT", "PERPETUAL", "USDT", "TRADING"),
            symbol("NOSPOTUSDT", "PERPETUAL", "USDT", "SETTLING"),
            symbol("BTCUSDC", "PERPETUAL", "USDC", "TRADING"),
            symbol("BTCUSDT_240329", "CURRENT_QUARTER", "USDT", "TRADING"),
        ]
    });
    files.insert(
        "fapi/v1/exchangeInfo".into(),
        serde_json::to_vec(&info).unwrap(),
    );
    files
}

fn args(server: &Server, out: &Path, symbols: &[&str]) -> PullArgs {
    PullArgs {
        symbols: symbols.iter().map(|s| s.to_string()).collect(),
        from: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(),
        out: out.to_path_buf(),
        venue: Venue::Mainnet,
        sim_urls: None,
        source: Source::Archive,
        archive_url: format!("{}/", server.url),
        rest_url: Some(server.url.clone()),
        jobs: 3,
        retries: 0,
        page_limit: None,
        max_pages: None,
    }
}

/// Every file under `dir` (relative path -> bytes), `.partial/` included.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn zips_in(log: &[String]) -> Vec<&String> {
    log.iter().filter(|p| p.ends_with(".zip")).collect()
}

#[tokio::test]
async fn archive_pull_of_all_usdt_perps_loads_in_the_backtester() {
    let server = Server::start(archive()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data");
    let summary = pull_archive(&args(&server, &out, &["all-usdt-perps"]))
        .await
        .unwrap();
    // USDT perpetuals only, the settling one included (its history is real history).
    assert_eq!(summary.symbols, ["BTCUSDT", "ETHUSDT", "NOSPOTUSDT"]);
    assert_eq!(
        (
            summary.downloaded(),
            summary.already_verified(),
            summary.missing()
        ),
        (16, 0, 2),
        "{summary}"
    );
    let text = summary.to_string();
    assert!(
        text.contains("not in the archive: spot_1d/NOSPOTUSDT 2024-01..2024-02 (2 month(s))"),
        "{text}"
    );
    let files = snapshot(&out);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert!(
        names.contains(&"funding/BTCUSDT-fundingRate-2024-01.csv"),
        "{names:?}"
    );
    assert!(
        names.contains(&"spot_1d/ETHUSDT-1d-2024-02.csv"),
        "{names:?}"
    );
    assert!(
        names.contains(&"perp_1d/NOSPOTUSDT-1d-2024-02.csv"),
        "{names:?}"
    );
    assert_eq!(
        names.len(),
        16,
        "only the verified CSVs, no zip or part left: {names:?}"
    );
    // Unzipped as published, byte for byte.
    assert_eq!(
        files["funding/ETHUSDT-fundingRate-2024-02.csv"],
        funding_csv(NaiveDate::from_ymd_opt(2024, 2, 1).unwrap(), 29, 1).into_bytes()
    );

    let range = DateRange::from_dates(
        NaiveDate::from_ymd_opt(2024, 1, 1),
        NaiveDate::from_ymd_opt(2024, 3, 1),
    );
    let data = load_dataset(&out, range).unwrap();
    let syms: Vec<&str> = data.symbols.iter().map(|s| s.symbol.as_str()).collect();
    assert_eq!(syms, ["BTCUSDT", "ETHUSDT", "NOSPOTUSDT"]);
    for s in &data.symbols {
        assert_eq!((s.funding.len(), s.funding_gaps), (180, 0), "{}", s.symbol);
        assert_eq!(s.perp.len(), 60, "{}", s.symbol);
        assert!(s.perp.iter().all(|b| b.quote_volume.is_some()));
        let spot = if s.symbol == "NOSPOTUSDT" { 0 } else { 60 };
        assert_eq!(s.spot.len(), spot, "{}", s.symbol);
    }

    // A second run asks for no zip at all: every CSV was verified when it was written.
    server.take_log();
    let again = pull_archive(&args(&server, &out, &["all-usdt-perps"]))
        .await
        .unwrap();
    assert_eq!(
        (
            again.downloaded(),
            again.already_verified(),
            again.missing()
        ),
        (0, 16, 2)
    );
    let log = server.take_log();
    assert!(
        zips_in(&log)
            .iter()
            .all(|p| p.starts_with("data/spot/monthly/klines/NOSPOTUSDT/")),
        "{log:?}"
    );
    assert_eq!(snapshot(&out), files);
}

#[tokio::test]
async fn a_zip_that_does_not_match_its_checksum_is_rejected_and_not_kept() {
    let server = Server::start(archive()).await;
    let bad = "data/futures/um/monthly/fundingRate/ETHUSDT/ETHUSDT-fundingRate-2024-01.zip";
    // Same name, other content: the published checksum no longer matches.
    server.set(
        bad,
        zip_of(
            "ETHUSDT-fundingRate-2024-01.csv",
            "calc_time,funding_interval_hours,last_funding_rate\n1,8,0.5\n",
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data");
    let err = pull_archive(&args(&server, &out, &["BTCUSDT", "ETHUSDT"]))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Incomplete { ok: 11, .. }), "{text}");
    assert!(
        text.contains(&format!("{bad}: checksum mismatch")),
        "the error names the file: {text}"
    );
    assert!(text.contains("re-run to retry"), "{text}");
    let files = snapshot(&out);
    assert!(!files.contains_key("funding/ETHUSDT-fundingRate-2024-01.csv"));
    assert!(
        files
            .keys()
            .all(|p| p.ends_with(".csv") && !p.starts_with(PARTIAL_DIR)),
        "nothing of the bad download is kept: {:?}",
        files.keys()
    );
    assert_eq!(files.len(), 11, "the good files are kept");

    // A checksum file naming another file is refused as well.
    server.set(
        &format!("{bad}.CHECKSUM"),
        format!("{}  OTHER.zip\n", "0".repeat(64)).into_bytes(),
    );
    let err = pull_archive(&args(&server, &out, &["ETHUSDT"]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("{bad}.CHECKSUM: names \"OTHER.zip\"")),
        "{err}"
    );

    // Republished correctly, the next run fetches only that file.
    let good = archive();
    server.set(bad, good[bad].clone());
    let checksum = format!("{bad}.CHECKSUM");
    server.set(&checksum, good[&checksum].clone());
    server.take_log();
    let done = pull_archive(&args(&server, &out, &["BTCUSDT", "ETHUSDT"]))
        .await
        .unwrap();
    assert_eq!((done.downloaded(), done.already_verified()), (1, 11));
    assert_eq!(zips_in(&server.take_log()), [bad]);
}

#[tokio::test]
async fn a_pull_cut_midway_resumes_and_skips_verified_files() {
    let server = Server::start(archive()).await;
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean");
    pull_archive(&args(&server, &clean, &["BTCUSDT", "ETHUSDT"]))
        .await
        .unwrap();

    // The connection drops in the middle of the 6th zip and of every one after it.
    let out = dir.path().join("cut");
    server.cut(Cut {
        after: 5,
        count: usize::MAX,
    });
    let mut a = args(&server, &out, &["BTCUSDT", "ETHUSDT"]);
    a.jobs = 1;
    let err = pull_archive(&a).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Incomplete { ok: 5, .. }), "{text}");
    assert!(text.contains("download cut"), "{text}");
    let partial = snapshot(&out);
    assert_eq!(partial.len(), 5, "{:?}", partial.keys());
    for (name, bytes) in &partial {
        assert_eq!(
            Some(bytes),
            snapshot(&clean).get(name),
            "{name} is complete"
        );
    }
    // What a killed process leaves behind: a half-written download.
    let stale = out.join(PARTIAL_DIR).join("funding");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(
        stale.join("ETHUSDT-fundingRate-2024-02.zip.part"),
        b"PK\x03\x04 half",
    )
    .unwrap();

    // One cut, then healthy: a retry gets through in the same run.
    server.cut(Cut { after: 0, count: 1 });
    server.take_log();
    a.retries = 2;
    let done = pull_archive(&a).await.unwrap();
    assert_eq!(
        (done.downloaded(), done.already_verified(), done.missing()),
        (7, 5, 0),
        "{done}"
    );
    let log = server.take_log();
    let zips = zips_in(&log);
    assert_eq!(zips.len(), 8, "7 downloads, one of them twice: {zips:?}");
    let mut skipped: Vec<String> = done
        .files
        .iter()
        .filter(|f| f.outcome == ArchiveOutcome::AlreadyVerified)
        .map(|f| {
            assert!(
                !zips.contains(&&f.remote),
                "{} was verified by the first run and is not fetched again",
                f.remote
            );
            rel(&out, &f.path)
        })
        .collect();
    skipped.sort();
    assert_eq!(skipped, partial.keys().cloned().collect::<Vec<_>>());
    assert_eq!(
        snapshot(&out),
        snapshot(&clean),
        "the stale part file is gone too"
    );
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap()
        .to_string_lossy()
        .to_string()
}

#[tokio::test]
async fn bad_arguments_are_errors_not_panics() {
    let server = Server::start(archive()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = args(&server, dir.path(), &["BTCUSDT", "all-usdt-perps"]);
    assert!(matches!(pull_archive(&a).await, Err(Error::Args(_))));
    a.symbols = vec!["BTCUSDT".into()];
    a.archive_url = "ftp://example".into();
    assert!(matches!(pull_archive(&a).await, Err(Error::Args(_))));
    a.archive_url = server.url.clone();
    a.to = a.from;
    assert!(matches!(pull_archive(&a).await, Err(Error::Args(_))));
}
