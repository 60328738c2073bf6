//! The library entry point: run the strategy (and the yardsticks) over a dataset.

use fff_core::allocate::margin_for_notional;
use fff_core::{CapitalParams, ExecutionParams, PairSelectionParams, RebalanceParams, RiskParams};
use rust_decimal::Decimal;

use crate::baselines::{AlwaysOnCarry, PerfectForesight, TopOneRotation};
use crate::config::BacktestConfig;
use crate::costs::CostModel;
use crate::data::Dataset;
use crate::engine::policy::Policy;
use crate::engine::replay::{RunOutput, replay};
use crate::error::Result;
use crate::strategy::Strategy;

/// The fff-core parameter sections a backtest runs with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StrategyParams {
    pub capital: CapitalParams,
    pub risk: RiskParams,
    pub pair_selection: PairSelectionParams,
    pub execution: ExecutionParams,
    pub rebalance: RebalanceParams,
}

/// The strategy and its yardsticks, replayed on the same data.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub strategy: RunOutput,
    /// Always-on BTCUSDT carry, naive top-1 rotation, perfect-foresight bound (in that order;
    /// the BTC baseline is absent when the data has no BTCUSDT).
    pub baselines: Vec<RunOutput>,
}

/// A configured backtest.
#[derive(Debug, Clone)]
pub struct Backtest {
    config: BacktestConfig,
}

impl Backtest {
    /// A backtest of `params` under `costs`.
    pub fn new(params: StrategyParams, costs: CostModel) -> Self {
        Self {
            config: BacktestConfig {
                capital: params.capital,
                risk: params.risk,
                pair_selection: params.pair_selection,
                execution: params.execution,
                rebalance: params.rebalance,
                backtest: costs,
            },
        }
    }

    /// A backtest from a full configuration.
    pub fn from_config(config: BacktestConfig) -> Self {
        Self { config }
    }

    pub fn config(&self) -> &BacktestConfig {
        &self.config
    }

    /// Replays the strategy.
    pub fn run(&self, dataset: &Dataset) -> Result<RunOutput> {
        self.run_with_progress(dataset, |_| {})
    }

    /// Replays the strategy, reporting replayed events after each simulated day.
    pub fn run_with_progress(
        &self,
        dataset: &Dataset,
        progress: impl FnMut(u64),
    ) -> Result<RunOutput> {
        let mut strategy = Strategy::new(self.config.clone());
        self.replay(dataset, &self.config.backtest, &mut strategy, progress)
    }

    /// Replays the strategy, then the baselines and the perfect-foresight bound.
    pub fn compare(&self, dataset: &Dataset, mut progress: impl FnMut(u64)) -> Result<Comparison> {
        let strategy = self.run_with_progress(dataset, &mut progress)?;
        let mut baselines = Vec::new();
        if dataset.symbols.iter().any(|s| s.symbol == "BTCUSDT") {
            let mut btc = AlwaysOnCarry::new("BTCUSDT", &self.config);
            baselines.push(self.replay(dataset, &self.config.backtest, &mut btc, &mut progress)?);
        }
        let mut top = TopOneRotation::new(&self.config);
        baselines.push(self.replay(dataset, &self.config.backtest, &mut top, &mut progress)?);
        // The bound trades for free (it is a ceiling, not a strategy); borrow still applies.
        let free = CostModel {
            borrow_daily_rate: self.config.backtest.borrow_daily_rate.clone(),
            default_borrow_daily_rate: self.config.backtest.default_borrow_daily_rate,
            ..CostModel {
                initial_capital: self.config.backtest.initial_capital,
                maintenance_margin_rate: self.config.backtest.maintenance_margin_rate,
                ..CostModel::free()
            }
        };
        let mut oracle = PerfectForesight::new(&self.config);
        baselines.push(self.replay(dataset, &free, &mut oracle, &mut progress)?);
        Ok(Comparison {
            strategy,
            baselines,
        })
    }

    fn replay(
        &self,
        dataset: &Dataset,
        costs: &CostModel,
        policy: &mut dyn Policy,
        progress: impl FnMut(u64),
    ) -> Result<RunOutput> {
        let margin_per_notional =
            margin_for_notional(Decimal::ONE, &self.config.capital).unwrap_or(Decimal::ZERO);
        replay(dataset, costs, margin_per_notional, policy, progress)
    }
}
