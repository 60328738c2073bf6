//! Command-line arguments of `fff data pull` / `fff data record` and how they become a
//! connector client.

use std::path::PathBuf;

use chrono::NaiveDate;
use fff_binance::{BinanceUrls, Credentials};

use crate::error::{Error, Result};

/// Key and secret of the simulator's default paper account: they open only a local simulator.
const SIM_PAPER_KEY: &str = "fff-paper-key";
const SIM_PAPER_SECRET: &str = "fff-paper-secret";
/// Where `fff sim` (and `fff up`'s simulator) listens unless told otherwise.
pub(crate) const SIM_DEFAULT_URL: &str = "http://127.0.0.1:8765";
/// Binance's public bulk-data archive.
pub const DEFAULT_ARCHIVE_URL: &str = "https://data.binance.vision";
/// `--symbols all-usdt-perps`: every USDT-margined perpetual of the futures `exchangeInfo`.
pub const ALL_USDT_PERPS: &str = "all-usdt-perps";
const ENV_KEY: &str = "BINANCE_API_KEY";
const ENV_SECRET: &str = "BINANCE_API_SECRET";

/// Which exchange to download from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Venue {
    /// The fff simulator (its history is synthetic before it started).
    #[default]
    Sim,
    /// Real Binance (public endpoints need no key; borrow rates need `BINANCE_API_KEY`/`_SECRET`).
    Mainnet,
    /// Binance spot testnet / futures demo (no margin endpoints: borrow rates are skipped).
    Testnet,
}

impl Venue {
    pub fn as_str(self) -> &'static str {
        match self {
            Venue::Sim => "sim",
            Venue::Mainnet => "mainnet",
            Venue::Testnet => "testnet",
        }
    }
}

/// Where `fff data pull` downloads from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// The REST API of `--venue` (paged, resumable after the last row; also borrow rates).
    #[default]
    Api,
    /// Binance's public bulk-data archive (`--archive-url`): monthly zips, checksum-verified.
    Archive,
}

/// The symbols asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SymbolSpec {
    /// `all-usdt-perps`: resolved from the futures `exchangeInfo`.
    AllUsdtPerps,
    List(Vec<String>),
}

/// `fff data pull --symbols BTCUSDT,ETHUSDT --from 2026-01-01 --to 2026-02-01 --out DIR`.
#[derive(Debug, Clone, clap::Args)]
pub struct PullArgs {
    /// USDⓈ-M perpetuals to download (each with its USDT spot pair), comma-separated, or
    /// `all-usdt-perps` for every USDT perpetual of the futures `exchangeInfo`.
    #[arg(long, value_delimiter = ',', required = true)]
    pub symbols: Vec<String>,
    /// First UTC day to download (inclusive), YYYY-MM-DD.
    #[arg(long)]
    pub from: NaiveDate,
    /// UTC day to stop at (exclusive), YYYY-MM-DD; capped at the exchange's current time.
    #[arg(long)]
    pub to: NaiveDate,
    /// Output directory (created if missing); existing files are extended, not rewritten.
    #[arg(long)]
    pub out: PathBuf,
    /// Exchange to download from.
    #[arg(long, value_enum, default_value_t = Venue::Sim)]
    pub venue: Venue,
    /// Venue sim: file holding the JSON line `fff sim` prints first (default http://127.0.0.1:8765).
    #[arg(long, env = "FFF_EXCHANGE__SIM_URLS_FILE")]
    pub sim_urls: Option<PathBuf>,
    /// `api` pages the venue's REST API; `archive` downloads Binance's monthly bulk zips.
    #[arg(long, value_enum, default_value_t = Source::Api)]
    pub source: Source,
    /// Source archive: base URL of the bulk-data archive.
    #[arg(long, env = "FFF_DATA__ARCHIVE_URL", default_value = DEFAULT_ARCHIVE_URL)]
    pub archive_url: String,
    /// Binance-compatible REST base URL (spot and futures) replacing the venue's; with
    /// `--source archive` it is where `all-usdt-perps` is resolved (default Binance's futures API).
    #[arg(long, env = "FFF_DATA__REST_URL")]
    pub rest_url: Option<String>,
    /// Source archive: downloads in flight at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Source archive: retries of a download that failed in transit (connection, 5xx, 429).
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// Rows per request (default: each endpoint's maximum).
    #[arg(long, hide = true)]
    pub page_limit: Option<u32>,
    /// Stop after this many pages (the files stay consistent; a re-run continues).
    #[arg(long, hide = true)]
    pub max_pages: Option<usize>,
}

impl PullArgs {
    /// `[from, to)` in epoch ms.
    pub(crate) fn window_ms(&self) -> Result<(i64, i64)> {
        let ms = |d: NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp_millis())
                .ok_or_else(|| Error::Args(format!("bad date {d}")))
        };
        let (from, to) = (ms(self.from)?, ms(self.to)?);
        if from >= to {
            return Err(Error::Args(format!(
                "--from {} must be before --to {}",
                self.from, self.to
            )));
        }
        Ok((from, to))
    }

    /// The symbols asked for: `all-usdt-perps`, or the list (see [`symbol_list`]).
    pub(crate) fn symbol_spec(&self) -> Result<SymbolSpec> {
        symbol_spec(&self.symbols)
    }

    /// Upper-cased, de-duplicated symbols; rejects anything that is not a plain symbol name
    /// (the name becomes a file name).
    #[cfg(test)]
    pub(crate) fn symbol_list(&self) -> Result<Vec<String>> {
        symbol_list(&self.symbols)
    }

    pub(crate) fn urls(&self) -> Result<BinanceUrls> {
        venue_urls(
            self.venue,
            self.sim_urls.as_deref(),
            self.rest_url.as_deref(),
        )
    }

    /// Where `--source archive` resolves `all-usdt-perps`: `--rest-url`, else Binance's futures API.
    pub(crate) fn universe_urls(&self) -> BinanceUrls {
        match &self.rest_url {
            Some(url) => single_host(url),
            None => BinanceUrls::mainnet(),
        }
    }

    /// Credentials for the signed borrow-rate history, or why there are none. The simulator
    /// always gets its paper key (a real key is never sent to it).
    pub(crate) fn credentials(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> std::result::Result<Credentials, String> {
        venue_credentials(self.venue, env)
    }
}

/// `all-usdt-perps` alone, or a plain list.
pub(crate) fn symbol_spec(symbols: &[String]) -> Result<SymbolSpec> {
    if symbols
        .iter()
        .any(|s| s.trim().eq_ignore_ascii_case(ALL_USDT_PERPS))
    {
        if symbols.iter().filter(|s| !s.trim().is_empty()).count() > 1 {
            return Err(Error::Args(format!(
                "{ALL_USDT_PERPS} cannot be combined with other symbols"
            )));
        }
        return Ok(SymbolSpec::AllUsdtPerps);
    }
    symbol_list(symbols).map(SymbolSpec::List)
}

/// A plain symbol name (it becomes a file name): ASCII letters and digits only.
pub(crate) fn is_plain_symbol(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Upper-cased, de-duplicated symbols; rejects anything that is not a plain symbol name.
pub(crate) fn symbol_list(symbols: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for s in symbols {
        let s = s.trim().to_ascii_uppercase();
        if s.is_empty() {
            continue;
        }
        if !is_plain_symbol(&s) {
            return Err(Error::Args(format!("not a symbol: {s:?}")));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    if out.is_empty() {
        return Err(Error::Args("no symbols given".into()));
    }
    Ok(out)
}

/// One host serving spot, margin and futures REST (the simulator, a recorder's `--url`).
pub(crate) fn single_host(url: &str) -> BinanceUrls {
    let url = url.trim_end_matches('/');
    let ws = url.replacen("http", "ws", 1);
    BinanceUrls {
        spot_rest: url.into(),
        futures_rest: url.into(),
        futures_ws: ws.clone(),
        spot_ws_api: format!("{ws}/ws-api/v3"),
        margin_risk_ws: ws,
    }
}

/// The venue's URLs: `rest_url` if given, else the sim's URL file / default, testnet, mainnet.
pub(crate) fn venue_urls(
    venue: Venue,
    sim_urls: Option<&std::path::Path>,
    rest_url: Option<&str>,
) -> Result<BinanceUrls> {
    if let Some(url) = rest_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::Args(format!("not an http(s) URL: {url:?}")));
        }
        return Ok(single_host(url));
    }
    match venue {
        Venue::Mainnet => Ok(BinanceUrls::mainnet()),
        Venue::Testnet => Ok(BinanceUrls::testnet()),
        Venue::Sim => match sim_urls {
            Some(path) => {
                let line = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
                BinanceUrls::from_json(&line)
                    .map_err(|e| Error::Args(format!("{}: {e}", path.display())))
            }
            None => Ok(single_host(SIM_DEFAULT_URL)),
        },
    }
}

/// Credentials for signed endpoints, or why there are none. The simulator always gets its
/// paper key (a real key is never sent to it).
pub(crate) fn venue_credentials(
    venue: Venue,
    env: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<Credentials, String> {
    match venue {
        Venue::Sim => Ok(Credentials::new(SIM_PAPER_KEY, SIM_PAPER_SECRET)),
        Venue::Testnet => Err("the testnet has no margin endpoints".into()),
        Venue::Mainnet => match (env(ENV_KEY), env(ENV_SECRET)) {
            (Some(k), Some(s)) if !k.is_empty() && !s.is_empty() => Ok(Credentials::new(k, s)),
            _ => Err(format!("{ENV_KEY} / {ENV_SECRET} are not set")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        pull: PullArgs,
    }

    fn parse(args: &[&str]) -> PullArgs {
        Cli::try_parse_from(std::iter::once("pull").chain(args.iter().copied()))
            .unwrap()
            .pull
    }

    #[test]
    fn parses_the_documented_command_line() {
        let a = parse(&[
            "--symbols",
            "btcusdt,ETHUSDT,BTCUSDT",
            "--from",
            "2026-01-01",
            "--to",
            "2026-02-01",
            "--out",
            "data",
            "--venue",
            "mainnet",
        ]);
        assert_eq!(a.symbol_list().unwrap(), vec!["BTCUSDT", "ETHUSDT"]);
        assert_eq!(
            a.window_ms().unwrap(),
            (1_767_225_600_000, 1_769_904_000_000)
        );
        assert_eq!(a.venue, Venue::Mainnet);
        assert_eq!(a.urls().unwrap(), BinanceUrls::mainnet());
        assert_eq!(a.source, Source::Api);
        assert_eq!(a.archive_url, DEFAULT_ARCHIVE_URL);
        assert_eq!(a.universe_urls(), BinanceUrls::mainnet());
    }

    #[test]
    fn parses_an_archive_pull_of_every_usdt_perp() {
        let a = parse(&[
            "--source",
            "archive",
            "--symbols",
            "all-usdt-perps",
            "--from",
            "2024-01-01",
            "--to",
            "2025-01-01",
            "--out",
            "data",
            "--archive-url",
            "http://127.0.0.1:9",
            "--rest-url",
            "http://127.0.0.1:10",
        ]);
        assert_eq!(a.source, Source::Archive);
        assert_eq!(a.symbol_spec().unwrap(), SymbolSpec::AllUsdtPerps);
        assert_eq!(a.universe_urls().futures_rest, "http://127.0.0.1:10");
        assert_eq!((a.jobs, a.retries), (4, 3));
    }

    #[test]
    fn rejects_bad_windows_and_symbols() {
        let mut a = parse(&[
            "--symbols",
            "BTCUSDT",
            "--from",
            "2026-02-01",
            "--to",
            "2026-02-01",
            "--out",
            "d",
        ]);
        assert!(a.window_ms().is_err());
        a.symbols = vec!["../etc".into()];
        assert!(a.symbol_list().is_err());
    }

    #[test]
    fn credentials_per_venue() {
        let mut a = parse(&[
            "--symbols",
            "X",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-02",
            "--out",
            "d",
        ]);
        let none = |_: &str| None;
        assert_eq!(a.credentials(&none).unwrap().api_key(), SIM_PAPER_KEY);
        a.venue = Venue::Mainnet;
        assert!(a.credentials(&none).unwrap_err().contains(ENV_KEY));
        let env = |k: &str| Some(format!("v-{k}"));
        assert_eq!(a.credentials(&env).unwrap().api_key(), "v-BINANCE_API_KEY");
        a.venue = Venue::Testnet;
        assert!(a.credentials(&env).is_err());
    }
}
