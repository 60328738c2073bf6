//! The library entry point: run the strategy (and the yardsticks) over a dataset.

use fff_core::{
    CapitalModel, CapitalParams, ExecutionParams, PairSelectionParams, RebalanceParams, RiskParams,
};

use crate::baselines::{AlwaysOnCarry, PerfectForesight, TopOneRotation};
use crate::config::BacktestConfig;
use crate::costs::CostModel;
use crate::data::Dataset;
use crate::engine::replay::{RunOutput, replay};
use crate::error::{Error, Result};
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

    /// fff-core's capital model for `[capital]` and `[risk]`: what every replayed hedge ties up.
    pub fn capital_model(&self) -> Result<CapitalModel> {
        CapitalModel::new(&self.config.capital, &self.config.risk)
            .map_err(|e| Error::Config(e.to_string()))
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
        let model = self.capital_model()?;
        let mut strategy = Strategy::new(self.config.clone(), model.clone());
        replay(
            dataset,
            &self.config.backtest,
            &model,
            &mut strategy,
            progress,
        )
    }

    /// Replays the strategy, then the baselines and the perfect-foresight bound.
    pub fn compare(&self, dataset: &Dataset, mut progress: impl FnMut(u64)) -> Result<Comparison> {
        let strategy = self.run_with_progress(dataset, &mut progress)?;
        let model = self.capital_model()?;
        let costs = &self.config.backtest;
        let mut baselines = Vec::new();
        if dataset.symbols.iter().any(|s| s.symbol == "BTCUSDT") {
            let mut btc = AlwaysOnCarry::new("BTCUSDT", &self.config, &model);
            baselines.push(replay(dataset, costs, &model, &mut btc, &mut progress)?);
        }
        let mut top = TopOneRotation::new(&self.config, &model);
        baselines.push(replay(dataset, costs, &model, &mut top, &mut progress)?);
        // The bound trades for free (it is a ceiling, not a strategy); borrow still applies,
        // and so does the capital model.
        let free = costs.without_trading_costs();
        let mut oracle = PerfectForesight::new(&self.config, &model);
        baselines.push(replay(dataset, &free, &model, &mut oracle, &mut progress)?);
        Ok(Comparison {
            strategy,
            baselines,
        })
    }
}
