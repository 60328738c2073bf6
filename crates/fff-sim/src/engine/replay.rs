//! Replay of real history (layouts in the shared data README): funding/<SYMBOL>.csv drives the
//! settled rates; spot_1d/<SYMBOL>.csv (or perp_1d) closes anchor the index path. Missing files
//! are fine: those symbols stay synthetic.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::market::Market;
use crate::error::{Error, Result};

pub fn load(dir: &Path, markets: &mut BTreeMap<String, Market>) -> Result<()> {
    if !dir.is_dir() {
        return Err(Error::Replay(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    for (symbol, m) in markets.iter_mut() {
        let f = dir.join("funding").join(format!("{symbol}.csv"));
        if f.is_file() {
            m.replay_funding = read_funding(&f)?;
            if let [.., a, b] = m.replay_funding.as_slice()
                && let Some(p) = m.perp.as_mut()
            {
                let hours = ((b.0 - a.0 + 1_800_000) / 3_600_000).clamp(1, 8);
                p.funding_interval_hours = u32::try_from(hours).unwrap_or(8);
            }
        }
        for sub in ["spot_1d", "perp_1d"] {
            let f = dir.join(sub).join(format!("{symbol}.csv"));
            if f.is_file() && m.replay_prices.is_empty() {
                m.replay_prices = read_closes(&f)?;
            }
        }
    }
    Ok(())
}

fn reader(path: &Path) -> Result<csv::Reader<std::fs::File>> {
    csv::Reader::from_path(path).map_err(|e| Error::Replay(format!("{}: {e}", path.display())))
}

fn read_funding(path: &Path) -> Result<Vec<(i64, Decimal, Option<Decimal>)>> {
    let mut out = Vec::new();
    for rec in reader(path)?.records() {
        let rec = rec.map_err(|e| Error::Replay(format!("{}: {e}", path.display())))?;
        let (Some(t), Some(r)) = (
            rec.get(1).and_then(|v| v.parse::<i64>().ok()),
            rec.get(2).and_then(|v| Decimal::from_str(v).ok()),
        ) else {
            continue;
        };
        out.push((t, r, rec.get(3).and_then(|v| Decimal::from_str(v).ok())));
    }
    out.sort_by_key(|r| r.0);
    Ok(out)
}

fn read_closes(path: &Path) -> Result<Vec<(i64, Decimal)>> {
    let mut out = Vec::new();
    for rec in reader(path)?.records() {
        let rec = rec.map_err(|e| Error::Replay(format!("{}: {e}", path.display())))?;
        if let (Some(t), Some(c)) = (
            rec.get(0).and_then(|v| v.parse::<i64>().ok()),
            rec.get(4).and_then(|v| Decimal::from_str(v).ok()),
        ) {
            out.push((t, c));
        }
    }
    out.sort_by_key(|r| r.0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::default_symbols;

    #[test]
    fn loads_funding_and_derives_interval() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("funding")).unwrap();
        std::fs::write(
            dir.path().join("funding/BTCUSDT.csv"),
            "symbol,fundingTime,fundingRate,markPrice\nBTCUSDT,14400003,0.0002,\nBTCUSDT,28800002,-0.0001,50000\n",
        )
        .unwrap();
        let mut markets: BTreeMap<String, Market> = default_symbols()
            .iter()
            .map(|s| (s.name(), Market::new(s, 1, 0)))
            .collect();
        load(dir.path(), &mut markets).unwrap();
        let btc = &markets["BTCUSDT"];
        assert_eq!(btc.perp.as_ref().unwrap().funding_interval_hours, 4);
        assert_eq!(
            btc.replay_rate(28_800_000),
            Some(Decimal::from_str("-0.0001").unwrap())
        );
        assert!(markets["ETHUSDT"].replay_funding.is_empty());
    }
}
