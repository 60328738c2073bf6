//! Command-line arguments of `fff data pull` and how they become a connector client.

use std::path::PathBuf;

use chrono::NaiveDate;
use fff_binance::{BinanceUrls, Credentials};

use crate::error::{Error, Result};

/// Key and secret of the simulator's default paper account: they open only a local simulator.
const SIM_PAPER_KEY: &str = "fff-paper-key";
const SIM_PAPER_SECRET: &str = "fff-paper-secret";
/// Where `fff sim` listens unless told otherwise.
const SIM_DEFAULT_URL: &str = "http://127.0.0.1:8080";
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

/// `fff data pull --symbols BTCUSDT,ETHUSDT --from 2026-01-01 --to 2026-02-01 --out DIR`.
#[derive(Debug, Clone, clap::Args)]
pub struct PullArgs {
    /// USDⓈ-M perpetuals to download (each with its USDT spot pair), comma-separated.
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
    /// Venue sim: file holding the JSON line `fff sim` prints first (default http://127.0.0.1:8080).
    #[arg(long, env = "FFF_EXCHANGE__SIM_URLS_FILE")]
    pub sim_urls: Option<PathBuf>,
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

    /// Upper-cased, de-duplicated symbols; rejects anything that is not a plain symbol name
    /// (the name becomes a file name).
    pub(crate) fn symbol_list(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.symbols {
            let s = s.trim().to_ascii_uppercase();
            if s.is_empty() {
                continue;
            }
            if !s.chars().all(|c| c.is_ascii_alphanumeric()) {
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

    pub(crate) fn urls(&self) -> Result<BinanceUrls> {
        match self.venue {
            Venue::Mainnet => Ok(BinanceUrls::mainnet()),
            Venue::Testnet => Ok(BinanceUrls::testnet()),
            Venue::Sim => match &self.sim_urls {
                Some(path) => {
                    let line = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
                    BinanceUrls::from_json(&line)
                        .map_err(|e| Error::Args(format!("{}: {e}", path.display())))
                }
                None => Ok(BinanceUrls {
                    spot_rest: SIM_DEFAULT_URL.into(),
                    futures_rest: SIM_DEFAULT_URL.into(),
                    futures_ws: SIM_DEFAULT_URL.replace("http", "ws"),
                    spot_ws_api: format!("{}/ws-api/v3", SIM_DEFAULT_URL.replace("http", "ws")),
                    margin_risk_ws: SIM_DEFAULT_URL.replace("http", "ws"),
                }),
            },
        }
    }

    /// Credentials for the signed borrow-rate history, or why there are none. The simulator
    /// always gets its paper key (a real key is never sent to it).
    pub(crate) fn credentials(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> std::result::Result<Credentials, String> {
        match self.venue {
            Venue::Sim => Ok(Credentials::new(SIM_PAPER_KEY, SIM_PAPER_SECRET)),
            Venue::Testnet => Err("the testnet has no margin endpoints".into()),
            Venue::Mainnet => match (env(ENV_KEY), env(ENV_SECRET)) {
                (Some(k), Some(s)) if !k.is_empty() && !s.is_empty() => Ok(Credentials::new(k, s)),
                _ => Err(format!("{ENV_KEY} / {ENV_SECRET} are not set")),
            },
        }
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
