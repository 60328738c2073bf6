//! Reading the strategy sections of the fff TOML (and `[backtest]`), with `--set` overrides.
//!
//! Only `[capital]`, `[risk]`, `[pair_selection]`, `[execution]`, `[rebalance]` and
//! `[backtest]` are read; service sections of the same file are ignored, so one config file
//! serves both the live system and its backtest.

use std::path::Path;

use fff_core::{CapitalParams, ExecutionParams, PairSelectionParams, RebalanceParams, RiskParams};
use serde::{Deserialize, Serialize};

use crate::costs::CostModel;
use crate::error::{Error, Result};

/// Sections a `--set`/`--grid` key may address.
pub const SECTIONS: [&str; 6] = [
    "capital",
    "risk",
    "pair_selection",
    "execution",
    "rebalance",
    "backtest",
];

/// Everything a backtest run is parameterised by.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BacktestConfig {
    pub capital: CapitalParams,
    pub risk: RiskParams,
    pub pair_selection: PairSelectionParams,
    pub execution: ExecutionParams,
    pub rebalance: RebalanceParams,
    pub backtest: CostModel,
}

/// One `section.key=value` override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub section: String,
    pub key: String,
    /// TOML value text (`0.5`, `true`, `"x"`); bare words are taken as strings.
    pub value: String,
}

impl std::str::FromStr for Override {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let (path, value) = text
            .split_once('=')
            .ok_or_else(|| Error::Config(format!("expected section.key=value, got {text:?}")))?;
        let (section, key) = split_key(path)?;
        Ok(Self {
            section,
            key,
            value: value.trim().to_string(),
        })
    }
}

impl std::fmt::Display for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}={}", self.section, self.key, self.value)
    }
}

/// One `--grid section.key=v1,v2,...` axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridAxis {
    pub section: String,
    pub key: String,
    pub values: Vec<String>,
}

impl std::str::FromStr for GridAxis {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let (path, values) = text
            .split_once('=')
            .ok_or_else(|| Error::Config(format!("expected section.key=v1,v2, got {text:?}")))?;
        let (section, key) = split_key(path)?;
        let values: Vec<String> = values
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() {
            return Err(Error::Config(format!("grid axis {path} has no values")));
        }
        Ok(Self {
            section,
            key,
            values,
        })
    }
}

fn split_key(path: &str) -> Result<(String, String)> {
    let (section, key) = path
        .trim()
        .split_once('.')
        .ok_or_else(|| Error::Config(format!("expected section.key, got {path:?}")))?;
    if !SECTIONS.contains(&section) {
        return Err(Error::Config(format!(
            "unknown section {section:?} (one of {})",
            SECTIONS.join(", ")
        )));
    }
    Ok((section.to_string(), key.to_string()))
}

/// Every combination of grid values, as override lists (one empty list without axes).
pub fn grid_combinations(axes: &[GridAxis]) -> Vec<Vec<Override>> {
    let mut combos: Vec<Vec<Override>> = vec![Vec::new()];
    for axis in axes {
        let mut next = Vec::with_capacity(combos.len() * axis.values.len());
        for combo in &combos {
            for value in &axis.values {
                let mut extended = combo.clone();
                extended.push(Override {
                    section: axis.section.clone(),
                    key: axis.key.clone(),
                    value: value.clone(),
                });
                next.push(extended);
            }
        }
        combos = next;
    }
    combos
}

/// The raw TOML table of a config file (empty without a file).
pub fn read_config_table(path: Option<&Path>) -> Result<toml::Table> {
    let Some(path) = path else {
        return Ok(toml::Table::new());
    };
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    text.parse::<toml::Table>()
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

/// Applies overrides to a copy of `table` and builds a validated config.
pub fn build_config(table: &toml::Table, overrides: &[Override]) -> Result<BacktestConfig> {
    let mut table = table.clone();
    // Keep only the sections this crate reads.
    table.retain(|name, _| SECTIONS.contains(&name));
    for o in overrides {
        let section = table
            .entry(o.section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(section) = section else {
            return Err(Error::Config(format!("[{}] is not a table", o.section)));
        };
        section.insert(o.key.clone(), parse_value(&o.value));
    }
    let config: BacktestConfig = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| Error::Config(e.to_string()))?;
    let errors = config.validate();
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(Error::Config(errors.join("; ")))
    }
}

/// TOML value text; anything that does not parse is a string.
fn parse_value(text: &str) -> toml::Value {
    format!("v = {text}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

impl BacktestConfig {
    /// Every violation across sections.
    pub fn validate(&self) -> Vec<String> {
        let core = self
            .capital
            .validate()
            .into_iter()
            .chain(self.risk.validate())
            .chain(self.pair_selection.validate())
            .chain(self.execution.validate())
            .chain(self.rebalance.validate())
            .map(|e| e.to_string());
        core.chain(self.backtest.validate()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn overrides_beat_the_file_and_other_sections_are_ignored() {
        let table: toml::Table = "[gateway]\nlisten = \"x\"\n[capital]\nleverage = 4\n"
            .parse()
            .unwrap();
        let overrides: Vec<Override> = vec![
            "capital.reserve_ratio=0.12".parse().unwrap(),
            "backtest.slippage=0".parse().unwrap(),
        ];
        let config = build_config(&table, &overrides).unwrap();
        assert_eq!(config.capital.leverage, dec!(4));
        assert_eq!(config.capital.reserve_ratio, dec!(0.12));
        assert_eq!(config.backtest.slippage, dec!(0));
    }

    #[test]
    fn invalid_values_and_keys_are_errors() {
        let table = toml::Table::new();
        let bad: Override = "capital.leverage=500".parse().unwrap();
        assert!(build_config(&table, &[bad]).is_err());
        let unknown: Override = "risk.nope=1".parse().unwrap();
        assert!(build_config(&table, &[unknown]).is_err());
        assert!("nosection.key=1".parse::<Override>().is_err());
    }

    #[test]
    fn grid_is_a_cartesian_product() {
        let axes: Vec<GridAxis> = vec![
            "capital.leverage=3,5".parse().unwrap(),
            "backtest.slippage=0,0.001,0.002".parse().unwrap(),
        ];
        let combos = grid_combinations(&axes);
        assert_eq!(combos.len(), 6);
        assert_eq!(combos[5][1].value, "0.002");
    }
}
